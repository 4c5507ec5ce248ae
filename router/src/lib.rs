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
//! Plans come first from the enabled Wasm [`plugins`] in priority order ([`registry`]), else
//! from the profile ([`decide`]). [`scheduler`] fires attempts whose start was delayed. Every
//! handler runs in one transaction with its outbox writes and its processed-event mark, so a
//! redelivered event changes nothing. Each router also has its own queue for
//! `plugin.changed`, so every instance reloads its plugins when an admin changes them.

mod decide;
mod dropin;
mod forward;
mod live;
mod outcome;
pub mod plan;
mod played;
pub mod plugins;
mod recorded;
pub mod registry;
pub mod scheduler;

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
    #[error("plugin host: {0}")]
    Plugins(#[from] plugins::PluginError),
    #[error(transparent)]
    Store(#[from] hark_core::store::StoreError),
}

pub(crate) struct EventHandler {
    pub deps: Deps,
    pub config: RouterConfig,
    pub registry: Arc<registry::Registry>,
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
            } => recorded::handle(self, id, message_id, recipients).await?,
            Event::MessageStarted {
                message_id,
                recipients,
                ..
            } => live::handle(self, id, message_id, recipients).await?,
            Event::PresenceChanged { user_id, status } => {
                forward::handle(&self.deps, &self.config, id, user_id, status).await?
            }
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
            Event::Receipt { .. } | Event::PluginChanged { .. } | Event::MailboxChanged { .. } => {
                false
            }
        };
        if wrote {
            self.deps.outbox.notify();
        }
        Ok(())
    }
}

/// Reload plugins whenever any router (or `hark plugin`) announces a change.
struct PluginWatcher {
    deps: Deps,
    registry: Arc<registry::Registry>,
}

#[async_trait::async_trait]
impl consume::Handler<Event> for PluginWatcher {
    async fn handle(&self, envelope: Envelope<Event>) -> Result<(), consume::HandleError> {
        if let Event::PluginChanged { name } = envelope.body {
            tracing::info!(plugin = %name, "plugins changed; reloading");
            self.registry.reload(&self.deps.store).await?;
        }
        Ok(())
    }
}

/// Run the router until `shutdown`.
pub async fn run(
    config: RouterConfig,
    deps: Deps,
    plugins_dir: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let host = Arc::new(plugins::PluginHost::new(plugins::Limits::from(&config))?);
    let registry = Arc::new(registry::Registry::new(host, &deps.metrics));
    // This instance's own queue, declared before loading, so no change is missed in between.
    let changes =
        bus::QueueSpec::transient(format!("router.plugins.{}", hark_core::ids::EventId::new()))
            .bind(
                bus::Exchange::Events,
                hark_core::events::keys::PLUGIN_CHANGED,
            );
    deps.bus.declare(&changes).await?;
    registry.reload(&deps.store).await?;
    let watcher = {
        let (watch_deps, name, stop) = (deps.clone(), changes.name.clone(), shutdown.clone());
        let handler = Arc::new(PluginWatcher {
            deps: deps.clone(),
            registry: registry.clone(),
        });
        tokio::spawn(async move { consume::run(&watch_deps, &name, 1, handler, stop).await })
    };

    // A `plugin.changed` sent while the broker was away is lost with this router's private
    // queue: after every reconnection, read the plugin set again.
    let resync = {
        let (deps, registry, stop) = (deps.clone(), registry.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut seen = deps.bus.generation();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                    _ = stop.cancelled() => return,
                }
                let now = deps.bus.generation();
                if now != seen {
                    match registry.reload(&deps.store).await {
                        Ok(_) => seen = now,
                        Err(e) => {
                            tracing::warn!(error = %e, "plugins not reloaded after reconnecting")
                        }
                    }
                }
            }
        })
    };
    let dropin = plugins_dir.map(|dir| {
        tokio::spawn(dropin::run(
            dir,
            deps.clone(),
            registry.clone(),
            shutdown.clone(),
        ))
    });

    let queue = bus::router_queue();
    deps.bus.declare(&queue).await?;
    let scheduler = tokio::spawn(scheduler::run(
        deps.clone(),
        registry.clone(),
        shutdown.clone(),
    ));
    let concurrency = config.concurrency;
    let handler = Arc::new(EventHandler {
        deps: deps.clone(),
        config,
        registry,
    });
    let result = consume::run_concurrent(&deps, &queue.name, concurrency, handler, shutdown).await;
    if let Some(Err(e)) = match dropin {
        Some(task) => Some(task.await),
        None => None,
    } {
        tracing::error!(error = %e, "plugin folder task failed");
    }
    if let Err(e) = resync.await {
        tracing::error!(error = %e, "plugin resync task failed");
    }
    if let Err(e) = scheduler.await {
        tracing::error!(error = %e, "router scheduler task failed");
    }
    match watcher.await {
        Ok(Err(e)) => tracing::error!(error = %e, "plugin watcher stopped"),
        Err(e) => tracing::error!(error = %e, "plugin watcher task failed"),
        Ok(Ok(())) => {}
    }
    result.map_err(RouterError::from)
}
