//! Who owns an Auth0 object: the marker the operator writes into a connection's `metadata`,
//! and the pure decision whether a resource may change, adopt, release or delete it.
//!
//! Marker v2 (every value at most 255 characters, Auth0's metadata limit):
//!
//! | key | value |
//! |---|---|
//! | `managed-by` | `sso-operator` |
//! | `sso-operator-owner` | `namespace/name` of the resource (shortened with a hash suffix past 255) |
//! | `sso-operator-cluster` | the cluster id (default: UID of the `kube-system` namespace) |
//! | `sso-operator-uid` | the resource's UID |
//!
//! A resource deleted with `Retain` releases the object: the owner keys go and
//! `sso-operator-released` names the former owner. Marker v1 (`managed-by` and
//! `sso-operator-owner` only) is read as owned by this cluster and upgraded in place.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The key marking an object as managed by this operator.
pub const MANAGED_BY_KEY: &str = "managed-by";
/// The value of [`MANAGED_BY_KEY`].
pub const MANAGED_BY_VALUE: &str = "sso-operator";
/// The key naming the owning resource, `namespace/name`.
pub const OWNER_KEY: &str = "sso-operator-owner";
/// The key holding the owning cluster's id.
pub const CLUSTER_KEY: &str = "sso-operator-cluster";
/// The key holding the owning resource's UID.
pub const UID_KEY: &str = "sso-operator-uid";
/// The key a released object carries instead of the owner keys: the former owner.
pub const RELEASED_KEY: &str = "sso-operator-released";
/// Auth0's limit on a metadata value.
pub const MAX_VALUE_CHARS: usize = 255;
/// Auth0's limit on the number of metadata keys.
pub const MAX_KEYS: usize = 10;

/// A metadata map as Auth0 takes it in a PATCH (`null` removes a key).
pub type Metadata = BTreeMap<String, Option<String>>;

/// The resource claiming an Auth0 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Id of the cluster the operator runs in.
    pub cluster_id: String,
    /// The resource's namespace.
    pub namespace: String,
    /// The resource's name.
    pub name: String,
    /// The resource's UID.
    pub uid: String,
}

impl Owner {
    /// `namespace/name`, shortened to fit a metadata value.
    pub fn owner_value(&self) -> String {
        shorten(&format!("{}/{}", self.namespace, self.name))
    }

    /// The marker's keys and values for this owner.
    pub fn marker(&self) -> [(&'static str, String); 4] {
        [
            (MANAGED_BY_KEY, MANAGED_BY_VALUE.to_string()),
            (OWNER_KEY, self.owner_value()),
            (CLUSTER_KEY, shorten(&self.cluster_id)),
            (UID_KEY, shorten(&self.uid)),
        ]
    }
}

/// `value` when it fits in [`MAX_VALUE_CHARS`], else its first characters, `~` and 16 hex
/// digits of its SHA-256: deterministic, and distinct values stay distinct.
pub fn shorten(value: &str) -> String {
    if value.chars().count() <= MAX_VALUE_CHARS {
        return value.to_string();
    }
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    let keep = MAX_VALUE_CHARS - 17;
    let prefix: String = value.chars().take(keep).collect();
    format!("{prefix}~{}", &digest[..16])
}

/// What an object's metadata says about its owner, from one resource's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// No marker: created outside the operator (Dashboard, Terraform, …).
    Unmarked,
    /// Released by a resource deleted with `Retain`.
    Released {
        /// `namespace/name` of the former owner.
        former_owner: String,
    },
    /// This resource's own marker; `upgrade` when it is v1 or carries an older UID of the same
    /// namespace/name in this cluster (the resource was deleted and created again).
    Ours {
        /// The marker must be rewritten.
        upgrade: bool,
    },
    /// Another resource's, or another cluster's.
    Foreign(ForeignOwner),
}

/// The owner named by a marker that is not ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignOwner {
    /// `namespace/name`.
    pub owner: String,
    /// Its cluster id; `None` for a v1 marker.
    pub cluster_id: Option<String>,
    /// Its UID; `None` for a v1 marker.
    pub uid: Option<String>,
    /// Whether the marker names this operator's cluster (a v1 marker counts as this cluster).
    pub same_cluster: bool,
}

impl ForeignOwner {
    /// `namespace/name`, with the cluster when it is another one.
    pub fn describe(&self) -> String {
        match (&self.cluster_id, self.same_cluster) {
            (Some(cluster), false) => format!("{} in cluster {cluster}", self.owner),
            _ => self.owner.clone(),
        }
    }

    /// The `(namespace, name)` to look up to learn whether this owner still exists, or `None`
    /// when its absence could not prove anything: a marker of another cluster, or an owner
    /// value shortened with a hash suffix (Kubernetes names never contain `~`), which names
    /// no resource that could be looked up.
    pub fn resource_to_check(&self) -> Option<(&str, &str)> {
        if !self.same_cluster || self.owner.contains('~') {
            return None;
        }
        let (namespace, name) = self.owner.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains('/'))
            .then_some((namespace, name))
    }
}

/// Reads the marker from a metadata lookup.
pub fn read_marker<'a>(value: impl Fn(&str) -> Option<&'a str>, me: &Owner) -> Marker {
    let managed = value(MANAGED_BY_KEY) == Some(MANAGED_BY_VALUE);
    let Some(owner) = value(OWNER_KEY).filter(|_| managed) else {
        return match value(RELEASED_KEY) {
            Some(former) if managed => Marker::Released {
                former_owner: former.to_string(),
            },
            _ => Marker::Unmarked,
        };
    };
    let cluster = value(CLUSTER_KEY);
    let uid = value(UID_KEY);
    let same_cluster = cluster.is_none_or(|c| c == shorten(&me.cluster_id));
    if owner == me.owner_value() && same_cluster {
        let exact = cluster.is_some() && uid == Some(shorten(&me.uid).as_str());
        return Marker::Ours { upgrade: !exact };
    }
    Marker::Foreign(ForeignOwner {
        owner: owner.to_string(),
        cluster_id: cluster.map(str::to_string),
        uid: uid.map(str::to_string),
        same_cluster,
    })
}

/// Which Auth0 objects a resource may take over (`ClusterAuth0Tenant` `spec.policy.adoption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Adoption {
    /// Never take over an existing object.
    Disabled,
    /// Take over unmarked or released objects when the resource sets `adoptExisting: true`.
    #[default]
    Unowned,
}

/// What the resource asks for and what it may do.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The resource.
    pub owner: &'a Owner,
    /// `spec.adoptExisting`.
    pub adopt_existing: bool,
    /// The tenant's adoption policy.
    pub adoption: Adoption,
    /// For a foreign marker of this cluster: whether its owner no longer exists (checked by
    /// the caller against the API server). A marker of another cluster is always live.
    pub foreign_owner_gone: bool,
}

/// The decision about an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ours, marker current: no metadata write.
    Keep,
    /// Ours after writing this complete metadata map (upgrade or adoption).
    Write {
        /// The full metadata map to send.
        metadata: Metadata,
        /// Whether this takes over an object that was not ours.
        adopted: bool,
    },
    /// Not ours: leave it alone.
    Refuse(Conflict),
}

/// Why an object is not the resource's to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another live owner's marker.
    OwnedByOther(ForeignOwner),
    /// No marker (or released), and the resource did not ask to adopt.
    NotAdopting {
        /// Whether the object was released by a former owner.
        released: bool,
    },
    /// The marker names a resource of this cluster that no longer exists, and the resource
    /// did not ask to adopt.
    OwnerGone {
        /// `namespace/name` of the vanished owner.
        owner: String,
    },
    /// The tenant's policy forbids adoption.
    AdoptionDisabled,
    /// The marker would not fit Auth0's 10 metadata keys.
    TooManyKeys {
        /// Keys after adding the marker.
        keys: usize,
    },
}

impl Conflict {
    /// A message naming the object and what to do; `what` is e.g. `Auth0 connection acme (con_1)`.
    pub fn message(&self, what: &str) -> String {
        match self {
            Conflict::OwnedByOther(o) => format!(
                "{what} is managed by another resource, {}; it was left untouched and can be neither changed, adopted nor deleted from here; choose another name",
                o.describe()
            ),
            Conflict::NotAdopting { released: true } => format!(
                "{what} was released by the resource that managed it; it was left untouched; set spec.adoptExisting: true to take it over (its other options are kept)"
            ),
            Conflict::NotAdopting { released: false } => format!(
                "{what} exists but was not created by this operator; it was left untouched; choose another name, or set spec.adoptExisting: true to take it over (its other options are kept)"
            ),
            Conflict::OwnerGone { owner } => format!(
                "{what} is marked as managed by {owner}, which no longer exists in this cluster; it was left untouched; set spec.adoptExisting: true to take it over (its other options are kept)"
            ),
            Conflict::AdoptionDisabled => format!(
                "{what} exists and the tenant's policy (spec.policy.adoption: Disabled) forbids taking over existing objects; it was left untouched; choose another name"
            ),
            Conflict::TooManyKeys { keys } => format!(
                "cannot take over {what}: adding the ownership marker would give it {keys} metadata keys and Auth0 allows at most {MAX_KEYS}; remove some metadata keys in Auth0 and retry"
            ),
        }
    }
}

/// Decides whether `claim` may write to an object with metadata `current`.
pub fn decide(current: &Metadata, claim: &Claim) -> Decision {
    let marker = read_marker(|k| current.get(k)?.as_deref(), claim.owner);
    let adopted = match marker {
        Marker::Ours { upgrade: false } => return Decision::Keep,
        Marker::Ours { upgrade: true } => false,
        Marker::Foreign(other) if !(other.same_cluster && claim.foreign_owner_gone) => {
            return Decision::Refuse(Conflict::OwnedByOther(other));
        }
        Marker::Foreign(_) | Marker::Unmarked | Marker::Released { .. } => {
            if claim.adoption == Adoption::Disabled {
                return Decision::Refuse(Conflict::AdoptionDisabled);
            }
            if !claim.adopt_existing {
                return Decision::Refuse(match marker {
                    Marker::Foreign(other) => Conflict::OwnerGone { owner: other.owner },
                    _ => Conflict::NotAdopting {
                        released: !matches!(marker, Marker::Unmarked),
                    },
                });
            }
            true
        }
    };
    let mut metadata = current.clone();
    metadata.insert(RELEASED_KEY.to_string(), None);
    for (key, value) in claim.owner.marker() {
        metadata.insert(key.to_string(), Some(value));
    }
    let keys = metadata.values().filter(|v| v.is_some()).count();
    if keys > MAX_KEYS {
        return Decision::Refuse(Conflict::TooManyKeys { keys });
    }
    // `null` only for a key that exists: Auth0 stores what it is sent.
    if !current.contains_key(RELEASED_KEY) {
        metadata.remove(RELEASED_KEY);
    }
    Decision::Write { metadata, adopted }
}

/// The metadata of a new object.
pub fn new_marker(owner: &Owner) -> BTreeMap<String, String> {
    owner
        .marker()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Whether the object may be deleted by `me`: the whole v2 marker must be ours, cluster id
/// and UID included.
pub fn may_delete(current: &Metadata, me: &Owner) -> bool {
    read_marker(|k| current.get(k)?.as_deref(), me) == Marker::Ours { upgrade: false }
}

/// The metadata that releases an object `me` owns (deleted with `Retain`), or `None` when it
/// is not exactly ours.
pub fn release(current: &Metadata, me: &Owner) -> Option<Metadata> {
    if !matches!(
        read_marker(|k| current.get(k)?.as_deref(), me),
        Marker::Ours { .. }
    ) {
        return None;
    }
    let mut metadata = current.clone();
    for key in [OWNER_KEY, CLUSTER_KEY, UID_KEY] {
        metadata.insert(key.to_string(), None);
    }
    metadata.insert(RELEASED_KEY.to_string(), Some(me.owner_value()));
    Some(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    static ME: std::sync::LazyLock<Owner> = std::sync::LazyLock::new(me);

    fn me() -> Owner {
        Owner {
            cluster_id: "cluster-a".into(),
            namespace: "tenant-a".into(),
            name: "acme".into(),
            uid: "uid-1".into(),
        }
    }

    fn meta(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect()
    }

    fn v2(owner: &Owner) -> Metadata {
        new_marker(owner)
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect()
    }

    fn claim(owner: &Owner, adopt: bool) -> Claim<'_> {
        Claim {
            owner,
            adopt_existing: adopt,
            adoption: Adoption::Unowned,
            foreign_owner_gone: false,
        }
    }

    #[test]
    fn long_owner_values_are_shortened_deterministically_within_255() {
        let owner = Owner {
            namespace: "n".repeat(63),
            name: "x".repeat(253),
            ..me()
        };
        let v = owner.owner_value();
        assert_eq!(v.chars().count(), MAX_VALUE_CHARS);
        assert_eq!(v, owner.owner_value());
        let other = Owner {
            name: format!("{}y", "x".repeat(252)),
            ..owner.clone()
        };
        assert_ne!(v, other.owner_value(), "distinct names stay distinct");
        assert_eq!(shorten("tenant-a/acme"), "tenant-a/acme");
    }

    #[test]
    fn the_own_v2_marker_is_kept_without_a_write() {
        assert_eq!(decide(&v2(&me()), &claim(&ME, false)), Decision::Keep);
        assert!(may_delete(&v2(&me()), &me()));
    }

    #[test]
    fn a_v1_marker_of_the_same_resource_is_upgraded_in_place_but_not_deleted() {
        let v1 = meta(&[
            (MANAGED_BY_KEY, MANAGED_BY_VALUE),
            (OWNER_KEY, "tenant-a/acme"),
        ]);
        match decide(&v1, &claim(&ME, false)) {
            Decision::Write { metadata, adopted } => {
                assert!(!adopted);
                assert_eq!(metadata, v2(&me()));
            }
            d => panic!("{d:?}"),
        }
        assert!(!may_delete(&v1, &me()), "deletion needs the full marker");
    }

    #[test]
    fn another_namespace_can_never_take_over_whatever_adopt_existing_says() {
        let victim = Owner {
            namespace: "tenant-b".into(),
            uid: "uid-b".into(),
            ..me()
        };
        let their = v2(&victim);
        for adopt in [false, true] {
            match decide(&their, &claim(&ME, adopt)) {
                Decision::Refuse(Conflict::OwnedByOther(o)) => {
                    assert_eq!(o.owner, "tenant-b/acme");
                    assert!(o.same_cluster);
                }
                d => panic!("{d:?}"),
            }
        }
        assert!(!may_delete(&their, &me()));
        assert_eq!(release(&their, &me()), None);
        // A v1 marker of another resource is just as foreign.
        let v1 = meta(&[
            (MANAGED_BY_KEY, MANAGED_BY_VALUE),
            (OWNER_KEY, "tenant-b/acme"),
        ]);
        assert!(matches!(
            decide(&v1, &claim(&ME, true)),
            Decision::Refuse(Conflict::OwnedByOther(_))
        ));
    }

    #[test]
    fn another_clusters_marker_is_foreign_even_for_the_same_namespace_and_name() {
        let twin = Owner {
            cluster_id: "cluster-b".into(),
            ..me()
        };
        let d = decide(&v2(&twin), &claim(&ME, true));
        match d {
            Decision::Refuse(Conflict::OwnedByOther(o)) => {
                assert!(!o.same_cluster);
                assert!(o.describe().contains("cluster-b"), "{}", o.describe());
            }
            d => panic!("{d:?}"),
        }
        assert!(!may_delete(&v2(&twin), &me()));
        // Even when told the owner is gone: another cluster's resources cannot be checked.
        let gone = Claim {
            foreign_owner_gone: true,
            ..claim(&ME, true)
        };
        assert!(matches!(decide(&v2(&twin), &gone), Decision::Refuse(_)));
    }

    #[test]
    fn a_recreated_resource_of_the_same_name_takes_its_marker_back() {
        let old = Owner {
            uid: "uid-0".into(),
            ..me()
        };
        assert!(matches!(
            decide(&v2(&old), &claim(&ME, false)),
            Decision::Write { adopted: false, .. }
        ));
        assert!(!may_delete(&v2(&old), &me()), "not with another UID");
    }

    #[test]
    fn unmarked_and_released_objects_need_adopt_existing_and_the_policy() {
        let dashboard = meta(&[("team", "identity")]);
        assert_eq!(
            decide(&dashboard, &claim(&ME, false)),
            Decision::Refuse(Conflict::NotAdopting { released: false })
        );
        match decide(&dashboard, &claim(&ME, true)) {
            Decision::Write { metadata, adopted } => {
                assert!(adopted);
                assert_eq!(metadata.get("team"), Some(&Some("identity".into())));
                assert!(!metadata.contains_key(RELEASED_KEY));
            }
            d => panic!("{d:?}"),
        }
        let disabled = Claim {
            adoption: Adoption::Disabled,
            ..claim(&ME, true)
        };
        assert_eq!(
            decide(&dashboard, &disabled),
            Decision::Refuse(Conflict::AdoptionDisabled)
        );

        let previous = Owner {
            namespace: "old".into(),
            ..me()
        };
        let released = release(&v2(&previous), &previous).expect("ours to release");
        assert_eq!(
            read_marker(|k| released.get(k)?.as_deref(), &me()),
            Marker::Released {
                former_owner: "old/acme".into()
            }
        );
        assert_eq!(
            decide(&released, &claim(&ME, false)),
            Decision::Refuse(Conflict::NotAdopting { released: true })
        );
        match decide(&released, &claim(&ME, true)) {
            Decision::Write { metadata, .. } => {
                assert_eq!(metadata.get(RELEASED_KEY), Some(&None), "removed");
                assert_eq!(metadata.get(OWNER_KEY), Some(&Some("tenant-a/acme".into())));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn a_stale_marker_of_a_vanished_resource_in_this_cluster_is_adoptable() {
        let vanished = Owner {
            namespace: "gone".into(),
            ..me()
        };
        let gone = Claim {
            foreign_owner_gone: true,
            ..claim(&ME, true)
        };
        assert!(matches!(
            decide(&v2(&vanished), &gone),
            Decision::Write { adopted: true, .. }
        ));
        let not_asked = Claim {
            foreign_owner_gone: true,
            ..claim(&ME, false)
        };
        let refused = decide(&v2(&vanished), &not_asked);
        assert_eq!(
            refused,
            Decision::Refuse(Conflict::OwnerGone {
                owner: "gone/acme".into()
            })
        );
        let Decision::Refuse(conflict) = refused else {
            unreachable!()
        };
        let message = conflict.message("Auth0 connection acme (con_1)");
        assert!(message.contains("gone/acme") && message.contains("no longer exists"));
        assert!(message.contains("adoptExisting: true"));
    }

    #[test]
    fn adoption_never_exceeds_ten_metadata_keys() {
        let crowded: Metadata = (0..8)
            .map(|i| (format!("k{i}"), Some("v".to_string())))
            .collect();
        assert_eq!(
            decide(&crowded, &claim(&ME, true)),
            Decision::Refuse(Conflict::TooManyKeys { keys: 12 })
        );
    }

    #[test]
    fn only_an_owner_of_this_cluster_named_in_full_can_be_checked() {
        let foreign = |owner: &str, same_cluster: bool| ForeignOwner {
            owner: owner.into(),
            cluster_id: Some("c".into()),
            uid: Some("u".into()),
            same_cluster,
        };
        assert_eq!(
            foreign("tenant-b/acme", true).resource_to_check(),
            Some(("tenant-b", "acme"))
        );
        assert_eq!(foreign("tenant-b/acme", false).resource_to_check(), None);
        let long = Owner {
            name: "n".repeat(300),
            ..me()
        };
        assert!(long.owner_value().contains('~'));
        assert_eq!(foreign(&long.owner_value(), true).resource_to_check(), None);
        assert_eq!(foreign("no-slash", true).resource_to_check(), None);
        assert_eq!(foreign("/acme", true).resource_to_check(), None);
    }
}
