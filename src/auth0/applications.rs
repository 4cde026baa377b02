//! Applications (clients) with the SAML2 Web App addon, and the tenant's signing keys
//! (docs/AUTH0_API.md §16). Only `addons`, `callbacks` and `client_metadata` are ever written;
//! a client's secret is never requested, read into memory or sent.

use std::collections::BTreeMap;
use std::fmt;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::{Auth0Client, Retry, parse, rejected, to_json};
use super::error::Auth0Error;

const OP_LIST: &str = "GET /clients";
const OP_GET: &str = "GET /clients/{id}";
const OP_CREATE: &str = "POST /clients";
const OP_UPDATE: &str = "PATCH /clients/{id}";
const OP_DELETE: &str = "DELETE /clients/{id}";
const OP_SIGNING_KEYS: &str = "GET /keys/signing";
/// The IdP metadata of an application, public (Authentication API, no token).
const OP_IDP_METADATA: &str = "GET /samlp/metadata/{client_id}";
/// Largest IdP metadata document read.
const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// The fields read of an application: never `client_secret`.
const FIELDS: &str = "client_id,name,callbacks,addons,client_metadata,app_type";
/// Page size when looking an application up by name.
const PAGE_SIZE: u32 = 100;

/// Scopes `SamlApplication` needs (docs/AUTH0_API.md §16).
pub const APPLICATION_SCOPES: [&str; 5] = [
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:signing_keys",
];

/// An application as the operator reads it.
#[derive(Deserialize, Clone, PartialEq, Default)]
pub struct Application {
    /// The client id.
    pub client_id: String,
    /// The (not necessarily unique) name.
    #[serde(default)]
    pub name: String,
    /// Allowed callback URLs.
    #[serde(default)]
    pub callbacks: Vec<String>,
    /// Every addon, as returned.
    #[serde(default)]
    pub addons: Map<String, Value>,
    /// `client_metadata` (string values; the ownership marker lives here).
    #[serde(default)]
    pub client_metadata: BTreeMap<String, Option<String>>,
}

impl fmt::Debug for Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Application")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// The SAML2 Web App addon's settings (empty when it is off).
    pub fn samlp(&self) -> Map<String, Value> {
        self.addons
            .get("samlp")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

/// What a create sends.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct NewApplication {
    /// Name.
    pub name: String,
    /// `regular_web`: a SAML SP is a web application.
    pub app_type: String,
    /// The ACS URL.
    pub callbacks: Vec<String>,
    /// `{samlp: …}`.
    pub addons: Map<String, Value>,
    /// The ownership marker.
    pub client_metadata: BTreeMap<String, String>,
}

/// What an update sends: the whole `addons`, `callbacks` and `client_metadata` as merged over
/// a fresh read (Auth0 replaces each of them whole, docs/AUTH0_API.md §16).
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct ApplicationUpdate {
    /// Every addon, `samlp` merged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addons: Option<Map<String, Value>>,
    /// Every callback, the ACS URL added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callbacks: Option<Vec<String>>,
    /// `client_metadata` with the marker; `null` removes a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, Option<String>>>,
}

/// A tenant signing key (public parts).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id.
    pub kid: String,
    /// The certificate, PEM.
    pub cert: String,
    /// Whether Auth0 signs with it now.
    #[serde(default)]
    pub current: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ClientsPage {
    Totals { clients: Vec<Application> },
    Plain(Vec<Application>),
}

impl Auth0Client {
    /// The applications named `name` (Auth0 does not keep names unique).
    pub async fn applications_named(&self, name: &str) -> Result<Vec<Application>, Auth0Error> {
        let per_page = PAGE_SIZE.to_string();
        let mut found = Vec::new();
        for page in 0u32.. {
            let page_text = page.to_string();
            let url = self.api_url(
                &["clients"],
                &[
                    ("fields", FIELDS),
                    ("include_fields", "true"),
                    ("is_global", "false"),
                    ("page", &page_text),
                    ("per_page", &per_page),
                    ("include_totals", "true"),
                ],
            );
            let reply = self
                .call(OP_LIST, Method::GET, url, None, Retry::InClient)
                .await?;
            if !reply.status.is_success() {
                return Err(rejected(OP_LIST, &reply));
            }
            let items = match parse::<ClientsPage>(OP_LIST, &reply.body)? {
                ClientsPage::Totals { clients } | ClientsPage::Plain(clients) => clients,
            };
            let last = items.len() < PAGE_SIZE as usize;
            found.extend(items.into_iter().filter(|a| a.name == name));
            if last {
                break;
            }
        }
        Ok(found)
    }

    /// `GET /clients/{id}` (without the secret); `None` when it does not exist.
    pub async fn get_application(&self, id: &str) -> Result<Option<Application>, Auth0Error> {
        let url = self.api_url(
            &["clients", id],
            &[("fields", FIELDS), ("include_fields", "true")],
        );
        let reply = self
            .call(OP_GET, Method::GET, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(Some(parse(OP_GET, &reply.body)?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(rejected(OP_GET, &reply)),
        }
    }

    /// `POST /clients`. Not resent blindly after a lost answer: names are not unique, so a
    /// resend could create a second application; the caller looks the name up again.
    pub async fn create_application(
        &self,
        body: &NewApplication,
    ) -> Result<Application, Auth0Error> {
        let url = self.api_url(&["clients"], &[]);
        let body = to_json(OP_CREATE, body)?;
        let reply = self
            .call(OP_CREATE, Method::POST, url, Some(body), Retry::ByCaller)
            .await?;
        if reply.status.is_success() {
            parse(OP_CREATE, &reply.body)
        } else {
            Err(rejected(OP_CREATE, &reply))
        }
    }

    /// `PATCH /clients/{id}` with a body merged over a fresh read (so not resent blindly).
    pub async fn update_application(
        &self,
        id: &str,
        body: &ApplicationUpdate,
    ) -> Result<Application, Auth0Error> {
        let url = self.api_url(&["clients", id], &[]);
        let body = to_json(OP_UPDATE, body)?;
        let reply = self
            .call(OP_UPDATE, Method::PATCH, url, Some(body), Retry::ByCaller)
            .await?;
        if reply.status.is_success() {
            parse(OP_UPDATE, &reply.body)
        } else {
            Err(rejected(OP_UPDATE, &reply))
        }
    }

    /// `DELETE /clients/{id}`; one already gone counts as done.
    pub async fn delete_application(&self, id: &str) -> Result<(), Auth0Error> {
        let url = self.api_url(&["clients", id], &[]);
        let reply = self
            .call(OP_DELETE, Method::DELETE, url, None, Retry::InClient)
            .await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(rejected(OP_DELETE, &reply)),
        }
    }

    /// The SAML IdP metadata Auth0 publishes for application `id`
    /// (`https://{domain}/samlp/metadata/{id}`, public).
    pub async fn idp_metadata(&self, id: &str) -> Result<String, Auth0Error> {
        let mut url = self.config().base_url.clone();
        url.path_segments_mut()
            .map_err(|()| Auth0Error::Config {
                message: "the Auth0 base URL cannot have a path".into(),
            })?
            .pop_if_empty()
            .extend(["samlp", "metadata", id]);
        self.public_text(OP_IDP_METADATA, url, MAX_METADATA_BYTES)
            .await
    }

    /// The tenant's signing keys (public certificates).
    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>, Auth0Error> {
        let url = self.api_url(&["keys", "signing"], &[]);
        let reply = self
            .call(OP_SIGNING_KEYS, Method::GET, url, None, Retry::InClient)
            .await?;
        if reply.status.is_success() {
            parse(OP_SIGNING_KEYS, &reply.body)
        } else {
            Err(rejected(OP_SIGNING_KEYS, &reply))
        }
    }
}
