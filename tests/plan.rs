//! Behaviour of `plan`: desired options, read-merge-write over Auth0's options, the diff.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sso_operator::auth0::model::Connection;
use sso_operator::certs::Certificate;
use sso_operator::crd::{ProtocolBinding, SsoConnectionSpec};
use sso_operator::metadata::IdpMetadata;
use sso_operator::ownership::{Adoption, Claim, Owner};
use sso_operator::plan::{
    ChangeKind, Desired, KeyPair, Plan, PlanError, PlanInputs, Refusal, desired_state,
    plan_connection,
};
use sso_operator::secret::SecretString;

const NAME: &str = "acme-azure";
const OWNER: &str = "customers/acme";
const ID: &str = "con_Xx9aiRppSPC3E6vT";
const SSO: &str = "https://login.example-idp.com/saml2/sso";
const SLO: &str = "https://login.example-idp.com/saml2/slo";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const FAKE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDfAkEpRiVaTeKeY\n-----END PRIVATE KEY-----\n";
const FAKE_KEY_BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDfAkEpRiVaTeKeY";

fn fixture_cert(file: &str) -> Certificate {
    let xml = std::fs::read_to_string(format!(
        "{}/tests/fixtures/idp-metadata/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let start = xml.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + xml[start..].find('<').unwrap();
    Certificate::from_base64_text(&xml[start..end]).unwrap()
}

/// SHA-1 4b53172957fc1b59fd11530518ef16ad9d7914dc.
fn okta() -> Certificate {
    fixture_cert("okta-app.xml")
}

/// SHA-1 5eebb8ff39888c953481ac09221cc56ea17ebbe7.
fn google() -> Certificate {
    fixture_cert("google-workspace.xml")
}

fn idp(cert: Certificate) -> IdpMetadata {
    IdpMetadata {
        entity_id: "https://sts.example-idp.test/tenant/".into(),
        sso_redirect: Some(SSO.into()),
        sso_post: Some(SSO.into()),
        slo: Some(SLO.into()),
        signing_certs: vec![cert],
        selected: 0,
        valid_until: None,
        cache_duration: None,
    }
}

fn spec(extra: Value) -> SsoConnectionSpec {
    let mut base = json!({
        "companyDomain": "acme.com",
        "metadata": {"configMapRef": {"name": "acme-idp-metadata", "key": "federationmetadata.xml"}}
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

fn inputs<'a>(spec: &'a SsoConnectionSpec, idp: &'a IdpMetadata) -> PlanInputs<'a> {
    PlanInputs {
        spec,
        connection_name: NAME,
        idp,
        signing_key: None,
        decryption_key: None,
        previously_applied: None,
    }
}

fn desired(spec: &SsoConnectionSpec, idp: &IdpMetadata) -> Desired {
    desired_state(&inputs(spec, idp)).unwrap()
}

fn desired_after(
    spec: &SsoConnectionSpec,
    idp: &IdpMetadata,
    applied: &Map<String, Value>,
) -> Desired {
    let mut i = inputs(spec, idp);
    i.previously_applied = Some(applied);
    desired_state(&i).unwrap()
}

static ME: std::sync::LazyLock<Owner> = std::sync::LazyLock::new(|| Owner {
    cluster_id: "cluster-a".into(),
    namespace: "customers".into(),
    name: "acme".into(),
    uid: "uid-1".into(),
});

fn claim(adopt_existing: bool) -> Claim<'static> {
    Claim {
        owner: &ME,
        adopt_existing,
        adoption: Adoption::Unowned,
        foreign_owner_gone: false,
    }
}

/// The v2 marker of `owner` (`namespace/name`) in cluster-a with uid-1.
fn marker(owner: &str) -> BTreeMap<String, Option<String>> {
    BTreeMap::from([
        ("managed-by".to_string(), Some("sso-operator".to_string())),
        ("sso-operator-owner".to_string(), Some(owner.to_string())),
        (
            "sso-operator-cluster".to_string(),
            Some("cluster-a".to_string()),
        ),
        ("sso-operator-uid".to_string(), Some("uid-1".to_string())),
    ])
}

fn connection(options: Value) -> Connection {
    Connection {
        id: ID.into(),
        name: NAME.into(),
        strategy: "samlp".into(),
        options: Some(options),
        metadata: Some(marker(OWNER)),
        other: Map::new(),
    }
}

/// What Auth0 stores after a write of `options`: the options plus the derived keys.
fn as_stored(options: &Map<String, Value>, cert: &Certificate) -> Value {
    let mut stored = options.clone();
    stored.insert("cert".into(), json!(cert.to_pem()));
    stored.insert("thumbprints".into(), json!([cert.sha1_hex()]));
    stored.insert("expires".into(), json!("2036-11-21T14:08:14.000Z"));
    stored.insert("subject".into(), json!({"commonName": "fabrikam"}));
    stored.insert(
        "assertion_decryption_settings".into(),
        json!({"algorithm_profile": "v2026-1", "algorithm_exceptions": []}),
    );
    Value::Object(stored)
}

fn create_options(desired: &Desired) -> Map<String, Value> {
    match plan_connection(desired, NAME, &claim(false), None).unwrap() {
        Plan::Create { body, .. } => body.options,
        other => panic!("expected a create, got {other:?}"),
    }
}

/// The connection as Auth0 holds it right after the operator created it from `desired`.
fn in_sync(desired: &Desired) -> Connection {
    connection(as_stored(&create_options(desired), desired.certificate()))
}

fn plan(desired: &Desired, current: &Connection) -> Plan {
    plan_connection(desired, NAME, &claim(false), Some(current)).unwrap()
}

fn patched_options(plan: &Plan) -> &Map<String, Value> {
    match plan {
        Plan::Update { body, .. } => body.options.as_ref().expect("options in the PATCH"),
        other => panic!("expected an update, got {other:?}"),
    }
}

fn changed_keys(plan: &Plan) -> Vec<&str> {
    match plan {
        Plan::Update { diff, .. } | Plan::Create { diff, .. } => {
            diff.changes.iter().map(|c| c.key.as_str()).collect()
        }
        Plan::Unchanged { .. } => Vec::new(),
    }
}

fn with(mut connection: Connection, key: &str, value: Value) -> Connection {
    let options = connection
        .options
        .as_mut()
        .unwrap()
        .as_object_mut()
        .unwrap();
    options.insert(key.into(), value);
    connection
}

fn without(mut connection: Connection, key: &str) -> Connection {
    let options = connection
        .options
        .as_mut()
        .unwrap()
        .as_object_mut()
        .unwrap();
    options.shift_remove(key);
    connection
}

fn worked_example_spec() -> SsoConnectionSpec {
    spec(json!({
        "signRequest": true,
        "protocolBinding": "HTTP-POST",
        "restrictSsoOnly": true,
        "attributeMapping": {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"}
    }))
}

/// The current options of docs/AUTH0_API.md §10's worked example, with the fixture certificate
/// in place of the example's elided one.
fn worked_example_current(cert: &Certificate) -> Value {
    json!({"signInEndpoint":"https://login.example-idp.com/saml2/sso","signOutEndpoint":"https://login.example-idp.com/saml2/slo",
     "signingCert": cert.signing_cert_value(),
     "cert": cert.to_pem(),
     "thumbprints":[cert.sha1_hex()],"expires":"2016-12-21T23:43:41.000Z",
     "subject":{"countryName":"AU","stateOrProvinceName":"Some-State","organizationName":"Internet Widgits Pty Ltd"},
     "bindingMethod":"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
     "metadataUrl":"https://login.example-idp.com/federationmetadata.xml",
     "signSAMLRequest":false,"signatureAlgorithm":"rsa-sha256","digestAlgorithm":"sha256",
     "protocolBinding":"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect","disableSignout":false,"debug":true,
     "assertion_decryption_settings":{"algorithm_profile":"v2026-1","algorithm_exceptions":[]},
     "upstream_params":{"screen_name":{"alias":"login_hint"}},"x_future_option":{"enabled":true}})
}

#[test]
fn worked_example_produces_the_documented_patch_body_key_for_key() {
    let cert = okta();
    let idp = idp(cert.clone());
    let spec = worked_example_spec();
    let desired = desired(&spec, &idp);
    let current = connection(worked_example_current(&cert));

    let plan = plan(&desired, &current);

    let expected = json!({
     "signInEndpoint":"https://login.example-idp.com/saml2/sso","signOutEndpoint":"https://login.example-idp.com/saml2/slo",
     "signingCert": cert.signing_cert_value(),
     "cert": cert.to_pem(),
     "thumbprints":[cert.sha1_hex()],"expires":"2016-12-21T23:43:41.000Z",
     "subject":{"countryName":"AU","stateOrProvinceName":"Some-State","organizationName":"Internet Widgits Pty Ltd"},
     "bindingMethod":"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
     "signSAMLRequest":true,"signatureAlgorithm":"rsa-sha256","digestAlgorithm":"sha256",
     "protocolBinding":"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST","disableSignout":false,"debug":true,
     "assertion_decryption_settings":{"algorithm_profile":"v2026-1","algorithm_exceptions":[]},
     "upstream_params":{"screen_name":{"alias":"login_hint"}},"x_future_option":{"enabled":true},
     "domain_aliases":["acme.com"],
     "fieldsMap":{"email":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"}});
    let Plan::Update { id, body, .. } = &plan else {
        panic!("expected an update, got {plan:?}");
    };
    assert_eq!(id, ID);
    assert_eq!(body.metadata, None, "the connection is already ours");
    // Serialised text compares key order too.
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        serde_json::to_string(&json!({ "options": expected })).unwrap()
    );
}

#[test]
fn worked_example_reports_exactly_the_documented_differences() {
    let cert = okta();
    let idp = idp(cert.clone());
    let desired = desired(&worked_example_spec(), &idp);
    let plan = plan(&desired, &connection(worked_example_current(&cert)));
    let mut keys = changed_keys(&plan);
    keys.sort();
    assert_eq!(
        keys,
        [
            "domain_aliases",
            "fieldsMap",
            "metadataUrl",
            "protocolBinding",
            "signSAMLRequest"
        ]
    );
}

#[test]
fn worked_example_patch_read_back_is_unchanged() {
    let cert = okta();
    let idp = idp(cert.clone());
    let desired = desired(&worked_example_spec(), &idp);
    let first = plan(&desired, &connection(worked_example_current(&cert)));
    let after_patch = connection(Value::Object(patched_options(&first).clone()));
    assert_eq!(
        plan(&desired, &after_patch),
        Plan::Unchanged { id: ID.into() }
    );
}

#[test]
fn connection_as_auth0_stored_it_after_create_is_unchanged() {
    let idp = idp(okta());
    let spec = spec(
        json!({"restrictSsoOnly": true, "idpInitiated": {"enabled": true, "clientId": "abc", "clientProtocol": "oidc"}, "userIdAttribute": "oid"}),
    );
    let desired = desired(&spec, &idp);
    assert_eq!(
        plan(&desired, &in_sync(&desired)),
        Plan::Unchanged { id: ID.into() }
    );
}

#[test]
fn create_sends_managed_options_and_the_ownership_marker() {
    let idp = idp(okta());
    let spec = spec(json!({"deflate": false, "extraOptions": {"debug": true}}));
    let desired = desired(&spec, &idp);
    let Plan::Create { body, diff } = plan_connection(&desired, NAME, &claim(false), None).unwrap()
    else {
        panic!("expected a create");
    };
    assert_eq!(body.name, NAME);
    assert_eq!(body.strategy, "samlp");
    assert_eq!(
        body.metadata,
        BTreeMap::from([
            ("managed-by".to_string(), "sso-operator".to_string()),
            ("sso-operator-owner".to_string(), OWNER.to_string()),
            ("sso-operator-cluster".to_string(), "cluster-a".to_string()),
            ("sso-operator-uid".to_string(), "uid-1".to_string()),
        ])
    );
    assert_eq!(
        Value::Object(body.options.clone()),
        json!({
            "signInEndpoint": SSO, "signOutEndpoint": SLO,
            "signingCert": okta().signing_cert_value(),
            "signSAMLRequest": true, "signatureAlgorithm": "rsa-sha256", "digestAlgorithm": "sha256",
            "protocolBinding": REDIRECT, "deflate": false, "debug": true
        })
    );
    assert!(
        diff.changes
            .iter()
            .all(|c| c.kind == ChangeKind::Added && c.before.is_none())
    );
    assert_eq!(diff.changes.len(), body.options.len());
}

#[test]
fn sp_entity_id_is_sent_only_when_given_in_extra_options() {
    let idp = idp(okta());
    let plain = desired(&spec(json!({})), &idp);
    assert!(!create_options(&plain).contains_key("entityId"));
    let custom = desired(
        &spec(json!({"extraOptions": {"entityId": "urn:acme:sp"}})),
        &idp,
    );
    assert_eq!(create_options(&custom)["entityId"], "urn:acme:sp");
}

#[test]
fn restrict_sso_only_off_removes_the_domain_aliases_the_operator_set() {
    let idp = idp(okta());
    let applied = Map::from_iter([("domain_aliases".to_string(), json!(["acme.com"]))]);
    let desired = desired_after(&spec(json!({"restrictSsoOnly": false})), &idp, &applied);
    let current = with(in_sync(&desired), "domain_aliases", json!(["acme.com"]));
    let removed = plan(&desired, &current);
    assert!(!patched_options(&removed).contains_key("domain_aliases"));
    assert_eq!(changed_keys(&removed), ["domain_aliases"]);

    // A Dashboard alias added next to ours stays when ours goes.
    let current = with(
        in_sync(&desired),
        "domain_aliases",
        json!(["acme.com", "acme-subsidiary.com"]),
    );
    let plan = plan(&desired, &current);
    assert_eq!(
        patched_options(&plan)["domain_aliases"],
        json!(["acme-subsidiary.com"])
    );
}

/// Adopting a connection whose Dashboard `domain_aliases` lists several domains keeps the
/// ones the spec does not claim, and reports them.
#[test]
fn aliases_the_operator_did_not_set_are_left_alone_and_reported() {
    let idp = idp(okta());
    let desired = desired(
        &spec(
            json!({"companyDomains": ["acme.com", "acme.co.uk"], "companyDomain": null, "restrictSsoOnly": true}),
        ),
        &idp,
    );
    let current = with(
        in_sync(&desired),
        "domain_aliases",
        json!(["acme.com", "acme.de", "acme.fr"]),
    );
    let plan_of = plan;
    let plan = plan_of(&desired, &current);
    assert_eq!(
        patched_options(&plan)["domain_aliases"],
        json!(["acme.com", "acme.co.uk", "acme.de", "acme.fr"])
    );
    assert_eq!(
        desired.unclaimed_domain_aliases(&current),
        ["acme.de", "acme.fr"]
    );
    // Once applied, the same state writes nothing.
    let merged = connection(Value::Object(patched_options(&plan).clone()));
    assert!(matches!(plan_of(&desired, &merged), Plan::Unchanged { .. }));
}

/// Without restrictSsoOnly, aliases someone else set are not touched at all.
#[test]
fn restrict_sso_only_off_leaves_foreign_aliases_alone() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({"restrictSsoOnly": false})), &idp);
    let current = with(in_sync(&desired), "domain_aliases", json!(["acme.com"]));
    assert!(matches!(plan(&desired, &current), Plan::Unchanged { .. }));
}

#[test]
fn restrict_sso_only_sends_the_company_domain_lower_cased() {
    let idp = idp(okta());
    let spec = spec(json!({"companyDomain": "ACME.com", "restrictSsoOnly": true}));
    assert_eq!(
        create_options(&desired(&spec, &idp))["domain_aliases"],
        json!(["acme.com"])
    );
}

#[test]
fn update_keeps_options_we_do_not_manage() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({"signRequest": false})), &idp);
    let foreign = json!({
        "requestTemplate": "<samlp:AuthnRequest @@AssertServiceURLAndDestination@@ />",
        "assertion_decryption_settings": {"algorithm_profile": "v2026-1", "algorithm_exceptions": ["rsa-oaep"]},
        "upstream_params": {"screen_name": {"alias": "login_hint"}},
        "x_future_option": {"nested": {"deeper": [1, {"a": null}]}},
        "bindingMethod": REDIRECT,
        "cert_rollover_notification": "2026-01-01T00:00:00.000Z"
    });
    let mut current = with(in_sync(&desired), "signSAMLRequest", json!(true));
    for (k, v) in foreign.as_object().unwrap() {
        current = with(current, k, v.clone());
    }
    let plan = plan(&desired, &current);
    let options = patched_options(&plan);
    for (k, v) in foreign.as_object().unwrap() {
        assert_eq!(options.get(k), Some(v), "{k} must survive the update");
    }
    assert_eq!(options["signSAMLRequest"], false);
}

#[test]
fn update_body_never_carries_immutable_or_legacy_fields() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({"signRequest": false})), &idp);
    let mut current = in_sync(&desired);
    current
        .other
        .insert("enabled_clients".into(), json!(["abc"]));
    current.other.insert(
        "provisioning_ticket_url".into(),
        json!("https://x/p/samlp/a"),
    );
    let plan = plan(&desired, &with(current, "signSAMLRequest", json!(true)));
    let Plan::Update { body, .. } = &plan else {
        panic!("expected an update");
    };
    let sent = serde_json::to_value(body).unwrap();
    let keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["options"]);
}

#[test]
fn cert_rotation_sends_the_new_cert_and_drops_derived_keys() {
    let old = google();
    let new = okta();
    let desired = desired(&spec(json!({})), &idp(new.clone()));
    let current = connection(as_stored(&create_options(&desired), &old));
    let current = with(current, "signingCert", json!(old.signing_cert_value()));

    let plan = plan(&desired, &current);
    let options = patched_options(&plan);

    assert_eq!(options["signingCert"], json!(new.signing_cert_value()));
    for derived in ["cert", "thumbprints", "expires", "subject"] {
        assert!(!options.contains_key(derived), "{derived} must be dropped");
    }
    assert!(options.contains_key("assertion_decryption_settings"));
    assert_eq!(changed_keys(&plan), ["signingCert"]);
}

#[test]
fn same_cert_in_another_encoding_keeps_the_stored_string_byte_for_byte() {
    let cert = okta();
    let desired = desired(&spec(json!({"signRequest": false})), &idp(cert.clone()));
    // base64 of the PEM with CRLF line ends: a different string for the same certificate.
    let stored = base64_encode(&cert.to_pem().replace('\n', "\r\n"));
    let current = with(in_sync(&desired), "signingCert", json!(stored));
    let current = with(current, "signSAMLRequest", json!(true));

    let plan = plan(&desired, &current);
    let options = patched_options(&plan);

    assert_eq!(options["signingCert"], json!(stored));
    assert_eq!(options["thumbprints"], json!([cert.sha1_hex()]));
    assert!(options.contains_key("cert"));
    assert_eq!(changed_keys(&plan), ["signSAMLRequest"]);
}

#[test]
fn same_cert_in_another_encoding_alone_is_no_difference() {
    let cert = okta();
    let desired = desired(&spec(json!({})), &idp(cert.clone()));
    let stored = base64_encode(&cert.to_pem().replace('\n', "\r\n"));
    let current = with(in_sync(&desired), "signingCert", json!(stored));
    assert_eq!(plan(&desired, &current), Plan::Unchanged { id: ID.into() });
}

#[test]
fn unparseable_stored_cert_falls_back_to_the_thumbprint() {
    let cert = okta();
    let desired = desired(&spec(json!({})), &idp(cert.clone()));
    let current = with(in_sync(&desired), "signingCert", json!("opaque!"));
    assert_eq!(plan(&desired, &current), Plan::Unchanged { id: ID.into() });
}

#[test]
fn raw_pem_stored_cert_is_rewritten_once_as_base64_pem() {
    let cert = okta();
    let desired = desired(&spec(json!({})), &idp(cert.clone()));
    let current = with(in_sync(&desired), "signingCert", json!(cert.to_pem()));

    let first = plan(&desired, &current);
    let options = patched_options(&first);
    assert_eq!(options["signingCert"], json!(cert.signing_cert_value()));
    // Same thumbprint: the derived keys still describe the certificate.
    assert_eq!(options["thumbprints"], json!([cert.sha1_hex()]));
    assert_eq!(changed_keys(&first), ["signingCert"]);

    let after = connection(Value::Object(options.clone()));
    assert_eq!(plan(&desired, &after), Plan::Unchanged { id: ID.into() });
}

#[test]
fn fields_map_unset_and_never_applied_is_kept() {
    let idp = idp(okta());
    let desired = desired_after(&spec(json!({"signRequest": false})), &idp, &Map::new());
    let mapping = json!({"email": "mail"});
    let current = with(in_sync(&desired), "fieldsMap", mapping.clone());
    let current = with(current, "signSAMLRequest", json!(true));
    let plan = plan(&desired, &current);
    assert_eq!(patched_options(&plan)["fieldsMap"], mapping);
    assert_eq!(changed_keys(&plan), ["signSAMLRequest"]);
}

#[test]
fn fields_map_unset_but_previously_applied_is_removed() {
    let idp = idp(okta());
    let applied_spec = spec(json!({"attributeMapping": {"email": "mail"}}));
    let applied = desired(&applied_spec, &idp).applied_summary();
    let desired = desired_after(&spec(json!({})), &idp, &applied);
    let current = with(in_sync(&desired), "fieldsMap", json!({"email": "mail"}));
    let plan = plan(&desired, &current);
    assert!(!patched_options(&plan).contains_key("fieldsMap"));
    assert_eq!(changed_keys(&plan), ["fieldsMap"]);
}

#[test]
fn deflate_unset_is_never_removed_even_after_being_applied() {
    let idp = idp(okta());
    let applied = desired(&spec(json!({"deflate": true})), &idp).applied_summary();
    assert_eq!(applied["deflate"], true);
    let desired = desired_after(&spec(json!({})), &idp, &applied);
    let current = with(in_sync(&desired), "deflate", json!(true));
    assert_eq!(plan(&desired, &current), Plan::Unchanged { id: ID.into() });
}

#[test]
fn extra_options_with_a_managed_key_is_an_invalid_spec_naming_it() {
    let idp = idp(okta());
    for key in ["fieldsMap", "signingCert", "metadataUrl", "thumbprints"] {
        let spec = spec(json!({"extraOptions": {"debug": true, key: "x"}}));
        let err = desired_state(&inputs(&spec, &idp)).unwrap_err();
        assert_eq!(err.reason(), sso_operator::status::Reason::InvalidSpec);
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn extra_key_dropped_after_being_applied_is_removed() {
    let idp = idp(okta());
    let before =
        spec(json!({"extraOptions": {"debug": true, "icon_url": "https://acme.test/i.png"}}));
    let applied = desired(&before, &idp).applied_summary();
    let desired = desired_after(
        &spec(json!({"extraOptions": {"debug": true}})),
        &idp,
        &applied,
    );
    let current = with(
        in_sync(&desired),
        "icon_url",
        json!("https://acme.test/i.png"),
    );
    let plan = plan(&desired, &current);
    assert!(!patched_options(&plan).contains_key("icon_url"));
    assert_eq!(patched_options(&plan)["debug"], true);
    assert_eq!(changed_keys(&plan), ["icon_url"]);
}

#[test]
fn extra_key_never_applied_by_us_is_kept() {
    let idp = idp(okta());
    let desired = desired_after(&spec(json!({})), &idp, &Map::new());
    let current = with(
        in_sync(&desired),
        "icon_url",
        json!("https://acme.test/i.png"),
    );
    assert_eq!(plan(&desired, &current), Plan::Unchanged { id: ID.into() });
}

#[test]
fn missing_options_refuse_with_insufficient_scope_and_no_body() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({})), &idp);
    let mut current = in_sync(&desired);
    current.options = None;
    let refusal = plan_connection(&desired, NAME, &claim(false), Some(&current)).unwrap_err();
    assert_eq!(
        refusal.reason(),
        sso_operator::status::Reason::InsufficientScope
    );
    assert!(refusal.message().contains("read:connections_options"));

    current.options = Some(json!("not an object"));
    let refusal = plan_connection(&desired, NAME, &claim(false), Some(&current)).unwrap_err();
    assert!(matches!(refusal, Refusal::InsufficientScope { .. }));
}

#[test]
fn foreign_connection_is_a_conflict_that_suggests_adopting() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({})), &idp);
    let mut current = in_sync(&desired);
    current.metadata = None;
    let refusal = plan_connection(&desired, NAME, &claim(false), Some(&current)).unwrap_err();
    assert_eq!(
        refusal.reason(),
        sso_operator::status::Reason::ConnectionConflict
    );
    assert!(refusal.message().contains("adoptExisting: true"));
}

#[test]
fn foreign_connection_with_adopt_gets_the_marker_and_keeps_its_options() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({"signRequest": false})), &idp);
    let mut current = with(in_sync(&desired), "debug", json!(true));
    current = with(current, "signSAMLRequest", json!(true));
    current.metadata = Some(BTreeMap::from([(
        "team".to_string(),
        Some("identity".to_string()),
    )]));

    let plan = plan_connection(&desired, NAME, &claim(true), Some(&current)).unwrap();
    let Plan::Update { body, .. } = &plan else {
        panic!("expected an update, got {plan:?}");
    };
    let mut expected_metadata = marker(OWNER);
    expected_metadata.insert("team".into(), Some("identity".into()));
    assert_eq!(body.metadata, Some(expected_metadata));
    let options = body.options.as_ref().unwrap();
    assert_eq!(options["debug"], true);
    assert_eq!(options["signSAMLRequest"], false);
}

#[test]
fn adopting_a_connection_whose_options_match_writes_only_the_marker() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({})), &idp);
    let mut current = in_sync(&desired);
    current.metadata = None;
    let plan = plan_connection(&desired, NAME, &claim(true), Some(&current)).unwrap();
    let Plan::Update { body, diff, .. } = &plan else {
        panic!("expected an update, got {plan:?}");
    };
    assert_eq!(body.options, None);
    assert_eq!(body.metadata, Some(marker(OWNER)));
    assert!(!diff.is_empty());
}

#[test]
fn adopting_fails_when_the_marker_would_exceed_ten_metadata_keys() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({})), &idp);
    let mut current = in_sync(&desired);
    current.metadata = Some(
        (0..9)
            .map(|i| (format!("k{i}"), Some("v".to_string())))
            .collect(),
    );
    let refusal = plan_connection(&desired, NAME, &claim(true), Some(&current)).unwrap_err();
    assert_eq!(
        refusal.reason(),
        sso_operator::status::Reason::ConnectionConflict
    );
    assert!(refusal.message().contains("10"), "{}", refusal.message());
}

#[test]
fn connection_owned_by_another_resource_is_a_conflict_naming_it() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({})), &idp);
    let mut current = in_sync(&desired);
    current.metadata = Some(marker("other-ns/other"));
    let refusal = plan_connection(&desired, NAME, &claim(false), Some(&current)).unwrap_err();
    assert_eq!(
        refusal.reason(),
        sso_operator::status::Reason::ConnectionConflict
    );
    assert!(refusal.message().contains("other-ns/other"));
}

#[test]
fn non_samlp_connection_is_a_conflict_even_with_adopt() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({})), &idp);
    let mut current = in_sync(&desired);
    current.strategy = "oidc".into();
    let refusal = plan_connection(&desired, NAME, &claim(true), Some(&current)).unwrap_err();
    assert_eq!(
        refusal.reason(),
        sso_operator::status::Reason::ConnectionConflict
    );
    assert!(refusal.message().contains("oidc"));
}

#[test]
fn absent_or_empty_algorithms_and_binding_equal_their_defaults() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({})), &idp);
    let base = in_sync(&desired);
    let variants = [
        without(base.clone(), "signatureAlgorithm"),
        with(base.clone(), "signatureAlgorithm", json!("")),
        without(base.clone(), "digestAlgorithm"),
        with(base.clone(), "digestAlgorithm", json!("")),
        without(base.clone(), "protocolBinding"),
        with(base.clone(), "protocolBinding", json!("")),
    ];
    for current in variants {
        assert_eq!(
            plan(&desired, &current),
            Plan::Unchanged { id: ID.into() },
            "{:?}",
            current.options
        );
    }
}

#[test]
fn absent_sign_request_equals_false() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({"signRequest": false})), &idp);
    let current = without(in_sync(&desired), "signSAMLRequest");
    assert_eq!(plan(&desired, &current), Plan::Unchanged { id: ID.into() });
}

#[test]
fn domain_aliases_compare_case_and_order_insensitively() {
    let idp = idp(okta());
    let desired = desired(&spec(json!({"restrictSsoOnly": true})), &idp);
    let current = with(
        in_sync(&desired),
        "domain_aliases",
        json!(["ACME.com", "acme.com"]),
    );
    assert_eq!(plan(&desired, &current), Plan::Unchanged { id: ID.into() });
    let other = with(in_sync(&desired), "domain_aliases", json!(["acme.org"]));
    assert_eq!(changed_keys(&plan(&desired, &other)), ["domain_aliases"]);
}

#[test]
fn key_pairs_compare_after_line_end_and_trailing_whitespace_normalisation() {
    let idp = idp(okta());
    let pair = KeyPair {
        key: SecretString::new(FAKE_KEY),
        cert: google().to_pem(),
    };
    let spec = spec(json!({"signingKeySecretRef": {"name": "acme-sp-signing"}}));
    let mut i = inputs(&spec, &idp);
    i.signing_key = Some(&pair);
    let desired = desired_state(&i).unwrap();
    let stored = json!({
        "key": format!("{}  \n", FAKE_KEY.replace('\n', "\r\n")),
        "cert": google().to_pem().replace('\n', "\r\n")
    });
    let current = with(in_sync(&desired), "signing_key", stored);
    assert_eq!(plan(&desired, &current), Plan::Unchanged { id: ID.into() });
}

#[test]
fn the_sp_metadata_certificates_are_those_of_the_key_pairs_sent() {
    let idp = idp(okta());
    let signing = KeyPair {
        key: SecretString::new(FAKE_KEY),
        cert: google().to_pem().replace('\n', "\r\n"),
    };
    let decryption = KeyPair {
        key: SecretString::new(FAKE_KEY),
        cert: okta().to_pem(),
    };
    let none = desired(&spec(json!({})), &idp);
    assert_eq!(none.signing_key_certificate(), None);
    assert_eq!(none.decryption_key_certificate(), None);
    let spec = spec(json!({
        "signingKeySecretRef": {"name": "acme-sp-signing"},
        "decryptionKeySecretRef": {"name": "acme-sp-decrypt"}
    }));
    let mut i = inputs(&spec, &idp);
    i.signing_key = Some(&signing);
    i.decryption_key = Some(&decryption);
    let both = desired_state(&i).unwrap();
    assert_eq!(both.signing_key_certificate(), Some(google()));
    assert_eq!(both.decryption_key_certificate(), Some(okta()));
}

#[test]
fn unset_binding_prefers_http_redirect() {
    let mut idp = idp(okta());
    idp.sso_post = Some("https://login.example-idp.com/saml2/post".into());
    let desired = desired(&spec(json!({})), &idp);
    assert_eq!(desired.binding(), ProtocolBinding::HttpRedirect);
    assert_eq!(desired.sign_in_url(), SSO);
    assert_eq!(create_options(&desired)["protocolBinding"], REDIRECT);
}

#[test]
fn unset_binding_falls_back_to_http_post() {
    let mut idp = idp(okta());
    idp.sso_redirect = None;
    let desired = desired(&spec(json!({})), &idp);
    assert_eq!(desired.binding(), ProtocolBinding::HttpPost);
    assert_eq!(create_options(&desired)["protocolBinding"], POST);
}

#[test]
fn requested_binding_the_metadata_lacks_is_invalid_metadata_saying_what_is_offered() {
    let mut idp = idp(okta());
    idp.sso_post = None;
    let spec = spec(json!({"protocolBinding": "HTTP-POST"}));
    let err = desired_state(&inputs(&spec, &idp)).unwrap_err();
    assert_eq!(err.reason(), sso_operator::status::Reason::InvalidMetadata);
    assert!(err.to_string().contains("HTTP-Redirect"), "{err}");
}

#[test]
fn metadata_without_redirect_or_post_sso_is_invalid_metadata() {
    let mut idp = idp(okta());
    idp.sso_post = None;
    idp.sso_redirect = None;
    let err = desired_state(&inputs(&spec(json!({})), &idp)).unwrap_err();
    assert!(matches!(err, PlanError::InvalidMetadata(_)));
}

#[test]
fn missing_slo_removes_sign_out_endpoint() {
    let mut idp = idp(okta());
    let with_slo = desired(&spec(json!({})), &idp);
    let current = in_sync(&with_slo);
    idp.slo = None;
    let desired = desired(&spec(json!({})), &idp);
    let plan = plan(&desired, &current);
    assert!(!patched_options(&plan).contains_key("signOutEndpoint"));
}

#[test]
fn bad_key_pair_is_an_invalid_spec_that_does_not_echo_the_key() {
    let idp = idp(okta());
    let pair = KeyPair {
        key: SecretString::new("hunter2-not-pem"),
        cert: google().to_pem(),
    };
    let spec = spec(json!({"decryptionKeySecretRef": {"name": "acme-sp-decrypt"}}));
    let mut i = inputs(&spec, &idp);
    i.decryption_key = Some(&pair);
    let err = desired_state(&i).unwrap_err();
    assert_eq!(err.reason(), sso_operator::status::Reason::InvalidSpec);
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[test]
fn key_pair_secret_ref_without_a_loaded_pair_is_refused_rather_than_removed() {
    let idp = idp(okta());
    let spec = spec(json!({"signingKeySecretRef": {"name": "acme-sp-signing"}}));
    let err = desired_state(&inputs(&spec, &idp)).unwrap_err();
    assert_eq!(err.reason(), sso_operator::status::Reason::InvalidSpec);
}

#[test]
fn applied_summary_records_thumbprints_instead_of_secrets() {
    let idp = idp(okta());
    let pair = KeyPair {
        key: SecretString::new(FAKE_KEY),
        cert: google().to_pem(),
    };
    let spec =
        spec(json!({"signingKeySecretRef": {"name": "s"}, "extraOptions": {"debug": false}}));
    let mut i = inputs(&spec, &idp);
    i.signing_key = Some(&pair);
    let summary = desired_state(&i).unwrap().applied_summary();
    assert_eq!(summary["signingCertSha1"], okta().sha1_hex());
    assert!(!summary.contains_key("signingCert"));
    assert_eq!(
        summary["signing_key"],
        json!({"certSha256": google().sha256_hex()})
    );
    assert_eq!(summary["debug"], false);
    let text = serde_json::to_string(&summary).unwrap();
    assert!(!text.contains("PRIVATE KEY") && !text.contains("BEGIN CERTIFICATE"));
}

#[test]
fn diff_display_and_debug_never_show_certificates_or_private_keys() {
    let idp = idp(okta());
    let pair = KeyPair {
        key: SecretString::new(FAKE_KEY),
        cert: google().to_pem(),
    };
    let spec = spec(
        json!({"signingKeySecretRef": {"name": "s"}, "decryptionKeySecretRef": {"name": "d"}}),
    );
    let mut i = inputs(&spec, &idp);
    i.signing_key = Some(&pair);
    i.decryption_key = Some(&pair);
    let desired = desired_state(&i).unwrap();

    let created = plan_connection(&desired, NAME, &claim(false), None).unwrap();
    let old_pair =
        json!({"key": FAKE_KEY.replace("fAkEpRiVaTeKeY", "oLdKeY"), "cert": okta().to_pem()});
    let current = with(in_sync(&desired), "decryptionKey", old_pair);
    let current = with(current, "signingCert", json!(google().to_pem()));
    let updated = plan(&desired, &current);
    assert_eq!(changed_keys(&updated), ["signingCert", "decryptionKey"]);

    let cert_body_line = &okta().to_pem()[28..92];
    let google_body_line = &google().to_pem()[28..92];
    for plan in [&created, &updated] {
        let (Plan::Create { diff, .. } | Plan::Update { diff, .. }) = plan else {
            unreachable!()
        };
        let shown = format!("{diff}\n{diff:?}\n{plan:?}\n{desired:?}\n{pair:?}");
        for secret in [
            FAKE_KEY_BODY,
            "oLdKeY",
            "PRIVATE KEY",
            "BEGIN CERTIFICATE",
            cert_body_line,
            google_body_line,
            &okta().signing_cert_value()[..40],
            &google().signing_cert_value()[..40],
        ] {
            assert!(!shown.contains(secret), "{secret:?} leaked in:\n{shown}");
        }
        assert!(shown.contains(&format!("sha1:{}", okta().sha1_hex())));
        assert!(shown.contains(&format!("sha256:{}", google().sha256_hex())));
    }
}

#[test]
fn diff_display_uses_one_line_per_change() {
    let idp = idp(okta());
    let applied = desired(&spec(json!({"userIdAttribute": "oid"})), &idp).applied_summary();
    let desired = desired_after(
        &spec(json!({"signRequest": false, "restrictSsoOnly": true})),
        &idp,
        &applied,
    );
    let current = with(in_sync(&desired), "user_id_attribute", json!("oid"));
    let current = with(current, "signSAMLRequest", json!(true));
    let current = without(current, "domain_aliases");
    let Plan::Update { diff, .. } = plan(&desired, &current) else {
        panic!("expected an update");
    };
    assert_eq!(
        diff.to_string(),
        "~ signSAMLRequest: true -> false\n+ domain_aliases: [\"acme.com\"]\n- user_id_attribute\n"
    );
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `spec.displayName` and `spec.showAsButton` are top-level connection fields: sent on
/// create, patched without rewriting the options when only they differ, zero writes when
/// Auth0 holds them, and left alone when the spec does not set them.
#[test]
fn presentation_is_merged_like_options_and_only_when_set() {
    let cert = okta();
    let md = idp(cert);
    let unset = desired(&spec(json!({})), &md);
    let set = desired(
        &spec(json!({"displayName": "Acme (Entra ID)", "showAsButton": false})),
        &md,
    );
    match plan_connection(&set, NAME, &claim(false), None).unwrap() {
        Plan::Create { body, diff } => {
            assert_eq!(body.display_name.as_deref(), Some("Acme (Entra ID)"));
            assert_eq!(body.show_as_button, Some(false));
            assert!(diff.changes.iter().any(|c| c.key == "display_name"));
        }
        other => panic!("expected a create, got {other:?}"),
    }

    // Auth0 holds other values (the Dashboard's): only the presentation is patched.
    let mut current = in_sync(&set);
    current.other.insert("display_name".into(), json!("ACME"));
    current.other.insert("show_as_button".into(), json!(true));
    let p = plan(&set, &current);
    assert_eq!(changed_keys(&p), ["display_name", "show_as_button"]);
    match &p {
        Plan::Update { body, .. } => {
            assert_eq!(body.options, None, "the options are not rewritten");
            assert_eq!(body.display_name.as_deref(), Some("Acme (Entra ID)"));
            assert_eq!(body.show_as_button, Some(false));
        }
        other => panic!("expected an update, got {other:?}"),
    }

    // Auth0 holds them: nothing to write. Unset in the spec: Auth0's values stay.
    current
        .other
        .insert("display_name".into(), json!("Acme (Entra ID)"));
    current.other.insert("show_as_button".into(), json!(false));
    assert!(matches!(plan(&set, &current), Plan::Unchanged { .. }));
    assert!(matches!(plan(&unset, &current), Plan::Unchanged { .. }));
}
