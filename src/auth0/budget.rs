//! The shared request budget (a token bucket every Auth0 call waits on) and the pure wait
//! computations for retries: exponential backoff for 5xx/transport failures and the 429 wait.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Whose work a request is, for the order in which the budget serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A person is waiting: a new resource, a spec change, a deletion (and anything not
    /// marked otherwise). Served first.
    Person,
    /// Work nobody is watching: drift checks and repairs, resyncs, metadata and Secret
    /// changes that may fan out to many resources. Served when no person's request waits.
    Background,
}

/// The lane of the requests made inside [`in_lane`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    /// Served first or after.
    pub priority: Priority,
    /// Background work that may be deferred instead of waiting: when its booked turn is more
    /// than [`MAX_HOLD`] away, the request fails with `Auth0Error::Deferred` and the caller
    /// comes back then (a reconcile gives its worker back meanwhile).
    pub deferrable: bool,
}

impl Lane {
    /// A person's work.
    pub const PERSON: Lane = Lane {
        priority: Priority::Person,
        deferrable: false,
    };
}

/// The longest a background request waits in line rather than being deferred.
pub const MAX_HOLD: Duration = Duration::from_secs(1);
/// Requests a deferred reconcile is booked for (a read and a write).
const BOOKED_CALLS: u32 = 2;

tokio::task_local! {
    static LANE: Lane;
}

/// Runs `work` with its Auth0 requests in `lane`.
pub async fn in_lane<F: std::future::Future>(lane: Lane, work: F) -> F::Output {
    LANE.scope(lane, work).await
}

fn current_lane() -> Lane {
    LANE.try_with(|l| *l).unwrap_or(Lane::PERSON)
}

/// Client-side token bucket shared by every clone of the client, plus a "not before" instant
/// set after a 429 so that every caller pauses, not only the one that was refused.
///
/// Requests of [`Priority::Person`] go first: a background request waits while any person's
/// request waits. Background requests also keep a schedule of their own (a theoretical
/// arrival time advanced by every request served): a deferrable one whose turn is further
/// than [`MAX_HOLD`] away books that turn and is deferred, so that background work never
/// occupies every worker while a person's request needs one. Booked turns are served in
/// order, so background work always progresses.
#[derive(Debug)]
pub struct RequestBudget {
    limiter: DefaultDirectRateLimiter,
    not_before: Mutex<Option<Instant>>,
    period: Duration,
    background_turn: Mutex<Instant>,
    persons_waiting: std::sync::atomic::AtomicUsize,
    served: tokio::sync::Notify,
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
            period,
            background_turn: Mutex::new(Instant::now()),
            persons_waiting: Default::default(),
            served: tokio::sync::Notify::new(),
        })
    }

    /// Waits until a request may be sent: after any 429 pause, then for a bucket token, a
    /// background request after every waiting person's. `Err(wait)`: a deferrable background
    /// request was booked `wait` from now instead (nothing to send now).
    pub async fn acquire(&self) -> Result<(), Duration> {
        let lane = current_lane();
        if lane.priority == Priority::Background {
            let now = Instant::now();
            let mut turn = self
                .background_turn
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mine = (*turn).max(now);
            let wait = mine - now;
            if lane.deferrable && wait > MAX_HOLD {
                *turn = mine + self.period * BOOKED_CALLS;
                return Err(wait);
            }
            *turn = mine + self.period;
        }
        let _waiting = (lane.priority == Priority::Person).then(|| PersonWaiting::new(self));
        loop {
            if let Some(until) = self.paused_until() {
                tokio::time::sleep_until(until).await;
            }
            if lane.priority == Priority::Background
                && self
                    .persons_waiting
                    .load(std::sync::atomic::Ordering::SeqCst)
                    > 0
            {
                let _ = tokio::time::timeout(self.period, self.served.notified()).await;
                continue;
            }
            match self.limiter.check() {
                Ok(()) => {}
                Err(not_until) => {
                    let wait = not_until.wait_time_from(governor::clock::Clock::now(
                        &governor::clock::DefaultClock::default(),
                    ));
                    let _ = tokio::time::timeout(wait, self.served.notified()).await;
                    continue;
                }
            }
            // A 429 seen by another caller while we waited moves the pause on.
            if self.paused_until().is_some() {
                continue;
            }
            if lane.priority == Priority::Person {
                // A person's request takes a turn from the background schedule too.
                let now = Instant::now();
                let mut turn = self
                    .background_turn
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *turn = (*turn).max(now) + self.period;
            }
            self.served.notify_waiters();
            return Ok(());
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

/// Counts a person's request as waiting for as long as it lives.
struct PersonWaiting<'a>(&'a RequestBudget);

impl<'a> PersonWaiting<'a> {
    fn new(budget: &'a RequestBudget) -> Self {
        budget
            .persons_waiting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        PersonWaiting(budget)
    }
}

impl Drop for PersonWaiting<'_> {
    fn drop(&mut self) {
        self.0
            .persons_waiting
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.served.notify_waiters();
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

    const BACKGROUND: Lane = Lane {
        priority: Priority::Background,
        deferrable: false,
    };

    #[tokio::test]
    async fn a_persons_request_overtakes_queued_background_requests() {
        let budget = std::sync::Arc::new(RequestBudget::new(20.0, 1).unwrap());
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (b, o) = (budget.clone(), order.clone());
            tasks.push(tokio::spawn(in_lane(BACKGROUND, async move {
                b.acquire().await.unwrap();
                o.lock().unwrap().push(format!("background-{i}"));
            })));
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (b, o) = (budget.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            b.acquire().await.unwrap();
            o.lock().unwrap().push("person".to_string());
        }));
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let person = order.iter().position(|x| x == "person").unwrap();
        // At 20/s, about one background request is served in the 60 ms before the person
        // arrives; the person's is served next, ahead of the four or five still waiting.
        assert!(person <= 2, "{order:?}");
        assert_eq!(order.len(), 7);
    }

    #[tokio::test]
    async fn deferrable_background_work_books_successive_turns() {
        let budget = RequestBudget::new(2.0, 1).unwrap();
        let deferrable = Lane {
            priority: Priority::Background,
            deferrable: true,
        };
        // Turns are 0.5 s apart: the first three fit within the hold, later ones are booked.
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            let booked = in_lane(deferrable, async {
                tokio::time::timeout(Duration::from_millis(1), budget.acquire()).await
            })
            .await;
            outcomes.push(match booked {
                Ok(Err(wait)) => Some(wait),
                _ => None,
            });
        }
        let waits: Vec<Duration> = outcomes.iter().flatten().copied().collect();
        assert!(!waits.is_empty(), "nothing was deferred: {outcomes:?}");
        assert!(waits.iter().all(|w| *w > MAX_HOLD), "{waits:?}");
        assert!(
            waits.windows(2).all(|w| w[1] > w[0]),
            "each deferral books a later turn: {waits:?}"
        );
        // A person is never deferred.
        assert!(budget.acquire().await.is_ok());
    }
}
