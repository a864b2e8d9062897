//! A PostgreSQL server of the benchmark's own, in a temporary directory, for
//! the runs beside Orthanc: those run in a network namespace holding only
//! `lo` (see [`crate::orthanc::isolated`]), from which the machine's
//! PostgreSQL cannot be reached. Debian's server binaries, durable as
//! shipped (`fsync` and `synchronous_commit` on), run as the `postgres`
//! user, since the server refuses to run as root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use sqlx::Connection;
use tokio::process::{Child, Command};

const DEBIAN_SERVERS: &str = "/usr/lib/postgresql";

pub struct PrivatePostgres {
    /// An administrative URL: the `postgres` role on the `postgres` database.
    pub url: String,
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub async fn start(port: u16) -> anyhow::Result<PrivatePostgres> {
        let bin = server_binaries()?;
        let (uid, gid) = postgres_user()?;
        let dir = tempfile::tempdir()?;
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
            .context("hand the data directory to the postgres user")?;
        let data = dir.path().join("data");
        let status = Command::new(bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8"])
            .arg("--pgdata")
            .arg(&data)
            .uid(uid)
            .gid(gid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .context("initdb")?;
        anyhow::ensure!(status.success(), "initdb failed: {status}");
        let child = Command::new(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=200"])
            .args(["-c", "shared_buffers=256MB"])
            .uid(uid)
            .gid(gid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start postgres")?;
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        for _ in 0..100 {
            if let Ok(conn) = sqlx::PgConnection::connect(&url).await {
                conn.close().await?;
                return Ok(PrivatePostgres {
                    url,
                    port,
                    child,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the private PostgreSQL did not answer on port {port}")
    }

    /// Creates a database for a peer that does not create its own.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    /// A fast shutdown: PostgreSQL's own, so no backend outlives it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .await?;
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("PostgreSQL did not stop")??;
        Ok(())
    }
}

/// The newest Debian server's `bin` directory.
fn server_binaries() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_SERVERS)
        .with_context(|| format!("{DEBIAN_SERVERS}: install postgresql"))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .with_context(|| format!("no server with initdb under {DEBIAN_SERVERS}"))
}

/// The `postgres` user's ids, read from the home directory Debian gives it.
fn postgres_user() -> anyhow::Result<(u32, u32)> {
    let home = Path::new("/var/lib/postgresql");
    let meta = std::fs::metadata(home).context("/var/lib/postgresql: install postgresql")?;
    anyhow::ensure!(meta.uid() != 0, "{} belongs to root", home.display());
    Ok((meta.uid(), meta.gid()))
}
