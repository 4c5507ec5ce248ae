//! `delivery.outcome`: record how an attempt ended and tell the sender when that settles the
//! recipient's state.

use crate::CONSUMER;
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    channel::Channel,
    events::{Envelope, Event, Outcome, ReceiptKind},
    ids::{AttemptId, EventId, MessageId, UserId},
    store::{self, DbConnection, StoreError, attempts, messages, receipts},
};

pub(crate) async fn handle(
    deps: &Deps,
    event: EventId,
    attempt_id: AttemptId,
    outcome: Outcome,
    detail: Option<String>,
) -> Result<bool, HandleError> {
    let done = consume::once(&deps.store, CONSUMER, event, move |c| {
        let attempt =
            attempts::find_attempt(c, &attempt_id)?.ok_or(StoreError::NotFound("attempt"))?;
        let message_id = MessageId::from(attempt.message_id.as_str());
        let recipient = UserId::from(attempt.recipient_id.as_str());
        let message =
            messages::find_by_id(c, &message_id)?.ok_or(StoreError::NotFound("message"))?;
        let sender = UserId::from(message.sender_id.as_str());
        let state = match outcome {
            Outcome::Delivered => "succeeded",
            Outcome::Failed | Outcome::Declined => "failed",
        };
        if !attempts::finish_attempt(c, &attempt_id, state, detail.as_deref())? {
            return Ok(()); // Already settled by an earlier report.
        }
        match outcome {
            Outcome::Delivered => {
                if messages::mark_delivered(c, &message_id, &recipient, &attempt.channel)? {
                    receipt(
                        c,
                        &message_id,
                        &recipient,
                        &sender,
                        ReceiptKind::Delivered,
                        Some(&attempt.channel),
                    )?;
                }
            }
            Outcome::Failed => {
                fail_if_exhausted(c, &message_id, &recipient, &sender, &attempt.channel)?;
            }
            Outcome::Declined => {
                // The recipient said no: stop trying and tell the sender.
                if messages::mark_declined(c, &message_id, &recipient)? {
                    attempts::cancel_pending(c, &message_id, &recipient)?;
                    receipt(
                        c,
                        &message_id,
                        &recipient,
                        &sender,
                        ReceiptKind::Declined,
                        Some(&attempt.channel),
                    )?;
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(done.is_some())
}

/// What each failed attempt of a recipient ran into: "Call my phone: busy; E-mail with a link:
/// the mail relay kept refusing: …".
fn failures_in_words(mine: &[attempts::Attempt]) -> String {
    let why: Vec<String> = mine
        .iter()
        .filter(|a| a.state == "failed")
        .map(|a| {
            let label = Channel::parse(&a.channel).map_or(a.channel.as_str(), |c| c.label());
            format!("{label}: {}", a.detail.as_deref().unwrap_or("failed"))
        })
        .collect();
    if why.is_empty() {
        "every attempt ended without getting through".to_owned()
    } else {
        why.join("; ")
    }
}

/// After an attempt failed: if none of the recipient's attempts is still open, the recipient
/// is failed and the sender told so.
pub(crate) fn fail_if_exhausted(
    c: &mut DbConnection,
    message_id: &MessageId,
    recipient: &UserId,
    sender: &UserId,
    channel: &str,
) -> Result<(), StoreError> {
    // Two transactions settling this recipient's last two attempts at once must not both see
    // the other's attempt still open: on PostgreSQL they queue on the recipient row.
    messages::lock_recipient(c, message_id, recipient)?;
    let mine: Vec<attempts::Attempt> = attempts::list_attempts(c, message_id)?
        .into_iter()
        .filter(|a| a.recipient_id == recipient.as_str())
        .collect();
    let open = mine
        .iter()
        .any(|a| a.state == "pending" || a.state == "dispatched");
    if open {
        return Ok(());
    }
    let why = failures_in_words(&mine);
    if messages::mark_failed(c, message_id, recipient, &why)? {
        tracing::info!(message = %message_id, %recipient, %why, "delivery failed for a recipient");
        receipt(
            c,
            message_id,
            recipient,
            sender,
            ReceiptKind::Failed,
            Some(channel),
        )?;
    }
    Ok(())
}

/// Store a receipt and announce it on `receipt.<sender>`, once per kind.
pub(crate) fn receipt(
    c: &mut DbConnection,
    message: &MessageId,
    recipient: &UserId,
    sender: &UserId,
    kind: ReceiptKind,
    channel: Option<&str>,
) -> Result<(), StoreError> {
    if receipts::create(c, message, recipient, sender, kind, channel)? {
        store::outbox::enqueue_event(
            c,
            &Envelope::new(Event::Receipt {
                message_id: message.clone(),
                recipient_id: recipient.clone(),
                sender_id: sender.clone(),
                kind,
                channel: channel.and_then(Channel::parse),
            }),
        )?;
    }
    Ok(())
}
