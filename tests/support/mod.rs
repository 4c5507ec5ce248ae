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
pub mod pg_server;
pub mod rabbit_node;
pub mod sipp;
pub mod traffic;
pub mod web;

use anyhow::{Context, Result, anyhow, bail};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use hark::app::{self, App, Running, Service};
use hark_core::{bus::amqp::AmqpBus, config::Config};
use serde_json::Value;
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::io::AsyncBufReadExt;

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

/// A real SMTP server (aiosmtpd) writing what it accepts to a folder.
pub struct SmtpSink {
    child: tokio::process::Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpSink {
    pub async fn start() -> Result<Self> {
        Self::start_env(&[]).await
    }

    /// A relay that requires STARTTLS with `cert`/`key` (PEM files) and the login `user:password`.
    pub async fn start_secure(cert: &Path, key: &Path, login: &str) -> Result<Self> {
        let tls = format!("{}:{}", cert.display(), key.display());
        Self::start_env(&[("SINK_TLS", tls.as_str()), ("SINK_AUTH", login)]).await
    }

    async fn start_env(env: &[(&str, &str)]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let (child, port) = Self::spawn(dir.path(), 0, env).await?;
        Ok(Self { child, port, dir })
    }

    /// Make the relay take `seconds` to accept each message (0: at once).
    pub fn slow_down(&self, seconds: f32) {
        std::fs::write(self.dir.path().join(".delay"), seconds.to_string()).expect("delay file");
    }

    /// The relay goes down: connections to its port are refused.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The relay comes back on the same port, keeping what it received before.
    pub async fn restart(&mut self) -> Result<()> {
        let (child, _) = Self::spawn(self.dir.path(), self.port, &[]).await?;
        self.child = child;
        Ok(())
    }

    async fn spawn(
        dir: &Path,
        port: u16,
        env: &[(&str, &str)],
    ) -> Result<(tokio::process::Child, u16)> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = tokio::process::Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(dir)
            .arg(port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the SMTP sink (needs python3-aiosmtpd; run scripts/test.sh)")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .context("SMTP sink did not start")??
            .ok_or_else(|| anyhow!("SMTP sink exited"))?;
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| anyhow!("unexpected SMTP sink output {line:?}"))?;
        Ok((child, port))
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// One received e-mail, parsed.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub message_id: String,
    /// When the relay wrote it.
    pub received: std::time::SystemTime,
    /// Attached files: (name, bytes).
    pub attachments: Vec<(String, Vec<u8>)>,
}

impl Email {
    /// The listen link in the body.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("a link in the e-mail");
        self.text[start..]
            .split_whitespace()
            .next()
            .expect("link text")
            .to_owned()
    }
}

/// Every `.eml` in a folder, in name order.
pub fn read_emails(dir: &Path) -> Vec<Email> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let raw = std::fs::read(p).expect("readable e-mail");
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .expect("a parseable e-mail");
            Email {
                to: m
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned(),
                subject: m.subject().unwrap_or_default().to_owned(),
                text: m.body_text(0).unwrap_or_default().into_owned(),
                message_id: m.message_id().unwrap_or_default().to_owned(),
                received: std::fs::metadata(p)
                    .and_then(|md| md.modified())
                    .unwrap_or(std::time::SystemTime::UNIX_EPOCH),
                attachments: m
                    .attachments()
                    .map(|a| {
                        use mail_parser::MimeHeaders;
                        (
                            a.attachment_name().unwrap_or_default().to_owned(),
                            a.contents().to_vec(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Wait until `dir` holds e-mails satisfying `done`.
pub async fn wait_emails(dir: &Path, done: impl Fn(&[Email]) -> bool) -> Vec<Email> {
    eventually("e-mails", || async {
        let all = read_emails(dir);
        done(&all).then_some(all)
    })
    .await
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
        hark::demo::seed(&app.deps.store).await?;
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

    /// Stop gracefully and remove the test's queues.
    pub async fn stop(mut self) {
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
                .delete_namespace(&hark_core::bus::standard_topology())
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

    pub async fn login(&self, extension: &str) -> String {
        let r: Value = self
            .http
            .post(format!("{}/api/v1/login", self.base))
            .json(&serde_json::json!({
                "extension": extension,
                "password": hark::demo::DEMO_PASSWORD,
            }))
            .send()
            .await
            .expect("login request")
            .json()
            .await
            .expect("login JSON");
        r["token"].as_str().expect("a token").to_owned()
    }

    pub async fn upload(&self, token: &str, to: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/messages?to={to}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("upload request")
    }

    /// Upload and expect 201; returns the message id.
    pub async fn send(&self, token: &str, to: &str, body: Vec<u8>) -> String {
        let r = self.upload(token, to, body).await;
        let status = r.status();
        let v: Value = r.json().await.expect("upload JSON");
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().expect("an id").to_owned()
    }

    /// `GET /api/v1/messages/sent` as `token`'s user.
    pub async fn sent(&self, token: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/messages/sent", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent request")
            .json()
            .await
            .expect("sent JSON")
    }

    /// The listen link in the first e-mail to `address`, once one arrived.
    pub async fn listen_link(&self, address: &str) -> String {
        self.wait_emails(|e| e.iter().any(|m| m.to == address))
            .await
            .iter()
            .find(|e| e.to == address)
            .expect("the e-mail waited for")
            .link()
    }

    /// The user with this extension, as stored now.
    pub async fn user(&self, extension: &'static str) -> hark_core::store::users::User {
        self.app
            .deps
            .store
            .run(move |c| hark_core::store::users::find_by_extension(c, extension))
            .await
            .expect("store reachable")
            .expect("a demo user")
    }

    /// The id of the user with this extension.
    pub async fn user_id(&self, extension: &'static str) -> hark_core::ids::UserId {
        self.user(extension).await.user_id()
    }

    /// The value of a counter in this process's metrics (`name` with its `_total`).
    pub fn counter(&self, name: &str) -> u64 {
        let text = self.app.deps.metrics.render("");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
    }

    /// Once the caller `from` has stopped a recording to `to` (`#`): it is stored and waits in
    /// the review menu, so a key pressed now is a review choice.
    pub async fn held_for_review(&self, from: &'static str, to: &'static str) {
        self.message_between(from, to, "held for review", |m| {
            m.state == "recording" && m.blob_key.is_some()
        })
        .await;
    }

    /// The newest message from `from` to `to` that `is` accepts, once there is one.
    async fn message_between(
        &self,
        from: &'static str,
        to: &'static str,
        what: &str,
        is: fn(&hark_core::store::messages::Message) -> bool,
    ) -> hark_core::store::messages::Message {
        let (sender, recipient) = (self.user_id(from).await, self.user_id(to).await);
        let store = self.app.deps.store.clone();
        eventually(&format!("a message from {from} to {to} {what}"), || {
            let (store, sender, recipient) = (store.clone(), sender.clone(), recipient.clone());
            async move {
                store
                    .run(move |c| {
                        for m in hark_core::store::messages::list_sent(c, &sender, 5)? {
                            if is(&m)
                                && hark_core::store::messages::find_recipient(
                                    c,
                                    &m.message_id(),
                                    &recipient,
                                )?
                                .is_some()
                            {
                                return Ok(Some(m));
                            }
                        }
                        Ok(None)
                    })
                    .await
                    .unwrap()
            }
        })
        .await
    }

    /// The message `from` last sent to `to`, once complete: its decoded audio.
    pub async fn recording_between(&self, from: &'static str, to: &'static str) -> (Vec<f32>, u32) {
        let message = self
            .message_between(from, to, "complete", |m| m.state == "complete")
            .await;
        let wav = self
            .app
            .deps
            .blobs
            .get(message.blob_key.as_deref().unwrap())
            .await
            .unwrap();
        let decoded = hark_core::audio::decode(&wav, 600).unwrap();
        (decoded.samples, decoded.sample_rate)
    }

    /// The attempts the router stored for a message, once there are some: (channel, endpoint,
    /// seconds after the first), in time order.
    pub async fn attempts(&self, id: &str) -> Vec<(String, Option<String>, i64)> {
        let id = hark_core::ids::MessageId::from(id);
        eventually("attempts", || {
            let (store, id) = (self.app.deps.store.clone(), id.clone());
            async move {
                let list = store
                    .run(move |c| hark_core::store::messages::list_attempts(c, &id))
                    .await
                    .unwrap();
                let first = list.iter().map(|a| a.due_at).min()?;
                let mut out: Vec<_> = list
                    .iter()
                    .map(|a| {
                        (
                            a.channel.clone(),
                            a.endpoint.clone(),
                            (a.due_at - first).num_seconds(),
                        )
                    })
                    .collect();
                out.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
                Some(out)
            }
        })
        .await
    }

    /// Give `extension` a delivery profile (steps as JSON).
    pub async fn set_profile(&self, extension: &'static str, channels: &'static str) {
        set_profile(&self.app.deps.store, extension, channels).await;
    }

    /// Show `extension` as present (available), as a portal tab's heartbeat would.
    pub async fn set_online(&self, extension: &'static str) {
        use diesel::ExpressionMethods;
        use hark_core::store::schema::presence;
        let id = self.user_id(extension).await;
        self.app
            .deps
            .store
            .run(move |c| {
                diesel::insert_into(presence::table)
                    .values((
                        presence::user_id.eq(id.as_str()),
                        presence::node.eq("test"),
                        presence::status.eq("available"),
                        presence::heartbeat_at.eq(hark_core::store::now()),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await
            .expect("store reachable");
    }

    pub async fn message(&self, token: &str, id: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/messages/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("message request")
            .json()
            .await
            .expect("message JSON")
    }

    /// Wait until recipient `extension` of message `id` has a receipt of `kind`.
    pub async fn wait_receipt(&self, token: &str, id: &str, extension: &str, kind: &str) -> Value {
        eventually(&format!("a {kind} receipt from {extension}"), || async {
            let m = self.message(token, id).await;
            let has = recipient(&m, extension)["receipts"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["kind"] == kind));
            has.then_some(m)
        })
        .await
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
