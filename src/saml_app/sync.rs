//! One `SamlApplication` sync against Auth0, shared by the controller and `plan`/`apply`:
//! gather the SP side → plan the addon, callbacks and marker → write → the IdP side for status.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::plan::{self, AppPlan, DesiredApplication, SpFacts};
use crate::auth0::Auth0Client;
use crate::auth0::applications::Application;
use crate::crd::{IdpCertificateInfo, SamlApplication, SamlApplicationStatus};
use crate::ownership::{Adoption, Claim, Owner};
use crate::plan::{Diff, Refusal};
use crate::reconcile::{Action, OwnerKind, Sources, SyncError, Tenant, marker_owner_gone};
use crate::status::{self};

/// The result of a successful sync.
#[derive(Debug)]
pub struct AppSynced {
    /// The client id (`None` only for a planned create).
    pub client_id: Option<String>,
    /// What was done.
    pub action: Action,
    /// What changed (or would).
    pub diff: Diff,
    /// Whether the plan is a create.
    pub is_create: bool,
    /// The SP side.
    pub sp: SpFacts,
    /// The addon keys the operator sets.
    pub settings: Vec<String>,
    /// The issuer Auth0 uses (`issuer` of the addon, else `urn:{domain}`).
    pub issuer: Option<String>,
    /// The tenant's current signing certificate.
    pub idp_certificate: Option<IdpCertificateInfo>,
}

/// The identity written into the application's `client_metadata`.
pub fn owner_of(res: &SamlApplication, cluster_id: &str) -> Owner {
    Owner {
        cluster_id: cluster_id.to_string(),
        namespace: res
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: res.metadata.name.clone().unwrap_or_default(),
        uid: res.metadata.uid.clone().unwrap_or_default(),
    }
}

/// Brings the Auth0 application of `res` in line with its spec.
pub async fn sync_application<S: Sources + Sync>(
    client: &Auth0Client,
    res: &SamlApplication,
    owner: &Owner,
    adoption: Adoption,
    sources: &S,
    dry_run: bool,
) -> Result<AppSynced, SyncError> {
    let name = res.application_name();
    if name.trim().is_empty() {
        return Err(SyncError::InvalidSpec(
            "the application name is empty; set spec.applicationName".into(),
        ));
    }
    let namespace = res
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let sp = sp_facts(res, &namespace, sources).await?;
    let settings = plan::desired_settings(&res.spec, &sp).map_err(SyncError::InvalidSpec)?;
    let status = res.status.clone().unwrap_or_default();
    let desired = DesiredApplication {
        settings,
        acs_url: sp.acs_url.clone(),
        previously_applied: status.applied_settings.clone(),
        previous_callback: status.managed_callback.clone(),
    };
    let current = match status.client_id.as_deref() {
        Some(id) => match client.get_application(id).await? {
            Some(app) => Some(app),
            None => find_by_name(client, &name).await?,
        },
        None => find_by_name(client, &name).await?,
    };
    let foreign_owner_gone = match current.as_ref() {
        Some(app) => {
            let what = format!("Auth0 application {} ({})", app.name, app.client_id);
            marker_owner_gone(
                sources,
                OwnerKind::SamlApplication,
                |k| app.client_metadata.get(k)?.as_deref(),
                owner,
                &what,
            )
            .await?
        }
        None => false,
    };
    let claim = Claim {
        owner,
        adopt_existing: res.spec.adopt_existing,
        adoption,
        foreign_owner_gone,
    };
    let planned = plan::plan_application(&desired, &name, &claim, current.as_ref())
        .map_err(|message| SyncError::Refused(Refusal::Conflict { message }))?;
    let mut synced = AppSynced {
        client_id: None,
        action: Action::Planned,
        diff: Diff::default(),
        is_create: false,
        sp,
        settings: desired.settings.keys().cloned().collect(),
        issuer: None,
        idp_certificate: None,
    };
    let written = match planned {
        AppPlan::Create { body, diff } => {
            synced.is_create = true;
            synced.diff = diff;
            if dry_run {
                return Ok(synced);
            }
            synced.action = Action::Created;
            client.create_application(&body).await?
        }
        AppPlan::Update { id, body, diff } => {
            synced.client_id = Some(id.clone());
            synced.diff = diff;
            if dry_run {
                return Ok(synced);
            }
            synced.action = Action::Updated;
            client.update_application(&id, &body).await?
        }
        AppPlan::Unchanged { id } => {
            synced.client_id = Some(id);
            if dry_run {
                return Ok(synced);
            }
            synced.action = Action::Unchanged;
            current.unwrap_or_default()
        }
    };
    synced.client_id = Some(written.client_id.clone());
    synced.issuer = Some(
        written
            .samlp()
            .get("issuer")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("urn:{}", client.config().domain)),
    );
    synced.idp_certificate = current_signing_certificate(client).await?;
    Ok(synced)
}

/// The one application named `name`; several are a conflict (names are not unique in
/// Auth0, and the operator never guesses).
async fn find_by_name(client: &Auth0Client, name: &str) -> Result<Option<Application>, SyncError> {
    let mut found = client.applications_named(name).await?;
    match found.len() {
        0 | 1 => Ok(found.pop()),
        n => Err(SyncError::Refused(Refusal::Conflict {
            message: format!(
                "{n} Auth0 applications are named {name}; the operator cannot tell which one to manage and left them untouched; rename the others, or set spec.applicationName to a unique name"
            ),
        })),
    }
}

/// The tenant's current signing certificate, for status.
async fn current_signing_certificate(
    client: &Auth0Client,
) -> Result<Option<IdpCertificateInfo>, SyncError> {
    let keys = client.signing_keys().await?;
    Ok(keys
        .iter()
        .find(|k| k.current)
        .or(keys.first())
        .and_then(|k| crate::certs::Certificate::from_pem(&k.cert).ok())
        .map(|c| IdpCertificateInfo {
            subject: c.subject().to_string(),
            not_after: crate::certs::rfc3339(c.not_after()),
            sha256_fingerprint: c.sha256_hex(),
            sha1_thumbprint: c.sha1_hex(),
        }))
}

/// The SP side, from the metadata ConfigMap or the explicit fields.
async fn sp_facts<S: Sources + Sync>(
    res: &SamlApplication,
    namespace: &str,
    sources: &S,
) -> Result<SpFacts, SyncError> {
    let spec = &res.spec;
    match (&spec.sp_metadata, &spec.entity_id, &spec.acs_url) {
        (Some(source), None, None) => {
            let r = &source.config_map_ref;
            let data = sources
                .config_map(namespace, &r.name)
                .await
                .map_err(|message| SyncError::Kubernetes {
                    what: format!("ConfigMap {namespace}/{}", r.name),
                    message,
                })?
                .ok_or_else(|| {
                    SyncError::MetadataNotFound(format!(
                        "ConfigMap {namespace}/{} (spec.spMetadata.configMapRef) does not exist",
                        r.name
                    ))
                })?;
            let bytes = data.get(&r.key).ok_or_else(|| {
                SyncError::MetadataNotFound(format!(
                    "ConfigMap {namespace}/{} has no key {}",
                    r.name, r.key
                ))
            })?;
            let xml = String::from_utf8_lossy(bytes);
            super::sp::facts_from_metadata(&xml, source.entity_id.as_deref()).map_err(|e| {
                SyncError::InvalidMetadata(format!(
                    "{e} in ConfigMap {namespace}/{} key {}",
                    r.name, r.key
                ))
            })
        }
        (None, Some(entity_id), Some(acs_url)) => {
            let signing_cert_pem = match &spec.signing_certificate {
                Some(pem) => Some(
                    crate::certs::Certificate::from_pem(pem)
                        .map_err(|e| {
                            SyncError::InvalidSpec(format!(
                                "spec.signingCertificate is not a PEM certificate: {e}"
                            ))
                        })?
                        .to_pem(),
                ),
                None => None,
            };
            Ok(SpFacts {
                entity_id: entity_id.clone(),
                acs_url: acs_url.clone(),
                slo_url: spec.slo_url.clone(),
                signing_cert_pem,
                ..SpFacts::default()
            })
        }
        _ => Err(SyncError::InvalidSpec(
            "set spec.spMetadata, or spec.entityId and spec.acsUrl (not both)".into(),
        )),
    }
}

/// The status after a successful sync.
pub fn synced_status(
    res: &SamlApplication,
    synced: &AppSynced,
    tenant: &Tenant,
    now: Timestamp,
) -> SamlApplicationStatus {
    let mut status = res.status.clone().unwrap_or_default();
    let domain = &tenant.public_domain;
    status.observed_generation = res.metadata.generation;
    status.client_id = synced.client_id.clone();
    status.application_name = Some(res.application_name());
    status.sp_entity_id = Some(synced.sp.entity_id.clone());
    status.acs_url = Some(synced.sp.acs_url.clone());
    status.want_assertions_signed = synced.sp.want_assertions_signed;
    status.sp_encryption_certificates = synced.sp.encryption_fingerprints.clone();
    status.applied_settings = synced.settings.clone();
    status.managed_callback = Some(synced.sp.acs_url.clone());
    if let Some(id) = &synced.client_id {
        status.idp_entity_id = synced.issuer.clone();
        status.idp_sso_url = Some(format!("https://{domain}/samlp/{id}"));
        status.idp_slo_url = Some(format!("https://{domain}/samlp/{id}/logout"));
        status.idp_metadata_url = Some(format!("https://{domain}/samlp/metadata/{id}"));
    }
    if synced.idp_certificate.is_some() {
        status.idp_signing_certificate = synced.idp_certificate.clone();
    }
    status.last_sync_time = Some(Time(now));
    let message = match synced.action {
        Action::Created => format!("Created Auth0 application {}", res.application_name()),
        Action::Updated => format!(
            "Updated Auth0 application: {}",
            crate::reconcile::summarize(&synced.diff)
        ),
        _ => "Auth0 application matches the spec".to_string(),
    };
    status::set_synced(
        &mut status.conditions,
        &message,
        res.metadata.generation,
        now,
    );
    status
}

/// The status after a failed sync: earlier facts kept, `Ready=False` with the reason.
pub fn failed_status(
    res: &SamlApplication,
    err: &SyncError,
    now: Timestamp,
) -> SamlApplicationStatus {
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
