//! IdP federation metadata XML → [`IdpMetadata`] (pure, streaming, bounded); [`sp`] reads SP
//! metadata the same way. The streaming pass, its limits and the choice of an entity are
//! shared by both (`scan`).

mod scan;
pub mod sp;

use jiff::Timestamp;

use crate::certs::{Certificate, Validity};
use crate::crd::ProtocolBinding;

pub use scan::DocumentError;
pub(crate) use scan::parse_date_time;
use scan::{Entity, Rejected, Service};

/// Largest metadata document accepted, in bytes (1 MiB).
pub const MAX_METADATA_BYTES: usize = 1 << 20;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 128;

/// What the operator needs from one IdP entity's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpMetadata {
    /// `entityID` of the chosen `EntityDescriptor`.
    pub entity_id: String,
    /// First `SingleSignOnService` with the HTTP-Redirect binding.
    pub sso_redirect: Option<String>,
    /// First `SingleSignOnService` with the HTTP-POST binding.
    pub sso_post: Option<String>,
    /// Single logout URL: first HTTP-Redirect, else first HTTP-POST.
    pub slo: Option<String>,
    /// Signing certificates in document order, duplicates removed; never empty.
    pub signing_certs: Vec<Certificate>,
    /// Index into `signing_certs` of the certificate to use (valid now, latest notAfter).
    pub selected: usize,
    /// Earliest `validUntil` of the entity and its enclosing descriptors, as written.
    pub valid_until: Option<String>,
    /// `cacheDuration` of the entity, else of the nearest enclosing descriptor, as written.
    pub cache_duration: Option<String>,
}

impl IdpMetadata {
    /// The certificate the operator sends to Auth0.
    pub fn selected_cert(&self) -> &Certificate {
        &self.signing_certs[self.selected]
    }

    /// The SSO URL offered for a binding.
    pub fn sso_url(&self, binding: ProtocolBinding) -> Option<&str> {
        match binding {
            ProtocolBinding::HttpRedirect => self.sso_redirect.as_deref(),
            ProtocolBinding::HttpPost => self.sso_post.as_deref(),
        }
    }
}

/// Why a metadata document was rejected. `kind()` is the stable machine name.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// Larger than [`MAX_METADATA_BYTES`].
    #[error("metadata is {size} bytes; the limit is {MAX_METADATA_BYTES} bytes")]
    TooLarge { size: usize },
    /// A DOCTYPE (and so possibly entity declarations) is present.
    #[error(
        "metadata contains a DOCTYPE declaration at byte {position}; DTDs and entities are not allowed"
    )]
    DtdForbidden { position: u64 },
    /// Not well-formed XML.
    #[error("metadata is not well-formed XML: {message}")]
    NotXml { message: String },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("metadata nests elements deeper than {MAX_DEPTH} levels (at byte {position})")]
    TooDeep { position: u64 },
    /// No `EntityDescriptor` with an `IDPSSODescriptor` (or the requested entity has none).
    #[error("{message}")]
    NoIdpDescriptor { message: String },
    /// Several IdP entities and no entity ID to choose one.
    #[error("metadata describes {count} identity providers ({}); set spec.metadata.entityId to choose one", entity_ids.join(", "))]
    AmbiguousEntities {
        count: usize,
        entity_ids: Vec<String>,
    },
    /// The IdP descriptor has no signing certificate.
    #[error(
        "the IDPSSODescriptor of {entity_id} has no signing certificate (KeyDescriptor use=\"signing\" or without use)"
    )]
    NoSigningCert { entity_id: String },
    /// A signing certificate does not parse.
    #[error("signing certificate #{index} of {entity_id} is unusable: {message}")]
    BadCertificate {
        entity_id: String,
        index: usize,
        message: String,
    },
}

impl MetadataError {
    /// `not_xml`, `no_idp_descriptor`, `no_signing_cert`, `bad_certificate`, `dtd_forbidden`,
    /// `too_large`, `too_deep` or `ambiguous_entities`.
    pub fn kind(&self) -> &'static str {
        match self {
            MetadataError::TooLarge { .. } => "too_large",
            MetadataError::DtdForbidden { .. } => "dtd_forbidden",
            MetadataError::NotXml { .. } => "not_xml",
            MetadataError::TooDeep { .. } => "too_deep",
            MetadataError::NoIdpDescriptor { .. } => "no_idp_descriptor",
            MetadataError::AmbiguousEntities { .. } => "ambiguous_entities",
            MetadataError::NoSigningCert { .. } => "no_signing_cert",
            MetadataError::BadCertificate { .. } => "bad_certificate",
        }
    }
}

/// Parses federation metadata and picks one IdP entity (`entity_id` chooses among several)
/// and one signing certificate (valid at `now`, latest notAfter).
pub fn parse_idp_metadata(
    xml: &[u8],
    entity_id: Option<&str>,
    now: Timestamp,
) -> Result<IdpMetadata, MetadataError> {
    let entity = scan::read_entity(xml, entity_id, &scan::IDP)?;
    build_metadata(entity, now)
}

impl From<Rejected> for MetadataError {
    fn from(rejected: Rejected) -> Self {
        match rejected {
            Rejected::Document(e) => e.into(),
            Rejected::Missing(message) => MetadataError::NoIdpDescriptor { message },
            Rejected::Ambiguous(entity_ids) => MetadataError::AmbiguousEntities {
                count: entity_ids.len(),
                entity_ids,
            },
        }
    }
}

const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

fn build_metadata(entity: Entity, now: Timestamp) -> Result<IdpMetadata, MetadataError> {
    let texts = entity.keys.iter().filter(|k| k.usage.signs());
    if texts.clone().next().is_none() {
        return Err(MetadataError::NoSigningCert {
            entity_id: entity.entity_id,
        });
    }
    let certs = scan::decode_certificates(texts.map(|k| k.text.as_slice())).map_err(
        |(index, message)| MetadataError::BadCertificate {
            entity_id: entity.entity_id.clone(),
            index,
            message,
        },
    )?;
    // The first endpoint of each binding that has a Location.
    let first = |service: Service, binding: &str| {
        entity
            .endpoints
            .iter()
            .filter(|e| e.service == service && e.binding.as_deref() == Some(binding))
            .find_map(|e| e.location.clone())
    };
    let selected = select_certificate(&certs, now);
    Ok(IdpMetadata {
        sso_redirect: first(Service::SingleSignOn, BINDING_REDIRECT),
        sso_post: first(Service::SingleSignOn, BINDING_POST),
        slo: first(Service::SingleLogout, BINDING_REDIRECT)
            .or_else(|| first(Service::SingleLogout, BINDING_POST)),
        signing_certs: certs,
        selected,
        valid_until: entity.valid_until,
        cache_duration: entity.cache_duration,
        entity_id: entity.entity_id,
    })
}

/// Prefers certificates valid at `now`, then the latest notAfter, then document order.
fn select_certificate(certs: &[Certificate], now: Timestamp) -> usize {
    let rank = |c: &Certificate| (c.validity_at(now) == Validity::Valid, c.not_after());
    let mut best = 0;
    for (i, cert) in certs.iter().enumerate().skip(1) {
        if rank(cert) > rank(&certs[best]) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
    const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

    fn now() -> Timestamp {
        "2026-11-23T00:00:00Z".parse().unwrap()
    }

    /// The distinct `X509Certificate` texts of a fixture, in document order.
    fn fixture_certs(file: &str) -> Vec<String> {
        let path = format!(
            "{}/tests/fixtures/idp-metadata/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let xml = std::fs::read_to_string(path).unwrap();
        let mut certs: Vec<String> = Vec::new();
        for (at, _) in xml.match_indices("X509Certificate>") {
            let rest = &xml[at + "X509Certificate>".len()..];
            let text: String = rest[..rest.find('<').unwrap()].split_whitespace().collect();
            if !text.is_empty() && !certs.contains(&text) {
                certs.push(text);
            }
        }
        certs
    }

    /// okta-app.xml: valid 2026-11-22 .. 2036-11-21.
    fn okta() -> String {
        fixture_certs("okta-app.xml").remove(0)
    }

    fn key(cert: &str) -> String {
        format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        )
    }

    fn sso(binding: &str, location: &str) -> String {
        format!(r#"<md:SingleSignOnService Binding="{binding}" Location="{location}"/>"#)
    }

    /// An IdP entity whose IDPSSODescriptor holds `inner`.
    fn entity(id: &str, inner: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="{id}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{inner}</md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    fn minimal() -> String {
        entity(
            "https://idp.test/",
            &format!("{}{}", key(&okta()), sso(REDIRECT, "https://idp.test/sso")),
        )
    }

    fn parse(xml: &str) -> Result<IdpMetadata, MetadataError> {
        parse_idp_metadata(xml.as_bytes(), None, now())
    }

    fn kind(xml: &str) -> &'static str {
        match parse(xml) {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn minimal_metadata_yields_entity_endpoint_and_certificate() {
        let md = parse(&minimal()).unwrap();
        assert_eq!(md.entity_id, "https://idp.test/");
        assert_eq!(md.sso_redirect.as_deref(), Some("https://idp.test/sso"));
        assert_eq!(md.sso_post, None);
        assert_eq!(md.slo, None);
        assert_eq!(
            md.selected_cert().sha1_hex(),
            "4b53172957fc1b59fd11530518ef16ad9d7914dc"
        );
    }

    #[test]
    fn prefixes_carry_no_meaning() {
        let expected = parse(&minimal()).unwrap();
        let default_ns = minimal().replace("md:", "").replace("xmlns:md=", "xmlns=");
        let other_prefix = minimal()
            .replace("md:", "saml2md:")
            .replace("xmlns:md=", "xmlns:saml2md=")
            .replace("ds:", "sig:")
            .replace("xmlns:ds=", "xmlns:sig=");
        assert_eq!(parse(&default_ns).unwrap(), expected);
        assert_eq!(parse(&other_prefix).unwrap(), expected);
    }

    #[test]
    fn look_alike_elements_in_other_namespaces_are_ignored() {
        let inner = format!(
            r#"<md:Extensions><x:KeyDescriptor xmlns:x="urn:other"/><md2:SingleSignOnService xmlns:md2="urn:other" Binding="{POST}" Location="https://evil.test/"/></md:Extensions>{}<SingleSignOnService Binding="{POST}" Location="https://nons.test/"/>{}"#,
            key(&okta()),
            sso(REDIRECT, "https://idp.test/sso")
        );
        let md = parse(&entity("e", &inner)).unwrap();
        assert_eq!(md.sso_post, None);
        assert_eq!(md.signing_certs.len(), 1);
    }

    #[test]
    fn a_utf8_byte_order_mark_is_accepted() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(minimal().as_bytes());
        assert!(parse_idp_metadata(&bytes, None, now()).is_ok());
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_accepted_in_both_byte_orders() {
        let xml = format!(r#"<?xml version="1.0" encoding="UTF-16"?>{}"#, minimal());
        let units: Vec<u16> = xml.encode_utf16().collect();
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for unit in units {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        let expected = parse(&minimal()).unwrap();
        assert_eq!(parse_idp_metadata(&le, None, now()).unwrap(), expected);
        assert_eq!(parse_idp_metadata(&be, None, now()).unwrap(), expected);
    }

    #[test]
    fn invalid_utf8_is_not_xml() {
        let mut bytes = minimal().into_bytes();
        bytes.insert(10, 0xFF);
        let err = parse_idp_metadata(&bytes, None, now()).unwrap_err();
        assert_eq!(err.kind(), "not_xml");
    }

    #[test]
    fn crlf_line_endings_and_wrapped_certificates_are_accepted() {
        // With tabs, and with the runs of spaces that indented metadata has.
        for indent in ["\r\n\t  ", "\n            ", " \r\n \r\n"] {
            let wrapped: String = okta()
                .as_bytes()
                .chunks(64)
                .map(|c| format!("{indent}{} ", std::str::from_utf8(c).unwrap()))
                .collect();
            let xml = minimal().replace('>', ">\r\n").replace(&okta(), &wrapped);
            assert_eq!(parse(&xml).unwrap(), parse(&minimal()).unwrap());
        }
        // Whitespace inside a line still ends up removed, not passed to base64.
        let spaced = okta().replacen("MII", "M I  I", 1);
        let xml = minimal().replace(&okta(), &spaced);
        assert_eq!(parse(&xml).unwrap(), parse(&minimal()).unwrap());
    }

    #[test]
    fn cdata_and_comments_inside_certificate_text_are_joined() {
        let cert = okta();
        let (a, rest) = cert.split_at(100);
        let (b, c) = rest.split_at(200);
        let pieces = format!("{a}<!-- rollover -->\n<![CDATA[{b}]]><?pi x?>{c}");
        let xml = minimal().replace(&cert, &pieces);
        assert_eq!(parse(&xml).unwrap(), parse(&minimal()).unwrap());
    }

    #[test]
    fn character_references_in_certificate_text_are_decoded() {
        let cert = okta();
        let xml = minimal().replace(&cert, &format!("&#77;{}&#x0A;", &cert[1..]));
        assert_eq!(cert.as_bytes()[0], b'M');
        assert_eq!(parse(&xml).unwrap(), parse(&minimal()).unwrap());
    }

    #[test]
    fn pem_armour_around_certificate_text_is_tolerated() {
        let armoured = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
            okta()
        );
        let xml = minimal().replace(&okta(), &armoured);
        assert_eq!(parse(&xml).unwrap(), parse(&minimal()).unwrap());
    }

    #[test]
    fn escaped_ampersand_in_location_is_decoded() {
        let inner = format!(
            "{}{}",
            key(&okta()),
            sso(POST, "https://idp.test/sso?a=1&amp;b=&quot;2&quot;&#x26;c")
        );
        let md = parse(&entity("e", &inner)).unwrap();
        assert_eq!(
            md.sso_post.as_deref(),
            Some("https://idp.test/sso?a=1&b=\"2\"&c")
        );
    }

    #[test]
    fn raw_ampersand_in_an_attribute_is_not_xml() {
        let inner = format!("{}{}", key(&okta()), sso(POST, "https://idp.test/?a=1&b=2"));
        assert_eq!(kind(&entity("e", &inner)), "not_xml");
    }

    #[test]
    fn raw_ampersand_in_an_ignored_attribute_is_not_xml() {
        let xml = minimal().replace("<md:IDPSSODescriptor ", "<md:IDPSSODescriptor x=\"a & b\" ");
        assert_eq!(kind(&xml), "not_xml");
    }

    #[test]
    fn undeclared_entity_reference_in_text_is_not_xml() {
        let xml = minimal().replace(
            "</md:IDPSSODescriptor>",
            "<md:Extensions><x xmlns=\"urn:x\">&nbsp;</x></md:Extensions></md:IDPSSODescriptor>",
        );
        assert_eq!(kind(&xml), "not_xml");
    }

    #[test]
    fn raw_ampersand_in_text_is_not_xml() {
        let xml = minimal().replace(
            "</md:IDPSSODescriptor>",
            "<md:Extensions><x xmlns=\"urn:x\">a & b</x></md:Extensions></md:IDPSSODescriptor>",
        );
        assert_eq!(kind(&xml), "not_xml");
    }

    #[test]
    fn doctype_without_entities_is_forbidden() {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE md:EntityDescriptor>\n{}",
            minimal()
        );
        assert_eq!(
            parse(&xml).unwrap_err(),
            MetadataError::DtdForbidden { position: 22 }
        );
    }

    #[test]
    fn doctype_comes_before_a_later_well_formedness_error() {
        let xml = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{}<oops>", minimal());
        assert_eq!(kind(&xml), "dtd_forbidden");
    }

    #[test]
    fn empty_and_non_xml_input_is_not_xml() {
        assert_eq!(kind(""), "not_xml");
        assert_eq!(kind("   \n"), "not_xml");
        assert_eq!(kind("{\"entityID\": \"x\"}"), "not_xml");
    }

    #[test]
    fn unclosed_root_is_not_xml() {
        let xml = minimal().replace("</md:EntityDescriptor>", "");
        assert_eq!(kind(&xml), "not_xml");
    }

    #[test]
    fn mismatched_end_tag_is_not_xml() {
        let xml = minimal().replace("</md:IDPSSODescriptor>", "</md:SPSSODescriptor>");
        assert_eq!(kind(&xml), "not_xml");
    }

    #[test]
    fn trailing_garbage_after_the_root_is_not_xml() {
        assert_eq!(kind(&format!("{}garbage", minimal())), "not_xml");
        assert_eq!(kind(&format!("{}<second/>", minimal())), "not_xml");
        assert_eq!(kind(&format!("{}&amp;", minimal())), "not_xml");
    }

    #[test]
    fn comments_processing_instructions_and_whitespace_after_the_root_are_fine() {
        assert_eq!(
            kind(&format!("{}\n<!-- end -->\n<?pi x?>\n", minimal())),
            "ok"
        );
    }

    #[test]
    fn a_well_formedness_error_after_the_entity_wins_over_missing_descriptor() {
        let sp = minimal().replace("IDPSSODescriptor", "SPSSODescriptor");
        assert_eq!(kind(&sp), "no_idp_descriptor");
        assert_eq!(kind(&sp.replace("</md:EntityDescriptor>", "")), "not_xml");
    }

    #[test]
    fn undeclared_element_prefix_is_not_xml() {
        let xml = minimal().replace(
            "</md:IDPSSODescriptor>",
            "<md:Extensions><nope:x/></md:Extensions></md:IDPSSODescriptor>",
        );
        assert_eq!(kind(&xml), "not_xml");
    }

    /// `minimal()` with `tag` inside the IdP descriptor's Extensions (an element nobody reads).
    fn with_extension(tag: &str) -> String {
        minimal().replace(
            "</md:IDPSSODescriptor>",
            &format!("<md:Extensions>{tag}</md:Extensions></md:IDPSSODescriptor>"),
        )
    }

    fn not_xml_message(xml: &str) -> String {
        match parse(xml) {
            Err(MetadataError::NotXml { message }) => message,
            other => panic!("expected not_xml, got {other:?}"),
        }
    }

    #[test]
    fn malformed_attributes_anywhere_are_not_xml_and_say_what_is_wrong() {
        for (tag, says) in [
            (
                r#"<x:a xmlns:x="urn:x" n="1" n="2"/>"#,
                "duplicate attribute n",
            ),
            (
                r#"<x:a xmlns:x="urn:x" a="1" b="2" c="3" d="4" e="5" f="6" g="7" h="8" i="9" a="0"/>"#,
                "duplicate attribute a",
            ),
            (
                r#"<x:a xmlns:x="urn:x" n="a<b"/>"#,
                "a raw `<` in the value of attribute n",
            ),
            (
                r#"<x:a xmlns:x="urn:x" n=1/>"#,
                "the value of attribute n is not quoted",
            ),
            (
                r#"<x:a xmlns:x="urn:x" n/>"#,
                "attribute n has no `=` and value",
            ),
            (
                r#"<x:a xmlns:x="urn:x" n="1"m="2"/>"#,
                "no whitespace before attribute m",
            ),
            (
                r#"<x:a xmlns:x="urn:x" ="1"/>"#,
                "`=` without an attribute name",
            ),
            (
                r#"<x:a xmlns:x="urn:x" n="&bogus;"/>"#,
                "bad reference in attribute value",
            ),
            (
                r#"<x:a xmlns:x="urn:x" n="&#0;"/>"#,
                "bad reference in attribute value",
            ),
        ] {
            let message = not_xml_message(&with_extension(tag));
            assert!(message.contains(says), "{tag}: {message}");
            assert!(message.contains("in <x:a> at byte"), "{tag}: {message}");
        }
    }

    #[test]
    fn attribute_syntax_xml_allows_is_accepted_and_decoded() {
        let xml = entity(
            "https://idp.test/",
            &format!(
                "{}<md:SingleSignOnService  Location = 'https://idp.test/sso?a=1&amp;b=&quot;2&quot;'\n\tBinding\n=\"{REDIRECT}\" />",
                key(&okta())
            ),
        );
        let md = parse(&xml).unwrap();
        assert_eq!(
            md.sso_redirect.as_deref(),
            Some("https://idp.test/sso?a=1&b=\"2\"")
        );
        // A `>` inside a quoted value does not end the tag.
        let ok = with_extension(r#"<x:a xmlns:x="urn:x" n="a>b" m='"'/>"#);
        assert_eq!(kind(&ok), "ok");
    }

    #[test]
    fn namespace_declarations_are_resolved_per_element() {
        // A reference inside the namespace name still names the metadata namespace.
        let escaped = minimal().replace(
            &format!(r#"xmlns:md="{MD}""#),
            r#"xmlns:md="urn:oasis:names:tc:SAML:2.0:&#109;etadata""#,
        );
        assert_eq!(kind(&escaped), "ok");
        // `xmlns:p=""` does not declare p.
        assert_eq!(kind(&with_extension(r#"<p:a xmlns:p=""/>"#)), "not_xml");
        // A prefix declared on a sibling is out of scope.
        let sibling = with_extension(r#"<p:a xmlns:p="urn:p"/><p:b/>"#);
        assert!(not_xml_message(&sibling).contains("<p:b> at byte"));
        // Redeclaring md to another namespace hides the SSO endpoint inside that element.
        let hidden = minimal().replace(
            "<md:SingleSignOnService ",
            r#"<md:SingleSignOnService xmlns:md="urn:other" "#,
        );
        assert_eq!(parse(&hidden).unwrap().sso_redirect, None);
        // The default namespace works like a prefix, and xmlns="" takes it away again.
        let default_ns = format!(
            r#"<EntityDescriptor xmlns="{MD}" xmlns:ds="{DS}" entityID="e"><IDPSSODescriptor>{}<SingleSignOnService xmlns="" Binding="{REDIRECT}" Location="https://no.test/"/><SingleSignOnService Binding="{REDIRECT}" Location="https://yes.test/"/></IDPSSODescriptor></EntityDescriptor>"#,
            key(&okta()).replace("md:", "")
        );
        assert_eq!(
            parse(&default_ns).unwrap().sso_redirect.as_deref(),
            Some("https://yes.test/")
        );
    }

    /// `minimal()` with `extra` nested foreign elements inside Extensions (at depth 3 + extra).
    fn nested(extra: usize) -> String {
        let open = "<x:n xmlns:x=\"urn:x\">".repeat(extra);
        let close = "</x:n>".repeat(extra);
        minimal().replace(
            "</md:IDPSSODescriptor>",
            &format!("<md:Extensions>{open}{close}</md:Extensions></md:IDPSSODescriptor>"),
        )
    }

    #[test]
    fn nesting_exactly_at_the_depth_limit_is_accepted() {
        // EntityDescriptor, IDPSSODescriptor, Extensions are depths 1-3.
        assert_eq!(kind(&nested(MAX_DEPTH - 3)), "ok");
    }

    #[test]
    fn nesting_one_past_the_depth_limit_is_too_deep() {
        assert_eq!(kind(&nested(MAX_DEPTH - 2)), "too_deep");
    }

    #[test]
    fn an_empty_element_past_the_depth_limit_is_too_deep() {
        let xml = nested(MAX_DEPTH - 3).replace("</x:n></x:n>", "<x:e/></x:n></x:n>");
        assert_eq!(kind(&xml), "too_deep");
    }

    #[test]
    fn input_over_one_mebibyte_is_too_large_even_if_well_formed() {
        let base = minimal();
        let pad = MAX_METADATA_BYTES - base.len() - "<!---->".len();
        let at_limit = format!("{base}<!--{}-->", " ".repeat(pad));
        assert_eq!(at_limit.len(), MAX_METADATA_BYTES);
        assert_eq!(kind(&at_limit), "ok");
        let over = format!("{at_limit} ");
        assert_eq!(
            parse(&over).unwrap_err(),
            MetadataError::TooLarge {
                size: MAX_METADATA_BYTES + 1
            }
        );
    }

    #[test]
    fn a_non_metadata_root_has_no_idp_descriptor() {
        let xml = format!(r#"<foo xmlns="urn:x">{}</foo>"#, minimal());
        assert_eq!(kind(&xml), "no_idp_descriptor");
    }

    #[test]
    fn first_endpoint_per_binding_wins_and_other_bindings_are_ignored() {
        let inner = format!(
            "{}{}{}{}{}{}",
            key(&okta()),
            sso(
                "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
                "https://a.test/artifact"
            ),
            sso(
                "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign",
                "https://a.test/simplesign"
            ),
            sso(POST, "https://a.test/post1"),
            sso(REDIRECT, "https://a.test/redirect1"),
            sso(POST, "https://a.test/post2"),
        );
        let md = parse(&entity("e", &inner)).unwrap();
        assert_eq!(md.sso_post.as_deref(), Some("https://a.test/post1"));
        assert_eq!(md.sso_redirect.as_deref(), Some("https://a.test/redirect1"));
    }

    #[test]
    fn slo_prefers_redirect_then_falls_back_to_post() {
        let slo = |binding: &str, url: &str| {
            format!(
                r#"<md:SingleLogoutService Binding="{binding}" Location="{url}" ResponseLocation="https://r.test/"/>"#
            )
        };
        let both = format!(
            "{}{}{}",
            key(&okta()),
            slo(POST, "https://a.test/post"),
            slo(REDIRECT, "https://a.test/redirect")
        );
        let post_only = format!("{}{}", key(&okta()), slo(POST, "https://a.test/post"));
        assert_eq!(
            parse(&entity("e", &both)).unwrap().slo.as_deref(),
            Some("https://a.test/redirect")
        );
        assert_eq!(
            parse(&entity("e", &post_only)).unwrap().slo.as_deref(),
            Some("https://a.test/post")
        );
    }

    #[test]
    fn only_direct_children_of_the_first_idp_descriptor_count() {
        let xml = minimal().replace(
            "</md:IDPSSODescriptor>",
            &format!(
                "<md:Extensions>{}</md:Extensions></md:IDPSSODescriptor><md:IDPSSODescriptor>{}</md:IDPSSODescriptor><md:SPSSODescriptor>{}</md:SPSSODescriptor>",
                sso(POST, "https://nested.test/"),
                sso(POST, "https://second.test/"),
                sso(POST, "https://sp.test/")
            ),
        );
        assert_eq!(parse(&xml).unwrap().sso_post, None);
    }

    #[test]
    fn encryption_keys_are_never_signing_certificates() {
        let inner = key(&okta()).replace("use=\"signing\"", "use=\"encryption\"");
        assert_eq!(kind(&entity("e", &inner)), "no_signing_cert");
    }

    #[test]
    fn a_key_descriptor_without_use_is_a_signing_key() {
        let inner = key(&okta()).replace(" use=\"signing\"", "");
        assert_eq!(parse(&entity("e", &inner)).unwrap().signing_certs.len(), 1);
    }

    #[test]
    fn key_descriptors_without_a_certificate_contribute_nothing() {
        let inner = format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>k</ds:KeyName></ds:KeyInfo></md:KeyDescriptor>{}"#,
            key(&okta())
        );
        assert_eq!(parse(&entity("e", &inner)).unwrap().signing_certs.len(), 1);
        let only_name = r#"<md:KeyDescriptor><ds:KeyInfo><ds:KeyName>k</ds:KeyName></ds:KeyInfo></md:KeyDescriptor>"#;
        assert_eq!(kind(&entity("e", only_name)), "no_signing_cert");
    }

    #[test]
    fn a_certificate_listed_twice_is_reported_once_at_its_first_position() {
        let azure = fixture_certs("azure-entra-tenant.xml");
        let wrapped: String = azure[0].chars().flat_map(|c| [c, ' ']).collect();
        let inner = format!("{}{}{}", key(&azure[0]), key(&azure[1]), key(&wrapped));
        let md = parse(&entity("e", &inner)).unwrap();
        let sha1: Vec<String> = md.signing_certs.iter().map(Certificate::sha1_hex).collect();
        assert_eq!(
            sha1,
            [
                "036b35fc81a4bdea40b7082a87b79516798326ba",
                "8bfee73fb2eeea676a338a1cbb50e7720e98d3ab"
            ]
        );
    }

    #[test]
    fn text_that_is_not_base64_is_a_bad_certificate() {
        let err = parse(&entity("e", &key("not*base64!"))).unwrap_err();
        assert!(matches!(
            err,
            MetadataError::BadCertificate { ref entity_id, index: 1, .. } if entity_id == "e"
        ));
    }

    #[test]
    fn an_empty_certificate_element_is_a_bad_certificate() {
        assert_eq!(kind(&entity("e", &key(""))), "bad_certificate");
        let empty = key("").replace(
            "<ds:X509Certificate></ds:X509Certificate>",
            "<ds:X509Certificate/>",
        );
        assert_eq!(kind(&entity("e", &empty)), "bad_certificate");
    }

    #[test]
    fn expired_certificates_parse_and_are_selected_when_nothing_else_exists() {
        let jumpcloud = fixture_certs("jumpcloud-expired-redirect-only.xml").remove(0);
        let md = parse(&entity("e", &key(&jumpcloud))).unwrap();
        assert_eq!(md.selected_cert().validity_at(now()), Validity::Expired);
    }

    fn selected_sha1(certs: &[&String], at: &str) -> String {
        let inner: String = certs.iter().map(|c| key(c)).collect();
        let md = parse_idp_metadata(entity("e", &inner).as_bytes(), None, at.parse().unwrap());
        md.unwrap().selected_cert().sha1_hex()
    }

    #[test]
    fn among_valid_certificates_the_latest_not_after_is_selected() {
        let azure = fixture_certs("azure-entra-tenant.xml");
        let later = "8bfee73fb2eeea676a338a1cbb50e7720e98d3ab";
        assert_eq!(
            selected_sha1(&[&azure[0], &azure[1]], "2030-01-01T00:00:00Z"),
            later
        );
        assert_eq!(
            selected_sha1(&[&azure[1], &azure[0]], "2030-01-01T00:00:00Z"),
            later
        );
    }

    #[test]
    fn a_valid_certificate_beats_a_longer_lived_one_that_is_not_yet_valid() {
        let jumpcloud = fixture_certs("jumpcloud-expired-redirect-only.xml").remove(0);
        let azure = fixture_certs("azure-entra-tenant.xml");
        // In 2023 the jumpcloud certificate (2021-2024) is valid, the Azure ones (2026-) not yet.
        assert_eq!(
            selected_sha1(&[&azure[1], &jumpcloud], "2023-01-01T00:00:00Z"),
            "26480fa7562a8d62edac958eed5cb91044e96327"
        );
    }

    #[test]
    fn when_none_is_valid_the_latest_not_after_is_selected() {
        let jumpcloud = fixture_certs("jumpcloud-expired-redirect-only.xml").remove(0);
        let azure = fixture_certs("azure-entra-tenant.xml");
        assert_eq!(
            selected_sha1(&[&jumpcloud, &azure[1], &azure[0]], "2050-01-01T00:00:00Z"),
            "8bfee73fb2eeea676a338a1cbb50e7720e98d3ab"
        );
    }

    #[test]
    fn equal_not_after_selects_the_first_in_document_order() {
        // Both certificates of entities-multiple.xml's IdPs end at 2037-07-27T14:08:18Z.
        let pair = fixture_certs("entities-multiple.xml");
        let (production, staging) = (&pair[0], &pair[2]);
        assert_eq!(
            selected_sha1(&[production, staging], "2030-01-01T00:00:00Z"),
            "a16894da6223707bf5106495dac1e18ca8cb2b41"
        );
        assert_eq!(
            selected_sha1(&[staging, production], "2030-01-01T00:00:00Z"),
            "15855a2091e42e0dcc61b4efbc72df02c3aae9c6"
        );
    }

    fn aggregate() -> String {
        let idp = |id: &str, url: &str| {
            entity(id, &format!("{}{}", key(&okta()), sso(POST, url)))
                .replace(&format!(r#" xmlns:md="{MD}" xmlns:ds="{DS}""#), "")
        };
        let sp = idp("sp", "https://sp.test/").replace("IDPSSODescriptor", "SPSSODescriptor");
        format!(
            r#"<md:EntitiesDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" validUntil="2030-01-01T00:00:00Z" cacheDuration="PT1H"><md:EntitiesDescriptor validUntil="2029-06-01T00:00:00+02:00">{}{}</md:EntitiesDescriptor>{}</md:EntitiesDescriptor>"#,
            idp("a", "https://a.test/").replace(
                "entityID=\"a\"",
                "entityID=\"a\" validUntil=\"2031-01-01T00:00:00Z\" cacheDuration=\"PT5M\""
            ),
            sp,
            idp("b", "https://b.test/"),
        )
    }

    #[test]
    fn several_idps_without_an_entity_id_are_ambiguous() {
        assert_eq!(
            parse(&aggregate()).unwrap_err(),
            MetadataError::AmbiguousEntities {
                count: 2,
                entity_ids: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn an_entity_id_chooses_among_several_idps() {
        let b = parse_idp_metadata(aggregate().as_bytes(), Some("b"), now()).unwrap();
        assert_eq!(b.sso_post.as_deref(), Some("https://b.test/"));
    }

    #[test]
    fn an_entity_id_naming_a_non_idp_or_nothing_has_no_idp_descriptor() {
        for wanted in ["sp", "missing"] {
            let err = parse_idp_metadata(aggregate().as_bytes(), Some(wanted), now()).unwrap_err();
            assert_eq!(err.kind(), "no_idp_descriptor", "{wanted}");
            assert!(err.to_string().contains(wanted), "{err}");
        }
    }

    #[test]
    fn valid_until_is_the_earliest_of_the_entity_and_its_enclosing_descriptors() {
        let a = parse_idp_metadata(aggregate().as_bytes(), Some("a"), now()).unwrap();
        // 2029-06-01T00:00:00+02:00 is earlier than the entity's 2031 and the outer 2030.
        assert_eq!(a.valid_until.as_deref(), Some("2029-06-01T00:00:00+02:00"));
        let b = parse_idp_metadata(aggregate().as_bytes(), Some("b"), now()).unwrap();
        assert_eq!(b.valid_until.as_deref(), Some("2030-01-01T00:00:00Z"));
    }

    #[test]
    fn cache_duration_is_the_entitys_else_the_nearest_enclosing_one() {
        let a = parse_idp_metadata(aggregate().as_bytes(), Some("a"), now()).unwrap();
        assert_eq!(a.cache_duration.as_deref(), Some("PT5M"));
        let b = parse_idp_metadata(aggregate().as_bytes(), Some("b"), now()).unwrap();
        assert_eq!(b.cache_duration.as_deref(), Some("PT1H"));
    }

    #[test]
    fn one_idp_among_other_entities_is_chosen_without_an_entity_id() {
        let sp = entity("sp", &key(&okta())).replace("IDPSSODescriptor", "SPSSODescriptor");
        let xml = format!(
            r#"<EntitiesDescriptor xmlns="{MD}">{sp}<EntitiesDescriptor>{}</EntitiesDescriptor>{sp}</EntitiesDescriptor>"#,
            minimal()
        );
        assert_eq!(parse(&xml).unwrap(), parse(&minimal()).unwrap());
    }

    #[test]
    fn error_messages_name_what_is_wrong_and_where() {
        let err = parse(&entity("https://idp.test/", &key("AAAA"))).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("https://idp.test/"), "{message}");
        assert!(message.contains("#1"), "{message}");
        let err = parse(&minimal().replace("</md:IDPSSODescriptor>", "</md:Oops>")).unwrap_err();
        assert!(err.to_string().contains("IDPSSODescriptor"), "{err}");
    }
}
