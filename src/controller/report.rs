//! What users see: the status subresource and Events.

use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource};
use serde_json::json;

use super::{Context, FIELD_MANAGER};
use crate::crd::SsoConnection;
use crate::status;

/// Server-side applies `status` to the status subresource of `name`, as the operator's field
/// manager (any of the operator's kinds).
pub(super) async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    status: &S,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize,
{
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
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

pub(super) async fn publish(
    ctx: &Context,
    obj: &SsoConnection,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    publish_event(ctx, obj, type_, reason, action, note).await;
}

/// An Event on any of the operator's resources.
pub(super) async fn publish_event<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
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
