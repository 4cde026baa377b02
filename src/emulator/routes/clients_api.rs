//! The application endpoints: `/api/v2/clients` and `/api/v2/clients/{id}`
//! (docs/AUTH0_API.md §16). Not to be confused with [`super::clients`], a connection's enabled
//! clients. The admin API reuses [`update_client`] so that a Dashboard-style edit is checked
//! and applied exactly as the Management API's PATCH.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::apps::{StoredClient, apply_update, no_client};
use super::super::apps_schema::{ClientWrite, check_client_body};
use super::super::reply;
use super::super::state::{Shared, Tenant};
use super::super::token::Claims;
use super::super::validate::ApiError;
use super::RawSegment;
use super::connections::parse_json_body;
use super::query::{
    bad_query, decode_cursor, encode_cursor, parse_bool, parse_fields, parse_range, query_pairs,
};

/// `{id}` of `/api/v2/clients/{id}`.
type ClientId = RawSegment<4>;

/// Reading needs one of these ("Get clients": `read:clients` or `read:client_keys`).
const READ_SCOPES: [&str; 2] = ["read:clients", "read:client_keys"];
/// Updating needs one of these (the 403 of "Update a client" names both).
const UPDATE_SCOPES: [&str; 2] = ["update:clients", "update:client_keys"];
/// What a client secret, and the other key fields, are shown and written with.
const READ_KEYS: &str = "read:client_keys";
const UPDATE_KEYS: &str = "update:client_keys";

/// What `tenant` selections always return, as recorded for `fields=client_id`.
const ALWAYS_SELECTED: [&str; 1] = ["tenant"];

/// `403 insufficient_scope` unless the token grants one of `scopes`, naming them all.
fn require_any(claims: &Claims, scopes: &[&str]) -> Result<(), ApiError> {
    if scopes.iter().any(|s| claims.has_scope(s)) {
        Ok(())
    } else {
        Err(ApiError::insufficient_scope(&scopes.join(", ")))
    }
}

/// Whether the caller sees `client_secret` and the other key fields.
fn shows_keys(claims: &Claims) -> bool {
    claims.has_scope(READ_KEYS)
}

/// A comma-separated list.
fn list_of(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The filters of `GET /api/v2/clients`.
#[derive(Default)]
struct Filters {
    is_global: Option<bool>,
    is_first_party: Option<bool>,
    app_types: Option<Vec<String>>,
    client_ids: Option<Vec<String>>,
}

impl Filters {
    fn matches(&self, c: &StoredClient) -> bool {
        let first_party = c
            .body
            .get("is_first_party")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let app_type = c.body.get("app_type").and_then(Value::as_str);
        self.is_global.is_none_or(|g| c.is_global() == g)
            && self.is_first_party.is_none_or(|f| first_party == f)
            && self
                .app_types
                .as_ref()
                .is_none_or(|types| app_type.is_some_and(|t| types.iter().any(|x| x == t)))
            && self
                .client_ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|id| id == c.id()))
    }
}

/// `GET /api/v2/clients`: offset pages (`page`, `per_page`, `include_totals`) or checkpoint
/// pages (`from`, `take`), filtered by `is_global`, `is_first_party`, `app_type` and
/// `client_ids`, with `fields`/`include_fields`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_any(&claims, &READ_SCOPES)?;
    let query = query.unwrap_or_default();
    let mut filters = Filters::default();
    let (mut page, mut per_page, mut take, mut from) = (None, None, None, None);
    let mut include_totals = false;
    for (k, v) in query_pairs(&query) {
        match k.as_str() {
            "page" => page = Some(parse_range("page", &v, 0, u64::from(u32::MAX))?),
            "per_page" => per_page = Some(parse_range("per_page", &v, 1, 100)?),
            "include_totals" => include_totals = parse_bool("include_totals", &v)?,
            "take" => take = Some(parse_range("take", &v, 1, 100)?),
            "from" => from = Some(v),
            "is_global" => filters.is_global = Some(parse_bool("is_global", &v)?),
            "is_first_party" => filters.is_first_party = Some(parse_bool("is_first_party", &v)?),
            "app_type" => filters.app_types = Some(list_of(&v)),
            "client_ids" => filters.client_ids = Some(list_of(&v)),
            "q" => return Err(bad_query("q (Lucene queries) is not emulated")),
            _ => {}
        }
    }
    let fields = parse_fields(
        &query,
        &[
            "fields",
            "include_fields",
            "page",
            "per_page",
            "include_totals",
            "take",
            "from",
            "is_global",
            "is_first_party",
            "app_type",
            "client_ids",
        ],
    )?;
    let show_keys = shows_keys(&claims);
    let t = shared.lock();
    let matching: Vec<&StoredClient> = t.apps.all().iter().filter(|c| filters.matches(c)).collect();
    let render =
        |c: &StoredClient| Value::Object(fields.keep(c.render(show_keys), &ALWAYS_SELECTED));
    if take.is_some() || from.is_some() {
        let take = take.unwrap_or(50) as usize;
        let after = match &from {
            Some(cursor) => decode_cursor("a", cursor)
                .ok_or_else(|| bad_query("from is not a valid checkpoint"))?,
            None => 0,
        };
        let rest: Vec<&StoredClient> = matching.into_iter().filter(|c| c.seq > after).collect();
        let items: Vec<Value> = rest.iter().take(take).map(|c| render(c)).collect();
        let mut out = Map::new();
        out.insert("clients".into(), Value::Array(items));
        if rest.len() > take
            && let Some(last) = rest.get(take - 1)
        {
            out.insert("next".into(), json!(encode_cursor("a", last.seq)));
        }
        return Ok(reply::json(200, Value::Object(out)));
    }
    let per_page = per_page.unwrap_or(50);
    let start = page.unwrap_or(0).saturating_mul(per_page);
    let items: Vec<Value> = matching
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(per_page as usize)
        .map(|c| render(c))
        .collect();
    if include_totals {
        // Recorded key order: total, start, limit, clients.
        Ok(reply::json(
            200,
            json!({"total": matching.len(), "start": start, "limit": per_page, "clients": items}),
        ))
    } else {
        Ok(reply::json(200, Value::Array(items)))
    }
}

/// `POST /api/v2/clients`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_any(&claims, &["create:clients"])?;
    let fields = check_client_body(&parse_json_body(&body)?, ClientWrite::Create)?;
    let mut t = shared.lock();
    let created = t.apps.create(fields, &shared.client_defaults());
    Ok(reply::json(
        201,
        Value::Object(created.render(shows_keys(&claims))),
    ))
}

/// `GET /api/v2/clients/{id}`.
pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ClientId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_any(&claims, &READ_SCOPES)?;
    let fields = parse_fields(
        query.as_deref().unwrap_or_default(),
        &["fields", "include_fields"],
    )?;
    let t = shared.lock();
    let client = t.apps.get(&id).ok_or_else(no_client)?;
    Ok(reply::json(
        200,
        Value::Object(fields.keep(client.render(shows_keys(&claims)), &ALWAYS_SELECTED)),
    ))
}

/// Checks a PATCH body and applies it to client `id`, as `PATCH /api/v2/clients/{id}` does.
pub(crate) fn update_client<'a>(
    t: &'a mut Tenant,
    id: &str,
    body: &Value,
) -> Result<&'a StoredClient, ApiError> {
    let update = check_client_body(body, ClientWrite::Update)?;
    let client = t.apps.get_mut(id).ok_or_else(no_client)?;
    apply_update(&mut client.body, update)?;
    Ok(client)
}

/// `PATCH /api/v2/clients/{id}`.
pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ClientId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_any(&claims, &UPDATE_SCOPES)?;
    let value = parse_json_body(&body)?;
    if value.get("client_secret").is_some() && !claims.has_scope(UPDATE_KEYS) {
        // "Some fields cannot be updated with the permissions granted by the bearer token
        // scopes. The message will vary depending on the fields and the scopes." (unconfirmed
        // wording).
        return Err(ApiError::new(
            403,
            "Some fields cannot be updated with the permissions granted by the bearer token scopes: client_secret requires update:client_keys",
            Some("insufficient_scope"),
        ));
    }
    let mut t = shared.lock();
    let updated = update_client(&mut t, &id, &value)?;
    Ok(reply::json(
        200,
        Value::Object(updated.render(shows_keys(&claims))),
    ))
}

/// `DELETE /api/v2/clients/{id}`: 204; an unknown id → 404; the global client cannot go.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ClientId,
) -> Result<Response, ApiError> {
    require_any(&claims, &["delete:clients"])?;
    let mut t = shared.lock();
    if t.apps.get(&id).is_some_and(StoredClient::is_global) {
        // Status and wording of "Update a client"'s 403 `operation_not_supported`
        // (unconfirmed for DELETE).
        return Err(ApiError::new(
            403,
            "The account is not allowed to perform this operation.",
            Some("operation_not_supported"),
        ));
    }
    if t.apps.delete(&id) {
        Ok(reply::empty(204))
    } else {
        Err(no_client())
    }
}
