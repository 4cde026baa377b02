//! Organizations: finding an organization, and a connection's enablement on it
//! (docs/AUTH0_API.md §14). Only the one connection's item is ever read or written: other
//! connections enabled on the same organization are never listed or touched.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::client::{Auth0Client, Retry, parse, rejected, to_json};
use super::error::Auth0Error;

const OP_ORG_BY_NAME: &str = "GET /organizations/name/{name}";
const OP_ORG: &str = "GET /organizations/{id}";
const OP_ORG_CONNECTION: &str = "GET /organizations/{id}/enabled_connections/{connectionId}";
const OP_ENABLE: &str = "POST /organizations/{id}/enabled_connections";
const OP_UPDATE: &str = "PATCH /organizations/{id}/enabled_connections/{connectionId}";
const OP_DISABLE: &str = "DELETE /organizations/{id}/enabled_connections/{connectionId}";

/// Scopes the Organizations feature needs (docs/AUTH0_API.md §14).
pub const ORGANIZATION_SCOPES: [&str; 5] = [
    "read:organizations",
    "read:organization_connections",
    "create:organization_connections",
    "update:organization_connections",
    "delete:organization_connections",
];

/// An organization as Auth0 returns it (the fields the operator uses).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// `org_…`.
    pub id: String,
    /// Unique name.
    pub name: String,
}

/// The login flags of a connection on an organization.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrganizationFlags {
    /// `assign_membership_on_login`.
    pub assign_membership_on_login: bool,
    /// `show_as_button` (Auth0's default: true).
    #[serde(default = "shown")]
    pub show_as_button: bool,
}

fn shown() -> bool {
    true
}

#[derive(Serialize)]
struct EnableBody<'a> {
    connection_id: &'a str,
    #[serde(flatten)]
    flags: OrganizationFlags,
}

impl Auth0Client {
    /// `GET /organizations/name/{name}`; `None` when there is none.
    pub async fn organization_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Organization>, Auth0Error> {
        self.read_organization(OP_ORG_BY_NAME, &["organizations", "name", name])
            .await
    }

    /// `GET /organizations/{id}`; `None` when there is none.
    pub async fn organization(&self, id: &str) -> Result<Option<Organization>, Auth0Error> {
        self.read_organization(OP_ORG, &["organizations", id]).await
    }

    async fn read_organization(
        &self,
        operation: &'static str,
        segments: &[&str],
    ) -> Result<Option<Organization>, Auth0Error> {
        let url = self.api_url(segments, &[]);
        let reply = self
            .call(operation, Method::GET, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(Some(parse(operation, &reply.body)?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(rejected(operation, &reply)),
        }
    }

    /// The flags of `connection_id` on organization `org_id`; `None` when it is not enabled
    /// there.
    pub async fn organization_connection(
        &self,
        org_id: &str,
        connection_id: &str,
    ) -> Result<Option<OrganizationFlags>, Auth0Error> {
        let url = self.api_url(
            &[
                "organizations",
                org_id,
                "enabled_connections",
                connection_id,
            ],
            &[],
        );
        let reply = self
            .call(OP_ORG_CONNECTION, Method::GET, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(Some(parse(OP_ORG_CONNECTION, &reply.body)?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(rejected(OP_ORG_CONNECTION, &reply)),
        }
    }

    /// Enables `connection_id` on organization `org_id` with `flags`. `Ok(false)`: it was
    /// enabled already (409), nothing changed.
    pub async fn enable_organization_connection(
        &self,
        org_id: &str,
        connection_id: &str,
        flags: OrganizationFlags,
    ) -> Result<bool, Auth0Error> {
        let url = self.api_url(&["organizations", org_id, "enabled_connections"], &[]);
        let body = to_json(
            OP_ENABLE,
            &EnableBody {
                connection_id,
                flags,
            },
        )?;
        // A resend after a lost reply answers 409, which means the same as success here.
        let reply = self
            .call(OP_ENABLE, Method::POST, url, Some(body), Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(true),
            StatusCode::CONFLICT => Ok(false),
            _ => Err(rejected(OP_ENABLE, &reply)),
        }
    }

    /// Sets the flags of `connection_id` on organization `org_id` (idempotent).
    pub async fn update_organization_connection(
        &self,
        org_id: &str,
        connection_id: &str,
        flags: OrganizationFlags,
    ) -> Result<(), Auth0Error> {
        let url = self.api_url(
            &[
                "organizations",
                org_id,
                "enabled_connections",
                connection_id,
            ],
            &[],
        );
        let body = to_json(OP_UPDATE, &flags)?;
        let reply = self
            .call(OP_UPDATE, Method::PATCH, url, Some(body), Retry::InClient)
            .await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(rejected(OP_UPDATE, &reply))
        }
    }

    /// Disables `connection_id` on organization `org_id`; a connection (or organization) no
    /// longer there counts as done.
    pub async fn disable_organization_connection(
        &self,
        org_id: &str,
        connection_id: &str,
    ) -> Result<(), Auth0Error> {
        let url = self.api_url(
            &[
                "organizations",
                org_id,
                "enabled_connections",
                connection_id,
            ],
            &[],
        );
        let reply = self
            .call(OP_DISABLE, Method::DELETE, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Ok(()),
            _ => Err(rejected(OP_DISABLE, &reply)),
        }
    }
}
