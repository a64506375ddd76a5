SET lock_timeout = '2s';
ALTER TABLE accounts ALTER COLUMN created_at TYPE timestamptz USING created_at;
