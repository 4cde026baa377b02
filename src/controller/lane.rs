//! Which lane of the tenant's request budget a reconcile's Auth0 calls take (pure): a person's
//! work goes first, background work yields and may be deferred to a booked turn.

use std::time::Duration;

use crate::auth0::{Lane, Priority};
use crate::crd::{SsoConnection, SsoConnectionStatus};

/// A reconcile's lane, or a wait for its booked turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// Go now, in this lane.
    Go(Lane),
    /// Background work booked for later and woken early (another event): wait for the turn.
    Wait(Duration),
}

/// A person waits for a resource that is new, whose spec changed, or that is not Ready (they
/// are fixing it); anything else is background work (drift checks and repairs, resyncs,
/// metadata or Secret changes, which may fan out to many resources). `booked`: time until the
/// turn this resource booked when it was deferred (negative or zero: due now).
pub(super) fn turn(
    obj: &SsoConnection,
    old: &SsoConnectionStatus,
    booked: Option<Duration>,
) -> Turn {
    let person = old.connection_id.is_none()
        || old.observed_generation != obj.metadata.generation
        || !super::reconcile::was_ready(old);
    if person {
        return Turn::Go(Lane::PERSON);
    }
    match booked {
        Some(left) if left > Duration::from_millis(100) => Turn::Wait(left),
        // Its turn has come: served in order, not deferred again.
        Some(_) => Turn::Go(Lane {
            priority: Priority::Background,
            deferrable: false,
        }),
        None => Turn::Go(Lane {
            priority: Priority::Background,
            deferrable: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{self, READY, Reason};

    fn obj(generation: i64) -> SsoConnection {
        let mut o: SsoConnection = serde_json::from_value(serde_json::json!({
            "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
            "metadata": {"name": "acme", "namespace": "ns"},
            "spec": {"companyDomain": "acme.com", "metadata": {"configMapRef": {"name": "m", "key": "k"}}}
        }))
        .unwrap();
        o.metadata.generation = Some(generation);
        o
    }

    fn synced(generation: i64, ready: bool) -> SsoConnectionStatus {
        let mut s = SsoConnectionStatus {
            connection_id: Some("con_1".into()),
            observed_generation: Some(generation),
            ..Default::default()
        };
        let reason = if ready {
            Reason::Synced
        } else {
            Reason::InvalidMetadata
        };
        status::set_condition(
            &mut s.conditions,
            status::condition(
                READY,
                ready,
                reason,
                "m",
                Some(generation),
                jiff::Timestamp::now(),
            ),
        );
        s
    }

    const BACKGROUND: Lane = Lane {
        priority: Priority::Background,
        deferrable: true,
    };

    #[test]
    fn a_person_goes_first_for_new_changed_or_broken_resources() {
        assert_eq!(
            turn(&obj(1), &SsoConnectionStatus::default(), None),
            Turn::Go(Lane::PERSON)
        );
        assert_eq!(
            turn(&obj(2), &synced(1, true), None),
            Turn::Go(Lane::PERSON)
        );
        assert_eq!(
            turn(&obj(1), &synced(1, false), None),
            Turn::Go(Lane::PERSON)
        );
        // Even when booked: a person's change never waits for a background turn.
        assert_eq!(
            turn(&obj(2), &synced(1, true), Some(Duration::from_secs(60))),
            Turn::Go(Lane::PERSON)
        );
    }

    #[test]
    fn background_work_is_deferrable_once_and_keeps_its_booked_turn() {
        assert_eq!(turn(&obj(1), &synced(1, true), None), Turn::Go(BACKGROUND));
        assert_eq!(
            turn(&obj(1), &synced(1, true), Some(Duration::from_secs(30))),
            Turn::Wait(Duration::from_secs(30))
        );
        assert_eq!(
            turn(&obj(1), &synced(1, true), Some(Duration::ZERO)),
            Turn::Go(Lane {
                priority: Priority::Background,
                deferrable: false
            })
        );
    }
}
