//! The engine's side of tiers: recording qualifying activity, noticing
//! level changes, the ends of status periods, and points that do not expire
//! while the member is at a level that says so. See [`crate::tier`].

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::Work;
use crate::error::{Error, Result};
use crate::event::{AssignTier, Event, EventKind, Subscribe};
use crate::number::{Amount, Money};
use crate::receipt::Signal;
use crate::tier::{Downgrade, HoldKind, TierDay, TierHold, TierMeasure, TierState, TierWindow, Tiers, HISTORY_MAX};
use crate::time::local_date;

/// A change of level found while moving a tier state through time.
pub(crate) struct Change {
    pub(crate) at: DateTime<Utc>,
    pub(crate) from: usize,
    pub(crate) to: usize,
}

impl Tiers {
    /// The rank of the state's current level (0 when unset).
    pub(crate) fn current(&self, state: &TierState) -> usize {
        self.rank(state.current.as_ref())
    }

    /// Moves the state through the ends of kept levels in (`after`, `upto`]:
    /// at each, the level falls to what is still kept (or one level below
    /// the lost one, kept for one more window).
    pub(crate) fn run_ends(
        &self,
        state: &mut TierState,
        zone: chrono_tz::Tz,
        enrolled: NaiveDate,
        after: DateTime<Utc>,
        upto: DateTime<Utc>,
        changes: &mut Vec<Change>,
    ) {
        if self.next_end(state, after, upto).is_none() {
            return;
        }
        let mut t = after;
        let mut spans = self.spans(state);
        while let Some(end) = spans.next_end(t, upto) {
            t = end;
            let cur = self.current(state);
            let mut level = spans.level(end);
            if level >= cur {
                continue;
            }
            if self.spec.downgrade == Downgrade::OneLevel && level + 1 < cur {
                level = cur - 1;
                state.holds.push(TierHold {
                    level: self.id(level).clone(),
                    kind: HoldKind::SteppedDown,
                    since: end,
                    until: self.step_until(zone, enrolled, local_date(zone, end)),
                });
                spans = self.spans(state);
            }
            state.current = Some(self.id(level).clone());
            changes.push(Change { at: end, from: cur, to: level });
        }
    }

    /// When points stop being kept from expiry, for a member at a level
    /// whose points never expire at `at` (at or after the member's clock):
    /// `Some(None)` never, `Some(Some(t))` at `t`; `None` when the level at
    /// `at` does not keep points.
    pub(crate) fn exempt_end(&self, state: &TierState, at: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        if !self.keeps_points {
            return None;
        }
        if let Some(from) = self.keeps_from {
            if let Ok(end) = self.kept_until(state, at, from) {
                return end;
            }
        }
        self.exempt_end_by_spans(state, at)
    }

    /// [`Tiers::exempt_end`] for any ladder, from the spans' ends.
    fn exempt_end_by_spans(&self, state: &TierState, at: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        if let Some(latest) = self.latest(state, at) {
            if !self.never_expire(latest.level(at)) {
                return None;
            }
            return latest.first_end(|l| !self.never_expire(l));
        }
        let spans = self.spans(state);
        if !self.never_expire(spans.level(at)) {
            return None;
        }
        spans.first_end(at, |l| !self.never_expire(l))
    }
}

impl Work<'_, '_> {
    /// The local date of enrolment, converted once per event.
    fn enrolled_date(&mut self) -> NaiveDate {
        match self.enrolled_on {
            Some(d) => d,
            None => {
                let d = crate::time::enrolment_date(self.program.zone, self.m.enrolled_at);
                self.enrolled_on = Some(d);
                d
            }
        }
    }

    /// Records a change of level: history, signal, current level.
    fn tier_change(&mut self, tiers: &Tiers, at: DateTime<Utc>, from: usize, to: usize, reason: String) {
        let (from_id, to_id) = (tiers.id(from).clone(), tiers.id(to).clone());
        let state = self.tier_mut();
        state.current = Some(to_id.clone());
        // Trimmed to HISTORY_MAX by `tier_compact`, after the event cannot fail.
        state.history.push(crate::tier::TierChange { at, from: from_id.clone(), to: to_id.clone(), reason });
        self.signals.push(if to > from {
            Signal::TierUp { at, from: from_id, to: to_id }
        } else {
            Signal::TierDown { at, from: from_id, to: to_id }
        });
    }

    /// The ends of status periods up to `upto`, in time order.
    pub(super) fn tier_ends(&mut self, upto: DateTime<Utc>) {
        let Some(tiers) = self.program.tiers.as_ref() else { return };
        if upto <= self.tier_clock {
            return;
        }
        if tiers.next_end(&self.m.tier, self.tier_clock, upto).is_none() {
            self.tier_clock = upto;
            return;
        }
        let mut changes = Vec::new();
        let (enrolled, zone, after) = (self.enrolled_date(), self.program.zone, self.tier_clock);
        tiers.run_ends(self.tier_mut(), zone, enrolled, after, upto, &mut changes);
        self.tier_clock = upto;
        for c in changes {
            let reason = match tiers.spec.downgrade {
                Downgrade::OneLevel if c.to + 1 == c.from => "the status period ended: one level down",
                _ => "the status period ended",
            };
            self.tier_change(tiers, c.at, c.from, c.to, reason.into());
        }
    }

    /// For a lot reaching its expiry at `at`: when points are kept at the
    /// member's level, the instant they are kept until (`Some(None)`: for ever).
    pub(super) fn exempt_until(&self, at: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        let tiers = self.program.tiers.as_ref()?;
        // At the clock the current level is known.
        if at == self.m.clock && !tiers.never_expire(tiers.current(&self.m.tier)) {
            return None;
        }
        // A late event's lot may reach its expiry before the clock: only
        // records of that day or earlier count then.
        if at < self.m.clock && tiers.keeps_points {
            let level = tiers.level_at(&self.m.tier, at, local_date(self.program.zone, at));
            if !tiers.never_expire(level) {
                return None;
            }
        }
        tiers.exempt_end(&self.m.tier, at)
    }

    /// Adds `value` (and a script's verdict) to the record of `date`, then
    /// works out the levels again from that day on.
    fn tier_add(
        &mut self,
        tiers: &Tiers,
        date: NaiveDate,
        value: Decimal,
        scripted: Option<usize>,
        known: Option<Decimal>,
    ) -> Result<()> {
        let state = self.tier_days_mut(date);
        let i = match state.days.binary_search_by_key(&date, |d| d.date) {
            Ok(i) => i,
            Err(i) => {
                state.days.insert(i, TierDay { date, value: Amount::ZERO, scripted: None, level: None, until: None });
                i
            }
        };
        let day = &mut state.days[i];
        let sum = day.value.decimal().checked_add(value).ok_or_else(|| Error::overflow("a tier progress"))?;
        day.value = Amount::from_decimal(sum.normalize());
        if let Some(s) = scripted {
            let before = day.scripted.as_ref().and_then(|id| tiers.index(id)).unwrap_or(0);
            if s > before {
                day.scripted = Some(tiers.id(s).clone());
            }
        }
        let (enrolled, zone) = (self.enrolled_date(), self.program.zone);
        // The records from `date` on are already kept for undoing (above).
        tiers.rework(&mut self.m.tier, zone, enrolled, date, known);
        Ok(())
    }

    /// After a purchase earned `points` on lines worth `amount`.
    pub(super) fn tier_purchase(
        &mut self,
        event: &Event,
        priced: &[crate::earn::Priced<'_>],
        points: crate::Points,
        amount: Money,
    ) -> Result<()> {
        let Some(tiers) = self.program.tiers.as_ref() else { return Ok(()) };
        let value = match tiers.spec.measure {
            TierMeasure::Spend => crate::number::money_to_decimal(amount).unwrap_or_default(),
            TierMeasure::PointsEarned => Decimal::from(points),
            TierMeasure::Purchases => Decimal::ONE,
            TierMeasure::Counter => Decimal::ZERO,
        };
        let mut scripted = None;
        for (i, level) in tiers.levels.iter().enumerate() {
            if let Some(script) = &level.script {
                if self.program.tier_script(&event.id, script, &level.id, priced, self.m, event.at)? {
                    scripted = Some(i);
                }
            }
        }
        if value.is_zero() && scripted.is_none() {
            return Ok(());
        }
        self.tier_count_today(tiers, value, scripted)
    }

    /// Counts `value` (and a script's verdict) on the record of the event's
    /// day, and signals when that brings the member close to the next level.
    fn tier_count_today(&mut self, tiers: &Tiers, value: Decimal, scripted: Option<usize>) -> Result<()> {
        let date = self.event_date();
        if !tiers.by_measure {
            // No level has a `min`: the progress decides no level and
            // signals no closeness to one.
            return self.tier_add(tiers, date, value, scripted, None);
        }
        let enrolled = self.enrolled_date();
        // Adding to the day's record adds as much to the day's progress.
        let before = tiers.progress(&self.m.tier, enrolled, date);
        let after = before.checked_add(value).ok_or_else(|| Error::overflow("a tier progress"))?;
        self.tier_add(tiers, date, value, scripted, Some(after))?;
        self.close_signal(tiers, before, after);
        Ok(())
    }

    /// A `close_to_next_tier` signal when the progress crossed the program's
    /// `close_percent` of the next level's `min`.
    fn close_signal(&mut self, tiers: &Tiers, before: Decimal, after: Decimal) {
        let current = self.level_after(tiers, self.m.clock);
        let Some(next) = tiers.levels.iter().skip(current + 1).find(|l| l.min.is_some()) else { return };
        let Some(min) = next.min else { return };
        let close = min * tiers.spec.close_percent.decimal() / Decimal::ONE_HUNDRED;
        if before < close && after >= close && after < min {
            let needed = Amount::from_decimal((min - after).normalize());
            self.signals.push(Signal::CloseToNextTier { tier: next.id.clone(), needed });
        }
    }

    /// After a return took back `spend` money and `points` points of a
    /// purchase made at `bought` (and all of what was left of it, if `whole`).
    pub(super) fn tier_return(
        &mut self,
        bought: DateTime<Utc>,
        spend: Decimal,
        points: crate::Points,
        whole: bool,
    ) -> Result<()> {
        let Some(tiers) = self.program.tiers.as_ref() else { return Ok(()) };
        let value = match tiers.spec.measure {
            TierMeasure::Spend => spend,
            TierMeasure::PointsEarned => Decimal::from(points),
            TierMeasure::Purchases if whole => Decimal::ONE,
            _ => Decimal::ZERO,
        };
        let date = local_date(self.program.zone, bought);
        // A record no longer kept can no longer change a level.
        if value.is_zero() || !self.m.tier.days.iter().any(|d| d.date == date) {
            return Ok(());
        }
        self.tier_add(tiers, date, -value, None, None)
    }

    /// An `activity` event: counts for a tier measured by its counter.
    pub(super) fn tier_activity(&mut self, event: &Event, name: &str, value: i64) -> Result<()> {
        crate::event::check_id(&event.id, "name", name)?;
        if !(1..=1_000_000).contains(&value) {
            return Err(Error::event(&event.id, "value", format!("must be from 1 to 1000000, not {value}")));
        }
        let Some(tiers) = self.program.tiers.as_ref() else { return Ok(()) };
        if tiers.spec.measure != TierMeasure::Counter || tiers.spec.counter.as_deref() != Some(name) {
            return Ok(());
        }
        self.tier_count_today(tiers, Decimal::from(value), None)
    }

    fn tiers_or_refuse<'p>(program: &'p crate::Program, event: &Event) -> Result<&'p Tiers> {
        program.tiers.as_ref().ok_or_else(|| Error::NotFound {
            event: event.id.clone(),
            what: "tier level",
            id: "(the program has no tiers)".into(),
        })
    }

    fn level_or_refuse(tiers: &Tiers, event: &Event, id: &str) -> Result<usize> {
        tiers.index(id).ok_or_else(|| Error::NotFound { event: event.id.clone(), what: "tier level", id: id.into() })
    }

    /// An `assign_tier` event: replaces the member's floor.
    pub(super) fn assign_tier(&mut self, event: &Event, a: &AssignTier) -> Result<()> {
        crate::event::check_id(&event.id, "reason", &a.reason)?;
        let tiers = Self::tiers_or_refuse(self.program, event)?;
        let level = match &a.tier {
            Some(t) => Some(Self::level_or_refuse(tiers, event, t)?),
            None => None,
        };
        if let Some(until) = a.until {
            if until <= event.at {
                return Err(Error::event(&event.id, "until", "must be after the event's instant"));
            }
            super::check_instant(&event.id, until)?;
        }
        let state = self.tier_mut();
        state.holds.retain(|h| h.kind != HoldKind::Assigned);
        if let Some(level) = level.filter(|&l| l > 0) {
            state.holds.push(TierHold {
                level: tiers.id(level).clone(),
                kind: HoldKind::Assigned,
                since: event.at,
                until: a.until,
            });
        }
        Ok(())
    }

    /// A `subscribe` event: one more paid period of a subscription level.
    pub(super) fn subscribe(&mut self, event: &Event, s: &Subscribe) -> Result<()> {
        let tiers = Self::tiers_or_refuse(self.program, event)?;
        let level = Self::level_or_refuse(tiers, event, &s.tier)?;
        let Some(sub) = &tiers.spec.levels[level].subscription else {
            return Err(Error::event(&event.id, "tier", format!("level '{}' is not a subscription", s.tier)));
        };
        let id = tiers.id(level).clone();
        // Paid before the current period ends, the new one follows it without a gap.
        let paid_until = self
            .m
            .tier
            .holds
            .iter()
            .filter(|h| h.kind == HoldKind::Paid && h.level == id)
            .filter_map(|h| h.until)
            .filter(|u| *u >= event.at)
            .max();
        let from = paid_until.unwrap_or(event.at);
        let until = self.later(sub.period, from, "a subscription period")?;
        super::check_instant(&event.id, until)?;
        self.tier_mut().holds.push(TierHold {
            level: id.clone(),
            kind: HoldKind::Paid,
            since: from,
            until: Some(until),
        });
        self.notes.push(format!("subscription '{id}' paid until {}", until.with_timezone(&self.program.zone)));
        Ok(())
    }

    /// After the event's own work: the level at the member's clock, and the
    /// change if there is one.
    pub(super) fn tier_settle(&mut self, event: &Event) {
        let Some(tiers) = self.program.tiers.as_ref() else { return };
        let clock = self.m.clock;
        let now = self.level_after(tiers, clock);
        if self.m.tier.current.is_none() {
            self.tier_mut().current = Some(tiers.id(now).clone());
            return;
        }
        let cur = tiers.current(&self.m.tier);
        if now == cur {
            return;
        }
        let reason = match (&event.kind, now > cur) {
            (EventKind::AssignTier(a), _) => format!("assigned by hand ({})", a.reason),
            (EventKind::Subscribe(_), _) => "subscription paid".to_owned(),
            (EventKind::Return(_), false) => "a return took back what reached the level".to_owned(),
            (_, true) => "qualified".to_owned(),
            (_, false) => "the status period ended".to_owned(),
        };
        self.tier_change(tiers, clock, cur, now, reason);
    }

    /// Drops records no later event can need (a late event or a return
    /// changes the records of its own day at the earliest), keeping what
    /// they reached as plain holds; drops holds long over.
    pub(super) fn tier_compact(&mut self, oldest_day: NaiveDate, late: DateTime<Utc>) {
        let Some(tiers) = self.program.tiers.as_ref() else { return };
        let enrolled = self.enrolled_date();
        let keep_from = tiers.window_start(enrolled, oldest_day);
        // Compaction keeps every level as it was (as holds), but the memo
        // answers only for the state it was worked out on.
        self.level_memo = None;
        let state = &mut self.m.tier;
        let cut = state.days.partition_point(|d| d.date < keep_from);
        if cut > 0 {
            for d in state.days.drain(..cut) {
                if tiers.spec.window == TierWindow::Lifetime {
                    state.carried = Amount::from_decimal(state.carried.decimal().saturating_add(d.value.decimal()));
                }
                let Some(level) = d.level else { continue };
                match state.holds.iter_mut().find(|h| h.kind == HoldKind::Reached && h.level == level) {
                    Some(h) => {
                        h.until = match (h.until, d.until) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            _ => None,
                        };
                    }
                    None => state.holds.push(TierHold {
                        level,
                        kind: HoldKind::Reached,
                        since: crate::time::start_of_day(self.program.zone, d.date).unwrap_or(late),
                        until: d.until,
                    }),
                }
            }
        }
        state.holds.retain(|h| h.until.is_none_or(|u| u > late));
        let excess = state.history.len().saturating_sub(HISTORY_MAX);
        state.history.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ladder of four levels whose points never expire from rank `from` up.
    fn ladder(from: usize) -> Tiers {
        ladder_keeping([0, 1, 2, 3].map(|i| i >= from))
    }

    /// A ladder of four levels; `keeps[i]`: level `i`'s points never expire.
    fn ladder_keeping(keeps: [bool; 4]) -> Tiers {
        let levels: String = (0..4)
            .map(|i| {
                let min = if i == 0 { String::new() } else { format!("min = \"{}\"\n", 100 * i) };
                format!("[[tiers.levels]]\nid = \"l{i}\"\nname = \"L{i}\"\n{min}points_never_expire = {}\n", keeps[i])
            })
            .collect();
        let text = format!(
            "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"UTC\"\n[tiers]\nmeasure = \"spend\"\nwindow = \"calendar_year\"\n{levels}"
        );
        let program = crate::Program::from_toml_str(&text).unwrap();
        program.tiers.clone().unwrap()
    }

    fn instant(hours: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(hours)
    }

    /// Records and holds at any rank (or none), ending on a small grid of
    /// instants (or never) so that ends and `at` often meet.
    fn state() -> impl Strategy<Value = TierState> {
        let day = (prop::option::of(0_usize..4), prop::option::of(0_i64..12));
        let hold = (0_usize..4, 0_i64..12, prop::option::of(0_i64..12));
        (prop::collection::vec(day, 0..12), prop::collection::vec(hold, 0..3)).prop_map(|(days, holds)| {
            let id = |rank: usize| crate::Id::from(format!("l{rank}"));
            TierState {
                days: days
                    .into_iter()
                    .enumerate()
                    .map(|(i, (level, until))| TierDay {
                        date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(i as u64),
                        value: Amount::ZERO,
                        scripted: None,
                        level: level.map(id),
                        until: until.map(instant),
                    })
                    .collect(),
                holds: holds
                    .into_iter()
                    .map(|(rank, since, until)| TierHold {
                        level: id(rank),
                        kind: HoldKind::Reached,
                        since: instant(since),
                        until: until.map(instant),
                    })
                    .collect(),
                ..TierState::default()
            }
        })
    }

    proptest! {
        /// The one-pass answer for a ladder that keeps points from a rank
        /// up is the answer from the spans, whenever it gives one.
        #[test]
        fn kept_until_is_the_spans_answer(from in 0_usize..4, state in state(), at in 0_i64..12) {
            let tiers = ladder(from);
            let at = instant(at);
            let by_spans = tiers.exempt_end_by_spans(&state, at);
            if from == 0 {
                // Every level keeps points: the general way says for ever.
                prop_assert_eq!(tiers.keeps_from, None);
                prop_assert_eq!(by_spans, Some(None));
            } else {
                prop_assert_eq!(tiers.keeps_from, Some(from));
                match tiers.kept_until(&state, at, from) {
                    Ok(end) => prop_assert_eq!(end, by_spans),
                    Err(()) => prop_assert!(state.holds.iter().any(|h| h.since > at)),
                }
            }
            prop_assert_eq!(tiers.exempt_end(&state, at), by_spans);
        }
    }

    #[test]
    fn a_ladder_keeps_from_a_rank_only_when_every_level_above_keeps() {
        assert_eq!(ladder(2).keeps_from, Some(2));
        assert_eq!(ladder_keeping([false, false, false, true]).keeps_from, Some(3));
        // A middle level that keeps points, under one that does not.
        let tiers = ladder_keeping([false, true, false, false]);
        assert!(tiers.keeps_points);
        assert_eq!(tiers.keeps_from, None);
        assert!(!ladder_keeping([false; 4]).keeps_points);
    }
}
