//! My account (`/account`): change my password or phone PIN (both ask for the current
//! password), and make or revoke API tokens for scripts and alerting systems. A new password
//! ends every other session and token-less login of mine; a new token is shown once.

use crate::{
    AppState,
    login::{self, CheckError, CsrfOnly},
    page::{self, PageError, local_time},
    session::{Me, WebUser},
};
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use hark_core::{
    password,
    store::{sessions, users},
};
use serde::Deserialize;

/// Shortest password accepted.
const MIN_PASSWORD: usize = 10;
/// How long an API token lives.
const TOKEN_DAYS: i64 = 365;

pub(crate) struct TokenRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub scopes: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    me: Me,
    nav: &'static str,
    tokens: Vec<TokenRow>,
    /// A token just made, shown this once.
    new_token: String,
    error: String,
}

async fn render(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    new_token: String,
    error: String,
) -> Result<HttpResponse, PageError> {
    let uid = me.user.user_id();
    let tz = me.user.timezone.clone();
    let tokens = state
        .deps
        .store
        .run(move |c| sessions::list_api_tokens(c, &uid))
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name.unwrap_or_default(),
            created: local_time(t.created_at.and_utc(), &tz),
            last_used: t
                .last_used_at
                .map(|at| local_time(at.and_utc(), &tz))
                .unwrap_or_else(|| "never".into()),
            scopes: t.scopes,
        })
        .collect();
    Ok(page::html(
        status,
        &AccountPage {
            me: me.me(),
            nav: "account",
            tokens,
            new_token,
            error,
        },
    ))
}

#[get("/account")]
pub(crate) async fn show(
    state: web::Data<AppState>,
    me: WebUser,
) -> Result<HttpResponse, PageError> {
    render(&state, &me, StatusCode::OK, String::new(), String::new()).await
}

/// Check the current password (with the login's limits); a refusal is shown on the page.
async fn confirm_password(
    state: &AppState,
    me: &WebUser,
    req: &HttpRequest,
    current: String,
) -> Result<Option<String>, PageError> {
    match login::check_password(
        state,
        login::client_ip(state, req),
        me.user.extension.clone(),
        current,
    )
    .await
    {
        Ok(_) => Ok(None),
        Err(CheckError::Refused(why)) => Ok(Some(match why {
            login::Refused::Wrong => "Your current password was not right.".to_owned(),
            other => other.message().to_owned(),
        })),
        Err(CheckError::Internal(e)) => Err(PageError::Internal(e)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

#[post("/account/password")]
pub(crate) async fn change_password(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let problem = if form.new != form.confirm {
        Some("The new passwords do not match.".to_owned())
    } else if form.new.chars().count() < MIN_PASSWORD || form.new.len() > 1024 {
        Some(format!(
            "Choose a password of at least {MIN_PASSWORD} characters."
        ))
    } else {
        confirm_password(&state, &me, &req, form.current).await?
    };
    if let Some(error) = problem {
        return render(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            error,
        )
        .await;
    }
    let hash = tokio::task::spawn_blocking(move || password::hash(&form.new))
        .await?
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let (uid, keep) = (me.user.user_id(), me.token.clone());
    state
        .deps
        .store
        .transaction(move |c| {
            users::set_password_hash(c, &uid, &hash)?;
            sessions::delete_for_user(c, &uid, Some(&keep))
        })
        .await?;
    state.hub.sessions_ended(&me.user.id);
    tracing::info!(extension = %me.user.extension, "password changed; other sessions ended");
    crate::forms::done(
        &state,
        &me,
        "/account",
        "Password changed. Your other sessions and API tokens were signed out.",
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct PinForm {
    #[serde(default)]
    csrf: String,
    current: String,
    pin: String,
}

#[post("/account/pin")]
pub(crate) async fn change_pin(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    form: web::Form<PinForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let pin = form.pin.trim().to_owned();
    let problem = if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        Some("A PIN is 4 to 8 digits.".to_owned())
    } else {
        confirm_password(&state, &me, &req, form.current).await?
    };
    if let Some(error) = problem {
        return render(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            error,
        )
        .await;
    }
    let hash = tokio::task::spawn_blocking(move || password::hash(&pin))
        .await?
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let uid = me.user.user_id();
    state
        .deps
        .store
        .run(move |c| users::set_pin_hash(c, &uid, Some(&hash)))
        .await?;
    crate::forms::done(&state, &me, "/account", "PIN changed.").await
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
    name: String,
    /// Checkboxes: present when ticked.
    send: Option<String>,
    read: Option<String>,
    /// Offered to admins only.
    admin: Option<String>,
}

#[post("/account/tokens")]
pub(crate) async fn create_token(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let scopes: Vec<&'static str> = [
        ("send", form.send.is_some()),
        ("read", form.read.is_some()),
        ("admin", form.admin.is_some() && me.user.is_admin()),
    ]
    .into_iter()
    .filter_map(|(s, on)| on.then_some(s))
    .collect();
    let name = form.name.trim().to_owned();
    if scopes.is_empty() {
        return render(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            "Choose what the token may do: send (change), read, or both.".into(),
        )
        .await;
    }
    if name.is_empty() || name.chars().count() > 60 {
        return render(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            "Name the token (up to 60 characters) after what will use it.".into(),
        )
        .await;
    }
    let uid = me.user.user_id();
    let token = state
        .deps
        .store
        .run(move |c| {
            sessions::create_scoped_api_token(
                c,
                &uid,
                &name,
                chrono::Duration::days(TOKEN_DAYS),
                &scopes,
            )
        })
        .await?;
    // The one answer that is a page, not a redirect: the token is shown now and stored
    // nowhere. Its form's `once` token keeps a reload from making a second one.
    render(&state, &me, StatusCode::OK, token, String::new()).await
}

#[post("/account/tokens/{id}/revoke")]
pub(crate) async fn revoke_token(
    state: web::Data<AppState>,
    me: WebUser,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let uid = me.user.user_id();
    let id = id.into_inner();
    let revoked = state
        .deps
        .store
        .run(move |c| sessions::revoke_api_token(c, &uid, &id))
        .await?;
    if !revoked {
        return Err(PageError::NotFound);
    }
    crate::forms::done(
        &state,
        &me,
        "/account",
        "Token revoked; it no longer works.",
    )
    .await
}
