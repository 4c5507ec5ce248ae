//! Plan latency with one plugin, beside the bare RabbitMQ persistent-publish rate measured in
//! the same run. `cargo bench -p hark-router --bench plan_latency` (scripts/bench.sh).
//!
//! A call is what the router pays per recipient per plugin: a fresh store (WASI context,
//! limits, fuel, deadline), instantiation from the `InstancePre`, `plan`, and the host's check
//! of the result.

// A benchmark reports its figures on standard output.
#![allow(clippy::print_stdout)]

use hark_router::plugins::{Limits, PlanInput, PluginHost};
use lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
};
use std::time::{Duration, Instant};

const CALLS: usize = 20_000;
const PUBLISHES: usize = 5_000;

fn input() -> PlanInput {
    PlanInput {
        message_id: "bench".into(),
        sender_extension: "101".into(),
        sender_name: "Alice Archer".into(),
        origin: "phone".into(),
        duration_ms: 8_000,
        urgent: false,
        recording: false,
        recipient_id: "u-102".into(),
        extension: "102".into(),
        timezone: "Europe/Paris".into(),
        presence: "available".into(),
        phone_registered: false,
        endpoints: vec![
            ("email".into(), "email".into(), true),
            ("phone".into(), "callback".into(), true),
        ],
        profile: vec![("email".into(), 0), ("callback".into(), 600)],
        now_unix_ms: 1_767_225_600_000,
        local_minute_of_day: 600,
        local_weekday: 2,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn plan_latency(path: &str) -> (Duration, Duration, Duration) {
    let host = PluginHost::new(Limits::default()).expect("engine");
    let plugin = host
        .load(&hark_test_plugins::bytes(path), "")
        .expect("plugin loads");
    let input = input();
    for _ in 0..1_000 {
        host.plan_blocking(&plugin, &input).expect("plans");
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        host.plan_blocking(&plugin, &input).expect("plans");
        times.push(t.elapsed());
    }
    let mean = times.iter().sum::<Duration>() / CALLS as u32;
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99), mean)
}

/// Persistent messages with publisher confirms, one at a time, as the outbox relay publishes.
async fn bare_rabbitmq_rate(url: &str) -> f64 {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ reachable");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let queue = format!("bench.{}", std::process::id());
    ch.queue_declare(
        queue.clone().into(),
        QueueDeclareOptions::durable(),
        FieldTable::default(),
    )
    .await
    .expect("queue");
    let body = vec![b'x'; 300];
    let started = Instant::now();
    for _ in 0..PUBLISHES {
        ch.basic_publish(
            "".into(),
            queue.clone().into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    }
    let rate = PUBLISHES as f64 / started.elapsed().as_secs_f64();
    let _ = ch
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    rate
}

fn main() {
    let url = std::env::var("HARK_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    println!("plan latency, {CALLS} calls each (fresh store + instantiate + plan + check):");
    for (name, path) in [
        ("template (pass)", hark_test_plugins::TEMPLATE),
        ("presence-first", hark_test_plugins::PRESENCE_FIRST),
        ("business-hours", hark_test_plugins::BUSINESS_HOURS),
    ] {
        let (p50, p99, mean) = plan_latency(path);
        println!(
            "  {name:<18} p50 {:>7.1} µs   p99 {:>7.1} µs   mean {:>7.1} µs",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            mean.as_secs_f64() * 1e6
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rate = runtime.block_on(bare_rabbitmq_rate(&url));
    println!(
        "reference: bare RabbitMQ persistent publish with confirm, one at a time: {rate:.0} msg/s"
    );
}
