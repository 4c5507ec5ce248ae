ALTER TABLE message_recipients DROP COLUMN marked_unheard;
