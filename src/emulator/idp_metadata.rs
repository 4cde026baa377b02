//! The SAML 2.0 IdP metadata document Auth0 publishes for an application with the SAML2 Web
//! App addon, at `https://{domain}/samlp/metadata/{client_id}` (docs/AUTH0_API.md §16). Pure.
//!
//! The shape is copied from real Auth0 documents found in public repositories (an OpenSearch
//! Terraform module and Kubecost's SAML guide): an `EntityDescriptor` with `entityID`
//! `urn:{domain}` in the metadata namespace, one `IDPSSODescriptor` with the signing
//! `KeyDescriptor` (the tenant's application signing certificate as one base64 line),
//! `SingleLogoutService` for HTTP-Redirect and HTTP-POST at
//! `https://{domain}/samlp/{client_id}/logout`, the NameID formats emailAddress, persistent
//! and transient, `SingleSignOnService` for HTTP-Redirect and HTTP-POST at
//! `https://{domain}/samlp/{client_id}`, and five `saml:Attribute` elements, in that order,
//! indented by two spaces, without an XML declaration.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::escape::escape;
use serde_json::{Map, Value};

const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The NameID formats Auth0 lists, in its order.
pub const NAME_ID_FORMATS: [&str; 3] = [
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
];

/// The attributes Auth0 announces: claim URI and friendly name, in its order.
pub const ATTRIBUTES: [(&str, &str); 5] = [
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "E-Mail Address",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "Given Name",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "Name",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "Surname",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
        "Name ID",
    ),
];

/// The IdP entity ID: `addons.samlp.issuer` when the client sets a non-empty one (unconfirmed,
/// §16), otherwise `urn:{domain}` (what every real document shows).
pub fn entity_id(domain: &str, client: &Map<String, Value>) -> String {
    let issuer = client
        .get("addons")
        .and_then(|a| a.get("samlp"))
        .and_then(|s| s.get("issuer"))
        .and_then(Value::as_str);
    match issuer {
        Some(issuer) if !issuer.is_empty() => issuer.to_string(),
        _ => format!("urn:{domain}"),
    }
}

/// The single sign-on URL of `client_id`.
pub fn sso_url(domain: &str, client_id: &str) -> String {
    format!("https://{domain}/samlp/{client_id}")
}

/// The single logout URL of `client_id`.
pub fn slo_url(domain: &str, client_id: &str) -> String {
    format!("https://{domain}/samlp/{client_id}/logout")
}

/// The metadata document of `client_id`, signed with the certificate whose DER is `cert_der`.
pub fn idp_metadata(domain: &str, client_id: &str, entity_id: &str, cert_der: &[u8]) -> String {
    let sso = escape(sso_url(domain, client_id)).into_owned();
    let slo = escape(slo_url(domain, client_id)).into_owned();
    let mut xml = format!(
        "<EntityDescriptor entityID=\"{}\" xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\">\n",
        escape(entity_id)
    );
    xml.push_str(
        "  <IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n",
    );
    xml.push_str("    <KeyDescriptor use=\"signing\">\n");
    xml.push_str("      <KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\">\n");
    xml.push_str("        <X509Data>\n");
    xml.push_str(&format!(
        "          <X509Certificate>{}</X509Certificate>\n",
        B64.encode(cert_der)
    ));
    xml.push_str("        </X509Data>\n");
    xml.push_str("      </KeyInfo>\n");
    xml.push_str("    </KeyDescriptor>\n");
    for binding in [HTTP_REDIRECT, HTTP_POST] {
        xml.push_str(&format!(
            "    <SingleLogoutService Binding=\"{binding}\" Location=\"{slo}\"/>\n"
        ));
    }
    for format in NAME_ID_FORMATS {
        xml.push_str(&format!("    <NameIDFormat>{format}</NameIDFormat>\n"));
    }
    for binding in [HTTP_REDIRECT, HTTP_POST] {
        xml.push_str(&format!(
            "    <SingleSignOnService Binding=\"{binding}\" Location=\"{sso}\"/>\n"
        ));
    }
    for (name, friendly) in ATTRIBUTES {
        xml.push_str(&format!(
            "    <Attribute Name=\"{name}\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\" FriendlyName=\"{friendly}\" xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\"/>\n"
        ));
    }
    xml.push_str("  </IDPSSODescriptor>\n");
    xml.push_str("</EntityDescriptor>");
    xml
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::certs::Certificate;
    use crate::emulator::pem::TenantCertificates;
    use crate::metadata::parse_idp_metadata;

    #[test]
    fn the_document_parses_as_auth0_idp_metadata() {
        let certs = TenantCertificates::generate("acme.test").unwrap();
        let cert = Certificate::from_pem(&certs.tenant).unwrap();
        let xml = idp_metadata("acme.test", "abc123", "urn:acme.test", cert.der());
        let md = parse_idp_metadata(xml.as_bytes(), None, jiff::Timestamp::now()).unwrap();
        assert_eq!(md.entity_id, "urn:acme.test");
        assert_eq!(
            md.sso_redirect.as_deref(),
            Some("https://acme.test/samlp/abc123")
        );
        assert_eq!(
            md.sso_post.as_deref(),
            Some("https://acme.test/samlp/abc123")
        );
        assert_eq!(
            md.slo.as_deref(),
            Some("https://acme.test/samlp/abc123/logout")
        );
        assert_eq!(md.signing_certs, vec![cert]);
        assert!(xml.starts_with("<EntityDescriptor entityID=\"urn:acme.test\" xmlns="));
        assert_eq!(xml.matches("<Attribute ").count(), 5);
        assert_eq!(xml.matches("<NameIDFormat>").count(), 3);
    }

    #[test]
    fn the_issuer_setting_replaces_the_default_entity_id_and_is_escaped() {
        let object = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(entity_id("acme.test", &object(json!({}))), "urn:acme.test");
        assert_eq!(
            entity_id(
                "acme.test",
                &object(json!({"addons": {"samlp": {"issuer": ""}}}))
            ),
            "urn:acme.test"
        );
        let client =
            object(json!({"addons": {"samlp": {"issuer": "https://idp.acme.test/?a=1&b=2"}}}));
        assert_eq!(
            entity_id("acme.test", &client),
            "https://idp.acme.test/?a=1&b=2"
        );
        let xml = idp_metadata("acme.test", "c", &entity_id("acme.test", &client), &[1, 2]);
        assert!(xml.contains("entityID=\"https://idp.acme.test/?a=1&amp;b=2\""));
    }
}
