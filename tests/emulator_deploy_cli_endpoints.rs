//! What `auth0-emulator` gained so that `auth0-deploy-cli` runs against it
//! (docs/AUTH0_API.md §12, tests/deploy_cli.rs): HTTPS with a certificate from a test CA
//! (`EmulatorConfig::tls`, `--tls-cert`/`--tls-key`), the `https://localhost:PORT` base URL and
//! token audience a client configured with `AUTH0_DOMAIN=localhost:PORT` uses, and
//! `GET /api/v2/connections-directory-provisionings`.

#[path = "support/test_ca.rs"]
mod test_ca;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sso_operator::auth0::{Auth0Client, Auth0Config, Auth0Error};
use sso_operator::emulator::admin::AdminClient;
use sso_operator::emulator::{
    self, ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, RunningEmulator,
};
use sso_operator::secret::SecretString;
use url::Url;

const EMULATOR: &str = env!("CARGO_BIN_EXE_auth0-emulator");
const JSON_UTF8: &str = "application/json; charset=utf-8";

async fn start_tls(pki: &test_ca::TestPki) -> RunningEmulator {
    emulator::start(EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: Some(pki.server.clone()),
        extra_clients: vec![ClientSpec {
            id: "narrow".into(),
            secret: "narrow-secret".into(),
            scopes: vec!["read:connections".into()],
        }],
        ..EmulatorConfig::default()
    })
    .await
    .expect("the emulator starts with TLS")
}

async fn token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    audience: &str,
) -> Value {
    let reply = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": id,
            "client_secret": secret, "audience": audience}))
        .send()
        .await
        .expect("token request");
    assert_eq!(reply.status(), 200);
    reply.json().await.expect("token JSON")
}

#[tokio::test]
async fn with_tls_the_emulator_serves_https_on_localhost_to_clients_that_trust_its_ca() {
    let pki = test_ca::localhost_pki("emulator test CA");
    let running = start_tls(&pki).await;
    let base = running.base_url();
    let port = running.addr().port();
    assert_eq!(base, format!("https://localhost:{port}"));
    let http = test_ca::https_client(&pki.ca_pem);

    // What deploy-cli asks for with AUTH0_DOMAIN=localhost:PORT.
    let audience = format!("https://localhost:{port}/api/v2/");
    let issued = token(
        &http,
        &base,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        &audience,
    )
    .await;
    let access = issued["access_token"].as_str().unwrap();
    let listed = http
        .get(format!("{base}/api/v2/connections"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["content-type"], JSON_UTF8);
    assert_eq!(listed.json::<Value>().await.unwrap(), json!([]));

    // The certificate is verified: a client without the CA cannot connect, nor does plain
    // HTTP get an answer on the TLS port.
    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let refused = untrusting.get(format!("{base}/pem")).send().await;
    assert!(refused.is_err(), "{refused:?}");
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/pem"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.as_ref().is_ok_and(|r| r.status() != 200),
        "{plain:?}"
    );

    // The admin API through a client that trusts the CA.
    let admin = AdminClient::with_http(base.clone(), http.clone());
    let calls = admin.calls().await.unwrap();
    let seen: Vec<String> = calls
        .iter()
        .map(|c| format!("{} {} {}", c.method, c.path, c.status))
        .collect();
    assert_eq!(
        seen,
        ["POST /oauth/token 200", "GET /api/v2/connections 200"]
    );
    running.shutdown().await;
}

#[tokio::test]
async fn the_operator_client_reads_an_https_emulator_when_given_its_ca() {
    let pki = test_ca::localhost_pki("operator test CA");
    let running = start_tls(&pki).await;
    let base = Url::parse(&running.base_url()).unwrap();
    let config = |ca: Option<String>| {
        let mut config = Auth0Config::new(
            base.clone(),
            DEFAULT_CLIENT_ID,
            SecretString::new(DEFAULT_CLIENT_SECRET),
        );
        config.max_retries = 0;
        config.extra_root_certificates = ca;
        config
    };
    // The audience is {base}/api/v2/, https://localhost:PORT/api/v2/.
    assert_eq!(
        config(None).audience,
        format!("https://localhost:{}/api/v2/", running.addr().port())
    );
    let client = Auth0Client::new(config(Some(pki.ca_pem.clone()))).unwrap();
    assert!(client.list_connections().await.unwrap().is_empty());
    assert!(
        client
            .find_connection_by_name("acme")
            .await
            .unwrap()
            .is_none()
    );

    // Without the CA the handshake fails: a transport error, never an answer.
    let untrusting = Auth0Client::new(config(None)).unwrap();
    let err = untrusting.list_connections().await.unwrap_err();
    assert!(
        !matches!(err, Auth0Error::Config { .. }),
        "expected a transport failure, got {err}"
    );

    // Something that is not PEM is refused when the client is built.
    let garbage = Auth0Client::new(config(Some("not a certificate".into())));
    assert!(
        matches!(garbage, Err(Auth0Error::Config { .. })),
        "{:?}",
        garbage.err()
    );
    running.shutdown().await;
}

#[tokio::test]
async fn a_reset_fault_over_tls_closes_the_connection_without_a_response() {
    let pki = test_ca::localhost_pki("reset test CA");
    let running = start_tls(&pki).await;
    let base = running.base_url();
    let http = test_ca::https_client(&pki.ca_pem);
    let admin = AdminClient::with_http(base.clone(), http.clone());
    admin
        .add_fault(
            json!({"method": "GET", "path": "/api/v2/connections", "kind": "reset", "times": 1}),
        )
        .await
        .unwrap();
    let access = admin.management_token().await.unwrap();
    let reset = http
        .get(format!("{base}/api/v2/connections"))
        .bearer_auth(&access)
        .send()
        .await;
    assert!(reset.is_err(), "expected a reset, got {reset:?}");
    // A fresh connection is served again.
    let again = test_ca::https_client(&pki.ca_pem)
        .get(format!("{base}/api/v2/connections"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let faults: Vec<Option<String>> = admin
        .calls()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.path == "/api/v2/connections")
        .map(|c| c.fault)
        .collect();
    assert_eq!(faults, [Some("reset".to_string()), None]);
    running.shutdown().await;
}

#[test]
fn the_binary_serves_https_with_tls_cert_and_tls_key() {
    let pki = test_ca::localhost_pki("binary test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &pki.server.cert_chain_pem).unwrap();
    std::fs::write(&key, &pki.server.key_pem).unwrap();

    let mut child = Command::new(EMULATOR)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("auth0-emulator starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("auth0-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(base.starts_with("https://localhost:"), "{base}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pem = runtime.block_on(async {
        let reply = test_ca::https_client(&pki.ca_pem)
            .get(format!("{base}/pem?cert=connection"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.text().await.unwrap()
    });
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let _ = child.kill();
    let _ = child.wait();

    // The two flags go together; a key that is not PEM is refused at start.
    let alone = Command::new(EMULATOR)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&alone.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );
    let bad_key = dir.path().join("bad.key");
    std::fs::write(&bad_key, "not a key").unwrap();
    let refused = Command::new(EMULATOR)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&bad_key)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("TLS key"), "{stderr}");
    assert!(!stderr.contains("BEGIN"), "{stderr}");
}

/// `GET /api/v2/connections-directory-provisionings` as Auth0's reference describes it: checkpoint
/// pages `{directory_provisionings, next?}`, `take` 1–100, scope `read:directory_provisionings`.
/// The emulator holds no configuration, so the list is empty.
#[tokio::test]
async fn directory_provisionings_list_empty_with_auth0s_checks() {
    let running = emulator::start(EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        extra_clients: vec![ClientSpec {
            id: "narrow".into(),
            secret: "narrow-secret".into(),
            scopes: vec!["read:connections".into()],
        }],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let base = running.base_url();
    let http = reqwest::Client::new();
    let audience = format!("{base}/api/v2/");
    let full = token(
        &http,
        &base,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        &audience,
    )
    .await;
    assert!(
        full["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "read:directory_provisionings"),
        "{full}"
    );
    let full = full["access_token"].as_str().unwrap().to_string();
    let narrow = token(&http, &base, "narrow", "narrow-secret", &audience).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |query: &'static str, token: Option<String>| {
        let http = http.clone();
        let url = format!("{base}/api/v2/connections-directory-provisionings{query}");
        async move {
            let mut req = http.get(url);
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let reply = req.send().await.unwrap();
            let status = reply.status();
            let headers = reply.headers().clone();
            (status, headers, reply.json::<Value>().await.unwrap())
        }
    };

    for query in ["", "?take=50", "?take=1", "?take=100"] {
        let (status, headers, body) = get(query, Some(full.clone())).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(headers["content-type"], JSON_UTF8);
        assert!(headers.contains_key("x-ratelimit-limit"));
        assert_eq!(body, json!({"directory_provisionings": []}), "{query}");
    }
    let bad_query = |message: &str| {
        json!({"statusCode": 400, "error": "Bad Request",
            "message": format!("Invalid request query string. The message is: {message}"),
            "errorCode": "invalid_query_string"})
    };
    for (query, message) in [
        ("?take=0", "take must be an integer between 1 and 100"),
        ("?take=101", "take must be an integer between 1 and 100"),
        ("?take=ten", "take must be an integer between 1 and 100"),
        ("?from=garbage", "from is not a valid checkpoint"),
        ("?page=0", "Additional properties not allowed: page"),
    ] {
        let (status, _, body) = get(query, Some(full.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body, bad_query(message), "{query}");
    }
    let (status, _, body) = get("", Some(narrow)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"statusCode": 403, "error": "Forbidden",
            "message": "Insufficient scope, expected any of: read:directory_provisionings",
            "errorCode": "insufficient_scope"})
    );
    let (status, _, body) = get("", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Missing authentication");
    // Only GET: another method is Auth0's 404 after authentication.
    let posted = http
        .post(format!("{base}/api/v2/connections-directory-provisionings"))
        .bearer_auth(&full)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::NOT_FOUND);

    let admin = AdminClient::new(base.clone());
    assert_eq!(
        admin
            .count("GET /api/v2/connections-directory-provisionings 200")
            .await
            .unwrap(),
        4
    );
    running.shutdown().await;
}
