//! The Auth0 client against small scripted stand-in servers (exact failure sequences) and
//! against the real `auth0-emulator` (the API behaviour end to end).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sso_operator::auth0::{Auth0Client, Auth0Config, Auth0Error, RetryTiming};
use sso_operator::secret::SecretString;
use url::Url;

/// Client settings with test-sized waits and a generous budget.
fn fast_config(base: Url, client_id: &str, secret: &str) -> Auth0Config {
    let mut config = Auth0Config::new(base, client_id, SecretString::new(secret));
    config.rate_per_second = 1000.0;
    config.burst = 100;
    config.request_timeout = Duration::from_secs(5);
    config.timing = RetryTiming {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        min_rate_limit_wait: Duration::from_millis(10),
        max_rate_limit_wait: Duration::from_secs(3),
    };
    config
}

async fn serve(app: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Url::parse(&format!("http://{addr}")).expect("url")
}

/// Counters and scripted behaviour of a stand-in Auth0.
#[derive(Default)]
struct Script {
    token_hits: AtomicUsize,
    api_hits: AtomicUsize,
    token_forms: std::sync::Mutex<Vec<Vec<(String, String)>>>,
    patches: std::sync::Mutex<Vec<Value>>,
}

type Shared = Arc<Script>;

fn connection_json(with_options: bool) -> Value {
    let mut c = json!({"id": "con_AAAAAAAAAAAAAAAA", "name": "acme", "strategy": "samlp",
        "realms": ["acme"], "is_domain_connection": false});
    if with_options {
        c["options"] = json!({"signInEndpoint": "https://idp.example/sso", "x_future_option": {"enabled": true}});
    }
    c
}

/// Token endpoint issuing `t1`, `t2`, … with the given scope and lifetime.
async fn issue_token(
    State(script): State<Shared>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let n = script.token_hits.fetch_add(1, Ordering::SeqCst) + 1;
    script.token_forms.lock().expect("lock").push(form);
    axum::Json(json!({"access_token": format!("t{n}"), "expires_in": 86400,
        "scope": "read:connections update:connections", "token_type": "Bearer"}))
    .into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_string()
}

fn api_error(status: u16, message: &str, code: Option<&str>) -> Response {
    let mut body = json!({"statusCode": status, "error": "Error", "message": message});
    if let Some(code) = code {
        body["errorCode"] = json!(code);
    }
    let status = StatusCode::from_u16(status).expect("status");
    (status, axum::Json(body)).into_response()
}

async fn stand_in(script: &Shared, api: Router<Shared>) -> Auth0Client {
    let app = Router::new()
        .route("/oauth/token", post(issue_token))
        .merge(api)
        .with_state(script.clone());
    let base = serve(app).await;
    Auth0Client::new(fast_config(base, "cid", "client-secret-value")).expect("client")
}

#[tokio::test]
async fn the_token_request_is_form_encoded_with_the_management_audience() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(|| async { axum::Json(connection_json(true)) }),
    );
    let client = stand_in(&script, api).await;
    client.get_connection("con_x").await.expect("get");
    let forms = script.token_forms.lock().expect("lock").clone();
    let form: std::collections::BTreeMap<_, _> = forms[0].iter().cloned().collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "cid");
    assert_eq!(form["client_secret"], "client-secret-value");
    assert_eq!(
        form["audience"],
        format!("{}api/v2/", client.config().base_url)
    );
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once_with_a_new_one() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(|State(s): State<Shared>, headers: HeaderMap| async move {
            s.api_hits.fetch_add(1, Ordering::SeqCst);
            if bearer(&headers) == "t1" {
                api_error(
                    401,
                    "Invalid signature received for JSON Web Token validation",
                    None,
                )
            } else {
                axum::Json(connection_json(true)).into_response()
            }
        }),
    );
    let client = stand_in(&script, api).await;
    let found = client
        .get_connection("con_x")
        .await
        .expect("second try works");
    assert!(found.is_some());
    assert_eq!(script.token_hits.load(Ordering::SeqCst), 2);
    assert_eq!(script.api_hits.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().token_fetches, 2);
}

#[tokio::test]
async fn a_second_401_is_a_hard_error_without_a_loop() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(|State(s): State<Shared>| async move {
            s.api_hits.fetch_add(1, Ordering::SeqCst);
            api_error(401, "Invalid token", None)
        }),
    );
    let client = stand_in(&script, api).await;
    let err = client.get_connection("con_x").await.expect_err("401 twice");
    assert!(
        matches!(err, Auth0Error::Rejected { status: 401, .. }),
        "{err}"
    );
    assert_eq!(
        err.reason(),
        sso_operator::status::Reason::InsufficientScope
    );
    assert_eq!(script.token_hits.load(Ordering::SeqCst), 2);
    assert_eq!(script.api_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refused_credentials_are_a_token_error_after_one_request() {
    let script = Shared::default();
    let app = Router::new()
        .route(
            "/oauth/token",
            post(|State(s): State<Shared>| async move {
                s.token_hits.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(
                        json!({"error": "access_denied", "error_description": "Unauthorized"}),
                    ),
                )
            }),
        )
        .with_state(script.clone());
    let base = serve(app).await;
    let client = Auth0Client::new(fast_config(base, "cid", "wrong-secret")).expect("client");
    let err = client.get_connection("con_x").await.expect_err("refused");
    assert_eq!(
        err,
        Auth0Error::Token {
            status: 401,
            message: "Unauthorized".into()
        }
    );
    assert!(!err.to_string().contains("wrong-secret"));
    assert!(!err.is_transient());
    assert_eq!(script.token_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_with_an_absurd_lifetime_is_used_without_panicking() {
    let script = Shared::default();
    let app = Router::new()
        .route(
            "/oauth/token",
            post(|State(s): State<Shared>| async move {
                s.token_hits.fetch_add(1, Ordering::SeqCst);
                // Raw text: the largest u64 exactly as a misbehaving server would send it.
                (
                    [("content-type", "application/json")],
                    r#"{"access_token":"x","expires_in":18446744073709551615,"scope":"read:connections update:connections"}"#,
                )
            }),
        )
        .route(
            "/api/v2/connections/{id}",
            get(|State(s): State<Shared>, headers: HeaderMap| async move {
                s.api_hits.fetch_add(1, Ordering::SeqCst);
                assert_eq!(bearer(&headers), "x");
                axum::Json(connection_json(true))
            }),
        )
        .with_state(script.clone());
    let base = serve(app).await;
    let client = Auth0Client::new(fast_config(base, "cid", "s")).expect("client");
    for _ in 0..2 {
        let found = tokio::spawn({
            let c = client.clone();
            async move { c.get_connection("con_x").await }
        })
        .await
        .expect("no panic in the client")
        .expect("get");
        assert!(found.is_some());
    }
    // The clamped lifetime still caches the token: one token request for both calls.
    assert_eq!(script.token_hits.load(Ordering::SeqCst), 1);
    assert_eq!(script.api_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let script = Shared::default();
    let app = Router::new()
        .route(
            "/oauth/token",
            post(
                |state: State<Shared>, form: axum::Form<Vec<(String, String)>>| async move {
                    // Slow enough that every caller is waiting for the same token.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    issue_token(state, form).await
                },
            ),
        )
        .route(
            "/api/v2/connections/{id}",
            get(|| async { axum::Json(connection_json(true)) }),
        )
        .with_state(script.clone());
    let base = serve(app).await;
    let client = Auth0Client::new(fast_config(base, "cid", "s")).expect("client");
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.get_connection("con_x").await })
        })
        .collect();
    for call in calls {
        assert!(call.await.expect("join").expect("get").is_some());
    }
    assert_eq!(script.token_hits.load(Ordering::SeqCst), 1);
    assert_eq!(client.stats().requests_of("GET /connections/{id}"), 16);
}

#[tokio::test]
async fn a_429_waits_for_the_reset_and_then_succeeds() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(|State(s): State<Shared>| async move {
            if s.api_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                let reset = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_secs()
                    + 1;
                let mut response = api_error(
                    429,
                    "Global limit has been reached",
                    Some("too_many_requests"),
                );
                let headers = response.headers_mut();
                headers.insert("x-ratelimit-limit", "2".parse().expect("hv"));
                headers.insert("x-ratelimit-remaining", "0".parse().expect("hv"));
                headers.insert("x-ratelimit-reset", reset.to_string().parse().expect("hv"));
                response
            } else {
                axum::Json(connection_json(true)).into_response()
            }
        }),
    );
    let client = stand_in(&script, api).await;
    assert!(
        client
            .get_connection("con_x")
            .await
            .expect("after the wait")
            .is_some()
    );
    let stats = client.stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.retries, 1);
    assert_eq!(script.api_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn persistent_429s_end_in_a_rate_limited_error() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(|State(s): State<Shared>| async move {
            s.api_hits.fetch_add(1, Ordering::SeqCst);
            let mut response = api_error(
                429,
                "Global limit has been reached",
                Some("too_many_requests"),
            );
            response
                .headers_mut()
                .insert("retry-after", "0".parse().expect("hv"));
            response
        }),
    );
    let client = stand_in(&script, api).await;
    let err = client
        .get_connection("con_x")
        .await
        .expect_err("always 429");
    assert!(matches!(err, Auth0Error::RateLimited { .. }), "{err}");
    assert_eq!(err.reason(), sso_operator::status::Reason::Auth0Unavailable);
    assert!(err.is_transient());
    // The first attempt plus max_retries (3).
    assert_eq!(script.api_hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_unavailable() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(|State(s): State<Shared>| async move {
            s.api_hits.fetch_add(1, Ordering::SeqCst);
            api_error(503, "Service Unavailable", None)
        }),
    );
    let client = stand_in(&script, api).await;
    let err = client
        .get_connection("con_x")
        .await
        .expect_err("always 503");
    assert!(
        matches!(
            err,
            Auth0Error::Unavailable {
                status: Some(503),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(script.api_hits.load(Ordering::SeqCst), 4);
    assert_eq!(client.stats().retries, 3);
}

#[tokio::test]
async fn a_timed_out_request_is_retried() {
    let script = Shared::default();
    let app = Router::new()
        .route("/oauth/token", post(issue_token))
        .route(
            "/api/v2/connections/{id}",
            get(|State(s): State<Shared>| async move {
                if s.api_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                axum::Json(connection_json(true))
            }),
        )
        .with_state(script.clone());
    let base = serve(app).await;
    let mut config = fast_config(base, "cid", "s");
    config.request_timeout = Duration::from_millis(300);
    let client = Auth0Client::new(config).expect("client");
    assert!(
        client
            .get_connection("con_x")
            .await
            .expect("retried")
            .is_some()
    );
    let stats = client.stats();
    assert_eq!(
        stats
            .requests
            .get(&("GET /connections/{id}", "timeout".to_string())),
        Some(&1)
    );
}

#[tokio::test]
async fn a_missing_options_key_stays_absent() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(|| async { axum::Json(connection_json(false)) }),
    );
    let client = stand_in(&script, api).await;
    let found = client
        .get_connection("con_x")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(found.options, None);
    assert!(found.options_object().is_none());
}

#[tokio::test]
async fn missing_scopes_are_named() {
    let script = Shared::default();
    let client = stand_in(&script, Router::new()).await;
    let missing = client.missing_scopes().await.expect("token");
    assert_eq!(
        missing,
        vec![
            "create:connections",
            "delete:connections",
            "read:connections_options",
            "update:connections_options"
        ]
    );
}

#[derive(serde::Deserialize)]
struct Page {
    take: Option<usize>,
    from: Option<String>,
}

#[tokio::test]
async fn enabled_clients_follows_every_page() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}/clients",
        get(|Query(page): Query<Page>| async move {
            let all: Vec<String> = (0..230).map(|i| format!("client{i:03}")).collect();
            let start: usize = page
                .from
                .as_deref()
                .map_or(0, |f| f.parse().expect("cursor"));
            let take = page.take.unwrap_or(50);
            let end = (start + take).min(all.len());
            let clients: Vec<Value> = all[start..end]
                .iter()
                .map(|id| json!({"client_id": id}))
                .collect();
            let mut body = json!({"clients": clients});
            if end < all.len() {
                body["next"] = json!(end.to_string());
            }
            axum::Json(body)
        }),
    );
    let client = stand_in(&script, api).await;
    let ids = client.enabled_clients("con_x").await.expect("pages");
    assert_eq!(ids.len(), 230);
    assert_eq!(ids[0], "client000");
    assert_eq!(ids[229], "client229");
}

#[tokio::test]
async fn enable_clients_sends_chunks_of_fifty_that_only_enable() {
    let script = Shared::default();
    let api = Router::new().route(
        "/api/v2/connections/{id}/clients",
        axum::routing::patch(
            |State(s): State<Shared>, axum::Json(body): axum::Json<Value>| async move {
                s.patches.lock().expect("lock").push(body);
                StatusCode::NO_CONTENT
            },
        ),
    );
    let client = stand_in(&script, api).await;
    let ids: Vec<String> = (0..120).map(|i| format!("c{i}")).collect();
    client.enable_clients("con_x", &ids).await.expect("patched");
    client
        .enable_clients("con_x", &[])
        .await
        .expect("nothing to do");
    let patches = script.patches.lock().expect("lock").clone();
    let sizes: Vec<usize> = patches
        .iter()
        .map(|p| p.as_array().expect("array").len())
        .collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    let items: Vec<&Value> = patches
        .iter()
        .flat_map(|p| p.as_array().expect("array"))
        .collect();
    assert!(items.iter().all(|i| i["status"] == json!(true)));
    assert_eq!(items[119]["client_id"], "c119");
}

#[tokio::test]
async fn a_429_pauses_every_clone_of_the_client() {
    let script = Shared::default();
    let first_hit = Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let later_hits = Arc::new(std::sync::Mutex::new(Vec::<std::time::Instant>::new()));
    let (first, later) = (first_hit.clone(), later_hits.clone());
    let api = Router::new().route(
        "/api/v2/connections/{id}",
        get(move |State(s): State<Shared>| {
            let (first, later) = (first.clone(), later.clone());
            async move {
                if s.api_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    *first.lock().expect("lock") = Some(std::time::Instant::now());
                    let mut response = api_error(
                        429,
                        "Global limit has been reached",
                        Some("too_many_requests"),
                    );
                    response
                        .headers_mut()
                        .insert("retry-after", "1".parse().expect("hv"));
                    response
                } else {
                    later.lock().expect("lock").push(std::time::Instant::now());
                    axum::Json(connection_json(true)).into_response()
                }
            }
        }),
    );
    let client = stand_in(&script, api).await;
    let refused = {
        let c = client.clone();
        tokio::spawn(async move { c.get_connection("con_a").await })
    };
    while client.stats().rate_limited == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another clone, which never saw the 429, must wait out the same pause.
    let other = client.clone();
    assert!(other.get_connection("con_b").await.expect("get").is_some());
    assert!(refused.await.expect("join").expect("get").is_some());
    let first = first_hit.lock().expect("lock").expect("first hit");
    let later = later_hits.lock().expect("lock").clone();
    assert_eq!(later.len(), 2);
    assert!(
        later
            .iter()
            .all(|t| t.duration_since(first) >= Duration::from_millis(900))
    );
}

/// The okta-app.xml fixture's certificate, as PEM.
fn fixture_pem() -> String {
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/idp-metadata/okta-app.xml"
    ))
    .expect("fixture");
    let start = xml.find("X509Certificate>").expect("cert") + "X509Certificate>".len();
    let end = start + xml[start..].find('<').expect("cert end");
    sso_operator::certs::Certificate::from_base64_text(&xml[start..end])
        .expect("certificate")
        .to_pem()
}

/// A stand-in whose `/pem` answers `replies` in turn (the last one again once they run out),
/// counting its hits and refusing any bearer token.
async fn pem_stand_in(replies: Vec<(u16, String)>) -> (Auth0Client, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/pem",
        get(
            move |Query(query): Query<Vec<(String, String)>>, headers: HeaderMap| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let (status, body) = replies[n.min(replies.len() - 1)].clone();
                async move {
                    if headers.contains_key("authorization")
                        || query != [("cert".to_string(), "connection".to_string())]
                    {
                        return (StatusCode::BAD_REQUEST, "unexpected request").into_response();
                    }
                    (StatusCode::from_u16(status).expect("status"), body).into_response()
                }
            },
        ),
    );
    let base = serve(app).await;
    let client = Auth0Client::new(fast_config(base, "cid", "secret")).expect("client");
    (client, hits)
}

#[tokio::test]
async fn the_tenant_certificate_is_fetched_without_a_token_and_kept() {
    let pem = fixture_pem().replace('\n', "\r\n");
    let (client, hits) = pem_stand_in(vec![(503, String::new()), (200, pem.clone())]).await;
    let cert = client
        .tenant_certificate()
        .await
        .expect("retried after the 503");
    assert_eq!(cert.to_pem(), fixture_pem());
    client.tenant_certificate().await.expect("cached");
    client.tenant_certificate().await.expect("cached");
    // One 503, one success, and nothing more for the next reconciles.
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().requests_of("GET /pem"), 2);
    assert_eq!(client.stats().token_fetches, 0);
}

#[tokio::test]
async fn a_tenant_certificate_body_that_is_not_one_certificate_is_refused_without_quoting_it() {
    let garbage = "<html>maintenance page hunter2</html>".to_string();
    let (client, hits) = pem_stand_in(vec![(200, garbage)]).await;
    let err = client.tenant_certificate().await.expect_err("not PEM");
    assert!(matches!(err, Auth0Error::Protocol { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a bad body is not retried");
    let huge = format!("{}{}", fixture_pem(), "A".repeat(200 * 1024));
    let (client, _) = pem_stand_in(vec![(200, huge)]).await;
    let err = client.tenant_certificate().await.expect_err("too large");
    assert!(err.to_string().contains("larger than"), "{err}");
    let (client, hits) = pem_stand_in(vec![(404, String::new())]).await;
    let err = client.tenant_certificate().await.expect_err("404");
    assert!(
        matches!(err, Auth0Error::Rejected { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

// ---- Against the real auth0-emulator ----------------------------------------------------

mod against_emulator {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use serde_json::{Map, Value, json};
    use sso_operator::auth0::model::{MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY};
    use sso_operator::auth0::{Auth0Client, Auth0Error, ConnectionUpdate, NewConnection};
    use sso_operator::certs::Certificate;
    use sso_operator::emulator::admin::AdminClient;
    use sso_operator::emulator::{
        self, ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, RateLimit,
        RunningEmulator,
    };
    use url::Url;

    use super::fast_config;

    fn emulator_config() -> EmulatorConfig {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..EmulatorConfig::default()
        }
    }

    struct Tenant {
        emulator: RunningEmulator,
        admin: AdminClient,
    }

    impl Tenant {
        async fn start(config: EmulatorConfig) -> Tenant {
            let emulator = emulator::start(config).await.expect("emulator starts");
            Tenant {
                admin: AdminClient::new(emulator.base_url()),
                emulator,
            }
        }

        fn base(&self) -> Url {
            Url::parse(&self.emulator.base_url()).expect("base url")
        }

        fn client(&self) -> Auth0Client {
            self.client_as(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        }

        fn client_as(&self, id: &str, secret: &str) -> Auth0Client {
            Auth0Client::new(fast_config(self.base(), id, secret)).expect("client")
        }

        async fn count(&self, key: &str) -> u64 {
            self.admin.count(key).await.expect("stats")
        }

        async fn add_fault(&self, rule: Value) {
            self.admin
                .add_fault(rule)
                .await
                .expect("fault rule refused");
        }
    }

    fn signing_cert() -> String {
        let xml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/idp-metadata/okta-app.xml"
        ))
        .expect("fixture");
        let start = xml.find("X509Certificate>").expect("cert") + "X509Certificate>".len();
        let end = start + xml[start..].find('<').expect("cert end");
        Certificate::from_base64_text(&xml[start..end])
            .expect("certificate")
            .signing_cert_value()
    }

    fn new_connection(name: &str) -> NewConnection {
        let options = json!({
            "signInEndpoint": "https://idp.example.com/sso",
            "signOutEndpoint": "https://idp.example.com/slo",
            "signingCert": signing_cert(),
            "signSAMLRequest": true,
            "signatureAlgorithm": "rsa-sha256",
            "digestAlgorithm": "sha256",
            "protocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            "domain_aliases": ["acme.com"]
        });
        NewConnection {
            name: name.to_string(),
            strategy: "samlp".into(),
            options: options.as_object().cloned().unwrap_or_default(),
            metadata: BTreeMap::from([
                (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
                (OWNER_KEY.to_string(), "customers/acme".to_string()),
            ]),
            display_name: None,
            show_as_button: None,
        }
    }

    #[tokio::test]
    async fn a_connection_goes_through_create_read_find_update_and_delete() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client();

        let created = client
            .create_connection(&new_connection("acme-azure"))
            .await
            .expect("created");
        assert!(created.id.starts_with("con_"));
        assert_eq!(created.strategy, "samlp");

        let read = client
            .get_connection(&created.id)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(read.metadata_value(MANAGED_BY_KEY), Some(MANAGED_BY_VALUE));
        let options = read.options_object().expect("options readable").clone();
        assert_eq!(options["signInEndpoint"], "https://idp.example.com/sso");
        assert!(
            options.contains_key("thumbprints"),
            "derived keys are present"
        );

        let found = client
            .find_connection_by_name("acme-azure")
            .await
            .expect("list")
            .expect("found by name");
        assert_eq!(found.id, created.id);
        assert!(
            client
                .find_connection_by_name("nobody")
                .await
                .expect("list")
                .is_none()
        );

        let mut merged: Map<String, Value> = options.clone();
        merged.insert("debug".into(), json!(true));
        merged.insert(
            "signInEndpoint".into(),
            json!("https://idp.example.com/sso2"),
        );
        let updated = client
            .update_connection(
                &created.id,
                &ConnectionUpdate {
                    options: Some(merged),
                    ..ConnectionUpdate::default()
                },
            )
            .await
            .expect("updated");
        assert_eq!(
            updated.options.as_ref().expect("options")["debug"],
            json!(true)
        );
        let reread = client
            .get_connection(&created.id)
            .await
            .expect("read")
            .expect("exists");
        let reread_options = reread.options_object().expect("options");
        assert_eq!(
            reread_options["signInEndpoint"],
            "https://idp.example.com/sso2"
        );
        assert_eq!(reread_options["domain_aliases"], json!(["acme.com"]));

        client
            .delete_connection(&created.id)
            .await
            .expect("deleted");
        client
            .delete_connection(&created.id)
            .await
            .expect("already gone is fine");
        assert!(
            client
                .get_connection(&created.id)
                .await
                .expect("read")
                .is_none()
        );
        assert_eq!(tenant.count("DELETE /api/v2/connections/{id} 202").await, 1);
        assert_eq!(tenant.count("DELETE /api/v2/connections/{id} 204").await, 1);

        // Ten calls, one token.
        assert_eq!(client.stats().token_fetches, 1);
        assert_eq!(tenant.count("tokens_issued").await, 1);
    }

    #[tokio::test]
    async fn an_unknown_id_reads_as_none() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client();
        assert!(
            client
                .get_connection("con_0000000000000000")
                .await
                .expect("read")
                .is_none()
        );
        assert_eq!(tenant.count("GET /api/v2/connections/{id} 404").await, 1);
    }

    #[tokio::test]
    async fn a_duplicate_name_is_surfaced_as_a_name_conflict() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client();
        client
            .create_connection(&new_connection("acme"))
            .await
            .expect("created");
        let err = client
            .create_connection(&new_connection("acme"))
            .await
            .expect_err("duplicate");
        assert!(err.is_name_conflict(), "{err}");
        assert!(
            err.to_string()
                .contains("A connection with the same name already exists")
        );
        assert_eq!(tenant.count("POST /api/v2/connections 409").await, 1);
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_ends_in_a_conflict_and_the_name_finds_it() {
        let tenant = Tenant::start(emulator_config()).await;
        tenant
            .add_fault(json!({"method": "POST", "path": "/api/v2/connections", "kind": "reset", "nth": 1, "phase": "after"}))
            .await;
        let client = tenant.client();
        let err = client
            .create_connection(&new_connection("acme"))
            .await
            .expect_err("the retry sees the first POST's connection");
        assert!(err.is_name_conflict(), "{err}");
        let found = client
            .find_connection_by_name("acme")
            .await
            .expect("list")
            .expect("created once");
        assert_eq!(found.metadata_value(OWNER_KEY), Some("customers/acme"));
        assert_eq!(client.stats().retries, 1);
    }

    #[tokio::test]
    async fn a_server_error_is_retried_until_it_succeeds() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client();
        let created = client
            .create_connection(&new_connection("acme"))
            .await
            .expect("created");
        tenant
            .add_fault(
                json!({"method": "GET", "path": "/api/v2/connections/*", "kind": 503, "nth": 1}),
            )
            .await;
        tenant
            .add_fault(
                json!({"method": "GET", "path": "/api/v2/connections/*", "kind": 500, "nth": 2}),
            )
            .await;
        let read = client
            .get_connection(&created.id)
            .await
            .expect("third try works");
        assert!(read.is_some());
        assert_eq!(client.stats().retries, 2);
        assert_eq!(tenant.count("GET /api/v2/connections/{id} 200").await, 1);
    }

    #[tokio::test]
    async fn persistent_server_errors_end_in_unavailable() {
        let tenant = Tenant::start(emulator_config()).await;
        tenant
            .add_fault(json!({"method": "GET", "path": "/api/v2/connections/*", "kind": 502}))
            .await;
        let client = tenant.client();
        let err = client
            .get_connection("con_0000000000000000")
            .await
            .expect_err("always 502");
        assert!(
            matches!(
                err,
                Auth0Error::Unavailable {
                    status: Some(502),
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.reason(), sso_operator::status::Reason::Auth0Unavailable);
    }

    #[tokio::test]
    async fn a_rate_limited_tenant_is_waited_out_without_failures() {
        let tenant = Tenant::start(EmulatorConfig {
            rate_limit: RateLimit::Bucket {
                burst: 2,
                per_second: 2.0,
            },
            ..emulator_config()
        })
        .await;
        // The client's own budget is far above the tenant's, so the tenant must say 429; each
        // round after a reset serves about one waiter, so allow enough rounds for all six.
        let mut config = fast_config(tenant.base(), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
        config.max_retries = 10;
        let client = Auth0Client::new(config).expect("client");
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move { c.get_connection("con_0000000000000000").await })
            })
            .collect();
        for call in calls {
            assert!(
                call.await
                    .expect("join")
                    .expect("eventually served")
                    .is_none()
            );
        }
        assert!(client.stats().rate_limited >= 1);
        assert!(tenant.count("rate_limited").await >= 1);
        assert_eq!(tenant.count("GET /api/v2/connections/{id} 404").await, 6);
    }

    #[tokio::test]
    async fn a_client_budget_below_the_tenant_limit_never_sees_a_429() {
        let tenant = Tenant::start(EmulatorConfig {
            rate_limit: RateLimit::Bucket {
                burst: 2,
                per_second: 5.0,
            },
            ..emulator_config()
        })
        .await;
        let mut config = fast_config(tenant.base(), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
        config.rate_per_second = 4.0;
        config.burst = 1;
        let client = Auth0Client::new(config).expect("client");
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move { c.get_connection("con_0000000000000000").await })
            })
            .collect();
        for call in calls {
            assert!(call.await.expect("join").expect("served").is_none());
        }
        assert_eq!(tenant.count("rate_limited").await, 0);
        assert_eq!(client.stats().rate_limited, 0);
    }

    #[tokio::test]
    async fn an_expired_token_is_replaced_before_it_is_used() {
        let tenant = Tenant::start(EmulatorConfig {
            token_ttl_secs: 1,
            ..emulator_config()
        })
        .await;
        let client = tenant.client();
        client
            .get_connection("con_0000000000000000")
            .await
            .expect("first");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        client
            .get_connection("con_0000000000000000")
            .await
            .expect("second");
        assert_eq!(client.stats().token_fetches, 2);
        assert_eq!(tenant.count("tokens_issued").await, 2);
        assert_eq!(tenant.count("GET /api/v2/connections/{id} 401").await, 0);
    }

    #[tokio::test]
    async fn enabling_clients_adds_in_chunks_and_never_disables_others() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client();
        let created = client
            .create_connection(&new_connection("acme"))
            .await
            .expect("created");
        client
            .enable_clients(&created.id, &["enabled-by-someone-else".to_string()])
            .await
            .expect("enabled");
        let ours: Vec<String> = (0..120).map(|i| format!("app{i:03}")).collect();
        client
            .enable_clients(&created.id, &ours)
            .await
            .expect("enabled");
        client
            .enable_clients(&created.id, &[])
            .await
            .expect("no-op");

        let enabled = client
            .enabled_clients(&created.id)
            .await
            .expect("all pages");
        assert_eq!(enabled.len(), 121);
        assert!(enabled.contains(&"enabled-by-someone-else".to_string()));
        assert!(ours.iter().all(|id| enabled.contains(id)));
        // One call for the first id, three for 120 ids, none for the empty list.
        assert_eq!(
            tenant
                .count("PATCH /api/v2/connections/{id}/clients 204")
                .await,
            4
        );
        assert!(
            tenant
                .count("GET /api/v2/connections/{id}/clients 200")
                .await
                >= 2
        );
    }

    #[tokio::test]
    async fn a_token_without_the_options_scope_reads_connections_without_options() {
        let tenant = Tenant::start(EmulatorConfig {
            extra_clients: vec![ClientSpec {
                id: "narrow".into(),
                secret: "narrow-secret".into(),
                scopes: vec![
                    "read:connections".into(),
                    "create:connections".into(),
                    "update:connections".into(),
                ],
            }],
            ..emulator_config()
        })
        .await;
        let created = tenant
            .client()
            .create_connection(&new_connection("acme"))
            .await
            .expect("created");
        let narrow = tenant.client_as("narrow", "narrow-secret");
        let read = narrow
            .get_connection(&created.id)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(read.options, None);
        assert_eq!(
            narrow.missing_scopes().await.expect("token"),
            vec![
                "delete:connections",
                "read:connections_options",
                "update:connections_options"
            ]
        );
        assert!(
            tenant
                .client()
                .missing_scopes()
                .await
                .expect("token")
                .is_empty()
        );
    }

    /// The drift listing: only `samlp` connections, in checkpoint pages of 100 past 100
    /// connections, options included; without the options scope the listing is unusable.
    #[tokio::test]
    async fn the_drift_listing_pages_through_samlp_connections_only() {
        let tenant = Tenant::start(EmulatorConfig {
            extra_clients: vec![ClientSpec {
                id: "narrow".into(),
                secret: "narrow-secret".into(),
                scopes: vec!["read:connections".into()],
            }],
            ..emulator_config()
        })
        .await;
        let client = tenant.client();
        for i in 0..230 {
            client
                .create_connection(&new_connection(&format!("saml-{i:03}")))
                .await
                .expect("created");
        }
        for i in 0..12 {
            let mut social = new_connection(&format!("social-{i:02}"));
            social.strategy = "google-oauth2".into();
            client.create_connection(&social).await.expect("created");
        }
        let before = tenant.count("GET /api/v2/connections 200").await;
        let listed = client
            .list_connections_of_strategy("samlp")
            .await
            .expect("listed");
        assert_eq!(listed.len(), 230);
        assert!(
            listed
                .iter()
                .all(|c| c.strategy == "samlp" && c.options.is_some())
        );
        assert_eq!(
            tenant.count("GET /api/v2/connections 200").await - before,
            3,
            "230 connections in pages of 100"
        );
        let listing = sso_operator::drift::Listing::new(jiff::Timestamp::now(), listed);
        assert!(listing.usable);
        let narrow = tenant.client_as("narrow", "narrow-secret");
        let bare = narrow
            .list_connections_of_strategy("samlp")
            .await
            .expect("listed without options");
        assert_eq!(bare.len(), 230);
        let listing = sso_operator::drift::Listing::new(jiff::Timestamp::now(), bare);
        assert!(
            !listing.usable,
            "a listing without options concludes nothing"
        );
    }

    #[tokio::test]
    async fn wrong_credentials_are_a_token_error() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client_as(DEFAULT_CLIENT_ID, "not-the-secret");
        let err = client
            .get_connection("con_0000000000000000")
            .await
            .expect_err("refused");
        assert!(
            matches!(err, Auth0Error::Token { status: 401, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("not-the-secret"));
        assert_eq!(tenant.count("tokens_issued").await, 0);
    }

    #[tokio::test]
    async fn a_scope_granted_after_a_403_is_used_by_the_next_call() {
        let tenant = Tenant::start(EmulatorConfig {
            extra_clients: vec![ClientSpec {
                id: "no-create".into(),
                secret: "no-create-secret".into(),
                scopes: vec!["read:connections".into()],
            }],
            ..emulator_config()
        })
        .await;
        let client = tenant.client_as("no-create", "no-create-secret");
        let err = client
            .create_connection(&new_connection("acme"))
            .await
            .expect_err("create:connections is missing");
        assert!(err.is_insufficient_scope(), "{err}");
        assert_eq!(
            err.reason(),
            sso_operator::status::Reason::InsufficientScope
        );

        // Granted in the Dashboard while the operator runs: the same client picks it up.
        tenant
            .admin
            .grant_scopes("no-create", &["read:connections", "create:connections"])
            .await
            .expect("granted");
        client
            .create_connection(&new_connection("acme"))
            .await
            .expect("the next call uses a token with the new grant");
        assert_eq!(client.stats().token_fetches, 2);
        assert_eq!(tenant.count("POST /api/v2/connections 403").await, 1);
        assert_eq!(tenant.count("POST /api/v2/connections 201").await, 1);
    }

    #[tokio::test]
    async fn an_options_scope_granted_after_a_read_without_options_is_used_by_the_next_read() {
        let tenant = Tenant::start(EmulatorConfig {
            extra_clients: vec![ClientSpec {
                id: "no-options".into(),
                secret: "no-options-secret".into(),
                scopes: vec!["read:connections".into()],
            }],
            ..emulator_config()
        })
        .await;
        let created = tenant
            .client()
            .create_connection(&new_connection("acme"))
            .await
            .expect("created");
        let client = tenant.client_as("no-options", "no-options-secret");
        let read = client.get_connection(&created.id).await.expect("read");
        assert_eq!(read.expect("exists").options, None);
        tenant
            .admin
            .grant_scopes(
                "no-options",
                &["read:connections", "read:connections_options"],
            )
            .await
            .expect("granted");
        let read = client.get_connection(&created.id).await.expect("read");
        assert!(read.expect("exists").options.is_some());
        assert_eq!(client.stats().token_fetches, 2);
    }

    #[tokio::test]
    async fn a_name_still_being_deleted_is_a_transient_error() {
        let tenant = Tenant::start(EmulatorConfig {
            deletion_lag_ms: 60_000,
            ..emulator_config()
        })
        .await;
        let client = tenant.client();
        let created = client
            .create_connection(&new_connection("acme"))
            .await
            .expect("created");
        client
            .delete_connection(&created.id)
            .await
            .expect("deleted");
        let err = client
            .create_connection(&new_connection("acme"))
            .await
            .expect_err("the name is still being deleted");
        assert!(
            matches!(err, Auth0Error::NameBeingDeleted { .. }),
            "{err:?}"
        );
        assert!(err.is_transient());
        assert!(!err.is_name_conflict());
        assert_eq!(err.reason(), sso_operator::status::Reason::Auth0Unavailable);
        assert!(err.to_string().contains("try again later"), "{err}");
        // Other names are not affected, and the name is free once the deletion is over.
        client
            .create_connection(&new_connection("other"))
            .await
            .expect("another name");
        tenant
            .admin
            .set_config(json!({"deletion_lag_ms": 0}))
            .await
            .expect("config");
        client
            .create_connection(&new_connection("acme"))
            .await
            .expect("the deletion has finished");
    }

    #[tokio::test]
    async fn a_failed_connection_patch_is_left_to_the_caller_to_retry() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client();
        let created = client
            .create_connection(&new_connection("acme"))
            .await
            .expect("created");
        let update = ConnectionUpdate {
            options: created.options_object().cloned(),
            ..ConnectionUpdate::default()
        };
        tenant
            .add_fault(
                json!({"method": "PATCH", "path": "/api/v2/connections/*", "kind": 503, "nth": 1}),
            )
            .await;
        let err = client
            .update_connection(&created.id, &update)
            .await
            .expect_err("503");
        assert!(
            matches!(
                err,
                Auth0Error::Unavailable {
                    status: Some(503),
                    ..
                }
            ),
            "{err:?}"
        );
        tenant
            .add_fault(
                json!({"method": "PATCH", "path": "/api/v2/connections/*", "kind": 429, "nth": 1}),
            )
            .await;
        let err = client
            .update_connection(&created.id, &update)
            .await
            .expect_err("429");
        assert!(matches!(err, Auth0Error::RateLimited { .. }), "{err:?}");
        assert!(err.is_transient());
        // One PATCH each: the merged body is never resent by the client.
        assert_eq!(tenant.count("PATCH /api/v2/connections/{id} 503").await, 1);
        assert_eq!(tenant.count("PATCH /api/v2/connections/{id} 429").await, 1);
        assert_eq!(tenant.count("PATCH /api/v2/connections/{id} 200").await, 0);
        // Reads, and the idempotent enabled-clients PATCH, are still retried in the client.
        tenant
            .add_fault(json!({"method": "PATCH", "path": "/api/v2/connections/*/clients", "kind": 503, "nth": 1}))
            .await;
        client
            .enable_clients(&created.id, &["app".to_string()])
            .await
            .expect("retried");
    }

    #[tokio::test]
    async fn the_tenant_certificate_is_the_emulators_connection_certificate() {
        let tenant = Tenant::start(emulator_config()).await;
        let client = tenant.client();
        let served = reqwest::get(format!(
            "{}/pem?cert=connection",
            tenant.emulator.base_url()
        ))
        .await
        .expect("pem")
        .text()
        .await
        .expect("text");
        let cert = client.tenant_certificate().await.expect("fetched");
        assert_eq!(cert, Certificate::from_pem(&served).expect("served PEM"));
        assert_eq!(cert.subject_cn(), Some("emulator.local"));
        client.tenant_certificate().await.expect("cached");
        // The test's own request and the client's first one; no token was needed.
        assert_eq!(tenant.count("GET /pem 200").await, 2);
        assert_eq!(tenant.count("tokens_issued").await, 0);
    }
}
