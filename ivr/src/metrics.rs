//! The IVR's Prometheus metrics (prometheus-client, the Prometheus project's own Rust
//! client): active calls, calls (a counter, so `rate()` gives calls per second), refusals by
//! status, RTP packets in and out, lost and foreign packets, per-call jitter, and key presses
//! by method. RTP counts are added when each call ends. They are registered into the
//! process's registry ([`hark_core::metrics::Metrics`]) and served with the rest of the
//! process's metrics on `ops.listen`.

use crate::media::{dtmf::Method, session::Counters};
use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    active: Gauge,
    calls: Family<Labels, Counter>,
    refused: Family<Labels, Counter>,
    sip_rejected: Family<Labels, Counter>,
    rtp: Family<Labels, Counter>,
    jitter_ms: Histogram,
    dtmf: Family<Labels, Counter>,
    registers: Family<Labels, Counter>,
    lamps: Family<Labels, Counter>,
    keepalives: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            active: Gauge::default(),
            calls: Family::default(),
            refused: Family::default(),
            sip_rejected: Family::default(),
            rtp: Family::default(),
            jitter_ms: Histogram::new([1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0]),
            dtmf: Family::default(),
            registers: Family::default(),
            lamps: Family::default(),
            keepalives: Family::default(),
        }
    }
}

impl Metrics {
    /// Register these metrics as `hark_ivr_…` in a process registry.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("hark_ivr");
        r.register("active_calls", "Calls in progress", self.active.clone());
        r.register(
            "calls",
            "Calls answered or placed, by direction",
            self.calls.clone(),
        );
        r.register(
            "refused_calls",
            "INVITEs refused, by status",
            self.refused.clone(),
        );
        r.register(
            "sip_rejected",
            "SIP requests refused or dropped by the per-message and per-source limits, by reason",
            self.sip_rejected.clone(),
        );
        r.register(
            "rtp_packets",
            "RTP packets, by kind (in, out, lost, foreign, malformed)",
            self.rtp.clone(),
        );
        r.register(
            "call_jitter_ms",
            "Interarrival jitter at the end of each call",
            self.jitter_ms.clone(),
        );
        r.register("dtmf", "Key presses, by method", self.dtmf.clone());
        r.register(
            "registers",
            "REGISTER requests answered, by status (401 challenges, 403 wrong credentials)",
            self.registers.clone(),
        );
        r.register(
            "lamp_notifies",
            "message-waiting NOTIFYs sent, by the phone's answer (\"none\": unanswered)",
            self.lamps.clone(),
        );
        r.register(
            "nat_keepalives",
            "OPTIONS sent to keep NATed phones reachable, by the phone's answer (\"none\": unanswered)",
            self.keepalives.clone(),
        );
    }

    pub fn call_started(&self, direction: &'static str) {
        self.active.inc();
        self.calls
            .get_or_create(&vec![("direction", direction.to_owned())])
            .inc();
    }

    pub fn call_ended(&self, counters: &Counters, jitter_ms: f64) {
        self.active.dec();
        for (kind, c) in [
            ("in", &counters.packets_in),
            ("out", &counters.packets_out),
            ("lost", &counters.lost),
            ("foreign", &counters.foreign),
            ("malformed", &counters.malformed),
        ] {
            self.rtp
                .get_or_create(&vec![("kind", kind.to_owned())])
                .inc_by(Counters::get(c));
        }
        self.jitter_ms.observe(jitter_ms);
    }

    pub fn refused(&self, code: ezk_sip_types::StatusCode) {
        self.refused
            .get_or_create(&vec![("status", code.into_u16().to_string())])
            .inc();
    }

    pub fn sip_rejected(&self, reason: &'static str) {
        self.sip_rejected
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub fn dtmf(&self, method: Method) {
        self.dtmf
            .get_or_create(&vec![("method", method.as_str().to_owned())])
            .inc();
    }

    pub fn registered(&self, code: ezk_sip_types::StatusCode) {
        self.registers
            .get_or_create(&vec![("status", code.into_u16().to_string())])
            .inc();
    }

    pub fn lamp_set(&self, code: ezk_sip_types::StatusCode) {
        self.lamps
            .get_or_create(&vec![("status", code.into_u16().to_string())])
            .inc();
    }

    pub fn lamp_unanswered(&self) {
        self.lamps
            .get_or_create(&vec![("status", "none".to_owned())])
            .inc();
    }

    /// A keep-alive OPTIONS was answered with `code`, or not at all.
    pub fn keepalive(&self, code: Option<ezk_sip_types::StatusCode>) {
        let status = code.map_or_else(|| "none".to_owned(), |c| c.into_u16().to_string());
        self.keepalives
            .get_or_create(&vec![("status", status)])
            .inc();
    }

    pub fn active_calls(&self) -> i64 {
        self.active.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn renders_what_calls_did() {
        let m = Metrics::default();
        let process = hark_core::metrics::Metrics::default();
        process.register(|r| m.register(r));
        m.call_started("inbound");
        m.dtmf(Method::SipInfo);
        m.refused(ezk_sip_types::StatusCode::SERVICE_UNAVAILABLE);
        m.sip_rejected("flood");
        m.registered(ezk_sip_types::StatusCode::UNAUTHORIZED);
        let c = Counters::default();
        c.packets_in.store(50, Ordering::Relaxed);
        c.lost.store(2, Ordering::Relaxed);
        assert_eq!(m.active_calls(), 1);
        m.call_ended(&c, 3.0);
        assert_eq!(m.active_calls(), 0);
        let text = process.render("");
        for line in [
            "hark_ivr_active_calls 0",
            "hark_ivr_calls_total{direction=\"inbound\"} 1",
            "hark_ivr_refused_calls_total{status=\"503\"} 1",
            "hark_ivr_sip_rejected_total{reason=\"flood\"} 1",
            "hark_ivr_registers_total{status=\"401\"} 1",
            "hark_ivr_rtp_packets_total{kind=\"in\"} 50",
            "hark_ivr_rtp_packets_total{kind=\"lost\"} 2",
            "hark_ivr_dtmf_total{method=\"sip_info\"} 1",
            "hark_ivr_call_jitter_ms_count 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
