//! Every entry of `tests/fixtures/idp-metadata/expected.json`, through the parser and
//! through `metadata inspect`'s renderer.

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sso_operator::certs::rfc3339;
use sso_operator::cli::OutputFormat;
use sso_operator::inspect::render;
use sso_operator::metadata::{IdpMetadata, MetadataError, parse_idp_metadata};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/idp-metadata");

/// Inside the window in which every recorded certificate status holds.
fn now() -> Timestamp {
    "2026-11-23T00:00:00Z".parse().unwrap()
}

fn expected_entries() -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("expected.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Array(entries) => entries,
        other => panic!("expected.json is not an array: {other}"),
    }
}

/// The input bytes of an entry: the stored file, or the generator's output checked against the
/// recorded size and SHA-256.
fn input_bytes(entry: &Value, tmp: &Path) -> Vec<u8> {
    let file = entry["file"].as_str().unwrap();
    let Some(generator) = entry["generator"].as_str() else {
        return std::fs::read(Path::new(FIXTURES).join(file)).unwrap();
    };
    let out: PathBuf = tmp.join(file);
    let status = Command::new("python3")
        .arg(Path::new(FIXTURES).join(generator))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "{generator} failed");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        bytes.len() as u64,
        entry["generated_bytes"].as_u64().unwrap(),
        "{file}: generated size"
    );
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        entry["generated_sha256"].as_str().unwrap(),
        "{file}: generated SHA-256"
    );
    bytes
}

fn parse(entry: &Value, bytes: &[u8]) -> Result<IdpMetadata, MetadataError> {
    parse_idp_metadata(bytes, entry["select_entity_id"].as_str(), now())
}

fn label(entry: &Value) -> String {
    match entry["select_entity_id"].as_str() {
        Some(id) => format!("{} (entity {id})", entry["file"].as_str().unwrap()),
        None => entry["file"].as_str().unwrap().to_string(),
    }
}

fn check_ok(label: &str, entry: &Value, md: &IdpMetadata) {
    assert_eq!(
        md.entity_id,
        entry["entity_id"].as_str().unwrap(),
        "{label}: entity_id"
    );
    assert_eq!(
        md.sso_redirect.as_deref(),
        entry["sso"]["HTTP-Redirect"].as_str(),
        "{label}: SSO HTTP-Redirect"
    );
    assert_eq!(
        md.sso_post.as_deref(),
        entry["sso"]["HTTP-POST"].as_str(),
        "{label}: SSO HTTP-POST"
    );
    assert_eq!(md.slo.as_deref(), entry["slo"].as_str(), "{label}: slo");
    let sha256: Vec<String> = md.signing_certs.iter().map(|c| c.sha256_hex()).collect();
    let expected_sha256: Vec<&str> = entry["signing_certs_sha256"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(sha256, expected_sha256, "{label}: signing_certs_sha256");
    let expected_certs = entry["signing_certs"].as_array().unwrap();
    assert_eq!(
        md.signing_certs.len(),
        expected_certs.len(),
        "{label}: cert count"
    );
    for (cert, want) in md.signing_certs.iter().zip(expected_certs) {
        assert_eq!(
            cert.sha256_hex(),
            want["sha256"].as_str().unwrap(),
            "{label}"
        );
        assert_eq!(
            cert.sha1_hex(),
            want["sha1"].as_str().unwrap(),
            "{label}: sha1"
        );
        assert_eq!(
            cert.subject_cn(),
            want["subject_cn"].as_str(),
            "{label}: subject_cn"
        );
        assert_eq!(
            rfc3339(cert.not_before()),
            want["not_before"].as_str().unwrap(),
            "{label}: not_before"
        );
        assert_eq!(
            rfc3339(cert.not_after()),
            want["not_after"].as_str().unwrap(),
            "{label}: not_after"
        );
        assert_eq!(
            cert.validity_at(now()).as_str(),
            want["status"].as_str().unwrap(),
            "{label}: status"
        );
    }
    assert_eq!(
        md.valid_until.as_deref(),
        entry["valid_until"].as_str(),
        "{label}: valid_until"
    );
    assert_eq!(
        md.cache_duration.as_deref(),
        entry["cache_duration"].as_str(),
        "{label}: cache_duration"
    );
}

fn check_err(label: &str, entry: &Value, err: &MetadataError) {
    assert_eq!(
        Some(err.kind()),
        entry["error_kind"].as_str(),
        "{label}: error kind ({err})"
    );
    if let Some(count) = entry.get("entity_count").and_then(Value::as_u64) {
        match err {
            MetadataError::AmbiguousEntities {
                count: got,
                entity_ids,
            } => {
                assert_eq!(*got as u64, count, "{label}: entity_count");
                assert_eq!(entity_ids.len() as u64, count, "{label}: listed entity IDs");
            }
            other => panic!("{label}: entity_count given but the error is {other:?}"),
        }
    }
    for field in ["entity_id", "sso", "slo", "valid_until", "cache_duration"] {
        assert!(entry[field].is_null(), "{label}: failed entry has {field}");
    }
}

#[test]
fn every_fixture_parses_as_expected_json_records() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = expected_entries();
    let mut checked = 0;
    for entry in &entries {
        let label = label(entry);
        let bytes = input_bytes(entry, tmp.path());
        let result = parse(entry, &bytes);
        match (&result, entry["ok"].as_bool().unwrap()) {
            (Ok(md), true) => check_ok(&label, entry, md),
            (Err(err), false) => check_err(&label, entry, err),
            (Ok(md), false) => panic!("{label}: expected {}, got {md:?}", entry["error_kind"]),
            (Err(err), true) => panic!("{label}: expected success, got {err}"),
        }
        checked += 1;
    }
    assert_eq!(checked, entries.len());
    assert_eq!(
        checked, 20,
        "expected.json changed size; review the new entries"
    );
}

#[test]
fn every_fixture_renders_as_inspect_json_with_the_documented_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = expected_entries();
    let mut checked = 0;
    for entry in &entries {
        let label = label(entry);
        let bytes = input_bytes(entry, tmp.path());
        let result = parse(entry, &bytes);
        let (stdout, code) = render(&result, now(), OutputFormat::Json);
        let json: Value = serde_json::from_str(&stdout).unwrap();
        if entry["ok"].as_bool().unwrap() {
            assert_eq!(code, 0, "{label}");
            let keys: Vec<&str> = json
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                [
                    "entityId",
                    "singleSignOnServices",
                    "singleLogoutService",
                    "signingCertificates"
                ],
                "{label}"
            );
            assert_eq!(json["entityId"], entry["entity_id"], "{label}");
            assert_eq!(json["singleLogoutService"], entry["slo"], "{label}");
            for binding in ["HTTP-Redirect", "HTTP-POST"] {
                let got = json["singleSignOnServices"].get(binding);
                match entry["sso"][binding].as_str() {
                    Some(url) => assert_eq!(got.and_then(Value::as_str), Some(url), "{label}"),
                    None => assert!(got.is_none(), "{label}: {binding} not offered"),
                }
            }
            let certs = json["signingCertificates"].as_array().unwrap();
            let expected = entry["signing_certs"].as_array().unwrap();
            assert_eq!(certs.len(), expected.len(), "{label}");
            for (cert, want) in certs.iter().zip(expected) {
                assert_eq!(cert["sha256Fingerprint"], want["sha256"], "{label}");
                assert_eq!(cert["sha1Thumbprint"], want["sha1"], "{label}");
                assert_eq!(cert["notBefore"], want["not_before"], "{label}");
                assert_eq!(cert["notAfter"], want["not_after"], "{label}");
                assert_eq!(cert["expired"], want["status"] == "expired", "{label}");
                assert!(cert["subject"].as_str().is_some(), "{label}");
            }
            let selected = certs.iter().filter(|c| c["selected"] == true).count();
            assert_eq!(selected, 1, "{label}: exactly one certificate is selected");
        } else {
            assert_eq!(code, 2, "{label}");
            assert_eq!(json["error"]["kind"], entry["error_kind"], "{label}");
            assert!(
                json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
            assert_eq!(json.as_object().unwrap().len(), 1, "{label}");
        }
        checked += 1;
    }
    assert_eq!(checked, entries.len());
}

#[test]
fn inspect_table_shows_endpoints_and_marks_the_selected_certificate() {
    let bytes = std::fs::read(Path::new(FIXTURES).join("azure-entra-tenant.xml")).unwrap();
    let result = parse_idp_metadata(&bytes, None, now());
    let (stdout, code) = render(&result, now(), OutputFormat::Table);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("https://sts.contoso-example.com/4f2b8c1e-7d3a-4e59-9b61-2c0d5a8e7f13/")
    );
    assert!(stdout.contains("SSO HTTP-POST"));
    // The second certificate lives longer, so it is the one to use.
    let selected_line = stdout.lines().find(|l| l.contains("(selected)")).unwrap();
    assert_eq!(selected_line.trim(), "#2  (selected)");
    assert!(stdout.contains("8bfee73fb2eeea676a338a1cbb50e7720e98d3ab"));
}

#[test]
fn inspect_table_prints_nothing_on_stdout_for_bad_input_and_exits_2() {
    let bytes = std::fs::read(Path::new(FIXTURES).join("truncated.xml")).unwrap();
    let result = parse_idp_metadata(&bytes, None, now());
    assert_eq!(
        render(&result, now(), OutputFormat::Table),
        (String::new(), 2)
    );
}

#[test]
fn error_messages_never_contain_certificate_text() {
    let bytes = std::fs::read(Path::new(FIXTURES).join("bad-certificate.xml")).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let start = text.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let cert_text: String = text[start..start + text[start..].find('<').unwrap()]
        .split_whitespace()
        .collect();
    let err = parse_idp_metadata(&bytes, None, now()).unwrap_err();
    let (stdout, _) = render(&Err(err.clone()), now(), OutputFormat::Json);
    for shown in [err.to_string(), format!("{err:?}"), stdout] {
        assert!(!shown.contains(&cert_text[..40]), "{shown}");
    }
}
