-- Recordings in progress and the IVR process taking each, so that another IVR finishes a
-- recording whose process died (from the spool file it was writing) instead of leaving the
-- message half-made. The row goes when the recording is sent or withdrawn.
CREATE TABLE recordings (
    message_id TEXT PRIMARY KEY NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    node_id TEXT NOT NULL,
    spool_path TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL
);

-- An upload's Idempotency-Key: the same key from the same sender gets the same message back,
-- so a client that lost the answer can safely send again. Kept for a day.
CREATE TABLE upload_keys (
    sender_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idem_key TEXT NOT NULL,
    -- SHA-256 of what was asked (recipients, urgency, audio): the same key with another
    -- request is refused, not answered with the wrong message.
    fingerprint TEXT NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (sender_id, idem_key)
);
CREATE INDEX upload_keys_by_age ON upload_keys (created_at);

-- Work one process is doing that no other may do at the same time (an e-mail being handed to
-- the relay), with a lease the holder renews while it works: a holder that dies loses it when
-- the lease ends, and another process takes the work over.
CREATE TABLE claims (
    work TEXT PRIMARY KEY NOT NULL,
    node_id TEXT NOT NULL,
    until TIMESTAMP NOT NULL
);
