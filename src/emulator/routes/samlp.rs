//! `GET /samlp/metadata/{client_id}`: an application's SAML IdP metadata, public like
//! Auth0's: no token, no rate limit, no faults (docs/AUTH0_API.md §16).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::super::idp_metadata::{entity_id, idp_metadata};
use super::super::reply;
use super::super::state::{Shared, Tenant};
use super::RawSegment;

/// Content type of the document (Auth0's is unconfirmed, §16).
pub(crate) const METADATA_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// The metadata document of application `client_id`, `None` for an unknown id. Every
/// application has one, with or without the SAML2 Web App addon (unconfirmed, §16).
pub(crate) fn metadata_of(shared: &Shared, t: &Tenant, client_id: &str) -> Option<String> {
    let client = t.apps.get(client_id)?;
    let current = shared.signing_keys.first()?;
    let der = crate::certs::Certificate::from_pem(&current.cert).ok()?;
    let entity = entity_id(&shared.domain, &client.body);
    Some(idp_metadata(&shared.domain, client_id, &entity, der.der()))
}

/// `GET /samlp/metadata/{client_id}`.
pub(crate) async fn metadata(
    State(shared): State<Arc<Shared>>,
    RawSegment(client_id): RawSegment<3>,
) -> Response {
    let t = shared.lock();
    match metadata_of(&shared, &t, &client_id) {
        Some(xml) => reply::text(200, METADATA_CONTENT_TYPE, xml),
        None => reply::not_found(),
    }
}
