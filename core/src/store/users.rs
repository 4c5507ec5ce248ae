//! Users: people with an extension, a display name, an e-mail, and hashed secrets.

use super::{DbConnection, StoreError, now, schema::users};
use crate::ids::UserId;
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub extension: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone_uri: Option<String>,
    pub pin_hash: Option<String>,
    pub password_hash: Option<String>,
    pub role: String,
    pub timezone: String,
    pub name_blob: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub pin_failures: i32,
    pub pin_locked_until: Option<chrono::NaiveDateTime>,
    pub receipts_seen_at: Option<chrono::NaiveDateTime>,
}

impl User {
    pub fn user_id(&self) -> UserId {
        UserId::from(self.id.as_str())
    }

    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// What `create` needs; secrets arrive already hashed.
#[derive(Clone, Debug, Default)]
pub struct UserInsertForm {
    pub extension: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone_uri: Option<String>,
    pub pin_hash: Option<String>,
    pub password_hash: Option<String>,
    pub admin: bool,
}

/// Extensions are 2 to 8 digits: short enough to key in, long enough for a company.
pub fn validate_extension(ext: &str) -> Result<(), StoreError> {
    if (2..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "extension {ext:?} must be 2 to 8 digits"
        )))
    }
}

pub fn create(conn: &mut DbConnection, form: UserInsertForm) -> Result<User, StoreError> {
    validate_extension(&form.extension)?;
    if find_by_extension(conn, &form.extension)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "extension {} is taken",
            form.extension
        )));
    }
    let user = User {
        id: UserId::new().into_string(),
        extension: form.extension,
        display_name: form.display_name,
        email: form.email,
        phone_uri: form.phone_uri,
        pin_hash: form.pin_hash,
        password_hash: form.password_hash,
        role: if form.admin { "admin" } else { "user" }.into(),
        timezone: "UTC".into(),
        name_blob: None,
        created_at: now(),
        pin_failures: 0,
        pin_locked_until: None,
        receipts_seen_at: None,
    };
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&user.id),
            users::extension.eq(&user.extension),
            users::display_name.eq(&user.display_name),
            users::email.eq(&user.email),
            users::phone_uri.eq(&user.phone_uri),
            users::pin_hash.eq(&user.pin_hash),
            users::password_hash.eq(&user.password_hash),
            users::role.eq(&user.role),
            users::timezone.eq(&user.timezone),
            users::created_at.eq(user.created_at),
        ))
        .execute(conn)?;
    Ok(user)
}

pub fn find_by_id(conn: &mut DbConnection, id: &UserId) -> Result<Option<User>, StoreError> {
    Ok(users::table
        .find(id.as_str())
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_extension(conn: &mut DbConnection, ext: &str) -> Result<Option<User>, StoreError> {
    Ok(users::table
        .filter(users::extension.eq(ext))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<User>, StoreError> {
    Ok(users::table
        .order(users::extension.asc())
        .select(User::as_select())
        .load(conn)?)
}

/// Count a wrong PIN. Once `max` wrong PINs in a row have been entered the PIN is locked for
/// `lock_for`, and the count starts again. Returns whether the PIN is now locked.
pub fn record_pin_failure(
    conn: &mut DbConnection,
    id: &UserId,
    max: u32,
    lock_for: chrono::Duration,
) -> Result<bool, StoreError> {
    super::transaction(conn, |c| {
        let failures: i32 = users::table
            .find(id.as_str())
            .select(users::pin_failures)
            .first(c)?;
        let failures = failures.saturating_add(1);
        let locked = u32::try_from(failures).unwrap_or(u32::MAX) >= max;
        let target = users::table.find(id.as_str());
        if locked {
            diesel::update(target)
                .set((
                    users::pin_failures.eq(0),
                    users::pin_locked_until.eq(Some(now() + lock_for)),
                ))
                .execute(c)?;
        } else {
            diesel::update(target)
                .set(users::pin_failures.eq(failures))
                .execute(c)?;
        }
        Ok(locked)
    })
}

/// A right PIN clears the count of wrong ones.
pub fn reset_pin_failures(conn: &mut DbConnection, id: &UserId) -> Result<(), StoreError> {
    diesel::update(users::table.find(id.as_str()))
        .set((
            users::pin_failures.eq(0),
            users::pin_locked_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

impl User {
    /// Whether the PIN is locked out right now.
    pub fn pin_locked(&self) -> bool {
        self.pin_locked_until.is_some_and(|until| until > now())
    }
}

/// Replace the recording of the user's name (a blob key), returning the previous one.
pub fn set_name_blob(
    conn: &mut DbConnection,
    id: &UserId,
    blob: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let previous: Option<String> = users::table
        .find(id.as_str())
        .select(users::name_blob)
        .first(conn)?;
    diesel::update(users::table.find(id.as_str()))
        .set(users::name_blob.eq(blob))
        .execute(conn)?;
    Ok(previous)
}

/// Remember that the user has heard their receipts up to `at`.
pub fn mark_receipts_seen(
    conn: &mut DbConnection,
    id: &UserId,
    at: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id.as_str()))
        .set(users::receipts_seen_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}
