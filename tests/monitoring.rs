//! The Prometheus alerting rules (`deploy/monitoring/alerts.yaml`) and the Grafana dashboard
//! (`deploy/monitoring/dashboard.json`): promtool accepts the rules and passes their unit tests,
//! every metric they name is one the operator exports, and the chart ships the same files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sso_operator::metrics::{CertificateLabels, Metrics, RequestLabels};

const ALERTS: &str = "deploy/monitoring/alerts.yaml";
const ALERTS_TEST: &str = "tests/monitoring/alerts_test.yaml";
const DASHBOARD: &str = "deploy/monitoring/dashboard.json";
const CHART_FILES: &str = "charts/sso-operator/files";
const PROMTOOL: &str = "promtool";

/// Labels Prometheus or a ServiceMonitor attaches to every scraped series.
const TARGET_LABELS: [&str; 7] = [
    "job",
    "instance",
    "namespace",
    "pod",
    "service",
    "container",
    "endpoint",
];

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

fn promtool(args: &[&str]) -> String {
    let out = match Command::new(PROMTOOL)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{PROMTOOL} is not installed, and the alerting rules cannot be checked without it: \
             apt-get install -y prometheus (scripts/install-testenv.sh)"
        ),
        Err(e) => panic!("cannot run {PROMTOOL}: {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{PROMTOOL} {} failed:\n{text}",
        args.join(" ")
    );
    text
}

#[test]
fn promtool_accepts_the_rules() {
    let out = promtool(&["check", "rules", ALERTS]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    let out = promtool(&["test", "rules", ALERTS_TEST]);
    assert!(out.contains("SUCCESS"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// The operator's exposition

/// Series name → label names, from `/metrics` as the operator renders it, with every family
/// populated so that each prints samples.
fn exposition() -> BTreeMap<String, BTreeSet<String>> {
    let m = Metrics::new();
    for outcome in ["created", "updated", "unchanged", "error"] {
        m.count_outcome(outcome);
    }
    m.count_error(sso_operator::status::Reason::InvalidMetadata);
    m.duration.observe(0.2);
    m.auth0_requests
        .get_or_create(&RequestLabels {
            operation: "PATCH /connections/{id}".into(),
            status: "429".into(),
        })
        .set(1);
    m.encryption_failures.inc();
    m.soonest_cert_expiry.set(2_000_000_000.0);
    // A family without series prints nothing: one series, as a synced resource has.
    m.certificate_expiration
        .get_or_create(&CertificateLabels {
            namespace: "ns".into(),
            name: "acme".into(),
            certificate: "idp-signing".into(),
        })
        .set(2_000_000_000);
    let resource = sso_operator::metrics::ResourceLabels {
        namespace: "ns".into(),
        name: "acme".into(),
    };
    m.metadata_fetch_failing.get_or_create(&resource).set(1);
    m.metadata_last_success
        .get_or_create(&resource)
        .set(1_800_000_000);
    m.ready_connections.set(1);
    m.connections.set(2);
    let text = m.encode();
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, labels) = split_series(line.rsplit_once(' ').map_or(line, |(s, _)| s));
        series.entry(name).or_default().extend(labels);
    }
    assert!(
        series.len() >= 10,
        "too few series parsed from the exposition:\n{text}"
    );
    series
}

/// `name{a="x",b=~"y"}` → (`name`, [`a`, `b`]); quoted values may hold any character.
fn split_series(series: &str) -> (String, Vec<String>) {
    let series = series.trim();
    let Some((name, rest)) = series.split_once('{') else {
        return (series.to_string(), Vec::new());
    };
    let body = rest.trim_end().strip_suffix('}').expect("closing brace");
    let mut labels = Vec::new();
    let mut in_string = false;
    let mut current = String::new();
    let mut escaped = false;
    for c in body.chars() {
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '=' | '!' | '~' => {
                if !current.trim().is_empty() {
                    labels.push(current.trim().to_string());
                }
                current.clear();
            }
            ',' => current.clear(),
            c => current.push(c),
        }
    }
    (name.trim().to_string(), labels)
}

/// Metric names in a PromQL expression: identifiers outside string literals that start with
/// `sso_operator_`, and `up`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            let mut escaped = false;
            for d in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' && c != '`' {
                    escaped = true;
                } else if d == c {
                    break;
                }
            }
            previous = c;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut ident = String::from(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                    ident.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            // `$__rate_interval` and other Grafana variables are not metrics.
            if previous != '$' && (ident.starts_with("sso_operator_") || ident == "up") {
                names.insert(ident);
            }
            previous = 'a';
            continue;
        }
        previous = c;
    }
    names
}

#[test]
fn metric_names_are_found_in_promql_and_not_in_strings() {
    let names = metric_names(
        r#"sum by (reason) (rate(sso_operator_reconcile_errors_total{job="sso_operator_x", l=~'up'}[$__rate_interval])) / up"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["sso_operator_reconcile_errors_total".into(), "up".into()])
    );
}

/// Checks each name against the exposition (`up` is Prometheus's own).
fn assert_exported(what: &str, used: &BTreeSet<String>) {
    let exported = exposition();
    for name in used {
        assert!(
            name == "up" || exported.contains_key(name),
            "{what} uses {name}, which the operator does not export; it exports {:?}",
            exported.keys().collect::<Vec<_>>()
        );
    }
}

fn alert_rules() -> Vec<Value> {
    yaml(ALERTS)["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

#[test]
fn alerts_use_only_metrics_the_operator_exports() {
    let mut used = BTreeSet::new();
    for rule in alert_rules() {
        let expr = rule["expr"].as_str().expect("expr");
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric found in {expr}");
        used.extend(names);
    }
    for required in [
        "up",
        "sso_operator_reconcile_errors_total",
        "sso_operator_auth0_requests",
        "sso_operator_connections",
        "sso_operator_ready_connections",
        "sso_operator_idp_certificate_soonest_expiry_timestamp_seconds",
    ] {
        assert!(used.contains(required), "no alert uses {required}");
    }
    assert_exported(ALERTS, &used);
}

#[test]
fn every_alert_has_severity_summary_and_runbook_and_the_job_matcher() {
    for rule in alert_rules() {
        let name = rule["alert"].as_str().expect("only alerting rules");
        assert!(
            ["critical", "warning"].contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
            "{name}: severity must be critical or warning"
        );
        assert!(
            rule["annotations"]["summary"].is_string(),
            "{name}: no summary"
        );
        let description = rule["annotations"]["description"].as_str().unwrap_or("");
        assert!(
            description.contains("Runbook:"),
            "{name}: the description gives no runbook hint"
        );
        let expr = rule["expr"].as_str().expect("expr");
        for metric in metric_names(expr) {
            assert!(
                expr.contains(&format!("{metric}{{job=\"sso-operator\"")),
                "{name}: {metric} is not selected with job=\"sso-operator\" first (the chart \
                 rewrites that matcher)"
            );
        }
    }
}

#[test]
fn every_alert_fires_in_one_unit_test_and_stays_silent_in_another() {
    let tests = yaml(ALERTS_TEST);
    let mut fired = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in tests["tests"].as_array().expect("tests") {
        for check in case["alert_rule_test"].as_array().expect("alert_rule_test") {
            let name = check["alertname"].as_str().expect("alertname").to_string();
            if check["exp_alerts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                fired.insert(name);
            } else {
                silent.insert(name);
            }
        }
    }
    let alerts: BTreeSet<String> = alert_rules()
        .iter()
        .map(|r| r["alert"].as_str().expect("alert").to_string())
        .collect();
    assert_eq!(fired, alerts, "alerts seen firing in {ALERTS_TEST}");
    assert_eq!(silent, alerts, "alerts seen silent in {ALERTS_TEST}");
}

#[test]
fn unit_test_series_are_named_and_labelled_as_the_operator_exports_them() {
    let exported = exposition();
    let tests = yaml(ALERTS_TEST);
    let mut count = 0;
    for case in tests["tests"].as_array().expect("tests") {
        for input in case["input_series"].as_array().expect("input_series") {
            let (name, labels) = split_series(input["series"].as_str().expect("series"));
            count += 1;
            if name == "up" {
                continue;
            }
            let known = exported
                .get(&name)
                .unwrap_or_else(|| panic!("{ALERTS_TEST}: {name} is not exported"));
            for label in labels {
                // A series label that is also a target label is renamed `exported_…` by the
                // scrape (honor_labels: false).
                let renamed = label
                    .strip_prefix("exported_")
                    .is_some_and(|l| known.contains(l) && TARGET_LABELS.contains(&l));
                assert!(
                    renamed || known.contains(&label) || TARGET_LABELS.contains(&label.as_str()),
                    "{ALERTS_TEST}: {name} has no label {label} (it has {known:?})"
                );
            }
        }
    }
    assert!(count > 0, "no input series");
}

// ---------------------------------------------------------------------------------------------
// Dashboard

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Panels, including those inside rows.
fn panels(dashboard: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack: Vec<Value> = dashboard["panels"].as_array().expect("panels").clone();
    while let Some(panel) = stack.pop() {
        if let Some(inner) = panel["panels"].as_array() {
            stack.extend(inner.iter().cloned());
        }
        out.push(panel);
    }
    out
}

#[test]
fn dashboard_uses_only_metrics_the_operator_exports() {
    let dash = dashboard();
    let mut used = BTreeSet::new();
    for panel in panels(&dash) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a Prometheus target");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "no metric found in {expr}");
            used.extend(names);
        }
    }
    for variable in dash["templating"]["list"].as_array().expect("templating") {
        if let Some(query) = variable["query"]["query"].as_str() {
            used.extend(metric_names(query));
        }
    }
    for required in [
        "sso_operator_reconciles_total",
        "sso_operator_reconcile_errors_total",
        "sso_operator_reconcile_duration_seconds_bucket",
        "sso_operator_auth0_requests",
        "sso_operator_connections",
        "sso_operator_ready_connections",
        "sso_operator_idp_certificate_soonest_expiry_timestamp_seconds",
    ] {
        assert!(used.contains(required), "no panel uses {required}");
    }
    assert_exported(DASHBOARD, &used);
}

#[test]
fn dashboard_queries_the_datasource_variable() {
    let dash = dashboard();
    let variable = dash["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(variable["type"], "datasource");
    assert_eq!(variable["query"], "prometheus");
    for panel in panels(&dash) {
        let title = panel["title"].as_str().unwrap_or("?");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "panel {title}");
        for target in panel["targets"].as_array().into_iter().flatten() {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "target of {title}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Chart

#[test]
fn chart_ships_the_same_alerts_and_dashboard() {
    for (file, source) in [("alerts.yaml", ALERTS), ("dashboard.json", DASHBOARD)] {
        let copy = format!("{CHART_FILES}/{file}");
        assert!(
            read(&copy) == read(source),
            "{copy} differs from {source} (Helm cannot read files outside the chart); copy it:\n\n    cp {source} {copy}"
        );
    }
}

#[test]
fn chart_templates_read_those_files_behind_their_flags() {
    let values = yaml("charts/sso-operator/values.yaml");
    assert_eq!(values["metrics"]["prometheusRule"]["enabled"], false);
    assert_eq!(values["metrics"]["dashboard"]["enabled"], false);
    let rule = read("charts/sso-operator/templates/prometheusrule.yaml");
    assert!(rule.starts_with("{{- if .Values.metrics.prometheusRule.enabled }}"));
    assert!(rule.contains(".Files.Get \"files/alerts.yaml\""));
    assert!(rule.contains("kind: PrometheusRule"));
    let dash = read("charts/sso-operator/templates/dashboard-configmap.yaml");
    assert!(dash.starts_with("{{- if .Values.metrics.dashboard.enabled }}"));
    assert!(dash.contains(".Files.Get \"files/dashboard.json\""));
    assert!(dash.contains("grafana_dashboard: \"1\""));
}
