//! SCIM provisioning of connections (docs/AUTH0_API.md §15): each connection's configuration
//! and bearer tokens, the default attribute mapping, and the pure checks of the bodies that
//! write them and of a token presented to the SCIM server. A token's value is never kept:
//! only its SHA-256 digest is, so neither a `Debug` print nor an admin call can reveal it.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::reply::timestamp_ms;
use super::validate::{ApiError, type_name};

/// The strategies Auth0 offers inbound SCIM for ("Configure Inbound SCIM": SAML, OpenID
/// Connect, Okta Workforce, Microsoft Azure AD / Entra ID).
pub const SCIM_STRATEGIES: [&str; 4] = ["samlp", "oidc", "okta", "waad"];

/// The permissions a SCIM token may carry: the five user scopes of "Configure Inbound SCIM"
/// and the group scopes of the (Early Access) "Configure SCIM Groups".
pub const TOKEN_SCOPES: [&str; 10] = [
    "get:users",
    "post:users",
    "put:users",
    "patch:users",
    "delete:users",
    "get:groups",
    "post:groups",
    "put:groups",
    "patch:groups",
    "delete:groups",
];

/// Scopes of a token created without `scopes` (unconfirmed: Auth0 does not document it).
pub const DEFAULT_TOKEN_SCOPES: [&str; 5] = [
    "get:users",
    "post:users",
    "put:users",
    "patch:users",
    "delete:users",
];

/// "Generate New Token … generates up to two active tokens for this SCIM endpoint".
pub const MAX_ACTIVE_TOKENS: usize = 2;

/// `token_lifetime` "Must be greater than 900" (seconds).
pub const MIN_TOKEN_LIFETIME_EXCLUSIVE: i64 = 900;

const LIFETIME_DESCRIPTION: &str = "Lifetime of the token in seconds. Must be greater than 900";
const SCOPES_DESCRIPTION: &str = "The scopes of the scim token";
const USER_ID_DESCRIPTION: &str = "User ID attribute for generating unique user ids";
const MAPPING_DESCRIPTION: &str = "The mapping between auth0 and SCIM";

/// `(scim, auth0)` pairs of the default mapping as Auth0 answered it for an `okta`
/// connection (terraform-provider-auth0's recorded `TestAccSCIMConfiguration`).
const DEFAULT_MAPPING: [(&str, &str); 32] = [
    ("userName", "preferred_username"),
    ("emails[primary eq true].value", "email"),
    ("externalId", "app_metadata.external_id"),
    ("active", "blocked"),
    ("displayName", "name"),
    ("name.givenName", "given_name"),
    ("name.familyName", "family_name"),
    ("name.middleName", "app_metadata.middle_name"),
    ("name.honorificPrefix", "app_metadata.honorific_prefix"),
    ("name.honorificSuffix", "app_metadata.honorific_suffix"),
    ("nickName", "nickname"),
    ("photos[type eq \"photo\"].value", "picture"),
    (
        "phoneNumbers[primary eq true].value",
        "app_metadata.primary_phone_number",
    ),
    (
        "phoneNumbers[type eq \"mobile\"].value",
        "app_metadata.mobile_phone_number",
    ),
    (
        "addresses[type eq \"work\"].streetAddress",
        "app_metadata.street_address",
    ),
    ("addresses[type eq \"work\"].locality", "app_metadata.city"),
    ("addresses[type eq \"work\"].region", "app_metadata.state"),
    (
        "addresses[type eq \"work\"].postalCode",
        "app_metadata.postal_code",
    ),
    (
        "addresses[type eq \"work\"].formatted",
        "app_metadata.postal_address",
    ),
    (
        "addresses[type eq \"work\"].country",
        "app_metadata.country",
    ),
    ("profileUrl", "app_metadata.profile_url"),
    ("userType", "app_metadata.user_type"),
    ("title", "app_metadata.title"),
    ("preferredLanguage", "app_metadata.language"),
    ("locale", "app_metadata.locale"),
    ("timezone", "app_metadata.timezone"),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.employeeNumber",
        "app_metadata.employee_id",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.costCenter",
        "app_metadata.cost_center",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.organization",
        "app_metadata.organization",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.division",
        "app_metadata.division",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department",
        "app_metadata.department",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
        "app_metadata.manager",
    ),
];

/// Whether Auth0 offers SCIM for connections of `strategy`.
pub fn supports_scim(strategy: &str) -> bool {
    SCIM_STRATEGIES.contains(&strategy)
}

/// The default `mapping` of a connection of `strategy`: the recorded `okta` one; for `samlp`
/// the SAML guides name `userName → username` instead of `preferred_username` (the rest of
/// the SAML list and the `oidc`/`waad` lists are unconfirmed).
pub fn default_mapping(strategy: &str) -> Vec<Value> {
    DEFAULT_MAPPING
        .iter()
        .map(|&(scim, auth0)| {
            let auth0 = if strategy == "samlp" && scim == "userName" {
                "username"
            } else {
                auth0
            };
            json!({"scim": scim, "auth0": auth0})
        })
        .collect()
}

/// The default `user_id_attribute`: `userName` for SAML connections, `externalId` for the
/// OpenID-based ones (go-auth0's documentation of `CreateSCIMConfiguration`; the `okta` value
/// is recorded).
pub fn default_user_id_attribute(strategy: &str) -> &'static str {
    if strategy == "samlp" {
        "userName"
    } else {
        "externalId"
    }
}

/// The tenant name Auth0 puts in `tenant_name`: the first label of the tenant domain.
pub fn tenant_name(domain: &str) -> &str {
    domain.split('.').next().unwrap_or(domain)
}

/// A connection's SCIM configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ScimConfig {
    /// SCIM attribute holding the user id.
    pub user_id_attribute: String,
    /// `{scim, auth0}` pairs.
    pub mapping: Vec<Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_on: Timestamp,
}

impl ScimConfig {
    /// The configuration as Auth0 answers it, in the recorded key order.
    pub fn render(
        &self,
        tenant_name: &str,
        connection_id: &str,
        connection_name: &str,
        strategy: &str,
    ) -> Value {
        json!({
            "tenant_name": tenant_name,
            "connection_id": connection_id,
            "connection_name": connection_name,
            "strategy": strategy,
            "mapping": self.mapping,
            "updated_on": timestamp_ms(self.updated_on),
            "created_at": timestamp_ms(self.created_at),
            "user_id_attribute": self.user_id_attribute,
        })
    }
}

/// One SCIM bearer token, known by the digest of its value only.
#[derive(Clone, PartialEq)]
pub struct ScimToken {
    /// `tok_` followed by 16 letters or digits.
    pub token_id: String,
    digest: [u8; 32],
    /// Granted SCIM permissions.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working; `None` never.
    pub valid_until: Option<Timestamp>,
    /// When the SCIM server last accepted it.
    pub last_used_at: Option<Timestamp>,
}

impl fmt::Debug for ScimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimToken")
            .field("token_id", &self.token_id)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("valid_until", &self.valid_until)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

fn digest_of(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

impl ScimToken {
    /// A token whose value is `value` (kept only as a digest).
    pub fn new(
        token_id: String,
        value: &str,
        scopes: Vec<String>,
        created_at: Timestamp,
        valid_until: Option<Timestamp>,
    ) -> Self {
        ScimToken {
            token_id,
            digest: digest_of(value),
            scopes,
            created_at,
            valid_until,
            last_used_at: None,
        }
    }

    /// Whether `now` is at or past `valid_until`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.valid_until.is_some_and(|until| now >= until)
    }

    /// The item of `GET …/tokens`: dates that are unset are left out, never the value.
    pub fn render(&self) -> Value {
        let mut out = Map::new();
        out.insert("token_id".into(), json!(self.token_id));
        out.insert("scopes".into(), json!(self.scopes));
        out.insert("created_at".into(), json!(timestamp_ms(self.created_at)));
        if let Some(until) = self.valid_until {
            out.insert("valid_until".into(), json!(timestamp_ms(until)));
        }
        if let Some(used) = self.last_used_at {
            out.insert("last_used_at".into(), json!(timestamp_ms(used)));
        }
        Value::Object(out)
    }

    /// The `201` answer of `POST …/tokens`: the only time the value is shown.
    pub fn render_created(&self, value: &str) -> Value {
        let mut out = Map::new();
        out.insert("token_id".into(), json!(self.token_id));
        out.insert("token".into(), json!(value));
        out.insert("scopes".into(), json!(self.scopes));
        out.insert("created_at".into(), json!(timestamp_ms(self.created_at)));
        if let Some(until) = self.valid_until {
            out.insert("valid_until".into(), json!(timestamp_ms(until)));
        }
        Value::Object(out)
    }
}

/// Why the SCIM server refuses a bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No configuration, no such token, a revoked one, or another connection's.
    Invalid,
    /// Past `valid_until`.
    Expired,
    /// Valid, but without the scope the operation needs.
    MissingScope(String),
}

/// Finds the token `presented` among a connection's `tokens` and checks it at `now` for
/// `scope` (`None`: any valid token will do). The index of the token on success.
pub fn authenticate(
    tokens: &[ScimToken],
    presented: &str,
    scope: Option<&str>,
    now: Timestamp,
) -> Result<usize, TokenRefusal> {
    let digest = digest_of(presented);
    let Some(index) = tokens.iter().position(|t| t.digest == digest) else {
        return Err(TokenRefusal::Invalid);
    };
    let token = &tokens[index];
    if token.is_expired(now) {
        return Err(TokenRefusal::Expired);
    }
    match scope {
        Some(scope) if !token.scopes.iter().any(|s| s == scope) => {
            Err(TokenRefusal::MissingScope(scope.to_string()))
        }
        _ => Ok(index),
    }
}

/// The SCIM state of one connection.
#[derive(Clone, Debug)]
pub struct ScimEntry {
    /// The connection's id.
    pub connection_id: String,
    /// Its configuration.
    pub config: ScimConfig,
    /// Its tokens, oldest first.
    pub tokens: Vec<ScimToken>,
}

/// Every SCIM configuration of the tenant.
#[derive(Debug, Default)]
pub struct ScimStore {
    entries: Vec<ScimEntry>,
}

impl ScimStore {
    /// The SCIM state of a connection, if configured.
    pub fn get(&self, connection_id: &str) -> Option<&ScimEntry> {
        self.entries
            .iter()
            .find(|e| e.connection_id == connection_id)
    }

    /// The same, mutable.
    pub fn get_mut(&mut self, connection_id: &str) -> Option<&mut ScimEntry> {
        self.entries
            .iter_mut()
            .find(|e| e.connection_id == connection_id)
    }

    /// Stores a new configuration (the caller checked there is none).
    pub fn insert(&mut self, connection_id: &str, config: ScimConfig) -> &ScimEntry {
        self.entries.push(ScimEntry {
            connection_id: connection_id.to_string(),
            config,
            tokens: Vec::new(),
        });
        let last = self.entries.len() - 1;
        &self.entries[last]
    }

    /// Removes a connection's configuration and every token of it; whether there was one.
    pub fn remove(&mut self, connection_id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.connection_id != connection_id);
        self.entries.len() != before
    }

    /// Whether any connection has a token with this id.
    pub fn has_token_id(&self, token_id: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.tokens.iter().any(|t| t.token_id == token_id))
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// A checked body of `POST …/scim-configuration` (both optional) or `PATCH` (both required).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigInput {
    /// New `user_id_attribute`.
    pub user_id_attribute: Option<String>,
    /// New `mapping`.
    pub mapping: Option<Vec<Value>>,
}

fn wrong_type(expected: &str, v: &Value, path: &str, description: &str) -> ApiError {
    ApiError::payload_described(
        &format!("Expected type {expected} but found type {}", type_name(v)),
        path,
        description,
    )
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ApiError::payload(&format!(
            "Additional properties not allowed: {key}"
        ))),
        None => Ok(()),
    }
}

/// The body as JSON: an empty body counts as `null` (the SCIM POSTs take none).
pub fn optional_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|_| ApiError::invalid_body("Invalid request payload JSON format"))
}

/// Checks a configuration body; `required` (PATCH) demands both keys.
pub fn parse_config(body: &Value, required: bool) -> Result<ConfigInput, ApiError> {
    let map = match body {
        Value::Null if !required => return Ok(ConfigInput::default()),
        Value::Object(map) => map,
        other => {
            return Err(ApiError::payload(&format!(
                "Expected type object but found type {}",
                type_name(other)
            )));
        }
    };
    only_keys(map, &["user_id_attribute", "mapping"])?;
    if required {
        for key in ["user_id_attribute", "mapping"] {
            if !map.contains_key(key) {
                return Err(ApiError::payload(&format!(
                    "Missing required property: {key}"
                )));
            }
        }
    }
    let user_id_attribute = match map.get("user_id_attribute") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(wrong_type(
                "string",
                other,
                "user_id_attribute",
                USER_ID_DESCRIPTION,
            ));
        }
    };
    let mapping = match map.get("mapping") {
        None => None,
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("mapping[{i}]");
                let Value::Object(pair) = item else {
                    return Err(wrong_type("object", item, &path, MAPPING_DESCRIPTION));
                };
                for (key, value) in pair {
                    if key != "scim" && key != "auth0" {
                        return Err(ApiError::payload_described(
                            &format!("Additional properties not allowed: {key}"),
                            &path,
                            MAPPING_DESCRIPTION,
                        ));
                    }
                    if !value.is_string() {
                        return Err(wrong_type(
                            "string",
                            value,
                            &format!("{path}.{key}"),
                            MAPPING_DESCRIPTION,
                        ));
                    }
                }
            }
            Some(items.clone())
        }
        Some(other) => return Err(wrong_type("array", other, "mapping", MAPPING_DESCRIPTION)),
    };
    Ok(ConfigInput {
        user_id_attribute,
        mapping,
    })
}

/// A checked `POST …/tokens` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInput {
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Lifetime in seconds; `None` never expires.
    pub lifetime: Option<i64>,
}

/// Checks a token request: `scopes` (at least one, each a known SCIM scope; default
/// [`DEFAULT_TOKEN_SCOPES`]) and `token_lifetime` (an integer greater than 900, or `null`).
pub fn parse_token_request(body: &Value) -> Result<TokenInput, ApiError> {
    let map = match body {
        Value::Null => return Ok(default_token_input()),
        Value::Object(map) => map,
        other => {
            return Err(ApiError::payload(&format!(
                "Expected type object but found type {}",
                type_name(other)
            )));
        }
    };
    only_keys(map, &["scopes", "token_lifetime"])?;
    let scopes = match map.get("scopes") {
        None => default_token_input().scopes,
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ApiError::payload_described(
                    "Array is too short (0), minimum 1",
                    "scopes",
                    SCOPES_DESCRIPTION,
                ));
            }
            let mut scopes: Vec<String> = Vec::new();
            for item in items {
                let Value::String(scope) = item else {
                    return Err(wrong_type("string", item, "scopes", SCOPES_DESCRIPTION));
                };
                if !TOKEN_SCOPES.contains(&scope.as_str()) {
                    return Err(ApiError::payload_described(
                        &format!("No enum match for: \"{scope}\""),
                        "scopes",
                        SCOPES_DESCRIPTION,
                    ));
                }
                if !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
            scopes
        }
        Some(other) => return Err(wrong_type("array", other, "scopes", SCOPES_DESCRIPTION)),
    };
    let lifetime = match map.get("token_lifetime") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            let secs = n.as_i64().unwrap_or(i64::MAX);
            if secs <= MIN_TOKEN_LIFETIME_EXCLUSIVE {
                return Err(ApiError::payload_described(
                    &format!("Must be greater than {MIN_TOKEN_LIFETIME_EXCLUSIVE}: {secs}"),
                    "token_lifetime",
                    LIFETIME_DESCRIPTION,
                ));
            }
            Some(secs)
        }
        Some(other) => {
            return Err(wrong_type(
                "integer,null",
                other,
                "token_lifetime",
                LIFETIME_DESCRIPTION,
            ));
        }
    };
    Ok(TokenInput { scopes, lifetime })
}

fn default_token_input() -> TokenInput {
    TokenInput {
        scopes: DEFAULT_TOKEN_SCOPES.iter().map(|s| s.to_string()).collect(),
        lifetime: None,
    }
}

/// When a token created at `now` with `lifetime` expires; an error when the date would fall
/// outside what a timestamp can hold.
pub fn valid_until(now: Timestamp, lifetime: Option<i64>) -> Result<Option<Timestamp>, ApiError> {
    let Some(secs) = lifetime else {
        return Ok(None);
    };
    now.checked_add(SignedDuration::from_secs(secs))
        .map(Some)
        .map_err(|_| {
            ApiError::payload_described(
                &format!("Number is too large: {secs}"),
                "token_lifetime",
                LIFETIME_DESCRIPTION,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn token(value: &str, scopes: &[&str], valid_until: Option<Timestamp>) -> ScimToken {
        ScimToken::new(
            "tok_0123456789abcdef".into(),
            value,
            scopes.iter().map(|s| s.to_string()).collect(),
            at(0),
            valid_until,
        )
    }

    #[test]
    fn a_token_is_valid_until_its_expiry_and_only_for_its_scopes() {
        let tokens = vec![token("secret-1", &["get:users"], Some(at(901)))];
        assert_eq!(
            authenticate(&tokens, "secret-1", Some("get:users"), at(900)),
            Ok(0)
        );
        assert_eq!(
            authenticate(&tokens, "secret-1", Some("get:users"), at(901)),
            Err(TokenRefusal::Expired)
        );
        assert_eq!(
            authenticate(&tokens, "secret-1", Some("post:users"), at(1)),
            Err(TokenRefusal::MissingScope("post:users".into()))
        );
        assert_eq!(authenticate(&tokens, "secret-1", None, at(1)), Ok(0));
        assert_eq!(
            authenticate(&tokens, "secret-2", Some("get:users"), at(1)),
            Err(TokenRefusal::Invalid)
        );
        let forever = [token("secret-3", &["get:users"], None)];
        assert!(!forever[0].is_expired(at(i64::from(i32::MAX))));
    }

    #[test]
    fn a_token_never_shows_its_value_once_created() {
        let t = token("super-secret-value", &["get:users"], None);
        assert!(!format!("{t:?}").contains("super-secret-value"));
        assert!(!t.render().to_string().contains("super-secret-value"));
        assert!(t.render().get("valid_until").is_none());
        assert!(t.render().get("last_used_at").is_none());
        assert_eq!(
            t.render_created("super-secret-value")["token"],
            "super-secret-value"
        );
    }

    #[test]
    fn token_requests_need_a_lifetime_above_900_seconds_and_known_scopes() {
        let ok =
            parse_token_request(&json!({"scopes": ["get:users"], "token_lifetime": 901})).unwrap();
        assert_eq!(ok.lifetime, Some(901));
        assert_eq!(ok.scopes, ["get:users"]);
        let err = parse_token_request(&json!({"token_lifetime": 900})).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(
            err.body["message"],
            "Payload validation error: 'Must be greater than 900: 900' on property token_lifetime (Lifetime of the token in seconds. Must be greater than 900)."
        );
        assert!(parse_token_request(&json!({"token_lifetime": 1000.5})).is_err());
        assert!(parse_token_request(&json!({"token_lifetime": "1000"})).is_err());
        assert!(parse_token_request(&json!({"token_lifetime": -5})).is_err());
        assert_eq!(
            parse_token_request(&json!({"token_lifetime": null}))
                .unwrap()
                .lifetime,
            None
        );
        assert!(parse_token_request(&json!({"scopes": []})).is_err());
        assert!(parse_token_request(&json!({"scopes": ["read:users"]})).is_err());
        assert!(parse_token_request(&json!({"scope": ["get:users"]})).is_err());
        assert_eq!(
            parse_token_request(&Value::Null).unwrap().scopes,
            DEFAULT_TOKEN_SCOPES
        );
        assert!(valid_until(at(0), Some(i64::MAX)).is_err());
        assert_eq!(valid_until(at(0), Some(901)).unwrap(), Some(at(901)));
    }

    #[test]
    fn configuration_bodies_follow_the_schema() {
        assert_eq!(
            parse_config(&Value::Null, false).unwrap(),
            ConfigInput::default()
        );
        assert!(parse_config(&Value::Null, true).is_err());
        let err = parse_config(&json!({"mapping": []}), true).unwrap_err();
        assert_eq!(
            err.body["message"],
            "Payload validation error: 'Missing required property: user_id_attribute'."
        );
        assert!(parse_config(&json!({"user_id_attribute": 1}), false).is_err());
        assert!(parse_config(&json!({"mapping": [{"scim": "a", "other": "b"}]}), false).is_err());
        assert!(parse_config(&json!({"extra": true}), false).is_err());
        let input = parse_config(
            &json!({"user_id_attribute": "userName", "mapping": [{"scim": "userName", "auth0": "email"}]}),
            true,
        )
        .unwrap();
        assert_eq!(input.user_id_attribute.as_deref(), Some("userName"));
        assert_eq!(input.mapping.map(|m| m.len()), Some(1));
    }

    #[test]
    fn defaults_depend_on_the_strategy() {
        assert_eq!(default_user_id_attribute("okta"), "externalId");
        assert_eq!(default_user_id_attribute("samlp"), "userName");
        let okta = default_mapping("okta");
        assert_eq!(okta.len(), 32);
        assert_eq!(
            okta[0],
            json!({"scim": "userName", "auth0": "preferred_username"})
        );
        assert_eq!(
            default_mapping("samlp")[0],
            json!({"scim": "userName", "auth0": "username"})
        );
        assert!(supports_scim("waad") && !supports_scim("auth0"));
        assert_eq!(tenant_name("acme.eu.auth0.com"), "acme");
    }

    #[test]
    fn removing_a_configuration_removes_its_tokens() {
        let mut store = ScimStore::default();
        let config = ScimConfig {
            user_id_attribute: "externalId".into(),
            mapping: Vec::new(),
            created_at: at(0),
            updated_on: at(0),
        };
        store.insert("con_1", config);
        store
            .get_mut("con_1")
            .unwrap()
            .tokens
            .push(token("v", &["get:users"], None));
        assert!(store.has_token_id("tok_0123456789abcdef"));
        assert!(store.remove("con_1"));
        assert!(!store.has_token_id("tok_0123456789abcdef"));
        assert!(!store.remove("con_1"));
    }
}
