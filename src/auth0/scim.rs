//! SCIM provisioning of a connection: its configuration and tokens (docs/AUTH0_API.md §15).
//!
//! A token's value appears only in the answer to its creation; it is parsed straight into a
//! [`SecretString`] and never reaches a message (parse errors name a position only).

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::client::{Auth0Client, Retry, parse, rejected, to_json};
use super::error::Auth0Error;
use crate::secret::SecretString;

const OP_GET_CONFIG: &str = "GET /connections/{id}/scim-configuration";
const OP_CREATE_CONFIG: &str = "POST /connections/{id}/scim-configuration";
const OP_UPDATE_CONFIG: &str = "PATCH /connections/{id}/scim-configuration";
const OP_DELETE_CONFIG: &str = "DELETE /connections/{id}/scim-configuration";
const OP_LIST_TOKENS: &str = "GET /connections/{id}/scim-configuration/tokens";
const OP_CREATE_TOKEN: &str = "POST /connections/{id}/scim-configuration/tokens";
const OP_DELETE_TOKEN: &str = "DELETE /connections/{id}/scim-configuration/tokens/{tokenId}";

/// Scopes the SCIM feature needs (docs/AUTH0_API.md §15).
pub const SCIM_SCOPES: [&str; 7] = [
    "read:scim_config",
    "create:scim_config",
    "update:scim_config",
    "delete:scim_config",
    "read:scim_token",
    "create:scim_token",
    "delete:scim_token",
];

/// The SCIM scopes of the tokens the operator issues: what an IdP needs to provision and
/// deprovision users (Entra ID uses get/post/patch/delete, Okta also put).
pub const TOKEN_SCOPES: [&str; 5] = [
    "get:users",
    "post:users",
    "put:users",
    "patch:users",
    "delete:users",
];

/// One attribute mapping.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ScimMappingItem {
    /// Auth0 attribute.
    pub auth0: String,
    /// SCIM attribute.
    pub scim: String,
}

/// A connection's SCIM configuration (the fields the operator manages).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ScimConfiguration {
    /// `user_id_attribute`.
    #[serde(default)]
    pub user_id_attribute: Option<String>,
    /// `mapping`.
    #[serde(default)]
    pub mapping: Vec<ScimMappingItem>,
}

/// A token as listed: never its value.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ScimToken {
    /// `token_id`.
    pub token_id: String,
    /// `valid_until` (ISO 8601), absent for a token without expiry.
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// A token just issued: the only time its value is seen.
#[derive(Deserialize, Debug)]
pub struct IssuedScimToken {
    /// `token_id`.
    pub token_id: String,
    /// The bearer token (`Debug` prints it redacted).
    pub token: SecretString,
    /// `created_at`.
    #[serde(default)]
    pub created_at: Option<String>,
    /// `valid_until`.
    #[serde(default)]
    pub valid_until: Option<String>,
}

#[derive(Serialize)]
struct NewToken<'a> {
    scopes: &'a [&'a str],
    token_lifetime: u64,
}

impl Auth0Client {
    /// The connection's SCIM configuration; `None` when it has none.
    pub async fn scim_configuration(
        &self,
        connection_id: &str,
    ) -> Result<Option<ScimConfiguration>, Auth0Error> {
        let url = self.api_url(&["connections", connection_id, "scim-configuration"], &[]);
        let reply = self
            .call(OP_GET_CONFIG, Method::GET, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(Some(parse(OP_GET_CONFIG, &reply.body)?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(rejected(OP_GET_CONFIG, &reply)),
        }
    }

    /// Creates the SCIM configuration; fields left `None`/empty take Auth0's defaults.
    /// `Ok(None)`: one exists already (409).
    pub async fn create_scim_configuration(
        &self,
        connection_id: &str,
        user_id_attribute: Option<&str>,
        mapping: Option<&[ScimMappingItem]>,
    ) -> Result<Option<ScimConfiguration>, Auth0Error> {
        let mut body = serde_json::Map::new();
        if let Some(attr) = user_id_attribute {
            body.insert("user_id_attribute".into(), attr.into());
        }
        if let Some(mapping) = mapping {
            body.insert(
                "mapping".into(),
                serde_json::to_value(mapping).unwrap_or_default(),
            );
        }
        let url = self.api_url(&["connections", connection_id, "scim-configuration"], &[]);
        let body = to_json(OP_CREATE_CONFIG, &body)?;
        let reply = self
            .call(
                OP_CREATE_CONFIG,
                Method::POST,
                url,
                Some(body),
                Retry::InClient,
            )
            .await?;
        match reply.status {
            s if s.is_success() => Ok(Some(parse(OP_CREATE_CONFIG, &reply.body)?)),
            StatusCode::CONFLICT => Ok(None),
            _ => Err(rejected(OP_CREATE_CONFIG, &reply)),
        }
    }

    /// Replaces `user_id_attribute` and `mapping` (both are sent).
    pub async fn update_scim_configuration(
        &self,
        connection_id: &str,
        config: &ScimConfiguration,
    ) -> Result<(), Auth0Error> {
        let url = self.api_url(&["connections", connection_id, "scim-configuration"], &[]);
        let body = to_json(OP_UPDATE_CONFIG, config)?;
        let reply = self
            .call(
                OP_UPDATE_CONFIG,
                Method::PATCH,
                url,
                Some(body),
                Retry::InClient,
            )
            .await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(rejected(OP_UPDATE_CONFIG, &reply))
        }
    }

    /// Deletes the SCIM configuration (and with it every token); none left counts as done.
    pub async fn delete_scim_configuration(&self, connection_id: &str) -> Result<(), Auth0Error> {
        let url = self.api_url(&["connections", connection_id, "scim-configuration"], &[]);
        let reply = self
            .call(OP_DELETE_CONFIG, Method::DELETE, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(rejected(OP_DELETE_CONFIG, &reply)),
        }
    }

    /// The connection's SCIM tokens (ids and expiry; values are never listed).
    pub async fn scim_tokens(&self, connection_id: &str) -> Result<Vec<ScimToken>, Auth0Error> {
        let url = self.api_url(
            &["connections", connection_id, "scim-configuration", "tokens"],
            &[],
        );
        let reply = self
            .call(OP_LIST_TOKENS, Method::GET, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => parse(OP_LIST_TOKENS, &reply.body),
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            _ => Err(rejected(OP_LIST_TOKENS, &reply)),
        }
    }

    /// Issues a token valid for `lifetime_seconds` with [`TOKEN_SCOPES`].
    pub async fn issue_scim_token(
        &self,
        connection_id: &str,
        lifetime_seconds: u64,
    ) -> Result<IssuedScimToken, Auth0Error> {
        let url = self.api_url(
            &["connections", connection_id, "scim-configuration", "tokens"],
            &[],
        );
        let body = to_json(
            OP_CREATE_TOKEN,
            &NewToken {
                scopes: &TOKEN_SCOPES,
                token_lifetime: lifetime_seconds,
            },
        )?;
        // Not resent blindly: a lost reply would leave a token nobody holds. The caller's
        // next reconcile issues one afresh.
        let reply = self
            .call(
                OP_CREATE_TOKEN,
                Method::POST,
                url,
                Some(body),
                Retry::ByCaller,
            )
            .await?;
        if reply.status.is_success() {
            parse(OP_CREATE_TOKEN, &reply.body)
        } else {
            Err(rejected(OP_CREATE_TOKEN, &reply))
        }
    }

    /// Revokes a token; one already gone counts as done.
    pub async fn revoke_scim_token(
        &self,
        connection_id: &str,
        token_id: &str,
    ) -> Result<(), Auth0Error> {
        let url = self.api_url(
            &[
                "connections",
                connection_id,
                "scim-configuration",
                "tokens",
                token_id,
            ],
            &[],
        );
        let reply = self
            .call(OP_DELETE_TOKEN, Method::DELETE, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(rejected(OP_DELETE_TOKEN, &reply)),
        }
    }
}
