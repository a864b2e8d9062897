//! The call's text chat: its participants write and read it, it is kept
//! with the consultation after the call, and nobody else reads or writes it.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::calls::{accepted, join, next};
use crate::support::scheduling::desk;
use crate::support::{assert_error, spawn_app};

#[tokio::test]
async fn participants_write_and_read_the_chat_with_display_names_in_order() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    sqlx::query("UPDATE app_user SET display_name = $1 WHERE id = $2")
        .bind("林海 医生")
        .bind(d.clinician.id)
        .execute(app.db.pool())
        .await
        .expect("renamed");
    let chat = format!("/api/v1/consultations/{id}/chat");

    let (status, first) = app
        .post(
            &chat,
            &d.clinician.token,
            json!({ "body": "  BP 150/95 this morning  " }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["body"], "BP 150/95 this morning");
    assert_eq!(first["author_name"], "林海 医生");
    assert_eq!(first["author_id"], d.clinician.id);
    let (status, second) = app
        .post(&chat, &d.expert.token, json!({ "body": "请把心电图拿来" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");

    let (status, all) = app.get(&chat, &d.expert.token).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let bodies: Vec<&str> = all
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| m["body"].as_str().expect("a body"))
        .collect();
    assert_eq!(bodies, ["BP 150/95 this morning", "请把心电图拿来"]);

    // The call screen asks only for what it has not got.
    let after = first["id"].as_i64().expect("an id");
    let (status, newer) = app
        .get(&format!("{chat}?after={after}"), &d.clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{newer}");
    assert_eq!(newer.as_array().map(Vec::len), Some(1), "{newer}");
    assert_eq!(newer[0]["author_name"], "dr-expert");

    // Each message is in the audit trail under its author.
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'call.chat_posted' AND entity_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(app.db.pool())
    .await
    .expect("counted");
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn an_invitee_takes_part_and_nobody_else_reads_or_writes() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let chat = format!("/api/v1/consultations/{id}/chat");
    let (status, _) = app
        .post(
            &chat,
            &d.clinician.token,
            json!({ "body": "the scan is attached" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A clinician at another facility, and a colleague of the requesting
    // clinician who is not in the call: neither reads nor writes.
    let elsewhere = app
        .user("other-island-doc", Role::Clinician, d.c.island_b)
        .await;
    let colleague = app.user("colleague", Role::Clinician, d.c.island_a).await;
    let radiologist = app
        .user("radiologist", Role::Radiologist, d.c.tertiary)
        .await;
    for outsider in [&elsewhere, &colleague, &radiologist] {
        let (status, body) = app.get(&chat, &outsider.token).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_participant");
        let (status, body) = app
            .post(&chat, &outsider.token, json!({ "body": "let me in" }))
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_participant");
    }
    let kept: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM consultation_chat_message WHERE consultation_id = $1",
    )
    .bind(id)
    .fetch_one(app.db.pool())
    .await
    .expect("counted");
    assert_eq!(kept, 1, "nothing an outsider sent was kept");

    // Invited to the call, the radiologist reads and writes.
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/invitees"),
            &d.clinician.token,
            json!({ "user_id": radiologist.id, "note": "to show the scan" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.get(&chat, &radiologist.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    let (status, body) = app
        .post(&chat, &radiologist.token, json!({ "body": "see series 3" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A consultation that does not exist is not found.
    let (status, body) = app
        .get("/api/v1/consultations/999999/chat", &d.clinician.token)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_chat_is_kept_after_the_consultation_and_refuses_empty_or_late_messages() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let chat = format!("/api/v1/consultations/{id}/chat");
    for body in ["", "   ", &"长".repeat(2001)] {
        let (status, answer) = app
            .post(&chat, &d.clinician.token, json!({ "body": body }))
            .await;
        assert_error(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
    }
    let (status, _) = app
        .post(
            &chat,
            &d.clinician.token,
            json!({ "body": &"长".repeat(2000) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    sqlx::query("UPDATE consultation SET status = 'completed' WHERE id = $1")
        .bind(id)
        .execute(app.db.pool())
        .await
        .expect("completed");
    let (status, answer) = app
        .post(&chat, &d.expert.token, json!({ "body": "one more thing" }))
        .await;
    assert_error(status, &answer, StatusCode::CONFLICT, "consultation_closed");
    let (status, kept) = app.get(&chat, &d.expert.token).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(
        kept.as_array().map(Vec::len),
        Some(1),
        "kept with the consultation"
    );
}

#[tokio::test]
async fn those_in_the_call_are_told_of_each_new_message_without_its_words() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (mut clinician, _) = join(&app, &d.clinician, id).await;
    let (mut expert, _) = join(&app, &d.expert, id).await;
    assert_eq!(next(&mut clinician).await["type"], "peer-joined");

    let (status, posted) = app
        .post(
            &format!("/api/v1/consultations/{id}/chat"),
            &d.expert.token,
            json!({ "body": "请把心电图拿来" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    // Everyone, the author too, hears of it; the words stay with the server.
    for socket in [&mut clinician, &mut expert] {
        let told = next(socket).await;
        assert_eq!(told["type"], "chat", "{told}");
        assert_eq!(told["id"], posted["id"], "{told}");
        assert_eq!(told["from"], d.expert.id.to_string(), "{told}");
        assert!(!told.to_string().contains("心电图"), "{told}");
    }
}
