//! The Helm chart as Helm itself sees it: `helm lint`, and `helm template` renders what the
//! values promise (the CRDs equal `crds/`, leader election with two replicas, a namespaced
//! Role with `watchNamespace`, refusals of impossible values). `helm install` into a real API
//! server is an end-to-end scenario (`tests/e2e/scenarios/chart.rs`).
//!
//! Helm is built and cached by `scripts/install-testenv.sh`; `SSO_HELM` overrides the path.

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

const CHART: &str = "charts/sso-operator";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `SSO_HELM`, else the cached build of install-testenv.sh, else `helm` on PATH.
fn helm_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SSO_HELM") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("SSO_TESTENV_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sso-operator")));
    match cache.map(|c| c.join("bin/helm")) {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("helm"),
    }
}

/// Runs helm; `Ok(stdout)` on success, `Err(stderr)` on failure. Panics when helm is missing:
/// a chart test that silently skips would pass without testing anything.
fn helm(args: &[&str]) -> Result<String, String> {
    let bin = helm_bin();
    let out = Command::new(&bin)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run helm ({}): {e}; run scripts/install-testenv.sh or set SSO_HELM",
                bin.display()
            )
        });
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn render(sets: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "sso",
        CHART,
        "--namespace",
        "sso-system",
        "--include-crds",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let text = helm(&args).unwrap_or_else(|e| panic!("helm template {sets:?} failed: {e}"));
    documents(&text)
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("helm renders YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn container_args(docs: &[Value]) -> Vec<String> {
    let deployment = of_kind(docs, "Deployment");
    assert_eq!(deployment.len(), 1, "one Deployment");
    deployment[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("container args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[test]
fn helm_lint_passes_strictly() {
    let out = helm(&["lint", "--strict", CHART]).unwrap_or_else(|e| panic!("helm lint: {e}"));
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn rendered_crds_equal_the_crds_directory() {
    let docs = render(&[]);
    let rendered = of_kind(&docs, "CustomResourceDefinition");
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("crds"))
        .expect("crds/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    assert_eq!(
        rendered.len(),
        files.len(),
        "helm renders {} CRDs, crds/ holds {}",
        rendered.len(),
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let want: Value = serde_yaml::from_str(&text).expect("YAML");
        let name = &want["metadata"]["name"];
        let got = rendered
            .iter()
            .find(|d| &d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("helm does not render the CRD {name:?}"));
        assert!(
            *got == &want,
            "the chart's CRD {name:?} differs from {}",
            file.display()
        );
    }
}

#[test]
fn one_replica_runs_without_leader_election_and_two_with_it() {
    let single = render(&[]);
    let args = container_args(&single);
    assert!(!args.iter().any(|a| a == "--leader-election"), "{args:?}");
    assert_eq!(of_kind(&single, "Deployment")[0]["spec"]["replicas"], 1);

    let pair = render(&["replicas=2"]);
    let args = container_args(&pair);
    assert!(args.iter().any(|a| a == "--leader-election"), "{args:?}");
    assert!(
        args.iter()
            .any(|a| a == "--leader-election-namespace=sso-system"),
        "{args:?}"
    );
    assert_eq!(of_kind(&pair, "Deployment")[0]["spec"]["replicas"], 2);
    // The Lease permissions exist only where the Lease lives.
    let roles = of_kind(&pair, "Role");
    let lease_role = roles
        .iter()
        .find(|r| {
            r["rules"]
                .as_sequence()
                .is_some_and(|rules| rules.iter().any(|rule| rule["resources"][0] == "leases"))
        })
        .expect("a Role for the Lease");
    assert_eq!(lease_role["metadata"]["namespace"], "sso-system");
}

#[test]
fn private_metadata_urls_stay_refused_unless_the_value_allows_them() {
    let flag = "--allow-private-metadata-urls";
    assert!(!container_args(&render(&[])).iter().any(|a| a == flag));
    let args = container_args(&render(&["metadataUrls.allowPrivate=true"]));
    assert!(args.iter().any(|a| a == flag), "{args:?}");
    // The flag the chart passes is one the operator accepts.
    let cli = sso_operator::cli::Cli::try_parse_from(
        ["sso-operator"]
            .into_iter()
            .chain(args.iter().map(String::as_str)),
    );
    assert!(cli.is_ok(), "{:?}", cli.err().map(|e| e.to_string()));
}

#[test]
fn watch_namespace_narrows_rbac_to_a_role() {
    let all = render(&[]);
    // The operator's ClusterRole and the cluster-scoped tenancy reads.
    assert_eq!(of_kind(&all, "ClusterRole").len(), 2);
    let narrowed = render(&["watchNamespace=customers"]);
    let args = container_args(&narrowed);
    assert!(
        args.iter().any(|a| a == "--watch-namespace=customers"),
        "{args:?}"
    );
    // Only the cluster-scoped tenancy reads stay cluster-wide: ClusterAuth0Tenants, namespaces.
    let cluster_roles = of_kind(&narrowed, "ClusterRole");
    assert_eq!(cluster_roles.len(), 1);
    let resources: Vec<&str> = cluster_roles[0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_sequence().unwrap().iter())
        .filter_map(|r| r.as_str())
        .collect();
    assert_eq!(
        resources,
        [
            "clusterauth0tenants",
            "clusterauth0tenants/status",
            "namespaces"
        ]
    );
    assert!(
        of_kind(&narrowed, "Role")
            .iter()
            .any(|r| r["metadata"]["namespace"] == "customers"),
        "no Role in the watched namespace: {narrowed:?}"
    );
}

#[test]
fn impossible_values_are_refused_with_a_message() {
    let err = helm(&[
        "template",
        "sso",
        CHART,
        "--set",
        "encryption.backend=rot13",
    ])
    .expect_err("an unknown encryption backend renders");
    assert!(
        err.contains("encryption.backend must be local or http"),
        "{err}"
    );
    let err = helm(&["template", "sso", CHART, "--set", "encryption.backend=http"])
        .expect_err("the http backend without a URL renders");
    assert!(err.contains("needs encryption.http.url"), "{err}");
}
