//! Running services in one process: start the ones asked for (and the outbox relay), report
//! this node's heartbeat, stop them in order.

use super::App;
use anyhow::{Context, Result};
use hark_core::store::Store;
use std::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Every few seconds, tell the store this process is alive (admins see it on the system
/// page, with the IVR's calls in progress); say goodbye on a clean stop.
async fn heartbeat(
    store: Store,
    node_id: String,
    services: String,
    ivr: Option<std::sync::Arc<hark_ivr::metrics::Metrics>>,
    stop: CancellationToken,
) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let mut node = hark_core::store::nodes::Node {
        id: node_id,
        services,
        host,
        pid: i32::try_from(std::process::id()).unwrap_or(0),
        started_at: hark_core::store::now(),
        heartbeat_at: hark_core::store::now(),
        active_calls: None,
    };
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        node.heartbeat_at = hark_core::store::now();
        node.active_calls = ivr
            .as_ref()
            .map(|m| i32::try_from(m.active_calls()).unwrap_or(i32::MAX));
        let n = node.clone();
        if let Err(e) = store
            .run(move |c| hark_core::store::nodes::heartbeat(c, &n))
            .await
        {
            tracing::debug!(error = %e, "heartbeat not stored");
        }
    }
    let id = node.id;
    let _ = store
        .run(move |c| hark_core::store::nodes::remove(c, &id))
        .await;
}

const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// The services one process can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Ivr,
    Router,
    Notifier,
    Portal,
    /// The outbox relay; runs in every process.
    Relay,
}

/// A set of running services and the token that stops them.
#[derive(Debug)]
pub struct Running {
    pub shutdown: CancellationToken,
    /// Stops the relay after the services, so their last outbox rows still go out.
    relay_shutdown: CancellationToken,
    services: JoinSet<(Service, Result<()>)>,
    relay: JoinSet<(Service, Result<()>)>,
    pub portal_addr: Option<std::net::SocketAddr>,
    /// Where the IVR takes SIP (UDP and TCP), when it runs here.
    pub ivr_addr: Option<std::net::SocketAddr>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served, when `ops.listen` is set.
    pub ops_addr: Option<std::net::SocketAddr>,
}

impl Running {
    /// Stop at once, without draining, as a crash would: in-flight work is cut off, unacked
    /// deliveries go back to the broker, leased outbox rows wait for their lease to end.
    pub async fn abort(mut self) {
        self.services.abort_all();
        self.relay.abort_all();
        while self.services.join_next().await.is_some() {}
        while self.relay.join_next().await.is_some() {}
    }

    /// Wait until a service stops on its own (an error) or `shutdown` fires; then stop the
    /// rest gracefully, relay last, and report the first error.
    pub async fn wait(mut self) -> Result<()> {
        let mut first_error: Option<anyhow::Error> = None;
        tokio::select! {
            Some(joined) = self.services.join_next() => {
                if let Some(e) = finished(joined) {
                    first_error = Some(e);
                }
            }
            _ = self.shutdown.cancelled() => {}
        }
        self.shutdown.cancel();
        while let Some(joined) = self.services.join_next().await {
            if let Some(e) = finished(joined) {
                first_error.get_or_insert(e);
            }
        }
        self.relay_shutdown.cancel();
        while let Some(joined) = self.relay.join_next().await {
            if let Some(e) = finished(joined) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn finished(
    joined: Result<(Service, Result<()>), tokio::task::JoinError>,
) -> Option<anyhow::Error> {
    match joined {
        Ok((service, Ok(()))) => {
            tracing::info!(?service, "stopped");
            None
        }
        Ok((service, Err(e))) => {
            tracing::error!(?service, error = %format!("{e:#}"), "service failed");
            Some(e.context(format!("{service:?} failed")))
        }
        Err(e) => Some(anyhow::anyhow!("service task panicked: {e}")),
    }
}

/// Start `services` (plus the outbox relay) on `app`. The portal binds
/// `config.portal.listen` unless a listener is given; the IVR binds `config.ivr.sip_listen`.
pub async fn start(
    app: &App,
    services: &[Service],
    listener: Option<TcpListener>,
) -> Result<Running> {
    let shutdown = CancellationToken::new();
    let relay_shutdown = CancellationToken::new();
    let mut set = JoinSet::new();
    let mut relay = JoinSet::new();
    let mut portal_addr = None;
    let mut ivr_addr = None;
    let mut ivr_metrics = None;
    let mut listener = listener;
    for &service in services {
        let l = if service == Service::Portal {
            let l = match listener.take() {
                Some(l) => l,
                None => TcpListener::bind(app.config.portal.listen).with_context(|| {
                    format!("binding the portal to {}", app.config.portal.listen)
                })?,
            };
            portal_addr = Some(l.local_addr()?);
            Some(l)
        } else {
            None
        };
        let ivr = if service == Service::Ivr {
            let mut ivr_config = app.config.ivr.clone();
            ivr_config.spool_dir = app.config.spool_dir().display().to_string();
            let server = hark_ivr::Server::bind(ivr_config, app.deps.clone())
                .await
                .context("starting the IVR")?;
            ivr_addr = Some(server.sip_addr());
            ivr_metrics = Some(server.metrics());
            Some(server)
        } else {
            None
        };
        app.spawn(service, &mut set, &shutdown, l, ivr)?;
    }
    app.spawn(Service::Relay, &mut relay, &relay_shutdown, None, None)?;
    let names = services
        .iter()
        .map(|s| format!("{s:?}").to_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    let (store, node, stop) = (
        app.deps.store.clone(),
        app.deps.node_id.clone(),
        relay_shutdown.clone(),
    );
    relay.spawn(async move {
        heartbeat(store, node, names, ivr_metrics, stop).await;
        (Service::Relay, Ok(()))
    });
    let ops_addr = match app.config.ops.listen {
        Some(addr) => {
            let l =
                TcpListener::bind(addr).with_context(|| format!("binding ops.listen to {addr}"))?;
            let bound = l.local_addr()?;
            let ops = crate::ops::serve(
                l,
                app.deps.clone(),
                shutdown.clone(),
                relay_shutdown.clone(),
            )?;
            relay.spawn(async move {
                let _ = ops.await;
                (Service::Relay, Ok(()))
            });
            tracing::info!(%bound, "health and metrics served");
            Some(bound)
        }
        None => None,
    };
    Ok(Running {
        shutdown,
        relay_shutdown,
        services: set,
        relay,
        portal_addr,
        ivr_addr,
        ops_addr,
    })
}
