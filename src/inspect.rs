//! `metadata inspect`: parse a federation metadata file and show what the operator would use.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::certs::{Validity, rfc3339};
use crate::cli::{InspectArgs, OutputFormat};
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
        Input::Bytes(bytes) => parse_idp_metadata(&bytes, args.entity_id.as_deref(), now),
        Input::TooLarge(size) => Err(MetadataError::TooLarge { size }),
    };
    let (stdout, code) = render(&result, now, args.output);
    let stderr = match (&result, args.output) {
        (Err(e), OutputFormat::Table) => format!("error: {name} is not usable IdP metadata: {e}\n"),
        _ => String::new(),
    };
    (stdout, stderr, code)
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
            json!({
                "sha256Fingerprint": cert.sha256_hex(),
                "sha1Thumbprint": cert.sha1_hex(),
                "subject": cert.subject(),
                "notBefore": rfc3339(cert.not_before()),
                "notAfter": rfc3339(cert.not_after()),
                "expired": cert.validity_at(now) == Validity::Expired,
                "selected": i == md.selected,
            })
        })
        .collect();
    json!({
        "entityId": md.entity_id,
        "singleSignOnServices": sso,
        "singleLogoutService": md.slo,
        "signingCertificates": certs,
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
    fn oversize_input_is_reported_with_its_true_size() {
        let size = MAX_METADATA_BYTES + 12_345;
        let input = read_bounded(std::io::repeat(b' ').take(size as u64)).unwrap();
        assert!(matches!(input, Input::TooLarge(n) if n == size));
        let input = read_bounded(std::io::repeat(b' ').take(10)).unwrap();
        assert!(matches!(input, Input::Bytes(b) if b.len() == 10));
    }
}
