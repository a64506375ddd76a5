-- Every input here is legal or nearly so, and once broke zerodown (issue 20).
ALTER TABLE t ADD COLUMN d VARCHAR(20) DEFAULT 'C:\\temp\\new';
ALTER TABLE t ADD COLUMN who VARCHAR(20) DEFAULT 'O''Brien';
ALTER TABLE t ADD COLUMN c INT COMMENT 'x'', DROP COLUMN secret, ADD COLUMN d INT COMMENT ''';
ALTER TABLE t ADD COLUMN `we``ird` INT;
SELECT 1 --	x; DROP TABLE t
;
SELECT 1 /*M!100000 ; DROP TABLE t */;
/*!40101 SET NAMES utf8 */;
CREATE INDEX i ON t (a) COMMENT 'a\\b';
UPDATE t SET name = CONCAT(name, '\\x''') WHERE name <> 'it''s\\';
ALTER TABLE `a.b` ADD COLUMN c INT;
DELIMITER //
