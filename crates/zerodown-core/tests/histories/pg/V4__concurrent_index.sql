-- Flyway runs a file of statements that cannot run in a transaction without one.
CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);
