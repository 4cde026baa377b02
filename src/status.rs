//! Conditions, reasons and status construction (pure).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::SsoConnectionStatus;

/// The condition that says whether Auth0 matches the spec.
pub const READY: &str = "Ready";
/// The condition reporting the encryption of the IdP signing certificate.
pub const CERTIFICATE_ENCRYPTED: &str = "CertificateEncrypted";
/// The condition saying whether a certificate the connection depends on expires soon or has
/// expired. It never changes `Ready`.
pub const CERTIFICATE_EXPIRING: &str = "CertificateExpiring";

/// Why `Ready` is what it is: one value per error category, PascalCase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Auth0 matches the spec.
    Synced,
    /// The spec is invalid (including changes the API server did not block).
    InvalidSpec,
    /// The metadata ConfigMap or key does not exist.
    MetadataNotFound,
    /// The metadata XML is unusable.
    InvalidMetadata,
    /// `metadata.url` has never answered with a usable document.
    MetadataUnreachable,
    /// `metadata.url` is refused: its scheme, its address (loopback, private, link-local,
    /// cloud metadata) or the tenant's `allowedMetadataHosts`.
    MetadataUrlNotAllowed,
    /// A referenced key-pair Secret does not exist.
    SecretNotFound,
    /// Auth0 answered 4xx.
    Auth0Rejected,
    /// Auth0 answered 5xx/429 or did not answer.
    Auth0Unavailable,
    /// A same-named connection exists that this resource does not own.
    ConnectionConflict,
    /// The Management API token lacks a scope.
    InsufficientScope,
    /// The resource is being deleted.
    Deleting,
    /// The certificate ciphertext is stored.
    Encrypted,
    /// The encryption backend failed.
    EncryptionFailed,
    /// A Secret of the name the operator would write exists and is not the operator's.
    SecretConflict,
    /// The referenced tenant resource does not exist (or no tenant is configured).
    TenantNotFound,
    /// The referenced tenant exists but is not Ready.
    TenantNotReady,
    /// The tenant's policy does not admit this namespace.
    TenantNotAllowed,
    /// The namespace was not granted a claimed domain.
    DomainNotAllowed,
    /// A claimed domain is held by another SsoConnection or Auth0 connection.
    DomainConflict,
    /// An organization in `spec.organizations` does not exist in the tenant.
    OrganizationNotFound,
    /// The namespace was not granted an organization in `spec.organizations`.
    OrganizationNotAllowed,
    /// Tenant: the credentials were accepted and the token carries every scope.
    Verified,
    /// Tenant: Auth0 refused the client id and secret.
    InvalidCredentials,
    /// CertificateExpiring=False: every certificate is valid beyond the warning window.
    Valid,
    /// CertificateExpiring=True: a certificate expires within the warning window.
    ExpiresSoon,
    /// CertificateExpiring=True: a certificate is past its notAfter.
    Expired,
}

impl Reason {
    /// The PascalCase reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Synced => "Synced",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::MetadataNotFound => "MetadataNotFound",
            Reason::InvalidMetadata => "InvalidMetadata",
            Reason::MetadataUnreachable => "MetadataUnreachable",
            Reason::MetadataUrlNotAllowed => "MetadataUrlNotAllowed",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::Auth0Rejected => "Auth0Rejected",
            Reason::Auth0Unavailable => "Auth0Unavailable",
            Reason::ConnectionConflict => "ConnectionConflict",
            Reason::InsufficientScope => "InsufficientScope",
            Reason::Deleting => "Deleting",
            Reason::Encrypted => "Encrypted",
            Reason::EncryptionFailed => "EncryptionFailed",
            Reason::SecretConflict => "SecretConflict",
            Reason::TenantNotFound => "TenantNotFound",
            Reason::TenantNotReady => "TenantNotReady",
            Reason::TenantNotAllowed => "TenantNotAllowed",
            Reason::DomainNotAllowed => "DomainNotAllowed",
            Reason::DomainConflict => "DomainConflict",
            Reason::OrganizationNotFound => "OrganizationNotFound",
            Reason::OrganizationNotAllowed => "OrganizationNotAllowed",
            Reason::Verified => "Verified",
            Reason::InvalidCredentials => "InvalidCredentials",
            Reason::Valid => "Valid",
            Reason::ExpiresSoon => "ExpiresSoon",
            Reason::Expired => "Expired",
        }
    }

    /// Whether the condition clears by itself (retried with backoff) rather than needing a
    /// person: what GitOps health checks call Progressing.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Reason::Auth0Unavailable
                | Reason::Deleting
                | Reason::TenantNotReady
                | Reason::MetadataUnreachable
        )
    }

    /// Parses a reason string produced by [`Reason::as_str`].
    pub fn parse(s: &str) -> Option<Reason> {
        ALL_REASONS.iter().copied().find(|r| r.as_str() == s)
    }
}

/// Every reason, for metrics label pre-registration and docs.
pub const ALL_REASONS: [Reason; 27] = [
    Reason::Synced,
    Reason::InvalidSpec,
    Reason::MetadataNotFound,
    Reason::InvalidMetadata,
    Reason::MetadataUnreachable,
    Reason::MetadataUrlNotAllowed,
    Reason::SecretNotFound,
    Reason::Auth0Rejected,
    Reason::Auth0Unavailable,
    Reason::ConnectionConflict,
    Reason::InsufficientScope,
    Reason::Deleting,
    Reason::Encrypted,
    Reason::EncryptionFailed,
    Reason::SecretConflict,
    Reason::TenantNotFound,
    Reason::TenantNotReady,
    Reason::TenantNotAllowed,
    Reason::DomainNotAllowed,
    Reason::DomainConflict,
    Reason::OrganizationNotFound,
    Reason::OrganizationNotAllowed,
    Reason::Verified,
    Reason::InvalidCredentials,
    Reason::Valid,
    Reason::ExpiresSoon,
    Reason::Expired,
];

/// Longest condition message kept; Kubernetes allows 32 KiB, `kubectl` readers far less.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// Builds a condition; `last_transition_time` is set by [`set_condition`].
pub fn condition(
    type_: &str,
    ok: bool,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.as_str().to_string(),
        message: truncate(message, MAX_MESSAGE_CHARS),
        observed_generation: generation,
        last_transition_time: Time(now),
    }
}

/// Sets `Ready=True`/`Synced` with `message` for `generation` (the status of a successful
/// sync of any kind of resource).
pub fn set_synced(
    conditions: &mut Vec<Condition>,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    set_condition(
        conditions,
        condition(READY, true, Reason::Synced, message, generation, now),
    );
}

/// Sets `Ready=False` with `reason` and `message` for `generation` (the status of a failed
/// sync of any kind of resource; earlier facts are kept by the caller).
pub fn set_not_ready(
    conditions: &mut Vec<Condition>,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    set_condition(
        conditions,
        condition(READY, false, reason, message, generation, now),
    );
}

/// Replaces the condition of the same type; `lastTransitionTime` moves only when the status
/// flips (cert-manager/Kubernetes API conventions).
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    if let Some(old) = conditions.iter_mut().find(|c| c.type_ == new.type_) {
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
        *old = new;
    } else {
        conditions.push(new);
    }
}

/// The condition of a type, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether two statuses differ in anything but timestamps (so a write can be skipped).
pub fn differs_ignoring_timestamps(a: &SsoConnectionStatus, b: &SsoConnectionStatus) -> bool {
    strip_timestamps(a) != strip_timestamps(b)
}

fn strip_timestamps(s: &SsoConnectionStatus) -> SsoConnectionStatus {
    let mut s = s.clone();
    s.last_sync_time = None;
    for c in &mut s.conditions {
        c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
    }
    s.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    s
}

/// Records in `status` that the IdP signing certificate is stored encrypted in `reference`:
/// `encryptedSigningCertSecretRef` and `CertificateEncrypted=True`/`Encrypted`.
pub fn record_encrypted(
    status: &mut SsoConnectionStatus,
    reference: crate::crd::SecretKeyRef,
    generation: Option<i64>,
    now: Timestamp,
) {
    set_condition(
        &mut status.conditions,
        condition(
            CERTIFICATE_ENCRYPTED,
            true,
            Reason::Encrypted,
            &format!(
                "IdP signing certificate stored encrypted in Secret {} key {}",
                reference.name, reference.key
            ),
            generation,
            now,
        ),
    );
    status.encrypted_signing_cert_secret_ref = Some(reference);
}

/// Cuts a message to `max` characters on a character boundary, marking the cut.
pub fn truncate(message: &str, max: usize) -> String {
    if message.chars().count() <= max {
        return message.to_string();
    }
    let mut out: String = message.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// SP-side values the IdP administrator needs (docs/AUTH0_API.md §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpEndpoints {
    /// `urn:auth0:{tenant}:{connection}`.
    pub entity_id: String,
    /// `https://{domain}/login/callback?connection={connection}`.
    pub acs_url: String,
    /// `https://{domain}/samlp/metadata?connection={connection}`.
    pub sp_metadata_url: String,
}

/// Computes the SP endpoints for a connection. `entity_id_override` is an `entityId` the user
/// set through `extraOptions`.
pub fn sp_endpoints(
    public_domain: &str,
    tenant: &str,
    connection: &str,
    entity_id_override: Option<&str>,
) -> SpEndpoints {
    SpEndpoints {
        entity_id: entity_id_override
            .map(str::to_string)
            .unwrap_or_else(|| format!("urn:auth0:{tenant}:{connection}")),
        acs_url: format!("https://{public_domain}/login/callback?connection={connection}"),
        sp_metadata_url: format!("https://{public_domain}/samlp/metadata?connection={connection}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut conds = Vec::new();
        let t0 = at("2026-01-01T00:00:00Z");
        let t1 = at("2026-01-01T01:00:00Z");
        let t2 = at("2026-01-01T02:00:00Z");
        set_condition(
            &mut conds,
            condition(READY, true, Reason::Synced, "ok", Some(1), t0),
        );
        set_condition(
            &mut conds,
            condition(READY, true, Reason::Synced, "still ok", Some(2), t1),
        );
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].last_transition_time, Time(t0));
        assert_eq!(conds[0].observed_generation, Some(2));
        set_condition(
            &mut conds,
            condition(READY, false, Reason::Auth0Unavailable, "down", Some(2), t2),
        );
        assert_eq!(conds[0].last_transition_time, Time(t2));
        assert_eq!(conds[0].reason, "Auth0Unavailable");
    }

    #[test]
    fn statuses_that_differ_only_in_timestamps_need_no_write() {
        let mut a = SsoConnectionStatus::default();
        set_condition(
            &mut a.conditions,
            condition(
                READY,
                true,
                Reason::Synced,
                "ok",
                Some(1),
                at("2026-01-01T00:00:00Z"),
            ),
        );
        let mut b = a.clone();
        b.conditions[0].last_transition_time = Time(at("2026-02-01T00:00:00Z"));
        b.last_sync_time = Some(Time(at("2026-02-01T00:00:00Z")));
        assert!(!differs_ignoring_timestamps(&a, &b));
        b.conditions[0].message = "changed".into();
        assert!(differs_ignoring_timestamps(&a, &b));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(2000);
        let cut = truncate(&long, MAX_MESSAGE_CHARS);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn sp_endpoints_follow_auth0_conventions() {
        let sp = sp_endpoints("login.acme.com", "acme", "acme-azure", None);
        assert_eq!(sp.entity_id, "urn:auth0:acme:acme-azure");
        assert_eq!(
            sp.acs_url,
            "https://login.acme.com/login/callback?connection=acme-azure"
        );
        assert_eq!(
            sp.sp_metadata_url,
            "https://login.acme.com/samlp/metadata?connection=acme-azure"
        );
    }

    #[test]
    fn reasons_round_trip() {
        for r in ALL_REASONS {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }
}
