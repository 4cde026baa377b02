//! The call log and the counters of `GET /__emulator/calls` and `GET /__emulator/stats`: every
//! call but the admin API's, with the status its client saw. Only the method, path, query,
//! status and timing are kept — never a header or a body, so neither a bearer token, a SCIM
//! token value nor a client secret can reach the log.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::super::reply::{self, AppliedStatus, ConnectionReset, FaultLabel};
use super::super::state::Shared;

/// Entries kept; the older half is dropped when full.
const MAX_CALLS_KEPT: usize = 200_000;

/// One entry of `GET /__emulator/calls`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Position in the log, from 1 (restarts at `POST /__emulator/reset`).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path as sent.
    pub path: String,
    /// Query string as sent (empty when none).
    pub query: String,
    /// 0 when the connection was reset without a response.
    pub status: u16,
    /// The fault the call met (`"429"`, `"503"`, `"reset"`, `"latency"`, …).
    pub fault: Option<String>,
    /// For a fault injected after the request was served (`phase: after`): the status the
    /// emulator had answered before the fault replaced it, i.e. whether it was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_status: Option<u16>,
    /// Time spent serving it, including injected latency.
    pub duration_ms: u64,
    /// When it arrived, `2026-01-02T03:04:05.678Z`.
    pub at: String,
}

/// Whether `path` belongs to the admin API.
fn is_admin(path: &str) -> bool {
    path == "/__emulator" || path.starts_with("/__emulator/")
}

/// The route a path counts under in the stats keys (`"PATCH /api/v2/connections/{id} 200"`).
fn route_template(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "oauth", "token"] => "/oauth/token",
        ["", "pem"] => "/pem",
        ["", "samlp", "metadata", _] => "/samlp/metadata/{client_id}",
        ["", "api", "v2", "clients"] => "/api/v2/clients",
        ["", "api", "v2", "clients", _] => "/api/v2/clients/{id}",
        ["", "api", "v2", "keys", "signing"] => "/api/v2/keys/signing",
        ["", "api", "v2", "keys", "signing", _] => "/api/v2/keys/signing/{kid}",
        ["", "api", "v2", "connections"] => "/api/v2/connections",
        ["", "api", "v2", "connections-directory-provisionings"] => {
            "/api/v2/connections-directory-provisionings"
        }
        ["", "api", "v2", "connections", _] => "/api/v2/connections/{id}",
        ["", "api", "v2", "connections", _, "clients"] => "/api/v2/connections/{id}/clients",
        ["", "api", "v2", "connections", _, "scim-configuration"] => {
            "/api/v2/connections/{id}/scim-configuration"
        }
        [
            "",
            "api",
            "v2",
            "connections",
            _,
            "scim-configuration",
            "default-mapping",
        ] => "/api/v2/connections/{id}/scim-configuration/default-mapping",
        [
            "",
            "api",
            "v2",
            "connections",
            _,
            "scim-configuration",
            "tokens",
        ] => "/api/v2/connections/{id}/scim-configuration/tokens",
        [
            "",
            "api",
            "v2",
            "connections",
            _,
            "scim-configuration",
            "tokens",
            _,
        ] => "/api/v2/connections/{id}/scim-configuration/tokens/{tokenId}",
        ["", "api", "v2", "organizations"] => "/api/v2/organizations",
        ["", "api", "v2", "organizations", "name", _] => "/api/v2/organizations/name/{name}",
        ["", "api", "v2", "organizations", _] => "/api/v2/organizations/{id}",
        ["", "api", "v2", "organizations", _, "enabled_connections"] => {
            "/api/v2/organizations/{id}/enabled_connections"
        }
        [
            "",
            "api",
            "v2",
            "organizations",
            _,
            "enabled_connections",
            _,
        ] => "/api/v2/organizations/{id}/enabled_connections/{connectionId}",
        ["", "scim", "v2", "connections", _, "Users"] => "/scim/v2/connections/{id}/Users",
        ["", "scim", "v2", "connections", _, "ServiceProviderConfig"] => {
            "/scim/v2/connections/{id}/ServiceProviderConfig"
        }
        _ => "other",
    }
}

/// Records the call once its response (or reset) is decided.
pub(crate) async fn record_call(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if is_admin(&path) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let query = req.uri().query().unwrap_or("").to_string();
    let started = Instant::now();
    let at = reply::timestamp_ms(jiff::Timestamp::now());
    let response = next.run(req).await;
    let reset = response.extensions().get::<ConnectionReset>().is_some();
    let fault = response.extensions().get::<FaultLabel>().map(|f| f.0);
    let applied_status = response.extensions().get::<AppliedStatus>().map(|a| a.0);
    let status = response.status().as_u16();
    let mut t = shared.lock();
    let seq = t.next_call;
    t.next_call += 1;
    if t.calls.len() >= MAX_CALLS_KEPT {
        t.calls.drain(..MAX_CALLS_KEPT / 2);
    }
    t.calls.push(CallRecord {
        seq,
        method: method.to_string(),
        query,
        status: if reset { 0 } else { status },
        fault: fault.map(str::to_string),
        applied_status,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        at,
        path: path.clone(),
    });
    let outcome = if reset {
        "reset".to_string()
    } else {
        status.to_string()
    };
    *t.stats
        .entry(format!("{method} {} {outcome}", route_template(&path)))
        .or_default() += 1;
    if status == 429 && !reset {
        t.rate_limited += 1;
    }
    if fault.is_some_and(|f| f != "latency") {
        t.faults_fired += 1;
    }
    drop(t);
    response
}
