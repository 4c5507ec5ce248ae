//! `message.recorded`: plan and start delivery to every recipient.

use crate::{CONSUMER, EventHandler, decide, plan::Step};
use chrono::Duration;
use hark_core::{
    bus::consume::{self, HandleError},
    channel::Channel,
    events::{Command, Envelope, Notify, ReceiptKind},
    ids::{EventId, MessageId, UserId},
    store::{self, DbConnection, StoreError, attempts, messages},
};

pub(crate) async fn handle(
    router: &EventHandler,
    event: EventId,
    message_id: MessageId,
    recipients: Vec<UserId>,
) -> Result<bool, HandleError> {
    let EventHandler {
        deps,
        config,
        registry,
    } = router;
    // Read, then decide (plugins run outside any transaction), then write once.
    let facts = decide::facts(deps, &message_id, recipients).await?;
    let now = chrono::Utc::now();
    let mut plans = Vec::with_capacity(facts.recipients.len());
    for r in &facts.recipients {
        let (steps, by) = decide::decide(registry, &facts, r, &config.default_channels, now).await;
        if let Some(plugin) = &by {
            tracing::debug!(%plugin, recipient = %r.user.extension, "plan from plugin");
        }
        // A pop-up nobody sees must end so the plan can go on.
        let steps: Vec<Step> = steps
            .into_iter()
            .map(|mut s| {
                if s.channel().is_some_and(Channel::needs_a_watcher)
                    && s.give_up_after_secs.is_none()
                {
                    s.give_up_after_secs = Some(config.popup_give_up_secs);
                }
                s
            })
            .collect();
        let why = steps.is_empty().then(|| r.unreachable_because());
        if let Some(why) = &why {
            tracing::warn!(message = %facts.message.id, recipient = %r.user.extension,
                %why, "message fails for this recipient");
        }
        plans.push((r.user.user_id(), steps, why));
    }
    let sender = facts.sender.user_id();
    let done = consume::once(&deps.store, CONSUMER, event, move |c| {
        messages::lock_message(c, &message_id)?;
        // Whoever is hearing it live (from message.started) needs no live channel now; a
        // stream that failed does not count.
        let existing = attempts::list_attempts(c, &message_id)?;
        let streaming: Vec<String> = existing
            .iter()
            .filter(|a| {
                a.channel().is_some_and(Channel::live)
                    && (a.state == "dispatched" || a.state == "succeeded")
            })
            .map(|a| a.recipient_id.clone())
            .collect();
        // Someone who came online before this event was handled already has their pop-up
        // (store and forward, `forward.rs`): a second one would show the message twice.
        let popped: Vec<String> = existing
            .iter()
            .filter(|a| a.channel().is_some_and(Channel::needs_a_watcher))
            .map(|a| a.recipient_id.clone())
            .collect();
        let mut attempts = Vec::new();
        for (recipient, steps, why) in &plans {
            let steps: Vec<Step> = if streaming.iter().any(|r| r == recipient.as_str()) {
                steps
                    .iter()
                    .filter(|s| !s.channel().is_some_and(Channel::in_portal))
                    .cloned()
                    .collect()
            } else if popped.iter().any(|r| r == recipient.as_str()) {
                steps
                    .iter()
                    .filter(|s| !s.channel().is_some_and(Channel::needs_a_watcher))
                    .cloned()
                    .collect()
            } else {
                steps.clone()
            };
            if steps.is_empty()
                && (streaming.iter().any(|r| r == recipient.as_str())
                    || popped.iter().any(|r| r == recipient.as_str()))
            {
                continue; // Live delivery, or the pop-up they already have, covers them.
            }
            let why = why.as_deref().unwrap_or("nothing can reach them now");
            start_recipient(
                c,
                &message_id,
                &sender,
                recipient,
                &steps,
                why,
                &mut attempts,
            )?;
        }
        // Every attempt, and the commands for those due now, in two statements.
        let ids = attempts::create_attempts(c, &attempts)?;
        let commands: Vec<_> = attempts
            .into_iter()
            .zip(ids)
            .filter(|(a, _)| a.state == "dispatched")
            .map(|(a, id)| command(a.channel, id, &a.message, &a.recipient, a.endpoint))
            .collect();
        store::outbox::enqueue_commands(c, &commands)
    })
    .await?;
    Ok(done.is_some())
}

/// Add one recipient's attempts to `out`, or fail the recipient at once when nothing can
/// reach them.
fn start_recipient(
    c: &mut DbConnection,
    message: &MessageId,
    sender: &UserId,
    recipient: &UserId,
    steps: &[Step],
    why_unreachable: &str,
    out: &mut Vec<attempts::AttemptInsertForm>,
) -> Result<(), StoreError> {
    if steps.is_empty() {
        // Say so now rather than leave the sender waiting.
        if messages::mark_failed(c, message, recipient, why_unreachable)? {
            crate::outcome::receipt(c, message, recipient, sender, ReceiptKind::Failed, None)?;
        }
        return Ok(());
    }
    let now = store::now();
    for step in steps {
        // The plan holds only channels this build has (`plan::plan`, the plugin check).
        let Some(channel) = step.channel() else {
            continue;
        };
        let due_at = now + Duration::seconds(i64::from(step.after_secs));
        out.push(attempts::AttemptInsertForm {
            message: message.clone(),
            recipient: recipient.clone(),
            channel,
            endpoint: step.endpoint.clone(),
            due_at,
            give_up_at: step
                .give_up_after_secs
                .map(|s| due_at + Duration::seconds(i64::from(s))),
            state: if step.after_secs == 0 {
                "dispatched"
            } else {
                "pending"
            },
        });
    }
    Ok(())
}

/// The command that makes a notifier try one attempt.
pub(crate) fn command(
    channel: Channel,
    attempt_id: hark_core::ids::AttemptId,
    message: &MessageId,
    recipient: &UserId,
    endpoint: Option<String>,
) -> Envelope<Command> {
    Envelope::new(Command::Notify(Notify {
        channel,
        attempt_id,
        message_id: message.clone(),
        recipient_id: recipient.clone(),
        endpoint,
        tries: 0,
    }))
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
    let channel = Channel::parse(channel)
        .ok_or_else(|| StoreError::Corrupt(format!("attempt for unknown channel {channel}")))?;
    let command = command(channel, attempt_id, message, recipient, endpoint);
    store::outbox::enqueue_command(c, &command)
}
