//! The Helm chart installed with `helm install` into the real API server. No kubelet runs
//! there, so the Deployment's pods never start: the harness runs the operator binary itself,
//! with the container arguments the chart rendered into the Deployment, under a token of the
//! chart's ServiceAccount, as the e2e suite does with `deploy/`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::cluster::{find_apiserver, tool_beside};
use crate::env::{EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, EMULATOR_DOMAIN, Env, wait_for};
use crate::process::free_ports;

const RELEASE: &str = "sso";
/// `sso-operator.fullname` for release `sso`.
const FULLNAME: &str = "sso-sso-operator";

async fn helm(env: &Env, args: &[&str]) -> Result<String, String> {
    let bin = tool_beside(&find_apiserver()?, "SSO_HELM", "helm");
    let home = env.work_dir().join("helm-home");
    let out = tokio::process::Command::new(&bin)
        .args(args)
        .arg("--kubeconfig")
        .arg(env.cluster.admin.kubeconfig())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .current_dir(&env.repo)
        .output()
        .await
        .map_err(|e| {
            format!(
                "cannot run helm ({}): {e}; run scripts/install-testenv.sh",
                bin.display()
            )
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "helm {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The operator's arguments as the chart renders them, with what only a pod has (the metrics
/// port, the mounted key file) replaced by the harness's and the Auth0 credentials (the pod
/// reads them from a Secret) given as flags for the emulator.
fn harness_args(
    rendered: &[String],
    metrics_addr: &str,
    key_file: &std::path::Path,
    emulator: &str,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = rendered
        .iter()
        .map(|a| {
            if a.starts_with("--metrics-addr=") {
                OsString::from(format!("--metrics-addr={metrics_addr}"))
            } else if a.starts_with("--encryption-key-file=") {
                let mut flag = OsString::from("--encryption-key-file=");
                flag.push(key_file);
                flag
            } else {
                OsString::from(a)
            }
        })
        .collect();
    for (flag, value) in [
        ("--auth0-url", emulator),
        ("--auth0-domain", EMULATOR_DOMAIN),
        ("--auth0-client-id", EMULATOR_CLIENT_ID),
        ("--auth0-client-secret", EMULATOR_CLIENT_SECRET),
        ("--lease-duration-seconds", "4"),
        ("--lease-grace-seconds", "2"),
    ] {
        args.push(flag.into());
        args.push(value.into());
    }
    args
}

/// `helm install` with two replicas: the release deploys, its Deployment asks for leader
/// election, and two operators running under the chart's ServiceAccount token elect one
/// leader that brings an SsoConnection to Ready with no RBAC refusal; `helm uninstall`
/// removes what the chart created.
pub async fn helm_chart_installs_and_its_service_account_runs_the_operator(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    helm(
        env,
        &[
            "install",
            RELEASE,
            "charts/sso-operator",
            "--namespace",
            ns,
            "--skip-crds",
            "--set",
            "replicas=2",
            "--set",
            &format!("watchNamespace={ns}"),
        ],
    )
    .await?;
    let status = helm(env, &["status", RELEASE, "--namespace", ns, "-o", "json"]).await?;
    let status: Value =
        serde_json::from_str(&status).map_err(|e| format!("helm status is not JSON: {e}"))?;
    if status["info"]["status"] != "deployed" {
        return Err(format!("release not deployed: {}", status["info"]));
    }

    let deployment = env.get_json("deployment", ns, FULLNAME).await?;
    if deployment["spec"]["replicas"] != 2 {
        return Err(format!(
            "Deployment replicas = {}",
            deployment["spec"]["replicas"]
        ));
    }
    let pod = &deployment["spec"]["template"]["spec"];
    if pod["serviceAccountName"] != FULLNAME {
        return Err(format!(
            "the pod runs as {}, not the chart's ServiceAccount",
            pod["serviceAccountName"]
        ));
    }
    let rendered: Vec<String> = pod["containers"][0]["args"]
        .as_array()
        .ok_or("the Deployment has no container args")?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    for needed in [
        "--leader-election".to_string(),
        format!("--leader-election-namespace={ns}"),
        format!("--watch-namespace={ns}"),
    ] {
        if !rendered.contains(&needed) {
            return Err(format!("the Deployment's args lack {needed}: {rendered:?}"));
        }
    }

    let token = env
        .kubectl_ok(&[
            "create",
            "token",
            FULLNAME,
            "--namespace",
            ns,
            "--duration=1h",
        ])
        .await?;
    let kubeconfig: PathBuf = env.cluster.kubeconfig_for(
        &format!("system:serviceaccount:{ns}:{FULLNAME}"),
        token.trim(),
    )?;

    let emulator = env.start_emulator(&[]).await?;
    let mut replicas = Vec::new();
    for identity in ["chart-a", "chart-b"] {
        let metrics_addr = format!("127.0.0.1:{}", free_ports(1)?[0]);
        let args = harness_args(&rendered, &metrics_addr, env.key_file(), &emulator.base_url);
        let mut vars: Vec<(String, String)> = ["PATH", "HOME", "TMPDIR"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        vars.extend([
            (
                "KUBECONFIG".into(),
                kubeconfig.to_string_lossy().into_owned(),
            ),
            ("POD_NAME".into(), identity.to_string()),
            ("POD_NAMESPACE".into(), ns.to_string()),
        ]);
        replicas.push(env.spawn_operator(args, vars, metrics_addr).await?);
    }

    let example = env.repo_path("deploy/examples/acme-azure.yaml");
    env.kubectl_ok(&["apply", "-n", ns, "-f", &example.to_string_lossy()])
        .await?;
    env.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=60s",
        "-n",
        ns,
        "ssoconnection/acme",
    ])
    .await
    .map_err(|e| {
        format!(
            "the chart's operator did not make the example Ready: {e}\n{}",
            replicas
                .iter()
                .map(|r| r.log_tail(15))
                .collect::<Vec<_>>()
                .join("\n----\n")
        )
    })?;

    let holder = wait_for("a Lease holder", Duration::from_secs(30), || async {
        let lease = env.get_json("lease", ns, "sso-operator-leader").await?;
        lease["spec"]["holderIdentity"]
            .as_str()
            .filter(|h| ["chart-a", "chart-b"].contains(h))
            .map(str::to_string)
            .ok_or_else(|| format!("holder: {}", lease["spec"]["holderIdentity"]))
    })
    .await?;
    let reconciled: Vec<bool> = replicas
        .iter()
        .map(|r| r.log_text().contains("acquired leadership"))
        .collect();
    if reconciled.iter().filter(|l| **l).count() != 1 {
        return Err(format!(
            "expected exactly one leader (Lease holder {holder}), got {reconciled:?}"
        ));
    }
    for (i, replica) in replicas.iter().enumerate() {
        let log = replica.log_text();
        if log.contains("forbidden") || log.contains("Forbidden") {
            return Err(format!(
                "replica {i} hit an RBAC refusal under the chart's ServiceAccount:\n{}",
                replica.log_tail(20)
            ));
        }
    }
    for mut replica in replicas {
        replica.stop();
    }

    helm(env, &["uninstall", RELEASE, "--namespace", ns]).await?;
    let left = env
        .kubectl_ok(&[
            "get",
            "deployment,serviceaccount,role,rolebinding",
            "-n",
            ns,
            "-l",
            "app.kubernetes.io/instance=sso",
            "-o",
            "name",
        ])
        .await?;
    if !left.trim().is_empty() {
        return Err(format!("helm uninstall left behind: {left}"));
    }
    Ok(())
}
