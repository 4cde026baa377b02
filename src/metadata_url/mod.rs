//! `spec.metadata.url`: federation metadata fetched from the IdP and refreshed.
//!
//! - [`address`]: which URLs and addresses may be fetched (server-side request forgery rules,
//!   pure);
//! - [`schedule`]: when to fetch again (`refreshInterval`, `validUntil`, `cacheDuration`,
//!   pure);
//! - [`cache`]: the last good document and the last failure per resource (decisions pure);
//! - [`fetch`]: one HTTP fetch;
//! - this file: [`refresh`], which fetches when due and records the outcome.

pub mod address;
pub mod cache;
pub mod fetch;
pub mod schedule;

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::crd::MetadataSource;
use cache::{Attempt, Cache, FailureKind, GoodDocument, SourceKey, UrlState};
use fetch::{FetchError, Fetched};
use schedule::DocumentLifetime;

/// Brings the URL state of `key` up to date: fetches `source.url` when due (see
/// [`cache::fetch_due`]), checks that an answer is usable metadata (for `source.entityId`),
/// and records the outcome. `retry(n)` is the delay after the n-th consecutive failure.
/// `None` when the source is a ConfigMap.
pub async fn refresh<K: Eq + Hash + Clone>(
    cache: &Cache<K>,
    key: &K,
    source: &MetadataSource,
    allow_private: bool,
    retry: impl Fn(u32) -> Duration,
    now: Timestamp,
) -> Option<UrlState> {
    let Some(source_key) = SourceKey::of(source) else {
        cache.remove(key);
        return None;
    };
    let previous = cache.get(key).filter(|s| s.key == source_key);
    if !cache::fetch_due(previous.as_ref(), &source_key, now) {
        return previous;
    }
    let good = previous.as_ref().and_then(|s| s.good.as_ref());
    let request = fetch::Request {
        url: &source_key.url,
        ca_bundle: source_key.ca_bundle.as_deref(),
        etag: good.and_then(|g| g.etag.as_deref()),
        last_modified: good.and_then(|g| g.last_modified.as_deref()),
        allow_private,
    };
    let attempt = match fetch::fetch(&request).await {
        Ok(Fetched::NotModified) => Attempt::NotModified,
        Ok(Fetched::Document {
            body,
            etag,
            last_modified,
        }) => usable(&source_key, body, etag, last_modified, now),
        Err(FetchError::Refused(message)) => Attempt::Failed(FailureKind::Refused, message),
        Err(FetchError::Unreachable(message)) => Attempt::Failed(FailureKind::Unreachable, message),
    };
    let interval = schedule::refresh_interval(source.refresh_interval.as_deref())
        .unwrap_or(schedule::DEFAULT_REFRESH);
    let failures = previous.as_ref().map_or(0, |p| p.failures);
    let state = cache::record(
        previous.as_ref(),
        &source_key,
        attempt,
        interval,
        retry(failures + 1),
        now,
    );
    cache.put(key, state.clone());
    Some(state)
}

/// A fetched body as a good document, or why it is not federation metadata.
fn usable(
    key: &SourceKey,
    body: Vec<u8>,
    etag: Option<String>,
    last_modified: Option<String>,
    now: Timestamp,
) -> Attempt {
    match crate::metadata::parse_idp_metadata(&body, key.entity_id.as_deref(), now) {
        Ok(md) => Attempt::Document(GoodDocument {
            sha256: crate::reconcile::sha256_hex(&body),
            xml: Arc::new(body),
            etag,
            last_modified,
            lifetime: DocumentLifetime {
                valid_until: md.valid_until,
                cache_duration: md.cache_duration,
            },
        }),
        Err(e) => Attempt::Failed(
            FailureKind::Invalid,
            format!(
                "the document at {} is not usable federation metadata ({}: {e})",
                url::Url::parse(&key.url)
                    .map(|u| fetch::shown(&u))
                    .unwrap_or_else(|_| key.url.clone()),
                e.kind()
            ),
        ),
    }
}
