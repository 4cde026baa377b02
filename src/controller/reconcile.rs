//! One SsoConnection reconcile, phase by phase: finalizer → dereference (tenant, policy,
//! domains) → sync with Auth0 → encrypted certificate Secret → status, Events, requeue (decided
//! in [`super::outcome`]).

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::certificate::{apply_encryption_outcome, store_certificate};
use super::dereference::admit;
use super::finalizer::{cleanup, set_finalizer};
use super::lane;
use super::metadata_source::{self, Gate};
use super::outcome::{self, Requeue};
use super::report::{publish, write_status};
use super::scim;
use super::sources::KubeSources;
use super::sp_metadata::publish_sp_metadata;
use super::{Context, ControllerError, FINALIZER, PendingEncryption, backoff, jittered};
use crate::auth0::{Auth0Error, Lane, Priority, in_lane};
use crate::crd::{SsoConnection, SsoConnectionStatus};
use crate::reconcile::{self, Sources, SyncError, SyncOptions};
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
        ctx.metadata_urls.remove(&ObjectRef::from_obj(&*obj));
        ctx.forget(&ObjectRef::from_obj(&*obj));
        if has_finalizer {
            cleanup(&obj, &ctx, &api, &name).await?;
        }
        return Ok(Action::await_change());
    }
    // The finalizer serves both policies (Delete: delete the connection; Retain: release its
    // ownership marker), and must be in place before the connection exists.
    if !has_finalizer {
        set_finalizer(&api, &obj, &name, true).await?;
        return Ok(Action::await_change());
    }

    let now = Timestamp::now();
    let key = ObjectRef::from_obj(&*obj);
    let old_status = obj.status.clone().unwrap_or_default();
    let mut sources = KubeSources {
        client: ctx.client.clone(),
        url_document: None,
    };

    // Encryption failed after a successful sync, and neither the spec nor the metadata changed
    // since: store the certificate again without asking Auth0.
    if let Some(pending) = ctx.pending_encryption(&key)
        && let Some(action) =
            retry_encryption_only(&obj, &ctx, &sources, &pending, &old_status, now).await?
    {
        return Ok(action);
    }

    // A person's work first; background work waits for its booked turn.
    let lane = match lane::turn(&obj, &old_status, ctx.take_booking(&key)) {
        lane::Turn::Go(lane) => lane,
        lane::Turn::Wait(left) => return Ok(Action::requeue(left)),
    };

    let mut url_state = None;
    let mut scim_next = None;
    let result = match admit(&obj, &ctx).await {
        Ok(admitted) => {
            // A URL source: the document first (refreshed when due); without one nothing is
            // sent to Auth0.
            url_state = metadata_source::refresh(&obj, &ctx, &key, now).await;
            let gate = url_state
                .as_ref()
                .map(|state| metadata_source::gate(&obj, state, &old_status));
            match gate {
                None | Some(Gate::Use(_)) => {
                    if let Some(Gate::Use(doc)) = gate {
                        sources.url_document = Some(doc);
                    }
                    let recheck_clients = old_status.last_sync_time.as_ref().is_none_or(|t| {
                        now.duration_since(t.0).as_secs() >= ctx.resync.as_secs() as i64
                    });
                    let listed = in_lane(
                        Lane {
                            priority: Priority::Background,
                            deferrable: false,
                        },
                        drift_listing(&obj, &ctx, &admitted.tenant, &old_status, now),
                    )
                    .await;
                    in_lane(lane, async {
                        let mut synced = reconcile::sync_connection(
                            &admitted.tenant.client,
                            &obj,
                            &admitted.claimant,
                            &sources,
                            SyncOptions {
                                dry_run: false,
                                recheck_clients,
                                listed,
                            },
                            now,
                        )
                        .await?;
                        scim_next = settle_scim(
                            &obj,
                            &ctx,
                            &admitted.tenant.client,
                            &mut synced,
                            recheck_clients,
                            now,
                        )
                        .await?;
                        Ok((synced, admitted))
                    })
                    .await
                }
                Some(Gate::Hold) => {
                    let state = url_state.as_ref().ok_or(ControllerError::Unnamed)?;
                    return hold(&obj, &ctx, &api, &name, state, &old_status, now).await;
                }
                Some(Gate::Fail(err)) => Err(err),
            }
        }
        Err(denied) => Err(denied),
    };
    let (mut new_status, delay, verified) = match result {
        Ok((synced, admitted)) => {
            let mut status = reconcile::synced_status(&obj, &synced, &admitted.tenant.facts, now);
            status.tenant = admitted.tenant.key.status_name();
            if let Some(state) = &url_state {
                status.metadata_source = Some(metadata_source::url_status(
                    state,
                    Some(&synced.metadata_source),
                    &old_status,
                ));
                if let Some(note) = metadata_source::stale_notice(state, &old_status, &ns) {
                    publish(
                        &ctx,
                        &obj,
                        EventType::Warning,
                        Reason::MetadataUnreachable.as_str(),
                        "RefreshMetadata",
                        &note,
                    )
                    .await;
                }
            }
            // Recomputed at every verified sync (at least daily): the written status carries
            // the fresh CertificateExpiring condition and what was noticed.
            check_certificates(&obj, &ctx, &mut status, now).await;
            publish_sp_metadata(&obj, &ctx, &admitted.tenant, &synced.desired, &status).await;
            let encrypted = store_certificate(&obj, &ctx, synced.idp.selected_cert(), &ns).await;
            let retry_encryption =
                apply_encryption_outcome(&mut status, encrypted, &obj, &ctx, now).await;
            ctx.set_pending_encryption(
                &key,
                retry_encryption.then(|| PendingEncryption {
                    generation: obj.metadata.generation,
                    metadata_sha256: synced.metadata_source.sha256.clone(),
                    certificate: synced.idp.selected_cert().clone(),
                }),
            );
            ctx.metrics.count_outcome(synced.action.as_str());
            ctx.mark_synced(&key);
            let ready_message = status::find_condition(&status.conditions, READY)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            if let Some((action, note)) =
                outcome::success_event(synced.action, was_ready(&old_status), &ready_message)
            {
                publish(&ctx, &obj, EventType::Normal, "Synced", action, &note).await;
            }
            let delay = if retry_encryption {
                let n = ctx.record_failure(&key);
                backoff(n, None).min(jittered(ctx.resync))
            } else {
                ctx.clear_failures(&key);
                jittered(ctx.resync)
            };
            // A SCIM token due for replacement, or a replaced one to revoke, comes first.
            let delay = match scim_next {
                Some(at) => {
                    let wait = std::time::Duration::try_from(at.duration_since(now))
                        .unwrap_or_default()
                        .max(std::time::Duration::from_secs(1));
                    delay.min(wait)
                }
                None => delay,
            };
            (status, Some(delay), true)
        }
        // Background work deferred behind a person's: nothing was sent; back at its turn.
        Err(SyncError::Auth0(Auth0Error::Deferred { retry_after, .. })) => {
            ctx.metrics.count_outcome("deferred");
            ctx.book(&key, retry_after);
            return Ok(Action::requeue(retry_after));
        }
        // Just started, the tenant not verified yet: look again shortly; nothing to report.
        Err(SyncError::TenantStarting(_)) => {
            return Ok(Action::requeue(std::time::Duration::from_secs(2)));
        }
        // An API server hiccup says nothing about the resource: retry, keep its status.
        Err(err @ SyncError::Kubernetes { .. }) => {
            return Err(ControllerError::Read(err.to_string()));
        }
        Err(err) => {
            let reason = err.reason();
            ctx.metrics.count_outcome("error");
            ctx.metrics.count_error(reason);
            let mut status = reconcile::failed_status(&obj, &err, now);
            if status.tenant.is_none() {
                status.tenant = crate::tenants::TenantKey::of_resource(&obj).status_name();
            }
            if let Some(state) = &url_state {
                status.metadata_source =
                    Some(metadata_source::url_status(state, None, &old_status));
            }
            // The certificates last applied are still the ones in Auth0: their expiry keeps
            // being reported while syncs fail.
            check_certificates(&obj, &ctx, &mut status, now).await;
            let previous = status::find_condition(&old_status.conditions, READY);
            let message = status::truncate(&err.to_string(), status::MAX_MESSAGE_CHARS);
            if outcome::failure_is_news(previous, reason, &message) {
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
            let retry_after = match &err {
                SyncError::Auth0(Auth0Error::RateLimited { retry_after, .. }) => Some(*retry_after),
                _ => None,
            };
            let delay = match outcome::after_failure(reason, err.is_transient(), retry_after) {
                // A URL that failed is retried on its own schedule (the fetch's backoff).
                Requeue::Backoff { .. } if err.reason() == Reason::MetadataUnreachable => {
                    ctx.clear_failures(&key);
                    None
                }
                Requeue::Backoff { floor } => Some(backoff(ctx.record_failure(&key), floor)),
                Requeue::After(d) => {
                    ctx.clear_failures(&key);
                    Some(d)
                }
                Requeue::AwaitChange => {
                    ctx.clear_failures(&key);
                    None
                }
            };
            (status, delay, false)
        }
    };
    if outcome::status_write_needed(&old_status, &new_status, verified) {
        if new_status.last_sync_time.is_none() {
            new_status.last_sync_time = old_status.last_sync_time.clone();
        }
        write_status(&api, &name, &new_status).await?;
    }
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    Ok(requeue(metadata_source::until_refresh(
        delay,
        url_state.as_ref(),
        now,
    )))
}

/// The tenant's drift listing for this reconcile (see [`crate::drift`]): a resource that
/// exists in Auth0 is compared with the listing instead of read on its own. A drift check
/// (the first reconcile since the operator started, or a due resync) takes a new listing
/// unless a fresh one exists, once for all concurrent callers; when it replaces an older one,
/// the tenant's other resources are checked against it too (one pass for the tenant). `None`:
/// read the connection by id (a new resource, no usable listing, or listing failed).
async fn drift_listing(
    obj: &SsoConnection,
    ctx: &Context,
    tenant: &crate::tenants::TenantHandle,
    old_status: &SsoConnectionStatus,
    now: Timestamp,
) -> Option<std::sync::Arc<crate::drift::Listing>> {
    old_status.connection_id.as_ref()?;
    let key = ObjectRef::from_obj(obj);
    let since_last_sync = old_status
        .last_sync_time
        .as_ref()
        .and_then(|t| std::time::Duration::try_from(now.duration_since(t.0)).ok());
    match crate::drift::listing_use(!ctx.synced_before(&key), since_last_sync, ctx.resync) {
        crate::drift::Use::Reuse { max_age } => tenant.lister.latest(max_age, now),
        crate::drift::Use::Check { max_age } => {
            match tenant.lister.check(&tenant.client, max_age).await {
                Ok(checked) => {
                    if checked.replaced {
                        ctx.check_tenant(&tenant.key, &key);
                    }
                    Some(checked.listing).filter(|l| l.usable)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listing the tenant's connections failed; reading each connection instead");
                    None
                }
            }
        }
    }
}

/// The SCIM token after a successful sync: issued, kept or rotated while SCIM is on; the
/// Secret emptied once it is off. Returns when to look at the token again.
async fn settle_scim(
    obj: &SsoConnection,
    ctx: &Context,
    client: &crate::auth0::Auth0Client,
    synced: &mut reconcile::Synced,
    recheck: bool,
    now: Timestamp,
) -> Result<Option<Timestamp>, SyncError> {
    match (synced.scim.as_mut(), synced.connection_id.clone()) {
        (Some(scim), Some(id)) if obj.spec.scim.as_ref().is_some_and(|s| s.enabled) => {
            scim::settle_token(obj, ctx, client, &id, scim, recheck, now).await
        }
        _ => {
            if obj.status.as_ref().is_some_and(|s| s.scim.is_some()) {
                scim::empty_secret(obj, ctx).await?;
            }
            Ok(None)
        }
    }
}

fn requeue(delay: Option<std::time::Duration>) -> Action {
    delay.map_or_else(Action::await_change, Action::requeue)
}

/// A URL that fails while Auth0 holds what was applied from it: nothing is sent to Auth0, the
/// status reports the fetch (Ready as it was), a Warning Event tells of a new failure, and the
/// next fetch is awaited.
async fn hold(
    obj: &SsoConnection,
    ctx: &Context,
    api: &Api<SsoConnection>,
    name: &str,
    state: &crate::metadata_url::cache::UrlState,
    old_status: &SsoConnectionStatus,
    now: Timestamp,
) -> Result<Action, ControllerError> {
    let ns = obj.namespace().unwrap_or_default();
    let mut status = old_status.clone();
    status.metadata_source = Some(metadata_source::url_status(state, None, old_status));
    check_certificates(obj, ctx, &mut status, now).await;
    if let Some(note) = metadata_source::stale_notice(state, old_status, &ns) {
        publish(
            ctx,
            obj,
            EventType::Warning,
            Reason::MetadataUnreachable.as_str(),
            "RefreshMetadata",
            &note,
        )
        .await;
    }
    if status != *old_status {
        write_status(api, name, &status).await?;
    }
    Ok(requeue(metadata_source::until_refresh(
        None,
        Some(state),
        now,
    )))
}

/// Stores the pending certificate again when the resource and its metadata are as they were
/// when it was synced; `None` when they changed (a full reconcile follows). No Auth0 call.
async fn retry_encryption_only(
    obj: &SsoConnection,
    ctx: &Context,
    sources: &KubeSources,
    pending: &PendingEncryption,
    old_status: &SsoConnectionStatus,
    now: Timestamp,
) -> Result<Option<Action>, ControllerError> {
    if pending.generation != obj.metadata.generation {
        return Ok(None);
    }
    let ns = obj.namespace().unwrap_or_default();
    let current_sha = match &obj.spec.metadata.config_map_ref {
        Some(r) => sources
            .config_map(&ns, &r.name)
            .await
            .map_err(ControllerError::Read)?
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .map(|xml| reconcile::sha256_hex(xml)),
        None => ctx
            .metadata_urls
            .get(&ObjectRef::from_obj(obj))
            .and_then(|s| s.good.map(|g| g.sha256)),
    };
    let unchanged = current_sha.as_deref() == Some(pending.metadata_sha256.as_str());
    if !unchanged {
        return Ok(None);
    }
    let key = ObjectRef::from_obj(obj);
    let mut status = old_status.clone();
    let encrypted = store_certificate(obj, ctx, &pending.certificate, &ns).await;
    let retry = apply_encryption_outcome(&mut status, encrypted, obj, ctx, now).await;
    let action = if retry {
        Action::requeue(backoff(ctx.record_failure(&key), None).min(jittered(ctx.resync)))
    } else {
        ctx.clear_failures(&key);
        ctx.set_pending_encryption(&key, None);
        Action::requeue(jittered(ctx.resync))
    };
    if status::differs_ignoring_timestamps(old_status, &status) {
        let api: Api<SsoConnection> = Api::namespaced(ctx.client.clone(), &ns);
        write_status(&api, &obj.name_any(), &status).await?;
    }
    Ok(Some(action))
}

/// Brings the expiry parts of `status` up to date and publishes the notices due (each is
/// recorded in `status`, which the caller writes).
async fn check_certificates(
    obj: &SsoConnection,
    ctx: &Context,
    status: &mut SsoConnectionStatus,
    now: Timestamp,
) {
    for notice in crate::expiry::evaluate(status, now, &ctx.expiry, obj.metadata.generation) {
        publish(
            ctx,
            obj,
            EventType::Warning,
            notice.reason,
            "CheckCertificate",
            &notice.note,
        )
        .await;
    }
}

pub(super) fn was_ready(status: &SsoConnectionStatus) -> bool {
    status::find_condition(&status.conditions, READY).is_some_and(|c| c.status == "True")
}
