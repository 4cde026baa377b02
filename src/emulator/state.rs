//! What every route and layer shares: the fixed tenant settings and the mutable tenant behind
//! one lock.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use rand::SeedableRng;
use rand::rngs::StdRng;

use serde_json::Value;

use super::CallRecord;
use super::apps::{Applications, ClientDefaults};
use super::config::{ClientSpec, EmulatorConfig, RuntimeKnobs, TenantProfile};
use super::faults::ActiveFault;
use super::orgs::Organizations;
use super::pem::TenantCertificates;
use super::ratelimit::Limiter;
use super::scim_store::{ScimStore, tenant_name};
use super::signing_keys::{KeyRole, SigningKey};
use super::store::Store;
use super::token::TokenKeys;

/// Everything the handlers and layers share (the router's state, behind an `Arc`).
pub(crate) struct Shared {
    pub(crate) base_url: String,
    pub(crate) domain: String,
    pub(crate) keys: TokenKeys,
    /// What `GET /pem` serves.
    pub(crate) certificates: TenantCertificates,
    /// The application signing keys, current first (docs/AUTH0_API.md §16).
    pub(crate) signing_keys: Vec<SigningKey>,
    /// `tenant` of every client: the first label of the domain.
    pub(crate) tenant_name: String,
    /// The `signing_keys` item of every client.
    pub(crate) client_signing_key: Value,
    pub(crate) seed: u64,
    pub(crate) tenant_profile: TenantProfile,
    pub(crate) known_clients: Option<Vec<String>>,
    pub(crate) metadata_urls: BTreeMap<String, String>,
    state: Mutex<Tenant>,
}

/// Mutable emulator state, behind one lock that is never held across an await.
pub(crate) struct Tenant {
    pub(crate) knobs: RuntimeKnobs,
    pub(crate) store: Store,
    /// Organizations and their enabled connections (docs/AUTH0_API.md §14).
    pub(crate) orgs: Organizations,
    /// SCIM configurations and tokens of connections (docs/AUTH0_API.md §15).
    pub(crate) scim: ScimStore,
    /// Applications of `/api/v2/clients` (docs/AUTH0_API.md §16).
    pub(crate) apps: Applications,
    /// The machine-to-machine clients; their grants change through the admin API, as in the
    /// Dashboard.
    pub(crate) clients: Vec<ClientSpec>,
    pub(crate) limiter: Limiter,
    pub(crate) faults: Vec<ActiveFault>,
    pub(crate) fault_rng: StdRng,
    pub(crate) calls: Vec<CallRecord>,
    pub(crate) next_call: u64,
    /// Counters keyed `"METHOD route status"`.
    pub(crate) stats: BTreeMap<String, u64>,
    pub(crate) tokens_issued: u64,
    pub(crate) rate_limited: u64,
    pub(crate) faults_fired: u64,
}

/// The random stream of fault draws, restarted by `POST /__emulator/reset`.
pub(crate) fn fault_rng(seed: u64) -> StdRng {
    // Separate stream from the id generator so fault draws do not shift ids.
    StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15)
}

impl Shared {
    /// Builds the shared state; `state` connections are inserted verbatim.
    pub(crate) fn new(
        config: &EmulatorConfig,
        base_url: String,
        keys: TokenKeys,
        certificates: TenantCertificates,
    ) -> Result<Self, String> {
        let mut store = Store::new(config.seed);
        for (i, conn) in config.state.iter().enumerate() {
            store
                .insert_verbatim(conn.clone())
                .map_err(|e| format!("state connection #{i}: {e}"))?;
        }
        let signing_keys = [
            (&certificates.tenant, KeyRole::Current),
            (&certificates.next, KeyRole::Next),
        ]
        .into_iter()
        .map(|(pem, role)| {
            crate::certs::Certificate::from_pem(pem)
                .map(|cert| SigningKey::new(&cert, role))
                .map_err(|e| format!("tenant signing certificate: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
        let client_signing_key = signing_keys[0].client_signing_key(&config.domain);
        let tenant = tenant_name(&config.domain).to_string();
        let clients = config.clients();
        let apps = Applications::initial(
            config.seed,
            &clients,
            &ClientDefaults {
                tenant: &tenant,
                signing_key: &client_signing_key,
            },
        );
        Ok(Shared {
            base_url,
            domain: config.domain.clone(),
            keys,
            certificates,
            signing_keys,
            tenant_name: tenant,
            client_signing_key,
            seed: config.seed,
            tenant_profile: config.tenant_profile,
            known_clients: config.known_clients.clone(),
            metadata_urls: config.metadata_urls.clone(),
            state: Mutex::new(Tenant {
                knobs: config.runtime(),
                store,
                orgs: Organizations::default(),
                scim: ScimStore::default(),
                apps,
                clients,
                limiter: Limiter::default(),
                faults: config
                    .faults
                    .iter()
                    .cloned()
                    .map(ActiveFault::new)
                    .collect(),
                fault_rng: fault_rng(config.seed),
                calls: Vec::new(),
                next_call: 1,
                stats: BTreeMap::new(),
                tokens_issued: 0,
                rate_limited: 0,
                faults_fired: 0,
            }),
        })
    }

    /// The tenant, locked; never hold the guard across an await.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Tenant> {
        // A poisoned lock only means a handler panicked mid-update; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a new client gets from the tenant.
    pub(crate) fn client_defaults(&self) -> ClientDefaults<'_> {
        ClientDefaults {
            tenant: &self.tenant_name,
            signing_key: &self.client_signing_key,
        }
    }

    /// The applications of a fresh tenant with these machine-to-machine clients.
    pub(crate) fn initial_applications(&self, clients: &[ClientSpec]) -> Applications {
        Applications::initial(self.seed, clients, &self.client_defaults())
    }

    /// The audiences a token may be issued for.
    pub(crate) fn audiences(&self) -> Vec<String> {
        vec![
            format!("{}/api/v2/", self.base_url),
            format!("https://{}/api/v2/", self.domain),
        ]
    }
}
