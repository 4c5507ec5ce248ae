//! Fires attempts whose start was delayed by the plan (and, on the same tick, stores plugin
//! call counts).
//!
//! Each tick moves due `pending` attempts to `dispatched` and queues their commands in the same
//! transaction. The state change is a conditional update, so when several routers share a
//! database each attempt is dispatched by exactly one of them.

use crate::{outcome::fail_if_exhausted, recorded::dispatch, registry::Registry};
use diesel::prelude::*;
use hark_core::{
    Deps,
    channel::Channel,
    ids::{AttemptId, MessageId, UserId},
    store::{self, StoreError, attempts, messages, schema::delivery_attempts},
};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_secs(1);

pub(crate) async fn run(deps: Deps, registry: Arc<Registry>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.cancelled() => break,
        }
        // Plugin call counts go to the store for `hark plugin list` and the admin pages.
        if let Err(e) = registry.flush_stats(&deps.store).await {
            tracing::warn!(error = %e, "could not store plugin statistics");
        }
        match give_up_overdue(&deps).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(gave_up = n, "attempts past their give-up time");
                deps.outbox.notify();
            }
            Err(e) => tracing::warn!(error = %e, "give-up pass failed"),
        }
        match fire_due(&deps).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(fired = n, "dispatched delayed attempts");
                deps.outbox.notify();
            }
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
        }
    }
    if let Err(e) = registry.flush_stats(&deps.store).await {
        tracing::warn!(error = %e, "could not store plugin statistics");
    }
}

/// Dispatched attempts with no outcome by their give-up time have failed (a callback that rang
/// out unanswered, say). Conditional on the state, so one router settles each.
async fn give_up_overdue(deps: &Deps) -> Result<usize, StoreError> {
    deps.store
        .transaction(|c| {
            let overdue: Vec<(String, String, String, String)> = delivery_attempts::table
                .filter(delivery_attempts::state.eq("dispatched"))
                .filter(delivery_attempts::give_up_at.le(store::now()))
                .limit(100)
                .select((
                    delivery_attempts::id,
                    delivery_attempts::message_id,
                    delivery_attempts::recipient_id,
                    delivery_attempts::channel,
                ))
                .load(c)?;
            let mut n = 0;
            for (id, message, recipient, channel) in overdue {
                let attempt = AttemptId::from(id);
                // A pop-up no tab showed in time was not seen; anything else gave up.
                let unseen = Channel::parse(&channel).is_some_and(Channel::needs_a_watcher);
                let why = if unseen { "not seen" } else { "gave up" };
                if !attempts::finish_attempt(c, &attempt, "failed", Some(why))? {
                    continue;
                }
                n += 1;
                let message = MessageId::from(message);
                let Some(m) = messages::find_by_id(c, &message)? else {
                    continue;
                };
                if unseen && attempts::hasten_next(c, &message, &UserId::from(recipient.as_str()))?
                {
                    continue; // Escalated: the next step is due now.
                }
                fail_if_exhausted(
                    c,
                    &message,
                    &UserId::from(recipient),
                    &UserId::from(m.sender_id.as_str()),
                    &channel,
                )?;
            }
            Ok(n)
        })
        .await
}

/// Dispatch due `pending` attempts; returns how many this call claimed. Public for the test
/// that races two of them.
pub async fn fire_due(deps: &Deps) -> Result<usize, StoreError> {
    deps.store
        .transaction(|c| {
            let due: Vec<(String, String, String, String, Option<String>)> =
                delivery_attempts::table
                    .filter(delivery_attempts::state.eq("pending"))
                    .filter(delivery_attempts::due_at.le(store::now()))
                    .order(delivery_attempts::due_at.asc())
                    .limit(100)
                    .select((
                        delivery_attempts::id,
                        delivery_attempts::message_id,
                        delivery_attempts::recipient_id,
                        delivery_attempts::channel,
                        delivery_attempts::endpoint,
                    ))
                    .load(c)?;
            let mut fired = 0;
            for (id, message, recipient, channel, endpoint) in due {
                let claimed = diesel::update(
                    delivery_attempts::table
                        .find(&id)
                        .filter(delivery_attempts::state.eq("pending")),
                )
                .set((
                    delivery_attempts::state.eq("dispatched"),
                    delivery_attempts::updated_at.eq(store::now()),
                ))
                .execute(c)?;
                if claimed == 1 {
                    dispatch(
                        c,
                        &channel,
                        AttemptId::from(id),
                        &MessageId::from(message),
                        &UserId::from(recipient),
                        endpoint,
                    )?;
                    fired += 1;
                }
            }
            Ok(fired)
        })
        .await
}
