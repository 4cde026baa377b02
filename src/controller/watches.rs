//! What the controller watches: SsoConnections, the ConfigMaps and key Secrets they
//! reference, and the certificate Secrets they own.
//!
//! How watches survive an API server outage (issue 8, item 9): each watch backs off on its
//! own, briefly ([`watch_backoff`]); the controller adds no shared pause on top
//! ([`NoSharedPause`]); after an error a watch starts over with a fresh list
//! ([`relist_after_errors`]), which is when [`super::health`] calls it healthy again; the
//! streams after a relist pass on only objects that changed, so a relist does not requeue
//! every SsoConnection; and watch requests are short, so a connection that died without a
//! word is noticed within half a minute.

use std::fmt::Debug;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::utils::Backoff;
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::health::WatchHealth;
use super::{FIELD_MANAGER, MANAGED_LABEL};
use crate::crd::{ROTATE_SCIM_TOKEN_ANNOTATION, SsoConnection};

/// Server-side timeout of each watch request. kube-runtime gives up on a watch that has been
/// silent 5 s longer than this and watches again, so a connection that died without a FIN or
/// RST (a load balancer in front of a replaced API server) costs at most 30 s, not 295 s. The
/// kube client speaks HTTP/1.1 without keep-alive probes; client-go notices the same with
/// HTTP/2 pings after about as long. A watch that times out resumes from its resource version
/// (no list), served from the API server's watch cache.
const WATCH_TIMEOUT_SECS: u32 = 25;

/// Builds the controller stream: SsoConnections (generation/finalizer changes only), the
/// ConfigMaps they reference (metadata-only watch) and the Secrets they own. Each watch
/// reports to `health`.
pub fn controller(
    client: Client,
    namespace: Option<&str>,
    concurrency: u16,
    health: &WatchHealth,
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
    let main = watch(
        ssos,
        watcher::Config::default().any_semantic().page_size(50),
    )
    // The cache keeps every SsoConnection; what the reconcile never reads is dropped:
    // managedFields (often larger than the object) and kubectl's last-applied copy.
    .modify(strip_unread_metadata)
    .reflect(writer)
    // After the reflector, so "listed" means the store holds the list.
    .inspect(health.observer("SsoConnections"))
    .applied_objects()
    .predicate_filter(
        predicates::generation
            .combine(predicates::finalizers)
            .combine(scim_rotation_request),
        Default::default(),
    );
    let controller = Controller::for_stream(main, reader.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .trigger_backoff(NoSharedPause);
    let store = controller.store();
    // Only ConfigMap metadata is cached; content is read with a GET when a reconcile needs it.
    // A relist passes on only ConfigMaps that changed since they were last seen.
    let cm_stream = watch(cms, watcher::Config::default().any_semantic())
        .inspect(health.observer("ConfigMaps"))
        .modify(|o: &mut PartialObjectMeta<ConfigMap>| o.managed_fields_mut().clear())
        .touched_objects()
        .predicate_filter(predicates::resource_version, Default::default());
    // The operator's own write of a Secret must not re-trigger its owner: that reconcile would
    // cost one more Auth0 GET per new connection. Deletions and other writers' edits do.
    let secret_stream = watch(
        secrets.clone(),
        watcher::Config::default().labels(&format!("{MANAGED_LABEL}=sso-operator")),
    )
    .inspect(health.observer("certificate Secrets"))
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
    })
    .predicate_filter(predicates::resource_version, Default::default());
    // Key-pair Secrets users reference: metadata only, mapped to the SsoConnections naming them.
    let key_secrets = watch(secrets, watcher::Config::default().any_semantic())
        .inspect(health.observer("Secrets"))
        .modify(|o: &mut PartialObjectMeta<Secret>| o.managed_fields_mut().clear())
        .touched_objects()
        .predicate_filter(predicates::resource_version, Default::default());
    let key_store = store.clone();
    let controller = controller
        .watches_stream(cm_stream, move |cm: PartialObjectMeta<ConfigMap>| {
            let ns = cm.namespace();
            let name = cm.name_any();
            store
                .state()
                .into_iter()
                .filter(|s| {
                    s.namespace() == ns
                        && s.spec
                            .metadata
                            .config_map_ref
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                })
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

/// A watch of `api` as every watch here is run: short watch requests, a fresh list after each
/// error, and its own brief backoff.
fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let config = config.timeout(WATCH_TIMEOUT_SECS);
    relist_after_errors(move || watcher(api.clone(), config.clone())).backoff(watch_backoff())
}

/// How long one watch waits after an error before it tries again: 0.5 s doubling to 4 s, plus
/// up to as much again of jitter; reset once a list succeeds. kube-runtime's default (0.8 s
/// doubling to 30 s plus jitter, up to a minute) is kind to an overloaded API server, but a
/// handful of watches retrying every few seconds is nothing to one, and a watch that waits a
/// minute after the server is back is a minute of missed changes.
fn watch_backoff() -> watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(4))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

/// The controller's backoff over all its watches together: none. Each watch backs off on its
/// own ([`watch_backoff`]). kube-runtime's default here (0.8 s doubling to 30 s plus jitter)
/// pauses every watch when any one fails, and grows with the errors of all of them: after an
/// API server restart (a refused connection or two per watch while it is down, then one
/// "410 too old resource version" per watch) the operator stopped reading every watch for
/// 30-60 s at a time, three or four times over, with nothing logged.
pub(super) struct NoSharedPause;

impl Iterator for NoSharedPause {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoSharedPause {
    fn reset(&mut self) {}
}

/// The watch `start()` makes, started over with a fresh list after every error.
///
/// kube-runtime's watcher resumes a watch from its resource version after most errors, which
/// is cheaper but silent: nothing tells whether, or when, it delivers changes again. A fresh
/// list ends with `InitDone`, so the watch's health is known; the streams downstream pass on
/// only objects that changed, so a relist costs one list, not a reconcile of everything.
///
/// A (re)started watcher's `Init` is held back until its list returns a first page: the
/// backoff after this stream resets on every `Ok`, and an `Init` emitted before a list that
/// then fails would keep it at its shortest.
pub(super) fn relist_after_errors<K, S, F>(
    start: F,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>>
where
    F: FnMut() -> S,
    S: Stream<Item = watcher::Result<watcher::Event<K>>>,
{
    struct Relisting<F, S, K> {
        start: F,
        current: Option<Pin<Box<S>>>,
        init_held: bool,
        queued: Option<watcher::Event<K>>,
    }
    let state = Relisting {
        start,
        current: None,
        init_held: false,
        queued: None,
    };
    futures::stream::unfold(state, |mut st| async move {
        if let Some(event) = st.queued.take() {
            return Some((Ok(event), st));
        }
        loop {
            let current = st.current.get_or_insert_with(|| Box::pin((st.start)()));
            // A watcher never ends; should one, so does this stream.
            match current.next().await? {
                Err(e) => {
                    st.current = None;
                    st.init_held = false;
                    return Some((Err(e), st));
                }
                Ok(watcher::Event::Init) => st.init_held = true,
                Ok(event @ (watcher::Event::InitApply(_) | watcher::Event::InitDone))
                    if st.init_held =>
                {
                    st.init_held = false;
                    st.queued = Some(event);
                    return Some((Ok(watcher::Event::Init), st));
                }
                Ok(event) => return Some((Ok(event), st)),
            }
        }
    })
}

/// Drops the metadata no reconcile reads, so the cache holds less per object.
fn strip_unread_metadata(obj: &mut SsoConnection) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A new value of the annotation `sso-operator.io/rotate-scim-token` is a change to act on
/// (annotations bump no generation).
fn scim_rotation_request(obj: &SsoConnection) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let value = obj.annotations().get(ROTATE_SCIM_TOKEN_ANNOTATION)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    Some(hasher.finish())
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

    use std::collections::VecDeque;

    type Item = watcher::Result<watcher::Event<ConfigMap>>;

    fn cm(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// `Init`, `InitApply(a)`, `Apply(b)`, `Err` … as short strings, to compare sequences.
    fn show(item: &Item) -> String {
        match item {
            Ok(watcher::Event::Init) => "Init".into(),
            Ok(watcher::Event::InitApply(o)) => format!("InitApply({})", o.name_any()),
            Ok(watcher::Event::InitDone) => "InitDone".into(),
            Ok(watcher::Event::Apply(o)) => format!("Apply({})", o.name_any()),
            Ok(watcher::Event::Delete(o)) => format!("Delete({})", o.name_any()),
            Err(_) => "Err".into(),
        }
    }

    /// Runs `relist_after_errors` over scripted watchers (one per start); returns what it
    /// emitted and how many watchers it started.
    fn run(script: Vec<Vec<Item>>) -> (Vec<String>, usize) {
        let mut script: VecDeque<Vec<Item>> = script.into();
        let mut starts = 0;
        let out = futures::executor::block_on(
            relist_after_errors(|| {
                starts += 1;
                futures::stream::iter(script.pop_front().unwrap_or_default())
            })
            .map(|i| show(&i))
            .collect::<Vec<_>>(),
        );
        (out, starts)
    }

    fn err() -> Item {
        Err(watcher::Error::NoResourceVersion)
    }

    #[test]
    fn a_healthy_watch_passes_through_unchanged() {
        let (out, starts) = run(vec![vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(cm("a"))),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(cm("b"))),
            Ok(watcher::Event::Delete(cm("a"))),
        ]]);
        assert_eq!(
            out,
            ["Init", "InitApply(a)", "InitDone", "Apply(b)", "Delete(a)"]
        );
        assert_eq!(starts, 1);
    }

    #[test]
    fn every_error_starts_a_fresh_list_whose_init_waits_for_its_first_page() {
        let (out, starts) = run(vec![
            // Listed, watching, then the connection went away.
            vec![
                Ok(watcher::Event::Init),
                Ok(watcher::Event::InitDone),
                Ok(watcher::Event::Apply(cm("a"))),
                err(),
                Ok(watcher::Event::Apply(cm("never-read"))),
            ],
            // The server is down: the list fails. No `Init` may reset the backoff.
            vec![Ok(watcher::Event::Init), err()],
            vec![Ok(watcher::Event::Init), err()],
            // Back: a full list (no objects), then changes.
            vec![
                Ok(watcher::Event::Init),
                Ok(watcher::Event::InitDone),
                Ok(watcher::Event::Apply(cm("b"))),
            ],
        ]);
        assert_eq!(
            out,
            [
                "Init", "InitDone", "Apply(a)", "Err", "Err", "Err", "Init", "InitDone", "Apply(b)"
            ]
        );
        assert_eq!(starts, 4);
    }

    #[test]
    fn a_list_that_fails_after_a_page_is_started_over() {
        let (out, starts) = run(vec![
            vec![
                Ok(watcher::Event::Init),
                Ok(watcher::Event::InitApply(cm("a"))),
                err(),
            ],
            vec![
                Ok(watcher::Event::Init),
                Ok(watcher::Event::InitApply(cm("a"))),
                Ok(watcher::Event::InitApply(cm("b"))),
                Ok(watcher::Event::InitDone),
            ],
        ]);
        assert_eq!(
            out,
            [
                "Init",
                "InitApply(a)",
                "Err",
                "Init",
                "InitApply(a)",
                "InitApply(b)",
                "InitDone"
            ]
        );
        assert_eq!(starts, 2);
    }

    #[test]
    fn the_watch_backoff_stays_within_a_few_seconds() {
        let mut b = watch_backoff();
        let delays: Vec<Duration> = (&mut b).take(20).collect();
        assert!(delays[0] >= Duration::from_millis(500) && delays[0] < Duration::from_secs(1));
        assert!(
            delays.iter().all(|d| *d < Duration::from_secs(8)),
            "{delays:?}"
        );
        assert!(delays[10] >= Duration::from_secs(4), "{delays:?}");
        b.reset();
        assert!(b.next().is_some_and(|d| d < Duration::from_secs(1)));
        assert_eq!(NoSharedPause.next(), Some(Duration::ZERO));
    }

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
