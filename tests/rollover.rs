//! Signing-certificate rollover through `reconcile::sync_connection` against the in-process
//! `auth0-emulator`: after each metadata step Auth0 holds the expected certificate
//! (`options.thumbprints[0]`, derived by the emulator from `signingCert`), and a pin the
//! metadata does not list changes nothing.

#[path = "support/metadata_server.rs"]
mod metadata_server;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::json;
use sso_operator::auth0::{Auth0Client, Auth0Config};
use sso_operator::certs::Certificate;
use sso_operator::crd::SsoConnection;
use sso_operator::emulator::admin::AdminClient;
use sso_operator::emulator::{self, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig};
use sso_operator::reconcile::{self, Claimant, Sources, SyncOptions, Tenant};
use sso_operator::secret::SecretString;
use url::Url;

use metadata_server::{idp_certificate, idp_metadata};

const NAME: &str = "acme-rollover";

struct Metadata(String);

impl Sources for Metadata {
    async fn config_map(
        &self,
        _namespace: &str,
        _name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        Ok(Some(BTreeMap::from([(
            "metadata.xml".to_string(),
            self.0.as_bytes().to_vec(),
        )])))
    }

    async fn secret(
        &self,
        _namespace: &str,
        _name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        Ok(None)
    }
}

/// A self-signed certificate valid from now for `days`, as base64 DER text.
fn certificate(dir: &std::path::Path, tag: &str, days: u32) -> (String, Certificate) {
    let (text, pem) = idp_certificate(dir, tag, days).expect("openssl makes a certificate");
    (
        text,
        Certificate::from_pem(&pem).expect("a PEM certificate"),
    )
}

fn metadata(certs: &[&str]) -> Metadata {
    Metadata(idp_metadata("https://idp.rollover.test/", certs))
}

fn resource(pin: Option<&str>) -> SsoConnection {
    resource_for("generic", pin)
}

fn resource_for(provider: &str, pin: Option<&str>) -> SsoConnection {
    let mut spec = json!({
        "companyDomain": "acme.com", "connectionName": NAME, "provider": provider,
        "metadata": {"configMapRef": {"name": "idp", "key": "metadata.xml"}},
    });
    if let Some(pin) = pin {
        spec["signingCertificateThumbprint"] = json!(pin);
    }
    serde_json::from_value(json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": "acme", "namespace": "customers", "uid": "u-1"},
        "spec": spec,
    }))
    .unwrap()
}

async fn held(base: &str) -> String {
    let conn = AdminClient::new(base)
        .connection_named(NAME)
        .await
        .unwrap()
        .unwrap();
    conn["options"]["thumbprints"][0]
        .as_str()
        .unwrap()
        .to_ascii_lowercase()
}

fn client(base: &str) -> Auth0Client {
    let mut config = Auth0Config::new(
        Url::parse(base).unwrap(),
        DEFAULT_CLIENT_ID,
        SecretString::new(DEFAULT_CLIENT_SECRET),
    );
    config.rate_per_second = 1000.0;
    config.burst = 100;
    Auth0Client::new(config).unwrap()
}

/// Entra ID moves the certificate it signs with to the front; AD FS signs with a new one 5
/// days after creating it. Each step syncs at the given offset from now.
#[tokio::test]
async fn entra_id_and_ad_fs_rollovers_switch_when_the_idp_starts_signing_with_the_new_certificate()
{
    let running = emulator::start(EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let base = running.base_url();
    let client = client(&base);
    let tenant = Tenant::new("emulator.local", None, None);
    let dir = tempfile::tempdir().unwrap();
    let (a_text, a) = certificate(dir.path(), "a", 30);
    let (b_text, b) = certificate(dir.path(), "b", 365);
    let step = async |res: &mut SsoConnection, certs: &[&str], days: i64| {
        let now = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days);
        let claimant = Claimant::new(res, "test", sso_operator::ownership::Adoption::Unowned);
        let synced = reconcile::sync_connection(
            &client,
            res,
            &claimant,
            &metadata(certs),
            SyncOptions::default(),
            now,
        )
        .await
        .unwrap();
        res.status = Some(reconcile::synced_status(res, &synced, &tenant, now));
    };

    let mut entra = resource_for("azureAd", None);
    step(&mut entra, &[&a_text], 0).await;
    assert_eq!(held(&base).await, a.sha1_hex(), "Entra: A");
    step(&mut entra, &[&a_text, &b_text], 0).await;
    assert_eq!(
        held(&base).await,
        a.sha1_hex(),
        "Entra: B added inactive, second"
    );
    step(&mut entra, &[&b_text, &a_text], 0).await;
    assert_eq!(held(&base).await, b.sha1_hex(), "Entra: B active, first");

    let mut adfs = resource_for("adfs", None);
    adfs.status = None;
    step(&mut adfs, &[&a_text], 0).await;
    assert_eq!(held(&base).await, a.sha1_hex(), "AD FS: A");
    for order in [
        [a_text.as_str(), b_text.as_str()],
        [b_text.as_str(), a_text.as_str()],
    ] {
        step(&mut adfs, &order, 1).await;
        assert_eq!(
            held(&base).await,
            a.sha1_hex(),
            "AD FS: B listed, not promoted"
        );
    }
    step(&mut adfs, &[&a_text, &b_text], 6).await;
    assert_eq!(held(&base).await, b.sha1_hex(), "AD FS: B promoted");
}

#[tokio::test]
async fn auth0_follows_the_idp_removing_the_old_certificate_not_the_new_one_appearing() {
    let running = emulator::start(EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let base = running.base_url();
    let mut config = Auth0Config::new(
        Url::parse(&base).unwrap(),
        DEFAULT_CLIENT_ID,
        SecretString::new(DEFAULT_CLIENT_SECRET),
    );
    config.rate_per_second = 1000.0;
    config.burst = 100;
    let client = Auth0Client::new(config).unwrap();
    let tenant = Tenant::new("emulator.local", None, None);
    let dir = tempfile::tempdir().unwrap();
    let (a_text, a) = certificate(dir.path(), "a", 30);
    let (b_text, b) = certificate(dir.path(), "b", 365);

    let mut res = resource(None);
    let step = async |res: &mut SsoConnection, certs: &[&str]| {
        let now = jiff::Timestamp::now();
        let claimant = Claimant::new(res, "test", sso_operator::ownership::Adoption::Unowned);
        let sources = metadata(certs);
        let synced = reconcile::sync_connection(
            &client,
            res,
            &claimant,
            &sources,
            SyncOptions::default(),
            now,
        )
        .await?;
        res.status = Some(reconcile::synced_status(res, &synced, &tenant, now));
        Ok::<_, reconcile::SyncError>(())
    };

    step(&mut res, &[&a_text]).await.unwrap();
    assert_eq!(held(&base).await, a.sha1_hex(), "first sync: A");
    // B appears, second and then first: A stays while listed and valid.
    step(&mut res, &[&a_text, &b_text]).await.unwrap();
    assert_eq!(held(&base).await, a.sha1_hex(), "A+B: A");
    step(&mut res, &[&b_text, &a_text]).await.unwrap();
    assert_eq!(held(&base).await, a.sha1_hex(), "B+A: A");
    let status = res.status.clone().unwrap();
    let other = &status.other_signing_certificates[0];
    assert_eq!(other.sha1_thumbprint, b.sha1_hex());
    assert!(
        other
            .not_selected_because
            .as_deref()
            .unwrap()
            .contains("rollover pending"),
        "{other:?}"
    );

    // A pin the metadata does not list: InvalidMetadata, nothing written.
    let mut pinned = resource(Some(&"0".repeat(64)));
    pinned.status = res.status.clone();
    let err = step(&mut pinned, &[&b_text, &a_text]).await.unwrap_err();
    assert_eq!(err.reason().as_str(), "InvalidMetadata");
    assert!(err.to_string().contains(&"0".repeat(64)), "{err}");
    assert!(err.to_string().contains(&b.sha1_hex()), "{err}");
    assert_eq!(held(&base).await, a.sha1_hex(), "unlisted pin: unchanged");

    // The IdP removes A: B.
    step(&mut res, &[&b_text]).await.unwrap();
    assert_eq!(held(&base).await, b.sha1_hex(), "B only: B");

    // A person pins A back (SHA-256, uppercase, with colons) while both are listed.
    let colons = a
        .sha256_hex()
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let mut pinned = resource(Some(&colons));
    pinned.status = res.status.clone();
    step(&mut pinned, &[&b_text, &a_text]).await.unwrap();
    assert_eq!(held(&base).await, a.sha1_hex(), "pinned: A");
    let status = pinned.status.clone().unwrap();
    assert_eq!(
        status.other_signing_certificates[0]
            .not_selected_because
            .as_deref(),
        Some("not pinned (spec.signingCertificateThumbprint)")
    );
}
