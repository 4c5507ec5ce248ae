//! My recorded name, played in "who is online" and message envelopes.

use super::{NAME_SECONDS, answer, render};
use crate::{AppState, login::CsrfOnly, page::PageError, session::WebUser};
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use hark_core::store::users;

/// My recorded name: a file (or the browser's recording) up to `NAME_SECONDS`.
#[post("/profile/name")]
pub(crate) async fn upload_name(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    mut form: Multipart,
) -> Result<HttpResponse, PageError> {
    let limit = state.config.max_upload_bytes;
    let mut csrf = String::new();
    let mut bytes = Vec::new();
    let mut fields = 0;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| PageError::BadRequest(e.to_string()))?;
        fields += 1;
        if fields > 4 {
            return Err(PageError::BadRequest("too many form fields".into()));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| PageError::BadRequest(e.to_string()))?;
            if buf.len() + chunk.len() > limit {
                return Err(PageError::TooLarge(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&buf).into_owned(),
            "audio" => bytes = buf,
            _ => {}
        }
    }
    if csrf.is_empty() {
        csrf = req
            .headers()
            .get("X-CSRF-Token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
    }
    me.check_csrf(&csrf)?;
    if bytes.is_empty() {
        return answer(&state, &me, Err("Record or choose a file first.".into())).await;
    }
    let decoded = state.decoder.normalize_upload(bytes, NAME_SECONDS).await;
    let recording = match decoded {
        Ok(r) => r,
        Err(e) => {
            let e = PageError::from(e);
            let status = actix_web::ResponseError::status_code(&e);
            return render(&state, &me, status, e.to_string()).await;
        }
    };
    let key = state.deps.blobs.put(recording.wav).await?;
    let (uid, k2) = (me.user.user_id(), key.clone());
    let previous = state
        .deps
        .store
        .run(move |c| users::set_name_blob(c, &uid, Some(&k2)))
        .await;
    match previous {
        Ok(Some(old)) => {
            if let Err(e) = state.deps.blobs.delete(&old).await {
                tracing::warn!(error = %e, "could not remove the old name recording");
            }
        }
        Ok(None) => {}
        Err(e) => {
            let _ = state.deps.blobs.delete(&key).await;
            return Err(e.into());
        }
    }
    answer(&state, &me, Ok("Your recorded name is saved.")).await
}

/// Hear my recorded name.
#[get("/profile/name.wav")]
pub(crate) async fn name_audio(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let uid = me.user.user_id();
    let user = state
        .deps
        .store
        .run(move |c| users::find_by_id(c, &uid))
        .await?
        .ok_or(PageError::NotFound)?;
    let key = user.name_blob.ok_or(PageError::NotFound)?;
    let wav = state.deps.blobs.get(&key).await?;
    let range = crate::audio_http::parse_range(&req, wav.len());
    Ok(crate::audio_http::respond(range, wav, "audio/wav"))
}

#[post("/profile/name/delete")]
pub(crate) async fn delete_name(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let uid = me.user.user_id();
    let previous = state
        .deps
        .store
        .run(move |c| users::set_name_blob(c, &uid, None))
        .await?;
    if let Some(old) = previous
        && let Err(e) = state.deps.blobs.delete(&old).await
    {
        tracing::warn!(error = %e, "could not remove a name recording");
    }
    answer(&state, &me, Ok("Your recorded name is removed.")).await
}
