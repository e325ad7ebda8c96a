-- Custom SQL migration file, put your code below! --
-- Work that every change of a kind does alike moves into the database, so the statement that makes
-- the change does it too (same atomicity, one statement fewer in the batch; src/db/STORAGE.md).
--
-- A webhook event fans out to one pending delivery per enabled endpoint subscribed to its type
-- (src/webhooks/outbox.ts writes only the event, and only when some endpoint subscribes).
CREATE TRIGGER `webhook_events_fan_out` AFTER INSERT ON `webhook_events`
BEGIN
  INSERT INTO `webhook_deliveries` (`id`, `event_id`, `endpoint_id`, `status`, `attempts`, `next_attempt_at`, `created_at`)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(6))),
      NEW.`id`, e.`id`, 'pending', 0, NEW.`created_at`, NEW.`created_at`
    FROM `webhook_endpoints` e
    WHERE e.`enabled` = 1 AND EXISTS (SELECT 1 FROM json_each(e.`event_types`) WHERE value IN ('*', NEW.`type`));
END;
--> statement-breakpoint
-- users_total follows the users table: +1 per account inserted (sign-up, import), -1 per account deleted.
CREATE TRIGGER `users_count_insert` AFTER INSERT ON `users`
BEGIN
  INSERT INTO `counters` (`name`, `value`) VALUES ('users_total', 1) ON CONFLICT (`name`) DO UPDATE SET `value` = `value` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_count_delete` AFTER DELETE ON `users`
BEGIN
  UPDATE `counters` SET `value` = `value` - 1 WHERE `name` = 'users_total';
END;
--> statement-breakpoint
-- A code's verification counts once in traffic_hourly, in its send's UTC hour, with its
-- send-to-verify time in the histogram (bounds: src/fraud/rollups.ts VERIFY_BUCKETS, seconds):
-- when the verify sets verified_at, or when the send's record arrives after the verify and
-- inserts the row already verified.
CREATE TRIGGER `code_sends_verified_hourly` AFTER UPDATE OF `verified_at` ON `code_sends`
  WHEN OLD.`verified_at` IS NULL AND NEW.`verified_at` IS NOT NULL
BEGIN
  INSERT INTO `traffic_hourly` (`hour`, `prefix`, `channel`, `provider`, `country`, `verified`, `v_10`, `v_20`, `v_30`, `v_45`, `v_60`, `v_90`, `v_120`, `v_180`, `v_300`, `v_more`)
    VALUES (NEW.`sent_at` - NEW.`sent_at` % 3600000, NEW.`prefix`, NEW.`channel`, NEW.`provider`, NEW.`country`, 1,
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 10),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 10 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 20),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 20 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 30),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 30 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 45),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 45 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 60),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 60 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 90),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 90 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 120),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 120 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 180),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 180 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 300),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 300))
    ON CONFLICT (`hour`, `prefix`, `channel`, `provider`) DO UPDATE SET `verified` = `verified` + 1,
      `v_10` = `v_10` + excluded.`v_10`, `v_20` = `v_20` + excluded.`v_20`, `v_30` = `v_30` + excluded.`v_30`, `v_45` = `v_45` + excluded.`v_45`, `v_60` = `v_60` + excluded.`v_60`, `v_90` = `v_90` + excluded.`v_90`, `v_120` = `v_120` + excluded.`v_120`, `v_180` = `v_180` + excluded.`v_180`, `v_300` = `v_300` + excluded.`v_300`, `v_more` = `v_more` + excluded.`v_more`;
END;
--> statement-breakpoint
CREATE TRIGGER `code_sends_verified_first_hourly` AFTER INSERT ON `code_sends` WHEN NEW.`verified_at` IS NOT NULL
BEGIN
  INSERT INTO `traffic_hourly` (`hour`, `prefix`, `channel`, `provider`, `country`, `verified`, `v_10`, `v_20`, `v_30`, `v_45`, `v_60`, `v_90`, `v_120`, `v_180`, `v_300`, `v_more`)
    VALUES (NEW.`sent_at` - NEW.`sent_at` % 3600000, NEW.`prefix`, NEW.`channel`, NEW.`provider`, NEW.`country`, 1,
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 10),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 10 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 20),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 20 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 30),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 30 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 45),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 45 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 60),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 60 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 90),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 90 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 120),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 120 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 180),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 180 AND (NEW.`verified_at` - NEW.`sent_at`) / 1000.0 <= 300),
      ((NEW.`verified_at` - NEW.`sent_at`) / 1000.0 > 300))
    ON CONFLICT (`hour`, `prefix`, `channel`, `provider`) DO UPDATE SET `verified` = `verified` + 1,
      `v_10` = `v_10` + excluded.`v_10`, `v_20` = `v_20` + excluded.`v_20`, `v_30` = `v_30` + excluded.`v_30`, `v_45` = `v_45` + excluded.`v_45`, `v_60` = `v_60` + excluded.`v_60`, `v_90` = `v_90` + excluded.`v_90`, `v_120` = `v_120` + excluded.`v_120`, `v_180` = `v_180` + excluded.`v_180`, `v_300` = `v_300` + excluded.`v_300`, `v_more` = `v_more` + excluded.`v_more`;
END;
