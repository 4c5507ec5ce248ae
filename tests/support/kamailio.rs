//! Kamailio (Debian's package) as the SIP dispatcher in front of IVR nodes, with the
//! configuration operators use (`scripts/cluster/kamailio.cfg`), on a free loopback port.

use anyhow::{Context, Result, bail};
use std::{
    net::{SocketAddr, UdpSocket},
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

pub struct Kamailio {
    child: tokio::process::Child,
    pub addr: SocketAddr,
    pub log: std::path::PathBuf,
}

/// Where Debian keeps Kamailio's modules.
fn modules() -> Result<String> {
    for dir in [
        "/usr/lib/x86_64-linux-gnu/kamailio/modules",
        "/usr/lib/aarch64-linux-gnu/kamailio/modules",
        "/usr/lib/kamailio/modules",
    ] {
        if Path::new(dir).join("dispatcher.so").exists() {
            return Ok(format!("{dir}/"));
        }
    }
    bail!("Kamailio's modules not found (apt-get install kamailio; run scripts/test.sh)")
}

/// The configuration for `listen`, dispatching to the list file `list`, with its control
/// socket in `run`.
pub fn config(listen: SocketAddr, list: &Path, run: &Path) -> Result<String> {
    let template = include_str!("../../scripts/cluster/kamailio.cfg");
    Ok(template
        .replace("@LISTEN@", &listen.to_string())
        .replace("@MODULES@", &modules()?)
        .replace("@LIST@", &list.display().to_string())
        .replace("@RUNDIR@", &run.display().to_string()))
}

impl Kamailio {
    /// Start in front of `ivrs`, in `dir`, and wait until it answers OPTIONS.
    pub async fn start(dir: &Path, ivrs: &[SocketAddr]) -> Result<Self> {
        let port = super::cluster::free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let list = dir.join("dispatcher.list");
        let lines: String = ivrs.iter().map(|a| format!("1 sip:{a}\n")).collect();
        std::fs::write(&list, lines)?;
        let run = dir.join("run");
        std::fs::create_dir_all(&run)?;
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, config(addr, &list, &run)?)?;
        let log = dir.join("kamailio.log");
        let out = std::fs::File::create(&log)?;
        let child = tokio::process::Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-Y")
            .arg(&run)
            .arg("-w")
            .arg(&run)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own process group: Kamailio forks workers, which outlive a killed main
            // process; the whole group is killed when this ends (`Drop`).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("starting kamailio (apt-get install kamailio)")?;
        let k = Self { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let target = k.addr;
            if tokio::task::spawn_blocking(move || options(target))
                .await?
                .is_ok()
            {
                return Ok(k);
            }
            if Instant::now() > deadline {
                bail!(
                    "kamailio did not answer OPTIONS:\n{}",
                    std::fs::read_to_string(&k.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn stop(mut self) {
        self.kill_group();
        let _ = self.child.wait().await;
    }

    /// SIGKILL to Kamailio and every worker it forked.
    fn kill_group(&self) {
        if let Some(pid) = self
            .child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // Also when a test fails with Kamailio running.
        self.kill_group();
    }
}

/// Send one OPTIONS to `target` and wait a second for a 200.
pub fn options(target: SocketAddr) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let local = socket.local_addr()?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let msg = format!(
        "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag={id}\r\nTo: <sip:{target}>\r\n\
         Call-ID: {id}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(msg.as_bytes(), target)?;
    let mut buf = [0u8; 2048];
    let (n, _) = socket.recv_from(&mut buf)?;
    let reply = String::from_utf8_lossy(&buf[..n]);
    if reply.starts_with("SIP/2.0 200") {
        Ok(())
    } else {
        bail!(
            "OPTIONS answered {}",
            reply.lines().next().unwrap_or_default()
        )
    }
}
