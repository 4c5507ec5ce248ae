//! Delivery attempts: one row per try of one channel for one recipient, from `pending`
//! (planned for later) through `dispatched` to its outcome.

use super::{DbConnection, StoreError, now, schema::delivery_attempts};
use crate::{
    channel::Channel,
    ids::{AttemptId, MessageId, UserId},
};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = delivery_attempts)]
pub struct Attempt {
    pub id: String,
    pub message_id: String,
    pub recipient_id: String,
    pub channel: String,
    pub endpoint: Option<String>,
    pub due_at: NaiveDateTime,
    pub give_up_at: Option<NaiveDateTime>,
    pub state: String,
    pub detail: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Attempt {
    /// The attempt's channel, if this build has it (the row keeps the name).
    pub fn channel(&self) -> Option<Channel> {
        Channel::parse(&self.channel)
    }
}

#[derive(Clone, Debug)]
pub struct AttemptInsertForm {
    pub message: MessageId,
    pub recipient: UserId,
    pub channel: Channel,
    pub endpoint: Option<String>,
    pub due_at: NaiveDateTime,
    pub give_up_at: Option<NaiveDateTime>,
    /// `pending` (the scheduler fires it at `due_at`) or `dispatched` (sent at once).
    pub state: &'static str,
}

pub fn create_attempt(
    conn: &mut DbConnection,
    form: &AttemptInsertForm,
) -> Result<AttemptId, StoreError> {
    let id = AttemptId::new();
    let at = now();
    diesel::insert_into(delivery_attempts::table)
        .values((
            delivery_attempts::id.eq(id.as_str()),
            delivery_attempts::message_id.eq(form.message.as_str()),
            delivery_attempts::recipient_id.eq(form.recipient.as_str()),
            delivery_attempts::channel.eq(form.channel.name()),
            delivery_attempts::endpoint.eq(&form.endpoint),
            delivery_attempts::due_at.eq(form.due_at),
            delivery_attempts::give_up_at.eq(form.give_up_at),
            delivery_attempts::state.eq(form.state),
            delivery_attempts::created_at.eq(at),
            delivery_attempts::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Store several attempts in one statement; their ids, in order.
pub fn create_attempts(
    conn: &mut DbConnection,
    forms: &[AttemptInsertForm],
) -> Result<Vec<AttemptId>, StoreError> {
    let at = now();
    let ids: Vec<AttemptId> = forms.iter().map(|_| AttemptId::new()).collect();
    let rows: Vec<_> = forms
        .iter()
        .zip(&ids)
        .map(|(form, id)| {
            (
                delivery_attempts::id.eq(id.as_str()),
                delivery_attempts::message_id.eq(form.message.as_str()),
                delivery_attempts::recipient_id.eq(form.recipient.as_str()),
                delivery_attempts::channel.eq(form.channel.name()),
                delivery_attempts::endpoint.eq(form.endpoint.as_deref()),
                delivery_attempts::due_at.eq(form.due_at),
                delivery_attempts::give_up_at.eq(form.give_up_at),
                delivery_attempts::state.eq(form.state),
                delivery_attempts::created_at.eq(at),
                delivery_attempts::updated_at.eq(at),
            )
        })
        .collect();
    match conn {
        // One multi-row statement on PostgreSQL; diesel's multi-backend connection cannot
        // express batch inserts, so this talks to the inner connection.
        DbConnection::Postgresql(pg) if !rows.is_empty() => {
            diesel::insert_into(delivery_attempts::table)
                .values(&rows)
                .execute(pg)?;
        }
        DbConnection::Postgresql(_) => {}
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                diesel::insert_into(delivery_attempts::table)
                    .values(row)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(ids)
}

pub fn find_attempt(
    conn: &mut DbConnection,
    id: &AttemptId,
) -> Result<Option<Attempt>, StoreError> {
    Ok(delivery_attempts::table
        .find(id.as_str())
        .select(Attempt::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_attempts(conn: &mut DbConnection, id: &MessageId) -> Result<Vec<Attempt>, StoreError> {
    Ok(delivery_attempts::table
        .filter(delivery_attempts::message_id.eq(id.as_str()))
        .order(delivery_attempts::created_at.asc())
        .select(Attempt::as_select())
        .load(conn)?)
}

/// Record how an attempt ended, unless it already ended. True if it changed.
pub fn finish_attempt(
    conn: &mut DbConnection,
    id: &AttemptId,
    state: &'static str,
    detail: Option<&str>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        delivery_attempts::table
            .find(id.as_str())
            .filter(delivery_attempts::state.eq_any(["pending", "dispatched"])),
    )
    .set((
        delivery_attempts::state.eq(state),
        delivery_attempts::detail.eq(detail),
        delivery_attempts::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Cancel every attempt for one recipient that has not fired yet (the message was played).
pub fn cancel_pending(
    conn: &mut DbConnection,
    id: &MessageId,
    recipient: &UserId,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        delivery_attempts::table
            .filter(delivery_attempts::message_id.eq(id.as_str()))
            .filter(delivery_attempts::recipient_id.eq(recipient.as_str()))
            .filter(delivery_attempts::state.eq("pending")),
    )
    .set((
        delivery_attempts::state.eq("cancelled"),
        delivery_attempts::updated_at.eq(now()),
    ))
    .execute(conn)?)
}

/// `recipient`'s attempts on `channel` that are dispatched and not yet given up: pop-ups a
/// tab that opens now should still show.
pub fn open_attempts(
    conn: &mut DbConnection,
    recipient: &UserId,
    channel: &str,
) -> Result<Vec<Attempt>, StoreError> {
    let now = super::now();
    Ok(delivery_attempts::table
        .filter(delivery_attempts::recipient_id.eq(recipient.as_str()))
        .filter(delivery_attempts::channel.eq(channel))
        .filter(delivery_attempts::state.eq("dispatched"))
        .filter(
            delivery_attempts::give_up_at
                .is_null()
                .or(delivery_attempts::give_up_at.gt(now)),
        )
        .order(delivery_attempts::created_at.asc())
        .limit(50)
        .select(Attempt::as_select())
        .load(conn)?)
}

/// Open attempts on `channel` of any of `recipients` last changed before `before` (a portal
/// node's people whose pop-ups may not have reached them), oldest first.
pub fn open_attempts_of(
    conn: &mut DbConnection,
    recipients: &[String],
    channel: &str,
    before: NaiveDateTime,
) -> Result<Vec<Attempt>, StoreError> {
    let now = super::now();
    Ok(delivery_attempts::table
        .filter(delivery_attempts::recipient_id.eq_any(recipients))
        .filter(delivery_attempts::channel.eq(channel))
        .filter(delivery_attempts::state.eq("dispatched"))
        .filter(delivery_attempts::updated_at.lt(before))
        .filter(
            delivery_attempts::give_up_at
                .is_null()
                .or(delivery_attempts::give_up_at.gt(now)),
        )
        .order(delivery_attempts::created_at.asc())
        .limit(200)
        .select(Attempt::as_select())
        .load(conn)?)
}

/// Escalate: the recipient's earliest pending attempt of a message is due now (a pop-up was
/// not seen, so the next step need not wait out its delay). Returns whether there was one.
pub fn hasten_next(
    conn: &mut DbConnection,
    message: &MessageId,
    recipient: &UserId,
) -> Result<bool, StoreError> {
    let next: Option<String> = delivery_attempts::table
        .filter(delivery_attempts::message_id.eq(message.as_str()))
        .filter(delivery_attempts::recipient_id.eq(recipient.as_str()))
        .filter(delivery_attempts::state.eq("pending"))
        .order(delivery_attempts::due_at.asc())
        .select(delivery_attempts::id)
        .first(conn)
        .optional()?;
    let Some(id) = next else {
        return Ok(false);
    };
    let now = super::now();
    diesel::update(
        delivery_attempts::table
            .find(&id)
            .filter(delivery_attempts::due_at.gt(now)),
    )
    .set(delivery_attempts::due_at.eq(now))
    .execute(conn)?;
    Ok(true)
}
