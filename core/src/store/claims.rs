//! Leases on work that must not be done twice at once by two processes: handing one e-mail to
//! the relay, say, when a broker hiccup gave the same command to two notifiers. The holder
//! renews its lease while it works and releases it when done; one that dies simply stops
//! renewing, and the work is free again when the lease ends.

use super::{DbConnection, StoreError, now, schema::claims};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Take `work` for `node` until `until`, if nobody holds it (or their lease has ended).
/// Renewing one's own claim also succeeds.
pub fn take(
    conn: &mut DbConnection,
    work: &str,
    node: &str,
    until: NaiveDateTime,
) -> Result<bool, StoreError> {
    let taken = diesel::update(
        claims::table
            .find(work)
            .filter(claims::until.lt(now()).or(claims::node_id.eq(node))),
    )
    .set((claims::node_id.eq(node), claims::until.eq(until)))
    .execute(conn)?;
    if taken == 1 {
        return Ok(true);
    }
    // Nobody's, or someone else's and still running. Run outside a transaction: losing the
    // race to insert is an answer ("someone has it"), not an error.
    let inserted = diesel::insert_into(claims::table)
        .values((
            claims::work.eq(work),
            claims::node_id.eq(node),
            claims::until.eq(until),
        ))
        .execute(conn)
        .map_err(StoreError::from);
    match inserted {
        Ok(n) => Ok(n == 1),
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The work is done (or abandoned): free it at once.
pub fn release(conn: &mut DbConnection, work: &str, node: &str) -> Result<(), StoreError> {
    diesel::delete(claims::table.find(work).filter(claims::node_id.eq(node))).execute(conn)?;
    Ok(())
}
