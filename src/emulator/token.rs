//! RS256 access tokens: issued by `/oauth/token`, checked on every `/api/v2` call.

use std::sync::OnceLock;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use serde::{Deserialize, Serialize};

/// RSA key size. 2048 bits is what Auth0 uses and is fast with the optimised `rsa` profile.
const KEY_BITS: usize = 2048;

/// The claims of a Management API token (docs/AUTH0_API.md §1.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// `https://{domain}/`.
    pub iss: String,
    /// `{client_id}@clients`.
    pub sub: String,
    /// The requested audience.
    pub aud: String,
    /// Issued at, epoch seconds.
    pub iat: u64,
    /// Expiry, epoch seconds.
    pub exp: u64,
    /// Space-separated scopes.
    pub scope: String,
    /// Always `client-credentials`.
    pub gty: String,
    /// The client id.
    pub azp: String,
}

impl Claims {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// Why a bearer token was refused, with the §9 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a JWT, wrong audience, wrong algorithm, …
    Invalid,
    /// Signed by another key.
    BadSignature,
    /// Past `exp`.
    Expired,
}

impl TokenRejection {
    /// The Auth0 message.
    pub fn message(self) -> &'static str {
        match self {
            TokenRejection::Invalid => "Invalid token",
            TokenRejection::BadSignature => {
                "Invalid signature received for JSON Web Token validation"
            }
            TokenRejection::Expired => "Expired token received for JSON Web Token validation",
        }
    }
}

/// The tenant's signing key pair.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

fn generate_pair() -> Result<(EncodingKey, DecodingKey), String> {
    let private =
        RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS).map_err(|e| e.to_string())?;
    let private_der = private.to_pkcs1_der().map_err(|e| e.to_string())?;
    let public_der = private
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| e.to_string())?;
    Ok((
        EncodingKey::from_rsa_der(private_der.as_bytes()),
        DecodingKey::from_rsa_der(public_der.as_bytes()),
    ))
}

/// Why the key pair could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate the emulator's RSA signing key: {0}")]
pub struct KeyError(String);

/// The process-wide key pair: a tenant keeps its signing key, and generating one per
/// in-process emulator would make every test pay for RSA key generation.
static PROCESS_KEYS: OnceLock<Result<(EncodingKey, DecodingKey), String>> = OnceLock::new();

impl TokenKeys {
    /// The process-wide RSA key pair, generated on first use (blocking; call it off the
    /// async executor).
    pub fn generate() -> Result<Self, KeyError> {
        let (encoding, decoding) = PROCESS_KEYS
            .get_or_init(generate_pair)
            .clone()
            .map_err(KeyError)?;
        Ok(TokenKeys { encoding, decoding })
    }

    /// Signs claims as an RS256 JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &self.encoding)
            .map_err(|e| KeyError(e.to_string()))
    }

    /// Checks signature, expiry (no leeway) and audience.
    pub fn verify(&self, token: &str, audiences: &[String]) -> Result<Claims, TokenRejection> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "aud"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                ErrorKind::ExpiredSignature => TokenRejection::Expired,
                _ => TokenRejection::Invalid,
            })
    }
}
