#![allow(dead_code)] // shared by several test crates, each using a part
//! The in-process `auth0-emulator` for tests of the reconcile cores, with a client sized for
//! tests (fast retries, no rate limit to speak of).

use std::net::SocketAddr;
use std::time::Duration;

use sso_operator::auth0::{Auth0Client, Auth0Config, RetryTiming};
use sso_operator::emulator::admin::AdminClient;
use sso_operator::emulator::{
    self, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, RunningEmulator,
};
use sso_operator::secret::SecretString;
use url::Url;

/// A running emulator and its admin API.
pub struct Emulator {
    /// The emulator.
    pub running: RunningEmulator,
    /// Its `/__emulator/` API.
    pub admin: AdminClient,
}

impl Emulator {
    /// Starts one on a free port.
    pub async fn start() -> Emulator {
        let running = emulator::start(EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        Emulator {
            admin: AdminClient::new(running.base_url()),
            running,
        }
    }

    /// A client with test-sized waits.
    pub fn client(&self) -> Auth0Client {
        let base = Url::parse(&self.running.base_url()).expect("url");
        let mut config = Auth0Config::new(
            base,
            DEFAULT_CLIENT_ID,
            SecretString::new(DEFAULT_CLIENT_SECRET),
        );
        config.rate_per_second = 1000.0;
        config.burst = 100;
        config.timing = RetryTiming {
            backoff_base: Duration::from_millis(10),
            backoff_cap: Duration::from_millis(50),
            min_rate_limit_wait: Duration::from_millis(10),
            max_rate_limit_wait: Duration::from_secs(3),
        };
        Auth0Client::new(config).expect("client")
    }

    /// Management API calls (method and path) after `seq`.
    pub async fn api_calls_since(&self, seq: u64) -> Vec<String> {
        self.admin
            .calls_since(seq)
            .await
            .expect("calls")
            .iter()
            .filter(|c| c.path.starts_with("/api/v2"))
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    /// The latest call's sequence number.
    pub async fn seq(&self) -> u64 {
        self.admin.last_seq().await.expect("seq")
    }
}

/// The Entra ID fixture as a ConfigMap `acme-idp-metadata` (key `federationmetadata.xml`) and
/// an SsoConnection `acme` (connection `connection_name`) reading it, with `extra` merged into
/// its spec; loaded as `plan`/`apply` load files.
pub fn acme_manifests(
    connection_name: &str,
    extra: serde_json::Value,
) -> (
    sso_operator::offline::Manifests,
    sso_operator::crd::SsoConnection,
) {
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/idp-metadata/azure-entra-tenant.xml"
    ))
    .expect("fixture");
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "acme-idp-metadata"},
        "data": {"federationmetadata.xml": xml},
    });
    let mut spec = serde_json::json!({
        "companyDomain": "acme.com", "connectionName": connection_name, "provider": "azureAd",
        "metadata": {"configMapRef": {"name": "acme-idp-metadata", "key": "federationmetadata.xml"}},
    });
    for (k, v) in extra.as_object().expect("object") {
        spec[k] = v.clone();
    }
    let sso = serde_json::json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": "acme", "generation": 1},
        "spec": spec,
    });
    let loaded = load(&[cm, sso]);
    let res = loaded.connections[0].clone();
    (loaded, res)
}

/// `docs` written as one YAML file and loaded as `plan`/`apply` load files (namespace
/// `customers`).
pub fn load(docs: &[serde_json::Value]) -> sso_operator::offline::Manifests {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = docs
        .iter()
        .map(|d| serde_yaml::to_string(d).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n");
    std::fs::write(dir.path().join("manifests.yaml"), text).expect("write");
    sso_operator::offline::load_manifests(&[dir.path().to_path_buf()], "customers")
        .expect("manifests")
}
