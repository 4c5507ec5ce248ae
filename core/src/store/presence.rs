//! Who is online: one row per user, kept fresh by a heartbeat from whichever node (portal tab,
//! phone call) has them. A row whose heartbeat is older than [`FRESH_SECS`] means offline,
//! so a crashed node never leaves anyone "online" for long.

use super::{DbConnection, StoreError, now, schema::presence};
use diesel::prelude::*;
use std::collections::HashMap;

/// How long a heartbeat keeps someone present.
pub const FRESH_SECS: i64 = 120;

/// The status (`available`, `busy`, `dnd`) of each of `ids` who is present; absent ids are
/// offline.
pub fn statuses(
    conn: &mut DbConnection,
    ids: &[&str],
) -> Result<HashMap<String, String>, StoreError> {
    let fresh_after = now() - chrono::Duration::seconds(FRESH_SECS);
    Ok(presence::table
        .filter(presence::user_id.eq_any(ids))
        .filter(presence::heartbeat_at.gt(fresh_after))
        .select((presence::user_id, presence::status))
        .load(conn)?
        .into_iter()
        .collect())
}

/// `user` is present through `node` with `status`: insert or refresh their row. Returns the
/// status shown before (`offline` when they were not present), so the caller can announce a
/// change in the same transaction (run this inside one).
pub fn heartbeat(
    conn: &mut DbConnection,
    user: &str,
    node: &str,
    status: &str,
) -> Result<String, StoreError> {
    let fresh_after = now() - chrono::Duration::seconds(FRESH_SECS);
    let before: Option<(String, chrono::NaiveDateTime)> = presence::table
        .find(user)
        .select((presence::status, presence::heartbeat_at))
        .first(conn)
        .optional()?;
    let before = match before {
        Some((s, at)) if at > fresh_after => s,
        _ => "offline".to_owned(),
    };
    let at = now();
    let n = diesel::update(presence::table.find(user))
        .set((
            presence::node.eq(node),
            presence::status.eq(status),
            presence::heartbeat_at.eq(at),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(presence::table)
            .values((
                presence::user_id.eq(user),
                presence::node.eq(node),
                presence::status.eq(status),
                presence::heartbeat_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(before)
}

/// `user` left `node` (their last tab there closed). True when that made them offline; a row
/// refreshed meanwhile by another node stays.
pub fn leave(conn: &mut DbConnection, user: &str, node: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(
        presence::table
            .filter(presence::user_id.eq(user))
            .filter(presence::node.eq(node)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// Take everyone present through `node` offline (a node shutting down); returns who they
/// were. Run inside a transaction.
pub fn leave_node(conn: &mut DbConnection, node: &str) -> Result<Vec<String>, StoreError> {
    let ids: Vec<String> = presence::table
        .filter(presence::node.eq(node))
        .select(presence::user_id)
        .load(conn)?;
    diesel::delete(presence::table.filter(presence::node.eq(node))).execute(conn)?;
    Ok(ids)
}
