//! The cross-cutting work around the routes, as `axum::middleware` layers: the body limit, the
//! call log and trailing slashes around everything; the latency knob, the rate limit and fault
//! injection around `/api/v2`; fault injection around `/oauth/token`.

pub(crate) mod body_limit;
pub(crate) mod call_log;
pub(crate) mod fault_injection;
pub(crate) mod rate_limit;
pub(crate) mod trailing_slash;
