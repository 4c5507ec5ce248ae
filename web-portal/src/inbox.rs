//! A signed-in person's own messages: `/messages/{id}/audio` plays one they received or sent
//! (anyone else's id is "not found", so ids cannot be probed), and playing a received one
//! from the start is hearing it — the sender's "heard" receipt, once. `/messages/{id}/delete`
//! takes it out of the recipient's inbox; the sender keeps their receipts.

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
    store::{attachments, inbox, messages},
};

#[get("/messages/{id}/audio")]
pub(crate) async fn audio(
    state: web::Data<AppState>,
    me: WebUser,
    path: web::Path<String>,
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
                Some(r) => Ok(Some((m, Some(r.played_at.is_some())))),
                None if m.sender_id == u.as_str() => Ok(Some((m, None))),
                None => Ok(None),
            }
        })
        .await?
        .ok_or(PageError::NotFound)?;
    let key = message.blob_key.clone().ok_or(PageError::NotFound)?;
    let wav = state.deps.blobs.get(&key).await?;
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
    let name = crate::send::safe_filename(&found.filename);
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
    Ok(page::private(HttpResponse::Ok())
        .content_type("application/octet-stream")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{ascii}\""),
        ))
        .body(bytes))
}

#[post("/messages/{id}/delete")]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    me: WebUser,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let id = MessageId::from(path.into_inner());
    let uid = me.user.user_id();
    let deleted = state
        .deps
        .store
        .run(move |c| inbox::delete(c, &id, &uid))
        .await?;
    if !deleted {
        return Err(PageError::NotFound);
    }
    crate::forms::done(&state, &me, "/", "Message deleted.").await
}
