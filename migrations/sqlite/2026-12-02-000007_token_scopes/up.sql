-- What an API token may do: "send" (POST /api/v1/messages) and "read" (the sender's
-- messages and receipts), space-separated. Tokens made before scopes, and the short-lived
-- ones from POST /api/v1/login, may do both.
ALTER TABLE sessions ADD COLUMN scopes TEXT NOT NULL DEFAULT 'send read';
