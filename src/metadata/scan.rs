//! One bounded, streaming pass over a SAML metadata document, shared by the IdP parser
//! ([`super::parse_idp_metadata`]) and the SP parser ([`super::sp::parse_sp_metadata`]): the
//! size limit, the encodings, the refusal of DTDs, the well-formedness and depth checks, the
//! namespaces, the choice of one entity with the wanted role descriptor, and what is read from
//! that descriptor (keys, endpoints, NameID formats), left for each parser to interpret.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use jiff::Timestamp;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{MAX_DEPTH, MAX_METADATA_BYTES, MetadataError};
use crate::certs::Certificate;

/// Why a document is not acceptable metadata whatever it describes: too large, a DTD, not
/// well-formed, too deep. Worded and named as the [`MetadataError`] variants of the same
/// names, so both parsers say the same thing about the same document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentError {
    /// Larger than [`MAX_METADATA_BYTES`].
    TooLarge { size: usize },
    /// A DOCTYPE (and so possibly entity declarations) is present.
    DtdForbidden { position: u64 },
    /// Not well-formed XML.
    NotXml { message: String },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep { position: u64 },
}

impl DocumentError {
    /// `too_large`, `dtd_forbidden`, `not_xml` or `too_deep`.
    pub fn kind(&self) -> &'static str {
        MetadataError::from(self.clone()).kind()
    }
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        MetadataError::from(self.clone()).fmt(f)
    }
}

impl std::error::Error for DocumentError {}

impl From<DocumentError> for MetadataError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::TooLarge { size } => MetadataError::TooLarge { size },
            DocumentError::DtdForbidden { position } => MetadataError::DtdForbidden { position },
            DocumentError::NotXml { message } => MetadataError::NotXml { message },
            DocumentError::TooDeep { position } => MetadataError::TooDeep { position },
        }
    }
}

/// The role descriptor a parser looks for, and how its messages name it.
pub(super) struct Role {
    /// Local name of the descriptor element in the metadata namespace.
    descriptor: &'static str,
    /// The descriptor of the opposite role, whose presence makes for a better hint.
    other: &'static str,
    /// An entity with this descriptor ("an identity provider").
    singular: &'static str,
    /// Entities with this descriptor, in the plural ("identity providers").
    plural: &'static str,
    /// What to say when no entity has the descriptor but some have the other one.
    other_hint: &'static str,
}

/// `IDPSSODescriptor`.
pub(super) const IDP: Role = Role {
    descriptor: "IDPSSODescriptor",
    other: "SPSSODescriptor",
    singular: "an identity provider",
    plural: "identity providers",
    other_hint: "this looks like service-provider metadata, not the identity provider's",
};

/// `SPSSODescriptor`.
pub(super) const SP: Role = Role {
    descriptor: "SPSSODescriptor",
    other: "IDPSSODescriptor",
    singular: "a service provider",
    plural: "service providers",
    other_hint: "this looks like identity-provider metadata (the IdP's own document), not the \
                 service provider's",
};

/// Why no entity was chosen.
pub(super) enum Rejected {
    /// The document itself is not acceptable.
    Document(DocumentError),
    /// No entity with the role descriptor (or not the one asked for); the message says why.
    Missing(String),
    /// Several entities have the descriptor and none was asked for: their entity IDs.
    Ambiguous(Vec<String>),
}

impl From<DocumentError> for Rejected {
    fn from(e: DocumentError) -> Self {
        Rejected::Document(e)
    }
}

/// Reads `xml` and returns what the chosen entity's first `role` descriptor holds: the entity
/// `requested`, else the only entity with such a descriptor.
pub(super) fn read_entity(
    xml: &[u8],
    requested: Option<&str>,
    role: &'static Role,
) -> Result<Entity, Rejected> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(DocumentError::TooLarge { size: xml.len() }.into());
    }
    let (text, offset) = decode_text(xml)?;
    let scan = scan_document(&text, offset, requested, role)?;
    choose_entity(scan, requested, role)
}

const MD_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";

/// Certificates in metadata are sometimes published without `=` padding.
const CERT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The text of the document and the byte offset of its first character in the input.
/// UTF-16 input is transcoded, so positions in errors then count bytes of the UTF-8 text.
fn decode_text(xml: &[u8]) -> Result<(Cow<'_, str>, u64), DocumentError> {
    match xml {
        [0xEF, 0xBB, 0xBF, rest @ ..] => Ok((Cow::Borrowed(utf8(rest, 3)?), 3)),
        [0xFF, 0xFE, rest @ ..] => Ok((Cow::Owned(utf16(rest, u16::from_le_bytes)?), 0)),
        [0xFE, 0xFF, rest @ ..] => Ok((Cow::Owned(utf16(rest, u16::from_be_bytes)?), 0)),
        _ => Ok((Cow::Borrowed(utf8(xml, 0)?), 0)),
    }
}

fn utf8(bytes: &[u8], offset: usize) -> Result<&str, DocumentError> {
    std::str::from_utf8(bytes).map_err(|e| {
        not_xml(format!(
            "invalid UTF-8 at byte {}; metadata must be UTF-8, or UTF-16 with a byte-order mark",
            e.valid_up_to() + offset
        ))
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, DocumentError> {
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

fn not_xml(message: String) -> DocumentError {
    DocumentError::NotXml { message }
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

/// The unprefixed attributes the walker reads.
#[derive(Clone, Copy)]
enum Attr {
    EntityId,
    ValidUntil,
    CacheDuration,
    Use,
    Binding,
    Location,
    ResponseLocation,
    Index,
    IsDefault,
    ProtocolSupportEnumeration,
    AuthnRequestsSigned,
    WantAssertionsSigned,
}

/// How many [`Attr`]s there are.
const ATTR_COUNT: usize = 12;

impl Attr {
    /// The attribute a name is, if the walker reads it.
    fn named(key: &[u8]) -> Option<Attr> {
        Some(match key {
            b"entityID" => Attr::EntityId,
            b"validUntil" => Attr::ValidUntil,
            b"cacheDuration" => Attr::CacheDuration,
            b"use" => Attr::Use,
            b"Binding" => Attr::Binding,
            b"Location" => Attr::Location,
            b"ResponseLocation" => Attr::ResponseLocation,
            b"index" => Attr::Index,
            b"isDefault" => Attr::IsDefault,
            b"protocolSupportEnumeration" => Attr::ProtocolSupportEnumeration,
            b"AuthnRequestsSigned" => Attr::AuthnRequestsSigned,
            b"WantAssertionsSigned" => Attr::WantAssertionsSigned,
            _ => return None,
        })
    }
}

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
    raw: [Option<&'e [u8]>; ATTR_COUNT],
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
    ) -> Result<Tag<'e>, DocumentError> {
        let mut tag = Tag {
            e,
            text,
            pos,
            raw: [None; ATTR_COUNT],
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
            if let Some(attr) = Attr::named(key) {
                tag.raw[attr as usize] = Some(value);
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
    fn get(&self, attr: Attr) -> Result<Option<String>, DocumentError> {
        Ok(self.value(attr)?.map(Cow::into_owned))
    }

    /// The value of an attribute the walker looks at, decoded.
    fn value(&self, attr: Attr) -> Result<Option<Cow<'e, str>>, DocumentError> {
        self.raw[attr as usize]
            .map(|raw| self.decode(raw))
            .transpose()
    }

    fn decode<'v>(&self, raw: &'v [u8]) -> Result<Cow<'v, str>, DocumentError>
    where
        'e: 'v,
    {
        let raw = self.as_str(raw)?;
        decode_attribute(raw).map_err(|what| self.bad(what))
    }

    /// `raw` as text. A value lent by the reader lies inside the document, between quotes, so
    /// it is found there rather than validated as UTF-8 a second time.
    fn as_str<'v>(&self, raw: &'v [u8]) -> Result<&'v str, DocumentError>
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

    fn bad(&self, what: String) -> DocumentError {
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
    /// How many entities have the other role's descriptor (for the hint when none has ours).
    other_role_count: usize,
    requested_found: bool,
    candidate_ids: Vec<String>,
    chosen: Option<Entity>,
}

/// What the chosen entity's first role descriptor holds, as written (attribute values decoded).
#[derive(Default)]
pub(super) struct Entity {
    pub entity_id: String,
    /// Earliest `validUntil` of the entity and its enclosing descriptors.
    pub valid_until: Option<String>,
    /// `cacheDuration` of the entity, else of the nearest enclosing descriptor.
    pub cache_duration: Option<String>,
    /// `protocolSupportEnumeration` of the descriptor.
    pub protocols: Option<String>,
    /// `AuthnRequestsSigned` of the descriptor.
    pub authn_requests_signed: Option<String>,
    /// `WantAssertionsSigned` of the descriptor.
    pub want_assertions_signed: Option<String>,
    /// `SingleSignOnService`, `SingleLogoutService` and `AssertionConsumerService` children,
    /// in document order.
    pub endpoints: Vec<Endpoint>,
    /// Each `KeyInfo/X509Data/X509Certificate` of a `KeyDescriptor` child, in document order.
    pub keys: Vec<KeyText>,
    /// The text of each `NameIDFormat` child, trimmed; empty ones left out.
    pub name_id_formats: Vec<String>,
}

/// Which endpoint element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    SingleSignOn,
    SingleLogout,
    AssertionConsumer,
}

impl Service {
    fn named(local: &[u8]) -> Option<Service> {
        match local {
            b"SingleSignOnService" => Some(Service::SingleSignOn),
            b"SingleLogoutService" => Some(Service::SingleLogout),
            b"AssertionConsumerService" => Some(Service::AssertionConsumer),
            _ => None,
        }
    }
}

/// One endpoint element's attributes, decoded, as written.
pub(super) struct Endpoint {
    pub service: Service,
    pub binding: Option<String>,
    pub location: Option<String>,
    pub response_location: Option<String>,
    pub index: Option<String>,
    pub is_default: Option<String>,
}

/// The `use` of a `KeyDescriptor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyUse {
    /// No `use`: SAML applies the key to both uses.
    Unspecified,
    Signing,
    Encryption,
    /// A value the schema does not allow; such a key is for nothing.
    Other,
}

impl KeyUse {
    /// Whether the key is a signing key (`use="signing"` or none).
    pub fn signs(self) -> bool {
        matches!(self, KeyUse::Unspecified | KeyUse::Signing)
    }
}

/// The text of one `X509Certificate`, whitespace already removed, and its key's `use`.
pub(super) struct KeyText {
    pub usage: KeyUse,
    pub text: Vec<u8>,
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
    has_role: bool,
    has_other_role: bool,
    /// Depth of the first role descriptor while it is open.
    role_depth: Option<usize>,
    key: Option<OpenKey>,
    /// Depth of the `NameIDFormat` being read.
    name_id_depth: Option<usize>,
    entity: Entity,
}

/// The `KeyDescriptor` being read; `path` counts how much of
/// `KeyInfo/X509Data/X509Certificate` is open below it.
struct OpenKey {
    depth: usize,
    usage: KeyUse,
    path: usize,
}

const KEY_PATH: [&[u8]; 3] = [b"KeyInfo", b"X509Data", b"X509Certificate"];

/// Event handling state: which descriptors are open, and what was collected.
struct Walker<'r> {
    requested: Option<&'r str>,
    role: &'static Role,
    scopes: Vec<Scope>,
    open: Option<OpenEntity>,
    /// The text of the certificate or NameID format being read.
    text: Vec<u8>,
    scan: Scan,
}

impl Walker<'_> {
    /// Keeps text at `depth` if it belongs to a certificate or NameID format being collected.
    fn text(&mut self, depth: usize, piece: &[u8]) {
        let Some(open) = &self.open else {
            return;
        };
        if !open.collect {
            return;
        }
        match &open.key {
            Some(key) if key.path == KEY_PATH.len() && depth == key.depth + key.path => {
                push_without_whitespace(&mut self.text, piece);
            }
            _ if open.name_id_depth == Some(depth) => self.text.extend_from_slice(piece),
            _ => {}
        }
    }

    fn start(
        &mut self,
        ns: Ns,
        local: &[u8],
        tag: &Tag<'_>,
        depth: usize,
    ) -> Result<(), DocumentError> {
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
                    has_role: false,
                    has_other_role: false,
                    role_depth: None,
                    key: None,
                    name_id_depth: None,
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

        if md && depth == open.depth + 1 {
            if local == self.role.descriptor.as_bytes() && !open.has_role {
                open.has_role = true;
                open.role_depth = Some(depth);
                if open.collect {
                    let entity = &mut open.entity;
                    entity.protocols = tag.get(Attr::ProtocolSupportEnumeration)?;
                    entity.authn_requests_signed = tag.get(Attr::AuthnRequestsSigned)?;
                    entity.want_assertions_signed = tag.get(Attr::WantAssertionsSigned)?;
                }
            } else if local == self.role.other.as_bytes() {
                open.has_other_role = true;
            }
        } else if let (true, Some(role)) = (open.collect, open.role_depth) {
            if md && depth == role + 1 {
                if local == b"KeyDescriptor" {
                    let usage = match tag.value(Attr::Use)?.as_deref() {
                        None => KeyUse::Unspecified,
                        Some("signing") => KeyUse::Signing,
                        Some("encryption") => KeyUse::Encryption,
                        Some(_) => KeyUse::Other,
                    };
                    open.key = Some(OpenKey {
                        depth,
                        usage,
                        path: 0,
                    });
                } else if local == b"NameIDFormat" {
                    open.name_id_depth = Some(depth);
                    self.text.clear();
                } else if let Some(service) = Service::named(local) {
                    open.entity.endpoints.push(Endpoint {
                        service,
                        binding: tag.get(Attr::Binding)?,
                        location: tag.get(Attr::Location)?,
                        response_location: tag.get(Attr::ResponseLocation)?,
                        index: tag.get(Attr::Index)?,
                        is_default: tag.get(Attr::IsDefault)?,
                    });
                }
            } else if let Some(key) = &mut open.key
                && ns == Ns::Ds
                && key.path < KEY_PATH.len()
                && depth == key.depth + key.path + 1
                && local == KEY_PATH[key.path]
            {
                key.path += 1;
                if key.path == KEY_PATH.len() {
                    self.text.clear();
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
                    open.entity.keys.push(KeyText {
                        usage: key.usage,
                        text: self.text.clone(),
                    });
                }
                key.path -= 1;
            } else if depth == key.depth {
                open.key = None;
            }
        }
        if open.name_id_depth == Some(depth) {
            open.name_id_depth = None;
            let format = String::from_utf8_lossy(self.text.trim_ascii());
            if !format.is_empty() {
                open.entity.name_id_formats.push(format.into_owned());
            }
        }
        if open.role_depth == Some(depth) {
            open.role_depth = None;
        }
    }

    fn finish_entity(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        self.scan.entity_count += 1;
        if open.has_other_role {
            self.scan.other_role_count += 1;
        }
        let mut entity = open.entity;
        if self.requested == Some(entity.entity_id.as_str()) {
            self.scan.requested_found = true;
        }
        if !open.has_role {
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
fn scan_document(
    text: &str,
    offset: u64,
    requested: Option<&str>,
    role: &'static Role,
) -> Result<Scan, DocumentError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_comments = true;
    reader.config_mut().check_end_names = true;
    let mut namespaces = Namespaces::default();
    let mut walker = Walker {
        requested,
        role,
        scopes: Vec::new(),
        open: None,
        text: Vec::new(),
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
                    return Err(DocumentError::DtdForbidden { position: pos });
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
                    return Err(DocumentError::TooDeep { position: pos });
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
                } else {
                    walker.text(depth, t);
                }
            }
            Event::CData(c) => {
                if depth == 0 {
                    return Err(not_xml(format!(
                        "CDATA section outside the root element at byte {pos}"
                    )));
                }
                walker.text(depth, c);
            }
            Event::GeneralRef(r) => {
                if depth == 0 {
                    return Err(not_xml(format!(
                        "entity reference outside the root element at byte {pos}"
                    )));
                }
                let mut utf8 = [0; 4];
                let piece = match decode_reference(r, pos)? {
                    Decoded::Char(ch) => ch.encode_utf8(&mut utf8),
                    Decoded::Str(s) => s,
                };
                walker.text(depth, piece.as_bytes());
            }
            Event::Decl(_) => {
                if !first_event {
                    return Err(not_xml(format!(
                        "XML declaration at byte {pos}; it is only allowed at the very start"
                    )));
                }
            }
            Event::DocType(_) => return Err(DocumentError::DtdForbidden { position: pos }),
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
) -> Result<Decoded, DocumentError> {
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

fn choose_entity(scan: Scan, requested: Option<&str>, role: &Role) -> Result<Entity, Rejected> {
    let missing = |message: String| Rejected::Missing(message);
    if let Some(problem) = scan.root_problem {
        return Err(missing(problem));
    }
    if let Some(chosen) = scan.chosen
        && (requested.is_some() || scan.candidate_ids.len() == 1)
    {
        return Ok(chosen);
    }
    let Role {
        descriptor,
        singular,
        plural,
        ..
    } = role;
    let candidates = if scan.candidate_ids.is_empty() {
        "none".to_string()
    } else {
        scan.candidate_ids.join(", ")
    };
    match requested {
        Some(wanted) if scan.requested_found => Err(missing(format!(
            "the EntityDescriptor {wanted} has no {descriptor}, so it is not {singular} \
             ({plural} in this metadata: {candidates})"
        ))),
        Some(wanted) => Err(missing(format!(
            "no EntityDescriptor has entityID {wanted} ({plural} in this metadata: \
             {candidates})"
        ))),
        None if scan.candidate_ids.len() > 1 => Err(Rejected::Ambiguous(scan.candidate_ids)),
        None if scan.entity_count == 0 => Err(missing(
            "the metadata contains no EntityDescriptor".to_string(),
        )),
        None if scan.other_role_count > 0 => Err(missing(format!(
            "none of the {} EntityDescriptor(s) has an {descriptor}; {}",
            scan.entity_count, role.other_hint
        ))),
        None => Err(missing(format!(
            "none of the {} EntityDescriptor(s) has an {descriptor}",
            scan.entity_count
        ))),
    }
}

/// Decodes `X509Certificate` texts in order, leaving out a certificate (same DER) seen before.
/// On failure: the 1-based position of the text among `texts`, and what is wrong with it.
pub(super) fn decode_certificates<'t>(
    texts: impl IntoIterator<Item = &'t [u8]>,
) -> Result<Vec<Certificate>, (usize, String)> {
    let mut certs: Vec<Certificate> = Vec::new();
    for (i, text) in texts.into_iter().enumerate() {
        let der = decode_cert_text(text).map_err(|message| (i + 1, message))?;
        if certs.iter().any(|c| c.der() == der.as_slice()) {
            continue;
        }
        certs.push(Certificate::from_der(der).map_err(|e| (i + 1, e.to_string()))?);
    }
    Ok(certs)
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
