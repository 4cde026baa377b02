//! The organization endpoints: organizations, and the connections enabled for each
//! (docs/AUTH0_API.md §14). The admin API reuses [`create_organization`],
//! [`enable_connection`] and [`enabled_items`] so that what it seeds is exactly what the
//! Management API would have stored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::orgs::{
    EnabledConnection, Organization, parse_enable, parse_flag_update, parse_new_organization,
};
use super::super::reply;
use super::super::state::{Shared, Tenant};
use super::super::store::Store;
use super::super::token::Claims;
use super::super::validate::ApiError;
use super::connections::parse_json_body;
use super::query::{bad_query, decode_cursor, encode_cursor, parse_bool, parse_range, query_pairs};
use super::{RawSegment, require_scope};

/// `{id}` of `/api/v2/organizations/{id}[/…]`.
type OrganizationId = RawSegment<4>;
/// `{name}` of `/api/v2/organizations/name/{name}`.
type OrganizationName = RawSegment<5>;
/// `{connectionId}` of `/api/v2/organizations/{id}/enabled_connections/{connectionId}`.
type EnabledConnectionId = RawSegment<6>;

/// Offset paging stops at the 1000th record ("Retrieve Organizations", `invalid_paging`).
const MAX_OFFSET_RECORDS: u64 = 1000;

/// GET of an organization id or name Auth0 does not know (the message the SDKs' integration
/// tests assert; no `errorCode` is documented).
pub(crate) fn no_organization() -> ApiError {
    ApiError::new(404, "No organization found by that id or name", None)
}

/// A connection that is not enabled for the organization (message asserted by auth0.net's
/// integration tests and terraform-provider-auth0's 404 handling).
fn not_enabled() -> ApiError {
    ApiError::new(404, "No connection found by that id", None)
}

/// `GET /api/v2/organizations`: offset pages (`page`, `per_page`, `include_totals`) or
/// checkpoint pages (`from`, `take`), optionally sorted.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:organizations")?;
    let (mut page, mut per_page, mut take, mut from) = (None, None, None, None);
    let mut include_totals = false;
    let mut sort = None;
    for (k, v) in query_pairs(query.as_deref().unwrap_or_default()) {
        match k.as_str() {
            "page" => page = Some(parse_range("page", &v, 0, u64::from(u32::MAX))?),
            "per_page" => per_page = Some(parse_range("per_page", &v, 1, 100)?),
            "include_totals" => include_totals = parse_bool("include_totals", &v)?,
            "take" => take = Some(parse_range("take", &v, 1, 100)?),
            "from" => from = Some(v),
            "sort" => sort = Some(parse_sort(&v)?),
            other => {
                return Err(bad_query(&format!(
                    "Additional properties not allowed: {other}"
                )));
            }
        }
    }
    let t = shared.lock();
    let mut orgs: Vec<&Organization> = t.orgs.all().iter().collect();
    if let Some((field, ascending)) = sort {
        orgs.sort_by(|a, b| {
            let order = match field {
                SortField::Name => a.name.cmp(&b.name),
                SortField::DisplayName => display_name(a).cmp(display_name(b)),
                SortField::CreatedAt => a.seq.cmp(&b.seq),
            };
            if ascending { order } else { order.reverse() }
        });
    }
    if take.is_some() || from.is_some() {
        let take = take.unwrap_or(50) as usize;
        let offset = match &from {
            Some(cursor) => decode_cursor("o", cursor)
                .ok_or_else(|| bad_query("from is not a valid checkpoint"))?
                as usize,
            None => 0,
        };
        let items: Vec<Value> = orgs
            .iter()
            .skip(offset)
            .take(take)
            .map(|o| o.render())
            .collect();
        let mut out = Map::new();
        out.insert("organizations".into(), Value::Array(items));
        if orgs.len() > offset + take {
            out.insert(
                "next".into(),
                json!(encode_cursor("o", (offset + take) as u64)),
            );
        }
        return Ok(reply::json(200, Value::Object(out)));
    }
    let per_page = per_page.unwrap_or(50);
    let start = page.unwrap_or(0).saturating_mul(per_page);
    if start.saturating_add(per_page) > MAX_OFFSET_RECORDS {
        return Err(ApiError::new(
            400,
            "Requesting page exceeds the allowed maximum of 1000 records.",
            Some("invalid_paging"),
        ));
    }
    let items: Vec<Value> = orgs
        .iter()
        .skip(start as usize)
        .take(per_page as usize)
        .map(|o| o.render())
        .collect();
    if include_totals {
        Ok(reply::json(
            200,
            json!({"organizations": items, "start": start, "limit": per_page, "total": orgs.len()}),
        ))
    } else {
        Ok(reply::json(200, Value::Array(items)))
    }
}

#[derive(Clone, Copy)]
enum SortField {
    Name,
    DisplayName,
    CreatedAt,
}

/// `field:1` or `field:-1` for `name`, `display_name` or `created_at`.
fn parse_sort(v: &str) -> Result<(SortField, bool), ApiError> {
    let bad = || bad_query("sort must be name, display_name or created_at followed by :1 or :-1");
    let (field, order) = v.split_once(':').ok_or_else(bad)?;
    let field = match field {
        "name" => SortField::Name,
        "display_name" => SortField::DisplayName,
        "created_at" => SortField::CreatedAt,
        _ => return Err(bad()),
    };
    match order {
        "1" => Ok((field, true)),
        "-1" => Ok((field, false)),
        _ => Err(bad()),
    }
}

fn display_name(org: &Organization) -> &str {
    org.fields
        .get("display_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `POST /api/v2/organizations`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "create:organizations")?;
    let value = parse_json_body(&body)?;
    let created = create_organization(&mut shared.lock(), &value)?;
    Ok(reply::json(201, created))
}

/// Checks and stores a new organization, answering what `POST /organizations` answers.
pub(crate) fn create_organization(t: &mut Tenant, body: &Value) -> Result<Value, ApiError> {
    let new = parse_new_organization(body)?;
    if t.orgs.by_name(&new.name).is_some() {
        // Status as for every other name clash; the message is unconfirmed (§14).
        return Err(ApiError::new(
            409,
            "An organization with this name already exists",
            None,
        ));
    }
    if new
        .connections
        .iter()
        .any(|c| t.store.get(&c.connection_id).is_none())
    {
        return Err(ApiError::no_connection());
    }
    let id = loop {
        let id = t.store.random_id("org_");
        if t.orgs.get(&id).is_none() {
            break id;
        }
    };
    Ok(t.orgs.insert(id, new).render_created())
}

/// `GET /api/v2/organizations/{id}`.
pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): OrganizationId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:organizations")?;
    let t = shared.lock();
    let org = t.orgs.get(&id).ok_or_else(no_organization)?;
    Ok(reply::json(200, org.render()))
}

/// `GET /api/v2/organizations/name/{name}`.
pub(crate) async fn read_by_name(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(name): OrganizationName,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:organizations")?;
    let t = shared.lock();
    let org = t.orgs.by_name(&name).ok_or_else(no_organization)?;
    Ok(reply::json(200, org.render()))
}

/// `DELETE /api/v2/organizations/{id}`: 204, or the documented 404.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): OrganizationId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "delete:organizations")?;
    if shared.lock().orgs.delete(&id) {
        Ok(reply::empty(204))
    } else {
        Err(ApiError::new(404, "The organization does not exist.", None))
    }
}

/// The item of an enabled connection, with its connection's current name and strategy.
fn render_item(store: &Store, item: &EnabledConnection) -> Option<Value> {
    let conn = store.get(&item.connection_id)?;
    Some(item.render(
        conn.name().unwrap_or_default(),
        conn.strategy().unwrap_or_default(),
    ))
}

/// Every enabled connection of organization `org_id`, rendered.
pub(crate) fn enabled_items(t: &Tenant, org_id: &str) -> Result<Vec<Value>, ApiError> {
    let org = t.orgs.get(org_id).ok_or_else(no_organization)?;
    Ok(org
        .connections
        .iter()
        .filter_map(|c| render_item(&t.store, c))
        .collect())
}

/// `GET /api/v2/organizations/{id}/enabled_connections`: offset pages; with totals, `limit`
/// is the number of items returned, as Auth0 answered it (terraform-provider-auth0's recorded
/// `TestAccOrganizationConnection`).
pub(crate) async fn list_connections(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): OrganizationId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:organization_connections")?;
    let (mut page, mut per_page, mut include_totals) = (0u64, 50u64, false);
    for (k, v) in query_pairs(query.as_deref().unwrap_or_default()) {
        match k.as_str() {
            "page" => page = parse_range("page", &v, 0, u64::from(u32::MAX))?,
            "per_page" => per_page = parse_range("per_page", &v, 1, 100)?,
            "include_totals" => include_totals = parse_bool("include_totals", &v)?,
            other => {
                return Err(bad_query(&format!(
                    "Additional properties not allowed: {other}"
                )));
            }
        }
    }
    let all = enabled_items(&shared.lock(), &id)?;
    let start = page.saturating_mul(per_page);
    let items: Vec<Value> = all
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(per_page as usize)
        .cloned()
        .collect();
    if include_totals {
        let limit = items.len();
        Ok(reply::json(
            200,
            json!({"enabled_connections": items, "start": start, "limit": limit, "total": all.len()}),
        ))
    } else {
        Ok(reply::json(200, Value::Array(items)))
    }
}

/// `POST /api/v2/organizations/{id}/enabled_connections`.
pub(crate) async fn add_connection(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): OrganizationId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "create:organization_connections")?;
    let value = parse_json_body(&body)?;
    let item = enable_connection(&mut shared.lock(), &id, &value)?;
    Ok(reply::json(201, item))
}

/// Checks and enables a connection for organization `org_id`, answering the `201` item.
pub(crate) fn enable_connection(
    t: &mut Tenant,
    org_id: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let item = parse_enable(body)?;
    if t.orgs.get(org_id).is_none() {
        return Err(no_organization());
    }
    let Some(rendered) = render_item(&t.store, &item) else {
        return Err(ApiError::no_connection());
    };
    let Some(org) = t.orgs.get_mut(org_id) else {
        return Err(no_organization());
    };
    if org.connection(&item.connection_id).is_some() {
        // Unconfirmed status and message (§14).
        return Err(ApiError::new(
            409,
            "The connection is already enabled for this organization",
            None,
        ));
    }
    org.connections.push(item);
    Ok(rendered)
}

/// `GET /api/v2/organizations/{id}/enabled_connections/{connectionId}`.
pub(crate) async fn read_connection(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): OrganizationId,
    RawSegment(connection_id): EnabledConnectionId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "read:organization_connections")?;
    let t = shared.lock();
    let org = t.orgs.get(&id).ok_or_else(no_organization)?;
    let item = org
        .connection(&connection_id)
        .and_then(|c| render_item(&t.store, c))
        .ok_or_else(not_enabled)?;
    Ok(reply::json(200, item))
}

/// `PATCH /api/v2/organizations/{id}/enabled_connections/{connectionId}`.
pub(crate) async fn update_connection(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): OrganizationId,
    RawSegment(connection_id): EnabledConnectionId,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_scope(&claims, "update:organization_connections")?;
    let update = parse_flag_update(&parse_json_body(&body)?)?;
    let mut t = shared.lock();
    let Tenant { orgs, store, .. } = &mut *t;
    let org = orgs.get_mut(&id).ok_or_else(no_organization)?;
    let item = org
        .connections
        .iter_mut()
        .find(|c| c.connection_id == connection_id)
        .ok_or_else(not_enabled)?;
    update.apply(item);
    let rendered = render_item(store, item).ok_or_else(not_enabled)?;
    Ok(reply::json(200, rendered))
}

/// `DELETE /api/v2/organizations/{id}/enabled_connections/{connectionId}`: 204 whether or
/// not it was enabled (auth0.net's integration test disables a connection twice).
pub(crate) async fn remove_connection(
    State(shared): State<Arc<Shared>>,
    claims: Claims,
    RawSegment(id): OrganizationId,
    RawSegment(connection_id): EnabledConnectionId,
) -> Result<Response, ApiError> {
    require_scope(&claims, "delete:organization_connections")?;
    let mut t = shared.lock();
    let org = t.orgs.get_mut(&id).ok_or_else(no_organization)?;
    org.connections.retain(|c| c.connection_id != connection_id);
    Ok(reply::empty(204))
}
