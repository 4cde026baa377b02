//! The in-memory tenant: connections, their enabled clients, ids and ticket codes.

use std::time::{Duration, Instant};

use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::config::TenantProfile;
use super::validate::{
    ApiError, OptionsContext, Write, check_body, derive_if_possible, prepare_samlp_options,
};

/// One stored connection. `body` never holds `enabled_clients`; those live in `clients`.
#[derive(Clone, Debug)]
pub struct StoredConnection {
    /// Insertion order, used by checkpoint cursors.
    pub seq: u64,
    /// The connection object as GET returns it (with options).
    pub body: Map<String, Value>,
    /// Enabled client ids, in the order they were enabled.
    pub clients: Vec<String>,
}

impl StoredConnection {
    /// The connection id.
    pub fn id(&self) -> &str {
        self.body.get("id").and_then(Value::as_str).unwrap_or("")
    }

    /// The connection name.
    pub fn name(&self) -> Option<&str> {
        self.body.get("name").and_then(Value::as_str)
    }

    /// The strategy.
    pub fn strategy(&self) -> Option<&str> {
        self.body.get("strategy").and_then(Value::as_str)
    }

    /// The object a response carries: options only when visible, `enabled_clients` only when
    /// asked for.
    pub fn render(&self, show_options: bool, show_enabled_clients: bool) -> Map<String, Value> {
        let mut out = self.body.clone();
        if !show_options {
            out.remove("options");
        }
        if show_enabled_clients {
            out.insert("enabled_clients".into(), json!(self.clients));
        }
        out
    }
}

/// What a create or update needs to know about the tenant's settings.
pub struct WriteSettings<'a> {
    /// Tenant domain for ticket URLs.
    pub domain: &'a str,
    /// Which create defaults apply.
    pub tenant_profile: TenantProfile,
    /// Legacy `enabled_clients` mode.
    pub legacy_enabled_clients: bool,
    /// How long a deleted connection's name stays "being deleted".
    pub deletion_lag: Duration,
    /// Metadata documents and clock.
    pub options: OptionsContext<'a>,
}

/// All connections of the emulated tenant.
#[derive(Debug)]
pub struct Store {
    connections: Vec<StoredConnection>,
    /// Names of deleted connections and when they were deleted.
    deleted: Vec<(String, Instant)>,
    next_seq: u64,
    rng: StdRng,
}

impl Store {
    /// An empty tenant whose ids follow from `seed`.
    pub fn new(seed: u64) -> Self {
        Store {
            connections: Vec::new(),
            deleted: Vec::new(),
            next_seq: 1,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Every connection, in creation order.
    pub fn all(&self) -> &[StoredConnection] {
        &self.connections
    }

    /// The connection with this id.
    pub fn get(&self, id: &str) -> Option<&StoredConnection> {
        self.connections.iter().find(|c| c.id() == id)
    }

    /// The connection with this id, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut StoredConnection> {
        self.connections.iter_mut().find(|c| c.id() == id)
    }

    fn random_code(&mut self, len: usize) -> String {
        (&mut self.rng)
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    }

    /// `prefix` followed by 16 letters or digits from the seeded id stream (organization and
    /// SCIM token ids); the caller checks uniqueness in its own collection.
    pub fn random_id(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.random_code(16))
    }

    fn new_id(&mut self) -> String {
        loop {
            let id = format!("con_{}", self.random_code(16));
            if self.get(&id).is_none() {
                return id;
            }
        }
    }

    fn push(&mut self, body: Map<String, Value>, clients: Vec<String>) -> &StoredConnection {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.connections
            .push(StoredConnection { seq, body, clients });
        let last = self.connections.len() - 1;
        &self.connections[last]
    }

    /// `POST /connections`: validates, fills the server defaults and stores.
    pub fn create(
        &mut self,
        body: &Value,
        settings: &WriteSettings<'_>,
    ) -> Result<&StoredConnection, ApiError> {
        let mut input = check_body(body, Write::Create, settings.legacy_enabled_clients)?;
        let name = input
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let strategy = input
            .get("strategy")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if self.connections.iter().any(|c| c.name() == Some(&name)) {
            return Err(ApiError::new(
                409,
                "A connection with the same name already exists",
                Some("connection_conflict"),
            ));
        }
        let lag = settings.deletion_lag;
        self.deleted.retain(|(_, at)| at.elapsed() < lag);
        if self.deleted.iter().any(|(deleted, _)| *deleted == name) {
            // Auth0 sends no errorCode with this one (docs/AUTH0_API.md §9).
            return Err(ApiError::new(
                409,
                "A connection with the same name is being deleted, try again later",
                None,
            ));
        }
        let mut options = match input.remove("options") {
            Some(Value::Object(o)) => Some(o),
            _ => None,
        };
        if strategy == "samlp" {
            let mut o = options.take().unwrap_or_default();
            if settings.tenant_profile == TenantProfile::Y2026
                && !o.contains_key("assertion_decryption_settings")
            {
                o.insert(
                    "assertion_decryption_settings".into(),
                    json!({"algorithm_profile": "v2026-1", "algorithm_exceptions": []}),
                );
            }
            options = Some(prepare_samlp_options(o, &settings.options)?);
        }
        let clients = match input.remove("enabled_clients") {
            Some(Value::Array(ids)) => dedup_ids(&ids),
            _ => Vec::new(),
        };
        let id = self.new_id();
        let ticket = self.random_code(8);
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        if let Some(display_name) = input.remove("display_name") {
            out.insert("display_name".into(), display_name);
        }
        out.insert("strategy".into(), json!(strategy));
        out.insert("name".into(), json!(name));
        out.insert("options".into(), Value::Object(options.unwrap_or_default()));
        out.insert(
            "provisioning_ticket_url".into(),
            json!(format!("https://{}/p/{strategy}/{ticket}", settings.domain)),
        );
        out.insert(
            "is_domain_connection".into(),
            input.remove("is_domain_connection").unwrap_or(json!(false)),
        );
        out.insert(
            "show_as_button".into(),
            input.remove("show_as_button").unwrap_or(json!(false)),
        );
        match input.remove("authentication") {
            Some(a) => {
                out.insert("authentication".into(), a);
            }
            None if settings.tenant_profile == TenantProfile::Y2026 => {
                out.insert("authentication".into(), json!({"active": true}));
            }
            None => {}
        }
        out.insert(
            "connected_accounts".into(),
            input
                .remove("connected_accounts")
                .unwrap_or(json!({"active": false})),
        );
        let realms = input.remove("realms").unwrap_or(json!([name]));
        for (key, value) in input {
            if key != "name" && key != "strategy" {
                out.insert(key, value);
            }
        }
        out.insert("realms".into(), realms);
        Ok(self.push(out, clients))
    }

    /// `PATCH /connections/{id}`: merges top-level keys, replaces `options` wholesale.
    pub fn update(
        &mut self,
        id: &str,
        body: &Value,
        settings: &WriteSettings<'_>,
    ) -> Result<&StoredConnection, ApiError> {
        let input = check_body(body, Write::Update, settings.legacy_enabled_clients)?;
        let Some(conn) = self.get_mut(id) else {
            return Err(ApiError::no_connection());
        };
        let mut new_options = None;
        if let Some(options) = input.get("options") {
            // Auth0 replaces the whole options object: missing keys, derived ones included,
            // are gone; the derived ones are recomputed from the new signingCert.
            let o = options.as_object().cloned().unwrap_or_default();
            new_options = Some(if conn.strategy() == Some("samlp") {
                prepare_samlp_options(o, &settings.options)?
            } else {
                o
            });
        }
        for (key, value) in input {
            match key.as_str() {
                "options" => {}
                "enabled_clients" => {
                    conn.clients = value.as_array().map(|a| dedup_ids(a)).unwrap_or_default();
                }
                "cross_app_access_resource_app" if value.is_null() => {
                    conn.body.remove(&key);
                }
                _ => {
                    conn.body.insert(key, value);
                }
            }
        }
        if let Some(options) = new_options {
            conn.body.insert("options".into(), Value::Object(options));
        }
        Ok(conn)
    }

    /// `DELETE /connections/{id}`: whether it existed. Its name is remembered for the
    /// "being deleted" window of [`WriteSettings::deletion_lag`].
    pub fn delete(&mut self, id: &str) -> bool {
        let Some(index) = self.connections.iter().position(|c| c.id() == id) else {
            return false;
        };
        let removed = self.connections.remove(index);
        if let Some(name) = removed.name() {
            self.deleted.push((name.to_string(), Instant::now()));
        }
        true
    }

    /// Sets (or, for `null`, removes) option keys of connection `id` without any checks: an
    /// out-of-band edit, as a Dashboard user would make. Whether the connection exists.
    pub fn edit_options(&mut self, id: &str, edit: &Map<String, Value>) -> bool {
        let Some(conn) = self.get_mut(id) else {
            return false;
        };
        let options = conn
            .body
            .entry("options")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(options) = options {
            for (key, value) in edit {
                if value.is_null() {
                    options.shift_remove(key);
                } else {
                    options.insert(key.clone(), value.clone());
                }
            }
        }
        true
    }

    /// Inserts a connection verbatim (admin seeding): an id is generated when missing, the
    /// derived certificate keys are computed when `options.signingCert` parses, and
    /// `enabled_clients` moves to the client set.
    pub fn insert_verbatim(&mut self, value: Value) -> Result<&StoredConnection, String> {
        let Value::Object(mut body) = value else {
            return Err("a connection must be a JSON object".into());
        };
        let clients = match body.remove("enabled_clients") {
            Some(Value::Array(ids)) => dedup_ids(&ids),
            _ => Vec::new(),
        };
        match body.get("id") {
            Some(Value::String(id)) => {
                if self.get(id).is_some() {
                    return Err(format!("a connection with id {id} already exists"));
                }
            }
            Some(_) => return Err("id must be a string".into()),
            None => {
                let id = self.new_id();
                let mut with_id = Map::new();
                with_id.insert("id".into(), json!(id));
                with_id.extend(body);
                body = with_id;
            }
        }
        if let Some(Value::Object(options)) = body.get_mut("options") {
            derive_if_possible(options);
        }
        Ok(self.push(body, clients))
    }

    /// Removes every connection and restarts ids from the seed.
    pub fn clear(&mut self, seed: u64) {
        *self = Store::new(seed);
    }
}

fn dedup_ids(ids: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids.iter().filter_map(Value::as_str) {
        if !out.iter().any(|c| c == id) {
            out.push(id.to_string());
        }
    }
    out
}
