-- 2019: the first schema.
CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    created_at timestamp NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email_key ON accounts (email);
CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO plans VALUES (1, 'free'), (2, 'team');
