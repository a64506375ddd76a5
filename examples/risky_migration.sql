-- A migration as it is often written: correct, and dangerous on a busy table.
BEGIN;
ALTER TABLE accounts ADD COLUMN api_key uuid NOT NULL DEFAULT gen_random_uuid();
UPDATE accounts SET plan = 'free' WHERE plan IS NULL;
ALTER TABLE accounts ALTER COLUMN plan SET NOT NULL;
COMMIT;

ALTER TABLE accounts ALTER COLUMN email TYPE varchar(255);
CREATE INDEX accounts_plan_idx ON accounts (plan);
ALTER TABLE invoices ADD CONSTRAINT invoices_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE invoices ALTER COLUMN id TYPE bigint;
