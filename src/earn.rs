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

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::event::Line;
use crate::member::DayCount;
use crate::number::{format_points, Points, RoundAt};
use crate::program::{CompiledEarn, EarnKind, Program};
use crate::time::{TimeOfDay, Weekday};

/// A basket line with its money worked out.
#[derive(Debug, Clone)]
pub(crate) struct Priced<'a> {
    pub(crate) line: &'a Line,
    /// unit_price × quantity − discount.
    pub(crate) amount: Decimal,
    /// False when the earning base excludes the line.
    pub(crate) earns: bool,
}

/// Where and when a basket is evaluated.
pub(crate) struct Context<'a> {
    pub(crate) date: NaiveDate,
    pub(crate) weekday: Weekday,
    pub(crate) time: TimeOfDay,
    pub(crate) channel: Option<&'a str>,
    pub(crate) store: Option<&'a str>,
    pub(crate) attributes: &'a BTreeMap<String, String>,
    pub(crate) days: &'a [DayCount],
    pub(crate) lifetime: &'a BTreeMap<String, Points>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        program: &Program,
        at: DateTime<Utc>,
        channel: Option<&'a str>,
        store: Option<&'a str>,
        member: &'a crate::Member,
    ) -> Context<'a> {
        let local = at.with_timezone(&program.zone);
        Context {
            date: local.date_naive(),
            weekday: Weekday::of(local.date_naive()),
            time: TimeOfDay::of(local.time()),
            channel,
            store,
            attributes: &member.profile.attributes,
            days: &member.days,
            lifetime: &member.lifetime,
        }
    }
}

/// What one rule gave.
#[derive(Debug, Clone)]
pub(crate) struct RuleOutcome {
    /// Index into `Program::earn`.
    pub(crate) rule: usize,
    pub(crate) points: Points,
    /// Points split over the basket's lines (sums to `points`).
    pub(crate) lines: Vec<Points>,
    /// Exact points per line before rounding (stage-one rules; multipliers read them).
    raw: Vec<Decimal>,
    /// Which cap cut the points, if one did.
    pub(crate) capped_by: Option<&'static str>,
    /// The exclusive rule that won over this one, if one did.
    pub(crate) beaten_by: Option<usize>,
}

/// The earn of one basket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Earned {
    pub(crate) total: Points,
    /// Per line, summed over rules.
    pub(crate) lines: Vec<Points>,
    /// In rule order; rules that did not fire are absent.
    pub(crate) rules: Vec<RuleOutcome>,
}

pub(crate) fn day_key_matches(key: &str, kind: &str, id: &str) -> bool {
    key.len() == kind.len() + 1 + id.len()
        && key.starts_with(kind)
        && key.as_bytes()[kind.len()] == b':'
        && key.ends_with(id)
}

/// Points (and count) recorded under a key on one date, and in that date's month.
pub(crate) fn day_and_month(days: &[DayCount], kind: &str, id: &str, date: NaiveDate) -> (Points, Points, u32) {
    let (mut day, mut month, mut count) = (0, 0, 0);
    for d in days {
        if d.date.year() == date.year() && d.date.month() == date.month() && day_key_matches(&d.key, kind, id) {
            month += d.points;
            if d.date == date {
                day += d.points;
                count += d.count;
            }
        }
    }
    (day, month, count)
}

fn line_matches(rule: &CompiledEarn, line: &Line) -> bool {
    let w = &rule.when;
    (w.categories.is_empty() || w.categories.contains(&line.category))
        && !w.exclude_categories.contains(&line.category)
        && (w.skus.is_empty() || w.skus.contains(&line.sku))
        && !w.exclude_skus.contains(&line.sku)
}

fn context_matches(rule: &CompiledEarn, ctx: &Context<'_>) -> bool {
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
    w.attributes.iter().all(|(k, v)| ctx.attributes.get(k) == Some(v))
}

/// Splits `total` over `weights` in proportion, largest remainder first (ties
/// to the earlier line), so the parts sum to `total` exactly.
pub(crate) fn allocate(total: Points, weights: &[Decimal]) -> Vec<Points> {
    let mut parts = vec![0; weights.len()];
    if weights.is_empty() || total == 0 {
        return parts;
    }
    let sum: Decimal = weights.iter().copied().sum();
    if sum.is_zero() {
        parts[0] = total;
        return parts;
    }
    // One division, then a product per line: the shares may be off in the
    // 28th digit, but the largest-remainder pass below makes them sum to
    // `total` exactly, and the result is the same on every platform.
    let per_weight = Decimal::from(total).checked_div(sum).unwrap_or_default();
    let mut given = 0;
    let mut rest: Vec<(Decimal, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = w.checked_mul(per_weight).unwrap_or_default().min(Decimal::from(total));
        let floor = exact.floor();
        let whole = i64::try_from(floor).unwrap_or(0);
        parts[i] = whole;
        given += whole;
        rest.push((exact - floor, i));
    }
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = total - given;
    for (_, i) in rest {
        if left <= 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

fn round_units(rule: &CompiledEarn, value: Decimal) -> Result<Points> {
    let rounded = rule.rounding.round(value, 0);
    i64::try_from(rounded).map_err(|_| Error::overflow(format!("points of rule '{}'", rule.id)))
}

/// Evaluates the earn rules of `program` on a priced basket.
///
/// With `split` false the per-line split of points is skipped (a quote does
/// not need it) and `Earned::lines` and `RuleOutcome::lines` stay empty.
pub(crate) fn evaluate(program: &Program, lines: &[Priced<'_>], ctx: &Context<'_>, split: bool) -> Result<Earned> {
    let n = lines.len();
    let mut outcomes: Vec<RuleOutcome> = Vec::new();
    for stage in [false, true] {
        let first_of_stage = outcomes.len();
        for rule in program.earn.iter().filter(|r| (r.kind == EarnKind::Multiplier) == stage) {
            if !context_matches(rule, ctx) {
                continue;
            }
            let overflow = || Error::overflow(format!("points of rule '{}'", rule.id));
            let mut raw = vec![Decimal::ZERO; n];
            let mut any = false;
            let mut basket = Decimal::ZERO;
            for (i, p) in lines.iter().enumerate() {
                if p.earns && line_matches(rule, p.line) {
                    any = true;
                    basket = basket.checked_add(p.amount).ok_or_else(|| Error::overflow("a basket amount"))?;
                    raw[i] = match rule.kind {
                        EarnKind::PerAmount | EarnKind::Percent => match rule.rate {
                            Some(rate) => p.amount.checked_mul(rate),
                            None => p.amount.checked_mul(rule.numerator).and_then(|v| v.checked_div(rule.denominator)),
                        }
                        .ok_or_else(|| Error::overflow(format!("points of rule '{}'", rule.id)))?,
                        // Fixed bonuses split over lines by amount.
                        EarnKind::Fixed => p.amount,
                        EarnKind::Multiplier => {
                            let mut base = Decimal::ZERO;
                            for o in outcomes[..first_of_stage].iter().filter(|o| o.beaten_by.is_none()) {
                                if rule.targets.contains(&o.rule) {
                                    base = base.checked_add(o.raw[i]).ok_or_else(overflow)?;
                                }
                            }
                            base.checked_mul(rule.extra)
                                .ok_or_else(|| Error::overflow(format!("points of rule '{}'", rule.id)))?
                        }
                    };
                }
            }
            if !any || rule.when.min_basket.is_some_and(|m| basket < m.decimal()) {
                continue;
            }
            let share = |points: Points, raw: &[Decimal]| if split { allocate(points, raw) } else { Vec::new() };
            let (points, parts) = match (rule.kind, rule.round) {
                (EarnKind::Fixed, _) => (rule.fixed, share(rule.fixed, &raw)),
                (_, RoundAt::PerLine) => {
                    let mut parts = Vec::with_capacity(n);
                    let mut sum: Points = 0;
                    for v in &raw {
                        let units = round_units(rule, *v)?;
                        sum = sum.checked_add(units).ok_or_else(|| Error::overflow("points of a basket"))?;
                        parts.push(units);
                    }
                    (sum, parts)
                }
                (_, RoundAt::PerTransaction) => {
                    let mut total = Decimal::ZERO;
                    for v in &raw {
                        total = total.checked_add(*v).ok_or_else(overflow)?;
                    }
                    let units = round_units(rule, total)?;
                    (units, share(units, &raw))
                }
            };
            if points <= 0 {
                continue;
            }
            let (points, capped_by) = apply_caps(rule, points, ctx);
            let parts = if capped_by.is_some() && split {
                let weights: Vec<Decimal> = parts.iter().map(|&p| Decimal::from(p)).collect();
                allocate(points, &weights)
            } else {
                parts
            };
            outcomes.push(RuleOutcome { rule: rule.index, points, lines: parts, raw, capped_by, beaten_by: None });
        }
        // Exclusive rules of this stage compete: the most points win, then
        // the earlier rule (lower priority, then id).
        let best = outcomes[first_of_stage..]
            .iter()
            .filter(|o| program.earn[o.rule].exclusive)
            .max_by(|a, b| a.points.cmp(&b.points).then(b.rule.cmp(&a.rule)))
            .map(|o| o.rule);
        if let Some(best) = best {
            for o in outcomes[first_of_stage..].iter_mut() {
                if program.earn[o.rule].exclusive && o.rule != best {
                    o.beaten_by = Some(best);
                }
            }
        }
    }
    let mut earned = Earned { total: 0, lines: if split { vec![0; n] } else { Vec::new() }, rules: outcomes };
    for o in earned.rules.iter_mut() {
        if o.beaten_by.is_some() {
            o.points = 0;
            o.lines.iter_mut().for_each(|p| *p = 0);
            continue;
        }
        earned.total = earned.total.checked_add(o.points).ok_or_else(|| Error::overflow("points of a basket"))?;
        for (sum, p) in earned.lines.iter_mut().zip(&o.lines) {
            *sum += p;
        }
    }
    Ok(earned)
}

fn apply_caps(rule: &CompiledEarn, points: Points, ctx: &Context<'_>) -> (Points, Option<&'static str>) {
    let caps = &rule.caps;
    let mut room = points;
    let mut by = None;
    let mut cut = |limit: Option<Points>, used: Points, name: &'static str| {
        if let Some(limit) = limit {
            let left = (limit - used).max(0);
            if left < room {
                room = left;
                by = Some(name);
            }
        }
    };
    cut(caps.per_transaction, 0, "per transaction");
    if caps.per_day.is_some() || caps.per_month.is_some() {
        let (day, month, _) = day_and_month(ctx.days, "earn", &rule.id, ctx.date);
        cut(caps.per_day, day, "per day");
        cut(caps.per_month, month, "per month");
    }
    if caps.lifetime.is_some() {
        cut(caps.lifetime, ctx.lifetime.get(&rule.id).copied().unwrap_or(0), "lifetime");
    }
    (room, by)
}

/// The receipt line of one rule outcome.
pub(crate) fn explain(program: &Program, o: &RuleOutcome) -> crate::Explanation {
    let rule = &program.earn[o.rule];
    let scale = program.scale();
    let text = match (o.beaten_by, o.capped_by) {
        (Some(winner), _) => format!("{}: not applied, '{}' gives more", rule.name, program.earn[winner].name),
        (None, Some(cap)) => format!("{}: +{} (capped {cap})", rule.name, format_points(o.points, scale)),
        (None, None) => format!("{}: +{}", rule.name, format_points(o.points, scale)),
    };
    crate::Explanation { rule: rule.id.clone(), points: o.points, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: i64) -> Decimal {
        Decimal::from(v)
    }

    #[test]
    fn allocation_sums_exactly() {
        assert_eq!(allocate(10, &[d(1), d(1), d(1)]), vec![4, 3, 3]);
        assert_eq!(allocate(7, &[d(0), d(0)]), vec![7, 0]);
        assert_eq!(allocate(5, &[d(3), d(1)]), vec![4, 1]);
        assert_eq!(allocate(0, &[d(3), d(1)]), vec![0, 0]);
        assert!(allocate(3, &[]).is_empty());
    }

    #[test]
    fn day_keys() {
        assert!(day_key_matches("earn:base", "earn", "base"));
        assert!(!day_key_matches("earn:base2", "earn", "base"));
        assert!(!day_key_matches("burn:base", "earn", "base"));
        assert!(!day_key_matches("earnxbase", "earn", "base"));
    }
}
