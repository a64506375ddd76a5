CREATE OR REPLACE VIEW order_totals AS SELECT account_id, sum(total) AS total FROM orders GROUP BY account_id;
