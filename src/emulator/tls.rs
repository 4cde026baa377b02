//! HTTPS for the emulator: a rustls server configuration from a PEM certificate chain and key
//! ([`TlsSettings`]), and the accept loop that runs TLS handshakes concurrently so that one slow
//! or broken client never holds up the others.
//!
//! Real Auth0 clients (the `auth0` node SDK inside `auth0-deploy-cli`, for one) only speak
//! HTTPS to a tenant domain; with a certificate for `localhost` from a test CA the client
//! trusts, they talk to the emulator as they would to Auth0 (docs/AUTH0_API.md §12).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::KillableStream;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const QUEUE: usize = 64;

/// The server certificate (chain) and private key the emulator serves HTTPS with, as PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server certificate first, then any intermediates.
    pub cert_chain_pem: String,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field(
                "cert_chain_pem",
                &format!("{} bytes", self.cert_chain_pem.len()),
            )
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsSettings {
    /// Reads the two PEM files of `--tls-cert` and `--tls-key`.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let cert_chain_pem = std::fs::read_to_string(cert)
            .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        let key_pem = std::fs::read_to_string(key)
            .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        let settings = TlsSettings {
            cert_chain_pem,
            key_pem,
        };
        settings.server_config()?;
        Ok(settings)
    }

    /// The rustls configuration: TLS 1.2 and 1.3 with ring, HTTP/1.1 by ALPN.
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("TLS certificate: not PEM: {e}"))?;
        if certs.is_empty() {
            return Err("TLS certificate: no PEM certificate found".into());
        }
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| format!("TLS key: no PEM private key found ({e})"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("TLS certificate and key: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Accepts TCP connections and completes their handshakes in tasks of their own; the server
/// takes finished ones from [`TlsAccept::next`]. Dropping it stops the loop.
pub(crate) struct TlsAccept {
    ready: mpsc::Receiver<(tokio_rustls::server::TlsStream<KillableStream>, SocketAddr)>,
    task: JoinHandle<()>,
}

impl TlsAccept {
    pub(crate) fn start(listener: TcpListener, config: rustls::ServerConfig) -> TlsAccept {
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = mpsc::channel(QUEUE);
        let task = tokio::spawn(async move {
            loop {
                let (stream, addr) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let stream = KillableStream::new(stream);
                    // A failed or stalled handshake only loses that client.
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        let _ = tx.send((tls, addr)).await;
                    }
                });
            }
        });
        TlsAccept { ready, task }
    }

    /// The next connection whose handshake is complete.
    pub(crate) async fn next(
        &mut self,
    ) -> io::Result<(tokio_rustls::server::TlsStream<KillableStream>, SocketAddr)> {
        self.ready
            .recv()
            .await
            .ok_or_else(|| io::Error::other("the TLS accept loop stopped"))
    }
}

impl Drop for TlsAccept {
    fn drop(&mut self) {
        self.task.abort();
    }
}
