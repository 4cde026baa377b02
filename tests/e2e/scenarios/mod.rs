//! The scenario registry. To add one: write `async fn my_scenario(env: &Env, ns: &str) ->
//! Result<(), String>` in a module here and list it in [`all`] with `scenario!(module::my_scenario)`.

mod b2b;
mod chart;
mod controller;
mod hostile;
mod leader;
mod metadata_url;
mod outage;
mod safety;
mod saml_app;
mod scale;
mod setup;
mod soak;
mod sp_metadata;
mod tenancy;

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
        scenario!(setup::cel_rules_are_enforced_by_the_server),
        scenario!(controller::applied_example_becomes_ready_with_encrypted_certificate),
        scenario!(controller::metadata_edit_rotates_certificate_with_one_patch),
        scenario!(controller::restrict_sso_only_and_enabled_clients),
        scenario!(controller::missing_configmap_reports_metadata_not_found_then_recovers),
        scenario!(controller::foreign_connection_conflicts_until_adopted),
        scenario!(controller::restart_creates_no_duplicates_and_writes_nothing),
        scenario!(controller::deletion_policy_delete_removes_and_retain_keeps),
        scenario!(controller::encryption_outage_keeps_connection_ready_then_recovers),
        scenario!(metadata_url::metadata_url_follows_a_rollover_and_survives_failures),
        scenario!(metadata_url::a_private_metadata_url_is_refused_without_the_flag),
        scenario!(scale::a_restart_lists_the_tenant_and_repairs_only_what_drifted),
        scenario!(scale::a_new_resource_overtakes_queued_background_work),
        scenario!(hostile::hostile_inputs_fail_clearly_while_healthy_resources_sync),
        scenario!(hostile::auth0_scope_and_credential_refusals_write_nothing),
        scenario!(setup::secret_scan_flags_each_kind_of_leak),
        scenario!(safety::a_foreign_secret_is_never_overwritten_or_owned),
        scenario!(safety::a_deletion_that_cannot_reach_auth0_names_the_way_out),
        scenario!(sp_metadata::sp_metadata_config_map_hands_the_sp_side_to_the_idp_administrator),
        scenario!(sp_metadata::sp_metadata_never_overwrites_a_users_config_map),
        scenario!(b2b::organizations_scim_and_display_name_onboard_a_customer),
        scenario!(saml_app::saml_application_hands_the_idp_side_to_the_sp_administrator),
        scenario!(tenancy::two_tenants_keep_namespaces_and_clusters_apart),
        scenario!(outage::watches_resume_after_the_api_server_restarts),
        scenario!(leader::only_the_leader_reconciles_and_a_killed_leader_is_replaced),
        scenario!(leader::a_leader_stopped_gracefully_releases_the_lease),
        scenario!(chart::helm_chart_installs_and_its_service_account_runs_the_operator),
        scenario!(soak::two_hundred_connections_converge_through_faults_and_a_kill),
    ]
}
