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

    /// Run `script`, which calls its last argument with the result when it is done.
    pub async fn eval_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute_async(script, args).await?)
    }

    /// Make the page `width`×`height` CSS pixels (a phone's or a desktop's screen), and
    /// return the width the page then has.
    pub async fn resize(&self, width: u32, height: u32) -> Result<u64> {
        self.client.set_window_size(width, height).await?;
        let inner = self.eval("return window.innerWidth", vec![]).await?;
        inner.as_u64().context("innerWidth")
    }

    /// The page's horizontal overflow (how far its content reaches past the screen's right
    /// edge; 0 when it fits) and every navigation control that is not on screen.
    pub async fn layout_faults(&self) -> Result<(i64, Vec<String>)> {
        let v = self
            .eval(
                "const w = window.innerWidth;
                 const over = Math.max(document.documentElement.scrollWidth,
                                       document.body.scrollWidth) - w;
                 const off = [...document.querySelectorAll('header.top a, header.top button')]
                   .filter((el) => {
                     const r = el.getBoundingClientRect();
                     const style = getComputedStyle(el);
                     return r.width === 0 || r.height === 0 || r.left < 0 || r.right > w
                       || style.visibility === 'hidden';
                   })
                   .map((el) => el.textContent.trim());
                 return [over, off];",
                vec![],
            )
            .await?;
        let over = v[0].as_i64().context("overflow")?;
        let off = v[1]
            .as_array()
            .context("controls")?
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect();
        Ok((over, off))
    }

    /// Run axe-core (the npm package, installed by scripts/test.sh into tests/axe) in the
    /// page; returns its serious and critical violations as "rule: what (where)" lines.
    pub async fn accessibility_faults(&self) -> Result<Vec<String>> {
        let axe = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/axe/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe)
            .with_context(|| format!("reading {} (scripts/test.sh installs it)", axe.display()))?;
        self.eval(&source, vec![]).await?;
        let v = self
            .eval_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then((r) => done(r.violations
                     .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)))
                   .catch((e) => done([`axe failed: ${e}`]));",
                vec![],
            )
            .await?;
        Ok(v.as_array()
            .context("violations")?
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect())
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
