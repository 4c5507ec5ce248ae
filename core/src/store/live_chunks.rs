//! Live fragments kept while a message is streamed (see [`crate::live`]): the IVR writes them
//! once it knows someone listens live; a listener reads the kept part first and then follows
//! `hark.live`; the IVR removes them when the recording ends.

use super::{DbConnection, StoreError, schema::live_chunks};
use crate::blob::BlobStore;
use crate::ids::MessageId;
use diesel::prelude::*;

/// What a kept fragment is bound to: its message and place.
fn aad(message: &MessageId, seq: i32) -> Vec<u8> {
    format!("hark-live|{message}|{seq}").into_bytes()
}

/// Keep encoded fragments `(seq, body)` of `message`, sealed with the blob key (audio is
/// never at rest in the clear); a fragment kept before is left alone.
pub fn add(
    conn: &mut DbConnection,
    blobs: &BlobStore,
    message: &MessageId,
    fragments: &[(u32, Vec<u8>)],
) -> Result<(), StoreError> {
    for (seq, body) in fragments {
        let seq = i32::try_from(*seq).unwrap_or(i32::MAX);
        let body = blobs.seal(&aad(message, seq), body);
        let exists = live_chunks::table
            .find((message.as_str(), seq))
            .count()
            .get_result::<i64>(conn)?;
        if exists == 0 {
            diesel::insert_into(live_chunks::table)
                .values((
                    live_chunks::message_id.eq(message.as_str()),
                    live_chunks::seq.eq(seq),
                    live_chunks::body.eq(&body),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// `message`'s kept fragments from `from_seq` on, in order, opened (one that does not open —
/// another key, a changed row — is left out and logged).
pub fn list(
    conn: &mut DbConnection,
    blobs: &BlobStore,
    message: &MessageId,
    from_seq: u32,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows: Vec<(i32, Vec<u8>)> = live_chunks::table
        .filter(live_chunks::message_id.eq(message.as_str()))
        .filter(live_chunks::seq.ge(i32::try_from(from_seq).unwrap_or(i32::MAX)))
        .order(live_chunks::seq.asc())
        .select((live_chunks::seq, live_chunks::body))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(seq, sealed)| match blobs.open(&aad(message, seq), &sealed) {
                Ok(body) => Some(body),
                Err(e) => {
                    tracing::warn!(error = %e, %message, seq, "a kept live fragment does not open");
                    None
                }
            },
        )
        .collect())
}

/// Forget `message`'s fragments (its recording ended).
pub fn remove(conn: &mut DbConnection, message: &MessageId) -> Result<(), StoreError> {
    diesel::delete(live_chunks::table.filter(live_chunks::message_id.eq(message.as_str())))
        .execute(conn)?;
    Ok(())
}

/// Does anyone listen to `message` live (a stream attempt under way, or already playing:
/// the portal reports a stream delivered as soon as its first audio goes out)?
pub fn is_streamed(conn: &mut DbConnection, message: &MessageId) -> Result<bool, StoreError> {
    use super::schema::delivery_attempts as a;
    Ok(a::table
        .filter(a::message_id.eq(message.as_str()))
        .filter(a::channel.eq("stream"))
        .filter(a::state.eq_any(["dispatched", "succeeded"]))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}
