//! Which organizations the connection is enabled on, and with which flags (pure).
//!
//! The "applied by us" bookkeeping is `status.managedOrganizations`: an organization the
//! operator enabled and the spec no longer lists is disabled again; one that had the
//! connection enabled before the spec listed it is left enabled when the spec drops it; an
//! organization the spec never listed is never looked at.

use crate::auth0::organizations::OrganizationFlags;
use crate::crd::{ManagedOrganization, OrganizationRef};
use crate::plan::{Change, ChangeKind};

/// An organization of the spec, found in Auth0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `org_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The flags the spec asks for.
    pub flags: OrganizationFlags,
}

/// One write on one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Enable the connection there (`POST …/enabled_connections`).
    Enable(Resolved),
    /// Set its flags (`PATCH …/enabled_connections/{connectionId}`).
    Update(Resolved),
    /// Disable it there (`DELETE …/enabled_connections/{connectionId}`).
    Disable {
        /// `org_…`.
        id: String,
        /// For messages.
        name: Option<String>,
    },
}

/// What to write, the bookkeeping after it, and the diff for `plan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The writes, in order.
    pub ops: Vec<Op>,
    /// `status.managedOrganizations` once they landed.
    pub managed: Vec<ManagedOrganization>,
    /// One change per organization enabled, updated or disabled.
    pub changes: Vec<Change>,
}

/// The flags a spec entry asks for.
pub fn flags_of(org: &OrganizationRef) -> OrganizationFlags {
    OrganizationFlags {
        assign_membership_on_login: org.assign_membership_on_login,
        show_as_button: org.show_as_button,
    }
}

/// Whether the spec's organizations are what `managed` says was applied: same organizations
/// (by the name or id the spec uses) with the same flags, and nothing else. Then nothing needs
/// reading unless a drift check is due.
pub fn matches_applied(wanted: &[OrganizationRef], managed: &[ManagedOrganization]) -> bool {
    wanted.len() == managed.len()
        && wanted.iter().all(|w| {
            managed
                .iter()
                .find(|m| names(w, m))
                .is_some_and(|m| flags_of(w) == flags_of_managed(m))
        })
}

fn flags_of_managed(m: &ManagedOrganization) -> OrganizationFlags {
    OrganizationFlags {
        assign_membership_on_login: m.assign_membership_on_login,
        show_as_button: m.show_as_button,
    }
}

/// Whether the spec entry `w` names the managed organization `m`.
fn names(w: &OrganizationRef, m: &ManagedOrganization) -> bool {
    match (&w.id, &w.name) {
        (Some(id), _) => *id == m.id,
        (None, Some(name)) => m
            .name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name)),
        (None, None) => false,
    }
}

/// Plans the writes: `wanted` are the spec's organizations with the connection's current
/// flags there (`None`: not enabled), `managed` the bookkeeping of the last sync.
pub fn plan(
    wanted: &[(Resolved, Option<OrganizationFlags>)],
    managed: &[ManagedOrganization],
) -> Plan {
    let mut out = Plan::default();
    for (org, current) in wanted {
        let before = managed.iter().find(|m| m.id == org.id);
        let enabled_by_operator = match current {
            None => {
                out.ops.push(Op::Enable(org.clone()));
                out.changes.push(change(org, ChangeKind::Added, None));
                true
            }
            Some(flags) => {
                if *flags != org.flags {
                    out.ops.push(Op::Update(org.clone()));
                    out.changes
                        .push(change(org, ChangeKind::Changed, Some(*flags)));
                }
                // Enabled by us earlier stays ours; enabled by someone else before the spec
                // listed it stays theirs.
                before.is_some_and(|m| m.enabled_by_operator)
            }
        };
        out.managed.push(ManagedOrganization {
            id: org.id.clone(),
            name: Some(org.name.clone()),
            assign_membership_on_login: org.flags.assign_membership_on_login,
            show_as_button: org.flags.show_as_button,
            enabled_by_operator,
        });
    }
    for gone in managed
        .iter()
        .filter(|m| !wanted.iter().any(|(w, _)| w.id == m.id))
    {
        if gone.enabled_by_operator {
            out.ops.push(Op::Disable {
                id: gone.id.clone(),
                name: gone.name.clone(),
            });
            out.changes.push(Change {
                key: format!("organization {}", label(&gone.id, gone.name.as_deref())),
                kind: ChangeKind::Removed,
                before: Some(describe(flags_of_managed(gone))),
                after: None,
            });
        }
    }
    out
}

fn label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} ({id})"),
        None => id.to_string(),
    }
}

fn describe(flags: OrganizationFlags) -> String {
    format!(
        "assignMembershipOnLogin={}, showAsButton={}",
        flags.assign_membership_on_login, flags.show_as_button
    )
}

fn change(org: &Resolved, kind: ChangeKind, before: Option<OrganizationFlags>) -> Change {
    Change {
        key: format!("organization {}", label(&org.id, Some(&org.name))),
        kind,
        before: before.map(describe),
        after: Some(describe(org.flags)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(id: &str, name: &str, assign: bool, show: bool) -> Resolved {
        Resolved {
            id: id.into(),
            name: name.into(),
            flags: OrganizationFlags {
                assign_membership_on_login: assign,
                show_as_button: show,
            },
        }
    }

    fn managed(id: &str, name: &str, assign: bool, ours: bool) -> ManagedOrganization {
        ManagedOrganization {
            id: id.into(),
            name: Some(name.into()),
            assign_membership_on_login: assign,
            show_as_button: true,
            enabled_by_operator: ours,
        }
    }

    fn flags(assign: bool, show: bool) -> Option<OrganizationFlags> {
        Some(OrganizationFlags {
            assign_membership_on_login: assign,
            show_as_button: show,
        })
    }

    #[test]
    fn a_new_organization_is_enabled_and_recorded_as_ours() {
        let p = plan(&[(resolved("org_1", "acme", true, true), None)], &[]);
        assert_eq!(
            p.ops,
            vec![Op::Enable(resolved("org_1", "acme", true, true))]
        );
        assert_eq!(p.managed, vec![managed("org_1", "acme", true, true)]);
        assert_eq!(p.changes[0].kind, ChangeKind::Added);
        assert_eq!(p.changes[0].key, "organization acme (org_1)");
        assert_eq!(
            p.changes[0].after.as_deref(),
            Some("assignMembershipOnLogin=true, showAsButton=true")
        );
    }

    #[test]
    fn matching_flags_write_nothing_and_other_flags_are_patched() {
        let want = resolved("org_1", "acme", true, true);
        let before = [managed("org_1", "acme", true, true)];
        let same = plan(&[(want.clone(), flags(true, true))], &before);
        assert!(same.ops.is_empty() && same.changes.is_empty());
        assert_eq!(same.managed, before);
        // Changed in the Dashboard: set back.
        let drifted = plan(&[(want.clone(), flags(false, true))], &before);
        assert_eq!(drifted.ops, vec![Op::Update(want)]);
        assert_eq!(drifted.changes[0].kind, ChangeKind::Changed);
    }

    #[test]
    fn only_organizations_the_operator_enabled_are_disabled_when_dropped() {
        let before = [
            managed("org_1", "acme", false, true),
            managed("org_2", "globex", false, false),
        ];
        let p = plan(&[], &before);
        assert_eq!(
            p.ops,
            vec![Op::Disable {
                id: "org_1".into(),
                name: Some("acme".into())
            }]
        );
        assert!(p.managed.is_empty());
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].kind, ChangeKind::Removed);
    }

    #[test]
    fn an_organization_enabled_by_someone_else_stays_theirs() {
        // Enabled in the Dashboard before the spec listed it: flags managed, not ownership.
        let p = plan(
            &[(resolved("org_2", "globex", false, true), flags(true, true))],
            &[],
        );
        assert!(!p.managed[0].enabled_by_operator);
        assert_eq!(p.ops.len(), 1);
        let later = plan(&[], &p.managed);
        assert!(later.ops.is_empty(), "{later:?}");
    }

    #[test]
    fn applied_organizations_are_matched_by_name_or_id_and_flags() {
        let by_name: OrganizationRef =
            serde_json::from_value(serde_json::json!({"name": "ACME"})).unwrap();
        let by_id: OrganizationRef = serde_json::from_value(
            serde_json::json!({"id": "org_2", "assignMembershipOnLogin": true}),
        )
        .unwrap();
        let applied = [
            ManagedOrganization {
                assign_membership_on_login: false,
                ..managed("org_1", "acme", false, true)
            },
            managed("org_2", "globex", true, true),
        ];
        assert!(matches_applied(&[by_name.clone(), by_id.clone()], &applied));
        assert!(!matches_applied(std::slice::from_ref(&by_name), &applied));
        let mut hidden = by_name.clone();
        hidden.show_as_button = false;
        assert!(!matches_applied(&[hidden, by_id], &applied));
        assert!(matches_applied(&[], &[]));
    }
}
