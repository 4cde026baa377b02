//! `metadata inspect`: parse a federation metadata file and show what the operator would use:
//! the IdP side, the SP side, or both when one entity has both descriptors.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::certs::{Certificate, Validity, rfc3339};
use crate::cli::{InspectArgs, OutputFormat};
use crate::metadata::sp::{SpMetadata, SpMetadataError, binding_name, parse_sp_metadata};
use crate::metadata::{IdpMetadata, MAX_METADATA_BYTES, MetadataError, parse_idp_metadata};

/// Exit code for input that cannot be used (unreadable, not metadata, unusable certificate).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Runs `metadata inspect`: reads the file (`-` is standard input), prints the result and
/// returns 0, or 2 on bad input.
pub fn run(args: &InspectArgs) -> ExitCode {
    let (stdout, stderr, code) = inspect(args, Timestamp::now());
    // A closed pipe (`inspect … | head`) is not worth a panic, so write errors are ignored.
    let _ = std::io::stdout().lock().write_all(stdout.as_bytes());
    let _ = std::io::stderr().lock().write_all(stderr.as_bytes());
    ExitCode::from(code)
}

/// Stdout, stderr and exit code of `metadata inspect` at `now`.
fn inspect(args: &InspectArgs, now: Timestamp) -> (String, String, u8) {
    let name = args.file.display().to_string();
    let input = match read_input(&args.file) {
        Ok(input) => input,
        Err(e) => {
            let message = format!("cannot read {name}: {e}");
            return match args.output {
                OutputFormat::Json => (error_json("io", &message), String::new(), EXIT_BAD_INPUT),
                OutputFormat::Table => {
                    (String::new(), format!("error: {message}\n"), EXIT_BAD_INPUT)
                }
            };
        }
    };
    let result = match input {
        Input::Bytes(bytes) => describe(&bytes, args.entity_id.as_deref(), now),
        Input::TooLarge(size) => Err(Unusable::Idp(MetadataError::TooLarge { size })),
    };
    let (stdout, code) = render_described(&result, now, args.output);
    let stderr = match (&result, args.output) {
        (Err(e), OutputFormat::Table) => {
            format!("error: {name} is not usable {} metadata: {e}\n", e.role())
        }
        _ => String::new(),
    };
    (stdout, stderr, code)
}

/// What a metadata document describes, as `metadata inspect` shows it.
#[derive(Debug)]
pub enum Described {
    /// An identity provider; `sp` is the SP side of the same entity, when it has an
    /// `SPSSODescriptor` (usable or not).
    Idp {
        idp: Box<IdpMetadata>,
        sp: Option<Result<SpMetadata, SpMetadataError>>,
    },
    /// A service provider, in a document without an identity provider to show.
    Sp(SpMetadata),
}

/// Why a document cannot be shown: the error of the side it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// Read as IdP metadata: it has no SP side to show instead, or the IdP side is broken.
    #[error(transparent)]
    Idp(MetadataError),
    /// Read as SP metadata, having no identity provider.
    #[error(transparent)]
    Sp(SpMetadataError),
}

impl Unusable {
    /// The stable machine name of the error.
    pub fn kind(&self) -> &'static str {
        match self {
            Unusable::Idp(e) => e.kind(),
            Unusable::Sp(e) => e.kind(),
        }
    }

    /// `IdP` or `SP`: what the document was read as.
    pub fn role(&self) -> &'static str {
        match self {
            Unusable::Idp(_) => "IdP",
            Unusable::Sp(_) => "SP",
        }
    }
}

/// Reads `xml` as IdP metadata, as it always was, and then the chosen entity's SP side if it
/// has one; a document with no identity provider (or whose `entity_id` is not one) is read as
/// SP metadata instead. A document that is neither keeps the IdP parser's error.
pub fn describe(
    xml: &[u8],
    entity_id: Option<&str>,
    now: Timestamp,
) -> Result<Described, Unusable> {
    match parse_idp_metadata(xml, entity_id, now) {
        Ok(idp) => {
            let sp = match parse_sp_metadata(xml, Some(&idp.entity_id)) {
                Err(SpMetadataError::NoSpDescriptor { .. }) => None,
                other => Some(other),
            };
            Ok(Described::Idp {
                idp: Box::new(idp),
                sp,
            })
        }
        Err(no_idp @ MetadataError::NoIdpDescriptor { .. }) => {
            match parse_sp_metadata(xml, entity_id) {
                Ok(sp) => Ok(Described::Sp(sp)),
                Err(SpMetadataError::NoSpDescriptor { .. }) => Err(Unusable::Idp(no_idp)),
                Err(e) => Err(Unusable::Sp(e)),
            }
        }
        Err(e) => Err(Unusable::Idp(e)),
    }
}

/// What `inspect` prints on stdout for what a document describes, and its exit code. IdP
/// documents print exactly as with [`render`]; an SP side is added under `serviceProvider`
/// (JSON) or after a heading (table). In table mode an error prints nothing on stdout.
pub fn render_described(
    result: &Result<Described, Unusable>,
    now: Timestamp,
    format: OutputFormat,
) -> (String, u8) {
    let described = match result {
        Ok(described) => described,
        Err(e) => {
            return match format {
                OutputFormat::Json => (error_json(e.kind(), &e.to_string()), EXIT_BAD_INPUT),
                OutputFormat::Table => (String::new(), EXIT_BAD_INPUT),
            };
        }
    };
    let text = match (described, format) {
        (Described::Idp { idp, sp }, OutputFormat::Json) => {
            let mut json = metadata_json(idp, now);
            if let (Some(sp), Value::Object(fields)) = (sp, &mut json) {
                let sp = match sp {
                    Ok(sp) => sp_json(sp, now),
                    Err(e) => json!({ "error": { "kind": e.kind(), "message": e.to_string() } }),
                };
                fields.insert("serviceProvider".into(), sp);
            }
            to_json_text(&json)
        }
        (Described::Sp(sp), OutputFormat::Json) => {
            to_json_text(&json!({ "serviceProvider": sp_json(sp, now) }))
        }
        (Described::Idp { idp, sp }, OutputFormat::Table) => {
            let mut out = table(idp, now);
            match sp {
                None => {}
                Some(Ok(sp)) => {
                    out.push_str("\nService provider (the SPSSODescriptor of the same entity)\n");
                    out.push_str(&sp_table(sp, now));
                }
                Some(Err(e)) => {
                    let _ = writeln!(out, "\nService provider    not usable ({}): {e}", e.kind());
                }
            }
            out
        }
        (Described::Sp(sp), OutputFormat::Table) => sp_table(sp, now),
    };
    (text, 0)
}

/// What `inspect` prints on stdout for a parse result, and its exit code. In table mode an
/// error prints nothing on stdout: [`run`] reports it on stderr with the file name.
pub fn render(
    result: &Result<IdpMetadata, MetadataError>,
    now: Timestamp,
    format: OutputFormat,
) -> (String, u8) {
    match (result, format) {
        (Ok(md), OutputFormat::Json) => (to_json_text(&metadata_json(md, now)), 0),
        (Ok(md), OutputFormat::Table) => (table(md, now), 0),
        (Err(e), OutputFormat::Json) => (error_json(e.kind(), &e.to_string()), EXIT_BAD_INPUT),
        (Err(_), OutputFormat::Table) => (String::new(), EXIT_BAD_INPUT),
    }
}

/// The `-o json` document for parsed metadata.
fn metadata_json(md: &IdpMetadata, now: Timestamp) -> Value {
    let mut sso = Map::new();
    if let Some(url) = &md.sso_redirect {
        sso.insert("HTTP-Redirect".into(), Value::String(url.clone()));
    }
    if let Some(url) = &md.sso_post {
        sso.insert("HTTP-POST".into(), Value::String(url.clone()));
    }
    let certs: Vec<Value> = md
        .signing_certs
        .iter()
        .enumerate()
        .map(|(i, cert)| {
            let mut fields = cert_json(cert, now);
            fields.insert("selected".into(), Value::Bool(i == md.selected));
            Value::Object(fields)
        })
        .collect();
    json!({
        "entityId": md.entity_id,
        "singleSignOnServices": sso,
        "singleLogoutService": md.slo,
        "signingCertificates": certs,
    })
}

/// A certificate's fingerprints, subject and validity, as both JSON documents show them.
fn cert_json(cert: &Certificate, now: Timestamp) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("sha256Fingerprint".into(), cert.sha256_hex().into());
    fields.insert("sha1Thumbprint".into(), cert.sha1_hex().into());
    fields.insert("subject".into(), cert.subject().into());
    fields.insert("notBefore".into(), rfc3339(cert.not_before()).into());
    fields.insert("notAfter".into(), rfc3339(cert.not_after()).into());
    let expired = cert.validity_at(now) == Validity::Expired;
    fields.insert("expired".into(), expired.into());
    fields
}

/// The `-o json` document of an SP: bindings shortened as by [`binding_name`].
fn sp_json(sp: &SpMetadata, now: Timestamp) -> Value {
    let acs: Vec<Value> = sp
        .assertion_consumer_services
        .iter()
        .enumerate()
        .map(|(i, acs)| {
            json!({
                "binding": binding_name(&acs.binding),
                "location": acs.location,
                "index": acs.index,
                "isDefault": acs.is_default,
                "selected": i == sp.selected_acs,
            })
        })
        .collect();
    let slo: Vec<Value> = sp
        .single_logout_services
        .iter()
        .enumerate()
        .map(|(i, slo)| {
            json!({
                "binding": binding_name(&slo.binding),
                "location": slo.location,
                "responseLocation": slo.response_location,
                "selected": Some(i) == sp.selected_slo,
            })
        })
        .collect();
    let certs = |certs: &[Certificate]| -> Vec<Value> {
        certs
            .iter()
            .map(|cert| Value::Object(cert_json(cert, now)))
            .collect()
    };
    json!({
        "entityId": sp.entity_id,
        "assertionConsumerService": sp.acs().location,
        "assertionConsumerServices": acs,
        "singleLogoutService": sp.slo().map(|slo| &slo.location),
        "singleLogoutServices": slo,
        "authnRequestsSigned": sp.authn_requests_signed,
        "wantAssertionsSigned": sp.want_assertions_signed,
        "signingCertificates": certs(&sp.signing_certs),
        "encryptionCertificates": certs(&sp.encryption_certs),
        "nameIdFormats": sp.name_id_formats,
        "validUntil": sp.valid_until,
        "cacheDuration": sp.cache_duration,
    })
}

fn error_json(kind: &str, message: &str) -> String {
    to_json_text(&json!({ "error": { "kind": kind, "message": message } }))
}

fn to_json_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

fn table(md: &IdpMetadata, now: Timestamp) -> String {
    let none = "(not offered)";
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "Entity ID           {}", md.entity_id);
    let _ = writeln!(
        out,
        "SSO HTTP-Redirect   {}",
        md.sso_redirect.as_deref().unwrap_or(none)
    );
    let _ = writeln!(
        out,
        "SSO HTTP-POST       {}",
        md.sso_post.as_deref().unwrap_or(none)
    );
    let _ = writeln!(
        out,
        "Single logout       {}",
        md.slo.as_deref().unwrap_or(none)
    );
    if let Some(valid_until) = &md.valid_until {
        let _ = writeln!(out, "Valid until         {valid_until}");
    }
    if let Some(cache_duration) = &md.cache_duration {
        let _ = writeln!(out, "Cache duration      {cache_duration}");
    }
    let _ = writeln!(out, "Signing certificates: {}", md.signing_certs.len());
    for (i, cert) in md.signing_certs.iter().enumerate() {
        let marker = if i == md.selected { "  (selected)" } else { "" };
        let _ = writeln!(out, "  #{}{marker}", i + 1);
        cert_table(&mut out, cert, now);
    }
    out
}

/// The lines of one certificate under its `#n` line.
fn cert_table(out: &mut String, cert: &Certificate, now: Timestamp) {
    let _ = writeln!(out, "    Subject         {}", cert.subject());
    let _ = writeln!(
        out,
        "    Validity        {} .. {} ({})",
        rfc3339(cert.not_before()),
        rfc3339(cert.not_after()),
        cert.validity_at(now).as_str()
    );
    let _ = writeln!(out, "    SHA-1           {}", cert.sha1_hex());
    let _ = writeln!(out, "    SHA-256         {}", cert.sha256_hex());
}

/// The table of an SP: the endpoints used first, then every endpoint, flags, formats and
/// certificates.
fn sp_table(sp: &SpMetadata, now: Timestamp) -> String {
    let mut out = String::new();
    let acs = sp.acs();
    let _ = writeln!(out, "Entity ID           {}", sp.entity_id);
    let _ = writeln!(
        out,
        "ACS                 {} ({})",
        acs.location,
        binding_name(&acs.binding)
    );
    let slo = match sp.slo() {
        Some(slo) => format!("{} ({})", slo.location, binding_name(&slo.binding)),
        None => "(not offered)".to_string(),
    };
    let _ = writeln!(out, "Single logout       {slo}");
    let _ = writeln!(
        out,
        "Requests signed     {} (AuthnRequestsSigned)",
        sp.authn_requests_signed
    );
    let _ = writeln!(
        out,
        "Assertions signed   {} (WantAssertionsSigned)",
        sp.want_assertions_signed
    );
    if let Some(valid_until) = &sp.valid_until {
        let _ = writeln!(out, "Valid until         {valid_until}");
    }
    if let Some(cache_duration) = &sp.cache_duration {
        let _ = writeln!(out, "Cache duration      {cache_duration}");
    }
    let _ = writeln!(
        out,
        "Assertion consumer services: {}",
        sp.assertion_consumer_services.len()
    );
    for (i, acs) in sp.assertion_consumer_services.iter().enumerate() {
        let marker = if i == sp.selected_acs {
            "  (selected)"
        } else {
            ""
        };
        let _ = writeln!(out, "  #{}{marker}", i + 1);
        let _ = writeln!(out, "    Binding         {}", binding_name(&acs.binding));
        let _ = writeln!(out, "    Location        {}", acs.location);
        if let Some(index) = acs.index {
            let _ = writeln!(out, "    Index           {index}");
        }
        if let Some(is_default) = acs.is_default {
            let _ = writeln!(out, "    Default         {is_default}");
        }
    }
    let _ = writeln!(
        out,
        "Single logout services: {}",
        sp.single_logout_services.len()
    );
    for (i, slo) in sp.single_logout_services.iter().enumerate() {
        let marker = if Some(i) == sp.selected_slo {
            "  (selected)"
        } else {
            ""
        };
        let _ = writeln!(out, "  #{}{marker}", i + 1);
        let _ = writeln!(out, "    Binding         {}", binding_name(&slo.binding));
        let _ = writeln!(out, "    Location        {}", slo.location);
        if let Some(response) = &slo.response_location {
            let _ = writeln!(out, "    Response        {response}");
        }
    }
    let _ = writeln!(out, "NameID formats: {}", sp.name_id_formats.len());
    for format in &sp.name_id_formats {
        let _ = writeln!(out, "  {format}");
    }
    for (heading, certs) in [
        ("Signing certificates", &sp.signing_certs),
        ("Encryption certificates", &sp.encryption_certs),
    ] {
        let _ = writeln!(out, "{heading}: {}", certs.len());
        for (i, cert) in certs.iter().enumerate() {
            let _ = writeln!(out, "  #{}", i + 1);
            cert_table(&mut out, cert, now);
        }
    }
    out
}

/// The input file: its bytes, or only its size when it is over the parser's limit.
enum Input {
    Bytes(Vec<u8>),
    TooLarge(usize),
}

/// Reads at most one byte more than the parser accepts, then only counts the rest, so a huge
/// input is reported with its size without being held in memory.
fn read_input(path: &Path) -> std::io::Result<Input> {
    if path.as_os_str() == "-" {
        read_bounded(std::io::stdin().lock())
    } else {
        read_bounded(std::fs::File::open(path)?)
    }
}

fn read_bounded(mut source: impl Read) -> std::io::Result<Input> {
    let limit = MAX_METADATA_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    (&mut source).take(limit).read_to_end(&mut bytes)?;
    if bytes.len() <= MAX_METADATA_BYTES {
        return Ok(Input::Bytes(bytes));
    }
    let rest = std::io::copy(&mut source, &mut std::io::sink())?;
    let rest = usize::try_from(rest).unwrap_or(usize::MAX);
    Ok(Input::TooLarge(bytes.len().saturating_add(rest)))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/idp-metadata");

    fn now() -> Timestamp {
        "2026-11-23T00:00:00Z".parse().unwrap()
    }

    fn args(file: &str, output: OutputFormat) -> InspectArgs {
        InspectArgs {
            file: PathBuf::from(FIXTURES).join(file),
            entity_id: None,
            output,
        }
    }

    #[test]
    fn an_unreadable_file_is_an_io_error_in_json() {
        let (stdout, stderr, code) =
            inspect(&args("does-not-exist.xml", OutputFormat::Json), now());
        assert_eq!(code, 2);
        assert!(stderr.is_empty());
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["error"]["kind"], "io");
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does-not-exist.xml")
        );
    }

    #[test]
    fn bad_input_in_table_mode_is_one_line_on_stderr_naming_the_file() {
        let (stdout, stderr, code) = inspect(&args("truncated.xml", OutputFormat::Table), now());
        assert_eq!(code, 2);
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1);
        assert!(stderr.contains("truncated.xml"), "{stderr}");
        assert!(stderr.contains("not well-formed"), "{stderr}");
    }

    #[test]
    fn an_entity_id_chooses_the_idp_of_an_aggregate() {
        let mut chosen = args("entities-multiple.xml", OutputFormat::Json);
        chosen.entity_id = Some("https://idp-staging.fabrikam.test/saml2/idp".into());
        let (stdout, _, code) = inspect(&chosen, now());
        assert_eq!(code, 0);
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            json["entityId"],
            "https://idp-staging.fabrikam.test/saml2/idp"
        );
        assert_eq!(json["singleLogoutService"], Value::Null);
    }

    #[test]
    fn an_offered_binding_alone_appears_in_json_and_the_missing_one_is_absent() {
        let (stdout, _, _) = inspect(
            &args("generic-saml2md-post-only.xml", OutputFormat::Json),
            now(),
        );
        let json: Value = serde_json::from_str(&stdout).unwrap();
        let sso = json["singleSignOnServices"].as_object().unwrap();
        assert_eq!(sso.keys().collect::<Vec<_>>(), ["HTTP-POST"]);
        assert_eq!(
            sso["HTTP-POST"],
            "https://sso.contoso-example.com/saml2/idp/SSOService.php?tenant=contoso&profile=staff"
        );
    }

    #[test]
    fn the_table_says_when_a_binding_is_not_offered_and_when_a_certificate_expired() {
        let (stdout, _, code) = inspect(
            &args("jumpcloud-expired-redirect-only.xml", OutputFormat::Table),
            now(),
        );
        assert_eq!(code, 0);
        let post = stdout
            .lines()
            .find(|l| l.starts_with("SSO HTTP-POST"))
            .unwrap();
        assert!(post.ends_with("(not offered)"), "{post}");
        assert!(stdout.contains("2021-06-01T12:00:00Z .. 2024-06-01T12:00:00Z (expired)"));
    }

    #[test]
    fn idp_documents_render_as_before_and_only_an_entity_with_both_roles_adds_its_sp_side() {
        let mut both = Vec::new();
        for entry in std::fs::read_dir(FIXTURES).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|ext| ext != "xml") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let idp = parse_idp_metadata(&bytes, None, now());
            let described = describe(&bytes, None, now());
            match &described {
                Ok(Described::Idp { sp: Some(_), idp }) => both.push(idp.entity_id.clone()),
                Ok(Described::Sp(_)) => continue,
                _ => {}
            }
            for format in [OutputFormat::Json, OutputFormat::Table] {
                let (before, code) = render(&idp, now(), format);
                let (after, new_code) = render_described(&described, now(), format);
                assert_eq!(new_code, code, "{}", path.display());
                if described
                    .as_ref()
                    .is_ok_and(|d| matches!(d, Described::Idp { sp: Some(_), .. }))
                {
                    assert!(
                        after.starts_with(before.trim_end_matches(['}', '\n'])),
                        "{}",
                        path.display()
                    );
                } else {
                    assert_eq!(after, before, "{}", path.display());
                }
            }
        }
        // AD FS publishes an SPSSODescriptor beside its IDPSSODescriptor.
        assert_eq!(both, ["http://adfs.fabrikam.test/adfs/services/trust"]);
    }

    #[test]
    fn sp_metadata_given_where_an_idp_was_expected_is_shown_as_sp_metadata() {
        let (stdout, stderr, code) =
            inspect(&args("sp-metadata-only.xml", OutputFormat::Json), now());
        assert_eq!((code, stderr.as_str()), (0, ""));
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 1);
        assert_eq!(
            json["serviceProvider"]["entityId"],
            "urn:auth0:fabrikam-test:fabrikam-azure"
        );
    }

    #[test]
    fn an_unusable_sp_document_is_reported_as_sp_metadata() {
        let mut bad = args("", OutputFormat::Table);
        bad.file = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sp-metadata/no-post-acs.xml"
        ));
        let (stdout, stderr, code) = inspect(&bad, now());
        assert_eq!((code, stdout.as_str()), (2, ""));
        assert!(stderr.contains("is not usable SP metadata: the SPSSODescriptor of https://legacy.fabrikam.test/shibboleth-sp has no AssertionConsumerService with the HTTP-POST binding"), "{stderr}");
    }

    #[test]
    fn a_document_with_neither_role_keeps_the_idp_error() {
        let xml = br#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="aa"><AttributeAuthorityDescriptor/></EntityDescriptor>"#;
        let err = describe(xml, None, now()).unwrap_err();
        assert_eq!((err.kind(), err.role()), ("no_idp_descriptor", "IdP"));
        assert_eq!(
            err.to_string(),
            "none of the 1 EntityDescriptor(s) has an IDPSSODescriptor"
        );
    }

    #[test]
    fn oversize_input_is_reported_with_its_true_size() {
        let size = MAX_METADATA_BYTES + 12_345;
        let input = read_bounded(std::io::repeat(b' ').take(size as u64)).unwrap();
        assert!(matches!(input, Input::TooLarge(n) if n == size));
        let input = read_bounded(std::io::repeat(b' ').take(10)).unwrap();
        assert!(matches!(input, Input::Bytes(b) if b.len() == 10));
    }
}
