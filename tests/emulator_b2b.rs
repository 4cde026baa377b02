//! Organizations, SCIM configuration and tokens, and the SCIM server of `auth0-emulator`
//! (docs/AUTH0_API.md §14, §15), driven over HTTP against an in-process instance on a free
//! port, as `tests/emulator.rs` does for connections.

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::{Value, json};
use sso_operator::emulator::{ClientSpec, EmulatorConfig};

#[path = "support/emu_http.rs"]
mod emu_http;

use emu_http::{Emu, Reply};

const SCIM_JSON: &str = "application/scim+json; charset=utf-8";

fn config() -> EmulatorConfig {
    EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        extra_clients: vec![ClientSpec {
            id: "narrow".into(),
            secret: "narrow-secret".into(),
            scopes: vec!["read:connections".into(), "delete:connections".into()],
        }],
        ..EmulatorConfig::default()
    }
}

impl Emu {
    /// A connection inserted verbatim through the admin API; its id.
    async fn connection(&self, name: &str, strategy: &str) -> String {
        let stored = self
            .admin
            .seed_connection(json!({"name": name, "strategy": strategy}))
            .await
            .unwrap();
        stored["id"].as_str().unwrap().to_string()
    }

    async fn create_org(&self, body: Value) -> Value {
        let reply = self
            .call(Method::POST, "/api/v2/organizations", Some(body))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.raw);
        reply.body
    }

    async fn enable(&self, org: &str, body: Value) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v2/organizations/{org}/enabled_connections"),
            Some(body),
        )
        .await
    }

    async fn scim_config(&self, connection: &str) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v2/connections/{connection}/scim-configuration"),
            None,
        )
        .await
    }

    async fn scim_token(&self, connection: &str, body: Value) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v2/connections/{connection}/scim-configuration/tokens"),
            Some(body),
        )
        .await
    }

    fn scim_endpoint(&self, connection: &str) -> String {
        format!("{}/scim/v2/connections/{connection}", self.base)
    }

    async fn scim_users(&self, connection: &str, token: Option<&str>) -> Reply {
        let mut req = self
            .http
            .get(format!("{}/Users", self.scim_endpoint(connection)));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }
}

fn error(status: u16, error: &str, message: &str) -> Value {
    json!({"statusCode": status, "error": error, "message": message})
}

fn coded(status: u16, error: &str, message: &str, code: &str) -> Value {
    json!({"statusCode": status, "error": error, "message": message, "errorCode": code})
}

fn is_id(id: &Value, prefix: &str) -> bool {
    id.as_str()
        .and_then(|s| s.strip_prefix(prefix))
        .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[tokio::test]
async fn organizations_are_created_read_by_id_and_name_refused_when_taken_and_deleted() {
    let emu = Emu::start(config()).await;
    let created = emu
        .create_org(
            json!({"name": "acme", "display_name": "Acme Corp", "metadata": {"tier": "gold"}}),
        )
        .await;
    assert!(is_id(&created["id"], "org_"), "{created}");
    let id = created["id"].as_str().unwrap();
    // Auth0's create answer puts display_name before name (recorded traffic).
    assert_eq!(
        created.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "display_name", "name", "metadata"]
    );
    let expected = json!({"id": id, "name": "acme", "display_name": "Acme Corp", "metadata": {"tier": "gold"}});
    let by_id = emu
        .call(Method::GET, &format!("/api/v2/organizations/{id}"), None)
        .await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.body, expected);
    let by_name = emu
        .call(Method::GET, "/api/v2/organizations/name/acme", None)
        .await;
    assert_eq!(by_name.status, 200);
    assert_eq!(by_name.body, expected);

    let not_found = error(404, "Not Found", "No organization found by that id or name");
    for path in [
        "/api/v2/organizations/org_doesnotexist0000",
        "/api/v2/organizations/name/nobody",
    ] {
        let reply = emu.call(Method::GET, path, None).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.body, not_found, "{path}");
    }

    let taken = emu
        .call(
            Method::POST,
            "/api/v2/organizations",
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(taken.status, 409);
    assert_eq!(
        taken.body,
        error(
            409,
            "Conflict",
            "An organization with this name already exists"
        )
    );
    for (body, message) in [
        (
            json!({"name": "Acme"}),
            "Payload validation error: 'Object didn't pass validation for format organization-name: Acme' on property name (The name of this organization.).",
        ),
        (
            json!({"name": "acme-2", "plan": "gold"}),
            "Payload validation error: 'Additional properties not allowed: plan'.",
        ),
        (
            json!({"display_name": "x"}),
            "Payload validation error: 'Missing required property: name'.",
        ),
    ] {
        let reply = emu
            .call(Method::POST, "/api/v2/organizations", Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(
            reply.body,
            coded(400, "Bad Request", message, "invalid_body"),
            "{body}"
        );
    }

    let deleted = emu
        .call(Method::DELETE, &format!("/api/v2/organizations/{id}"), None)
        .await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.raw.is_empty());
    let gone = emu
        .call(Method::GET, &format!("/api/v2/organizations/{id}"), None)
        .await;
    assert_eq!(gone.status, 404);
    let again = emu
        .call(Method::DELETE, &format!("/api/v2/organizations/{id}"), None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(
        again.body,
        error(404, "Not Found", "The organization does not exist.")
    );
    // The name is free again.
    emu.create_org(json!({"name": "acme"})).await;
}

#[tokio::test]
async fn organizations_list_as_arrays_offset_pages_with_totals_and_checkpoint_pages() {
    let emu = Emu::start(config()).await;
    let mut ids = Vec::new();
    for name in ["charlie", "alpha", "bravo"] {
        ids.push(emu.create_org(json!({ "name": name })).await["id"].clone());
    }
    let names = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = emu.call(Method::GET, "/api/v2/organizations", None).await;
    assert_eq!(all.status, 200);
    assert_eq!(names(&all.body), ["charlie", "alpha", "bravo"]);
    let sorted = emu
        .call(Method::GET, "/api/v2/organizations?sort=name:1", None)
        .await;
    assert_eq!(names(&sorted.body), ["alpha", "bravo", "charlie"]);

    let page = emu
        .call(
            Method::GET,
            "/api/v2/organizations?page=1&per_page=2&include_totals=true",
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body,
        json!({"organizations": [{"id": ids[2], "name": "bravo"}], "start": 2, "limit": 2, "total": 3})
    );

    let first = emu
        .call(Method::GET, "/api/v2/organizations?take=2", None)
        .await;
    assert_eq!(names(&first.body["organizations"]), ["charlie", "alpha"]);
    let next = first.body["next"].as_str().unwrap().to_string();
    let last = emu
        .call(
            Method::GET,
            &format!("/api/v2/organizations?take=2&from={next}"),
            None,
        )
        .await;
    assert_eq!(
        last.body,
        json!({"organizations": [{"id": ids[2], "name": "bravo"}]})
    );

    let too_far = emu
        .call(
            Method::GET,
            "/api/v2/organizations?page=20&per_page=50",
            None,
        )
        .await;
    assert_eq!(too_far.status, 400);
    assert_eq!(
        too_far.body,
        coded(
            400,
            "Bad Request",
            "Requesting page exceeds the allowed maximum of 1000 records.",
            "invalid_paging"
        )
    );
    let bad = emu
        .call(Method::GET, "/api/v2/organizations?per_page=101", None)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errorCode"], "invalid_query_string");
}

#[tokio::test]
async fn enabled_connections_are_added_listed_updated_and_removed_one_by_one() {
    let emu = Emu::start(config()).await;
    let okta = emu.connection("okta-sso", "samlp").await;
    let entra = emu.connection("entra-sso", "waad").await;
    let org = emu.create_org(json!({"name": "acme"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/api/v2/organizations/{org}/enabled_connections");

    let first = emu.enable(&org, json!({"connection_id": okta})).await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let okta_item = json!({
        "connection_id": okta,
        "assign_membership_on_login": false,
        "show_as_button": true,
        "is_signup_enabled": false,
        "connection": {"name": "okta-sso", "strategy": "samlp"},
    });
    assert_eq!(first.body, okta_item);
    let second = emu
        .enable(
            &org,
            json!({"connection_id": entra, "assign_membership_on_login": true, "show_as_button": false}),
        )
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(second.body["assign_membership_on_login"], true);
    assert_eq!(second.body["show_as_button"], false);

    let twice = emu.enable(&org, json!({"connection_id": okta})).await;
    assert_eq!(twice.status, 409);
    assert_eq!(
        twice.body,
        error(
            409,
            "Conflict",
            "The connection is already enabled for this organization"
        )
    );
    let unknown_connection = emu
        .enable(&org, json!({"connection_id": "con_doesnotexist0000"}))
        .await;
    assert_eq!(unknown_connection.status, 404);
    assert_eq!(
        unknown_connection.body,
        coded(
            404,
            "Not Found",
            "The connection does not exist",
            "inexistent_connection"
        )
    );
    let unknown_org = emu
        .enable("org_doesnotexist0000", json!({"connection_id": okta}))
        .await;
    assert_eq!(unknown_org.status, 404);
    assert_eq!(
        unknown_org.body["message"],
        "No organization found by that id or name"
    );
    for body in [
        json!({"connection_id": okta, "show_as_button": "yes"}),
        json!({"connection_id": okta, "assign_membership_on_login": 1}),
        json!({"connection_id": okta, "is_signup_enabled": null}),
        json!({"show_as_button": true}),
    ] {
        let reply = emu.enable(&org, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.body["errorCode"], "invalid_body", "{body}");
    }

    let one = emu.call(Method::GET, &format!("{base}/{okta}"), None).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body, okta_item);

    let patched = emu
        .call(
            Method::PATCH,
            &format!("{base}/{okta}"),
            Some(json!({"show_as_button": false, "assign_membership_on_login": true})),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["show_as_button"], false);
    assert_eq!(patched.body["assign_membership_on_login"], true);
    assert_eq!(patched.body["is_signup_enabled"], false);
    for body in [
        json!({}),
        json!({"show_as_button": "false"}),
        json!({"connection_id": okta}),
    ] {
        let reply = emu
            .call(Method::PATCH, &format!("{base}/{okta}"), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}");
    }
    let empty = emu
        .call(Method::PATCH, &format!("{base}/{okta}"), Some(json!({})))
        .await;
    assert_eq!(
        empty.body["message"],
        "Payload validation error: 'Too few properties defined (0), minimum 1'."
    );

    let page = emu
        .call(
            Method::GET,
            &format!("{base}?page=1&per_page=1&include_totals=true"),
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["start"], 1);
    assert_eq!(page.body["limit"], 1);
    assert_eq!(page.body["total"], 2);
    assert_eq!(page.body["enabled_connections"][0]["connection_id"], entra);
    let plain = emu.call(Method::GET, &base, None).await;
    assert_eq!(plain.body.as_array().unwrap().len(), 2);

    let removed = emu
        .call(Method::DELETE, &format!("{base}/{okta}"), None)
        .await;
    assert_eq!(removed.status, 204);
    let left = emu.call(Method::GET, &base, None).await;
    assert_eq!(left.body.as_array().unwrap().len(), 1);
    assert_eq!(left.body[0]["connection_id"], entra);
    assert_eq!(left.body[0]["show_as_button"], false);
    // Disabling again is not an error (auth0.net's integration test does it).
    let again = emu
        .call(Method::DELETE, &format!("{base}/{okta}"), None)
        .await;
    assert_eq!(again.status, 204);
    let gone = emu.call(Method::GET, &format!("{base}/{okta}"), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.body,
        error(404, "Not Found", "No connection found by that id")
    );
    let patch_gone = emu
        .call(
            Method::PATCH,
            &format!("{base}/{okta}"),
            Some(json!({"show_as_button": true})),
        )
        .await;
    assert_eq!(patch_gone.status, 404);
    // The admin view agrees, without adding to the call log.
    let before = emu.admin.last_seq().await.unwrap();
    assert_eq!(
        emu.admin.enabled_connections(&org).await.unwrap(),
        left.body.as_array().unwrap().clone()
    );
    assert_eq!(emu.admin.last_seq().await.unwrap(), before);
}

#[tokio::test]
async fn each_new_endpoint_needs_its_own_scope() {
    let emu = Emu::start(config()).await;
    let conn = emu.connection("okta-sso", "samlp").await;
    let org = emu.create_org(json!({"name": "acme"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let narrow = emu.token_for("narrow", "narrow-secret").await;
    let org_conn = format!("/api/v2/organizations/{org}/enabled_connections");
    let scim = format!("/api/v2/connections/{conn}/scim-configuration");
    let calls = [
        (
            Method::GET,
            "/api/v2/organizations".to_string(),
            "read:organizations",
        ),
        (
            Method::POST,
            "/api/v2/organizations".to_string(),
            "create:organizations",
        ),
        (
            Method::GET,
            format!("/api/v2/organizations/{org}"),
            "read:organizations",
        ),
        (
            Method::GET,
            "/api/v2/organizations/name/acme".to_string(),
            "read:organizations",
        ),
        (
            Method::DELETE,
            format!("/api/v2/organizations/{org}"),
            "delete:organizations",
        ),
        (
            Method::GET,
            org_conn.clone(),
            "read:organization_connections",
        ),
        (
            Method::POST,
            org_conn.clone(),
            "create:organization_connections",
        ),
        (
            Method::GET,
            format!("{org_conn}/{conn}"),
            "read:organization_connections",
        ),
        (
            Method::PATCH,
            format!("{org_conn}/{conn}"),
            "update:organization_connections",
        ),
        (
            Method::DELETE,
            format!("{org_conn}/{conn}"),
            "delete:organization_connections",
        ),
        (Method::GET, scim.clone(), "read:scim_config"),
        (Method::POST, scim.clone(), "create:scim_config"),
        (Method::PATCH, scim.clone(), "update:scim_config"),
        (Method::DELETE, scim.clone(), "delete:scim_config"),
        (
            Method::GET,
            format!("{scim}/default-mapping"),
            "read:scim_config",
        ),
        (Method::GET, format!("{scim}/tokens"), "read:scim_token"),
        (Method::POST, format!("{scim}/tokens"), "create:scim_token"),
        (
            Method::DELETE,
            format!("{scim}/tokens/tok_0000000000000000"),
            "delete:scim_token",
        ),
    ];
    for (method, path, scope) in calls {
        let reply = emu
            .call_as(&narrow, method.clone(), &path, Some(json!({})))
            .await;
        assert_eq!(reply.status, 403, "{method} {path}");
        assert_eq!(
            reply.body,
            coded(
                403,
                "Forbidden",
                &format!("Insufficient scope, expected any of: {scope}"),
                "insufficient_scope"
            ),
            "{method} {path}"
        );
    }
    // Nothing was written.
    assert_eq!(
        emu.admin.enabled_connections(&org).await.unwrap(),
        Vec::<Value>::new()
    );
    assert!(emu.admin.scim_configuration(&conn).await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_a_connection_takes_it_out_of_organizations_and_ends_its_scim_tokens() {
    let emu = Emu::start(config()).await;
    let doomed = emu.connection("doomed", "samlp").await;
    let kept = emu.connection("kept", "samlp").await;
    let org = emu.create_org(json!({"name": "acme"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for conn in [&doomed, &kept] {
        assert_eq!(
            emu.enable(&org, json!({ "connection_id": conn }))
                .await
                .status,
            201
        );
        assert_eq!(emu.scim_config(conn).await.status, 201);
    }
    let token = emu.scim_token(&doomed, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(emu.scim_users(&doomed, Some(&token)).await.status, 200);

    let deleted = emu
        .call(
            Method::DELETE,
            &format!("/api/v2/connections/{doomed}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 202);
    let left = emu.admin.enabled_connections(&org).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["connection_id"], kept.as_str());
    assert!(
        emu.admin
            .scim_configuration(&doomed)
            .await
            .unwrap()
            .is_none()
    );
    assert!(emu.admin.scim_configuration(&kept).await.unwrap().is_some());
    assert_eq!(emu.scim_users(&doomed, Some(&token)).await.status, 401);
    // Nothing of it survives to a connection that reuses the id later.
    emu.admin
        .seed_connection(json!({"id": doomed, "name": "reborn", "strategy": "samlp"}))
        .await
        .unwrap();
    assert_eq!(emu.admin.enabled_connections(&org).await.unwrap(), left);
    assert!(
        emu.admin
            .scim_configuration(&doomed)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(emu.scim_users(&doomed, Some(&token)).await.status, 401);
}

#[tokio::test]
async fn a_scim_configuration_is_created_with_defaults_read_updated_and_deleted() {
    let emu = Emu::start(config()).await;
    let saml = emu.connection("okta-sso", "samlp").await;
    let oidc = emu.connection("okta-oidc", "okta").await;
    let database = emu.connection("users", "auth0").await;
    let path = format!("/api/v2/connections/{saml}/scim-configuration");

    let none = emu.call(Method::GET, &path, None).await;
    assert_eq!(none.status, 404);
    assert_eq!(
        none.body,
        error(404, "Not Found", "The SCIM configuration does not exist")
    );
    let defaults = emu
        .call(Method::GET, &format!("{path}/default-mapping"), None)
        .await;
    assert_eq!(defaults.status, 200);
    let mapping = defaults.body["mapping"].as_array().unwrap().clone();
    assert_eq!(mapping.len(), 32);
    assert_eq!(mapping[0], json!({"scim": "userName", "auth0": "username"}));

    let created = emu.scim_config(&saml).await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(
        created.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "tenant_name",
            "connection_id",
            "connection_name",
            "strategy",
            "mapping",
            "updated_on",
            "created_at",
            "user_id_attribute"
        ]
    );
    assert_eq!(created.body["tenant_name"], "emulator");
    assert_eq!(created.body["connection_id"], saml.as_str());
    assert_eq!(created.body["connection_name"], "okta-sso");
    assert_eq!(created.body["strategy"], "samlp");
    assert_eq!(created.body["user_id_attribute"], "userName");
    assert_eq!(created.body["mapping"], Value::Array(mapping));
    let read = emu.call(Method::GET, &path, None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);
    assert!(emu.admin.scim_configuration(&saml).await.unwrap() == Some(created.body.clone()));

    let twice = emu.scim_config(&saml).await;
    assert_eq!(twice.status, 409);
    assert_eq!(
        twice.body,
        error(
            409,
            "Conflict",
            "A SCIM configuration already exists for this connection"
        )
    );

    let partial = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!({"user_id_attribute": "externalId"})),
        )
        .await;
    assert_eq!(partial.status, 400);
    assert_eq!(
        partial.body["message"],
        "Payload validation error: 'Missing required property: mapping'."
    );
    let mapping = json!([{"scim": "userName", "auth0": "email"}]);
    let updated = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!({"user_id_attribute": "externalId", "mapping": mapping})),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["user_id_attribute"], "externalId");
    assert_eq!(updated.body["mapping"], mapping);
    assert_eq!(updated.body["created_at"], created.body["created_at"]);

    let deleted = emu.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.raw.is_empty());
    assert_eq!(emu.call(Method::GET, &path, None).await.status, 404);
    assert_eq!(emu.call(Method::DELETE, &path, None).await.status, 404);

    // An OpenID-based connection defaults to externalId; a body sets both keys.
    let okta = emu.scim_config(&oidc).await;
    assert_eq!(okta.body["user_id_attribute"], "externalId");
    assert_eq!(
        okta.body["mapping"][0],
        json!({"scim": "userName", "auth0": "preferred_username"})
    );
    let okta_path = format!("/api/v2/connections/{oidc}/scim-configuration");
    assert_eq!(emu.call(Method::DELETE, &okta_path, None).await.status, 204);
    let custom = emu
        .call(
            Method::POST,
            &okta_path,
            Some(json!({"user_id_attribute": "userName", "mapping": mapping})),
        )
        .await;
    assert_eq!(custom.status, 201);
    assert_eq!(custom.body["user_id_attribute"], "userName");
    assert_eq!(custom.body["mapping"], mapping);

    let not_scim = emu.scim_config(&database).await;
    assert_eq!(not_scim.status, 404);
    assert_eq!(
        not_scim.body,
        error(404, "Not Found", "scim strategy not enabled")
    );
    let unknown = emu.scim_config("con_doesnotexist0000").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["errorCode"], "inexistent_connection");
}

#[tokio::test]
async fn scim_tokens_open_only_their_own_connections_scim_server_until_revoked() {
    let emu = Emu::start(config()).await;
    let conn = emu.connection("okta-sso", "samlp").await;
    let other = emu.connection("other-sso", "samlp").await;
    let tokens_path = format!("/api/v2/connections/{conn}/scim-configuration/tokens");

    let no_config = emu.scim_token(&conn, json!({})).await;
    assert_eq!(no_config.status, 404);
    assert_eq!(
        no_config.body["message"],
        "The SCIM configuration does not exist"
    );
    assert_eq!(emu.scim_config(&conn).await.status, 201);
    assert_eq!(emu.scim_config(&other).await.status, 201);

    let short = emu.scim_token(&conn, json!({"token_lifetime": 900})).await;
    assert_eq!(short.status, 400);
    assert_eq!(
        short.body,
        coded(
            400,
            "Bad Request",
            "Payload validation error: 'Must be greater than 900: 900' on property token_lifetime (Lifetime of the token in seconds. Must be greater than 900).",
            "invalid_body"
        )
    );
    for body in [
        json!({"scopes": []}),
        json!({"scopes": ["read:users"]}),
        json!({"token_lifetime": "3600"}),
        json!({"lifetime": 3600}),
    ] {
        assert_eq!(
            emu.scim_token(&conn, body.clone()).await.status,
            400,
            "{body}"
        );
    }

    let expiring = emu
        .scim_token(
            &conn,
            json!({"scopes": ["get:users", "post:users"], "token_lifetime": 901}),
        )
        .await;
    assert_eq!(expiring.status, 201, "{}", expiring.raw);
    assert!(
        is_id(&expiring.body["token_id"], "tok_"),
        "{}",
        expiring.raw
    );
    let value = expiring.body["token"].as_str().unwrap().to_string();
    let token_id = expiring.body["token_id"].as_str().unwrap().to_string();
    assert!(value.starts_with(&format!("{token_id}.")));
    assert!(value.len() > 64);
    assert_eq!(expiring.body["scopes"], json!(["get:users", "post:users"]));
    let created_at: jiff::Timestamp = expiring.body["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let valid_until: jiff::Timestamp = expiring.body["valid_until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(valid_until.duration_since(created_at).as_secs(), 901);

    let forever = emu.scim_token(&conn, json!({})).await;
    assert_eq!(forever.status, 201);
    assert!(forever.body.get("valid_until").is_none());
    assert_eq!(
        forever.body["scopes"],
        json!([
            "get:users",
            "post:users",
            "put:users",
            "patch:users",
            "delete:users"
        ])
    );
    let forever_value = forever.body["token"].as_str().unwrap().to_string();
    let forever_id = forever.body["token_id"].as_str().unwrap().to_string();

    let third = emu.scim_token(&conn, json!({})).await;
    assert_eq!(third.status, 409);
    assert_eq!(
        third.body,
        error(
            409,
            "Conflict",
            "A connection can have at most 2 active SCIM tokens"
        )
    );

    let listed = emu.call(Method::GET, &tokens_path, None).await;
    assert_eq!(listed.status, 200);
    let items = listed.body.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["token_id"], token_id.as_str());
    assert!(items.iter().all(|t| t.get("token").is_none()));
    assert!(!listed.raw.contains(&value) && !listed.raw.contains(&forever_value));
    assert!(items[0].get("last_used_at").is_none());

    // The SCIM server accepts a fresh token of this connection.
    let users = emu.scim_users(&conn, Some(&value)).await;
    assert_eq!(users.status, 200);
    assert_eq!(users.headers["content-type"], SCIM_JSON);
    assert_eq!(
        users.body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
    assert_eq!(
        emu.admin
            .scim_users_status(&emu.scim_endpoint(&conn), &value)
            .await
            .unwrap(),
        200
    );
    let used = emu.admin.scim_tokens(&conn).await.unwrap();
    assert!(used[0]["last_used_at"].is_string(), "{used:?}");
    assert!(used[1].get("last_used_at").is_none());
    let config = emu
        .http
        .get(format!(
            "{}/ServiceProviderConfig",
            emu.scim_endpoint(&conn)
        ))
        .bearer_auth(&value)
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), 200);

    // Refused: no token, another connection's token, a Management API token, garbage.
    let unauthorized = |reply: &Reply| {
        assert_eq!(reply.status, 401, "{}", reply.raw);
        assert_eq!(reply.headers["content-type"], SCIM_JSON);
        assert_eq!(
            reply.body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
        );
        assert_eq!(reply.body["status"], "401");
    };
    unauthorized(&emu.scim_users(&conn, None).await);
    unauthorized(&emu.scim_users(&other, Some(&value)).await);
    unauthorized(&emu.scim_users(&conn, Some(&emu.token)).await);
    unauthorized(&emu.scim_users(&conn, Some("tok_nope.0000")).await);
    unauthorized(&emu.scim_users("con_doesnotexist0000", Some(&value)).await);

    // A token without get:users is authenticated but not allowed to list.
    assert_eq!(
        emu.call(Method::DELETE, &format!("{tokens_path}/{forever_id}"), None)
            .await
            .status,
        204
    );
    let writer = emu
        .scim_token(&conn, json!({"scopes": ["post:users"]}))
        .await;
    assert_eq!(writer.status, 201);
    let writer_value = writer.body["token"].as_str().unwrap().to_string();
    let forbidden = emu.scim_users(&conn, Some(&writer_value)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.body["status"], "403");

    // Revoked tokens stop working at once; so do all tokens when SCIM is switched off.
    unauthorized(&emu.scim_users(&conn, Some(&forever_value)).await);
    let unknown = emu
        .call(
            Method::DELETE,
            &format!("{tokens_path}/tok_0000000000000000"),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        error(404, "Not Found", "The SCIM token does not exist")
    );
    assert_eq!(
        emu.call(
            Method::DELETE,
            &format!("/api/v2/connections/{conn}/scim-configuration"),
            None
        )
        .await
        .status,
        204
    );
    unauthorized(&emu.scim_users(&conn, Some(&value)).await);
    assert!(emu.admin.scim_configuration(&conn).await.unwrap().is_none());

    // No token value ever reaches the call log, although the calls themselves are there.
    let calls = emu
        .send(emu.http.get(format!("{}/__emulator/calls", emu.base)))
        .await;
    for secret in [&value, &forever_value, &writer_value, &emu.token] {
        assert!(!calls.raw.contains(secret.as_str()));
    }
    assert!(
        calls
            .raw
            .contains(&format!("/scim/v2/connections/{conn}/Users"))
    );
    let stats = emu.admin.stats().await.unwrap();
    assert_eq!(stats["GET /scim/v2/connections/{id}/Users 200"], 2);
    assert_eq!(
        stats["POST /api/v2/connections/{id}/scim-configuration/tokens 201"],
        3
    );
}

#[tokio::test]
async fn the_scim_server_is_outside_the_management_api_rate_limit() {
    let emu = Emu::start(config()).await;
    let conn = emu.connection("okta-sso", "samlp").await;
    assert_eq!(emu.scim_config(&conn).await.status, 201);
    let value = emu.scim_token(&conn, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    emu.admin
        .set_config(json!({"rate_limit": "1:0.001"}))
        .await
        .unwrap();
    // The one call the bucket allows, then a 429.
    assert_eq!(
        emu.call(Method::GET, "/api/v2/organizations", None)
            .await
            .status,
        200
    );
    assert_eq!(
        emu.call(Method::GET, "/api/v2/organizations", None)
            .await
            .status,
        429
    );
    for _ in 0..3 {
        let reply = emu.scim_users(&conn, Some(&value)).await;
        assert_eq!(reply.status, 200);
        assert!(!reply.headers.contains_key("x-ratelimit-limit"));
    }
}

#[tokio::test]
async fn the_admin_client_sets_up_and_inspects_organizations_and_scim_without_logging() {
    let emu = Emu::start(config()).await;
    let admin = &emu.admin;
    let conn = emu.connection("okta-sso", "samlp").await;
    let before = admin.last_seq().await.unwrap();

    let org = admin.create_organization("acme").await.unwrap();
    assert!(is_id(&json!(org), "org_"), "{org}");
    admin
        .enable_connection(&org, &conn, true, false)
        .await
        .unwrap();
    let items = admin.enabled_connections(&org).await.unwrap();
    assert_eq!(
        items,
        [json!({
            "connection_id": conn,
            "assign_membership_on_login": true,
            "show_as_button": false,
            "is_signup_enabled": false,
            "connection": {"name": "okta-sso", "strategy": "samlp"},
        })]
    );
    assert!(
        admin
            .enable_connection(&org, &conn, true, false)
            .await
            .is_err()
    );
    assert!(admin.create_organization("Not Valid").await.is_err());
    assert!(admin.scim_configuration(&conn).await.unwrap().is_none());
    assert!(admin.scim_tokens(&conn).await.is_err());
    assert_eq!(
        admin.last_seq().await.unwrap(),
        before,
        "admin calls are not logged"
    );

    let token = admin.management_token().await.unwrap();
    let listed = emu
        .call_as(&token, Method::GET, "/api/v2/organizations/name/acme", None)
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["id"], org.as_str());
    let scim = emu
        .call_as(
            &token,
            Method::POST,
            &format!("/api/v2/connections/{conn}/scim-configuration"),
            None,
        )
        .await;
    assert_eq!(scim.status, 201);
    let value = emu.scim_token(&conn, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        admin.scim_configuration(&conn).await.unwrap().unwrap()["connection_id"],
        conn.as_str()
    );
    let tokens = admin.scim_tokens(&conn).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].get("token").is_none());
    let endpoint = emu.scim_endpoint(&conn);
    assert_eq!(
        admin.scim_users_status(&endpoint, &value).await.unwrap(),
        200
    );
    assert_eq!(
        admin.scim_users_status(&endpoint, &token).await.unwrap(),
        401
    );
    assert_eq!(
        admin
            .scim_users_status(&format!("{endpoint}/"), "nonsense")
            .await
            .unwrap(),
        401
    );
}
