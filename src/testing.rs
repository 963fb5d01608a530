//! The property-test kit for program designers (feature `testing`).
//!
//! A program file is code: a rule that stacks where it should not, a cap in
//! the wrong unit or a tier nobody reaches costs real money. This module lets
//! a designer check a program the way the engine itself is checked — with
//! random event sequences that proptest shrinks to a minimal failing one —
//! in a few lines:
//!
//! ```
//! use loyalty::testing::{check_program, Config, Property};
//!
//! let program = loyalty::Program::from_toml_str(r#"
//!     id = "cafe"
//!     currency = "RUB"
//!     time_zone = "Europe/Moscow"
//!     categories = ["coffee", "food"]
//!     [[earn]]
//!     id = "base"
//!     name = "1 point per 10 RUB"
//!     kind = "per_amount"
//!     points = 1
//!     per = "10"
//!     [[burn]]
//!     id = "pay"
//! "#)?;
//! // A point is worth 1 RUB: nobody may earn more than 10 % of what they spend.
//! let at_most_10_percent = Property::new("no member earns more than 10 % of spend", |run| {
//!     let earned = run.value(run.earned_on_purchases());
//!     if earned * rust_decimal::Decimal::from(10) > run.spend() {
//!         return Err(format!("earned {earned} for a spend of {}", run.spend()));
//!     }
//!     Ok(())
//! });
//! let summary = check_program(&program, &Config::default().cases(16), &[at_most_10_percent])
//!     .unwrap_or_else(|counterexample| panic!("{counterexample}"));
//! assert_eq!(summary.cases, 16);
//! # Ok::<(), loyalty::Error>(())
//! ```
//!
//! # What a check does
//!
//! [`check_program`] generates [`Config::cases`] random [`Scenario`]s from a
//! fixed [`Config::seed`] (the same seed gives the same cases on every
//! machine) and runs each against a freshly enrolled member. The scenarios
//! are valid for the program: lines use its categories, the SKUs, channels,
//! stores and partners its rules name, its activities, rewards, burn rules,
//! adjust reasons and subscription levels; returns name earlier purchases,
//! captures and voids name earlier holds, redeems ask for a share of what the
//! member has. Time moves forward by seconds to two months, and sometimes
//! backwards inside (and just outside) the program's late window, as an
//! offline POS uploading late would.
//!
//! Every delivered event is checked against the engine's invariants:
//!
//! * **ledger** — [`Member::check_invariants`] after every event
//!   (lots, balances, conservation, reversal and refund bounds, debts);
//! * **burns** — a redeem or hold takes at most the available points, from
//!   lots in `(expires_at, seq)` order, never from an expired or pending lot;
//! * **atomicity** — a refused event leaves the member byte for byte as it was;
//! * **lost results** — the same event applied to a copy of the member (a
//!   result the host computed and then lost) gives the same outcome and the
//!   same member as the delivery the host keeps;
//! * **idempotency** — every accepted event is delivered again at once (a
//!   duplicate delivery) and must return the original receipt and change
//!   nothing; the same id with another payload must be refused and change
//!   nothing; an event re-sent later (a retry, [`Config::faults`]) must be
//!   a duplicate with its original receipt, or refused, never applied twice;
//! * **replay** — replaying the delivered log from empty reproduces the
//!   member state byte for byte ([`state_hash`] equal), and so does a
//!   snapshot taken halfway (decoded again from its JSON and from its packed
//!   form, [`Member::to_bytes`](crate::Member::to_bytes)) plus the later events;
//!
//! and then against the [`Property`]s the caller supplies, which see the
//! whole [`Run`].
//!
//! # When a check fails
//!
//! proptest shrinks the failing scenario to a minimal one and
//! [`check_program`] returns a [`Counterexample`]: the property, the
//! message, the event it failed at, the seed, and the delivered events as a
//! JSONL log (the first line is the `enroll` event). The log replays with
//! [`check_log`] (which runs the same checks, so the failure reproduces) or
//! with `Event::from_json_str` and [`Program::apply`] one line at a time.
//!
//! # Faults at the host boundary
//!
//! With [`Config::faults`] on (the default), scenarios also contain the
//! faults a host meets: an event delivered twice, an event re-sent later
//! with its original id, events arriving out of order inside the late
//! window, and results lost after the engine computed them. They are part of
//! the generated scenario, so the seed reproduces them and shrinking keeps
//! only the ones a failure needs.
//!
//! # What the scenarios reached
//!
//! A property that never meets what it is about proves nothing. A passing
//! check returns a [`Summary`] whose [`Coverage`] counts the events accepted
//! and refused (by error), the entries posted, the rules that fired and the
//! tier levels seen; [`Coverage::rules_never_fired`] names the rules no
//! scenario made give a point. Shape the scenarios with [`Config`]: realistic
//! prices ([`Config::unit_prices_cents`]) keep members below a tier, longer
//! gaps and more events ([`Config::max_gap_days`], [`Config::events`]) reach
//! expiries, [`Mix`] weighs the kinds of step.
//!
//! # Longer runs
//!
//! The case count is [`Config::cases`]; `LOYALTY_TEST_CASES` in the
//! environment overrides it and `LOYALTY_TEST_SEED` overrides the seed, so a
//! CI job can run a fixed, short check and a nightly job a long one without
//! changing the test. A value that is not a number fails the check with the
//! property `configuration`. `PROPTEST_CASES` does not apply to the kit. A
//! failing check spends 10–30 s shrinking in a debug build;
//! [`Config::shrink_iterations`] bounds it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use rust_decimal::Decimal;

use crate::event::{
    Activity, Adjust, Basket, CancelReward, Capture, ChoosePromotion, Enroll, Event, EventKind, Hold, Line, Profile,
    Purchase, Redeem, RedeemReward, Return, ReturnLine, Subscribe, UseReward, Void,
};
use crate::member::{Lot, Member};
use crate::number::{Amount, Points};
use crate::program::Program;
use crate::receipt::{EntryKind, Receipt};
use crate::{Applied, Error};

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// How many cases to run, from which seed, and what the scenarios look like.
///
/// ```
/// let config = loyalty::testing::Config::default().cases(500).seed(7).events(1..60);
/// assert_eq!(config.cases, 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Scenarios to run. `LOYALTY_TEST_CASES` overrides it. Default 64.
    pub cases: u32,
    /// Seed of the generator. `LOYALTY_TEST_SEED` overrides it. Default 0.
    pub seed: u64,
    /// Events per scenario after the enrolment (a range, end exclusive). Default 1..40.
    pub events: std::ops::Range<usize>,
    /// Lines per purchase (end exclusive). Default 1..6.
    pub lines: std::ops::Range<usize>,
    /// The dearest unit price generated, in minor units (cents). Default 500 000 (5 000.00).
    pub max_unit_price_cents: u64,
    /// The instant of the enrolment. Default 2026-01-05 09:00 UTC.
    pub start: DateTime<Utc>,
    /// Relative weights of the kinds of step.
    pub mix: Mix,
    /// Whether scenarios contain host faults (retries, duplicates, late
    /// and out-of-order delivery). Default true.
    pub faults: bool,
    /// The cheapest unit price generated, in minor units (cents). Default 1.
    pub min_unit_price_cents: u64,
    /// The longest time between two events, in days. Default 61. Scenarios
    /// span `events × max_gap_days / 4` days on average: raise it (or the
    /// events) to reach expiries a year or more away.
    pub max_gap_days: u32,
    /// How many steps proptest may take to shrink a failure. Default 2048;
    /// a failing check in a debug build spends 10–30 s shrinking.
    pub shrink_iterations: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cases: 64,
            seed: 0,
            events: 1..40,
            lines: 1..6,
            max_unit_price_cents: 500_000,
            start: DateTime::from_timestamp(1_767_603_600, 0).unwrap_or_default(),
            mix: Mix::default(),
            faults: true,
            min_unit_price_cents: 1,
            max_gap_days: 61,
            shrink_iterations: 2048,
        }
    }
}

impl Config {
    /// Sets the number of cases.
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Config::default().cases(3).cases, 3);
    /// ```
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// Sets the seed.
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Config::default().seed(9).seed, 9);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the number of events per scenario (end exclusive).
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Config::default().events(5..6).events, 5..6);
    /// ```
    pub fn events(mut self, events: std::ops::Range<usize>) -> Self {
        self.events = events;
        self
    }

    /// Sets the mix of steps.
    ///
    /// ```
    /// use loyalty::testing::{Config, Mix};
    /// let only_purchases = Config::default().mix(Mix::purchases_only());
    /// assert_eq!(only_purchases.mix.redeem, 0);
    /// ```
    pub fn mix(mut self, mix: Mix) -> Self {
        self.mix = mix;
        self
    }

    /// Turns host faults on or off.
    ///
    /// ```
    /// assert!(!loyalty::testing::Config::default().faults(false).faults);
    /// ```
    pub fn faults(mut self, faults: bool) -> Self {
        self.faults = faults;
        self
    }

    /// Sets the number of lines per purchase (end exclusive).
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Config::default().lines(1..3).lines, 1..3);
    /// ```
    pub fn lines(mut self, lines: std::ops::Range<usize>) -> Self {
        self.lines = lines;
        self
    }

    /// Sets the range of unit prices, in minor units (cents).
    ///
    /// ```
    /// let c = loyalty::testing::Config::default().unit_prices_cents(50..=3_000);
    /// assert_eq!((c.min_unit_price_cents, c.max_unit_price_cents), (50, 3_000));
    /// ```
    pub fn unit_prices_cents(mut self, prices: std::ops::RangeInclusive<u64>) -> Self {
        self.min_unit_price_cents = (*prices.start()).max(1);
        self.max_unit_price_cents = (*prices.end()).max(self.min_unit_price_cents);
        self
    }

    /// Sets the longest time between two events, in days.
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Config::default().max_gap_days(7).max_gap_days, 7);
    /// ```
    pub fn max_gap_days(mut self, days: u32) -> Self {
        self.max_gap_days = days.max(1);
        self
    }

    /// Sets how many steps proptest may take to shrink a failure.
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Config::default().shrink_iterations(100).shrink_iterations, 100);
    /// ```
    pub fn shrink_iterations(mut self, n: u32) -> Self {
        self.shrink_iterations = n;
        self
    }

    /// Sets the enrolment instant.
    ///
    /// ```
    /// let c = loyalty::testing::Config::default().start("2027-03-01T10:00:00Z".parse().unwrap());
    /// assert_eq!(c.start.to_rfc3339(), "2027-03-01T10:00:00+00:00");
    /// ```
    pub fn start(mut self, start: DateTime<Utc>) -> Self {
        self.start = start;
        self
    }

    /// The case count and seed after the environment overrides, or which
    /// variable does not hold a number.
    fn effective(&self) -> Result<(u32, u64), String> {
        self.effective_with(|name| std::env::var(name).ok())
    }

    fn effective_with(&self, var: impl Fn(&str) -> Option<String>) -> Result<(u32, u64), String> {
        let env = |name: &str| match var(name) {
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| format!("{name}='{v}' is not a whole number")),
            None => Ok(None),
        };
        let cases = env("LOYALTY_TEST_CASES")?.map_or(self.cases, |c| u32::try_from(c).unwrap_or(u32::MAX));
        Ok((cases, env("LOYALTY_TEST_SEED")?.unwrap_or(self.seed)))
    }
}

/// Relative weights of the kinds of step in a scenario; 0 turns a kind off.
/// Kinds the program has nothing for (no burn rule, no activities, no
/// rewards, no subscription level) are left out whatever their weight.
///
/// ```
/// let mix = loyalty::testing::Mix { purchase: 10, ..loyalty::testing::Mix::purchases_only() };
/// assert_eq!(mix.purchase, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Purchases.
    pub purchase: u32,
    /// Returns of earlier purchases (whole, some lines, some units).
    pub returns: u32,
    /// Holds, and captures and voids of earlier holds.
    pub hold: u32,
    /// One-step redeems.
    pub redeem: u32,
    /// Credits and debits by hand.
    pub adjust: u32,
    /// Time passing with no event but `advance`.
    pub advance: u32,
    /// Activities the program rewards.
    pub activity: u32,
    /// Rewards of the catalog taken for points.
    pub reward: u32,
    /// Payments for a subscription level.
    pub subscribe: u32,
    /// Days chosen for the program's member-chosen promotions.
    pub promotion: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            purchase: 8,
            returns: 3,
            hold: 3,
            redeem: 3,
            adjust: 2,
            advance: 2,
            activity: 1,
            reward: 1,
            subscribe: 1,
            promotion: 1,
        }
    }
}

impl Mix {
    /// Purchases only (with the time between them as configured).
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Mix::purchases_only().purchase, 1);
    /// ```
    pub fn purchases_only() -> Mix {
        Mix {
            purchase: 1,
            returns: 0,
            hold: 0,
            redeem: 0,
            adjust: 0,
            advance: 0,
            activity: 0,
            reward: 0,
            subscribe: 0,
            promotion: 0,
        }
    }
}

// ---------------------------------------------------------------------------
// What the program offers to generate from
// ---------------------------------------------------------------------------

/// The names a program lets events use, gathered once per check.
#[derive(Debug, Clone)]
struct Catalog {
    categories: Vec<String>,
    skus: Vec<String>,
    channels: Vec<String>,
    stores: Vec<String>,
    partners: Vec<String>,
    activities: Vec<String>,
    rewards: Vec<String>,
    burn_rules: Vec<String>,
    reasons: Vec<String>,
    subscriptions: Vec<String>,
    promotions: Vec<String>,
    attributes: Vec<(String, String)>,
    late_window: Duration,
}

fn push_unique(list: &mut Vec<String>, items: &[String]) {
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

impl Catalog {
    fn of(program: &Program) -> Catalog {
        let spec = program.spec();
        let mut c = Catalog {
            categories: spec.categories.clone(),
            skus: vec!["sku-1".into(), "sku-2".into(), "sku-3".into()],
            channels: Vec::new(),
            stores: Vec::new(),
            partners: spec.partners.clone(),
            activities: spec.activities.iter().map(|a| a.id.clone()).collect(),
            rewards: spec.rewards.iter().map(|r| r.id.clone()).collect(),
            burn_rules: spec.burn.iter().map(|b| b.id.clone()).collect(),
            reasons: vec!["correction".into()],
            subscriptions: Vec::new(),
            promotions: spec.promotions.iter().map(|p| p.id.clone()).collect(),
            attributes: Vec::new(),
            late_window: Duration::zero(),
        };
        if c.categories.is_empty() {
            c.categories.push("general".into());
        }
        for rule in &spec.earn {
            let w = &rule.when;
            push_unique(&mut c.skus, &w.skus);
            push_unique(&mut c.skus, &w.exclude_skus);
            push_unique(&mut c.channels, &w.channels);
            push_unique(&mut c.stores, &w.stores);
            for (k, v) in &w.attributes {
                if !c.attributes.iter().any(|(a, b)| a == k && b == v) {
                    c.attributes.push((k.clone(), v.clone()));
                }
            }
        }
        for rule in &spec.burn {
            push_unique(&mut c.skus, &rule.exclude_skus);
        }
        push_unique(&mut c.skus, &spec.earning_base.exclude_skus);
        for reward in &spec.rewards {
            if let Some(sku) = &reward.sku {
                push_unique(&mut c.skus, std::slice::from_ref(sku));
            }
        }
        push_unique(&mut c.reasons, &spec.adjust_reasons.keys().cloned().collect::<Vec<_>>());
        if let Some(tiers) = &spec.tiers {
            c.subscriptions = tiers.levels.iter().filter(|l| l.subscription.is_some()).map(|l| l.id.clone()).collect();
        }
        let zone = program.time_zone();
        let base = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        c.late_window = spec.limits.late_window.after(base, zone).map_or(Duration::zero(), |t| t - base);
        c
    }
}

// ---------------------------------------------------------------------------
// Scenarios: abstract steps that proptest generates and shrinks
// ---------------------------------------------------------------------------

/// How long after the previous event a step happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// The same instant.
    None,
    Seconds(u32),
    Minutes(u32),
    Hours(u32),
    Days(u32),
    /// Back in time: a fraction (in 1/1000) of the late window before the
    /// member's clock; above 1000 lies just outside the window.
    Late(u32),
}

/// A host fault attached to a step.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// Re-send an earlier event, with its original id and payload, after this step.
    Retry(Index),
}

#[derive(Debug, Clone)]
struct LineGen {
    category: Index,
    sku: Index,
    quantity: u8,
    fractional: bool,
    cents: u64,
    discount_percent: u8,
}

#[derive(Debug, Clone)]
enum Op {
    Purchase {
        lines: Vec<LineGen>,
        channel: Option<Index>,
        store: Option<Index>,
        partner: Option<Index>,
    },
    Return {
        purchase: Index,
        whole: bool,
        line: Index,
        part: Option<Index>,
    },
    /// A hold, and what the POS does with it within a minute (when accepted).
    Hold {
        share: Index,
        order: bool,
        then: Then,
    },
    Capture {
        hold: Index,
        part: Option<Index>,
    },
    Void {
        hold: Index,
    },
    Redeem {
        share: Index,
        order: bool,
        rule: Index,
    },
    Adjust {
        credit: bool,
        points: u16,
        reason: Index,
    },
    Advance,
    Activity {
        which: Index,
        value: u8,
    },
    Reward {
        which: Index,
    },
    /// Use or cancel a reward taken earlier.
    RewardFollowUp {
        which: Index,
        cancel: bool,
    },
    Subscribe {
        which: Index,
    },
    /// Choose the day of a promotion: today or within a week.
    Choose {
        which: Index,
        days_ahead: u8,
    },
}

/// What follows a hold at once: the POS pays (all or part), cancels, or
/// does nothing (the hold times out, or a later step captures or voids it).
#[derive(Debug, Clone, Copy)]
enum Then {
    Leave,
    Capture(Option<Index>),
    Void,
}

/// One step: when, what, and which fault the host adds.
#[derive(Debug, Clone)]
struct Step {
    gap: Gap,
    op: Op,
    fault: Fault,
}

/// A generated sequence for one member: a profile and abstract steps that
/// [`Scenario::run`] turns into events against the member's state as it
/// goes (a return names a purchase made earlier in the run, a redeem asks
/// for a share of what the member has then). The same scenario always
/// gives the same events.
///
/// ```
/// use loyalty::testing::{scenarios, Config};
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let program = loyalty::Program::from_toml_str(r#"
///     id = "p"
///     currency = "EUR"
///     time_zone = "Europe/Berlin"
///     categories = ["food"]
///     [[earn]]
///     id = "base"
///     kind = "per_amount"
///     points = 1
///     per = "1"
/// "#).unwrap();
/// let scenario = scenarios(&program, &Config::default()).new_tree(&mut TestRunner::deterministic()).unwrap().current();
/// let run = scenario.run(&program);
/// assert_eq!(run.member().check_invariants(), Ok(()));
/// ```
#[derive(Debug, Clone)]
pub struct Scenario {
    profile: Profile,
    steps: Vec<Step>,
    start: DateTime<Utc>,
    catalog: Arc<CatalogBox>,
}

/// The program's catalog, shared by all the scenarios of a check.
#[derive(Debug)]
struct CatalogBox(Catalog);

fn gap(max_days: u32) -> impl Strategy<Value = Gap> {
    prop_oneof![
        1 => Just(Gap::None),
        2 => (1_u32..600).prop_map(Gap::Seconds),
        4 => (1_u32..600).prop_map(Gap::Minutes),
        4 => (1_u32..72).prop_map(Gap::Hours),
        6 => (1_u32..=max_days.max(1)).prop_map(Gap::Days),
    ]
}

fn line_gen(config: &Config) -> impl Strategy<Value = LineGen> {
    let min = config.min_unit_price_cents.max(1);
    let max = config.max_unit_price_cents.max(min);
    // Prices spread over magnitudes: from the minimum to the configured maximum.
    let cents = prop_oneof![min..=max.min(min.max(1_000)), min..=max.min(min.max(100_000)), min..=max];
    (
        any::<Index>(),
        any::<Index>(),
        1_u8..=4,
        prop::bool::weighted(0.1),
        cents,
        prop_oneof![8 => Just(0_u8), 2 => 0_u8..=60],
    )
        .prop_map(|(category, sku, quantity, fractional, cents, discount_percent)| LineGen {
            category,
            sku,
            quantity,
            fractional,
            cents,
            discount_percent,
        })
}

fn then() -> impl Strategy<Value = Then> {
    prop_oneof![
        1 => Just(Then::Leave),
        3 => prop::option::of(any::<Index>()).prop_map(Then::Capture),
        1 => Just(Then::Void),
    ]
}

fn op(config: &Config, c: &Catalog) -> BoxedStrategy<Op> {
    let m = config.mix;
    let lines = prop::collection::vec(line_gen(config), config.lines.start.max(1)..config.lines.end.max(2));
    let maybe = |present: bool, p: f64| {
        if present {
            prop::option::weighted(p, any::<Index>()).boxed()
        } else {
            Just(None).boxed()
        }
    };
    let purchase = (
        lines,
        maybe(!c.channels.is_empty(), 0.3),
        maybe(!c.stores.is_empty(), 0.3),
        maybe(!c.partners.is_empty(), 0.1),
    )
        .prop_map(|(lines, channel, store, partner)| Op::Purchase { lines, channel, store, partner });
    let returns = (any::<Index>(), any::<bool>(), any::<Index>(), prop::option::of(any::<Index>()))
        .prop_map(|(purchase, whole, line, part)| Op::Return { purchase, whole, line, part });
    let holds = prop_oneof![
        2 => (any::<Index>(), any::<bool>(), then()).prop_map(|(share, order, then)| Op::Hold { share, order, then }),
        1 => (any::<Index>(), prop::option::of(any::<Index>())).prop_map(|(hold, part)| Op::Capture { hold, part }),
        1 => any::<Index>().prop_map(|hold| Op::Void { hold }),
    ];
    let redeem = (any::<Index>(), any::<bool>(), any::<Index>()).prop_map(|(share, order, rule)| Op::Redeem {
        share,
        order,
        rule,
    });
    let adjust = (any::<bool>(), 1_u16..2_000, any::<Index>()).prop_map(|(credit, points, reason)| Op::Adjust {
        credit,
        points,
        reason,
    });
    let activity = (any::<Index>(), 1_u8..3).prop_map(|(which, value)| Op::Activity { which, value });
    let has_burn = !c.burn_rules.is_empty();
    let weight = |w: u32, present: bool| if present { w } else { 0 };
    let choices: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (m.purchase, purchase.boxed()),
        (m.returns, returns.boxed()),
        (weight(m.hold, has_burn), holds.boxed()),
        (weight(m.redeem, has_burn), redeem.boxed()),
        (m.adjust, adjust.boxed()),
        (m.advance, Just(Op::Advance).boxed()),
        (weight(m.activity, !c.activities.is_empty()), activity.boxed()),
        (weight(m.reward, !c.rewards.is_empty()), any::<Index>().prop_map(|which| Op::Reward { which }).boxed()),
        (
            weight(m.subscribe, !c.subscriptions.is_empty()),
            any::<Index>().prop_map(|which| Op::Subscribe { which }).boxed(),
        ),
        (
            weight(m.reward, !c.rewards.is_empty()),
            (any::<Index>(), any::<bool>()).prop_map(|(which, cancel)| Op::RewardFollowUp { which, cancel }).boxed(),
        ),
        (
            weight(m.promotion, !c.promotions.is_empty()),
            (any::<Index>(), 0_u8..7).prop_map(|(which, days_ahead)| Op::Choose { which, days_ahead }).boxed(),
        ),
    ];
    let choices: Vec<(u32, BoxedStrategy<Op>)> = choices.into_iter().filter(|(w, _)| *w > 0).collect();
    if choices.is_empty() {
        return Just(Op::Advance).boxed();
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

fn step(config: &Config, c: &Catalog) -> impl Strategy<Value = Step> {
    let faults = config.faults;
    let late = prop_oneof![9 => 1_u32..1000, 1 => 1001_u32..1100].prop_map(Gap::Late);
    let days = config.max_gap_days;
    let gap = if faults { prop_oneof![12 => gap(days), 1 => late].boxed() } else { gap(days).boxed() };
    let fault = if faults {
        prop_oneof![12 => Just(Fault::None), 1 => any::<Index>().prop_map(Fault::Retry)].boxed()
    } else {
        Just(Fault::None).boxed()
    };
    (gap, op(config, c), fault).prop_map(|(gap, op, fault)| Step { gap, op, fault })
}

fn profile(c: &Catalog) -> impl Strategy<Value = Profile> {
    let attributes = c.attributes.clone();
    let n = attributes.len();
    (prop::option::weighted(0.7, (1950_i32..2008, 1_u32..=12, 1_u32..=31)), prop::collection::vec(any::<bool>(), n))
        .prop_map(move |(birth, picks)| {
            let birth_date = birth
                .and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).or_else(|| NaiveDate::from_ymd_opt(y, m, 28)));
            let mut attrs = BTreeMap::new();
            for ((k, v), pick) in attributes.iter().zip(picks) {
                if pick && !attrs.contains_key(k) {
                    attrs.insert(k.clone(), v.clone());
                }
            }
            Profile { birth_date, attributes: attrs }
        })
}

/// Scenarios valid for `program`, shaped by `config` (its case count and
/// seed are not used here: they belong to the runner).
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// use proptest::strategy::{Strategy, ValueTree};
/// let strategy = loyalty::testing::scenarios(&program, &loyalty::testing::Config::default());
/// let scenario = strategy.new_tree(&mut proptest::test_runner::TestRunner::deterministic()).unwrap().current();
/// assert!(scenario.run(&program).events().len() >= 2);   // the enrolment and at least one more
/// ```
pub fn scenarios(program: &Program, config: &Config) -> impl Strategy<Value = Scenario> {
    let catalog = Arc::new(CatalogBox(Catalog::of(program)));
    let start = config.start;
    let count = config.events.start.max(1)..config.events.end.max(2);
    (profile(&catalog.0), prop::collection::vec(step(config, &catalog.0), count))
        .prop_map(move |(profile, steps)| Scenario { profile, steps, start, catalog: Arc::clone(&catalog) })
}

/// Baskets valid for `program`: its categories, the SKUs, channels, stores
/// and partners its rules name, prices up to [`Config::max_unit_price_cents`].
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["food"]}"#).unwrap();
/// use proptest::strategy::{Strategy, ValueTree};
/// let baskets = loyalty::testing::baskets(&program, &loyalty::testing::Config::default());
/// let basket = baskets.new_tree(&mut proptest::test_runner::TestRunner::deterministic()).unwrap().current();
/// assert!(basket.lines.iter().all(|l| l.category == "food"));
/// let at = "2026-06-01T10:00:00Z".parse().unwrap();
/// let member = program.enroll("m", at, Default::default()).unwrap();
/// assert!(program.quote(&member, &basket, at).is_ok());
/// ```
pub fn baskets(program: &Program, config: &Config) -> impl Strategy<Value = Basket> {
    let catalog = Catalog::of(program);
    let lines = prop::collection::vec(line_gen(config), config.lines.start.max(1)..config.lines.end.max(2));
    (lines, prop::option::of(any::<Index>()), prop::option::of(any::<Index>())).prop_map(move |(lines, ch, st)| {
        Basket {
            lines: lines.iter().map(|l| line(&catalog, l)).collect(),
            channel: ch.and_then(|i| pick(&catalog.channels, i)),
            store: st.and_then(|i| pick(&catalog.stores, i)),
            partner: None,
        }
    })
}

/// Members of `program` with a random history behind them: a scenario's
/// final member state.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// use proptest::strategy::{Strategy, ValueTree};
/// let members = loyalty::testing::members(&program, &loyalty::testing::Config::default());
/// let member = members.new_tree(&mut proptest::test_runner::TestRunner::deterministic()).unwrap().current();
/// assert_eq!(member.program_id(), "p");
/// ```
pub fn members(program: &Program, config: &Config) -> impl Strategy<Value = Member> {
    let program = program.clone();
    scenarios(&program, config).prop_map(move |s| s.run(&program).member().clone())
}

fn pick(list: &[String], i: Index) -> Option<String> {
    (!list.is_empty()).then(|| list[i.index(list.len())].clone())
}

fn cents(c: u64) -> Amount {
    Amount::from_decimal(Decimal::new(i64::try_from(c).unwrap_or(i64::MAX), 2))
}

fn line(c: &Catalog, g: &LineGen) -> Line {
    let quantity = if g.fractional {
        Amount::from_decimal(Decimal::new(i64::from(g.quantity) * 1000 + 250, 3))
    } else {
        Amount::from_int(i64::from(g.quantity))
    };
    let unit_price = cents(g.cents);
    let gross = unit_price.decimal() * quantity.decimal();
    let discount = (gross * Decimal::from(g.discount_percent) / Decimal::from(100)).floor();
    Line {
        sku: pick(&c.skus, g.sku).unwrap_or_default(),
        category: pick(&c.categories, g.category).unwrap_or_default(),
        quantity,
        unit_price,
        discount: Amount::from_decimal(discount),
    }
}

// ---------------------------------------------------------------------------
// Running a scenario
// ---------------------------------------------------------------------------

/// One delivered event and what came of it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event as delivered.
    pub event: Event,
    /// The receipt, or the error that refused the event.
    pub outcome: Result<Applied, Error>,
    /// The member after the delivery.
    pub after: Member,
    /// True when the host re-sent an earlier event (a retry).
    pub retry: bool,
}

/// A scenario's delivered events with their outcomes: what a [`Property`] checks.
#[derive(Debug, Clone)]
pub struct Run {
    program_id: String,
    enroll: Event,
    start: Member,
    deliveries: Vec<Delivery>,
    point_value: Decimal,
    scale: u32,
    /// The first failure of an engine invariant, found while running.
    broken: Option<(usize, String, String)>,
}

impl Run {
    /// The `enroll` event and every delivered event, in delivery order.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}"#, &[]).unwrap();
    /// assert_eq!(run.events().len(), 1);
    /// ```
    pub fn events(&self) -> Vec<&Event> {
        std::iter::once(&self.enroll).chain(self.deliveries.iter().map(|d| &d.event)).collect()
    }

    /// The deliveries after the enrolment.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
    /// {"id":"a","at":"2026-01-02T00:00:00Z","type":"adjust","points":5,"reason":"gift"}"#, &[]).unwrap();
    /// assert!(run.deliveries()[0].outcome.is_ok());
    /// ```
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    /// The member at the end of the run.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}"#, &[]).unwrap();
    /// assert_eq!(run.member().id(), "m");
    /// ```
    pub fn member(&self) -> &Member {
        self.deliveries.last().map_or(&self.start, |d| &d.after)
    }

    /// The receipts of the accepted events, duplicates left out.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
    /// {"id":"a","at":"2026-01-02T00:00:00Z","type":"adjust","points":5,"reason":"gift"}"#, &[]).unwrap();
    /// assert_eq!(run.receipts().count(), 1);
    /// ```
    pub fn receipts(&self) -> impl Iterator<Item = &Receipt> {
        self.deliveries.iter().filter_map(|d| match &d.outcome {
            Ok(a) if !a.duplicate => Some(&*a.receipt),
            _ => None,
        })
    }

    /// Money spent on accepted purchases, less what was returned: the net
    /// amount of every line (after its discount), in the program's currency.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["food"]}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
    /// {"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase","lines":[{"sku":"x","category":"food","quantity":"2","unit_price":"3.50","discount":"1"}]}"#, &[]).unwrap();
    /// assert_eq!(run.spend(), rust_decimal::Decimal::new(6, 0));
    /// ```
    pub fn spend(&self) -> Decimal {
        let mut total = Decimal::ZERO;
        let mut before = &self.start;
        for d in &self.deliveries {
            if matches!(&d.outcome, Ok(a) if !a.duplicate) {
                match &d.event.kind {
                    EventKind::Purchase(p) => {
                        for l in &p.lines {
                            total += l.unit_price.decimal() * l.quantity.decimal() - l.discount.decimal();
                        }
                    }
                    EventKind::Return(r) => {
                        let record = |m: &'_ Member| {
                            m.purchases()
                                .iter()
                                .find(|p| p.event.as_str() == r.purchase)
                                .map(|p| (p.amount, p.returned))
                        };
                        // The purchase record counts the money returned so far.
                        match (record(before), record(&d.after)) {
                            (Some((_, was)), Some((_, now))) => total -= now.decimal() - was.decimal(),
                            (Some((amount, was)), None) => total -= amount.decimal() - was.decimal(),
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            before = &d.after;
        }
        total
    }

    /// Points earned from every source — purchases, activities, birthdays,
    /// the welcome bonus, referrals, challenges (the `earn` entries) — less
    /// what returns took back: their `reverse` entries and the shortfalls
    /// they reported (points already spent, which the host settles). Credits
    /// by hand (`adjust`) are not earned. In the program's point units.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["food"],
    /// #   "earn":[{"id":"b","kind":"per_amount","points":1,"per":"1"}],"activities":[{"id":"review","points":5}]}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
    /// {"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase","lines":[{"sku":"x","category":"food","quantity":"1","unit_price":"7"}]}
    /// {"id":"r","at":"2026-01-03T00:00:00Z","type":"activity","name":"review"}"#, &[]).unwrap();
    /// assert_eq!((run.earned(), run.earned_on_purchases()), (12, 7));
    /// ```
    pub fn earned(&self) -> Points {
        self.receipts().map(net_earned).fold(0, Points::saturating_add)
    }

    /// Points earned by purchases only, less what returns took back (their
    /// `reverse` entries and shortfalls): the number to hold against the
    /// money spent, [`Run::spend`].
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["food"],
    /// #   "earn":[{"id":"b","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
    /// {"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase","lines":[{"sku":"x","category":"food","quantity":"2","unit_price":"7"}]}
    /// {"id":"b","at":"2026-01-03T00:00:00Z","type":"return","purchase":"s","lines":[{"line":0,"quantity":"1"}]}"#, &[]).unwrap();
    /// assert_eq!(run.earned_on_purchases(), 14 - 7);
    /// ```
    pub fn earned_on_purchases(&self) -> Points {
        self.receipts()
            .filter(|r| matches!(r.kind.as_str(), "purchase" | "return"))
            .map(net_earned)
            .fold(0, Points::saturating_add)
    }

    /// What a number of points (in the program's point units) is worth in
    /// money: points × the program's point value.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["food"],
    /// #   "points":{"value":"0.5"},"earn":[{"id":"b","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
    /// {"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase","lines":[{"sku":"x","category":"food","quantity":"1","unit_price":"7"}]}"#, &[]).unwrap();
    /// assert_eq!(run.value(run.earned_on_purchases()), rust_decimal::Decimal::new(35, 1));   // 7 × 0.5
    /// ```
    pub fn value(&self, points: Points) -> Decimal {
        Decimal::from(points) * self.point_value / Decimal::from(10_i64.pow(self.scale))
    }

    /// Points a rule gave over the run (its lines in the receipts' explanations).
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["food"],
    /// #   "earn":[{"id":"b","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
    /// let run = loyalty::testing::check_log(&program, r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
    /// {"id":"s","at":"2026-01-02T00:00:00Z","type":"purchase","lines":[{"sku":"x","category":"food","quantity":"1","unit_price":"7"}]}"#, &[]).unwrap();
    /// assert_eq!(run.rule_total("b"), 7);
    /// ```
    pub fn rule_total(&self, rule: &str) -> Points {
        self.receipts()
            .flat_map(|r| r.explanations.iter())
            .filter(|e| e.rule.as_str() == rule)
            .map(|e| e.points)
            .fold(0, Points::saturating_add)
    }
}

/// A receipt's earned points less what it took back (reversals and shortfall).
fn net_earned(r: &Receipt) -> Points {
    r.total(EntryKind::Earn).saturating_add(r.total(EntryKind::Reverse)).saturating_sub(r.shortfall)
}

// ---------------------------------------------------------------------------
// Delivering events and checking the engine's own invariants
// ---------------------------------------------------------------------------

/// The id of the probe that brings a copy of the member to an event's instant.
const PROBE: &str = "loyalty-testing:probe";

struct Executor<'p> {
    program: &'p Program,
    member: Member,
    run: Run,
    /// Receipts of the ids accepted so far.
    accepted: BTreeMap<String, Arc<Receipt>>,
}

impl<'p> Executor<'p> {
    fn new(program: &'p Program, enroll: Event) -> Result<Executor<'p>, Error> {
        let (member, _) = program.start(&enroll)?;
        let spec = program.spec();
        let run = Run {
            program_id: spec.id.clone(),
            enroll,
            start: member.clone(),
            deliveries: Vec::new(),
            point_value: spec.points.value.decimal(),
            scale: spec.points.scale,
            broken: None,
        };
        Ok(Executor { program, member, run, accepted: BTreeMap::new() })
    }

    fn fail(&mut self, what: &str, message: String) {
        if self.run.broken.is_none() {
            // The failing delivery is the last one recorded: line n + 1 of the log.
            self.run.broken = Some((self.run.deliveries.len() + 1, what.to_owned(), message));
        }
    }

    fn deliver(&mut self, event: Event, retry: bool) {
        let program = self.program;
        let before = self.member.clone();
        let before_json = before.to_json();
        // A result computed and then lost before the host stored it.
        let mut lost = before.clone();
        let lost_outcome = program.apply(&mut lost, &event);
        let outcome = program.apply(&mut self.member, &event);
        let after_json = self.member.to_json();
        self.run.deliveries.push(Delivery {
            event: event.clone(),
            outcome: outcome.clone(),
            after: self.member.clone(),
            retry,
        });

        let same = match (&lost_outcome, &outcome) {
            (Ok(a), Ok(b)) => a.duplicate == b.duplicate && a.receipt == b.receipt,
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        if !same || lost.to_json() != after_json {
            self.fail(
                "lost results",
                format!(
                    "applying the event to a copy gave {}, the kept delivery {}",
                    show(&lost_outcome),
                    show(&outcome)
                ),
            );
        }
        let applied = match outcome {
            Err(e) => {
                if after_json != before_json {
                    self.fail("atomicity", format!("refused with '{e}' but the member changed"));
                }
                return;
            }
            Ok(applied) => applied,
        };
        if let Err(broken) = self.member.check_invariants() {
            self.fail("ledger invariants", broken);
        }
        if applied.duplicate {
            match self.accepted.get(&event.id) {
                Some(original) if **original == *applied.receipt => {}
                Some(_) => self.fail("idempotency", "a duplicate returned another receipt than the original".into()),
                None => self.fail("idempotency", "an id never accepted was answered as a duplicate".into()),
            }
            if after_json != before_json {
                self.fail("idempotency", "a duplicate changed the member".into());
            }
            return;
        }
        if self.accepted.contains_key(&event.id) {
            self.fail("idempotency", "an id accepted earlier was applied again".into());
        }
        self.check_burn(&before, &event, &applied.receipt);
        // Duplicate delivery: the same event again, at once.
        match program.apply(&mut self.member, &event) {
            Ok(again) if again.duplicate && again.receipt == applied.receipt => {}
            // A member that keeps no receipts (`limits.keep_receipts = 0`)
            // answers a retry with "already applied": also never twice.
            Err(Error::AlreadyApplied { .. }) => {}
            other => self.fail("idempotency", format!("delivered twice, the second delivery gave {}", show(&other))),
        }
        // The same id with another payload.
        let changed = changed(&event);
        match program.apply(&mut self.member, &changed) {
            Err(Error::IdReusedWithDifferentPayload { .. }) => {}
            other => self.fail(
                "idempotency",
                format!("the id again with another payload ({}) gave {}", changed.to_json(), show(&other)),
            ),
        }
        if self.member.to_json() != after_json {
            self.fail("idempotency", "a second delivery changed the member".into());
        }
        self.accepted.insert(event.id.clone(), applied.receipt);
    }

    /// A redeem or hold takes at most the available points, first-expiring first.
    fn check_burn(&mut self, before: &Member, event: &Event, receipt: &Receipt) {
        let (kind, points) = match &event.kind {
            EventKind::Redeem(r) => (EntryKind::Burn, r.points),
            EventKind::Hold(h) => (EntryKind::Hold, h.points),
            _ => return,
        };
        let mut pre = before.clone();
        let probe = Event { id: PROBE.into(), at: before.clock().max(event.at), kind: EventKind::Advance };
        if self.program.apply(&mut pre, &probe).is_err() {
            return;
        }
        let available = pre.balances().available;
        if points > available {
            self.fail("burns", format!("{points} points burned with {available} available"));
            return;
        }
        let got: Vec<(u64, Points)> = receipt
            .entries
            .iter()
            .filter(|e| e.kind == kind && e.points < 0)
            .map(|e| (e.lot.unwrap_or(0), -e.points))
            .collect();
        let want = fifo(&pre, points);
        if got != want {
            self.fail(
                "burns",
                format!("took (lot, points) {got:?}; by (expires_at, seq) of the free points it should take {want:?}"),
            );
        }
    }

    /// Replays the delivered log from empty, and from a snapshot taken halfway.
    fn check_replay(&mut self) {
        let program = self.program;
        let Ok((mut fresh, _)) = program.start(&self.run.enroll) else {
            return self.fail("replay", "the enroll event no longer starts a member".into());
        };
        for d in &self.run.deliveries {
            let _ = program.apply(&mut fresh, &d.event);
        }
        let end = self.member.to_json();
        if fresh.to_json() != end {
            return self.fail(
                "replay",
                format!(
                    "replaying the log from empty gives state {:016x}, the run {:016x}",
                    state_hash(&fresh),
                    state_hash(&self.member)
                ),
            );
        }
        let half = self.run.deliveries.len() / 2;
        if half == 0 {
            return;
        }
        // The snapshot as JSON and in the packed form: a host may keep either.
        let after = &self.run.deliveries[half - 1].after;
        let snapshots =
            [("JSON", Member::from_json_str(&after.to_json())), ("packed", Member::from_bytes(&after.to_bytes()))];
        for (form, snapshot) in snapshots {
            let mut resumed = match snapshot {
                Ok(m) => m,
                Err(e) => {
                    return self
                        .fail("replay", format!("the {form} snapshot after delivery {half} does not decode: {e}"))
                }
            };
            for d in &self.run.deliveries[half..] {
                let _ = program.apply(&mut resumed, &d.event);
            }
            if resumed.to_json() != end {
                return self.fail(
                    "replay",
                    format!("the {form} snapshot after delivery {half} plus the later events differs from the run"),
                );
            }
        }
    }
}

/// An outcome in words: the receipt's event and whether it was a duplicate, or the error's message.
fn show(outcome: &Result<Applied, Error>) -> String {
    match outcome {
        Ok(a) if a.duplicate => format!("the duplicate receipt of '{}'", a.receipt.event.as_str()),
        Ok(a) => format!("a new receipt for '{}'", a.receipt.event.as_str()),
        Err(e) => format!("the error \"{e}\""),
    }
}

/// What a first-expiring-first burn of `points` takes: free points by
/// `(expires_at, seq)`, never-expiring lots last.
fn fifo(m: &Member, mut points: Points) -> Vec<(u64, Points)> {
    let free = |l: &Lot| if l.pending { 0 } else { l.remaining - l.held };
    let mut lots: Vec<&Lot> = m.lots().iter().filter(|l| free(l) > 0).collect();
    lots.sort_by_key(|l| (l.expires_at.is_none(), l.expires_at, l.seq));
    let mut out = Vec::new();
    for l in lots {
        if points == 0 {
            break;
        }
        let take = free(l).min(points);
        out.push((l.seq, take));
        points -= take;
    }
    out
}

/// The same id with another payload.
fn changed(event: &Event) -> Event {
    let mut e = event.clone();
    match &mut e.kind {
        EventKind::Adjust(a) => a.note.push_str(" (changed)"),
        EventKind::Redeem(r) => r.points = r.points.saturating_add(1),
        EventKind::Hold(h) => h.points = h.points.saturating_add(1),
        _ => e.at += Duration::seconds(1),
    }
    e
}

/// A 64-bit FNV-1a hash of the member's canonical JSON ([`Member::to_json`]):
/// equal states give equal hashes on every platform, so two hosts (or a
/// replay and the live state) can compare states by a short number.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// let at = "2026-01-01T00:00:00Z".parse().unwrap();
/// let a = program.enroll("m", at, Default::default()).unwrap();
/// let b = loyalty::Member::from_json_str(&a.to_json()).unwrap();
/// assert_eq!(loyalty::testing::state_hash(&a), loyalty::testing::state_hash(&b));
/// ```
pub fn state_hash(member: &Member) -> u64 {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(member.to_json().as_bytes());
    h.finish()
}

impl Scenario {
    /// Turns the scenario into events against a fresh member of `program`,
    /// delivers them (with the scenario's faults) and checks the engine's
    /// invariants on the way; [`check_program`] then checks the properties.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// use proptest::strategy::{Strategy, ValueTree};
    /// let scenario = loyalty::testing::scenarios(&program, &Default::default())
    ///     .new_tree(&mut proptest::test_runner::TestRunner::deterministic()).unwrap().current();
    /// let run = scenario.run(&program);
    /// assert_eq!(run.events()[0].kind.name(), "enroll");
    /// ```
    pub fn run(&self, program: &Program) -> Run {
        let enroll = Event {
            id: "enroll".into(),
            at: self.start,
            kind: EventKind::Enroll(Enroll { member: "m-1".into(), profile: self.profile.clone(), referred_by: None }),
        };
        let mut exec = match Executor::new(program, enroll.clone()) {
            Ok(exec) => exec,
            Err(e) => {
                // The profile is built from the program's own names; a refusal is a finding.
                return Run {
                    program_id: program.id().to_owned(),
                    enroll,
                    start: Member::new("m-1", program.id(), self.start, Profile::default()),
                    deliveries: Vec::new(),
                    point_value: Decimal::ONE,
                    scale: 0,
                    broken: Some((1, "enrolment".into(), format!("the generated enrolment was refused: {e}"))),
                };
            }
        };
        let c = &self.catalog.0;
        let mut originals: Vec<Event> = Vec::new();
        for (n, step) in self.steps.iter().enumerate() {
            let clock = exec.member.clock();
            let at = match step.gap {
                Gap::None => clock,
                Gap::Seconds(s) => clock + Duration::seconds(s.into()),
                Gap::Minutes(m) => clock + Duration::minutes(m.into()),
                Gap::Hours(h) => clock + Duration::hours(h.into()),
                Gap::Days(d) => clock + Duration::days(d.into()),
                Gap::Late(f) => clock - c.late_window * i32::try_from(f).unwrap_or(1000) / 1000,
            };
            if let Some(event) = materialize(program, c, &exec, &step.op, format!("e{}", n + 1), at) {
                originals.push(event.clone());
                exec.deliver(event.clone(), false);
                let accepted = matches!(exec.run.deliveries.last(), Some(d) if d.outcome.is_ok());
                if let (Op::Hold { then, .. }, EventKind::Hold(held), true) = (&step.op, &event.kind, accepted) {
                    let (id, at) = (format!("e{}-pos", n + 1), event.at + Duration::seconds(30));
                    let kind = match then {
                        Then::Leave => None,
                        Then::Capture(part) => Some(EventKind::Capture(Capture {
                            hold: event.id.clone(),
                            points: part.map(|k| share_of(held.points, k)),
                        })),
                        Then::Void => Some(EventKind::Void(Void { hold: event.id.clone() })),
                    };
                    if let Some(kind) = kind {
                        let follow = Event { id, at, kind };
                        originals.push(follow.clone());
                        exec.deliver(follow, false);
                    }
                }
            }
            if let (Fault::Retry(i), false) = (step.fault, originals.is_empty()) {
                let again = originals[i.index(originals.len())].clone();
                exec.deliver(again, true);
            }
        }
        exec.check_replay();
        exec.run
    }
}

fn accepted_ids<'a>(exec: &'a Executor<'_>, kind: &'static str) -> Vec<&'a Event> {
    exec.run
        .deliveries
        .iter()
        .filter(|d| !d.retry && d.event.kind.name() == kind && matches!(&d.outcome, Ok(a) if !a.duplicate))
        .map(|d| &d.event)
        .collect()
}

/// Points to burn: a share of what the member has, on the burn rule's step.
fn burn_points(program: &Program, exec: &Executor<'_>, share: Index, rule: Option<&str>) -> Points {
    let available = exec.member.balances().available.max(0);
    let burn = program.spec().burn.iter().find(|b| rule.is_none_or(|r| b.id == r));
    let (min, step) = burn.map_or((1, 1), |b| (b.min_points.max(1), b.step_points.max(1)));
    let upto = usize::try_from(available.clamp(1, 1 << 40)).unwrap_or(1);
    let raw = i64::try_from(share.index(upto) + 1).unwrap_or(1);
    (raw / step * step).max(min)
}

/// A quarter, half, three quarters or all of `points`, at least 1.
fn share_of(points: Points, k: Index) -> Points {
    (points / 4 * i64::try_from(k.index(4) + 1).unwrap_or(4)).max(1)
}

fn materialize(
    program: &Program,
    c: &Catalog,
    exec: &Executor<'_>,
    op: &Op,
    id: String,
    at: DateTime<Utc>,
) -> Option<Event> {
    let kind = match op {
        Op::Purchase { lines, channel, store, partner } => EventKind::Purchase(Purchase {
            order: None,
            lines: lines.iter().map(|l| line(c, l)).collect(),
            channel: channel.and_then(|i| pick(&c.channels, i)),
            store: store.and_then(|i| pick(&c.stores, i)),
            partner: partner.and_then(|i| pick(&c.partners, i)),
        }),
        Op::Return { purchase, whole, line, part } => {
            // Mostly purchases the member still keeps (inside the return
            // window); one time in eight any earlier one, for the refusals.
            let mut purchases = accepted_ids(exec, "purchase");
            let kept: Vec<&Event> = purchases
                .iter()
                .copied()
                .filter(|e| exec.member.purchases().iter().any(|p| p.event.as_str() == e.id))
                .collect();
            if !kept.is_empty() && purchase.index(8) != 0 {
                purchases = kept;
            }
            let p = purchases.get(purchase.index(purchases.len().max(1)))?;
            let EventKind::Purchase(bought) = &p.kind else { return None };
            let lines = if *whole {
                Vec::new()
            } else {
                let n = line.index(bought.lines.len());
                let quantity = part.map(|k| {
                    let q = bought.lines[n].quantity.decimal() * Decimal::from(k.index(4) + 1) / Decimal::from(4);
                    Amount::from_decimal(q)
                });
                vec![ReturnLine { line: n, quantity }]
            };
            EventKind::Return(Return { purchase: p.id.clone(), lines })
        }
        Op::Hold { share, order, .. } | Op::Redeem { share, order, .. } => {
            let rule = match op {
                Op::Redeem { rule, .. } => pick(&c.burn_rules, *rule),
                _ => None,
            };
            let mut points = burn_points(program, exec, *share, rule.as_deref());
            let purchases = accepted_ids(exec, "purchase");
            // A rule with a share limit needs the basket: pay for the latest purchase then.
            let burn = program.spec().burn.iter().find(|b| rule.as_ref().is_none_or(|r| &b.id == r));
            let limited = burn.is_some_and(|b| b.max_share_percent.is_some());
            let paid = if *order || limited { purchases.last().copied() } else { None };
            let (order, lines) = match paid.map(|p| &p.kind) {
                Some(EventKind::Purchase(p)) => (paid.map(|e| e.id.clone()), p.lines.clone()),
                _ => (None, Vec::new()),
            };
            if limited && !lines.is_empty() {
                // Aim at the limit: exactly it, one step over it, or the share drawn.
                let basket = Basket { lines: lines.clone(), ..Basket::default() };
                if let Ok(q) = program.quote(&exec.member, &basket, at) {
                    let step = burn.map_or(1, |b| b.step_points.max(1));
                    match share.index(3) {
                        0 if q.max_burn > 0 => points = q.max_burn,
                        1 if q.max_burn > 0 => points = q.max_burn.saturating_add(step),
                        _ => {}
                    }
                }
            }
            if matches!(op, Op::Hold { .. }) {
                EventKind::Hold(Hold { points, order, rule, lines })
            } else {
                EventKind::Redeem(Redeem { points, order, rule, lines })
            }
        }
        Op::Capture { hold, part } => {
            let holds = accepted_ids(exec, "hold");
            let h = holds.get(hold.index(holds.len().max(1)))?;
            let EventKind::Hold(held) = &h.kind else { return None };
            let points = part.map(|k| share_of(held.points, k));
            EventKind::Capture(Capture { hold: h.id.clone(), points })
        }
        Op::Void { hold } => {
            let holds = accepted_ids(exec, "hold");
            let h = holds.get(hold.index(holds.len().max(1)))?;
            EventKind::Void(Void { hold: h.id.clone() })
        }
        Op::Adjust { credit, points, reason } => {
            let points = Points::from(*points) * if *credit { 1 } else { -1 };
            EventKind::Adjust(Adjust { points, reason: pick(&c.reasons, *reason)?, note: String::new() })
        }
        Op::Advance => EventKind::Advance,
        Op::Activity { which, value } => {
            EventKind::Activity(Activity { name: pick(&c.activities, *which)?, value: i64::from(*value) })
        }
        Op::Reward { which } => {
            let reward = pick(&c.rewards, *which)?;
            // A voucher needs the code the host issued.
            let voucher = program.spec().rewards.iter().any(|r| r.id == reward && r.kind == crate::RewardKind::Voucher);
            EventKind::RedeemReward(RedeemReward { code: voucher.then(|| format!("code-{id}")), reward })
        }
        Op::RewardFollowUp { which, cancel } => {
            let taken = accepted_ids(exec, "redeem_reward");
            let issued = taken.get(which.index(taken.len().max(1)))?.id.clone();
            if *cancel {
                EventKind::CancelReward(CancelReward { issued })
            } else {
                EventKind::UseReward(UseReward { issued })
            }
        }
        Op::Subscribe { which } => EventKind::Subscribe(Subscribe { tier: pick(&c.subscriptions, *which)? }),
        Op::Choose { which, days_ahead } => {
            let date = at.with_timezone(&program.time_zone()).date_naive() + Duration::days(i64::from(*days_ahead));
            EventKind::ChoosePromotion(ChoosePromotion { promotion: pick(&c.promotions, *which)?, date })
        }
    };
    Some(Event { id, at, kind })
}

// ---------------------------------------------------------------------------
// Properties, checks and counterexamples
// ---------------------------------------------------------------------------

/// The check of a [`Property`].
type Check = dyn Fn(&Run) -> Result<(), String> + Send + Sync;

/// A property of a program the caller supplies: a name and a check over a
/// whole [`Run`] that returns why it fails.
///
/// ```
/// use loyalty::testing::Property;
/// let no_debt = Property::new("no member ends in debt", |run| {
///     if run.member().debt() > 0 { Err(format!("debt {}", run.member().debt())) } else { Ok(()) }
/// });
/// assert_eq!(no_debt.name(), "no member ends in debt");
/// ```
#[derive(Clone)]
pub struct Property {
    name: String,
    check: Arc<Check>,
}

impl Property {
    /// A property named `name` (the name appears in a counterexample).
    ///
    /// ```
    /// let p = loyalty::testing::Property::new("always", |_| Ok(()));
    /// assert_eq!(p.name(), "always");
    /// ```
    pub fn new(
        name: impl Into<String>,
        check: impl Fn(&Run) -> Result<(), String> + Send + Sync + 'static,
    ) -> Property {
        Property { name: name.into(), check: Arc::new(check) }
    }

    /// The property's name.
    ///
    /// ```
    /// assert_eq!(loyalty::testing::Property::new("x", |_| Ok(())).name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Property").field("name", &self.name).finish_non_exhaustive()
    }
}

/// What a passing check ran, and what its scenarios reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Scenarios run.
    pub cases: u32,
    /// The seed they came from.
    pub seed: u64,
    /// What the scenarios reached, over all cases.
    pub coverage: Coverage,
}

/// What a check's scenarios reached: a property that never meets what it
/// is about proves nothing, so look here (its `Display` is a short report).
///
/// ```
/// use loyalty::testing::{check_program, Config};
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"],
/// #   "earn":[{"id":"base","kind":"per_amount","points":1,"per":"1"}],"burn":[{"id":"pay"}]}"#).unwrap();
/// let summary = check_program(&program, &Config::default().cases(8), &[]).unwrap();
/// assert!(summary.coverage.accepted["purchase"] > 0);
/// assert!(summary.coverage.rules["base"] > 0);
/// assert!(summary.coverage.rules_never_fired(&program).is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Coverage {
    /// Accepted events by kind (duplicates left out).
    pub accepted: BTreeMap<String, u64>,
    /// Refused events by kind and error (`"redeem: insufficient points"`).
    pub refused: BTreeMap<String, u64>,
    /// Ledger entries posted, by kind.
    pub entries: BTreeMap<String, u64>,
    /// Receipts in which each rule gave points.
    pub rules: BTreeMap<String, u64>,
    /// Receipts at each tier level.
    pub tiers: BTreeMap<String, u64>,
}

impl Coverage {
    fn add(&mut self, run: &Run) {
        for d in &run.deliveries {
            match &d.outcome {
                Ok(a) if a.duplicate => {}
                Ok(a) => {
                    *self.accepted.entry(d.event.kind.name().to_owned()).or_default() += 1;
                    for e in &a.receipt.entries {
                        *self.entries.entry(format!("{:?}", e.kind).to_lowercase()).or_default() += 1;
                    }
                    for e in a.receipt.explanations.iter().filter(|e| e.points != 0) {
                        *self.rules.entry(e.rule.as_str().to_owned()).or_default() += 1;
                    }
                    if let Some(t) = &a.receipt.tier {
                        *self.tiers.entry(t.as_str().to_owned()).or_default() += 1;
                    }
                }
                Err(e) => {
                    let key = format!("{}: {}", d.event.kind.name(), error_kind(e));
                    *self.refused.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// The program's earn rules (and tier multipliers) that never gave a point.
    ///
    /// ```
    /// let c = loyalty::testing::Coverage::default();
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"],
    /// #   "earn":[{"id":"base","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
    /// assert_eq!(c.rules_never_fired(&program), ["base"]);
    /// ```
    pub fn rules_never_fired(&self, program: &Program) -> Vec<String> {
        let spec = program.spec();
        let tiers = spec
            .tiers
            .iter()
            .flat_map(|t| &t.levels)
            .filter(|l| l.multiplier.is_some())
            .map(|l| format!("tier:{}", l.id));
        spec.earn.iter().map(|r| r.id.clone()).chain(tiers).filter(|id| !self.rules.contains_key(id)).collect()
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |m: &BTreeMap<String, u64>| m.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
        writeln!(f, "accepted: {}", list(&self.accepted))?;
        writeln!(f, "refused:  {}", list(&self.refused))?;
        writeln!(f, "entries:  {}", list(&self.entries))?;
        writeln!(f, "rules:    {}", list(&self.rules))?;
        write!(f, "tiers:    {}", list(&self.tiers))
    }
}

/// The name of an error's kind, without its details.
fn error_kind(e: &Error) -> String {
    let debug = format!("{e:?}");
    let name = debug.split([' ', '(', '{']).next().unwrap_or_default();
    // `InsufficientPoints` → "insufficient points".
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A failing run, shrunk to a minimal one by proptest.
///
/// Its `Display` is the report a test prints: what failed, where, the seed
/// and configuration, and the log to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counterexample {
    /// The program's id.
    pub program: String,
    /// The property that failed: a caller's [`Property`] by name, or one of
    /// the engine's own checks (`ledger invariants`, `burns`, `atomicity`,
    /// `lost results`, `idempotency`, `replay`, `enrolment`).
    pub property: String,
    /// Why it failed.
    pub message: String,
    /// The 1-based line of [`Counterexample::log`] the failure was found at,
    /// for the engine's checks (the log ends there); a caller's property
    /// sees the whole run.
    pub line: Option<usize>,
    /// The seed of the check that found it (`None` for [`check_log`]).
    pub seed: Option<u64>,
    /// The configuration of the check that found it (`None` for [`check_log`]).
    pub config: Option<String>,
    /// The delivered events as JSONL, one [`Event::to_json`] per line, the
    /// `enroll` event first. Re-sent events appear again where they were re-sent.
    pub log: String,
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "program '{}': property '{}' failed", self.program, self.property)?;
        if let Some(line) = self.line {
            write!(f, " at line {line} of the log")?;
        }
        writeln!(f, ": {}", self.message)?;
        if let Some(seed) = self.seed {
            writeln!(f, "(seed {seed}; shrunk to the {} events below)", self.log.lines().count())?;
        }
        if let Some(config) = &self.config {
            writeln!(f, "(found with {config})")?;
        }
        writeln!(f, "replay it with loyalty::testing::check_log(&program, LOG, &properties), LOG being:")?;
        write!(f, "{}", self.log)
    }
}

impl std::error::Error for Counterexample {}

fn log_of(run: &Run) -> String {
    let mut out = String::new();
    for e in run.events() {
        out.push_str(&e.to_json());
        out.push('\n');
    }
    out
}

fn verdict(run: &Run, properties: &[Property]) -> Result<(), Box<Counterexample>> {
    let fail = |property: &str, message: String, line: Option<usize>| {
        let mut log = log_of(run);
        if let Some(line) = line {
            // The engine's checks fail at a line: what follows plays no part.
            log = log.split_inclusive('\n').take(line).collect();
        }
        Box::new(Counterexample {
            program: run.program_id.clone(),
            property: property.to_owned(),
            message,
            line,
            seed: None,
            config: None,
            log,
        })
    };
    if let Some((line, what, message)) = &run.broken {
        return Err(fail(what, message.clone(), Some(*line)));
    }
    for p in properties {
        if let Err(message) = (p.check)(run) {
            return Err(fail(&p.name, message, None));
        }
    }
    Ok(())
}

/// Runs random scenarios of `program` against the engine's invariants and
/// the caller's `properties`; on a failure, returns the shrunk
/// [`Counterexample`]. See the [module docs](self) for what is checked.
///
/// ```
/// use loyalty::testing::{check_program, Config, Property};
/// let program = loyalty::Program::from_toml_str(r#"
///     id = "shop"
///     currency = "EUR"
///     time_zone = "Europe/Paris"
///     categories = ["food"]
///     [[earn]]
///     id = "base"
///     name = "2 points per euro"
///     kind = "per_amount"
///     points = 2
///     per = "1"
/// "#).unwrap();
/// // A false claim: proptest finds a purchase that earns, and shrinks to it.
/// let never = Property::new("nobody earns", |run| if run.earned() > 0 { Err("earned".into()) } else { Ok(()) });
/// let found = check_program(&program, &Config::default().cases(32), &[never]).unwrap_err();
/// assert_eq!(found.property, "nobody earns");
/// assert_eq!(found.log.lines().count(), 2);   // the enrolment and one purchase
/// ```
pub fn check_program(
    program: &Program,
    config: &Config,
    properties: &[Property],
) -> Result<Summary, Box<Counterexample>> {
    let described = |cases: u32| {
        format!(
            "{cases} cases, {:?} events, {:?} lines, prices {}..={} cents, gaps up to {} days, faults {}, {:?}",
            config.events,
            config.lines,
            config.min_unit_price_cents,
            config.max_unit_price_cents,
            config.max_gap_days,
            if config.faults { "on" } else { "off" },
            config.mix
        )
    };
    let (cases, seed) = config.effective().map_err(|message| {
        Box::new(Counterexample {
            program: program.id().to_owned(),
            property: "configuration".into(),
            message,
            line: None,
            seed: None,
            config: None,
            log: String::new(),
        })
    })?;
    let mut seed_bytes = [0_u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let runner_config = ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: config.shrink_iterations,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new_with_rng(runner_config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let coverage = std::cell::RefCell::new(Coverage::default());
    let result = runner.run(&scenarios(program, config), |scenario| {
        let run = scenario.run(program);
        coverage.borrow_mut().add(&run);
        verdict(&run, properties).map_err(|c| TestCaseError::fail(c.to_string()))
    });
    match result {
        Ok(()) => Ok(Summary { cases, seed, coverage: coverage.into_inner() }),
        Err(TestError::Fail(reason, scenario)) => {
            let mut found = verdict(&scenario.run(program), properties).err().unwrap_or_else(|| {
                Box::new(Counterexample {
                    program: program.id().to_owned(),
                    property: "determinism".into(),
                    message: format!("the minimal scenario failed once and passed when run again: {reason}"),
                    line: None,
                    seed: None,
                    config: None,
                    log: log_of(&scenario.run(program)),
                })
            });
            found.seed = Some(seed);
            found.config = Some(described(cases));
            Err(found)
        }
        Err(TestError::Abort(reason)) => Err(Box::new(Counterexample {
            program: program.id().to_owned(),
            property: "generation".into(),
            message: format!("the runner gave up: {reason}"),
            line: None,
            seed: Some(seed),
            config: Some(described(cases)),
            log: String::new(),
        })),
    }
}

/// Delivers a JSONL event log (the first line an `enroll` event; blank
/// lines skipped) with every check of [`check_program`], then checks the
/// `properties`: the way to replay a [`Counterexample::log`].
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// let log = r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"enroll","member":"m"}
/// {"id":"a","at":"2026-01-02T00:00:00Z","type":"adjust","points":5,"reason":"gift"}"#;
/// let run = loyalty::testing::check_log(&program, log, &[]).unwrap();
/// assert_eq!(run.member().balances().available, 5);
/// ```
pub fn check_log(program: &Program, log: &str, properties: &[Property]) -> Result<Run, Box<Counterexample>> {
    let refuse = |line: usize, message: String| {
        Box::new(Counterexample {
            program: program.id().to_owned(),
            property: "the log replays".into(),
            message,
            line: Some(line),
            seed: None,
            config: None,
            log: log.to_owned(),
        })
    };
    let mut lines = log.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((n, first)) = lines.next() else { return Err(refuse(1, "the log is empty".into())) };
    let enroll = Event::from_json_str(first).map_err(|e| refuse(n + 1, e.to_string()))?;
    let mut exec = Executor::new(program, enroll).map_err(|e| refuse(n + 1, e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for (n, text) in lines {
        let event = Event::from_json_str(text).map_err(|e| refuse(n + 1, e.to_string()))?;
        let retry = !seen.insert(event.id.clone());
        exec.deliver(event, retry);
    }
    exec.check_replay();
    verdict(&exec.run, properties)?;
    Ok(exec.run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_cases_and_seed_and_a_bad_value_is_reported() {
        let config = Config::default().cases(5).seed(9);
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(config.effective_with(vars(&[])), Ok((5, 9)));
        assert_eq!(
            config.effective_with(vars(&[("LOYALTY_TEST_CASES", "300"), ("LOYALTY_TEST_SEED", " 7 ")])),
            Ok((300, 7))
        );
        assert_eq!(
            config.effective_with(vars(&[("LOYALTY_TEST_SEED", "forty-two")])),
            Err("LOYALTY_TEST_SEED='forty-two' is not a whole number".to_owned())
        );
    }

    #[test]
    fn error_kinds_read_as_words() {
        let e = Error::InsufficientPoints { event: "e".into(), requested: 5, available: 1 };
        assert_eq!(error_kind(&e), "insufficient points");
    }
}
