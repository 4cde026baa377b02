//! End-to-end tests: the real `sso-operator` binary against a real kube-apiserver + etcd
//! and the Auth0 emulator. A custom harness (`harness = false`): one cluster for the whole
//! run, one namespace per scenario.
//!
//! `cargo test --test e2e` runs everything; `cargo test --test e2e -- rbac` runs the
//! scenarios whose name contains `rbac`; `-- --list` lists them. The last line of output is
//! always `N passed, N failed`.

// Helpers in env/cluster/process are the toolkit for scenarios; not every one is in use yet.
#![allow(dead_code)]

#[path = "../support/argocd.rs"]
mod argocd;
mod cluster;
mod env;
#[path = "../support/metadata_server.rs"]
mod metadata_server;
mod process;
mod scenarios;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use futures::FutureExt;

use env::Env;
use scenarios::Scenario;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list_only = args.iter().any(|a| a == "--list");
    let exact = args.iter().any(|a| a == "--exact");
    // Cargo and libtest-style flags (--nocapture, --test-threads=…) mean nothing here.
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let selected: Vec<Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        s.name == *f
                    } else {
                        s.name.contains(f)
                    }
                })
        })
        .collect();

    if list_only {
        for s in &selected {
            println!("{}: test", s.name);
        }
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let (passed, failed) = runtime.block_on(run(selected));
    // Everything (cluster, emulators, operators) is stopped by now: `run` owned it all.
    drop(runtime);
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(selected: Vec<Scenario>) -> (usize, usize) {
    if selected.is_empty() {
        println!("no scenario matches the filter");
        return (0, 0);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let operator_bin = PathBuf::from(env!("CARGO_BIN_EXE_sso-operator"));
    // Looked up at run time so this target builds before the emulator binary exists.
    let emulator_bin = std::env::var_os("SSO_AUTH0_EMULATOR").map_or_else(
        || operator_bin.with_file_name(format!("auth0-emulator{}", std::env::consts::EXE_SUFFIX)),
        PathBuf::from,
    );

    println!("starting kube-apiserver + etcd ...");
    let started = Instant::now();
    let env = match Env::start(repo, operator_bin, emulator_bin).await {
        Ok(env) => env,
        Err(e) => {
            println!("cluster start-up FAILED: {e}");
            return (0, selected.len());
        }
    };
    println!(
        "cluster ready in {:.1}s at {} (data in {})",
        started.elapsed().as_secs_f64(),
        env.cluster.server,
        env.cluster.dir().display()
    );

    let (mut passed, mut failed) = (0, 0);
    for (i, scenario) in selected.iter().enumerate() {
        let ns = namespace_for(i, scenario.name);
        let started = Instant::now();
        let result = match env.create_namespace(&ns).await {
            Err(e) => Err(format!("cannot create namespace {ns}: {e}")),
            Ok(()) => match AssertUnwindSafe((scenario.run)(&env, &ns))
                .catch_unwind()
                .await
            {
                Ok(r) => r,
                Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
            },
        };
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                passed += 1;
                println!("test {} ... ok ({secs:.1}s)", scenario.name);
            }
            Err(reason) => {
                failed += 1;
                println!("test {} ... FAILED: {reason} ({secs:.1}s)", scenario.name);
            }
        }
    }
    drop(env);
    (passed, failed)
}

/// `e2e-<index>-<name>`, a valid namespace name (≤ 63 characters).
fn namespace_for(index: usize, name: &str) -> String {
    let mut ns = format!("e2e-{index}-{}", name.replace('_', "-"));
    ns.truncate(63);
    ns.trim_end_matches('-').to_string()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
