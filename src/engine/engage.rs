//! The engine's side of engagement: activity points with their limits,
//! reasons with limits on credits, birthday bonuses and time signals. See
//! [`crate::engagement`].

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{add, Work};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::member::LotOrigin;
use crate::receipt::{EntryKind, Explanation, Id, Signal, Text};
use crate::time::{local_date, start_of_day};
use crate::Points;

/// Times counted under `kind:id` in the local month of `date`.
fn month_count(days: &[crate::DayCount], kind: &str, id: &str, date: NaiveDate) -> u32 {
    days.iter()
        .filter(|d| d.date.year() == date.year() && d.date.month() == date.month())
        .filter(|d| crate::earn::day_key_matches(&d.key, kind, id))
        .fold(0, |sum, d| u32::saturating_add(sum, d.count))
}

/// The birthday of someone born on `birth` in `year` (29 February: 28 February in common years).
pub(crate) fn birthday_in(birth: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, birth.month(), birth.day()).or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
}

/// False when no local start of a birthday of `birth` can fall in
/// `(after, upto]`, in any zone: a local date starts between a day before
/// its UTC midnight and 49 hours after it (an offset is under a day either
/// way; a DST gap shifts the start by at most 25 hours), so within
/// (midnight − 1 day, midnight + 3 days).
fn birthday_may_start(birth: NaiveDate, after: DateTime<Utc>, upto: DateTime<Utc>) -> bool {
    const BEFORE: i64 = 86_400;
    const AFTER: i64 = 3 * 86_400;
    let (lo, hi) = (after.timestamp(), upto.timestamp());
    // A birthday's UTC midnight falls in (lo − 3 days, hi + 1 day]: only
    // the years of those two instants can have it, which are the years of
    // `after` and `upto` unless they are within days of a new year.
    let first = after.year().saturating_sub(i32::from(after.ordinal() <= 4));
    let last = upto.year().saturating_add(i32::from(upto.ordinal() >= 364));
    (first..=last).any(|y| {
        birthday_in(birth, y).is_none_or(|d| {
            let midnight = d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
            midnight - BEFORE <= hi && midnight + AFTER > lo
        })
    })
}

impl Work<'_, '_> {
    /// Credits a bonus lot (available at once, the program's expiry) and explains it.
    fn bonus(&mut self, points: Points, at: DateTime<Utc>, rule: &Id, name: &str) -> Result<()> {
        let moment = self.moment(at);
        let expires_at = self.program.expiry(moment, moment)?;
        self.bonus_until(points, at, rule, name, expires_at)
    }

    /// [`Work::bonus`] with its own expiry.
    fn bonus_until(
        &mut self,
        points: Points,
        at: DateTime<Utc>,
        rule: &Id,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let seq = self.new_lot(points, at, at, expires_at, LotOrigin::Bonus);
        // `"<name>: +<points>"`, formatted when read.
        let reason = Text::rule_line(&std::sync::Arc::from(name), points, self.program.scale(), None, None);
        self.post(EntryKind::Earn, points, at, Some(seq), Some(rule), reason.clone());
        self.explanations.push(Explanation { rule: rule.clone(), points, text: reason });
        self.m.totals.earned = add(self.m.totals.earned, points, "earned points")?;
        Ok(())
    }

    /// The `enroll` event: the welcome bonus.
    pub(super) fn signup(&mut self, event: &Event) -> Result<()> {
        let program = self.program;
        let Some(s) = &program.spec.signup else { return Ok(()) };
        let expires_at = match s.expires_after {
            Some(p) => Some(self.later(p, event.at, "an expiry instant")?),
            None => {
                let m = self.moment(event.at);
                program.expiry(m, m)?
            }
        };
        let name = if s.name.is_empty() { "Welcome bonus" } else { &s.name };
        self.bonus_until(s.points, event.at, &Id::from("signup"), name, expires_at)?;
        if let Some(lot) = self.m.lots.last_mut() {
            lot.first_order_only = s.first_order_only;
        }
        Ok(())
    }

    /// The member's first purchase: a first-order-only bonus left unused is forfeited.
    pub(super) fn first_order_done(&mut self, event: &Event) -> Result<()> {
        for i in 0..self.m.lots.len() {
            let lot = &mut self.m.lots[i];
            let gone = lot.remaining - lot.held;
            if !lot.first_order_only || gone <= 0 {
                continue;
            }
            lot.remaining -= gone;
            let seq = lot.seq;
            self.m.totals.expired = add(self.m.totals.expired, gone, "expired points")?;
            let reason = Text::from_static("welcome bonus: usable only on the first order");
            self.post(EntryKind::Expire, -gone, event.at, Some(seq), None, reason);
        }
        Ok(())
    }

    /// An `activity` event: its points, within the rule's limits.
    pub(super) fn activity_points(&mut self, event: &Event, name: &str) -> Result<()> {
        let program = self.program;
        if !self.m.status.is_active() {
            self.notes.push("no points: the member is suspended".into());
            return Ok(());
        }
        let Some(rule) = program.spec.activities.iter().find(|a| a.id == name) else {
            if program.tiers.as_ref().is_none_or(|t| t.spec.counter.as_deref() != Some(name)) {
                self.notes.push(format!("no points: the program has no rule for activity '{name}'"));
            }
            return Ok(());
        };
        let date = self.event_date();
        let id = Id::from(rule.id.as_str());
        let label = if rule.name.is_empty() { &rule.id } else { &rule.name };
        let (_, _, today) = crate::earn::day_and_month(&self.m.days, "activity", &rule.id, date);
        let month = month_count(&self.m.days, "activity", &rule.id, date);
        let key = format!("activity:{}", rule.id);
        let ever = self.m.lifetime.get(key.as_str()).copied().unwrap_or(0);
        let limit = [
            (rule.max_per_day, i64::from(today), "a day"),
            (rule.max_per_month, i64::from(month), "a month"),
            (rule.max_ever, ever, "ever"),
        ]
        .into_iter()
        .find(|(max, count, _)| max.is_some_and(|m| *count >= i64::from(m)));
        if let Some((max, _, per)) = limit {
            self.notes.push(format!("{label}: no points, the limit of {} {per} is reached", max.unwrap_or(0)));
            return Ok(());
        }
        self.bonus(rule.points, event.at, &id, label)?;
        let day_key = Id::from(key.as_str());
        self.count_day(date, "activity", &rule.id, || day_key.clone(), rule.points)?;
        let old = self.m.lifetime.insert(day_key, ever.saturating_add(1));
        self.undo.lifetime_owned.push((key, old));
        Ok(())
    }

    /// A credit for a reason with limits: the points allowed this month and
    /// the lot's expiry instead of the program's.
    pub(super) fn reason_limits(
        &mut self,
        event: &Event,
        reason: &str,
        points: Points,
    ) -> Result<(Points, Option<Option<DateTime<Utc>>>)> {
        let program = self.program;
        let Some(r) = program.spec.adjust_reasons.get(reason) else { return Ok((points, None)) };
        let mut allowed = points;
        if let Some(max) = r.max_per_month {
            let date = self.event_date();
            let (_, month, _) = crate::earn::day_and_month(&self.m.days, "adjust", reason, date);
            allowed = points.min(max.saturating_sub(month).max(0));
            if allowed < points {
                self.notes.push(format!(
                    "{reason}: {} of {} points credited, the limit of {} a month is reached",
                    self.pts(allowed),
                    self.pts(points),
                    self.pts(max)
                ));
            }
            if allowed > 0 {
                let key = Id::from(format!("adjust:{reason}"));
                self.count_day(date, "adjust", reason, || key, allowed)?;
            }
        }
        let expiry = match r.expires_after {
            Some(p) => Some(Some(self.later(p, event.at, "an expiry instant")?)),
            None => None,
        };
        Ok((allowed, expiry))
    }

    /// Birthday bonuses whose day starts in (`bonus_clock`, `upto`].
    pub(super) fn birthdays(&mut self, upto: DateTime<Utc>) -> Result<()> {
        let program = self.program;
        let (Some(b), Some(birth)) = (&program.spec.birthday, self.m.profile.birth_date) else { return Ok(()) };
        // A suspended member's birthday passes without a bonus.
        let active = self.m.status.is_active();
        if upto <= self.bonus_clock {
            return Ok(());
        }
        // Most calls cover a few days far from any birthday (see
        // `birthday_may_start`): only a birthday that may start in
        // (clock, upto] needs the zone.
        if self.next_birthday.is_none() && !birthday_may_start(birth, self.bonus_clock, upto) {
            // None is due up to `upto`: later calls up to it return at once.
            self.bonus_clock = upto;
            return Ok(());
        }
        // The next birthday after the clock, worked out once per event.
        let next = match self.next_birthday {
            Some(next) => next,
            None => {
                let year = local_date(program.zone, self.bonus_clock).year();
                let next = (year..=year.saturating_add(1))
                    .filter_map(|y| birthday_in(birth, y).and_then(|d| start_of_day(program.zone, d)))
                    .find(|at| *at > self.bonus_clock);
                self.next_birthday = Some(next);
                next
            }
        };
        if next.is_none_or(|n| n > upto) {
            return Ok(());
        }
        self.next_birthday = None;
        let from = self.bonus_clock;
        self.bonus_clock = upto;
        let (first, last) = (local_date(program.zone, from).year(), local_date(program.zone, upto).year());
        for year in first..=last {
            let Some(at) = birthday_in(birth, year).and_then(|d| start_of_day(program.zone, d)) else { continue };
            if at > from && at <= upto && at >= self.m.enrolled_at && active {
                let name = if b.name.is_empty() { "Birthday bonus" } else { &b.name };
                self.bonus(b.points, at, &Id::from("birthday"), name)?;
            }
        }
        Ok(())
    }

    /// Signals about time passing between the member's clock before the
    /// event (`before`) and now.
    pub(super) fn time_signals(&mut self, before: DateTime<Utc>, advance: bool) {
        let program = self.program;
        let spec = &program.spec.signals;
        let now = self.m.clock;
        if let Some(within) = spec.expiring_within {
            let mut soon: Vec<(DateTime<Utc>, Points)> = Vec::new();
            for lot in self.m.lots.iter().filter(|l| l.remaining > l.held) {
                let Some(at) = lot.expires_at.filter(|e| *e > now) else { continue };
                // The warning instant's bounds in any zone decide for almost
                // every lot: only one whose warning may fall in (before, now]
                // needs the zone.
                let (earliest, latest) = within.before_bounds(at.timestamp());
                // (Whole seconds: `latest` bounds the warning's second, so
                // it is surely not after `before` only below `before`'s second.)
                if latest < before.timestamp() || earliest > now.timestamp() {
                    continue;
                }
                let Some(warn) = within.before(at, program.zone) else { continue };
                if warn > before && warn <= now {
                    match soon.iter_mut().find(|(t, _)| *t == at) {
                        Some(s) => s.1 = s.1.saturating_add(lot.remaining - lot.held),
                        None => soon.push((at, lot.remaining - lot.held)),
                    }
                }
            }
            soon.sort();
            self.signals.extend(soon.into_iter().map(|(at, points)| Signal::PointsExpiring { points, at }));
        }
        if !advance {
            return;
        }
        let since = self.m.last_purchase.unwrap_or(self.m.enrolled_at);
        for (period, lapsed) in [(spec.at_risk_after, false), (spec.lapsed_after, true)] {
            let Some(at) = period.and_then(|p| p.after(since, program.zone)) else { continue };
            if at > before && at <= now {
                self.signals.push(if lapsed { Signal::Lapsed { since, at } } else { Signal::AtRisk { since, at } });
            }
        }
    }

    /// A referred member's purchase worth `amount`: the first to reach the
    /// minimum qualifies the referral.
    pub(super) fn referral_purchase(&mut self, event: &Event, amount: crate::number::Money) -> Result<()> {
        let program = self.program;
        let (Some(spec), Some(referrer)) = (&program.spec.referral, self.m.referred_by.clone()) else {
            return Ok(());
        };
        // A suspended member's purchases do not qualify a referral (it waits).
        if !self.m.status.is_active() {
            return Ok(());
        }
        let min = crate::number::to_money(spec.min_order.decimal()).unwrap_or(crate::number::Money::MAX);
        if amount < min {
            return Ok(());
        }
        self.m.referred_by = None;
        self.bonus(spec.referee_points, event.at, &Id::from("referral"), "Referral bonus")?;
        self.signals.push(Signal::ReferralQualified { referrer, referee: self.m.id.clone() });
        Ok(())
    }

    /// A `referral_reward` event on the referrer.
    pub(super) fn referral_reward(&mut self, event: &Event, referee: &str) -> Result<()> {
        let program = self.program;
        crate::event::check_id(&event.id, "referee", referee)?;
        let Some(spec) = &program.spec.referral else {
            return Err(Error::event(&event.id, "type", "the program has no referral"));
        };
        if referee == self.m.id.as_str() {
            return Err(Error::event(&event.id, "referee", "a member cannot refer themselves"));
        }
        if self.m.referrals.iter().any(|(r, _)| r.as_str() == referee) {
            return Err(Error::event(
                &event.id,
                "referee",
                format!("the referral of '{referee}' was already rewarded"),
            ));
        }
        if let Some(limit) = spec.max_per_referrer {
            let date = self.event_date();
            let count =
                self.m.referrals.iter().filter(|(_, at)| limit.per.same(local_date(program.zone, *at), date)).count();
            if count >= limit.count as usize {
                self.notes.push(format!(
                    "referral of '{referee}': no points, the limit of {} rewarded referrals {} is reached",
                    limit.count,
                    limit.per.words()
                ));
                return Ok(());
            }
        }
        self.m.referrals.push((Id::from(referee), event.at));
        self.bonus(spec.referrer_points, event.at, &Id::from("referral"), &format!("Referral of {referee}"))
    }

    /// A purchase worth `amount` counts for every challenge.
    pub(super) fn challenge_purchase(&mut self, event: &Event, amount: crate::number::Money) -> Result<()> {
        use crate::engagement::{ChallengeKind, ChallengeProgress};
        let program = self.program;
        // A suspended member's purchases count for nothing.
        if !self.m.status.is_active() {
            return Ok(());
        }
        if self.undo.challenges.is_none() {
            self.undo.challenges = Some((self.m.challenges.clone(), self.m.badges.len()));
        }
        let money = crate::number::money_to_decimal(amount).unwrap_or_default();
        let date = self.event_date();
        for c in &program.spec.challenges {
            let i = match self.m.challenges.iter().position(|p| p.id.as_str() == c.id) {
                Some(i) => i,
                None => {
                    self.m.challenges.push(ChallengeProgress {
                        id: Id::from(c.id.as_str()),
                        hits: Vec::new(),
                        streak: None,
                        completed: Vec::new(),
                        total: 0,
                    });
                    self.m.challenges.len() - 1
                }
            };
            // A capped challenge stops counting until its next period.
            if let Some(limit) = c.max_completions {
                let p = &self.m.challenges[i];
                let done = match limit.per {
                    crate::reward::Per::Ever => p.total as usize,
                    per => p.completed.iter().filter(|at| per.same(local_date(program.zone, **at), date)).count(),
                };
                if done >= limit.count as usize {
                    continue;
                }
            }
            let p = &mut self.m.challenges[i];
            let reached = match c.kind {
                ChallengeKind::Count | ChallengeKind::Sum => {
                    if c.min_order.is_some_and(|min| money < min.decimal()) {
                        continue;
                    }
                    let value = if c.kind == ChallengeKind::Count { rust_decimal::Decimal::ONE } else { money };
                    let oldest = c.within.and_then(|w| w.before_in(self.event_at, program.zone)).map(|m| m.utc);
                    p.hits.retain(|(at, _)| oldest.is_none_or(|o| *at > o));
                    p.hits.push((event.at, crate::Amount::from_decimal(value.normalize())));
                    let sum = p.hits.iter().fold(rust_decimal::Decimal::ZERO, |s, h| s.saturating_add(h.1.decimal()));
                    sum >= c.target.decimal()
                }
                ChallengeKind::WeeklyStreak => {
                    let monday = date - chrono::Duration::days(i64::from(date.weekday().num_days_from_monday()));
                    let length = match p.streak {
                        // A late purchase of an earlier week neither extends nor breaks the streak.
                        Some((last, _)) if monday < last => continue,
                        Some((last, n)) if last == monday => n,
                        Some((last, n)) if last + chrono::Duration::days(7) == monday => n + 1,
                        _ => 1,
                    };
                    p.streak = Some((monday, length));
                    rust_decimal::Decimal::from(length) >= c.target.decimal()
                }
            };
            if !reached {
                continue;
            }
            p.hits.clear();
            if let Some((monday, _)) = p.streak {
                p.streak = Some((monday, 0));
            }
            p.completed.push(event.at);
            p.total += 1;
            let year_ago = event.at - chrono::Duration::days(367);
            p.completed.retain(|at| *at >= year_ago);
            let name = if c.name.is_empty() { &c.id } else { &c.name };
            self.bonus(c.points, event.at, &Id::from(c.id.as_str()), name)?;
            let badge = c.badge.as_deref().map(Id::from);
            if let Some(b) = &badge {
                if !self.m.badges.iter().any(|x| x.id == *b) {
                    self.m.badges.push(crate::engagement::Badge { id: b.clone(), at: event.at });
                }
            }
            self.signals.push(Signal::ChallengeCompleted { challenge: Id::from(c.id.as_str()), badge });
        }
        Ok(())
    }

    /// A `choose_promotion` event: the member picks the day.
    pub(super) fn choose_promotion(&mut self, event: &Event, c: &crate::event::ChoosePromotion) -> Result<()> {
        let program = self.program;
        let promo = program.spec.promotions.iter().find(|p| p.id == c.promotion).ok_or_else(|| Error::NotFound {
            event: event.id.clone(),
            what: "promotion",
            id: c.promotion.clone(),
        })?;
        let today = self.event_date();
        if c.date < today {
            return Err(Error::event(&event.id, "date", format!("{} is before the event's date {today}", c.date)));
        }
        if (c.date - today).num_days() > 366 {
            return Err(Error::event(&event.id, "date", format!("{} is more than a year ahead", c.date)));
        }
        if !promo.tiers.is_empty() {
            let tiers = program.tiers.as_ref().map(|t| (t, t.level_after(&self.m.tier, self.m.clock)));
            let at = tiers.map(|(t, level)| t.id(level).to_string()).unwrap_or_default();
            if !promo.tiers.contains(&at) {
                return Err(Error::event(
                    &event.id,
                    "promotion",
                    format!("'{}' is only for {}; the member is {at}", promo.id, promo.tiers.join(", ")),
                ));
            }
        }
        let taken =
            self.m.chosen.iter().filter(|(p, d)| p.as_str() == promo.id && promo.max.per.same(*d, c.date)).count();
        if taken >= promo.max.count as usize {
            return Err(Error::event(
                &event.id,
                "date",
                format!("'{}' was already chosen {} time(s) {}", promo.id, taken, promo.max.per.that()),
            ));
        }
        self.m.chosen.push((Id::from(promo.id.as_str()), c.date));
        let name = if promo.name.is_empty() { &promo.id } else { &promo.name };
        self.notes.push(format!("{name} chosen for {}", c.date));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zone-free test never says "no" when a birthday does start in the
    /// interval: zones far east and west of UTC, a skipped day (Apia, 30
    /// December 2011), DST changes at midnight (Santiago) and half-hour ones
    /// (Lord Howe), for every day of 2010–2013 and intervals from an hour
    /// to three days.
    #[test]
    fn birthday_bounds_hold_in_every_zone() {
        let zones = [
            chrono_tz::Pacific::Kiritimati,
            chrono_tz::Pacific::Pago_Pago,
            chrono_tz::Pacific::Apia,
            chrono_tz::America::Santiago,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Europe::Moscow,
            chrono_tz::UTC,
        ];
        let births = ["1990-02-28", "1992-02-29", "1985-12-30", "1979-12-31", "2000-01-01", "1970-09-06", "1988-04-05"];
        for zone in zones {
            for birth in births {
                let birth: NaiveDate = birth.parse().unwrap();
                for year in 2010..=2013 {
                    let Some(start) = birthday_in(birth, year).and_then(|d| crate::time::start_of_day(zone, d)) else {
                        continue;
                    };
                    for width in [3_600, 86_400, 3 * 86_400] {
                        // Intervals (after, after + width] that contain the start, at its edges and inside.
                        for back in [0, 1, width / 2, width - 1] {
                            let upto =
                                start + chrono::Duration::seconds(width - back - 1).max(chrono::Duration::zero());
                            let after = upto - chrono::Duration::seconds(width);
                            if after < start && start <= upto {
                                assert!(
                                    birthday_may_start(birth, after, upto),
                                    "{zone} {birth} {year}: start {start} in ({after}, {upto}]"
                                );
                            }
                        }
                    }
                }
            }
        }
        // And far from the birthday it says no.
        let birth: NaiveDate = "1990-06-15".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(!birthday_may_start(birth, at("2026-03-01T00:00:00Z"), at("2026-06-10T00:00:00Z")));
        assert!(birthday_may_start(birth, at("2026-03-01T00:00:00Z"), at("2026-06-14T00:00:01Z")));
    }
}
