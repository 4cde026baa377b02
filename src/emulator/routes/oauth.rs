//! `POST /oauth/token`: the client-credentials grant (docs/AUTH0_API.md §1).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::super::reply;
use super::super::state::Shared;
use super::super::token::Claims;
use super::super::validate::ApiError;

/// An error in the OAuth shape, not the Management API one (docs/AUTH0_API.md §1.3).
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// Issues a token to a known client for one of the tenant's audiences.
pub(crate) async fn issue_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    if is_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => {
                for (k, v) in map {
                    if let Value::String(s) = v {
                        params.insert(k, s);
                    }
                }
            }
            _ => return oauth_error(400, "invalid_request", "Invalid JSON in the request body"),
        }
    } else {
        for (k, v) in url::form_urlencoded::parse(&body) {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(encoded) = auth
            .strip_prefix("Basic ")
            .or_else(|| auth.strip_prefix("basic "))
    {
        let decoded = B64
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return oauth_error(
                400,
                "invalid_request",
                "Malformed HTTP Basic authorization header",
            );
        };
        params.insert("client_id".into(), id.to_string());
        params.insert("client_secret".into(), secret.to_string());
    }
    let Some(grant_type) = params.get("grant_type") else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: grant_type",
        );
    };
    if grant_type != "client_credentials" {
        return oauth_error(
            400,
            "invalid_request",
            &format!("Unsupported grant type: {grant_type}"),
        );
    }
    for required in ["client_id", "client_secret", "audience"] {
        if params.get(required).is_none_or(|v| v.is_empty()) {
            return oauth_error(
                400,
                "invalid_request",
                &format!("Missing required parameter: {required}"),
            );
        }
    }
    let (client_id, secret, audience) = (
        &params["client_id"],
        &params["client_secret"],
        &params["audience"],
    );
    let client = shared
        .lock()
        .clients
        .iter()
        .find(|c| &c.id == client_id && &c.secret == secret)
        .cloned();
    let Some(client) = client else {
        return oauth_error(401, "access_denied", "Unauthorized");
    };
    if !shared.audiences().contains(audience) {
        return oauth_error(
            403,
            "access_denied",
            &format!("Service not enabled within domain: {audience}"),
        );
    }
    let ttl = shared.lock().knobs.token_ttl;
    let now = jiff::Timestamp::now().as_second().max(0) as u64;
    let scope = client.scopes.join(" ");
    let claims = Claims {
        iss: format!("https://{}/", shared.domain),
        sub: format!("{}@clients", client.id),
        aud: audience.clone(),
        iat: now,
        exp: now + ttl,
        scope: scope.clone(),
        gty: "client-credentials".into(),
        azp: client.id.clone(),
    };
    let Ok(access_token) = shared.keys.sign(&claims) else {
        return ApiError::new(500, "An internal server error occurred", None).into();
    };
    shared.lock().tokens_issued += 1;
    reply::json(
        200,
        json!({"access_token": access_token, "expires_in": ttl, "scope": scope, "token_type": "Bearer"}),
    )
}
