//! The scenario registry. To add one: write `async fn my_scenario(env: &Env, ns: &str) ->
//! Result<(), String>` in a module here and list it in [`all`] with `scenario!(module::my_scenario)`.

mod setup;

use futures::future::BoxFuture;

use crate::env::Env;

/// A named end-to-end scenario; `run` gets the shared environment and a fresh namespace.
pub struct Scenario {
    /// Printed in results and matched by the command-line filter.
    pub name: &'static str,
    /// The scenario body.
    pub run: for<'a> fn(&'a Env, &'a str) -> BoxFuture<'a, Result<(), String>>,
}

macro_rules! scenario {
    ($module:ident :: $f:ident) => {
        Scenario {
            name: stringify!($f),
            run: |env, ns| Box::pin($module::$f(env, ns)),
        }
    };
}

/// Every scenario, in the order they run.
pub fn all() -> Vec<Scenario> {
    vec![
        scenario!(setup::crd_installs_and_kubectl_shows_columns),
        scenario!(setup::operator_rbac_is_least_privilege),
        scenario!(setup::examples_validate_against_the_schema),
        scenario!(setup::secret_scan_flags_each_kind_of_leak),
    ]
}
