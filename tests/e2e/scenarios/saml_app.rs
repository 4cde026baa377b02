//! `SamlApplication` on the real API server: SP metadata in a ConfigMap becomes an Auth0
//! application with the SAML2 Web App addon; status and the `<name>-idp-metadata` ConfigMap
//! give the SP's administrator the IdP side; Dashboard edits survive an update; a restart
//! writes nothing; a foreign application is not taken over; IdP metadata given as SP metadata
//! is refused clearly; `deletionPolicy: Delete` deletes only the operator's application.

use std::time::Duration;

use serde_json::{Value, json};
use sso_operator::metadata::sp::parse_sp_metadata;

use super::b2b::writes_since;
use crate::env::{Emulator, Env, wait_for};

const TIMEOUT: Duration = Duration::from_secs(60);

fn app(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sso-operator.io/v1alpha1", "kind": "SamlApplication",
        "metadata": {"name": name}, "spec": spec})
}

fn config_map(name: &str, xml: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"metadata.xml": xml}})
}

async fn apply(env: &Env, ns: &str, objects: Vec<Value>) -> Result<(), String> {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    env.kubectl_ok_stdin(
        &["apply", "--server-side", "-n", ns, "-f", "-"],
        &list.to_string(),
    )
    .await
    .map(drop)
}

async fn stored(emulator: &Emulator, id: &str) -> Result<Value, String> {
    emulator
        .admin
        .client(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or(format!("application {id} is not in Auth0"))
}

/// The whole "Done means" of the SamlApplication issue on the real API server (without the
/// deploy-cli part).
pub async fn saml_application_hands_the_idp_side_to_the_sp_administrator(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let emulator = env.start_emulator(&[]).await?;
    let mut operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    let xml =
        std::fs::read_to_string(env.repo_path("tests/fixtures/sp-metadata/salesforce-sp.xml"))
            .map_err(|e| format!("fixture: {e}"))?;
    let sp = parse_sp_metadata(&xml, None).map_err(|e| format!("fixture: {e}"))?;
    apply(
        env,
        ns,
        vec![
            config_map("salesforce-sp", &xml),
            app(
                "salesforce",
                json!({
                    "spMetadata": {"configMapRef": {"name": "salesforce-sp", "key": "metadata.xml"}},
                    "signResponse": true,
                    "deletionPolicy": "Delete",
                }),
            ),
        ],
    )
    .await?;
    let ready = wait_ready_app(env, ns, "salesforce", "True", "Synced").await?;
    let status = &ready["status"];
    let id = status["clientId"]
        .as_str()
        .ok_or("no clientId")?
        .to_string();
    let auth0 = stored(&emulator, &id).await?;
    let samlp = &auth0["addons"]["samlp"];
    if samlp["audience"] != sp.entity_id.as_str()
        || samlp["recipient"] != sp.acs().location.as_str()
        || auth0["callbacks"] != json!([sp.acs().location])
        || samlp["signResponse"] != true
        || !samlp["signingCert"]
            .as_str()
            .is_some_and(|c| c.contains("BEGIN CERTIFICATE"))
    {
        return Err(format!("the application in Auth0: {auth0}"));
    }
    if sp
        .slo()
        .is_some_and(|s| samlp["logout"]["callback"] != s.location.as_str())
    {
        return Err(format!("logout: {}", samlp["logout"]));
    }
    for field in ["idpEntityId", "idpSsoUrl", "idpSloUrl", "idpMetadataUrl"] {
        if !status[field].is_string() {
            return Err(format!("status.{field} missing: {status}"));
        }
    }
    if !status["idpSigningCertificate"]["sha256Fingerprint"].is_string() {
        return Err(format!("status.idpSigningCertificate: {status}"));
    }
    let cm = env
        .get_json("configmap", ns, "salesforce-idp-metadata")
        .await?;
    let idp_xml = cm["data"]["metadata.xml"].as_str().unwrap_or_default();
    let idp = sso_operator::metadata::parse_idp_metadata(
        idp_xml.as_bytes(),
        None,
        jiff::Timestamp::now(),
    )
    .map_err(|e| format!("the IdP metadata ConfigMap does not parse: {e}"))?;
    if Some(idp.entity_id.as_str()) != status["idpEntityId"].as_str()
        || idp.selected_cert().sha256_hex()
            != status["idpSigningCertificate"]["sha256Fingerprint"]
                .as_str()
                .unwrap_or_default()
    {
        return Err(format!(
            "IdP metadata entity {} / status {}",
            idp.entity_id, status["idpEntityId"]
        ));
    }
    if cm["metadata"]["ownerReferences"][0]["uid"] != ready["metadata"]["uid"] {
        return Err("the IdP metadata ConfigMap is not owned by the SamlApplication".into());
    }

    // A Dashboard edit (an addon key, another callback) survives a spec change.
    let mut edited = samlp.clone();
    edited["x_dashboard_setting"] = json!("kept");
    emulator
        .admin
        .patch_client(
            &id,
            json!({"addons": {"samlp": edited}, "callbacks": [sp.acs().location, "https://other.example/cb"]}),
        )
        .await
        .map_err(|e| e.to_string())?;
    env.kubectl_ok(&[
        "patch",
        "-n",
        ns,
        "samlapplication",
        "salesforce",
        "--type=merge",
        "-p",
        r#"{"spec":{"lifetimeInSeconds":600}}"#,
    ])
    .await?;
    wait_for("the spec change reaches Auth0", TIMEOUT, || async {
        let now = stored(&emulator, &id).await?;
        if now["addons"]["samlp"]["lifetimeInSeconds"] == 600 {
            Ok(now)
        } else {
            Err(format!("{}", now["addons"]["samlp"]))
        }
    })
    .await
    .and_then(|now| {
        if now["addons"]["samlp"]["x_dashboard_setting"] == "kept"
            && now["callbacks"].as_array().is_some_and(|c| c.len() == 2)
        {
            Ok(())
        } else {
            Err(format!("Dashboard edits lost: {now}"))
        }
    })?;
    wait_ready_app(env, ns, "salesforce", "True", "Synced").await?;

    // The SP moves its ACS: an edit of the metadata ConfigMap reaches Auth0; the old ACS the
    // operator had added is replaced, the other callback stays.
    let moved = format!("{}/moved", sp.acs().location);
    let edited_xml = xml.replace(
        &format!("Location=\"{}\"", sp.acs().location),
        &format!("Location=\"{moved}\""),
    );
    if edited_xml == xml {
        return Err("the fixture's ACS location was not found to edit".into());
    }
    apply(env, ns, vec![config_map("salesforce-sp", &edited_xml)]).await?;
    wait_for("the moved ACS reaches Auth0", TIMEOUT, || async {
        let now = stored(&emulator, &id).await?;
        if now["callbacks"] == json!(["https://other.example/cb", moved])
            && now["addons"]["samlp"]["recipient"] == moved.as_str()
        {
            Ok(())
        } else {
            Err(format!(
                "callbacks {} recipient {}",
                now["callbacks"], now["addons"]["samlp"]["recipient"]
            ))
        }
    })
    .await?;

    // A restart writes nothing.
    let seq = emulator.last_seq().await?;
    operator.restart().await?;
    wait_for(
        "the restarted operator reads the application",
        TIMEOUT,
        || async {
            let calls = emulator.calls_since(seq).await?;
            let read = calls.as_array().into_iter().flatten().any(|c| {
                c["method"] == "GET" && c["path"].as_str() == Some(&format!("/api/v2/clients/{id}"))
            });
            if read {
                Ok(())
            } else {
                Err(format!("{calls}"))
            }
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writes = writes_since(&emulator, seq).await?;
    if !writes.is_empty() {
        return Err(format!("a restart wrote {writes:?}"));
    }

    // A foreign application of the same name is not taken over.
    let foreign = emulator
        .admin
        .seed_client(json!({"name": "legacy-portal", "app_type": "regular_web",
            "addons": {"samlp": {"audience": "urn:legacy"}}}))
        .await
        .map_err(|e| e.to_string())?;
    let foreign_id = foreign["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    apply(
        env,
        ns,
        vec![app(
            "portal",
            json!({"applicationName": "legacy-portal", "entityId": "https://portal.example/sp",
                "acsUrl": "https://portal.example/acs"}),
        )],
    )
    .await?;
    let refused = wait_ready_app(env, ns, "portal", "False", "ConnectionConflict").await?;
    let message = crate::env::ready_message(&refused);
    if !message.contains("adoptExisting") {
        return Err(format!("message: {message}"));
    }
    if stored(&emulator, &foreign_id).await?["addons"]["samlp"]["audience"] != "urn:legacy" {
        return Err("the foreign application was changed".into());
    }

    // IdP metadata given as SP metadata: a clear error.
    apply(
        env,
        ns,
        vec![
            config_map("wrong-sp", &env.fixture("okta-app.xml")?),
            app(
                "wrong",
                json!({"spMetadata": {"configMapRef": {"name": "wrong-sp", "key": "metadata.xml"}}}),
            ),
        ],
    )
    .await?;
    let wrong = wait_ready_app(env, ns, "wrong", "False", "InvalidMetadata").await?;
    let message = crate::env::ready_message(&wrong);
    if !message.contains("wrong-sp") {
        return Err(format!("message does not name the ConfigMap: {message}"));
    }

    // Retain (the default): deleting the resource leaves the application in Auth0, released
    // (its marker no longer names an owner) so that another resource may adopt it.
    apply(
        env,
        ns,
        vec![app(
            "kept",
            json!({"entityId": "https://kept.example/sp", "acsUrl": "https://kept.example/acs"}),
        )],
    )
    .await?;
    let kept = wait_ready_app(env, ns, "kept", "True", "Synced").await?;
    let kept_id = kept["status"]["clientId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    env.kubectl_ok(&[
        "delete",
        "-n",
        ns,
        "samlapplication",
        "kept",
        "--wait=true",
        "--timeout=60s",
    ])
    .await?;
    let released = stored(&emulator, &kept_id).await?;
    let metadata = &released["client_metadata"];
    if metadata
        .get("sso-operator-owner")
        .is_some_and(|v| !v.is_null())
        || !metadata["sso-operator-released"].is_string()
    {
        return Err(format!(
            "the retained application is not released: {metadata}"
        ));
    }

    // adoptExisting takes over an application whose owner is gone from this cluster, never
    // one whose owner still exists.
    let cluster_uid = env.cluster_uid().await?;
    let mut seeded = Vec::new();
    for (client, owner) in [
        ("orphan-portal", format!("{ns}/departed")),
        ("claimed-portal", format!("{ns}/salesforce")),
    ] {
        let created = emulator
            .admin
            .seed_client(json!({"name": client, "app_type": "regular_web",
                "addons": {"samlp": {"audience": "urn:old", "lifetimeInSeconds": 600}},
                "client_metadata": {"managed-by": "sso-operator", "sso-operator-owner": owner,
                    "sso-operator-cluster": &cluster_uid,
                    "sso-operator-uid": "00000000-0000-0000-0000-00000000dead"}}))
            .await
            .map_err(|e| e.to_string())?;
        seeded.push(
            created["client_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    for (name, client) in [("heir", "orphan-portal"), ("squatter", "claimed-portal")] {
        apply(
            env,
            ns,
            vec![app(
                name,
                json!({"applicationName": client, "adoptExisting": true,
                    "entityId": format!("https://{name}.example/sp"),
                    "acsUrl": format!("https://{name}.example/acs")}),
            )],
        )
        .await?;
    }
    wait_ready_app(env, ns, "heir", "True", "Synced").await?;
    let adopted = stored(&emulator, &seeded[0]).await?;
    if adopted["client_metadata"]["sso-operator-owner"] != format!("{ns}/heir").as_str()
        || adopted["addons"]["samlp"]["lifetimeInSeconds"] != 600
        || adopted["addons"]["samlp"]["audience"] != "https://heir.example/sp"
    {
        return Err(format!(
            "orphan-portal was not adopted as expected: {adopted}"
        ));
    }
    let squatter = wait_ready_app(env, ns, "squatter", "False", "ConnectionConflict").await?;
    let message = crate::env::ready_message(&squatter);
    if !message.contains(&format!("{ns}/salesforce")) {
        return Err(format!("the conflict does not name the owner: {message}"));
    }
    if stored(&emulator, &seeded[1]).await?["addons"]["samlp"]["audience"] != "urn:old" {
        return Err("an application with a live owner was changed".into());
    }

    // Delete: the operator's application goes, the foreign one stays.
    env.kubectl_ok(&[
        "delete",
        "-n",
        ns,
        "samlapplication",
        "salesforce",
        "portal",
        "wrong",
        "--wait=true",
        "--timeout=60s",
    ])
    .await?;
    if emulator
        .admin
        .client(&id)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err("the application was not deleted".into());
    }
    if emulator
        .admin
        .client(&foreign_id)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err("the foreign application was deleted".into());
    }
    env.scan_for_secrets(&[("operator log", &operator.log_text())])
}

/// Waits until `Ready` of SamlApplication `ns/name` has `status` and `reason` for the current
/// generation.
async fn wait_ready_app(
    env: &Env,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> Result<Value, String> {
    super::controller::wait_ready_of(env, "samlapplication", ns, name, status, reason).await
}
