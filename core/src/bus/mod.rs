//! The message bus: one contract, two implementations.
//!
//! [`Bus`] publishes to the four exchanges of DESIGN.md and consumes from named queues with
//! manual acknowledgement. [`memory::MemoryBus`] serves one process (the embedded default and
//! tests); [`amqp::AmqpBus`] serves a distributed deployment over RabbitMQ. Both keep the same
//! contract, checked by one test suite (`core/tests/bus_contract.rs`):
//!
//! - a publish returns only once the broker has taken responsibility (publisher confirms);
//! - publishing to `hark.commands` with no queue bound is an error ([`BusError::Unroutable`]),
//!   so a missing consumer never swallows work (AMQP `mandatory`); an event nobody listens to
//!   is not an error;
//! - deliveries are at-least-once and ordered per queue; a delivery stays owned by its consumer
//!   until acked, rejected or the consumer goes away, when it is delivered again with
//!   `redelivered` set;
//! - a message rejected without requeue, or delivered more than `delivery_limit` times, goes to
//!   the queue's dead-letter queue `<queue>.dlq` and is never silently dropped.

pub mod amqp;
pub mod consume;
pub mod memory;
pub mod outbox;

use async_trait::async_trait;
use std::{fmt, sync::Arc};

/// The exchanges of DESIGN.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exchange {
    /// `hark.events`: topic, durable; facts.
    Events,
    /// `hark.commands`: direct, durable; work for one service.
    Commands,
    /// `hark.live`: topic, transient; audio fragments.
    Live,
    /// `hark.push`: topic, transient; frames for portal nodes.
    Push,
}

impl Exchange {
    pub const ALL: [Exchange; 4] = [
        Exchange::Events,
        Exchange::Commands,
        Exchange::Live,
        Exchange::Push,
    ];

    pub fn base_name(self) -> &'static str {
        match self {
            Exchange::Events => "hark.events",
            Exchange::Commands => "hark.commands",
            Exchange::Live => "hark.live",
            Exchange::Push => "hark.push",
        }
    }

    /// Events and commands are persistent and confirmed; live and push frames are not.
    pub fn is_durable(self) -> bool {
        matches!(self, Exchange::Events | Exchange::Commands)
    }

    pub fn is_topic(self) -> bool {
        !matches!(self, Exchange::Commands)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.base_name() == name)
    }
}

/// One message as it travels: the id is the envelope's event id, repeated as the AMQP
/// `message_id` so brokers and logs can see it without parsing the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusMessage {
    pub id: String,
    pub routing_key: String,
    pub body: Vec<u8>,
}

/// How a queue behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// Survives broker restarts, replicated (a quorum queue on RabbitMQ), with a dead-letter
    /// queue.
    Durable,
    /// Lives as long as its declaring connection (a portal node's push queue).
    Transient,
}

/// A queue and what it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Base name; the bus adds its namespace.
    pub name: String,
    pub kind: QueueKind,
    pub bindings: Vec<(Exchange, String)>,
}

impl QueueSpec {
    pub fn durable(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: QueueKind::Durable,
            bindings: Vec::new(),
        }
    }

    pub fn transient(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: QueueKind::Transient,
            bindings: Vec::new(),
        }
    }

    pub fn bind(mut self, exchange: Exchange, key: impl Into<String>) -> Self {
        self.bindings.push((exchange, key.into()));
        self
    }

    /// The dead-letter queue's base name.
    pub fn dlq_name(&self) -> String {
        format!("{}.dlq", self.name)
    }
}

/// The durable topology every process declares at start-up, so no command is ever published
/// before its queue exists.
pub fn standard_topology() -> Vec<QueueSpec> {
    use crate::events::keys;
    let mut specs: Vec<QueueSpec> = keys::commands()
        .map(|k| QueueSpec::durable(k).bind(Exchange::Commands, k))
        .collect();
    specs.push(router_queue());
    specs
}

/// The IVRs' queue for message-waiting lamps: every change to someone's mailbox — a message
/// recorded for them, or `mailbox.changed` (played, which the router writes once it has marked
/// the play; deleted, restored, marked unheard). Declared by the IVRs when they start, not in
/// the [`standard_topology`]: a lamp change nobody could send is worth nothing later (an IVR
/// sets every lamp when it starts), so a deployment running no IVR keeps no such queue
/// filling up.
pub fn mwi_queue() -> QueueSpec {
    use crate::events::keys;
    QueueSpec::durable(MWI_QUEUE)
        .bind(Exchange::Events, keys::MESSAGE_RECORDED)
        .bind(Exchange::Events, keys::MAILBOX_CHANGED)
}

/// [`mwi_queue`]'s name.
pub const MWI_QUEUE: &str = "ivr.mwi";

/// Every durable queue a deployment can hold: the [`standard_topology`] and the queues services
/// declare for themselves ([`mwi_queue`]). What removing a namespace must remove.
pub fn durable_queues() -> Vec<QueueSpec> {
    let mut specs = standard_topology();
    specs.push(mwi_queue());
    specs
}

/// The router's queue: every event it acts on.
pub fn router_queue() -> QueueSpec {
    use crate::events::keys;
    QueueSpec::durable("router.events")
        .bind(Exchange::Events, keys::MESSAGE_STARTED)
        .bind(Exchange::Events, keys::MESSAGE_RECORDED)
        .bind(Exchange::Events, keys::PRESENCE_CHANGED)
        .bind(Exchange::Events, keys::MESSAGE_PLAYED)
        .bind(Exchange::Events, keys::DELIVERY_OUTCOME)
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("no queue is bound for {exchange}/{routing_key}")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("unknown queue {0}")]
    UnknownQueue(String),
    #[error("bus connection: {0}")]
    Connection(String),
    #[error("unsupported bus url {0:?} (use memory:// or amqp://…)")]
    UnsupportedUrl(String),
    #[error("the bus is closed")]
    Closed,
}

impl From<lapin::Error> for BusError {
    fn from(e: lapin::Error) -> Self {
        BusError::Connection(e.to_string())
    }
}

/// The bus contract (see the module docs).
#[async_trait]
pub trait Bus: Send + Sync + fmt::Debug + 'static {
    /// Declare a queue, its bindings and (for durable queues) its dead-letter queue.
    /// Idempotent.
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BusError>;

    /// Publish and wait for the broker's confirm.
    async fn publish(&self, exchange: Exchange, message: BusMessage) -> Result<(), BusError>;

    /// Publish several messages in order and wait for all their confirms; one result per
    /// message, in order. Brokers confirm a pipeline much faster than one message at a time.
    async fn publish_batch(
        &self,
        exchange: Exchange,
        messages: Vec<BusMessage>,
    ) -> Vec<Result<(), BusError>> {
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            out.push(self.publish(exchange, m).await);
        }
        out
    }

    /// Also route `key` on `exchange` to the declared `queue` (a portal node following a
    /// person who just connected to it). Idempotent.
    async fn bind(&self, queue: &str, exchange: Exchange, key: &str) -> Result<(), BusError>;

    /// Stop routing `key` on `exchange` to `queue`. Idempotent.
    async fn unbind(&self, queue: &str, exchange: Exchange, key: &str) -> Result<(), BusError>;

    /// Start consuming a declared queue with at most `prefetch` unacked deliveries.
    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Consumer, BusError>;

    /// Messages waiting (not delivered) in a queue; for health pages and tests.
    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError>;

    /// Is the bus connected right now? For `/readyz`: a RabbitMQ connection that is lost or
    /// recovering is not. The in-process bus always is.
    fn health(&self) -> Result<(), BusError> {
        Ok(())
    }

    /// Counts the connections the bus has made (the in-process bus: always 0). When it
    /// changes the bus reconnected, and what transient queues held meanwhile is gone: a
    /// service that keeps state from such a queue (a router's plugin set) reloads it.
    fn generation(&self) -> u64 {
        0
    }
}

/// A stream of deliveries from one queue.
pub struct Consumer {
    rx: tokio::sync::mpsc::Receiver<Delivery>,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

impl Consumer {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<Delivery>) -> Self {
        Self { rx }
    }

    /// The next delivery, or `None` once the bus has shut this consumer down.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

/// Settles one delivery with its broker.
#[async_trait]
pub(crate) trait Settle: Send + Sync {
    async fn ack(&self) -> Result<(), BusError>;
    async fn reject(&self, requeue: bool) -> Result<(), BusError>;
}

/// One delivery; it must be acked or rejected. Dropping it unsettled leaves it with the
/// broker, which redelivers it when this consumer goes away.
pub struct Delivery {
    pub message: BusMessage,
    /// True when this message was delivered before and not acked.
    pub redelivered: bool,
    settle: Arc<dyn Settle>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub(crate) fn new(message: BusMessage, redelivered: bool, settle: Arc<dyn Settle>) -> Self {
        Self {
            message,
            redelivered,
            settle,
        }
    }

    /// Done: the broker forgets it.
    pub async fn ack(self) -> Result<(), BusError> {
        self.settle.ack().await
    }

    /// Try again later (requeue) or give up (dead-letter queue).
    pub async fn reject(self, requeue: bool) -> Result<(), BusError> {
        self.settle.reject(requeue).await
    }
}

/// Open the bus named by a URL.
pub async fn connect(config: &crate::config::BusConfig) -> Result<Arc<dyn Bus>, BusError> {
    let url = config.url.expose();
    if url.starts_with("memory:") {
        Ok(Arc::new(memory::MemoryBus::new(config.delivery_limit)))
    } else if url.starts_with("amqp://") || url.starts_with("amqps://") {
        Ok(Arc::new(
            amqp::AmqpBus::connect(url, &config.namespace, config.delivery_limit).await?,
        ))
    } else {
        Err(BusError::UnsupportedUrl(url.to_owned()))
    }
}

/// Does an AMQP topic pattern (`*` one word, `#` zero or more) match a routing key?
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns_follow_amqp() {
        assert!(topic_matches("receipt.*", "receipt.u1"));
        assert!(!topic_matches("receipt.*", "receipt.u1.x"));
        assert!(topic_matches("live.#", "live"));
        assert!(topic_matches("live.#", "live.a.b"));
        assert!(topic_matches("#", "anything.at.all"));
        assert!(topic_matches("message.recorded", "message.recorded"));
        assert!(!topic_matches("message.recorded", "message.played"));
        assert!(topic_matches("*.played", "message.played"));
    }
}
