//! Earn rules: from a priced basket to points per rule and per line.
//!
//! Evaluation runs in two stages. Stage one computes every `per_amount`,
//! `percent` and `fixed` rule whose conditions hold; stage two computes the
//! multipliers on the stage-one rules that survived. In each stage the
//! exclusive rules compete and only the best one stays; stackable rules all
//! stay. Each rule rounds its own exact points (per line or per transaction,
//! as it says), then its caps apply. Every rule's points are also split over
//! the basket's lines, so a return can take back exactly the points of the
//! lines returned.
//!
//! All arithmetic is on integers: money as `i128` counts of 10⁻¹² currency
//! units, rates as fractions of integers in lowest terms. A rule's points are
//! rounded from the exact quotient, so three lines of 1 RUB at "1 point per
//! 3 RUB" give exactly one point. Multipliers work on "fine" points (10⁻¹² of
//! a point unit), exact whenever the multiplied rule's points per line have
//! at most 12 fraction digits.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::event::Line;
use crate::member::DayCount;
use crate::number::{div_fast, mul_div_rem, pow10, round_div, Money, Points, RoundAt, Rounding, MONEY_ONE};
use crate::program::{CompiledEarn, EarnKind, Program};
use crate::script::{ScriptEach, ScriptGives, Value, ViewInput, Views};
use crate::time::{Moment, TimeOfDay, Weekday};

/// A basket line with its money worked out.
#[derive(Debug, Clone)]
pub(crate) struct Priced<'a> {
    pub(crate) line: &'a Line,
    /// The category's index in the program.
    pub(crate) category: u32,
    /// The category's bit for [`crate::program::LineTest`].
    pub(crate) bit: u64,
    /// unit_price × quantity − discount.
    pub(crate) amount: Money,
    /// `amount` is a whole multiple of 10^`exp` (in [`Money`]'s 10⁻¹²):
    /// 10 for a price in cents, 0 when not known.
    pub(crate) exp: u8,
    /// False when the earning base excludes the line.
    pub(crate) earns: bool,
}

/// Priced lines; baskets of up to 8 lines stay on the stack.
pub(crate) type PricedLines<'a> = SmallVec<[Priced<'a>; 8]>;

/// Where and when a basket is evaluated.
pub(crate) struct Context<'a> {
    /// The event id (`"quote"` for a quote), for errors and scripts.
    pub(crate) event: &'a str,
    pub(crate) local: NaiveDateTime,
    pub(crate) member: &'a crate::Member,
    pub(crate) date: NaiveDate,
    pub(crate) weekday: Weekday,
    pub(crate) time: TimeOfDay,
    pub(crate) channel: Option<&'a str>,
    pub(crate) store: Option<&'a str>,
    /// The partner of a partner's purchase.
    pub(crate) partner: Option<&'a str>,
    /// The program's campaigns.
    pub(crate) campaigns: &'a [crate::engagement::Campaign],
    /// The program's member-chosen promotions.
    pub(crate) promotions: &'a [crate::engagement::ChosenPromotion],
    /// The id of the member's tier level at the instant.
    pub(crate) tier_id: Option<&'a str>,
    /// The member's tier level at the instant (0: the base level, or no tiers).
    pub(crate) tier: usize,
}

impl<'a> Context<'a> {
    /// The member's variant of a campaign.
    fn program_variant(&self, campaign: &str) -> Option<&'a str> {
        let c = self.campaigns.iter().find(|c| c.id == campaign)?;
        Some(crate::engagement::variant_of(&self.member.id, c))
    }

    pub(crate) fn new(
        program: &'a Program,
        event: &'a str,
        at: Moment,
        channel: Option<&'a str>,
        store: Option<&'a str>,
        member: &'a crate::Member,
        tier: Option<usize>,
    ) -> Context<'a> {
        // At most one conversion (none when the caller knows the local
        // time); the date and time are read off the local value.
        let local = at.local(program.zone);
        // The member's level at the instant, unless the caller knows it.
        let tier = tier
            .unwrap_or_else(|| program.tiers.as_ref().map_or(0, |t| t.level_at(&member.tier, at.utc, local.date())));
        Context {
            event,
            local,
            member,
            date: local.date(),
            weekday: Weekday::of(local.date()),
            time: TimeOfDay::of(local.time()),
            channel,
            store,
            partner: None,
            campaigns: &program.spec.campaigns,
            promotions: &program.spec.promotions,
            tier_id: program.tiers.as_ref().map(|t| t.id(tier).as_str()),
            tier,
        }
    }
}

/// Which cap cut a rule's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    PerTransaction,
    PerDay,
    PerMonth,
    Lifetime,
}

impl Cap {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Cap::PerTransaction => "per transaction",
            Cap::PerDay => "per day",
            Cap::PerMonth => "per month",
            Cap::Lifetime => "lifetime",
        }
    }
}

/// What one rule gave.
#[derive(Debug, Clone)]
pub(crate) struct RuleOutcome {
    /// Index into `Program::earn`.
    pub(crate) rule: usize,
    pub(crate) points: Points,
    /// Before the caps cut them.
    uncapped: Points,
    /// Which cap cut the points, if one did.
    pub(crate) capped_by: Option<Cap>,
    /// The exclusive rule that won over this one, if one did.
    pub(crate) beaten_by: Option<usize>,
    /// Script rules only (boxed: built-in rules stay small and fast).
    script: Option<Box<ScriptOutcome>>,
}

/// What a script rule's script gave.
#[derive(Debug, Clone, Default)]
struct ScriptOutcome {
    /// Per line (or, once per basket, one) fine points or factor − 1 in 10⁻¹².
    values: Vec<i128>,
    /// The text the script returned.
    note: Option<String>,
    /// For rules marked `skip_on_error`: why the script failed.
    skipped: Option<String>,
}

impl RuleOutcome {
    #[inline]
    fn script_value(&self, line: usize) -> i128 {
        let Some(s) = &self.script else { return 0 };
        s.values.get(line).or_else(|| s.values.first()).copied().unwrap_or(0)
    }

    pub(crate) fn skipped(&self) -> Option<&String> {
        self.script.as_ref().and_then(|s| s.skipped.as_ref())
    }
}

/// How a rule turns lines into points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `per_amount`, `percent`: amount × rate.
    Rate,
    /// `multiplier`: multiplied points × (factor − 1).
    Multiplier,
    /// A multiplier script: multiplied points × (its factor for the line − 1).
    ScriptMultiplier,
    /// `fixed`, or a script giving points once per basket: one number for
    /// the basket, split over the lines by amount.
    Bonus,
    /// A script giving points per line.
    LinePoints,
}

impl Shape {
    /// The shape of a rule of `kind` with `script` (fixed when the program loads).
    pub(crate) fn of(kind: EarnKind, script: Option<&crate::script::ScriptSpec>) -> Shape {
        match (kind, script.map(|s| (s.gives, s.each))) {
            (EarnKind::PerAmount | EarnKind::Percent, _) => Shape::Rate,
            (EarnKind::Multiplier, _) => Shape::Multiplier,
            (EarnKind::Script, Some((ScriptGives::Multiplier, _))) => Shape::ScriptMultiplier,
            (EarnKind::Script, Some((ScriptGives::Points, Some(ScriptEach::Line)))) => Shape::LinePoints,
            // Fixed bonuses and per-basket scripts (validation refuses the rest).
            (EarnKind::Fixed | EarnKind::Script, _) => Shape::Bonus,
        }
    }

    /// True for the rules of the second stage.
    pub(crate) fn multiplies(self) -> bool {
        matches!(self, Shape::Multiplier | Shape::ScriptMultiplier)
    }

    /// True for the rules a multiplier may multiply: their points are known per line.
    pub(crate) fn multipliable(self) -> bool {
        matches!(self, Shape::Rate | Shape::LinePoints)
    }

    /// The divisor of the rule's per-line numerators.
    pub(crate) fn divisor(self, extra_den_fine: i128, rate_den_money: i128) -> i128 {
        match self {
            Shape::ScriptMultiplier => FINE_FACTOR,
            Shape::Multiplier => extra_den_fine,
            Shape::LinePoints => MONEY_ONE,
            Shape::Rate | Shape::Bonus => rate_den_money,
        }
    }
}

/// 10²⁴: the divisor of a scripted multiplier's numerator (fine points × factor in 10⁻¹²).
const FINE_FACTOR: i128 = MONEY_ONE * MONEY_ONE;

/// `d` in units of 10⁻¹² × 10^`scale` (fine points when `d` is whole
/// points, or a factor in 10⁻¹² when `scale` is 0), rounded as the rule says
/// when it has more digits than that.
fn fine_of(d: rust_decimal::Decimal, scale: u32, rounding: Rounding) -> Option<i128> {
    let want = scale + crate::number::MONEY_SCALE;
    let have = d.scale();
    if have <= want {
        d.mantissa().checked_mul(pow10(want - have)?)
    } else {
        Some(round_div(d.mantissa(), pow10(have - want)?, rounding))
    }
}

/// The earn of one basket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Earned {
    pub(crate) total: Points,
    /// Per line, summed over rules (empty unless asked for).
    pub(crate) lines: SmallVec<[Points; 8]>,
    /// In rule order; rules that did not fire are absent.
    pub(crate) rules: SmallVec<[RuleOutcome; 8]>,
}

pub(crate) fn day_key_matches(key: &str, kind: &str, id: &str) -> bool {
    // Keys are a few bytes: compared byte by byte, not by a call to
    // `memcmp` per part (a counter is looked for among a member's dozen).
    let (key, kind, id) = (key.as_bytes(), kind.as_bytes(), id.as_bytes());
    let same = |a: &[u8], b: &[u8]| a.iter().zip(b).all(|(x, y)| x == y);
    key.len() == kind.len() + 1 + id.len()
        && same(key, kind)
        && key[kind.len()] == b':'
        && same(&key[kind.len() + 1..], id)
}

/// Points (and count) recorded under a key on one date, and in that date's month.
pub(crate) fn day_and_month(days: &[DayCount], kind: &str, id: &str, date: NaiveDate) -> (Points, Points, u32) {
    let (mut day, mut month, mut count) = (0, 0, 0);
    for d in days {
        if d.date.year() == date.year() && d.date.month() == date.month() && day_key_matches(&d.key, kind, id) {
            // Saturating: a state's counters may be large enough, each in
            // range, to overflow together (a limit is then simply reached).
            month = Points::saturating_add(month, d.points);
            if d.date == date {
                day = Points::saturating_add(day, d.points);
                count = u32::saturating_add(count, d.count);
            }
        }
    }
    (day, month, count)
}

/// Whether rule `rule` counts line `p`: one bit test for most rules (see
/// [`crate::program::LineTest`]), the rule's sets asked in full otherwise.
#[inline(always)]
fn line_matches(rule: &CompiledEarn, p: &Priced<'_>) -> bool {
    p.earns && rule.lines.passes(p.bit) && (!rule.lines.full || line_matches_in_full(rule, p))
}

/// The rule's category and SKU conditions on line `p`, each asked.
#[inline(never)]
fn line_matches_in_full(rule: &CompiledEarn, p: &Priced<'_>) -> bool {
    let w = &rule.when;
    rule.include.as_ref().is_none_or(|set| set.contains(p.category))
        && !rule.exclude.contains(p.category)
        && (w.skus.is_empty() || w.skus.contains(&p.line.sku))
        && !w.exclude_skus.contains(&p.line.sku)
}

#[inline(always)]
fn context_matches(rule: &CompiledEarn, ctx: &Context<'_>) -> bool {
    if rule.context_free {
        // Every check of `conditions_hold` passes but the partner's: a
        // partner's purchase earns only by rules that list the partner.
        return ctx.partner.is_none();
    }
    conditions_hold(rule, ctx)
}

/// The rule's conditions on the event's context, each checked (see
/// [`context_matches`]; out of line, so that context-free rules, the most
/// common, pay only for a test of one flag).
#[inline(never)]
fn conditions_hold(rule: &CompiledEarn, ctx: &Context<'_>) -> bool {
    let w = &rule.when;
    if !w.channels.is_empty() && !ctx.channel.is_some_and(|c| w.channels.iter().any(|x| x == c)) {
        return false;
    }
    if !w.stores.is_empty() && !ctx.store.is_some_and(|s| w.stores.iter().any(|x| x == s)) {
        return false;
    }
    if w.from.is_some_and(|from| ctx.date < from) || w.until.is_some_and(|until| ctx.date > until) {
        return false;
    }
    if !w.weekdays.is_empty() && !w.weekdays.contains(&ctx.weekday) {
        return false;
    }
    if w.time_of_day.is_some_and(|t| !t.contains(ctx.time)) {
        return false;
    }
    if let Some(c) = &w.chosen {
        if !ctx.member.chosen.iter().any(|(p, d)| p.as_str() == c && *d == ctx.date) {
            return false;
        }
        // The promotion's tiers hold on the day it is used, not only when it was chosen.
        let tiers = ctx.promotions.iter().find(|p| &p.id == c).map_or(&[][..], |p| &p.tiers[..]);
        if !tiers.is_empty() {
            let level = ctx.tier_id.unwrap_or_default();
            if !tiers.iter().any(|t| t == level) {
                return false;
            }
        }
    }
    // "Only for members in one of these variants": any listed variant will do.
    if !w.variants.is_empty()
        && !w.variants.iter().any(|v| v.split_once('/').is_some_and(|(c, v)| ctx.program_variant(c) == Some(v)))
    {
        return false;
    }
    match ctx.partner {
        None if !w.partners.is_empty() => return false,
        Some(p) if !w.partners.iter().any(|x| x == p) => return false,
        _ => {}
    }
    if rule.tiers != 0 && rule.tiers & (1 << ctx.tier) == 0 {
        return false;
    }
    if let Some(b) = w.birthday {
        let Some(birth) = ctx.member.profile.birth_date else { return false };
        let hit = match b {
            crate::engagement::BirthdayWhen::Day => crate::script::is_birthday(birth, ctx.date),
            crate::engagement::BirthdayWhen::Month => birth.month() == ctx.date.month(),
        };
        if !hit {
            return false;
        }
    }
    attributes_hold(&rule.attributes, &ctx.member.profile.attributes)
}

/// Whether `profile` has every attribute value in `wanted`. Attributes are
/// a few short words: compared byte by byte rather than by a `memcmp` call
/// per key and value, and a profile of a few entries searched in order.
#[inline]
fn attributes_hold(wanted: &[(Box<str>, Box<str>)], profile: &std::collections::BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| {
        let value = if profile.len() <= 8 {
            profile.iter().find(|(pk, _)| short_eq(pk, k)).map(|(_, pv)| pv)
        } else {
            profile.get(&**k)
        };
        value.is_some_and(|pv| short_eq(pv, v))
    })
}

/// `a == b`, byte by byte when short.
#[inline(always)]
fn short_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && if a.len() > 16 { a == b } else { a.iter().zip(b).all(|(x, y)| x == y) }
}

/// Adds the split of `total` over `weights` (see [`allocate`]) into `sums`;
/// `None` on overflow.
fn allocate_add(total: Points, weights: &[i128], sums: &mut [Points]) -> Option<()> {
    if split_add_small(total, weights, sums)? {
        return Some(());
    }
    let mut small = [0; 16];
    let mut large = Vec::new();
    let parts = match small.get_mut(..weights.len()) {
        Some(parts) => parts,
        None => {
            large.resize(weights.len(), 0);
            &mut large[..]
        }
    };
    split_into(total, weights, parts);
    for (s, p) in sums.iter_mut().zip(parts.iter()) {
        *s = s.checked_add(*p)?;
    }
    Some(())
}

/// [`allocate_add`] in 64 bits, straight into `sums`, when [`split_small`]
/// would apply to a positive total (every weight and their sum fit a `u64`):
/// a basket's split, almost always, without the general path's 128-bit sum
/// and its parts written apart and added after. The same parts, unit for
/// unit. `Some(false)`, with nothing written, when it does not apply; `None`
/// on overflow.
#[inline]
fn split_add_small(total: Points, weights: &[i128], sums: &mut [Points]) -> Option<bool> {
    let n = weights.len();
    if total <= 0 || n == 0 || n > 16 || sums.len() < n {
        return Some(false);
    }
    let mut w64 = [0_u64; 16];
    let mut sum: u64 = 0;
    for (slot, w) in w64.iter_mut().zip(weights) {
        let Ok(w) = u64::try_from(w.unsigned_abs()) else { return Some(false) };
        *slot = w;
        let Some(s) = sum.checked_add(w) else { return Some(false) };
        sum = s;
    }
    let whole = total as u64; // > 0
    if sum == 0 || whole.checked_mul(sum).is_none() {
        return Some(false);
    }
    // Remainders plus one, as in `split_small`. A division takes tens of
    // cycles: lines a rule does not touch (weight 0) and a total equal to
    // the weights' sum (each share its weight) need none.
    let mut rest = [0_u64; 16];
    let mut given: u64 = 0;
    for i in 0..n {
        let w = w64[i];
        let (q, r) = match w {
            0 => (0, 0),
            _ if whole == sum => (w, 0),
            _ => {
                let p = whole * w;
                (p / sum, p % sum) // q ≤ whole ≤ i64::MAX
            }
        };
        sums[i] = sums[i].checked_add(q as Points)?;
        given += q;
        rest[i] = r + 1;
    }
    for _ in 0..whole - given {
        let mut best = 0;
        for i in 1..n {
            if rest[i] > rest[best] {
                best = i;
            }
        }
        sums[best] = sums[best].checked_add(1)?;
        rest[best] = 0;
    }
    Some(true)
}

/// Splits `total` over non-negative `weights` in proportion, largest
/// remainder first (ties to the earlier line), so the parts sum to `total`
/// exactly. All weights zero: everything goes to the first line.
#[cfg(test)]
pub(crate) fn allocate(total: Points, weights: &[i128]) -> Vec<Points> {
    let mut parts = vec![0; weights.len()];
    split_into(total, weights, &mut parts);
    parts
}

/// [`allocate`] into `parts` (as long as `weights`, all zero).
fn split_into(total: Points, weights: &[i128], parts: &mut [Points]) {
    if weights.is_empty() || total == 0 {
        return;
    }
    let sum: u128 = weights.iter().map(|w| w.unsigned_abs()).sum();
    if sum == 0 {
        parts[0] = total;
        return;
    }
    let whole = u128::from(total.unsigned_abs());
    if sum == whole {
        // Every share is its weight exactly (a per-line rule that was not
        // capped): no division, nothing left over.
        for (p, w) in parts.iter_mut().zip(weights) {
            *p = w.unsigned_abs() as Points; // ≤ whole ≤ i64::MAX + 1
        }
    } else if !split_small(whole, sum, weights, parts) {
        split_wide(whole, sum, weights, parts);
    }
    if total < 0 {
        parts.iter_mut().for_each(|p| *p = -*p);
    }
}

/// [`split_into`] in 64 bits, for up to 16 lines when `whole × sum` fits a
/// `u64` (then every `whole × weight` does): a basket's split, almost
/// always. False, with nothing written, when it does not apply.
#[inline]
fn split_small(whole: u128, sum: u128, weights: &[i128], parts: &mut [Points]) -> bool {
    let (Ok(whole), Ok(sum)) = (u64::try_from(whole), u64::try_from(sum)) else { return false };
    if weights.len() > 16 || whole.checked_mul(sum).is_none() {
        return false;
    }
    // Remainders plus one (a remainder is below `sum`, so it fits); 0 marks
    // a line that has had its leftover unit.
    let mut rest = [0_u64; 16];
    let mut given: u64 = 0;
    for (i, w) in weights.iter().enumerate() {
        let w = w.unsigned_abs() as u64; // ≤ sum
        if w == 0 {
            rest[i] = 1;
            continue;
        }
        let p = whole * w;
        let q = p / sum;
        parts[i] = q as Points; // q ≤ whole ≤ i64::MAX + 1
        given += q;
        rest[i] = p % sum + 1;
    }
    // The units left over (fewer than the lines) go to the largest
    // remainders, ties to the earlier line: one pass per unit.
    for _ in 0..whole - given {
        let mut best = 0;
        for i in 1..weights.len() {
            if rest[i] > rest[best] {
                best = i;
            }
        }
        parts[best] += 1;
        rest[best] = 0;
    }
    true
}

/// [`split_into`] in 128 bits (and past them, by [`mul_div_rem`]).
fn split_wide(whole: u128, sum: u128, weights: &[i128], parts: &mut [Points]) {
    let mut given: u128 = 0;
    let mut rest: SmallVec<[(u128, usize); 16]> = SmallVec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        // share = total × w / sum exactly: a quotient and a remainder.
        let (q, r) = mul_div_rem(whole, w.unsigned_abs(), sum);
        parts[i] = q as Points; // q ≤ whole ≤ i64::MAX + 1
        given += q;
        rest.push((r, i));
    }
    // The units left over (fewer than the lines) go to the largest
    // remainders, ties to the earlier line.
    let left = (whole - given) as usize;
    if left == 1 {
        // The common case: one pass instead of a sort.
        let best = rest.iter().fold(None::<(u128, usize)>, |b, &(r, i)| match b {
            Some((br, _)) if br >= r => b,
            _ => Some((r, i)),
        });
        if let Some((_, i)) = best {
            parts[i] += 1;
        }
    } else if left > 1 {
        rest.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in rest.iter().take(left) {
            parts[i] += 1;
        }
    }
}

/// Fine points (10⁻¹² of a unit) that stage-one rule `t` gives line `p`.
fn fine(t: &CompiledEarn, p: &Priced<'_>) -> Option<i128> {
    // amount × num / den is points × 10¹², because the amount carries 10¹².
    Some(div_fast(crate::number::mul(p.amount, t.rate_num)?, t.rate_den))
}

/// The stage-one outcomes multiplier `m` multiplies: its targets that
/// fired and were not beaten (found once per rule, not once per line).
type Multiplied<'r> = SmallVec<[(&'r CompiledEarn, &'r RuleOutcome); 4]>;

/// Pushes the [`Multiplied`] targets of multiplier `m` onto `out`.
///
/// Into the caller's vector, inlined, by a plain loop of pushes: a
/// returned vector is written in 8-byte stores and read back in 16-byte
/// loads that cannot be forwarded from them (a stall of about a dozen
/// cycles), and `collect` into a `SmallVec` compiles to several times the
/// code.
#[inline(always)]
fn multiplied<'r>(program: &'r Program, stage_one: &'r [RuleOutcome], m: &CompiledEarn, out: &mut Multiplied<'r>) {
    for o in stage_one {
        if o.beaten_by.is_none() && m.targets.contains(&o.rule) && o.skipped().is_none() {
            out.push((&program.earn[o.rule], o));
        }
    }
}

/// The fine points a multiplier multiplies on line `p`: the sum over
/// `targets` (see [`multiplied`]) that cover the line.
/// `i` is the line's index (script targets keep their fine points per line).
#[inline(always)]
fn multiplied_base(targets: &Multiplied<'_>, p: &Priced<'_>, i: usize) -> Option<i128> {
    let mut base: i128 = 0;
    for &(t, o) in targets {
        if line_matches(t, p) {
            let f = if t.shape == Shape::LinePoints { o.script_value(i) } else { fine(t, p)? };
            base = base.checked_add(f)?;
        }
    }
    Some(base)
}

/// The most targets [`summed_multiplier`] takes.
const SUMMED_TARGETS: usize = 4;

/// Without the split over lines: the numerator of multiplier `m` rounded
/// per transaction, when its targets (at most [`SUMMED_TARGETS`]) are
/// per-amount or percent rules; also sets `any` and sums `basket` over the
/// lines `m` covers.
///
/// Line by line this is Σ over the lines `m` covers of each covering
/// target's fine points on the line (truncated to 10⁻¹²), times factor − 1.
/// Where the target's rate divides the line's amount (the line's `exp` at
/// least the rate's `exact_exp`: cents, and a rate per whole roubles or a
/// percent, the common case) nothing is truncated, so those lines' fine
/// points are the rate applied once to the sum of their amounts: one
/// multiplication and division per target, not one per line. Other lines
/// keep their own truncated fine points. Every term has the sign of
/// factor − 1 (amounts and the targets' rates are positive), so the sum
/// overflows exactly when the line-by-line running sum would.
#[inline(always)]
fn summed_multiplier(
    targets: &Multiplied<'_>,
    m: &CompiledEarn,
    lines: &[Priced<'_>],
    any: &mut bool,
    basket: &mut Money,
) -> Option<i128> {
    let mut exact: [Money; SUMMED_TARGETS] = [0; SUMMED_TARGETS];
    let mut base: i128 = 0;
    for p in lines.iter().filter(|p| line_matches(m, p)) {
        *any = true;
        *basket += p.amount; // bounded by the basket's total
        for (sum, &(t, _)) in exact.iter_mut().zip(targets) {
            if line_matches(t, p) {
                if p.exp >= t.exact_exp {
                    *sum += p.amount; // bounded by the basket's total
                } else {
                    base = base.checked_add(fine(t, p)?)?;
                }
            }
        }
    }
    for (&sum, &(t, _)) in exact.iter().zip(targets) {
        if sum != 0 {
            // Exact: the rate's denominator divides the sum. Past 128 bits,
            // line by line after all, as the split path does it (where a
            // line's own product overflows, so does this).
            match crate::number::mul(sum, t.rate_num) {
                Some(x) => base = base.checked_add(div_fast(x, t.rate_den))?,
                None => {
                    let exact_lines = lines.iter().filter(|p| p.exp >= t.exact_exp);
                    for p in exact_lines.filter(|p| line_matches(m, p) && line_matches(t, p)) {
                        base = base.checked_add(fine(t, p)?)?;
                    }
                }
            }
        }
    }
    crate::number::mul(base, m.extra_num)
}

/// A rule's exact points on one line, as a numerator over [`divisor`]
/// (for a fixed bonus: the line's weight in the split).
/// `value` is the rule's script value for the line (0 for built-in rules).
#[inline(always)]
fn line_numerator(
    targets: &Multiplied<'_>,
    rule: &CompiledEarn,
    p: &Priced<'_>,
    i: usize,
    value: i128,
) -> Option<i128> {
    match rule.shape {
        Shape::Rate => crate::number::mul(p.amount, rule.rate_num),
        Shape::ScriptMultiplier => crate::number::mul(multiplied_base(targets, p, i)?, value),
        Shape::Multiplier => crate::number::mul(multiplied_base(targets, p, i)?, rule.extra_num),
        Shape::Bonus => Some(p.amount),
        Shape::LinePoints => Some(value),
    }
}

/// The views scripts see, built on the first script rule of an evaluation.
struct ScriptState {
    views: Views,
    scope: rhai::Scope<'static>,
}

/// Runs the script of `rule` on the matching lines: the per-line (or one
/// per-basket) values and the distinct texts, or why it failed.
#[inline(never)]
fn run_script(
    program: &Program,
    rule: &CompiledEarn,
    lines: &[Priced<'_>],
    ctx: &Context<'_>,
    state: &mut Option<ScriptState>,
) -> std::result::Result<(Vec<i128>, Option<String>), crate::script::Failure> {
    let (Some(script), Some(shared)) = (&rule.script, &program.scripts) else {
        return Ok((Vec::new(), None));
    };
    let (sandbox, program_view) = &**shared;
    let state = state.get_or_insert_with(|| {
        let input = ViewInput {
            event_id: ctx.event,
            kind: "purchase",
            channel: ctx.channel,
            store: ctx.store,
            local: ctx.local,
            lines,
        };
        let views = Views::new(program, &input, ctx.member);
        let scope = views.scope(program_view);
        ScriptState { views, scope }
    });
    let scale = program.scale();
    let (unit_scale, rounding) = match script.gives {
        ScriptGives::Multiplier => (0, Rounding::Floor),
        _ => (scale, rule.rounding),
    };
    let convert = |r: &crate::script::Returned| -> std::result::Result<i128, crate::script::Failure> {
        let Value::Number(n) = r.value else { return Ok(0) };
        let n = if script.gives == ScriptGives::Multiplier { n - rust_decimal::Decimal::ONE } else { n };
        fine_of(n, unit_scale, rounding)
            .ok_or_else(|| crate::script::Failure::result(format!("the value {n} is too large")))
    };
    let mut texts: Vec<String> = Vec::new();
    let mut note = |t: &Option<String>| {
        if let Some(t) = t {
            if !texts.contains(t) {
                texts.push(t.clone());
            }
        }
    };
    let values = match script.each {
        ScriptEach::Basket => {
            let r = script.call(sandbox, &mut state.scope, scale)?;
            note(&r.text);
            vec![convert(&r)?]
        }
        ScriptEach::Line => {
            let base = state.scope.len();
            let mut values = vec![0; lines.len()];
            // A script that cannot read `line` gives every line the first one's value.
            let mut first: Option<i128> = None;
            for (i, _) in lines.iter().enumerate().filter(|(_, p)| line_matches(rule, p)) {
                if let Some(value) = first {
                    values[i] = value;
                    continue;
                }
                if let Some(view) = state.views.line(i) {
                    state.scope.push_constant("line", view);
                }
                let r = script.call(sandbox, &mut state.scope, scale);
                state.scope.rewind(base);
                let r = r?;
                note(&r.text);
                values[i] = convert(&r)?;
                if script.line_free {
                    first = Some(values[i]);
                }
            }
            values
        }
    };
    Ok((values, (!texts.is_empty()).then(|| texts.join("; "))))
}

/// Evaluates the earn rules of `program` on a priced basket.
///
/// With `split` false the per-line split of points is skipped (a quote does
/// not need it) and `Earned::lines` stays empty.
///
/// The result is written into `out` (empty, as `Earned::default()` makes
/// it) rather than returned: an `Earned` holds its outcomes inline, and
/// moving it out of a `Result` copies them.
pub(crate) fn evaluate(
    program: &Program,
    lines: &[Priced<'_>],
    ctx: &Context<'_>,
    split: bool,
    out: &mut Earned,
) -> Result<()> {
    // Programs without scripts get a copy of the loop with every script
    // branch compiled out, and a quote (no split) one without the split's
    // bookkeeping.
    match (program.scripts.is_some(), split) {
        (true, true) => evaluate_with::<true, true>(program, lines, ctx, out),
        (true, false) => evaluate_with::<true, false>(program, lines, ctx, out),
        (false, true) => evaluate_with::<false, true>(program, lines, ctx, out),
        (false, false) => evaluate_with::<false, false>(program, lines, ctx, out),
    }
}

fn evaluate_with<const SCRIPTS: bool, const SPLIT: bool>(
    program: &Program,
    lines: &[Priced<'_>],
    ctx: &Context<'_>,
    out: &mut Earned,
) -> Result<()> {
    let split = SPLIT;
    let Earned { total, lines: lines_out, rules: outcomes } = out;
    let mut stage_one_end = 0;
    let mut scripts: Option<ScriptState> = None;
    // With `split`: every outcome's weights for the split over lines, one
    // row of `lines.len()` per outcome, computed here once.
    let mut weights: SmallVec<[i128; 40]> = SmallVec::new();
    for stage in [false, true] {
        let first_of_stage = outcomes.len();
        for rule in program.earn.iter().filter(|r| r.shape.multiplies() == stage) {
            if !context_matches(rule, ctx) {
                continue;
            }
            let overflow = || Error::overflow(format!("points of rule '{}'", rule.id));
            let (mut any, mut basket) = (false, 0 as Money);
            let mut outcome = RuleOutcome {
                rule: rule.index,
                points: 0,
                uncapped: 0,
                capped_by: None,
                beaten_by: None,
                script: None,
            };
            let scripted = SCRIPTS && rule.script.is_some();
            if scripted {
                // A script runs only when the rule's conditions hold.
                for p in lines.iter().filter(|p| line_matches(rule, p)) {
                    any = true;
                    basket += p.amount; // bounded by the basket's total
                }
                if !any || rule.min_basket.is_some_and(|m| basket < m) {
                    continue;
                }
                match run_script(program, rule, lines, ctx, &mut scripts) {
                    Ok((values, note)) => {
                        outcome.script = Some(Box::new(ScriptOutcome { values, note, skipped: None }));
                    }
                    Err(failure) if rule.script.as_ref().is_some_and(|s| s.skip_on_error) => {
                        let skipped = Some(failure.to_string());
                        outcome.script = Some(Box::new(ScriptOutcome { skipped, ..Default::default() }));
                        outcomes.push(outcome);
                        if split {
                            weights.extend(std::iter::repeat_n(0, lines.len()));
                        }
                        continue;
                    }
                    Err(failure) => return Err(failure.into_error(ctx.event, &rule.id)),
                }
            }
            let (shape, div) = (rule.shape, rule.div);
            let (mut numerator, mut per_line) = (0_i128, 0_i128);
            // This rule's row of weights, pushed line by line (dropped
            // again if the rule gives nothing).
            let row_start = weights.len();
            let mut targets = Multiplied::new();
            if shape.multiplies() {
                multiplied(program, &outcomes[..stage_one_end], rule, &mut targets);
            }
            // Without the split over lines, a per-transaction rate needs only
            // the matching amount: Σ (amount × rate) = rate × Σ amount,
            // exactly (and overflowing exactly when the sum would, since no
            // amount is negative); a fixed bonus needs only the amount.
            // So does a multiplier rounded per transaction of up to four
            // per-amount or percent rules (see [`summed_multiplier`]).
            let per_transaction = rule.round == RoundAt::PerTransaction;
            let summed = !split
                && !scripted
                && match shape {
                    Shape::Bonus => true,
                    Shape::Rate => per_transaction,
                    Shape::Multiplier => {
                        per_transaction
                            && targets.len() <= SUMMED_TARGETS
                            && targets.iter().all(|(t, _)| t.shape == Shape::Rate && t.rate_num > 0)
                    }
                    Shape::ScriptMultiplier | Shape::LinePoints => false,
                };
            if summed && shape == Shape::Multiplier {
                numerator = summed_multiplier(&targets, rule, lines, &mut any, &mut basket).ok_or_else(overflow)?;
            } else if summed {
                for p in lines.iter().filter(|p| line_matches(rule, p)) {
                    any = true;
                    basket += p.amount; // bounded by the basket's total
                }
                if shape == Shape::Rate {
                    numerator = crate::number::mul(basket, rule.rate_num).ok_or_else(overflow)?;
                }
            }
            // Line by line, unless summed above.
            let each_line: &[Priced<'_>] = if summed { &[] } else { lines };
            for (i, p) in each_line.iter().enumerate() {
                let mut w = 0;
                if line_matches(rule, p) {
                    if !scripted {
                        any = true;
                        basket += p.amount; // bounded by the basket's total
                    }
                    w = if shape == Shape::Bonus {
                        p.amount
                    } else {
                        let value = if scripted { outcome.script_value(i) } else { 0 };
                        let x = line_numerator(&targets, rule, p, i, value).ok_or_else(overflow)?;
                        match rule.round {
                            RoundAt::PerTransaction => {
                                numerator = numerator.checked_add(x).ok_or_else(overflow)?;
                                x
                            }
                            RoundAt::PerLine => {
                                let rounded = round_div(x, div, rule.rounding);
                                per_line = per_line.checked_add(rounded).ok_or_else(overflow)?;
                                rounded
                            }
                        }
                    };
                }
                if split {
                    weights.push(w);
                }
            }
            drop(targets);
            if !scripted && (!any || rule.min_basket.is_some_and(|m| basket < m)) {
                weights.truncate(row_start);
                continue;
            }
            let points = match (shape, rule.round) {
                (Shape::Bonus, _) if rule.script.is_some() => {
                    round_div(outcome.script_value(0), MONEY_ONE, rule.rounding)
                }
                (Shape::Bonus, _) => i128::from(rule.fixed),
                (_, RoundAt::PerTransaction) => round_div(numerator, div, rule.rounding),
                (_, RoundAt::PerLine) => per_line,
            };
            let points = Points::try_from(points).map_err(|_| overflow())?;
            if points <= 0 {
                weights.truncate(row_start);
                continue;
            }
            let (capped, capped_by) = if rule.capped { apply_caps(rule, points, ctx) } else { (points, None) };
            outcome.points = capped;
            outcome.uncapped = points;
            outcome.capped_by = capped_by;
            outcomes.push(outcome);
        }
        // Exclusive rules of this stage compete: the most points win, then
        // the earlier rule (lower priority, then id). Skipped rules take no part.
        let competes = |o: &RuleOutcome| program.earn[o.rule].exclusive && o.skipped().is_none();
        let best = outcomes[first_of_stage..]
            .iter()
            .filter(|o| competes(o))
            .max_by(|a, b| a.points.cmp(&b.points).then(b.rule.cmp(&a.rule)))
            .map(|o| o.rule);
        if let Some(best) = best {
            for o in outcomes[first_of_stage..].iter_mut() {
                if competes(o) && o.rule != best {
                    o.beaten_by = Some(best);
                }
            }
        }
        if !stage {
            stage_one_end = outcomes.len();
        }
    }
    *total = 0;
    for o in outcomes.iter_mut() {
        if o.beaten_by.is_some() {
            o.points = 0;
            continue;
        }
        *total = total.checked_add(o.points).ok_or_else(|| Error::overflow("points of a basket"))?;
    }
    if split {
        split_over_lines(program, lines, outcomes, &weights, lines_out)?;
    }
    Ok(())
}

/// Every surviving rule's points split over the basket's lines, summed per
/// line. A per-line rule gives each line its own rounded points (cut in
/// proportion when capped); any other rule splits in proportion to its exact
/// points per line (a fixed bonus: to the lines' amounts).
/// `all_weights` holds one row of per-line weights per outcome, as
/// `evaluate` computed them: the exact numerators (rounded per line for
/// per-line rules; a bonus's lines weigh their amounts).
fn split_over_lines(
    program: &Program,
    lines: &[Priced<'_>],
    outcomes: &[RuleOutcome],
    all_weights: &[i128],
    sums: &mut SmallVec<[Points; 8]>,
) -> Result<()> {
    *sums = SmallVec::from_elem(0, lines.len());
    let n = lines.len();
    for (k, o) in outcomes.iter().enumerate().filter(|(_, o)| o.beaten_by.is_none() && o.points > 0) {
        let rule = &program.earn[o.rule];
        let shape = rule.shape;
        let weights = all_weights.get(k * n..(k + 1) * n).unwrap_or(&[]);
        debug_assert_eq!(weights.len(), n, "rule '{}': no weights", rule.id);
        debug_assert!(
            rule.round != RoundAt::PerLine
                || shape == Shape::Bonus
                || weights.iter().sum::<i128>() == i128::from(o.uncapped),
            "rule '{}': per-line points do not add up",
            rule.id
        );
        allocate_add(o.points, weights, sums).ok_or_else(|| Error::overflow("points of a basket"))?;
    }
    Ok(())
}

#[inline]
fn apply_caps(rule: &CompiledEarn, points: Points, ctx: &Context<'_>) -> (Points, Option<Cap>) {
    let caps = &rule.caps;
    let mut room = points;
    let mut by = None;
    let mut cut = |limit: Option<Points>, used: Points, cap: Cap| {
        if let Some(limit) = limit {
            let left = limit.saturating_sub(used).max(0);
            if left < room {
                room = left;
                by = Some(cap);
            }
        }
    };
    cut(caps.per_transaction, 0, Cap::PerTransaction);
    if caps.per_day.is_some() || caps.per_month.is_some() {
        let (day, month, _) = day_and_month(&ctx.member.days, "earn", &rule.id, ctx.date);
        cut(caps.per_day, day, Cap::PerDay);
        cut(caps.per_month, month, Cap::PerMonth);
    }
    if caps.lifetime.is_some() {
        cut(caps.lifetime, ctx.member.lifetime.get(&*rule.id).copied().unwrap_or(0), Cap::Lifetime);
    }
    (room, by)
}

/// One rule outcome as a quote line (and, through it, a receipt line).
/// Inlined: built in place in the caller's vector, not returned through
/// the stack and copied (a store the next load cannot forward from).
#[inline(always)]
pub(crate) fn quoted<'p>(program: &'p Program, o: &RuleOutcome) -> crate::QuotedRule<'p> {
    let rule = &program.earn[o.rule];
    crate::QuotedRule {
        rule: &rule.id,
        name: &rule.name,
        points: o.points,
        capped: o.capped_by.filter(|_| o.beaten_by.is_none()).map(Cap::words),
        beaten_by: o.beaten_by.map(|w| &*program.earn[w].name),
        script: o
            .script
            .as_ref()
            .map(|s| Box::new(crate::receipt::ScriptLine { note: s.note.clone(), skipped: s.skipped.clone() })),
        scale: program.scale(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_hold_as_the_maps_lookup_says() {
        let long = "a-value-longer-than-sixteen-bytes";
        let wanted: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("tier", "gold")],
            vec![("tier", "gol")],
            vec![("tier", "gold"), ("city", "kazan")],
            vec![("k7", "v7")],
            vec![("k12", "v12")],
            vec![("note", long)],
            vec![("note", "a-value-longer-than-sixteen-bytez")],
        ];
        for size in [0, 1, 2, 8, 9, 20] {
            let mut profile: std::collections::BTreeMap<String, String> =
                (0..size).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
            if size > 0 {
                profile.insert("tier".into(), "gold".into());
                profile.insert("note".into(), long.into());
            }
            for w in &wanted {
                let compiled: Vec<(Box<str>, Box<str>)> = w.iter().map(|&(k, v)| (k.into(), v.into())).collect();
                let by_map = w.iter().all(|&(k, v)| profile.get(k).is_some_and(|x| x == v));
                assert_eq!(attributes_hold(&compiled, &profile), by_map, "{w:?} in a profile of {}", profile.len());
            }
        }
    }

    #[test]
    fn allocation_sums_exactly() {
        assert_eq!(allocate(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(allocate(7, &[0, 0]), vec![7, 0]);
        assert_eq!(allocate(5, &[3, 1]), vec![4, 1]);
        assert_eq!(allocate(0, &[3, 1]), vec![0, 0]);
        assert_eq!(allocate(-5, &[3, 1]), vec![-4, -1]);
        assert!(allocate(3, &[]).is_empty());
        // Weights whose products with the total pass 128 bits.
        let big = 10_i128.pow(30);
        assert_eq!(allocate(i64::MAX, &[big, big]), vec![i64::MAX / 2 + 1, i64::MAX / 2]);
    }

    /// The 64-bit split gives what the 128-bit one gives, leftover units
    /// and ties included.
    #[test]
    fn small_split_agrees_with_wide_split() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..20_000 {
            let n = 1 + (next() % 16) as usize;
            let scale = [10, 1_000, 1_000_000, 1 << 40][case % 4];
            // Small weights repeat, so ties are common.
            let weights: Vec<i128> =
                (0..n).map(|_| if next() % 4 == 0 { 0 } else { i128::from(next() % scale) }).collect();
            let sum: u128 = weights.iter().map(|w| w.unsigned_abs()).sum();
            let whole = u128::from(next() % 5_000);
            if sum == 0 || whole == 0 {
                continue;
            }
            let (mut small, mut wide) = (vec![0; n], vec![0; n]);
            if split_small(whole, sum, &weights, &mut small) {
                split_wide(whole, sum, &weights, &mut wide);
                assert_eq!(small, wide, "whole {whole}, weights {weights:?}");
            }
            // The direct split into sums gives the same parts, added in.
            let base: Vec<Points> = (0..n).map(|_| (next() % 100) as Points).collect();
            let mut direct = base.clone();
            let total = whole as Points;
            if split_add_small(total, &weights, &mut direct) == Some(true) {
                let mut wide = vec![0; n];
                split_wide(whole, sum, &weights, &mut wide);
                let want: Vec<Points> = base.iter().zip(&wide).map(|(b, w)| b + w).collect();
                assert_eq!(direct, want, "whole {whole}, weights {weights:?}");
            }
        }
    }

    #[test]
    fn day_keys() {
        assert!(day_key_matches("earn:base", "earn", "base"));
        assert!(!day_key_matches("earn:base2", "earn", "base"));
        assert!(!day_key_matches("burn:base", "earn", "base"));
        assert!(!day_key_matches("earnxbase", "earn", "base"));
        // The same answer as the key written out, for every cut of a few keys.
        let keys = ["earn:base", "earn:bas", "earn:", "purchases:", "burn:rewards", "e:b", ":", "", "earn:baseé"];
        for key in keys {
            for kind in ["earn", "burn", "purchases", "e", ""] {
                for id in ["base", "bas", "", "rewards", "b", "baseé"] {
                    assert_eq!(day_key_matches(key, kind, id), key == format!("{kind}:{id}"), "{key} {kind} {id}");
                }
            }
        }
    }
}
