//! Soak: the whole cluster under steady load for ten minutes, watching every process's
//! resident memory. `cargo bench --bench soak` (scripts/bench.sh); `HARK_SOAK_SECS` changes
//! the length.
//!
//! The cluster is the one `scripts/cluster.sh` runs, as release processes: two portals, two
//! routers, two notifiers, two IVRs behind Kamailio, on PostgreSQL, RabbitMQ and a real SMTP
//! server. Alice sends `RATE` messages a second to Bob and Carol (pop-up and e-mail each), who
//! keep portal tabs open; every 30 s a batch of callers records messages through Kamailio.
//! Resident memory of each process is read when it is ready (idle: the reference), after a
//! minute of warm-up, every 30 s, and at the end; the run passes only if every message reached
//! everyone exactly once. The figures go to docs/RELIABILITY.md.

// A benchmark reports its figures on standard output.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::{
    cluster::Cluster,
    kamailio::Kamailio,
    sipp::RecordingCalls,
    traffic::{Stream, Tab, api_token, tally},
};

/// Uploaded messages a second, each to two people.
const RATE: f64 = 10.0;
/// Callers per batch, one batch every `CALL_EVERY`.
const CALLERS: usize = 10;
const CALL_EVERY: Duration = Duration::from_secs(30);
const WARM_UP: Duration = Duration::from_secs(60);
const STEPS: &str = r#"[{"channel": "popup"}, {"channel": "email"}]"#;

fn rss_all(cluster: &Cluster) -> Vec<u64> {
    cluster
        .procs
        .iter()
        .map(|p| p.rss_kib().unwrap_or(0))
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let soak = Duration::from_secs(
        std::env::var("HARK_SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    );
    let mut cluster = Cluster::new(&support::amqp_url()).await?;
    cluster.set_profile("102", STEPS).await;
    cluster.set_profile("103", STEPS).await;
    cluster.set_env("RUST_LOG", "warn");
    for service in [
        "portal", "portal", "router", "router", "notifier", "notifier", "ivr", "ivr",
    ] {
        cluster.spawn(service).await?;
    }
    let idle = rss_all(&cluster);
    let sip: Vec<std::net::SocketAddr> = cluster
        .of("ivr")
        .iter()
        .map(|&i| ([127, 0, 0, 1], cluster.procs[i].port.unwrap_or(0)).into())
        .collect();
    let dir = tempfile::tempdir()?;
    let kamailio = Kamailio::start(dir.path(), &sip).await?;
    let portals = cluster.portals();
    let mut other = portals.clone();
    other.rotate_left(1);
    let bob = Tab::open(portals.clone(), "102").await?;
    let carol = Tab::open(other, "103").await?;
    let token = api_token(&cluster.http, &portals, "101").await?;
    let total = WARM_UP + soak;
    let n = (total.as_secs_f64() * RATE) as usize;
    let started = Instant::now();
    let stream = Stream::start(portals.clone(), token, "102,103", n, RATE, 16);

    let mut samples: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut warm = None;
    let mut batch = 0;
    let mut calls_ok = 0;
    let mut calls_failed = 0;
    while started.elapsed() < total {
        let mut run = RecordingCalls {
            from: "104",
            to: "*102",
            calls: CALLERS,
            rate: 5,
            hold_ms: 10_000,
        }
        .start(kamailio.addr, dir.path(), &format!("batch{batch}"))
        .await?;
        batch += 1;
        tokio::time::sleep(CALL_EVERY).await;
        let (ok, failed) = run.finish(Duration::from_secs(60)).await?;
        if failed > 0 {
            println!(
                "batch {batch}: {failed} calls failed; sipp says:\n{}",
                run.errors()
            );
        }
        calls_ok += ok;
        calls_failed += failed;
        let rss = rss_all(&cluster);
        let at = started.elapsed().as_secs();
        println!("t={at:>4}s rss KiB {rss:?} accepted {}", stream.count());
        if warm.is_none() && started.elapsed() >= WARM_UP {
            warm = Some(rss.clone());
        }
        samples.push((at, rss));
    }
    let accepted = stream.finish().await?;
    let t = tally(
        &cluster,
        "101",
        &accepted,
        &[&bob, &carol],
        Duration::from_secs(600),
    )
    .await?;
    let end = rss_all(&cluster);
    let warm = warm.unwrap_or_else(|| idle.clone());

    println!(
        "\nsoak: {} s after {} s warm-up, {RATE} uploads/s, {CALLERS} callers every {} s",
        soak.as_secs(),
        WARM_UP.as_secs(),
        CALL_EVERY.as_secs()
    );
    println!("{}", t.line("soak", Duration::ZERO));
    println!("phone calls: {calls_ok} completed, {calls_failed} failed");
    println!("\n| process | idle (reference) | after warm-up | end | max seen | end − warm-up |");
    println!("|---|---|---|---|---|---|");
    for (i, p) in cluster.procs.iter().enumerate() {
        let max = samples.iter().map(|(_, r)| r[i]).max().unwrap_or(0);
        let growth = i64::try_from(end[i]).unwrap_or(0) - i64::try_from(warm[i]).unwrap_or(0);
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.1} MiB |",
            p.name,
            idle[i] as f64 / 1024.0,
            warm[i] as f64 / 1024.0,
            end[i] as f64 / 1024.0,
            max as f64 / 1024.0,
            growth as f64 / 1024.0
        );
    }
    t.assert_exactly_once();
    bob.close().await;
    carol.close().await;
    kamailio.stop().await;
    cluster.stop().await;
    Ok(())
}
