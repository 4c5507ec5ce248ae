-- A message its recipient marked as unheard again: shown as new and counted as new until
-- they play it once more. The sender's "heard" receipt stays: they did hear it.
ALTER TABLE message_recipients ADD COLUMN marked_unheard BOOLEAN NOT NULL DEFAULT FALSE;
