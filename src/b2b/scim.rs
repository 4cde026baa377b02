//! SCIM provisioning decisions (pure): the configuration to apply, and when a token is issued,
//! kept for the IdP or revoked.
//!
//! A token is replaced when a third of its lifetime is left, when the Secret no longer holds
//! it, when Auth0 no longer lists it, or when the annotation
//! `sso-operator.io/rotate-scim-token` takes a new value. The new token is always written into
//! the Secret before an old one is revoked. An old token is revoked at once only on request
//! (the annotation: it may have leaked); otherwise it stays valid until it expires, so an IdP
//! still configured with it keeps provisioning until someone switches it over.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::auth0::scim::{ScimConfiguration, ScimMappingItem};
use crate::crd::{RetiringToken, ScimSpec, ScimStatus};

/// `tokenLifetime` when unset: 90 days.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// The shortest `tokenLifetime` (Auth0 requires more than 900 seconds).
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Parses `scim.tokenLifetime` (a Go duration); `None`: the default.
pub fn token_lifetime(spec: &ScimSpec) -> Result<Duration, String> {
    let Some(value) = spec.token_lifetime.as_deref() else {
        return Ok(DEFAULT_TOKEN_LIFETIME);
    };
    let parsed: SignedDuration = value.trim().parse().map_err(|e| {
        format!("scim.tokenLifetime {value:?} is not a duration such as 2160h or 720h ({e})")
    })?;
    let d = Duration::try_from(parsed)
        .map_err(|_| format!("scim.tokenLifetime {value:?} is negative"))?;
    if d < MIN_TOKEN_LIFETIME {
        return Err(format!(
            "scim.tokenLifetime {value:?} is below the minimum of 1h"
        ));
    }
    Ok(d)
}

/// The configuration to write over `current` (`None`: none exists), or `None` when `current`
/// already has what the spec sets. Fields the spec leaves unset keep their value.
pub fn configuration_update(
    spec: &ScimSpec,
    current: &ScimConfiguration,
) -> Option<ScimConfiguration> {
    let mut wanted = current.clone();
    if let Some(attr) = &spec.user_id_attribute {
        wanted.user_id_attribute = Some(attr.clone());
    }
    if let Some(mapping) = &spec.mapping {
        wanted.mapping = mapping_of(mapping);
    }
    (wanted != *current).then_some(wanted)
}

/// The spec's mapping in Auth0's shape.
pub fn mapping_of(mapping: &[crate::crd::ScimMapping]) -> Vec<ScimMappingItem> {
    mapping
        .iter()
        .map(|m| ScimMappingItem {
            auth0: m.auth0.clone(),
            scim: m.scim.clone(),
        })
        .collect()
}

/// What the controller knows when it decides about the token.
#[derive(Debug, Clone, Default)]
pub struct TokenFacts<'a> {
    /// `status.scim` of the last sync.
    pub status: Option<&'a ScimStatus>,
    /// The token id the Secret holds with a token (`None`: no Secret, not ours, or no token).
    pub secret_token_id: Option<&'a str>,
    /// The endpoint the Secret holds.
    pub secret_endpoint: Option<&'a str>,
    /// The endpoint it should hold.
    pub endpoint: &'a str,
    /// The annotation `sso-operator.io/rotate-scim-token`.
    pub rotation_request: Option<&'a str>,
    /// The token ids Auth0 lists for the connection, when they were read.
    pub listed: Option<&'a [String]>,
    /// The token lifetime.
    pub lifetime: Duration,
    /// Now.
    pub now: Timestamp,
}

/// Why a new token is issued (for the Event; never the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueBecause {
    /// None was issued yet.
    First,
    /// The annotation asked for one.
    Requested,
    /// The Secret does not hold the current token (deleted or edited).
    SecretLost,
    /// Auth0 no longer lists the current token (revoked in the Dashboard).
    RevokedInAuth0,
    /// A third of its lifetime is left.
    Due,
}

impl IssueBecause {
    /// For messages.
    pub fn describe(self) -> &'static str {
        match self {
            IssueBecause::First => "first token",
            IssueBecause::Requested => {
                "rotation requested by the annotation sso-operator.io/rotate-scim-token"
            }
            IssueBecause::SecretLost => "the Secret no longer held the current token",
            IssueBecause::RevokedInAuth0 => "Auth0 no longer lists the current token",
            IssueBecause::Due => "the current token is due for replacement",
        }
    }
}

/// What to do with the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStep {
    /// The Secret holds a valid current token; only rewrite the Secret when its endpoint is
    /// stale.
    Keep {
        /// The Secret's endpoint differs from the connection's.
        rewrite_endpoint: bool,
    },
    /// Issue a token, write it into the Secret, then revoke `revoke_now` and keep `retire`
    /// valid until it expires.
    Issue {
        /// Why.
        because: IssueBecause,
        /// The current token, revoked once the new one is stored.
        revoke_now: Option<String>,
        /// The current token, kept valid until it expires.
        retire: Option<RetiringToken>,
    },
}

/// Decides about the token (see the module docs for the rules).
pub fn token_step(facts: &TokenFacts<'_>) -> TokenStep {
    let current = facts.status.and_then(|s| s.token_id.as_deref());
    let requested = facts.rotation_request.filter(|r| {
        facts
            .status
            .and_then(|s| s.last_rotation_request.as_deref())
            != Some(*r)
    });
    let because = match current {
        None => Some(IssueBecause::First),
        Some(_) if requested.is_some() => Some(IssueBecause::Requested),
        Some(id) if facts.listed.is_some_and(|l| !l.iter().any(|t| t == id)) => {
            Some(IssueBecause::RevokedInAuth0)
        }
        Some(id) if facts.secret_token_id != Some(id) => Some(IssueBecause::SecretLost),
        Some(_) if due(facts) => Some(IssueBecause::Due),
        Some(_) => None,
    };
    let Some(because) = because else {
        return TokenStep::Keep {
            rewrite_endpoint: facts.secret_endpoint != Some(facts.endpoint),
        };
    };
    let old = current.map(str::to_string);
    match because {
        IssueBecause::First | IssueBecause::RevokedInAuth0 => TokenStep::Issue {
            because,
            revoke_now: None,
            retire: None,
        },
        IssueBecause::Requested => TokenStep::Issue {
            because,
            revoke_now: old,
            retire: None,
        },
        IssueBecause::SecretLost | IssueBecause::Due => TokenStep::Issue {
            because,
            revoke_now: None,
            retire: old.map(|token_id| RetiringToken {
                token_id,
                valid_until: facts.status.and_then(|s| s.token_valid_until.clone()),
            }),
        },
    }
}

/// Whether less than a third of the token's lifetime is left.
fn due(facts: &TokenFacts<'_>) -> bool {
    let Some(until) = facts
        .status
        .and_then(|s| s.token_valid_until.as_deref())
        .and_then(|t| t.parse::<Timestamp>().ok())
    else {
        // A token without expiry is never due.
        return false;
    };
    let left = until.duration_since(facts.now);
    left < SignedDuration::try_from(facts.lifetime / 3).unwrap_or(SignedDuration::MAX)
}

/// When the next token decision is due (for the requeue): when the current token reaches its
/// last third, or a retiring token expires.
pub fn next_check(status: &ScimStatus, lifetime: Duration) -> Option<Timestamp> {
    let third = SignedDuration::try_from(lifetime / 3).ok()?;
    let current = status
        .token_valid_until
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .and_then(|t| t.checked_sub(third).ok());
    let retiring = status
        .retiring_tokens
        .iter()
        .filter_map(|t| t.valid_until.as_deref()?.parse::<Timestamp>().ok());
    current.into_iter().chain(retiring).min()
}

/// Auth0 keeps at most this many active SCIM tokens per connection (docs/AUTH0_API.md §15).
pub const MAX_ACTIVE_TOKENS: usize = 2;

/// The retiring tokens to revoke before a new token is issued, so that the operator's tokens
/// (the current one, the retiring ones and the new one) fit in [`MAX_ACTIVE_TOKENS`]: the
/// ones expiring first go first.
pub fn make_room(status: &ScimStatus) -> Vec<String> {
    let held = usize::from(status.token_id.is_some()) + status.retiring_tokens.len();
    let excess = (held + 1).saturating_sub(MAX_ACTIVE_TOKENS);
    let mut retiring: Vec<&RetiringToken> = status.retiring_tokens.iter().collect();
    retiring.sort_by_key(|t| {
        t.valid_until
            .as_deref()
            .and_then(|v| v.parse::<Timestamp>().ok())
    });
    retiring
        .into_iter()
        .take(excess)
        .map(|t| t.token_id.clone())
        .collect()
}

/// The retiring tokens whose time is up (expired, or without a date).
pub fn retired(status: &ScimStatus, now: Timestamp) -> Vec<String> {
    status
        .retiring_tokens
        .iter()
        .filter(|t| {
            t.valid_until
                .as_deref()
                .and_then(|v| v.parse::<Timestamp>().ok())
                .is_none_or(|until| until <= now)
        })
        .map(|t| t.token_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    fn spec(lifetime: Option<&str>) -> ScimSpec {
        ScimSpec {
            enabled: true,
            user_id_attribute: None,
            mapping: None,
            token_lifetime: lifetime.map(str::to_string),
        }
    }

    fn now() -> Timestamp {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    fn status(token: &str, valid_days: i64) -> ScimStatus {
        ScimStatus {
            token_id: Some(token.into()),
            token_valid_until: Some(
                (now() + SignedDuration::from_hours(24 * valid_days)).to_string(),
            ),
            ..Default::default()
        }
    }

    fn facts<'a>(status: Option<&'a ScimStatus>, secret: Option<&'a str>) -> TokenFacts<'a> {
        TokenFacts {
            status,
            secret_token_id: secret,
            secret_endpoint: Some("https://t/scim/v2/connections/con_1"),
            endpoint: "https://t/scim/v2/connections/con_1",
            rotation_request: None,
            listed: None,
            lifetime: DEFAULT_TOKEN_LIFETIME,
            now: now(),
        }
    }

    #[test]
    fn lifetime_defaults_to_ninety_days_and_has_a_floor() {
        assert_eq!(token_lifetime(&spec(None)), Ok(DEFAULT_TOKEN_LIFETIME));
        assert_eq!(
            token_lifetime(&spec(Some("720h"))),
            Ok(Duration::from_secs(30 * DAY))
        );
        assert!(
            token_lifetime(&spec(Some("15m")))
                .unwrap_err()
                .contains("minimum of 1h")
        );
        assert!(token_lifetime(&spec(Some("soon"))).is_err());
    }

    #[test]
    fn the_first_token_is_issued_and_a_held_token_is_kept() {
        assert!(matches!(
            token_step(&facts(None, None)),
            TokenStep::Issue {
                because: IssueBecause::First,
                revoke_now: None,
                retire: None
            }
        ));
        let held = status("tok_1", 80);
        assert_eq!(
            token_step(&facts(Some(&held), Some("tok_1"))),
            TokenStep::Keep {
                rewrite_endpoint: false
            }
        );
        let mut moved = facts(Some(&held), Some("tok_1"));
        moved.secret_endpoint = Some("https://old/scim");
        assert_eq!(
            token_step(&moved),
            TokenStep::Keep {
                rewrite_endpoint: true
            }
        );
    }

    #[test]
    fn a_due_token_is_replaced_and_the_old_one_kept_until_it_expires() {
        // 90-day lifetime: due with less than 30 days left.
        let due = status("tok_1", 29);
        match token_step(&facts(Some(&due), Some("tok_1"))) {
            TokenStep::Issue {
                because: IssueBecause::Due,
                revoke_now: None,
                retire: Some(r),
            } => {
                assert_eq!(r.token_id, "tok_1");
                assert_eq!(r.valid_until, due.token_valid_until);
            }
            other => panic!("{other:?}"),
        }
        let fresh = status("tok_1", 31);
        assert!(matches!(
            token_step(&facts(Some(&fresh), Some("tok_1"))),
            TokenStep::Keep { .. }
        ));
    }

    #[test]
    fn a_rotation_request_revokes_the_old_token_at_once_and_only_once() {
        let mut held = status("tok_1", 80);
        let mut f = facts(Some(&held), Some("tok_1"));
        f.rotation_request = Some("2026-11-26");
        assert_eq!(
            token_step(&f),
            TokenStep::Issue {
                because: IssueBecause::Requested,
                revoke_now: Some("tok_1".into()),
                retire: None
            }
        );
        held.last_rotation_request = Some("2026-11-26".into());
        let mut f = facts(Some(&held), Some("tok_1"));
        f.rotation_request = Some("2026-11-26");
        assert!(matches!(token_step(&f), TokenStep::Keep { .. }));
    }

    #[test]
    fn a_lost_secret_or_a_revoked_token_gets_a_new_token() {
        let held = status("tok_1", 80);
        assert!(matches!(
            token_step(&facts(Some(&held), None)),
            TokenStep::Issue {
                because: IssueBecause::SecretLost,
                revoke_now: None,
                retire: Some(_)
            }
        ));
        let listed = vec!["tok_other".to_string()];
        let mut f = facts(Some(&held), Some("tok_1"));
        f.listed = Some(&listed);
        assert!(matches!(
            token_step(&f),
            TokenStep::Issue {
                because: IssueBecause::RevokedInAuth0,
                revoke_now: None,
                retire: None
            }
        ));
    }

    #[test]
    fn retiring_tokens_are_revoked_when_they_expire_and_set_the_next_check() {
        let mut s = status("tok_2", 80);
        s.retiring_tokens = vec![
            RetiringToken {
                token_id: "tok_1".into(),
                valid_until: Some((now() + SignedDuration::from_hours(24)).to_string()),
            },
            RetiringToken {
                token_id: "tok_0".into(),
                valid_until: Some((now() - SignedDuration::from_hours(1)).to_string()),
            },
        ];
        assert_eq!(retired(&s, now()), vec!["tok_0".to_string()]);
        assert_eq!(
            next_check(&s, DEFAULT_TOKEN_LIFETIME),
            Some(now() - SignedDuration::from_hours(1))
        );
        s.retiring_tokens.clear();
        // 80 days left, due at 30 days left: in 50 days.
        assert_eq!(
            next_check(&s, DEFAULT_TOKEN_LIFETIME),
            Some(now() + SignedDuration::from_hours(24 * 50))
        );
    }

    #[test]
    fn a_retiring_token_gives_way_when_a_new_one_would_exceed_auth0s_two() {
        let mut s = status("tok_2", 80);
        assert!(make_room(&s).is_empty(), "current + new fit");
        s.retiring_tokens = vec![RetiringToken {
            token_id: "tok_1".into(),
            valid_until: Some((now() + SignedDuration::from_hours(24)).to_string()),
        }];
        assert_eq!(make_room(&s), vec!["tok_1".to_string()]);
        s.token_id = None;
        assert!(make_room(&s).is_empty(), "retiring + new fit");
    }

    #[test]
    fn only_fields_the_spec_sets_are_written() {
        let current = ScimConfiguration {
            user_id_attribute: Some("externalId".into()),
            mapping: vec![ScimMappingItem {
                auth0: "email".into(),
                scim: "emails[primary eq true].value".into(),
            }],
        };
        assert_eq!(configuration_update(&spec(None), &current), None);
        let mut s = spec(None);
        s.user_id_attribute = Some("userName".into());
        let update = configuration_update(&s, &current).unwrap();
        assert_eq!(update.user_id_attribute.as_deref(), Some("userName"));
        assert_eq!(update.mapping, current.mapping);
        s.user_id_attribute = Some("externalId".into());
        assert_eq!(configuration_update(&s, &current), None);
    }
}
