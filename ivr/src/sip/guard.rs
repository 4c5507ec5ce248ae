//! The first layer every request meets: limits on what one message and one source may cost
//! the IVR, applied before any transaction, dialog or call is made for it.
//!
//! - a message larger than `max_message_bytes` gets 513 (Message Too Large);
//! - one with more than `max_headers` header fields gets 400, and so does one whose CSeq
//!   names another method than its request line (RFC 3261 §8.1.1.5);
//! - a source (IP address) past `requests_per_source_per_sec`, or past
//!   `invites_per_source_per_sec` for INVITEs, gets 503 with `Retry-After`;
//! - a source past `max_calls_per_source` calls at once gets 503 with `Retry-After` for a new
//!   INVITE (counted by [`Limiter::admit_call`], from the intake layer).
//!
//! These refusals are sent statelessly: a flood costs one response datagram per request and
//! no transaction kept for 32 s. A source that goes on flooding past `refusals_per_sec` gets
//! nothing at all, so Hark is never a reflector. Responses go only to the packet's source:
//! a `maddr` in the top Via (which would send them to any address the sender names) is
//! removed. ACKs are never refused (they make no state, and a 2xx's ACK completes a call).
//!
//! State is one small entry per source, at most [`MAX_SOURCES`]; idle entries are pruned, and
//! when the table is full of busy sources the rest share one entry, so memory stays bounded
//! however many addresses a flood spoofs. `trusted_sources` (a proxy in front of the IVR,
//! through which every caller arrives) are exempt from the per-source limits, not from the
//! size limits.

use bytesstr::BytesStr;
use ezk_sip_core::{Endpoint, IncomingRequest, Layer, MayTake};
use ezk_sip_types::{Method, StatusCode, header::typed::RetryAfter};
use hark_core::config::IvrConfig;
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Sources tracked at once; beyond it, untracked sources share one entry.
pub const MAX_SOURCES: usize = 10_000;
/// An entry idle this long, with no call up, may be pruned.
const IDLE: Duration = Duration::from_secs(60);

/// The limits, from [`IvrConfig`].
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_headers: usize,
    pub requests_per_sec: u32,
    pub invites_per_sec: u32,
    pub refusals_per_sec: u32,
    pub calls_per_source: u32,
    pub retry_after_secs: u32,
    /// `ip` or `ip:port` entries.
    pub trusted: Vec<Trusted>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trusted {
    Ip(IpAddr),
    Addr(SocketAddr),
}

impl Trusted {
    fn covers(self, source: SocketAddr) -> bool {
        match self {
            Self::Ip(ip) => ip == source.ip(),
            Self::Addr(addr) => addr == source,
        }
    }
}

impl Limits {
    pub fn from_config(c: &IvrConfig) -> Result<Self, String> {
        let trusted = c
            .trusted_sources
            .iter()
            .map(|s| {
                s.parse::<SocketAddr>()
                    .map(Trusted::Addr)
                    .or_else(|_| s.parse::<IpAddr>().map(Trusted::Ip))
                    .map_err(|_| format!("ivr.trusted_sources: {s:?} is not an IP or IP:port"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            max_message_bytes: c.max_message_bytes as usize,
            max_headers: c.max_headers as usize,
            requests_per_sec: c.requests_per_source_per_sec,
            invites_per_sec: c.invites_per_source_per_sec,
            refusals_per_sec: c.refusals_per_source_per_sec,
            calls_per_source: c.max_calls_per_source,
            retry_after_secs: c.retry_after_secs,
            trusted,
        })
    }

    fn is_trusted(&self, source: SocketAddr) -> bool {
        self.trusted.iter().any(|t| t.covers(source))
    }
}

/// What the guard looks at in one request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a Method,
    pub cseq_method: &'a Method,
    /// The whole message as received.
    pub bytes: usize,
    /// Header fields (each value of a comma list counted once per line it came on).
    pub headers: usize,
    /// What [`malformed`] found wrong with the raw message, if anything.
    pub malformed: Option<&'static str>,
}

/// What is wrong with a request that ezk's lenient parser let through, by RFC 3261's
/// grammar (RFC 4475 §3.1.2): more than one space between the parts of the request line
/// ("lwsstart"), a Content-Length that is not a number ("ncl"), or an unbalanced quote in
/// From or To ("quotbal"). Each is answered 400 rather than guessed at.
pub fn malformed(buffer: &[u8], headers: &ezk_sip_types::Headers) -> Option<&'static str> {
    use ezk_sip_types::Name;
    let end = buffer
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buffer.len());
    let line = &buffer[..end];
    if line.split(|&b| b == b' ').count() != 3 || line.split(|&b| b == b' ').any(<[u8]>::is_empty) {
        return Some("Malformed Request-Line");
    }
    if headers
        .get_raw(&Name::CONTENT_LENGTH)
        .any(|v| v.trim().parse::<u32>().is_err())
    {
        return Some("Bad Content-Length");
    }
    let unbalanced = |v: &str| {
        let (mut quoted, mut escaped) = (false, false);
        for c in v.chars() {
            match (quoted, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (_, _, '"') => quoted = !quoted,
                _ => {}
            }
        }
        quoted
    };
    if [Name::FROM, Name::TO]
        .iter()
        .any(|n| headers.get_raw(n).any(|v| unbalanced(v)))
    {
        return Some("Unbalanced Quotes");
    }
    None
}

/// What to do with one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    /// Answer statelessly with this status (and `Retry-After` when given).
    Refuse {
        code: u16,
        reason: &'static str,
        retry_after: Option<u32>,
    },
    /// Say nothing.
    Drop(&'static str),
}

/// A token bucket: `rate` a second, up to twice that at once.
#[derive(Clone, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: u32, now: Instant) -> Self {
        Self {
            tokens: burst(rate),
            at: now,
        }
    }

    fn take(&mut self, rate: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(burst(rate));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn burst(rate: u32) -> f64 {
    f64::from(rate.max(1)) * 2.0
}

#[derive(Clone, Debug)]
struct Source {
    requests: Bucket,
    invites: Bucket,
    refusals: Bucket,
    calls: u32,
    seen: Instant,
}

impl Source {
    fn new(l: &Limits, now: Instant) -> Self {
        Self {
            requests: Bucket::full(l.requests_per_sec, now),
            invites: Bucket::full(l.invites_per_sec, now),
            refusals: Bucket::full(l.refusals_per_sec, now),
            calls: 0,
            seen: now,
        }
    }
}

#[derive(Debug)]
struct Table {
    sources: HashMap<IpAddr, Source>,
    /// Shared by every source that found the table full.
    overflow: Source,
    pruned_at: Instant,
}

/// Per-source state, shared by the guard layer and the intake (which counts calls).
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    table: Mutex<Table>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        let now = Instant::now();
        Self {
            table: Mutex::new(Table {
                sources: HashMap::new(),
                overflow: Source::new(&limits, now),
                pruned_at: now,
            }),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sources tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.lock().sources.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Judge one request from `source`.
    pub fn check(&self, source: SocketAddr, request: &Request<'_>, now: Instant) -> Verdict {
        let l = &self.limits;
        let method = request.method;
        let is_ack = *method == Method::ACK;
        let refuse = |code, reason| Verdict::Refuse {
            code,
            reason,
            retry_after: None,
        };
        let mut verdict = if request.bytes > l.max_message_bytes {
            refuse(513, "Message Too Large")
        } else if request.headers > l.max_headers {
            refuse(400, "Too Many Headers")
        } else if request.cseq_method != method {
            refuse(400, "CSeq Method Mismatch")
        } else if let Some(why) = request.malformed {
            refuse(400, why)
        } else {
            Verdict::Pass
        };
        if is_ack {
            // Never answered; a bad one is dropped, a good one passes unmetered.
            return match verdict {
                Verdict::Pass => Verdict::Pass,
                _ => Verdict::Drop("bad ACK"),
            };
        }
        if verdict == Verdict::Pass && l.is_trusted(source) {
            return Verdict::Pass;
        }
        let mut table = self.lock();
        let entry = table.entry(l, source.ip(), now);
        entry.seen = now;
        if verdict == Verdict::Pass {
            let over = !entry.requests.take(l.requests_per_sec, now)
                || (*method == Method::INVITE && !entry.invites.take(l.invites_per_sec, now));
            if over {
                verdict = Verdict::Refuse {
                    code: 503,
                    reason: "Too Many Requests From This Source",
                    retry_after: Some(l.retry_after_secs),
                };
            }
        }
        match verdict {
            Verdict::Refuse { .. } if !entry.refusals.take(l.refusals_per_sec, now) => {
                Verdict::Drop("flood")
            }
            v => v,
        }
    }

    /// Count a new call from `source` unless it has `calls_per_source` up already (trusted
    /// sources are not counted).
    pub fn admit_call(self: &Arc<Self>, source: SocketAddr) -> Option<SourceCall> {
        if self.limits.is_trusted(source) {
            return Some(SourceCall(None));
        }
        let mut table = self.lock();
        let entry = table.entry(&self.limits, source.ip(), Instant::now());
        if entry.calls >= self.limits.calls_per_source {
            return None;
        }
        entry.calls += 1;
        Some(SourceCall(Some((self.clone(), source.ip()))))
    }

    fn end_call(&self, ip: IpAddr) {
        let mut table = self.lock();
        let entry = match table.sources.get_mut(&ip) {
            Some(e) => e,
            None => &mut table.overflow,
        };
        entry.calls = entry.calls.saturating_sub(1);
    }
}

impl Table {
    /// The entry for `ip`, made if there is room (after pruning idle ones at most once a
    /// second), else the shared overflow entry.
    fn entry(&mut self, l: &Limits, ip: IpAddr, now: Instant) -> &mut Source {
        if !self.sources.contains_key(&ip) && self.sources.len() >= MAX_SOURCES {
            if now.saturating_duration_since(self.pruned_at) >= Duration::from_secs(1) {
                self.pruned_at = now;
                self.sources
                    .retain(|_, s| s.calls > 0 || now.saturating_duration_since(s.seen) < IDLE);
            }
            if self.sources.len() >= MAX_SOURCES {
                return &mut self.overflow;
            }
        }
        self.sources
            .entry(ip)
            .or_insert_with(|| Source::new(l, now))
    }
}

/// A call counted against its source while it lives.
#[derive(Debug)]
pub struct SourceCall(Option<(Arc<Limiter>, IpAddr)>);

impl Drop for SourceCall {
    fn drop(&mut self) {
        if let Some((limiter, ip)) = self.0.take() {
            limiter.end_call(ip);
        }
    }
}

/// The layer.
#[derive(Debug)]
pub struct Guard {
    pub limiter: Arc<Limiter>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

#[async_trait::async_trait]
impl Layer for Guard {
    fn name(&self) -> &'static str {
        "hark-guard"
    }

    async fn receive(&self, endpoint: &Endpoint, mut request: MayTake<'_, IncomingRequest>) {
        // Responses go to where the packet came from, never to an address the sender names.
        if let Some(via) = request.base_headers.via.first_mut() {
            via.params.take("maddr");
        }
        let verdict = self.limiter.check(
            request.tp_info.source,
            &Request {
                method: &request.line.method,
                cseq_method: &request.base_headers.cseq.method,
                bytes: request.tp_info.buffer.len(),
                headers: request.headers.iter().count(),
                malformed: malformed(&request.tp_info.buffer, &request.headers),
            },
            Instant::now(),
        );
        match verdict {
            Verdict::Pass => {}
            Verdict::Drop(reason) => {
                self.metrics.sip_rejected(reason);
                drop(request.take());
            }
            Verdict::Refuse {
                code,
                reason,
                retry_after,
            } => {
                self.metrics.sip_rejected(reason);
                let request = request.take();
                tracing::debug!(source = %request.tp_info.source, code, reason, "refusing a request");
                refuse_statelessly(
                    endpoint,
                    request,
                    StatusCode::from(code),
                    Some(reason),
                    retry_after,
                )
                .await;
            }
        }
    }
}

/// Answer `request` with `code` without a transaction: nothing is kept for it, and a
/// repeat of the request is judged (and answered) again. How Hark answers everything outside
/// a call (OPTIONS, methods it does not serve, INVITEs it refuses), so that no request but an
/// answered call leaves state behind: a flood costs the responses, never memory.
pub async fn refuse_statelessly(
    endpoint: &Endpoint,
    request: IncomingRequest,
    code: StatusCode,
    reason: Option<&'static str>,
    retry_after: Option<u32>,
) {
    answer_statelessly(endpoint, &request, code, reason, |headers| {
        if let Some(secs) = retry_after {
            headers.insert_named(&RetryAfter::new(secs));
        }
    })
    .await;
}

/// Answer `request` with `code` and the headers `add` puts in, without a transaction.
pub async fn answer_statelessly(
    endpoint: &Endpoint,
    request: &IncomingRequest,
    code: StatusCode,
    reason: Option<&'static str>,
    add: impl FnOnce(&mut ezk_sip_types::Headers),
) {
    if request.line.method == Method::ACK {
        return;
    }
    let mut response = endpoint.create_response(request, code, reason.map(BytesStr::from_static));
    add(&mut response.msg.headers);
    if let Err(e) = endpoint.send_outgoing_response(&mut response).await {
        tracing::debug!(error = %e, "could not send a stateless response");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_message_bytes: 1000,
            max_headers: 10,
            requests_per_sec: 5,
            invites_per_sec: 2,
            refusals_per_sec: 3,
            calls_per_source: 2,
            retry_after_secs: 7,
            trusted: vec![Trusted::Addr("10.0.0.9:5060".parse().unwrap())],
        }
    }

    fn src(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn req(method: &Method, bytes: usize, headers: usize) -> Request<'_> {
        Request {
            method,
            cseq_method: method,
            bytes,
            headers,
            malformed: None,
        }
    }

    #[test]
    fn raw_grammar_faults_are_found() {
        use ezk_sip_types::{Headers, Name};
        let mut h = Headers::new();
        h.insert(Name::FROM, "\"J \\\"R\\\"\" <sip:j@example.com>;tag=1");
        h.insert(Name::CONTENT_LENGTH, "0");
        let ok = b"OPTIONS sip:hark@127.0.0.1 SIP/2.0\r\nVia: x\r\n";
        assert_eq!(malformed(ok, &h), None, "escaped quotes are balanced");
        assert_eq!(
            malformed(b"OPTIONS  sip:hark@127.0.0.1 SIP/2.0\r\n", &h),
            Some("Malformed Request-Line")
        );
        assert_eq!(
            malformed(b"OPTIONS sip:hark@127.0.0.1 SIP/2.0 \r\n", &h),
            Some("Malformed Request-Line")
        );
        let mut bad_length = h.clone();
        bad_length.insert(Name::CONTENT_LENGTH, "-999");
        assert_eq!(malformed(ok, &bad_length), Some("Bad Content-Length"));
        let mut quotes = Headers::new();
        quotes.insert(Name::TO, "\"Mr. J. User <sip:j@example.com>");
        assert_eq!(malformed(ok, &quotes), Some("Unbalanced Quotes"));
    }

    const BUSY: Verdict = Verdict::Refuse {
        code: 503,
        reason: "Too Many Requests From This Source",
        retry_after: Some(7),
    };

    #[test]
    fn size_and_header_limits_hold_at_the_limit_and_refuse_one_past_it() {
        let g = Limiter::new(limits());
        let now = Instant::now();
        let a = src("10.0.0.1:5060");
        assert_eq!(
            g.check(a, &req(&Method::OPTIONS, 1000, 10), now),
            Verdict::Pass
        );
        assert!(matches!(
            g.check(a, &req(&Method::OPTIONS, 1001, 10), now),
            Verdict::Refuse { code: 513, .. }
        ));
        assert!(matches!(
            g.check(a, &req(&Method::OPTIONS, 1000, 11), now),
            Verdict::Refuse { code: 400, .. }
        ));
        // Even a trusted proxy cannot send an oversize message; an oversize ACK is dropped.
        assert!(matches!(
            g.check(src("10.0.0.9:5060"), &req(&Method::INVITE, 1001, 1), now),
            Verdict::Refuse { code: 513, .. }
        ));
        assert_eq!(
            g.check(a, &req(&Method::ACK, 1001, 1), now),
            Verdict::Drop("bad ACK")
        );
        // CSeq naming another method: 400 (RFC 4475's "mismatch01").
        let mismatch = Request {
            cseq_method: &Method::INVITE,
            ..req(&Method::OPTIONS, 300, 8)
        };
        assert!(matches!(
            g.check(a, &mismatch, now),
            Verdict::Refuse {
                code: 400,
                reason: "CSeq Method Mismatch",
                ..
            }
        ));
    }

    #[test]
    fn invite_rate_per_source_is_a_burst_of_twice_the_rate_then_503() {
        let g = Limiter::new(limits());
        let now = Instant::now();
        let a = src("10.0.0.1:5060");
        for _ in 0..4 {
            assert_eq!(
                g.check(a, &req(&Method::INVITE, 500, 8), now),
                Verdict::Pass
            );
        }
        assert_eq!(g.check(a, &req(&Method::INVITE, 500, 8), now), BUSY);
        // Another source is not held back by the first; ACKs always pass.
        assert_eq!(
            g.check(src("10.0.0.2:5060"), &req(&Method::INVITE, 500, 8), now),
            Verdict::Pass
        );
        assert_eq!(g.check(a, &req(&Method::ACK, 500, 8), now), Verdict::Pass);
        // Half a second later one more INVITE is allowed (2 a second).
        let later = now + Duration::from_millis(500);
        assert_eq!(
            g.check(a, &req(&Method::INVITE, 500, 8), later),
            Verdict::Pass
        );
        assert_eq!(g.check(a, &req(&Method::INVITE, 500, 8), later), BUSY);
    }

    #[test]
    fn a_flood_gets_a_few_refusals_then_silence_and_trusted_sources_pass() {
        let g = Limiter::new(limits());
        let now = Instant::now();
        let a = src("10.0.0.1:5060");
        let verdicts: Vec<_> = (0..40)
            .map(|_| g.check(a, &req(&Method::OPTIONS, 200, 8), now))
            .collect();
        let passed = verdicts.iter().filter(|v| **v == Verdict::Pass).count();
        let refused = verdicts.iter().filter(|v| **v == BUSY).count();
        let dropped = verdicts
            .iter()
            .filter(|v| **v == Verdict::Drop("flood"))
            .count();
        assert_eq!((passed, refused, dropped), (10, 6, 24));
        let proxy = src("10.0.0.9:5060");
        assert!(
            (0..100).all(|_| g.check(proxy, &req(&Method::INVITE, 200, 8), now) == Verdict::Pass)
        );
        // The same IP on another port is not the trusted proxy.
        let other = src("10.0.0.9:5070");
        assert!(
            (0..100).any(|_| g.check(other, &req(&Method::INVITE, 200, 8), now) != Verdict::Pass)
        );
    }

    #[test]
    fn calls_per_source_are_counted_until_they_end() {
        let g = Arc::new(Limiter::new(limits()));
        let a = src("10.0.0.1:5060");
        let first = g.admit_call(a).expect("first call");
        let _second = g
            .admit_call(src("10.0.0.1:6000"))
            .expect("same IP, second call");
        assert!(g.admit_call(a).is_none(), "a third from one IP is refused");
        assert!(g.admit_call(src("10.0.0.2:5060")).is_some());
        drop(first);
        assert!(g.admit_call(a).is_some(), "a call ended frees its place");
        let proxy = src("10.0.0.9:5060");
        let many: Vec<_> = (0..10).map(|_| g.admit_call(proxy)).collect();
        assert!(many.iter().all(Option::is_some));
    }

    #[test]
    fn the_table_never_holds_more_than_max_sources() {
        let g = Limiter::new(limits());
        let now = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 500) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = g.check(
                SocketAddr::new(ip, 5060),
                &req(&Method::OPTIONS, 200, 8),
                now,
            );
        }
        assert_eq!(g.tracked(), MAX_SOURCES);
        // A minute later the idle entries make room again.
        let later = now + IDLE + Duration::from_secs(1);
        let fresh = src("192.0.2.1:5060");
        assert_eq!(
            g.check(fresh, &req(&Method::OPTIONS, 200, 8), later),
            Verdict::Pass
        );
        assert_eq!(g.tracked(), 1);
    }
}
