//! Slot generation: the free-or-not slots an expert's roster offers in a time
//! range, computed from the weekly rules and the exceptions. Pure, so the time
//! zone cases (DST gaps and folds, windows across midnight) are tested here.
//!
//! A rule's window is laid out in the expert's facility time zone on each local
//! date it applies to, then sliced in absolute time: on the night clocks go
//! back a 01:00–04:00 window holds four real hours, on the night they go
//! forward two. A local start that does not exist (inside the spring gap) moves
//! forward, one that exists twice (inside the autumn fold) takes the earlier
//! instant: RFC 5545's and jiff's "compatible" choice.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::Service;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub id: i64,
    /// ISO weekday, Monday = 1.
    pub weekday: i8,
    pub start: Time,
    /// Not after `start` means the window ends the next day.
    pub end: Time,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub capacity: i64,
    pub service: Service,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
    pub referral_priority: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExceptionKind {
    Leave,
    Extra {
        slot_minutes: i64,
        buffer_minutes: i64,
        capacity: i64,
        service: Service,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionSpec {
    pub kind: ExceptionKind,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// One generated slot, as milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start_at: i64,
    pub end_at: i64,
    pub service: Service,
    pub capacity: i64,
    /// Held back for patients referred up.
    pub referral_priority: bool,
}

const MINUTE_MS: i64 = 60_000;

/// The slots of one expert that start in `[from_ms, to_ms)`, ordered by start.
/// Two rules that yield a slot with the same start yield it once (the first
/// rule wins); slots that merely overlap are both listed, and booking one
/// makes the other unavailable.
pub fn generate(
    tz: &TimeZone,
    rules: &[RuleSpec],
    exceptions: &[ExceptionSpec],
    from_ms: i64,
    to_ms: i64,
) -> Vec<Slot> {
    let mut slots = Vec::new();
    if to_ms <= from_ms {
        return slots;
    }
    let (Ok(from), Ok(to)) = (
        Timestamp::from_millisecond(from_ms),
        Timestamp::from_millisecond(to_ms),
    ) else {
        return slots;
    };
    // A window may start the local day before `from` and run past midnight.
    let first = from.to_zoned(tz.clone()).date().yesterday().ok();
    let last = to.to_zoned(tz.clone()).date();
    let mut day = first;
    while let Some(date) = day.filter(|d| *d <= last) {
        for rule in rules {
            if !rule_applies(rule, date) {
                continue;
            }
            let Some((start, end)) = window(tz, date, rule.start, rule.end) else {
                continue;
            };
            slice(
                start,
                end,
                rule.slot_minutes,
                rule.buffer_minutes,
                |start_at, end_at| Slot {
                    start_at,
                    end_at,
                    service: rule.service,
                    capacity: rule.capacity,
                    referral_priority: rule.referral_priority,
                },
                &mut slots,
            );
        }
        day = date.tomorrow().ok();
    }
    for exception in exceptions {
        if let ExceptionKind::Extra {
            slot_minutes,
            buffer_minutes,
            capacity,
            service,
        } = exception.kind
        {
            slice(
                exception.starts_at,
                exception.ends_at,
                slot_minutes,
                buffer_minutes,
                |start_at, end_at| Slot {
                    start_at,
                    end_at,
                    service,
                    capacity,
                    referral_priority: false,
                },
                &mut slots,
            );
        }
    }
    slots.retain(|slot| {
        slot.start_at >= from_ms
            && slot.start_at < to_ms
            && !exceptions.iter().any(|e| {
                e.kind == ExceptionKind::Leave
                    && e.starts_at < slot.end_at
                    && slot.start_at < e.ends_at
            })
    });
    // Stable: among equal starts, the rule listed first stays.
    slots.sort_by_key(|slot| slot.start_at);
    slots.dedup_by_key(|slot| slot.start_at);
    slots
}

fn rule_applies(rule: &RuleSpec, date: Date) -> bool {
    date.weekday().to_monday_one_offset() == rule.weekday
        && date >= rule.valid_from
        && rule.valid_to.is_none_or(|to| date <= to)
}

/// The absolute bounds of a local window on `date`.
fn window(tz: &TimeZone, date: Date, start: Time, end: Time) -> Option<(i64, i64)> {
    let end_date = if end > start {
        date
    } else {
        date.checked_add(1.day()).ok()?
    };
    let start = date.to_datetime(start).to_zoned(tz.clone()).ok()?;
    let end = end_date.to_datetime(end).to_zoned(tz.clone()).ok()?;
    let (start, end) = (
        start.timestamp().as_millisecond(),
        end.timestamp().as_millisecond(),
    );
    (end > start).then_some((start, end))
}

fn slice(
    start: i64,
    end: i64,
    slot_minutes: i64,
    buffer_minutes: i64,
    make: impl Fn(i64, i64) -> Slot,
    out: &mut Vec<Slot>,
) {
    let (length, step) = (
        slot_minutes * MINUTE_MS,
        (slot_minutes + buffer_minutes) * MINUTE_MS,
    );
    if length <= 0 {
        return;
    }
    let mut at = start;
    while at + length <= end {
        out.push(make(at, at + length));
        at += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("a known zone")
    }

    fn rule(weekday: i8, start: &str, end: &str, slot: i64, buffer: i64) -> RuleSpec {
        RuleSpec {
            id: 1,
            weekday,
            start: start.parse().expect("a time"),
            end: end.parse().expect("a time"),
            slot_minutes: slot,
            buffer_minutes: buffer,
            capacity: 1,
            service: Service::Video,
            valid_from: "2026-01-01".parse().expect("a date"),
            valid_to: None,
            referral_priority: false,
        }
    }

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>()
            .expect("an instant")
            .as_millisecond()
    }

    fn starts(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| {
                Timestamp::from_millisecond(s.start_at)
                    .expect("in range")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn slots_follow_slot_length_and_buffer() {
        // Monday 2026-11-23, Shanghai (UTC+8): 09:00–10:00 local, 20 min + 10 min buffer.
        let slots = generate(
            &tz("Asia/Shanghai"),
            &[rule(1, "09:00", "10:00", 20, 10)],
            &[],
            ms("2026-11-23T00:00:00Z") - 86_400_000,
            ms("2026-11-24T00:00:00Z"),
        );
        assert_eq!(
            starts(&slots),
            ["2026-11-23T01:00:00Z", "2026-11-23T01:30:00Z"]
        );
        assert_eq!(slots[0].end_at - slots[0].start_at, 20 * MINUTE_MS);
    }

    #[test]
    fn spring_forward_night_has_fewer_real_hours() {
        // Sunday 2026-03-08, New York: 02:00–03:00 does not exist.
        let slots = generate(
            &tz("America/New_York"),
            &[rule(7, "01:00", "04:00", 60, 0)],
            &[],
            ms("2026-03-08T00:00:00Z"),
            ms("2026-03-09T00:00:00Z"),
        );
        // 01:00 EST = 06:00Z; 04:00 EDT = 08:00Z: two real hours.
        assert_eq!(
            starts(&slots),
            ["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"]
        );
    }

    #[test]
    fn fall_back_night_has_more_real_hours() {
        // Sunday 2026-11-01, New York: 01:00–02:00 happens twice.
        let slots = generate(
            &tz("America/New_York"),
            &[rule(7, "00:00", "03:00", 60, 0)],
            &[],
            ms("2026-11-01T00:00:00Z"),
            ms("2026-11-02T00:00:00Z"),
        );
        // 00:00 EDT = 04:00Z; 03:00 EST = 08:00Z: four real hours.
        assert_eq!(
            starts(&slots),
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T07:00:00Z"
            ]
        );
    }

    #[test]
    fn a_start_inside_the_gap_moves_forward() {
        let slots = generate(
            &tz("America/New_York"),
            &[rule(7, "02:30", "04:00", 30, 0)],
            &[],
            ms("2026-03-08T00:00:00Z"),
            ms("2026-03-09T00:00:00Z"),
        );
        // 02:30 does not exist; it becomes 03:30 EDT = 07:30Z.
        assert_eq!(starts(&slots), ["2026-03-08T07:30:00Z"]);
    }

    #[test]
    fn an_afternoon_window_crosses_midnight_in_utc() {
        // Friday 2026-11-27, New York (UTC-5): 17:00–21:00 local is 22:00Z–02:00Z.
        let slots = generate(
            &tz("America/New_York"),
            &[rule(5, "17:00", "21:00", 60, 0)],
            &[],
            ms("2026-11-27T00:00:00Z"),
            ms("2026-11-29T00:00:00Z"),
        );
        assert_eq!(
            starts(&slots),
            [
                "2026-11-27T22:00:00Z",
                "2026-11-27T23:00:00Z",
                "2026-11-28T00:00:00Z",
                "2026-11-28T01:00:00Z"
            ]
        );
    }

    #[test]
    fn a_window_past_local_midnight_ends_the_next_day() {
        // Wednesday 22:00–02:00 in Shanghai: the night shift.
        let slots = generate(
            &tz("Asia/Shanghai"),
            &[rule(3, "22:00", "02:00", 120, 0)],
            &[],
            ms("2026-11-25T00:00:00Z"),
            ms("2026-11-27T00:00:00Z"),
        );
        assert_eq!(
            starts(&slots),
            ["2026-11-25T14:00:00Z", "2026-11-25T16:00:00Z"]
        );
    }

    #[test]
    fn leave_removes_overlapping_slots_and_extras_add_them() {
        let leave = ExceptionSpec {
            kind: ExceptionKind::Leave,
            starts_at: ms("2026-11-23T01:10:00Z"),
            ends_at: ms("2026-11-23T01:40:00Z"),
        };
        let extra = ExceptionSpec {
            kind: ExceptionKind::Extra {
                slot_minutes: 30,
                buffer_minutes: 0,
                capacity: 2,
                service: Service::AsyncReview,
            },
            starts_at: ms("2026-11-23T08:00:00Z"),
            ends_at: ms("2026-11-23T09:00:00Z"),
        };
        let slots = generate(
            &tz("Asia/Shanghai"),
            &[rule(1, "09:00", "11:00", 30, 0)],
            &[leave, extra],
            ms("2026-11-23T00:00:00Z"),
            ms("2026-11-24T00:00:00Z"),
        );
        assert_eq!(
            starts(&slots),
            [
                // 01:00 and 01:30 overlap the leave.
                "2026-11-23T02:00:00Z",
                "2026-11-23T02:30:00Z",
                "2026-11-23T08:00:00Z",
                "2026-11-23T08:30:00Z"
            ]
        );
        assert_eq!(slots[2].capacity, 2);
        assert_eq!(slots[2].service, Service::AsyncReview);
    }

    #[test]
    fn validity_bounds_are_inclusive_dates() {
        let mut bounded = rule(1, "09:00", "10:00", 60, 0);
        bounded.valid_from = "2026-11-30".parse().expect("a date");
        bounded.valid_to = Some("2026-12-07".parse().expect("a date"));
        let slots = generate(
            &tz("Asia/Shanghai"),
            &[bounded],
            &[],
            ms("2026-11-20T00:00:00Z"),
            ms("2026-12-20T00:00:00Z"),
        );
        assert_eq!(
            starts(&slots),
            ["2026-11-30T01:00:00Z", "2026-12-07T01:00:00Z"]
        );
    }
}
