//! The finalizer, and deleting the Auth0 connection when the policy says so.

use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::report::{publish, write_status};
use super::{Context, ControllerError, FINALIZER};
use crate::auth0::model::ConnectionUpdate;
use crate::crd::{DeletionPolicy, SsoConnection};
use crate::ownership::{self, Adoption};
use crate::reconcile::Claimant;
use crate::status::{self, READY, Reason};
use crate::tenants::TenantKey;

/// Adds or removes our finalizer, guarded by the resourceVersion read (no lost updates).
pub(super) async fn set_finalizer(
    api: &Api<SsoConnection>,
    obj: &SsoConnection,
    name: &str,
    present: bool,
) -> Result<(), kube::Error> {
    set_finalizer_of(api, obj, name, FINALIZER, present).await
}

/// Adds or removes `finalizer` on any of the operator's resources, guarded by the
/// resourceVersion read.
pub(super) async fn set_finalizer_of<K>(
    api: &Api<K>,
    obj: &K,
    name: &str,
    finalizer: &str,
    present: bool,
) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut list: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    if present {
        list.push(finalizer.to_string());
    }
    let patch = json!({"metadata": {
        "finalizers": list,
        "resourceVersion": obj.resource_version(),
    }});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// What deleting the resource did in Auth0.
enum Cleanup {
    /// Nothing to do: no connection recorded, or already gone.
    Nothing,
    /// The connection was deleted.
    Deleted(String),
    /// The connection was released (Retain): its marker no longer names this resource.
    Released(String),
    /// The connection is not this resource's (another owner, another cluster): untouched.
    NotOurs(String),
}

/// On deletion: with `Delete`, deletes the Auth0 connection when its whole marker is this
/// resource's; with `Retain`, releases the marker so the connection can be adopted (by a
/// resource in another cluster, say). Then removes the finalizer.
///
/// A `Delete` that cannot reach Auth0 (tenant gone or not Ready, credentials revoked, Auth0
/// down) keeps the finalizer and says so in the `Ready` condition, with the way out: switch
/// `spec.deletionPolicy` to `Retain`, which releases what it can and never blocks.
pub(super) async fn cleanup(
    obj: &SsoConnection,
    ctx: &Context,
    api: &Api<SsoConnection>,
    name: &str,
) -> Result<(), ControllerError> {
    let result = cleanup_in_auth0(obj, ctx).await;
    match (obj.spec.deletion_policy, result) {
        (_, Ok(done)) => {
            let (reason, note) = match done {
                Cleanup::Nothing => ("", String::new()),
                Cleanup::Deleted(id) => ("Deleted", format!("Deleted Auth0 connection {id}")),
                Cleanup::Released(id) => (
                    "Released",
                    format!("Released Auth0 connection {id}: it stays in Auth0 and may be adopted"),
                ),
                Cleanup::NotOurs(id) => (
                    "NotDeleted",
                    format!(
                        "Auth0 connection {id} does not carry this resource's ownership marker; it was left untouched"
                    ),
                ),
            };
            if !reason.is_empty() {
                publish(ctx, obj, EventType::Normal, reason, "Delete", &note).await;
            }
        }
        (DeletionPolicy::Retain, Err(why)) => {
            // Retain never blocks a deletion: the marker stays (adoptable here once this
            // resource is gone, since its owner no longer exists).
            publish(
                ctx,
                obj,
                EventType::Warning,
                "ReleaseFailed",
                "Delete",
                &format!(
                    "the Auth0 connection was kept but its ownership marker could not be released ({why}); the resource is deleted anyway"
                ),
            )
            .await;
        }
        (DeletionPolicy::Delete, Err(why)) => {
            let message = format!(
                "deleting the Auth0 connection failed, will retry: {why}. To delete this resource without deleting the Auth0 connection, set spec.deletionPolicy to Retain (kubectl patch ssoconnection {name} --type merge -p '{{\"spec\":{{\"deletionPolicy\":\"Retain\"}}}}')"
            );
            let mut status = obj.status.clone().unwrap_or_default();
            status::set_condition(
                &mut status.conditions,
                status::condition(
                    READY,
                    false,
                    Reason::Deleting,
                    &message,
                    obj.metadata.generation,
                    Timestamp::now(),
                ),
            );
            write_status(api, name, &status).await?;
            publish(ctx, obj, EventType::Warning, "Deleting", "Delete", &message).await;
            return Err(ControllerError::Read(message));
        }
    }
    set_finalizer(api, obj, name, false).await?;
    Ok(())
}

async fn cleanup_in_auth0(obj: &SsoConnection, ctx: &Context) -> Result<Cleanup, String> {
    let Some(id) = obj.status.as_ref().and_then(|s| s.connection_id.clone()) else {
        return Ok(Cleanup::Nothing);
    };
    let key = TenantKey::of_resource(obj);
    // A tenant that is not Ready may still have working credentials (e.g. a missing scope
    // unrelated to deletion): try its client; a missing tenant cannot be reached at all.
    let tenant = ctx
        .tenants
        .get(&key)
        .ok_or_else(|| format!("{} does not exist", key.describe()))?;
    let me = Claimant::new(obj, &ctx.cluster_id, Adoption::Unowned).owner;
    let client = &tenant.client;
    let Some(conn) = client
        .get_connection(&id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(Cleanup::Nothing);
    };
    let metadata = conn.metadata.clone().unwrap_or_default();
    match obj.spec.deletion_policy {
        DeletionPolicy::Delete => {
            // The whole marker, cluster id and UID included: never another owner's.
            if !ownership::may_delete(&metadata, &me) {
                tracing::warn!(
                    connection = %id,
                    "not deleting an Auth0 connection this resource does not own"
                );
                return Ok(Cleanup::NotOurs(id));
            }
            client
                .delete_connection(&id)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Cleanup::Deleted(id))
        }
        DeletionPolicy::Retain => {
            let Some(released) = ownership::release(&metadata, &me) else {
                return Ok(Cleanup::NotOurs(id));
            };
            let body = ConnectionUpdate {
                options: None,
                metadata: Some(released),
                ..ConnectionUpdate::default()
            };
            client
                .update_connection(&id, &body)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Cleanup::Released(id))
        }
    }
}
