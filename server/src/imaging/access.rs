//! `StudyAccess` for DICOMweb: the same sessions as the rest of the API (a
//! bearer token from `POST /api/v1/auth/login`), the scope from
//! [`crate::policy::study_reach`], and audit events for what was stored,
//! searched and retrieved, each read with the basis that allowed it,
//! written before the answer goes out.

use ferry_dicom_store::{AccessError, AccessEvent, Principal, StudyAccess};
use futures_util::future::BoxFuture;

use super::Imaging;
use crate::audit::Actor;
use crate::policy::StudyReach;

fn failed(err: impl std::fmt::Display) -> AccessError {
    AccessError(err.to_string())
}

impl Imaging {
    async fn principal(&self, token: &str) -> Result<Option<Principal>, AccessError> {
        let pool = self.db.pool();
        // The lookup the `Caller` extractor makes, so a signed-out or
        // deactivated user loses DICOMweb at the same moment as the API.
        let Some((session, roles)) =
            crate::auth::store::find_live_caller(pool, token, crate::time::now_ms())
                .await
                .map_err(failed)?
        else {
            return Ok(None);
        };
        tracing::Span::current().record("user_id", session.user_id);
        let reach = crate::policy::study_reach(
            session.user_id,
            session.facility_id,
            &roles,
            self.sharing,
            crate::time::now_ms(),
        );
        Ok(Some(Principal {
            subject: session.user_id.to_string(),
            scope: reach.scope(),
            store_facility: reach.store_facility(),
        }))
    }

    /// The audit actor of a principal and their reach now (which names
    /// the basis of each read), read afresh from their account.
    async fn actor_of(&self, principal: &Principal) -> Result<(Actor, StudyReach), AccessError> {
        let user_id = principal
            .subject
            .parse::<i64>()
            .map_err(|_| failed(format!("principal {:?} is not a user", principal.subject)))?;
        let pool = self.db.pool();
        let (name, facility_id, roles) = crate::auth::store::user_with_roles(pool, user_id)
            .await
            .map_err(failed)?
            .ok_or_else(|| failed(format!("user {user_id} is gone")))?;
        let reach = crate::policy::study_reach(
            user_id,
            facility_id,
            &roles,
            self.sharing,
            crate::time::now_ms(),
        );
        let actor = Actor {
            user_id: Some(user_id),
            name,
            client_addr: None,
            request_id: None,
        };
        Ok((actor, reach))
    }
}

impl StudyAccess for Imaging {
    fn authenticate<'a>(
        &'a self,
        bearer_token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AccessError>> {
        Box::pin(self.principal(bearer_token))
    }

    fn audit<'a>(
        &'a self,
        principal: &'a Principal,
        event: AccessEvent,
    ) -> BoxFuture<'a, Result<(), AccessError>> {
        Box::pin(async move {
            let (actor, reach) = self.actor_of(principal).await?;
            match event {
                AccessEvent::Stored {
                    study_uid,
                    instances,
                } => self.after_store(&actor, &study_uid, instances).await,
                AccessEvent::Searched { study_uids } => {
                    self.audit_reads(&actor, &reach, "dicom.search", &study_uids, None)
                        .await
                }
                AccessEvent::Retrieved {
                    study_uid,
                    instances,
                } => {
                    self.audit_reads(
                        &actor,
                        &reach,
                        "dicom.retrieve",
                        std::slice::from_ref(&study_uid),
                        Some(instances),
                    )
                    .await
                }
            }
            .map_err(failed)
        })
    }
}
