//! The finalizer, and deleting the Auth0 connection when the policy says so.

use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::report::{publish, write_status};
use super::{Context, ControllerError, FINALIZER};
use crate::auth0::{Auth0Client, Auth0Error};
use crate::crd::{DeletionPolicy, SsoConnection};
use crate::status::{self, READY, Reason};

/// Adds or removes our finalizer, guarded by the resourceVersion read (no lost updates).
pub(super) async fn set_finalizer(
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

/// Deletes the Auth0 connection (only when it carries our marker) and releases the finalizer.
pub(super) async fn cleanup(
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
