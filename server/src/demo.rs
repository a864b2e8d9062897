//! The demo consortium for `ferry serve --demo`: one tertiary hospital, one
//! county hospital, three island clinics, one user per role and a handful of
//! patients, so a new user can click through at once. Seeded once: a marker in
//! `ferry_meta` makes later starts leave the data alone.

use crate::audit::Actor;
use crate::auth::Role;
use crate::db::Db;
use crate::error::ApiError;
use crate::facility::{self, NewFacility, Tier};
use crate::patient::{self, NewPatient, Sex};
use crate::user::{self, NewUser};

const MARKER: &str = "demo_seeded";

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
        facility(
            "Harbour City Tertiary Hospital",
            Tier::Tertiary,
            None,
            "+86 571 8800 0000",
        ),
    )
    .await?;
    let county = facility::create(
        &mut tx,
        &actor,
        facility(
            "Haian County Hospital",
            Tier::Secondary,
            Some(tertiary.id),
            "+86 571 6600 0000",
        ),
    )
    .await?;
    let mut islands = Vec::new();
    for (name, contact) in [
        ("Dongji Island Clinic", "+86 571 6601 0001"),
        ("Xiaoyang Island Clinic", "+86 571 6601 0002"),
        ("Nanpeng Island Clinic", "+86 571 6601 0003"),
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

    let people: [(&str, &str, i64, Role, &[&str]); 5] = [
        (
            "demo-admin",
            "Demo Administrator",
            tertiary.id,
            Role::Admin,
            &[],
        ),
        (
            "demo-scheduler",
            "Demo Scheduler",
            tertiary.id,
            Role::Scheduler,
            &[],
        ),
        (
            "demo-clinician",
            "Dr. Lin (island clinician)",
            islands[0].id,
            Role::Clinician,
            &[],
        ),
        (
            "demo-expert",
            "Prof. Zhou (cardiology)",
            tertiary.id,
            Role::Expert,
            &["cardiology"],
        ),
        (
            "demo-radiologist",
            "Dr. Chen (radiology)",
            tertiary.id,
            Role::Radiologist,
            &["radiology"],
        ),
    ];
    let mut usernames = Vec::new();
    for (username, display_name, facility_id, role, specialties) in people {
        user::create(
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
            "330225196511020417",
            "李",
            "建国",
            Sex::Male,
            "1965-11-02",
            0,
            "DJ-0002",
        ),
        (
            "330225198807150026",
            "陈",
            "美玲",
            Sex::Female,
            "1988-07-15",
            1,
            "XY-0001",
        ),
        (
            "330225197201300515",
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
    for (national_id, family, given, sex, birth, island, record) in patients {
        patient::register(
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
            },
        )
        .await?;
    }
    // One patient already seen at the county hospital too: one person, two records.
    patient::register(
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
        },
    )
    .await?;

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
