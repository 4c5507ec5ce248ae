ALTER TABLE message_recipients DROP COLUMN reason;
DROP TABLE form_submissions;
ALTER TABLE sessions DROP COLUMN flash;
