//! Per-user budgets: API requests a minute and messages sent a minute (`portal.api_per_minute`,
//! `portal.sends_per_minute`), with governor's GCRA as the login limit uses: a full minute's
//! budget may be spent at once, then it refills evenly. In memory, per portal node (as the
//! login limit; a user balanced over N portals gets up to N times the budget).

use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;

#[derive(Debug)]
pub(crate) struct Throttle {
    api: Option<DefaultKeyedRateLimiter<String>>,
    sends: Option<DefaultKeyedRateLimiter<String>>,
}

fn per_minute(n: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(n).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)))
}

fn allow(limiter: &Option<DefaultKeyedRateLimiter<String>>, user: &str) -> bool {
    let Some(l) = limiter else { return true };
    if l.len() > 10_000 {
        l.retain_recent();
    }
    l.check_key(&user.to_owned()).is_ok()
}

impl Throttle {
    pub fn new(api_per_minute: u32, sends_per_minute: u32) -> Self {
        Self {
            api: per_minute(api_per_minute),
            sends: per_minute(sends_per_minute),
        }
    }

    /// One more API request by `user`?
    pub fn api(&self, user: &str) -> bool {
        allow(&self.api, user)
    }

    /// One more message (or call) sent by `user`?
    pub fn send(&self, user: &str) -> bool {
        allow(&self.sends, user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_hold_at_the_limit_and_refuse_one_past_it_per_user() {
        let t = Throttle::new(5, 2);
        assert!((0..5).all(|_| t.api("u1")));
        assert!(!t.api("u1"));
        assert!(t.api("u2"), "another user has their own budget");
        assert!(t.send("u1") && t.send("u1"));
        assert!(!t.send("u1"));
        let none = Throttle::new(0, 0);
        assert!((0..10_000).all(|_| none.api("u1") && none.send("u1")));
    }
}
