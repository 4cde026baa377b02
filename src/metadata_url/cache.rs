//! What the operator knows about each resource's metadata URL between reconciles: the last
//! good document, when to fetch again, and the last failure. Decisions are pure functions of
//! that state; the map lives in the controller's context.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::schedule::{self, DocumentLifetime};
use crate::crd::{MetadataSource, MetadataSourceStatus};

/// The spec fields that identify a URL source: a change in any of them fetches at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKey {
    /// `metadata.url`.
    pub url: String,
    /// `metadata.caBundle`.
    pub ca_bundle: Option<String>,
    /// `metadata.entityId` (which entity of the document is checked).
    pub entity_id: Option<String>,
}

impl SourceKey {
    /// The key of a spec's URL source; `None` for a ConfigMap source.
    pub fn of(source: &MetadataSource) -> Option<SourceKey> {
        Some(SourceKey {
            url: source.url.clone()?,
            ca_bundle: source.ca_bundle.clone(),
            entity_id: source.entity_id.clone(),
        })
    }
}

/// A document that was fetched and parsed as usable metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodDocument {
    /// The XML.
    pub xml: Arc<Vec<u8>>,
    /// Lowercase hex SHA-256 of the XML.
    pub sha256: String,
    /// `ETag` it came with.
    pub etag: Option<String>,
    /// `Last-Modified` it came with.
    pub last_modified: Option<String>,
    /// Its `validUntil`/`cacheDuration`.
    pub lifetime: DocumentLifetime,
}

/// How a fetch failed, for the `Ready` reason of a resource that has no good document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Refused by the address rules or the URL's form (`MetadataUrlNotAllowed`).
    Refused,
    /// No usable answer (`MetadataUnreachable`).
    Unreachable,
    /// An answer that is not usable metadata (`InvalidMetadata`).
    Invalid,
}

/// The last failed fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its kind.
    pub kind: FailureKind,
    /// What went wrong, for status and Events (no secret: the URL without its query).
    pub message: String,
    /// When.
    pub at: Timestamp,
}

/// One resource's URL state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlState {
    /// The source it describes.
    pub key: SourceKey,
    /// The last good document, if any since the operator started.
    pub good: Option<GoodDocument>,
    /// When the URL last gave a usable answer.
    pub last_success: Option<Timestamp>,
    /// The last failure, cleared by a success.
    pub failure: Option<Failure>,
    /// Consecutive failures (drives the retry delay).
    pub failures: u32,
    /// When to fetch again.
    pub next_fetch: Timestamp,
}

/// What one fetch attempt produced, already parsed.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// A usable document.
    Document(GoodDocument),
    /// `304 Not Modified`.
    NotModified,
    /// A failure.
    Failed(FailureKind, String),
}

/// Whether the URL must be fetched now: never fetched, the source changed, or it is due.
pub fn fetch_due(state: Option<&UrlState>, key: &SourceKey, now: Timestamp) -> bool {
    match state {
        None => true,
        Some(s) => {
            s.key != *key || s.next_fetch <= now || (s.good.is_none() && s.failure.is_none())
        }
    }
}

/// The state after an attempt at `now`. `interval` is the refresh interval; `retry` the delay
/// before the next attempt after a failure (the caller's backoff, at most `interval`). A
/// `304` without a document in hand counts as a failure (it cannot happen unless the server
/// ignores the request's conditions).
pub fn record(
    previous: Option<&UrlState>,
    key: &SourceKey,
    attempt: Attempt,
    interval: Duration,
    retry: Duration,
    now: Timestamp,
) -> UrlState {
    let previous = previous.filter(|p| p.key == *key);
    let kept = previous.and_then(|p| p.good.clone());
    let after = |d: Duration| {
        now.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX)
    };
    let success = |good: GoodDocument| UrlState {
        key: key.clone(),
        next_fetch: schedule::next_refresh(now, interval, &good.lifetime),
        good: Some(good),
        last_success: Some(now),
        failure: None,
        failures: 0,
    };
    match (attempt, kept) {
        (Attempt::Document(doc), _) => success(doc),
        (Attempt::NotModified, Some(good)) => success(good),
        (attempt, kept) => {
            let (kind, message) = match attempt {
                Attempt::Failed(kind, message) => (kind, message),
                _ => (
                    FailureKind::Unreachable,
                    "the metadata server answered 304 Not Modified to a request without conditions"
                        .to_string(),
                ),
            };
            UrlState {
                key: key.clone(),
                good: kept,
                last_success: previous.and_then(|p| p.last_success),
                failure: Some(Failure {
                    kind,
                    message,
                    at: now,
                }),
                failures: previous.map_or(0, |p| p.failures) + 1,
                next_fetch: after(retry.min(interval)),
            }
        }
    }
}

/// The URL part of `status.metadataSource` for a state. `sha256` is the applied document's
/// and is filled by the caller.
pub fn source_status(state: &UrlState) -> MetadataSourceStatus {
    MetadataSourceStatus {
        url: Some(state.key.url.clone()),
        last_successful_fetch_time: state.last_success.map(Time),
        last_error: state.failure.as_ref().map(|f| f.message.clone()),
        last_error_time: state.failure.as_ref().map(|f| Time(f.at)),
        next_refresh_time: Some(Time(state.next_fetch)),
        ..MetadataSourceStatus::default()
    }
}

/// Per-resource URL states, shared by concurrent reconciles.
pub struct Cache<K> {
    states: Mutex<HashMap<K, UrlState>>,
}

impl<K: Eq + Hash + Clone> Default for Cache<K> {
    fn default() -> Self {
        Cache {
            states: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone> Cache<K> {
    /// The state of `key`.
    pub fn get(&self, key: &K) -> Option<UrlState> {
        self.lock().get(key).cloned()
    }

    /// Stores the state of `key`.
    pub fn put(&self, key: &K, state: UrlState) {
        self.lock().insert(key.clone(), state);
    }

    /// Forgets `key` (its resource is gone or no longer uses a URL).
    pub fn remove(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, UrlState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn key(url: &str) -> SourceKey {
        SourceKey {
            url: url.into(),
            ca_bundle: None,
            entity_id: None,
        }
    }

    fn doc(body: &str) -> GoodDocument {
        GoodDocument {
            xml: Arc::new(body.as_bytes().to_vec()),
            sha256: body.into(),
            etag: Some(format!("\"{body}\"")),
            last_modified: None,
            lifetime: DocumentLifetime::default(),
        }
    }

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_failure_keeps_the_last_good_document_and_retries_sooner() {
        let k = key("https://idp.example/md");
        let t0 = at("2026-11-26T00:00:00Z");
        let ok = record(None, &k, Attempt::Document(doc("A")), HOUR, MIN, t0);
        assert_eq!(ok.next_fetch, at("2026-11-26T01:00:00Z"));
        assert!(!fetch_due(Some(&ok), &k, at("2026-11-26T00:59:59Z")));
        assert!(fetch_due(Some(&ok), &k, at("2026-11-26T01:00:00Z")));

        let t1 = at("2026-11-26T01:00:00Z");
        let failed = record(
            Some(&ok),
            &k,
            Attempt::Failed(FailureKind::Unreachable, "HTTP 404".into()),
            HOUR,
            MIN,
            t1,
        );
        assert_eq!(failed.good, ok.good, "the last good document stays in use");
        assert_eq!(failed.last_success, Some(t0));
        assert_eq!(failed.failures, 1);
        assert_eq!(failed.next_fetch, at("2026-11-26T01:01:00Z"));
        let status = source_status(&failed);
        assert_eq!(status.last_error.as_deref(), Some("HTTP 404"));
        assert_eq!(status.last_successful_fetch_time, Some(Time(t0)));

        let t2 = at("2026-11-26T01:01:00Z");
        let same = record(Some(&failed), &k, Attempt::NotModified, HOUR, MIN, t2);
        assert_eq!(same.good, ok.good);
        assert_eq!(same.failure, None, "a success clears the error");
        assert_eq!(same.last_success, Some(t2));
        assert_eq!(same.failures, 0);
    }

    #[test]
    fn a_changed_source_is_fetched_at_once_and_forgets_the_old_document() {
        let a = key("https://idp.example/a");
        let b = key("https://idp.example/b");
        let t0 = at("2026-11-26T00:00:00Z");
        let ok = record(None, &a, Attempt::Document(doc("A")), HOUR, MIN, t0);
        assert!(fetch_due(Some(&ok), &b, t0));
        let failed = record(
            Some(&ok),
            &b,
            Attempt::Failed(FailureKind::Refused, "private".into()),
            HOUR,
            MIN,
            t0,
        );
        assert_eq!(
            failed.good, None,
            "another URL's document is not this one's"
        );
        assert_eq!(failed.last_success, None);
    }

    #[test]
    fn the_retry_delay_never_exceeds_the_interval() {
        let k = key("https://idp.example/md");
        let t0 = at("2026-11-26T00:00:00Z");
        let failed = record(
            None,
            &k,
            Attempt::Failed(FailureKind::Unreachable, "down".into()),
            Duration::from_secs(10),
            MIN,
            t0,
        );
        assert_eq!(failed.next_fetch, at("2026-11-26T00:00:10Z"));
        let odd = record(None, &k, Attempt::NotModified, HOUR, MIN, t0);
        assert!(odd.failure.is_some() && odd.good.is_none());
    }
}
