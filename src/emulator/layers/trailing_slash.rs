//! Trailing slashes on `/api/v2` and `/__emulator` paths are ignored, as they always were;
//! other paths (`/oauth/token/`, `/pem/`) stay unknown.

use axum::extract::{OriginalUri, Request};
use axum::http::Uri;
use axum::http::uri::PathAndQuery;
use axum::middleware::Next;
use axum::response::Response;

/// Routes the path without its trailing slashes; the call log, fault rules and admin errors
/// still see the path as sent ([`OriginalUri`]).
pub(crate) async fn trim_trailing_slashes(mut req: Request, next: Next) -> Response {
    let original = req.uri().clone();
    if req.extensions().get::<OriginalUri>().is_none() {
        req.extensions_mut().insert(OriginalUri(original.clone()));
    }
    let path = original.path();
    let trimmed = path.trim_end_matches('/');
    let served = ["/api/v2", "/__emulator"]
        .iter()
        .any(|base| trimmed == *base || trimmed.starts_with(&format!("{base}/")));
    if served && trimmed.len() != path.len() {
        let rewritten = match original.query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_string(),
        };
        let mut parts = original.into_parts();
        if let Ok(pq) = PathAndQuery::try_from(rewritten) {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    next.run(req).await
}
