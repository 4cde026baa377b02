//! The controller as users meet it: apply manifests with kubectl, watch status, Secrets and
//! Events, and check what Auth0 (the emulator) holds and which calls it received.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::env::{Emulator, Env, Operator, ready_condition, wait_for};

pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);
const AZURE_SSO: &str =
    "https://login.contoso-example.com/4f2b8c1e-7d3a-4e59-9b61-2c0d5a8e7f13/saml2";
/// The Azure fixture's certificate with the latest notAfter: the one the operator selects.
const AZURE_SHA1: &str = "036b35fc81a4bdea40b7082a87b79516798326ba";
const OKTA_SHA1: &str = "4b53172957fc1b59fd11530518ef16ad9d7914dc";
const OKTA_SHA256: &str = "9688dcb8e6eb11b98eaa273772635949cec1fc85b0dcef1fd123535216cc6a2e";

/// A ConfigMap holding `xml` under `federationmetadata.xml`.
pub(crate) fn config_map(name: &str, xml: &str) -> String {
    serde_yaml::to_string(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"federationmetadata.xml": xml},
    }))
    .unwrap_or_default()
}

/// An SsoConnection `name` for connection `connection` reading ConfigMap `cm`, with `extra`
/// merged into its spec.
fn sso_connection(name: &str, connection: &str, cm: &str, extra: Value) -> String {
    let mut spec = json!({
        "companyDomain": "acme.com",
        "connectionName": connection,
        "provider": "azureAd",
        "metadata": {"configMapRef": {"name": cm, "key": "federationmetadata.xml"}},
        "restrictSsoOnly": true,
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_yaml::to_string(&json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap_or_default()
}

async fn start(env: &Env, ns: &str) -> Result<(Emulator, Operator), String> {
    let emulator = env.start_emulator(&[]).await?;
    let operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    Ok((emulator, operator))
}

pub(crate) fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until `Ready` has `status`/`reason` for the current generation; returns the object.
pub(crate) async fn wait_ready(
    env: &Env,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> Result<Value, String> {
    wait_ready_of(env, "ssoconnection", ns, name, status, reason).await
}

/// [`wait_ready`] for any of the operator's kinds (`ssoconnection`, `samlapplication`).
pub(crate) async fn wait_ready_of(
    env: &Env,
    kind: &str,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> Result<Value, String> {
    wait_for(
        &format!("{kind} {ns}/{name} Ready={status} {reason}"),
        READY_TIMEOUT,
        || async {
            let obj = env.get_json(kind, ns, name).await?;
            let cond = ready_condition(&obj).ok_or("no Ready condition yet")?;
            let current = obj["metadata"]["generation"] == obj["status"]["observedGeneration"];
            if cond["status"] == status && cond["reason"] == reason && current {
                Ok(obj)
            } else {
                Err(format!(
                    "Ready is {} {}: {}",
                    cond["status"], cond["reason"], cond["message"]
                ))
            }
        },
    )
    .await
}

/// `METHOD path` of Management API calls after `seq`.
pub(crate) async fn api_calls_since(emulator: &Emulator, seq: u64) -> Result<Vec<String>, String> {
    let calls = emulator.calls_since(seq).await?;
    Ok(calls
        .as_array()
        .ok_or("calls is not an array")?
        .iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .unwrap_or_default()
                .starts_with("/api/v2")
        })
        .map(|c| {
            format!(
                "{} {}",
                c["method"].as_str().unwrap_or_default(),
                c["path"].as_str().unwrap_or_default()
            )
        })
        .collect())
}

pub(crate) fn writes(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| !c.starts_with("GET"))
        .cloned()
        .collect()
}

pub(crate) async fn events_text(env: &Env, ns: &str) -> Result<String, String> {
    env.kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await
}

/// Fails when any status, Event, operator log line or metric holds a secret.
async fn scan_everything(env: &Env, ns: &str, operator: &Operator) -> Result<(), String> {
    let ssos = env
        .kubectl_ok(&["get", "ssoconnections", "-n", ns, "-o", "json"])
        .await?;
    let cms = env
        .kubectl_ok(&["get", "configmaps", "-n", ns, "-o", "json"])
        .await?;
    // The metadata ConfigMaps hold the IdP certificate in XML, which is public; only check
    // that nothing PEM-shaped was written into them.
    let cm_has_pem = cms.contains("-----BEGIN") || cms.contains("LS0tLS1CRUdJTi");
    if cm_has_pem {
        return Err("a ConfigMap holds PEM text".into());
    }
    let events = events_text(env, ns).await?;
    let metrics = operator.metrics().await?;
    let log = operator.log_text();
    env.scan_for_secrets(&[
        ("SsoConnections", &ssos),
        ("Events", &events),
        ("/metrics", &metrics),
        ("operator log", &log),
    ])
}

/// Sends a Management API request as another client would (the Dashboard).
pub(crate) async fn auth0(
    emulator: &Emulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let token = emulator.management_token().await?;
    let mut req = reqwest::Client::new()
        .request(
            method.clone(),
            format!("{}/api/v2{path}", emulator.base_url),
        )
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{method} {path}: {status}: {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn apply_example(env: &Env, ns: &str, extra: Value) -> Result<(), String> {
    let yaml = format!(
        "{}---\n{}",
        config_map("acme-idp-metadata", &env.fixture("azure-entra-tenant.xml")?),
        sso_connection("acme", "acme-azure", "acme-idp-metadata", extra)
    );
    env.apply_yaml(ns, &yaml).await.map(|_| ())
}

/// The example becomes Ready; status, Secret and Events tell the user everything; the
/// ciphertext decrypts back to the IdP certificate; nothing secret leaks.
pub async fn applied_example_becomes_ready_with_encrypted_certificate(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let (emulator, operator) = start(env, ns).await?;
    let examples = env.repo_path("deploy/examples/acme-azure.yaml");
    env.kubectl_ok(&["apply", "-n", ns, "-f", &examples.to_string_lossy()])
        .await?;
    // What a pipeline would run: `kubectl wait` understands the Ready condition.
    env.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=60s",
        "-n",
        ns,
        "ssoconnection/acme",
    ])
    .await
    .map_err(|e| format!("`kubectl wait --for=condition=Ready` did not succeed: {e}"))?;
    let obj = wait_ready(env, ns, "acme", "True", "Synced").await?;
    let st = &obj["status"];
    let conn_name = st["connectionName"]
        .as_str()
        .ok_or("status.connectionName missing")?;
    let expect = [
        ("entityId", format!("urn:auth0:emulator:{conn_name}")),
        (
            "acsUrl",
            format!("https://emulator.local/login/callback?connection={conn_name}"),
        ),
        (
            "spMetadataUrl",
            format!("https://emulator.local/samlp/metadata?connection={conn_name}"),
        ),
        ("signInUrl", AZURE_SSO.to_string()),
    ];
    for (field, want) in expect {
        if st[field] != want.as_str() {
            return Err(format!("status.{field} = {}, want {want}", st[field]));
        }
    }
    if st["signingCertificate"]["sha1Thumbprint"] != AZURE_SHA1
        || st["signingCertificate"]["notAfter"].as_str().is_none()
    {
        return Err(format!(
            "status.signingCertificate: {}",
            st["signingCertificate"]
        ));
    }
    let id = st["connectionId"]
        .as_str()
        .ok_or("status.connectionId missing")?
        .to_string();
    // A create of a connection that routes domains (`restrictSsoOnly`) costs the tenant's
    // listing (the domain check, which also finds a same-named connection) and one POST; the
    // operator's own Secret and status writes must not trigger further Auth0 calls.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = api_calls_since(&emulator, 0).await?;
    if calls != ["GET /api/v2/connections", "POST /api/v2/connections"] {
        return Err(format!("Auth0 calls for one create: {calls:?}"));
    }
    let conn = emulator
        .connection_named(conn_name)
        .await?
        .ok_or("no connection in Auth0")?;
    if conn["id"] != id.as_str() || conn["options"]["thumbprints"][0] != AZURE_SHA1 {
        return Err(format!(
            "Auth0 holds {} with thumbprints {}",
            conn["id"], conn["options"]["thumbprints"]
        ));
    }

    // The Secret: ciphertext only, owned by the SsoConnection, decryptable with the key.
    let secret_ref = &st["encryptedSigningCertSecretRef"];
    let secret_name = secret_ref["name"]
        .as_str()
        .ok_or("no encryptedSigningCertSecretRef")?;
    let secret = env.get_json("secret", ns, secret_name).await?;
    let b64 = secret["data"]["encryptedSigningCert"]
        .as_str()
        .ok_or("Secret has no encryptedSigningCert")?;
    let envelope = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    if !envelope.starts_with("v1:") || envelope.contains("BEGIN") {
        return Err(format!(
            "Secret does not hold a v1 envelope: {}",
            &envelope[..envelope.len().min(20)]
        ));
    }
    let owner = &secret["metadata"]["ownerReferences"][0];
    if owner["kind"] != "SsoConnection" || owner["name"] != "acme" || owner["controller"] != true {
        return Err(format!(
            "Secret ownerReferences: {}",
            secret["metadata"]["ownerReferences"]
        ));
    }
    if condition(&obj, "CertificateEncrypted").map(|c| c["status"].clone()) != Some(json!("True")) {
        return Err(format!(
            "CertificateEncrypted: {:?}",
            condition(&obj, "CertificateEncrypted")
        ));
    }
    // Expiry you can see: days remaining, CertificateExpiring (never Ready), the gauge.
    let not_after = st["signingCertificate"]["notAfter"]
        .as_str()
        .unwrap_or_default()
        .parse::<jiff::Timestamp>()
        .map_err(|e| format!("signingCertificate.notAfter: {e}"))?;
    let days = st["signingCertificate"]["daysRemaining"]
        .as_i64()
        .ok_or(format!(
            "no signingCertificate.daysRemaining: {}",
            st["signingCertificate"]
        ))?;
    let want_days = sso_operator::expiry::days_remaining(not_after, jiff::Timestamp::now());
    if !(want_days - 1..=want_days).contains(&days) {
        return Err(format!("daysRemaining {days}, want about {want_days}"));
    }
    let expiring = condition(&obj, "CertificateExpiring").ok_or(format!(
        "no CertificateExpiring condition: {}",
        st["conditions"]
    ))?;
    if expiring["status"] != "False" || expiring["reason"] != "Valid" {
        return Err(format!("CertificateExpiring: {expiring}"));
    }
    let series = format!(
        "sso_operator_certificate_expiration_timestamp_seconds{{namespace=\"{ns}\",name=\"acme\",certificate=\"idp-signing\"}} {}",
        not_after.as_second()
    );
    // The gauge is refreshed from the watch cache every 15 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let metrics = operator.metrics().await?;
        if metrics.lines().any(|l| l == series) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let found: Vec<&str> = metrics
                .lines()
                .filter(|l| l.contains("certificate_expiration"))
                .collect();
            return Err(format!("/metrics lacks `{series}`; has {found:?}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let envelope_file = env.work_dir().join(format!("{ns}-envelope"));
    std::fs::write(&envelope_file, &envelope).map_err(|e| e.to_string())?;
    let out = tokio::process::Command::new(&env.operator_bin)
        .arg("decrypt")
        .arg(&envelope_file)
        .env("SSO_ENCRYPTION_KEY", env.encryption_key())
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "sso-operator decrypt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    let cert = sso_operator::certs::Certificate::from_pem(&pem)
        .map_err(|e| format!("decrypt output: {e}"))?;
    if cert.sha1_hex() != AZURE_SHA1 {
        return Err("the decrypted certificate is not the IdP's".into());
    }

    // What kubectl shows.
    let table = env.kubectl_ok(&["get", "sso", "-n", ns]).await?;
    let row = table
        .lines()
        .find(|l| l.starts_with("acme "))
        .ok_or(format!("no acme row:\n{table}"))?;
    if !(row.contains("True") && row.contains("Synced") && row.contains(conn_name)) {
        return Err(format!("kubectl get sso row: {row}"));
    }
    let events = events_text(env, ns).await?;
    if events.contains("CertificateExpir") {
        return Err(format!("a certificate valid to 2038 was noticed: {events}"));
    }
    if !events.contains("\"Synced\"") {
        return Err("no Synced event".into());
    }
    let metrics = operator.metrics().await?;
    if !metrics.contains("sso_operator_reconciles_total{outcome=\"created\"}") {
        return Err(format!("metrics lack the created reconcile:\n{metrics}"));
    }

    // connectionName is immutable: the server's CEL rule refuses the rename with the CRD's
    // message (the operator keeps its own check for servers that skip CEL, unit-tested).
    let refused = env
        .kubectl_ok(&[
            "patch",
            "sso",
            "acme",
            "-n",
            ns,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"connectionName":"acme-renamed"}}"#,
        ])
        .await;
    match refused {
        Err(e) if e.contains("Auth0 cannot rename a connection") => {}
        other => {
            return Err(format!(
                "the rename was not refused by the server: {other:?}"
            ));
        }
    }
    wait_ready(env, ns, "acme", "True", "Synced").await?;
    if emulator.connection_named("acme-renamed").await?.is_some() {
        return Err("a renamed connection was created".into());
    }
    scan_everything(env, ns, &operator).await
}

/// Editing the metadata (a new signing certificate) costs one PATCH that keeps options set
/// outside the operator; status and Secret follow.
pub async fn metadata_edit_rotates_certificate_with_one_patch(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let (emulator, operator) = start(env, ns).await?;
    apply_example(env, ns, json!({})).await?;
    let obj = wait_ready(env, ns, "acme", "True", "Synced").await?;
    let id = obj["status"]["connectionId"]
        .as_str()
        .ok_or("no connectionId")?
        .to_string();

    // Someone adds options in the Dashboard.
    let conn = auth0(
        &emulator,
        reqwest::Method::GET,
        &format!("/connections/{id}"),
        None,
    )
    .await?;
    let mut options = conn["options"].clone();
    options["requestTemplate"] = json!("<samlp:AuthnRequest @@AssertServiceURLAndDestination@@ />");
    options["x_dashboard_setting"] = json!({"nested": [1, 2]});
    auth0(
        &emulator,
        reqwest::Method::PATCH,
        &format!("/connections/{id}"),
        Some(json!({"options": options})),
    )
    .await?;

    let seq = emulator.last_seq().await?;
    let okta = env.fixture("okta-app.xml")?;
    env.apply_yaml(ns, &config_map("acme-idp-metadata", &okta))
        .await?;
    let obj = wait_for("the new certificate in status", READY_TIMEOUT, || async {
        let obj = env.get_json("ssoconnection", ns, "acme").await?;
        if obj["status"]["signingCertificate"]["sha1Thumbprint"] == OKTA_SHA1 {
            Ok(obj)
        } else {
            Err(format!(
                "status thumbprint {}",
                obj["status"]["signingCertificate"]["sha1Thumbprint"]
            ))
        }
    })
    .await?;
    let w = writes(&api_calls_since(&emulator, seq).await?);
    if w != [format!("PATCH /api/v2/connections/{id}")] {
        return Err(format!("expected exactly one PATCH, got {w:?}"));
    }
    let conn = emulator
        .connection_named("acme-azure")
        .await?
        .ok_or("connection gone")?;
    for kept in ["requestTemplate", "x_dashboard_setting"] {
        if conn["options"][kept] != options[kept] {
            return Err(format!("{kept} was lost: {}", conn["options"][kept]));
        }
    }
    if conn["options"]["thumbprints"][0] != OKTA_SHA1 {
        return Err(format!(
            "Auth0 thumbprint {}",
            conn["options"]["thumbprints"]
        ));
    }
    let secret_name = obj["status"]["encryptedSigningCertSecretRef"]["name"]
        .as_str()
        .unwrap_or("acme-signing-cert")
        .to_string();
    wait_for(
        "the Secret to hold the new certificate",
        READY_TIMEOUT,
        || async {
            let s = env.get_json("secret", ns, &secret_name).await?;
            let fp = &s["metadata"]["annotations"]["sso-operator.io/certificate-sha256"];
            if fp == OKTA_SHA256 {
                Ok(())
            } else {
                Err(format!("annotation {fp}"))
            }
        },
    )
    .await?;
    scan_everything(env, ns, &operator).await
}

/// `restrictSsoOnly` adds and removes `domain_aliases`; `enabledClients` enables apps through
/// `/clients` without disabling others.
pub async fn restrict_sso_only_and_enabled_clients(env: &Env, ns: &str) -> Result<(), String> {
    let (emulator, operator) = start(env, ns).await?;
    apply_example(env, ns, json!({"restrictSsoOnly": true})).await?;
    let obj = wait_ready(env, ns, "acme", "True", "Synced").await?;
    let id = obj["status"]["connectionId"]
        .as_str()
        .ok_or("no connectionId")?
        .to_string();
    let conn = emulator
        .connection_named("acme-azure")
        .await?
        .ok_or("no connection")?;
    if conn["options"]["domain_aliases"] != json!(["acme.com"]) {
        return Err(format!(
            "domain_aliases {}",
            conn["options"]["domain_aliases"]
        ));
    }
    // Another team enabled its application by hand.
    auth0(
        &emulator,
        reqwest::Method::PATCH,
        &format!("/connections/{id}/clients"),
        Some(json!([{"client_id": "other-team-app", "status": true}])),
    )
    .await?;

    env.kubectl_ok(&[
        "patch",
        "sso",
        "acme",
        "-n",
        ns,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"restrictSsoOnly":false,"enabledClients":["our-app-1","our-app-2"]}}"#,
    ])
    .await?;
    let obj = wait_ready(env, ns, "acme", "True", "Synced").await?;
    let conn = emulator
        .connection_named("acme-azure")
        .await?
        .ok_or("no connection")?;
    if conn["options"].get("domain_aliases").is_some() {
        return Err(format!(
            "domain_aliases still set: {}",
            conn["options"]["domain_aliases"]
        ));
    }
    let clients = auth0(
        &emulator,
        reqwest::Method::GET,
        &format!("/connections/{id}/clients"),
        None,
    )
    .await?;
    let ids: Vec<&str> = clients["clients"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["client_id"].as_str()).collect())
        .unwrap_or_default();
    for want in ["other-team-app", "our-app-1", "our-app-2"] {
        if !ids.contains(&want) {
            return Err(format!("{want} not enabled: {ids:?}"));
        }
    }
    if obj["status"]["managedEnabledClients"] != json!(["our-app-1", "our-app-2"]) {
        return Err(format!(
            "status.managedEnabledClients {}",
            obj["status"]["managedEnabledClients"]
        ));
    }
    scan_everything(env, ns, &operator).await
}

/// A missing ConfigMap is `MetadataNotFound` with a Warning event; creating it recovers
/// without a restart.
pub async fn missing_configmap_reports_metadata_not_found_then_recovers(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let (emulator, operator) = start(env, ns).await?;
    env.apply_yaml(
        ns,
        &sso_connection("acme", "acme-azure", "acme-idp-metadata", json!({})),
    )
    .await?;
    let obj = wait_ready(env, ns, "acme", "False", "MetadataNotFound").await?;
    let message = ready_condition(&obj)
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    if !message.contains("acme-idp-metadata") {
        return Err(format!(
            "the message does not name the ConfigMap: {message}"
        ));
    }
    let events = events_text(env, ns).await?;
    if !(events.contains("\"MetadataNotFound\"") && events.contains("\"Warning\"")) {
        return Err("no Warning MetadataNotFound event".into());
    }
    if emulator.connection_named("acme-azure").await?.is_some() {
        return Err("a connection was created without metadata".into());
    }
    env.apply_yaml(
        ns,
        &config_map("acme-idp-metadata", &env.fixture("azure-entra-tenant.xml")?),
    )
    .await?;
    // The ConfigMap watch triggers the reconcile (well before the 60 s retry).
    wait_for(
        "Ready after the ConfigMap appears",
        Duration::from_secs(20),
        || async {
            let obj = env.get_json("ssoconnection", ns, "acme").await?;
            match ready_condition(&obj) {
                Some(c) if c["status"] == "True" => Ok(()),
                c => Err(format!("{c:?}")),
            }
        },
    )
    .await?;
    scan_everything(env, ns, &operator).await
}

/// A same-named connection the operator did not create is left alone (`ConnectionConflict`);
/// with `adoptExisting` it is adopted and its options are kept.
pub async fn foreign_connection_conflicts_until_adopted(env: &Env, ns: &str) -> Result<(), String> {
    let (emulator, operator) = start(env, ns).await?;
    let xml = env.fixture("okta-app.xml")?;
    let start_i = xml.find("X509Certificate>").ok_or("no cert")? + "X509Certificate>".len();
    let end = start_i + xml[start_i..].find('<').ok_or("no cert end")?;
    let cert = sso_operator::certs::Certificate::from_base64_text(&xml[start_i..end])
        .map_err(|e| e.to_string())?;
    emulator
        .seed_connection(json!({
            "name": "acme-azure", "strategy": "samlp",
            "options": {
                "signInEndpoint": "https://old.example-idp.test/sso",
                "signingCert": cert.signing_cert_value(),
                "requestTemplate": "<x/>",
                "x_future_option": {"enabled": true},
            },
        }))
        .await?;
    let before = emulator
        .connection_named("acme-azure")
        .await?
        .ok_or("seed failed")?;
    let seq = emulator.last_seq().await?;
    apply_example(env, ns, json!({})).await?;
    let obj = wait_ready(env, ns, "acme", "False", "ConnectionConflict").await?;
    let message = ready_condition(&obj)
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    if !message.contains("adoptExisting") {
        return Err(format!("the message does not say how to adopt: {message}"));
    }
    let w = writes(&api_calls_since(&emulator, seq).await?);
    if !w.is_empty() {
        return Err(format!("a foreign connection was written: {w:?}"));
    }
    env.kubectl_ok(&[
        "patch",
        "sso",
        "acme",
        "-n",
        ns,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"adoptExisting":true}}"#,
    ])
    .await?;
    wait_ready(env, ns, "acme", "True", "Synced").await?;
    let after = emulator
        .connection_named("acme-azure")
        .await?
        .ok_or("connection gone")?;
    if after["id"] != before["id"] {
        return Err("adoption created a new connection".into());
    }
    for kept in ["requestTemplate", "x_future_option"] {
        if after["options"][kept] != before["options"][kept] {
            return Err(format!("{kept} lost on adoption"));
        }
    }
    if after["metadata"]["sso-operator-owner"] != format!("{ns}/acme") {
        return Err(format!("ownership marker {}", after["metadata"]));
    }
    scan_everything(env, ns, &operator).await
}

/// After a SIGKILL and restart: no duplicate connection, zero writes for unchanged resources.
pub async fn restart_creates_no_duplicates_and_writes_nothing(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let (emulator, mut operator) = start(env, ns).await?;
    apply_example(env, ns, json!({})).await?;
    wait_ready(env, ns, "acme", "True", "Synced").await?;
    operator.kill9();
    let seq = emulator.last_seq().await?;
    operator.restart().await?;
    // The restarted operator re-reads the connection once.
    wait_for(
        "the restarted operator to read the connection",
        READY_TIMEOUT,
        || async {
            let calls = api_calls_since(&emulator, seq).await?;
            if calls
                .iter()
                .any(|c| c.starts_with("GET /api/v2/connections"))
            {
                Ok(())
            } else {
                Err(format!("{calls:?}"))
            }
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = api_calls_since(&emulator, seq).await?;
    let w = writes(&calls);
    if !w.is_empty() {
        return Err(format!("writes after restart: {w:?}"));
    }
    let all = emulator.connections().await?;
    let count = all
        .as_array()
        .or_else(|| all["connections"].as_array())
        .map_or(0, |a| a.len());
    if count != 1 {
        return Err(format!("{count} connections in Auth0, want 1"));
    }
    scan_everything(env, ns, &operator).await
}

/// `deletionPolicy: Delete` removes the Auth0 connection and releases the finalizer;
/// `Retain` keeps the connection.
pub async fn deletion_policy_delete_removes_and_retain_keeps(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let (emulator, operator) = start(env, ns).await?;
    apply_example(env, ns, json!({"deletionPolicy": "Delete"})).await?;
    let obj = wait_ready(env, ns, "acme", "True", "Synced").await?;
    let finalizers = obj["metadata"]["finalizers"].to_string();
    if !finalizers.contains("sso-operator.io/") {
        return Err(format!(
            "no finalizer with deletionPolicy Delete: {finalizers}"
        ));
    }
    env.apply_yaml(
        ns,
        &sso_connection(
            "keep",
            "keep-conn",
            "acme-idp-metadata",
            // Another domain: a routed domain is claimed by one SsoConnection per tenant.
            json!({"deletionPolicy": "Retain", "companyDomain": "keep.example"}),
        ),
    )
    .await?;
    let kept = wait_ready(env, ns, "keep", "True", "Synced").await?;
    // Retain has the finalizer too: deleting the resource releases the ownership marker.
    if !kept["metadata"]["finalizers"]
        .to_string()
        .contains("sso-operator.io/")
    {
        return Err(format!(
            "no finalizer with deletionPolicy Retain: {}",
            kept["metadata"]["finalizers"]
        ));
    }

    env.kubectl_ok(&[
        "delete",
        "sso",
        "acme",
        "-n",
        ns,
        "--wait=true",
        "--timeout=60s",
    ])
    .await?;
    if env
        .get_json_opt("ssoconnection", ns, "acme")
        .await?
        .is_some()
    {
        return Err("acme still exists after delete".into());
    }
    if emulator.connection_named("acme-azure").await?.is_some() {
        return Err("the Auth0 connection survived deletionPolicy Delete".into());
    }
    env.kubectl_ok(&[
        "delete",
        "sso",
        "keep",
        "-n",
        ns,
        "--wait=true",
        "--timeout=60s",
    ])
    .await?;
    let Some(released) = emulator.connection_named("keep-conn").await? else {
        return Err("deletionPolicy Retain deleted the Auth0 connection".into());
    };
    // Released: no owner keys, the former owner named, adoptable again.
    let metadata = &released["metadata"];
    if metadata
        .get("sso-operator-owner")
        .is_some_and(|v| !v.is_null())
        || metadata["sso-operator-released"] != format!("{ns}/keep")
    {
        return Err(format!("Retain did not release the marker: {metadata}"));
    }
    scan_everything(env, ns, &operator).await
}

/// A stand-in for the customer's `encrypt-string` service that can be switched off.
struct EncryptService {
    url: String,
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Every request, failed ones included.
    attempts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EncryptService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_encrypt_service() -> Result<EncryptService, String> {
    use std::sync::atomic::Ordering;
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (h, r, n) = (healthy.clone(), received.clone(), attempts.clone());
    let app = axum::Router::new().route(
        "/encrypt-string",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
                let (h, r) = (h.clone(), r.clone());
                n.fetch_add(1, Ordering::SeqCst);
                async move {
                    if !h.load(Ordering::SeqCst) {
                        return (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            axum::Json(json!({"error": "down"})),
                        );
                    }
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let plain = body["string"].as_str().unwrap_or_default().to_string();
                    let cipher = format!("svc-ciphertext-{}", plain.len());
                    if let Ok(mut list) = r.lock() {
                        list.push((auth, plain));
                    }
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({"encryptedString": cipher})),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(EncryptService {
        url,
        healthy,
        attempts,
        received,
        task,
    })
}

/// A failing encryption backend never blocks the connection: `Ready=True`,
/// `CertificateEncrypted=False` with a Warning; once the backend is back, the Secret is written.
pub async fn encryption_outage_keeps_connection_ready_then_recovers(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    use std::sync::atomic::Ordering;
    let service = start_encrypt_service().await?;
    let token_file = env.work_dir().join(format!("{ns}-encrypt-token"));
    std::fs::write(&token_file, "service-to-service-token\n").map_err(|e| e.to_string())?;
    let emulator = env.start_emulator(&[]).await?;
    let token_path = token_file.to_string_lossy().into_owned();
    let operator = env
        .start_operator(
            &emulator,
            &[
                ("SSO_WATCH_NAMESPACE", ns),
                ("SSO_ENCRYPTION_BACKEND", "http"),
                ("SSO_ENCRYPT_URL", &service.url),
                ("SSO_ENCRYPT_TOKEN_FILE", &token_path),
            ],
        )
        .await?;
    apply_example(env, ns, json!({})).await?;
    let obj = wait_for(
        "Ready=True with CertificateEncrypted=False",
        READY_TIMEOUT,
        || async {
            let obj = env.get_json("ssoconnection", ns, "acme").await?;
            let ready = ready_condition(&obj).map(|c| c["status"].clone());
            let enc = condition(&obj, "CertificateEncrypted")
                .map(|c| (c["status"].clone(), c["reason"].clone()));
            if ready == Some(json!("True"))
                && enc == Some((json!("False"), json!("EncryptionFailed")))
            {
                Ok(obj)
            } else {
                Err(format!("Ready {ready:?}, CertificateEncrypted {enc:?}"))
            }
        },
    )
    .await?;
    if obj["status"].get("encryptedSigningCertSecretRef").is_some() {
        return Err("encryptedSigningCertSecretRef is set while encryption fails".into());
    }
    if env
        .get_json_opt("secret", ns, "acme-signing-cert")
        .await?
        .is_some()
    {
        return Err("a Secret was written while encryption fails".into());
    }
    let conn = emulator
        .connection_named("acme-azure")
        .await?
        .ok_or("the connection was not created")?;
    if conn["options"]["thumbprints"][0] != AZURE_SHA1 {
        return Err("the connection is not intact".into());
    }
    let events = events_text(env, ns).await?;
    if !events.contains("\"EncryptionFailed\"") {
        return Err("no EncryptionFailed event".into());
    }

    // Encryption is retried with backoff without asking Auth0 again: the metadata and the
    // spec did not change, so the certificate synced before is stored once the backend works.
    let seq = emulator.last_seq().await?;
    let tried = service.attempts.load(Ordering::SeqCst);
    wait_for(
        "two more encryption attempts",
        Duration::from_secs(60),
        || async {
            let now = service.attempts.load(Ordering::SeqCst);
            if now >= tried + 2 {
                Ok(())
            } else {
                Err(format!("{} attempts so far", now))
            }
        },
    )
    .await?;
    let calls = api_calls_since(&emulator, seq).await?;
    if !calls.is_empty() {
        return Err(format!("encryption retries called Auth0: {calls:?}"));
    }

    service.healthy.store(true, Ordering::SeqCst);
    let obj = wait_for(
        "CertificateEncrypted=True after the backend recovers",
        Duration::from_secs(90),
        || async {
            let obj = env.get_json("ssoconnection", ns, "acme").await?;
            match condition(&obj, "CertificateEncrypted") {
                Some(c) if c["status"] == "True" => Ok(obj),
                c => Err(format!("{c:?}")),
            }
        },
    )
    .await?;
    let secret = env.get_json("secret", ns, "acme-signing-cert").await?;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(
            secret["data"]["encryptedSigningCert"]
                .as_str()
                .unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
    if !String::from_utf8_lossy(&stored).starts_with("svc-ciphertext-") {
        return Err("the Secret does not hold the service's ciphertext".into());
    }
    if secret["metadata"]["annotations"]["sso-operator.io/encryption-backend"] != "http" {
        return Err(format!(
            "annotations: {}",
            secret["metadata"]["annotations"]
        ));
    }
    if obj["status"]["encryptedSigningCertSecretRef"]["name"] != "acme-signing-cert" {
        return Err(format!(
            "status ref: {}",
            obj["status"]["encryptedSigningCertSecretRef"]
        ));
    }
    let received = service.received.lock().map_err(|e| e.to_string())?.clone();
    let (auth, pem) = received.last().ok_or("the service received nothing")?;
    if auth != "Bearer service-to-service-token" {
        return Err(format!("the service got Authorization {auth:?}"));
    }
    let cert = sso_operator::certs::Certificate::from_pem(pem).map_err(|e| e.to_string())?;
    if cert.sha1_hex() != AZURE_SHA1 {
        return Err("the service was sent another certificate".into());
    }
    scan_everything(env, ns, &operator).await
}
