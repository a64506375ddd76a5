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
