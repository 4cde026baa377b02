//! `auth0-emulator`: a local, faithful Auth0 Management API subset (docs/AUTH0_API.md §11) for
//! tests, the offline `apply` command, the demo and benchmarks.
//!
//! An axum service ([`router`] is the map): one route per endpoint, handlers in [`routes`] by
//! concern, and the call log, rate limit and fault injection as middleware layers
//! ([`layers`]) so that every endpoint is treated alike. Tests steer it through the
//! `/__emulator/` admin API, with the typed [`admin::AdminClient`]. Connection resets are
//! produced by a listener whose streams can be killed from a layer ([`ConnHandle`]): the
//! stream then fails every read and write with `SO_LINGER 0`, hyper drops the connection and
//! the client sees a reset instead of a response. With [`EmulatorConfig::tls`] it serves HTTPS
//! on the same streams ([`TlsSettings`]), so that clients which only speak HTTPS to a tenant
//! domain can be pointed at it.

pub mod admin;
mod apps;
mod apps_schema;
mod config;
mod faults;
mod idp_metadata;
mod layers;
mod orgs;
mod pem;
mod ratelimit;
mod reply;
mod router;
mod routes;
mod scim_store;
mod signing_keys;
mod state;
mod store;
mod tls;
mod token;
mod validate;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    ALL_SCOPES, APPLICATION_SCOPES, ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DIRECTORY_PROVISIONING_SCOPE, EmulatorArgs, EmulatorConfig, ORGANIZATION_SCOPES, RateLimit,
    RuntimeKnobs, SCIM_SCOPES, TenantProfile, default_client_scopes,
};
pub use faults::{FaultKind, FaultRule, FaultRuleSpec, Phase, Trigger};
pub use layers::call_log::CallRecord;
pub use tls::TlsSettings;

/// An emulator serving on a local port until [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    addr: SocketAddr,
    tls: bool,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` when serving TLS: the API base URL
    /// (audience `{base_url}/api/v2/`).
    pub fn base_url(&self) -> String {
        base_url_for(self.addr, self.tls)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests finish and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Over TLS an IPv4 loopback or unspecified address is named `localhost`, the name a test
/// certificate is made for and the one real clients are given as the tenant domain
/// (`AUTH0_DOMAIN=localhost:PORT`); other addresses stay literal.
fn base_url_for(addr: SocketAddr, tls: bool) -> String {
    let ip = addr.ip();
    let host = if tls && ip.is_ipv4() && (ip.is_loopback() || ip.is_unspecified()) {
        "localhost".to_string()
    } else if ip.is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", addr.port())
}

/// Binds `config.listen` (port 0 allowed) and serves on the current tokio runtime.
pub async fn start(config: EmulatorConfig) -> io::Result<RunningEmulator> {
    let keys = tokio::task::spawn_blocking(token::TokenKeys::generate)
        .await
        .map_err(io::Error::other)?
        .map_err(io::Error::other)?;
    let certificates = pem::TenantCertificates::generate(&config.domain)
        .map_err(|e| io::Error::other(format!("tenant certificates: {e}")))?;
    let tls_config = match &config.tls {
        Some(settings) => Some(
            settings
                .server_config()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let tls = tls_config.is_some();
    let shared = state::Shared::new(&config, base_url_for(addr, tls), keys, certificates)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let app = router::app(Arc::new(shared));
    let (stop, stopped) = oneshot::channel::<()>();
    let listener = match tls_config {
        Some(tls_config) => KillableListener::Tls {
            accept: tls::TlsAccept::start(listener, tls_config),
            addr,
        },
        None => KillableListener::Plain(listener),
    };
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnHandle>(),
    )
    .with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "auth0-emulator server stopped with an error");
        }
    });
    Ok(RunningEmulator {
        addr,
        tls,
        stop,
        task,
    })
}

/// A TCP listener, plain or TLS, whose connections a handler can kill.
enum KillableListener {
    Plain(TcpListener),
    Tls {
        accept: tls::TlsAccept,
        addr: SocketAddr,
    },
}

impl Listener for KillableListener {
    type Io = EmulatorStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let accepted = match self {
                // The inherent accept, which reports errors (the trait's retries forever).
                KillableListener::Plain(listener) => {
                    TcpListener::accept(listener).await.map(|(stream, addr)| {
                        (EmulatorStream::Plain(KillableStream::new(stream)), addr)
                    })
                }
                KillableListener::Tls { accept, .. } => accept
                    .next()
                    .await
                    .map(|(stream, addr)| (EmulatorStream::Tls(Box::new(stream)), addr)),
            };
            match accepted {
                Ok(accepted) => return accepted,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        match self {
            KillableListener::Plain(listener) => listener.local_addr(),
            KillableListener::Tls { addr, .. } => Ok(*addr),
        }
    }
}

/// A connection of the emulator: a killable TCP stream, with or without TLS over it.
enum EmulatorStream {
    Plain(KillableStream),
    Tls(Box<tokio_rustls::server::TlsStream<KillableStream>>),
}

impl EmulatorStream {
    fn killed(&self) -> &Arc<AtomicBool> {
        match self {
            EmulatorStream::Plain(stream) => &stream.killed,
            EmulatorStream::Tls(stream) => &stream.get_ref().0.killed,
        }
    }
}

impl AsyncRead for EmulatorStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EmulatorStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            EmulatorStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for EmulatorStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            EmulatorStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            EmulatorStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EmulatorStream::Plain(s) => Pin::new(s).poll_flush(cx),
            EmulatorStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EmulatorStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            EmulatorStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A TCP stream that fails all I/O once killed.
pub(crate) struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        KillableStream {
            inner: stream,
            killed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            // Zero linger turns the close into a RST, which clients report as a reset.
            let _ = self.inner.set_zero_linger();
            Err(io::Error::from(io::ErrorKind::ConnectionReset))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Per-connection handle in each request's extensions, used to reset the connection.
#[derive(Clone)]
pub(crate) struct ConnHandle(Arc<AtomicBool>);

impl ConnHandle {
    /// Makes the connection fail instead of sending the response.
    pub(crate) fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        ConnHandle(stream.io().killed().clone())
    }
}
