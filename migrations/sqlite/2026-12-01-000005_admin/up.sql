-- Admin pages: every running process reports itself (health, IVR calls), and routers keep
-- the last lines each plugin logged.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    services TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    active_calls INTEGER
);

CREATE TABLE plugin_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plugin TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX plugin_logs_by_plugin ON plugin_logs (plugin, id);

-- A message's live fragments while it is being spoken, kept only when someone streams it, so
-- a listener who joins late or reconnects hears it from the start; removed when it ends.
CREATE TABLE live_chunks (
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (message_id, seq)
);

-- A person can ask for the recording itself attached to their e-mails.
ALTER TABLE delivery_profiles ADD COLUMN attach_audio BOOLEAN NOT NULL DEFAULT FALSE;
