//! The web portal: actix-web pages and JSON API.
//!
//! Pages (server-rendered with askama, a small ES module where a page is live):
//! - [`login`]: `/login`, `/logout` — sessions with CSRF tokens ([`session`]), per-address
//!   rate limits and per-account lockout.
//! - [`dashboard`]: `/` — contacts with presence, my status, inbox, sent with receipts.
//! - [`inbox`]: a person's own message audio, and deleting from the inbox.
//! - [`account`]: password, PIN and API tokens.
//! - [`profile`]: `/profile` — details, devices, delivery rules, recorded name, contacts,
//!   groups.
//! - [`send`]: sending a message, from the compose page or the API.
//! - [`admin`]: `/admin` — people, plugins, system health.
//! - [`push`]: `/ws`, one WebSocket per tab, fed by this node's bus queue; presence.
//!
//! JSON API:
//! - [`api_session`]: `POST /api/v1/login` trades an extension and password for an API token.
//! - [`send::api`]: `POST /api/v1/messages` uploads audio as a voice message;
//!   `GET /api/v1/messages/sent` and `GET /api/v1/messages/{id}` show recipients' states and
//!   receipts to the sender.
//! - [`listen`]: the signed link from an e-mail opens a player page; fetching its audio counts
//!   as a play and produces the sender's "heard" receipt.
//! - [`health`]: `/healthz` and `/readyz`.
//!
//! The server takes an already-bound listener and a shutdown token, so tests bind port 0 and
//! stop it cleanly; on shutdown it stops accepting and finishes in-flight requests.

mod account;
mod admin;
mod api;
mod api_session;
mod audio_http;
mod auth;
mod dashboard;
mod error;
mod forms;
mod forwarded;
mod health;
mod inbox;
mod listen;
mod live_stream;
mod login;
mod openapi;
mod page;
mod profile;
mod push;
mod send;
mod sent;
mod session;
mod static_files;
mod throttle;

use actix_web::{App, HttpServer, web};
use hark_core::{Deps, config::PortalConfig, link::LinkSigner};
use std::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use admin::{PluginCheck, PluginReport};
pub use error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("bus: {0}")]
    Bus(#[from] hark_core::bus::BusError),
    #[error("config: {0}")]
    Config(String),
}

/// What every request handler can reach.
#[derive(Debug)]
pub(crate) struct AppState {
    pub deps: Deps,
    pub config: PortalConfig,
    pub signer: LinkSigner,
    pub login: login::LoginGuard,
    /// How uploaded audio is decoded.
    pub decoder: hark_core::audio::Decoder,
    /// Per-user API and sending budgets.
    pub throttle: throttle::Throttle,
    /// Reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// This node's tabs and push queue.
    pub hub: std::sync::Arc<push::Hub>,
    /// Base URL of links sent by e-mail.
    pub public_url: String,
    /// Validates plugin uploads.
    pub plugins: std::sync::Arc<dyn PluginCheck>,
    /// Largest plugin upload.
    pub plugin_max_bytes: usize,
    /// The channels a message takes when a person's rules say nothing that can be used (the
    /// router's `default_channels`), shown on the profile page.
    pub default_channels: Vec<String>,
    /// The realm phones authenticate in.
    pub sip_realm: String,
}

/// What the portal is started with besides its dependencies.
#[derive(Debug)]
pub struct Setup {
    pub config: PortalConfig,
    pub signer: LinkSigner,
    /// Base URL of links in e-mails (device verification).
    pub public_url: String,
    pub plugins: std::sync::Arc<dyn PluginCheck>,
    pub plugin_max_bytes: usize,
    /// How uploaded audio is decoded (in a limited child process, normally).
    pub decoder: hark_core::audio::Decoder,
    /// The router's `default_channels` (the profile page says what they are).
    pub default_channels: Vec<String>,
    /// The IVR's digest realm (`ivr.sip_realm`), in which phones' passwords are stored.
    pub sip_realm: String,
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(static_files::file)
        .service(login::show_form)
        .service(login::submit)
        .service(login::logout)
        .service(dashboard::show)
        .service(dashboard::set_status)
        .service(send::compose_page::show)
        .service(send::compose_page::send)
        .service(send::compose_page::call_me)
        .service(inbox::audio)
        .service(live_stream::socket)
        .service(inbox::delete)
        .service(inbox::restore)
        .service(inbox::mark_unheard)
        .service(dashboard::trash)
        .service(inbox::attachment)
        .service(profile::show)
        .service(profile::set_sip)
        .service(profile::clear_sip)
        .service(profile::save_details)
        .service(profile::add_device)
        .service(profile::delete_device)
        .service(profile::verify_page)
        .service(profile::verify)
        .service(profile::save_delivery)
        .service(profile::add_sender)
        .service(profile::delete_sender)
        .service(profile::upload_name)
        .service(profile::name_audio)
        .service(profile::delete_name)
        .service(profile::set_contact)
        .service(profile::delete_contact)
        .service(profile::create_group)
        .service(profile::update_group)
        .service(profile::delete_group)
        .configure(admin::routes)
        .service(account::show)
        .service(account::change_password)
        .service(account::change_pin)
        .service(account::create_token)
        .service(account::revoke_token)
        .service(push::socket)
        .service(api_session::login)
        .service(send::api::upload)
        .service(send::api::sent)
        .service(send::api::detail)
        .configure(api::routes)
        .service(listen::page)
        .service(listen::audio)
        .service(openapi::document);
}

/// Any address the portal does not have: the API answers in JSON, anything else gets the
/// portal's own "Not found" page (not the browser's bare one).
async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    if req.path().starts_with("/api/") {
        error::ApiError::NotFound.error_response()
    } else {
        page::PageError::NotFound.error_response()
    }
}

/// Serve on `listener` until `shutdown`, then finish in-flight requests and return.
pub async fn run(
    setup: Setup,
    deps: Deps,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), PortalError> {
    let Setup {
        config,
        signer,
        public_url,
        plugins,
        plugin_max_bytes,
        decoder,
        default_channels,
        sip_realm,
    } = setup;
    let per_minute = config.login_per_minute;
    let login = tokio::task::spawn_blocking(move || login::LoginGuard::new(per_minute))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    deps.metrics.register(|r| {
        login.checks.register(
            r,
            "hark_portal_password_checks",
            "argon2id password checks the portal ran (unknown extensions included)",
        )
    });
    let hub = push::start(&deps, shutdown.child_token()).await?;
    let state = web::Data::new(AppState {
        login,
        decoder,
        throttle: throttle::Throttle::new(config.api_per_minute, config.sends_per_minute),
        trusted_proxies: forwarded::parse_trusted(&config.trusted_proxies)
            .map_err(PortalError::Config)?,
        deps,
        config,
        signer,
        hub,
        public_url,
        plugins,
        plugin_max_bytes,
        default_channels,
        sip_realm,
    });
    listener.set_nonblocking(true)?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(error::json_config())
            .app_data(error::query_config())
            .wrap(actix_web::middleware::from_fn(forms::act_once))
            .wrap(
                actix_web::middleware::Logger::new("%{request}xi %s %b %Dms")
                    .custom_request_replace("request", |req| log_line(req.method(), req.path()))
                    .log_target("hark::http"),
            )
            .configure(routes)
            .default_service(web::to(not_found))
    })
    .workers(2)
    // Push frames are small and come in bursts (a receipt, then a pop-up): with Nagle's
    // algorithm on, the second waited for the browser's delayed ACK, 40 ms on Linux.
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(15)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let served = tokio::spawn(server);
    shutdown.cancelled().await;
    handle.stop(true).await;
    match served.await {
        Ok(result) => result.map_err(PortalError::from),
        Err(e) => Err(PortalError::Io(std::io::Error::other(e.to_string()))),
    }
}

/// The request as the access log shows it: method and path, with the secrets some paths
/// carry (listen-link and device-verification tokens) replaced, and never the query string.
fn log_line(method: &actix_web::http::Method, path: &str) -> String {
    format!("{method} {}", redact_path(path))
}

/// `path` with any capability token in it replaced by `[redacted]`.
pub fn redact_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    let secret_at = match parts.as_slice() {
        ["", "listen", _, ..] => Some(2),
        ["", "verify", _, _, ..] => Some(3),
        _ => None,
    };
    match secret_at {
        Some(i) => parts
            .iter()
            .enumerate()
            .map(|(n, p)| if n == i { "[redacted]" } else { p })
            .collect::<Vec<_>>()
            .join("/"),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_paths_carry_no_tokens() {
        assert_eq!(redact_path("/listen/abc.def"), "/listen/[redacted]");
        assert_eq!(
            redact_path("/listen/abc.def/audio"),
            "/listen/[redacted]/audio"
        );
        assert_eq!(redact_path("/verify/7/s3cret"), "/verify/7/[redacted]");
        assert_eq!(redact_path("/messages/m1/audio"), "/messages/m1/audio");
        assert_eq!(redact_path("/"), "/");
    }
}
