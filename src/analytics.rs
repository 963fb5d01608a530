//! Program analytics: customer, points and revenue metrics over an event log,
//! for any period.
//!
//! Everything here is a pure function of what it is given: no I/O, no clock,
//! no floats, no hash-map order. Build an [`Analytics`] by recording each
//! applied event with its receipt (and each refused event), in delivery
//! order, then ask for a [`Report`] over an [`Interval`], for [`Rfm`] scores
//! at an instant, or for the IFRS 15 [`DeferredRevenue`] schedule.
//!
//! ```
//! use loyalty::analytics::{Analytics, Config, Interval};
//! use loyalty::{Event, Program};
//!
//! let program = Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"],
//!   "earn":[{"id":"base","kind":"per_amount","points":1,"per":"1"}]}"#)?;
//! let mut member = program.enroll("m-1", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default())?;
//! let mut analytics = Analytics::new();
//! let sale = Event::from_json_str(r#"{"id":"s1","at":"2026-01-05T10:00:00Z","type":"purchase",
//!   "lines":[{"sku":"a","category":"x","quantity":"2","unit_price":"10"}]}"#)?;
//! let applied = program.apply(&mut member, &sale)?;
//! analytics.record(&sale, &applied.receipt);
//!
//! let january = Interval::new("2026-01-01T00:00:00Z".parse().unwrap(), "2026-02-01T00:00:00Z".parse().unwrap());
//! let report = analytics.report(&program, &january, &Config::default());
//! assert_eq!((report.orders, report.net_sales), (1, "20".parse().unwrap()));
//! assert_eq!(report.points.earned, 20);
//! assert_eq!(report.liability, "20.00".parse().unwrap()); // 20 points × 1 EUR
//! # Ok::<(), loyalty::Error>(())
//! ```
//!
//! # What is counted
//!
//! * Only applied events count; a receipt recorded twice (a retried event,
//!   `Applied::duplicate`) counts once: the second one with the same member
//!   and event id is ignored. Refused events are only counted
//!   ([`Report::refused`]).
//! * **Money** is taken from the events: an order's value is the sum of its
//!   lines' `unit_price × quantity − discount` (every line, whatever the
//!   earning base excludes); a return's money is worked out as the engine
//!   does it, `line amount × returned / quantity` cumulatively per line,
//!   kept to 12 decimal places (a return of a purchase the log does not
//!   hold counts no money). Points paying for an order do not lower its
//!   value. Money is attributed to the instant of its event: sales and
//!   returns in a period are those *dated* in it (so a return in March of a
//!   January order lowers March's net sales).
//! * **Points** are taken from the receipts' entries, each at its own
//!   instant (`Entry::at`: an expiry is dated at the lot's expiry instant).
//! * A **customer** is a member with at least one purchase; members who
//!   never bought are not in the customer metrics.
//!
//! # Rounding
//!
//! Ratios (rates, frequency, days, NPS) are computed exactly and rounded
//! once, at the end, to [`Config::scale`] decimal places (default 4),
//! half away from zero (`RoundingStrategy::MidpointAwayFromZero`). Money
//! results (AOV, CLV, liability, revenue) are rounded the same way to
//! [`Config::money_scale`] places (default 2). Rounded results carry
//! exactly that many places (`58.00`, `0.5000`). Sums of money (gross, returns,
//! net sales) are exact. A ratio whose denominator is zero is `None`.
//!
//! # Formulas
//!
//! With a period `[from, until)` and the activity window `w`
//! ([`Config::activity_window_days`], default 90 days), a customer is
//! *active at* an instant `t` when they made a purchase in `[t − w, t)`.
//!
//! * **Customer retention rate** (the usual CRR definition, as in marketing
//!   textbooks: customers at the end minus customers acquired, over
//!   customers at the start): `(E − N) / S`, where `S` = customers active at
//!   `from`, `E` = customers active at `until`, and `N` = customers active at
//!   `until` who were not active at `from` — the new ones (first purchase in
//!   the period) and those won back. So `E − N` is exactly the customers
//!   active at both ends. [`Customers`] gives every count.
//! * **Churn rate**: `1 − retention`.
//! * **Repeat purchase rate**: customers with ≥ 2 purchases in the period /
//!   customers with ≥ 1.
//! * **Average order value** (net of returns): `(gross sales − returns) /
//!   orders`, all dated in the period; `orders` counts every purchase dated
//!   in the period, returned or not.
//! * **Purchase frequency**: orders / customers who purchased in the period.
//! * **Average customer lifetime**: the mean, over customers with a purchase
//!   before `until`, of the days from their first to their last purchase
//!   (exact: seconds / 86 400; one purchase counts 0 days). The other
//!   classic estimate, `1 / churn`, is given in periods
//!   ([`Report::expected_lifetime_periods`]).
//! * **Historical CLV**: net revenue of all purchases and returns before
//!   `until` / customers with a purchase before `until`.
//! * **Projected CLV** (the simple "AOV × frequency × lifetime × margin"
//!   model): `AOV × frequency per year × expected lifetime in years ×
//!   margin`, with `frequency per year = purchase frequency × 365 days /
//!   period length`, the lifetime [`Config::expected_lifetime_years`] or, if
//!   not set, `1 / churn` periods converted to years (`× period length / 365
//!   days`), and [`Config::margin`] (default 1: a revenue CLV).
//! * **NPS** (Reichheld's Net Promoter Score): from `activity` events named
//!   [`Config::survey`] dated in the period, each member's latest answer,
//!   the score being the activity's `value` minus [`Config::survey_offset`];
//!   9–10 promoters, 7–8 passives, 0–6 detractors, others ignored
//!   ([`Nps::invalid`]). `NPS = 100 × (promoters − detractors) / answers`,
//!   from −100 to 100. The engine takes activity values from 1, so a survey
//!   that needs a 0 sends `score + 1` with an offset of 1.
//! * **Points**: the entries dated in the period, by kind ([`PointsFlow`]).
//!   `redeemed = burned − refunded` (points given back when what they paid
//!   for came back are not a redemption). **Breakage rate**, the usual
//!   definition: `(expired + forfeited) / (expired + forfeited + redeemed)`:
//!   the share of points that left the members' balances unused. The variant
//!   over issuance: `(expired + forfeited) / (earned + credited)`. Earn per
//!   rule comes from the receipts' explanations (and from the rule of an
//!   `earn` entry for bonuses); burn per rule from the `burn` entries' rules
//!   (a burn rule or a reward).
//! * **Outstanding points** at `until`: each member's posted balance (the
//!   sum of their earn, burn, expire, reverse, refund, adjust, forfeit and
//!   transfer entries before `until`, plus an [`Analytics::opening`]
//!   balance), summed over members whose balance is positive; negative
//!   balances are summed apart as [`Report::debt`]. **Liability** =
//!   outstanding points × `points.value` / 10^`points.scale`.
//!
//! [`Rfm`] and [`DeferredRevenue`] document their own rules. Results
//! serialize (serde) with decimals as strings, like the crate's amounts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Serialize, Serializer};

use crate::event::{Event, EventKind, Line};
use crate::member::Member;
use crate::number::Points;
use crate::program::Program;
use crate::receipt::{EntryKind, Receipt};

/// The key under which points no rule claims are counted in
/// [`Report::by_rule`] (none, for receipts the engine makes).
///
/// ```
/// assert_eq!(loyalty::analytics::UNATTRIBUTED, "(unattributed)");
/// ```
pub const UNATTRIBUTED: &str = "(unattributed)";

const SECONDS_PER_DAY: i64 = 86_400;
const DAYS_PER_YEAR: i64 = 365;

/// A half-open span of time `[from, until)` in UTC: an instant `t` is in it
/// when `from ≤ t < until`.
///
/// ```
/// use loyalty::analytics::Interval;
/// let q1 = Interval::new("2026-01-01T00:00:00Z".parse().unwrap(), "2026-04-01T00:00:00Z".parse().unwrap());
/// assert!(q1.contains("2026-03-31T23:59:59Z".parse().unwrap()));
/// assert!(!q1.contains(q1.until));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Interval {
    /// The first instant in the interval.
    pub from: DateTime<Utc>,
    /// The first instant after it.
    pub until: DateTime<Utc>,
}

impl Interval {
    /// The interval `[from, until)`.
    ///
    /// ```
    /// let at: chrono::DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    /// let i = loyalty::analytics::Interval::new(at, at);
    /// assert!(!i.contains(at)); // empty
    /// ```
    pub fn new(from: DateTime<Utc>, until: DateTime<Utc>) -> Interval {
        Interval { from, until }
    }

    /// Whether `from ≤ at < until`.
    ///
    /// ```
    /// let i = loyalty::analytics::Interval::new("2026-01-01T00:00:00Z".parse().unwrap(), "2026-01-02T00:00:00Z".parse().unwrap());
    /// assert!(i.contains(i.from));
    /// ```
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.until
    }

    /// All of time: from the earliest instant chrono represents to the latest.
    ///
    /// ```
    /// let all = loyalty::analytics::Interval::all();
    /// assert!(all.contains("2026-01-01T00:00:00Z".parse().unwrap()));
    /// ```
    pub fn all() -> Interval {
        Interval { from: DateTime::<Utc>::MIN_UTC, until: DateTime::<Utc>::MAX_UTC }
    }

    /// The length of the interval in seconds (0 when `until ≤ from`).
    fn seconds(&self) -> i64 {
        (self.until - self.from).num_seconds().max(0)
    }
}

/// The choices behind the metrics; every field has a documented default.
///
/// ```
/// use loyalty::analytics::Config;
/// let config = Config { activity_window_days: 30, survey: "nps".into(), ..Config::default() };
/// assert_eq!((config.activity_window_days, config.scale), (30, 4));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// A customer is active at `t` with a purchase in the last this many days
    /// before `t` (retention, the `active` segment). Default 90.
    pub activity_window_days: u32,
    /// A customer whose first purchase is this recent is in the `new`
    /// segment. Default 30.
    pub new_within_days: u32,
    /// No purchase for the activity window: `at_risk`; for this many days:
    /// `sleeping`. Default 180.
    pub sleeping_after_days: u32,
    /// No purchase for this many days: `lapsed`. Default 365.
    pub lapsed_after_days: u32,
    /// The `top` flag: customers in this top percentage by monetary value
    /// (0 to 100). Default 10.
    pub top_percent: Decimal,
    /// The activity name of survey answers, for NPS. Default `"survey"`.
    pub survey: String,
    /// Subtracted from an answer's activity value to give its 0–10 score.
    /// Default 0.
    pub survey_offset: i64,
    /// Gross margin applied by the projected CLV (0 to 1). Default 1.
    pub margin: Decimal,
    /// Expected customer lifetime in years for the projected CLV; `None`
    /// (the default) derives it from the churn rate.
    pub expected_lifetime_years: Option<Decimal>,
    /// Decimal places of ratios. Default 4.
    pub scale: u32,
    /// Decimal places of money results. Default 2.
    pub money_scale: u32,
}

impl Default for Config {
    /// The documented defaults.
    ///
    /// ```
    /// let c = loyalty::analytics::Config::default();
    /// assert_eq!((c.activity_window_days, c.new_within_days, c.sleeping_after_days, c.lapsed_after_days), (90, 30, 180, 365));
    /// ```
    fn default() -> Config {
        Config {
            activity_window_days: 90,
            new_within_days: 30,
            sleeping_after_days: 180,
            lapsed_after_days: 365,
            top_percent: Decimal::from(10),
            survey: "survey".into(),
            survey_offset: 0,
            margin: Decimal::ONE,
            expected_lifetime_years: None,
            scale: 4,
            money_scale: 2,
        }
    }
}

/// One purchase as the metrics need it.
#[derive(Debug, Clone)]
struct Sale {
    id: String,
    at: DateTime<Utc>,
    amount: Decimal,
    /// (quantity, amount, quantity returned so far) per line.
    lines: Vec<(Decimal, Decimal, Decimal)>,
    /// Money returned so far (12 places, as the engine keeps it).
    returned: Decimal,
    /// The points the purchase itself earned (its earn entries without a rule).
    points: Points,
}

/// One return.
#[derive(Debug, Clone)]
struct Refund {
    at: DateTime<Utc>,
    /// The sale, an index into the member's sales.
    sale: usize,
    amount: Decimal,
    /// Points the return took back.
    reversed: Points,
}

/// One ledger movement.
#[derive(Debug, Clone)]
struct Flow {
    at: DateTime<Utc>,
    kind: EntryKind,
    points: Points,
    rule: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Log {
    enrolled_at: Option<DateTime<Utc>>,
    seen: BTreeSet<String>,
    sales: Vec<Sale>,
    refunds: Vec<Refund>,
    flows: Vec<Flow>,
    /// Points earned per rule: (at, rule, points).
    earned: Vec<(DateTime<Utc>, String, Points)>,
    /// Activities: (at, name, value).
    activities: Vec<(DateTime<Utc>, String, i64)>,
    refused: Vec<DateTime<Utc>>,
    /// A balance the log starts from: (the state's clock, posted points).
    opening: Option<(DateTime<Utc>, Points)>,
}

/// The facts of an event log that the metrics need, per member, built one
/// event at a time. Recording copies a few numbers per event (not the
/// receipts), so a host or the `loyalty` command can keep one beside its
/// event loop.
///
/// ```
/// use loyalty::analytics::Analytics;
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// # let mut member = program.enroll("m-1", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
/// let mut analytics = Analytics::new();
/// let event = loyalty::Event::from_json_str(r#"{"id":"a","at":"2026-01-02T00:00:00Z","type":"advance"}"#).unwrap();
/// match program.apply(&mut member, &event) {
///     Ok(applied) => analytics.record(&event, &applied.receipt),
///     Err(_) => analytics.refused(member.id(), &event),
/// }
/// assert_eq!(analytics.members().count(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Analytics {
    members: BTreeMap<String, Log>,
}

impl Analytics {
    /// An empty log.
    ///
    /// ```
    /// assert_eq!(loyalty::analytics::Analytics::new().members().count(), 0);
    /// ```
    pub fn new() -> Analytics {
        Analytics::default()
    }

    /// The ids of the members seen, in order.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let member = program.enroll("m-9", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let mut analytics = loyalty::analytics::Analytics::new();
    /// analytics.opening(&member);
    /// assert_eq!(analytics.members().collect::<Vec<_>>(), ["m-9"]);
    /// ```
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    /// Records an applied event and its receipt (the member is the
    /// receipt's). A second receipt of the same member and event id (a
    /// duplicate delivery) is ignored.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"],
    /// #   "earn":[{"id":"base","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
    /// # let mut m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// # use loyalty::analytics::{Analytics, Config, Interval};
    /// let sale = loyalty::Event::from_json_str(r#"{"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase",
    ///   "lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"5"}]}"#).unwrap();
    /// let mut analytics = Analytics::new();
    /// let first = program.apply(&mut m, &sale).unwrap();
    /// let retry = program.apply(&mut m, &sale).unwrap();
    /// analytics.record(&sale, &first.receipt);
    /// analytics.record(&sale, &retry.receipt); // ignored
    /// let all = Interval::all();
    /// assert_eq!(analytics.report(&program, &all, &Config::default()).orders, 1);
    /// ```
    pub fn record(&mut self, event: &Event, receipt: &Receipt) {
        let log = self.members.entry(receipt.member.to_string()).or_default();
        if !log.seen.insert(event.id.clone()) {
            return;
        }
        for entry in &receipt.entries {
            log.flows.push(Flow { at: entry.at, kind: entry.kind, points: entry.points, rule: entry.rule.clone() });
        }
        // Earn per rule: an earn entry with a rule (a bonus) names it; the
        // rest of the receipt's explanations name the rules of a purchase.
        let tagged: BTreeSet<&str> =
            receipt.entries.iter().filter(|e| e.kind == EntryKind::Earn).filter_map(|e| e.rule.as_deref()).collect();
        let mut untagged: Points = 0;
        for entry in receipt.entries.iter().filter(|e| e.kind == EntryKind::Earn) {
            match &entry.rule {
                Some(rule) => log.earned.push((entry.at, rule.clone(), entry.points)),
                None => untagged = untagged.saturating_add(entry.points),
            }
        }
        let mut explained: Points = 0;
        for line in receipt.explanations.iter().filter(|x| x.points != 0 && !tagged.contains(x.rule.as_str())) {
            log.earned.push((receipt.at, line.rule.to_string(), line.points));
            explained = explained.saturating_add(line.points);
        }
        if untagged != explained {
            log.earned.push((receipt.at, UNATTRIBUTED.to_owned(), untagged.saturating_sub(explained)));
        }
        match &event.kind {
            EventKind::Enroll(_) => log.enrolled_at = Some(event.at),
            EventKind::Purchase(p) => log.sales.push(sale(event, &p.lines, untagged)),
            EventKind::Return(r) => {
                if let Some(index) = log.sales.iter().position(|s| s.id == r.purchase) {
                    let reversed = receipt.total(EntryKind::Reverse).saturating_neg();
                    let amount = give_back(&mut log.sales[index], r);
                    log.refunds.push(Refund { at: event.at, sale: index, amount, reversed });
                }
            }
            EventKind::Activity(a) => log.activities.push((event.at, a.name.clone(), a.value)),
            _ => {}
        }
    }

    /// Records an event the engine refused: it counts in
    /// [`Report::refused`] and nothing else.
    ///
    /// ```
    /// # use loyalty::analytics::{Analytics, Config, Interval};
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let bad = loyalty::Event::from_json_str(r#"{"id":"r","at":"2026-01-02T00:00:00Z","type":"redeem","points":5}"#).unwrap();
    /// let mut analytics = Analytics::new();
    /// analytics.refused("m-1", &bad);
    /// let all = Interval::all();
    /// assert_eq!(analytics.report(&program, &all, &Config::default()).refused, 1);
    /// ```
    pub fn refused(&mut self, member: &str, event: &Event) {
        self.members.entry(member.to_owned()).or_default().refused.push(event.at);
    }

    /// Records the state a member's log starts from (a member whose earlier
    /// events are not recorded): its posted balance counts as outstanding
    /// from the state's clock on, and its enrolment instant is kept.
    ///
    /// ```
    /// # use loyalty::analytics::{Analytics, Config, Interval};
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let member = program.enroll("m-1", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let mut analytics = Analytics::new();
    /// analytics.opening(&member);
    /// let all = Interval::all();
    /// assert_eq!(analytics.report(&program, &all, &Config::default()).outstanding, 0);
    /// ```
    pub fn opening(&mut self, member: &Member) {
        let log = self.members.entry(member.id().to_owned()).or_default();
        log.enrolled_at = Some(member.enrolled_at());
        log.opening = Some((member.clock(), member.balances().posted));
    }

    /// Every metric of the module docs over `period`.
    ///
    /// ```
    /// # use loyalty::analytics::{Analytics, Config, Interval};
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let analytics = Analytics::new();
    /// let year = Interval::new("2026-01-01T00:00:00Z".parse().unwrap(), "2027-01-01T00:00:00Z".parse().unwrap());
    /// let report = analytics.report(&program, &year, &Config::default());
    /// assert_eq!((report.orders, report.retention_rate, report.average_order_value), (0, None, None));
    /// ```
    pub fn report(&self, program: &Program, period: &Interval, config: &Config) -> Report {
        let (from, until) = (period.from, period.until);
        let window = Duration::days(i64::from(config.activity_window_days));
        let active_at = |log: &Log, t: DateTime<Utc>| log.sales.iter().any(|s| s.at < t && s.at >= minus(t, window));

        let mut customers = Customers::default();
        let (mut orders, mut purchasers, mut repeat) = (0_u64, 0_u64, 0_u64);
        let (mut gross, mut returns) = (Decimal::ZERO, Decimal::ZERO);
        let (mut lifetime_days, mut lifetime_n) = (Decimal::ZERO, 0_u64);
        let mut net_to_date = Decimal::ZERO;
        let mut nps = Nps::default();
        let mut points = PointsFlow::default();
        let mut by_rule: BTreeMap<String, RuleFlow> = BTreeMap::new();
        let (mut outstanding, mut debt) = (0_i64, 0_i64);
        let mut refused = 0_u64;

        for log in self.members.values() {
            // Customers at both ends of the period.
            let (start, end) = (active_at(log, from), active_at(log, until));
            let first = log.sales.iter().map(|s| s.at).min();
            customers.active_at_start += u64::from(start);
            customers.active_at_end += u64::from(end);
            if start && end {
                customers.retained += 1;
            }
            if end && !start {
                customers.acquired += 1;
                if first.is_some_and(|f| f >= from) {
                    customers.new += 1;
                } else {
                    customers.won_back += 1;
                }
            }
            // Orders and money in the period.
            let n = log.sales.iter().filter(|s| period.contains(s.at)).count() as u64;
            orders += n;
            purchasers += u64::from(n >= 1);
            repeat += u64::from(n >= 2);
            gross += log.sales.iter().filter(|s| period.contains(s.at)).map(|s| s.amount).sum::<Decimal>();
            returns += log.refunds.iter().filter(|r| period.contains(r.at)).map(|r| r.amount).sum::<Decimal>();
            // Lifetime and historical value, to date.
            let before: Vec<DateTime<Utc>> = log.sales.iter().filter(|s| s.at < until).map(|s| s.at).collect();
            if let (Some(a), Some(b)) = (before.iter().min(), before.iter().max()) {
                lifetime_days += Decimal::from((*b - *a).num_seconds()) / Decimal::from(SECONDS_PER_DAY);
                lifetime_n += 1;
                net_to_date += log.sales.iter().filter(|s| s.at < until).map(|s| s.amount).sum::<Decimal>();
                net_to_date -= log.refunds.iter().filter(|r| r.at < until).map(|r| r.amount).sum::<Decimal>();
            }
            // Survey answers: each member's latest in the period.
            let answer = log
                .activities
                .iter()
                .filter(|(at, name, _)| period.contains(*at) && *name == config.survey)
                .max_by_key(|(at, _, _)| *at);
            if let Some((_, _, value)) = answer {
                match value.saturating_sub(config.survey_offset) {
                    9..=10 => nps.promoters += 1,
                    7..=8 => nps.passives += 1,
                    0..=6 => nps.detractors += 1,
                    _ => nps.invalid += 1,
                }
            }
            // Points.
            let mut posted: Points = log.opening.filter(|(at, _)| *at < until).map_or(0, |(_, p)| p);
            for f in &log.flows {
                if f.at < until && moves_posted(f.kind) {
                    posted = posted.saturating_add(f.points);
                }
                if !period.contains(f.at) {
                    continue;
                }
                let p = f.points;
                let rule = || f.rule.clone().unwrap_or_else(|| UNATTRIBUTED.to_owned());
                match f.kind {
                    EntryKind::Earn => points.earned = points.earned.saturating_add(p),
                    EntryKind::Adjust if p > 0 => points.credited = points.credited.saturating_add(p),
                    EntryKind::Adjust => points.debited = points.debited.saturating_sub(p),
                    EntryKind::Burn => {
                        points.burned = points.burned.saturating_sub(p);
                        let r = by_rule.entry(rule()).or_default();
                        r.burned = r.burned.saturating_sub(p);
                    }
                    EntryKind::Refund => points.refunded = points.refunded.saturating_add(p),
                    EntryKind::Reverse => points.reversed = points.reversed.saturating_sub(p),
                    EntryKind::Expire => points.expired = points.expired.saturating_sub(p),
                    EntryKind::Forfeit => points.forfeited = points.forfeited.saturating_sub(p),
                    EntryKind::TransferIn => points.transferred_in = points.transferred_in.saturating_add(p),
                    EntryKind::TransferOut => points.transferred_out = points.transferred_out.saturating_sub(p),
                    _ => {}
                }
            }
            for (at, rule, p) in &log.earned {
                if period.contains(*at) {
                    let r = by_rule.entry(rule.clone()).or_default();
                    r.earned = r.earned.saturating_add(*p);
                }
            }
            if posted > 0 {
                outstanding = outstanding.saturating_add(posted);
            } else {
                debt = debt.saturating_sub(posted);
            }
            refused += log.refused.iter().filter(|at| period.contains(**at)).count() as u64;
        }
        points.redeemed = points.burned.saturating_sub(points.refunded);

        let exact = |n: Decimal, d: Decimal| if d.is_zero() { None } else { n.checked_div(d) };
        let round = fixed;
        let ratio = |v: Option<Decimal>| v.map(|v| round(v, config.scale));
        let money = |v: Option<Decimal>| v.map(|v| round(v, config.money_scale));
        let count = |n: u64| Decimal::from(n);

        let s = count(customers.active_at_start);
        let retention = exact(count(customers.active_at_end) - count(customers.acquired), s);
        let churn = retention.map(|r| Decimal::ONE - r);
        let net = gross - returns;
        let aov = exact(net, count(orders));
        let frequency = exact(count(orders), count(purchasers));
        let expected_periods = churn.and_then(|c| exact(Decimal::ONE, c));
        let seconds = Decimal::from(period.seconds());
        let year = Decimal::from(DAYS_PER_YEAR * SECONDS_PER_DAY);
        let per_year = frequency.and_then(|f| exact(f * year, seconds));
        let lifetime_years = match config.expected_lifetime_years {
            Some(y) => Some(y),
            None => expected_periods.and_then(|p| exact(p * seconds, year)),
        };
        let projected = match (aov, per_year, lifetime_years) {
            (Some(a), Some(f), Some(y)) => {
                a.checked_mul(f).and_then(|v| v.checked_mul(y)).and_then(|v| v.checked_mul(config.margin))
            }
            _ => None,
        };
        let broken = Decimal::from(points.expired) + Decimal::from(points.forfeited);
        nps.answers = nps.promoters + nps.passives + nps.detractors;
        nps.score =
            ratio(exact(Decimal::from(100) * (count(nps.promoters) - count(nps.detractors)), count(nps.answers)));

        let rfm = self.rfm(until, config);
        let mut segments: BTreeMap<Segment, u64> = BTreeMap::new();
        for r in &rfm {
            *segments.entry(r.segment).or_default() += 1;
        }

        Report {
            period: *period,
            customers,
            retention_rate: ratio(retention),
            churn_rate: ratio(churn),
            orders,
            purchasers,
            repeat_purchasers: repeat,
            repeat_purchase_rate: ratio(exact(count(repeat), count(purchasers))),
            gross_sales: gross,
            returns,
            net_sales: net,
            average_order_value: money(aov),
            purchase_frequency: ratio(frequency),
            average_lifetime_days: ratio(exact(lifetime_days, count(lifetime_n))),
            expected_lifetime_periods: ratio(expected_periods),
            historical_clv: money(exact(net_to_date, count(lifetime_n))),
            projected_clv: money(projected),
            nps,
            segments,
            top: rfm.iter().filter(|r| r.top).count() as u64,
            breakage_rate: ratio(exact(broken, broken + Decimal::from(points.redeemed))),
            breakage_over_issued: ratio(exact(broken, Decimal::from(points.earned) + Decimal::from(points.credited))),
            points,
            by_rule,
            outstanding,
            debt,
            liability: round(point_value(program) * Decimal::from(outstanding), config.money_scale),
            refused,
        }
    }

    /// RFM scores and segments of every customer (a member with a purchase
    /// before `at`), at the instant `at`, in member id order.
    ///
    /// * **Recency** is the time since the last purchase before `at`
    ///   ([`Rfm::days_since`], whole days, rounded down); **frequency** the
    ///   number of purchases before `at`; **monetary** their value less the
    ///   money returned before `at`.
    /// * **Scores** are quintiles, 1 (worst) to 5 (best), of the customers
    ///   scored together: `score = 1 + floor(5 × w / n)`, where `n` is the
    ///   number of customers and `w` the number of customers strictly worse
    ///   on that measure (a longer time since the last purchase; fewer
    ///   purchases; less money). Tie rule: equal values get the same score,
    ///   the one of the lowest rank they share; so a score may be skipped.
    /// * **Segment** ([`Segment`]), from the instants of the first and last
    ///   purchases: `new` when the first is within
    ///   [`Config::new_within_days`]; else `active` when the last is within
    ///   [`Config::activity_window_days`]; `at_risk` within
    ///   [`Config::sleeping_after_days`]; `sleeping` within
    ///   [`Config::lapsed_after_days`]; else `lapsed` ("within `d` days" means
    ///   at or after `at − d days`).
    /// * **Top**: the customer's monetary value is positive and fewer than
    ///   `ceil(n × top_percent / 100)` customers have a strictly greater one
    ///   (ties at the boundary are all in).
    ///
    /// ```
    /// # use loyalty::analytics::{Analytics, Config, Segment};
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"]}"#).unwrap();
    /// # let mut m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let sale = loyalty::Event::from_json_str(r#"{"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase",
    ///   "lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"5"}]}"#).unwrap();
    /// let mut analytics = Analytics::new();
    /// analytics.record(&sale, &program.apply(&mut m, &sale).unwrap().receipt);
    /// let rfm = analytics.rfm("2026-03-01T00:00:00Z".parse().unwrap(), &Config::default());
    /// assert_eq!((rfm[0].days_since, rfm[0].recency, rfm[0].segment, rfm[0].top), (58, 1, Segment::Active, true));
    /// ```
    pub fn rfm(&self, at: DateTime<Utc>, config: &Config) -> Vec<Rfm> {
        let days = |d: u32| Duration::days(i64::from(d));
        let mut out: Vec<Rfm> = Vec::new();
        for (id, log) in &self.members {
            let sales: Vec<&Sale> = log.sales.iter().filter(|s| s.at < at).collect();
            let (Some(first), Some(last)) = (sales.iter().map(|s| s.at).min(), sales.iter().map(|s| s.at).max()) else {
                continue;
            };
            let monetary = sales.iter().map(|s| s.amount).sum::<Decimal>()
                - log.refunds.iter().filter(|r| r.at < at).map(|r| r.amount).sum::<Decimal>();
            let segment = if first >= minus(at, days(config.new_within_days)) {
                Segment::New
            } else if last >= minus(at, days(config.activity_window_days)) {
                Segment::Active
            } else if last >= minus(at, days(config.sleeping_after_days)) {
                Segment::AtRisk
            } else if last >= minus(at, days(config.lapsed_after_days)) {
                Segment::Sleeping
            } else {
                Segment::Lapsed
            };
            out.push(Rfm {
                member: id.clone(),
                last_purchase: last,
                days_since: (at - last).num_seconds().div_euclid(SECONDS_PER_DAY),
                orders: sales.len() as u64,
                monetary,
                recency: 0,
                frequency: 0,
                monetary_score: 0,
                segment,
                top: false,
            });
        }
        let n = out.len();
        // `w`, the customers strictly worse, is the position of the first
        // equal value in the sorted values: O(n log n).
        let score = |worse: usize| (1 + 5 * worse / n.max(1)) as u8;
        let mut lasts: Vec<DateTime<Utc>> = out.iter().map(|r| r.last_purchase).collect();
        let mut counts: Vec<u64> = out.iter().map(|r| r.orders).collect();
        let mut values: Vec<Decimal> = out.iter().map(|r| r.monetary).collect();
        lasts.sort_unstable();
        counts.sort_unstable();
        values.sort_unstable();
        let recency: Vec<u8> = out.iter().map(|r| score(lasts.partition_point(|v| *v < r.last_purchase))).collect();
        let frequency: Vec<u8> = out.iter().map(|r| score(counts.partition_point(|v| *v < r.orders))).collect();
        let monetary: Vec<u8> = out.iter().map(|r| score(values.partition_point(|v| *v < r.monetary))).collect();
        let k = (Decimal::from(n as u64) * config.top_percent / Decimal::from(100)).ceil();
        let top: Vec<bool> = out
            .iter()
            .map(|r| {
                let above = n - values.partition_point(|v| *v <= r.monetary);
                r.monetary > Decimal::ZERO && Decimal::from(above as u64) < k
            })
            .collect();
        for (i, r) in out.iter_mut().enumerate() {
            (r.recency, r.frequency, r.monetary_score, r.top) = (recency[i], frequency[i], monetary[i], top[i]);
        }
        out
    }

    /// The IFRS 15 view of points as deferred revenue (a "material right",
    /// IFRS 15.B39–B43 and Illustrative Example 52), for each of `periods`.
    ///
    /// * **Allocation**, at each purchase: the transaction price `P` (the
    ///   order's value) is split between the goods and the points it earned
    ///   by relative standalone selling price. The goods' SSP is taken as
    ///   `P` (the price paid); the points' SSP is `points × value of a point
    ///   × r`, with `r` the expected redemption rate in effect at the
    ///   purchase. The points' share, `P × SSP_points / (P + SSP_points)`
    ///   rounded to [`Config::money_scale`], is deferred and not re-allocated
    ///   later. A return removes the same fraction of the purchase's share as
    ///   of its money, and the points it reversed from the points issued.
    /// * **Recognition**, cumulative at an instant `t` with rate `r`:
    ///   `D_t × min(1, R_t / (I_t × r))`, rounded to the money scale, where
    ///   `D_t` is the deferred revenue allocated before `t`, `I_t` the points
    ///   issued by purchases before `t` (net of reversals) and `R_t` the
    ///   points redeemed before `t` (burns net of refunds) — the portfolio
    ///   version of "points redeemed / points expected to be redeemed".
    /// * **A change of estimate** is a catch-up: at the end of a period the
    ///   cumulative revenue is measured with the rate in effect then, and
    ///   the difference with what was recognised before is the period's
    ///   revenue. [`DeferredRevenue::catch_up`] is the part due to the new
    ///   rate: the revenue recognised by the start of the period measured
    ///   again with the new rate, less as first measured.
    /// * **Rates**: an estimate applies from its `effective` instant until
    ///   the next one; before the first, the first applies; with none, 1
    ///   (every point expected to be redeemed). A period is closed with the
    ///   estimate in effect just before its `until`, and opened with the one
    ///   in effect just before its `from`, so an estimate effective inside
    ///   a period (or at its `from`) changes that period.
    ///
    /// Points redeemed count whatever earned them (bonus points too), and
    /// expired points only through a revised rate; the host supplies the
    /// estimates.
    ///
    /// ```
    /// # use loyalty::analytics::{Analytics, Config, Interval, RateEstimate};
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"],
    /// #   "earn":[{"id":"base","kind":"per_amount","points":1,"per":"10"}]}"#).unwrap();
    /// # let mut m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let sale = loyalty::Event::from_json_str(r#"{"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase",
    ///   "lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"1000"}]}"#).unwrap();
    /// let mut analytics = Analytics::new();
    /// analytics.record(&sale, &program.apply(&mut m, &sale).unwrap().receipt);
    /// let year = Interval::new("2026-01-01T00:00:00Z".parse().unwrap(), "2027-01-01T00:00:00Z".parse().unwrap());
    /// let rates = [RateEstimate { effective: year.from, rate: "0.5".parse().unwrap() }];
    /// let view = analytics.deferred_revenue(&program, &[year], &rates, &Config::default());
    /// // 100 points × 1 EUR × 0.5 = 50; 1000 × 50 / 1050 = 47.619… → 47.62, nothing redeemed yet.
    /// assert_eq!((view[0].allocated, view[0].recognised, view[0].closing), ("47.62".parse().unwrap(), 0.into(), "47.62".parse().unwrap()));
    /// ```
    pub fn deferred_revenue(
        &self,
        program: &Program,
        periods: &[Interval],
        rates: &[RateEstimate],
        config: &Config,
    ) -> Vec<DeferredRevenue> {
        let mut rates: Vec<RateEstimate> = rates.to_vec();
        rates.sort_by_key(|r| r.effective);
        let value = point_value(program);
        let places = config.money_scale;
        let round = |v: Decimal| fixed(v, places);

        // Changes of D (deferred allocated), I (points issued) and R (redeemed), each dated.
        let mut allocated: Vec<(DateTime<Utc>, Decimal)> = Vec::new();
        let mut issued: Vec<(DateTime<Utc>, Points)> = Vec::new();
        let mut redeemed: Vec<(DateTime<Utc>, Points)> = Vec::new();
        for log in self.members.values() {
            let mut shares: Vec<Decimal> = Vec::with_capacity(log.sales.len());
            for s in &log.sales {
                let ssp = Decimal::from(s.points) * value * rate_at(&rates, s.at, true);
                let share = match s.amount.checked_add(ssp) {
                    Some(total) if !total.is_zero() => {
                        s.amount.checked_mul(ssp).and_then(|v| v.checked_div(total)).map_or(Decimal::ZERO, round)
                    }
                    _ => Decimal::ZERO,
                };
                shares.push(share);
                allocated.push((s.at, share));
                issued.push((s.at, s.points));
            }
            for r in &log.refunds {
                let sale = &log.sales[r.sale];
                if !sale.amount.is_zero() {
                    let back = round(shares[r.sale] * r.amount / sale.amount);
                    allocated.push((r.at, -back));
                }
                issued.push((r.at, r.reversed.saturating_neg()));
            }
            for f in &log.flows {
                match f.kind {
                    EntryKind::Burn => redeemed.push((f.at, f.points.saturating_neg())),
                    EntryKind::Refund => redeemed.push((f.at, f.points.saturating_neg())),
                    _ => {}
                }
            }
        }
        let deferred_before = |t: DateTime<Utc>| allocated.iter().filter(|(at, _)| *at < t).map(|(_, v)| *v).sum();
        let points_before = |list: &[(DateTime<Utc>, Points)], t: DateTime<Utc>| {
            list.iter().filter(|(at, _)| *at < t).map(|(_, p)| i128::from(*p)).sum::<i128>()
        };
        let cumulative = |t: DateTime<Utc>, rate: Decimal| -> Decimal {
            let d: Decimal = deferred_before(t);
            let (i, r) = (points_before(&issued, t), points_before(&redeemed, t).max(0));
            let expected = Decimal::from_i128_with_scale(i, 0) * rate;
            if expected <= Decimal::ZERO {
                return Decimal::ZERO;
            }
            let progress = (Decimal::from_i128_with_scale(r, 0) / expected).min(Decimal::ONE);
            round(d * progress)
        };

        periods
            .iter()
            .map(|p| {
                let (open_rate, close_rate) = (rate_at(&rates, p.from, false), rate_at(&rates, p.until, false));
                let (d_from, d_until): (Decimal, Decimal) = (deferred_before(p.from), deferred_before(p.until));
                let recognised_before = cumulative(p.from, open_rate);
                let remeasured = cumulative(p.from, close_rate);
                let recognised_by_end = cumulative(p.until, close_rate);
                DeferredRevenue {
                    period: *p,
                    rate: close_rate,
                    opening: d_from - recognised_before,
                    allocated: d_until - d_from,
                    recognised: recognised_by_end - recognised_before,
                    catch_up: remeasured - recognised_before,
                    closing: d_until - recognised_by_end,
                    issued_to_date: clamp(points_before(&issued, p.until)),
                    redeemed_to_date: clamp(points_before(&redeemed, p.until)),
                }
            })
            .collect()
    }
}

/// Outstanding points, debts and their money value from member states (the
/// final states of a log, or any others), as of each member's clock: the
/// same rules as [`Report::outstanding`], [`Report::debt`] and
/// [`Report::liability`].
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","points":{"value":"0.5"}}"#).unwrap();
/// let mut m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
/// let credit = loyalty::Event::from_json_str(r#"{"id":"c","at":"2026-01-02T00:00:00Z","type":"adjust","points":7,"reason":"goodwill"}"#).unwrap();
/// program.apply(&mut m, &credit).unwrap();
/// let o = loyalty::analytics::outstanding(&program, [&m], 2);
/// assert_eq!((o.points, o.debt, o.liability), (7, 0, "3.50".parse().unwrap()));
/// ```
pub fn outstanding<'m>(
    program: &Program,
    members: impl IntoIterator<Item = &'m Member>,
    money_scale: u32,
) -> Outstanding {
    let (mut points, mut debt) = (0_i64, 0_i64);
    for m in members {
        let posted = m.balances().posted;
        if posted > 0 {
            points = points.saturating_add(posted);
        } else {
            debt = debt.saturating_sub(posted);
        }
    }
    let liability = fixed(point_value(program) * Decimal::from(points), money_scale);
    Outstanding { points, debt, liability }
}

/// What [`outstanding`] answers.
///
/// ```
/// let o = loyalty::analytics::Outstanding { points: 0, debt: 0, liability: Default::default() };
/// assert_eq!(o.points, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outstanding {
    /// Posted points of the members whose posted balance is positive.
    pub points: Points,
    /// Points owed by members whose posted balance is negative.
    pub debt: Points,
    /// `points × points.value / 10^points.scale`, rounded to the money scale.
    #[serde(serialize_with = "decimal")]
    pub liability: Decimal,
}

/// Customers at the ends of a period (see the module docs' formulas).
///
/// ```
/// let c = loyalty::analytics::Customers::default();
/// assert_eq!(c.active_at_end - c.acquired, c.retained);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Customers {
    /// `S`: active at the start.
    pub active_at_start: u64,
    /// `E`: active at the end.
    pub active_at_end: u64,
    /// `N`: active at the end, not at the start (`new + won_back`).
    pub acquired: u64,
    /// Of `acquired`, customers whose first purchase is in the period.
    pub new: u64,
    /// Of `acquired`, customers who had bought before but were not active at the start.
    pub won_back: u64,
    /// `E − N`: active at both ends.
    pub retained: u64,
}

/// Points moved in a period, by entry kind, all positive numbers.
///
/// ```
/// let p = loyalty::analytics::PointsFlow { burned: 10, refunded: 4, ..Default::default() };
/// assert_eq!(p.burned - p.refunded, 6); // what `redeemed` holds in a report
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PointsFlow {
    /// `earn` entries: purchases, activities, bonuses.
    pub earned: Points,
    /// Positive `adjust` entries.
    pub credited: Points,
    /// Negative `adjust` entries.
    pub debited: Points,
    /// `burn` entries: redeems, captures, rewards.
    pub burned: Points,
    /// `refund` entries: burned points given back by returns and cancelled rewards.
    pub refunded: Points,
    /// `burned − refunded`.
    pub redeemed: Points,
    /// `reverse` entries: earned points taken back by returns.
    pub reversed: Points,
    /// `expire` entries.
    pub expired: Points,
    /// `forfeit` entries (closed members).
    pub forfeited: Points,
    /// `transfer_in` entries.
    pub transferred_in: Points,
    /// `transfer_out` entries.
    pub transferred_out: Points,
}

/// Points one rule moved in a period.
///
/// ```
/// let r = loyalty::analytics::RuleFlow { earned: 5, burned: 0 };
/// assert_eq!(r.earned, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RuleFlow {
    /// Points the earn rule (or activity, bonus) gave.
    pub earned: Points,
    /// Points burned under the burn rule (or reward).
    pub burned: Points,
}

/// Net Promoter Score answers of a period.
///
/// ```
/// let n = loyalty::analytics::Nps::default();
/// assert_eq!((n.answers, n.score), (0, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Nps {
    /// Scores 9–10.
    pub promoters: u64,
    /// Scores 7–8.
    pub passives: u64,
    /// Scores 0–6.
    pub detractors: u64,
    /// `promoters + passives + detractors`.
    pub answers: u64,
    /// Answers whose score is outside 0–10 (not counted).
    pub invalid: u64,
    /// `100 × (promoters − detractors) / answers`, −100 to 100.
    #[serde(serialize_with = "optional_decimal")]
    pub score: Option<Decimal>,
}

/// A customer's recency segment (see [`Analytics::rfm`] for the thresholds).
///
/// ```
/// use loyalty::analytics::Segment;
/// assert!(Segment::New < Segment::Lapsed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// First purchase within `new_within_days`.
    New,
    /// Last purchase within the activity window.
    Active,
    /// Last purchase within `sleeping_after_days`, not the activity window.
    AtRisk,
    /// Last purchase within `lapsed_after_days`, not `sleeping_after_days`.
    Sleeping,
    /// No purchase within `lapsed_after_days`.
    Lapsed,
}

/// One customer's RFM scores, segment and top flag ([`Analytics::rfm`]).
///
/// ```
/// # use loyalty::analytics::{Analytics, Config};
/// let rfm = Analytics::new().rfm("2026-01-01T00:00:00Z".parse().unwrap(), &Config::default());
/// assert!(rfm.is_empty()); // no customers
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rfm {
    /// The member id.
    pub member: String,
    /// The last purchase before the instant scored.
    pub last_purchase: DateTime<Utc>,
    /// Whole days since then (rounded down).
    pub days_since: i64,
    /// Purchases before the instant.
    pub orders: u64,
    /// Their value less the money returned before the instant.
    #[serde(serialize_with = "decimal")]
    pub monetary: Decimal,
    /// Recency score, 1–5 (5: the most recent).
    pub recency: u8,
    /// Frequency score, 1–5.
    pub frequency: u8,
    /// Monetary score, 1–5.
    pub monetary_score: u8,
    /// The recency segment.
    pub segment: Segment,
    /// In the top [`Config::top_percent`] by monetary value.
    pub top: bool,
}

/// Every metric over one period ([`Analytics::report`]); the module docs
/// give each formula.
///
/// ```
/// # use loyalty::analytics::{Analytics, Config, Interval};
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// let all = Interval::all();
/// let report = Analytics::new().report(&program, &all, &Config::default());
/// assert_eq!((report.outstanding, report.breakage_rate, report.nps.score), (0, None, None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The period.
    pub period: Interval,
    /// `S`, `E`, `N` and their parts.
    pub customers: Customers,
    /// `(E − N) / S`.
    #[serde(serialize_with = "optional_decimal")]
    pub retention_rate: Option<Decimal>,
    /// `1 − retention`.
    #[serde(serialize_with = "optional_decimal")]
    pub churn_rate: Option<Decimal>,
    /// Purchases dated in the period.
    pub orders: u64,
    /// Customers with a purchase in the period.
    pub purchasers: u64,
    /// Customers with two or more purchases in the period.
    pub repeat_purchasers: u64,
    /// `repeat_purchasers / purchasers`.
    #[serde(serialize_with = "optional_decimal")]
    pub repeat_purchase_rate: Option<Decimal>,
    /// Value of the period's orders.
    #[serde(serialize_with = "decimal")]
    pub gross_sales: Decimal,
    /// Money returned by the period's returns.
    #[serde(serialize_with = "decimal")]
    pub returns: Decimal,
    /// `gross_sales − returns`.
    #[serde(serialize_with = "decimal")]
    pub net_sales: Decimal,
    /// `net_sales / orders`.
    #[serde(serialize_with = "optional_decimal")]
    pub average_order_value: Option<Decimal>,
    /// `orders / purchasers`.
    #[serde(serialize_with = "optional_decimal")]
    pub purchase_frequency: Option<Decimal>,
    /// Mean days from first to last purchase, over customers to date.
    #[serde(serialize_with = "optional_decimal")]
    pub average_lifetime_days: Option<Decimal>,
    /// `1 / churn`, in periods of this length.
    #[serde(serialize_with = "optional_decimal")]
    pub expected_lifetime_periods: Option<Decimal>,
    /// Net revenue to date per customer.
    #[serde(serialize_with = "optional_decimal")]
    pub historical_clv: Option<Decimal>,
    /// `AOV × frequency per year × lifetime years × margin`.
    #[serde(serialize_with = "optional_decimal")]
    pub projected_clv: Option<Decimal>,
    /// Survey answers.
    pub nps: Nps,
    /// Customers per segment at `until` (segments with none are absent).
    pub segments: BTreeMap<Segment, u64>,
    /// Customers flagged `top` at `until`.
    pub top: u64,
    /// Points moved in the period.
    pub points: PointsFlow,
    /// Points moved per rule id ([`UNATTRIBUTED`] for none).
    pub by_rule: BTreeMap<String, RuleFlow>,
    /// `(expired + forfeited) / (expired + forfeited + redeemed)`.
    #[serde(serialize_with = "optional_decimal")]
    pub breakage_rate: Option<Decimal>,
    /// `(expired + forfeited) / (earned + credited)`.
    #[serde(serialize_with = "optional_decimal")]
    pub breakage_over_issued: Option<Decimal>,
    /// Points on positive balances at `until`.
    pub outstanding: Points,
    /// Points owed by members with a negative balance at `until`.
    pub debt: Points,
    /// `outstanding × points.value / 10^points.scale`.
    #[serde(serialize_with = "decimal")]
    pub liability: Decimal,
    /// Events refused in the period.
    pub refused: u64,
}

/// An estimate of the share of issued points that will be redeemed, from
/// an instant on.
///
/// ```
/// let r = loyalty::analytics::RateEstimate { effective: "2026-01-01T00:00:00Z".parse().unwrap(), rate: "0.95".parse().unwrap() };
/// assert_eq!(r.rate.to_string(), "0.95");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateEstimate {
    /// From when it applies.
    pub effective: DateTime<Utc>,
    /// The expected redemption rate, 0 to 1.
    #[serde(serialize_with = "decimal")]
    pub rate: Decimal,
}

/// One period of the IFRS 15 deferred-revenue view
/// ([`Analytics::deferred_revenue`]); `closing = opening + allocated −
/// recognised`.
///
/// ```
/// # use loyalty::analytics::{Analytics, Config, Interval};
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// let all = Interval::all();
/// let view = Analytics::new().deferred_revenue(&program, &[all], &[], &Config::default());
/// assert_eq!((view[0].closing, view[0].rate), (0.into(), 1.into()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeferredRevenue {
    /// The period.
    pub period: Interval,
    /// The redemption rate the period is closed with.
    #[serde(serialize_with = "decimal")]
    pub rate: Decimal,
    /// Deferred revenue (contract liability) at `from`.
    #[serde(serialize_with = "decimal")]
    pub opening: Decimal,
    /// Revenue allocated to points by the period's purchases, less returns.
    #[serde(serialize_with = "decimal")]
    pub allocated: Decimal,
    /// Revenue recognised in the period, `catch_up` included.
    #[serde(serialize_with = "decimal")]
    pub recognised: Decimal,
    /// Of `recognised`, the effect of a new rate on the revenue recognised before the period.
    #[serde(serialize_with = "decimal")]
    pub catch_up: Decimal,
    /// Deferred revenue at `until`.
    #[serde(serialize_with = "decimal")]
    pub closing: Decimal,
    /// Points issued by purchases before `until`, net of reversals.
    pub issued_to_date: Points,
    /// Points redeemed before `until`, net of refunds.
    pub redeemed_to_date: Points,
}

/// A decimal as a JSON string (`"0.3333"`), the crate's way with exact numbers.
fn decimal<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// An optional decimal as a JSON string or `null`.
fn optional_decimal<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// `v` rounded half away from zero to `places` decimal places, and shown
/// with exactly that many (`58.00`).
fn fixed(v: Decimal, places: u32) -> Decimal {
    let mut v = v.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(places);
    v
}

/// The money value of one point unit: `points.value / 10^points.scale`.
fn point_value(program: &Program) -> Decimal {
    let spec = &program.spec().points;
    let mut v = spec.value.decimal();
    for _ in 0..spec.scale {
        v /= Decimal::TEN;
    }
    v
}

/// The rate in effect at `t` (`inclusive`: an estimate effective at `t`
/// counts) or just before it.
fn rate_at(rates: &[RateEstimate], t: DateTime<Utc>, inclusive: bool) -> Decimal {
    rates
        .iter()
        .rev()
        .find(|r| if inclusive { r.effective <= t } else { r.effective < t })
        .or(rates.first())
        .map_or(Decimal::ONE, |r| r.rate)
}

/// `t − d`, or the earliest instant when that is before it.
fn minus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn clamp(v: i128) -> Points {
    v.clamp(i128::from(Points::MIN), i128::from(Points::MAX)) as Points
}

/// Entry kinds that change the posted balance.
fn moves_posted(kind: EntryKind) -> bool {
    matches!(
        kind,
        EntryKind::Earn
            | EntryKind::Burn
            | EntryKind::Expire
            | EntryKind::Reverse
            | EntryKind::Refund
            | EntryKind::Adjust
            | EntryKind::Forfeit
            | EntryKind::TransferIn
            | EntryKind::TransferOut
    )
}

fn sale(event: &Event, lines: &[Line], points: Points) -> Sale {
    let lines: Vec<(Decimal, Decimal, Decimal)> = lines
        .iter()
        .map(|l| {
            let amount = l.unit_price.decimal() * l.quantity.decimal() - l.discount.decimal();
            (l.quantity.decimal(), amount, Decimal::ZERO)
        })
        .collect();
    let amount = lines.iter().map(|l| l.1).sum();
    Sale { id: event.id.clone(), at: event.at, amount, lines, returned: Decimal::ZERO, points }
}

/// Marks the lines of an applied return returned and answers the money it
/// gave back, as the engine counts it.
fn give_back(sale: &mut Sale, r: &crate::event::Return) -> Decimal {
    if r.lines.is_empty() {
        for line in &mut sale.lines {
            line.2 = line.0;
        }
    }
    for rl in &r.lines {
        if let Some(line) = sale.lines.get_mut(rl.line) {
            let left = line.0 - line.2;
            line.2 += rl.quantity.map_or(left, |q| q.decimal()).min(left);
        }
    }
    let cumulative: Decimal = sale
        .lines
        .iter()
        .filter(|l| !l.0.is_zero())
        .map(|l| l.1 * l.2 / l.0)
        .sum::<Decimal>()
        .round_dp(crate::number::Amount::FRACTION_DIGITS_MAX as u32)
        .normalize();
    let delta = cumulative - sale.returned;
    sale.returned = cumulative;
    delta
}
