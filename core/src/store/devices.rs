//! People's devices: an e-mail address, a phone number or SIP URI, a browser — each a place a
//! message can reach them, verified before plans may use it.

use super::{DbConnection, StoreError, schema::devices};
use crate::ids::UserId;
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = devices)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    /// `email`, `phone`, `sip` or `browser`.
    pub kind: String,
    pub address: String,
    pub verified_at: Option<chrono::NaiveDateTime>,
    pub created_at: chrono::NaiveDateTime,
}

/// `user`'s device `id`; another person's device is not found.
pub fn find_for_user(
    conn: &mut DbConnection,
    user: &UserId,
    id: &str,
) -> Result<Option<Device>, StoreError> {
    Ok(devices::table
        .filter(devices::id.eq(id))
        .filter(devices::user_id.eq(user.as_str()))
        .select(Device::as_select())
        .first(conn)
        .optional()?)
}
