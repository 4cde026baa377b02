//! The route table and the order of the layers around it: the one place to read how a request
//! travels.
//!
//! Around every request, outermost first: the body is read whole (413 over 8 MB), the call is
//! logged (except `/__emulator/` calls), trailing slashes of `/api/v2` and `/__emulator` paths
//! are dropped. Then the routes; `/api/v2` ones pass the latency knob, the rate limit and fault
//! injection in that order (the edge answers 429 before anything else), `POST /oauth/token`
//! only fault injection, `/pem`, the IdP metadata (`/samlp/metadata/{client_id}`), the SCIM
//! server (`/scim/v2`) and the admin API nothing. An
//! unknown `/api/v2` path or method is authenticated, then answered 404 like Auth0. Every
//! route starts from `any(fallback)`: a wrong method gets the emulator's own 404 (or 405)
//! without axum's `Allow` header, and HEAD is routed to the fallback because axum would
//! otherwise serve it with the GET handler.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::any;

use super::layers::body_limit::{MAX_BODY, buffer_body};
use super::layers::call_log::record_call;
use super::layers::fault_injection::{delay_api_calls, inject_api_faults, inject_token_faults};
use super::layers::rate_limit::limit_rate;
use super::layers::trailing_slash::trim_trailing_slashes;
use super::routes::{
    admin, api_not_found, clients, clients_api, connections, directory_provisioning, keys,
    not_found, oauth, organizations, pem, samlp, scim, scim_server,
};
use super::state::Shared;

/// The whole emulator as one service.
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    let routes = Router::new()
        .merge(management_api(&shared))
        .route(
            "/oauth/token",
            any(not_found)
                .post(oauth::issue_token)
                .route_layer(from_fn_with_state(shared.clone(), inject_token_faults)),
        )
        .route("/pem", any(not_found).get(pem::certificate).head(not_found))
        .route(
            "/samlp/metadata/{client_id}",
            any(not_found).get(samlp::metadata).head(not_found),
        )
        .merge(scim_api())
        .merge(admin_api())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared.clone());
    // Layers of a router run after its routing; trailing slashes must go before, hence the
    // outer router.
    Router::new()
        .fallback_service(routes)
        .layer(from_fn(trim_trailing_slashes))
        .layer(from_fn_with_state(shared, record_call))
        .layer(from_fn(buffer_body))
}

/// `/api/v2`: connections and their enabled clients (docs/AUTH0_API.md §3), the (empty) list of
/// directory provisioning configurations (§12), organizations
/// and their enabled connections (§14), SCIM configuration and tokens (§15), applications and
/// the tenant's signing keys (§16).
fn management_api(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/api/v2/connections",
            any(api_not_found)
                .get(connections::list)
                .post(connections::create)
                .head(api_not_found),
        )
        .route(
            "/api/v2/connections/{id}",
            any(api_not_found)
                .get(connections::read)
                .patch(connections::update)
                .delete(connections::delete)
                .head(api_not_found),
        )
        .route(
            "/api/v2/connections/{id}/clients",
            any(api_not_found)
                .get(clients::list)
                .patch(clients::update)
                .head(api_not_found),
        )
        .route(
            "/api/v2/connections/{id}/scim-configuration",
            any(api_not_found)
                .get(scim::read)
                .post(scim::create)
                .patch(scim::update)
                .delete(scim::delete)
                .head(api_not_found),
        )
        .route(
            "/api/v2/connections/{id}/scim-configuration/default-mapping",
            any(api_not_found)
                .get(scim::default_mapping_of)
                .head(api_not_found),
        )
        .route(
            "/api/v2/connections/{id}/scim-configuration/tokens",
            any(api_not_found)
                .get(scim::list_tokens)
                .post(scim::create_token)
                .head(api_not_found),
        )
        .route(
            "/api/v2/connections/{id}/scim-configuration/tokens/{token_id}",
            any(api_not_found).delete(scim::delete_token),
        )
        .route(
            "/api/v2/connections-directory-provisionings",
            any(api_not_found)
                .get(directory_provisioning::list)
                .head(api_not_found),
        )
        .route(
            "/api/v2/organizations",
            any(api_not_found)
                .get(organizations::list)
                .post(organizations::create)
                .head(api_not_found),
        )
        .route(
            "/api/v2/organizations/{id}",
            any(api_not_found)
                .get(organizations::read)
                .delete(organizations::delete)
                .head(api_not_found),
        )
        .route(
            "/api/v2/organizations/name/{name}",
            any(api_not_found)
                .get(organizations::read_by_name)
                .head(api_not_found),
        )
        .route(
            "/api/v2/organizations/{id}/enabled_connections",
            any(api_not_found)
                .get(organizations::list_connections)
                .post(organizations::add_connection)
                .head(api_not_found),
        )
        .route(
            "/api/v2/organizations/{id}/enabled_connections/{connection_id}",
            any(api_not_found)
                .get(organizations::read_connection)
                .patch(organizations::update_connection)
                .delete(organizations::remove_connection)
                .head(api_not_found),
        )
        .route(
            "/api/v2/clients",
            any(api_not_found)
                .get(clients_api::list)
                .post(clients_api::create)
                .head(api_not_found),
        )
        .route(
            "/api/v2/clients/{id}",
            any(api_not_found)
                .get(clients_api::read)
                .patch(clients_api::update)
                .delete(clients_api::delete)
                .head(api_not_found),
        )
        .route(
            "/api/v2/keys/signing",
            any(api_not_found).get(keys::list).head(api_not_found),
        )
        .route(
            "/api/v2/keys/signing/{kid}",
            any(api_not_found).get(keys::read).head(api_not_found),
        )
        .route("/api/v2", any(api_not_found))
        .route("/api/v2/{*rest}", any(api_not_found))
        .layer(from_fn_with_state(shared.clone(), inject_api_faults))
        .layer(from_fn_with_state(shared.clone(), limit_rate))
        .layer(from_fn_with_state(shared.clone(), delay_api_calls))
}

/// `/scim/v2/connections/{id}`: each connection's SCIM server, opened only by its SCIM tokens
/// (docs/AUTH0_API.md §15); not limited or faulted like the Management API.
fn scim_api() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/scim/v2/connections/{id}/Users",
            any(not_found).get(scim_server::users).head(not_found),
        )
        .route(
            "/scim/v2/connections/{id}/ServiceProviderConfig",
            any(not_found)
                .get(scim_server::service_provider_config)
                .head(not_found),
        )
}

/// `/__emulator/`: what tests read and steer (docs/AUTH0_API.md §11).
fn admin_api() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/__emulator/calls",
            any(admin::not_found)
                .get(admin::calls)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/stats",
            any(admin::not_found)
                .get(admin::stats)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/reset",
            any(admin::not_found).post(admin::reset),
        )
        .route(
            "/__emulator/config",
            any(admin::not_found)
                .get(admin::config)
                .put(admin::update_config)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/faults",
            any(admin::not_found)
                .get(admin::faults)
                .post(admin::add_faults)
                .delete(admin::clear_faults)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/clients",
            any(admin::not_found)
                .get(admin::clients)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/clients/{id}/scopes",
            any(admin::grant_scopes_not_allowed).put(admin::grant_scopes),
        )
        .route(
            "/__emulator/connections",
            any(admin::not_found)
                .get(admin::connections)
                .post(admin::seed_connections)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/organizations",
            any(admin::not_found)
                .get(admin::organizations)
                .post(admin::create_organization)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/organizations/{id}/enabled_connections",
            any(admin::not_found)
                .get(admin::enabled_connections)
                .post(admin::enable_connection)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/connections/{id}/scim-configuration",
            any(admin::not_found)
                .get(admin::scim_configuration)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/connections/{id}/scim-configuration/tokens",
            any(admin::not_found)
                .get(admin::scim_tokens)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/applications",
            any(admin::not_found)
                .get(admin::applications)
                .post(admin::seed_application)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/applications/{id}",
            any(admin::not_found)
                .get(admin::application)
                .patch(admin::patch_application)
                .head(admin::not_found),
        )
        .route(
            "/__emulator/samlp/metadata/{client_id}",
            any(admin::not_found)
                .get(admin::idp_metadata)
                .head(admin::not_found),
        )
        .route("/__emulator", any(admin::not_found))
        .route("/__emulator/{*rest}", any(admin::not_found))
}
