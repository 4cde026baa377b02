//! Building responses, and the marks a handler or layer leaves on a response for the call log.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::validate::ApiError;

const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The fault a call met, as the call log spells it (`"503"`, `"latency"`, …).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FaultLabel(pub(crate) &'static str);

/// The status a request was served with before a fault injected after it replaced the answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AppliedStatus(pub(crate) u16);

/// Marks a response that is never sent: the connection is reset instead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionReset;

/// A JSON response (every body but `/pem`'s).
pub(crate) fn json(status: u16, body: Value) -> Response {
    text(status, JSON_UTF8, body.to_string())
}

/// A response with a body of `content_type`.
pub(crate) fn text(status: u16, content_type: &'static str, body: String) -> Response {
    let mut response = empty(status);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    *response.body_mut() = Body::from(body);
    response
}

/// A response without a body.
pub(crate) fn empty(status: u16) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// The Auth0-shaped 404 of a path or method the API does not have.
pub(crate) fn not_found() -> Response {
    json(
        404,
        json!({"statusCode":404,"error":"Not Found","message":"Not Found"}),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json(self.status, self.body)
    }
}

/// `2026-01-02T03:04:05.678Z`, as Auth0 writes timestamps.
pub(crate) fn timestamp_ms(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
