//! Behaviour of `auth0-emulator` (docs/AUTH0_API.md §11), driven over HTTP with reqwest against an
//! in-process instance on a free port.

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sso_operator::certs::Certificate;
use sso_operator::emulator::{
    ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, RateLimit,
};

#[path = "support/emu_http.rs"]
mod emu_http;

use emu_http::Emu;

const JSON_UTF8: &str = "application/json; charset=utf-8";
const OKTA_SHA1: &str = "4b53172957fc1b59fd11530518ef16ad9d7914dc";

/// The okta-app.xml fixture's IdP signing certificate.
fn okta_cert() -> Certificate {
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/idp-metadata/okta-app.xml"
    ))
    .unwrap();
    let start = xml.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + xml[start..].find('<').unwrap();
    Certificate::from_base64_text(&xml[start..end]).unwrap()
}

fn saml_options() -> Value {
    json!({
        "signInEndpoint": "https://idp.example.com/sso",
        "signOutEndpoint": "https://idp.example.com/slo",
        "signingCert": okta_cert().signing_cert_value(),
        "signSAMLRequest": true,
        "signatureAlgorithm": "rsa-sha256",
        "digestAlgorithm": "sha256",
        "protocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        "domain_aliases": ["acme.com"]
    })
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..EmulatorConfig::default()
    }
}

fn narrow_client() -> ClientSpec {
    ClientSpec {
        id: "narrow".into(),
        secret: "narrow-secret".into(),
        scopes: vec![
            "read:connections".into(),
            "create:connections".into(),
            "update:connections".into(),
        ],
    }
}

impl Emu {
    async fn create(&self, name: &str) -> Value {
        let reply = self
            .call(
                Method::POST,
                "/api/v2/connections",
                Some(json!({"name": name, "strategy": "samlp", "options": saml_options()})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.raw);
        reply.body
    }
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64URL.decode(payload).unwrap()).unwrap()
}

fn error_body(status: u16, error: &str, message: &str, code: &str) -> Value {
    json!({"statusCode": status, "error": error, "message": message, "errorCode": code})
}

#[tokio::test]
async fn token_endpoint_accepts_form_json_and_basic_credentials() {
    let emu = Emu::start(config()).await;
    let url = format!("{}/oauth/token", emu.base);
    let audience = emu.audience();
    let form = emu
        .send(emu.http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("audience", &audience),
        ]))
        .await;
    let json_body = emu
        .send(emu.http.post(&url).json(&json!({
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "audience": "https://emulator.local/api/v2/",
        })))
        .await;
    let basic = emu
        .send(
            emu.http
                .post(&url)
                .basic_auth(DEFAULT_CLIENT_ID, Some(DEFAULT_CLIENT_SECRET))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("audience", &audience),
                ]),
        )
        .await;
    for reply in [&form, &json_body, &basic] {
        assert_eq!(reply.status, 200, "{}", reply.raw);
        assert_eq!(reply.headers["content-type"], JSON_UTF8);
        assert_eq!(reply.body["token_type"], "Bearer");
        assert_eq!(reply.body["expires_in"], 86400);
        assert_eq!(
            reply.body["scope"],
            "read:connections create:connections update:connections delete:connections read:connections_options update:connections_options read:organizations read:organization_connections create:organization_connections update:organization_connections delete:organization_connections read:scim_config create:scim_config update:scim_config delete:scim_config read:scim_token create:scim_token delete:scim_token create:organizations delete:organizations read:clients create:clients update:clients delete:clients read:signing_keys read:directory_provisionings"
        );
    }
    let token = form.body["access_token"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&B64URL.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    let claims = jwt_claims(token);
    assert_eq!(claims["iss"], "https://emulator.local/");
    assert_eq!(claims["sub"], "sso-operator-emulator@clients");
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["azp"], DEFAULT_CLIENT_ID);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        86400
    );
    // A token issued for the domain audience works on the API too.
    let domain_token = json_body.body["access_token"].as_str().unwrap();
    let list = emu
        .call_as(domain_token, Method::GET, "/api/v2/connections", None)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(
        emu.admin(Method::GET, "/__emulator/stats", None).await.body["tokens_issued"],
        4
    );
    emu.running.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_errors_use_the_oauth_shape() {
    let emu = Emu::start(config()).await;
    let url = format!("{}/oauth/token", emu.base);
    let audience = emu.audience();
    let post = |params: Vec<(&'static str, String)>| emu.http.post(&url).form(&params);
    let wrong_secret = emu
        .send(post(vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", DEFAULT_CLIENT_ID.into()),
            ("client_secret", "nope".into()),
            ("audience", audience.clone()),
        ]))
        .await;
    assert_eq!(wrong_secret.status, 401);
    assert_eq!(
        wrong_secret.body,
        json!({"error":"access_denied","error_description":"Unauthorized"})
    );
    let foreign_audience = emu
        .send(post(vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", DEFAULT_CLIENT_ID.into()),
            ("client_secret", DEFAULT_CLIENT_SECRET.into()),
            ("audience", "https://other.example/api/v2/".into()),
        ]))
        .await;
    assert_eq!(foreign_audience.status, 403);
    assert_eq!(
        foreign_audience.body,
        json!({"error":"access_denied","error_description":"Service not enabled within domain: https://other.example/api/v2/"})
    );
    let wrong_grant = emu
        .send(post(vec![
            ("grant_type", "password".into()),
            ("client_id", DEFAULT_CLIENT_ID.into()),
            ("client_secret", DEFAULT_CLIENT_SECRET.into()),
            ("audience", audience.clone()),
        ]))
        .await;
    assert_eq!(wrong_grant.status, 400);
    assert_eq!(wrong_grant.body["error"], "invalid_request");
    let no_audience = emu
        .send(post(vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", DEFAULT_CLIENT_ID.into()),
            ("client_secret", DEFAULT_CLIENT_SECRET.into()),
        ]))
        .await;
    assert_eq!(no_audience.status, 400);
    assert_eq!(no_audience.body["error"], "invalid_request");
    emu.running.shutdown().await;
}

#[tokio::test]
async fn api_rejects_missing_malformed_tampered_and_expired_tokens() {
    let emu = Emu::start(EmulatorConfig {
        extra_clients: vec![ClientSpec {
            id: "short".into(),
            secret: "short-secret".into(),
            scopes: vec!["read:connections".into()],
        }],
        ..config()
    })
    .await;
    let url = format!("{}/api/v2/connections", emu.base);
    let missing = emu.send(emu.http.get(&url)).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.body,
        json!({"statusCode":401,"error":"Unauthorized","message":"Missing authentication","attributes":{"error":"Missing authentication"}})
    );
    let basic = emu
        .send(
            emu.http
                .get(&url)
                .header("authorization", "Basic Zm9vOmJhcg=="),
        )
        .await;
    assert_eq!(basic.status, 400);
    assert_eq!(
        basic.body,
        error_body(
            400,
            "Bad Request",
            "Bad HTTP authentication header format",
            "Bearer"
        )
    );
    let garbage = emu
        .call_as("not-a-jwt", Method::GET, "/api/v2/connections", None)
        .await;
    assert_eq!(
        garbage.body,
        json!({"statusCode":401,"error":"Unauthorized","message":"Invalid token","attributes":{"error":"Invalid token"}})
    );
    // A token whose claims were edited (here: scopes added) no longer matches its signature.
    let mut parts: Vec<String> = emu.token.split('.').map(str::to_string).collect();
    let mut claims = jwt_claims(&emu.token);
    claims["scope"] = json!("read:connections delete:connections");
    parts[1] = B64URL.encode(claims.to_string());
    let foreign = emu
        .call_as(&parts.join("."), Method::GET, "/api/v2/connections", None)
        .await;
    assert_eq!(foreign.status, 401);
    assert_eq!(
        foreign.body["message"],
        "Invalid signature received for JSON Web Token validation"
    );
    emu.admin(
        Method::PUT,
        "/__emulator/config",
        Some(json!({"token_ttl": 0})),
    )
    .await;
    let expiring = emu.token_for("short", "short-secret").await;
    // exp = iat with a zero TTL: once the clock passes that second the token is expired.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = emu
        .call_as(&expiring, Method::GET, "/api/v2/connections", None)
        .await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.body["message"],
        "Expired token received for JSON Web Token validation"
    );
    assert_eq!(expired.headers["content-type"], JSON_UTF8);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn a_token_without_options_scopes_sees_no_options_and_cannot_write_them() {
    let emu = Emu::start(EmulatorConfig {
        extra_clients: vec![narrow_client()],
        ..config()
    })
    .await;
    let created = emu.create("acme-narrow").await;
    let id = created["id"].as_str().unwrap();
    let narrow = emu.token_for("narrow", "narrow-secret").await;
    let read = emu
        .call_as(
            &narrow,
            Method::GET,
            &format!("/api/v2/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(read.status, 200);
    assert!(read.body.get("options").is_none());
    assert_eq!(read.body["name"], "acme-narrow");
    let list = emu
        .call_as(&narrow, Method::GET, "/api/v2/connections", None)
        .await;
    assert!(list.body[0].get("options").is_none());
    let patch = emu
        .call_as(
            &narrow,
            Method::PATCH,
            &format!("/api/v2/connections/{id}"),
            Some(json!({"options": null})),
        )
        .await;
    assert_eq!(patch.status, 403);
    assert_eq!(
        patch.body,
        error_body(
            403,
            "Forbidden",
            "Updating the \"options\" property requires the \"update:connections_options\" scope.",
            "insufficient_scope"
        )
    );
    let delete = emu
        .call_as(
            &narrow,
            Method::DELETE,
            &format!("/api/v2/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(
        delete.body,
        error_body(
            403,
            "Forbidden",
            "Insufficient scope, expected any of: delete:connections",
            "insufficient_scope"
        )
    );
    // Top-level-only updates still work and the options stay as they were.
    let top = emu
        .call_as(
            &narrow,
            Method::PATCH,
            &format!("/api/v2/connections/{id}"),
            Some(json!({"show_as_button": true})),
        )
        .await;
    assert_eq!(top.status, 200);
    assert!(top.body.get("options").is_none());
    let full = emu
        .call(Method::GET, &format!("/api/v2/connections/{id}"), None)
        .await;
    assert_eq!(full.body["options"], created["options"]);
    assert_eq!(full.body["show_as_button"], true);

    // With the tenant toggle "Allow Connections Management without Options Scopes".
    emu.admin(
        Method::PUT,
        "/__emulator/config",
        Some(json!({"options_scope_gating": false})),
    )
    .await;
    let read = emu
        .call_as(
            &narrow,
            Method::GET,
            &format!("/api/v2/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(read.body["options"]["thumbprints"], json!([OKTA_SHA1]));
    let mut options = saml_options();
    options["debug"] = json!(true);
    let patch = emu
        .call_as(
            &narrow,
            Method::PATCH,
            &format!("/api/v2/connections/{id}"),
            Some(json!({"options": options})),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.raw);
    assert_eq!(patch.body["options"]["debug"], true);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn create_fills_defaults_and_derives_certificate_fields() {
    let emu = Emu::start(config()).await;
    let mut options = saml_options();
    // Client-sent derived values are overwritten.
    options["thumbprints"] = json!(["0000000000000000000000000000000000000000"]);
    let reply = emu
        .call(
            Method::POST,
            "/api/v2/connections",
            Some(json!({"name": "acme-azure", "strategy": "samlp", "options": options})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    assert_eq!(reply.headers["content-type"], JSON_UTF8);
    let body = &reply.body;
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("con_") && id.len() == 20);
    assert!(id[4..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(body["strategy"], "samlp");
    assert_eq!(body["realms"], json!(["acme-azure"]));
    assert_eq!(body["is_domain_connection"], false);
    assert_eq!(body["show_as_button"], false);
    assert_eq!(body["authentication"], json!({"active": true}));
    assert_eq!(body["connected_accounts"], json!({"active": false}));
    assert_eq!(body["enabled_clients"], json!([]));
    assert!(body.get("display_name").is_none());
    let ticket = body["provisioning_ticket_url"].as_str().unwrap();
    assert!(ticket.starts_with("https://emulator.local/p/samlp/"));
    assert_eq!(ticket.len(), "https://emulator.local/p/samlp/".len() + 8);
    let o = &body["options"];
    let cert = okta_cert();
    assert_eq!(o["signingCert"], cert.signing_cert_value());
    assert_eq!(o["cert"], cert.to_pem());
    assert_eq!(o["thumbprints"], json!([OKTA_SHA1]));
    assert_eq!(o["expires"], "2036-11-21T14:08:14.000Z");
    assert_eq!(o["subject"]["commonName"], "fabrikam");
    assert_eq!(
        o["assertion_decryption_settings"],
        json!({"algorithm_profile": "v2026-1", "algorithm_exceptions": []})
    );
    assert_eq!(o["domain_aliases"], json!(["acme.com"]));
    // GET after the legacy EOL omits enabled_clients; the stored options are identical.
    let read = emu
        .call(Method::GET, &format!("/api/v2/connections/{id}"), None)
        .await;
    assert!(read.body.get("enabled_clients").is_none());
    assert_eq!(read.body["options"], body["options"]);

    // Raw PEM and base64(DER) are stored byte-for-byte with the same derived fields.
    for (name, stored) in [
        ("raw-pem", cert.to_pem()),
        ("b64-der", B64.encode(cert.der())),
    ] {
        let mut options = saml_options();
        options["signingCert"] = json!(stored);
        let reply = emu
            .call(
                Method::POST,
                "/api/v2/connections",
                Some(json!({"name": name, "strategy": "samlp", "options": options})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.raw);
        assert_eq!(reply.body["options"]["signingCert"], stored);
        assert_eq!(reply.body["options"]["thumbprints"], json!([OKTA_SHA1]));
    }
    emu.running.shutdown().await;
}

#[tokio::test]
async fn create_rejects_duplicates_bad_names_unknown_keys_and_missing_certificates() {
    let emu = Emu::start(config()).await;
    emu.create("acme").await;
    let post = |body: Value| emu.call(Method::POST, "/api/v2/connections", Some(body));
    let dup = post(json!({"name": "acme", "strategy": "samlp", "options": saml_options()})).await;
    assert_eq!(dup.status, 409);
    assert_eq!(
        dup.body,
        error_body(
            409,
            "Conflict",
            "A connection with the same name already exists",
            "connection_conflict"
        )
    );
    let bad_name =
        post(json!({"name": "acme--x", "strategy": "samlp", "options": saml_options()})).await;
    assert_eq!(bad_name.status, 400);
    assert_eq!(bad_name.body["errorCode"], "invalid_body");
    assert!(
        bad_name.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Payload validation error: 'String does not match pattern ^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$: acme--x' on property name")
    );
    let unknown = post(json!({"name": "x", "strategy": "samlp", "colour": "red"})).await;
    assert_eq!(
        unknown.body,
        error_body(
            400,
            "Bad Request",
            "Payload validation error: 'Additional properties not allowed: colour'.",
            "invalid_body"
        )
    );
    let missing = post(json!({"name": "x"})).await;
    assert_eq!(
        missing.body["message"],
        "Payload validation error: 'Missing required property: strategy'."
    );
    let enabled = post(
        json!({"name": "x", "strategy": "samlp", "options": saml_options(), "enabled_clients": []}),
    )
    .await;
    assert_eq!(
        enabled.body["message"],
        "Payload validation error: 'Additional properties not allowed: enabled_clients'."
    );
    let no_cert = post(json!({"name": "x", "strategy": "samlp", "options": {"signInEndpoint": "https://idp.example.com/sso"}})).await;
    assert_eq!(no_cert.status, 400);
    assert_eq!(
        no_cert.body["message"],
        "The signing certificate public key is required"
    );
    let mut http = saml_options();
    http["signInEndpoint"] = json!("http://idp.example.com/sso");
    let plain_http = post(json!({"name": "x", "strategy": "samlp", "options": http})).await;
    assert_eq!(plain_http.status, 400);
    assert!(
        plain_http.body["message"]
            .as_str()
            .unwrap()
            .contains("on property options.signInEndpoint")
    );
    let all = emu
        .admin(Method::GET, "/__emulator/connections", None)
        .await;
    assert_eq!(all.body.as_array().unwrap().len(), 1);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn patch_replaces_options_wholesale_and_merges_top_level_fields() {
    let emu = Emu::start(config()).await;
    let mut options = saml_options();
    options["debug"] = json!(true);
    options["x_future_option"] = json!({"enabled": true});
    let created = emu
        .call(
            Method::POST,
            "/api/v2/connections",
            Some(json!({"name": "acme", "strategy": "samlp", "display_name": "Acme", "options": options})),
        )
        .await
        .body;
    let path = format!("/api/v2/connections/{}", created["id"].as_str().unwrap());
    // Options without debug/x_future_option and without derived keys: all of them go, the
    // derived ones come back recomputed.
    let mut next = saml_options();
    next["signSAMLRequest"] = json!(false);
    let patched = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!({"options": next, "show_as_button": true})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.raw);
    let read = emu.call(Method::GET, &path, None).await.body;
    let o = read["options"].as_object().unwrap();
    assert!(!o.contains_key("debug"));
    assert!(!o.contains_key("x_future_option"));
    assert!(!o.contains_key("assertion_decryption_settings"));
    assert_eq!(o["signSAMLRequest"], false);
    assert_eq!(o["thumbprints"], json!([OKTA_SHA1]));
    assert_eq!(o["cert"], okta_cert().to_pem());
    assert_eq!(read["display_name"], "Acme");
    assert_eq!(read["show_as_button"], true);
    assert_eq!(read["realms"], json!(["acme"]));
    assert_eq!(patched.body, read);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn patch_rejects_bodies_auth0_rejects_without_changing_anything() {
    let emu = Emu::start(config()).await;
    let created = emu.create("acme").await;
    let path = format!("/api/v2/connections/{}", created["id"].as_str().unwrap());
    let patch = |body: Value| emu.call(Method::PATCH, &path, Some(body));
    let mut no_cert = saml_options();
    no_cert.as_object_mut().unwrap().remove("signingCert");
    let reply = patch(json!({"options": no_cert})).await;
    assert_eq!(
        reply.body,
        error_body(
            400,
            "Bad Request",
            "The signing certificate public key is required",
            "invalid_body"
        )
    );
    let reply = patch(json!({"name": "renamed"})).await;
    assert_eq!(
        reply.body["message"],
        "Payload validation error: 'Additional properties not allowed: name'."
    );
    let reply = patch(json!({})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "Payload validation error: 'Too few properties defined (0), minimum 1'."
    );
    let mut garbage = saml_options();
    garbage["signingCert"] = json!("bm90IGEgY2VydGlmaWNhdGU=");
    let reply = patch(json!({"options": garbage})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "The signing certificate is not valid. Please provide a .pem or .cer certificate base64 encoded public key"
    );
    let reply = patch(json!({"options": saml_options(), "enabled_clients": ["abc"]})).await;
    assert_eq!(
        reply.body,
        error_body(
            400,
            "Bad Request",
            "Payload validation error: 'Additional properties not allowed: enabled_clients'.",
            "invalid_body"
        )
    );
    let mut two = saml_options();
    two["thumbprints"] = json!(["a", "b"]);
    assert_eq!(patch(json!({"options": two})).await.status, 400);
    let missing = emu
        .call(
            Method::PATCH,
            "/api/v2/connections/con_doesnotexist0000",
            Some(json!({"show_as_button": true})),
        )
        .await;
    assert_eq!(
        missing.body,
        error_body(
            404,
            "Not Found",
            "The connection does not exist",
            "inexistent_connection"
        )
    );
    let read = emu.call(Method::GET, &path, None).await.body;
    assert_eq!(read["options"], created["options"]);
    let stats = emu.admin(Method::GET, "/__emulator/stats", None).await.body;
    assert_eq!(stats["PATCH /api/v2/connections/{id} 400"], 6);
    assert!(stats.get("PATCH /api/v2/connections/{id} 200").is_none());
    emu.running.shutdown().await;
}

#[tokio::test]
async fn legacy_mode_accepts_enabled_clients_as_a_full_list() {
    let emu = Emu::start(EmulatorConfig {
        legacy_enabled_clients: true,
        ..config()
    })
    .await;
    let reply = emu
        .call(
            Method::POST,
            "/api/v2/connections",
            Some(json!({"name": "acme", "strategy": "samlp", "options": saml_options(), "enabled_clients": ["a", "b"]})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    let path = format!("/api/v2/connections/{}", reply.body["id"].as_str().unwrap());
    emu.call(
        Method::PATCH,
        &path,
        Some(json!({"enabled_clients": ["c"]})),
    )
    .await;
    let read = emu.call(Method::GET, &path, None).await.body;
    assert_eq!(read["enabled_clients"], json!(["c"]));
    let clients = emu
        .call(Method::GET, &format!("{path}/clients"), None)
        .await
        .body;
    assert_eq!(clients, json!({"clients": [{"client_id": "c"}]}));
    emu.running.shutdown().await;
}

#[tokio::test]
async fn delete_answers_202_then_204_and_the_connection_is_gone() {
    let emu = Emu::start(config()).await;
    let created = emu.create("acme").await;
    let path = format!("/api/v2/connections/{}", created["id"].as_str().unwrap());
    let first = emu.call(Method::DELETE, &path, None).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.headers["content-type"], JSON_UTF8);
    let deleted_at = first.body["deleted_at"].as_str().unwrap();
    assert_eq!(deleted_at.len(), "2026-05-28T11:25:46.507Z".len());
    assert!(deleted_at.parse::<jiff::Timestamp>().is_ok() && deleted_at.ends_with('Z'));
    let second = emu.call(Method::DELETE, &path, None).await;
    assert_eq!(second.status, 204);
    assert!(second.raw.is_empty());
    let read = emu.call(Method::GET, &path, None).await;
    assert_eq!(read.status, 404);
    assert_eq!(read.body["errorCode"], "inexistent_connection");
    emu.running.shutdown().await;
}

#[tokio::test]
async fn list_returns_arrays_totals_or_checkpoint_pages() {
    let emu = Emu::start(config()).await;
    for name in ["a1", "a2", "a3"] {
        emu.create(name).await;
    }
    emu.admin(
        Method::POST,
        "/__emulator/connections",
        Some(json!({"name": "google", "strategy": "google-oauth2", "options": {}})),
    )
    .await;
    let get = async |q: &str| {
        emu.call(Method::GET, &format!("/api/v2/connections{q}"), None)
            .await
    };
    let bare = get("").await.body;
    assert_eq!(bare.as_array().unwrap().len(), 4);
    let by_name = get("?name=a2").await.body;
    assert_eq!(by_name.as_array().unwrap().len(), 1);
    assert_eq!(by_name[0]["name"], "a2");
    assert_eq!(get("?name=A2").await.body, json!([]));
    let strategies = get("?strategy=samlp&strategy=google-oauth2").await.body;
    assert_eq!(strategies.as_array().unwrap().len(), 4);
    assert_eq!(
        get("?strategy=samlp").await.body.as_array().unwrap().len(),
        3
    );
    let totals = get("?include_totals=true&per_page=2&page=1").await.body;
    assert_eq!(totals["total"], 4);
    assert_eq!(totals["start"], 2);
    assert_eq!(totals["limit"], 2);
    assert_eq!(totals["connections"].as_array().unwrap().len(), 2);
    let first = get("?take=3&include_totals=true&per_page=50").await.body;
    assert!(first.get("total").is_none());
    assert_eq!(first["connections"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().unwrap();
    let last = get(&format!("?take=3&from={next}")).await.body;
    assert_eq!(last["connections"].as_array().unwrap().len(), 1);
    assert_eq!(last["connections"][0]["name"], "google");
    assert!(last.get("next").is_none());
    let fields = get("?fields=name&name=a1").await.body;
    let keys: Vec<&String> = fields[0].as_object().unwrap().keys().collect();
    let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "authentication",
            "connected_accounts",
            "id",
            "is_domain_connection",
            "name"
        ]
    );
    let bad = get("?per_page=500").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errorCode"], "invalid_query_string");
    emu.running.shutdown().await;
}

#[tokio::test]
async fn enabled_clients_endpoint_upserts_and_pages() {
    let emu = Emu::start(EmulatorConfig {
        known_clients: Some(vec!["app-1".into(), "app-2".into(), "app-3".into()]),
        ..config()
    })
    .await;
    let created = emu.create("acme").await;
    let path = format!(
        "/api/v2/connections/{}/clients",
        created["id"].as_str().unwrap()
    );
    let empty = emu.call(Method::GET, &path, None).await;
    assert_eq!(empty.body, json!({"clients": []}));
    let patch = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!([{"client_id": "app-1", "status": true}, {"client_id": "app-2", "status": true}])),
        )
        .await;
    assert_eq!(patch.status, 204);
    assert!(patch.raw.is_empty());
    emu.call(
        Method::PATCH,
        &path,
        Some(json!([{"client_id": "app-3", "status": true}, {"client_id": "app-1", "status": false}])),
    )
    .await;
    let page = emu
        .call(Method::GET, &format!("{path}?take=1"), None)
        .await
        .body;
    assert_eq!(page["clients"], json!([{"client_id": "app-2"}]));
    let next = page["next"].as_str().unwrap();
    let rest = emu
        .call(Method::GET, &format!("{path}?take=1&from={next}"), None)
        .await
        .body;
    assert_eq!(rest, json!({"clients": [{"client_id": "app-3"}]}));
    let unknown = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!([{"client_id": "stranger", "status": true}])),
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["message"], "The client does not exist");
    let too_few = emu.call(Method::PATCH, &path, Some(json!([]))).await;
    assert_eq!(too_few.status, 400);
    let no_conn = emu
        .call(Method::GET, "/api/v2/connections/con_missing/clients", None)
        .await;
    assert_eq!(no_conn.body["message"], "The connection does not exist");
    emu.running.shutdown().await;
}

#[tokio::test]
async fn an_empty_bucket_answers_429_and_changes_nothing() {
    let emu = Emu::start(EmulatorConfig {
        rate_limit: RateLimit::Bucket {
            burst: 2,
            per_second: 0.01,
        },
        retry_after: true,
        ..config()
    })
    .await;
    let first = emu.call(Method::GET, "/api/v2/connections", None).await;
    assert_eq!(first.headers["x-ratelimit-limit"], "2");
    assert_eq!(first.headers["x-ratelimit-remaining"], "1");
    let reset: u64 = first.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = jiff::Timestamp::now().as_second() as u64;
    assert!(
        reset > now,
        "reset {reset} must be when the next token arrives, after {now}"
    );
    emu.create("acme").await;
    let limited = emu
        .call(
            Method::POST,
            "/api/v2/connections",
            Some(json!({"name": "acme-2", "strategy": "samlp", "options": saml_options()})),
        )
        .await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.body,
        error_body(
            429,
            "Too Many Requests",
            "Global limit has been reached",
            "too_many_requests"
        )
    );
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    assert!(limited.headers.contains_key("retry-after"));
    let all = emu
        .admin(Method::GET, "/__emulator/connections", None)
        .await
        .body;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let stats = emu.admin(Method::GET, "/__emulator/stats", None).await.body;
    assert_eq!(stats["rate_limited"], 1);
    assert_eq!(stats["POST /api/v2/connections 429"], 1);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn an_after_phase_fault_applies_the_write_but_fails_the_response() {
    let emu = Emu::start(EmulatorConfig {
        faults: vec![
            "method=POST,path=/api/v2/connections,kind=503,nth=2,phase=after"
                .parse()
                .unwrap(),
        ],
        ..config()
    })
    .await;
    emu.create("first").await;
    let faulted = emu
        .call(
            Method::POST,
            "/api/v2/connections",
            Some(json!({"name": "second", "strategy": "samlp", "options": saml_options()})),
        )
        .await;
    assert_eq!(faulted.status, 503);
    assert_eq!(faulted.headers["content-type"], JSON_UTF8);
    // The write happened: a retry meets the 409 the operator must handle.
    let retry = emu
        .call(
            Method::POST,
            "/api/v2/connections",
            Some(json!({"name": "second", "strategy": "samlp", "options": saml_options()})),
        )
        .await;
    assert_eq!(retry.status, 409);
    emu.create("third").await;
    let stats = emu.admin(Method::GET, "/__emulator/stats", None).await.body;
    assert_eq!(stats["faults_fired"], 1);
    assert_eq!(stats["POST /api/v2/connections 503"], 1);
    // The call log tells what the faulted call had been answered: it was applied.
    let calls = emu.admin(Method::GET, "/__emulator/calls", None).await.body;
    let faulted: Vec<&Value> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["fault"] == "503")
        .collect();
    assert_eq!(faulted.len(), 1);
    assert_eq!(faulted[0]["applied_status"], 201);
    assert!(
        calls
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["fault"].is_null())
            .all(|c| c.get("applied_status").is_none()),
        "only faulted calls carry applied_status"
    );
    emu.running.shutdown().await;
}

#[tokio::test]
async fn a_reset_fault_closes_the_connection_without_a_response() {
    let emu = Emu::start(config()).await;
    let added = emu
        .admin(
            Method::POST,
            "/__emulator/faults",
            Some(json!({"method": "GET", "kind": "reset", "times": 1})),
        )
        .await;
    assert_eq!(added.status, 201);
    let err = emu
        .http
        .get(format!("{}/api/v2/connections", emu.base))
        .bearer_auth(&emu.token)
        .send()
        .await;
    assert!(err.is_err(), "expected a connection error, got {err:?}");
    let ok = emu.call(Method::GET, "/api/v2/connections", None).await;
    assert_eq!(ok.status, 200);
    let calls = emu.admin(Method::GET, "/__emulator/calls", None).await.body;
    let faults: Vec<&Value> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["fault"])
        .collect();
    assert!(faults.contains(&&json!("reset")));
    emu.running.shutdown().await;
}

#[tokio::test]
async fn the_call_log_and_counters_record_api_calls_but_not_admin_calls() {
    let emu = Emu::start(config()).await;
    let created = emu.create("acme").await;
    let path = format!("/api/v2/connections/{}", created["id"].as_str().unwrap());
    emu.call(Method::GET, &path, None).await;
    emu.call(Method::GET, "/api/v2/connections?name=acme", None)
        .await;
    emu.admin(Method::GET, "/__emulator/connections", None)
        .await;
    let calls = emu.admin(Method::GET, "/__emulator/calls", None).await.body;
    let calls = calls.as_array().unwrap();
    let summary: Vec<(String, String, u64)> = calls
        .iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
                c["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST".to_string(), "/oauth/token".to_string(), 200),
            ("POST".into(), "/api/v2/connections".into(), 201),
            ("GET".into(), path.clone(), 200),
            ("GET".into(), "/api/v2/connections".into(), 200),
        ]
    );
    assert_eq!(calls[3]["query"], "name=acme");
    assert_eq!(calls[3]["fault"], Value::Null);
    let since = emu
        .admin(Method::GET, "/__emulator/calls?since=3", None)
        .await
        .body;
    assert_eq!(since.as_array().unwrap().len(), 1);
    let stats = emu.admin(Method::GET, "/__emulator/stats", None).await.body;
    assert_eq!(stats["GET /api/v2/connections/{id} 200"], 1);
    assert_eq!(stats["POST /api/v2/connections 201"], 1);
    assert_eq!(stats["tokens_issued"], 1);
    assert_eq!(stats["rate_limited"], 0);
    let reset = emu
        .admin(Method::POST, "/__emulator/reset?keep=connections", None)
        .await;
    assert_eq!(reset.status, 200);
    assert_eq!(
        emu.admin(Method::GET, "/__emulator/calls", None).await.body,
        json!([])
    );
    assert_eq!(emu.call(Method::GET, &path, None).await.status, 200);
    emu.admin(Method::POST, "/__emulator/reset", None).await;
    assert_eq!(emu.call(Method::GET, &path, None).await.status, 404);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_auth0_shaped_404s_and_are_logged_by_path() {
    let emu = Emu::start(config()).await;
    let not_found = json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"});
    // Under /api/v2 the token is checked first, whatever the path or method.
    let anonymous = emu.admin(Method::GET, "/api/v2/users", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["message"], "Missing authentication");
    for (method, path) in [
        (Method::GET, "/api/v2/users"),
        (Method::PUT, "/api/v2/connections"),
        (Method::POST, "/api/v2/connections/con_x"),
        (Method::DELETE, "/api/v2/connections/con_x/clients"),
        (Method::GET, "/api/v2"),
    ] {
        let reply = emu.call(method.clone(), path, None).await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.body, not_found, "{method} {path}");
        assert_eq!(reply.headers["content-type"], JSON_UTF8);
        assert!(
            reply.headers.contains_key("x-ratelimit-limit"),
            "{method} {path}"
        );
        assert!(!reply.headers.contains_key("allow"), "{method} {path}");
    }
    // HEAD is not a GET.
    let head = emu.call(Method::HEAD, "/api/v2/connections", None).await;
    assert_eq!(head.status, 404);
    // Trailing slashes are ignored under /api/v2; ids are matched as sent.
    let list = emu.call(Method::GET, "/api/v2/connections/", None).await;
    assert_eq!((list.status, list.body), (StatusCode::OK, json!([])));
    let created = emu.create("acme").await;
    let id = created["id"].as_str().unwrap();
    let encoded = format!("/api/v2/connections/{}", id.replace('_', "%5F"));
    let read = emu.call(Method::GET, &encoded, None).await;
    assert_eq!(read.status, 404);
    assert_eq!(read.body["errorCode"], "inexistent_connection");
    // Elsewhere: no token needed, still Auth0's 404.
    for (method, path) in [
        (Method::GET, "/oauth/token"),
        (Method::POST, "/pem"),
        (Method::GET, "/pem/"),
        (Method::GET, "/nope"),
    ] {
        let reply = emu.admin(method.clone(), path, None).await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.body, not_found, "{method} {path}");
        assert!(
            !reply.headers.contains_key("x-ratelimit-limit"),
            "{method} {path}"
        );
    }
    // The admin API names what it does not have, and is not logged.
    let unknown = emu.admin(Method::DELETE, "/__emulator/stats/", None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body["message"],
        "no admin endpoint DELETE /__emulator/stats/"
    );
    let scopes = emu
        .admin(Method::GET, "/__emulator/clients/narrow/scopes", None)
        .await;
    assert_eq!(scopes.status, 405);
    assert_eq!(
        scopes.body["message"],
        "use PUT /__emulator/clients/narrow/scopes"
    );
    assert!(!scopes.headers.contains_key("allow"));
    let calls = emu.admin(Method::GET, "/__emulator/calls", None).await.body;
    let paths: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/api/v2/connections/"), "{paths:?}");
    assert!(
        paths.iter().all(|p| !p.starts_with("/__emulator")),
        "{paths:?}"
    );
    let stats = emu.admin(Method::GET, "/__emulator/stats", None).await.body;
    assert_eq!(stats["GET /api/v2/connections 200"], 1);
    assert_eq!(stats["PUT /api/v2/connections 404"], 1);
    assert_eq!(stats["GET other 404"], 3);
    assert_eq!(stats["GET /oauth/token 404"], 1);
    assert_eq!(stats["GET /pem 404"], 1);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_ids() {
    let a = Emu::start(EmulatorConfig {
        seed: 7,
        ..config()
    })
    .await;
    let b = Emu::start(EmulatorConfig {
        seed: 7,
        ..config()
    })
    .await;
    let c = Emu::start(EmulatorConfig {
        seed: 8,
        ..config()
    })
    .await;
    let (ia, ib, ic) = (
        a.create("x").await,
        b.create("x").await,
        c.create("x").await,
    );
    assert_eq!(ia["id"], ib["id"]);
    assert_eq!(ia["provisioning_ticket_url"], ib["provisioning_ticket_url"]);
    assert_ne!(ia["id"], ic["id"]);
    for emu in [a, b, c] {
        emu.running.shutdown().await;
    }
}

#[tokio::test]
async fn the_binary_prints_its_url_honours_its_flags_and_stops_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_auth0-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "5",
            "--tenant-profile",
            "2025",
            "--fault",
            "path=/oauth/token,kind=503,nth=1",
        ])
        .env_remove("AUTH0_EMULATOR_LISTEN")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .unwrap()
        .unwrap();
    let base = line
        .strip_prefix("auth0-emulator listening on ")
        .unwrap()
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"));
    let http = reqwest::Client::new();
    let token_request = || {
        http.post(format!("{base}/oauth/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("audience", &format!("{base}/api/v2/")),
        ])
    };
    assert_eq!(token_request().send().await.unwrap().status(), 503);
    let token: Value = token_request().send().await.unwrap().json().await.unwrap();
    let created = http
        .post(format!("{base}/api/v2/connections"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&json!({"name": "acme", "strategy": "samlp", "options": saml_options()}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["x-ratelimit-limit"], "5");
    let body: Value = created.json().await.unwrap();
    assert!(body.get("authentication").is_none());
    assert!(
        body["options"]
            .get("assertion_decryption_settings")
            .is_none()
    );
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test]
async fn state_connections_are_served_verbatim_with_derived_fields() {
    let foreign = json!({
        "id": "con_foreign000000001",
        "name": "acme",
        "strategy": "samlp",
        "options": {"signingCert": okta_cert().to_pem(), "thumbprints": ["stale"], "debug": true},
        "enabled_clients": ["app-1"],
        "metadata": {"team": "identity"}
    });
    let emu = Emu::start(EmulatorConfig {
        state: vec![foreign],
        ..config()
    })
    .await;
    let read = emu
        .call(
            Method::GET,
            "/api/v2/connections/con_foreign000000001",
            None,
        )
        .await
        .body;
    assert_eq!(read["metadata"], json!({"team": "identity"}));
    assert_eq!(read["options"]["debug"], true);
    assert_eq!(read["options"]["signingCert"], okta_cert().to_pem());
    assert_eq!(read["options"]["thumbprints"], json!([OKTA_SHA1]));
    assert!(read.get("realms").is_none());
    let clients = emu
        .call(
            Method::GET,
            "/api/v2/connections/con_foreign000000001/clients",
            None,
        )
        .await
        .body;
    assert_eq!(clients, json!({"clients": [{"client_id": "app-1"}]}));
    emu.running.shutdown().await;
}

#[tokio::test]
async fn a_name_reused_within_the_deletion_lag_is_still_being_deleted() {
    let emu = Emu::start(EmulatorConfig {
        deletion_lag_ms: 60_000,
        ..config()
    })
    .await;
    let id = emu.create("acme").await["id"].as_str().unwrap().to_string();
    let deleted = emu
        .call(Method::DELETE, &format!("/api/v2/connections/{id}"), None)
        .await;
    assert_eq!(deleted.status, 202);
    let body = json!({"name": "acme", "strategy": "samlp", "options": saml_options()});
    let again = emu
        .call(Method::POST, "/api/v2/connections", Some(body.clone()))
        .await;
    assert_eq!(again.status, 409);
    // No errorCode, unlike the name conflict (docs/AUTH0_API.md §9).
    assert_eq!(
        again.body,
        json!({"statusCode": 409, "error": "Conflict", "message": "A connection with the same name is being deleted, try again later"})
    );
    // Off by default, and changeable at runtime.
    let knobs = emu
        .admin(
            Method::PUT,
            "/__emulator/config",
            Some(json!({"deletion_lag_ms": 0})),
        )
        .await;
    assert_eq!(knobs.body["deletion_lag_ms"], 0);
    let created = emu
        .call(Method::POST, "/api/v2/connections", Some(body))
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(
        Emu::start(config())
            .await
            .admin(Method::GET, "/__emulator/config", None)
            .await
            .body["deletion_lag_ms"],
        0
    );
}

#[tokio::test]
async fn a_client_grant_changed_through_the_admin_api_reaches_new_tokens_only() {
    let emu = Emu::start(EmulatorConfig {
        extra_clients: vec![narrow_client()],
        ..config()
    })
    .await;
    let old = emu.token_for("narrow", "narrow-secret").await;
    let listed = emu.admin(Method::GET, "/__emulator/clients", None).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.raw.contains("narrow-secret"), "no secrets listed");
    assert_eq!(listed.body[1]["client_id"], "narrow");

    let granted = emu
        .admin(
            Method::PUT,
            "/__emulator/clients/narrow/scopes",
            Some(json!(["read:connections", "delete:connections"])),
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.raw);
    let new = emu.token_for("narrow", "narrow-secret").await;
    assert_eq!(
        jwt_claims(&new)["scope"],
        "read:connections delete:connections"
    );
    assert_eq!(
        jwt_claims(&old)["scope"],
        "read:connections create:connections update:connections"
    );
    let missing = emu
        .admin(
            Method::PUT,
            "/__emulator/clients/nobody/scopes",
            Some(json!([])),
        )
        .await;
    assert_eq!(missing.status, 404);
    let bad = emu
        .admin(
            Method::PUT,
            "/__emulator/clients/narrow/scopes",
            Some(json!("read:connections")),
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn a_fault_can_carry_an_out_of_band_options_edit() {
    let emu = Emu::start(config()).await;
    let created = emu.create("acme").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v2/connections/{id}");
    let rule = emu
        .admin(
            Method::POST,
            "/__emulator/faults",
            Some(json!({
                "method": "PATCH", "path": "/api/v2/connections/*", "kind": 503, "nth": 1,
                "edit_options": {"x_dashboard": "edited", "debug": null},
            })),
        )
        .await;
    assert_eq!(rule.status, 201, "{}", rule.raw);
    let mut options = saml_options();
    options["debug"] = json!(true);
    let failed = emu
        .call(Method::PATCH, &path, Some(json!({"options": options})))
        .await;
    assert_eq!(failed.status, 503);
    let read = emu.call(Method::GET, &path, None).await;
    // The PATCH was not applied (phase before); the Dashboard edit was.
    assert_eq!(read.body["options"]["x_dashboard"], "edited");
    assert!(read.body["options"].get("debug").is_none());
    assert_eq!(
        read.body["options"]["signInEndpoint"],
        created["options"]["signInEndpoint"]
    );
    let listed = emu.admin(Method::GET, "/__emulator/faults", None).await;
    assert_eq!(listed.body[0]["edit_options"]["x_dashboard"], "edited");
}

#[tokio::test]
async fn the_tenant_certificates_are_public_at_pem_and_never_rate_limited() {
    let emu = Emu::start(EmulatorConfig {
        rate_limit: RateLimit::Bucket {
            burst: 1,
            per_second: 0.01,
        },
        ..config()
    })
    .await;
    // No token, and more requests than the bucket holds.
    let mut served = Vec::new();
    for _ in 0..3 {
        let reply = emu
            .http
            .get(format!("{}/pem?cert=connection", emu.base))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.headers()["content-type"], "application/x-pem-file");
        served.push(reply.text().await.unwrap());
    }
    assert!(
        served.iter().all(|pem| pem == &served[0]),
        "one certificate per run"
    );
    let connection = Certificate::from_pem(&served[0]).unwrap();
    assert_eq!(connection.subject_cn(), Some("emulator.local"));
    let tenant = emu
        .http
        .get(format!("{}/pem", emu.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Without `cert=connection`: the certificate Auth0 signs tokens with as an IdP.
    assert_ne!(Certificate::from_pem(&tenant).unwrap(), connection);
    let stats = emu.admin(Method::GET, "/__emulator/stats", None).await.body;
    assert_eq!(stats["GET /pem 200"], 4);
    assert_eq!(stats["rate_limited"], 0);
    emu.running.shutdown().await;
}
