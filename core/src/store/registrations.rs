//! Where phones are registered (RFC 3261 §10): one row per contact of a phone device, written
//! by whichever IVR node took the REGISTER and read by every node, so any of them reaches any
//! registered phone. Rows past their expiry count as gone at once and are swept.

use super::{DbConnection, StoreError, schema::registrations};
use crate::ids::UserId;
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = registrations)]
pub struct Registration {
    pub device_id: String,
    /// The Contact URI as the phone gave it.
    pub contact: String,
    pub user_id: String,
    /// `udp:ip:port` or `tcp:ip:port` the REGISTER came from: where a phone behind NAT is
    /// reached (its Contact may name a private address).
    pub source: String,
    /// The `Path` a proxy in front added (RFC 3327), comma-separated, to route back through it.
    pub path: Option<String>,
    pub call_id: String,
    pub cseq: i64,
    /// The IVR node that took it.
    pub node_id: String,
    pub user_agent: Option<String>,
    pub expires_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

/// What a REGISTER asks for one contact.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Keep (or add) this binding until its `expires_at`.
    Bind(Registration),
    /// Remove the binding of this contact (`expires=0`).
    Unbind { contact: String },
}

/// Why a REGISTER's changes were not made.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The same Call-ID with a CSeq not above the stored one: an old request arrived late
    /// (RFC 3261 §10.3 step 7: 500).
    OutOfOrder,
}

/// The live bindings of device `device` at `now`, oldest first.
pub fn of_device(
    conn: &mut DbConnection,
    device: &str,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Registration>, StoreError> {
    Ok(registrations::table
        .filter(registrations::device_id.eq(device))
        .filter(registrations::expires_at.gt(now))
        .order((
            registrations::updated_at.asc(),
            registrations::contact.asc(),
        ))
        .select(Registration::as_select())
        .load(conn)?)
}

/// Which of `ids` have a phone registered at `now`: people a callback reaches (presence from
/// phones).
pub fn registered_users(
    conn: &mut DbConnection,
    ids: &[&str],
    now: chrono::NaiveDateTime,
) -> Result<std::collections::HashSet<String>, StoreError> {
    Ok(registrations::table
        .filter(registrations::user_id.eq_any(ids))
        .filter(registrations::expires_at.gt(now))
        .select(registrations::user_id)
        .distinct()
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// The live bindings node `node` took over UDP from the phone itself (no proxy's `Path`): the
/// phones whose NAT that node keeps open.
pub fn taken_directly_by(
    conn: &mut DbConnection,
    node: &str,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Registration>, StoreError> {
    Ok(registrations::table
        .filter(registrations::node_id.eq(node))
        .filter(registrations::expires_at.gt(now))
        .filter(registrations::path.is_null())
        .filter(registrations::source.like("udp:%"))
        .select(Registration::as_select())
        .load(conn)?)
}

/// The live bindings of all of `user`'s phones at `now`.
pub fn of_user(
    conn: &mut DbConnection,
    user: &UserId,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Registration>, StoreError> {
    Ok(registrations::table
        .filter(registrations::user_id.eq(user.as_str()))
        .filter(registrations::expires_at.gt(now))
        .order((
            registrations::updated_at.asc(),
            registrations::contact.asc(),
        ))
        .select(Registration::as_select())
        .load(conn)?)
}

/// Apply one REGISTER's `changes` to `device` in one transaction (the caller's), then return
/// the device's live bindings. Nothing is changed when any contact is out of order.
pub fn apply(
    conn: &mut DbConnection,
    device: &str,
    call_id: &str,
    cseq: i64,
    changes: Vec<Change>,
    now: chrono::NaiveDateTime,
) -> Result<Result<Vec<Registration>, Refusal>, StoreError> {
    let stored: Vec<(String, String, i64)> = registrations::table
        .filter(registrations::device_id.eq(device))
        .select((
            registrations::contact,
            registrations::call_id,
            registrations::cseq,
        ))
        .load(conn)?;
    let late = stored
        .iter()
        .any(|(_, id, seq)| id == call_id && *seq >= cseq);
    if late {
        return Ok(Err(Refusal::OutOfOrder));
    }
    for change in changes {
        match change {
            Change::Unbind { contact } => {
                diesel::delete(
                    registrations::table
                        .filter(registrations::device_id.eq(device))
                        .filter(registrations::contact.eq(contact)),
                )
                .execute(conn)?;
            }
            Change::Bind(r) => {
                diesel::delete(
                    registrations::table
                        .filter(registrations::device_id.eq(device))
                        .filter(registrations::contact.eq(&r.contact)),
                )
                .execute(conn)?;
                diesel::insert_into(registrations::table)
                    .values(&r)
                    .execute(conn)?;
            }
        }
    }
    Ok(Ok(of_device(conn, device, now)?))
}

/// Remove every binding of `device` (`Contact: *` with `Expires: 0`); returns how many.
pub fn unbind_all(conn: &mut DbConnection, device: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(registrations::table.filter(registrations::device_id.eq(device)))
            .execute(conn)?,
    )
}

/// Delete the bindings that expired before `now`; returns how many.
pub fn sweep(conn: &mut DbConnection, now: chrono::NaiveDateTime) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(registrations::table.filter(registrations::expires_at.le(now)))
            .execute(conn)?,
    )
}
