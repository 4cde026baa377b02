//! B2B onboarding beyond the connection: the Auth0 Organizations it is enabled on and its SCIM
//! provisioning.
//!
//! - [`organizations`]: which organizations to enable, update or disable (pure);
//! - [`scim`]: the SCIM configuration to apply and when a token is issued or revoked (pure);
//! - [`sync`]: the Auth0 calls for both, shared by the controller and `plan`/`apply`.
//!
//! The SCIM token itself is issued by the controller only ([`crate::controller`]), because it
//! goes straight into a Secret.

pub mod organizations;
pub mod scim;
pub mod sync;

use crate::crd::SsoConnection;
use crate::status::{self, READY};

/// Whether the resource's current spec was fully applied: `Ready=True` for this generation.
/// Otherwise organizations and SCIM are compared with Auth0 again (a spec change, or a sync
/// that failed part-way).
pub fn spec_applied(res: &SsoConnection) -> bool {
    res.status
        .as_ref()
        .and_then(|s| status::find_condition(&s.conditions, READY))
        .is_some_and(|c| c.status == "True" && c.observed_generation == res.metadata.generation)
}
