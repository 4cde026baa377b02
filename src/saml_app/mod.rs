//! `SamlApplication`: Auth0 as the SAML identity provider for a service provider.
//!
//! - [`plan`]: the SAML2 Web App addon settings, merged over the application (pure);
//! - [`sp`]: the SP side from the SP's metadata;
//! - [`sync`]: one sync against Auth0, shared by the controller and `plan`/`apply`.

pub mod plan;
pub mod sp;
pub mod sync;
