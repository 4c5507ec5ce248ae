//! A private PostgreSQL server for tests that stop and restart the database, so they never
//! touch the machine's shared one: its own folder (initdb, trust authentication on loopback),
//! its own port, run as the `postgres` user. `stop` is an immediate shutdown (connections cut,
//! as a crash or a failover would cut them); `start` brings it back on the same data.

use anyhow::{Context, Result, bail};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    running: bool,
}

/// The newest installed server's programs (`/usr/lib/postgresql/<version>/bin`).
fn bin_dir() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server programs (run scripts/test.sh)")?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .context("no PostgreSQL server installed")
}

/// Run `program args…` as the postgres user.
fn as_postgres(program: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program).args(args);
    cmd
}

impl PgServer {
    pub fn start() -> Result<Self> {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let dir = std::env::temp_dir().join(format!("hark-pg-{id}"));
        std::fs::create_dir_all(&dir)?;
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()?;
        if !status.success() {
            bail!("chown of the database folder failed");
        }
        let bin = bin_dir()?;
        let data = dir.join("data");
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().context("path")?,
                "--auth=trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .output()?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut server = Self {
            dir,
            bin,
            port: super::cluster::free_port(),
            running: false,
        };
        server.boot()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn boot(&mut self) -> Result<()> {
        let data = self.dir.join("data");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let out = as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().context("path")?,
                "-o",
                &opts,
                "-l",
                log.to_str().context("path")?,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .stdout(Stdio::null())
        .output()?;
        if !out.status.success() {
            bail!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("the private PostgreSQL did not listen");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Stop at once: every connection is cut, nothing waits for clients.
    pub fn stop(&mut self) -> Result<()> {
        let data = self.dir.join("data");
        let out = as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().context("path")?,
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .stdout(Stdio::null())
        .output()?;
        self.running = false;
        if !out.status.success() {
            bail!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Start again on the same data and port.
    pub fn restart(&mut self) -> Result<()> {
        self.boot()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
