//! Reads the whole request body before anything else, refusing more than 8 MB in Auth0's shape.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::super::reply;

/// The largest request body accepted.
pub(crate) const MAX_BODY: usize = 8 * 1024 * 1024;

/// Buffers the body (so handlers take it as `Bytes`), or answers 413 without logging the call.
pub(crate) async fn buffer_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => reply::json(
            413,
            json!({"statusCode":413,"error":"Payload Too Large","message":"Request body is larger than 8 MB"}),
        ),
    }
}
