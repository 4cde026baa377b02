//! Encryption of the IdP signing certificate before it is stored in a Secret: the embedded
//! AES-256-GCM backend with a versioned envelope, and the HTTP `encrypt-string` backend.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use url::Url;

use crate::cli::{DecryptArgs, EncryptionArgs, EncryptionBackend};
use crate::secret::SecretString;

/// Envelope version written by [`LocalKey`].
const ENVELOPE_VERSION: &str = "v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Key id recorded for ciphertext of the HTTP backend.
/// Key id recorded for ciphertext from the HTTP backend.
pub const HTTP_KEY_ID: &str = "http";

/// Why a certificate could not be encrypted or decrypted. Messages never contain the
/// plaintext, the key or a token.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    /// The local backend has no key.
    #[error(
        "no encryption key: set --encryption-key-file (or SSO_ENCRYPTION_KEY) to base64 of 32 random bytes, e.g. `openssl rand -base64 32`"
    )]
    MissingKey,
    /// The key file cannot be read.
    #[error("cannot read the encryption key from {} (--encryption-key-file): {message}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The key is not base64 of exactly 32 bytes.
    #[error(
        "the encryption key (--encryption-key-file / SSO_ENCRYPTION_KEY) must be base64 of exactly 32 bytes: {0}"
    )]
    InvalidKey(String),
    /// The key id cannot go into an envelope.
    #[error("--encryption-key-id {0:?} is invalid: use 1-64 letters, digits, '.', '_' or '-'")]
    InvalidKeyId(String),
    /// The HTTP backend has no service URL.
    #[error("the http encryption backend needs --encrypt-url (SSO_ENCRYPT_URL)")]
    MissingUrl,
    /// The HTTP service URL does not parse.
    #[error("--encrypt-url {value:?} is not an http(s) URL: {message}")]
    InvalidUrl {
        /// The value given.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// The HTTP backend has no token file configured.
    #[error("the http encryption backend needs --encrypt-token-file (SSO_ENCRYPT_TOKEN_FILE)")]
    MissingTokenFile,
    /// The token file cannot be read or is empty.
    #[error("cannot read the encryption service token from {} (--encrypt-token-file): {message}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The HTTP request failed before a response (connection, timeout).
    #[error("the encryption service at {url} did not answer: {message}")]
    Request {
        /// The endpoint.
        url: String,
        /// What failed.
        message: String,
    },
    /// The HTTP service answered with a non-2xx status.
    #[error(
        "the encryption service at {url} answered HTTP {status}; check the service and its token"
    )]
    Status {
        /// The endpoint.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// The HTTP service's response holds no ciphertext.
    #[error(
        "the encryption service at {url} returned no ciphertext: {message} (check --encrypt-response-field)"
    )]
    Response {
        /// The endpoint.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The envelope is not `v1:<key-id>:<base64>`.
    #[error("not an encrypted certificate envelope: {0} (expected v1:<key-id>:<base64>)")]
    Envelope(String),
    /// The envelope was made with another key.
    #[error(
        "this certificate was encrypted with key id {needed:?}, but the configured key has id {have:?}: provide the key with id {needed:?}"
    )]
    KeyMismatch {
        /// The key id in the envelope.
        needed: String,
        /// The configured key's id.
        have: String,
    },
    /// Authentication failed: wrong key or modified ciphertext.
    #[error(
        "decryption failed: the ciphertext was modified or the key is wrong (key id {key_id:?})"
    )]
    Tampered {
        /// The key id in the envelope.
        key_id: String,
    },
    /// The AEAD refused to encrypt (should not happen with a valid key).
    #[error("AES-256-GCM encryption failed")]
    Cipher,
    /// Reading the envelope for `decrypt` failed.
    #[error("cannot read the envelope from {source_name}: {message}")]
    Input {
        /// File name or `standard input`.
        source_name: String,
        /// What failed.
        message: String,
    },
}

impl EncryptError {
    /// The `CertificateEncrypted` condition reason.
    pub fn reason(&self) -> crate::status::Reason {
        crate::status::Reason::EncryptionFailed
    }
}

/// The output of an encryption, stored in the operator's Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    /// The ciphertext (an envelope for `local`, the service's output for `http`).
    pub value: String,
    /// `local` or `http`.
    pub backend: &'static str,
    /// Which key produced it (`http` for the HTTP backend).
    pub key_id: String,
}

/// A 32-byte AES-256-GCM key with its id. `Debug` never shows the key.
#[derive(Clone)]
pub struct LocalKey {
    key: [u8; 32],
    key_id: String,
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey")
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl LocalKey {
    /// A key from base64 text; the id defaults to the first 8 hex characters of SHA-256 of the
    /// key bytes.
    pub fn from_base64(text: &str, key_id: Option<&str>) -> Result<Self, EncryptError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| EncryptError::InvalidKey("it is not valid base64".into()))?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            EncryptError::InvalidKey(format!("it decodes to {} bytes", bytes.len()))
        })?;
        let key_id = match key_id.map(str::trim).filter(|id| !id.is_empty()) {
            Some(id) if is_valid_key_id(id) => id.to_string(),
            Some(id) => return Err(EncryptError::InvalidKeyId(id.to_string())),
            None => hex::encode(Sha256::digest(key))[..8].to_string(),
        };
        Ok(LocalKey { key, key_id })
    }

    /// The key from `--encryption-key-file` (preferred) or `--encryption-key`.
    pub fn from_args(args: &EncryptionArgs) -> Result<Self, EncryptError> {
        let text = match (&args.encryption_key_file, &args.encryption_key) {
            (Some(path), _) => SecretString::new(std::fs::read_to_string(path).map_err(|e| {
                EncryptError::KeyFile {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?),
            (None, Some(key)) if !key.trim().is_empty() => SecretString::new(key.as_str()),
            (None, _) => return Err(EncryptError::MissingKey),
        };
        LocalKey::from_base64(text.expose(), args.encryption_key_id.as_deref())
    }

    /// The id written into envelopes.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts into `v1:<key-id>:<base64(nonce|ciphertext)>` with a fresh random nonce.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, EncryptError> {
        let cipher = Aes256Gcm::new(&self.key.into());
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let header = envelope_header(&self.key_id);
        // The header is authenticated too, so an envelope cannot be relabelled to another key id.
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: header.as_bytes(),
                },
            )
            .map_err(|_| EncryptError::Cipher)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(format!("{header}:{}", BASE64.encode(blob)))
    }
}

fn envelope_header(key_id: &str) -> String {
    format!("{ENVELOPE_VERSION}:{key_id}")
}

fn is_valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Decrypts an envelope made by the local backend back to the PEM text.
pub fn decrypt_local(envelope: &str, key: &LocalKey) -> Result<String, EncryptError> {
    let mut parts = envelope.trim().splitn(3, ':');
    let (Some(version), Some(key_id), Some(payload)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(EncryptError::Envelope(
            "it has fewer than three ':'-separated parts".into(),
        ));
    };
    if version != ENVELOPE_VERSION {
        return Err(EncryptError::Envelope(format!(
            "unsupported version {:?}",
            truncate(version, 16)
        )));
    }
    if key_id != key.key_id {
        return Err(EncryptError::KeyMismatch {
            needed: truncate(key_id, 64),
            have: key.key_id.clone(),
        });
    }
    let blob = BASE64
        .decode(payload)
        .map_err(|_| EncryptError::Envelope("the payload is not valid base64".into()))?;
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(EncryptError::Envelope("the payload is too short".into()));
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(&key.key.into());
    let header = envelope_header(key_id);
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: header.as_bytes(),
            },
        )
        .map_err(|_| EncryptError::Tampered {
            key_id: key_id.to_string(),
        })?;
    String::from_utf8(plain)
        .map_err(|_| EncryptError::Envelope("the decrypted value is not UTF-8 text".into()))
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The HTTP `encrypt-string` backend.
#[derive(Clone, Debug)]
pub struct HttpEncryptor {
    http: reqwest::Client,
    endpoint: Url,
    token_file: Option<PathBuf>,
    response_field: String,
    timeout: Duration,
}

impl HttpEncryptor {
    /// A backend posting to `{base_url}/encrypt-string`; the token file is read at each
    /// encryption, so a missing file is reported then, not at start-up.
    pub fn new(
        base_url: &str,
        token_file: Option<PathBuf>,
        response_field: &str,
        timeout: Duration,
    ) -> Result<Self, EncryptError> {
        let invalid = |message: String| EncryptError::InvalidUrl {
            value: base_url.to_string(),
            message,
        };
        let base = Url::parse(base_url.trim()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("expected http:// or https://".into()));
        }
        let mut endpoint = base;
        if let Ok(mut path) = endpoint.path_segments_mut() {
            path.pop_if_empty().push("encrypt-string");
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpEncryptor {
            http,
            endpoint,
            token_file,
            response_field: response_field.to_string(),
            timeout,
        })
    }

    /// Sends the PEM to the service and returns its ciphertext.
    pub async fn encrypt(&self, plaintext_pem: &str) -> Result<String, EncryptError> {
        let token = self.read_token().await?;
        let url = self.endpoint.to_string();
        let response = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(token.expose())
            .timeout(self.timeout)
            .json(&serde_json::json!({ "string": plaintext_pem }))
            .send()
            .await
            .map_err(|e| EncryptError::Request {
                url: url.clone(),
                message: if e.is_timeout() {
                    format!("timed out after {} s", self.timeout.as_secs_f64())
                } else {
                    // Without the URL (already named) and never the body.
                    e.without_url().to_string()
                },
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(EncryptError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let body = response.text().await.map_err(|e| EncryptError::Request {
            url: url.clone(),
            message: e.without_url().to_string(),
        })?;
        extract_ciphertext(&body, &self.response_field)
            .map_err(|message| EncryptError::Response { url, message })
    }

    async fn read_token(&self) -> Result<SecretString, EncryptError> {
        let path = self
            .token_file
            .as_ref()
            .ok_or(EncryptError::MissingTokenFile)?;
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| EncryptError::TokenFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(EncryptError::TokenFile {
                path: path.clone(),
                message: "the file is empty".into(),
            });
        }
        Ok(SecretString::new(token))
    }
}

/// The ciphertext from a service response: the configured field of a JSON object, a JSON
/// string, or the whole body when it is plain text.
fn extract_ciphertext(body: &str, field: &str) -> Result<String, String> {
    let value = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => match map.get(field) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("the JSON field {field:?} is not a string")),
            None => return Err(format!("the JSON response has no field {field:?}")),
        },
        Ok(serde_json::Value::String(s)) => s,
        _ => body.trim().to_string(),
    };
    if value.trim().is_empty() {
        return Err("the ciphertext is empty".into());
    }
    Ok(value)
}

/// The configured encryption backend.
#[derive(Clone, Debug)]
pub enum Encryptor {
    /// Embedded AES-256-GCM.
    Local(LocalKey),
    /// The HTTP `encrypt-string` service.
    Http(HttpEncryptor),
}

impl Encryptor {
    /// The backend chosen by `--encryption-backend`, with its settings checked (the HTTP token
    /// file is only read when encrypting).
    pub fn from_args(args: &EncryptionArgs) -> Result<Self, EncryptError> {
        match args.encryption_backend {
            EncryptionBackend::Local => LocalKey::from_args(args).map(Encryptor::Local),
            EncryptionBackend::Http => {
                let url = args
                    .encrypt_url
                    .as_deref()
                    .filter(|u| !u.trim().is_empty())
                    .ok_or(EncryptError::MissingUrl)?;
                HttpEncryptor::new(
                    url,
                    args.encrypt_token_file.clone(),
                    &args.encrypt_response_field,
                    Duration::from_secs(args.encrypt_timeout_seconds.max(1)),
                )
                .map(Encryptor::Http)
            }
        }
    }

    /// Encrypts the PEM text of a certificate.
    pub async fn encrypt(&self, plaintext_pem: &str) -> Result<Ciphertext, EncryptError> {
        match self {
            Encryptor::Local(key) => Ok(Ciphertext {
                value: key.encrypt(plaintext_pem)?,
                backend: self.backend(),
                key_id: key.key_id().to_string(),
            }),
            Encryptor::Http(http) => Ok(Ciphertext {
                value: http.encrypt(plaintext_pem).await?,
                backend: self.backend(),
                key_id: HTTP_KEY_ID.to_string(),
            }),
        }
    }

    /// `local` or `http`.
    pub fn backend(&self) -> &'static str {
        match self {
            Encryptor::Local(_) => "local",
            Encryptor::Http(_) => "http",
        }
    }
}

/// The `decrypt` subcommand: reads an envelope from the file or standard input and prints the
/// PEM to standard output (the one place plaintext is printed: the user asked for it).
pub fn run_decrypt(args: &DecryptArgs) -> ExitCode {
    match decrypt_from(args) {
        Ok(pem) => {
            print!("{pem}");
            if !pem.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn decrypt_from(args: &DecryptArgs) -> Result<String, EncryptError> {
    let envelope = match args.file.as_deref() {
        Some(path) if path != Path::new("-") => {
            std::fs::read_to_string(path).map_err(|e| EncryptError::Input {
                source_name: path.display().to_string(),
                message: e.to_string(),
            })?
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| EncryptError::Input {
                    source_name: "standard input".into(),
                    message: e.to_string(),
                })?;
            text
        }
    };
    let key = LocalKey::from_args(&args.encryption)?;
    decrypt_local(&envelope, &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_field_holds_the_ciphertext() {
        assert_eq!(
            extract_ciphertext(r#"{"encryptedString":"abc","other":1}"#, "encryptedString"),
            Ok("abc".to_string())
        );
    }

    #[test]
    fn a_plain_text_body_is_the_ciphertext() {
        assert_eq!(
            extract_ciphertext("  vault:v1:xyz\n", "encryptedString"),
            Ok("vault:v1:xyz".to_string())
        );
    }

    #[test]
    fn a_json_object_without_the_field_is_an_error_naming_it() {
        let err =
            extract_ciphertext(r#"{"result":"abc"}"#, "encryptedString").expect_err("no field");
        assert!(err.contains("encryptedString"), "{err}");
    }

    #[test]
    fn an_empty_body_is_an_error() {
        assert!(extract_ciphertext("", "encryptedString").is_err());
        assert!(extract_ciphertext(r#"{"encryptedString":""}"#, "encryptedString").is_err());
    }

    #[test]
    fn key_ids_with_separators_are_refused() {
        let key = BASE64.encode([7u8; 32]);
        assert!(matches!(
            LocalKey::from_base64(&key, Some("a:b")),
            Err(EncryptError::InvalidKeyId(_))
        ));
        assert!(LocalKey::from_base64(&key, Some("prod-2026.1")).is_ok());
    }

    #[test]
    fn every_error_has_the_encryption_failed_reason() {
        assert_eq!(
            EncryptError::MissingKey.reason(),
            crate::status::Reason::EncryptionFailed
        );
        assert_eq!(
            EncryptError::Status {
                url: "u".into(),
                status: 500
            }
            .reason(),
            crate::status::Reason::EncryptionFailed
        );
    }

    #[test]
    fn decrypt_reads_the_envelope_file_with_the_configured_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_text = BASE64.encode([9u8; 32]);
        let key = LocalKey::from_base64(&key_text, None).expect("key");
        let path = dir.path().join("envelope");
        std::fs::write(
            &path,
            format!("{}\n", key.encrypt("PEM TEXT").expect("encrypts")),
        )
        .expect("write");
        let args = DecryptArgs {
            file: Some(path),
            encryption: EncryptionArgs {
                encryption_key: Some(key_text),
                ..EncryptionArgs::default()
            },
        };
        assert_eq!(decrypt_from(&args).expect("decrypts"), "PEM TEXT");
    }

    #[test]
    fn decrypt_of_a_missing_file_names_it() {
        let args = DecryptArgs {
            file: Some(PathBuf::from("/nonexistent/envelope")),
            encryption: EncryptionArgs::default(),
        };
        let err = decrypt_from(&args).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/envelope"), "{err}");
    }
}
