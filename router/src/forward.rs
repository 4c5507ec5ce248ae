//! Store and forward: someone who comes online gets what is waiting for them at once.
//!
//! On `presence.changed` to `available`, every message of the last week addressed to that
//! person and not yet played gets an immediate pop-up attempt (once per message: a recipient
//! who flaps on and off is not nagged, and a message whose plan already popped up, or will,
//! is not popped up twice), alongside whatever the plan still has pending.

use crate::CONSUMER;
use diesel::prelude::*;
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    channel::Channel,
    events::PresenceStatus,
    ids::{EventId, MessageId, UserId},
    store::{
        self, attempts, messages,
        schema::{delivery_attempts, message_recipients, messages as messages_t},
    },
};

const WINDOW_DAYS: i64 = 7;
const MAX_MESSAGES: i64 = 100;

pub(crate) async fn handle(
    deps: &Deps,
    config: &hark_core::config::RouterConfig,
    event: EventId,
    user: UserId,
    status: PresenceStatus,
) -> Result<bool, HandleError> {
    if status != PresenceStatus::Available {
        return Ok(false);
    }
    // Like the plan's pop-ups, one nobody sees ends, so the plan can go on.
    let give_up = chrono::Duration::seconds(i64::from(config.popup_give_up_secs));
    let done = consume::once(&deps.store, CONSUMER, event, move |c| {
        let since = store::now() - chrono::Duration::days(WINDOW_DAYS);
        // Finished messages only: one still being recorded has no audio to pop up yet.
        let waiting: Vec<String> = message_recipients::table
            .inner_join(messages_t::table)
            .filter(message_recipients::recipient_id.eq(user.as_str()))
            .filter(message_recipients::state.eq_any(["queued", "delivered"]))
            .filter(message_recipients::created_at.gt(since))
            .filter(messages_t::state.eq("complete"))
            // One order for every handler that locks these rows, so two never deadlock.
            .order((
                message_recipients::created_at.asc(),
                message_recipients::message_id.asc(),
            ))
            .limit(MAX_MESSAGES)
            .select(message_recipients::message_id)
            .load(c)?;
        let mut popups = Vec::new();
        for message in waiting {
            // Serialised with this message's `message.recorded` handler (which leaves out the
            // pop-up step for whoever already has one), so the two never both pop it up.
            messages::lock_message(c, &MessageId::from(message.as_str()))?;
            let already: i64 = delivery_attempts::table
                .filter(delivery_attempts::message_id.eq(&message))
                .filter(delivery_attempts::recipient_id.eq(user.as_str()))
                .filter(delivery_attempts::channel.eq(Channel::Popup.name()))
                .count()
                .get_result(c)?;
            if already == 0 {
                popups.push(attempts::AttemptInsertForm {
                    message: MessageId::from(message),
                    recipient: user.clone(),
                    channel: Channel::Popup,
                    endpoint: None,
                    due_at: store::now(),
                    give_up_at: Some(store::now() + give_up),
                    state: "dispatched",
                });
            }
        }
        let ids = attempts::create_attempts(c, &popups)?;
        let commands = popups
            .into_iter()
            .zip(ids)
            .map(|(a, id)| crate::recorded::command(a.channel, id, &a.message, &a.recipient, None))
            .collect::<Vec<_>>();
        store::outbox::enqueue_commands(c, &commands)
    })
    .await?;
    Ok(done.is_some())
}
