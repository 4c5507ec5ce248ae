//! Typed configuration: `hark.toml` (optional) overlaid with `HARK_…` environment variables.
//!
//! Nested keys use a double underscore: `HARK_DATABASE__URL`, `HARK_PORTAL__LISTEN`. Every field
//! has a default, so `hark serve` runs with no file at all (SQLite, in-process bus, e-mail to an
//! outbox folder). `hark.example.toml` in the repository lists every key with its default; a
//! test keeps the two in sync. Secrets are [`Secret`]s, which never print.
//!
//! Over 500 lines on purpose: one section per service, side by side as `hark.example.toml`
//! lists them, is one idea (the file to read for "what can I set").

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};
use std::{fmt, net::SocketAddr, path::PathBuf};

/// A string that must not reach logs: its `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("{0}")]
    Unsupported(String),
}

/// The whole configuration; each service receives only its own part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where SQLite, audio blobs, generated keys and the e-mail outbox live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub bus: BusConfig,
    pub blobs: BlobConfig,
    pub links: LinksConfig,
    pub portal: PortalConfig,
    pub router: RouterConfig,
    pub notifier: NotifierConfig,
    pub ivr: IvrConfig,
    pub ops: OpsConfig,
}

/// What a process tells its operators, whatever services it runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// `/healthz`, `/readyz` and Prometheus `/metrics` on this address; unset means none.
    pub listen: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("hark-data"),
            database: DatabaseConfig::default(),
            bus: BusConfig::default(),
            blobs: BlobConfig::default(),
            links: LinksConfig::default(),
            portal: PortalConfig::default(),
            router: RouterConfig::default(),
            notifier: NotifierConfig::default(),
            ivr: IvrConfig::default(),
            ops: OpsConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`. Empty means `sqlite://<data_dir>/hark.db`.
    pub url: Secret,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new(""),
            max_connections: 8,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `memory://` (one process) or `amqp://user:pass@host:port/vhost`.
    pub url: Secret,
    /// Prefix for every exchange and queue name; empty in production, unique per test run.
    pub namespace: String,
    /// Unacknowledged deliveries a consumer holds at once.
    pub prefetch: u16,
    /// Deliveries of one message before it goes to its dead-letter queue.
    pub delivery_limit: u32,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("memory://"),
            namespace: String::new(),
            prefetch: 16,
            delivery_limit: 5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobConfig {
    /// 64 hex digits (AES-256). Empty: read `<data_dir>/blob.key`, generating it on first run
    /// in embedded mode (SQLite); a distributed deployment must set it explicitly.
    pub key: Secret,
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            key: Secret::new(""),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinksConfig {
    /// Base URL that e-mailed links point at. Empty: `http://<portal.listen>`.
    pub public_url: String,
    /// HMAC key for listen links. Empty: `<data_dir>/link.key`, generated like the blob key.
    pub secret: Secret,
    /// How long an e-mailed link stays valid.
    pub ttl_hours: u32,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            public_url: String::new(),
            secret: Secret::new(""),
            ttl_hours: 24 * 7,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    pub listen: SocketAddr,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: usize,
    /// Largest total of the files attached to one message, in bytes.
    pub max_attachment_bytes: usize,
    /// Longest accepted message, in seconds.
    pub max_message_seconds: u32,
    /// Lifetime of a portal session, and of an API token from `POST /api/v1/login`.
    pub session_hours: u32,
    /// Mark the session cookie `Secure` (the portal is reached over HTTPS).
    pub secure_cookies: bool,
    /// Wrong passwords in a row before password logins to that account lock.
    pub login_attempts: u32,
    /// How long such a lock lasts.
    pub login_lockout_mins: u32,
    /// Login attempts a minute from one client address.
    pub login_per_minute: u32,
    /// API requests a minute one user may make (429 with `Retry-After` beyond); 0: no limit.
    pub api_per_minute: u32,
    /// Messages (and "call me to record" calls) a minute one user may send, from the API and
    /// the portal together; 0: no limit.
    pub sends_per_minute: u32,
    /// Largest frame a portal tab may send on its WebSocket (closed with 1009 beyond), and
    /// frames a second (closed with 1008 beyond).
    pub ws_max_frame_bytes: usize,
    pub ws_frames_per_sec: u32,
    /// Reverse proxies (IP addresses) whose `X-Forwarded-For`, `-Proto` and `-Host` are
    /// believed: the client's address for the login limit, HTTPS for `Secure` cookies, the
    /// host for the WebSocket Origin check. From anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Decode uploads in a child process (`hark decode-upload`) limited to
    /// `decoder_memory_mib` of address space and `decoder_seconds` of time, so that a decoder
    /// bug that aborts or spins costs one refused file, not the portal.
    pub decode_in_child: bool,
    /// The program to run as that child; empty: this executable.
    pub decoder_program: String,
    pub decoder_memory_mib: u32,
    pub decoder_seconds: u32,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_upload_bytes: 10 * 1024 * 1024,
            max_attachment_bytes: 10 * 1024 * 1024,
            max_message_seconds: 60,
            session_hours: 12,
            secure_cookies: false,
            login_attempts: 5,
            login_lockout_mins: 15,
            login_per_minute: 10,
            api_per_minute: 600,
            sends_per_minute: 60,
            ws_max_frame_bytes: 16 * 1024,
            ws_frames_per_sec: 20,
            trusted_proxies: Vec::new(),
            decode_in_child: true,
            decoder_program: String::new(),
            decoder_memory_mib: 512,
            decoder_seconds: 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Channels used for a recipient who has no delivery profile.
    pub default_channels: Vec<String>,
    /// Wall time one plugin call may take.
    pub plugin_deadline_ms: u32,
    /// Wasm work one plugin call may do (wasmtime fuel).
    pub plugin_fuel: u64,
    /// Linear memory one plugin instance may use.
    pub plugin_memory_mib: u32,
    /// Largest plugin accepted.
    pub plugin_max_module_mib: u32,
    /// Folder watched for `.wasm` plugins to install. Empty: `<data_dir>/plugins`.
    pub plugins_dir: String,
    /// How long a pop-up waits to be seen in an open portal tab before it counts as "not
    /// seen" (when the plan does not say).
    pub popup_give_up_secs: u32,
    /// Events one router handles at once (never two copies of one event; handlers that
    /// touch the same message serialise on its row, as two routers would).
    pub concurrency: u16,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            default_channels: vec!["email".into()],
            plugin_deadline_ms: 50,
            plugin_fuel: 10_000_000,
            plugin_memory_mib: 16,
            plugin_max_module_mib: 8,
            plugins_dir: String::new(),
            popup_give_up_secs: 120,
            concurrency: 8,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierConfig {
    /// `smtp://host:port`, `smtps://…` or `smtp://user:pass@host:port?tls=required`.
    /// Empty: write `.eml` files to `<data_dir>/outbox` instead of sending.
    pub smtp_url: Secret,
    /// The `From:` of every notification.
    pub from: String,
    /// A PEM certificate to trust for the relay's TLS besides the system's roots (a private
    /// CA or a self-signed relay). Empty: the system's roots only.
    pub smtp_ca_file: String,
    /// E-mails one notifier sends at once.
    pub email_concurrency: u16,
    /// Callback commands one notifier hands out at once.
    pub callback_concurrency: u16,
    /// Pop-up and live-stream frames one notifier pushes at once.
    pub push_concurrency: u16,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            smtp_url: Secret::new(""),
            from: "Hark <hark@localhost>".into(),
            smtp_ca_file: String::new(),
            email_concurrency: 4,
            callback_concurrency: 8,
            push_concurrency: 16,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvrConfig {
    /// SIP over UDP and TCP, both on this address.
    pub sip_listen: SocketAddr,
    /// The address put in SDP for RTP; unset means `sip_listen`'s.
    pub media_ip: Option<std::net::IpAddr>,
    /// RTP ports, one even port per call.
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Calls at once; beyond it new calls get 503 with `Retry-After`.
    pub max_calls: u32,
    pub retry_after_secs: u32,
    /// Calls at once from one source IP; beyond it its new calls get 503 with `Retry-After`.
    pub max_calls_per_source: u32,
    /// Requests a second from one source IP (twice that in a burst), and INVITEs a second
    /// among them; beyond it 503 with `Retry-After`, sent without keeping any state.
    pub requests_per_source_per_sec: u32,
    pub invites_per_source_per_sec: u32,
    /// Refusals a second one source gets (twice that in a burst); past it a flood is
    /// dropped unanswered, so Hark reflects nothing.
    pub refusals_per_source_per_sec: u32,
    /// Sources exempt from the per-source limits (`ip` or `ip:port`): the proxy that every
    /// caller comes through, when there is one.
    pub trusted_sources: Vec<String>,
    /// Largest SIP message accepted (513 beyond it) and most header fields in one (400).
    pub max_message_bytes: u32,
    pub max_headers: u32,
    /// Wrong PINs in a row before the PIN is locked, and for how long.
    pub pin_attempts: u32,
    pub pin_lockout_mins: u32,
    /// A recording stops after this much silence, or at this length.
    pub silence_secs: u32,
    pub max_record_secs: u32,
    /// Seconds to wait for the first key of an answer, and between keys.
    pub digit_timeout_secs: u32,
    /// Dialled before an extension or group number, goes straight to the beep
    /// (`*102`, at the main menu or as the number called).
    pub direct_dial_prefix: String,
    /// The trunk for outbound calls to phone numbers (`sip:host:port`): `+15550102` is
    /// called as `sip:+15550102@host:port`. SIP URIs are called directly. Unset means phone
    /// numbers cannot be called.
    pub outbound_proxy: Option<String>,
    /// Digest credentials for the trunk, if it asks (never offered to anyone else).
    pub trunk_username: String,
    pub trunk_password: Secret,
    /// Seconds a callee's phone may ring before the attempt counts as no answer.
    pub ring_timeout_secs: u32,
    /// Where recordings are written as the caller speaks, until they are stored as blobs.
    /// Empty: `<data_dir>/spool`. Put it on a disk, not tmpfs: it is what keeps a call's
    /// memory small.
    pub spool_dir: String,
    /// The digest realm phones authenticate in. Their stored password hashes are made in it:
    /// changing it means setting each phone's password again.
    pub sip_realm: String,
    /// Digest algorithms offered to phones, in order (`"SHA-256"`, `"MD5"`). MD5 alone by
    /// default, as Asterisk does: many phones (and libre, under Debian's baresip) give up on a
    /// challenge list holding an algorithm they do not know instead of picking the one they
    /// do. Both hashes are always stored, so adding SHA-256 needs no new passwords.
    pub sip_digest_algorithms: Vec<String>,
    /// Shortest and longest registration a phone gets: shorter asks get 423 with
    /// `Min-Expires`, longer are shortened.
    pub register_min_secs: u32,
    pub register_max_secs: u32,
    /// Wrong SIP passwords from one source, or for one phone from anywhere, before the source
    /// that sent the last of them is refused everything for `register_lockout_mins`.
    pub register_attempts: u32,
    pub register_lockout_mins: u32,
    /// Every so many seconds the node that took a registration sends an OPTIONS to a phone
    /// that looks to be behind NAT (its Contact names another address than the one its
    /// REGISTER came from), so the NAT keeps the way back open between registrations; 0
    /// sends none.
    pub nat_keepalive_secs: u32,
}

impl Default for IvrConfig {
    fn default() -> Self {
        Self {
            sip_listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            media_ip: None,
            rtp_port_min: 20_000,
            rtp_port_max: 29_999,
            max_calls: 2_000,
            retry_after_secs: 5,
            max_calls_per_source: 20,
            requests_per_source_per_sec: 50,
            invites_per_source_per_sec: 10,
            refusals_per_source_per_sec: 10,
            trusted_sources: Vec::new(),
            max_message_bytes: 16_384,
            max_headers: 100,
            pin_attempts: 3,
            pin_lockout_mins: 15,
            silence_secs: 5,
            max_record_secs: 60,
            digit_timeout_secs: 5,
            direct_dial_prefix: "*".into(),
            outbound_proxy: None,
            trunk_username: String::new(),
            trunk_password: Secret::new(""),
            ring_timeout_secs: 30,
            spool_dir: String::new(),
            sip_realm: "hark".into(),
            sip_digest_algorithms: vec!["MD5".into()],
            register_min_secs: 60,
            register_max_secs: 3600,
            register_attempts: 5,
            register_lockout_mins: 15,
            nat_keepalive_secs: 25,
        }
    }
}

/// Top-level keys of [`Config`]; only `HARK_…` variables naming one of them are configuration
/// (others, like `HARK_CONFIG` or a test's `HARK_TEST_…`, are not). A typo inside a section,
/// such as `HARK_PORTAL__LISTN`, is still refused.
const SECTIONS: [&str; 10] = [
    "data_dir", "database", "bus", "blobs", "links", "portal", "router", "notifier", "ivr", "ops",
];

fn env_overrides() -> Env {
    Env::prefixed("HARK_").split("__").filter(|key| {
        let first = key.as_str().split('.').next().unwrap_or_default();
        SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(first))
    })
}

impl Config {
    /// Defaults, then the TOML file if given (it must exist), then `HARK_…` variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(env_overrides());
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// Parse a TOML document on top of the defaults (no environment); used for the example.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// The database URL with the embedded default filled in.
    pub fn database_url(&self) -> String {
        let url = self.database.url.expose();
        if url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("hark.db").display())
        } else {
            url.to_owned()
        }
    }

    /// The base URL for links, with the default filled in from the portal's address.
    pub fn public_url(&self) -> String {
        if self.links.public_url.is_empty() {
            format!("http://{}", self.portal.listen)
        } else {
            self.links.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// The IVR's recording spool, with the default filled in.
    pub fn spool_dir(&self) -> PathBuf {
        if self.ivr.spool_dir.is_empty() {
            self.data_dir.join("spool")
        } else {
            PathBuf::from(&self.ivr.spool_dir)
        }
    }

    /// The plugin drop-in folder, with the default filled in.
    pub fn plugins_dir(&self) -> PathBuf {
        if self.router.plugins_dir.is_empty() {
            self.data_dir.join("plugins")
        } else {
            PathBuf::from(&self.router.plugins_dir)
        }
    }

    /// True when running on the embedded defaults: keys may be generated on first run.
    pub fn is_embedded(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut c = Config::default();
        c.database.url = Secret::new("postgres://hark:hunter2@db/hark");
        c.notifier.smtp_url = Secret::new("smtp://u:topsecret@mail");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn empty_database_url_means_sqlite_in_data_dir() {
        let c = Config::default();
        assert_eq!(c.database_url(), "sqlite://hark-data/hark.db");
        assert!(c.is_embedded());
    }

    /// Every key, as dotted paths.
    fn keys(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = format!("{prefix}{k}");
                keys(v, &format!("{path}."), out);
                out.push(path);
            }
        }
    }

    #[test]
    fn example_config_lists_every_key_with_its_default() {
        let text = include_str!("../../hark.example.toml");
        let parsed = Config::from_toml_str(text).unwrap();
        assert_eq!(
            parsed,
            Config::default(),
            "the example's values drifted from the defaults"
        );
        let (mut in_example, mut in_code) = (Vec::new(), Vec::new());
        keys(
            &toml::Value::Table(toml::from_str(text).unwrap()),
            "",
            &mut in_example,
        );
        keys(
            &toml::Value::try_from(Config::default()).unwrap(),
            "",
            &mut in_code,
        );
        in_example.sort();
        in_code.sort();
        assert_eq!(
            in_example, in_code,
            "hark.example.toml and Config have different keys"
        );
    }

    #[test]
    // figment's `Jail` fixes the closure's error type; it is not ours to box.
    #[allow(clippy::result_large_err)]
    fn only_config_sections_are_read_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HARK_CONFIG", "/somewhere/hark.toml");
            jail.set_env("HARK_TEST_PG_URL", "postgres://x");
            jail.set_env("HARK_PORTAL__LISTEN", "127.0.0.1:9999");
            jail.set_env("HARK_BUS__PREFETCH", "3");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.portal.listen.port(), 9999);
            assert_eq!(c.bus.prefetch, 3);
            jail.set_env("HARK_PORTAL__LISTN", "127.0.0.1:1");
            assert!(
                Config::load(None)
                    .unwrap_err()
                    .to_string()
                    .contains("listn")
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_toml_str("[portal]\nlisten_port = 1\n").unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
    }
}
