//! The slice under stress from outside: the broker restarts mid-run, and the e-mail outbox
//! folder of the embedded defaults.

mod support;

use support::{Mode, Stack, audio::sine_wav, rabbit_node::RabbitNode, recipient};

fn count_to(emails: &[support::Email], to: &str) -> usize {
    emails.iter().filter(|e| e.to == to).count()
}

/// RabbitMQ goes down after Hark has started and comes back: a message accepted while it was
/// down is stored, then delivered once the broker returns, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_survives_a_broker_restart() {
    let mut node = tokio::task::spawn_blocking(RabbitNode::start)
        .await
        .unwrap()
        .expect("a private RabbitMQ node");
    let stack = Stack::start(Mode::Distributed {
        amqp_url: node.url(),
    })
    .await;
    let alice = stack.login("101").await;

    // Before: the path works.
    let before = stack
        .send(&alice, "103", sine_wav(523.0, 1.0, 16_000))
        .await;
    stack
        .wait_receipt(&alice, &before, "103", "delivered")
        .await;

    // The broker stops; a message is accepted anyway (it waits in the outbox).
    let mut node = tokio::task::spawn_blocking(move || node.stop().map(|()| node))
        .await
        .unwrap()
        .expect("broker stops");
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 1.0, 16_000))
        .await;

    // The broker returns; the message goes through.
    let node = tokio::task::spawn_blocking(move || node.restart().map(|()| node))
        .await
        .unwrap()
        .expect("broker restarts");
    let m = stack.wait_receipt(&alice, &id, "102", "delivered").await;
    assert_eq!(recipient(&m, "102")["state"], "delivered");

    // Exactly once: a later message is the marker that everything before it was handled.
    let marker = stack
        .send(&alice, "104", sine_wav(660.0, 1.0, 16_000))
        .await;
    stack
        .wait_receipt(&alice, &marker, "104", "delivered")
        .await;
    assert_eq!(count_to(&stack.emails(), "bob@example.org"), 1);
    stack.stop().await;
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
}

/// The RabbitMQ bus on its own across a broker restart: it reconnects by itself, says it is
/// not connected while it cannot be, and restores everything it was asked for — a durable
/// queue, a private (exclusive) queue with a binding added later, their consumers — so a
/// service's consumer receives again without doing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_reconnects_and_restores_its_topology() {
    use hark_core::bus::{Bus, BusMessage, Exchange, QueueSpec, amqp::AmqpBus};
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let mut node = tokio::task::spawn_blocking(RabbitNode::start)
        .await
        .unwrap()
        .expect("a private RabbitMQ node");
    let bus = AmqpBus::connect(&node.url(), "", 5).await.unwrap();
    bus.declare(&QueueSpec::durable("work").bind(Exchange::Commands, "work"))
        .await
        .unwrap();
    bus.declare(&QueueSpec::transient("mine").bind(Exchange::Events, "always"))
        .await
        .unwrap();
    bus.bind("mine", Exchange::Push, "user.bob").await.unwrap();
    let mut work = bus.consume("work", 4).await.unwrap();
    let mut mine = bus.consume("mine", 4).await.unwrap();
    let msg = |key: &str, n: u8| BusMessage {
        id: format!("{key}-{n}"),
        routing_key: key.into(),
        body: vec![n],
    };
    bus.publish(Exchange::Push, msg("user.bob", 1))
        .await
        .unwrap();
    let d = tokio::time::timeout(support::WAIT, mine.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message.body, vec![1]);
    d.ack().await.unwrap();

    node = tokio::task::spawn_blocking(move || node.stop().map(|()| node))
        .await
        .unwrap()
        .expect("broker stops");
    support::eventually("the bus to say it is not connected", || async {
        bus.health().is_err().then_some(())
    })
    .await;
    node = tokio::task::spawn_blocking(move || node.restart().map(|()| node))
        .await
        .unwrap()
        .expect("broker restarts");
    support::eventually("the bus to reconnect by itself", || async {
        bus.health().is_ok().then_some(())
    })
    .await;
    // Everything works again through the consumers the service already held.
    bus.publish(Exchange::Commands, msg("work", 2))
        .await
        .unwrap();
    bus.publish(Exchange::Push, msg("user.bob", 3))
        .await
        .unwrap();
    bus.publish(Exchange::Events, msg("always", 4))
        .await
        .unwrap();
    let d = tokio::time::timeout(support::WAIT, work.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message.body, vec![2]);
    d.ack().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(support::WAIT, mine.next())
            .await
            .unwrap()
            .unwrap();
        got.push(d.message.body[0]);
        d.ack().await.unwrap();
    }
    got.sort_unstable();
    assert_eq!(
        got,
        vec![3, 4],
        "the private queue and its later binding are back"
    );
    drop((work, mine, bus));
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
}

/// On the embedded defaults e-mail goes to `<data_dir>/outbox` as `.eml` files, and the link
/// in them works like a sent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_defaults_write_email_to_the_outbox_folder() {
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.notifier.smtp_url = hark_core::config::Secret::new("");
    })
    .await;
    let alice = stack.login("101").await;
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 1.0, 16_000))
        .await;
    let outbox = stack.app.config.data_dir.join("outbox");
    let emails = support::wait_emails(&outbox, |e| e.len() == 1).await;
    assert_eq!(emails[0].to, "bob@example.org");
    assert!(stack.emails().is_empty(), "nothing went to SMTP");
    let audio = stack
        .http
        .get(format!("{}/audio", emails[0].link()))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    stack.wait_receipt(&alice, &id, "102", "heard").await;
    stack.stop().await;
}

/// A person opens the e-mailed link in a real browser (headless Chromium) and the message
/// plays; the sender's receipt then says "heard".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_plays_in_a_real_browser() {
    let stack = Stack::start(Mode::Embedded).await;
    let alice = stack.login("101").await;
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 1.0, 16_000))
        .await;
    let emails = stack.wait_emails(|e| e.len() == 1).await;
    let link = emails[0].link();
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        support::WAIT,
        tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("{link}#play"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes")
    .expect("chromium runs (installed by scripts/test.sh)");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains(r#"data-state="playing""#) || dom.contains(r#"data-state="ended""#),
        "the page did not play: {dom}"
    );
    assert!(dom.contains("Voice message from Alice Archer"));
    let m = stack.wait_receipt(&alice, &id, "102", "heard").await;
    assert_eq!(recipient(&m, "102")["state"], "played");
    stack.stop().await;
}

/// A notifier is killed (kill -9, as far as a process can do it to its own tasks) while the
/// mail relay is slowly accepting a batch of e-mails; another takes over. Every message
/// reaches Bob, and none twice as he sees it: a send the first notifier could not record (one
/// of those in flight) is sent again with the same Message-ID, which mail programs show once.
/// Both modes.
async fn a_notifier_killed_mid_send(mode: Mode) {
    use hark::app::Service;
    use std::collections::HashSet;
    const N: usize = 12;
    let mut stack = Stack::start_only(mode, &[Service::Router, Service::Portal]).await;
    stack.start_more(&[Service::Notifier]).await;
    stack.smtp.slow_down(0.3);
    let alice = stack.login("101").await;
    let mut ids = Vec::new();
    for _ in 0..N {
        ids.push(
            stack
                .send(&alice, "102", sine_wav(440.0, 0.3, 16_000))
                .await,
        );
    }
    // Kill it while e-mails are going out.
    stack
        .wait_emails(|e| count_to(e, "bob@example.org") >= 2)
        .await;
    stack.crash_more().await;
    let before = count_to(&stack.emails(), "bob@example.org");
    assert!(before < N, "the kill came mid-batch ({before} of {N} sent)");
    stack.smtp.slow_down(0.0);
    stack.start_more(&[Service::Notifier]).await;
    let emails = stack
        .wait_emails(|e| {
            e.iter()
                .filter(|m| m.to == "bob@example.org")
                .map(|m| m.message_id.as_str())
                .collect::<HashSet<_>>()
                .len()
                == N
        })
        .await;
    let to_bob: Vec<_> = emails
        .iter()
        .filter(|m| m.to == "bob@example.org")
        .collect();
    let distinct: HashSet<&str> = to_bob.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(distinct.len(), N, "every message, once as Bob sees it");
    let in_flight = usize::from(stack.app.config.notifier.email_concurrency);
    assert!(
        to_bob.len() <= N + in_flight,
        "at most the sends in flight at the kill went twice ({} e-mails)",
        to_bob.len()
    );
    for id in &ids {
        let m = stack.wait_receipt(&alice, id, "102", "delivered").await;
        let delivered = recipient(&m, "102")["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "delivered")
            .count();
        assert_eq!(delivered, 1, "one delivered receipt for {id}");
    }
    stack.stop().await;
}

support::both_modes!(a_notifier_killed_mid_send);
