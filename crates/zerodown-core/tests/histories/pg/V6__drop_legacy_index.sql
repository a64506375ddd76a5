-- Made by hand on production years ago, never in a migration.
DROP INDEX IF EXISTS legacy_orders_total_idx;
