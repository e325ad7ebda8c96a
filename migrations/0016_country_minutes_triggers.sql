-- Custom SQL migration file, put your code below! --
-- country_minutes follows code_sends in the same statement that changes it (src/fraud/guard.ts):
-- a code sent counts in its country's minute, and its verification once, when verified_at is set.
CREATE TRIGGER `code_sends_count_country` AFTER INSERT ON `code_sends` WHEN NEW.`country` IS NOT NULL
BEGIN
  INSERT INTO `country_minutes` (`country`, `minute`, `sends`, `verified`)
    VALUES (NEW.`country`, NEW.`sent_at` / 60000, 1, NEW.`verified_at` IS NOT NULL)
    ON CONFLICT (`country`, `minute`) DO UPDATE SET `sends` = `sends` + 1, `verified` = `verified` + excluded.`verified`;
END;
--> statement-breakpoint
CREATE TRIGGER `code_sends_verify_country` AFTER UPDATE OF `verified_at` ON `code_sends`
  WHEN NEW.`country` IS NOT NULL AND OLD.`verified_at` IS NULL AND NEW.`verified_at` IS NOT NULL
BEGIN
  UPDATE `country_minutes` SET `verified` = `verified` + 1 WHERE `country` = NEW.`country` AND `minute` = NEW.`sent_at` / 60000;
END;
--> statement-breakpoint
-- Sends recorded before this migration.
INSERT INTO `country_minutes` (`country`, `minute`, `sends`, `verified`)
  SELECT `country`, `sent_at` / 60000, COUNT(*), SUM(`verified_at` IS NOT NULL) FROM `code_sends`
  WHERE `country` IS NOT NULL GROUP BY 1, 2;
