//! Signing in and out, for the portal (`/login`, `/logout`) and the JSON API
//! (`POST /api/v1/login`), with the same checks:
//!
//! - **Per address**: at most `portal.login_per_minute` attempts a minute from one client
//!   address (then 429), so one machine cannot grind through passwords.
//! - **Per account**: `portal.login_attempts` wrong passwords in a row lock password logins
//!   for `portal.login_lockout_mins`, whatever the address; the right password then is
//!   refused too until the lock ends, and a successful login clears the count.
//! - Unknown extensions cost the same argon2id check as known ones, so timing does not reveal
//!   which exist; a disabled account is refused like a wrong password.
//! - Checks run on the blocking pool, one per core at a time, so a burst of logins cannot
//!   take every core or multiply the hash's 19 MiB by the number of requests
//!   ([`hark_core::password::Checker`]).
//!
//! The login form itself carries a CSRF token that matches a cookie set with the form
//! (double submit), so another site cannot sign a browser in to an account of its choosing.

use crate::{
    AppState,
    page::{self, PageError},
    session::{self, WebUser},
};
use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite},
    get, post, web,
};
use askama::Template;
use governor::{DefaultKeyedRateLimiter, Quota};
use hark_core::{
    password,
    store::{sessions, users, users::User},
};
use serde::Deserialize;
use std::{net::IpAddr, num::NonZeroU32};
use subtle::ConstantTimeEq;

const LOGIN_CSRF_COOKIE: &str = "hark_login";

/// Limits on password checks; one per portal node.
#[derive(Debug)]
pub(crate) struct LoginGuard {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// argon2id checks, one per core at a time.
    pub checks: password::Checker,
}

impl LoginGuard {
    /// Hashes the checker's stand-in secret: call it from a blocking context.
    pub fn new(per_minute: u32) -> Result<Self, password::HashError> {
        let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            per_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
            checks: password::Checker::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )?,
        })
    }

    fn allow(&self, from: IpAddr) -> bool {
        if self.per_address.len() > 10_000 {
            self.per_address.retain_recent();
        }
        self.per_address.check_key(&from).is_ok()
    }
}

/// Why a login was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Throttled,
    Locked,
    Wrong,
}

impl Refused {
    pub fn message(&self) -> &'static str {
        match self {
            Refused::Throttled => "Too many attempts from here; wait a minute and try again.",
            Refused::Locked => {
                "Too many wrong passwords: this account is locked for a while. Try again later, or ask an administrator."
            }
            Refused::Wrong => "Wrong extension or password.",
        }
    }
}

/// Check an extension and password from `from`, counting failures and locks.
pub(crate) async fn check_password(
    state: &AppState,
    from: IpAddr,
    extension: String,
    given: String,
) -> Result<User, CheckError> {
    if !state.login.allow(from) {
        return Err(CheckError::Refused(Refused::Throttled));
    }
    if extension.len() > 16 || given.len() > 1024 {
        return Err(CheckError::Refused(Refused::Wrong));
    }
    let user = state
        .deps
        .store
        .run(move |c| users::find_by_extension(c, &extension))
        .await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = state.login.checks.verify(given, stored).await;
    let Some(user) = user.filter(|u| !u.is_disabled()) else {
        return Err(CheckError::Refused(Refused::Wrong));
    };
    if user.login_locked() {
        return Err(CheckError::Refused(Refused::Locked));
    }
    let id = user.user_id();
    if ok {
        state
            .deps
            .store
            .run(move |c| users::reset_login_failures(c, &id))
            .await?;
        return Ok(user);
    }
    let (max, lock) = (
        state.config.login_attempts,
        chrono::Duration::minutes(i64::from(state.config.login_lockout_mins)),
    );
    let locked = state
        .deps
        .store
        .run(move |c| users::record_login_failure(c, &id, max, lock))
        .await?;
    tracing::info!(extension = %user.extension, %from, locked, "wrong password");
    Err(CheckError::Refused(if locked {
        Refused::Locked
    } else {
        Refused::Wrong
    }))
}

#[derive(Debug)]
pub(crate) enum CheckError {
    Refused(Refused),
    Internal(String),
}

impl From<hark_core::store::StoreError> for CheckError {
    fn from(e: hark_core::store::StoreError) -> Self {
        CheckError::Internal(e.to_string())
    }
}

/// The client's address: the peer's, or behind a proxy named in `portal.trusted_proxies`
/// the one it forwarded for ([`crate::forwarded`]).
pub(crate) fn client_ip(state: &AppState, req: &HttpRequest) -> IpAddr {
    crate::forwarded::client(req, &state.trusted_proxies).ip
}

/// Only a path on this site may follow a login: no scheme, no `//host`, no backslashes.
fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() < 512
        && !next.chars().any(char::is_control);
    if ok { next } else { "/" }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    error: &'a str,
    extension: &'a str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: String,
}

fn login_form(
    status: actix_web::http::StatusCode,
    next: &str,
    error: &str,
    extension: &str,
) -> HttpResponse {
    let csrf = sessions::random_token();
    let mut response = page::html(
        status,
        &LoginPage {
            csrf: &csrf,
            next: safe_next(next),
            error,
            extension,
        },
    );
    let cookie = Cookie::build(LOGIN_CSRF_COOKIE, csrf)
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    if let Err(e) = response.add_cookie(&cookie) {
        tracing::warn!(error = %e, "could not set the login cookie");
    }
    response
}

#[get("/login")]
pub(crate) async fn show_form(query: web::Query<LoginQuery>) -> HttpResponse {
    login_form(actix_web::http::StatusCode::OK, &query.next, "", "")
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    extension: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[post("/login")]
pub(crate) async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let cookie = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if cookie.is_empty() || !bool::from(cookie.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return Err(PageError::Csrf);
    }
    let extension = form.extension.trim().to_owned();
    let user = match check_password(
        &state,
        client_ip(&state, &req),
        extension.clone(),
        form.password,
    )
    .await
    {
        Ok(u) => u,
        Err(CheckError::Refused(why)) => {
            let status = match why {
                Refused::Throttled => actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                _ => actix_web::http::StatusCode::UNAUTHORIZED,
            };
            return Ok(login_form(status, &form.next, why.message(), &extension));
        }
        Err(CheckError::Internal(e)) => return Err(PageError::Internal(e)),
    };
    // A fresh session for every login; any session this browser had before ends.
    if let Some(old) = session::token(&req) {
        state
            .deps
            .store
            .run(move |c| sessions::delete(c, &old))
            .await?;
    }
    let (uid, hours) = (user.user_id(), state.config.session_hours);
    let (token, _csrf) = state
        .deps
        .store
        .run(move |c| sessions::create_web(c, &uid, chrono::Duration::hours(i64::from(hours))))
        .await?;
    tracing::info!(extension = %user.extension, "signed in to the portal");
    let mut response = page::see_other(safe_next(&form.next));
    response
        .add_cookie(&session::cookie(&state, &req, Some(&token)))
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let mut gone = Cookie::new(LOGIN_CSRF_COOKIE, "");
    gone.set_path("/login");
    gone.make_removal();
    response
        .add_cookie(&gone)
        .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

#[post("/logout")]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let token = me.token.clone();
    state
        .deps
        .store
        .run(move |c| sessions::delete(c, &token))
        .await?;
    state.hub.sessions_ended(&me.user.id);
    let mut response = page::see_other("/login");
    response
        .add_cookie(&session::cookie(&state, &req, None))
        .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_follow_a_login() {
        assert_eq!(safe_next("/compose?to=102"), "/compose?to=102");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next(""), "/");
        assert_eq!(safe_next("/a\nb"), "/");
        assert_eq!(page::encode_next("/x?a=1&b=2"), "/x%3Fa%3D1%26b%3D2");
    }
}
