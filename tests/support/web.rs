//! A person using the portal over HTTP, as a browser would: a cookie jar, the CSRF token from
//! the pages, forms posted without following redirects (so tests see the 303s), and the
//! dashboard's WebSocket with the browser's Cookie and Origin headers.

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use reqwest::{StatusCode, redirect::Policy};
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

pub struct WebSession {
    pub http: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub base: String,
    pub csrf: String,
}

/// The value of the first hidden `csrf` field in a page.
pub fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = page[at..].find('"')?;
    Some(page[at..at + end].to_owned())
}

/// The action (with its `once` token) of the form whose tag carries `id="<id>"` in `page`.
pub fn form_action(page: &str, id: &str) -> Option<String> {
    let wanted = format!("id=\"{id}\"");
    page.match_indices("<form").find_map(|(at, _)| {
        let tag = &page[at..at + page[at..].find('>')?];
        if !tag.contains(&wanted) {
            return None;
        }
        let start = tag.find("action=\"")? + "action=\"".len();
        let end = tag[start..].find('"')?;
        Some(tag[start..start + end].replace("&amp;", "&"))
    })
}

/// A form as a browser submits it: the post's status, and the page the browser shows after
/// it (the page a `303` leads to, or the post's own answer).
#[derive(Debug)]
pub struct Submitted {
    pub status: StatusCode,
    pub page: String,
}

impl WebSession {
    /// Open `page`, fill in the form `id` with `fields` (and its CSRF token) and submit it,
    /// following a redirect as a browser does. The action posted to is returned too, so a test
    /// can post the very same form again (a reload, a double click).
    pub async fn submit(
        &self,
        page: &str,
        id: &str,
        fields: &[(&str, &str)],
    ) -> Result<(Submitted, String)> {
        let (status, shown) = self.get(page).await?;
        if status != StatusCode::OK {
            bail!("{page}: {status}");
        }
        let action = form_action(&shown, id).with_context(|| format!("form {id} on {page}"))?;
        let submitted = self.resubmit(&action, fields).await?;
        Ok((submitted, action))
    }

    /// Post `fields` (and the CSRF token) to `action` and follow a redirect, as a browser does.
    pub async fn resubmit(&self, action: &str, fields: &[(&str, &str)]) -> Result<Submitted> {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &self.csrf));
        let r = self
            .http
            .post(format!("{}{action}", self.base))
            .form(&all)
            .send()
            .await?;
        let status = r.status();
        if status != StatusCode::SEE_OTHER {
            return Ok(Submitted {
                status,
                page: r.text().await?,
            });
        }
        let to = r.headers()["location"].to_str()?.to_owned();
        let (_, page) = self.get(&to).await?;
        Ok(Submitted { status, page })
    }

    /// Upload a plugin on the admin page (priority 10, enabled): the status and page.
    pub async fn upload_plugin(&self, wasm: Vec<u8>, config: &str) -> (StatusCode, String) {
        let form = reqwest::multipart::Form::new()
            .text("csrf", self.csrf.clone())
            .part(
                "wasm",
                reqwest::multipart::Part::bytes(wasm).file_name("plugin.wasm"),
            )
            .text("config", config.to_owned())
            .text("priority", "10")
            .text("enabled", "1");
        let r = self
            .http
            .post(format!("{}/admin/plugins", self.base))
            .multipart(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub fn anonymous(base: &str) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            jar: jar.clone(),
            http: reqwest::Client::builder()
                .cookie_provider(jar)
                // What a browser asks for when it opens a page (the portal shows a form's
                // notice on the next page opened so).
                .default_headers(reqwest::header::HeaderMap::from_iter([(
                    reqwest::header::ACCEPT,
                    reqwest::header::HeaderValue::from_static(
                        "text/html,application/xhtml+xml,*/*;q=0.8",
                    ),
                )]))
                .redirect(Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: base.to_owned(),
            csrf: String::new(),
        }
    }

    /// Sign in through the login form; the response to the form post.
    pub async fn try_login(
        &mut self,
        extension: &str,
        password: &str,
    ) -> Result<(StatusCode, String)> {
        let (status, form) = self.get("/login").await?;
        if status != StatusCode::OK {
            bail!("login page: {status}");
        }
        let csrf = csrf_in(&form).context("a CSRF field on the login form")?;
        let r = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[
                ("extension", extension),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ])
            .send()
            .await?;
        let status = r.status();
        let body = r.text().await?;
        if status == StatusCode::SEE_OTHER {
            let (_, page) = self.get("/").await?;
            self.csrf = csrf_in(&page).context("a CSRF token on the dashboard")?;
        }
        Ok((status, body))
    }

    /// Sign in, expecting to get in.
    pub async fn login(base: &str, extension: &str, password: &str) -> Self {
        let mut s = Self::anonymous(base);
        let (status, body) = s
            .try_login(extension, password)
            .await
            .expect("login request");
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "login as {extension}: {body}"
        );
        s
    }

    pub async fn get(&self, path: &str) -> Result<(StatusCode, String)> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok((r.status(), r.text().await?))
    }

    pub async fn get_bytes(&self, path: &str) -> Result<(StatusCode, Vec<u8>)> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok((r.status(), r.bytes().await?.to_vec()))
    }

    /// Post a form with this session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Result<(StatusCode, String)> {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &self.csrf));
        self.post_raw(path, &all).await
    }

    /// Post a form exactly as given (no CSRF token added).
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<(StatusCode, String)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await?;
        Ok((r.status(), r.text().await?))
    }

    /// The `Cookie` header this browser would send.
    pub fn cookie(&self) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&self.base.parse().expect("base url"))
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Open the dashboard's WebSocket as this page would.
    pub async fn socket(&self) -> Result<Socket> {
        self.socket_from(&self.cookie(), &self.base).await
    }

    /// Open the dashboard's WebSocket with `origin` (a browser sends its page's origin).
    pub async fn socket_from(&self, cookie: &str, origin: &str) -> Result<Socket> {
        self.socket_at("/ws", cookie, origin).await
    }

    /// Open a message's live stream as the page would.
    pub async fn live(&self, message: &str) -> Result<Socket> {
        self.socket_at(
            &format!("/messages/{message}/live"),
            &self.cookie(),
            &self.base,
        )
        .await
    }

    async fn socket_at(&self, path: &str, cookie: &str, origin: &str) -> Result<Socket> {
        let ws_url = self.base.replacen("http://", "ws://", 1) + path;
        let mut req = ws_url.into_client_request()?;
        req.headers_mut().insert("cookie", cookie.parse()?);
        req.headers_mut().insert("origin", origin.parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Socket { ws })
    }
}

pub struct Socket {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    /// The next JSON frame whose `type` is `kind` and that satisfies `want`, skipping others.
    pub async fn expect(&mut self, kind: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + super::WAIT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for a {kind} frame"))
                .expect("socket open")
                .expect("a frame");
            if let tungstenite::Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).expect("JSON frame");
                if v["type"] == kind && want(&v) {
                    return v;
                }
            }
        }
    }

    /// The `presence` frame saying `extension` is now `status`.
    pub async fn expect_presence(&mut self, extension: &str, status: &str) -> Value {
        self.expect("presence", |f| {
            f["extension"] == extension && f["status"] == status
        })
        .await
    }

    /// The `receipt` frame of `kind` from `extension` for message `id`.
    pub async fn expect_receipt(&mut self, id: &str, extension: &str, kind: &str) -> Value {
        self.expect("receipt", |f| {
            f["message_id"] == id && f["extension"] == extension && f["kind"] == kind
        })
        .await
    }

    /// Every binary frame until a text frame (the stream's end), which is returned with them.
    pub async fn until_text(&mut self) -> (Vec<Vec<u8>>, Value) {
        let (timed, end) = self.until_text_timed().await;
        (timed.into_iter().map(|(_, b)| b).collect(), end)
    }

    /// Every binary frame, with the moment it arrived, until a text frame (the stream's end).
    pub async fn until_text_timed(&mut self) -> (Vec<(std::time::Instant, Vec<u8>)>, Value) {
        let deadline = tokio::time::Instant::now() + super::WAIT;
        let mut binary = Vec::new();
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("a frame");
            match msg {
                tungstenite::Message::Binary(b) => {
                    binary.push((std::time::Instant::now(), b.to_vec()));
                }
                tungstenite::Message::Text(t) => {
                    return (binary, serde_json::from_str(&t).expect("JSON frame"));
                }
                _ => {}
            }
        }
    }

    /// The next frame of type `kind` that `want` accepts, and when it arrived.
    pub async fn expect_timed(
        &mut self,
        kind: &str,
        want: impl Fn(&Value) -> bool,
    ) -> (std::time::Instant, Value) {
        let v = self.expect(kind, want).await;
        (std::time::Instant::now(), v)
    }

    /// The next JSON text frame within `wait` (`None` if there was none); an error once the
    /// socket is closed or broken — for tabs that must survive a portal going away.
    pub async fn next_json(&mut self, wait: Duration) -> Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("socket closed"),
                Ok(Some(Err(e))) => bail!("socket broken: {e}"),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                tungstenite::Message::Text(t) => return Ok(Some(serde_json::from_str(&t)?)),
                tungstenite::Message::Close(_) => bail!("socket closed by the portal"),
                _ => {}
            }
        }
    }

    /// Send a JSON frame; an error if the socket is gone.
    pub async fn try_send(&mut self, frame: &Value) -> Result<()> {
        self.ws
            .send(tungstenite::Message::Text(frame.to_string().into()))
            .await?;
        Ok(())
    }

    /// Send a JSON frame as the page's script would.
    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(tungstenite::Message::Text(frame.to_string().into()))
            .await
            .expect("socket open");
    }

    /// Send a raw frame (text or binary) of exactly these bytes.
    pub async fn send_frame(&mut self, frame: tungstenite::Message) -> Result<()> {
        self.ws.send(frame).await?;
        Ok(())
    }

    /// Ping and wait for the pong: `Ok` while the portal keeps the socket open; the close
    /// code it sent (or `None` for a socket that just broke) once it closed it.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Option<u16>> {
        self.ws
            .send(tungstenite::Message::Ping(payload.to_vec().into()))
            .await
            .map_err(|_| None)?;
        self.until_pong_or_close(payload).await
    }

    async fn until_pong_or_close(&mut self, payload: &[u8]) -> Result<(), Option<u16>> {
        let deadline = tokio::time::Instant::now() + super::WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("neither a pong nor a close in time"),
                Ok(None) | Ok(Some(Err(_))) => return Err(None),
                Ok(Some(Ok(tungstenite::Message::Pong(p)))) if p.as_ref() == payload => {
                    return Ok(());
                }
                Ok(Some(Ok(tungstenite::Message::Close(frame)))) => {
                    return Err(frame.map(|f| u16::from(f.code)));
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Wait for the portal to close the socket; its close code.
    pub async fn closed(&mut self) -> Option<u16> {
        self.until_pong_or_close(b"\0never").await.err().flatten()
    }

    pub async fn close(mut self) {
        let _ = self.ws.send(tungstenite::Message::Close(None)).await;
        // Read until the server's close arrives, so it has seen ours.
        let _ = tokio::time::timeout(super::WAIT, async {
            while let Some(Ok(m)) = self.ws.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await;
    }
}
