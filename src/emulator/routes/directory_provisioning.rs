//! `GET /api/v2/connections-directory-provisionings`: the tenant's directory provisioning
//! configurations (docs/AUTH0_API.md §12). `auth0-deploy-cli` lists them on every import and
//! export to attach them to `google-apps` connections. The emulator holds none — they belong
//! to Google Workspace connections, and creating one is not emulated — so the list is always
//! empty, with Auth0's query checks, scope and shape.

use axum::extract::RawQuery;
use axum::response::Response;
use serde_json::json;

use super::super::reply;
use super::super::token::Claims;
use super::super::validate::ApiError;
use super::query::{bad_query, decode_cursor, parse_range, query_pairs};
use super::require_scope;

/// The scope of the list (Auth0's Management API reference).
pub(crate) const SCOPE: &str = "read:directory_provisionings";

/// Checkpoint pages of `{directory_provisionings, next?}`: `take` 1–100 (50 by default) and
/// `from`, a cursor of an earlier page; the emulator never issues one, so any `from` is refused.
pub(crate) async fn list(claims: Claims, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    require_scope(&claims, SCOPE)?;
    for (k, v) in query_pairs(&query.unwrap_or_default()) {
        match k.as_str() {
            "take" => {
                parse_range("take", &v, 1, 100)?;
            }
            "from" if decode_cursor("dp", &v).is_some() => {}
            "from" => return Err(bad_query("from is not a valid checkpoint")),
            other => {
                return Err(bad_query(&format!(
                    "Additional properties not allowed: {other}"
                )));
            }
        }
    }
    Ok(reply::json(200, json!({"directory_provisionings": []})))
}
