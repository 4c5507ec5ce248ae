-- Hark's data model (SQLite). Keep in step with migrations/postgres and core/src/store/schema.rs.
-- Ids are UUID text; timestamps are UTC.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    extension TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT,
    phone_uri TEXT,
    pin_hash TEXT,
    password_hash TEXT,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    timezone TEXT NOT NULL DEFAULT 'UTC',
    name_blob TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE contacts (
    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    speed_dial INTEGER CHECK (speed_dial BETWEEN 0 AND 99),
    PRIMARY KEY (owner_id, contact_id)
);
CREATE UNIQUE INDEX contacts_speed_dial ON contacts(owner_id, speed_dial);

CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL,
    number TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    owner_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

-- A delivery profile: ordered channels with escalation delays, quiet hours and per-sender
-- rules, as JSON documents checked by the router.
CREATE TABLE delivery_profiles (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channels TEXT NOT NULL,
    quiet_hours TEXT,
    sender_rules TEXT NOT NULL DEFAULT '[]',
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    verified_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, kind, address)
);

CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    sender_id TEXT NOT NULL REFERENCES users(id),
    origin TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('recording', 'complete', 'failed')),
    duration_ms INTEGER NOT NULL DEFAULT 0,
    blob_key TEXT,
    content_type TEXT NOT NULL DEFAULT 'audio/wav',
    urgent BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
CREATE INDEX messages_sender ON messages(sender_id, created_at);

CREATE TABLE attachments (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    blob_key TEXT NOT NULL
);

CREATE TABLE message_recipients (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES users(id),
    state TEXT NOT NULL CHECK (state IN ('queued', 'streaming', 'delivered', 'played', 'failed', 'declined')),
    channel TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    played_at TIMESTAMP,
    PRIMARY KEY (message_id, recipient_id)
);
CREATE INDEX message_recipients_inbox ON message_recipients(recipient_id, created_at);

CREATE TABLE delivery_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES users(id),
    channel TEXT NOT NULL,
    endpoint TEXT,
    due_at TIMESTAMP NOT NULL,
    give_up_at TIMESTAMP,
    state TEXT NOT NULL CHECK (state IN ('pending', 'dispatched', 'succeeded', 'failed', 'cancelled')),
    detail TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX delivery_attempts_due ON delivery_attempts(state, due_at);

CREATE TABLE receipts (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES users(id),
    sender_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('delivered', 'heard', 'failed', 'declined')),
    channel TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (message_id, recipient_id, kind)
);
CREATE INDEX receipts_sender ON receipts(sender_id, created_at);

CREATE TABLE plugins (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    wasm BLOB NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    priority INTEGER NOT NULL DEFAULT 100,
    calls BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE presence (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('available', 'busy', 'dnd', 'offline')),
    heartbeat_at TIMESTAMP NOT NULL
);

-- Login sessions and API tokens; only a SHA-256 of the token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('web', 'api')),
    csrf_token TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- Events written in the same transaction as the state they announce; relayed to the bus.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL
);

-- (consumer, event) pairs already handled: a redelivered event is acknowledged and skipped.
CREATE TABLE processed_events (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
