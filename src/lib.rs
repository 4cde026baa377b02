//! sso-operator: Auth0 SAML enterprise connections from Kubernetes manifests.
//!
//! Data flow: IdP metadata XML ([`metadata`], pure) and the spec ([`crd`]) and the connection
//! read from Auth0 ([`auth0`]) meet in [`plan`] (pure: desired options, merge over current,
//! diff); [`reconcile`] runs gather → plan → write for both the in-cluster [`controller`] and
//! the offline `plan`/`apply` ([`offline`]).
//!
//! - [`crd`]: SsoConnection spec/status, the public contract.
//! - [`metadata`]: federation metadata XML → `IdpMetadata` (streaming, bounded);
//!   [`metadata::sp`]: SP metadata → `SpMetadata` (ACS, SLO, signing flags, certificates), for
//!   `SamlApplication`, read by the same bounded pass.
//! - [`metadata_url`]: `spec.metadata.url`: fetching under SSRF rules, refresh schedule, last
//!   good document.
//! - [`certs`]: X.509 parsing, fingerprints, Auth0's `signingCert` encoding.
//! - [`plan`]: desired samlp options, read-merge-write, diff.
//! - [`status`]: conditions, reasons, SP endpoints.
//! - [`sp_metadata`]: the SP metadata document Auth0 publishes for a connection, for the IdP
//!   administrator (pure).
//! - [`expiry`]: certificate expiry: days remaining, `CertificateExpiring`, notices (pure).
//! - [`auth0`]: Management API client: token cache, request budget, retries, wire model.
//! - [`encrypt`]: AES-256-GCM envelope and the HTTP `encrypt-string` backend.
//! - [`rollover`]: which listed IdP signing certificate Auth0 holds, and why not the others
//!   (pure).
//! - [`b2b`]: Organizations the connection is enabled on, and its SCIM provisioning.
//! - [`drift`]: drift detection in bulk: the tenant-wide listing a resync compares with.
//! - [`saml_app`]: `SamlApplication`, Auth0 as the SAML identity provider (addon settings
//!   merged over the application).
//! - [`reconcile`]: the reconcile core shared by controller and offline commands.
//! - [`controller`]: kube-runtime wiring, Secret/status/events, finalizer, requeue.
//! - [`offline`]: `plan`/`apply` from manifest files.
//! - [`inspect`]: `metadata inspect` output: the IdP side, the SP side, or both.
//! - [`server`], [`metrics`]: `/livez`, `/readyz`, `/metrics`.
//! - [`emulator`]: the Auth0 Management API emulator (binary `auth0-emulator`): an axum
//!   `Router`, its call log, rate limit and faults as middleware layers, and the typed
//!   `emulator::admin::AdminClient` the tests share.
//! - [`tenants`]: the registry of Auth0 tenants served side by side (one client each).
//! - [`policy`]: the `ClusterAuth0Tenant` policy and domain claims within a tenant (pure).
//! - [`ownership`]: the ownership marker in Auth0 metadata and who may change, adopt, release
//!   or delete what (pure).
//! - [`cli`], [`secret`]: flags, and a string type that never prints.

pub mod auth0;
pub mod b2b;
pub mod certs;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod drift;
pub mod emulator;
pub mod encrypt;
pub mod expiry;
pub mod inspect;
pub mod metadata;
pub mod metadata_url;
pub mod metrics;
pub mod offline;
pub mod ownership;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod rollover;
pub mod saml_app;
pub mod secret;
pub mod server;
pub mod sp_metadata;
pub mod status;
pub mod tenants;
