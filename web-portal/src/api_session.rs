//! `POST /api/v1/login`: extension + password → API token.

use crate::{
    AppState,
    error::ApiError,
    login::{CheckError, Refused},
};
use actix_web::{HttpRequest, HttpResponse, post, web};
use hark_core::store::sessions;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    extension: String,
    password: String,
}

#[post("/api/v1/login")]
pub(crate) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Json<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let LoginForm {
        extension,
        password: given,
    } = form.into_inner();
    let user = match crate::login::check_password(
        &state,
        crate::login::client_ip(&state, &req),
        extension,
        given,
    )
    .await
    {
        Ok(u) => u,
        Err(CheckError::Refused(Refused::Throttled)) => return Err(ApiError::TooManyRequests),
        Err(CheckError::Refused(Refused::Locked)) => return Err(ApiError::Locked),
        Err(CheckError::Refused(Refused::Wrong)) => return Err(ApiError::BadCredentials),
        Err(CheckError::Internal(e)) => return Err(ApiError::Internal(e)),
    };
    let hours = state.config.session_hours;
    let uid = user.user_id();
    let token = state
        .deps
        .store
        .run(move |c| sessions::create(c, &uid, "api", chrono::Duration::hours(i64::from(hours))))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "token": token,
        "expires_in": u64::from(hours) * 3600,
        "user": { "extension": user.extension, "name": user.display_name },
    })))
}
