//! `GET /pem`: the tenant's signing certificate, public like Auth0's: no token, no rate limit,
//! no faults (docs/AUTH0_API.md §13).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::super::reply;
use super::super::state::Shared;

/// Content type of `GET /pem` (Auth0's is unconfirmed, docs/AUTH0_API.md §13).
const PEM_CONTENT_TYPE: &str = "application/x-pem-file";

/// The tenant certificate, or the connection one with `?cert=connection`.
pub(crate) async fn certificate(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let pem = shared
        .certificates
        .for_query(query.as_deref().unwrap_or(""))
        .to_string();
    reply::text(200, PEM_CONTENT_TYPE, pem)
}
