//! A private RabbitMQ node for tests that stop and restart the broker, so they never touch the
//! machine's shared broker. The node has its own name, ports and data folder; `stop` is a
//! clean `rabbitmqctl shutdown`, `start` brings it back with its durable queues and
//! persistent messages.

use anyhow::{Context, Result, bail};
use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

pub struct RabbitNode {
    name: String,
    port: u16,
    dist_port: u16,
    dir: PathBuf,
    running: bool,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl RabbitNode {
    pub fn start() -> Result<Self> {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let dir = std::env::temp_dir().join(format!("hark-rabbit-{id}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        std::fs::write(dir.join("env.conf"), "ERL_EPMD_ADDRESS=127.0.0.1\n")?;
        let mut node = Self {
            name: format!("harktest{id}@localhost"),
            port: free_port()?,
            dist_port: free_port()?,
            dir,
            running: false,
        };
        std::fs::write(
            node.dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{}\n", node.port),
        )?;
        // The broker runs as the rabbitmq user and must own its folder.
        let status = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&node.dir)
            .status()?;
        if !status.success() {
            bail!("chown of the broker folder failed");
        }
        node.boot()?;
        Ok(node)
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn env(&self, cmd: &mut Command) {
        let d = &self.dir;
        cmd.env("RABBITMQ_CONF_ENV_FILE", d.join("env.conf"))
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1");
    }

    /// Start the node and wait (bounded) until it accepts connections.
    fn boot(&mut self) -> Result<()> {
        let log = std::fs::File::create(self.dir.join("server.out"))?;
        let mut cmd = Command::new("rabbitmq-server");
        self.env(&mut cmd);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting rabbitmq-server")?;
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(90);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "private RabbitMQ node did not start; see {}",
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Shut the node down cleanly (connections drop; durable data stays).
    pub fn stop(&mut self) -> Result<()> {
        let mut cmd = Command::new("rabbitmqctl");
        self.env(&mut cmd);
        let out = cmd
            .args(["-n", &self.name, "shutdown"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        self.running = false;
        if !out.success() {
            bail!("rabbitmqctl shutdown failed");
        }
        Ok(())
    }

    /// Start it again on the same data.
    pub fn restart(&mut self) -> Result<()> {
        self.boot()
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
