//! IdP federation metadata XML → [`IdpMetadata`] (pure, streaming, bounded).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use jiff::Timestamp;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::certs::{Certificate, Validity};
use crate::crd::ProtocolBinding;

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

const MD_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Certificates in metadata are sometimes published without `=` padding.
const CERT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses federation metadata and picks one IdP entity (`entity_id` chooses among several)
/// and one signing certificate (valid at `now`, latest notAfter).
pub fn parse_idp_metadata(
    xml: &[u8],
    entity_id: Option<&str>,
    now: Timestamp,
) -> Result<IdpMetadata, MetadataError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge { size: xml.len() });
    }
    let (text, offset) = decode_text(xml)?;
    let scan = scan_document(&text, offset, entity_id)?;
    let entity = choose_entity(scan, entity_id)?;
    build_metadata(entity, now)
}

/// The text of the document and the byte offset of its first character in the input.
/// UTF-16 input is transcoded, so positions in errors then count bytes of the UTF-8 text.
fn decode_text(xml: &[u8]) -> Result<(Cow<'_, str>, u64), MetadataError> {
    match xml {
        [0xEF, 0xBB, 0xBF, rest @ ..] => Ok((Cow::Borrowed(utf8(rest, 3)?), 3)),
        [0xFF, 0xFE, rest @ ..] => Ok((Cow::Owned(utf16(rest, u16::from_le_bytes)?), 0)),
        [0xFE, 0xFF, rest @ ..] => Ok((Cow::Owned(utf16(rest, u16::from_be_bytes)?), 0)),
        _ => Ok((Cow::Borrowed(utf8(xml, 0)?), 0)),
    }
}

fn utf8(bytes: &[u8], offset: usize) -> Result<&str, MetadataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        not_xml(format!(
            "invalid UTF-8 at byte {}; metadata must be UTF-8, or UTF-16 with a byte-order mark",
            e.valid_up_to() + offset
        ))
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, MetadataError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(not_xml(
            "the document starts with a UTF-16 byte-order mark but has an odd number of bytes"
                .into(),
        ));
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    let mut text = String::with_capacity(bytes.len());
    for decoded in char::decode_utf16(units) {
        let ch = decoded.map_err(|e| {
            not_xml(format!(
                "invalid UTF-16: unpaired surrogate {:#06x}",
                e.unpaired_surrogate()
            ))
        })?;
        text.push(ch);
    }
    Ok(text)
}

fn not_xml(message: String) -> MetadataError {
    MetadataError::NotXml { message }
}

/// Namespace of an element, reduced to what the parser distinguishes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Md,
    Ds,
    Other,
    Undeclared,
}

impl Ns {
    /// The namespace a declaration's (decoded) value names.
    fn named(uri: &[u8]) -> Ns {
        match uri {
            MD_NS => Ns::Md,
            DS_NS => Ns::Ds,
            _ => Ns::Other,
        }
    }
}

/// The namespace declarations in scope, innermost last.
#[derive(Default)]
struct Namespaces {
    bindings: Vec<Binding>,
    /// The prefixes of `bindings`, end to end.
    prefixes: Vec<u8>,
}

/// `xmlns:prefix="…"` (or `xmlns="…"` with an empty prefix) on the element at `depth`.
struct Binding {
    prefix: std::ops::Range<usize>,
    ns: Ns,
    depth: usize,
}

impl Namespaces {
    fn declare(&mut self, prefix: &[u8], uri: &[u8], depth: usize) {
        let ns = if uri.is_empty() && !prefix.is_empty() {
            // `xmlns:p=""` is not allowed (Namespaces in XML 1.0 §3), so `p` stays unusable.
            Ns::Undeclared
        } else {
            Ns::named(uri)
        };
        let start = self.prefixes.len();
        self.prefixes.extend_from_slice(prefix);
        self.bindings.push(Binding {
            prefix: start..self.prefixes.len(),
            ns,
            depth,
        });
    }

    /// The namespace of an element name with this prefix (`None`: no prefix).
    fn resolve(&self, prefix: Option<&[u8]>) -> Ns {
        let wanted = prefix.unwrap_or_default();
        let bound =
            self.bindings.iter().rev().find(|b| {
                b.prefix.len() == wanted.len() && self.prefixes[b.prefix.clone()] == *wanted
            });
        match bound {
            Some(binding) => binding.ns,
            None if prefix.is_none() || wanted == b"xml" => Ns::Other,
            None => Ns::Undeclared,
        }
    }

    /// Forgets the declarations of the element at `depth`, which has just closed.
    fn close(&mut self, depth: usize) {
        while let Some(last) = self.bindings.last()
            && last.depth == depth
        {
            self.prefixes.truncate(last.prefix.start);
            self.bindings.pop();
        }
    }
}

/// One `name="value"` of a start tag, undecoded.
struct RawAttr<'a> {
    key: &'a [u8],
    value: &'a [u8],
    /// Whether the value holds a `&` reference (which then needs resolving and checking).
    has_reference: bool,
}

/// Splits the attribute part of a start tag (what follows the element name) into attributes,
/// checking the XML 1.0 §3.1 syntax `S Name S? = S? "value"` and that no value holds a raw `<`.
/// quick-xml's attribute iterator does the same, but then each value needs two more searches
/// (for `<` and for `&`); here one search finds the closing quote, `<` and `&` together.
struct AttrScanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for AttrScanner<'a> {
    type Item = Result<RawAttr<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.at;
        let mut i = start;
        while self.bytes.get(i).is_some_and(is_xml_space) {
            i += 1;
        }
        if i >= self.bytes.len() {
            return None;
        }
        let attr = self.scan(i, i > start);
        if attr.is_err() {
            // Nothing after a syntax error is trustworthy.
            self.at = self.bytes.len();
        }
        Some(attr)
    }
}

impl<'a> AttrScanner<'a> {
    fn scan(&mut self, mut i: usize, spaced: bool) -> Result<RawAttr<'a>, String> {
        let bytes = self.bytes;
        let key_start = i;
        while let Some(b) = bytes.get(i)
            && *b != b'='
            && !is_xml_space(b)
        {
            if matches!(b, b'"' | b'\'') {
                return Err("a quote where an attribute name was expected".into());
            }
            i += 1;
        }
        let key = &bytes[key_start..i];
        let named = || String::from_utf8_lossy(key);
        if key.is_empty() {
            return Err("`=` without an attribute name".into());
        }
        if !spaced {
            return Err(format!("no whitespace before attribute {}", named()));
        }
        while bytes.get(i).is_some_and(is_xml_space) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            return Err(format!("attribute {} has no `=` and value", named()));
        }
        i += 1;
        while bytes.get(i).is_some_and(is_xml_space) {
            i += 1;
        }
        let quote = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(format!("the value of attribute {} is not quoted", named())),
        };
        let value_start = i + 1;
        let mut from = value_start;
        let mut has_reference = false;
        loop {
            let rest = bytes.get(from..).unwrap_or_default();
            let Some(found) = memchr::memchr3(quote, b'<', b'&', rest) else {
                return Err(format!(
                    "the value of attribute {} has no closing quote",
                    named()
                ));
            };
            let at = from + found;
            match bytes[at] {
                b'<' => return Err(format!("a raw `<` in the value of attribute {}", named())),
                b'&' => {
                    has_reference = true;
                    from = at + 1;
                }
                _ => {
                    self.at = at + 1;
                    return Ok(RawAttr {
                        key,
                        value: &bytes[value_start..at],
                        has_reference,
                    });
                }
            }
        }
    }
}

/// The unprefixed attributes the walker reads, in [`ATTR_NAMES`] order.
#[derive(Clone, Copy)]
enum Attr {
    EntityId,
    ValidUntil,
    CacheDuration,
    Use,
    Binding,
    Location,
}

const ATTR_NAMES: [&[u8]; 6] = [
    b"entityID",
    b"validUntil",
    b"cacheDuration",
    b"use",
    b"Binding",
    b"Location",
];

/// How many attribute names the duplicate check compares pairwise, in a fixed array; a tag
/// with more has all its names sorted instead (pairwise would be quadratic in hostile input).
const INLINE_ATTRS: usize = 8;

/// One start tag, read once: its attributes are checked, its namespace declarations are in
/// scope, and the raw values the walker may want are kept (undecoded).
struct Tag<'e> {
    e: &'e BytesStart<'e>,
    /// The document `e` was read from.
    text: &'e str,
    pos: u64,
    raw: [Option<&'e [u8]>; ATTR_NAMES.len()],
}

impl<'e> Tag<'e> {
    /// Checks every attribute of `e` (well-formed, unique, no raw `<`, valid references) and
    /// declares its namespaces at `depth`.
    fn read(
        e: &'e BytesStart<'e>,
        text: &'e str,
        depth: usize,
        pos: u64,
        namespaces: &mut Namespaces,
    ) -> Result<Tag<'e>, MetadataError> {
        let mut tag = Tag {
            e,
            text,
            pos,
            raw: [None; ATTR_NAMES.len()],
        };
        let mut seen: [&[u8]; INLINE_ATTRS] = [b""; INLINE_ATTRS];
        // Every name, once there are more than INLINE_ATTRS.
        let mut many: Vec<&[u8]> = Vec::new();
        let attrs = AttrScanner {
            bytes: e.attributes_raw(),
            at: 0,
        };
        for (count, attr) in attrs.enumerate() {
            let RawAttr {
                key,
                value,
                has_reference,
            } = attr.map_err(|what| tag.bad(format!("malformed attribute ({what})")))?;
            if count < INLINE_ATTRS {
                if seen[..count].contains(&key) {
                    return Err(tag.bad(format!(
                        "duplicate attribute {}",
                        String::from_utf8_lossy(key)
                    )));
                }
                seen[count] = key;
            } else {
                if many.is_empty() {
                    many.extend_from_slice(&seen);
                }
                many.push(key);
            }
            if has_reference {
                tag.decode(value)?;
            }
            if let Some(prefix) = key.strip_prefix(b"xmlns") {
                let prefix = match prefix {
                    [] => Some(&[][..]),
                    [b':', rest @ ..] => Some(rest),
                    _ => None,
                };
                if let Some(prefix) = prefix {
                    // A value with no reference and no whitespace to normalise is its own
                    // decoding.
                    let uri = if has_reference || value.iter().any(is_xml_space) {
                        Cow::Owned(tag.decode(value)?.into_owned().into_bytes())
                    } else {
                        Cow::Borrowed(value)
                    };
                    namespaces.declare(prefix, &uri, depth);
                    continue;
                }
            }
            if let Some(i) = ATTR_NAMES.iter().position(|name| *name == key) {
                tag.raw[i] = Some(value);
            }
        }
        if !many.is_empty() {
            many.sort_unstable();
            if let Some(pair) = many.windows(2).find(|pair| pair[0] == pair[1]) {
                return Err(tag.bad(format!(
                    "duplicate attribute {}",
                    String::from_utf8_lossy(pair[0])
                )));
            }
        }
        Ok(tag)
    }

    /// The value of an attribute the walker keeps, decoded.
    fn get(&self, attr: Attr) -> Result<Option<String>, MetadataError> {
        Ok(self.value(attr)?.map(Cow::into_owned))
    }

    /// The value of an attribute the walker looks at, decoded.
    fn value(&self, attr: Attr) -> Result<Option<Cow<'e, str>>, MetadataError> {
        self.raw[attr as usize]
            .map(|raw| self.decode(raw))
            .transpose()
    }

    fn decode<'v>(&self, raw: &'v [u8]) -> Result<Cow<'v, str>, MetadataError>
    where
        'e: 'v,
    {
        let raw = self.as_str(raw)?;
        decode_attribute(raw).map_err(|what| self.bad(what))
    }

    /// `raw` as text. A value lent by the reader lies inside the document, between quotes, so
    /// it is found there rather than validated as UTF-8 a second time.
    fn as_str<'v>(&self, raw: &'v [u8]) -> Result<&'v str, MetadataError>
    where
        'e: 'v,
    {
        let start = (raw.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        match self.text.get(start..start.wrapping_add(raw.len())) {
            Some(within) if within.as_ptr() == raw.as_ptr() => Ok(within),
            _ => std::str::from_utf8(raw)
                .map_err(|err| self.bad(format!("attribute value is not UTF-8 ({err})"))),
        }
    }

    fn bad(&self, what: String) -> MetadataError {
        not_xml(format!(
            "{what} in <{}> at byte {}",
            String::from_utf8_lossy(self.e.name().as_ref()),
            self.pos
        ))
    }
}

/// What one pass over the document found.
#[derive(Default)]
struct Scan {
    root_problem: Option<String>,
    entity_count: usize,
    requested_found: bool,
    candidate_ids: Vec<String>,
    chosen: Option<Entity>,
}

/// The details read from one IdP entity.
#[derive(Default)]
struct Entity {
    entity_id: String,
    valid_until: Option<String>,
    cache_duration: Option<String>,
    sso_redirect: Option<String>,
    sso_post: Option<String>,
    slo_redirect: Option<String>,
    slo_post: Option<String>,
    /// Text of each signing `X509Certificate`, whitespace already removed.
    cert_texts: Vec<Vec<u8>>,
}

/// The validity attributes of an enclosing `EntitiesDescriptor`.
struct Scope {
    valid_until: Option<String>,
    cache_duration: Option<String>,
}

/// The `EntityDescriptor` being read.
struct OpenEntity {
    depth: usize,
    /// Whether this entity may become the result, so its details are worth keeping.
    collect: bool,
    is_idp: bool,
    /// Depth of the first `IDPSSODescriptor` while it is open.
    idp_depth: Option<usize>,
    key: Option<OpenKey>,
    entity: Entity,
}

/// The `KeyDescriptor` being read; `path` counts how much of
/// `KeyInfo/X509Data/X509Certificate` is open below it.
struct OpenKey {
    depth: usize,
    signing: bool,
    path: usize,
}

const KEY_PATH: [&[u8]; 3] = [b"KeyInfo", b"X509Data", b"X509Certificate"];

/// Event handling state: which descriptors are open, and what was collected.
struct Walker<'r> {
    requested: Option<&'r str>,
    scopes: Vec<Scope>,
    open: Option<OpenEntity>,
    cert_text: Vec<u8>,
    scan: Scan,
}

impl Walker<'_> {
    /// Whether text at `depth` belongs to a signing certificate being collected.
    fn in_cert(&self, depth: usize) -> bool {
        match &self.open {
            Some(OpenEntity {
                collect: true,
                key: Some(key),
                ..
            }) => key.signing && key.path == KEY_PATH.len() && depth == key.depth + key.path,
            _ => false,
        }
    }

    fn start(
        &mut self,
        ns: Ns,
        local: &[u8],
        tag: &Tag<'_>,
        depth: usize,
    ) -> Result<(), MetadataError> {
        let e = tag.e;
        let md = ns == Ns::Md;
        if depth == 1 && !(md && (local == b"EntityDescriptor" || local == b"EntitiesDescriptor")) {
            self.scan.root_problem = Some(format!(
                "the root element is <{}>, not md:EntityDescriptor or md:EntitiesDescriptor \
                 (namespace {}); this is not SAML metadata",
                String::from_utf8_lossy(e.name().as_ref()),
                String::from_utf8_lossy(MD_NS)
            ));
        }
        let Some(open) = &mut self.open else {
            let on_chain = self.scan.root_problem.is_none() && self.scopes.len() + 1 == depth;
            if md && on_chain && local == b"EntitiesDescriptor" {
                let valid_until = tag.get(Attr::ValidUntil)?;
                let cache_duration = tag.get(Attr::CacheDuration)?;
                self.scopes.push(Scope {
                    valid_until,
                    cache_duration,
                });
            } else if md && on_chain && local == b"EntityDescriptor" {
                let entity_id = tag.get(Attr::EntityId)?.unwrap_or_default();
                let valid_until = tag.get(Attr::ValidUntil)?;
                let cache_duration = tag.get(Attr::CacheDuration)?;
                let collect = self.scan.chosen.is_none()
                    && self.requested.is_none_or(|wanted| wanted == entity_id);
                self.open = Some(OpenEntity {
                    depth,
                    collect,
                    is_idp: false,
                    idp_depth: None,
                    key: None,
                    entity: Entity {
                        entity_id,
                        valid_until,
                        cache_duration,
                        ..Entity::default()
                    },
                });
            }
            return Ok(());
        };

        if md && depth == open.depth + 1 && local == b"IDPSSODescriptor" && !open.is_idp {
            open.is_idp = true;
            open.idp_depth = Some(depth);
        } else if let (true, Some(idp)) = (open.collect, open.idp_depth) {
            if md && depth == idp + 1 {
                match local {
                    b"KeyDescriptor" => {
                        let key_use = tag.value(Attr::Use)?;
                        open.key = Some(OpenKey {
                            depth,
                            signing: key_use.is_none_or(|u| u == "signing"),
                            path: 0,
                        });
                        return Ok(());
                    }
                    b"SingleSignOnService" | b"SingleLogoutService" => {
                        let binding = tag.value(Attr::Binding)?;
                        let entity = &mut open.entity;
                        let (redirect, post) = if local == b"SingleSignOnService" {
                            (&mut entity.sso_redirect, &mut entity.sso_post)
                        } else {
                            (&mut entity.slo_redirect, &mut entity.slo_post)
                        };
                        let slot = match binding.as_deref() {
                            Some(BINDING_REDIRECT) => redirect,
                            Some(BINDING_POST) => post,
                            _ => return Ok(()),
                        };
                        if slot.is_none() {
                            *slot = tag.get(Attr::Location)?;
                        }
                        return Ok(());
                    }
                    _ => {}
                }
            } else if let Some(key) = &mut open.key
                && ns == Ns::Ds
                && key.signing
                && key.path < KEY_PATH.len()
                && depth == key.depth + key.path + 1
                && local == KEY_PATH[key.path]
            {
                key.path += 1;
                if key.path == KEY_PATH.len() {
                    self.cert_text.clear();
                }
            }
        }
        Ok(())
    }

    fn end(&mut self, depth: usize) {
        let Some(open) = &mut self.open else {
            if depth > 0 && self.scopes.len() == depth {
                self.scopes.pop();
            }
            return;
        };
        if depth == open.depth {
            self.finish_entity();
            return;
        }
        if let Some(key) = &mut open.key {
            if key.path > 0 && depth == key.depth + key.path {
                if key.path == KEY_PATH.len() {
                    open.entity.cert_texts.push(self.cert_text.clone());
                }
                key.path -= 1;
            } else if depth == key.depth {
                open.key = None;
            }
        }
        if open.idp_depth == Some(depth) {
            open.idp_depth = None;
        }
    }

    fn finish_entity(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        self.scan.entity_count += 1;
        let mut entity = open.entity;
        if self.requested == Some(entity.entity_id.as_str()) {
            self.scan.requested_found = true;
        }
        if !open.is_idp {
            return;
        }
        self.scan.candidate_ids.push(entity.entity_id.clone());
        if open.collect && self.scan.chosen.is_none() {
            let enclosing = self.scopes.iter().filter_map(|s| s.valid_until.as_deref());
            entity.valid_until = earliest_date_time(enclosing.chain(entity.valid_until.as_deref()));
            if entity.cache_duration.is_none() {
                entity.cache_duration = self
                    .scopes
                    .iter()
                    .rev()
                    .find_map(|s| s.cache_duration.clone());
            }
            self.scan.chosen = Some(entity);
        }
    }
}

/// Reads the whole document once, checking well-formedness, and collects the candidate entity.
fn scan_document(text: &str, offset: u64, requested: Option<&str>) -> Result<Scan, MetadataError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_comments = true;
    reader.config_mut().check_end_names = true;
    let mut namespaces = Namespaces::default();
    let mut walker = Walker {
        requested,
        scopes: Vec::new(),
        open: None,
        cert_text: Vec::new(),
        scan: Scan::default(),
    };
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut first_event = true;
    loop {
        let start = reader.buffer_position();
        let pos = start + offset;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let at = usize::try_from(start).unwrap_or(usize::MAX);
                if text
                    .get(at..)
                    .is_some_and(|rest| rest.starts_with("<!DOCTYPE"))
                {
                    return Err(MetadataError::DtdForbidden { position: pos });
                }
                return Err(not_xml(format!(
                    "{e} (at byte {})",
                    reader.error_position() + offset
                )));
            }
        };
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                if depth == 0 && root_seen {
                    return Err(not_xml(format!(
                        "a second root element <{}> at byte {pos}; a document has exactly one",
                        String::from_utf8_lossy(e.name().as_ref())
                    )));
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(MetadataError::TooDeep { position: pos });
                }
                let tag = Tag::read(e, text, depth, pos, &mut namespaces)?;
                let name = e.name().into_inner();
                let (prefix, local) = match memchr::memchr(b':', name) {
                    Some(colon) => (Some(&name[..colon]), &name[colon + 1..]),
                    None => (None, name),
                };
                let ns = namespaces.resolve(prefix);
                if ns == Ns::Undeclared {
                    return Err(not_xml(format!(
                        "element <{}> at byte {pos} uses an undeclared namespace prefix",
                        String::from_utf8_lossy(name)
                    )));
                }
                root_seen = true;
                walker.start(ns, local, &tag, depth)?;
                if matches!(event, Event::Empty(_)) {
                    walker.end(depth);
                    namespaces.close(depth);
                    depth -= 1;
                }
            }
            Event::End(_) => {
                walker.end(depth);
                namespaces.close(depth);
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if depth == 0 {
                    if !t.iter().all(is_xml_space) {
                        return Err(not_xml(format!(
                            "text outside the root element at byte {pos}"
                        )));
                    }
                } else if walker.in_cert(depth) {
                    push_without_whitespace(&mut walker.cert_text, t);
                }
            }
            Event::CData(c) => {
                if depth == 0 {
                    return Err(not_xml(format!(
                        "CDATA section outside the root element at byte {pos}"
                    )));
                }
                if walker.in_cert(depth) {
                    push_without_whitespace(&mut walker.cert_text, c);
                }
            }
            Event::GeneralRef(r) => {
                if depth == 0 {
                    return Err(not_xml(format!(
                        "entity reference outside the root element at byte {pos}"
                    )));
                }
                let decoded = decode_reference(r, pos)?;
                if walker.in_cert(depth) {
                    let mut utf8 = [0; 4];
                    let piece = match decoded {
                        Decoded::Char(ch) => ch.encode_utf8(&mut utf8),
                        Decoded::Str(s) => s,
                    };
                    push_without_whitespace(&mut walker.cert_text, piece.as_bytes());
                }
            }
            Event::Decl(_) => {
                if !first_event {
                    return Err(not_xml(format!(
                        "XML declaration at byte {pos}; it is only allowed at the very start"
                    )));
                }
            }
            Event::DocType(_) => return Err(MetadataError::DtdForbidden { position: pos }),
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                if !root_seen {
                    return Err(not_xml("the document has no root element".into()));
                }
                if depth > 0 {
                    return Err(not_xml(format!(
                        "the document ends with {depth} element(s) still open (truncated?)"
                    )));
                }
                return Ok(walker.scan);
            }
        }
        first_event = false;
    }
}

enum Decoded {
    Char(char),
    Str(&'static str),
}

/// Resolves `&name;` or `&#N;`. Without a DTD only the five predefined entities exist.
fn decode_reference(
    r: &quick_xml::events::BytesRef<'_>,
    pos: u64,
) -> Result<Decoded, MetadataError> {
    let bad = |what: String| not_xml(format!("{what} at byte {pos}"));
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(ch)) if is_xml_char(ch) => Ok(Decoded::Char(ch)),
            Ok(_) => Err(bad(
                "a character reference to a character XML forbids".into()
            )),
            Err(e) => Err(bad(format!("invalid character reference ({e})"))),
        };
    }
    let name = r
        .decode()
        .map_err(|e| bad(format!("invalid entity reference ({e})")))?;
    match quick_xml::escape::resolve_predefined_entity(&name) {
        Some(s) => Ok(Decoded::Str(s)),
        None => Err(bad(format!(
            "undeclared entity &{name}; (only &lt; &gt; &amp; &quot; &apos; and character \
             references exist without a DTD)"
        ))),
    }
}

fn is_xml_char(ch: char) -> bool {
    matches!(ch, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Attribute-value normalisation (raw tabs and line ends become spaces) then unescaping.
fn decode_attribute(raw: &str) -> Result<Cow<'_, str>, String> {
    // Printable ASCII without references needs neither step, and is every character XML allows.
    if raw.bytes().all(|b| matches!(b, b' '..=b'~') && b != b'&') {
        return Ok(Cow::Borrowed(raw));
    }
    let normalized: Cow<'_, str> = if raw.contains(['\t', '\n', '\r']) {
        Cow::Owned(raw.replace("\r\n", " ").replace(['\t', '\n', '\r'], " "))
    } else {
        Cow::Borrowed(raw)
    };
    let value = quick_xml::escape::unescape(&normalized)
        .map_err(|e| format!("bad reference in attribute value ({e})"))?;
    if let Some(ch) = value.chars().find(|c| !is_xml_char(*c)) {
        return Err(format!(
            "attribute value contains the forbidden character U+{:04X}",
            u32::from(ch)
        ));
    }
    Ok(Cow::Owned(value.into_owned()))
}

/// The earliest of several xs:dateTime values, as written; values that do not parse rank last.
fn earliest_date_time<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(&str, Option<Timestamp>)> = None;
    for value in values {
        let at = parse_date_time(value);
        let better = match best {
            None => true,
            Some((_, best_at)) => match (at, best_at) {
                (Some(at), Some(best_at)) => at < best_at,
                (Some(_), None) => true,
                _ => false,
            },
        };
        if better {
            best = Some((value, at));
        }
    }
    best.map(|(value, _)| value.to_string())
}

/// xs:dateTime; a value without a time zone is taken as UTC.
pub(crate) fn parse_date_time(value: &str) -> Option<Timestamp> {
    let value = value.trim();
    value.parse::<Timestamp>().ok().or_else(|| {
        let civil: jiff::civil::DateTime = value.parse().ok()?;
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })
}

fn choose_entity(scan: Scan, requested: Option<&str>) -> Result<Entity, MetadataError> {
    let no_idp = |message: String| MetadataError::NoIdpDescriptor { message };
    if let Some(problem) = scan.root_problem {
        return Err(no_idp(problem));
    }
    if let Some(chosen) = scan.chosen
        && (requested.is_some() || scan.candidate_ids.len() == 1)
    {
        return Ok(chosen);
    }
    let idps = if scan.candidate_ids.is_empty() {
        "none".to_string()
    } else {
        scan.candidate_ids.join(", ")
    };
    match requested {
        Some(wanted) if scan.requested_found => Err(no_idp(format!(
            "the EntityDescriptor {wanted} has no IDPSSODescriptor, so it is not an identity \
             provider (identity providers in this metadata: {idps})"
        ))),
        Some(wanted) => Err(no_idp(format!(
            "no EntityDescriptor has entityID {wanted} (identity providers in this metadata: \
             {idps})"
        ))),
        None if scan.candidate_ids.len() > 1 => Err(MetadataError::AmbiguousEntities {
            count: scan.candidate_ids.len(),
            entity_ids: scan.candidate_ids,
        }),
        None if scan.entity_count == 0 => Err(no_idp(
            "the metadata contains no EntityDescriptor".to_string(),
        )),
        None => Err(no_idp(format!(
            "none of the {} EntityDescriptor(s) has an IDPSSODescriptor; this looks like \
             service-provider metadata, not the identity provider's",
            scan.entity_count
        ))),
    }
}

fn build_metadata(entity: Entity, now: Timestamp) -> Result<IdpMetadata, MetadataError> {
    if entity.cert_texts.is_empty() {
        return Err(MetadataError::NoSigningCert {
            entity_id: entity.entity_id,
        });
    }
    let mut certs: Vec<Certificate> = Vec::with_capacity(entity.cert_texts.len());
    for (i, text) in entity.cert_texts.iter().enumerate() {
        let bad = |message: String| MetadataError::BadCertificate {
            entity_id: entity.entity_id.clone(),
            index: i + 1,
            message,
        };
        let der = decode_cert_text(text).map_err(bad)?;
        if certs.iter().any(|c| c.der() == der.as_slice()) {
            continue;
        }
        certs.push(Certificate::from_der(der).map_err(|e| bad(e.to_string()))?);
    }
    let selected = select_certificate(&certs, now);
    Ok(IdpMetadata {
        entity_id: entity.entity_id,
        sso_redirect: entity.sso_redirect,
        sso_post: entity.sso_post,
        slo: entity.slo_redirect.or(entity.slo_post),
        signing_certs: certs,
        selected,
        valid_until: entity.valid_until,
        cache_duration: entity.cache_duration,
    })
}

fn is_xml_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Appends `text` without its XML whitespace: base64 in metadata is often wrapped and indented.
fn push_without_whitespace(out: &mut Vec<u8>, text: &[u8]) {
    if memchr::memchr(b'\t', text).is_some() {
        out.extend(text.iter().filter(|b| !is_xml_space(b)));
        return;
    }
    let mut rest = text;
    while let Some(at) = memchr::memchr3(b' ', b'\r', b'\n', rest) {
        out.extend_from_slice(&rest[..at]);
        // Indentation comes in runs: step over the whole run before searching again.
        let run = rest[at..].iter().take_while(|b| is_xml_space(b)).count();
        rest = &rest[at + run..];
    }
    out.extend_from_slice(rest);
}

/// DER from the (whitespace-free) base64 text of an `X509Certificate`; PEM armour is ignored.
fn decode_cert_text(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = text;
    // Base64 has no `-`, so only armoured text needs looking at.
    if memchr::memchr(b'-', body).is_some() {
        if let Some(rest) = body.strip_prefix(b"-----BEGIN") {
            body = match rest.windows(5).position(|w| w == b"-----") {
                Some(i) => &rest[i + 5..],
                None => rest,
            };
        }
        if let Some(i) = body.windows(8).rposition(|w| w == b"-----END") {
            body = &body[..i];
        }
    }
    if body.is_empty() {
        return Err("the X509Certificate element is empty".into());
    }
    CERT_BASE64
        .decode(body)
        .map_err(|e| format!("the text is not base64 ({e})"))
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
