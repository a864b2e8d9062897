//! Mutual recognition of results (检查检验结果互认): the consortium's rules of
//! which prior results count, and the verdict on one prior. A rule says that
//! a result of a modality (of a body part, or any) done at a facility of a
//! tier or a higher one is recognised for so many days. A prior that no
//! rule covers, or that is older, is for reference only: the clinician may
//! read it but is expected to repeat the examination.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::DAY_MS;
use crate::facility::Tier;
use crate::time::rfc3339;

/// A rule, as administrators keep it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct RecognitionRule {
    pub id: i64,
    pub modality: String,
    /// Empty: any body part.
    pub body_part: String,
    /// Results from facilities of this tier or a higher one count.
    pub min_tier: String,
    pub valid_days: i64,
}

/// A rule to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecognitionRule {
    pub modality: String,
    /// Leave out for any body part.
    pub body_part: Option<String>,
    pub min_tier: Tier,
    /// 1 to 3650.
    pub valid_days: i64,
}

/// The verdict on a prior result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Recognition {
    /// Whether it is recognised (互认) and need not be repeated.
    pub recognised: bool,
    /// The rule that recognises it, or that would have if it were recent.
    pub rule_id: Option<i64>,
    /// Until when it is recognised (RFC 3339), when a rule covers it.
    pub valid_until: Option<String>,
    /// When not recognised: `no_rule` (for reference only) or `expired`.
    pub reason: Option<String>,
}

/// The rules that could cover a result of `modality` and `body_part`.
pub async fn rules_for(
    conn: &mut AnyConnection,
    modality: &str,
    body_part: &str,
) -> Result<Vec<RecognitionRule>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, modality, body_part, min_tier, valid_days FROM recognition_rule \
         WHERE modality = $1 AND (body_part = '' OR body_part = $2) ORDER BY id",
    )
    .bind(modality)
    .bind(body_part)
    .fetch_all(conn)
    .await
}

/// Judges a prior result done at a facility of `tier` at instant `done_at`,
/// against `rules` (those [`rules_for`] its modality and body part), at
/// instant `now`. Of the rules that admit its tier, the longest-lived
/// decides.
pub fn judge(rules: &[RecognitionRule], tier: Tier, done_at: i64, now: i64) -> Recognition {
    let best = rules
        .iter()
        .filter(|rule| Tier::parse(&rule.min_tier).is_some_and(|min| tier.rank() <= min.rank()))
        .max_by_key(|rule| rule.valid_days);
    let Some(rule) = best else {
        return Recognition {
            recognised: false,
            rule_id: None,
            valid_until: None,
            reason: Some("no_rule".to_owned()),
        };
    };
    let until = done_at.saturating_add(rule.valid_days.saturating_mul(DAY_MS));
    Recognition {
        recognised: now <= until,
        rule_id: Some(rule.id),
        valid_until: Some(rfc3339(until)),
        reason: (now > until).then(|| "expired".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, min_tier: &str, valid_days: i64) -> RecognitionRule {
        RecognitionRule {
            id,
            modality: "CT".to_owned(),
            body_part: String::new(),
            min_tier: min_tier.to_owned(),
            valid_days,
        }
    }

    #[test]
    fn a_rule_admits_its_tier_and_higher_ones_for_its_days() {
        let rules = [rule(1, "secondary", 30)];
        let done = 1_000 * DAY_MS;
        let county = judge(&rules, Tier::Secondary, done, done + 29 * DAY_MS);
        assert!(county.recognised);
        assert_eq!(county.rule_id, Some(1));
        assert!(judge(&rules, Tier::Tertiary, done, done + DAY_MS).recognised);
        let village = judge(&rules, Tier::Village, done, done + DAY_MS);
        assert!(!village.recognised);
        assert_eq!(village.reason.as_deref(), Some("no_rule"));
        let old = judge(&rules, Tier::Secondary, done, done + 31 * DAY_MS);
        assert!(!old.recognised);
        assert_eq!(old.reason.as_deref(), Some("expired"));
    }

    #[test]
    fn the_longest_lived_admitting_rule_decides() {
        let rules = [rule(1, "tertiary", 180), rule(2, "primary", 14)];
        let done = 0;
        assert_eq!(
            judge(&rules, Tier::Tertiary, done, 100 * DAY_MS).rule_id,
            Some(1)
        );
        let township = judge(&rules, Tier::Primary, done, 20 * DAY_MS);
        assert_eq!((township.recognised, township.rule_id), (false, Some(2)));
    }
}
