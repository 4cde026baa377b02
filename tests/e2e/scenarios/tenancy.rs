//! A shared cluster with two Auth0 tenants: two `auth0-emulator`s, each a `ClusterAuth0Tenant`
//! with credentials from a Secret, and namespaces inside and outside the policy. Tried as an
//! attacker would: takeover, another namespace's domain, a namespace outside the selector, and
//! deleting the would-be hijacker.

use std::time::Duration;

use serde_json::{Value, json};

use crate::env::{
    EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, Emulator, Env, ready_condition, ready_message,
    wait_for,
};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Where the operator reads ClusterAuth0Tenant credentials (its namespace in the harness).
const RESOURCE_NS: &str = "sso-operator";

pub(super) fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_default()
}

/// A ClusterAuth0Tenant `name` for `emulator`, credentials in Secret `<name>-credentials`.
pub(super) fn cluster_tenant(name: &str, emulator: &Emulator, policy: Value) -> String {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-credentials"), "namespace": RESOURCE_NS},
        "stringData": {"client_id": EMULATOR_CLIENT_ID, "client_secret": EMULATOR_CLIENT_SECRET},
    });
    let tenant = json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "ClusterAuth0Tenant",
        "metadata": {"name": name},
        "spec": {
            "domain": format!("{name}.example-auth0.com"),
            "baseUrl": emulator.base_url,
            "credentialsSecretRef": {"name": format!("{name}-credentials")},
            "rateLimit": {"requestsPerSecond": 50, "burst": 50},
            "policy": policy,
        },
    });
    format!("{}---\n{}", yaml(&secret), yaml(&tenant))
}

/// A metadata ConfigMap and an SsoConnection using ClusterAuth0Tenant `tenant`.
pub(super) fn connection(name: &str, tenant: &str, xml: &str, spec: Value) -> String {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-md")},
        "data": {"federationmetadata.xml": xml},
    });
    let mut full = json!({
        "tenantRef": {"kind": "ClusterAuth0Tenant", "name": tenant},
        "metadata": {"configMapRef": {"name": format!("{name}-md"), "key": "federationmetadata.xml"}},
    });
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            full.insert(k.clone(), v.clone());
        }
    }
    let sso = json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": name},
        "spec": full,
    });
    format!("{}---\n{}", yaml(&cm), yaml(&sso))
}

async fn namespace(
    env: &Env,
    ns: &str,
    labels: &[&str],
    domains: Option<&str>,
) -> Result<(), String> {
    if env
        .get_json_opt("namespace", "default", ns)
        .await?
        .is_none()
    {
        env.create_namespace(ns).await?;
    }
    for label in labels {
        env.kubectl_ok(&["label", "namespace", ns, label, "--overwrite"])
            .await?;
    }
    if let Some(d) = domains {
        env.kubectl_ok(&[
            "annotate",
            "namespace",
            ns,
            &format!("sso-operator.io/allowed-domains={d}"),
            "--overwrite",
        ])
        .await?;
    }
    Ok(())
}

/// Waits until `Ready` of `ns/name` has `reason` (True only for `Synced`) for the current
/// generation; returns the object.
pub(super) async fn wait_reason(
    env: &Env,
    ns: &str,
    name: &str,
    reason: &str,
) -> Result<Value, String> {
    let status = if reason == "Synced" { "True" } else { "False" };
    super::controller::wait_ready(env, ns, name, status, reason).await
}

async fn connection_calls(emulator: &Emulator) -> Result<usize, String> {
    let calls = emulator.calls().await?;
    Ok(calls
        .as_array()
        .map(|c| {
            c.iter()
                .filter(|c| {
                    c["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/api/v2/connections"))
                })
                .count()
        })
        .unwrap_or(0))
}

/// The whole "Done means" of the tenancy issue on the real API server.
pub async fn two_tenants_keep_namespaces_and_clusters_apart(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let tenant_a = env.start_emulator(&[]).await?;
    let tenant_b = env.start_emulator(&[]).await?;
    // The flags' tenant gets whatever earlier scenarios left without a tenantRef.
    let leftovers = env.start_emulator(&[]).await?;
    let attacker = format!("{ns}-attacker");
    let outside = format!("{ns}-outside");
    namespace(env, ns, &["sso-tenancy=allowed"], Some("victim.example")).await?;
    namespace(
        env,
        &attacker,
        &["sso-tenancy=allowed"],
        Some("attacker.example"),
    )
    .await?;
    namespace(env, &outside, &[], Some("outside.example")).await?;
    let a = format!("{ns}-a");
    let b = format!("{ns}-b");
    env.kubectl_ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "{}---\n{}",
            cluster_tenant(
                &a,
                &tenant_a,
                json!({"namespaceSelector": {"matchLabels": {"sso-tenancy": "allowed"}}}),
            ),
            cluster_tenant(&b, &tenant_b, json!({"domains": "Unrestricted"}))
        ),
    )
    .await?;
    let mut operator = env.start_operator(&leftovers, &[]).await?;

    // The tenants verify their credentials.
    for t in [&a, &b] {
        wait_for(
            &format!("ClusterAuth0Tenant {t} Ready"),
            TIMEOUT,
            || async {
                let obj = env.get_json("clusterauth0tenant", "default", t).await?;
                let cond = ready_condition(&obj).ok_or("no Ready yet")?;
                if cond["status"] == "True"
                    && cond["reason"] == "Verified"
                    && obj["status"]["scopes"]
                        .as_array()
                        .is_some_and(|s| s.len() >= 6)
                {
                    Ok(())
                } else {
                    Err(format!("{}", obj["status"]))
                }
            },
        )
        .await?;
    }

    // The victim's connection lands in tenant A only, with the full ownership marker.
    let azure = env.fixture("azure-entra-tenant.xml")?;
    let okta = env.fixture("okta-app.xml")?;
    env.apply_yaml(
        ns,
        &connection(
            "victim",
            &a,
            &azure,
            json!({"companyDomain": "victim.example", "connectionName": "victim-conn", "restrictSsoOnly": true, "deletionPolicy": "Delete"}),
        ),
    )
    .await?;
    let victim = wait_reason(env, ns, "victim", "Synced").await?;
    if victim["status"]["tenant"] != format!("ClusterAuth0Tenant/{a}") {
        return Err(format!("status.tenant: {}", victim["status"]["tenant"]));
    }
    let before = tenant_a
        .connection_named("victim-conn")
        .await?
        .ok_or("victim-conn is not in tenant A")?;
    if tenant_b.connection_named("victim-conn").await?.is_some() {
        return Err("victim-conn also landed in tenant B".into());
    }
    let cluster_uid = env.cluster_uid().await?;
    let marker = &before["metadata"];
    let expect = [
        ("managed-by", "sso-operator".to_string()),
        ("sso-operator-owner", format!("{ns}/victim")),
        ("sso-operator-cluster", cluster_uid.clone()),
        (
            "sso-operator-uid",
            victim["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
    ];
    for (key, want) in &expect {
        if marker[key] != want.as_str() {
            return Err(format!("marker {key} = {}, want {want}", marker[key]));
        }
    }

    // 1. Takeover from another namespace with adoptExisting: refused, Auth0 unchanged.
    env.apply_yaml(
        &attacker,
        &connection(
            "hijack",
            &a,
            &okta,
            json!({"companyDomain": "attacker.example", "connectionName": "victim-conn", "adoptExisting": true, "deletionPolicy": "Delete"}),
        ),
    )
    .await?;
    let hijack = wait_reason(env, &attacker, "hijack", "ConnectionConflict").await?;
    if !ready_message(&hijack).contains(&format!("{ns}/victim")) {
        return Err(format!(
            "the conflict does not name the owner: {}",
            ready_message(&hijack)
        ));
    }

    // 2. Another namespace's domain: not granted by the attacker's annotation.
    env.apply_yaml(
        &attacker,
        &connection(
            "claim",
            &a,
            &okta,
            json!({"companyDomain": "victim.example", "connectionName": "claim-conn", "restrictSsoOnly": true}),
        ),
    )
    .await?;
    let claim = wait_reason(env, &attacker, "claim", "DomainNotAllowed").await?;
    if !ready_message(&claim).contains("victim.example") {
        return Err(format!(
            "DomainNotAllowed does not name the domain: {}",
            ready_message(&claim)
        ));
    }
    // ... and a second routed claim in the victim's own namespace: the oldest holds it.
    env.apply_yaml(
        ns,
        &connection(
            "dup",
            &a,
            &okta,
            json!({"companyDomain": "victim.example", "connectionName": "dup-conn", "restrictSsoOnly": true}),
        ),
    )
    .await?;
    let dup = wait_reason(env, ns, "dup", "DomainConflict").await?;
    if !ready_message(&dup).contains(&format!("{ns}/victim")) {
        return Err(format!(
            "DomainConflict does not name the holder: {}",
            ready_message(&dup)
        ));
    }
    // ... and a domain another Auth0 connection already routes (set in the Dashboard).
    tenant_b
        .seed_connection(json!({
            "name": "dashboard-conn", "strategy": "samlp",
            "options": {"signInEndpoint": "https://idp.example/sso", "signingCert": "TUlJQw==", "domain_aliases": ["shared.example"]},
        }))
        .await?;
    env.apply_yaml(
        &attacker,
        &connection(
            "routed-elsewhere",
            &b,
            &okta,
            json!({"companyDomain": "shared.example", "connectionName": "routed-elsewhere", "restrictSsoOnly": true}),
        ),
    )
    .await?;
    let elsewhere = wait_reason(env, &attacker, "routed-elsewhere", "DomainConflict").await?;
    if !ready_message(&elsewhere).contains("dashboard-conn") {
        return Err(format!(
            "DomainConflict does not name the Auth0 connection: {}",
            ready_message(&elsewhere)
        ));
    }

    // 3. A namespace outside the selector sends nothing.
    let calls_before = connection_calls(&tenant_a).await?;
    env.apply_yaml(
        &outside,
        &connection(
            "outsider",
            &a,
            &okta,
            json!({"companyDomain": "outside.example", "connectionName": "outsider-conn"}),
        ),
    )
    .await?;
    let outsider = wait_reason(env, &outside, "outsider", "TenantNotAllowed").await?;
    if !ready_message(&outsider).contains(&a) {
        return Err(format!(
            "TenantNotAllowed does not name the tenant: {}",
            ready_message(&outsider)
        ));
    }

    // 4. Connections land only in their own tenant.
    env.apply_yaml(
        &attacker,
        &connection(
            "in-b",
            &b,
            &okta,
            json!({"companyDomain": "anything.example", "connectionName": "in-b-conn"}),
        ),
    )
    .await?;
    wait_reason(env, &attacker, "in-b", "Synced").await?;
    if tenant_b.connection_named("in-b-conn").await?.is_none()
        || tenant_a.connection_named("in-b-conn").await?.is_some()
    {
        return Err("in-b-conn is not in tenant B alone".into());
    }
    let calls_after = connection_calls(&tenant_a).await?;
    if calls_after != calls_before {
        return Err(format!(
            "tenant A received {} connection calls while only refused or tenant-B resources were applied",
            calls_after - calls_before
        ));
    }
    for name in ["claim-conn", "dup-conn", "outsider-conn"] {
        if tenant_a.connection_named(name).await?.is_some() {
            return Err(format!("a refused resource reached tenant A: {name}"));
        }
    }

    // Argo CD reads these statuses as a user would expect (deploy/argocd/health.lua).
    for (namespace, name, want) in [
        (ns.to_string(), "victim", "Healthy"),
        (attacker.clone(), "hijack", "Degraded"),
        (attacker.clone(), "claim", "Degraded"),
        (outside.clone(), "outsider", "Degraded"),
    ] {
        let obj = env.get_json("ssoconnection", &namespace, name).await?;
        let (status, message) = crate::argocd::health(&obj);
        if status != want {
            return Err(format!(
                "Argo CD health of {namespace}/{name} is {status} ({message}), want {want}"
            ));
        }
    }

    // 5. Deleting the would-be hijacker (deletionPolicy Delete) never touches the victim's.
    env.kubectl_ok(&[
        "delete",
        "sso",
        "hijack",
        "-n",
        &attacker,
        "--wait=true",
        "--timeout=60s",
    ])
    .await?;
    let after = tenant_a
        .connection_named("victim-conn")
        .await?
        .ok_or("deleting the hijacker deleted the victim's connection")?;
    if after != before {
        return Err(format!(
            "the victim's connection changed:\nbefore {before}\nafter  {after}"
        ));
    }

    // The tenant counts the SsoConnections that use it (victim, claim, dup, outsider).
    wait_for(
        "tenant A counts its connections",
        Duration::from_secs(90),
        || async {
            let obj = env.get_json("clusterauth0tenant", "default", &a).await?;
            let n = obj["status"]["connections"].as_u64().unwrap_or(0);
            if n == 4 {
                Ok(())
            } else {
                Err(format!("connections = {n}"))
            }
        },
    )
    .await?;

    // 6. A marker whose owner is gone from this cluster (force-deleted, or deleted while the
    // operator was away) does not lock the connection forever: adoptExisting takes it over.
    // The same marker from another cluster stays untouchable: its owner cannot be looked up.
    let departed = |conn: &str, cluster: &str| {
        json!({
            "name": conn, "strategy": "samlp",
            "options": {"signInEndpoint": "https://idp.example/sso", "signingCert": "TUlJQw==", "kept": "by-adoption"},
            "metadata": {
                "managed-by": "sso-operator",
                "sso-operator-owner": format!("{ns}/departed"),
                "sso-operator-cluster": cluster,
                "sso-operator-uid": "00000000-0000-0000-0000-00000000dead",
            },
        })
    };
    tenant_b
        .seed_connection(departed("orphan-conn", &cluster_uid))
        .await?;
    tenant_b
        .seed_connection(departed("remote-conn", "another-cluster"))
        .await?;
    for (name, conn) in [("heir", "orphan-conn"), ("remote-heir", "remote-conn")] {
        env.apply_yaml(
            &attacker,
            &connection(
                name,
                &b,
                &okta,
                json!({"companyDomain": "heir.example", "connectionName": conn, "adoptExisting": true}),
            ),
        )
        .await?;
    }
    wait_reason(env, &attacker, "heir", "Synced").await?;
    let adopted = tenant_b
        .connection_named("orphan-conn")
        .await?
        .ok_or("orphan-conn is gone")?;
    if adopted["metadata"]["sso-operator-owner"] != format!("{attacker}/heir").as_str()
        || adopted["options"]["kept"] != "by-adoption"
    {
        return Err(format!(
            "orphan-conn was not adopted as expected: {adopted}"
        ));
    }
    let remote = wait_reason(env, &attacker, "remote-heir", "ConnectionConflict").await?;
    if !ready_message(&remote).contains("another-cluster") {
        return Err(format!(
            "the conflict does not name the other cluster: {}",
            ready_message(&remote)
        ));
    }
    let untouched = tenant_b
        .connection_named("remote-conn")
        .await?
        .ok_or("remote-conn is gone")?;
    if untouched["metadata"]["sso-operator-owner"] != format!("{ns}/departed").as_str() {
        return Err(format!("remote-conn changed: {untouched}"));
    }

    // A change of the credentials Secret takes effect without a restart: a wrong secret makes
    // tenant B InvalidCredentials, the right one makes it Verified again.
    for (secret, reason) in [
        ("not-the-secret", "InvalidCredentials"),
        (EMULATOR_CLIENT_SECRET, "Verified"),
    ] {
        let patch = json!({"stringData": {"client_secret": secret}}).to_string();
        env.kubectl_ok(&[
            "patch",
            "secret",
            &format!("{b}-credentials"),
            "-n",
            RESOURCE_NS,
            "--type",
            "merge",
            "-p",
            &patch,
        ])
        .await?;
        wait_for(&format!("tenant B {reason}"), TIMEOUT, || async {
            let obj = env.get_json("clusterauth0tenant", "default", &b).await?;
            let cond = ready_condition(&obj).ok_or("no Ready")?;
            if cond["reason"] == reason {
                Ok(())
            } else {
                Err(format!("{} {}", cond["reason"], cond["message"]))
            }
        })
        .await?;
    }

    let log = operator.log_text();
    env.scan_for_secrets(&[("operator log", &log)])?;
    operator.stop();
    Ok(())
}
