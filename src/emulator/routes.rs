//! Request handling: `/oauth/token`, `/api/v2/connections…` and the `/__emulator/` admin API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::ConnHandle;
use super::config::{ClientSpec, EmulatorConfig, RuntimeKnobs, RuntimeKnobsPatch, TenantProfile};
use super::faults::{ActiveFault, FaultKind, FaultRule, FaultRuleSpec, Phase};
use super::pem::TenantCertificates;
use super::ratelimit::{Limiter, RateHeaders};
use super::store::{Store, StoredConnection, WriteSettings};
use super::token::{Claims, TokenKeys};
use super::validate::{ApiError, OptionsContext, reason_phrase};

const JSON_UTF8: &str = "application/json; charset=utf-8";
/// Content type of `GET /pem` (Auth0's is unconfirmed, docs/AUTH0_API.md §13).
const PEM_CONTENT_TYPE: &str = "application/x-pem-file";
const MAX_BODY: usize = 8 * 1024 * 1024;
const MAX_CALLS_KEPT: usize = 200_000;
const OPTIONS_SCOPE_MESSAGE: &str =
    "Updating the \"options\" property requires the \"update:connections_options\" scope.";

/// Everything the handlers share.
pub(crate) struct Shared {
    pub(crate) base_url: String,
    pub(crate) domain: String,
    pub(crate) keys: TokenKeys,
    /// What `GET /pem` serves.
    pub(crate) certificates: TenantCertificates,
    pub(crate) seed: u64,
    pub(crate) tenant_profile: TenantProfile,
    pub(crate) known_clients: Option<Vec<String>>,
    pub(crate) metadata_urls: BTreeMap<String, String>,
    pub(crate) state: Mutex<Tenant>,
}

/// Mutable emulator state, behind one lock that is never held across an await.
pub(crate) struct Tenant {
    pub(crate) knobs: RuntimeKnobs,
    pub(crate) store: Store,
    /// The machine-to-machine clients; their grants change through the admin API, as in the
    /// Dashboard.
    clients: Vec<ClientSpec>,
    limiter: Limiter,
    faults: Vec<ActiveFault>,
    fault_rng: StdRng,
    calls: Vec<CallRecord>,
    next_call: u64,
    stats: BTreeMap<String, u64>,
    tokens_issued: u64,
    rate_limited: u64,
    faults_fired: u64,
}

/// One entry of `GET /__emulator/calls`.
#[derive(Clone, Debug, Serialize)]
struct CallRecord {
    seq: u64,
    method: String,
    path: String,
    query: String,
    /// 0 when the connection was reset without a response.
    status: u16,
    fault: Option<&'static str>,
    duration_ms: u64,
    at: String,
}

fn fault_rng(seed: u64) -> StdRng {
    // Separate stream from the id generator so fault draws do not shift ids.
    StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15)
}

impl Shared {
    /// Builds the shared state; `state` connections are inserted verbatim.
    pub(crate) fn new(
        config: &EmulatorConfig,
        base_url: String,
        keys: TokenKeys,
        certificates: TenantCertificates,
    ) -> Result<Self, String> {
        let mut store = Store::new(config.seed);
        for (i, conn) in config.state.iter().enumerate() {
            store
                .insert_verbatim(conn.clone())
                .map_err(|e| format!("state connection #{i}: {e}"))?;
        }
        Ok(Shared {
            base_url,
            domain: config.domain.clone(),
            keys,
            certificates,
            seed: config.seed,
            tenant_profile: config.tenant_profile,
            known_clients: config.known_clients.clone(),
            metadata_urls: config.metadata_urls.clone(),
            state: Mutex::new(Tenant {
                knobs: config.runtime(),
                store,
                clients: config.clients(),
                limiter: Limiter::default(),
                faults: config
                    .faults
                    .iter()
                    .cloned()
                    .map(ActiveFault::new)
                    .collect(),
                fault_rng: fault_rng(config.seed),
                calls: Vec::new(),
                next_call: 1,
                stats: BTreeMap::new(),
                tokens_issued: 0,
                rate_limited: 0,
                faults_fired: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Tenant> {
        // A poisoned lock only means a handler panicked mid-update; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn audiences(&self) -> Vec<String> {
        vec![
            format!("{}/api/v2/", self.base_url),
            format!("https://{}/api/v2/", self.domain),
        ]
    }
}

/// A response before it becomes HTTP.
struct Outcome {
    status: u16,
    body: Option<Payload>,
    headers: Vec<(&'static str, String)>,
    fault: Option<&'static str>,
    reset: bool,
}

/// A response body: JSON (everything but `/pem`), or text of a content type.
enum Payload {
    Json(Value),
    Text(&'static str, String),
}

impl Outcome {
    fn json(status: u16, body: Value) -> Self {
        Outcome {
            status,
            body: Some(Payload::Json(body)),
            headers: Vec::new(),
            fault: None,
            reset: false,
        }
    }

    fn empty(status: u16) -> Self {
        Outcome {
            status,
            body: None,
            headers: Vec::new(),
            fault: None,
            reset: false,
        }
    }

    fn error(e: ApiError) -> Self {
        Outcome::json(e.status, e.body)
    }
}

impl From<ApiError> for Outcome {
    fn from(e: ApiError) -> Self {
        Outcome::error(e)
    }
}

fn into_response(outcome: &Outcome) -> Response {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder().status(status);
    for (name, value) in &outcome.headers {
        builder = builder.header(*name, value.as_str());
    }
    let result = match &outcome.body {
        Some(Payload::Json(body)) => builder
            .header(header::CONTENT_TYPE, JSON_UTF8)
            .body(Body::from(body.to_string())),
        Some(Payload::Text(content_type, text)) => builder
            .header(header::CONTENT_TYPE, *content_type)
            .body(Body::from(text.clone())),
        None => builder.body(Body::empty()),
    };
    result.unwrap_or_else(|_| {
        let mut fallback = Response::new(Body::empty());
        *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

/// The single entry point of the router.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.clone();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return into_response(&Outcome::json(
                413,
                json!({"statusCode":413,"error":"Payload Too Large","message":"Request body is larger than 8 MB"}),
            ));
        }
    };
    if path == "/__emulator" || path.starts_with("/__emulator/") {
        return into_response(&admin(&shared, &method, &path, &query, &body));
    }
    let started = Instant::now();
    let at = timestamp_ms(jiff::Timestamp::now());
    let route = route_template(&path);
    let outcome = if path == "/oauth/token" && method == Method::POST {
        token_with_faults(&shared, &method, &path, &parts.headers, &body).await
    } else if path == "/api/v2" || path.starts_with("/api/v2/") {
        api(&shared, &method, &path, &query, &parts.headers, &body).await
    } else if path == "/pem" && method == Method::GET {
        // Public, like Auth0's: no token, no rate limit, no faults (docs/AUTH0_API.md §13).
        Outcome {
            body: Some(Payload::Text(
                PEM_CONTENT_TYPE,
                shared.certificates.for_query(&query).to_string(),
            )),
            ..Outcome::empty(200)
        }
    } else {
        Outcome::json(
            404,
            json!({"statusCode":404,"error":"Not Found","message":"Not Found"}),
        )
    };
    {
        let mut t = shared.lock();
        let seq = t.next_call;
        t.next_call += 1;
        if t.calls.len() >= MAX_CALLS_KEPT {
            t.calls.drain(..MAX_CALLS_KEPT / 2);
        }
        t.calls.push(CallRecord {
            seq,
            method: method.to_string(),
            path: path.clone(),
            query,
            status: if outcome.reset { 0 } else { outcome.status },
            fault: outcome.fault,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            at,
        });
        let status = if outcome.reset {
            "reset".to_string()
        } else {
            outcome.status.to_string()
        };
        *t.stats
            .entry(format!("{method} {route} {status}"))
            .or_default() += 1;
        if outcome.status == 429 && !outcome.reset {
            t.rate_limited += 1;
        }
        if outcome.fault.is_some_and(|f| f != "latency") {
            t.faults_fired += 1;
        }
    }
    if outcome.reset {
        // Makes the connection's reads and writes fail, so hyper drops it and the client
        // sees a reset instead of a response.
        conn.kill();
    }
    into_response(&outcome)
}

fn route_template(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "oauth", "token"] => "/oauth/token",
        ["", "pem"] => "/pem",
        ["", "api", "v2", "connections"] => "/api/v2/connections",
        ["", "api", "v2", "connections", _] => "/api/v2/connections/{id}",
        ["", "api", "v2", "connections", _, "clients"] => "/api/v2/connections/{id}/clients",
        _ => "other",
    }
}

fn timestamp_ms(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

// ---------------------------------------------------------------------------------------------
// /oauth/token

fn oauth_error(status: u16, error: &str, description: &str) -> Outcome {
    Outcome::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn token(shared: &Shared, headers: &HeaderMap, body: &Bytes) -> Outcome {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    if is_json {
        match serde_json::from_slice::<Value>(body) {
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
        for (k, v) in url::form_urlencoded::parse(body) {
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
        return Outcome::error(ApiError::new(
            500,
            "An internal server error occurred",
            None,
        ));
    };
    shared.lock().tokens_issued += 1;
    Outcome::json(
        200,
        json!({"access_token": access_token, "expires_in": ttl, "scope": scope, "token_type": "Bearer"}),
    )
}

// ---------------------------------------------------------------------------------------------
// /api/v2

fn unauthorized(message: &str) -> Outcome {
    Outcome::json(
        401,
        json!({"statusCode":401,"error":"Unauthorized","message":message,"attributes":{"error":message}}),
    )
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Claims, Outcome> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
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
            return Err(Outcome::error(ApiError::new(
                400,
                "Bad HTTP authentication header format",
                Some("Bearer"),
            )));
        }
    };
    shared
        .keys
        .verify(token, &shared.audiences())
        .map_err(|rejection| unauthorized(rejection.message()))
}

fn rate_headers(h: &RateHeaders, retry_after: bool, limited: bool) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("x-ratelimit-limit", h.limit.to_string()),
        ("x-ratelimit-remaining", h.remaining.to_string()),
        ("x-ratelimit-reset", h.reset.to_string()),
    ];
    if limited && retry_after {
        out.push(("retry-after", h.retry_after.max(1).to_string()));
    }
    out
}

fn too_many_requests() -> Value {
    json!({"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"})
}

/// The response a fault replaces the real one with.
fn fault_outcome(kind: FaultKind, headers: &RateHeaders, retry_after: bool) -> Outcome {
    let mut outcome = match kind {
        FaultKind::TooManyRequests => {
            let limited = RateHeaders {
                remaining: 0,
                ..*headers
            };
            let mut o = Outcome::json(429, too_many_requests());
            o.headers = rate_headers(&limited, retry_after, true);
            o
        }
        FaultKind::InternalError => Outcome::json(
            500,
            json!({"statusCode":500,"error":"Internal Server Error","message":"An internal server error occurred"}),
        ),
        FaultKind::BadGateway | FaultKind::Unavailable => {
            let status = if kind == FaultKind::BadGateway {
                502
            } else {
                503
            };
            Outcome::json(
                status,
                json!({"statusCode":status,"error":reason_phrase(status),"message":"The service is temporarily unavailable, please try again later"}),
            )
        }
        FaultKind::Latency => Outcome::empty(200),
        FaultKind::Reset => {
            let mut o = Outcome::empty(0);
            o.reset = true;
            o
        }
    };
    outcome.fault = Some(kind.as_str());
    outcome
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

/// The connection id in `/api/v2/connections/{id}[/…]`.
fn addressed_connection(path: &str) -> Option<&str> {
    let mut segments = path.strip_prefix("/api/v2/connections/")?.split('/');
    segments.next().filter(|id| !id.is_empty())
}

/// `/oauth/token` under the fault rules whose path names it explicitly; a 429 fault answers
/// in the OAuth error shape.
async fn token_with_faults(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Outcome {
    let (fault, extra_latency) = pick_faults(&mut shared.lock(), method, path, false);
    if extra_latency > 0 {
        tokio::time::sleep(Duration::from_millis(extra_latency)).await;
    }
    let Some(Fired { kind, phase, .. }) = fault else {
        let mut o = token(shared, headers, body);
        if extra_latency > 0 {
            o.fault = Some("latency");
        }
        return o;
    };
    if phase == Phase::After {
        let _ = token(shared, headers, body);
    }
    if kind == FaultKind::TooManyRequests {
        let mut o = oauth_error(
            429,
            "too_many_requests",
            "Too many requests. Check the X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers.",
        );
        o.fault = Some(kind.as_str());
        return o;
    }
    let unlimited = RateHeaders {
        limit: 0,
        remaining: 0,
        reset: 0,
        retry_after: 1,
    };
    let mut o = fault_outcome(kind, &unlimited, false);
    o.headers.clear();
    o
}

async fn api(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Outcome {
    let latency = shared.lock().knobs.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let is_list = *method == Method::GET && route_template(path) == "/api/v2/connections";
    // Rate limit first (the edge answers before anything else), then faults.
    let (limit, fault, extra_latency, retry_after) = {
        let mut t = shared.lock();
        let knobs = t.knobs;
        match t.limiter.take(knobs.rate_limit, is_list) {
            Err(h) => {
                let mut o = Outcome::json(429, too_many_requests());
                o.headers = rate_headers(&h, knobs.retry_after, true);
                return o;
            }
            Ok(h) => {
                let (chosen, extra) = pick_faults(&mut t, method, path, true);
                (h, chosen, extra, knobs.retry_after)
            }
        }
    };
    if extra_latency > 0 {
        tokio::time::sleep(Duration::from_millis(extra_latency)).await;
    }
    let mut outcome = match &fault {
        Some(f) if f.phase == Phase::Before => fault_outcome(f.kind, &limit, retry_after),
        _ => {
            let mut o = endpoint(shared, method, path, query, headers, body);
            if let Some(f) = &fault {
                o = fault_outcome(f.kind, &limit, retry_after);
            } else if extra_latency > 0 {
                o.fault = Some("latency");
            }
            o
        }
    };
    // After the request (phase after) and before the client sees the fault and retries.
    if let Some(edit) = fault.as_ref().and_then(|f| f.edit_options.as_ref())
        && let Some(id) = addressed_connection(path)
    {
        shared.lock().store.edit_options(id, edit);
    }
    if outcome.headers.is_empty() && !outcome.reset {
        outcome.headers = rate_headers(&limit, retry_after, false);
    }
    outcome
}

fn require_scope(claims: &Claims, scope: &str) -> Result<(), Outcome> {
    if claims.has_scope(scope) {
        Ok(())
    } else {
        Err(Outcome::error(ApiError::insufficient_scope(scope)))
    }
}

fn parse_json_body(body: &Bytes) -> Result<Value, Outcome> {
    serde_json::from_slice(body).map_err(|_| {
        Outcome::error(ApiError::invalid_body(
            "Invalid request payload JSON format",
        ))
    })
}

fn endpoint(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Outcome {
    let claims = match authenticate(shared, headers) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(3).collect();
    let result = match (method.clone(), segments.as_slice()) {
        (Method::GET, ["connections"]) => list_connections(shared, &claims, query),
        (Method::POST, ["connections"]) => create_connection(shared, &claims, body),
        (Method::GET, ["connections", id]) => get_connection(shared, &claims, id, query),
        (Method::PATCH, ["connections", id]) => update_connection(shared, &claims, id, body),
        (Method::DELETE, ["connections", id]) => delete_connection(shared, &claims, id),
        (Method::GET, ["connections", id, "clients"]) => list_clients(shared, &claims, id, query),
        (Method::PATCH, ["connections", id, "clients"]) => {
            update_clients(shared, &claims, id, body)
        }
        _ => Err(Outcome::json(
            404,
            json!({"statusCode":404,"error":"Not Found","message":"Not Found"}),
        )),
    };
    result.unwrap_or_else(|o| o)
}

fn shows_options(t: &Tenant, claims: &Claims) -> bool {
    !t.knobs.options_scope_gating || claims.has_scope("read:connections_options")
}

fn settings<'a>(shared: &'a Shared, knobs: &RuntimeKnobs, create: bool) -> WriteSettings<'a> {
    WriteSettings {
        domain: &shared.domain,
        tenant_profile: shared.tenant_profile,
        legacy_enabled_clients: knobs.legacy_enabled_clients,
        deletion_lag: Duration::from_millis(knobs.deletion_lag_ms),
        options: OptionsContext {
            metadata_urls: &shared.metadata_urls,
            now: jiff::Timestamp::now(),
            require_sign_in: create,
        },
    }
}

fn create_connection(shared: &Shared, claims: &Claims, body: &Bytes) -> Result<Outcome, Outcome> {
    require_scope(claims, "create:connections")?;
    let value = parse_json_body(body)?;
    let mut t = shared.lock();
    let show = shows_options(&t, claims);
    let settings = settings(shared, &t.knobs, true);
    let created = t.store.create(&value, &settings)?;
    // The POST response still echoes enabled_clients, even after the legacy EOL.
    Ok(Outcome::json(
        201,
        Value::Object(created.render(show, true)),
    ))
}

fn get_connection(
    shared: &Shared,
    claims: &Claims,
    id: &str,
    query: &str,
) -> Result<Outcome, Outcome> {
    require_scope(claims, "read:connections")?;
    let fields = parse_fields(query, &["fields", "include_fields"])?;
    let t = shared.lock();
    let conn = t.store.get(id).ok_or_else(ApiError::no_connection)?;
    let rendered = conn.render(shows_options(&t, claims), t.knobs.legacy_enabled_clients);
    Ok(Outcome::json(
        200,
        Value::Object(fields.apply(rendered, shared.tenant_profile)),
    ))
}

fn update_connection(
    shared: &Shared,
    claims: &Claims,
    id: &str,
    body: &Bytes,
) -> Result<Outcome, Outcome> {
    require_scope(claims, "update:connections")?;
    let value = parse_json_body(body)?;
    let mut t = shared.lock();
    if t.knobs.options_scope_gating
        && value.get("options").is_some()
        && !claims.has_scope("update:connections_options")
    {
        return Err(Outcome::error(ApiError::new(
            403,
            OPTIONS_SCOPE_MESSAGE,
            Some("insufficient_scope"),
        )));
    }
    let show = shows_options(&t, claims);
    let legacy = t.knobs.legacy_enabled_clients;
    let settings = settings(shared, &t.knobs, false);
    let updated = t.store.update(id, &value, &settings)?;
    Ok(Outcome::json(
        200,
        Value::Object(updated.render(show, legacy)),
    ))
}

fn delete_connection(shared: &Shared, claims: &Claims, id: &str) -> Result<Outcome, Outcome> {
    require_scope(claims, "delete:connections")?;
    if shared.lock().store.delete(id) {
        Ok(Outcome::json(
            202,
            json!({"deleted_at": timestamp_ms(jiff::Timestamp::now())}),
        ))
    } else {
        Ok(Outcome::empty(204))
    }
}

fn bad_query(detail: &str) -> Outcome {
    Outcome::error(ApiError::new(
        400,
        format!("Invalid request query string. The message is: {detail}"),
        Some("invalid_query_string"),
    ))
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn parse_bool(name: &str, v: &str) -> Result<bool, Outcome> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad_query(&format!("{name} must be true or false"))),
    }
}

fn parse_range(name: &str, v: &str, min: u64, max: u64) -> Result<u64, Outcome> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad_query(&format!(
            "{name} must be an integer between {min} and {max}"
        ))),
    }
}

/// `fields` / `include_fields` of a read.
#[derive(Default)]
struct FieldSelection {
    fields: Option<Vec<String>>,
    include: bool,
}

fn parse_fields(query: &str, allowed: &[&str]) -> Result<FieldSelection, Outcome> {
    let mut sel = FieldSelection {
        fields: None,
        include: true,
    };
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "fields" if allowed.contains(&"fields") => {
                sel.fields = Some(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            "include_fields" if allowed.contains(&"include_fields") => {
                sel.include = parse_bool("include_fields", &v)?
            }
            _ if allowed.contains(&k.as_str()) => {}
            other => {
                return Err(bad_query(&format!(
                    "Additional properties not allowed: {other}"
                )));
            }
        }
    }
    Ok(sel)
}

impl FieldSelection {
    fn apply(&self, mut conn: Map<String, Value>, profile: TenantProfile) -> Map<String, Value> {
        let Some(fields) = &self.fields else {
            return conn;
        };
        let always: &[&str] = match profile {
            TenantProfile::Y2026 => &[
                "id",
                "is_domain_connection",
                "authentication",
                "connected_accounts",
            ],
            TenantProfile::Y2025 => &["id", "is_domain_connection"],
        };
        conn.retain(|k, _| {
            let listed = fields.iter().any(|f| f == k);
            always.contains(&k.as_str()) || listed == self.include
        });
        conn
    }
}

fn encode_cursor(prefix: &str, n: u64) -> String {
    B64URL.encode(format!("{prefix}:{n}"))
}

fn decode_cursor(prefix: &str, cursor: &str) -> Option<u64> {
    let raw = String::from_utf8(B64URL.decode(cursor).ok()?).ok()?;
    raw.strip_prefix(prefix)?.strip_prefix(':')?.parse().ok()
}

fn list_connections(shared: &Shared, claims: &Claims, query: &str) -> Result<Outcome, Outcome> {
    require_scope(claims, "read:connections")?;
    let mut name = None;
    let mut strategies: Vec<String> = Vec::new();
    let (mut page, mut per_page, mut take, mut from) = (None, None, None, None);
    let mut include_totals = false;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "name" => name = Some(v),
            "strategy" => strategies.extend(v.split(',').map(str::to_string)),
            "page" => page = Some(parse_range("page", &v, 0, u64::from(u32::MAX))?),
            "per_page" => per_page = Some(parse_range("per_page", &v, 1, 100)?),
            "include_totals" => include_totals = parse_bool("include_totals", &v)?,
            "take" => take = Some(parse_range("take", &v, 1, 100)?),
            "from" => from = Some(v),
            _ => {}
        }
    }
    let fields = parse_fields(
        query,
        &[
            "fields",
            "include_fields",
            "name",
            "strategy",
            "page",
            "per_page",
            "include_totals",
            "take",
            "from",
        ],
    )?;
    let t = shared.lock();
    let show = shows_options(&t, claims);
    let legacy = t.knobs.legacy_enabled_clients;
    let matching: Vec<&StoredConnection> = t
        .store
        .all()
        .iter()
        .filter(|c| name.as_deref().is_none_or(|n| c.name() == Some(n)))
        .filter(|c| {
            strategies.is_empty()
                || c.strategy()
                    .is_some_and(|s| strategies.iter().any(|x| x == s))
        })
        .collect();
    let render = |c: &StoredConnection| {
        Value::Object(fields.apply(c.render(show, legacy), shared.tenant_profile))
    };
    if take.is_some() || from.is_some() {
        let take = take.unwrap_or(50) as usize;
        let after = match &from {
            Some(cursor) => decode_cursor("c", cursor)
                .ok_or_else(|| bad_query("from is not a valid checkpoint"))?,
            None => 0,
        };
        let rest: Vec<&StoredConnection> = matching.into_iter().filter(|c| c.seq > after).collect();
        let page: Vec<Value> = rest.iter().take(take).map(|c| render(c)).collect();
        let mut out = Map::new();
        out.insert("connections".into(), Value::Array(page));
        if rest.len() > take
            && let Some(last) = rest.get(take - 1)
        {
            out.insert("next".into(), json!(encode_cursor("c", last.seq)));
        }
        return Ok(Outcome::json(200, Value::Object(out)));
    }
    let per_page = per_page.unwrap_or(50) as usize;
    let page = page.unwrap_or(0) as usize;
    let start = page.saturating_mul(per_page);
    let items: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(per_page)
        .map(|c| render(c))
        .collect();
    if include_totals {
        Ok(Outcome::json(
            200,
            json!({"total": matching.len(), "start": start, "limit": per_page, "connections": items}),
        ))
    } else {
        Ok(Outcome::json(200, Value::Array(items)))
    }
}

fn list_clients(
    shared: &Shared,
    claims: &Claims,
    id: &str,
    query: &str,
) -> Result<Outcome, Outcome> {
    require_scope(claims, "read:connections")?;
    let (mut take, mut from) = (50usize, None);
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "take" => take = parse_range("take", &v, 1, 1000)? as usize,
            "from" if v.len() <= 1000 => from = Some(v),
            "from" => return Err(bad_query("from must be at most 1000 characters")),
            other => {
                return Err(bad_query(&format!(
                    "Additional properties not allowed: {other}"
                )));
            }
        }
    }
    let t = shared.lock();
    let conn = t.store.get(id).ok_or_else(ApiError::no_connection)?;
    let offset = match &from {
        Some(cursor) => decode_cursor("o", cursor)
            .ok_or_else(|| bad_query("from is not a valid checkpoint"))?
            as usize,
        None => 0,
    };
    let items: Vec<Value> = conn
        .clients
        .iter()
        .skip(offset)
        .take(take)
        .map(|c| json!({"client_id": c}))
        .collect();
    let mut out = Map::new();
    out.insert("clients".into(), Value::Array(items));
    if conn.clients.len() > offset + take {
        out.insert(
            "next".into(),
            json!(encode_cursor("o", (offset + take) as u64)),
        );
    }
    Ok(Outcome::json(200, Value::Object(out)))
}

fn update_clients(
    shared: &Shared,
    claims: &Claims,
    id: &str,
    body: &Bytes,
) -> Result<Outcome, Outcome> {
    require_scope(claims, "update:connections")?;
    let value = parse_json_body(body)?;
    let Value::Array(items) = &value else {
        return Err(ApiError::payload(&format!(
            "Expected type array but found type {}",
            if value.is_object() { "object" } else { "other" }
        ))
        .into());
    };
    if items.is_empty() {
        return Err(ApiError::payload("Array is too short (0), minimum 1").into());
    }
    if items.len() > 50 {
        return Err(
            ApiError::payload(&format!("Array is too long ({}), maximum 50", items.len())).into(),
        );
    }
    let mut changes: Vec<(String, bool)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let parsed = item.as_object().and_then(|o| {
            let client_id = o.get("client_id")?.as_str()?;
            let status = o.get("status")?.as_bool()?;
            (o.len() == 2 && !client_id.is_empty()).then(|| (client_id.to_string(), status))
        });
        let Some(change) = parsed else {
            return Err(ApiError::payload_at(
                "Expected an object with exactly client_id (string) and status (boolean)",
                &format!("[{i}]"),
            )
            .into());
        };
        changes.push(change);
    }
    let mut t = shared.lock();
    if t.store.get(id).is_none() {
        return Err(ApiError::no_connection().into());
    }
    if let Some(known) = &shared.known_clients
        && changes.iter().any(|(c, _)| !known.contains(c))
    {
        return Err(
            ApiError::new(404, "The client does not exist", Some("inexistent_client")).into(),
        );
    }
    let Some(conn) = t.store.get_mut(id) else {
        return Err(ApiError::no_connection().into());
    };
    for (client_id, enabled) in changes {
        let present = conn.clients.contains(&client_id);
        if enabled && !present {
            conn.clients.push(client_id);
        } else if !enabled {
            conn.clients.retain(|c| *c != client_id);
        }
    }
    Ok(Outcome::empty(204))
}

// ---------------------------------------------------------------------------------------------
// /__emulator

fn admin_error(status: u16, message: String) -> Outcome {
    Outcome::json(
        status,
        json!({"statusCode": status, "error": reason_phrase(status), "message": message}),
    )
}

/// `PUT /__emulator/clients/{id}/scopes` with a JSON array of scopes: replaces the client's
/// grant, as editing it in the Dashboard does. Tokens issued before keep their old scopes.
fn grant_scopes(shared: &Shared, method: &Method, id: &str, body: &Bytes) -> Outcome {
    if *method != Method::PUT {
        return admin_error(405, format!("use PUT /__emulator/clients/{id}/scopes"));
    }
    let scopes = match serde_json::from_slice::<Vec<String>>(body) {
        Ok(scopes) => scopes,
        Err(e) => return admin_error(400, format!("expected a JSON array of scopes: {e}")),
    };
    let mut t = shared.lock();
    let Some(client) = t.clients.iter_mut().find(|c| c.id == id) else {
        return admin_error(404, format!("no client {id}"));
    };
    client.scopes = scopes;
    Outcome::json(
        200,
        json!({"client_id": client.id, "scopes": client.scopes}),
    )
}

fn admin(shared: &Shared, method: &Method, path: &str, query: &str, body: &Bytes) -> Outcome {
    let params = query_pairs(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(id) = path
        .trim_end_matches('/')
        .strip_prefix("/__emulator/clients/")
        .and_then(|rest| rest.strip_suffix("/scopes"))
    {
        return grant_scopes(shared, method, id, body);
    }
    match (method.clone(), path.trim_end_matches('/')) {
        (Method::GET, "/__emulator/calls") => {
            let since = param("since")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            let t = shared.lock();
            let calls: Vec<&CallRecord> = t.calls.iter().filter(|c| c.seq > since).collect();
            Outcome::json(200, json!(calls))
        }
        (Method::GET, "/__emulator/stats") => {
            let t = shared.lock();
            let mut out = Map::new();
            for (k, v) in &t.stats {
                out.insert(k.clone(), json!(v));
            }
            out.insert("tokens_issued".into(), json!(t.tokens_issued));
            out.insert("rate_limited".into(), json!(t.rate_limited));
            out.insert("faults_fired".into(), json!(t.faults_fired));
            Outcome::json(200, Value::Object(out))
        }
        (Method::POST, "/__emulator/reset") => {
            let keep = param("keep").is_some_and(|k| k.split(',').any(|x| x == "connections"));
            let mut t = shared.lock();
            if !keep {
                t.store.clear(shared.seed);
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
            Outcome::json(200, json!({"reset": true, "kept_connections": keep}))
        }
        (Method::GET, "/__emulator/config") => Outcome::json(200, json!(shared.lock().knobs)),
        (Method::PUT, "/__emulator/config") => {
            let patch = match serde_json::from_slice::<RuntimeKnobsPatch>(body) {
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
            Outcome::json(200, json!(knobs))
        }
        (Method::GET, "/__emulator/faults") => {
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
            Outcome::json(200, Value::Array(rules))
        }
        (Method::POST, "/__emulator/faults") => {
            let value: Value = match serde_json::from_slice(body) {
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
            Outcome::json(201, json!({"added": added, "active": t.faults.len()}))
        }
        (Method::DELETE, "/__emulator/faults") => {
            shared.lock().faults.clear();
            Outcome::empty(204)
        }
        (Method::GET, "/__emulator/clients") => {
            let t = shared.lock();
            let clients: Vec<Value> = t
                .clients
                .iter()
                .map(|c| json!({"client_id": c.id, "scopes": c.scopes}))
                .collect();
            Outcome::json(200, Value::Array(clients))
        }
        (Method::GET, "/__emulator/connections") => {
            let t = shared.lock();
            let all: Vec<Value> = t
                .store
                .all()
                .iter()
                .map(|c| Value::Object(c.render(true, true)))
                .collect();
            Outcome::json(200, Value::Array(all))
        }
        (Method::POST, "/__emulator/connections") => {
            let value: Value = match serde_json::from_slice(body) {
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
                return Outcome::json(201, one);
            }
            Outcome::json(201, Value::Array(inserted))
        }
        _ => admin_error(404, format!("no admin endpoint {method} {path}")),
    }
}
