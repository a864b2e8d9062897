//! Instants are stored as milliseconds since the Unix epoch (see the crate docs)
//! and shown as RFC 3339 in UTC.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// RFC 3339 in UTC, e.g. `2026-11-22T08:30:00Z`. An out-of-range value (which no
/// code path stores) renders as the epoch rather than failing a response.
pub fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Parses an RFC 3339 instant with offset into milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    text.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// RFC 3339 with the offset `tz` has at that instant, e.g.
/// `2026-11-23T09:00:00+08:00`.
pub fn rfc3339_in(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    let offset = tz.to_offset(ts);
    ts.display_with_offset(offset).to_string()
}

/// A distribution of waits, in minutes.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Waits {
    pub count: usize,
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

impl Waits {
    pub fn of(mut millis: Vec<i64>) -> Waits {
        millis.sort_unstable();
        Waits {
            count: millis.len(),
            median_minutes: percentile(&millis, 50.0),
            p90_minutes: percentile(&millis, 90.0),
        }
    }
}

/// Nearest-rank percentile of sorted values, in minutes.
fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let value = sorted[rank.clamp(1, sorted.len()) - 1];
    Some((value as f64 / 60_000.0 * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let minutes: Vec<i64> = (1..=10).map(|m| m * 60_000).collect();
        let waits = Waits::of(minutes);
        assert_eq!(waits.count, 10);
        assert_eq!(waits.median_minutes, Some(5.0));
        assert_eq!(waits.p90_minutes, Some(9.0));
        assert_eq!(Waits::of(Vec::new()).median_minutes, None);
    }
}
