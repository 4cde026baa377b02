//! Auth0 Management API client: token cache, shared request budget, retries, typed calls.

pub mod applications;
pub mod budget;
pub mod client;
pub mod error;
pub mod model;
pub mod organizations;
pub mod scim;
pub mod token;

pub use budget::{Lane, Priority, RetryTiming, in_lane};
pub use client::{Auth0Client, Auth0Config, ClientStats, ConfigError};
pub use error::Auth0Error;
pub use model::{ApiErrorBody, ClientStatus, Connection, ConnectionUpdate, NewConnection};
pub use token::REQUIRED_SCOPES;
