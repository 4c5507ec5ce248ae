//! The outbox relay: moves rows from the `outbox` table to the bus.
//!
//! Writers put an event in the outbox in the same transaction as their state change and call
//! [`OutboxSignal::notify`]; the relay wakes, leases due rows, publishes each with confirms and
//! deletes it only after the broker confirmed. A failed publish is deferred with backoff and
//! stops the batch, so one relay keeps the table's order. A relay that dies mid-batch leaves
//! leased rows that become due again when the lease ends: another relay publishes them, and
//! consumers' idempotency makes the repeat harmless. Every process that writes to the outbox
//! runs a relay; it also polls, so rows left by a crashed peer are never stranded.

use super::{Bus, BusMessage, Exchange};
use crate::store::{self, Store, StoreError};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 100;
const LEASE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);

/// Wakes the relay right after a commit that wrote to the outbox.
#[derive(Clone, Debug, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Relay until `shutdown`, then flush what is due once more and return.
pub async fn run_relay(
    store: Store,
    bus: Arc<dyn Bus>,
    signal: OutboxSignal,
    shutdown: CancellationToken,
) {
    loop {
        match relay_once(&store, bus.as_ref()).await {
            // A full batch means more may be waiting: go again at once.
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox relay pass failed"),
        }
        tokio::select! {
            _ = signal.0.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    if let Err(e) = relay_once(&store, bus.as_ref()).await {
        tracing::warn!(error = %e, "final outbox flush failed");
    }
}

/// One pass: publish what is due. Returns how many rows were published.
pub async fn relay_once(store: &Store, bus: &dyn Bus) -> Result<usize, StoreError> {
    let lease_until = store::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let rows = store
        .transaction(move |c| store::outbox::claim_due(c, BATCH, lease_until))
        .await?;
    let mut published = 0;
    let mut failed: Option<(String, i32)> = None;
    for row in &rows {
        if let Some((error, attempts)) = &failed {
            // Keep order: everything after a failure waits for the same retry.
            defer(store, row.seq, error, *attempts).await?;
            continue;
        }
        let Some(exchange) = Exchange::parse(&row.exchange) else {
            tracing::error!(seq = row.seq, exchange = %row.exchange, "outbox row names an unknown exchange");
            defer(store, row.seq, "unknown exchange", 20).await?;
            continue;
        };
        let message = BusMessage {
            id: row.event_id.clone(),
            routing_key: row.routing_key.clone(),
            body: row.payload.clone().into_bytes(),
        };
        match bus.publish(exchange, message).await {
            Ok(()) => {
                let seq = row.seq;
                store.run(move |c| store::outbox::delete(c, seq)).await?;
                published += 1;
            }
            Err(e) => {
                tracing::warn!(seq = row.seq, key = %row.routing_key, error = %e, "publish failed; will retry");
                defer(store, row.seq, &e.to_string(), row.attempts).await?;
                failed = Some((e.to_string(), row.attempts));
            }
        }
    }
    Ok(published)
}

/// Exponential backoff from 200 ms to 30 s.
async fn defer(store: &Store, seq: i64, error: &str, attempts: i32) -> Result<(), StoreError> {
    let exp = u32::try_from(attempts.clamp(0, 8)).unwrap_or(8);
    let delay = Duration::from_millis(200 * 2u64.pow(exp)).min(Duration::from_secs(30));
    let retry_at = store::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    let error = error.to_owned();
    store
        .run(move |c| store::outbox::defer(c, seq, &error, retry_at))
        .await
}
