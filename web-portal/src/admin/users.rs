//! People: create, edit (name, e-mail, a new password), disable and enable, reset a PIN (and
//! its lockout), remove.

use super::AdminUser;
use crate::{
    AppState,
    page::{self, PageError},
    session::{Me, WebUser},
};
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use hark_core::{
    password,
    store::{StoreError, users},
};
use serde::Deserialize;

pub(crate) struct UserRow {
    pub extension: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub disabled: bool,
    pub locked: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    me: Me,
    nav: &'static str,
    tab: &'static str,
    error: String,
    users: Vec<UserRow>,
}

async fn render_users(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    error: String,
) -> Result<HttpResponse, PageError> {
    let rows = state.deps.store.run(users::list).await?;
    let users = rows
        .into_iter()
        .filter(|u| !u.is_removed())
        .map(|u| UserRow {
            admin: u.is_admin(),
            disabled: u.is_disabled(),
            locked: u.login_locked() || u.pin_locked(),
            extension: u.extension,
            name: u.display_name,
            email: u.email.unwrap_or_default(),
        })
        .collect();
    Ok(page::html(
        status,
        &UsersPage {
            me: me.me(),
            nav: "admin",
            tab: "users",
            error,
            users,
        },
    ))
}

#[get("/admin")]
pub(crate) async fn users_page(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, PageError> {
    render_users(&state, &admin.0, StatusCode::OK, String::new()).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewUserForm {
    #[serde(default)]
    csrf: String,
    extension: String,
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    admin: Option<String>,
}

fn valid_pin(pin: &str) -> bool {
    (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

#[post("/admin/users")]
pub(crate) async fn create_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let (ext, name, email) = (
        f.extension.trim().to_owned(),
        f.display_name.trim().to_owned(),
        f.email.trim().to_owned(),
    );
    let problem = if name.is_empty() || name.chars().count() > 80 {
        Some("A name is 1 to 80 characters.")
    } else if !f.password.is_empty() && f.password.chars().count() < 10 {
        Some("A password is at least 10 characters (or leave it empty: phone only).")
    } else if !f.pin.is_empty() && !valid_pin(&f.pin) {
        Some("A PIN is 4 to 8 digits.")
    } else if f.password.is_empty() && f.pin.is_empty() {
        Some("Give a password (portal), a PIN (phone), or both.")
    } else if !email.is_empty() && (!email.contains('@') || email.len() > 254) {
        Some("That is not an e-mail address.")
    } else {
        None
    };
    if let Some(p) = problem {
        return render_users(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, p.into()).await;
    }
    let (password, pin) = (f.password, f.pin);
    let (password_hash, pin_hash) = tokio::task::spawn_blocking(move || {
        let hash = |s: &str| (!s.is_empty()).then(|| password::hash(s)).transpose();
        Ok::<_, hark_core::password::HashError>((hash(&password)?, hash(&pin)?))
    })
    .await?
    .map_err(|e| PageError::Internal(e.to_string()))?;
    let form = users::UserInsertForm {
        extension: ext.clone(),
        display_name: name,
        email: (!email.is_empty()).then_some(email),
        phone_uri: None,
        pin_hash,
        password_hash,
        admin: f.admin.is_some(),
    };
    match state.deps.store.run(move |c| users::create(c, form)).await {
        Ok(u) => {
            tracing::info!(by = %me.user.extension, extension = %u.extension, "user created");
            let made = format!("{} ({}) can sign in now.", u.display_name, u.extension);
            crate::forms::done(&state, &me, "/admin", &made).await
        }
        Err(StoreError::Conflict(why) | StoreError::Invalid(why)) => {
            render_users(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, why).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EditForm {
    #[serde(default)]
    csrf: String,
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Change someone's name or e-mail, or give them a new password (they forgot theirs): a new
/// password ends their sessions and lifts a sign-in lockout.
#[post("/admin/users/{extension}/edit")]
pub(crate) async fn edit_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    ext: web::Path<String>,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let (name, email) = (f.display_name.trim().to_owned(), f.email.trim().to_owned());
    let problem = if name.is_empty() || name.chars().count() > 80 {
        Some("A name is 1 to 80 characters.")
    } else if !email.is_empty() && (!email.contains('@') || email.len() > 254) {
        Some("That is not an e-mail address.")
    } else if !f.password.is_empty() && f.password.chars().count() < 10 {
        Some("A password is at least 10 characters (or leave it empty to keep theirs).")
    } else {
        None
    };
    if let Some(p) = problem {
        return render_users(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, p.into()).await;
    }
    let password = f.password;
    let hash = if password.is_empty() {
        None
    } else {
        Some(
            tokio::task::spawn_blocking(move || password::hash(&password))
                .await?
                .map_err(|e| PageError::Internal(e.to_string()))?,
        )
    };
    let new_password = hash.is_some();
    let ext = ext.into_inner();
    let e2 = ext.clone();
    let found = state
        .deps
        .store
        .transaction(move |c| {
            let Some(u) = users::find_by_extension(c, &e2)? else {
                return Ok(None);
            };
            let id = u.user_id();
            users::update(
                c,
                &id,
                &users::UserUpdateForm {
                    display_name: name,
                    email: (!email.is_empty()).then_some(email),
                    phone_uri: u.phone_uri.clone(),
                    timezone: u.timezone.clone(),
                },
            )?;
            if let Some(hash) = &hash {
                users::set_password_hash(c, &id, hash)?;
                hark_core::store::sessions::delete_for_user(c, &id, None)?;
            }
            Ok(Some(u.id))
        })
        .await?;
    let Some(user) = found else {
        return Err(PageError::NotFound);
    };
    let done = if new_password {
        state.hub.sessions_ended(&user);
        tracing::info!(by = %me.user.extension, extension = %ext, "password reset by an admin");
        format!("{ext} saved, with a new password; their sessions ended.")
    } else {
        format!("{ext} saved.")
    };
    crate::forms::done(&state, &me, "/admin", &done).await
}

/// Remove someone for good (their messages' history keeps their name; see
/// [`users::remove`]). Their open tabs close at once.
#[post("/admin/users/{extension}/remove")]
pub(crate) async fn remove_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    ext: web::Path<String>,
    form: web::Form<crate::login::CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let ext = ext.into_inner();
    if ext == me.user.extension {
        return render_users(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "You cannot remove yourself.".into(),
        )
        .await;
    }
    let e2 = ext.clone();
    let removed = state
        .deps
        .store
        .transaction(move |c| {
            let Some(u) = users::find_by_extension(c, &e2)? else {
                return Ok(None);
            };
            Ok(users::remove(c, &u.user_id())?.map(|blob| (u, blob)))
        })
        .await?;
    let Some((user, name_blob)) = removed else {
        return Err(PageError::NotFound);
    };
    state.hub.sessions_ended(&user.id);
    if let Some(key) = name_blob
        && let Err(e) = state.deps.blobs.delete(&key).await
    {
        tracing::warn!(error = %e, "a removed person's recorded name was not deleted");
    }
    tracing::info!(by = %me.user.extension, extension = %ext, "person removed");
    let done = format!(
        "{} ({ext}) is removed; their extension is free. Messages they sent still name them.",
        user.display_name
    );
    crate::forms::done(&state, &me, "/admin", &done).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct DisableForm {
    #[serde(default)]
    csrf: String,
    disabled: String,
}

/// Disable (ends their sessions and tokens at once) or enable someone.
#[post("/admin/users/{extension}/disabled")]
pub(crate) async fn set_disabled(
    state: web::Data<AppState>,
    admin: AdminUser,
    ext: web::Path<String>,
    form: web::Form<DisableForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let disable = form.disabled == "1";
    let ext = ext.into_inner();
    let ext_shown = ext.clone();
    if disable && ext == me.user.extension {
        return render_users(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "You cannot disable yourself.".into(),
        )
        .await;
    }
    let found = state
        .deps
        .store
        .transaction(move |c| match users::find_by_extension(c, &ext)? {
            Some(u) => Ok(users::set_disabled(c, &u.user_id(), disable)?.then_some(u.id)),
            None => Ok(None),
        })
        .await?;
    let Some(user) = found else {
        return Err(PageError::NotFound);
    };
    if disable {
        state.hub.sessions_ended(&user);
    }
    let done = if disable {
        format!("{ext_shown} is disabled; their sessions and tokens ended.")
    } else {
        format!("{ext_shown} is enabled again.")
    };
    crate::forms::done(&state, &me, "/admin", &done).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct PinForm {
    #[serde(default)]
    csrf: String,
    pin: String,
}

/// Give someone a new PIN (they forgot theirs) and lift a PIN lockout.
#[post("/admin/users/{extension}/pin")]
pub(crate) async fn reset_pin(
    state: web::Data<AppState>,
    admin: AdminUser,
    ext: web::Path<String>,
    form: web::Form<PinForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let pin = form.pin.trim().to_owned();
    if !valid_pin(&pin) {
        return render_users(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "A PIN is 4 to 8 digits.".into(),
        )
        .await;
    }
    let hash = tokio::task::spawn_blocking(move || password::hash(&pin))
        .await?
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let ext = ext.into_inner();
    let e2 = ext.clone();
    let found = state
        .deps
        .store
        .transaction(move |c| match users::find_by_extension(c, &e2)? {
            Some(u) => {
                users::set_pin_hash(c, &u.user_id(), Some(&hash))?;
                users::reset_pin_failures(c, &u.user_id())?;
                Ok(true)
            }
            None => Ok(false),
        })
        .await?;
    if !found {
        return Err(PageError::NotFound);
    }
    tracing::info!(by = %me.user.extension, extension = %ext, "PIN reset");
    crate::forms::done(&state, &me, "/admin", &format!("New PIN set for {ext}.")).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn pins_are_four_to_eight_digits() {
        assert!(super::valid_pin("1234") && super::valid_pin("12345678"));
        assert!(!super::valid_pin("123") && !super::valid_pin("123456789"));
        assert!(!super::valid_pin("12a4"));
    }
}
