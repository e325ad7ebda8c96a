-- Custom SQL migration file, put your code below! --
-- One delivery per event and endpoint, silently: a second insert of the same pair is skipped, not
-- refused. Since 0018 the fan-out trigger makes the deliveries; a Worker of the version before it
-- (running between `d1 migrations apply` and `wrangler deploy`, or after a rollback) still inserts
-- them itself, and without this its whole batch (a sign-in, a logout) would fail on the unique
-- (event_id, endpoint_id) index. Replays update rows; nothing else inserts a pair twice.
CREATE TRIGGER `webhook_deliveries_once` BEFORE INSERT ON `webhook_deliveries`
  WHEN EXISTS (SELECT 1 FROM `webhook_deliveries` WHERE `event_id` = NEW.`event_id` AND `endpoint_id` = NEW.`endpoint_id`)
BEGIN
  SELECT RAISE(IGNORE);
END;
