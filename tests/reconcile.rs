//! The reconcile core (`reconcile::sync_connection`) against the in-process `auth0-emulator`:
//! how a failed connection write is retried, and what the status records of secret-looking
//! `extraOptions`.

use serde_json::{Value, json};
use sso_operator::auth0::Auth0Client;
use sso_operator::crd::SsoConnection;
use sso_operator::offline::Manifests;
use sso_operator::reconcile::{self, Action, SyncError, SyncOptions, Tenant};

#[path = "support/emulator.rs"]
mod support;

use support::Emulator;

const NAME: &str = "acme-azure";

trait Steer {
    async fn add_fault(&self, rule: Value);
    async fn count(&self, key: &str) -> u64;
    async fn connection(&self) -> Value;
}

impl Steer for Emulator {
    async fn add_fault(&self, rule: Value) {
        self.admin
            .add_fault(rule)
            .await
            .expect("fault rule refused");
    }

    async fn count(&self, key: &str) -> u64 {
        self.admin.count(key).await.expect("stats")
    }

    /// The stored connection, options unredacted.
    async fn connection(&self) -> Value {
        self.admin
            .connection_named(NAME)
            .await
            .expect("connections")
            .expect("the connection exists")
    }
}

/// One SsoConnection with `extra_options`, and its metadata ConfigMap.
fn manifests(extra_options: Value) -> (Manifests, SsoConnection) {
    support::acme_manifests(NAME, json!({"extraOptions": extra_options}))
}

async fn sync(
    client: &Auth0Client,
    res: &SsoConnection,
    sources: &Manifests,
) -> Result<reconcile::Synced, SyncError> {
    sync_with(client, res, sources, None).await
}

/// Creates the connection, then returns the resource with one changed option to apply.
async fn created_then_changed(
    emulator: &Emulator,
    client: &Auth0Client,
) -> (Manifests, SsoConnection) {
    let (sources, res) = manifests(json!({"debug": false}));
    let created = sync(client, &res, &sources).await.expect("created");
    assert_eq!(created.action, Action::Created);
    assert_eq!(emulator.connection().await["options"]["debug"], false);
    manifests(json!({"debug": true}))
}

#[tokio::test]
async fn a_dashboard_edit_made_while_a_patch_failed_with_503_survives_the_retry() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let (sources, res) = created_then_changed(&emulator, &client).await;
    emulator
        .add_fault(json!({
            "method": "PATCH", "path": "/api/v2/connections/*", "kind": 503, "nth": 1,
            "edit_options": {"x_dashboard_setting": "set while the PATCH failed"},
        }))
        .await;

    let synced = sync(&client, &res, &sources)
        .await
        .expect("synced after a retry");
    assert_eq!(synced.action, Action::Updated);
    let options = &emulator.connection().await["options"];
    assert_eq!(options["debug"], true, "the operator's change landed");
    assert_eq!(
        options["x_dashboard_setting"], "set while the PATCH failed",
        "the Dashboard edit survives: {options}"
    );
    assert_eq!(
        emulator.count("PATCH /api/v2/connections/{id} 503").await,
        1
    );
    assert_eq!(
        emulator.count("PATCH /api/v2/connections/{id} 200").await,
        1
    );
}

#[tokio::test]
async fn a_dashboard_edit_made_while_a_patch_was_rate_limited_survives_the_retry() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let (sources, res) = created_then_changed(&emulator, &client).await;
    emulator
        .add_fault(json!({
            "method": "PATCH", "path": "/api/v2/connections/*", "kind": 429, "nth": 1,
            "edit_options": {"x_dashboard_setting": "set while the PATCH was refused"},
        }))
        .await;

    let synced = sync(&client, &res, &sources)
        .await
        .expect("synced after the wait");
    assert_eq!(synced.action, Action::Updated);
    let options = &emulator.connection().await["options"];
    assert_eq!(options["debug"], true);
    assert_eq!(
        options["x_dashboard_setting"],
        "set while the PATCH was refused"
    );
    assert_eq!(client.stats().rate_limited, 1);
}

#[tokio::test]
async fn a_patch_that_landed_before_its_error_is_not_sent_again() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let (sources, res) = created_then_changed(&emulator, &client).await;
    emulator
        .add_fault(json!({
            "method": "PATCH", "path": "/api/v2/connections/*", "kind": 502, "nth": 1,
            "phase": "after",
        }))
        .await;

    let synced = sync(&client, &res, &sources).await.expect("synced");
    assert_eq!(synced.action, Action::Updated);
    assert_eq!(emulator.connection().await["options"]["debug"], true);
    // The fresh read finds nothing left to change.
    assert_eq!(
        emulator.count("PATCH /api/v2/connections/{id} 502").await,
        1
    );
    assert_eq!(
        emulator.count("PATCH /api/v2/connections/{id} 200").await,
        0
    );
}

#[tokio::test]
async fn persistent_patch_failures_stop_after_four_attempts_as_a_transient_error() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let (sources, res) = created_then_changed(&emulator, &client).await;
    emulator
        .add_fault(json!({"method": "PATCH", "path": "/api/v2/connections/*", "kind": 503}))
        .await;

    let err = sync(&client, &res, &sources).await.expect_err("always 503");
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.reason().as_str(), "Auth0Unavailable");
    assert_eq!(
        emulator.count("PATCH /api/v2/connections/{id} 503").await,
        4
    );
    assert_eq!(emulator.connection().await["options"]["debug"], false);
}

#[tokio::test]
async fn secret_looking_extra_options_never_reach_the_status_and_a_second_sync_writes_nothing() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let tenant = Tenant::new("emulator.local", None, None);
    let secrets = [
        ("client_secret", "extra-client-secret-value"),
        ("idpPassword", "extra-password-value"),
        ("api_token", "extra-token-value"),
        ("privateKeyId", "extra-private-key-id-value"),
    ];
    let mut extra = json!({"debug": false});
    for (key, value) in secrets {
        extra[key] = json!(value);
    }
    let (sources, mut res) = manifests(extra.clone());

    let created = sync(&client, &res, &sources).await.expect("created");
    let status = reconcile::synced_status(&res, &created, &tenant, jiff::Timestamp::now());
    let shown = serde_json::to_string(&status).expect("status json");
    for (key, value) in secrets {
        assert!(!shown.contains(value), "{key} is shown in clear: {shown}");
        assert!(
            status.applied_options.as_ref().expect("applied")[key].is_string(),
            "{key} is still recorded as applied"
        );
    }
    assert_eq!(
        status.applied_options.as_ref().expect("applied")["debug"],
        false
    );
    // Auth0 holds the real values.
    let stored = emulator.connection().await;
    assert_eq!(
        stored["options"]["client_secret"],
        "extra-client-secret-value"
    );

    // The controller's next reconcile reads the status it wrote: nothing to write.
    res.status = Some(status);
    let patches = emulator.count("PATCH /api/v2/connections/{id} 200").await;
    let again = sync(&client, &res, &sources).await.expect("in sync");
    assert_eq!(again.action, Action::Unchanged);
    assert_eq!(
        emulator.count("PATCH /api/v2/connections/{id} 200").await,
        patches
    );

    // A new secret value is still applied, and still not shown.
    extra["client_secret"] = json!("rotated-client-secret-value");
    let (sources, mut rotated) = manifests(extra);
    rotated.status = res.status.clone();
    let updated = sync(&client, &rotated, &sources).await.expect("updated");
    assert_eq!(updated.action, Action::Updated);
    assert_eq!(
        emulator.connection().await["options"]["client_secret"],
        "rotated-client-secret-value"
    );
    let status = reconcile::synced_status(&rotated, &updated, &tenant, jiff::Timestamp::now());
    let shown = serde_json::to_string(&status).expect("status json");
    assert!(!shown.contains("rotated-client-secret-value"), "{shown}");
    assert!(emulator.connection().await["options"]["idpPassword"] == "extra-password-value");
}

trait Dashboard {
    async fn calls_and_seq(&self, since: u64) -> (Vec<String>, u64);
    async fn dashboard_edit(&self, client: &Auth0Client, key: &str, value: Value);
}

impl Dashboard for Emulator {
    /// `METHOD path` of the Management API calls after `since` (the token call excluded), and
    /// the latest sequence number.
    async fn calls_and_seq(&self, since: u64) -> (Vec<String>, u64) {
        let last = self.seq().await.max(since);
        (self.api_calls_since(since).await, last)
    }

    /// Changes one option of the stored connection as the Dashboard would (a PATCH of the
    /// whole options object by another client).
    async fn dashboard_edit(&self, client: &Auth0Client, key: &str, value: Value) {
        let conn = self.connection().await;
        let mut options = conn["options"].as_object().cloned().expect("options");
        options.insert(key.to_string(), value);
        let id = conn["id"].as_str().expect("id");
        client
            .update_connection(
                id,
                &sso_operator::auth0::ConnectionUpdate {
                    options: Some(options),
                    ..sso_operator::auth0::ConnectionUpdate::default()
                },
            )
            .await
            .expect("dashboard edit");
    }
}

async fn sync_with(
    client: &Auth0Client,
    res: &SsoConnection,
    sources: &Manifests,
    listed: Option<std::sync::Arc<sso_operator::drift::Listing>>,
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
            listed,
            ..SyncOptions::default()
        },
        jiff::Timestamp::now(),
    )
    .await
}

async fn listing(client: &Auth0Client) -> std::sync::Arc<sso_operator::drift::Listing> {
    std::sync::Arc::new(sso_operator::drift::Listing::new(
        jiff::Timestamp::now(),
        client
            .list_connections_of_strategy("samlp")
            .await
            .expect("listing"),
    ))
}

/// A create is one POST; a second resource of the same name after a lost status (no id) finds
/// its own connection through the 409 and creates no duplicate.
#[tokio::test]
async fn a_new_connection_costs_one_post_and_a_lost_reply_no_duplicate() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let (sources, res) = manifests(json!({"debug": false}));
    let (_, seq) = emulator.calls_and_seq(0).await;
    let created = sync(&client, &res, &sources).await.expect("created");
    assert_eq!(created.action, Action::Created);
    let (calls, seq) = emulator.calls_and_seq(seq).await;
    assert_eq!(calls, ["POST /api/v2/connections"], "a create is one call");

    // The status with the id was lost: the POST meets a 409, the name is looked up, the
    // marker says it is ours, nothing is duplicated or rewritten.
    let again = sync(&client, &res, &sources).await.expect("found again");
    assert_eq!(again.action, Action::Unchanged);
    assert_eq!(again.connection_id, created.connection_id);
    let (calls, _) = emulator.calls_and_seq(seq).await;
    assert_eq!(
        calls,
        ["POST /api/v2/connections", "GET /api/v2/connections"],
        "409, then one lookup by name"
    );
    let all = emulator.admin.connections().await.expect("connections");
    assert_eq!(all.len(), 1);
}

/// With the tenant's listing, an unchanged connection costs no call; a Dashboard change to a
/// managed option is found in the listing, re-read right before the PATCH, reverted, and a
/// foreign option survives; a connection the listing lacks is read by id.
#[tokio::test]
async fn a_listing_finds_drift_without_a_call_per_unchanged_connection() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let tenant = Tenant::new("emulator.local", None, None);
    let (sources, mut res) = manifests(json!({"debug": false}));
    let created = sync(&client, &res, &sources).await.expect("created");
    res.status = Some(reconcile::synced_status(
        &res,
        &created,
        &tenant,
        jiff::Timestamp::now(),
    ));

    let listed = listing(&client).await;
    let (_, seq) = emulator.calls_and_seq(0).await;
    let same = sync_with(&client, &res, &sources, Some(listed))
        .await
        .expect("in sync");
    assert_eq!(same.action, Action::Unchanged);
    let (calls, seq) = emulator.calls_and_seq(seq).await;
    assert!(
        calls.is_empty(),
        "an unchanged listed connection cost {calls:?}"
    );

    // Drift: the Dashboard flips a managed option and adds one of its own.
    emulator.dashboard_edit(&client, "debug", json!(true)).await;
    emulator
        .dashboard_edit(&client, "dashboardOnly", json!("kept"))
        .await;
    let listed = listing(&client).await;
    let (_, seq2) = emulator.calls_and_seq(seq).await;
    let repaired = sync_with(&client, &res, &sources, Some(listed))
        .await
        .expect("repaired");
    assert_eq!(repaired.action, Action::Updated);
    let (calls, seq) = emulator.calls_and_seq(seq2).await;
    assert_eq!(
        calls
            .iter()
            .map(|c| c.split(' ').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["GET", "PATCH"],
        "a fresh read right before the PATCH: {calls:?}"
    );
    let stored = emulator.connection().await;
    assert_eq!(
        stored["options"]["debug"], false,
        "the managed option is reverted"
    );
    assert_eq!(
        stored["options"]["dashboardOnly"], "kept",
        "a foreign option survives"
    );

    // A listing that lacks the connection concludes nothing: the connection is read by id.
    let empty = std::sync::Arc::new(sso_operator::drift::Listing::new(
        jiff::Timestamp::now(),
        vec![],
    ));
    let checked = sync_with(&client, &res, &sources, Some(empty))
        .await
        .expect("checked");
    assert_eq!(checked.action, Action::Unchanged);
    let (calls, _) = emulator.calls_and_seq(seq).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("GET /api/v2/connections/"),
        "{calls:?}"
    );
}

/// `spec.displayName` and `spec.showAsButton` reach Auth0, a second sync (by id, and against
/// a listing) writes nothing, and a Dashboard rename is reverted.
#[tokio::test]
async fn presentation_reaches_auth0_and_then_costs_nothing() {
    let emulator = Emulator::start().await;
    let client = emulator.client();
    let tenant = Tenant::new("emulator.local", None, None);
    let (sources, mut res) = manifests(json!({"debug": false}));
    res.spec.display_name = Some("Acme (Entra ID)".into());
    res.spec.show_as_button = Some(false);
    let created = sync(&client, &res, &sources).await.expect("created");
    res.status = Some(reconcile::synced_status(
        &res,
        &created,
        &tenant,
        jiff::Timestamp::now(),
    ));
    let stored = emulator.connection().await;
    assert_eq!(stored["display_name"], "Acme (Entra ID)");
    assert_eq!(stored["show_as_button"], false);

    let (_, seq) = emulator.calls_and_seq(0).await;
    let again = sync(&client, &res, &sources).await.expect("in sync");
    assert_eq!(again.action, Action::Unchanged);
    let listed = listing(&client).await;
    let (_, seq) = emulator.calls_and_seq(seq).await;
    let listed_again = sync_with(&client, &res, &sources, Some(listed))
        .await
        .expect("in sync");
    assert_eq!(listed_again.action, Action::Unchanged);
    let (calls, seq) = emulator.calls_and_seq(seq).await;
    assert!(calls.is_empty(), "{calls:?}");

    // The Dashboard renames it: reverted with the options left as they are.
    let id = stored["id"].as_str().expect("id").to_string();
    client
        .update_connection(
            &id,
            &sso_operator::auth0::ConnectionUpdate {
                display_name: Some("ACME".into()),
                ..Default::default()
            },
        )
        .await
        .expect("renamed");
    let (_, seq) = emulator.calls_and_seq(seq).await;
    let reverted = sync(&client, &res, &sources).await.expect("reverted");
    assert_eq!(reverted.action, Action::Updated);
    assert_eq!(
        emulator.connection().await["display_name"],
        "Acme (Entra ID)"
    );
    let (calls, _) = emulator.calls_and_seq(seq).await;
    assert_eq!(calls.len(), 2, "GET + PATCH: {calls:?}");
}
