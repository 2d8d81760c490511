//! Token-bucket rate limiting, kept in memory per instance. Each key (a client id, or an
//! IP address) has a bucket of `burst` tokens refilled at `per_second`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The outcome of one check, with what the `x-ratelimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix epoch seconds at which the bucket is full again.
    pub reset: u64,
    /// Seconds until one request would be let through (for `Retry-After`).
    pub retry_after: u64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Past this many keys, buckets that have refilled completely are dropped, so a flood of
/// distinct keys cannot grow memory without bound.
const PRUNE_AT: usize = 100_000;

impl RateLimiter {
    pub fn new(burst: u32, per_second: f64) -> RateLimiter {
        RateLimiter {
            burst: f64::from(burst.max(1)),
            per_second: per_second.max(0.001),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket if there is one.
    pub fn check(&self, key: &str) -> Decision {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(key) {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let tokens = bucket.tokens;
        drop(buckets);

        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let to_full = ((self.burst - tokens) / self.per_second).ceil() as u64;
        let to_one = if tokens >= 1.0 {
            0
        } else {
            ((1.0 - tokens) / self.per_second).ceil().max(1.0) as u64
        };
        Decision {
            allowed,
            limit: self.burst as u32,
            remaining: tokens.floor() as u32,
            reset: epoch + to_full,
            retry_after: to_one,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_then_refill() {
        let limiter = RateLimiter::new(3, 1000.0);
        for expected_remaining in [2, 1, 0] {
            let d = limiter.check("a");
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.limit, 3);
        }
        let slow = RateLimiter::new(2, 0.5);
        assert!(slow.check("k").allowed);
        assert!(slow.check("k").allowed);
        let denied = slow.check("k");
        assert!(!denied.allowed);
        assert!(denied.retry_after >= 1);
        // Other keys have their own bucket.
        assert!(slow.check("other").allowed);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(limiter.check("a").allowed, "refilled at 1000/s");
    }
}
