#![allow(dead_code)] // shared by several test crates, each using a part
//! The emulator driven over raw HTTP with reqwest, for tests of its wire behaviour: an
//! in-process instance on a free port, a bearer token of the default client, and replies
//! with status, headers, parsed body and raw text.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sso_operator::emulator::admin::AdminClient;
use sso_operator::emulator::{
    self, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, RunningEmulator,
};

/// A running emulator, a token of its default client, and its admin API.
pub struct Emu {
    /// The emulator.
    pub running: RunningEmulator,
    /// Plain HTTP client.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A Management API token of the default client.
    pub token: String,
    /// The typed `/__emulator/` client.
    pub admin: AdminClient,
}

/// One answer.
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The body as text.
    pub raw: String,
}

impl Emu {
    /// Starts an emulator with `config` and fetches a token of the default client.
    pub async fn start(config: EmulatorConfig) -> Emu {
        let running = emulator::start(config).await.unwrap();
        let base = running.base_url();
        let mut emu = Emu {
            admin: AdminClient::new(base.clone()),
            running,
            http: reqwest::Client::new(),
            base,
            token: String::new(),
        };
        emu.token = emu
            .token_for(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .await;
        emu
    }

    /// The Management API audience.
    pub fn audience(&self) -> String {
        format!("{}/api/v2/", self.base)
    }

    /// A token of client `id`.
    pub async fn token_for(&self, id: &str, secret: &str) -> String {
        let reply = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("audience", &self.audience()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let body: Value = reply.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Sends `req` and reads the whole answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.text().await.unwrap();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    /// A Management API call with `token`.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }

    /// A Management API call with the default client's token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.token, method, path, body).await
    }

    /// A call without a token (admin API, public documents).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }
}
