//! B2B onboarding on the real API server: a connection with a display name, enabled on the
//! customer's Auth0 Organization beside another connection, and SCIM provisioning with its
//! token in a Secret; the organization policy; rotation without a moment when the Secret holds
//! no valid token; and no token anywhere else.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::tenancy::{cluster_tenant, connection, wait_reason};
use crate::env::{Emulator, Env, ready_message, wait_for};

const TIMEOUT: Duration = Duration::from_secs(60);
const ALLOWED_ORGS: &str = "sso-operator.io/allowed-organizations";

/// The whole "Done means" of the B2B issue, end to end.
pub async fn organizations_scim_and_display_name_onboard_a_customer(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let tenant = env.start_emulator(&[]).await?;
    // The flags' tenant gets whatever earlier scenarios left without a tenantRef.
    let leftovers = env.start_emulator(&[]).await?;
    let admin = &tenant.admin;
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: sso_operator::emulator::admin::AdminError| format!("{what}: {e}")
    };
    let acme = admin
        .create_organization("acme")
        .await
        .map_err(failed("create acme"))?;
    let globex = admin
        .create_organization("globex")
        .await
        .map_err(failed("create globex"))?;
    let google = tenant
        .seed_connection(json!({"name": "acme-google", "strategy": "google-apps", "options": {}}))
        .await?;
    let google_id = google["id"].as_str().unwrap_or_default().to_string();
    admin
        .enable_connection(&acme, &google_id, false, true)
        .await
        .map_err(failed("enable acme-google"))?;

    if env
        .get_json_opt("namespace", "default", ns)
        .await?
        .is_none()
    {
        env.create_namespace(ns).await?;
    }
    env.kubectl_ok(&[
        "annotate",
        "namespace",
        ns,
        &format!("{ALLOWED_ORGS}=acme,missing-org"),
    ])
    .await?;
    let t = format!("{ns}-t");
    env.kubectl_ok_stdin(
        &["apply", "-f", "-"],
        &cluster_tenant(&t, &tenant, json!({"domains": "Unrestricted"})),
    )
    .await?;
    let mut operator = env.start_operator(&leftovers, &[]).await?;

    let azure = env.fixture("azure-entra-tenant.xml")?;
    let spec = |orgs: Value, scim: Value| {
        json!({
            "companyDomain": "acme.example", "connectionName": format!("{ns}-acme"),
            "provider": "azureAd", "displayName": "Acme (Entra ID)",
            "organizations": orgs, "scim": scim,
        })
    };
    let with_acme = json!([{"name": "acme", "assignMembershipOnLogin": true}]);
    let scim_on = json!({"enabled": true, "userIdAttribute": "userName", "tokenLifetime": "2h"});
    env.apply_yaml(
        ns,
        &connection("acme", &t, &azure, spec(with_acme.clone(), scim_on.clone())),
    )
    .await?;
    let ready = wait_for("acme Ready with a SCIM token", TIMEOUT, || async {
        let obj = wait_reason(env, ns, "acme", "Synced").await?;
        if obj["status"]["scim"]["tokenId"].is_string() {
            Ok(obj)
        } else {
            Err(format!("status.scim: {}", obj["status"]["scim"]))
        }
    })
    .await?;
    let conn = tenant
        .connection_named(&format!("{ns}-acme"))
        .await?
        .ok_or("the connection is not in Auth0")?;
    let conn_id = conn["id"].as_str().unwrap_or_default().to_string();
    if conn["display_name"] != "Acme (Entra ID)" {
        return Err(format!("display_name: {}", conn["display_name"]));
    }

    // Enabled on acme beside acme-google, with the requested flags.
    let enabled = admin
        .enabled_connections(&acme)
        .await
        .map_err(failed("enabled connections"))?;
    let ours = enabled
        .iter()
        .find(|i| i["connection_id"] == conn_id.as_str())
        .ok_or(format!("not enabled on acme: {enabled:?}"))?;
    if ours["assign_membership_on_login"] != true || ours["show_as_button"] != true {
        return Err(format!("flags: {ours}"));
    }
    if !enabled
        .iter()
        .any(|i| i["connection_id"] == google_id.as_str())
    {
        return Err(format!("acme-google was disabled: {enabled:?}"));
    }
    let managed = &ready["status"]["managedOrganizations"];
    if managed[0]["id"] != acme.as_str() || managed[0]["enabledByOperator"] != true {
        return Err(format!("status.managedOrganizations: {managed}"));
    }

    // The Secret holds the endpoint and a token the SCIM server accepts; status holds neither
    // the token nor anything like it.
    let (endpoint, first_token) = scim_secret(env, ns).await?;
    let scim = &ready["status"]["scim"];
    if scim["endpoint"] != endpoint.as_str()
        || endpoint != format!("{}/scim/v2/connections/{conn_id}", tenant.base_url)
    {
        return Err(format!("endpoint: Secret {endpoint}, status {scim}"));
    }
    let accepted = admin
        .scim_users_status(&endpoint, &first_token)
        .await
        .map_err(failed("SCIM call"))?;
    if accepted != 200 {
        return Err(format!(
            "the SCIM server answered {accepted} to the issued token"
        ));
    }
    let config = admin
        .scim_configuration(&conn_id)
        .await
        .map_err(failed("SCIM configuration"))?
        .ok_or("no SCIM configuration")?;
    if config["user_id_attribute"] != "userName" {
        return Err(format!("SCIM configuration: {config}"));
    }

    // A restart writes nothing, neither to Auth0 nor to the status (no failure flaps while
    // the tenant is being verified again).
    let seq = tenant.last_seq().await?;
    let before = env.get_json("ssoconnection", ns, "acme").await?;
    operator.restart().await?;
    wait_for("the restarted operator checks acme", TIMEOUT, || async {
        let calls = tenant.calls_since(seq).await?;
        let listed = calls
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["method"] == "GET" && c["path"] == "/api/v2/connections");
        if listed {
            Ok(())
        } else {
            Err(format!("calls so far: {calls}"))
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = writes_since(&tenant, seq).await?;
    if !writes.is_empty() {
        return Err(format!("a restart wrote {writes:?}"));
    }
    let after = env.get_json("ssoconnection", ns, "acme").await?;
    let ready = crate::env::ready_condition(&after)
        .cloned()
        .unwrap_or_default();
    if ready["status"] != "True"
        || ready["lastTransitionTime"]
            != crate::env::ready_condition(&before)
                .cloned()
                .unwrap_or_default()["lastTransitionTime"]
    {
        return Err(format!("Ready flipped during the restart: {ready}"));
    }
    let events = env
        .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await?;
    if events.contains("TenantNotFound") || events.contains("TenantNotReady") {
        return Err(format!("the restart reported the tenant missing: {events}"));
    }

    // Rotation on request: a watcher checks all along that the Secret's token is accepted.
    let stop = AtomicBool::new(false);
    let gaps = AtomicU32::new(0);
    let old_id = scim["tokenId"].as_str().unwrap_or_default().to_string();
    let rotate = async {
        let result = async {
            env.kubectl_ok(&[
                "annotate",
                "-n",
                ns,
                "ssoconnection",
                "acme",
                "sso-operator.io/rotate-scim-token=first-rotation",
            ])
            .await?;
            let rotated = wait_for("the SCIM token is rotated", TIMEOUT, || async {
                let obj = env.get_json("ssoconnection", ns, "acme").await?;
                let s = &obj["status"]["scim"];
                if s["lastRotationRequest"] == "first-rotation" && s["tokenId"] != old_id.as_str() {
                    Ok(obj)
                } else {
                    Err(format!("status.scim: {s}"))
                }
            })
            .await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<_, String>(rotated)
        }
        .await;
        stop.store(true, Ordering::Relaxed);
        result
    };
    let (checks, rotated) = tokio::join!(watch_secret_tokens(env, ns, admin, &stop, &gaps), rotate);
    let (checks, rotated) = (checks?, rotated?);
    if gaps.load(Ordering::Relaxed) > 0 || checks < 5 {
        return Err(format!(
            "the Secret held no valid token {} time(s) in {checks} checks",
            gaps.load(Ordering::Relaxed)
        ));
    }
    let (_, second_token) = scim_secret(env, ns).await?;
    if second_token == first_token {
        return Err("the Secret still holds the old token".into());
    }
    let old_status = admin
        .scim_users_status(&endpoint, &first_token)
        .await
        .map_err(failed("SCIM call"))?;
    let new_status = admin
        .scim_users_status(&endpoint, &second_token)
        .await
        .map_err(failed("SCIM call"))?;
    if old_status != 401 || new_status != 200 {
        return Err(format!(
            "after rotation the old token gets {old_status} (want 401), the new one {new_status}"
        ));
    }
    let listed = admin
        .scim_tokens(&conn_id)
        .await
        .map_err(failed("SCIM tokens"))?;
    if listed.len() != 1 || listed[0]["token_id"] != rotated["status"]["scim"]["tokenId"] {
        return Err(format!("tokens after rotation: {listed:?}"));
    }

    // An organization the namespace was not granted: refused, nothing sent.
    let seq = tenant.last_seq().await?;
    let with_globex =
        json!([{"name": "acme", "assignMembershipOnLogin": true}, {"name": "globex"}]);
    env.apply_yaml(
        ns,
        &connection("acme", &t, &azure, spec(with_globex, scim_on.clone())),
    )
    .await?;
    let refused = wait_reason(env, ns, "acme", "OrganizationNotAllowed").await?;
    if !ready_message(&refused).contains("globex")
        || !ready_message(&refused).contains(ALLOWED_ORGS)
    {
        return Err(format!("message: {}", ready_message(&refused)));
    }
    let writes = writes_since(&tenant, seq).await?;
    if !writes.is_empty() {
        return Err(format!("OrganizationNotAllowed wrote {writes:?}"));
    }
    if !admin
        .enabled_connections(&globex)
        .await
        .map_err(failed("globex"))?
        .is_empty()
    {
        return Err("the connection was enabled on globex".into());
    }

    // Granted but missing in Auth0: OrganizationNotFound, nothing written.
    let seq = tenant.last_seq().await?;
    let with_missing =
        json!([{"name": "acme", "assignMembershipOnLogin": true}, {"name": "missing-org"}]);
    env.apply_yaml(
        ns,
        &connection("acme", &t, &azure, spec(with_missing, scim_on.clone())),
    )
    .await?;
    let missing = wait_reason(env, ns, "acme", "OrganizationNotFound").await?;
    if !ready_message(&missing).contains("missing-org") {
        return Err(format!("message: {}", ready_message(&missing)));
    }
    let writes = writes_since(&tenant, seq).await?;
    if !writes.is_empty() {
        return Err(format!("OrganizationNotFound wrote {writes:?}"));
    }

    // Dropping the organization disables only ours; SCIM off empties the Secret, deletes the
    // configuration and revokes the token.
    env.apply_yaml(
        ns,
        &connection(
            "acme",
            &t,
            &azure,
            spec(json!([]), json!({"enabled": false})),
        ),
    )
    .await?;
    wait_for("acme disabled on acme, SCIM off", TIMEOUT, || async {
        let obj = wait_reason(env, ns, "acme", "Synced").await?;
        let enabled = admin
            .enabled_connections(&acme)
            .await
            .map_err(|e| e.to_string())?;
        let ids: Vec<&str> = enabled
            .iter()
            .filter_map(|i| i["connection_id"].as_str())
            .collect();
        let secret = env.get_json_opt("secret", ns, "acme-scim").await?;
        let emptied = secret
            .as_ref()
            .is_none_or(|s| s["data"].as_object().is_none_or(|d| d.is_empty()));
        if ids == [google_id.as_str()] && obj["status"]["scim"].is_null() && emptied {
            Ok(())
        } else {
            Err(format!(
                "enabled on acme: {ids:?}; status.scim {}; Secret emptied: {emptied}",
                obj["status"]["scim"],
            ))
        }
    })
    .await?;
    if admin
        .scim_configuration(&conn_id)
        .await
        .map_err(failed("SCIM configuration"))?
        .is_some()
    {
        return Err("the SCIM configuration was not deleted".into());
    }
    let after_off = admin
        .scim_users_status(&endpoint, &second_token)
        .await
        .map_err(failed("SCIM call"))?;
    if after_off == 200 {
        return Err("the token still works after SCIM was turned off".into());
    }

    // No token in status, Events, the operator's log or its metrics.
    let status = env.get_json("ssoconnection", ns, "acme").await?["status"].to_string();
    let events = env
        .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await?;
    if !events.contains("ScimTokenIssued") {
        return Err("no ScimTokenIssued Event".into());
    }
    let log = operator.log_text();
    let metrics = operator.metrics().await?;
    for (label, text) in [
        ("status", &status),
        ("events", &events),
        ("operator log", &log),
        ("metrics", &metrics),
    ] {
        for (which, token) in [("first", &first_token), ("second", &second_token)] {
            if text.contains(token.as_str()) {
                return Err(format!("the {which} SCIM token appears in the {label}"));
            }
        }
    }
    env.scan_for_secrets(&[
        ("status", &status),
        ("events", &events),
        ("operator log", &log),
    ])
}

/// The Secret `acme-scim`: (endpoint, token).
async fn scim_secret(env: &Env, ns: &str) -> Result<(String, String), String> {
    let secret = env.get_json("secret", ns, "acme-scim").await?;
    let field = |k: &str| -> Result<String, String> {
        let b64 = secret["data"][k]
            .as_str()
            .ok_or(format!("Secret acme-scim has no {k}"))?;
        let bytes = B64.decode(b64).map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    };
    Ok((field("endpoint")?, field("token")?))
}

/// Management API writes (not GET) after `seq`.
pub(super) async fn writes_since(emulator: &Emulator, seq: u64) -> Result<Vec<String>, String> {
    let calls = emulator.calls_since(seq).await?;
    Ok(calls
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["method"] != "GET" && c["path"].as_str().is_some_and(|p| p.starts_with("/api/v2"))
        })
        .map(|c| format!("{} {}", c["method"], c["path"]))
        .collect())
}

/// Reads the Secret's token over and over and asks the SCIM server about it: a refusal counts
/// as a gap only if the Secret still holds that token afterwards (otherwise the read was just
/// older than the rotation). Returns how many checks ran.
async fn watch_secret_tokens(
    env: &Env,
    ns: &str,
    admin: &sso_operator::emulator::admin::AdminClient,
    stop: &AtomicBool,
    gaps: &AtomicU32,
) -> Result<u32, String> {
    let mut checks = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok((endpoint, token)) = scim_secret(env, ns).await else {
            gaps.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        checks += 1;
        let status = admin
            .scim_users_status(&endpoint, &token)
            .await
            .map_err(|e| e.to_string())?;
        if status != 200 {
            let (_, now) = scim_secret(env, ns).await?;
            if now == token {
                gaps.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(checks)
}
