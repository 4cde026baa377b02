//! B2B onboarding beyond the connection itself: the Auth0 Organizations a connection is enabled
//! on, and SCIM provisioning with its token in a Secret (spec and status parts of
//! `SsoConnection`).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// An Auth0 Organization (the customer company in Auth0's B2B model) the connection is
/// enabled on. Exactly one of `name` and `id`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.name) != has(self.id)").message("set exactly one of name and id for each organization"))]
pub struct OrganizationRef {
    /// The organization's name (Auth0 `name`, e.g. `acme`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50))]
    pub name: Option<String>,
    /// The organization's id (`org_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 5, max = 50), regex(pattern = r"^org_[A-Za-z0-9]+$"))]
    pub id: Option<String>,
    /// Make every user who logs in through this connection a member of the organization
    /// (Auth0 `assign_membership_on_login`).
    #[serde(default)]
    pub assign_membership_on_login: bool,
    /// Show the connection's button on the organization's login prompt (Auth0
    /// `show_as_button`). If every enterprise connection of an organization is hidden, Auth0's
    /// login for it fails.
    #[serde(default = "super::default_true")]
    pub show_as_button: bool,
}

impl OrganizationRef {
    /// How the spec names the organization: its name, else its id.
    pub fn key(&self) -> &str {
        self.name.as_deref().or(self.id.as_deref()).unwrap_or("")
    }
}

/// SCIM provisioning of the connection: Auth0's SCIM endpoint for the customer's IdP (Entra ID,
/// Okta, …) to create, update and deprovision users, and a bearer token the operator issues
/// into the Secret `<name>-scim` (keys `endpoint` and `token`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScimSpec {
    /// Provision users through SCIM. `false` (or removing `scim`): the SCIM configuration the
    /// operator created is deleted, its tokens revoked and the Secret emptied.
    pub enabled: bool,
    /// The SCIM attribute that becomes the Auth0 user id (Auth0 `user_id_attribute`). Unset:
    /// left as it is (Auth0's default is `externalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub user_id_attribute: Option<String>,
    /// How SCIM attributes map to Auth0 profile attributes. Unset: left as it is (Auth0's
    /// default mapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub mapping: Option<Vec<ScimMapping>>,
    /// Lifetime of the tokens the operator issues, as a Go duration (`2160h`, `720h`); default
    /// `2160h` (90 days), minimum `1h`. A token is replaced when a third of its lifetime is
    /// left; the old one stays valid until it expires, so the IdP can be switched over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 64),
        regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
    )]
    #[x_kube(validation = kube::core::Rule::new("duration(self) >= duration('1h')").message("scim.tokenLifetime must be at least 1h"))]
    pub token_lifetime: Option<String>,
}

/// One SCIM attribute mapping.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct ScimMapping {
    /// The Auth0 attribute, e.g. `email`.
    #[schemars(length(min = 1, max = 256))]
    pub auth0: String,
    /// The SCIM attribute, e.g. `emails[type eq "work"].value`.
    #[schemars(length(min = 1, max = 256))]
    pub scim: String,
}

/// An organization the connection is enabled on, as the operator applied it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedOrganization {
    /// The organization's id.
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `assign_membership_on_login` as applied.
    pub assign_membership_on_login: bool,
    /// `show_as_button` as applied.
    pub show_as_button: bool,
    /// Whether the operator enabled the connection there. `false`: it was enabled already (by
    /// someone else) when the spec listed it; dropping it from the spec then leaves it
    /// enabled.
    pub enabled_by_operator: bool,
}

/// SCIM provisioning as the operator applied it. Never holds the token.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimStatus {
    /// The SCIM base URL the IdP provisions to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The Secret holding `endpoint` and `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Id of the token in the Secret (Auth0 `token_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// When that token expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_valid_until: Option<String>,
    /// When that token was issued (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_created_at: Option<String>,
    /// Tokens the operator issued earlier that stay valid until they expire (replaced because
    /// they were due), then are revoked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retiring_tokens: Vec<RetiringToken>,
    /// The value of the annotation `sso-operator.io/rotate-scim-token` last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_request: Option<String>,
}

/// A replaced token still valid for the IdP until it expires.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetiringToken {
    /// Auth0 `token_id`.
    pub token_id: String,
    /// When it expires and is revoked (RFC 3339); unset: revoked at the next reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// The annotation that asks for a new SCIM token: set it to a new value (e.g. a timestamp) and
/// the operator issues a token, writes it into the Secret and then revokes the old one at
/// once.
pub const ROTATE_SCIM_TOKEN_ANNOTATION: &str = "sso-operator.io/rotate-scim-token";
