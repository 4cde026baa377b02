//! The custom resources: the public contract users write and read.
//!
//! - this file: `SsoConnection` (Auth0 as the SAML service provider);
//! - [`saml_app`]: `SamlApplication` (Auth0 as the SAML identity provider);
//! - [`b2b`]: the Organizations a connection is enabled on, and SCIM provisioning;
//! - [`tenant`]: `ClusterAuth0Tenant` and `Auth0Tenant`, the Auth0 tenants connections use, and
//!   the cluster tenants' policy.
//!
//! Doc comments on these types are the `kubectl explain` text; write them for users.

mod b2b;
mod saml_app;
mod tenant;

pub use b2b::*;
pub use saml_app::*;
pub use tenant::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD the operator serves, in the order `sso-operator crd` prints them; `crds/` holds
/// one file per CRD, `sso-operator.io_{plural}.yaml`.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        SsoConnection::crd(),
        SamlApplication::crd(),
        ClusterAuth0Tenant::crd(),
        Auth0Tenant::crd(),
    ]
}

/// The file name of a CRD under `crds/`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{GROUP}_{}.yaml", crd.spec.names.plural)
}

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The API group of every resource this operator serves.
pub const GROUP: &str = "sso-operator.io";

/// An enterprise SAML single sign-on connection in Auth0, configured from a customer's IdP
/// federation metadata.
// kube-derive repeats `type_` and `priority` per printcolumn by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sso-operator.io",
    version = "v1alpha1",
    kind = "SsoConnection",
    doc = "An enterprise SAML single sign-on connection in Auth0 (Auth0 as the service provider), configured from a customer's IdP federation metadata. The operator creates or updates the Auth0 samlp connection by merging its fields over the existing options, stores the IdP signing certificate encrypted in a Secret, and reports Ready, CertificateEncrypted and CertificateExpiring conditions.",
    plural = "ssoconnections",
    shortname = "sso",
    category = "sso-operator",
    namespaced,
    status = "SsoConnectionStatus",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.companyDomain"),
    printcolumn(
        name = "Connection",
        type_ = "string",
        json_path = ".status.connectionName"
    ),
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
        name = "ConnectionId",
        type_ = "string",
        priority = "1",
        json_path = ".status.connectionId"
    )
)]
#[x_kube(validation = kube::core::Rule::new("!has(oldSelf.connectionName) || has(self.connectionName)").message("connectionName is immutable: it cannot be removed once set"))]
#[x_kube(validation = kube::core::Rule::new("has(self.companyDomain) || (has(self.companyDomains) && size(self.companyDomains) > 0)").message("set companyDomain or companyDomains: the customer's email domain(s)"))]
#[serde(rename_all = "camelCase")]
pub struct SsoConnectionSpec {
    /// The Auth0 tenant to use: a `ClusterAuth0Tenant`, or an `Auth0Tenant` in this namespace.
    /// Unset: the tenant configured by the operator's flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_ref: Option<TenantRef>,

    /// The customer's email domain, e.g. `acme.com`: shorthand for a one-element
    /// `companyDomains`. With `restrictSsoOnly` it becomes a home-realm-discovery domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$")
    )]
    pub company_domain: Option<String>,

    /// All of the customer's email domains, e.g. `[acme.com, acme.co.uk]`. Within a tenant each
    /// domain is claimed by one SsoConnection (the oldest). With `restrictSsoOnly` they are the
    /// connection's home-realm-discovery domains (Auth0 `domain_aliases`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(regex(
            pattern = r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$"
        ))
    )]
    pub company_domains: Vec<String>,

    /// Name of the Auth0 connection. Defaults to `metadata.name`. Immutable: Auth0 cannot
    /// rename an enterprise connection. Letters, digits and single hyphens, 1-128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$")
    )]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("connectionName is immutable: Auth0 cannot rename a connection; create a new SsoConnection instead"))]
    pub connection_name: Option<String>,

    /// The identity provider product, used for defaults and display. One of azureAd, adfs,
    /// okta, googleWorkspace, pingFederate, keycloak, generic.
    #[serde(default)]
    pub provider: Provider,

    /// Where the IdP federation metadata XML comes from.
    pub metadata: MetadataSource,

    /// Pins the IdP signing certificate Auth0 holds, by its SHA-1 (40 hex digits) or SHA-256
    /// (64 hex digits) fingerprint, in any case, colons allowed. Unset: the operator chooses
    /// (see `status.otherSigningCertificates[].notSelectedBecause`). A pin the metadata does
    /// not list is `InvalidMetadata` and changes nothing in Auth0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^\s*([0-9a-fA-F]{2}:?){19}[0-9a-fA-F]{2}\s*$|^\s*([0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}\s*$"
    ))]
    pub signing_certificate_thumbprint: Option<String>,

    /// The name on the login button (Auth0 `display_name`), e.g. `Acme (Entra ID)`. Unset:
    /// left as it is in Auth0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub display_name: Option<String>,

    /// Whether the login page shows a button for the connection (Auth0 `show_as_button`);
    /// false: reachable only by home realm discovery. Unset: left as it is in Auth0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_as_button: Option<bool>,

    /// When true, users of `companyDomain` are routed to this connection by home realm
    /// discovery (Auth0 `domain_aliases = [companyDomain]`).
    #[serde(default)]
    pub restrict_sso_only: bool,

    /// Sign the SAML authentication requests Auth0 sends to the IdP (`signSAMLRequest`).
    #[serde(default = "default_true")]
    pub sign_request: bool,

    /// Algorithm used to sign requests.
    #[serde(default)]
    pub signature_algorithm: SignatureAlgorithm,

    /// Digest algorithm used to sign requests.
    #[serde(default)]
    pub digest_algorithm: DigestAlgorithm,

    /// How Auth0 sends the authentication request to the IdP. When unset, HTTP-Redirect is
    /// used if the metadata offers it, otherwise HTTP-POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_protocol_binding")]
    pub protocol_binding: Option<ProtocolBinding>,

    /// IdP-initiated sign-on: which application users land in when the IdP starts the flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_initiated: Option<IdpInitiated>,

    /// Secret (same namespace) holding a custom request-signing key pair as `tls.key` and
    /// `tls.crt`. Unset: the tenant's key signs requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_secret_ref: Option<SecretRef>,

    /// Secret (same namespace) holding the key pair used to decrypt encrypted assertions, as
    /// `tls.key` and `tls.crt`. Unset: the tenant's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption_key_secret_ref: Option<SecretRef>,

    /// Maps Auth0 profile attributes to SAML attribute names (Auth0 `fieldsMap`), e.g.
    /// `email: http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_mapping: Option<BTreeMap<String, String>>,

    /// SAML attribute that becomes the Auth0 `user_id` (Auth0 `user_id_attribute`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2396))]
    pub user_id_attribute: Option<String>,

    /// Compress HTTP-Redirect requests (Auth0 `deflate`). Unset: left as it is in Auth0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate: Option<bool>,

    /// Never send a logout request to the IdP (Auth0 `disableSignout`). Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_signout: Option<bool>,

    /// Any other Auth0 samlp option, merged into the connection's options as given. Keys the
    /// operator manages through other fields are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub extra_options: Option<serde_json::Map<String, serde_json::Value>>,

    /// Auth0 application client IDs to enable for this connection. The operator only adds:
    /// applications enabled by anyone else stay enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled_clients: Vec<String>,

    /// Auth0 Organizations to enable the connection on, with their login flags. Other
    /// connections enabled on them are never touched; an organization the operator enabled
    /// and the spec no longer lists is disabled again. With a `ClusterAuth0Tenant`, the
    /// namespace must be granted each organization (annotation
    /// `sso-operator.io/allowed-organizations`) unless the tenant's policy says otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub organizations: Vec<OrganizationRef>,

    /// SCIM provisioning: Auth0's SCIM endpoint and a bearer token, written into the Secret
    /// `<name>-scim` (never into status, Events or logs). Annotate the resource with
    /// `sso-operator.io/rotate-scim-token: <new value>` to replace the token at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimSpec>,

    /// What happens in Auth0 when this resource is deleted: Retain (default) leaves the
    /// connection, Delete removes it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Take over a same-named Auth0 connection this operator did not create. Options already
    /// set on it are kept; the operator's fields are merged over them.
    #[serde(default)]
    pub adopt_existing: bool,
}

fn default_true() -> bool {
    true
}

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

// Optional enums are spelled out because the derived schema lists `null` among the enum
// values, which kube-apiserver 1.20 rejects when the CRD is created ("per-version schemas
// may not all be set to identical values"); `nullable: true` already admits null.
fn optional_protocol_binding(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "nullable": true, "enum": ["HTTP-POST", "HTTP-Redirect"]})
}

fn optional_client_protocol(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "nullable": true, "enum": ["oidc", "samlp", "wsfed"]})
}

/// The identity provider product.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Provider {
    AzureAd,
    Adfs,
    Okta,
    GoogleWorkspace,
    PingFederate,
    Keycloak,
    #[default]
    Generic,
}

impl Provider {
    /// The spelling used in the manifest and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::AzureAd => "azureAd",
            Provider::Adfs => "adfs",
            Provider::Okta => "okta",
            Provider::GoogleWorkspace => "googleWorkspace",
            Provider::PingFederate => "pingFederate",
            Provider::Keycloak => "keycloak",
            Provider::Generic => "generic",
        }
    }
}

/// Request signature algorithm.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum SignatureAlgorithm {
    #[default]
    #[serde(rename = "rsa-sha256")]
    RsaSha256,
    #[serde(rename = "rsa-sha1")]
    RsaSha1,
}

impl SignatureAlgorithm {
    /// The Auth0 option value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => "rsa-sha256",
            SignatureAlgorithm::RsaSha1 => "rsa-sha1",
        }
    }
}

/// Request digest algorithm.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DigestAlgorithm {
    #[default]
    #[serde(rename = "sha256")]
    Sha256,
    #[serde(rename = "sha1")]
    Sha1,
}

impl DigestAlgorithm {
    /// The Auth0 option value.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha1 => "sha1",
        }
    }
}

/// A SAML binding Auth0 can use to send the authentication request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum ProtocolBinding {
    #[serde(rename = "HTTP-POST")]
    HttpPost,
    #[serde(rename = "HTTP-Redirect")]
    HttpRedirect,
}

impl ProtocolBinding {
    /// Short name as written in the manifest (`HTTP-POST`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolBinding::HttpPost => "HTTP-POST",
            ProtocolBinding::HttpRedirect => "HTTP-Redirect",
        }
    }

    /// The full SAML binding URN Auth0 stores.
    pub fn urn(self) -> &'static str {
        match self {
            ProtocolBinding::HttpPost => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            ProtocolBinding::HttpRedirect => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        }
    }
}

/// Where the federation metadata XML lives: a ConfigMap, or a URL the operator fetches and
/// refreshes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.configMapRef) != has(self.url)").message("set exactly one of metadata.configMapRef and metadata.url"))]
#[x_kube(validation = kube::core::Rule::new("has(self.url) || (!has(self.caBundle) && !has(self.refreshInterval))").message("metadata.caBundle and metadata.refreshInterval apply only to metadata.url"))]
pub struct MetadataSource {
    /// ConfigMap (same namespace) and key holding the IdP federation metadata XML. Exactly one
    /// of `configMapRef` and `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapKeyRef>,
    /// The IdP's federation metadata URL, e.g.
    /// `https://login.microsoftonline.com/{tenant}/federationmetadata/2007-06/federationmetadata.xml`,
    /// fetched and refreshed by the operator. HTTPS; an address that is loopback, private,
    /// link-local or a cloud metadata endpoint is refused unless the operator runs with
    /// `--allow-private-metadata-urls` (then plain HTTP is accepted for such in-cluster
    /// addresses too). A failed refresh keeps the last good document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^[hH][tT][tT][pP][sS]?://[^\s]+$")
    )]
    pub url: Option<String>,
    /// PEM of the CA certificate(s) that signed the metadata server's certificate. Unset: the
    /// public web roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 65536))]
    pub ca_bundle: Option<String>,
    /// How often the URL is fetched again, as a Go duration (`24h`, `1h30m`, `10s`); default
    /// `24h`, minimum `10s`. A document's `validUntil` or `cacheDuration` brings the refresh
    /// forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 64),
        regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
    )]
    #[x_kube(validation = kube::core::Rule::new("duration(self) >= duration('10s')").message("metadata.refreshInterval must be at least 10s"))]
    pub refresh_interval: Option<String>,
    /// Which entity to use when the XML aggregates several IdPs (an EntitiesDescriptor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
}

/// A key of a ConfigMap in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct ConfigMapKeyRef {
    /// ConfigMap name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the ConfigMap's `data` (or `binaryData`).
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A Secret in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct SecretRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// IdP-initiated sign-on settings (Auth0 `idpinitiated`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdpInitiated {
    /// Accept sign-ons started at the IdP.
    #[serde(default)]
    pub enabled: bool,
    /// The Auth0 application users are signed in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub client_id: Option<String>,
    /// Protocol used towards that application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_client_protocol")]
    pub client_protocol: Option<ClientProtocol>,
    /// Query string appended to the authorize request, e.g. `scope=openid profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub client_authorize_query: Option<String>,
}

/// Protocol of the application an IdP-initiated sign-on lands in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientProtocol {
    Oidc,
    Samlp,
    Wsfed,
}

impl ClientProtocol {
    /// The Auth0 option value.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientProtocol::Oidc => "oidc",
            ClientProtocol::Samlp => "samlp",
            ClientProtocol::Wsfed => "wsfed",
        }
    }
}

/// What deleting the resource does to the Auth0 connection.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Leave the Auth0 connection in place.
    #[default]
    Retain,
    /// Delete the Auth0 connection, then release the resource.
    Delete,
}

/// What the operator last observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoConnectionStatus {
    /// The spec generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Auth0 connection id (`con_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Auth0 connection name in use; `spec.connectionName` may not differ from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_name: Option<String>,
    /// The IdP product from the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The company domains from the spec, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_domain: Option<String>,
    /// The tenant resource in use, `ClusterAuth0Tenant/NAME` or `Auth0Tenant/NAME`; absent for
    /// the tenant of the operator's flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Every domain this resource claims (companyDomain and companyDomains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// `domain_aliases` of the Auth0 connection that this resource does not claim and did not
    /// set (e.g. left by the Dashboard on an adopted connection): reported, left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unclaimed_domain_aliases: Vec<String>,
    /// Whether home realm discovery routes `companyDomain` to this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrict_sso_only: Option<bool>,
    /// The SP entity ID (audience) the IdP administrator configures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The assertion consumer service URL the IdP administrator configures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    /// Auth0's SP metadata for this connection, to hand to the IdP administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_metadata_url: Option<String>,
    /// The IdP single sign-on URL Auth0 sends users to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_url: Option<String>,
    /// Which metadata document was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_source: Option<MetadataSourceStatus>,
    /// The IdP signing certificate in Auth0 (public details only). Auth0 holds one; see
    /// `otherSigningCertificates` for why the others were not chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<CertificateInfo>,
    /// Further signing certificates the metadata lists (e.g. a rollover key), not in Auth0,
    /// each with `notSelectedBecause`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_signing_certificates: Vec<CertificateInfo>,
    /// The service-provider certificates of `signingKeySecretRef` and
    /// `decryptionKeySecretRef` (public details only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sp_certificates: Vec<SpCertificateInfo>,
    /// Secret and key holding the encrypted IdP signing certificate; absent while encryption
    /// fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_signing_cert_secret_ref: Option<SecretKeyRef>,
    /// The non-secret subset of the Auth0 options last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub applied_options: Option<serde_json::Map<String, serde_json::Value>>,
    /// Applications this operator enabled on the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_enabled_clients: Option<Vec<String>>,
    /// Organizations the operator enabled the connection on, or set the flags of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_organizations: Vec<ManagedOrganization>,
    /// SCIM provisioning: endpoint, token id and expiry (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimStatus>,
    /// When the connection was last compared with Auth0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// `Ready`, `CertificateEncrypted` and `CertificateExpiring`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The metadata document last applied, and for `metadata.url` how fetching it goes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataSourceStatus {
    /// ConfigMap name (`metadata.configMapRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    /// Key in the ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The metadata URL (`metadata.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-256 of the XML applied, lowercase hex; absent until a document was applied.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// `metadata.url`: when the URL last answered with a usable document (or `304 Not
    /// Modified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_fetch_time: Option<Time>,
    /// `metadata.url`: why the last fetch failed; absent once a fetch succeeds. While it is
    /// set, the last good document stays in use and nothing is removed from Auth0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `metadata.url`: when the last failed fetch happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_time: Option<Time>,
    /// `metadata.url`: when the next fetch is due (`refreshInterval`, brought forward by the
    /// document's `validUntil`/`cacheDuration`, or a retry after a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_refresh_time: Option<Time>,
}

/// Public details of an X.509 certificate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Lowercase hex SHA-1 of the DER (what Auth0 calls the thumbprint).
    pub sha1_thumbprint: String,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256_fingerprint: String,
    /// Whole days until `notAfter` as of the last sync, rounded down: 0 on the last day,
    /// negative once expired. Recomputed at every sync (at least daily).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_remaining: Option<i64>,
    /// The smallest notice threshold (days before `notAfter`, operator flag
    /// `--certificate-notice-days`; 0 = expired) for which a Warning Event was published for
    /// this certificate, so that no notice is sent twice. A new certificate starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noticed_threshold_days: Option<i64>,
    /// In `otherSigningCertificates`: why this certificate is not the one in Auth0, e.g.
    /// `expired`, `not yet valid`, `not pinned (spec.signingCertificateThumbprint)`, or that
    /// the certificate in use is still listed and valid (rollover pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_selected_because: Option<String>,
}

/// Public details of a service-provider certificate the operator sends to Auth0 (from
/// `signingKeySecretRef` or `decryptionKeySecretRef`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpCertificateInfo {
    /// `sp-signing` (`signingKeySecretRef`) or `sp-decryption` (`decryptionKeySecretRef`).
    pub purpose: String,
    /// The Secret (same namespace) holding the key pair.
    pub secret: String,
    /// Subject distinguished name.
    pub subject: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256_fingerprint: String,
    /// Whole days until `notAfter` as of the last sync, rounded down; negative once expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_remaining: Option<i64>,
    /// As `signingCertificate.noticedThresholdDays`, for this certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noticed_threshold_days: Option<i64>,
}

/// A key of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key in the Secret's data.
    pub key: String,
}

impl SsoConnectionSpec {
    /// The claimed domains: `companyDomain` then `companyDomains`, lowercase, without
    /// duplicates, in that order.
    pub fn claimed_domains(&self) -> Vec<String> {
        let mut domains: Vec<String> = Vec::new();
        for d in self.company_domain.iter().chain(&self.company_domains) {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            if !d.is_empty() && !domains.contains(&d) {
                domains.push(d);
            }
        }
        domains
    }
}

impl SsoConnection {
    /// The Auth0 connection name: `spec.connectionName`, else `metadata.name`.
    pub fn connection_name(&self) -> String {
        self.spec
            .connection_name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }

    /// `namespace/name`, the owner marker written to Auth0.
    pub fn owner_key(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or("default"),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }

    /// Name of the Secret holding the SCIM endpoint and token.
    pub fn scim_secret_name(&self) -> String {
        format!("{}-scim", self.metadata.name.as_deref().unwrap_or_default())
    }

    /// Name of the Secret holding the encrypted signing certificate.
    pub fn signing_cert_secret_name(&self) -> String {
        format!(
            "{}-signing-cert",
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    fn crd_json() -> serde_json::Value {
        serde_json::to_value(SsoConnection::crd()).unwrap()
    }

    #[test]
    fn connection_name_carries_an_immutability_rule() {
        let crd = crd_json();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let rules = &spec["properties"]["connectionName"]["x-kubernetes-validations"];
        assert_eq!(rules[0]["rule"], "self == oldSelf", "{spec:#}");
    }

    #[test]
    fn spec_defaults_follow_the_contract() {
        let spec: SsoConnectionSpec = serde_json::from_value(serde_json::json!({
            "companyDomain": "acme.com",
            "metadata": {"configMapRef": {"name": "m", "key": "k"}}
        }))
        .unwrap();
        assert!(spec.sign_request);
        assert!(!spec.restrict_sso_only);
        assert!(!spec.adopt_existing);
        assert_eq!(spec.provider, Provider::Generic);
        assert_eq!(spec.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(spec.signature_algorithm, SignatureAlgorithm::RsaSha256);
        assert_eq!(spec.digest_algorithm, DigestAlgorithm::Sha256);
        assert_eq!(spec.protocol_binding, None);
    }

    #[test]
    fn no_enum_lists_null_so_older_api_servers_accept_the_crd() {
        let crd = crd_json();
        let text = serde_json::to_string(&crd).unwrap();
        assert!(
            !text.contains(",null]") && !text.contains("[null"),
            "{text}"
        );
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["properties"]["protocolBinding"]["enum"],
            serde_json::json!(["HTTP-POST", "HTTP-Redirect"])
        );
        assert_eq!(spec["properties"]["protocolBinding"]["nullable"], true);
    }

    #[test]
    fn printer_columns_show_readiness_at_a_glance() {
        let crd = crd_json();
        let cols: Vec<String> = crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            cols,
            [
                "Domain",
                "Connection",
                "Ready",
                "Reason",
                "Age",
                "Message",
                "ConnectionId"
            ]
        );
        assert_eq!(crd["spec"]["names"]["shortNames"][0], "sso");
    }
}
