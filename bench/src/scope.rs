//! The scope benchmark: searches whose answer depends on what the caller
//! may reach, over a consortium of realistic size, on SQLite and on
//! PostgreSQL in the same run, each figure beside the 20 ms a search may
//! take.
//!
//! Set-up (not timed): a tertiary hospital that reads for the consortium,
//! a county hospital and four island clinics. The county has `--patients`
//! patients; each island a tenth of that. `--requests` studies arrive in
//! turn from the five facilities, each sent to the tertiary hospital's
//! worklist for a reading, so the reading facility holds that many reading
//! requests. The index rows are written directly (QIDO reads only the
//! index; storing that many real instances would only slow the set-up),
//! through the same tables the store fills.
//!
//! Timed, sequentially, after one untimed warm-up each:
//! - the radiologist's QIDO-RS study search, newest 50, and by patient
//!   name;
//! - the county clinician's QIDO-RS study search, newest 50, and by
//!   Patient ID;
//! - the county clinician's patient search, by family name and by record
//!   number.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use ferry_server::auth::Role;
use ferry_server::facility::{NewFacility, Tier};
use ferry_server::user::NewUser;

use crate::harness::{Engine, Server};
use crate::report::{self, progress, Row, Samples};

const PASSWORD: &str = "bench password 1";
/// What a search may take at the 99th percentile.
const GOAL_MS: f64 = 20.0;
const FAMILY: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
const GIVEN: [&str; 8] = ["秀英", "建国", "海燕", "志强", "美玲", "国华", "丽娟", "伟"];
/// Rows per INSERT statement while seeding.
const BATCH: usize = 500;

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Reading requests on the tertiary hospital's worklist (one study each).
    #[arg(long, default_value_t = 100_000)]
    requests: usize,
    /// Patients of the county hospital.
    #[arg(long, default_value_t = 20_000)]
    patients: usize,
    /// Timed searches of each kind.
    #[arg(long, default_value_t = 200)]
    searches: usize,
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

/// The searches timed, in the order of the table.
const SEARCHES: [&str; 6] = [
    "radiologist QIDO studies, newest 50",
    "radiologist QIDO studies, PatientName=王*",
    "clinician QIDO studies, newest 50",
    "clinician QIDO studies, PatientID",
    "clinician patient search, family name",
    "clinician patient search, record number",
];

pub async fn run(mut options: Options) -> anyhow::Result<()> {
    if options.quick {
        options.requests = options.requests.min(2_000);
        options.patients = options.patients.min(500);
        options.searches = options.searches.min(5);
    }
    anyhow::ensure!(options.patients >= 10, "--patients must be at least 10");
    let sqlite = measure(&Engine::Sqlite, &options).await?;
    let postgres = if options.no_postgres {
        None
    } else {
        Some(measure(&Engine::Postgres(options.postgres.clone()), &options).await?)
    };
    let mut rows = Vec::new();
    for (n, name) in SEARCHES.iter().enumerate() {
        for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
            rows.push(Row {
                name: format!("{name} {label}"),
                unit: "ms",
                sqlite: sqlite[n].quantile_ms(q),
                postgres: postgres.as_ref().map(|p| p[n].quantile_ms(q)),
            });
        }
    }
    report::print(
        &format!(
            "Scope: {} reading requests, {} county patients, {} searches each{}",
            options.requests,
            options.patients,
            options.searches,
            if options.quick {
                " (quick: not a measurement)"
            } else {
                ""
            }
        ),
        &rows,
    )?;
    // Each p99 beside the goal: how many times within it (above 1) or over.
    let versus: Vec<report::Versus> = rows
        .iter()
        .filter(|r| r.name.ends_with("p99"))
        .flat_map(|r| {
            let mut out = vec![report::Versus {
                name: format!("{} SQLite", r.name),
                unit: "ms",
                ferry: r.sqlite,
                peer: GOAL_MS,
                higher_is_better: false,
            }];
            if let Some(pg) = r.postgres {
                out.push(report::Versus {
                    name: format!("{} PostgreSQL", r.name),
                    unit: "ms",
                    ferry: pg,
                    peer: GOAL_MS,
                    higher_is_better: false,
                });
            }
            out
        })
        .collect();
    report::print_versus("Scope: p99 beside the goal", "goal", &versus)?;
    Ok(())
}

/// The path of the `n`th search of a kind.
type PathOf<'a> = Box<dyn Fn(usize) -> String + 'a>;

/// Who searches, and what they search for.
struct Seeded {
    radiologist: String,
    clinician: String,
    /// Record numbers of county patients with a study.
    county_records: Vec<String>,
}

async fn measure(engine: &Engine, options: &Options) -> anyhow::Result<Vec<Samples>> {
    progress(format!("{}: starting the server", engine.label()));
    let server = Server::start(engine).await?;
    progress(format!(
        "{}: seeding {} reading requests and {} patients",
        engine.label(),
        options.requests,
        options.patients
    ));
    let seeded = seed(&server, options).await?;
    let searches = options.searches;
    let records = &seeded.county_records;
    let paths: [(&str, PathOf); 6] = [
        (
            &seeded.radiologist,
            Box::new(|_| "/dicomweb/studies?limit=50".to_owned()),
        ),
        (
            &seeded.radiologist,
            Box::new(|_| "/dicomweb/studies?PatientName=%E7%8E%8B*&limit=50".to_owned()),
        ),
        (
            &seeded.clinician,
            Box::new(|_| "/dicomweb/studies?limit=50".to_owned()),
        ),
        (
            &seeded.clinician,
            Box::new(|i| format!("/dicomweb/studies?PatientID={}", records[i % records.len()])),
        ),
        (
            &seeded.clinician,
            Box::new(|i| {
                let family = FAMILY[i % FAMILY.len()];
                format!("/api/v1/patients?q={}&limit=50", urlencode(family))
            }),
        ),
        (
            &seeded.clinician,
            Box::new(|i| format!("/api/v1/patients?q={}", records[i % records.len()])),
        ),
    ];
    let mut figures = Vec::new();
    for ((token, path), name) in paths.iter().zip(SEARCHES) {
        progress(format!("{}: timing {name}", engine.label()));
        let mut samples = Samples::default();
        let mut failed = 0;
        for i in 0..=searches {
            let path = path(i);
            let started = Instant::now();
            let response = server
                .client
                .get(server.url(&path))
                .bearer_auth(token)
                .header("Accept", "application/json, application/dicom+json")
                .send()
                .await?;
            let status = response.status().as_u16();
            let body = response.bytes().await?;
            let took = started.elapsed();
            if status != 200 {
                // Counted, not fatal: a server that cannot answer at this
                // size is a result to print beside the others.
                failed += 1;
                if failed == 1 {
                    progress(format!(
                        "{}: GET {path} gave {status}: {}",
                        engine.label(),
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ));
                }
                continue;
            }
            let found: serde_json::Value = serde_json::from_slice(&body)?;
            anyhow::ensure!(
                found.as_array().is_some_and(|a| !a.is_empty()),
                "GET {path} found nothing"
            );
            if i > 0 {
                samples.push(took);
            }
        }
        if failed > 0 {
            report::note(&format!(
                "{}: {name}: {failed} of {} requests failed",
                engine.label(),
                searches + 1
            ))?;
        }
        figures.push(samples);
    }
    server.stop().await?;
    Ok(figures)
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn seed(server: &Server, options: &Options) -> anyhow::Result<Seeded> {
    let actor = Server::actor();
    let mut tx = server.db.begin_write().await?;
    let facility = |name: &str, tier, parent_id| NewFacility {
        name: name.to_owned(),
        tier,
        parent_id,
        time_zone: "Asia/Shanghai".to_owned(),
        contact: String::new(),
    };
    let tertiary =
        ferry_server::facility::create(&mut tx, &actor, facility("Tertiary", Tier::Tertiary, None))
            .await?
            .id;
    let county = ferry_server::facility::create(
        &mut tx,
        &actor,
        facility("County", Tier::Secondary, Some(tertiary)),
    )
    .await?
    .id;
    let mut senders = vec![county];
    for n in 1..=4 {
        senders.push(
            ferry_server::facility::create(
                &mut tx,
                &actor,
                facility(&format!("Island {n}"), Tier::Village, Some(county)),
            )
            .await?
            .id,
        );
    }
    let user = |username: &str, role: Role, facility_id: i64| NewUser {
        username: username.to_owned(),
        display_name: username.to_owned(),
        password: PASSWORD.to_owned(),
        facility_id,
        roles: vec![role],
        specialties: if role.needs_specialty() {
            vec!["radiology".to_owned()]
        } else {
            Vec::new()
        },
    };
    ferry_server::user::create(
        &mut tx,
        &actor,
        user("radiologist", Role::Radiologist, tertiary),
    )
    .await?;
    let requester =
        ferry_server::user::create(&mut tx, &actor, user("clinician", Role::Clinician, county))
            .await?;
    tx.commit().await?;

    // Patients: the county's, then a tenth as many at each island.
    let now = 1_765_000_000_000_i64;
    let mut patients: Vec<Vec<(i64, String)>> = Vec::new();
    let mut next_id: i64 = 1;
    for (n, facility_id) in senders.iter().enumerate() {
        let count = if n == 0 {
            options.patients
        } else {
            (options.patients / 10).max(1)
        };
        let prefix = if n == 0 {
            "C".to_owned()
        } else {
            format!("I{n}")
        };
        let ids: Vec<(i64, String)> = (0..count)
            .map(|i| {
                let id = next_id;
                next_id += 1;
                (id, format!("{prefix}-{i}"))
            })
            .collect();
        let mut tx = server.db.begin_write().await?;
        for chunk in ids.chunks(BATCH) {
            let mut sql = String::from(
                "INSERT INTO patient (id, family_name, given_name, sex, birth_date, created_at, \
                 updated_at, search_name) VALUES ",
            );
            let values: Vec<String> = chunk
                .iter()
                .map(|(id, _)| {
                    let i = *id as usize;
                    let (family, given) =
                        (FAMILY[i % FAMILY.len()], GIVEN[(i / FAMILY.len()) % GIVEN.len()]);
                    let sex = if i.is_multiple_of(2) { "female" } else { "male" };
                    format!(
                        "({id}, '{family}', '{given}', '{sex}', '19{:02}-0{}-1{}', {now}, {now}, '{}')",
                        30 + i % 60,
                        1 + i % 9,
                        i % 10,
                        ferry_server::patient::store::search_name(family, given)
                    )
                })
                .collect();
            sql.push_str(&values.join(", "));
            sqlx::query(&sql).execute(&mut *tx).await?;
            let mut sql = String::from(
                "INSERT INTO patient_record (patient_id, facility_id, record_number, created_at) VALUES ",
            );
            let values: Vec<String> = chunk
                .iter()
                .map(|(id, record)| format!("({id}, {facility_id}, '{record}', {now})"))
                .collect();
            sql.push_str(&values.join(", "));
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        patients.push(ids);
    }
    if matches!(server.db.engine(), ferry_server::db::Engine::Postgres) {
        // Rows written with explicit ids leave the identity behind them.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('patient', 'id'), (SELECT MAX(id) FROM patient))",
        )
        .execute(server.db.pool())
        .await?;
    }

    // Studies, in turn from each facility, each with a reading request.
    let mut county_records = Vec::new();
    let mut tx = server.db.begin_write().await?;
    let ids: Vec<usize> = (0..options.requests).collect();
    for chunk in ids.chunks(BATCH) {
        let mut studies = Vec::with_capacity(chunk.len());
        let mut requests = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let sender = i % senders.len();
            let facility_id = senders[sender];
            let of_facility = &patients[sender];
            let (patient, record) = &of_facility[(i / senders.len()) % of_facility.len()];
            if sender == 0 && county_records.len() < 1000 {
                county_records.push(record.clone());
            }
            let uid = format!("1.2.826.0.1.3680043.10.1.{i}");
            let i_name = *patient as usize;
            let name = format!(
                "{}^{}",
                FAMILY[i_name % FAMILY.len()],
                GIVEN[(i_name / FAMILY.len()) % GIVEN.len()]
            );
            studies.push(format!(
                "('{uid}', {facility_id}, {patient}, '{record}', '{name}', '{}', '2026{:02}{:02}', 'CT', 1, 1, {now}, {now})",
                name.to_lowercase(),
                1 + i % 12,
                1 + i % 28
            ));
            requests.push(format!(
                "('{uid}', {patient}, {facility_id}, {}, {tertiary}, 'CT', 'mass?', 'routine', 'requested', {now}, {now}, {now})",
                requester
            ));
        }
        sqlx::query(&format!(
            "INSERT INTO dicom_study (study_uid, facility_id, patient_id, dicom_patient_id, patient_name, \
             patient_name_search, study_date, modalities, num_series, num_instances, created_at, updated_at) \
             VALUES {}",
            studies.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .context("seeding studies")?;
        sqlx::query(&format!(
            "INSERT INTO reading_request (study_instance_uid, patient_id, requesting_facility_id, \
             requested_by, reading_facility_id, modality, clinical_question, priority, status, \
             due_at, created_at, updated_at) VALUES {}",
            requests.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .context("seeding reading requests")?;
    }
    tx.commit().await?;
    // Statistics for the planner, as a database that grew to this size
    // would have them.
    sqlx::query("ANALYZE").execute(server.db.pool()).await?;
    anyhow::ensure!(!county_records.is_empty(), "no county study was seeded");
    Ok(Seeded {
        radiologist: server.login("radiologist", PASSWORD).await?,
        clinician: server.login("clinician", PASSWORD).await?,
        county_records,
    })
}
