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
    /// Set by an admin: the account can neither log in nor call in.
    pub disabled_at: Option<chrono::NaiveDateTime>,
    pub login_failures: i32,
    pub login_locked_until: Option<chrono::NaiveDateTime>,
    /// What they chose to show while online: `available`, `busy` or `dnd`.
    pub status: String,
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
        disabled_at: None,
        login_failures: 0,
        login_locked_until: None,
        status: "available".into(),
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

/// Count a wrong secret in `$failures`; once `max` wrong ones in a row have been given, lock
/// it until now + `lock_for` in `$locked` and start counting again. Returns whether it is now
/// locked. `$reset` clears both after a right one.
macro_rules! failure_counter {
    ($record:ident, $reset:ident, $failures:ident, $locked:ident, $what:literal) => {
        #[doc = concat!("Count a wrong ", $what, ". Once `max` wrong ones in a row have been given the ", $what, " is locked for `lock_for`, and the count starts again. Returns whether it is now locked.")]
        pub fn $record(
            conn: &mut DbConnection,
            id: &UserId,
            max: u32,
            lock_for: chrono::Duration,
        ) -> Result<bool, StoreError> {
            super::transaction(conn, |c| {
                let failures: i32 = users::table
                    .find(id.as_str())
                    .select(users::$failures)
                    .first(c)?;
                let failures = failures.saturating_add(1);
                let locked = u32::try_from(failures).unwrap_or(u32::MAX) >= max;
                let target = users::table.find(id.as_str());
                if locked {
                    diesel::update(target)
                        .set((
                            users::$failures.eq(0),
                            users::$locked.eq(Some(now() + lock_for)),
                        ))
                        .execute(c)?;
                } else {
                    diesel::update(target)
                        .set(users::$failures.eq(failures))
                        .execute(c)?;
                }
                Ok(locked)
            })
        }

        #[doc = concat!("A right ", $what, " clears the count of wrong ones (and any lock).")]
        pub fn $reset(conn: &mut DbConnection, id: &UserId) -> Result<(), StoreError> {
            diesel::update(users::table.find(id.as_str()))
                .set((
                    users::$failures.eq(0),
                    users::$locked.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(conn)?;
            Ok(())
        }
    };
}

failure_counter!(
    record_pin_failure,
    reset_pin_failures,
    pin_failures,
    pin_locked_until,
    "PIN"
);
failure_counter!(
    record_login_failure,
    reset_login_failures,
    login_failures,
    login_locked_until,
    "password"
);

impl User {
    /// Whether the PIN is locked out right now.
    pub fn pin_locked(&self) -> bool {
        self.pin_locked_until.is_some_and(|until| until > now())
    }

    /// Whether password logins are locked out right now.
    pub fn login_locked(&self) -> bool {
        self.login_locked_until.is_some_and(|until| until > now())
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// A new password (already hashed); a lockout ends with it.
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: &UserId,
    hash: &str,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id.as_str()))
        .set((
            users::password_hash.eq(Some(hash)),
            users::login_failures.eq(0),
            users::login_locked_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new PIN (already hashed), or none; a lockout ends with it.
pub fn set_pin_hash(
    conn: &mut DbConnection,
    id: &UserId,
    hash: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id.as_str()))
        .set((
            users::pin_hash.eq(hash),
            users::pin_failures.eq(0),
            users::pin_locked_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The statuses people may choose for themselves.
pub const STATUSES: [&str; 3] = ["available", "busy", "dnd"];

pub fn set_status(conn: &mut DbConnection, id: &UserId, status: &str) -> Result<(), StoreError> {
    if !STATUSES.contains(&status) {
        return Err(StoreError::Conflict(format!("no status {status:?}")));
    }
    diesel::update(users::table.find(id.as_str()))
        .set(users::status.eq(status))
        .execute(conn)?;
    Ok(())
}

/// Disable (or enable again) an account. Disabling also ends its sessions and API tokens;
/// run it inside a transaction.
/// Make someone an admin, or an ordinary user again.
pub fn set_admin(conn: &mut DbConnection, id: &UserId, admin: bool) -> Result<(), StoreError> {
    diesel::update(users::table.find(id.as_str()))
        .set(users::role.eq(if admin { "admin" } else { "user" }))
        .execute(conn)?;
    Ok(())
}

pub fn set_disabled(
    conn: &mut DbConnection,
    id: &UserId,
    disabled: bool,
) -> Result<bool, StoreError> {
    let n = diesel::update(users::table.find(id.as_str()))
        .set(users::disabled_at.eq(disabled.then(now)))
        .execute(conn)?;
    if disabled {
        super::sessions::delete_for_user(conn, id, None)?;
    }
    Ok(n > 0)
}

/// The extension a removed person's row keeps: outside the 2-to-8-digit space, so their old
/// extension is free again and nobody can sign in, dial or send to it.
pub const REMOVED_PREFIX: &str = "removed-";

impl User {
    /// Removed by an admin ([`remove`]): kept only so the messages they sent and received
    /// still say who.
    pub fn is_removed(&self) -> bool {
        self.extension.starts_with(REMOVED_PREFIX)
    }
}

/// Remove a person (run inside a transaction). Their row stays for the history of the
/// messages they sent and received, renamed "Name (removed)" with an extension nobody can
/// use, its secrets, addresses and recorded name cleared and the account disabled; everything
/// else that is theirs goes: sessions and API tokens, devices, delivery rules, presence, their
/// place in others' contacts and in groups (a group they owned is kept, without owner), their
/// inbox, and deliveries still waiting for them. Returns the recorded name's blob key (the
/// caller deletes the file), or `None` when there was nobody to remove.
pub fn remove(conn: &mut DbConnection, id: &UserId) -> Result<Option<Option<String>>, StoreError> {
    use super::schema::{
        contacts, delivery_attempts, delivery_profiles, devices, group_members, groups,
        message_recipients, presence,
    };
    let Some(user) = find_by_id(conn, id)?.filter(|u| !u.is_removed()) else {
        return Ok(None);
    };
    let short: String = user
        .id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    let at = now();
    diesel::update(users::table.find(id.as_str()))
        .set((
            users::extension.eq(format!("{REMOVED_PREFIX}{}-{short}", user.extension)),
            users::display_name.eq(format!("{} (removed)", user.display_name)),
            users::email.eq(None::<String>),
            users::phone_uri.eq(None::<String>),
            users::pin_hash.eq(None::<String>),
            users::password_hash.eq(None::<String>),
            users::name_blob.eq(None::<String>),
            users::role.eq("user"),
            users::disabled_at.eq(Some(at)),
        ))
        .execute(conn)?;
    super::sessions::delete_for_user(conn, id, None)?;
    diesel::delete(devices::table.filter(devices::user_id.eq(id.as_str()))).execute(conn)?;
    diesel::delete(delivery_profiles::table.find(id.as_str())).execute(conn)?;
    diesel::delete(presence::table.find(id.as_str())).execute(conn)?;
    diesel::delete(
        contacts::table.filter(
            contacts::owner_id
                .eq(id.as_str())
                .or(contacts::contact_id.eq(id.as_str())),
        ),
    )
    .execute(conn)?;
    diesel::delete(group_members::table.filter(group_members::user_id.eq(id.as_str())))
        .execute(conn)?;
    diesel::update(groups::table.filter(groups::owner_id.eq(id.as_str())))
        .set(groups::owner_id.eq(None::<String>))
        .execute(conn)?;
    diesel::update(
        message_recipients::table
            .filter(message_recipients::recipient_id.eq(id.as_str()))
            .filter(message_recipients::deleted_at.is_null()),
    )
    .set(message_recipients::deleted_at.eq(Some(at)))
    .execute(conn)?;
    diesel::update(
        delivery_attempts::table
            .filter(delivery_attempts::recipient_id.eq(id.as_str()))
            .filter(delivery_attempts::state.eq("pending")),
    )
    .set((
        delivery_attempts::state.eq("cancelled"),
        delivery_attempts::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(Some(user.name_blob))
}

/// What a person may change about themselves.
#[derive(Clone, Debug)]
pub struct UserUpdateForm {
    pub display_name: String,
    pub email: Option<String>,
    pub phone_uri: Option<String>,
    pub timezone: String,
}

pub fn update(
    conn: &mut DbConnection,
    id: &UserId,
    form: &UserUpdateForm,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id.as_str()))
        .set((
            users::display_name.eq(&form.display_name),
            users::email.eq(&form.email),
            users::phone_uri.eq(&form.phone_uri),
            users::timezone.eq(&form.timezone),
        ))
        .execute(conn)?;
    Ok(())
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

/// The status each of `ids` chose, for those who exist and are not disabled.
pub fn list_statuses(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .filter(users::disabled_at.is_null())
        .select((users::id, users::status))
        .load(conn)?)
}
