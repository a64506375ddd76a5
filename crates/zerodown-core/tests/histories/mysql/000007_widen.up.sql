SET SESSION lock_wait_timeout = 2;
ALTER TABLE purchases MODIFY total DECIMAL(14,2) NOT NULL;
ALTER TABLE purchases_archive MODIFY memo VARCHAR(80);
ALTER TABLE accounts ALTER INDEX accounts_email INVISIBLE;
