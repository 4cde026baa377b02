//! The handlers, one file per concern: `/oauth/token`, connections, their enabled clients,
//! directory provisioning configurations, organizations, SCIM configuration and tokens, the SCIM server, applications
//! (`clients_api`), signing keys, `/pem`, the IdP metadata (`samlp`) and the `/__emulator/`
//! admin API. What every Management API handler shares lives
//! here: the bearer token check (an extractor) and the scope check.

pub(crate) mod admin;
pub(crate) mod clients;
pub(crate) mod clients_api;
pub(crate) mod connections;
pub(crate) mod directory_provisioning;
pub(crate) mod keys;
pub(crate) mod oauth;
pub(crate) mod organizations;
pub(crate) mod pem;
mod query;
pub(crate) mod samlp;
pub(crate) mod scim;
pub(crate) mod scim_server;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use super::reply;
use super::state::Shared;
use super::token::Claims;
use super::validate::ApiError;

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Self {
        reply::json(e.status, e.body)
    }
}

fn unauthorized(message: &str) -> Response {
    reply::json(
        401,
        json!({"statusCode":401,"error":"Unauthorized","message":message,"attributes":{"error":message}}),
    )
}

/// Every `/api/v2` call authenticates first, whatever its path and method (docs/AUTH0_API.md §9).
impl FromRequestParts<Arc<Shared>> for Claims {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("Missing authentication"));
        };
        let value = value.to_str().unwrap_or("");
        let token = match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                token.trim()
            }
            _ => {
                return Err(ApiError::new(
                    400,
                    "Bad HTTP authentication header format",
                    Some("Bearer"),
                )
                .into());
            }
        };
        shared
            .keys
            .verify(token, &shared.audiences())
            .map_err(|rejection| unauthorized(rejection.message()))
    }
}

/// Path segment `N` (counting the empty one before the first `/`) as sent, not
/// percent-decoded: ids have always been matched verbatim, which `Path` would not do.
pub(crate) struct RawSegment<const N: usize>(pub(crate) String);

impl<S: Send + Sync, const N: usize> FromRequestParts<S> for RawSegment<N> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let segment = parts.uri.path().split('/').nth(N).unwrap_or_default();
        Ok(RawSegment(segment.to_string()))
    }
}

/// `{id}` of `/api/v2/connections/{id}[/…]`.
pub(crate) type ConnectionId = RawSegment<4>;

/// `403 insufficient_scope` unless the token grants `scope`.
fn require_scope(claims: &Claims, scope: &str) -> Result<(), ApiError> {
    if claims.has_scope(scope) {
        Ok(())
    } else {
        Err(ApiError::insufficient_scope(scope))
    }
}

/// An `/api/v2` path or method the emulator does not serve: authenticated, then a 404.
pub(crate) async fn api_not_found(_: Claims) -> Response {
    reply::not_found()
}

/// Any other path: a 404 without authentication.
pub(crate) async fn not_found() -> Response {
    reply::not_found()
}
