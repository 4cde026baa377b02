//! The tenant's application signing keys as `GET /api/v2/keys/signing` answers them
//! (docs/AUTH0_API.md §16): the current key, whose certificate is the one `GET /pem` serves,
//! and the one next in queue. Pure: everything is derived from the certificates' DER.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::certs::Certificate;

/// Length of a `kid` (Auth0's are 21 characters, e.g. `21hi274Rp02112mgkUGma`).
const KID_LEN: usize = 21;

/// Which place a key holds in the rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// Signs everything now.
    Current,
    /// Replaces the current one at the next rotation.
    Next,
}

/// One signing key, as the API renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id.
    pub kid: String,
    /// The certificate, PEM with CRLF line ends and no final line end.
    pub cert: String,
    /// The certificate as a degenerate PKCS#7 `SignedData`, PEM likewise.
    pub pkcs7: String,
    /// SHA-1 of the DER, upper-case hex in pairs joined by `:`.
    pub fingerprint: String,
    /// SHA-1 of the DER, upper-case hex.
    pub thumbprint: String,
    /// Its place in the rotation.
    pub role: KeyRole,
}

impl SigningKey {
    /// The key of certificate `cert`.
    pub fn new(cert: &Certificate, role: KeyRole) -> Self {
        let thumbprint = cert.sha1_hex().to_ascii_uppercase();
        let fingerprint = thumbprint
            .as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(":");
        SigningKey {
            kid: kid_of(cert.der()),
            cert: crlf_pem("CERTIFICATE", cert.der()),
            pkcs7: crlf_pem("PKCS7", &pkcs7_of(cert.der())),
            fingerprint,
            thumbprint,
            role,
        }
    }

    /// The API object, in the recorded key order (`kid`, `cert`, `pkcs7`, `current`, `next`,
    /// `previous`, `fingerprint`, `thumbprint`, `revoked`), with `current_since` on the
    /// current key as documented.
    pub fn render(&self, current_since: &str) -> Value {
        let current = self.role == KeyRole::Current;
        let mut out = Map::new();
        out.insert("kid".into(), json!(self.kid));
        out.insert("cert".into(), json!(self.cert));
        out.insert("pkcs7".into(), json!(self.pkcs7));
        out.insert("current".into(), json!(current));
        out.insert("next".into(), json!(self.role == KeyRole::Next));
        out.insert("previous".into(), json!(false));
        if current {
            out.insert("current_since".into(), json!(current_since));
        }
        out.insert("fingerprint".into(), json!(self.fingerprint));
        out.insert("thumbprint".into(), json!(self.thumbprint));
        out.insert("revoked".into(), json!(false));
        Value::Object(out)
    }

    /// The `{cert, pkcs7, subject}` item of a client's `signing_keys` (`ClientSigningKey`).
    pub fn client_signing_key(&self, domain: &str) -> Value {
        json!({"cert": self.cert, "pkcs7": self.pkcs7, "subject": format!("/CN={domain}")})
    }
}

/// A stable 21-character id: letters and digits of the certificate's SHA-256.
fn kid_of(der: &[u8]) -> String {
    B64URL
        .encode(Sha256::digest(der))
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(KID_LEN)
        .collect()
}

/// PEM text with 64-character lines, CRLF line ends and none after the last line, as the
/// signing-keys API writes it (documented and recorded examples).
pub fn crlf_pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut lines = vec![format!("-----BEGIN {label}-----")];
    lines.extend(
        b64.as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned()),
    );
    lines.push(format!("-----END {label}-----"));
    lines.join("\r\n")
}

/// DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// `1.2.840.113549.1.7.2` (signedData).
const OID_SIGNED_DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// `1.2.840.113549.1.7.1` (data).
const OID_DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

/// A "certs-only" PKCS#7 `ContentInfo` (RFC 2315 `SignedData` with no signers) holding `cert`,
/// the `.p7b` form Auth0 offers beside the PEM.
pub fn pkcs7_of(cert: &[u8]) -> Vec<u8> {
    let signed_data = [
        tlv(0x02, &[1]),                  // version
        tlv(0x31, &[]),                   // digestAlgorithms
        tlv(0x30, &tlv(0x06, &OID_DATA)), // contentInfo
        tlv(0xa0, cert),                  // [0] IMPLICIT certificates
        tlv(0x31, &[]),                   // signerInfos
    ]
    .concat();
    tlv(
        0x30,
        &[
            tlv(0x06, &OID_SIGNED_DATA),
            tlv(0xa0, &tlv(0x30, &signed_data)),
        ]
        .concat(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::pem::TenantCertificates;

    /// Splits one DER element into (tag, content, rest).
    fn read_tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = der[0];
        let (len, start) = if der[1] < 0x80 {
            (der[1] as usize, 2)
        } else {
            let n = (der[1] & 0x7f) as usize;
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, 2 + n)
        };
        (tag, &der[start..start + len], &der[start + len..])
    }

    #[test]
    fn the_pkcs7_is_a_certs_only_signed_data_holding_the_certificate() {
        let certs = TenantCertificates::generate("acme.test").unwrap();
        let cert = Certificate::from_pem(&certs.tenant).unwrap();
        let p7 = pkcs7_of(cert.der());
        let (tag, content_info, rest) = read_tlv(&p7);
        assert_eq!((tag, rest.len()), (0x30, 0));
        let (tag, oid, rest) = read_tlv(content_info);
        assert_eq!((tag, oid), (0x06, &OID_SIGNED_DATA[..]));
        let (tag, explicit, _) = read_tlv(rest);
        assert_eq!(tag, 0xa0);
        let (tag, signed_data, _) = read_tlv(explicit);
        assert_eq!(tag, 0x30);
        let (_, version, rest) = read_tlv(signed_data);
        assert_eq!(version, [1]);
        let (_, digests, rest) = read_tlv(rest);
        assert!(digests.is_empty());
        let (_, _, rest) = read_tlv(rest);
        let (tag, certificates, rest) = read_tlv(rest);
        assert_eq!(tag, 0xa0);
        assert_eq!(certificates, cert.der());
        let (tag, signers, rest) = read_tlv(rest);
        assert_eq!((tag, signers.len(), rest.len()), (0x31, 0, 0));
        // Long-form lengths for content above 127 and 255 bytes.
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn keys_carry_the_certificate_its_thumbprints_and_a_stable_kid() {
        let certs = TenantCertificates::generate("acme.test").unwrap();
        let cert = Certificate::from_pem(&certs.tenant).unwrap();
        let key = SigningKey::new(&cert, KeyRole::Current);
        assert_eq!(key.kid.len(), 21);
        assert!(key.kid.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(key, SigningKey::new(&cert, KeyRole::Current));
        assert_eq!(key.thumbprint, cert.sha1_hex().to_ascii_uppercase());
        assert_eq!(key.fingerprint.len(), 59);
        assert_eq!(key.fingerprint.replace(':', ""), key.thumbprint);
        assert!(key.cert.starts_with("-----BEGIN CERTIFICATE-----\r\n"));
        assert!(key.cert.ends_with("\r\n-----END CERTIFICATE-----"));
        assert!(!key.cert.contains("\n\n") && !key.cert.replace("\r\n", "").contains('\n'));
        assert_eq!(Certificate::from_pem(&key.cert).unwrap(), cert);
        assert!(key.pkcs7.starts_with("-----BEGIN PKCS7-----\r\n"));
        let rendered = key.render("2026-01-02T03:04:05.678Z");
        assert_eq!(
            rendered.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "kid",
                "cert",
                "pkcs7",
                "current",
                "next",
                "previous",
                "current_since",
                "fingerprint",
                "thumbprint",
                "revoked"
            ]
        );
        let next = SigningKey::new(&cert, KeyRole::Next).render("x");
        assert_eq!(next["next"], true);
        assert_eq!(next["current"], false);
        assert!(next.get("current_since").is_none());
        assert_eq!(
            key.client_signing_key("acme.test")["subject"],
            "/CN=acme.test"
        );
    }
}
