CREATE TABLE purchases_archive AS SELECT * FROM purchases WHERE total = 0;
DELETE FROM purchases WHERE total = 0;
