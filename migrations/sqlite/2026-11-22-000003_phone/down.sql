ALTER TABLE messages DROP COLUMN cancelled_at;
ALTER TABLE message_recipients DROP COLUMN deleted_at;
ALTER TABLE users DROP COLUMN receipts_seen_at;
ALTER TABLE users DROP COLUMN pin_locked_until;
ALTER TABLE users DROP COLUMN pin_failures;
