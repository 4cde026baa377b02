//! Query strings of the read endpoints: pairs, bounded numbers, `fields`/`include_fields` and
//! checkpoint cursors, refused in Auth0's `invalid_query_string` shape (docs/AUTH0_API.md §3.1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Map, Value};

use super::super::config::TenantProfile;
use super::super::validate::ApiError;

/// The 400 of a query Auth0 refuses.
pub(super) fn bad_query(detail: &str) -> ApiError {
    ApiError::new(
        400,
        format!("Invalid request query string. The message is: {detail}"),
        Some("invalid_query_string"),
    )
}

/// The decoded `key=value` pairs, in order.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `true` or `false`, nothing else.
pub(super) fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad_query(&format!("{name} must be true or false"))),
    }
}

/// A whole number in `min..=max`.
pub(super) fn parse_range(name: &str, v: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad_query(&format!(
            "{name} must be an integer between {min} and {max}"
        ))),
    }
}

/// The checkpoint `from` value after position `n`.
pub(super) fn encode_cursor(prefix: &str, n: u64) -> String {
    B64URL.encode(format!("{prefix}:{n}"))
}

/// The position a checkpoint `from` value names.
pub(super) fn decode_cursor(prefix: &str, cursor: &str) -> Option<u64> {
    let raw = String::from_utf8(B64URL.decode(cursor).ok()?).ok()?;
    raw.strip_prefix(prefix)?.strip_prefix(':')?.parse().ok()
}

/// `fields` / `include_fields` of a read.
#[derive(Default)]
pub(super) struct FieldSelection {
    fields: Option<Vec<String>>,
    include: bool,
}

/// The field selection of `query`; any key outside `allowed` is refused.
pub(super) fn parse_fields(query: &str, allowed: &[&str]) -> Result<FieldSelection, ApiError> {
    let mut sel = FieldSelection {
        fields: None,
        include: true,
    };
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "fields" if allowed.contains(&"fields") => {
                sel.fields = Some(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            "include_fields" if allowed.contains(&"include_fields") => {
                sel.include = parse_bool("include_fields", &v)?
            }
            _ if allowed.contains(&k.as_str()) => {}
            other => {
                return Err(bad_query(&format!(
                    "Additional properties not allowed: {other}"
                )));
            }
        }
    }
    Ok(sel)
}

impl FieldSelection {
    /// The connection with only the selected fields (and those Auth0 always returns).
    pub(super) fn apply(
        &self,
        conn: Map<String, Value>,
        profile: TenantProfile,
    ) -> Map<String, Value> {
        let always: &[&str] = match profile {
            TenantProfile::Y2026 => &[
                "id",
                "is_domain_connection",
                "authentication",
                "connected_accounts",
            ],
            TenantProfile::Y2025 => &["id", "is_domain_connection"],
        };
        self.keep(conn, always)
    }

    /// The object with only the selected fields, and the `always` ones in any case.
    pub(super) fn keep(
        &self,
        mut object: Map<String, Value>,
        always: &[&str],
    ) -> Map<String, Value> {
        let Some(fields) = &self.fields else {
            return object;
        };
        object.retain(|k, _| {
            let listed = fields.iter().any(|f| f == k);
            always.contains(&k.as_str()) || listed == self.include
        });
        object
    }
}
