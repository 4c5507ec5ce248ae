//! Where e-mail goes: an SMTP relay (with the TLS its URL asks for) or `.eml` files in a
//! folder.

use crate::NotifierError;
use hark_core::config::NotifierConfig;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::client::{Certificate, Tls, TlsParameters},
};
use std::path::Path;

/// Where e-mail goes.
#[derive(Debug)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a folder (embedded default; shown in the portal's outbox).
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn from_config(config: &NotifierConfig, outbox_dir: &Path) -> Result<Self, NotifierError> {
        let url = config.smtp_url.expose();
        if url.is_empty() {
            std::fs::create_dir_all(outbox_dir)
                .map_err(|e| NotifierError::Transport(format!("{}: {e}", outbox_dir.display())))?;
            return Ok(Mailer::Files(AsyncFileTransport::new(outbox_dir)));
        }
        let ca_file = (!config.smtp_ca_file.is_empty()).then_some(config.smtp_ca_file.as_str());
        let tls = tls_policy(url, ca_file)?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NotifierError::Transport(e.to_string()))?
            .tls(tls);
        Ok(Mailer::Smtp(builder.build()))
    }

    pub(super) async fn send(&self, email: Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(t) => t.send(email).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Mailer::Files(t) => t
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}

/// The relay's host in `scheme://[user[:password]@]host[:port][/…][?…]`, and whether the URL
/// carries credentials.
fn host_of(url: &str) -> (String, bool) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((_, h)) => (true, h),
        None => (false, authority),
    };
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    (host.to_owned(), credentials)
}

/// The TLS for the relay, from the URL: `smtps://` is TLS from the start; `?tls=required`
/// is STARTTLS or nothing; `?tls=none` is plain text; otherwise STARTTLS when the relay
/// offers it (then its certificate must verify). The certificate in `ca_file` is trusted
/// besides the system's roots. Credentials are refused over anything a network attacker could
/// strip TLS from (opportunistic or none) unless the relay is on this machine's loopback.
fn tls_policy(url: &str, ca_file: Option<&str>) -> Result<Tls, NotifierError> {
    let bad = |e: String| NotifierError::Transport(e);
    let (host, credentials) = host_of(url);
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let mode = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tls="))
        .unwrap_or("opportunistic");
    let wrapper = url.starts_with("smtps://");
    let strong = wrapper || mode == "required";
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if credentials && !strong && !loopback {
        return Err(bad(format!(
            "notifier.smtp_url sends a password to {host} without required TLS: use smtps:// or \
             ?tls=required"
        )));
    }
    if mode == "none" && !wrapper {
        return Ok(Tls::None);
    }
    let mut params = TlsParameters::builder(host);
    if let Some(ca_file) = ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| bad(format!("{ca_file}: {e}")))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| bad(format!("{ca_file}: {e}")))?;
        params = params.add_root_certificate(cert);
    }
    let params = params.build().map_err(|e| bad(e.to_string()))?;
    Ok(if wrapper {
        Tls::Wrapper(params)
    } else if mode == "required" {
        Tls::Required(params)
    } else {
        Tls::Opportunistic(params)
    })
}

/// Why the relay did not take an e-mail.
pub(super) enum SendError {
    /// The relay said no for good (5xx): report a failed attempt.
    Permanent(String),
    /// Try again later (connection refused, 4xx, disk full).
    Transient(String),
}

#[cfg(test)]
mod tls_tests {
    use super::*;

    fn kind(url: &str) -> Result<&'static str, String> {
        tls_policy(url, None)
            .map(|t| match t {
                Tls::None => "none",
                Tls::Opportunistic(_) => "opportunistic",
                Tls::Required(_) => "required",
                Tls::Wrapper(_) => "wrapper",
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_url_chooses_tls_and_passwords_never_go_in_clear() {
        assert_eq!(kind("smtp://relay.example.org:25"), Ok("opportunistic"));
        assert_eq!(kind("smtp://relay.example.org:25?tls=none"), Ok("none"));
        assert_eq!(
            kind("smtp://u:p@relay.example.org:587?tls=required"),
            Ok("required")
        );
        assert_eq!(kind("smtps://u:p@relay.example.org:465"), Ok("wrapper"));
        // A password over STARTTLS-if-offered (or none) could be read by whoever strips the
        // offer: refused, except to a relay on loopback.
        for url in [
            "smtp://u:p@relay.example.org:587",
            "smtp://u:p@relay.example.org:587?tls=opportunistic",
            "smtp://u:p@relay.example.org:25?tls=none",
        ] {
            let e = kind(url).unwrap_err();
            assert!(
                e.contains("without required TLS") && !e.contains(":p@"),
                "{e}"
            );
        }
        assert_eq!(kind("smtp://u:p@127.0.0.1:2525"), Ok("opportunistic"));
        assert_eq!(kind("smtp://u:p@[::1]:2525?tls=none"), Ok("none"));
    }
}
