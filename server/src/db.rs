//! The database: one `AnyPool` over SQLite or PostgreSQL (see the crate docs for
//! why), the embedded migrations of each engine, and write transactions.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// How long a SQLite writer waits for its turn, as long as SQLite's own
/// busy timeout lets it wait for another process's writer.
const SQLITE_WRITE_WAIT: Duration = Duration::from_secs(10);

/// A transaction on whichever engine is configured. It is used as the
/// connection it runs on (`&mut *tx`); a writing one on SQLite also holds
/// this process's turn at the write lock until it ends.
pub struct Tx {
    // Declared first, so it is dropped first: a commit is done before the
    // turn passes, and a dropped transaction's rollback is already sent to
    // its connection (the next writer's BEGIN waits at SQLite's own lock
    // for the moment that rollback takes).
    inner: Transaction<'static, Any>,
    _turn: Option<OwnedSemaphorePermit>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

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
    /// SQLite's writers take turns here, first come first served, before
    /// they ask for the write lock. SQLite lets one writer in at a time and
    /// has the others poll, sleeping longer after each miss (up to 100 ms),
    /// so with many writers waiting one that kept missing waited far longer
    /// than its place in the queue: a booking's p99 under contention was
    /// eight times its median.
    writers: Arc<Semaphore>,
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
        Ok(Self {
            pool,
            engine,
            writers: Arc::new(Semaphore::new(1)),
        })
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
    ///
    /// On SQLite the writers of this process first wait their turn, in the
    /// order they came, for as long as SQLite's busy timeout would have let
    /// them wait: a writer that cannot have it by then fails as it would
    /// have at the lock.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let (engine, turn) = match self.engine {
            Engine::Sqlite => {
                let turn =
                    tokio::time::timeout(SQLITE_WRITE_WAIT, self.writers.clone().acquire_owned())
                        .await
                        .map_err(|_| sqlx::Error::PoolTimedOut)?
                        .map_err(|_| sqlx::Error::PoolClosed)?;
                (ferry_dicom_store::index::Engine::Sqlite, Some(turn))
            }
            Engine::Postgres => (ferry_dicom_store::index::Engine::Postgres, None),
        };
        let inner = ferry_dicom_store::index::begin_write(&self.pool, engine).await?;
        Ok(Tx { inner, _turn: turn })
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
            Ok(begun) => begun.map(|inner| Tx { inner, _turn: None }),
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
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::Db;

    /// SQLite's writers get the write lock in the order they asked for it,
    /// whoever had to wait longest first, however many wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_writers_take_turns_in_the_order_they_asked() {
        let dir = tempfile::tempdir().expect("a directory");
        let url = format!("sqlite://{}/ferry.db?mode=rwc", dir.path().display());
        let db = Db::connect(&url, 8).await.expect("connected");
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(db.pool())
            .await
            .expect("a table");
        let first = db.begin_write().await.expect("the first writer");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut writers = Vec::new();
        for n in 0..6i64 {
            let (db, order) = (db.clone(), order.clone());
            writers.push(tokio::spawn(async move {
                let mut tx = db.begin_write().await?;
                order.lock().expect("the order").push(n);
                sqlx::query("INSERT INTO t (n) VALUES ($1)")
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }));
            // Each asks after the one before is surely waiting.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        first.commit().await.expect("the first commits");
        for writer in writers {
            writer.await.expect("joined").expect("written");
        }
        assert_eq!(*order.lock().expect("the order"), vec![0, 1, 2, 3, 4, 5]);
    }

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
