//! `SamlApplication` reconciles: finalizer → tenant (policy: namespaceSelector and name prefix)
//! → sync with Auth0 ([`crate::saml_app::sync`]) → the `<name>-idp-metadata` ConfigMap for the
//! SP's administrator → status and Events. Deletion deletes (Delete) or releases (Retain) the
//! application, only when its ownership marker is this resource's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use super::certificate::is_ours;
use super::dereference::{namespace_facts, tenant_for};
use super::finalizer::set_finalizer_of;
use super::report::{publish_event as publish, write_status};
use super::watches::NoSharedPause;
use super::{Context, ControllerError, FIELD_MANAGER, MANAGED_LABEL, backoff, jittered};
use crate::auth0::applications::ApplicationUpdate;
use crate::crd::{DeletionPolicy, SamlApplication, SamlApplicationStatus};
use crate::ownership;
use crate::reconcile::SyncError;
use crate::saml_app::sync::{self, AppSynced};
use crate::status::{self, READY, Reason};
use crate::tenants::{TenantHandle, TenantKey};

/// Finalizer of SamlApplications.
pub const APP_FINALIZER: &str = "sso-operator.io/delete-auth0-application";
/// Key of the IdP metadata XML in the ConfigMap.
pub const IDP_METADATA_KEY: &str = "metadata.xml";

/// Runs the SamlApplication controller until `shutdown` resolves.
pub(super) async fn run_saml_application_controller(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Clone + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let apps: Api<SamlApplication> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let controller = Controller::new(apps, watcher::Config::default().any_semantic());
    let store = controller.store();
    // The SP metadata ConfigMaps the applications reference (metadata only): an edit
    // re-reconciles the applications naming it. The operator's own `<name>-idp-metadata`
    // ConfigMaps map to nothing (their write would only cost another Auth0 read); a deleted
    // one is written again at the next resync.
    let metadata_only: Api<PartialObjectMeta<ConfigMap>> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    controller
        .watches(
            metadata_only,
            watcher::Config::default().any_semantic(),
            move |cm: PartialObjectMeta<ConfigMap>| {
                let ns = cm.namespace();
                let name = cm.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|a| {
                        a.namespace() == ns
                            && a.spec
                                .sp_metadata
                                .as_ref()
                                .is_some_and(|m| m.config_map_ref.name == name)
                    })
                    .map(|a| ObjectRef::from_obj(&*a))
                    .collect::<Vec<_>>()
            },
        )
        .trigger_backoff(NoSharedPause)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_application, app_error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn app_error_policy(
    obj: Arc<SamlApplication>,
    err: &ControllerError,
    _ctx: Arc<Context>,
) -> Action {
    tracing::warn!(resource = %obj.name_any(), error = %err, "SamlApplication reconcile error");
    Action::requeue(backoff(3, None))
}

fn tenant_key(obj: &SamlApplication) -> TenantKey {
    TenantKey::of(
        obj.spec.tenant_ref.as_ref(),
        obj.metadata.namespace.as_deref().unwrap_or_default(),
    )
}

/// Reconciles one SamlApplication.
pub(super) async fn reconcile_application(
    obj: Arc<SamlApplication>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let ns = obj.namespace().ok_or(ControllerError::Unnamed)?;
    let name = obj.name_any();
    let api: Api<SamlApplication> = Api::namespaced(ctx.client.clone(), &ns);
    let has_finalizer = obj.finalizers().iter().any(|f| f == APP_FINALIZER);
    if obj.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            return delete_or_release(&obj, &ctx, &api).await;
        }
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        set_finalizer(&api, &obj, true).await?;
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    let old = obj.status.clone().unwrap_or_default();
    let result = match admit(&obj, &ctx).await {
        Ok(tenant) => {
            let owner = sync::owner_of(&obj, &ctx.cluster_id);
            let adoption = crate::policy::adoption(tenant.policy.as_ref());
            let sources = super::sources::KubeSources {
                client: ctx.client.clone(),
                url_document: None,
            };
            sync::sync_application(&tenant.client, &obj, &owner, adoption, &sources, false)
                .await
                .map(|synced| (synced, tenant))
        }
        Err(e) => Err(e),
    };
    let (mut new_status, delay) = match result {
        Ok((synced, tenant)) => {
            let mut st = sync::synced_status(&obj, &synced, &tenant.facts, now);
            st.tenant = tenant.key.status_name();
            let published = publish_idp_metadata(&obj, &ctx, &tenant, &synced).await;
            if let Some((config_map, issuer)) = published {
                st.idp_metadata_config_map = Some(config_map);
                // The document Auth0 publishes is the authority on the issuer.
                if issuer.is_some() {
                    st.idp_entity_id = issuer;
                }
            }
            if matches!(
                synced.action,
                crate::reconcile::Action::Created | crate::reconcile::Action::Updated
            ) {
                let note = status::find_condition(&st.conditions, READY)
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                publish(&ctx, &*obj, EventType::Normal, "Synced", "Sync", &note).await;
            }
            (st, jittered(ctx.resync))
        }
        Err(SyncError::TenantStarting(_)) => return Ok(Action::requeue(Duration::from_secs(2))),
        Err(err @ SyncError::Kubernetes { .. }) => {
            return Err(ControllerError::Read(err.to_string()));
        }
        Err(err) => {
            let st = sync::failed_status(&obj, &err, now);
            let message = status::truncate(&err.to_string(), status::MAX_MESSAGE_CHARS);
            let previous = status::find_condition(&old.conditions, READY);
            if previous.is_none_or(|c| c.reason != err.reason().as_str() || c.message != message) {
                publish(
                    &ctx,
                    &*obj,
                    EventType::Warning,
                    err.reason().as_str(),
                    "Reconcile",
                    &message,
                )
                .await;
            }
            tracing::warn!(resource = %name, reason = err.reason().as_str(), error = %message, "SamlApplication reconcile failed");
            let delay = if err.is_transient() {
                backoff(2, None)
            } else {
                jittered(ctx.resync)
            };
            (st, delay)
        }
    };
    if new_status.last_sync_time.is_none() {
        new_status.last_sync_time = old.last_sync_time.clone();
    }
    if new_status != old {
        write_status(&api, &name, &new_status).await?;
    }
    Ok(Action::requeue(delay))
}

/// The tenant, after the policy's namespace selector and name prefix.
async fn admit(obj: &SamlApplication, ctx: &Context) -> Result<Arc<TenantHandle>, SyncError> {
    let key = tenant_key(obj);
    let tenant = tenant_for(ctx, &key).await?;
    if let Some(policy) = &tenant.policy {
        let ns = obj.namespace().unwrap_or_default();
        let facts = namespace_facts(ctx, &ns).await?;
        let tenant_name = key.status_name().unwrap_or_else(|| key.describe());
        crate::policy::check_namespace(policy, &tenant_name, &facts)
            .and_then(|()| crate::policy::check_name(policy, &facts, &obj.application_name()))
            .map_err(|v| SyncError::Denied {
                reason: v.reason(),
                message: v.message(&ns),
            })?;
    }
    Ok(tenant)
}

/// Fetches the IdP metadata Auth0 publishes for the application and stores it in
/// `<name>-idp-metadata` (never over a ConfigMap the operator did not write for this
/// resource). Returns the ConfigMap's name when it holds the document, and the document's
/// entity ID (the issuer).
async fn publish_idp_metadata(
    obj: &SamlApplication,
    ctx: &Context,
    tenant: &TenantHandle,
    synced: &AppSynced,
) -> Option<(String, Option<String>)> {
    let id = synced.client_id.as_deref()?;
    let ns = obj.namespace()?;
    let name = obj.idp_metadata_config_map_name();
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = maps.get_opt(&name).await.ok()?;
    if let Some(existing) = &existing
        && !is_ours(&existing.metadata, obj)
    {
        publish(
            ctx,
            obj,
            EventType::Warning,
            "IdpMetadataNotPublished",
            "PublishIdpMetadata",
            &format!(
                "ConfigMap {ns}/{name} exists and was not written by the operator for this SamlApplication; it was left untouched"
            ),
        )
        .await;
        return None;
    }
    let xml = match tenant.client.idp_metadata(id).await {
        Ok(xml) => xml,
        Err(e) => {
            tracing::warn!(resource = %obj.name_any(), error = %e, "fetching the IdP metadata failed");
            return existing.map(|_| (name, None));
        }
    };
    let issuer = crate::metadata::parse_idp_metadata(xml.as_bytes(), None, Timestamp::now())
        .ok()
        .map(|md| md.entity_id);
    let data = BTreeMap::from([(IDP_METADATA_KEY.to_string(), xml)]);
    if existing.as_ref().and_then(|c| c.data.as_ref()) == Some(&data) {
        return Some((name, issuer));
    }
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(BTreeMap::from([(
                MANAGED_LABEL.to_string(),
                "sso-operator".to_string(),
            )])),
            owner_references: obj.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    match maps
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&cm),
        )
        .await
    {
        Ok(_) => Some((name, issuer)),
        Err(e) => {
            tracing::warn!(resource = %obj.name_any(), error = %e, "writing the IdP metadata ConfigMap failed");
            None
        }
    }
}

async fn set_finalizer(
    api: &Api<SamlApplication>,
    obj: &SamlApplication,
    present: bool,
) -> Result<(), kube::Error> {
    set_finalizer_of(api, obj, &obj.name_any(), APP_FINALIZER, present).await
}

/// On deletion: Delete deletes the application when its whole marker is this resource's;
/// Retain releases the marker. An application that is not this resource's is left alone. A
/// Delete that cannot reach Auth0 keeps the finalizer and says so (switch to Retain to let go).
async fn delete_or_release(
    obj: &SamlApplication,
    ctx: &Context,
    api: &Api<SamlApplication>,
) -> Result<Action, ControllerError> {
    let owner = sync::owner_of(obj, &ctx.cluster_id);
    let outcome: Result<Option<String>, SyncError> = async {
        let Some(id) = obj.status.as_ref().and_then(|s| s.client_id.clone()) else {
            return Ok(None);
        };
        let tenant = tenant_for(ctx, &tenant_key(obj)).await?;
        let Some(current) = tenant.client.get_application(&id).await? else {
            return Ok(None);
        };
        match obj.spec.deletion_policy {
            DeletionPolicy::Delete if ownership::may_delete(&current.client_metadata, &owner) => {
                tenant.client.delete_application(&id).await?;
                Ok(Some(format!("Deleted Auth0 application {id}")))
            }
            _ => match ownership::release(&current.client_metadata, &owner) {
                Some(metadata) => {
                    tenant
                        .client
                        .update_application(
                            &id,
                            &ApplicationUpdate {
                                client_metadata: Some(metadata),
                                ..Default::default()
                            },
                        )
                        .await?;
                    Ok(Some(format!(
                        "Released Auth0 application {id}: it stays in Auth0 and may be adopted"
                    )))
                }
                None => Ok(None),
            },
        }
    }
    .await;
    match outcome {
        Ok(note) => {
            if let Some(note) = note {
                publish(ctx, obj, EventType::Normal, "Deleted", "Delete", &note).await;
            }
            set_finalizer(api, obj, false).await?;
            Ok(Action::await_change())
        }
        Err(SyncError::TenantStarting(_)) => Ok(Action::requeue(Duration::from_secs(2))),
        Err(err) if obj.spec.deletion_policy == DeletionPolicy::Retain => {
            // Retain never blocks a deletion.
            tracing::warn!(resource = %obj.name_any(), error = %err, "releasing the Auth0 application failed; the resource goes anyway");
            set_finalizer(api, obj, false).await?;
            Ok(Action::await_change())
        }
        Err(err) => {
            let mut st: SamlApplicationStatus = obj.status.clone().unwrap_or_default();
            let message = format!(
                "deleting the Auth0 application failed ({err}); retried; to let the resource go without deleting it, set spec.deletionPolicy: Retain"
            );
            status::set_condition(
                &mut st.conditions,
                status::condition(
                    READY,
                    false,
                    Reason::Deleting,
                    &message,
                    obj.metadata.generation,
                    Timestamp::now(),
                ),
            );
            write_status(api, &obj.name_any(), &st).await?;
            Ok(Action::requeue(backoff(2, None)))
        }
    }
}
