//! `plan` and `apply` without a cluster: SsoConnection, ConfigMap and Secret manifests from
//! files, reconciled against Auth0 through the same core as the controller.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::auth0::{Auth0Client, Auth0Config};
use crate::cli::{OfflineArgs, OutputFormat};
use crate::crd::{
    Auth0Tenant, ClusterAuth0Tenant, SsoConnection, TenantConnection, TenantKind, TenantRef,
};
use crate::emulator;
use crate::ownership::Adoption;
use crate::plan::ChangeKind;
use crate::reconcile::{self, Claimant, Sources, SyncError, SyncOptions, Tenant, UrlDocument};
use crate::status::Reason;
use crate::tenants::{ClientDefaults, tenant_config};

/// Why manifests could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A path could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// A document is not valid YAML or not a valid object of its kind.
    #[error("{path}: document {index}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based document index in the file.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// The objects read from manifest files.
#[derive(Default)]
pub struct Manifests {
    /// SsoConnections in file order.
    pub connections: Vec<SsoConnection>,
    /// SamlApplications in file order.
    pub applications: Vec<crate::crd::SamlApplication>,
    config_maps: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    secrets: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    /// `ClusterAuth0Tenant`s by name.
    cluster_tenants: BTreeMap<String, ClusterAuth0Tenant>,
    /// `Auth0Tenant`s by namespace and name.
    tenants: BTreeMap<(String, String), Auth0Tenant>,
    /// Documents of other kinds that were ignored, as `kind name` strings.
    pub ignored: Vec<String>,
    /// `--allow-private-metadata-urls` for `metadata.url` sources, fetched once per run.
    pub allow_private_metadata_urls: bool,
}

impl Manifests {
    /// The tenant connection settings and credentials of `tenant_ref` from the manifests: an
    /// `Auth0Tenant` in `namespace` with its Secret there, or a `ClusterAuth0Tenant` with its
    /// Secret in `cluster_resource_namespace`. Policies are the cluster's business and are not
    /// applied offline (whoever runs `apply` holds the tenant's credentials anyway).
    fn tenant_of(
        &self,
        tenant_ref: &TenantRef,
        namespace: &str,
        cluster_resource_namespace: &str,
    ) -> Result<(TenantConnection, String), String> {
        match tenant_ref.kind {
            TenantKind::ClusterAuth0Tenant => self
                .cluster_tenants
                .get(&tenant_ref.name)
                .map(|t| {
                    (
                        t.spec.connection.clone(),
                        cluster_resource_namespace.to_string(),
                    )
                })
                .ok_or_else(|| {
                    format!(
                        "ClusterAuth0Tenant {} (spec.tenantRef) is not among the manifests",
                        tenant_ref.name
                    )
                }),
            TenantKind::Auth0Tenant => self
                .tenants
                .get(&(namespace.to_string(), tenant_ref.name.clone()))
                .map(|t| (t.spec.connection.clone(), namespace.to_string()))
                .ok_or_else(|| {
                    format!(
                        "Auth0Tenant {namespace}/{} (spec.tenantRef) is not among the manifests",
                        tenant_ref.name
                    )
                }),
        }
    }
}

impl Sources for Manifests {
    /// `metadata.url` is fetched as the operator would (same address rules), without a cache.
    async fn url_document(&self, res: &SsoConnection) -> Result<UrlDocument, SyncError> {
        let source = &res.spec.metadata;
        let url = source.url.as_deref().unwrap_or_default();
        let request = crate::metadata_url::fetch::Request {
            url,
            ca_bundle: source.ca_bundle.as_deref(),
            allow_private: self.allow_private_metadata_urls,
            ..Default::default()
        };
        match crate::metadata_url::fetch::fetch(&request).await {
            Ok(crate::metadata_url::fetch::Fetched::Document { body, .. }) => Ok(UrlDocument {
                sha256: crate::reconcile::sha256_hex(&body),
                xml: std::sync::Arc::new(body),
            }),
            Ok(crate::metadata_url::fetch::Fetched::NotModified) => {
                Err(SyncError::MetadataUnreachable(
                    "the metadata server answered 304 Not Modified to a request without conditions"
                        .into(),
                ))
            }
            Err(crate::metadata_url::fetch::FetchError::Refused(message)) => {
                Err(SyncError::Denied {
                    reason: crate::status::Reason::MetadataUrlNotAllowed,
                    message,
                })
            }
            Err(crate::metadata_url::fetch::FetchError::Unreachable(message)) => {
                Err(SyncError::MetadataUnreachable(message))
            }
        }
    }

    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        Ok(self
            .config_maps
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }

    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        Ok(self
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }
}

/// Reads every `.yaml`, `.yml` and `.json` file named or inside a named directory (sorted,
/// not recursive), multi-document YAML included.
pub fn load_manifests(
    paths: &[PathBuf],
    default_namespace: &str,
) -> Result<Manifests, ManifestError> {
    let mut files = Vec::new();
    for path in paths {
        let io = |e: std::io::Error| ManifestError::Io {
            path: path.clone(),
            message: e.to_string(),
        };
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                })
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    let mut out = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| ManifestError::Io {
            path: file.clone(),
            message: e.to_string(),
        })?;
        add_documents(&mut out, &file, &text, default_namespace)?;
    }
    Ok(out)
}

fn add_documents(
    out: &mut Manifests,
    file: &Path,
    text: &str,
    default_namespace: &str,
) -> Result<(), ManifestError> {
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let invalid = |message: String| ManifestError::Invalid {
            path: file.to_path_buf(),
            index: i + 1,
            message,
        };
        let value: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| invalid(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let namespace = value["metadata"]["namespace"]
            .as_str()
            .unwrap_or(default_namespace)
            .to_string();
        match (api_version.as_str(), kind.as_str()) {
            ("sso-operator.io/v1alpha1", "SsoConnection") => {
                let mut res: SsoConnection = serde_json::from_value(value)
                    .map_err(|e| invalid(format!("SsoConnection {name}: {e}")))?;
                res.metadata.namespace = Some(namespace);
                res.metadata.generation.get_or_insert(1);
                out.connections.push(res);
            }
            ("sso-operator.io/v1alpha1", "SamlApplication") => {
                let mut res: crate::crd::SamlApplication = serde_json::from_value(value)
                    .map_err(|e| invalid(format!("SamlApplication {name}: {e}")))?;
                res.metadata.namespace = Some(namespace);
                res.metadata.generation.get_or_insert(1);
                out.applications.push(res);
            }
            ("sso-operator.io/v1alpha1", "ClusterAuth0Tenant") => {
                let tenant: ClusterAuth0Tenant = serde_json::from_value(value)
                    .map_err(|e| invalid(format!("ClusterAuth0Tenant {name}: {e}")))?;
                out.cluster_tenants.insert(name, tenant);
            }
            ("sso-operator.io/v1alpha1", "Auth0Tenant") => {
                let tenant: Auth0Tenant = serde_json::from_value(value)
                    .map_err(|e| invalid(format!("Auth0Tenant {name}: {e}")))?;
                out.tenants.insert((namespace, name), tenant);
            }
            ("v1", "ConfigMap") => {
                let mut data = BTreeMap::new();
                if let Some(m) = value["data"].as_object() {
                    for (k, v) in m {
                        data.insert(
                            k.clone(),
                            v.as_str().unwrap_or_default().as_bytes().to_vec(),
                        );
                    }
                }
                if let Some(m) = value["binaryData"].as_object() {
                    for (k, v) in m {
                        let bytes = B64.decode(v.as_str().unwrap_or_default()).map_err(|e| {
                            invalid(format!("ConfigMap {name} binaryData.{k}: {e}"))
                        })?;
                        data.insert(k.clone(), bytes);
                    }
                }
                out.config_maps.insert((namespace, name), data);
            }
            ("v1", "Secret") => {
                let mut data = BTreeMap::new();
                if let Some(m) = value["data"].as_object() {
                    for (k, v) in m {
                        let bytes = B64.decode(v.as_str().unwrap_or_default()).map_err(|e| {
                            invalid(format!("Secret {name} data.{k} is not base64: {e}"))
                        })?;
                        data.insert(k.clone(), bytes);
                    }
                }
                if let Some(m) = value["stringData"].as_object() {
                    for (k, v) in m {
                        data.insert(
                            k.clone(),
                            v.as_str().unwrap_or_default().as_bytes().to_vec(),
                        );
                    }
                }
                out.secrets.insert((namespace, name), data);
            }
            _ => out.ignored.push(format!("{kind} {name}")),
        }
    }
    Ok(())
}

/// An Auth0 client and tenant for offline commands, plus the embedded emulator when used.
pub struct Target {
    /// The client.
    pub client: Auth0Client,
    /// Tenant facts for status.
    pub tenant: Tenant,
    /// Kept alive while the command runs.
    pub emulator: Option<emulator::RunningEmulator>,
}

/// Connects to the configured tenant; with no credentials, to `--auth0-url` with the
/// emulator's default client, or else to an embedded emulator (said on stderr).
pub async fn connect(args: &crate::cli::Auth0Args) -> Result<Target, String> {
    if let Some(config) = Auth0Config::from_args(args).map_err(|e| e.to_string())? {
        let tenant = Tenant::new(
            &config.domain,
            args.auth0_tenant.as_deref(),
            args.auth0_public_domain.as_deref(),
        );
        let client = Auth0Client::new(config).map_err(|e| e.to_string())?;
        return Ok(Target {
            client,
            tenant,
            emulator: None,
        });
    }
    let (base_url, running) = match &args.auth0_url {
        Some(url) => (url.clone(), None),
        None => {
            let running = emulator::start(emulator::EmulatorConfig {
                listen: ([127, 0, 0, 1], 0).into(),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot start the embedded Auth0 emulator: {e}"))?;
            eprintln!(
                "sso-operator: no Auth0 credentials configured (AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET): using the embedded Auth0 emulator at {}; nothing is sent to a real tenant",
                running.base_url()
            );
            (running.base_url(), Some(running))
        }
    };
    let emu_args = crate::cli::Auth0Args {
        auth0_domain: Some(
            args.auth0_domain
                .clone()
                .unwrap_or_else(|| "emulator.local".into()),
        ),
        auth0_client_id: Some(emulator::DEFAULT_CLIENT_ID.to_string()),
        auth0_client_secret: Some(emulator::DEFAULT_CLIENT_SECRET.to_string()),
        auth0_url: Some(base_url),
        ..args.clone()
    };
    let config = Auth0Config::from_args(&emu_args)
        .map_err(|e| e.to_string())?
        .ok_or("emulator configuration incomplete")?;
    let tenant = Tenant::new(
        &config.domain,
        args.auth0_tenant.as_deref(),
        args.auth0_public_domain.as_deref(),
    );
    let client = Auth0Client::new(config).map_err(|e| e.to_string())?;
    Ok(Target {
        client,
        tenant,
        emulator: running,
    })
}

/// Runs `plan` (`apply == false`) or `apply` and prints the result; exit 0 when every
/// connection is (or would be) in sync, 1 when any failed, 2 on unusable input.
pub async fn run(args: &OfflineArgs, apply: bool) -> ExitCode {
    let manifests = match load_manifests(&args.files, &args.namespace) {
        Ok(m) => Manifests {
            allow_private_metadata_urls: args.allow_private_metadata_urls,
            ..m
        },
        Err(e) => {
            eprintln!("sso-operator: {e}");
            return ExitCode::from(2);
        }
    };
    if manifests.connections.is_empty() && manifests.applications.is_empty() {
        eprintln!(
            "sso-operator: no SsoConnection or SamlApplication (apiVersion sso-operator.io/v1alpha1) found in {}",
            args.files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::from(2);
    }
    let target = match connect(&args.auth0).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sso-operator: {e}");
            return ExitCode::from(2);
        }
    };
    let now = jiff::Timestamp::now();
    let mut results = Vec::new();
    let mut failed = 0;
    let defaults = ClientDefaults {
        rate_per_second: args.auth0.auth0_rate_limit,
        burst: args.auth0.auth0_rate_burst.max(1),
        request_timeout: std::time::Duration::from_secs(args.auth0.auth0_timeout_seconds.max(1)),
    };
    // One client per tenant resource, shared by its connections.
    let mut clients: BTreeMap<String, (Auth0Client, Tenant)> = BTreeMap::new();
    for res in &manifests.connections {
        let opts = SyncOptions {
            dry_run: !apply,
            recheck_clients: true,
            ..SyncOptions::default()
        };
        let namespace = res.metadata.namespace.clone().unwrap_or_default();
        let tenant = tenant_of(
            &manifests,
            &mut clients,
            &target,
            res.spec.tenant_ref.as_ref(),
            &namespace,
            &args.cluster_resource_namespace,
            &defaults,
        );
        let outcome = match &tenant {
            Ok((client, _)) => {
                let claimant = Claimant::new(res, &args.cluster_id, Adoption::Unowned);
                reconcile::sync_connection(client, res, &claimant, &manifests, opts, now).await
            }
            Err(message) => Err(SyncError::Denied {
                reason: Reason::TenantNotFound,
                message: message.clone(),
            }),
        };
        if outcome.is_err() {
            failed += 1;
        }
        let facts = tenant
            .map(|t| t.1)
            .unwrap_or_else(|_| target.tenant.clone());
        results.push(render_result(res, outcome, &facts, apply, now));
    }
    for res in &manifests.applications {
        let namespace = res.metadata.namespace.clone().unwrap_or_default();
        let tenant = tenant_of(
            &manifests,
            &mut clients,
            &target,
            res.spec.tenant_ref.as_ref(),
            &namespace,
            &args.cluster_resource_namespace,
            &defaults,
        );
        let outcome = match &tenant {
            Ok((client, _)) => {
                let owner = crate::saml_app::sync::owner_of(res, &args.cluster_id);
                crate::saml_app::sync::sync_application(
                    client,
                    res,
                    &owner,
                    Adoption::Unowned,
                    &manifests,
                    !apply,
                )
                .await
            }
            Err(message) => Err(SyncError::Denied {
                reason: Reason::TenantNotFound,
                message: message.clone(),
            }),
        };
        if outcome.is_err() {
            failed += 1;
        }
        let facts = tenant
            .map(|t| t.1)
            .unwrap_or_else(|_| target.tenant.clone());
        results.push(render_application(res, outcome, &facts, apply, now));
    }
    let mut stdout = std::io::stdout().lock();
    let text = match args.output {
        OutputFormat::Json => {
            serde_json::to_string_pretty(&Value::Array(
                results.iter().map(|r| r.json.clone()).collect(),
            ))
            .unwrap_or_default()
                + "\n"
        }
        OutputFormat::Table => results
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let _ = stdout.write_all(text.as_bytes());
    drop(target);
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The client and tenant facts for a resource's `tenantRef` (the target's without one); one
/// client per tenant resource, shared by its resources.
fn tenant_of(
    manifests: &Manifests,
    clients: &mut BTreeMap<String, (Auth0Client, Tenant)>,
    target: &Target,
    tenant_ref: Option<&crate::crd::TenantRef>,
    namespace: &str,
    cluster_resource_namespace: &str,
    defaults: &ClientDefaults,
) -> Result<(Auth0Client, Tenant), String> {
    match tenant_ref {
        None => Ok((target.client.clone(), target.tenant.clone())),
        Some(r) => {
            let id = format!("{:?}/{namespace}/{}", r.kind, r.name);
            match clients.get(&id) {
                Some(found) => Ok(found.clone()),
                None => manifests
                    .tenant_of(r, namespace, cluster_resource_namespace)
                    .and_then(|(spec, secret_ns)| {
                        let secret = manifests
                            .secrets
                            .get(&(secret_ns.clone(), spec.credentials_secret_ref.name.clone()));
                        tenant_config(&spec, &secret_ns, secret, defaults).map_err(|p| p.message)
                    })
                    .and_then(|(config, facts)| {
                        Auth0Client::new(config)
                            .map(|c| (c, facts))
                            .map_err(|e| e.to_string())
                    })
                    .inspect(|found| {
                        clients.insert(id, found.clone());
                    }),
            }
        }
    }
}

fn render_application(
    res: &crate::crd::SamlApplication,
    outcome: Result<crate::saml_app::sync::AppSynced, SyncError>,
    tenant: &Tenant,
    apply: bool,
    now: jiff::Timestamp,
) -> Rendered {
    let key = format!(
        "{}/{}",
        res.metadata.namespace.as_deref().unwrap_or_default(),
        res.metadata.name.as_deref().unwrap_or_default()
    );
    let name = res.application_name();
    match outcome {
        Err(err) => Rendered {
            text: format!(
                "samlapplication {key} (Auth0 application {name}): FAILED {}: {err}\n",
                err.reason().as_str()
            ),
            json: json!({
                "resource": key, "application": name,
                "error": {"reason": err.reason().as_str(), "message": err.to_string()},
            }),
        },
        Ok(synced) => {
            let action = if apply {
                synced.action.as_str()
            } else if synced.is_create {
                "create"
            } else if synced.diff.is_empty() {
                "unchanged"
            } else {
                "update"
            };
            let mut text = format!("samlapplication {key} (Auth0 application {name}): {action}\n");
            for line in synced.diff.to_string().lines() {
                text.push_str("  ");
                text.push_str(line);
                text.push('\n');
            }
            let mut json = json!({
                "resource": key, "application": name, "action": action,
                "clientId": synced.client_id, "changes": changes_json(&synced.diff),
            });
            if apply {
                let status = crate::saml_app::sync::synced_status(res, &synced, tenant, now);
                json["status"] = serde_json::to_value(&status).unwrap_or_default();
            }
            Rendered { text, json }
        }
    }
}

fn changes_json(diff: &crate::plan::Diff) -> Vec<Value> {
    diff.changes
        .iter()
        .map(|c| {
            json!({"key": c.key, "kind": match c.kind { ChangeKind::Added => "added", ChangeKind::Changed => "changed", ChangeKind::Removed => "removed" }, "before": c.before, "after": c.after})
        })
        .collect()
}

struct Rendered {
    text: String,
    json: Value,
}

fn render_result(
    res: &SsoConnection,
    outcome: Result<reconcile::Synced, reconcile::SyncError>,
    tenant: &Tenant,
    apply: bool,
    now: jiff::Timestamp,
) -> Rendered {
    let key = res.owner_key();
    let name = res.connection_name();
    match outcome {
        Err(err) => {
            let status = reconcile::failed_status(res, &err, now);
            let text = format!(
                "ssoconnection {key} (Auth0 connection {name}): FAILED {}: {err}\n",
                err.reason().as_str()
            );
            let mut json = json!({
                "resource": key, "connection": name,
                "error": {"reason": err.reason().as_str(), "message": err.to_string()},
            });
            if apply {
                json["status"] = serde_json::to_value(&status).unwrap_or_default();
            }
            Rendered { text, json }
        }
        Ok(synced) => {
            let changes = changes_json(&synced.diff);
            let action = if apply {
                synced.action.as_str()
            } else if synced.is_create {
                "create"
            } else if synced.diff.is_empty() {
                "unchanged"
            } else {
                "update"
            };
            let mut text = format!("ssoconnection {key} (Auth0 connection {name}): {action}\n");
            if !synced.diff.is_empty() {
                for line in synced.diff.to_string().lines() {
                    text.push_str("  ");
                    text.push_str(line);
                    text.push('\n');
                }
            }
            if !synced.enabled_clients_added.is_empty() {
                text.push_str(&format!(
                    "  enabled applications: {}\n",
                    synced.enabled_clients_added.join(", ")
                ));
            }
            let mut json = json!({
                "resource": key, "connection": name, "action": action,
                "connectionId": synced.connection_id, "changes": changes,
            });
            if apply {
                let status = reconcile::synced_status(res, &synced, tenant, now);
                let status_yaml =
                    serde_yaml::to_string(&json!({ "status": status })).unwrap_or_default();
                for line in status_yaml.lines() {
                    text.push_str("  ");
                    text.push_str(line);
                    text.push('\n');
                }
                json["status"] = serde_json::to_value(&status).unwrap_or_default();
            }
            Rendered { text, json }
        }
    }
}
