//! A store on a fresh database per test: a SQLite file in a temporary
//! directory, or, when `FERRY_TEST_DATABASE_URL` names a PostgreSQL server, a
//! fresh `ferry_test_<uuid>` database there, dropped when the test ends.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use ferry_dicom_store::blob::{BlobStore, FsBlobStore};
use ferry_dicom_store::{
    AccessError, AccessEvent, IngestContext, Principal, Store, StoreConfig, StoreState,
    StudyAccess, StudyScope,
};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};
use tempfile::TempDir;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A fixture file's path.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/dicom")
        .join(name)
}

/// A fixture file's bytes.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("the fixture exists")
}

/// A fresh UID under the UUID-derived root `2.25`.
pub fn fresh_uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}

/// A fixture rewritten: `edit` changes the data set, and the file meta group's
/// SOP Instance UID follows the data set's.
pub fn rewrite(name: &str, edit: impl FnOnce(&mut dicom_object::DefaultDicomObject)) -> Vec<u8> {
    let mut object = dicom_object::open_file(fixture(name)).expect("the fixture parses");
    edit(&mut object);
    if let Ok(uid) = object.element(tags::SOP_INSTANCE_UID) {
        let uid = uid
            .to_str()
            .expect("a UID")
            .trim_end_matches('\0')
            .to_owned();
        object.update_meta(|meta| meta.media_storage_sop_instance_uid = uid);
    }
    let mut out = Vec::new();
    object.write_all(&mut out).expect("the object writes");
    out
}

/// Sets a text attribute.
pub fn put(
    object: &mut dicom_object::DefaultDicomObject,
    tag: dicom_core::Tag,
    vr: VR,
    value: &str,
) {
    object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// A copy of a fixture with a new SOP Instance UID (same study and series).
pub fn fresh_instance(name: &str) -> Vec<u8> {
    rewrite(name, |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid())
    })
}

/// The test's database.
pub struct TestDb {
    pub pool: AnyPool,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(dir: &Path) -> TestDb {
        sqlx::any::install_default_drivers();
        let (url, postgres) = match std::env::var("FERRY_TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                let name = format!("ferry_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::AnyConnection::connect(&admin_url)
                    .await
                    .expect("FERRY_TEST_DATABASE_URL must reach a PostgreSQL server");
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create a test database");
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!(
                    "{}/{name}",
                    &base[..base.rfind('/').expect("a URL with a database name")]
                );
                (url, Some((admin_url, name)))
            }
            _ => (
                format!("sqlite://{}?mode=rwc", dir.join("ferry.db").display()),
                None,
            ),
        };
        let sqlite = postgres.is_none();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_str(&url).expect("a database URL"))
            .await
            .expect("the test database opens");
        if sqlite {
            SQLITE_MIGRATIONS.run(&pool).await.expect("migrations run");
        } else {
            POSTGRES_MIGRATIONS
                .run(&pool)
                .await
                .expect("migrations run");
        }
        TestDb { pool, postgres }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside any runtime we could borrow; use a thread of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin_url).await {
                        let _ = conn
                            .execute(
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                    }
                });
                Ok::<(), std::io::Error>(())
            })
            .join();
        }
    }
}

/// Tokens `reader`, `island` (stores for facility A, reads A), `county`
/// (stores for B, reads B) and `admin` (reads everything, may not store).
#[derive(Debug, Default)]
pub struct FakeAccess {
    pub facility_a: i64,
    pub facility_b: i64,
    pub events: Mutex<Vec<(String, AccessEvent)>>,
}

impl StudyAccess for FakeAccess {
    fn authenticate<'a>(
        &'a self,
        bearer_token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AccessError>> {
        let limited = StudyScope::facility;
        let principal = match bearer_token {
            "island" => Some(Principal {
                subject: "user:1".to_owned(),
                scope: limited(self.facility_a),
                store_facility: Some(self.facility_a),
            }),
            "county" => Some(Principal {
                subject: "user:2".to_owned(),
                scope: limited(self.facility_b),
                store_facility: Some(self.facility_b),
            }),
            "admin" => Some(Principal {
                subject: "user:3".to_owned(),
                scope: StudyScope::All,
                store_facility: None,
            }),
            _ => None,
        };
        async move { Ok(principal) }.boxed()
    }

    fn audit<'a>(
        &'a self,
        principal: &'a Principal,
        event: AccessEvent,
    ) -> BoxFuture<'a, Result<(), AccessError>> {
        self.events
            .lock()
            .expect("not poisoned")
            .push((principal.subject.clone(), event));
        async { Ok(()) }.boxed()
    }
}

/// A store over a fresh database, with two facilities.
pub struct TestStore {
    pub store: Store,
    pub db: TestDb,
    pub dir: TempDir,
    pub facility_a: i64,
    pub facility_b: i64,
    pub access: Arc<FakeAccess>,
}

async fn insert_facility(pool: &AnyPool, name: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO facility (name, tier, time_zone, created_at, updated_at) \
         VALUES ($1, 'primary', 'UTC', 0, 0) RETURNING id",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .expect("a facility")
}

impl TestStore {
    pub async fn new() -> TestStore {
        Self::with_blobs(None).await
    }

    /// A store over the given blob backend (files under the test's directory
    /// when `None`).
    pub async fn with_blobs(blobs: Option<Arc<dyn BlobStore>>) -> TestStore {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = TestDb::new(dir.path()).await;
        let facility_a = insert_facility(&db.pool, "Island clinic").await;
        let facility_b = insert_facility(&db.pool, "County hospital").await;
        let store = match blobs {
            None => open_store(&db, dir.path()).await,
            Some(blobs) => Store::open(
                db.pool.clone(),
                blobs,
                StoreConfig::new(dir.path().join("staging")),
            )
            .await
            .expect("the store opens"),
        };
        store.recover().await.expect("recovery on an empty store");
        TestStore {
            store,
            db,
            dir,
            facility_a,
            facility_b,
            access: Arc::new(FakeAccess {
                facility_a,
                facility_b,
                events: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn blob_root(&self) -> PathBuf {
        self.dir.path().join("blobs")
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.dir.path().join("staging")
    }

    /// Opens a second handle on the same database and directories, as a
    /// restarted node would.
    pub async fn reopen(&self) -> Store {
        open_store(&self.db, self.dir.path()).await
    }

    pub fn state(&self) -> StoreState {
        StoreState {
            store: self.store.clone(),
            access: self.access.clone(),
            base_url: "/dicomweb".to_owned(),
            public_root: None,
            max_request_bytes: 8 << 20,
            max_parts: ferry_dicom_store::DEFAULT_MAX_PARTS,
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.db.pool)
            .await
            .expect("a count")
    }

    /// Journal rows that name a blob no index row points to: an unfinished
    /// ingest. Keys reserved and not yet used name empty files, and the keys
    /// of instances stored whole stay journalled until a later commit
    /// clears them; neither is counted.
    pub async fn journal_blobs(&self) -> usize {
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT j.blob_key FROM dicom_ingest_journal j \
             LEFT JOIN dicom_instance i ON i.blob_key = j.blob_key WHERE i.id IS NULL",
        )
        .fetch_all(&self.db.pool)
        .await
        .expect("journal keys");
        keys.iter()
            .filter(|k| std::fs::metadata(self.blob_root().join(k)).is_ok_and(|m| m.len() > 0))
            .count()
    }

    /// Blob files under the blob root, not counting the empty files of keys
    /// reserved for ingests to come.
    pub fn blob_files(&self) -> usize {
        nonempty_files_under(&self.blob_root())
    }

    pub fn staged_files(&self) -> usize {
        std::fs::read_dir(self.staging_dir())
            .map(|e| e.count())
            .unwrap_or(0)
    }
}

async fn open_store(db: &TestDb, dir: &Path) -> Store {
    let blobs = FsBlobStore::new(dir.join("blobs")).expect("a blob store");
    Store::open(
        db.pool.clone(),
        Arc::new(blobs),
        StoreConfig::new(dir.join("staging")),
    )
    .await
    .expect("the store opens")
}

/// What the rule tests leave beside their stored CT instance in `study`:
/// that study with a second series (CT and MR), one more instance in a
/// study of its own, and no trace of `refused_study`, whose only instance
/// was refused.
pub async fn assert_filed_by_the_rules(t: &TestStore, study: &str, refused_study: &str) {
    let row = t
        .store
        .study(study)
        .await
        .expect("the index answers")
        .expect("the study is indexed");
    assert_eq!((row.num_series, row.num_instances), (2, 2));
    assert_eq!(row.modalities, "CT\\MR");
    assert!(
        t.store
            .study(refused_study)
            .await
            .expect("the index answers")
            .is_none(),
        "a refused instance left its study behind"
    );
    assert_eq!(t.count("dicom_study").await, 2);
    assert_eq!(t.count("dicom_series").await, 3);
    assert_eq!(t.count("dicom_instance").await, 3);
    assert_eq!(t.count("dicom_instance_metadata").await, 3);
}

/// Who is storing: a facility, with no patient or study asked for.
pub fn ctx(facility_id: i64) -> IngestContext {
    IngestContext {
        facility_id,
        ..IngestContext::default()
    }
}

/// Files with something in them under `dir` and its subdirectories: a
/// reserved key's file stays empty until an instance is written into it.
pub fn nonempty_files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        nonempty_files_under(&path)
                    } else {
                        usize::from(std::fs::metadata(&path).is_ok_and(|m| m.len() > 0))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
