//! `sso-operator metadata inspect` as a user runs it: every fixture of both expected.json files
//! (IdP and SP metadata) through the real binary, exit codes, the JSON contract and the table
//! included.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const SSO: &str = env!("CARGO_BIN_EXE_sso-operator");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/idp-metadata")
}

fn sp_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sp-metadata")
}

/// Exit code, stdout and stderr of `metadata inspect FILE ARGS…`.
fn run(file: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(SSO)
        .args(["metadata", "inspect"])
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
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
        } else if entry["error_kind"] == "no_idp_descriptor" {
            // Without an IdP, `inspect` reads the document as the SP metadata it is.
            assert_eq!(code, 0, "{name}: {json}");
            assert!(
                json["serviceProvider"]["entityId"].is_string(),
                "{name}: {json}"
            );
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

#[test]
fn every_stored_sp_fixture_goes_through_the_binary_with_the_expected_outcome() {
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(sp_fixtures().join("expected.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for entry in expected.iter().filter(|e| e["generated_from"].is_null()) {
        let name = entry["file"].as_str().unwrap();
        let (code, json) = inspect(
            &sp_fixtures().join(name),
            entry["select_entity_id"].as_str(),
        );
        if json["entityId"].is_string() {
            // Shown as an identity provider: the IdP document, and the aggregate's one IdP.
            assert!(
                matches!(name, "idp-only.xml" | "entities-several-sps.xml"),
                "{name}"
            );
            assert_eq!(code, 0, "{name}");
        } else if entry["ok"].as_bool().unwrap() {
            assert_eq!(code, 0, "{name}: {json}");
            let sp = &json["serviceProvider"];
            assert_eq!(sp["entityId"], entry["entity_id"], "{name}");
            assert_eq!(
                sp["assertionConsumerService"], entry["acs"]["location"],
                "{name}"
            );
            assert_eq!(
                sp["singleLogoutService"], entry["slo"]["location"],
                "{name}"
            );
            assert_eq!(sp["nameIdFormats"], entry["name_id_formats"], "{name}");
        } else {
            assert_eq!(code, 2, "{name}: {json}");
            assert_eq!(json["error"]["kind"], entry["error_kind"], "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn sp_metadata_in_json_has_every_acs_the_flags_and_both_kinds_of_certificate() {
    let (code, json) = inspect(&sp_fixtures().join("okta-inbound-sp.xml"), None);
    assert_eq!(code, 0);
    let sp = &json["serviceProvider"];
    assert_eq!(
        sp["assertionConsumerServices"],
        serde_json::json!([{
            "binding": "HTTP-POST",
            "location": "https://acme.okta-example.test/sso/saml2/0oa4xbqk2lJtW1mRc5d7",
            "index": 0,
            "isDefault": true,
            "selected": true
        }])
    );
    assert_eq!(sp["singleLogoutService"], Value::Null);
    assert_eq!(
        (&sp["authnRequestsSigned"], &sp["wantAssertionsSigned"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    let cn = |key: &str| sp[key][0]["subject"].as_str().unwrap().to_string();
    assert!(
        cn("signingCertificates").contains("CN=okta-sp-signing"),
        "{sp}"
    );
    assert!(
        cn("encryptionCertificates").contains("CN=okta-sp-encryption"),
        "{sp}"
    );
    assert_eq!(sp["encryptionCertificates"][0]["expired"], false);
}

#[test]
fn an_entity_id_chooses_an_sp_of_an_aggregate() {
    let file = sp_fixtures().join("entities-several-sps.xml");
    let (code, json) = inspect(&file, Some("https://hr.fabrikam.test/sp"));
    assert_eq!(code, 0);
    let sp = &json["serviceProvider"];
    assert_eq!(sp["entityId"], "https://hr.fabrikam.test/sp");
    assert_eq!(sp["assertionConsumerServices"][0]["index"], Value::Null);
    assert_eq!(sp["signingCertificates"], serde_json::json!([]));
    assert_eq!(sp["validUntil"], "2029-12-31T23:59:59Z");
}

#[test]
fn the_sp_table_shows_the_endpoints_used_then_every_endpoint_flag_format_and_certificate() {
    let (code, stdout, stderr) = run(&sp_fixtures().join("shibboleth-sp.xml"), &[]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "Entity ID           https://sp.fabrikam.test/shibboleth",
            "ACS                 https://sp.fabrikam.test/Shibboleth.sso/SAML2/POST (HTTP-POST)",
            "Single logout       https://sp.fabrikam.test/Shibboleth.sso/SLO/POST (HTTP-POST)",
            "Requests signed     false (AuthnRequestsSigned)",
            "Assertions signed   false (WantAssertionsSigned)",
        ]
    );
    assert!(stdout.contains("Assertion consumer services: 6\n  #1  (selected)\n    Binding         HTTP-POST\n    Location        https://sp.fabrikam.test/Shibboleth.sso/SAML2/POST\n    Index           1\n  #2\n    Binding         HTTP-POST-SimpleSign\n"), "{stdout}");
    assert!(
        stdout.contains("    Binding         urn:oasis:names:tc:SAML:1.0:profiles:browser-post\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Single logout services: 4\n  #1\n    Binding         SOAP\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  #3  (selected)\n    Binding         HTTP-POST\n    Location        https://sp.fabrikam.test/Shibboleth.sso/SLO/POST\n"), "{stdout}");
    assert!(stdout.contains("NameID formats: 0\nSigning certificates: 1\n  #1\n    Subject         CN=sp.fabrikam.test\n"), "{stdout}");
    assert!(stdout.ends_with("Encryption certificates: 0\n"), "{stdout}");
}

#[test]
fn the_sp_table_shows_name_id_formats_validity_and_expired_certificates() {
    let (code, stdout, _) = run(&sp_fixtures().join("cloud-console-sp.xml"), &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Single logout       (not offered)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Assertions signed   true (WantAssertionsSigned)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Valid until         2027-09-01Z\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    Index           1\n    Default         true\n"),
        "{stdout}"
    );
    assert!(stdout.contains("NameID formats: 8\n  urn:oasis:names:tc:SAML:2.0:nameid-format:transient\n  urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\n"), "{stdout}");
    assert!(
        stdout.contains("2020-02-21T00:00:00Z .. 2021-02-20T00:00:00Z (expired)"),
        "{stdout}"
    );
}

#[test]
fn an_entity_with_both_roles_shows_its_idp_side_then_its_sp_side() {
    let adfs = fixtures().join("adfs-federationmetadata.xml");
    let (code, table, _) = run(&adfs, &[]);
    assert_eq!(code, 0);
    let (idp, sp) = table
        .split_once("\nService provider (the SPSSODescriptor of the same entity)\n")
        .unwrap();
    assert!(idp.starts_with("Entity ID           http://adfs.fabrikam.test/adfs/services/trust\nSSO HTTP-Redirect   https://adfs.fabrikam.test/adfs/ls/\n"), "{idp}");
    assert!(sp.starts_with("Entity ID           http://adfs.fabrikam.test/adfs/services/trust\nACS                 https://adfs.fabrikam.test/adfs/ls/ (HTTP-POST)\n"), "{sp}");
    let (code, json) = inspect(&adfs, None);
    assert_eq!(code, 0);
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
            "signingCertificates",
            "serviceProvider"
        ]
    );
    assert_eq!(json["serviceProvider"]["wantAssertionsSigned"], true);
    assert_eq!(
        json["serviceProvider"]["assertionConsumerServices"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn unusable_sp_metadata_in_table_mode_is_one_line_on_stderr_naming_the_file() {
    let file = sp_fixtures().join("saml1-only.xml");
    let (code, stdout, stderr) = run(&file, &[]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!(stderr.lines().count(), 1);
    assert!(stderr.starts_with(&format!("error: {} is not usable SP metadata: the SPSSODescriptor of https://old.fabrikam.test/shibboleth-sp does not support SAML 2.0", file.display())), "{stderr}");
}

#[test]
fn hostile_sp_metadata_is_refused_before_anything_is_read() {
    for (file, kind) in [
        ("billion-laughs.xml", "dtd_forbidden"),
        ("xxe-external-entity.xml", "dtd_forbidden"),
        ("not-xml.json", "not_xml"),
    ] {
        let (code, json) = inspect(&sp_fixtures().join(file), None);
        assert_eq!(code, 2, "{file}");
        assert_eq!(json["error"]["kind"], kind, "{file}");
    }
}
