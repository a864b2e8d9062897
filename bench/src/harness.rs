//! A Ferry server in this process on a random port, on a fresh database of
//! either engine, with the same settings `ferry serve` would use.

use std::net::SocketAddr;

use anyhow::Context;
use ferry_server::audit::Actor;
use ferry_server::config::Settings;
use ferry_server::db::{Db, Tx};
use ferry_server::facility::{NewFacility, Tier};
use ferry_server::patient::{NewPatient, Sex};
use ferry_server::startup::Application;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Which engine a run is on.
#[derive(Debug, Clone)]
pub enum Engine {
    Sqlite,
    /// An administrative URL on a PostgreSQL server; the run creates its own
    /// database there and drops it afterwards.
    Postgres(String),
}

impl Engine {
    pub fn label(&self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres(_) => "PostgreSQL",
        }
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub dimse_addr: Option<SocketAddr>,
    pub db: Db,
    pub client: reqwest::Client,
    _data_dir: TempDir,
    postgres: Option<(String, String)>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn start(engine: &Engine) -> anyhow::Result<Server> {
        Self::start_with(engine, false).await
    }

    /// As [`start`](Self::start), with the DIMSE listener on a free port when `dimse`.
    pub async fn start_with(engine: &Engine, dimse: bool) -> anyhow::Result<Server> {
        Self::start_configured(engine, dimse, |_| {}, None).await
    }

    /// As [`start_with`](Self::start_with), with `tweak` applied to the
    /// settings, and the demo consortium and its studies seeded (with
    /// `demo_password`) when one is given.
    pub async fn start_configured(
        engine: &Engine,
        dimse: bool,
        tweak: impl FnOnce(&mut Settings),
        demo_password: Option<&str>,
    ) -> anyhow::Result<Server> {
        sqlx::any::install_default_drivers();
        let data_dir = tempfile::tempdir().context("a temporary data directory")?;
        let (url, postgres) = match engine {
            Engine::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.path().join("ferry.db").display()
                ),
                None,
            ),
            Engine::Postgres(admin) => {
                let name = format!("ferry_bench_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::AnyConnection::connect(admin)
                    .await
                    .with_context(|| format!("connect to {admin}"))?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                let base = admin.split('?').next().unwrap_or(admin);
                let root = &base[..base.rfind('/').context("a URL with a database name")?];
                (format!("{root}/{name}"), Some((admin.clone(), name)))
            }
        };
        let settings = Settings {
            listen: "127.0.0.1:0".parse()?,
            data_dir: data_dir.path().to_path_buf(),
            database_url: Some(SecretString::from(url)),
            log: "off".to_owned(),
            dimse_listen: if dimse { "127.0.0.1:0" } else { "off" }.to_owned(),
            // `--senders` runs that many associations of one title at once.
            dimse_max_associations_per_ae: 1000,
            ..Settings::default()
        };
        let mut settings = settings;
        tweak(&mut settings);
        let app = Application::build(settings).await?;
        if let Some(password) = demo_password {
            ferry_server::demo::seed(&app.state().db, Some(password.to_owned())).await?;
            ferry_server::demo::studies::seed_studies(&app.state().imaging).await?;
        }
        let addr = app.local_addr()?;
        let dimse_addr = app.dimse_addr();
        let db = app.state().db.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Ok(Server {
            addr,
            dimse_addr,
            db,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?,
            _data_dir: data_dir,
            postgres,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, token: &str, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    /// Posts and insists on `201 Created`.
    pub async fn create(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let (status, answer) = self.post(token, path, body).await?;
        anyhow::ensure!(status == 201, "POST {path} gave {status}: {answer}");
        Ok(answer)
    }

    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let body = serde_json::json!({ "username": username, "password": password });
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&body)
            .send()
            .await?;
        let answer: Value = response.json().await?;
        answer["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no token for {username}: {answer}"))
    }

    pub fn actor() -> Actor {
        Actor::system("bench")
    }

    /// Stops the server and drops a PostgreSQL database made for the run.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        self.db.close().await;
        if let Some((admin, name)) = self.postgres.take() {
            let mut conn = sqlx::AnyConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }
}

/// The consortium most benchmarks need: a tertiary hospital, an island
/// clinic under it, and one patient registered at the island. Returns the
/// ids of the hospital, the clinic and the patient.
pub async fn hospital_island_patient(tx: &mut Tx) -> anyhow::Result<(i64, i64, i64)> {
    let actor = Server::actor();
    let facility = |name: &str, tier, parent_id| NewFacility {
        name: name.to_owned(),
        tier,
        parent_id,
        time_zone: "Asia/Shanghai".to_owned(),
        contact: String::new(),
    };
    let tertiary =
        ferry_server::facility::create(tx, &actor, facility("Tertiary", Tier::Tertiary, None))
            .await?
            .id;
    let island = ferry_server::facility::create(
        tx,
        &actor,
        facility("Island", Tier::Village, Some(tertiary)),
    )
    .await?
    .id;
    let (patient, _) = ferry_server::patient::register_direct(
        tx,
        &actor,
        island,
        NewPatient {
            national_id: Some("110101195803120023".to_owned()),
            family_name: "Wang".to_owned(),
            given_name: "Xiuying".to_owned(),
            sex: Sex::Female,
            birth_date: "1958-03-12".to_owned(),
            phone: String::new(),
            record_number: "I-1".to_owned(),
            ..Default::default()
        },
    )
    .await?;
    Ok((tertiary, island, patient))
}
