ALTER TABLE `phone_guards` ADD `pw_fail_start` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `phone_guards` ADD `pw_fail_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `phone_guards` ADD `pw_locked_until` integer;--> statement-breakpoint
ALTER TABLE `phone_guards` ADD `pw_marker` text;