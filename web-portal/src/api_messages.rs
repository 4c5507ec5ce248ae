//! Voice messages over the JSON API.
//!
//! `POST /api/v1/messages?to=102,200` with the audio as the request body (any format the
//! audio module decodes) stores a message for those extensions and group numbers. Everything
//! is checked before anything is stored: recipients exist, the body is within the size limit,
//! the audio decodes completely and is within the length limit. Then the encrypted blob is
//! written, and the message, its recipients and its `message.recorded` event commit in one
//! transaction.

use crate::{AppState, auth::ApiUser, error::ApiError};
use actix_web::{HttpRequest, HttpResponse, get, http::header, post, web};
use futures_util::StreamExt;
use hark_core::{
    audio,
    events::{Envelope, Event, Origin},
    ids::MessageId,
    store::{self, groups, messages, users},
};
use serde::Deserialize;
use serde_json::json;

const MAX_RECIPIENTS: usize = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct UploadQuery {
    to: String,
    #[serde(default)]
    urgent: bool,
}

fn parse_numbers(to: &str) -> Result<Vec<String>, ApiError> {
    let numbers: Vec<String> = to
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if numbers.is_empty() {
        return Err(ApiError::BadRequest(
            "name at least one recipient: ?to=EXTENSION[,EXTENSION…]".into(),
        ));
    }
    if numbers.len() > MAX_RECIPIENTS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_RECIPIENTS} recipients per message"
        )));
    }
    if let Some(bad) = numbers
        .iter()
        .find(|n| n.len() > 16 || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::Unprocessable(format!(
            "{bad:?} is not an extension or group number"
        )));
    }
    Ok(numbers)
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
    let numbers = parse_numbers(&query.to)?;
    let me = sender.user_id();
    let recipients = state
        .deps
        .store
        .run(move |c| groups::resolve_recipients(c, &numbers, &me))
        .await?;
    if recipients.is_empty() {
        return Err(ApiError::Unprocessable("nobody to send to".into()));
    }
    let bytes = read_body(&req, body, state.config.max_upload_bytes).await?;
    let max_seconds = state.config.max_message_seconds;
    let recording =
        tokio::task::spawn_blocking(move || audio::normalize_upload(&bytes, max_seconds))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;

    let blob_key = state.deps.blobs.put(recording.wav).await?;
    let form = messages::MessageInsertForm {
        id: MessageId::new(),
        sender: sender.user_id(),
        origin: Origin::Api,
        duration_ms: recording.duration_ms,
        blob_key: blob_key.clone(),
        urgent: query.urgent,
        recipients: recipients.iter().map(users::User::user_id).collect(),
    };
    let stored = state
        .deps
        .store
        .transaction(move |c| {
            let m = messages::create_complete(c, &form)?;
            store::outbox::enqueue_event(
                c,
                &Envelope::new(Event::MessageRecorded {
                    message_id: form.id.clone(),
                    sender_id: form.sender.clone(),
                    recipients: form.recipients.clone(),
                    origin: form.origin,
                    duration_ms: form.duration_ms,
                    urgent: form.urgent,
                }),
            )?;
            Ok(m)
        })
        .await;
    let message = match stored {
        Ok(m) => m,
        Err(e) => {
            // Nothing refers to the blob: remove it rather than leave an orphan.
            if let Err(del) = state.deps.blobs.delete(&blob_key).await {
                tracing::warn!(error = %del, blob = %blob_key, "could not remove orphan blob");
            }
            return Err(e.into());
        }
    };
    state.deps.outbox.notify();
    tracing::info!(message = %message.id, sender = %sender.extension, recipients = recipients.len(), "message accepted");
    Ok(HttpResponse::Created()
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
