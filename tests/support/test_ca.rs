#![allow(dead_code)] // shared by several test crates, each using a part
//! A throwaway certificate authority and a `localhost` server certificate it signed, made at
//! run time with rcgen, for the emulator serving HTTPS (`EmulatorConfig::tls`): clients are
//! given the CA (`NODE_EXTRA_CA_CERTS`, `Auth0Config::extra_root_certificates`, reqwest's
//! `add_root_certificate`) exactly as they would trust a corporate CA.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sso_operator::emulator::TlsSettings;

/// The CA certificate and the server's certificate and key, all PEM.
pub struct TestPki {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// What the emulator serves with: the `localhost` certificate (for DNS `localhost` and
    /// IP 127.0.0.1) and its key.
    pub server: TlsSettings,
}

/// A fresh CA named `common_name` and a `localhost` certificate signed by it.
pub fn localhost_pki(common_name: &str) -> TestPki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    TestPki {
        ca_pem: ca_cert.pem(),
        server: TlsSettings {
            cert_chain_pem: server_cert.pem(),
            key_pem: server_key.serialize_pem(),
        },
    }
}

/// A reqwest client that trusts the CA (and nothing else).
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM"))
        .build()
        .expect("HTTPS client")
}
