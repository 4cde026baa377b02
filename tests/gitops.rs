//! The Argo CD health check (`deploy/argocd/health.lua`), run by `lua5.1` over SsoConnection
//! objects in `tests/fixtures/gitops/`, and the README's `argocd-cm` snippet that installs it.
//!
//! The fixtures hold statuses the operator writes: `fixtures_are_statuses_the_operator_writes`
//! rebuilds the generated ones with the reconcile core against the in-process Auth0 emulator.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use sso_operator::auth0::{Auth0Client, Auth0Config, RetryTiming};
use sso_operator::controller::CIPHERTEXT_KEY;
use sso_operator::crd::{SecretKeyRef, SsoConnection, SsoConnectionStatus};
use sso_operator::emulator::{
    self, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, FaultRuleSpec,
};
use sso_operator::offline::{Manifests, load_manifests};
use sso_operator::reconcile::{self, SyncOptions, Tenant};
use sso_operator::secret::SecretString;
use sso_operator::status::{self, ALL_REASONS, Reason};

const SCRIPT: &str = "deploy/argocd/health.lua";
const FIXTURES: &str = "tests/fixtures/gitops";
const EXAMPLE: &str = "deploy/examples/acme-azure.yaml";
/// The key of the `argocd-cm` entry that installs the script.
const CM_KEY: &str = "resource.customizations.health.sso-operator.io_SsoConnection";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn fixture(name: &str) -> Value {
    let rel = format!("{FIXTURES}/{name}.json");
    serde_json::from_str(&read(&rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

#[path = "support/argocd.rs"]
mod argocd;
use argocd::health;

#[test]
fn lua_literals_carry_strings_and_numbers_unchanged() {
    let tricky = "quote \" backslash \\ newline\n tab\t ]] ]=] é ✓ {id}";
    let obj = json!({
        "metadata": {"generation": 7},
        "status": {
            "observedGeneration": 7,
            "conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": tricky}]
        }
    });
    assert_eq!(health(&obj), ("Degraded".into(), tricky.into()));
}

// ---------------------------------------------------------------------------------------------
// Health of each fixture

#[test]
fn health_of_each_fixture() {
    let cases = [
        ("ready", "Healthy", "Auth0 connection matches the spec"),
        (
            "generation-lag",
            "Progressing",
            "Waiting for the operator to observe generation 3 (status is of generation 2)",
        ),
        (
            "no-status",
            "Progressing",
            "Waiting for the operator to report a status",
        ),
        (
            "auth0-unavailable",
            "Progressing",
            "Auth0 unavailable on GET /connections/{id}: The service is temporarily unavailable, please try again later",
        ),
        (
            "deleting",
            "Progressing",
            "deleting Auth0 connection con_zujxzBql3QHxENyy failed, will retry: Auth0 unavailable on DELETE /connections/{id}: The service is temporarily unavailable, please try again later",
        ),
        ("invalid-metadata", "Degraded", ""),
        ("connection-conflict", "Degraded", ""),
        ("future-reason", "Degraded", ""),
    ];
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo(FIXTURES))
        .expect("fixture directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let tested: BTreeSet<String> = cases.iter().map(|(n, _, _)| format!("{n}.json")).collect();
    assert_eq!(
        on_disk, tested,
        "every fixture has a case, every case a fixture"
    );

    for (name, want_status, want_message) in cases {
        let obj = fixture(name);
        let (got_status, got_message) = health(&obj);
        // Degraded carries the condition's message verbatim, whatever it says.
        let want_message = if want_message.is_empty() {
            ready_condition(&obj)["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no Ready message"))
                .to_string()
        } else {
            want_message.to_string()
        };
        assert_eq!(
            (got_status.as_str(), got_message.as_str()),
            (want_status, want_message.as_str()),
            "health of {name}"
        );
    }
}

fn ready_condition(obj: &Value) -> &Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .unwrap_or(&Value::Null)
}

/// A current object whose `Ready` is False with `reason`.
fn not_ready(reason: &str, condition_status: &str) -> Value {
    json!({
        "apiVersion": "sso-operator.io/v1alpha1",
        "kind": "SsoConnection",
        "metadata": {"name": "acme", "namespace": "customers", "generation": 4},
        "status": {
            "observedGeneration": 4,
            "conditions": [
                {"type": "CertificateEncrypted", "status": "True", "reason": "Encrypted", "message": "stored"},
                {"type": "Ready", "status": condition_status, "reason": reason, "message": format!("the {reason} message")}
            ]
        }
    })
}

#[test]
fn an_expiring_or_expired_certificate_leaves_health_to_ready() {
    // CertificateExpiring never changes Ready, and Argo CD health follows Ready alone: an
    // expiring certificate is an alert and a Warning Event, not a Degraded application.
    for (status_, reason) in [
        ("False", "Valid"),
        ("True", "ExpiresSoon"),
        ("True", "Expired"),
    ] {
        let obj = json!({
            "apiVersion": "sso-operator.io/v1alpha1",
            "kind": "SsoConnection",
            "metadata": {"name": "acme", "namespace": "customers", "generation": 4},
            "status": {
                "observedGeneration": 4,
                "conditions": [
                    {"type": "CertificateExpiring", "status": status_, "reason": reason, "message": "the certificate"},
                    {"type": "Ready", "status": "True", "reason": "Synced", "message": "Auth0 connection matches the spec"}
                ]
            }
        });
        assert_eq!(
            health(&obj),
            (
                "Healthy".to_string(),
                "Auth0 connection matches the spec".to_string()
            ),
            "CertificateExpiring={status_} {reason}"
        );
    }
}

#[test]
fn every_failure_reason_is_progressing_only_if_the_operator_retries_it() {
    // The operator recovers from these without help (README, "Status and reasons").
    for reason in ALL_REASONS {
        if matches!(
            reason,
            Reason::Synced | Reason::Encrypted | Reason::Verified
        ) {
            continue; // reasons of True conditions
        }
        if matches!(
            reason,
            Reason::Valid | Reason::ExpiresSoon | Reason::Expired
        ) {
            continue; // CertificateExpiring's: never a Ready reason (see below)
        }
        let want = if reason.is_transient() {
            "Progressing"
        } else {
            "Degraded"
        };
        for condition_status in ["False", "Unknown"] {
            let (got, message) = health(&not_ready(reason.as_str(), condition_status));
            assert_eq!(got, want, "Ready={condition_status} {}", reason.as_str());
            assert_eq!(message, format!("the {} message", reason.as_str()));
        }
    }
}

#[test]
fn the_scripts_transient_reasons_are_reasons_the_operator_has() {
    let script = read(SCRIPT);
    let start = script
        .find("local TRANSIENT_REASONS = {")
        .expect("the script lists TRANSIENT_REASONS at the top");
    let body = &script[start..];
    let body = &body[body.find('{').expect("{") + 1..body.find("\n}").expect("closing }")];
    let listed: Vec<&str> = body
        .lines()
        .map(|l| l.split("--").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.strip_suffix("= true,")
                .unwrap_or_else(|| panic!("{l:?} is not `Reason = true,`"))
                .trim()
        })
        .collect();
    assert!(!listed.is_empty(), "no transient reasons parsed");
    for name in listed {
        assert!(
            Reason::parse(name).is_some(),
            "{SCRIPT} lists {name}, which is not a reason in src/status.rs"
        );
    }
}

#[test]
fn ready_condition_is_found_among_others_and_missing_means_progressing() {
    let mut obj = not_ready("InvalidSpec", "False");
    obj["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["type"] != "Ready");
    assert_eq!(
        health(&obj),
        (
            "Progressing".into(),
            "Waiting for the Ready condition".into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// The fixtures are what the operator writes

/// Deserialises a fixture as the operator's type and checks that nothing is lost on the way.
fn typed(name: &str) -> SsoConnection {
    let value = fixture(name);
    let obj: SsoConnection = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{name}: not an SsoConnection: {e}"));
    let back = serde_json::to_value(&obj).expect("serialises");
    assert_eq!(
        back["status"], value["status"],
        "{name}: the status does not survive a round trip through SsoConnectionStatus"
    );
    obj
}

#[test]
fn fixtures_are_sso_connections_with_known_reasons_except_the_future_one() {
    for name in [
        "ready",
        "generation-lag",
        "no-status",
        "auth0-unavailable",
        "deleting",
        "invalid-metadata",
        "connection-conflict",
        "future-reason",
    ] {
        let obj = typed(name);
        let ready = obj
            .status
            .as_ref()
            .and_then(|s| status::find_condition(&s.conditions, status::READY));
        match (name, ready) {
            ("no-status", r) => assert!(r.is_none() && obj.status.is_none()),
            ("future-reason", Some(r)) => assert!(
                Reason::parse(&r.reason).is_none(),
                "{name} must hold a reason the operator does not have yet, not {}",
                r.reason
            ),
            (_, Some(r)) => assert!(Reason::parse(&r.reason).is_some(), "{name}: {}", r.reason),
            (_, None) => panic!("{name} has no Ready condition"),
        }
    }
    let deleting = typed("deleting");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        deleting.metadata.finalizers.as_deref(),
        Some(&[sso_operator::controller::FINALIZER.to_string()][..])
    );
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

/// When the connection was created and last found in sync.
const SYNCED_AT: &str = "2027-01-15T09:30:00Z";
/// When the failures of the failure fixtures happened.
const FAILED_AT: &str = "2027-01-15T10:00:00Z";

fn tenant() -> Tenant {
    Tenant::new("acme-sso.eu.auth0.com", None, None)
}

async fn start_emulator(state: Vec<Value>, faults: Vec<Value>) -> emulator::RunningEmulator {
    let faults = faults
        .into_iter()
        .map(|f| {
            let spec: FaultRuleSpec = serde_json::from_value(f).expect("fault rule");
            spec.try_into().expect("valid fault rule")
        })
        .collect();
    emulator::start(EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        state,
        faults,
        ..EmulatorConfig::default()
    })
    .await
    .expect("the emulator starts")
}

fn client(emu: &emulator::RunningEmulator) -> Auth0Client {
    let mut config = Auth0Config::new(
        emu.base_url().parse().expect("URL"),
        DEFAULT_CLIENT_ID,
        SecretString::new(DEFAULT_CLIENT_SECRET),
    );
    config.rate_per_second = 1000.0;
    config.burst = 1000;
    config.timing = RetryTiming {
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(1),
        min_rate_limit_wait: Duration::from_millis(1),
        max_rate_limit_wait: Duration::from_millis(1),
    };
    Auth0Client::new(config).expect("client")
}

/// The example's ConfigMap (and SsoConnection, unused: the fixture's object is synced).
fn sources(xml: Option<&str>) -> (Manifests, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = read(EXAMPLE);
    let text = match xml {
        None => text,
        Some(xml) => {
            let start = text.find("<?xml").expect("the example holds XML");
            let end = start + text[start..].find('\n').expect("one line of XML");
            format!("{}{xml}{}", &text[..start], &text[end..])
        }
    };
    let path = dir.path().join("acme-azure.yaml");
    std::fs::write(&path, text).expect("written");
    let manifests = load_manifests(&[path], "customers").expect("the example loads");
    (manifests, dir)
}

/// Adds what the controller adds after a successful sync with a working encryption backend.
fn with_certificate_encrypted(
    mut status: SsoConnectionStatus,
    obj: &SsoConnection,
    now: Timestamp,
) -> SsoConnectionStatus {
    // As the controller does after every verified sync: CertificateExpiring and notices.
    sso_operator::expiry::evaluate(
        &mut status,
        now,
        &sso_operator::expiry::ExpirySettings::default(),
        obj.metadata.generation,
    );
    let reference = SecretKeyRef {
        name: obj.signing_cert_secret_name(),
        key: CIPHERTEXT_KEY.to_string(),
    };
    status::record_encrypted(&mut status, reference, obj.metadata.generation, now);
    status
}

/// Compares a fixture's status with the generated one; with `BLESS_GITOPS_FIXTURES=1` writes
/// the generated status into the fixture instead (review the diff).
fn assert_status(name: &str, generated: &SsoConnectionStatus) {
    let generated = serde_json::to_value(generated).expect("serialises");
    let mut on_disk = fixture(name);
    if std::env::var_os("BLESS_GITOPS_FIXTURES").is_some() {
        on_disk["status"] = generated;
        let text = serde_json::to_string_pretty(&on_disk).expect("serialises") + "\n";
        std::fs::write(repo(&format!("{FIXTURES}/{name}.json")), text).expect("fixture written");
        return;
    }
    assert!(
        generated == on_disk["status"],
        "{FIXTURES}/{name}.json is not the status the operator writes (BLESS_GITOPS_FIXTURES=1 \
         rewrites it); it writes\n{}",
        serde_json::to_string_pretty(&generated).unwrap()
    );
}

async fn sync(
    client: &Auth0Client,
    obj: &SsoConnection,
    sources: &Manifests,
    now: Timestamp,
) -> Result<reconcile::Synced, reconcile::SyncError> {
    reconcile::sync_connection(
        client,
        obj,
        &reconcile::Claimant::new(
            obj,
            "test-cluster",
            sso_operator::ownership::Adoption::Unowned,
        ),
        sources,
        SyncOptions {
            dry_run: false,
            recheck_clients: true,
            ..SyncOptions::default()
        },
        now,
    )
    .await
}

#[tokio::test]
async fn fixtures_are_statuses_the_operator_writes() {
    let synced_at = at(SYNCED_AT);
    let failed_at = at(FAILED_AT);
    let (good, _dir) = sources(None);

    // ready: created, then found unchanged by the next reconcile.
    let emu = start_emulator(vec![], vec![]).await;
    let auth0 = client(&emu);
    let mut obj = typed("ready");
    obj.status = None;
    let created = sync(&auth0, &obj, &good, synced_at).await.expect("created");
    assert_eq!(created.action, reconcile::Action::Created);
    let first = reconcile::synced_status(&obj, &created, &tenant(), synced_at);
    obj.status = Some(with_certificate_encrypted(first, &obj, synced_at));
    let unchanged = sync(&auth0, &obj, &good, synced_at).await.expect("in sync");
    assert_eq!(unchanged.action, reconcile::Action::Unchanged);
    let ready = with_certificate_encrypted(
        reconcile::synced_status(&obj, &unchanged, &tenant(), synced_at),
        &obj,
        synced_at,
    );
    assert_status("ready", &ready);
    emu.shutdown().await;

    // generation-lag: the spec was edited after that; the status is the same.
    let lag = typed("generation-lag");
    assert_eq!(lag.status.as_ref(), Some(&ready));
    assert_eq!(lag.metadata.generation, Some(3));
    assert_ne!(
        serde_json::to_value(&lag.spec).unwrap(),
        serde_json::to_value(&typed("ready").spec).unwrap(),
        "generation-lag has an edited spec"
    );

    // invalid-metadata: the ConfigMap now holds an HTML sign-in page instead of metadata.
    let (broken, _dir2) = sources(Some(
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body></body></html>",
    ));
    let emu = start_emulator(vec![], vec![]).await;
    let mut obj = typed("invalid-metadata");
    obj.status = Some(ready.clone());
    let err = sync(&client(&emu), &obj, &broken, failed_at)
        .await
        .expect_err("broken metadata fails");
    assert_eq!(err.reason(), Reason::InvalidMetadata, "{err}");
    assert_status(
        "invalid-metadata",
        &reconcile::failed_status(&obj, &err, failed_at),
    );
    emu.shutdown().await;

    // connection-conflict: a same-named connection someone created in the Dashboard.
    let foreign = json!({
        "id": "con_Dashb0ardMade01",
        "name": "acme-azure",
        "strategy": "samlp",
        "options": {"signInEndpoint": "https://login.acme.example/saml2"}
    });
    let emu = start_emulator(vec![foreign], vec![]).await;
    let mut obj = typed("connection-conflict");
    obj.status = None;
    let err = sync(&client(&emu), &obj, &good, failed_at)
        .await
        .expect_err("a foreign connection is a conflict");
    assert_eq!(err.reason(), Reason::ConnectionConflict, "{err}");
    assert_status(
        "connection-conflict",
        &reconcile::failed_status(&obj, &err, failed_at),
    );
    emu.shutdown().await;

    // auth0-unavailable: every Management API call answers 503.
    let emu = start_emulator(vec![], vec![json!({"kind": 503})]).await;
    let mut obj = typed("auth0-unavailable");
    obj.status = Some(ready.clone());
    let err = sync(&client(&emu), &obj, &good, failed_at)
        .await
        .expect_err("503s fail the sync");
    assert_eq!(err.reason(), Reason::Auth0Unavailable, "{err}");
    assert!(err.is_transient());
    assert_status(
        "auth0-unavailable",
        &reconcile::failed_status(&obj, &err, failed_at),
    );
    emu.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// README

#[test]
fn readme_snippet_installs_exactly_the_script() {
    let readme = read("README.md");
    let key_at = readme
        .find(&format!("{CM_KEY}: |"))
        .unwrap_or_else(|| panic!("README.md has no `{CM_KEY}: |` snippet"));
    let block_start = readme[..key_at]
        .rfind("```yaml\n")
        .expect("the snippet is in a ```yaml block")
        + "```yaml\n".len();
    let block_end = key_at + readme[key_at..].find("\n```").expect("the block ends") + 1;
    let block = &readme[block_start..block_end];
    let cm: Value = serde_yaml::from_str(block)
        .unwrap_or_else(|e| panic!("the README's argocd-cm snippet is not YAML: {e}\n{block}"));
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let installed = cm["data"][CM_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("the snippet has no data.{CM_KEY}"));
    let script = read(SCRIPT);
    if installed != script {
        let line = installed
            .lines()
            .zip(script.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "the line counts".to_string(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "the README's argocd-cm snippet differs from {SCRIPT} at {line}; paste the file \
             indented by four spaces"
        );
    }
}
