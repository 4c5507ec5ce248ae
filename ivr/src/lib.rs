//! The IVR: Hark's SIP endpoint. Callers log in with their PIN and use touch-tone menus to
//! hear who is online, record and send messages, listen to theirs and to their receipts;
//! callback calls ring people to play them a message.
//!
//! Layers, bottom up (as in ezk), each using only the ones below it: [`media`] (codecs, RTP,
//! jitter buffer, DTMF, one call's RTP session) is pure or per-call; [`sip`] is signalling on
//! ezk (with SDP), and hands admitted calls up through its [`sip::CallHandler`]; [`line`] is a
//! call as the menus use it (play with barge-in, keys, record); [`recording`] turns what a
//! caller says into a message (live fragments while they speak, an encrypted blob when they
//! stop); [`menu`] is the caller flow; [`call`] ties one call together; [`registrar`] takes
//! phones' REGISTERs and [`mwi`] their SUBSCRIBEs (through the SIP layer's
//! [`sip::PhoneHandler`]) and sets their message-waiting lamps; [`phone_auth`] is who a phone
//! is (digest); [`callback`] places
//! outbound calls for the notifier's callback channel; [`orphans`] finishes the recordings of
//! an IVR process that died.

pub mod call;
pub mod callback;
pub mod keepalive;
pub mod line;
pub mod media;
pub mod menu;
pub mod metrics;
pub mod mwi;
pub mod orphans;
pub mod phone_auth;
pub mod prompts;
pub mod recording;
pub mod registrar;
pub mod sip;
pub mod spool;
pub mod voice;

use hark_core::{Deps, config::IvrConfig};
use std::{net::SocketAddr, sync::Arc};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum IvrError {
    #[error("binding SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("prompts: {0}")]
    Prompts(#[from] prompts::PromptError),
    #[error("config: {0}")]
    Config(String),
    #[error("bus: {0}")]
    Bus(#[from] hark_core::bus::BusError),
    #[error("preparing PIN checks: {0}")]
    PinChecks(String),
}

/// What every call shares.
#[derive(Debug)]
pub struct Ivr {
    pub config: IvrConfig,
    pub deps: Deps,
    pub voice: voice::Voice,
    pub metrics: Arc<metrics::Metrics>,
    /// This node's SIP and media addresses and the SIP layer's settings.
    pub sip: sip::Local,
    /// PIN checks, half the cores (at least one) at a time: argon2id takes ~19 MiB and tens
    /// of milliseconds of a core per check, so a burst of logins (or a flood of guesses) waits
    /// its turn instead of multiplying that memory by the number of calls and starving the
    /// calls already up of CPU. An account without a PIN costs the same check.
    pub pin_checks: hark_core::password::Checker,
    /// Call slots, in all and per source (the source limits are shared with the guard layer).
    pub admission: Arc<sip::admission::Admission>,
    /// Digest authentication of phones (REGISTER, SUBSCRIBE, INVITE from a registered phone).
    pub phones: phone_auth::PhoneAuth,
}

/// A bound IVR, not yet serving.
pub struct Server {
    ivr: Arc<Ivr>,
    endpoint: ezk_sip_core::Endpoint,
    /// Kept here: the intake holds it weakly.
    registrar: Arc<dyn sip::PhoneHandler>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("sip_addr", &self.ivr.sip.sip_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Bind SIP (UDP and TCP); the IVR's metrics join the process's registry.
    pub async fn bind(config: IvrConfig, deps: Deps) -> Result<Self, IvrError> {
        if config.rtp_port_min > config.rtp_port_max {
            return Err(IvrError::Config(format!(
                "rtp_port_min {} is above rtp_port_max {}",
                config.rtp_port_min, config.rtp_port_max
            )));
        }
        let voice = voice::Voice::load()?;
        let addr = config.sip_listen;
        // The endpoint must exist before the IVR knows its bound port; its intake finds the
        // IVR (the handler of calls) through this slot, filled in just after.
        let slot: sip::endpoint::HandlerSlot = Arc::new(std::sync::OnceLock::new());
        let registrar_slot: sip::endpoint::RegistrarSlot = Arc::new(std::sync::OnceLock::new());
        let metrics = Arc::new(metrics::Metrics::default());
        let limiter = Arc::new(sip::limits::Limiter::new(
            sip::limits::Limits::from_config(&config).map_err(IvrError::Config)?,
        ));
        let guard = sip::guard::Guard {
            limiter: limiter.clone(),
            metrics: metrics.clone(),
        };
        let admission = Arc::new(sip::admission::Admission::new(limiter, config.max_calls));
        let intake = sip::endpoint::Intake {
            calls: slot.clone(),
            registrar: registrar_slot.clone(),
            admission: admission.clone(),
            metrics: metrics.clone(),
            retry_after_secs: config.retry_after_secs,
        };
        let (endpoint, bound) = sip::endpoint::build(addr, guard, intake)
            .await
            .map_err(|source| IvrError::Bind { addr, source })?;
        let pin_checks = tokio::task::spawn_blocking(|| {
            hark_core::password::Checker::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )
        })
        .await
        .map_err(|e| IvrError::PinChecks(e.to_string()))?
        .map_err(|e| IvrError::PinChecks(e.to_string()))?;
        deps.metrics.register(|r| {
            metrics.register(r);
            pin_checks.register(
                r,
                "hark_ivr_pin_checks",
                "argon2id PIN checks the IVR ran (accounts without a PIN included)",
            );
        });
        let phones =
            phone_auth::PhoneAuth::new(&config, deps.store.clone()).map_err(IvrError::Config)?;
        let ivr = Arc::new(Ivr {
            sip: sip::Local::new(&config, bound),
            phones,
            config,
            deps,
            voice,
            metrics,
            pin_checks,
            admission,
        });
        let handler: Arc<dyn sip::CallHandler> = ivr.clone();
        let _ = slot.set(Arc::downgrade(&handler));
        let registrar: Arc<dyn sip::PhoneHandler> =
            Arc::new(registrar::Registrar::new(ivr.clone()));
        let _ = registrar_slot.set(Arc::downgrade(&registrar));
        Ok(Self {
            ivr,
            endpoint,
            registrar,
        })
    }

    pub fn sip_addr(&self) -> SocketAddr {
        self.ivr.sip.sip_addr
    }

    /// This IVR's counters and gauges (calls in progress, for the node's heartbeat).
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        self.ivr.metrics.clone()
    }

    /// Serve calls and callback commands until `shutdown`.
    pub async fn run(self, prefetch: u16, shutdown: CancellationToken) -> Result<(), IvrError> {
        tracing::info!(sip = %self.ivr.sip.sip_addr, "IVR listening (UDP and TCP)");
        let sweeping = shutdown.child_token();
        let orphans = tokio::spawn(orphans::run(self.ivr.clone(), sweeping.clone()));
        let registrations = tokio::spawn(registrar::sweep(self.ivr.clone(), sweeping.clone()));
        tokio::spawn(mwi::at_start(self.ivr.clone(), self.endpoint.clone()));
        let keepalives = tokio::spawn(keepalive::run(
            self.ivr.clone(),
            self.endpoint.clone(),
            sweeping.clone(),
        ));
        let lamps = tokio::spawn(mwi::run(
            self.ivr.clone(),
            self.endpoint.clone(),
            shutdown.clone(),
        ));
        let callbacks = callback::run(
            self.ivr.clone(),
            self.endpoint.clone(),
            prefetch,
            shutdown.clone(),
        );
        let result = callbacks.await;
        sweeping.cancel();
        if let Err(e) = orphans.await {
            tracing::error!(error = %e, "orphaned-recordings task failed");
        }
        if let Err(e) = registrations.await {
            tracing::error!(error = %e, "registration sweeper failed");
        }
        if let Err(e) = keepalives.await {
            tracing::error!(error = %e, "NAT keep-alives failed");
        }
        match lamps.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "message-waiting lamps stopped"),
            Err(e) => tracing::error!(error = %e, "message-waiting task failed"),
        }
        drop(self.endpoint);
        drop(self.registrar);
        result
    }
}

/// Bind and serve until `shutdown` (what `hark ivr` and `hark serve` run).
pub async fn run(
    config: IvrConfig,
    deps: Deps,
    prefetch: u16,
    shutdown: CancellationToken,
) -> Result<(), IvrError> {
    Server::bind(config, deps)
        .await?
        .run(prefetch, shutdown)
        .await
}
