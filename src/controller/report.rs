//! What users see: the status subresource and Events.

use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource};
use serde_json::json;

use super::{Context, FIELD_MANAGER};
use crate::crd::{SsoConnection, SsoConnectionStatus};
use crate::status;

pub(super) async fn write_status(
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

pub(super) async fn publish(
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
