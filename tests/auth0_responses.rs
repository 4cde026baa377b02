//! Property tests: no token or Management API response, however malformed, makes the client's
//! parsing panic; each one is either understood or a typed `Auth0Error`, and no error quotes
//! the body (it may hold a token or a private key).

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};
use sso_operator::auth0::Auth0Error;
use sso_operator::auth0::client::{
    parse_clients_page, parse_connection, parse_connection_list, rejection,
};
use sso_operator::auth0::token::{CachedToken, MAX_TOKEN_LIFETIME, parse_token_response};
use tokio::time::Instant;

/// A marker placed in string values; no error message may contain it.
const SECRET: &str = "SECRET-MARKER";

/// Numbers at and beyond the edges of every integer and float type.
fn edge_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(i64::MAX)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(f64::MAX)),
        Just(json!(f64::MIN)),
        Just(json!(f64::MIN_POSITIVE)),
        Just(json!(0.5)),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("JSON numbers are finite", Number::from_f64)
            .prop_map(Value::Number),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_number(),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String(SECRET.to_string())),
        Just(Value::String(String::new())),
    ]
}

/// Keys the parsers look for, plus arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("access_token".to_string()),
        Just("expires_in".to_string()),
        Just("scope".to_string()),
        Just("token_type".to_string()),
        Just("id".to_string()),
        Just("name".to_string()),
        Just("strategy".to_string()),
        Just("options".to_string()),
        Just("metadata".to_string()),
        Just("connections".to_string()),
        Just("clients".to_string()),
        Just("client_id".to_string()),
        Just("next".to_string()),
        Just("statusCode".to_string()),
        Just("message".to_string()),
        Just("errorCode".to_string()),
        "[a-z_]{0,8}",
    ]
}

/// Arbitrary JSON: nested arrays and objects of junk, keyed with the names the parsers use.
fn junk() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A value of the documented type for `key`, or junk.
fn field(key: &'static str) -> impl Strategy<Value = (String, Value)> {
    let plausible = match key {
        "expires_in" => edge_number().boxed(),
        "options" | "metadata" => prop::collection::vec(("[a-z]{1,6}", leaf()), 0..4)
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
            .boxed(),
        _ => prop_oneof![".{0,12}".prop_map(Value::String), Just(json!(SECRET))].boxed(),
    };
    prop_oneof![3 => plausible, 1 => junk()].prop_map(move |v| (key.to_string(), v))
}

/// Objects that look almost like `keys` describe: each key present or not, well typed or not.
fn near(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let fields: Vec<_> = keys.iter().map(|k| prop::option::of(field(k))).collect();
    (fields, prop::collection::vec((key(), junk()), 0..3)).prop_map(|(fields, extra)| {
        let mut object: Map<String, Value> = fields.into_iter().flatten().collect();
        for (k, v) in extra {
            object.entry(k).or_insert(v);
        }
        Value::Object(object)
    })
}

const TOKEN_KEYS: &[&str] = &["access_token", "expires_in", "scope", "token_type"];
const CONNECTION_KEYS: &[&str] = &["id", "name", "strategy", "options", "metadata"];

/// Bytes to feed a parser: random bytes, arbitrary JSON, and near-valid objects, sometimes cut.
fn bodies(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        junk(),
        near(keys),
        prop::collection::vec(near(keys), 0..4).prop_map(Value::Array),
        prop::collection::vec(near(keys), 0..4).prop_map(|items| json!({ "connections": items })),
        prop::collection::vec(near(&["client_id"]), 0..4)
            .prop_map(|items| json!({ "clients": items, "next": SECRET })),
    ]
    .prop_map(|v| v.to_string().into_bytes());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        text.clone(),
        (text, any::<prop::sample::Index>()).prop_map(|(bytes, cut)| {
            let at = cut.index(bytes.len() + 1);
            bytes[..at].to_vec()
        }),
    ]
}

fn assert_typed(result: Result<(), Auth0Error>) -> Result<(), TestCaseError> {
    if let Err(err) = result {
        prop_assert!(
            matches!(err, Auth0Error::Protocol { .. }),
            "not a protocol error: {err:?}"
        );
        prop_assert!(!err.to_string().contains(SECRET), "quotes the body: {err}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn token_responses_never_panic_and_cache_within_thirty_days(body in bodies(TOKEN_KEYS)) {
        let issued_at = Instant::now();
        let parsed = parse_token_response(&body);
        if let Ok(response) = &parsed {
            prop_assert!(response.expires_in <= MAX_TOKEN_LIFETIME);
        }
        let result = parsed.map(|response| {
            let cached = CachedToken::new(response, issued_at, 1);
            let refresh_at = cached.refresh_at();
            assert!(refresh_at >= issued_at);
            assert!(refresh_at <= issued_at + MAX_TOKEN_LIFETIME);
            let _ = cached.needs_refresh(issued_at + Duration::from_secs(3600));
            let _ = cached.missing_scopes();
        });
        assert_typed(result)?;
    }

    #[test]
    fn connection_bodies_never_panic(body in bodies(CONNECTION_KEYS)) {
        assert_typed(parse_connection("GET /connections/{id}", &body).map(drop))?;
    }

    #[test]
    fn connection_lists_never_panic(body in bodies(CONNECTION_KEYS)) {
        assert_typed(parse_connection_list(&body).map(drop))?;
    }

    #[test]
    fn client_pages_never_panic(body in bodies(&["clients", "next"])) {
        assert_typed(parse_clients_page(&body).map(drop))?;
    }

    #[test]
    fn error_bodies_of_any_status_are_typed(
        status in prop_oneof![400u16..600, any::<u16>()],
        body in bodies(&["statusCode", "error", "message", "errorCode"]),
    ) {
        let err = rejection("PATCH /connections/{id}", status, &body);
        // The reason and the retry class are always defined; the message is Auth0's own text.
        let _ = (err.reason(), err.is_transient(), err.to_string());
    }
}

#[test]
fn deeply_nested_bodies_are_errors_not_stack_overflows() {
    let depth = 100_000;
    let body = format!(
        r#"{{"id":"con_1","name":"a","strategy":"samlp","options":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = parse_connection("GET /connections/{id}", body.as_bytes()).expect_err("too deep");
    assert!(matches!(err, Auth0Error::Protocol { .. }), "{err:?}");
    let token = format!(r#"{{"access_token":"x","scope":{}}}"#, "[".repeat(depth));
    assert!(parse_token_response(token.as_bytes()).is_err());
}

#[test]
fn the_documented_shapes_parse() {
    let token = parse_token_response(
        br#"{"access_token":"eyJ","expires_in":86400,"scope":"read:connections","token_type":"Bearer"}"#,
    )
    .expect("token");
    assert_eq!(token.expires_in, Duration::from_secs(86_400));
    let list = parse_connection_list(
        br#"{"total":1,"start":0,"limit":50,"connections":[{"id":"con_1","name":"a","strategy":"samlp"}]}"#,
    )
    .expect("wrapped list");
    assert_eq!(list[0].id, "con_1");
    assert!(parse_connection_list(b"[]").expect("bare").is_empty());
    let page = parse_clients_page(br#"{"clients":[{"client_id":"c1"}],"next":"n"}"#).expect("page");
    assert_eq!(page.clients[0].client_id, "c1");
    assert_eq!(page.next.as_deref(), Some("n"));
}
