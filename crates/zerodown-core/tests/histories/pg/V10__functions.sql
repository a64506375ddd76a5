CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.note := coalesce(NEW.note, '');
  RETURN NEW;
END $$;
CREATE TRIGGER orders_touch BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION touch();
DO $$ BEGIN
  INSERT INTO plans VALUES (3, 'enterprise');
END $$;
