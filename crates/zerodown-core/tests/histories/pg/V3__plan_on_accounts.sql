-- 2020: every account gets a plan.
SET lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN plan_id int REFERENCES plans (id);
UPDATE accounts SET plan_id = 1 WHERE plan_id IS NULL;
ALTER TABLE accounts ALTER COLUMN plan_id SET NOT NULL;
