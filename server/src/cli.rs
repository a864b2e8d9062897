//! The `ferry` command line: `serve`, `migrate`, `facility create`,
//! `user create`, `user password`, `audit verify`, `dicom import`,
//! `backup`, `restore` and `config check`.
//!
//! Commands report to the person at the terminal on stdout (that is their
//! output, not logging); the server itself logs through `tracing` only.
#![allow(clippy::print_stdout)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::audit::chain::{self, Verdict};
use crate::audit::Actor;
use crate::auth::Role;
use crate::config::Settings;
use crate::db::Db;
use crate::facility::{NewFacility, Tier};
use crate::startup::Application;
use crate::user::NewUser;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Ferry: telemedicine consultations and remote imaging for a medical consortium",
    long_about = "Ferry lets village and island clinics book tertiary-hospital experts, hold video \
                  consultations, share scans for remote reading and refer patients up and back down.\n\n\
                  Settings come from built-in defaults, then ferry.toml (or --config), then FERRY_* \
                  environment variables (e.g. FERRY_LISTEN, FERRY_DATA_DIR, FERRY_DATABASE_URL)."
)]
pub struct Cli {
    /// Configuration file (default: ./ferry.toml if present).
    #[arg(long, global = true, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage facilities.
    #[command(subcommand)]
    Facility(FacilityCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Work with the imaging store.
    #[command(subcommand)]
    Dicom(DicomCommand),
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy the database, the imaging store's files and the recordings into
    /// a new directory, with a manifest of checksums, while the server runs
    /// (the embedded SQLite default; see README, "Backups").
    Backup {
        /// A new or empty directory.
        dir: PathBuf,
    },
    /// Put a backup back into an empty data directory, checking every file
    /// against its manifest first, then verify the audit chain.
    Restore {
        /// A directory made by `ferry backup`.
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DicomCommand {
    /// Store every file under a folder (e.g. a CD's contents), filed under a
    /// facility; exits 1 if any file failed. Safe to re-run: instances
    /// already stored are counted, not stored twice. Run one import at a time.
    Import {
        dir: PathBuf,
        /// The facility the studies come from, by id or exact name.
        #[arg(long)]
        facility: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Seed a demo consortium (facilities, one user per role, patients) if the
    /// database is empty, and print the demo sign-in.
    #[arg(long)]
    pub demo: bool,
    /// Password for the demo users instead of a random one (with --demo).
    #[arg(long, requires = "demo", env = "FERRY_DEMO_PASSWORD")]
    pub demo_password: Option<String>,
    /// Listen address, overriding the configuration (e.g. 0.0.0.0:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum FacilityCommand {
    /// Add a facility.
    Create {
        #[arg(long)]
        name: String,
        /// tertiary, secondary, primary or village.
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
        /// IANA time zone, e.g. Asia/Shanghai.
        #[arg(long)]
        time_zone: String,
        /// Parent facility, by id or exact name; must be of a higher tier.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long, default_value = "")]
        contact: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin a random password is
    /// generated and printed once.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// Facility, by id or exact name.
        #[arg(long)]
        facility: String,
        /// admin, scheduler, clinician, expert or radiologist; repeat for several.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// Needed for experts and radiologists; repeat for several.
        #[arg(long = "specialty")]
        specialties: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (ends the user's sessions).
    Password {
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the configuration as `serve` would and try every part that can
    /// be wrong (files, directories, the database); exit 1 listing what is.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 1 and name the first broken link if any.
    Verify,
}

fn parse_tier(text: &str) -> Result<Tier, String> {
    Tier::parse(text).ok_or_else(|| "expected tertiary, secondary, primary or village".to_owned())
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| "expected admin, scheduler, clinician, expert or radiologist".to_owned())
}

pub async fn run(cli: Cli) -> ExitCode {
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("ferry: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    if let Command::Serve(args) = &cli.command {
        if let Some(listen) = args.listen {
            settings.listen = listen;
        }
    }
    crate::telemetry::init(&settings);
    for name in Settings::unknown_env_vars() {
        tracing::warn!(variable = %name, "unknown FERRY_ environment variable ignored");
    }
    match dispatch(cli.command, settings).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ferry: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database_url(), settings.database_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let app = Application::build(settings).await?;
            if args.demo {
                match crate::demo::seed(&app.state().db, args.demo_password).await? {
                    Some(seed) => print_demo_banner(&seed, app.local_addr()?),
                    None => println!(
                        "Demo consortium already present; sign in with the password printed at its first start \
                         (or reset one with `ferry user password demo-clinician`)."
                    ),
                }
                let studies = crate::demo::studies::seed_studies(&app.state().imaging).await?;
                if studies > 0 {
                    println!("{studies} demo imaging studies stored (see /dicomweb/studies)");
                }
            }
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            open_db(&settings).await?;
            println!("migrations applied");
        }
        Command::Facility(FacilityCommand::Create {
            name,
            tier,
            time_zone,
            parent,
            contact,
        }) => {
            let db = open_db(&settings).await?;
            let mut tx = db.begin_write().await?;
            let parent_id = match parent {
                Some(parent) => Some(facility_id(&mut tx, &parent).await?),
                None => None,
            };
            let row = crate::facility::create(
                &mut tx,
                &Actor::system("cli"),
                NewFacility {
                    name,
                    tier,
                    parent_id,
                    time_zone,
                    contact,
                },
            )
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
            tx.commit().await?;
            println!("facility {} created: {}", row.id, row.name);
        }
        Command::User(UserCommand::Create {
            username,
            display_name,
            facility,
            roles,
            specialties,
            password_stdin,
        }) => {
            let db = open_db(&settings).await?;
            let (password, generated) = password_input(password_stdin)?;
            let mut tx = db.begin_write().await?;
            let facility_id = facility_id(&mut tx, &facility).await?;
            let id = crate::user::create(
                &mut tx,
                &Actor::system("cli"),
                NewUser {
                    username: username.clone(),
                    display_name,
                    password: password.clone(),
                    facility_id,
                    roles,
                    specialties,
                },
            )
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
            tx.commit().await?;
            println!("user {id} created: {}", username.trim().to_lowercase());
            if generated {
                println!("password: {password}");
            }
        }
        Command::User(UserCommand::Password {
            username,
            password_stdin,
        }) => {
            let db = open_db(&settings).await?;
            let (password, generated) = password_input(password_stdin)?;
            let mut tx = db.begin_write().await?;
            let username = username.trim().to_lowercase();
            let id = crate::user::store::find_id(&mut tx, &username)
                .await?
                .with_context(|| format!("no user named {username:?}"))?;
            crate::user::update(
                &mut tx,
                &Actor::system("cli"),
                id,
                crate::user::UserPatch {
                    password: Some(password.clone()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
            tx.commit().await?;
            println!("password of {username} changed; their sessions were ended");
            if generated {
                println!("password: {password}");
            }
        }
        Command::Dicom(DicomCommand::Import { dir, facility }) => {
            return dicom_import(&settings, &dir, &facility).await;
        }
        Command::Config(ConfigCommand::Check) => {
            let problems = crate::config::check::problems(&settings).await;
            if !problems.is_empty() {
                for problem in &problems {
                    println!("{problem}");
                }
                println!("{} problem(s) in the configuration", problems.len());
                return Ok(ExitCode::FAILURE);
            }
            let database = if crate::db::sqlite_path(&settings.database_url()).is_some() {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            println!(
                "configuration OK: listening on {} ({}), {database}, data in {}, images in {}",
                settings.listen,
                if settings.tls_certificate.is_some() {
                    "HTTPS"
                } else {
                    "HTTP"
                },
                settings.data_dir.display(),
                settings.s3_bucket.as_deref().map_or_else(
                    || settings.dicom_dir().display().to_string(),
                    |b| format!("the bucket {b}")
                ),
            );
        }
        Command::Backup { dir } => {
            let manifest = crate::backup::backup(&settings, &dir).await?;
            let c = &manifest.counts;
            println!(
                "backup written to {}: {} files; {} instances, {} bookings, {} audit events, {} recording files",
                dir.display(),
                manifest.files.len() + 1,
                c.instances,
                c.bookings,
                c.audit_events,
                c.recording_files
            );
        }
        Command::Restore { dir } => {
            let (manifest, verdict) = crate::backup::restore(&settings, &dir).await?;
            let c = &manifest.counts;
            println!(
                "restored the backup of {} into {}: {} instances, {} bookings, {} audit events, {} recording files",
                manifest.created_at,
                settings.data_dir.display(),
                c.instances,
                c.bookings,
                c.audit_events,
                c.recording_files
            );
            match verdict {
                Verdict::Intact { events } => {
                    println!("audit chain intact: {events} events verified")
                }
                Verdict::Broken { seq, problem } => {
                    println!("audit chain BROKEN at event {seq}: {problem}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Audit(AuditCommand::Verify) => {
            let db = open_db(&settings).await?;
            match chain::verify(db.pool()).await? {
                Verdict::Intact { events } => {
                    println!("audit chain intact: {events} events verified")
                }
                Verdict::Broken { seq, problem } => {
                    println!("audit chain BROKEN at event {seq}: {problem}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn dicom_import(settings: &Settings, dir: &Path, facility: &str) -> anyhow::Result<ExitCode> {
    use std::io::{IsTerminal, Write};
    let db = open_db(settings).await?;
    let facility_id = {
        let mut tx = db.begin_write().await?;
        facility_id(&mut tx, facility).await?
    };
    let files = crate::imaging::import::files_under(dir)
        .with_context(|| format!("reading {}", dir.display()))?;
    // A journal node and staging directory of its own: a server may be
    // running on the same store, and each side's recovery must leave the
    // other's work alone. The node is named after this data directory's
    // node, so imports on nodes sharing one database keep apart too, and a
    // lock keeps two imports on this directory apart.
    let _import_lock = crate::datadir::DirLock::acquire(
        &settings.data_dir,
        "import.lock",
        "`ferry dicom import`",
    )?;
    let node = format!("{}-import", crate::datadir::node_id(&settings.data_dir)?);
    let store = crate::imaging::open_store_as(settings, &db, &node, "staging-import").await?;
    store.recover().await?;
    let imaging = crate::imaging::Imaging::new(
        db.clone(),
        crate::audit::journal::Journal::start(db.clone()),
        store,
        crate::policy::ConsentRule::from_setting(settings.sharing_consent_required),
    );
    let total = files.len();
    let terminal = std::io::stderr().is_terminal();
    let report = crate::imaging::import::import_files(
        &imaging,
        files,
        facility_id,
        &Actor::system("cli"),
        |report| {
            let done = report.done();
            // Rewritten in place on a terminal; every 100 files in a log.
            if terminal {
                eprint!(
                    "\r{done}/{total} files: {} stored, {} already stored, {} failed",
                    report.stored,
                    report.already_stored,
                    report.failed.len()
                );
                let _ = std::io::stderr().flush();
            } else if done % 100 == 0 {
                eprintln!("{done}/{total} files");
            }
        },
    )
    .await;
    if terminal && total > 0 {
        eprintln!();
    }
    println!(
        "{} files: {} stored, {} already stored, {} failed",
        report.files,
        report.stored,
        report.already_stored,
        report.failed.len()
    );
    for (path, reason) in &report.failed {
        println!("failed: {}: {reason}", path.display());
    }
    db.close().await;
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A facility named by id or by exact name.
async fn facility_id(tx: &mut crate::db::Tx, reference: &str) -> anyhow::Result<i64> {
    let found = match reference.parse::<i64>() {
        Ok(id) => crate::facility::store::get(tx, id).await?,
        Err(_) => crate::facility::store::find_by_name(tx, reference).await?,
    };
    found
        .map(|row| row.id)
        .with_context(|| format!("no facility {reference:?}"))
}

fn password_input(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
    } else {
        Ok((crate::auth::password::generate(), true))
    }
}

fn print_demo_banner(seed: &crate::demo::DemoSeed, addr: SocketAddr) {
    println!();
    println!("  Ferry demo consortium seeded.");
    println!("  Open http://{addr}/ and sign in as one of:");
    for username in &seed.usernames {
        println!("    {username}");
    }
    println!("  password (all demo users): {}", seed.password);
    println!();
}
