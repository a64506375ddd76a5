-- Every input here is legal or nearly so, and once broke zerodown (issue 20).
SELEC 1;
UPDAT t SETT x = 1;
FOO;
DO $$ BEGIN PERFORM 1; END $$; -- 🚀
BEGIN; ALTER TABLE t ADD COLUMN c int; ROLLBACK;
SET search_path = app;
SELECT pg_catalog.set_config('search_path', '', false);
ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;
ALTER TABLE "a.b"."c" ADD COLUMN "we""ird" int;
CREATE INDEX "ix é" ON t (lower("Name"));
COMMENT ON TABLE t IS E'\\x00 ''q''';
ALTER TABLE t ADD COLUMN c numeric(1+1);
ALTER TABLE t ALTER COLUMN c TYPE numeric(-a, 2);
UPDATE t SET c = 'x'::numeric(now());
CREATE INDEX i ON t ((a::numeric(1 + 2)));
SET work_mem = '64MB'; SELECT 1::bit(2*2);
