//! The tenant's organizations and the connections enabled for each (docs/AUTH0_API.md §14):
//! what is stored, how Auth0 renders it, and the pure checks of the bodies that write it.

use serde_json::{Map, Value, json};

use super::validate::{ApiError, type_name};

/// Longest organization name (Auth0's schema: `minLength` 1, `maxLength` 50).
pub const MAX_NAME_LEN: usize = 50;
/// Longest `display_name`.
pub const MAX_DISPLAY_NAME_LEN: usize = 255;
/// Most metadata keys an organization may hold.
pub const MAX_METADATA_KEYS: usize = 25;
/// Most connections a `POST /organizations` may enable at once.
pub const MAX_CONNECTIONS_ON_CREATE: usize = 10;

const NAME_DESCRIPTION: &str = "The name of this organization.";
const DISPLAY_NAME_DESCRIPTION: &str = "Friendly name of this organization.";
const METADATA_DESCRIPTION: &str = "Metadata associated with the organization, in the form of an object with string values (max 255 chars). Maximum of 25 metadata properties allowed.";
const BRANDING_DESCRIPTION: &str = "Theme defines how to style the login pages.";
const CONNECTIONS_DESCRIPTION: &str = "Connections that will be enabled for this organization. See POST enabled_connections endpoint for the object format. (Max of 10 connections allowed)";
const CONNECTION_ID_DESCRIPTION: &str = "Single connection ID to add to the organization.";
const ASSIGN_DESCRIPTION: &str = "When true, all users that log in with this connection will be automatically granted membership in the organization. When false, users must be granted membership in the organization before logging in with this connection.";
const SHOW_DESCRIPTION: &str = "Determines whether a connection should be displayed on this organization’s login prompt. Only applicable for enterprise connections. Default: true.";
const SIGNUP_DESCRIPTION: &str = "Determines whether organization signup should be enabled for this organization connection. Only applicable for database connections. Default: false.";

/// The three flags of an enabled connection, in Auth0's order.
const FLAGS: [(&str, &str); 3] = [
    ("assign_membership_on_login", ASSIGN_DESCRIPTION),
    ("show_as_button", SHOW_DESCRIPTION),
    ("is_signup_enabled", SIGNUP_DESCRIPTION),
];

/// One connection enabled for an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnabledConnection {
    /// The connection's id.
    pub connection_id: String,
    /// Users who log in through it become members.
    pub assign_membership_on_login: bool,
    /// Shown as a button on the organization's login prompt (enterprise connections).
    pub show_as_button: bool,
    /// Organization signup (database connections).
    pub is_signup_enabled: bool,
}

impl EnabledConnection {
    /// The item of `…/enabled_connections`, with the connection's current name and strategy.
    pub fn render(&self, name: &str, strategy: &str) -> Value {
        json!({
            "connection_id": self.connection_id,
            "assign_membership_on_login": self.assign_membership_on_login,
            "show_as_button": self.show_as_button,
            "is_signup_enabled": self.is_signup_enabled,
            "connection": {"name": name, "strategy": strategy},
        })
    }

    /// The item as the `POST /organizations` answer echoes it (without `connection`).
    fn render_flags(&self) -> Value {
        json!({
            "connection_id": self.connection_id,
            "assign_membership_on_login": self.assign_membership_on_login,
            "show_as_button": self.show_as_button,
            "is_signup_enabled": self.is_signup_enabled,
        })
    }
}

/// One organization.
#[derive(Clone, Debug)]
pub struct Organization {
    /// Insertion order, used by checkpoint cursors.
    pub seq: u64,
    /// `org_` followed by 16 letters or digits.
    pub id: String,
    /// Unique lower-case name.
    pub name: String,
    /// `display_name`, `branding`, `metadata` and `token_quota`, as sent.
    pub fields: Map<String, Value>,
    /// Enabled connections, in the order they were enabled.
    pub connections: Vec<EnabledConnection>,
}

impl Organization {
    /// The organization as GET returns it: `id`, `name`, then the fields that were set.
    pub fn render(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("name".into(), json!(self.name));
        out.extend(self.fields.clone());
        Value::Object(out)
    }

    /// The `201` answer of `POST /organizations`: Auth0 puts `display_name` before `name`
    /// there, and echoes the connections enabled with it.
    pub fn render_created(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        if let Some(display_name) = self.fields.get("display_name") {
            out.insert("display_name".into(), display_name.clone());
        }
        out.insert("name".into(), json!(self.name));
        for (key, value) in &self.fields {
            if key != "display_name" {
                out.insert(key.clone(), value.clone());
            }
        }
        if !self.connections.is_empty() {
            let items: Vec<Value> = self
                .connections
                .iter()
                .map(EnabledConnection::render_flags)
                .collect();
            out.insert("enabled_connections".into(), Value::Array(items));
        }
        Value::Object(out)
    }

    /// The enabled connection `connection_id`, if enabled.
    pub fn connection(&self, connection_id: &str) -> Option<&EnabledConnection> {
        self.connections
            .iter()
            .find(|c| c.connection_id == connection_id)
    }
}

/// Every organization of the tenant.
#[derive(Debug, Default)]
pub struct Organizations {
    orgs: Vec<Organization>,
    next_seq: u64,
}

impl Organizations {
    /// Every organization, in creation order.
    pub fn all(&self) -> &[Organization] {
        &self.orgs
    }

    /// The organization with this id.
    pub fn get(&self, id: &str) -> Option<&Organization> {
        self.orgs.iter().find(|o| o.id == id)
    }

    /// The organization with this id, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Organization> {
        self.orgs.iter_mut().find(|o| o.id == id)
    }

    /// The organization named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Organization> {
        self.orgs.iter().find(|o| o.name == name)
    }

    /// Stores a validated organization under `id`; the caller checked that neither the id nor
    /// the name is taken.
    pub fn insert(&mut self, id: String, new: NewOrganization) -> &Organization {
        self.next_seq += 1;
        self.orgs.push(Organization {
            seq: self.next_seq,
            id,
            name: new.name,
            fields: new.fields,
            connections: new.connections,
        });
        let last = self.orgs.len() - 1;
        &self.orgs[last]
    }

    /// Removes an organization (and with it its enabled connections); whether it existed.
    pub fn delete(&mut self, id: &str) -> bool {
        let before = self.orgs.len();
        self.orgs.retain(|o| o.id != id);
        self.orgs.len() != before
    }

    /// A deleted connection is no longer enabled anywhere.
    pub fn forget_connection(&mut self, connection_id: &str) {
        for org in &mut self.orgs {
            org.connections.retain(|c| c.connection_id != connection_id);
        }
    }

    /// Forgets every organization.
    pub fn clear(&mut self) {
        *self = Organizations::default();
    }
}

/// A checked `POST /organizations` body.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOrganization {
    /// The name.
    pub name: String,
    /// `display_name`, `branding`, `metadata`, `token_quota` in the order sent.
    pub fields: Map<String, Value>,
    /// `enabled_connections`, duplicates dropped (the first wins).
    pub connections: Vec<EnabledConnection>,
}

/// Auth0's `organization-name` format as documented: lower-case letters, digits, `_` and `-`
/// ("Create Organizations"). Whether the first and last character must be alphanumeric is not
/// documented, so it is not checked (docs/AUTH0_API.md §14).
pub fn is_valid_org_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn wrong_type(expected: &str, v: &Value, path: &str, description: &str) -> ApiError {
    ApiError::payload_described(
        &format!("Expected type {expected} but found type {}", type_name(v)),
        path,
        description,
    )
}

fn object_of(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        ApiError::payload(&format!(
            "Expected type object but found type {}",
            type_name(body)
        ))
    })
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ApiError::payload(&format!(
            "Additional properties not allowed: {key}"
        ))),
        None => Ok(()),
    }
}

fn bounded_string<'a>(
    value: &'a Value,
    path: &str,
    description: &str,
    max: usize,
) -> Result<&'a str, ApiError> {
    let Value::String(s) = value else {
        return Err(wrong_type("string", value, path, description));
    };
    let len = s.chars().count();
    if len == 0 {
        return Err(ApiError::payload_described(
            "String is too short (0 chars), minimum 1",
            path,
            description,
        ));
    }
    if len > max {
        return Err(ApiError::payload_described(
            &format!("String is too long ({len} chars), maximum {max}"),
            path,
            description,
        ));
    }
    Ok(s)
}

fn flag(map: &Map<String, Value>, key: &str, description: &str) -> Result<Option<bool>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type("boolean", other, key, description)),
    }
}

/// Checks an organization `name`.
fn check_name(value: &Value) -> Result<String, ApiError> {
    let name = bounded_string(value, "name", NAME_DESCRIPTION, MAX_NAME_LEN)?;
    if !is_valid_org_name(name) {
        return Err(ApiError::payload_described(
            &format!("Object didn't pass validation for format organization-name: {name}"),
            "name",
            NAME_DESCRIPTION,
        ));
    }
    Ok(name.to_string())
}

fn check_metadata(value: &Value) -> Result<(), ApiError> {
    let Value::Object(m) = value else {
        return Err(wrong_type(
            "object",
            value,
            "metadata",
            METADATA_DESCRIPTION,
        ));
    };
    if m.len() > MAX_METADATA_KEYS {
        return Err(ApiError::payload_described(
            &format!(
                "Too many properties defined ({}), maximum {MAX_METADATA_KEYS}",
                m.len()
            ),
            "metadata",
            METADATA_DESCRIPTION,
        ));
    }
    for v in m.values() {
        bounded_string(v, "metadata", METADATA_DESCRIPTION, 255)?;
    }
    Ok(())
}

fn check_branding(value: &Value) -> Result<(), ApiError> {
    let Value::Object(m) = value else {
        return Err(wrong_type(
            "object",
            value,
            "branding",
            BRANDING_DESCRIPTION,
        ));
    };
    for (key, v) in m {
        match key.as_str() {
            "logo_url" => {
                bounded_string(v, "branding.logo_url", BRANDING_DESCRIPTION, 2048)?;
            }
            "colors" => {
                let Value::Object(colors) = v else {
                    return Err(wrong_type(
                        "object",
                        v,
                        "branding.colors",
                        BRANDING_DESCRIPTION,
                    ));
                };
                for (name, color) in colors {
                    if name != "primary" && name != "page_background" {
                        return Err(ApiError::payload_described(
                            &format!("Additional properties not allowed: {name}"),
                            "branding.colors",
                            BRANDING_DESCRIPTION,
                        ));
                    }
                    bounded_string(
                        color,
                        &format!("branding.colors.{name}"),
                        BRANDING_DESCRIPTION,
                        64,
                    )?;
                }
            }
            other => {
                return Err(ApiError::payload_described(
                    &format!("Additional properties not allowed: {other}"),
                    "branding",
                    BRANDING_DESCRIPTION,
                ));
            }
        }
    }
    Ok(())
}

/// Checks a `POST /organizations` body: `name` (required), `display_name`, `branding`,
/// `metadata`, `enabled_connections` (each item as [`parse_enable`] checks it) and
/// `token_quota` (kept as sent); anything else is refused like Auth0's schema does.
pub fn parse_new_organization(body: &Value) -> Result<NewOrganization, ApiError> {
    let map = object_of(body)?;
    only_keys(
        map,
        &[
            "name",
            "display_name",
            "branding",
            "metadata",
            "enabled_connections",
            "token_quota",
        ],
    )?;
    let Some(name) = map.get("name") else {
        return Err(ApiError::payload("Missing required property: name"));
    };
    let name = check_name(name)?;
    let mut fields = Map::new();
    let mut connections: Vec<EnabledConnection> = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "display_name" => {
                bounded_string(
                    value,
                    "display_name",
                    DISPLAY_NAME_DESCRIPTION,
                    MAX_DISPLAY_NAME_LEN,
                )?;
            }
            "metadata" => check_metadata(value)?,
            "branding" => check_branding(value)?,
            "token_quota" if !value.is_object() => {
                return Err(wrong_type("object", value, "token_quota", "Token Quota"));
            }
            "enabled_connections" => {
                let Value::Array(items) = value else {
                    return Err(wrong_type(
                        "array",
                        value,
                        "enabled_connections",
                        CONNECTIONS_DESCRIPTION,
                    ));
                };
                if items.len() > MAX_CONNECTIONS_ON_CREATE {
                    return Err(ApiError::payload_described(
                        &format!(
                            "Array is too long ({}), maximum {MAX_CONNECTIONS_ON_CREATE}",
                            items.len()
                        ),
                        "enabled_connections",
                        CONNECTIONS_DESCRIPTION,
                    ));
                }
                for item in items {
                    let item = parse_enable(item)?;
                    if connections
                        .iter()
                        .all(|c| c.connection_id != item.connection_id)
                    {
                        connections.push(item);
                    }
                }
                continue;
            }
            _ => {}
        }
        if key != "name" {
            fields.insert(key.clone(), value.clone());
        }
    }
    Ok(NewOrganization {
        name,
        fields,
        connections,
    })
}

/// Checks a `POST …/enabled_connections` body: `connection_id` (required, a non-empty string)
/// and the three flags, which default to `false`, `true` and `false`.
pub fn parse_enable(body: &Value) -> Result<EnabledConnection, ApiError> {
    let map = object_of(body)?;
    only_keys(
        map,
        &[
            "connection_id",
            "assign_membership_on_login",
            "show_as_button",
            "is_signup_enabled",
        ],
    )?;
    let Some(id) = map.get("connection_id") else {
        return Err(ApiError::payload(
            "Missing required property: connection_id",
        ));
    };
    let connection_id = bounded_string(id, "connection_id", CONNECTION_ID_DESCRIPTION, 255)?;
    let [assign, show, signup] = FLAGS;
    Ok(EnabledConnection {
        connection_id: connection_id.to_string(),
        assign_membership_on_login: flag(map, assign.0, assign.1)?.unwrap_or(false),
        show_as_button: flag(map, show.0, show.1)?.unwrap_or(true),
        is_signup_enabled: flag(map, signup.0, signup.1)?.unwrap_or(false),
    })
}

/// A checked `PATCH …/enabled_connections/{connectionId}` body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlagUpdate {
    /// New `assign_membership_on_login`.
    pub assign_membership_on_login: Option<bool>,
    /// New `show_as_button`.
    pub show_as_button: Option<bool>,
    /// New `is_signup_enabled`.
    pub is_signup_enabled: Option<bool>,
}

impl FlagUpdate {
    /// Applies the flags that were sent.
    pub fn apply(&self, to: &mut EnabledConnection) {
        if let Some(v) = self.assign_membership_on_login {
            to.assign_membership_on_login = v;
        }
        if let Some(v) = self.show_as_button {
            to.show_as_button = v;
        }
        if let Some(v) = self.is_signup_enabled {
            to.is_signup_enabled = v;
        }
    }
}

/// Checks a PATCH body: only the three flags, booleans, at least one of them.
pub fn parse_flag_update(body: &Value) -> Result<FlagUpdate, ApiError> {
    let map = object_of(body)?;
    only_keys(map, &FLAGS.map(|(key, _)| key))?;
    if map.is_empty() {
        return Err(ApiError::payload(
            "Too few properties defined (0), minimum 1",
        ));
    }
    let [assign, show, signup] = FLAGS;
    Ok(FlagUpdate {
        assign_membership_on_login: flag(map, assign.0, assign.1)?,
        show_as_button: flag(map, show.0, show.1)?,
        is_signup_enabled: flag(map, signup.0, signup.1)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: ApiError) -> String {
        assert_eq!(e.status, 400);
        assert_eq!(e.body["errorCode"], "invalid_body");
        e.body["message"].as_str().unwrap().to_string()
    }

    #[test]
    fn organization_names_are_lower_case_letters_digits_dashes_and_underscores() {
        for ok in ["acme", "a", "1st-org", "acme_eu-2", "-edge-", "_"] {
            assert!(is_valid_org_name(ok), "{ok}");
        }
        for bad in ["", "Acme", "acme corp", "acme.eu", "ácme", "acme/eu"] {
            assert!(!is_valid_org_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_new_organization_needs_a_valid_name_and_nothing_unknown() {
        let new = parse_new_organization(
            &json!({"name": "acme", "display_name": "Acme", "metadata": {"tier": "gold"}}),
        )
        .unwrap();
        assert_eq!(new.name, "acme");
        assert_eq!(
            Value::Object(new.fields),
            json!({"display_name": "Acme", "metadata": {"tier": "gold"}})
        );
        assert_eq!(
            message(parse_new_organization(&json!({"display_name": "x"})).unwrap_err()),
            "Payload validation error: 'Missing required property: name'."
        );
        assert_eq!(
            message(parse_new_organization(&json!({"name": "Acme"})).unwrap_err()),
            "Payload validation error: 'Object didn't pass validation for format organization-name: Acme' on property name (The name of this organization.)."
        );
        let long = "a".repeat(51);
        assert!(
            message(parse_new_organization(&json!({ "name": long })).unwrap_err())
                .contains("String is too long (51 chars), maximum 50")
        );
        assert!(parse_new_organization(&json!({ "name": "a".repeat(50) })).is_ok());
        assert_eq!(
            message(parse_new_organization(&json!({"name": "acme", "colour": 1})).unwrap_err()),
            "Payload validation error: 'Additional properties not allowed: colour'."
        );
        assert!(
            message(
                parse_new_organization(&json!({"name": "acme", "display_name": ""})).unwrap_err()
            )
            .contains("String is too short (0 chars), minimum 1' on property display_name")
        );
        assert!(
            message(
                parse_new_organization(&json!({"name": "acme", "metadata": {"n": 1}})).unwrap_err()
            )
            .contains("Expected type string but found type integer' on property metadata")
        );
        assert!(
            parse_new_organization(
                &json!({"name": "acme", "branding": {"colors": {"primary": "#fff"}}})
            )
            .is_ok()
        );
        assert!(parse_new_organization(&json!("acme")).is_err());
    }

    #[test]
    fn enabling_a_connection_defaults_the_flags_and_refuses_non_booleans() {
        let item = parse_enable(&json!({"connection_id": "con_1"})).unwrap();
        assert_eq!(
            item,
            EnabledConnection {
                connection_id: "con_1".into(),
                assign_membership_on_login: false,
                show_as_button: true,
                is_signup_enabled: false,
            }
        );
        assert_eq!(
            message(parse_enable(&json!({"assign_membership_on_login": true})).unwrap_err()),
            "Payload validation error: 'Missing required property: connection_id'."
        );
        let err = parse_enable(&json!({"connection_id": "con_1", "show_as_button": "false"}))
            .unwrap_err();
        assert!(
            message(err).starts_with(
                "Payload validation error: 'Expected type boolean but found type string' on property show_as_button ("
            )
        );
        assert!(parse_enable(&json!({"connection_id": 7})).is_err());
        assert!(parse_enable(&json!({"connection_id": "con_1", "is_enabled": true})).is_err());
    }

    #[test]
    fn a_flag_update_needs_at_least_one_boolean_flag() {
        assert_eq!(
            message(parse_flag_update(&json!({})).unwrap_err()),
            "Payload validation error: 'Too few properties defined (0), minimum 1'."
        );
        assert!(parse_flag_update(&json!({"connection_id": "con_1"})).is_err());
        assert!(parse_flag_update(&json!({"show_as_button": 1})).is_err());
        let update = parse_flag_update(&json!({"show_as_button": false})).unwrap();
        let mut item =
            parse_enable(&json!({"connection_id": "c", "assign_membership_on_login": true}))
                .unwrap();
        update.apply(&mut item);
        assert!(!item.show_as_button);
        assert!(item.assign_membership_on_login);
    }

    #[test]
    fn deleting_a_connection_disables_it_in_every_organization() {
        let mut orgs = Organizations::default();
        for (id, name) in [("org_1", "one"), ("org_2", "two")] {
            let new = parse_new_organization(&json!({
                "name": name,
                "enabled_connections": [{"connection_id": "con_a"}, {"connection_id": "con_b"}]
            }))
            .unwrap();
            orgs.insert(id.into(), new);
        }
        orgs.forget_connection("con_a");
        for org in orgs.all() {
            let ids: Vec<&str> = org
                .connections
                .iter()
                .map(|c| c.connection_id.as_str())
                .collect();
            assert_eq!(ids, ["con_b"]);
        }
        assert!(orgs.delete("org_1"));
        assert!(!orgs.delete("org_1"));
        assert_eq!(orgs.by_name("two").map(|o| o.id.as_str()), Some("org_2"));
    }
}
