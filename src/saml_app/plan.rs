//! The SAML2 Web App addon settings a `SamlApplication` wants, merged over what the Auth0
//! application holds (pure). Every addon key set in the Dashboard and not managed survives;
//! the ACS URL is added to `callbacks` without removing others; nothing is written when
//! nothing differs.

use serde_json::{Map, Value, json};

use crate::auth0::applications::{Application, ApplicationUpdate, NewApplication};
use crate::crd::SamlApplicationSpec;
use crate::ownership::{self, Claim, Decision};
use crate::plan::{Change, ChangeKind, Diff};

/// What the SP side says, from its metadata or the spec's explicit fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpFacts {
    /// Entity ID (→ `audience`).
    pub entity_id: String,
    /// HTTP-POST assertion consumer service (→ callback, `recipient`, `destination`).
    pub acs_url: String,
    /// Single logout URL (→ `logout.callback`).
    pub slo_url: Option<String>,
    /// The SP's request-signing certificate, PEM (→ `signingCert`), when it signs requests.
    pub signing_cert_pem: Option<String>,
    /// The first `NameIDFormat` of the metadata.
    pub name_id_format: Option<String>,
    /// `WantAssertionsSigned`.
    pub want_assertions_signed: Option<bool>,
    /// SHA-256 fingerprints of the SP's encryption certificates.
    pub encryption_fingerprints: Vec<String>,
}

/// Addon keys the operator sets from dedicated spec fields: `extraSettings` may not name them.
pub const MANAGED_KEYS: [&str; 19] = [
    "audience",
    "recipient",
    "destination",
    "signResponse",
    "signatureAlgorithm",
    "digestAlgorithm",
    "lifetimeInSeconds",
    "nameIdentifierFormat",
    "nameIdentifierProbes",
    "mappings",
    "createUpnClaim",
    "passthroughClaimsWithNoMapping",
    "mapUnknownClaimsAsIs",
    "mapIdentities",
    "typedAttributes",
    "includeAttributeNameFormat",
    "authnContextClassRef",
    "binding",
    "logout",
];

/// The addon settings the spec and the SP want (`signingCert` included when the SP signs).
pub fn desired_settings(
    spec: &SamlApplicationSpec,
    sp: &SpFacts,
) -> Result<Map<String, Value>, String> {
    let mut s = Map::new();
    s.insert("audience".into(), json!(sp.entity_id));
    s.insert("recipient".into(), json!(sp.acs_url));
    s.insert("destination".into(), json!(sp.acs_url));
    s.insert(
        "signatureAlgorithm".into(),
        json!(spec.signature_algorithm.as_str()),
    );
    s.insert(
        "digestAlgorithm".into(),
        json!(spec.digest_algorithm.as_str()),
    );
    let mut optional = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            s.insert(key.to_string(), v);
        }
    };
    optional("signResponse", spec.sign_response.map(Value::from));
    optional(
        "lifetimeInSeconds",
        spec.lifetime_in_seconds.map(Value::from),
    );
    optional(
        "nameIdentifierFormat",
        spec.name_identifier_format
            .clone()
            .or_else(|| sp.name_id_format.clone())
            .map(Value::from),
    );
    optional(
        "nameIdentifierProbes",
        spec.name_identifier_probes.clone().map(|p| json!(p)),
    );
    optional("mappings", spec.mappings.clone().map(|m| json!(m)));
    optional("createUpnClaim", spec.create_upn_claim.map(Value::from));
    optional(
        "passthroughClaimsWithNoMapping",
        spec.passthrough_claims_with_no_mapping.map(Value::from),
    );
    optional(
        "mapUnknownClaimsAsIs",
        spec.map_unknown_claims_as_is.map(Value::from),
    );
    optional("mapIdentities", spec.map_identities.map(Value::from));
    optional("typedAttributes", spec.typed_attributes.map(Value::from));
    optional(
        "includeAttributeNameFormat",
        spec.include_attribute_name_format.map(Value::from),
    );
    optional(
        "authnContextClassRef",
        spec.authn_context_class_ref.clone().map(Value::from),
    );
    optional("binding", spec.binding.clone().map(Value::from));
    optional(
        "logout",
        sp.slo_url
            .as_ref()
            .map(|url| json!({"callback": url, "slo_enabled": true})),
    );
    optional("signingCert", sp.signing_cert_pem.clone().map(Value::from));
    if let Some(extra) = &spec.extra_settings {
        if let Some(key) = extra
            .keys()
            .find(|k| MANAGED_KEYS.contains(&k.as_str()) || k.as_str() == "signingCert")
        {
            return Err(format!(
                "spec.extraSettings.{key} is managed by the operator; set it through its own field (signingCert comes from the SP metadata or spec.signingCertificate)"
            ));
        }
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    Ok(s)
}

/// What the application should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredApplication {
    /// Addon settings the operator sets.
    pub settings: Map<String, Value>,
    /// The ACS URL, a callback.
    pub acs_url: String,
    /// Addon keys the operator set at the last sync (`status.appliedSettings`): those no
    /// longer wanted are removed.
    pub previously_applied: Vec<String>,
    /// The callback the operator added at the last sync: removed when the ACS URL changed.
    pub previous_callback: Option<String>,
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub enum AppPlan {
    /// No application yet.
    Create {
        /// The body.
        body: NewApplication,
        /// What it sets.
        diff: Diff,
    },
    /// Update the application.
    Update {
        /// Its client id.
        id: String,
        /// The body: whole `addons`, `callbacks`, `client_metadata` as needed.
        body: ApplicationUpdate,
        /// What changes.
        diff: Diff,
    },
    /// Nothing differs.
    Unchanged {
        /// Its client id.
        id: String,
    },
}

/// Plans the write of application `name` (`current`: as read, `None` when it does not
/// exist). A refusal is the ownership conflict's message.
pub fn plan_application(
    desired: &DesiredApplication,
    name: &str,
    claim: &Claim,
    current: Option<&Application>,
) -> Result<AppPlan, String> {
    let Some(current) = current else {
        let mut changes: Vec<Change> = desired
            .settings
            .iter()
            .map(|(k, v)| change(&format!("addons.samlp.{k}"), None, Some(v)))
            .collect();
        changes.push(change("callbacks", None, Some(&json!(desired.acs_url))));
        let mut addons = Map::new();
        addons.insert("samlp".into(), Value::Object(desired.settings.clone()));
        return Ok(AppPlan::Create {
            body: NewApplication {
                name: name.to_string(),
                app_type: "regular_web".into(),
                callbacks: vec![desired.acs_url.clone()],
                addons,
                client_metadata: ownership::new_marker(claim.owner),
            },
            diff: Diff { changes },
        });
    };
    let what = format!("Auth0 application {name} ({})", current.client_id);
    let metadata = match ownership::decide(&current.client_metadata, claim) {
        Decision::Keep => None,
        Decision::Write { metadata, .. } => Some(metadata),
        Decision::Refuse(conflict) => return Err(conflict.message(&what)),
    };
    let mut changes = Vec::new();
    let samlp = current.samlp();
    let merged = merge_settings(&samlp, desired);
    for key in samlp.keys().chain(merged.keys()) {
        let (before, after) = (samlp.get(key), merged.get(key));
        if before != after
            && !changes
                .iter()
                .any(|c: &Change| c.key.ends_with(&format!(".{key}")))
        {
            changes.push(change(&format!("addons.samlp.{key}"), before, after));
        }
    }
    let addons = (merged != samlp).then(|| {
        let mut all = current.addons.clone();
        all.insert("samlp".into(), Value::Object(merged));
        all
    });
    let callbacks = merge_callbacks(&current.callbacks, desired);
    if callbacks != current.callbacks {
        changes.push(change(
            "callbacks",
            Some(&json!(current.callbacks)),
            Some(&json!(callbacks)),
        ));
    }
    if let Some(metadata) = &metadata {
        for (key, after) in metadata {
            let before = current.client_metadata.get(key).cloned().flatten();
            if before != *after {
                changes.push(change(
                    &format!("client_metadata.{key}"),
                    before.map(Value::from).as_ref(),
                    after.clone().map(Value::from).as_ref(),
                ));
            }
        }
    }
    if changes.is_empty() {
        return Ok(AppPlan::Unchanged {
            id: current.client_id.clone(),
        });
    }
    Ok(AppPlan::Update {
        id: current.client_id.clone(),
        body: ApplicationUpdate {
            addons,
            callbacks: (callbacks != current.callbacks).then_some(callbacks),
            client_metadata: metadata,
        },
        diff: Diff { changes },
    })
}

/// `current` with the desired settings over it and the keys the operator set earlier but no
/// longer wants removed.
pub fn merge_settings(
    current: &Map<String, Value>,
    desired: &DesiredApplication,
) -> Map<String, Value> {
    let mut merged = current.clone();
    for key in &desired.previously_applied {
        if !desired.settings.contains_key(key) {
            merged.remove(key);
        }
    }
    for (k, v) in &desired.settings {
        merged.insert(k.clone(), v.clone());
    }
    merged
}

/// `current` callbacks with the ACS URL added, and the one the operator added before removed
/// when the ACS URL changed.
pub fn merge_callbacks(current: &[String], desired: &DesiredApplication) -> Vec<String> {
    let mut callbacks: Vec<String> = current
        .iter()
        .filter(|c| {
            desired
                .previous_callback
                .as_ref()
                .is_none_or(|p| *p == desired.acs_url || *c != p)
        })
        .cloned()
        .collect();
    if !callbacks.contains(&desired.acs_url) {
        callbacks.push(desired.acs_url.clone());
    }
    callbacks
}

fn change(key: &str, before: Option<&Value>, after: Option<&Value>) -> Change {
    let show = |v: &Value| {
        if key.ends_with("signingCert") {
            "<certificate>".to_string()
        } else {
            crate::status::truncate(&v.to_string(), 200)
        }
    };
    Change {
        key: key.to_string(),
        kind: match (before, after) {
            (None, _) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        },
        before: before.map(show),
        after: after.map(show),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::{Adoption, Owner};

    fn spec(extra: Value) -> SamlApplicationSpec {
        let mut base =
            json!({"entityId": "https://sp.example/saml", "acsUrl": "https://sp.example/acs"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn sp() -> SpFacts {
        SpFacts {
            entity_id: "https://sp.example/saml".into(),
            acs_url: "https://sp.example/acs".into(),
            ..Default::default()
        }
    }

    fn owner() -> Owner {
        Owner {
            cluster_id: "c1".into(),
            namespace: "ns".into(),
            name: "zendesk".into(),
            uid: "u1".into(),
        }
    }

    fn claim(owner: &Owner) -> Claim<'_> {
        Claim {
            owner,
            adopt_existing: false,
            adoption: Adoption::Unowned,
            foreign_owner_gone: false,
        }
    }

    fn desired(settings: Map<String, Value>) -> DesiredApplication {
        DesiredApplication {
            settings,
            acs_url: "https://sp.example/acs".into(),
            previously_applied: Vec::new(),
            previous_callback: None,
        }
    }

    fn ours(samlp: Value, callbacks: &[&str]) -> Application {
        Application {
            client_id: "c123".into(),
            name: "zendesk".into(),
            callbacks: callbacks.iter().map(|c| c.to_string()).collect(),
            addons: json!({"samlp": samlp, "wsfed": {}})
                .as_object()
                .unwrap()
                .clone(),
            client_metadata: ownership::new_marker(&owner())
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        }
    }

    #[test]
    fn the_sp_sets_audience_recipient_destination_logout_and_signing_cert() {
        let mut facts = sp();
        facts.slo_url = Some("https://sp.example/slo".into());
        facts.signing_cert_pem =
            Some("-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----".into());
        facts.name_id_format =
            Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into());
        let s = desired_settings(&spec(json!({"signResponse": true})), &facts).unwrap();
        assert_eq!(s["audience"], "https://sp.example/saml");
        assert_eq!(s["recipient"], "https://sp.example/acs");
        assert_eq!(s["destination"], "https://sp.example/acs");
        assert_eq!(
            s["logout"],
            json!({"callback": "https://sp.example/slo", "slo_enabled": true})
        );
        assert!(s["signingCert"].as_str().unwrap().starts_with("-----BEGIN"));
        assert_eq!(s["signResponse"], true);
        assert_eq!(s["signatureAlgorithm"], "rsa-sha256");
        assert_eq!(s["digestAlgorithm"], "sha256");
        assert_eq!(
            s["nameIdentifierFormat"],
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
        );
        // Unset fields are left alone.
        assert!(!s.contains_key("lifetimeInSeconds"));
        // The spec's NameID format wins over the metadata's.
        let s = desired_settings(
            &spec(json!({"nameIdentifierFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"})),
            &facts,
        )
        .unwrap();
        assert_eq!(
            s["nameIdentifierFormat"],
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
        );
    }

    #[test]
    fn extra_settings_may_not_name_a_managed_key() {
        let err = desired_settings(&spec(json!({"extraSettings": {"audience": "x"}})), &sp())
            .unwrap_err();
        assert!(err.contains("extraSettings.audience"), "{err}");
        let ok = desired_settings(
            &spec(json!({"extraSettings": {"issuer": "urn:custom"}})),
            &sp(),
        )
        .unwrap();
        assert_eq!(ok["issuer"], "urn:custom");
    }

    #[test]
    fn dashboard_keys_and_other_callbacks_survive_and_nothing_changed_writes_nothing() {
        let o = owner();
        let want = desired(desired_settings(&spec(json!({})), &sp()).unwrap());
        let mut samlp = want.settings.clone();
        samlp.insert("x_dashboard".into(), json!("kept"));
        let current = ours(
            Value::Object(samlp.clone()),
            &["https://other.example/cb", "https://sp.example/acs"],
        );
        assert_eq!(
            plan_application(&want, "zendesk", &claim(&o), Some(&current)).unwrap(),
            AppPlan::Unchanged { id: "c123".into() }
        );
        // A changed setting: the whole addons object is sent with the Dashboard key and the
        // other addon; callbacks untouched.
        let mut drifted = samlp.clone();
        drifted.insert("digestAlgorithm".into(), json!("sha1"));
        let current = ours(
            Value::Object(drifted),
            &["https://other.example/cb", "https://sp.example/acs"],
        );
        let AppPlan::Update { body, diff, .. } =
            plan_application(&want, "zendesk", &claim(&o), Some(&current)).unwrap()
        else {
            panic!("an update")
        };
        let addons = body.addons.unwrap();
        assert_eq!(addons["samlp"]["x_dashboard"], "kept");
        assert_eq!(addons["samlp"]["digestAlgorithm"], "sha256");
        assert!(addons.contains_key("wsfed"));
        assert_eq!(body.callbacks, None);
        assert_eq!(diff.changes.len(), 1);
        assert_eq!(diff.changes[0].key, "addons.samlp.digestAlgorithm");
    }

    #[test]
    fn the_acs_url_is_added_and_the_one_the_operator_added_before_replaced() {
        let mut want = desired(Map::new());
        assert_eq!(
            merge_callbacks(&["https://other.example/cb".into()], &want),
            vec![
                "https://other.example/cb".to_string(),
                "https://sp.example/acs".to_string()
            ]
        );
        want.previous_callback = Some("https://sp.example/old-acs".into());
        assert_eq!(
            merge_callbacks(
                &[
                    "https://other.example/cb".into(),
                    "https://sp.example/old-acs".into()
                ],
                &want
            ),
            vec![
                "https://other.example/cb".to_string(),
                "https://sp.example/acs".to_string()
            ]
        );
    }

    #[test]
    fn settings_the_operator_no_longer_sets_are_removed_others_kept() {
        let mut want = desired(Map::new());
        want.settings.insert("audience".into(), json!("a"));
        want.previously_applied = vec!["audience".into(), "mappings".into()];
        let current = json!({"audience": "a", "mappings": {"email": "e"}, "x": 1});
        let merged = merge_settings(current.as_object().unwrap(), &want);
        assert_eq!(Value::Object(merged), json!({"audience": "a", "x": 1}));
    }

    #[test]
    fn a_foreign_application_is_refused_and_a_new_one_is_created_with_the_marker() {
        let o = owner();
        let want = desired(desired_settings(&spec(json!({})), &sp()).unwrap());
        let mut foreign = ours(json!({}), &[]);
        foreign.client_metadata.clear();
        let err = plan_application(&want, "zendesk", &claim(&o), Some(&foreign)).unwrap_err();
        assert!(err.contains("not created by this operator"), "{err}");
        let AppPlan::Create { body, .. } =
            plan_application(&want, "zendesk", &claim(&o), None).unwrap()
        else {
            panic!("a create")
        };
        assert_eq!(body.callbacks, vec!["https://sp.example/acs".to_string()]);
        assert_eq!(body.addons["samlp"]["audience"], "https://sp.example/saml");
        assert_eq!(
            body.client_metadata.get("managed-by").map(String::as_str),
            Some("sso-operator")
        );
    }
}
