//! The certificate encryption backends: local AES-256-GCM envelopes and the HTTP
//! `encrypt-string` service (a stand-in service runs in the test).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sso_operator::cli::{EncryptionArgs, EncryptionBackend};
use sso_operator::encrypt::{EncryptError, Encryptor, LocalKey, decrypt_local};

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIDtTCCAp2gAwIBAgIJAMKR/NsyfcazMA0GCSqGSIb3DQEBBQUAMEUxCzAJBgNV\n-----END CERTIFICATE-----\n";
const TOKEN: &str = "s2s-token-value";

fn key_text(byte: u8) -> String {
    BASE64.encode([byte; 32])
}

fn local_args(key: &str, key_id: Option<&str>) -> EncryptionArgs {
    EncryptionArgs {
        encryption_backend: EncryptionBackend::Local,
        encryption_key: Some(key.to_string()),
        encryption_key_id: key_id.map(str::to_string),
        encrypt_response_field: "encryptedString".into(),
        encrypt_timeout_seconds: 5,
        ..EncryptionArgs::default()
    }
}

#[tokio::test]
async fn local_encryption_round_trips_the_pem() {
    let encryptor = Encryptor::from_args(&local_args(&key_text(1), None)).expect("local key");
    let out = encryptor.encrypt(PEM).await.expect("encrypts");
    assert_eq!(out.backend, "local");
    assert!(!out.value.contains("BEGIN CERTIFICATE"));
    let key = LocalKey::from_base64(&key_text(1), None).expect("key");
    assert_eq!(decrypt_local(&out.value, &key).expect("decrypts"), PEM);
}

#[tokio::test]
async fn the_envelope_is_version_key_id_and_base64_of_nonce_and_ciphertext() {
    let key = LocalKey::from_base64(&key_text(2), None).expect("key");
    let envelope = key.encrypt(PEM).expect("encrypts");
    let parts: Vec<&str> = envelope.splitn(3, ':').collect();
    assert_eq!(parts[0], "v1");
    assert_eq!(parts[1], key.key_id());
    assert_eq!(parts[1].len(), 8);
    assert!(parts[1].chars().all(|c| c.is_ascii_hexdigit()));
    let blob = BASE64.decode(parts[2]).expect("base64 payload");
    // 12-byte nonce, the ciphertext (as long as the plaintext), 16-byte tag.
    assert_eq!(blob.len(), 12 + PEM.len() + 16);
}

#[test]
fn the_default_key_id_is_derived_from_the_key_and_can_be_overridden() {
    let a = LocalKey::from_base64(&key_text(3), None).expect("key");
    let b = LocalKey::from_base64(&key_text(4), None).expect("key");
    assert_ne!(a.key_id(), b.key_id());
    let named = LocalKey::from_base64(&key_text(3), Some("prod-2026")).expect("key");
    assert_eq!(named.key_id(), "prod-2026");
    assert!(
        named
            .encrypt(PEM)
            .expect("encrypts")
            .starts_with("v1:prod-2026:")
    );
}

#[test]
fn each_encryption_uses_a_fresh_nonce() {
    let key = LocalKey::from_base64(&key_text(5), None).expect("key");
    let first = key.encrypt(PEM).expect("encrypts");
    let second = key.encrypt(PEM).expect("encrypts");
    assert_ne!(first, second);
    let nonce = |e: &str| {
        BASE64
            .decode(e.splitn(3, ':').nth(2).expect("payload"))
            .expect("b64")[..12]
            .to_vec()
    };
    assert_ne!(nonce(&first), nonce(&second));
}

#[test]
fn decrypting_with_another_key_names_the_key_id_needed() {
    let writer = LocalKey::from_base64(&key_text(6), None).expect("key");
    let reader = LocalKey::from_base64(&key_text(7), None).expect("key");
    let envelope = writer.encrypt(PEM).expect("encrypts");
    let err = decrypt_local(&envelope, &reader).expect_err("wrong key");
    assert!(matches!(err, EncryptError::KeyMismatch { .. }));
    assert!(err.to_string().contains(writer.key_id()), "{err}");
    assert_eq!(err.reason(), sso_operator::status::Reason::EncryptionFailed);
}

#[test]
fn another_key_under_the_same_id_fails_authentication() {
    let writer = LocalKey::from_base64(&key_text(6), Some("shared")).expect("key");
    let reader = LocalKey::from_base64(&key_text(7), Some("shared")).expect("key");
    let envelope = writer.encrypt(PEM).expect("encrypts");
    assert!(matches!(
        decrypt_local(&envelope, &reader),
        Err(EncryptError::Tampered { .. })
    ));
}

#[test]
fn tampered_ciphertext_is_refused() {
    let key = LocalKey::from_base64(&key_text(8), None).expect("key");
    let envelope = key.encrypt(PEM).expect("encrypts");
    let (head, payload) = envelope.rsplit_once(':').expect("envelope");
    let mut blob = BASE64.decode(payload).expect("b64");
    blob[20] ^= 0x01;
    let tampered = format!("{head}:{}", BASE64.encode(blob));
    let err = decrypt_local(&tampered, &key).expect_err("tampered");
    assert!(matches!(err, EncryptError::Tampered { .. }));
    assert!(err.to_string().contains("modified"), "{err}");
}

#[test]
fn relabelling_an_envelope_with_another_key_id_is_detected() {
    let key = LocalKey::from_base64(&key_text(9), Some("old")).expect("key");
    let envelope = key.encrypt(PEM).expect("encrypts");
    let relabelled = envelope.replacen("v1:old:", "v1:new:", 1);
    let renamed = LocalKey::from_base64(&key_text(9), Some("new")).expect("key");
    assert!(matches!(
        decrypt_local(&relabelled, &renamed),
        Err(EncryptError::Tampered { .. })
    ));
}

#[test]
fn garbage_is_not_an_envelope() {
    let key = LocalKey::from_base64(&key_text(10), None).expect("key");
    for input in [
        "",
        "hello",
        "v2:abc:AAAA",
        &format!("v1:{}:***", key.key_id()),
    ] {
        assert!(
            matches!(decrypt_local(input, &key), Err(EncryptError::Envelope(_))),
            "{input:?}"
        );
    }
}

#[test]
fn a_missing_or_short_key_names_the_flag_to_fix() {
    let err = Encryptor::from_args(&EncryptionArgs::default()).expect_err("no key");
    assert!(err.to_string().contains("--encryption-key-file"), "{err}");
    let err =
        Encryptor::from_args(&local_args(&BASE64.encode([1u8; 16]), None)).expect_err("short");
    assert!(err.to_string().contains("32 bytes"), "{err}");
    assert!(err.to_string().contains("--encryption-key-file"), "{err}");
}

#[test]
fn the_key_file_wins_and_the_key_never_shows_in_debug() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key");
    std::fs::write(&path, format!("{}\n", key_text(11))).expect("write");
    let args = EncryptionArgs {
        encryption_key_file: Some(path),
        ..local_args("not base64 at all", None)
    };
    let encryptor = Encryptor::from_args(&args).expect("key from file");
    let shown = format!("{encryptor:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(!shown.contains(&key_text(11)), "{shown}");
    assert!(!shown.contains("11, 11"), "{shown}");
}

/// What the stand-in encryption service answers.
#[derive(Clone, Copy)]
enum Mode {
    Json,
    PlainText,
    Fail,
}

async fn start_service(mode: Mode) -> SocketAddr {
    let app = Router::new().route(
        "/encrypt-string",
        post(
            move |headers: HeaderMap, body: axum::Json<serde_json::Value>| async move {
                let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some(&format!("Bearer {TOKEN}"));
                if !authorized {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let Some(pem) = body.get("string").and_then(|s| s.as_str()) else {
                    return StatusCode::BAD_REQUEST.into_response();
                };
                let sealed = format!("sealed:{}", BASE64.encode(pem));
                let response: Response = match mode {
                    Mode::Json => {
                        axum::Json(serde_json::json!({ "encryptedString": sealed })).into_response()
                    }
                    Mode::PlainText => sealed.into_response(),
                    // A careless service that echoes its input in the error body.
                    Mode::Fail => {
                        (StatusCode::INTERNAL_SERVER_ERROR, pem.to_string()).into_response()
                    }
                };
                response
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn http_args(addr: SocketAddr, token_file: Option<PathBuf>) -> EncryptionArgs {
    EncryptionArgs {
        encryption_backend: EncryptionBackend::Http,
        encrypt_url: Some(format!("http://{addr}/")),
        encrypt_token_file: token_file,
        encrypt_response_field: "encryptedString".into(),
        encrypt_timeout_seconds: 5,
        ..EncryptionArgs::default()
    }
}

fn token_file(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("token");
    std::fs::write(&path, format!("  {TOKEN}\n")).expect("write token");
    path
}

#[tokio::test]
async fn http_backend_reads_the_ciphertext_from_the_json_field() {
    let addr = start_service(Mode::Json).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let encryptor = Encryptor::from_args(&http_args(addr, Some(token_file(&dir)))).expect("http");
    assert_eq!(encryptor.backend(), "http");
    let out = encryptor.encrypt(PEM).await.expect("encrypts");
    assert_eq!(out.value, format!("sealed:{}", BASE64.encode(PEM)));
    assert_eq!(out.backend, "http");
    assert_eq!(out.key_id, "http");
}

#[tokio::test]
async fn http_backend_accepts_a_plain_text_body() {
    let addr = start_service(Mode::PlainText).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let encryptor = Encryptor::from_args(&http_args(addr, Some(token_file(&dir)))).expect("http");
    let out = encryptor.encrypt(PEM).await.expect("encrypts");
    assert_eq!(out.value, format!("sealed:{}", BASE64.encode(PEM)));
}

#[tokio::test]
async fn a_service_error_reports_the_status_without_the_pem_or_token() {
    let addr = start_service(Mode::Fail).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let encryptor = Encryptor::from_args(&http_args(addr, Some(token_file(&dir)))).expect("http");
    let err = encryptor.encrypt(PEM).await.expect_err("500");
    let text = format!("{err} {err:?}");
    assert!(text.contains("500"), "{text}");
    assert!(!text.contains("BEGIN CERTIFICATE"), "{text}");
    assert!(!text.contains("MIIDtTCC"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert_eq!(err.reason(), sso_operator::status::Reason::EncryptionFailed);
}

#[tokio::test]
async fn a_wrong_token_is_reported_as_the_services_status() {
    let addr = start_service(Mode::Json).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token");
    std::fs::write(&path, "stale").expect("write");
    let encryptor = Encryptor::from_args(&http_args(addr, Some(path))).expect("http");
    let err = encryptor.encrypt(PEM).await.expect_err("401");
    assert!(
        matches!(err, EncryptError::Status { status: 401, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_token_file_fails_at_encryption_not_at_start() {
    let addr = start_service(Mode::Json).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("absent");
    let encryptor =
        Encryptor::from_args(&http_args(addr, Some(missing.clone()))).expect("starts anyway");
    let err = encryptor.encrypt(PEM).await.expect_err("no token");
    assert!(matches!(err, EncryptError::TokenFile { .. }), "{err}");
    assert!(err.to_string().contains("--encrypt-token-file"), "{err}");

    // Once the Secret is mounted, the same encryptor works.
    std::fs::write(&missing, TOKEN).expect("write token");
    assert!(encryptor.encrypt(PEM).await.is_ok());
}

#[test]
fn the_http_backend_needs_a_url() {
    let args = EncryptionArgs {
        encryption_backend: EncryptionBackend::Http,
        ..EncryptionArgs::default()
    };
    let err = Encryptor::from_args(&args).expect_err("no url");
    assert!(err.to_string().contains("--encrypt-url"), "{err}");
}

#[tokio::test]
async fn an_unreachable_service_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let dir = tempfile::tempdir().expect("tempdir");
    let encryptor = Encryptor::from_args(&http_args(addr, Some(token_file(&dir)))).expect("http");
    let err = encryptor.encrypt(PEM).await.expect_err("refused");
    assert!(matches!(err, EncryptError::Request { .. }), "{err}");
}
