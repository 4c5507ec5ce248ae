//! Headless Chromium driven over WebDriver (Debian's chromium and chromium-driver, through
//! fantoccini), as ../shared/REAL-CLIENTS.md describes. Each [`Browser`] is its own
//! chromedriver and profile, so two people can use the portal side by side; the fake
//! microphone plays a WAV the test chose. Screenshots go to `target/screenshots/`.

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    base: String,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Browser {
    /// A browser on `base` whose microphone plays `microphone` (a WAV file).
    pub async fn start(base: &str, microphone: Option<&Path>) -> Result<Self> {
        let port = free_port()?;
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver (needs chromium-driver; run scripts/test.sh)")?;
        let profile = tempfile::tempdir()?;
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--window-size=1280,900".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            "--use-fake-ui-for-media-stream".into(),
            "--use-fake-device-for-media-stream".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if let Some(mic) = microphone {
            args.push(format!(
                "--use-file-for-fake-audio-capture={}",
                mic.display()
            ));
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
        });
        let serde_json::Value::Object(caps) = caps else {
            bail!("capabilities");
        };
        // chromedriver takes a moment to listen.
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + super::WAIT;
        let client = loop {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "chromedriver not ready");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => bail!("chromedriver: {e}"),
            }
        };
        Ok(Self {
            client,
            driver,
            _profile: profile,
            base: base.to_owned(),
        })
    }

    pub async fn goto(&self, path: &str) -> Result<()> {
        self.client.goto(&format!("{}{path}", self.base)).await?;
        Ok(())
    }

    /// Sign in through the login form.
    pub async fn login(&self, extension: &str, password: &str) -> Result<()> {
        self.goto("/login").await?;
        self.find("#extension").await?.send_keys(extension).await?;
        self.find("#password").await?.send_keys(password).await?;
        self.find("#login button[type=submit]")
            .await?
            .click()
            .await?;
        self.wait_for("#contacts").await?;
        Ok(())
    }

    pub async fn find(&self, css: &str) -> Result<Element> {
        Ok(self.client.find(Locator::Css(css)).await?)
    }

    /// Wait (bounded) until `css` matches an element.
    pub async fn wait_for(&self, css: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(super::WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for {css}"))
    }

    /// Run `script` (a function body; `arguments` are `args`) and return its value.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Wait (bounded) until `script` returns something other than null/false.
    pub async fn wait_until(&self, what: &str, script: &str) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + super::WAIT;
        loop {
            let v = self.eval(script, vec![]).await?;
            if !(v.is_null() || v == Value::Bool(false)) {
                return Ok(v);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Save what the page looks like to `target/screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}
