//! The consumer loop every service uses.
//!
//! It decodes each delivery's [`Envelope`], hands it to a [`Handler`], and settles it only
//! afterwards: ack when the handler's transaction committed, requeue on a transient failure
//! (the queue's delivery limit then moves a message that keeps failing to its dead-letter
//! queue), dead-letter at once for a poison message that can never succeed. While the
//! database is unreachable the delivery is neither requeued nor counted against its delivery
//! limit: the loop holds it and tries it again with back-off until the database answers, so a
//! database restart delays work but never dead-letters it. [`run`] handles
//! deliveries one at a time, in queue order; [`run_concurrent`] up to N at once (the notifier's
//! channels, so one slow send does not hold up the rest). On shutdown the deliveries in hand
//! are finished and no new one is taken; anything unacked goes back to the broker.

use super::BusError;
use crate::{
    Deps,
    events::Envelope,
    ids::EventId,
    metrics::{Metrics, Settled},
    store::{self, DbConnection, Store, StoreError},
};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// Why a handler did not finish a delivery.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Might work later (database or peer unavailable): requeue.
    #[error("transient: {0}")]
    Retry(String),
    /// Can never work (refers to nothing, malformed): dead-letter.
    #[error("poison: {0}")]
    Poison(String),
    /// The database is unreachable: hold the delivery and try again once it answers.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::Corrupt(_) => HandleError::Poison(e.to_string()),
            e if e.is_unavailable() => HandleError::Unavailable(e.to_string()),
            other => HandleError::Retry(other.to_string()),
        }
    }
}

/// Longest pause between two tries of a delivery held while the database is unavailable.
const UNAVAILABLE_MAX_WAIT: Duration = Duration::from_secs(5);

#[async_trait]
pub trait Handler<T>: Send + Sync + 'static {
    async fn handle(&self, envelope: Envelope<T>) -> Result<(), HandleError>;
}

/// Consume `queue` until `shutdown`.
pub async fn run<T, H>(
    deps: &Deps,
    queue: &str,
    prefetch: u16,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> Result<(), BusError>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T> + ?Sized,
{
    let mut consumer = deps.bus.consume(queue, prefetch).await?;
    loop {
        let delivery = tokio::select! {
            d = consumer.next() => match d {
                Some(d) => d,
                None => return Err(BusError::Closed),
            },
            _ = shutdown.cancelled() => return Ok(()),
        };
        handle_one(queue, handler.as_ref(), delivery, &deps.metrics, &shutdown).await;
    }
}

/// Consume `queue` with up to `concurrency` deliveries handled at once (a slow peer, such as
/// an SMTP relay, then holds up only its own deliveries, not the rest of the queue). On
/// shutdown the deliveries in hand are finished and no new one is taken.
pub async fn run_concurrent<T, H>(
    deps: &Deps,
    queue: &str,
    concurrency: u16,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> Result<(), BusError>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T> + ?Sized,
{
    let concurrency = concurrency.max(1);
    let mut consumer = deps.bus.consume(queue, concurrency).await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(usize::from(concurrency)));
    let name: Arc<str> = queue.into();
    let busy: Arc<std::sync::Mutex<std::collections::HashSet<String>>> = Arc::default();
    let result = loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break Ok(()),
            },
            _ = shutdown.cancelled() => break Ok(()),
        };
        let delivery = tokio::select! {
            d = consumer.next() => match d {
                Some(d) => d,
                None => break Err(BusError::Closed),
            },
            _ = shutdown.cancelled() => break Ok(()),
        };
        let (handler, name, stop) = (handler.clone(), name.clone(), shutdown.clone());
        let (busy, metrics) = (busy.clone(), deps.metrics.clone());
        tokio::spawn(async move {
            // Two copies of one message (a redelivery) never run side by side: the second
            // waits for the first, then finds it handled.
            let id = delivery.message.id.clone();
            loop {
                if lock(&busy).insert(id.clone()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            handle_one(&name, handler.as_ref(), delivery, &metrics, &stop).await;
            lock(&busy).remove(&id);
            drop(permit);
        });
    };
    // Finish the deliveries in hand.
    let _ = slots.acquire_many(u32::from(concurrency)).await;
    result
}

/// Decode, handle and settle one delivery.
async fn handle_one<T, H>(
    queue: &str,
    handler: &H,
    delivery: super::Delivery,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T> + ?Sized,
{
    let started = std::time::Instant::now();
    let done = |settled| metrics.delivery(queue, settled, started.elapsed().as_secs_f64());
    let mut wait = Duration::from_millis(250);
    let mut waited = false;
    loop {
        let envelope: Envelope<T> = match serde_json::from_slice(&delivery.message.body) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(queue, id = %delivery.message.id, error = %e,
                    "undecodable message; sent to the dead-letter queue");
                settle(delivery.reject(false).await);
                done(Settled::DeadLettered);
                return;
            }
        };
        let id = envelope.id.clone();
        match handler.handle(envelope).await {
            Ok(()) => {
                if waited {
                    tracing::info!(queue, %id, "database back; delivery handled");
                }
                settle(delivery.ack().await);
                done(Settled::Acked);
            }
            Err(HandleError::Poison(why)) => {
                tracing::error!(queue, %id, %why, "poison message; sent to the dead-letter queue");
                settle(delivery.reject(false).await);
                done(Settled::DeadLettered);
            }
            Err(HandleError::Retry(why)) => {
                tracing::warn!(queue, %id, %why, "handling failed; will be redelivered");
                // A short pause so a failing dependency is not hammered in a tight loop.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = shutdown.cancelled() => {}
                }
                settle(delivery.reject(true).await);
                done(Settled::Requeued);
            }
            Err(HandleError::Unavailable(why)) => {
                if !waited {
                    tracing::warn!(queue, %id, %why, "database unavailable; holding the delivery until it answers");
                }
                waited = true;
                metrics.dependency_wait(queue);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => {
                        // Stopping: hand it back for another consumer (or this one, later).
                        settle(delivery.reject(true).await);
                        done(Settled::Requeued);
                        return;
                    }
                }
                wait = (wait * 2).min(UNAVAILABLE_MAX_WAIT);
                continue;
            }
        }
        return;
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn settle(result: Result<(), BusError>) {
    // A failed ack leaves the message with the broker, which redelivers it; the consumer's
    // idempotency then makes the repeat a no-op.
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not settle a delivery; it will come again");
    }
}

/// Run `f` in one transaction unless `consumer` already handled `event`: `Ok(None)` means it
/// had, and nothing was done.
pub async fn once<T, F>(
    store: &Store,
    consumer: &'static str,
    event: EventId,
    f: F,
) -> Result<Option<T>, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
{
    store
        .transaction(move |c| {
            if !store::processed::mark(c, consumer, &event)? {
                return Ok(None);
            }
            f(c).map(Some)
        })
        .await
}
