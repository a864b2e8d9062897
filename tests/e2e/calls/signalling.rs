//! Video-call signalling over real WebSockets: admission before the upgrade,
//! the relay of offers, answers and candidates, the call's record, reconnect,
//! refusals of malformed and oversized messages, and ICE servers with TURN
//! credentials checked against an independent HMAC.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::scheduling::{booked_next_monday, consultation, desk};
use crate::support::{assert_error, spawn_app, spawn_app_with, TestApp, TestUser};

use crate::support::calls::{accepted, join, next, open, send};
use crate::support::wait_until;

async fn count(app: &TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

#[tokio::test]
async fn clinician_and_expert_meet_and_the_call_is_recorded() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;

    let (mut clinician, joined) = join(&app, &d.clinician, id).await;
    assert_eq!(joined["peers"], json!([]));
    assert_eq!(joined["you"]["id"], d.clinician.id.to_string());
    let (mut expert, joined) = join(&app, &d.expert, id).await;
    assert_eq!(joined["peers"][0]["id"], d.clinician.id.to_string());
    let arrived = next(&mut clinician).await;
    assert_eq!(arrived["type"], "peer-joined");
    assert_eq!(arrived["reconnect"], false);

    send(
        &mut clinician,
        json!({ "type": "offer", "sdp": "v=0 offer" }),
    )
    .await;
    let offer = next(&mut expert).await;
    assert_eq!(
        offer,
        json!({ "type": "offer", "from": d.clinician.id.to_string(), "sdp": "v=0 offer" })
    );
    send(
        &mut expert,
        json!({ "type": "answer", "sdp": "v=0 answer", "to": d.clinician.id.to_string() }),
    )
    .await;
    assert_eq!(next(&mut clinician).await["sdp"], "v=0 answer");
    let candidate = json!({ "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0" });
    send(
        &mut expert,
        json!({ "type": "ice-candidate", "candidate": candidate }),
    )
    .await;
    let got = next(&mut clinician).await;
    assert_eq!(got["type"], "ice-candidate");
    assert_eq!(got["candidate"], candidate);
    send(&mut clinician, json!({ "type": "ping", "id": 7 })).await;
    assert_eq!(
        next(&mut clinician).await,
        json!({ "type": "pong", "id": 7 })
    );

    // Both connected: the consultation is under way and a call is open.
    let status: String = sqlx::query_scalar("SELECT status FROM consultation WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .expect("a status");
    assert_eq!(status, "in_progress");
    let open =
        "SELECT COUNT(*) FROM consultation_call WHERE consultation_id = $1 AND ended_at IS NULL";
    assert_eq!(count(&app, open, id).await, 1);

    send(&mut expert, json!({ "type": "leave" })).await;
    let left = next(&mut clinician).await;
    assert_eq!(left["type"], "peer-left", "{left}");
    assert_eq!(left["reason"], "left");
    wait_until("the call ends when the expert leaves", Duration::from_secs(5), async || {
        count(&app, "SELECT COUNT(*) FROM consultation_call WHERE consultation_id = $1 AND ended_at IS NOT NULL", id).await == 1
    })
    .await;
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT subtype FROM audit_event WHERE entity_type = 'consultation' AND entity_id = $1 \
         AND subtype LIKE 'call.%' ORDER BY seq",
    )
    .bind(id.to_string())
    .fetch_all(app.db.pool())
    .await
    .expect("events");
    assert_eq!(
        events,
        ["call.joined", "call.joined", "call.started", "call.ended"]
    );
}

#[tokio::test]
async fn a_participant_who_reconnects_replaces_the_old_socket_and_the_other_side_restarts_ice() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (mut clinician, _) = join(&app, &d.clinician, id).await;
    let (mut expert, _) = join(&app, &d.expert, id).await;
    next(&mut clinician).await; // peer-joined

    let (mut again, joined) = join(&app, &d.expert, id).await;
    assert_eq!(joined["peers"][0]["id"], d.clinician.id.to_string());
    let told = next(&mut expert).await;
    assert_eq!(told["code"], "replaced", "{told}");
    let back = next(&mut clinician).await;
    assert_eq!(back["type"], "peer-joined");
    assert_eq!(back["reconnect"], true);
    // The new socket carries the call on; the call was never ended.
    send(
        &mut clinician,
        json!({ "type": "offer", "sdp": "v=0 restart" }),
    )
    .await;
    assert_eq!(next(&mut again).await["sdp"], "v=0 restart");
    let calls = "SELECT COUNT(*) FROM consultation_call WHERE consultation_id = $1";
    assert_eq!(count(&app, calls, id).await, 1);
    let ended = "SELECT COUNT(*) FROM consultation_call WHERE consultation_id = $1 AND ended_at IS NOT NULL";
    assert_eq!(count(&app, ended, id).await, 0);
}

#[tokio::test]
async fn malformed_oversized_and_misdirected_messages_are_refused_without_ending_the_session() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let mut socket = open(&app, &d.clinician, id).await.expect("admitted");
    send(&mut socket, json!({ "type": "offer", "sdp": "early" })).await;
    assert_eq!(next(&mut socket).await["code"], "join_first");
    send(&mut socket, json!({ "type": "join", "v": 1 })).await;
    assert_eq!(next(&mut socket).await["type"], "joined");

    socket.send(Message::text("{not json")).await.expect("sent");
    assert_eq!(next(&mut socket).await["code"], "malformed");
    send(
        &mut socket,
        json!({ "type": "offer", "sdp": "x", "to": "999" }),
    )
    .await;
    assert_eq!(next(&mut socket).await["code"], "unknown_peer");
    socket
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .expect("sent");
    assert_eq!(next(&mut socket).await["code"], "text_only");
    // Consent says yes or no; anything else is taken as neither.
    send(&mut socket, json!({ "type": "consent" })).await;
    assert_eq!(next(&mut socket).await["code"], "malformed");
    send(
        &mut socket,
        json!({ "type": "consent", "recording": "yes" }),
    )
    .await;
    assert_eq!(next(&mut socket).await["code"], "malformed");
    let consents: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype LIKE 'recording.%'")
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
    assert_eq!(consents, 0);
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await["type"], "pong", "still open");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"ferry_signalling_messages_refused_total{reason="malformed"} 3"#),
        "{metrics}"
    );

    // A frame over the limit ends the connection; nothing of it is relayed.
    let huge = json!({ "type": "offer", "sdp": "x".repeat(100 * 1024) });
    let _ = socket.send(Message::text(huge.to_string())).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true));
}

#[tokio::test]
async fn outsiders_early_comers_and_closed_consultations_are_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let booked = booked_next_monday(&app, &d).await;

    let Err((status, body)) = open(&app, &d.clinician, booked).await else {
        panic!("admitted days early");
    };
    assert_error(status, &body, StatusCode::CONFLICT, "too_early");
    let opens_at = &body["error"]["details"]["opens_at"];
    assert!(opens_at.is_string(), "{body}");
    // The consultation tells its parties the same opening time, in the list
    // and on its own, so their screens need not ask the call.
    let (_, list) = app.get("/api/v1/consultations", &d.clinician.token).await;
    let listed = list
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == booked))
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(&listed["call_opens_at"], opens_at);
    let (_, one) = app
        .get(&format!("/api/v1/consultations/{booked}"), &d.expert.token)
        .await;
    assert_eq!(&one["call_opens_at"], opens_at);

    let stranger = app
        .user(
            "stranger",
            ferry_server::auth::Role::Clinician,
            d.c.island_a,
        )
        .await;
    let other_expert = app
        .user(
            "other-expert",
            ferry_server::auth::Role::Expert,
            d.c.tertiary,
        )
        .await;
    let live = accepted(&app, &d).await;
    // An accepted on-call case has no slot: its call is open at once.
    let (_, one) = app
        .get(&format!("/api/v1/consultations/{live}"), &d.clinician.token)
        .await;
    assert_eq!(one["status"], "scheduled", "{one}");
    assert!(one["call_opens_at"].is_null(), "{one}");
    for outsider in [&stranger, &other_expert, &d.scheduler] {
        let Err((status, body)) = open(&app, outsider, live).await else {
            panic!("{} was admitted", outsider.username);
        };
        assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_participant");
    }
    let Err((status, _)) = open(
        &app,
        &TestUser {
            id: 0,
            username: "nobody".into(),
            token: "not-a-token".into(),
        },
        live,
    )
    .await
    else {
        panic!("admitted without a session");
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    sqlx::query("UPDATE consultation SET status = 'completed' WHERE id = $1")
        .bind(live)
        .execute(app.db.pool())
        .await
        .expect("completed");
    let Err((status, body)) = open(&app, &d.clinician, live).await else {
        panic!("admitted after completion");
    };
    assert_error(status, &body, StatusCode::CONFLICT, "consultation_closed");
    let requested = consultation(&app, &d, "routine").await;
    let Err((status, body)) = open(&app, &d.clinician, requested).await else {
        panic!("admitted before scheduling");
    };
    assert_error(status, &body, StatusCode::CONFLICT, "not_scheduled");
}

#[tokio::test]
async fn ice_servers_carry_turn_credentials_that_a_turn_server_with_the_secret_accepts() {
    let app = spawn_app_with(|s| {
        s.stun_urls = vec!["stun:127.0.0.1:3478".into()];
        s.turn_urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        s.turn_secret = Some("north-sea".to_owned().into());
        s.turn_ttl_seconds = 600;
    })
    .await;
    let d = desk(&app).await;
    let (status, body) = app.get("/api/v1/ice-servers", &d.clinician.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let servers = body["ice_servers"].as_array().expect("a list").clone();
    assert_eq!(servers[0], json!({ "urls": ["stun:127.0.0.1:3478"] }));
    let turn = &servers[1];
    let username = turn["username"].as_str().expect("a username");
    let (expiry, user) = username.split_once(':').expect("expiry:user");
    assert_eq!(user, d.clinician.id.to_string(), "scoped to the caller");
    let now = jiff::Timestamp::now().as_second();
    let expiry: i64 = expiry.parse().expect("unix seconds");
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "{expiry} vs {now}"
    );
    // The password coturn computes from the shared secret (use-auth-secret).
    let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args([
            "-c",
            "import base64, hashlib, hmac, sys\n\
             print(base64.b64encode(hmac.new(b'north-sea', sys.argv[1].encode(), hashlib.sha1).digest()).decode())",
            username,
        ])
        .output()
        .await
        .expect("python3 runs");
    assert_eq!(
        turn["credential"].as_str(),
        Some(String::from_utf8_lossy(&out.stdout).trim())
    );

    let plain = spawn_app().await;
    let d = desk(&plain).await;
    let (_, body) = plain.get("/api/v1/ice-servers", &d.expert.token).await;
    assert_eq!(
        body["ice_servers"],
        json!([]),
        "nothing configured, nothing handed out"
    );
}

#[tokio::test]
async fn the_demo_clinician_and_expert_can_join_the_accepted_urgent_consultation_at_once() {
    let app = spawn_app().await;
    ferry_server::demo::seed(&app.db, Some(crate::support::PASSWORD.to_owned()))
        .await
        .expect("seed")
        .expect("seeded");
    let mut users = Vec::new();
    for name in ["demo-clinician", "demo-expert"] {
        let body: Value = app
            .login(name, crate::support::PASSWORD)
            .await
            .json()
            .await
            .expect("json");
        users.push(TestUser {
            id: body["user"]["id"].as_i64().expect("an id"),
            username: name.to_owned(),
            token: body["token"].as_str().expect("a token").to_owned(),
        });
    }
    let (_, list) = app
        .get("/api/v1/consultations?status=scheduled", &users[0].token)
        .await;
    // Two routine ones are booked for days ahead; the urgent one is open now.
    let urgent: Vec<&Value> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["urgency"] == "urgent")
        .collect();
    assert_eq!(urgent.len(), 1, "{list}");
    let id = urgent[0]["id"].as_i64().expect("an id");

    let (mut clinician, _) = join(&app, &users[0], id).await;
    let (_expert, joined) = join(&app, &users[1], id).await;
    assert_eq!(joined["peers"][0]["id"], users[0].id.to_string());
    assert_eq!(next(&mut clinician).await["type"], "peer-joined");
}

#[tokio::test]
async fn a_peer_whose_link_turns_poor_is_announced_once_and_again_when_it_recovers() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (mut clinician, _) = join(&app, &d.clinician, id).await;
    let (mut expert, _) = join(&app, &d.expert, id).await;
    next(&mut clinician).await; // peer-joined

    let lossy = json!({ "type": "stats", "rtt_ms": 620.0, "loss": 0.09, "bitrate_kbps": 80.0 });
    send(&mut clinician, lossy.clone()).await;
    let told = next(&mut expert).await;
    assert_eq!(told["type"], "link-quality", "{told}");
    assert_eq!(told["peer"], d.clinician.id.to_string());
    assert_eq!(told["quality"], "poor");
    assert_eq!(told["rtt_ms"], 620.0);
    assert_eq!(
        next(&mut clinician).await["quality"],
        "poor",
        "the reporter hears it too"
    );

    // Still poor: nothing new is said. Then recovery is announced.
    send(&mut clinician, lossy).await;
    send(
        &mut clinician,
        json!({ "type": "stats", "rtt_ms": 90.0, "loss": 0.0, "bitrate_kbps": 900.0 }),
    )
    .await;
    let told = next(&mut expert).await;
    assert_eq!(told["quality"], "good", "{told}");
    send(&mut clinician, json!({ "type": "stats", "loss": 7.0 })).await;
    let refused = loop {
        let message = next(&mut clinician).await;
        if message["type"] == "error" {
            break message;
        }
    };
    assert_eq!(refused["code"], "malformed");
}

#[tokio::test]
#[cfg_attr(
    not(ferry_postgres),
    ignore = "several nodes share PostgreSQL: the PostgreSQL pass runs it"
)]
async fn participants_on_two_nodes_sharing_postgresql_signal_each_other() {
    let app = spawn_app().await;
    let other = app.another_node().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (mut clinician, _) = join(&app, &d.clinician, id).await;
    let (mut expert, joined) = join(&other, &d.expert, id).await;
    assert_eq!(
        joined["peers"][0]["id"],
        d.clinician.id.to_string(),
        "{joined}"
    );
    assert_eq!(next(&mut clinician).await["type"], "peer-joined");

    // An offer larger than a NOTIFY payload crosses too.
    let sdp = format!("v=0\r\n{}", "a=candidate:x\r\n".repeat(1000));
    send(&mut clinician, json!({ "type": "offer", "sdp": sdp })).await;
    assert_eq!(next(&mut expert).await["sdp"], sdp);
    send(
        &mut expert,
        json!({ "type": "answer", "sdp": "v=0 answer", "to": d.clinician.id.to_string() }),
    )
    .await;
    assert_eq!(next(&mut clinician).await["sdp"], "v=0 answer");

    // The expert moves to the first node: the old socket is replaced.
    let (_back, _) = join(&app, &d.expert, id).await;
    assert_eq!(next(&mut expert).await["code"], "replaced");
    let told = next(&mut clinician).await;
    assert_eq!(told["type"], "peer-joined");
    assert_eq!(told["reconnect"], true);
    let calls = "SELECT COUNT(*) FROM consultation_call WHERE consultation_id = $1";
    assert_eq!(
        count(&app, calls, id).await,
        1,
        "one call across both nodes"
    );
}

#[tokio::test]
async fn an_invited_radiologist_joins_the_call_until_the_invitation_is_withdrawn() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let radiologist = app
        .user(
            "radiologist",
            ferry_server::auth::Role::Radiologist,
            d.c.tertiary,
        )
        .await;
    let Err((status, body)) = open(&app, &radiologist, id).await else {
        panic!("admitted uninvited");
    };
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_participant");

    let path = format!("/api/v1/consultations/{id}/invitees");
    // The picker offers the radiologist, not the scheduler nor the two
    // parties; only the parties may ask for it.
    let (status, offered) = app
        .get(&format!("{path}/candidates"), &d.clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{offered}");
    let offered: Vec<i64> = offered
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["user_id"].as_i64())
        .collect();
    assert!(offered.contains(&radiologist.id), "{offered:?}");
    for absent in [d.scheduler.id, d.clinician.id, d.expert.id] {
        assert!(!offered.contains(&absent), "{absent} in {offered:?}");
    }
    let (status, body) = app
        .get(&format!("{path}/candidates"), &radiologist.token)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_participant");
    let (status, body) = app
        .post(
            &path,
            &d.scheduler.token,
            json!({ "user_id": radiologist.id }),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_participant");
    let (status, body) = app
        .post(&path, &d.expert.token, json!({ "user_id": d.scheduler.id }))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_invitable",
    );
    let (status, invited) = app
        .post(
            &path,
            &d.expert.token,
            json!({ "user_id": radiologist.id, "note": "to show the CT" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(invited[0]["note"], "to show the CT");
    let (status, body) = app
        .post(
            &path,
            &d.clinician.token,
            json!({ "user_id": radiologist.id }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_invited");
    let (_, seen) = app.get(&path, &radiologist.token).await;
    assert_eq!(seen[0]["user_id"], radiologist.id);

    let (mut clinician, _) = join(&app, &d.clinician, id).await;
    let (_radiologist_socket, joined) = join(&app, &radiologist, id).await;
    assert_eq!(joined["peers"][0]["id"], d.clinician.id.to_string());
    assert_eq!(
        next(&mut clinician).await["peer"]["id"],
        radiologist.id.to_string()
    );
    // Clinician and radiologist together are not the consultation's call.
    let calls = "SELECT COUNT(*) FROM consultation_call WHERE consultation_id = $1";
    assert_eq!(count(&app, calls, id).await, 0);

    let (status, _) = crate::support::send(app.request(
        reqwest::Method::DELETE,
        &format!("{path}/{}", radiologist.id),
        Some(&d.clinician.token),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let Err((status, _)) = open(&app, &radiologist, id).await else {
        panic!("admitted after the invitation was withdrawn");
    };
    assert_eq!(status, StatusCode::FORBIDDEN);
}
