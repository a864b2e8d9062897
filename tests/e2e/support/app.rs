//! `spawn_app()`: the whole server on a random port with its own temporary data
//! directory and its own database: a SQLite file, or, when
//! `FERRY_TEST_DATABASE_URL` names a PostgreSQL server, a fresh database there
//! that is dropped when the test ends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferry_server::audit::Actor;
use ferry_server::auth::Role;
use ferry_server::config::Settings;
use ferry_server::db::Db;
use ferry_server::facility::{NewFacility, Tier};
use ferry_server::patient::{NewPatient, Sex};
use ferry_server::startup::Application;
use ferry_server::user::NewUser;
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";
/// The `metrics_token` of every test server: `/metrics` wants it.
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// The database a test runs on.
pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(data_dir: &Path) -> TestDb {
        sqlx::any::install_default_drivers();
        match std::env::var("FERRY_TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                let name = format!("ferry_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::AnyConnection::connect(&admin_url)
                    .await
                    .expect("FERRY_TEST_DATABASE_URL must reach a PostgreSQL server");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create a test database");
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!(
                    "{}/{name}",
                    &base[..base.rfind('/').expect("a URL with a database name")]
                );
                TestDb {
                    url,
                    postgres: Some((admin_url, name)),
                }
            }
            _ => TestDb {
                url: format!("sqlite://{}?mode=rwc", data_dir.join("ferry.db").display()),
                postgres: None,
            },
        }
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
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
                Ok::<(), std::io::Error>(())
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// `https` for a server started by [`spawn_app_https`], else `http`.
    pub scheme: &'static str,
    /// The CA and certificate of an HTTPS server, kept while it runs.
    pub certificates: Option<TempDir>,
    /// The DIMSE listener (always on in tests, on a random port).
    pub dimse_addr: SocketAddr,
    /// The DICOM TLS listener, when the test configured one.
    pub dimse_tls_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    /// A handle on the same database, for arranging and checking rows.
    pub db: Db,
    /// The server's imaging store, for seeding studies.
    pub imaging: ferry_server::imaging::Imaging,
    pub test_db: TestDb,
    pub data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub fn test_settings(data_dir: &Path, database_url: &str) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: data_dir.to_path_buf(),
        database_url: Some(SecretString::from(database_url.to_owned())),
        database_max_connections: 4,
        dimse_listen: "127.0.0.1:0".to_owned(),
        log: std::env::var("TEST_LOG").unwrap_or_else(|_| "off".to_owned()),
        metrics_token: Some(SecretString::from(METRICS_TOKEN)),
        // Work on the web client reruns the browser journeys against the
        // files as they are, with the test binary run directly (cargo would
        // rebuild the server, which embeds them).
        web_dir: std::env::var_os("FERRY_TEST_WEB_DIR").map(PathBuf::from),
        ..Settings::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let test_db = TestDb::new(data_dir.path()).await;
    let mut settings = test_settings(data_dir.path(), &test_db.url);
    configure(&mut settings);
    start(settings, data_dir, test_db).await
}

impl TestApp {
    /// A second node on the same database, with files of its own: what two
    /// `ferry` processes sharing PostgreSQL are.
    pub async fn another_node(&self) -> TestApp {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let settings = test_settings(data_dir.path(), &self.test_db.url);
        let shared = TestDb {
            url: self.test_db.url.clone(),
            postgres: None,
        };
        start(settings, data_dir, shared).await
    }
}

/// As [`spawn_app`], speaking HTTPS (HTTP/2 and HTTP/1.1, as ALPN
/// chooses) with a certificate for 127.0.0.1 from a CA made for the test;
/// `client` trusts that CA, and `url` names `https://` addresses.
pub async fn spawn_app_https() -> TestApp {
    let certificates = tempfile::tempdir().expect("a directory");
    crate::support::tls::certificates(certificates.path()).await;
    let dir = certificates.path().to_owned();
    let mut app = spawn_app_with(|s| {
        s.tls_certificate = Some(dir.join("server.crt"));
        s.tls_private_key = Some(dir.join("server.key"));
    })
    .await;
    let ca = std::fs::read(dir.join("ca.crt")).expect("the CA certificate");
    app.client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("a PEM certificate"))
        .build()
        .expect("an HTTPS client");
    app.certificates = Some(certificates);
    app
}

async fn start(settings: Settings, data_dir: TempDir, test_db: TestDb) -> TestApp {
    ferry_test_tools::require();
    if std::env::var("TEST_LOG").is_ok() {
        ferry_server::telemetry::init(&settings);
    }
    let app = Application::build(settings.clone())
        .await
        .expect("the application starts");
    let addr = app.local_addr().expect("a bound address");
    let dimse_addr = app
        .dimse_addr()
        .unwrap_or_else(|| "127.0.0.1:0".parse().expect("an address"));
    let dimse_tls_addr = app.dimse_tls_addr();
    let db = app.state().db.clone();
    let imaging = app.state().imaging.clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        scheme: if settings.tls_certificate.is_some() {
            "https"
        } else {
            "http"
        },
        certificates: None,
        dimse_addr,
        dimse_tls_addr,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
        db,
        imaging,
        test_db,
        data_dir,
        shutdown: Some(tx),
    }
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub token: String,
}

/// Three tiers: a tertiary hospital, a county hospital under it, two island
/// clinics under that.
#[derive(Debug, Clone, Copy)]
pub struct Consortium {
    pub tertiary: i64,
    pub county: i64,
    pub island_a: i64,
    pub island_b: i64,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        send(self.request(Method::GET, path, Some(token))).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(Method::POST, path, Some(token)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(Method::PATCH, path, Some(token)).json(&body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("the server answers")
    }

    /// Creates the facilities through the same code the API and CLI use.
    pub async fn consortium(&self) -> Consortium {
        let actor = Actor::system("test");
        let mut tx = self.db.begin_write().await.expect("a transaction");
        let make = |name: &str, tier, parent_id| NewFacility {
            name: name.to_owned(),
            tier,
            parent_id,
            time_zone: "Asia/Shanghai".to_owned(),
            contact: String::new(),
        };
        let tertiary =
            ferry_server::facility::create(&mut tx, &actor, make("Tertiary", Tier::Tertiary, None))
                .await
                .expect("tertiary")
                .id;
        let county = ferry_server::facility::create(
            &mut tx,
            &actor,
            make("County", Tier::Secondary, Some(tertiary)),
        )
        .await
        .expect("county")
        .id;
        let island_a = ferry_server::facility::create(
            &mut tx,
            &actor,
            make("Island A", Tier::Village, Some(county)),
        )
        .await
        .expect("island a")
        .id;
        let island_b = ferry_server::facility::create(
            &mut tx,
            &actor,
            make("Island B", Tier::Village, Some(county)),
        )
        .await
        .expect("island b")
        .id;
        tx.commit().await.expect("commit");
        Consortium {
            tertiary,
            county,
            island_a,
            island_b,
        }
    }

    /// Seeds the demo consortium (every demo account's password is
    /// [`PASSWORD`]) and its studies, as `ferry serve --demo` does.
    pub async fn with_demo(&self) {
        ferry_server::demo::seed(&self.db, Some(PASSWORD.to_owned()))
            .await
            .expect("seed")
            .expect("seeded");
        ferry_server::demo::studies::seed_studies(&self.imaging)
            .await
            .expect("the demo studies");
    }

    /// Creates a user with one role and signs them in.
    pub async fn user(&self, username: &str, role: Role, facility_id: i64) -> TestUser {
        let mut tx = self.db.begin_write().await.expect("a transaction");
        let specialties = if role.needs_specialty() {
            vec!["cardiology".to_owned()]
        } else {
            vec![]
        };
        let id = ferry_server::user::create(
            &mut tx,
            &Actor::system("test"),
            NewUser {
                username: username.to_owned(),
                display_name: username.to_owned(),
                password: PASSWORD.to_owned(),
                facility_id,
                roles: vec![role],
                specialties,
            },
        )
        .await
        .expect("the user is created");
        tx.commit().await.expect("commit");
        let response = self.login(username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "{username} signs in");
        let body: Value = response.json().await.expect("a JSON body");
        TestUser {
            id,
            username: username.to_owned(),
            token: body["token"].as_str().expect("a token").to_owned(),
        }
    }

    /// Registers a patient at a facility directly, as the CLI or demo would.
    pub async fn patient_at(
        &self,
        facility_id: i64,
        national_id: &str,
        record_number: &str,
    ) -> i64 {
        let mut tx = self.db.begin_write().await.expect("a transaction");
        let (id, _) = ferry_server::patient::register_direct(
            &mut tx,
            &Actor::system("test"),
            facility_id,
            NewPatient {
                national_id: Some(national_id.to_owned()),
                family_name: "Wang".to_owned(),
                given_name: "Xiuying".to_owned(),
                sex: Sex::Female,
                birth_date: "1958-03-12".to_owned(),
                phone: String::new(),
                record_number: record_number.to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("the patient is registered");
        tx.commit().await.expect("commit");
        id
    }

    /// Runs `ferry --config <this app's config> ARGS…` in-process, as a person
    /// at the terminal would; true when the command succeeded.
    pub async fn cli(&self, args: &[&str]) -> bool {
        let path = self.data_dir.path().join("ferry.toml");
        std::fs::write(
            &path,
            format!(
                "data_dir = {:?}\ndatabase_url = {:?}\nlog = \"off\"\n",
                self.data_dir.path(),
                self.test_db.url
            ),
        )
        .expect("write the configuration");
        ferry_cli(&path, args).await
    }

    /// The Prometheus text of `/metrics`, read with the test token.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.db.pool())
            .await
            .expect("a count")
    }
}

/// Runs the command line with the configuration file `config`, as an
/// operator would on another install; whether it exits successfully.
pub async fn ferry_cli(config: &std::path::Path, args: &[&str]) -> bool {
    let config = config.to_str().expect("a UTF-8 path");
    let argv = ["ferry", "--config", config]
        .into_iter()
        .chain(args.iter().copied());
    let code =
        ferry_server::cli::run(<ferry_server::cli::Cli as clap::Parser>::parse_from(argv)).await;
    format!("{code:?}") == format!("{:?}", std::process::ExitCode::SUCCESS)
}

pub async fn send(builder: RequestBuilder) -> (StatusCode, Value) {
    let response = builder.send().await.expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts the error envelope and its code.
pub fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "unexpected status; body: {body}");
    assert_eq!(
        body["error"]["code"], want_code,
        "unexpected error code; body: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a message: {body}"
    );
    assert!(
        body["error"]["details"].is_object(),
        "details is an object: {body}"
    );
}

/// Completes 17 digits into a resident identity number with its GB 11643
/// check character, written out here rather than borrowed from the server so
/// that the tests check the server's arithmetic instead of repeating it.
pub fn resident_id(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    assert_eq!(first17.len(), 17, "{first17:?} is not 17 digits");
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).expect("a digit") * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}
