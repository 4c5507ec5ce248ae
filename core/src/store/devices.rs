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

/// Remove `user`'s device `id` (where it is registered goes with it: `registrations`
/// references it `ON DELETE CASCADE`); false when they have none such.
pub fn delete(conn: &mut DbConnection, user: &UserId, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        devices::table
            .filter(devices::id.eq(id))
            .filter(devices::user_id.eq(user.as_str())),
    )
    .execute(conn)?
        > 0)
}

/// Give `user`'s device `id` a new address (a new number, SIP URI or e-mail address), as an
/// admin does: it counts as verified at once. False when they have no such device.
pub fn set_address(
    conn: &mut DbConnection,
    user: &UserId,
    id: &str,
    address: &str,
) -> Result<bool, StoreError> {
    let Some(device) = find_for_user(conn, user, id)? else {
        return Ok(false);
    };
    if device.address == address {
        return Ok(true);
    }
    let clash = devices::table
        .filter(devices::user_id.eq(user.as_str()))
        .filter(devices::kind.eq(&device.kind))
        .filter(devices::address.eq(address))
        .count()
        .get_result::<i64>(conn)?;
    if clash > 0 {
        return Err(StoreError::Conflict(format!("they already have {address}")));
    }
    diesel::update(devices::table.find(id))
        .set((
            devices::address.eq(address),
            devices::verify_hash.eq(None::<String>),
            devices::verified_at.eq(Some(super::now())),
        ))
        .execute(conn)?;
    Ok(true)
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

/// Kinds of device that are phones, and can have SIP credentials.
pub const PHONE_KINDS: [&str; 2] = ["sip", "phone"];

/// A phone device's SIP credentials as the registrar checks them.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = devices)]
pub struct SipAccount {
    #[diesel(column_name = id)]
    pub device_id: String,
    pub user_id: String,
    pub sip_username: Option<String>,
    /// The realm the HA1s were made in; a phone made in another realm cannot authenticate.
    pub sip_realm: Option<String>,
    pub sip_ha1_md5: Option<String>,
    pub sip_ha1_sha256: Option<String>,
    /// A call from this phone, registered and authenticated, needs no PIN.
    pub trusted: bool,
    /// Send it message-waiting NOTIFYs without a SUBSCRIBE.
    pub mwi_unsolicited: bool,
    /// Wrong passwords for it in a row.
    pub sip_failures: i32,
}

impl SipAccount {
    /// The stored HA1 for `algorithm`, if the device has credentials in `realm`.
    pub fn ha1(&self, algorithm: crate::digest::Algorithm, realm: &str) -> Option<&str> {
        if self.sip_realm.as_deref() != Some(realm) {
            return None;
        }
        match algorithm {
            crate::digest::Algorithm::Md5 => self.sip_ha1_md5.as_deref(),
            crate::digest::Algorithm::Sha256 => self.sip_ha1_sha256.as_deref(),
        }
    }
}

/// The phone device whose SIP username is `username`, with its owner's account still enabled.
pub fn find_sip_account(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<SipAccount>, StoreError> {
    use super::schema::users;
    Ok(devices::table
        .inner_join(users::table.on(users::id.eq(devices::user_id)))
        .filter(devices::sip_username.eq(username))
        .filter(users::disabled_at.is_null())
        .select(SipAccount::as_select())
        .first(conn)
        .optional()?)
}

/// `user`'s device `id`'s SIP settings, if it is theirs.
pub fn sip_account_of(
    conn: &mut DbConnection,
    user: &UserId,
    id: &str,
) -> Result<Option<SipAccount>, StoreError> {
    Ok(devices::table
        .filter(devices::id.eq(id))
        .filter(devices::user_id.eq(user.as_str()))
        .select(SipAccount::as_select())
        .first(conn)
        .optional()?)
}

/// What a SIP username may be: what phones put in a URI's user part without escaping.
pub fn valid_sip_username(username: &str) -> bool {
    (1..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

/// Give `user`'s phone device `id` SIP credentials (or change them): `username` (unique
/// among all devices) and `password`, stored as its HA1s in `realm`. `trusted` and
/// `mwi_unsolicited` as above. False when the device is not theirs.
#[allow(clippy::too_many_arguments)]
pub fn set_sip_credentials(
    conn: &mut DbConnection,
    user: &UserId,
    id: &str,
    username: &str,
    password: &str,
    realm: &str,
    trusted: bool,
    mwi_unsolicited: bool,
) -> Result<bool, StoreError> {
    use crate::digest::{Algorithm, ha1};
    if !valid_sip_username(username) {
        return Err(StoreError::Invalid(
            "a SIP username is 1 to 32 letters, digits or . _ - +".into(),
        ));
    }
    if password.chars().count() < 8 {
        return Err(StoreError::Invalid(
            "a phone's password needs at least 8 characters".into(),
        ));
    }
    let Some(device) = find_for_user(conn, user, id)? else {
        return Ok(false);
    };
    if !PHONE_KINDS.contains(&device.kind.as_str()) {
        return Err(StoreError::Invalid(
            "only a phone or SIP device can register".into(),
        ));
    }
    let taken = devices::table
        .filter(devices::sip_username.eq(username))
        .filter(devices::id.ne(id))
        .count()
        .get_result::<i64>(conn)?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!(
            "the SIP username {username} is taken"
        )));
    }
    diesel::update(devices::table.find(id))
        .set((
            devices::sip_username.eq(Some(username)),
            devices::sip_realm.eq(Some(realm)),
            devices::sip_ha1_md5.eq(Some(ha1(Algorithm::Md5, username, realm, password))),
            devices::sip_ha1_sha256.eq(Some(ha1(Algorithm::Sha256, username, realm, password))),
            devices::trusted.eq(trusted),
            devices::mwi_unsolicited.eq(mwi_unsolicited),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Take `user`'s device `id`'s SIP credentials away (its registrations go with them).
pub fn clear_sip_credentials(
    conn: &mut DbConnection,
    user: &UserId,
    id: &str,
) -> Result<bool, StoreError> {
    use super::schema::registrations;
    let n = diesel::update(
        devices::table
            .filter(devices::id.eq(id))
            .filter(devices::user_id.eq(user.as_str())),
    )
    .set((
        devices::sip_username.eq(None::<String>),
        devices::sip_realm.eq(None::<String>),
        devices::sip_ha1_md5.eq(None::<String>),
        devices::sip_ha1_sha256.eq(None::<String>),
    ))
    .execute(conn)?;
    diesel::delete(registrations::table.filter(registrations::device_id.eq(id))).execute(conn)?;
    Ok(n > 0)
}

/// The SIP settings of all of `user`'s devices (phones without credentials included).
pub fn sip_accounts_of_user(
    conn: &mut DbConnection,
    user: &UserId,
) -> Result<Vec<SipAccount>, StoreError> {
    Ok(devices::table
        .filter(devices::user_id.eq(user.as_str()))
        .select(SipAccount::as_select())
        .load(conn)?)
}

/// Count a wrong SIP password for device `id`; returns how many in a row it has now.
pub fn sip_failed(conn: &mut DbConnection, id: &str) -> Result<i32, StoreError> {
    diesel::update(devices::table.find(id))
        .set(devices::sip_failures.eq(devices::sip_failures + 1))
        .execute(conn)?;
    Ok(devices::table
        .find(id)
        .select(devices::sip_failures)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// A right SIP password for device `id`: its count of wrong ones starts again.
pub fn sip_succeeded(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    diesel::update(devices::table.find(id).filter(devices::sip_failures.ne(0)))
        .set(devices::sip_failures.eq(0))
        .execute(conn)?;
    Ok(())
}
