-- What the phone side needs: PIN lockout, which receipts a caller has already heard, a
-- recipient's own deletion of a message (the sender still sees their receipts), and a sender
-- withdrawing a message before sending it (state 'failed' with cancelled_at set; a message
-- held for review is 'recording' with its blob already stored).
ALTER TABLE users ADD COLUMN pin_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pin_locked_until TIMESTAMP;
ALTER TABLE users ADD COLUMN receipts_seen_at TIMESTAMP;
ALTER TABLE message_recipients ADD COLUMN deleted_at TIMESTAMP;
ALTER TABLE messages ADD COLUMN cancelled_at TIMESTAMP;
