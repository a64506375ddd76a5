CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    total numeric(10,2) NOT NULL,
    note varchar(40),
    meta json
);
CREATE INDEX orders_account_idx ON orders (account_id);
