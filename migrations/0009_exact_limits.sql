CREATE TABLE `rate_events` (
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`at` integer NOT NULL,
	`marker` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rate_events_scope_key_at` ON `rate_events` (`scope`,`key`,`at`);--> statement-breakpoint
CREATE INDEX `rate_events_at` ON `rate_events` (`at`);--> statement-breakpoint
ALTER TABLE `otp_challenges` ADD `decoy` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `otp_challenges` ADD `verify_marker` text;--> statement-breakpoint
ALTER TABLE `otp_challenges` DROP COLUMN `wrong_attempts`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `hour_start`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `hour_count`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `day_start`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `day_count`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `fail_start`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `fail_count`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `verify_marker`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `pw_fail_start`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `pw_fail_count`;--> statement-breakpoint
ALTER TABLE `phone_guards` DROP COLUMN `pw_marker`;