//! Per-consumer rate limiting (token bucket, per replica). Refusals happen
//! before any validation or charge.

use crate::release::ReleaseError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per consumer: `per_minute` requests a minute, bursts up to the same.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `consumer`, or says how long to wait.
    pub fn check(&self, consumer: &str) -> Result<(), ReleaseError> {
        let now = Instant::now();
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        if buckets.len() > 100_000 {
            // Forget idle consumers rather than grow without bound.
            buckets.retain(|_, b| now.duration_since(b.last).as_secs() < 120);
        }
        let rate = self.per_minute / 60.0;
        let b = buckets.entry(consumer.to_owned()).or_insert(Bucket {
            tokens: self.per_minute,
            last: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(self.per_minute);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / rate).ceil().max(1.0) as u64;
            Err(ReleaseError::RateLimited {
                retry_after_secs: wait,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_is_refused_with_a_wait() {
        let r = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(r.check("a").is_ok());
        }
        assert!(
            matches!(r.check("a"), Err(ReleaseError::RateLimited { retry_after_secs }) if retry_after_secs >= 1)
        );
        assert!(r.check("b").is_ok(), "buckets are per consumer");
    }
}
