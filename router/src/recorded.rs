//! `message.recorded`: plan and start delivery to every recipient.

use crate::{CONSUMER, decide, plan::Step, registry::Registry};
use chrono::Duration;
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    config::RouterConfig,
    events::{Command, Envelope, Notify, ReceiptKind},
    ids::{EventId, MessageId, UserId},
    store::{self, DbConnection, StoreError, messages},
};

pub(crate) async fn handle(
    deps: &Deps,
    config: &RouterConfig,
    registry: &Registry,
    event: EventId,
    message_id: MessageId,
    recipients: Vec<UserId>,
) -> Result<bool, HandleError> {
    // Read, then decide (plugins run outside any transaction), then write once.
    let (mid, rs) = (message_id.clone(), recipients);
    let facts = deps
        .store
        .run(move |c| decide::load_facts(c, &mid, &rs))
        .await?;
    let now = chrono::Utc::now();
    let mut plans = Vec::with_capacity(facts.recipients.len());
    for r in &facts.recipients {
        let (steps, by) = decide::decide(registry, &facts, r, &config.default_channels, now).await;
        if let Some(plugin) = &by {
            tracing::debug!(%plugin, recipient = %r.user.extension, "plan from plugin");
        }
        plans.push((r.user.user_id(), steps));
    }
    let sender = facts.sender.user_id();
    let done = consume::once(&deps.store, CONSUMER, event, move |c| {
        for (recipient, steps) in &plans {
            start_recipient(c, &message_id, &sender, recipient, steps)?;
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
    steps: &[Step],
) -> Result<(), StoreError> {
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
                endpoint: step.endpoint.clone(),
                due_at,
                give_up_at: step
                    .give_up_after_secs
                    .map(|s| due_at + Duration::seconds(i64::from(s))),
                state: if immediate { "dispatched" } else { "pending" },
            },
        )?;
        if immediate {
            dispatch(
                c,
                &step.channel,
                attempt,
                message,
                recipient,
                step.endpoint.clone(),
            )?;
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
    endpoint: Option<String>,
) -> Result<(), StoreError> {
    let notify = Notify {
        attempt_id,
        message_id: message.clone(),
        recipient_id: recipient.clone(),
        endpoint,
    };
    let Some(command) = Command::for_channel(channel, notify) else {
        return Err(StoreError::Corrupt(format!(
            "attempt for unknown channel {channel}"
        )));
    };
    store::outbox::enqueue_command(c, &Envelope::new(command))?;
    Ok(())
}
