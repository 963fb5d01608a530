//! Tiers: levels a member reaches by what they do, keeps for a status
//! period, and loses only when that period ends.
//!
//! A program's `[tiers]` table names what qualifies (`measure`: money
//! spent, points earned, purchases, or an activity counter), over which
//! window (`window`: the calendar year, the membership year, the last N
//! months, or all time), how long a level reached is kept (`keep`), and what
//! happens when it ends (`downgrade`). Its `[[tiers.levels]]` are listed from
//! the base level up, each with the `min` that reaches it and its benefits:
//! an earn multiplier, perks the host reads, and exemption from expiry.
//!
//! ```
//! let program = loyalty::Program::from_toml_str(r#"
//! id = "shop"
//! currency = "RUB"
//! time_zone = "Europe/Moscow"
//! categories = ["tv"]
//! [[earn]]
//! id = "base"
//! kind = "percent"
//! percent = "3"
//! [tiers]
//! measure = "spend"
//! window = "calendar_year"
//! keep = 1
//! [[tiers.levels]]
//! id = "start"
//! [[tiers.levels]]
//! id = "silver"
//! min = "50000"
//! perks = ["warranty+1y"]
//! "#).unwrap();
//! let mut m = program.enroll("m", "2026-01-10T10:00:00Z".parse().unwrap(), Default::default()).unwrap();
//! let sale = loyalty::Event::from_json_str(r#"{"id":"s1","at":"2026-03-01T10:00:00Z","type":"purchase",
//!   "lines":[{"sku":"tv-55","category":"tv","quantity":"1","unit_price":"60000"}]}"#).unwrap();
//! let receipt = program.apply(&mut m, &sale).unwrap().receipt;
//! assert_eq!(receipt.tier.as_deref(), Some("silver"));
//! let status = program.tier(&m, m.clock()).unwrap();
//! assert_eq!(status.perks, ["warranty+1y"]);
//! // Kept for the rest of 2026 and all of 2027: it ends at the start of 2028, Moscow time.
//! assert_eq!(status.until.unwrap().to_rfc3339(), "2027-12-31T21:00:00+00:00");
//! ```
//!
//! # How a level is decided
//!
//! Qualifying activity is kept per local day: one record per day with
//! activity, holding the day's total of the measure. On a day `d` the
//! member's *progress* is the sum of the records in the window of `d`
//! (calendar year: 1 January to `d`; membership year: the last enrolment
//! anniversary to `d`; `rolling_months = n`: the `n` months ending with `d`;
//! lifetime: everything). The highest level whose `min` the progress reaches
//! is *reached* on `d`, at once, and *kept* until:
//!
//! * calendar and membership years: the end of the year `d` falls in and
//!   `keep` more whole years (`keep = 1`: "the rest of this year and the
//!   whole next one");
//! * `rolling_months = n`: the end of the same day `n × keep` months later
//!   (`keep` is at least 1);
//! * lifetime: for ever.
//!
//! The member's level at an instant is the highest level kept at that
//! instant — reached, assigned by hand (an `assign_tier` event: a floor
//! with an end date) or paid for (a `subscribe` event buys a
//! subscription level for its period; renewing before it lapses extends it
//! without a gap) — or the base level. A level is therefore lost only when
//! the last status period that kept it ends; with `downgrade =
//! "to_qualified"` the member falls to the highest level still kept, with
//! `"one_level"` one level below the lost one, kept for one more window.
//!
//! Everything here is a pure function of the member's history, the program
//! and the instant. A return takes its amount (or its reversed points) off
//! the record of the purchase's day, and a late purchase adds to the record
//! of its own day; either way the levels of the records from that day on
//! are worked out again, so a level reached only through goods that came
//! back is taken away.
//!
//! Points earned by a purchase are computed at the level the member had
//! before it; a level the purchase reaches applies from the next event.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::number::Amount;
use crate::script::ScriptSpec;
use crate::time::{start_of_day, Period};
use crate::Id;

/// The most levels a program may have.
pub const LEVELS_MAX: usize = 16;
/// How many tier changes a member remembers (the oldest are dropped).
pub const HISTORY_MAX: usize = 64;

/// What qualifies for a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierMeasure {
    /// Money spent: the net amount of every line of a purchase, less returns.
    Spend,
    /// Points earned by purchases (point units), less points taken back by returns.
    PointsEarned,
    /// Purchases; a return of everything left of a purchase takes it back.
    Purchases,
    /// The activity counter named by `counter` (`activity` events add their `value`).
    Counter,
}

/// Over which window the measure is summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierWindow {
    /// The local calendar year.
    CalendarYear,
    /// The year since the last anniversary of the member's enrolment (local dates).
    AnniversaryYear,
    /// The last `n` months, ending with the day itself.
    RollingMonths(u32),
    /// Everything, ever.
    Lifetime,
}

/// Where a member falls when a level's status period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Downgrade {
    /// To the highest level still kept (or the base level).
    #[default]
    ToQualified,
    /// One level below the lost one, kept for one more window.
    OneLevel,
}

/// The `[tiers]` table of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// What qualifies.
    pub measure: TierMeasure,
    /// For `measure = "counter"`: the activity name counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<String>,
    /// Over which window.
    pub window: TierWindow,
    /// How many more whole windows a level reached is kept after the one it
    /// was reached in (for rolling windows: how many window lengths). Default 1.
    #[serde(default = "one")]
    pub keep: u32,
    /// Where a member falls when a status period ends.
    #[serde(default)]
    pub downgrade: Downgrade,
    /// A `close_to_next_tier` signal is given when a purchase brings the
    /// progress to at least this percent of the next level's `min`. Default 80.
    #[serde(default = "eighty")]
    pub close_percent: Amount,
    /// The levels, the base level first, then in ascending `min`.
    pub levels: Vec<TierLevel>,
}

fn one() -> u32 {
    1
}

fn eighty() -> Amount {
    Amount::from_int(80)
}

/// One level of a tier ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLevel {
    /// Level id; earn rules name it in `when.tiers`.
    pub id: String,
    /// A name for people; defaults to the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The progress that reaches the level (money for `spend`, point units
    /// for `points_earned`, a count otherwise). The base level has none;
    /// a level with neither `min` nor `script` is reached only by hand or by
    /// subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Amount>,
    /// Earn multiplier while at this level (`"1.2"`): an implicit
    /// `multiplier` rule with id `tier:<level id>` over the rules a
    /// multiplier multiplies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<Amount>,
    /// Perks the host reads (`"free_delivery"`, `"warranty+1y"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perks: Vec<String>,
    /// While the member is at this level, points do not expire: a lot that
    /// reaches its expiry then is kept until the level is lost.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub points_never_expire: bool,
    /// A paid level: a `subscribe` event buys it for this period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    /// A script run on every purchase (`gives = "allow"`); when it says
    /// yes, the level is reached that day as if its `min` had been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptSpec>,
}

/// A paid level's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// How long one payment keeps the level.
    pub period: Period,
    /// The price of one period, for reports (the host takes the money).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
}

/// One local day's qualifying activity and the level it reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDay {
    /// The local date.
    pub date: NaiveDate,
    /// The day's total of the measure.
    pub value: Amount,
    /// The highest level a script said the member reached that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripted: Option<Id>,
    /// The highest level reached that day (above the base level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Id>,
    /// Until when that level is kept (`None`: for ever).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub until: Option<DateTime<Utc>>,
}

/// Why a level is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// Reached on a day whose record is no longer kept.
    Reached,
    /// Assigned by hand (`assign_tier`).
    Assigned,
    /// Paid for (`subscribe`).
    Paid,
    /// One level below a lost one (`downgrade = "one_level"`).
    SteppedDown,
}

/// A level kept from `since` until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierHold {
    /// The level id.
    pub level: Id,
    /// Why.
    pub kind: HoldKind,
    /// From when.
    #[serde(with = "crate::time::instant")]
    pub since: DateTime<Utc>,
    /// Until when (`None`: for ever).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub until: Option<DateTime<Utc>>,
}

/// A change of level, as the member's history and receipts record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierChange {
    /// When.
    #[serde(with = "crate::time::instant")]
    pub at: DateTime<Utc>,
    /// The level before.
    pub from: Id,
    /// The level after.
    pub to: Id,
    /// Why, for people.
    pub reason: String,
}

/// A member's tier state: the records levels are worked out from, the
/// levels kept for other reasons, and the history of changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierState {
    /// The level as of the member's clock (`None` before the first event of a program with tiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Id>,
    /// Qualifying activity per local day, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<TierDay>,
    /// For a lifetime window: the total of the records no longer kept.
    #[serde(default, skip_serializing_if = "crate::number::amount_is_zero")]
    pub carried: Amount,
    /// Levels kept for reasons other than a kept record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<TierHold>,
    /// The latest changes of level, oldest first (at most [`HISTORY_MAX`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<TierChange>,
}

impl TierState {
    pub(crate) fn is_empty(&self) -> bool {
        self == &TierState::default()
    }
}

/// What is still needed for the next level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextTier<'p> {
    /// The next level's id.
    pub tier: &'p str,
    /// Its `min`.
    pub min: Amount,
    /// How much more of the measure reaches it now.
    pub needed: Amount,
    /// For calendar and membership years: the instant the current window
    /// ends, by which `needed` must be reached before the progress restarts.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub by: Option<DateTime<Utc>>,
}

/// A member's level at an instant, with what it brings and what is next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierStatus<'p> {
    /// The level id.
    pub tier: &'p str,
    /// Its name.
    pub name: &'p str,
    /// Its perks.
    pub perks: &'p [String],
    /// Its earn multiplier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<Amount>,
    /// Whether points do not expire at this level.
    pub points_never_expire: bool,
    /// When the member falls below this level if nothing more happens
    /// (`None`: never, or the base level).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub until: Option<DateTime<Utc>>,
    /// The progress (the measure summed over the window) on the instant's day.
    pub progress: Amount,
    /// The next level reachable by the measure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<NextTier<'p>>,
}

/// Kept levels that have all started by an instant `at`, reduced to what
/// decides the level after `at`: per rank, the latest end of its spans in
/// force at `at` (`Some(None)`: one never ends), and the first end of any.
///
/// The level after an instant is the highest rank with a span ending later,
/// so it changes only at a rank's latest end: [`Latest::first_end`] looks at
/// those (and the first end) instead of sorting every span's end, and
/// building this takes one pass over the records with no allocation for a
/// ladder of up to 8 levels — what a member at a level that keeps points
/// needs on every event ([`Spans::first_end`] gives the same answers, tested).
pub(crate) struct Latest {
    by_rank: smallvec::SmallVec<[Option<Option<DateTime<Utc>>>; 8]>,
    first: Option<DateTime<Utc>>,
}

impl Latest {
    /// From (until, rank) of spans that started by `at`; `ranks` bounds the ranks.
    pub(crate) fn of(
        spans: impl Iterator<Item = (Option<DateTime<Utc>>, usize)>,
        ranks: usize,
        at: DateTime<Utc>,
    ) -> Latest {
        let mut by_rank = smallvec::SmallVec::from_elem(None, ranks);
        let mut first: Option<DateTime<Utc>> = None;
        for (until, rank) in spans {
            if until.is_some_and(|u| u <= at) {
                continue;
            }
            if let Some(u) = until {
                first = Some(first.map_or(u, |f| f.min(u)));
            }
            if rank >= by_rank.len() {
                by_rank.resize(rank + 1, None);
            }
            let latest: &mut Option<Option<DateTime<Utc>>> = &mut by_rank[rank];
            *latest = Some(later_end(*latest, until));
        }
        Latest { by_rank, first }
    }

    /// The level at `t` (at or after the `at` this was built for).
    pub(crate) fn level(&self, t: DateTime<Utc>) -> usize {
        self.by_rank.iter().rposition(|l| l.is_some_and(|end| end.is_none_or(|end| end > t))).unwrap_or(0)
    }

    /// As [`Spans::first_end`]: the first end at which the level satisfies
    /// `stop` (`Some(None)`: never). The level is constant between a
    /// rank's latest ends, so the first such end is the first end of all
    /// or one of those.
    pub(crate) fn first_end(&self, stop: impl Fn(usize) -> bool) -> Option<Option<DateTime<Utc>>> {
        let mut candidates: smallvec::SmallVec<[DateTime<Utc>; 9]> =
            self.first.into_iter().chain(self.by_rank.iter().filter_map(|l| l.flatten())).collect();
        candidates.sort_unstable();
        candidates.dedup();
        match candidates.into_iter().find(|&e| stop(self.level(e))) {
            Some(e) => Some(Some(e)),
            None => Some(None),
        }
    }
}

/// The later of the latest end seen so far (`None`: none yet;
/// `Some(None)`: one lasts for ever) and `until` (`None`: for ever).
#[inline]
fn later_end(seen: Option<Option<DateTime<Utc>>>, until: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (seen, until) {
        (Some(None), _) | (_, None) => None,
        (Some(Some(a)), Some(u)) => Some(a.max(u)),
        (None, Some(u)) => Some(u),
    }
}

/// Kept levels as (since, until, rank): records count from any instant at
/// or after the clock.
pub(crate) struct Spans(smallvec::SmallVec<[Span; 16]>);

/// (since, until, rank) of a kept level.
type Span = (DateTime<Utc>, Option<DateTime<Utc>>, usize);

impl Spans {
    /// The level at `at`.
    pub(crate) fn level(&self, at: DateTime<Utc>) -> usize {
        self.0.iter().filter(|(s, u, _)| *s <= at && u.is_none_or(|u| u > at)).map(|x| x.2).max().unwrap_or(0)
    }

    /// The first end after `at`, and at most `to`.
    pub(crate) fn next_end(&self, at: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.iter().filter_map(|x| x.1).filter(|u| *u > at && *u <= to).min()
    }

    /// The first end after `at` at which the level satisfies `stop`:
    /// `Some(Some(t))` at `t`, `Some(None)` never.
    ///
    /// A member at a level that keeps points has a record per day of
    /// activity, each with its own end: searching again for every end is
    /// quadratic in them, so past a few spans the ends are swept in order
    /// instead ([`Spans::first_end_by_sweep`]; the same answer, tested).
    /// When every span has started by `at` (the usual case), one sort
    /// answers ([`Spans::first_end_started`]).
    pub(crate) fn first_end(&self, at: DateTime<Utc>, stop: impl Fn(usize) -> bool) -> Option<Option<DateTime<Utc>>> {
        if self.0.iter().all(|(s, _, _)| *s <= at) {
            return self.first_end_started(at, stop);
        }
        if self.0.len() <= 16 {
            self.first_end_by_search(at, stop)
        } else {
            self.first_end_by_sweep(at, stop)
        }
    }

    /// [`Spans::first_end`] when every span started by `at` (a member's
    /// day records always have; holds almost always): from then on spans
    /// only end, so the level at an end is the highest rank among the spans
    /// ending later. One sort of the ends and one pass back over them, where
    /// the search passes over all spans twice per end.
    fn first_end_started(&self, at: DateTime<Utc>, stop: impl Fn(usize) -> bool) -> Option<Option<DateTime<Utc>>> {
        use smallvec::SmallVec;
        let mut forever = 0;
        let mut ends: SmallVec<[(DateTime<Utc>, usize); 16]> = SmallVec::new();
        for &(_, until, rank) in &self.0 {
            match until {
                None => forever = forever.max(rank),
                Some(u) if u > at => ends.push((u, rank)),
                Some(_) => {}
            }
        }
        ends.sort_unstable_by_key(|e| e.0);
        // above[i]: the level once the ends before i have passed, that is
        // the highest rank among ends[i..] and the spans that never end.
        let mut above: SmallVec<[usize; 16]> = SmallVec::from_elem(forever, ends.len() + 1);
        for i in (0..ends.len()).rev() {
            above[i] = above[i + 1].max(ends[i].1);
        }
        let mut i = 0;
        while i < ends.len() {
            let e = ends[i].0;
            // In force at `e`: the spans ending after it.
            while i < ends.len() && ends[i].0 == e {
                i += 1;
            }
            if stop(above[i]) {
                return Some(Some(e));
            }
        }
        Some(None)
    }

    /// [`Spans::first_end`] visiting the ends in time order, as the search
    /// does one at a time; the level at each comes from a count of the
    /// spans in force per rank, kept as the ends pass.
    fn first_end_by_sweep(&self, at: DateTime<Utc>, stop: impl Fn(usize) -> bool) -> Option<Option<DateTime<Utc>>> {
        use smallvec::SmallVec;
        let mut ends: SmallVec<[DateTime<Utc>; 16]> = self.0.iter().filter_map(|x| x.1).filter(|u| *u > at).collect();
        if ends.is_empty() {
            return Some(None);
        }
        ends.sort_unstable();
        ends.dedup();
        // Spans that are ever in force (since < until), by start and by end.
        let live = || self.0.iter().filter(|(s, u, _)| u.is_none_or(|u| *s < u));
        let mut starts: SmallVec<[(DateTime<Utc>, usize); 16]> = live().map(|(s, _, r)| (*s, *r)).collect();
        let mut stops: SmallVec<[(DateTime<Utc>, usize); 16]> =
            live().filter_map(|(_, u, r)| u.map(|u| (u, *r))).collect();
        starts.sort_unstable();
        stops.sort_unstable();
        let ranks = self.0.iter().map(|x| x.2 + 1).max().unwrap_or(1);
        let mut in_force: SmallVec<[u32; 8]> = SmallVec::from_elem(0, ranks);
        let (mut started, mut stopped) = (0, 0);
        for &e in &ends {
            // In force at `e`: started at or before it, not ended by it.
            while starts.get(started).is_some_and(|(s, _)| *s <= e) {
                in_force[starts[started].1] += 1;
                started += 1;
            }
            while stops.get(stopped).is_some_and(|(u, _)| *u <= e) {
                in_force[stops[stopped].1] -= 1;
                stopped += 1;
            }
            let level = in_force.iter().rposition(|n| *n > 0).unwrap_or(0);
            if stop(level) {
                return Some(Some(e));
            }
        }
        Some(None)
    }

    /// [`Spans::first_end`] by a search for the next end and the level at
    /// it, one end at a time: the definition, and the faster way for a few spans.
    fn first_end_by_search(&self, at: DateTime<Utc>, stop: impl Fn(usize) -> bool) -> Option<Option<DateTime<Utc>>> {
        let mut t = at;
        while let Some(end) = self.next_end(t, DateTime::<Utc>::MAX_UTC) {
            if stop(self.level(end)) {
                return Some(Some(end));
            }
            t = end;
        }
        Some(None)
    }
}

/// A compiled level.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    pub(crate) id: Id,
    pub(crate) min: Option<Decimal>,
    pub(crate) never_expire: bool,
    pub(crate) script: Option<Box<crate::script::Script>>,
}

/// The compiled `[tiers]` table.
#[derive(Debug, Clone)]
pub(crate) struct Tiers {
    pub(crate) spec: TierSpec,
    pub(crate) levels: Vec<Level>,
    /// Some level keeps points from expiring.
    pub(crate) keeps_points: bool,
    /// When the levels that keep points are exactly those from this rank
    /// up, above the base level (the usual ladder: the top levels keep
    /// them), points stop being kept when the last span at such a rank
    /// ends ([`Tiers::kept_until`]).
    pub(crate) keeps_from: Option<usize>,
    /// Some level is reached by the measure (has a `min`). Without one,
    /// levels come only from subscriptions, assignments and scripts, and
    /// the progress never decides a level: it is not worked out per event.
    pub(crate) by_measure: bool,
}

/// `start` plus `values`, added as whole numbers at the largest scale met:
/// `None` as soon as a value or a partial sum at that scale leaves 96 bits,
/// where `Decimal` addition would round or saturate (the caller then adds
/// as decimals). Until then each step is exactly what `Decimal` addition
/// gives, at a fraction of its cost per value.
fn sum_exact(start: Decimal, values: impl Iterator<Item = Decimal>) -> Option<Decimal> {
    const LIMIT: u128 = 1 << 96;
    let fits = |v: i128| (v.unsigned_abs() < LIMIT).then_some(v);
    let (mut sum, mut scale) = (start.mantissa(), start.scale());
    for v in values {
        let (mut m, s) = (v.mantissa(), v.scale());
        if s > scale {
            sum = fits(sum.checked_mul(10_i128.checked_pow(s - scale)?)?)?;
            scale = s;
        } else if s < scale {
            m = fits(m.checked_mul(10_i128.checked_pow(scale - s)?)?)?;
        }
        sum = fits(sum.checked_add(m)?)?;
    }
    Decimal::try_from_i128_with_scale(sum, scale).ok()
}

/// The first instant of a local date (the start of the next one when the
/// date's midnight does not exist), or `None` past the calendar's end.
fn start(zone: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    start_of_day(zone, date)
}

fn add_months(date: NaiveDate, months: u64) -> Option<NaiveDate> {
    date.checked_add_months(chrono::Months::new(u32::try_from(months).ok()?))
}

impl Tiers {
    /// The index of a level id.
    pub(crate) fn index(&self, id: &str) -> Option<usize> {
        self.levels.iter().position(|l| &*l.id == id)
    }

    /// The level of an optional id (the base level for `None` or an id the program no longer has).
    pub(crate) fn rank(&self, id: Option<&Id>) -> usize {
        id.and_then(|id| self.levels.iter().position(|l| l.id.same(id))).unwrap_or(0)
    }

    /// The `k`-th anniversary (0: the enrolment date) of `enrolled`.
    fn anniversary(enrolled: NaiveDate, k: i64) -> Option<NaiveDate> {
        if k >= 0 {
            add_months(enrolled, 12 * k as u64)
        } else {
            enrolled.checked_sub_months(chrono::Months::new(u32::try_from(12 * -k).ok()?))
        }
    }

    /// The number of the membership year `d` falls in (0: the first).
    fn membership_year(enrolled: NaiveDate, d: NaiveDate) -> i64 {
        let mut k = i64::from(d.year() - enrolled.year());
        while Tiers::anniversary(enrolled, k).is_some_and(|a| a > d) {
            k -= 1;
        }
        while Tiers::anniversary(enrolled, k + 1).is_some_and(|a| a <= d) {
            k += 1;
        }
        k
    }

    /// The first day of the window of day `d`.
    pub(crate) fn window_start(&self, enrolled: NaiveDate, d: NaiveDate) -> NaiveDate {
        match self.spec.window {
            TierWindow::CalendarYear => NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(NaiveDate::MIN),
            TierWindow::AnniversaryYear => {
                Tiers::anniversary(enrolled, Tiers::membership_year(enrolled, d)).unwrap_or(NaiveDate::MIN)
            }
            TierWindow::RollingMonths(n) => {
                d.checked_sub_months(chrono::Months::new(n)).and_then(|s| s.succ_opt()).unwrap_or(NaiveDate::MIN)
            }
            TierWindow::Lifetime => NaiveDate::MIN,
        }
    }

    /// The local date after the last day a level reached on `d` is kept
    /// with `keep` more windows (`None`: for ever or past the calendar).
    fn end_date(&self, enrolled: NaiveDate, d: NaiveDate, keep: u32) -> Option<NaiveDate> {
        match self.spec.window {
            TierWindow::CalendarYear => NaiveDate::from_ymd_opt(d.year().checked_add(1 + keep as i32)?, 1, 1),
            TierWindow::AnniversaryYear => {
                Tiers::anniversary(enrolled, Tiers::membership_year(enrolled, d) + 1 + i64::from(keep))
            }
            TierWindow::RollingMonths(n) => add_months(d, u64::from(n) * u64::from(keep.max(1)))?.succ_opt(),
            TierWindow::Lifetime => None,
        }
    }

    /// The instant the window of day `d` ends (`None`: rolling and lifetime windows have no end).
    pub(crate) fn window_end(&self, zone: Tz, enrolled: NaiveDate, d: NaiveDate) -> Option<DateTime<Utc>> {
        match self.spec.window {
            TierWindow::CalendarYear | TierWindow::AnniversaryYear => start(zone, self.end_date(enrolled, d, 0)?),
            _ => None,
        }
    }

    /// Until when a level reached on `d` is kept.
    pub(crate) fn until(&self, zone: Tz, enrolled: NaiveDate, d: NaiveDate) -> Option<DateTime<Utc>> {
        start(zone, self.end_date(enrolled, d, self.spec.keep)?)
    }

    /// Until when a level stepped down to at `at` (local date `d`) is kept:
    /// one window from the start of the window `d` begins.
    pub(crate) fn step_until(&self, zone: Tz, enrolled: NaiveDate, d: NaiveDate) -> Option<DateTime<Utc>> {
        let end = match self.spec.window {
            TierWindow::RollingMonths(n) => add_months(d, u64::from(n)),
            _ => self.end_date(enrolled, d, 0),
        }?;
        start(zone, end)
    }

    /// The progress on day `d`: the records in its window, up to `d`.
    pub(crate) fn progress(&self, state: &TierState, enrolled: NaiveDate, d: NaiveDate) -> Decimal {
        let from = self.window_start(enrolled, d);
        let carried = if self.spec.window == TierWindow::Lifetime { state.carried.decimal() } else { Decimal::ZERO };
        let records = state.days.iter().filter(|r| r.date >= from && r.date <= d).map(|r| r.value.decimal());
        sum_exact(carried, records.clone()).unwrap_or_else(|| records.fold(carried, Decimal::saturating_add))
    }

    /// The highest level a progress reaches (0: the base level).
    fn reached(&self, progress: Decimal) -> usize {
        self.levels.iter().rposition(|l| l.min.is_some_and(|m| progress >= m)).unwrap_or(0)
    }

    /// Works out again the level and end of every record from day `from`
    /// on; `known` is the progress of day `from`, when the caller has it.
    pub(crate) fn rework(
        &self,
        state: &mut TierState,
        zone: Tz,
        enrolled: NaiveDate,
        from: NaiveDate,
        known: Option<Decimal>,
    ) {
        let first = state.days.partition_point(|d| d.date < from);
        for i in first..state.days.len() {
            let d = state.days[i].date;
            let reached = match known {
                _ if !self.by_measure => 0,
                Some(p) if d == from => self.reached(p),
                _ => self.reached(self.progress(state, enrolled, d)),
            };
            let level = reached.max(self.rank(state.days[i].scripted.as_ref()));
            let day = &mut state.days[i];
            if level == 0 {
                (day.level, day.until) = (None, None);
            } else if day.level.as_ref().is_none_or(|l| *l != self.levels[level].id) {
                // The end depends on the day only: worked out when the level is new.
                let had_end = day.level.is_some();
                day.level = Some(self.levels[level].id.clone());
                if !had_end {
                    day.until = self.until(zone, enrolled, d);
                }
            }
        }
    }

    /// The level kept at `at` (local date `date`).
    pub(crate) fn level_at(&self, state: &TierState, at: DateTime<Utc>, date: NaiveDate) -> usize {
        let mut best = 0;
        for r in &state.days {
            // Most records keep no level: that test first.
            if r.level.is_some() && r.date <= date && r.until.is_none_or(|u| u > at) {
                best = best.max(self.rank(r.level.as_ref()));
            }
        }
        for h in &state.holds {
            if h.since <= at && h.until.is_none_or(|u| u > at) {
                best = best.max(self.rank(Some(&h.level)));
            }
        }
        best
    }

    /// The level kept at `at`, an instant at or after the member's clock:
    /// every record is of its day or earlier, so no local date is needed.
    pub(crate) fn level_after(&self, state: &TierState, at: DateTime<Utc>) -> usize {
        self.level_at(state, at, NaiveDate::MAX)
    }

    /// The first instant after `after` (and at most `to`) at which a kept level ends.
    pub(crate) fn next_end(&self, state: &TierState, after: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let days = state.days.iter().filter(|r| r.level.is_some()).filter_map(|r| r.until);
        let holds = state.holds.iter().filter_map(|h| h.until);
        days.chain(holds).filter(|u| *u > after && *u <= to).min()
    }

    /// The state's kept levels with their ranks looked up once, for
    /// instants at or after the member's clock.
    pub(crate) fn spans(&self, state: &TierState) -> Spans {
        let days = state
            .days
            .iter()
            .filter(|r| r.level.is_some())
            .map(|r| (DateTime::<Utc>::MIN_UTC, r.until, self.rank(r.level.as_ref())));
        let holds = state.holds.iter().map(|h| (h.since, h.until, self.rank(Some(&h.level))));
        Spans(days.chain(holds).collect())
    }

    /// When the member falls below `level` after `at`, if nothing more happens.
    pub(crate) fn level_until(&self, state: &TierState, level: usize, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if level == 0 {
            return None;
        }
        self.spans(state).first_end(at, |l| l < level).flatten()
    }

    /// The spans of [`Tiers::spans`] reduced to a [`Latest`] for `at`, when
    /// every one has started by then (day records always have; holds
    /// almost always): `None` otherwise.
    pub(crate) fn latest(&self, state: &TierState, at: DateTime<Utc>) -> Option<Latest> {
        if state.holds.iter().any(|h| h.since > at) {
            return None;
        }
        let days = state.days.iter().filter(|r| r.level.is_some()).map(|r| (r.until, self.rank(r.level.as_ref())));
        let holds = state.holds.iter().map(|h| (h.until, self.rank(Some(&h.level))));
        Some(Latest::of(days.chain(holds), self.levels.len(), at))
    }

    /// For a ladder whose levels keep points from rank `from` up
    /// ([`Tiers::keeps_from`]): when the member stops being at such a level,
    /// after `at` (`Some(None)`: never; `None`: it is not at one at `at`).
    /// It is the latest end of the spans at those ranks, found in one pass:
    /// the level stays at `from` or above while one of them lasts, and falls
    /// below when the last ends. `Err(())` when a hold starts after `at`
    /// (the caller then takes the general way).
    pub(crate) fn kept_until(
        &self,
        state: &TierState,
        at: DateTime<Utc>,
        from: usize,
    ) -> Result<Option<Option<DateTime<Utc>>>, ()> {
        // None: no span at those ranks yet; Some(None): one lasts for ever.
        let mut end: Option<Option<DateTime<Utc>>> = None;
        for r in &state.days {
            if let Some(level) = &r.level {
                if self.rank(Some(level)) >= from {
                    end = Some(later_end(end, r.until));
                }
            }
        }
        for h in &state.holds {
            if h.since > at {
                return Err(());
            }
            if self.rank(Some(&h.level)) >= from {
                end = Some(later_end(end, h.until));
            }
        }
        Ok(match end {
            Some(None) => Some(None),
            Some(Some(e)) if e > at => Some(Some(e)),
            _ => None,
        })
    }

    /// Whether points keep at level `level`.
    pub(crate) fn never_expire(&self, level: usize) -> bool {
        self.levels.get(level).is_some_and(|l| l.never_expire)
    }

    /// The id of a level index.
    pub(crate) fn id(&self, level: usize) -> &Id {
        &self.levels[level].id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Spans as records (from any instant) and holds (from their instant),
    /// on a small grid of instants so that starts, ends and `at` often meet.
    fn spans() -> impl Strategy<Value = Vec<Span>> {
        let instant = |n: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(n);
        let span = (prop::option::of(0_i64..12), prop::option::of(0_i64..12), 0_usize..4)
            .prop_map(move |(s, u, r)| (s.map_or(DateTime::<Utc>::MIN_UTC, instant), u.map(instant), r));
        prop::collection::vec(span, 0..40)
    }

    /// Decimals of any scale (0 to 28), small or near the 96-bit limit.
    fn decimal() -> impl Strategy<Value = Decimal> {
        let small = (-1_000_000_000_i64..1_000_000_000, 0_u32..6).prop_map(|(m, s)| Decimal::new(m, s));
        let any = (any::<i128>(), 0_u32..=28).prop_map(|(m, s)| Decimal::from_i128_with_scale(m % (1_i128 << 96), s));
        prop_oneof![4 => small, 1 => any]
    }

    #[test]
    fn a_partial_sum_past_96_bits_is_left_to_decimals() {
        // Decimal addition rounds 2^96 − 1 + 1 to fewer places; the whole
        // numbers would not, so they give way.
        let top = Decimal::from_i128_with_scale((1 << 96) - 1, 28);
        let tiny = Decimal::from_i128_with_scale(1, 28);
        assert_eq!(sum_exact(top, [tiny, -tiny].into_iter()), None);
        assert_eq!(
            sum_exact(Decimal::ONE, [Decimal::new(25, 1), Decimal::new(-5, 2)].into_iter()),
            Some(Decimal::new(345, 2))
        );
    }

    proptest! {
        /// The whole-number sum is the decimal sum whenever it answers, and
        /// answers for everyday values.
        #[test]
        fn exact_sums_are_decimal_sums(start in decimal(), values in prop::collection::vec(decimal(), 0..20)) {
            let want = values.iter().fold(start, |a, v| a.saturating_add(*v));
            match sum_exact(start, values.iter().copied()) {
                Some(sum) => {
                    prop_assert_eq!(sum, want);
                    prop_assert_eq!(sum.scale(), want.scale());
                }
                None => {
                    let everyday = |d: &Decimal| d.scale() < 6 && d.abs() < Decimal::from(1_000_000_000);
                    prop_assert!(!(everyday(&start) && values.iter().all(everyday)));
                }
            }
        }

        /// The sweep visits the same ends as the search one end at a
        /// time and stops at the same one, whatever stops it.
        #[test]
        fn first_end_is_the_search(spans in spans(), at in 0_i64..12, stops in prop::collection::vec(any::<bool>(), 4)) {
            let spans = Spans(spans.into_iter().collect());
            let at = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(at);
            let stop = |l: usize| stops[l];
            let want = spans.first_end_by_search(at, stop);
            prop_assert_eq!(spans.first_end_by_sweep(at, stop), want);
            prop_assert_eq!(spans.first_end(at, stop), want);
        }

        /// Spans that all started by `at` (as a member's day records have)
        /// take the shortcut, with the same answer.
        #[test]
        fn started_spans_end_as_the_search(spans in spans(), at in 0_i64..12, stops in prop::collection::vec(any::<bool>(), 4)) {
            let at = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(at);
            let spans = Spans(spans.into_iter().map(|(s, u, r)| (s.min(at), u, r)).collect());
            let stop = |l: usize| stops[l];
            prop_assert_eq!(spans.first_end_started(at, stop), spans.first_end_by_search(at, stop));
            prop_assert_eq!(spans.first_end(at, stop), spans.first_end_by_search(at, stop));
        }

        /// The latest end per rank answers as the spans do, for spans that
        /// all started by `at`.
        #[test]
        fn latest_ends_answer_as_the_spans(spans in spans(), at in 0_i64..12, stops in prop::collection::vec(any::<bool>(), 4)) {
            let at = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(at);
            let spans = Spans(spans.into_iter().map(|(s, u, r)| (s.min(at), u, r)).collect());
            let latest = Latest::of(spans.0.iter().map(|&(_, u, r)| (u, r)), 2, at);
            let stop = |l: usize| stops[l];
            prop_assert_eq!(latest.level(at), spans.level(at));
            prop_assert_eq!(latest.first_end(stop), spans.first_end_by_search(at, stop));
        }
    }
}
