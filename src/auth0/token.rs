//! Management API access tokens (docs/AUTH0_API.md §1): the cached token, its refresh timing and the
//! scopes the operator needs.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::secret::SecretString;

/// The six scopes the operator's token needs (docs/AUTH0_API.md §1.5).
pub const REQUIRED_SCOPES: [&str; 6] = [
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:connections_options",
    "update:connections_options",
];

/// Longest safety margin before expiry at which a token is refreshed.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A successful token endpoint response. `Debug` never shows the token.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    #[serde(deserialize_with = "deserialize_secret")]
    pub access_token: SecretString,
    /// Lifetime in seconds.
    #[serde(default = "default_expires_in")]
    pub expires_in: u64,
    /// Space-separated granted scopes.
    #[serde(default)]
    pub scope: String,
}

fn default_expires_in() -> u64 {
    86_400
}

fn deserialize_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

/// A token endpoint error body (OAuth shape, docs/AUTH0_API.md §1.3).
#[derive(Deserialize, Debug, Default)]
pub struct TokenErrorBody {
    /// `access_denied`, `invalid_client`, …
    #[serde(default)]
    pub error: String,
    /// Human-readable description; contains no secrets.
    #[serde(default)]
    pub error_description: String,
}

/// A cached token with what is needed to decide when to refresh it.
#[derive(Clone)]
pub struct CachedToken {
    /// The bearer token.
    pub token: SecretString,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the token response arrived.
    pub issued_at: Instant,
    /// `expires_in` of the response.
    pub expires_in: Duration,
    /// Increases with every fetched token, so a 401 only drops the token it was seen with.
    pub generation: u64,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("token", &self.token)
            .field("scope", &self.scope)
            .field("expires_in", &self.expires_in)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl CachedToken {
    /// The instant from which the token must no longer be used:
    /// `issued_at + expires_in − min(300 s, expires_in / 10)`.
    pub fn refresh_at(&self) -> Instant {
        let margin = MAX_REFRESH_MARGIN.min(self.expires_in / 10);
        self.issued_at + self.expires_in.saturating_sub(margin)
    }

    /// Whether a new token must be fetched before the next request.
    pub fn needs_refresh(&self, now: Instant) -> bool {
        now >= self.refresh_at()
    }

    /// The required scopes this token was not granted.
    pub fn missing_scopes(&self) -> Vec<&'static str> {
        missing_scopes(&self.scope)
    }
}

/// The required scopes absent from a space-separated scope string.
pub fn missing_scopes(granted: &str) -> Vec<&'static str> {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    REQUIRED_SCOPES
        .iter()
        .copied()
        .filter(|s| !granted.contains(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_in_secs: u64, issued_at: Instant) -> CachedToken {
        CachedToken {
            token: SecretString::new("eyJ.secret.token"),
            scope: String::new(),
            issued_at,
            expires_in: Duration::from_secs(expires_in_secs),
            generation: 1,
        }
    }

    #[test]
    fn a_day_long_token_is_refreshed_five_minutes_before_expiry() {
        let t0 = Instant::now();
        let t = token(86_400, t0);
        assert_eq!(t.refresh_at(), t0 + Duration::from_secs(86_400 - 300));
        assert!(!t.needs_refresh(t0 + Duration::from_secs(86_400 - 301)));
        assert!(t.needs_refresh(t0 + Duration::from_secs(86_400 - 300)));
    }

    #[test]
    fn a_short_token_is_refreshed_after_nine_tenths_of_its_life() {
        let t0 = Instant::now();
        let t = token(20, t0);
        assert_eq!(t.refresh_at(), t0 + Duration::from_secs(18));
        assert!(!t.needs_refresh(t0 + Duration::from_secs(17)));
        assert!(t.needs_refresh(t0 + Duration::from_secs(18)));
    }

    #[test]
    fn a_token_without_lifetime_is_always_refreshed() {
        let t0 = Instant::now();
        assert!(token(0, t0).needs_refresh(t0));
    }

    #[test]
    fn missing_scopes_names_exactly_the_absent_ones() {
        let granted = "read:connections create:connections update:connections delete:connections";
        assert_eq!(
            missing_scopes(granted),
            vec!["read:connections_options", "update:connections_options"]
        );
        assert!(missing_scopes(&REQUIRED_SCOPES.join(" ")).is_empty());
        assert_eq!(missing_scopes("").len(), 6);
    }

    #[test]
    fn scope_prefixes_do_not_count_as_granted() {
        assert!(missing_scopes("read:connections_options").contains(&"read:connections"));
    }

    #[test]
    fn debug_of_a_cached_token_hides_the_token() {
        let shown = format!("{:?}", token(60, Instant::now()));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
