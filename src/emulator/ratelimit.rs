//! Token buckets behind the `x-ratelimit-*` headers and the 429 answer (docs/AUTH0_API.md §8).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::config::RateLimit;

/// Header values of one `/api/v2` response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateHeaders {
    /// `x-ratelimit-limit`: bucket size.
    pub limit: u32,
    /// `x-ratelimit-remaining`: whole tokens left.
    pub remaining: u32,
    /// `x-ratelimit-reset`: epoch seconds (rounded up) when a token is next added.
    pub reset: u64,
    /// Seconds until then, rounded up (for `Retry-After`).
    pub retry_after: u64,
}

/// Reported when the limit is off: a bucket nobody can drain.
const UNLIMITED: u32 = 1_000_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// All buckets of one policy.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: HashMap<&'static str, Bucket>,
}

impl Limiter {
    /// Forgets every bucket (they refill to full).
    pub fn reset(&mut self) {
        self.buckets.clear();
    }

    /// Takes one token for a call; `Err` carries the headers of the 429.
    pub fn take(&mut self, policy: RateLimit, is_list: bool) -> Result<RateHeaders, RateHeaders> {
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let Some((key, burst, rate)) = policy.bucket_for(is_list) else {
            return Ok(RateHeaders {
                limit: UNLIMITED,
                remaining: UNLIMITED,
                reset: ceil_secs(wall),
                retry_after: 0,
            });
        };
        let cap = f64::from(burst);
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: cap,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(cap);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let wait = if bucket.tokens >= cap {
            0.0
        } else {
            (bucket.tokens.floor() + 1.0 - bucket.tokens) / rate
        };
        let next = wall + Duration::from_secs_f64(wait);
        let headers = RateHeaders {
            limit: burst,
            remaining: bucket.tokens.floor().max(0.0) as u32,
            reset: ceil_secs(next),
            retry_after: wait.ceil().max(1.0) as u64,
        };
        if allowed { Ok(headers) } else { Err(headers) }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_refuses_and_reports_the_next_refill() {
        let mut limiter = Limiter::default();
        let policy = RateLimit::Bucket {
            burst: 2,
            per_second: 0.001,
        };
        let first = limiter.take(policy, false).unwrap();
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert_eq!(limiter.take(policy, false).unwrap().remaining, 0);
        let refused = limiter.take(policy, false).unwrap_err();
        assert_eq!(refused.remaining, 0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        // One token every 1000 s: the reset is far in the future, never now.
        assert!(refused.reset > now.as_secs() + 900);
    }

    #[test]
    fn essentials_keeps_list_calls_in_their_own_bucket() {
        let mut limiter = Limiter::default();
        for _ in 0..5 {
            limiter.take(RateLimit::Essentials, true).unwrap();
        }
        assert!(limiter.take(RateLimit::Essentials, true).is_err());
        assert_eq!(
            limiter.take(RateLimit::Essentials, false).unwrap().limit,
            10
        );
    }
}
