//! What a reconcile's result means for the user (pure, table-tested): which Event to publish,
//! whether to write status, and when to look again.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::crd::SsoConnectionStatus;
use crate::reconcile::Action as SyncAction;
use crate::status::{self, Reason};

/// When to reconcile a resource again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Requeue {
    /// Per-object exponential backoff, at least `floor` (a 429's wait).
    Backoff {
        /// The least wait.
        floor: Option<Duration>,
    },
    /// After this long, without counting a failure.
    After(Duration),
    /// Only when something the resource depends on changes (a watch fires).
    AwaitChange,
}

/// How long a resource waiting for something the operator does not watch (a key Secret, a
/// namespace annotation, another resource's domain claim) waits before looking again. These
/// looks cost no Auth0 call.
pub(super) const UNWATCHED_RECHECK: Duration = Duration::from_secs(60);

/// When to look again after a failed reconcile with `reason`.
pub(super) fn after_failure(
    reason: Reason,
    transient: bool,
    retry_after: Option<Duration>,
) -> Requeue {
    if transient {
        return Requeue::Backoff { floor: retry_after };
    }
    match reason {
        // A tenant being verified becomes Ready shortly; its status change also triggers us.
        Reason::TenantNotReady => Requeue::After(Duration::from_secs(15)),
        Reason::SecretNotFound
        | Reason::MetadataNotFound
        | Reason::TenantNotAllowed
        | Reason::DomainNotAllowed
        | Reason::DomainConflict
        // An organization created in Auth0, or granted in the namespace annotation, is seen
        // at the recheck.
        | Reason::OrganizationNotFound
        | Reason::OrganizationNotAllowed => Requeue::After(UNWATCHED_RECHECK),
        _ => Requeue::AwaitChange,
    }
}

/// Whether a failure deserves an Event: only when the `Ready` reason or message changes, so a
/// resource retrying the same failure does not flood the namespace.
pub(super) fn failure_is_news(previous: Option<&Condition>, reason: Reason, message: &str) -> bool {
    previous.is_none_or(|c| c.reason != reason.as_str() || c.message != message)
}

/// The Normal Event after a successful sync: `(action, note)`, or `None` when nothing is news.
pub(super) fn success_event(
    action: SyncAction,
    was_ready: bool,
    ready_message: &str,
) -> Option<(&'static str, String)> {
    match action {
        SyncAction::Created => Some(("Create", ready_message.to_string())),
        SyncAction::Updated => Some(("Update", ready_message.to_string())),
        SyncAction::Unchanged | SyncAction::Planned if !was_ready => {
            Some(("Verify", "Auth0 connection matches the spec".to_string()))
        }
        _ => None,
    }
}

/// Whether to write `new` over `old`: when anything but timestamps differs, or when a sync was
/// verified against Auth0 (`lastSyncTime` must advance: one write per verified sync).
pub(super) fn status_write_needed(
    old: &SsoConnectionStatus,
    new: &SsoConnectionStatus,
    verified: bool,
) -> bool {
    verified || status::differs_ignoring_timestamps(old, new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn requeue_follows_the_reason() {
        let rate = Some(Duration::from_secs(7));
        let table = [
            (
                Reason::Auth0Unavailable,
                true,
                rate,
                Requeue::Backoff { floor: rate },
            ),
            (
                Reason::Auth0Unavailable,
                true,
                None,
                Requeue::Backoff { floor: None },
            ),
            (
                Reason::TenantNotReady,
                false,
                None,
                Requeue::After(Duration::from_secs(15)),
            ),
            (
                Reason::SecretNotFound,
                false,
                None,
                Requeue::After(UNWATCHED_RECHECK),
            ),
            (
                Reason::MetadataNotFound,
                false,
                None,
                Requeue::After(UNWATCHED_RECHECK),
            ),
            (
                Reason::TenantNotAllowed,
                false,
                None,
                Requeue::After(UNWATCHED_RECHECK),
            ),
            (
                Reason::DomainNotAllowed,
                false,
                None,
                Requeue::After(UNWATCHED_RECHECK),
            ),
            (
                Reason::DomainConflict,
                false,
                None,
                Requeue::After(UNWATCHED_RECHECK),
            ),
            (
                Reason::OrganizationNotFound,
                false,
                None,
                Requeue::After(UNWATCHED_RECHECK),
            ),
            (
                Reason::OrganizationNotAllowed,
                false,
                None,
                Requeue::After(UNWATCHED_RECHECK),
            ),
            (Reason::InvalidSpec, false, None, Requeue::AwaitChange),
            (Reason::InvalidMetadata, false, None, Requeue::AwaitChange),
            (
                Reason::ConnectionConflict,
                false,
                None,
                Requeue::AwaitChange,
            ),
            (Reason::TenantNotFound, false, None, Requeue::AwaitChange),
            (Reason::InsufficientScope, false, None, Requeue::AwaitChange),
            (Reason::Auth0Rejected, false, None, Requeue::AwaitChange),
        ];
        for (reason, transient, retry_after, want) in table {
            assert_eq!(
                after_failure(reason, transient, retry_after),
                want,
                "{}",
                reason.as_str()
            );
        }
    }

    #[test]
    fn a_repeated_failure_is_not_news() {
        let previous = status::condition(
            "Ready",
            false,
            Reason::DomainConflict,
            "held by a/b",
            Some(1),
            Timestamp::UNIX_EPOCH,
        );
        assert!(!failure_is_news(
            Some(&previous),
            Reason::DomainConflict,
            "held by a/b"
        ));
        assert!(failure_is_news(
            Some(&previous),
            Reason::DomainConflict,
            "held by c/d"
        ));
        assert!(failure_is_news(
            Some(&previous),
            Reason::InvalidSpec,
            "held by a/b"
        ));
        assert!(failure_is_news(None, Reason::InvalidSpec, "x"));
    }

    #[test]
    fn success_events_say_what_changed_or_that_it_recovered() {
        assert_eq!(
            success_event(SyncAction::Created, false, "Created x"),
            Some(("Create", "Created x".into()))
        );
        assert_eq!(
            success_event(SyncAction::Updated, true, "Updated x"),
            Some(("Update", "Updated x".into()))
        );
        assert_eq!(
            success_event(SyncAction::Unchanged, false, "m").map(|e| e.0),
            Some("Verify")
        );
        assert_eq!(success_event(SyncAction::Unchanged, true, "m"), None);
    }

    #[test]
    fn a_verified_sync_writes_status_once_so_last_sync_time_advances() {
        let old = SsoConnectionStatus {
            last_sync_time: Some(Time(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        };
        let mut new = old.clone();
        new.last_sync_time = Some(Time(Timestamp::now()));
        assert!(status_write_needed(&old, &new, true));
        assert!(!status_write_needed(&old, &new, false));
        new.observed_generation = Some(2);
        assert!(status_write_needed(&old, &new, false));
    }
}
