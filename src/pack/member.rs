//! A member's own fields and its most numerous records (lots, purchases,
//! burns, remembered events, daily counters, tier days), laid out by hand:
//! a member after a year of activity has hundreds of them, and the general
//! serde path costs several times more per field. The rest (holds,
//! rewards, challenges, badges, tier holds and history, …) goes through
//! the serde path of [`super`], in the same stream.
//!
//! Every write destructures its record without `..` and every read builds
//! it field by field, so a field added to a record does not compile until
//! it is packed.
//!
//! The layout, in order (`?x`: a flag byte, then `x` when it is 1):
//!
//! * member: format, id, program, enrolled_at, profile (?birth date,
//!   attributes as (name, value)), clock, next_lot,
//!   next_entry, debt, the seven totals, lots, daily counters, lifetime
//!   counters (id, points), purchases, burns, remembered events, tier
//!   (?current, carried, days), ?last_purchase, then [`Rare`] by serde;
//! * lot: flags (`pending`, `first_order_only`, has `expires_at`, has
//!   `partner`, `held` ≠ 0, `available_at` ≠ `earned_at`), origin (its
//!   variant's number, by serde), seq, amount, remaining, [held], earned_at,
//!   [available_at], [expires_at], source, [partner];
//! * daily counter: date, key, points, count;
//! * purchase: event, order, at, ?lot, amount, returned,
//!   lines (quantity, returned, amount, points, reversed);
//! * burn: event, order, at, points, refunded, takes;
//! * take: lot, ?expires_at, points;
//! * remembered event: id, fingerprint (8 bytes), at, ?receipt;
//! * receipt: event, type, member, at, entries (seq, kind (its variant's
//!   number, by serde), points, at, ?lot, ?rule, reason), explanations
//!   (rule, points, text), balances (posted, pending, held, available),
//!   next expiries (at, date, points), shortfall, ?paid, notes, ?tier,
//!   signals (serde), variants (campaign, variant); each text as the
//!   string the JSON form carries;
//! * tier day: date, value, ?scripted, ?level, ?until.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{PackError, Reader, Writer};
use crate::engagement::{Badge, ChallengeProgress, MemberStatus};
use crate::member::{BurnRecord, DayCount, HoldRecord, LineRecord, Lot, LotOrigin, Processed, PurchaseRecord, Take};
use crate::member::{Member, Totals};
use crate::receipt::{Balances, Entry, Expiring, Explanation, Receipt};
use crate::reward::IssuedReward;
use crate::tier::{TierChange, TierDay, TierHold, TierState};
use crate::{Id, Profile};

/// The member's less common parts, written by serde (each left out when empty).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rare<'a> {
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    holds: Cow<'a, [HoldRecord]>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    rewards: Cow<'a, [IssuedReward]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    referred_by: Option<Id>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    challenges: Cow<'a, [ChallengeProgress]>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    badges: Cow<'a, [Badge]>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    transfers_in: Cow<'a, [(Id, String, DateTime<Utc>)]>,
    #[serde(default, skip_serializing_if = "MemberStatus::is_active")]
    status: MemberStatus,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    chosen: Cow<'a, [(Id, NaiveDate)]>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    referrals: Cow<'a, [(Id, DateTime<Utc>)]>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    tier_holds: Cow<'a, [TierHold]>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    tier_history: Cow<'a, [TierChange]>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    forgotten: Option<DateTime<Utc>>,
}

/// Lot flags (see the module docs).
const PENDING: u64 = 1;
const FIRST_ORDER_ONLY: u64 = 1 << 1;
const EXPIRES: u64 = 1 << 2;
const PARTNER: u64 = 1 << 3;
const HELD: u64 = 1 << 4;
const AVAILABLE_LATER: u64 = 1 << 5;
const FLAGS: u64 = (1 << 6) - 1;

fn len(w: &mut Writer, n: usize) {
    w.u64(n as u64);
}

fn opt_at(w: &mut Writer, t: &Option<DateTime<Utc>>) {
    w.flag(t.is_some());
    if let Some(t) = t {
        w.at(t);
    }
}

fn opt_text(w: &mut Writer, s: Option<&str>) -> Result<(), PackError> {
    w.flag(s.is_some());
    match s {
        Some(s) => w.held_str(s),
        None => Ok(()),
    }
}

pub(super) fn write(w: &mut Writer, m: &Member) -> Result<(), PackError> {
    let Member {
        format,
        id,
        program,
        enrolled_at,
        profile,
        clock,
        next_lot,
        next_entry,
        lots,
        holds,
        debt,
        totals,
        days,
        lifetime,
        purchases,
        burns,
        recent,
        forgotten,
        tier,
        last_purchase,
        rewards,
        referred_by,
        challenges,
        badges,
        transfers_in,
        status,
        chosen,
        referrals,
    } = m;
    w.u64((*format).into());
    w.held_str(id)?;
    w.held_str(program)?;
    w.at(enrolled_at);
    let Profile { birth_date, attributes } = profile;
    w.flag(birth_date.is_some());
    if let Some(d) = birth_date {
        w.date(*d);
    }
    len(w, attributes.len());
    for (k, v) in attributes {
        w.held_str(k)?;
        w.held_str(v)?;
    }
    w.at(clock);
    w.u64(*next_lot);
    w.u64(*next_entry);
    w.i64(*debt);
    let Totals { earned, credited, refunded, burned, debited, expired, reversed } = totals;
    for v in [earned, credited, refunded, burned, debited, expired, reversed] {
        w.i64(*v);
    }
    len(w, lots.len());
    for lot in lots {
        write_lot(w, lot)?;
    }
    len(w, days.len());
    for DayCount { date, key, points, count } in days {
        w.date(*date);
        w.held_str(key)?;
        w.i64(*points);
        w.u64((*count).into());
    }
    len(w, lifetime.len());
    for (rule, points) in lifetime {
        w.held_str(rule)?;
        w.i64(*points);
    }
    len(w, purchases.len());
    for p in purchases {
        write_purchase(w, p)?;
    }
    len(w, burns.len());
    for BurnRecord { event, order, at, points, refunded, takes } in burns {
        w.held_str(event)?;
        w.held_str(order)?;
        w.at(at);
        w.i64(*points);
        w.i64(*refunded);
        write_takes(w, takes);
    }
    len(w, recent.len());
    for Processed { id, fingerprint, at, receipt } in recent {
        w.held_str(id)?;
        w.out.extend_from_slice(&fingerprint.to_le_bytes());
        w.at(at);
        w.flag(receipt.is_some());
        if let Some(r) = receipt {
            write_receipt(w, r)?;
        }
    }
    let TierState { current, days: tier_days, carried, holds: tier_holds, history: tier_history } = tier;
    opt_text(w, current.as_deref())?;
    w.amount(carried);
    len(w, tier_days.len());
    for TierDay { date, value, scripted, level, until } in tier_days {
        w.date(*date);
        w.amount(value);
        opt_text(w, scripted.as_deref())?;
        opt_text(w, level.as_deref())?;
        opt_at(w, until);
    }
    opt_at(w, last_purchase);
    w.serde(&Rare {
        holds: Cow::Borrowed(holds),
        rewards: Cow::Borrowed(rewards),
        referred_by: referred_by.clone(),
        challenges: Cow::Borrowed(challenges),
        badges: Cow::Borrowed(badges),
        transfers_in: Cow::Borrowed(transfers_in),
        status: *status,
        chosen: Cow::Borrowed(chosen),
        referrals: Cow::Borrowed(referrals),
        tier_holds: Cow::Borrowed(tier_holds),
        tier_history: Cow::Borrowed(tier_history),
        forgotten: *forgotten,
    })
}

fn write_lot(w: &mut Writer, lot: &Lot) -> Result<(), PackError> {
    let Lot {
        seq,
        amount,
        remaining,
        held,
        pending,
        earned_at,
        available_at,
        expires_at,
        source,
        origin,
        partner,
        first_order_only,
    } = lot;
    let mut flags = 0;
    for (on, flag) in [
        (*pending, PENDING),
        (*first_order_only, FIRST_ORDER_ONLY),
        (expires_at.is_some(), EXPIRES),
        (partner.is_some(), PARTNER),
        (*held != 0, HELD),
        (available_at != earned_at, AVAILABLE_LATER),
    ] {
        if on {
            flags |= flag;
        }
    }
    w.u64(flags);
    w.serde(origin)?;
    w.u64(*seq);
    w.i64(*amount);
    w.i64(*remaining);
    if *held != 0 {
        w.i64(*held);
    }
    w.at(earned_at);
    if available_at != earned_at {
        w.at(available_at);
    }
    if let Some(t) = expires_at {
        w.at(t);
    }
    w.held_str(source)?;
    if let Some(p) = partner {
        w.held_str(p)?;
    }
    Ok(())
}

fn write_purchase(w: &mut Writer, p: &PurchaseRecord) -> Result<(), PackError> {
    let PurchaseRecord { event, order, at, lot, amount, returned, lines } = p;
    w.held_str(event)?;
    w.held_str(order)?;
    w.at(at);
    w.flag(lot.is_some());
    if let Some(l) = lot {
        w.u64(*l);
    }
    w.amount(amount);
    w.amount(returned);
    len(w, lines.len());
    for LineRecord { quantity, returned, amount, points, reversed } in lines {
        w.amount(quantity);
        w.amount(returned);
        w.amount(amount);
        w.i64(*points);
        w.i64(*reversed);
    }
    Ok(())
}

fn write_takes(w: &mut Writer, takes: &[Take]) {
    len(w, takes.len());
    for Take { lot, expires_at, points } in takes {
        w.u64(*lot);
        opt_at(w, expires_at);
        w.i64(*points);
    }
}

fn read_opt_at(r: &mut Reader<'_>) -> Result<Option<DateTime<Utc>>, PackError> {
    Ok(if r.flag()? { Some(r.at()?) } else { None })
}

fn read_opt_id(r: &mut Reader<'_>) -> Result<Option<Id>, PackError> {
    Ok(if r.flag()? { Some(r.id()?) } else { None })
}

fn list<'de, T>(
    r: &mut Reader<'de>,
    mut item: impl FnMut(&mut Reader<'de>) -> Result<T, PackError>,
) -> Result<Vec<T>, PackError> {
    let n = r.len()?;
    // A length is at most the bytes left, but a hostile one should not reserve
    // a hundred times the input: the list grows past this as it is read.
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        out.push(item(r)?);
    }
    Ok(out)
}

pub(super) fn read(r: &mut Reader<'_>) -> Result<Member, PackError> {
    let format = r.u32()?;
    if format != crate::member::MEMBER_FORMAT {
        return Err(PackError::new(
            3,
            format!(
                "format {format} is not readable by this release (it reads format {})",
                crate::member::MEMBER_FORMAT
            ),
        ));
    }
    let id = r.id()?;
    let program = r.str()?.to_owned();
    let enrolled_at = r.at()?;
    let birth_date = if r.flag()? { Some(r.date()?) } else { None };
    let n = r.len()?;
    let mut attributes = std::collections::BTreeMap::new();
    for _ in 0..n {
        let start = r.pos;
        let (k, v) = (r.str()?.to_owned(), r.str()?.to_owned());
        if attributes.insert(k, v).is_some() {
            return Err(PackError::new(start, "an attribute twice"));
        }
    }
    let clock = r.at()?;
    let next_lot = r.u64()?;
    let next_entry = r.u64()?;
    let debt = r.i64()?;
    let totals = Totals {
        earned: r.i64()?,
        credited: r.i64()?,
        refunded: r.i64()?,
        burned: r.i64()?,
        debited: r.i64()?,
        expired: r.i64()?,
        reversed: r.i64()?,
    };
    let lots = list(r, read_lot)?;
    let days = list(r, |r| Ok(DayCount { date: r.date()?, key: r.id()?, points: r.i64()?, count: r.u32()? }))?;
    let n = r.len()?;
    let mut lifetime = std::collections::BTreeMap::new();
    for _ in 0..n {
        let start = r.pos;
        let rule = r.id()?;
        let points = r.i64()?;
        if lifetime.insert(rule, points).is_some() {
            return Err(PackError::new(start, "a lifetime counter twice"));
        }
    }
    let purchases = list(r, read_purchase)?;
    let burns = list(r, |r| {
        Ok(BurnRecord {
            event: r.str()?.to_owned(),
            order: r.str()?.to_owned(),
            at: r.at()?,
            points: r.i64()?,
            refunded: r.i64()?,
            takes: read_takes(r)?,
        })
    })?;
    let recent = list(r, |r| {
        let id = r.id()?;
        let b = r.take(8)?;
        let fingerprint = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let at = r.at()?;
        let receipt = if r.flag()? { Some(std::sync::Arc::new(read_receipt(r)?)) } else { None };
        Ok(Processed { id, fingerprint, at, receipt })
    })?;
    let current = read_opt_id(r)?;
    let carried = r.amount()?;
    let tier_days = list(r, |r| {
        Ok(TierDay {
            date: r.date()?,
            value: r.amount()?,
            scripted: read_opt_id(r)?,
            level: read_opt_id(r)?,
            until: read_opt_at(r)?,
        })
    })?;
    let last_purchase = read_opt_at(r)?;
    let rare: Rare<'static> = r.serde()?;
    Ok(Member {
        format,
        id,
        program,
        enrolled_at,
        profile: Profile { birth_date, attributes },
        clock,
        next_lot,
        next_entry,
        lots,
        holds: rare.holds.into_owned(),
        debt,
        totals,
        days,
        lifetime,
        purchases,
        burns,
        recent,
        forgotten: rare.forgotten,
        tier: TierState {
            current,
            days: tier_days,
            carried,
            holds: rare.tier_holds.into_owned(),
            history: rare.tier_history.into_owned(),
        },
        last_purchase,
        rewards: rare.rewards.into_owned(),
        referred_by: rare.referred_by,
        challenges: rare.challenges.into_owned(),
        badges: rare.badges.into_owned(),
        transfers_in: rare.transfers_in.into_owned(),
        status: rare.status,
        chosen: rare.chosen.into_owned(),
        referrals: rare.referrals.into_owned(),
    })
}

fn read_lot(r: &mut Reader<'_>) -> Result<Lot, PackError> {
    let start = r.pos;
    let flags = r.u64()?;
    if flags & !FLAGS != 0 {
        return Err(PackError::new(start, format!("a lot's flags {flags:#b}")));
    }
    let origin: LotOrigin = r.serde()?;
    let seq = r.u64()?;
    let amount = r.i64()?;
    let remaining = r.i64()?;
    let held = if flags & HELD != 0 { r.i64()? } else { 0 };
    let earned_at = r.at()?;
    let available_at = if flags & AVAILABLE_LATER != 0 { r.at()? } else { earned_at };
    let expires_at = if flags & EXPIRES != 0 { Some(r.at()?) } else { None };
    let source = r.id()?;
    let partner = if flags & PARTNER != 0 { Some(r.id()?) } else { None };
    Ok(Lot {
        seq,
        amount,
        remaining,
        held,
        pending: flags & PENDING != 0,
        earned_at,
        available_at,
        expires_at,
        source,
        origin,
        partner,
        first_order_only: flags & FIRST_ORDER_ONLY != 0,
    })
}

fn read_purchase(r: &mut Reader<'_>) -> Result<PurchaseRecord, PackError> {
    let event = r.id()?;
    let order = r.id()?;
    let at = r.at()?;
    let lot = if r.flag()? { Some(r.u64()?) } else { None };
    let amount = r.amount()?;
    let returned = r.amount()?;
    let lines = list(r, |r| {
        Ok(LineRecord {
            quantity: r.amount()?,
            returned: r.amount()?,
            amount: r.amount()?,
            points: r.i64()?,
            reversed: r.i64()?,
        })
    })?;
    Ok(PurchaseRecord { event, order, at, lot, amount, returned, lines })
}

fn read_takes(r: &mut Reader<'_>) -> Result<Vec<Take>, PackError> {
    list(r, |r| Ok(Take { lot: r.u64()?, expires_at: read_opt_at(r)?, points: r.i64()? }))
}

fn write_receipt(w: &mut Writer, receipt: &Receipt) -> Result<(), PackError> {
    let Receipt {
        event,
        kind,
        member,
        at,
        entries,
        explanations,
        balances,
        next_expiries,
        shortfall,
        paid,
        notes,
        tier,
        signals,
        variants,
    } = receipt;
    w.held_str(event)?;
    w.serde(kind)?;
    w.held_str(member)?;
    w.at(at);
    len(w, entries.len());
    for Entry { seq, kind, points, at, lot, rule, reason } in entries {
        w.u64(*seq);
        w.serde(kind)?;
        w.i64(*points);
        w.at(at);
        w.flag(lot.is_some());
        if let Some(l) = lot {
            w.u64(*l);
        }
        opt_text(w, rule.as_deref())?;
        w.serde(reason)?;
    }
    len(w, explanations.len());
    for Explanation { rule, points, text } in explanations {
        w.held_str(rule)?;
        w.i64(*points);
        w.serde(text)?;
    }
    let Balances { posted, pending, held, available } = balances;
    for v in [posted, pending, held, available] {
        w.i64(*v);
    }
    len(w, next_expiries.len());
    for Expiring { at, date, points } in next_expiries {
        w.at(at);
        w.date(*date);
        w.i64(*points);
    }
    w.i64(*shortfall);
    w.flag(paid.is_some());
    if let Some(a) = paid {
        w.amount(a);
    }
    len(w, notes.len());
    for n in notes {
        w.held_str(n)?;
    }
    opt_text(w, tier.as_deref())?;
    crate::receipt::signals::serialize(signals, &mut *w)?;
    len(w, variants.len());
    for crate::engagement::Assignment { campaign, variant } in variants {
        w.held_str(campaign)?;
        w.held_str(variant)?;
    }
    Ok(())
}

fn read_receipt(r: &mut Reader<'_>) -> Result<Receipt, PackError> {
    let event = r.id()?;
    let kind = r.serde()?;
    let member = r.id()?;
    let at = r.at()?;
    let entries = list(r, |r| {
        Ok(Entry {
            seq: r.u64()?,
            kind: r.serde()?,
            points: r.i64()?,
            at: r.at()?,
            lot: if r.flag()? { Some(r.u64()?) } else { None },
            rule: if r.flag()? { Some(r.str()?.to_owned()) } else { None },
            reason: r.serde()?,
        })
    })?;
    let explanations = list(r, |r| Ok(Explanation { rule: r.id()?, points: r.i64()?, text: r.serde()? }))?;
    let balances = Balances { posted: r.i64()?, pending: r.i64()?, held: r.i64()?, available: r.i64()? };
    let next_expiries = list(r, |r| Ok(Expiring { at: r.at()?, date: r.date()?, points: r.i64()? }))?;
    let shortfall = r.i64()?;
    let paid = if r.flag()? { Some(r.amount()?) } else { None };
    let notes = list(r, |r| Ok(r.str()?.to_owned()))?;
    let tier = read_opt_id(r)?;
    let signals = crate::receipt::signals::deserialize(&mut *r);
    let signals = signals.map_err(|e| e.located(r.pos))?;
    let variants = list(r, |r| Ok(crate::engagement::Assignment { campaign: r.id()?, variant: r.id()? }))?;
    Ok(Receipt {
        event,
        kind,
        member,
        at,
        entries,
        explanations,
        balances,
        next_expiries,
        shortfall,
        paid,
        notes,
        tier,
        signals,
        variants,
    })
}
