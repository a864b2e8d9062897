//! The database: one `AnyPool` over SQLite or PostgreSQL (see the crate docs for
//! why), the embedded migrations of each engine, and write transactions.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// A transaction on whichever engine is configured.
pub type Tx = Transaction<'static, Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Cheap to clone: the pool is an `Arc` inside.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("could not create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("could not connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("could not apply the migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Connects and prepares every connection: on SQLite, WAL with full fsync on
    /// commit (an acknowledged write must survive a crash), foreign keys on, and a
    /// busy timeout so a writer waits for another instead of failing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        if engine == Engine::Sqlite {
            ensure_sqlite_parent_dir(url)?;
        }
        let options = AnyConnectOptions::from_str(url).map_err(DbError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            // A SQLite connection is a file handle in this process: there is
            // nothing to ping, and the ping is a round trip to its worker
            // thread on every acquire. A PostgreSQL one can die with its server.
            .test_before_acquire(engine == Engine::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    } else {
                        // PostgreSQL compiles a query to machine code when its
                        // estimated cost is high, which scope conditions over
                        // large tables reach; for queries that run in
                        // milliseconds the compiling is most of the time (tens
                        // to hundreds of milliseconds, on every execution).
                        conn.execute("SET jit = off").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        Ok(Self { pool, engine })
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.engine {
            Engine::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Engine::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes
    /// later fails with `SQLITE_BUSY` when another writer committed in between,
    /// instead of waiting. PostgreSQL serialises writers on row locks.
    ///
    /// Safe to drop at any point, as a request whose client goes away is
    /// (see `ferry_dicom_store::index::begin_write`).
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let engine = match self.engine {
            Engine::Sqlite => ferry_dicom_store::index::Engine::Sqlite,
            Engine::Postgres => ferry_dicom_store::index::Engine::Postgres,
        };
        ferry_dicom_store::index::begin_write(&self.pool, engine).await
    }

    /// A transaction that only reads: one consistent view, taking no write
    /// lock, so reads run beside each other and beside a writer. Nothing may
    /// be written in it (on SQLite a write there fails rather than waits
    /// when another writer got in first); a read's audit events go to the
    /// [`crate::audit::journal::Journal`].
    ///
    /// Begun on a task of its own, as [`begin_write`](Self::begin_write) is
    /// and for the same reason: a caller dropped mid-`BEGIN` must not leave
    /// a pooled connection inside the transaction (on SQLite, holding a
    /// snapshot that keeps the write-ahead log from being checkpointed).
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        let pool = self.pool.clone();
        match tokio::spawn(async move { pool.begin().await }).await {
            Ok(begun) => begun,
            Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
            Err(_) => Err(sqlx::Error::PoolClosed),
        }
    }

    /// On PostgreSQL, the rest of `tx` runs its statements on generic plans,
    /// made once per connection. PostgreSQL plans a prepared statement
    /// afresh on every execution while it judges that better than a generic
    /// plan, which a statement of optional filters (`$5 = '' OR ...`) over
    /// several joins makes it judge: the consultation list spent 4 ms
    /// planning for 0.3 ms of execution, every time. Not for a transaction
    /// that searches by a pattern (`LIKE $1`), which needs the custom plan's
    /// index bounds. Nothing on SQLite, which plans each statement once.
    pub async fn plan_generically(&self, tx: &mut Tx) -> Result<(), sqlx::Error> {
        if self.engine == Engine::Postgres {
            sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The file of a SQLite URL (`sqlite://path?options`); `None` for
/// PostgreSQL or an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

fn ensure_sqlite_parent_dir(url: &str) -> Result<(), DbError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|source| DbError::DataDir {
                path: parent.display().to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Db;

    /// A request whose client goes away is dropped at whatever await it
    /// has reached, `begin_write` included. However late the drop, the
    /// connection must go back to the pool outside any transaction: one
    /// left inside `BEGIN IMMEDIATE` holds SQLite's write lock, and every
    /// later write fails with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_begin_dropped_at_any_point_leaves_no_transaction_behind() {
        let dir = tempfile::tempdir().expect("a directory");
        let url = format!("sqlite://{}/ferry.db?mode=rwc", dir.path().display());
        let db = Db::connect(&url, 4).await.expect("connected");
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(db.pool())
            .await
            .expect("a table");
        // Drops land before, during and after the BEGIN's round trips to
        // the connection's worker thread, a few microseconds each.
        for attempt in 0..600u64 {
            let wait = Duration::from_micros(attempt % 300);
            if let Ok(Ok(tx)) = tokio::time::timeout(wait, db.begin_write()).await {
                drop(tx);
            }
        }
        for n in 0..8 {
            let written = tokio::time::timeout(Duration::from_secs(5), async {
                let mut tx = db.begin_write().await?;
                sqlx::query("INSERT INTO t (n) VALUES ($1)")
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            })
            .await;
            assert!(
                matches!(written, Ok(Ok(()))),
                "write {n} after the dropped begins: {written:?}"
            );
        }
    }
}
