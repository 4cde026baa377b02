//! Benchmarks of the figures docs/ARCHITECTURE.md §7 promises, each run side by side in one process
//! run: Auth0 calls per reconcile, convergence of N SsoConnections under a rate limit (real
//! kube-apiserver + etcd, the release `sso-operator run`, the `auth0-emulator` binary), peak
//! RSS of the operator, and metadata parse throughput next to python3-saml.
//!
//! Run it with `scripts/bench.sh` (installs what it needs, builds in release). It prints a
//! table, then one JSON object as the last line. Numbers are printed, never asserted.
//!
//! Flags (after `cargo bench --bench bench --`): `--python PATH` (python with python3-saml;
//! default `$SSO_BENCH_PYTHON`, else the reference parser is skipped), `--n-small N` (100),
//! `--n-large N` (1000), `--no-cluster` (only the in-process parts), `--no-resync` (skip the
//! restart that resyncs all N-large connections), `--parse-seconds S` (2).

// The e2e toolkit is shared with the end-to-end tests; not every helper is used here.
#![allow(dead_code)]

#[path = "../tests/e2e/cluster.rs"]
mod cluster;
#[path = "../tests/e2e/env.rs"]
mod env;
#[path = "../tests/e2e/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use env::{EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, EMULATOR_DOMAIN, Emulator, Env};
use process::{Supervised, free_ports, spawn_supervised};
use sso_operator::auth0::{Auth0Client, Auth0Config};
use sso_operator::crd::SsoConnection;
use sso_operator::emulator::admin::AdminClient;
use sso_operator::emulator::{self, EmulatorConfig};
use sso_operator::metadata::parse_idp_metadata;
use sso_operator::offline::{Manifests, load_manifests};
use sso_operator::reconcile::{self, SyncOptions, Tenant};
use sso_operator::secret::SecretString;

/// Resync interval the operator runs with by default (`--resync-seconds`).
const RESYNC_SECONDS: f64 = 3600.0;
/// The client refreshes a 24 h token 5 minutes before it expires (auth0/token.rs).
const TOKEN_LIFETIME_USED_SECONDS: f64 = 86_400.0 - 300.0;
/// Objects per `kubectl apply` invocation.
const APPLY_CHUNK: usize = 200;

struct Args {
    python: Option<PathBuf>,
    n_small: usize,
    n_large: usize,
    cluster: bool,
    resync: bool,
    parse_seconds: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        python: std::env::var_os("SSO_BENCH_PYTHON").map(PathBuf::from),
        n_small: 100,
        n_large: 1000,
        cluster: true,
        resync: true,
        parse_seconds: 2.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--python" => args.python = Some(PathBuf::from(value("--python")?)),
            "--n-small" => args.n_small = parse_num(&value("--n-small")?)?,
            "--n-large" => args.n_large = parse_num(&value("--n-large")?)?,
            "--parse-seconds" => args.parse_seconds = parse_num(&value("--parse-seconds")?)?,
            "--no-cluster" => args.cluster = false,
            "--no-resync" => args.resync = false,
            // What cargo passes to every bench target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixtures_dir = repo.join("tests/fixtures/idp-metadata");
    let fixtures = ok_fixtures(&fixtures_dir)?;
    let mut out = json!({});

    eprintln!("== Auth0 calls per reconcile (in-process emulator)");
    let calls = calls_per_reconcile(&fixtures).await?;

    eprintln!("== metadata parse throughput");
    let parse = parse_throughput(&fixtures, args).await?;

    let mut runs = Vec::new();
    let mut resync = None;
    let mut passes: Option<Passes> = None;
    let mut new_ready: Option<f64> = None;
    if args.cluster {
        let operator_bin = PathBuf::from(env!("CARGO_BIN_EXE_sso-operator"));
        let emulator_bin =
            operator_bin.with_file_name(format!("auth0-emulator{}", std::env::consts::EXE_SUFFIX));
        eprintln!("== starting kube-apiserver + etcd");
        let env = Env::start(repo.clone(), operator_bin, emulator_bin).await?;
        let key_file = env.work_dir().join("bench-encryption.key");
        std::fs::write(&key_file, env.encryption_key())
            .map_err(|e| format!("cannot write the key file: {e}"))?;
        for (n, rate) in [(args.n_small, 2u32), (args.n_large, 16u32)] {
            eprintln!("== convergence: N = {n} at {rate} req/s");
            let (result, emulator, operator) =
                converge(&env, &key_file, &fixtures, n, rate).await?;
            let is_large = n == args.n_large && rate == 16;
            if is_large && args.resync {
                eprintln!("== resync of all {n} after an operator restart");
                let mut operator = operator;
                resync =
                    Some(resync_all(&env, &key_file, &emulator, &mut operator, n, rate).await?);
                eprintln!("== restart at 2 req/s with {n} unchanged, then periodic drift passes");
                passes = Some(restart_and_passes(&emulator, &mut operator, n).await?);
            }
            runs.push(result);
        }
        eprintln!("== a new SsoConnection while 200 metadata changes wait at 2 req/s");
        new_ready = Some(new_ready_under_load(&env, &key_file, &fixtures, 200).await?);
    }

    print_report(&calls, &parse, &runs, resync.as_ref());
    if let Some(p) = &passes {
        println!(
            "Restart with N = {} unchanged at 2 req/s: {} calls (token and listing pages), all confirmed after {:.1}s; periodic drift pass: {:.1} calls; per hour at the 3600 s resync: {:.2} (token included)",
            args.n_large,
            p.restart_calls,
            p.restart_seconds,
            p.calls_per_pass,
            p.per_hour()
        );
    }
    if let Some(seconds) = new_ready {
        println!(
            "A new SsoConnection while 200 metadata changes wait at 2 req/s (400 calls of background work): Ready after {seconds:.1}s"
        );
    }

    // The JSON line.
    out["calls_per_create"] = json!(calls.create);
    out["calls_per_update"] = json!(calls.update);
    out["calls_per_unchanged"] = json!(calls.unchanged);
    out["token_calls_per_reconcile_run"] = json!(calls.token_calls);
    out["calls_per_hour_per_connection_n1000"] = json!(calls.per_hour(1000));
    out["calls_per_create_with_enabled_clients"] = json!(calls.create_with_clients);
    out["calls_per_resync_with_enabled_clients"] = json!(calls.resync_with_clients);
    let find = |rate: u32| runs.iter().find(|r| r.rate == rate);
    out["converge_ratio_2rps_n100"] = json!(find(2).map(|r| round3(r.ratio())));
    out["converge_ratio_16rps_n1000"] = json!(find(16).map(|r| round3(r.ratio())));
    out["converge_seconds_2rps_n100"] = json!(find(2).map(|r| round3(r.seconds)));
    out["converge_seconds_16rps_n1000"] = json!(find(16).map(|r| round3(r.seconds)));
    out["converge_min_seconds_2rps_n100"] = json!(find(2).map(|r| round3(r.min_seconds())));
    out["converge_min_seconds_16rps_n1000"] = json!(find(16).map(|r| round3(r.min_seconds())));
    let failed: Option<u64> = (!runs.is_empty()).then(|| {
        runs.iter().map(|r| r.auth0_unavailable).sum::<u64>()
            + resync.as_ref().map_or(0, |r| r.auth0_unavailable)
    });
    let emulator_429: Option<u64> = (!runs.is_empty()).then(|| {
        runs.iter().map(|r| r.rate_limited).sum::<u64>()
            + resync.as_ref().map_or(0, |r| r.rate_limited)
    });
    out["failed_reconciles_429"] = json!(failed);
    out["emulator_429_responses"] = json!(emulator_429);
    let peak = find(16).map(|r| {
        let mut kib = r.vm_hwm_kib;
        if let Some(s) = &resync {
            kib = kib.max(s.vm_hwm_kib);
        }
        round3(kib as f64 / 1024.0)
    });
    out["peak_rss_mib_n1000"] = json!(peak);
    out["resync_ratio_16rps_n1000"] = json!(resync.as_ref().map(|r| round3(r.ratio())));
    out["calls_per_unchanged_at_scale"] =
        json!(resync.as_ref().map(|r| round3(r.gets_per_connection())));
    out["restart_resync_calls_n1000"] = json!(passes.as_ref().map(|p| p.restart_calls));
    out["restart_resync_seconds_n1000_2rps"] =
        json!(passes.as_ref().map(|p| round3(p.restart_seconds)));
    out["drift_calls_per_pass_n1000"] = json!(passes.as_ref().map(|p| round3(p.calls_per_pass)));
    out["drift_calls_per_hour_n1000"] = json!(passes.as_ref().map(|p| round3(p.per_hour())));
    out["new_ready_seconds_under_load_2rps"] = json!(new_ready.map(round3));
    out["parse_mib_per_s"] = json!(round3(parse.ours_mib_s));
    out["parse_reference_mib_per_s"] = json!(parse.reference_mib_s.map(round3));
    out["parse_speedup_vs_reference"] = json!(parse.speedup().map(round3));
    out["parse_with_cert_details_mib_per_s"] = json!(round3(parse.with_details_mib_s));
    out["parse_with_cert_details_speedup_vs_reference"] =
        json!(parse.ratio(parse.with_details_mib_s).map(round3));
    println!("{out}");
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One fixture the parser accepts without an entity id.
struct Fixture {
    name: String,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// The fixtures `expected.json` marks `ok` (without `select_entity_id`), in its order.
fn ok_fixtures(dir: &Path) -> Result<Vec<Fixture>, String> {
    let expected_path = dir.join("expected.json");
    let text = std::fs::read_to_string(&expected_path)
        .map_err(|e| format!("cannot read {}: {e}", expected_path.display()))?;
    let expected: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", expected_path.display()))?;
    let mut out = Vec::new();
    for entry in expected.as_array().ok_or("expected.json is not an array")? {
        if entry["ok"] != true || !entry["select_entity_id"].is_null() {
            continue;
        }
        let name = entry["file"].as_str().ok_or("entry without file")?;
        let path = dir.join(name);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        out.push(Fixture {
            name: name.to_string(),
            path,
            bytes,
        });
    }
    if out.is_empty() {
        return Err("no ok fixture in expected.json".into());
    }
    Ok(out)
}

// ---- Auth0 calls per reconcile ---------------------------------------------------------------

/// Management API calls (token excluded) per reconcile kind, averaged over the fixtures.
struct CallCounts {
    create: f64,
    update: f64,
    /// Per-connection calls of an unchanged drift check plus its share of the listing.
    unchanged: f64,
    /// Per-connection calls alone (the listing excluded).
    unchanged_own: f64,
    create_with_clients: f64,
    resync_with_clients: f64,
    /// Token requests over the whole in-process run (one client, many reconciles).
    token_calls: u64,
    reconciles: usize,
    /// Writes (non-GET) seen in unchanged reconciles: must be zero.
    unchanged_writes: u64,
}

impl CallCounts {
    /// Steady state: one drift check per resync interval (its own calls plus its share of a
    /// listing of `n` connections in pages of 100), plus one token per token lifetime, shared
    /// by all `n` connections of the operator.
    fn per_hour(&self, n: usize) -> f64 {
        let pages = (n as f64 / 100.0).ceil().max(1.0);
        round3(
            (self.unchanged_own + pages / n as f64) * (3600.0 / RESYNC_SECONDS)
                + (3600.0 / TOKEN_LIFETIME_USED_SECONDS) / n as f64,
        )
    }
}

/// Calls in the emulator's log after `since`: (Management API calls, token calls, writes,
/// last seq).
async fn calls_since(admin: &AdminClient, since: u64) -> Result<(u64, u64, u64, u64), String> {
    let calls = admin.calls_since(since).await.map_err(|e| e.to_string())?;
    let (mut api, mut token, mut writes, mut last) = (0, 0, 0, since);
    for c in &calls {
        last = last.max(c.seq);
        if c.path == "/oauth/token" {
            token += 1;
        } else if c.path.starts_with("/api/v2") {
            api += 1;
            if c.method != "GET" {
                writes += 1;
            }
        }
    }
    Ok((api, token, writes, last))
}

fn sso_yaml(name: &str, cm: &str, extra: &str) -> String {
    format!(
        "apiVersion: sso-operator.io/v1alpha1
kind: SsoConnection
metadata: {{name: {name}}}
spec:
  companyDomain: {name}.example.com
  connectionName: {name}
  provider: generic
  metadata: {{configMapRef: {{name: {cm}, key: federationmetadata.xml}}}}
{extra}"
    )
}

fn config_map_yaml(name: &str, xml: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(xml).map_err(|e| format!("fixture is not UTF-8: {e}"))?;
    serde_yaml::to_string(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"federationmetadata.xml": text.trim_start_matches('\u{feff}')},
    }))
    .map_err(|e| format!("cannot render a ConfigMap: {e}"))
}

async fn calls_per_reconcile(fixtures: &[Fixture]) -> Result<CallCounts, String> {
    let emu = emulator::start(EmulatorConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot start the emulator: {e}"))?;
    let base = emu.base_url();
    let url = url::Url::parse(&base).map_err(|e| format!("emulator URL {base}: {e}"))?;
    let mut config = Auth0Config::new(
        url,
        emulator::DEFAULT_CLIENT_ID,
        SecretString::new(emulator::DEFAULT_CLIENT_SECRET),
    );
    // Counting calls, not measuring time: no client-side pacing.
    config.rate_per_second = 10_000.0;
    config.burst = 10_000;
    let client = Auth0Client::new(config).map_err(|e| e.to_string())?;
    let tenant = Tenant::new(EMULATOR_DOMAIN, None, None);
    let admin = AdminClient::new(base.as_str());

    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let mut yaml = String::new();
    for (i, f) in fixtures.iter().enumerate() {
        yaml.push_str(&config_map_yaml(&format!("cm-{i}"), &f.bytes)?);
        yaml.push_str("---\n");
        yaml.push_str(&sso_yaml(&format!("calls-{i}"), &format!("cm-{i}"), ""));
        yaml.push_str("---\n");
        yaml.push_str(&sso_yaml(
            &format!("clients-{i}"),
            &format!("cm-{i}"),
            "  enabledClients: [app-one, app-two]\n",
        ));
        yaml.push_str("---\n");
    }
    let file = dir.path().join("bench.yaml");
    std::fs::write(&file, yaml).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let manifests = load_manifests(&[file], "bench").map_err(|e| e.to_string())?;

    let mut seq = 0;
    let (mut create, mut update, mut unchanged) = (Vec::new(), Vec::new(), Vec::new());
    let (mut create_clients, mut resync_clients) = (Vec::new(), Vec::new());
    let (mut token_calls, mut unchanged_writes, mut reconciles) = (0, 0, 0);
    let mut listing_share = Vec::new();
    use reconcile::Action as A;
    // Every resource is created first, so that the drift listings of the later steps list
    // them all (a listing's calls are shared by the connections it lists).
    let mut resources: Vec<SsoConnection> = manifests.connections.clone();
    for phase in 0..2 {
        for res in resources.iter_mut() {
            let with_clients = !res.spec.enabled_clients.is_empty();
            // create; then resync (unchanged), and without enabledClients: update, unchanged.
            let mut steps = if phase == 0 {
                vec![(A::Created, false)]
            } else {
                vec![(A::Unchanged, with_clients)]
            };
            if phase == 1 && !with_clients {
                steps.extend([(A::Updated, false), (A::Unchanged, false)]);
            }
            for (want, recheck) in steps {
                if want == A::Updated {
                    res.spec.sign_request = !res.spec.sign_request;
                    res.metadata.generation = Some(res.metadata.generation.unwrap_or(1) + 1);
                }
                // An unchanged resource is checked against the tenant's listing (a drift pass):
                // the listing's calls are shared by every connection it lists.
                let listed = if want == A::Unchanged && !with_clients {
                    let conns = client
                        .list_connections_of_strategy("samlp")
                        .await
                        .map_err(|e| e.to_string())?;
                    let listed = sso_operator::drift::Listing::new(jiff::Timestamp::now(), conns);
                    let (api, _, _, last) = calls_since(&admin, seq).await?;
                    seq = last;
                    listing_share.push(api as f64 / listed.len().max(1) as f64);
                    Some(std::sync::Arc::new(listed))
                } else {
                    None
                };
                let synced = sync(&client, res, &manifests, recheck, listed).await?;
                if synced.action != want {
                    return Err(format!(
                        "{}: expected {} but the reconcile did {}",
                        res.owner_key(),
                        want.as_str(),
                        synced.action.as_str()
                    ));
                }
                res.status = Some(reconcile::synced_status(
                    res,
                    &synced,
                    &tenant,
                    jiff::Timestamp::now(),
                ));
                let (api, token, writes, last) = calls_since(&admin, seq).await?;
                seq = last;
                token_calls += token;
                reconciles += 1;
                let api = api as f64;
                match (want, with_clients) {
                    (A::Created, true) => create_clients.push(api),
                    (A::Created, false) => create.push(api),
                    (A::Updated, _) => update.push(api),
                    (_, true) => resync_clients.push(api),
                    (_, false) => unchanged.push(api),
                }
                if want == A::Unchanged {
                    unchanged_writes += writes;
                }
            }
        }
    }
    emu.shutdown().await;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(CallCounts {
        create: round3(mean(&create)),
        update: round3(mean(&update)),
        unchanged: round3(mean(&unchanged) + mean(&listing_share)),
        unchanged_own: round3(mean(&unchanged)),
        create_with_clients: round3(mean(&create_clients)),
        resync_with_clients: round3(mean(&resync_clients)),
        token_calls,
        reconciles,
        unchanged_writes,
    })
}

async fn sync(
    client: &Auth0Client,
    res: &SsoConnection,
    sources: &Manifests,
    recheck_clients: bool,
    listed: Option<std::sync::Arc<sso_operator::drift::Listing>>,
) -> Result<reconcile::Synced, String> {
    reconcile::sync_connection(
        client,
        res,
        &reconcile::Claimant::new(
            res,
            "test-cluster",
            sso_operator::ownership::Adoption::Unowned,
        ),
        sources,
        SyncOptions {
            dry_run: false,
            recheck_clients,
            listed,
        },
        jiff::Timestamp::now(),
    )
    .await
    .map_err(|e| format!("{}: {e}", res.owner_key()))
}

// ---- parse throughput ------------------------------------------------------------------------

struct ParseResult {
    files: usize,
    round_bytes: usize,
    ours_mib_s: f64,
    ours_rounds: u64,
    /// Parse, then the selected certificate's details (subject, fingerprints).
    with_details_mib_s: f64,
    reference_mib_s: Option<f64>,
    reference_rounds: Option<u64>,
    reference_note: String,
}

impl ParseResult {
    fn speedup(&self) -> Option<f64> {
        self.ratio(self.ours_mib_s)
    }

    fn ratio(&self, ours: f64) -> Option<f64> {
        self.reference_mib_s.filter(|r| *r > 0.0).map(|r| ours / r)
    }
}

/// Whole rounds of `work` over every fixture until `seconds` have passed: (MiB/s, rounds).
fn timed_rounds(fixtures: &[Fixture], seconds: f64, work: impl Fn(&[u8])) -> (f64, u64) {
    let round_bytes: usize = fixtures.iter().map(|f| f.bytes.len()).sum();
    let started = Instant::now();
    let mut rounds = 0u64;
    let elapsed = loop {
        for f in fixtures {
            work(std::hint::black_box(&f.bytes));
        }
        rounds += 1;
        let e = started.elapsed().as_secs_f64();
        if e >= seconds {
            break e;
        }
    };
    let mib_s = (rounds as f64 * round_bytes as f64) / elapsed / (1024.0 * 1024.0);
    (mib_s, rounds)
}

async fn parse_throughput(fixtures: &[Fixture], args: &Args) -> Result<ParseResult, String> {
    let now = jiff::Timestamp::now();
    let round_bytes: usize = fixtures.iter().map(|f| f.bytes.len()).sum();
    // Same scheme as scripts/bench/saml_parse_reference.py: one warm-up round, then whole
    // rounds until the time is up.
    for f in fixtures {
        parse_idp_metadata(&f.bytes, None, now)
            .map_err(|e| format!("{} does not parse: {e}", f.name))?;
    }
    let (ours, rounds) = timed_rounds(fixtures, args.parse_seconds, |bytes| {
        std::hint::black_box(&parse_idp_metadata(bytes, None, now));
    });
    // The same, plus what a reconcile then reads: the selected certificate's subject and
    // fingerprints, which the parser leaves to first use.
    let (with_details, _) = timed_rounds(fixtures, args.parse_seconds, |bytes| {
        if let Ok(parsed) = parse_idp_metadata(bytes, None, now) {
            std::hint::black_box(parsed.selected_cert().info());
        }
    });

    let (reference_mib_s, reference_rounds, reference_note) = match &args.python {
        None => (
            None,
            None,
            "skipped: no --python / SSO_BENCH_PYTHON".to_string(),
        ),
        Some(python) => {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("scripts/bench/saml_parse_reference.py");
            let out = Command::new(python)
                .arg(&script)
                .arg(args.parse_seconds.to_string())
                .args(fixtures.iter().map(|f| &f.path))
                .output()
                .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let v: Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| format!("{} printed no JSON: {e}", script.display()))?;
            let failed = v["failed"].as_array().map_or(0, Vec::len);
            (
                v["mib_per_s"].as_f64(),
                v["rounds"].as_u64(),
                format!(
                    "{}; {failed} of {} files not understood",
                    v["parser"].as_str().unwrap_or("reference"),
                    fixtures.len()
                ),
            )
        }
    };
    Ok(ParseResult {
        files: fixtures.len(),
        round_bytes,
        ours_mib_s: ours,
        ours_rounds: rounds,
        with_details_mib_s: with_details,
        reference_mib_s,
        reference_rounds,
        reference_note,
    })
}

// ---- convergence and RSS ---------------------------------------------------------------------

/// One convergence run.
struct Converged {
    n: usize,
    rate: u32,
    burst: u32,
    /// From the start of the SsoConnection apply until every one is Ready=True.
    seconds: f64,
    /// How long `kubectl apply` of the SsoConnections itself took.
    apply_seconds: f64,
    /// What creating N connections needs: successful token requests, name lookups and POSTs.
    calls_needed: u64,
    /// All calls the emulator received, 429s and any extra reads included.
    calls_total: u64,
    posts: u64,
    /// `GET /connections/{id}`: none are needed to create connections.
    extra_gets: u64,
    rate_limited: u64,
    auth0_unavailable: u64,
    errors: BTreeMap<String, u64>,
    vm_hwm_kib: u64,
    vm_rss_kib: u64,
    /// `/readyz` status once everything converged.
    readyz: u16,
}

impl Converged {
    /// (calls needed − initial burst) ÷ rate.
    fn min_seconds(&self) -> f64 {
        self.calls_needed.saturating_sub(u64::from(self.burst)) as f64 / f64::from(self.rate)
    }

    fn ratio(&self) -> f64 {
        self.seconds / self.min_seconds().max(f64::MIN_POSITIVE)
    }
}

/// `sso-operator run` started by the bench (the harness's `start_operator` pins its own rate
/// budget), with its pid for `/proc`.
struct RunningOperator {
    child: Supervised,
    metrics_addr: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log: PathBuf,
}

impl RunningOperator {
    async fn start(
        env: &Env,
        emulator: &Emulator,
        key_file: &Path,
        ns: &str,
        rate: u32,
        log_name: &str,
    ) -> Result<RunningOperator, String> {
        let port = free_ports(1)?[0];
        let metrics_addr = format!("127.0.0.1:{port}");
        let rate = rate.to_string();
        let args: Vec<String> = [
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
            &rate,
            "--auth0-rate-burst",
            &rate,
            "--metrics-addr",
            &metrics_addr,
            "--watch-namespace",
            ns,
            "--log-format",
            "json",
            "--encryption-key-file",
            &key_file.to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut envs: Vec<(String, String)> = ["PATH", "HOME", "TMPDIR"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        envs.push((
            "KUBECONFIG".into(),
            env.cluster
                .operator
                .kubeconfig()
                .to_string_lossy()
                .into_owned(),
        ));
        envs.push(("POD_NAME".into(), "sso-operator-bench".into()));
        let log = env.work_dir().join(format!("{log_name}.log"));
        let child = Self::spawn(&args, &envs, &log)?;
        let op = RunningOperator {
            child,
            metrics_addr,
            args,
            envs,
            log,
        };
        op.wait_ready().await?;
        Ok(op)
    }

    fn spawn(args: &[String], envs: &[(String, String)], log: &Path) -> Result<Supervised, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sso-operator"));
        cmd.args(args)
            .env_clear()
            .envs(envs.iter().map(|(k, v)| (k, v)));
        spawn_supervised("sso-operator", cmd, log)
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let http = reqwest::Client::new();
        // /livez, as the e2e harness does: /readyz waits for the first list of SsoConnections.
        let url = format!("http://{}/livez", self.metrics_addr);
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "sso-operator not live after 60 s:\n{}",
                    self.child.log_tail(20)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets `flag` to `value` for the next (re)start.
    fn set_flag(&mut self, flag: &str, value: &str) {
        match self.args.iter().position(|a| a == flag) {
            Some(i) if i + 1 < self.args.len() => self.args[i + 1] = value.to_string(),
            _ => self.args.extend([flag.to_string(), value.to_string()]),
        }
    }

    /// The operator's `/metrics` exposition.
    async fn metrics_text(&self) -> Result<String, String> {
        let url = format!("http://{}/metrics", self.metrics_addr);
        let text = reqwest::get(&url)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .text()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        Ok(text)
    }

    /// `sso_operator_reconciles_total{outcome}` since this process started.
    async fn reconciled(&self, outcome: &str) -> Result<u64, String> {
        let text = self.metrics_text().await?;
        let prefix = format!("sso_operator_reconciles_total{{outcome=\"{outcome}\"}} ");
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64))
    }

    /// SIGTERM, then the same command again.
    async fn restart(&mut self) -> Result<(), String> {
        self.child.terminate(Duration::from_secs(10));
        self.child = Self::spawn(&self.args, &self.envs, &self.log)?;
        self.wait_ready().await
    }

    /// (`VmHWM`, `VmRSS`) in KiB from `/proc/<pid>/status`.
    fn memory_kib(&self) -> Result<(u64, u64), String> {
        let path = format!("/proc/{}/status", self.child.pid());
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .ok_or(format!("{path} has no {name}"))
        };
        Ok((field("VmHWM:")?, field("VmRSS:")?))
    }

    /// HTTP status of `/readyz` (0 when unreachable).
    async fn readyz(&self) -> u16 {
        let url = format!("http://{}/readyz", self.metrics_addr);
        reqwest::get(&url).await.map_or(0, |r| r.status().as_u16())
    }

    /// `sso_operator_reconcile_errors_total` by reason.
    async fn errors_by_reason(&self) -> Result<BTreeMap<String, u64>, String> {
        let text = self.metrics_text().await?;
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("sso_operator_reconcile_errors_total{reason=\"")
            else {
                continue;
            };
            if let Some((reason, value)) = rest.split_once("\"} ")
                && let Ok(v) = value.trim().parse::<f64>()
            {
                out.insert(reason.to_string(), v as u64);
            }
        }
        Ok(out)
    }
}

/// The emulator's counters, by what the operator needed them for.
async fn emulator_counts(emulator: &Emulator) -> Result<EmuCounts, String> {
    let stats = emulator.stats().await?;
    let obj = stats.as_object().ok_or("stats is not an object")?;
    let mut c = EmuCounts::default();
    for (key, v) in obj {
        let n = v.as_u64().unwrap_or(0);
        let parts: Vec<&str> = key.split(' ').collect();
        let [method, route, status] = parts.as_slice() else {
            continue;
        };
        c.total += n;
        let ok = status.starts_with('2');
        if ok {
            c.ok += n;
        }
        match (*method, *route) {
            ("POST", "/oauth/token") if ok => c.tokens_ok += n,
            ("POST", "/api/v2/connections") if ok => c.posts_ok += n,
            ("GET", "/api/v2/connections") if ok => c.lookups_ok += n,
            ("GET", "/api/v2/connections/{id}") => c.gets += n,
            (m, r) if m != "GET" && m != "POST" && r.starts_with("/api/v2") => c.other_writes += n,
            _ => {}
        }
    }
    c.rate_limited = stats["rate_limited"].as_u64().unwrap_or(0);
    Ok(c)
}

#[derive(Default, Clone, Copy)]
struct EmuCounts {
    ok: u64,
    total: u64,
    tokens_ok: u64,
    posts_ok: u64,
    lookups_ok: u64,
    gets: u64,
    other_writes: u64,
    rate_limited: u64,
}

/// Applies `docs` (YAML documents) in chunks with server-side apply.
async fn apply_all(env: &Env, ns: &str, docs: &[String]) -> Result<(), String> {
    for chunk in docs.chunks(APPLY_CHUNK) {
        let yaml = chunk.join("---\n");
        env.kubectl_ok_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=bench",
                "-n",
                ns,
                "-f",
                "-",
            ],
            &yaml,
        )
        .await?;
    }
    Ok(())
}

/// Number of SsoConnections in `ns` whose Ready is True for their current generation, and
/// how many exist.
async fn count_ready(env: &Env, ns: &str) -> Result<(usize, usize), String> {
    let out = env
        .kubectl_ok(&[
            "get",
            "ssoconnections",
            "-n",
            ns,
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.generation} {.status.observedGeneration} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
        ])
        .await?;
    let (mut ready, mut total) = (0, 0);
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        total += 1;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[0] == f[1] && f[2] == "True" {
            ready += 1;
        }
    }
    Ok((ready, total))
}

async fn converge(
    env: &Env,
    key_file: &Path,
    fixtures: &[Fixture],
    n: usize,
    rate: u32,
) -> Result<(Converged, Emulator, RunningOperator), String> {
    let ns = format!("bench-{n}-{rate}rps");
    env.create_namespace(&ns).await?;
    let emulator = env
        .start_emulator(&["--rate-limit", &rate.to_string()])
        .await?;
    let operator = RunningOperator::start(
        env,
        &emulator,
        key_file,
        &ns,
        rate,
        &format!("sso-operator-{n}-{rate}rps"),
    )
    .await?;
    // Metadata first, as users do: an SsoConnection whose ConfigMap is missing waits 60 s.
    let cms: Vec<String> = (0..n)
        .map(|i| config_map_yaml(&format!("idp-{i}"), &fixtures[i % fixtures.len()].bytes))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    apply_all(env, &ns, &cms).await?;
    eprintln!(
        "   {n} ConfigMaps applied in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let ssos: Vec<String> = (0..n)
        .map(|i| sso_yaml(&format!("conn-{i}"), &format!("idp-{i}"), ""))
        .collect();
    let started = Instant::now();
    apply_all(env, &ns, &ssos).await?;
    let apply_seconds = started.elapsed().as_secs_f64();
    eprintln!("   {n} SsoConnections applied in {apply_seconds:.1}s");
    let expected_min = (n + 1).saturating_sub(rate as usize) as f64 / f64::from(rate);
    let timeout = Duration::from_secs_f64(expected_min * 3.0 + 120.0);
    let mut last_print = Instant::now();
    let seconds = loop {
        let (ready, total) = count_ready(env, &ns).await?;
        if ready == n && total == n {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "only {ready} of {n} SsoConnections Ready after {timeout:?}; operator log tail:\n{}",
                operator.child.log_tail(20)
            ));
        }
        if last_print.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "   {:.0}s: {ready}/{n} Ready",
                started.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    eprintln!("   all {n} Ready after {seconds:.1}s");
    let counts = emulator_counts(&emulator).await?;
    let errors = operator.errors_by_reason().await?;
    let (vm_hwm_kib, vm_rss_kib) = operator.memory_kib()?;
    let result = Converged {
        n,
        rate,
        burst: rate,
        seconds,
        apply_seconds,
        calls_needed: counts.tokens_ok + counts.lookups_ok + counts.posts_ok,
        calls_total: counts.total,
        posts: counts.posts_ok,
        extra_gets: counts.gets,
        rate_limited: counts.rate_limited,
        auth0_unavailable: errors.get("Auth0Unavailable").copied().unwrap_or(0),
        errors,
        vm_hwm_kib,
        vm_rss_kib,
        readyz: operator.readyz().await,
    };
    Ok((result, emulator, operator))
}

/// A restart makes the operator reconcile every connection once: all unchanged.
struct Resynced {
    n: usize,
    rate: u32,
    seconds: f64,
    gets: u64,
    writes: u64,
    calls_needed: u64,
    rate_limited: u64,
    auth0_unavailable: u64,
    vm_hwm_kib: u64,
    vm_rss_kib: u64,
}

impl Resynced {
    /// (calls needed − burst) ÷ rate, at least one second: with the drift listing a restart
    /// needs a dozen calls, so the floor keeps the ratio meaningful.
    fn min_seconds(&self) -> f64 {
        (self.calls_needed.saturating_sub(u64::from(self.rate)) as f64 / f64::from(self.rate))
            .max(1.0)
    }

    fn ratio(&self) -> f64 {
        self.seconds / self.min_seconds().max(f64::MIN_POSITIVE)
    }

    fn gets_per_connection(&self) -> f64 {
        self.gets as f64 / self.n.max(1) as f64
    }
}

async fn resync_all(
    _env: &Env,
    _key_file: &Path,
    emulator: &Emulator,
    operator: &mut RunningOperator,
    n: usize,
    rate: u32,
) -> Result<Resynced, String> {
    let before = emulator_counts(emulator).await?;
    // The emulator's bucket refills while the operator restarts, as the client's does.
    let started = Instant::now();
    operator.restart().await?;
    let timeout =
        Duration::from_secs_f64(n as f64 / f64::from(rate) * 3.0 + 120.0) + started.elapsed();
    let seconds = loop {
        let confirmed = operator.reconciled("unchanged").await.unwrap_or(0);
        if confirmed >= n as u64 {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "only {confirmed} of {n} connections confirmed after {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let stragglers (a second read of the same connection, a write) show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = emulator_counts(emulator).await?;
    let errors = operator.errors_by_reason().await?;
    let (vm_hwm_kib, vm_rss_kib) = operator.memory_kib()?;
    Ok(Resynced {
        n,
        rate,
        seconds,
        gets: after.gets - before.gets,
        writes: (after.posts_ok - before.posts_ok) + (after.other_writes - before.other_writes),
        calls_needed: after.ok - before.ok,
        rate_limited: after.rate_limited - before.rate_limited,
        auth0_unavailable: errors.get("Auth0Unavailable").copied().unwrap_or(0),
        vm_hwm_kib,
        vm_rss_kib,
    })
}

/// A restart at 2 requests/s with N unchanged connections, then steady-state drift passes.
struct Passes {
    /// Management API and token calls until every connection was confirmed after the restart.
    restart_calls: u64,
    /// Seconds from the restart until every connection was confirmed.
    restart_seconds: f64,
    /// Calls of one periodic drift pass (listing pages and any per-connection call).
    calls_per_pass: f64,
}

/// Resync interval of the periodic passes measured (30 s, so that the bench sees two).
const PASS_RESYNC_SECONDS: u64 = 30;
/// A token lives 24 h and is renewed 5 minutes ahead of expiry: one token call a day.
const TOKEN_CALLS_PER_HOUR: f64 = 3600.0 / TOKEN_LIFETIME_USED_SECONDS;

impl Passes {
    /// Calls per hour at the default resync (3600 s: one pass an hour), token included.
    fn per_hour(&self) -> f64 {
        self.calls_per_pass * (3600.0 / RESYNC_SECONDS) + TOKEN_CALLS_PER_HOUR
    }
}

/// Restarts the operator at 2 requests/s (and a 30 s resync), counts the calls and the time
/// until all `n` connections are confirmed unchanged, then the calls of the periodic passes.
async fn restart_and_passes(
    emulator: &Emulator,
    operator: &mut RunningOperator,
    n: usize,
) -> Result<Passes, String> {
    operator.set_flag("--auth0-rate-limit", "2");
    operator.set_flag("--auth0-rate-burst", "2");
    operator.set_flag("--resync-seconds", &PASS_RESYNC_SECONDS.to_string());
    let seq = emulator.last_seq().await?;
    let started = Instant::now();
    operator.restart().await?;
    let timeout = Duration::from_secs(600);
    let restart_seconds = loop {
        if operator.reconciled("unchanged").await.unwrap_or(0) >= n as u64 {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "not all {n} connections confirmed {timeout:?} after the restart"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let restart_calls = emulator
        .calls_since(seq)
        .await?
        .as_array()
        .map_or(0, |a| a.len() as u64);
    // Two periodic passes: each listing's first page (no `from`) starts one.
    let seq = emulator.last_seq().await?;
    tokio::time::sleep(Duration::from_secs(PASS_RESYNC_SECONDS * 2 + 10)).await;
    let calls = emulator.calls_since(seq).await?;
    let calls = calls.as_array().cloned().unwrap_or_default();
    let passes = calls
        .iter()
        .filter(|c| {
            let q = c["query"].as_str().unwrap_or_default();
            c["method"] == "GET"
                && c["path"] == "/api/v2/connections"
                && q.contains("take=")
                && !q.contains("from=")
        })
        .count();
    if passes == 0 {
        return Err(format!(
            "no drift pass in {}s with --resync-seconds {PASS_RESYNC_SECONDS}",
            PASS_RESYNC_SECONDS * 2 + 10
        ));
    }
    Ok(Passes {
        restart_calls,
        restart_seconds,
        calls_per_pass: calls.len() as f64 / passes as f64,
    })
}

/// `n` connections at 2 requests/s share one metadata ConfigMap; it changes (2n calls of
/// background work queued); one new SsoConnection is applied: seconds until it is Ready.
async fn new_ready_under_load(
    env: &Env,
    key_file: &Path,
    fixtures: &[Fixture],
    n: usize,
) -> Result<f64, String> {
    let ns = "bench-new-under-load";
    env.create_namespace(ns).await?;
    let emulator = env.start_emulator(&["--rate-limit", "2"]).await?;
    let operator = RunningOperator::start(
        env,
        &emulator,
        key_file,
        ns,
        2,
        "sso-operator-new-under-load",
    )
    .await?;
    let (first, second) = (&fixtures[0], &fixtures[1 % fixtures.len()]);
    apply_all(env, ns, &[config_map_yaml("shared", &first.bytes)?]).await?;
    let ssos: Vec<String> = (0..n)
        .map(|i| sso_yaml(&format!("load-{i}"), "shared", ""))
        .collect();
    apply_all(env, ns, &ssos).await?;
    let started = Instant::now();
    loop {
        let (ready, total) = count_ready(env, ns).await?;
        if ready == n && total == n {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!(
                "only {ready} of {n} Ready:\n{}",
                operator.child.log_tail(20)
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The shared document changes: every connection needs a read and a write.
    apply_all(env, ns, &[config_map_yaml("shared", &second.bytes)?]).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    apply_all(
        env,
        ns,
        &[
            config_map_yaml("newcomer-idp", &first.bytes)?,
            sso_yaml("newcomer", "newcomer-idp", ""),
        ],
    )
    .await?;
    loop {
        let obj = env.get_json("ssoconnection", ns, "newcomer").await?;
        let ready = obj["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        if ready {
            let seconds = started.elapsed().as_secs_f64();
            eprintln!("   the newcomer was Ready after {seconds:.1}s");
            return Ok(seconds);
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the newcomer never became Ready".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---- report ----------------------------------------------------------------------------------

fn print_report(
    calls: &CallCounts,
    parse: &ParseResult,
    runs: &[Converged],
    resync: Option<&Resynced>,
) {
    println!();
    println!("Auth0 Management API calls per reconcile (token excluded; in-process emulator)");
    println!("  {:<44} {:>8}  expected", "reconcile", "calls");
    let rows = [
        ("create (POST; a 409 alone looks up)", calls.create, "1"),
        (
            "update, signRequest flipped (GET + PATCH)",
            calls.update,
            "2",
        ),
        (
            "unchanged drift check (listing share only)",
            calls.unchanged,
            "~0",
        ),
        (
            "create with enabledClients (+ GET/PATCH clients)",
            calls.create_with_clients,
            "3",
        ),
        (
            "drift resync with enabledClients (+ GET clients)",
            calls.resync_with_clients,
            "2",
        ),
    ];
    for (what, n, expected) in rows {
        println!("  {what:<44} {n:>8.2}  {expected}");
    }
    println!(
        "  token requests: {} for {} reconciles (one cached token); writes in unchanged reconciles: {}",
        calls.token_calls, calls.reconciles, calls.unchanged_writes
    );
    println!(
        "  steady state per connection per hour = (own drift-check calls + 10 listing pages / N) x 3600/{RESYNC_SECONDS:.0} s resync + one token per {TOKEN_LIFETIME_USED_SECONDS:.0} s shared by N: {:.4} at N = 1000",
        calls.per_hour(1000)
    );

    if !runs.is_empty() {
        println!();
        println!(
            "Convergence: N SsoConnections + ConfigMaps applied with kubectl, until all Ready=True (real kube-apiserver, release operator, emulator rate-limited, same client budget)"
        );
        println!(
            "  {:>5} {:>6} {:>9} {:>9} {:>7} {:>7} {:>7} {:>6} {:>5} {:>12} {:>10} {:>7}",
            "N",
            "req/s",
            "measured",
            "minimum",
            "ratio",
            "needed",
            "all",
            "GETs",
            "429s",
            "Auth0Unavail",
            "VmHWM MiB",
            "apply"
        );
        for r in runs {
            println!(
                "  {:>5} {:>6} {:>8.1}s {:>8.1}s {:>7.3} {:>7} {:>7} {:>6} {:>5} {:>12} {:>10.1} {:>6.1}s",
                r.n,
                r.rate,
                r.seconds,
                r.min_seconds(),
                r.ratio(),
                r.calls_needed,
                r.calls_total,
                r.extra_gets,
                r.rate_limited,
                r.auth0_unavailable,
                r.vm_hwm_kib as f64 / 1024.0,
                r.apply_seconds,
            );
            let other: Vec<String> = r
                .errors
                .iter()
                .filter(|(k, v)| *k != "Auth0Unavailable" && **v > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !other.is_empty() {
                println!("        other reconcile errors: {}", other.join(", "));
            }
            if r.readyz != 200 {
                println!(
                    "        NOTE: /readyz answered {} after convergence (expected 200)",
                    r.readyz
                );
            }
        }
        println!(
            "  needed = successful token requests + name lookups + POSTs; minimum = (needed - bucket burst) / rate; all = every call the emulator received; GETs = reads by id (not needed to create); the clock starts when the SsoConnection apply starts"
        );
    }
    if let Some(s) = resync {
        println!();
        println!(
            "Resync of all N = {} after an operator restart ({} req/s): {:.1}s (minimum {:.1}s, ratio {:.3}); {:.3} GET per connection, {} writes, {} 429s, {} Auth0Unavailable",
            s.n,
            s.rate,
            s.seconds,
            s.min_seconds(),
            s.ratio(),
            s.gets_per_connection(),
            s.writes,
            s.rate_limited,
            s.auth0_unavailable
        );
        println!(
            "  restarted operator: VmHWM {:.1} MiB, VmRSS {:.1} MiB",
            s.vm_hwm_kib as f64 / 1024.0,
            s.vm_rss_kib as f64 / 1024.0
        );
    }
    for r in runs {
        println!(
            "Peak RSS of sso-operator run at N = {}: VmHWM {:.1} MiB (VmRSS now {:.1} MiB)",
            r.n,
            r.vm_hwm_kib as f64 / 1024.0,
            r.vm_rss_kib as f64 / 1024.0
        );
    }

    println!();
    println!(
        "Metadata parse throughput: {} ok fixtures, {} bytes per round, single thread, warm-up round then whole rounds for the same time",
        parse.files, parse.round_bytes
    );
    println!(
        "  sso-operator metadata::parse_idp_metadata   {:>9.1} MiB/s ({} rounds; every certificate decoded and X.509-parsed, one selected)",
        parse.ours_mib_s, parse.ours_rounds
    );
    println!(
        "  ... then the selected cert's info()         {:>9.1} MiB/s (subject, SHA-1, SHA-256: what a reconcile reads; {})",
        parse.with_details_mib_s,
        parse
            .ratio(parse.with_details_mib_s)
            .map_or("no reference".to_string(), |s| format!(
                "{s:.1}x the reference"
            ))
    );
    match (parse.reference_mib_s, parse.speedup()) {
        (Some(r), Some(s)) => println!(
            "  python3-saml IdPMetadataParser.parse        {:>9.1} MiB/s ({} rounds; {})\n  speed-up: {s:.1}x",
            r,
            parse.reference_rounds.unwrap_or(0),
            parse.reference_note
        ),
        _ => println!("  reference: {}", parse.reference_note),
    }
    println!();
}
