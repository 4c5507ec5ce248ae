//! The outbox relay: moves rows from the `outbox` table to the bus.
//!
//! Writers put an event in the outbox in the same transaction as their state change and call
//! [`OutboxSignal::notify`]; the relay wakes, leases due rows, publishes each with confirms and
//! deletes it only after the broker confirmed. A failed publish is deferred with backoff and
//! stops the batch, so one relay keeps the table's order. A relay that dies mid-batch leaves
//! leased rows that become due again when the lease ends: another relay publishes them, and
//! consumers' idempotency makes the repeat harmless. Every process that writes to the outbox
//! runs a relay; it also polls, so rows left by a crashed peer are never stranded. The relay
//! also forgets handled event ids older than two weeks, so `processed_events` stays bounded,
//! and upload idempotency keys older than a day.

use super::{Bus, BusMessage, Exchange};
use crate::store::{self, Store, StoreError};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 100;
/// How long handled event ids are remembered, and how often old ones are pruned.
const REMEMBER: chrono::Duration = chrono::Duration::days(14);
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How long a relay owns the rows it took: a relay that dies holds them back this long.
/// Publishing a batch takes milliseconds; the lease only has to outlast a slow broker.
const LEASE: Duration = Duration::from_secs(10);
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
    let mut pruned_at = tokio::time::Instant::now();
    loop {
        if pruned_at.elapsed() >= PRUNE_EVERY {
            pruned_at = tokio::time::Instant::now();
            let before = store::now() - REMEMBER;
            match store.run(move |c| store::processed::prune(c, before)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "forgot old handled event ids"),
                Err(e) => tracing::warn!(error = %e, "pruning handled event ids failed"),
            }
            match store.run(store::upload_keys::prune).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "forgot day-old upload keys"),
                Err(e) => tracing::warn!(error = %e, "pruning upload keys failed"),
            }
            match store.run(store::forms::prune).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "forgot day-old form submissions"),
                Err(e) => tracing::warn!(error = %e, "pruning form submissions failed"),
            }
        }
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
    // With the broker away there is nothing to publish to: leave the rows unclaimed (another
    // relay, or this one once the bus is back, takes them at once).
    if bus.health().is_err() {
        return Ok(0);
    }
    let lease_until = store::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let rows = store
        .transaction(move |c| store::outbox::claim_due(c, BATCH, lease_until))
        .await?;
    let mut published = 0;
    let mut failed: Option<(String, i32)> = None;
    // Consecutive rows for one exchange go out as one pipelined batch, in order.
    let mut i = 0;
    while i < rows.len() {
        if let Some((error, attempts)) = &failed {
            // Keep order: everything after a failure waits for the same retry.
            defer(store, rows[i].seq, error, *attempts).await?;
            i += 1;
            continue;
        }
        let Some(exchange) = Exchange::parse(&rows[i].exchange) else {
            tracing::error!(seq = rows[i].seq, exchange = %rows[i].exchange, "outbox row names an unknown exchange");
            defer(store, rows[i].seq, "unknown exchange", 20).await?;
            i += 1;
            continue;
        };
        let end = rows[i..]
            .iter()
            .position(|r| r.exchange != rows[i].exchange)
            .map_or(rows.len(), |n| i + n);
        let batch = &rows[i..end];
        let messages = batch
            .iter()
            .map(|row| BusMessage {
                id: row.event_id.clone(),
                routing_key: row.routing_key.clone(),
                body: row.payload.clone().into_bytes(),
            })
            .collect();
        let results = bus.publish_batch(exchange, messages).await;
        let mut done = Vec::new();
        for (row, result) in batch.iter().zip(results) {
            match result {
                // Confirmed means the broker has it, even behind a failed neighbour in the
                // same pipeline: never publish it again.
                Ok(()) => done.push(row.seq),
                Err(e) => {
                    tracing::warn!(seq = row.seq, key = %row.routing_key, error = %e, "publish failed; will retry");
                    defer(store, row.seq, &e.to_string(), row.attempts).await?;
                    failed.get_or_insert((e.to_string(), row.attempts));
                }
            }
        }
        published += done.len();
        if !done.is_empty() {
            store
                .run(move |c| store::outbox::delete_many(c, &done))
                .await?;
        }
        i = end;
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
