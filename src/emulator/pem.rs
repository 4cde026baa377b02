//! The tenant's public certificates at `GET /pem` (docs/AUTH0_API.md §13): with
//! `?cert=connection` the one of SAML and WS-Fed connections (what a connection's SP metadata
//! carries unless it has its own key pairs), without it the one the tenant signs tokens with
//! as an IdP. Both are self-signed, made at start; only their public halves are kept. A third
//! one is the application signing key "next in queue" that `GET /api/v2/keys/signing` lists
//! beside the current one (docs/AUTH0_API.md §16).

/// The PEM texts `/pem` serves.
pub(crate) struct TenantCertificates {
    /// `/pem?cert=connection`.
    pub(crate) connection: String,
    /// `/pem`: the current application signing key's certificate.
    pub(crate) tenant: String,
    /// The application signing key next in queue (never served at `/pem`).
    pub(crate) next: String,
    /// When they were made: `current_since` of the current signing key.
    pub(crate) created: jiff::Timestamp,
}

impl TenantCertificates {
    /// Three fresh self-signed certificates for `domain` (CN = the domain, as Auth0 names its
    /// tenant certificates).
    pub(crate) fn generate(domain: &str) -> Result<Self, String> {
        Ok(TenantCertificates {
            connection: self_signed(domain)?,
            tenant: self_signed(domain)?,
            next: self_signed(domain)?,
            created: jiff::Timestamp::now(),
        })
    }

    /// The PEM for the query string of a `/pem` request.
    pub(crate) fn for_query(&self, query: &str) -> &str {
        let connection = url::form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k == "cert" && v == "connection");
        if connection {
            &self.connection
        } else {
            &self.tenant
        }
    }
}

fn self_signed(domain: &str) -> Result<String, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("tenant key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| format!("tenant certificate: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, domain);
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2038, 1, 1);
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("tenant certificate: {e}"))?;
    // CRLF, as the PEM of Auth0's signing-keys API; what `/pem` uses is unconfirmed
    // (docs/AUTH0_API.md §13), so clients must take either.
    Ok(cert.pem().replace("\r\n", "\n").replace('\n', "\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::Certificate;

    #[test]
    fn the_connection_certificate_is_served_only_for_cert_connection() {
        let certs = TenantCertificates::generate("acme.test").expect("generated");
        let connection = Certificate::from_pem(certs.for_query("cert=connection")).unwrap();
        let tenant = Certificate::from_pem(certs.for_query("")).unwrap();
        assert_ne!(connection, tenant);
        assert_eq!(connection.subject_cn(), Some("acme.test"));
        assert_eq!(
            Certificate::from_pem(certs.for_query("cert=other")).unwrap(),
            tenant
        );
    }
}
