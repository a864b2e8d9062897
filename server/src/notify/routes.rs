//! `/notifications`: the caller's notifications, as a list and as a stream of
//! server-sent events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{store, NotificationView};
use crate::auth::live::Watch;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::time::now_ms;

/// How often an idle stream re-reads, to pick up what other nodes wrote.
const POLL: Duration = Duration::from_secs(15);

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(notification_stream))
        .routes(routes!(mark_read))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only notifications with a larger id.
    pub after: Option<i64>,
    /// Only unread ones.
    #[serde(default)]
    pub unread: bool,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

/// The caller's notifications, oldest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(NotificationQuery),
    responses((status = 200, body = Vec<NotificationView>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<NotificationQuery>,
) -> ApiResult<Json<Vec<NotificationView>>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "limit must be between 1 and 500".to_owned(),
        });
    }
    let rows = store::after(
        state.db.pool(),
        caller.user_id,
        query.after.unwrap_or(0),
        query.unread,
        limit,
    )
    .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Marks every notification up to and including this id as read.
    pub up_to: Option<i64>,
    /// Marks these notifications read, and no others: the one a user opened
    /// leaves the rest of the list unread.
    #[serde(default)]
    pub ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
}

/// Marks the caller's notifications read: all up to an id, or those listed.
#[utoipa::path(post, path = "/notifications/read", tag = "notifications", request_body = MarkRead,
    responses((status = 200, body = MarkedRead), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<MarkRead>,
) -> ApiResult<Json<MarkedRead>> {
    let marked = match (body.up_to, body.ids.len()) {
        (Some(up_to), 0) => {
            store::mark_read(state.db.pool(), caller.user_id, up_to, now_ms()).await?
        }
        (None, 1..=500) => {
            let mut tx = state.db.begin_write().await?;
            let marked = store::mark_ids(&mut tx, caller.user_id, &body.ids, now_ms()).await?;
            tx.commit().await?;
            marked
        }
        _ => {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "ids",
                "give either up_to or 1 to 500 ids",
            ))
        }
    };
    Ok(Json(MarkedRead { marked }))
}

/// A stream of the caller's notifications as server-sent events: the event
/// name is the kind, the id the notification id, the data its JSON. A client
/// that reconnects with `Last-Event-ID` receives what it missed; a new one
/// receives what arrives from now on. The stream ends within a second of its
/// session ending (sign-out, expiry, deactivation, a password change).
#[utoipa::path(get, path = "/notifications/stream", tag = "notifications",
    responses((status = 200, description = "text/event-stream of notifications", content_type = "text/event-stream")),
    security(("bearer" = [])))]
async fn notification_stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok());
    let last = match resume {
        Some(id) => id,
        None => store::latest_id(state.db.pool(), caller.user_id).await?,
    };
    let cursor = Cursor {
        session: state.sessions.watch(caller.session_id, caller.user_id),
        wake: state.notifier.subscribe(),
        closed: Box::pin(state.notifier.closed()),
        state,
        user_id: caller.user_id,
        last,
        pending: VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(cursor, |mut cursor| async move {
        let next = cursor.next().await?;
        Some((Ok(next), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Cursor {
    state: AppState,
    wake: tokio::sync::broadcast::Receiver<i64>,
    closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    /// Ends the stream when the session that opened it ends.
    session: Watch,
    user_id: i64,
    last: i64,
    pending: VecDeque<NotificationView>,
}

impl Cursor {
    /// The next event, or `None` to end the stream (a database failure, the
    /// session ended, or a server shutting down).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.session.is_ended() {
                return None;
            }
            if let Some(item) = self.pending.pop_front() {
                self.last = item.id;
                let data = serde_json::to_string(&item).ok()?;
                return Some(
                    Event::default()
                        .id(item.id.to_string())
                        .event(&item.kind)
                        .data(data),
                );
            }
            match store::after(self.state.db.pool(), self.user_id, self.last, false, 100).await {
                Ok(rows) if !rows.is_empty() => {
                    self.pending.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "notification stream ends: database error");
                    return None;
                }
            }
            self.wait().await?;
        }
    }

    /// Waits until this user is woken or the poll interval passes.
    async fn wait(&mut self) -> Option<()> {
        let deadline = tokio::time::Instant::now() + POLL;
        loop {
            let woken = tokio::select! {
                () = &mut self.closed => return None,
                () = self.session.ended() => return None,
                woken = tokio::time::timeout_at(deadline, self.wake.recv()) => woken,
            };
            match woken {
                Err(_elapsed) => return Some(()),
                Ok(Ok(user_id)) if user_id == self.user_id => return Some(()),
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(_))) => return Some(()),
                Ok(Err(RecvError::Closed)) => return None,
            }
        }
    }
}
