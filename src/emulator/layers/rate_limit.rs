//! The rate limit of `/api/v2` (docs/AUTH0_API.md §8): a 429 when the bucket is empty,
//! `x-ratelimit-*` headers on every other answer. It answers before fault injection, as
//! Auth0's edge answers before anything else.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::super::ratelimit::RateHeaders;
use super::super::reply::{self, ConnectionReset};
use super::super::state::Shared;

/// The token a call took, left in the request for fault injection's own 429.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quota {
    /// Headers of the bucket after the call.
    pub(crate) headers: RateHeaders,
    /// Whether 429s carry `Retry-After` (a runtime knob).
    pub(crate) retry_after: bool,
}

/// Auth0's 429: the body, and the bucket's headers with `Retry-After` if the knob says so.
pub(crate) fn too_many_requests(headers: &RateHeaders, retry_after: bool) -> Response {
    let mut response = reply::json(
        429,
        json!({"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}),
    );
    prepend_headers(&mut response, headers, retry_after, true);
    response
}

/// Puts the `x-ratelimit-*` headers first, where they always were.
fn prepend_headers(response: &mut Response, h: &RateHeaders, retry_after: bool, limited: bool) {
    let mut values = vec![
        ("x-ratelimit-limit", h.limit.to_string()),
        ("x-ratelimit-remaining", h.remaining.to_string()),
        ("x-ratelimit-reset", h.reset.to_string()),
    ];
    if limited && retry_after {
        values.push(("retry-after", h.retry_after.max(1).to_string()));
    }
    let rest = std::mem::take(response.headers_mut());
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response.headers_mut().extend(rest);
}

/// Takes a token from the call's bucket (listing connections has its own under some
/// policies) or answers 429.
pub(crate) async fn limit_rate(
    State(shared): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    let is_list = req.method() == Method::GET
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| p.as_str() == "/api/v2/connections");
    let quota = {
        let mut t = shared.lock();
        let knobs = t.knobs;
        match t.limiter.take(knobs.rate_limit, is_list) {
            Err(h) => return too_many_requests(&h, knobs.retry_after),
            Ok(headers) => Quota {
                headers,
                retry_after: knobs.retry_after,
            },
        }
    };
    req.extensions_mut().insert(quota);
    let mut response = next.run(req).await;
    let has_headers = response.headers().contains_key("x-ratelimit-limit");
    if !has_headers && response.extensions().get::<ConnectionReset>().is_none() {
        prepend_headers(&mut response, &quota.headers, quota.retry_after, false);
    }
    response
}
