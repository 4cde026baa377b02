//! IdP federation metadata XML → [`IdpMetadata`] (pure, streaming, bounded).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use jiff::Timestamp;
use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

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
    #[error("metadata contains a DOCTYPE declaration at byte {position}; DTDs and entities are not allowed")]
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
    AmbiguousEntities { count: usize, entity_ids: Vec<String> },
    /// The IdP descriptor has no signing certificate.
    #[error("the IDPSSODescriptor of {entity_id} has no signing certificate (KeyDescriptor use=\"signing\" or without use)")]
    NoSigningCert { entity_id: String },
    /// A signing certificate does not parse.
    #[error("signing certificate #{index} of {entity_id} is unusable: {message}")]
    BadCertificate { entity_id: String, index: usize, message: String },
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
    if bytes.len() % 2 != 0 {
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
    fn of(resolved: &ResolveResult<'_>) -> Ns {
        match resolved {
            ResolveResult::Bound(ns) if ns.as_ref() == MD_NS => Ns::Md,
            ResolveResult::Bound(ns) if ns.as_ref() == DS_NS => Ns::Ds,
            ResolveResult::Unknown(_) => Ns::Undeclared,
            _ => Ns::Other,
        }
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
    cert_texts: Vec<String>,
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
    cert_text: String,
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
        e: &BytesStart<'_>,
        depth: usize,
        pos: u64,
    ) -> Result<(), MetadataError> {
        let local = e.local_name();
        let local = local.as_ref();
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
                let [valid_until, cache_duration] =
                    attributes(e, [b"validUntil", b"cacheDuration"], pos)?;
                self.scopes.push(Scope {
                    valid_until,
                    cache_duration,
                });
            } else if md && on_chain && local == b"EntityDescriptor" {
                let [id, valid_until, cache_duration] =
                    attributes(e, [b"entityID", b"validUntil", b"cacheDuration"], pos)?;
                let entity_id = id.unwrap_or_default();
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
            } else {
                attributes(e, [], pos)?;
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
                        let [key_use] = attributes(e, [b"use"], pos)?;
                        open.key = Some(OpenKey {
                            depth,
                            signing: key_use.is_none_or(|u| u == "signing"),
                            path: 0,
                        });
                        return Ok(());
                    }
                    b"SingleSignOnService" | b"SingleLogoutService" => {
                        let [binding, location] = attributes(e, [b"Binding", b"Location"], pos)?;
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
                            *slot = location;
                        }
                        return Ok(());
                    }
                    _ => {}
                }
            } else if let Some(key) = &mut open.key {
                if ns == Ns::Ds
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
        }
        attributes(e, [], pos)?;
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
                    open.entity
                        .cert_texts
                        .push(std::mem::take(&mut self.cert_text));
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
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_comments = true;
    reader.config_mut().check_end_names = true;
    let mut walker = Walker {
        requested,
        scopes: Vec::new(),
        open: None,
        cert_text: String::new(),
        scan: Scan::default(),
    };
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut first_event = true;
    loop {
        let start = reader.buffer_position();
        let pos = start + offset;
        let (ns, event) = match reader.read_resolved_event() {
            Ok((resolved, event)) => (Ns::of(&resolved), event),
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
                if ns == Ns::Undeclared {
                    return Err(not_xml(format!(
                        "element <{}> at byte {pos} uses an undeclared namespace prefix",
                        String::from_utf8_lossy(e.name().as_ref())
                    )));
                }
                root_seen = true;
                walker.start(ns, e, depth, pos)?;
                if matches!(event, Event::Empty(_)) {
                    walker.end(depth);
                    depth -= 1;
                }
            }
            Event::End(_) => {
                walker.end(depth);
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if depth == 0 {
                    if !t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
                        return Err(not_xml(format!(
                            "text outside the root element at byte {pos}"
                        )));
                    }
                } else if walker.in_cert(depth) {
                    let piece = t
                        .decode()
                        .map_err(|e| not_xml(format!("{e} (at byte {pos})")))?;
                    walker.cert_text.push_str(&piece);
                }
            }
            Event::CData(c) => {
                if depth == 0 {
                    return Err(not_xml(format!(
                        "CDATA section outside the root element at byte {pos}"
                    )));
                }
                if walker.in_cert(depth) {
                    let piece = c
                        .decode()
                        .map_err(|e| not_xml(format!("{e} (at byte {pos})")))?;
                    walker.cert_text.push_str(&piece);
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
                    match decoded {
                        Decoded::Char(ch) => walker.cert_text.push(ch),
                        Decoded::Str(s) => walker.cert_text.push_str(s),
                    }
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

/// Checks every attribute of `e` and returns the decoded values of the unprefixed `names`.
fn attributes<const N: usize>(
    e: &BytesStart<'_>,
    names: [&[u8]; N],
    pos: u64,
) -> Result<[Option<String>; N], MetadataError> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    let bad = |what: String| {
        not_xml(format!(
            "{what} in <{}> at byte {pos}",
            String::from_utf8_lossy(e.name().as_ref())
        ))
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|err| bad(format!("malformed attribute ({err})")))?;
        let raw = std::str::from_utf8(&attr.value)
            .map_err(|err| bad(format!("attribute value is not UTF-8 ({err})")))?;
        if raw.contains('<') {
            return Err(bad("a raw `<` in an attribute value".into()));
        }
        let wanted = names.iter().position(|n| *n == attr.key.as_ref());
        match wanted {
            Some(i) if values[i].is_none() => {
                values[i] = Some(decode_attribute(raw).map_err(&bad)?);
            }
            _ if raw.contains('&') => {
                decode_attribute(raw).map_err(&bad)?;
            }
            _ => {}
        }
    }
    Ok(values)
}

/// Attribute-value normalisation (raw tabs and line ends become spaces) then unescaping.
fn decode_attribute(raw: &str) -> Result<String, String> {
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
    Ok(value.into_owned())
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
fn parse_date_time(value: &str) -> Option<Timestamp> {
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
    if let Some(chosen) = scan.chosen {
        if requested.is_some() || scan.candidate_ids.len() == 1 {
            return Ok(chosen);
        }
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

/// Base64 DER from `X509Certificate` text: whitespace anywhere and PEM armour are ignored.
fn decode_cert_text(text: &str) -> Result<Vec<u8>, String> {
    let compact: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    let mut body = compact.as_slice();
    if let Some(rest) = body.strip_prefix(b"-----BEGIN") {
        body = match rest.windows(5).position(|w| w == b"-----") {
            Some(i) => &rest[i + 5..],
            None => rest,
        };
    }
    if let Some(i) = body.windows(8).rposition(|w| w == b"-----END") {
        body = &body[..i];
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
