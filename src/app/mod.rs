//! Wiring: configuration → store, blob store, bus → services ([`running`]).

mod running;

pub use running::{Running, Service, start};

use anyhow::{Context, Result, bail};
use hark_core::{
    Deps,
    audio::{ChildDecoder, ChildLimits, Decoder},
    blob::{BlobStore, load_or_create_key},
    bus::{self, BusError, outbox::OutboxSignal},
    config::Config,
    link::LinkSigner,
    store::{Store, StoreError},
};
use hark_router::plugins::{Limits, PluginHost};
use std::{net::TcpListener, path::PathBuf};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Everything built from the configuration.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub deps: Deps,
    pub signer: LinkSigner,
}

/// A secret from config, or (embedded mode only) from a generated file in the data folder.
fn secret(config: &Config, configured: &str, file: &str, what: &str) -> Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_owned());
    }
    let path = config.data_dir.join(file);
    let embedded = config.is_embedded();
    load_or_create_key(&path, embedded).with_context(|| {
        if embedded {
            format!("reading {what} from {}", path.display())
        } else {
            format!(
                "{what} is not configured: a distributed deployment must set it (see docs/OPERATIONS.md)"
            )
        }
    })
}

/// A dependency that is not up yet, and why.
struct Wait(String);

/// Whether waiting can cure a connection error: a server that is down or starting can come
/// up; a refused login, a database or vhost that does not exist, cannot.
fn curable(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    ![
        "password authentication failed",
        "does not exist",
        "access_refused",
        "access-refused",
        "not_allowed",
        "no pg_hba.conf entry",
        "permission denied",
        "invalid",
    ]
    .iter()
    .any(|fatal| e.contains(fatal))
}

/// Try `f` until the dependency it reaches is up: a process started before its database or
/// broker (after a power cut, say, or by a supervisor that starts everything at once) waits
/// for them instead of exiting. Errors that waiting cannot cure (a bad URL) end at once.
async fn until_up<T, E, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Result<T, E>, Wait>>,
    E: Into<anyhow::Error>,
{
    let mut pause = std::time::Duration::from_secs(1);
    loop {
        match f().await {
            Ok(result) => return result.map_err(Into::into),
            Err(Wait(why)) => {
                tracing::warn!(%why, retry_in_secs = pause.as_secs(), "waiting for {what}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}

/// Open the store only, migrated; for admin commands.
pub fn open_store(config: &Config) -> Result<Store> {
    let url = config.database_url();
    let store = Store::open(&url, config.database.max_connections)
        .with_context(|| format!("opening the database ({})", redact_url(&url)))?;
    let ran = store.migrate().context("running migrations")?;
    if ran > 0 {
        tracing::info!(migrations = ran, "database migrated");
    }
    Ok(store)
}

/// Hide a password in a URL for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

impl App {
    /// Open everything: database (migrated), keys, blob store, bus (with the standard
    /// topology declared).
    pub async fn build(config: Config) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let store = until_up("the database", || {
            let config = config.clone();
            async move {
                match open_store(&config) {
                    Err(e)
                        if e.downcast_ref::<StoreError>()
                            .is_some_and(StoreError::is_unavailable)
                            && curable(&format!("{e:#}")) =>
                    {
                        Err(Wait(format!("{e:#}")))
                    }
                    other => Ok(other),
                }
            }
        })
        .await?;
        let blob_key = secret(&config, config.blobs.key.expose(), "blob.key", "blobs.key")?;
        let blobs = BlobStore::new(config.data_dir.join("blobs"), &blob_key)
            .context("opening the blob store")?;
        let link_key = secret(
            &config,
            config.links.secret.expose(),
            "link.key",
            "links.secret",
        )?;
        // A short (or empty, say a key file cut off by a crash) HMAC key would make e-mailed
        // links forgeable: refuse to start with one.
        if link_key.len() < 32 {
            bail!("links.secret must be at least 32 characters (64 hex digits recommended)");
        }
        let bus = until_up("the bus", || async {
            match bus::connect(&config.bus).await {
                Err(e @ BusError::Connection(_)) if curable(&e.to_string()) => {
                    Err(Wait(e.to_string()))
                }
                other => Ok(other),
            }
        })
        .await
        .context("connecting to the bus")?;
        for spec in bus::standard_topology() {
            bus.declare(&spec)
                .await
                .with_context(|| format!("declaring queue {}", spec.name))?;
        }
        Ok(Self {
            signer: LinkSigner::new(link_key.as_bytes()),
            deps: Deps {
                store,
                bus,
                blobs,
                outbox: OutboxSignal::default(),
                metrics: Default::default(),
                node_id: hark_core::ids::EventId::new().into_string(),
            },
            config,
        })
    }

    fn outbox_dir(&self) -> PathBuf {
        self.config.data_dir.join("outbox")
    }

    /// Start one service (by name) on `set`. The portal needs its listener.
    pub fn spawn(
        &self,
        service: Service,
        set: &mut JoinSet<(Service, Result<()>)>,
        shutdown: &CancellationToken,
        listener: Option<TcpListener>,
        ivr: Option<hark_ivr::Server>,
    ) -> Result<()> {
        let deps = self.deps.clone();
        let shutdown = shutdown.clone();
        let prefetch = self.config.bus.prefetch;
        match service {
            Service::Router => {
                let config = self.config.router.clone();
                let dir = Some(self.config.plugins_dir());
                set.spawn(async move {
                    let r = hark_router::run(config, deps, dir, shutdown).await;
                    (service, r.map_err(Into::into))
                });
            }
            Service::Notifier => {
                let mut links = self.config.links.clone();
                links.public_url = self.config.public_url();
                let (config, signer, dir) = (
                    self.config.notifier.clone(),
                    self.signer.clone(),
                    self.outbox_dir(),
                );
                set.spawn(async move {
                    let r = hark_notifier::run(config, links, signer, dir, deps, shutdown).await;
                    (service, r.map_err(Into::into))
                });
            }
            Service::Portal => {
                let Some(listener) = listener else {
                    bail!("the portal needs a listener");
                };
                let setup = hark_web_portal::Setup {
                    config: self.config.portal.clone(),
                    signer: self.signer.clone(),
                    public_url: self.config.public_url(),
                    plugins: std::sync::Arc::new(HostCheck::new(Limits::from(&self.config.router))),
                    plugin_max_bytes: Limits::from(&self.config.router).max_module_bytes,
                    decoder: upload_decoder(&self.config.portal)?,
                    default_channels: self.config.router.default_channels.clone(),
                    sip_realm: self.config.ivr.sip_realm.clone(),
                };
                set.spawn(async move {
                    let r = hark_web_portal::run(setup, deps, listener, shutdown).await;
                    (service, r.map_err(Into::into))
                });
            }
            Service::Ivr => {
                let Some(ivr) = ivr else {
                    bail!("the IVR must be bound first");
                };
                set.spawn(async move {
                    let r = ivr.run(prefetch, shutdown).await;
                    (service, r.map_err(Into::into))
                });
            }
            Service::Relay => {
                let (store, bus, signal) = (
                    self.deps.store.clone(),
                    self.deps.bus.clone(),
                    self.deps.outbox.clone(),
                );
                set.spawn(async move {
                    bus::outbox::run_relay(store, bus, signal, shutdown).await;
                    (service, Ok(()))
                });
            }
        }
        Ok(())
    }
}

/// Plugin uploads in the portal are checked by the router's own host, made on first use.
#[derive(Debug)]
struct HostCheck {
    limits: Limits,
    host: std::sync::OnceLock<Result<PluginHost, String>>,
}

impl HostCheck {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            host: std::sync::OnceLock::new(),
        }
    }
}

impl hark_web_portal::PluginCheck for HostCheck {
    fn check(&self, wasm: &[u8], config: &str) -> Result<hark_web_portal::PluginReport, String> {
        let host = self
            .host
            .get_or_init(|| PluginHost::new(self.limits).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)?;
        let p = host.load(wasm, config).map_err(|e| e.to_string())?;
        Ok(hark_web_portal::PluginReport {
            name: p.info.name,
            version: p.info.version,
            description: p.info.description,
            sha256: p.sha256,
        })
    }
}

/// How the portal decodes uploads: `hark decode-upload` as a limited child (this executable,
/// or `portal.decoder_program`), unless `portal.decode_in_child` is off.
pub fn upload_decoder(portal: &hark_core::config::PortalConfig) -> Result<Decoder> {
    if !portal.decode_in_child {
        return Ok(Decoder::InProcess);
    }
    let program = if portal.decoder_program.is_empty() {
        std::env::current_exe().context("finding this executable to decode uploads with")?
    } else {
        PathBuf::from(&portal.decoder_program)
    };
    Ok(Decoder::Child(ChildDecoder {
        program,
        args: vec!["decode-upload".into()],
        limits: ChildLimits {
            memory_mib: portal.decoder_memory_mib,
            seconds: portal.decoder_seconds,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::curable;

    #[test]
    fn only_errors_that_can_pass_are_waited_out() {
        assert!(curable(
            "database connection: could not connect to server: Connection refused"
        ));
        assert!(curable(
            "bus connection: IO error: Connection refused (os error 111)"
        ));
        assert!(curable("the database system is starting up"));
        assert!(!curable(
            "FATAL: password authentication failed for user \"hark\""
        ));
        assert!(!curable("FATAL: database \"hark\" does not exist"));
        assert!(!curable(
            "bus connection: protocol error: ACCESS_REFUSED - Login was refused"
        ));
    }
}
