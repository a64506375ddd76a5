DROP TABLE plans;
DROP TABLE accounts;
