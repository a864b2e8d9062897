//! The signalling socket as a test drives it: a consultation ready for its
//! call, and one participant's socket opened, joined, written and read.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::scheduling::{consultation, Desk};
use super::{TestApp, TestUser};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Puts a consultation straight into `scheduled` with the desk's expert, as
/// an on-call acceptance would: no booked slot, so the call is open at once.
pub async fn accepted(app: &TestApp, d: &Desk) -> i64 {
    let id = consultation(app, d, "routine").await;
    sqlx::query("UPDATE consultation SET status = 'scheduled', expert_id = $1 WHERE id = $2")
        .bind(d.expert.id)
        .bind(id)
        .execute(app.db.pool())
        .await
        .expect("scheduled");
    id
}

/// Opens the signalling socket; the HTTP refusal when there is one.
pub async fn open(app: &TestApp, user: &TestUser, id: i64) -> Result<Socket, (StatusCode, Value)> {
    let url = app.url(&format!("/signal/{id}")).replacen("http", "ws", 1);
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", user.token).parse().expect("a header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
            let body = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((status, body))
        }
        Err(other) => panic!("connecting: {other}"),
    }
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("sent");
}

/// The next JSON message, skipping pings.
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Close(frame) => {
                return json!({ "closed": frame.map(|f| f.reason.to_string()) })
            }
            _ => continue,
        }
    }
}

pub async fn join(app: &TestApp, user: &TestUser, id: i64) -> (Socket, Value) {
    let mut socket = open(app, user, id).await.expect("admitted");
    send(&mut socket, json!({ "type": "join", "v": 1 })).await;
    let joined = next(&mut socket).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    (socket, joined)
}

/// The consultation's recordings as `user` lists them, once none is still
/// recording.
pub async fn finished_recordings(app: &TestApp, user: &TestUser, id: i64) -> Vec<Value> {
    let path = format!("/api/v1/consultations/{id}/recordings");
    crate::support::wait_until(
        "the recording is finished and listed",
        crate::support::browser::BROWSER_PATIENCE,
        async || {
            let (status, body) = app.get(&path, &user.token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let list = body.as_array().cloned().unwrap_or_default();
            list.iter()
                .all(|r| !r["ended_at"].is_null())
                .then_some(list)
        },
    )
    .await
}
