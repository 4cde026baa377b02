//! `SamlApplication`: Auth0 as the SAML identity provider for a service provider.
//!
//! - [`plan`]: the SAML2 Web App addon settings, merged over the application (pure).
pub mod plan;
