//! Applications (`/api/v2/clients`), the tenant's signing keys (`/api/v2/keys/signing`) and
//! the SAML IdP metadata of an application (`/samlp/metadata/{client_id}`) of
//! `auth0-emulator` (docs/AUTH0_API.md §16), driven over HTTP against an in-process instance on
//! a free port, as `tests/emulator_b2b.rs` does for organizations.

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::{Map, Value, json};
use sso_operator::certs::Certificate;
use sso_operator::emulator::{
    ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, RateLimit,
};
use sso_operator::metadata::parse_idp_metadata;

#[path = "support/emu_http.rs"]
mod emu_http;

use emu_http::{Emu, Reply};

const JSON_UTF8: &str = "application/json; charset=utf-8";

fn config() -> EmulatorConfig {
    EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        extra_clients: vec![
            ClientSpec {
                id: "narrow".into(),
                secret: "narrow-secret".into(),
                scopes: vec!["read:connections".into()],
            },
            ClientSpec {
                id: "keys".into(),
                secret: "keys-secret".into(),
                scopes: vec![
                    "read:client_keys".into(),
                    "update:client_keys".into(),
                    "create:clients".into(),
                ],
            },
        ],
        ..EmulatorConfig::default()
    }
}

impl Emu {
    async fn create(&self, body: Value) -> Value {
        let reply = self.call(Method::POST, "/api/v2/clients", Some(body)).await;
        assert_eq!(reply.status, 201, "{}", reply.raw);
        reply.body
    }

    async fn public(&self, path: &str) -> Reply {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }
}

fn coded(status: u16, error: &str, message: &str, code: &str) -> Value {
    json!({"statusCode": status, "error": error, "message": message, "errorCode": code})
}

fn no_client() -> Value {
    coded(
        404,
        "Not Found",
        "The client does not exist",
        "inexistent_client",
    )
}

fn is_client_id(id: &Value) -> bool {
    id.as_str()
        .is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_string())
        .collect()
}

fn saml_app() -> Value {
    json!({
        "name": "Acme SAML SP",
        "app_type": "regular_web",
        "callbacks": ["https://sp.acme.test/saml/acs"],
        "allowed_logout_urls": ["https://sp.acme.test/"],
        "client_metadata": {"managed-by": "sso-operator", "resource": "default/acme"},
        "addons": {"samlp": {
            "audience": "urn:acme:sp",
            "recipient": "https://sp.acme.test/saml/acs",
            "nameIdentifierFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "nameIdentifierProbes": ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"],
            "mappings": {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
            "signResponse": true,
        }},
    })
}

#[tokio::test]
async fn a_created_client_has_an_id_defaults_and_no_secret_for_a_token_without_client_keys() {
    let emu = Emu::start(config()).await;
    let created = emu.create(saml_app()).await;
    assert!(is_client_id(&created["client_id"]), "{created}");
    let id = created["client_id"].as_str().unwrap();
    assert_eq!(created["name"], "Acme SAML SP");
    assert_eq!(created["tenant"], "emulator");
    assert_eq!(created["global"], false);
    assert_eq!(created["app_type"], "regular_web");
    assert_eq!(created["is_first_party"], true);
    assert_eq!(created["oidc_conformant"], false);
    assert_eq!(
        created["callbacks"],
        json!(["https://sp.acme.test/saml/acs"])
    );
    assert_eq!(created["addons"], saml_app()["addons"]);
    assert_eq!(created["client_metadata"], saml_app()["client_metadata"]);
    // The default client has no read:client_keys: no secret, no signing keys.
    for hidden in ["client_secret", "signing_keys", "encryption_key"] {
        assert!(created.get(hidden).is_none(), "{hidden} shown: {created}");
    }
    let read = emu
        .call(Method::GET, &format!("/api/v2/clients/{id}"), None)
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.headers["content-type"], JSON_UTF8);
    assert_eq!(read.body, created);
    // A token with read:client_keys sees the 64-character secret and the signing key.
    let keys = emu.token_for("keys", "keys-secret").await;
    let full = emu
        .call_as(&keys, Method::GET, &format!("/api/v2/clients/{id}"), None)
        .await;
    assert_eq!(full.status, 200, "{}", full.raw);
    let secret = full.body["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(
        full.body["signing_keys"][0]["subject"],
        "/CN=emulator.local"
    );
    // The one who creates with read:client_keys gets the secret in the 201 answer too.
    let own = emu
        .call_as(
            &keys,
            Method::POST,
            "/api/v2/clients",
            Some(json!({"name": "with keys"})),
        )
        .await;
    assert_eq!(own.status, 201);
    assert_eq!(own.body["client_secret"].as_str().map(str::len), Some(64));
    // Field selection keeps `tenant`, as recorded for `fields=client_id`.
    let selected = emu
        .call(
            Method::GET,
            &format!("/api/v2/clients/{id}?fields=client_id,name&include_fields=true"),
            None,
        )
        .await;
    assert_eq!(
        selected.body,
        json!({"name": "Acme SAML SP", "client_id": id, "tenant": "emulator"})
    );
    emu.running.shutdown().await;
}

#[tokio::test]
async fn clients_are_listed_in_three_shapes_with_the_global_and_machine_to_machine_ones() {
    let emu = Emu::start(config()).await;
    let a = emu
        .create(json!({"name": "a", "app_type": "regular_web"}))
        .await;
    let b = emu.create(json!({"name": "b", "app_type": "spa"})).await;
    let (a, b) = (
        a["client_id"].as_str().unwrap().to_string(),
        b["client_id"].as_str().unwrap().to_string(),
    );
    let all = emu.call(Method::GET, "/api/v2/clients", None).await;
    assert_eq!(all.status, 200);
    let items = all.body.as_array().unwrap();
    // The global client, the three clients the token endpoint knows, then the created ones.
    assert_eq!(items.len(), 6, "{}", all.raw);
    assert_eq!(items[0]["name"], "All Applications");
    assert_eq!(items[0]["global"], true);
    assert_eq!(
        ids(&all.body)[1..],
        [DEFAULT_CLIENT_ID, "narrow", "keys", a.as_str(), b.as_str()]
    );
    assert_eq!(items[1]["app_type"], "non_interactive");
    assert_eq!(items[1]["grant_types"], json!(["client_credentials"]));
    assert!(items.iter().all(|c| c.get("client_secret").is_none()));

    // What deploy-cli sends.
    let paged = emu
        .call(
            Method::GET,
            "/api/v2/clients?page=0&per_page=100&include_totals=true&is_global=false",
            None,
        )
        .await;
    assert_eq!(paged.status, 200);
    assert_eq!(
        paged.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["total", "start", "limit", "clients"]
    );
    assert_eq!(paged.body["total"], 5);
    assert_eq!(paged.body["start"], 0);
    assert_eq!(paged.body["limit"], 100);
    assert!(!ids(&paged.body["clients"]).contains(&ids(&all.body)[0]));

    let second = emu
        .call(
            Method::GET,
            "/api/v2/clients?page=1&per_page=2&include_totals=true",
            None,
        )
        .await;
    assert_eq!(second.body["start"], 2);
    assert_eq!(second.body["total"], 6);
    assert_eq!(ids(&second.body["clients"]), ["narrow", "keys"]);

    let global = emu
        .call(
            Method::GET,
            "/api/v2/clients?is_global=true&fields=client_id&include_fields=true",
            None,
        )
        .await;
    assert_eq!(
        global.body,
        json!([{"client_id": ids(&all.body)[0], "tenant": "emulator"}])
    );

    let typed = emu
        .call(
            Method::GET,
            "/api/v2/clients?app_type=spa,regular_web",
            None,
        )
        .await;
    assert_eq!(ids(&typed.body), [a.as_str(), b.as_str()]);

    // Checkpoint pages: `next` until the last page, which has none.
    let mut seen = Vec::new();
    let mut path = "/api/v2/clients?take=4".to_string();
    loop {
        let page = emu.call(Method::GET, &path, None).await;
        assert_eq!(page.status, 200, "{}", page.raw);
        seen.extend(ids(&page.body["clients"]));
        match page.body.get("next").and_then(Value::as_str) {
            Some(next) => path = format!("/api/v2/clients?take=4&from={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all.body));

    let bad = emu
        .call(Method::GET, "/api/v2/clients?per_page=101", None)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errorCode"], "invalid_query_string");
    let unknown = emu
        .call(Method::GET, "/api/v2/clients?colour=red", None)
        .await;
    assert_eq!(unknown.status, 400);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn patch_merges_client_metadata_and_replaces_callbacks_and_addons_whole() {
    let emu = Emu::start(config()).await;
    let created = emu.create(saml_app()).await;
    let path = format!("/api/v2/clients/{}", created["client_id"].as_str().unwrap());
    let patched = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!({
                "client_metadata": {"resource": null, "generation": "2"},
                "callbacks": ["https://sp2.acme.test/acs"],
                "addons": {"samlp": {"audience": "urn:acme:sp2"}},
            })),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.raw);
    assert_eq!(
        patched.body["client_metadata"],
        json!({"managed-by": "sso-operator", "generation": "2"})
    );
    assert_eq!(
        patched.body["callbacks"],
        json!(["https://sp2.acme.test/acs"])
    );
    // The whole samlp object is what was sent: recipient, probes and mappings are gone.
    assert_eq!(
        patched.body["addons"],
        json!({"samlp": {"audience": "urn:acme:sp2"}})
    );
    assert_eq!(patched.body["name"], "Acme SAML SP");
    assert_eq!(
        patched.body["allowed_logout_urls"],
        json!(["https://sp.acme.test/"])
    );
    let read = emu.call(Method::GET, &path, None).await;
    assert_eq!(read.body, patched.body);

    let cleared = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!({"addons": null, "callbacks": []})),
        )
        .await;
    assert_eq!(cleared.status, 200);
    assert!(cleared.body.get("addons").is_none(), "{}", cleared.raw);
    assert_eq!(cleared.body["callbacks"], json!([]));

    // A merge beyond ten keys is refused and changes nothing.
    // Two stored keys and nine new ones: eleven.
    let nine: Map<String, Value> = (0..9).map(|i| (format!("k{i}"), json!("v"))).collect();
    let refused = emu
        .call(
            Method::PATCH,
            &path,
            Some(json!({"client_metadata": nine, "name": "x"})),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("'Too many properties defined (11), maximum 10' on property client_metadata"),
        "{}",
        refused.raw
    );
    let unchanged = emu.call(Method::GET, &path, None).await;
    assert_eq!(unchanged.body["name"], "Acme SAML SP");
    assert_eq!(
        unchanged.body["client_metadata"],
        json!({"managed-by": "sso-operator", "generation": "2"})
    );
    emu.running.shutdown().await;
}

#[tokio::test]
async fn bodies_against_the_schema_are_refused_with_invalid_body() {
    let emu = Emu::start(config()).await;
    let cases = [
        (
            json!({"name": "x", "colour": "red"}),
            "Payload validation error: 'Additional properties not allowed: colour'.",
        ),
        (
            json!({"app_type": "spa"}),
            "Payload validation error: 'Missing required property: name'.",
        ),
        (
            json!({"name": "x", "addons": {"samlp": {"nameIdentifierProbes": null}}}),
            "Payload validation error: 'Expected type array but found type null' on property addons.samlp.nameIdentifierProbes.",
        ),
        (
            json!({"name": "x", "client_metadata": {"tier": 1}}),
            "Payload validation error: 'Expected type string but found type integer' on property client_metadata.tier.",
        ),
    ];
    for (body, message) in cases {
        let reply = emu.call(Method::POST, "/api/v2/clients", Some(body)).await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.body,
            coded(400, "Bad Request", message, "invalid_body")
        );
    }
    let eleven: Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let too_many = emu
        .call(
            Method::POST,
            "/api/v2/clients",
            Some(json!({"name": "x", "client_metadata": eleven})),
        )
        .await;
    assert_eq!(too_many.status, 400);
    assert!(
        too_many.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Payload validation error: 'Too many properties defined (11), maximum 10' on property client_metadata (")
    );
    let bad_url = emu
        .call(
            Method::POST,
            "/api/v2/clients",
            Some(json!({"name": "x", "callbacks": ["acs"]})),
        )
        .await;
    assert_eq!(bad_url.status, 400);
    let not_json = emu
        .send(
            emu.http
                .post(format!("{}/api/v2/clients", emu.base))
                .bearer_auth(&emu.token)
                .header("content-type", "application/json")
                .body("{"),
        )
        .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.body["errorCode"], "invalid_body");
    let id = emu.create(json!({"name": "x"})).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let empty = emu
        .call(
            Method::PATCH,
            &format!("/api/v2/clients/{id}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        empty.body["message"],
        "Payload validation error: 'Too few properties defined (0), minimum 1'."
    );
    // Nothing was created by the refused bodies.
    assert_eq!(emu.admin.clients().await.unwrap().len(), 1 + 3 + 1);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn unknown_clients_get_404_and_deleted_ones_are_gone() {
    let emu = Emu::start(config()).await;
    let missing = "/api/v2/clients/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "x"}))),
        (Method::DELETE, None),
    ] {
        let reply = emu.call(method.clone(), missing, body).await;
        assert_eq!(reply.status, 404, "{method}");
        assert_eq!(reply.body, no_client(), "{method}");
    }
    let id = emu.create(json!({"name": "gone soon"})).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v2/clients/{id}");
    let deleted = emu.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.raw.is_empty());
    assert_eq!(emu.call(Method::GET, &path, None).await.body, no_client());
    assert_eq!(emu.call(Method::DELETE, &path, None).await.status, 404);
    assert_eq!(emu.admin.client(&id).await.unwrap(), None);
    // The global client cannot be deleted.
    let global = emu.admin.clients().await.unwrap()[0]["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = emu
        .call(Method::DELETE, &format!("/api/v2/clients/{global}"), None)
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["errorCode"], "operation_not_supported");
    emu.running.shutdown().await;
}

#[tokio::test]
async fn every_verb_checks_its_scope() {
    let emu = Emu::start(config()).await;
    let id = emu.create(json!({"name": "x"})).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let narrow = emu.token_for("narrow", "narrow-secret").await;
    let one = format!("/api/v2/clients/{id}");
    let cases = [
        (
            Method::GET,
            "/api/v2/clients",
            None,
            "read:clients, read:client_keys",
        ),
        (
            Method::POST,
            "/api/v2/clients",
            Some(json!({"name": "y"})),
            "create:clients",
        ),
        (
            Method::GET,
            one.as_str(),
            None,
            "read:clients, read:client_keys",
        ),
        (
            Method::PATCH,
            one.as_str(),
            Some(json!({"name": "y"})),
            "update:clients, update:client_keys",
        ),
        (Method::DELETE, one.as_str(), None, "delete:clients"),
        (
            Method::GET,
            "/api/v2/keys/signing",
            None,
            "read:signing_keys",
        ),
    ];
    for (method, path, body, scopes) in cases {
        let reply = emu.call_as(&narrow, method.clone(), path, body).await;
        assert_eq!(reply.status, 403, "{method} {path}");
        assert_eq!(
            reply.body,
            coded(
                403,
                "Forbidden",
                &format!("Insufficient scope, expected any of: {scopes}"),
                "insufficient_scope"
            ),
            "{method} {path}"
        );
    }
    // Writing the secret needs update:client_keys, which the default client lacks.
    let secret = emu
        .call(
            Method::PATCH,
            &one,
            Some(json!({"client_secret": "x".repeat(64)})),
        )
        .await;
    assert_eq!(secret.status, 403);
    assert_eq!(secret.body["errorCode"], "insufficient_scope");
    let keys = emu.token_for("keys", "keys-secret").await;
    let rotated = emu
        .call_as(
            &keys,
            Method::PATCH,
            &one,
            Some(json!({"client_secret": "y".repeat(64)})),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    assert_eq!(rotated.body["client_secret"], "y".repeat(64));
    // Without a token: 401 before anything else.
    let anonymous = emu
        .send(emu.http.get(format!("{}/api/v2/clients", emu.base)))
        .await;
    assert_eq!(anonymous.status, 401);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn signing_keys_list_the_current_pem_certificate_and_the_next_one() {
    let emu = Emu::start(config()).await;
    let list = emu.call(Method::GET, "/api/v2/keys/signing", None).await;
    assert_eq!(list.status, 200, "{}", list.raw);
    let keys = list.body.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let (current, next) = (&keys[0], &keys[1]);
    assert_eq!(
        (current["current"].clone(), current["next"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        (next["current"].clone(), next["next"].clone()),
        (json!(false), json!(true))
    );
    assert!(current["current_since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(current["revoked"], false);
    let pem = emu.public("/pem").await.raw;
    let served = Certificate::from_pem(&pem).unwrap();
    let cert = Certificate::from_pem(current["cert"].as_str().unwrap()).unwrap();
    assert_eq!(cert, served, "the current key's certificate is /pem's");
    assert_ne!(
        Certificate::from_pem(next["cert"].as_str().unwrap()).unwrap(),
        served
    );
    assert_eq!(
        current["thumbprint"],
        json!(served.sha1_hex().to_ascii_uppercase())
    );
    assert_eq!(
        current["fingerprint"].as_str().unwrap().replace(':', ""),
        current["thumbprint"].as_str().unwrap()
    );
    assert!(
        current["cert"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----\r\n")
    );
    assert!(
        current["pkcs7"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PKCS7-----\r\n")
    );
    let kid = current["kid"].as_str().unwrap();
    assert_eq!(kid.len(), 21);
    let one = emu
        .call(Method::GET, &format!("/api/v2/keys/signing/{kid}"), None)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(&one.body, current);
    let unknown = emu
        .call(Method::GET, "/api/v2/keys/signing/nope", None)
        .await;
    assert_eq!(unknown.status, 404);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn the_idp_metadata_is_public_parses_and_carries_the_signing_certificate() {
    let emu = Emu::start(EmulatorConfig {
        rate_limit: RateLimit::Bucket {
            burst: 1,
            per_second: 0.01,
        },
        ..config()
    })
    .await;
    let id = emu.create(saml_app()).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = emu.call(Method::GET, "/api/v2/keys/signing", None).await;
    // The bucket of one token is spent now; the metadata is outside the limit.
    assert_eq!(keys.status, 429);
    let current = emu
        .admin
        .idp_metadata(&id)
        .await
        .unwrap()
        .expect("document");
    for _ in 0..3 {
        let reply = emu.public(&format!("/samlp/metadata/{id}")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.headers["content-type"],
            "application/xml; charset=utf-8"
        );
        assert!(!reply.headers.contains_key("x-ratelimit-limit"));
        assert_eq!(reply.raw, current);
    }
    let md = parse_idp_metadata(current.as_bytes(), None, jiff::Timestamp::now()).unwrap();
    assert_eq!(md.entity_id, "urn:emulator.local");
    let sso = format!("https://emulator.local/samlp/{id}");
    assert_eq!(md.sso_redirect.as_deref(), Some(sso.as_str()));
    assert_eq!(md.sso_post.as_deref(), Some(sso.as_str()));
    assert_eq!(md.slo, Some(format!("{sso}/logout")));
    let pem = emu.public("/pem").await.raw;
    assert_eq!(md.signing_certs, vec![Certificate::from_pem(&pem).unwrap()]);
    for (name, friendly) in [
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "E-Mail Address",
        ),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
            "Name ID",
        ),
    ] {
        assert!(
            current.contains(&format!("Name=\"{name}\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\" FriendlyName=\"{friendly}\"")),
            "{current}"
        );
    }
    assert!(current.contains(
        "<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>"
    ));

    // An issuer set on the addon becomes the entity ID.
    emu.admin
        .patch_client(
            &id,
            json!({"addons": {"samlp": {"issuer": "urn:acme:idp"}}}),
        )
        .await
        .unwrap();
    let reissued = emu.public(&format!("/samlp/metadata/{id}")).await.raw;
    let md = parse_idp_metadata(reissued.as_bytes(), None, jiff::Timestamp::now()).unwrap();
    assert_eq!(md.entity_id, "urn:acme:idp");

    let unknown = emu
        .public("/samlp/metadata/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(emu.admin.idp_metadata("nope").await.unwrap(), None);
    let stats = emu.admin.stats().await.unwrap();
    assert_eq!(stats["GET /samlp/metadata/{client_id} 200"], 4);
    assert_eq!(stats["GET /samlp/metadata/{client_id} 404"], 1);
    assert_eq!(stats["rate_limited"], 1);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn the_admin_client_reads_seeds_and_edits_applications_without_secrets_or_log_entries() {
    let emu = Emu::start(config()).await;
    let keys = emu.token_for("keys", "keys-secret").await;
    let created = emu
        .call_as(&keys, Method::POST, "/api/v2/clients", Some(saml_app()))
        .await;
    let secret = created.body["client_secret"].as_str().unwrap().to_string();
    let id = created.body["client_id"].as_str().unwrap().to_string();
    let before = emu.admin.last_seq().await.unwrap();

    let all = emu.admin.clients().await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|c| c.get("client_secret").is_none()));
    assert!(!serde_json::to_string(&all).unwrap().contains(&secret));
    let one = emu.admin.client(&id).await.unwrap().unwrap();
    assert_eq!(one["addons"], saml_app()["addons"]);
    assert!(one["signing_keys"].is_array());

    let seeded = emu
        .admin
        .seed_client(json!({"name": "Dashboard app", "app_type": "spa"}))
        .await
        .unwrap();
    assert!(is_client_id(&seeded["client_id"]));
    assert_eq!(seeded["name"], "Dashboard app");
    let fixed = emu
        .admin
        .seed_client(json!({"client_id": "fixed-id", "name": "Fixed"}))
        .await
        .unwrap();
    assert_eq!(fixed["client_id"], "fixed-id");
    assert!(
        emu.admin
            .seed_client(json!({"client_id": "fixed-id"}))
            .await
            .is_err()
    );

    let edited = emu
        .admin
        .patch_client(
            &id,
            json!({"client_metadata": {"resource": null, "edited": "dashboard"}}),
        )
        .await
        .unwrap();
    assert_eq!(
        edited["client_metadata"],
        json!({"managed-by": "sso-operator", "edited": "dashboard"})
    );
    assert!(edited.get("client_secret").is_none());
    assert!(
        emu.admin
            .patch_client(&id, json!({"colour": "red"}))
            .await
            .is_err()
    );
    // None of it is in the call log, and no secret ever is.
    assert_eq!(emu.admin.last_seq().await.unwrap(), before);
    let log = emu
        .send(emu.http.get(format!("{}/__emulator/calls", emu.base)))
        .await;
    assert!(!log.raw.contains(&secret));
    assert!(!log.raw.contains(DEFAULT_CLIENT_SECRET));
    let read = emu
        .call(Method::GET, &format!("/api/v2/clients/{id}"), None)
        .await;
    assert_eq!(read.body["client_metadata"], edited["client_metadata"]);
    let stats = emu.admin.stats().await.unwrap();
    assert_eq!(stats["POST /api/v2/clients 201"], 1);
    assert_eq!(stats["GET /api/v2/clients/{id} 200"], 1);

    // A reset brings back the applications of a fresh tenant.
    emu.admin.reset().await.unwrap();
    let fresh = emu.admin.clients().await.unwrap();
    assert_eq!(
        fresh.iter().map(|c| c["name"].clone()).collect::<Vec<_>>(),
        [
            json!("All Applications"),
            json!(DEFAULT_CLIENT_ID),
            json!("narrow"),
            json!("keys")
        ]
    );
    assert_eq!(fresh[0]["client_id"], all[0]["client_id"]);
    emu.running.shutdown().await;
}
