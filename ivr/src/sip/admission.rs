//! How many calls this node carries at once, in all and from each source: a call, either
//! way, holds a [`CallPermit`] while it lives.

use super::limits::{Limiter, SourceCall};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

/// The node's call slots (`max_calls`) and the per-source limits they are counted against.
#[derive(Debug)]
pub struct Admission {
    limiter: Arc<Limiter>,
    max_calls: u32,
    active: Arc<AtomicU32>,
}

impl Admission {
    pub fn new(limiter: Arc<Limiter>, max_calls: u32) -> Self {
        Self {
            limiter,
            max_calls,
            active: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Count a new call, unless that would pass `max_calls` or, for a call from `source`,
    /// `max_calls_per_source`.
    pub fn admit(&self, source: Option<SocketAddr>) -> Option<CallPermit> {
        let from_source = match source {
            Some(s) => Some(self.limiter.admit_call(s)?),
            None => None,
        };
        let max = self.max_calls;
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| CallPermit {
                active: self.active.clone(),
                _source: from_source,
            })
    }
}

/// Keeps a call counted while it lives (in `max_calls`, and against its source).
#[derive(Debug)]
pub struct CallPermit {
    active: Arc<AtomicU32>,
    _source: Option<SourceCall>,
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}
