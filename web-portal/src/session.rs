//! Portal sessions: who is signed in, and proof that a form came from our own page.
//!
//! The session cookie (`hark_session`) holds a random token; the database keeps only its
//! SHA-256 with the session's CSRF token. The cookie is `HttpOnly` (scripts cannot read it),
//! `SameSite=Lax` (other sites' forms do not carry it) and `Secure` when the portal is served
//! over HTTPS (`portal.secure_cookies`). Every state-changing request must also present the
//! session's CSRF token — a hidden `csrf` form field, or the `X-CSRF-Token` header from the
//! page's scripts — compared in constant time. A new session (new token) is made at every
//! login, so a token planted before login is worthless after it.

use crate::{AppState, page::PageError};
use actix_web::{
    FromRequest, HttpRequest,
    cookie::{Cookie, SameSite, time},
    dev::Payload,
    web,
};
use futures_util::future::LocalBoxFuture;
use hark_core::store::{sessions, users::User};
use subtle::ConstantTimeEq;

pub(crate) const SESSION_COOKIE: &str = "hark_session";

/// The signed-in person of a page request.
#[derive(Clone, Debug)]
pub(crate) struct WebUser {
    pub user: User,
    pub csrf: String,
    /// The session's own token (to keep it when ending the others).
    pub token: String,
    /// The notice left for this page by the form that led here ("Saved"), shown once.
    pub flash: String,
}

/// What every portal page shows of the signed-in person.
#[derive(Clone, Debug)]
pub(crate) struct Me {
    pub name: String,
    pub extension: String,
    pub csrf: String,
    pub admin: bool,
    /// The notice left by the last form ("Saved"); empty for none.
    pub flash: String,
    /// Where to post to undo what the notice reports ("Message deleted. Undo"); empty for
    /// none.
    pub undo: String,
}

impl Me {
    /// A fresh token for one form of the page: that form, submitted twice, acts once
    /// ([`crate::forms`]).
    pub fn once(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

impl WebUser {
    pub fn me(&self) -> Me {
        let (flash, undo) = crate::forms::split_notice(&self.flash);
        Me {
            name: self.user.display_name.clone(),
            extension: self.user.extension.clone(),
            csrf: self.csrf.clone(),
            admin: self.user.is_admin(),
            flash: flash.to_owned(),
            undo: undo.to_owned(),
        }
    }

    /// The form's (or header's) CSRF token must be this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        if !given.is_empty() && bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }
}

/// The session token in a request's cookie, if any.
pub(crate) fn token(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

impl FromRequest for WebUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = token(req);
        // A page a person navigates to shows (and so uses up) the notice its form left; a
        // script's request or a media fetch does not.
        let page = req.method() == actix_web::http::Method::GET
            && req
                .headers()
                .get(actix_web::http::header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
        // Come back to the page asked for, not to a form's target.
        let next = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Box::pin(async move {
            let Some(state) = state else {
                return Err(PageError::Internal("no app state".into()));
            };
            let Some(token) = token else {
                return Err(PageError::SignIn { next });
            };
            let t = token.clone();
            let found = state
                .deps
                .store
                .run(move |c| {
                    let Some((user, csrf)) = sessions::find_web(c, &t)? else {
                        return Ok(None);
                    };
                    let flash = if page {
                        sessions::take_flash(c, &t)?
                    } else {
                        None
                    };
                    Ok(Some((user, csrf, flash)))
                })
                .await?;
            match found {
                Some((user, csrf, flash)) => Ok(WebUser {
                    user,
                    csrf,
                    token,
                    flash: flash.unwrap_or_default(),
                }),
                None => Err(PageError::SignIn { next }),
            }
        })
    }
}

/// The session cookie carrying `token` (or, with `None`, the one that deletes it): `Secure`
/// with `portal.secure_cookies`, or when a trusted proxy says the browser used HTTPS.
pub(crate) fn cookie(state: &AppState, req: &HttpRequest, token: Option<&str>) -> Cookie<'static> {
    let https = crate::forwarded::client(req, &state.trusted_proxies).https;
    let mut c = Cookie::build(SESSION_COOKIE, token.unwrap_or_default().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies || https)
        .finish();
    match token {
        Some(_) => c.set_max_age(time::Duration::hours(i64::from(state.config.session_hours))),
        None => c.make_removal(),
    }
    c
}
