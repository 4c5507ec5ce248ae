//! `message.played`: the first play anywhere ends the plan, tells the sender "heard", and
//! (`mailbox.changed`) has the recipient's message-waiting lamps set again.

use crate::{CONSUMER, outcome::receipt};
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    events::{Envelope, Event, ReceiptKind},
    ids::{EventId, MessageId, UserId},
    store::{self, StoreError, attempts, messages},
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
            // Their phones' lamps count it as heard now.
            store::outbox::enqueue_event(
                c,
                &Envelope::new(Event::MailboxChanged {
                    user_id: recipient.clone(),
                }),
            )?;
        }
        Ok(())
    })
    .await?;
    Ok(done.is_some())
}
