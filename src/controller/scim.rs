//! The SCIM token in the Secret `<name>-scim`: issued, rotated and revoked (decisions in
//! [`crate::b2b::scim`]). The token goes from Auth0's answer straight into the Secret; it is
//! never in status, an Event, a log line or an error message.
//!
//! Order of a rotation: issue the new token, write it into the Secret, and only then revoke the
//! old one, so the Secret always holds a valid token. If the Secret write fails, the new token
//! is revoked again and the old one stays.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::certificate::is_ours;
use super::report::publish;
use super::{Context, FIELD_MANAGER, MANAGED_LABEL};
use crate::auth0::Auth0Client;
use crate::b2b::scim::{self as decide, TokenFacts, TokenStep};
use crate::crd::{ROTATE_SCIM_TOKEN_ANNOTATION, ScimStatus, SsoConnection};
use crate::reconcile::SyncError;
use crate::secret::SecretString;

/// Key of the SCIM base URL in the Secret.
pub const ENDPOINT_KEY: &str = "endpoint";
/// Key of the bearer token in the Secret.
pub const TOKEN_KEY: &str = "token";
/// Annotation on the Secret naming the token it holds (its Auth0 `token_id`).
pub const ANN_TOKEN_ID: &str = "sso-operator.io/scim-token-id";

/// Brings the token in line for an SsoConnection with SCIM enabled: `scim` is the status the
/// sync produced (endpoint set); its token fields are updated. `recheck`: a drift check, which
/// also asks Auth0 whether the token still exists. Returns when to decide again.
pub(super) async fn settle_token(
    obj: &SsoConnection,
    ctx: &Context,
    client: &Auth0Client,
    connection_id: &str,
    scim: &mut ScimStatus,
    recheck: bool,
    now: Timestamp,
) -> Result<Option<Timestamp>, SyncError> {
    let spec = obj.spec.scim.as_ref().filter(|s| s.enabled);
    let Some(spec) = spec else {
        return Ok(None);
    };
    let lifetime = decide::token_lifetime(spec).map_err(SyncError::InvalidSpec)?;
    let ns = obj.namespace().unwrap_or_default();
    let secret_name = obj.scim_secret_name();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = secrets
        .get_opt(&secret_name)
        .await
        .map_err(|e| SyncError::Kubernetes {
            what: format!("Secret {ns}/{secret_name}"),
            message: e.to_string(),
        })?;
    if let Some(existing) = &existing
        && !is_ours(&existing.metadata, obj)
    {
        return Err(SyncError::SecretConflict(format!(
            "Secret {ns}/{secret_name} exists and was not created by the operator for this SsoConnection; it was left untouched and no SCIM token was issued; rename or delete it so the operator can store the SCIM endpoint and token there"
        )));
    }
    let held = existing.as_ref().and_then(held_token);
    let endpoint = scim.endpoint.clone().unwrap_or_default();
    let listed: Option<Vec<String>> = match (&scim.token_id, recheck) {
        (Some(_), true) => Some(
            client
                .scim_tokens(connection_id)
                .await?
                .into_iter()
                .map(|t| t.token_id)
                .collect(),
        ),
        _ => None,
    };
    let request = obj
        .annotations()
        .get(ROTATE_SCIM_TOKEN_ANNOTATION)
        .map(String::as_str);
    let step = decide::token_step(&TokenFacts {
        status: Some(&*scim),
        secret_token_id: held.as_ref().map(|h| h.token_id.as_str()),
        secret_endpoint: held.as_ref().map(|h| h.endpoint.as_str()),
        endpoint: &endpoint,
        rotation_request: request,
        listed: listed.as_deref(),
        lifetime,
        now,
    });
    match step {
        TokenStep::Keep { rewrite_endpoint } => {
            if rewrite_endpoint {
                let patch = serde_json::json!({"stringData": {ENDPOINT_KEY: endpoint}});
                secrets
                    .patch(
                        &secret_name,
                        &PatchParams {
                            field_manager: Some(FIELD_MANAGER.to_string()),
                            ..Default::default()
                        },
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(|e| SyncError::Kubernetes {
                        what: format!("Secret {ns}/{secret_name}"),
                        message: e.to_string(),
                    })?;
            }
        }
        TokenStep::Issue {
            because,
            revoke_now,
            retire,
        } => {
            // Auth0 keeps at most two active tokens per connection: a replaced token still
            // valid for the IdP gives way early rather than block the new one.
            for token in decide::make_room(scim) {
                client.revoke_scim_token(connection_id, &token).await?;
                scim.retiring_tokens.retain(|t| t.token_id != token);
            }
            let issued = client
                .issue_scim_token(connection_id, lifetime.as_secs())
                .await?;
            let stored = write_secret(
                &secrets,
                obj,
                &secret_name,
                &endpoint,
                &issued.token_id,
                &issued.token,
            )
            .await;
            if let Err(e) = stored {
                // Nobody holds the new token: revoke it; the old one stays in use.
                if let Err(revoke) = client
                    .revoke_scim_token(connection_id, &issued.token_id)
                    .await
                {
                    tracing::warn!(token_id = %issued.token_id, error = %revoke, "revoking a SCIM token that could not be stored failed");
                }
                return Err(SyncError::Kubernetes {
                    what: format!("Secret {ns}/{secret_name}"),
                    message: e.to_string(),
                });
            }
            scim.token_id = Some(issued.token_id.clone());
            scim.token_valid_until = issued.valid_until.clone();
            scim.token_created_at = issued.created_at.clone();
            scim.last_rotation_request = request.map(str::to_string);
            scim.retiring_tokens.extend(retire);
            // The new token is stored: from here on nothing may fail the reconcile, or the
            // next one would take the Secret's token for a lost one.
            if let Some(old) = revoke_now
                && let Err(e) = client.revoke_scim_token(connection_id, &old).await
            {
                tracing::warn!(token_id = %old, error = %e, "revoking the replaced SCIM token failed; retried at the next reconcile");
                scim.retiring_tokens.push(crate::crd::RetiringToken {
                    token_id: old,
                    valid_until: None,
                });
            }
            publish(
                ctx,
                obj,
                EventType::Normal,
                "ScimTokenIssued",
                "IssueScimToken",
                &format!(
                    "issued SCIM token {} ({}) into Secret {ns}/{secret_name}{}",
                    issued.token_id,
                    because.describe(),
                    issued
                        .valid_until
                        .as_deref()
                        .map(|u| format!(", valid until {u}"))
                        .unwrap_or_default()
                ),
            )
            .await;
        }
    }
    // Replaced tokens whose time is up.
    for token in decide::retired(scim, now) {
        match client.revoke_scim_token(connection_id, &token).await {
            Ok(()) => scim.retiring_tokens.retain(|t| t.token_id != token),
            Err(e) => {
                tracing::warn!(token_id = %token, error = %e, "revoking a retired SCIM token failed; retried later")
            }
        }
    }
    Ok(decide::next_check(scim, lifetime))
}

/// Empties the Secret when SCIM is off (only the operator's own): its keys are dropped, and
/// the Secret itself goes with the SsoConnection (the operator may not delete Secrets).
pub(super) async fn empty_secret(obj: &SsoConnection, ctx: &Context) -> Result<(), SyncError> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.scim_secret_name();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let failed = |e: kube::Error| SyncError::Kubernetes {
        what: format!("Secret {ns}/{name}"),
        message: e.to_string(),
    };
    match secrets.get_opt(&name).await.map_err(failed)? {
        Some(existing)
            if is_ours(&existing.metadata, obj)
                && existing.data.as_ref().is_some_and(|d| !d.is_empty()) =>
        {
            let patch = serde_json::json!({
                "metadata": {"annotations": {ANN_TOKEN_ID: null}},
                "data": {ENDPOINT_KEY: null, TOKEN_KEY: null},
            });
            secrets
                .patch(
                    &name,
                    &PatchParams {
                        field_manager: Some(FIELD_MANAGER.to_string()),
                        ..Default::default()
                    },
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(failed)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

struct Held {
    token_id: String,
    endpoint: String,
}

/// The token the Secret holds: its id (annotation) when the token key is present.
fn held_token(secret: &Secret) -> Option<Held> {
    let data = secret.data.as_ref()?;
    let token = data.get(TOKEN_KEY)?;
    if token.0.is_empty() {
        return None;
    }
    let endpoint = data
        .get(ENDPOINT_KEY)
        .and_then(|e| String::from_utf8(e.0.clone()).ok())
        .unwrap_or_default();
    let token_id = secret.annotations().get(ANN_TOKEN_ID)?.clone();
    Some(Held { token_id, endpoint })
}

async fn write_secret(
    secrets: &Api<Secret>,
    obj: &SsoConnection,
    secret_name: &str,
    endpoint: &str,
    token_id: &str,
    token: &SecretString,
) -> Result<(), kube::Error> {
    let owner = obj.controller_owner_ref(&());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.to_string()),
            namespace: obj.namespace(),
            labels: Some(BTreeMap::from([
                (MANAGED_LABEL.to_string(), "sso-operator".to_string()),
                ("sso-operator.io/ssoconnection".to_string(), obj.name_any()),
            ])),
            annotations: Some(BTreeMap::from([(
                ANN_TOKEN_ID.to_string(),
                token_id.to_string(),
            )])),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".to_string()),
        data: Some(BTreeMap::from([
            (
                ENDPOINT_KEY.to_string(),
                ByteString(endpoint.as_bytes().to_vec()),
            ),
            (
                TOKEN_KEY.to_string(),
                ByteString(token.expose().as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    secrets
        .patch(
            secret_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .map(|_| ())
}
