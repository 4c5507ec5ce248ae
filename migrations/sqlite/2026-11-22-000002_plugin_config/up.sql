-- One row per plugin name: its current version, its admin-set configuration, and why it last
-- failed to load, if it did.
ALTER TABLE plugins ADD COLUMN config TEXT NOT NULL DEFAULT '';
ALTER TABLE plugins ADD COLUMN updated_at TIMESTAMP;
ALTER TABLE plugins ADD COLUMN last_error TEXT;
ALTER TABLE plugins ADD COLUMN total_micros BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX plugins_name ON plugins(name);
