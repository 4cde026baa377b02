//! SP metadata XML → [`SpMetadata`] (pure, streaming, bounded): what a third-party service
//! provider publishes about itself, read for a `SamlApplication`, where Auth0 is the identity
//! provider and posts assertions to the SP.
//!
//! The document is read by the same pass as IdP metadata, so rules 1–7 of `docs/METADATA.md`
//! (size, depth, encodings, no DTDs, well-formedness, decoding, namespaces) apply unchanged,
//! with the same error kinds and messages ([`DocumentError`]). Then:
//!
//! 1. **Entity.** The candidates are the `EntityDescriptor`s with an `md:SPSSODescriptor`
//!    child; as for IdPs, an entity ID chooses among several (`ambiguous_entities` without
//!    one), and none is `no_sp_descriptor` — whose message says when the document is IdP
//!    metadata instead.
//! 2. **What counts.** Only the direct children of the chosen entity's first
//!    `SPSSODescriptor`: `KeyDescriptor`, `AssertionConsumerService`, `SingleLogoutService`,
//!    `NameIDFormat`. `Extensions` (a `DiscoveryResponse` has `Binding`, `Location` and
//!    `index` too), `AttributeConsumingService`, `Organization` and an `IDPSSODescriptor` of
//!    the same entity contribute nothing.
//! 3. **SAML 2.0.** `protocolSupportEnumeration` (a whitespace-separated list) must list
//!    `urn:oasis:names:tc:SAML:2.0:protocol`; a missing attribute or a SAML 1.x-only list is
//!    `unsupported_protocol`.
//! 4. **Attributes.** `AuthnRequestsSigned` and `WantAssertionsSigned` are `xs:boolean`
//!    (`true`, `false`, `1`, `0`; surrounding whitespace ignored), `false` when absent. Every
//!    `AssertionConsumerService` and `SingleLogoutService` needs `Binding` and `Location`; an
//!    ACS `index` is an `xs:unsignedShort` and `isDefault` an `xs:boolean`, both optional
//!    here (some SPs leave `index` out). Anything else is `invalid_attribute`, naming the
//!    element (`AssertionConsumerService #2`, counted in document order) and the entity.
//! 5. **ACS.** All are recorded. The one Auth0 uses ([`select_acs`]) is, among those with
//!    the HTTP-POST binding, the first with `isDefault="true"`, else the one with the lowest
//!    `index` (the first of equals), else the first. No HTTP-POST ACS is `no_post_acs`: Auth0's
//!    SAML add-on delivers assertions only by HTTP-POST. `isDefault` on an ACS of another
//!    binding does not count.
//! 6. **SLO.** All recorded; the one used is the first HTTP-POST, else the first
//!    HTTP-Redirect, else none (Auth0 posts logout messages when it can).
//! 7. **Certificates.** `KeyDescriptor use="signing"` or without `use` holds signing
//!    certificates, `use="encryption"` encryption certificates; other values are ignored. A
//!    key without `use` is not taken for encryption: encrypting assertions is opt-in for
//!    SPs, and one that did not say so may not decrypt them. The text is decoded as for IdPs
//!    (whitespace, padding, PEM armour), duplicates are reported once, and one that is not a
//!    certificate is `bad_certificate` (its use and position; never its text). No
//!    certificate at all is fine: an SP need not sign or decrypt.
//! 8. **NameID formats.** The text of each `NameIDFormat`, trimmed, in document order;
//!    empty ones are left out.
//! 9. **Which error wins.** The document errors, then `no_sp_descriptor` or
//!    `ambiguous_entities`, then `unsupported_protocol`, then `invalid_attribute` (the
//!    descriptor's attributes, then the endpoints in document order), then `no_post_acs`,
//!    then `bad_certificate` (signing before encryption).

use super::DocumentError;
use super::scan::{self, Entity, KeyUse, Rejected, Service};
use crate::certs::Certificate;

/// The `protocolSupportEnumeration` entry of SAML 2.0.
pub const PROTOCOL_SAML2: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The HTTP-POST binding, the only one Auth0 delivers assertions with.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The HTTP-Redirect binding.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// What SAML 2.0 binding URIs start with.
const BINDINGS_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:bindings:";
/// How much of an attribute value an error message quotes.
const QUOTED_CHARS: usize = 160;

/// What the operator needs from one SP entity's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SpMetadata {
    /// `entityID` of the chosen `EntityDescriptor`: the audience of the assertions.
    pub entity_id: String,
    /// Every `AssertionConsumerService`, in document order; holds one HTTP-POST at least.
    pub assertion_consumer_services: Vec<AssertionConsumerService>,
    /// Index into `assertion_consumer_services` of the one Auth0 posts to ([`select_acs`]).
    pub selected_acs: usize,
    /// Every `SingleLogoutService`, in document order.
    pub single_logout_services: Vec<LogoutService>,
    /// Index into `single_logout_services` of the one to use: first HTTP-POST, else first
    /// HTTP-Redirect.
    pub selected_slo: Option<usize>,
    /// `AuthnRequestsSigned`: the SP signs its authentication requests.
    pub authn_requests_signed: bool,
    /// `WantAssertionsSigned`: the SP wants the assertions themselves signed.
    pub want_assertions_signed: bool,
    /// Signing certificates (`use="signing"` or no `use`), document order, no duplicates.
    pub signing_certs: Vec<Certificate>,
    /// Encryption certificates (`use="encryption"`), document order, no duplicates.
    pub encryption_certs: Vec<Certificate>,
    /// `NameIDFormat`s, in document order.
    pub name_id_formats: Vec<String>,
    /// Earliest `validUntil` of the entity and its enclosing descriptors, as written.
    pub valid_until: Option<String>,
    /// `cacheDuration` of the entity, else of the nearest enclosing descriptor, as written.
    pub cache_duration: Option<String>,
}

impl SpMetadata {
    /// The audience of the assertions: the entity ID.
    pub fn audience(&self) -> &str {
        &self.entity_id
    }

    /// The assertion consumer service Auth0 posts to.
    pub fn acs(&self) -> &AssertionConsumerService {
        &self.assertion_consumer_services[self.selected_acs]
    }

    /// The single logout service to use, if the SP has one for HTTP-POST or HTTP-Redirect.
    pub fn slo(&self) -> Option<&LogoutService> {
        self.selected_slo.map(|i| &self.single_logout_services[i])
    }
}

/// One `AssertionConsumerService`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionConsumerService {
    /// The binding URI.
    pub binding: String,
    /// Where assertions go.
    pub location: String,
    /// `index`, when given.
    pub index: Option<u16>,
    /// `isDefault`, when given.
    pub is_default: Option<bool>,
}

/// One `SingleLogoutService`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutService {
    /// The binding URI.
    pub binding: String,
    /// Where logout requests go.
    pub location: String,
    /// Where logout responses go, when not to `location`.
    pub response_location: Option<String>,
}

/// Which use a certificate was listed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateUse {
    /// `use="signing"` or no `use`.
    Signing,
    /// `use="encryption"`.
    Encryption,
}

impl std::fmt::Display for CertificateUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertificateUse::Signing => "signing",
            CertificateUse::Encryption => "encryption",
        })
    }
}

/// Why an SP metadata document was rejected. `kind()` is the stable machine name.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SpMetadataError {
    /// Too large, a DTD, not well-formed or too deep: worded as for IdP metadata.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// No `EntityDescriptor` with an `SPSSODescriptor` (or the requested entity has none).
    #[error("{message}")]
    NoSpDescriptor { message: String },
    /// Several SP entities and no entity ID to choose one.
    #[error("metadata describes {count} service providers ({}); give the entity ID of the one to use", entity_ids.join(", "))]
    AmbiguousEntities {
        count: usize,
        entity_ids: Vec<String>,
    },
    /// The `SPSSODescriptor` does not list SAML 2.0 in `protocolSupportEnumeration`.
    #[error(
        "the SPSSODescriptor of {entity_id} does not support SAML 2.0: {}",
        match protocols {
            Some(listed) => format!("its protocolSupportEnumeration \"{}\" does not list {PROTOCOL_SAML2}", quoted(listed)),
            None => format!("it has no protocolSupportEnumeration (which must list {PROTOCOL_SAML2})"),
        }
    )]
    UnsupportedProtocol {
        entity_id: String,
        protocols: Option<String>,
    },
    /// No `AssertionConsumerService` with the HTTP-POST binding.
    #[error(
        "the SPSSODescriptor of {entity_id} has no AssertionConsumerService with the HTTP-POST binding (it lists {}); Auth0 delivers assertions by HTTP-POST only",
        if bindings.is_empty() { "none".to_string() } else { bindings.join(", ") }
    )]
    NoPostAcs {
        entity_id: String,
        /// The bindings of the ACSs there are, shortened as by [`binding_name`].
        bindings: Vec<String>,
    },
    /// An attribute the operator reads is missing or not of its type.
    #[error("{element} of {entity_id} {problem}")]
    InvalidAttribute {
        entity_id: String,
        /// `the SPSSODescriptor`, `AssertionConsumerService #2`, `SingleLogoutService #1`.
        element: String,
        /// What is wrong, e.g. `has no Location`.
        problem: String,
    },
    /// A certificate does not parse.
    #[error("{usage} certificate #{index} of {entity_id} is unusable: {message}")]
    BadCertificate {
        entity_id: String,
        usage: CertificateUse,
        /// Position among the certificates of that use, from 1, duplicates counted.
        index: usize,
        message: String,
    },
}

impl SpMetadataError {
    /// `too_large`, `dtd_forbidden`, `not_xml`, `too_deep`, `no_sp_descriptor`,
    /// `ambiguous_entities`, `unsupported_protocol`, `invalid_attribute`, `no_post_acs` or
    /// `bad_certificate`.
    pub fn kind(&self) -> &'static str {
        match self {
            SpMetadataError::Document(e) => e.kind(),
            SpMetadataError::NoSpDescriptor { .. } => "no_sp_descriptor",
            SpMetadataError::AmbiguousEntities { .. } => "ambiguous_entities",
            SpMetadataError::UnsupportedProtocol { .. } => "unsupported_protocol",
            SpMetadataError::NoPostAcs { .. } => "no_post_acs",
            SpMetadataError::InvalidAttribute { .. } => "invalid_attribute",
            SpMetadataError::BadCertificate { .. } => "bad_certificate",
        }
    }
}

impl From<Rejected> for SpMetadataError {
    fn from(rejected: Rejected) -> Self {
        match rejected {
            Rejected::Document(e) => e.into(),
            Rejected::Missing(message) => SpMetadataError::NoSpDescriptor { message },
            Rejected::Ambiguous(entity_ids) => SpMetadataError::AmbiguousEntities {
                count: entity_ids.len(),
                entity_ids,
            },
        }
    }
}

/// Parses SP metadata and picks one SP entity (`entity_id` chooses among several). Takes the
/// document as bytes or text (UTF-16 needs bytes, with its byte-order mark).
pub fn parse_sp_metadata(
    xml: impl AsRef<[u8]>,
    entity_id: Option<&str>,
) -> Result<SpMetadata, SpMetadataError> {
    let entity = scan::read_entity(xml.as_ref(), entity_id, &scan::SP)?;
    build_metadata(entity)
}

/// The ACS Auth0 posts to: among the HTTP-POST ones, the first with `isDefault="true"`, else
/// the one with the lowest `index` (the first of equals), else the first; `None` without an
/// HTTP-POST ACS.
pub fn select_acs(services: &[AssertionConsumerService]) -> Option<usize> {
    let post = || {
        services
            .iter()
            .enumerate()
            .filter(|(_, acs)| acs.binding == BINDING_POST)
    };
    post()
        .find(|(_, acs)| acs.is_default == Some(true))
        .or_else(|| {
            post()
                .filter_map(|(i, acs)| Some((i, acs.index?)))
                .min_by_key(|&(_, index)| index)
                .map(|(i, _)| (i, &services[i]))
        })
        .or_else(|| post().next())
        .map(|(i, _)| i)
}

/// The SLO to use: the first HTTP-POST, else the first HTTP-Redirect.
fn select_slo(services: &[LogoutService]) -> Option<usize> {
    let first = |binding: &str| services.iter().position(|slo| slo.binding == binding);
    first(BINDING_POST).or_else(|| first(BINDING_REDIRECT))
}

/// A binding as people name it: `HTTP-POST` for SAML 2.0 bindings, the URI for others.
pub fn binding_name(uri: &str) -> &str {
    uri.strip_prefix(BINDINGS_PREFIX).unwrap_or(uri)
}

/// `value`, cut short for an error message.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

fn build_metadata(entity: Entity) -> Result<SpMetadata, SpMetadataError> {
    let Entity {
        entity_id,
        valid_until,
        cache_duration,
        protocols,
        authn_requests_signed,
        want_assertions_signed,
        endpoints,
        keys,
        name_id_formats,
    } = entity;
    let supports_saml2 = protocols
        .as_deref()
        .is_some_and(|listed| listed.split_ascii_whitespace().any(|p| p == PROTOCOL_SAML2));
    if !supports_saml2 {
        return Err(SpMetadataError::UnsupportedProtocol {
            entity_id,
            protocols,
        });
    }
    let invalid = |element: &str, problem: String| SpMetadataError::InvalidAttribute {
        entity_id: entity_id.clone(),
        element: element.to_string(),
        problem,
    };
    let descriptor = "the SPSSODescriptor";
    let authn_requests_signed = boolean(authn_requests_signed.as_deref(), "AuthnRequestsSigned")
        .map_err(|problem| invalid(descriptor, problem))?;
    let want_assertions_signed = boolean(want_assertions_signed.as_deref(), "WantAssertionsSigned")
        .map_err(|problem| invalid(descriptor, problem))?;

    let mut acs_list = Vec::new();
    let mut slo_list = Vec::new();
    for endpoint in endpoints {
        let (name, count) = match endpoint.service {
            Service::AssertionConsumer => ("AssertionConsumerService", acs_list.len()),
            Service::SingleLogout => ("SingleLogoutService", slo_list.len()),
            Service::SingleSignOn => continue,
        };
        let element = format!("{name} #{}", count + 1);
        let required = |value: Option<String>, attribute: &str| {
            value.ok_or_else(|| invalid(&element, format!("has no {attribute}")))
        };
        let binding = required(endpoint.binding, "Binding")?;
        let location = required(endpoint.location, "Location")?;
        if endpoint.service == Service::SingleLogout {
            slo_list.push(LogoutService {
                binding,
                location,
                response_location: endpoint.response_location,
            });
            continue;
        }
        let index = endpoint
            .index
            .map(|raw| {
                raw.trim_ascii().parse::<u16>().map_err(|_| {
                    invalid(
                        &element,
                        format!(
                            "has index=\"{}\", which is not a whole number from 0 to 65535",
                            quoted(&raw)
                        ),
                    )
                })
            })
            .transpose()?;
        let is_default = boolean(endpoint.is_default.as_deref(), "isDefault")
            .map_err(|problem| invalid(&element, problem))?;
        acs_list.push(AssertionConsumerService {
            binding,
            location,
            index,
            is_default,
        });
    }
    let Some(selected_acs) = select_acs(&acs_list) else {
        return Err(SpMetadataError::NoPostAcs {
            entity_id,
            bindings: acs_list
                .iter()
                .map(|acs| binding_name(&acs.binding).to_string())
                .collect(),
        });
    };

    let certificates = |usage: CertificateUse, wanted: fn(KeyUse) -> bool| {
        let texts = keys.iter().filter(|k| wanted(k.usage));
        scan::decode_certificates(texts.map(|k| k.text.as_slice())).map_err(|(index, message)| {
            SpMetadataError::BadCertificate {
                entity_id: entity_id.clone(),
                usage,
                index,
                message,
            }
        })
    };
    let signing_certs = certificates(CertificateUse::Signing, KeyUse::signs)?;
    let encryption_certs = certificates(CertificateUse::Encryption, |usage| {
        usage == KeyUse::Encryption
    })?;

    Ok(SpMetadata {
        selected_slo: select_slo(&slo_list),
        entity_id,
        assertion_consumer_services: acs_list,
        selected_acs,
        single_logout_services: slo_list,
        authn_requests_signed: authn_requests_signed.unwrap_or(false),
        want_assertions_signed: want_assertions_signed.unwrap_or(false),
        signing_certs,
        encryption_certs,
        name_id_formats,
        valid_until,
        cache_duration,
    })
}

/// An `xs:boolean` attribute: `true`, `false`, `1` or `0`, surrounding whitespace ignored.
fn boolean(value: Option<&str>, attribute: &str) -> Result<Option<bool>, String> {
    let Some(raw) = value else {
        return Ok(None);
    };
    match raw.trim_ascii() {
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        _ => Err(format!(
            "has {attribute}=\"{}\", which is not a boolean (true, false, 1 or 0)",
            quoted(raw)
        )),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    use super::*;

    const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
    const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    const ARTIFACT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact";
    const PAOS: &str = "urn:oasis:names:tc:SAML:2.0:bindings:PAOS";

    /// A fresh self-signed certificate, as base64 DER.
    fn cert(cn: &str) -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        B64.encode(params.self_signed(&key).expect("self-signed").der())
    }

    fn key(usage: Option<&str>, cert: &str) -> String {
        let usage = usage.map(|u| format!(" use=\"{u}\"")).unwrap_or_default();
        format!(
            r#"<md:KeyDescriptor{usage}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        )
    }

    fn acs(binding: &str, location: &str, extra: &str) -> String {
        format!(
            r#"<md:AssertionConsumerService Binding="{binding}" Location="{location}"{extra}/>"#
        )
    }

    fn slo(binding: &str, location: &str) -> String {
        format!(r#"<md:SingleLogoutService Binding="{binding}" Location="{location}"/>"#)
    }

    /// An SP entity whose SPSSODescriptor has `attrs` and holds `inner`.
    fn entity_with(id: &str, attrs: &str, inner: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="{id}"><md:SPSSODescriptor{attrs}>{inner}</md:SPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    fn entity(id: &str, inner: &str) -> String {
        entity_with(
            id,
            &format!(r#" protocolSupportEnumeration="{PROTOCOL_SAML2}""#),
            inner,
        )
    }

    fn minimal() -> String {
        entity(
            "https://sp.test/",
            &acs(BINDING_POST, "https://sp.test/acs", r#" index="0""#),
        )
    }

    fn parse(xml: &str) -> Result<SpMetadata, SpMetadataError> {
        parse_sp_metadata(xml, None)
    }

    fn kind(xml: &str) -> &'static str {
        match parse(xml) {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        }
    }

    fn service(
        binding: &str,
        index: Option<u16>,
        is_default: Option<bool>,
    ) -> AssertionConsumerService {
        AssertionConsumerService {
            binding: binding.to_string(),
            location: format!("https://sp.test/{}/{index:?}", binding_name(binding)),
            index,
            is_default,
        }
    }

    #[test]
    fn acs_selection_prefers_the_default_post_endpoint_over_a_lower_index() {
        let services = [
            service(BINDING_POST, Some(0), None),
            service(BINDING_POST, Some(5), Some(true)),
        ];
        assert_eq!(select_acs(&services), Some(1));
    }

    #[test]
    fn acs_selection_ignores_is_default_on_other_bindings() {
        let services = [
            service(ARTIFACT, Some(0), Some(true)),
            service(BINDING_POST, Some(3), None),
            service(BINDING_POST, Some(2), Some(false)),
        ];
        assert_eq!(select_acs(&services), Some(2));
    }

    #[test]
    fn acs_selection_takes_the_lowest_post_index_wherever_it_is_listed() {
        let services = [
            service(BINDING_POST, Some(7), None),
            service(ARTIFACT, Some(1), None),
            service(BINDING_POST, Some(2), None),
            service(BINDING_POST, Some(4), None),
        ];
        assert_eq!(select_acs(&services), Some(2));
    }

    #[test]
    fn acs_selection_breaks_an_index_tie_by_document_order() {
        let services = [
            service(BINDING_POST, Some(1), None),
            service(BINDING_POST, Some(1), None),
        ];
        assert_eq!(select_acs(&services), Some(0));
    }

    #[test]
    fn acs_selection_prefers_an_indexed_post_endpoint_to_one_without_index() {
        let services = [
            service(BINDING_POST, None, None),
            service(BINDING_POST, Some(9), None),
        ];
        assert_eq!(select_acs(&services), Some(1));
    }

    #[test]
    fn acs_selection_falls_back_to_the_first_post_endpoint() {
        let services = [
            service(ARTIFACT, Some(0), None),
            service(BINDING_POST, None, Some(false)),
            service(BINDING_POST, None, None),
        ];
        assert_eq!(select_acs(&services), Some(1));
    }

    #[test]
    fn acs_selection_takes_the_first_of_two_default_post_endpoints() {
        let services = [
            service(BINDING_POST, Some(0), None),
            service(BINDING_POST, Some(2), Some(true)),
            service(BINDING_POST, Some(1), Some(true)),
        ];
        assert_eq!(select_acs(&services), Some(1));
    }

    #[test]
    fn acs_selection_finds_nothing_without_a_post_endpoint() {
        let simple_sign = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign";
        let services = [
            service(ARTIFACT, Some(0), Some(true)),
            service(simple_sign, Some(1), None),
            service(PAOS, Some(2), None),
        ];
        assert_eq!(select_acs(&services), None);
        assert_eq!(select_acs(&[]), None);
    }

    #[test]
    fn minimal_metadata_yields_entity_acs_and_defaults() {
        let md = parse(&minimal()).unwrap();
        assert_eq!(md.audience(), "https://sp.test/");
        assert_eq!(md.acs().location, "https://sp.test/acs");
        assert_eq!(md.acs().index, Some(0));
        assert_eq!(md.acs().is_default, None);
        assert_eq!(md.slo(), None);
        assert!(!md.authn_requests_signed);
        assert!(!md.want_assertions_signed);
        assert!(md.signing_certs.is_empty() && md.encryption_certs.is_empty());
        assert!(md.name_id_formats.is_empty());
    }

    #[test]
    fn the_parser_takes_text_or_bytes() {
        let text = minimal();
        assert_eq!(
            parse_sp_metadata(text.as_bytes(), None).unwrap(),
            parse_sp_metadata(&text, None).unwrap()
        );
    }

    #[test]
    fn every_acs_is_recorded_with_its_index_and_default_flag() {
        let inner = format!(
            "{}{}",
            acs(
                ARTIFACT,
                "https://sp.test/art",
                r#" index="0" isDefault="true""#
            ),
            acs(
                BINDING_POST,
                "https://sp.test/post",
                r#" index=" 1 " isDefault="0""#
            ),
        );
        let md = parse(&entity("e", &inner)).unwrap();
        assert_eq!(
            md.assertion_consumer_services,
            [
                AssertionConsumerService {
                    binding: ARTIFACT.into(),
                    location: "https://sp.test/art".into(),
                    index: Some(0),
                    is_default: Some(true),
                },
                AssertionConsumerService {
                    binding: BINDING_POST.into(),
                    location: "https://sp.test/post".into(),
                    index: Some(1),
                    is_default: Some(false),
                },
            ]
        );
        assert_eq!(md.selected_acs, 1);
    }

    #[test]
    fn signing_flags_are_xs_booleans() {
        let flags = |attrs: &str| {
            let xml = entity_with(
                "e",
                &format!(r#" protocolSupportEnumeration="{PROTOCOL_SAML2}"{attrs}"#),
                &acs(BINDING_POST, "https://sp.test/", ""),
            );
            parse(&xml).map(|md| (md.authn_requests_signed, md.want_assertions_signed))
        };
        assert_eq!(
            flags(r#" AuthnRequestsSigned="true" WantAssertionsSigned="1""#),
            Ok((true, true))
        );
        assert_eq!(
            flags(r#" AuthnRequestsSigned=" false " WantAssertionsSigned="0""#),
            Ok((false, false))
        );
        let err = flags(r#" AuthnRequestsSigned="yes""#).unwrap_err();
        assert_eq!(err.kind(), "invalid_attribute");
        assert_eq!(
            err.to_string(),
            "the SPSSODescriptor of e has AuthnRequestsSigned=\"yes\", which is not a boolean \
             (true, false, 1 or 0)"
        );
        assert_eq!(
            flags(r#" WantAssertionsSigned="True""#).unwrap_err().kind(),
            "invalid_attribute"
        );
    }

    #[test]
    fn a_bad_index_or_default_flag_names_the_endpoint() {
        let inner = format!(
            "{}{}",
            acs(BINDING_POST, "https://sp.test/1", r#" index="1""#),
            acs(BINDING_POST, "https://sp.test/2", r#" index="65536""#),
        );
        let err = parse(&entity("e", &inner)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AssertionConsumerService #2 of e has index=\"65536\", which is not a whole number \
             from 0 to 65535"
        );
        let inner = acs(BINDING_POST, "https://sp.test/", r#" isDefault="yes""#);
        assert_eq!(kind(&entity("e", &inner)), "invalid_attribute");
    }

    #[test]
    fn endpoints_need_a_binding_and_a_location() {
        let no_location = r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" index="0"/>"#;
        let err = parse(&entity("e", no_location)).unwrap_err();
        assert_eq!(
            err,
            SpMetadataError::InvalidAttribute {
                entity_id: "e".into(),
                element: "AssertionConsumerService #1".into(),
                problem: "has no Location".into(),
            }
        );
        let inner = format!(
            r#"{}<md:SingleLogoutService Location="https://sp.test/slo"/>"#,
            acs(BINDING_POST, "https://sp.test/", "")
        );
        assert_eq!(
            parse(&entity("e", &inner)).unwrap_err().to_string(),
            "SingleLogoutService #1 of e has no Binding"
        );
    }

    #[test]
    fn an_over_long_value_is_quoted_short_in_the_message() {
        let long = "x".repeat(500);
        let inner = acs(
            BINDING_POST,
            "https://sp.test/",
            &format!(r#" index="{long}""#),
        );
        let message = parse(&entity("e", &inner)).unwrap_err().to_string();
        assert!(
            message.contains(&format!("\"{}…\"", "x".repeat(QUOTED_CHARS))),
            "{message}"
        );
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn saml2_must_be_listed_in_protocol_support() {
        let post = acs(BINDING_POST, "https://sp.test/", "");
        let listed = |protocols: &str| {
            let attrs = format!(r#" protocolSupportEnumeration="{protocols}""#);
            kind(&entity_with("e", &attrs, &post))
        };
        assert_eq!(
            listed(&format!(
                "urn:oasis:names:tc:SAML:1.1:protocol\n\t{PROTOCOL_SAML2} urn:oasis:names:tc:SAML:1.0:protocol"
            )),
            "ok"
        );
        assert_eq!(
            listed("urn:oasis:names:tc:SAML:1.1:protocol"),
            "unsupported_protocol"
        );
        assert_eq!(
            listed(&format!("{PROTOCOL_SAML2}x")),
            "unsupported_protocol"
        );
        let err = parse(&entity_with("e", "", &post)).unwrap_err();
        assert_eq!(
            err,
            SpMetadataError::UnsupportedProtocol {
                entity_id: "e".into(),
                protocols: None
            }
        );
        assert!(
            err.to_string()
                .contains("has no protocolSupportEnumeration"),
            "{err}"
        );
    }

    #[test]
    fn without_a_post_acs_the_error_lists_the_bindings_offered() {
        let inner = format!(
            "{}{}",
            acs(ARTIFACT, "https://sp.test/a", r#" index="0""#),
            acs(
                "urn:oasis:names:tc:SAML:1.0:profiles:browser-post",
                "https://sp.test/s1",
                ""
            ),
        );
        let err = parse(&entity("e", &inner)).unwrap_err();
        assert_eq!(
            err,
            SpMetadataError::NoPostAcs {
                entity_id: "e".into(),
                bindings: vec![
                    "HTTP-Artifact".into(),
                    "urn:oasis:names:tc:SAML:1.0:profiles:browser-post".into()
                ]
            }
        );
        assert!(err.to_string().contains("HTTP-POST only"), "{err}");
        assert!(
            parse(&entity("e", ""))
                .unwrap_err()
                .to_string()
                .contains("(it lists none)")
        );
    }

    #[test]
    fn slo_prefers_post_then_redirect_and_keeps_every_one() {
        let post_acs = acs(BINDING_POST, "https://sp.test/", "");
        let soap = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP";
        let all = format!(
            "{post_acs}{}{}{}",
            slo(soap, "https://sp.test/soap"),
            slo(BINDING_REDIRECT, "https://sp.test/redirect"),
            slo(BINDING_POST, "https://sp.test/post").replace(
                "/>",
                r#" ResponseLocation="https://sp.test/post-response"/>"#
            ),
        );
        let md = parse(&entity("e", &all)).unwrap();
        assert_eq!(md.single_logout_services.len(), 3);
        assert_eq!(
            md.slo(),
            Some(&LogoutService {
                binding: BINDING_POST.into(),
                location: "https://sp.test/post".into(),
                response_location: Some("https://sp.test/post-response".into()),
            })
        );
        let redirect_only = format!(
            "{post_acs}{}{}",
            slo(soap, "https://sp.test/soap"),
            slo(BINDING_REDIRECT, "https://sp.test/redirect")
        );
        let md = parse(&entity("e", &redirect_only)).unwrap();
        assert_eq!(md.slo().unwrap().location, "https://sp.test/redirect");
        let soap_only = format!("{post_acs}{}", slo(soap, "https://sp.test/soap"));
        assert_eq!(parse(&entity("e", &soap_only)).unwrap().slo(), None);
    }

    #[test]
    fn key_use_decides_signing_or_encryption() {
        let (a, b, c) = (cert("a"), cert("b"), cert("c"));
        let inner = format!(
            "{}{}{}{}{}",
            key(None, &a),
            key(Some("encryption"), &b),
            key(Some("signing"), &c),
            key(Some("bogus"), &cert("d")),
            acs(BINDING_POST, "https://sp.test/", ""),
        );
        let md = parse(&entity("e", &inner)).unwrap();
        let subjects = |certs: &[Certificate]| -> Vec<String> {
            certs
                .iter()
                .map(|c| c.subject_cn().unwrap().to_string())
                .collect()
        };
        assert_eq!(subjects(&md.signing_certs), ["a", "c"]);
        assert_eq!(subjects(&md.encryption_certs), ["b"]);
    }

    #[test]
    fn a_certificate_listed_twice_for_one_use_is_reported_once() {
        let a = cert("a");
        let wrapped: String = a.chars().flat_map(|ch| [ch, '\n']).collect();
        let inner = format!(
            "{}{}{}{}",
            key(Some("signing"), &a),
            key(None, &wrapped),
            key(Some("encryption"), &a),
            acs(BINDING_POST, "https://sp.test/", ""),
        );
        let md = parse(&entity("e", &inner)).unwrap();
        assert_eq!(md.signing_certs.len(), 1);
        assert_eq!(md.encryption_certs, md.signing_certs);
    }

    #[test]
    fn a_bad_certificate_names_its_use_and_position_but_not_its_text() {
        let junk = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
        let inner = format!(
            "{}{}{}{}",
            key(Some("encryption"), &cert("ok")),
            key(Some("encryption"), junk),
            key(Some("signing"), &cert("fine")),
            acs(BINDING_POST, "https://sp.test/", ""),
        );
        let err = parse(&entity("https://sp.test/", &inner)).unwrap_err();
        assert!(matches!(
            err,
            SpMetadataError::BadCertificate {
                usage: CertificateUse::Encryption,
                index: 2,
                ..
            }
        ));
        let message = err.to_string();
        assert!(
            message.starts_with("encryption certificate #2 of https://sp.test/ is unusable"),
            "{message}"
        );
        assert!(!message.contains(junk) && !format!("{err:?}").contains(junk));
        assert_eq!(
            kind(&entity(
                "e",
                &format!(
                    "{}{}",
                    key(None, "not*base64"),
                    acs(BINDING_POST, "https://sp.test/", "")
                )
            )),
            "bad_certificate"
        );
    }

    #[test]
    fn name_id_formats_are_trimmed_in_order_and_empty_ones_dropped() {
        let inner = format!(
            "<md:NameIDFormat>\n  urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\n</md:NameIDFormat><md:NameIDFormat/><md:NameIDFormat> </md:NameIDFormat><md:NameIDFormat>urn:x:<!-- c -->a&amp;b<![CDATA[c]]></md:NameIDFormat>{}",
            acs(BINDING_POST, "https://sp.test/", "")
        );
        let md = parse(&entity("e", &inner)).unwrap();
        assert_eq!(
            md.name_id_formats,
            [
                "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                "urn:x:a&bc"
            ]
        );
    }

    #[test]
    fn only_direct_children_of_the_first_sp_descriptor_count() {
        let inner = format!(
            r#"<md:Extensions><idpdisc:DiscoveryResponse xmlns:idpdisc="urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" Binding="urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" Location="https://sp.test/ds" index="0" isDefault="true"/><x:AssertionConsumerService xmlns:x="urn:other" Binding="{BINDING_POST}" Location="https://evil.test/"/><md:NameIDFormat>nested</md:NameIDFormat></md:Extensions>{}"#,
            acs(BINDING_POST, "https://sp.test/acs", "")
        );
        let xml = entity("e", &inner).replace(
            "</md:SPSSODescriptor>",
            &format!(
                "</md:SPSSODescriptor><md:SPSSODescriptor protocolSupportEnumeration=\"{PROTOCOL_SAML2}\">{}</md:SPSSODescriptor>",
                acs(BINDING_POST, "https://second.test/", r#" isDefault="true""#)
            ),
        );
        let md = parse(&xml).unwrap();
        assert_eq!(md.assertion_consumer_services.len(), 1);
        assert_eq!(md.acs().location, "https://sp.test/acs");
        assert!(md.name_id_formats.is_empty());
    }

    #[test]
    fn idp_metadata_is_no_sp_descriptor_and_says_it_looks_like_idp_metadata() {
        let xml = minimal().replace("SPSSODescriptor", "IDPSSODescriptor");
        let err = parse(&xml).unwrap_err();
        assert_eq!(err.kind(), "no_sp_descriptor");
        assert!(err.to_string().contains("has an SPSSODescriptor"), "{err}");
        assert!(
            err.to_string()
                .contains("looks like identity-provider metadata"),
            "{err}"
        );
        let other = minimal().replace("SPSSODescriptor", "AttributeAuthorityDescriptor");
        let err = parse(&other).unwrap_err();
        assert_eq!(err.kind(), "no_sp_descriptor");
        assert!(!err.to_string().contains("identity-provider"), "{err}");
    }

    fn aggregate() -> String {
        let bare = |xml: String| xml.replace(&format!(r#" xmlns:md="{MD}" xmlns:ds="{DS}""#), "");
        let sp = |id: &str| {
            bare(entity(
                id,
                &acs(BINDING_POST, &format!("https://{id}.test/acs"), ""),
            ))
        };
        let idp = bare(entity("idp", "").replace("SPSSODescriptor", "IDPSSODescriptor"));
        format!(
            r#"<md:EntitiesDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" cacheDuration="PT6H">{}<md:EntitiesDescriptor validUntil="2030-01-01T00:00:00Z">{idp}{}</md:EntitiesDescriptor></md:EntitiesDescriptor>"#,
            sp("a"),
            sp("b")
        )
    }

    #[test]
    fn several_sps_without_an_entity_id_are_ambiguous() {
        let err = parse(&aggregate()).unwrap_err();
        assert_eq!(
            err,
            SpMetadataError::AmbiguousEntities {
                count: 2,
                entity_ids: vec!["a".into(), "b".into()]
            }
        );
        assert!(
            err.to_string().contains("2 service providers (a, b)"),
            "{err}"
        );
    }

    #[test]
    fn an_entity_id_chooses_among_several_sps_with_the_validity_around_it() {
        let b = parse_sp_metadata(aggregate(), Some("b")).unwrap();
        assert_eq!(b.acs().location, "https://b.test/acs");
        assert_eq!(b.valid_until.as_deref(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(b.cache_duration.as_deref(), Some("PT6H"));
        let a = parse_sp_metadata(aggregate(), Some("a")).unwrap();
        assert_eq!(a.valid_until, None);
    }

    #[test]
    fn an_entity_id_naming_an_idp_or_nothing_has_no_sp_descriptor() {
        let err = parse_sp_metadata(aggregate(), Some("idp")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the EntityDescriptor idp has no SPSSODescriptor, so it is not a service provider \
             (service providers in this metadata: a, b)"
        );
        let err = parse_sp_metadata(aggregate(), Some("missing")).unwrap_err();
        assert_eq!(err.kind(), "no_sp_descriptor");
        assert!(
            err.to_string()
                .contains("no EntityDescriptor has entityID missing"),
            "{err}"
        );
    }

    #[test]
    fn an_entity_with_both_roles_yields_its_sp_side() {
        let xml = minimal().replace(
            "<md:SPSSODescriptor",
            &format!(
                "<md:IDPSSODescriptor protocolSupportEnumeration=\"{PROTOCOL_SAML2}\">{}</md:IDPSSODescriptor><md:SPSSODescriptor",
                acs(BINDING_POST, "https://idp-side.test/", "")
            ),
        );
        assert_eq!(parse(&xml).unwrap().acs().location, "https://sp.test/acs");
    }

    #[test]
    fn document_errors_are_those_of_the_idp_parser() {
        let doctype = format!("<!DOCTYPE md:EntityDescriptor>{}", minimal());
        let err = parse(&doctype).unwrap_err();
        assert_eq!(
            err,
            SpMetadataError::Document(DocumentError::DtdForbidden { position: 0 })
        );
        assert_eq!(err.kind(), "dtd_forbidden");
        let idp_err = crate::metadata::parse_idp_metadata(
            doctype.as_bytes(),
            None,
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), idp_err.to_string());
        assert_eq!(
            kind(&minimal().replace("</md:EntityDescriptor>", "")),
            "not_xml"
        );
        let over = format!(
            "{}<!--{}-->",
            minimal(),
            " ".repeat(super::super::MAX_METADATA_BYTES)
        );
        assert_eq!(kind(&over), "too_large");
        let deep = minimal().replace(
            "</md:SPSSODescriptor>",
            &format!(
                "<md:Extensions>{}{}</md:Extensions></md:SPSSODescriptor>",
                "<x:n xmlns:x=\"urn:x\">".repeat(super::super::MAX_DEPTH),
                "</x:n>".repeat(super::super::MAX_DEPTH)
            ),
        );
        assert_eq!(kind(&deep), "too_deep");
    }

    #[test]
    fn errors_come_in_the_documented_order() {
        // unsupported_protocol before invalid_attribute before no_post_acs before certificates.
        let bad_everything = format!(
            "{}{}",
            key(None, "AAAA"),
            acs(ARTIFACT, "https://sp.test/", r#" index="x""#)
        );
        let attrs = r#" protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol""#;
        assert_eq!(
            kind(&entity_with("e", attrs, &bad_everything)),
            "unsupported_protocol"
        );
        assert_eq!(kind(&entity("e", &bad_everything)), "invalid_attribute");
        let no_post = bad_everything.replace(r#" index="x""#, "");
        assert_eq!(kind(&entity("e", &no_post)), "no_post_acs");
        let post = no_post.replace(ARTIFACT, BINDING_POST);
        assert_eq!(kind(&entity("e", &post)), "bad_certificate");
    }

    #[test]
    fn prefixes_carry_no_meaning() {
        let expected = parse(&minimal()).unwrap();
        let default_ns = minimal().replace("md:", "").replace("xmlns:md=", "xmlns=");
        assert_eq!(parse(&default_ns).unwrap(), expected);
    }
}
