//! What a process tells its operators, on `ops.listen`: `/healthz`, `/readyz` and `/metrics`.
//!
//! - `/healthz` — the process is up and its runtime answers (200). A supervisor restarts a
//!   process that stops answering it.
//! - `/readyz` — the process can do its work: the database answers within two seconds and the
//!   bus is connected, and it is not stopping. 503 otherwise, with one line per dependency, so
//!   a load balancer or dispatcher stops sending it work while it recovers (services reconnect
//!   by themselves; readiness comes back when they have).
//! - `/metrics` — Prometheus text: every service's registry (deliveries per queue, the IVR's
//!   calls and RTP), whether each dependency is up, the outbox waiting to be published, and
//!   the process's resident memory, CPU time and start time.

use actix_web::{HttpResponse, web};
use hark_core::Deps;
use std::{fmt::Write, net::TcpListener, time::Duration};
use tokio_util::sync::CancellationToken;

/// How long a readiness or metrics check waits for the database.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct OpsState {
    deps: Deps,
    /// Cancelled when the process starts stopping: it is then no longer ready.
    stopping: CancellationToken,
    started: std::time::SystemTime,
}

/// The state of the two dependencies, checked now.
struct Checks {
    database: Result<(), String>,
    bus: Result<(), String>,
}

async fn check(deps: &Deps) -> Checks {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, deps.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            CHECK_TIMEOUT.as_secs_f32()
        )),
    };
    Checks {
        database,
        bus: deps.bus.health().map_err(|e| e.to_string()),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<OpsState>) -> HttpResponse {
    let checks = check(&state.deps).await;
    let mut body = String::new();
    let mut ready = true;
    for (name, result) in [("database", &checks.database), ("bus", &checks.bus)] {
        match result {
            Ok(()) => {
                let _ = writeln!(body, "{name} ok");
            }
            Err(e) => {
                ready = false;
                let _ = writeln!(body, "{name} unavailable: {e}");
            }
        }
    }
    if state.stopping.is_cancelled() {
        ready = false;
        body.push_str("stopping\n");
    }
    let mut reply = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    reply.content_type("text/plain").body(body)
}

async fn metrics(state: web::Data<OpsState>) -> HttpResponse {
    let checks = check(&state.deps).await;
    let mut extra = String::new();
    let _ = writeln!(
        extra,
        "# HELP hark_up Whether a dependency answers (1) or not (0).\n# TYPE hark_up gauge"
    );
    for (name, result) in [("database", &checks.database), ("bus", &checks.bus)] {
        let _ = writeln!(
            extra,
            "hark_up{{dependency=\"{name}\"}} {}",
            u8::from(result.is_ok())
        );
    }
    if checks.database.is_ok() {
        let pending = tokio::time::timeout(
            CHECK_TIMEOUT,
            state.deps.store.run(hark_core::store::outbox::count),
        )
        .await;
        if let Ok(Ok(n)) = pending {
            let _ = writeln!(
                extra,
                "# HELP hark_outbox_pending Events and commands committed but not yet published.\n\
                 # TYPE hark_outbox_pending gauge\nhark_outbox_pending {n}"
            );
        }
    }
    process_metrics(&mut extra, state.started);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.deps.metrics.render(&extra))
}

/// Resident memory, CPU time and start time, from `/proc/self` (Linux; omitted elsewhere).
fn process_metrics(out: &mut String, started: std::time::SystemTime) {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
            kib * 1024
        );
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest)
    {
        // Fields after the command name: state is 3rd overall, utime 14th, stime 15th.
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        if let (Some(u), Some(s)) = (ticks(11), ticks(12)) {
            let _ = writeln!(
                out,
                "# HELP process_cpu_seconds Time on the CPU, user and system.\n\
                 # TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total {}",
                (u + s) as f64 / CLOCK_TICKS
            );
        }
    }
    if let Ok(since) = started.duration_since(std::time::UNIX_EPOCH) {
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds When the process started.\n\
             # TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {}",
            since.as_secs()
        );
    }
}

/// `/proc` reports CPU time in USER_HZ, which Linux fixes at 100 for user space.
const CLOCK_TICKS: f64 = 100.0;

/// Serve the operator endpoints on `listener` until `shutdown`; readiness turns 503 as soon as
/// `stopping` fires.
pub fn serve(
    listener: TcpListener,
    deps: Deps,
    stopping: CancellationToken,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let state = web::Data::new(OpsState {
        deps,
        stopping,
        started: std::time::SystemTime::now(),
    });
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    let served = tokio::spawn(server);
    Ok(tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
        let _ = served.await;
    }))
}
