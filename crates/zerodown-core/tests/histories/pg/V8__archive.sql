-- 2022: keep old orders aside.
CREATE TABLE orders_archive AS SELECT * FROM orders WHERE total = 0;
ALTER TABLE orders_archive ADD PRIMARY KEY (id);
DELETE FROM orders WHERE total = 0;
