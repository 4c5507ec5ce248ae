//! A person's inbox over the API, as a visual-voicemail app or a script reads it.
//!
//! `GET /api/v1/inbox` pages through it newest first; `/api/v1/inbox/{id}/audio` is the
//! recording (HTTP ranges honoured). Fetching the audio does not count as hearing it (an app
//! may download ahead): `POST /api/v1/inbox/{id}/heard` says the person heard it, which gives
//! the sender their "heard" receipt once, as playing it in the portal does. `DELETE` moves it
//! to the trash (`GET /api/v1/inbox/trash`), `POST …/restore` brings it back, `POST
//! …/unheard` shows it new again. Each change sets the person's message-waiting lamps.

use super::{person, time};
use crate::{
    AppState,
    audio_http::{parse_range, respond},
    auth::ApiUser,
    error::ApiError,
    page,
};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use hark_core::{
    ids::{MessageId, UserId},
    played::{self, Via},
    store::{DbConnection, StoreError, attachments, inbox, messages, users},
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Most messages on one page.
const MAX_PER_PAGE: i64 = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

fn item_json(i: &inbox::InboxItem, files: &[attachments::Attachment]) -> Value {
    let id = &i.message.id;
    json!({
        "id": id,
        "from": person(&i.sender),
        "received_at": time(i.message.created_at),
        "duration_ms": i.message.duration_ms,
        "urgent": i.message.urgent,
        "heard": !i.is_new(),
        "audio": format!("/api/v1/inbox/{id}/audio"),
        "attachments": files.iter().map(|f| json!({
            "id": f.id,
            "filename": f.filename,
            "url": format!("/api/v1/inbox/{id}/attachments/{}", f.id),
        })).collect::<Vec<_>>(),
    })
}

fn with_files(
    c: &mut DbConnection,
    items: Vec<inbox::InboxItem>,
) -> Result<Vec<Value>, StoreError> {
    items
        .iter()
        .map(|i| {
            let files = attachments::list_for_message(c, &i.message.message_id())?;
            let mut v = item_json(i, &files);
            if let Some(at) = i.recipient.deleted_at {
                v["deleted_at"] = json!(time(at));
            }
            Ok(v)
        })
        .collect()
}

#[get("/api/v1/inbox")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let per_page = query.per_page.unwrap_or(20);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::field(
            "per_page",
            format!("per_page is 1 to {MAX_PER_PAGE}"),
        ));
    }
    let page = query.page.unwrap_or(1);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::field("page", "page counts from 1"));
    }
    let uid = me.user_id();
    let (items, more, new) = state
        .deps
        .store
        .run(move |c| {
            let (items, more) = inbox::page(c, &uid, (page - 1) * per_page, per_page)?;
            Ok((with_files(c, items)?, more, inbox::count_new(c, &uid)?))
        })
        .await?;
    Ok(page::private(HttpResponse::Ok()).json(json!({
        "messages": items,
        "unheard": new,
        "page": page,
        "per_page": per_page,
        "next": more.then(|| format!("/api/v1/inbox?page={}&per_page={per_page}", page + 1)),
    })))
}

/// What I deleted in the last 30 days, most recently deleted first.
#[get("/api/v1/inbox/trash")]
pub(crate) async fn trash(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
) -> Result<HttpResponse, ApiError> {
    let uid = me.user_id();
    let items = state
        .deps
        .store
        .run(move |c| {
            let items = inbox::trash(c, &uid)?;
            with_files(c, items)
        })
        .await?;
    Ok(page::private(HttpResponse::Ok()).json(json!({ "messages": items })))
}

/// Message `id` in `user`'s inbox (received, complete, not deleted), with its attachments.
fn find(
    c: &mut DbConnection,
    id: &MessageId,
    user: &UserId,
) -> Result<Option<(inbox::InboxItem, Vec<attachments::Attachment>)>, StoreError> {
    let Some(message) = messages::find_by_id(c, id)? else {
        return Ok(None);
    };
    let Some(recipient) = messages::find_recipient(c, id, user)? else {
        return Ok(None);
    };
    if recipient.deleted_at.is_some() || message.state != "complete" {
        return Ok(None);
    }
    let Some(sender) = users::find_by_id(c, &UserId::from(message.sender_id.as_str()))? else {
        return Ok(None);
    };
    let files = attachments::list_for_message(c, id)?;
    Ok(Some((
        inbox::InboxItem {
            message,
            recipient,
            sender,
        },
        files,
    )))
}

async fn found(
    state: &AppState,
    me: &users::User,
    id: String,
) -> Result<(inbox::InboxItem, Vec<attachments::Attachment>), ApiError> {
    if id.len() > 100 {
        return Err(ApiError::NotFound);
    }
    let (id, uid) = (MessageId::from(id), me.user_id());
    state
        .deps
        .store
        .run(move |c| find(c, &id, &uid))
        .await?
        .ok_or(ApiError::NotFound)
}

#[get("/api/v1/inbox/{id}")]
pub(crate) async fn one(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (item, files) = found(&state, &me, id.into_inner()).await?;
    Ok(page::private(HttpResponse::Ok()).json(item_json(&item, &files)))
}

/// The recording. Not hearing it: see `heard`.
#[get("/api/v1/inbox/{id}/audio")]
pub(crate) async fn audio(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (item, _) = found(&state, &me, id.into_inner()).await?;
    let key = item.message.blob_key.clone().ok_or(ApiError::NotFound)?;
    let bytes = state.deps.blobs.get(&key).await?;
    let range = parse_range(&req, bytes.len());
    Ok(respond(range, bytes, &item.message.content_type))
}

/// A file attached to one of my messages, as a download.
#[get("/api/v1/inbox/{id}/attachments/{attachment}")]
pub(crate) async fn attachment(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, aid) = path.into_inner();
    let (_, files) = found(&state, &me, id).await?;
    let file = files
        .into_iter()
        .find(|f| f.id == aid)
        .ok_or(ApiError::NotFound)?;
    let bytes = state.deps.blobs.get(&file.blob_key).await?;
    Ok(crate::inbox::download(&file.filename, bytes))
}

/// I heard it: the sender's "heard" receipt (once), and my lamps.
#[post("/api/v1/inbox/{id}/heard")]
pub(crate) async fn heard(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (item, _) = found(&state, &me, id.into_inner()).await?;
    if item.is_new() {
        played::record(
            &state.deps,
            &item.message.message_id(),
            &me.user_id(),
            Via::Api,
        )
        .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Clone, Copy)]
enum Act {
    Unheard,
    Delete,
    Restore,
}

async fn act(
    state: &AppState,
    me: &users::User,
    id: String,
    what: Act,
) -> Result<HttpResponse, ApiError> {
    if id.len() > 100 {
        return Err(ApiError::NotFound);
    }
    let (id, uid) = (MessageId::from(id), me.user_id());
    // The change and the event that sets the person's lamps commit together.
    let done = state
        .deps
        .store
        .transaction(move |c| match what {
            Act::Unheard => inbox::mark_unheard(c, &id, &uid),
            Act::Delete => inbox::delete(c, &id, &uid),
            Act::Restore => inbox::restore(c, &id, &uid),
        })
        .await?;
    if !done {
        return Err(ApiError::NotFound);
    }
    state.deps.outbox.notify();
    Ok(HttpResponse::NoContent().finish())
}

#[post("/api/v1/inbox/{id}/unheard")]
pub(crate) async fn unheard(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Already unheard (or never heard) is no change, and no error.
    found(&state, &me, id.clone()).await?;
    match act(&state, &me, id, Act::Unheard).await {
        Err(ApiError::NotFound) => Ok(HttpResponse::NoContent().finish()),
        other => other,
    }
}

#[delete("/api/v1/inbox/{id}")]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &me, id.into_inner(), Act::Delete).await
}

#[post("/api/v1/inbox/{id}/restore")]
pub(crate) async fn restore(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &me, id.into_inner(), Act::Restore).await
}
