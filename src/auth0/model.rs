//! Auth0 Management API wire model for connections (docs/AUTH0_API.md §2). Separate from the CRD
//! types; `plan` is the one place that translates between them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The ownership marker's keys (defined with the ownership rules in [`crate::ownership`]).
pub use crate::ownership::{MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY};

/// A connection as Auth0 returns it. `options` is `None` when the token lacks
/// `read:connections_options` (the key is then missing from the response).
///
/// `Debug` prints only id, name and strategy: options hold private keys, returned unredacted.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
pub struct Connection {
    /// `con_…`.
    pub id: String,
    /// Unique, immutable name.
    pub name: String,
    /// `samlp` for our connections.
    pub strategy: String,
    /// The full options object, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    /// Connection metadata (ownership marker), up to 10 string keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    /// Every other top-level field, kept as returned.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("has_options", &self.options.is_some())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The options object, or `None` when it is missing or not an object.
    pub fn options_object(&self) -> Option<&Map<String, Value>> {
        self.options.as_ref().and_then(Value::as_object)
    }

    /// A metadata value, if set.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_deref()
    }
}

/// Body of `POST /api/v2/connections`.
#[derive(Serialize, Clone, PartialEq)]
pub struct NewConnection {
    /// Connection name.
    pub name: String,
    /// Always `samlp`.
    pub strategy: String,
    /// The managed options only.
    pub options: Map<String, Value>,
    /// The ownership marker.
    pub metadata: BTreeMap<String, String>,
    /// The login button's name, when the spec sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the login page shows a button, when the spec sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_as_button: Option<bool>,
}

impl fmt::Debug for NewConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewConnection")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("option_keys", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Body of `PATCH /api/v2/connections/{id}`: never `name`, `strategy`, `enabled_clients`.
#[derive(Serialize, Clone, PartialEq, Default)]
pub struct ConnectionUpdate {
    /// The complete merged options object (Auth0 replaces options wholesale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
    /// Connection metadata; Auth0 merges nothing here either, so send the whole map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    /// The login button's name (top-level `display_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the login page shows a button (top-level `show_as_button`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_as_button: Option<bool>,
}

impl fmt::Debug for ConnectionUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionUpdate")
            .field(
                "option_keys",
                &self.options.as_ref().map(|o| o.keys().collect::<Vec<_>>()),
            )
            .field("metadata", &self.metadata)
            .field("display_name", &self.display_name)
            .field("show_as_button", &self.show_as_button)
            .finish()
    }
}

/// One item of `PATCH /api/v2/connections/{id}/clients`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ClientStatus {
    /// Application client id.
    pub client_id: String,
    /// `true` enables, `false` disables.
    pub status: bool,
}

/// A Management API error body: `{"statusCode", "error", "message", "errorCode"}`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    /// HTTP status.
    #[serde(default)]
    pub status_code: u16,
    /// HTTP reason phrase.
    #[serde(default)]
    pub error: String,
    /// Human-readable message; contains no secrets.
    #[serde(default)]
    pub message: String,
    /// Machine-readable code, when Auth0 sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}
