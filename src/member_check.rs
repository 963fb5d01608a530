//! What a decoded member state must hold before the engine takes it.
//!
//! A host stores member states and hands them back; a state may have been
//! edited, truncated into another valid shape, or written by a faulty tool.
//! [`check`] refuses, naming the field, the states the engine cannot apply
//! events to safely: instants outside the ranges the engine can produce
//! (the calendar code panics near the ends of chrono's), ledger records
//! that contradict one another (points would be minted or lost), sequence
//! numbers that would overflow, and tier records out of date order. It
//! needs no program, so `Member::from_json_str`, `Member::from_bytes` and
//! serde all run it. What
//! only the program can tell (rule and level ids, the zone) and what no
//! state can prove (that the counters are historically true) is left out.

use chrono::{DateTime, NaiveDate, Utc};

use crate::member::{HoldStatus, Member, Take};

/// The largest lot or entry sequence number a state may hold: far above
/// any real count, far enough below `u64::MAX` that adding one never wraps.
const SEQ_MAX: u64 = i64::MAX as u64;

type Checked = std::result::Result<(), String>;

/// An event's own instant (the clock, a remembered event, a purchase):
/// from [`EARLIEST`](crate::EARLIEST) to [`LATEST`](crate::LATEST), as
/// events are.
fn event_instant(path: impl std::fmt::Display, at: DateTime<Utc>) -> Checked {
    if crate::engine::in_range(at) {
        Ok(())
    } else {
        Err(format!("{path}: {} is outside {} to {}", at.to_rfc3339(), crate::EARLIEST, crate::LATEST))
    }
}

/// The first and last years of any other instant or date of a state. The
/// engine works them out from events' instants and the program's periods
/// (each at most 200 years): an expiry, a level's end or a local day's
/// start may fall centuries after 9999 or hours before 1900. Far wider
/// than that, and far inside chrono's ±262 143 years, where converting an
/// instant to a zone's local time panics.
pub(crate) const YEARS: (i32, i32) = (1000, 99_999);

/// Whether `at` is in the [`YEARS`] a state's instants may take.
pub(crate) fn in_stored_range(at: DateTime<Utc>) -> bool {
    date_in_range(at.date_naive())
}

fn date_in_range(d: NaiveDate) -> bool {
    use chrono::Datelike;
    (YEARS.0..=YEARS.1).contains(&d.year())
}

fn instant(path: impl std::fmt::Display, at: DateTime<Utc>) -> Checked {
    date(path, at.date_naive())
}

fn maybe(path: impl std::fmt::Display, at: Option<DateTime<Utc>>) -> Checked {
    at.map_or(Ok(()), |at| instant(path, at))
}

fn date(path: impl std::fmt::Display, d: NaiveDate) -> Checked {
    if date_in_range(d) {
        Ok(())
    } else {
        Err(format!("{path}: {d} is outside the years {} to {}", YEARS.0, YEARS.1))
    }
}

fn not_after_clock(path: impl std::fmt::Display, at: DateTime<Utc>, clock: DateTime<Utc>) -> Checked {
    if at <= clock {
        Ok(())
    } else {
        Err(format!("{path}: {} is after the member's clock {}", at.to_rfc3339(), clock.to_rfc3339()))
    }
}

/// An item of a list in a field path (`holds[2]`), written only in an error.
#[derive(Clone, Copy)]
struct Item(&'static str, usize);

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

fn takes(path: Item, list: &[Take]) -> std::result::Result<i128, String> {
    let mut sum = 0_i128;
    for (j, t) in list.iter().enumerate() {
        maybe(format_args!("{path}.takes[{j}].expires_at"), t.expires_at)?;
        if t.points < 0 {
            return Err(format!("{path}.takes[{j}].points: {} is negative", t.points));
        }
        sum += i128::from(t.points);
    }
    Ok(sum)
}

/// The first thing wrong with `m`, as `field path: what`.
pub(crate) fn check(m: &Member) -> Checked {
    let clock = m.clock;
    event_instant("clock", clock)?;
    event_instant("enrolled_at", m.enrolled_at)?;
    not_after_clock("enrolled_at", m.enrolled_at, clock)?;
    if m.format != crate::MEMBER_FORMAT {
        return Err(format!(
            "format {} is not readable by this release (it reads format {})",
            m.format,
            crate::MEMBER_FORMAT
        ));
    }
    for (field, n) in [("next_lot", m.next_lot), ("next_entry", m.next_entry)] {
        if n == 0 || n > SEQ_MAX {
            return Err(format!("{field}: {n} is not from 1 to {SEQ_MAX}"));
        }
    }

    // Lots: in range, numbered once each and below `next_lot`. What the
    // open holds reserve from each, by number (a sorted list: a member has
    // a few dozen lots at most, and this allocates once).
    let mut held_by_lot: Vec<(u64, i128)> = m.lots.iter().map(|l| (l.seq, 0)).collect();
    held_by_lot.sort_unstable();
    for (i, lot) in m.lots.iter().enumerate() {
        instant(format_args!("lots[{i}].earned_at"), lot.earned_at)?;
        instant(format_args!("lots[{i}].available_at"), lot.available_at)?;
        maybe(format_args!("lots[{i}].expires_at"), lot.expires_at)?;
        not_after_clock(format_args!("lots[{i}].earned_at"), lot.earned_at, clock)?;
        if lot.seq >= m.next_lot {
            return Err(format!("lots[{i}].seq: {} is not below next_lot {}", lot.seq, m.next_lot));
        }
    }
    if let Some(w) = held_by_lot.windows(2).find(|w| w[0].0 == w[1].0) {
        let i = m.lots.iter().rposition(|l| l.seq == w[0].0).unwrap_or(0);
        return Err(format!("lots[{i}].seq: lot {} appears twice", w[0].0));
    }
    // Holds: an open one reserves exactly its points, from lots the member
    // has, and each lot holds what the open holds reserve from it.
    for (i, h) in m.holds.iter().enumerate() {
        let path = Item("holds", i);
        event_instant(format_args!("{path}.at"), h.at)?;
        instant(format_args!("{path}.timeout_at"), h.timeout_at)?;
        maybe(format_args!("{path}.closed_at"), h.closed_at)?;
        not_after_clock(format_args!("{path}.at"), h.at, clock)?;
        let sum = takes(path, &h.takes)?;
        if h.status != HoldStatus::Open {
            continue;
        }
        if sum != i128::from(h.points) {
            return Err(format!("{path}.takes: they take {sum} points, the hold is of {}", h.points));
        }
        for (j, t) in h.takes.iter().enumerate() {
            let Ok(k) = held_by_lot.binary_search_by_key(&t.lot, |&(seq, _)| seq) else {
                return Err(format!("{path}.takes[{j}].lot: the member has no lot {}", t.lot));
            };
            held_by_lot[k].1 += i128::from(t.points);
        }
    }
    for (i, lot) in m.lots.iter().enumerate() {
        let reserved = held_by_lot.binary_search_by_key(&lot.seq, |&(seq, _)| seq).map_or(0, |k| held_by_lot[k].1);
        if reserved != i128::from(lot.held) {
            return Err(format!("lots[{i}].held: {} points, but the open holds reserve {reserved} from it", lot.held));
        }
    }
    for (i, b) in m.burns.iter().enumerate() {
        event_instant(format_args!("burns[{i}].at"), b.at)?;
        takes(Item("burns", i), &b.takes)?;
    }
    for (i, p) in m.purchases.iter().enumerate() {
        event_instant(format_args!("purchases[{i}].at"), p.at)?;
        if let Some(lot) = p.lot.filter(|l| *l >= m.next_lot) {
            return Err(format!("purchases[{i}].lot: {lot} is not below next_lot {}", m.next_lot));
        }
        for (j, l) in p.lines.iter().enumerate() {
            let (returned, quantity) = (l.returned.decimal(), l.quantity.decimal());
            if returned < rust_decimal::Decimal::ZERO || returned > quantity {
                return Err(format!(
                    "purchases[{i}].lines[{j}].returned: {returned} is not from 0 to the quantity {quantity}"
                ));
            }
        }
    }
    for (i, d) in m.days.iter().enumerate() {
        date(format_args!("days[{i}].date"), d.date)?;
        if d.points < 0 {
            return Err(format!("days[{i}].points: {} is negative", d.points));
        }
    }
    for (key, v) in &m.lifetime {
        if *v < 0 {
            return Err(format!("lifetime.{key}: {v} is negative"));
        }
    }
    for (i, p) in m.recent.iter().enumerate() {
        event_instant(format_args!("recent[{i}].at"), p.at)?;
        not_after_clock(format_args!("recent[{i}].at"), p.at, clock)?;
    }
    if let Some(f) = m.forgotten {
        event_instant("forgotten", f)?;
        not_after_clock("forgotten", f, clock)?;
    }
    if let Some(t) = m.last_purchase {
        instant("last_purchase", t)?;
        not_after_clock("last_purchase", t, clock)?;
    }
    check_tier(m)?;
    for (i, r) in m.rewards.iter().enumerate() {
        let path = Item("rewards", i);
        instant(format_args!("{path}.issued_at"), r.issued_at)?;
        maybe(format_args!("{path}.expires_at"), r.expires_at)?;
        maybe(format_args!("{path}.closed_at"), r.closed_at)?;
        let sum = takes(path, &r.takes)?;
        if sum != i128::from(r.cost) {
            return Err(format!("{path}.takes: they take {sum} points, the reward cost {}", r.cost));
        }
    }
    for (i, c) in m.challenges.iter().enumerate() {
        for (j, (at, _)) in c.hits.iter().enumerate() {
            instant(format_args!("challenges[{i}].hits[{j}]"), *at)?;
        }
        for (j, at) in c.completed.iter().enumerate() {
            instant(format_args!("challenges[{i}].completed[{j}]"), *at)?;
        }
        if let Some((d, _)) = c.streak {
            date(format_args!("challenges[{i}].streak"), d)?;
        }
    }
    for (i, b) in m.badges.iter().enumerate() {
        instant(format_args!("badges[{i}].at"), b.at)?;
    }
    for (i, (_, _, at)) in m.transfers_in.iter().enumerate() {
        instant(format_args!("transfers_in[{i}]"), *at)?;
    }
    for (i, (_, d)) in m.chosen.iter().enumerate() {
        date(format_args!("chosen[{i}]"), *d)?;
    }
    for (i, (_, at)) in m.referrals.iter().enumerate() {
        instant(format_args!("referrals[{i}]"), *at)?;
    }
    if m.debt < 0 {
        return Err(format!("debt: {} is negative", m.debt));
    }
    // The ledger's own invariants (balances, conservation, reversals).
    m.check_invariants()
}

/// Tier records: in range, one per day in date order, none after the
/// member's day (the program's zone is not known here: a record may be up
/// to a day past the clock's UTC date, as far as a zone's offset reaches).
fn check_tier(m: &Member) -> Checked {
    let t = &m.tier;
    let latest = m.clock.date_naive().succ_opt().unwrap_or(NaiveDate::MAX);
    for (i, d) in t.days.iter().enumerate() {
        date(format_args!("tier.days[{i}].date"), d.date)?;
        maybe(format_args!("tier.days[{i}].until"), d.until)?;
        if i > 0 && t.days[i - 1].date >= d.date {
            return Err(format!(
                "tier.days[{i}].date: {} is not after the record before it ({})",
                d.date,
                t.days[i - 1].date
            ));
        }
        if d.date > latest {
            return Err(format!(
                "tier.days[{i}].date: {} is after the member's clock {}",
                d.date,
                m.clock.to_rfc3339()
            ));
        }
    }
    for (i, h) in t.holds.iter().enumerate() {
        instant(format_args!("tier.holds[{i}].since"), h.since)?;
        maybe(format_args!("tier.holds[{i}].until"), h.until)?;
    }
    for (i, c) in t.history.iter().enumerate() {
        instant(format_args!("tier.history[{i}].at"), c.at)?;
    }
    Ok(())
}
