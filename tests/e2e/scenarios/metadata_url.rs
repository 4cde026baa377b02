//! `spec.metadata.url` end to end: a local HTTPS server (its own CA in `caBundle`) publishes
//! the IdP's metadata the way Entra ID rolls a certificate over; the operator (started with
//! `--allow-private-metadata-urls`, as the server is on loopback) follows it into Auth0,
//! reports expiry, survives 404s, garbage and a restart without touching Auth0, and without
//! the flag refuses the URL before any connection is made.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::controller::{
    READY_TIMEOUT, api_calls_since, condition, events_text, wait_ready, writes,
};
use crate::env::{Emulator, Env, Operator, wait_for};
use crate::metadata_server::{Answer, MetadataServer, idp_certificate, idp_metadata};

const ENTITY: &str = "https://sts.windows.example/4f2b8c1e/";
/// A refresh (10s) plus a reconcile, with room for a loaded machine.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(45);

fn sso_connection(name: &str, connection: &str, server: &MetadataServer) -> String {
    serde_yaml::to_string(&json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": name},
        "spec": {
            "companyDomain": "acme.com",
            "connectionName": connection,
            "provider": "azureAd",
            "metadata": {
                "url": server.url,
                "caBundle": server.ca_pem,
                "refreshInterval": "10s",
            },
        },
    }))
    .unwrap_or_default()
}

struct Cert {
    base64: String,
    sha1: String,
    not_after: i64,
}

fn cert(env: &Env, ns: &str, tag: &str, days: u32) -> Result<Cert, String> {
    let (base64, pem) = idp_certificate(&env.work_dir().join(format!("{ns}-idp")), tag, days)?;
    let parsed = sso_operator::certs::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
    Ok(Cert {
        base64,
        sha1: parsed.sha1_hex(),
        not_after: parsed.not_after().as_second(),
    })
}

/// The SHA-1 thumbprint of the signing certificate Auth0 holds for `connection`.
async fn in_auth0(emulator: &Emulator, connection: &str) -> Result<String, String> {
    let conn = emulator
        .connection_named(connection)
        .await?
        .ok_or_else(|| format!("Auth0 has no connection {connection}"))?;
    Ok(conn["options"]["thumbprints"][0]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase())
}

async fn wait_in_auth0(
    emulator: &Emulator,
    connection: &str,
    want: &Cert,
    what: &str,
) -> Result<(), String> {
    wait_for(what, REFRESH_TIMEOUT, || async {
        let held = in_auth0(emulator, connection).await?;
        if held == want.sha1 {
            Ok(())
        } else {
            Err(format!("Auth0 holds {held}"))
        }
    })
    .await
}

async fn status_of(env: &Env, ns: &str) -> Result<Value, String> {
    Ok(env.get_json("ssoconnection", ns, "acme").await?["status"].clone())
}

async fn start_operator(
    env: &Env,
    emulator: &Emulator,
    ns: &str,
    allow_private: bool,
) -> Result<Operator, String> {
    let mut extra = vec![("SSO_WATCH_NAMESPACE", ns)];
    if allow_private {
        extra.push(("SSO_ALLOW_PRIVATE_METADATA_URLS", "true"));
    }
    env.start_operator(emulator, &extra).await
}

/// The whole life of a URL source: expiry reported, an Entra ID rollover followed with one
/// PATCH, failures and a restart that change nothing in Auth0, recovery.
pub async fn metadata_url_follows_a_rollover_and_survives_failures(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let a = cert(env, ns, "a", 20)?;
    let b = cert(env, ns, "b", 365)?;
    let server = MetadataServer::start(
        &env.work_dir().join(format!("{ns}-tls")),
        Answer::Document(idp_metadata(ENTITY, &[&a.base64])),
    )
    .await?;
    let emulator = env.start_emulator(&[]).await?;
    let mut operator = start_operator(env, &emulator, ns, true).await?;
    env.apply_yaml(ns, &sso_connection("acme", "acme-url", &server))
        .await?;

    // 1. Certificate A, 20 days left: Ready, ExpiresSoon, a Warning Event, the gauge.
    let obj = wait_ready(env, ns, "acme", "True", "Synced").await?;
    let status = &obj["status"];
    let days = status["signingCertificate"]["daysRemaining"]
        .as_i64()
        .ok_or("no daysRemaining")?;
    if !(19..=20).contains(&days) {
        return Err(format!("daysRemaining is {days}, expected 19-20"));
    }
    let expiring = condition(&obj, "CertificateExpiring").ok_or("no CertificateExpiring")?;
    if expiring["status"] != "True" || expiring["reason"] != "ExpiresSoon" {
        return Err(format!("CertificateExpiring is {expiring}"));
    }
    let source = &status["metadataSource"];
    if source["url"] != json!(server.url)
        || source["lastSuccessfulFetchTime"].is_null()
        || !source["lastError"].is_null()
        || source["sha256"].as_str().is_none_or(|s| s.len() != 64)
    {
        return Err(format!("status.metadataSource is {source}"));
    }
    if in_auth0(&emulator, "acme-url").await? != a.sha1 {
        return Err("Auth0 does not hold certificate A".into());
    }
    wait_for(
        "a CertificateExpiring Warning Event",
        READY_TIMEOUT,
        || async {
            let events = events_text(env, ns).await?;
            if events.contains("\"CertificateExpiring\"") {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
    )
    .await?;
    let series = format!(
        "sso_operator_certificate_expiration_timestamp_seconds{{namespace=\"{ns}\",name=\"acme\",certificate=\"idp-signing\"}} {}",
        a.not_after
    );
    wait_for(
        "the expiry gauge at A's notAfter",
        READY_TIMEOUT,
        || async {
            let metrics = operator.metrics().await?;
            if metrics.lines().any(|l| l == series) {
                Ok(())
            } else {
                Err(format!("no line {series}"))
            }
        },
    )
    .await?;

    // 2. Entra ID publishes the next certificate B second while it still signs with A: Auth0
    //    keeps A, status explains why B waits, and the refreshes write nothing.
    let seq = emulator.last_seq().await?;
    server.set(Answer::Document(idp_metadata(
        ENTITY,
        &[&a.base64, &b.base64],
    )));
    wait_for("B listed as pending", REFRESH_TIMEOUT, || async {
        let status = status_of(env, ns).await?;
        let others = status["otherSigningCertificates"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match others.iter().find(|c| c["sha1Thumbprint"] == json!(b.sha1)) {
            Some(c) if c["notSelectedBecause"].is_string() => Ok(()),
            _ => Err(format!("otherSigningCertificates: {others:?}")),
        }
    })
    .await?;
    if in_auth0(&emulator, "acme-url").await? != a.sha1 {
        return Err("Auth0 switched to B while Entra ID still lists A first".into());
    }
    let fetches = server.requests();
    tokio::time::sleep(Duration::from_secs(12)).await;
    if server.requests() <= fetches {
        return Err("the URL was not fetched again within refreshInterval".into());
    }
    let written = writes(&api_calls_since(&emulator, seq).await?);
    if !written.is_empty() {
        return Err(format!("unchanged choice, yet Auth0 writes: {written:?}"));
    }

    // 3. Entra ID moves B to the front (it signs with B now): Auth0 follows with one PATCH.
    let seq = emulator.last_seq().await?;
    server.set(Answer::Document(idp_metadata(
        ENTITY,
        &[&b.base64, &a.base64],
    )));
    wait_in_auth0(&emulator, "acme-url", &b, "Auth0 holds B").await?;
    let obj = wait_for("CertificateExpiring False", REFRESH_TIMEOUT, || async {
        let obj = env.get_json("ssoconnection", ns, "acme").await?;
        match condition(&obj, "CertificateExpiring") {
            Some(c) if c["status"] == "False" && c["reason"] == "Valid" => Ok(obj),
            other => Err(format!("CertificateExpiring {other:?}")),
        }
    })
    .await?;
    if obj["status"]["signingCertificate"]["sha1Thumbprint"] != json!(b.sha1) {
        return Err("status.signingCertificate is not B".into());
    }
    let written = writes(&api_calls_since(&emulator, seq).await?);
    if written.len() != 1 || !written[0].starts_with("PATCH /api/v2/connections/") {
        return Err(format!(
            "the rollover took other writes than one PATCH: {written:?}"
        ));
    }

    // 4. Entra ID drops A: nothing to change.
    let seq = emulator.last_seq().await?;
    server.set(Answer::Document(idp_metadata(ENTITY, &[&b.base64])));
    wait_for("A gone from status", REFRESH_TIMEOUT, || async {
        let status = status_of(env, ns).await?;
        if status["otherSigningCertificates"]
            .as_array()
            .is_none_or(|o| o.is_empty())
        {
            Ok(())
        } else {
            Err(format!("{}", status["otherSigningCertificates"]))
        }
    })
    .await?;

    // 5. The server answers 404, then garbage: Auth0 keeps B, status and an Event say so.
    for (answer, words) in [
        (Answer::NotFound, "HTTP 404"),
        (
            Answer::Document("<html><body>Service Unavailable</body></html>".into()),
            "not usable federation metadata",
        ),
    ] {
        server.set(answer);
        wait_for(
            &format!("lastError with {words:?}"),
            REFRESH_TIMEOUT,
            || async {
                let status = status_of(env, ns).await?;
                let error = status["metadataSource"]["lastError"]
                    .as_str()
                    .unwrap_or_default();
                if error.contains(words) {
                    Ok(())
                } else {
                    Err(format!("lastError {error:?}"))
                }
            },
        )
        .await?;
        if in_auth0(&emulator, "acme-url").await? != b.sha1 {
            return Err(format!("Auth0 lost B after {words}"));
        }
        wait_ready(env, ns, "acme", "True", "Synced").await?;
    }
    let events = events_text(env, ns).await?;
    if !events.contains("\"MetadataUnreachable\"")
        || !events.contains("last good document stays in use")
    {
        return Err(
            "no MetadataUnreachable Warning Event telling the last good document stays".into(),
        );
    }
    let failing =
        format!("sso_operator_metadata_fetch_failing{{namespace=\"{ns}\",name=\"acme\"}} 1");
    wait_for("the fetch-failing gauge", READY_TIMEOUT, || async {
        let metrics = operator.metrics().await?;
        if metrics.lines().any(|l| l == failing) {
            Ok(())
        } else {
            Err(format!("no line {failing}"))
        }
    })
    .await?;

    // 6. A restart while the URL serves garbage: no document in hand, yet nothing is written
    //    to Auth0 and Ready stays True.
    operator.restart().await?;
    let restarted = Timestamp::now();
    wait_for("a fetch after the restart", REFRESH_TIMEOUT, || async {
        let status = status_of(env, ns).await?;
        let at = status["metadataSource"]["lastErrorTime"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok());
        match at {
            Some(t) if t >= restarted => Ok(()),
            _ => Err(format!(
                "lastErrorTime {}",
                status["metadataSource"]["lastErrorTime"]
            )),
        }
    })
    .await?;
    wait_ready(env, ns, "acme", "True", "Synced").await?;
    let written = writes(&api_calls_since(&emulator, seq).await?);
    if !written.is_empty() {
        return Err(format!(
            "failures or the restart wrote to Auth0: {written:?}"
        ));
    }

    // 7. The document is back: the error clears.
    server.set(Answer::Document(idp_metadata(ENTITY, &[&b.base64])));
    wait_for("lastError cleared", REFRESH_TIMEOUT, || async {
        let status = status_of(env, ns).await?;
        if status["metadataSource"]["lastError"].is_null() {
            Ok(())
        } else {
            Err(format!("{}", status["metadataSource"]))
        }
    })
    .await?;
    if in_auth0(&emulator, "acme-url").await? != b.sha1 {
        return Err("Auth0 does not hold B at the end".into());
    }
    Ok(())
}

/// Without `--allow-private-metadata-urls`, a URL on a loopback address is refused with a
/// reason that names the flag, and the server never sees a connection.
pub async fn a_private_metadata_url_is_refused_without_the_flag(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let a = cert(env, ns, "a", 90)?;
    let server = MetadataServer::start(
        &env.work_dir().join(format!("{ns}-tls")),
        Answer::Document(idp_metadata(ENTITY, &[&a.base64])),
    )
    .await?;
    let emulator = env.start_emulator(&[]).await?;
    let _operator = start_operator(env, &emulator, ns, false).await?;
    env.apply_yaml(ns, &sso_connection("acme", "acme-private", &server))
        .await?;
    let obj = wait_ready(env, ns, "acme", "False", "MetadataUrlNotAllowed").await?;
    let message = crate::env::ready_message(&obj);
    for words in [
        "127.0.0.1",
        "--allow-private-metadata-urls",
        "nothing was sent to Auth0",
    ] {
        if !message.contains(words) {
            return Err(format!("the Ready message lacks {words:?}: {message}"));
        }
    }
    if server.connections() != 0 {
        return Err(format!(
            "the refused URL was contacted {} times",
            server.connections()
        ));
    }
    if emulator.connection_named("acme-private").await?.is_some() {
        return Err("a connection was created from a refused URL".into());
    }
    let events = events_text(env, ns).await?;
    if !events.contains("\"MetadataUrlNotAllowed\"") {
        return Err("no MetadataUrlNotAllowed Warning Event".into());
    }
    Ok(())
}
