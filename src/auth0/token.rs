//! Management API access tokens (docs/AUTH0_API.md §1): the cached token, its refresh timing and the
//! scopes the operator needs.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::error::Auth0Error;
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

/// Longest lifetime the cache believes (30 days, Auth0's maximum access-token lifetime). A
/// larger or absurd `expires_in` (e.g. `u64::MAX`) is clamped, so that no instant arithmetic
/// can overflow and a bad token is still replaced within a month.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Lifetime assumed when the response has no `expires_in` (Auth0's default, docs/AUTH0_API.md §1.2).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(86_400);

/// The operation label of token requests in errors and metrics.
pub const OP_TOKEN: &str = "POST /oauth/token";

/// A successful token endpoint response. `Debug` never shows the token.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    #[serde(deserialize_with = "deserialize_secret")]
    pub access_token: SecretString,
    /// Lifetime, clamped to [`MAX_TOKEN_LIFETIME`]; a negative one counts as zero.
    #[serde(
        default = "default_lifetime",
        deserialize_with = "deserialize_lifetime"
    )]
    pub expires_in: Duration,
    /// Space-separated granted scopes (`null` counts as none).
    #[serde(default, deserialize_with = "deserialize_scope")]
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

fn default_lifetime() -> Duration {
    DEFAULT_LIFETIME
}

fn deserialize_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

fn deserialize_scope<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Option::<String>::deserialize(d).map(Option::unwrap_or_default)
}

/// Any JSON number of seconds: integers beyond 30 days, floats and `u64::MAX` are clamped,
/// negative ones become zero, `null` means the default. Other types are an error.
fn deserialize_lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(DEFAULT_LIFETIME);
    };
    let max = MAX_TOKEN_LIFETIME.as_secs();
    let secs = if let Some(n) = number.as_u64() {
        n.min(max)
    } else if number.is_i64() {
        0
    } else {
        // Finite by construction (JSON has no NaN or infinity); `as` saturates.
        number
            .as_f64()
            .map_or(0, |f| f.clamp(0.0, max as f64) as u64)
    };
    Ok(Duration::from_secs(secs))
}

/// Parses a token endpoint success body. The error names the JSON position only, never the
/// body: it holds the token.
pub fn parse_token_response(body: &[u8]) -> Result<TokenResponse, Auth0Error> {
    let not_documented = |e: serde_json::Error| Auth0Error::Protocol {
        operation: OP_TOKEN,
        message: format!(
            "token response is not the documented JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    };
    // serde would also read a struct from an array; the documented body is an object.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(not_documented)?;
    if !value.is_object() {
        return Err(Auth0Error::Protocol {
            operation: OP_TOKEN,
            message: "token response is not a JSON object".into(),
        });
    }
    let response: TokenResponse = serde_json::from_slice(body).map_err(not_documented)?;
    if response.access_token.expose().trim().is_empty() {
        return Err(Auth0Error::Protocol {
            operation: OP_TOKEN,
            message: "token response has an empty access_token".into(),
        });
    }
    Ok(response)
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
    /// The cache entry for a token response that arrived at `issued_at`.
    pub fn new(response: TokenResponse, issued_at: Instant, generation: u64) -> Self {
        CachedToken {
            token: response.access_token,
            scope: response.scope,
            issued_at,
            expires_in: response.expires_in.min(MAX_TOKEN_LIFETIME),
            generation,
        }
    }

    /// The instant from which the token must no longer be used:
    /// `issued_at + expires_in − min(300 s, expires_in / 10)`, with `expires_in` at most
    /// [`MAX_TOKEN_LIFETIME`]. Never panics: should the sum not be representable, the token
    /// is due at once.
    pub fn refresh_at(&self) -> Instant {
        let lifetime = self.expires_in.min(MAX_TOKEN_LIFETIME);
        let margin = MAX_REFRESH_MARGIN.min(lifetime / 10);
        self.issued_at
            .checked_add(lifetime.saturating_sub(margin))
            .unwrap_or(self.issued_at)
    }

    /// Whether a new token must be fetched before the next request.
    pub fn needs_refresh(&self, now: Instant) -> bool {
        now >= self.refresh_at()
    }

    /// The required scopes this token was not granted.
    pub fn missing_scopes(&self) -> Vec<&'static str> {
        missing_scopes(&self.scope)
    }

    /// Whether the token was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_whitespace().any(|s| s == scope)
    }
}

/// The scopes of optional features (Organizations, SCIM, SamlApplication) absent from
/// `granted`: a resource that does not use those features works without them.
pub fn missing_optional_scopes(granted: &[String]) -> Vec<&'static str> {
    super::organizations::ORGANIZATION_SCOPES
        .iter()
        .chain(super::scim::SCIM_SCOPES.iter())
        .chain(super::applications::APPLICATION_SCOPES.iter())
        .copied()
        .filter(|s| !granted.iter().any(|g| g == s))
        .collect()
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

    fn parsed(body: &str) -> Result<TokenResponse, Auth0Error> {
        parse_token_response(body.as_bytes())
    }

    #[test]
    fn an_absurd_lifetime_is_clamped_to_thirty_days_and_never_overflows() {
        let response =
            parsed(r#"{"access_token":"x","expires_in":18446744073709551615,"scope":"a b"}"#)
                .expect("parses");
        assert_eq!(response.expires_in, MAX_TOKEN_LIFETIME);
        let t0 = Instant::now();
        let cached = CachedToken::new(response, t0, 1);
        assert_eq!(
            cached.refresh_at(),
            t0 + MAX_TOKEN_LIFETIME - MAX_REFRESH_MARGIN
        );
        assert!(!cached.needs_refresh(t0));
        // Even a hand-built entry with the largest duration does not panic.
        let mut huge = token(0, t0);
        huge.expires_in = Duration::MAX;
        assert_eq!(huge.refresh_at(), cached.refresh_at());
    }

    #[test]
    fn lifetimes_of_every_numeric_shape_are_accepted() {
        let lifetime = |v: &str| {
            parsed(&format!(r#"{{"access_token":"x","expires_in":{v}}}"#))
                .map(|r| r.expires_in.as_secs())
        };
        assert_eq!(lifetime("3600"), Ok(3600));
        assert_eq!(lifetime("3600.9"), Ok(3600));
        assert_eq!(lifetime("-5"), Ok(0));
        assert_eq!(lifetime("-1e300"), Ok(0));
        assert_eq!(lifetime("1e300"), Ok(MAX_TOKEN_LIFETIME.as_secs()));
        assert_eq!(
            lifetime("99999999999999999999999"),
            Ok(MAX_TOKEN_LIFETIME.as_secs())
        );
        assert_eq!(lifetime("null"), Ok(86_400));
        assert_eq!(
            parsed(r#"{"access_token":"x"}"#).map(|r| r.expires_in.as_secs()),
            Ok(86_400)
        );
    }

    #[test]
    fn malformed_token_responses_are_protocol_errors_that_do_not_quote_the_body() {
        for body in [
            r#"{"access_token":"tok-SECRET","expires_in":"3600"}"#,
            r#"{"access_token":"tok-SECRET","expires_in":1e999}"#,
            r#"{"access_token":"tok-SECRET","scope":["a"]}"#,
            r#"{"access_token":42}"#,
            r#"{"access_token":"  "}"#,
            r#"["tok-SECRET"]"#,
            "tok-SECRET",
            "",
        ] {
            let err = parsed(body).expect_err(body);
            assert!(
                matches!(
                    err,
                    Auth0Error::Protocol {
                        operation: OP_TOKEN,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(!err.to_string().contains("SECRET"), "{err}");
        }
        assert_eq!(
            parsed(r#"{"access_token":"x","scope":null}"#).map(|r| r.scope),
            Ok(String::new())
        );
    }

    #[test]
    fn debug_of_a_cached_token_hides_the_token() {
        let shown = format!("{:?}", token(60, Instant::now()));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
