//! Fast conversions between UTC and a zone's local time.
//!
//! `chrono-tz` answers "what is the offset at this instant" by a binary
//! search of the zone's whole history of transitions, a few hundred
//! instructions each time; the engine asks on every event and quote. Here
//! each zone's offsets are read off `chrono-tz` once per stretch of 2²²
//! seconds (about 48.5 days) the first time an instant in it is asked
//! about, and kept for the process: a stretch's offset at its start and
//! the instants it changes (usually none, at most a few). A conversion is
//! then a shift, two loads and a scan of that short list.
//!
//! Pure: the table holds only what `chrono-tz` says, computed on demand;
//! results never depend on what was asked before. Instants from 1900 to
//! 2200 use the table; others ask `chrono-tz` directly.
//!
//! How a stretch is read: the offset is probed every three hours, and where
//! two probes differ the exact second of the change is found by bisection
//! (then again from there, should the offset change twice between them).
//! A change and its undoing both within three hours would be missed; no
//! zone in the tz database has one (`every_zone_agrees_with_chrono_tz_hourly`,
//! an ignored test run on each database update, checks every zone hour by
//! hour from 1900 to 2200, and the property tests check random instants).

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// log₂ of a stretch's length in seconds.
const SHIFT: u32 = 22;
/// 1900-01-01T00:00:00Z.
const FIRST: i64 = -2_208_988_800;
/// 2200-01-01T00:00:00Z.
const LAST: i64 = 7_258_118_400;
/// Stretches from `FIRST` to `LAST`.
const STRETCHES: usize = ((LAST - FIRST) >> SHIFT) as usize + 1;
/// The gap between probes within a stretch.
const PROBE: i64 = 3 * 3_600;
/// Offsets differ by at most this much (UTC−12 to UTC+14, with room).
const WIDEST: i64 = 26 * 3_600;

/// The offsets of one stretch: the offset at its start, then each change
/// as (first second of the new offset, new offset), in order.
struct Stretch {
    first: i32,
    changes: Box<[(i64, i32)]>,
}

impl Stretch {
    fn offset(&self, secs: i64) -> i32 {
        let mut offset = self.first;
        for &(at, o) in self.changes.iter() {
            if secs < at {
                break;
            }
            offset = o;
        }
        offset
    }

    /// Reads stretch `index` of `tz` off `chrono-tz`.
    fn read(tz: Tz, index: usize) -> Stretch {
        let start = FIRST + ((index as i64) << SHIFT);
        let end = start + (1 << SHIFT);
        let first = chrono_offset(tz, start);
        let mut changes = Vec::new();
        let (mut current, mut from) = (first, start);
        // `from` has the offset `current`; probes go up to the stretch's last second.
        while from < end - 1 {
            let to = (from + PROBE).min(end - 1);
            // Every change after `from` up to `to`.
            while chrono_offset(tz, to) != current {
                let (mut lo, mut hi) = (from, to);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if chrono_offset(tz, mid) == current {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                current = chrono_offset(tz, hi);
                changes.push((hi, current));
                from = hi;
            }
            from = to;
        }
        Stretch { first, changes: changes.into_boxed_slice() }
    }
}

/// The offset (local − UTC, in seconds) of `tz` at Unix second `secs`, as
/// `chrono-tz` gives it.
fn chrono_offset(tz: Tz, secs: i64) -> i32 {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) => tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc(),
        None => 0,
    }
}

/// One table per zone, made on first use.
type Table = Box<[OnceLock<Stretch>]>;

/// Every zone's table, by the zone's place in `chrono-tz`'s list.
static TABLES: [OnceLock<Table>; chrono_tz::TZ_VARIANTS.len()] =
    [const { OnceLock::new() }; chrono_tz::TZ_VARIANTS.len()];

/// The stretch of `tz` holding `secs`, if the table covers it.
fn stretch(tz: Tz, secs: i64) -> Option<&'static Stretch> {
    if !(FIRST..LAST).contains(&secs) {
        return None;
    }
    let table = TABLES.get(tz as usize)?.get_or_init(|| (0..STRETCHES).map(|_| OnceLock::new()).collect());
    let index = ((secs - FIRST) >> SHIFT) as usize;
    Some(table.get(index)?.get_or_init(|| Stretch::read(tz, index)))
}

/// The local date-time of `at` in `tz`: what
/// `at.with_timezone(&tz).naive_local()` gives.
pub(crate) fn local(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    let secs = at.timestamp();
    let shifted = stretch(tz, secs)
        .and_then(|s| at.naive_utc().checked_add_signed(chrono::Duration::seconds(i64::from(s.offset(secs)))));
    shifted.unwrap_or_else(|| at.with_timezone(&tz).naive_local())
}

/// The one instant whose local time in `tz` is `local`, when there is
/// exactly one; `None` in a gap, an overlap, or outside the table (ask
/// `chrono-tz` then).
pub(crate) fn unique_instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let l = local.and_utc().timestamp();
    // The instant is within `WIDEST` of `l`: every offset that holds
    // somewhere in that window is a candidate.
    let (lo, hi) = (l.checked_sub(WIDEST)?, l.checked_add(WIDEST)?);
    let first = stretch(tz, lo)?;
    let last = stretch(tz, hi)?;
    // The spans of constant offset across the window, as (first second,
    // offset): the window is far shorter than a stretch, so it meets one
    // or two.
    let mut spans: smallvec::SmallVec<[(i64, i32); 6]> = smallvec::SmallVec::new();
    spans.push((i64::MIN, first.offset(lo)));
    let both = [first, last];
    let met = if std::ptr::eq(first, last) { &both[..1] } else { &both[..] };
    for s in met {
        spans.extend(s.changes.iter().copied().filter(|&(at, _)| at > lo && at <= hi));
    }
    let mut found = None;
    for (i, &(from, offset)) in spans.iter().enumerate() {
        let until = spans.get(i + 1).map_or(i64::MAX, |s| s.0);
        let u = l - i64::from(offset);
        if (from..until).contains(&u) {
            if found.is_some() {
                return None; // a second instant: an overlap
            }
            found = Some(u);
        }
    }
    // No instant at all: a gap.
    DateTime::from_timestamp(found?, local.and_utc().timestamp_subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::LocalResult;
    use proptest::prelude::*;

    /// The table's offset of `tz` at Unix second `secs`.
    fn offset(tz: Tz, secs: i64) -> i32 {
        stretch(tz, secs).map_or_else(|| chrono_offset(tz, secs), |s| s.offset(secs))
    }

    fn agrees_at(tz: Tz, secs: i64) {
        let at = DateTime::from_timestamp(secs, 7).unwrap();
        assert_eq!(local(tz, at), at.with_timezone(&tz).naive_local(), "{tz} at {at}");
    }

    /// `unique_instant` gives `chrono-tz`'s one instant, and `None` where
    /// there is none or the window searched leaves the table.
    fn agrees_local(tz: Tz, local: NaiveDateTime) {
        let l = local.and_utc().timestamp();
        let covered = FIRST <= l - WIDEST && l + WIDEST < LAST;
        let expected = match tz.from_local_datetime(&local) {
            LocalResult::Single(t) if covered => Some(t.with_timezone(&Utc)),
            _ => None,
        };
        assert_eq!(unique_instant(tz, local), expected, "{tz} at local {local}");
    }

    /// Zones with unusual histories: half-hour and 45-minute offsets, DST
    /// of 30 minutes, a skipped day, DST suspended for Ramadan, offsets
    /// changed back and forth, and a southern-hemisphere summer.
    const HARD: [Tz; 10] = [
        Tz::Europe__Moscow,
        Tz::Africa__Casablanca,
        Tz::Australia__Lord_Howe,
        Tz::Pacific__Apia,
        Tz::Asia__Kathmandu,
        Tz::America__Caracas,
        Tz::America__Sao_Paulo,
        Tz::Europe__Dublin,
        Tz::America__New_York,
        Tz::Pacific__Kiritimati,
    ];

    #[test]
    fn hard_zones_agree_with_chrono_tz_around_every_change() {
        for tz in HARD {
            // Every 2²² s from 1960 to 2060, and every change found with the
            // seconds on both sides of it.
            let mut secs = -315_619_200;
            while secs < 2_840_140_800 {
                agrees_at(tz, secs);
                let s = stretch(tz, secs).unwrap();
                for &(at, _) in s.changes.iter() {
                    for t in [at - 1, at, at + 1] {
                        agrees_at(tz, t);
                        // Local times on both sides of the change, and inside it.
                        let l = DateTime::from_timestamp(t, 0).unwrap().with_timezone(&tz).naive_local();
                        for d in [-3_600, -1_800, -1, 0, 1, 1_800, 3_600] {
                            agrees_local(tz, l + chrono::Duration::seconds(d));
                        }
                    }
                }
                secs += 1 << SHIFT;
            }
        }
    }

    #[test]
    fn outside_the_table_chrono_tz_answers() {
        for secs in [FIRST - 1, LAST, LAST + 86_400 * 400, -5_000_000_000] {
            agrees_at(Tz::Europe__Paris, secs);
            let l = DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
            assert_eq!(unique_instant(Tz::Europe__Paris, l), None);
        }
    }

    /// Local times whose search window crosses an end of the table: the
    /// table declines, and `time::resolve` gets `chrono-tz`'s answer.
    #[test]
    fn local_times_at_the_ends_of_the_table_fall_back_to_chrono_tz() {
        let edges = [FIRST, FIRST + WIDEST - 1, LAST - WIDEST, LAST - 93_600, LAST - 1];
        for tz in [Tz::Africa__Abidjan, Tz::Asia__Shanghai, Tz::America__Barbados, Tz::Pacific__Kiritimati] {
            for secs in edges {
                let local = DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
                agrees_local(tz, local);
                let expected = tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc));
                assert_eq!(crate::time::resolve(tz, local), expected, "{tz} at local {local}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_zone_any_instant_agrees_with_chrono_tz(zone in 0..chrono_tz::TZ_VARIANTS.len(), secs in FIRST..LAST) {
            let tz = chrono_tz::TZ_VARIANTS[zone];
            agrees_at(tz, secs);
            agrees_local(tz, DateTime::from_timestamp(secs, 0).unwrap().naive_utc());
        }
    }

    /// Every zone, hour by hour over the whole table, 1900 to 2200 (under a
    /// minute in a release build): run on each update of the tz database with
    /// `cargo test --release -p loyalty zone::tests::every_zone -- --ignored`.
    #[test]
    #[ignore]
    fn every_zone_agrees_with_chrono_tz_hourly() {
        for tz in chrono_tz::TZ_VARIANTS {
            let mut secs = FIRST;
            while secs < LAST {
                let at = DateTime::from_timestamp(secs, 0).unwrap();
                assert_eq!(offset(tz, secs), chrono_offset(tz, secs), "{tz} at {at}");
                secs += 3_600;
            }
        }
    }
}
