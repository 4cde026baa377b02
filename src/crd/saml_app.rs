//! `SamlApplication`: Auth0 as the SAML identity provider for a service provider (Salesforce,
//! Zendesk, a customer's own SP), as an Auth0 application with the SAML2 Web App addon.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{ConfigMapKeyRef, DeletionPolicy, TenantRef};

/// An Auth0 application with the SAML2 Web App addon: Auth0 as the SAML identity provider for
/// a service provider.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sso-operator.io",
    version = "v1alpha1",
    kind = "SamlApplication",
    doc = "An Auth0 application with the SAML2 Web App addon (Auth0 as the SAML identity provider) for a service provider, configured from the SP's metadata or its entity ID and ACS URL. The operator reads the application, merges its addon settings over the existing ones, adds the ACS URL to the callbacks, and reports the IdP endpoints and metadata for the SP's administrator.",
    plural = "samlapplications",
    shortname = "samlapp",
    category = "sso-operator",
    namespaced,
    status = "SamlApplicationStatus",
    printcolumn(
        name = "Application",
        type_ = "string",
        json_path = ".status.applicationName"
    ),
    printcolumn(name = "SP", type_ = "string", json_path = ".status.spEntityId"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        priority = "1",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "ClientId",
        type_ = "string",
        priority = "1",
        json_path = ".status.clientId"
    )
)]
#[x_kube(validation = kube::core::Rule::new("has(self.spMetadata) != (has(self.entityId) || has(self.acsUrl))").message("set spMetadata, or entityId and acsUrl"))]
#[x_kube(validation = kube::core::Rule::new("has(self.spMetadata) || (has(self.entityId) && has(self.acsUrl))").message("entityId and acsUrl go together"))]
#[x_kube(validation = kube::core::Rule::new("!has(oldSelf.applicationName) || has(self.applicationName)").message("applicationName is immutable: it cannot be removed once set"))]
#[serde(rename_all = "camelCase")]
pub struct SamlApplicationSpec {
    /// The Auth0 tenant to use: a `ClusterAuth0Tenant`, or an `Auth0Tenant` in this namespace.
    /// Unset: the tenant configured by the operator's flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_ref: Option<TenantRef>,

    /// The Auth0 application's name; default `metadata.name`. Immutable: it is how the
    /// operator finds the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("applicationName is immutable"))]
    pub application_name: Option<String>,

    /// The SP's metadata XML in a ConfigMap of this namespace. Or set `entityId` and `acsUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_metadata: Option<SpMetadataSource>,

    /// The SP's entity ID (Auth0 `audience`), when there is no SP metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub entity_id: Option<String>,

    /// The SP's assertion consumer service URL (HTTP-POST): the application's callback URL,
    /// `recipient` and `destination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub acs_url: Option<String>,

    /// The SP's single logout URL (Auth0 `logout.callback`, with `slo_enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub slo_url: Option<String>,

    /// PEM of the certificate the SP signs its authentication requests with (Auth0
    /// `signingCert`), when there is no SP metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 65536))]
    pub signing_certificate: Option<String>,

    /// Sign the whole SAML response, not only the assertion (Auth0 `signResponse`). Unset: left
    /// as it is (Auth0's default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_response: Option<bool>,

    /// Signature algorithm (Auth0 `signatureAlgorithm`); default `rsa-sha256` (Auth0's own
    /// default is `rsa-sha1`).
    #[serde(default)]
    pub signature_algorithm: super::SignatureAlgorithm,

    /// Digest algorithm (Auth0 `digestAlgorithm`); default `sha256` (Auth0's: `sha1`).
    #[serde(default)]
    pub digest_algorithm: super::DigestAlgorithm,

    /// Assertion lifetime in seconds (Auth0 `lifetimeInSeconds`). Unset: left as it is
    /// (Auth0's default: 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 604800))]
    pub lifetime_in_seconds: Option<u32>,

    /// NameID format (Auth0 `nameIdentifierFormat`), e.g.
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`. Unset: the SP metadata's first
    /// `NameIDFormat`, else left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name_identifier_format: Option<String>,

    /// Claims tried in order for the NameID (Auth0 `nameIdentifierProbes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_identifier_probes: Option<Vec<String>>,

    /// Auth0 user attributes → SAML attribute names (Auth0 `mappings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappings: Option<BTreeMap<String, String>>,

    /// Auth0 `createUpnClaim`. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_upn_claim: Option<bool>,

    /// Auth0 `passthroughClaimsWithNoMapping`. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_claims_with_no_mapping: Option<bool>,

    /// Auth0 `mapUnknownClaimsAsIs`. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_unknown_claims_as_is: Option<bool>,

    /// Auth0 `mapIdentities`. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_identities: Option<bool>,

    /// Auth0 `typedAttributes`. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typed_attributes: Option<bool>,

    /// Auth0 `includeAttributeNameFormat`. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_attribute_name_format: Option<bool>,

    /// Auth0 `authnContextClassRef`, e.g.
    /// `urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub authn_context_class_ref: Option<String>,

    /// How Auth0 sends the response (Auth0 `binding`), e.g.
    /// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST`. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub binding: Option<String>,

    /// Any other key of the SAML2 Web App addon, merged as given. Keys the operator manages
    /// through other fields are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserve_unknown_object")]
    pub extra_settings: Option<serde_json::Map<String, serde_json::Value>>,

    /// What happens in Auth0 when this resource is deleted: Retain (default) leaves the
    /// application, Delete removes it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Take over a same-named Auth0 application this operator did not create. Addon settings
    /// and callbacks already set on it are kept; the operator's are merged over them.
    #[serde(default)]
    pub adopt_existing: bool,
}

/// Where the SP's metadata XML lives.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpMetadataSource {
    /// ConfigMap (same namespace) and key holding the SP metadata XML.
    pub config_map_ref: ConfigMapKeyRef,
    /// Which entity to use when the XML aggregates several SPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
}

/// What the operator last observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlApplicationStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Auth0 application's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The Auth0 application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// The tenant used (`ClusterAuth0Tenant/name`, `Auth0Tenant/ns/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The SP's entity ID (Auth0 `audience`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_entity_id: Option<String>,
    /// The SP's assertion consumer service URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    /// The IdP's entity ID (the issuer), e.g. `urn:acme.eu.auth0.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    /// Where the SP sends users to sign in (`https://{domain}/samlp/{clientId}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_sso_url: Option<String>,
    /// Where the SP sends logout requests (`https://{domain}/samlp/{clientId}/logout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_slo_url: Option<String>,
    /// The IdP metadata document (`https://{domain}/samlp/metadata/{clientId}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata_url: Option<String>,
    /// The certificate Auth0 signs assertions with (the tenant's current signing key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_signing_certificate: Option<IdpCertificateInfo>,
    /// The SP metadata's `WantAssertionsSigned` (Auth0 always signs the assertion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub want_assertions_signed: Option<bool>,
    /// SHA-256 fingerprints of encryption certificates the SP metadata offers. Auth0 encrypts
    /// assertions only through an Action; the operator does not set that up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sp_encryption_certificates: Vec<String>,
    /// The SAML2 Web App addon keys the operator set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_settings: Vec<String>,
    /// The callback URL the operator added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_callback: Option<String>,
    /// The ConfigMap holding the IdP metadata for the SP's administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata_config_map: Option<String>,
    /// When the application was last compared with Auth0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Public details of the IdP signing certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdpCertificateInfo {
    /// Subject DN.
    pub subject: String,
    /// `notAfter`, RFC 3339.
    pub not_after: String,
    /// SHA-256 fingerprint, hex.
    pub sha256_fingerprint: String,
    /// SHA-1 thumbprint, hex.
    pub sha1_thumbprint: String,
}

impl SamlApplication {
    /// The Auth0 application name: `spec.applicationName`, else `metadata.name`.
    pub fn application_name(&self) -> String {
        self.spec
            .application_name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }

    /// Name of the ConfigMap holding the IdP metadata.
    pub fn idp_metadata_config_map_name(&self) -> String {
        format!(
            "{}-idp-metadata",
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}
