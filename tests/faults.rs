//! Faults in a running cluster, each while a stream of 500 messages flows.
//!
//! The cluster is real processes: two portals, two routers and two notifiers on one
//! PostgreSQL database and one RabbitMQ namespace, with a real SMTP server. Alice (101) sends
//! 500 messages to Bob (102) and Carol (103), whose profiles ask for a pop-up and an e-mail at
//! once; Bob and Carol each have a portal tab open (on different portals). During the stream
//! one thing fails — a process killed with SIGKILL, the broker or the database stopped and
//! started again, the mail relay down for a minute — and afterwards every recipient must have
//! seen every message exactly once as a person sees it: one e-mail (by Message-ID), one pop-up,
//! one "delivered" receipt to Alice, and Alice's stream must have made exactly 500 messages
//! (uploads that failed were sent again with the same Idempotency-Key).
//!
//! Each test prints a `FAULT …` line with what was sent, delivered, duplicated and lost and how
//! long the system took to catch up; docs/RELIABILITY.md records them.

mod support;

use std::time::{Duration, SystemTime};
use support::{
    cluster::{Cluster, Database},
    pg_server::PgServer,
    rabbit_node::RabbitNode,
    traffic::{Accepted, Stream, Tab, Tally, api_token, tally},
};

/// Messages per fault test.
const MESSAGES: usize = 500;
/// Pop-up and e-mail at once.
const STEPS: &str = r#"[{"channel": "popup"}, {"channel": "email"}]"#;
/// How long the system may take to catch up after the stream ends.
const SETTLE: Duration = Duration::from_secs(240);
/// Messages a second: what this cluster (debug build, eight processes, two cores) carries
/// without falling behind, so delays measure the fault, not a backlog.
const RATE: f64 = 20.0;

/// One fault test at a time: each runs a whole cluster, and two at once on two cores would
/// measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Scenario {
    cluster: Cluster,
    bob: Tab,
    carol: Tab,
    token: String,
}

/// Two of each service but the IVR, profiles set, both recipients' tabs open.
async fn scenario(cluster: Cluster) -> Scenario {
    let mut cluster = cluster;
    cluster.set_profile("102", STEPS).await;
    cluster.set_profile("103", STEPS).await;
    for service in [
        "portal", "portal", "router", "router", "notifier", "notifier",
    ] {
        cluster.spawn(service).await.expect("a service starts");
    }
    let portals = cluster.portals();
    let mut other = portals.clone();
    other.rotate_left(1);
    let bob = Tab::open(portals.clone(), "102").await.expect("Bob's tab");
    let carol = Tab::open(other, "103").await.expect("Carol's tab");
    let token = api_token(&cluster.http, &portals, "101")
        .await
        .expect("Alice's token");
    Scenario {
        cluster,
        bob,
        carol,
        token,
    }
}

impl Scenario {
    fn stream(&self, per_second: f64) -> Stream {
        Stream::start(
            self.cluster.portals(),
            self.token.clone(),
            "102,103",
            MESSAGES,
            per_second,
            8,
        )
    }

    async fn tally(&self, accepted: &[Accepted]) -> Tally {
        tally(
            &self.cluster,
            "101",
            accepted,
            &[&self.bob, &self.carol],
            SETTLE,
        )
        .await
        .expect("the cluster can be counted")
    }

    async fn finish(self) {
        self.bob.close().await;
        self.carol.close().await;
        self.cluster.stop().await;
    }
}

/// Print the result line and keep it for docs/RELIABILITY.md.
fn report(fault: &str, t: &Tally, recovered: Duration, retries: usize) {
    let line = format!("{} (upload retries {retries})", t.line(fault, recovered));
    eprintln!("{line}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{}.txt", fault.replace(' ', "-"))), line);
}

async fn on_shared_broker() -> Scenario {
    scenario(Cluster::new(&support::amqp_url()).await.expect("a cluster")).await
}

/// The reference: the same stream with nothing failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_fault_reference() {
    let _one = ONE_AT_A_TIME.lock().await;
    let s = on_shared_broker().await;
    let stream = s.stream(RATE);
    let accepted = stream.finish().await.expect("every message accepted");
    let t = s.tally(&accepted).await;
    report("none (reference)", &t, Duration::ZERO, 0);
    t.assert_exactly_once();
    s.finish().await;
}

/// A router dies mid-stream: what it had not acknowledged goes to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_killed_with_sigkill() {
    let _one = ONE_AT_A_TIME.lock().await;
    kill_one("router", "router killed").await;
}

/// A notifier dies mid-stream, e-mails and pop-ups in hand: the other takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notifier_killed_with_sigkill() {
    let _one = ONE_AT_A_TIME.lock().await;
    kill_one("notifier", "notifier killed").await;
}

/// A portal dies mid-stream: uploads in flight are sent again to the other portal, Carol's tab
/// moves there and gets the pop-ups it had not yet seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_portal_killed_with_sigkill() {
    let _one = ONE_AT_A_TIME.lock().await;
    kill_one("portal", "portal killed").await;
}

async fn kill_one(service: &str, fault: &str) {
    let mut s = on_shared_broker().await;
    let stream = s.stream(RATE);
    stream.wait_accepted(MESSAGES / 3).await;
    // The second one: Carol's tab is on the second portal.
    let victim = s.cluster.of(service)[1];
    let at = SystemTime::now();
    s.cluster.kill9(victim).await;
    let retries = stream.retries.clone();
    let accepted = stream.finish().await.expect("every message accepted");
    let t = s.tally(&accepted).await;
    report(
        fault,
        &t,
        t.recovered_after(&accepted, at),
        retries.load(std::sync::atomic::Ordering::Relaxed),
    );
    t.assert_exactly_once();
    s.finish().await;
}

/// RabbitMQ stops while messages flow and comes back: uploads are still accepted (they wait in
/// the outbox), every service reconnects by itself, and nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_stopped_and_restarted() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut node = tokio::task::spawn_blocking(RabbitNode::start)
        .await
        .unwrap()
        .expect("a private RabbitMQ node");
    let s = scenario(Cluster::new(&node.url()).await.expect("a cluster")).await;
    let stream = s.stream(RATE);
    stream.wait_accepted(MESSAGES / 4).await;
    let mut node = tokio::task::spawn_blocking(move || node.stop().map(|()| node))
        .await
        .unwrap()
        .expect("the broker stops");
    // While it is down, every process says it is not ready.
    for i in 0..s.cluster.procs.len() {
        support::eventually("readiness to see the broker gone", || async {
            let (status, body) = s.cluster.readyz(i).await.ok()?;
            (status == 503 && body.contains("bus unavailable")).then_some(())
        })
        .await;
    }
    // Down while another 150 messages are accepted.
    stream.wait_accepted(MESSAGES / 4 + 150).await;
    let node = tokio::task::spawn_blocking(move || node.restart().map(|()| node))
        .await
        .unwrap()
        .expect("the broker restarts");
    let back = SystemTime::now();
    // Every process reconnects by itself and says so.
    for i in 0..s.cluster.procs.len() {
        support::eventually("readiness to come back with the broker", || async {
            let (status, _) = s.cluster.readyz(i).await.ok()?;
            (status == 200).then_some(())
        })
        .await;
    }
    let retries = stream.retries.clone();
    let accepted = stream.finish().await.expect("every message accepted");
    let t = s.tally(&accepted).await;
    report(
        "rabbitmq restarted",
        &t,
        t.recovered_after(&accepted, back),
        retries.load(std::sync::atomic::Ordering::Relaxed),
    );
    t.assert_exactly_once();
    s.finish().await;
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
}

/// PostgreSQL stops while messages flow and comes back: uploads get 503 and are sent again,
/// deliveries in hand wait for the database instead of being dead-lettered, readiness says
/// so, and nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_stopped_and_restarted() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut pg = tokio::task::spawn_blocking(PgServer::start)
        .await
        .unwrap()
        .expect("a private PostgreSQL");
    let s = scenario(
        Cluster::with_database(Database::Url(pg.url()), &support::amqp_url())
            .await
            .expect("a cluster"),
    )
    .await;
    let stream = s.stream(RATE);
    stream.wait_accepted(MESSAGES / 4).await;
    let mut pg = tokio::task::spawn_blocking(move || pg.stop().map(|()| pg))
        .await
        .unwrap()
        .expect("the database stops");
    // While it is down, every process says it is not ready.
    for i in 0..s.cluster.procs.len() {
        support::eventually("readiness to see the database gone", || async {
            let (status, body) = s.cluster.readyz(i).await.ok()?;
            (status == 503 && body.contains("database unavailable")).then_some(())
        })
        .await;
    }
    // Down while the stream's uploads fail and are sent again twenty times.
    let retries = stream.retries.clone();
    support::eventually("uploads refused while the database is down", || async {
        (retries.load(std::sync::atomic::Ordering::Relaxed) >= 20).then_some(())
    })
    .await;
    // A router started now waits for the database instead of exiting.
    let mut s = s;
    let late = s
        .cluster
        .launch_with("router", &[])
        .expect("a router starts");
    let pg = tokio::task::spawn_blocking(move || pg.restart().map(|()| pg))
        .await
        .unwrap()
        .expect("the database restarts");
    let back = SystemTime::now();
    s.cluster
        .wait_ready(late)
        .await
        .expect("the late router is ready once the database is back");
    let accepted = stream.finish().await.expect("every message accepted");
    let t = s.tally(&accepted).await;
    report(
        "postgresql restarted",
        &t,
        t.recovered_after(&accepted, back),
        retries.load(std::sync::atomic::Ordering::Relaxed),
    );
    t.assert_exactly_once();
    s.finish().await;
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}

/// The mail relay is down for a minute while messages flow: pop-ups go on, e-mails wait and
/// are sent once it is back, one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mail_relay_down_for_a_minute() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut s = on_shared_broker().await;
    // Spread over the outage: 500 messages in about 70 s.
    let stream = s.stream(7.0);
    stream.wait_accepted(MESSAGES / 10).await;
    s.cluster.smtp.stop().await;
    // The fault is a minute long by definition; this is its length, not a wait for an event.
    tokio::time::sleep(Duration::from_secs(60)).await;
    s.cluster
        .smtp
        .restart()
        .await
        .expect("the relay comes back");
    let back = SystemTime::now();
    let retries = stream.retries.clone();
    let accepted = stream.finish().await.expect("every message accepted");
    let t = s.tally(&accepted).await;
    report(
        "mail relay down a minute",
        &t,
        t.recovered_after(&accepted, back),
        retries.load(std::sync::atomic::Ordering::Relaxed),
    );
    t.assert_exactly_once();
    s.finish().await;
}
