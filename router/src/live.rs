//! `message.started`: live delivery while the message is still being spoken.
//!
//! The plan is made as for a finished message, but with `recording` set; its `stream` steps
//! that start at once go out now, for recipients who are online. Everything else waits for
//! `message.recorded` ([`crate::recorded`]), which skips the live channels for anyone already
//! streaming, so nobody gets the same message as a stream and a pop-up.

use crate::{CONSUMER, EventHandler, decide};

/// Longest a live stream attempt stays open without an outcome (a message is at most a few
/// minutes long).
const STREAM_GIVE_UP_SECS: i64 = 15 * 60;
use hark_core::{
    bus::consume::{self, HandleError},
    ids::{EventId, MessageId, UserId},
    store::{self, attempts, messages},
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
    let facts = decide::facts(deps, &message_id, recipients).await?;
    if facts.message.state != "recording" {
        return Ok(false); // Already finished: message.recorded plans it.
    }
    let now = chrono::Utc::now();
    let mut live = Vec::new();
    for r in facts
        .recipients
        .iter()
        .filter(|r| r.presence == "available")
    {
        let (steps, _) = decide::decide(registry, &facts, r, &config.default_channels, now).await;
        for (s, channel) in steps
            .into_iter()
            .filter_map(|s| s.channel().map(|c| (s, c)))
            .filter(|(s, c)| c.live() && s.after_secs == 0)
        {
            live.push(attempts::AttemptInsertForm {
                message: message_id.clone(),
                recipient: r.user.user_id(),
                channel,
                endpoint: s.endpoint,
                due_at: store::now(),
                // A live stream that never reports back must not hold the recipient open.
                give_up_at: Some(store::now() + chrono::Duration::seconds(STREAM_GIVE_UP_SECS)),
                state: "dispatched",
            });
        }
    }
    let done = consume::once(&deps.store, CONSUMER, event, move |c| {
        // Take turns with message.recorded, and re-check under the lock: if the recording
        // finished meanwhile, that handler plans everything.
        messages::lock_message(c, &message_id)?;
        let still_recording =
            messages::find_by_id(c, &message_id)?.is_some_and(|m| m.state == "recording");
        if !still_recording {
            return Ok(());
        }
        let ids = attempts::create_attempts(c, &live)?;
        let commands = live
            .into_iter()
            .zip(ids)
            .map(|(a, id)| {
                crate::recorded::command(a.channel, id, &a.message, &a.recipient, a.endpoint)
            })
            .collect::<Vec<_>>();
        store::outbox::enqueue_commands(c, &commands)
    })
    .await?;
    Ok(done.is_some())
}
