//! The SCIM 2.0 server of each connection (docs/AUTH0_API.md §15), just enough for tests to
//! prove a token works: `GET /scim/v2/connections/{id}/Users` (an empty list) and
//! `GET …/ServiceProviderConfig`. Only a SCIM token of that connection opens them — not a
//! Management API token, not another connection's — and they are outside the Management
//! API's rate limit. A token that is accepted gets its `last_used_at`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::json;

use super::super::reply;
use super::super::scim_store::{TokenRefusal, authenticate};
use super::super::state::Shared;
use super::RawSegment;

/// `{id}` of `/scim/v2/connections/{id}/…`.
type ScimConnectionId = RawSegment<4>;

/// RFC 7644 §8.1's media type.
const SCIM_JSON: &str = "application/scim+json; charset=utf-8";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// RFC 7644 §3.12's error body (the details are the emulator's own).
fn scim_error(status: u16, detail: &str) -> Response {
    let body = json!({"schemas": [ERROR_SCHEMA], "status": status.to_string(), "detail": detail});
    reply::text(status, SCIM_JSON, body.to_string())
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Accepts a valid token of connection `id` granting `scope` (any, when `None`), or gives the
/// status and detail of the SCIM error to answer.
fn authorize(
    shared: &Shared,
    id: &str,
    headers: &HeaderMap,
    scope: Option<&str>,
) -> Result<(), (u16, String)> {
    let Some(presented) = bearer(headers) else {
        return Err((401, "Missing or malformed bearer token".into()));
    };
    let now = jiff::Timestamp::now();
    let mut t = shared.lock();
    let Some(entry) = t.scim.get_mut(id) else {
        return Err((401, "Invalid token".into()));
    };
    match authenticate(&entry.tokens, presented, scope, now) {
        Ok(index) => {
            entry.tokens[index].last_used_at = Some(now);
            Ok(())
        }
        Err(TokenRefusal::Invalid) => Err((401, "Invalid token".into())),
        Err(TokenRefusal::Expired) => Err((401, "Token has expired".into())),
        Err(TokenRefusal::MissingScope(scope)) => {
            Err((403, format!("Insufficient scope, expected {scope}")))
        }
    }
}

/// `GET /scim/v2/connections/{id}/Users`: needs `get:users`; the emulator provisions no
/// users, so the list is empty.
pub(crate) async fn users(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): ScimConnectionId,
    headers: HeaderMap,
) -> Response {
    if let Err((status, detail)) = authorize(&shared, &id, &headers, Some("get:users")) {
        return scim_error(status, &detail);
    }
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    });
    reply::text(200, SCIM_JSON, body.to_string())
}

/// `GET /scim/v2/connections/{id}/ServiceProviderConfig`: any valid token of the connection;
/// the capabilities "Configure Inbound SCIM" lists (PATCH, filters with `eq`/`and`/`or`; no
/// bulk, sort, ETag or password change).
pub(crate) async fn service_provider_config(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): ScimConnectionId,
    headers: HeaderMap,
) -> Response {
    if let Err((status, detail)) = authorize(&shared, &id, &headers, None) {
        return scim_error(status, &detail);
    }
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": 100},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A SCIM token of this connection, created with the Management API",
            "primary": true,
        }],
    });
    reply::text(200, SCIM_JSON, body.to_string())
}
