//! Consumers: one channel each, started again on every new connection, and how their
//! deliveries are settled.

use super::{
    connection::{Inner, Live, lock},
    topology::ConsumerEntry,
};
use crate::bus::{BusError, BusMessage, Delivery, QueueKind, Settle};
use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::{
    options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions},
    types::FieldTable,
};
use std::{
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};

/// How long a consumer's channel stays open after its last ack before it is closed.
///
/// RabbitMQ (3.10 here) applies acks on a quorum queue asynchronously: with more than a few
/// dozen settles in flight, the channel holds the rest back until earlier ones are applied,
/// and closing the channel drops what it held back — the broker then redelivers messages the
/// consumer had acked. Idempotent consumers absorb that, but a clean stop should not cause
/// it, so a consumer that acked recently lingers this long (it cannot see when the broker is
/// done; this covers a loaded two-core machine with room to spare).
const ACK_LINGER: Duration = Duration::from_secs(1);

/// Consume `entry`'s queue on `live` until the connection goes (the supervisor starts it again
/// on the next one) or the service drops its [`Consumer`] (then the entry is forgotten).
pub(super) fn spawn_consumer(inner: Arc<Inner>, live: Arc<Live>, entry: Arc<ConsumerEntry>) {
    tokio::spawn(async move {
        let mut live = live;
        let mut logged = false;
        loop {
            let outcome = consume_on(&inner, &live, &entry).await;
            if let Ok(true) = outcome {
                // The service is done with it: forget it, and its queue if that was private.
                let mut t = lock(&inner.topology);
                t.consumers.retain(|c| c.id != entry.id);
                if !t.consumers.iter().any(|c| c.queue == entry.queue) {
                    t.queues
                        .retain(|q| !(q.kind == QueueKind::Transient && q.name == entry.queue));
                }
                return;
            }
            if !live.connection.status().connected() {
                // Started on a connection that has gone: if a newer one is up already, go on
                // there (the supervisor may have handed it out before this consumer began);
                // otherwise the supervisor starts it on the next one.
                if let Some(newer) = inner.current()
                    && newer.generation != live.generation
                {
                    live = newer;
                    continue;
                }
                inner.broken.notify_one();
                return;
            }
            // The connection is up but the consumer stopped (a channel error, the broker
            // cancelled it): try again shortly on the same connection.
            if !logged {
                match &outcome {
                    Err(e) => {
                        tracing::warn!(queue = %entry.queue, error = %e, "consumer lost; starting it again")
                    }
                    _ => {
                        tracing::warn!(queue = %entry.queue, "consumer cancelled by the broker; starting it again")
                    }
                }
                logged = true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// True when the consumer was dropped by its service, false when the connection went.
pub(super) async fn consume_on(
    inner: &Inner,
    live: &Live,
    entry: &ConsumerEntry,
) -> Result<bool, BusError> {
    let channel = live.connection.create_channel().await?;
    channel
        .basic_qos(entry.prefetch.max(1), BasicQosOptions::default())
        .await?;
    let mut stream = channel
        .basic_consume(
            inner.names.name(&entry.queue).into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let dropped = loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = entry.tx.closed() => break true,
        };
        match next {
            Some(Ok(d)) => {
                let message = BusMessage {
                    id: d
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    routing_key: d.routing_key.to_string(),
                    body: d.data,
                };
                let settle = Arc::new(AmqpSettle {
                    acker: d.acker,
                    last: entry.last_settle.clone(),
                });
                if entry
                    .tx
                    .send(Delivery::new(message, d.redelivered, settle))
                    .await
                    .is_err()
                {
                    break true;
                }
            }
            Some(Err(e)) => {
                tracing::debug!(queue = %entry.queue, error = %e, "consumer stream ended");
                break false;
            }
            None => break false,
        }
    };
    if dropped {
        // Give the broker time to apply recent acks (see ACK_LINGER), then close: closing
        // hands unacked deliveries back to the broker.
        let last = *lock(&entry.last_settle);
        if let Some(wait) = last.and_then(|t| ACK_LINGER.checked_sub(t.elapsed())) {
            tokio::time::sleep(wait).await;
        }
        if let Err(e) = channel.close(200, "consumer done".into()).await {
            tracing::debug!(error = %e, "closing consumer channel");
        }
    }
    Ok(dropped)
}

pub(super) struct AmqpSettle {
    pub(super) acker: lapin::Acker,
    /// When this consumer last settled a delivery (shared by its deliveries).
    pub(super) last: Arc<StdMutex<Option<Instant>>>,
}

impl AmqpSettle {
    fn settled(&self) {
        *lock(&self.last) = Some(Instant::now());
    }
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(&self) -> Result<(), BusError> {
        self.acker.ack(BasicAckOptions::default()).await?;
        self.settled();
        Ok(())
    }

    async fn reject(&self, requeue: bool) -> Result<(), BusError> {
        self.acker.reject(BasicRejectOptions { requeue }).await?;
        self.settled();
        Ok(())
    }
}
