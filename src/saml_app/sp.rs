//! The SP side of a `SamlApplication` from the SP's metadata (parsed by
//! [`crate::metadata::sp`]).

use super::plan::SpFacts;

/// The facts Auth0's addon needs from SP metadata: the entity ID, the chosen HTTP-POST ACS,
/// the logout URL, the request-signing certificate when the SP signs its requests, the first
/// `NameIDFormat`; what the addon cannot use (`WantAssertionsSigned`, encryption keys) is kept
/// for status. An error names what is wrong (its `kind()` first).
pub fn facts_from_metadata(xml: &str, entity_id: Option<&str>) -> Result<SpFacts, String> {
    let md = crate::metadata::sp::parse_sp_metadata(xml, entity_id)
        .map_err(|e| format!("{}: {e}", e.kind()))?;
    Ok(SpFacts {
        entity_id: md.entity_id.clone(),
        acs_url: md.acs().location.clone(),
        slo_url: md.slo().map(|s| s.location.clone()),
        signing_cert_pem: md
            .authn_requests_signed
            .then(|| md.signing_certs.first().map(|c| c.to_pem()))
            .flatten(),
        name_id_format: md.name_id_formats.first().cloned(),
        want_assertions_signed: Some(md.want_assertions_signed),
        encryption_fingerprints: md.encryption_certs.iter().map(|c| c.sha256_hex()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sp_that_signs_requests_gets_its_certificate_sent_and_one_that_does_not_gets_none() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sp-metadata");
        let mut signed = 0;
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            let xml = std::fs::read_to_string(&path).expect("readable");
            let Ok(md) = crate::metadata::sp::parse_sp_metadata(&xml, None) else {
                continue;
            };
            let facts = facts_from_metadata(&xml, None).expect("facts");
            assert_eq!(facts.entity_id, md.entity_id);
            assert_eq!(facts.acs_url, md.acs().location);
            assert_eq!(
                facts.signing_cert_pem.is_some(),
                md.authn_requests_signed && !md.signing_certs.is_empty(),
                "{}",
                path.display()
            );
            signed += usize::from(facts.signing_cert_pem.is_some());
        }
        assert!(signed > 0, "no fixture signs its requests");
    }
}
