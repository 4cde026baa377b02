//! The `/__emulator/` admin API (docs/AUTH0_API.md §11): the call log and counters, runtime
//! knobs, fault rules, client grants, the connection store, organizations and SCIM state
//! (written with the Management API's own checks), and applications with their IdP metadata.
//! Admin calls are not logged, limited or faulted, and no client secret is ever shown.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::CallRecord;
use super::super::config::RuntimeKnobsPatch;
use super::super::faults::{ActiveFault, FaultRule, FaultRuleSpec};
use super::super::reply;
use super::super::state::{Shared, fault_rng};
use super::super::validate::{ApiError, reason_phrase};
use super::query::query_pairs;
use super::{RawSegment, clients_api, organizations, samlp, scim};

fn admin_error(status: u16, message: String) -> Response {
    reply::json(
        status,
        json!({"statusCode": status, "error": reason_phrase(status), "message": message}),
    )
}

/// The value of `name` in the query, if present.
fn param(query: Option<&str>, name: &str) -> Option<String> {
    query_pairs(query.unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Any admin path or method that does not exist.
pub(crate) async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    admin_error(404, format!("no admin endpoint {method} {}", uri.path()))
}

/// `GET /__emulator/calls[?since=SEQ]`: the call log after `SEQ`.
pub(crate) async fn calls(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let since = param(query.as_deref(), "since")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let t = shared.lock();
    let calls: Vec<&CallRecord> = t.calls.iter().filter(|c| c.seq > since).collect();
    reply::json(200, json!(calls))
}

/// `GET /__emulator/stats`: counters keyed `"METHOD route status"`, and the totals.
pub(crate) async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let t = shared.lock();
    let mut out = Map::new();
    for (k, v) in &t.stats {
        out.insert(k.clone(), json!(v));
    }
    out.insert("tokens_issued".into(), json!(t.tokens_issued));
    out.insert("rate_limited".into(), json!(t.rate_limited));
    out.insert("faults_fired".into(), json!(t.faults_fired));
    reply::json(200, Value::Object(out))
}

/// `POST /__emulator/reset[?keep=connections]`: forgets calls, counters, buckets and faults,
/// and unless kept the connections with their organizations and SCIM state, and the
/// applications created since the start.
pub(crate) async fn reset(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let keep =
        param(query.as_deref(), "keep").is_some_and(|k| k.split(',').any(|x| x == "connections"));
    let mut t = shared.lock();
    if !keep {
        t.store.clear(shared.seed);
        t.orgs.clear();
        t.scim.clear();
        let clients = t.clients.clone();
        t.apps = shared.initial_applications(&clients);
    }
    t.calls.clear();
    t.next_call = 1;
    t.stats.clear();
    t.tokens_issued = 0;
    t.rate_limited = 0;
    t.faults_fired = 0;
    t.limiter.reset();
    t.faults.clear();
    t.fault_rng = fault_rng(shared.seed);
    reply::json(200, json!({"reset": true, "kept_connections": keep}))
}

/// `GET /__emulator/config`: the runtime knobs.
pub(crate) async fn config(State(shared): State<Arc<Shared>>) -> Response {
    reply::json(200, json!(shared.lock().knobs))
}

/// `PUT /__emulator/config`: changes some knobs; a new rate limit refills the buckets.
pub(crate) async fn update_config(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let patch = match serde_json::from_slice::<RuntimeKnobsPatch>(&body) {
        Ok(p) => p,
        Err(e) => return admin_error(400, format!("invalid config body: {e}")),
    };
    let mut t = shared.lock();
    let mut knobs = t.knobs;
    if let Err(e) = knobs.apply(patch) {
        return admin_error(400, e);
    }
    if knobs.rate_limit != t.knobs.rate_limit {
        t.limiter.reset();
    }
    t.knobs = knobs;
    reply::json(200, json!(knobs))
}

/// `GET /__emulator/faults`: the rules with their counters.
pub(crate) async fn faults(State(shared): State<Arc<Shared>>) -> Response {
    let t = shared.lock();
    let rules: Vec<Value> = t
        .faults
        .iter()
        .map(|f| {
            let mut v = json!(FaultRuleSpec::from(&f.rule));
            v["matched"] = json!(f.matched);
            v["fired"] = json!(f.fired);
            v
        })
        .collect();
    reply::json(200, Value::Array(rules))
}

/// `POST /__emulator/faults`: adds one rule or an array of rules.
pub(crate) async fn add_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(400, format!("invalid fault rule JSON: {e}")),
    };
    let specs = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut rules = Vec::new();
    for spec in specs {
        let rule = serde_json::from_value::<FaultRuleSpec>(spec)
            .map_err(|e| e.to_string())
            .and_then(FaultRule::try_from);
        match rule {
            Ok(r) => rules.push(r),
            Err(e) => return admin_error(400, format!("invalid fault rule: {e}")),
        }
    }
    let mut t = shared.lock();
    let added = rules.len();
    t.faults.extend(rules.into_iter().map(ActiveFault::new));
    reply::json(201, json!({"added": added, "active": t.faults.len()}))
}

/// `DELETE /__emulator/faults`: removes every rule.
pub(crate) async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().faults.clear();
    reply::empty(204)
}

/// `GET /__emulator/clients`: the machine-to-machine clients and their grants.
pub(crate) async fn clients(State(shared): State<Arc<Shared>>) -> Response {
    let t = shared.lock();
    let clients: Vec<Value> = t
        .clients
        .iter()
        .map(|c| json!({"client_id": c.id, "scopes": c.scopes}))
        .collect();
    reply::json(200, Value::Array(clients))
}

/// `PUT /__emulator/clients/{id}/scopes` with a JSON array of scopes: replaces the client's
/// grant, as editing it in the Dashboard does. Tokens issued before keep their old scopes.
pub(crate) async fn grant_scopes(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): RawSegment<3>,
    body: Bytes,
) -> Response {
    let scopes = match serde_json::from_slice::<Vec<String>>(&body) {
        Ok(scopes) => scopes,
        Err(e) => return admin_error(400, format!("expected a JSON array of scopes: {e}")),
    };
    let mut t = shared.lock();
    let Some(client) = t.clients.iter_mut().find(|c| c.id == id) else {
        return admin_error(404, format!("no client {id}"));
    };
    client.scopes = scopes;
    reply::json(
        200,
        json!({"client_id": client.id, "scopes": client.scopes}),
    )
}

/// Any other method on a client's scopes.
pub(crate) async fn grant_scopes_not_allowed(RawSegment(id): RawSegment<3>) -> Response {
    admin_error(405, format!("use PUT /__emulator/clients/{id}/scopes"))
}

/// `GET /__emulator/connections`: every connection, options unredacted.
pub(crate) async fn connections(State(shared): State<Arc<Shared>>) -> Response {
    let t = shared.lock();
    let all: Vec<Value> = t
        .store
        .all()
        .iter()
        .map(|c| Value::Object(c.render(true, true)))
        .collect();
    reply::json(200, Value::Array(all))
}

/// `POST /__emulator/connections`: inserts one connection or an array of them verbatim.
pub(crate) async fn seed_connections(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(400, format!("invalid connection JSON: {e}")),
    };
    let (items, single) = match value {
        Value::Array(items) => (items, false),
        other => (vec![other], true),
    };
    let mut t = shared.lock();
    let mut inserted = Vec::new();
    for item in items {
        match t.store.insert_verbatim(item) {
            Ok(c) => inserted.push(Value::Object(c.render(true, true))),
            Err(e) => return admin_error(400, e),
        }
    }
    if single && let Some(one) = inserted.pop() {
        return reply::json(201, one);
    }
    reply::json(201, Value::Array(inserted))
}

/// An Auth0-shaped error, or the JSON answer with `status`.
fn answer(status: u16, result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(value) => reply::json(status, value),
        Err(e) => e.into(),
    }
}

fn json_body(body: &Bytes) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
}

/// `GET /__emulator/organizations`: every organization with its enabled connections.
pub(crate) async fn organizations(State(shared): State<Arc<Shared>>) -> Response {
    let t = shared.lock();
    let mut all = Vec::new();
    for org in t.orgs.all() {
        let mut value = org.render();
        value["enabled_connections"] =
            json!(organizations::enabled_items(&t, &org.id).unwrap_or_default());
        all.push(value);
    }
    reply::json(200, Value::Array(all))
}

/// `POST /__emulator/organizations`: creates an organization exactly as
/// `POST /api/v2/organizations` would, without a token or a call-log entry.
pub(crate) async fn create_organization(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Response {
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(400, e),
    };
    answer(
        201,
        organizations::create_organization(&mut shared.lock(), &value),
    )
}

/// `GET /__emulator/organizations/{id}/enabled_connections`: every item, unpaged.
pub(crate) async fn enabled_connections(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): RawSegment<3>,
) -> Response {
    answer(
        200,
        organizations::enabled_items(&shared.lock(), &id).map(Value::Array),
    )
}

/// `POST /__emulator/organizations/{id}/enabled_connections`: as the Management API's POST.
pub(crate) async fn enable_connection(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): RawSegment<3>,
    body: Bytes,
) -> Response {
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(400, e),
    };
    answer(
        201,
        organizations::enable_connection(&mut shared.lock(), &id, &value),
    )
}

/// `GET /__emulator/connections/{id}/scim-configuration`: as the Management API's GET.
pub(crate) async fn scim_configuration(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): RawSegment<3>,
) -> Response {
    let t = shared.lock();
    answer(200, scim::configuration(&shared, &t, &id))
}

/// `GET /__emulator/connections/{id}/scim-configuration/tokens`: ids and dates, no values.
pub(crate) async fn scim_tokens(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): RawSegment<3>,
) -> Response {
    answer(200, scim::tokens(&shared.lock(), &id).map(Value::Array))
}

/// `GET /__emulator/applications`: every application as `GET /api/v2/clients/{id}` with every
/// scope shows it, without `client_secret`.
pub(crate) async fn applications(State(shared): State<Arc<Shared>>) -> Response {
    let t = shared.lock();
    let all: Vec<Value> = t
        .apps
        .all()
        .iter()
        .map(|c| Value::Object(c.render_admin()))
        .collect();
    reply::json(200, Value::Array(all))
}

/// `GET /__emulator/applications/{id}`: one application, or the Management API's 404.
pub(crate) async fn application(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): RawSegment<3>,
) -> Response {
    let t = shared.lock();
    match t.apps.get(&id) {
        Some(c) => reply::json(200, Value::Object(c.render_admin())),
        None => super::super::apps::no_client().into(),
    }
}

/// `POST /__emulator/applications`: inserts one application verbatim (a `client_id` is
/// generated when missing).
pub(crate) async fn seed_application(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(400, e),
    };
    let mut t = shared.lock();
    match t.apps.insert_verbatim(value) {
        Ok(c) => reply::json(201, Value::Object(c.render_admin())),
        Err(e) => admin_error(400, e),
    }
}

/// `PATCH /__emulator/applications/{id}`: an edit as the Dashboard makes it, with the checks
/// and semantics of `PATCH /api/v2/clients/{id}`, without a token or a call-log entry.
pub(crate) async fn patch_application(
    State(shared): State<Arc<Shared>>,
    RawSegment(id): RawSegment<3>,
    body: Bytes,
) -> Response {
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(400, e),
    };
    let mut t = shared.lock();
    answer(
        200,
        clients_api::update_client(&mut t, &id, &value).map(|c| Value::Object(c.render_admin())),
    )
}

/// `GET /__emulator/samlp/metadata/{client_id}`: the document `GET /samlp/metadata/{client_id}`
/// serves, without a call-log entry.
pub(crate) async fn idp_metadata(
    State(shared): State<Arc<Shared>>,
    RawSegment(client_id): RawSegment<4>,
) -> Response {
    let t = shared.lock();
    match samlp::metadata_of(&shared, &t, &client_id) {
        Some(xml) => reply::text(200, samlp::METADATA_CONTENT_TYPE, xml),
        None => admin_error(404, format!("no client {client_id}")),
    }
}
