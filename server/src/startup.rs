//! Building and running the application: the shape tests use, with port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ferry_dicom_store::dimse::DimseConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::datadir::NodeLock;
use crate::db::Db;
use crate::imaging::dimse::ModalityService;
use crate::imaging::Imaging;
use crate::server_state::ServerState;
use crate::state::AppState;
use crate::telemetry::Metrics;

pub struct Application {
    /// Held until the server has stopped: no other server recovers or
    /// writes this data directory meanwhile.
    lock: NodeLock,
    listener: TcpListener,
    /// The web listener's TLS, when `tls_certificate` is set.
    web_tls: Option<tokio_rustls::TlsAcceptor>,
    /// The DIMSE listener; `None` when `dimse_listen` is `off`.
    dimse: Option<TcpListener>,
    /// The DICOM TLS listener, when configured.
    dimse_tls: Option<(TcpListener, ferry_dicom_store::dimse::DimseTls)>,
    /// The TLS of associations this node opens, when configured.
    dimse_tls_client: Option<ferry_dicom_store::dimse::DimseTlsClient>,
    state: ServerState,
}

impl Application {
    /// Locks the data directory, opens the database, applies the migrations
    /// and binds the listener. The address may use port 0;
    /// [`Application::local_addr`] says which was chosen.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // First of all: a second server on this directory stops here,
        // before it migrates, recovers or binds anything.
        let lock = NodeLock::acquire(&settings.data_dir, &settings.dicom_dir())?;
        let db = Db::connect(&settings.database_url(), settings.database_max_connections)
            .await
            .context("opening the database")?;
        db.migrate().await.context("applying migrations")?;
        Self::locked(settings, db, lock).await
    }

    /// As [`Application::build`], on a database that is already open and migrated.
    pub async fn with_db(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let lock = NodeLock::acquire(&settings.data_dir, &settings.dicom_dir())?;
        Self::locked(settings, db, lock).await
    }

    async fn locked(mut settings: Settings, db: Db, lock: NodeLock) -> anyhow::Result<Self> {
        let dimse_addr = settings.dimse_listen_addr().map_err(anyhow::Error::msg)?;
        let dimse_tls = settings.dimse_tls().map_err(anyhow::Error::msg)?;
        let dimse_tls_client = settings.dimse_tls_client().map_err(anyhow::Error::msg)?;
        let web_tls = settings.web_tls().map_err(anyhow::Error::msg)?;
        for origin in &settings.dicomweb_cors_origins {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && axum::http::HeaderValue::from_str(origin).is_ok();
            anyhow::ensure!(
                valid,
                "dicomweb_cors_origins: {origin:?} is not an origin like https://viewer.example"
            );
        }
        let store = crate::imaging::open_store(&settings, &db, lock.node_id()).await?;
        // Before anything can ingest: clean up what a crash left behind.
        let recovery = store
            .recover()
            .await
            .context("recovering the imaging store")?;
        tracing::info!(
            journal_rows = recovery.journal_rows,
            staged_files = recovery.staged_files,
            "imaging store recovered"
        );
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        // The port actually bound (0 asks for any), for the origins a
        // browser may open a WebSocket from ([`Settings::own_origins`]).
        settings.listen = listener.local_addr().context("the bound address")?;
        let dimse = match dimse_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the DIMSE listener {addr}"))?,
            ),
            None => None,
        };
        let dimse_tls = match dimse_tls {
            Some((addr, tls)) => Some((
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the DICOM TLS listener {addr}"))?,
                tls,
            )),
            None => None,
        };
        let keyed = {
            let mut conn = db.pool().acquire().await?;
            crate::patient::identity::key_unkeyed_names(&mut conn)
                .await
                .context("keying the names of patients registered before name keys")?
        };
        if keyed > 0 {
            tracing::info!(patients = keyed, "patient names keyed for candidate search");
        }
        let metrics = Metrics::new().context("registering metrics")?;
        let app = AppState::new(db.clone(), settings, metrics);
        let settings = &app.settings;
        let imaging = Imaging::new(
            db.clone(),
            app.journal.clone(),
            store,
            crate::policy::ConsentRule::from_setting(settings.sharing_consent_required),
        );
        // This process's name among the nodes, and its lease, held before
        // anything is accepted.
        let node = crate::cluster::node_name();
        crate::cluster::take(&db, &node)
            .await
            .context("taking this node's lease")?;
        let rooms = crate::call::bus::rooms(settings, &db, &node).await?;
        let owed = imaging
            .audit_what_is_owed()
            .await
            .context("writing the audit events owed by associations a stop cut off")?;
        if owed > 0 {
            tracing::warn!(
                studies = owed,
                "audit events owed by DIMSE associations a stop cut off were written"
            );
        }
        crate::notify::cluster::share(&app.notifier, &app.settings.database_url(), &app.db).await?;
        let state = ServerState::new(app, imaging, rooms, node)?;
        let interrupted = state
            .recordings
            .recover()
            .await
            .context("closing interrupted recordings")?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "recordings left open by a stopped process were closed"
            );
        }
        Ok(Self {
            lock,
            listener,
            web_tls,
            dimse,
            dimse_tls,
            dimse_tls_client,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the DIMSE listener is bound; `None` when it is off.
    pub fn dimse_addr(&self) -> Option<SocketAddr> {
        self.dimse.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where the DICOM TLS listener is bound; `None` when it is off.
    pub fn dimse_tls_addr(&self) -> Option<SocketAddr> {
        self.dimse_tls
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    pub fn state(&self) -> &ServerState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish and closes the pool. HTTP is served by
    /// [`crate::serve::serve`], with its timeouts and connection cap.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::router::build(self.state.clone());
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "ferry listening");
        let sweeper = tokio::spawn(crate::sweeper::run(self.state.clone()));
        let recorders = tokio::spawn(self.state.recordings.clone().start_awaited());
        let reap = reap(&self.state);
        let lease = tokio::spawn(crate::cluster::run(
            self.state.db.clone(),
            self.state.recordings.node().to_owned(),
            reap.clone(),
        ));
        let forwarder = self.state.settings.forwarding.then(|| {
            tokio::spawn(crate::imaging::forward::run(
                self.state.imaging.clone(),
                crate::imaging::forward::Sender {
                    calling_ae: self.state.settings.dimse_ae_title.clone(),
                    tls: self.dimse_tls_client.clone(),
                },
                std::time::Duration::from_millis(500),
                std::time::Duration::from_secs(self.state.settings.forwarding_lease_seconds.max(1)),
            ))
        });
        let notifier = self.state.notifier.clone();
        // One shutdown signal, fanned out to HTTP and DIMSE.
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            // An error means the sender is gone, which is a stop as well.
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let settings = &self.state.settings;
        let config = DimseConfig {
            ae_title: settings.dimse_ae_title.clone(),
            max_associations: settings.dimse_max_associations.max(1),
            idle_timeout: std::time::Duration::from_secs(
                settings.dimse_idle_timeout_seconds.max(1),
            ),
            staging_dir: Some(self.state.imaging.store().config().staging_dir.clone()),
            tls_client: self.dimse_tls_client.clone(),
            associations: self.state.imaging.associations().clone(),
            ..DimseConfig::default()
        };
        // One service for both listeners: a modality's associations are
        // counted against its limit whichever way it calls.
        let service = Arc::new(ModalityService::new(
            self.state.imaging.clone(),
            settings.dimse_max_associations_per_ae,
        ));
        let mut listeners = Vec::new();
        if let Some(listener) = self.dimse {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, ae_title = %config.ae_title, "DIMSE listening");
            }
            listeners.push(tokio::spawn(ferry_dicom_store::dimse::serve(
                listener,
                service.clone(),
                config.clone(),
                stopped(stop_rx.clone()),
            )));
        }
        if let Some((listener, tls)) = self.dimse_tls {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, ae_title = %config.ae_title, "DICOM TLS listening");
            }
            let config = DimseConfig {
                tls: Some(tls),
                ..config
            };
            listeners.push(tokio::spawn(ferry_dicom_store::dimse::serve(
                listener,
                service,
                config,
                stopped(stop_rx.clone()),
            )));
        }
        let http_shutdown = stopped(stop_rx);
        let stop_tx = Arc::new(stop_tx);
        let stop_on_signal = Arc::clone(&stop_tx);
        tokio::spawn(async move {
            shutdown.await;
            notifier.close();
            let _ = stop_on_signal.send(true);
        });
        let limits = crate::serve::Limits::from_settings(&self.state.settings);
        crate::serve::serve(self.listener, router, limits, self.web_tls, http_shutdown).await;
        // HTTP may also have stopped on an error: DIMSE stops with it.
        let _ = stop_tx.send(true);
        for dimse in listeners {
            // Lets running associations finish (up to the DIMSE grace period).
            if let Err(err) = dimse.await {
                tracing::error!(error = %err, "the DIMSE listener panicked");
            }
        }
        // Recordings end with their files synced and listed.
        self.state.recordings.shutdown().await;
        sweeper.abort();
        recorders.abort();
        lease.abort();
        // Calls still open through this node end, and the others hear so.
        crate::cluster::leave(&self.state.db, self.state.recordings.node(), &reap).await;
        // An outbox row cut off here is leased, and sent again once its
        // lease lapses: nothing is lost.
        if let Some(forwarder) = forwarder {
            forwarder.abort();
        }
        self.state.db.close().await;
        tracing::info!("ferry stopped");
        // Only now may another server take the directory over.
        drop(self.lock);
        Ok(())
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// What the lease loop does with a dead node's leavings, and with this
/// node's own when the others took it for dead.
fn reap(state: &ServerState) -> crate::cluster::Reap {
    let (db, recordings) = (state.db.clone(), state.recordings.clone());
    let dead: crate::cluster::Clear = Arc::new(move |node: String| {
        let (db, recordings) = (db.clone(), recordings.clone());
        Box::pin(async move { crate::call::presence::clear_node(&db, &recordings, &node).await })
    });
    let (db, rooms) = (state.db.clone(), state.rooms.clone());
    let lost: crate::cluster::Clear = Arc::new(move |node: String| {
        let (db, rooms) = (db.clone(), rooms.clone());
        Box::pin(async move { crate::call::presence::announce_again(&db, &rooms, &node).await })
    });
    crate::cluster::Reap { dead, lost }
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
