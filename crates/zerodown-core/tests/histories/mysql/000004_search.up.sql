SET SESSION lock_wait_timeout = 2;
CREATE FULLTEXT INDEX orders_note_ft ON orders (note);
CREATE INDEX orders_tags ON orders ((CAST(doc->'$.tags' AS CHAR(20) ARRAY)));
