//! The reconcile core shared by the in-cluster controller and offline `plan`/`apply`:
//! gather (metadata, key Secrets) → decide (pure `plan`) → write to Auth0 → status.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use backon::{BackoffBuilder, ExponentialBuilder};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::auth0::{Auth0Client, Auth0Error, Connection, ConnectionUpdate};
use crate::crd::{
    CertificateInfo, MetadataSourceStatus, SpCertificateInfo, SsoConnection, SsoConnectionStatus,
};
use crate::drift::Listing;
use crate::metadata::{IdpMetadata, parse_idp_metadata};
use crate::ownership::{Adoption, Claim, Marker, Owner, read_marker};
use crate::plan::{self, Desired, Diff, KeyPair, Plan, PlanError, PlanInputs, Refusal};
use crate::rollover::{self, Candidate};
use crate::secret::SecretString;
use crate::status::{self, Reason};

/// Tenant facts that shape the SP-side values in status.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Tenant name in `urn:auth0:{tenant}:{connection}`.
    pub name: String,
    /// Domain in ACS and SP metadata URLs (the custom domain when there is one).
    pub public_domain: String,
}

impl Tenant {
    /// Tenant facts from the domain and the optional overrides: the tenant name defaults to the
    /// first label of the domain.
    pub fn new(domain: &str, tenant: Option<&str>, public_domain: Option<&str>) -> Tenant {
        Tenant {
            name: tenant
                .map(str::to_string)
                .unwrap_or_else(|| domain.split('.').next().unwrap_or(domain).to_string()),
            public_domain: public_domain.unwrap_or(domain).to_string(),
        }
    }
}

/// Where the core reads the objects an SsoConnection references: the cluster or files.
pub trait Sources {
    /// A ConfigMap's `data` and `binaryData` merged, or `None` when it does not exist.
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, Vec<u8>>>, String>> + Send;
    /// A Secret's data, or `None` when it does not exist.
    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, Vec<u8>>>, String>> + Send;
    /// The last good document of `metadata.url` for `res`, as the caller fetched it (see
    /// [`crate::metadata_url`]): its XML and SHA-256. Where URLs are not fetched, an error.
    fn url_document(
        &self,
        _res: &SsoConnection,
    ) -> impl Future<Output = Result<UrlDocument, SyncError>> + Send {
        async {
            Err(SyncError::MetadataUnreachable(
                "metadata.url is not fetched here".to_string(),
            ))
        }
    }
    /// Whether the `kind` resource `namespace/name` no longer exists, so that an ownership
    /// marker naming it in this cluster is stale and `adoptExisting` may take the object over.
    /// A resource of that name that exists (whatever its UID: a resource created again under
    /// the name reclaims the object itself) is live. Where this cannot be known, the owner
    /// counts as live.
    fn owner_gone(
        &self,
        _kind: OwnerKind,
        _namespace: &str,
        _name: &str,
    ) -> impl Future<Output = Result<bool, String>> + Send {
        async { Ok(false) }
    }
}

/// The kind of resource an ownership marker names: connections are owned by `SsoConnection`s,
/// applications by `SamlApplication`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    /// An `SsoConnection` (owner of an Auth0 connection).
    SsoConnection,
    /// A `SamlApplication` (owner of an Auth0 application).
    SamlApplication,
}

impl OwnerKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::SsoConnection => "SsoConnection",
            OwnerKind::SamlApplication => "SamlApplication",
        }
    }
}

/// A metadata document fetched from `metadata.url`.
#[derive(Debug, Clone)]
pub struct UrlDocument {
    /// The XML.
    pub xml: std::sync::Arc<Vec<u8>>,
    /// Lowercase hex SHA-256 of the XML.
    pub sha256: String,
}

/// Who syncs: the resource's identity in the ownership marker, and what its tenant lets it
/// take over.
#[derive(Debug, Clone)]
pub struct Claimant {
    /// The marker's owner: cluster id, namespace, name, UID.
    pub owner: Owner,
    /// The tenant's adoption rule.
    pub adoption: Adoption,
}

impl Claimant {
    /// The claimant for `res` in cluster `cluster_id`.
    pub fn new(res: &SsoConnection, cluster_id: &str, adoption: Adoption) -> Claimant {
        Claimant {
            owner: Owner {
                cluster_id: cluster_id.to_string(),
                namespace: res
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                name: res.metadata.name.clone().unwrap_or_default(),
                uid: res.metadata.uid.clone().unwrap_or_default(),
            },
            adoption,
        }
    }

    fn claim(&self, adopt_existing: bool, foreign_owner_gone: bool) -> Claim<'_> {
        Claim {
            owner: &self.owner,
            adopt_existing,
            adoption: self.adoption,
            foreign_owner_gone,
        }
    }
}

/// With `restrictSsoOnly`, a claimed domain that this resource's connection does not route yet
/// may not already be routed by another Auth0 connection of the tenant (its `domain_aliases`):
/// `DomainConflict` naming it. Costs one listing (a page per 100 connections), and only when
/// the claim grows.
async fn check_domain_aliases_elsewhere(
    client: &Auth0Client,
    res: &SsoConnection,
    current: Option<&Connection>,
    listing: Option<Vec<Connection>>,
) -> Result<(), SyncError> {
    if !res.spec.restrict_sso_only {
        return Ok(());
    }
    let held = current.map(plan::domain_aliases_of).unwrap_or_default();
    let adding: Vec<String> = res
        .spec
        .claimed_domains()
        .into_iter()
        .filter(|d| !held.contains(d))
        .collect();
    if adding.is_empty() {
        return Ok(());
    }
    let own_id = current.map(|c| c.id.as_str());
    let all = match listing {
        Some(all) => all,
        None => client.list_connections().await?,
    };
    for other in all {
        if Some(other.id.as_str()) == own_id || other.name == res.connection_name() {
            continue;
        }
        if let Some(domain) = plan::domain_aliases_of(&other)
            .into_iter()
            .find(|d| adding.contains(d))
        {
            return Err(SyncError::Denied {
                reason: Reason::DomainConflict,
                message: format!(
                    "the domain {domain} is already routed to Auth0 connection {} ({}) by its domain_aliases, which this resource does not own; nothing was changed; remove the domain from that connection, or from spec.companyDomain(s)",
                    other.name, other.id
                ),
            });
        }
    }
    Ok(())
}

/// Whether the object whose metadata `value` reads carries the marker of another `kind`
/// resource of this cluster that no longer exists (asked of `sources` only then); `what`
/// names the object for an error.
pub async fn marker_owner_gone<'a, S: Sources>(
    sources: &S,
    kind: OwnerKind,
    value: impl Fn(&str) -> Option<&'a str>,
    me: &Owner,
    what: &str,
) -> Result<bool, SyncError> {
    let Marker::Foreign(other) = read_marker(value, me) else {
        return Ok(false);
    };
    let Some((namespace, name)) = other.resource_to_check() else {
        return Ok(false);
    };
    sources
        .owner_gone(kind, namespace, name)
        .await
        .map_err(|message| SyncError::Kubernetes {
            what: format!("{} {namespace}/{name} (owner of {what})", kind.as_str()),
            message,
        })
}

/// [`marker_owner_gone`] for a connection.
async fn foreign_owner_gone<S: Sources>(
    sources: &S,
    current: Option<&Connection>,
    me: &Owner,
) -> Result<bool, SyncError> {
    let Some(conn) = current else {
        return Ok(false);
    };
    marker_owner_gone(
        sources,
        OwnerKind::SsoConnection,
        |k| conn.metadata_value(k),
        me,
        &conn.name,
    )
    .await
}

/// Why a reconcile did not reach `Synced`.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The spec is invalid.
    #[error("{0}")]
    InvalidSpec(String),
    /// The metadata ConfigMap or key is missing.
    #[error("{0}")]
    MetadataNotFound(String),
    /// The metadata XML is unusable.
    #[error("{0}")]
    InvalidMetadata(String),
    /// A referenced Secret is missing.
    #[error("{0}")]
    SecretNotFound(String),
    /// `metadata.url` has not given a usable document (yet).
    #[error("{0}")]
    MetadataUnreachable(String),
    /// The plan refused to touch the connection.
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// Auth0 failed or rejected a call.
    #[error(transparent)]
    Auth0(#[from] Auth0Error),
    /// Refused before anything was written: the tenant, its policy or a domain claim.
    #[error("{message}")]
    Denied {
        /// `TenantNotFound`, `TenantNotReady`, `TenantNotAllowed`, `DomainNotAllowed`,
        /// `DomainConflict` or `InvalidSpec`.
        reason: Reason,
        /// What is wrong and what to do.
        message: String,
    },
    /// The operator has just started and the resource's tenant is not verified yet: the
    /// controller looks again shortly, without reporting anything.
    #[error("{0}")]
    TenantStarting(String),
    /// An organization of `spec.organizations` does not exist.
    #[error("{0}")]
    OrganizationNotFound(String),
    /// A Secret the operator would write exists and is not its own.
    #[error("{0}")]
    SecretConflict(String),
    /// A create found the name taken (409) without having looked it up: internal to
    /// [`sync_connection`], which looks the name up and plans again.
    #[error("the connection name is taken")]
    NameTaken,
    /// Reading a referenced Kubernetes object failed.
    #[error("reading {what} failed: {message}")]
    Kubernetes {
        /// What was being read.
        what: String,
        /// The API error.
        message: String,
    },
}

impl From<PlanError> for SyncError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::InvalidMetadata(_) => SyncError::InvalidMetadata(e.to_string()),
            PlanError::InvalidSpec(_) => SyncError::InvalidSpec(e.to_string()),
        }
    }
}

impl SyncError {
    /// The `Ready` reason.
    pub fn reason(&self) -> Reason {
        match self {
            SyncError::InvalidSpec(_) => Reason::InvalidSpec,
            SyncError::MetadataNotFound(_) => Reason::MetadataNotFound,
            SyncError::InvalidMetadata(_) => Reason::InvalidMetadata,
            SyncError::SecretNotFound(_) => Reason::SecretNotFound,
            SyncError::MetadataUnreachable(_) => Reason::MetadataUnreachable,
            SyncError::OrganizationNotFound(_) => Reason::OrganizationNotFound,
            SyncError::TenantStarting(_) => Reason::TenantNotReady,
            SyncError::SecretConflict(_) => Reason::SecretConflict,
            SyncError::Refused(r) => r.reason(),
            SyncError::Denied { reason, .. } => *reason,
            SyncError::Auth0(e) => e.reason(),
            SyncError::Kubernetes { .. } => Reason::Auth0Unavailable,
            SyncError::NameTaken => Reason::ConnectionConflict,
        }
    }

    /// Whether to retry with backoff rather than wait for a change.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Auth0(e) => e.is_transient(),
            SyncError::Kubernetes { .. } | SyncError::MetadataUnreachable(_) => true,
            _ => false,
        }
    }
}

/// What the Auth0 side of a reconcile did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new connection was created.
    Created,
    /// The connection was patched.
    Updated,
    /// Nothing differed; no write.
    Unchanged,
    /// Dry run: the plan was computed, nothing written.
    Planned,
}

impl Action {
    /// Lowercase name for output and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Planned => "planned",
        }
    }
}

/// The result of a successful sync.
#[derive(Debug)]
pub struct Synced {
    /// Auth0 connection id (`None` only for a planned create).
    pub connection_id: Option<String>,
    /// What was done.
    pub action: Action,
    /// What would change / changed.
    pub diff: Diff,
    /// Whether the plan is a create (for `plan` output).
    pub is_create: bool,
    /// The parsed metadata.
    pub idp: IdpMetadata,
    /// The desired managed state.
    pub desired: Desired,
    /// Where the metadata came from.
    pub metadata_source: MetadataSourceStatus,
    /// Applications the operator manages on the connection after this sync.
    pub managed_enabled_clients: Option<Vec<String>>,
    /// Applications newly enabled by this sync.
    pub enabled_clients_added: Vec<String>,
    /// Organizations the connection is enabled on by the operator after this sync.
    pub managed_organizations: Vec<crate::crd::ManagedOrganization>,
    /// SCIM provisioning after this sync (the controller adds the token's part).
    pub scim: Option<crate::crd::ScimStatus>,
    /// `domain_aliases` on the connection this resource neither claims nor set.
    pub unclaimed_domain_aliases: Vec<String>,
    /// The certificates of the SP key pairs sent (`signingKeySecretRef`,
    /// `decryptionKeySecretRef`), for status.
    pub sp_certificates: Vec<SpCertificateInfo>,
    /// Per IdP signing certificate (as `idp.signing_certs`): why it is not the one sent to
    /// Auth0 (`None` for the selected one).
    pub not_selected_because: Vec<Option<String>>,
}

/// Options for one sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Compute the plan only.
    pub dry_run: bool,
    /// Re-read the enabled applications even if the spec did not change (drift resync).
    pub recheck_clients: bool,
    /// The tenant's drift listing, to compare with instead of reading the connection (see
    /// [`crate::drift`]).
    pub listed: Option<std::sync::Arc<Listing>>,
}

/// Brings the Auth0 connection of `res` in line with its spec.
pub async fn sync_connection<S: Sources + Sync>(
    client: &Auth0Client,
    res: &SsoConnection,
    claimant: &Claimant,
    sources: &S,
    opts: SyncOptions,
    now: Timestamp,
) -> Result<Synced, SyncError> {
    check_spec(res)?;
    let namespace = res
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let (xml, metadata_source) = read_metadata(res, &namespace, sources).await?;
    let idp =
        parse_idp_metadata(&xml, res.spec.metadata.entity_id.as_deref(), now).map_err(|e| {
            SyncError::InvalidMetadata(format!(
                "{} in {}: {e}",
                e.kind(),
                describe_source(&metadata_source, &namespace)
            ))
        })?;
    let mut idp = idp;
    let previous = res.status.as_ref();
    let current = previous
        .and_then(|s| s.applied_options.as_ref())
        .and_then(|o| o.get("signingCertSha1"))
        .and_then(|v| v.as_str())
        .or_else(|| {
            previous
                .and_then(|s| s.signing_certificate.as_ref())
                .map(|c| c.sha1_thumbprint.as_str())
        });
    let candidates: Vec<Candidate> = idp.signing_certs.iter().map(Candidate::of).collect();
    let choice = rollover::choose(
        &candidates,
        res.spec.provider,
        current,
        res.spec.signing_certificate_thumbprint.as_deref(),
        now,
    )
    .map_err(|message| {
        SyncError::InvalidMetadata(format!(
            "{message} ({})",
            describe_source(&metadata_source, &namespace)
        ))
    })?;
    idp.selected = choice.index;
    let signing_key = match &res.spec.signing_key_secret_ref {
        Some(r) => Some(read_key_pair(sources, &namespace, &r.name, "signingKeySecretRef").await?),
        None => None,
    };
    let decryption_key = match &res.spec.decryption_key_secret_ref {
        Some(r) => {
            Some(read_key_pair(sources, &namespace, &r.name, "decryptionKeySecretRef").await?)
        }
        None => None,
    };
    let mut sp_certificates = Vec::new();
    for (purpose, secret, pair) in [
        (
            "sp-signing",
            res.spec.signing_key_secret_ref.as_ref(),
            signing_key.as_ref(),
        ),
        (
            "sp-decryption",
            res.spec.decryption_key_secret_ref.as_ref(),
            decryption_key.as_ref(),
        ),
    ] {
        if let (Some(secret), Some(pair)) = (secret, pair)
            && let Ok(cert) = crate::certs::Certificate::from_pem(&pair.cert)
        {
            sp_certificates.push(SpCertificateInfo {
                purpose: purpose.to_string(),
                secret: secret.name.clone(),
                subject: cert.subject().to_string(),
                not_after: crate::certs::rfc3339(cert.not_after()),
                sha256_fingerprint: cert.sha256_hex(),
                days_remaining: Some(crate::expiry::days_remaining(cert.not_after(), now)),
                noticed_threshold_days: None,
            });
        }
    }
    let name = res.connection_name();
    let status = res.status.clone().unwrap_or_default();
    let desired = plan::desired_state(&PlanInputs {
        spec: &res.spec,
        connection_name: &name,
        idp: &idp,
        signing_key: signing_key.as_ref(),
        decryption_key: decryption_key.as_ref(),
        previously_applied: status.applied_options.as_ref(),
    })?;

    // A new connection that routes domains needs the tenant's listing for the domain check
    // anyway: take the same-named connection from it instead of a second lookup. Any other
    // new connection is created in one call: POST first, and only a 409 (the name is taken:
    // ours after a lost reply, someone else's, or one to adopt) looks the name up.
    let mut listing = None;
    if status.connection_id.is_none() && res.spec.restrict_sso_only {
        listing = Some(client.list_connections().await?);
    }
    let mut looked_up = listing.is_some() || status.connection_id.is_some() || opts.dry_run;
    let mut from_listing = false;
    let mut current = match (&listing, status.connection_id.as_deref()) {
        (Some(all), _) => all.iter().find(|c| c.name == name).cloned(),
        (None, Some(id)) => {
            let (conn, listed) = current_by_id(client, id, &name, opts.listed.as_deref()).await?;
            from_listing = listed;
            conn
        }
        (None, None) if opts.dry_run => client.find_connection_by_name(&name).await?,
        (None, None) => None,
    };
    check_domain_aliases_elsewhere(client, res, current.as_ref(), listing).await?;
    // Organizations and SCIM are compared with Auth0 when the spec changed (or was not fully
    // applied) and at drift checks; a missing organization stops the sync before any write.
    let compare_b2b = !crate::b2b::spec_applied(res) || opts.recheck_clients;
    let organizations_due = !crate::b2b::organizations::matches_applied(
        &res.spec.organizations,
        &status.managed_organizations,
    ) || (compare_b2b && !res.spec.organizations.is_empty());
    let resolved = if organizations_due {
        Some(crate::b2b::sync::resolve_organizations(client, &res.spec.organizations).await?)
    } else {
        None
    };
    let mut synced = Synced {
        connection_id: None,
        action: Action::Planned,
        diff: Diff::default(),
        is_create: false,
        idp,
        desired,
        metadata_source,
        managed_enabled_clients: status.managed_enabled_clients.clone(),
        enabled_clients_added: Vec::new(),
        managed_organizations: status.managed_organizations.clone(),
        scim: status.scim.clone(),
        unclaimed_domain_aliases: Vec::new(),
        sp_certificates,
        not_selected_because: choice.not_selected_because,
    };
    let (id, action, diff) = loop {
        let gone = foreign_owner_gone(sources, current.as_ref(), &claimant.owner).await?;
        let claim = claimant.claim(res.spec.adopt_existing, gone);
        let planned = plan::plan_connection(&synced.desired, &name, &claim, current.as_ref())
            .map_err(SyncError::Refused)?;
        synced.unclaimed_domain_aliases = current
            .as_ref()
            .map(|c| synced.desired.unclaimed_domain_aliases(c))
            .unwrap_or_default();
        if opts.dry_run {
            match planned {
                Plan::Create { diff, .. } => {
                    synced.is_create = true;
                    synced.diff = diff;
                }
                Plan::Update { id, diff, .. } => {
                    synced.connection_id = Some(id);
                    synced.diff = diff;
                }
                Plan::Unchanged { id } => synced.connection_id = Some(id),
            }
            let id = synced.connection_id.clone();
            sync_b2b(
                client,
                res,
                &mut synced,
                B2bStep {
                    connection_id: id.as_deref(),
                    fresh: false,
                    organizations: resolved.as_deref(),
                    compare: true,
                    dry_run: true,
                },
            )
            .await?;
            return Ok(synced);
        }
        // A write merges over a fresh read, never over the listing.
        if let (true, Plan::Update { id, .. }) = (from_listing, &planned) {
            current = client.get_connection(id).await?;
            from_listing = false;
            continue;
        }
        let written_into = opts.listed.as_deref();
        match execute(
            client,
            planned,
            &synced.desired,
            &name,
            &claim,
            !looked_up,
            written_into,
        )
        .await
        {
            Err(SyncError::NameTaken) => {
                current = client.find_connection_by_name(&name).await?;
                looked_up = true;
            }
            other => break other?,
        }
    };
    synced.connection_id = Some(id.clone());
    synced.action = action;
    synced.diff = diff;

    let wanted: BTreeSet<&String> = res.spec.enabled_clients.iter().collect();
    let managed: BTreeSet<&String> = status.managed_enabled_clients.iter().flatten().collect();
    if !wanted.is_empty()
        && (wanted != managed || opts.recheck_clients || action == Action::Created)
    {
        let enabled: BTreeSet<String> = client.enabled_clients(&id).await?.into_iter().collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|c| !enabled.contains(c.as_str()))
            .map(|c| c.to_string())
            .collect();
        client.enable_clients(&id, &missing).await?;
        synced.enabled_clients_added = missing;
    }
    synced.managed_enabled_clients = if wanted.is_empty() {
        None
    } else {
        Some(wanted.into_iter().cloned().collect())
    };
    let wrote = sync_b2b(
        client,
        res,
        &mut synced,
        B2bStep {
            connection_id: Some(&id),
            fresh: action == Action::Created,
            organizations: resolved.as_deref(),
            compare: compare_b2b || action == Action::Created,
            dry_run: false,
        },
    )
    .await?;
    if wrote && synced.action == Action::Unchanged {
        synced.action = Action::Updated;
    }
    Ok(synced)
}

/// Where the organizations and SCIM step of a sync stands.
struct B2bStep<'a> {
    /// The connection (`None`: a create planned in a dry run).
    connection_id: Option<&'a str>,
    /// Created by this sync: enabled on no organization yet.
    fresh: bool,
    /// The spec's organizations, resolved; `None`: nothing to do for organizations.
    organizations: Option<&'a [crate::b2b::organizations::Resolved]>,
    /// Read the SCIM configuration even if status says it is applied.
    compare: bool,
    dry_run: bool,
}

/// Organizations and the SCIM configuration: records the outcome and the changes in `synced`;
/// returns whether anything was written.
async fn sync_b2b(
    client: &Auth0Client,
    res: &SsoConnection,
    synced: &mut Synced,
    step: B2bStep<'_>,
) -> Result<bool, SyncError> {
    let status = res.status.clone().unwrap_or_default();
    let mut changes = Vec::new();
    if let Some(resolved) = step.organizations {
        let orgs = crate::b2b::sync::sync_organizations(
            client,
            step.connection_id,
            step.fresh,
            resolved,
            &status.managed_organizations,
            step.dry_run,
        )
        .await?;
        synced.managed_organizations = orgs.managed;
        changes.extend(orgs.changes);
    }
    let scim = crate::b2b::sync::sync_scim_configuration(
        client,
        step.connection_id,
        res.spec.scim.as_ref(),
        status.scim.as_ref(),
        &res.scim_secret_name(),
        step.compare,
        step.dry_run,
    )
    .await?;
    synced.scim = scim.status;
    changes.extend(scim.changes);
    // The token is the controller's: a planned token is not a write of this step.
    let wrote = !step.dry_run && changes.iter().any(|c| c.key != "scim token");
    synced.diff.changes.extend(changes);
    Ok(wrote)
}

/// How many times a PATCH of a connection is sent before a transient failure is reported.
const WRITE_ATTEMPTS: usize = 4;

/// Writes what the plan says. `name_unchecked`: the name was not looked up before a create,
/// so a 409 is [`SyncError::NameTaken`] for the caller to look it up and plan again.
async fn execute(
    client: &Auth0Client,
    planned: Plan,
    desired: &Desired,
    name: &str,
    claim: &Claim<'_>,
    name_unchecked: bool,
    listed: Option<&Listing>,
) -> Result<(String, Action, Diff), SyncError> {
    let replan = |current: Option<&Connection>| {
        plan::plan_connection(desired, name, claim, current).map_err(SyncError::Refused)
    };
    match planned {
        Plan::Unchanged { id } => Ok((id, Action::Unchanged, Diff::default())),
        Plan::Update { id, body, diff } => {
            let diff =
                update_with_fresh_merge(client, &id, body, diff, desired, replan, listed).await?;
            Ok((id, Action::Updated, diff))
        }
        Plan::Create { body, diff } => match client.create_connection(&body).await {
            Ok(created) => {
                verify_thumbprint(&created, desired)?;
                let id = created.id.clone();
                if let Some(listed) = listed {
                    listed.record(created);
                }
                Ok((id, Action::Created, diff))
            }
            Err(e) if e.is_name_conflict() && name_unchecked => Err(SyncError::NameTaken),
            // A retried POST may have succeeded the first time, or someone raced us: look the
            // name up and adopt it only if it is ours (plan_connection checks the marker; a
            // foreign marker found now counts as live).
            Err(e) if e.is_name_conflict() => {
                let current = client.find_connection_by_name(name).await?;
                let cautious = Claim {
                    foreign_owner_gone: false,
                    ..*claim
                };
                let replan = |current: Option<&Connection>| {
                    plan::plan_connection(desired, name, &cautious, current)
                        .map_err(SyncError::Refused)
                };
                match replan(current.as_ref())? {
                    Plan::Unchanged { id } => Ok((id, Action::Created, diff)),
                    Plan::Update {
                        id,
                        body,
                        diff: update,
                    } => {
                        update_with_fresh_merge(client, &id, body, update, desired, replan, listed)
                            .await?;
                        Ok((id, Action::Created, diff))
                    }
                    Plan::Create { .. } => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// PATCHes connection `id` with `body` (a merge over the connection as read before) and
/// returns the diff of the write that landed.
///
/// After a 429, 5xx or transport failure the same body is not sent again: Auth0 replaces the
/// whole `options` object, so a body merged over an older read would erase an option set in
/// the Dashboard meanwhile. Each retry waits (exponential backoff with jitter, at least the
/// 429's wait), reads the connection again and re-plans over what it holds now; if that finds
/// nothing left to change (the failed PATCH had landed after all), nothing more is written.
async fn update_with_fresh_merge(
    client: &Auth0Client,
    id: &str,
    mut body: ConnectionUpdate,
    mut diff: Diff,
    desired: &Desired,
    replan: impl Fn(Option<&Connection>) -> Result<Plan, SyncError>,
    listed: Option<&Listing>,
) -> Result<Diff, SyncError> {
    let timing = client.config().timing;
    let mut delays = ExponentialBuilder::new()
        .with_min_delay(timing.backoff_base)
        .with_max_delay(timing.backoff_cap.max(timing.backoff_base))
        .with_jitter()
        .with_max_times(WRITE_ATTEMPTS - 1)
        .build();
    loop {
        let failure = match client.update_connection(id, &body).await {
            Ok(updated) => {
                verify_thumbprint(&updated, desired)?;
                if let Some(listed) = listed {
                    listed.record(updated);
                }
                return Ok(diff);
            }
            // Deferred: nothing was sent; the reconcile comes back at its booked turn.
            Err(e @ Auth0Error::Deferred { .. }) => return Err(e.into()),
            Err(e) if e.is_transient() => e,
            Err(e) => return Err(e.into()),
        };
        let Some(delay) = delays.next() else {
            return Err(failure.into());
        };
        let wait = match &failure {
            Auth0Error::RateLimited { retry_after, .. } => delay.max(*retry_after),
            _ => delay,
        };
        tracing::debug!(
            connection = id,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error = %failure,
            "connection write failed; reading it again before the next attempt"
        );
        tokio::time::sleep(wait).await;
        let current = client.get_connection(id).await?;
        match replan(current.as_ref())? {
            Plan::Unchanged { .. } => return Ok(diff),
            Plan::Update {
                id: fresh_id,
                body: fresh_body,
                diff: fresh_diff,
            } if fresh_id == id => {
                body = fresh_body;
                diff = fresh_diff;
            }
            // Deleted meanwhile: the next reconcile starts over from the name.
            _ => return Err(failure.into()),
        }
    }
}

fn verify_thumbprint(conn: &Connection, desired: &Desired) -> Result<(), SyncError> {
    let stored = conn
        .options_object()
        .and_then(|o| o.get("thumbprints"))
        .and_then(|t| t.get(0))
        .and_then(|t| t.as_str());
    match stored {
        Some(t) if !t.eq_ignore_ascii_case(desired.thumbprint()) => {
            Err(SyncError::Auth0(Auth0Error::Protocol {
                operation: "write connection",
                message: format!(
                    "Auth0 stored certificate thumbprint {t}, expected {}",
                    desired.thumbprint()
                ),
            }))
        }
        _ => Ok(()),
    }
}

/// The connection `id` (named `name`) as Auth0 holds it: from `listed` (the tenant's last drift
/// listing) when it is there, else one GET; a connection gone or renamed falls back to the
/// name. A listing is not a lock: what it lacks is read by id before anything is concluded.
/// Also says whether it came from the listing.
async fn current_by_id(
    client: &Auth0Client,
    id: &str,
    name: &str,
    listed: Option<&Listing>,
) -> Result<(Option<Connection>, bool), SyncError> {
    if let Some(conn) = listed.and_then(|l| l.get(id))
        && conn.name == name
    {
        return Ok((Some(conn), true));
    }
    if let Some(conn) = client.get_connection(id).await?
        && conn.name == name
    {
        return Ok((Some(conn), false));
    }
    Ok((client.find_connection_by_name(name).await?, false))
}

/// Checks what an older API server may have let through (CEL, patterns) and the immutable
/// connection name.
pub fn check_spec(res: &SsoConnection) -> Result<(), SyncError> {
    let name = res.connection_name();
    if let Some(applied) = res
        .status
        .as_ref()
        .and_then(|s| s.connection_name.as_deref())
        && applied != name
    {
        {
            return Err(SyncError::InvalidSpec(format!(
                "spec.connectionName changed from {applied:?} to {name:?}, but Auth0 cannot rename a connection; restore {applied:?}, or create a new SsoConnection for {name:?}"
            )));
        }
    }
    if !is_valid_connection_name(&name) {
        return Err(SyncError::InvalidSpec(format!(
            "connection name {name:?} is invalid: use 1-128 letters, digits and single hyphens, starting and ending with a letter or digit (set spec.connectionName)"
        )));
    }
    if let Some(pin) = res.spec.signing_certificate_thumbprint.as_deref()
        && rollover::normalize_pin(pin).is_none()
    {
        return Err(SyncError::InvalidSpec(format!(
            "spec.signingCertificateThumbprint {pin:?} is not a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) fingerprint"
        )));
    }
    check_metadata_source(&res.spec.metadata)?;
    check_b2b(&res.spec)?;
    let domains = res.spec.claimed_domains();
    if domains.is_empty() {
        return Err(SyncError::InvalidSpec(
            "no domain is claimed: set spec.companyDomain or spec.companyDomains to the customer's email domain(s)".into(),
        ));
    }
    if let Some(bad) = domains.iter().find(|d| !is_valid_domain(d)) {
        return Err(SyncError::InvalidSpec(format!(
            "spec.companyDomain(s) entry {bad:?} is not a DNS domain such as acme.com"
        )));
    }
    if let Some(c) = res
        .spec
        .enabled_clients
        .iter()
        .find(|c| c.trim().is_empty())
    {
        return Err(SyncError::InvalidSpec(format!(
            "spec.enabledClients contains an empty client id {c:?}"
        )));
    }
    Ok(())
}

/// The metadata source's own rules (the CRD's CEL rules, for servers that did not run them).
/// What CEL checks of `organizations` and `scim`, for API servers that do not run CEL.
fn check_b2b(spec: &crate::crd::SsoConnectionSpec) -> Result<(), SyncError> {
    for (i, org) in spec.organizations.iter().enumerate() {
        if org.name.is_some() == org.id.is_some() {
            return Err(SyncError::InvalidSpec(format!(
                "spec.organizations[{i}]: set exactly one of name and id"
            )));
        }
        if let Some(later) = spec.organizations[i + 1..]
            .iter()
            .find(|o| o.key().eq_ignore_ascii_case(org.key()))
        {
            return Err(SyncError::InvalidSpec(format!(
                "spec.organizations lists {} twice; list each organization once",
                later.key()
            )));
        }
    }
    if let Some(scim) = &spec.scim {
        crate::b2b::scim::token_lifetime(scim).map_err(SyncError::InvalidSpec)?;
    }
    Ok(())
}

fn check_metadata_source(source: &crate::crd::MetadataSource) -> Result<(), SyncError> {
    if source.config_map_ref.is_some() == source.url.is_some() {
        return Err(SyncError::InvalidSpec(ONE_METADATA_SOURCE.to_string()));
    }
    if source.url.is_none() && (source.ca_bundle.is_some() || source.refresh_interval.is_some()) {
        return Err(SyncError::InvalidSpec(
            "spec.metadata.caBundle and spec.metadata.refreshInterval apply only to spec.metadata.url".into(),
        ));
    }
    crate::metadata_url::schedule::refresh_interval(source.refresh_interval.as_deref())
        .map_err(SyncError::InvalidSpec)?;
    Ok(())
}

/// Auth0's connection name rule: `^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$`, 1–128 chars.
pub fn is_valid_connection_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
        && !name.contains("--")
}

fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

async fn read_metadata<S: Sources>(
    res: &SsoConnection,
    namespace: &str,
    sources: &S,
) -> Result<(Vec<u8>, MetadataSourceStatus), SyncError> {
    let source = &res.spec.metadata;
    let r = match (&source.config_map_ref, &source.url) {
        (Some(r), None) => r,
        (None, Some(url)) => {
            let doc = sources.url_document(res).await?;
            return Ok((
                doc.xml.to_vec(),
                MetadataSourceStatus {
                    url: Some(url.clone()),
                    sha256: doc.sha256,
                    ..MetadataSourceStatus::default()
                },
            ));
        }
        _ => return Err(SyncError::InvalidSpec(ONE_METADATA_SOURCE.to_string())),
    };
    let data = sources
        .config_map(namespace, &r.name)
        .await
        .map_err(|message| SyncError::Kubernetes {
            what: format!("ConfigMap {namespace}/{}", r.name),
            message,
        })?
        .ok_or_else(|| {
            SyncError::MetadataNotFound(format!(
                "ConfigMap {namespace}/{} not found: create it with key {:?} holding the IdP federation metadata XML",
                r.name, r.key
            ))
        })?;
    let xml = data.get(&r.key).cloned().ok_or_else(|| {
        SyncError::MetadataNotFound(format!(
            "ConfigMap {namespace}/{} has no key {:?} (it has: {}); set spec.metadata.configMapRef.key",
            r.name,
            r.key,
            data.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let sha256 = sha256_hex(&xml);
    Ok((
        xml,
        MetadataSourceStatus {
            config_map: Some(r.name.clone()),
            key: Some(r.key.clone()),
            sha256,
            ..MetadataSourceStatus::default()
        },
    ))
}

const ONE_METADATA_SOURCE: &str =
    "set exactly one of spec.metadata.configMapRef and spec.metadata.url";

/// Where a metadata document came from, for messages: `ConfigMap ns/name key k` or
/// `metadata.url https://…` (without its query).
pub fn describe_source(source: &MetadataSourceStatus, namespace: &str) -> String {
    match (&source.config_map, &source.key, &source.url) {
        (Some(cm), Some(key), _) => format!("ConfigMap {namespace}/{cm} key {key}"),
        (_, _, Some(url)) => format!(
            "metadata.url {}",
            url::Url::parse(url)
                .map(|u| crate::metadata_url::fetch::shown(&u))
                .unwrap_or_else(|_| url.clone())
        ),
        _ => "the metadata".to_string(),
    }
}

/// Lowercase hex SHA-256, as `status.metadataSource.sha256` records the metadata document.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn read_key_pair<S: Sources>(
    sources: &S,
    namespace: &str,
    name: &str,
    field: &str,
) -> Result<KeyPair, SyncError> {
    let data = sources
        .secret(namespace, name)
        .await
        .map_err(|message| SyncError::Kubernetes {
            what: format!("Secret {namespace}/{name}"),
            message,
        })?
        .ok_or_else(|| {
            SyncError::SecretNotFound(format!(
                "Secret {namespace}/{name} (spec.{field}) not found: create it with keys tls.key and tls.crt"
            ))
        })?;
    let text = |key: &str| -> Result<String, SyncError> {
        let bytes = data.get(key).ok_or_else(|| {
            SyncError::InvalidSpec(format!(
                "Secret {namespace}/{name} (spec.{field}) has no key {key}: it needs tls.key and tls.crt in PEM"
            ))
        })?;
        let s = String::from_utf8(bytes.clone()).map_err(|_| {
            SyncError::InvalidSpec(format!(
                "Secret {namespace}/{name} key {key} is not PEM text"
            ))
        })?;
        // The message must not quote the PEM armour: secret scanners flag it.
        if !s.trim_start().starts_with("-----BEGIN") {
            return Err(SyncError::InvalidSpec(format!(
                "Secret {namespace}/{name} key {key} is not PEM text (expected a PEM block with BEGIN and END lines)"
            )));
        }
        Ok(s)
    };
    let cert = text("tls.crt")?;
    let certificate = crate::certs::Certificate::from_pem(&cert).map_err(|e| {
        SyncError::InvalidSpec(format!(
            "Secret {namespace}/{name} key tls.crt is not an X.509 certificate: {e}"
        ))
    })?;
    let key = SecretString::new(text("tls.key")?);
    check_private_key(key.expose(), &certificate).map_err(|problem| {
        SyncError::InvalidSpec(format!(
            "Secret {namespace}/{name} (spec.{field}) key tls.key {problem}"
        ))
    })?;
    Ok(KeyPair { key, cert })
}

/// Checks that `key_pem` is an unencrypted RSA private key (PKCS#8 or PKCS#1 PEM) whose public
/// half is the one in `cert`. Auth0 stores `signing_key` and `decryptionKey` without looking
/// at them, so a broken or mismatched key would otherwise surface only as failed logins.
/// The error never quotes the key.
fn check_private_key(key_pem: &str, cert: &crate::certs::Certificate) -> Result<(), String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    use x509_parser::prelude::{FromDer, X509Certificate};

    let normalized = key_pem.replace("\r\n", "\n");
    let normalized = normalized.trim();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(normalized)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(normalized))
        .map_err(|_| {
            "is not an unencrypted RSA private key in PEM (PKCS#8 or PKCS#1; Auth0 signs and decrypts SAML with RSA only): store the private key that belongs to tls.crt".to_string()
        })?;
    let public = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| format!("has a public part that cannot be encoded: {e}"))?;
    let (_, x509) = X509Certificate::from_der(cert.der())
        .map_err(|e| format!("cannot be compared with tls.crt: {e}"))?;
    if x509.public_key().raw != public.as_bytes() {
        return Err(format!(
            "does not belong to the certificate in tls.crt (sha256 {}): store the matching key and certificate together",
            cert.sha256_hex()
        ));
    }
    Ok(())
}

/// The status after a successful sync: every field of docs/ARCHITECTURE.md §2 except the
/// encryption ones, which the caller adds.
pub fn synced_status(
    res: &SsoConnection,
    synced: &Synced,
    tenant: &Tenant,
    now: Timestamp,
) -> SsoConnectionStatus {
    let mut status = res.status.clone().unwrap_or_default();
    let name = res.connection_name();
    let entity_override = res
        .spec
        .extra_options
        .as_ref()
        .and_then(|o| o.get("entityId"))
        .and_then(|v| v.as_str());
    let sp = status::sp_endpoints(&tenant.public_domain, &tenant.name, &name, entity_override);
    let cert = synced.idp.selected_cert();
    status.observed_generation = res.metadata.generation;
    status.connection_id = synced.connection_id.clone();
    status.connection_name = Some(name);
    status.provider = Some(res.spec.provider.as_str().to_string());
    status.domains = res.spec.claimed_domains();
    status.company_domain = Some(status.domains.join(","));
    status.unclaimed_domain_aliases = synced.unclaimed_domain_aliases.clone();
    status.restrict_sso_only = Some(res.spec.restrict_sso_only);
    status.entity_id = Some(sp.entity_id);
    status.acs_url = Some(sp.acs_url);
    status.sp_metadata_url = Some(sp.sp_metadata_url);
    status.sign_in_url = Some(synced.desired.sign_in_url().to_string());
    status.metadata_source = Some(synced.metadata_source.clone());
    status.signing_certificate = Some(cert.info_at(now));
    status.other_signing_certificates = synced
        .idp
        .signing_certs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != synced.idp.selected)
        .map(|(i, c)| CertificateInfo {
            not_selected_because: synced.not_selected_because.get(i).cloned().flatten(),
            ..c.info_at(now)
        })
        .collect();
    status.sp_certificates = synced.sp_certificates.clone();
    // What was noticed of a certificate carries over while it stays the same certificate.
    if let Some(old) = res.status.as_ref() {
        crate::expiry::carry_notices(old, &mut status);
    }
    status.applied_options = Some(masked_applied_options(
        res,
        synced.desired.applied_summary(),
    ));
    status.managed_enabled_clients = synced.managed_enabled_clients.clone();
    status.managed_organizations = synced.managed_organizations.clone();
    status.scim = synced.scim.clone();
    status.last_sync_time = Some(Time(now));
    let message = match synced.action {
        Action::Created => format!(
            "Created Auth0 connection {}",
            status.connection_name.as_deref().unwrap_or_default()
        ),
        Action::Updated => format!("Updated Auth0 connection: {}", summarize(&synced.diff)),
        _ => "Auth0 connection matches the spec".to_string(),
    };
    status::set_synced(
        &mut status.conditions,
        &message,
        res.metadata.generation,
        now,
    );
    status
}

/// What `status.appliedOptions` shows of a secret-looking `extraOptions` value.
const MASKED: &str = "<redacted>";

/// `applied` with the values of secret-looking `extraOptions` (`client_secret`, `password`,
/// `…token`, … as `plan` masks them) replaced by [`MASKED`]: anyone who may read the resource
/// reads its status. The next reconcile uses only the keys of `appliedOptions` (an option the
/// operator applied and the spec dropped is removed), and compares values with what Auth0
/// holds, so nothing of the value is needed here, not even a hash, which would let a reader
/// test guesses of a short password.
fn masked_applied_options(
    res: &SsoConnection,
    mut applied: Map<String, Value>,
) -> Map<String, Value> {
    let Some(extra) = res.spec.extra_options.as_ref() else {
        return applied;
    };
    for (key, value) in applied.iter_mut() {
        if extra.contains_key(key) && plan::looks_secret(key) {
            *value = Value::String(MASKED.to_string());
        }
    }
    applied
}

/// One line naming the changed options: `added a, b; changed c; removed d`.
pub fn summarize(diff: &Diff) -> String {
    use crate::plan::ChangeKind;
    let mut parts = Vec::new();
    for (kind, word) in [
        (ChangeKind::Added, "added"),
        (ChangeKind::Changed, "changed"),
        (ChangeKind::Removed, "removed"),
    ] {
        let keys: Vec<&str> = diff
            .changes
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.key.as_str())
            .collect();
        if !keys.is_empty() {
            parts.push(format!("{word} {}", keys.join(", ")));
        }
    }
    if parts.is_empty() {
        "no option changes".to_string()
    } else {
        parts.join("; ")
    }
}

/// The status after a failed sync: earlier facts kept, `Ready=False` with the reason.
pub fn failed_status(res: &SsoConnection, err: &SyncError, now: Timestamp) -> SsoConnectionStatus {
    let mut status = res.status.clone().unwrap_or_default();
    status.observed_generation = res.metadata.generation;
    status::set_not_ready(
        &mut status.conditions,
        err.reason(),
        &err.to_string(),
        res.metadata.generation,
        now,
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names_follow_auth0_rules() {
        for ok in ["a", "acme-azure", "A1-b2-C3", &"x".repeat(128)] {
            assert!(is_valid_connection_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a.b",
            "a b",
            &"x".repeat(129),
        ] {
            assert!(!is_valid_connection_name(bad), "{bad}");
        }
    }

    /// The fallback for API servers that skip the CRD's CEL rules: a changed or removed
    /// `connectionName` is refused with a message saying what to restore.
    #[test]
    fn a_renamed_connection_is_refused_where_cel_did_not_run() {
        let mut res: SsoConnection = serde_json::from_value(serde_json::json!({
            "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
            "metadata": {"name": "acme", "namespace": "ns"},
            "spec": {"companyDomain": "acme.com", "connectionName": "acme-v2",
                     "metadata": {"configMapRef": {"name": "m", "key": "k"}}},
            "status": {"connectionName": "acme-azure"}
        }))
        .unwrap();
        let err = check_spec(&res).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidSpec);
        let message = err.to_string();
        assert!(message.contains("cannot rename"), "{message}");
        assert!(message.contains("restore \"acme-azure\""), "{message}");
        res.spec.connection_name = None;
        assert!(
            check_spec(&res)
                .unwrap_err()
                .to_string()
                .contains("\"acme-azure\" to \"acme\"")
        );
        res.spec.connection_name = Some("acme-azure".into());
        assert!(check_spec(&res).is_ok());
    }

    #[test]
    fn company_domains_must_be_dns_names() {
        for ok in ["acme.com", "eu.acme.co.uk", "x-y.io"] {
            assert!(is_valid_domain(ok), "{ok}");
        }
        for bad in [
            "acme",
            "not a domain",
            "-a.com",
            "a..com",
            "acme.c0m",
            "https://acme.com",
        ] {
            assert!(!is_valid_domain(bad), "{bad}");
        }
    }

    /// Secrets by name, and resources that exist by kind and `namespace/name` (every lookup
    /// of one is recorded).
    #[derive(Default)]
    struct Cluster {
        secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
        existing: Vec<(OwnerKind, &'static str)>,
        asked: std::sync::Mutex<Vec<(OwnerKind, String)>>,
    }

    impl Sources for Cluster {
        async fn config_map(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
            Ok(None)
        }
        async fn secret(
            &self,
            _: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
            Ok(self.secrets.get(name).cloned())
        }
        async fn owner_gone(
            &self,
            kind: OwnerKind,
            namespace: &str,
            name: &str,
        ) -> Result<bool, String> {
            let key = format!("{namespace}/{name}");
            self.asked.lock().unwrap().push((kind, key.clone()));
            Ok(!self.existing.contains(&(kind, key.as_str())))
        }
    }

    #[test]
    fn a_marker_owner_is_looked_up_only_in_this_cluster_and_by_its_kind() {
        use crate::ownership::Metadata;
        let me = Owner {
            cluster_id: "c1".into(),
            namespace: "ns".into(),
            name: "me".into(),
            uid: "u-me".into(),
        };
        let marker = |owner: &str, cluster: &str| -> Metadata {
            [
                ("managed-by", "sso-operator"),
                ("sso-operator-owner", owner),
                ("sso-operator-cluster", cluster),
                ("sso-operator-uid", "u-x"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect()
        };
        let cluster = Cluster {
            existing: vec![(OwnerKind::SsoConnection, "ns/live")],
            ..Default::default()
        };
        let gone = |metadata: Metadata, kind: OwnerKind| {
            futures::executor::block_on(marker_owner_gone(
                &cluster,
                kind,
                |k| metadata.get(k)?.as_deref(),
                &me,
                "the object",
            ))
            .unwrap()
        };
        assert!(!gone(marker("ns/live", "c1"), OwnerKind::SsoConnection));
        assert!(gone(marker("ns/departed", "c1"), OwnerKind::SsoConnection));
        // An SsoConnection of that name does not own an application.
        assert!(gone(marker("ns/live", "c1"), OwnerKind::SamlApplication));
        let asked = cluster.asked.lock().unwrap().len();
        assert_eq!(asked, 3);
        // Never asked: another cluster's owner, our own marker, no marker.
        assert!(!gone(marker("ns/departed", "c2"), OwnerKind::SsoConnection));
        assert!(!gone(marker("ns/me", "c1"), OwnerKind::SsoConnection));
        assert!(!gone(Metadata::new(), OwnerKind::SsoConnection));
        assert_eq!(cluster.asked.lock().unwrap().len(), asked);
    }

    /// A throwaway RSA key pair from `openssl req` (PKCS#8 key, self-signed certificate).
    fn openssl_pair(dir: &std::path::Path, tag: &str) -> (String, String) {
        let (key, cert) = (
            dir.join(format!("{tag}.key")),
            dir.join(format!("{tag}.crt")),
        );
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args(["-subj", "/CN=reconcile-unit-test", "-days", "1"])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(status.success());
        (
            std::fs::read_to_string(key).unwrap(),
            std::fs::read_to_string(cert).unwrap(),
        )
    }

    fn read_pair(key: &str, cert: &str) -> Result<KeyPair, SyncError> {
        let data = BTreeMap::from([
            ("tls.key".to_string(), key.as_bytes().to_vec()),
            ("tls.crt".to_string(), cert.as_bytes().to_vec()),
        ]);
        let sources = Cluster {
            secrets: BTreeMap::from([("sp".to_string(), data)]),
            ..Default::default()
        };
        futures::executor::block_on(read_key_pair(&sources, "ns", "sp", "signingKeySecretRef"))
    }

    #[test]
    fn key_secrets_must_hold_the_rsa_key_of_their_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = openssl_pair(dir.path(), "a");
        let (other_key, _) = openssl_pair(dir.path(), "b");
        let pkcs1 = {
            let parsed =
                <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&key).unwrap();
            rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_pem(&parsed, rsa::pkcs8::LineEnding::CRLF)
                .unwrap()
                .to_string()
        };
        assert!(
            read_pair(&key, &cert).is_ok(),
            "PKCS#8 key of the certificate"
        );
        assert!(
            read_pair(&pkcs1, &cert).is_ok(),
            "PKCS#1 key with CRLF line ends"
        );

        // Garbage ("garbage-key-material") in PEM armour; assembled so no file holds a key header.
        let armoured_garbage = format!(
            "-----BEGIN {kind}-----\nZ2FyYmFnZS1rZXktbWF0ZXJpYWw=\n-----END {kind}-----\n",
            kind = "PRIVATE KEY"
        );
        let cases = [
            (
                armoured_garbage.to_string(),
                "is not an unencrypted RSA private key",
            ),
            (cert.clone(), "is not an unencrypted RSA private key"),
            (
                other_key.clone(),
                "does not belong to the certificate in tls.crt",
            ),
            (
                "garbage-key-material".to_string(),
                "tls.key is not PEM text",
            ),
        ];
        for (bad_key, expected) in cases {
            let err = read_pair(&bad_key, &cert).unwrap_err();
            let message = err.to_string();
            assert_eq!(err.reason(), Reason::InvalidSpec, "{message}");
            assert!(message.contains(expected), "{message}");
            assert!(message.contains("ns/sp"), "names the Secret: {message}");
            // Nothing a secret scanner would flag, and no line of the key.
            assert!(!message.contains("-----BEGIN") && !message.contains("PRIVATE KEY"));
            for line in bad_key
                .lines()
                .filter(|l| l.len() > 8 && !l.starts_with("-----"))
            {
                assert!(
                    !message.contains(line.trim()),
                    "quotes key material: {message}"
                );
            }
        }
    }

    #[test]
    fn tenant_name_defaults_to_the_first_domain_label() {
        let t = Tenant::new("acme.us.auth0.com", None, None);
        assert_eq!(t.name, "acme");
        assert_eq!(t.public_domain, "acme.us.auth0.com");
        let t = Tenant::new(
            "acme.us.auth0.com",
            Some("acme-prod"),
            Some("login.acme.com"),
        );
        assert_eq!(
            (t.name.as_str(), t.public_domain.as_str()),
            ("acme-prod", "login.acme.com")
        );
    }
}
