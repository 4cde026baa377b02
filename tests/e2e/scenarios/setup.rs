//! What the cluster shows before the controller does anything: the CRD as users see it, the
//! schema's validation, and the operator's RBAC.

use crate::env::{Env, stderr_of};

/// `kubectl get sso` shows the printer columns and `kubectl explain` the field docs.
pub async fn crd_installs_and_kubectl_shows_columns(env: &Env, ns: &str) -> Result<(), String> {
    let examples = env.repo_path("deploy/examples");
    env.kubectl_ok(&["apply", "-n", ns, "-f", &examples.to_string_lossy()])
        .await?;

    let table = env.kubectl_ok(&["get", "sso", "-A"]).await?;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    for col in [
        "NAMESPACE",
        "NAME",
        "DOMAIN",
        "CONNECTION",
        "READY",
        "REASON",
        "AGE",
    ] {
        if !header.contains(&col) {
            return Err(format!("`kubectl get sso -A` header lacks {col}:\n{table}"));
        }
    }
    let acme = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("acme") && l.starts_with(ns))
        .ok_or_else(|| format!("`kubectl get sso -A` does not list {ns}/acme:\n{table}"))?;
    if !acme.contains("acme.com") {
        return Err(format!("the DOMAIN column does not show acme.com: {acme}"));
    }

    let wide = env
        .kubectl_ok(&["get", "ssoconnections", "-n", ns, "-o", "wide"])
        .await?;
    let wide_header = wide.lines().next().unwrap_or_default();
    for col in ["MESSAGE", "CONNECTIONID"] {
        if !wide_header.contains(col) {
            return Err(format!(
                "`kubectl get sso -o wide` header lacks {col}:\n{wide}"
            ));
        }
    }

    // The `sso-operator` category: `kubectl get sso-operator` lists every kind we serve.
    let category = env
        .kubectl_ok(&["get", "sso-operator", "-n", ns, "-o", "name"])
        .await?;
    for name in [
        "ssoconnection.sso-operator.io/acme",
        "ssoconnection.sso-operator.io/fabrikam",
    ] {
        if !category.lines().any(|l| l.trim() == name) {
            return Err(format!(
                "`kubectl get sso-operator` does not list {name}:\n{category}"
            ));
        }
    }

    let explain = env.kubectl_ok(&["explain", "ssoconnection.spec"]).await?;
    for field in [
        "companyDomain",
        "connectionName",
        "deletionPolicy",
        "restrictSsoOnly",
    ] {
        if !explain.contains(field) {
            return Err(format!(
                "`kubectl explain ssoconnection.spec` does not mention {field}:\n{explain}"
            ));
        }
    }
    // The kind's own description, not kube-derive's "Auto-generated derived type …".
    let explain_kind = env.kubectl_ok(&["explain", "ssoconnection"]).await?;
    let description = explain_kind
        .split("DESCRIPTION:")
        .nth(1)
        .and_then(|d| d.split("FIELDS:").next())
        .unwrap_or_default();
    if !description.contains("single sign-on connection in Auth0")
        || description.contains("Auto-generated")
    {
        return Err(format!(
            "`kubectl explain ssoconnection` does not describe the kind:\n{explain_kind}"
        ));
    }
    let explain_domain = env
        .kubectl_ok(&["explain", "ssoconnection.spec.companyDomain"])
        .await?;
    if !explain_domain.contains("email domain") {
        return Err(format!(
            "`kubectl explain ssoconnection.spec.companyDomain` lacks the field's documentation:\n{explain_domain}"
        ));
    }
    Ok(())
}

/// The operator's ServiceAccount can do what the controller needs and nothing else.
pub async fn operator_rbac_is_least_privilege(env: &Env, ns: &str) -> Result<(), String> {
    let op_ns = "sso-operator";
    // (verb, resource, subresource, namespace: None = all namespaces)
    let allowed: &[(&str, &str, &str, Option<&str>)] = &[
        ("get", "ssoconnections.sso-operator.io", "", None),
        ("list", "ssoconnections.sso-operator.io", "", None),
        ("watch", "ssoconnections.sso-operator.io", "", None),
        ("patch", "ssoconnections.sso-operator.io", "", Some(ns)),
        ("update", "ssoconnections.sso-operator.io", "", Some(ns)),
        ("get", "ssoconnections.sso-operator.io", "status", Some(ns)),
        (
            "patch",
            "ssoconnections.sso-operator.io",
            "status",
            Some(ns),
        ),
        (
            "update",
            "ssoconnections.sso-operator.io",
            "status",
            Some(ns),
        ),
        (
            "update",
            "ssoconnections.sso-operator.io",
            "finalizers",
            Some(ns),
        ),
        ("get", "configmaps", "", None),
        ("list", "configmaps", "", None),
        ("watch", "configmaps", "", None),
        ("create", "configmaps", "", Some(ns)),
        ("patch", "configmaps", "", Some(ns)),
        ("get", "secrets", "", Some(ns)),
        ("list", "secrets", "", None),
        ("watch", "secrets", "", None),
        ("create", "secrets", "", Some(ns)),
        ("patch", "secrets", "", Some(ns)),
        ("update", "secrets", "", Some(ns)),
        ("create", "events.events.k8s.io", "", Some(ns)),
        ("patch", "events.events.k8s.io", "", Some(ns)),
        ("create", "events", "", Some(ns)),
        ("patch", "events", "", Some(ns)),
        ("get", "leases.coordination.k8s.io", "", Some(op_ns)),
        ("create", "leases.coordination.k8s.io", "", Some(op_ns)),
        ("update", "leases.coordination.k8s.io", "", Some(op_ns)),
        ("patch", "leases.coordination.k8s.io", "", Some(op_ns)),
    ];
    let denied: &[(&str, &str, &str, Option<&str>)] = &[
        ("create", "ssoconnections.sso-operator.io", "", Some(ns)),
        ("delete", "ssoconnections.sso-operator.io", "", Some(ns)),
        ("update", "configmaps", "", Some(ns)),
        ("delete", "configmaps", "", Some(ns)),
        ("delete", "secrets", "", Some(ns)),
        ("create", "pods", "", Some(ns)),
        ("create", "deployments.apps", "", Some(op_ns)),
        ("create", "leases.coordination.k8s.io", "", Some(ns)),
        (
            "update",
            "leases.coordination.k8s.io",
            "",
            Some("kube-system"),
        ),
        ("list", "nodes", "", None),
        (
            "update",
            "customresourcedefinitions.apiextensions.k8s.io",
            "",
            None,
        ),
        (
            "create",
            "clusterrolebindings.rbac.authorization.k8s.io",
            "",
            None,
        ),
        ("impersonate", "serviceaccounts", "", Some(ns)),
        ("*", "*", "", None),
    ];
    let mut wrong = Vec::new();
    for (expect, cases) in [(true, allowed), (false, denied)] {
        for (verb, resource, sub, namespace) in cases {
            let mut args = vec!["auth", "can-i", *verb, *resource];
            let sub_flag = format!("--subresource={sub}");
            if !sub.is_empty() {
                args.push(&sub_flag);
            }
            match namespace {
                Some(n) => args.extend(["-n", n]),
                None => args.push("--all-namespaces"),
            }
            let out = env.kubectl_as_operator(&args).await?;
            let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
            // can-i exits 0 for yes, 1 for no; anything else is an error, not an answer.
            let got = match (out.status.code(), answer.as_str()) {
                (Some(0), "yes") => true,
                (Some(1), a) if a.starts_with("no") => false,
                _ => {
                    return Err(format!(
                        "`kubectl auth can-i {}` as the operator did not answer: {} {}",
                        args[2..].join(" "),
                        answer,
                        stderr_of(&out).trim()
                    ));
                }
            };
            if got != expect {
                wrong.push(format!(
                    "{} {}{}{} should be {}",
                    verb,
                    resource,
                    if sub.is_empty() {
                        String::new()
                    } else {
                        format!("/{sub}")
                    },
                    namespace
                        .map(|n| format!(" in {n}"))
                        .unwrap_or_else(|| " cluster-wide".into()),
                    if expect { "allowed" } else { "denied" }
                ));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("operator RBAC is wrong: {}", wrong.join("; ")))
    }
}

/// Every example passes the API server's schema; invalid manifests are rejected with the
/// offending field named, and omitted fields get their documented defaults.
pub async fn examples_validate_against_the_schema(env: &Env, ns: &str) -> Result<(), String> {
    let dir = env.repo_path("deploy/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no examples in {}", dir.display()));
    }
    for file in &files {
        let out = env
            .kubectl_ok(&[
                "apply",
                "--dry-run=server",
                "-n",
                ns,
                "-f",
                &file.to_string_lossy(),
                "-o",
                "json",
            ])
            .await
            .map_err(|e| format!("{} does not validate: {e}", file.display()))?;
        let list: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| format!("dry-run output is not JSON: {e}"))?;
        let items = list["items"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![list.clone()]);
        for sso in items.iter().filter(|o| o["kind"] == "SsoConnection") {
            let spec = &sso["spec"];
            for (field, default) in [
                ("signRequest", serde_json::json!(true)),
                ("signatureAlgorithm", serde_json::json!("rsa-sha256")),
                ("digestAlgorithm", serde_json::json!("sha256")),
                ("deletionPolicy", serde_json::json!("Retain")),
                ("adoptExisting", serde_json::json!(false)),
            ] {
                if spec[field] != default {
                    return Err(format!(
                        "{}: the server did not default spec.{field} to {default}: {spec}",
                        file.display()
                    ));
                }
            }
        }
    }

    let valid = r#"
apiVersion: sso-operator.io/v1alpha1
kind: SsoConnection
metadata: {name: probe}
spec:
  companyDomain: example.com
  metadata: {configMapRef: {name: m, key: k}}
"#;
    env.kubectl_ok_stdin(&["apply", "--dry-run=server", "-n", ns, "-f", "-"], valid)
        .await
        .map_err(|e| format!("a minimal SsoConnection is rejected: {e}"))?;

    let invalid = [
        (
            "companyDomain: example.com",
            "companyDomain: \"not a domain\"",
            "spec.companyDomain",
        ),
        (
            "companyDomain: example.com",
            "companyDomain: example.com\n  deletionPolicy: Sometimes",
            "spec.deletionPolicy",
        ),
        (
            "companyDomain: example.com",
            "companyDomain: example.com\n  connectionName: \"-bad name\"",
            "spec.connectionName",
        ),
        (
            "  metadata: {configMapRef: {name: m, key: k}}\n",
            "",
            "spec.metadata",
        ),
    ];
    for (from, to, field) in invalid {
        let manifest = valid.replace(from, to);
        // --validate=false: the server's schema must catch it, not kubectl's client side.
        let args = [
            "apply",
            "--dry-run=server",
            "--validate=false",
            "-n",
            ns,
            "-f",
            "-",
        ];
        match env.kubectl_ok_stdin(&args, &manifest).await {
            Ok(out) => {
                return Err(format!(
                    "the server accepted an invalid manifest ({field}): {out}\n{manifest}"
                ));
            }
            Err(e) if e.contains(field) => {}
            Err(e) => {
                return Err(format!(
                    "rejected, but the error does not name {field}: {e}"
                ));
            }
        }
    }
    Ok(())
}

/// The CRD's CEL rules run on the server: `connectionName` can be neither changed nor removed
/// once set, and the refusal carries the CRD's message. Other edits still go through.
pub async fn cel_rules_are_enforced_by_the_server(env: &Env, ns: &str) -> Result<(), String> {
    let manifest = |connection: Option<&str>, domain: &str| {
        let name_line = connection
            .map(|c| format!("  connectionName: {c}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: sso-operator.io/v1alpha1
kind: SsoConnection
metadata: {{name: cel}}
spec:
  companyDomain: {domain}
{name_line}  metadata: {{configMapRef: {{name: m, key: k}}}}
"
        )
    };
    let apply = ["apply", "--server-side", "-n", ns, "-f", "-"];
    env.kubectl_ok_stdin(&apply, &manifest(Some("cel-one"), "example.com"))
        .await?;
    // An unrelated edit is allowed (the transition rule compares only the name).
    env.kubectl_ok_stdin(&apply, &manifest(Some("cel-one"), "example.org"))
        .await
        .map_err(|e| format!("an edit that keeps connectionName was refused: {e}"))?;
    for (change, expected) in [
        (
            manifest(Some("cel-two"), "example.org"),
            "connectionName is immutable: Auth0 cannot rename a connection",
        ),
        (
            manifest(None, "example.org"),
            "connectionName is immutable: it cannot be removed once set",
        ),
    ] {
        match env.kubectl_ok_stdin(&apply, &change).await {
            Ok(out) => {
                return Err(format!(
                    "the server accepted a forbidden connectionName change: {out}\n{change}"
                ));
            }
            Err(e) if e.contains(expected) => {}
            Err(e) => {
                return Err(format!(
                    "refused, but without the CRD's message {expected:?}: {e}"
                ));
            }
        }
    }
    let obj = env.get_json("ssoconnection", ns, "cel").await?;
    if obj["spec"]["connectionName"] != "cel-one" {
        return Err(format!(
            "connectionName changed despite the refusal: {}",
            obj["spec"]
        ));
    }
    // The metadata source: exactly one of configMapRef and url; refreshInterval of at least
    // 10s, and only for a URL.
    let source = |name: &str, metadata: &str| {
        format!(
            "apiVersion: sso-operator.io/v1alpha1
kind: SsoConnection
metadata: {{name: {name}}}
spec:
  companyDomain: example.com
  metadata: {metadata}
"
        )
    };
    for (metadata, expected) in [
        (
            "{configMapRef: {name: m, key: k}, url: 'https://idp.example/md'}",
            "set exactly one of metadata.configMapRef and metadata.url",
        ),
        (
            "{entityId: x}",
            "set exactly one of metadata.configMapRef and metadata.url",
        ),
        (
            "{url: 'https://idp.example/md', refreshInterval: 5s}",
            "metadata.refreshInterval must be at least 10s",
        ),
        (
            "{configMapRef: {name: m, key: k}, refreshInterval: 1h}",
            "apply only to metadata.url",
        ),
    ] {
        match env
            .kubectl_ok_stdin(&apply, &source("cel-source", metadata))
            .await
        {
            Ok(out) => return Err(format!("the server accepted metadata {metadata}: {out}")),
            Err(e) if e.contains(expected) => {}
            Err(e) => {
                return Err(format!(
                    "metadata {metadata} refused without the CRD's message {expected:?}: {e}"
                ));
            }
        }
    }
    env.kubectl_ok_stdin(
        &apply,
        &source(
            "cel-url",
            "{url: 'https://idp.example/md', refreshInterval: 1h30m, caBundle: x}",
        ),
    )
    .await
    .map_err(|e| format!("a valid metadata.url source was refused: {e}"))?;
    Ok(())
}

/// The secret scan later scenarios rely on flags every kind of leak, and only leaks.
pub async fn secret_scan_flags_each_kind_of_leak(env: &Env, _ns: &str) -> Result<(), String> {
    let clean = r#"{"status":{"signingCertificate":{"sha1Thumbprint":"ab12"}},"msg":"eyJ only"}"#;
    env.scan_for_secrets(&[("clean", clean)])
        .map_err(|e| format!("a clean text was flagged: {e}"))?;
    let key = env.encryption_key().to_string();
    let leaks = [
        "-----BEGIN CERTIFICATE-----\nMIIB",
        "RSA PRIVATE KEY",
        "client_secret=emulator-secret",
        "signingCert: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        key.as_str(),
    ];
    for leak in leaks {
        let text = format!("before {leak} after");
        match env.scan_for_secrets(&[("planted", &text)]) {
            Ok(()) => {
                return Err(format!(
                    "the scan missed leak #{}",
                    leaks.iter().position(|l| *l == leak).unwrap_or(0)
                ));
            }
            // The report must not repeat what it found.
            Err(e) if e.contains(leak) => return Err("the scan's error repeats the secret".into()),
            Err(_) => {}
        }
    }
    Ok(())
}
