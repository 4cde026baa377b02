//! Prometheus metrics. Labels are bounded: reasons, operations, statuses — never names of
//! resources, tokens or anything secret.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set of reconcile outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `created`, `updated`, `unchanged` or `error`.
    pub outcome: String,
}

/// Label set of errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A condition reason.
    pub reason: String,
}

/// Label set of Auth0 requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// e.g. `GET /connections/{id}`.
    pub operation: String,
    /// HTTP status, or `error` when no response arrived.
    pub status: String,
}

/// Label set of certificate expiration series: one per resource and certificate in use.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    /// The SsoConnection's namespace.
    pub namespace: String,
    /// The SsoConnection's name.
    pub name: String,
    /// `idp-signing`, `sp-signing` or `sp-decryption`.
    pub certificate: String,
}

/// The operator's metrics, cheap to clone.
/// One SsoConnection (its `metadata.url` fetch series).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Reconciles by outcome.
    pub reconciles: Family<OutcomeLabels, Counter>,
    /// Failed reconciles by reason.
    pub errors: Family<ReasonLabels, Counter>,
    /// Reconcile duration.
    pub duration: Histogram,
    /// Auth0 requests by operation and status (mirrors the client's counters).
    pub auth0_requests: Family<RequestLabels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// Encryption failures.
    pub encryption_failures: Counter,
    /// The earliest notAfter (Unix seconds) among the IdP certificates in use.
    pub soonest_cert_expiry: Gauge<f64, AtomicU64>,
    /// notAfter (Unix seconds) of each certificate in use, by resource and certificate.
    pub certificate_expiration: Family<CertificateLabels, Gauge>,
    /// 1 while the last fetch of a resource's `metadata.url` failed.
    pub metadata_fetch_failing: Family<ResourceLabels, Gauge>,
    /// When a resource's `metadata.url` last gave a usable document, Unix seconds.
    pub metadata_last_success: Family<ResourceLabels, Gauge>,
    /// SsoConnections whose Ready condition is True.
    pub ready_connections: Gauge,
    /// SsoConnections the operator knows of (its watch), Ready or not.
    pub connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `sso_operator` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sso_operator");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        let errors = Family::<ReasonLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let auth0_requests = Family::default();
        let encryption_failures = Counter::default();
        let soonest_cert_expiry = Gauge::<f64, AtomicU64>::default();
        let certificate_expiration = Family::<CertificateLabels, Gauge>::default();
        let metadata_fetch_failing = Family::<ResourceLabels, Gauge>::default();
        let metadata_last_success = Family::<ResourceLabels, Gauge>::default();
        let ready_connections = Gauge::default();
        let connections = Gauge::default();
        registry.register("reconciles", "Reconciles by outcome", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles by condition reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            duration.clone(),
        );
        registry.register(
            "auth0_requests",
            "Auth0 Management API requests by operation and HTTP status, since start",
            auth0_requests.clone(),
        );
        registry.register(
            "encryption_failures",
            "Failed encryptions of IdP signing certificates",
            encryption_failures.clone(),
        );
        registry.register(
            "idp_certificate_soonest_expiry_timestamp_seconds",
            "Earliest notAfter among IdP signing certificates in use (per-connection dates are in status)",
            soonest_cert_expiry.clone(),
        );
        registry.register(
            "certificate_expiration_timestamp_seconds",
            "notAfter of each certificate an SsoConnection uses (certificate: idp-signing, sp-signing, sp-decryption), Unix seconds",
            certificate_expiration.clone(),
        );
        registry.register(
            "metadata_fetch_failing",
            "1 while the last fetch of an SsoConnection's metadata.url failed (the last good document stays in use), else 0",
            metadata_fetch_failing.clone(),
        );
        registry.register(
            "metadata_last_successful_fetch_timestamp_seconds",
            "When an SsoConnection's metadata.url last answered with a usable document, Unix seconds",
            metadata_last_success.clone(),
        );
        registry.register(
            "ready_connections",
            "SsoConnections whose Ready condition is True",
            ready_connections.clone(),
        );
        registry.register(
            "connections",
            "SsoConnections the operator knows of, Ready or not",
            connections.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            reconciles,
            errors,
            duration,
            auth0_requests,
            encryption_failures,
            soonest_cert_expiry,
            certificate_expiration,
            metadata_fetch_failing,
            metadata_last_success,
            ready_connections,
            connections,
        }
    }

    /// Counts a reconcile outcome.
    pub fn count_outcome(&self, outcome: &str) {
        self.reconciles
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts a failure by reason.
    pub fn count_error(&self, reason: crate::status::Reason) {
        self.errors
            .get_or_create(&ReasonLabels {
                reason: reason.as_str().to_string(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric_with_the_prefix() {
        let m = Metrics::new();
        m.count_outcome("created");
        m.count_error(crate::status::Reason::InvalidMetadata);
        let text = m.encode();
        assert!(
            text.contains("sso_operator_reconciles_total{outcome=\"created\"} 1"),
            "{text}"
        );
        assert!(text.contains("sso_operator_reconcile_errors_total{reason=\"InvalidMetadata\"} 1"));
        assert!(text.contains("sso_operator_reconcile_duration_seconds"));
    }

    #[test]
    fn certificate_expiration_series_carry_resource_and_certificate_and_go_away() {
        let m = Metrics::new();
        let labels = CertificateLabels {
            namespace: "ns".into(),
            name: "acme".into(),
            certificate: "idp-signing".into(),
        };
        m.certificate_expiration
            .get_or_create(&labels)
            .set(2_000_000_000);
        let text = m.encode();
        assert!(
            text.contains("sso_operator_certificate_expiration_timestamp_seconds{namespace=\"ns\",name=\"acme\",certificate=\"idp-signing\"} 2000000000"),
            "{text}"
        );
        m.certificate_expiration.remove(&labels);
        let text = m.encode();
        assert!(!text.contains("name=\"acme\""), "{text}");
    }

    #[test]
    fn exposition_has_ready_and_total_connections() {
        let m = Metrics::new();
        m.ready_connections.set(2);
        m.connections.set(3);
        let text = m.encode();
        assert!(
            text.contains("\n# TYPE sso_operator_connections gauge\nsso_operator_connections 3\n"),
            "{text}"
        );
        assert!(
            text.contains("\nsso_operator_ready_connections 2\n"),
            "{text}"
        );
    }
}
