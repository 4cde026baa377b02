//! Fault rules (docs/AUTH0_API.md §11) applied to calls: a 429, a 5xx, extra latency or a
//! connection reset, before or after the request is applied; and the global latency knob.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use serde_json::{Map, Value, json};

use super::super::ConnHandle;
use super::super::faults::{FaultKind, Phase};
use super::super::ratelimit::RateHeaders;
use super::super::reply::{self, AppliedStatus, ConnectionReset, FaultLabel};
use super::super::routes::oauth::oauth_error;
use super::super::state::{Shared, Tenant};
use super::super::validate::reason_phrase;
use super::rate_limit::{Quota, too_many_requests};

/// The latency knob: every `/api/v2` call waits this long before anything else.
pub(crate) async fn delay_api_calls(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let latency = shared.lock().knobs.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    next.run(req).await
}

/// A fault that fires for the current call.
struct Fired {
    kind: FaultKind,
    phase: Phase,
    /// The out-of-band options edit of the rule, if any.
    edit_options: Option<Map<String, Value>>,
}

/// Counts the call against every fault rule: the summed latency of the `latency` rules that
/// fire, and the first other fault that fires (or, with `fault_rate`, a random 5xx).
fn pick_faults(
    t: &mut Tenant,
    method: &Method,
    path: &str,
    use_fault_rate: bool,
) -> (Option<Fired>, u64) {
    let fault_rate = t.knobs.fault_rate;
    let Tenant {
        faults, fault_rng, ..
    } = t;
    let mut extra = 0u64;
    let mut chosen: Option<Fired> = None;
    for f in faults.iter_mut() {
        if f.check(method.as_str(), path, fault_rng) {
            if f.rule.kind == FaultKind::Latency {
                extra += f.rule.latency_ms;
            } else if chosen.is_none() {
                chosen = Some(Fired {
                    kind: f.rule.kind,
                    phase: f.rule.phase,
                    edit_options: f.rule.edit_options.clone(),
                });
            }
        }
    }
    if use_fault_rate && chosen.is_none() && fault_rate > 0.0 && fault_rng.gen_bool(fault_rate) {
        let kind = [
            FaultKind::InternalError,
            FaultKind::BadGateway,
            FaultKind::Unavailable,
        ][fault_rng.gen_range(0..3)];
        chosen = Some(Fired {
            kind,
            phase: Phase::Before,
            edit_options: None,
        });
    }
    (chosen, extra)
}

/// The response a fault replaces the real one with; a 429 is Auth0's with the call's quota,
/// or without one (the token endpoint) the OAuth shape.
fn fault_response(kind: FaultKind, quota: Option<&Quota>) -> Response {
    let mut response = match kind {
        FaultKind::TooManyRequests => match quota {
            Some(q) => {
                let emptied = RateHeaders {
                    remaining: 0,
                    ..q.headers
                };
                too_many_requests(&emptied, q.retry_after)
            }
            None => oauth_error(
                429,
                "too_many_requests",
                "Too many requests. Check the X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers.",
            ),
        },
        FaultKind::InternalError => reply::json(
            500,
            json!({"statusCode":500,"error":"Internal Server Error","message":"An internal server error occurred"}),
        ),
        FaultKind::BadGateway | FaultKind::Unavailable => {
            let status = if kind == FaultKind::BadGateway {
                502
            } else {
                503
            };
            reply::json(
                status,
                json!({"statusCode":status,"error":reason_phrase(status),"message":"The service is temporarily unavailable, please try again later"}),
            )
        }
        FaultKind::Latency => reply::empty(200),
        FaultKind::Reset => {
            let mut r = reply::empty(500);
            r.extensions_mut().insert(ConnectionReset);
            r
        }
    };
    response.extensions_mut().insert(FaultLabel(kind.as_str()));
    response
}

/// The connection id in `/api/v2/connections/{id}[/…]`.
fn addressed_connection(path: &str) -> Option<&str> {
    let mut segments = path.strip_prefix("/api/v2/connections/")?.split('/');
    segments.next().filter(|id| !id.is_empty())
}

/// What a rule sees of the call: its method and the path as sent.
fn call_of(req: &Request) -> (Method, String, Option<ConnHandle>) {
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    (req.method().clone(), path, conn)
}

/// Makes the connection's reads and writes fail when the response is a reset, so hyper drops
/// it and the client sees a reset instead of a response.
fn reset_if_asked(response: Response, conn: Option<ConnHandle>) -> Response {
    if response.extensions().get::<ConnectionReset>().is_some()
        && let Some(conn) = conn
    {
        conn.kill();
    }
    response
}

/// Fault rules and `fault_rate` on `/api/v2` calls (inside the rate limit).
pub(crate) async fn inject_api_faults(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let (method, path, conn) = call_of(&req);
    let quota = req.extensions().get::<Quota>().copied();
    let (fault, extra_latency) = pick_faults(&mut shared.lock(), &method, &path, true);
    if extra_latency > 0 {
        tokio::time::sleep(Duration::from_millis(extra_latency)).await;
    }
    let response = match &fault {
        Some(f) if f.phase == Phase::Before => fault_response(f.kind, quota.as_ref()),
        _ => {
            let mut r = next.run(req).await;
            if let Some(f) = &fault {
                let applied = r.status().as_u16();
                r = fault_response(f.kind, quota.as_ref());
                r.extensions_mut().insert(AppliedStatus(applied));
            } else if extra_latency > 0 {
                r.extensions_mut().insert(FaultLabel("latency"));
            }
            r
        }
    };
    // After the request (phase after) and before the client sees the fault and retries.
    if let Some(edit) = fault.as_ref().and_then(|f| f.edit_options.as_ref())
        && let Some(id) = addressed_connection(&path)
    {
        shared.lock().store.edit_options(id, edit);
    }
    reset_if_asked(response, conn)
}

/// Fault rules whose path names `/oauth/token` explicitly; a 429 answers in the OAuth shape.
pub(crate) async fn inject_token_faults(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let (method, path, conn) = call_of(&req);
    let (fault, extra_latency) = pick_faults(&mut shared.lock(), &method, &path, false);
    if extra_latency > 0 {
        tokio::time::sleep(Duration::from_millis(extra_latency)).await;
    }
    let Some(Fired { kind, phase, .. }) = fault else {
        let mut r = next.run(req).await;
        if extra_latency > 0 {
            r.extensions_mut().insert(FaultLabel("latency"));
        }
        return r;
    };
    if phase == Phase::After {
        let _ = next.run(req).await;
    }
    reset_if_asked(fault_response(kind, None), conn)
}
