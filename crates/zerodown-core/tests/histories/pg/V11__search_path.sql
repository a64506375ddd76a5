-- A setting zerodown's own short transactions cannot carry: refused, the rest judged.
SET search_path = billing, public;
CREATE TABLE invoices (id bigint PRIMARY KEY, order_id bigint NOT NULL);
