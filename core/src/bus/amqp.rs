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
//! publish made while the connection is down waits for it (up to 30 s) and then fails; the
//! outbox keeps the row and tries again.

use super::{
    Bus, BusError, BusMessage, Consumer, Delivery, Exchange, QueueKind, QueueSpec, Settle,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
        QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};
use std::{
    collections::BTreeSet,
    fmt,
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, mpsc, watch};

/// How long a publish or declare waits for a lost connection to come back before reporting
/// the failure to its caller (the outbox relay then retries). Shorter than the outbox lease,
/// so a relay's rows are not taken by another relay while it is still waiting to publish them.
const RECOVERY_WAIT: Duration = Duration::from_secs(5);
/// How often the supervisor looks at the connection.
const WATCH: Duration = Duration::from_millis(200);
/// Back-off between reconnection attempts.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How long a consumer's channel stays open after its last ack before it is closed.
///
/// RabbitMQ (3.10 here) applies acks on a quorum queue asynchronously: with more than a few
/// dozen settles in flight, the channel holds the rest back until earlier ones are applied,
/// and closing the channel drops what it held back — the broker then redelivers messages the
/// consumer had acked. Idempotent consumers absorb that, but a clean stop should not cause
/// it, so a consumer that acked recently lingers this long (it cannot see when the broker is
/// done; this covers a loaded two-core machine with room to spare).
const ACK_LINGER: Duration = Duration::from_secs(1);

/// A binding by full names: queue, exchange, routing key.
type Bindings = BTreeSet<(String, String, String)>;

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One connection to the broker and its publishing channel.
struct Live {
    connection: Connection,
    /// Confirm-mode channel for publishing and declaring; the mutex keeps confirms in order.
    channel: Mutex<Channel>,
    /// Counts connections made, so consumers know which one they run on.
    generation: u64,
    /// What was declared on it (see [`Restored`]); the supervisor catches up from here.
    restored: StdMutex<Option<(Bindings, u64)>>,
}

/// A consumer as its service sees it: the sending end of its [`Consumer`].
struct ConsumerEntry {
    id: u64,
    queue: String,
    prefetch: u16,
    tx: mpsc::Sender<Delivery>,
    /// When it last settled a delivery (shared by its deliveries), for [`ACK_LINGER`].
    last_settle: Arc<StdMutex<Option<Instant>>>,
}

/// Everything to declare again on a new connection.
#[derive(Default)]
struct Topology {
    queues: Vec<QueueSpec>,
    /// Bindings added with [`Bus::bind`] (and not unbound since), by full names.
    bindings: Bindings,
    consumers: Vec<Arc<ConsumerEntry>>,
    next_consumer: u64,
    /// Bumped by every change to queues or bindings, so a reconnection that was restoring
    /// an older picture sees it must catch up before it hands the connection out.
    version: u64,
}

impl Topology {
    /// Forget consumers their services dropped, and private queues no consumer uses now
    /// (declared again on every reconnection, they would only collect messages).
    fn prune(&mut self) {
        self.consumers.retain(|c| !c.tx.is_closed());
        let used: Vec<String> = self.consumers.iter().map(|c| c.queue.clone()).collect();
        self.queues
            .retain(|q| q.kind == QueueKind::Durable || used.contains(&q.name));
    }
}

/// What a new connection was given: its bindings and the topology version they came from.
struct Restored {
    channel: Channel,
    bindings: Bindings,
    version: u64,
}

struct Inner {
    url: String,
    namespace: String,
    delivery_limit: u32,
    live: watch::Sender<Option<Arc<Live>>>,
    topology: StdMutex<Topology>,
    /// Wakes the supervisor early (a publish saw the connection fail).
    broken: tokio::sync::Notify,
}

pub struct AmqpBus {
    inner: Arc<Inner>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpBus")
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

impl Drop for AmqpBus {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl Inner {
    fn name(&self, base: &str) -> String {
        format!("{}{}", self.namespace, base)
    }

    fn exchange_name(&self, exchange: Exchange) -> String {
        self.name(exchange.base_name())
    }

    fn dlx_name(&self) -> String {
        self.name("hark.dlx")
    }

    /// The connection, if it is up now.
    fn current(&self) -> Option<Arc<Live>> {
        self.live
            .borrow()
            .clone()
            .filter(|l| l.connection.status().connected())
    }

    /// The connection, waiting (bounded) for it to come back.
    async fn connected(&self) -> Result<Arc<Live>, BusError> {
        if let Some(l) = self.current() {
            return Ok(l);
        }
        self.broken.notify_one();
        let mut rx = self.live.subscribe();
        let wait = async {
            loop {
                if let Some(l) = rx
                    .borrow_and_update()
                    .clone()
                    .filter(|l| l.connection.status().connected())
                {
                    return l;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(RECOVERY_WAIT, wait)
            .await
            .map_err(|_| BusError::Connection("the broker is unreachable".into()))
    }

    /// Open a connection and declare everything on it.
    async fn open(&self, generation: u64) -> Result<Live, BusError> {
        let props = ConnectionProperties::default().with_connection_name("hark".into());
        let connection = Connection::connect(&self.url, props).await?;
        match self.restore(&connection).await {
            Ok(r) => Ok(Live {
                connection,
                channel: Mutex::new(r.channel),
                generation,
                restored: StdMutex::new(Some((r.bindings, r.version))),
            }),
            Err(e) => {
                // Close it, or the broker keeps it and the private queues declared on it.
                let _ = connection.close(200, "set-up failed".into()).await;
                Err(e)
            }
        }
    }

    /// Declare everything on a new connection; its publishing channel.
    async fn restore(&self, connection: &Connection) -> Result<Restored, BusError> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.declare_exchanges(&channel).await?;
        let (queues, bindings, version) = {
            let mut t = lock(&self.topology);
            t.prune();
            (t.queues.clone(), t.bindings.clone(), t.version)
        };
        for spec in &queues {
            self.declare_on(&channel, spec).await?;
        }
        for (queue, exchange, key) in &bindings {
            bind_on(&channel, queue, exchange, key).await?;
        }
        Ok(Restored {
            channel,
            bindings,
            version,
        })
    }

    /// Bring a new connection up to date with changes made while it was being restored
    /// (a person's tab opened, a binding went), then hand it out — under the topology lock,
    /// so every later change sees it and makes itself.
    async fn hand_out(self: &Arc<Self>, live: Arc<Live>) -> Result<(), BusError> {
        let (mut applied, mut version) = lock(&live.restored).take().unwrap_or_default();
        loop {
            let (now, queues, bindings) = {
                let t = lock(&self.topology);
                if t.version == version {
                    // Consumers first (those registered meanwhile too), then the connection.
                    for entry in &t.consumers {
                        if !entry.tx.is_closed() {
                            spawn_consumer(self.clone(), live.clone(), entry.clone());
                        }
                    }
                    self.live.send_replace(Some(live.clone()));
                    return Ok(());
                }
                (t.version, t.queues.clone(), t.bindings.clone())
            };
            let ch = live.channel.lock().await;
            for spec in &queues {
                self.declare_on(&ch, spec).await?;
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

    async fn declare_exchanges(&self, ch: &Channel) -> Result<(), BusError> {
        for ex in Exchange::ALL {
            let kind = if ex.is_topic() {
                ExchangeKind::Topic
            } else {
                ExchangeKind::Direct
            };
            ch.exchange_declare(
                self.exchange_name(ex).into(),
                kind,
                ExchangeDeclareOptions {
                    durable: ex.is_durable(),
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        }
        ch.exchange_declare(
            self.dlx_name().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
        Ok(())
    }

    async fn declare_on(&self, ch: &Channel, spec: &QueueSpec) -> Result<(), BusError> {
        let name = self.name(&spec.name);
        let (options, args) = match spec.kind {
            QueueKind::Durable => {
                let dlq = self.name(&spec.dlq_name());
                let mut dlq_args = FieldTable::default();
                dlq_args.insert(
                    "x-queue-type".into(),
                    AMQPValue::LongString("quorum".into()),
                );
                ch.queue_declare(dlq.clone().into(), QueueDeclareOptions::durable(), dlq_args)
                    .await?;
                ch.queue_bind(
                    dlq.into(),
                    self.dlx_name().into(),
                    name.clone().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
                let mut args = FieldTable::default();
                args.insert(
                    "x-queue-type".into(),
                    AMQPValue::LongString("quorum".into()),
                );
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString(self.dlx_name().into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(name.clone().into()),
                );
                args.insert(
                    "x-delivery-limit".into(),
                    AMQPValue::LongLongInt(i64::from(self.delivery_limit)),
                );
                (QueueDeclareOptions::durable(), args)
            }
            QueueKind::Transient => (
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            ),
        };
        ch.queue_declare(name.clone().into(), options, args).await?;
        for (exchange, key) in &spec.bindings {
            bind_on(ch, &name, &self.exchange_name(*exchange), key).await?;
        }
        Ok(())
    }

    /// Watch the connection; when it is lost, make a new one and restore everything on it.
    async fn supervise(self: Arc<Self>) {
        let mut generation = self.live.borrow().as_ref().map_or(0, |l| l.generation);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(WATCH) => {}
                _ = self.broken.notified() => {}
            }
            if self.current().is_some() {
                continue;
            }
            tracing::warn!("bus connection lost; reconnecting");
            let mut pause = RETRY_MIN;
            loop {
                generation += 1;
                let opened = match self.open(generation).await {
                    Ok(live) => {
                        let live = Arc::new(live);
                        match self.hand_out(live.clone()).await {
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
}

async fn bind_on(ch: &Channel, queue: &str, exchange: &str, key: &str) -> Result<(), BusError> {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

/// Consume `entry`'s queue on `live` until the connection goes (the supervisor starts it again
/// on the next one) or the service drops its [`Consumer`] (then the entry is forgotten).
fn spawn_consumer(inner: Arc<Inner>, live: Arc<Live>, entry: Arc<ConsumerEntry>) {
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
async fn consume_on(inner: &Inner, live: &Live, entry: &ConsumerEntry) -> Result<bool, BusError> {
    let channel = live.connection.create_channel().await?;
    channel
        .basic_qos(entry.prefetch.max(1), BasicQosOptions::default())
        .await?;
    let mut stream = channel
        .basic_consume(
            inner.name(&entry.queue).into(),
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
            namespace: namespace.to_owned(),
            delivery_limit: delivery_limit.max(1),
            live,
            topology: StdMutex::new(Topology::default()),
            broken: tokio::sync::Notify::new(),
        });
        let first = Arc::new(inner.open(1).await?);
        inner.hand_out(first).await?;
        let supervisor = tokio::spawn(inner.clone().supervise());
        Ok(Self { inner, supervisor })
    }

    /// Delete the given queues (with their dead-letter queues) and this namespace's
    /// exchanges. For tests that share a broker; never called by the product.
    pub async fn delete_namespace(&self, queues: &[QueueSpec]) -> Result<(), BusError> {
        let live = self.inner.connected().await?;
        let ch = live.channel.lock().await;
        for q in queues {
            for name in [self.inner.name(&q.name), self.inner.name(&q.dlq_name())] {
                ch.queue_delete(name.into(), QueueDeleteOptions::default())
                    .await?;
            }
        }
        for ex in Exchange::ALL {
            ch.exchange_delete(
                self.inner.exchange_name(ex).into(),
                ExchangeDeleteOptions::default(),
            )
            .await?;
        }
        ch.exchange_delete(
            self.inner.dlx_name().into(),
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
            self.inner.exchange_name(exchange).into(),
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
                    exchange: self.inner.exchange_name(exchange),
                    routing_key: routing_key.to_owned(),
                })
            }
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
        }
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
        self.inner.declare_on(&ch, spec).await
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
            self.inner.name(queue),
            self.inner.exchange_name(exchange),
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
            self.inner.name(queue),
            self.inner.exchange_name(exchange),
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
        // Start here (so a missing queue is an error now), then let it run; the supervisor
        // starts it again on every new connection.
        let probe = async {
            let channel = live.connection.create_channel().await?;
            let found = channel
                .queue_declare(
                    self.inner.name(queue).into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            let _ = channel.close(200, "probe".into()).await;
            Ok::<_, BusError>(found)
        };
        let missing = match probe.await {
            Ok(Ok(_)) => None,
            Ok(Err(_)) => Some(BusError::UnknownQueue(queue.into())),
            Err(e) => Some(e),
        };
        if let Some(e) = missing {
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
        // A passive declare of a missing queue closes its channel: use a throwaway one.
        let ch = live.connection.create_channel().await?;
        let q = ch
            .queue_declare(
                self.inner.name(queue).into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|_| BusError::UnknownQueue(queue.into()))?;
        if let Err(e) = ch.close(200, "depth read".into()).await {
            tracing::debug!(error = %e, "closing depth channel");
        }
        Ok(u64::from(q.message_count()))
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

struct AmqpSettle {
    acker: lapin::Acker,
    /// When this consumer last settled a delivery (shared by its deliveries).
    last: Arc<StdMutex<Option<Instant>>>,
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
