//! Messages and their recipients (one row each, with its delivery state); the delivery
//! attempts made for each recipient are in [`attempts`](super::attempts).
//!
//! Recipient states only move forward: `queued` → `streaming` → `delivered` → `played`, or to
//! `failed` / `declined`; a late or repeated report never moves a played message back.

use super::{
    DbConnection, StoreError, now,
    schema::{delivery_attempts, message_recipients, messages},
};
use crate::{
    events::Origin,
    ids::{MessageId, UserId},
};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: String,
    pub sender_id: String,
    pub origin: String,
    pub state: String,
    pub duration_ms: i32,
    pub blob_key: Option<String>,
    pub content_type: String,
    pub urgent: bool,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    /// Set when the sender withdrew it before sending (its state is then `failed`).
    pub cancelled_at: Option<NaiveDateTime>,
    /// The groups it was sent to, as the sender named them ("Sales (200)"); none for people.
    pub sent_to: Option<String>,
}

impl Message {
    pub fn message_id(&self) -> MessageId {
        MessageId::from(self.id.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = message_recipients)]
pub struct Recipient {
    pub message_id: String,
    pub recipient_id: String,
    pub state: String,
    pub channel: Option<String>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
    pub played_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    /// Why delivery failed, in words for the sender; set with the `failed` state.
    pub reason: Option<String>,
    /// The recipient marked it unheard again after hearing it (their inbox shows it new).
    pub marked_unheard: bool,
}

/// A complete message, stored in one go (uploads and finished recordings).
#[derive(Clone, Debug)]
pub struct MessageInsertForm {
    pub id: MessageId,
    pub sender: UserId,
    pub origin: Origin,
    pub duration_ms: u32,
    pub blob_key: String,
    pub urgent: bool,
    pub recipients: Vec<UserId>,
}

pub fn create_complete(
    conn: &mut DbConnection,
    form: &MessageInsertForm,
) -> Result<Message, StoreError> {
    let at = now();
    let m = Message {
        id: form.id.to_string(),
        sender_id: form.sender.to_string(),
        origin: form.origin.as_str().into(),
        state: "complete".into(),
        duration_ms: i32::try_from(form.duration_ms).unwrap_or(i32::MAX),
        blob_key: Some(form.blob_key.clone()),
        content_type: "audio/wav".into(),
        urgent: form.urgent,
        created_at: at,
        completed_at: Some(at),
        cancelled_at: None,
        sent_to: None,
    };
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(&m.id),
            messages::sender_id.eq(&m.sender_id),
            messages::origin.eq(&m.origin),
            messages::state.eq(&m.state),
            messages::duration_ms.eq(m.duration_ms),
            messages::blob_key.eq(&m.blob_key),
            messages::content_type.eq(&m.content_type),
            messages::urgent.eq(m.urgent),
            messages::created_at.eq(m.created_at),
            messages::completed_at.eq(m.completed_at),
        ))
        .execute(conn)?;
    for r in &form.recipients {
        diesel::insert_into(message_recipients::table)
            .values((
                message_recipients::message_id.eq(&m.id),
                message_recipients::recipient_id.eq(r.as_str()),
                message_recipients::state.eq("queued"),
                message_recipients::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(m)
}

/// A message whose recording has begun (the IVR, at the beep): no audio yet.
pub fn create_recording(
    conn: &mut DbConnection,
    id: &MessageId,
    sender: &UserId,
    origin: Origin,
    urgent: bool,
    recipients: &[UserId],
) -> Result<(), StoreError> {
    let at = now();
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(id.as_str()),
            messages::sender_id.eq(sender.as_str()),
            messages::origin.eq(origin.as_str()),
            messages::state.eq("recording"),
            messages::urgent.eq(urgent),
            messages::created_at.eq(at),
        ))
        .execute(conn)?;
    for r in recipients {
        diesel::insert_into(message_recipients::table)
            .values((
                message_recipients::message_id.eq(id.as_str()),
                message_recipients::recipient_id.eq(r.as_str()),
                message_recipients::state.eq("queued"),
                message_recipients::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Name the groups message `id` was sent to ("Sales (200), Support (300)"), for its sender.
pub fn set_sent_to(
    conn: &mut DbConnection,
    id: &MessageId,
    groups: &str,
) -> Result<(), StoreError> {
    diesel::update(messages::table.find(id.as_str()))
        .set(messages::sent_to.eq(Some(groups)))
        .execute(conn)?;
    Ok(())
}

/// The recording is finished and stored, and goes out (also after being held for review).
pub fn complete_recording(
    conn: &mut DbConnection,
    id: &MessageId,
    blob_key: &str,
    duration_ms: u32,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        messages::table
            .find(id.as_str())
            .filter(messages::state.eq("recording")),
    )
    .set((
        messages::state.eq("complete"),
        messages::blob_key.eq(blob_key),
        messages::duration_ms.eq(i32::try_from(duration_ms).unwrap_or(i32::MAX)),
        messages::completed_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// The recording is finished and stored, but the caller is still deciding whether to send
/// it: it stays `recording` (out of everyone's inbox) with its audio stored. Should the call
/// end now, it is sent as it is.
pub fn hold_for_review(
    conn: &mut DbConnection,
    id: &MessageId,
    blob_key: &str,
    duration_ms: u32,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        messages::table
            .find(id.as_str())
            .filter(messages::state.eq("recording")),
    )
    .set((
        messages::blob_key.eq(blob_key),
        messages::duration_ms.eq(i32::try_from(duration_ms).unwrap_or(i32::MAX)),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// The sender withdrew a message before sending it (cancel or re-record): it goes nowhere,
/// and any live stream already under way is cancelled. Returns the blob to remove, if any.
pub fn cancel(conn: &mut DbConnection, id: &MessageId) -> Result<Option<String>, StoreError> {
    let blob: Option<Option<String>> = messages::table
        .find(id.as_str())
        .filter(messages::state.eq("recording"))
        .select(messages::blob_key)
        .first(conn)
        .optional()?;
    let Some(blob) = blob else {
        return Ok(None);
    };
    // Only while still recording: a send that committed in between wins (PostgreSQL runs
    // the two concurrently; the read above does not hold the row).
    let withdrawn = diesel::update(
        messages::table
            .find(id.as_str())
            .filter(messages::state.eq("recording")),
    )
    .set((
        messages::state.eq("failed"),
        messages::cancelled_at.eq(Some(now())),
        messages::blob_key.eq(None::<String>),
    ))
    .execute(conn)?;
    if withdrawn == 0 {
        return Ok(None);
    }
    diesel::update(
        message_recipients::table.filter(message_recipients::message_id.eq(id.as_str())),
    )
    .set(message_recipients::state.eq("failed"))
    .execute(conn)?;
    diesel::update(
        delivery_attempts::table
            .filter(delivery_attempts::message_id.eq(id.as_str()))
            .filter(delivery_attempts::state.eq_any(["pending", "dispatched"])),
    )
    .set((
        delivery_attempts::state.eq("cancelled"),
        delivery_attempts::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(blob)
}

/// Lock one recipient row until the transaction ends (PostgreSQL; SQLite transactions already
/// run one at a time).
pub fn lock_recipient(
    conn: &mut DbConnection,
    id: &MessageId,
    recipient: &UserId,
) -> Result<(), StoreError> {
    if let DbConnection::Postgresql(pg) = conn {
        use diesel::sql_types::Text;
        diesel::sql_query(
            "SELECT 1 FROM message_recipients WHERE message_id = $1 AND recipient_id = $2 FOR UPDATE",
        )
        .bind::<Text, _>(id.as_str())
        .bind::<Text, _>(recipient.as_str())
        .execute(pg)?;
    }
    Ok(())
}

/// Lock one message row until the transaction ends (PostgreSQL), so handlers of the same
/// message's events take turns.
pub fn lock_message(conn: &mut DbConnection, id: &MessageId) -> Result<(), StoreError> {
    if let DbConnection::Postgresql(pg) = conn {
        use diesel::sql_types::Text;
        diesel::sql_query("SELECT 1 FROM messages WHERE id = $1 FOR UPDATE")
            .bind::<Text, _>(id.as_str())
            .execute(pg)?;
    }
    Ok(())
}

/// Mark declined unless it was already played. True if it changed.
pub fn mark_declined(
    conn: &mut DbConnection,
    id: &MessageId,
    recipient: &UserId,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        message_recipients::table
            .find((id.as_str(), recipient.as_str()))
            .filter(message_recipients::state.ne_all(["played", "declined"])),
    )
    .set(message_recipients::state.eq("declined"))
    .execute(conn)?;
    Ok(n > 0)
}

pub fn find_by_id(conn: &mut DbConnection, id: &MessageId) -> Result<Option<Message>, StoreError> {
    Ok(messages::table
        .find(id.as_str())
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

/// Messages a user sent, newest first.
pub fn list_sent(
    conn: &mut DbConnection,
    sender: &UserId,
    limit: i64,
) -> Result<Vec<Message>, StoreError> {
    Ok(messages::table
        .filter(messages::sender_id.eq(sender.as_str()))
        .filter(messages::cancelled_at.is_null())
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit)
        .select(Message::as_select())
        .load(conn)?)
}

pub fn list_recipients(
    conn: &mut DbConnection,
    id: &MessageId,
) -> Result<Vec<Recipient>, StoreError> {
    Ok(message_recipients::table
        .filter(message_recipients::message_id.eq(id.as_str()))
        .order(message_recipients::created_at.asc())
        .select(Recipient::as_select())
        .load(conn)?)
}

pub fn find_recipient(
    conn: &mut DbConnection,
    id: &MessageId,
    recipient: &UserId,
) -> Result<Option<Recipient>, StoreError> {
    Ok(message_recipients::table
        .find((id.as_str(), recipient.as_str()))
        .select(Recipient::as_select())
        .first(conn)
        .optional()?)
}

fn recipient_row<'a>(
    id: &'a MessageId,
    recipient: &'a UserId,
) -> diesel::dsl::Find<message_recipients::table, (&'a str, &'a str)> {
    message_recipients::table.find((id.as_str(), recipient.as_str()))
}

/// Mark delivered unless already delivered, played, failed or rejected. True if it changed.
pub fn mark_delivered(
    conn: &mut DbConnection,
    id: &MessageId,
    recipient: &UserId,
    channel: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        recipient_row(id, recipient)
            .filter(message_recipients::state.eq_any(["queued", "streaming"])),
    )
    .set((
        message_recipients::state.eq("delivered"),
        message_recipients::channel.eq(channel),
        message_recipients::delivered_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Mark played (from any state but played). True if it changed: the first play only.
pub fn mark_played(
    conn: &mut DbConnection,
    id: &MessageId,
    recipient: &UserId,
    via: &str,
) -> Result<bool, StoreError> {
    let n =
        diesel::update(recipient_row(id, recipient).filter(message_recipients::state.ne("played")))
            .set((
                message_recipients::state.eq("played"),
                message_recipients::channel.eq(via),
                message_recipients::played_at.eq(now()),
            ))
            .execute(conn)?;
    Ok(n > 0)
}

/// Mark failed, saying why (for the sender), unless it already got through. True if it changed.
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &MessageId,
    recipient: &UserId,
    reason: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        recipient_row(id, recipient)
            .filter(message_recipients::state.eq_any(["queued", "streaming"])),
    )
    .set((
        message_recipients::state.eq("failed"),
        message_recipients::reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(n > 0)
}
