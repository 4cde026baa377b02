//! The hostile-input matrix: many broken SsoConnections next to healthy ones in one
//! namespace, one operator and one emulator per scenario. Every broken resource must report
//! the documented `Ready` reason with a message that says what to fix, and a Warning Event;
//! the healthy ones must still sync; the operator must neither panic nor leak a secret.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::env::{
    EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, Emulator, Env, Operator, scan_for_secrets,
    stderr_of, wait_for,
};

/// Long enough for a 60 s `SecretNotFound` retry plus start-up; the matrix itself settles in
/// a few seconds.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(100);
const METADATA_KEY: &str = "federationmetadata.xml";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What one SsoConnection must end up showing.
#[derive(Clone, Debug)]
struct Want {
    /// Exact `Ready` reason; `Synced` means `Ready=True`, anything else `Ready=False`.
    reason: &'static str,
    /// Substrings the `Ready` message must contain: what is wrong and what to change.
    message_has: Vec<String>,
}

fn want(reason: &'static str, message_has: &[&str]) -> Want {
    Want {
        reason,
        message_has: message_has.iter().map(|s| s.to_string()).collect(),
    }
}

/// One row of the matrix: the objects to apply and what the SsoConnection must show.
struct Case {
    name: &'static str,
    objects: Vec<Value>,
    want: Want,
}

fn fixture(env: &Env, name: &str) -> Result<String, String> {
    let path = env.repo_path("../shared/fixtures/idp-metadata").join(name);
    std::fs::read_to_string(&path).map_err(|e| format!("fixture {}: {e}", path.display()))
}

fn config_map(name: &str, key: &str, xml: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {key: xml},
    })
}

/// An SsoConnection named `name` (connection name = `name`) reading `cm`, with `extra`
/// merged into its spec.
fn sso(name: &str, cm: &str, extra: Value) -> Value {
    let mut spec = json!({
        "companyDomain": "acme.com",
        "connectionName": name,
        "provider": "generic",
        "metadata": {"configMapRef": {"name": cm, "key": METADATA_KEY}},
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// A metadata ConfigMap `<name>-md` holding `xml` and an SsoConnection `name` reading it.
fn metadata_case(name: &'static str, xml: &str, extra: Value, want: Want) -> Case {
    let cm = format!("{name}-md");
    Case {
        name,
        objects: vec![config_map(&cm, METADATA_KEY, xml), sso(name, &cm, extra)],
        want,
    }
}

fn tls_secret(name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(B64.encode(v))))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": data,
    })
}

/// `kubectl apply` of many objects at once, server-side: a client-side apply would copy each
/// object into an annotation capped at 256 KiB, too small for large metadata.
async fn apply_all(env: &Env, ns: &str, objects: Vec<Value>) -> Result<(), String> {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    env.kubectl_ok_stdin(
        &["apply", "--server-side", "-n", ns, "-f", "-"],
        &list.to_string(),
    )
    .await
    .map(drop)
}

async fn patch_sso(env: &Env, ns: &str, name: &str, kind: &str, patch: &str) -> Result<(), String> {
    env.kubectl_ok(&["patch", "sso", name, "-n", ns, "--type", kind, "-p", patch])
        .await
        .map(drop)
}

/// A throwaway request-signing key pair made for this run (never committed).
struct KeyPair {
    key: String,
    cert: String,
}

async fn throwaway_key_pair(dir: &Path, ns: &str) -> Result<KeyPair, String> {
    let key = dir.join(format!("{ns}-sp.key"));
    let cert = dir.join(format!("{ns}-sp.crt"));
    let out = tokio::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=hostile-e2e-sp", "-days", "2"])
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
    Ok(KeyPair {
        key: read(&key)?,
        cert: read(&cert)?,
    })
}

/// The base64 body lines of a PEM block: key material that must never appear in any output.
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .map(str::to_string)
        .collect()
}

fn ready_condition(obj: &Value) -> Option<&Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// Every SsoConnection in `ns` by name, from one list call.
async fn list_ssos(env: &Env, ns: &str) -> Result<BTreeMap<String, Value>, String> {
    let text = env
        .kubectl_ok(&["get", "ssoconnections", "-n", ns, "-o", "json"])
        .await?;
    let list: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["metadata"]["name"].as_str()?.to_string(), o.clone())))
        .collect())
}

/// `(involved object name, reason)` of every Warning Event in `ns`.
async fn warning_events(env: &Env, ns: &str) -> Result<Vec<(String, String)>, String> {
    let text = env
        .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await?;
    let list: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "Warning")
        .map(|e| {
            (
                e["involvedObject"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// What is still wrong with `name` against `want`, or `None` when it matches.
fn mismatch(
    name: &str,
    want: &Want,
    ssos: &BTreeMap<String, Value>,
    warnings: &[(String, String)],
) -> Option<String> {
    let Some(obj) = ssos.get(name) else {
        return Some(format!("{name}: does not exist"));
    };
    let Some(cond) = ready_condition(obj) else {
        return Some(format!("{name}: no Ready condition yet"));
    };
    let status = if want.reason == "Synced" {
        "True"
    } else {
        "False"
    };
    let message = cond["message"].as_str().unwrap_or_default();
    let current = cond["observedGeneration"] == obj["metadata"]["generation"];
    if cond["status"] != status || cond["reason"] != want.reason || !current {
        return Some(format!(
            "{name}: Ready={} {} (generation {} observed {}), want {status} {}: {message}",
            cond["status"],
            cond["reason"],
            obj["metadata"]["generation"],
            cond["observedGeneration"],
            want.reason
        ));
    }
    let missing: Vec<&String> = want
        .message_has
        .iter()
        .filter(|s| !message.contains(s.as_str()))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{name}: {} message lacks {missing:?}: {message}",
            want.reason
        ));
    }
    if status == "False"
        && !warnings
            .iter()
            .any(|(obj, reason)| obj == name && reason == want.reason)
    {
        return Some(format!(
            "{name}: no Warning Event with reason {}",
            want.reason
        ));
    }
    None
}

/// Waits until every resource in `wants` shows what it should (one SsoConnection list and
/// one Event list per poll); returns the SsoConnections.
async fn wait_matrix(
    env: &Env,
    ns: &str,
    wants: &BTreeMap<&str, Want>,
    operator: &mut Operator,
) -> Result<BTreeMap<String, Value>, String> {
    let result = wait_for(
        &format!("{} SsoConnections to settle", wants.len()),
        SETTLE_TIMEOUT,
        || async {
            let ssos = list_ssos(env, ns).await?;
            let warnings = warning_events(env, ns).await?;
            let problems: Vec<String> = wants
                .iter()
                .filter_map(|(name, want)| mismatch(name, want, &ssos, &warnings))
                .collect();
            if problems.is_empty() {
                Ok(ssos)
            } else {
                Err(format!(
                    "{} not yet as expected:\n  {}",
                    problems.len(),
                    problems.join("\n  ")
                ))
            }
        },
    )
    .await;
    result.map_err(|e| format!("{e}\nlast operator log lines:\n{}", operator.log_tail(4)))
}

/// The operator is still running and never panicked.
fn assert_alive(operator: &mut Operator) -> Result<(), String> {
    if !operator.is_running() {
        return Err(format!("the operator exited:\n{}", operator.log_tail(30)));
    }
    let log = operator.log_text();
    if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
        return Err(format!("the operator panicked: {line}"));
    }
    Ok(())
}

/// Secret scan over statuses, Events, operator logs and metrics, with `literals` (client
/// secrets, key material) on top of the harness' own.
async fn scan(
    env: &Env,
    ns: &str,
    operators: &[&Operator],
    literals: &[&str],
) -> Result<(), String> {
    let ssos = env
        .kubectl_ok(&["get", "ssoconnections", "-n", ns, "-o", "json"])
        .await?;
    let events = env
        .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await?;
    let mut texts = vec![
        ("SsoConnections".to_string(), ssos),
        ("Events".to_string(), events),
    ];
    for (i, op) in operators.iter().enumerate() {
        texts.push((format!("operator #{i} log"), op.log_text()));
        if op_is_serving(op).await {
            texts.push((format!("operator #{i} /metrics"), op.metrics().await?));
        }
    }
    let texts: Vec<(&str, &str)> = texts
        .iter()
        .map(|(l, t)| (l.as_str(), t.as_str()))
        .collect();
    let mut all = vec![EMULATOR_CLIENT_SECRET, env.encryption_key()];
    all.extend_from_slice(literals);
    scan_for_secrets(&texts, &all)
}

async fn op_is_serving(op: &Operator) -> bool {
    op.readyz().await.is_ok()
}

/// A bearer token from the emulator's default client, as an admin script would hold.
async fn auth0_token(emulator: &Emulator) -> Result<String, String> {
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", emulator.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", EMULATOR_CLIENT_ID),
            ("client_secret", EMULATOR_CLIENT_SECRET),
            ("audience", &format!("{}/api/v2/", emulator.base_url)),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    resp["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no access_token".to_string())
}

/// `(method, path, status)` of every Management API call after `seq`.
async fn api_calls_since(
    emulator: &Emulator,
    seq: u64,
) -> Result<Vec<(String, String, u64)>, String> {
    let calls = emulator.calls_since(seq).await?;
    Ok(calls
        .as_array()
        .ok_or("calls is not an array")?
        .iter()
        .filter(|c| c["path"].as_str().is_some_and(|p| p.starts_with("/api/v2")))
        .map(|c| {
            (
                c["method"].as_str().unwrap_or_default().to_string(),
                c["path"].as_str().unwrap_or_default().to_string(),
                c["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect())
}

async fn last_seq(emulator: &Emulator) -> Result<u64, String> {
    let calls = emulator.calls().await?;
    Ok(calls
        .as_array()
        .and_then(|c| c.iter().filter_map(|c| c["seq"].as_u64()).max())
        .unwrap_or(0))
}

fn connection_id(ssos: &BTreeMap<String, Value>, name: &str) -> Result<String, String> {
    ssos.get(name)
        .and_then(|o| o["status"]["connectionId"].as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{name} has no status.connectionId"))
}

/// ConfigMaps, spec values a 1.20 API server lets through, key Secrets and Auth0 400/404:
/// every broken resource reports the documented reason and what to fix, while healthy
/// resources in the same namespace sync, the operator survives and nothing secret leaks.
pub async fn hostile_inputs_fail_clearly_while_healthy_resources_sync(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let emulator = env.start_emulator(&[]).await?;
    let mut operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    let pair = throwaway_key_pair(env.work_dir(), &format!("{ns}-a")).await?;
    let other = throwaway_key_pair(env.work_dir(), &format!("{ns}-b")).await?;

    let azure = fixture(env, "azure-entra-tenant.xml")?;
    let okta = fixture(env, "okta-app.xml")?;
    let entities = fixture(env, "entities-multiple.xml")?;
    let jumpcloud = fixture(env, "jumpcloud-expired-redirect-only.xml")?;
    let deep = {
        let script = env.repo_path("../shared/fixtures/idp-metadata/gen_deep_nesting.py");
        let out = tokio::process::Command::new("python3")
            .arg(&script)
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() || out.stdout.len() < 100_000 {
            return Err(format!(
                "gen_deep_nesting.py failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| e.to_string())?
    };
    // UTF-16LE with a byte-order mark, as Windows tools save it; only binaryData holds it.
    let okta_utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(okta.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let garbage_key = "garbage-key-material-4f1c9e";
    let armoured_garbage_key = "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZS1hcm1vdXJlZC1rZXktbWF0ZXJpYWw=\n-----END PRIVATE KEY-----\n";
    let shared_md = "shared-md";
    let key_ref =
        |secret: &str| json!({"signingKeySecretRef": {"name": secret}, "signRequest": true});

    let cases = vec![
        // Healthy resources next to the hostile ones: the operator keeps serving them.
        Case {
            name: "control",
            objects: vec![
                config_map(shared_md, METADATA_KEY, &azure),
                sso("control", shared_md, json!({})),
            ],
            want: want("Synced", &[]),
        },
        // Metadata errors, one per kind.
        metadata_case(
            "md-not-xml",
            &fixture(env, "truncated.xml")?,
            json!({}),
            want(
                "InvalidMetadata",
                &["not_xml", "md-not-xml-md", "truncated"],
            ),
        ),
        metadata_case(
            "md-sp-metadata",
            &fixture(env, "sp-metadata-only.xml")?,
            json!({}),
            want(
                "InvalidMetadata",
                &[
                    "no_idp_descriptor",
                    "service-provider metadata",
                    "identity provider",
                ],
            ),
        ),
        metadata_case(
            "md-no-signing-cert",
            &fixture(env, "no-signing-cert.xml")?,
            json!({}),
            want(
                "InvalidMetadata",
                &["no_signing_cert", "no signing certificate"],
            ),
        ),
        metadata_case(
            "md-bad-certificate",
            &fixture(env, "bad-certificate.xml")?,
            json!({}),
            want(
                "InvalidMetadata",
                &["bad_certificate", "not an X.509 certificate"],
            ),
        ),
        metadata_case(
            "md-billion-laughs",
            &fixture(env, "billion-laughs.xml")?,
            json!({}),
            want(
                "InvalidMetadata",
                &["dtd_forbidden", "DTDs and entities are not allowed"],
            ),
        ),
        metadata_case(
            "md-external-entity",
            &fixture(env, "xxe-external-entity.xml")?,
            json!({}),
            want(
                "InvalidMetadata",
                &["dtd_forbidden", "DTDs and entities are not allowed"],
            ),
        ),
        metadata_case(
            "md-too-deep",
            &deep,
            json!({}),
            want("InvalidMetadata", &["too_deep", "128 levels"]),
        ),
        metadata_case(
            "md-ambiguous",
            &entities,
            json!({}),
            want(
                "InvalidMetadata",
                &[
                    "ambiguous_entities",
                    "https://idp.fabrikam.test/saml2/idp",
                    "https://idp-staging.fabrikam.test/saml2/idp",
                    "set spec.metadata.entityId",
                ],
            ),
        ),
        metadata_case(
            "md-entity-chosen",
            &entities,
            json!({"metadata": {
                "configMapRef": {"name": "md-entity-chosen-md", "key": METADATA_KEY},
                "entityId": "https://idp.fabrikam.test/saml2/idp",
            }}),
            want("Synced", &[]),
        ),
        Case {
            name: "md-missing-key",
            objects: vec![
                config_map("md-missing-key-md", "metadata.xml", &okta),
                sso("md-missing-key", "md-missing-key-md", json!({})),
            ],
            want: want(
                "MetadataNotFound",
                &[
                    "has no key \"federationmetadata.xml\"",
                    "it has: metadata.xml",
                    "spec.metadata.configMapRef.key",
                ],
            ),
        },
        Case {
            name: "md-utf16-binary",
            objects: vec![
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "md-utf16-binary-md"},
                    "binaryData": {METADATA_KEY: B64.encode(&okta_utf16)},
                }),
                sso("md-utf16-binary", "md-utf16-binary-md", json!({})),
            ],
            want: want("Synced", &[]),
        },
        // The ConfigMap itself is refused by the API server (below); the reference dangles.
        Case {
            name: "md-too-large",
            objects: vec![sso("md-too-large", "md-too-large-md", json!({}))],
            want: want(
                "MetadataNotFound",
                &["md-too-large-md not found", "create it with key"],
            ),
        },
        // Spec values that only CEL would block, and 1.20 has no CEL.
        Case {
            name: "spec-renamed",
            objects: vec![sso("spec-renamed", shared_md, json!({}))],
            want: want("Synced", &[]),
        },
        Case {
            name: "spec-name-removed",
            objects: vec![sso(
                "spec-name-removed",
                shared_md,
                json!({"connectionName": "name-removed-conn"}),
            )],
            want: want("Synced", &[]),
        },
        Case {
            name: "spec-extra-signing-cert",
            objects: vec![sso(
                "spec-extra-signing-cert",
                shared_md,
                json!({"extraOptions": {"signingCert": "TUlJQw=="}}),
            )],
            want: want(
                "InvalidSpec",
                &[
                    "spec.extraOptions.signingCert",
                    "comes from the IdP metadata",
                    "remove it from extraOptions",
                ],
            ),
        },
        Case {
            name: "spec-extra-metadata-url",
            objects: vec![sso(
                "spec-extra-metadata-url",
                shared_md,
                json!({"extraOptions": {"metadataUrl": "https://idp.example-idp.test/md.xml"}}),
            )],
            want: want(
                "InvalidSpec",
                &["spec.extraOptions.metadataUrl", "spec.metadata"],
            ),
        },
        Case {
            name: "spec-extra-domain-aliases",
            objects: vec![sso(
                "spec-extra-domain-aliases",
                shared_md,
                json!({"extraOptions": {"domain_aliases": ["other.example"]}}),
            )],
            want: want(
                "InvalidSpec",
                &[
                    "spec.extraOptions.domain_aliases",
                    "use spec.restrictSsoOnly",
                ],
            ),
        },
        metadata_case(
            "spec-binding-not-offered",
            &jumpcloud,
            json!({"protocolBinding": "HTTP-POST"}),
            want(
                "InvalidMetadata",
                &[
                    "spec.protocolBinding is HTTP-POST",
                    "only for HTTP-Redirect",
                    "change spec.protocolBinding",
                ],
            ),
        ),
        // Request-signing key Secrets.
        Case {
            name: "key-secret-missing",
            objects: vec![sso(
                "key-secret-missing",
                shared_md,
                key_ref("sp-signing-later"),
            )],
            want: want(
                "SecretNotFound",
                &[
                    "sp-signing-later",
                    "spec.signingKeySecretRef",
                    "create it with keys tls.key and tls.crt",
                ],
            ),
        },
        Case {
            name: "key-secret-no-key",
            objects: vec![
                tls_secret("sp-no-key", &[("tls.crt", &pair.cert)]),
                sso("key-secret-no-key", shared_md, key_ref("sp-no-key")),
            ],
            want: want("InvalidSpec", &["sp-no-key", "has no key tls.key"]),
        },
        Case {
            name: "key-secret-crt-not-pem",
            objects: vec![
                tls_secret(
                    "sp-crt-not-pem",
                    &[("tls.crt", "not a certificate"), ("tls.key", &pair.key)],
                ),
                sso(
                    "key-secret-crt-not-pem",
                    shared_md,
                    key_ref("sp-crt-not-pem"),
                ),
            ],
            want: want("InvalidSpec", &["sp-crt-not-pem", "tls.crt is not PEM"]),
        },
        Case {
            name: "key-secret-key-garbage",
            objects: vec![
                tls_secret(
                    "sp-key-garbage",
                    &[("tls.crt", &pair.cert), ("tls.key", garbage_key)],
                ),
                sso(
                    "key-secret-key-garbage",
                    shared_md,
                    key_ref("sp-key-garbage"),
                ),
            ],
            want: want("InvalidSpec", &["sp-key-garbage", "tls.key is not PEM"]),
        },
        Case {
            name: "key-secret-key-armoured-garbage",
            objects: vec![
                tls_secret(
                    "sp-key-armoured-garbage",
                    &[("tls.crt", &pair.cert), ("tls.key", armoured_garbage_key)],
                ),
                sso(
                    "key-secret-key-armoured-garbage",
                    shared_md,
                    key_ref("sp-key-armoured-garbage"),
                ),
            ],
            want: want(
                "InvalidSpec",
                &[
                    "sp-key-armoured-garbage",
                    "tls.key is not an unencrypted RSA private key",
                ],
            ),
        },
        Case {
            name: "key-secret-key-mismatch",
            objects: vec![
                tls_secret(
                    "sp-key-mismatch",
                    &[("tls.crt", &pair.cert), ("tls.key", &other.key)],
                ),
                sso(
                    "key-secret-key-mismatch",
                    shared_md,
                    key_ref("sp-key-mismatch"),
                ),
            ],
            want: want(
                "InvalidSpec",
                &[
                    "sp-key-mismatch",
                    "does not belong to the certificate in tls.crt",
                ],
            ),
        },
        Case {
            name: "key-secret-swapped",
            objects: vec![
                tls_secret(
                    "sp-swapped",
                    &[("tls.crt", &pair.key), ("tls.key", &pair.cert)],
                ),
                sso("key-secret-swapped", shared_md, key_ref("sp-swapped")),
            ],
            want: want(
                "InvalidSpec",
                &["sp-swapped", "tls.crt is not an X.509 certificate"],
            ),
        },
        // Auth0 answers.
        Case {
            name: "auth0-rejects-option",
            objects: vec![sso(
                "auth0-rejects-option",
                shared_md,
                json!({"extraOptions": {"icon_url": "http://not-https.example"}}),
            )],
            want: want(
                "Auth0Rejected",
                &[
                    "400",
                    "options.icon_url",
                    "absolute-https-uri",
                    "http://not-https.example",
                ],
            ),
        },
        Case {
            name: "auth0-deleted-out-of-band",
            objects: vec![sso("auth0-deleted-out-of-band", shared_md, json!({}))],
            want: want("Synced", &[]),
        },
    ];

    // A ConfigMap over 1 MiB never reaches the operator: the API server refuses it.
    let mut oversize = azure.clone();
    oversize.push_str("\n<!--");
    oversize.push_str(&"x".repeat(1_100_000));
    oversize.push_str("-->\n");
    let big = config_map("md-too-large-md", METADATA_KEY, &oversize).to_string();
    let out = env
        .cluster
        .admin
        .run(&["create", "-n", ns, "-f", "-"], Some(&big))
        .await?;
    let refusal = stderr_of(&out);
    if out.status.success() || !refusal.contains("1048576") {
        return Err(format!(
            "the API server did not refuse a ConfigMap over 1 MiB as too long (exit {}): {refusal}",
            out.status
        ));
    }

    let objects: Vec<Value> = cases.iter().flat_map(|c| c.objects.clone()).collect();
    apply_all(env, ns, objects).await?;
    let mut wants: BTreeMap<&str, Want> = cases.iter().map(|c| (c.name, c.want.clone())).collect();
    let ssos = wait_matrix(env, ns, &wants, &mut operator).await?;
    println!(
        "    {} resources settled: {} Synced, {} failing as documented",
        wants.len(),
        wants.values().filter(|w| w.reason == "Synced").count(),
        wants.values().filter(|w| w.reason != "Synced").count()
    );
    // Nothing reaches Auth0 for a resource that fails before the write.
    let all = emulator.connections().await?;
    let in_auth0: Vec<&str> = all
        .as_array()
        .or_else(|| all["connections"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let leaked: Vec<&&str> = wants
        .iter()
        .filter(|(_, w)| w.reason != "Synced")
        .map(|(name, _)| name)
        .filter(|name| in_auth0.contains(name))
        .collect();
    if !leaked.is_empty() {
        return Err(format!(
            "Auth0 connections exist for failing resources: {leaked:?}"
        ));
    }

    // Second round: changes after Ready that only CEL would block, a connection deleted
    // behind the operator's back, the missing Secret appearing, and a late newcomer.
    let old_id = connection_id(&ssos, "auth0-deleted-out-of-band")?;
    let token = auth0_token(&emulator).await?;
    let resp = reqwest::Client::new()
        .delete(format!("{}/api/v2/connections/{old_id}", emulator.base_url))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("DELETE {old_id} answered {}", resp.status()));
    }
    let seq = last_seq(&emulator).await?;
    // Only a generation change triggers a reconcile: bump an option the operator keeps.
    patch_sso(
        env,
        ns,
        "auth0-deleted-out-of-band",
        "merge",
        r#"{"spec":{"extraOptions":{"x_hostile_bump":"1"}}}"#,
    )
    .await?;
    patch_sso(
        env,
        ns,
        "spec-renamed",
        "merge",
        r#"{"spec":{"connectionName":"spec-renamed-v2"}}"#,
    )
    .await?;
    patch_sso(
        env,
        ns,
        "spec-name-removed",
        "json",
        r#"[{"op":"remove","path":"/spec/connectionName"}]"#,
    )
    .await?;
    apply_all(
        env,
        ns,
        vec![
            tls_secret(
                "sp-signing-later",
                &[("tls.crt", &pair.cert), ("tls.key", &pair.key)],
            ),
            sso("control-late", shared_md, json!({})),
        ],
    )
    .await?;
    wants.insert(
        "spec-renamed",
        want(
            "InvalidSpec",
            &[
                "\"spec-renamed\" to \"spec-renamed-v2\"",
                "cannot rename",
                "restore \"spec-renamed\"",
            ],
        ),
    );
    wants.insert(
        "spec-name-removed",
        want(
            "InvalidSpec",
            &[
                "\"name-removed-conn\" to \"spec-name-removed\"",
                "cannot rename",
                "restore \"name-removed-conn\"",
            ],
        ),
    );
    // The operator looks for key Secrets again within a minute (they are not watched).
    wants.insert("key-secret-missing", want("Synced", &[]));
    wants.insert("control-late", want("Synced", &[]));
    let ssos = wait_matrix(env, ns, &wants, &mut operator).await?;

    let new_id = connection_id(&ssos, "auth0-deleted-out-of-band")?;
    if new_id == old_id {
        return Err(format!("the deleted connection {old_id} was not recreated"));
    }
    let calls = api_calls_since(&emulator, seq).await?;
    let get_old = calls
        .iter()
        .position(|(m, p, s)| m == "GET" && p.ends_with(&old_id) && *s == 404);
    let create = calls
        .iter()
        .position(|(m, p, s)| m == "POST" && p == "/api/v2/connections" && *s == 201);
    match (get_old, create) {
        (Some(g), Some(c)) if g < c => {}
        _ => {
            return Err(format!(
                "expected GET {old_id} → 404, then a lookup by name and a POST: {calls:?}"
            ));
        }
    }
    for gone in ["spec-renamed-v2", "spec-name-removed"] {
        if emulator.connection_named(gone).await?.is_some() {
            return Err(format!("a renamed connection {gone} was created in Auth0"));
        }
    }
    let conn = emulator
        .connection_named("key-secret-missing")
        .await?
        .ok_or("no Auth0 connection for key-secret-missing after its Secret appeared")?;
    if conn["options"]["signing_key"]["cert"]
        .as_str()
        .map(str::trim)
        != Some(pair.cert.trim())
    {
        return Err("Auth0 does not hold the signing key pair from the Secret".into());
    }

    assert_alive(&mut operator)?;
    let mut literals: Vec<&str> = vec![garbage_key, "Z2FyYmFnZS1hcm1vdXJlZC1rZXktbWF0ZXJpYWw="];
    let key_lines: Vec<String> = pem_body_lines(&pair.key)
        .into_iter()
        .chain(pem_body_lines(&other.key))
        .collect();
    literals.extend(key_lines.iter().map(String::as_str));
    scan(env, ns, &[&operator], &literals).await
}

const NO_CREATE_ID: &str = "hostile-no-create";
const NO_CREATE_SECRET: &str = "no-create-secret-7d1e";
const NO_OPTIONS_UPDATE_ID: &str = "hostile-no-options-update";
const NO_OPTIONS_UPDATE_SECRET: &str = "no-options-update-secret-2b9a";
const WRONG_SECRET: &str = "wrong-secret-c0ffee";

/// Missing scopes and wrong credentials: `InsufficientScope` naming the scope to grant, no
/// write that could wipe a connection, and recovery once the scopes are there.
pub async fn auth0_scope_and_credential_refusals_write_nothing(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let no_create = format!(
        "{NO_CREATE_ID}:{NO_CREATE_SECRET}:read:connections,update:connections,delete:connections"
    );
    let no_options_update = format!(
        "{NO_OPTIONS_UPDATE_ID}:{NO_OPTIONS_UPDATE_SECRET}:read:connections,create:connections,update:connections,delete:connections,read:connections_options"
    );
    let emulator = env
        .start_emulator(&["--client", &no_create, "--client", &no_options_update])
        .await?;
    let watch = [("SSO_WATCH_NAMESPACE", ns)];
    let md = fixture(env, "okta-app.xml")?;

    // 1. The fully scoped client creates two connections.
    let mut full = env.start_operator(&emulator, &watch).await?;
    apply_all(
        env,
        ns,
        vec![
            config_map("okta-md", METADATA_KEY, &md),
            sso("existing-a", "okta-md", json!({})),
            sso("existing-b", "okta-md", json!({})),
        ],
    )
    .await?;
    let mut wants: BTreeMap<&str, Want> = [
        ("existing-a", want("Synced", &[])),
        ("existing-b", want("Synced", &[])),
    ]
    .into_iter()
    .collect();
    wait_matrix(env, ns, &wants, &mut full).await?;
    full.stop();

    // 2. A client without create:connections and without the options scopes.
    let seq = last_seq(&emulator).await?;
    let mut no_create_op = env
        .start_operator_with_flags(
            &emulator,
            &watch,
            &[
                ("--auth0-client-id", NO_CREATE_ID),
                ("--auth0-client-secret", NO_CREATE_SECRET),
            ],
        )
        .await?;
    apply_all(env, ns, vec![sso("needs-create", "okta-md", json!({}))]).await?;
    let options_hidden = want(
        "InsufficientScope",
        &["read:connections_options", "nothing was changed"],
    );
    wants.insert("existing-a", options_hidden.clone());
    wants.insert("existing-b", options_hidden);
    wants.insert(
        "needs-create",
        want("InsufficientScope", &["403", "create:connections"]),
    );
    wait_matrix(env, ns, &wants, &mut no_create_op).await?;
    let calls = api_calls_since(&emulator, seq).await?;
    let writes: Vec<&(String, String, u64)> = calls
        .iter()
        .filter(|(m, _, s)| m != "GET" && (200..300).contains(s))
        .collect();
    if calls.iter().any(|(m, _, _)| m == "PATCH") || !writes.is_empty() {
        return Err(format!(
            "a client without the options scopes must not PATCH or write: {calls:?}"
        ));
    }
    assert_alive(&mut no_create_op)?;
    no_create_op.stop();

    // 3. Options readable but not writable: unchanged resources sync with zero writes, the
    // missing one is created, a change is refused by Auth0 with 403.
    let mut no_update_op = env
        .start_operator_with_flags(
            &emulator,
            &watch,
            &[
                ("--auth0-client-id", NO_OPTIONS_UPDATE_ID),
                ("--auth0-client-secret", NO_OPTIONS_UPDATE_SECRET),
            ],
        )
        .await?;
    for name in ["existing-a", "existing-b", "needs-create"] {
        wants.insert(name, want("Synced", &[]));
    }
    wait_matrix(env, ns, &wants, &mut no_update_op).await?;
    patch_sso(
        env,
        ns,
        "existing-b",
        "merge",
        r#"{"spec":{"extraOptions":{"x_hostile_bump":"1"}}}"#,
    )
    .await?;
    wants.insert(
        "existing-b",
        want("InsufficientScope", &["403", "update:connections_options"]),
    );
    wait_matrix(env, ns, &wants, &mut no_update_op).await?;
    let conn = emulator
        .connection_named("existing-b")
        .await?
        .ok_or("existing-b is gone from Auth0")?;
    if conn["options"].get("x_hostile_bump").is_some() || conn["options"]["signingCert"].is_null() {
        return Err(format!(
            "a refused PATCH changed the connection: {}",
            conn["options"]
        ));
    }
    assert_alive(&mut no_update_op)?;
    no_update_op.stop();

    // 4. A wrong client secret: the token endpoint answers 401 for every resource.
    let mut wrong = env
        .start_operator_with_flags(
            &emulator,
            &watch,
            &[("--auth0-client-secret", WRONG_SECRET)],
        )
        .await?;
    let token_reason = sso_operator::auth0::Auth0Error::Token {
        status: 401,
        message: String::new(),
    }
    .reason();
    let token_reason = sso_operator::status::Reason::parse(token_reason)
        .ok_or_else(|| format!("unknown reason {token_reason}"))?
        .as_str();
    for name in ["existing-a", "existing-b", "needs-create"] {
        wants.insert(name, want(token_reason, &["token", "401"]));
    }
    wait_matrix(env, ns, &wants, &mut wrong).await?;
    assert_alive(&mut wrong)?;
    let ssos = list_ssos(env, ns).await?;
    let message = ssos
        .get("existing-a")
        .and_then(ready_condition)
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    println!("    wrong client secret → {token_reason}: {message}");

    scan(
        env,
        ns,
        &[&full, &no_create_op, &no_update_op, &wrong],
        &[NO_CREATE_SECRET, NO_OPTIONS_UPDATE_SECRET, WRONG_SECRET],
    )
    .await
}
