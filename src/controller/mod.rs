//! The in-cluster controller: kube-runtime wiring and the reconcile effects.
//!
//! One concern per file:
//! - [`watches`]: what is watched and how changes map to SsoConnections;
//! - [`sources`]: reading referenced ConfigMaps and Secrets;
//! - [`reconcile`]: one SsoConnection reconcile, phase by phase;
//! - [`metadata_source`]: `spec.metadata.url` in a reconcile (refresh, gate, status);
//! - [`lane`]: which lane of the request budget a reconcile takes (a person's work first);
//! - [`finalizer`]: the finalizer and deletion in Auth0;
//! - [`certificate`]: the encrypted certificate Secret;
//! - [`saml_app`]: `SamlApplication` reconciles (Auth0 as the SAML IdP) and its IdP metadata
//!   ConfigMap;
//! - [`scim`]: the SCIM token Secret (issue, rotate, revoke);
//! - [`sp_metadata`]: the SP metadata ConfigMap for the customer's IdP administrator;
//! - [`report`]: status writes and Events;
//! - this file: the shared [`Context`], requeue timing and `run`.

mod certificate;
mod dereference;
mod finalizer;
mod health;
mod lane;
mod metadata_source;
mod outcome;
mod reconcile;
mod report;
mod saml_app;
mod scim;
mod sources;
mod sp_metadata;
mod tenant;
mod watches;

pub use reconcile::reconcile;
pub use watches::controller;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use rand::Rng;

use crate::auth0::Auth0Client;
use crate::crd::{Auth0Tenant, ClusterAuth0Tenant, SsoConnection};
use crate::encrypt::Encryptor;
use crate::metrics::{CertificateLabels, Metrics, ResourceLabels};
use crate::reconcile::Tenant;
use crate::tenants::{ClientDefaults, TenantKey, Tenants};

/// Field manager for server-side apply.
pub const FIELD_MANAGER: &str = "sso-operator";
/// Finalizer added when `deletionPolicy: Delete`.
pub const FINALIZER: &str = "sso-operator.io/delete-auth0-connection";
/// Key of the ciphertext in the owned Secret.
pub const CIPHERTEXT_KEY: &str = "encryptedSigningCert";
/// Label on every Secret the operator owns (its metadata watch selects on it).
pub const MANAGED_LABEL: &str = "app.kubernetes.io/managed-by";
pub(crate) const ANN_BACKEND: &str = "sso-operator.io/encryption-backend";
pub(crate) const ANN_KEY_ID: &str = "sso-operator.io/encryption-key-id";
pub(crate) const ANN_CERT_SHA256: &str = "sso-operator.io/certificate-sha256";

/// Errors that stop a reconcile before it can report on the object itself.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Reading an object the resource references failed (not the resource's fault).
    #[error("{0}")]
    Read(String),
    /// The object lacks a namespace or name.
    #[error("object without namespace or name")]
    Unnamed,
}

/// Everything a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// The Auth0 tenants served (one client, token cache and request budget each).
    pub tenants: Arc<Tenants>,
    /// This cluster's id in ownership markers.
    pub cluster_id: String,
    /// Namespace of the credentials Secrets of `ClusterAuth0Tenant`s.
    pub cluster_resource_namespace: String,
    /// Settings tenant resources inherit from the flags.
    pub client_defaults: ClientDefaults,
    /// Certificate encryption, or why it is not configured.
    pub encryptor: Result<Encryptor, String>,
    /// Drift resync interval.
    pub resync: Duration,
    /// Certificate expiry warning window and notice thresholds.
    pub expiry: crate::expiry::ExpirySettings,
    /// `--allow-private-metadata-urls`.
    pub allow_private_metadata_urls: bool,
    /// The state of each resource's `metadata.url` (last good document, next fetch).
    pub metadata_urls: crate::metadata_url::cache::Cache<ObjectRef<SsoConnection>>,
    /// Metrics.
    pub metrics: Metrics,
    /// Event recorder.
    pub recorder: Recorder,
    /// The SsoConnection cache, once the controller runs (domain claims, tenant counts).
    pub store: OnceLock<reflector::Store<SsoConnection>>,
    /// The tenant caches, once their controllers run (a deleted tenant is forgotten).
    pub cluster_tenants: OnceLock<reflector::Store<ClusterAuth0Tenant>>,
    /// See [`Context::cluster_tenants`].
    pub namespaced_tenants: OnceLock<reflector::Store<Auth0Tenant>>,
    /// Reconciles SsoConnections at once (e.g. when their tenant becomes Ready).
    pub trigger: OnceLock<futures::channel::mpsc::UnboundedSender<ObjectRef<SsoConnection>>>,
    failures: Mutex<HashMap<ObjectRef<SsoConnection>, u32>>,
    /// Background reconciles deferred to a booked turn of the request budget, by resource.
    booked: Mutex<HashMap<ObjectRef<SsoConnection>, tokio::time::Instant>>,
    /// Resources this operator has synced since it started (the first sync after a start is
    /// a drift check).
    synced: Mutex<std::collections::HashSet<ObjectRef<SsoConnection>>>,
    /// Certificates synced to Auth0 whose encryption failed, by resource: retried without
    /// another Auth0 call while the spec and the metadata are unchanged.
    pending_encryption: Mutex<HashMap<ObjectRef<SsoConnection>, PendingEncryption>>,
}

/// A certificate whose Auth0 sync succeeded but whose encrypted copy is not stored yet.
#[derive(Clone)]
pub(crate) struct PendingEncryption {
    /// The resource generation it was synced for.
    pub generation: Option<i64>,
    /// SHA-256 of the metadata document it came from.
    pub metadata_sha256: String,
    /// The certificate to store.
    pub certificate: crate::certs::Certificate,
}

/// How the operator is set up, for [`Context::new`].
pub struct Settings {
    /// This cluster's id in ownership markers.
    pub cluster_id: String,
    /// Namespace of the credentials Secrets of `ClusterAuth0Tenant`s.
    pub cluster_resource_namespace: String,
    /// Settings tenant resources inherit from the flags.
    pub client_defaults: ClientDefaults,
    /// Drift resync interval.
    pub resync: Duration,
    /// Certificate expiry warning window and notice thresholds.
    pub expiry: crate::expiry::ExpirySettings,
    /// `--allow-private-metadata-urls`.
    pub allow_private_metadata_urls: bool,
}

impl Context {
    /// Builds the context.
    pub fn new(
        client: Client,
        tenants: Arc<Tenants>,
        encryptor: Result<Encryptor, String>,
        settings: Settings,
        metrics: Metrics,
        reporter: Reporter,
    ) -> Context {
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            tenants,
            cluster_id: settings.cluster_id,
            cluster_resource_namespace: settings.cluster_resource_namespace,
            client_defaults: settings.client_defaults,
            encryptor,
            resync: settings.resync,
            expiry: settings.expiry,
            allow_private_metadata_urls: settings.allow_private_metadata_urls,
            metadata_urls: Default::default(),
            metrics,
            store: OnceLock::new(),
            cluster_tenants: OnceLock::new(),
            namespaced_tenants: OnceLock::new(),
            trigger: OnceLock::new(),
            failures: Mutex::new(HashMap::new()),
            synced: Mutex::new(Default::default()),
            booked: Mutex::new(HashMap::new()),
            pending_encryption: Mutex::new(HashMap::new()),
        }
    }

    /// The pending encryption of `key`, if any.
    pub(crate) fn pending_encryption(
        &self,
        key: &ObjectRef<SsoConnection>,
    ) -> Option<PendingEncryption> {
        self.pending_encryption
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Records (`Some`) or clears (`None`) the pending encryption of `key`.
    pub(crate) fn set_pending_encryption(
        &self,
        key: &ObjectRef<SsoConnection>,
        pending: Option<PendingEncryption>,
    ) {
        let mut map = self
            .pending_encryption
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match pending {
            Some(p) => {
                map.insert(key.clone(), p);
            }
            None => {
                map.remove(key);
            }
        }
    }
}

impl Context {
    /// Time until the booked turn of `key` (zero when due), and forgets the booking.
    pub(crate) fn take_booking(
        &self,
        key: &ObjectRef<SsoConnection>,
    ) -> Option<std::time::Duration> {
        let mut booked = self.booked.lock().unwrap_or_else(|p| p.into_inner());
        let at = booked.remove(key)?;
        let left = at.saturating_duration_since(tokio::time::Instant::now());
        if !left.is_zero() {
            // Not its turn yet: the booking stands.
            booked.insert(key.clone(), at);
        }
        Some(left)
    }

    /// Books `key`'s turn `after` from now.
    pub(crate) fn book(&self, key: &ObjectRef<SsoConnection>, after: std::time::Duration) {
        self.booked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), tokio::time::Instant::now() + after);
    }

    /// Records that `key` was synced by this operator.
    pub(crate) fn mark_synced(&self, key: &ObjectRef<SsoConnection>) {
        self.synced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
    }

    /// Forgets what is kept in memory about `key` (it is being deleted): that it was synced,
    /// and any booked turn.
    pub(crate) fn forget(&self, key: &ObjectRef<SsoConnection>) {
        self.synced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.booked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Whether `key` was synced since the operator started.
    pub(crate) fn synced_before(&self, key: &ObjectRef<SsoConnection>) -> bool {
        self.synced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    /// Reconciles every other resource of `tenant` now: a new drift listing was taken for
    /// it, and checking them all against it makes it one pass for the tenant.
    pub(crate) fn check_tenant(&self, tenant: &TenantKey, except: &ObjectRef<SsoConnection>) {
        let (Some(store), Some(trigger)) = (self.store.get(), self.trigger.get()) else {
            return;
        };
        for res in store.state() {
            let key = ObjectRef::from_obj(&*res);
            if key != *except && TenantKey::of_resource(&res) == *tenant {
                let _ = trigger.unbounded_send(key);
            }
        }
    }

    /// Counts one more consecutive failure of `key`; returns the count (drives backoff).
    pub(super) fn record_failure(&self, key: &ObjectRef<SsoConnection>) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    }

    /// Forgets the failures of `key` after a success or a permanent error.
    pub(super) fn clear_failures(&self, key: &ObjectRef<SsoConnection>) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Per-object exponential backoff: 5 s doubling to 5 min, ±10% jitter, at least `floor`.
pub fn backoff(failures: u32, floor: Option<Duration>) -> Duration {
    let base = 5.0 * 2f64.powi(failures.saturating_sub(1).min(10) as i32);
    let secs = base.min(300.0) * rand::thread_rng().gen_range(0.9..1.1);
    let d = Duration::from_secs_f64(secs);
    floor.map_or(d, |f| d.max(f))
}

/// The longest resync interval: a resource's status (certificate expiry) is recomputed at
/// least this often.
pub const MAX_RESYNC_SECONDS: u64 = 86_400;

/// The resync interval with ±10% jitter, so resources loaded together do not resync together.
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::thread_rng().gen_range(0.9..1.1))
}

/// Requeue policy for errors that escaped `reconcile` (Kubernetes API failures).
pub fn error_policy(obj: Arc<SsoConnection>, err: &ControllerError, ctx: Arc<Context>) -> Action {
    let key = ObjectRef::from_obj(&*obj);
    let n = ctx.record_failure(&key);
    tracing::warn!(resource = %key, error = %err, "reconcile error");
    Action::requeue(backoff(n, None))
}

/// Waits until the store has seen the first complete list; `false` if its writer is gone.
///
/// `Store::wait_until_ready` alone is not enough: kube-runtime's ready signal is a oneshot
/// receiver that remembers only the waker of its latest poller, and the controller itself
/// waits on the same store after this task does, so this task would never be woken and
/// `/readyz` would stay 503 forever. Polling again now and then does not depend on the waker.
async fn wait_until_listed(store: &reflector::Store<SsoConnection>) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_millis(250), store.wait_until_ready()).await {
            Ok(result) => return result.is_ok(),
            Err(_elapsed) => continue,
        }
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run_controller(
    ctx: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    health: crate::server::Health,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    // Ready once every watch has listed, and again after each has listed again after an error.
    let watch_health = health::WatchHealth::new(health);
    let (controller, store) = controller(
        ctx.client.clone(),
        namespace.as_deref(),
        concurrency,
        &watch_health,
    );
    let _ = ctx.store.set(store.clone());
    let (trigger, triggered) = futures::channel::mpsc::unbounded();
    let _ = ctx.trigger.set(trigger);
    let controller = controller.reconcile_on(triggered);
    let shutdown = futures::FutureExt::shared(shutdown);
    let tenants = tokio::spawn(tenant::run_tenant_controllers(
        ctx.clone(),
        namespace.clone(),
        shutdown.clone(),
    ));
    let apps = tokio::spawn(saml_app::run_saml_application_controller(
        ctx.clone(),
        namespace.clone(),
        shutdown.clone(),
    ));
    let metrics = ctx.metrics.clone();
    let ready_store = store.clone();
    tokio::spawn(async move {
        if wait_until_listed(&ready_store).await {
            tracing::info!("initial list of SsoConnections done");
        }
    });
    let gauge_store = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        let mut expiry_series: std::collections::HashSet<CertificateLabels> = Default::default();
        let mut fetch_series: std::collections::HashSet<ResourceLabels> = Default::default();
        loop {
            tick.tick().await;
            let state = gauge_store.state();
            let ready = state
                .iter()
                .filter(|s| s.status.as_ref().is_some_and(reconcile::was_ready))
                .count();
            metrics.ready_connections.set(ready as i64);
            metrics.connections.set(state.len() as i64);
            let soonest = state
                .iter()
                .filter_map(|s| {
                    s.status
                        .as_ref()?
                        .signing_certificate
                        .as_ref()?
                        .not_after
                        .parse::<Timestamp>()
                        .ok()
                })
                .min();
            if let Some(t) = soonest {
                metrics.soonest_cert_expiry.set(t.as_second() as f64);
            }
            let current = certificate_expirations(&state);
            for gone in expiry_series.difference(&current.keys().cloned().collect()) {
                metrics.certificate_expiration.remove(gone);
            }
            for (labels, t) in &current {
                metrics.certificate_expiration.get_or_create(labels).set(*t);
            }
            expiry_series = current.into_keys().collect();
            let current = metadata_fetches(&state);
            for gone in fetch_series.difference(&current.keys().cloned().collect()) {
                metrics.metadata_fetch_failing.remove(gone);
                metrics.metadata_last_success.remove(gone);
            }
            for (labels, (failing, last_success)) in &current {
                metrics
                    .metadata_fetch_failing
                    .get_or_create(labels)
                    .set(i64::from(*failing));
                if let Some(t) = last_success {
                    metrics.metadata_last_success.get_or_create(labels).set(*t);
                }
            }
            fetch_series = current.into_keys().collect();
        }
    });
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
    let _ = tenants.await;
    let _ = apps.await;
}

/// The `sso_operator_certificate_expiration_timestamp_seconds` series of the resources in the
/// store: each certificate in use (IdP signing, SP signing, SP decryption) with its notAfter.
fn certificate_expirations(state: &[Arc<SsoConnection>]) -> HashMap<CertificateLabels, i64> {
    let mut out = HashMap::new();
    for res in state {
        let Some(status) = res.status.as_ref() else {
            continue;
        };
        let labels = |certificate: &str| CertificateLabels {
            namespace: res.metadata.namespace.clone().unwrap_or_default(),
            name: res.metadata.name.clone().unwrap_or_default(),
            certificate: certificate.to_string(),
        };
        let certs = status
            .signing_certificate
            .iter()
            .map(|c| ("idp-signing", c.not_after.as_str()))
            .chain(
                status
                    .sp_certificates
                    .iter()
                    .filter(|c| c.purpose == "sp-signing" || c.purpose == "sp-decryption")
                    .map(|c| (c.purpose.as_str(), c.not_after.as_str())),
            );
        for (certificate, not_after) in certs {
            if let Ok(t) = not_after.parse::<Timestamp>() {
                out.insert(labels(certificate), t.as_second());
            }
        }
    }
    out
}

/// The `metadata.url` series of the resources in the store: whether the last fetch failed,
/// and when one last succeeded (from `status.metadataSource`, so they survive a restart).
fn metadata_fetches(state: &[Arc<SsoConnection>]) -> HashMap<ResourceLabels, (bool, Option<i64>)> {
    state
        .iter()
        .filter(|res| res.spec.metadata.url.is_some())
        .map(|res| {
            let source = res.status.as_ref().and_then(|s| s.metadata_source.as_ref());
            let failing = source
                .is_none_or(|m| m.last_error.is_some() || m.last_successful_fetch_time.is_none());
            let last = source
                .and_then(|m| m.last_successful_fetch_time.as_ref())
                .map(|t| t.0.as_second());
            (
                ResourceLabels {
                    namespace: res.metadata.namespace.clone().unwrap_or_default(),
                    name: res.metadata.name.clone().unwrap_or_default(),
                },
                (failing, last),
            )
        })
        .collect()
}

/// `sso-operator run`: builds clients from flags and runs the controller and the health and
/// metrics server until SIGTERM/SIGINT.
pub async fn run(args: crate::cli::RunArgs) -> Result<(), String> {
    // The flags' tenant is optional: with tenant resources alone, an SsoConnection without
    // spec.tenantRef reports TenantNotFound.
    let flags_tenant = match crate::auth0::Auth0Config::from_args(&args.auth0)
        .map_err(|e| e.to_string())?
    {
        Some(config) => {
            let facts = Tenant::new(
                &config.domain,
                args.auth0.auth0_tenant.as_deref(),
                args.auth0.auth0_public_domain.as_deref(),
            );
            let auth0 = Auth0Client::new(config).map_err(|e| e.to_string())?;
            match auth0.granted_scopes().await {
                Ok(granted) => {
                    let optional = crate::auth0::token::missing_optional_scopes(&granted);
                    if !optional.is_empty() {
                        tracing::info!(missing = ?optional, "Auth0 token lacks the scopes of optional features: SsoConnections using spec.organizations or spec.scim will report InsufficientScope")
                    }
                }
                Err(e) => tracing::debug!(error = %e, "could not read the granted scopes"),
            }
            match auth0.missing_scopes().await {
                Ok(missing) if missing.is_empty() => {
                    tracing::info!("Auth0 token carries every required scope")
                }
                Ok(missing) => {
                    tracing::warn!(missing = ?missing, "Auth0 token lacks scopes; affected connections will report InsufficientScope")
                }
                Err(e) => tracing::warn!(error = %e, "could not check Auth0 scopes at start"),
            }
            Some((auth0, facts))
        }
        None => {
            tracing::info!(
                "no flag-configured Auth0 tenant: SsoConnections must name a ClusterAuth0Tenant or Auth0Tenant in spec.tenantRef"
            );
            None
        }
    };
    let encryptor = Encryptor::from_args(&args.encryption).map_err(|e| e.to_string());
    if let Err(why) = &encryptor {
        tracing::warn!(error = %why, "certificate encryption is not configured; CertificateEncrypted will be False");
    }
    let client = Client::try_default().await.map_err(|e| {
        format!("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {e}")
    })?;
    let cluster_id = match args.cluster_id.clone().filter(|c| !c.trim().is_empty()) {
        Some(id) => id,
        None => {
            let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                kube::Api::all(client.clone());
            namespaces
                .get("kube-system")
                .await
                .ok()
                .and_then(|ns| ns.metadata.uid)
                .ok_or(
                    "cannot read the UID of the kube-system namespace for the cluster id; grant get on namespaces or set --cluster-id (SSO_CLUSTER_ID)",
                )?
        }
    };
    let pod_namespace = std::env::var("POD_NAMESPACE").ok().or_else(|| {
        std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            .ok()
            .map(|s| s.trim().to_string())
    });
    let cluster_resource_namespace = args
        .cluster_resource_namespace
        .clone()
        .or_else(|| pod_namespace.clone())
        .unwrap_or_else(|| "sso-operator".to_string());
    tracing::info!(cluster_id = %cluster_id, cluster_resource_namespace = %cluster_resource_namespace, "ownership and tenant settings");
    let tenants = Arc::new(Tenants::new(flags_tenant));
    let metrics = Metrics::new();
    let health = crate::server::Health::default();
    let reporter = Reporter {
        controller: "sso-operator".into(),
        instance: args.pod_name.clone(),
    };
    let ctx = Arc::new(Context::new(
        client,
        tenants.clone(),
        encryptor,
        Settings {
            cluster_id,
            cluster_resource_namespace,
            client_defaults: ClientDefaults {
                rate_per_second: args.auth0.auth0_rate_limit,
                burst: args.auth0.auth0_rate_burst.max(1),
                request_timeout: Duration::from_secs(args.auth0.auth0_timeout_seconds.max(1)),
            },
            // At most daily: conditions such as CertificateExpiring must not go stale.
            resync: Duration::from_secs(args.resync_seconds.clamp(1, MAX_RESYNC_SECONDS)),
            expiry: crate::expiry::ExpirySettings::new(
                i64::from(args.certificate_warning_days),
                &args
                    .certificate_notice_days
                    .iter()
                    .map(|d| i64::from(*d))
                    .collect::<Vec<_>>(),
            ),
            allow_private_metadata_urls: args.allow_private_metadata_urls,
        },
        metrics.clone(),
        reporter,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let hook_metrics = metrics.clone();
    let hook: crate::server::ScrapeHook = Arc::new(move || {
        // Summed over every tenant's client.
        let mut totals: HashMap<(String, String), u64> = HashMap::new();
        for client in tenants.clients() {
            for ((operation, status), count) in client.stats().requests {
                *totals.entry((operation.to_string(), status)).or_default() += count;
            }
        }
        for ((operation, status), count) in totals {
            hook_metrics
                .auth0_requests
                .get_or_create(&crate::metrics::RequestLabels { operation, status })
                .set(count as i64);
        }
    });
    let router = crate::server::router(health.clone(), metrics, Some(hook));
    let server = tokio::spawn({
        let addr = args.metrics_addr.clone();
        let stop = wait_stop(stop_rx.clone());
        async move { crate::server::serve(&addr, router, stop).await }
    });
    let stop_tx_clone = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    let mut outcome = Ok(());
    if args.leader_election {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| pod_namespace.clone())
            .unwrap_or_else(|| "default".to_string());
        let identity = args
            .pod_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("sso-operator-{}", std::process::id()));
        let manager = kube_lease_manager::LeaseManagerBuilder::new(ctx.client.clone(), LEASE_NAME)
            .with_namespace(namespace.clone())
            .with_identity(identity.clone())
            .with_duration(args.lease_duration_seconds.max(3))
            .with_grace(
                args.lease_grace_seconds
                    .clamp(1, args.lease_duration_seconds.max(3) - 1),
            )
            .with_field_manager(format!("sso-operator-leader-election/{identity}"))
            .build()
            .await
            .map_err(|e| format!("leader election on Lease {namespace}/{LEASE_NAME}: {e}"))?;
        let (mut leader, lease_task) = manager.watch().await;
        // A standby replica is healthy and ready; it just does not reconcile.
        health.set_ready(true);
        tracing::info!(lease = %format!("{namespace}/{LEASE_NAME}"), identity = %identity, "waiting for leadership");
        let mut stop = stop_rx.clone();
        let became_leader = loop {
            if *leader.borrow_and_update() {
                break true;
            }
            tokio::select! {
                changed = leader.changed() => if changed.is_err() { break false },
                _ = stop.wait_for(|s| *s) => break false,
            }
        };
        if became_leader {
            tracing::info!(identity = %identity, "acquired leadership; reconciling");
            health.set_ready(false);
            let mut lost = leader.clone();
            let (lost_tx, lost_rx) = tokio::sync::watch::channel(false);
            let lost_watch = tokio::spawn(async move {
                let _ = lost.wait_for(|l| !*l).await;
                let _ = lost_tx.send(true);
            });
            let stopping = wait_stop(stop_rx.clone());
            let lost_wait = wait_stop(lost_rx.clone());
            run_controller(
                ctx,
                args.watch_namespace.clone(),
                args.concurrency.max(1),
                health.clone(),
                async move {
                    tokio::select! {
                        _ = stopping => {},
                        _ = lost_wait => {},
                    }
                },
            )
            .await;
            lost_watch.abort();
            if *lost_rx.borrow() && !*stop_rx.borrow() {
                outcome = Err(
                    "lost leadership of the Lease; exiting so that the pod restarts as a standby"
                        .to_string(),
                );
            }
        }
        // Closing the channel makes the lease manager release the Lease, so a standby takes
        // over at once rather than after the lease duration.
        drop(leader);
        match tokio::time::timeout(Duration::from_secs(5), lease_task).await {
            Ok(Ok(Ok(_))) => tracing::info!("released the leader-election Lease"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the Lease failed"),
            _ => tracing::warn!("releasing the Lease timed out"),
        }
    } else {
        run_controller(
            ctx,
            args.watch_namespace.clone(),
            args.concurrency.max(1),
            health,
            wait_stop(stop_rx.clone()),
        )
        .await;
    }
    let _ = stop_tx_clone.send(true);
    match server.await {
        Ok(Ok(())) => outcome,
        Ok(Err(e)) => Err(format!("metrics server on {}: {e}", args.metrics_addr)),
        Err(e) => Err(format!("metrics server task: {e}")),
    }
}

/// Name of the leader-election Lease.
pub const LEASE_NAME: &str = "sso-operator-leader";

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_is_reported_even_when_the_controller_also_waits_on_the_store() {
        let (reader, mut writer) = reflector::store::<SsoConnection>();
        let ours = tokio::spawn({
            let reader = reader.clone();
            async move { wait_until_listed(&reader).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The controller's runner waits on the same store after us, as in `run_controller`.
        let controllers = tokio::spawn({
            let reader = reader.clone();
            async move { reader.wait_until_ready().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer.apply_watcher_event(&kube::runtime::watcher::Event::InitDone);
        let ready = tokio::time::timeout(Duration::from_secs(10), ours)
            .await
            .expect("readiness was never reported after the first list")
            .expect("the readiness task panicked");
        assert!(ready);
        assert!(controllers.await.expect("the controller's wait panicked"));
    }
}
