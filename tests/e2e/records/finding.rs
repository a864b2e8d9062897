//! Finding people fast: pinyin, initials and record numbers in any case;
//! patients outside the caller's scope named only as far as breaking the
//! glass would; the "today / my patients" list; what an administrator
//! reviews of a grant.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::scheduling::{consultation, desk};
use crate::support::{assert_error, resident_id, spawn_app, TestApp, TestUser};

async fn register(app: &TestApp, who: &TestUser, patient: Value) -> i64 {
    let (status, body) = app.post("/api/v1/patients", &who.token, patient).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("an id")
}

fn person(family: &str, given: &str, born: &str, record: &str) -> Value {
    json!({ "family_name": family, "given_name": given, "sex": "female",
            "birth_date": born, "record_number": record })
}

async fn search(app: &TestApp, who: &TestUser, q: &str) -> Vec<Value> {
    let (status, found) = app
        .get(
            &format!("/api/v1/patients?q={}", urlencoding(q)),
            &who.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{q}: {found}");
    found.as_array().expect("a list").clone()
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn names(found: &[Value]) -> Vec<String> {
    found
        .iter()
        .map(|p| {
            format!(
                "{}{}",
                p["family_name"].as_str().unwrap_or(""),
                p["given_name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn search_finds_by_pinyin_initials_part_of_a_name_and_record_number_in_any_case() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let wang = register(&app, &clinician, {
        let mut p = person("王", "秀英", "1958-03-12", "ISL-7731");
        p["national_id"] = json!(resident_id("33022519580312002"));
        p
    })
    .await;
    register(
        &app,
        &clinician,
        person("李", "建国", "1961-07-01", "ISL-7732"),
    )
    .await;
    register(
        &app,
        &clinician,
        person("张", "晓燕", "1990-01-05", "ISL-7733"),
    )
    .await;

    for query in [
        "wangxiuying",
        "wang xiuying",
        "Wang Xiu-ying",
        "WANGXIUYING",
        "wxy",
        "WXY",
        "xiuying",
        "秀英",
        "王秀英",
        "isl-7731",
        "ISL-7731",
    ] {
        let found = search(&app, &clinician, query).await;
        assert_eq!(found.len(), 1, "{query}: {:?}", names(&found));
        assert_eq!(found[0]["id"], wang, "{query}");
    }
    // A lower-case check character finds the identity number too.
    let lower = resident_id("33022519580312002").to_lowercase();
    assert_eq!(search(&app, &clinician, &lower).await[0]["id"], wang);
    // Initials find everyone they start, and nothing else.
    let found = search(&app, &clinician, "ljg").await;
    assert_eq!(names(&found), ["李建国"]);
    assert!(search(&app, &clinician, "qqq").await.is_empty());
}

#[tokio::test]
async fn exact_identifiers_come_before_names_and_exact_names_before_partial_ones() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    // A record number that is also someone else's initials.
    let numbered = register(&app, &clinician, person("陈", "美玲", "1970-02-02", "WXY")).await;
    let initials = register(&app, &clinician, person("王", "秀英", "1958-03-12", "A-1")).await;
    let found = search(&app, &clinician, "wxy").await;
    let ids: Vec<&Value> = found.iter().map(|p| &p["id"]).collect();
    assert_eq!(ids, [&json!(numbered), &json!(initials)], "{found:?}");

    // The name in full before a longer name that starts with it.
    let longer = register(
        &app,
        &clinician,
        person("王", "秀英华", "1980-04-04", "A-2"),
    )
    .await;
    let found = search(&app, &clinician, "wangxiuying").await;
    let ids: Vec<&Value> = found.iter().map(|p| &p["id"]).collect();
    assert_eq!(ids, [&json!(initials), &json!(longer)], "{found:?}");
}

#[tokio::test]
async fn patients_outside_scope_are_named_only_by_identifier_and_only_as_matches() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let other_island = app.user("dr-he", Role::Clinician, c.island_b).await;
    let er = app.user("er-doctor", Role::Clinician, c.county).await;
    let national_id = resident_id("33022519580312002");
    let wang = register(&app, &island, {
        let mut p = person("王", "秀英", "1958-03-12", "ISL-7731");
        p["national_id"] = json!(national_id);
        p
    })
    .await;

    // Nothing of her by name, pinyin, initials or identifier in the search.
    for query in [
        "王秀英",
        "wangxiuying",
        "wxy",
        "isl-7731",
        national_id.as_str(),
    ] {
        assert!(search(&app, &er, query).await.is_empty(), "{query}");
    }
    // Names never say that someone outside matches.
    for query in ["王秀英", "wangxiuying", "wxy"] {
        let (status, matches) = app
            .get(
                &format!("/api/v1/break-glass/matches?q={}", urlencoding(query)),
                &er.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(matches, json!([]), "{query}");
    }
    // An identifier says how it matched and how many: nothing of who.
    let (_, matches) = app
        .get("/api/v1/break-glass/matches?q=isl-7731", &er.token)
        .await;
    assert_eq!(
        matches,
        json!([{ "by": "record_number", "value": "isl-7731", "patients": 1 }])
    );
    let (_, matches) = app
        .get(
            &format!(
                "/api/v1/break-glass/matches?q={}",
                national_id.to_lowercase()
            ),
            &er.token,
        )
        .await;
    assert_eq!(
        matches,
        json!([{ "by": "national_id", "value": national_id, "patients": 1 }])
    );
    // An unknown identifier, or one in the caller's own scope, matches nobody.
    let (_, matches) = app
        .get("/api/v1/break-glass/matches?q=ISL-9999", &er.token)
        .await;
    assert_eq!(matches, json!([]));
    let (_, matches) = app
        .get("/api/v1/break-glass/matches?q=isl-7731", &island.token)
        .await;
    assert_eq!(matches, json!([]));
    // An identifier is short: a long query is refused, not looked up.
    let (status, body) = app
        .get(
            &format!("/api/v1/break-glass/matches?q={}", "9".repeat(65)),
            &er.token,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    // Only those who treat patients may ask.
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let (status, body) = app
        .get("/api/v1/break-glass/matches?q=isl-7731", &admin.token)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // Two facilities' own numbering can collide: then the record number
    // cannot name one patient, and breaking the glass by it is refused.
    register(
        &app,
        &other_island,
        person("刘", "海", "1980-01-01", "isl-7731"),
    )
    .await;
    let (_, matches) = app
        .get("/api/v1/break-glass/matches?q=ISL-7731", &er.token)
        .await;
    assert_eq!(matches[0]["patients"], 2, "{matches}");
    let reason = "unconscious after a fall, brought in from the island";
    let (status, body) = app
        .post(
            "/api/v1/break-glass",
            &er.token,
            json!({ "record_number": "ISL-7731", "reason": reason }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "patient_required",
    );

    // For the other island's clinician one of the two holders is their own
    // patient, so the number names one patient outside their scope: 王秀英.
    let (status, grant) = app
        .post(
            "/api/v1/break-glass",
            &other_island.token,
            json!({ "record_number": "ISL-7731", "reason": reason }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["patient_id"], wang);
    let found = search(&app, &other_island, "wxy").await;
    assert_eq!(names(&found), ["王秀英"], "in scope while the grant lasts");

    // Every answer that named someone outside is on the audit trail.
    let (_, events) = app
        .get(
            "/api/v1/audit-events?subtype=break_glass.match",
            &admin.token,
        )
        .await;
    let events = events.as_array().expect("events");
    assert!(events.len() >= 3, "{events:?}");
    assert!(events
        .iter()
        .all(|e| e["actor_name"] == "er-doctor" || e["actor_name"] == "dr-he"));
}

#[tokio::test]
async fn breaking_the_glass_by_record_number_opens_the_patient_and_the_review_shows_what_was_opened(
) {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let er = app.user("er-doctor", Role::Clinician, c.county).await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let wang = register(
        &app,
        &island,
        person("王", "秀英", "1958-03-12", "ISL-7731"),
    )
    .await;

    let (status, grant) = app
        .post("/api/v1/break-glass", &er.token, json!({
            "record_number": "isl-7731", "reason": "unconscious after a fall, brought in from the island"
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let (status, opened) = app
        .get(&format!("/api/v1/patients/{wang}"), &er.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    app.get(&format!("/api/v1/patients/{wang}/studies"), &er.token)
        .await;

    // The administrator's list names who, whom and why.
    let (status, pending) = app.get("/api/v1/break-glass", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending[0]["id"], grant["id"]);
    assert_eq!(pending[0]["display_name"], "er-doctor");
    assert_eq!(pending[0]["patient_family_name"], "王");
    assert_eq!(pending[0]["patient_given_name"], "秀英");
    assert!(pending[0]["facility_name"].is_string());

    let activity = format!("/api/v1/break-glass/{}/activity", grant["id"]);
    let (status, events) = app.get(&activity, &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let subtypes: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["subtype"].as_str())
        .collect();
    assert_eq!(subtypes.first(), Some(&"break_glass.open"), "{subtypes:?}");
    assert!(subtypes.contains(&"patient.read"), "{subtypes:?}");
    // Only the grant holder's acts on that patient: the island's own
    // clinician reading her record is not part of it.
    app.get(&format!("/api/v1/patients/{wang}"), &island.token)
        .await;
    let (_, again) = app.get(&activity, &admin.token).await;
    assert_eq!(again.as_array().map(Vec::len), Some(subtypes.len()));

    // Administrators only; a grant that does not exist is 404.
    let (status, body) = app.get(&activity, &er.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _) = app
        .get("/api/v1/break-glass/999999/activity", &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn today_lists_the_patients_a_clinician_touched_or_has_open_work_for_newest_first() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let colleague = app.user("colleague", Role::Clinician, d.c.island_a).await;
    let touched = register(
        &app,
        &colleague,
        person("李", "建国", "1961-07-01", "ISL-2"),
    )
    .await;
    let untouched = register(
        &app,
        &colleague,
        person("张", "晓燕", "1990-01-05", "ISL-3"),
    )
    .await;

    // Nothing yet: registering by a colleague is not the clinician's.
    let (status, list) = app.get("/api/v1/patients/recent", &d.clinician.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list, json!([]));

    consultation(&app, &d, "routine").await;
    let (status, _) = app
        .get(&format!("/api/v1/patients/{touched}"), &d.clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, list) = app.get("/api/v1/patients/recent", &d.clinician.token).await;
    let list = list.as_array().expect("a list");
    let ids: Vec<&Value> = list.iter().map(|e| &e["patient"]["id"]).collect();
    assert_eq!(ids, [&json!(touched), &json!(d.patient)], "{list:?}");
    assert_eq!(list[0]["reasons"], json!(["touched"]));
    let reasons = list[1]["reasons"].as_array().expect("reasons");
    assert!(reasons.contains(&json!("consultation")), "{reasons:?}");
    assert!(list.iter().all(|e| e["patient"]["id"] != untouched));
    assert!(list[0]["last_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // The list is the caller's own, and audited as a read of whom it showed.
    let (_, theirs) = app.get("/api/v1/patients/recent", &d.expert.token).await;
    assert!(theirs
        .as_array()
        .expect("a list")
        .iter()
        .all(|e| e["patient"]["id"] != touched));
    let (status, body) = app.get("/api/v1/patients/recent", &d.scheduler.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .get("/api/v1/patients/recent?limit=0", &d.clinician.token)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'patient.recent' AND actor_user_id = $1",
    )
    .bind(d.clinician.id)
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(count, 1, "one event for the one answer that listed anyone");

    // Scope ends, the patient leaves the list: a colleague's patient read
    // through a grant that has run out.
    let county = app.user("county-doc", Role::Clinician, d.c.county).await;
    let (status, _) = app
        .post(
            "/api/v1/break-glass",
            &county.token,
            json!({
                "patient_id": touched, "reason": "seen in the emergency department tonight"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.get(&format!("/api/v1/patients/{touched}"), &county.token)
        .await;
    let (_, list) = app.get("/api/v1/patients/recent", &county.token).await;
    assert_eq!(list[0]["patient"]["id"], touched);
    sqlx::query("UPDATE break_glass_grant SET granted_at = 1, expires_at = 2")
        .execute(app.db.pool())
        .await
        .expect("expire the grant");
    let (_, list) = app.get("/api/v1/patients/recent", &county.token).await;
    assert_eq!(list, json!([]));
}
