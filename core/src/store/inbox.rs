//! A recipient's view of their messages: complete messages addressed to them that they have
//! not deleted, unheard first. Deleting is the recipient's own act: the message and the
//! sender's receipts stay.

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
        self.recipient.played_at.is_none()
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
    let mut items: Vec<InboxItem> = rows
        .into_iter()
        .map(|(message, recipient, sender)| InboxItem {
            message,
            recipient,
            sender,
        })
        .collect();
    items.sort_by_key(|i| !i.is_new()); // stable: keeps age order within each part
    Ok(items)
}

/// How many messages the user has not heard yet.
pub fn count_new(conn: &mut DbConnection, user: &UserId) -> Result<i64, StoreError> {
    Ok(message_recipients::table
        .inner_join(messages::table)
        .filter(message_recipients::recipient_id.eq(user.as_str()))
        .filter(message_recipients::deleted_at.is_null())
        .filter(message_recipients::played_at.is_null())
        .filter(messages::state.eq("complete"))
        .count()
        .get_result(conn)?)
}

/// Remove a message from the recipient's inbox. False when it was not theirs to delete.
pub fn delete(conn: &mut DbConnection, id: &MessageId, user: &UserId) -> Result<bool, StoreError> {
    let n = diesel::update(
        message_recipients::table
            .find((id.as_str(), user.as_str()))
            .filter(message_recipients::deleted_at.is_null()),
    )
    .set(message_recipients::deleted_at.eq(Some(now())))
    .execute(conn)?;
    Ok(n > 0)
}
