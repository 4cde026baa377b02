//! The connection endpoints: list, create, read, update and delete
//! (docs/AUTH0_API.md §3.1–§3.5).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::config::RuntimeKnobs;
use super::super::reply;
use super::super::state::{Shared, Tenant};
use super::super::store::{StoredConnection, WriteSettings};
use super::super::token::Claims;
use super::super::validate::{ApiError, OptionsContext};
use super::query::{
    bad_query, decode_cursor, encode_cursor, parse_bool, parse_fields, parse_range, query_pairs,
};
use super::{ConnectionId, RawSegment, require_scope};

const OPTIONS_SCOPE_MESSAGE: &str =
    "Updating the \"options\" property requires the \"update:connections_options\" scope.";

/// Whether the caller sees `options` (docs/AUTH0_API.md §1.5).
pub(super) fn shows_options(t: &Tenant, claims: &Claims) -> bool {
    !t.knobs.options_scope_gating || claims.has_scope("read:connections_options")
}

/// The request body as JSON, or Auth0's 400.
pub(super) fn parse_json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::invalid_body("Invalid request payload JSON format"))
}

/// `GET /api/v2/connections`: offset pages, or checkpoint pages with `take`/`from`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    require_scope(&claims, "read:connections")?;
    let mut name = None;
    let mut strategies: Vec<String> = Vec::new();
    let (mut page, mut per_page, mut take, mut from) = (None, None, None, None);
    let mut include_totals = false;
    for (k, v) in query_pairs(&query) {
        match k.as_str() {
            "name" => name = Some(v),
            "strategy" => strategies.extend(v.split(',').map(str::to_string)),
            "page" => page = Some(parse_range("page", &v, 0, u64::from(u32::MAX))?),
            "per_page" => per_page = Some(parse_range("per_page", &v, 1, 100)?),
            "include_totals" => include_totals = parse_bool("include_totals", &v)?,
            "take" => take = Some(parse_range("take", &v, 1, 100)?),
            "from" => from = Some(v),
            _ => {}
        }
    }
    let fields = parse_fields(
        &query,
        &[
            "fields",
            "include_fields",
            "name",
            "strategy",
            "page",
            "per_page",
            "include_totals",
            "take",
            "from",
        ],
    )?;
    let t = shared.lock();
    let show = shows_options(&t, &claims);
    let legacy = t.knobs.legacy_enabled_clients;
    let matching: Vec<&StoredConnection> = t
        .store
        .all()
        .iter()
        .filter(|c| name.as_deref().is_none_or(|n| c.name() == Some(n)))
        .filter(|c| {
            strategies.is_empty()
                || c.strategy()
                    .is_some_and(|s| strategies.iter().any(|x| x == s))
        })
        .collect();
    let render = |c: &StoredConnection| {
        Value::Object(fields.apply(c.render(show, legacy), shared.tenant_profile))
    };
    if take.is_some() || from.is_some() {
        let take = take.unwrap_or(50) as usize;
        let after = match &from {
            Some(cursor) => decode_cursor("c", cursor)
                .ok_or_else(|| bad_query("from is not a valid checkpoint"))?,
            None => 0,
        };
        let rest: Vec<&StoredConnection> = matching.into_iter().filter(|c| c.seq > after).collect();
        let page: Vec<Value> = rest.iter().take(take).map(|c| render(c)).collect();
        let mut out = Map::new();
        out.insert("connections".into(), Value::Array(page));
        if rest.len() > take
            && let Some(last) = rest.get(take - 1)
        {
            out.insert("next".into(), json!(encode_cursor("c", last.seq)));
        }
        return Ok(reply::json(200, Value::Object(out)));
    }
    let per_page = per_page.unwrap_or(50) as usize;
    let page = page.unwrap_or(0) as usize;
    let start = page.saturating_mul(per_page);
    let items: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(per_page)
        .map(|c| render(c))
        .collect();
    if include_totals {
        Ok(reply::json(
            200,
            json!({"total": matching.len(), "start": start, "limit": per_page, "connections": items}),
        ))
    } else {
        Ok(reply::json(200, Value::Array(items)))
    }
}

/// `POST /api/v2/connections`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "create:connections")?;
    let value = parse_json_body(&body)?;
    let mut t = shared.lock();
    let show = shows_options(&t, &claims);
    let settings = settings(&shared, &t.knobs, true);
    let created = t.store.create(&value, &settings)?;
    // The POST response still echoes enabled_clients, even after the legacy EOL.
    Ok(reply::json(201, Value::Object(created.render(show, true))))
}

/// `GET /api/v2/connections/{id}`.
pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    require_scope(&claims, "read:connections")?;
    let fields = parse_fields(&query, &["fields", "include_fields"])?;
    let t = shared.lock();
    let conn = t.store.get(&id).ok_or_else(ApiError::no_connection)?;
    let rendered = conn.render(shows_options(&t, &claims), t.knobs.legacy_enabled_clients);
    Ok(reply::json(
        200,
        Value::Object(fields.apply(rendered, shared.tenant_profile)),
    ))
}

/// `PATCH /api/v2/connections/{id}`.
pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "update:connections")?;
    let value = parse_json_body(&body)?;
    let mut t = shared.lock();
    if t.knobs.options_scope_gating
        && value.get("options").is_some()
        && !claims.has_scope("update:connections_options")
    {
        return Err(ApiError::new(
            403,
            OPTIONS_SCOPE_MESSAGE,
            Some("insufficient_scope"),
        ));
    }
    let show = shows_options(&t, &claims);
    let legacy = t.knobs.legacy_enabled_clients;
    let settings = settings(&shared, &t.knobs, false);
    let updated = t.store.update(&id, &value, &settings)?;
    Ok(reply::json(
        200,
        Value::Object(updated.render(show, legacy)),
    ))
}

/// `DELETE /api/v2/connections/{id}`.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "delete:connections")?;
    let mut t = shared.lock();
    if t.store.delete(&id) {
        // The connection leaves every organization, and its SCIM configuration and tokens go
        // with it.
        t.orgs.forget_connection(&id);
        t.scim.remove(&id);
        Ok(reply::json(
            202,
            json!({"deleted_at": reply::timestamp_ms(jiff::Timestamp::now())}),
        ))
    } else {
        Ok(reply::empty(204))
    }
}

/// How the store validates and applies a write.
fn settings<'a>(shared: &'a Shared, knobs: &RuntimeKnobs, create: bool) -> WriteSettings<'a> {
    WriteSettings {
        domain: &shared.domain,
        tenant_profile: shared.tenant_profile,
        legacy_enabled_clients: knobs.legacy_enabled_clients,
        deletion_lag: Duration::from_millis(knobs.deletion_lag_ms),
        options: OptionsContext {
            metadata_urls: &shared.metadata_urls,
            now: jiff::Timestamp::now(),
            require_sign_in: create,
        },
    }
}
