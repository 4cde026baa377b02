//! `SamlApplication` through its sync core (`saml_app::sync::sync_application`) against the
//! in-process `auth0-emulator`: the application Auth0 ends up with, what survives an update
//! (a Dashboard-set addon key, another callback, another addon), zero writes when nothing
//! changed, the takeover rules, and clear errors for bad SP input.

use std::path::Path;

use serde_json::{Value, json};
use sso_operator::crd::SamlApplication;
use sso_operator::offline::Manifests;
use sso_operator::ownership::Adoption;
use sso_operator::reconcile::{Action, SyncError, Tenant};
use sso_operator::saml_app::sync::{self, AppSynced};
use sso_operator::status::Reason;

#[path = "support/emulator.rs"]
mod support;

use support::Emulator;

/// A certificate of an existing fixture (the Okta IdP's), as PEM: the SP's request-signing
/// certificate in these tests.
fn certificate_pem() -> String {
    let xml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/idp-metadata/okta-app.xml"),
    )
    .expect("fixture");
    let start = xml.find("X509Certificate>").expect("cert") + "X509Certificate>".len();
    let end = start + xml[start..].find('<').expect("end");
    sso_operator::certs::Certificate::from_base64_text(&xml[start..end])
        .expect("certificate")
        .to_pem()
}

/// SP metadata of a Zendesk-style SP that signs its requests.
fn sp_metadata() -> String {
    let pem = certificate_pem();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://acme.zendesk.example/access/saml/metadata">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://acme.zendesk.example/access/saml/logout"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://acme.zendesk.example/access/saml/artifact" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://acme.zendesk.example/access/saml" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// A SamlApplication with `spec`, and a ConfigMap `zendesk-sp` holding `sp_xml`.
fn manifests(spec: Value, sp_xml: &str) -> (Manifests, SamlApplication) {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "zendesk-sp"},
        "data": {"metadata.xml": sp_xml},
    });
    let app = json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SamlApplication",
        "metadata": {"name": "zendesk", "uid": "uid-1", "generation": 1},
        "spec": spec,
    });
    let loaded = support::load(&[cm, app]);
    let res = loaded.applications[0].clone();
    (loaded, res)
}

fn from_metadata() -> Value {
    json!({
        "spMetadata": {"configMapRef": {"name": "zendesk-sp", "key": "metadata.xml"}},
        "signResponse": true,
        "mappings": {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
    })
}

async fn sync(
    emulator: &Emulator,
    res: &SamlApplication,
    sources: &Manifests,
    dry_run: bool,
) -> Result<AppSynced, SyncError> {
    let owner = sync::owner_of(res, "test-cluster");
    sync::sync_application(
        &emulator.client(),
        res,
        &owner,
        Adoption::Unowned,
        sources,
        dry_run,
    )
    .await
}

fn with_status(res: &SamlApplication, synced: &AppSynced) -> SamlApplication {
    let mut next = res.clone();
    next.status = Some(sync::synced_status(
        res,
        synced,
        &Tenant::new("tenant.example.auth0.com", None, None),
        jiff::Timestamp::now(),
    ));
    next
}

async fn app(emulator: &Emulator, id: &str) -> Value {
    emulator
        .admin
        .client(id)
        .await
        .expect("admin")
        .expect("the application exists")
}

#[tokio::test]
async fn sp_metadata_becomes_the_addon_callbacks_and_a_status_for_the_sp_administrator() {
    let emulator = Emulator::start().await;
    let (sources, res) = manifests(from_metadata(), &sp_metadata());
    let created = sync(&emulator, &res, &sources, false)
        .await
        .expect("synced");
    assert_eq!(created.action, Action::Created);
    let id = created.client_id.clone().expect("client id");
    let stored = app(&emulator, &id).await;
    let samlp = &stored["addons"]["samlp"];
    assert_eq!(
        samlp["audience"],
        "https://acme.zendesk.example/access/saml/metadata"
    );
    assert_eq!(
        samlp["recipient"],
        "https://acme.zendesk.example/access/saml"
    );
    assert_eq!(
        samlp["destination"],
        "https://acme.zendesk.example/access/saml"
    );
    assert_eq!(
        samlp["logout"],
        json!({"callback": "https://acme.zendesk.example/access/saml/logout", "slo_enabled": true})
    );
    assert_eq!(
        samlp["signingCert"].as_str().map(str::trim),
        Some(certificate_pem().trim())
    );
    assert_eq!(samlp["signResponse"], true);
    assert_eq!(
        samlp["nameIdentifierFormat"],
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    );
    assert_eq!(
        stored["callbacks"],
        json!(["https://acme.zendesk.example/access/saml"])
    );
    assert_eq!(stored["client_metadata"]["managed-by"], "sso-operator");
    assert!(
        stored.get("client_secret").is_none(),
        "admin answers never show secrets"
    );

    let status = with_status(&res, &created).status.expect("status");
    assert_eq!(status.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        status.idp_sso_url.as_deref(),
        Some(format!("https://tenant.example.auth0.com/samlp/{id}").as_str())
    );
    assert_eq!(
        status.idp_metadata_url.as_deref(),
        Some(format!("https://tenant.example.auth0.com/samlp/metadata/{id}").as_str())
    );
    assert!(
        status
            .idp_entity_id
            .as_deref()
            .is_some_and(|e| e.starts_with("urn:"))
    );
    assert_eq!(status.want_assertions_signed, Some(true));
    let cert = status.idp_signing_certificate.expect("IdP certificate");
    let published = emulator
        .admin
        .idp_metadata(&id)
        .await
        .expect("admin")
        .expect("metadata");
    let idp = sso_operator::metadata::parse_idp_metadata(
        published.as_bytes(),
        None,
        jiff::Timestamp::now(),
    )
    .expect("the IdP metadata parses");
    assert_eq!(idp.selected_cert().sha256_hex(), cert.sha256_fingerprint);
}

#[tokio::test]
async fn a_dashboard_key_an_extra_callback_and_another_addon_survive_and_a_second_sync_writes_nothing()
 {
    let emulator = Emulator::start().await;
    let (sources, res) = manifests(from_metadata(), &sp_metadata());
    let created = sync(&emulator, &res, &sources, false)
        .await
        .expect("synced");
    let id = created.client_id.clone().expect("id");
    let applied = with_status(&res, &created);

    let seq = emulator.seq().await;
    let again = sync(&emulator, &applied, &sources, false)
        .await
        .expect("synced");
    assert_eq!(again.action, Action::Unchanged);
    let calls = emulator.api_calls_since(seq).await;
    assert!(
        calls.iter().all(|c| c.starts_with("GET")),
        "zero writes: {calls:?}"
    );

    // Someone edits the application in the Dashboard.
    let mut samlp = app(&emulator, &id).await["addons"]["samlp"].clone();
    samlp["x_dashboard_setting"] = json!("kept");
    samlp["digestAlgorithm"] = json!("sha1");
    emulator
        .admin
        .patch_client(
            &id,
            json!({
                "addons": {"samlp": samlp, "wsfed": {}},
                "callbacks": ["https://acme.zendesk.example/access/saml", "https://other.example/cb"],
            }),
        )
        .await
        .expect("dashboard edit");
    let repaired = sync(&emulator, &applied, &sources, false)
        .await
        .expect("synced");
    assert_eq!(repaired.action, Action::Updated);
    let stored = app(&emulator, &id).await;
    assert_eq!(stored["addons"]["samlp"]["digestAlgorithm"], "sha256");
    assert_eq!(stored["addons"]["samlp"]["x_dashboard_setting"], "kept");
    assert!(
        stored["addons"]["wsfed"].is_object(),
        "{}",
        stored["addons"]
    );
    assert_eq!(
        stored["callbacks"],
        json!([
            "https://acme.zendesk.example/access/saml",
            "https://other.example/cb"
        ])
    );
}

#[tokio::test]
async fn explicit_entity_id_and_acs_url_work_without_metadata_and_a_plan_writes_nothing() {
    let emulator = Emulator::start().await;
    let (sources, res) = manifests(
        json!({"entityId": "https://portal.example/sp", "acsUrl": "https://portal.example/acs", "lifetimeInSeconds": 600}),
        "",
    );
    let seq = emulator.seq().await;
    let planned = sync(&emulator, &res, &sources, true)
        .await
        .expect("planned");
    assert!(planned.is_create);
    assert!(
        planned
            .diff
            .changes
            .iter()
            .any(|c| c.key == "addons.samlp.audience"),
        "{:?}",
        planned.diff
    );
    let calls = emulator.api_calls_since(seq).await;
    assert!(calls.iter().all(|c| c.starts_with("GET")), "{calls:?}");
    let created = sync(&emulator, &res, &sources, false)
        .await
        .expect("synced");
    let stored = app(&emulator, created.client_id.as_deref().expect("id")).await;
    assert_eq!(
        stored["addons"]["samlp"]["audience"],
        "https://portal.example/sp"
    );
    assert_eq!(stored["addons"]["samlp"]["lifetimeInSeconds"], 600);
    assert!(stored["addons"]["samlp"].get("signingCert").is_none());
}

#[tokio::test]
async fn an_application_of_the_same_name_is_not_taken_over_unless_adopted() {
    let emulator = Emulator::start().await;
    let foreign = emulator
        .admin
        .seed_client(json!({
            "name": "zendesk", "app_type": "regular_web",
            "callbacks": ["https://elsewhere.example/cb"],
            "addons": {"samlp": {"audience": "urn:elsewhere", "x_keep": 1}},
        }))
        .await
        .expect("seed");
    let foreign_id = foreign["client_id"].as_str().expect("id").to_string();
    let (sources, res) = manifests(from_metadata(), &sp_metadata());
    let seq = emulator.seq().await;
    let err = sync(&emulator, &res, &sources, false)
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), Reason::ConnectionConflict);
    assert!(err.to_string().contains("adoptExisting"), "{err}");
    let calls = emulator.api_calls_since(seq).await;
    assert!(calls.iter().all(|c| c.starts_with("GET")), "{calls:?}");
    assert_eq!(
        app(&emulator, &foreign_id).await["addons"]["samlp"]["audience"],
        "urn:elsewhere"
    );

    let mut spec = from_metadata();
    spec["adoptExisting"] = json!(true);
    let (sources, res) = manifests(spec, &sp_metadata());
    let adopted = sync(&emulator, &res, &sources, false)
        .await
        .expect("adopted");
    assert_eq!(adopted.client_id.as_deref(), Some(foreign_id.as_str()));
    let stored = app(&emulator, &foreign_id).await;
    assert_eq!(
        stored["addons"]["samlp"]["x_keep"], 1,
        "its other settings are kept"
    );
    assert_eq!(
        stored["callbacks"],
        json!([
            "https://elsewhere.example/cb",
            "https://acme.zendesk.example/access/saml"
        ])
    );
    assert_eq!(stored["client_metadata"]["managed-by"], "sso-operator");
}

#[tokio::test]
async fn hostile_or_wrong_sp_metadata_gets_a_clear_error_and_nothing_is_written() {
    let emulator = Emulator::start().await;
    let idp_only = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/idp-metadata/okta-app.xml"),
    )
    .expect("fixture");
    let billion_laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">&lol2;</md:EntityDescriptor>"#;
    for (label, xml) in [
        ("IdP metadata", idp_only.as_str()),
        ("a DTD", billion_laughs),
        ("not XML", "this is not xml"),
    ] {
        let (sources, res) = manifests(from_metadata(), xml);
        let seq = emulator.seq().await;
        let err = sync(&emulator, &res, &sources, false)
            .await
            .expect_err(label);
        assert_eq!(err.reason(), Reason::InvalidMetadata, "{label}: {err}");
        assert!(err.to_string().contains("ConfigMap"), "{label}: {err}");
        assert!(
            emulator.api_calls_since(seq).await.is_empty(),
            "{label}: nothing sent"
        );
    }
    let (sources, res) = manifests(
        json!({"entityId": "https://portal.example/sp", "acsUrl": "https://portal.example/acs", "extraSettings": {"audience": "x"}}),
        "",
    );
    let err = sync(&emulator, &res, &sources, false)
        .await
        .expect_err("managed key");
    assert_eq!(err.reason(), Reason::InvalidSpec);
}
