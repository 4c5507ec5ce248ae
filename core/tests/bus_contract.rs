//! One contract, two buses: every case runs against the in-process bus and against the real
//! RabbitMQ on 127.0.0.1:5672 (`HARK_TEST_AMQP_URL` overrides), each RabbitMQ case in its own
//! namespace of exchanges and queues, deleted afterwards.

use hark_core::bus::{
    Bus, BusError, BusMessage, Consumer, Delivery, Exchange, QueueSpec, amqp::AmqpBus,
    memory::MemoryBus,
};
use std::{sync::Arc, time::Duration};

const WAIT: Duration = Duration::from_secs(20);
const LIMIT: u32 = 3;

struct Harness {
    bus: Arc<dyn Bus>,
    amqp: Option<Arc<AmqpBus>>,
    declared: Vec<QueueSpec>,
}

impl Harness {
    fn memory() -> Self {
        Self {
            bus: Arc::new(MemoryBus::new(LIMIT)),
            amqp: None,
            declared: Vec::new(),
        }
    }

    async fn amqp() -> Self {
        let url = std::env::var("HARK_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        let ns = format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let bus = Arc::new(
            AmqpBus::connect(&url, &ns, LIMIT)
                .await
                .expect("RabbitMQ reachable"),
        );
        Self {
            bus: bus.clone(),
            amqp: Some(bus),
            declared: Vec::new(),
        }
    }

    async fn declare(&mut self, spec: QueueSpec) {
        self.bus.declare(&spec).await.unwrap();
        self.declared.push(spec);
    }

    async fn cleanup(self) {
        if let Some(a) = self.amqp {
            a.delete_namespace(&self.declared).await.unwrap();
        }
    }
}

fn msg(key: &str, n: usize) -> BusMessage {
    BusMessage {
        id: format!("id-{n}"),
        routing_key: key.into(),
        body: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

async fn next(c: &mut Consumer) -> Delivery {
    tokio::time::timeout(WAIT, c.next())
        .await
        .expect("a delivery within the timeout")
        .expect("consumer open")
}

/// Wait (bounded) until a queue holds `n` ready messages.
async fn wait_depth(bus: &dyn Bus, queue: &str, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let d = bus.queue_depth(queue).await.unwrap();
        if d == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queue} depth {d}, wanted {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn routes_in_order(mut h: Harness) {
    h.declare(QueueSpec::durable("q").bind(Exchange::Events, "message.recorded"))
        .await;
    for n in 0..20 {
        h.bus
            .publish(Exchange::Events, msg("message.recorded", n))
            .await
            .unwrap();
    }
    let mut c = h.bus.consume("q", 50).await.unwrap();
    for n in 0..20 {
        let d = next(&mut c).await;
        assert_eq!(d.message, msg("message.recorded", n));
        assert!(!d.redelivered);
        d.ack().await.unwrap();
    }
    drop(c);
    wait_depth(h.bus.as_ref(), "q", 0).await;
    h.cleanup().await;
}

async fn topics_route_by_pattern(mut h: Harness) {
    h.declare(QueueSpec::durable("receipts").bind(Exchange::Events, "receipt.*"))
        .await;
    h.bus
        .publish(Exchange::Events, msg("message.recorded", 1))
        .await
        .unwrap();
    h.bus
        .publish(Exchange::Events, msg("receipt.u1", 2))
        .await
        .unwrap();
    let mut c = h.bus.consume("receipts", 10).await.unwrap();
    let d = next(&mut c).await;
    assert_eq!(d.message.routing_key, "receipt.u1");
    d.ack().await.unwrap();
    drop(c);
    wait_depth(h.bus.as_ref(), "receipts", 0).await;
    h.cleanup().await;
}

async fn unroutable_commands_are_errors(mut h: Harness) {
    // An event nobody listens to is fine; a command nobody will do is an error.
    h.bus
        .publish(Exchange::Events, msg("presence.changed", 1))
        .await
        .unwrap();
    let err = h
        .bus
        .publish(Exchange::Commands, msg("notify.email", 1))
        .await;
    assert!(matches!(err, Err(BusError::Unroutable { .. })), "{err:?}");
    h.declare(QueueSpec::durable("notify.email").bind(Exchange::Commands, "notify.email"))
        .await;
    h.bus
        .publish(Exchange::Commands, msg("notify.email", 2))
        .await
        .unwrap();
    wait_depth(h.bus.as_ref(), "notify.email", 1).await;
    h.cleanup().await;
}

async fn missing_queues_are_errors(mut h: Harness) {
    // Consuming or measuring a queue nobody declared is an error, not a silent wait; the bus
    // is still usable after the refusals. (No consumer is left on the queue: RabbitMQ 3.10
    // crashes a channel whose consumer's queue is deleted under it, which would end this
    // test's clean-up connection.)
    let err = h.bus.consume("nowhere", 1).await.map(|_| ());
    assert!(matches!(err, Err(BusError::UnknownQueue(_))), "{err:?}");
    let err = h.bus.queue_depth("nowhere").await;
    assert!(matches!(err, Err(BusError::UnknownQueue(_))), "{err:?}");
    h.declare(QueueSpec::durable("nowhere")).await;
    assert_eq!(h.bus.queue_depth("nowhere").await.unwrap(), 0);
    h.cleanup().await;
}

async fn unacked_deliveries_come_back(mut h: Harness) {
    h.declare(QueueSpec::durable("q").bind(Exchange::Events, "k"))
        .await;
    h.bus.publish(Exchange::Events, msg("k", 1)).await.unwrap();
    let mut c = h.bus.consume("q", 10).await.unwrap();
    let first = next(&mut c).await;
    assert!(!first.redelivered);
    // The consumer goes away (a crash) without settling.
    drop(first);
    drop(c);
    let mut c = h.bus.consume("q", 10).await.unwrap();
    let again = next(&mut c).await;
    assert_eq!(again.message, msg("k", 1));
    assert!(again.redelivered);
    again.ack().await.unwrap();
    drop(c);
    wait_depth(h.bus.as_ref(), "q", 0).await;
    h.cleanup().await;
}

async fn rejected_and_exhausted_go_to_dead_letters(mut h: Harness) {
    let spec = QueueSpec::durable("q").bind(Exchange::Events, "k");
    let dlq = spec.dlq_name();
    h.declare(spec).await;
    h.bus.publish(Exchange::Events, msg("k", 1)).await.unwrap();
    h.bus.publish(Exchange::Events, msg("k", 2)).await.unwrap();
    let mut c = h.bus.consume("q", 10).await.unwrap();
    // Poison: straight to the dead-letter queue.
    let d = next(&mut c).await;
    assert_eq!(d.message.id, "id-1");
    d.reject(false).await.unwrap();
    // Keeps failing: requeued until the delivery limit, then dead-lettered.
    let mut seen = 0;
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(3), c.next()).await {
        assert_eq!(d.message.id, "id-2");
        seen += 1;
        assert!(seen <= LIMIT as usize + 1, "delivered {seen} times");
        d.reject(true).await.unwrap();
    }
    assert!(seen >= LIMIT as usize, "delivered only {seen} times");
    drop(c);
    wait_depth(h.bus.as_ref(), &dlq, 2).await;
    let mut dead = h.bus.consume(&dlq, 10).await.unwrap();
    let mut ids = [next(&mut dead).await, next(&mut dead).await]
        .into_iter()
        .map(|d| d.message.id)
        .collect::<Vec<_>>();
    ids.sort();
    assert_eq!(ids, ["id-1", "id-2"]);
    drop(dead);
    h.cleanup().await;
}

async fn prefetch_bounds_unacked(mut h: Harness) {
    h.declare(QueueSpec::durable("q").bind(Exchange::Events, "k"))
        .await;
    for n in 0..5 {
        h.bus.publish(Exchange::Events, msg("k", n)).await.unwrap();
    }
    let mut c = h.bus.consume("q", 2).await.unwrap();
    let a = next(&mut c).await;
    let _b = next(&mut c).await;
    // Two held unacked: the other three stay ready in the queue.
    wait_depth(h.bus.as_ref(), "q", 3).await;
    a.ack().await.unwrap();
    wait_depth(h.bus.as_ref(), "q", 2).await;
    drop(c);
    h.cleanup().await;
}

async fn batches_keep_order_and_report_each(mut h: Harness) {
    h.declare(QueueSpec::durable("q").bind(Exchange::Events, "k"))
        .await;
    let batch: Vec<BusMessage> = (0..50).map(|n| msg("k", n)).collect();
    let results = h.bus.publish_batch(Exchange::Events, batch).await;
    assert_eq!(results.len(), 50);
    assert!(results.iter().all(Result::is_ok));
    let mut c = h.bus.consume("q", 100).await.unwrap();
    for n in 0..50 {
        let d = next(&mut c).await;
        assert_eq!(d.message, msg("k", n));
        d.ack().await.unwrap();
    }
    drop(c);
    // Commands with no queue: every one reported, none silently dropped.
    let results = h
        .bus
        .publish_batch(
            Exchange::Commands,
            vec![msg("nobody.1", 1), msg("nobody.2", 2)],
        )
        .await;
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(BusError::Unroutable { .. }))),
        "{results:?}"
    );
    wait_depth(h.bus.as_ref(), "q", 0).await;
    h.cleanup().await;
}

async fn bindings_follow_people(mut h: Harness) {
    h.declare(QueueSpec::transient("node")).await;
    h.bus
        .publish(Exchange::Push, msg("user.a", 0))
        .await
        .unwrap();
    h.bus.bind("node", Exchange::Push, "user.a").await.unwrap();
    h.bus.bind("node", Exchange::Push, "user.a").await.unwrap();
    h.bus
        .publish(Exchange::Push, msg("user.a", 1))
        .await
        .unwrap();
    h.bus
        .publish(Exchange::Push, msg("user.b", 2))
        .await
        .unwrap();
    let mut c = h.bus.consume("node", 10).await.unwrap();
    let d = next(&mut c).await;
    assert_eq!(
        d.message,
        msg("user.a", 1),
        "bound once, however often asked"
    );
    d.ack().await.unwrap();
    h.bus
        .unbind("node", Exchange::Push, "user.a")
        .await
        .unwrap();
    h.bus.bind("node", Exchange::Push, "user.b").await.unwrap();
    h.bus
        .publish(Exchange::Push, msg("user.a", 3))
        .await
        .unwrap();
    h.bus
        .publish(Exchange::Push, msg("user.b", 4))
        .await
        .unwrap();
    let d = next(&mut c).await;
    assert_eq!(d.message, msg("user.b", 4), "unbound keys no longer arrive");
    d.ack().await.unwrap();
    drop(c);
    h.cleanup().await;
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Harness::memory()).await;
            })*
        }
        mod rabbitmq {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Harness::amqp().await).await;
            })*
        }
    };
}

contract!(
    routes_in_order,
    topics_route_by_pattern,
    unroutable_commands_are_errors,
    missing_queues_are_errors,
    unacked_deliveries_come_back,
    rejected_and_exhausted_go_to_dead_letters,
    prefetch_bounds_unacked,
    batches_keep_order_and_report_each,
    bindings_follow_people,
);
