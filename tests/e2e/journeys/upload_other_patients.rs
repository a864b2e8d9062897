//! Files of other patients dropped on one patient's upload page, in a real
//! browser: only this patient's files (and a letter the server refuses) are
//! sent; the others are held back and listed by the patient they name (a
//! patient of the same clinic, with a link) or as not in this consortium (a
//! Patient ID in no record, and one of a patient the clinician may not
//! reach, in the same words). Sending the other patient's group stores it
//! under that patient, from that patient's own page; nothing else is
//! stored. Stored, skipped, refused, held back and left each look and read
//! differently. Files dropped on one patient's page just before the user
//! moves to another's are not sent at all. In English, in Chinese, and on
//! a phone.

use ferry_server::auth::Role;
use serde_json::{json, Value};

use crate::support::dicom_files::study;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::{spawn_app, TestApp};

async fn register(app: &TestApp, token: &str, body: Value) -> i64 {
    let (status, patient) = app.post("/api/v1/patients", token, body).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{patient}");
    patient["id"].as_i64().expect("a patient id")
}

/// The consortium patient a stored study is filed under; `None` for no
/// study at all.
async fn filed_under(app: &TestApp, uid: &str) -> Option<Option<i64>> {
    app.imaging
        .store()
        .study(uid)
        .await
        .expect("the index answers")
        .map(|s| s.patient_id)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

async fn run(tag: &str, locale: &str, viewport: Value) {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let elsewhere = app.user("dr-he", Role::Clinician, c.island_b).await;
    let wang = register(
        &app,
        &clinician.token,
        json!({ "national_id": "330225195803121234", "family_name": "王", "given_name": "秀英",
                "sex": "female", "birth_date": "1958-03-12", "record_number": "ISL-1" }),
    )
    .await;
    let li = register(
        &app,
        &clinician.token,
        json!({ "national_id": "330225195004091235", "family_name": "李", "given_name": "建国",
                "sex": "male", "birth_date": "1950-04-09", "record_number": "ISL-2" }),
    )
    .await;
    // A patient of the other island only: out of the clinician's reach.
    register(
        &app,
        &elsewhere.token,
        json!({ "national_id": "330225196001011230", "family_name": "赵", "given_name": "敏",
                "sex": "female", "birth_date": "1960-01-01", "record_number": "B-7" }),
    )
    .await;

    let dir = tempfile::tempdir().expect("a directory");
    let wang_ct = study(dir.path(), &["CT_small.dcm", "MR_small.dcm"], "ISL-1");
    let li_mr = study(dir.path(), &["MR_small.dcm"], "ISL-2");
    let zhao_ct = study(dir.path(), &["CT_small.dcm"], "B-7");
    let nobody_ct = study(dir.path(), &["CT_small.dcm"], "X-404");
    // Hers too, dropped as the user moves on to his page.
    let late_dir = tempfile::tempdir().expect("a directory");
    let late_ct = study(late_dir.path(), &["CT_small.dcm"], "ISL-1");
    let letter = dir.path().join("referral-letter.txt");
    std::fs::write(&letter, "Dear colleague, please see the attached images.\n").expect("a letter");
    let copy = dir.path().join("again.dcm");
    std::fs::copy(&wang_ct.files[0], &copy).expect("a copy");
    let shots = screenshots("upload-other-patients");
    // The three runs share the folder: each clears only its own.
    for entry in std::fs::read_dir(&shots).into_iter().flatten().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{tag}-"))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }

    let result = journey(
        "upload-other-patients",
        json!({
            "base": app.url(""),
            "clinician": user(&clinician),
            "locale": locale,
            "viewport": viewport,
            "tag": tag,
            "wang": { "id": wang },
            "li": { "id": li },
            "files": { "wang": wang_ct.files, "li": li_mr.files, "zhao": zhao_ct.files,
                       "nobody": nobody_ct.files, "late": late_ct.files },
            "studies": { "li": li_mr.uid, "zhao": zhao_ct.uid, "nobody": nobody_ct.uid,
                         "late": late_ct.uid },
            "copy": copy,
            "not_dicom": letter,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    let zh = locale == "zh-CN";

    // The page showed her banner; only her files and the letter went up.
    assert!(text(&seen["banner"]).contains("王秀英"), "{seen}");
    assert_eq!(seen["posts_before"], 3, "{seen}");
    assert_eq!(
        seen["held_stored"],
        json!({ "li": 0, "zhao": 0, "nobody": 0 }),
        "{seen}"
    );

    // Held back: 李建国 by name, sex, birth date, facility and a link; the
    // unreachable patient and the unknown Patient ID in the same words.
    let groups = seen["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 3, "{seen}");
    let his = &groups[0];
    assert_eq!(his["kind"], "patient", "{seen}");
    assert_eq!(his["patient"], li.to_string(), "{seen}");
    assert_eq!(his["link"], format!("#/patients/{li}"), "{seen}");
    assert_eq!(his["send"], true, "{seen}");
    let his_text = text(&his["text"]);
    for part in ["李建国", "1950-04-09", "ISL-2", "Island A"] {
        assert!(his_text.contains(part), "{part}: {his_text}");
    }
    assert!(
        his_text.contains(if zh { "男" } else { "male" }),
        "{his_text}"
    );
    let stranger = if zh {
        "不在本医联体"
    } else {
        "not in this consortium"
    };
    for (group, id) in [(&groups[1], "B-7"), (&groups[2], "X-404")] {
        assert_eq!(group["kind"], "unknown", "{seen}");
        assert_eq!(group["send"], false, "{seen}");
        let words = text(&group["text"]);
        assert!(words.contains(id) && words.contains(stranger), "{words}");
        assert!(
            !words.contains("赵"),
            "the unreachable patient's name leaked: {words}"
        );
    }

    // Each outcome its own colour, mark and words; no full bar when refused.
    let first = &seen["first"];
    let outcomes = [
        &first["stored"],
        &seen["present"],
        &first["refused"],
        &first["held_li"],
    ];
    let states: Vec<&str> = outcomes.iter().map(|o| text(&o["state"])).collect();
    assert_eq!(states, ["stored", "present", "refused", "held"], "{seen}");
    for (n, a) in outcomes.iter().enumerate() {
        for b in &outcomes[n + 1..] {
            assert_ne!(a["colour"], b["colour"], "{a} / {b}");
            assert_ne!(a["icon"], b["icon"], "{a} / {b}");
            assert_ne!(a["words"], b["words"], "{a} / {b}");
        }
    }
    assert_eq!(first["refused"]["bar"], Value::Null, "{seen}");
    assert_eq!(first["held_li"]["bar"], Value::Null, "{seen}");
    assert_eq!(first["total"]["value"], first["total"]["max"], "{seen}");
    let summary = text(&first["summary"]);
    let wanted = if zh {
        "已为王秀英保存 2 个文件；暂缓 3 个（其他患者）；拒收 1 个。"
    } else {
        "2 stored for 王秀英; 3 held back (other patients); 1 refused."
    };
    assert_eq!(summary, wanted, "{seen}");
    let words = if zh {
        ["已保存", "此前已保存，跳过", "被拒收", "暂缓，未发送"]
    } else {
        [
            "stored",
            "already stored, skipped",
            "refused",
            "held back, not sent",
        ]
    };
    for (outcome, word) in outcomes.iter().zip(words) {
        assert!(text(&outcome["words"]).contains(word), "{outcome}");
    }

    // Sent from his own page, under his banner; the rest held there again.
    assert!(text(&seen["li_banner"]).contains("李建国"), "{seen}");
    assert!(text(&seen["brought"]).contains("王秀英"), "{seen}");
    assert_eq!(seen["second"]["li_stored"], 1, "{seen}");
    let second = text(&seen["second"]["summary"]);
    assert!(
        second.starts_with(if zh {
            "已为李建国保存 1 个文件"
        } else {
            "1 stored for 李建国"
        }),
        "{second}"
    );
    assert_eq!(
        seen["second"]["groups"].as_array().map(Vec::len),
        Some(2),
        "{seen}"
    );
    assert_eq!(seen["left"]["state"], "left", "{seen}");
    assert_eq!(seen["posts"], 4, "{seen}");
    if viewport["width"] == 390 {
        assert!(seen["overflow"].as_i64().is_some_and(|o| o <= 0), "{seen}");
    }

    // The server's own record: hers under her, his under him, nothing else.
    assert_eq!(filed_under(&app, &wang_ct.uid).await, Some(Some(wang)));
    assert_eq!(filed_under(&app, &li_mr.uid).await, Some(Some(li)));
    assert_eq!(filed_under(&app, &zhao_ct.uid).await, None);
    assert_eq!(filed_under(&app, &nobody_ct.uid).await, None);
    let (status, studies) = app
        .get(&format!("/api/v1/patients/{li}/studies"), &clinician.token)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{studies}");
    assert!(studies.to_string().contains(&li_mr.uid), "{studies}");

    // Dropped on her page, the page left before the files were sorted:
    // nothing sent, and nothing of hers on his page.
    assert_eq!(
        seen["late"],
        json!({ "posts": 0, "rows": 0, "stored": 0 }),
        "{seen}"
    );
    assert_eq!(filed_under(&app, &late_ct.uid).await, None);

    assert_eq!(screenshot_count(&result), 5, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_other_patients_are_held_back_and_sent_only_to_the_patient_they_name() {
    run("en", "en-US", json!({ "width": 1024, "height": 768 })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_other_patients_are_held_back_in_chinese() {
    run("zh", "zh-CN", json!({ "width": 1024, "height": 768 })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_other_patients_are_held_back_on_a_phone() {
    run("phone", "zh-CN", json!({ "width": 390, "height": 844 })).await;
}
