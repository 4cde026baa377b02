//! What the controller watches: SsoConnections, the ConfigMaps and key Secrets they
//! reference, and the certificate Secrets they own.

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, ResourceExt};

use super::{FIELD_MANAGER, MANAGED_LABEL};
use crate::crd::SsoConnection;

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
}
