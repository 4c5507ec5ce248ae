//! The e-mailed link: `/listen/<token>` shows a player, `/listen/<token>/audio` streams the
//! recording.
//!
//! The token is checked on both (signature first, then expiry): a tampered or expired link
//! gets 403 and no audio. Opening the page does not count as hearing the message (mail
//! scanners open links); fetching the audio from its start does, and announces
//! `message.played`, from which the router makes the sender's "heard" receipt (once, however
//! often it is played; once the recipient is marked played, replays add nothing). Range
//! requests are served so players can seek; an unsatisfiable range gets 416. Responses are never
//! cached and send no Referer, since the address itself is the credential.

use crate::{
    AppState,
    audio_http::{Range, parse_range, respond},
    error::ApiError,
};
use actix_web::{
    HttpRequest, HttpResponse, ResponseError, get,
    http::{StatusCode, header},
    web,
};
use askama::Template;
use hark_core::{
    ids::UserId,
    link::{LinkError, ListenClaim},
    played::{self, Via},
    store::{messages, users},
};

#[derive(Template)]
#[template(path = "listen.html")]
struct ListenPage {
    sender: String,
    extension: String,
    sent_at: String,
    seconds: i32,
    audio_url: String,
}

#[derive(Template)]
#[template(path = "link_error.html")]
struct LinkErrorPage {
    reason: &'static str,
}

fn private(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    b
}

fn html(status: StatusCode, view: impl Template) -> HttpResponse {
    match view.render() {
        Ok(body) => private(HttpResponse::build(status))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; media-src 'self'; style-src 'self'",
            ))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => ApiError::Internal(e.to_string()).error_response(),
    }
}

fn refused(e: LinkError) -> HttpResponse {
    let reason = match e {
        LinkError::Expired => "This link has expired.",
        LinkError::BadSignature | LinkError::Malformed => "This link is not valid.",
    };
    html(StatusCode::FORBIDDEN, LinkErrorPage { reason })
}

/// The message and the recipient's row a signed link names, while the link still stands: a
/// signature proves who it was made for, not that it may still be used. It falls when the
/// sender withdraws the message, the recipient deletes it, or the recipient's account is
/// disabled.
fn listenable(
    c: &mut hark_core::store::DbConnection,
    claim: &ListenClaim,
) -> Result<Option<(messages::Message, messages::Recipient)>, hark_core::store::StoreError> {
    let Some(m) = messages::find_by_id(c, &claim.message_id)? else {
        return Ok(None);
    };
    let Some(r) = messages::find_recipient(c, &claim.message_id, &claim.recipient_id)? else {
        return Ok(None);
    };
    let active = users::find_by_id(c, &claim.recipient_id)?.is_some_and(|u| !u.is_disabled());
    if m.cancelled_at.is_some() || r.deleted_at.is_some() || !active {
        return Ok(None);
    }
    Ok(Some((m, r)))
}

fn verify(state: &AppState, token: &str) -> Result<ListenClaim, LinkError> {
    state.signer.verify(token, chrono::Utc::now())
}

#[get("/listen/{token}")]
pub(crate) async fn page(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let token = token.into_inner();
    let claim = match verify(&state, &token) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let found = state
        .deps
        .store
        .run(move |c| {
            let Some((m, _)) = listenable(c, &claim)? else {
                return Ok(None);
            };
            let sender = users::find_by_id(c, &UserId::from(m.sender_id.as_str()))?;
            // Shown in the recipient's own zone, as the e-mail that carried the link says it.
            let tz = users::find_by_id(c, &claim.recipient_id)?
                .map_or_else(|| "UTC".to_owned(), |u| u.timezone);
            Ok(Some((m, sender, tz)))
        })
        .await;
    match found {
        Ok(Some((m, sender, tz))) => {
            let (name, ext) = sender
                .map(|s| (s.display_name, s.extension))
                .unwrap_or_else(|| ("someone".into(), String::new()));
            html(
                StatusCode::OK,
                ListenPage {
                    sender: name,
                    extension: ext,
                    sent_at: crate::page::local_time(m.created_at.and_utc(), &tz),
                    seconds: (m.duration_ms + 999) / 1000,
                    audio_url: format!("/listen/{token}/audio"),
                },
            )
        }
        Ok(None) => html(
            StatusCode::NOT_FOUND,
            LinkErrorPage {
                reason: "This message no longer exists.",
            },
        ),
        Err(e) => ApiError::from(e).error_response(),
    }
}

#[get("/listen/{token}/audio")]
pub(crate) async fn audio(
    state: web::Data<AppState>,
    token: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let claim = match verify(&state, &token) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    match serve_audio(&state, claim, &req).await {
        Ok(r) => r,
        Err(e) => e.error_response(),
    }
}

async fn serve_audio(
    state: &AppState,
    claim: ListenClaim,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let check = claim.clone();
    let (message, recipient_state) = state
        .deps
        .store
        .run(move |c| Ok(listenable(c, &check)?.map(|(m, r)| (m, r.state))))
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = message.blob_key.clone().ok_or(ApiError::NotFound)?;
    let wav = state.deps.blobs.get(&key).await?;
    let range = parse_range(req, wav.len());
    // Playing from the start is hearing it; only the first time is news for the sender.
    if range != Range::Unsatisfiable && range.plays_from_start() && recipient_state != "played" {
        played::record(
            &state.deps,
            &claim.message_id,
            &claim.recipient_id,
            Via::EmailLink,
        )
        .await?;
    }
    Ok(respond(range, wav, &message.content_type))
}
