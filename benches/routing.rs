//! Recipients routed per second, end to end on PostgreSQL + RabbitMQ, beside the bare RabbitMQ
//! persistent-publish rate measured in the same run. `cargo bench --bench routing`
//! (scripts/bench.sh).
//!
//! `MESSAGES` messages to `RECIPIENTS` people each are stored, then their `message.recorded`
//! events published at once; the clock stops when every recipient's `notify.email` command has
//! been confirmed into its queue: the router consumed each event, read the facts, planned
//! (profile; no plugins), wrote attempts and outbox rows in one transaction, and its relay
//! published the commands.

// A benchmark reports its figures on standard output.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use hark::app::{self, App, Service};
use hark_core::{
    bus::{BusMessage, Exchange, amqp::AmqpBus, durable_queues},
    config::{Config, Secret},
    events::{Envelope, Event, Origin},
    ids::{MessageId, UserId},
    store::{messages, users},
};
use lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
};
use std::time::{Duration, Instant};

const MESSAGES: usize = 200;
const RECIPIENTS: usize = 25;

/// Bare lapin: persistent 300-byte messages, confirms awaited one by one and pipelined.
async fn bare_rabbitmq(url: &str, n: usize) -> (f64, f64) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let q = format!("bench.bare.{}", std::process::id());
    ch.queue_declare(
        q.clone().into(),
        QueueDeclareOptions::durable(),
        FieldTable::default(),
    )
    .await
    .expect("queue");
    let body = vec![b'x'; 300];
    let props = BasicProperties::default().with_delivery_mode(2);
    let t = Instant::now();
    for _ in 0..n {
        ch.basic_publish(
            "".into(),
            q.clone().into(),
            BasicPublishOptions::default(),
            &body,
            props.clone(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    }
    let one_by_one = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut confirms = Vec::with_capacity(n);
    for _ in 0..n {
        confirms.push(
            ch.basic_publish(
                "".into(),
                q.clone().into(),
                BasicPublishOptions::default(),
                &body,
                props.clone(),
            )
            .await
            .expect("publish"),
        );
    }
    for c in confirms {
        c.await.expect("confirm");
    }
    let pipelined = n as f64 / t.elapsed().as_secs_f64();
    let _ = ch
        .queue_delete(q.into(), QueueDeleteOptions::default())
        .await;
    (one_by_one, pipelined)
}

async fn routed_per_second() -> f64 {
    let db = support::PgDb::create().expect("PostgreSQL");
    let data = tempfile::tempdir().expect("temp dir");
    let ns = format!("bench{}.", std::process::id());
    let mut config = Config {
        data_dir: data.path().to_owned(),
        ..Config::default()
    };
    config.database.url = Secret::new(db.url());
    config.bus.url = Secret::new(support::amqp_url());
    config.bus.namespace = ns.clone();
    config.bus.prefetch = 64;
    config.blobs.key = Secret::new(support::hex64());
    config.links.secret = Secret::new(support::hex64());
    let app = App::build(config).await.expect("app");

    // The people and the stored messages.
    let ids: Vec<(MessageId, UserId, Vec<UserId>)> = app
        .deps
        .store
        .transaction(|c| {
            let sender = users::create(
                c,
                users::UserInsertForm {
                    extension: "100".into(),
                    ..Default::default()
                },
            )?;
            let mut people = Vec::new();
            for i in 0..RECIPIENTS {
                let u = users::create(
                    c,
                    users::UserInsertForm {
                        extension: format!("{}", 1000 + i),
                        email: Some(format!("p{i}@example.org")),
                        ..Default::default()
                    },
                )?;
                people.push(u.user_id());
            }
            let mut out = Vec::new();
            for _ in 0..MESSAGES {
                let id = MessageId::new();
                messages::create_complete(
                    c,
                    &messages::MessageInsertForm {
                        id: id.clone(),
                        sender: sender.user_id(),
                        origin: Origin::Api,
                        duration_ms: 5000,
                        blob_key: "0000-bench".into(),
                        urgent: false,
                        recipients: people.clone(),
                    },
                )?;
                out.push((id, sender.user_id(), people.clone()));
            }
            Ok(out)
        })
        .await
        .expect("seed");

    let running = app::start(&app, &[Service::Router], None)
        .await
        .expect("router");
    let events: Vec<BusMessage> = ids
        .into_iter()
        .map(|(message_id, sender_id, recipients)| {
            let e = Envelope::new(Event::MessageRecorded {
                message_id,
                sender_id,
                recipients,
                origin: Origin::Api,
                duration_ms: 5000,
                urgent: false,
            });
            BusMessage {
                id: e.id.to_string(),
                routing_key: e.body.routing_key(),
                body: serde_json::to_vec(&e).expect("json"),
            }
        })
        .collect();
    let total = (MESSAGES * RECIPIENTS) as u64;
    let started = Instant::now();
    for r in app.deps.bus.publish_batch(Exchange::Events, events).await {
        r.expect("event published");
    }
    let deadline = started + Duration::from_secs(600);
    loop {
        let depth = app
            .deps
            .bus
            .queue_depth(hark_core::channel::Channel::Email.command_key())
            .await
            .expect("depth");
        if depth >= total {
            break;
        }
        assert!(Instant::now() < deadline, "only {depth} of {total} routed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    running.shutdown.cancel();
    running.wait().await.expect("router stops");
    let bus = AmqpBus::connect(&support::amqp_url(), &ns, 1)
        .await
        .expect("bus");
    bus.delete_namespace(&durable_queues())
        .await
        .expect("cleanup");
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (one, piped) = bare_rabbitmq(&support::amqp_url(), 5_000).await;
        let routed = routed_per_second().await;
        println!(
            "routing: {MESSAGES} messages x {RECIPIENTS} recipients on PostgreSQL + RabbitMQ: {routed:.0} recipients/s"
        );
        println!("reference: bare RabbitMQ persistent publish, confirm per message: {one:.0} msg/s");
        println!("reference: bare RabbitMQ persistent publish, pipelined confirms: {piped:.0} msg/s");
    });
}
