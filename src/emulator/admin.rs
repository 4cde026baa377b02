//! [`AdminClient`]: the typed client of the `/__emulator/` admin API (docs/AUTH0_API.md §11)
//! that tests, the end-to-end harness and the benchmarks share, plus the few calls tests need
//! outside it: a Management API token and a SCIM server probe.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::CallRecord;
use super::config::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, RuntimeKnobs};

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No answer (the emulator is down, the connection broke).
    #[error("{call}: {source}")]
    Http {
        /// `METHOD url`.
        call: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// A status other than 2xx.
    #[error("{call}: {status}: {body}")]
    Status {
        /// `METHOD url`.
        call: String,
        /// The status received.
        status: reqwest::StatusCode,
        /// The body received.
        body: String,
    },
    /// A body that is not the JSON expected.
    #[error("{call}: not the expected JSON ({source}): {body}")]
    Json {
        /// `METHOD url`.
        call: String,
        /// What did not parse.
        source: serde_json::Error,
        /// The body received.
        body: String,
    },
}

/// A client of one emulator's admin API.
#[derive(Clone, Debug)]
pub struct AdminClient {
    base_url: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client of the emulator at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_http(base_url, reqwest::Client::new())
    }

    /// A client of the emulator at `base_url` through `http`: for an emulator serving HTTPS,
    /// a client that trusts its CA.
    pub fn with_http(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        AdminClient {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            http,
        }
    }

    /// `GET /__emulator/calls`: every Management API and token call, in order.
    pub async fn calls(&self) -> Result<Vec<CallRecord>, AdminError> {
        self.call(Method::GET, "calls", None).await
    }

    /// `GET /__emulator/calls?since=SEQ`: the calls after `seq`.
    pub async fn calls_since(&self, seq: u64) -> Result<Vec<CallRecord>, AdminError> {
        self.call(Method::GET, &format!("calls?since={seq}"), None)
            .await
    }

    /// The sequence number of the latest call in the log (0 when empty).
    pub async fn last_seq(&self) -> Result<u64, AdminError> {
        Ok(self.calls().await?.iter().map(|c| c.seq).max().unwrap_or(0))
    }

    /// `GET /__emulator/stats`: counters keyed `"METHOD route status"`, `tokens_issued`,
    /// `rate_limited` and `faults_fired`.
    pub async fn stats(&self) -> Result<Value, AdminError> {
        self.call(Method::GET, "stats", None).await
    }

    /// One counter of [`AdminClient::stats`], 0 when absent.
    pub async fn count(&self, key: &str) -> Result<u64, AdminError> {
        Ok(self.stats().await?[key].as_u64().unwrap_or(0))
    }

    /// `GET /__emulator/connections`: every connection with its full options.
    pub async fn connections(&self) -> Result<Vec<Value>, AdminError> {
        self.call(Method::GET, "connections", None).await
    }

    /// The connection named `name`, if any.
    pub async fn connection_named(&self, name: &str) -> Result<Option<Value>, AdminError> {
        Ok(self
            .connections()
            .await?
            .into_iter()
            .find(|c| c["name"] == name))
    }

    /// `POST /__emulator/connections`: inserts a connection (or an array) verbatim, e.g. a
    /// foreign one; returns what was stored.
    pub async fn seed_connection(&self, connection: Value) -> Result<Value, AdminError> {
        self.call(Method::POST, "connections", Some(connection))
            .await
    }

    /// `POST /__emulator/faults`: adds a fault rule (or an array of rules).
    pub async fn add_fault(&self, rule: Value) -> Result<Value, AdminError> {
        self.call(Method::POST, "faults", Some(rule)).await
    }

    /// `DELETE /__emulator/faults`: removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), AdminError> {
        self.call::<Value>(Method::DELETE, "faults", None).await?;
        Ok(())
    }

    /// `POST /__emulator/reset`: forgets connections, calls, counters, buckets and faults.
    pub async fn reset(&self) -> Result<Value, AdminError> {
        self.call(Method::POST, "reset", None).await
    }

    /// `GET /__emulator/config`: the runtime knobs.
    pub async fn config(&self) -> Result<RuntimeKnobs, AdminError> {
        self.call(Method::GET, "config", None).await
    }

    /// `PUT /__emulator/config`: changes the knobs named in `patch` (e.g.
    /// `{"deletion_lag_ms": 0}`); returns them all.
    pub async fn set_config(&self, patch: Value) -> Result<RuntimeKnobs, AdminError> {
        self.call(Method::PUT, "config", Some(patch)).await
    }

    /// `PUT /__emulator/clients/{id}/scopes`: replaces a client's grant, as the Dashboard does.
    pub async fn grant_scopes(&self, client_id: &str, scopes: &[&str]) -> Result<(), AdminError> {
        let path = format!("clients/{client_id}/scopes");
        self.call::<Value>(Method::PUT, &path, Some(serde_json::json!(scopes)))
            .await?;
        Ok(())
    }

    /// A Management API access token of the default client (`POST /oauth/token`, audience
    /// `{base}/api/v2/`); this call does appear in the call log, like any token request.
    pub async fn management_token(&self) -> Result<String, AdminError> {
        let url = format!("{}/oauth/token", self.base_url);
        let audience = format!("{}/api/v2/", self.base_url);
        let req = self.http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("audience", &audience),
        ]);
        let body: Value = self.send(format!("POST {url}"), req).await?;
        match body["access_token"].as_str() {
            Some(token) => Ok(token.to_string()),
            None => Err(AdminError::Json {
                call: format!("POST {url}"),
                source: serde::de::Error::custom("no access_token"),
                body: "<token response withheld>".into(),
            }),
        }
    }

    /// `POST /__emulator/organizations`: creates organization `name` with the Management
    /// API's checks (as `POST /api/v2/organizations` would, without a call-log entry); its id.
    pub async fn create_organization(&self, name: &str) -> Result<String, AdminError> {
        let created: Value = self
            .call(
                Method::POST,
                "organizations",
                Some(serde_json::json!({ "name": name })),
            )
            .await?;
        Ok(created["id"].as_str().unwrap_or_default().to_string())
    }

    /// `GET /__emulator/organizations/{id}/enabled_connections`: every item, as
    /// `GET /api/v2/organizations/{id}/enabled_connections` renders them, all pages at once.
    pub async fn enabled_connections(&self, org_id: &str) -> Result<Vec<Value>, AdminError> {
        self.call(
            Method::GET,
            &format!("organizations/{org_id}/enabled_connections"),
            None,
        )
        .await
    }

    /// `POST /__emulator/organizations/{id}/enabled_connections`: enables a connection with the
    /// Management API's checks (`is_signup_enabled` false).
    pub async fn enable_connection(
        &self,
        org_id: &str,
        connection_id: &str,
        assign_membership_on_login: bool,
        show_as_button: bool,
    ) -> Result<(), AdminError> {
        let body = serde_json::json!({
            "connection_id": connection_id,
            "assign_membership_on_login": assign_membership_on_login,
            "show_as_button": show_as_button,
        });
        self.call::<Value>(
            Method::POST,
            &format!("organizations/{org_id}/enabled_connections"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// `GET /__emulator/connections/{id}/scim-configuration`: the configuration as the
    /// Management API renders it, `None` when the connection has none.
    pub async fn scim_configuration(
        &self,
        connection_id: &str,
    ) -> Result<Option<Value>, AdminError> {
        let path = format!("connections/{connection_id}/scim-configuration");
        match self.call(Method::GET, &path, None).await {
            Ok(config) => Ok(Some(config)),
            Err(AdminError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /__emulator/connections/{id}/scim-configuration/tokens`: the connection's SCIM
    /// tokens (ids, scopes, dates — never a value).
    pub async fn scim_tokens(&self, connection_id: &str) -> Result<Vec<Value>, AdminError> {
        self.call(
            Method::GET,
            &format!("connections/{connection_id}/scim-configuration/tokens"),
            None,
        )
        .await
    }

    /// `GET /__emulator/applications`: every application (client) of `/api/v2/clients`, with
    /// every field but `client_secret`, the global client and the machine-to-machine ones
    /// included.
    pub async fn clients(&self) -> Result<Vec<Value>, AdminError> {
        self.call(Method::GET, "applications", None).await
    }

    /// `GET /__emulator/applications/{id}`: one application as [`AdminClient::clients`] shows
    /// it, `None` when there is none.
    pub async fn client(&self, client_id: &str) -> Result<Option<Value>, AdminError> {
        let path = format!("applications/{client_id}");
        match self.call(Method::GET, &path, None).await {
            Ok(client) => Ok(Some(client)),
            Err(AdminError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /__emulator/applications`: inserts an application verbatim (like
    /// [`AdminClient::seed_connection`]); returns what was stored, with the `client_id`
    /// generated when the value has none.
    pub async fn seed_client(&self, client: Value) -> Result<Value, AdminError> {
        self.call(Method::POST, "applications", Some(client)).await
    }

    /// `PATCH /__emulator/applications/{id}`: changes an application as a Dashboard edit would,
    /// with the checks and merge rules of `PATCH /api/v2/clients/{id}` (docs/AUTH0_API.md §16),
    /// without a call-log entry; returns the application.
    pub async fn patch_client(&self, client_id: &str, patch: Value) -> Result<Value, AdminError> {
        self.call(
            Method::PATCH,
            &format!("applications/{client_id}"),
            Some(patch),
        )
        .await
    }

    /// `GET /__emulator/samlp/metadata/{client_id}`: the IdP metadata document that
    /// `GET /samlp/metadata/{client_id}` serves, `None` for an unknown client; not logged.
    pub async fn idp_metadata(&self, client_id: &str) -> Result<Option<String>, AdminError> {
        let url = format!("{}/__emulator/samlp/metadata/{client_id}", self.base_url);
        let call = format!("GET {url}");
        let http = |source| AdminError::Http {
            call: call.clone(),
            source,
        };
        let resp = self.http.get(&url).send().await.map_err(http)?;
        let status = resp.status();
        let text = resp.text().await.map_err(http)?;
        match status {
            s if s.is_success() => Ok(Some(text)),
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status => Err(AdminError::Status {
                call,
                status,
                body: text,
            }),
        }
    }

    /// The status of `GET {scim_endpoint}/Users` with `token` as bearer: 200 for a working
    /// token with `get:users`, 401 or 403 otherwise.
    pub async fn scim_users_status(
        &self,
        scim_endpoint: &str,
        token: &str,
    ) -> Result<u16, AdminError> {
        let url = format!("{}/Users", scim_endpoint.trim_end_matches('/'));
        let resp = self
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|source| AdminError::Http {
                call: format!("GET {url}"),
                source,
            })?;
        Ok(resp.status().as_u16())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, AdminError> {
        let url = format!("{}/__emulator/{path}", self.base_url);
        let call = format!("{method} {url}");
        let mut req = self.http.request(method, &url);
        if let Some(b) = &body {
            req = req.json(b);
        }
        self.send(call, req).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        call: String,
        req: reqwest::RequestBuilder,
    ) -> Result<T, AdminError> {
        let http = |source| AdminError::Http {
            call: call.clone(),
            source,
        };
        let resp = req.send().await.map_err(http)?;
        let status = resp.status();
        let text = resp.text().await.map_err(http)?;
        if !status.is_success() {
            return Err(AdminError::Status {
                call,
                status,
                body: text,
            });
        }
        let text = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        serde_json::from_str(text).map_err(|source| AdminError::Json {
            call,
            source,
            body: text.to_string(),
        })
    }
}
