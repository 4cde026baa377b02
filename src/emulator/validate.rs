//! Payload validation and server-derived fields of connection writes (docs/AUTH0_API.md §2–§6, §9).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::certs::{self, Certificate};
use crate::metadata::parse_idp_metadata;

/// An error answer of the Management API: status plus the §9 JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `{"statusCode","error","message","errorCode"?}`.
    pub body: Value,
}

impl ApiError {
    /// Builds the standard error body; `code` is omitted when `None`.
    pub fn new(status: u16, message: impl Into<String>, code: Option<&str>) -> Self {
        let mut body = Map::new();
        body.insert("statusCode".into(), json!(status));
        body.insert("error".into(), json!(reason_phrase(status)));
        body.insert("message".into(), json!(message.into()));
        if let Some(code) = code {
            body.insert("errorCode".into(), json!(code));
        }
        ApiError {
            status,
            body: Value::Object(body),
        }
    }

    /// 400 `invalid_body`.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(400, message, Some("invalid_body"))
    }

    /// 400 `Payload validation error: '<detail>'.`
    pub fn payload(detail: &str) -> Self {
        Self::invalid_body(format!("Payload validation error: '{detail}'."))
    }

    /// 400 `Payload validation error: '<detail>' on property <path> (<description>).`
    pub fn payload_at(detail: &str, path: &str) -> Self {
        Self::invalid_body(format!(
            "Payload validation error: '{detail}' on property {path} ({}).",
            describe(path)
        ))
    }

    /// 400 `Payload validation error: '<detail>' on property <path> (<description>).` for a
    /// schema whose descriptions [`ApiError::payload_at`] does not know (organizations, SCIM).
    pub fn payload_described(detail: &str, path: &str, description: &str) -> Self {
        Self::invalid_body(format!(
            "Payload validation error: '{detail}' on property {path} ({description})."
        ))
    }

    /// 400 `Payload validation error: '<detail>' on property <path>.`, for a property whose
    /// schema has no description (Auth0 then leaves the parenthesis out, as in
    /// `… on property addons.samlp.nameIdentifierProbes.`).
    pub fn payload_on(detail: &str, path: &str) -> Self {
        Self::invalid_body(format!(
            "Payload validation error: '{detail}' on property {path}."
        ))
    }

    /// 404 `inexistent_connection`.
    pub fn no_connection() -> Self {
        Self::new(
            404,
            "The connection does not exist",
            Some("inexistent_connection"),
        )
    }

    /// 403 `insufficient_scope` naming the expected scope.
    pub fn insufficient_scope(scope: &str) -> Self {
        Self::new(
            403,
            format!("Insufficient scope, expected any of: {scope}"),
            Some("insufficient_scope"),
        )
    }
}

/// The HTTP reason phrase Auth0 puts in `error`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn describe(path: &str) -> &'static str {
    match path {
        "name" => {
            "The name of the connection. Must start and end with an alphanumeric character and can only contain alphanumeric characters and '-'. Max length 128"
        }
        "display_name" => "Connection name used in the new universal login experience",
        "realms" => "Defines the realms for which the connection will be used (ie: email domains)",
        "metadata" => {
            "Metadata associated with the connection in the form of an object with string values (max 255 chars). Maximum of 10 metadata properties allowed"
        }
        "options.signInEndpoint" => "SAML single login URL for the connection",
        "options.signOutEndpoint" => "SAML single logout URL for the connection",
        "options.signingCert" => {
            "Base64-encoded X.509 certificate (PEM or CER) of the identity provider"
        }
        "options.signatureAlgorithm" => "Algorithm used to sign SAML requests",
        "options.digestAlgorithm" => "Algorithm used for the digest of signed SAML requests",
        "options.protocolBinding" => {
            "Binding used to send the SAML request to the identity provider"
        }
        "options.thumbprints" => "SHA-1 thumbprints of the identity provider signing certificate",
        "options.idpinitiated" => "Configuration for IdP-initiated sign-on",
        "options.assertion_decryption_settings" => "Allowed assertion decryption algorithms",
        "options.metadataUrl" => "URL of the identity provider's SAML metadata document",
        "options.metadataXml" => "SAML metadata document of the identity provider",
        _ => "see the Management API schema",
    }
}

/// Name of a JSON value's type as the payload validator spells it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(expected: &str, v: &Value, path: &str) -> ApiError {
    ApiError::payload_at(
        &format!("Expected type {expected} but found type {}", type_name(v)),
        path,
    )
}

/// Regex-free check of `^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$`.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((&first, _)) = bytes.split_first() else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Which write a body belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// `POST /connections`.
    Create,
    /// `PATCH /connections/{id}`.
    Update,
}

const CREATE_KEYS: &[&str] = &[
    "name",
    "strategy",
    "display_name",
    "options",
    "is_domain_connection",
    "show_as_button",
    "realms",
    "metadata",
    "authentication",
    "connected_accounts",
    "cross_app_access_requesting_app",
];

const UPDATE_KEYS: &[&str] = &[
    "display_name",
    "options",
    "is_domain_connection",
    "show_as_button",
    "realms",
    "metadata",
    "authentication",
    "connected_accounts",
    "cross_app_access_requesting_app",
    "cross_app_access_resource_app",
];

/// Checks the top-level schema of a POST or PATCH body and returns it as an object.
pub fn check_body(
    body: &Value,
    write: Write,
    legacy: bool,
) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::payload(&format!(
            "Expected type object but found type {}",
            type_name(body)
        )));
    };
    let allowed = match write {
        Write::Create => CREATE_KEYS,
        Write::Update => UPDATE_KEYS,
    };
    for key in map.keys() {
        let ok = allowed.contains(&key.as_str()) || (legacy && key == "enabled_clients");
        if !ok {
            return Err(ApiError::payload(&format!(
                "Additional properties not allowed: {key}"
            )));
        }
    }
    match write {
        Write::Create => {
            for required in ["name", "strategy"] {
                if !map.contains_key(required) {
                    return Err(ApiError::payload(&format!(
                        "Missing required property: {required}"
                    )));
                }
            }
        }
        Write::Update if map.is_empty() => {
            return Err(ApiError::payload(
                "Too few properties defined (0), minimum 1",
            ));
        }
        Write::Update => {}
    }
    for (key, value) in map {
        check_top_level(key, value, write)?;
    }
    Ok(map.clone())
}

fn check_top_level(key: &str, value: &Value, write: Write) -> Result<(), ApiError> {
    match key {
        "name" => {
            let Value::String(name) = value else {
                return Err(wrong_type("string", value, key));
            };
            let len = name.chars().count();
            if len > 128 {
                return Err(ApiError::payload_at(
                    &format!("String is too long ({len} chars), maximum 128"),
                    key,
                ));
            }
            if !is_valid_name(name) {
                return Err(ApiError::payload_at(
                    &format!(
                        "String does not match pattern ^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$: {name}"
                    ),
                    key,
                ));
            }
        }
        "strategy" => match value {
            Value::String(s) if !s.is_empty() => {}
            Value::String(_) => {
                return Err(ApiError::payload_at(
                    "String is too short (0 chars), minimum 1",
                    key,
                ));
            }
            other => return Err(wrong_type("string", other, key)),
        },
        "display_name" => check_string(value, key, 0, 128)?,
        "options" => match (value, write) {
            (Value::Object(_), _) | (Value::Null, Write::Update) => {}
            (other, _) => return Err(wrong_type("object", other, key)),
        },
        "is_domain_connection" | "show_as_button" => check_bool(value, key)?,
        "realms" => {
            check_string_array(value, key, Some(10), 1, 255)?;
        }
        "metadata" => {
            let Value::Object(m) = value else {
                return Err(wrong_type("object", value, key));
            };
            if m.len() > 10 {
                return Err(ApiError::payload_at(
                    &format!("Too many properties defined ({}), maximum 10", m.len()),
                    key,
                ));
            }
            for v in m.values() {
                match v {
                    Value::Null => {}
                    Value::String(_) => check_string(v, key, 0, 255)?,
                    other => return Err(wrong_type("string", other, key)),
                }
            }
        }
        "authentication" => check_flags(value, key, &["active"])?,
        "connected_accounts" => check_flags(value, key, &["active", "cross_app_access"])?,
        "enabled_clients" => {
            check_string_array(value, key, None, 1, 255)?;
        }
        "cross_app_access_requesting_app" => match value {
            Value::Object(_) => {}
            other => return Err(wrong_type("object", other, key)),
        },
        "cross_app_access_resource_app" => match value {
            Value::Null | Value::Object(_) => {}
            other => return Err(wrong_type("object", other, key)),
        },
        _ => {}
    }
    Ok(())
}

/// An array of at most `max_items` strings, each `min`–`max` characters long.
fn check_string_array(
    value: &Value,
    path: &str,
    max_items: Option<usize>,
    min: usize,
    max: usize,
) -> Result<(), ApiError> {
    let Value::Array(items) = value else {
        return Err(wrong_type("array", value, path));
    };
    if let Some(limit) = max_items
        && items.len() > limit
    {
        return Err(ApiError::payload_at(
            &format!("Array is too long ({}), maximum {limit}", items.len()),
            path,
        ));
    }
    items
        .iter()
        .try_for_each(|item| check_string(item, path, min, max))
}

fn check_string(value: &Value, path: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let Value::String(s) = value else {
        return Err(wrong_type("string", value, path));
    };
    let len = s.chars().count();
    if len > max {
        return Err(ApiError::payload_at(
            &format!("String is too long ({len} chars), maximum {max}"),
            path,
        ));
    }
    if len < min {
        return Err(ApiError::payload_at(
            &format!("String is too short ({len} chars), minimum {min}"),
            path,
        ));
    }
    Ok(())
}

fn check_bool(value: &Value, path: &str) -> Result<(), ApiError> {
    match value {
        Value::Bool(_) => Ok(()),
        other => Err(wrong_type("boolean", other, path)),
    }
}

fn check_flags(value: &Value, path: &str, keys: &[&str]) -> Result<(), ApiError> {
    let Value::Object(m) = value else {
        return Err(wrong_type("object", value, path));
    };
    for (k, v) in m {
        if !keys.contains(&k.as_str()) {
            return Err(ApiError::payload_at(
                &format!("Additional properties not allowed: {k}"),
                path,
            ));
        }
        check_bool(v, &format!("{path}.{k}"))?;
    }
    Ok(())
}

fn check_https(value: &Value, path: &str, max: usize, allow_empty: bool) -> Result<(), ApiError> {
    let Value::String(s) = value else {
        return Err(wrong_type("string", value, path));
    };
    if s.is_empty() && allow_empty {
        return Ok(());
    }
    let ok = s.len() >= 8
        && s.len() <= max
        && s.starts_with("https://")
        && url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::payload_at(
            &format!("Object didn't pass validation for format absolute-https-uri-or-empty: {s}"),
            path,
        ))
    }
}

fn check_enum(value: &Value, path: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(()),
        Value::String(_) => Err(ApiError::payload_at(
            &format!("No enum match for: {value}"),
            path,
        )),
        other => Err(wrong_type("string", other, path)),
    }
}

/// Schema checks of the `samlp` options keys the server constrains (§4).
fn check_samlp_options(options: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, value) in options {
        let path = format!("options.{key}");
        let path = path.as_str();
        match key.as_str() {
            "signInEndpoint" => check_https(value, path, 2048, false)?,
            "signOutEndpoint" | "metadataUrl" => check_https(value, path, 2048, true)?,
            "destinationUrl" | "recipientUrl" | "icon_url" => check_https(value, path, 255, true)?,
            "signingCert" | "cert" | "requestTemplate" => check_string(value, path, 1, 10_240)?,
            "metadataXml" => check_string(value, path, 1, 102_400)?,
            "entityId" => check_string(value, path, 1, 128)?,
            "tenant_domain" => check_string(value, path, 1, 255)?,
            "user_id_attribute" => check_string(value, path, 1, 2396)?,
            "signatureAlgorithm" => check_enum(value, path, &["rsa-sha1", "rsa-sha256", ""])?,
            "digestAlgorithm" => check_enum(value, path, &["sha1", "sha256", ""])?,
            "protocolBinding" => check_enum(
                value,
                path,
                &[
                    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
                    "",
                ],
            )?,
            "set_user_root_attributes" => check_enum(
                value,
                path,
                &["on_each_login", "on_first_login", "never_on_login"],
            )?,
            "signSAMLRequest" | "disableSignout" | "debug" | "deflate" => check_bool(value, path)?,
            "thumbprints" => {
                check_string_array(value, path, Some(1), 0, 64)?;
            }
            "domain_aliases" | "non_persistent_attrs" => {
                check_string_array(value, path, None, 1, 256)?;
            }
            "fieldsMap" => {
                let Value::Object(m) = value else {
                    return Err(wrong_type("object", value, path));
                };
                if m.len() > 44 {
                    return Err(ApiError::payload_at(
                        &format!("Too many properties defined ({}), maximum 44", m.len()),
                        path,
                    ));
                }
            }
            "idpinitiated" => {
                let Value::Object(m) = value else {
                    return Err(wrong_type("object", value, path));
                };
                for (k, v) in m {
                    let sub = format!("{path}.{k}");
                    match k.as_str() {
                        "enabled" => check_bool(v, &sub)?,
                        "client_id" => check_string(v, &sub, 1, 256)?,
                        "client_authorizequery" => check_string(v, &sub, 1, 2048)?,
                        "client_protocol" => {
                            check_enum(v, &sub, &["oidc", "samlp", "wsfed", "oauth2"])?
                        }
                        other => {
                            return Err(ApiError::payload_at(
                                &format!("Additional properties not allowed: {other}"),
                                path,
                            ));
                        }
                    }
                }
            }
            "assertion_decryption_settings" => {
                let Value::Object(m) = value else {
                    return Err(wrong_type("object", value, path));
                };
                for (k, v) in m {
                    let sub = format!("{path}.{k}");
                    match k.as_str() {
                        "algorithm_profile" => check_enum(v, &sub, &["v2026-1"])?,
                        "algorithm_exceptions" => check_string_array(v, &sub, None, 1, 256)?,
                        other => {
                            return Err(ApiError::payload_at(
                                &format!("Additional properties not allowed: {other}"),
                                path,
                            ));
                        }
                    }
                }
            }
            "signing_key" => {
                let Value::Object(m) = value else {
                    return Err(wrong_type("object", value, path));
                };
                if m.len() > 6 {
                    return Err(ApiError::payload_at(
                        &format!("Too many properties defined ({}), maximum 6", m.len()),
                        path,
                    ));
                }
                for (k, v) in m {
                    check_string(v, &format!("{path}.{k}"), 1, 10_240)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a `samlp` options write needs from the emulator's configuration.
pub struct OptionsContext<'a> {
    /// Documents served for `metadataUrl`.
    pub metadata_urls: &'a BTreeMap<String, String>,
    /// Time used to pick the metadata's signing certificate.
    pub now: jiff::Timestamp,
    /// Whether `signInEndpoint` is required (on create).
    pub require_sign_in: bool,
}

const CERT_REQUIRED: &str = "The signing certificate public key is required";
const CERT_INVALID: &str = "The signing certificate is not valid. Please provide a .pem or .cer certificate base64 encoded public key";
const METADATA_TOO_LARGE: &str = "SAML metadata document exceeded the maximum allowed size of 4 MB";
const MAX_FETCHED_METADATA: usize = 4 * 1024 * 1024;

/// Validates a complete `samlp` options object, imports metadata and recomputes the derived
/// certificate keys, returning what gets stored.
pub fn prepare_samlp_options(
    mut options: Map<String, Value>,
    ctx: &OptionsContext<'_>,
) -> Result<Map<String, Value>, ApiError> {
    check_samlp_options(&options)?;
    if options.contains_key("metadataXml") && options.contains_key("metadataUrl") {
        return Err(ApiError::payload(
            "Use metadataUrl OR metadataXml, not both",
        ));
    }
    // metadataXml is write-only: parsed during this write and never stored.
    if let Some(Value::String(xml)) = options.remove("metadataXml") {
        import_metadata(&mut options, xml.as_bytes(), ctx.now, "metadataXml")?;
    } else if let Some(Value::String(url)) = options.get("metadataUrl").cloned()
        && !url.is_empty()
    {
        let Some(doc) = ctx.metadata_urls.get(&url) else {
            return Err(ApiError::invalid_body(format!(
                "Unable to fetch SAML metadata from {url}: the emulator has no document configured for this URL (use --metadata-url URL=FILE)"
            )));
        };
        if doc.len() > MAX_FETCHED_METADATA {
            return Err(ApiError::invalid_body(METADATA_TOO_LARGE));
        }
        import_metadata(&mut options, doc.as_bytes(), ctx.now, "metadataUrl")?;
    }
    let Some(stored) = options.get("signingCert") else {
        return Err(ApiError::invalid_body(CERT_REQUIRED));
    };
    let Value::String(stored) = stored else {
        return Err(wrong_type("string", stored, "options.signingCert"));
    };
    let cert = certs::parse_signing_cert_value(stored)
        .map_err(|_| ApiError::invalid_body(CERT_INVALID))?;
    if ctx.require_sign_in && !options.contains_key("signInEndpoint") {
        return Err(ApiError::payload_at(
            "Missing required property: signInEndpoint",
            "options",
        ));
    }
    derive_cert_fields(&mut options, &cert);
    Ok(options)
}

/// Sets `cert`, `thumbprints`, `expires` and `subject` from the certificate (§5), overwriting
/// whatever the client sent for them.
pub fn derive_cert_fields(options: &mut Map<String, Value>, cert: &Certificate) {
    options.insert("cert".into(), json!(cert.to_pem()));
    options.insert("thumbprints".into(), json!([cert.sha1_hex()]));
    options.insert(
        "expires".into(),
        json!(certs::auth0_expires(cert.not_after())),
    );
    options.insert("subject".into(), Value::Object(cert.subject_long_names()));
}

/// Recomputes the derived keys when `signingCert` parses; leaves the options alone otherwise.
pub fn derive_if_possible(options: &mut Map<String, Value>) {
    let cert = match options.get("signingCert") {
        Some(Value::String(s)) => certs::parse_signing_cert_value(s).ok(),
        _ => None,
    };
    if let Some(cert) = cert {
        derive_cert_fields(options, &cert);
    }
}

fn import_metadata(
    options: &mut Map<String, Value>,
    xml: &[u8],
    now: jiff::Timestamp,
    source: &str,
) -> Result<(), ApiError> {
    let md = parse_idp_metadata(xml, None, now).map_err(|e| {
        ApiError::invalid_body(format!("Unable to parse the SAML metadata ({source}): {e}"))
    })?;
    const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
    let (sso, binding) = match (&md.sso_redirect, &md.sso_post) {
        (Some(url), _) => (url.clone(), REDIRECT),
        (None, Some(url)) => (url.clone(), POST),
        (None, None) => {
            return Err(ApiError::invalid_body(format!(
                "The SAML metadata ({source}) has no SingleSignOnService"
            )));
        }
    };
    // Metadata wins over explicit endpoint and certificate values; an explicit
    // protocolBinding is kept and the metadata binding goes to bindingMethod.
    options.insert("signInEndpoint".into(), json!(sso));
    options.insert(
        "signOutEndpoint".into(),
        json!(md.slo.clone().unwrap_or_else(|| sso.clone())),
    );
    options.insert(
        "signingCert".into(),
        json!(md.selected_cert().signing_cert_value()),
    );
    options.insert("bindingMethod".into(), json!(binding));
    if !options.contains_key("protocolBinding") {
        options.insert("protocolBinding".into(), json!(binding));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_auth0_pattern() {
        for ok in ["a", "acme-azure", "A1-b2-C3", "x9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a--b", "a_b", "a.b", "a b"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn patch_bodies_reject_immutable_and_unknown_keys() {
        let err = check_body(&json!({"name": "x"}), Write::Update, false).unwrap_err();
        assert_eq!(
            err.body["message"],
            "Payload validation error: 'Additional properties not allowed: name'."
        );
        let err = check_body(&json!({"enabled_clients": []}), Write::Update, false).unwrap_err();
        assert_eq!(
            err.body["message"],
            "Payload validation error: 'Additional properties not allowed: enabled_clients'."
        );
        assert!(check_body(&json!({"enabled_clients": []}), Write::Update, true).is_ok());
    }

    #[test]
    fn samlp_options_schema_rejects_plain_http_and_bad_enums() {
        let ctx = OptionsContext {
            metadata_urls: &BTreeMap::new(),
            now: jiff::Timestamp::UNIX_EPOCH,
            require_sign_in: false,
        };
        let opts = |v: Value| v.as_object().cloned().unwrap();
        let err = prepare_samlp_options(
            opts(json!({"signInEndpoint": "http://idp.example/sso"})),
            &ctx,
        )
        .unwrap_err();
        assert!(
            err.body["message"]
                .as_str()
                .unwrap()
                .contains("on property options.signInEndpoint")
        );
        let err = prepare_samlp_options(opts(json!({"signatureAlgorithm": "rsa-md5"})), &ctx)
            .unwrap_err();
        assert!(
            err.body["message"]
                .as_str()
                .unwrap()
                .contains("No enum match")
        );
        let err = prepare_samlp_options(
            opts(json!({"idpinitiated": {"enabled": true, "extra": 1}})),
            &ctx,
        )
        .unwrap_err();
        assert!(
            err.body["message"]
                .as_str()
                .unwrap()
                .contains("Additional properties not allowed: extra")
        );
        let err = prepare_samlp_options(
            opts(json!({"signInEndpoint": "https://idp.example/sso"})),
            &ctx,
        )
        .unwrap_err();
        assert_eq!(err.body["message"], CERT_REQUIRED);
    }
}
