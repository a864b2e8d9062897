//! `StudyAccess` for DICOMweb: the same sessions as the rest of the API (a
//! bearer token from `POST /api/v1/auth/login`), the scope from
//! [`crate::policy::study_scope`], and audit events for what was stored and
//! searched.

use ferry_dicom_store::{AccessError, AccessEvent, Principal, StudyAccess};
use futures_util::future::BoxFuture;

use super::Imaging;
use crate::audit::Actor;

fn failed(err: impl std::fmt::Display) -> AccessError {
    AccessError(err.to_string())
}

impl Imaging {
    async fn principal(&self, token: &str) -> Result<Option<Principal>, AccessError> {
        let pool = self.db.pool();
        // The lookup the `Caller` extractor makes, so a signed-out or
        // deactivated user loses DICOMweb at the same moment as the API.
        let Some(session) =
            crate::auth::store::find_live_session(pool, token, crate::time::now_ms())
                .await
                .map_err(failed)?
        else {
            return Ok(None);
        };
        tracing::Span::current().record("user_id", session.user_id);
        let roles = crate::auth::store::roles_of(pool, session.user_id)
            .await
            .map_err(failed)?;
        let mut conn = pool.acquire().await.map_err(failed)?;
        let (scope, store_facility) =
            crate::policy::study_scope(&mut conn, session.user_id, session.facility_id, &roles)
                .await
                .map_err(failed)?;
        Ok(Some(Principal {
            subject: session.user_id.to_string(),
            scope,
            store_facility,
        }))
    }

    /// The audit actor of a principal: the user, by id and name.
    async fn actor_of(&self, principal: &Principal) -> Actor {
        let user_id = principal.subject.parse::<i64>().ok();
        let name = match user_id {
            Some(id) => {
                sqlx::query_scalar::<_, String>("SELECT username FROM app_user WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.db.pool())
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        Actor {
            user_id,
            name: name.unwrap_or_else(|| format!("user:{}", principal.subject)),
            client_addr: None,
            request_id: None,
        }
    }
}

impl StudyAccess for Imaging {
    fn authenticate<'a>(
        &'a self,
        bearer_token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AccessError>> {
        Box::pin(self.principal(bearer_token))
    }

    fn audit<'a>(&'a self, principal: &'a Principal, event: AccessEvent) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let actor = self.actor_of(principal).await;
            match event {
                AccessEvent::Stored {
                    study_uid,
                    instances,
                } => self.after_store(&actor, &study_uid, instances).await,
                AccessEvent::Searched { study_uids } => {
                    self.after_search(&actor, &study_uids).await
                }
                AccessEvent::Retrieved {
                    study_uid,
                    instances,
                } => self.after_retrieve(&actor, &study_uid, instances).await,
            }
        })
    }
}
