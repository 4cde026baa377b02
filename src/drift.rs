//! Drift detection in bulk: one tenant-wide listing of the `samlp` connections with their
//! options (checkpoint pages of 100) stands in for a `GET /connections/{id}` per connection.
//! A reconcile compares the spec with the listed connection locally (the same `plan` as
//! always): an unchanged connection costs no call of its own; a drifted one is read afresh
//! right before its PATCH; one the listing lacks is read by id before anything is concluded.
//!
//! When a reconcile may take a listing, and how old one may be, is decided here (pure); the
//! listing itself is taken once for all concurrent callers ([`Lister`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use crate::auth0::{Auth0Client, Auth0Error, Connection};

/// The tenant's `samlp` connections as one listing saw them. Each is kept as its compact JSON
/// (a few KiB; a parsed JSON tree is several times larger) and parsed when a reconcile asks
/// for it: 1,000 connections stay a few MiB.
#[derive(Debug, Default)]
pub struct Listing {
    /// When the listing started.
    pub taken_at: Timestamp,
    /// Whether every connection came with its options (the token has
    /// `read:connections_options`); without them nothing can be concluded from the listing.
    pub usable: bool,
    connections: Mutex<HashMap<String, Box<[u8]>>>,
}

impl Listing {
    /// A listing of `connections` taken at `taken_at`.
    pub fn new(taken_at: Timestamp, connections: Vec<Connection>) -> Listing {
        let mut listing = Listing::started(taken_at);
        connections.into_iter().for_each(|c| listing.add(c));
        listing
    }

    /// An empty listing started at `taken_at`, usable until a connection without options is
    /// added.
    pub fn started(taken_at: Timestamp) -> Listing {
        Listing {
            taken_at,
            usable: true,
            connections: Mutex::default(),
        }
    }

    /// Adds one listed connection.
    pub fn add(&mut self, conn: Connection) {
        self.usable &= conn.options.is_some();
        self.insert(conn);
    }

    fn insert(&self, conn: Connection) {
        if let Ok(json) = serde_json::to_vec(&conn) {
            self.lock().insert(conn.id, json.into_boxed_slice());
        }
    }

    /// The listed connection `id`; `None` when it was not listed or the listing is unusable.
    pub fn get(&self, id: &str) -> Option<Connection> {
        if !self.usable {
            return None;
        }
        let json = self.lock().get(id).cloned()?;
        serde_json::from_slice(&json).ok()
    }

    /// Records what a write of ours returned (the connection as Auth0 now holds it), so that
    /// the listing does not report our own write as drift.
    pub fn record(&self, conn: Connection) {
        if conn.options.is_some() {
            self.insert(conn);
        }
    }

    /// How many connections were listed.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was listed.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Box<[u8]>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Age at `now`.
    pub fn age(&self, now: Timestamp) -> Duration {
        Duration::try_from(now.duration_since(self.taken_at)).unwrap_or(Duration::ZERO)
    }
}

/// How a reconcile of a connection that exists uses the tenant's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A drift check: take a new listing unless one younger than `max_age` exists (after a
    /// restart or leader change, and when the resync interval is up).
    Check {
        /// The oldest listing that still counts as this check.
        max_age: Duration,
    },
    /// Anything else (a spec or metadata change): compare with a listing younger than
    /// `max_age` if there is one; never take one for a single change (one GET is cheaper).
    Reuse {
        /// The oldest listing worth comparing with.
        max_age: Duration,
    },
}

/// Decides how a reconcile uses the listing: `first_since_start` (this operator has not
/// synced the resource yet), `since_last_sync` (time since `status.lastSyncTime`), `resync`
/// (the drift interval).
pub fn listing_use(
    first_since_start: bool,
    since_last_sync: Option<Duration>,
    resync: Duration,
) -> Use {
    // A resource whose resync timer fired is due; a tenth of slack absorbs the jitter.
    let due = since_last_sync.is_none_or(|d| d >= resync.mul_f64(0.9));
    if first_since_start || due {
        Use::Check {
            max_age: resync / 2,
        }
    } else {
        Use::Reuse { max_age: resync }
    }
}

/// One tenant's latest listing, taken once for all concurrent callers.
#[derive(Default)]
pub struct Lister {
    latest: Mutex<Option<Arc<Listing>>>,
    taking: tokio::sync::Mutex<()>,
}

/// What [`Lister::check`] did.
pub struct Checked {
    /// The listing to compare with.
    pub listing: Arc<Listing>,
    /// Whether this call took it and it replaced an earlier one (a periodic pass: the other
    /// resources of the tenant should be checked against it too).
    pub replaced: bool,
}

impl std::fmt::Debug for Lister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let latest = self
            .latest_lock()
            .as_ref()
            .map(|l| (l.taken_at, l.len(), l.usable));
        f.debug_struct("Lister").field("latest", &latest).finish()
    }
}

impl Lister {
    /// The latest listing if younger than `max_age`.
    pub fn latest(&self, max_age: Duration, now: Timestamp) -> Option<Arc<Listing>> {
        self.latest_lock().clone().filter(|l| l.age(now) <= max_age)
    }

    /// A listing younger than `max_age`: the latest, or a new one (callers arriving while it is
    /// taken wait for it rather than list again).
    pub async fn check(
        &self,
        client: &Auth0Client,
        max_age: Duration,
    ) -> Result<Checked, Auth0Error> {
        let _taking = self.taking.lock().await;
        let now = Timestamp::now();
        if let Some(listing) = self.latest(max_age, now) {
            return Ok(Checked {
                listing,
                replaced: false,
            });
        }
        let mut listing = Listing::started(now);
        client
            .each_connection_of_strategy("samlp", &mut |c| listing.add(c))
            .await?;
        let listing = Arc::new(listing);
        let replaced = self.latest_lock().replace(listing.clone()).is_some();
        tracing::debug!(
            connections = listing.len(),
            usable = listing.usable,
            "listed the tenant's samlp connections for drift"
        );
        Ok(Checked { listing, replaced })
    }

    fn latest_lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Listing>>> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_restart_or_a_due_resync_checks_and_anything_else_reuses() {
        assert_eq!(
            listing_use(true, Some(Duration::from_secs(60)), HOUR),
            Use::Check { max_age: HOUR / 2 }
        );
        assert_eq!(
            listing_use(false, Some(Duration::from_secs(3300)), HOUR),
            Use::Check { max_age: HOUR / 2 }
        );
        assert_eq!(
            listing_use(false, None, HOUR),
            Use::Check { max_age: HOUR / 2 }
        );
        assert_eq!(
            listing_use(false, Some(Duration::from_secs(600)), HOUR),
            Use::Reuse { max_age: HOUR }
        );
    }

    fn conn(id: &str, options: bool) -> Connection {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "strategy": "samlp",
        }))
        .map(|mut c: Connection| {
            if options {
                c.options = Some(serde_json::json!({}));
            }
            c
        })
        .unwrap()
    }

    #[test]
    fn a_listing_without_options_concludes_nothing() {
        let t = Timestamp::UNIX_EPOCH;
        let full = Listing::new(t, vec![conn("con_1", true), conn("con_2", true)]);
        assert!(full.usable && full.get("con_1").is_some() && full.get("con_3").is_none());
        let bare = Listing::new(t, vec![conn("con_1", true), conn("con_2", false)]);
        assert!(!bare.usable);
        assert!(
            bare.get("con_1").is_none(),
            "an unusable listing answers nothing"
        );
    }
}
