//! Idempotency keys of uploads (`Idempotency-Key`): a client that sent a message and lost the
//! answer (a dropped connection, a portal node that died) sends it again with the same key and
//! gets the message it already made, not a second one. Keys are per sender and kept a day.

use super::{DbConnection, StoreError, now, schema::upload_keys};
use crate::ids::{MessageId, UserId};
use diesel::prelude::*;

/// How long a key is remembered.
pub const KEEP: chrono::Duration = chrono::Duration::hours(24);

/// The message already made with `key` by `sender`, with the fingerprint of the request
/// that made it, if any (and not yet forgotten).
pub fn find(
    conn: &mut DbConnection,
    sender: &UserId,
    key: &str,
) -> Result<Option<(MessageId, String)>, StoreError> {
    let found: Option<(String, String)> = upload_keys::table
        .find((sender.as_str(), key))
        .filter(upload_keys::created_at.ge(now() - KEEP))
        .select((upload_keys::message_id, upload_keys::fingerprint))
        .first(conn)
        .optional()?;
    Ok(found.map(|(m, f)| (MessageId::from(m), f)))
}

/// Remember that `key` made `message`; in the transaction that stores the message. Fails with
/// a unique violation when another request with the same key got there first (that
/// transaction then rolls back and the caller returns the winner's message).
pub fn remember(
    conn: &mut DbConnection,
    sender: &UserId,
    key: &str,
    fingerprint: &str,
    message: &MessageId,
) -> Result<(), StoreError> {
    // A key older than a day may be used again.
    diesel::delete(
        upload_keys::table
            .find((sender.as_str(), key))
            .filter(upload_keys::created_at.lt(now() - KEEP)),
    )
    .execute(conn)?;
    diesel::insert_into(upload_keys::table)
        .values((
            upload_keys::sender_id.eq(sender.as_str()),
            upload_keys::idem_key.eq(key),
            upload_keys::fingerprint.eq(fingerprint),
            upload_keys::message_id.eq(message.as_str()),
            upload_keys::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forget keys older than a day.
pub fn prune(conn: &mut DbConnection) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(upload_keys::table.filter(upload_keys::created_at.lt(now() - KEEP)))
            .execute(conn)?,
    )
}
