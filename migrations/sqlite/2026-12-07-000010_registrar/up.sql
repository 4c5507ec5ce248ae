-- SIP credentials of a phone device (kind 'sip' or 'phone'): the username it registers and
-- authenticates with, and its password's HA1 under each digest algorithm,
-- H(username:realm:password), for the realm they were made in. The password itself is never
-- stored. `trusted`: a call from this registered phone needs no PIN. `mwi_unsolicited`: send
-- it message-waiting NOTIFYs without a SUBSCRIBE.
ALTER TABLE devices ADD COLUMN sip_username TEXT;
ALTER TABLE devices ADD COLUMN sip_realm TEXT;
ALTER TABLE devices ADD COLUMN sip_ha1_md5 TEXT;
ALTER TABLE devices ADD COLUMN sip_ha1_sha256 TEXT;
ALTER TABLE devices ADD COLUMN trusted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE devices ADD COLUMN mwi_unsolicited BOOLEAN NOT NULL DEFAULT FALSE;
-- Wrong SIP passwords for this device in a row (any source); a right one clears it.
ALTER TABLE devices ADD COLUMN sip_failures INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX devices_sip_username ON devices (sip_username);

-- Where a phone device is registered: one row per contact (RFC 3261 §10), on any IVR node.
-- `source` is the transport address the REGISTER came from (what a NATed phone is reached
-- at), `path` the Path headers a proxy in front added (RFC 3327), to route requests back
-- through it. Rows past `expires_at` are swept.
CREATE TABLE registrations (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    contact TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    path TEXT,
    call_id TEXT NOT NULL,
    cseq BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    user_agent TEXT,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (device_id, contact)
);
CREATE INDEX registrations_user ON registrations (user_id);
CREATE INDEX registrations_expires ON registrations (expires_at);
