//! A signed-in person's own messages: `/messages/{id}/audio` plays one they received or sent
//! (anyone else's id is "not found", so ids cannot be probed), and playing a received one
//! from the start is hearing it — the sender's "heard" receipt, once (`?download=1` saves it
//! as a file instead, which is not hearing it). `/messages/{id}/delete` moves it to the
//! recipient's trash, with an "Undo" on the next page, and `/messages/{id}/restore` puts it
//! back; `/messages/{id}/unheard` shows a heard message as new again. The sender keeps their
//! receipts through all of it.

use crate::{
    AppState,
    audio_http::{Range, parse_range, respond},
    login::CsrfOnly,
    page::{self, PageError},
    session::WebUser,
};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use hark_core::{
    ids::MessageId,
    played::{self, Via},
    store::{attachments, inbox, messages, users},
};

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct AudioQuery {
    #[serde(default)]
    download: Option<String>,
}

#[get("/messages/{id}/audio")]
pub(crate) async fn audio(
    state: web::Data<AppState>,
    me: WebUser,
    path: web::Path<String>,
    query: web::Query<AudioQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let id = MessageId::from(path.into_inner());
    let uid = me.user.user_id();
    let (mid, u) = (id.clone(), uid.clone());
    let (message, heard) = state
        .deps
        .store
        .run(move |c| {
            let Some(m) = messages::find_by_id(c, &mid)? else {
                return Ok(None);
            };
            let received = messages::find_recipient(c, &mid, &u)?
                .filter(|r| r.deleted_at.is_none() && m.state == "complete");
            match received {
                Some(r) => Ok(Some((m, Some(r.played_at.is_some() && !r.marked_unheard)))),
                None if m.sender_id == u.as_str() => Ok(Some((m, None))),
                None => Ok(None),
            }
        })
        .await?
        .ok_or(PageError::NotFound)?;
    let key = message.blob_key.clone().ok_or(PageError::NotFound)?;
    let wav = state.deps.blobs.get(&key).await?;
    if query.download.is_some() {
        let name = format!("hark-{}.wav", message.created_at.format("%Y%m%d-%H%M%S"));
        return Ok(page::private(HttpResponse::Ok())
            .content_type(message.content_type.as_str())
            .insert_header((
                actix_web::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ))
            .body(wav));
    }
    let range = parse_range(&req, wav.len());
    if heard == Some(false) && range != Range::Unsatisfiable && range.plays_from_start() {
        played::record(&state.deps, &id, &uid, Via::Portal).await?;
    }
    Ok(respond(range, wav, &message.content_type))
}

/// Whether `user` may see message `id` (they received it and kept it, or sent it).
fn may_see(
    c: &mut hark_core::store::DbConnection,
    id: &MessageId,
    user: &hark_core::ids::UserId,
) -> Result<bool, hark_core::store::StoreError> {
    let Some(m) = messages::find_by_id(c, id)? else {
        return Ok(false);
    };
    if m.sender_id == user.as_str() {
        return Ok(true);
    }
    Ok(messages::find_recipient(c, id, user)?
        .is_some_and(|r| r.deleted_at.is_none() && m.state == "complete"))
}

/// A file attached to one of my messages, as a download (never shown inline, so an HTML or
/// SVG "attachment" cannot run in the portal's origin).
#[get("/messages/{id}/attachments/{attachment}")]
pub(crate) async fn attachment(
    state: web::Data<AppState>,
    me: WebUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, aid) = path.into_inner();
    let id = MessageId::from(id);
    let uid = me.user.user_id();
    let found = state
        .deps
        .store
        .run(move |c| {
            if !may_see(c, &id, &uid)? {
                return Ok(None);
            }
            attachments::find(c, &id, &aid)
        })
        .await?
        .ok_or(PageError::NotFound)?;
    let bytes = state.deps.blobs.get(&found.blob_key).await?;
    Ok(download(&found.filename, bytes))
}

/// An attachment as a download, never shown inline (an HTML or SVG "attachment" must not run
/// in the portal's origin), under a name that is safe to save.
pub(crate) fn download(filename: &str, bytes: Vec<u8>) -> HttpResponse {
    let name = crate::send::safe_filename(filename);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    page::private(HttpResponse::Ok())
        .content_type("application/octet-stream")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{ascii}\""),
        ))
        .body(bytes)
}

/// Who sent message `id`, for a notice ("Message from Bob Baker deleted.").
fn sender_name(
    c: &mut hark_core::store::DbConnection,
    id: &MessageId,
) -> Result<String, hark_core::store::StoreError> {
    let Some(m) = messages::find_by_id(c, id)? else {
        return Ok(String::new());
    };
    Ok(
        users::find_by_id(c, &hark_core::ids::UserId::from(m.sender_id.as_str()))?
            .map(|u| u.display_name)
            .unwrap_or_default(),
    )
}

/// What one of the recipient's buttons does to a message of theirs.
#[derive(Clone, Copy)]
enum Act {
    Delete,
    Restore,
    MarkUnheard,
}

async fn act(
    state: &AppState,
    me: &WebUser,
    id: String,
    csrf: &str,
    what: Act,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(csrf)?;
    let id = MessageId::from(id);
    let uid = me.user.user_id();
    let mid = id.clone();
    // A transaction: the change and the event that sets the person's lamps go together.
    let found = state
        .deps
        .store
        .transaction(move |c| {
            let done = match what {
                Act::Delete => inbox::delete(c, &mid, &uid)?,
                Act::Restore => inbox::restore(c, &mid, &uid)?,
                Act::MarkUnheard => inbox::mark_unheard(c, &mid, &uid)?,
            };
            Ok(if done {
                Some(sender_name(c, &mid)?)
            } else {
                None
            })
        })
        .await?;
    let Some(from) = found else {
        return Err(PageError::NotFound);
    };
    state.deps.outbox.notify();
    match what {
        Act::Delete => {
            let undo = format!("/messages/{id}/restore");
            let notice = format!("Message from {from} moved to the trash.");
            crate::forms::done_undoably(state, me, "/", &notice, &undo).await
        }
        Act::Restore => {
            let notice = format!("Message from {from} is back in your inbox.");
            crate::forms::done(state, me, "/", &notice).await
        }
        Act::MarkUnheard => {
            let notice = format!("Message from {from} marked unheard.");
            crate::forms::done(state, me, "/", &notice).await
        }
    }
}

#[post("/messages/{id}/delete")]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    me: WebUser,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    act(&state, &me, path.into_inner(), &form.csrf, Act::Delete).await
}

#[post("/messages/{id}/restore")]
pub(crate) async fn restore(
    state: web::Data<AppState>,
    me: WebUser,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    act(&state, &me, path.into_inner(), &form.csrf, Act::Restore).await
}

#[post("/messages/{id}/unheard")]
pub(crate) async fn mark_unheard(
    state: web::Data<AppState>,
    me: WebUser,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    act(&state, &me, path.into_inner(), &form.csrf, Act::MarkUnheard).await
}
