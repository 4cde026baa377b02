//! `sso-operator metadata inspect` as a user runs it: every fixture of expected.json through the
//! real binary, exit codes and the JSON contract included.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const SSO: &str = env!("CARGO_BIN_EXE_sso-operator");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/idp-metadata")
}

fn inspect(file: &Path, entity_id: Option<&str>) -> (i32, Value) {
    let mut cmd = Command::new(SSO);
    cmd.args(["metadata", "inspect"])
        .arg(file)
        .args(["-o", "json"]);
    if let Some(id) = entity_id {
        cmd.args(["--entity-id", id]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{}: {e}: {stdout}", file.display()));
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn every_fixture_goes_through_the_binary_with_the_expected_outcome() {
    let expected: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in &expected {
        let name = entry["file"].as_str().unwrap();
        let path = match entry["generator"].as_str() {
            Some(script) => {
                let out = tmp.path().join(name);
                if !out.exists() {
                    let status = Command::new("python3")
                        .arg(fixtures().join(script))
                        .arg(&out)
                        .status()
                        .expect("python3 runs the fixture generator");
                    assert!(status.success());
                }
                out
            }
            None => fixtures().join(name),
        };
        let (code, json) = inspect(&path, entry["select_entity_id"].as_str());
        if entry["ok"].as_bool().unwrap() {
            assert_eq!(code, 0, "{name}: {json}");
            assert_eq!(json["entityId"], entry["entity_id"], "{name}");
            let shas: Vec<&str> = json["signingCertificates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["sha256Fingerprint"].as_str().unwrap())
                .collect();
            let want: Vec<&str> = entry["signing_certs_sha256"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(shas, want, "{name}");
            assert_eq!(
                json["signingCertificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["selected"] == true)
                    .count(),
                1,
                "{name}: exactly one certificate is selected"
            );
            assert_eq!(json["singleLogoutService"], entry["slo"], "{name}");
        } else {
            assert_eq!(code, 2, "{name}: {json}");
            assert_eq!(json["error"]["kind"], entry["error_kind"], "{name}");
            assert!(!json["error"]["message"].as_str().unwrap().is_empty());
        }
        checked += 1;
    }
    assert_eq!(checked, expected.len());
}

#[test]
fn a_missing_file_is_a_clear_error_with_exit_code_2() {
    let out = Command::new(SSO)
        .args(["metadata", "inspect", "/nonexistent/metadata.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/metadata.xml"), "{stderr}");
}
