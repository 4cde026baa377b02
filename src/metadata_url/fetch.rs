//! One HTTP fetch of a metadata URL under the address rules: a resolver that refuses internal
//! addresses (checked on every connection, redirects included), no proxy (a proxy would
//! resolve the name out of the rules' sight), the caller's CA bundle or the public web roots,
//! a timeout, the 1 MiB limit, and conditional requests.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

use super::address::{self, AddressRules, Refused};
use crate::metadata::MAX_METADATA_BYTES;

/// The whole fetch (connect, TLS, redirects, body) must finish within this.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REDIRECTS: usize = 5;

/// What to fetch.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// The URL (`spec.metadata.url`).
    pub url: &'a str,
    /// `spec.metadata.caBundle`.
    pub ca_bundle: Option<&'a str>,
    /// The last good document's `ETag`, sent as `If-None-Match`.
    pub etag: Option<&'a str>,
    /// The last good document's `Last-Modified`, sent as `If-Modified-Since`.
    pub last_modified: Option<&'a str>,
    /// `--allow-private-metadata-urls`.
    pub allow_private: bool,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// `200`: the document.
    Document {
        /// The body.
        body: Vec<u8>,
        /// Its `ETag`.
        etag: Option<String>,
        /// Its `Last-Modified`.
        last_modified: Option<String>,
    },
    /// `304`: the last good document is current.
    NotModified,
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL, its address or a redirect is refused by the rules: nothing (further) was
    /// requested. Not retried until the spec or the operator's flags change.
    #[error("{0}")]
    Refused(String),
    /// The server did not answer usably (network, TLS, status, size, timeout).
    #[error("{0}")]
    Unreachable(String),
}

/// Fetches `req.url` once.
pub async fn fetch(req: &Request<'_>) -> Result<Fetched, FetchError> {
    let url = url::Url::parse(req.url)
        .map_err(|e| FetchError::Refused(format!("metadata.url is not a URL: {e}")))?;
    let rules =
        address::check_url(&url, req.allow_private).map_err(|r| FetchError::Refused(r.0))?;
    let client = client(req.ca_bundle, rules)?;
    let mut request = client.get(url.clone());
    if let Some(etag) = req.etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    if let Some(lm) = req.last_modified {
        request = request.header(IF_MODIFIED_SINCE, lm);
    }
    let mut resp = request.send().await.map_err(|e| describe(&e, &url))?;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        return Err(FetchError::Unreachable(format!(
            "the metadata server answered HTTP {status} for {}",
            shown(resp.url())
        )));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
    {
        return Err(too_large(&url));
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header(ETAG);
    let last_modified = header(LAST_MODIFIED);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e, &url))? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(too_large(&url));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Document {
        body,
        etag,
        last_modified,
    })
}

fn too_large(url: &url::Url) -> FetchError {
    FetchError::Unreachable(format!(
        "the document at {} is larger than {} bytes, the limit for federation metadata",
        shown(url),
        MAX_METADATA_BYTES
    ))
}

/// The URL as shown in messages: without its query and fragment, which some IdPs use for
/// opaque tokens.
pub fn shown(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

fn client(ca_bundle: Option<&str>, rules: AddressRules) -> Result<reqwest::Client, FetchError> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .https_only(!rules.plain_http)
        .user_agent(concat!(
            "sso-operator/",
            env!("CARGO_PKG_VERSION"),
            " (metadata refresh)"
        ))
        .dns_resolver(Arc::new(CheckedResolver { rules }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(Refused(format!(
                    "the metadata server redirected more than {MAX_REDIRECTS} times"
                )));
            }
            let from = attempt.previous().last().cloned();
            let checked = match &from {
                Some(from) => address::check_redirect(from, attempt.url(), rules),
                None => Ok(()),
            };
            match checked {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        }));
    if let Some(pem) = ca_bundle {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|_| {
            FetchError::Refused(
                "metadata.caBundle is not a PEM bundle of CA certificates".to_string(),
            )
        })?;
        if certs.is_empty() {
            return Err(FetchError::Refused(
                "metadata.caBundle holds no PEM certificate".to_string(),
            ));
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| {
        FetchError::Refused(format!(
            "the HTTP client for metadata.url cannot be built ({}); check metadata.caBundle",
            e.without_url()
        ))
    })
}

/// Resolves host names and refuses the whole name when any address breaks the rules, so that
/// every connection (the first and each redirect's) goes only where the rules allow.
struct CheckedResolver {
    rules: AddressRules,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.rules;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            address::admit_addresses(&host, &ips, rules)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A reqwest error as a message: refusals by the rules (found in the error's sources) are
/// `Refused`, everything else `Unreachable`. The URL is shown without its query.
fn describe(err: &reqwest::Error, url: &url::Url) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return FetchError::Refused(refused.0.clone());
        }
        source = e.source();
    }
    let what = if err.is_timeout() {
        format!("timed out after {}s", FETCH_TIMEOUT.as_secs())
    } else if err.is_connect() {
        "could not connect".to_string()
    } else if err.is_redirect() {
        "redirect failed".to_string()
    } else {
        "failed".to_string()
    };
    let mut detail = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        detail.push(e.to_string());
        source = e.source();
    }
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(": {}", detail.join(": "))
    };
    FetchError::Unreachable(format!("fetching {} {what}{detail}", shown(url)))
}
