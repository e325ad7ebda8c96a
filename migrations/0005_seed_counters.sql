-- Counters start from the rows that exist when this migration runs (custom migration, drizzle-kit --custom).
INSERT INTO counters (name, value) SELECT 'users_total', count(*) FROM users WHERE true
ON CONFLICT (name) DO UPDATE SET value = excluded.value;
