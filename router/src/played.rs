//! `message.played`: the first play anywhere ends the plan and tells the sender "heard".

use crate::{CONSUMER, outcome::receipt};
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    events::ReceiptKind,
    ids::{EventId, MessageId, UserId},
    store::{StoreError, attempts, messages},
};

pub(crate) async fn handle(
    deps: &Deps,
    event: EventId,
    message_id: MessageId,
    recipient: UserId,
    via: String,
) -> Result<bool, HandleError> {
    let done = consume::once(&deps.store, CONSUMER, event, move |c| {
        let message =
            messages::find_by_id(c, &message_id)?.ok_or(StoreError::NotFound("message"))?;
        if messages::find_recipient(c, &message_id, &recipient)?.is_none() {
            return Err(StoreError::NotFound("recipient of that message"));
        }
        if messages::mark_played(c, &message_id, &recipient, &via)? {
            let cancelled = attempts::cancel_pending(c, &message_id, &recipient)?;
            tracing::debug!(%message_id, %recipient, cancelled, "played; plan ended");
            let sender = UserId::from(message.sender_id.as_str());
            receipt(
                c,
                &message_id,
                &recipient,
                &sender,
                ReceiptKind::Heard,
                Some(&via),
            )?;
        }
        Ok(())
    })
    .await?;
    Ok(done.is_some())
}
