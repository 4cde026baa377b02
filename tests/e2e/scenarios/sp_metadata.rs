//! The IdP administrator's side: each SsoConnection gets a ConfigMap `<name>-sp-metadata`
//! holding the SP metadata document Auth0 publishes for its connection (with the tenant's
//! certificate, or a custom key pair's), owned by the SsoConnection; a user's ConfigMap of
//! that name is never touched.
//!
//! The test API server runs no garbage collector, so what would delete the ConfigMap with its
//! SsoConnection is checked as its ownerReference.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::env::{Emulator, Env, Operator, wait_for};

const TIMEOUT: Duration = Duration::from_secs(60);
const METADATA_KEY: &str = "federationmetadata.xml";
const SIGNING_KEY_NAME: &str = "globex-sp-signing";

async fn start(env: &Env, ns: &str) -> Result<(Emulator, Operator), String> {
    let emulator = env.start_emulator(&[]).await?;
    let operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    Ok((emulator, operator))
}

/// The IdP metadata ConfigMap `name` and an SsoConnection `name` reading it, for `domain`,
/// with `extra` merged into its spec.
fn resource(name: &str, domain: &str, extra: Value) -> Vec<Value> {
    let mut spec = json!({
        "companyDomain": domain,
        "provider": "okta",
        "metadata": {"configMapRef": {"name": format!("{name}-idp"), "key": METADATA_KEY}},
        "signRequest": true,
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    vec![
        json!({"apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
            "metadata": {"name": name}, "spec": spec}),
    ]
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

fn idp_config_map(name: &str, xml: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-idp")}, "data": {METADATA_KEY: xml}})
}

/// A throwaway key pair made with openssl for this run: (key PEM, certificate PEM).
async fn throwaway_key_pair(dir: &Path, ns: &str) -> Result<(String, String), String> {
    let key = dir.join(format!("{ns}-sp.key"));
    let cert = dir.join(format!("{ns}-sp.crt"));
    let out = tokio::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=globex-sp-signing", "-days", "2"])
        .output()
        .await
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    Ok((read(&key)?, read(&cert)?))
}

/// The base64 DER of the first certificate in `pem`, as SAML metadata carries it.
fn base64_der(pem: &str) -> String {
    pem.lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect()
}

/// The emulator's certificate for SAML connections, as base64 DER.
async fn tenant_certificate(emulator: &Emulator) -> Result<String, String> {
    let pem = reqwest::get(format!("{}/pem?cert=connection", emulator.base_url))
        .await
        .map_err(|e| format!("GET /pem: {e}"))?
        .text()
        .await
        .map_err(|e| format!("GET /pem: {e}"))?;
    Ok(base64_der(&pem))
}

/// Waits until `<name>` is Ready for its generation and `<name>-sp-metadata` exists; returns
/// both.
async fn ready_with_config_map(env: &Env, ns: &str, name: &str) -> Result<(Value, Value), String> {
    wait_for(
        &format!("{ns}/{name} Ready with ConfigMap {name}-sp-metadata"),
        TIMEOUT,
        || async {
            let obj = env.get_json("ssoconnection", ns, name).await?;
            let ready = crate::env::ready_condition(&obj).ok_or("no Ready condition yet")?;
            if ready["status"] != "True"
                || obj["metadata"]["generation"] != obj["status"]["observedGeneration"]
            {
                return Err(format!("Ready is {} {}", ready["status"], ready["message"]));
            }
            let cm = env
                .get_json_opt("configmap", ns, &format!("{name}-sp-metadata"))
                .await?
                .ok_or("no SP metadata ConfigMap yet")?;
            Ok((obj, cm))
        },
    )
    .await
}

/// `(use, base64 certificate)` of each KeyDescriptor, and the document's entityID and ACS
/// Location, read with a plain string scan (the unit tests parse the document properly).
struct Document {
    entity_id: String,
    acs: String,
    certificates: Vec<(String, String)>,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].replace("&amp;", "&"))
}

fn read_document(xml: &str) -> Result<Document, String> {
    let tag_of = |element: &str| -> Result<&str, String> {
        let start = xml
            .find(&format!("<{element} "))
            .ok_or(format!("no {element} in {xml}"))?;
        let end = start + xml[start..].find('>').ok_or("unterminated tag")?;
        Ok(&xml[start..end])
    };
    let mut certificates = Vec::new();
    for part in xml.split("<KeyDescriptor ").skip(1) {
        let usage = attribute(part, "use").ok_or("KeyDescriptor without use")?;
        let start = part
            .find("<ds:X509Certificate>")
            .ok_or("KeyDescriptor without a certificate")?
            + "<ds:X509Certificate>".len();
        let end = start + part[start..].find('<').ok_or("unterminated certificate")?;
        certificates.push((usage, part[start..end].trim().to_string()));
    }
    Ok(Document {
        entity_id: attribute(tag_of("EntityDescriptor")?, "entityID").ok_or("no entityID")?,
        acs: attribute(tag_of("AssertionConsumerService")?, "Location").ok_or("no ACS")?,
        certificates,
    })
}

/// Checks the ConfigMap against the status of `obj`: the plain values, the document's entity
/// ID and ACS URL, the certificate of each use, the label and the controller reference.
fn check_config_map(
    obj: &Value,
    cm: &Value,
    signing: &str,
    encryption: &str,
) -> Result<(), String> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let st = &obj["status"];
    let data = &cm["data"];
    for (key, field) in [
        ("entityId", "entityId"),
        ("acsUrl", "acsUrl"),
        ("spMetadataUrl", "spMetadataUrl"),
    ] {
        if data[key] != st[field] || st[field].as_str().is_none() {
            return Err(format!(
                "{name}: ConfigMap {key} = {}, status.{field} = {}",
                data[key], st[field]
            ));
        }
    }
    let xml = data["metadata.xml"]
        .as_str()
        .ok_or(format!("{name}: no metadata.xml"))?;
    let doc = read_document(xml)?;
    if doc.entity_id != st["entityId"] || doc.acs != st["acsUrl"] {
        return Err(format!(
            "{name}: document has entityID {} and ACS {}; status has {} and {}",
            doc.entity_id, doc.acs, st["entityId"], st["acsUrl"]
        ));
    }
    let want = vec![
        ("signing".to_string(), signing.to_string()),
        ("encryption".to_string(), encryption.to_string()),
    ];
    if doc.certificates != want {
        return Err(format!(
            "{name}: certificates by use {:?}, want {want:?}",
            doc.certificates
        ));
    }
    if cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] != "sso-operator" {
        return Err(format!("{name}: labels {}", cm["metadata"]["labels"]));
    }
    let owners = cm["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let owned = owners.iter().any(|o| {
        o["kind"] == "SsoConnection"
            && o["name"] == name
            && o["uid"] == obj["metadata"]["uid"]
            && o["controller"] == true
            && o["blockOwnerDeletion"] == true
    });
    if !owned || owners.len() != 1 {
        return Err(format!("{name}: ownerReferences {owners:?}"));
    }
    Ok(())
}

/// `GET /pem` calls in the emulator's log.
async fn pem_calls(emulator: &Emulator) -> Result<usize, String> {
    let calls = emulator.calls().await?;
    Ok(calls
        .as_array()
        .ok_or("calls is not an array")?
        .iter()
        .filter(|c| c["path"] == "/pem")
        .count())
}

/// With the tenant's keys the document carries the tenant's certificate for both uses; with
/// `signingKeySecretRef` the signing one is the custom certificate; an unchanged reconcile
/// writes nothing; the ConfigMap is owned by its SsoConnection.
pub async fn sp_metadata_config_map_hands_the_sp_side_to_the_idp_administrator(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let (emulator, operator) = start(env, ns).await?;
    let okta = env.fixture("okta-app.xml")?;
    let (key, cert) = throwaway_key_pair(env.work_dir(), ns).await?;
    let mut objects = vec![
        idp_config_map("acme", &okta),
        idp_config_map("globex", &okta),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SIGNING_KEY_NAME},
            "type": "kubernetes.io/tls",
            "data": {"tls.key": B64.encode(&key), "tls.crt": B64.encode(&cert)}}),
    ];
    objects.extend(resource("acme", "acme.com", json!({})));
    objects.extend(resource(
        "globex",
        "globex.com",
        json!({"signingKeySecretRef": {"name": SIGNING_KEY_NAME}}),
    ));
    apply(env, ns, objects).await?;

    let tenant = tenant_certificate(&emulator).await?;
    let custom = base64_der(&cert);
    if tenant.is_empty() || custom.is_empty() || tenant == custom {
        return Err("the tenant and custom certificates are not two certificates".into());
    }
    let (acme, acme_cm) = ready_with_config_map(env, ns, "acme").await?;
    check_config_map(&acme, &acme_cm, &tenant, &tenant)?;
    let (globex, globex_cm) = ready_with_config_map(env, ns, "globex").await?;
    check_config_map(&globex, &globex_cm, &custom, &tenant)?;
    if globex_cm["data"]["metadata.xml"]
        .as_str()
        .is_some_and(|x| !x.contains("AuthnRequestsSigned=\"true\""))
    {
        return Err("globex signs requests but its document does not say so".into());
    }

    // An unchanged reconcile (woken by a label on the IdP metadata ConfigMap) reads the
    // Auth0 connection again but writes neither the ConfigMap nor asks for the certificate.
    let seq = emulator.last_seq().await?;
    env.kubectl_ok(&["label", "configmap", "acme-idp", "-n", ns, "touched=yes"])
        .await?;
    wait_for("the reconcile after the label", TIMEOUT, || async {
        let calls = emulator.calls_since(seq).await?;
        let read = calls.as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["method"] == "GET"
                    && c["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/api/v2/connections"))
            })
        });
        if read {
            Ok(())
        } else {
            Err(format!("no Auth0 read yet: {calls}"))
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = env.get_json("configmap", ns, "acme-sp-metadata").await?;
    if again["metadata"]["resourceVersion"] != acme_cm["metadata"]["resourceVersion"] {
        return Err("an unchanged reconcile rewrote the SP metadata ConfigMap".into());
    }
    let pem = pem_calls(&emulator).await?;
    // The test's own request, and one by the operator for all its resources.
    if pem != 2 {
        return Err(format!(
            "{pem} GET /pem calls, want 2 (the operator's is cached)"
        ));
    }

    // Deleting the SsoConnection leaves the ConfigMap to the garbage collector: its
    // controller reference names the deleted object's UID.
    env.kubectl_ok(&["delete", "ssoconnection", "acme", "-n", ns, "--timeout=60s"])
        .await?;
    if env
        .get_json_opt("ssoconnection", ns, "acme")
        .await?
        .is_some()
    {
        return Err("acme was not deleted".into());
    }
    let orphan = env.get_json("configmap", ns, "acme-sp-metadata").await?;
    if orphan["metadata"]["ownerReferences"][0]["uid"] != acme["metadata"]["uid"] {
        return Err(format!(
            "the ConfigMap's owner is {}, not the deleted SsoConnection {}",
            orphan["metadata"]["ownerReferences"], acme["metadata"]["uid"]
        ));
    }
    let events = env
        .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await?;
    if events.contains("SpMetadataNotPublished") {
        return Err(format!("SP metadata failures reported: {events}"));
    }
    env.scan_for_secrets(&[
        ("ConfigMaps", &acme_cm.to_string()),
        ("ConfigMaps", &globex_cm.to_string()),
        ("Events", &events),
        ("operator log", &operator.log_text()),
    ])
}

/// A ConfigMap of the same name that the operator did not write is left as it is, Ready stays
/// True, and a Warning Event says why; once it is gone the operator writes its own.
pub async fn sp_metadata_never_overwrites_a_users_config_map(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let (emulator, _operator) = start(env, ns).await?;
    let users = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "initech-sp-metadata"}, "data": {"notes": "ours, hands off"}});
    let mut objects = vec![
        users,
        idp_config_map("initech", &env.fixture("okta-app.xml")?),
    ];
    objects.extend(resource("initech", "initech.com", json!({})));
    apply(env, ns, objects).await?;
    let wait_warning = || async {
        let events = env
            .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
            .await?;
        let list: Value = serde_json::from_str(&events).map_err(|e| e.to_string())?;
        let found = list["items"].as_array().into_iter().flatten().find(|e| {
            e["type"] == "Warning"
                && e["reason"] == "SpMetadataNotPublished"
                && e["involvedObject"]["name"] == "initech"
        });
        match found {
            Some(e) => Ok(e["note"]
                .as_str()
                .or(e["message"].as_str())
                .unwrap_or_default()
                .to_string()),
            None => Err("no SpMetadataNotPublished Warning yet".to_string()),
        }
    };
    let note = wait_for("the Warning Event", TIMEOUT, wait_warning).await?;
    if !note.contains("initech-sp-metadata") || !note.contains("left untouched") {
        return Err(format!("the Warning does not say what happened: {note}"));
    }
    let obj = env.get_json("ssoconnection", ns, "initech").await?;
    let ready = crate::env::ready_condition(&obj).ok_or("no Ready condition")?;
    if ready["status"] != "True" {
        return Err(format!("Ready changed: {ready}"));
    }
    let cm = env.get_json("configmap", ns, "initech-sp-metadata").await?;
    if cm["data"] != json!({"notes": "ours, hands off"})
        || cm["metadata"]["ownerReferences"].is_array()
        || cm["metadata"]["labels"].is_object()
    {
        return Err(format!("the user's ConfigMap was changed: {cm}"));
    }

    // Gone, the name is free: the next reconcile writes the operator's own.
    env.kubectl_ok(&["delete", "configmap", "initech-sp-metadata", "-n", ns])
        .await?;
    env.kubectl_ok(&["label", "configmap", "initech-idp", "-n", ns, "touched=yes"])
        .await?;
    let (obj, cm) = ready_with_config_map(env, ns, "initech").await?;
    let tenant = tenant_certificate(&emulator).await?;
    check_config_map(&obj, &cm, &tenant, &tenant)
}
