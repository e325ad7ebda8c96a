CREATE TABLE `code_sends` (
	`code_id` text PRIMARY KEY NOT NULL,
	`prefix` text NOT NULL,
	`country` text,
	`channel` text NOT NULL,
	`provider` text NOT NULL,
	`sent_at` integer NOT NULL,
	`verified_at` integer
);
--> statement-breakpoint
CREATE INDEX `code_sends_prefix` ON `code_sends` (`prefix`,`sent_at`,`verified_at`);--> statement-breakpoint
CREATE INDEX `code_sends_country` ON `code_sends` (`country`,`sent_at`,`verified_at`);--> statement-breakpoint
CREATE INDEX `code_sends_time` ON `code_sends` (`sent_at`);--> statement-breakpoint
CREATE TABLE `fraud_alarms` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`raised_at` integer NOT NULL,
	`until` integer NOT NULL,
	`failures` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `fraud_alarms_kind_until` ON `fraud_alarms` (`kind`,`until`);--> statement-breakpoint
CREATE TABLE `traffic_hourly` (
	`hour` integer NOT NULL,
	`prefix` text NOT NULL,
	`channel` text NOT NULL,
	`provider` text NOT NULL,
	`country` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`sent` integer DEFAULT 0 NOT NULL,
	`delivered` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`verified` integer DEFAULT 0 NOT NULL,
	`cost` real DEFAULT 0 NOT NULL,
	`v_10` integer DEFAULT 0 NOT NULL,
	`v_20` integer DEFAULT 0 NOT NULL,
	`v_30` integer DEFAULT 0 NOT NULL,
	`v_45` integer DEFAULT 0 NOT NULL,
	`v_60` integer DEFAULT 0 NOT NULL,
	`v_90` integer DEFAULT 0 NOT NULL,
	`v_120` integer DEFAULT 0 NOT NULL,
	`v_180` integer DEFAULT 0 NOT NULL,
	`v_300` integer DEFAULT 0 NOT NULL,
	`v_more` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour`, `prefix`, `channel`, `provider`)
);
--> statement-breakpoint
CREATE INDEX `traffic_hourly_hour` ON `traffic_hourly` (`hour`);--> statement-breakpoint
ALTER TABLE `fraud_blocks` ADD `sends` integer;--> statement-breakpoint
ALTER TABLE `fraud_blocks` ADD `judged` integer;--> statement-breakpoint
ALTER TABLE `fraud_blocks` ADD `verified` integer;