-- The web portal: disabled accounts, password lockout, the status people choose for
-- themselves (shown while they are online), named and revocable API tokens, and e-mail
-- verification of devices.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN login_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN login_locked_until TIMESTAMP;
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'busy', 'dnd'));
ALTER TABLE sessions ADD COLUMN name TEXT;
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMP;
ALTER TABLE devices ADD COLUMN verify_hash TEXT;
