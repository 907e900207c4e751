//! Per-integration-key rate limit of the Events API (GCRA from `governor`): a steady rate with
//! bursts of ten times that; 0 turns it off.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct EventsRateLimit {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
}

impl EventsRateLimit {
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(per_second.saturating_mul(10)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        EventsRateLimit {
            limiter,
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when this key has to wait before its next event is accepted.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Keys that stopped sending are forgotten now and then, so unknown keys cannot pile up.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_ten_times_the_rate_then_refuses() {
        let limit = EventsRateLimit::new(2);
        for _ in 0..20 {
            assert!(limit.check("a").is_ok());
        }
        let wait = limit.check("a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500));
        assert!(limit.check("b").is_ok(), "each key has its own budget");
        let off = EventsRateLimit::new(0);
        assert!((0..10_000).all(|_| off.check("a").is_ok()));
    }
}
