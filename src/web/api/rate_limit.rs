//! Rate limits of the Events API (GCRA from `governor`):
//!
//! - per integration key: a steady rate with bursts of ten times that; 0 turns it off;
//! - per client address, for keys no integration has: each costs a database lookup, so a client
//!   that keeps guessing is answered 429 without one, while keys that exist keep working: the
//!   keys found by lookups are remembered, and a held-back request reloads the list of every
//!   key (one query, at most every `KNOWN_KEYS_RELOAD` for the whole process) before refusing.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Unknown integration keys a client address may try in a burst…
pub const UNKNOWN_KEY_BURST: u32 = 20;
/// …and then one more every this many seconds.
pub const UNKNOWN_KEY_REFILL_SECS: u64 = 3;
/// How often, at most, a held-back request reloads the list of keys that exist.
pub const KNOWN_KEYS_RELOAD: Duration = Duration::from_secs(10);
/// Integration keys remembered as existing; past that the memory starts again.
const MAX_KNOWN_KEYS: usize = 100_000;
/// Addresses kept waiting at once, before the ones whose wait is over are dropped.
const MAX_BLOCKED_BEFORE_PRUNE: usize = 4_096;

pub struct EventsRateLimit {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
    /// Unknown-key attempts per client address (an IPv6 client counts per /64).
    unknown: DefaultKeyedRateLimiter<String>,
    /// Addresses over their unknown-key budget, until when.
    blocked: Mutex<HashMap<String, Instant>>,
    /// Keys an integration had when last looked up: never held back by `admit`.
    known: Mutex<HashSet<String>>,
    /// When the whole list of keys was last loaded into `known`.
    reloaded: Mutex<Option<Instant>>,
}

impl EventsRateLimit {
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(per_second.saturating_mul(10)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let burst = NonZeroU32::new(UNKNOWN_KEY_BURST).expect("constant above 0");
        let unknown = RateLimiter::keyed(
            Quota::with_period(Duration::from_secs(UNKNOWN_KEY_REFILL_SECS))
                .expect("constant period above 0")
                .allow_burst(burst),
        );
        EventsRateLimit {
            limiter,
            checks: AtomicU64::new(0),
            unknown,
            blocked: Mutex::new(HashMap::new()),
            known: Mutex::new(HashSet::new()),
            reloaded: Mutex::new(None),
        }
    }

    /// Whether a lookup or a reload found an integration with this key.
    pub fn is_known(&self, key: &str) -> bool {
        lock(&self.known).contains(key)
    }

    /// After `admit` refused: true for the one request that should reload the list of keys
    /// now (none did in the last `KNOWN_KEYS_RELOAD`); it then calls `set_known`.
    pub fn claim_reload(&self) -> bool {
        let mut reloaded = lock(&self.reloaded);
        match *reloaded {
            Some(at) if at.elapsed() < KNOWN_KEYS_RELOAD => false,
            _ => {
                *reloaded = Some(Instant::now());
                true
            }
        }
    }

    /// Every key that exists, as the database has them now.
    pub fn set_known(&self, keys: Vec<String>) {
        *lock(&self.known) = keys.into_iter().collect();
    }

    /// Before the lookup: `Err(wait)` when `client` tried too many unknown keys and `key` is
    /// not one seen to exist, so the request is refused without touching the database.
    pub fn admit(&self, key: &str, client: &str) -> Result<(), Duration> {
        if lock(&self.known).contains(key) {
            return Ok(());
        }
        let client = client_bucket(client);
        let mut blocked = lock(&self.blocked);
        match blocked.get(&client) {
            Some(until) => match until.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => Err(wait),
                _ => {
                    blocked.remove(&client);
                    Ok(())
                }
            },
            None => Ok(()),
        }
    }

    /// After the lookup found an integration with this key (enabled or not).
    pub fn found(&self, key: &str) {
        let mut known = lock(&self.known);
        if known.len() >= MAX_KNOWN_KEYS && !known.contains(key) {
            known.clear();
        }
        known.insert(key.to_owned());
    }

    /// After the lookup found no integration with this key: counts against `client`, and
    /// `Some(wait)` when that was one too many (the client is kept waiting that long).
    pub fn not_found(&self, key: &str, client: &str) -> Option<Duration> {
        lock(&self.known).remove(key);
        let client = client_bucket(client);
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            self.unknown.retain_recent();
        }
        let wait = self
            .unknown
            .check_key(&client)
            .err()?
            .wait_time_from(DefaultClock::default().now());
        let now = Instant::now();
        let mut blocked = lock(&self.blocked);
        if blocked.len() >= MAX_BLOCKED_BEFORE_PRUNE {
            blocked.retain(|_, until| *until > now);
        }
        blocked.insert(client, now + wait);
        Some(wait.max(Duration::from_millis(1)))
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

/// A poisoned lock only means another request panicked while holding it; the set is still
/// usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What unknown-key attempts are counted by: the address, or for IPv6 its /64 (one client
/// usually holds a whole /64, and would otherwise have 2^64 budgets).
fn client_bucket(client: &str) -> String {
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => client.to_owned(),
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

    #[test]
    fn unknown_keys_are_limited_per_client_and_known_keys_pass() {
        let limit = EventsRateLimit::new(100);
        limit.found("good");
        for i in 0..UNKNOWN_KEY_BURST {
            assert!(limit.admit(&format!("guess-{i}"), "198.51.100.7").is_ok());
            assert!(limit
                .not_found(&format!("guess-{i}"), "198.51.100.7")
                .is_none());
        }
        let wait = limit
            .not_found("one-more", "198.51.100.7")
            .expect("over the budget");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(UNKNOWN_KEY_REFILL_SECS));
        let held = limit.admit("guess-again", "198.51.100.7").unwrap_err();
        assert!(held <= wait, "refused before any lookup");
        assert!(
            limit.admit("good", "198.51.100.7").is_ok(),
            "a known key is never held"
        );
        assert!(
            limit.admit("guess", "198.51.100.8").is_ok(),
            "another client has its own"
        );
        // A key that exists but was not used yet: the held-back request reloads the list, once.
        assert!(limit.admit("new", "198.51.100.7").is_err() && !limit.is_known("new"));
        assert!(limit.claim_reload());
        assert!(!limit.claim_reload(), "one reload at a time");
        limit.set_known(vec!["good".into(), "new".into()]);
        assert!(limit.admit("new", "198.51.100.7").is_ok());
        // An IPv6 client counts per /64.
        for i in 0..=UNKNOWN_KEY_BURST {
            limit.not_found("x", &format!("2001:db8:1:2::{i:x}"));
        }
        assert!(limit.admit("y", "2001:db8:1:2:ffff::1").is_err());
        assert!(limit.admit("y", "2001:db8:1:3::1").is_ok());
        // A key that stopped existing is an unknown key again.
        limit.not_found("good", "203.0.113.1");
        assert!(limit.admit("good", "198.51.100.7").is_err());
    }
}
