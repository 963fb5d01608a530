//! The program: its file schema, validation and compiled form.
//!
//! A program file (TOML or JSON, one schema) names the currency, the time
//! zone, the point unit, the pending period, the expiry policy, the earning
//! base, the limits, the earn rules and the burn rules. [`Program`] is the
//! validated, compiled, immutable result; it is `Send + Sync` and shared by
//! every thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::engagement::{ActivityRule, AdjustReason, BirthdayBonus, BirthdayWhen, Campaign, SignalSpec};
use crate::error::{json_error, line_column, Error, Result};
use crate::number::{
    gcd, pow10, to_money, Amount, Money, Points, RoundAt, Rounding, StableHasher, MONEY_ONE, MONEY_SCALE,
};
use crate::reward::{Reward, RewardKind};
use crate::script::{Constant, ProgramView, Sandbox, Script, ScriptEach, ScriptGives, ScriptSpec};
use crate::tier::{TierMeasure, TierSpec, TierWindow, Tiers};
use crate::time::{Period, RoundTo, TimeWindow, Weekday};

/// The most earn or burn rules a program may have.
pub const RULES_MAX: usize = 256;
/// The most categories a program may declare.
pub const CATEGORIES_MAX: usize = 10_000;
/// The largest point scale (fraction digits of a point).
pub const POINT_SCALE_MAX: u32 = 4;
/// The longest late window a program may declare, in days.
pub const LATE_WINDOW_DAYS_MAX: u32 = 31;

/// The program file, as written. See the crate docs for a full example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// Program id; member states name it.
    pub id: String,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// ISO 4217 code of the currency of every money amount (`"RUB"`).
    pub currency: String,
    /// IANA time zone for all calendar logic (`"Europe/Moscow"`).
    pub time_zone: String,
    /// The point unit.
    #[serde(default)]
    pub points: PointsSpec,
    /// Every product category events may use; rules may only name these.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Partners whose purchases the program takes (`purchase.partner`).
    /// A partner's purchase earns only by rules that name the partner in
    /// `when.partners`, and its lot records the partner for settlement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<String>,
    /// How long earned points stay pending before they can be spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Period>,
    /// When points expire.
    #[serde(default)]
    pub expiry: ExpirySpec,
    /// Lines that never earn.
    #[serde(default)]
    pub earning_base: EarningBase,
    /// Limits and windows.
    #[serde(default)]
    pub limits: Limits,
    /// Earn rules.
    #[serde(default)]
    pub earn: Vec<EarnRule>,
    /// Burn rules (ways to pay with points).
    #[serde(default)]
    pub burn: Vec<BurnRule>,
    /// Named values scripts read with `program.constant("name")`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constants: BTreeMap<String, Constant>,
    /// Levels members reach and keep (see [`crate::tier`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<TierSpec>,
    /// Points for `activity` events (see [`crate::engagement`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<ActivityRule>,
    /// Limits and expiry of credits by reason code (`adjust_reasons.goodwill`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adjust_reasons: BTreeMap<String, AdjustReason>,
    /// Transfers of points between members; without it, transfers are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<crate::engagement::TransferSpec>,
    /// Promotions members choose for themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotions: Vec<crate::engagement::ChosenPromotion>,
    /// Points for joining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signup: Option<crate::engagement::SignupBonus>,
    /// Points on the member's birthday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<BirthdayBonus>,
    /// Signals about time passing (points about to expire, sleeping members).
    #[serde(default, skip_serializing_if = "SignalSpec::is_empty")]
    pub signals: SignalSpec,
    /// Campaigns whose members are split between variants (A/B tests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<Campaign>,
    /// Challenges: targets that bring points and badges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub challenges: Vec<crate::engagement::Challenge>,
    /// A two-sided referral bonus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<crate::engagement::ReferralSpec>,
    /// The rewards catalog (see [`crate::reward`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewards: Vec<Reward>,
}

/// The point unit of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsSpec {
    /// Fraction digits of a point: 0 (whole points, the default) to 4.
    /// Every point quantity in events, receipts and this file is an integer
    /// count of the smallest unit: with scale 2, `1250` is 12.50 points.
    #[serde(default)]
    pub scale: u32,
    /// Default rounding of earn rules.
    #[serde(default)]
    pub rounding: Rounding,
    /// Default place of rounding of earn rules.
    #[serde(default)]
    pub round: RoundAt,
    /// Money value of one whole point when paying with it; also the money
    /// value of a point for `percent` rules. Default 1.
    #[serde(default = "one")]
    pub value: Amount,
}

fn one() -> Amount {
    Amount::from_int(1)
}

impl Default for PointsSpec {
    fn default() -> Self {
        PointsSpec { scale: 0, rounding: Rounding::Floor, round: RoundAt::PerTransaction, value: one() }
    }
}

/// The kind of expiry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryKind {
    /// Points never expire.
    #[default]
    None,
    /// Each lot expires `period` after it was earned (or became available),
    /// then moved to the end of its day, month or year by `round_to`.
    After,
    /// Each lot expires at the end of the first `month`/`day` on or after the
    /// day it was earned, `years_after` years later.
    FixedDate,
    /// All points expire `period` after the member's last qualifying
    /// activity (a purchase); every purchase pushes all of them out.
    Inactivity,
}

/// Where an `after` expiry counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryFrom {
    /// From the instant the points were earned.
    #[default]
    Earned,
    /// From the instant the points became available (after pending).
    Available,
}

/// The expiry policy of a program.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpirySpec {
    /// The policy.
    #[serde(default)]
    pub kind: ExpiryKind,
    /// The length, for `after` and `inactivity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// For `after`: count from earning or from availability.
    #[serde(default)]
    pub from: ExpiryFrom,
    /// For `after` and `inactivity`: move the instant to the end of its local day, month or year.
    #[serde(default)]
    pub round_to: RoundTo,
    /// For `fixed_date`: the month (1–12) of the last usable day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<u32>,
    /// For `fixed_date`: the last usable day of the month (29 February becomes 28 in common years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    /// For `fixed_date`: how many years after the first such date.
    #[serde(default)]
    pub years_after: u32,
}

/// Lines excluded from every earn rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarningBase {
    /// Categories that never earn (delivery, services, gift cards).
    #[serde(default)]
    pub exclude_categories: Vec<String>,
    /// SKUs that never earn.
    #[serde(default)]
    pub exclude_skus: Vec<String>,
    /// Lines discounted by more than this percent of their price earn nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_line_discount_percent: Option<Amount>,
}

/// Limits and windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// At most this many purchases a local day earn points; later ones earn nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earning_purchases_per_day: Option<u32>,
    /// A return may take the balance below zero (the debt is paid from later points).
    /// Without it, what cannot be taken back is reported as a shortfall.
    #[serde(default)]
    pub allow_negative_balance: bool,
    /// How far behind the member's clock an event may be (offline POS). At most 31 days.
    #[serde(default = "default_late_window")]
    pub late_window: Period,
    /// How long after a purchase it may be returned.
    #[serde(default = "default_return_window")]
    pub return_window: Period,
    /// How many event ids a member remembers for idempotency (1 to 100 000).
    #[serde(default = "default_remember_events")]
    pub remember_events: u32,
    /// How many of the latest receipts a member keeps to answer retries (0 to 64;
    /// default 1, the last event's, which is what a POS retry asks for).
    #[serde(default = "default_keep_receipts")]
    pub keep_receipts: u32,
}

fn default_late_window() -> Period {
    Period::Hours(72)
}
fn default_return_window() -> Period {
    Period::Days(365)
}
fn default_remember_events() -> u32 {
    1_000
}
fn default_keep_receipts() -> u32 {
    1
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            earning_purchases_per_day: None,
            allow_negative_balance: false,
            late_window: default_late_window(),
            return_window: default_return_window(),
            remember_events: default_remember_events(),
            keep_receipts: default_keep_receipts(),
        }
    }
}

/// The kind of an earn rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EarnKind {
    /// `points` for every `per` of money spent on matching lines.
    PerAmount,
    /// `percent` of the money spent on matching lines, as points worth that
    /// much money (cashback; see `points.value`).
    Percent,
    /// A fixed bonus of `points` when the rule's conditions hold and it has at
    /// least one matching line.
    Fixed,
    /// Multiplies the points other rules (`applies_to`, default all
    /// `per_amount` and `percent` rules) earn on matching lines by `factor`:
    /// the rule adds `(factor − 1)` × those points.
    Multiplier,
    /// A rhai script (see `script`): points (a stage-one rule like
    /// `per_amount`) or a multiplier (a stage-two rule like `multiplier`),
    /// once per line or once per basket. The rule's `when` conditions still
    /// apply; the script only runs when they hold.
    Script,
}

/// Whether a rule combines with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stacking {
    /// Applies alongside every other rule.
    #[default]
    Stackable,
    /// Competes with the other exclusive rules of its stage: only the one
    /// giving the most points applies (ties: lower priority, then id).
    Exclusive,
}

/// When a rule applies. Empty lists mean "no restriction".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Only lines of these categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Never lines of these categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_categories: Vec<String>,
    /// Only lines with these SKUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<String>,
    /// Never lines with these SKUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_skus: Vec<String>,
    /// Only purchases in these channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Only purchases in these stores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<String>,
    /// Only when the rule's matching lines sum to at least this much money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_basket: Option<Amount>,
    /// First local date the rule applies (`"2026-12-01"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Last local date the rule applies, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// Only on these local weekdays.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<Weekday>,
    /// Only inside this local time-of-day window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_of_day: Option<TimeWindow>,
    /// Only for members whose profile attributes have these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Only for members at one of these tier levels at the event's instant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// Only on the member's birthday (`"day"`) or in its month (`"month"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<BirthdayWhen>,
    /// Only purchases from these partners. A rule without partners applies
    /// to the program's own purchases only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<String>,
    /// Only on a day the member chose for this promotion (`promotions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
    /// Only for members in one of these campaign variants (`"spring/b"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

/// Limits on the points one rule gives a member, in point units.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// At most this many points per purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_transaction: Option<Points>,
    /// At most this many points per local day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<Points>,
    /// At most this many points per local calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_month: Option<Points>,
    /// At most this many points ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Points>,
}

impl Caps {
    fn is_empty(&self) -> bool {
        self == &Caps::default()
    }
}

/// An earn rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarnRule {
    /// Rule id, unique among all rules.
    pub id: String,
    /// The name members see in receipts ("Double points Tuesday"); defaults to the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The kind.
    pub kind: EarnKind,
    /// `per_amount`: points (units) per `per`; `fixed`: the bonus (units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Points>,
    /// `per_amount`: the money amount that earns `points`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<Amount>,
    /// `percent`: the percent of the amount given back as points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Amount>,
    /// `multiplier`: the factor, greater than 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<Amount>,
    /// `multiplier`: the rules multiplied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applies_to: Vec<String>,
    /// Rounding; defaults to `points.rounding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounding: Option<Rounding>,
    /// Place of rounding; defaults to `points.round`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<RoundAt>,
    /// Order in receipts and tie-breaks: lower first.
    #[serde(default)]
    pub priority: i32,
    /// Stackable or exclusive.
    #[serde(default)]
    pub stacking: Stacking,
    /// Conditions.
    #[serde(default)]
    pub when: Conditions,
    /// Caps.
    #[serde(default, skip_serializing_if = "Caps::is_empty")]
    pub caps: Caps,
    /// `script`: the script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptSpec>,
}

impl EarnRule {
    /// True for the rules of the second stage: multipliers, built-in or scripted.
    pub(crate) fn multiplies(&self) -> bool {
        self.shape().multiplies()
    }

    pub(crate) fn shape(&self) -> crate::earn::Shape {
        crate::earn::Shape::of(self.kind, self.script.as_ref())
    }
}

/// A burn rule: a way to pay with points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRule {
    /// Rule id, unique among all rules.
    pub id: String,
    /// A name for people; defaults to the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Money value of one whole point; defaults to `points.value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Amount>,
    /// The fewest points one burn may use (units).
    #[serde(default)]
    pub min_points: Points,
    /// Burns are multiples of this many units. Default 1.
    #[serde(default = "one_unit")]
    pub step_points: Points,
    /// At most this percent of the eligible basket may be paid in points,
    /// counting every earlier burn (less what returns gave back) and open
    /// hold for the same order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_share_percent: Option<Amount>,
    /// Lines of these categories cannot be paid with points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_categories: Vec<String>,
    /// Lines with these SKUs cannot be paid with points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_skus: Vec<String>,
    /// At most this many burns (redeem or hold) per local day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_per_day: Option<u32>,
    /// How long a hold lasts before it is released. Default 15 minutes.
    #[serde(default = "default_hold_timeout")]
    pub hold_timeout: Period,
    /// A script deciding whether a burn is allowed (`gives = "allow"`) or
    /// how many points it may use at most (`gives = "limit"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptSpec>,
}

fn one_unit() -> Points {
    1
}
fn default_hold_timeout() -> Period {
    Period::Minutes(15)
}

/// A set of categories, by their index in the sorted list of categories.
#[derive(Debug, Clone, Default)]
pub(crate) struct CategorySet(Box<[u64]>);

impl CategorySet {
    fn of(names: &[String], all: &[String]) -> CategorySet {
        let mut words = vec![0_u64; all.len().div_ceil(64)];
        for n in names {
            if let Ok(i) = all.binary_search(n) {
                words[i / 64] |= 1 << (i % 64);
            }
        }
        CategorySet(words.into_boxed_slice())
    }

    #[inline]
    pub(crate) fn contains(&self, category: u32) -> bool {
        let i = category as usize;
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// A rule's conditions on a basket line, lowered at load to one test of a
/// bit: a line passes when its category's bit (see
/// [`CategoryLookup::bit`]) is in `mask` and, where `full` says so, the
/// rule's sets accept it when asked in full. Every line of every rule is
/// tested, so the common case — a program of at most 64 categories, a rule
/// with no SKU condition — is one `and`, not a look into two sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineTest {
    /// The categories `include` holds and `exclude` does not (every bit
    /// when the program has more than 64 categories: `full` then decides).
    pub(crate) mask: u64,
    /// The line must also pass the rule's full test (SKU conditions, or
    /// more than 64 categories).
    pub(crate) full: bool,
}

impl LineTest {
    /// The test for lines in `include` (every category when `None`) and
    /// not in `exclude`, in a program of `categories` categories; `skus`
    /// when the rule also has SKU conditions.
    fn new(include: Option<&CategorySet>, exclude: &CategorySet, categories: usize, skus: bool) -> LineTest {
        if categories > 64 {
            return LineTest { mask: u64::MAX, full: true };
        }
        let word = |set: &CategorySet| set.0.first().copied().unwrap_or(0);
        let all = u64::MAX >> (64 - categories.max(1));
        LineTest { mask: include.map_or(all, word) & !word(exclude), full: skus }
    }

    /// Whether a line of category bit `bit` passes the mask.
    #[inline(always)]
    pub(crate) fn passes(self, bit: u64) -> bool {
        self.mask & bit != 0
    }
}

/// Declared category name → its index in the sorted list of categories.
///
/// Every line of every event looks its category up. A program declares a
/// few categories, so up to [`CategoryLookup::SCAN_MAX`] of them are found
/// by a scan of (length, word) keys, the word made of the name's bytes as
/// [`word_of`] reads them: for a name of at most 8 bytes that pair is the
/// name itself, so a match needs no further comparison (longer names are
/// compared in full when their keys match). More categories go to a hash
/// table.
#[derive(Debug, Clone)]
pub(crate) struct CategoryLookup {
    /// (length, word, index) per category, for a scan.
    keys: Box<[(usize, u64, u32)]>,
    names: Box<[String]>,
    /// For more than `SCAN_MAX` categories.
    map: Option<HashMap<String, u32, BuildHasherDefault<StableHasher>>>,
}

impl CategoryLookup {
    /// The most categories found by a scan.
    const SCAN_MAX: usize = 32;

    fn new(sorted: &[String]) -> CategoryLookup {
        let map = (sorted.len() > Self::SCAN_MAX)
            .then(|| sorted.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect());
        let keys = match map {
            Some(_) => Box::default(),
            None => sorted.iter().enumerate().map(|(i, c)| (c.len(), word_of(c.as_bytes()), i as u32)).collect(),
        };
        CategoryLookup { keys, names: sorted.into(), map }
    }

    /// The bit of category `index` in a [`LineTest`]'s mask: `1 << index`,
    /// or every bit when there are more than 64 categories.
    #[inline]
    pub(crate) fn bit(&self, index: u32) -> u64 {
        if self.names.len() > 64 {
            u64::MAX
        } else {
            1 << (index % 64)
        }
    }

    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        if let Some(map) = &self.map {
            return map.get(name).copied();
        }
        let (len, word) = (name.len(), word_of(name.as_bytes()));
        self.keys
            .iter()
            .find(|&&(l, w, i)| l == len && w == word && (len <= 8 || self.names[i as usize] == name))
            .map(|&(_, _, i)| i)
    }
}

/// Up to eight bytes of `b` as one word, without a copy: all of them when
/// there are at most 8 (so that, with the length, the word is the text),
/// else the first eight XOR the last eight.
#[inline]
fn word_of(b: &[u8]) -> u64 {
    use crate::number::{le32, le64};
    match b.len() {
        9.. => le64(b, 0) ^ le64(b, b.len() - 8).rotate_left(7),
        8 => le64(b, 0),
        // The first four and the last four bytes (overlapping): with the
        // length, every byte is known.
        4..8 => le32(b, 0) | le32(b, b.len() - 4) << 32,
        n => (0..n).fold(0, |w, i| w | u64::from(b[i]) << (8 * i)),
    }
}

/// A compiled earn rule.
#[derive(Debug, Clone)]
pub(crate) struct CompiledEarn {
    pub(crate) index: usize,
    /// Id and name, shared with the receipts that name the rule.
    pub(crate) id: std::sync::Arc<str>,
    pub(crate) name: std::sync::Arc<str>,
    /// The key of the rule's daily counter, `earn:<id>`.
    pub(crate) day_key: std::sync::Arc<str>,
    /// Points (in units) per money unit = `rate_num / rate_den`, in lowest
    /// terms; for a line of [`Money`] `a` the exact points are
    /// `a × rate_num / (rate_den × 10¹²)` (that divisor is `div`).
    pub(crate) rate_num: i128,
    pub(crate) rate_den: i128,
    /// Fine points of the rate are whole on amounts that are multiples of
    /// 10^`exact_exp` (see [`crate::number::decimal_exp`]).
    pub(crate) exact_exp: u8,
    /// For multipliers: factor − 1 = `extra_num / div`, where the divisor
    /// also carries the 10¹² of the fine points it multiplies.
    pub(crate) extra_num: i128,
    pub(crate) fixed: Points,
    /// For multipliers: indices (into `Program::earn`) of the rules multiplied.
    pub(crate) targets: Vec<usize>,
    pub(crate) rounding: Rounding,
    pub(crate) round: RoundAt,
    pub(crate) exclusive: bool,
    pub(crate) when: Conditions,
    /// `when.tiers` as a set of level indices (bit `i`: level `i`); 0: any level.
    pub(crate) tiers: u32,
    /// `when.categories` (`None`: every category) and `when.exclude_categories`.
    pub(crate) include: Option<CategorySet>,
    pub(crate) exclude: CategorySet,
    /// `include`, `exclude` and the SKU conditions lowered to a bit test.
    pub(crate) lines: LineTest,
    pub(crate) min_basket: Option<Money>,
    pub(crate) caps: Caps,
    /// `script` rules: the compiled script (boxed: built-in rules stay small).
    pub(crate) script: Option<Box<Script>>,
    /// How the rule turns lines into points (see `earn`), and the divisor
    /// of its per-line numerators.
    pub(crate) shape: crate::earn::Shape,
    pub(crate) div: i128,
    /// True when no condition on the event's context applies (channel,
    /// store, dates, weekdays, time of day, chosen day, variants, partners,
    /// tiers, birthday, attributes): the rule then matches every context
    /// but a partner's purchase, without checking each condition.
    pub(crate) context_free: bool,
    /// True when `caps` sets any cap.
    pub(crate) capped: bool,
    /// `when.attributes` as a slice: walked on every evaluation, faster
    /// than the map's iterator.
    pub(crate) attributes: Box<[(Box<str>, Box<str>)]>,
}

/// A compiled burn rule.
#[derive(Debug, Clone)]
pub(crate) struct CompiledBurn {
    pub(crate) spec: BurnRule,
    pub(crate) value: Decimal,
    pub(crate) exclude: CategorySet,
    /// `exclude` and `exclude_skus` lowered to a bit test.
    pub(crate) lines: LineTest,
    /// The most point units payable for eligible [`Money`] `a` are
    /// `⌊a × limit_num / limit_den_money⌋` (max share × point units per money unit).
    pub(crate) limit_num: u128,
    pub(crate) limit_den_money: u128,
    pub(crate) script: Option<Box<Script>>,
}

/// A validated, compiled program: immutable, `Send + Sync`.
///
/// ```
/// let program = loyalty::Program::from_toml_str(r#"
/// id = "demo"
/// currency = "RUB"
/// time_zone = "Europe/Moscow"
/// categories = ["coffee"]
///
/// [[earn]]
/// id = "base"
/// kind = "per_amount"
/// points = 1
/// per = "10"
/// "#).unwrap();
/// assert_eq!(program.id(), "demo");
/// ```
#[derive(Debug, Clone)]
pub struct Program {
    pub(crate) spec: ProgramSpec,
    pub(crate) zone: Tz,
    /// Declared category → its index in the sorted list of categories (a
    /// line's category is that index).
    pub(crate) category_lookup: CategoryLookup,
    /// `earning_base.exclude_categories`.
    pub(crate) base_exclude: CategorySet,
    /// Rules in evaluation order: by (priority, id).
    pub(crate) earn: Vec<CompiledEarn>,
    pub(crate) burn: Vec<CompiledBurn>,
    pub(crate) max_discount: Option<Decimal>,
    /// The sandbox and the `program` view, when the program has scripts.
    pub(crate) scripts: Option<std::sync::Arc<(Sandbox, ProgramView)>>,
    /// The tier ladder, when the program has one.
    pub(crate) tiers: Option<Tiers>,
    /// `spec.currency`, shared by the burn entries' texts.
    pub(crate) currency: std::sync::Arc<str>,
}

impl Program {
    /// Parses, validates and compiles a TOML program.
    ///
    /// ```
    /// let err = loyalty::Program::from_toml_str("id = \"x\"\ncurrency = \"RUB\"\ntime_zone = \"Mars/Olympus\"\n").unwrap_err();
    /// assert_eq!(err.to_string(), "program: time_zone: 'Mars/Olympus' is not an IANA time zone");
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Program> {
        let spec: ProgramSpec = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((1, 1));
            Error::ProgramSyntax { line, column, message: e.message().to_owned() }
        })?;
        Program::from_spec(spec)
    }

    /// Parses, validates and compiles a JSON program (the same schema as TOML).
    ///
    /// ```
    /// let p = loyalty::Program::from_json_str(
    ///     r#"{"id":"j","currency":"EUR","time_zone":"Europe/Berlin"}"#).unwrap();
    /// assert_eq!(p.spec().currency, "EUR");
    /// ```
    pub fn from_json_str(text: &str) -> Result<Program> {
        let spec: ProgramSpec = serde_json::from_str(text).map_err(|e| {
            let (line, column, message) = json_error(text, &e);
            Error::ProgramSyntax { line, column, message }
        })?;
        Program::from_spec(spec)
    }

    /// Validates and compiles a program already in memory.
    ///
    /// ```
    /// let p = loyalty::Program::from_json_str(r#"{"id":"j","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let again = loyalty::Program::from_spec(p.spec().clone()).unwrap();
    /// assert_eq!(again.id(), "j");
    /// ```
    pub fn from_spec(spec: ProgramSpec) -> Result<Program> {
        validate(&spec)?;
        compile(spec)
    }

    /// The program id.
    ///
    /// ```
    /// let p = loyalty::Program::from_json_str(r#"{"id":"j","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// assert_eq!(p.id(), "j");
    /// ```
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The program as written (after defaults).
    ///
    /// ```
    /// let p = loyalty::Program::from_json_str(r#"{"id":"j","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// assert_eq!(p.spec().points.scale, 0);
    /// ```
    pub fn spec(&self) -> &ProgramSpec {
        &self.spec
    }

    /// The program's time zone.
    ///
    /// ```
    /// let p = loyalty::Program::from_json_str(r#"{"id":"j","currency":"EUR","time_zone":"Europe/Paris"}"#).unwrap();
    /// assert_eq!(p.time_zone(), chrono_tz::Europe::Paris);
    /// ```
    pub fn time_zone(&self) -> Tz {
        self.zone
    }

    /// The variant of a campaign a member is in: a fixed function of the two
    /// ids (see [`crate::engagement::slot`]). `None` for an unknown campaign.
    ///
    /// ```
    /// let p = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC",
    ///   "campaigns":[{"id":"spring","variants":[{"id":"a"},{"id":"b"}]}]}"#).unwrap();
    /// let v = p.variant("m-42", "spring").unwrap();
    /// assert!(v == "a" || v == "b");
    /// assert_eq!(p.variant("m-42", "autumn"), None);
    /// ```
    pub fn variant(&self, member: &str, campaign: &str) -> Option<&str> {
        let c = self.spec.campaigns.iter().find(|c| c.id == campaign)?;
        Some(crate::engagement::variant_of(member, c))
    }

    /// The index of a declared category.
    #[inline]
    pub(crate) fn category_index(&self, name: &str) -> Option<u32> {
        self.category_lookup.get(name)
    }

    /// The point scale (fraction digits of a point).
    pub(crate) fn scale(&self) -> u32 {
        self.spec.points.scale
    }

    pub(crate) fn burn_rule(&self, event: &str, id: Option<&str>) -> Result<&CompiledBurn> {
        match id {
            Some(id) => self.burn.iter().find(|b| b.spec.id == id).ok_or_else(|| Error::NotFound {
                event: event.to_owned(),
                what: "burn rule",
                id: id.to_owned(),
            }),
            None => self.burn.first().ok_or_else(|| Error::NotFound {
                event: event.to_owned(),
                what: "burn rule",
                id: "(the program has none)".to_owned(),
            }),
        }
    }
}

fn check_name(path: &str, rule: Option<&str>, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(path, rule, "must not be empty"));
    }
    if value.len() > crate::event::ID_LEN_MAX {
        return Err(Error::invalid(path, rule, format!("longer than {} bytes", crate::event::ID_LEN_MAX)));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(path, rule, "contains a control character"));
    }
    Ok(())
}

fn check_categories(path: &str, rule: Option<&str>, list: &[String], known: &BTreeSet<&str>) -> Result<()> {
    for (i, c) in list.iter().enumerate() {
        if !known.contains(c.as_str()) {
            return Err(Error::invalid(
                format!("{path}[{i}]"),
                rule,
                format!("category '{c}' is not declared in `categories`"),
            ));
        }
    }
    Ok(())
}

fn check_positive_amount(path: &str, rule: Option<&str>, value: Amount) -> Result<()> {
    if value.is_negative() || value.is_zero() {
        return Err(Error::invalid(path, rule, format!("must be greater than zero, not {value}")));
    }
    Ok(())
}

fn check_percent(path: &str, rule: Option<&str>, value: Amount) -> Result<()> {
    check_positive_amount(path, rule, value)?;
    if value.decimal() > Decimal::ONE_HUNDRED {
        return Err(Error::invalid(path, rule, format!("a percent is at most 100, not {value}")));
    }
    Ok(())
}

fn check_points(path: &str, rule: Option<&str>, value: Points) -> Result<()> {
    if value <= 0 {
        return Err(Error::invalid(path, rule, format!("must be greater than zero, not {value}")));
    }
    Ok(())
}

fn validate(spec: &ProgramSpec) -> Result<()> {
    check_name("id", None, &spec.id)?;
    if spec.currency.len() != 3 || !spec.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::invalid(
            "currency",
            None,
            format!("'{}' is not an ISO 4217 code like \"RUB\"", spec.currency),
        ));
    }
    if spec.time_zone.parse::<Tz>().is_err() {
        return Err(Error::invalid("time_zone", None, format!("'{}' is not an IANA time zone", spec.time_zone)));
    }
    if spec.points.scale > POINT_SCALE_MAX {
        return Err(Error::invalid(
            "points.scale",
            None,
            format!("at most {POINT_SCALE_MAX}, not {}", spec.points.scale),
        ));
    }
    check_positive_amount("points.value", None, spec.points.value)?;

    if spec.categories.len() > CATEGORIES_MAX {
        return Err(Error::invalid("categories", None, format!("at most {CATEGORIES_MAX} categories")));
    }
    let mut known = BTreeSet::new();
    for (i, c) in spec.categories.iter().enumerate() {
        check_name(&format!("categories[{i}]"), None, c)?;
        if !known.insert(c.as_str()) {
            return Err(Error::invalid(format!("categories[{i}]"), None, format!("category '{c}' is declared twice")));
        }
    }

    let mut partners = BTreeSet::new();
    for (i, p) in spec.partners.iter().enumerate() {
        check_name(&format!("partners[{i}]"), None, p)?;
        if !partners.insert(p.as_str()) {
            return Err(Error::invalid(format!("partners[{i}]"), None, format!("partner '{p}' is declared twice")));
        }
    }
    check_categories("earning_base.exclude_categories", None, &spec.earning_base.exclude_categories, &known)?;
    if let Some(p) = spec.earning_base.max_line_discount_percent {
        check_percent("earning_base.max_line_discount_percent", None, p)?;
    }

    validate_expiry(&spec.expiry)?;

    let limits = &spec.limits;
    if limits.earning_purchases_per_day == Some(0) {
        return Err(Error::invalid("limits.earning_purchases_per_day", None, "must be at least 1"));
    }
    let late_ok = match limits.late_window {
        Period::Minutes(n) => n <= LATE_WINDOW_DAYS_MAX * 1440,
        Period::Hours(n) => n <= LATE_WINDOW_DAYS_MAX * 24,
        Period::Days(n) => n <= LATE_WINDOW_DAYS_MAX,
        Period::Months(_) => false,
    };
    if !late_ok {
        return Err(Error::invalid("limits.late_window", None, format!("at most {LATE_WINDOW_DAYS_MAX} days")));
    }
    if !(1..=100_000).contains(&limits.remember_events) {
        return Err(Error::invalid("limits.remember_events", None, "must be from 1 to 100000"));
    }
    if limits.keep_receipts > 64 || limits.keep_receipts > limits.remember_events {
        return Err(Error::invalid("limits.keep_receipts", None, "must be at most 64 and at most remember_events"));
    }

    if spec.earn.len() > RULES_MAX || spec.burn.len() > RULES_MAX {
        return Err(Error::invalid("earn", None, format!("at most {RULES_MAX} earn and {RULES_MAX} burn rules")));
    }
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for (i, rule) in spec.earn.iter().enumerate() {
        check_name(&format!("earn[{i}].id"), None, &rule.id)?;
        if !ids.insert(&rule.id) {
            return Err(Error::invalid(format!("earn[{i}].id"), Some(&rule.id), "rule id is used twice"));
        }
    }
    for (i, rule) in spec.burn.iter().enumerate() {
        check_name(&format!("burn[{i}].id"), None, &rule.id)?;
        if !ids.insert(&rule.id) {
            return Err(Error::invalid(format!("burn[{i}].id"), Some(&rule.id), "rule id is used twice"));
        }
    }
    for (i, rule) in spec.earn.iter().enumerate() {
        validate_earn(spec, i, rule, &known)?;
    }
    for (i, rule) in spec.burn.iter().enumerate() {
        let path = format!("burn[{i}]");
        let r = Some(rule.id.as_str());
        if let Some(v) = rule.value {
            check_positive_amount(&format!("{path}.value"), r, v)?;
        }
        if rule.min_points < 0 {
            return Err(Error::invalid(format!("{path}.min_points"), r, "must not be negative"));
        }
        check_points(&format!("{path}.step_points"), r, rule.step_points)?;
        if let Some(p) = rule.max_share_percent {
            check_percent(&format!("{path}.max_share_percent"), r, p)?;
        }
        check_categories(&format!("{path}.exclude_categories"), r, &rule.exclude_categories, &known)?;
        if rule.uses_per_day == Some(0) {
            return Err(Error::invalid(format!("{path}.uses_per_day"), r, "must be at least 1"));
        }
        if let Some(script) = &rule.script {
            if !matches!(script.gives, ScriptGives::Allow | ScriptGives::Limit) {
                return Err(Error::invalid(
                    format!("{path}.script.gives"),
                    r,
                    format!("a burn script gives \"allow\" or \"limit\", not {:?}", script.gives),
                ));
            }
            if script.each.is_some() {
                return Err(Error::invalid(format!("{path}.script.each"), r, "does not apply to burn scripts"));
            }
            if script.skip_on_error {
                return Err(Error::invalid(
                    format!("{path}.script.skip_on_error"),
                    r,
                    "does not apply to burn scripts: a failing burn script always refuses the burn",
                ));
            }
            if let Some(m) = script.max_points {
                check_points(&format!("{path}.script.max_points"), r, m)?;
            }
        }
    }
    if let Some(tiers) = &spec.tiers {
        validate_tiers(tiers, &ids)?;
    }
    validate_engagement(spec, &ids)?;
    for name in spec.constants.keys() {
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 64;
        if !ok {
            return Err(Error::invalid(
                format!("constants.{name}"),
                None,
                "a constant's name is letters, digits and `_`, starting with a letter or `_`, at most 64 long",
            ));
        }
    }
    Ok(())
}

fn validate_tiers(t: &TierSpec, rule_ids: &BTreeSet<&str>) -> Result<()> {
    let err = |path: String, level: Option<&str>, msg: String| Error::invalid(format!("tiers.{path}"), level, msg);
    if t.levels.is_empty() || t.levels.len() > crate::tier::LEVELS_MAX {
        return Err(err("levels".into(), None, format!("from 1 to {} levels", crate::tier::LEVELS_MAX)));
    }
    match (t.measure, &t.counter) {
        (TierMeasure::Counter, None) => {
            return Err(err("counter".into(), None, "is required for measure \"counter\"".into()));
        }
        (TierMeasure::Counter, Some(c)) => check_name("tiers.counter", None, c)?,
        (_, Some(_)) => return Err(err("counter".into(), None, "applies only to measure \"counter\"".into())),
        _ => {}
    }
    if let TierWindow::RollingMonths(n) = t.window {
        if !(1..=120).contains(&n) {
            return Err(err("window.rolling_months".into(), None, format!("must be from 1 to 120, not {n}")));
        }
    }
    if t.keep > 10 {
        return Err(err("keep".into(), None, format!("at most 10 windows, not {}", t.keep)));
    }
    if t.keep == 0 && matches!(t.window, TierWindow::RollingMonths(_)) {
        return Err(err("keep".into(), None, "must be at least 1 with a rolling window".into()));
    }
    let p = t.close_percent.decimal();
    if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED {
        return Err(err("close_percent".into(), None, format!("must be above 0 and at most 100, not {p}")));
    }
    let mut seen = BTreeSet::new();
    let mut last_min: Option<Decimal> = None;
    for (i, l) in t.levels.iter().enumerate() {
        let path = |f: &str| format!("levels[{i}].{f}");
        let lv = Some(l.id.as_str());
        check_name(&format!("tiers.levels[{i}].id"), None, &l.id)?;
        if !seen.insert(l.id.as_str()) {
            return Err(err(path("id"), lv, "level id is used twice".into()));
        }
        if rule_ids.contains(format!("tier:{}", l.id).as_str()) {
            return Err(err(path("id"), lv, format!("the rule id 'tier:{}' is taken by an earn or burn rule", l.id)));
        }
        if i == 0 {
            for (field, set) in [
                ("min", l.min.is_some()),
                ("subscription", l.subscription.is_some()),
                ("script", l.script.is_some()),
                ("multiplier", l.multiplier.is_some()),
            ] {
                if set {
                    return Err(err(path(field), lv, "does not apply to the base level (the first)".into()));
                }
            }
        }
        if let Some(min) = l.min {
            if min.decimal() <= Decimal::ZERO {
                return Err(err(path("min"), lv, format!("must be greater than 0, not {min}")));
            }
            if let Some(prev) = last_min.filter(|prev| min.decimal() <= *prev) {
                return Err(err(path("min"), lv, format!("must be greater than the level below's {prev}")));
            }
            if t.measure != TierMeasure::Spend && min.decimal().fract() != Decimal::ZERO {
                return Err(err(path("min"), lv, "must be a whole number for this measure".into()));
            }
            last_min = Some(min.decimal());
        }
        if let Some(f) = l.multiplier {
            if f.decimal() <= Decimal::ONE || f.decimal() > Decimal::ONE_HUNDRED {
                return Err(err(path("multiplier"), lv, format!("must be greater than 1 and at most 100, not {f}")));
            }
        }
        for (j, perk) in l.perks.iter().enumerate() {
            check_name(&format!("tiers.levels[{i}].perks[{j}]"), lv, perk)?;
        }
        if let Some(s) = &l.subscription {
            if s.period.count() == 0 {
                return Err(err(path("subscription.period"), lv, "must not be empty".into()));
            }
            if let Some(price) = s.price {
                if price.is_negative() {
                    return Err(err(path("subscription.price"), lv, "must not be negative".into()));
                }
            }
        }
        if let Some(script) = &l.script {
            if script.gives != ScriptGives::Allow {
                return Err(err(path("script.gives"), lv, "a tier script gives \"allow\"".into()));
            }
            if script.each.is_some() || script.max_points.is_some() || script.skip_on_error {
                return Err(err(
                    path("script"),
                    lv,
                    "a tier script takes only `source` and `gives = \"allow\"`".into(),
                ));
            }
        }
    }
    Ok(())
}

fn validate_engagement(spec: &ProgramSpec, rule_ids: &BTreeSet<&str>) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (i, a) in spec.activities.iter().enumerate() {
        let path = |f: &str| format!("activities[{i}].{f}");
        let r = Some(a.id.as_str());
        check_name(&path("id"), None, &a.id)?;
        if !seen.insert(a.id.as_str()) {
            return Err(Error::invalid(path("id"), r, "activity id is used twice"));
        }
        if rule_ids.contains(a.id.as_str()) {
            return Err(Error::invalid(path("id"), r, "the id is taken by an earn or burn rule"));
        }
        check_points(&path("points"), r, a.points)?;
        for (field, v) in [("max_per_day", a.max_per_day), ("max_per_month", a.max_per_month), ("max_ever", a.max_ever)]
        {
            if v == Some(0) {
                return Err(Error::invalid(path(field), r, "must be at least 1"));
            }
        }
    }
    for (code, reason) in &spec.adjust_reasons {
        check_name("adjust_reasons", None, code)?;
        if let Some(m) = reason.max_per_month {
            check_points(&format!("adjust_reasons.{code}.max_per_month"), None, m)?;
        }
        if reason.expires_after.is_some_and(|p| p.count() == 0) {
            return Err(Error::invalid(format!("adjust_reasons.{code}.expires_after"), None, "must not be empty"));
        }
    }
    let mut challenges = BTreeSet::new();
    for (i, c) in spec.challenges.iter().enumerate() {
        let path = |f: &str| format!("challenges[{i}].{f}");
        let r = Some(c.id.as_str());
        check_name(&path("id"), None, &c.id)?;
        if !challenges.insert(c.id.as_str()) {
            return Err(Error::invalid(path("id"), r, "challenge id is used twice"));
        }
        check_positive_amount(&path("target"), r, c.target)?;
        check_points(&path("points"), r, c.points)?;
        let windowed = c.kind != crate::engagement::ChallengeKind::WeeklyStreak;
        match (windowed, c.within) {
            (true, None) => return Err(Error::invalid(path("within"), r, "is required for count and sum challenges")),
            (false, Some(_)) => return Err(Error::invalid(path("within"), r, "does not apply to a weekly streak")),
            (_, Some(p)) if p.count() == 0 => return Err(Error::invalid(path("within"), r, "must not be empty")),
            _ => {}
        }
        if c.kind != crate::engagement::ChallengeKind::Sum && c.target.decimal().fract() != Decimal::ZERO {
            return Err(Error::invalid(path("target"), r, "must be a whole number for this kind"));
        }
        if let Some(b) = &c.badge {
            check_name(&path("badge"), r, b)?;
        }
        if c.max_completions.is_some_and(|p| p.count == 0) {
            return Err(Error::invalid(path("max_completions.count"), r, "must be at least 1"));
        }
    }
    if let Some(r) = &spec.referral {
        check_points("referral.referee_points", None, r.referee_points)?;
        check_points("referral.referrer_points", None, r.referrer_points)?;
        if r.min_order.is_negative() {
            return Err(Error::invalid("referral.min_order", None, "must not be negative"));
        }
        if r.max_per_referrer.is_some_and(|p| p.count == 0) {
            return Err(Error::invalid("referral.max_per_referrer.count", None, "must be at least 1"));
        }
    }
    let mut promotions = BTreeSet::new();
    for (i, p) in spec.promotions.iter().enumerate() {
        let r = Some(p.id.as_str());
        check_name(&format!("promotions[{i}].id"), None, &p.id)?;
        if !promotions.insert(p.id.as_str()) {
            return Err(Error::invalid(format!("promotions[{i}].id"), r, "promotion id is used twice"));
        }
        for (j, t) in p.tiers.iter().enumerate() {
            if !spec.tiers.as_ref().is_some_and(|tiers| tiers.levels.iter().any(|l| &l.id == t)) {
                return Err(Error::invalid(format!("promotions[{i}].tiers[{j}]"), r, format!("no tier level '{t}'")));
            }
        }
        if p.max.count == 0 {
            return Err(Error::invalid(format!("promotions[{i}].max.count"), r, "must be at least 1"));
        }
    }
    if let Some(t) = &spec.transfers {
        check_points("transfers.min_points", None, t.min_points)?;
        for (field, v) in [("max_out_per_month", t.max_out_per_month), ("max_in_per_month", t.max_in_per_month)] {
            if let Some(v) = v {
                check_points(&format!("transfers.{field}"), None, v)?;
            }
        }
    }
    if let Some(b) = &spec.signup {
        check_points("signup.points", None, b.points)?;
        if b.expires_after.is_some_and(|p| p.count() == 0) {
            return Err(Error::invalid("signup.expires_after", None, "must not be empty"));
        }
    }
    if let Some(b) = &spec.birthday {
        check_points("birthday.points", None, b.points)?;
    }
    // Receipts name earn and burn rules, activities, challenges and rewards
    // in the same `rule` field: one id, one thing.
    let mut receipt_ids: BTreeSet<&str> = rule_ids.clone();
    let named = spec
        .activities
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("activities[{i}].id"), a.id.as_str()))
        .chain(spec.challenges.iter().enumerate().map(|(i, c)| (format!("challenges[{i}].id"), c.id.as_str())))
        .chain(spec.rewards.iter().enumerate().map(|(i, r)| (format!("rewards[{i}].id"), r.id.as_str())));
    for (path, id) in named {
        if ["signup", "birthday", "referral"].contains(&id) || id.starts_with("tier:") {
            return Err(Error::invalid(path, Some(id), "the id is reserved for the engine's own bonuses"));
        }
        if !receipt_ids.insert(id) {
            return Err(Error::invalid(
                path,
                Some(id),
                "the id is taken by another rule, activity, challenge or reward",
            ));
        }
    }
    let mut campaigns = BTreeSet::new();
    for (i, c) in spec.campaigns.iter().enumerate() {
        let path = |f: &str| format!("campaigns[{i}].{f}");
        check_name(&path("id"), None, &c.id)?;
        if c.id.contains('/') || !campaigns.insert(c.id.as_str()) {
            return Err(Error::invalid(path("id"), None, format!("'{}' is used twice or contains '/'", c.id)));
        }
        if c.variants.is_empty() {
            return Err(Error::invalid(path("variants"), None, "a campaign needs at least one variant"));
        }
        let mut seen = BTreeSet::new();
        for (j, v) in c.variants.iter().enumerate() {
            check_name(&format!("campaigns[{i}].variants[{j}].id"), None, &v.id)?;
            if !seen.insert(v.id.as_str()) {
                return Err(Error::invalid(path("variants"), None, format!("variant '{}' is used twice", v.id)));
            }
            if !(1..=10_000).contains(&v.weight) {
                return Err(Error::invalid(
                    format!("campaigns[{i}].variants[{j}].weight"),
                    None,
                    format!("must be from 1 to 10000, not {}", v.weight),
                ));
            }
        }
    }
    let mut rewards = BTreeSet::new();
    for (i, rw) in spec.rewards.iter().enumerate() {
        let path = |f: &str| format!("rewards[{i}].{f}");
        let r = Some(rw.id.as_str());
        check_name(&path("id"), None, &rw.id)?;
        if !rewards.insert(rw.id.as_str()) {
            return Err(Error::invalid(path("id"), r, "reward id is used twice"));
        }
        check_points(&path("cost"), r, rw.cost)?;
        match rw.kind {
            RewardKind::FixedDiscount => {
                check_positive_amount(
                    &path("value"),
                    r,
                    rw.value.ok_or_else(|| Error::invalid(path("value"), r, "is required for a fixed_discount"))?,
                )?;
            }
            RewardKind::PercentDiscount => {
                check_percent(
                    &path("value"),
                    r,
                    rw.value.ok_or_else(|| Error::invalid(path("value"), r, "is required for a percent_discount"))?,
                )?;
            }
            RewardKind::FreeItem => {
                check_name(&path("sku"), r, rw.sku.as_deref().unwrap_or(""))?;
            }
            RewardKind::Voucher | RewardKind::Experience => {}
        }
        if rw.value.is_some() && !matches!(rw.kind, RewardKind::FixedDiscount | RewardKind::PercentDiscount) {
            return Err(Error::invalid(path("value"), r, "applies only to discounts"));
        }
        if rw.sku.is_some() && rw.kind != RewardKind::FreeItem {
            return Err(Error::invalid(path("sku"), r, "applies only to a free_item"));
        }
        for (j, t) in rw.tiers.iter().enumerate() {
            if !spec.tiers.as_ref().is_some_and(|tiers| tiers.levels.iter().any(|l| &l.id == t)) {
                return Err(Error::invalid(format!("rewards[{i}].tiers[{j}]"), r, format!("no tier level '{t}'")));
            }
        }
        if let (Some(from), Some(until)) = (rw.from, rw.until) {
            if from > until {
                return Err(Error::invalid(path("from"), r, format!("empty date range: {from} is after {until}")));
            }
        }
        if rw.per_member.is_some_and(|p| p.count == 0) {
            return Err(Error::invalid(path("per_member.count"), r, "must be at least 1"));
        }
        for (field, shared) in [("stock", &rw.stock), ("budget", &rw.budget)] {
            if let Some(s) = shared {
                if s.limit <= 0 {
                    return Err(Error::invalid(path(&format!("{field}.limit")), r, "must be greater than zero"));
                }
                if let Some(c) = &s.counter {
                    check_name(&path(&format!("{field}.counter")), r, c)?;
                }
            }
        }
        if rw.expires_after.is_some_and(|p| p.count() == 0) {
            return Err(Error::invalid(path("expires_after"), r, "must not be empty"));
        }
    }
    let s = &spec.signals;
    for (field, p) in
        [("expiring_within", s.expiring_within), ("at_risk_after", s.at_risk_after), ("lapsed_after", s.lapsed_after)]
    {
        if p.is_some_and(|p| p.count() == 0) {
            return Err(Error::invalid(format!("signals.{field}"), None, "must not be empty"));
        }
    }
    Ok(())
}

fn validate_expiry(e: &ExpirySpec) -> Result<()> {
    let stray = |field: &str| {
        Error::invalid(format!("expiry.{field}"), None, format!("does not apply to expiry kind {:?}", e.kind))
    };
    match e.kind {
        ExpiryKind::None => {
            if e.period.is_some() {
                return Err(stray("period"));
            }
            if e.month.is_some() || e.day.is_some() {
                return Err(stray("month"));
            }
        }
        ExpiryKind::After | ExpiryKind::Inactivity => {
            if e.period.is_none() {
                return Err(Error::invalid("expiry.period", None, "is required for this expiry kind"));
            }
            if e.month.is_some() || e.day.is_some() {
                return Err(stray("month"));
            }
            if e.kind == ExpiryKind::Inactivity && e.from != ExpiryFrom::Earned {
                return Err(stray("from"));
            }
        }
        ExpiryKind::FixedDate => {
            if e.period.is_some() {
                return Err(stray("period"));
            }
            let (Some(month), Some(day)) = (e.month, e.day) else {
                return Err(Error::invalid("expiry.month", None, "fixed_date needs month and day"));
            };
            // 2000 is a leap year, so 29 February is accepted here.
            if NaiveDate::from_ymd_opt(2000, month, day).is_none() {
                return Err(Error::invalid("expiry.day", None, format!("{month}/{day} is not a calendar date")));
            }
            if e.years_after > 100 {
                return Err(Error::invalid("expiry.years_after", None, "at most 100"));
            }
        }
    }
    Ok(())
}

fn validate_earn(spec: &ProgramSpec, i: usize, rule: &EarnRule, known: &BTreeSet<&str>) -> Result<()> {
    let path = format!("earn[{i}]");
    let r = Some(rule.id.as_str());
    let stray =
        |field: &str| Error::invalid(format!("{path}.{field}"), r, format!("does not apply to kind {:?}", rule.kind));
    let needs =
        |field: &str| Error::invalid(format!("{path}.{field}"), r, format!("is required for kind {:?}", rule.kind));
    match rule.kind {
        EarnKind::PerAmount => {
            check_points(&format!("{path}.points"), r, rule.points.ok_or_else(|| needs("points"))?)?;
            check_positive_amount(&format!("{path}.per"), r, rule.per.ok_or_else(|| needs("per"))?)?;
            if rule.percent.is_some() {
                return Err(stray("percent"));
            }
            if rule.factor.is_some() {
                return Err(stray("factor"));
            }
        }
        EarnKind::Percent => {
            check_percent(&format!("{path}.percent"), r, rule.percent.ok_or_else(|| needs("percent"))?)?;
            if rule.points.is_some() {
                return Err(stray("points"));
            }
            if rule.per.is_some() {
                return Err(stray("per"));
            }
            if rule.factor.is_some() {
                return Err(stray("factor"));
            }
        }
        EarnKind::Fixed => {
            check_points(&format!("{path}.points"), r, rule.points.ok_or_else(|| needs("points"))?)?;
            for (field, set) in
                [("per", rule.per.is_some()), ("percent", rule.percent.is_some()), ("factor", rule.factor.is_some())]
            {
                if set {
                    return Err(stray(field));
                }
            }
        }
        EarnKind::Multiplier => {
            let factor = rule.factor.ok_or_else(|| needs("factor"))?;
            if factor.decimal() <= Decimal::ONE || factor.decimal() > Decimal::ONE_HUNDRED {
                return Err(Error::invalid(
                    format!("{path}.factor"),
                    r,
                    format!("must be greater than 1 and at most 100, not {factor}"),
                ));
            }
            for (field, set) in
                [("points", rule.points.is_some()), ("per", rule.per.is_some()), ("percent", rule.percent.is_some())]
            {
                if set {
                    return Err(stray(field));
                }
            }
        }
        EarnKind::Script => {
            let script = rule.script.as_ref().ok_or_else(|| needs("script"))?;
            for (field, set) in [
                ("points", rule.points.is_some()),
                ("per", rule.per.is_some()),
                ("percent", rule.percent.is_some()),
                ("factor", rule.factor.is_some()),
            ] {
                if set {
                    return Err(stray(field));
                }
            }
            if !matches!(script.gives, ScriptGives::Points | ScriptGives::Multiplier) {
                return Err(Error::invalid(
                    format!("{path}.script.gives"),
                    r,
                    format!("an earn script gives \"points\" or \"multiplier\", not {:?}", script.gives),
                ));
            }
            if script.each.is_none() {
                return Err(Error::invalid(
                    format!("{path}.script.each"),
                    r,
                    "is required for earn scripts: \"line\" or \"basket\"",
                ));
            }
            if script.gives == ScriptGives::Multiplier && script.max_points.is_some() {
                return Err(Error::invalid(
                    format!("{path}.script.max_points"),
                    r,
                    "does not apply to a multiplier script",
                ));
            }
            if let Some(m) = script.max_points {
                check_points(&format!("{path}.script.max_points"), r, m)?;
            }
        }
    }
    if rule.kind != EarnKind::Script && rule.script.is_some() {
        return Err(stray("script"));
    }
    if !rule.multiplies() && !rule.applies_to.is_empty() {
        return Err(stray("applies_to"));
    }
    for (j, target) in rule.applies_to.iter().enumerate() {
        match spec.earn.iter().find(|e| &e.id == target) {
            None => {
                return Err(Error::invalid(format!("{path}.applies_to[{j}]"), r, format!("no earn rule '{target}'")));
            }
            Some(t) if !multipliable(t) => {
                return Err(Error::invalid(
                    format!("{path}.applies_to[{j}]"),
                    r,
                    format!(
                        "rule '{target}' is a {} rule; a multiplier applies to per_amount and percent rules \
                         and to scripts giving points per line",
                        kind_words(t)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let w = &rule.when;
    check_categories(&format!("{path}.when.categories"), r, &w.categories, known)?;
    check_categories(&format!("{path}.when.exclude_categories"), r, &w.exclude_categories, known)?;
    if let Some(c) = w.categories.iter().find(|c| w.exclude_categories.contains(c)) {
        return Err(Error::invalid(format!("{path}.when"), r, format!("category '{c}' is both included and excluded")));
    }
    if let Some(m) = w.min_basket {
        if m.is_negative() {
            return Err(Error::invalid(format!("{path}.when.min_basket"), r, "must not be negative"));
        }
    }
    if let (Some(from), Some(until)) = (w.from, w.until) {
        if from > until {
            return Err(Error::invalid(
                format!("{path}.when"),
                r,
                format!("empty date range: from {from} is after until {until}"),
            ));
        }
    }
    if let Some(t) = w.time_of_day {
        if t.from == t.until {
            return Err(Error::invalid(
                format!("{path}.when.time_of_day"),
                r,
                format!("empty window: from {} until {}", t.from, t.until),
            ));
        }
    }
    if let Some(c) = &w.chosen {
        if !spec.promotions.iter().any(|p| &p.id == c) {
            return Err(Error::invalid(
                format!("{path}.when.chosen"),
                r,
                format!("no promotion '{c}' in `promotions`"),
            ));
        }
    }
    for (j, v) in w.variants.iter().enumerate() {
        let known = v.split_once('/').is_some_and(|(c, v)| {
            spec.campaigns.iter().any(|campaign| campaign.id == c && campaign.variants.iter().any(|x| x.id == v))
        });
        if !known {
            return Err(Error::invalid(
                format!("{path}.when.variants[{j}]"),
                r,
                format!("no campaign variant '{v}' (write \"<campaign>/<variant>\")"),
            ));
        }
    }
    for (j, partner) in w.partners.iter().enumerate() {
        if !spec.partners.contains(partner) {
            return Err(Error::invalid(
                format!("{path}.when.partners[{j}]"),
                r,
                format!("partner '{partner}' is not declared in `partners`"),
            ));
        }
    }
    for (j, t) in w.tiers.iter().enumerate() {
        if !spec.tiers.as_ref().is_some_and(|tiers| tiers.levels.iter().any(|l| &l.id == t)) {
            return Err(Error::invalid(format!("{path}.when.tiers[{j}]"), r, format!("no tier level '{t}'")));
        }
    }
    for (field, cap) in [
        ("per_transaction", rule.caps.per_transaction),
        ("per_day", rule.caps.per_day),
        ("per_month", rule.caps.per_month),
        ("lifetime", rule.caps.lifetime),
    ] {
        if let Some(c) = cap {
            check_points(&format!("{path}.caps.{field}"), r, c)?;
        }
    }
    Ok(())
}

/// Rules a multiplier may multiply: their points are known per line.
fn multipliable(rule: &EarnRule) -> bool {
    rule.shape().multipliable()
}

fn kind_words(rule: &EarnRule) -> &'static str {
    match (rule.kind, rule.script.as_ref().map(|s| (s.gives, s.each))) {
        (EarnKind::PerAmount, _) => "per_amount",
        (EarnKind::Percent, _) => "percent",
        (EarnKind::Fixed, _) => "fixed",
        (EarnKind::Multiplier, _) => "multiplier",
        (EarnKind::Script, Some((ScriptGives::Multiplier, _))) => "multiplier script",
        (EarnKind::Script, Some((_, Some(ScriptEach::Basket)))) => "per-basket script",
        (EarnKind::Script, _) => "script",
    }
}

/// `n / d` as a fraction of integers in lowest terms (`d > 0`), or `None`
/// when it does not fit 128 bits.
fn ratio(n: Decimal, d: Decimal) -> Option<(i128, i128)> {
    // n = nm / 10^ns, d = dm / 10^ds  ⇒  n / d = nm · 10^ds / (dm · 10^ns).
    let (n, d) = (n.normalize(), d.normalize());
    let num = n.mantissa().checked_mul(pow10(d.scale())?)?;
    let den = d.mantissa().checked_mul(pow10(n.scale())?)?;
    if den == 0 {
        return None;
    }
    let (num, den) = if den < 0 { (num.checked_neg()?, den.checked_neg()?) } else { (num, den) };
    let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1) as i128;
    Some((num / g, den / g))
}

fn compile(spec: ProgramSpec) -> Result<Program> {
    // Validation parsed the zone already; this cannot fail.
    let zone: Tz = spec.time_zone.parse().map_err(|_| Error::invalid("time_zone", None, "not an IANA time zone"))?;
    let scale_factor = Decimal::from(10_i64.pow(spec.points.scale));
    let point_value = spec.points.value.decimal();
    let category_names: Vec<String> = spec.categories.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let scale = spec.points.scale;
    let mut sandbox: Option<Sandbox> = None;
    // Tier multipliers are multiplier rules of their own, `tier:<level>`.
    let tier_rules: Vec<EarnRule> = spec
        .tiers
        .iter()
        .flat_map(|t| &t.levels)
        .filter_map(|l| {
            let factor = l.multiplier?;
            let name = if l.name.is_empty() { &l.id } else { &l.name };
            Some(EarnRule {
                id: format!("tier:{}", l.id),
                name: format!("{name} ×{factor}"),
                kind: EarnKind::Multiplier,
                points: None,
                per: None,
                percent: None,
                factor: Some(factor),
                applies_to: Vec::new(),
                rounding: None,
                round: None,
                priority: i32::MAX,
                stacking: Stacking::Stackable,
                when: Conditions { tiers: vec![l.id.clone()], ..Conditions::default() },
                caps: Caps::default(),
                script: None,
            })
        })
        .collect();
    let rules: Vec<&EarnRule> = spec.earn.iter().chain(&tier_rules).collect();
    let rule_path = |k: usize, field: &str| match k.checked_sub(spec.earn.len()) {
        None => format!("earn[{k}].{field}"),
        Some(_) => format!("tiers.levels.multiplier ({})", rules[k].id),
    };
    let level_index = |id: &str| spec.tiers.as_ref().and_then(|t| t.levels.iter().position(|l| l.id == id));
    let mut order: Vec<usize> = (0..rules.len()).collect();
    order.sort_by(|&a, &b| (rules[a].priority, &rules[a].id).cmp(&(rules[b].priority, &rules[b].id)));
    let position = |id: &str| order.iter().position(|&k| rules[k].id == id);
    let mut earn = Vec::with_capacity(order.len());
    for (index, &k) in order.iter().enumerate() {
        let rule = rules[k];
        let (numerator, denominator) = match rule.kind {
            EarnKind::PerAmount => {
                (Decimal::from(rule.points.unwrap_or(0)), rule.per.map(Amount::decimal).unwrap_or(Decimal::ONE))
            }
            EarnKind::Percent => (
                rule.percent.map(Amount::decimal).unwrap_or_default() * scale_factor,
                Decimal::ONE_HUNDRED * point_value,
            ),
            _ => (Decimal::ZERO, Decimal::ONE),
        };
        let targets: Vec<usize> = if rule.multiplies() {
            if rule.applies_to.is_empty() {
                order.iter().enumerate().filter(|(_, &j)| multipliable(rules[j])).map(|(pos, _)| pos).collect()
            } else {
                rule.applies_to.iter().filter_map(|t| position(t)).collect()
            }
        } else {
            Vec::new()
        };
        let field = match rule.kind {
            EarnKind::PerAmount => "per",
            EarnKind::Percent => "percent",
            EarnKind::Multiplier => "factor",
            EarnKind::Fixed | EarnKind::Script => "when.min_basket",
        };
        let path = rule_path(k, field);
        let too_precise = || {
            Error::invalid(
                &path,
                Some(&rule.id),
                "together with points.scale and points.value this rate needs more than the 38 digits \
                 of exact arithmetic: use fewer decimal places",
            )
        };
        let (rate_num, rate_den) = ratio(numerator, denominator).ok_or_else(too_precise)?;
        let rate_den_money = rate_den.checked_mul(MONEY_ONE).ok_or_else(too_precise)?;
        let extra = rule.factor.map(|f| f.decimal() - Decimal::ONE).unwrap_or_default().normalize();
        let extra_den_fine = pow10(extra.scale() + MONEY_SCALE).ok_or_else(too_precise)?;
        let w = &rule.when;
        let name = if rule.name.is_empty() { &rule.id } else { &rule.name };
        let shape = rule.shape();
        let tiers = w.tiers.iter().filter_map(|t| level_index(t)).fold(0, |mask, i| mask | 1 << i);
        let include = (!w.categories.is_empty()).then(|| CategorySet::of(&w.categories, &category_names));
        let exclude = CategorySet::of(&w.exclude_categories, &category_names);
        let skus = !w.skus.is_empty() || !w.exclude_skus.is_empty();
        let lines = LineTest::new(include.as_ref(), &exclude, category_names.len(), skus);
        earn.push(CompiledEarn {
            index,
            id: rule.id.as_str().into(),
            name: name.as_str().into(),
            day_key: format!("earn:{}", rule.id).into(),
            rate_num,
            rate_den,
            exact_exp: crate::number::decimal_exp(rate_den),
            extra_num: extra.mantissa(),
            fixed: if rule.kind == EarnKind::Fixed { rule.points.unwrap_or(0) } else { 0 },
            targets,
            rounding: rule.rounding.unwrap_or(spec.points.rounding),
            round: rule.round.unwrap_or(spec.points.round),
            exclusive: rule.stacking == Stacking::Exclusive,
            include,
            exclude,
            lines,
            min_basket: match w.min_basket {
                Some(m) => Some(to_money(m.decimal()).ok_or_else(too_precise)?),
                None => None,
            },
            tiers,
            when: rule.when.clone(),
            caps: rule.caps.clone(),
            capped: !rule.caps.is_empty(),
            script: match &rule.script {
                Some(s) => Some(Box::new(compile_script(
                    &mut sandbox,
                    &format!("earn[{k}].script.source"),
                    &rule.id,
                    s,
                    scale,
                )?)),
                None => None,
            },
            shape,
            div: shape.divisor(extra_den_fine, rate_den_money),
            context_free: w.channels.is_empty()
                && w.stores.is_empty()
                && w.from.is_none()
                && w.until.is_none()
                && w.weekdays.is_empty()
                && w.time_of_day.is_none()
                && w.chosen.is_none()
                && w.variants.is_empty()
                && w.partners.is_empty()
                && tiers == 0
                && w.birthday.is_none()
                && w.attributes.is_empty(),
            attributes: w.attributes.iter().map(|(k, v)| (k.as_str().into(), v.as_str().into())).collect(),
        });
    }
    let mut burn = Vec::with_capacity(spec.burn.len());
    for (i, b) in spec.burn.iter().enumerate() {
        let value = b.value.map(Amount::decimal).unwrap_or(point_value);
        let share = b.max_share_percent.map(Amount::decimal).unwrap_or(Decimal::ONE_HUNDRED);
        let too_precise = || {
            Error::invalid(
                format!("burn[{i}].value"),
                Some(&b.id),
                "together with max_share_percent and points.scale this value needs more than the 38 digits \
                 of exact arithmetic: use fewer decimal places",
            )
        };
        let (num, den) = ratio(share * scale_factor, Decimal::ONE_HUNDRED * value).ok_or_else(too_precise)?;
        let den_money = den.checked_mul(MONEY_ONE).filter(|d| *d < 1 << 126).ok_or_else(too_precise)?;
        let exclude = CategorySet::of(&b.exclude_categories, &category_names);
        let lines = LineTest::new(None, &exclude, category_names.len(), !b.exclude_skus.is_empty());
        burn.push(CompiledBurn {
            spec: b.clone(),
            value,
            exclude,
            lines,
            limit_num: num.unsigned_abs(),
            limit_den_money: den_money.unsigned_abs(),
            script: match &b.script {
                Some(s) => {
                    Some(Box::new(compile_script(&mut sandbox, &format!("burn[{i}].script.source"), &b.id, s, scale)?))
                }
                None => None,
            },
        });
    }
    let tiers = match &spec.tiers {
        Some(t) => {
            let mut levels = Vec::with_capacity(t.levels.len());
            for (i, l) in t.levels.iter().enumerate() {
                let script = match &l.script {
                    Some(s) => Some(Box::new(compile_script(
                        &mut sandbox,
                        &format!("tiers.levels[{i}].script.source"),
                        &l.id,
                        s,
                        scale,
                    )?)),
                    None => None,
                };
                levels.push(crate::tier::Level {
                    id: l.id.as_str().into(),
                    min: l.min.map(Amount::decimal),
                    never_expire: l.points_never_expire,
                    script,
                });
            }
            let keeps_points = levels.iter().any(|l| l.never_expire);
            // Not from the base level: a member is always at a level, so
            // points kept from rank 0 are kept for ever, spans or none.
            let keeps_from = levels
                .iter()
                .position(|l| l.never_expire)
                .filter(|&k| k > 0 && levels[k..].iter().all(|l| l.never_expire));
            let by_measure = levels.iter().any(|l| l.min.is_some());
            Some(Tiers { spec: t.clone(), levels, keeps_points, keeps_from, by_measure })
        }
        None => None,
    };
    Ok(Program {
        tiers,
        currency: std::sync::Arc::from(spec.currency.as_str()),
        base_exclude: CategorySet::of(&spec.earning_base.exclude_categories, &category_names),
        category_lookup: CategoryLookup::new(&category_names),
        max_discount: spec.earning_base.max_line_discount_percent.map(Amount::decimal),
        zone,
        earn,
        burn,
        scripts: sandbox.map(|s| {
            let sources = spec
                .earn
                .iter()
                .filter_map(|r| r.script.as_ref())
                .chain(spec.burn.iter().filter_map(|r| r.script.as_ref()))
                .chain(spec.tiers.iter().flat_map(|t| &t.levels).filter_map(|l| l.script.as_ref()));
            let names = crate::script::ViewNames::of(sources.map(|s| s.source.as_str()));
            let view = ProgramView::new(&spec.id, &spec.currency, scale, &spec.constants, &category_names, names);
            std::sync::Arc::new((s, view))
        }),
        spec,
    })
}

/// Compiles one rule's script, building the program's sandbox on first use.
fn compile_script(
    sandbox: &mut Option<Sandbox>,
    path: &str,
    rule: &str,
    spec: &ScriptSpec,
    scale: u32,
) -> Result<Script> {
    let sandbox = sandbox.get_or_insert_with(Sandbox::new);
    let ast = sandbox.compile(path, rule, &spec.source, spec.each)?;
    let max_units = match spec.max_points {
        Some(m) => m,
        None => crate::script::DEFAULT_MAX_POINTS.saturating_mul(10_i64.pow(scale)),
    };
    Ok(Script {
        ast,
        each: spec.each.unwrap_or(ScriptEach::Basket),
        gives: spec.gives,
        skip_on_error: spec.skip_on_error,
        max_units,
        // Conservative, as `ViewNames::of`: a script that names `line`
        // nowhere (not even in a comment) cannot read the variable.
        line_free: !spec.source.contains("line"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A [`LineTest`]'s bit test says what asking the sets says: exactly,
    /// when it needs no full test; as a necessary condition (a line the sets
    /// accept always passes the mask) when it does. Programs of 1 to 130
    /// categories, includes and excludes drawn from 40 patterns.
    #[test]
    fn line_tests_agree_with_the_category_sets() {
        for count in [1, 2, 5, 31, 63, 64, 65, 70, 130] {
            let mut names: Vec<String> = (0..count).map(|i| format!("c{i:03}")).collect();
            names.sort();
            let lookup = CategoryLookup::new(&names);
            for pattern in 0_u64..40 {
                // Include the categories of one stride (or no include:
                // every category), exclude those of another.
                let pick = |step: u64, offset: u64| -> Vec<String> {
                    names
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| (*i as u64 + offset) % step == 0)
                        .map(|(_, n)| n.clone())
                        .collect()
                };
                let include = (pattern % 4 != 0).then(|| CategorySet::of(&pick(pattern % 5 + 1, pattern), &names));
                let exclude = CategorySet::of(&pick(pattern % 7 + 2, pattern / 3), &names);
                for skus in [false, true] {
                    let test = LineTest::new(include.as_ref(), &exclude, count, skus);
                    assert_eq!(test.full, skus || count > 64, "{count} categories");
                    for i in 0..count as u32 {
                        let accepted = include.as_ref().is_none_or(|s| s.contains(i)) && !exclude.contains(i);
                        let passes = test.passes(lookup.bit(i));
                        if test.full {
                            assert!(passes || !accepted, "{count} categories, pattern {pattern}, category {i}");
                        } else {
                            assert_eq!(passes, accepted, "{count} categories, pattern {pattern}, category {i}");
                        }
                    }
                }
            }
        }
    }

    /// The scan and the hash table find what a search of the sorted names
    /// finds, for names that share lengths, prefixes and suffixes.
    #[test]
    fn category_lookup_finds_every_name_and_nothing_else() {
        let stems = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "zbcdefgha",
            "coffee-beans-x",
            "merch",
            "food",
        ];
        let mut all: Vec<String> =
            stems.iter().flat_map(|s| [s.to_string(), format!("{s}z"), format!("z{s}")]).collect();
        all.sort();
        all.dedup();
        assert!(all.len() > CategoryLookup::SCAN_MAX, "the hash table is tested too");
        for n in [1, 5, CategoryLookup::SCAN_MAX, all.len()] {
            let names = &all[..n];
            let lookup = CategoryLookup::new(names);
            for probe in &all {
                assert_eq!(lookup.get(probe), names.binary_search(probe).ok().map(|i| i as u32), "{probe:?} among {n}");
            }
            assert_eq!(lookup.get("not-declared"), None);
        }
    }

    const BASE: &str =
        "id = \"p\"\ncurrency = \"RUB\"\ntime_zone = \"Europe/Moscow\"\ncategories = [\"coffee\", \"food\"]\n";

    fn err(extra: &str) -> String {
        Program::from_toml_str(&format!("{BASE}{extra}")).unwrap_err().to_string()
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = err("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\ncolour = \"red\"\n");
        assert!(e.starts_with("program: line 10, column 1: unknown field `colour`"), "{e}");
        let e = Program::from_json_str("{\"id\": \"p\",\n \"currency\": 5}").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn validation_errors_name_path_and_rule() {
        let cases = [
            ("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 0\nper = \"10\"\n", "program: earn[0].points (rule 'a'): must be greater than zero, not 0"),
            ("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 1\nper = \"-10\"\n", "program: earn[0].per (rule 'a'): must be greater than zero, not -10"),
            ("[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\n[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\n", "program: earn[1].id (rule 'a'): rule id is used twice"),
            ("[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\nwhen.categories = [\"tea\"]\n", "program: earn[0].when.categories[0] (rule 'a'): category 'tea' is not declared in `categories`"),
            ("[[earn]]\nid = \"m\"\nkind = \"multiplier\"\nfactor = \"2\"\napplies_to = [\"nope\"]\n", "program: earn[0].applies_to[0] (rule 'm'): no earn rule 'nope'"),
            ("[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\nwhen.time_of_day = { from = \"15:00\", until = \"15:00\" }\n", "program: earn[0].when.time_of_day (rule 'a'): empty window: from 15:00 until 15:00"),
            ("[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\nwhen.from = \"2027-01-02\"\nwhen.until = \"2027-01-01\"\n", "program: earn[0].when (rule 'a'): empty date range: from 2027-01-02 is after until 2027-01-01"),
            ("[[earn]]\nid = \"a\"\nkind = \"percent\"\npercent = \"5\"\nper = \"10\"\n", "program: earn[0].per (rule 'a'): does not apply to kind Percent"),
            ("[expiry]\nkind = \"after\"\n", "program: expiry.period: is required for this expiry kind"),
            ("[[burn]]\nid = \"b\"\nstep_points = 0\n", "program: burn[0].step_points (rule 'b'): must be greater than zero, not 0"),
        ];
        for (extra, want) in cases {
            assert_eq!(err(extra), want);
        }
        assert!(Program::from_toml_str("id = \"p\"\ncurrency = \"rub\"\ntime_zone = \"UTC\"\n").is_err());
        // A rate whose exact fraction does not fit 128 bits is refused at load, not at the till.
        let e = err("points.scale = 4\npoints.value = \"999999999999999.999999999999\"\n[[earn]]\nid = \"c\"\nkind = \"percent\"\npercent = \"0.000000000007\"\n");
        assert!(e.starts_with("program: earn[0].percent (rule 'c'): together with points.scale"), "{e}");
    }

    #[test]
    #[rustfmt::skip]
    fn tier_errors_name_path_and_level() {
        let ladder = "[tiers]\nmeasure = \"spend\"\nwindow = \"calendar_year\"\n[[tiers.levels]]\nid = \"base\"\n";
        let cases = [
            (format!("{ladder}[[tiers.levels]]\nid = \"gold\"\nmin = \"0\"\n"), "program: tiers.levels[1].min (level 'gold'): must be greater than 0, not 0"),
            (format!("{ladder}[[tiers.levels]]\nid = \"b\"\nmin = \"500\"\n[[tiers.levels]]\nid = \"c\"\nmin = \"400\"\n"), "program: tiers.levels[2].min (level 'c'): must be greater than the level below's 500"),
            (format!("{ladder}[[tiers.levels]]\nid = \"base\"\n"), "program: tiers.levels[1].id (level 'base'): level id is used twice"),
            (format!("{ladder}[[tiers.levels]]\nid = \"g\"\nmin = \"5\"\nmultiplier = \"1\"\n"), "program: tiers.levels[1].multiplier (level 'g'): must be greater than 1 and at most 100, not 1"),
            ("[tiers]\nmeasure = \"counter\"\nwindow = \"lifetime\"\nlevels = [{ id = \"a\" }]\n".to_owned(), "program: tiers.counter: is required for measure \"counter\""),
            ("[tiers]\nmeasure = \"spend\"\nwindow = { rolling_months = 0 }\nlevels = [{ id = \"a\" }]\n".to_owned(), "program: tiers.window.rolling_months: must be from 1 to 120, not 0"),
            ("[tiers]\nmeasure = \"spend\"\nwindow = \"lifetime\"\nlevels = [{ id = \"a\", min = \"5\" }]\n".to_owned(), "program: tiers.levels[0].min (level 'a'): does not apply to the base level (the first)"),
            ("[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\nwhen.tiers = [\"gold\"]\n".to_owned(), "program: earn[0].when.tiers[0] (rule 'a'): no tier level 'gold'"),
            ("[[earn]]\nid = \"base\"\nkind = \"fixed\"\npoints = 5\n[[challenges]]\nid = \"base\"\nkind = \"count\"\ntarget = \"3\"\nwithin = { days = 30 }\npoints = 10\n".to_owned(), "program: challenges[0].id (challenge 'base'): the id is taken by another rule, activity, challenge or reward"),
            ("[[rewards]]\nid = \"birthday\"\nkind = \"experience\"\ncost = 5\n".to_owned(), "program: rewards[0].id (reward 'birthday'): the id is reserved for the engine's own bonuses"),
        ];
        for (extra, want) in cases {
            assert_eq!(err(&extra), want);
        }
    }

    #[test]
    fn rules_are_ordered_by_priority_then_id() {
        let p = Program::from_toml_str(&format!(
            "{BASE}[[earn]]\nid = \"z\"\nkind = \"fixed\"\npoints = 1\npriority = 1\n[[earn]]\nid = \"b\"\nkind = \"fixed\"\npoints = 1\npriority = 2\n[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 1\npriority = 2\n"
        ))
        .unwrap();
        let ids: Vec<_> = p.earn.iter().map(|r| &*r.id).collect();
        assert_eq!(ids, ["z", "a", "b"]);
    }

    #[test]
    fn program_is_send_and_sync() {
        fn check<T: Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe>() {}
        check::<Program>();
    }
}
