//! Rate limits over a sliding window. In one process the windows are kept in memory
//! ([`LocalRateWindows`]); replicas share them through their database
//! (`andibase_identity::SharedRateWindows`).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::{Clock, DomainError, DomainResult};

/// A future a [`RateWindows`] answers with.
pub type RateFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Counts hits per key over the last `window_ms` of the clock.
pub trait RateWindows: Send + Sync {
    /// Records a hit on `key` unless it already had `limit` in the window; then answers
    /// how many seconds until one falls out of it.
    fn hit<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
        window_ms: i64,
    ) -> RateFuture<'a, DomainResult<()>>;
    /// Whether `key` has `limit` hits in the window now (recording nothing).
    fn is_full<'a>(&'a self, key: &'a str, limit: usize, window_ms: i64) -> RateFuture<'a, bool>;
}

/// The answer when `oldest` is the oldest hit in a full window: how long until it leaves.
pub fn limited(oldest: i64, window_ms: i64, now: i64) -> DomainError {
    DomainError::RateLimited {
        retry_after_secs: ((oldest + window_ms - now + 999) / 1000).max(1) as u64,
    }
}

/// Windows in this process's memory, on its clock.
pub struct LocalRateWindows {
    clock: Clock,
    hits: Mutex<HashMap<String, VecDeque<i64>>>,
}

/// Keys kept before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

impl LocalRateWindows {
    pub fn new(clock: Clock) -> LocalRateWindows {
        LocalRateWindows {
            clock,
            hits: Mutex::new(HashMap::new()),
        }
    }
}

impl LocalRateWindows {
    fn hit_now(&self, key: &str, limit: usize, window_ms: i64) -> DomainResult<()> {
        let now = self.clock.now().0;
        let mut hits = self.hits.lock().expect("rate windows poisoned");
        if hits.len() > MAX_KEYS {
            hits.retain(|_, w| w.back().is_some_and(|t| now - *t < window_ms));
        }
        let w = hits.entry(key.to_string()).or_default();
        while w.front().is_some_and(|t| now - *t >= window_ms) {
            w.pop_front();
        }
        if w.len() >= limit {
            return Err(limited(w.front().copied().unwrap_or(now), window_ms, now));
        }
        w.push_back(now);
        Ok(())
    }
}

impl RateWindows for LocalRateWindows {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
        window_ms: i64,
    ) -> RateFuture<'a, DomainResult<()>> {
        let answer = self.hit_now(key, limit, window_ms);
        Box::pin(async move { answer })
    }

    fn is_full<'a>(&'a self, key: &'a str, limit: usize, window_ms: i64) -> RateFuture<'a, bool> {
        let now = self.clock.now().0;
        let hits = self.hits.lock().expect("rate windows poisoned");
        let full = hits
            .get(key)
            .is_some_and(|w| w.iter().filter(|t| now - **t < window_ms).count() >= limit);
        Box::pin(async move { full })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn retry_after(r: DomainResult<()>) -> u64 {
        match r {
            Err(DomainError::RateLimited { retry_after_secs }) => retry_after_secs,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_window_slides_with_the_clock_and_keys_are_apart() {
        let clock = Clock::manual(Timestamp(0));
        let w = LocalRateWindows::new(clock.clone());
        w.hit_now("a", 2, 60_000).unwrap();
        clock.advance_millis(30_000);
        w.hit_now("a", 2, 60_000).unwrap();
        assert_eq!(
            retry_after(w.hit_now("a", 2, 60_000)),
            30,
            "the first hit leaves in 30 s"
        );
        w.hit_now("b", 2, 60_000).unwrap();
        clock.advance_millis(30_000);
        w.hit_now("a", 2, 60_000).unwrap();
        assert_eq!(retry_after(w.hit_now("a", 2, 60_000)), 30);
    }
}
