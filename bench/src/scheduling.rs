//! The scheduling benchmark: slot search over a large roster, and booking
//! under contention, each on SQLite and on PostgreSQL in the same run.
//!
//! Set-up (not timed): a tertiary hospital with `--experts` experts, each with
//! a weekday roster (08:00–12:00 video in 20-minute slots, 14:00–17:00
//! asynchronous review in 30-minute slots), over the default 12-week horizon:
//! about 1,080 slots per expert. The first `--hot-experts` are cardiologists;
//! the rest spread over other specialties.
//!
//! - Search: sequential `GET /slots` over the whole horizon, for every expert,
//!   for one specialty and for one expert.
//! - Booking: `--clients` clinicians at once, all after the earliest
//!   cardiology slots, as a waiting room full of referrals would be. Each
//!   searches, picks one of the ten earliest free slots, books it, and on a
//!   409 takes one of the alternatives the answer carries. Timed: every
//!   `POST /bookings`, and the bookings made per second of wall time. Run
//!   once for each number in `--clients`.
//! - The floor beside it, right before each booking run: as many writers as
//!   clients committing one-row inserts, one per transaction, through the
//!   server's own pool (so with its settings: on SQLite, WAL with a full
//!   fsync at each commit), for `RAW_SECONDS`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use ferry_server::auth::Role;
use ferry_server::user::NewUser;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use crate::harness::{Engine, Server};
use crate::report::{self, progress, Row, Samples};

const PASSWORD: &str = "bench password 1";
const SPECIALTIES: [&str; 6] = [
    "neurology",
    "oncology",
    "paediatrics",
    "endocrinology",
    "nephrology",
    "pulmonology",
];

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Experts on the roster.
    #[arg(long, default_value_t = 200)]
    experts: usize,
    /// Experts of the contended specialty (cardiology).
    #[arg(long, default_value_t = 10)]
    hot_experts: usize,
    /// Timed searches of each kind.
    #[arg(long, default_value_t = 100)]
    searches: usize,
    /// Clinicians booking at the same time: one contention run for each.
    #[arg(long, value_delimiter = ',', default_values_t = [32, 200])]
    clients: Vec<usize>,
    /// Bookings to make in each contention run (at least five per client).
    #[arg(long, default_value_t = 600)]
    bookings: usize,
    /// Database connections the server keeps (`database_max_connections`).
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Administrative URL of the PostgreSQL server to compare with.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Run on SQLite only.
    #[arg(long)]
    no_postgres: bool,
    /// A small run that checks the benchmark works, not a measurement.
    #[arg(long)]
    quick: bool,
}

/// Seconds the raw inserts run, per contention run.
const RAW_SECONDS: u64 = 3;
/// What a `POST /bookings` may take at the 99th percentile under contention.
const GOAL_BOOK_P99_MS: f64 = 150.0;

/// What one engine measured.
struct Figures {
    search_all: Samples,
    search_specialty: Samples,
    search_expert: Samples,
    contention: Vec<Contention>,
}

/// One contention run and the raw insert rate measured right before it.
struct Contention {
    book: Samples,
    bookings: usize,
    conflicts: usize,
    wall: Duration,
    raw_per_second: f64,
}

impl Contention {
    fn per_second(&self) -> f64 {
        self.bookings as f64 / self.wall.as_secs_f64()
    }
}

pub async fn run(mut options: Options) -> anyhow::Result<()> {
    if options.quick {
        options.experts = options.experts.min(12);
        options.hot_experts = options.hot_experts.min(3);
        options.searches = options.searches.min(5);
        options.clients = vec![4];
        options.bookings = options.bookings.min(20);
    }
    anyhow::ensure!(
        options.hot_experts >= 1 && options.hot_experts <= options.experts,
        "--hot-experts must be between 1 and --experts"
    );
    anyhow::ensure!(
        !options.clients.is_empty() && !options.clients.contains(&0),
        "--clients must list one or more numbers of clients, each at least 1"
    );
    let sqlite = measure(&Engine::Sqlite, &options).await?;
    let postgres = if options.no_postgres {
        None
    } else {
        Some(measure(&Engine::Postgres(options.postgres.clone()), &options).await?)
    };
    let pg = |f: &dyn Fn(&Figures) -> f64| postgres.as_ref().map(f);
    let mut rows = vec![
        Row {
            name: format!("slot search p50, {} experts x 12 weeks", options.experts),
            unit: "ms",
            sqlite: sqlite.search_all.quantile_ms(0.5),
            postgres: pg(&|f| f.search_all.quantile_ms(0.5)),
        },
        Row {
            name: format!("slot search p99, {} experts x 12 weeks", options.experts),
            unit: "ms",
            sqlite: sqlite.search_all.quantile_ms(0.99),
            postgres: pg(&|f| f.search_all.quantile_ms(0.99)),
        },
        Row {
            name: format!(
                "slot search p99, one specialty ({} experts)",
                options.hot_experts
            ),
            unit: "ms",
            sqlite: sqlite.search_specialty.quantile_ms(0.99),
            postgres: pg(&|f| f.search_specialty.quantile_ms(0.99)),
        },
        Row {
            name: "slot search p99, one expert".to_owned(),
            unit: "ms",
            sqlite: sqlite.search_expert.quantile_ms(0.99),
            postgres: pg(&|f| f.search_expert.quantile_ms(0.99)),
        },
    ];
    for (i, clients) in options.clients.iter().enumerate() {
        fn at(f: &Figures, i: usize) -> &Contention {
            &f.contention[i]
        }
        let run = |f: &Figures| at(f, i).per_second();
        rows.extend([
            Row {
                name: format!("{clients} clients: bookings made"),
                unit: "per s",
                sqlite: run(&sqlite),
                postgres: pg(&run),
            },
            Row {
                name: format!("{clients} clients: raw durable inserts (floor)"),
                unit: "per s",
                sqlite: at(&sqlite, i).raw_per_second,
                postgres: pg(&|f| at(f, i).raw_per_second),
            },
            Row {
                name: format!("{clients} clients: bookings made / raw inserts"),
                unit: "ratio",
                sqlite: run(&sqlite) / at(&sqlite, i).raw_per_second,
                postgres: pg(&|f| run(f) / at(f, i).raw_per_second),
            },
            Row {
                name: format!("{clients} clients: POST /bookings p50"),
                unit: "ms",
                sqlite: at(&sqlite, i).book.quantile_ms(0.5),
                postgres: pg(&|f| at(f, i).book.quantile_ms(0.5)),
            },
            Row {
                name: format!("{clients} clients: POST /bookings p99 (goal <= {GOAL_BOOK_P99_MS})"),
                unit: "ms",
                sqlite: at(&sqlite, i).book.quantile_ms(0.99),
                postgres: pg(&|f| at(f, i).book.quantile_ms(0.99)),
            },
            Row {
                name: format!("{clients} clients: 409 slot_taken per booking made"),
                unit: "ratio",
                sqlite: at(&sqlite, i).conflicts as f64 / at(&sqlite, i).bookings as f64,
                postgres: pg(&|f| at(f, i).conflicts as f64 / at(f, i).bookings as f64),
            },
        ]);
    }
    let clients: Vec<String> = options.clients.iter().map(usize::to_string).collect();
    report::print(
        &format!(
            "scheduling: {} experts, {} searches of each kind, contention runs of {} clients{}",
            options.experts,
            options.searches,
            clients.join(" and "),
            if options.quick {
                " (quick: not a measurement)"
            } else {
                ""
            }
        ),
        &rows,
    )?;
    Ok(())
}

/// The bookings a contention run of `clients` makes.
fn bookings_for(options: &Options, clients: usize) -> usize {
    options.bookings.max(clients * 5)
}

/// The roster, the people and the waiting consultations of one run, a
/// queue of them for each contention run.
struct Seeded {
    clinician: String,
    experts: Vec<i64>,
    consultations: Vec<Vec<i64>>,
}

async fn measure(engine: &Engine, options: &Options) -> anyhow::Result<Figures> {
    progress(format!("{}: starting the server", engine.label()));
    let connections = options.connections;
    let server = Server::start_configured(
        engine,
        false,
        |settings| settings.database_max_connections = connections,
        None,
    )
    .await?;
    let seeded = seed(&server, options).await?;
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Asia/Shanghai")?)
        .date();
    // Tomorrow on, so that no slot lapses into the past while the run goes on.
    let from = today.tomorrow()?;
    let to = from.checked_add(jiff::Span::new().days(82))?;
    let window = format!("from={from}&to={to}&limit=500");

    progress(format!("{}: timing slot searches", engine.label()));
    let token = &seeded.clinician;
    let search_all = searches(&server, token, options.searches, |_| window.clone()).await?;
    let search_specialty = searches(&server, token, options.searches, |_| {
        format!("specialty=cardiology&{window}")
    })
    .await?;
    let experts = seeded.experts.clone();
    let search_expert = searches(&server, token, options.searches, |i| {
        format!("expert_id={}&{window}", experts[i % experts.len()])
    })
    .await?;

    let mut contention = Vec::new();
    let mut acknowledged = 0;
    for (clients, queue) in options.clients.iter().zip(&seeded.consultations) {
        progress(format!(
            "{}: {clients} writers, raw inserts",
            engine.label()
        ));
        let raw_per_second = raw_inserts(&server, *clients).await?;
        progress(format!(
            "{}: {clients} clients, contended bookings",
            engine.label()
        ));
        let (book, bookings, conflicts, wall) =
            contend(&server, &seeded.clinician, queue, *clients, to).await?;
        acknowledged += bookings;
        let (booked, distinct): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT expert_id || '@' || start_at) FROM booking WHERE status = 'booked'",
        )
        .fetch_one(server.db.pool())
        .await?;
        anyhow::ensure!(
            booked as usize == acknowledged && distinct == booked,
            "{booked} booked rows ({distinct} distinct slots) for {acknowledged} acknowledged bookings"
        );
        contention.push(Contention {
            book,
            bookings,
            conflicts,
            wall,
            raw_per_second,
        });
    }
    server.stop().await?;
    Ok(Figures {
        search_all,
        search_specialty,
        search_expert,
        contention,
    })
}

/// `writers` writers committing one-row inserts for `RAW_SECONDS`, one per
/// transaction, as a booking commits: the durable commits per second this
/// engine allows on this disk with this many at once.
async fn raw_inserts(server: &Server, writers: usize) -> anyhow::Result<f64> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_raw_insert (writer BIGINT NOT NULL, n BIGINT NOT NULL)",
    )
    .execute(server.db.pool())
    .await?;
    let until = Instant::now() + Duration::from_secs(RAW_SECONDS);
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let db = server.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0i64;
            while Instant::now() < until {
                let mut tx = db.begin_write().await?;
                sqlx::query("INSERT INTO bench_raw_insert (writer, n) VALUES ($1, $2)")
                    .bind(writer as i64)
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                n += 1;
            }
            Ok::<_, anyhow::Error>(n)
        }));
    }
    let mut committed = 0;
    for task in tasks {
        committed += task.await??;
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bench_raw_insert")
        .fetch_one(server.db.pool())
        .await?;
    anyhow::ensure!(
        rows == committed,
        "{committed} inserts committed, {rows} rows found"
    );
    sqlx::query("DELETE FROM bench_raw_insert")
        .execute(server.db.pool())
        .await?;
    Ok(committed as f64 / RAW_SECONDS as f64)
}

async fn searches(
    server: &Server,
    token: &str,
    count: usize,
    query: impl Fn(usize) -> String,
) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    // One untimed search first, so that each engine starts with warm caches.
    for i in 0..=count {
        let path = format!("/api/v1/slots?{}", query(i));
        let started = Instant::now();
        let (status, body) = server.get(token, &path).await?;
        let took = started.elapsed();
        anyhow::ensure!(status == 200, "GET {path} gave {status}: {body}");
        let found = body["slots"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(found > 0, "GET {path} found no slot: {body}");
        if i > 0 {
            samples.push(took);
        }
    }
    Ok(samples)
}

async fn contend(
    server: &Server,
    clinician: &str,
    consultations: &[i64],
    clients: usize,
    to: jiff::civil::Date,
) -> anyhow::Result<(Samples, usize, usize, Duration)> {
    let queue = Arc::new(Mutex::new(consultations.to_vec()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let queue = queue.clone();
        let client = ClientRun {
            base: server.url(""),
            http: server.client.clone(),
            token: clinician.to_owned(),
            to,
        };
        tasks.push(tokio::spawn(
            async move { client.book_until_done(queue).await },
        ));
    }
    let mut samples = Samples::default();
    let (mut bookings, mut conflicts) = (0, 0);
    for task in tasks {
        let (s, b, c) = task.await??;
        samples.extend(s);
        bookings += b;
        conflicts += c;
    }
    Ok((samples, bookings, conflicts, started.elapsed()))
}

/// One clinician in the contention run.
struct ClientRun {
    base: String,
    http: reqwest::Client,
    token: String,
    /// The last day searched: the timed searches' window, to the horizon,
    /// not the default week, which the first run's bookings fill.
    to: jiff::civil::Date,
}

impl ClientRun {
    /// Books consultations from the shared queue until it is empty; returns
    /// the booking latencies, the bookings made and the conflicts met.
    async fn book_until_done(
        &self,
        queue: Arc<Mutex<Vec<i64>>>,
    ) -> anyhow::Result<(Samples, usize, usize)> {
        let mut samples = Samples::default();
        let (mut made, mut conflicts) = (0, 0);
        loop {
            let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
            let Some(consultation) = next else { break };
            let mut candidates = self.earliest().await?;
            loop {
                let Some(slot) = candidates.choose(&mut rand::thread_rng()).cloned() else {
                    candidates = self.earliest().await?;
                    anyhow::ensure!(!candidates.is_empty(), "no free cardiology slot left");
                    continue;
                };
                let body = json!({ "expert_id": slot["expert_id"], "start": slot["start"],
                                   "consultation_id": consultation });
                let started = Instant::now();
                let response = self
                    .http
                    .post(format!("{}/api/v1/bookings", self.base))
                    .bearer_auth(&self.token)
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status().as_u16();
                let answer: Value = response.json().await?;
                samples.push(started.elapsed());
                match status {
                    201 => {
                        made += 1;
                        break;
                    }
                    409 if answer["error"]["code"] == "slot_taken" => {
                        conflicts += 1;
                        candidates = answer["error"]["details"]["next_free"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                    }
                    _ => anyhow::bail!("POST /bookings gave {status}: {answer}"),
                }
            }
        }
        Ok((samples, made, conflicts))
    }

    async fn earliest(&self) -> anyhow::Result<Vec<Value>> {
        let answer: Value = self
            .http
            .get(format!(
                "{}/api/v1/slots?specialty=cardiology&service=video&limit=10&to={}",
                self.base, self.to
            ))
            .bearer_auth(&self.token)
            .send()
            .await?
            .json()
            .await?;
        Ok(answer["slots"].as_array().cloned().unwrap_or_default())
    }
}

async fn seed(server: &Server, options: &Options) -> anyhow::Result<Seeded> {
    progress(format!("seeding {} experts", options.experts));
    let actor = Server::actor();
    let mut tx = server.db.begin_write().await?;
    let (tertiary, island, patient) = crate::harness::hospital_island_patient(&mut tx).await?;
    let person = |username: String, facility_id, role, specialties| NewUser {
        display_name: username.clone(),
        username,
        password: PASSWORD.to_owned(),
        facility_id,
        roles: vec![role],
        specialties,
    };
    ferry_server::user::create(
        &mut tx,
        &actor,
        person("scheduler".into(), tertiary, Role::Scheduler, vec![]),
    )
    .await?;
    ferry_server::user::create(
        &mut tx,
        &actor,
        person("clinician".into(), island, Role::Clinician, vec![]),
    )
    .await?;
    let mut experts = Vec::with_capacity(options.experts);
    for i in 0..options.experts {
        let specialty = if i < options.hot_experts {
            "cardiology"
        } else {
            SPECIALTIES[i % SPECIALTIES.len()]
        };
        let id = ferry_server::user::create(
            &mut tx,
            &actor,
            person(
                format!("expert-{i}"),
                tertiary,
                Role::Expert,
                vec![specialty.to_owned()],
            ),
        )
        .await?;
        experts.push(id);
    }
    tx.commit().await?;
    let scheduler = server.login("scheduler", PASSWORD).await?;
    let clinician = server.login("clinician", PASSWORD).await?;

    progress("writing rosters");
    for expert in &experts {
        for weekday in 1..=5 {
            for (start, end, minutes, service) in [
                ("08:00", "12:00", 20, "video"),
                ("14:00", "17:00", 30, "async_review"),
            ] {
                let rule = json!({ "weekday": weekday, "start_time": start, "end_time": end,
                                   "slot_minutes": minutes, "service": service,
                                   "valid_from": "2020-01-01" });
                server
                    .create(
                        &scheduler,
                        &format!("/api/v1/experts/{expert}/roster/rules"),
                        &rule,
                    )
                    .await?;
            }
        }
    }

    let mut consultations = Vec::new();
    for clients in &options.clients {
        let count = bookings_for(options, *clients);
        progress(format!("opening {count} consultations"));
        let mut queue = Vec::with_capacity(count);
        for _ in 0..count {
            let body = json!({ "patient_id": patient, "specialty": "cardiology", "urgency": "routine",
                               "reason": "exertional chest pain", "clinical_summary": "ECG attached" });
            let answer = server
                .create(&clinician, "/api/v1/consultations", &body)
                .await?;
            queue.push(answer["id"].as_i64().context("a consultation id")?);
        }
        consultations.push(queue);
    }
    Ok(Seeded {
        clinician,
        experts,
        consultations,
    })
}
