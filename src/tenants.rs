//! The Auth0 tenants the operator serves side by side: one Management API client (its own
//! token cache and request budget) per tenant resource, plus the tenant of the operator's
//! flags. The tenant controller fills the registry; SsoConnection reconciles resolve from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

use crate::auth0::{Auth0Client, Auth0Config};
use crate::crd::{TenantConnection, TenantKind, TenantPolicy, TenantRef};
use crate::reconcile::Tenant;
use crate::secret::SecretString;
use crate::status::Reason;

/// Which tenant an SsoConnection uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TenantKey {
    /// The tenant configured by the operator's `--auth0-*` flags (no `tenantRef`).
    Flags,
    /// A `ClusterAuth0Tenant`.
    Cluster(String),
    /// An `Auth0Tenant` in a namespace.
    Namespaced {
        /// Its namespace (always the SsoConnection's own).
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl TenantKey {
    /// The tenant an SsoConnection in `namespace` with `tenant_ref` uses. An `Auth0Tenant` is
    /// always looked up in the resource's own namespace.
    pub fn of(tenant_ref: Option<&TenantRef>, namespace: &str) -> TenantKey {
        match tenant_ref {
            None => TenantKey::Flags,
            Some(r) => match r.kind {
                TenantKind::ClusterAuth0Tenant => TenantKey::Cluster(r.name.clone()),
                TenantKind::Auth0Tenant => TenantKey::Namespaced {
                    namespace: namespace.to_string(),
                    name: r.name.clone(),
                },
            },
        }
    }

    /// The tenant `res` uses (its `tenantRef`, in its namespace).
    pub fn of_resource(res: &crate::crd::SsoConnection) -> TenantKey {
        TenantKey::of(
            res.spec.tenant_ref.as_ref(),
            res.metadata.namespace.as_deref().unwrap_or_default(),
        )
    }

    /// `ClusterAuth0Tenant/NAME` or `Auth0Tenant/NAME`, as in `status.tenant`; `None` for the
    /// flags' tenant.
    pub fn status_name(&self) -> Option<String> {
        match self {
            TenantKey::Flags => None,
            TenantKey::Cluster(name) => Some(format!("ClusterAuth0Tenant/{name}")),
            TenantKey::Namespaced { name, .. } => Some(format!("Auth0Tenant/{name}")),
        }
    }

    /// How messages name the tenant.
    pub fn describe(&self) -> String {
        match self {
            TenantKey::Flags => "the tenant of the operator's --auth0-* flags".to_string(),
            TenantKey::Cluster(name) => format!("ClusterAuth0Tenant {name}"),
            TenantKey::Namespaced { namespace, name } => format!("Auth0Tenant {namespace}/{name}"),
        }
    }
}

/// Whether a tenant can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantState {
    /// Configured, not verified yet.
    Pending,
    /// The credentials work and the token carries every required scope.
    Ready,
    /// Verification failed.
    NotReady {
        /// `SecretNotFound`, `InvalidCredentials`, `InsufficientScope` or `Auth0Unavailable`.
        reason: Reason,
        /// What is wrong.
        message: String,
    },
}

/// One tenant: its client, the facts status needs and, for a cluster tenant, its policy.
#[derive(Debug)]
pub struct TenantHandle {
    /// Which tenant.
    pub key: TenantKey,
    /// Its Management API client.
    pub client: Auth0Client,
    /// Tenant name and public domain for SP values.
    pub facts: Tenant,
    /// The `ClusterAuth0Tenant` policy, if any (an `Auth0Tenant` has none: it serves only its
    /// namespace; the flags' tenant has none: it is the single-team setup).
    pub policy: Option<TenantPolicy>,
    /// Whether it can be used.
    pub state: TenantState,
    /// Its latest drift listing (kept with the client).
    pub lister: Arc<crate::drift::Lister>,
    fingerprint: String,
}

/// Why an SsoConnection cannot use its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// `TenantNotFound` or `TenantNotReady`.
    pub reason: Reason,
    /// What is wrong and what to do.
    pub message: String,
}

/// The registry, shared by the tenant and SsoConnection controllers.
#[derive(Debug, Default)]
pub struct Tenants {
    entries: RwLock<HashMap<TenantKey, Arc<TenantHandle>>>,
}

impl Tenants {
    /// A registry holding the flags' tenant, if configured.
    pub fn new(flags: Option<(Auth0Client, Tenant)>) -> Tenants {
        let tenants = Tenants::default();
        if let Some((client, facts)) = flags {
            let handle = TenantHandle {
                key: TenantKey::Flags,
                client,
                facts,
                policy: None,
                state: TenantState::Ready,
                lister: Default::default(),
                fingerprint: String::new(),
            };
            tenants.write().insert(TenantKey::Flags, Arc::new(handle));
        }
        tenants
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TenantKey, Arc<TenantHandle>>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TenantKey, Arc<TenantHandle>>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every tenant's client (for metrics).
    pub fn clients(&self) -> Vec<Auth0Client> {
        self.read().values().map(|h| h.client.clone()).collect()
    }

    /// The tenant, whatever its state.
    pub fn get(&self, key: &TenantKey) -> Option<Arc<TenantHandle>> {
        self.read().get(key).cloned()
    }

    /// Whether the tenant's controller has verified it at least once (Ready or not).
    pub fn verified(&self, key: &TenantKey) -> bool {
        self.get(key)
            .is_some_and(|h| !matches!(h.state, TenantState::Pending))
    }

    /// The tenant, if it is Ready.
    pub fn resolve(&self, key: &TenantKey) -> Result<Arc<TenantHandle>, Unavailable> {
        let Some(handle) = self.get(key) else {
            let message = match key {
                TenantKey::Flags => "spec.tenantRef is not set and the operator runs without a flag-configured tenant (--auth0-domain …); set spec.tenantRef to a ClusterAuth0Tenant or an Auth0Tenant of this namespace; nothing was sent to Auth0".to_string(),
                _ => format!(
                    "{} (spec.tenantRef) does not exist; create it or fix spec.tenantRef; nothing was sent to Auth0",
                    key.describe()
                ),
            };
            return Err(Unavailable {
                reason: Reason::TenantNotFound,
                message,
            });
        };
        match &handle.state {
            TenantState::Ready => Ok(handle),
            TenantState::Pending => Err(Unavailable {
                reason: Reason::TenantNotReady,
                message: format!(
                    "{} is being verified; nothing was sent to Auth0 yet",
                    key.describe()
                ),
            }),
            TenantState::NotReady { reason, message } => Err(Unavailable {
                reason: Reason::TenantNotReady,
                message: format!(
                    "{} is not Ready ({}: {message}); nothing was sent to Auth0",
                    key.describe(),
                    reason.as_str()
                ),
            }),
        }
    }

    /// Installs or updates a tenant. The client (token cache, budget) is kept when the
    /// connection settings and credentials are unchanged; otherwise a new one replaces it and
    /// the tenant must be verified again.
    pub fn configure(
        &self,
        key: TenantKey,
        config: Auth0Config,
        facts: Tenant,
        policy: Option<TenantPolicy>,
    ) -> Result<Arc<TenantHandle>, crate::auth0::Auth0Error> {
        let fingerprint = fingerprint(&config);
        let mut entries = self.write();
        let (client, state, lister) = match entries.get(&key) {
            Some(old) if old.fingerprint == fingerprint => {
                (old.client.clone(), old.state.clone(), old.lister.clone())
            }
            _ => (
                Auth0Client::new(config)?,
                TenantState::Pending,
                Default::default(),
            ),
        };
        let handle = Arc::new(TenantHandle {
            key: key.clone(),
            client,
            facts,
            policy,
            state,
            lister,
            fingerprint,
        });
        entries.insert(key, handle.clone());
        Ok(handle)
    }

    /// Records the outcome of a verification of the tenant's current client.
    pub fn set_state(&self, key: &TenantKey, state: TenantState) {
        let mut entries = self.write();
        if let Some(old) = entries.get(key) {
            let handle = TenantHandle {
                key: old.key.clone(),
                client: old.client.clone(),
                facts: old.facts.clone(),
                policy: old.policy.clone(),
                state,
                lister: old.lister.clone(),
                fingerprint: old.fingerprint.clone(),
            };
            entries.insert(key.clone(), Arc::new(handle));
        }
    }

    /// Marks a tenant unusable without forgetting its client (e.g. its Secret went away).
    pub fn fail(&self, key: &TenantKey, reason: Reason, message: String) {
        if self.get(key).is_some() {
            self.set_state(key, TenantState::NotReady { reason, message });
        }
    }

    /// Forgets a deleted tenant.
    pub fn remove(&self, key: &TenantKey) {
        self.write().remove(key);
    }
}

/// Identifies the settings a client was built from; the secret only as a digest.
fn fingerprint(config: &Auth0Config) -> String {
    let mut h = Sha256::new();
    for part in [
        config.base_url.as_str(),
        &config.domain,
        &config.audience,
        &config.client_id,
        config.client_secret.expose(),
        &config.rate_per_second.to_string(),
        &config.burst.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Defaults a tenant resource inherits from the operator's flags.
#[derive(Debug, Clone)]
pub struct ClientDefaults {
    /// `--auth0-rate-limit`.
    pub rate_per_second: f64,
    /// `--auth0-rate-burst`.
    pub burst: u32,
    /// `--auth0-timeout-seconds`.
    pub request_timeout: Duration,
}

/// Why a tenant resource cannot be turned into a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `SecretNotFound` or `InvalidSpec`.
    pub reason: Reason,
    /// What is wrong.
    pub message: String,
}

/// The client settings and tenant facts of a tenant resource whose credentials Secret
/// (`secret_namespace`/name) holds `secret` (`None`: missing). Pure.
pub fn tenant_config(
    spec: &TenantConnection,
    secret_namespace: &str,
    secret: Option<&BTreeMap<String, Vec<u8>>>,
    defaults: &ClientDefaults,
) -> Result<(Auth0Config, Tenant), ConfigProblem> {
    let r = &spec.credentials_secret_ref;
    let secret_name = format!("{secret_namespace}/{}", r.name);
    let data = secret.ok_or_else(|| ConfigProblem {
        reason: Reason::SecretNotFound,
        message: format!(
            "credentials Secret {secret_name} not found: create it with keys {} and {}",
            r.client_id_key, r.client_secret_key
        ),
    })?;
    let value = |key: &str| -> Result<String, ConfigProblem> {
        let bytes = data.get(key).ok_or_else(|| ConfigProblem {
            reason: Reason::SecretNotFound,
            message: format!(
                "credentials Secret {secret_name} has no key {key} (spec.credentialsSecretRef)"
            ),
        })?;
        let text = String::from_utf8(bytes.clone()).ok();
        text.map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ConfigProblem {
                reason: Reason::SecretNotFound,
                message: format!("credentials Secret {secret_name} key {key} is empty or not text"),
            })
    };
    let client_id = value(&r.client_id_key)?;
    let client_secret = SecretString::new(value(&r.client_secret_key)?);
    let base = spec
        .base_url
        .clone()
        .unwrap_or_else(|| format!("https://{}", spec.domain));
    let base_url = Url::parse(&base)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
        .ok_or_else(|| ConfigProblem {
            reason: Reason::InvalidSpec,
            message: format!("spec.baseUrl {base:?} is not an http(s) URL"),
        })?;
    let mut config = Auth0Config::new(base_url, client_id, client_secret);
    config.domain = spec.domain.clone();
    config.rate_per_second = spec
        .rate_limit
        .as_ref()
        .map_or(defaults.rate_per_second, |r| r.requests_per_second);
    config.burst = spec
        .rate_limit
        .as_ref()
        .map_or(defaults.burst, |r| r.burst)
        .max(1);
    if !config.rate_per_second.is_finite() || config.rate_per_second <= 0.0 {
        return Err(ConfigProblem {
            reason: Reason::InvalidSpec,
            message: "spec.rateLimit.requestsPerSecond must be positive".into(),
        });
    }
    config.request_timeout = defaults.request_timeout;
    let facts = Tenant::new(
        &spec.domain,
        spec.tenant_name.as_deref(),
        spec.public_domain.as_deref(),
    );
    Ok((config, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TenantConnection {
        serde_json::from_value(serde_json::json!({
            "domain": "acme-prod.eu.auth0.com",
            "baseUrl": "http://127.0.0.1:9999",
            "credentialsSecretRef": {"name": "auth0", "clientSecretKey": "secret"},
            "rateLimit": {"requestsPerSecond": 16, "burst": 10}
        }))
        .unwrap()
    }

    fn defaults() -> ClientDefaults {
        ClientDefaults {
            rate_per_second: 2.0,
            burst: 2,
            request_timeout: Duration::from_secs(15),
        }
    }

    fn secret(id: &str, secret: &str) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("client_id".to_string(), id.as_bytes().to_vec()),
            ("secret".to_string(), secret.as_bytes().to_vec()),
        ])
    }

    #[test]
    fn a_tenant_resource_becomes_client_settings() {
        let (config, facts) = tenant_config(
            &spec(),
            "sso-operator",
            Some(&secret("id-1", "s3cret\n")),
            &defaults(),
        )
        .unwrap();
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9999/");
        assert_eq!(config.domain, "acme-prod.eu.auth0.com");
        assert_eq!(config.client_id, "id-1");
        assert_eq!(config.client_secret.expose(), "s3cret");
        assert_eq!((config.rate_per_second, config.burst), (16.0, 10));
        assert_eq!(facts.name, "acme-prod");
        assert_eq!(facts.public_domain, "acme-prod.eu.auth0.com");
    }

    #[test]
    fn missing_or_empty_credentials_name_the_secret_and_key_but_no_value() {
        let err = tenant_config(&spec(), "ops", None, &defaults()).unwrap_err();
        assert_eq!(err.reason, Reason::SecretNotFound);
        assert!(err.message.contains("ops/auth0"), "{}", err.message);
        let err =
            tenant_config(&spec(), "ops", Some(&secret("id-1", "  ")), &defaults()).unwrap_err();
        assert!(
            err.message.contains("key secret is empty"),
            "{}",
            err.message
        );
        let mut only_id = secret("id-1", "x");
        only_id.remove("secret");
        let err = tenant_config(&spec(), "ops", Some(&only_id), &defaults()).unwrap_err();
        assert!(err.message.contains("no key secret"), "{}", err.message);
    }

    #[test]
    fn the_client_survives_reconfiguration_until_its_credentials_change() {
        let tenants = Tenants::new(None);
        let key = TenantKey::Cluster("prod".into());
        let (config, facts) =
            tenant_config(&spec(), "ops", Some(&secret("id-1", "a")), &defaults()).unwrap();
        tenants
            .configure(key.clone(), config.clone(), facts.clone(), None)
            .unwrap();
        assert_eq!(
            tenants.resolve(&key).unwrap_err().reason,
            Reason::TenantNotReady
        );
        tenants.set_state(&key, TenantState::Ready);
        let first = tenants.resolve(&key).unwrap();
        // The same settings again (a resync): same client, still Ready.
        tenants
            .configure(key.clone(), config, facts.clone(), None)
            .unwrap();
        let again = tenants.resolve(&key).unwrap();
        assert!(first.client.is_same_client(&again.client));
        // New credentials: a new client, verified before use.
        let (rotated, _) =
            tenant_config(&spec(), "ops", Some(&secret("id-1", "b")), &defaults()).unwrap();
        tenants
            .configure(key.clone(), rotated, facts, None)
            .unwrap();
        assert_eq!(
            tenants.resolve(&key).unwrap_err().reason,
            Reason::TenantNotReady
        );
        tenants.remove(&key);
        assert_eq!(
            tenants.resolve(&key).unwrap_err().reason,
            Reason::TenantNotFound
        );
    }

    #[test]
    fn a_resource_without_tenant_ref_uses_the_flags_tenant_or_gets_tenant_not_found() {
        assert_eq!(TenantKey::of(None, "ns"), TenantKey::Flags);
        let err = Tenants::new(None).resolve(&TenantKey::Flags).unwrap_err();
        assert_eq!(err.reason, Reason::TenantNotFound);
        assert!(err.message.contains("spec.tenantRef"), "{}", err.message);
        let namespaced = TenantRef {
            kind: TenantKind::Auth0Tenant,
            name: "own".into(),
        };
        assert_eq!(
            TenantKey::of(Some(&namespaced), "tenant-a"),
            TenantKey::Namespaced {
                namespace: "tenant-a".into(),
                name: "own".into()
            }
        );
    }
}
