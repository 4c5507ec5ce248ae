//! What the bus declared, kept to declare again on a new connection: exchanges, queues
//! with their dead-letter queues, bindings.

use crate::bus::{BusError, Delivery, Exchange, QueueKind, QueueSpec};
use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex as StdMutex},
    time::Instant,
};
use tokio::sync::mpsc;

/// A binding by full names: queue, exchange, routing key.
pub(super) type Bindings = BTreeSet<(String, String, String)>;

/// Everything to declare again on a new connection.
#[derive(Default)]
pub(super) struct Topology {
    pub(super) queues: Vec<QueueSpec>,
    /// Bindings added with [`Bus::bind`] (and not unbound since), by full names.
    pub(super) bindings: Bindings,
    pub(super) consumers: Vec<Arc<ConsumerEntry>>,
    pub(super) next_consumer: u64,
    /// Bumped by every change to queues or bindings, so a reconnection that was restoring
    /// an older picture sees it must catch up before it hands the connection out.
    pub(super) version: u64,
}

impl Topology {
    /// Forget consumers their services dropped, and private queues no consumer uses now
    /// (declared again on every reconnection, they would only collect messages).
    pub(super) fn prune(&mut self) {
        self.consumers.retain(|c| !c.tx.is_closed());
        let used: Vec<String> = self.consumers.iter().map(|c| c.queue.clone()).collect();
        self.queues
            .retain(|q| q.kind == QueueKind::Durable || used.contains(&q.name));
    }
}

/// A consumer as its service sees it: the sending end of its [`Consumer`].
pub(super) struct ConsumerEntry {
    pub(super) id: u64,
    pub(super) queue: String,
    pub(super) prefetch: u16,
    pub(super) tx: mpsc::Sender<Delivery>,
    /// When it last settled a delivery (shared by its deliveries), for `ACK_LINGER`.
    pub(super) last_settle: Arc<StdMutex<Option<Instant>>>,
}

/// What a new connection was given: its bindings and the topology version they came from.
pub(super) struct Restored {
    pub(super) channel: Channel,
    pub(super) bindings: Bindings,
    pub(super) version: u64,
}

/// Full names in this deployment's namespace, and how its queues are declared.
pub(super) struct Names {
    pub(super) namespace: String,
    /// Deliveries of one message before it goes to its dead-letter queue.
    pub(super) delivery_limit: u32,
}

impl Names {
    pub(super) fn name(&self, base: &str) -> String {
        format!("{}{}", self.namespace, base)
    }

    pub(super) fn exchange_name(&self, exchange: Exchange) -> String {
        self.name(exchange.base_name())
    }

    pub(super) fn dlx_name(&self) -> String {
        self.name("hark.dlx")
    }

    pub(super) async fn declare_exchanges(&self, ch: &Channel) -> Result<(), BusError> {
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

    pub(super) async fn declare_on(&self, ch: &Channel, spec: &QueueSpec) -> Result<(), BusError> {
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
}

pub(super) async fn bind_on(
    ch: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), BusError> {
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
