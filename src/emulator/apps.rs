//! The tenant's applications (clients) of `/api/v2/clients` (docs/AUTH0_API.md §16): what is
//! stored, the defaults a create fills in, how a PATCH is applied, and what a caller without
//! `read:client_keys` does not see. Pure apart from the id and secret generators.

use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::apps_schema::{MAX_METADATA_KEYS, too_many_metadata_keys};
use super::config::ClientSpec;
use super::validate::ApiError;

/// Length of a generated `client_id`.
pub const CLIENT_ID_LEN: usize = 32;
/// Length of a generated `client_secret`.
pub const CLIENT_SECRET_LEN: usize = 64;

/// The properties only `read:client_keys` shows ("Get client by ID": `client_secret`,
/// `encryption_key`, `client_authentication_methods` and the signing key).
pub const KEY_FIELDS: [&str; 4] = [
    "client_secret",
    "encryption_key",
    "client_authentication_methods",
    "signing_keys",
];

/// The 404 of an unknown client id: `errorCode` from auth0.net's integration tests, the
/// message as §9 records it for `PATCH /connections/{id}/clients`.
pub fn no_client() -> ApiError {
    ApiError::new(404, "The client does not exist", Some("inexistent_client"))
}

/// One stored application.
#[derive(Clone, Debug)]
pub struct StoredClient {
    /// Insertion order, used by checkpoint cursors.
    pub seq: u64,
    /// The client as `GET` with every scope returns it, `client_secret` included.
    pub body: Map<String, Value>,
}

impl StoredClient {
    /// The client id.
    pub fn id(&self) -> &str {
        self.body
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Whether this is the tenant's global client ("All Applications").
    pub fn is_global(&self) -> bool {
        self.body.get("global") == Some(&Value::Bool(true))
    }

    /// The client as an answer shows it: the key fields only to a caller with
    /// `read:client_keys`.
    pub fn render(&self, show_keys: bool) -> Map<String, Value> {
        let mut out = self.body.clone();
        if !show_keys {
            out.retain(|k, _| !KEY_FIELDS.contains(&k.as_str()));
        }
        out
    }

    /// The client as the admin API shows it: everything but `client_secret`.
    pub fn render_admin(&self) -> Map<String, Value> {
        let mut out = self.body.clone();
        out.shift_remove("client_secret");
        out
    }
}

/// What a create needs to know about the tenant.
pub struct ClientDefaults<'a> {
    /// `tenant`: the first label of the tenant domain.
    pub tenant: &'a str,
    /// `signing_keys`: the current application signing key as `{cert, pkcs7, subject}`.
    pub signing_key: &'a Value,
}

/// Every application of the tenant.
#[derive(Debug)]
pub struct Applications {
    clients: Vec<StoredClient>,
    next_seq: u64,
    rng: StdRng,
}

/// The random stream of client ids, separate from the connection ids' so that creating
/// applications does not shift them.
fn id_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ 0x5bd1_e995_c1d3_a5b7)
}

impl Applications {
    /// The applications of a fresh tenant: the global client "All Applications", then one
    /// machine-to-machine application per client the token endpoint knows.
    pub fn initial(seed: u64, clients: &[ClientSpec], defaults: &ClientDefaults<'_>) -> Self {
        let mut apps = Applications {
            clients: Vec::new(),
            next_seq: 1,
            rng: id_rng(seed),
        };
        let global_id = apps.new_id();
        let secret = new_secret();
        apps.push(global_client(&global_id, &secret, defaults));
        for spec in clients {
            apps.push(machine_client(spec, defaults));
        }
        apps
    }

    /// Every application, in creation order.
    pub fn all(&self) -> &[StoredClient] {
        &self.clients
    }

    /// The application with this id.
    pub fn get(&self, id: &str) -> Option<&StoredClient> {
        self.clients.iter().find(|c| c.id() == id)
    }

    /// The application with this id, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut StoredClient> {
        self.clients.iter_mut().find(|c| c.id() == id)
    }

    /// 32 letters and digits from the seeded stream, unused so far.
    pub fn new_id(&mut self) -> String {
        loop {
            let id: String = (&mut self.rng)
                .sample_iter(&Alphanumeric)
                .take(CLIENT_ID_LEN)
                .map(char::from)
                .collect();
            if self.get(&id).is_none() {
                return id;
            }
        }
    }

    fn push(&mut self, body: Map<String, Value>) -> &StoredClient {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.clients.push(StoredClient { seq, body });
        let last = self.clients.len() - 1;
        &self.clients[last]
    }

    /// Stores a checked `POST /api/v2/clients` body with the server's defaults.
    pub fn create(
        &mut self,
        fields: Map<String, Value>,
        defaults: &ClientDefaults<'_>,
    ) -> &StoredClient {
        let id = self.new_id();
        let secret = new_secret();
        self.push(new_client(fields, &id, &secret, defaults))
    }

    /// Inserts a client verbatim (admin seeding); a `client_id` is generated when missing.
    pub fn insert_verbatim(&mut self, value: Value) -> Result<&StoredClient, String> {
        let Value::Object(mut body) = value else {
            return Err("a client must be a JSON object".into());
        };
        match body.get("client_id") {
            Some(Value::String(id)) => {
                if self.get(id).is_some() {
                    return Err(format!("a client with id {id} already exists"));
                }
            }
            Some(_) => return Err("client_id must be a string".into()),
            None => {
                let id = self.new_id();
                let mut with_id = Map::new();
                with_id.insert("client_id".into(), json!(id));
                with_id.extend(body);
                body = with_id;
            }
        }
        Ok(self.push(body))
    }

    /// Removes an application; whether it existed.
    pub fn delete(&mut self, id: &str) -> bool {
        let before = self.clients.len();
        self.clients.retain(|c| c.id() != id);
        self.clients.len() != before
    }
}

/// A fresh secret: 64 letters, digits, `-` and `_` (the alphabet of Auth0's example secrets),
/// from the operating system's generator, not the seeded stream.
pub fn new_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    (0..CLIENT_SECRET_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// The grant types a client created without `grant_types` gets (recorded).
const DEFAULT_GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
];

/// The refresh-token settings of a new client (recorded).
fn default_refresh_token() -> Value {
    json!({
        "rotation_type": "non-rotating",
        "expiration_type": "non-expiring",
        "leeway": 0,
        "token_lifetime": 2_592_000,
        "infinite_token_lifetime": true,
        "infinite_idle_token_lifetime": true,
        "idle_token_lifetime": 1_296_000,
    })
}

/// The stored client of a `POST /api/v2/clients`: what was sent, with the defaults Auth0
/// fills in, in the recorded key order (`name`, `client_id`, `description`, `client_secret`,
/// `app_type`, `is_first_party`, …), plus the documented `tenant` and `global`.
pub fn new_client(
    mut fields: Map<String, Value>,
    client_id: &str,
    secret: &str,
    defaults: &ClientDefaults<'_>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let mut take = |out: &mut Map<String, Value>, key: &str, default: Option<Value>| {
        if let Some(value) = fields.shift_remove(key).or(default) {
            out.insert(key.into(), value);
        }
    };
    take(&mut out, "name", None);
    out.insert("client_id".into(), json!(client_id));
    out.insert("tenant".into(), json!(defaults.tenant));
    out.insert("global".into(), json!(false));
    take(&mut out, "description", None);
    take(&mut out, "client_secret", Some(json!(secret)));
    take(&mut out, "app_type", None);
    take(&mut out, "is_first_party", Some(json!(true)));
    take(
        &mut out,
        "is_token_endpoint_ip_header_trusted",
        Some(json!(false)),
    );
    take(&mut out, "oidc_conformant", Some(json!(false)));
    take(
        &mut out,
        "jwt_configuration",
        Some(json!({"secret_encoded": false, "lifetime_in_seconds": 36000})),
    );
    out.insert("signing_keys".into(), json!([defaults.signing_key]));
    take(&mut out, "sso_disabled", Some(json!(false)));
    take(&mut out, "cross_origin_authentication", Some(json!(false)));
    take(&mut out, "grant_types", Some(json!(DEFAULT_GRANT_TYPES)));
    take(&mut out, "custom_login_page_on", Some(json!(true)));
    take(&mut out, "refresh_token", Some(default_refresh_token()));
    out.extend(fields);
    out
}

/// The global client every tenant has (its recorded shape).
fn global_client(id: &str, secret: &str, defaults: &ClientDefaults<'_>) -> Map<String, Value> {
    let value = json!({
        "name": "All Applications",
        "client_id": id,
        "tenant": defaults.tenant,
        "global": true,
        "client_secret": secret,
        "is_first_party": true,
        "is_token_endpoint_ip_header_trusted": false,
        "oidc_conformant": true,
        "jwt_configuration": {"alg": "RS256"},
        "signing_keys": [defaults.signing_key],
        "sso": false,
        "sso_disabled": false,
        "cross_origin_auth": false,
        "custom_login_page_on": true,
        "refresh_token": default_refresh_token(),
    });
    value.as_object().cloned().unwrap_or_default()
}

/// A machine-to-machine application for a client the token endpoint knows.
fn machine_client(spec: &ClientSpec, defaults: &ClientDefaults<'_>) -> Map<String, Value> {
    let fields = json!({
        "name": spec.id,
        "client_secret": spec.secret,
        "app_type": "non_interactive",
        "oidc_conformant": true,
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post",
    });
    new_client(
        fields.as_object().cloned().unwrap_or_default(),
        &spec.id,
        &spec.secret,
        defaults,
    )
}

/// Applies a checked `PATCH /api/v2/clients/{id}` body to a stored client (docs/AUTH0_API.md
/// §16):
/// - `client_metadata` is merged key by key; a key sent as `null` is removed, and `{}` removes
///   every key (recorded for keys, documented for `{}`); the result may hold at most ten keys;
/// - `addons: null` removes every addon (recorded); an `addons` object replaces the stored one
///   whole, `addons.samlp` included (unconfirmed: the conservative reading);
/// - every other property, arrays such as `callbacks` and objects such as
///   `jwt_configuration` included, is replaced whole; `null` removes it.
///
/// Nothing changes when the result is refused.
pub fn apply_update(
    body: &mut Map<String, Value>,
    update: Map<String, Value>,
) -> Result<(), ApiError> {
    let metadata = match update.get("client_metadata") {
        Some(Value::Object(patch)) => {
            let mut merged = match body.get("client_metadata") {
                Some(Value::Object(m)) if !patch.is_empty() => m.clone(),
                _ => Map::new(),
            };
            for (k, v) in patch {
                if v.is_null() {
                    merged.shift_remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            if merged.len() > MAX_METADATA_KEYS {
                return Err(too_many_metadata_keys(merged.len()));
            }
            Some(merged)
        }
        _ => None,
    };
    for (key, value) in update {
        if key == "client_metadata" {
            continue;
        }
        if value.is_null() {
            body.shift_remove(&key);
        } else {
            body.insert(key, value);
        }
    }
    if let Some(merged) = metadata {
        body.insert("client_metadata".into(), Value::Object(merged));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults_value() -> Value {
        json!({"cert": "C", "pkcs7": "P", "subject": "/CN=acme.test"})
    }

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_new_client_gets_the_recorded_defaults_and_keeps_what_was_sent() {
        let key = defaults_value();
        let defaults = ClientDefaults {
            tenant: "acme",
            signing_key: &key,
        };
        let body = new_client(
            object(
                json!({"name": "SP", "callbacks": ["https://sp/acs"], "is_first_party": false, "addons": {"samlp": {}}}),
            ),
            "id1",
            "s3cret",
            &defaults,
        );
        assert_eq!(body["client_id"], "id1");
        assert_eq!(body["client_secret"], "s3cret");
        assert_eq!(body["tenant"], "acme");
        assert_eq!(body["global"], false);
        assert_eq!(body["is_first_party"], false);
        assert_eq!(body["oidc_conformant"], false);
        assert_eq!(body["callbacks"], json!(["https://sp/acs"]));
        assert_eq!(body["addons"], json!({"samlp": {}}));
        assert_eq!(body["signing_keys"], json!([key]));
        assert_eq!(body["grant_types"], json!(DEFAULT_GRANT_TYPES));
        assert!(body.get("app_type").is_none());
        assert!(body.get("client_metadata").is_none());
        assert_eq!(body.keys().next().map(String::as_str), Some("name"));
    }

    #[test]
    fn client_metadata_merges_and_null_removes_a_key() {
        // The recorded TestAccClientMetadataBehavior exchange.
        let mut body = object(json!({"client_metadata": {"bar": "baz", "foo": "zoo"}}));
        apply_update(
            &mut body,
            object(json!({"client_metadata": {"bar": null, "foo": "newZooButOldFoo", "newBar": "newBaz"}})),
        )
        .unwrap();
        assert_eq!(
            body["client_metadata"],
            json!({"foo": "newZooButOldFoo", "newBar": "newBaz"})
        );
        // A key not mentioned survives.
        apply_update(&mut body, object(json!({"client_metadata": {"x": "1"}}))).unwrap();
        assert_eq!(
            body["client_metadata"],
            json!({"foo": "newZooButOldFoo", "newBar": "newBaz", "x": "1"})
        );
        apply_update(&mut body, object(json!({"client_metadata": {}}))).unwrap();
        assert_eq!(body["client_metadata"], json!({}));
    }

    #[test]
    fn a_merge_beyond_ten_keys_is_refused_and_changes_nothing() {
        let ten: Map<String, Value> = (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
        let mut body = object(json!({"name": "a", "client_metadata": ten}));
        let before = body.clone();
        let err = apply_update(
            &mut body,
            object(json!({"name": "b", "client_metadata": {"k10": "v"}})),
        )
        .unwrap_err();
        assert_eq!(err.status, 400);
        assert!(
            err.body["message"]
                .as_str()
                .unwrap()
                .contains("Too many properties defined (11), maximum 10")
        );
        assert_eq!(body, before);
        // Replacing one key while removing another stays within the limit.
        apply_update(
            &mut body,
            object(json!({"client_metadata": {"k0": null, "k10": "v"}})),
        )
        .unwrap();
        assert_eq!(body["client_metadata"].as_object().unwrap().len(), 10);
    }

    #[test]
    fn addons_and_arrays_are_replaced_whole_and_null_removes_them() {
        let mut body = object(json!({
            "callbacks": ["https://a/acs", "https://b/acs"],
            "addons": {"samlp": {"audience": "urn:a", "recipient": "https://a/acs"}, "wsfed": {}},
        }));
        apply_update(
            &mut body,
            object(
                json!({"callbacks": ["https://c/acs"], "addons": {"samlp": {"audience": "urn:c"}}}),
            ),
        )
        .unwrap();
        assert_eq!(body["callbacks"], json!(["https://c/acs"]));
        assert_eq!(body["addons"], json!({"samlp": {"audience": "urn:c"}}));
        apply_update(&mut body, object(json!({"addons": null}))).unwrap();
        assert!(body.get("addons").is_none());
    }

    #[test]
    fn key_fields_are_shown_only_with_read_client_keys() {
        let stored = StoredClient {
            seq: 1,
            body: object(
                json!({"client_id": "a", "name": "n", "client_secret": "s", "signing_keys": [], "encryption_key": {}}),
            ),
        };
        let without = stored.render(false);
        assert!(KEY_FIELDS.iter().all(|k| without.get(*k).is_none()));
        assert_eq!(without["name"], "n");
        assert_eq!(stored.render(true)["client_secret"], "s");
        let admin = stored.render_admin();
        assert!(admin.get("client_secret").is_none());
        assert_eq!(admin["signing_keys"], json!([]));
    }

    #[test]
    fn ids_are_32_alphanumerics_from_the_seed_and_secrets_64_characters() {
        let key = defaults_value();
        let defaults = ClientDefaults {
            tenant: "acme",
            signing_key: &key,
        };
        let spec = ClientSpec {
            id: "m2m".into(),
            secret: "m2m-secret".into(),
            scopes: vec![],
        };
        let mut a = Applications::initial(7, std::slice::from_ref(&spec), &defaults);
        let mut b = Applications::initial(7, std::slice::from_ref(&spec), &defaults);
        assert_eq!(a.all().len(), 2);
        assert!(a.all()[0].is_global());
        assert_eq!(a.all()[0].id(), b.all()[0].id());
        let m2m = a.get("m2m").unwrap();
        assert_eq!(m2m.body["app_type"], "non_interactive");
        assert_eq!(m2m.body["client_secret"], "m2m-secret");
        let id = a
            .create(object(json!({"name": "x"})), &defaults)
            .id()
            .to_string();
        assert_eq!(id, b.create(object(json!({"name": "y"})), &defaults).id());
        assert_eq!(id.len(), CLIENT_ID_LEN);
        assert!(id.bytes().all(|c| c.is_ascii_alphanumeric()));
        let secret = a.get(&id).unwrap().body["client_secret"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(secret.len(), CLIENT_SECRET_LEN);
        assert_ne!(secret, new_secret());
        assert!(a.insert_verbatim(json!({"client_id": id})).is_err());
        let seeded = a.insert_verbatim(json!({"name": "seeded"})).unwrap();
        assert_eq!(seeded.id().len(), CLIENT_ID_LEN);
        assert!(a.delete(&id));
        assert!(!a.delete(&id));
    }
}
