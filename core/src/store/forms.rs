//! Forms already acted on. Every portal form carries a fresh random token; the first
//! submission records it, and a second one with the same token (a reload of the answer, a
//! double click, Back then Submit) finds it and acts no more. A submission that was refused
//! (a typo in a field) is withdrawn, so the same form may be sent again once corrected.
//! Tokens are random (128 bits) and kept a day.

use super::{DbConnection, StoreError, now, schema::form_submissions};
use diesel::prelude::*;

/// How long a submitted form is remembered.
pub const KEEP: chrono::Duration = chrono::Duration::hours(24);

/// Record that the form carrying `token` was submitted: `true` the first time, `false` when it
/// was submitted before (or is being handled right now).
pub fn submit(conn: &mut DbConnection, token: &str) -> Result<bool, StoreError> {
    // Outside a transaction: losing the race to insert is the answer "already submitted".
    let inserted = diesel::insert_into(form_submissions::table)
        .values((
            form_submissions::token.eq(token),
            form_submissions::created_at.eq(now()),
        ))
        .execute(conn)
        .map_err(StoreError::from);
    match inserted {
        Ok(n) => Ok(n == 1),
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The submission was refused and did nothing: the same form may be sent again.
pub fn withdraw(conn: &mut DbConnection, token: &str) -> Result<(), StoreError> {
    diesel::delete(form_submissions::table.find(token)).execute(conn)?;
    Ok(())
}

/// Forget submissions older than a day.
pub fn prune(conn: &mut DbConnection) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        form_submissions::table.filter(form_submissions::created_at.lt(now() - KEEP)),
    )
    .execute(conn)?)
}
