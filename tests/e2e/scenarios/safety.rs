//! Failure modes found in review, each as a user meets it: a Secret the operator did not
//! create, and a deletion that cannot reach Auth0.

use std::time::Duration;

use serde_json::{Value, json};

use crate::env::{Env, ready_condition, wait_for};

const TIMEOUT: Duration = Duration::from_secs(60);

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

async fn apply_example(env: &Env, ns: &str, extra_spec: Value) -> Result<(), String> {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "acme-idp-metadata"},
        "data": {"federationmetadata.xml": env.fixture("azure-entra-tenant.xml")?},
    });
    let mut spec = json!({
        "companyDomain": "acme.com",
        "connectionName": "acme-azure",
        "metadata": {"configMapRef": {"name": "acme-idp-metadata", "key": "federationmetadata.xml"}},
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    let sso = json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": "acme"},
        "spec": spec,
    });
    let text = format!(
        "{}---\n{}",
        serde_yaml::to_string(&cm).unwrap_or_default(),
        serde_yaml::to_string(&sso).unwrap_or_default()
    );
    env.apply_yaml(ns, &text).await.map(drop)
}

/// A Secret named `<name>-signing-cert` that someone else created is neither overwritten nor
/// given an owner (which would garbage-collect it with the SsoConnection); `Ready` is
/// unaffected and `CertificateEncrypted` says `SecretConflict`.
pub async fn a_foreign_secret_is_never_overwritten_or_owned(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let emulator = env.start_emulator(&[]).await?;
    let _operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    let users = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "acme-signing-cert"},
        "stringData": {"note": "the user's own data"},
    });
    env.apply_yaml(ns, &serde_yaml::to_string(&users).unwrap_or_default())
        .await?;
    let before = env.get_json("secret", ns, "acme-signing-cert").await?;
    apply_example(env, ns, json!({})).await?;
    let obj = wait_for(
        "Ready=True with CertificateEncrypted=False SecretConflict",
        TIMEOUT,
        || async {
            let obj = env.get_json("ssoconnection", ns, "acme").await?;
            let ready = ready_condition(&obj).map(|c| c["status"].clone());
            let enc = condition(&obj, "CertificateEncrypted").map(|c| c["reason"].clone());
            if ready == Some(json!("True")) && enc == Some(json!("SecretConflict")) {
                Ok(obj)
            } else {
                Err(format!("Ready {ready:?}, CertificateEncrypted {enc:?}"))
            }
        },
    )
    .await?;
    let message = condition(&obj, "CertificateEncrypted")
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    if !message.contains("was not created by the operator") {
        return Err(format!("SecretConflict does not explain: {message}"));
    }
    let after = env.get_json("secret", ns, "acme-signing-cert").await?;
    if after["data"] != before["data"]
        || after["metadata"].get("ownerReferences").is_some()
        || after["metadata"]["labels"] != before["metadata"]["labels"]
    {
        return Err(format!(
            "the user's Secret was changed: {}",
            after["metadata"]
        ));
    }
    let events = env
        .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await?;
    if !events.contains("\"SecretConflict\"") {
        return Err("no SecretConflict event".into());
    }
    Ok(())
}

/// With `deletionPolicy: Delete` and Auth0 unreachable, deleting the resource keeps it (the
/// connection cannot be deleted), says so in `Ready` with the way out, and switching
/// `deletionPolicy` to `Retain` while it is being deleted lets it go.
pub async fn a_deletion_that_cannot_reach_auth0_names_the_way_out(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let mut emulator = env.start_emulator(&[]).await?;
    let _operator = env
        .start_operator(
            &emulator,
            &[("SSO_WATCH_NAMESPACE", ns), ("AUTH0_TIMEOUT_SECONDS", "2")],
        )
        .await?;
    apply_example(env, ns, json!({"deletionPolicy": "Delete"})).await?;
    wait_for("Ready", TIMEOUT, || async {
        let obj = env.get_json("ssoconnection", ns, "acme").await?;
        match ready_condition(&obj) {
            Some(c) if c["status"] == "True" => Ok(()),
            c => Err(format!("{c:?}")),
        }
    })
    .await?;
    // Auth0 goes away (revoked credentials or an outage look the same from here).
    emulator.child.kill();
    env.kubectl_ok(&["delete", "sso", "acme", "-n", ns, "--wait=false"])
        .await?;
    let obj = wait_for("Ready=False Deleting", Duration::from_secs(90), || async {
        let obj = env.get_json("ssoconnection", ns, "acme").await?;
        match ready_condition(&obj) {
            Some(c) if c["reason"] == "Deleting" => Ok(obj),
            c => Err(format!("{c:?}")),
        }
    })
    .await?;
    let message = ready_condition(&obj)
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    if !message.contains("set spec.deletionPolicy to Retain") {
        return Err(format!("the Deleting message names no way out: {message}"));
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
        r#"{"spec":{"deletionPolicy":"Retain"}}"#,
    ])
    .await?;
    wait_for("the resource to go", Duration::from_secs(60), || async {
        match env.get_json_opt("ssoconnection", ns, "acme").await? {
            None => Ok(()),
            Some(obj) => Err(format!(
                "still there: {:?}",
                ready_condition(&obj).map(|c| c["message"].clone())
            )),
        }
    })
    .await
}
