pub mod auth0;
pub mod certs;
pub mod cli;
pub mod crd;
pub mod metadata;
pub mod plan;
pub mod secret;
pub mod status;
