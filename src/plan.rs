//! Desired Auth0 options from the spec and the IdP metadata, read-merge-write over the
//! connection Auth0 holds, and the human-readable diff (pure; docs/AUTH0_API.md §10).
//!
//! [`desired_state`] turns spec + metadata + key pairs into the managed option values;
//! [`plan_connection`] compares them with the connection read from Auth0 and decides between
//! create, update (the full merged options object) and nothing, or refuses to touch it.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::auth0::model::{Connection, ConnectionUpdate, NewConnection};
use crate::certs::{self, Certificate};
use crate::crd::{ProtocolBinding, SsoConnectionSpec};
use crate::metadata::IdpMetadata;
use crate::ownership::{self, Claim, Decision, Owner};
use crate::secret::SecretString;

const SIGN_IN: &str = "signInEndpoint";
const SIGN_OUT: &str = "signOutEndpoint";
const SIGNING_CERT: &str = "signingCert";
const SIGN_REQUEST: &str = "signSAMLRequest";
const SIGNATURE_ALGORITHM: &str = "signatureAlgorithm";
const DIGEST_ALGORITHM: &str = "digestAlgorithm";
const PROTOCOL_BINDING: &str = "protocolBinding";
const DOMAIN_ALIASES: &str = "domain_aliases";
const IDP_INITIATED: &str = "idpinitiated";
const FIELDS_MAP: &str = "fieldsMap";
const USER_ID_ATTRIBUTE: &str = "user_id_attribute";
const SIGNING_KEY: &str = "signing_key";
const DECRYPTION_KEY: &str = "decryptionKey";
const DEFLATE: &str = "deflate";
const DISABLE_SIGNOUT: &str = "disableSignout";
const METADATA_URL: &str = "metadataUrl";
const METADATA_XML: &str = "metadataXml";

/// Key under which [`Desired::applied_summary`] records the thumbprint instead of the cert.
const SIGNING_CERT_SHA1: &str = "signingCertSha1";

/// Options Auth0 derives from `signingCert`; stale once the certificate changes.
const DERIVED_CERT_KEYS: [&str; 4] = ["cert", "thumbprints", "expires", "subject"];

/// Option keys the operator owns (or forbids), each with what the user should do instead of
/// setting it through `extraOptions`.
const RESERVED_KEYS: &[(&str, &str)] = &[
    (SIGN_IN, "it comes from the IdP metadata"),
    (SIGN_OUT, "it comes from the IdP metadata"),
    (SIGNING_CERT, "it comes from the IdP metadata"),
    (SIGN_REQUEST, "use spec.signRequest"),
    (SIGNATURE_ALGORITHM, "use spec.signatureAlgorithm"),
    (DIGEST_ALGORITHM, "use spec.digestAlgorithm"),
    (PROTOCOL_BINDING, "use spec.protocolBinding"),
    (DOMAIN_ALIASES, "use spec.restrictSsoOnly"),
    (IDP_INITIATED, "use spec.idpInitiated"),
    (FIELDS_MAP, "use spec.attributeMapping"),
    (USER_ID_ATTRIBUTE, "use spec.userIdAttribute"),
    (SIGNING_KEY, "use spec.signingKeySecretRef"),
    (DECRYPTION_KEY, "use spec.decryptionKeySecretRef"),
    (DEFLATE, "use spec.deflate"),
    (DISABLE_SIGNOUT, "use spec.disableSignout"),
    (
        METADATA_URL,
        "the operator parses the metadata itself from spec.metadata",
    ),
    (
        METADATA_XML,
        "the operator parses the metadata itself from spec.metadata",
    ),
    ("cert", "Auth0 derives it from the signing certificate"),
    (
        "thumbprints",
        "Auth0 derives it from the signing certificate",
    ),
    ("expires", "Auth0 derives it from the signing certificate"),
    ("subject", "Auth0 derives it from the signing certificate"),
    (
        SIGNING_CERT_SHA1,
        "the name is reserved for the operator's record in status.appliedOptions",
    ),
];

fn is_reserved(key: &str) -> bool {
    RESERVED_KEYS.iter().any(|(k, _)| *k == key)
}

/// A key pair from a Secret (`tls.key`, `tls.crt`), PEM text.
#[derive(Clone)]
pub struct KeyPair {
    /// The private key, PEM.
    pub key: SecretString,
    /// The certificate, PEM.
    pub cert: String,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Everything the desired options are computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    /// The resource's spec.
    pub spec: &'a SsoConnectionSpec,
    /// The Auth0 connection name.
    pub connection_name: &'a str,
    /// The parsed IdP metadata.
    pub idp: &'a IdpMetadata,
    /// The key pair of `spec.signingKeySecretRef`, when set.
    pub signing_key: Option<&'a KeyPair>,
    /// The key pair of `spec.decryptionKeySecretRef`, when set.
    pub decryption_key: Option<&'a KeyPair>,
    /// `status.appliedOptions` of the last successful sync (`None` offline).
    pub previously_applied: Option<&'a Map<String, Value>>,
}

/// The option values the operator wants on the connection.
#[derive(Clone)]
pub struct Desired {
    /// Keys to set, in the order they are sent.
    set: Map<String, Value>,
    /// Keys to delete.
    remove: Vec<String>,
    binding: ProtocolBinding,
    sign_in_url: String,
    certificate: Certificate,
    thumbprint: String,
    /// SHA-256 of the certificate of each key pair sent (`signing_key`, `decryptionKey`).
    key_pair_cert_sha256: BTreeMap<&'static str, String>,
    /// How `domain_aliases` is merged with what the connection holds.
    aliases: DomainAliases,
    /// `spec.displayName`: the top-level `display_name`, when set.
    display_name: Option<String>,
    /// `spec.showAsButton`: the top-level `show_as_button`, when set.
    show_as_button: Option<bool>,
}

/// `domain_aliases` as the operator manages it: the claimed domains (with `restrictSsoOnly`)
/// plus every alias the connection holds that the operator did not set (Dashboard aliases on
/// an adopted connection stay until the operator has applied them itself).
#[derive(Clone, Debug, Default)]
struct DomainAliases {
    /// The claimed domains when `restrictSsoOnly` is true; empty otherwise.
    claimed: Vec<String>,
    /// What the operator applied last time (`status.appliedOptions.domain_aliases`).
    ours_before: Vec<String>,
}

/// The `domain_aliases` a connection holds, lowercase (none when its options are unreadable).
pub fn domain_aliases_of(conn: &Connection) -> Vec<String> {
    DomainAliases::current(conn.options_object().and_then(|o| o.get(DOMAIN_ALIASES)))
}

impl DomainAliases {
    /// Aliases an options value holds, lowercase.
    fn current(current: Option<&Value>) -> Vec<String> {
        current
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Aliases on the connection that are neither claimed nor the operator's.
    fn unclaimed(&self, current: Option<&Value>) -> Vec<String> {
        let mut left: Vec<String> = Self::current(current)
            .into_iter()
            .filter(|a| !self.claimed.contains(a) && !self.ours_before.contains(a))
            .collect();
        left.sort();
        left.dedup();
        left
    }

    /// The list to store: claimed first, then the unclaimed ones kept.
    fn merged(&self, current: Option<&Value>) -> Vec<String> {
        let mut list = self.claimed.clone();
        list.extend(self.unclaimed(current));
        list
    }
}

// Manual: the values include private keys.
impl fmt::Debug for Desired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Desired")
            .field("binding", &self.binding)
            .field("sign_in_url", &self.sign_in_url)
            .field("thumbprint", &self.thumbprint)
            .field("set_keys", &self.set.keys().collect::<Vec<_>>())
            .field("remove", &self.remove)
            .finish()
    }
}

impl Desired {
    /// The binding Auth0 uses to send the authentication request.
    pub fn binding(&self) -> ProtocolBinding {
        self.binding
    }

    /// The IdP SSO URL for that binding.
    pub fn sign_in_url(&self) -> &str {
        &self.sign_in_url
    }

    /// Lowercase hex SHA-1 of the chosen IdP signing certificate.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The chosen IdP signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The certificate of the request-signing key pair sent (`signing_key`, from
    /// `spec.signingKeySecretRef`), which Auth0 publishes in the connection's SP metadata.
    pub fn signing_key_certificate(&self) -> Option<Certificate> {
        self.key_pair_certificate(SIGNING_KEY)
    }

    /// The certificate of the decryption key pair sent (`decryptionKey`, from
    /// `spec.decryptionKeySecretRef`), which Auth0 publishes in the connection's SP metadata.
    pub fn decryption_key_certificate(&self) -> Option<Certificate> {
        self.key_pair_certificate(DECRYPTION_KEY)
    }

    fn key_pair_certificate(&self, key: &str) -> Option<Certificate> {
        let cert = self.set.get(key)?.get("cert")?.as_str()?;
        Certificate::from_pem(cert).ok()
    }

    /// `domain_aliases` of `current` that this resource neither claims nor set: reported in
    /// status and left alone.
    pub fn unclaimed_domain_aliases(&self, current: &Connection) -> Vec<String> {
        self.aliases.unclaimed(
            current
                .options_object()
                .and_then(|options| options.get(DOMAIN_ALIASES)),
        )
    }

    /// The non-secret record of what is applied, for `status.appliedOptions`: every option
    /// set, except `signingCert` (recorded as `signingCertSha1`) and the key pairs (recorded
    /// as `{"certSha256": …}`).
    pub fn applied_summary(&self) -> Map<String, Value> {
        let mut summary = Map::new();
        for (key, value) in &self.set {
            match key.as_str() {
                SIGNING_CERT => {
                    summary.insert(
                        SIGNING_CERT_SHA1.to_string(),
                        Value::String(self.thumbprint.clone()),
                    );
                }
                SIGNING_KEY | DECRYPTION_KEY => {
                    let sha = self
                        .key_pair_cert_sha256
                        .get(key.as_str())
                        .cloned()
                        .unwrap_or_default();
                    let mut record = Map::new();
                    record.insert("certSha256".to_string(), Value::String(sha));
                    summary.insert(key.clone(), Value::Object(record));
                }
                _ => {
                    summary.insert(key.clone(), value.clone());
                }
            }
        }
        summary
    }

    fn display_desired(&self, key: &str, value: &Value) -> String {
        match key {
            SIGNING_CERT => format!("sha1:{}", self.thumbprint),
            _ => display_value(key, value),
        }
    }
}

/// Why no desired state could be computed from the spec and metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The spec asks for something impossible (e.g. a managed key in `extraOptions`).
    #[error("{0}")]
    InvalidSpec(String),
    /// The metadata cannot serve the spec (e.g. the requested binding is not offered).
    #[error("{0}")]
    InvalidMetadata(String),
}

impl PlanError {
    /// The Ready condition reason: `InvalidSpec` or `InvalidMetadata`.
    pub fn reason(&self) -> crate::status::Reason {
        match self {
            PlanError::InvalidSpec(_) => crate::status::Reason::InvalidSpec,
            PlanError::InvalidMetadata(_) => crate::status::Reason::InvalidMetadata,
        }
    }
}

/// Computes the managed option values (docs/AUTH0_API.md §10, managed keys table).
pub fn desired_state(inputs: &PlanInputs) -> Result<Desired, PlanError> {
    let spec = inputs.spec;
    let idp = inputs.idp;
    let previously_applied = |key: &str| {
        inputs
            .previously_applied
            .is_some_and(|applied| applied.contains_key(key))
    };

    let extra = spec.extra_options.clone().unwrap_or_default();
    if let Some((key, hint)) = RESERVED_KEYS
        .iter()
        .find(|(key, _)| extra.contains_key(*key))
    {
        return Err(PlanError::InvalidSpec(format!(
            "spec.extraOptions.{key} is managed by the operator and cannot be set there: {hint}; remove it from extraOptions"
        )));
    }

    let binding = choose_binding(spec.protocol_binding, idp)?;
    let sign_in_url = idp.sso_url(binding).unwrap_or_default().to_string();
    let certificate = idp
        .signing_certs
        .get(idp.selected)
        .cloned()
        .ok_or_else(|| {
            PlanError::InvalidMetadata(format!(
                "the metadata of {} has no usable signing certificate",
                idp.entity_id
            ))
        })?;
    let thumbprint = certificate.sha1_hex();

    let mut set = Map::new();
    let mut remove = Vec::new();

    set.insert(SIGN_IN.into(), Value::String(sign_in_url.clone()));
    match idp.slo.as_deref() {
        Some(slo) => {
            set.insert(SIGN_OUT.into(), Value::String(slo.to_string()));
        }
        None => remove.push(SIGN_OUT.to_string()),
    }
    set.insert(
        SIGNING_CERT.into(),
        Value::String(certificate.signing_cert_value()),
    );
    set.insert(SIGN_REQUEST.into(), Value::Bool(spec.sign_request));
    set.insert(
        SIGNATURE_ALGORITHM.into(),
        Value::String(spec.signature_algorithm.as_str().into()),
    );
    set.insert(
        DIGEST_ALGORITHM.into(),
        Value::String(spec.digest_algorithm.as_str().into()),
    );
    set.insert(PROTOCOL_BINDING.into(), Value::String(binding.urn().into()));

    let mut aliases = DomainAliases {
        claimed: Vec::new(),
        ours_before: DomainAliases::current(
            inputs
                .previously_applied
                .and_then(|applied| applied.get(DOMAIN_ALIASES)),
        ),
    };
    if spec.restrict_sso_only {
        aliases.claimed = spec.claimed_domains();
        if aliases.claimed.is_empty() {
            return Err(PlanError::InvalidSpec(
                "spec.restrictSsoOnly is true but no domain is claimed; set spec.companyDomain or spec.companyDomains".into(),
            ));
        }
        set.insert(
            DOMAIN_ALIASES.into(),
            Value::Array(aliases.claimed.iter().cloned().map(Value::String).collect()),
        );
    }

    // Optional managed keys: an unset field removes the option only when the operator put it
    // there; otherwise it may be a Dashboard setting the user has not moved into the spec yet.
    let mut optional = |key: &str, value: Option<Value>| match value {
        Some(value) => {
            set.insert(key.to_string(), value);
        }
        None if previously_applied(key) => remove.push(key.to_string()),
        None => {}
    };

    optional(
        IDP_INITIATED,
        spec.idp_initiated.as_ref().map(|idp_initiated| {
            let mut object = Map::new();
            object.insert("enabled".into(), Value::Bool(idp_initiated.enabled));
            if let Some(client_id) = &idp_initiated.client_id {
                object.insert("client_id".into(), Value::String(client_id.clone()));
            }
            if let Some(protocol) = idp_initiated.client_protocol {
                object.insert(
                    "client_protocol".into(),
                    Value::String(protocol.as_str().into()),
                );
            }
            if let Some(query) = &idp_initiated.client_authorize_query {
                object.insert("client_authorizequery".into(), Value::String(query.clone()));
            }
            Value::Object(object)
        }),
    );
    optional(
        FIELDS_MAP,
        spec.attribute_mapping.as_ref().map(|mapping| {
            Value::Object(
                mapping
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        }),
    );
    optional(
        USER_ID_ATTRIBUTE,
        spec.user_id_attribute.clone().map(Value::String),
    );

    let mut key_pair_cert_sha256 = BTreeMap::new();
    let signing = key_pair_value(
        "signing",
        "spec.signingKeySecretRef",
        spec.signing_key_secret_ref
            .as_ref()
            .map(|r| r.name.as_str()),
        inputs.signing_key,
    )?;
    let decryption = key_pair_value(
        "decryption",
        "spec.decryptionKeySecretRef",
        spec.decryption_key_secret_ref
            .as_ref()
            .map(|r| r.name.as_str()),
        inputs.decryption_key,
    )?;
    if let Some((_, sha)) = &signing {
        key_pair_cert_sha256.insert(SIGNING_KEY, sha.clone());
    }
    if let Some((_, sha)) = &decryption {
        key_pair_cert_sha256.insert(DECRYPTION_KEY, sha.clone());
    }
    optional(SIGNING_KEY, signing.map(|(value, _)| value));
    optional(DECRYPTION_KEY, decryption.map(|(value, _)| value));

    if let Some(deflate) = spec.deflate {
        set.insert(DEFLATE.into(), Value::Bool(deflate));
    }
    if let Some(disable) = spec.disable_signout {
        set.insert(DISABLE_SIGNOUT.into(), Value::Bool(disable));
    }

    for (key, value) in &extra {
        set.insert(key.clone(), value.clone());
    }
    if let Some(applied) = inputs.previously_applied {
        for key in applied.keys() {
            if !is_reserved(key) && !extra.contains_key(key) {
                remove.push(key.clone());
            }
        }
    }

    remove.push(METADATA_URL.to_string());
    remove.push(METADATA_XML.to_string());

    Ok(Desired {
        set,
        remove,
        binding,
        sign_in_url,
        certificate,
        thumbprint,
        key_pair_cert_sha256,
        aliases,
        display_name: spec.display_name.clone(),
        show_as_button: spec.show_as_button,
    })
}

fn choose_binding(
    requested: Option<ProtocolBinding>,
    idp: &IdpMetadata,
) -> Result<ProtocolBinding, PlanError> {
    let offered: Vec<&str> = [ProtocolBinding::HttpRedirect, ProtocolBinding::HttpPost]
        .into_iter()
        .filter(|b| idp.sso_url(*b).is_some())
        .map(ProtocolBinding::as_str)
        .collect();
    match requested {
        Some(binding) if idp.sso_url(binding).is_some() => Ok(binding),
        Some(binding) => Err(PlanError::InvalidMetadata(format!(
            "spec.protocolBinding is {} but the metadata of {} offers a SingleSignOnService only for {}; change spec.protocolBinding or the IdP configuration",
            binding.as_str(),
            idp.entity_id,
            if offered.is_empty() {
                "no supported binding".to_string()
            } else {
                offered.join(", ")
            }
        ))),
        None if idp.sso_redirect.is_some() => Ok(ProtocolBinding::HttpRedirect),
        None if idp.sso_post.is_some() => Ok(ProtocolBinding::HttpPost),
        None => Err(PlanError::InvalidMetadata(format!(
            "the metadata of {} has no HTTP-Redirect or HTTP-POST SingleSignOnService",
            idp.entity_id
        ))),
    }
}

/// The `{"key", "cert"}` option value of a key pair and the SHA-256 of its certificate.
fn key_pair_value(
    which: &str,
    field: &str,
    secret_name: Option<&str>,
    pair: Option<&KeyPair>,
) -> Result<Option<(Value, String)>, PlanError> {
    let Some(pair) = pair else {
        // Treating a missing pair as "unset" would silently remove the key from Auth0.
        return match secret_name {
            Some(name) => Err(PlanError::InvalidSpec(format!(
                "{field} names Secret {name} but no {which} key pair was loaded from it"
            ))),
            None => Ok(None),
        };
    };
    let key = pair.key.expose().replace("\r\n", "\n");
    let key_trimmed = key.trim();
    if !key_trimmed.starts_with("-----BEGIN") || !key_trimmed.contains("PRIVATE KEY-----") {
        return Err(PlanError::InvalidSpec(format!(
            "the {which} private key (tls.key of {field}) is not PEM private key text; store the key as unencrypted PEM (PKCS#8 or PKCS#1)"
        )));
    }
    let cert_text = pair.cert.replace("\r\n", "\n");
    let cert = Certificate::from_pem(&cert_text).map_err(|e| {
        PlanError::InvalidSpec(format!(
            "the {which} certificate (tls.crt of {field}) is not a PEM X.509 certificate: {e}"
        ))
    })?;
    let mut object = Map::new();
    object.insert("key".into(), Value::String(key));
    object.insert("cert".into(), Value::String(cert_text));
    Ok(Some((Value::Object(object), cert.sha256_hex())))
}

/// What to do with the Auth0 connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// No connection of that name: POST this body.
    Create {
        /// The POST body.
        body: NewConnection,
        /// Every option sent, as additions.
        diff: Diff,
    },
    /// The connection differs: PATCH this body.
    Update {
        /// Connection id.
        id: String,
        /// The PATCH body (full merged options when any option changes).
        body: ConnectionUpdate,
        /// What changes.
        diff: Diff,
    },
    /// The connection already matches: no write.
    Unchanged {
        /// Connection id.
        id: String,
    },
}

/// Why the operator will not write to an existing connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Same-named connection that is not ours (not samlp, no marker, or another owner) and adopt is false.
    Conflict {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// GET returned no `options` (token lacks read:connections_options): a PATCH would wipe the connection.
    InsufficientScope {
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Refusal {
    /// The Ready condition reason: `ConnectionConflict` or `InsufficientScope`.
    pub fn reason(&self) -> crate::status::Reason {
        match self {
            Refusal::Conflict { .. } => crate::status::Reason::ConnectionConflict,
            Refusal::InsufficientScope { .. } => crate::status::Reason::InsufficientScope,
        }
    }

    /// The condition message.
    pub fn message(&self) -> &str {
        match self {
            Refusal::Conflict { message } | Refusal::InsufficientScope { message } => message,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Step 2–8 of docs/AUTH0_API.md §10 over the connection read from Auth0 (None = does not
/// exist); `claim` says who asks and what they may take over (docs/ARCHITECTURE.md, ownership).
pub fn plan_connection(
    desired: &Desired,
    name: &str,
    claim: &Claim,
    current: Option<&Connection>,
) -> Result<Plan, Refusal> {
    let Some(current) = current else {
        return Ok(plan_create(desired, name, claim.owner));
    };

    if current.strategy != "samlp" {
        return Err(Refusal::Conflict {
            message: format!(
                "Auth0 connection {name} ({}) exists with strategy {}; the operator manages only samlp connections and Auth0 cannot change a connection's strategy; choose another spec.connectionName or delete that connection",
                current.id, current.strategy
            ),
        });
    }

    let what = format!("Auth0 connection {name} ({})", current.id);
    let metadata_update =
        match ownership::decide(&current.metadata.clone().unwrap_or_default(), claim) {
            Decision::Keep => None,
            Decision::Write { metadata, .. } => Some(metadata),
            Decision::Refuse(conflict) => {
                return Err(Refusal::Conflict {
                    message: conflict.message(&what),
                });
            }
        };

    let Some(options) = current.options_object() else {
        return Err(Refusal::InsufficientScope {
            message: format!(
                "Auth0 returned connection {name} without its options: the Management API token lacks the read:connections_options scope; grant read:connections_options and update:connections_options to the operator's application; nothing was changed"
            ),
        });
    };

    let (mut changes, body_options) = merge_options(desired, options);
    let presentation = presentation_changes(desired, &current.other);
    let display_name = presentation
        .iter()
        .any(|c| c.key == DISPLAY_NAME)
        .then(|| desired.display_name.clone())
        .flatten();
    let show_as_button = presentation
        .iter()
        .any(|c| c.key == SHOW_AS_BUTTON)
        .then_some(desired.show_as_button)
        .flatten();
    changes.extend(presentation);

    if let Some(metadata) = &metadata_update {
        for (key, after) in metadata {
            let before = current.metadata_value(key).map(str::to_string);
            if before != *after {
                changes.push(Change {
                    key: format!("metadata.{key}"),
                    kind: match (&before, after) {
                        (None, _) => ChangeKind::Added,
                        (Some(_), None) => ChangeKind::Removed,
                        (Some(_), Some(_)) => ChangeKind::Changed,
                    },
                    before: before.map(|v| quote(&v)),
                    after: after.as_deref().map(quote),
                });
            }
        }
    }

    if changes.is_empty() {
        return Ok(Plan::Unchanged {
            id: current.id.clone(),
        });
    }
    Ok(Plan::Update {
        id: current.id.clone(),
        body: ConnectionUpdate {
            // Adopting a connection whose options already match needs only the marker: with no
            // `options` key Auth0 leaves the options untouched, and nothing is rewritten.
            options: body_options,
            metadata: metadata_update,
            display_name,
            show_as_button,
        },
        diff: Diff { changes },
    })
}

/// Top-level `display_name` of a connection.
const DISPLAY_NAME: &str = "display_name";
/// Top-level `show_as_button` of a connection.
const SHOW_AS_BUTTON: &str = "show_as_button";

/// How the connection is presented (`spec.displayName`, `spec.showAsButton`) against the
/// connection's top-level fields `current`: one change per field the spec sets and the
/// connection does not hold. Fields the spec leaves unset are Auth0's business.
fn presentation_changes(desired: &Desired, current: &Map<String, Value>) -> Vec<Change> {
    let wanted = [
        (
            DISPLAY_NAME,
            desired.display_name.clone().map(Value::String),
        ),
        (SHOW_AS_BUTTON, desired.show_as_button.map(Value::Bool)),
    ];
    wanted
        .into_iter()
        .filter_map(|(key, want)| {
            let want = want?;
            let before = current.get(key).filter(|v| !v.is_null());
            (before != Some(&want)).then(|| Change {
                key: key.to_string(),
                kind: if before.is_some() {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Added
                },
                before: before.map(Value::to_string),
                after: Some(want.to_string()),
            })
        })
        .collect()
}

fn plan_create(desired: &Desired, name: &str, owner: &Owner) -> Plan {
    let mut changes: Vec<Change> = desired
        .set
        .iter()
        .map(|(key, value)| Change {
            key: key.clone(),
            kind: ChangeKind::Added,
            before: None,
            after: Some(desired.display_desired(key, value)),
        })
        .collect();
    changes.extend(presentation_changes(desired, &Map::new()));
    Plan::Create {
        body: NewConnection {
            name: name.to_string(),
            strategy: "samlp".to_string(),
            options: desired.set.clone(),
            metadata: ownership::new_marker(owner),
            display_name: desired.display_name.clone(),
            show_as_button: desired.show_as_button,
        },
        diff: Diff { changes },
    }
}

/// Steps 4 and 6 of §10: the differences, and the merged options object when there are any.
fn merge_options(
    desired: &Desired,
    current: &Map<String, Value>,
) -> (Vec<Change>, Option<Map<String, Value>>) {
    let mut changes = Vec::new();
    let mut thumbprint_changed = false;
    let mut keep_stored_cert = false;

    // What the connection should hold: the desired keys, with `domain_aliases` merged with
    // the aliases the operator did not set, or removed when nothing is left.
    let mut set = desired.set.clone();
    let mut remove = desired.remove.clone();
    let aliases = desired.aliases.merged(current.get(DOMAIN_ALIASES));
    if aliases.is_empty() {
        set.shift_remove(DOMAIN_ALIASES);
        remove.push(DOMAIN_ALIASES.to_string());
    } else {
        set.insert(
            DOMAIN_ALIASES.to_string(),
            Value::Array(aliases.into_iter().map(Value::String).collect()),
        );
    }

    for (key, value) in &set {
        if key == SIGNING_CERT {
            let stored = current.get(SIGNING_CERT).filter(|v| !v.is_null());
            let stored_thumbprint = stored_thumbprint(current);
            let raw_pem = stored
                .and_then(Value::as_str)
                .is_some_and(certs::is_raw_pem);
            thumbprint_changed = stored_thumbprint.as_deref() != Some(desired.thumbprint());
            keep_stored_cert = !thumbprint_changed && !raw_pem;
            if thumbprint_changed || raw_pem {
                changes.push(Change {
                    key: key.clone(),
                    kind: if stored.is_some() {
                        ChangeKind::Changed
                    } else {
                        ChangeKind::Added
                    },
                    before: stored.map(|_| display_stored_cert(stored_thumbprint, raw_pem)),
                    after: Some(desired.display_desired(key, value)),
                });
            }
            continue;
        }
        let before = current.get(key).filter(|v| !v.is_null());
        if normalized(key, before) != normalized(key, Some(value)) {
            changes.push(Change {
                key: key.clone(),
                kind: if before.is_some() {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Added
                },
                before: before.map(|v| display_value(key, v)),
                after: Some(desired.display_desired(key, value)),
            });
        }
    }
    for key in &remove {
        let before = current.get(key).filter(|v| !v.is_null());
        if normalized(key, before) != normalized(key, None) {
            changes.push(Change {
                key: key.clone(),
                kind: ChangeKind::Removed,
                before: before.map(|v| display_value(key, v)),
                after: None,
            });
        }
    }

    if changes.is_empty() {
        return (changes, None);
    }

    // Auth0 replaces the whole options object on PATCH: start from everything it holds so
    // Dashboard-set, derived and future keys survive.
    let mut merged = current.clone();
    for (key, value) in &set {
        if key == SIGNING_CERT && keep_stored_cert {
            continue;
        }
        merged.insert(key.clone(), value.clone());
    }
    for key in &remove {
        merged.shift_remove(key);
    }
    if thumbprint_changed {
        // They describe the old certificate; Auth0 re-derives them from the new signingCert.
        for key in DERIVED_CERT_KEYS {
            merged.shift_remove(key);
        }
    }
    (changes, Some(merged))
}

/// SHA-1 of the stored `signingCert` (docs/AUTH0_API.md §5), else `thumbprints[0]`.
fn stored_thumbprint(current: &Map<String, Value>) -> Option<String> {
    let stored = current.get(SIGNING_CERT)?.as_str()?;
    certs::parse_signing_cert_value(stored)
        .ok()
        .map(|cert| cert.sha1_hex())
        .or_else(|| {
            current
                .get("thumbprints")?
                .as_array()?
                .first()?
                .as_str()
                .map(str::to_ascii_lowercase)
        })
}

/// A value in the form the comparison of §10 sees it; `None` = absent.
fn normalized(key: &str, value: Option<&Value>) -> Option<Value> {
    let value = value.filter(|v| !v.is_null());
    match key {
        SIGN_IN | SIGN_OUT | USER_ID_ATTRIBUTE => Some(string_or(value, "")),
        SIGNATURE_ALGORITHM => Some(string_or(value, "rsa-sha256")),
        DIGEST_ALGORITHM => Some(string_or(value, "sha256")),
        PROTOCOL_BINDING => Some(string_or(value, ProtocolBinding::HttpRedirect.urn())),
        SIGN_REQUEST => Some(value.cloned().unwrap_or(Value::Bool(false))),
        DOMAIN_ALIASES => Some(match value {
            None => Value::Array(Vec::new()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                let mut domains: Vec<String> = items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .collect();
                domains.sort();
                domains.dedup();
                Value::Array(domains.into_iter().map(Value::String).collect())
            }
            Some(other) => other.clone(),
        }),
        FIELDS_MAP | IDP_INITIATED => {
            Some(value.cloned().unwrap_or_else(|| Value::Object(Map::new())))
        }
        SIGNING_KEY | DECRYPTION_KEY => value.map(normalized_key_pair),
        _ => value.cloned(),
    }
}

fn string_or(value: Option<&Value>, default: &str) -> Value {
    match value {
        None => Value::String(default.to_string()),
        Some(Value::String(s)) if s.is_empty() => Value::String(default.to_string()),
        Some(other) => other.clone(),
    }
}

fn normalized_key_pair(value: &Value) -> Value {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Value::String(normalized_pem(s)),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    match value {
        Value::Object(object) => {
            let mut pair = Map::new();
            pair.insert("key".into(), text(object.get("key")));
            pair.insert("cert".into(), text(object.get("cert")));
            Value::Object(pair)
        }
        Value::String(s) => Value::String(normalized_pem(s)),
        other => other.clone(),
    }
}

fn normalized_pem(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end().to_string()
}

fn quote(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn display_stored_cert(thumbprint: Option<String>, raw_pem: bool) -> String {
    match (thumbprint, raw_pem) {
        (Some(sha1), true) => format!("sha1:{sha1} (raw PEM)"),
        (Some(sha1), false) => format!("sha1:{sha1}"),
        (None, _) => "<unreadable certificate>".to_string(),
    }
}

/// A value for a diff line, with secrets masked.
fn display_value(key: &str, value: &Value) -> String {
    match key {
        SIGNING_CERT => match value.as_str() {
            Some(stored) => display_stored_cert(
                certs::parse_signing_cert_value(stored)
                    .ok()
                    .map(|c| c.sha1_hex()),
                certs::is_raw_pem(stored),
            ),
            None => "<unreadable certificate>".to_string(),
        },
        SIGNING_KEY | DECRYPTION_KEY => {
            let cert = value
                .get("cert")
                .and_then(Value::as_str)
                .and_then(|pem| Certificate::from_pem(&pem.replace("\r\n", "\n")).ok())
                .map(|c| format!("sha256:{}", c.sha256_hex()))
                .unwrap_or_else(|| "<unreadable>".to_string());
            format!("{{key: <redacted>, cert: {cert}}}")
        }
        _ if looks_secret(key) => "<redacted>".to_string(),
        _ => value.to_string(),
    }
}

/// Extra option names that may hold credentials; their values are never displayed.
pub fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "password", "private", "token", "key"]
        .iter()
        .any(|word| key.contains(word))
}

/// The option changes a plan makes, for `plan` output and events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    /// One entry per option added, changed or removed.
    pub changes: Vec<Change>,
}

/// One option change; values are display text with secrets masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Option key (`metadata.<key>` for the ownership marker).
    pub key: String,
    /// Added, changed or removed.
    pub kind: ChangeKind,
    /// Current value, masked; `None` when absent.
    pub before: Option<String>,
    /// New value, masked; `None` when removed.
    pub after: Option<String>,
}

/// How an option changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Not set today, set by the plan.
    Added,
    /// Set today to something else.
    Changed,
    /// Set today, deleted by the plan.
    Removed,
}

impl Diff {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            let before = change.before.as_deref().unwrap_or("(absent)");
            let after = change.after.as_deref().unwrap_or("(absent)");
            match change.kind {
                ChangeKind::Added => writeln!(f, "+ {}: {after}", change.key)?,
                ChangeKind::Changed => writeln!(f, "~ {}: {before} -> {after}", change.key)?,
                ChangeKind::Removed => writeln!(f, "- {}", change.key)?,
            }
        }
        Ok(())
    }
}
