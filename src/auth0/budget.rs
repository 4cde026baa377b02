//! The shared request budget (a token bucket every Auth0 call waits on) and the pure wait
//! computations for retries: exponential backoff for 5xx/transport failures and the 429 wait.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Client-side token bucket shared by every clone of the client, plus a "not before" instant
/// set after a 429 so that every caller pauses, not only the one that was refused.
#[derive(Debug)]
pub struct RequestBudget {
    limiter: DefaultDirectRateLimiter,
    not_before: Mutex<Option<Instant>>,
}

impl RequestBudget {
    /// A budget of `rate_per_second` sustained requests with bursts of `burst`; `None` when the
    /// rate is not a positive finite number.
    pub fn new(rate_per_second: f64, burst: u32) -> Option<Self> {
        if !rate_per_second.is_finite() || rate_per_second <= 0.0 {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / rate_per_second).ok()?;
        let burst = NonZeroU32::new(burst.max(1))?;
        let quota = Quota::with_period(period)?.allow_burst(burst);
        Some(RequestBudget {
            limiter: RateLimiter::direct(quota),
            not_before: Mutex::new(None),
        })
    }

    /// Waits until a request may be sent: after any 429 pause, then for a bucket token.
    pub async fn acquire(&self) {
        loop {
            if let Some(until) = self.paused_until() {
                tokio::time::sleep_until(until).await;
            }
            self.limiter.until_ready().await;
            // A 429 seen by another caller while we waited for the bucket moves the pause on.
            match self.paused_until() {
                Some(until) if until > Instant::now() => continue,
                _ => return,
            }
        }
    }

    /// Makes every caller wait until `until` before its next request (Auth0 said 429).
    pub fn pause_until(&self, until: Instant) {
        let mut guard = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        let guard = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        (*guard).filter(|until| *until > Instant::now())
    }
}

/// Timing of retries; production values in `Default`, shrinkable in tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryTiming {
    /// First backoff delay after a 5xx or transport failure (doubles each retry).
    pub backoff_base: Duration,
    /// Largest backoff delay.
    pub backoff_cap: Duration,
    /// Shortest wait after a 429.
    pub min_rate_limit_wait: Duration,
    /// Longest wait after a 429.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryTiming {
    fn default() -> Self {
        RetryTiming {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            min_rate_limit_wait: Duration::from_secs(1),
            max_rate_limit_wait: Duration::from_secs(60),
        }
    }
}

/// The backoff delays before each retry of a 5xx/transport failure, without jitter:
/// `base, 2·base, 4·base, …` capped, `max_retries` of them.
pub fn backoff_schedule(timing: &RetryTiming, max_retries: u32) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(timing.backoff_base)
        .with_max_delay(timing.backoff_cap.max(timing.backoff_base))
        .with_factor(2.0)
        .with_max_times(max_retries as usize)
        .build()
}

/// `delay` scaled by `1 + spread·(2·unit − 1)`, i.e. ±`spread` for `unit` in `[0, 1)`.
pub fn with_symmetric_jitter(delay: Duration, spread: f64, unit: f64) -> Duration {
    delay.mul_f64((1.0 + spread * (2.0 * unit - 1.0)).max(0.0))
}

/// How long to wait after a 429 (docs/AUTH0_API.md §8): `Retry-After` seconds if present, else
/// `x-ratelimit-reset − now` (epoch seconds); plus `jitter_unit`·25 %; clamped to the timing's
/// bounds.
pub fn rate_limit_wait(
    retry_after: Option<&str>,
    ratelimit_reset: Option<&str>,
    now_epoch_secs: f64,
    jitter_unit: f64,
    timing: &RetryTiming,
) -> Duration {
    let from_retry_after = retry_after
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0);
    let from_reset = || {
        ratelimit_reset
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite())
            .map(|reset| (reset - now_epoch_secs).max(0.0))
    };
    let base_secs = from_retry_after.or_else(from_reset).unwrap_or(0.0);
    let jittered = base_secs * (1.0 + 0.25 * jitter_unit.clamp(0.0, 1.0));
    let max = timing.max_rate_limit_wait.max(timing.min_rate_limit_wait);
    Duration::try_from_secs_f64(jittered)
        .unwrap_or(max)
        .clamp(timing.min_rate_limit_wait, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn backoff_doubles_from_one_second_and_stops_after_max_retries() {
        let delays: Vec<_> = backoff_schedule(&RetryTiming::default(), 3).collect();
        assert_eq!(delays, vec![secs(1.0), secs(2.0), secs(4.0)]);
    }

    #[test]
    fn backoff_never_exceeds_the_cap() {
        let delays: Vec<_> = backoff_schedule(&RetryTiming::default(), 10).collect();
        assert_eq!(delays.len(), 10);
        assert_eq!(delays[6], secs(60.0));
        assert!(delays.iter().all(|d| *d <= secs(60.0)));
    }

    #[test]
    fn zero_retries_means_no_backoff_at_all() {
        assert_eq!(backoff_schedule(&RetryTiming::default(), 0).count(), 0);
    }

    #[test]
    fn backoff_jitter_stays_within_ten_percent() {
        let d = secs(10.0);
        assert_eq!(with_symmetric_jitter(d, 0.1, 0.0), secs(9.0));
        assert_eq!(with_symmetric_jitter(d, 0.1, 0.5), secs(10.0));
        assert!(with_symmetric_jitter(d, 0.1, 0.999_999) < secs(11.0));
        assert!(with_symmetric_jitter(d, 0.1, 0.999_999) > secs(10.99));
    }

    #[test]
    fn rate_limit_wait_uses_the_reset_header_relative_to_now() {
        let t = RetryTiming::default();
        let w = rate_limit_wait(None, Some("1000007"), 1_000_000.0, 0.0, &t);
        assert_eq!(w, secs(7.0));
    }

    #[test]
    fn rate_limit_wait_prefers_retry_after_over_reset() {
        let t = RetryTiming::default();
        let w = rate_limit_wait(Some("3"), Some("1000030"), 1_000_000.0, 0.0, &t);
        assert_eq!(w, secs(3.0));
    }

    #[test]
    fn rate_limit_wait_adds_at_most_a_quarter_of_jitter() {
        let t = RetryTiming::default();
        let w = rate_limit_wait(Some("8"), None, 0.0, 1.0, &t);
        assert_eq!(w, secs(10.0));
        let w = rate_limit_wait(Some("8"), None, 0.0, 0.5, &t);
        assert_eq!(w, secs(9.0));
    }

    #[test]
    fn rate_limit_wait_is_at_least_one_second_even_when_reset_has_passed() {
        let t = RetryTiming::default();
        assert_eq!(
            rate_limit_wait(None, Some("999990"), 1_000_000.0, 0.3, &t),
            secs(1.0)
        );
        assert_eq!(rate_limit_wait(None, None, 1_000_000.0, 0.3, &t), secs(1.0));
        assert_eq!(
            rate_limit_wait(Some("soon"), Some("garbage"), 0.0, 0.3, &t),
            secs(1.0)
        );
    }

    #[test]
    fn rate_limit_wait_is_capped_at_one_minute() {
        let t = RetryTiming::default();
        assert_eq!(
            rate_limit_wait(None, Some("1003600"), 1_000_000.0, 0.0, &t),
            secs(60.0)
        );
        assert_eq!(
            rate_limit_wait(Some("1e300"), None, 0.0, 0.0, &t),
            secs(60.0)
        );
    }

    #[test]
    fn invalid_budget_rates_are_refused() {
        assert!(RequestBudget::new(0.0, 1).is_none());
        assert!(RequestBudget::new(-1.0, 1).is_none());
        assert!(RequestBudget::new(f64::NAN, 1).is_none());
        assert!(RequestBudget::new(0.5, 0).is_some());
    }

    #[tokio::test]
    async fn a_pause_only_moves_forward() {
        let budget = RequestBudget::new(100.0, 10).expect("valid budget");
        let later = Instant::now() + Duration::from_secs(30);
        budget.pause_until(later);
        budget.pause_until(Instant::now() + Duration::from_secs(1));
        assert_eq!(budget.paused_until(), Some(later));
    }
}
