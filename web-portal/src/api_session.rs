//! `POST /api/v1/login`: extension + password → API token.

use crate::{AppState, error::ApiError};
use actix_web::{HttpResponse, post, web};
use hark_core::{
    password,
    store::{sessions, users},
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    extension: String,
    password: String,
}

#[post("/api/v1/login")]
pub(crate) async fn login(
    state: web::Data<AppState>,
    form: web::Json<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let LoginForm {
        extension,
        password: given,
    } = form.into_inner();
    let user = state
        .deps
        .store
        .run(move |c| users::find_by_extension(c, &extension))
        .await?;
    // Verify even for an unknown extension (against a fixed hash), so timing does not tell
    // which extensions exist.
    let stored = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let ok = tokio::task::spawn_blocking(move || password::verify(&given, &stored))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::BadCredentials);
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
