//! The connection's enabled applications: `/api/v2/connections/{id}/clients`
//! (docs/AUTH0_API.md §3.6).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::reply;
use super::super::state::Shared;
use super::super::token::Claims;
use super::super::validate::ApiError;
use super::connections::parse_json_body;
use super::query::{bad_query, decode_cursor, encode_cursor, parse_range, query_pairs};
use super::{ConnectionId, RawSegment, require_scope};

/// `GET /api/v2/connections/{id}/clients`: checkpoint pages.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    require_scope(&claims, "read:connections")?;
    let (mut take, mut from) = (50usize, None);
    for (k, v) in query_pairs(&query) {
        match k.as_str() {
            "take" => take = parse_range("take", &v, 1, 1000)? as usize,
            "from" if v.len() <= 1000 => from = Some(v),
            "from" => return Err(bad_query("from must be at most 1000 characters")),
            other => {
                return Err(bad_query(&format!(
                    "Additional properties not allowed: {other}"
                )));
            }
        }
    }
    let t = shared.lock();
    let conn = t.store.get(&id).ok_or_else(ApiError::no_connection)?;
    let offset = match &from {
        Some(cursor) => decode_cursor("o", cursor)
            .ok_or_else(|| bad_query("from is not a valid checkpoint"))?
            as usize,
        None => 0,
    };
    let items: Vec<Value> = conn
        .clients
        .iter()
        .skip(offset)
        .take(take)
        .map(|c| json!({"client_id": c}))
        .collect();
    let mut out = Map::new();
    out.insert("clients".into(), Value::Array(items));
    if conn.clients.len() > offset + take {
        out.insert(
            "next".into(),
            json!(encode_cursor("o", (offset + take) as u64)),
        );
    }
    Ok(reply::json(200, Value::Object(out)))
}

/// `PATCH /api/v2/connections/{id}/clients`: enables and disables applications.
pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): ConnectionId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "update:connections")?;
    let value = parse_json_body(&body)?;
    let Value::Array(items) = &value else {
        return Err(ApiError::payload(&format!(
            "Expected type array but found type {}",
            if value.is_object() { "object" } else { "other" }
        )));
    };
    if items.is_empty() {
        return Err(ApiError::payload("Array is too short (0), minimum 1"));
    }
    if items.len() > 50 {
        return Err(ApiError::payload(&format!(
            "Array is too long ({}), maximum 50",
            items.len()
        )));
    }
    let mut changes: Vec<(String, bool)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let parsed = item.as_object().and_then(|o| {
            let client_id = o.get("client_id")?.as_str()?;
            let status = o.get("status")?.as_bool()?;
            (o.len() == 2 && !client_id.is_empty()).then(|| (client_id.to_string(), status))
        });
        let Some(change) = parsed else {
            return Err(ApiError::payload_at(
                "Expected an object with exactly client_id (string) and status (boolean)",
                &format!("[{i}]"),
            ));
        };
        changes.push(change);
    }
    let mut t = shared.lock();
    if t.store.get(&id).is_none() {
        return Err(ApiError::no_connection());
    }
    if let Some(known) = &shared.known_clients
        && changes.iter().any(|(c, _)| !known.contains(c))
    {
        return Err(ApiError::new(
            404,
            "The client does not exist",
            Some("inexistent_client"),
        ));
    }
    let Some(conn) = t.store.get_mut(&id) else {
        return Err(ApiError::no_connection());
    };
    for (client_id, enabled) in changes {
        let present = conn.clients.contains(&client_id);
        if enabled && !present {
            conn.clients.push(client_id);
        } else if !enabled {
            conn.clients.retain(|c| *c != client_id);
        }
    }
    Ok(reply::empty(204))
}
