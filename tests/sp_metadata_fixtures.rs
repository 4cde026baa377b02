//! Every entry of `tests/fixtures/sp-metadata/expected.json`, through the SP metadata parser
//! and through `metadata inspect`'s renderer (the two generated inputs included).

use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;
use sso_operator::certs::{Certificate, rfc3339};
use sso_operator::cli::OutputFormat;
use sso_operator::inspect::{Described, describe, render_described};
use sso_operator::metadata::sp::{
    AssertionConsumerService, LogoutService, SpMetadata, SpMetadataError, parse_sp_metadata,
};
use sso_operator::metadata::{MAX_DEPTH, MAX_METADATA_BYTES};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sp-metadata");

/// Inside the window in which every recorded certificate status holds (README).
fn now() -> Timestamp {
    "2027-01-01T00:00:00Z".parse().unwrap()
}

fn expected_entries() -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("expected.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Array(entries) => entries,
        other => panic!("expected.json is not an array: {other}"),
    }
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(file)).unwrap()
}

/// The input bytes of an entry: the stored file, or built from `generated_from` as the README
/// says.
fn input_bytes(entry: &Value) -> Vec<u8> {
    let file = entry["file"].as_str().unwrap();
    let Some(base) = entry["generated_from"].as_str() else {
        return read(file);
    };
    let base = String::from_utf8(read(base)).unwrap();
    let bytes = match file {
        "oversize-5mib.xml" => {
            let (head, tail) = base.split_at(base.rfind("</EntityDescriptor>").unwrap());
            let filler = 5 * 1024 * 1024 - base.len() - "<!---->\n".len();
            format!("{head}<!--{}-->\n{tail}", "x".repeat(filler))
        }
        "deep-nesting-10000.xml" => {
            let open = "<x:n xmlns:x=\"urn:example:nesting\">".to_string() + &"<x:n>".repeat(9_999);
            let nested = format!("<Extensions>{open}{}</Extensions>", "</x:n>".repeat(10_000));
            base.replacen(
                "\n        <NameIDFormat>",
                &format!("\n        {nested}<NameIDFormat>"),
                1,
            )
        }
        other => panic!("no recipe for {other}"),
    };
    bytes.into_bytes()
}

fn label(entry: &Value) -> String {
    match entry["select_entity_id"].as_str() {
        Some(id) => format!("{} (entity {id})", entry["file"].as_str().unwrap()),
        None => entry["file"].as_str().unwrap().to_string(),
    }
}

fn parse(entry: &Value, bytes: &[u8]) -> Result<SpMetadata, SpMetadataError> {
    parse_sp_metadata(bytes, entry["select_entity_id"].as_str())
}

fn expected_acs(value: &Value) -> AssertionConsumerService {
    AssertionConsumerService {
        binding: value["binding"].as_str().unwrap().to_string(),
        location: value["location"].as_str().unwrap().to_string(),
        index: value["index"].as_u64().map(|i| u16::try_from(i).unwrap()),
        is_default: value["is_default"].as_bool(),
    }
}

fn expected_slo(value: &Value) -> LogoutService {
    LogoutService {
        binding: value["binding"].as_str().unwrap().to_string(),
        location: value["location"].as_str().unwrap().to_string(),
        response_location: value["response_location"].as_str().map(str::to_string),
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// Each certificate as `[sha256, sha1, subject CN, notBefore, notAfter, status]`.
fn cert_rows(certs: &[Certificate]) -> Vec<[String; 6]> {
    certs
        .iter()
        .map(|cert| {
            [
                cert.sha256_hex(),
                cert.sha1_hex(),
                cert.subject_cn().unwrap_or_default().to_string(),
                rfc3339(cert.not_before()),
                rfc3339(cert.not_after()),
                cert.validity_at(now()).as_str().to_string(),
            ]
        })
        .collect()
}

/// The recorded certificates in the shape of [`cert_rows`].
fn expected_cert_rows(expected: &Value) -> Vec<[String; 6]> {
    let field = |cert: &Value, key: &str| cert[key].as_str().unwrap_or_default().to_string();
    expected
        .as_array()
        .unwrap()
        .iter()
        .map(|cert| {
            [
                "sha256",
                "sha1",
                "subject_cn",
                "not_before",
                "not_after",
                "status",
            ]
            .map(|key| field(cert, key))
        })
        .collect()
}

fn check_ok(label: &str, entry: &Value, md: &SpMetadata) {
    assert_eq!(
        md.entity_id,
        entry["entity_id"].as_str().unwrap(),
        "{label}: entity_id"
    );
    assert_eq!(md.audience(), md.entity_id, "{label}: audience");
    let all_acs: Vec<_> = entry["acs_all"]
        .as_array()
        .unwrap()
        .iter()
        .map(expected_acs)
        .collect();
    assert_eq!(md.assertion_consumer_services, all_acs, "{label}: acs_all");
    assert_eq!(
        *md.acs(),
        expected_acs(&entry["acs"]),
        "{label}: chosen acs"
    );
    let all_slo: Vec<_> = entry["slo_all"]
        .as_array()
        .unwrap()
        .iter()
        .map(expected_slo)
        .collect();
    assert_eq!(md.single_logout_services, all_slo, "{label}: slo_all");
    let slo = (!entry["slo"].is_null()).then(|| expected_slo(&entry["slo"]));
    assert_eq!(md.slo(), slo.as_ref(), "{label}: chosen slo");
    assert_eq!(
        md.authn_requests_signed,
        entry["authn_requests_signed"].as_bool().unwrap(),
        "{label}: AuthnRequestsSigned"
    );
    assert_eq!(
        md.want_assertions_signed,
        entry["want_assertions_signed"].as_bool().unwrap(),
        "{label}: WantAssertionsSigned"
    );
    assert_eq!(
        cert_rows(&md.signing_certs),
        expected_cert_rows(&entry["signing_certs"]),
        "{label}: signing certificates"
    );
    assert_eq!(
        cert_rows(&md.encryption_certs),
        expected_cert_rows(&entry["encryption_certs"]),
        "{label}: encryption certificates"
    );
    assert_eq!(
        md.name_id_formats,
        strings(&entry["name_id_formats"]),
        "{label}: NameIDFormats"
    );
    assert_eq!(
        md.valid_until.as_deref(),
        entry["valid_until"].as_str(),
        "{label}: validUntil"
    );
    assert_eq!(
        md.cache_duration.as_deref(),
        entry["cache_duration"].as_str(),
        "{label}: cacheDuration"
    );
}

fn check_err(label: &str, entry: &Value, err: &SpMetadataError) {
    assert_eq!(
        Some(err.kind()),
        entry["error_kind"].as_str(),
        "{label}: error kind ({err})"
    );
    if let Some(count) = entry.get("entity_count").and_then(Value::as_u64) {
        let SpMetadataError::AmbiguousEntities { entity_ids, .. } = err else {
            panic!("{label}: entity_count given but the error is {err:?}");
        };
        assert_eq!(entity_ids.len() as u64, count, "{label}: entity_count");
    }
    assert!(!err.to_string().is_empty(), "{label}: message");
}

#[test]
fn every_fixture_parses_as_expected_json_records() {
    let entries = expected_entries();
    let mut checked = 0;
    for entry in &entries {
        let label = label(entry);
        let bytes = input_bytes(entry);
        match (parse(entry, &bytes), entry["ok"].as_bool().unwrap()) {
            (Ok(md), true) => check_ok(&label, entry, &md),
            (Err(err), false) => check_err(&label, entry, &err),
            (Ok(md), false) => panic!("{label}: expected {}, got {md:?}", entry["error_kind"]),
            (Err(err), true) => panic!("{label}: expected success, got {err}"),
        }
        checked += 1;
    }
    assert_eq!(
        checked, 23,
        "expected.json changed size; review the new entries"
    );
}

#[test]
fn the_generated_inputs_are_what_the_readme_describes() {
    let entries = expected_entries();
    let generated = |name: &str| {
        let entry = entries.iter().find(|e| e["file"] == name).unwrap();
        input_bytes(entry)
    };
    let oversize = generated("oversize-5mib.xml");
    assert_eq!(oversize.len(), 5 * 1024 * 1024);
    assert!(oversize.len() > MAX_METADATA_BYTES);
    // Under the limit the same document is fine: only the size is wrong.
    let base = read("atlassian-cloud-sp.xml");
    assert!(parse_sp_metadata(&base, None).is_ok());
    let deep = String::from_utf8(generated("deep-nesting-10000.xml")).unwrap();
    assert_eq!(deep.matches("<x:n").count(), 10_000);
    assert!(deep.len() < MAX_METADATA_BYTES);
    assert!(deep.matches("<x:n").count() > MAX_DEPTH);
    let shallow =
        deep.replacen(&"<x:n>".repeat(9_999), "", 1)
            .replacen(&"</x:n>".repeat(9_999), "", 1);
    assert!(
        parse_sp_metadata(&shallow, None).is_ok(),
        "only the depth is wrong"
    );
}

#[test]
fn every_fixture_renders_as_inspect_json_with_the_documented_shape() {
    for entry in &expected_entries() {
        let label = label(entry);
        let bytes = input_bytes(entry);
        let described = describe(&bytes, entry["select_entity_id"].as_str(), now());
        let (stdout, code) = render_described(&described, now(), OutputFormat::Json);
        let json: Value = serde_json::from_str(&stdout).unwrap();
        // An identity provider is shown as such: the IdP document, and the aggregate's one IdP
        // when no entity ID names an SP.
        if let Ok(Described::Idp { idp, sp }) = &described {
            let shown_as_idp = [
                "idp-only.xml",
                "entities-several-sps.xml",
                "entities-several-sps.xml (entity https://idp.fabrikam.test/saml2/idp)",
            ];
            assert!(
                shown_as_idp.contains(&label.as_str()),
                "{label}: shown as IdP"
            );
            assert!(sp.is_none(), "{label}: {} has no SP side", idp.entity_id);
            assert_eq!(
                (code, json["serviceProvider"].is_null()),
                (0, true),
                "{label}"
            );
            continue;
        }
        if !entry["ok"].as_bool().unwrap() {
            assert_eq!(code, 2, "{label}");
            assert_eq!(json["error"]["kind"], entry["error_kind"], "{label}");
            continue;
        }
        assert_eq!(code, 0, "{label}");
        assert_eq!(json.as_object().unwrap().len(), 1, "{label}: SP only");
        let sp = &json["serviceProvider"];
        let keys: Vec<&str> = sp.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "entityId",
                "assertionConsumerService",
                "assertionConsumerServices",
                "singleLogoutService",
                "singleLogoutServices",
                "authnRequestsSigned",
                "wantAssertionsSigned",
                "signingCertificates",
                "encryptionCertificates",
                "nameIdFormats",
                "validUntil",
                "cacheDuration"
            ],
            "{label}"
        );
        assert_eq!(sp["entityId"], entry["entity_id"], "{label}");
        assert_eq!(
            sp["assertionConsumerService"], entry["acs"]["location"],
            "{label}"
        );
        let acs = sp["assertionConsumerServices"].as_array().unwrap();
        let all = entry["acs_all"].as_array().unwrap();
        assert_eq!(acs.len(), all.len(), "{label}");
        for (got, want) in acs.iter().zip(all) {
            let binding = want["binding"].as_str().unwrap();
            let short = binding.strip_prefix("urn:oasis:names:tc:SAML:2.0:bindings:");
            assert_eq!(got["binding"], short.unwrap_or(binding), "{label}");
            assert_eq!(got["location"], want["location"], "{label}");
            assert_eq!(got["index"], want["index"], "{label}");
            assert_eq!(got["isDefault"], want["is_default"], "{label}");
            assert_eq!(got["selected"], *want == entry["acs"], "{label}");
        }
        assert_eq!(
            sp["singleLogoutService"], entry["slo"]["location"],
            "{label}"
        );
        assert_eq!(
            sp["authnRequestsSigned"], entry["authn_requests_signed"],
            "{label}"
        );
        assert_eq!(
            sp["wantAssertionsSigned"], entry["want_assertions_signed"],
            "{label}"
        );
        for (key, want) in [
            ("signingCertificates", "signing_certs"),
            ("encryptionCertificates", "encryption_certs"),
        ] {
            let got = sp[key].as_array().unwrap();
            let want = entry[want].as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{label}: {key}");
            for (cert, want) in got.iter().zip(want) {
                assert_eq!(cert["sha256Fingerprint"], want["sha256"], "{label}");
                assert_eq!(cert["sha1Thumbprint"], want["sha1"], "{label}");
                assert_eq!(cert["notAfter"], want["not_after"], "{label}");
                assert_eq!(cert["expired"], want["status"] == "expired", "{label}");
            }
        }
        assert_eq!(sp["nameIdFormats"], entry["name_id_formats"], "{label}");
        assert_eq!(sp["validUntil"], entry["valid_until"], "{label}");
        assert_eq!(sp["cacheDuration"], entry["cache_duration"], "{label}");
    }
}

#[test]
fn idp_metadata_given_as_sp_metadata_says_it_looks_like_idp_metadata() {
    let err = parse_sp_metadata(read("idp-only.xml"), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "none of the 1 EntityDescriptor(s) has an SPSSODescriptor; this looks like \
         identity-provider metadata (the IdP's own document), not the service provider's"
    );
    // `metadata inspect` shows it as the IdP it is.
    let described = describe(&read("idp-only.xml"), None, now()).unwrap();
    assert!(matches!(described, Described::Idp { sp: None, .. }));
}

#[test]
fn error_messages_name_the_entity_and_never_contain_certificate_text() {
    let bytes = read("bad-certificate.xml");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let start = text.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let cert_text = &text[start..start + 40];
    let err = parse_sp_metadata(&bytes, None).unwrap_err();
    assert_eq!(
        err.to_string().split(':').next().unwrap(),
        "signing certificate #1 of https"
    );
    assert!(
        err.to_string()
            .contains("https://app.fabrikam.test/saml/metadata")
    );
    let described = describe(&bytes, None, now());
    let (stdout, _) = render_described(&described, now(), OutputFormat::Json);
    for shown in [err.to_string(), format!("{err:?}"), stdout] {
        assert!(!shown.contains(cert_text), "{shown}");
    }
}

#[test]
fn the_messages_of_the_sp_errors_say_what_to_fix() {
    let message = |file: &str| parse_sp_metadata(read(file), None).unwrap_err().to_string();
    assert_eq!(
        message("no-post-acs.xml"),
        "the SPSSODescriptor of https://legacy.fabrikam.test/shibboleth-sp has no \
         AssertionConsumerService with the HTTP-POST binding (it lists HTTP-Artifact, \
         HTTP-POST-SimpleSign, PAOS, urn:oasis:names:tc:SAML:1.0:profiles:browser-post); Auth0 \
         delivers assertions by HTTP-POST only"
    );
    assert_eq!(
        message("saml1-only.xml"),
        "the SPSSODescriptor of https://old.fabrikam.test/shibboleth-sp does not support SAML \
         2.0: its protocolSupportEnumeration \"urn:oasis:names:tc:SAML:1.1:protocol \
         urn:oasis:names:tc:SAML:1.0:protocol\" does not list urn:oasis:names:tc:SAML:2.0:protocol"
    );
    assert_eq!(
        message("invalid-acs-index.xml"),
        "AssertionConsumerService #2 of https://app.fabrikam.test/saml/metadata has \
         index=\"default\", which is not a whole number from 0 to 65535"
    );
    assert_eq!(
        message("entities-several-sps.xml"),
        "metadata describes 2 service providers (https://crm.fabrikam.test/saml/sp, \
         https://hr.fabrikam.test/sp); give the entity ID of the one to use"
    );
    assert!(message("billion-laughs.xml").contains("DTDs and entities are not allowed"));
}
