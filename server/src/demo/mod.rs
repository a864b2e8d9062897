//! The demo consortium for `ferry serve --demo`: one tertiary hospital, one
//! county hospital, three island clinics, one user per role (and a county
//! clinician), a handful of patients, a small diagnosis catalogue, a referral
//! each way, one examination, the expert's roster and on-call week, a
//! consultation waiting to be booked and two already booked, so a new user
//! can click through at once. Seeded once: a marker in `ferry_meta` makes
//! later starts leave the data alone.

use crate::audit::Actor;
use crate::auth::Role;
use crate::catalogue::{self, Entry};
use crate::db::{Db, Tx};
use crate::error::ApiError;
use crate::examination;
use crate::facility::{self, NewFacility, Tier};
use crate::notify::Outbox;
use crate::patient::{self, NewPatient, Sex};
use crate::referral::{self, Direction, NewReferral};
use crate::user::{self, NewUser};

mod schedule;
pub mod studies;

pub const MARKER: &str = "demo_seeded";

/// What was seeded, for the banner the CLI prints.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    pub password: String,
    pub usernames: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "this database already holds facilities that are not the demo consortium; not seeding"
    )]
    NotEmpty,
    #[error("the demo expert's roster has no free slot to book in the next four weeks")]
    NoFreeSlot,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Seeds the demo consortium unless it is already there. `None` means it was.
pub async fn seed(db: &Db, password: Option<String>) -> Result<Option<DemoSeed>, DemoError> {
    let mut tx = db.begin_write().await?;
    let marker: Option<String> = sqlx::query_scalar("SELECT value FROM ferry_meta WHERE key = $1")
        .bind(MARKER)
        .fetch_optional(&mut *tx)
        .await?;
    if marker.is_some() {
        return Ok(None);
    }
    let facilities: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM facility")
        .fetch_one(&mut *tx)
        .await?;
    if facilities > 0 {
        return Err(DemoError::NotEmpty);
    }
    let actor = Actor::system("demo");
    let password = password.unwrap_or_else(crate::auth::password::generate);
    let tz = "Asia/Shanghai".to_owned();

    let facility = |name: &str, tier, parent_id, contact: &str| NewFacility {
        name: name.to_owned(),
        tier,
        parent_id,
        time_zone: tz.clone(),
        contact: contact.to_owned(),
    };
    let tertiary = facility::create(
        &mut tx,
        &actor,
        facility("海城市中心医院", Tier::Tertiary, None, "+86 571 8800 0000"),
    )
    .await?;
    let county = facility::create(
        &mut tx,
        &actor,
        facility(
            "海安县人民医院",
            Tier::Secondary,
            Some(tertiary.id),
            "+86 571 6600 0000",
        ),
    )
    .await?;
    let mut islands = Vec::new();
    for (name, contact) in [
        ("东极岛卫生室", "+86 571 6601 0001"),
        ("小洋岛卫生室", "+86 571 6601 0002"),
        ("南鹏岛卫生室", "+86 571 6601 0003"),
    ] {
        islands.push(
            facility::create(
                &mut tx,
                &actor,
                facility(name, Tier::Village, Some(county.id), contact),
            )
            .await?,
        );
    }
    // The Dongji clinic's ultrasound cart pushes its studies over DIMSE.
    crate::modality::create(
        &mut tx,
        &actor,
        islands[0].id,
        crate::modality::NewModality {
            ae_title: "DEMO-MODALITY".to_owned(),
            description: "便携式超声（东极岛）".to_owned(),
            // The demo runs on one machine: its title must not admit the
            // network to the island's patients.
            allowed_hosts: vec!["127.0.0.0/8".to_owned(), "::1".to_owned()],
            ..Default::default()
        },
    )
    .await?;

    let people: [(&str, &str, i64, Role, &[&str]); 6] = [
        (
            "demo-admin",
            "管理员（演示）",
            tertiary.id,
            Role::Admin,
            &[],
        ),
        (
            "demo-scheduler",
            "排班员（演示）",
            tertiary.id,
            Role::Scheduler,
            &[],
        ),
        (
            "demo-clinician",
            "林医生（东极岛）",
            islands[0].id,
            Role::Clinician,
            &[],
        ),
        (
            "demo-county-clinician",
            "吴医生（海安县）",
            county.id,
            Role::Clinician,
            &[],
        ),
        (
            "demo-expert",
            "周教授（心血管内科）",
            tertiary.id,
            Role::Expert,
            &["cardiology"],
        ),
        (
            "demo-radiologist",
            "陈医生（放射科）",
            tertiary.id,
            Role::Radiologist,
            &["radiology"],
        ),
    ];
    let mut usernames = Vec::new();
    let mut user_ids = Vec::new();
    for (username, display_name, facility_id, role, specialties) in people {
        let id = user::create(
            &mut tx,
            &actor,
            NewUser {
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                password: password.clone(),
                facility_id,
                roles: vec![role],
                specialties: specialties.iter().map(|s| (*s).to_owned()).collect(),
            },
        )
        .await?;
        usernames.push(username.to_owned());
        user_ids.push(id);
    }

    let patients: [(&str, &str, &str, Sex, &str, usize, &str); 5] = [
        (
            "330225195803121234",
            "王",
            "秀英",
            Sex::Female,
            "1958-03-12",
            0,
            "DJ-0001",
        ),
        (
            "33022519651102041X",
            "李",
            "建国",
            Sex::Male,
            "1965-11-02",
            0,
            "DJ-0002",
        ),
        (
            "330225198807150028",
            "陈",
            "美玲",
            Sex::Female,
            "1988-07-15",
            1,
            "XY-0001",
        ),
        (
            "330225197201300517",
            "林",
            "海",
            Sex::Male,
            "1972-01-30",
            2,
            "NP-0001",
        ),
        (
            "330225201004090038",
            "张",
            "小宇",
            Sex::Male,
            "2010-04-09",
            0,
            "DJ-0003",
        ),
    ];
    let mut patient_ids = Vec::new();
    for (national_id, family, given, sex, birth, island, record) in patients {
        let (id, _) = patient::register_direct(
            &mut tx,
            &actor,
            islands[island].id,
            NewPatient {
                national_id: Some(national_id.to_owned()),
                family_name: family.to_owned(),
                given_name: given.to_owned(),
                sex,
                birth_date: birth.to_owned(),
                phone: String::new(),
                record_number: record.to_owned(),
                ..Default::default()
            },
        )
        .await?;
        patient_ids.push(id);
    }
    // One patient already seen at the county hospital too: one person, two records.
    patient::register_direct(
        &mut tx,
        &actor,
        county.id,
        NewPatient {
            national_id: Some("330225195803121234".to_owned()),
            family_name: "王".to_owned(),
            given_name: "秀英".to_owned(),
            sex: Sex::Female,
            birth_date: "1958-03-12".to_owned(),
            phone: String::new(),
            record_number: "HA-2024-1187".to_owned(),
            ..Default::default()
        },
    )
    .await?;

    let demo = Cast {
        island_clinician: user_ids[2],
        county_clinician: user_ids[3],
        island: islands[0].id,
        county: county.id,
        wang: patient_ids[0],
        li: patient_ids[1],
        zhang: patient_ids[4],
    };
    seed_referrals(&mut tx, &actor, &demo).await?;
    seed_worklist(&mut tx, &actor, &demo).await?;
    schedule::seed(&mut tx, user_ids[4], user_ids[1], &demo).await?;
    seed_reading(&mut tx, tertiary.id, user_ids[5]).await?;
    seed_recognition(&mut tx).await?;

    sqlx::query("INSERT INTO ferry_meta (key, value) VALUES ($1, $2)")
        .bind(MARKER)
        .bind(crate::time::rfc3339(crate::time::now_ms()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(DemoSeed {
        password,
        usernames,
    }))
}

/// Every study asked to be read goes to the tertiary hospital's worklist,
/// whose radiologist is a reading lead. The requests themselves come with the
/// demo studies ([`studies`]).
async fn seed_reading(tx: &mut Tx, tertiary: i64, radiologist: i64) -> Result<(), DemoError> {
    let now = crate::time::now_ms();
    sqlx::query(
        "INSERT INTO reading_route (reading_facility_id, precedence, created_at, updated_at) \
         VALUES ($1, 100, $2, $2)",
    )
    .bind(tertiary)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO reading_lead (user_id, created_at) VALUES ($1, $2)")
        .bind(radiologist)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Rules of mutual recognition in the spirit of provincial lists: CT and MR
/// from a county hospital or higher count for 90 days, radiographs from a
/// township health centre or higher for 30, an ECG from anywhere for 7.
async fn seed_recognition(tx: &mut Tx) -> Result<(), DemoError> {
    let now = crate::time::now_ms();
    for (modality, min_tier, days) in [
        ("CT", "secondary", 90_i64),
        ("MR", "secondary", 90),
        ("DX", "primary", 30),
        ("CR", "primary", 30),
        ("ECG", "village", 7),
    ] {
        sqlx::query(
            "INSERT INTO recognition_rule (modality, body_part, min_tier, valid_days, created_at, updated_at) \
             VALUES ($1, '', $2, $3, $4, $4)",
        )
        .bind(modality)
        .bind(min_tier)
        .bind(days)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// An abdominal ultrasound ordered for 张小宇 at the Dongji clinic, on its
/// ultrasound cart's worklist, and a viewer workstation there that a C-MOVE
/// may send studies to (`storescp` on port 11113 plays it).
async fn seed_worklist(tx: &mut Tx, actor: &Actor, cast: &Cast) -> Result<(), DemoError> {
    let now = crate::time::now_ms();
    let values = examination::store::ExaminationValues {
        patient_id: cast.zhang,
        facility_id: cast.island,
        requested_by: cast.island_clinician,
        modality: "US",
        body_part: "ABDOMEN",
        repeat_reason: None,
        scheduled_at: now,
        station_ae: Some("DEMO-MODALITY"),
        procedure_description: "腹部超声",
    };
    let id = examination::store::insert(tx, &values, now).await?;
    crate::audit::append(
        tx,
        actor,
        crate::audit::AuditEntry::new(crate::audit::Action::Create, "examination.create")
            .entity("examination", id)
            .patient(cast.zhang)
            .facility(cast.island),
    )
    .await?;
    crate::modality::destinations::create(
        tx,
        actor,
        cast.island,
        crate::modality::destinations::NewDestination {
            ae_title: "DEMO-VIEWER".to_owned(),
            host: "127.0.0.1".to_owned(),
            port: 11113,
            description: "阅片工作站（东极岛）".to_owned(),
            tls: false,
        },
    )
    .await?;
    Ok(())
}

/// Who and where the demo referrals and examination involve.
struct Cast {
    island_clinician: i64,
    county_clinician: i64,
    island: i64,
    county: i64,
    wang: i64,
    li: i64,
    zhang: i64,
}

/// A small catalogue, a suspected heart attack sent up from the island, a
/// stroke patient sent back down for rehabilitation, and a head CT already
/// done at the county hospital (asking for another shows the duplicate
/// warning).
async fn seed_referrals(tx: &mut Tx, actor: &Actor, cast: &Cast) -> Result<(), DemoError> {
    let entry = |code: &str, tiers: Vec<Tier>, label: &str| {
        Entry::new(code, None, tiers, label).map_err(ApiError::from)
    };
    let entries = [
        entry("I10", vec![Tier::Primary, Tier::Village], "原发性高血压")?,
        entry("E11", vec![Tier::Primary, Tier::Village], "2型糖尿病")?,
        entry("I21", vec![Tier::Tertiary, Tier::Secondary], "急性心肌梗死")?,
        entry("I63", vec![Tier::Tertiary, Tier::Secondary], "脑梗死")?,
    ];
    catalogue::replace(tx, actor, &entries).await?;

    // Nobody is listening yet; the notifications wait in their rows.
    let mut outbox = Outbox::new();
    referral::create(
        tx,
        actor,
        &mut outbox,
        cast.island_clinician,
        cast.island,
        NewReferral {
            patient_id: cast.li,
            direction: Direction::Up,
            to_facility_id: cast.county,
            reason: "压榨性胸痛两小时；卫生室心电图示 ST 段抬高".to_owned(),
            diagnosis_codes: vec!["I21.9".to_owned()],
            justification: None,
            rehabilitation_plan: None,
        },
    )
    .await?;
    referral::create(
        tx,
        actor,
        &mut outbox,
        cast.county_clinician,
        cast.county,
        NewReferral {
            patient_id: cast.wang,
            direction: Direction::Down,
            to_facility_id: cast.island,
            reason: "缺血性脑卒中后病情稳定，回当地继续康复".to_owned(),
            diagnosis_codes: vec!["I63.9".to_owned(), "I10".to_owned()],
            justification: None,
            rehabilitation_plan: Some(
                "每日步态及上肢训练；每周测血压两次，目标低于 140/90 mmHg；\
                 阿司匹林 100 mg 每日一次；3 个月后到县医院复查"
                    .to_owned(),
            ),
        },
    )
    .await?;

    let now = crate::time::now_ms();
    let values = examination::store::ExaminationValues {
        patient_id: cast.wang,
        facility_id: cast.county,
        requested_by: cast.county_clinician,
        modality: "CT",
        body_part: "HEAD",
        repeat_reason: None,
        scheduled_at: now,
        station_ae: None,
        procedure_description: "头颅 CT 平扫",
    };
    let id = examination::store::insert(tx, &values, now).await?;
    examination::store::finish(tx, id, examination::ExamStatus::Performed, None, now).await?;
    crate::audit::append(
        tx,
        actor,
        crate::audit::AuditEntry::new(crate::audit::Action::Create, "examination.create")
            .entity("examination", id)
            .patient(cast.wang)
            .facility(cast.county),
    )
    .await?;
    Ok(())
}
