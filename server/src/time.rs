//! Instants are stored as milliseconds since the Unix epoch (see the crate docs)
//! and shown as RFC 3339 in UTC.

use jiff::Timestamp;

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
