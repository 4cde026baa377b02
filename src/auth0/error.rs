//! Errors of the Auth0 client, with the reason and retry class the controller needs.

use std::time::Duration;

/// What went wrong talking to Auth0. Messages carry Auth0's `message` (which holds no secrets)
/// and never a token or request body.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Auth0Error {
    /// Auth0 answered 4xx (other than 429) on a Management API call.
    #[error("Auth0 rejected {operation} ({status}{}): {message}", error_code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Rejected {
        /// Which call, e.g. `PATCH /connections/{id}`.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// Auth0 `errorCode`, when present.
        error_code: Option<String>,
        /// Auth0 `message`.
        message: String,
    },
    /// Auth0 answered 429 and retries ran out; `retry_after` is when the bucket refills.
    #[error("Auth0 rate limit reached on {operation}; retry in {}s", retry_after.as_secs())]
    RateLimited {
        /// Which call.
        operation: &'static str,
        /// How long until Auth0 adds tokens again.
        retry_after: Duration,
    },
    /// 5xx, timeout or a transport failure, after retries.
    #[error("Auth0 unavailable on {operation}: {message}")]
    Unavailable {
        /// Which call.
        operation: &'static str,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// What failed.
        message: String,
    },
    /// Auth0 answered 409 "A connection with the same name is being deleted, try again
    /// later": the name is free again once that deletion finishes.
    #[error("Auth0 is still deleting a connection with this name ({operation}): {message}")]
    NameBeingDeleted {
        /// Which call (a create).
        operation: &'static str,
        /// Auth0 `message`.
        message: String,
    },
    /// Not sent: background work yields the request budget to work a person is waiting for,
    /// and is booked `retry_after` from now (see `budget::Lane`). Nothing was written.
    #[error("deferred behind other work for {}s ({operation})", retry_after.as_secs())]
    Deferred {
        /// Which call.
        operation: &'static str,
        /// When the booked turn comes.
        retry_after: Duration,
    },
    /// The token endpoint refused the credentials (401/403): a configuration error.
    #[error(
        "Auth0 token request refused ({status}): {message}; check the client credentials (AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET) and that the application is authorized for the Management API"
    )]
    Token {
        /// HTTP status.
        status: u16,
        /// `error_description` from Auth0.
        message: String,
    },
    /// The client settings cannot be used (bad base URL, zero request budget).
    #[error("invalid Auth0 client settings: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// A response that does not parse as the documented shape.
    #[error("unexpected Auth0 response to {operation}: {message}")]
    Protocol {
        /// Which call.
        operation: &'static str,
        /// What did not parse.
        message: String,
    },
}

impl Auth0Error {
    /// The Ready condition reason this error maps to.
    pub fn reason(&self) -> crate::status::Reason {
        use crate::status::Reason;
        match self {
            Auth0Error::Rejected { status: 403, .. } if self.is_insufficient_scope() => {
                Reason::InsufficientScope
            }
            Auth0Error::Rejected { status: 401, .. } => Reason::InsufficientScope,
            Auth0Error::Rejected { .. }
            | Auth0Error::Protocol { .. }
            | Auth0Error::Config { .. } => Reason::Auth0Rejected,
            // 403: the application has no grant for the Management API; 401: wrong credentials.
            Auth0Error::Token { status: 403, .. } => Reason::InsufficientScope,
            Auth0Error::Token { .. } => Reason::Auth0Rejected,
            Auth0Error::RateLimited { .. }
            | Auth0Error::Unavailable { .. }
            | Auth0Error::NameBeingDeleted { .. }
            | Auth0Error::Deferred { .. } => Reason::Auth0Unavailable,
        }
    }

    /// Whether retrying later may succeed without a change by the user.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Auth0Error::RateLimited { .. }
                | Auth0Error::Unavailable { .. }
                | Auth0Error::NameBeingDeleted { .. }
                | Auth0Error::Deferred { .. }
        )
    }

    /// A 403 for a missing scope (base or options scope).
    pub fn is_insufficient_scope(&self) -> bool {
        match self {
            Auth0Error::Rejected {
                status: 403,
                error_code,
                message,
                ..
            } => {
                error_code.as_deref() == Some("insufficient_scope")
                    || message.starts_with("Updating the \"options\" property requires")
                    || message.starts_with("Insufficient scope")
            }
            _ => false,
        }
    }

    /// A 404 (the connection does not exist).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Auth0Error::Rejected { status: 404, .. })
    }

    /// A 409 `connection_conflict` on create (same name exists).
    pub fn is_name_conflict(&self) -> bool {
        matches!(self, Auth0Error::Rejected { status: 409, error_code: Some(c), .. } if c == "connection_conflict")
    }
}
