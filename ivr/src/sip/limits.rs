//! What one message and one source may cost the IVR, judged by [`Limiter::check`] for the
//! [`guard`](super::guard) layer, and calls at once per source, counted by
//! [`Limiter::admit_call`] for [`admission`](super::admission).
//!
//! State is one small entry per source, at most [`MAX_SOURCES`]; idle entries are pruned, and
//! when the table is full of busy sources the rest share one entry, so memory stays bounded
//! however many addresses a flood spoofs. `trusted_sources` (a proxy in front of the IVR,
//! through which every caller arrives) are exempt from the per-source limits, not from the
//! size limits.

use ezk_sip_types::Method;
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

    pub fn is_trusted(&self, source: SocketAddr) -> bool {
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
