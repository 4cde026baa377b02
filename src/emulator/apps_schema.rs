//! The bodies of `POST /api/v2/clients` and `PATCH /api/v2/clients/{id}`, checked as Auth0's
//! schemas say (`CreateClientRequestContent`, `UpdateClientRequestContent`, `ClientAddons`,
//! `ClientAddonSAML`, `ClientMetadata`; docs/AUTH0_API.md §16). Pure functions: what is
//! refused, and with which `invalid_body` message.
//!
//! Only the properties the operator and its tests touch are checked in depth (the name, the
//! description, the URL lists, the booleans, `app_type`, `client_metadata`, `addons` and the
//! typed keys of `addons.samlp`); the other documented properties are accepted when they have
//! the documented JSON type. A property the schema does not list is refused, as
//! `additionalProperties: false` makes Auth0 do.

use serde_json::{Map, Value};

use super::validate::{ApiError, type_name};

/// Longest `description` (the schema's `maxLength`).
pub const MAX_DESCRIPTION_LEN: usize = 140;
/// Most `client_metadata` keys (the schema's `maxProperties`).
pub const MAX_METADATA_KEYS: usize = 10;
/// Longest `client_metadata` key, and longest value.
pub const MAX_METADATA_LEN: usize = 255;

/// Which write a body belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientWrite {
    /// `POST /api/v2/clients`.
    Create,
    /// `PATCH /api/v2/clients/{id}`.
    Update,
}

/// The addons `ClientAddons` lists (`additionalProperties: false`).
pub const ADDON_NAMES: [&str; 30] = [
    "aws",
    "azure_blob",
    "azure_sb",
    "rms",
    "mscrm",
    "slack",
    "sentry",
    "box",
    "cloudbees",
    "concur",
    "dropbox",
    "echosign",
    "egnyte",
    "firebase",
    "newrelic",
    "office365",
    "salesforce",
    "salesforce_api",
    "salesforce_sandbox_api",
    "samlp",
    "layer",
    "sap_api",
    "sharepoint",
    "springcm",
    "wams",
    "wsfed",
    "zendesk",
    "zoom",
    "sso_integration",
    "oag",
];

/// `ClientAppTypeEnum`.
pub const APP_TYPES: [&str; 25] = [
    "native",
    "spa",
    "regular_web",
    "non_interactive",
    "resource_server",
    "express_configuration",
    "rms",
    "box",
    "cloudbees",
    "concur",
    "dropbox",
    "mscrm",
    "echosign",
    "egnyte",
    "newrelic",
    "office365",
    "salesforce",
    "sentry",
    "sharepoint",
    "slack",
    "springcm",
    "zendesk",
    "zoom",
    "sso_integration",
    "oag",
];

const TOKEN_ENDPOINT_AUTH_METHODS: [&str; 3] =
    ["none", "client_secret_post", "client_secret_basic"];

/// How one top-level property is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `name`: at least one character, no `<` or `>`.
    Name,
    /// `description`: at most 140 characters.
    Description,
    /// A string of at least one character.
    NonEmptyString,
    /// Any string (`null` too on PATCH where the schema allows it).
    Text,
    /// `absolute-uri-or-empty`.
    UriOrEmpty,
    /// `absolute-https-uri-with-placeholders-or-empty`.
    HttpsUriOrEmpty,
    /// An array of URLs (`callback-url`, `url-with-placeholders`).
    UrlList,
    /// An array of non-empty strings.
    StringList,
    /// A boolean.
    Bool,
    /// `ClientAppTypeEnum`.
    AppType,
    /// `ClientTokenEndpointAuthMethodEnum` (or null on PATCH).
    AuthMethod,
    /// `ClientMetadata`.
    Metadata,
    /// `ClientAddons`.
    Addons,
    /// A documented object (or null), not looked into.
    Object,
    /// A documented property whose type varies (arrays or null, integers or null).
    Any,
}

/// The kind of a property allowed in `write`, or `None` when the schema does not list it.
fn kind_of(key: &str, write: ClientWrite) -> Option<Kind> {
    let kind = match key {
        "name" => Kind::Name,
        "description" => Kind::Description,
        "client_secret" => Kind::NonEmptyString,
        "logo_uri" => Kind::UriOrEmpty,
        "initiate_login_uri" => Kind::HttpsUriOrEmpty,
        "callbacks" | "allowed_origins" | "web_origins" | "allowed_logout_urls" => Kind::UrlList,
        "client_aliases" | "allowed_clients" | "grant_types" => Kind::StringList,
        "is_token_endpoint_ip_header_trusted"
        | "is_first_party"
        | "oidc_conformant"
        | "sso"
        | "cross_origin_authentication"
        | "sso_disabled"
        | "custom_login_page_on"
        | "require_pushed_authorization_requests"
        | "require_proof_of_possession" => Kind::Bool,
        "app_type" => Kind::AppType,
        "token_endpoint_auth_method" => Kind::AuthMethod,
        "client_metadata" => Kind::Metadata,
        "addons" => Kind::Addons,
        "custom_login_page" | "custom_login_page_preview" | "form_template" => match write {
            ClientWrite::Create => Kind::NonEmptyString,
            ClientWrite::Update => Kind::Text,
        },
        "cross_origin_loc" | "organization_usage" | "organization_require_behavior" => Kind::Text,
        "oidc_logout"
        | "oidc_backchannel_logout"
        | "session_transfer"
        | "jwt_configuration"
        | "encryption_key"
        | "mobile"
        | "native_social_login"
        | "refresh_token"
        | "default_organization"
        | "client_authentication_methods"
        | "signed_request_object"
        | "token_exchange"
        | "token_quota"
        | "express_configuration"
        | "my_organization_configuration"
        | "async_approval_notification_channels" => Kind::Object,
        "organization_discovery_methods"
        | "compliance_level"
        | "skip_non_verifiable_callback_uri_confirmation_prompt"
        | "par_request_expiry"
        | "third_party_security_mode"
        | "redirection_policy" => Kind::Any,
        "resource_server_identifier" if write == ClientWrite::Create => Kind::NonEmptyString,
        _ => return None,
    };
    Some(kind)
}

/// The schema's description of a property, which Auth0 quotes in its message.
fn description_of(key: &str, write: ClientWrite) -> Option<&'static str> {
    Some(match (key, write) {
        ("name", ClientWrite::Create) => {
            "Name of this client (min length: 1 character, does not allow `<` or `>`)."
        }
        ("name", ClientWrite::Update) => {
            "The name of the client. Must contain at least one character. Does not allow '<' or '>'."
        }
        ("description", ClientWrite::Create) => {
            "Free text description of this client (max length: 140 characters)."
        }
        ("description", ClientWrite::Update) => {
            "Free text description of the purpose of the Client. (Max character length: <code>140</code>)"
        }
        ("callbacks", ClientWrite::Create) => {
            "Comma-separated list of URLs whitelisted for Auth0 to use as a callback to the client after authentication."
        }
        ("callbacks", ClientWrite::Update) => {
            "A set of URLs that are valid to call back from Auth0 when authenticating users"
        }
        ("allowed_logout_urls", ClientWrite::Create) => {
            "Comma-separated list of URLs that are valid to redirect to after logout from Auth0. Wildcards are allowed for subdomains."
        }
        ("allowed_logout_urls", ClientWrite::Update) => {
            "URLs that are valid to redirect to after logout from Auth0"
        }
        ("app_type", _) => "The type of application this client represents",
        ("addons", _) => "Addons enabled for this client and their associated configurations.",
        ("client_metadata", _) => {
            "Metadata associated with the client, in the form of an object with string values (max 255 chars).  Maximum of 10 metadata properties allowed.  Field names (max 255 chars) are alphanumeric and may only include the following special characters:  :,-+=_*?\"/\\()<>@\t[Tab] [Space]"
        }
        _ => return None,
    })
}

/// A payload error on `path`, described when the schema describes the top-level `key`.
fn error_on(detail: &str, path: &str, key: &str, write: ClientWrite) -> ApiError {
    match description_of(key, write) {
        Some(description) if path == key => ApiError::payload_described(detail, path, description),
        _ => ApiError::payload_on(detail, path),
    }
}

fn wrong_type(expected: &str, value: &Value, path: &str, key: &str, w: ClientWrite) -> ApiError {
    error_on(
        &format!(
            "Expected type {expected} but found type {}",
            type_name(value)
        ),
        path,
        key,
        w,
    )
}

/// Checks a `POST /api/v2/clients` or `PATCH /api/v2/clients/{id}` body and returns it.
pub fn check_client_body(body: &Value, write: ClientWrite) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::payload(&format!(
            "Expected type object but found type {}",
            type_name(body)
        )));
    };
    if let Some(key) = map.keys().find(|k| kind_of(k, write).is_none()) {
        return Err(ApiError::payload(&format!(
            "Additional properties not allowed: {key}"
        )));
    }
    match write {
        ClientWrite::Create if !map.contains_key("name") => {
            return Err(ApiError::payload("Missing required property: name"));
        }
        ClientWrite::Update if map.is_empty() => {
            return Err(ApiError::payload(
                "Too few properties defined (0), minimum 1",
            ));
        }
        _ => {}
    }
    for (key, value) in map {
        if let Some(kind) = kind_of(key, write) {
            check_property(key, kind, value, write)?;
        }
    }
    Ok(map.clone())
}

fn check_property(key: &str, kind: Kind, value: &Value, w: ClientWrite) -> Result<(), ApiError> {
    let nullable = w == ClientWrite::Update;
    match kind {
        Kind::Name => {
            let s = string(value, key, key, w)?;
            if s.is_empty() || s.contains(['<', '>']) {
                return Err(error_on(
                    &format!("String does not match pattern ^[^<>]+$: {s}"),
                    key,
                    key,
                    w,
                ));
            }
        }
        Kind::Description => {
            let s = string(value, key, key, w)?;
            let len = s.chars().count();
            if len > MAX_DESCRIPTION_LEN {
                return Err(error_on(
                    &format!("String is too long ({len} chars), maximum {MAX_DESCRIPTION_LEN}"),
                    key,
                    key,
                    w,
                ));
            }
        }
        Kind::NonEmptyString => {
            non_empty(value, key, key, w)?;
        }
        Kind::Text => match value {
            Value::String(_) => {}
            Value::Null if nullable => {}
            other => return Err(wrong_type("string", other, key, key, w)),
        },
        Kind::UriOrEmpty => {
            let s = string(value, key, key, w)?;
            if !s.is_empty() && !is_url(s) {
                return Err(error_on(
                    &format!("Object didn't pass validation for format absolute-uri-or-empty: {s}"),
                    key,
                    key,
                    w,
                ));
            }
        }
        Kind::HttpsUriOrEmpty => {
            let s = string(value, key, key, w)?;
            let https = s.starts_with("https://") && is_url(s);
            if !(s.is_empty() || https) {
                return Err(error_on(
                    &format!(
                        "Object didn't pass validation for format absolute-https-uri-with-placeholders-or-empty: {s}"
                    ),
                    key,
                    key,
                    w,
                ));
            }
        }
        Kind::UrlList => {
            let format = if key == "callbacks" {
                "callback-url"
            } else {
                "url-with-placeholders"
            };
            for item in array(value, key, w)? {
                let s = string(item, key, key, w)?;
                if !is_url(s) {
                    return Err(error_on(
                        &format!("Object didn't pass validation for format {format}: {s}"),
                        key,
                        key,
                        w,
                    ));
                }
            }
        }
        Kind::StringList => {
            for item in array(value, key, w)? {
                non_empty(item, key, key, w)?;
            }
        }
        Kind::Bool => {
            if !value.is_boolean() {
                return Err(wrong_type("boolean", value, key, key, w));
            }
        }
        Kind::AppType => enumerated(value, &APP_TYPES, key, w, false)?,
        Kind::AuthMethod => enumerated(value, &TOKEN_ENDPOINT_AUTH_METHODS, key, w, nullable)?,
        Kind::Metadata => check_metadata(value, w)?,
        Kind::Addons => check_addons(value, w)?,
        Kind::Object => match value {
            Value::Object(_) => {}
            Value::Null if nullable => {}
            other => return Err(wrong_type("object", other, key, key, w)),
        },
        Kind::Any => {}
    }
    Ok(())
}

fn string<'a>(
    value: &'a Value,
    path: &str,
    key: &str,
    w: ClientWrite,
) -> Result<&'a str, ApiError> {
    value
        .as_str()
        .ok_or_else(|| wrong_type("string", value, path, key, w))
}

fn non_empty<'a>(
    value: &'a Value,
    path: &str,
    key: &str,
    w: ClientWrite,
) -> Result<&'a str, ApiError> {
    let s = string(value, path, key, w)?;
    if s.is_empty() {
        return Err(error_on(
            "String is too short (0 chars), minimum 1",
            path,
            key,
            w,
        ));
    }
    Ok(s)
}

fn array<'a>(value: &'a Value, key: &str, w: ClientWrite) -> Result<&'a Vec<Value>, ApiError> {
    value
        .as_array()
        .ok_or_else(|| wrong_type("array", value, key, key, w))
}

fn enumerated(
    value: &Value,
    allowed: &[&str],
    key: &str,
    w: ClientWrite,
    nullable: bool,
) -> Result<(), ApiError> {
    match value {
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(()),
        Value::String(_) => Err(error_on(
            &format!("No enum match for: {value}"),
            key,
            key,
            w,
        )),
        Value::Null if nullable => Ok(()),
        other => Err(wrong_type("string", other, key, key, w)),
    }
}

/// An absolute URL once `*` wildcards and `{placeholders}` are filled in (the emulator's
/// reading of Auth0's `callback-url` and `url-with-placeholders` formats).
pub fn is_url(s: &str) -> bool {
    let mut filled = String::with_capacity(s.len());
    let mut in_placeholder = false;
    for c in s.chars() {
        match c {
            '{' => {
                in_placeholder = true;
                filled.push('x');
            }
            '}' => in_placeholder = false,
            '*' if !in_placeholder => filled.push('x'),
            _ if in_placeholder => {}
            c => filled.push(c),
        }
    }
    url::Url::parse(&filled).is_ok()
}

/// A `client_metadata` key as the schema describes it: 1–255 characters, letters, digits and
/// `:,-+=_*?"/\()<>@`, tab and space.
pub fn is_metadata_key(key: &str) -> bool {
    let len = key.chars().count();
    (1..=MAX_METADATA_LEN).contains(&len)
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":,-+=_*?\"/\\()<>@\t ".contains(c))
}

fn check_metadata(value: &Value, w: ClientWrite) -> Result<(), ApiError> {
    const KEY: &str = "client_metadata";
    let Value::Object(m) = value else {
        return Err(wrong_type("object", value, KEY, KEY, w));
    };
    if m.len() > MAX_METADATA_KEYS {
        return Err(too_many_metadata_keys(m.len()));
    }
    for (k, v) in m {
        if !is_metadata_key(k) {
            return Err(error_on(&format!("Invalid metadata key: {k}"), KEY, KEY, w));
        }
        let path = format!("{KEY}.{k}");
        match v {
            Value::String(s) => {
                let len = s.chars().count();
                if len > MAX_METADATA_LEN {
                    return Err(ApiError::payload_on(
                        &format!("String is too long ({len} chars), maximum {MAX_METADATA_LEN}"),
                        &path,
                    ));
                }
            }
            // On PATCH a null value removes the key.
            Value::Null if w == ClientWrite::Update => {}
            other => return Err(wrong_type("string", other, &path, KEY, w)),
        }
    }
    Ok(())
}

/// The 400 of a `client_metadata` with more than ten keys.
pub fn too_many_metadata_keys(n: usize) -> ApiError {
    error_on(
        &format!("Too many properties defined ({n}), maximum {MAX_METADATA_KEYS}"),
        "client_metadata",
        "client_metadata",
        ClientWrite::Create,
    )
}

fn check_addons(value: &Value, w: ClientWrite) -> Result<(), ApiError> {
    const KEY: &str = "addons";
    let m = match value {
        Value::Object(m) => m,
        // Recorded: `{"addons":null}` removes every addon.
        Value::Null if w == ClientWrite::Update => return Ok(()),
        other => return Err(wrong_type("object", other, KEY, KEY, w)),
    };
    for (name, addon) in m {
        if !ADDON_NAMES.contains(&name.as_str()) {
            return Err(error_on(
                &format!("Additional properties not allowed: {name}"),
                KEY,
                KEY,
                w,
            ));
        }
        let path = format!("{KEY}.{name}");
        let Value::Object(settings) = addon else {
            return Err(wrong_type("object", addon, &path, KEY, w));
        };
        if name == "samlp" {
            check_samlp(settings)?;
        }
    }
    Ok(())
}

/// The typed keys of `ClientAddonSAML` (any other key is allowed, as the schema says).
fn check_samlp(settings: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, value) in settings {
        let path = format!("addons.samlp.{key}");
        let expected = match key.as_str() {
            "audience"
            | "recipient"
            | "signatureAlgorithm"
            | "digestAlgorithm"
            | "issuer"
            | "destination"
            | "nameIdentifierFormat"
            | "authnContextClassRef" => "string",
            "createUpnClaim"
            | "mapUnknownClaimsAsIs"
            | "passthroughClaimsWithNoMapping"
            | "mapIdentities"
            | "signResponse" => "boolean",
            "lifetimeInSeconds" => "integer",
            "mappings" => "object",
            "nameIdentifierProbes" => {
                let Value::Array(items) = value else {
                    return Err(ApiError::payload_on(
                        &format!("Expected type array but found type {}", type_name(value)),
                        &path,
                    ));
                };
                for item in items {
                    match item {
                        Value::String(s) if !s.is_empty() => {}
                        Value::String(_) => {
                            return Err(ApiError::payload_on(
                                "String is too short (0 chars), minimum 1",
                                &path,
                            ));
                        }
                        other => {
                            return Err(ApiError::payload_on(
                                &format!(
                                    "Expected type string but found type {}",
                                    type_name(other)
                                ),
                                &path,
                            ));
                        }
                    }
                }
                continue;
            }
            _ => continue,
        };
        if type_name(value) != expected {
            return Err(ApiError::payload_on(
                &format!(
                    "Expected type {expected} but found type {}",
                    type_name(value)
                ),
                &path,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(e: ApiError) -> String {
        assert_eq!(e.status, 400);
        assert_eq!(e.body["errorCode"], "invalid_body");
        e.body["message"].as_str().unwrap().to_string()
    }

    fn create(v: Value) -> Result<Map<String, Value>, ApiError> {
        check_client_body(&v, ClientWrite::Create)
    }

    fn update(v: Value) -> Result<Map<String, Value>, ApiError> {
        check_client_body(&v, ClientWrite::Update)
    }

    #[test]
    fn a_new_client_needs_a_name_without_angle_brackets_and_nothing_unknown() {
        assert!(create(json!({"name": "Acme SAML"})).is_ok());
        assert_eq!(
            message(create(json!({"app_type": "regular_web"})).unwrap_err()),
            "Payload validation error: 'Missing required property: name'."
        );
        assert_eq!(
            message(create(json!({"name": ""})).unwrap_err()),
            "Payload validation error: 'String does not match pattern ^[^<>]+$: ' on property name (Name of this client (min length: 1 character, does not allow `<` or `>`).)."
        );
        assert!(message(create(json!({"name": "a<b"})).unwrap_err()).contains("pattern"));
        assert!(
            message(create(json!({"name": 7})).unwrap_err())
                .contains("'Expected type string but found type integer' on property name")
        );
        assert_eq!(
            message(create(json!({"name": "x", "colour": "red"})).unwrap_err()),
            "Payload validation error: 'Additional properties not allowed: colour'."
        );
        assert!(create(json!([1])).is_err());
        // A key only the PATCH schema lists, and one only the POST schema lists.
        assert!(update(json!({"resource_server_identifier": "x"})).is_err());
        assert!(create(json!({"name": "x", "resource_server_identifier": "api"})).is_ok());
    }

    #[test]
    fn descriptions_are_at_most_140_characters() {
        assert!(create(json!({"name": "x", "description": "d".repeat(140)})).is_ok());
        assert!(
            message(create(json!({"name": "x", "description": "d".repeat(141)})).unwrap_err())
                .starts_with(
                    "Payload validation error: 'String is too long (141 chars), maximum 140' on property description ("
                )
        );
    }

    #[test]
    fn url_lists_app_types_and_booleans_are_typed() {
        assert!(
            create(json!({"name": "x", "callbacks": ["https://sp.example/acs", "http://localhost:3000/cb", "myapp://cb", "https://*.example.com/cb"], "allowed_logout_urls": ["https://sp.example/{tenant}/bye"]}))
                .is_ok()
        );
        assert!(
            message(create(json!({"name": "x", "callbacks": ["not a url"]})).unwrap_err())
                .contains("'Object didn't pass validation for format callback-url: not a url' on property callbacks")
        );
        assert!(
            message(
                create(json!({"name": "x", "callbacks": "https://sp.example/acs"})).unwrap_err()
            )
            .contains("'Expected type array but found type string' on property callbacks")
        );
        assert!(
            message(create(json!({"name": "x", "app_type": "mainframe"})).unwrap_err())
                .contains("'No enum match for: \"mainframe\"' on property app_type")
        );
        assert!(create(json!({"name": "x", "app_type": "regular_web"})).is_ok());
        assert!(
            message(create(json!({"name": "x", "is_first_party": "yes"})).unwrap_err())
                .contains("Expected type boolean but found type string")
        );
        assert!(create(json!({"name": "x", "grant_types": [""]})).is_err());
        assert!(create(json!({"name": "x", "initiate_login_uri": "http://sp.example"})).is_err());
        assert!(create(json!({"name": "x", "initiate_login_uri": ""})).is_ok());
        assert!(update(json!({"token_endpoint_auth_method": null})).is_ok());
        assert!(update(json!({"jwt_configuration": 3})).is_err());
    }

    #[test]
    fn client_metadata_holds_at_most_ten_short_string_values() {
        let ten: Map<String, Value> = (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(create(json!({"name": "x", "client_metadata": ten})).is_ok());
        let mut eleven = ten.clone();
        eleven.insert("k10".into(), json!("v"));
        assert!(
            message(create(json!({"name": "x", "client_metadata": eleven})).unwrap_err())
                .starts_with(
                    "Payload validation error: 'Too many properties defined (11), maximum 10' on property client_metadata ("
                )
        );
        assert_eq!(
            message(
                create(json!({"name": "x", "client_metadata": {"tier": "v".repeat(256)}}))
                    .unwrap_err()
            ),
            "Payload validation error: 'String is too long (256 chars), maximum 255' on property client_metadata.tier."
        );
        assert!(create(json!({"name": "x", "client_metadata": {"tier": "v".repeat(255)}})).is_ok());
        assert!(
            message(create(json!({"name": "x", "client_metadata": {"n": 1}})).unwrap_err())
                .contains(
                    "'Expected type string but found type integer' on property client_metadata.n"
                )
        );
        // null removes a key on PATCH, and is no string on POST.
        assert!(update(json!({"client_metadata": {"n": null}})).is_ok());
        assert!(create(json!({"name": "x", "client_metadata": {"n": null}})).is_err());
        assert!(is_metadata_key("owner: team (a/b)"));
        assert!(!is_metadata_key("naïve"));
        assert!(!is_metadata_key(""));
        assert!(!is_metadata_key(&"k".repeat(256)));
        assert!(create(json!({"name": "x", "client_metadata": {"bad{key}": "v"}})).is_err());
    }

    #[test]
    fn addons_are_known_objects_and_samlp_keys_are_typed() {
        assert!(
            create(json!({"name": "x", "addons": {"samlp": {"audience": "urn:sp", "mappings": {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"}, "nameIdentifierProbes": ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"], "lifetimeInSeconds": 3600, "signResponse": true, "logout": {"callback": "https://sp.example/slo", "slo_enabled": true}}}}))
                .is_ok()
        );
        assert_eq!(
            message(
                create(json!({"name": "x", "addons": {"samlp": {"nameIdentifierProbes": null}}}))
                    .unwrap_err()
            ),
            "Payload validation error: 'Expected type array but found type null' on property addons.samlp.nameIdentifierProbes."
        );
        assert!(
            message(create(json!({"name": "x", "addons": {"saml2": {}}})).unwrap_err())
                .contains("'Additional properties not allowed: saml2' on property addons")
        );
        assert_eq!(
            message(
                create(json!({"name": "x", "addons": {"samlp": {"lifetimeInSeconds": "1h"}}}))
                    .unwrap_err()
            ),
            "Payload validation error: 'Expected type integer but found type string' on property addons.samlp.lifetimeInSeconds."
        );
        assert!(create(json!({"name": "x", "addons": {"samlp": true}})).is_err());
        assert!(create(json!({"name": "x", "addons": null})).is_err());
        assert!(update(json!({"addons": null})).is_ok());
    }

    #[test]
    fn a_patch_needs_at_least_one_property() {
        assert_eq!(
            message(update(json!({})).unwrap_err()),
            "Payload validation error: 'Too few properties defined (0), minimum 1'."
        );
        assert!(update(json!({"client_secret": ""})).is_err());
        assert!(update(json!({"name": "renamed", "callbacks": []})).is_ok());
    }
}
