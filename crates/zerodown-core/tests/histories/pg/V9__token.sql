SET lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN api_token uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE orders ALTER COLUMN note TYPE varchar(80);
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;
