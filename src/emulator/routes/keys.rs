//! The tenant's application signing keys: `GET /api/v2/keys/signing` and
//! `GET /api/v2/keys/signing/{kid}` (docs/AUTH0_API.md §16).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use super::super::reply;
use super::super::state::Shared;
use super::super::token::Claims;
use super::super::validate::ApiError;
use super::{RawSegment, require_scope};

/// `{kid}` of `/api/v2/keys/signing/{kid}`.
type Kid = RawSegment<5>;

const SCOPE: &str = "read:signing_keys";

/// Every key as the API renders it, current first.
fn rendered(shared: &Shared) -> Vec<Value> {
    let since = reply::timestamp_ms(shared.certificates.created);
    shared
        .signing_keys
        .iter()
        .map(|k| k.render(&since))
        .collect()
}

/// `GET /api/v2/keys/signing`: the current key (its certificate is `/pem`'s) and the next one.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
) -> Result<Response, ApiError> {
    require_scope(&claims, SCOPE)?;
    Ok(reply::json(200, Value::Array(rendered(&shared))))
}

/// `GET /api/v2/keys/signing/{kid}`: one key, or a 404 (wording unconfirmed).
pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(kid): Kid,
) -> Result<Response, ApiError> {
    require_scope(&claims, SCOPE)?;
    rendered(&shared)
        .into_iter()
        .find(|k| k["kid"] == kid.as_str())
        .map(|k| reply::json(200, k))
        .ok_or_else(|| ApiError::new(404, "The signing key does not exist", None))
}
