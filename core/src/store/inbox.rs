//! A recipient's view of their messages: complete messages addressed to them that they have
//! not deleted. The phone plays them unheard first, oldest first ([`list`], as voicemail
//! does); the portal pages through them newest first ([`page`]). Deleting is the recipient's
//! own act and goes to a trash they can restore from for [`TRASH_DAYS`]; the message and the
//! sender's receipts stay. Marking a heard message unheard shows it as new to its recipient
//! until they play it again; the sender's "heard" stays.

use super::{
    DbConnection, StoreError,
    messages::{Message, Recipient},
    now,
    schema::{message_recipients, messages, users},
    users::User,
};
use crate::ids::{MessageId, UserId};
use diesel::prelude::*;

/// One message in someone's inbox, with who sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxItem {
    pub message: Message,
    pub recipient: Recipient,
    pub sender: User,
}

impl InboxItem {
    pub fn is_new(&self) -> bool {
        self.recipient.played_at.is_none() || self.recipient.marked_unheard
    }
}

/// The inbox, unheard messages first, each part oldest first (as voicemail plays them).
pub fn list(conn: &mut DbConnection, user: &UserId) -> Result<Vec<InboxItem>, StoreError> {
    let rows: Vec<(Message, Recipient, User)> = message_recipients::table
        .inner_join(messages::table)
        .inner_join(users::table.on(users::id.eq(messages::sender_id)))
        .filter(message_recipients::recipient_id.eq(user.as_str()))
        .filter(message_recipients::deleted_at.is_null())
        .filter(messages::state.eq("complete"))
        .order(messages::created_at.asc())
        .select((
            Message::as_select(),
            Recipient::as_select(),
            User::as_select(),
        ))
        .load(conn)?;
    let mut items = items(rows);
    items.sort_by_key(|i| !i.is_new()); // stable: keeps age order within each part
    Ok(items)
}

/// How many messages the user has not heard yet.
pub fn count_new(conn: &mut DbConnection, user: &UserId) -> Result<i64, StoreError> {
    Ok(message_recipients::table
        .inner_join(messages::table)
        .filter(message_recipients::recipient_id.eq(user.as_str()))
        .filter(message_recipients::deleted_at.is_null())
        .filter(
            message_recipients::played_at
                .is_null()
                .or(message_recipients::marked_unheard.eq(true)),
        )
        .filter(messages::state.eq("complete"))
        .count()
        .get_result(conn)?)
}

/// How long a deleted message can be restored.
pub const TRASH_DAYS: i64 = 30;

/// One page of the inbox, newest first: the items from `offset`, at most `limit`, and whether
/// older ones follow (one more row is read to know; no count, which would cost a second
/// query on every dashboard).
pub fn page(
    conn: &mut DbConnection,
    user: &UserId,
    offset: i64,
    limit: i64,
) -> Result<(Vec<InboxItem>, bool), StoreError> {
    let limit = limit.max(0);
    let rows: Vec<(Message, Recipient, User)> = message_recipients::table
        .inner_join(messages::table)
        .inner_join(users::table.on(users::id.eq(messages::sender_id)))
        .filter(message_recipients::recipient_id.eq(user.as_str()))
        .filter(message_recipients::deleted_at.is_null())
        .filter(messages::state.eq("complete"))
        .order((messages::created_at.desc(), messages::id.desc()))
        .offset(offset.max(0))
        .limit(limit + 1)
        .select((
            Message::as_select(),
            Recipient::as_select(),
            User::as_select(),
        ))
        .load(conn)?;
    let mut items = items(rows);
    let more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((items, more))
}

/// What the recipient deleted in the last [`TRASH_DAYS`], most recently deleted first.
pub fn trash(conn: &mut DbConnection, user: &UserId) -> Result<Vec<InboxItem>, StoreError> {
    let since = now() - chrono::Duration::days(TRASH_DAYS);
    let rows: Vec<(Message, Recipient, User)> = message_recipients::table
        .inner_join(messages::table)
        .inner_join(users::table.on(users::id.eq(messages::sender_id)))
        .filter(message_recipients::recipient_id.eq(user.as_str()))
        .filter(message_recipients::deleted_at.gt(since))
        .filter(messages::state.eq("complete"))
        .order(message_recipients::deleted_at.desc())
        .limit(100)
        .select((
            Message::as_select(),
            Recipient::as_select(),
            User::as_select(),
        ))
        .load(conn)?;
    Ok(items(rows))
}

fn items(rows: Vec<(Message, Recipient, User)>) -> Vec<InboxItem> {
    rows.into_iter()
        .map(|(message, recipient, sender)| InboxItem {
            message,
            recipient,
            sender,
        })
        .collect()
}

/// Put a message deleted in the last [`TRASH_DAYS`] back in the recipient's inbox. False
/// when there was no such message of theirs in the trash.
pub fn restore(conn: &mut DbConnection, id: &MessageId, user: &UserId) -> Result<bool, StoreError> {
    let since = now() - chrono::Duration::days(TRASH_DAYS);
    let n = diesel::update(
        message_recipients::table
            .find((id.as_str(), user.as_str()))
            .filter(message_recipients::deleted_at.gt(since)),
    )
    .set(message_recipients::deleted_at.eq(None::<chrono::NaiveDateTime>))
    .execute(conn)?;
    if n > 0 {
        changed(conn, user)?;
    }
    Ok(n > 0)
}

/// Show a message the recipient heard as new again. False when it is not in their inbox.
pub fn mark_unheard(
    conn: &mut DbConnection,
    id: &MessageId,
    user: &UserId,
) -> Result<bool, StoreError> {
    set_mark(conn, id, user, true)
}

/// The recipient played it (again): it is no longer shown as new. False when it is not in
/// their inbox.
pub fn clear_unheard_mark(
    conn: &mut DbConnection,
    id: &MessageId,
    user: &UserId,
) -> Result<bool, StoreError> {
    set_mark(conn, id, user, false)
}

fn set_mark(
    conn: &mut DbConnection,
    id: &MessageId,
    user: &UserId,
    marked: bool,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        message_recipients::table
            .find((id.as_str(), user.as_str()))
            .filter(message_recipients::deleted_at.is_null())
            .filter(message_recipients::marked_unheard.ne(marked)),
    )
    .set(message_recipients::marked_unheard.eq(marked))
    .execute(conn)?;
    if n > 0 {
        changed(conn, user)?;
    }
    Ok(n > 0)
}

/// Remove a message from the recipient's inbox to their trash. False when it was not theirs
/// to delete.
pub fn delete(conn: &mut DbConnection, id: &MessageId, user: &UserId) -> Result<bool, StoreError> {
    let n = diesel::update(
        message_recipients::table
            .find((id.as_str(), user.as_str()))
            .filter(message_recipients::deleted_at.is_null()),
    )
    .set(message_recipients::deleted_at.eq(Some(now())))
    .execute(conn)?;
    if n > 0 {
        changed(conn, user)?;
    }
    Ok(n > 0)
}

/// Tell whoever watches `user`'s mailbox (their phones' message-waiting lamps) that it
/// changed, in the caller's transaction: the event goes out through the outbox.
fn changed(conn: &mut DbConnection, user: &UserId) -> Result<(), StoreError> {
    super::outbox::enqueue_event(
        conn,
        &crate::events::Envelope::new(crate::events::Event::MailboxChanged {
            user_id: user.clone(),
        }),
    )
}
