//! Receipts: what senders are told about each recipient. One per (message, recipient, kind).

use super::{DbConnection, StoreError, now, schema::receipts};
use crate::{
    events::ReceiptKind,
    ids::{MessageId, UserId},
};
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = receipts)]
pub struct Receipt {
    pub id: String,
    pub message_id: String,
    pub recipient_id: String,
    pub sender_id: String,
    pub kind: String,
    pub channel: Option<String>,
    pub created_at: chrono::NaiveDateTime,
}

/// Store a receipt; returns false when that receipt already exists (a repeated report).
pub fn create(
    conn: &mut DbConnection,
    message: &MessageId,
    recipient: &UserId,
    sender: &UserId,
    kind: ReceiptKind,
    channel: Option<&str>,
) -> Result<bool, StoreError> {
    let exists = receipts::table
        .filter(receipts::message_id.eq(message.as_str()))
        .filter(receipts::recipient_id.eq(recipient.as_str()))
        .filter(receipts::kind.eq(kind.as_str()))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if exists {
        return Ok(false);
    }
    diesel::insert_into(receipts::table)
        .values((
            receipts::id.eq(crate::ids::EventId::new().as_str()),
            receipts::message_id.eq(message.as_str()),
            receipts::recipient_id.eq(recipient.as_str()),
            receipts::sender_id.eq(sender.as_str()),
            receipts::kind.eq(kind.as_str()),
            receipts::channel.eq(channel),
            receipts::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn list_for_message(
    conn: &mut DbConnection,
    message: &MessageId,
) -> Result<Vec<Receipt>, StoreError> {
    Ok(receipts::table
        .filter(receipts::message_id.eq(message.as_str()))
        .order((receipts::created_at.asc(), receipts::id.asc()))
        .select(Receipt::as_select())
        .load(conn)?)
}

/// Receipts for messages `sender` sent, newer than `since` (all when `None`), oldest first.
pub fn list_for_sender_since(
    conn: &mut DbConnection,
    sender: &UserId,
    since: Option<chrono::NaiveDateTime>,
) -> Result<Vec<Receipt>, StoreError> {
    let mut q = receipts::table
        .filter(receipts::sender_id.eq(sender.as_str()))
        .into_boxed();
    if let Some(since) = since {
        q = q.filter(receipts::created_at.gt(since));
    }
    Ok(q.order((receipts::created_at.asc(), receipts::id.asc()))
        .select(Receipt::as_select())
        .load(conn)?)
}
