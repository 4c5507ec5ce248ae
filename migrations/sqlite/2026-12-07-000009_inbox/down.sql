ALTER TABLE messages DROP COLUMN sent_to;
ALTER TABLE message_recipients DROP COLUMN marked_unheard;
