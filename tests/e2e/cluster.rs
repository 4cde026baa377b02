//! A real kube-apiserver (1.37, built by `scripts/install-testenv.sh`) + etcd on loopback (see
//! docs/TESTENV.md), with the CRDs installed server-side as users install them and the
//! operator's RBAC from `deploy/`, and a kubeconfig for the operator's ServiceAccount so the
//! operator runs under exactly the RBAC users apply.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio::io::AsyncWriteExt;

use crate::process::{Supervised, free_ports, spawn_supervised};

/// The release `scripts/install-testenv.sh` builds by default (`SSO_KUBE_VERSION` there).
const APISERVER_VERSION: &str = "1.37.2";

/// Runs `kubectl` with one kubeconfig.
#[derive(Clone, Debug)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache_dir: PathBuf,
}

impl Kubectl {
    /// Runs `kubectl ARGS`, feeding `stdin` if given.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, String> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .await
                .map_err(|e| format!("cannot write kubectl's stdin: {e}"))?;
            drop(pipe);
        }
        child
            .wait_with_output()
            .await
            .map_err(|e| format!("kubectl {}: {e}", args.join(" ")))
    }

    /// Runs `kubectl ARGS` and returns stdout, or an error with stderr when it fails.
    pub async fn ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.run(args, None).await?;
        checked(args, out)
    }

    /// Path of the kubeconfig this runner uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
}

/// Stdout of a successful kubectl run, else a message with its stderr.
pub fn checked(args: &[&str], out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`kubectl {}` failed ({}): {}",
            args.join(" "),
            out.status,
            without_skew_warning(&String::from_utf8_lossy(&out.stderr)).trim()
        ))
    }
}

/// kubectl warns about every request to a server more than one minor apart (e.g. a 1.37
/// kubectl against the oldest supported server); that noise hides real errors.
pub fn without_skew_warning(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.contains("version difference between client"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The running test cluster. Dropping it stops etcd and the API server and deletes the data.
pub struct Cluster {
    /// Admin (`system:masters`) kubectl.
    pub admin: Kubectl,
    /// kubectl as `system:serviceaccount:sso-operator:sso-operator`.
    pub operator: Kubectl,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// `--version` of the running API server, e.g. `Kubernetes v1.37.2`.
    pub version: String,
    // Field order matters: processes stop before the directory holding their data goes.
    // Behind mutexes so that a scenario, which only gets `&Env`, can restart the API server.
    apiserver: Mutex<Supervised>,
    apiserver_args: ApiServerArgs,
    etcd: Mutex<Supervised>,
    dir: tempfile::TempDir,
}

static KUBECONFIGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What it takes to start the API server again with the same port, certificates and etcd.
struct ApiServerArgs {
    bin: PathBuf,
    args: Vec<String>,
    log: PathBuf,
}

impl ApiServerArgs {
    fn spawn(&self) -> Result<Supervised, String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args);
        spawn_supervised("kube-apiserver", cmd, &self.log)
    }
}

impl Cluster {
    /// Starts etcd and kube-apiserver and installs the CRD and the operator's RBAC.
    pub async fn start(repo: &Path) -> Result<Cluster, String> {
        let apiserver_bin = find_apiserver()?;
        // etcd and kubectl are built and cached beside the API server by install-testenv.sh.
        let etcd_bin = tool_beside(&apiserver_bin, "SSO_ETCD", "etcd");
        let kubectl_bin = tool_beside(&apiserver_bin, "SSO_KUBECTL", &kubectl_name(&apiserver_bin));
        for (bin, what) in [(&etcd_bin, "etcd"), (&kubectl_bin, "kubectl")] {
            if Command::new(bin)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
            {
                return Err(format!(
                    "{what} ({}) is not installed: run scripts/install-testenv.sh",
                    bin.display()
                ));
            }
        }

        let dir = tempfile::Builder::new()
            .prefix("sso-e2e-cluster-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let d = dir.path().to_path_buf();
        let ports = free_ports(3)?;
        let (etcd_port, peer_port, api_port) = (ports[0], ports[1], ports[2]);

        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd_cmd = Command::new(&etcd_bin);
        etcd_cmd
            .arg("--name=e2e")
            .arg(format!("--data-dir={}", d.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=e2e={peer_url}"))
            .arg("--logger=zap")
            .arg("--log-level=warn");
        let etcd = Mutex::new(spawn_supervised("etcd", etcd_cmd, &d.join("etcd.log"))?);

        let sa_key = d.join("sa.key");
        let sa_pub = d.join("sa.pub");
        run_quiet(
            Command::new("openssl")
                .args(["genrsa", "-out"])
                .arg(&sa_key)
                .arg("2048"),
        )?;
        run_quiet(
            Command::new("openssl")
                .args(["rsa", "-in"])
                .arg(&sa_key)
                .args(["-pubout", "-out"])
                .arg(&sa_pub),
        )?;
        let admin_token = random_hex(16);
        write(
            &d.join("tokens.csv"),
            &format!("{admin_token},admin,admin,system:masters\n"),
        )?;

        let server = format!("https://127.0.0.1:{api_port}");
        let apiserver_args = ApiServerArgs {
            bin: apiserver_bin.clone(),
            args: vec![
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                // No kubernetes Service endpoints for a loopback address (refused since 1.3x).
                "--endpoint-reconciler-type=none".into(),
                format!("--secure-port={api_port}"),
                format!("--cert-dir={}", d.join("certs").display()),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--service-account-issuer=https://kubernetes.default.svc".into(),
                format!("--service-account-key-file={}", sa_pub.display()),
                format!("--service-account-signing-key-file={}", sa_key.display()),
                format!("--token-auth-file={}", d.join("tokens.csv").display()),
                "--authorization-mode=RBAC".into(),
                "--disable-admission-plugins=ServiceAccount".into(),
                "--profiling=false".into(),
            ],
            log: d.join("kube-apiserver.log"),
        };
        let apiserver = Mutex::new(apiserver_args.spawn()?);

        let cache_dir = d.join("kubectl-cache");
        let admin_cfg = d.join("admin.kubeconfig");
        write(&admin_cfg, &kubeconfig(&server, "admin", &admin_token))?;
        let admin = Kubectl {
            bin: kubectl_bin.clone(),
            kubeconfig: admin_cfg,
            cache_dir: cache_dir.clone(),
        };

        wait_ready(&admin, &[&etcd, &apiserver]).await?;
        let version = run_quiet_output(Command::new(&apiserver_bin).arg("--version"))?
            .trim()
            .to_string();

        // Exactly as the README tells users: server-side apply, with the server's field
        // validation (strict by default) and the CRDs' CEL rules compiled by the server.
        let crds = repo.join("crds");
        admin
            .ok(&["apply", "--server-side", "-f", &crds.to_string_lossy()])
            .await?;
        admin
            .ok(&[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd",
                "--all",
            ])
            .await?;

        // Exactly the files users apply.
        let deploy = repo.join("deploy");
        for file in ["namespace.yaml", "serviceaccount.yaml", "rbac.yaml"] {
            let path = deploy.join(file);
            admin.ok(&["apply", "-f", &path.to_string_lossy()]).await?;
        }
        let sa_token = admin
            .ok(&[
                "create",
                "token",
                "sso-operator",
                "--namespace=sso-operator",
                "--duration=12h",
            ])
            .await?;
        let operator_cfg = d.join("operator.kubeconfig");
        write(
            &operator_cfg,
            &kubeconfig(
                &server,
                "system:serviceaccount:sso-operator:sso-operator",
                sa_token.trim(),
            ),
        )?;
        let operator = Kubectl {
            bin: kubectl_bin,
            kubeconfig: operator_cfg,
            cache_dir,
        };

        Ok(Cluster {
            admin,
            operator,
            server,
            version,
            apiserver,
            apiserver_args,
            etcd,
            dir,
        })
    }

    /// Writes a kubeconfig authenticating with `token` as `user`; returns its path.
    pub fn kubeconfig_for(&self, user: &str, token: &str) -> Result<PathBuf, String> {
        let n = KUBECONFIGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.path().join(format!("extra-{n}.kubeconfig"));
        write(&path, &kubeconfig(&self.server, user, token))?;
        Ok(path)
    }

    /// Directory holding the cluster's data, kubeconfigs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Last lines of the API server's log, for diagnosing failures.
    pub fn apiserver_log_tail(&self, n: usize) -> String {
        locked(&self.apiserver).log_tail(n)
    }

    /// Stops the API server (SIGTERM), keeps it down for `down`, and starts it again with the
    /// same port, certificates and etcd — what a managed control-plane upgrade does. Returns
    /// once `/readyz` answers `ok` again.
    pub async fn restart_apiserver(&self, down: Duration) -> Result<(), String> {
        locked(&self.apiserver).terminate(Duration::from_secs(10));
        tokio::time::sleep(down).await;
        let restarted = self.apiserver_args.spawn()?;
        *locked(&self.apiserver) = restarted;
        wait_ready(&self.admin, &[&self.etcd, &self.apiserver]).await
    }

    /// Stops the API server, then etcd (also done on drop).
    pub fn stop(&mut self) {
        for p in [&mut self.apiserver, &mut self.etcd] {
            p.get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .terminate(Duration::from_secs(5));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The process behind `m`, even if a panic poisoned the mutex.
fn locked(m: &Mutex<Supervised>) -> std::sync::MutexGuard<'_, Supervised> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `/readyz` for up to 90 s, failing early when one of `procs` exits.
async fn wait_ready(admin: &Kubectl, procs: &[&Mutex<Supervised>]) -> Result<(), String> {
    let started = Instant::now();
    loop {
        for p in procs {
            let mut p = locked(p);
            if let Some(status) = p.exited() {
                return Err(format!(
                    "{} exited during start-up ({status}); last log lines:\n{}",
                    p.log_path().display(),
                    p.log_tail(30)
                ));
            }
        }
        match admin.ok(&["get", "--raw", "/readyz"]).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(_) | Err(_) if started.elapsed() < Duration::from_secs(90) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(body) => return Err(format!("kube-apiserver not ready after 90 s: {body}")),
            Err(e) => {
                let tail = procs
                    .last()
                    .map(|p| locked(p).log_tail(30))
                    .unwrap_or_default();
                return Err(format!(
                    "kube-apiserver not ready after 90 s: {e}\nlast log lines:\n{tail}"
                ));
            }
        }
    }
}

/// `kubectl-vX` for `kube-apiserver-vX` (the client of the server's own release), else
/// `kubectl`.
fn kubectl_name(apiserver: &Path) -> String {
    apiserver
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("kube-apiserver-"))
        .map_or_else(|| "kubectl".to_string(), |v| format!("kubectl-{v}"))
}

/// `$ENV_VAR`, else `NAME` in the directory of the API server binary (where
/// install-testenv.sh caches it), else `NAME` on `PATH`.
pub fn tool_beside(apiserver: &Path, env_var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    let beside = apiserver.with_file_name(name);
    if beside.is_file() {
        beside
    } else {
        PathBuf::from(name)
    }
}

/// The kube-apiserver binary: `SSO_KUBE_APISERVER`, else the cached build.
pub fn find_apiserver() -> Result<PathBuf, String> {
    let path = match std::env::var_os("SSO_KUBE_APISERVER") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("SSO_TESTENV_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME")
                        .map(|c| PathBuf::from(c).join("sso-operator"))
                })
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sso-operator"))
                })
                .ok_or("neither SSO_KUBE_APISERVER nor HOME is set")?;
            cache.join(format!("bin/kube-apiserver-v{APISERVER_VERSION}"))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "kube-apiserver {APISERVER_VERSION} not found at {}.\n\
             The end-to-end tests need a real API server. Build and cache it once (about 10 minutes):\n\
             \n    scripts/install-testenv.sh\n\n\
             or point SSO_KUBE_APISERVER at an existing kube-apiserver binary.",
            path.display()
        ))
    }
}

fn kubeconfig(server: &str, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: {server}
    insecure-skip-tls-verify: true
users:
- name: {user:?}
  user:
    token: {token:?}
contexts:
- name: e2e
  context:
    cluster: e2e
    user: {user:?}
current-context: e2e
"
    )
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run_quiet(cmd: &mut Command) -> Result<(), String> {
    run_quiet_output(cmd).map(drop)
}

fn run_quiet_output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
