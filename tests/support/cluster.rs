//! A Hark cluster of real processes on loopback, for distributed-operation and fault tests.
//!
//! Each service runs as its own `hark <service>` process (the binary under test), all sharing
//! one PostgreSQL database, one RabbitMQ namespace, one data folder (the blob store and the
//! IVR spool, as a shared volume would be) and a real SMTP server. Every process gets free
//! loopback ports and `ops.listen`; [`Cluster::spawn`] returns once its `/readyz` says ready.
//! Processes can be killed with SIGKILL ([`Cluster::kill9`]), as a crash would, or stopped with
//! SIGTERM. Each writes its log to `<dir>/<name>.log`; a failing test prints their tails.
//! Everything a cluster starts, it stops.

use super::{PgDb, SmtpSink, WAIT, hex64, unique};
use anyhow::{Context, Result, bail};
use hark_core::{bus::amqp::AmqpBus, store::Store};
use std::{
    collections::HashMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

fn rand_slot() -> u16 {
    u16::from(uuid::Uuid::new_v4().as_bytes()[0])
}

/// `links.public_url` until the first portal is started.
const NO_PORTAL_YET: &str = "http://127.0.0.1:9";

/// A free loopback port (TCP; for the IVR, also free for UDP at the time).
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = tcp.local_addr().expect("bound").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Which database the cluster uses.
pub enum Database {
    /// A fresh database on the machine's PostgreSQL.
    Shared(PgDb),
    /// A database on a private server the test controls (see `pg_server`).
    Url(String),
}

impl Database {
    fn url(&self) -> String {
        match self {
            Database::Shared(db) => db.url(),
            Database::Url(u) => u.clone(),
        }
    }
}

/// One `hark <service>` process.
pub struct Proc {
    pub name: String,
    pub service: &'static str,
    child: Option<tokio::process::Child>,
    /// The portal's HTTP port or the IVR's SIP port.
    pub port: Option<u16>,
    pub ops: u16,
    pub log: PathBuf,
    env: Vec<(String, String)>,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(tokio::process::Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `http://127.0.0.1:<port>` of a portal.
    pub fn base(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.port.expect("a portal has a port")
        )
    }

    /// Resident memory now, from `/proc`.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub db: Database,
    pub amqp_url: String,
    pub namespace: String,
    pub smtp: SmtpSink,
    /// The test's own view of the database.
    pub store: Store,
    pub http: reqwest::Client,
    pub procs: Vec<Proc>,
    env: Vec<(String, String)>,
    /// IVR RTP port ranges handed out so far (two IVRs on one host must not share one).
    next_rtp: u16,
}

impl Cluster {
    /// A cluster with no processes yet, on a fresh database of the machine's PostgreSQL and a
    /// namespace of `amqp_url`'s broker.
    pub async fn new(amqp_url: &str) -> Result<Self> {
        Self::with_database(Database::Shared(PgDb::create()?), amqp_url).await
    }

    pub async fn with_database(db: Database, amqp_url: &str) -> Result<Self> {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let dir = tempfile::tempdir()?;
        let smtp = SmtpSink::start().await?;
        let namespace = format!("{}.", unique("c"));
        let mut config = hark_core::config::Config {
            data_dir: dir.path().join("data"),
            ..Default::default()
        };
        config.database.url = hark_core::config::Secret::new(db.url());
        let store = hark::app::open_store(&config)?;
        hark::demo::seed(&store, None).await?;
        let env = vec![
            (
                "HARK_DATA_DIR".into(),
                config.data_dir.display().to_string(),
            ),
            ("HARK_DATABASE__URL".into(), db.url()),
            ("HARK_BUS__URL".into(), amqp_url.to_owned()),
            ("HARK_BUS__NAMESPACE".into(), namespace.clone()),
            ("HARK_BLOBS__KEY".into(), hex64()),
            ("HARK_LINKS__SECRET".into(), hex64()),
            ("HARK_LINKS__PUBLIC_URL".into(), NO_PORTAL_YET.into()),
            ("HARK_NOTIFIER__SMTP_URL".into(), smtp.url()),
            ("HARK_IVR__SILENCE_SECS".into(), "3".into()),
            ("HARK_IVR__DIGIT_TIMEOUT_SECS".into(), "3".into()),
            // The traffic generators send hundreds of messages a minute as one person: no
            // per-user budgets (they are tested in tests/limits.rs).
            ("HARK_PORTAL__SENDS_PER_MINUTE".into(), "0".into()),
            ("HARK_PORTAL__API_PER_MINUTE".into(), "0".into()),
            (
                "RUST_LOG".into(),
                std::env::var("HARK_CLUSTER_LOG")
                    .unwrap_or_else(|_| "info,actix_server=warn,lapin=warn".into()),
            ),
        ];
        Ok(Self {
            dir,
            db,
            amqp_url: amqp_url.to_owned(),
            namespace,
            smtp,
            store,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            procs: Vec::new(),
            env,
            // Below the kernel's ephemeral ports, and apart from another cluster's (tests of one
            // binary run side by side; an IVR skips ports in use, but need not).
            next_rtp: 20_000 + 2_000 * (rand_slot() % 4),
        })
    }

    /// A configuration variable processes are started with.
    pub fn env(&self, key: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Set a configuration variable for every process started from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Start `hark <service>` (`router`, `notifier`, `portal`, `ivr`) and wait until it is
    /// ready. Returns its index in [`Cluster::procs`]. The first portal's address becomes
    /// `links.public_url` of the processes started after it (start portals first).
    pub async fn spawn(&mut self, service: &'static str) -> Result<usize> {
        self.spawn_with(service, &[]).await
    }

    pub async fn spawn_with(
        &mut self,
        service: &'static str,
        extra: &[(&str, &str)],
    ) -> Result<usize> {
        let i = self.launch_with(service, extra)?;
        self.wait_ready(i).await?;
        Ok(i)
    }

    /// Start `hark <service>` without waiting for it to be ready (it may be waiting for its
    /// database); [`Cluster::wait_ready`] waits.
    pub fn launch_with(&mut self, service: &'static str, extra: &[(&str, &str)]) -> Result<usize> {
        let n = self.procs.iter().filter(|p| p.service == service).count() + 1;
        let name = format!("{service}{n}");
        let ops = free_port();
        let mut env = self.env.clone();
        env.push(("HARK_OPS__LISTEN".into(), format!("127.0.0.1:{ops}")));
        let port = match service {
            "portal" => {
                let p = free_port();
                env.push(("HARK_PORTAL__LISTEN".into(), format!("127.0.0.1:{p}")));
                if self.env.iter().any(|(_, v)| v == NO_PORTAL_YET) {
                    let base = format!("http://127.0.0.1:{p}");
                    self.set_env("HARK_LINKS__PUBLIC_URL", &base);
                    env.retain(|(k, _)| k != "HARK_LINKS__PUBLIC_URL");
                    env.push(("HARK_LINKS__PUBLIC_URL".into(), base));
                }
                Some(p)
            }
            "ivr" => {
                let p = free_port();
                env.push(("HARK_IVR__SIP_LISTEN".into(), format!("127.0.0.1:{p}")));
                let (lo, hi) = (self.next_rtp, self.next_rtp + 1_998);
                self.next_rtp += 2_000;
                env.push(("HARK_IVR__RTP_PORT_MIN".into(), lo.to_string()));
                env.push(("HARK_IVR__RTP_PORT_MAX".into(), hi.to_string()));
                Some(p)
            }
            _ => None,
        };
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push(((*k).into(), (*v).into()));
        }
        let log = self.dir.path().join(format!("{name}.log"));
        let mut proc = Proc {
            name,
            service,
            child: None,
            port,
            ops,
            log,
            env,
        };
        launch(&mut proc)?;
        self.procs.push(proc);
        Ok(self.procs.len() - 1)
    }

    /// Wait (bounded) until process `i` answers `/readyz` with 200.
    pub async fn wait_ready(&mut self, i: usize) -> Result<()> {
        let url = format!("http://127.0.0.1:{}/readyz", self.procs[i].ops);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            if let Some(child) = self.procs[i].child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.procs[i].name,
                    tail(&self.procs[i].log, 40)
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} not ready after 90 s:\n{}",
                    self.procs[i].name,
                    tail(&self.procs[i].log, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `/readyz` of process `i`: its status and body.
    pub async fn readyz(&self, i: usize) -> Result<(u16, String)> {
        let r = self
            .http
            .get(format!("http://127.0.0.1:{}/readyz", self.procs[i].ops))
            .send()
            .await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    /// `/metrics` of process `i`.
    pub async fn metrics(&self, i: usize) -> Result<String> {
        Ok(self
            .http
            .get(format!("http://127.0.0.1:{}/metrics", self.procs[i].ops))
            .send()
            .await?
            .text()
            .await?)
    }

    /// SIGKILL, as a crash would: no drain, no goodbye.
    pub async fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.procs[i].child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM and wait (bounded) for a clean exit; its exit status.
    pub async fn terminate(&mut self, i: usize) -> Result<std::process::ExitStatus> {
        let Some(mut child) = self.procs[i].child.take() else {
            bail!("{} is not running", self.procs[i].name);
        };
        if let Some(pid) = child.id() {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()?;
        }
        Ok(tokio::time::timeout(WAIT, child.wait())
            .await
            .context("the process did not stop after SIGTERM")??)
    }

    /// Start process `i` again, with the same ports and settings.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        launch(&mut self.procs[i])?;
        self.wait_ready(i).await
    }

    /// The processes running `service`, by index.
    pub fn of(&self, service: &str) -> Vec<usize> {
        (0..self.procs.len())
            .filter(|&i| self.procs[i].service == service)
            .collect()
    }

    /// The base URLs of the portals still running.
    pub fn portals(&self) -> Vec<String> {
        self.of("portal")
            .into_iter()
            .filter(|&i| self.procs[i].is_running())
            .map(|i| self.procs[i].base())
            .collect()
    }

    /// Give `extension` a delivery profile (steps as JSON).
    pub async fn set_profile(&self, extension: &'static str, steps: &'static str) {
        super::set_profile(&self.store, extension, steps).await;
    }

    /// Give `extension` a phone (a SIP URI) for callbacks.
    pub async fn give_phone(&self, extension: &'static str, uri: String) {
        use diesel::prelude::*;
        use hark_core::store::schema::users;
        self.store
            .run(move |c| {
                diesel::update(users::table.filter(users::extension.eq(extension)))
                    .set(users::phone_uri.eq(uri))
                    .execute(c)?;
                Ok(())
            })
            .await
            .expect("store reachable");
    }

    pub fn emails(&self) -> Vec<super::Email> {
        super::read_emails(self.smtp.dir.path())
    }

    /// Stop every process (SIGTERM, then SIGKILL for any that hangs) and remove the queues.
    pub async fn stop(mut self) {
        for i in 0..self.procs.len() {
            if self.procs[i].is_running() && self.terminate(i).await.is_err() {
                self.kill9(i).await;
            }
        }
        if let Ok(bus) = AmqpBus::connect(&self.amqp_url, &self.namespace, 1).await {
            let _ = bus
                .delete_namespace(&hark_core::bus::durable_queues())
                .await;
        }
    }

    /// Every process's log, tail first, for a failure message.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for p in &self.procs {
            out.push_str(&format!("----- {} ({}) -----\n", p.name, p.log.display()));
            out.push_str(&tail(&p.log, lines));
        }
        out
    }

    /// The lines of every process's log that hold `needle`, each after its process's name; at
    /// most `max`.
    pub fn log_lines(&self, needle: &str, max: usize) -> Vec<String> {
        self.procs
            .iter()
            .flat_map(|p| {
                let text = std::fs::read_to_string(&p.log).unwrap_or_default();
                text.lines()
                    .filter(|l| l.contains(needle))
                    .map(|l| format!("  {}: {l}", p.name))
                    .collect::<Vec<_>>()
            })
            .take(max)
            .collect()
    }

    /// How many lines of each process's log match `needle`.
    pub fn log_counts(&self, needle: &str) -> HashMap<String, usize> {
        self.procs
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p.log).unwrap_or_default();
                (
                    p.name.clone(),
                    text.lines().filter(|l| l.contains(needle)).count(),
                )
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs(30));
        }
        for p in &mut self.procs {
            if let Some(mut c) = p.child.take() {
                let _ = c.start_kill();
            }
        }
    }
}

fn launch(proc: &mut Proc) -> Result<()> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&proc.log)?;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .arg(proc.service)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(proc.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting hark {}", proc.service))?;
    proc.child = Some(child);
    Ok(())
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    let mut out = lines[from..].join("\n");
    out.push('\n');
    out
}
