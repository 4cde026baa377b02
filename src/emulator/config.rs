//! Emulator knobs: [`EmulatorConfig`], its CLI/env form [`EmulatorArgs`] and the runtime subset
//! that `PUT /__emulator/config` changes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::faults::FaultRule;
use super::tls::TlsSettings;

/// Client id of the default machine-to-machine client.
pub const DEFAULT_CLIENT_ID: &str = "sso-operator-emulator";
/// Secret of the default machine-to-machine client.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";

/// The six scopes the operator needs (docs/AUTH0_API.md §1.5), granted to the default client.
pub const ALL_SCOPES: [&str; 6] = [
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:connections_options",
    "update:connections_options",
];

/// The scopes of the organization endpoints the operator will use (docs/AUTH0_API.md §14).
pub const ORGANIZATION_SCOPES: [&str; 5] = [
    "read:organizations",
    "read:organization_connections",
    "create:organization_connections",
    "update:organization_connections",
    "delete:organization_connections",
];

/// The scopes of a connection's SCIM configuration and tokens (docs/AUTH0_API.md §15).
pub const SCIM_SCOPES: [&str; 7] = [
    "read:scim_config",
    "create:scim_config",
    "update:scim_config",
    "delete:scim_config",
    "read:scim_token",
    "create:scim_token",
    "delete:scim_token",
];

/// The scopes of applications with the SAML2 Web App addon and the tenant's signing keys
/// (docs/AUTH0_API.md §16). `read:client_keys` is deliberately not among them: the default
/// client never sees a client secret.
pub const APPLICATION_SCOPES: [&str; 5] = [
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:signing_keys",
];

/// The scope of `GET /api/v2/connections-directory-provisionings`, which `auth0-deploy-cli`
/// reads on every import and export (docs/AUTH0_API.md §12).
pub const DIRECTORY_PROVISIONING_SCOPE: &str = "read:directory_provisionings";

/// Everything the default client is granted: the operator's scopes, the organization, SCIM
/// and application ones, creating and deleting organizations so that tests can set them
/// up through the Management API, and reading directory provisioning configurations so that
/// `auth0-deploy-cli` can run with it.
pub fn default_client_scopes() -> Vec<String> {
    ALL_SCOPES
        .iter()
        .chain(ORGANIZATION_SCOPES.iter())
        .chain(SCIM_SCOPES.iter())
        .chain(["create:organizations", "delete:organizations"].iter())
        .chain(APPLICATION_SCOPES.iter())
        .chain([DIRECTORY_PROVISIONING_SCOPE].iter())
        .map(|s| s.to_string())
        .collect()
}

/// One machine-to-machine client the token endpoint knows.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSpec {
    /// Client id.
    pub id: String,
    /// Client secret.
    pub secret: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl fmt::Debug for ClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSpec")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl FromStr for ClientSpec {
    type Err = String;

    /// Parses `ID:SECRET:SCOPES` with comma-separated scopes (possibly empty).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        let (Some(id), Some(secret), Some(scopes)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "client {:?} is not ID:SECRET:SCOPES (scopes comma-separated)",
                s.split(':').next().unwrap_or_default()
            ));
        };
        if id.is_empty() || secret.is_empty() {
            return Err("client id and secret must not be empty in ID:SECRET:SCOPES".into());
        }
        Ok(ClientSpec {
            id: id.to_string(),
            secret: secret.to_string(),
            scopes: scopes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// Rate-limit policy of the `/api/v2` endpoints (docs/AUTH0_API.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum RateLimit {
    /// No limit (headers still sent, with a large bucket).
    #[default]
    Off,
    /// One global bucket.
    Bucket {
        /// Bucket size.
        burst: u32,
        /// Refill rate in tokens per second.
        per_second: f64,
    },
    /// Free plan: 2 burst, 2/s.
    Free,
    /// Essentials/Professional: list 5 + 50/min; everything else 10 + 150/min.
    Essentials,
    /// Enterprise production: 50 burst, 16/s.
    Enterprise,
    /// Enterprise non-production: 10 burst, 2/s.
    EnterpriseNonprod,
}

impl RateLimit {
    /// The bucket a call falls into: `(key, burst, per_second)`, or `None` when unlimited.
    pub fn bucket_for(&self, is_list: bool) -> Option<(&'static str, u32, f64)> {
        match *self {
            RateLimit::Off => None,
            RateLimit::Bucket { burst, per_second } => Some(("global", burst, per_second)),
            RateLimit::Free => Some(("global", 2, 2.0)),
            RateLimit::Essentials if is_list => Some(("list", 5, 50.0 / 60.0)),
            RateLimit::Essentials => Some(("other", 10, 150.0 / 60.0)),
            RateLimit::Enterprise => Some(("global", 50, 16.0)),
            RateLimit::EnterpriseNonprod => Some(("global", 10, 2.0)),
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateLimit::Off => f.write_str("off"),
            RateLimit::Bucket { burst, per_second } => write!(f, "{burst}:{per_second}"),
            RateLimit::Free => f.write_str("free"),
            RateLimit::Essentials => f.write_str("essentials"),
            RateLimit::Enterprise => f.write_str("enterprise"),
            RateLimit::EnterpriseNonprod => f.write_str("enterprise-nonprod"),
        }
    }
}

impl FromStr for RateLimit {
    type Err = String;

    /// `off`, `N` (burst N, N/s), `BURST:PER_SECOND`, or a plan profile name.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "rate limit {s:?} is not off, N, BURST:PER_SECOND, free, essentials, enterprise or enterprise-nonprod"
            )
        };
        Ok(match s.trim() {
            "off" | "0" => RateLimit::Off,
            "free" => RateLimit::Free,
            "essentials" => RateLimit::Essentials,
            "enterprise" => RateLimit::Enterprise,
            "enterprise-nonprod" => RateLimit::EnterpriseNonprod,
            other => {
                let (burst, rate) = match other.split_once(':') {
                    Some((b, r)) => (
                        b.parse::<u32>().map_err(|_| bad())?,
                        r.parse::<f64>().map_err(|_| bad())?,
                    ),
                    None => {
                        let n = other.parse::<u32>().map_err(|_| bad())?;
                        (n, f64::from(n))
                    }
                };
                if burst == 0 || !(rate > 0.0 && rate.is_finite()) {
                    return Err(bad());
                }
                RateLimit::Bucket {
                    burst,
                    per_second: rate,
                }
            }
        })
    }
}

impl Serialize for RateLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            Value::Number(n) => n.to_string().parse().map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "rate_limit must be a string or number, not {other}"
            ))),
        }
    }
}

/// Which generation of tenant defaults POST fills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TenantProfile {
    /// No `authentication` and no `assertion_decryption_settings` defaults.
    Y2025,
    /// Current tenants.
    #[default]
    Y2026,
}

impl FromStr for TenantProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "2025" => Ok(TenantProfile::Y2025),
            "2026" => Ok(TenantProfile::Y2026),
            other => Err(format!("tenant profile {other:?} is not 2025 or 2026")),
        }
    }
}

/// Everything the emulator can be configured with.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Bind address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Tenant domain for `iss`, ticket URLs and the second accepted audience.
    pub domain: String,
    /// The default client, granted [`default_client_scopes`].
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Additional clients (e.g. one without the options scopes).
    pub extra_clients: Vec<ClientSpec>,
    /// `expires_in` of issued tokens, in seconds.
    pub token_ttl_secs: u64,
    /// Rate-limit policy.
    pub rate_limit: RateLimit,
    /// Send `Retry-After` on 429.
    pub retry_after: bool,
    /// Enforce the options scopes (`false` mimics the tenant opt-out toggle).
    pub options_scope_gating: bool,
    /// Accept and return `enabled_clients` on the connection body.
    pub legacy_enabled_clients: bool,
    /// Which create defaults to fill.
    pub tenant_profile: TenantProfile,
    /// Client ids `PATCH …/clients` accepts; `None` accepts any.
    pub known_clients: Option<Vec<String>>,
    /// Seed for ids, cursors, ticket codes and fault probabilities.
    pub seed: u64,
    /// Connections loaded at start, inserted verbatim.
    pub state: Vec<Value>,
    /// Fault rules active at start.
    pub faults: Vec<FaultRule>,
    /// Fraction of `/api/v2` calls answered with a random 5xx.
    pub fault_rate: f64,
    /// Delay added to every `/api/v2` call, in milliseconds.
    pub latency_ms: u64,
    /// How long a deleted connection's name stays "being deleted", in milliseconds.
    pub deletion_lag_ms: u64,
    /// Documents served for `options.metadataUrl`, keyed by URL.
    pub metadata_urls: BTreeMap<String, String>,
    /// Serve HTTPS with this certificate and key instead of plain HTTP; the base URL is then
    /// `https://localhost:PORT` for a loopback address.
    pub tls: Option<TlsSettings>,
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state may hold private keys (signing_key, decryptionKey): only its size prints.
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("extra_clients", &self.extra_clients)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("rate_limit", &self.rate_limit)
            .field("retry_after", &self.retry_after)
            .field("options_scope_gating", &self.options_scope_gating)
            .field("legacy_enabled_clients", &self.legacy_enabled_clients)
            .field("tenant_profile", &self.tenant_profile)
            .field("known_clients", &self.known_clients)
            .field("seed", &self.seed)
            .field("state_connections", &self.state.len())
            .field("faults", &self.faults)
            .field("fault_rate", &self.fault_rate)
            .field("latency_ms", &self.latency_ms)
            .field("deletion_lag_ms", &self.deletion_lag_ms)
            .field(
                "metadata_urls",
                &self.metadata_urls.keys().collect::<Vec<_>>(),
            )
            .field("tls", &self.tls)
            .finish()
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            domain: "emulator.local".into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            extra_clients: Vec::new(),
            token_ttl_secs: 86_400,
            rate_limit: RateLimit::Off,
            retry_after: false,
            options_scope_gating: true,
            legacy_enabled_clients: false,
            tenant_profile: TenantProfile::Y2026,
            known_clients: None,
            seed: 0,
            state: Vec::new(),
            faults: Vec::new(),
            fault_rate: 0.0,
            latency_ms: 0,
            deletion_lag_ms: 0,
            metadata_urls: BTreeMap::new(),
            tls: None,
        }
    }
}

impl EmulatorConfig {
    /// Every client the token endpoint accepts, the default one first.
    pub fn clients(&self) -> Vec<ClientSpec> {
        let mut clients = vec![ClientSpec {
            id: self.client_id.clone(),
            secret: self.client_secret.clone(),
            scopes: default_client_scopes(),
        }];
        clients.extend(self.extra_clients.iter().cloned());
        clients
    }

    /// The knobs `GET /__emulator/config` shows and `PUT` changes.
    pub fn runtime(&self) -> RuntimeKnobs {
        RuntimeKnobs {
            rate_limit: self.rate_limit,
            latency_ms: self.latency_ms,
            fault_rate: self.fault_rate,
            options_scope_gating: self.options_scope_gating,
            legacy_enabled_clients: self.legacy_enabled_clients,
            retry_after: self.retry_after,
            token_ttl: self.token_ttl_secs,
            deletion_lag_ms: self.deletion_lag_ms,
        }
    }
}

/// Knobs changeable at runtime through `PUT /__emulator/config`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuntimeKnobs {
    /// Rate-limit policy, in its CLI spelling.
    pub rate_limit: RateLimit,
    /// Delay added to every `/api/v2` call.
    pub latency_ms: u64,
    /// Fraction of `/api/v2` calls answered with a random 5xx.
    pub fault_rate: f64,
    /// Enforce the options scopes.
    pub options_scope_gating: bool,
    /// Legacy `enabled_clients` mode.
    pub legacy_enabled_clients: bool,
    /// Send `Retry-After` on 429.
    pub retry_after: bool,
    /// `expires_in` of new tokens, in seconds.
    pub token_ttl: u64,
    /// For this long after a DELETE, a POST reusing the name gets Auth0's 409 "A connection
    /// with the same name is being deleted, try again later" (docs/AUTH0_API.md §3.5). Auth0 says
    /// this while a large connection is still being removed; how long that lasts is not
    /// confirmed (unconfirmed timing), so it is off by default.
    #[serde(default)]
    pub deletion_lag_ms: u64,
}

/// A partial update of [`RuntimeKnobs`], the body of `PUT /__emulator/config`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeKnobsPatch {
    /// New rate-limit policy.
    pub rate_limit: Option<RateLimit>,
    /// New latency.
    pub latency_ms: Option<u64>,
    /// New fault rate.
    pub fault_rate: Option<f64>,
    /// New gating mode.
    pub options_scope_gating: Option<bool>,
    /// New legacy mode.
    pub legacy_enabled_clients: Option<bool>,
    /// New Retry-After mode.
    pub retry_after: Option<bool>,
    /// New token TTL.
    pub token_ttl: Option<u64>,
    /// New deletion lag.
    pub deletion_lag_ms: Option<u64>,
}

impl RuntimeKnobs {
    /// Applies a partial update, rejecting out-of-range values.
    pub fn apply(&mut self, patch: RuntimeKnobsPatch) -> Result<(), String> {
        if let Some(rate) = patch.fault_rate {
            check_fraction("fault_rate", rate)?;
            self.fault_rate = rate;
        }
        if let Some(v) = patch.rate_limit {
            self.rate_limit = v;
        }
        if let Some(v) = patch.latency_ms {
            self.latency_ms = v;
        }
        if let Some(v) = patch.options_scope_gating {
            self.options_scope_gating = v;
        }
        if let Some(v) = patch.legacy_enabled_clients {
            self.legacy_enabled_clients = v;
        }
        if let Some(v) = patch.retry_after {
            self.retry_after = v;
        }
        if let Some(v) = patch.token_ttl {
            self.token_ttl = v;
        }
        if let Some(v) = patch.deletion_lag_ms {
            self.deletion_lag_ms = v;
        }
        Ok(())
    }
}

pub(crate) fn check_fraction(name: &str, p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("{name} must be between 0 and 1, got {p}"))
    }
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        other => Err(format!("{other:?} is not on or off")),
    }
}

/// Command-line flags (and `AUTH0_EMULATOR_*` variables) of `auth0-emulator`.
#[derive(clap::Args, Debug, Clone)]
pub struct EmulatorArgs {
    /// Bind address; `127.0.0.1:0` picks a free port.
    #[arg(long, env = "AUTH0_EMULATOR_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Tenant domain for `iss`, ticket URLs and the extra accepted audience.
    #[arg(long, env = "AUTH0_EMULATOR_DOMAIN", default_value = "emulator.local")]
    pub domain: String,
    /// Client id of the default client (granted the operator's, organization, SCIM and
    /// application scopes).
    #[arg(long, env = "AUTH0_EMULATOR_CLIENT_ID", default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// Secret of the default client.
    #[arg(
        long,
        env = "AUTH0_EMULATOR_CLIENT_SECRET",
        default_value = DEFAULT_CLIENT_SECRET,
        hide_env_values = true
    )]
    pub client_secret: String,
    /// Additional client `ID:SECRET:SCOPES` (scopes comma-separated); repeatable.
    #[arg(
        long = "client",
        env = "AUTH0_EMULATOR_CLIENTS",
        value_delimiter = ';',
        hide_env_values = true
    )]
    pub clients: Vec<String>,
    /// `expires_in` of issued tokens, in seconds.
    #[arg(long, env = "AUTH0_EMULATOR_TOKEN_TTL", default_value_t = 86_400)]
    pub token_ttl: u64,
    /// `off`, `N`, `BURST:PER_SECOND`, `free`, `essentials`, `enterprise` or `enterprise-nonprod`.
    #[arg(long, env = "AUTH0_EMULATOR_RATE_LIMIT", default_value = "off")]
    pub rate_limit: String,
    /// Also send `Retry-After` on 429.
    #[arg(long, env = "AUTH0_EMULATOR_RETRY_AFTER")]
    pub retry_after: bool,
    /// `on` or `off` (off mimics "Allow Connections Management without Options Scopes").
    #[arg(long, env = "AUTH0_EMULATOR_OPTIONS_SCOPE_GATING", default_value = "on", value_parser = parse_on_off)]
    pub options_scope_gating: bool,
    /// Accept and return `enabled_clients` on the connection body.
    #[arg(long, env = "AUTH0_EMULATOR_LEGACY_ENABLED_CLIENTS")]
    pub legacy_enabled_clients: bool,
    /// `2025` or `2026` create defaults.
    #[arg(long, env = "AUTH0_EMULATOR_TENANT_PROFILE", default_value = "2026")]
    pub tenant_profile: String,
    /// Client ids `PATCH …/clients` accepts (comma-separated); unset accepts any.
    #[arg(long, env = "AUTH0_EMULATOR_KNOWN_CLIENTS", value_delimiter = ',')]
    pub known_clients: Option<Vec<String>>,
    /// `URL=FILE`: the document served for that `metadataUrl`; repeatable.
    #[arg(
        long = "metadata-url",
        env = "AUTH0_EMULATOR_METADATA_URLS",
        value_delimiter = ';'
    )]
    pub metadata_urls: Vec<String>,
    /// Seed for ids, cursors, ticket codes and fault probabilities.
    #[arg(long, env = "AUTH0_EMULATOR_SEED", default_value_t = 0)]
    pub seed: u64,
    /// JSON file with an array of connections loaded at start.
    #[arg(long, env = "AUTH0_EMULATOR_STATE")]
    pub state: Option<PathBuf>,
    /// Fault rule, e.g. `method=PATCH,path=/api/v2/connections/*,kind=503,nth=3`; repeatable.
    #[arg(long = "fault", env = "AUTH0_EMULATOR_FAULTS", value_delimiter = ';')]
    pub faults: Vec<String>,
    /// Fraction of `/api/v2` calls answered with a random 5xx.
    #[arg(long, env = "AUTH0_EMULATOR_FAULT_RATE", default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Delay added to every `/api/v2` call, in milliseconds.
    #[arg(long, env = "AUTH0_EMULATOR_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// For this long after a DELETE, a POST of the same name gets the 409 "is being deleted"
    /// (timing unconfirmed; 0 = off).
    #[arg(long, env = "AUTH0_EMULATOR_DELETION_LAG_MS", default_value_t = 0)]
    pub deletion_lag_ms: u64,
    /// PEM certificate (chain) to serve HTTPS with; needs `--tls-key`. The base URL is then
    /// `https://localhost:PORT` for a loopback address.
    #[arg(long, env = "AUTH0_EMULATOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "AUTH0_EMULATOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl EmulatorArgs {
    /// Validates the flags and reads the state and metadata files.
    pub fn into_config(self) -> Result<EmulatorConfig, String> {
        let extra_clients = self
            .clients
            .iter()
            .map(|c| c.parse::<ClientSpec>())
            .collect::<Result<Vec<_>, _>>()?;
        let faults = self
            .faults
            .iter()
            .map(|f| f.parse::<FaultRule>())
            .collect::<Result<Vec<_>, _>>()?;
        check_fraction("--fault-rate", self.fault_rate)?;
        let mut metadata_urls = BTreeMap::new();
        for entry in &self.metadata_urls {
            let Some((url, file)) = entry.split_once('=') else {
                return Err(format!("--metadata-url {entry:?} is not URL=FILE"));
            };
            let content = std::fs::read_to_string(file)
                .map_err(|e| format!("--metadata-url {url}: cannot read {file}: {e}"))?;
            metadata_urls.insert(url.to_string(), content);
        }
        let state = match &self.state {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--state {}: {e}", path.display()))?;
                serde_json::from_str::<Vec<Value>>(&text).map_err(|e| {
                    format!(
                        "--state {}: not a JSON array of connection objects: {e}",
                        path.display()
                    )
                })?
            }
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSettings::from_files(cert, key)?),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        Ok(EmulatorConfig {
            listen: self.listen,
            domain: self.domain,
            client_id: self.client_id,
            client_secret: self.client_secret,
            extra_clients,
            token_ttl_secs: self.token_ttl,
            rate_limit: self.rate_limit.parse()?,
            retry_after: self.retry_after,
            options_scope_gating: self.options_scope_gating,
            legacy_enabled_clients: self.legacy_enabled_clients,
            tenant_profile: self.tenant_profile.parse()?,
            known_clients: self.known_clients,
            seed: self.seed,
            state,
            faults,
            fault_rate: self.fault_rate,
            latency_ms: self.latency_ms,
            deletion_lag_ms: self.deletion_lag_ms,
            metadata_urls,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_spellings_parse_to_buckets() {
        assert_eq!("off".parse::<RateLimit>(), Ok(RateLimit::Off));
        assert_eq!(
            "5".parse::<RateLimit>(),
            Ok(RateLimit::Bucket {
                burst: 5,
                per_second: 5.0
            })
        );
        assert_eq!(
            "10:2.5".parse::<RateLimit>(),
            Ok(RateLimit::Bucket {
                burst: 10,
                per_second: 2.5
            })
        );
        assert_eq!(
            RateLimit::Essentials.bucket_for(true),
            Some(("list", 5, 50.0 / 60.0))
        );
        assert!("fast".parse::<RateLimit>().is_err());
        assert!("0:1".parse::<RateLimit>().is_err());
    }

    #[test]
    fn the_default_client_gets_the_operator_organization_scim_and_application_scopes() {
        let clients = EmulatorConfig::default().clients();
        let scopes = &clients[0].scopes;
        assert_eq!(scopes.len(), 6 + 5 + 7 + 2 + 5 + 1);
        assert!(!scopes.iter().any(|s| s == "read:client_keys"));
        for scope in ALL_SCOPES
            .iter()
            .chain(ORGANIZATION_SCOPES.iter())
            .chain(SCIM_SCOPES.iter())
            .chain(["create:organizations", "delete:organizations"].iter())
            .chain(APPLICATION_SCOPES.iter())
            .chain([DIRECTORY_PROVISIONING_SCOPE].iter())
        {
            assert!(scopes.iter().any(|s| s == scope), "{scope}");
        }
        assert_eq!(&scopes[..6], ALL_SCOPES.map(String::from).as_slice());
    }

    #[test]
    fn client_specs_need_id_secret_and_scopes() {
        let c: ClientSpec = "narrow:s3cret:read:connections,create:connections"
            .parse()
            .unwrap();
        // The secret must not contain ':' but scopes do, so only the first two colons split.
        assert_eq!(c.id, "narrow");
        assert_eq!(c.secret, "s3cret");
        assert_eq!(c.scopes, vec!["read:connections", "create:connections"]);
        assert!("only-id".parse::<ClientSpec>().is_err());
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
