//! One process's Prometheus metrics (prometheus-client, the Prometheus project's own Rust
//! client), shared by whatever services the process runs and served at `/metrics` on
//! `ops.listen`.
//!
//! The core counts what every service does the same way: deliveries handled per queue and how
//! they were settled, handling time, and waits for an unavailable dependency. A service with
//! metrics of its own (the IVR's calls and RTP) registers them into the same registry with
//! [`Metrics::register`], so one scrape sees the whole process.

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use std::sync::Mutex;

type Labels = Vec<(&'static str, String)>;

/// How a delivery was settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Handled (or found already handled): acked.
    Acked,
    /// Failed for now: back to the queue.
    Requeued,
    /// Can never succeed: to the dead-letter queue.
    DeadLettered,
}

impl Settled {
    fn as_str(self) -> &'static str {
        match self {
            Settled::Acked => "acked",
            Settled::Requeued => "requeued",
            Settled::DeadLettered => "dead_lettered",
        }
    }
}

pub struct Metrics {
    registry: Mutex<Registry>,
    deliveries: Family<Labels, Counter>,
    handle_seconds: Family<Labels, Histogram>,
    unavailable: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let deliveries = Family::<Labels, Counter>::default();
        let handle_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0])
        });
        let unavailable = Family::<Labels, Counter>::default();
        registry.register(
            "hark_bus_deliveries",
            "Deliveries consumed, by queue and how they were settled",
            deliveries.clone(),
        );
        registry.register(
            "hark_bus_handle_seconds",
            "Time to handle one delivery, by queue",
            handle_seconds.clone(),
        );
        registry.register(
            "hark_dependency_waits",
            "Deliveries held back while the database was unavailable, by queue",
            unavailable.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            deliveries,
            handle_seconds,
            unavailable,
        }
    }
}

impl Metrics {
    /// Add a service's own metrics to this process's registry.
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        f(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn delivery(&self, queue: &str, settled: Settled, seconds: f64) {
        self.deliveries
            .get_or_create(&vec![
                ("queue", queue.to_owned()),
                ("settled", settled.as_str().to_owned()),
            ])
            .inc();
        self.handle_seconds
            .get_or_create(&vec![("queue", queue.to_owned())])
            .observe(seconds);
    }

    pub fn dependency_wait(&self, queue: &str) {
        self.unavailable
            .get_or_create(&vec![("queue", queue.to_owned())])
            .inc();
    }

    /// The Prometheus text exposition of everything registered, with `extra` lines (gauges
    /// read at scrape time, such as memory and the outbox) before the end marker.
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(
            &mut out,
            &self.registry.lock().unwrap_or_else(|p| p.into_inner()),
        );
        if let Some(body) = out.strip_suffix("# EOF\n") {
            let mut text = body.to_owned();
            text.push_str(extra);
            text.push_str("# EOF\n");
            text
        } else {
            out + extra
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_deliveries_and_extra_gauges_in_one_exposition() {
        let m = Metrics::default();
        m.delivery("router.events", Settled::Acked, 0.002);
        m.delivery("router.events", Settled::Acked, 0.003);
        m.delivery("notify.email", Settled::Requeued, 0.5);
        m.dependency_wait("notify.email");
        let text = m.render("# TYPE hark_up gauge\nhark_up 1\n");
        for line in [
            "hark_bus_deliveries_total{queue=\"router.events\",settled=\"acked\"} 2",
            "hark_bus_deliveries_total{queue=\"notify.email\",settled=\"requeued\"} 1",
            "hark_bus_handle_seconds_count{queue=\"router.events\"} 2",
            "hark_dependency_waits_total{queue=\"notify.email\"} 1",
            "hark_up 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("hark_up 1\n# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }
}
