//! A connection's SCIM configuration and tokens:
//! `/api/v2/connections/{id}/scim-configuration[/default-mapping|/tokens[/{tokenId}]]`
//! (docs/AUTH0_API.md §15). The admin API reuses [`configuration`] and [`tokens`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use rand::RngCore;
use rand::rngs::OsRng;
use serde_json::{Value, json};

use super::super::reply;
use super::super::scim_store::{
    MAX_ACTIVE_TOKENS, ScimConfig, ScimToken, default_mapping, default_user_id_attribute,
    optional_json, parse_config, parse_token_request, supports_scim, tenant_name, valid_until,
};
use super::super::state::{Shared, Tenant};
use super::super::store::StoredConnection;
use super::super::token::Claims;
use super::super::validate::ApiError;
use super::{ConnectionId, RawSegment, require_scope};

/// `{tokenId}` of `…/scim-configuration/tokens/{tokenId}`.
type TokenId = RawSegment<7>;

/// The connection, if it exists and its strategy offers SCIM. Auth0 answers a connection of
/// another strategy `404 "scim strategy not enabled"` without `errorCode` (recorded by
/// terraform-provider-auth0's `TestAccSCIMConfiguration`).
fn scim_connection<'a>(t: &'a Tenant, id: &str) -> Result<&'a StoredConnection, ApiError> {
    let conn = t.store.get(id).ok_or_else(ApiError::no_connection)?;
    if conn.strategy().is_some_and(supports_scim) {
        Ok(conn)
    } else {
        Err(ApiError::new(404, "scim strategy not enabled", None))
    }
}

/// A SCIM connection without a configuration (message unconfirmed, §15).
fn no_configuration() -> ApiError {
    ApiError::new(404, "The SCIM configuration does not exist", None)
}

/// The configuration of connection `id` as Auth0 renders it.
pub(crate) fn configuration(shared: &Shared, t: &Tenant, id: &str) -> Result<Value, ApiError> {
    let conn = scim_connection(t, id)?;
    let entry = t.scim.get(id).ok_or_else(no_configuration)?;
    Ok(entry.config.render(
        tenant_name(&shared.domain),
        id,
        conn.name().unwrap_or_default(),
        conn.strategy().unwrap_or_default(),
    ))
}

/// The tokens of connection `id`, without their values.
pub(crate) fn tokens(t: &Tenant, id: &str) -> Result<Vec<Value>, ApiError> {
    scim_connection(t, id)?;
    let entry = t.scim.get(id).ok_or_else(no_configuration)?;
    Ok(entry.tokens.iter().map(ScimToken::render).collect())
}

/// `GET …/scim-configuration`.
pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:scim_config")?;
    let t = shared.lock();
    Ok(reply::json(200, configuration(&shared, &t, &id)?))
}

/// `POST …/scim-configuration`: the body is optional; what it leaves out gets the defaults of
/// the connection's strategy.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "create:scim_config")?;
    let input = parse_config(&optional_json(&body)?, false)?;
    let mut t = shared.lock();
    let strategy = scim_connection(&t, &id)?
        .strategy()
        .unwrap_or_default()
        .to_string();
    if t.scim.get(&id).is_some() {
        // Unconfirmed status and message (§15).
        return Err(ApiError::new(
            409,
            "A SCIM configuration already exists for this connection",
            None,
        ));
    }
    let now = jiff::Timestamp::now();
    let config = ScimConfig {
        user_id_attribute: input
            .user_id_attribute
            .unwrap_or_else(|| default_user_id_attribute(&strategy).to_string()),
        mapping: input.mapping.unwrap_or_else(|| default_mapping(&strategy)),
        created_at: now,
        updated_on: now,
    };
    t.scim.insert(&id, config);
    Ok(reply::json(201, configuration(&shared, &t, &id)?))
}

/// `PATCH …/scim-configuration`: both `user_id_attribute` and `mapping` are required.
pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "update:scim_config")?;
    let input = parse_config(&optional_json(&body)?, true)?;
    let mut t = shared.lock();
    scim_connection(&t, &id)?;
    let entry = t.scim.get_mut(&id).ok_or_else(no_configuration)?;
    if let Some(attribute) = input.user_id_attribute {
        entry.config.user_id_attribute = attribute;
    }
    if let Some(mapping) = input.mapping {
        entry.config.mapping = mapping;
    }
    entry.config.updated_on = jiff::Timestamp::now();
    Ok(reply::json(200, configuration(&shared, &t, &id)?))
}

/// `DELETE …/scim-configuration`: `204` (recorded), and every token of the connection stops
/// working.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "delete:scim_config")?;
    let mut t = shared.lock();
    scim_connection(&t, &id)?;
    if t.scim.remove(&id) {
        Ok(reply::empty(204))
    } else {
        Err(no_configuration())
    }
}

/// `GET …/scim-configuration/default-mapping`: `{"mapping": […]}` for the connection's
/// strategy, whether or not SCIM is configured.
pub(crate) async fn default_mapping_of(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:scim_config")?;
    let t = shared.lock();
    let strategy = scim_connection(&t, &id)?.strategy().unwrap_or_default();
    Ok(reply::json(
        200,
        json!({"mapping": default_mapping(strategy)}),
    ))
}

/// `GET …/scim-configuration/tokens`: ids, scopes and dates, never a value.
pub(crate) async fn list_tokens(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:scim_token")?;
    let t = shared.lock();
    Ok(reply::json(200, Value::Array(tokens(&t, &id)?)))
}

/// `POST …/scim-configuration/tokens`: `201` with the value, shown this once. At most
/// [`MAX_ACTIVE_TOKENS`] unexpired tokens per connection ("Configure Inbound SCIM").
pub(crate) async fn create_token(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "create:scim_token")?;
    let input = parse_token_request(&optional_json(&body)?)?;
    let now = jiff::Timestamp::now();
    let until = valid_until(now, input.lifetime)?;
    let mut t = shared.lock();
    scim_connection(&t, &id)?;
    let entry = t.scim.get(&id).ok_or_else(no_configuration)?;
    let active = entry
        .tokens
        .iter()
        .filter(|tok| !tok.is_expired(now))
        .count();
    if active >= MAX_ACTIVE_TOKENS {
        // The limit is documented, the status and message are not (§15).
        return Err(ApiError::new(
            409,
            format!("A connection can have at most {MAX_ACTIVE_TOKENS} active SCIM tokens"),
            None,
        ));
    }
    let token_id = loop {
        let candidate = t.store.random_id("tok_");
        if !t.scim.has_token_id(&candidate) {
            break candidate;
        }
    };
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    // The shape of the values Auth0 issues: the token id, a dot, 64 hex digits.
    let value = format!("{token_id}.{}", hex::encode(secret));
    let token = ScimToken::new(token_id, &value, input.scopes, now, until);
    let created = token.render_created(&value);
    let Some(entry) = t.scim.get_mut(&id) else {
        return Err(no_configuration());
    };
    entry.tokens.push(token);
    Ok(reply::json(201, created))
}

/// `DELETE …/scim-configuration/tokens/{tokenId}`: `204`; the token stops working at once.
pub(crate) async fn delete_token(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    RawSegment(token_id): TokenId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "delete:scim_token")?;
    let mut t = shared.lock();
    scim_connection(&t, &id)?;
    let entry = t.scim.get_mut(&id).ok_or_else(no_configuration)?;
    let before = entry.tokens.len();
    entry.tokens.retain(|tok| tok.token_id != token_id);
    if entry.tokens.len() == before {
        // Unconfirmed message (§15).
        return Err(ApiError::new(404, "The SCIM token does not exist", None));
    }
    Ok(reply::empty(204))
}
