//! `auth0-emulator`: a local, faithful Auth0 Management API subset (docs/AUTH0_API.md §11) for
//! tests, the offline `apply` command, the demo and benchmarks.
//!
//! An axum service ([`router`] is the map): one route per endpoint, handlers in [`routes`] by
//! concern, and the call log, rate limit and fault injection as middleware layers
//! ([`layers`]) so that every endpoint is treated alike. Tests steer it through the
//! `/__emulator/` admin API, with the typed [`admin::AdminClient`]. Connection resets are
//! produced by a listener whose streams can be killed from a layer ([`ConnHandle`]): the
//! stream then fails every read and write with `SO_LINGER 0`, hyper drops the connection and
//! the client sees a reset instead of a response.

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
    EmulatorArgs, EmulatorConfig, ORGANIZATION_SCOPES, RateLimit, RuntimeKnobs, SCIM_SCOPES,
    TenantProfile, default_client_scopes,
};
pub use faults::{FaultKind, FaultRule, FaultRuleSpec, Phase, Trigger};
pub use layers::call_log::CallRecord;

/// An emulator serving on a local port until [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    addr: SocketAddr,
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
    /// `http://127.0.0.1:PORT`: the API base URL (audience `{base_url}/api/v2/`).
    pub fn base_url(&self) -> String {
        base_url_for(self.addr)
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

fn base_url_for(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
}

/// Binds `config.listen` (port 0 allowed) and serves on the current tokio runtime.
pub async fn start(config: EmulatorConfig) -> io::Result<RunningEmulator> {
    let keys = tokio::task::spawn_blocking(token::TokenKeys::generate)
        .await
        .map_err(io::Error::other)?
        .map_err(io::Error::other)?;
    let certificates = pem::TenantCertificates::generate(&config.domain)
        .map_err(|e| io::Error::other(format!("tenant certificates: {e}")))?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let shared = state::Shared::new(&config, base_url_for(addr), keys, certificates)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let app = router::app(Arc::new(shared));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = axum::serve(
        KillableListener(listener),
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
    Ok(RunningEmulator { addr, stop, task })
}

/// A TCP listener whose connections a handler can kill.
struct KillableListener(TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        KillableStream {
                            inner: stream,
                            killed: Arc::new(AtomicBool::new(false)),
                        },
                        addr,
                    );
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream that fails all I/O once killed.
struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
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
        ConnHandle(stream.io().killed.clone())
    }
}
