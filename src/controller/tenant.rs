//! The tenant reconcile loop: `ClusterAuth0Tenant` and `Auth0Tenant` → a client in the
//! registry (rebuilt when the credentials Secret changes, no restart), verified by fetching a
//! token (cached afterwards: a resync costs no call until the token is due), and a status with
//! the granted scopes and the number of SsoConnections using the tenant.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use super::report::write_status;
use super::sources::KubeSources;
use super::watches::NoSharedPause;
use super::{Context, ControllerError, backoff, jittered};
use crate::auth0::Auth0Error;
use crate::auth0::token::REQUIRED_SCOPES;
use crate::crd::{
    Auth0Tenant, Auth0TenantStatus, ClusterAuth0Tenant, TenantConnection, TenantPolicy,
};
use crate::reconcile::Sources;
use crate::status::{self, READY, Reason};
use crate::tenants::{TenantKey, TenantState, tenant_config};

/// How often a Ready tenant is looked at again (its status counts the connections using it).
const TENANT_RECHECK: Duration = Duration::from_secs(30);

/// Reconciles a `ClusterAuth0Tenant` (credentials in the cluster resource namespace).
pub async fn reconcile_cluster_tenant(
    obj: Arc<ClusterAuth0Tenant>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let key = TenantKey::Cluster(obj.name_any());
    let (status, action) = verify(
        &ctx,
        &key,
        &obj.spec.connection,
        obj.spec.policy.clone(),
        &ctx.cluster_resource_namespace,
        obj.metadata.generation,
        obj.status.as_ref(),
    )
    .await?;
    if obj.status.as_ref() != Some(&status) {
        let api: Api<ClusterAuth0Tenant> = Api::all(ctx.client.clone());
        write_status(&api, &obj.name_any(), &status).await?;
    }
    Ok(action)
}

/// Reconciles an `Auth0Tenant` (credentials in its own namespace, serves only it).
pub async fn reconcile_namespaced_tenant(
    obj: Arc<Auth0Tenant>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let ns = obj.namespace().ok_or(ControllerError::Unnamed)?;
    let key = TenantKey::Namespaced {
        namespace: ns.clone(),
        name: obj.name_any(),
    };
    let (status, action) = verify(
        &ctx,
        &key,
        &obj.spec.connection,
        None,
        &ns,
        obj.metadata.generation,
        obj.status.as_ref(),
    )
    .await?;
    if obj.status.as_ref() != Some(&status) {
        let api: Api<Auth0Tenant> = Api::namespaced(ctx.client.clone(), &ns);
        write_status(&api, &obj.name_any(), &status).await?;
    }
    Ok(action)
}

/// Requeue policy for tenant reconciles that failed on the Kubernetes side.
pub fn tenant_error_policy<K>(_obj: Arc<K>, err: &ControllerError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "tenant reconcile error");
    Action::requeue(Duration::from_secs(10))
}

async fn verify(
    ctx: &Context,
    key: &TenantKey,
    spec: &TenantConnection,
    policy: Option<TenantPolicy>,
    secret_namespace: &str,
    generation: Option<i64>,
    old: Option<&Auth0TenantStatus>,
) -> Result<(Auth0TenantStatus, Action), ControllerError> {
    let sources = KubeSources {
        client: ctx.client.clone(),
        url_document: None,
    };
    let secret = sources
        .secret(secret_namespace, &spec.credentials_secret_ref.name)
        .await
        .map_err(ControllerError::Read)?;
    let was_ready = ctx
        .tenants
        .get(key)
        .is_some_and(|t| t.state == TenantState::Ready);
    let (state, scopes) = match tenant_config(
        spec,
        secret_namespace,
        secret.as_ref(),
        &ctx.client_defaults,
    ) {
        Err(problem) => {
            ctx.tenants
                .fail(key, problem.reason, problem.message.clone());
            (
                TenantState::NotReady {
                    reason: problem.reason,
                    message: problem.message,
                },
                Vec::new(),
            )
        }
        Ok((config, facts)) => {
            let handle = ctx
                .tenants
                .configure(key.clone(), config, facts, policy)
                .map_err(|e| ControllerError::Read(e.to_string()))?;
            let checked = check_token(&handle.client).await;
            ctx.tenants.set_state(key, checked.0.clone());
            checked
        }
    };
    let now_ready = state == TenantState::Ready;
    if now_ready && !was_ready {
        wake_waiting_connections(ctx, key);
    }
    let (ok, reason, message, action) = match &state {
        TenantState::Ready => (
            true,
            Reason::Verified,
            {
                let missing = crate::auth0::token::missing_optional_scopes(&scopes);
                if missing.is_empty() {
                    format!(
                        "the credentials work and the token carries every required scope ({} scopes granted)",
                        scopes.len()
                    )
                } else {
                    format!(
                        "the credentials work and the token carries every required scope ({} scopes granted); SsoConnections using spec.organizations or spec.scim, and SamlApplications, also need {} (see status.missingOptionalScopes)",
                        scopes.len(),
                        missing.join(", ")
                    )
                }
            },
            // Costs no Auth0 call while the token is cached; keeps `connections` current.
            Action::requeue(jittered(TENANT_RECHECK.min(ctx.resync))),
        ),
        TenantState::NotReady { reason, message } => {
            let action = match reason {
                Reason::Auth0Unavailable => Action::requeue(backoff(2, None)),
                Reason::SecretNotFound => Action::requeue(Duration::from_secs(60)),
                _ => Action::requeue(Duration::from_secs(300)),
            };
            (false, *reason, message.clone(), action)
        }
        TenantState::Pending => (
            false,
            Reason::Auth0Unavailable,
            "not verified yet".to_string(),
            Action::requeue(Duration::from_secs(5)),
        ),
    };
    let mut status = old.cloned().unwrap_or_default();
    status.observed_generation = generation;
    status.missing_optional_scopes = if scopes.is_empty() {
        Vec::new()
    } else {
        crate::auth0::token::missing_optional_scopes(&scopes)
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    status.scopes = scopes;
    status.connections = count_connections(ctx, key);
    status::set_condition(
        &mut status.conditions,
        status::condition(READY, ok, reason, &message, generation, Timestamp::now()),
    );
    Ok((status, action))
}

/// Fetches a token if none is cached and reads its scopes.
async fn check_token(client: &crate::auth0::Auth0Client) -> (TenantState, Vec<String>) {
    match client.granted_scopes().await {
        Ok(granted) => {
            let missing: Vec<&str> = REQUIRED_SCOPES
                .iter()
                .copied()
                .filter(|s| !granted.iter().any(|g| g == s))
                .collect();
            let state = if missing.is_empty() {
                TenantState::Ready
            } else {
                TenantState::NotReady {
                    reason: Reason::InsufficientScope,
                    message: format!(
                        "the Management API token lacks the scopes {}; grant them to the operator's application in the Auth0 Dashboard (APIs → Auth0 Management API → Machine to Machine Applications)",
                        missing.join(", ")
                    ),
                }
            };
            (state, granted)
        }
        Err(e) => {
            let reason = match &e {
                err if err.is_transient() => Reason::Auth0Unavailable,
                Auth0Error::Token { status: 403, .. } => Reason::InsufficientScope,
                _ => Reason::InvalidCredentials,
            };
            (
                TenantState::NotReady {
                    reason,
                    message: format!("fetching a Management API token failed: {e}"),
                },
                Vec::new(),
            )
        }
    }
}

fn count_connections(ctx: &Context, key: &TenantKey) -> u32 {
    ctx.store.get().map_or(0, |store| {
        store
            .state()
            .iter()
            .filter(|s| TenantKey::of_resource(s) == *key)
            .count() as u32
    })
}

/// Reconciles at once the SsoConnections of `key` that wait for it (reason TenantNotReady or
/// TenantNotFound), when it becomes Ready.
fn wake_waiting_connections(ctx: &Context, key: &TenantKey) {
    let (Some(store), Some(trigger)) = (ctx.store.get(), ctx.trigger.get()) else {
        return;
    };
    for sso in store.state() {
        let waiting = sso
            .status
            .as_ref()
            .and_then(|s| status::find_condition(&s.conditions, READY))
            .is_none_or(|c| {
                c.reason == Reason::TenantNotReady.as_str()
                    || c.reason == Reason::TenantNotFound.as_str()
            });
        if waiting && TenantKey::of_resource(&sso) == *key {
            let _ = trigger.unbounded_send(ObjectRef::from_obj(&*sso));
        }
    }
}

/// Runs the `ClusterAuth0Tenant` and `Auth0Tenant` controllers until `shutdown` resolves. A
/// change of a credentials Secret reconciles the tenants that read it. `namespace` limits the
/// `Auth0Tenant`s watched (cluster tenants are cluster-scoped).
pub(super) async fn run_tenant_controllers(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Clone + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let secrets: Api<PartialObjectMeta<Secret>> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let secret_config = watcher::Config::default().any_semantic();

    // No pause over all watches when one fails (see watches::NoSharedPause).
    let cluster = Controller::new(
        Api::<ClusterAuth0Tenant>::all(client.clone()),
        watcher::Config::default().any_semantic(),
    )
    .trigger_backoff(NoSharedPause);
    let _ = ctx.cluster_tenants.set(cluster.store());
    let cluster_store = cluster.store();
    let resource_ns = ctx.cluster_resource_namespace.clone();
    let cluster = cluster
        .watches(
            Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), &resource_ns),
            secret_config.clone(),
            move |secret| {
                cluster_store
                    .state()
                    .iter()
                    .filter(|t| t.spec.connection.credentials_secret_ref.name == secret.name_any())
                    .map(|t| ObjectRef::from_obj(&**t))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_cluster_tenant, tenant_error_policy, ctx.clone())
        .for_each(|_| async {});

    let namespaced_api: Api<Auth0Tenant> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let namespaced = Controller::new(namespaced_api, watcher::Config::default().any_semantic())
        .trigger_backoff(NoSharedPause);
    let _ = ctx.namespaced_tenants.set(namespaced.store());
    let namespaced_store = namespaced.store();
    let namespaced = namespaced
        .watches(secrets, secret_config, move |secret| {
            namespaced_store
                .state()
                .iter()
                .filter(|t| {
                    t.namespace() == secret.namespace()
                        && t.spec.connection.credentials_secret_ref.name == secret.name_any()
                })
                .map(|t| ObjectRef::from_obj(&**t))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile_namespaced_tenant, tenant_error_policy, ctx)
        .for_each(|_| async {});
    futures::join!(cluster, namespaced);
}
