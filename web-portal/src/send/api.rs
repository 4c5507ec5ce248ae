//! Voice messages over the JSON API.
//!
//! `POST /api/v1/messages?to=102,200` with the audio as the request body (any format the
//! audio module decodes) stores a message for those extensions and group numbers. Everything
//! is checked before anything is stored: recipients exist, the body is within the size limit,
//! the audio decodes completely and is within the length limit. Then the encrypted blob is
//! written, and the message, its recipients and its `message.recorded` event commit in one
//! transaction. An `Idempotency-Key` header makes the upload safe to repeat: the same key with
//! the same request answers with the message already made (`Idempotent-Replayed: true`), the
//! same key with another request is refused with 422.

use crate::{AppState, auth::ApiUser, error::ApiError};
use actix_web::{HttpRequest, HttpResponse, get, http::header, post, web};
use futures_util::StreamExt;
use hark_core::{
    events::Origin,
    ids::MessageId,
    store::{messages, users},
};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub(crate) struct UploadQuery {
    to: String,
    #[serde(default)]
    urgent: bool,
}

/// Read the body, refusing it as soon as it passes `limit`.
async fn read_body(
    req: &HttpRequest,
    mut body: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the upload: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::UnsupportedMedia(
            "the request body is empty; send the audio file as the body".into(),
        ));
    }
    Ok(bytes)
}

#[post("/api/v1/messages")]
pub(crate) async fn upload(
    state: web::Data<AppState>,
    ApiUser(sender): ApiUser,
    query: web::Query<UploadQuery>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let numbers = super::parse_numbers(&query.to)?;
    let addressed = super::resolve(&state.deps, numbers, &sender).await?;
    let recipients = addressed.people;
    if !state.throttle.send(&sender.id) {
        return Err(ApiError::TooManyRequests);
    }
    let bytes = read_body(&req, body, state.config.max_upload_bytes).await?;
    let recipient_ids: Vec<_> = recipients.iter().map(users::User::user_id).collect();
    let idempotency = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v.to_str().map_err(|_| {
                ApiError::BadRequest("the Idempotency-Key must be visible ASCII".into())
            })?;
            Some(super::Idempotency::parse(
                key,
                fingerprint(&recipient_ids, query.urgent, &bytes),
            )?)
        }
    };
    let outcome = super::send(
        &state.deps,
        &state.decoder,
        super::Outgoing {
            sender: sender.user_id(),
            recipients: recipient_ids,
            groups: addressed.groups,
            origin: Origin::Api,
            urgent: query.urgent,
            audio: bytes,
            max_seconds: state.config.max_message_seconds,
            attachments: Vec::new(),
            idempotency,
        },
    )
    .await?;
    let message = outcome.message;
    if outcome.replayed {
        tracing::info!(message = %message.id, sender = %sender.extension, "repeated upload answered with the message it made");
    } else {
        tracing::info!(message = %message.id, sender = %sender.extension, recipients = recipients.len(), "message accepted");
    }
    // A repeat gets the answer the first request got, marked as a replay.
    let mut reply = HttpResponse::Created();
    if outcome.replayed {
        reply.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(reply
        .insert_header((header::LOCATION, format!("/api/v1/messages/{}", message.id)))
        .json(json!({
            "id": message.id,
            "duration_ms": message.duration_ms,
            "recipients": recipients
                .iter()
                .map(|u| json!({ "extension": u.extension, "name": u.display_name }))
                .collect::<Vec<_>>(),
        })))
}

/// What an upload asked for, as a digest: recipients (in any order), urgency and the audio.
fn fingerprint(recipients: &[hark_core::ids::UserId], urgent: bool, audio: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = recipients.iter().map(|r| r.as_str()).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update([0]);
    }
    h.update([u8::from(urgent)]);
    h.update(audio);
    hex::encode(h.finalize())
}

#[get("/api/v1/messages/sent")]
pub(crate) async fn sent(
    state: web::Data<AppState>,
    ApiUser(user): ApiUser,
) -> Result<HttpResponse, ApiError> {
    let uid = user.user_id();
    let list = state
        .deps
        .store
        .run(move |c| crate::sent::list(c, &uid, 100))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "messages": list })))
}

#[get("/api/v1/messages/{id}")]
pub(crate) async fn detail(
    state: web::Data<AppState>,
    ApiUser(user): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = MessageId::from(path.into_inner());
    let value = state
        .deps
        .store
        .run(move |c| {
            // Someone else's message is "not found", so ids cannot be probed.
            match messages::find_by_id(c, &id)? {
                Some(m) if m.sender_id == user.id => crate::sent::summarize(c, &m).map(Some),
                _ => Ok(None),
            }
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(value))
}
