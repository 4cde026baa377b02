//! X.509 certificates: parsing, fingerprints, validity and the Auth0 `signingCert` encoding
//! (pure).

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509CertificateParser;
use x509_parser::der_parser::oid::Oid;
use x509_parser::nom::Parser;
use x509_parser::oid_registry::{
    OID_DOMAIN_COMPONENT, OID_PKCS9_EMAIL_ADDRESS, OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME,
    OID_X509_GIVEN_NAME, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATION_NAME,
    OID_X509_ORGANIZATIONAL_UNIT, OID_X509_POSTAL_CODE, OID_X509_SERIALNUMBER,
    OID_X509_STATE_OR_PROVINCE_NAME, OID_X509_STREET_ADDRESS, OID_X509_SURNAME, OID_X509_TITLE,
};
use x509_parser::prelude::{FromDer, X509Name};

use crate::crd::CertificateInfo;

/// Why bytes are not a usable certificate.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CertError {
    /// The text is not base64 (or not PEM).
    #[error("certificate is not valid base64: {0}")]
    NotBase64(String),
    /// The bytes do not decode to an X.509 certificate.
    #[error("bytes are not an X.509 certificate: {0}")]
    NotX509(String),
}

/// Where a certificate stands in its validity window at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// notBefore ≤ now ≤ notAfter.
    Valid,
    /// now > notAfter.
    Expired,
    /// now < notBefore.
    NotYetValid,
}

impl Validity {
    /// `valid`, `expired` or `not_yet_valid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Expired => "expired",
            Validity::NotYetValid => "not_yet_valid",
        }
    }
}

/// A parsed X.509 certificate with the public details the operator reports.
///
/// Parsing checks the whole certificate and reads its validity window. The subject and the
/// fingerprints are worked out on first use: a metadata document often carries several
/// certificates, and only the selected one is ever reported.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// The DER of the subject `Name`, so that reporting it parses just that.
    subject_der: Vec<u8>,
    not_before: Timestamp,
    not_after: Timestamp,
    details: OnceLock<Details>,
}

/// What is derived from the DER on first use.
#[derive(Clone)]
struct Details {
    subject: String,
    subject_attributes: Vec<(String, String)>,
    sha1: [u8; 20],
    sha256: [u8; 32],
}

/// Everything else is derived from the DER, so the DER decides equality.
impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .field("sha1", &self.sha1_hex())
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl Certificate {
    /// Parses DER bytes.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertError> {
        // Extensions are checked as DER but their contents are not interpreted: nothing the
        // operator reports comes from them.
        let (rest, cert) = X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(&der)
            .map_err(|e| CertError::NotX509(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertError::NotX509(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        let validity = cert.validity();
        let not_before = to_timestamp(validity.not_before.timestamp())?;
        let not_after = to_timestamp(validity.not_after.timestamp())?;
        let subject_der = cert.subject().as_raw().to_vec();
        drop(cert);
        Ok(Certificate {
            der,
            subject_der,
            not_before,
            not_after,
            details: OnceLock::new(),
        })
    }

    fn details(&self) -> &Details {
        self.details.get_or_init(|| {
            // `from_der` accepted these bytes, so they parse again; were that ever not so, the
            // subject would read as empty rather than fail a report.
            let (subject, subject_attributes) = match X509Name::from_der(&self.subject_der) {
                Ok((_, name)) => (
                    name.to_string(),
                    name.iter_attributes()
                        .filter_map(|attr| {
                            let name = long_name(attr.attr_type())?;
                            let value = attr.as_str().ok()?.to_string();
                            Some((name.to_string(), value))
                        })
                        .collect(),
                ),
                Err(_) => (String::new(), Vec::new()),
            };
            Details {
                subject,
                subject_attributes,
                sha1: Sha1::digest(&self.der).into(),
                sha256: Sha256::digest(&self.der).into(),
            }
        })
    }

    /// Parses base64 DER, ignoring whitespace anywhere and tolerating PEM armour lines.
    pub fn from_base64_text(text: &str) -> Result<Self, CertError> {
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----BEGIN") && !l.starts_with("-----END"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        if body.is_empty() {
            return Err(CertError::NotBase64("empty certificate text".into()));
        }
        let der = B64
            .decode(body.as_bytes())
            .map_err(|e| CertError::NotBase64(e.to_string()))?;
        Self::from_der(der)
    }

    /// Parses PEM text (`-----BEGIN CERTIFICATE-----` …).
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        if !pem.trim_start().starts_with("-----BEGIN") {
            return Err(CertError::NotBase64("not PEM text".into()));
        }
        Self::from_base64_text(pem)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM text with 64-character lines, `\n` line ends and a trailing `\n`, as Auth0 derives
    /// `options.cert`.
    pub fn to_pem(&self) -> String {
        let b64 = B64.encode(&self.der);
        let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 60);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// The canonical Auth0 `signingCert` value: base64 of the whole PEM text, no line breaks.
    pub fn signing_cert_value(&self) -> String {
        B64.encode(self.to_pem())
    }

    /// Subject distinguished name, RFC 4514 style.
    pub fn subject(&self) -> &str {
        &self.details().subject
    }

    /// The subject's common name, if any.
    pub fn subject_cn(&self) -> Option<&str> {
        self.details()
            .subject_attributes
            .iter()
            .find(|(k, _)| k == "commonName")
            .map(|(_, v)| v.as_str())
    }

    /// Subject attributes keyed by OpenSSL long names, as Auth0 derives `options.subject`.
    pub fn subject_long_names(&self) -> serde_json::Map<String, serde_json::Value> {
        self.details()
            .subject_attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    }

    /// Start of validity.
    pub fn not_before(&self) -> Timestamp {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> Timestamp {
        self.not_after
    }

    /// Lowercase hex SHA-1 of the DER: Auth0's thumbprint.
    pub fn sha1_hex(&self) -> String {
        hex::encode(self.details().sha1)
    }

    /// Lowercase hex SHA-256 of the DER.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.details().sha256)
    }

    /// Where the certificate stands at `now`.
    pub fn validity_at(&self, now: Timestamp) -> Validity {
        if now < self.not_before {
            Validity::NotYetValid
        } else if now > self.not_after {
            Validity::Expired
        } else {
            Validity::Valid
        }
    }

    /// The public details reported in status.
    pub fn info(&self) -> CertificateInfo {
        CertificateInfo {
            subject: self.subject().to_string(),
            not_before: rfc3339(self.not_before),
            not_after: rfc3339(self.not_after),
            sha1_thumbprint: self.sha1_hex(),
            sha256_fingerprint: self.sha256_hex(),
            days_remaining: None,
            noticed_threshold_days: None,
            not_selected_because: None,
        }
    }

    /// [`Certificate::info`] with `daysRemaining` as of `now`.
    pub fn info_at(&self, now: Timestamp) -> CertificateInfo {
        CertificateInfo {
            days_remaining: Some(crate::expiry::days_remaining(self.not_after, now)),
            ..self.info()
        }
    }
}

/// RFC 3339 UTC with second precision (`2036-11-19T14:08:12Z`).
pub fn rfc3339(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Auth0's `expires` format: UTC with milliseconds (`2016-12-21T23:43:41.000Z`).
pub fn auth0_expires(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

/// Parses a stored Auth0 `signingCert` value as docs/AUTH0_API.md §5 describes: raw PEM, or base64
/// of PEM, or base64 of DER.
pub fn parse_signing_cert_value(stored: &str) -> Result<Certificate, CertError> {
    let trimmed = stored.trim();
    if trimmed.starts_with("-----BEGIN") {
        return Certificate::from_pem(trimmed);
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = B64
        .decode(compact.as_bytes())
        .map_err(|e| CertError::NotBase64(e.to_string()))?;
    if bytes.starts_with(b"-----BEGIN") {
        let text = String::from_utf8(bytes).map_err(|e| CertError::NotBase64(e.to_string()))?;
        Certificate::from_pem(&text)
    } else {
        Certificate::from_der(bytes)
    }
}

/// Whether a stored `signingCert` is raw PEM text rather than the canonical base64(PEM).
pub fn is_raw_pem(stored: &str) -> bool {
    stored.trim_start().starts_with("-----BEGIN")
}

fn to_timestamp(secs: i64) -> Result<Timestamp, CertError> {
    Timestamp::from_second(secs).map_err(|e| CertError::NotX509(format!("validity date: {e}")))
}

fn long_name(oid: &Oid<'_>) -> Option<&'static str> {
    // OpenSSL's long names, as Auth0 uses them (oid-registry's differ for 2.5.4.11).
    const NAMES: [(Oid<'static>, &str); 14] = [
        (OID_X509_COMMON_NAME, "commonName"),
        (OID_X509_SURNAME, "surname"),
        (OID_X509_SERIALNUMBER, "serialNumber"),
        (OID_X509_COUNTRY_NAME, "countryName"),
        (OID_X509_LOCALITY_NAME, "localityName"),
        (OID_X509_STATE_OR_PROVINCE_NAME, "stateOrProvinceName"),
        (OID_X509_STREET_ADDRESS, "streetAddress"),
        (OID_X509_ORGANIZATION_NAME, "organizationName"),
        (OID_X509_ORGANIZATIONAL_UNIT, "organizationalUnitName"),
        (OID_X509_TITLE, "title"),
        (OID_X509_POSTAL_CODE, "postalCode"),
        (OID_X509_GIVEN_NAME, "givenName"),
        (OID_PKCS9_EMAIL_ADDRESS, "emailAddress"),
        (OID_DOMAIN_COMPONENT, "domainComponent"),
    ];
    NAMES
        .iter()
        .find(|(known, _)| known == oid)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The okta-app.xml fixture's certificate (SHA-1 4b53172957fc1b59fd11530518ef16ad9d7914dc).
    pub(crate) fn okta_cert() -> Certificate {
        let xml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/idp-metadata/okta-app.xml"
        ))
        .unwrap();
        let start = xml.find("X509Certificate>").unwrap() + "X509Certificate>".len();
        let end = start + xml[start..].find('<').unwrap();
        Certificate::from_base64_text(&xml[start..end]).unwrap()
    }

    #[test]
    fn fingerprints_match_the_fixture_expectations() {
        let cert = okta_cert();
        assert_eq!(cert.sha1_hex(), "4b53172957fc1b59fd11530518ef16ad9d7914dc");
        assert_eq!(
            cert.sha256_hex(),
            "9688dcb8e6eb11b98eaa273772635949cec1fc85b0dcef1fd123535216cc6a2e"
        );
        assert_eq!(cert.subject_cn(), Some("fabrikam"));
        assert_eq!(rfc3339(cert.not_after()), "2036-11-21T14:08:14Z");
    }

    #[test]
    fn subject_attributes_get_openssl_long_names() {
        let oid = |arcs: &[u64]| Oid::from(arcs).unwrap();
        assert_eq!(long_name(&oid(&[2, 5, 4, 3])), Some("commonName"));
        assert_eq!(
            long_name(&oid(&[2, 5, 4, 11])),
            Some("organizationalUnitName")
        );
        assert_eq!(
            long_name(&oid(&[0, 9, 2342, 19200300, 100, 1, 25])),
            Some("domainComponent")
        );
        assert_eq!(long_name(&oid(&[2, 5, 4, 99])), None);
        let names = okta_cert().subject_long_names();
        assert_eq!(
            names.get("commonName").and_then(|v| v.as_str()),
            Some("fabrikam")
        );
    }

    #[test]
    fn details_worked_out_on_first_use_match_across_clones() {
        let fresh = okta_cert();
        let copy = fresh.clone();
        // `fresh` has its details now, `copy` does not yet: still equal, same answers.
        assert_eq!(fresh.sha1_hex(), "4b53172957fc1b59fd11530518ef16ad9d7914dc");
        assert_eq!(copy, fresh);
        assert_eq!(copy.subject(), fresh.subject());
        assert_eq!(copy.info(), fresh.info());
        assert!(format!("{copy:?}").contains("4b53172957fc1b59fd11530518ef16ad9d7914dc"));
    }

    #[test]
    fn signing_cert_value_is_base64_of_64_column_pem() {
        let cert = okta_cert();
        let value = cert.signing_cert_value();
        assert!(value.starts_with("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk"));
        let pem = String::from_utf8(B64.decode(&value).unwrap()).unwrap();
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn stored_values_in_every_accepted_encoding_parse_to_the_same_certificate() {
        let cert = okta_cert();
        let encodings = [
            cert.signing_cert_value(),
            cert.to_pem(),
            B64.encode(cert.der()),
            cert.to_pem().replace('\n', "\r\n"),
        ];
        for stored in encodings {
            assert_eq!(
                parse_signing_cert_value(&stored).unwrap().sha1_hex(),
                cert.sha1_hex()
            );
        }
        assert!(is_raw_pem(&cert.to_pem()));
        assert!(!is_raw_pem(&cert.signing_cert_value()));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            parse_signing_cert_value("not a cert!"),
            Err(CertError::NotBase64(_))
        ));
        assert!(matches!(
            parse_signing_cert_value(&B64.encode(b"hello world")),
            Err(CertError::NotX509(_))
        ));
    }

    #[test]
    fn validity_is_reported_relative_to_the_given_time() {
        let cert = okta_cert();
        let inside: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let before: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
        let after: Timestamp = "2040-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(cert.validity_at(inside), Validity::Valid);
        assert_eq!(cert.validity_at(before), Validity::NotYetValid);
        assert_eq!(cert.validity_at(after), Validity::Expired);
    }
}
