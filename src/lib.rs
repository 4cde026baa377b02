pub mod auth0;
pub mod certs;
pub mod crd;
pub mod metadata;
pub mod secret;
