//! A clinician who names another facility's study by its Study Instance UID
//! (examination lists show UIDs): on every path that takes a study in its
//! body (a consultation's `studies`, a reading request, an examination's
//! images) the answer is the one a UID nobody holds gets, nothing is
//! written, and the study stays unreadable through WADO and QIDO. A study a
//! consultation lent stops being readable once the consultation is
//! cancelled. A booking that names a referral (for a slot held back for
//! referred patients) gets the same treatment: another facility's referral
//! is answered as a missing one, and one of another patient is refused.

use ferry_server::auth::Role;
use jiff::civil::Weekday;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::authz::{assert_hidden_like_missing, is_refusal};
use crate::support::reading::stored_study;
use crate::support::scheduling::{add_rule, consultation as routine, desk, local, next_weekday};
use crate::support::{assert_error, spawn_app, Consortium, TestApp, TestUser};

/// A well-formed UID that no facility holds.
const NOBODY_HOLDS: &str = "1.2.826.0.1.3680043.8.498.424242";

/// Island A's clinician and patient, island B's clinician, and one study of
/// that same person at each island (so only the facility differs).
struct Islands {
    c: Consortium,
    a: TestUser,
    b: TestUser,
    expert: TestUser,
    patient: i64,
    own_study: String,
    foreign_study: String,
}

async fn islands(app: &TestApp) -> Islands {
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let same = app
        .patient_at(c.island_b, "330225195803121234", "B-1")
        .await;
    assert_eq!(patient, same, "one person at both islands");
    let a = app.user("dr-a", Role::Clinician, c.island_a).await;
    let b = app.user("dr-b", Role::Clinician, c.island_b).await;
    let expert = app.user("dr-expert", Role::Expert, c.tertiary).await;
    let own_study = stored_study(app, &a, "CT_small.dcm", "A-1").await;
    let foreign_study = stored_study(app, &b, "CT_small.dcm", "B-1").await;
    Islands {
        c,
        a,
        b,
        expert,
        patient,
        own_study,
        foreign_study,
    }
}

fn consultation(i: &Islands, studies: &[&str]) -> Value {
    json!({ "patient_id": i.patient, "expert_id": i.expert.id, "urgency": "routine",
            "reason": "Chest pain on exertion", "studies": studies })
}

/// What the caller can learn of a study through DICOMweb: the status of
/// its metadata and how many studies a QIDO search by its UID finds.
async fn dicomweb_reach(app: &TestApp, user: &TestUser, uid: &str) -> (StatusCode, usize) {
    let (status, _) = app
        .get(&format!("/dicomweb/studies/{uid}/metadata"), &user.token)
        .await;
    let (found_status, found) = app
        .get(
            &format!("/dicomweb/studies?StudyInstanceUID={uid}"),
            &user.token,
        )
        .await;
    let found = match found_status {
        StatusCode::NO_CONTENT => 0,
        StatusCode::OK => found.as_array().map_or(0, Vec::len),
        other => panic!("QIDO answered {other}: {found}"),
    };
    (status, found)
}

async fn assert_unreadable(app: &TestApp, user: &TestUser, uid: &str) {
    let (status, found) = dicomweb_reach(app, user, uid).await;
    // DICOMweb answers in PS3.18's terms, not Ferry's envelope: the status
    // alone tells the refusal.
    assert!(
        is_refusal(status, true),
        "WADO metadata of {uid} answered {status}"
    );
    assert_eq!(found, 0, "QIDO finds {uid}");
}

/// A request body naming a study by its UID.
type BodyFor<'a> = Box<dyn Fn(&str) -> Value + 'a>;

/// Rows of the tables an attach would write.
async fn written(app: &TestApp) -> [i64; 4] {
    [
        app.count("consultation").await,
        app.count("consultation_study").await,
        app.count("reading_request").await,
        app.count("examination WHERE study_instance_uid IS NOT NULL")
            .await,
    ]
}

#[tokio::test]
async fn a_foreign_study_is_refused_on_every_path_like_one_nobody_holds() {
    let app = spawn_app().await;
    let i = islands(&app).await;
    // The island B clinician reads their own study: it is there to steal.
    assert_eq!(
        dicomweb_reach(&app, &i.b, &i.foreign_study).await,
        (StatusCode::OK, 1)
    );
    assert_unreadable(&app, &i.a, &i.foreign_study).await;
    let (status, exam) = app
        .post(
            &format!("/api/v1/patients/{}/examinations", i.patient),
            &i.a.token,
            json!({ "modality": "CT", "body_part": "CHEST" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exam}");
    let performed = format!("/api/v1/examinations/{}/performed", exam["id"]);
    let before = written(&app).await;

    // Each path: the foreign UID answers exactly as a UID nobody holds.
    let paths: [(&str, BodyFor<'_>); 3] = [
        (
            "/api/v1/consultations",
            Box::new(|uid: &str| consultation(&i, &[i.own_study.as_str(), uid])),
        ),
        (
            "/api/v1/reading-requests",
            Box::new(|uid: &str| {
                json!({ "study_instance_uid": uid, "clinical_question": "mass?",
                        "priority": "routine" })
            }),
        ),
        (
            performed.as_str(),
            Box::new(|uid: &str| json!({ "study_instance_uid": uid })),
        ),
    ];
    for (path, body) in &paths {
        let (foreign_status, foreign) = app.post(path, &i.a.token, body(&i.foreign_study)).await;
        let (unknown_status, unknown) = app.post(path, &i.a.token, body(NOBODY_HOLDS)).await;
        assert_error(foreign_status, &foreign, StatusCode::NOT_FOUND, "not_found");
        assert_hidden_like_missing(
            (foreign_status, &foreign),
            (unknown_status, &unknown),
            &format!("{path}: a foreign study"),
        );
        assert_eq!(written(&app).await, before, "{path} wrote nothing");
        assert_unreadable(&app, &i.a, &i.foreign_study).await;
    }
    let (_, exam) = app
        .get(
            &format!("/api/v1/patients/{}/examinations", i.patient),
            &i.a.token,
        )
        .await;
    assert_eq!(exam[0]["status"], "requested", "{exam}");

    // The caller's own study of the patient is attached on every path.
    let (status, body) = app
        .post(
            "/api/v1/consultations",
            &i.a.token,
            consultation(&i, &[&i.own_study]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["studies"], json!([i.own_study]));
    let (status, body) = app
        .post(
            &performed,
            &i.a.token,
            json!({ "study_instance_uid": i.own_study }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["study_instance_uid"], i.own_study.as_str());
    assert_unreadable(&app, &i.a, &i.foreign_study).await;
}

#[tokio::test]
async fn a_study_of_another_patient_is_refused_and_writes_nothing_and_a_late_registration_counts() {
    let app = spawn_app().await;
    let i = islands(&app).await;
    app.patient_at(i.c.island_a, "330225196001011118", "A-2")
        .await;
    let other = stored_study(&app, &i.a, "CT_small.dcm", "A-2").await;
    let before = written(&app).await;
    let (status, body) = app
        .post(
            "/api/v1/consultations",
            &i.a.token,
            consultation(&i, &[&other]),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "study_of_another_patient",
    );
    assert_eq!(body["error"]["details"]["field"], "studies");
    assert_eq!(written(&app).await, before);

    // A study sent before its patient was registered is theirs all the same.
    let early = stored_study(&app, &i.a, "CT_small.dcm", "A-9").await;
    let late = app
        .patient_at(i.c.island_a, "330225197001011112", "A-9")
        .await;
    let mut body = consultation(&i, &[&early]);
    body["patient_id"] = json!(late);
    let (status, body) = app.post("/api/v1/consultations", &i.a.token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["studies"], json!([early]));
}

#[tokio::test]
async fn a_study_lent_by_a_consultation_is_taken_back_when_it_is_cancelled() {
    let app = spawn_app().await;
    let i = islands(&app).await;
    let (status, case) = app
        .post(
            "/api/v1/consultations",
            &i.a.token,
            consultation(&i, &[&i.own_study]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_i64().expect("an id");
    // What an attach before this fix left behind: island B's study on an
    // island A consultation.
    sqlx::query(
        "INSERT INTO consultation_study (consultation_id, study_instance_uid) VALUES ($1, $2)",
    )
    .bind(id)
    .bind(&i.foreign_study)
    .execute(app.db.pool())
    .await
    .expect("attached");
    // While the case is open, its studies are lent to both sides.
    assert_eq!(
        dicomweb_reach(&app, &i.a, &i.foreign_study).await,
        (StatusCode::OK, 1)
    );
    assert_eq!(
        dicomweb_reach(&app, &i.expert, &i.own_study).await,
        (StatusCode::OK, 1)
    );

    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/status"),
            &i.a.token,
            json!({ "status": "cancelled", "reason": "patient transferred" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_unreadable(&app, &i.a, &i.foreign_study).await;
    assert_unreadable(&app, &i.expert, &i.own_study).await;
    // Nor can the cancelled case still lend the study to a reading request.
    let before = written(&app).await;
    let (status, body) = app
        .post(
            "/api/v1/reading-requests",
            &i.a.token,
            json!({ "study_instance_uid": i.foreign_study, "clinical_question": "mass?",
                    "priority": "routine" }),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(written(&app).await, before);
    // The facility's own study stays its own.
    assert_eq!(
        dicomweb_reach(&app, &i.a, &i.own_study).await,
        (StatusCode::OK, 1)
    );
}

/// An up-referral of `patient` from `clinician`'s facility to the tertiary
/// hospital, accepted there.
async fn accepted_referral(
    app: &TestApp,
    clinician: &TestUser,
    receiving: &TestUser,
    patient: i64,
    tertiary: i64,
) -> i64 {
    let (status, referral) = app
        .post(
            "/api/v1/referrals",
            &clinician.token,
            json!({ "patient_id": patient, "direction": "up", "to_facility_id": tertiary,
                    "reason": "needs a cardiologist", "diagnosis_codes": ["I21.4"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{referral}");
    let id = referral["id"].as_i64().expect("an id");
    let (status, body) = app
        .post(
            &format!("/api/v1/referrals/{id}/accept"),
            &receiving.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

#[tokio::test]
async fn a_priority_booking_names_only_its_own_facilitys_referral_of_the_same_patient() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let receiving = app
        .user("tertiary-doc", Role::Clinician, d.c.tertiary)
        .await;
    let day = next_weekday("Asia/Shanghai", Weekday::Wednesday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 3, "start_time": "16:00", "end_time": "18:00", "slot_minutes": 60,
                "service": "video", "referral_priority": true }),
    )
    .await;
    let b = app.user("dr-b", Role::Clinician, d.c.island_b).await;
    let theirs = app
        .patient_at(d.c.island_b, "110101199001010015", "B-1")
        .await;
    let foreign = accepted_referral(&app, &b, &receiving, theirs, d.c.tertiary).await;
    let case = routine(&app, &d, "routine").await;
    let before = app.count("booking").await;

    let with = |referral: i64| {
        json!({ "expert_id": d.expert.id, "start": local("Asia/Shanghai", day, 16, 0),
                "consultation_id": case, "referral_id": referral })
    };
    let (foreign_status, foreign_body) = app
        .post("/api/v1/bookings", &d.clinician.token, with(foreign))
        .await;
    let (missing_status, missing_body) = app
        .post("/api/v1/bookings", &d.clinician.token, with(999_999))
        .await;
    assert_error(
        foreign_status,
        &foreign_body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_referral",
    );
    assert_hidden_like_missing(
        (foreign_status, &foreign_body),
        (missing_status, &missing_body),
        "another facility's referral",
    );
    assert_eq!(app.count("booking").await, before);

    // A hold made for the facility's referral of one patient cannot be
    // confirmed for another patient's consultation.
    let other = app
        .patient_at(d.c.island_a, "110101199202020025", "A-2")
        .await;
    let own = accepted_referral(&app, &d.clinician, &receiving, other, d.c.tertiary).await;
    let (status, hold) = app
        .post(
            "/api/v1/bookings",
            &d.clinician.token,
            json!({ "expert_id": d.expert.id, "start": local("Asia/Shanghai", day, 17, 0),
                    "hold": true, "referral_id": own }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{}/confirm", hold["id"]),
            &d.clinician.token,
            json!({ "consultation_id": case }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_referral",
    );
    let (_, case) = app
        .get(&format!("/api/v1/consultations/{case}"), &d.clinician.token)
        .await;
    assert_eq!(case["status"], "requested", "nothing booked: {case}");
}
