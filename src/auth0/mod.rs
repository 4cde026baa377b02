//! Auth0 Management API client: token cache, shared request budget, retries, typed calls.

pub mod error;
pub mod model;

pub use error::Auth0Error;
pub use model::{ApiErrorBody, ClientStatus, Connection, ConnectionUpdate, NewConnection};
