SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN plan_id int;
UPDATE orders SET plan_id = a.plan_id FROM accounts a WHERE a.id = orders.account_id;
INSERT INTO orders_archive SELECT * FROM orders WHERE note = 'void';
