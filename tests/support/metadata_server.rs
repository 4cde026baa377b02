//! A local HTTPS server publishing IdP federation metadata, as Entra ID or AD FS do at their
//! metadata URL, for tests of `spec.metadata.url`: its own CA (handed to the operator as
//! `caBundle`), a document that can be switched, withdrawn (404) or spoiled (garbage), `ETag`
//! and `If-None-Match`, and counters of connections and requests (to prove that a refused URL
//! is never contacted). Also the openssl helpers that make the certificates.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the server answers at `/federationmetadata.xml`.
#[derive(Clone, Debug)]
pub enum Answer {
    /// `200` with this body (and an `ETag` of it; `304` to a matching `If-None-Match`).
    Document(String),
    /// `404 Not Found`.
    NotFound,
}

/// A running server; stops when dropped.
pub struct MetadataServer {
    /// `https://127.0.0.1:PORT/federationmetadata.xml`.
    pub url: String,
    /// PEM of the CA that signed the server's certificate (the `caBundle`).
    pub ca_pem: String,
    answer: Arc<Mutex<Answer>>,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl MetadataServer {
    /// Starts on a free loopback port with a CA and server certificate made in `dir`.
    pub async fn start(dir: &Path, answer: Answer) -> Result<MetadataServer, String> {
        let pki = server_pki(dir)?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.cert)
            .map_err(|e| e.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let key = PrivateKeyDer::from_pem_file(&pki.key).map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| e.to_string())?;
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = tcp.local_addr().map_err(|e| e.to_string())?;
        let answer = Arc::new(Mutex::new(answer));
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let not_modified = Arc::new(AtomicUsize::new(0));
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            connections: connections.clone(),
        };
        let (a, r, nm) = (answer.clone(), requests.clone(), not_modified.clone());
        let app = axum::Router::new().route(
            "/federationmetadata.xml",
            axum::routing::get(move |headers: HeaderMap| {
                let (a, r, nm) = (a.clone(), r.clone(), nm.clone());
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    let current = a.lock().map(|g| g.clone()).unwrap_or(Answer::NotFound);
                    match current {
                        Answer::NotFound => {
                            (StatusCode::NOT_FOUND, HeaderMap::new(), String::new())
                        }
                        Answer::Document(body) => {
                            let etag = format!("\"{:016x}\"", fxhash(body.as_bytes()));
                            let mut out = HeaderMap::new();
                            out.insert(header::ETAG, etag.parse().unwrap());
                            out.insert(
                                header::CONTENT_TYPE,
                                "application/samlmetadata+xml".parse().unwrap(),
                            );
                            let matches = headers
                                .get(header::IF_NONE_MATCH)
                                .and_then(|v| v.to_str().ok())
                                == Some(etag.as_str());
                            if matches {
                                nm.fetch_add(1, Ordering::SeqCst);
                                (StatusCode::NOT_MODIFIED, out, String::new())
                            } else {
                                (StatusCode::OK, out, body)
                            }
                        }
                    }
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MetadataServer {
            url: format!("https://127.0.0.1:{}/federationmetadata.xml", addr.port()),
            ca_pem: std::fs::read_to_string(&pki.ca).map_err(|e| e.to_string())?,
            answer,
            connections,
            requests,
            not_modified,
            task,
        })
    }

    /// Changes what the server answers from now on.
    pub fn set(&self, answer: Answer) {
        if let Ok(mut g) = self.answer.lock() {
            *g = answer;
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// HTTP requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// `304 Not Modified` answers so far.
    pub fn not_modified(&self) -> usize {
        self.not_modified.load(Ordering::SeqCst)
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    connections: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            self.connections.fetch_add(1, Ordering::SeqCst);
            let handshake = self.acceptor.accept(stream);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A CA, and a server certificate for 127.0.0.1 and localhost signed by it.
fn server_pki(dir: &Path) -> Result<Pki, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let (ca_key, ca, key, csr, cert, ext) = (
        p("ca.key"),
        p("ca.crt"),
        p("server.key"),
        p("server.csr"),
        p("server.crt"),
        p("server.ext"),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-subj",
        "/CN=metadata-test-ca",
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        "/CN=127.0.0.1",
    ])?;
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ])?;
    Ok(Pki {
        ca: ca.into(),
        cert: cert.into(),
        key: key.into(),
    })
}

/// A self-signed IdP signing certificate valid from now for `days`: (base64 DER as metadata
/// carries it, PEM).
pub fn idp_certificate(dir: &Path, tag: &str, days: u32) -> Result<(String, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let key = dir
        .join(format!("{tag}.key"))
        .to_string_lossy()
        .into_owned();
    let crt = dir
        .join(format!("{tag}.crt"))
        .to_string_lossy()
        .into_owned();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &crt,
        "-subj",
        &format!("/CN=idp-{tag}"),
        "-days",
        &days.to_string(),
    ])?;
    let pem = std::fs::read_to_string(&crt).map_err(|e| e.to_string())?;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Ok((body, pem))
}

/// An IdP metadata document listing `certs` (base64 DER) as signing keys, in order.
pub fn idp_metadata(entity_id: &str, certs: &[&str]) -> String {
    let keys: String = certs
        .iter()
        .map(|c| {
            format!(
                r#"<KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>"#
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://login.example.test/sso"/></IDPSSODescriptor></EntityDescriptor>"#
    )
}
