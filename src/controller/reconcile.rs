//! One SsoConnection reconcile: finalizer, sync with Auth0, certificate Secret, status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::certificate::{apply_encryption_outcome, store_certificate};
use super::finalizer::{cleanup, set_finalizer};
use super::report::{publish, write_status};
use super::sources::KubeSources;
use super::{Context, ControllerError, FINALIZER, backoff, jittered};
use crate::auth0::Auth0Error;
use crate::crd::{DeletionPolicy, SsoConnection, SsoConnectionStatus};
use crate::reconcile::{self, SyncError, SyncOptions};
use crate::status::{self, READY, Reason};

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
            ctx.metrics.count_error(reason);
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

pub(super) fn was_ready(status: &SsoConnectionStatus) -> bool {
    status::find_condition(&status.conditions, READY).is_some_and(|c| c.status == "True")
}
