SET SESSION lock_wait_timeout = 2;
ALTER TABLE purchases ADD COLUMN plan_id INT NULL, ALGORITHM=INSTANT, LOCK=DEFAULT;
UPDATE purchases p JOIN accounts a ON a.id = p.account_id SET p.plan_id = a.plan_id;
INSERT INTO purchases_archive SELECT * FROM purchases WHERE memo = 'void';
