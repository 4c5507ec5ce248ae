//! The RabbitMQ bus (lapin).
//!
//! Publishing waits for the broker's confirm and sets `mandatory` on commands, so an
//! unroutable command is an error instead of a silent drop. Durable queues are quorum queues
//! with a delivery limit and a dead-letter queue reached through the `hark.dlx` exchange.
//! Every name carries the configured namespace, so several deployments (or test runs) can
//! share one broker.
//!
//! **Reconnection is ours, not lapin's.** lapin's automatic recovery replays what it saw on
//! the connection, but after a broker restart it re-consumed exclusive queues before declaring
//! them again (the consumer was lost for good) and could stay "reconnecting". So the bus keeps
//! the topology it was asked for — queues with their bindings, bindings added later, consumers
//! — and a supervisor watches the connection: when it is lost, it connects again with
//! back-off, declares everything again and restarts every consumer on the same [`Consumer`]
//! its service already holds. Deliveries in hand when the connection went cannot be acked any
//! more; the broker delivers them again and consumers' idempotency makes that harmless. A
//! publish made while the connection is down waits for it (up to 5 s) and then fails; the
//! outbox keeps the row and tries again.

mod connection;
mod consumers;
mod topology;

use super::{Bus, BusError, BusMessage, Consumer, Exchange, QueueSpec};
use async_trait::async_trait;
use connection::{Inner, Live, lock};
use consumers::spawn_consumer;
use lapin::{
    BasicProperties, Channel, Confirmation,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    },
    types::FieldTable,
};
use std::{
    fmt,
    sync::{Arc, Mutex as StdMutex},
    time::Duration,
};
use tokio::sync::{mpsc, watch};
use topology::{ConsumerEntry, Names, Topology, bind_on};

/// How long a publish or declare waits for a lost connection to come back before reporting
/// the failure to its caller (the outbox relay then retries). Shorter than the outbox lease,
/// so a relay's rows are not taken by another relay while it is still waiting to publish them.
pub(super) const RECOVERY_WAIT: Duration = Duration::from_secs(5);
/// How often the supervisor looks at the connection.
const WATCH: Duration = Duration::from_millis(200);
/// Back-off between reconnection attempts.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

pub struct AmqpBus {
    inner: Arc<Inner>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpBus")
            .field("namespace", &self.inner.names.namespace)
            .finish_non_exhaustive()
    }
}

impl Drop for AmqpBus {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl AmqpBus {
    /// Connect (the first connection must succeed) and start watching the connection.
    pub async fn connect(
        url: &str,
        namespace: &str,
        delivery_limit: u32,
    ) -> Result<Self, BusError> {
        let (live, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            url: url.to_owned(),
            names: Names {
                namespace: namespace.to_owned(),
                delivery_limit: delivery_limit.max(1),
            },
            live,
            topology: StdMutex::new(Topology::default()),
            broken: tokio::sync::Notify::new(),
        });
        let first = Arc::new(inner.open(1).await?);
        hand_out(&inner, first).await?;
        let supervisor = tokio::spawn(supervise(inner.clone()));
        Ok(Self { inner, supervisor })
    }

    /// Delete the given queues (with their dead-letter queues) and this namespace's
    /// exchanges. For tests that share a broker; never called by the product.
    pub async fn delete_namespace(&self, queues: &[QueueSpec]) -> Result<(), BusError> {
        let live = self.inner.connected().await?;
        let ch = live.channel.lock().await;
        for q in queues {
            for name in [
                self.inner.names.name(&q.name),
                self.inner.names.name(&q.dlq_name()),
            ] {
                ch.queue_delete(name.into(), QueueDeleteOptions::default())
                    .await?;
            }
        }
        for ex in Exchange::ALL {
            ch.exchange_delete(
                self.inner.names.exchange_name(ex).into(),
                ExchangeDeleteOptions::default(),
            )
            .await?;
        }
        ch.exchange_delete(
            self.inner.names.dlx_name().into(),
            ExchangeDeleteOptions::default(),
        )
        .await?;
        Ok(())
    }

    /// The publishing channel, opened again if a channel error closed it.
    async fn publishing<'a>(
        &self,
        live: &'a Live,
    ) -> Result<tokio::sync::MutexGuard<'a, Channel>, BusError> {
        let mut ch = live.channel.lock().await;
        if !ch.status().connected() {
            let fresh = live.connection.create_channel().await?;
            fresh
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            *ch = fresh;
        }
        Ok(ch)
    }

    /// Send one message; the returned confirm may be awaited after the channel is released.
    async fn send(
        &self,
        ch: &Channel,
        exchange: Exchange,
        message: &BusMessage,
    ) -> Result<lapin::PublisherConfirm, lapin::Error> {
        let props = BasicProperties::default()
            .with_message_id(message.id.clone().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(if exchange.is_durable() { 2 } else { 1 });
        ch.basic_publish(
            self.inner.names.exchange_name(exchange).into(),
            message.routing_key.clone().into(),
            // Only a command must reach a queue (an unroutable one is an error); an event
            // nobody listens to is simply unobserved.
            BasicPublishOptions {
                mandatory: exchange == Exchange::Commands,
                ..Default::default()
            },
            &message.body,
            props,
        )
        .await
    }

    fn settle(
        &self,
        exchange: Exchange,
        routing_key: &str,
        confirmation: Confirmation,
    ) -> Result<(), BusError> {
        match confirmation {
            Confirmation::Nack(_) => Err(BusError::Nacked),
            Confirmation::Ack(Some(_returned)) if exchange == Exchange::Commands => {
                Err(BusError::Unroutable {
                    exchange: self.inner.names.exchange_name(exchange),
                    routing_key: routing_key.to_owned(),
                })
            }
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
        }
    }

    /// Look `queue` up without declaring it: its message count, or `UnknownQueue`. A passive
    /// declare of a missing queue closes the channel it was asked on, so it gets its own.
    async fn look_up(&self, live: &Live, queue: &str) -> Result<u32, BusError> {
        let channel = live.connection.create_channel().await?;
        let found = channel
            .queue_declare(
                self.inner.names.name(queue).into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        // Already closed by the broker when the queue is missing.
        if channel.status().connected()
            && let Err(e) = channel.close(200, "look-up".into()).await
        {
            tracing::debug!(error = %e, "closing a look-up channel");
        }
        found
            .map(|q| q.message_count())
            .map_err(|_| BusError::UnknownQueue(queue.into()))
    }

    /// A failure on the connection: tell the supervisor and the caller.
    fn failed(&self, e: lapin::Error) -> BusError {
        self.inner.broken.notify_one();
        BusError::from(e)
    }
}

#[async_trait]
impl Bus for AmqpBus {
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BusError> {
        {
            let mut t = lock(&self.inner.topology);
            t.queues.retain(|q| q.name != spec.name);
            t.queues.push(spec.clone());
            t.version += 1;
        }
        let live = self.inner.connected().await?;
        let ch = self.publishing(&live).await?;
        self.inner.names.declare_on(&ch, spec).await
    }

    async fn publish(&self, exchange: Exchange, message: BusMessage) -> Result<(), BusError> {
        let live = self.inner.connected().await?;
        let confirm = {
            let ch = self.publishing(&live).await?;
            self.send(&ch, exchange, &message)
                .await
                .map_err(|e| self.failed(e))?
        };
        let confirmation = confirm.await.map_err(|e| self.failed(e))?;
        self.settle(exchange, &message.routing_key, confirmation)
    }

    async fn publish_batch(
        &self,
        exchange: Exchange,
        messages: Vec<BusMessage>,
    ) -> Vec<Result<(), BusError>> {
        let live = match self.inner.connected().await {
            Ok(l) => l,
            Err(e) => {
                let why = e.to_string();
                return messages
                    .iter()
                    .map(|_| Err(BusError::Connection(why.clone())))
                    .collect();
            }
        };
        // Send all in order while holding the channel, then await the confirms together.
        let mut pending = Vec::with_capacity(messages.len());
        match self.publishing(&live).await {
            Ok(ch) => {
                for m in &messages {
                    match self.send(&ch, exchange, m).await {
                        Ok(confirm) => pending.push(Ok(confirm)),
                        Err(e) => {
                            // The channel is gone: the rest cannot go now either.
                            pending.push(Err(self.failed(e)));
                            break;
                        }
                    }
                }
            }
            Err(e) => pending.push(Err(e)),
        }
        let mut out = Vec::with_capacity(messages.len());
        for (m, p) in messages.iter().zip(pending) {
            out.push(match p {
                Ok(confirm) => match confirm.await {
                    Ok(c) => self.settle(exchange, &m.routing_key, c),
                    Err(e) => Err(self.failed(e)),
                },
                Err(e) => Err(e),
            });
        }
        while out.len() < messages.len() {
            out.push(Err(BusError::Connection(
                "not sent: the channel failed".into(),
            )));
        }
        out
    }

    async fn bind(&self, queue: &str, exchange: Exchange, key: &str) -> Result<(), BusError> {
        let binding = (
            self.inner.names.name(queue),
            self.inner.names.exchange_name(exchange),
            key.to_owned(),
        );
        {
            let mut t = lock(&self.inner.topology);
            t.bindings.insert(binding.clone());
            t.version += 1;
        }
        // While the connection is down the binding waits in the topology: the supervisor
        // makes it on the next connection.
        let Some(live) = self.inner.current() else {
            return Ok(());
        };
        let ch = self.publishing(&live).await?;
        bind_on(&ch, &binding.0, &binding.1, &binding.2).await
    }

    async fn unbind(&self, queue: &str, exchange: Exchange, key: &str) -> Result<(), BusError> {
        let binding = (
            self.inner.names.name(queue),
            self.inner.names.exchange_name(exchange),
            key.to_owned(),
        );
        {
            let mut t = lock(&self.inner.topology);
            t.bindings.remove(&binding);
            t.version += 1;
        }
        let Some(live) = self.inner.current() else {
            return Ok(());
        };
        let ch = self.publishing(&live).await?;
        ch.queue_unbind(
            binding.0.into(),
            binding.1.into(),
            binding.2.into(),
            FieldTable::default(),
        )
        .await?;
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Consumer, BusError> {
        let live = self.inner.connected().await?;
        let (tx, rx) = mpsc::channel(usize::from(prefetch.max(1)));
        let entry = {
            let mut t = lock(&self.inner.topology);
            t.next_consumer += 1;
            let entry = Arc::new(ConsumerEntry {
                id: t.next_consumer,
                queue: queue.to_owned(),
                prefetch,
                tx,
                last_settle: Arc::default(),
            });
            t.consumers.push(entry.clone());
            entry
        };
        // Look the queue up now (so a missing one is an error here), then let it run; the supervisor
        // starts it again on every new connection.
        if let Err(e) = self.look_up(&live, queue).await {
            lock(&self.inner.topology)
                .consumers
                .retain(|c| c.id != entry.id);
            return Err(e);
        }
        spawn_consumer(self.inner.clone(), live, entry);
        Ok(Consumer::new(rx))
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        let live = self.inner.connected().await?;
        Ok(u64::from(self.look_up(&live, queue).await?))
    }

    fn generation(&self) -> u64 {
        self.inner
            .live
            .borrow()
            .as_ref()
            .map_or(0, |l| l.generation)
    }

    fn health(&self) -> Result<(), BusError> {
        match self.inner.current() {
            Some(_) => Ok(()),
            None => Err(BusError::Connection("not connected to the broker".into())),
        }
    }
}

/// Bring a new connection up to date with changes made while it was being restored
/// (a person's tab opened, a binding went), then hand it out — under the topology lock,
/// so every later change sees it and makes itself.
async fn hand_out(inner: &Arc<Inner>, live: Arc<Live>) -> Result<(), BusError> {
    let (mut applied, mut version) = lock(&live.restored).take().unwrap_or_default();
    loop {
        let (now, queues, bindings) = {
            let t = lock(&inner.topology);
            if t.version == version {
                // Consumers first (those registered meanwhile too), then the connection.
                for entry in &t.consumers {
                    if !entry.tx.is_closed() {
                        spawn_consumer(inner.clone(), live.clone(), entry.clone());
                    }
                }
                inner.live.send_replace(Some(live.clone()));
                return Ok(());
            }
            (t.version, t.queues.clone(), t.bindings.clone())
        };
        let ch = live.channel.lock().await;
        for spec in &queues {
            inner.names.declare_on(&ch, spec).await?;
        }
        for b in bindings.difference(&applied) {
            bind_on(&ch, &b.0, &b.1, &b.2).await?;
        }
        for b in applied.difference(&bindings) {
            ch.queue_unbind(
                b.0.clone().into(),
                b.1.clone().into(),
                b.2.clone().into(),
                FieldTable::default(),
            )
            .await?;
        }
        drop(ch);
        (applied, version) = (bindings, now);
    }
}

/// Watch the connection; when it is lost, make a new one and restore everything on it.
async fn supervise(inner: Arc<Inner>) {
    let mut generation = inner.live.borrow().as_ref().map_or(0, |l| l.generation);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH) => {}
            _ = inner.broken.notified() => {}
        }
        if inner.current().is_some() {
            continue;
        }
        tracing::warn!("bus connection lost; reconnecting");
        let mut pause = RETRY_MIN;
        loop {
            generation += 1;
            let opened = match inner.open(generation).await {
                Ok(live) => {
                    let live = Arc::new(live);
                    match hand_out(&inner, live.clone()).await {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            let _ = live.connection.close(200, "set-up failed".into()).await;
                            Err(e)
                        }
                    }
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok(()) => break,
                Err(e) => {
                    tracing::debug!(error = %e, retry_in_ms = pause.as_millis(), "broker not reachable yet");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
        }
        tracing::info!(generation, "bus connection recovered");
    }
}
