CREATE PROCEDURE close_account(IN p_id BIGINT)
BEGIN
  DECLARE n INT DEFAULT 0;
  SELECT COUNT(*) INTO n FROM purchases WHERE account_id = p_id;
  IF n = 0 THEN
    DELETE FROM accounts WHERE id = p_id;
  END IF;
END;
CREATE TRIGGER purchases_memo BEFORE INSERT ON purchases FOR EACH ROW
BEGIN
  SET NEW.memo = COALESCE(NEW.memo, '');
END;
