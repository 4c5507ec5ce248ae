//! `message.recorded`: plan and start delivery to every recipient.

use crate::{CONSUMER, plan};
use chrono::Duration;
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    config::RouterConfig,
    events::{Command, Envelope, ReceiptKind},
    ids::{EventId, MessageId, UserId},
    store::{self, DbConnection, StoreError, messages},
};

pub(crate) async fn handle(
    deps: &Deps,
    config: &RouterConfig,
    event: EventId,
    message_id: MessageId,
    recipients: Vec<UserId>,
) -> Result<bool, HandleError> {
    let defaults = config.default_channels.clone();
    let done = consume::once(&deps.store, CONSUMER, event, move |c| {
        let message =
            messages::find_by_id(c, &message_id)?.ok_or(StoreError::NotFound("message"))?;
        let sender = UserId::from(message.sender_id.as_str());
        for recipient in &recipients {
            start_recipient(c, &message_id, &sender, recipient, &defaults)?;
        }
        Ok(())
    })
    .await?;
    Ok(done.is_some())
}

fn start_recipient(
    c: &mut DbConnection,
    message: &MessageId,
    sender: &UserId,
    recipient: &UserId,
    defaults: &[String],
) -> Result<(), StoreError> {
    use diesel::prelude::*;
    use hark_core::store::schema::delivery_profiles;
    let profile: Option<String> = delivery_profiles::table
        .find(recipient.as_str())
        .select(delivery_profiles::channels)
        .first(c)
        .optional()?;
    let steps = plan::plan(profile.as_deref(), defaults);
    if steps.is_empty() {
        // Nothing can reach this person: say so now rather than leave the sender waiting.
        if messages::mark_failed(c, message, recipient)? {
            crate::outcome::receipt(c, message, recipient, sender, ReceiptKind::Failed, None)?;
        }
        return Ok(());
    }
    let now = store::now();
    for step in steps {
        let due_at = now + Duration::seconds(i64::from(step.after_secs));
        let immediate = step.after_secs == 0;
        let attempt = messages::create_attempt(
            c,
            &messages::AttemptInsertForm {
                message: message.clone(),
                recipient: recipient.clone(),
                channel: step.channel.clone(),
                endpoint: None,
                due_at,
                give_up_at: None,
                state: if immediate { "dispatched" } else { "pending" },
            },
        )?;
        if immediate {
            dispatch(c, &step.channel, attempt, message, recipient)?;
        }
    }
    Ok(())
}

/// Queue the command that makes a notifier try one attempt.
pub(crate) fn dispatch(
    c: &mut DbConnection,
    channel: &str,
    attempt_id: hark_core::ids::AttemptId,
    message: &MessageId,
    recipient: &UserId,
) -> Result<(), StoreError> {
    let command = match channel {
        "email" => Command::NotifyEmail {
            attempt_id,
            message_id: message.clone(),
            recipient_id: recipient.clone(),
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "attempt for unknown channel {other}"
            )));
        }
    };
    store::outbox::enqueue_command(c, &Envelope::new(command))?;
    Ok(())
}
