DROP TABLE form_submissions;
ALTER TABLE sessions DROP COLUMN flash;
