//! The hash chain and its verification.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, FromRow};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event as stored, with every field that the hash covers.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct ChainedEvent {
    pub seq: i64,
    pub recorded_at: i64,
    pub action: String,
    pub subtype: String,
    pub outcome: String,
    pub actor_user_id: Option<i64>,
    pub actor_name: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub patient_id: Option<i64>,
    pub facility_id: Option<i64>,
    pub detail: String,
    pub prev_hash: String,
    #[serde(skip)]
    pub hash: String,
}

impl ChainedEvent {
    /// SHA-256 over the JSON of every field but the hash itself, in declaration
    /// order, so the same event always hashes the same on either engine.
    pub fn compute_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&canonical))
    }
}

/// What `ferry audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact { events: i64 },
    Broken { seq: i64, problem: String },
}

pub const SELECT_EVENT: &str = "SELECT seq, recorded_at, action, subtype, outcome, actor_user_id, actor_name, \
     client_addr, request_id, entity_type, entity_id, patient_id, facility_id, detail, prev_hash, hash \
     FROM audit_event";

/// Walks the whole chain in order and names the first event that does not fit.
pub async fn verify(pool: &AnyPool) -> Result<Verdict, sqlx::Error> {
    const PAGE: i64 = 1000;
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_owned();
    loop {
        let page: Vec<ChainedEvent> = sqlx::query_as(&format!(
            "{SELECT_EVENT} WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(expected_seq)
        .bind(PAGE)
        .fetch_all(pool)
        .await?;
        let done = (page.len() as i64) < PAGE;
        for event in page {
            if event.seq != expected_seq {
                return Ok(Verdict::Broken {
                    seq: expected_seq,
                    problem: format!(
                        "event {expected_seq} is missing (the chain resumes at event {})",
                        event.seq
                    ),
                });
            }
            if event.prev_hash != prev_hash {
                return Ok(Verdict::Broken {
                    seq: event.seq,
                    problem: format!(
                        "event {} does not link to event {}: the earlier event was replaced or removed",
                        event.seq,
                        event.seq - 1
                    ),
                });
            }
            if event.compute_hash() != event.hash {
                return Ok(Verdict::Broken {
                    seq: event.seq,
                    problem: format!("event {} was altered after it was recorded", event.seq),
                });
            }
            prev_hash = event.hash;
            expected_seq += 1;
        }
        if done {
            break;
        }
    }
    let last_seq = expected_seq - 1;
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_chain_head WHERE id = 1")
            .fetch_one(pool)
            .await?;
    if head_seq != last_seq || head_hash != prev_hash {
        return Ok(Verdict::Broken {
            seq: last_seq + 1,
            problem: if head_seq > last_seq {
                format!(
                    "events {} to {head_seq} are missing from the end of the chain",
                    last_seq + 1
                )
            } else {
                format!(
                    "the chain head (event {head_seq}) does not match the last event ({last_seq})"
                )
            },
        });
    }
    Ok(Verdict::Intact { events: last_seq })
}
