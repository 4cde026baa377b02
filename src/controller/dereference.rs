//! Before anything is sent to Auth0: which tenant the resource uses, whether the tenant's
//! policy admits it, and whether its domains are its own within the tenant.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::Context;
use crate::crd::SsoConnection;
use crate::policy::{self, DomainClaim, NamespaceFacts};
use crate::reconcile::{Claimant, SyncError};
use crate::status::{self, Reason};
use crate::tenants::{TenantHandle, TenantKey};

/// A resource the tenant and its policy admit.
pub(super) struct Admitted {
    /// The tenant to sync with.
    pub tenant: Arc<TenantHandle>,
    /// The resource's identity in the ownership marker, with the tenant's adoption rule.
    pub claimant: Claimant,
}

/// The tenant `key`, Ready. Just after a start, a tenant that exists but has not been verified
/// yet is [`SyncError::TenantStarting`] (look again shortly, report nothing), not a failure.
pub(super) async fn tenant_for(
    ctx: &Context,
    key: &TenantKey,
) -> Result<Arc<TenantHandle>, SyncError> {
    // Until the tenant caches hold their first list, "not in the cache" means nothing.
    let listed = tenant_caches_listed(ctx).await;
    if listed {
        forget_if_deleted(ctx, key);
    }
    ctx.tenants.resolve(key).map_err(|u| {
        let starting = !listed || (tenant_listed(ctx, key) && !ctx.tenants.verified(key));
        if *key != TenantKey::Flags && starting {
            SyncError::TenantStarting(u.message)
        } else {
            SyncError::Denied {
                reason: u.reason,
                message: u.message,
            }
        }
    })
}

/// Resolves the tenant of `obj` and checks the policy and the domain claims.
pub(super) async fn admit(obj: &SsoConnection, ctx: &Context) -> Result<Admitted, SyncError> {
    let ns = obj.namespace().unwrap_or_default();
    let key = TenantKey::of_resource(obj);
    let tenant = tenant_for(ctx, &key).await?;
    if let Some(policy) = &tenant.policy {
        let facts = namespace_facts(ctx, &ns).await?;
        let name = key.status_name().unwrap_or_else(|| key.describe());
        policy::check(policy, &name, &facts, &obj.spec, &obj.connection_name()).map_err(|v| {
            SyncError::Denied {
                reason: v.reason(),
                message: v.message(&ns),
            }
        })?;
    }
    // Claims that route users (restrictSsoOnly) are exclusive within a tenant; informational
    // ones are not, so that two connections of one company (an IdP migration) can coexist.
    if obj.spec.restrict_sso_only
        && let Some(store) = ctx.store.get()
    {
        let mine = claim_of(obj);
        let others: Vec<DomainClaim> = store
            .state()
            .iter()
            .filter(|o| o.metadata.deletion_timestamp.is_none() && o.spec.restrict_sso_only)
            .filter(|o| !denied_a_claim(o))
            .filter(|o| TenantKey::of_resource(o) == key)
            .map(|o| claim_of(o))
            .collect();
        if let Some((domain, holder)) = policy::domain_conflict(&mine, &others) {
            return Err(SyncError::Denied {
                reason: Reason::DomainConflict,
                message: format!(
                    "the domain {domain} is claimed in {} by SsoConnection {holder}, which claimed it first; nothing was sent to Auth0; remove {domain} from spec.companyDomain(s), or delete the other claim",
                    key.describe()
                ),
            });
        }
    }
    let claimant = Claimant::new(
        obj,
        &ctx.cluster_id,
        policy::adoption(tenant.policy.as_ref()),
    );
    Ok(Admitted { tenant, claimant })
}

/// How long a reconcile waits for the tenant caches' first list after a start.
const CACHE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether both tenant caches hold their first list (waits up to [`CACHE_WAIT`] for it).
async fn tenant_caches_listed(ctx: &Context) -> bool {
    let (Some(cluster), Some(namespaced)) =
        (ctx.cluster_tenants.get(), ctx.namespaced_tenants.get())
    else {
        return false;
    };
    let ready = async {
        cluster.wait_until_ready().await.is_ok() && namespaced.wait_until_ready().await.is_ok()
    };
    tokio::time::timeout(CACHE_WAIT, ready)
        .await
        .unwrap_or(false)
}

/// Whether the tenant resource of `key` is in its cache.
fn tenant_listed(ctx: &Context, key: &TenantKey) -> bool {
    match key {
        TenantKey::Flags => false,
        TenantKey::Cluster(name) => ctx
            .cluster_tenants
            .get()
            .is_some_and(|s| s.get(&ObjectRef::new(name)).is_some()),
        TenantKey::Namespaced { namespace, name } => ctx
            .namespaced_tenants
            .get()
            .is_some_and(|s| s.get(&ObjectRef::new(name).within(namespace)).is_some()),
    }
}

/// Drops a tenant from the registry once its resource is gone from the cache (tenant
/// reconciles never see deletions).
fn forget_if_deleted(ctx: &Context, key: &TenantKey) {
    let gone = match key {
        TenantKey::Flags => false,
        TenantKey::Cluster(name) => ctx
            .cluster_tenants
            .get()
            .is_some_and(|s| s.get(&ObjectRef::new(name)).is_none()),
        TenantKey::Namespaced { namespace, name } => ctx
            .namespaced_tenants
            .get()
            .is_some_and(|s| s.get(&ObjectRef::new(name).within(namespace)).is_none()),
    };
    if gone {
        ctx.tenants.remove(key);
    }
}

/// Whether a resource was refused the right to claim (policy, tenant, or a conflict of its
/// own): such a resource holds no domain, however old it is.
fn denied_a_claim(obj: &SsoConnection) -> bool {
    obj.status
        .as_ref()
        .and_then(|s| status::find_condition(&s.conditions, status::READY))
        .is_some_and(|c| {
            [
                Reason::TenantNotFound,
                Reason::TenantNotAllowed,
                Reason::DomainNotAllowed,
                Reason::DomainConflict,
            ]
            .iter()
            .any(|r| c.reason == r.as_str())
        })
}

fn claim_of(obj: &SsoConnection) -> DomainClaim {
    DomainClaim {
        resource: format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()),
        created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
        domains: obj.spec.claimed_domains(),
        established: obj.status.as_ref().is_some_and(|s| {
            !s.domains.is_empty()
                && status::find_condition(&s.conditions, status::READY)
                    .is_some_and(|c| c.status == "True")
        }),
    }
}

pub(super) async fn namespace_facts(ctx: &Context, ns: &str) -> Result<NamespaceFacts, SyncError> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let namespace = api.get(ns).await.map_err(|e| SyncError::Kubernetes {
        what: format!("Namespace {ns}"),
        message: e.to_string(),
    })?;
    Ok(NamespaceFacts {
        name: ns.to_string(),
        labels: namespace.metadata.labels.unwrap_or_default(),
        annotations: namespace.metadata.annotations.unwrap_or_default(),
    })
}
