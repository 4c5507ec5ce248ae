//! API authentication: `Authorization: Bearer <token>` from `POST /api/v1/login` or the
//! Account page. [`ApiUser`] is a person acting for themselves (scope `read` to look, `send`
//! to change); [`ApiAdmin`] an admin with a token scoped `admin`.

use crate::{AppState, error::ApiError};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use hark_core::store::{sessions, users::User};

/// The scope an API request needs: `send` to change anything (upload a message), `read` to
/// look (the sender's messages and receipts).
fn needed_scope(method: &actix_web::http::Method) -> &'static str {
    if method == actix_web::http::Method::GET || method == actix_web::http::Method::HEAD {
        "read"
    } else {
        "send"
    }
}

/// The signed-in user of an API request, holding a token with the scope the request needs.
#[derive(Debug)]
pub(crate) struct ApiUser(pub User);

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate(req, needed_scope(req.method()))
    }
}

/// An admin using the administration API with a token scoped `admin`. Anyone else gets 403
/// (their token works, the request is not theirs to make).
#[derive(Debug)]
pub(crate) struct ApiAdmin(pub User);

impl FromRequest for ApiAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authenticate(req, "admin");
        Box::pin(async move {
            let ApiUser(user) = user.await?;
            if user.is_admin() {
                Ok(ApiAdmin(user))
            } else {
                Err(ApiError::NotAdmin)
            }
        })
    }
}

/// The user whose token the request carries, if it is live and has scope `needed`.
fn authenticate(
    req: &HttpRequest,
    needed: &'static str,
) -> LocalBoxFuture<'static, Result<ApiUser, ApiError>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    Box::pin(async move {
        let (Some(state), Some(token)) = (state, token) else {
            return Err(ApiError::Unauthorized);
        };
        if token.is_empty() || token.len() > 256 {
            return Err(ApiError::Unauthorized);
        }
        let (user, scopes) = state
            .deps
            .store
            .run(move |c| sessions::find_api_credential(c, &token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if !scopes.split(' ').any(|s| s == needed) {
            return Err(ApiError::Scope(needed));
        }
        if !state.throttle.api(&user.id) {
            return Err(ApiError::TooManyRequests);
        }
        Ok(ApiUser(user))
    })
}
