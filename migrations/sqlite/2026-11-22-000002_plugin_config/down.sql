DROP INDEX plugins_name;
ALTER TABLE plugins DROP COLUMN total_micros;
ALTER TABLE plugins DROP COLUMN last_error;
ALTER TABLE plugins DROP COLUMN updated_at;
ALTER TABLE plugins DROP COLUMN config;
