//! Running the server: bind, serve http or https, and stop gracefully on SIGINT/SIGTERM,
//! finishing the requests in flight.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

use crate::app::build_router;
use crate::bootstrap::{ensure_admin_client, open_data_dir};
use crate::config::{Config, TlsMode};
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
    let state = AppState::new(config, opened);
    let app = build_router(state).into_make_service_with_connect_info::<SocketAddr>();

    match tls {
        None => {
            println!("hookhaven listening on http://{addr}");
            tracing::info!(%addr, "listening (http)");
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?;
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
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                stopper.graceful_shutdown(Some(DRAIN_TIMEOUT));
            });
            axum_server::from_tcp_rustls(listener, rustls_config)
                .handle(handle)
                .serve(app)
                .await?;
        }
    }
    tracing::info!("stopped");
    Ok(())
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
