//! Recordings in progress, each with the IVR process taking it and the spool file it writes.
//!
//! A process that dies mid-call (a crash, `kill -9`, a lost host) leaves its messages in
//! `recording`. Another IVR finds them here — rows whose node stopped sending heartbeats — and
//! finishes them from the spool file (the IVR flushes it every live fragment), so a message
//! keeps everything that was said up to the last fragment. The row goes when the recording is
//! sent or withdrawn; a row whose message is no longer `recording` is left over and removed.

use super::{
    DbConnection, StoreError,
    schema::{nodes, recordings},
};
use crate::ids::MessageId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = recordings)]
pub struct Recording {
    pub message_id: String,
    pub node_id: String,
    pub spool_path: String,
    pub started_at: NaiveDateTime,
}

/// Note that `node` records `message` into `spool_path`.
pub fn start(conn: &mut DbConnection, recording: &Recording) -> Result<(), StoreError> {
    diesel::insert_into(recordings::table)
        .values(recording)
        .execute(conn)?;
    Ok(())
}

/// The recording was sent or withdrawn.
pub fn finish(conn: &mut DbConnection, message: &MessageId) -> Result<(), StoreError> {
    diesel::delete(recordings::table.find(message.as_str())).execute(conn)?;
    Ok(())
}

/// Recordings whose process is gone: its node has not sent a heartbeat since `alive_since`
/// (or has no row at all, and the recording is older than that — a new node's first heartbeat
/// may not be written yet).
pub fn list_orphaned(
    conn: &mut DbConnection,
    alive_since: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Recording>, StoreError> {
    let alive: Vec<String> = nodes::table
        .filter(nodes::heartbeat_at.ge(alive_since))
        .select(nodes::id)
        .load(conn)?;
    let known: Vec<(String, NaiveDateTime)> = nodes::table
        .select((nodes::id, nodes::heartbeat_at))
        .load(conn)?;
    let rows: Vec<Recording> = recordings::table
        .filter(recordings::node_id.ne_all(&alive))
        .order(recordings::started_at.asc())
        .limit(limit.saturating_mul(4))
        .select(Recording::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|r| known.iter().any(|(id, _)| *id == r.node_id) || r.started_at < alive_since)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect())
}

/// Take a recording over from the node that was taking it; false if someone else already did.
pub fn claim(
    conn: &mut DbConnection,
    message: &MessageId,
    from_node: &str,
    to_node: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        recordings::table
            .find(message.as_str())
            .filter(recordings::node_id.eq(from_node)),
    )
    .set(recordings::node_id.eq(to_node))
    .execute(conn)?;
    Ok(n == 1)
}
