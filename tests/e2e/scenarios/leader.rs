//! Leader election on the real API server: two replicas share the Lease
//! `sso-operator/sso-operator-leader`; only the holder reconciles; a killed leader is replaced
//! once its Lease expires; a leader stopped with SIGTERM releases the Lease on its way out.
//! The Lease name is fixed, so each scenario deletes it before and after.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::soak::{config_map, sso_connection, wait_ready};
use crate::env::{Emulator, Env, Operator, wait_for};

const LEASE_NAMESPACE: &str = "sso-operator";
const LEASE_NAME: &str = "sso-operator-leader";
/// Short, so that failover happens within the test; the leader renews 2 s before expiry.
const LEASE_SECONDS: u64 = 6;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The bound on a takeover: one lease duration plus generous slack for a loaded machine.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(LEASE_SECONDS + 24);
const WAITING_LOG: &str = "waiting for leadership";
const ACQUIRED_LOG: &str = "acquired leadership";
const RELEASED_LOG: &str = "released the leader-election Lease";

async fn delete_lease(env: &Env) -> Result<(), String> {
    env.kubectl_ok(&[
        "delete",
        "lease",
        "-n",
        LEASE_NAMESPACE,
        LEASE_NAME,
        "--ignore-not-found",
    ])
    .await
    .map(drop)
}

/// The Lease, if it exists.
async fn lease(env: &Env) -> Result<Option<Value>, String> {
    env.get_json_opt("lease", LEASE_NAMESPACE, LEASE_NAME).await
}

/// `spec.holderIdentity`, `None` when the Lease is free or missing.
async fn holder(env: &Env) -> Result<Option<String>, String> {
    Ok(lease(env).await?.and_then(|l| {
        l["spec"]["holderIdentity"]
            .as_str()
            .filter(|h| !h.is_empty())
            .map(str::to_string)
    }))
}

async fn wait_for_holder(env: &Env, identity: &str, timeout: Duration) -> Result<(), String> {
    wait_for(
        &format!("{identity} to hold the Lease"),
        timeout,
        || async {
            match holder(env).await? {
                Some(h) if h == identity => Ok(()),
                other => Err(format!("holder is {other:?}")),
            }
        },
    )
    .await
}

/// A replica with leader election on, watching only `ns`.
async fn start_replica(
    env: &Env,
    emulator: &Emulator,
    ns: &str,
    identity: &str,
) -> Result<Operator, String> {
    let seconds = LEASE_SECONDS.to_string();
    env.start_operator(
        emulator,
        &[
            ("SSO_WATCH_NAMESPACE", ns),
            ("SSO_LEADER_ELECTION", "true"),
            ("SSO_LEADER_ELECTION_NAMESPACE", LEASE_NAMESPACE),
            ("SSO_LEASE_DURATION_SECONDS", &seconds),
            ("SSO_LEASE_GRACE_SECONDS", "2"),
            ("POD_NAME", identity),
        ],
    )
    .await
}

async fn wait_for_log(operator: &Operator, who: &str, line: &str) -> Result<(), String> {
    wait_for(
        &format!("{who} to log {line:?}"),
        Duration::from_secs(30),
        || async {
            if operator.log_text().contains(line) {
                Ok(())
            } else {
                Err(operator.log_tail(3))
            }
        },
    )
    .await
}

/// Reconciles counted in `/metrics` (all outcomes).
fn reconciles(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("sso_operator_reconciles_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Management API connection calls counted in `/metrics` (the token fetch at start aside).
fn connection_calls(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("sso_operator_auth0_requests{") && l.contains("/connections"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Applies ConfigMap + SsoConnection `name` and waits until it is Ready.
async fn apply_and_wait_ready(env: &Env, ns: &str, name: &str) -> Result<(), String> {
    let cm = format!("{name}-idp");
    let yaml = format!(
        "{}---\n{}",
        config_map(&cm, &env.fixture("azure-entra-tenant.xml")?)?,
        sso_connection(name, &cm, &format!("{name}.example.com"))?
    );
    env.apply_yaml(ns, &yaml).await?;
    wait_ready(env, ns, name, READY_TIMEOUT).await.map(drop)
}

/// Starts replica `a`, waits until it holds the Lease, then starts standby `b`.
async fn leader_and_standby(
    env: &Env,
    emulator: &Emulator,
    ns: &str,
) -> Result<(Operator, Operator), String> {
    let a = start_replica(env, emulator, ns, "sso-operator-a").await?;
    wait_for_holder(env, "sso-operator-a", TAKEOVER_TIMEOUT).await?;
    wait_for_log(&a, "replica a", ACQUIRED_LOG).await?;
    let b = start_replica(env, emulator, ns, "sso-operator-b").await?;
    wait_for_log(&b, "replica b", WAITING_LOG).await?;
    Ok((a, b))
}

/// Two replicas: only the Lease holder reconciles while the standby waits idle; after a
/// SIGKILL of the leader the standby acquires the Lease and reconciles new resources.
pub async fn only_the_leader_reconciles_and_a_killed_leader_is_replaced(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    delete_lease(env).await?;
    let result = killed_leader_is_replaced(env, ns).await;
    let cleanup = delete_lease(env).await;
    result.and(cleanup)
}

async fn killed_leader_is_replaced(env: &Env, ns: &str) -> Result<(), String> {
    let emulator = env.start_emulator(&[]).await?;
    let (mut a, b) = leader_and_standby(env, &emulator, ns).await?;

    apply_and_wait_ready(env, ns, "first").await?;
    if holder(env).await?.as_deref() != Some("sso-operator-a") {
        return Err(format!(
            "the Lease moved without a failover: {:?}",
            lease(env).await?
        ));
    }
    let (metrics_a, metrics_b) = (a.metrics().await?, b.metrics().await?);
    if reconciles(&metrics_a) == 0 || connection_calls(&metrics_a) == 0 {
        return Err(format!(
            "the leader counted no reconcile or Auth0 call:\n{metrics_a}"
        ));
    }
    if reconciles(&metrics_b) != 0
        || connection_calls(&metrics_b) != 0
        || b.log_text().contains(ACQUIRED_LOG)
    {
        return Err(format!(
            "the standby reconciled while the leader held the Lease:\n{}",
            metrics_b
                .lines()
                .filter(|l| l.starts_with("sso_operator_reconciles")
                    || l.starts_with("sso_operator_auth0_requests"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if b.readyz().await? != 200 {
        return Err("the standby is not ready (it should be: it is healthy, just idle)".into());
    }

    a.kill9();
    let killed = Instant::now();
    // Nobody releases a killed leader's Lease: it still names it until it expires.
    if holder(env).await?.as_deref() != Some("sso-operator-a") {
        return Err(format!(
            "the Lease changed right after the SIGKILL: {:?}",
            lease(env).await?
        ));
    }
    wait_for_holder(env, "sso-operator-b", TAKEOVER_TIMEOUT).await?;
    println!(
        "  leader: standby took over {:.1}s after the SIGKILL (lease duration {LEASE_SECONDS}s)",
        killed.elapsed().as_secs_f64()
    );
    wait_for_log(&b, "replica b", ACQUIRED_LOG).await?;
    apply_and_wait_ready(env, ns, "second").await?;
    if reconciles(&b.metrics().await?) == 0 {
        return Err("the new leader counted no reconcile".into());
    }
    let stats = emulator.stats().await?;
    let creates = stats["POST /api/v2/connections 201"].as_u64().unwrap_or(0);
    if creates != 2 {
        return Err(format!("{creates} connections created for 2 resources"));
    }
    no_errors_logged(&[&a, &b])?;
    env.scan_for_secrets(&[
        ("leader log", &a.log_text()),
        ("standby log", &b.log_text()),
    ])
}

/// Leader election logs no error (e.g. a Lease permission the RBAC lacks).
fn no_errors_logged(replicas: &[&Operator]) -> Result<(), String> {
    let errors: Vec<String> = replicas
        .iter()
        .flat_map(|r| {
            r.log_text()
                .lines()
                .filter(|l| l.contains("\"level\":\"ERROR\""))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("errors logged:\n{}", errors.join("\n")))
    }
}

/// A leader stopped with SIGTERM releases the Lease before it exits, and the standby takes
/// over and reconciles.
pub async fn a_leader_stopped_gracefully_releases_the_lease(
    env: &Env,
    ns: &str,
) -> Result<(), String> {
    delete_lease(env).await?;
    let result = graceful_handover(env, ns).await;
    let cleanup = delete_lease(env).await;
    result.and(cleanup)
}

async fn graceful_handover(env: &Env, ns: &str) -> Result<(), String> {
    let emulator = env.start_emulator(&[]).await?;
    let (mut a, mut b) = leader_and_standby(env, &emulator, ns).await?;
    apply_and_wait_ready(env, ns, "first").await?;

    let stopped = Instant::now();
    if !a.stop() {
        return Err(format!(
            "the leader did not exit within 10 s of SIGTERM:\n{}",
            a.log_tail(10)
        ));
    }
    // Read at once: a released Lease names nobody (or already the standby), unlike after a
    // SIGKILL, where it keeps naming the dead leader until it expires.
    let after_stop = lease(env).await?;
    let now_holder = holder(env).await?;
    if now_holder.as_deref() == Some("sso-operator-a") || !a.log_text().contains(RELEASED_LOG) {
        return Err(format!(
            "the stopped leader did not release the Lease: {after_stop:?}\n{}",
            a.log_tail(10)
        ));
    }
    wait_for_holder(env, "sso-operator-b", TAKEOVER_TIMEOUT).await?;
    println!(
        "  leader: Lease free after SIGTERM (holder {now_holder:?}); standby took over {:.1}s after it",
        stopped.elapsed().as_secs_f64()
    );
    apply_and_wait_ready(env, ns, "second").await?;
    if reconciles(&b.metrics().await?) == 0 {
        return Err("the new leader counted no reconcile".into());
    }
    if !b.stop() || holder(env).await?.is_some() {
        return Err(format!(
            "the second leader did not release the Lease on SIGTERM: {:?}",
            lease(env).await?
        ));
    }
    no_errors_logged(&[&a, &b])
}
