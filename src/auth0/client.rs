//! The Auth0 Management API client: typed connection calls over one cached token, one shared
//! request budget and the retry rules of docs/AUTH0_API.md §8.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

use super::budget::{
    RequestBudget, RetryTiming, backoff_schedule, rate_limit_wait, with_symmetric_jitter,
};
use super::error::Auth0Error;
use super::model::{ApiErrorBody, ClientStatus, Connection, ConnectionUpdate, NewConnection};
use super::token::{CachedToken, OP_TOKEN, TokenErrorBody, parse_token_response};
use crate::certs::Certificate;
use crate::cli::Auth0Args;
use crate::secret::SecretString;

const OP_GET: &str = "GET /connections/{id}";
const OP_LIST: &str = "GET /connections";
const OP_CREATE: &str = "POST /connections";
const OP_UPDATE: &str = "PATCH /connections/{id}";
const OP_DELETE: &str = "DELETE /connections/{id}";
const OP_LIST_CLIENTS: &str = "GET /connections/{id}/clients";
const OP_ENABLE_CLIENTS: &str = "PATCH /connections/{id}/clients";
/// The tenant's certificate for SAML connections, from the Authentication API (no token).
const OP_TENANT_CERTIFICATE: &str = "GET /pem";

/// How long the tenant's certificate is reused before it is fetched again: it changes only
/// when the tenant's keys are rotated, and a reconcile should cost no extra call.
const TENANT_CERTIFICATE_TTL: Duration = Duration::from_secs(3600);
/// Largest `/pem` body read: a certificate is one to three KiB.
const MAX_PEM_BYTES: usize = 64 * 1024;

/// The scope without which Auth0 leaves `options` out of connection responses.
const READ_OPTIONS_SCOPE: &str = "read:connections_options";
/// Start of Auth0's 409 message while a same-named connection is still being deleted
/// (docs/AUTH0_API.md §3.5; the body has no `errorCode` to tell it from other 409s).
const BEING_DELETED_MESSAGE: &str = "A connection with the same name is being deleted";
/// Most items `PATCH …/clients` accepts in one body.
const CLIENTS_PATCH_CHUNK: usize = 50;
/// Page size of `GET …/clients` (Auth0 allows up to 1000).
const CLIENTS_PAGE_SIZE: u32 = 100;
/// Page size of the name lookup; a name matches at most one connection.
const LIST_PAGE_SIZE: u32 = 50;
/// ±10 % jitter on 5xx/transport backoff.
const BACKOFF_JITTER: f64 = 0.1;

/// How to reach one Auth0 tenant's Management API.
#[derive(Clone, Debug)]
pub struct Auth0Config {
    /// `https://{domain}`, or the emulator's `http://127.0.0.1:PORT`.
    pub base_url: Url,
    /// Tenant domain, e.g. `acme.us.auth0.com`.
    pub domain: String,
    /// Token audience, `{base_url}/api/v2/` (with the trailing slash).
    pub audience: String,
    /// Machine-to-machine application client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: SecretString,
    /// Sustained requests per second of the shared budget.
    pub rate_per_second: f64,
    /// Burst of the shared budget.
    pub burst: u32,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Retries after a 5xx/transport failure, and separately after a 429.
    pub max_retries: u32,
    /// Backoff and 429 wait bounds.
    pub timing: RetryTiming,
    /// PEM CA certificates trusted for the base URL in addition to the built-in roots: the
    /// test CA of an emulator serving HTTPS (docs/AUTH0_API.md §12). `None` in production.
    pub extra_root_certificates: Option<String>,
}

/// Why the Auth0 settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Settings given with an empty value (an environment variable set to nothing, usually a
    /// template or Secret gone wrong), as `VARIABLE (--flag)`. Refused rather than read as
    /// unset, which would silently run against the embedded emulator.
    #[error(
        "Auth0 settings are set but empty: {}; give each a value, or unset them (plan and apply then use the embedded Auth0 emulator)",
        .0.join(", ")
    )]
    Empty(Vec<&'static str>),
    /// Some Auth0 settings were given but this one is missing.
    #[error(
        "Auth0 is partly configured: {0} is missing (set it, or set no Auth0 flags at all to use the embedded emulator)"
    )]
    Missing(&'static str),
    /// The client secret file cannot be read.
    #[error("cannot read the Auth0 client secret from {}: {message} (check --auth0-client-secret-file)", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A URL setting does not parse.
    #[error("{flag} is not a usable http(s) URL ({value:?}): {message}")]
    InvalidUrl {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// The request budget is not a positive rate.
    #[error("--auth0-rate-limit must be a positive number of requests per second, got {0}")]
    InvalidRate(f64),
}

impl Auth0Config {
    /// Settings for `base_url` with production defaults: audience `{base_url}/api/v2/`,
    /// 2 requests/second with bursts of 2, 15 s timeout, 3 retries.
    pub fn new(base_url: Url, client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Auth0Config {
            domain: base_url.host_str().unwrap_or_default().to_string(),
            audience: audience_for(&base_url),
            base_url,
            client_id: client_id.into(),
            client_secret,
            rate_per_second: 2.0,
            burst: 2,
            request_timeout: Duration::from_secs(15),
            max_retries: 3,
            timing: RetryTiming::default(),
            extra_root_certificates: None,
        }
    }

    /// Settings from the command line; `None` when no Auth0 credentials are configured at all
    /// (the caller then uses the embedded emulator).
    pub fn from_args(args: &Auth0Args) -> Result<Option<Self>, ConfigError> {
        let empty: Vec<&'static str> = [
            ("AUTH0_DOMAIN (--auth0-domain)", &args.auth0_domain),
            ("AUTH0_CLIENT_ID (--auth0-client-id)", &args.auth0_client_id),
            (
                "AUTH0_CLIENT_SECRET (--auth0-client-secret)",
                &args.auth0_client_secret,
            ),
            ("AUTH0_URL (--auth0-url)", &args.auth0_url),
            ("AUTH0_TENANT (--auth0-tenant)", &args.auth0_tenant),
            (
                "AUTH0_PUBLIC_DOMAIN (--auth0-public-domain)",
                &args.auth0_public_domain,
            ),
        ]
        .into_iter()
        .filter(|(_, value)| value.as_deref().is_some_and(|v| v.trim().is_empty()))
        .map(|(name, _)| name)
        .collect();
        if !empty.is_empty() {
            return Err(ConfigError::Empty(empty));
        }
        let non_empty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let secret = match &args.auth0_client_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::SecretFile {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(ConfigError::SecretFile {
                        path: path.clone(),
                        message: "the file is empty".into(),
                    });
                }
                Some(SecretString::new(trimmed))
            }
            None => non_empty(&args.auth0_client_secret).map(SecretString::new),
        };
        let domain = non_empty(&args.auth0_domain).map(|d| {
            d.trim_start_matches("https://")
                .trim_end_matches('/')
                .to_string()
        });
        let client_id = non_empty(&args.auth0_client_id);
        if domain.is_none() && client_id.is_none() && secret.is_none() {
            return Ok(None);
        }
        let client_id = client_id.ok_or(ConfigError::Missing("--auth0-client-id"))?;
        let secret = secret.ok_or(ConfigError::Missing(
            "--auth0-client-secret-file (or --auth0-client-secret)",
        ))?;
        let parse = |flag: &'static str, value: &str| {
            let url = Url::parse(value).map_err(|e| ConfigError::InvalidUrl {
                flag,
                value: value.to_string(),
                message: e.to_string(),
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(ConfigError::InvalidUrl {
                    flag,
                    value: value.to_string(),
                    message: "expected http:// or https://".into(),
                });
            }
            Ok(url)
        };
        let (base_url, domain) = match (non_empty(&args.auth0_url), domain) {
            (Some(url), domain) => {
                let base = parse("--auth0-url", &url)?;
                let domain = domain.unwrap_or_else(|| base.host_str().unwrap_or_default().into());
                (base, domain)
            }
            (None, Some(domain)) => (
                parse("--auth0-domain", &format!("https://{domain}"))?,
                domain,
            ),
            (None, None) => return Err(ConfigError::Missing("--auth0-domain")),
        };
        let rate = args.auth0_rate_limit;
        if !rate.is_finite() || rate <= 0.0 {
            return Err(ConfigError::InvalidRate(rate));
        }
        let mut config = Auth0Config::new(base_url, client_id, secret);
        config.domain = domain;
        config.rate_per_second = rate;
        config.burst = args.auth0_rate_burst.max(1);
        config.request_timeout = Duration::from_secs(args.auth0_timeout_seconds.max(1));
        Ok(Some(config))
    }
}

fn audience_for(base_url: &Url) -> String {
    format!("{}/api/v2/", base_url.as_str().trim_end_matches('/'))
}

/// Request counters, exported as metrics by the controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP exchanges by (operation, status); status is the HTTP code, `timeout` or `error`.
    pub requests: BTreeMap<(&'static str, String), u64>,
    /// Requests repeated after a 5xx, transport failure or 429.
    pub retries: u64,
    /// 429 responses received.
    pub rate_limited: u64,
    /// Tokens fetched from the token endpoint.
    pub token_fetches: u64,
}

impl ClientStats {
    /// Total exchanges of one operation, all statuses.
    pub fn requests_of(&self, operation: &str) -> u64 {
        self.requests
            .iter()
            .filter(|((op, _), _)| *op == operation)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The Auth0 Management API client. Cheap to clone: all clones share one token cache, one
/// request budget and one set of counters.
#[derive(Clone)]
pub struct Auth0Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Auth0Config,
    http: reqwest::Client,
    api_base: Url,
    token_url: Url,
    /// `{base_url}/pem?cert=connection` (docs/AUTH0_API.md §13).
    tenant_certificate_url: Url,
    budget: RequestBudget,
    // Holding this lock while fetching makes the refresh single-flight.
    token: tokio::sync::Mutex<Option<CachedToken>>,
    generation: AtomicU64,
    stats: Mutex<ClientStats>,
    /// The tenant's certificate and when it was fetched; held while fetching, so concurrent
    /// reconciles share one request.
    tenant_certificate: tokio::sync::Mutex<Option<(Instant, Certificate)>>,
}

impl std::fmt::Debug for Auth0Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth0Client")
            .field("base_url", &self.inner.config.base_url.as_str())
            .field("client_id", &self.inner.config.client_id)
            .finish_non_exhaustive()
    }
}

/// Who retries a request that failed with a 429, a 5xx or a transport error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    /// This client, resending the same request: for reads, creates and idempotent writes.
    InClient,
    /// The caller, after reading again: for writes whose body depends on an earlier read.
    ByCaller,
}

/// A response that was not retried: its status and body.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ConnectionList {
    Bare(Vec<Connection>),
    Wrapped { connections: Vec<Connection> },
}

/// One page of `GET /connections?take=…` (checkpoint pagination).
#[derive(Deserialize)]
struct CheckpointPage {
    #[serde(default)]
    connections: Vec<Connection>,
    #[serde(default)]
    next: Option<String>,
}

/// Connections per page of a checkpoint listing (Auth0's maximum).
const LIST_CHECKPOINT_PAGE: u32 = 100;

/// One page of `GET /connections/{id}/clients`.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientsPage {
    /// The enabled applications on this page.
    #[serde(default)]
    pub clients: Vec<ClientIdItem>,
    /// Cursor of the next page, absent on the last one.
    #[serde(default)]
    pub next: Option<String>,
}

/// One item of a [`ClientsPage`].
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ClientIdItem {
    /// Application client id.
    pub client_id: String,
}

/// Parses a connection object (the body of GET, POST and PATCH of a connection).
pub fn parse_connection(operation: &'static str, body: &[u8]) -> Result<Connection, Auth0Error> {
    parse(operation, body)
}

/// Parses a `GET /connections` body in any of its shapes (bare array, `{connections, …}`).
pub fn parse_connection_list(body: &[u8]) -> Result<Vec<Connection>, Auth0Error> {
    match parse::<ConnectionList>(OP_LIST, body)? {
        ConnectionList::Bare(list) | ConnectionList::Wrapped { connections: list } => Ok(list),
    }
}

/// Parses a `GET /connections/{id}/clients` page.
pub fn parse_clients_page(body: &[u8]) -> Result<ClientsPage, Auth0Error> {
    parse(OP_LIST_CLIENTS, body)
}

/// The error for a Management API answer that is not a success and was not retried, from its
/// status and `{statusCode, error, message, errorCode}` body (any body is tolerated).
pub fn rejection(operation: &'static str, status: u16, body: &[u8]) -> Auth0Error {
    match StatusCode::from_u16(status) {
        Ok(status) => rejected(
            operation,
            &Reply {
                status,
                body: body.to_vec(),
            },
        ),
        Err(_) => Auth0Error::Protocol {
            operation,
            message: format!("HTTP status {status} is not valid"),
        },
    }
}

impl Auth0Client {
    /// A client for the tenant in `config`.
    pub fn new(config: Auth0Config) -> Result<Self, Auth0Error> {
        let config_error = |message: String| Auth0Error::Config { message };
        if !matches!(config.base_url.scheme(), "http" | "https")
            || config.base_url.cannot_be_a_base()
        {
            return Err(config_error(format!(
                "the Auth0 base URL {} is not an http(s) URL",
                config.base_url
            )));
        }
        let budget = RequestBudget::new(config.rate_per_second, config.burst).ok_or_else(|| {
            config_error(format!(
                "the Auth0 request budget must be a positive rate, got {}/s",
                config.rate_per_second
            ))
        })?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("sso-operator/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.request_timeout);
        if let Some(pem) = &config.extra_root_certificates {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| {
                    config_error("the extra root certificates are not a PEM bundle".into())
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| config_error(format!("cannot build the HTTP client: {e}")))?;
        let api_base = extend_path(&config.base_url, &["api", "v2"]);
        let token_url = extend_path(&config.base_url, &["oauth", "token"]);
        let mut tenant_certificate_url = extend_path(&config.base_url, &["pem"]);
        tenant_certificate_url.set_query(Some("cert=connection"));
        Ok(Auth0Client {
            inner: Arc::new(Inner {
                config,
                http,
                api_base,
                token_url,
                tenant_certificate_url,
                budget,
                token: tokio::sync::Mutex::new(None),
                generation: AtomicU64::new(0),
                stats: Mutex::new(ClientStats::default()),
                tenant_certificate: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Whether both handles share one client (token cache and request budget).
    pub fn is_same_client(&self, other: &Auth0Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &Auth0Config {
        &self.inner.config
    }

    /// `GET /connections/{id}`; `None` when the connection does not exist. A response without
    /// `options` (token lacks `read:connections_options`) keeps `options: None`.
    pub async fn get_connection(&self, id: &str) -> Result<Option<Connection>, Auth0Error> {
        let url = self.api_url(&["connections", id], &[]);
        let reply = self
            .call(OP_GET, Method::GET, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => {
                let conn = parse_connection(OP_GET, &reply.body)?;
                if conn.options.is_none() {
                    self.drop_token_lacking(READ_OPTIONS_SCOPE).await;
                }
                Ok(Some(conn))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(rejected(OP_GET, &reply)),
        }
    }

    /// `GET /connections?name=…`: the connection with exactly this name, of any strategy.
    pub async fn find_connection_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Connection>, Auth0Error> {
        let per_page = LIST_PAGE_SIZE.to_string();
        let url = self.api_url(&["connections"], &[("name", name), ("per_page", &per_page)]);
        let reply = self
            .call(OP_LIST, Method::GET, url, None, Retry::InClient)
            .await?;
        if !reply.status.is_success() {
            return Err(rejected(OP_LIST, &reply));
        }
        let found = parse_connection_list(&reply.body)?
            .into_iter()
            .find(|c| c.name == name);
        if found.as_ref().is_some_and(|c| c.options.is_none()) {
            self.drop_token_lacking(READ_OPTIONS_SCOPE).await;
        }
        Ok(found)
    }

    /// Every connection of the tenant holding `domain_aliases` (any strategy) with its id, name,
    /// strategy, options and metadata: checkpoint pages of 100 (`take`/`from`, which also works
    /// past 1,000 connections). Options are absent without `read:connections_options`.
    pub async fn list_connections(&self) -> Result<Vec<Connection>, Auth0Error> {
        let mut all = Vec::new();
        self.list_checkpoint(None, &mut |c| all.push(c)).await?;
        Ok(all)
    }

    /// The tenant's connections of one `strategy` (e.g. `samlp`), as [`Self::list_connections`].
    pub async fn list_connections_of_strategy(
        &self,
        strategy: &str,
    ) -> Result<Vec<Connection>, Auth0Error> {
        let mut all = Vec::new();
        self.list_checkpoint(Some(strategy), &mut |c| all.push(c))
            .await?;
        Ok(all)
    }

    /// Like [`Self::list_connections_of_strategy`], handing each connection to `sink` as its
    /// page arrives (only one page is held at a time).
    pub async fn each_connection_of_strategy(
        &self,
        strategy: &str,
        sink: &mut (dyn FnMut(Connection) + Send),
    ) -> Result<(), Auth0Error> {
        self.list_checkpoint(Some(strategy), sink).await
    }

    async fn list_checkpoint(
        &self,
        strategy: Option<&str>,
        sink: &mut (dyn FnMut(Connection) + Send),
    ) -> Result<(), Auth0Error> {
        let take = LIST_CHECKPOINT_PAGE.to_string();
        let mut from: Option<String> = None;
        loop {
            let mut query = vec![
                (
                    "fields",
                    "id,name,strategy,options,metadata,display_name,show_as_button",
                ),
                ("include_fields", "true"),
                ("take", take.as_str()),
            ];
            if let Some(strategy) = strategy {
                query.push(("strategy", strategy));
            }
            if let Some(cursor) = from.as_deref() {
                query.push(("from", cursor));
            }
            let url = self.api_url(&["connections"], &query);
            let reply = self
                .call(OP_LIST, Method::GET, url, None, Retry::InClient)
                .await?;
            if !reply.status.is_success() {
                return Err(rejected(OP_LIST, &reply));
            }
            let page: CheckpointPage = parse(OP_LIST, &reply.body)?;
            let empty = page.connections.is_empty();
            page.connections.into_iter().for_each(&mut *sink);
            match page.next.filter(|n| !n.is_empty()) {
                // A repeated cursor or an empty page would loop forever.
                Some(next) if !empty && from.as_deref() != Some(next.as_str()) => from = Some(next),
                _ => return Ok(()),
            }
        }
    }

    /// `POST /connections`. A 409 `connection_conflict` (also after a retried POST that had in
    /// fact succeeded) is returned as is: the caller looks the name up.
    pub async fn create_connection(&self, body: &NewConnection) -> Result<Connection, Auth0Error> {
        let url = self.api_url(&["connections"], &[]);
        let body = to_json(OP_CREATE, body)?;
        let reply = self
            .call(OP_CREATE, Method::POST, url, Some(body), Retry::InClient)
            .await?;
        if reply.status.is_success() {
            parse_connection(OP_CREATE, &reply.body)
        } else {
            Err(rejected(OP_CREATE, &reply))
        }
    }

    /// `PATCH /connections/{id}` with the complete merged body.
    ///
    /// Not retried here after a 429, 5xx or transport failure: the body is a merge over an
    /// earlier read, and resending it later would erase an option set in the Dashboard in
    /// between. The caller re-reads and re-merges before writing again
    /// (`reconcile::execute`); the 429 wait is in the error and already paces every caller.
    pub async fn update_connection(
        &self,
        id: &str,
        body: &ConnectionUpdate,
    ) -> Result<Connection, Auth0Error> {
        let url = self.api_url(&["connections", id], &[]);
        let body = to_json(OP_UPDATE, body)?;
        let reply = self
            .call(OP_UPDATE, Method::PATCH, url, Some(body), Retry::ByCaller)
            .await?;
        if reply.status.is_success() {
            parse_connection(OP_UPDATE, &reply.body)
        } else {
            Err(rejected(OP_UPDATE, &reply))
        }
    }

    /// `DELETE /connections/{id}`; a connection that is already gone counts as deleted.
    pub async fn delete_connection(&self, id: &str) -> Result<(), Auth0Error> {
        let url = self.api_url(&["connections", id], &[]);
        let reply = self
            .call(OP_DELETE, Method::DELETE, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Ok(()),
            _ => Err(rejected(OP_DELETE, &reply)),
        }
    }

    /// `GET /connections/{id}/clients`, all pages: the enabled application client ids.
    pub async fn enabled_clients(&self, id: &str) -> Result<Vec<String>, Auth0Error> {
        let take = CLIENTS_PAGE_SIZE.to_string();
        let mut clients = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut query = vec![("take", take.as_str())];
            if let Some(cursor) = from.as_deref() {
                query.push(("from", cursor));
            }
            let url = self.api_url(&["connections", id, "clients"], &query);
            let reply = self
                .call(OP_LIST_CLIENTS, Method::GET, url, None, Retry::InClient)
                .await?;
            if !reply.status.is_success() {
                return Err(rejected(OP_LIST_CLIENTS, &reply));
            }
            let page = parse_clients_page(&reply.body)?;
            let empty = page.clients.is_empty();
            clients.extend(page.clients.into_iter().map(|c| c.client_id));
            match page.next.filter(|n| !n.is_empty()) {
                // A repeated cursor or an empty page would loop forever.
                Some(next) if !empty && from.as_deref() != Some(next.as_str()) => from = Some(next),
                _ => return Ok(clients),
            }
        }
    }

    /// `PATCH /connections/{id}/clients` enabling these applications, 50 per call; others stay
    /// as they are. No call when the list is empty.
    pub async fn enable_clients(&self, id: &str, client_ids: &[String]) -> Result<(), Auth0Error> {
        for chunk in client_ids.chunks(CLIENTS_PATCH_CHUNK) {
            let items: Vec<ClientStatus> = chunk
                .iter()
                .map(|client_id| ClientStatus {
                    client_id: client_id.clone(),
                    status: true,
                })
                .collect();
            let url = self.api_url(&["connections", id, "clients"], &[]);
            let body = to_json(OP_ENABLE_CLIENTS, &items)?;
            let reply = self
                .call(
                    OP_ENABLE_CLIENTS,
                    Method::PATCH,
                    url,
                    Some(body),
                    // Idempotent per item, so a blind resend is safe.
                    Retry::InClient,
                )
                .await?;
            if !reply.status.is_success() {
                return Err(rejected(OP_ENABLE_CLIENTS, &reply));
            }
        }
        Ok(())
    }

    /// The required scopes (docs/AUTH0_API.md §1.5) the token was not granted; fetches a token if
    /// none is cached.
    pub async fn missing_scopes(&self) -> Result<Vec<&'static str>, Auth0Error> {
        Ok(self.token().await?.missing_scopes())
    }

    /// The scopes granted to the token (fetched first if none is cached).
    pub async fn granted_scopes(&self) -> Result<Vec<String>, Auth0Error> {
        Ok(self
            .token()
            .await?
            .scope
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// The tenant's certificate for SAML and WS-Fed connections, which Auth0 publishes in a
    /// connection's SP metadata unless the connection has its own key pairs
    /// (docs/AUTH0_API.md §13): `GET {base_url}/pem?cert=connection`, public, so no token and
    /// no draw on the Management API budget. Kept for an hour; a failed fetch is retried
    /// (5xx and transport errors, with the client's backoff) and then reported.
    pub async fn tenant_certificate(&self) -> Result<Certificate, Auth0Error> {
        let mut cached = self.inner.tenant_certificate.lock().await;
        if let Some((fetched, cert)) = cached.as_ref()
            && fetched.elapsed() < TENANT_CERTIFICATE_TTL
        {
            return Ok(cert.clone());
        }
        let config = &self.inner.config;
        let mut backoff = backoff_schedule(&config.timing, config.max_retries);
        let cert = loop {
            let failure = match self.fetch_tenant_certificate().await {
                Ok(cert) => break cert,
                Err(e @ Auth0Error::Unavailable { .. }) => e,
                Err(e) => return Err(e),
            };
            let Some(delay) = backoff.next() else {
                return Err(failure);
            };
            self.retry_after(with_symmetric_jitter(delay, BACKOFF_JITTER, rand::random()))
                .await;
        };
        *cached = Some((Instant::now(), cert.clone()));
        Ok(cert)
    }

    /// One `GET /pem?cert=connection`: the body (at most [`MAX_PEM_BYTES`]) must be one PEM
    /// certificate.
    async fn fetch_tenant_certificate(&self) -> Result<Certificate, Auth0Error> {
        let url = self.inner.tenant_certificate_url.clone();
        let text = self
            .public_text(OP_TENANT_CERTIFICATE, url, MAX_PEM_BYTES)
            .await?;
        Certificate::from_pem(text.trim()).map_err(|e| Auth0Error::Protocol {
            operation: OP_TENANT_CERTIFICATE,
            message: format!("the body is not one PEM certificate: {e}"),
        })
    }

    /// A public document of the tenant (no token, not counted against the Management API's
    /// budget): its text, at most `max_bytes`.
    pub(super) async fn public_text(
        &self,
        operation: &'static str,
        url: Url,
        max_bytes: usize,
    ) -> Result<String, Auth0Error> {
        let unavailable = |status: Option<u16>, message: String| Auth0Error::Unavailable {
            operation,
            status,
            message,
        };
        let protocol = |message: String| Auth0Error::Protocol { operation, message };
        let request = self
            .inner
            .http
            .get(url)
            .timeout(self.inner.config.request_timeout);
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.record(
                    operation,
                    if e.is_timeout() { "timeout" } else { "error" }.into(),
                );
                return Err(unavailable(None, describe_transport_error(&e)));
            }
        };
        let status = response.status();
        self.record(operation, status.as_str().to_string());
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(unavailable(Some(status.as_u16()), reason_phrase(status)));
        }
        if !status.is_success() {
            return Err(Auth0Error::Rejected {
                operation,
                status: status.as_u16(),
                error_code: None,
                message: reason_phrase(status),
            });
        }
        let too_large = || protocol(format!("the body is larger than {max_bytes} bytes"));
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > max_bytes {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(unavailable(None, describe_transport_error(&e))),
            }
        }
        // Only what went wrong is reported, never the text.
        String::from_utf8(body).map_err(|_| protocol("the body is not UTF-8 text".into()))
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> ClientStats {
        self.inner
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn api_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = extend_path(&self.inner.api_base, segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// One Management API call with the bearer token; on a 401 the token is dropped and the
    /// call repeated once with a fresh one (a 401 means nothing was applied). A 403 for a
    /// missing scope drops the token too, but is returned: the grant is baked into the token,
    /// so a scope granted in the Dashboard since takes effect with the next call's new token.
    pub(super) async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        retry: Retry,
    ) -> Result<Reply, Auth0Error> {
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            let http = &self.inner.http;
            let reply = self
                .execute(operation, retry, || {
                    let request = http
                        .request(method.clone(), url.clone())
                        .bearer_auth(token.token.expose());
                    match &body {
                        Some(bytes) => request
                            .header(CONTENT_TYPE, "application/json")
                            .body(bytes.clone()),
                        None => request,
                    }
                })
                .await?;
            if reply.status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.drop_token(token.generation).await;
                continue;
            }
            if reply.status == StatusCode::FORBIDDEN
                && rejected(operation, &reply).is_insufficient_scope()
            {
                self.drop_token(token.generation).await;
            }
            return Ok(reply);
        }
    }

    /// The cached token, fetched first when missing or due for refresh.
    async fn token(&self) -> Result<CachedToken, Auth0Error> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = cached.as_ref()
            && !token.needs_refresh(Instant::now())
        {
            return Ok(token.clone());
        }
        let fresh = self.fetch_token().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the token of `generation`, unless another caller already replaced it.
    async fn drop_token(&self, generation: u64) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.generation == generation) {
            *cached = None;
        }
    }

    /// Forgets the cached token when it was not granted `scope`: Auth0 answered without what
    /// that scope shows, and a grant added in the Dashboard since reaches only a new token.
    async fn drop_token_lacking(&self, scope: &str) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| !t.has_scope(scope)) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, Auth0Error> {
        let config = &self.inner.config;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.expose()),
            ("audience", config.audience.as_str()),
        ];
        let issued_at = Instant::now();
        let reply = self
            .execute(OP_TOKEN, Retry::InClient, || {
                self.inner
                    .http
                    .post(self.inner.token_url.clone())
                    .form(&form)
            })
            .await?;
        self.with_stats(|s| s.token_fetches += 1);
        if !reply.status.is_success() {
            let body: TokenErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
            let message = [body.error_description, body.error]
                .into_iter()
                .find(|m| !m.is_empty())
                .unwrap_or_else(|| reason_phrase(reply.status));
            return Err(Auth0Error::Token {
                status: reply.status.as_u16(),
                message,
            });
        }
        // Never echo the body: it holds the token.
        let response = parse_token_response(&reply.body)?;
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(CachedToken::new(response, issued_at, generation))
    }

    /// Sends a request built by `build`, waiting on the shared budget before every attempt and,
    /// with [`Retry::InClient`], retrying 5xx/transport failures (exponential backoff) and 429s
    /// (server-given wait). Any other response is returned to the caller. A 429 pauses every
    /// caller either way.
    async fn execute(
        &self,
        operation: &'static str,
        retry: Retry,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Reply, Auth0Error> {
        let config = &self.inner.config;
        let max_retries = match retry {
            Retry::InClient => config.max_retries,
            Retry::ByCaller => 0,
        };
        let mut backoff = backoff_schedule(&config.timing, max_retries);
        let mut rate_limited_retries = 0;
        loop {
            if let Err(retry_after) = self.inner.budget.acquire().await {
                return Err(Auth0Error::Deferred {
                    operation,
                    retry_after,
                });
            }
            let started = Instant::now();
            let span = tracing::debug_span!("auth0_request", operation);
            let outcome = async {
                let response = build().timeout(config.request_timeout).send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body.to_vec()))
            }
            .instrument(span.clone())
            .await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let _entered = span.enter();
            match outcome {
                Err(error) => {
                    let label = if error.is_timeout() {
                        "timeout"
                    } else {
                        "error"
                    };
                    self.record(operation, label.to_string());
                    tracing::debug!(
                        status = label,
                        duration_ms = elapsed_ms,
                        "auth0 request failed"
                    );
                    let message = describe_transport_error(&error);
                    let Some(delay) = backoff.next() else {
                        return Err(Auth0Error::Unavailable {
                            operation,
                            status: None,
                            message,
                        });
                    };
                    self.retry_after(with_symmetric_jitter(delay, BACKOFF_JITTER, rand::random()))
                        .await;
                }
                Ok((status, headers, body)) => {
                    self.record(operation, status.as_str().to_string());
                    tracing::debug!(
                        status = status.as_u16(),
                        duration_ms = elapsed_ms,
                        "auth0 request"
                    );
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = rate_limit_wait(
                            header(&headers, RETRY_AFTER.as_str()),
                            header(&headers, "x-ratelimit-reset"),
                            epoch_secs_now(),
                            rand::random(),
                            &config.timing,
                        );
                        // Every caller pauses, not only this one: the bucket is the tenant's.
                        self.inner.budget.pause_until(Instant::now() + wait);
                        self.with_stats(|s| s.rate_limited += 1);
                        if rate_limited_retries >= max_retries {
                            return Err(Auth0Error::RateLimited {
                                operation,
                                retry_after: wait,
                            });
                        }
                        rate_limited_retries += 1;
                        // `acquire` at the top of the loop waits out the pause.
                        self.with_stats(|s| s.retries += 1);
                        continue;
                    }
                    let reply = Reply { status, body };
                    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                        let Some(delay) = backoff.next() else {
                            return Err(Auth0Error::Unavailable {
                                operation,
                                status: Some(status.as_u16()),
                                message: error_message(&reply),
                            });
                        };
                        self.retry_after(with_symmetric_jitter(
                            delay,
                            BACKOFF_JITTER,
                            rand::random(),
                        ))
                        .await;
                        continue;
                    }
                    return Ok(reply);
                }
            }
        }
    }

    async fn retry_after(&self, delay: Duration) {
        self.with_stats(|s| s.retries += 1);
        tokio::time::sleep(delay).await;
    }

    fn record(&self, operation: &'static str, status: String) {
        self.with_stats(|s| *s.requests.entry((operation, status)).or_default() += 1);
    }

    fn with_stats(&self, update: impl FnOnce(&mut ClientStats)) {
        update(&mut self.inner.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

fn extend_path(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn epoch_secs_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(super) fn to_json<T: serde::Serialize + ?Sized>(
    operation: &'static str,
    body: &T,
) -> Result<Vec<u8>, Auth0Error> {
    serde_json::to_vec(body).map_err(|e| Auth0Error::Protocol {
        operation,
        message: format!("cannot encode the request body: {e}"),
    })
}

pub(super) fn parse<T: DeserializeOwned>(
    operation: &'static str,
    body: &[u8],
) -> Result<T, Auth0Error> {
    // The position only: connection bodies hold private keys and must not reach messages.
    serde_json::from_slice(body).map_err(|e| Auth0Error::Protocol {
        operation,
        message: format!(
            "response is not the documented JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// The Auth0 error for a 4xx reply, from its `{statusCode, error, message, errorCode}` body.
pub(super) fn rejected(operation: &'static str, reply: &Reply) -> Auth0Error {
    let body: ApiErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    let error_code = body.error_code.filter(|c| !c.is_empty());
    if reply.status == StatusCode::CONFLICT
        && error_code.is_none()
        && body.message.starts_with(BEING_DELETED_MESSAGE)
    {
        return Auth0Error::NameBeingDeleted {
            operation,
            message: body.message,
        };
    }
    Auth0Error::Rejected {
        operation,
        status: reply.status.as_u16(),
        error_code,
        message: if body.message.is_empty() {
            reason_phrase(reply.status)
        } else {
            body.message
        },
    }
}

fn error_message(reply: &Reply) -> String {
    serde_json::from_slice::<ApiErrorBody>(&reply.body)
        .ok()
        .map(|b| b.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| reason_phrase(reply.status))
}

fn reason_phrase(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()))
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "request timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("valid status"),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_conflict_body_maps_to_a_name_conflict() {
        let err = rejected(
            OP_CREATE,
            &reply(
                409,
                r#"{"statusCode":409,"error":"Conflict","message":"A connection with the same name already exists","errorCode":"connection_conflict"}"#,
            ),
        );
        assert!(err.is_name_conflict());
        assert_eq!(err.reason(), crate::status::Reason::Auth0Rejected);
        assert!(!err.is_transient());
        assert!(
            err.to_string()
                .contains("A connection with the same name already exists")
        );
    }

    #[test]
    fn a_name_still_being_deleted_is_transient_unlike_a_name_conflict() {
        let err = rejected(
            OP_CREATE,
            &reply(
                409,
                r#"{"statusCode":409,"error":"Conflict","message":"A connection with the same name is being deleted, try again later"}"#,
            ),
        );
        assert!(
            matches!(err, Auth0Error::NameBeingDeleted { .. }),
            "{err:?}"
        );
        assert!(err.is_transient());
        assert!(!err.is_name_conflict());
        assert_eq!(err.reason(), crate::status::Reason::Auth0Unavailable);
        assert!(err.to_string().contains("try again later"), "{err}");
        // Other 409s without a code stay rejections.
        let realm = rejected(
            OP_CREATE,
            &reply(
                409,
                r#"{"statusCode":409,"error":"Conflict","message":"There is already another connection with some realms from \"realms\" parameter"}"#,
            ),
        );
        assert_eq!(realm.reason(), crate::status::Reason::Auth0Rejected);
        assert!(!realm.is_transient());
    }

    #[test]
    fn an_options_scope_403_maps_to_insufficient_scope() {
        let err = rejected(
            OP_UPDATE,
            &reply(
                403,
                r#"{"statusCode":403,"error":"Forbidden","message":"Updating the \"options\" property requires the \"update:connections_options\" scope."}"#,
            ),
        );
        assert!(err.is_insufficient_scope());
        assert_eq!(err.reason(), crate::status::Reason::InsufficientScope);
    }

    #[test]
    fn a_validation_body_keeps_auth0s_message_and_code() {
        let err = rejected(
            OP_UPDATE,
            &reply(
                400,
                r#"{"statusCode":400,"error":"Bad Request","message":"Payload validation error: 'Additional properties not allowed: name'.","errorCode":"invalid_body"}"#,
            ),
        );
        assert_eq!(
            err,
            Auth0Error::Rejected {
                operation: OP_UPDATE,
                status: 400,
                error_code: Some("invalid_body".into()),
                message: "Payload validation error: 'Additional properties not allowed: name'."
                    .into(),
            }
        );
    }

    #[test]
    fn a_401_body_without_error_code_still_carries_the_message() {
        let err = rejected(
            OP_GET,
            &reply(
                401,
                r#"{"statusCode":401,"error":"Unauthorized","message":"Invalid token","attributes":{"error":"Invalid token"}}"#,
            ),
        );
        assert!(
            matches!(&err, Auth0Error::Rejected { status: 401, error_code: None, message, .. } if message == "Invalid token")
        );
        assert_eq!(err.reason(), crate::status::Reason::InsufficientScope);
    }

    #[test]
    fn a_non_json_error_body_falls_back_to_the_reason_phrase() {
        let err = rejected(OP_GET, &reply(404, "<html>gone</html>"));
        assert!(err.is_not_found());
        assert!(err.to_string().contains("Not Found"));
        assert!(!err.to_string().contains("html"));
    }

    #[test]
    fn a_5xx_message_comes_from_the_body_when_there_is_one() {
        let r = reply(
            500,
            r#"{"statusCode":500,"error":"Internal Server Error","message":"An internal server error occurred"}"#,
        );
        assert_eq!(error_message(&r), "An internal server error occurred");
        assert_eq!(error_message(&reply(503, "")), "Service Unavailable");
    }

    #[test]
    fn parse_errors_never_quote_the_body() {
        let err = parse::<Connection>(
            OP_GET,
            br#"{"id": 5, "options": {"signing_key": {"key": "PRIVATE"}}}"#,
        )
        .expect_err("id is not a string");
        assert!(!err.to_string().contains("PRIVATE"), "{err}");
    }

    #[test]
    fn urls_keep_ids_in_one_path_segment() {
        let base = Url::parse("http://127.0.0.1:8787").expect("url");
        let url = extend_path(
            &extend_path(&base, &["api", "v2"]),
            &["connections", "a/b?c"],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8787/api/v2/connections/a%2Fb%3Fc"
        );
    }

    #[test]
    fn audience_has_one_trailing_slash() {
        let url = Url::parse("http://127.0.0.1:8787/").expect("url");
        assert_eq!(audience_for(&url), "http://127.0.0.1:8787/api/v2/");
    }

    fn args() -> Auth0Args {
        Auth0Args {
            auth0_rate_limit: 2.0,
            auth0_rate_burst: 2,
            auth0_timeout_seconds: 15,
            ..Auth0Args::default()
        }
    }

    #[test]
    fn no_credentials_means_no_config() {
        assert!(Auth0Config::from_args(&args()).expect("valid").is_none());
    }

    #[test]
    fn a_domain_gives_the_management_api_audience() {
        let config = Auth0Config::from_args(&Auth0Args {
            auth0_domain: Some("acme.us.auth0.com".into()),
            auth0_client_id: Some("cid".into()),
            auth0_client_secret: Some("s3cret".into()),
            ..args()
        })
        .expect("valid")
        .expect("configured");
        assert_eq!(config.base_url.as_str(), "https://acme.us.auth0.com/");
        assert_eq!(config.audience, "https://acme.us.auth0.com/api/v2/");
        assert_eq!(config.domain, "acme.us.auth0.com");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn an_explicit_url_sets_base_and_audience() {
        let config = Auth0Config::from_args(&Auth0Args {
            auth0_url: Some("http://127.0.0.1:8787".into()),
            auth0_client_id: Some("cid".into()),
            auth0_client_secret: Some("s3cret".into()),
            ..args()
        })
        .expect("valid")
        .expect("configured");
        assert_eq!(config.audience, "http://127.0.0.1:8787/api/v2/");
        assert_eq!(config.domain, "127.0.0.1");
    }

    #[test]
    fn the_secret_file_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").expect("write");
        let config = Auth0Config::from_args(&Auth0Args {
            auth0_domain: Some("acme.us.auth0.com".into()),
            auth0_client_id: Some("cid".into()),
            auth0_client_secret: Some("from-flag".into()),
            auth0_client_secret_file: Some(path),
            ..args()
        })
        .expect("valid")
        .expect("configured");
        assert_eq!(config.client_secret.expose(), "from-file");
    }

    #[test]
    fn a_partial_configuration_names_the_missing_flag() {
        let err = Auth0Config::from_args(&Auth0Args {
            auth0_domain: Some("acme.us.auth0.com".into()),
            auth0_client_id: Some("cid".into()),
            ..args()
        })
        .expect_err("secret missing");
        assert!(
            err.to_string().contains("--auth0-client-secret-file"),
            "{err}"
        );
        let err = Auth0Config::from_args(&Auth0Args {
            auth0_client_id: Some("cid".into()),
            auth0_client_secret: Some("s".into()),
            ..args()
        })
        .expect_err("domain missing");
        assert!(err.to_string().contains("--auth0-domain"), "{err}");
    }

    #[test]
    fn empty_settings_are_refused_by_name_instead_of_meaning_unset() {
        let err = Auth0Config::from_args(&Auth0Args {
            auth0_domain: Some(String::new()),
            auth0_client_id: Some(" ".into()),
            auth0_client_secret: Some(String::new()),
            ..args()
        })
        .expect_err("empty values");
        assert!(
            matches!(&err, ConfigError::Empty(names) if names.len() == 3),
            "{err}"
        );
        let message = err.to_string();
        for name in ["AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"] {
            assert!(message.contains(name), "{message}");
        }
        let err = Auth0Config::from_args(&Auth0Args {
            auth0_domain: Some("acme.us.auth0.com".into()),
            auth0_client_id: Some("cid".into()),
            auth0_client_secret: Some("s".into()),
            auth0_url: Some(String::new()),
            ..args()
        })
        .expect_err("empty URL");
        assert!(err.to_string().contains("AUTH0_URL (--auth0-url)"), "{err}");
        assert!(!err.to_string().contains("AUTH0_DOMAIN"), "{err}");
    }

    #[test]
    fn a_zero_rate_is_refused() {
        let err = Auth0Config::from_args(&Auth0Args {
            auth0_domain: Some("acme.us.auth0.com".into()),
            auth0_client_id: Some("cid".into()),
            auth0_client_secret: Some("s".into()),
            auth0_rate_limit: 0.0,
            ..args()
        })
        .expect_err("zero rate");
        assert!(err.to_string().contains("--auth0-rate-limit"), "{err}");
    }
}
