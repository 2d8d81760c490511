//! Running the server: bind, serve http or https, and stop gracefully on SIGINT/SIGTERM,
//! finishing the requests in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::app::build_router;
use crate::bootstrap::{ensure_admin_client, open_data_dir};
use crate::config::{Config, EdgeLimits, TlsMode};
use crate::state::AppState;
use crate::tls::ensure_self_signed;

/// How long in-flight requests get to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(config: Config) -> anyhow::Result<()> {
    let opened = open_data_dir(&config).await?;
    if let Some(path) = ensure_admin_client(&config, &opened).await? {
        // The path only: the secret stays in the 0600 file.
        println!(
            "created an admin client; its credentials are in {}",
            path.display()
        );
    }
    let tls = match &config.tls {
        TlsMode::Off => None,
        TlsMode::Files { cert, key } => Some((cert.clone(), key.clone())),
        TlsMode::SelfSigned => Some(ensure_self_signed(&config.data_dir)?),
    };
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let edge = config.edge;
    let state = AppState::new(config, opened);
    let app = build_router(state.clone());
    let listener = tokio::net::TcpListener::from_std(listener)?;

    let acceptor = match tls {
        None => {
            println!("hookhaven listening on http://{addr}");
            tracing::info!(%addr, "listening (http)");
            None
        }
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls_config = RustlsConfig::from_pem_file(&cert, &key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            println!(
                "hookhaven listening on https://{addr} (certificate {})",
                cert.display()
            );
            tracing::info!(%addr, "listening (https)");
            Some(TlsAcceptor::from(rustls_config.get_inner()))
        }
    };
    serve_connections(listener, app, acceptor, edge, shutdown_signal()).await;
    crate::rotation::flush_seal_counts(&state).await;
    tracing::info!("stopped");
    Ok(())
}

/// Room hyper's read buffer gets above the configured head limit: the edge middleware
/// refuses a head over the limit with a 431 envelope, and hyper's own (bodyless) 431 is
/// only the backstop for heads far past it.
const HEAD_BUFFER_MARGIN: usize = 8 * 1024;

/// The accept loop, for http and https alike: each connection takes a permit (past
/// `max_connections` a connection gets a canned 503 and is closed), TLS handshakes and
/// request heads must finish within `header_read_timeout`, and on `shutdown` the listener
/// closes and the connections in flight get [`DRAIN_TIMEOUT`] to finish their requests.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    edge: EdgeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(edge.header_read_timeout)
        .max_buf_size((edge.max_header_bytes + HEAD_BUFFER_MARGIN).max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(
            u32::try_from(edge.max_header_bytes + HEAD_BUFFER_MARGIN).unwrap_or(u32::MAX),
        );
    let builder = Arc::new(builder);
    let permits = Arc::new(Semaphore::new(edge.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse_connection(stream, tls.is_some(), peer));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = edge.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request)
            });
            let result = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%peer, "TLS handshake timed out; connection closed");
                            return;
                        }
                    };
                    let stream = ClosingTls(stream);
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                // Slow heads end here ("read header from client timeout"), as do clients
                // that hang up mid-request.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("requests still in flight after the drain timeout; stopping anyway");
        }
    }
}

/// A server TLS stream that says goodbye. hyper drops a connection without shutting it
/// down when it closes it for a slow head or after an idle keep-alive period; without a
/// TLS `close_notify` the client would see a truncated stream and might reuse the pooled
/// connection. On drop this queues the alert and writes it if the socket takes it now.
struct ClosingTls(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl Drop for ClosingTls {
    fn drop(&mut self) {
        struct TryWrite<'a>(&'a tokio::net::TcpStream);
        impl std::io::Write for TryWrite<'_> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.try_write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (tcp, tls) = self.0.get_mut();
        tls.send_close_notify();
        let mut out = TryWrite(tcp);
        while tls.wants_write() {
            if tls.write_tls(&mut out).is_err() {
                break;
            }
        }
    }
}

impl tokio::io::AsyncRead for ClosingTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ClosingTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// What a connection past the cap gets: on http a 503 envelope and a close; on https
/// (where answering would need a handshake) just the close.
async fn refuse_connection(mut stream: tokio::net::TcpStream, tls: bool, peer: SocketAddr) {
    tracing::warn!(%peer, "connection refused: the maximum number of connections is in use");
    if tls {
        return;
    }
    let body = crate::error::envelope(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "Too many connections; try again later",
        Some("too_many_connections"),
    )
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("stop signal received; finishing requests in flight");
}
