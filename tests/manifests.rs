//! Contract tests: the shipped YAML (CRD, deploy/, the Helm chart, examples) agrees with the
//! Rust types and with itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

const CHART: &str = "charts/sso-operator";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Every YAML document of a file, as JSON values (empty documents skipped).
fn documents(rel: &str, text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .enumerate()
        .map(|(i, doc)| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{rel}: document {i} is not valid YAML: {e}"))
        })
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn crd_files_match_the_generated_crds() {
    let mut expected = BTreeSet::new();
    for crd in sso_operator::crd::all_crds() {
        let file = format!("crds/{}", sso_operator::crd::crd_file_name(&crd));
        let generated = serde_yaml::to_string(&crd).expect("CRD serialises");
        assert!(
            read(&file) == generated,
            "{file} is out of date with src/crd/; regenerate crds/ and the chart's copy:\n\n    scripts/generate-crds.sh"
        );
        expected.insert(file);
    }
    let present: BTreeSet<String> = yaml_files(&repo("crds")).iter().map(|p| rel(p)).collect();
    assert_eq!(present, expected, "crds/ holds exactly the served CRDs");
}

#[test]
fn chart_crds_are_byte_identical_to_crds() {
    for path in yaml_files(&repo("crds")) {
        let file = rel(&path);
        let chart_crd = format!("{CHART}/{file}");
        assert!(
            read(&chart_crd) == read(&file),
            "{chart_crd} differs from {file}; regenerate: scripts/generate-crds.sh"
        );
    }
    assert_eq!(
        yaml_files(&repo(&format!("{CHART}/crds"))).len(),
        yaml_files(&repo("crds")).len(),
        "the chart ships exactly the CRDs of crds/"
    );
}

#[test]
fn every_deploy_manifest_is_a_kubernetes_object() {
    // deploy/monitoring/ holds a Prometheus rule file, checked by tests/monitoring.rs.
    let monitoring = repo("deploy/monitoring");
    for path in yaml_files(&repo("deploy")) {
        if path.starts_with(&monitoring) {
            continue;
        }
        let name = rel(&path);
        let text = std::fs::read_to_string(&path).expect("readable");
        let docs = documents(&name, &text);
        assert!(!docs.is_empty(), "{name} holds no document");
        for doc in docs {
            for field in ["apiVersion", "kind"] {
                assert!(
                    doc[field].is_string(),
                    "{name}: a document lacks {field}: {doc}"
                );
            }
        }
    }
    for file in ["values.yaml", "Chart.yaml"] {
        let name = format!("{CHART}/{file}");
        let docs = documents(&name, &read(&name));
        assert_eq!(docs.len(), 1, "{name} must be one YAML document");
    }
}

#[test]
fn kustomization_lists_every_operator_manifest_and_no_credentials() {
    let kustomization = documents(
        "deploy/kustomization.yaml",
        &read("deploy/kustomization.yaml"),
    );
    let listed: BTreeSet<String> = kustomization[0]["resources"]
        .as_array()
        .expect("resources list")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_string())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo("deploy"))
        .expect("deploy/ exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml" && !n.contains(".example."))
        .collect();
    assert_eq!(
        listed, on_disk,
        "deploy/kustomization.yaml must list exactly the operator manifests"
    );
    for doc in listed
        .iter()
        .flat_map(|f| documents(f, &read(&format!("deploy/{f}"))))
    {
        assert_ne!(
            doc["kind"], "Secret",
            "credentials must never be part of the kustomization: {doc}"
        );
        if let Some(ns) = doc["metadata"]["namespace"].as_str() {
            assert_eq!(
                ns, "sso-operator",
                "everything lives in the sso-operator namespace: {doc}"
            );
        }
    }
}

#[test]
fn deployment_runs_unprivileged_with_probes() {
    let docs = documents("deploy/deployment.yaml", &read("deploy/deployment.yaml"));
    let pod = &docs[0]["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        c["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert_eq!(
        c["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["args"][0], "run");
    let secret_env: Vec<&str> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter(|e| e["valueFrom"]["secretKeyRef"].is_object())
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        secret_env,
        ["AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"]
    );
    assert!(
        c["env"]
            .as_array()
            .expect("env")
            .iter()
            .all(|e| e.get("value").is_none() || e["name"] == "SSO_LOG_FORMAT"),
        "no credential may be written inline in the Deployment"
    );
}

/// `original` ⊆ `reserialised`: every field the user wrote survives a round trip through
/// the Rust type, so a misspelt or unknown field is caught. Empty lists equal absent ones.
fn assert_subset(path: &str, original: &Value, reserialised: &Value) {
    match (original, reserialised) {
        (Value::Object(o), Value::Object(r)) => {
            for (k, v) in o {
                let empty = v.as_array().is_some_and(Vec::is_empty) || v.is_null();
                match r.get(k) {
                    Some(rv) => assert_subset(&format!("{path}.{k}"), v, rv),
                    None if empty => {}
                    None => {
                        panic!("{path}.{k} is not a field of SsoConnection (misspelt or unknown)")
                    }
                }
            }
        }
        // Objects in a list may gain defaulted fields too (e.g. an organization's
        // showAsButton): compare element by element.
        (Value::Array(o), Value::Array(r)) if o.len() == r.len() => {
            for (i, (ov, rv)) in o.iter().zip(r).enumerate() {
                assert_subset(&format!("{path}[{i}]"), ov, rv);
            }
        }
        (o, r) => assert_eq!(o, r, "{path} changed in a round trip through SsoConnection"),
    }
}

#[test]
fn examples_deserialise_strictly_and_ship_their_configmap() {
    let files = yaml_files(&repo("deploy/examples"));
    assert!(
        files.len() >= 2,
        "deploy/examples/ should hold the acme and fabrikam examples"
    );
    for path in files {
        let name = rel(&path);
        let docs = documents(&name, &std::fs::read_to_string(&path).expect("readable"));
        let connections: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "SsoConnection")
            .collect();
        let applications: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "SamlApplication")
            .collect();
        assert!(
            !connections.is_empty() || !applications.is_empty(),
            "{name} has no SsoConnection or SamlApplication"
        );
        for doc in applications {
            assert!(
                doc["metadata"]["namespace"].is_null(),
                "{name}: no namespace"
            );
            let app: sso_operator::crd::SamlApplication = serde_json::from_value(doc.clone())
                .unwrap_or_else(|e| panic!("{name}: not a valid SamlApplication: {e}"));
            let back = serde_json::to_value(&app).expect("serialises");
            assert_subset(&name, &doc["spec"], &back["spec"]);
            if let Some(source) = &app.spec.sp_metadata {
                let r = &source.config_map_ref;
                let cm = docs
                    .iter()
                    .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == r.name.as_str())
                    .unwrap_or_else(|| panic!("{name}: ConfigMap {} is not in the file", r.name));
                let xml = cm["data"][&r.key].as_str().expect("SP metadata");
                sso_operator::metadata::sp::parse_sp_metadata(xml, None)
                    .unwrap_or_else(|e| panic!("{name}: the SP metadata does not parse: {e}"));
            }
        }
        for doc in connections {
            assert!(
                doc["metadata"]["namespace"].is_null(),
                "{name}: examples name no namespace (applied with -n)"
            );
            let sso: sso_operator::crd::SsoConnection = serde_json::from_value(doc.clone())
                .unwrap_or_else(|e| panic!("{name}: not a valid SsoConnection: {e}"));
            let back = serde_json::to_value(&sso).expect("serialises");
            assert_subset(&name, &doc["spec"], &back["spec"]);

            let Some(cm_ref) = &sso.spec.metadata.config_map_ref else {
                continue;
            };
            let cm = docs
                .iter()
                .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == cm_ref.name.as_str())
                .unwrap_or_else(|| {
                    panic!("{name}: ConfigMap {} is not in the same file", cm_ref.name)
                });
            let xml = cm["data"][&cm_ref.key].as_str().unwrap_or_else(|| {
                panic!(
                    "{name}: ConfigMap {} has no data key {}",
                    cm_ref.name, cm_ref.key
                )
            });
            assert!(
                xml.starts_with("<?xml") && xml.trim_end().ends_with("EntityDescriptor>"),
                "{name}: the metadata in {} is not a whole XML document",
                cm_ref.name
            );
        }
    }
}

/// (apiGroup, resource, verb) triples.
type Grants = BTreeSet<(String, String, String)>;

/// The grants of every `rules:` entry: (operator rules, leader-election rules).
fn rbac_grants(name: &str, text: &str) -> (Grants, Grants) {
    let mut operator = BTreeSet::new();
    let mut leases = BTreeSet::new();
    for doc in documents(name, text) {
        let Some(rules) = doc["rules"].as_array() else {
            continue;
        };
        let leader = doc["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("leader-election"))
            || rules.iter().any(|r| {
                r["resources"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|x| x == "leases"))
            });
        for rule in rules {
            for group in rule["apiGroups"].as_array().expect("apiGroups") {
                for resource in rule["resources"].as_array().expect("resources") {
                    for verb in rule["verbs"].as_array().expect("verbs") {
                        let triple = (
                            group.as_str().expect("string").to_string(),
                            resource.as_str().expect("string").to_string(),
                            verb.as_str().expect("string").to_string(),
                        );
                        if leader { &mut leases } else { &mut operator }.insert(triple);
                    }
                }
            }
        }
    }
    (operator, leases)
}

#[test]
fn chart_and_deploy_grant_the_same_rbac() {
    let deploy = rbac_grants("deploy/rbac.yaml", &read("deploy/rbac.yaml"));
    let template = read(&format!("{CHART}/templates/rbac.yaml"));
    // Rule lines carry no template actions (the template says so), so dropping template
    // comments and every line with an action leaves the rules intact and the rest parseable.
    let mut text = template.as_str();
    let mut without_comments = String::new();
    while let Some(start) = text.find("{{- /*").or_else(|| text.find("{{/*")) {
        without_comments.push_str(&text[..start]);
        let end = text[start..]
            .find("*/}}")
            .expect("template comment is closed");
        text = &text[start + end + 4..];
    }
    without_comments.push_str(text);
    let stripped: String = without_comments
        .lines()
        .filter(|l| !l.contains("{{") && !l.contains("}}"))
        .map(|l| format!("{l}\n"))
        .collect();
    let chart = rbac_grants("chart rbac.yaml (template actions stripped)", &stripped);
    assert!(
        !deploy.0.is_empty() && !deploy.1.is_empty(),
        "deploy/rbac.yaml grants nothing?"
    );
    assert_eq!(
        deploy.0, chart.0,
        "operator rules differ between deploy/rbac.yaml and the chart"
    );
    assert_eq!(
        deploy.1, chart.1,
        "leader-election rules differ between deploy/rbac.yaml and the chart"
    );
    assert!(
        !deploy
            .0
            .iter()
            .any(|(_, _, verb)| verb == "delete" || verb == "*"),
        "the operator never deletes Kubernetes objects; ownerReferences do"
    );
}
