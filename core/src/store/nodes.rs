//! Running processes: each reports itself every few seconds, so an admin sees which nodes are
//! up, what they run and, for IVRs, how many calls they carry.

use super::{DbConnection, StoreError, schema::nodes};
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = nodes)]
pub struct Node {
    pub id: String,
    /// Comma-separated: `ivr,router,notifier,portal`.
    pub services: String,
    pub host: String,
    pub pid: i32,
    pub started_at: chrono::NaiveDateTime,
    pub heartbeat_at: chrono::NaiveDateTime,
    /// Calls in progress (IVR nodes only).
    pub active_calls: Option<i32>,
}

/// Record that `node` is alive.
pub fn heartbeat(conn: &mut DbConnection, node: &Node) -> Result<(), StoreError> {
    let n = diesel::update(nodes::table.find(&node.id))
        .set(node)
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(nodes::table)
            .values(node)
            .execute(conn)?;
    }
    Ok(())
}

/// Every node heard from since `since`, newest first; older rows are forgotten.
pub fn list_recent(
    conn: &mut DbConnection,
    since: chrono::NaiveDateTime,
) -> Result<Vec<Node>, StoreError> {
    diesel::delete(nodes::table.filter(nodes::heartbeat_at.lt(since))).execute(conn)?;
    Ok(nodes::table
        .order(nodes::started_at.desc())
        .select(Node::as_select())
        .load(conn)?)
}

/// A node that stops cleanly says so.
pub fn remove(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    diesel::delete(nodes::table.find(id)).execute(conn)?;
    Ok(())
}
