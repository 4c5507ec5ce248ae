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
    events::{Envelope, Event},
    ids::MessageId,
    store::{self, inbox, messages},
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
        let played = Envelope::new(Event::MessagePlayed {
            message_id: id,
            recipient_id: uid,
            via: "portal".into(),
        });
        state
            .deps
            .store
            .transaction(move |c| store::outbox::enqueue_event(c, &played))
            .await?;
        state.deps.outbox.notify();
    }
    Ok(respond(range, wav, &message.content_type))
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
    Ok(page::see_other("/"))
}
