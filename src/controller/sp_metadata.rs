//! The `<name>-sp-metadata` ConfigMap: the SP metadata document Auth0 publishes for the
//! connection ([`crate::sp_metadata`]) and the plain SP values, for the platform team to hand
//! to the customer's IdP administrator. Owned by the SsoConnection, so it is garbage-collected
//! with it; written only when its content changes; a same-named ConfigMap the operator did not
//! write for this resource is left alone. Failing here never changes `Ready`: the Auth0
//! connection is what the resource is about.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::certificate::is_ours;
use super::report::publish;
use super::{Context, FIELD_MANAGER, MANAGED_LABEL};
use crate::crd::{SsoConnection, SsoConnectionStatus};
use crate::plan::Desired;
use crate::sp_metadata::{self, SpCertificates};
use crate::tenants::TenantHandle;

/// Key of the SP metadata XML in the ConfigMap.
pub const METADATA_KEY: &str = "metadata.xml";
/// Event reason when the ConfigMap could not be written.
const NOT_PUBLISHED: &str = "SpMetadataNotPublished";

/// Name of the ConfigMap holding the SP metadata of `obj`: `<name>-sp-metadata`.
pub fn config_map_name(obj: &SsoConnection) -> String {
    format!("{}-sp-metadata", obj.name_any())
}

/// The ConfigMap's data: the document under `metadata.xml`, and the values an IdP
/// administrator types in by hand when their IdP cannot import metadata.
pub(super) fn config_map_data(
    xml: String,
    status: &SsoConnectionStatus,
) -> BTreeMap<String, String> {
    let mut data = BTreeMap::from([(METADATA_KEY.to_string(), xml)]);
    for (key, value) in [
        ("entityId", &status.entity_id),
        ("acsUrl", &status.acs_url),
        ("spMetadataUrl", &status.sp_metadata_url),
    ] {
        if let Some(value) = value {
            data.insert(key.to_string(), value.clone());
        }
    }
    data
}

/// What to do with the ConfigMap, given the one of that name in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Absent, or ours with other content: apply it.
    Write,
    /// Ours, holding `data` already: no Kubernetes write.
    Unchanged,
    /// Someone else's (no managed-by label or no controller reference to this resource):
    /// never overwritten, nor given an owner that would garbage-collect it.
    Foreign,
}

/// Decides from the existing ConfigMap whether `data` must be written (pure).
pub(super) fn decide(
    existing: Option<&ConfigMap>,
    obj: &SsoConnection,
    data: &BTreeMap<String, String>,
) -> Decision {
    let Some(existing) = existing else {
        return Decision::Write;
    };
    if !is_ours(&existing.metadata, obj) {
        return Decision::Foreign;
    }
    let held = existing.data.as_ref();
    let same = data
        .iter()
        .all(|(k, v)| held.and_then(|d| d.get(k)) == Some(v));
    if same {
        Decision::Unchanged
    } else {
        Decision::Write
    }
}

/// Writes the SP metadata ConfigMap of `obj` after a successful sync, from the status being
/// written and the key pairs sent; a failure is a Warning Event and a log line, nothing more.
pub(super) async fn publish_sp_metadata(
    obj: &SsoConnection,
    ctx: &Context,
    tenant: &TenantHandle,
    desired: &Desired,
    status: &SsoConnectionStatus,
) {
    if let Err(message) = try_publish(obj, ctx, tenant, desired, status).await {
        let message = format!(
            "the SP metadata ConfigMap for the IdP administrator was not written (the Auth0 connection is unaffected): {message}"
        );
        tracing::warn!(resource = %ObjectRef::from_obj(obj), error = %message, "SP metadata not published");
        publish(
            ctx,
            obj,
            EventType::Warning,
            NOT_PUBLISHED,
            "PublishSpMetadata",
            &message,
        )
        .await;
    }
}

async fn try_publish(
    obj: &SsoConnection,
    ctx: &Context,
    tenant: &TenantHandle,
    desired: &Desired,
    status: &SsoConnectionStatus,
) -> Result<(), String> {
    let mut certificates = SpCertificates {
        signing_key: desired.signing_key_certificate(),
        decryption_key: desired.decryption_key_certificate(),
        tenant: None,
    };
    if certificates.needs_tenant() {
        let cert = tenant
            .client
            .tenant_certificate()
            .await
            .map_err(|e| format!("fetching the tenant's certificate: {e}"))?;
        certificates.tenant = Some(cert);
    }
    let descriptor = sp_metadata::describe(obj, status, &tenant.facts.public_domain, &certificates)
        .map_err(|e| e.to_string())?;
    let data = config_map_data(sp_metadata::render(&descriptor), status);
    apply_config_map(obj, ctx, data).await
}

/// Reads the ConfigMap, and applies `data` only when [`decide`] says so.
async fn apply_config_map(
    obj: &SsoConnection,
    ctx: &Context,
    data: BTreeMap<String, String>,
) -> Result<(), String> {
    let ns = obj.namespace().unwrap_or_default();
    let name = config_map_name(obj);
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|e| format!("reading ConfigMap {ns}/{name}: {e}"))?;
    match decide(existing.as_ref(), obj, &data) {
        Decision::Unchanged => return Ok(()),
        Decision::Foreign => {
            return Err(format!(
                "ConfigMap {ns}/{name} exists and was not created by the operator for this SsoConnection; it was left untouched; rename or delete it so the operator can write the SP metadata there"
            ));
        }
        Decision::Write => {}
    }
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(BTreeMap::from([
                (MANAGED_LABEL.to_string(), "sso-operator".to_string()),
                ("sso-operator.io/ssoconnection".to_string(), obj.name_any()),
            ])),
            // blockOwnerDeletion: a foreground deletion of the SsoConnection waits for it.
            owner_references: obj.controller_owner_ref(&()).map(|o| {
                vec![OwnerReference {
                    block_owner_deletion: Some(true),
                    ..o
                }]
            }),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&config_map),
    )
    .await
    .map_err(|e| format!("writing ConfigMap {ns}/{name}: {e}"))?;
    tracing::info!(resource = %ObjectRef::from_obj(obj), config_map = %name, "SP metadata ConfigMap written");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(uid: &str) -> SsoConnection {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "sso-operator.io/v1alpha1",
            "kind": "SsoConnection",
            "metadata": {"name": "acme", "namespace": "customers", "uid": uid},
            "spec": {
                "companyDomain": "acme.com",
                "metadata": {"configMapRef": {"name": "idp", "key": "metadata.xml"}}
            }
        }))
        .expect("resource")
    }

    fn status() -> SsoConnectionStatus {
        SsoConnectionStatus {
            entity_id: Some("urn:auth0:acme:acme".into()),
            acs_url: Some("https://acme.test/login/callback?connection=acme".into()),
            sp_metadata_url: Some("https://acme.test/samlp/metadata?connection=acme".into()),
            ..Default::default()
        }
    }

    fn config_map(
        labelled: bool,
        owner_uid: Option<&str>,
        data: BTreeMap<String, String>,
    ) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("acme-sp-metadata".into()),
                labels: labelled.then(|| {
                    BTreeMap::from([(MANAGED_LABEL.to_string(), "sso-operator".to_string())])
                }),
                owner_references: owner_uid.map(|uid| {
                    vec![OwnerReference {
                        api_version: "sso-operator.io/v1alpha1".into(),
                        kind: "SsoConnection".into(),
                        name: "acme".into(),
                        uid: uid.into(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]
                }),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }
    }

    #[test]
    fn the_data_holds_the_document_and_the_values_typed_in_by_hand() {
        let data = config_map_data("<EntityDescriptor/>".into(), &status());
        assert_eq!(data[METADATA_KEY], "<EntityDescriptor/>");
        assert_eq!(data["entityId"], "urn:auth0:acme:acme");
        assert_eq!(
            data["acsUrl"],
            "https://acme.test/login/callback?connection=acme"
        );
        assert_eq!(
            data["spMetadataUrl"],
            "https://acme.test/samlp/metadata?connection=acme"
        );
        assert_eq!(config_map_name(&resource("u1")), "acme-sp-metadata");
    }

    #[test]
    fn a_missing_config_map_is_written_and_an_unchanged_one_is_not() {
        let obj = resource("u1");
        let data = config_map_data("<x/>".into(), &status());
        assert_eq!(decide(None, &obj, &data), Decision::Write);
        let same = config_map(true, Some("u1"), data.clone());
        assert_eq!(decide(Some(&same), &obj, &data), Decision::Unchanged);
        let rotated = config_map_data("<y/>".into(), &status());
        assert_eq!(decide(Some(&same), &obj, &rotated), Decision::Write);
    }

    #[test]
    fn keys_added_by_someone_else_do_not_cause_a_write() {
        let obj = resource("u1");
        let data = config_map_data("<x/>".into(), &status());
        let mut held = data.clone();
        held.insert("note".into(), "sent to the customer on Monday".into());
        let existing = config_map(true, Some("u1"), held);
        assert_eq!(decide(Some(&existing), &obj, &data), Decision::Unchanged);
    }

    #[test]
    fn a_config_map_not_written_for_this_resource_is_never_overwritten() {
        let obj = resource("u1");
        let data = config_map_data("<x/>".into(), &status());
        let users = config_map(false, None, BTreeMap::new());
        assert_eq!(decide(Some(&users), &obj, &data), Decision::Foreign);
        let labelled_only = config_map(true, None, data.clone());
        assert_eq!(decide(Some(&labelled_only), &obj, &data), Decision::Foreign);
        let of_a_previous_resource = config_map(true, Some("u0"), data.clone());
        assert_eq!(
            decide(Some(&of_a_previous_resource), &obj, &data),
            Decision::Foreign
        );
    }
}
