//! Building and running the application: the shape tests use, with port 0.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::db::Db;
use crate::state::AppState;
use crate::telemetry::Metrics;

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens the database, applies the migrations and binds the listener. The
    /// address may use port 0; [`Application::local_addr`] says which was chosen.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings.database_url(), settings.database_max_connections)
            .await
            .context("opening the database")?;
        db.migrate().await.context("applying migrations")?;
        Self::with_db(settings, db).await
    }

    /// As [`Application::build`], on a database that is already open and migrated.
    pub async fn with_db(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let metrics = Metrics::new().context("registering metrics")?;
        let state = AppState::new(db, settings, metrics);
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::router::build(self.state.clone());
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "ferry listening");
        let sweeper = tokio::spawn(crate::sweeper::run(self.state.clone()));
        let notifier = self.state.notifier.clone();
        let shutdown = async move {
            shutdown.await;
            notifier.close();
        };
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        sweeper.abort();
        self.state.db.close().await;
        tracing::info!("ferry stopped");
        Ok(())
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
