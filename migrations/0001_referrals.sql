CREATE TABLE `referrals` (
	`id` text PRIMARY KEY NOT NULL,
	`inviter_id` text NOT NULL,
	`invitee_id` text NOT NULL,
	`phone_key` text NOT NULL,
	`bonus_points` integer NOT NULL,
	`created_at` integer NOT NULL,
	`created_marker` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `referrals_inviter_phone_idx` ON `referrals` (`inviter_id`,`phone_key`);--> statement-breakpoint
CREATE INDEX `referrals_inviter_list_idx` ON `referrals` (`inviter_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `referrals_invitee_idx` ON `referrals` (`invitee_id`);--> statement-breakpoint
ALTER TABLE `users` ADD `level2_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `invite_marker` text;