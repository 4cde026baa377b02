//! [`AdminClient`]: the typed client of the `/__emulator/` admin API (docs/AUTH0_API.md §11)
//! that tests, the end-to-end harness and the benchmarks share.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::CallRecord;
use super::config::RuntimeKnobs;

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
        AdminClient {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
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
