CREATE TABLE `country_minutes` (
	`country` text NOT NULL,
	`minute` integer NOT NULL,
	`sends` integer DEFAULT 0 NOT NULL,
	`verified` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`country`, `minute`)
);
