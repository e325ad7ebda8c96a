CREATE TABLE `sms_budget` (
	`day` text NOT NULL,
	`scope` text NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day`, `scope`)
);
