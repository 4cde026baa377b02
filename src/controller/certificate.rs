//! The Secret holding the IdP signing certificate, encrypted, and the CertificateEncrypted
//! condition.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource};

use super::report::publish;
use super::{
    ANN_BACKEND, ANN_CERT_SHA256, ANN_KEY_ID, CIPHERTEXT_KEY, Context, FIELD_MANAGER, MANAGED_LABEL,
};
use crate::certs::Certificate;
use crate::crd::{SecretKeyRef, SsoConnection, SsoConnectionStatus};
use crate::encrypt::Encryptor;
use crate::status::{self, CERTIFICATE_ENCRYPTED, Reason};

fn key_id_of(encryptor: &Encryptor) -> &str {
    match encryptor {
        Encryptor::Local(key) => key.key_id(),
        Encryptor::Http(_) => crate::encrypt::HTTP_KEY_ID,
    }
}

/// Outcome of storing the encrypted certificate.
pub(super) enum Encrypted {
    /// The Secret holds ciphertext of the current certificate.
    Stored(SecretKeyRef),
    /// Encryption or the Secret write failed.
    Failed(String),
    /// A Secret of that name exists and is not the operator's: left untouched.
    Conflict(String),
}

/// Whether the object of `meta` (the certificate Secret, the SP metadata ConfigMap) is one the
/// operator writes for `obj`: our label and a controller reference to this very resource
/// (UID). Anything else belongs to someone else and is neither overwritten nor given an owner
/// (which would garbage-collect it with the resource).
pub(super) fn is_ours<K: Resource>(meta: &ObjectMeta, obj: &K) -> bool {
    let labelled = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_LABEL))
        .is_some_and(|v| v == "sso-operator");
    let owned = meta
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == obj.meta().uid.as_ref());
    labelled && owned
}

pub(super) async fn store_certificate(
    obj: &SsoConnection,
    ctx: &Context,
    cert: &Certificate,
    ns: &str,
) -> Encrypted {
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let encryptor = match &ctx.encryptor {
        Ok(e) => e,
        Err(why) => return Encrypted::Failed(why.clone()),
    };
    let fingerprint = cert.sha256_hex();
    let secret_name = obj.signing_cert_secret_name();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let reference = SecretKeyRef {
        name: secret_name.clone(),
        key: CIPHERTEXT_KEY.to_string(),
    };
    match secrets.get_opt(&secret_name).await {
        Ok(Some(existing)) if !is_ours(&existing.metadata, obj) => {
            return Encrypted::Conflict(format!(
                "Secret {ns}/{secret_name} exists and was not created by the operator for this SsoConnection; it was left untouched; rename or delete it so the operator can store the encrypted certificate there (the Auth0 connection is unaffected)"
            ));
        }
        Ok(Some(existing)) => {
            let ann = existing.metadata.annotations.clone().unwrap_or_default();
            let has_data = existing
                .data
                .as_ref()
                .is_some_and(|d| d.contains_key(CIPHERTEXT_KEY));
            if has_data
                && ann.get(ANN_CERT_SHA256) == Some(&fingerprint)
                && ann.get(ANN_BACKEND).map(String::as_str) == Some(encryptor.backend())
                && ann.get(ANN_KEY_ID).map(String::as_str) == Some(key_id_of(encryptor))
            {
                return Encrypted::Stored(reference);
            }
        }
        Ok(None) => {}
        Err(e) => return Encrypted::Failed(format!("reading Secret {ns}/{secret_name}: {e}")),
    }
    let ciphertext = match encryptor.encrypt(&cert.to_pem()).await {
        Ok(c) => c,
        Err(e) => return Encrypted::Failed(e.to_string()),
    };
    let owner = obj.controller_owner_ref(&());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.clone()),
            namespace: Some(ns.to_string()),
            labels: Some(BTreeMap::from([
                (MANAGED_LABEL.to_string(), "sso-operator".to_string()),
                (
                    "sso-operator.io/ssoconnection".to_string(),
                    name.to_string(),
                ),
            ])),
            annotations: Some(BTreeMap::from([
                (ANN_BACKEND.to_string(), ciphertext.backend.to_string()),
                (ANN_KEY_ID.to_string(), ciphertext.key_id.clone()),
                (ANN_CERT_SHA256.to_string(), fingerprint),
            ])),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".to_string()),
        data: Some(BTreeMap::from([(
            CIPHERTEXT_KEY.to_string(),
            ByteString(ciphertext.value.into_bytes()),
        )])),
        ..Default::default()
    };
    match secrets
        .patch(
            &secret_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
    {
        Ok(_) => Encrypted::Stored(reference),
        Err(e) => Encrypted::Failed(format!("writing Secret {ns}/{secret_name}: {e}")),
    }
}

/// Records the encryption outcome in status; returns whether to retry soon.
pub(super) async fn apply_encryption_outcome(
    status: &mut SsoConnectionStatus,
    outcome: Encrypted,
    obj: &SsoConnection,
    ctx: &Context,
    now: Timestamp,
) -> bool {
    let previous_ok = status::find_condition(&status.conditions, CERTIFICATE_ENCRYPTED)
        .map(|c| c.status == "True");
    match outcome {
        Encrypted::Stored(reference) => {
            status::record_encrypted(status, reference, obj.metadata.generation, now);
            false
        }
        Encrypted::Failed(why) => {
            ctx.metrics.encryption_failures.inc();
            status.encrypted_signing_cert_secret_ref = None;
            let message = format!(
                "encrypting the IdP signing certificate failed, will retry (the Auth0 connection is unaffected): {why}"
            );
            status::set_condition(
                &mut status.conditions,
                status::condition(
                    CERTIFICATE_ENCRYPTED,
                    false,
                    Reason::EncryptionFailed,
                    &message,
                    obj.metadata.generation,
                    now,
                ),
            );
            if previous_ok != Some(false) {
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    "EncryptionFailed",
                    "Encrypt",
                    &message,
                )
                .await;
            }
            true
        }
        Encrypted::Conflict(message) => {
            status.encrypted_signing_cert_secret_ref = None;
            let previous = status::find_condition(&status.conditions, CERTIFICATE_ENCRYPTED)
                .map(|c| c.reason.clone());
            status::set_condition(
                &mut status.conditions,
                status::condition(
                    CERTIFICATE_ENCRYPTED,
                    false,
                    Reason::SecretConflict,
                    &message,
                    obj.metadata.generation,
                    now,
                ),
            );
            if previous.as_deref() != Some(Reason::SecretConflict.as_str()) {
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    Reason::SecretConflict.as_str(),
                    "Encrypt",
                    &message,
                )
                .await;
            }
            // A person must act; the resync looks again.
            false
        }
    }
}
