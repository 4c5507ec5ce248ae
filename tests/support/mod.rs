//! Test support: a whole Hark stack in-process on real parts.
//!
//! [`Stack`] starts the same wiring `hark serve` uses, in one of two modes:
//! - embedded: a fresh SQLite file and the in-process bus;
//! - distributed: a fresh PostgreSQL database and its own RabbitMQ namespace (or a private
//!   broker node, see [`rabbit_node`]).
//!
//! Either way e-mail goes through a real SMTP server ([`SmtpSink`], aiosmtpd) on an
//! ephemeral port, and the portal listens on port 0. Everything a test starts, it stops.

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod audio;
pub mod baresip;
pub mod browser;
pub mod cluster;
pub mod kamailio;
pub mod mail;
pub mod pg_server;
pub mod rabbit_node;
pub mod sip_inbox;
pub mod sipp;
mod stack_api;
pub mod traffic;
pub mod web;

use anyhow::{Context, Result, bail};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use hark::app::{self, App, Running, Service};
use hark_core::{bus::amqp::AmqpBus, config::Config};
pub use mail::{Email, SmtpSink, read_emails, wait_emails};
use serde_json::Value;
use std::{net::TcpListener, time::Duration};

/// Run each named scenario `fn(Mode)` as two tests: `embedded::NAME` (SQLite, in-process bus)
/// and `distributed::NAME` (PostgreSQL, RabbitMQ). (Unused in some test binaries, like the
/// rest of this module.)
#[allow(unused_macros)]
macro_rules! both_modes {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(super::support::Mode::Embedded).await;
            })*
        }
        mod distributed {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(super::support::Mode::distributed()).await;
            })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_modes;

/// How long any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(45);

pub fn pg_admin_url() -> String {
    std::env::var("HARK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn amqp_url() -> String {
    std::env::var("HARK_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

/// A stored message's recording, decoded (as a listener would hear it).
pub async fn decoded_recording(
    deps: &hark_core::Deps,
    message: &hark_core::store::messages::Message,
) -> hark_core::audio::Decoded {
    let key = message
        .blob_key
        .as_deref()
        .expect("the message has a recording");
    let wav = deps.blobs.get(key).await.expect("the recording is stored");
    hark_core::audio::decode(&wav, 600).expect("the recording decodes")
}

/// Poll `f` until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every service, as `hark serve` runs them.
const ALL: &[Service] = &[
    Service::Router,
    Service::Notifier,
    Service::Portal,
    Service::Ivr,
];

/// A fresh PostgreSQL database, dropped with the value.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub fn create() -> Result<Self> {
        let name = unique("hark_t_");
        let mut admin = PgConnection::establish(&pg_admin_url())
            .context("PostgreSQL reachable (run scripts/test.sh)")?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
        Ok(Self { name })
    }

    pub fn url(&self) -> String {
        let admin = pg_admin_url();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&pg_admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// Where the bus of a distributed stack lives.
#[derive(Clone, Debug)]
pub enum Mode {
    Embedded,
    /// PostgreSQL plus RabbitMQ at this URL.
    Distributed {
        amqp_url: String,
    },
}

impl Mode {
    pub fn distributed() -> Self {
        Mode::Distributed {
            amqp_url: amqp_url(),
        }
    }
}

/// A running Hark with a real SMTP server.
pub struct Stack {
    pub app: App,
    running: Option<Running>,
    pub base: String,
    pub smtp: SmtpSink,
    pub http: reqwest::Client,
    _data: tempfile::TempDir,
    pg: Option<PgDb>,
    amqp: Option<(String, String)>,
    more: Vec<Running>,
    /// The test leaves dead letters or queued work on purpose (see [`Stack::leaves_work`]).
    leaves_work: bool,
}

impl Stack {
    pub async fn start(mode: Mode) -> Self {
        Self::start_with(mode, |_| {}).await
    }

    /// Start with a configuration adjusted by `tweak`, and seed the demo users.
    pub async fn start_with(mode: Mode, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::try_start(mode, tweak, ALL)
            .await
            .expect("stack starts")
    }

    /// A stack running only `services` (start the others with [`Stack::start_more`]).
    pub async fn start_only(mode: Mode, services: &[Service]) -> Self {
        Self::try_start(mode, |_| {}, services)
            .await
            .expect("stack starts")
    }

    async fn try_start(
        mode: Mode,
        tweak: impl FnOnce(&mut Config),
        services: &[Service],
    ) -> Result<Self> {
        // Logs show with RUST_LOG=… and --nocapture.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let data = tempfile::tempdir()?;
        let smtp = SmtpSink::start().await?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut config = Config {
            data_dir: data.path().to_owned(),
            ..Config::default()
        };
        // Uploads are decoded by `hark decode-upload` children, as in production; this test
        // binary is not `hark`.
        config.portal.decoder_program = env!("CARGO_BIN_EXE_hark").into();
        config.notifier.smtp_url = hark_core::config::Secret::new(smtp.url());
        config.links.public_url = format!("http://{addr}");
        // SIP on a free port; calls in tests get short waits so they end in seconds.
        config.ivr.sip_listen = "127.0.0.1:0".parse()?;
        config.ivr.silence_secs = 3;
        config.ivr.digit_timeout_secs = 3;
        let mut pg = None;
        let mut amqp = None;
        if let Mode::Distributed { amqp_url } = &mode {
            let db = PgDb::create()?;
            config.database.url = hark_core::config::Secret::new(db.url());
            pg = Some(db);
            let ns = format!("{}.", unique("t"));
            config.bus.url = hark_core::config::Secret::new(amqp_url.clone());
            config.bus.namespace = ns.clone();
            config.blobs.key = hark_core::config::Secret::new(hex64());
            config.links.secret = hark_core::config::Secret::new(hex64());
            amqp = Some((amqp_url.clone(), ns));
        }
        tweak(&mut config);
        let app = App::build(config).await?;
        hark::demo::seed(&app.deps.store, None).await?;
        let running = app::start(&app, services, Some(listener)).await?;
        Ok(Self {
            app,
            running: Some(running),
            base: format!("http://{addr}"),
            smtp,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            _data: data,
            pg,
            amqp,
            more: Vec::new(),
            leaves_work: false,
        })
    }

    /// Where the IVR takes SIP.
    pub fn ivr_addr(&self) -> std::net::SocketAddr {
        self.running
            .as_ref()
            .and_then(|r| r.ivr_addr)
            .expect("the stack runs the IVR")
    }

    /// Where `/healthz`, `/readyz` and `/metrics` are served (when the test configured
    /// `ops.listen`).
    pub fn ops_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.as_ref().and_then(|r| r.ops_addr)
    }

    /// This test leaves dead letters or outbox rows behind on purpose (it poisons a queue, or
    /// ends while the broker or relay is down): [`Stack::stop`] does not check for them.
    pub fn leaves_work(&mut self) {
        self.leaves_work = true;
    }

    /// What a finished test leaves must be nothing: every outbox row relayed and no dead
    /// letter waiting (as crates.io's `TestApp` checks its background jobs). A command that
    /// failed for good, or an event nobody published, is a bug the test's own assertions may
    /// not see.
    async fn check_nothing_left(&self) {
        let store = self.app.deps.store.clone();
        eventually("the outbox to be relayed", || {
            let store = store.clone();
            async move {
                let left = store.run(hark_core::store::outbox::count).await.ok()?;
                (left == 0).then_some(())
            }
        })
        .await;
        for spec in hark_core::bus::standard_topology() {
            let dlq = spec.dlq_name();
            match self.app.deps.bus.queue_depth(&dlq).await {
                Ok(0) => {}
                Ok(n) => panic!("{n} dead letters wait in {dlq}"),
                Err(e) => panic!("could not look at {dlq}: {e}"),
            }
        }
    }

    /// Check that nothing was left undone, stop gracefully and remove the test's queues.
    pub async fn stop(mut self) {
        if !self.leaves_work {
            self.check_nothing_left().await;
        }
        for r in std::mem::take(&mut self.more) {
            r.shutdown.cancel();
            tokio::time::timeout(WAIT, r.wait())
                .await
                .expect("extra services stop in time")
                .expect("extra services stop cleanly");
        }
        if let Some(r) = self.running.take() {
            r.shutdown.cancel();
            tokio::time::timeout(WAIT, r.wait())
                .await
                .expect("services stop in time")
                .expect("services stop cleanly");
        }
        if let Some((url, ns)) = self.amqp.take()
            && let Ok(bus) = AmqpBus::connect(&url, &ns, 1).await
        {
            let _ = bus
                .delete_namespace(&hark_core::bus::durable_queues())
                .await;
        }
    }

    /// Start another set of services (say, a second router) on the same database and bus, as
    /// a second process would; stopped with the stack.
    pub async fn start_more(&mut self, services: &[Service]) {
        let config = self.app.config.clone();
        let app = if matches!(config.bus.url.expose(), u if u.starts_with("memory:")) {
            // One process shares the in-process bus: reuse this app's dependencies.
            self.app.clone()
        } else {
            App::build(config).await.expect("second app")
        };
        let running = app::start(&app, services, None)
            .await
            .expect("more services start");
        self.more.push(running);
    }

    /// Kill the most recently started extra services, as a crash would.
    pub async fn crash_more(&mut self) {
        if let Some(r) = self.more.pop() {
            r.abort().await;
        }
    }

    pub fn emails(&self) -> Vec<Email> {
        read_emails(self.smtp.dir.path())
    }

    pub async fn wait_emails(&self, done: impl Fn(&[Email]) -> bool) -> Vec<Email> {
        wait_emails(self.smtp.dir.path(), done).await
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for r in self.running.iter().chain(&self.more) {
            r.shutdown.cancel();
        }
    }
}

/// Give `extension` a delivery profile (steps as JSON).
pub async fn set_profile(
    store: &hark_core::store::Store,
    extension: &'static str,
    steps: &'static str,
) {
    use diesel::ExpressionMethods;
    use hark_core::store::schema::delivery_profiles;
    store
        .run(move |c| {
            let user =
                hark_core::store::users::find_by_extension(c, extension)?.expect("a demo user");
            diesel::insert_into(delivery_profiles::table)
                .values((
                    delivery_profiles::user_id.eq(&user.id),
                    delivery_profiles::channels.eq(steps),
                    delivery_profiles::updated_at.eq(hark_core::store::now()),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .expect("store reachable");
}

/// The recipient entry for `extension` in a message summary.
pub fn recipient<'a>(message: &'a Value, extension: &str) -> &'a Value {
    message["recipients"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["extension"] == extension))
        .unwrap_or(&Value::Null)
}

pub fn hex64() -> String {
    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
}

pub fn ensure(cond: bool, what: &str) -> Result<()> {
    if cond { Ok(()) } else { bail!("{what}") }
}
