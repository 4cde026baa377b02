//! `spec.metadata.url` in a reconcile: refresh the document when due, then decide whether the
//! sync may run, must wait, or keeps what Auth0 has ([`gate`], pure), and what the status and
//! Events say about the fetch.

use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;

use super::{Context, backoff};
use crate::crd::{MetadataSourceStatus, SsoConnection, SsoConnectionStatus};
use crate::metadata_url::cache::{FailureKind, UrlState, source_status};
use crate::reconcile::{SyncError, UrlDocument, describe_source};
use crate::status::Reason;

/// Refreshes the URL document of `obj` when due; `None` for a ConfigMap source.
pub(super) async fn refresh(
    obj: &SsoConnection,
    ctx: &Context,
    key: &ObjectRef<SsoConnection>,
    now: Timestamp,
) -> Option<UrlState> {
    crate::metadata_url::refresh(
        &ctx.metadata_urls,
        key,
        &obj.spec.metadata,
        ctx.allow_private_metadata_urls,
        |n| backoff(n, None),
        now,
    )
    .await
}

/// What a reconcile does with the URL state.
#[derive(Debug)]
pub(super) enum Gate {
    /// Sync with this document (the last good one, fresh or kept after a failed refresh).
    Use(UrlDocument),
    /// No document in hand (the operator restarted while the URL fails), but the one applied
    /// before still describes this generation: Auth0 keeps it; only the fetch is reported.
    Hold,
    /// No usable document was ever applied for this URL and generation: nothing is sent to
    /// Auth0.
    Fail(SyncError),
}

/// Decides from the URL state and the previous status.
pub(super) fn gate(obj: &SsoConnection, state: &UrlState, old: &SsoConnectionStatus) -> Gate {
    if let Some(good) = &state.good {
        return Gate::Use(UrlDocument {
            xml: good.xml.clone(),
            sha256: good.sha256.clone(),
        });
    }
    let applied_here =
        old.metadata_source.as_ref().is_some_and(|m| {
            m.url.as_deref() == Some(state.key.url.as_str()) && !m.sha256.is_empty()
        }) && old.observed_generation == obj.metadata.generation
            && old.connection_id.is_some();
    let failure = state.failure.as_ref();
    if applied_here && failure.is_some_and(|f| f.kind != FailureKind::Refused) {
        return Gate::Hold;
    }
    let message = failure.map_or_else(
        || "metadata.url has not been fetched yet".to_string(),
        |f| f.message.clone(),
    );
    let nothing = "; nothing was sent to Auth0";
    Gate::Fail(match failure.map(|f| f.kind) {
        Some(FailureKind::Refused) => SyncError::Denied {
            reason: Reason::MetadataUrlNotAllowed,
            message: format!("{message}{nothing}"),
        },
        Some(FailureKind::Invalid) => SyncError::InvalidMetadata(format!("{message}{nothing}")),
        _ => SyncError::MetadataUnreachable(format!(
            "{message}{nothing}; retried at {}",
            state.next_fetch
        )),
    })
}

/// `status.metadataSource` for a URL source: the URL state's fetch facts, with the SHA-256 of
/// the document applied (`applied`, from this sync, else the previous status).
pub(super) fn url_status(
    state: &UrlState,
    applied: Option<&MetadataSourceStatus>,
    old: &SsoConnectionStatus,
) -> MetadataSourceStatus {
    let same_url = |m: &&MetadataSourceStatus| m.url.as_deref() == Some(state.key.url.as_str());
    let mut status = source_status(state);
    status.sha256 = applied
        .or(old.metadata_source.as_ref())
        .filter(same_url)
        .map(|m| m.sha256.clone())
        .unwrap_or_default();
    // A success recorded before a restart is still the last success.
    if status.last_successful_fetch_time.is_none() {
        status.last_successful_fetch_time = old
            .metadata_source
            .as_ref()
            .filter(same_url)
            .and_then(|m| m.last_successful_fetch_time.clone());
    }
    status
}

/// The Warning Event for a failed refresh while a good document stays in use, when the
/// failure is news (the previous status showed no error); `None` otherwise.
pub(super) fn stale_notice(
    state: &UrlState,
    old: &SsoConnectionStatus,
    namespace: &str,
) -> Option<String> {
    let failure = state.failure.as_ref()?;
    let was_failing = old
        .metadata_source
        .as_ref()
        .is_some_and(|m| m.last_error.is_some());
    if was_failing {
        return None;
    }
    let source = describe_source(
        &MetadataSourceStatus {
            url: Some(state.key.url.clone()),
            ..Default::default()
        },
        namespace,
    );
    Some(format!(
        "refreshing {source} failed: {}; the last good document stays in use and nothing was changed in Auth0; retried at {}",
        failure.message, state.next_fetch
    ))
}

/// The requeue delay shortened to the next fetch of the URL, if sooner. `None` (await a
/// change) becomes the delay to the next fetch.
pub(super) fn until_refresh(
    delay: Option<Duration>,
    state: Option<&UrlState>,
    now: Timestamp,
) -> Option<Duration> {
    let Some(state) = state else {
        return delay;
    };
    let left = Duration::try_from(state.next_fetch.duration_since(now))
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_secs(1));
    Some(delay.map_or(left, |d| d.min(left)))
}

#[cfg(test)]
fn secs(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata_url::cache::{Failure, GoodDocument, SourceKey};
    use crate::metadata_url::schedule::DocumentLifetime;
    use std::sync::Arc;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn obj(generation: i64) -> SsoConnection {
        let mut o: SsoConnection = serde_json::from_value(serde_json::json!({
            "apiVersion": "sso-operator.io/v1alpha1",
            "kind": "SsoConnection",
            "metadata": {"name": "acme", "namespace": "team-a", "generation": generation},
            "spec": {"companyDomain": "acme.com", "metadata": {"url": "https://idp.example/md?token=x"}}
        }))
        .unwrap();
        o.metadata.generation = Some(generation);
        o
    }

    fn state(good: bool, failure: Option<FailureKind>) -> UrlState {
        let t = at("2026-11-26T12:00:00Z");
        UrlState {
            key: SourceKey {
                url: "https://idp.example/md?token=x".into(),
                ca_bundle: None,
                entity_id: None,
            },
            good: good.then(|| GoodDocument {
                xml: Arc::new(b"<xml/>".to_vec()),
                sha256: "abc".into(),
                etag: None,
                last_modified: None,
                lifetime: DocumentLifetime::default(),
            }),
            last_success: good.then_some(t),
            failure: failure.map(|kind| Failure {
                kind,
                message: "the metadata server answered HTTP 404 Not Found".into(),
                at: t,
            }),
            failures: u32::from(failure.is_some()),
            next_fetch: t.checked_add(secs(60)).unwrap(),
        }
    }

    fn applied(generation: i64) -> SsoConnectionStatus {
        SsoConnectionStatus {
            observed_generation: Some(generation),
            connection_id: Some("con_1".into()),
            metadata_source: Some(MetadataSourceStatus {
                url: Some("https://idp.example/md?token=x".into()),
                sha256: "abc".into(),
                last_successful_fetch_time: Some(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(
                        "2026-11-25T12:00:00Z",
                    )),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_kept_document_is_used_even_while_refreshes_fail() {
        let g = gate(
            &obj(1),
            &state(true, Some(FailureKind::Unreachable)),
            &Default::default(),
        );
        assert!(matches!(g, Gate::Use(d) if d.sha256 == "abc"));
    }

    #[test]
    fn after_a_restart_a_failing_url_keeps_what_auth0_has() {
        let s = state(false, Some(FailureKind::Unreachable));
        assert!(matches!(gate(&obj(1), &s, &applied(1)), Gate::Hold));
        // A new generation cannot be applied without a document: reported, nothing sent.
        match gate(&obj(2), &s, &applied(1)) {
            Gate::Fail(e) => {
                assert_eq!(e.reason(), Reason::MetadataUnreachable);
                assert!(e.to_string().contains("nothing was sent to Auth0"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_never_fetched_url_fails_with_the_reason_of_its_failure() {
        let none = SsoConnectionStatus::default();
        for (kind, reason) in [
            (FailureKind::Unreachable, Reason::MetadataUnreachable),
            (FailureKind::Refused, Reason::MetadataUrlNotAllowed),
            (FailureKind::Invalid, Reason::InvalidMetadata),
        ] {
            match gate(&obj(1), &state(false, Some(kind)), &none) {
                Gate::Fail(e) => assert_eq!(e.reason(), reason),
                other => panic!("{other:?}"),
            }
        }
        // A refusal is never held over, even for a URL applied before.
        assert!(matches!(
            gate(
                &obj(1),
                &state(false, Some(FailureKind::Refused)),
                &applied(1)
            ),
            Gate::Fail(_)
        ));
    }

    #[test]
    fn status_keeps_the_applied_hash_and_the_last_success_across_restarts() {
        let s = state(false, Some(FailureKind::Unreachable));
        let st = url_status(&s, None, &applied(1));
        assert_eq!(st.sha256, "abc");
        assert_eq!(
            st.last_successful_fetch_time.map(|t| t.0),
            Some(at("2026-11-25T12:00:00Z"))
        );
        assert_eq!(
            st.last_error.as_deref(),
            Some("the metadata server answered HTTP 404 Not Found")
        );
        assert_eq!(
            st.next_refresh_time.map(|t| t.0),
            Some(at("2026-11-26T12:01:00Z"))
        );
    }

    #[test]
    fn a_failed_refresh_is_noticed_once_and_without_the_query() {
        let s = state(true, Some(FailureKind::Unreachable));
        let note = stale_notice(&s, &applied(1), "team-a").unwrap();
        assert!(note.contains("https://idp.example/md"), "{note}");
        assert!(!note.contains("token=x"), "{note}");
        assert!(note.contains("last good document stays in use"), "{note}");
        let mut failing = applied(1);
        failing.metadata_source.as_mut().unwrap().last_error = Some("x".into());
        assert_eq!(stale_notice(&s, &failing, "team-a"), None);
        assert_eq!(
            stale_notice(&state(true, None), &applied(1), "team-a"),
            None
        );
    }

    #[test]
    fn the_requeue_comes_no_later_than_the_next_fetch() {
        let now = at("2026-11-26T12:00:00Z");
        let s = state(true, None);
        assert_eq!(
            until_refresh(Some(Duration::from_secs(3600)), Some(&s), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            until_refresh(Some(Duration::from_secs(5)), Some(&s), now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            until_refresh(None, Some(&s), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(until_refresh(None, None, now), None);
    }
}
