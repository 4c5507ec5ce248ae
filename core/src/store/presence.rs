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
