pub mod auth0;
pub mod certs;
pub mod cli;
pub mod crd;
pub mod emulator;
pub mod encrypt;
pub mod metadata;
pub mod secret;
