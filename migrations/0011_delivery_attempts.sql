CREATE TABLE `delivery_attempts` (
	`code_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`channel` text NOT NULL,
	`provider` text NOT NULL,
	`country` text,
	`prefix` text NOT NULL,
	`status` text NOT NULL,
	`provider_message_id` text,
	`error_code` text,
	`segments` integer,
	`cost` real DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`code_id`, `attempt`)
);
--> statement-breakpoint
CREATE INDEX `delivery_attempts_message_idx` ON `delivery_attempts` (`provider`,`provider_message_id`);--> statement-breakpoint
CREATE INDEX `delivery_attempts_time_idx` ON `delivery_attempts` (`created_at`);