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

/// What is stored of a verification token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Kinds of device a person can add.
pub const KINDS: [&str; 4] = ["email", "phone", "sip", "browser"];

/// `user`'s devices, oldest first.
pub fn list_for_user(conn: &mut DbConnection, user: &UserId) -> Result<Vec<Device>, StoreError> {
    Ok(devices::table
        .filter(devices::user_id.eq(user.as_str()))
        .order((devices::created_at.asc(), devices::id.asc()))
        .select(Device::as_select())
        .load(conn)?)
}

/// Add a device. `verify_hash` is the hash of the token an e-mail device must present before
/// it counts as verified; a device added without one is verified at once.
pub fn add(
    conn: &mut DbConnection,
    user: &UserId,
    kind: &str,
    address: &str,
    verify_hash: Option<&str>,
) -> Result<Device, StoreError> {
    if !KINDS.contains(&kind) {
        return Err(StoreError::Invalid(format!("no device kind {kind:?}")));
    }
    let exists = devices::table
        .filter(devices::user_id.eq(user.as_str()))
        .filter(devices::kind.eq(kind))
        .filter(devices::address.eq(address))
        .count()
        .get_result::<i64>(conn)?;
    if exists > 0 {
        return Err(StoreError::Conflict(format!("you already have {address}")));
    }
    let at = super::now();
    let d = Device {
        id: crate::ids::DeviceId::new().into_string(),
        user_id: user.to_string(),
        kind: kind.to_owned(),
        address: address.to_owned(),
        verified_at: verify_hash.is_none().then_some(at),
        created_at: at,
    };
    diesel::insert_into(devices::table)
        .values((
            devices::id.eq(&d.id),
            devices::user_id.eq(&d.user_id),
            devices::kind.eq(&d.kind),
            devices::address.eq(&d.address),
            devices::verified_at.eq(d.verified_at),
            devices::created_at.eq(d.created_at),
            devices::verify_hash.eq(verify_hash),
        ))
        .execute(conn)?;
    Ok(d)
}

/// Remove `user`'s device `id`; false when they have none such.
pub fn delete(conn: &mut DbConnection, user: &UserId, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        devices::table
            .filter(devices::id.eq(id))
            .filter(devices::user_id.eq(user.as_str())),
    )
    .execute(conn)?
        > 0)
}

/// Mark device `id` verified if `token_hash` is the hash its verification e-mail carried and
/// it was added within `valid_for`. Returns the device when this verified it (or it already
/// was, by the same token).
pub fn verify(
    conn: &mut DbConnection,
    id: &str,
    token_hash: &str,
    valid_for: chrono::Duration,
) -> Result<Option<Device>, StoreError> {
    let found: Option<(Device, Option<String>)> = devices::table
        .filter(devices::id.eq(id))
        .select((Device::as_select(), devices::verify_hash))
        .first(conn)
        .optional()?;
    let Some((device, Some(hash))) = found else {
        return Ok(None);
    };
    let matches: bool =
        subtle::ConstantTimeEq::ct_eq(hash.as_bytes(), token_hash.as_bytes()).into();
    if !matches || device.created_at + valid_for < super::now() {
        return Ok(None);
    }
    if device.verified_at.is_none() {
        diesel::update(devices::table.find(id))
            .set(devices::verified_at.eq(super::now()))
            .execute(conn)?;
    }
    find_by_id(conn, id)
}

fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<Device>, StoreError> {
    Ok(devices::table
        .find(id)
        .select(Device::as_select())
        .first(conn)
        .optional()?)
}
