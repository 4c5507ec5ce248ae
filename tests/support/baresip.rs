//! Driving baresip, a real softphone (REAL-CLIENTS.md): a headless config on loopback that
//! sends a WAV we wrote as its microphone, answers calls by itself, saves what it heard as WAV
//! (sndfile), and takes commands and reports events over ctrl_tcp (netstring JSON).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::Child,
};

const MODULES: &str = "/usr/lib/baresip/modules";

pub struct Baresip {
    child: Child,
    ctrl: TcpStream,
    buf: Vec<u8>,
    dir: tempfile::TempDir,
    pub sip: SocketAddr,
    pub user: String,
    token: u32,
}

impl Baresip {
    /// Start baresip as `user@127.0.0.1`, its microphone playing `source` (8 kHz mono WAV;
    /// pad it with silence: baresip hangs up when the file ends), answering calls by itself.
    /// Runs at most `limit`.
    pub async fn start(user: &str, source: &Path, limit: Duration) -> Result<Self> {
        Self::start_with(user, source, limit, true).await
    }

    /// As [`Baresip::start`]; with `answer` false incoming calls ring until the caller gives up.
    pub async fn start_with(
        user: &str,
        source: &Path,
        limit: Duration,
        answer: bool,
    ) -> Result<Self> {
        Self::start_account(user, source, limit, answer, None).await
    }

    /// As [`Baresip::start`], registered as `user` with `password` at `registrar` (refreshing
    /// every minute); `REGISTER_OK` or `REGISTER_FAIL` follows as an event.
    pub async fn registered(
        user: &str,
        password: &str,
        registrar: SocketAddr,
        source: &Path,
        limit: Duration,
    ) -> Result<Self> {
        Self::registered_with(user, password, registrar, source, limit, true, false).await
    }

    /// As [`Baresip::registered`]; with `answer` false incoming calls ring until the caller
    /// gives up (a desk phone nobody picks up); with `lamp` it also shows message waiting
    /// (its `mwi` module SUBSCRIBEs to its own mailbox and prints each NOTIFY as
    /// `----- MWI for …`; registered only once baresip runs: see `try_start`).
    pub async fn registered_with(
        user: &str,
        password: &str,
        registrar: SocketAddr,
        source: &Path,
        limit: Duration,
        answer: bool,
        lamp: bool,
    ) -> Result<Self> {
        Self::start_account(
            user,
            source,
            limit,
            answer,
            Some((registrar, password, lamp)),
        )
        .await
    }

    async fn start_account(
        user: &str,
        source: &Path,
        limit: Duration,
        answer: bool,
        registrar: Option<(SocketAddr, &str, bool)>,
    ) -> Result<Self> {
        // A port found free can be taken by someone else's outgoing connection before baresip
        // binds it: then try again with others.
        for attempt in 1.. {
            match Self::try_start(user, source, limit, answer, registrar).await {
                Err(e) if attempt < 3 && e.to_string().contains("Address already in use") => {}
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    async fn try_start(
        user: &str,
        source: &Path,
        limit: Duration,
        answer: bool,
        registrar: Option<(SocketAddr, &str, bool)>,
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let sip_port = free_port()?;
        let ctrl_port = free_port()?;
        let snd = dir.path().join("heard");
        std::fs::create_dir_all(&snd)?;
        let config = format!(
            "poll_method\tepoll\n\
             sip_listen\t127.0.0.1:{sip_port}\n\
             net_interface\t127.0.0.1\n\
             audio_source\taufile,{src}\n\
             audio_player\talsa,null\n\
             audio_alert\talsa,null\n\
             ausrc_srate\t8000\n\
             auplay_srate\t8000\n\
             ausrc_channels\t1\n\
             auplay_channels\t1\n\
             rtp_ports\t30000-39999\n\
             module_path\t{MODULES}\n\
             module\tg711.so\n\
             module\taufile.so\n\
             module\talsa.so\n\
             module\tsndfile.so\n\
             module_app\taccount.so\n\
             module_app\tmenu.so\n\
             module_app\tctrl_tcp.so\n\
             snd_path\t{snd}\n\
             ctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n",
            src = source.display(),
            snd = snd.display(),
        );
        let config = if registrar.is_some_and(|(_, _, lamp)| lamp) {
            format!("{config}module_app\tmwi.so\n")
        } else {
            config
        };
        std::fs::write(dir.path().join("config"), config)?;
        let answermode = if answer { "auto" } else { "manual" };
        let account = match registrar {
            // The AOR's host is the registrar; baresip REGISTERs there and answers its
            // challenge with the password.
            Some((at, password, _)) => format!(
                "<sip:{user}@{at}>;auth_pass={password};regint=60;answermode={answermode};\
                 audio_codecs=pcmu,pcma\n"
            ),
            None => format!(
                "<sip:{user}@127.0.0.1:{sip_port}>;regint=0;answermode={answermode};\
                 audio_codecs=pcmu,pcma\n"
            ),
        };
        // With the lamp, the account is added once baresip runs (`uanew`, below): its `mwi`
        // module has a start-up race. One millisecond after start a timer subscribes again for
        // every subscription in the list it walks, appending to that list as it goes; when a
        // registration (and so a first subscription) finished before that timer fired — Hark
        // answers REGISTER in well under a millisecond on loopback — the phone sends SUBSCRIBEs
        // without end. Registering only after start-up keeps the list empty when it fires.
        let lamp = registrar.is_some_and(|(_, _, lamp)| lamp);
        let later = lamp.then(|| account.trim().to_owned());
        std::fs::write(
            dir.path().join("accounts"),
            if lamp { String::new() } else { account },
        )?;
        std::fs::write(dir.path().join("contacts"), "")?;
        let log = std::fs::File::create(dir.path().join("baresip.log"))?;
        let child = tokio::process::Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .args(["-t", &limit.as_secs().to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting baresip")?;
        // ctrl_tcp listens once baresip is up.
        let ctrl_addr: SocketAddr = ([127, 0, 0, 1], ctrl_port).into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(ctrl_addr).await {
                Ok(s) => break s,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    bail!(
                        "baresip's control port never opened: {e}\n{}",
                        read_log(dir.path())
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let mut phone = Self {
            child,
            ctrl,
            buf: Vec::new(),
            dir,
            sip: ([127, 0, 0, 1], sip_port).into(),
            user: user.to_owned(),
            token: 0,
        };
        if let Some(account) = later {
            phone
                .wait_log("baresip is ready.", Duration::from_secs(10))
                .await?;
            phone.command("uanew", &account).await?;
        }
        Ok(phone)
    }

    /// The SIP URI that rings this phone.
    pub fn uri(&self) -> String {
        format!("sip:{}@{}", self.user, self.sip)
    }

    /// Send a ctrl_tcp command (`dial`, `sndcode`, `hangup`, …).
    pub async fn command(&mut self, command: &str, params: &str) -> Result<()> {
        self.token += 1;
        let body = json!({"command": command, "params": params, "token": self.token.to_string()})
            .to_string();
        self.ctrl
            .write_all(format!("{}:{},", body.len(), body).as_bytes())
            .await?;
        Ok(())
    }

    /// Wait for an event of `kind` (`CALL_ESTABLISHED`, `CALL_CLOSED`, …), at most `limit`.
    pub async fn event(&mut self, kind: &str, limit: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(msg) = self.take_netstring()? {
                if msg["event"] == true && msg["type"] == kind {
                    return Ok(msg);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.ctrl.read(&mut chunk))
                .await
                .with_context(|| {
                    format!(
                        "baresip never reported {kind}\n{}",
                        read_log(self.dir.path())
                    )
                })??;
            if n == 0 {
                bail!(
                    "baresip closed its control port\n{}",
                    read_log(self.dir.path())
                );
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn take_netstring(&mut self) -> Result<Option<Value>> {
        let Some(colon) = self.buf.iter().position(|&b| b == b':') else {
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&self.buf[..colon])?.parse()?;
        if self.buf.len() < colon + 1 + len + 1 {
            return Ok(None);
        }
        let value = serde_json::from_slice(&self.buf[colon + 1..colon + 1 + len])?;
        self.buf.drain(..colon + 1 + len + 1);
        Ok(Some(value))
    }

    /// What baresip heard on its calls (sndfile's decoded-audio WAVs), oldest first.
    pub fn heard(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("heard"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Wait until the phone has heard `freq` alone for at least `min_ms` on its current call
    /// (a contact's recorded name, the beep), reading what sndfile has written so far.
    pub async fn wait_heard(&self, freq: f32, min_ms: u64, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(path) = self.heard().pop()
                && let Ok(bytes) = std::fs::read(&path)
                && let Some((rate, samples)) = super::audio::wav_so_far(&bytes)
                && super::audio::tone_ms(&samples, rate, freq) >= min_ms
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the phone never heard {min_ms} ms of {freq} Hz\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// Wait until baresip's output holds `text`, at most `limit`. (Registration finishes at
    /// start-up, before the control connection exists, so its events are not seen there.)
    pub async fn wait_log(&self, text: &str, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let log = read_log(self.dir.path());
            if log.contains(text) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("baresip never printed {text:?}\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = self.command("quit", "").await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default()
}

fn free_port() -> Result<u16> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let port = s.local_addr()?.port();
    // TCP on the same number too (SIP listens on both, ctrl_tcp on TCP).
    std::net::TcpListener::bind(("127.0.0.1", port))?;
    Ok(port)
}
