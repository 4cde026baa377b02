//! What scenarios use: the cluster, kubectl, the Auth0 emulator and the operator process.

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use serde_json::Value;
use sso_operator::emulator::admin::AdminClient;

use crate::cluster::{Cluster, checked, without_skew_warning};
use crate::process::{Supervised, free_ports, spawn_supervised};

/// Client secret the emulator accepts by default (`auth0-emulator --client-secret`).
pub const EMULATOR_CLIENT_SECRET: &str = "emulator-secret";
/// Client id the emulator accepts by default.
pub const EMULATOR_CLIENT_ID: &str = "sso-operator-emulator";
/// Auth0 domain the operator is told it talks to.
pub const EMULATOR_DOMAIN: &str = "emulator.local";

/// Everything a scenario needs. One per test run; each scenario gets its own namespace.
pub struct Env {
    /// The API server, etcd and the two kubectl identities.
    pub cluster: Cluster,
    /// The repository root (`CARGO_MANIFEST_DIR`).
    pub repo: PathBuf,
    /// The `sso-operator` binary under test.
    pub operator_bin: PathBuf,
    /// The `auth0-emulator` binary (next to `sso-operator` in the target directory).
    pub emulator_bin: PathBuf,
    http: reqwest::Client,
    encryption_key: String,
    key_file: PathBuf,
    counter: AtomicUsize,
    // Dropped last: logs of emulators and operators live here.
    work: tempfile::TempDir,
}

impl Env {
    /// Starts the cluster and prepares an encryption key file.
    pub async fn start(
        repo: PathBuf,
        operator_bin: PathBuf,
        emulator_bin: PathBuf,
    ) -> Result<Env, String> {
        let work = tempfile::Builder::new()
            .prefix("sso-e2e-work-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let encryption_key = base64::engine::general_purpose::STANDARD.encode(key);
        let key_file = work.path().join("encryption.key");
        std::fs::write(&key_file, &encryption_key)
            .map_err(|e| format!("cannot write the key file: {e}"))?;
        let cluster = Cluster::start(&repo).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Env {
            cluster,
            repo,
            operator_bin,
            emulator_bin,
            http,
            encryption_key,
            key_file,
            counter: AtomicUsize::new(0),
            work,
        })
    }

    /// A path inside the repository.
    pub fn repo_path(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    /// The text of an IdP metadata fixture from `tests/fixtures/idp-metadata/`.
    pub fn fixture(&self, name: &str) -> Result<String, String> {
        let path = self.repo_path("tests/fixtures/idp-metadata").join(name);
        std::fs::read_to_string(&path).map_err(|e| format!("fixture {}: {e}", path.display()))
    }

    /// `kubectl ARGS` as cluster admin.
    pub async fn kubectl(&self, args: &[&str]) -> Result<Output, String> {
        self.cluster.admin.run(args, None).await
    }

    /// `kubectl ARGS` as cluster admin; stdout, or an error carrying stderr.
    pub async fn kubectl_ok(&self, args: &[&str]) -> Result<String, String> {
        self.cluster.admin.ok(args).await
    }

    /// The cluster id the operator writes into ownership markers by default: the UID of the
    /// `kube-system` namespace.
    pub async fn cluster_uid(&self) -> Result<String, String> {
        let uid = self
            .kubectl_ok(&[
                "get",
                "namespace",
                "kube-system",
                "-o",
                "jsonpath={.metadata.uid}",
            ])
            .await?;
        Ok(uid.trim().to_string())
    }

    /// `kubectl ARGS` as the operator's ServiceAccount.
    pub async fn kubectl_as_operator(&self, args: &[&str]) -> Result<Output, String> {
        self.cluster.operator.run(args, None).await
    }

    /// Creates a namespace (as admin).
    pub async fn create_namespace(&self, ns: &str) -> Result<(), String> {
        self.kubectl_ok(&["create", "namespace", ns])
            .await
            .map(drop)
    }

    /// `kubectl ARGS` as cluster admin with `stdin`; stdout, or an error carrying stderr.
    pub async fn kubectl_ok_stdin(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        let out = self.cluster.admin.run(args, Some(stdin)).await?;
        checked(args, out)
    }

    /// `kubectl apply -n NS -f -` with `yaml` on stdin.
    pub async fn apply_yaml(&self, ns: &str, yaml: &str) -> Result<String, String> {
        self.kubectl_ok_stdin(&["apply", "-n", ns, "-f", "-"], yaml)
            .await
    }

    /// `kubectl get KIND NAME -n NS -o json`.
    pub async fn get_json(&self, kind: &str, ns: &str, name: &str) -> Result<Value, String> {
        self.get_json_opt(kind, ns, name)
            .await?
            .ok_or_else(|| format!("{kind} {ns}/{name} not found"))
    }

    /// Like [`Env::get_json`], but `None` when the object does not exist.
    pub async fn get_json_opt(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<Value>, String> {
        let args = ["get", kind, name, "-n", ns, "-o", "json"];
        let out = self.kubectl(&args).await?;
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound") {
            return Ok(None);
        }
        let text = checked(&args, out)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("kubectl get {kind} {ns}/{name}: not JSON: {e}"))
    }

    /// Starts `auth0-emulator --listen 127.0.0.1:0 EXTRA_ARGS` and waits for its address.
    pub async fn start_emulator(&self, extra_args: &[&str]) -> Result<Emulator, String> {
        if !self.emulator_bin.is_file() {
            return Err(format!(
                "the auth0-emulator binary is missing at {} (build it: cargo build --bin auth0-emulator)",
                self.emulator_bin.display()
            ));
        }
        let log = self.next_log("auth0-emulator");
        let mut cmd = Command::new(&self.emulator_bin);
        cmd.args(["--listen", "127.0.0.1:0"]).args(extra_args);
        let mut child = spawn_supervised("auth0-emulator", cmd, &log)?;
        const PREFIX: &str = "auth0-emulator listening on ";
        let base_url = wait_for(
            "auth0-emulator to print its address",
            Duration::from_secs(30),
            || {
                let found = child
                    .log_text()
                    .lines()
                    .find_map(|l| l.trim().strip_prefix(PREFIX).map(|u| u.trim().to_string()));
                let exited = child.exited();
                let tail = child.log_tail(20);
                async move {
                    match (found, exited) {
                        (Some(url), _) => Ok(Ok(url)),
                        (None, Some(status)) => {
                            Ok(Err(format!("auth0-emulator exited ({status}):\n{tail}")))
                        }
                        (None, None) => Err("no address line yet".to_string()),
                    }
                }
            },
        )
        .await??;
        Ok(Emulator {
            admin: AdminClient::new(base_url.as_str()),
            base_url,
            child,
            http: self.http.clone(),
        })
    }

    /// Starts `sso-operator run` against `emulator`, under the operator ServiceAccount's
    /// kubeconfig, and waits until it serves `/livez`. `extra_env` adds or overrides
    /// environment variables (every flag has one, e.g. `SSO_WATCH_NAMESPACE`).
    pub async fn start_operator(
        &self,
        emulator: &Emulator,
        extra_env: &[(&str, &str)],
    ) -> Result<Operator, String> {
        self.start_operator_with_flags(emulator, extra_env, &[])
            .await
    }

    /// Like [`Env::start_operator`], with `flags` (`("--auth0-client-id", "x")`) replacing the
    /// value of a flag the harness passes, or appended. Flags beat environment variables, so
    /// this is how a scenario runs the operator as another Auth0 client.
    pub async fn start_operator_with_flags(
        &self,
        emulator: &Emulator,
        extra_env: &[(&str, &str)],
        flags: &[(&str, &str)],
    ) -> Result<Operator, String> {
        let port = free_ports(1)?[0];
        let metrics_addr = format!("127.0.0.1:{port}");
        let mut args: Vec<OsString> = [
            "run",
            "--auth0-url",
            &emulator.base_url,
            "--auth0-domain",
            EMULATOR_DOMAIN,
            "--auth0-client-id",
            EMULATOR_CLIENT_ID,
            "--auth0-client-secret",
            EMULATOR_CLIENT_SECRET,
            "--auth0-rate-limit",
            "50",
            "--auth0-rate-burst",
            "50",
            "--metrics-addr",
            &metrics_addr,
            "--resync-seconds",
            "3600",
            "--log-format",
            "json",
            "--encryption-key-file",
        ]
        .iter()
        .map(OsString::from)
        .chain([self.key_file.clone().into_os_string()])
        .collect();
        for (flag, value) in flags {
            match args
                .iter()
                .position(|a| a.as_os_str() == std::ffi::OsStr::new(flag))
            {
                Some(i) if i + 1 < args.len() => args[i + 1] = OsString::from(value),
                _ => args.extend([OsString::from(flag), OsString::from(value)]),
            }
        }
        // A clean environment: a developer's AUTH0_* variables must not leak into the test.
        let mut env: Vec<(String, String)> =
            ["PATH", "HOME", "RUST_LOG", "RUST_BACKTRACE", "TMPDIR"]
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
                .collect();
        env.push((
            "KUBECONFIG".to_string(),
            self.cluster
                .operator
                .kubeconfig()
                .to_string_lossy()
                .into_owned(),
        ));
        env.push(("POD_NAME".to_string(), "sso-operator-e2e".to_string()));
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        self.spawn_operator(args, env, metrics_addr).await
    }

    /// Starts `sso-operator` with exactly `args` and `env` (nothing inherited) and waits until
    /// it serves `/livez` on `metrics_addr` (which `args` must name).
    pub async fn spawn_operator(
        &self,
        args: Vec<OsString>,
        env: Vec<(String, String)>,
        metrics_addr: String,
    ) -> Result<Operator, String> {
        let mut op = Operator {
            bin: self.operator_bin.clone(),
            args,
            env,
            log: self.next_log("sso-operator"),
            metrics_addr,
            http: self.http.clone(),
            child: None,
        };
        op.spawn().await?;
        Ok(op)
    }

    /// The local encryption key file the harness gives operators.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// Fails when any text holds something secret: PEM blocks, private keys, the Auth0
    /// client secret, base64-wrapped PEM, a JWT, or the encryption key. The error names the
    /// text and what was found, never the secret itself.
    pub fn scan_for_secrets(&self, texts: &[(&str, &str)]) -> Result<(), String> {
        scan_for_secrets(texts, &[EMULATOR_CLIENT_SECRET, &self.encryption_key])
    }

    /// The base64 local encryption key the operator was given.
    pub fn encryption_key(&self) -> &str {
        &self.encryption_key
    }

    fn next_log(&self, what: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.work.path().join(format!("{n:03}-{what}.log"))
    }

    /// Directory holding emulator and operator logs.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }
}

/// The secret scan, with the literal secrets to look for.
pub fn scan_for_secrets(texts: &[(&str, &str)], literals: &[&str]) -> Result<(), String> {
    let jwt = regex_lite::Regex::new(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.")
        .map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for (label, text) in texts {
        for (needle, what) in [
            ("-----BEGIN", "a PEM header"),
            ("PRIVATE KEY", "a private key marker"),
            ("LS0tLS1CRUdJTi", "a base64-encoded PEM header"),
        ] {
            if let Some(at) = text.find(needle) {
                found.push(format!("{label}: {what} at byte {at}"));
            }
        }
        for (i, lit) in literals.iter().enumerate() {
            if let Some(at) = text.find(lit).filter(|_| !lit.is_empty()) {
                found.push(format!(
                    "{label}: secret #{i} (client secret or encryption key) at byte {at}"
                ));
            }
        }
        if let Some(m) = jwt.find(text) {
            found.push(format!("{label}: a JWT at byte {}", m.start()));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("secrets leaked: {}", found.join("; ")))
    }
}

/// Polls `check` every 200 ms until it returns `Ok`, or fails after `timeout` with `desc`
/// and the last reason `check` gave.
pub async fn wait_for<T, F, Fut>(desc: &str, timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let reason = match check().await {
            Ok(v) => return Ok(v),
            Err(reason) => reason,
        };
        if start.elapsed() >= timeout {
            return Err(format!(
                "timed out after {timeout:?} waiting for {desc}: {reason}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A running `auth0-emulator` child process and its admin endpoints.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The process (killed on drop).
    pub child: Supervised,
    /// Its `/__emulator/` admin API.
    pub admin: AdminClient,
    http: reqwest::Client,
}

impl Emulator {
    /// A Management API bearer token of the default client, as an admin script would hold.
    pub async fn management_token(&self) -> Result<String, String> {
        let resp: Value = self
            .http
            .post(format!("{}/oauth/token", self.base_url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", EMULATOR_CLIENT_ID),
                ("client_secret", EMULATOR_CLIENT_SECRET),
                ("audience", &format!("{}/api/v2/", self.base_url)),
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
            .ok_or_else(|| "the token endpoint returned no access_token".to_string())
    }

    /// The sequence number of the latest call in the log (0 when empty).
    pub async fn last_seq(&self) -> Result<u64, String> {
        self.admin.last_seq().await.map_err(|e| e.to_string())
    }

    /// `GET /__emulator/calls`: every Management API and token call, in order.
    pub async fn calls(&self) -> Result<Value, String> {
        as_json(self.admin.calls().await)
    }

    /// `GET /__emulator/calls?since=SEQ`.
    pub async fn calls_since(&self, seq: u64) -> Result<Value, String> {
        as_json(self.admin.calls_since(seq).await)
    }

    /// `GET /__emulator/stats`: counters keyed `"METHOD route status"`.
    pub async fn stats(&self) -> Result<Value, String> {
        self.admin.stats().await.map_err(|e| e.to_string())
    }

    /// `GET /__emulator/connections`: every connection with its full options.
    pub async fn connections(&self) -> Result<Value, String> {
        as_json(self.admin.connections().await)
    }

    /// The connection named `name`, if any.
    pub async fn connection_named(&self, name: &str) -> Result<Option<Value>, String> {
        self.admin
            .connection_named(name)
            .await
            .map_err(|e| e.to_string())
    }

    /// `POST /__emulator/connections`: insert a connection verbatim (e.g. a foreign one).
    pub async fn seed_connection(&self, connection: Value) -> Result<Value, String> {
        self.admin
            .seed_connection(connection)
            .await
            .map_err(|e| e.to_string())
    }

    /// `POST /__emulator/faults`: add a fault rule.
    pub async fn add_fault(&self, rule: Value) -> Result<Value, String> {
        self.admin.add_fault(rule).await.map_err(|e| e.to_string())
    }

    /// `DELETE /__emulator/faults`: remove every fault rule.
    pub async fn clear_faults(&self) -> Result<Value, String> {
        self.admin.clear_faults().await.map_err(|e| e.to_string())?;
        Ok(Value::Null)
    }

    /// `POST /__emulator/reset`: forget connections, calls and counters.
    pub async fn reset(&self) -> Result<Value, String> {
        self.admin.reset().await.map_err(|e| e.to_string())
    }

    /// The emulator's own output.
    pub fn log_text(&self) -> String {
        self.child.log_text()
    }
}

/// A running `sso-operator run` child process.
pub struct Operator {
    bin: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    log: PathBuf,
    metrics_addr: String,
    http: reqwest::Client,
    child: Option<Supervised>,
}

impl Operator {
    async fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = spawn_supervised("sso-operator", cmd, &self.log)?;
        self.child = Some(child);
        let url = format!("http://{}/livez", self.metrics_addr);
        let result = wait_for(
            "sso-operator to serve /livez",
            Duration::from_secs(30),
            || {
                let exited = self.child.as_mut().and_then(Supervised::exited);
                let req = self.http.get(&url).send();
                async move {
                    if let Some(status) = exited {
                        return Ok(Err(format!("sso-operator exited ({status})")));
                    }
                    match req.await {
                        Ok(r) if r.status().is_success() => Ok(Ok(())),
                        Ok(r) => Err(format!("/livez answered {}", r.status())),
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        )
        .await
        .and_then(|r| r);
        result.map_err(|e| format!("{e}\nlast operator log lines:\n{}", self.log_tail(30)))
    }

    /// SIGKILL: no graceful shutdown, as when a node dies.
    pub fn kill9(&mut self) {
        if let Some(c) = self.child.as_mut() {
            c.kill();
        }
    }

    /// SIGTERM and wait up to 10 s; returns whether it shut down by itself.
    pub fn stop(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.terminate(Duration::from_secs(10)))
    }

    /// Stops it if running (SIGTERM), then starts it again with the same flags and waits
    /// for `/livez`. The log file keeps both runs.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, b"---- e2e harness: operator restarted ----\n")
            });
        self.spawn().await
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.exited().is_none())
    }

    /// `GET /metrics` text.
    pub async fn metrics(&self) -> Result<String, String> {
        self.get_text("/metrics").await
    }

    /// `GET /readyz` status code.
    pub async fn readyz(&self) -> Result<u16, String> {
        let url = format!("http://{}/readyz", self.metrics_addr);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        Ok(r.status().as_u16())
    }

    /// Address of /metrics, /livez and /readyz.
    pub fn metrics_addr(&self) -> &str {
        &self.metrics_addr
    }

    /// Everything the operator logged (all runs).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` log lines.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    async fn get_text(&self, path: &str) -> Result<String, String> {
        let url = format!("http://{}{path}", self.metrics_addr);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| format!("GET {url}: {e}"))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("GET {url}: {status}: {text}"))
        }
    }
}

/// kubectl's stderr without the version-skew warning.
pub fn stderr_of(out: &Output) -> String {
    without_skew_warning(&String::from_utf8_lossy(&out.stderr))
}

/// The `Ready` condition of an SsoConnection, if any.
pub fn ready_condition(obj: &Value) -> Option<&Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// The `Ready` condition's message, empty when there is none.
pub fn ready_message(obj: &Value) -> String {
    ready_condition(obj)
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// A typed admin answer as the JSON the scenarios read.
fn as_json<T: serde::Serialize>(
    answer: Result<T, sso_operator::emulator::admin::AdminError>,
) -> Result<Value, String> {
    let answer = answer.map_err(|e| e.to_string())?;
    serde_json::to_value(answer).map_err(|e| e.to_string())
}
