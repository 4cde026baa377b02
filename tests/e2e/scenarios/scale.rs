//! Scale: drift is found by one tenant-wide listing, not a read per connection (a restart
//! costs listing calls), and a person's new resource overtakes queued background work.

use std::time::Duration;

use serde_json::{Value, json};

use super::controller::{READY_TIMEOUT, auth0 as as_dashboard, condition, config_map, wait_ready};
use crate::env::{Emulator, Env, wait_for};
use crate::metadata_server::{idp_certificate, idp_metadata};

fn sso(name: &str, cm: &str) -> String {
    serde_yaml::to_string(&json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": name},
        "spec": {
            "companyDomain": format!("{name}.example.com"),
            "connectionName": name,
            "provider": "generic",
            "metadata": {"configMapRef": {"name": cm, "key": "federationmetadata.xml"}},
        },
    }))
    .unwrap_or_default()
}

async fn all_ready(env: &Env, ns: &str, n: usize) -> Result<(), String> {
    wait_for(
        &format!("{n} SsoConnections Ready"),
        Duration::from_secs(180),
        || async {
            let list: Value = serde_json::from_str(
                &env.kubectl_ok(&["get", "ssoconnections", "-n", ns, "-o", "json"])
                    .await?,
            )
            .map_err(|e| e.to_string())?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let ready = items
                .iter()
                .filter(|o| {
                    condition(o, "Ready").is_some_and(|c| c["status"] == "True")
                        && o["metadata"]["generation"] == o["status"]["observedGeneration"]
                })
                .count();
            if ready >= n {
                Ok(())
            } else {
                Err(format!("{ready}/{n} Ready"))
            }
        },
    )
    .await
}

/// API calls (method, path, query) after `seq`.
async fn api_calls(emulator: &Emulator, seq: u64) -> Result<Vec<(String, String, String)>, String> {
    Ok(emulator
        .calls_since(seq)
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .unwrap_or_default()
                .starts_with("/api/v2")
        })
        .map(|c| {
            (
                c["method"].as_str().unwrap_or_default().to_string(),
                c["path"].as_str().unwrap_or_default().to_string(),
                c["query"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Drift found by the bulk pass after a restart: a Dashboard change to a managed option is
/// reverted and a foreign option survives; a deleted connection of ours is recreated; one
/// replaced by someone else's is not taken over. The restart costs listing calls, and reads
/// only the connections that drifted or disappeared.
pub async fn a_restart_lists_the_tenant_and_repairs_only_what_drifted(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    const N: usize = 20;
    let emulator = env.start_emulator(&[]).await?;
    let mut operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    let mut docs = vec![config_map("shared-idp", &env.fixture("okta-app.xml")?)];
    docs.extend((0..N).map(|i| sso(&format!("conn-{i}"), "shared-idp")));
    env.apply_yaml(ns, &docs.join("---\n")).await?;
    all_ready(env, ns, N).await?;

    // The Dashboard, while the operator is down.
    operator.stop();
    let drifted = emulator
        .connection_named("conn-0")
        .await?
        .ok_or("no conn-0")?;
    let mut options = drifted["options"].clone();
    options["signatureAlgorithm"] = json!("rsa-sha1");
    options["dashboardOnly"] = json!("kept");
    let id0 = drifted["id"].as_str().unwrap_or_default().to_string();
    as_dashboard(
        &emulator,
        reqwest::Method::PATCH,
        &format!("/connections/{id0}"),
        Some(json!({"options": options})),
    )
    .await?;
    let gone = emulator
        .connection_named("conn-1")
        .await?
        .ok_or("no conn-1")?;
    let id1 = gone["id"].as_str().unwrap_or_default().to_string();
    as_dashboard(
        &emulator,
        reqwest::Method::DELETE,
        &format!("/connections/{id1}"),
        None,
    )
    .await?;
    let replaced = emulator
        .connection_named("conn-2")
        .await?
        .ok_or("no conn-2")?;
    let id2 = replaced["id"].as_str().unwrap_or_default().to_string();
    as_dashboard(
        &emulator,
        reqwest::Method::DELETE,
        &format!("/connections/{id2}"),
        None,
    )
    .await?;
    as_dashboard(
        &emulator,
        reqwest::Method::POST,
        "/connections",
        Some(json!({"name": "conn-2", "strategy": "samlp", "options": {"signInEndpoint": "https://someone-else.example/sso", "signingCert": replaced["options"]["signingCert"]}})),
    )
    .await?;

    let seq = emulator.last_seq().await?;
    operator.restart().await?;
    wait_for("conn-0 repaired", READY_TIMEOUT, || async {
        let c = emulator
            .connection_named("conn-0")
            .await?
            .ok_or("conn-0 gone")?;
        if c["options"]["signatureAlgorithm"] == "rsa-sha256" {
            Ok(c)
        } else {
            Err(format!(
                "signatureAlgorithm {}",
                c["options"]["signatureAlgorithm"]
            ))
        }
    })
    .await
    .and_then(|c| {
        if c["options"]["dashboardOnly"] == "kept" {
            Ok(())
        } else {
            Err("the Dashboard's own option was wiped".to_string())
        }
    })?;
    wait_for("conn-1 recreated", READY_TIMEOUT, || async {
        match emulator.connection_named("conn-1").await? {
            Some(c) if c["id"] != json!(id1) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await?;
    wait_ready(env, ns, "conn-2", "False", "ConnectionConflict").await?;
    let foreign = emulator
        .connection_named("conn-2")
        .await?
        .ok_or("conn-2 gone")?;
    if foreign["options"]["signInEndpoint"] != "https://someone-else.example/sso" {
        return Err("someone else's connection was taken over".into());
    }
    // Every other connection was confirmed without a read of its own.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = api_calls(&emulator, seq).await?;
    let listings = calls
        .iter()
        .filter(|(m, p, q)| m == "GET" && p == "/api/v2/connections" && q.contains("take="))
        .count();
    let reads_by_id: Vec<&String> = calls
        .iter()
        .filter(|(m, p, _)| m == "GET" && p.starts_with("/api/v2/connections/"))
        .map(|(_, p, _)| p)
        .collect();
    if listings == 0 || listings > 2 {
        return Err(format!("{listings} listings after the restart: {calls:?}"));
    }
    // Only the three that drifted or disappeared are read by id (the conflicting one may be
    // read again when its failure is retried); the other 17 cost nothing of their own.
    let drifted = [id0.as_str(), id1.as_str(), id2.as_str()];
    let others: Vec<&&String> = reads_by_id
        .iter()
        .filter(|p| !drifted.iter().any(|id| p.ends_with(&format!("/{id}"))))
        .collect();
    if !others.is_empty() || reads_by_id.len() > 6 {
        return Err(format!(
            "the restart read connections one by one beyond the 3 that drifted or disappeared ({} reads, unexpected: {others:?}): {calls:?}",
            reads_by_id.len()
        ));
    }
    Ok(())
}

/// With background work queued at 2 requests/s (a shared ConfigMap edited under 24
/// connections: a read and a write each), a person's new SsoConnection is created before most
/// of it: its POST comes ahead of at least half the PATCHes in Auth0's call log.
pub async fn a_new_resource_overtakes_queued_background_work(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    const N: usize = 24;
    let emulator = env.start_emulator(&["--rate-limit", "2"]).await?;
    let _operator = env
        .start_operator_with_flags(
            &emulator,
            &[("SSO_WATCH_NAMESPACE", ns)],
            &[("--auth0-rate-limit", "2"), ("--auth0-rate-burst", "2")],
        )
        .await?;
    let dir = env.work_dir().join(format!("{ns}-idp"));
    let (a, _) = idp_certificate(&dir, "a", 365)?;
    let (b, _) = idp_certificate(&dir, "b", 365)?;
    let mut docs = vec![config_map(
        "shared-idp",
        &idp_metadata("https://idp.shared.test/", &[&a]),
    )];
    docs.extend((0..N).map(|i| sso(&format!("conn-{i}"), "shared-idp")));
    env.apply_yaml(ns, &docs.join("---\n")).await?;
    all_ready(env, ns, N).await?;

    let seq = emulator.last_seq().await?;
    // The IdP rolled its certificate: every connection sharing the document needs a write.
    env.apply_yaml(
        ns,
        &config_map(
            "shared-idp",
            &idp_metadata("https://idp.shared.test/", &[&b]),
        ),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let newcomer = format!(
        "{}---\n{}",
        config_map(
            "newcomer-idp",
            &idp_metadata("https://idp.newcomer.test/", &[&a])
        ),
        sso("newcomer", "newcomer-idp")
    );
    env.apply_yaml(ns, &newcomer).await?;
    wait_ready(env, ns, "newcomer", "True", "Synced").await?;
    all_ready(env, ns, N + 1).await?;
    wait_for(
        "every shared connection patched",
        Duration::from_secs(120),
        || async {
            let calls = api_calls(&emulator, seq).await?;
            let patches = calls.iter().filter(|(m, _, _)| m == "PATCH").count();
            if patches >= N {
                Ok(())
            } else {
                Err(format!("{patches}/{N} PATCHes"))
            }
        },
    )
    .await?;
    let calls = api_calls(&emulator, seq).await?;
    let post = calls
        .iter()
        .position(|(m, p, _)| m == "POST" && p == "/api/v2/connections")
        .ok_or("the newcomer was never created")?;
    let patches_before = calls[..post]
        .iter()
        .filter(|(m, _, _)| m == "PATCH")
        .count();
    if patches_before > N / 2 {
        return Err(format!(
            "the newcomer waited behind {patches_before} of {N} background PATCHes"
        ));
    }
    eprintln!("    newcomer created after {patches_before} of {N} background PATCHes");
    Ok(())
}
