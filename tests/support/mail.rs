//! E-mail in tests: a real SMTP server (aiosmtpd) writing what it accepts to a folder, and
//! the letters read back from it.

use super::{WAIT, eventually};
use anyhow::{Context, Result, anyhow};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
};
use tokio::io::AsyncBufReadExt;

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
