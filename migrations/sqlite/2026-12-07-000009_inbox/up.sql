-- A message its recipient marked as unheard again: shown as new and counted as new until
-- they play it once more. The sender's "heard" receipt stays: they did hear it.
ALTER TABLE message_recipients ADD COLUMN marked_unheard BOOLEAN NOT NULL DEFAULT FALSE;

-- The groups a message was sent to, as the sender named them ("Sales (200)"), so their sent
-- list shows the group and not only its members. Empty for messages to people.
ALTER TABLE messages ADD COLUMN sent_to TEXT;
