//! Who a phone is: digest authentication of a request from a phone device with SIP
//! credentials, shared by everything a phone asks of Hark — REGISTER (the [`registrar`]),
//! SUBSCRIBE for its message-waiting lamp, and an INVITE from a registered phone, which then
//! needs no extension prompt.
//!
//! - Every request without credentials gets the same challenge, whoever it names, and wrong
//!   credentials the same 403 whether the user exists or not (an unknown username costs the
//!   same hash), so the answers do not tell which accounts exist.
//! - Nonces ([`sip::digest`]) expire (`stale=true`) and a nonce count is taken once, so a
//!   captured request cannot be replayed.
//! - Wrong passwords are counted per source address (here, in memory) and per device (in the
//!   store, across nodes); when either reaches `ivr.register_attempts`, the source that sent
//!   the last one is refused everything (403) for `ivr.register_lockout_mins`. A phone's own
//!   address is not locked by guesses from elsewhere; a right password clears both counts.
//!   Sources in `ivr.trusted_sources` (a proxy in front) are never locked: the proxy sees the
//!   clients and should limit them itself.
//! - Passwords, nonces, responses and digests are never logged.
//!
//! [`registrar`]: crate::registrar

use crate::sip::{self, digest};
use ezk_sip_core::{Endpoint, IncomingRequest, transport::OutgoingResponse};
use ezk_sip_types::{Name, StatusCode};
use hark_core::{
    config::IvrConfig,
    digest::Algorithm,
    store::{Store, devices},
};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Source addresses whose wrong passwords are remembered at most; past it, those not locked
/// are forgotten first.
const SOURCES_KEPT: usize = 100_000;

/// How long a nonce is good for before a phone is asked again (with `stale=true`).
const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// What this node remembers of one source address's wrong passwords.
#[derive(Debug, Default)]
struct Source {
    failures: u32,
    locked_until: Option<Instant>,
}

/// What [`PhoneAuth::check`] found.
#[derive(Debug)]
pub enum Checked {
    /// The phone proved its password: this device.
    Authenticated(devices::SipAccount),
    /// Ask (again) with a 401: no credentials, a stale or foreign nonce, a replay.
    Challenge { stale: bool },
    /// Refuse: wrong credentials, a locked-out source, a malformed header, the store away.
    Refused(StatusCode, &'static str),
}

/// Digest authentication of phones, one per IVR node.
#[derive(Debug)]
pub struct PhoneAuth {
    store: Store,
    realm: String,
    /// Digest algorithms offered, in order (`ivr.sip_digest_algorithms`).
    offered: Vec<Algorithm>,
    nonces: digest::Nonces,
    /// An HA1 for usernames that do not exist, so they cost the same check.
    decoy_ha1: String,
    sources: Mutex<HashMap<IpAddr, Source>>,
    /// Which sources are the trusted proxy (never locked).
    limits: sip::limits::Limits,
    attempts: u32,
    lockout: Duration,
}

impl PhoneAuth {
    /// The authenticator for `config`; an unknown name in `ivr.sip_digest_algorithms` is an
    /// error.
    pub fn new(config: &IvrConfig, store: Store) -> Result<Self, String> {
        let offered = config
            .sip_digest_algorithms
            .iter()
            .map(|name| {
                Algorithm::from_name(name).ok_or_else(|| {
                    format!("ivr.sip_digest_algorithms: {name:?} is not SHA-256 or MD5")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if offered.is_empty() {
            return Err("ivr.sip_digest_algorithms offers nothing".into());
        }
        let decoy: [u8; 16] = rand::random();
        Ok(Self {
            store,
            realm: config.sip_realm.clone(),
            offered,
            nonces: digest::Nonces::new(NONCE_LIFETIME),
            decoy_ha1: Algorithm::Sha256.hash(&decoy),
            sources: Mutex::new(HashMap::new()),
            limits: sip::limits::Limits::from_config(config)?,
            attempts: config.register_attempts.max(1),
            lockout: Duration::from_secs(u64::from(config.register_lockout_mins) * 60),
        })
    }

    /// The 401 that asks `request` for credentials.
    pub fn challenge(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        stale: bool,
    ) -> OutgoingResponse {
        let nonce = self.nonces.issue();
        let mut response = endpoint.create_response(request, StatusCode::UNAUTHORIZED, None);
        for value in digest::challenges(&self.offered, &self.realm, &nonce, stale) {
            response.msg.headers.insert(Name::WWW_AUTHENTICATE, value);
        }
        response
    }

    /// Check the credentials `request` (a `method` request) carries.
    pub async fn check(&self, request: &IncomingRequest, method: &str) -> Checked {
        let source = request.tp_info.source;
        if self.locked(source) {
            return Checked::Refused(StatusCode::FORBIDDEN, "Forbidden");
        }
        let presented = match digest::presented(&request.headers) {
            // What a phone that cannot do SHA-256 or MD5 with qop=auth sees: the offer again.
            None | Some(Err(digest::Unusable::Unsupported)) => {
                return Checked::Challenge { stale: false };
            }
            Some(Err(digest::Unusable::Malformed)) => {
                return Checked::Refused(StatusCode::BAD_REQUEST, "Malformed Authorization");
            }
            Some(Ok(p)) => p,
        };
        if presented.realm != self.realm || !self.offered.contains(&presented.algorithm) {
            tracing::debug!(method, "asked again: another realm or algorithm");
            return Checked::Challenge { stale: false };
        }
        match self.nonces.check(&presented.nonce) {
            digest::NonceState::Fresh => {}
            digest::NonceState::Stale => return Checked::Challenge { stale: true },
            digest::NonceState::Forged => {
                tracing::debug!(method, %source, "asked again: a nonce not ours");
                return Checked::Challenge { stale: false };
            }
        }
        let username = presented.username.clone();
        let account = match self
            .store
            .run(move |c| devices::find_sip_account(c, &username))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "phone authentication: cannot read the store");
                return Checked::Refused(StatusCode::SERVER_INTERNAL_ERROR, "Store unavailable");
            }
        };
        let ha1 = account
            .as_ref()
            .and_then(|a| a.ha1(presented.algorithm, &self.realm))
            .unwrap_or(&self.decoy_ha1);
        let right = digest::verify(&presented, method, ha1);
        let account = match account {
            Some(a) if right => a,
            other => {
                tracing::warn!(
                    username = %presented.username,
                    %source,
                    method,
                    "refused: wrong credentials"
                );
                let device_failures = match other {
                    Some(a) => {
                        let device = a.device_id.clone();
                        self.store
                            .run(move |c| devices::sip_failed(c, &device))
                            .await
                            .unwrap_or_else(|e| {
                                tracing::error!(error = %e, "cannot count a wrong password");
                                0
                            })
                    }
                    None => 0,
                };
                self.failed(source, &presented.username, device_failures);
                return Checked::Refused(StatusCode::FORBIDDEN, "Wrong credentials");
            }
        };
        self.succeeded(source);
        if account.sip_failures > 0 {
            let device = account.device_id.clone();
            if let Err(e) = self
                .store
                .run(move |c| devices::sip_succeeded(c, &device))
                .await
            {
                tracing::error!(error = %e, "cannot clear a wrong-password count");
            }
        }
        if !self
            .nonces
            .first_use(&presented.nonce, presented.qop.as_ref().map(|(nc, _)| *nc))
        {
            tracing::warn!(username = %presented.username, %source, method, "replayed");
            return Checked::Challenge { stale: false };
        }
        Checked::Authenticated(account)
    }

    /// Whether `source` is locked out now.
    fn locked(&self, source: SocketAddr) -> bool {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources
            .get(&source.ip())
            .and_then(|s| s.locked_until)
            .is_some_and(|until| until > Instant::now())
    }

    /// Count a wrong password from `source`, `device_failures` being the phone's count in a
    /// row now (0 for a username nobody has); lock the source past the limit.
    fn failed(&self, source: SocketAddr, username: &str, device_failures: i32) {
        if self.limits.is_trusted(source) {
            return;
        }
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= SOURCES_KEPT && !sources.contains_key(&source.ip()) {
            let now = Instant::now();
            sources.retain(|_, s| s.locked_until.is_some_and(|u| u > now));
            if sources.len() >= SOURCES_KEPT {
                sources.clear();
            }
        }
        let s = sources.entry(source.ip()).or_default();
        s.failures += 1;
        let device_over = u32::try_from(device_failures).unwrap_or(0) >= self.attempts;
        if s.failures >= self.attempts || device_over {
            s.locked_until = Some(Instant::now() + self.lockout);
            s.failures = 0;
            tracing::warn!(
                %source,
                %username,
                device_failures,
                minutes = self.lockout.as_secs() / 60,
                "SIP source locked out after wrong passwords"
            );
        }
    }

    /// A right password from `source`: its count starts again.
    fn succeeded(&self, source: SocketAddr) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.get(&source.ip()).is_some_and(|s| s.failures > 0) {
            sources.remove(&source.ip());
        }
    }
}
