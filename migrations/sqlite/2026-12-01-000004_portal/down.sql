ALTER TABLE devices DROP COLUMN verify_hash;
ALTER TABLE sessions DROP COLUMN last_used_at;
ALTER TABLE sessions DROP COLUMN name;
ALTER TABLE users DROP COLUMN status;
ALTER TABLE users DROP COLUMN login_locked_until;
ALTER TABLE users DROP COLUMN login_failures;
ALTER TABLE users DROP COLUMN disabled_at;
