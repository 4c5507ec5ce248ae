-- Message-waiting subscriptions (RFC 3842 over RFC 6665): a phone device's SUBSCRIBE to
-- `message-summary` for its own mailbox, a dialog any IVR node can send NOTIFYs in. `our_tag`
-- is Hark's tag in it, `their_tag` the phone's; `contact` is where NOTIFYs go (sent to
-- `source`, the address the SUBSCRIBE came from, or through `route_set`, the Record-Route a
-- proxy in front added); `cseq` is the CSeq of the last NOTIFY sent. Rows past `expires_at`
-- are swept.
CREATE TABLE mwi_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    call_id TEXT NOT NULL,
    their_tag TEXT NOT NULL,
    our_tag TEXT NOT NULL,
    their_uri TEXT NOT NULL,
    our_uri TEXT NOT NULL,
    contact TEXT NOT NULL,
    source TEXT NOT NULL,
    route_set TEXT,
    cseq BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX mwi_subscriptions_dialog ON mwi_subscriptions (call_id, their_tag, our_tag);
CREATE INDEX mwi_subscriptions_user ON mwi_subscriptions (user_id);
CREATE INDEX mwi_subscriptions_expires ON mwi_subscriptions (expires_at);
