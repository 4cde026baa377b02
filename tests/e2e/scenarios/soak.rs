//! Fault-injection soak: 200 SsoConnections against an Auth0 that fails about 10% of calls
//! with a 5xx and 5% with a 429 and adds latency, a SIGKILL and restart of the operator
//! midway, and real changes (metadata edits, Dashboard edits) while it converges. Bounded in
//! time; the numbers are printed, never asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::env::{Emulator, Env, wait_for};

/// SsoConnections (and ConfigMaps) applied at once.
const COUNT: usize = 200;
/// Resources whose ConfigMap is switched to another IdP (new signing certificate) midway.
const EDITED: usize = 20;
/// Connections given options by hand in the "Dashboard" midway.
const DASHBOARD: usize = 20;
/// Successful creates after which the operator is killed.
const KILL_AFTER_CREATES: u64 = 60;
/// The bound on convergence after the kill (the test fails beyond it).
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(240);
/// The emulator's faults: every 20th create is applied and then its TCP connection reset (the
/// operator cannot know it succeeded), a 429 on 5% of `/api/v2` calls, a random 5xx on 10%
/// (the 5xx draw only happens when no rule fired), 20 ms added to every call; reproducible.
const EMULATOR_FAULTS: &[&str] = &[
    "--fault",
    "method=POST,path=/api/v2/connections,kind=reset,every=20,phase=after",
    "--fault",
    "kind=429,probability=0.05",
    "--fault-rate",
    "0.1",
    "--latency-ms",
    "20",
    "--seed",
    "7",
];

/// The Azure fixture's certificate with the latest notAfter: the one the operator selects.
pub(super) const AZURE_SHA1: &str = "036b35fc81a4bdea40b7082a87b79516798326ba";
/// The Okta fixture's signing certificate.
pub(super) const OKTA_SHA1: &str = "4b53172957fc1b59fd11530518ef16ad9d7914dc";

/// A ConfigMap holding `xml` under `federationmetadata.xml`.
pub(super) fn config_map(name: &str, xml: &str) -> Result<String, String> {
    serde_yaml::to_string(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"federationmetadata.xml": xml},
    }))
    .map_err(|e| e.to_string())
}

/// An SsoConnection `name` (Auth0 connection of the same name) for `domain`, reading
/// ConfigMap `cm`.
pub(super) fn sso_connection(name: &str, cm: &str, domain: &str) -> Result<String, String> {
    serde_yaml::to_string(&json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": name},
        "spec": {
            "companyDomain": domain,
            "connectionName": name,
            "provider": "azureAd",
            "metadata": {"configMapRef": {"name": cm, "key": "federationmetadata.xml"}},
            "restrictSsoOnly": true,
        },
    }))
    .map_err(|e| e.to_string())
}

/// `Ready=True` for the current generation.
pub(super) fn is_ready(obj: &Value) -> bool {
    let ready = obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    ready.is_some_and(|c| c["status"] == "True")
        && obj["metadata"]["generation"] == obj["status"]["observedGeneration"]
}

/// Waits until SsoConnection `name` is `Ready=True` for its current generation.
pub(super) async fn wait_ready(
    env: &Env,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<Value, String> {
    wait_for(&format!("{ns}/{name} Ready=True"), timeout, || async {
        let obj = env.get_json("ssoconnection", ns, name).await?;
        if is_ready(&obj) {
            Ok(obj)
        } else {
            Err(format!("status: {}", obj["status"]))
        }
    })
    .await
}

/// Every SsoConnection in `ns`, by name.
async fn list_ssos(env: &Env, ns: &str) -> Result<BTreeMap<String, Value>, String> {
    let text = env
        .kubectl_ok(&["get", "ssoconnections", "-n", ns, "-o", "json"])
        .await?;
    let list: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    Ok(list["items"]
        .as_array()
        .ok_or("no items")?
        .iter()
        .filter_map(|o| Some((o["metadata"]["name"].as_str()?.to_string(), o.clone())))
        .collect())
}

fn thumbprint(obj: &Value) -> &str {
    obj["status"]["signingCertificate"]["sha1Thumbprint"]
        .as_str()
        .unwrap_or_default()
}

fn counter(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

/// Someone with a Management API token, as the Auth0 Dashboard or a script would act. The
/// emulator injects faults into these calls too, so it retries 429 and 5xx; with the
/// default fault phase `before`, a failed call was not applied and the retry is safe.
struct ManagementApi {
    base_url: String,
    token: String,
    http: reqwest::Client,
    /// Writes (non-GET) that Auth0 accepted (2xx).
    writes: u64,
}

impl ManagementApi {
    async fn new(emulator: &Emulator) -> Result<ManagementApi, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let token = emulator.management_token().await?;
        Ok(ManagementApi {
            base_url: emulator.base_url.clone(),
            token,
            http,
            writes: 0,
        })
    }

    async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let mut last = String::new();
        for _ in 0..30 {
            let mut req = self
                .http
                .request(method.clone(), format!("{}/api/v2{path}", self.base_url))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.map_err(|e| e.to_string())?;
                    if status.is_success() {
                        if method != reqwest::Method::GET {
                            self.writes += 1;
                        }
                        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
                    }
                    if status.as_u16() != 429 && !status.is_server_error() {
                        return Err(format!("{method} {path}: {status}: {text}"));
                    }
                    last = format!("{status}");
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Err(format!(
            "{method} {path}: still failing after 30 tries: {last}"
        ))
    }
}

/// 200 resources converge under 5xx/429 faults and a SIGKILL midway: all Ready, one Auth0
/// connection each, options set by hand survive, no secret leaks, and Auth0 receives
/// exactly one write per real change.
pub async fn two_hundred_connections_converge_through_faults_and_a_kill(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    let started = Instant::now();
    let emulator = env.start_emulator(EMULATOR_FAULTS).await?;
    let mut operator = env
        .start_operator(&emulator, &[("SSO_WATCH_NAMESPACE", ns)])
        .await?;
    let azure = env.fixture("azure-entra-tenant.xml")?;
    let okta = env.fixture("okta-app.xml")?;
    let names: Vec<String> = (0..COUNT).map(|i| format!("soak-{i:03}")).collect();
    let cm_of = |name: &str| format!("{name}-idp");

    let mut docs = Vec::new();
    for name in &names {
        docs.push(config_map(&cm_of(name), &azure)?);
        docs.push(sso_connection(
            name,
            &cm_of(name),
            &format!("{name}.example.com"),
        )?);
    }
    env.apply_yaml(ns, &docs.join("---\n")).await?;
    println!(
        "  soak: applied {COUNT} ConfigMaps + SsoConnections in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Kill mid-flight: some connections exist, most do not.
    let created_at_kill = wait_for("the first creates", Duration::from_secs(120), || async {
        let n = counter(&emulator.stats().await?, "POST /api/v2/connections 201");
        if n >= KILL_AFTER_CREATES {
            Ok(n)
        } else {
            Err(format!("{n} connections created"))
        }
    })
    .await?;
    // Metrics die with the process: keep the first run's for the secret scan.
    let metrics_first_run = operator.metrics().await?;
    operator.kill9();
    let ready_at_kill = list_ssos(env, ns)
        .await?
        .values()
        .filter(|o| is_ready(o))
        .count();
    println!(
        "  soak: SIGKILL after {:.1}s with {created_at_kill} created, {ready_at_kill}/{COUNT} Ready",
        started.elapsed().as_secs_f64()
    );
    if created_at_kill as usize >= COUNT {
        return Err("every connection was created before the kill; it was not midway".into());
    }
    operator.restart().await?;

    // Real changes midway, only on resources that are Ready with the first certificate, so
    // each one costs exactly one PATCH: options set by hand on DASHBOARD connections, then a
    // new IdP certificate for EDITED resources (half of them also carry hand-set options,
    // which that PATCH must keep).
    let ready_now = wait_for(
        "enough Ready resources to change",
        Duration::from_secs(60),
        || async {
            let ready: Vec<(String, Value)> = list_ssos(env, ns)
                .await?
                .into_iter()
                .filter(|(_, o)| is_ready(o) && thumbprint(o) == AZURE_SHA1)
                .collect();
            if ready.len() >= DASHBOARD + EDITED / 2 {
                Ok(ready)
            } else {
                Err(format!("{} Ready", ready.len()))
            }
        },
    )
    .await?;
    let dashboard: Vec<&(String, Value)> = ready_now.iter().take(DASHBOARD).collect();
    let edited: BTreeSet<String> = ready_now
        .iter()
        .skip(DASHBOARD / 2)
        .take(EDITED)
        .map(|(n, _)| n.clone())
        .collect();
    let mut api = ManagementApi::new(&emulator).await?;
    let mut hand_set: BTreeMap<String, Value> = BTreeMap::new();
    for (name, obj) in &dashboard {
        let id = obj["status"]["connectionId"]
            .as_str()
            .ok_or(format!("{name}: Ready without status.connectionId"))?;
        let conn = api
            .call(reqwest::Method::GET, &format!("/connections/{id}"), None)
            .await?;
        let mut options = conn["options"].clone();
        options["requestTemplate"] =
            json!("<samlp:AuthnRequest @@AssertServiceURLAndDestination@@ />");
        options["x_dashboard_note"] = json!({"set_by": "dashboard", "for": name});
        api.call(
            reqwest::Method::PATCH,
            &format!("/connections/{id}"),
            Some(&json!({"options": options})),
        )
        .await?;
        hand_set.insert(name.clone(), options);
    }
    let mut docs = Vec::new();
    for name in &edited {
        docs.push(config_map(&cm_of(name), &okta)?);
    }
    env.apply_yaml(ns, &docs.join("---\n")).await?;
    println!(
        "  soak: {} connections edited by hand, {} ConfigMaps edited at {:.1}s",
        hand_set.len(),
        edited.len(),
        started.elapsed().as_secs_f64()
    );

    // Converge: every resource Ready for its generation, status showing the right IdP
    // certificate.
    let converge_start = Instant::now();
    let mut last_print = Instant::now();
    let ssos = loop {
        let ssos = list_ssos(env, ns).await?;
        let ready = ssos.values().filter(|o| is_ready(o)).count();
        let right_cert = ssos
            .iter()
            .filter(|(n, o)| {
                thumbprint(o)
                    == if edited.contains(*n) {
                        OKTA_SHA1
                    } else {
                        AZURE_SHA1
                    }
            })
            .count();
        let progress = format!(
            "{ready}/{COUNT} Ready, {right_cert}/{COUNT} with the expected certificate in status"
        );
        if ssos.len() == COUNT && ready == COUNT && right_cert == COUNT {
            println!(
                "  soak: converged at {:.1}s: {progress}",
                started.elapsed().as_secs_f64()
            );
            break ssos;
        }
        if converge_start.elapsed() >= CONVERGE_TIMEOUT {
            let stuck: Vec<String> = ssos
                .iter()
                .filter(|(_, o)| !is_ready(o))
                .take(5)
                .map(|(n, o)| format!("{n}: {}", o["status"]["conditions"]))
                .collect();
            return Err(format!(
                "not converged within {CONVERGE_TIMEOUT:?}: {progress}; e.g. {stuck:?}\nlast operator log lines:\n{}",
                operator.log_tail(20)
            ));
        }
        if last_print.elapsed() >= Duration::from_secs(10) {
            println!(
                "  soak: {:.0}s: {progress}",
                started.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // Auth0 holds exactly one connection per resource, marked as that resource's.
    let all = emulator.connections().await?;
    let conns = all
        .as_array()
        .or_else(|| all["connections"].as_array())
        .ok_or_else(|| format!("unexpected /__emulator/connections body: {all}"))?;
    let by_name: BTreeMap<&str, &Value> = conns
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?, c)))
        .collect();
    if conns.len() != COUNT || by_name.len() != COUNT {
        return Err(format!(
            "Auth0 holds {} connections ({} distinct names), want {COUNT}",
            conns.len(),
            by_name.len()
        ));
    }
    for (name, obj) in &ssos {
        let conn = by_name
            .get(name.as_str())
            .ok_or(format!("no Auth0 connection for {name}"))?;
        if conn["metadata"]["sso-operator-owner"] != format!("{ns}/{name}") {
            return Err(format!(
                "{name}: ownership marker {}",
                conn["metadata"]["sso-operator-owner"]
            ));
        }
        if conn["id"] != obj["status"]["connectionId"] {
            return Err(format!(
                "{name}: status.connectionId {} but Auth0 id {}",
                obj["status"]["connectionId"], conn["id"]
            ));
        }
        if conn["options"]["thumbprints"][0] != thumbprint(obj) {
            return Err(format!(
                "{name}: Auth0 thumbprints {} but status {}",
                conn["options"]["thumbprints"],
                thumbprint(obj)
            ));
        }
    }
    // Options set by hand survive, also through the certificate PATCHes.
    for (name, options) in &hand_set {
        let conn = by_name[name.as_str()];
        for kept in ["requestTemplate", "x_dashboard_note"] {
            if conn["options"][kept] != options[kept] {
                return Err(format!(
                    "{name}: option {kept} set by hand was lost (now {})",
                    conn["options"][kept]
                ));
            }
        }
    }

    // No secret anywhere a user or a log pipeline can see.
    let statuses = env
        .kubectl_ok(&["get", "ssoconnections", "-n", ns, "-o", "json"])
        .await?;
    let events = env
        .kubectl_ok(&["get", "events", "-n", ns, "-o", "json"])
        .await?;
    let metrics = operator.metrics().await?;
    let log = operator.log_text();
    env.scan_for_secrets(&[
        ("SsoConnections", &statuses),
        ("Events", &events),
        ("/metrics before the kill", &metrics_first_run),
        ("/metrics after the restart", &metrics),
        ("operator log (both runs)", &log),
    ])?;

    // Write accounting: the writes Auth0 applied. The 5xx and 429 faults have phase `before`
    // (returned without applying the request), so a failed POST or PATCH and its retries
    // count once, as the one that succeeded with 2xx. The one `after` fault, the reset of
    // every 20th POST, is applied although the operator sees no answer: it counts as a
    // create, and the operator's retry must not create a second connection (its 409 is not a
    // write). The operator's writes are all of them minus the ones made above by hand.
    let calls = emulator.calls().await?;
    let calls = calls.as_array().ok_or("calls is not an array")?;
    let mut writes: BTreeMap<String, u64> = BTreeMap::new();
    let mut patched: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut api_calls, mut faulted, mut resets) = (0u64, 0u64, 0u64);
    for c in calls {
        let path = c["path"].as_str().unwrap_or_default();
        if !path.starts_with("/api/v2") {
            continue;
        }
        api_calls += 1;
        if c["fault"].as_str().is_some_and(|f| f != "latency") {
            faulted += 1;
        }
        let method = c["method"].as_str().unwrap_or_default();
        // A reset after the request was served: applied only if it was served with a 2xx (a
        // restarted operator's POST of a name it had created before the kill answers 409).
        let applied_then_reset = c["fault"] == "reset"
            && method == "POST"
            && c["applied_status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s));
        let ok = applied_then_reset
            || c["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s));
        resets += u64::from(applied_then_reset);
        if ok && method != "GET" && path.starts_with("/api/v2/connections") {
            *writes.entry(method.to_string()).or_default() += 1;
            if method == "PATCH" {
                *patched.entry(path).or_default() += 1;
            }
        }
    }
    let creates = writes.get("POST").copied().unwrap_or(0);
    let patches = writes.get("PATCH").copied().unwrap_or(0);
    let operator_patches = patches.saturating_sub(api.writes);
    let total_writes: u64 = writes.values().sum::<u64>().saturating_sub(api.writes);
    let stats = emulator.stats().await?;
    println!(
        "  soak summary: {COUNT} resources in {:.1}s; {api_calls} Management API calls, {faulted} faulted \
         ({} faults fired, {} 429s); operator writes {total_writes} = {creates} creates ({resets} answered by a reset) \
         + {operator_patches} updates (+{} by hand); killed at {created_at_kill} creates",
        started.elapsed().as_secs_f64(),
        counter(&stats, "faults_fired"),
        counter(&stats, "rate_limited"),
        api.writes,
    );
    if faulted == 0 || resets == 0 {
        return Err(format!(
            "{faulted} faults, {resets} resets fired: the soak exercised too little"
        ));
    }
    let want = (COUNT + EDITED) as u64;
    if creates != COUNT as u64 || operator_patches != EDITED as u64 || total_writes != want {
        let repeated: Vec<String> = patched
            .iter()
            .filter(|(_, n)| **n > 2)
            .map(|(p, n)| format!("{p} ×{n}"))
            .collect();
        return Err(format!(
            "Auth0 writes {writes:?} (of which {} by hand) do not equal the real changes: \
             {COUNT} creates + {EDITED} updates; PATCHed more than twice: {repeated:?}",
            api.writes
        ));
    }
    Ok(())
}
