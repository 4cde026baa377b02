//! Organizations and the SCIM configuration through the reconcile core
//! (`reconcile::sync_connection`) against the in-process `auth0-emulator`: what Auth0 holds
//! after a sync, what a second sync writes (nothing), and what is never touched (another
//! connection enabled on the same organization, an organization the operator did not enable).

use serde_json::{Value, json};
use sso_operator::auth0::Auth0Client;
use sso_operator::crd::SsoConnection;
use sso_operator::offline::Manifests;
use sso_operator::reconcile::{self, Action, SyncError, SyncOptions, Tenant};
use sso_operator::status::Reason;

#[path = "support/emulator.rs"]
mod support;

use support::Emulator;

const NAME: &str = "acme-azure";

trait B2bAdmin {
    async fn our_connection_id(&self) -> String;
    async fn enabled_on(&self, org: &str) -> Vec<(String, Value)>;
}

impl B2bAdmin for Emulator {
    async fn our_connection_id(&self) -> String {
        self.admin
            .connection_named(NAME)
            .await
            .expect("connections")
            .expect("the connection exists")["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// `connection_id → item` of the organization's enabled connections.
    async fn enabled_on(&self, org: &str) -> Vec<(String, Value)> {
        self.admin
            .enabled_connections(org)
            .await
            .expect("enabled connections")
            .into_iter()
            .map(|item| {
                (
                    item["connection_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    item,
                )
            })
            .collect()
    }
}

/// An SsoConnection with `extra` merged into its spec, and its metadata ConfigMap.
fn manifests(extra: Value) -> (Manifests, SsoConnection) {
    support::acme_manifests(NAME, extra)
}

async fn sync(
    client: &Auth0Client,
    res: &SsoConnection,
    sources: &Manifests,
    dry_run: bool,
) -> Result<reconcile::Synced, SyncError> {
    reconcile::sync_connection(
        client,
        res,
        &reconcile::Claimant::new(
            res,
            "test-cluster",
            sso_operator::ownership::Adoption::Unowned,
        ),
        sources,
        SyncOptions {
            dry_run,
            ..SyncOptions::default()
        },
        jiff::Timestamp::now(),
    )
    .await
}

/// `res` as the controller leaves it after `synced`: the status it would write.
fn with_status(res: &SsoConnection, synced: &reconcile::Synced) -> SsoConnection {
    let mut next = res.clone();
    next.status = Some(reconcile::synced_status(
        res,
        synced,
        &Tenant::new("tenant.example.auth0.com", None, None),
        jiff::Timestamp::now(),
    ));
    next
}

/// `res` with the spec of `other` (an edit: the next generation), keeping the status.
fn edited(res: &SsoConnection, other: &SsoConnection) -> SsoConnection {
    let mut next = res.clone();
    next.spec = other.spec.clone();
    next.metadata.generation = res.metadata.generation.map(|g| g + 1);
    next
}

fn keys(synced: &reconcile::Synced) -> Vec<String> {
    synced.diff.changes.iter().map(|c| c.key.clone()).collect()
}

#[tokio::test]
async fn ours_is_enabled_beside_another_connection_and_only_ours_is_disabled_again() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let org = emulator
        .admin
        .create_organization("acme")
        .await
        .expect("org");
    let other = emulator
        .admin
        .seed_connection(json!({"name": "acme-google", "strategy": "google-apps", "options": {}}))
        .await
        .expect("seed");
    let other_id = other["id"].as_str().expect("id").to_string();
    emulator
        .admin
        .enable_connection(&org, &other_id, false, true)
        .await
        .expect("enable the other connection");

    let (sources, res) = manifests(json!({
        "organizations": [{"name": "acme", "assignMembershipOnLogin": true}],
    }));
    let created = sync(&client, &res, &sources, false).await.expect("synced");
    assert_eq!(created.action, Action::Created);
    let ours = emulator.our_connection_id().await;
    let enabled = emulator.enabled_on(&org).await;
    assert_eq!(enabled.len(), 2, "{enabled:?}");
    let item = &enabled.iter().find(|(id, _)| *id == ours).expect("ours").1;
    assert_eq!(item["assign_membership_on_login"], true);
    assert_eq!(item["show_as_button"], true);
    assert!(enabled.iter().any(|(id, _)| *id == other_id));
    assert_eq!(created.managed_organizations.len(), 1);
    assert_eq!(created.managed_organizations[0].id, org);
    assert!(created.managed_organizations[0].enabled_by_operator);

    // Applied: the next sync writes nothing and does not even read the organization.
    let applied = with_status(&res, &created);
    let seq = emulator.admin.last_seq().await.expect("seq");
    let again = sync(&client, &applied, &sources, false)
        .await
        .expect("synced");
    assert_eq!(again.action, Action::Unchanged);
    let calls = emulator.api_calls_since(seq).await;
    assert!(
        calls.iter().all(|c| !c.contains("organizations")),
        "{calls:?}"
    );

    // Dropped from the spec: ours is disabled, the other connection stays.
    let (_, without) = manifests(json!({}));
    let dropped = sync(&client, &edited(&applied, &without), &sources, false)
        .await
        .expect("synced");
    assert_eq!(dropped.action, Action::Updated);
    assert!(dropped.managed_organizations.is_empty());
    let enabled = emulator.enabled_on(&org).await;
    assert_eq!(
        enabled.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        vec![other_id]
    );
}

#[tokio::test]
async fn an_organization_enabled_before_the_spec_listed_it_stays_enabled_when_dropped() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let org = emulator
        .admin
        .create_organization("globex")
        .await
        .expect("org");
    let (sources, res) = manifests(json!({}));
    let created = sync(&client, &res, &sources, false).await.expect("synced");
    let ours = emulator.our_connection_id().await;
    // Enabled by hand, hidden.
    emulator
        .admin
        .enable_connection(&org, &ours, false, false)
        .await
        .expect("enable");

    let (_, listing) = manifests(json!({"organizations": [{"id": org}]}));
    let listed = sync(
        &client,
        &edited(&with_status(&res, &created), &listing),
        &sources,
        false,
    )
    .await
    .expect("synced");
    // The flags are the spec's now; the enablement is still not ours.
    assert_eq!(
        emulator.enabled_on(&org).await[0].1["show_as_button"],
        true,
        "showAsButton defaults to true"
    );
    assert!(!listed.managed_organizations[0].enabled_by_operator);

    let applied = with_status(&edited(&res, &listing), &listed);
    let (_, without) = manifests(json!({}));
    let dropped = sync(&client, &edited(&applied, &without), &sources, false)
        .await
        .expect("synced");
    assert!(dropped.managed_organizations.is_empty());
    assert_eq!(emulator.enabled_on(&org).await.len(), 1, "left enabled");
}

#[tokio::test]
async fn an_unknown_organization_is_organization_not_found_and_nothing_is_written() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let (sources, res) = manifests(json!({
        "displayName": "Acme",
        "organizations": [{"name": "no-such-org"}],
    }));
    let seq = emulator.admin.last_seq().await.expect("seq");
    let err = sync(&client, &res, &sources, false)
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), Reason::OrganizationNotFound);
    assert!(err.to_string().contains("no-such-org"), "{err}");
    assert!(
        emulator
            .admin
            .connection_named(NAME)
            .await
            .expect("connections")
            .is_none(),
        "no connection was created"
    );
    let calls = emulator.api_calls_since(seq).await;
    assert!(
        calls.iter().all(|c| c.starts_with("GET")),
        "only reads: {calls:?}"
    );
}

#[tokio::test]
async fn flags_changed_in_the_dashboard_are_set_back_at_a_drift_check() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let org = emulator
        .admin
        .create_organization("initech")
        .await
        .expect("org");
    let (sources, res) = manifests(json!({"organizations": [{"name": "initech"}]}));
    let created = sync(&client, &res, &sources, false).await.expect("synced");
    let applied = with_status(&res, &created);
    let ours = emulator.our_connection_id().await;
    // Someone hides the button in the Dashboard (a PATCH of the flags; POST answers 409).
    let token = emulator.admin.management_token().await.expect("token");
    let base = emulator.running.base_url();
    let reply = reqwest::Client::new()
        .patch(format!(
            "{base}/api/v2/organizations/{org}/enabled_connections/{ours}"
        ))
        .bearer_auth(token)
        .json(&json!({"show_as_button": false}))
        .send()
        .await
        .expect("patch");
    assert!(reply.status().is_success(), "{}", reply.status());

    let checked = reconcile::sync_connection(
        &client,
        &applied,
        &reconcile::Claimant::new(
            &applied,
            "test-cluster",
            sso_operator::ownership::Adoption::Unowned,
        ),
        &sources,
        SyncOptions {
            recheck_clients: true,
            ..SyncOptions::default()
        },
        jiff::Timestamp::now(),
    )
    .await
    .expect("synced");
    assert_eq!(checked.action, Action::Updated);
    assert!(
        keys(&checked)
            .iter()
            .any(|k| k == &format!("organization initech ({org})")),
        "{:?}",
        keys(&checked)
    );
    assert_eq!(emulator.enabled_on(&org).await[0].1["show_as_button"], true);
}

#[tokio::test]
async fn scim_configuration_is_created_with_the_spec_fields_and_deleted_when_turned_off() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let (sources, res) = manifests(json!({
        "scim": {"enabled": true, "userIdAttribute": "userName"},
    }));
    // A plan shows the configuration and the token, and writes nothing.
    let seq = emulator.admin.last_seq().await.expect("seq");
    let planned = sync(&client, &res, &sources, true).await.expect("planned");
    assert!(keys(&planned).contains(&"scim configuration".to_string()));
    assert!(keys(&planned).contains(&"scim token".to_string()));
    let calls = emulator.api_calls_since(seq).await;
    assert!(calls.iter().all(|c| c.starts_with("GET")), "{calls:?}");

    let created = sync(&client, &res, &sources, false).await.expect("synced");
    let ours = emulator.our_connection_id().await;
    let config = emulator
        .admin
        .scim_configuration(&ours)
        .await
        .expect("read")
        .expect("configured");
    assert_eq!(config["user_id_attribute"], "userName");
    let scim = created.scim.clone().expect("status.scim");
    assert_eq!(
        scim.endpoint.as_deref(),
        Some(format!("{}/scim/v2/connections/{ours}", emulator.running.base_url()).as_str())
    );
    assert_eq!(scim.secret_name.as_deref(), Some("acme-scim"));

    // Applied: nothing read or written for SCIM by the next sync.
    let applied = with_status(&res, &created);
    let seq = emulator.admin.last_seq().await.expect("seq");
    sync(&client, &applied, &sources, false)
        .await
        .expect("synced");
    let calls = emulator.api_calls_since(seq).await;
    assert!(calls.iter().all(|c| !c.contains("scim")), "{calls:?}");

    // Changed attribute: patched, other fields kept.
    let (_, changed) =
        manifests(json!({"scim": {"enabled": true, "userIdAttribute": "externalId"}}));
    let patched = sync(&client, &edited(&applied, &changed), &sources, false)
        .await
        .expect("synced");
    assert_eq!(patched.action, Action::Updated);
    let after = emulator
        .admin
        .scim_configuration(&ours)
        .await
        .expect("read")
        .expect("configured");
    assert_eq!(after["user_id_attribute"], "externalId");
    assert_eq!(after["mapping"], config["mapping"], "the mapping is kept");

    // Off: the configuration is deleted, status.scim cleared.
    let applied = with_status(&edited(&applied, &changed), &patched);
    let (_, off) = manifests(json!({"scim": {"enabled": false}}));
    let removed = sync(&client, &edited(&applied, &off), &sources, false)
        .await
        .expect("synced");
    assert!(removed.scim.is_none());
    assert!(
        emulator
            .admin
            .scim_configuration(&ours)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn a_plan_lists_organization_changes_and_writes_nothing() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let org = emulator
        .admin
        .create_organization("umbrella")
        .await
        .expect("org");
    let (sources, res) = manifests(json!({
        "organizations": [{"name": "umbrella", "showAsButton": false}],
    }));
    let seq = emulator.admin.last_seq().await.expect("seq");
    let planned = sync(&client, &res, &sources, true).await.expect("planned");
    let change = planned
        .diff
        .changes
        .iter()
        .find(|c| c.key == format!("organization umbrella ({org})"))
        .expect("the organization is in the plan");
    assert_eq!(
        change.after.as_deref(),
        Some("assignMembershipOnLogin=false, showAsButton=false")
    );
    let calls = emulator.api_calls_since(seq).await;
    assert!(calls.iter().all(|c| c.starts_with("GET")), "{calls:?}");
    assert!(emulator.enabled_on(&org).await.is_empty());
}
