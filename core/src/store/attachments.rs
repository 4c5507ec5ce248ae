//! Files sent with a voice message (a screenshot, a document). Each is an encrypted blob like
//! the audio; recipients and the sender can fetch them, nobody else.

use super::{DbConnection, StoreError, schema::attachments};
use crate::ids::{EventId, MessageId};
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = attachments)]
pub struct Attachment {
    pub id: String,
    pub message_id: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub blob_key: String,
}

/// What `create` needs; the bytes are already in the blob store.
#[derive(Clone, Debug)]
pub struct AttachmentInsertForm {
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub blob_key: String,
}

pub fn create(
    conn: &mut DbConnection,
    message: &MessageId,
    form: &AttachmentInsertForm,
) -> Result<Attachment, StoreError> {
    let a = Attachment {
        id: EventId::new().into_string(),
        message_id: message.to_string(),
        filename: form.filename.clone(),
        content_type: form.content_type.clone(),
        size_bytes: form.size_bytes,
        blob_key: form.blob_key.clone(),
    };
    diesel::insert_into(attachments::table)
        .values((
            attachments::id.eq(&a.id),
            attachments::message_id.eq(&a.message_id),
            attachments::filename.eq(&a.filename),
            attachments::content_type.eq(&a.content_type),
            attachments::size_bytes.eq(a.size_bytes),
            attachments::blob_key.eq(&a.blob_key),
        ))
        .execute(conn)?;
    Ok(a)
}

pub fn list_for_message(
    conn: &mut DbConnection,
    message: &MessageId,
) -> Result<Vec<Attachment>, StoreError> {
    Ok(attachments::table
        .filter(attachments::message_id.eq(message.as_str()))
        .order(attachments::filename.asc())
        .select(Attachment::as_select())
        .load(conn)?)
}

/// Attachment `id` of `message`; another message's is not found.
pub fn find(
    conn: &mut DbConnection,
    message: &MessageId,
    id: &str,
) -> Result<Option<Attachment>, StoreError> {
    Ok(attachments::table
        .filter(attachments::id.eq(id))
        .filter(attachments::message_id.eq(message.as_str()))
        .select(Attachment::as_select())
        .first(conn)
        .optional()?)
}
