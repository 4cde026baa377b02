//! `ClusterAuth0Tenant` (cluster-scoped, with a policy) and `Auth0Tenant` (namespaced, usable
//! only from its own namespace): the Auth0 tenants SsoConnections are created in, like
//! cert-manager's `ClusterIssuer` and `Issuer`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// How to reach one Auth0 tenant's Management API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantConnection {
    /// The tenant's Auth0 domain, e.g. `acme.eu.auth0.com` (the token audience is
    /// `https://{domain}/api/v2/`).
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$")
    )]
    pub domain: String,

    /// Base URL of the Management API and token endpoint, when not `https://{domain}` (e.g. an
    /// Auth0 emulator in tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 2048), regex(pattern = r"^https?://"))]
    pub base_url: Option<String>,

    /// Tenant name in SP entity IDs (`urn:auth0:{tenantName}:{connection}`). Default: the first
    /// label of `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub tenant_name: Option<String>,

    /// Custom domain used in the ACS and SP metadata URLs reported in status. Default: `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub public_domain: Option<String>,

    /// Secret with the machine-to-machine application's credentials. An `Auth0Tenant` reads it
    /// from its own namespace, a `ClusterAuth0Tenant` from the operator's cluster resource
    /// namespace (`--cluster-resource-namespace`).
    pub credentials_secret_ref: CredentialsSecretRef,

    /// This tenant's Management API request budget (all calls to it share one). Default: the
    /// operator's `--auth0-rate-limit` and `--auth0-rate-burst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// Where the client id and secret are.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key of the client id.
    #[serde(default = "default_client_id_key")]
    pub client_id_key: String,
    /// Key of the client secret.
    #[serde(default = "default_client_secret_key")]
    pub client_secret_key: String,
}

fn default_client_id_key() -> String {
    "client_id".into()
}

fn default_client_secret_key() -> String {
    "client_secret".into()
}

/// A token-bucket request budget.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained requests per second (2 on free tenants).
    #[schemars(range(min = 0.01, max = 1000.0))]
    pub requests_per_second: f64,
    /// Burst size.
    #[serde(default = "default_burst")]
    #[schemars(range(min = 1, max = 1000))]
    pub burst: u32,
}

fn default_burst() -> u32 {
    2
}

/// An Auth0 tenant every namespace may use, subject to its policy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sso-operator.io",
    version = "v1alpha1",
    kind = "ClusterAuth0Tenant",
    doc = "An Auth0 tenant (its Management API and credentials) that SsoConnections in any namespace may use through spec.tenantRef, subject to spec.policy: which namespaces, which email domains, which applications and which connection names, and whether existing connections may be adopted.",
    plural = "clusterauth0tenants",
    shortname = "cauth0",
    category = "sso-operator",
    status = "Auth0TenantStatus",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domain"),
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
        name = "Connections",
        type_ = "integer",
        json_path = ".status.connections"
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
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAuth0TenantSpec {
    /// How to reach the tenant.
    #[serde(flatten)]
    pub connection: TenantConnection,

    /// What namespaces may do with this tenant. Unset: the defaults of each field (every
    /// namespace; domains only as granted by the namespace annotation; any application; any
    /// name; adoption of unowned connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<TenantPolicy>,
}

/// An Auth0 tenant usable only by SsoConnections in its own namespace.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sso-operator.io",
    version = "v1alpha1",
    kind = "Auth0Tenant",
    doc = "An Auth0 tenant (its Management API and credentials) that SsoConnections in the same namespace may use through spec.tenantRef.",
    plural = "auth0tenants",
    shortname = "auth0",
    category = "sso-operator",
    namespaced,
    status = "Auth0TenantStatus",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domain"),
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
        name = "Connections",
        type_ = "integer",
        json_path = ".status.connections"
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
    )
)]
#[serde(rename_all = "camelCase")]
pub struct Auth0TenantSpec {
    /// How to reach the tenant.
    #[serde(flatten)]
    pub connection: TenantConnection,
}

/// What namespaces may do with a `ClusterAuth0Tenant`. Checked before anything is sent to
/// Auth0.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPolicy {
    /// Namespaces whose SsoConnections may use the tenant. Unset: all namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Which email domains a namespace may claim (`companyDomain`, `companyDomains`).
    #[serde(default)]
    pub domains: DomainPolicy,

    /// Application client ids connections may be enabled on (`enabledClients`). Unset: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<String>>,

    /// A prefix every Auth0 connection name must start with; `{namespace}` is replaced by the
    /// resource's namespace, e.g. `{namespace}-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub connection_name_prefix: Option<String>,

    /// Whether `adoptExisting` may take over connections that exist without a live owner.
    #[serde(default)]
    pub adoption: AdoptionPolicy,

    /// Hosts `spec.metadata.url` may name: exact host names, or `*.example.com` for its
    /// subdomains, e.g. `[login.microsoftonline.com, "*.okta.com"]`. Unset: any host (the
    /// operator's address rules still apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(length(min = 1, max = 253)))]
    pub allowed_metadata_hosts: Option<Vec<String>>,

    /// Which Auth0 Organizations a namespace may enable its connections on
    /// (`spec.organizations`). Enabling a connection with `assignMembershipOnLogin` on another
    /// customer's organization would let that IdP's users join it.
    #[serde(default)]
    pub organizations: OrganizationPolicy,
}

/// Which Auth0 Organizations a namespace may use.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum OrganizationPolicy {
    /// Only the organizations listed (by name or id, as the SsoConnection names them) in the
    /// namespace's annotation `sso-operator.io/allowed-organizations`, e.g. `"acme,org_abc123"`.
    #[default]
    NamespaceAnnotation,
    /// Any organization.
    Unrestricted,
}

/// Which domains a namespace may claim.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DomainPolicy {
    /// Only the domains (and their subdomains) listed in the namespace's annotation
    /// `sso-operator.io/allowed-domains`, e.g. `"acme.com,acme.co.uk"`. Namespaces belong to
    /// the cluster administrator, so a tenant of the cluster cannot grant itself a domain.
    #[default]
    NamespaceAnnotation,
    /// Any domain.
    Unrestricted,
}

/// Whether existing Auth0 connections may be adopted.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum AdoptionPolicy {
    /// Never; an existing connection of the same name is a conflict.
    Disabled,
    /// Connections without an ownership marker, or released ones, with `adoptExisting: true`.
    #[default]
    Unowned,
}

/// What the operator last verified about a tenant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Auth0TenantStatus {
    /// The spec generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Scopes granted to the operator's token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Scopes of optional features (Organizations, SCIM, SamlApplication) the token lacks:
    /// resources that do not use those features work without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_optional_scopes: Vec<String>,
    /// SsoConnections that use this tenant.
    #[serde(default)]
    pub connections: u32,
    /// `Ready`: Verified, SecretNotFound, InvalidCredentials, InsufficientScope or
    /// Auth0Unavailable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The namespace annotation granting domains under `DomainPolicy::NamespaceAnnotation`.
pub const ALLOWED_DOMAINS_ANNOTATION: &str = "sso-operator.io/allowed-domains";

/// The namespace annotation granting organizations under
/// `OrganizationPolicy::NamespaceAnnotation`.
pub const ALLOWED_ORGANIZATIONS_ANNOTATION: &str = "sso-operator.io/allowed-organizations";

/// Which tenant resource an SsoConnection uses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRef {
    /// `ClusterAuth0Tenant` or `Auth0Tenant` (in the resource's namespace).
    pub kind: TenantKind,
    /// The tenant resource's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The two tenant kinds.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
pub enum TenantKind {
    /// Cluster-scoped, with a policy.
    ClusterAuth0Tenant,
    /// Namespaced, usable only from its namespace.
    Auth0Tenant,
}

impl TenantKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::ClusterAuth0Tenant => "ClusterAuth0Tenant",
            TenantKind::Auth0Tenant => "Auth0Tenant",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn tenant_specs_read_the_issue_s_field_names_and_defaults() {
        let spec: ClusterAuth0TenantSpec = serde_json::from_value(serde_json::json!({
            "domain": "acme.eu.auth0.com",
            "credentialsSecretRef": {"name": "auth0"},
            "policy": {"connectionNamePrefix": "{namespace}-"}
        }))
        .unwrap();
        assert_eq!(
            spec.connection.credentials_secret_ref.client_id_key,
            "client_id"
        );
        assert_eq!(
            spec.connection.credentials_secret_ref.client_secret_key,
            "client_secret"
        );
        let policy = spec.policy.unwrap();
        assert_eq!(policy.domains, DomainPolicy::NamespaceAnnotation);
        assert_eq!(policy.adoption, AdoptionPolicy::Unowned);
        assert!(policy.namespace_selector.is_none());
    }

    #[test]
    fn flattened_connection_fields_appear_in_both_schemas() {
        for crd in [ClusterAuth0Tenant::crd(), Auth0Tenant::crd()] {
            let v = serde_json::to_value(&crd).unwrap();
            let spec = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
            for field in ["domain", "baseUrl", "credentialsSecretRef", "rateLimit"] {
                assert!(spec["properties"][field].is_object(), "{field}: {spec:#}");
            }
            let required: Vec<&str> = spec["required"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r.as_str())
                .collect();
            assert!(required.contains(&"domain"), "{required:?}");
        }
        let cluster = serde_json::to_value(ClusterAuth0Tenant::crd()).unwrap();
        assert_eq!(cluster["spec"]["scope"], "Cluster");
    }
}
