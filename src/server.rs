//! `/livez`, `/readyz` and `/metrics`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// Why the operator is not ready before its first list.
const WAITING: &str = "waiting for the first list of SsoConnections";

/// Shared health state: live from the start; ready, or not with a reason `/readyz` names
/// (waiting for the first list, a failing watch).
#[derive(Clone)]
pub struct Health {
    readiness: Arc<Mutex<Result<(), String>>>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            readiness: Arc::new(Mutex::new(Err(WAITING.to_string()))),
        }
    }
}

impl Health {
    /// Marks the operator ready, or not ready as before its first list.
    pub fn set_ready(&self, ready: bool) {
        self.set_readiness(if ready { Ok(()) } else { Err(WAITING.into()) });
    }

    /// Ready, or not ready because of `Err(reason)`.
    pub fn set_readiness(&self, readiness: Result<(), String>) {
        *self.readiness.lock().unwrap_or_else(|p| p.into_inner()) = readiness;
    }

    /// Ready, or why not.
    pub fn readiness(&self) -> Result<(), String> {
        self.readiness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the operator is ready.
    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }
}

/// A hook run before each scrape, e.g. to copy the Auth0 client's counters into metrics.
pub type ScrapeHook = Arc<dyn Fn() + Send + Sync>;

/// The router serving the three endpoints.
pub fn router(health: Health, metrics: Metrics, before_scrape: Option<ScrapeHook>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = health.readiness();
                async move {
                    match readiness {
                        Ok(()) => (StatusCode::OK, "ok".to_string()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                if let Some(hook) = &before_scrape {
                    hook();
                }
                let body = metrics.encode();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response()
                }
            }),
        )
}

/// Serves the router on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: &str,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving /livez /readyz /metrics");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readyz_names_the_reason_and_livez_stays_ok() {
        let health = Health::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let app = router(health.clone(), Metrics::new(), None);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let get = |path: &str| {
            let url = format!("{base}{path}");
            async move {
                let resp = reqwest::get(&url).await.expect("GET");
                let status = resp.status().as_u16();
                (status, resp.text().await.expect("body"))
            }
        };

        assert_eq!(get("/readyz").await, (503, format!("not ready: {WAITING}")));
        health.set_ready(true);
        assert_eq!(get("/readyz").await, (200, "ok".to_string()));
        health.set_readiness(Err("the watch of ConfigMaps is failing".into()));
        assert_eq!(
            get("/readyz").await,
            (
                503,
                "not ready: the watch of ConfigMaps is failing".to_string()
            )
        );
        assert_eq!(get("/livez").await, (200, "ok".to_string()));
        health.set_ready(false);
        assert_eq!(get("/readyz").await.0, 503);
        server.abort();
    }
}
