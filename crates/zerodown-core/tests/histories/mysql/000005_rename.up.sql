SET SESSION lock_wait_timeout = 2;
ALTER TABLE orders RENAME purchases;
ALTER TABLE purchases RENAME COLUMN note TO memo, ALGORITHM=INSTANT;
