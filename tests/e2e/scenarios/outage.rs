//! A control-plane outage: the API server stops and comes back (same etcd), as in a managed
//! control-plane upgrade. The operator must say it is not ready while its watches fail, and
//! pick up changes made after the server is back within seconds, not minutes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::env::{Env, ready_condition, wait_for};

const AZURE_SHA1: &str = "036b35fc81a4bdea40b7082a87b79516798326ba";
const OKTA_SHA1: &str = "4b53172957fc1b59fd11530518ef16ad9d7914dc";
/// How long the API server stays down.
const DOWN: Duration = Duration::from_secs(20);
/// How soon after the server is back a change must reach Auth0 (issue 8, item 9).
const RESUME_WITHIN: Duration = Duration::from_secs(30);

/// The API server is stopped for 20 s and started again. While it is down `/readyz` answers
/// 503 naming the failing watch; a metadata edit made right after it is back reaches Auth0
/// within 30 s, and `/readyz` is 200 again. The restart comes last: later scenarios share the
/// cluster, and it is up again when this returns.
pub async fn watches_resume_after_the_api_server_restarts(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let emulator = env.start_emulator(&[]).await?;
    let operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    let example = env.repo_path("deploy/examples/acme-azure.yaml");
    env.kubectl_ok(&["apply", "-n", ns, "-f", &example.to_string_lossy()])
        .await?;
    wait_for(
        "acme Ready with the Azure certificate",
        Duration::from_secs(60),
        || async {
            let obj = env.get_json("ssoconnection", ns, "acme").await?;
            let ready = ready_condition(&obj).is_some_and(|c| c["status"] == "True");
            let thumbprint = &obj["status"]["signingCertificate"]["sha1Thumbprint"];
            if ready && thumbprint == AZURE_SHA1 {
                Ok(())
            } else {
                Err(format!(
                    "Ready {:?}, thumbprint {thumbprint}",
                    ready_condition(&obj)
                ))
            }
        },
    )
    .await?;
    wait_for(
        "/readyz 200 before the outage",
        Duration::from_secs(30),
        || async {
            match operator.readyz().await? {
                200 => Ok(()),
                code => Err(format!("/readyz {code}")),
            }
        },
    )
    .await?;

    // `restart_apiserver` blocks its thread while the server stops, so the probe of /readyz
    // runs as a task of its own.
    let readyz_url = format!("http://{}/readyz", operator.metrics_addr());
    let probe = tokio::spawn(first_not_ready(readyz_url, DOWN + Duration::from_secs(10)));
    let stopped = Instant::now();
    env.cluster.restart_apiserver(DOWN).await?;
    let back = Instant::now();
    println!(
        "    API server back after {:.1}s",
        (back - stopped).as_secs_f64()
    );
    let not_ready = probe
        .await
        .map_err(|e| format!("the /readyz probe failed: {e}"))?;
    let (after, message) = not_ready.ok_or_else(|| {
        format!(
            "/readyz never answered 503 while the API server was down\nlast operator log lines:\n{}",
            operator.log_tail(30)
        )
    })?;
    println!(
        "    /readyz 503 {:.1}s after the API server stopped: {message}",
        after.as_secs_f64()
    );
    if !message.contains("watch") {
        return Err(format!(
            "the 503 does not name the failing watch: {message}"
        ));
    }

    // Right after the server is back: the customer's IdP rotated its certificate.
    let okta = env.fixture("okta-app.xml")?;
    let cm = serde_yaml::to_string(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "acme-idp-metadata"},
        "data": {"federationmetadata.xml": okta},
    }))
    .map_err(|e| e.to_string())?;
    env.apply_yaml(ns, &cm).await?;
    let edited = Instant::now();
    let reached = wait_for("the edit to reach Auth0", RESUME_WITHIN, || async {
        let conn = emulator
            .connection_named("acme-azure")
            .await?
            .ok_or("no acme-azure connection in Auth0")?;
        match &conn["options"]["thumbprints"][0] {
            Value::String(t) if t == OKTA_SHA1 => Ok(edited.elapsed()),
            other => Err(format!("Auth0 thumbprint {other}")),
        }
    })
    .await
    .map_err(|e| format!("{e}\nlast operator log lines:\n{}", operator.log_tail(30)))?;
    println!(
        "    the metadata edit reached Auth0 {:.1}s after it was made",
        reached.as_secs_f64()
    );
    let ready_again = wait_for("/readyz 200 after the outage", RESUME_WITHIN, || async {
        match operator.readyz().await? {
            200 => Ok(back.elapsed()),
            code => Err(format!("/readyz {code}")),
        }
    })
    .await?;
    println!(
        "    /readyz 200 again {:.1}s after the API server was back",
        ready_again.as_secs_f64()
    );
    // The log says when watches failed and when they recovered, once each, not every retry.
    let log = operator.log_text();
    let (failed, recovered) = (
        log.matches("watch failed").count(),
        log.matches("watch recovered").count(),
    );
    if failed == 0 || recovered == 0 || failed > 8 || recovered > 8 {
        return Err(format!(
            "{failed} \"watch failed\" and {recovered} \"watch recovered\" log lines for 4 \
             watches and one outage\nlast operator log lines:\n{}",
            operator.log_tail(30)
        ));
    }
    Ok(())
}

/// Polls `url` until it answers 503 or `within` passes; when and with which body it did.
async fn first_not_ready(url: String, within: Duration) -> Option<(Duration, String)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let started = Instant::now();
    while started.elapsed() < within {
        if let Ok(resp) = http.get(&url).send().await
            && resp.status().as_u16() == 503
        {
            let body = resp.text().await.unwrap_or_default();
            return Some((started.elapsed(), body));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}
