SET SESSION lock_wait_timeout = 2;
ALTER TABLE accounts ADD COLUMN plan_id INT NULL, ALGORITHM=INSTANT;
UPDATE accounts SET plan_id = 1 WHERE plan_id IS NULL;
ALTER TABLE accounts MODIFY plan_id INT NOT NULL;
