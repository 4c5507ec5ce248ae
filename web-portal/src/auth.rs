//! API authentication: `Authorization: Bearer <token>` from `POST /api/v1/login`.

use crate::{AppState, error::ApiError};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use hark_core::store::{sessions, users::User};

/// The signed-in user of an API request.
#[derive(Debug)]
pub(crate) struct ApiUser(pub User);

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
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
            state
                .deps
                .store
                .run(move |c| sessions::find_user_by_token(c, &token))
                .await?
                .map(ApiUser)
                .ok_or(ApiError::Unauthorized)
        })
    }
}
