CREATE TABLE `fraud_blocks` (
	`id` text PRIMARY KEY NOT NULL,
	`scope` text NOT NULL,
	`value` text NOT NULL,
	`reason` text,
	`source` text NOT NULL,
	`created_by` text,
	`created_at` integer NOT NULL,
	`until` integer NOT NULL,
	`lifted_at` integer,
	`lifted_by` text
);
--> statement-breakpoint
CREATE INDEX `fraud_blocks_destination` ON `fraud_blocks` (`scope`,`value`,`until`);--> statement-breakpoint
CREATE INDEX `fraud_blocks_created` ON `fraud_blocks` (`created_at`);