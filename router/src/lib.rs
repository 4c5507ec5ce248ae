//! The router: decides how each message reaches each recipient, and tells senders what
//! happened.
//!
//! It consumes `message.recorded`, `message.played` and `delivery.outcome` from its durable
//! queue `router.events`:
//!
//! - [`recorded`]: for every recipient, build a plan ([`plan`]) from the recipient's delivery
//!   profile (or the configured default), store one attempt per step and dispatch the steps
//!   that are due now as commands (`notify.email`, …) through the outbox.
//! - [`outcome`]: record how an attempt ended; the first success marks the recipient
//!   delivered and produces a `delivered` receipt; when every attempt failed, a `failed` one.
//! - [`played`]: the first play marks the recipient played, cancels what is left of the plan
//!   and produces a `heard` receipt.
//!
//! [`scheduler`] fires attempts whose start was delayed. Every handler runs in one
//! transaction with its outbox writes and its processed-event mark, so a redelivered event
//! changes nothing. Wasm plugins join the planning step in a later change.

mod outcome;
pub mod plan;
mod played;
pub mod plugins;
mod recorded;
mod scheduler;

use hark_core::{
    Deps,
    bus::{self, BusError, consume},
    config::RouterConfig,
    events::{Envelope, Event},
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The consumer name recorded in `processed_events`.
pub(crate) const CONSUMER: &str = "router";

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Bus(#[from] BusError),
}

struct EventHandler {
    deps: Deps,
    config: RouterConfig,
}

#[async_trait::async_trait]
impl consume::Handler<Event> for EventHandler {
    async fn handle(&self, envelope: Envelope<Event>) -> Result<(), consume::HandleError> {
        let id = envelope.id;
        let wrote = match envelope.body {
            Event::MessageRecorded {
                message_id,
                recipients,
                ..
            } => recorded::handle(&self.deps, &self.config, id, message_id, recipients).await?,
            Event::DeliveryOutcome {
                attempt_id,
                outcome,
                detail,
                ..
            } => outcome::handle(&self.deps, id, attempt_id, outcome, detail).await?,
            Event::MessagePlayed {
                message_id,
                recipient_id,
                via,
            } => played::handle(&self.deps, id, message_id, recipient_id, via).await?,
            // Not ours (the queue is bound to other keys); acknowledge and move on.
            Event::Receipt { .. } => false,
        };
        if wrote {
            self.deps.outbox.notify();
        }
        Ok(())
    }
}

/// Run the router until `shutdown`.
pub async fn run(
    config: RouterConfig,
    deps: Deps,
    prefetch: u16,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let queue = bus::router_queue();
    deps.bus.declare(&queue).await?;
    let scheduler = tokio::spawn(scheduler::run(deps.clone(), shutdown.clone()));
    let handler = Arc::new(EventHandler {
        deps: deps.clone(),
        config,
    });
    let result = consume::run(deps.bus.clone(), &queue.name, prefetch, handler, shutdown).await;
    if let Err(e) = scheduler.await {
        tracing::error!(error = %e, "router scheduler task failed");
    }
    result.map_err(RouterError::from)
}
