//! Whether the controller's watches work, for `/readyz` and the log.
//!
//! A watch is healthy once it has completed a list and has not failed since. After an error
//! the watch starts over with a fresh list (see `watches::relist_after_errors`), so "listed
//! again" is exactly when it is known to deliver changes again. While any watch has not, the
//! operator is not ready: it would not see a metadata edit, and saying so is the only signal
//! a user gets (restarting it would not help, so `/livez` stays 200).
//!
//! [`Watches`] is the pure state (events in, verdict out); [`WatchHealth`] shares it between
//! the watch streams, publishes the verdict to [`crate::server::Health`] and logs each watch
//! failing and recovering once, not every retry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::watcher;

use crate::server::Health;

/// What a watch reported, as far as its health goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The watch (or the list it was running) failed with this error.
    Failed(String),
    /// The watch completed a list: its cache is whole and it receives changes.
    Listed,
}

/// How a watch's health changed with one [`Seen`]; what is worth a log line.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Its first list completed.
    FirstListed,
    /// It was healthy (or never listed) and failed.
    Failed {
        /// The error.
        error: String,
    },
    /// It failed again while failing.
    StillFailing {
        /// Failed attempts so far.
        failures: u32,
    },
    /// It listed again after failing.
    Recovered {
        /// Failed attempts in between.
        failures: u32,
        /// From its first failure to the list.
        after: Duration,
    },
}

#[derive(Clone, Debug)]
enum State {
    Unlisted,
    Healthy,
    Failing {
        error: String,
        failures: u32,
        since: Instant,
    },
}

/// The health of each watch, in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct Watches {
    watches: Vec<(&'static str, State)>,
}

impl Watches {
    /// Adds a watch named e.g. `ConfigMaps` that has not listed yet.
    pub fn add(&mut self, name: &'static str) {
        if !self.watches.iter().any(|(n, _)| *n == name) {
            self.watches.push((name, State::Unlisted));
        }
    }

    /// Records what watch `name` reported at `now`; `None` for an unknown watch.
    pub fn observe(&mut self, name: &str, seen: Seen, now: Instant) -> Option<Change> {
        let (_, state) = self.watches.iter_mut().find(|(n, _)| *n == name)?;
        let (next, change) = match (&*state, seen) {
            (State::Unlisted, Seen::Listed) => (State::Healthy, Change::FirstListed),
            (State::Healthy, Seen::Listed) => return None,
            (
                State::Failing {
                    failures, since, ..
                },
                Seen::Listed,
            ) => (
                State::Healthy,
                Change::Recovered {
                    failures: *failures,
                    after: now.saturating_duration_since(*since),
                },
            ),
            (State::Unlisted | State::Healthy, Seen::Failed(error)) => (
                State::Failing {
                    error: error.clone(),
                    failures: 1,
                    since: now,
                },
                Change::Failed { error },
            ),
            (
                State::Failing {
                    failures, since, ..
                },
                Seen::Failed(error),
            ) => (
                State::Failing {
                    error,
                    failures: failures + 1,
                    since: *since,
                },
                Change::StillFailing {
                    failures: failures + 1,
                },
            ),
        };
        *state = next;
        Some(change)
    }

    /// Ready when every watch has listed and none has failed since; else why not, naming the
    /// failing watches (or those still waiting for their first list).
    pub fn readiness(&self) -> Result<(), String> {
        // Failing watches grouped by their latest error (in an outage all share one).
        let mut failing: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, state) in &self.watches {
            if let State::Failing { error, .. } = state {
                match failing.iter_mut().find(|(e, _)| e == error) {
                    Some((_, names)) => names.push(name),
                    None => failing.push((error, vec![name])),
                }
            }
        }
        if !failing.is_empty() {
            let parts: Vec<String> = failing
                .iter()
                .map(|(error, names)| {
                    let (watches, are, have) = if names.len() == 1 {
                        ("watch", "is", "has")
                    } else {
                        ("watches", "are", "have")
                    };
                    format!(
                        "the {watches} of {} {are} failing and {have} not listed again since: {error}",
                        names.join(", ")
                    )
                })
                .collect();
            return Err(parts.join("; "));
        }
        let unlisted: Vec<&str> = self
            .watches
            .iter()
            .filter(|(_, s)| matches!(s, State::Unlisted))
            .map(|(n, _)| *n)
            .collect();
        if unlisted.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "waiting for the first list of {}",
                unlisted.join(", ")
            ))
        }
    }
}

/// [`Watches`] shared by the watch streams, publishing to `/readyz` and logging changes.
#[derive(Clone)]
pub struct WatchHealth {
    watches: Arc<Mutex<Watches>>,
    health: Health,
}

impl WatchHealth {
    /// Tracks watches for `health` (the `/readyz` state).
    pub fn new(health: Health) -> WatchHealth {
        WatchHealth {
            watches: Arc::new(Mutex::new(Watches::default())),
            health,
        }
    }

    /// Adds watch `name` (not ready until it has listed) and returns what to call with each of
    /// its stream's items (`.inspect(...)`).
    pub fn observer<K>(
        &self,
        name: &'static str,
    ) -> impl FnMut(&watcher::Result<watcher::Event<K>>) + Send + Sync + 'static {
        self.lock().add(name);
        self.publish();
        let this = self.clone();
        move |item| {
            let seen = match item {
                Ok(watcher::Event::InitDone) => Seen::Listed,
                Err(e) => Seen::Failed(e.to_string()),
                Ok(_) => return,
            };
            this.observe(name, seen);
        }
    }

    /// Records one report of watch `name`, logs what changed and publishes the verdict.
    pub fn observe(&self, name: &'static str, seen: Seen) {
        let change = self.lock().observe(name, seen, Instant::now());
        match change {
            Some(Change::FirstListed) => tracing::debug!(watch = name, "first list done"),
            Some(Change::Failed { error }) => tracing::warn!(
                watch = name,
                error = %error,
                "watch failed; retrying with backoff, not ready until it has listed again"
            ),
            Some(Change::StillFailing { failures }) => {
                tracing::debug!(watch = name, failures, "watch still failing")
            }
            Some(Change::Recovered { failures, after }) => tracing::warn!(
                watch = name,
                failures,
                after_seconds = format!("{:.1}", after.as_secs_f64()),
                "watch recovered: listed again"
            ),
            None => {}
        }
        self.publish();
    }

    fn publish(&self) {
        let readiness = self.lock().readiness();
        self.health.set_readiness(readiness);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watches> {
        self.watches.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watches(names: &[&'static str]) -> Watches {
        let mut w = Watches::default();
        for n in names {
            w.add(n);
        }
        w
    }

    fn failed(e: &str) -> Seen {
        Seen::Failed(e.to_string())
    }

    #[test]
    fn not_ready_until_every_watch_has_listed() {
        let t = Instant::now();
        let mut w = watches(&["SsoConnections", "ConfigMaps"]);
        assert_eq!(
            w.readiness(),
            Err("waiting for the first list of SsoConnections, ConfigMaps".into())
        );
        assert_eq!(
            w.observe("SsoConnections", Seen::Listed, t),
            Some(Change::FirstListed)
        );
        assert_eq!(
            w.readiness(),
            Err("waiting for the first list of ConfigMaps".into())
        );
        w.observe("ConfigMaps", Seen::Listed, t);
        assert_eq!(w.readiness(), Ok(()));
        // A relist of a healthy watch changes nothing.
        assert_eq!(w.observe("ConfigMaps", Seen::Listed, t), None);
        assert_eq!(w.readiness(), Ok(()));
    }

    #[test]
    fn a_failing_watch_is_named_until_it_has_listed_again() {
        let t = Instant::now();
        let mut w = watches(&["SsoConnections", "ConfigMaps"]);
        w.observe("SsoConnections", Seen::Listed, t);
        w.observe("ConfigMaps", Seen::Listed, t);

        assert_eq!(
            w.observe("ConfigMaps", failed("connection refused"), t),
            Some(Change::Failed {
                error: "connection refused".into()
            })
        );
        assert_eq!(
            w.readiness(),
            Err(
                "the watch of ConfigMaps is failing and has not listed again since: \
                 connection refused"
                    .into()
            )
        );
        // Retries are counted, not reported as new failures; the latest error is shown.
        assert_eq!(
            w.observe(
                "ConfigMaps",
                failed("410 too old resource version"),
                t + Duration::from_secs(3)
            ),
            Some(Change::StillFailing { failures: 2 })
        );
        let why = w.readiness().expect_err("still failing");
        assert!(
            why.ends_with("since: 410 too old resource version"),
            "{why}"
        );
        assert!(!why.contains("SsoConnections"), "{why}");

        assert_eq!(
            w.observe("ConfigMaps", Seen::Listed, t + Duration::from_secs(5)),
            Some(Change::Recovered {
                failures: 2,
                after: Duration::from_secs(5)
            })
        );
        assert_eq!(w.readiness(), Ok(()));
    }

    #[test]
    fn every_failing_watch_is_named_and_failing_outranks_waiting() {
        let t = Instant::now();
        let mut w = watches(&["SsoConnections", "ConfigMaps", "Secrets"]);
        w.observe("SsoConnections", failed("forbidden"), t);
        let why = w.readiness().expect_err("failing");
        assert!(
            why.starts_with("the watch of SsoConnections is failing"),
            "{why}"
        );
        assert!(!why.contains("waiting"), "{why}");

        w.observe("Secrets", Seen::Listed, t);
        w.observe("Secrets", failed("connection reset"), t);
        assert_eq!(
            w.readiness(),
            Err(
                "the watch of SsoConnections is failing and has not listed again since: \
                 forbidden; the watch of Secrets is failing and has not listed again since: \
                 connection reset"
                    .into()
            )
        );
        // Watches failing alike are named together.
        w.observe("ConfigMaps", failed("connection reset"), t);
        let why = w.readiness().expect_err("failing");
        assert!(
            why.ends_with(
                "the watches of ConfigMaps, Secrets are failing and have not listed again \
                 since: connection reset"
            ),
            "{why}"
        );
        w.observe("ConfigMaps", Seen::Listed, t);

        // Recovering from a failure before the first list is also reaching "listed".
        assert!(matches!(
            w.observe("SsoConnections", Seen::Listed, t),
            Some(Change::Recovered { failures: 1, .. })
        ));
        w.observe("Secrets", Seen::Listed, t);
        assert_eq!(w.readiness(), Ok(()));
    }

    #[test]
    fn unknown_watches_are_ignored_and_adding_twice_is_harmless() {
        let mut w = watches(&["ConfigMaps", "ConfigMaps"]);
        assert_eq!(w.observe("Pods", failed("x"), Instant::now()), None);
        w.observe("ConfigMaps", Seen::Listed, Instant::now());
        assert_eq!(w.readiness(), Ok(()));
    }

    #[test]
    fn the_observer_reads_list_ends_and_errors_and_publishes_them() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let health = Health::default();
        let tracker = WatchHealth::new(health.clone());
        let mut cms = tracker.observer::<ConfigMap>("ConfigMaps");
        assert_eq!(
            health.readiness(),
            Err("waiting for the first list of ConfigMaps".into())
        );
        cms(&Ok(watcher::Event::Init));
        cms(&Ok(watcher::Event::InitApply(ConfigMap::default())));
        assert!(!health.is_ready());
        cms(&Ok(watcher::Event::InitDone));
        assert!(health.is_ready());
        cms(&Err(watcher::Error::NoResourceVersion));
        let why = health.readiness().expect_err("not ready after an error");
        assert!(
            why.contains("ConfigMaps") && why.contains("no metadata.resourceVersion"),
            "{why}"
        );
        // Changes arriving without a list do not make it ready again.
        cms(&Ok(watcher::Event::Apply(ConfigMap::default())));
        assert!(!health.is_ready());
        cms(&Ok(watcher::Event::Init));
        cms(&Ok(watcher::Event::InitDone));
        assert!(health.is_ready());
    }
}
