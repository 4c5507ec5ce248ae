//! The RabbitMQ bus (lapin).
//!
//! One connection with lapin's automatic recovery: after a broker restart or a dropped socket
//! lapin reconnects and replays exchanges, queues, bindings, consumers, QoS and confirm mode.
//! Publishing waits for the broker's confirm and sets `mandatory` on commands, so an
//! unroutable command is an error instead of a silent drop. Durable queues are quorum queues with a delivery limit
//! and a dead-letter queue reached through the `hark.dlx` exchange. Every name carries the
//! configured namespace, so several deployments (or test runs) can share one broker.

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
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, mpsc};

/// How long a publish or declare waits for lapin to finish recovering a lost connection before
/// reporting the failure to its caller (the outbox relay then retries).
const RECOVERY_WAIT: Duration = Duration::from_secs(30);

/// How long a consumer's channel stays open after its last ack before it is closed.
///
/// RabbitMQ (3.10 here) applies acks on a quorum queue asynchronously: with more than a few
/// dozen settles in flight, the channel holds the rest back until earlier ones are applied,
/// and closing the channel drops what it held back — the broker then redelivers messages the
/// consumer had acked. Idempotent consumers absorb that, but a clean stop should not cause
/// it, so a consumer that acked recently lingers this long (it cannot see when the broker is
/// done; this covers a loaded two-core machine with room to spare).
const ACK_LINGER: Duration = Duration::from_secs(1);

pub struct AmqpBus {
    connection: Connection,
    /// Confirm-mode channel for publishing and declaring; a mutex keeps confirms in order.
    channel: Mutex<Channel>,
    namespace: String,
    delivery_limit: u32,
}

impl fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpBus")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl AmqpBus {
    pub async fn connect(
        url: &str,
        namespace: &str,
        delivery_limit: u32,
    ) -> Result<Self, BusError> {
        let props = ConnectionProperties::default()
            .with_connection_name("hark".into())
            .enable_auto_recover()
            .configure_backoff(|b| {
                b.with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .without_max_times()
            });
        let connection = Connection::connect(url, props).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let bus = Self {
            connection,
            channel: Mutex::new(channel),
            namespace: namespace.to_owned(),
            delivery_limit: delivery_limit.max(1),
        };
        bus.declare_exchanges().await?;
        Ok(bus)
    }

    fn name(&self, base: &str) -> String {
        format!("{}{}", self.namespace, base)
    }

    fn exchange_name(&self, exchange: Exchange) -> String {
        self.name(exchange.base_name())
    }

    fn dlx_name(&self) -> String {
        self.name("hark.dlx")
    }

    async fn declare_exchanges(&self) -> Result<(), BusError> {
        let ch = self.channel.lock().await;
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

    /// Delete the given queues (with their dead-letter queues) and this namespace's
    /// exchanges. For tests that share a broker; never called by the product.
    pub async fn delete_namespace(&self, queues: &[QueueSpec]) -> Result<(), BusError> {
        let ch = self.channel.lock().await;
        for q in queues {
            for name in [self.name(&q.name), self.name(&q.dlq_name())] {
                ch.queue_delete(name.into(), QueueDeleteOptions::default())
                    .await?;
            }
        }
        for ex in Exchange::ALL {
            ch.exchange_delete(
                self.exchange_name(ex).into(),
                ExchangeDeleteOptions::default(),
            )
            .await?;
        }
        ch.exchange_delete(self.dlx_name().into(), ExchangeDeleteOptions::default())
            .await?;
        Ok(())
    }

    /// On a recoverable error wait (bounded) for lapin's recovery, then report the error.
    async fn recover(&self, channel: &Channel, err: lapin::Error) -> BusError {
        let shown = BusError::from(err.clone());
        match tokio::time::timeout(RECOVERY_WAIT, channel.wait_for_recovery(err)).await {
            Ok(Ok(())) => tracing::info!("bus connection recovered"),
            Ok(Err(e)) => tracing::warn!(error = %e, "bus connection not recoverable"),
            Err(_) => tracing::warn!("bus connection still recovering"),
        }
        shown
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
            self.exchange_name(exchange).into(),
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
                    exchange: self.exchange_name(exchange),
                    routing_key: routing_key.to_owned(),
                })
            }
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
        }
    }

    async fn try_publish(
        &self,
        ch: &Channel,
        exchange: Exchange,
        message: &BusMessage,
    ) -> Result<Confirmation, lapin::Error> {
        self.send(ch, exchange, message).await?.await
    }
}

#[async_trait]
impl Bus for AmqpBus {
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BusError> {
        let ch = self.channel.lock().await;
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
            ch.queue_bind(
                name.clone().into(),
                self.exchange_name(*exchange).into(),
                key.clone().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        }
        Ok(())
    }

    async fn publish(&self, exchange: Exchange, message: BusMessage) -> Result<(), BusError> {
        let ch = self.channel.lock().await;
        let confirmation = match self.try_publish(&ch, exchange, &message).await {
            Ok(c) => c,
            Err(e) => return Err(self.recover(&ch, e).await),
        };
        self.settle(exchange, &message.routing_key, confirmation)
    }

    async fn publish_batch(
        &self,
        exchange: Exchange,
        messages: Vec<BusMessage>,
    ) -> Vec<Result<(), BusError>> {
        // Send all in order while holding the channel, then await the confirms together.
        let mut pending = Vec::with_capacity(messages.len());
        {
            let ch = self.channel.lock().await;
            for m in &messages {
                match self.send(&ch, exchange, m).await {
                    Ok(confirm) => pending.push(Ok(confirm)),
                    Err(e) => {
                        // The channel is gone: the rest cannot go now either.
                        let err = self.recover(&ch, e).await;
                        pending.push(Err(err));
                        break;
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(messages.len());
        for (m, p) in messages.iter().zip(pending) {
            out.push(match p {
                Ok(confirm) => match confirm.await {
                    Ok(c) => self.settle(exchange, &m.routing_key, c),
                    Err(e) => Err(BusError::from(e)),
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
        let ch = self.channel.lock().await;
        ch.queue_bind(
            self.name(queue).into(),
            self.exchange_name(exchange).into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        Ok(())
    }

    async fn unbind(&self, queue: &str, exchange: Exchange, key: &str) -> Result<(), BusError> {
        let ch = self.channel.lock().await;
        ch.queue_unbind(
            self.name(queue).into(),
            self.exchange_name(exchange).into(),
            key.into(),
            FieldTable::default(),
        )
        .await?;
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Consumer, BusError> {
        let channel = self.connection.create_channel().await?;
        channel
            .basic_qos(prefetch.max(1), BasicQosOptions::default())
            .await?;
        let mut stream = channel
            .basic_consume(
                self.name(queue).into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let (tx, rx) = mpsc::channel(usize::from(prefetch.max(1)));
        let last_settle = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let settled = last_settle.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    n = stream.next() => n,
                    _ = tx.closed() => break,
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
                            last: settled.clone(),
                        });
                        if tx
                            .send(Delivery::new(message, d.redelivered, settle))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        if let Err(e) = channel.wait_for_recovery(e).await {
                            tracing::error!(error = %e, "consumer lost and not recoverable");
                            break;
                        }
                    }
                    None => break,
                }
            }
            // Give the broker time to apply recent acks (see ACK_LINGER), then close: closing
            // hands unacked deliveries back to the broker.
            let last = *last_settle.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(wait) = last.and_then(|t| ACK_LINGER.checked_sub(t.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            if let Err(e) = channel.close(200, "consumer done".into()).await {
                tracing::debug!(error = %e, "closing consumer channel");
            }
        });
        Ok(Consumer::new(rx))
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        // A passive declare of a missing queue closes its channel: use a throwaway one.
        let ch = self.connection.create_channel().await?;
        let q = ch
            .queue_declare(
                self.name(queue).into(),
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

    fn health(&self) -> Result<(), BusError> {
        let status = self.connection.status();
        if status.connected() {
            Ok(())
        } else if status.reconnecting() || status.connecting() {
            Err(BusError::Connection("reconnecting to the broker".into()))
        } else {
            Err(BusError::Connection("not connected to the broker".into()))
        }
    }
}

struct AmqpSettle {
    acker: lapin::Acker,
    /// When this consumer last settled a delivery (shared by its deliveries).
    last: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl AmqpSettle {
    fn settled(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
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
