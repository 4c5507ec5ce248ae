//! The registrar (RFC 3261 §10): a phone device with SIP credentials REGISTERs its contacts
//! here, authenticated by digest ([`sip::digest`]: SHA-256 and MD5, `qop=auth`, nonces that
//! expire and cannot be replayed), and the bindings go to the store, where every IVR node
//! finds them.
//!
//! - Every REGISTER without credentials gets the same challenge, whoever it names, and wrong
//!   credentials the same 403 whether the user exists or not (an unknown username costs the
//!   same hash), so the answers do not tell which accounts exist.
//! - The address of record is the device's SIP username: `To: <sip:102@…>` with
//!   `username="102"`; another one is refused (403), so nobody registers for someone else.
//! - Each contact's expiry is its `expires` parameter, else `Expires:`, else the maximum;
//!   one under `ivr.register_min_secs` gets 423 with `Min-Expires`, one over
//!   `ivr.register_max_secs` is shortened; `expires=0` removes it, `Contact: *` with
//!   `Expires: 0` removes them all. The 200 lists every live binding with its expiry.
//! - The source address and transport are kept beside the contact (a phone behind NAT is
//!   reached where its REGISTER came from); `Path` headers from a proxy in front are kept and
//!   echoed (RFC 3327).
//! - Wrong passwords are counted per source address (here, in memory) and per device (in the
//!   store, across nodes); when either reaches `ivr.register_attempts`, the source that sent
//!   the last one is refused everything (403) for `ivr.register_lockout_mins`. A phone's own
//!   address is not locked by guesses from elsewhere; a right password clears both counts.
//!   Sources in `ivr.trusted_sources` (a proxy in front) are never locked: the proxy sees the
//!   clients and should limit them itself.
//! - Answers are sent without a transaction (see [`Registrar::answer`]).
//! - Passwords, nonces, responses and digests are never logged.

use crate::{
    Ivr,
    sip::{self, digest},
};
use ezk_sip_core::{Endpoint, IncomingRequest, transport::OutgoingResponse};
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::{
    Name, StatusCode,
    header::typed::{Contact, Expires},
};
use hark_core::{
    digest::Algorithm,
    store::{
        self, devices,
        registrations::{self, Change, Refusal, Registration},
    },
};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Source addresses whose wrong passwords are remembered at most; past it, those not locked
/// are forgotten first.
const SOURCES_KEPT: usize = 100_000;

/// What this node remembers of one source address's wrong passwords.
#[derive(Debug, Default)]
struct Source {
    failures: u32,
    locked_until: Option<Instant>,
}

/// How long a nonce is good for before a phone is asked again (with `stale=true`).
const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// The registrar of one IVR node.
#[derive(Debug)]
pub struct Registrar {
    ivr: Arc<Ivr>,
    /// Digest algorithms offered, in order (`ivr.sip_digest_algorithms`).
    offered: Vec<Algorithm>,
    nonces: digest::Nonces,
    /// An HA1 for usernames that do not exist, so they cost the same check.
    decoy_ha1: String,
    sources: Mutex<HashMap<IpAddr, Source>>,
    /// Which sources are the trusted proxy (never locked).
    limits: sip::limits::Limits,
}

impl Registrar {
    /// The registrar for `ivr`; an unknown name in `ivr.sip_digest_algorithms` is an error.
    pub fn new(ivr: Arc<Ivr>) -> Result<Self, String> {
        let offered = ivr
            .config
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
        let limits = sip::limits::Limits::from_config(&ivr.config)?;
        Ok(Self {
            decoy_ha1: Algorithm::Sha256.hash(&decoy),
            sources: Mutex::new(HashMap::new()),
            limits,
            ivr,
            offered,
            nonces: digest::Nonces::new(NONCE_LIFETIME),
        })
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
        let config = &self.ivr.config;
        let limit = config.register_attempts.max(1);
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
        let device_over = u32::try_from(device_failures).unwrap_or(0) >= limit;
        if s.failures >= limit || device_over {
            let mins = config.register_lockout_mins;
            s.locked_until = Some(Instant::now() + Duration::from_secs(u64::from(mins) * 60));
            s.failures = 0;
            tracing::warn!(
                %source,
                %username,
                device_failures,
                minutes = mins,
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

    fn realm(&self) -> &str {
        &self.ivr.config.sip_realm
    }

    /// Answer one REGISTER, without a transaction: as for everything outside a call, a flood
    /// keeps nothing (ARCHITECTURE.md), and this is what Kamailio's registrar does. A
    /// retransmission is worked out again; one whose 200 was lost meets its own nonce count
    /// as a replay and is challenged, and the phone answers that with the next count.
    async fn answer(&self, endpoint: Endpoint, request: IncomingRequest) {
        let mut response = self.respond(&endpoint, &request).await;
        self.ivr.metrics.registered(response.msg.line.code);
        if let Err(e) = endpoint.send_outgoing_response(&mut response).await {
            tracing::debug!(error = %e, "could not answer REGISTER");
        }
    }

    fn challenge(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        stale: bool,
    ) -> OutgoingResponse {
        let nonce = self.nonces.issue();
        let mut response = endpoint.create_response(request, StatusCode::UNAUTHORIZED, None);
        for value in digest::challenges(&self.offered, self.realm(), &nonce, stale) {
            response.msg.headers.insert(Name::WWW_AUTHENTICATE, value);
        }
        response
    }

    async fn respond(&self, endpoint: &Endpoint, request: &IncomingRequest) -> OutgoingResponse {
        let refuse = |code: StatusCode, reason: &'static str| {
            endpoint.create_response(request, code, Some(reason.into()))
        };
        let source = request.tp_info.source;
        if self.locked(source) {
            return refuse(StatusCode::FORBIDDEN, "Forbidden");
        }
        let Some(aor) = sip::user_part(&request.base_headers.to.uri.uri.user_part) else {
            return refuse(StatusCode::BAD_REQUEST, "No user in To");
        };
        let presented = match digest::presented(&request.headers) {
            None => return self.challenge(endpoint, request, false),
            Some(Err(digest::Unusable::Unsupported)) => {
                // What a phone that cannot do SHA-256 or MD5 with qop=auth sees: the offer again.
                return self.challenge(endpoint, request, false);
            }
            Some(Err(digest::Unusable::Malformed)) => {
                return refuse(StatusCode::BAD_REQUEST, "Malformed Authorization");
            }
            Some(Ok(p)) => p,
        };
        if presented.realm != self.realm() || !self.offered.contains(&presented.algorithm) {
            return self.challenge(endpoint, request, false);
        }
        match self.nonces.check(&presented.nonce) {
            digest::NonceState::Fresh => {}
            digest::NonceState::Stale => return self.challenge(endpoint, request, true),
            digest::NonceState::Forged => return self.challenge(endpoint, request, false),
        }
        let username = presented.username.clone();
        let account = match self
            .ivr
            .deps
            .store
            .run(move |c| devices::find_sip_account(c, &username))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "registrar: cannot read the store");
                return refuse(StatusCode::SERVER_INTERNAL_ERROR, "Store unavailable");
            }
        };
        let ha1 = account
            .as_ref()
            .and_then(|a| a.ha1(presented.algorithm, self.realm()))
            .unwrap_or(&self.decoy_ha1);
        let right = digest::verify(&presented, "REGISTER", ha1);
        let account = match account {
            Some(a) if right => a,
            other => {
                tracing::warn!(
                    username = %presented.username,
                    %source,
                    "REGISTER refused: wrong credentials"
                );
                let device_failures = match other {
                    Some(a) => {
                        let device = a.device_id.clone();
                        self.ivr
                            .deps
                            .store
                            .run(move |c| devices::sip_failed(c, &device))
                            .await
                            .unwrap_or_else(|e| {
                                tracing::error!(error = %e, "registrar: cannot count a failure");
                                0
                            })
                    }
                    None => 0,
                };
                self.failed(source, &presented.username, device_failures);
                return refuse(StatusCode::FORBIDDEN, "Wrong credentials");
            }
        };
        self.succeeded(source);
        if account.sip_failures > 0 {
            let device = account.device_id.clone();
            if let Err(e) = self
                .ivr
                .deps
                .store
                .run(move |c| devices::sip_succeeded(c, &device))
                .await
            {
                tracing::error!(error = %e, "registrar: cannot clear a failure count");
            }
        }
        if !self
            .nonces
            .first_use(&presented.nonce, presented.qop.as_ref().map(|(nc, _)| *nc))
        {
            tracing::warn!(username = %presented.username, %source, "REGISTER replayed");
            return self.challenge(endpoint, request, false);
        }
        if account.sip_username.as_deref() != Some(aor.as_str()) {
            return refuse(StatusCode::FORBIDDEN, "Not your address of record");
        }
        self.bind(endpoint, request, &account).await
    }

    /// The authenticated REGISTER's contacts, applied.
    async fn bind(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        account: &devices::SipAccount,
    ) -> OutgoingResponse {
        let refuse = |code: StatusCode, reason: &'static str| {
            endpoint.create_response(request, code, Some(reason.into()))
        };
        let config = &self.ivr.config;
        let (min, max) = (
            config.register_min_secs,
            config.register_max_secs.max(config.register_min_secs),
        );
        let expires_header = match request.headers.try_get_named::<Expires>() {
            None => None,
            Some(Ok(Expires(e))) => Some(e),
            Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "Malformed Expires"),
        };
        let wildcard = request
            .headers
            .get_raw(&Name::CONTACT)
            .any(|v| v.trim() == "*");
        let contacts: Vec<Contact> = if wildcard {
            Vec::new()
        } else {
            match request.headers.try_get_named::<Vec<Contact>>() {
                None => Vec::new(),
                Some(Ok(c)) => c,
                Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "Malformed Contact"),
            }
        };
        let now = store::now();
        let source = format!(
            "{}:{}",
            if request.tp_info.transport.is_udp() {
                "udp"
            } else {
                "tcp"
            },
            request.tp_info.source
        );
        let path: Vec<String> = request
            .headers
            .get_raw(&Name::custom("Path", &["path"]))
            .map(|v| v.to_string())
            .collect();
        let user_agent = request
            .headers
            .get_raw(&Name::USER_AGENT)
            .next()
            .map(|v| v.chars().take(200).collect::<String>());
        let call_id = request.base_headers.call_id.0.to_string();
        let cseq = i64::from(request.base_headers.cseq.cseq);
        let mut changes = Vec::new();
        for c in &contacts {
            let asked = match c.params.get_val("expires") {
                Some(v) => match v.parse::<u32>() {
                    Ok(e) => e,
                    Err(_) => return refuse(StatusCode::BAD_REQUEST, "Malformed expires"),
                },
                None => expires_header.unwrap_or(max),
            };
            let uri = c.uri.uri.default_print_ctx().to_string();
            if asked == 0 {
                changes.push(Change::Unbind { contact: uri });
                continue;
            }
            if asked < min {
                let mut r = refuse(StatusCode::INTERVAL_TOO_BRIEF, "Interval Too Brief");
                r.msg.headers.insert(Name::MIN_EXPIRES, min.to_string());
                return r;
            }
            changes.push(Change::Bind(Registration {
                device_id: account.device_id.clone(),
                contact: uri,
                user_id: account.user_id.clone(),
                source: source.clone(),
                path: (!path.is_empty()).then(|| path.join(", ")),
                call_id: call_id.clone(),
                cseq,
                node_id: self.ivr.deps.node_id.clone(),
                user_agent: user_agent.clone(),
                expires_at: now + chrono::Duration::seconds(i64::from(asked.min(max))),
                updated_at: now,
            }));
        }
        if wildcard && expires_header != Some(0) {
            return refuse(StatusCode::BAD_REQUEST, "Contact * needs Expires: 0");
        }
        let device = account.device_id.clone();
        let applied = self
            .ivr
            .deps
            .store
            .transaction(move |c| {
                if wildcard {
                    registrations::unbind_all(c, &device)?;
                    return Ok(Ok(Vec::new()));
                }
                registrations::apply(c, &device, &call_id, cseq, changes, now)
            })
            .await;
        let bindings = match applied {
            Ok(Ok(b)) => b,
            Ok(Err(Refusal::OutOfOrder)) => {
                return refuse(StatusCode::SERVER_INTERNAL_ERROR, "Out of order");
            }
            Err(e) => {
                tracing::error!(error = %e, "registrar: cannot store the bindings");
                return refuse(StatusCode::SERVER_INTERNAL_ERROR, "Store unavailable");
            }
        };
        tracing::info!(
            username = account.sip_username.as_deref().unwrap_or_default(),
            source = %request.tp_info.source,
            contacts = bindings.len(),
            "phone registered"
        );
        let mut ok = endpoint.create_response(request, StatusCode::OK, None);
        for b in &bindings {
            let left = (b.expires_at - now).num_seconds().max(0);
            ok.msg
                .headers
                .insert(Name::CONTACT, format!("<{}>;expires={left}", b.contact));
        }
        for p in path {
            ok.msg.headers.insert(Name::custom("Path", &["path"]), p);
        }
        ok
    }
}

impl sip::RegisterHandler for Registrar {
    fn register(self: Arc<Self>, endpoint: Endpoint, request: IncomingRequest) {
        tokio::spawn(async move { self.answer(endpoint, request).await });
    }
}

/// Delete expired bindings every minute until `stop` (any node may; deleting twice is
/// harmless).
pub async fn sweep(ivr: Arc<Ivr>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match ivr
            .deps
            .store
            .run(|c| registrations::sweep(c, store::now()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(bindings = n, "expired registrations swept"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep registrations"),
        }
    }
}
