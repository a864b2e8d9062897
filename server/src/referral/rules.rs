//! What a referral may be and become: its direction against the tiers, the
//! graded diagnosis catalogue's verdict, and the state machine.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Warning;
use crate::catalogue::Catalogue;
use crate::error::{ApiError, ErrorCode};
use crate::facility::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    pub fn parse(text: &str) -> Option<Direction> {
        [Direction::Up, Direction::Down]
            .into_iter()
            .find(|d| d.as_str() == text)
    }

    /// The direction from one tier to another; `None` within one tier.
    pub fn between(from: Tier, to: Tier) -> Option<Direction> {
        match to.rank().cmp(&from.rank()) {
            std::cmp::Ordering::Less => Some(Direction::Up),
            std::cmp::Ordering::Greater => Some(Direction::Down),
            std::cmp::Ordering::Equal => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Requested,
    Accepted,
    Rejected,
    Arrived,
    Discharged,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Requested,
        Status::Accepted,
        Status::Rejected,
        Status::Arrived,
        Status::Discharged,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Arrived => "arrived",
            Status::Discharged => "discharged",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The states a referral may move to next. The sender may withdraw it
    /// until the patient has arrived; after that only discharge ends it.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::Requested => &[Status::Accepted, Status::Rejected, Status::Cancelled],
            Status::Accepted => &[Status::Arrived, Status::Cancelled],
            Status::Arrived => &[Status::Discharged],
            Status::Rejected | Status::Discharged | Status::Cancelled => &[],
        }
    }

    pub fn check_transition(self, to: Status) -> Result<(), ApiError> {
        if self.next().contains(&to) {
            return Ok(());
        }
        Err(ApiError::Conflict {
            code: ErrorCode::InvalidTransition,
            message: format!("a {} referral cannot become {}", self.as_str(), to.as_str()),
            details: serde_json::json!({
                "status": self.as_str(),
                "requested": to.as_str(),
                "allowed": self.next().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            }),
        })
    }
}

/// The catalogue's verdict on a referral between two tiers for `codes`
/// (normalised). An up-referral for a condition the referring tier treats
/// needs a justification (422 without one); a down-referral to a tier not
/// listed for a condition goes ahead with a warning.
pub fn judge(
    catalogue: &Catalogue,
    direction: Direction,
    from: Tier,
    to: Tier,
    codes: &[String],
    justified: bool,
) -> Result<Vec<Warning>, ApiError> {
    let mut warnings = Vec::new();
    for code in codes {
        let Some(tiers) = catalogue.tiers_for(code) else {
            continue;
        };
        match direction {
            Direction::Up if tiers.contains(&from) && !justified => {
                return Err(ApiError::invalid(
                    ErrorCode::JustificationRequired,
                    "justification",
                    format!(
                        "the catalogue assigns {code} to {} facilities; say why the patient must go up",
                        from.as_str()
                    ),
                ));
            }
            Direction::Down if !tiers.contains(&to) => warnings.push(Warning {
                code: "tier_not_listed".to_owned(),
                message: format!(
                    "the catalogue assigns {code} to {}, not to {} facilities",
                    tiers
                        .iter()
                        .map(|tier| tier.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    to.as_str()
                ),
            }),
            _ => {}
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_allow_nothing_and_say_so() {
        for status in [Status::Rejected, Status::Discharged, Status::Cancelled] {
            assert!(status.next().is_empty());
        }
        let err = Status::Requested
            .check_transition(Status::Arrived)
            .expect_err("not yet accepted");
        match err {
            ApiError::Conflict { details, .. } => assert_eq!(
                details["allowed"],
                serde_json::json!(["accepted", "rejected", "cancelled"])
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn direction_follows_the_tiers() {
        assert_eq!(
            Direction::between(Tier::Village, Tier::Tertiary),
            Some(Direction::Up)
        );
        assert_eq!(
            Direction::between(Tier::Secondary, Tier::Primary),
            Some(Direction::Down)
        );
        assert_eq!(Direction::between(Tier::Village, Tier::Village), None);
    }
}
