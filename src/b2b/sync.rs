//! The Auth0 calls for organizations and the SCIM configuration, shared by the controller and
//! `plan`/`apply` (the SCIM token is the controller's: it goes straight into a Secret).

use super::organizations::{self, Op, Resolved};
use super::scim;
use crate::auth0::Auth0Client;
use crate::crd::{ManagedOrganization, OrganizationRef, ScimSpec, ScimStatus};
use crate::plan::{Change, ChangeKind};
use crate::reconcile::SyncError;

/// Finds each organization of the spec; the first missing one is
/// [`SyncError::OrganizationNotFound`]. Called before anything is written, so a missing
/// organization changes nothing.
pub async fn resolve_organizations(
    client: &Auth0Client,
    wanted: &[OrganizationRef],
) -> Result<Vec<Resolved>, SyncError> {
    let mut resolved = Vec::with_capacity(wanted.len());
    for (i, org) in wanted.iter().enumerate() {
        let found = match (&org.id, &org.name) {
            (Some(id), _) => client.organization(id).await?,
            (None, Some(name)) => client.organization_by_name(name).await?,
            (None, None) => None,
        };
        let Some(found) = found else {
            return Err(SyncError::OrganizationNotFound(format!(
                "spec.organizations[{i}]: the Auth0 organization {} does not exist in the tenant; nothing was changed; create it in Auth0 (or fix the {}), the operator checks again periodically",
                org.key(),
                if org.id.is_some() { "id" } else { "name" }
            )));
        };
        resolved.push(Resolved {
            id: found.id,
            name: found.name,
            flags: organizations::flags_of(org),
        });
    }
    Ok(resolved)
}

/// What the organizations step did.
#[derive(Debug, Default)]
pub struct OrganizationsSynced {
    /// `status.managedOrganizations` now.
    pub managed: Vec<ManagedOrganization>,
    /// What changed (or would change, in a dry run).
    pub changes: Vec<Change>,
}

/// Brings the connection's enablement on `resolved` (and on organizations dropped from the
/// spec) in line. `connection_id`: `None` for a connection not created yet (dry run), whose
/// organizations are all new; `fresh`: it was just created, so it is enabled nowhere.
pub async fn sync_organizations(
    client: &Auth0Client,
    connection_id: Option<&str>,
    fresh: bool,
    resolved: &[Resolved],
    managed: &[ManagedOrganization],
    dry_run: bool,
) -> Result<OrganizationsSynced, SyncError> {
    let mut current = Vec::with_capacity(resolved.len());
    for org in resolved {
        let flags = match connection_id {
            Some(id) if !fresh => client.organization_connection(&org.id, id).await?,
            _ => None,
        };
        current.push((org.clone(), flags));
    }
    let plan = organizations::plan(&current, managed);
    if dry_run {
        return Ok(OrganizationsSynced {
            managed: managed.to_vec(),
            changes: plan.changes,
        });
    }
    let Some(connection_id) = connection_id else {
        return Err(SyncError::InvalidSpec(
            "internal: organizations planned without a connection".into(),
        ));
    };
    for op in &plan.ops {
        match op {
            Op::Enable(org) => {
                let created = client
                    .enable_organization_connection(&org.id, connection_id, org.flags)
                    .await?;
                if !created {
                    // Enabled meanwhile (or a resend of ours): make the flags ours.
                    client
                        .update_organization_connection(&org.id, connection_id, org.flags)
                        .await?;
                }
            }
            Op::Update(org) => {
                client
                    .update_organization_connection(&org.id, connection_id, org.flags)
                    .await?
            }
            Op::Disable { id, .. } => {
                client
                    .disable_organization_connection(id, connection_id)
                    .await?
            }
        }
    }
    Ok(OrganizationsSynced {
        managed: plan.managed,
        changes: plan.changes,
    })
}

/// What the SCIM configuration step did.
#[derive(Debug, Default)]
pub struct ScimSynced {
    /// `status.scim` now (token fields as they were; the controller fills them).
    pub status: Option<ScimStatus>,
    /// What changed (or would change).
    pub changes: Vec<Change>,
}

/// The SCIM base URL of a connection: `{origin}/scim/v2/connections/{id}` on the Management
/// API's host (docs/AUTH0_API.md §15).
pub fn scim_endpoint(client: &Auth0Client, connection_id: &str) -> String {
    let base = client.config().base_url.as_str().trim_end_matches('/');
    format!("{base}/scim/v2/connections/{connection_id}")
}

/// Creates, updates or deletes the connection's SCIM configuration. `compare`: read it even
/// if `status.scim` says it is applied (the spec changed, or a drift check is due).
#[allow(clippy::too_many_arguments)]
pub async fn sync_scim_configuration(
    client: &Auth0Client,
    connection_id: Option<&str>,
    spec: Option<&ScimSpec>,
    applied: Option<&ScimStatus>,
    secret_name: &str,
    compare: bool,
    dry_run: bool,
) -> Result<ScimSynced, SyncError> {
    let enabled = spec.filter(|s| s.enabled);
    match (enabled, applied) {
        (Some(spec), _) => {
            let mut changes = Vec::new();
            let Some(id) = connection_id else {
                changes.push(scim_change(
                    ChangeKind::Added,
                    "configuration",
                    Some(describe_spec(spec)),
                ));
                changes.push(token_change(secret_name));
                return Ok(ScimSynced {
                    status: None,
                    changes,
                });
            };
            let mut status = applied.cloned().unwrap_or_default();
            status.endpoint = Some(scim_endpoint(client, id));
            status.secret_name = Some(secret_name.to_string());
            if applied.is_some() && !compare {
                return Ok(ScimSynced {
                    status: Some(status),
                    changes,
                });
            }
            let mapping = spec.mapping.as_deref().map(scim::mapping_of);
            match client.scim_configuration(id).await? {
                None => {
                    changes.push(scim_change(
                        ChangeKind::Added,
                        "configuration",
                        Some(describe_spec(spec)),
                    ));
                    changes.push(token_change(secret_name));
                    if !dry_run {
                        let created = client
                            .create_scim_configuration(
                                id,
                                spec.user_id_attribute.as_deref(),
                                mapping.as_deref(),
                            )
                            .await?;
                        if created.is_none()
                            && let Some(current) = client.scim_configuration(id).await?
                            && let Some(update) = scim::configuration_update(spec, &current)
                        {
                            client.update_scim_configuration(id, &update).await?;
                        }
                    }
                }
                Some(current) => {
                    if let Some(update) = scim::configuration_update(spec, &current) {
                        changes.push(scim_change(
                            ChangeKind::Changed,
                            "configuration",
                            Some(format!(
                                "userIdAttribute={}, {} mapping(s)",
                                update.user_id_attribute.as_deref().unwrap_or("(unset)"),
                                update.mapping.len()
                            )),
                        ));
                        if !dry_run {
                            client.update_scim_configuration(id, &update).await?;
                        }
                    }
                }
            }
            Ok(ScimSynced {
                status: (!dry_run).then_some(status).or(applied.cloned()),
                changes,
            })
        }
        (None, Some(applied)) => {
            let changes = vec![scim_change(
                ChangeKind::Removed,
                "configuration and the operator's tokens",
                None,
            )];
            if dry_run {
                return Ok(ScimSynced {
                    status: Some(applied.clone()),
                    changes,
                });
            }
            if let Some(id) = connection_id {
                let tokens = applied
                    .token_id
                    .iter()
                    .chain(applied.retiring_tokens.iter().map(|t| &t.token_id));
                for token in tokens {
                    client.revoke_scim_token(id, token).await?;
                }
                client.delete_scim_configuration(id).await?;
            }
            Ok(ScimSynced {
                status: None,
                changes,
            })
        }
        (None, None) => Ok(ScimSynced::default()),
    }
}

fn scim_change(kind: ChangeKind, what: &str, after: Option<String>) -> Change {
    Change {
        key: format!("scim {what}"),
        kind,
        before: None,
        after,
    }
}

fn describe_spec(spec: &ScimSpec) -> String {
    format!(
        "userIdAttribute={}, mapping={}",
        spec.user_id_attribute
            .as_deref()
            .unwrap_or("(Auth0 default)"),
        spec.mapping
            .as_ref()
            .map_or("(Auth0 default)".to_string(), |m| format!(
                "{} entries",
                m.len()
            ))
    )
}

fn token_change(secret_name: &str) -> Change {
    Change {
        key: "scim token".into(),
        kind: ChangeKind::Added,
        before: None,
        after: Some(format!(
            "issued by the operator in the cluster into Secret {secret_name} (never printed)"
        )),
    }
}
