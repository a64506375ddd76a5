--
-- Orders, with a JSON document.
--
CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id BIGINT NOT NULL,
  total DECIMAL(10,2) NOT NULL,
  note VARCHAR(40),
  doc JSON,
  KEY orders_account (account_id)
) ENGINE=InnoDB;
