//! kube-runtime wiring and the reconcile effects in the cluster: finalizer, Secret, status,
//! events, requeue.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use rand::Rng;
use serde_json::json;

use crate::auth0::{Auth0Client, Auth0Error};
use crate::crd::{DeletionPolicy, SecretKeyRef, SsoConnection, SsoConnectionStatus};
use crate::encrypt::Encryptor;
use crate::metrics::Metrics;
use crate::reconcile::{self, Sources, SyncError, SyncOptions, Tenant};
use crate::status::{self, CERTIFICATE_ENCRYPTED, READY, Reason};

/// Field manager for server-side apply.
pub const FIELD_MANAGER: &str = "sso-operator";
/// Finalizer added when `deletionPolicy: Delete`.
pub const FINALIZER: &str = "sso-operator.io/delete-auth0-connection";
/// Key of the ciphertext in the owned Secret.
pub const CIPHERTEXT_KEY: &str = "encryptedSigningCert";
/// Label on every Secret the operator owns (its metadata watch selects on it).
pub const MANAGED_LABEL: &str = "app.kubernetes.io/managed-by";
const ANN_BACKEND: &str = "sso-operator.io/encryption-backend";
const ANN_KEY_ID: &str = "sso-operator.io/encryption-key-id";
const ANN_CERT_SHA256: &str = "sso-operator.io/certificate-sha256";

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
    /// Auth0 client (one token cache and request budget for all reconciles).
    pub auth0: Auth0Client,
    /// Certificate encryption, or why it is not configured.
    pub encryptor: Result<Encryptor, String>,
    /// Tenant facts for status.
    pub tenant: Tenant,
    /// Drift resync interval.
    pub resync: Duration,
    /// Metrics.
    pub metrics: Metrics,
    /// Event recorder.
    pub recorder: Recorder,
    failures: Mutex<HashMap<ObjectRef<SsoConnection>, u32>>,
}

impl Context {
    /// Builds the context.
    pub fn new(
        client: Client,
        auth0: Auth0Client,
        encryptor: Result<Encryptor, String>,
        tenant: Tenant,
        resync: Duration,
        metrics: Metrics,
        reporter: Reporter,
    ) -> Context {
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            auth0,
            encryptor,
            tenant,
            resync,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl Context {
    /// Counts one more consecutive failure of `key`; returns the count (drives backoff).
    fn record_failure(&self, key: &ObjectRef<SsoConnection>) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    }

    /// Forgets the failures of `key` after a success or a permanent error.
    fn clear_failures(&self, key: &ObjectRef<SsoConnection>) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Reads referenced ConfigMaps and Secrets from the API server (one GET each, no cache).
struct KubeSources {
    client: Client,
}

impl Sources for KubeSources {
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let cm = api.get_opt(name).await.map_err(|e| e.to_string())?;
        Ok(cm.map(|cm| {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in cm.binary_data.unwrap_or_default() {
                data.insert(k, v.0);
            }
            data
        }))
    }

    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api.get_opt(name).await.map_err(|e| e.to_string())?;
        Ok(secret.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect()
        }))
    }
}

/// Builds the controller stream: SsoConnections (generation/finalizer changes only), the
/// ConfigMaps they reference (metadata-only watch) and the Secrets they own.
pub fn controller(
    client: Client,
    namespace: Option<&str>,
    concurrency: u16,
) -> (Controller<SsoConnection>, reflector::Store<SsoConnection>) {
    let ssos: Api<SsoConnection> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let cms: Api<PartialObjectMeta<ConfigMap>> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let secrets: Api<PartialObjectMeta<Secret>> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client),
    };
    let (reader, writer) = reflector::store();
    // Status writes bump neither generation nor finalizers, so they do not re-trigger Auth0
    // calls.
    // Small list pages: a restart with many SsoConnections otherwise holds 500 full objects
    // (managedFields included) in memory at once before the cache strips them.
    let main = watcher(
        ssos,
        watcher::Config::default().any_semantic().page_size(50),
    )
    .default_backoff()
    // The cache keeps every SsoConnection; what the reconcile never reads is dropped:
    // managedFields (often larger than the object) and kubectl's last-applied copy.
    .modify(strip_unread_metadata)
    .reflect(writer)
    .applied_objects()
    .predicate_filter(
        predicates::generation.combine(predicates::finalizers),
        Default::default(),
    );
    let controller = Controller::for_stream(main, reader.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency));
    let store = controller.store();
    // Only ConfigMap metadata is cached; content is read with a GET when a reconcile needs it.
    let cm_stream = watcher(cms, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|o: &mut PartialObjectMeta<ConfigMap>| o.managed_fields_mut().clear())
        .touched_objects();
    // The operator's own write of a Secret must not re-trigger its owner: that reconcile would
    // cost one more Auth0 GET per new connection. Deletions and other writers' edits do.
    let secret_stream = watcher(
        secrets.clone(),
        watcher::Config::default().labels(&format!("{MANAGED_LABEL}=sso-operator")),
    )
    .default_backoff()
    .try_filter_map(|event| {
        futures::future::ready(Ok(match event {
            watcher::Event::Delete(s) => Some(s),
            watcher::Event::Apply(s) | watcher::Event::InitApply(s)
                if !last_written_by_operator(&s.metadata) =>
            {
                Some(s)
            }
            _ => None,
        }))
    });
    // Key-pair Secrets users reference: metadata only, mapped to the SsoConnections naming them.
    let key_secrets = watcher(secrets, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|o: &mut PartialObjectMeta<Secret>| o.managed_fields_mut().clear())
        .touched_objects();
    let key_store = store.clone();
    let controller = controller
        .watches_stream(cm_stream, move |cm: PartialObjectMeta<ConfigMap>| {
            let ns = cm.namespace();
            let name = cm.name_any();
            store
                .state()
                .into_iter()
                .filter(|s| s.namespace() == ns && s.spec.metadata.config_map_ref.name == name)
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .watches_stream(key_secrets, move |secret: PartialObjectMeta<Secret>| {
            let ns = secret.namespace();
            let name = secret.name_any();
            key_store
                .state()
                .into_iter()
                .filter(|s| {
                    s.namespace() == ns
                        && [
                            &s.spec.signing_key_secret_ref,
                            &s.spec.decryption_key_secret_ref,
                        ]
                        .iter()
                        .any(|r| r.as_ref().is_some_and(|r| r.name == name))
                })
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .owns_stream(secret_stream);
    (controller, reader)
}

/// Drops the metadata no reconcile reads, so the cache holds less per object.
fn strip_unread_metadata(obj: &mut SsoConnection) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Whether the latest write recorded in `managedFields` is the operator's own.
fn last_written_by_operator(meta: &ObjectMeta) -> bool {
    let fields = meta.managed_fields.as_deref().unwrap_or_default();
    let Some(latest) = fields.iter().filter_map(|f| f.time.as_ref()).max() else {
        return false;
    };
    // Timestamps have one-second resolution: any other writer in that second counts.
    let mut last = fields.iter().filter(|f| f.time.as_ref() == Some(latest));
    last.all(|f| f.manager.as_deref() == Some(FIELD_MANAGER))
}

/// Reconciles one SsoConnection.
pub async fn reconcile(
    obj: Arc<SsoConnection>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let started = Instant::now();
    let ns = obj.namespace().ok_or(ControllerError::Unnamed)?;
    let name = obj.metadata.name.clone().ok_or(ControllerError::Unnamed)?;
    let api: Api<SsoConnection> = Api::namespaced(ctx.client.clone(), &ns);
    let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);

    if obj.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            cleanup(&obj, &ctx, &api, &name).await?;
        }
        return Ok(Action::await_change());
    }
    match (obj.spec.deletion_policy, has_finalizer) {
        (DeletionPolicy::Delete, false) => {
            // The finalizer must be in place before the connection exists, or a quick delete
            // could leave it behind.
            set_finalizer(&api, &obj, &name, true).await?;
            return Ok(Action::await_change());
        }
        (DeletionPolicy::Retain, true) => {
            set_finalizer(&api, &obj, &name, false).await?;
            return Ok(Action::await_change());
        }
        _ => {}
    }

    let now = Timestamp::now();
    let old_status = obj.status.clone().unwrap_or_default();
    let recheck_clients = old_status
        .last_sync_time
        .as_ref()
        .is_none_or(|t| now.duration_since(t.0).as_secs() >= ctx.resync.as_secs() as i64);
    let sources = KubeSources {
        client: ctx.client.clone(),
    };
    let result = reconcile::sync_connection(
        &ctx.auth0,
        &obj,
        &sources,
        SyncOptions {
            dry_run: false,
            recheck_clients,
        },
        now,
    )
    .await;
    let key = ObjectRef::from_obj(&*obj);
    let (mut new_status, action) = match result {
        Ok(synced) => {
            let mut status = reconcile::synced_status(&obj, &synced, &ctx.tenant, now);
            let encrypted = store_certificate(&obj, &ctx, &synced, &ns, &name).await;
            let retry_encryption =
                apply_encryption_outcome(&mut status, encrypted, &obj, &ctx, now).await;
            ctx.metrics.count_outcome(synced.action.as_str());
            if synced.action != reconcile::Action::Unchanged {
                publish(
                    &ctx,
                    &obj,
                    EventType::Normal,
                    "Synced",
                    if synced.action == reconcile::Action::Created {
                        "Create"
                    } else {
                        "Update"
                    },
                    &status::find_condition(&status.conditions, READY)
                        .map(|c| c.message.clone())
                        .unwrap_or_default(),
                )
                .await;
            } else if !was_ready(&old_status) {
                publish(
                    &ctx,
                    &obj,
                    EventType::Normal,
                    "Synced",
                    "Verify",
                    "Auth0 connection matches the spec",
                )
                .await;
            }
            let failures = if retry_encryption {
                ctx.record_failure(&key)
            } else {
                ctx.clear_failures(&key);
                0
            };
            let action = if failures > 0 {
                Action::requeue(backoff(failures, None).min(jittered(ctx.resync)))
            } else {
                Action::requeue(jittered(ctx.resync))
            };
            (status, action)
        }
        // An API server hiccup says nothing about the resource: retry, keep its status.
        Err(err @ SyncError::Kubernetes { .. }) => {
            return Err(ControllerError::Read(err.to_string()));
        }
        Err(err) => {
            let reason = err.reason();
            ctx.metrics.count_outcome("error");
            ctx.metrics.count_error(reason.as_str());
            let status = reconcile::failed_status(&obj, &err, now);
            let previous = status::find_condition(&old_status.conditions, READY);
            let message = status::truncate(&err.to_string(), status::MAX_MESSAGE_CHARS);
            if previous.is_none_or(|c| c.reason != reason.as_str() || c.message != message) {
                publish(
                    &ctx,
                    &obj,
                    EventType::Warning,
                    reason.as_str(),
                    "Reconcile",
                    &message,
                )
                .await;
            }
            tracing::warn!(resource = %key, reason = reason.as_str(), error = %message, "reconcile failed");
            let action = if err.is_transient() {
                let n = ctx.record_failure(&key);
                let retry_after = match &err {
                    SyncError::Auth0(Auth0Error::RateLimited { retry_after, .. }) => {
                        Some(*retry_after)
                    }
                    _ => None,
                };
                Action::requeue(backoff(n, retry_after))
            } else {
                ctx.clear_failures(&key);
                match reason {
                    // Key Secrets are not watched; look again now and then.
                    Reason::SecretNotFound | Reason::MetadataNotFound => {
                        Action::requeue(Duration::from_secs(60))
                    }
                    _ => Action::await_change(),
                }
            };
            (status, action)
        }
    };
    if status::differs_ignoring_timestamps(&old_status, &new_status) {
        if new_status.last_sync_time.is_none() {
            new_status.last_sync_time = old_status.last_sync_time.clone();
        }
        write_status(&api, &name, &new_status).await?;
    }
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    Ok(action)
}

fn was_ready(status: &SsoConnectionStatus) -> bool {
    status::find_condition(&status.conditions, READY).is_some_and(|c| c.status == "True")
}

/// Adds or removes our finalizer, guarded by the resourceVersion read (no lost updates).
async fn set_finalizer(
    api: &Api<SsoConnection>,
    obj: &SsoConnection,
    name: &str,
    present: bool,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "finalizers": finalizers_with(obj, present),
        "resourceVersion": obj.resource_version(),
    }});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn finalizers_with(obj: &SsoConnection, present: bool) -> Vec<String> {
    let mut list: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if present {
        list.push(FINALIZER.to_string());
    }
    list
}

async fn write_status(
    api: &Api<SsoConnection>,
    name: &str,
    status: &SsoConnectionStatus,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": "sso-operator.io/v1alpha1",
        "kind": "SsoConnection",
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Deletes the Auth0 connection (only when it carries our marker) and releases the finalizer.
async fn cleanup(
    obj: &SsoConnection,
    ctx: &Context,
    api: &Api<SsoConnection>,
    name: &str,
) -> Result<(), ControllerError> {
    if obj.spec.deletion_policy == DeletionPolicy::Delete
        && let Some(id) = obj.status.as_ref().and_then(|s| s.connection_id.clone())
    {
        {
            match delete_if_ours(&ctx.auth0, &id, &obj.owner_key()).await {
                Ok(()) => {}
                Err(e) => {
                    let mut status = obj.status.clone().unwrap_or_default();
                    status::set_condition(
                        &mut status.conditions,
                        status::condition(
                            READY,
                            false,
                            Reason::Deleting,
                            &format!("deleting Auth0 connection {id} failed, will retry: {e}"),
                            obj.metadata.generation,
                            Timestamp::now(),
                        ),
                    );
                    write_status(api, name, &status).await?;
                    publish(
                        ctx,
                        obj,
                        EventType::Warning,
                        "Deleting",
                        "Delete",
                        &e.to_string(),
                    )
                    .await;
                    return Err(ControllerError::Kube(kube::Error::Service(
                        e.to_string().into(),
                    )));
                }
            }
            publish(
                ctx,
                obj,
                EventType::Normal,
                "Deleted",
                "Delete",
                &format!("Deleted Auth0 connection {id}"),
            )
            .await;
        }
    }
    set_finalizer(api, obj, name, false).await?;
    Ok(())
}

async fn delete_if_ours(auth0: &Auth0Client, id: &str, owner: &str) -> Result<(), Auth0Error> {
    use crate::auth0::model::{MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY};
    let Some(conn) = auth0.get_connection(id).await? else {
        return Ok(());
    };
    // Never delete a connection someone else owns, even if our status points at it.
    if conn.metadata_value(MANAGED_BY_KEY) != Some(MANAGED_BY_VALUE)
        || conn.metadata_value(OWNER_KEY) != Some(owner)
    {
        tracing::warn!(
            connection = id,
            "not deleting an Auth0 connection this resource does not own"
        );
        return Ok(());
    }
    auth0.delete_connection(id).await
}

fn key_id_of(encryptor: &Encryptor) -> &str {
    match encryptor {
        Encryptor::Local(key) => key.key_id(),
        Encryptor::Http(_) => crate::encrypt::HTTP_KEY_ID,
    }
}

/// Outcome of storing the encrypted certificate.
enum Encrypted {
    /// The Secret holds ciphertext of the current certificate.
    Stored(SecretKeyRef),
    /// Encryption or the Secret write failed.
    Failed(String),
}

async fn store_certificate(
    obj: &SsoConnection,
    ctx: &Context,
    synced: &reconcile::Synced,
    ns: &str,
    name: &str,
) -> Encrypted {
    let encryptor = match &ctx.encryptor {
        Ok(e) => e,
        Err(why) => return Encrypted::Failed(why.clone()),
    };
    let cert = synced.idp.selected_cert();
    let fingerprint = cert.sha256_hex();
    let secret_name = obj.signing_cert_secret_name();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let reference = SecretKeyRef {
        name: secret_name.clone(),
        key: CIPHERTEXT_KEY.to_string(),
    };
    match secrets.get_opt(&secret_name).await {
        Ok(Some(existing)) => {
            let ann = existing.metadata.annotations.clone().unwrap_or_default();
            let has_data = existing
                .data
                .as_ref()
                .is_some_and(|d| d.contains_key(CIPHERTEXT_KEY));
            if has_data
                && ann.get(ANN_CERT_SHA256) == Some(&fingerprint)
                && ann.get(ANN_BACKEND).map(String::as_str) == Some(encryptor.backend())
                && ann.get(ANN_KEY_ID).map(String::as_str) == Some(key_id_of(encryptor))
            {
                return Encrypted::Stored(reference);
            }
        }
        Ok(None) => {}
        Err(e) => return Encrypted::Failed(format!("reading Secret {ns}/{secret_name}: {e}")),
    }
    let ciphertext = match encryptor.encrypt(&cert.to_pem()).await {
        Ok(c) => c,
        Err(e) => return Encrypted::Failed(e.to_string()),
    };
    let owner = obj.controller_owner_ref(&());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.clone()),
            namespace: Some(ns.to_string()),
            labels: Some(BTreeMap::from([
                (MANAGED_LABEL.to_string(), "sso-operator".to_string()),
                (
                    "sso-operator.io/ssoconnection".to_string(),
                    name.to_string(),
                ),
            ])),
            annotations: Some(BTreeMap::from([
                (ANN_BACKEND.to_string(), ciphertext.backend.to_string()),
                (ANN_KEY_ID.to_string(), ciphertext.key_id.clone()),
                (ANN_CERT_SHA256.to_string(), fingerprint),
            ])),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".to_string()),
        data: Some(BTreeMap::from([(
            CIPHERTEXT_KEY.to_string(),
            ByteString(ciphertext.value.into_bytes()),
        )])),
        ..Default::default()
    };
    match secrets
        .patch(
            &secret_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
    {
        Ok(_) => Encrypted::Stored(reference),
        Err(e) => Encrypted::Failed(format!("writing Secret {ns}/{secret_name}: {e}")),
    }
}

/// Records the encryption outcome in status; returns whether to retry soon.
async fn apply_encryption_outcome(
    status: &mut SsoConnectionStatus,
    outcome: Encrypted,
    obj: &SsoConnection,
    ctx: &Context,
    now: Timestamp,
) -> bool {
    let previous_ok = status::find_condition(&status.conditions, CERTIFICATE_ENCRYPTED)
        .map(|c| c.status == "True");
    match outcome {
        Encrypted::Stored(reference) => {
            status.encrypted_signing_cert_secret_ref = Some(reference.clone());
            status::set_condition(
                &mut status.conditions,
                status::condition(
                    CERTIFICATE_ENCRYPTED,
                    true,
                    Reason::Encrypted,
                    &format!(
                        "IdP signing certificate stored encrypted in Secret {} key {}",
                        reference.name, reference.key
                    ),
                    obj.metadata.generation,
                    now,
                ),
            );
            false
        }
        Encrypted::Failed(why) => {
            ctx.metrics.encryption_failures.inc();
            status.encrypted_signing_cert_secret_ref = None;
            let message = format!(
                "encrypting the IdP signing certificate failed, will retry (the Auth0 connection is unaffected): {why}"
            );
            status::set_condition(
                &mut status.conditions,
                status::condition(
                    CERTIFICATE_ENCRYPTED,
                    false,
                    Reason::EncryptionFailed,
                    &message,
                    obj.metadata.generation,
                    now,
                ),
            );
            if previous_ok != Some(false) {
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    "EncryptionFailed",
                    "Encrypt",
                    &message,
                )
                .await;
            }
            true
        }
    }
}

async fn publish(
    ctx: &Context,
    obj: &SsoConnection,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(status::truncate(note, 1000)),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing event failed");
    }
}

/// Per-object exponential backoff: 5 s doubling to 5 min, ±10% jitter, at least `floor`.
pub fn backoff(failures: u32, floor: Option<Duration>) -> Duration {
    let base = 5.0 * 2f64.powi(failures.saturating_sub(1).min(10) as i32);
    let secs = base.min(300.0) * rand::thread_rng().gen_range(0.9..1.1);
    let d = Duration::from_secs_f64(secs);
    floor.map_or(d, |f| d.max(f))
}

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
    let (controller, store) = controller(ctx.client.clone(), namespace.as_deref(), concurrency);
    let metrics = ctx.metrics.clone();
    let ready_store = store.clone();
    tokio::spawn(async move {
        if wait_until_listed(&ready_store).await {
            health.set_ready(true);
            tracing::info!("initial list of SsoConnections done; ready");
        }
    });
    let gauge_store = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        loop {
            tick.tick().await;
            let state = gauge_store.state();
            let ready = state
                .iter()
                .filter(|s| s.status.as_ref().is_some_and(was_ready))
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
}

/// `sso-operator run`: builds clients from flags and runs the controller and the health and
/// metrics server until SIGTERM/SIGINT.
pub async fn run(args: crate::cli::RunArgs) -> Result<(), String> {
    let auth0_config = crate::auth0::Auth0Config::from_args(&args.auth0)
        .map_err(|e| e.to_string())?
        .ok_or("Auth0 credentials are required: set --auth0-domain, --auth0-client-id and --auth0-client-secret (or AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET)")?;
    let tenant = Tenant::new(
        &auth0_config.domain,
        args.auth0.auth0_tenant.as_deref(),
        args.auth0.auth0_public_domain.as_deref(),
    );
    let auth0 = Auth0Client::new(auth0_config).map_err(|e| e.to_string())?;
    match auth0.missing_scopes().await {
        Ok(missing) if missing.is_empty() => {
            tracing::info!("Auth0 token carries every required scope")
        }
        Ok(missing) => {
            tracing::warn!(missing = ?missing, "Auth0 token lacks scopes; affected connections will report InsufficientScope")
        }
        Err(e) => tracing::warn!(error = %e, "could not check Auth0 scopes at start"),
    }
    let encryptor = Encryptor::from_args(&args.encryption).map_err(|e| e.to_string());
    if let Err(why) = &encryptor {
        tracing::warn!(error = %why, "certificate encryption is not configured; CertificateEncrypted will be False");
    }
    let client = Client::try_default().await.map_err(|e| {
        format!("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {e}")
    })?;
    let metrics = Metrics::new();
    let health = crate::server::Health::default();
    let reporter = Reporter {
        controller: "sso-operator".into(),
        instance: args.pod_name.clone(),
    };
    let ctx = Arc::new(Context::new(
        client,
        auth0.clone(),
        encryptor,
        tenant,
        Duration::from_secs(args.resync_seconds.max(1)),
        metrics.clone(),
        reporter,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let hook_metrics = metrics.clone();
    let hook_auth0 = auth0.clone();
    let hook: crate::server::ScrapeHook = Arc::new(move || {
        for ((operation, status), count) in hook_auth0.stats().requests {
            hook_metrics
                .auth0_requests
                .get_or_create(&crate::metrics::RequestLabels {
                    operation: operation.to_string(),
                    status,
                })
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
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .or_else(|| {
                std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
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

    fn meta_written_by(writes: &[(&str, &str)]) -> ObjectMeta {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, Time};
        ObjectMeta {
            managed_fields: Some(
                writes
                    .iter()
                    .map(|(manager, at)| ManagedFieldsEntry {
                        manager: Some(manager.to_string()),
                        time: Some(Time(at.parse().expect("a timestamp"))),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn the_operators_own_secret_write_does_not_requeue_the_owner_but_others_edits_do() {
        let ours = meta_written_by(&[
            ("kubectl-edit", "2026-01-01T00:00:00Z"),
            (FIELD_MANAGER, "2026-01-01T00:00:05Z"),
        ]);
        assert!(last_written_by_operator(&ours));
        let edited = meta_written_by(&[
            (FIELD_MANAGER, "2026-01-01T00:00:05Z"),
            ("kubectl-edit", "2026-01-01T00:00:09Z"),
        ]);
        assert!(!last_written_by_operator(&edited));
        let same_second = meta_written_by(&[
            (FIELD_MANAGER, "2026-01-01T00:00:05Z"),
            ("kubectl-edit", "2026-01-01T00:00:05Z"),
        ]);
        assert!(!last_written_by_operator(&same_second));
        assert!(!last_written_by_operator(&ObjectMeta::default()));
    }

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
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let ready = tokio::time::timeout(Duration::from_secs(10), ours)
            .await
            .expect("readiness was never reported after the first list")
            .expect("the readiness task panicked");
        assert!(ready);
        assert!(controllers.await.expect("the controller's wait panicked"));
    }
}
