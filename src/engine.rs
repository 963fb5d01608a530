//! The state machine: apply an event to a member, atomically and idempotently.
//!
//! Checks run in a fixed, documented order, and the first failing one is the
//! error returned:
//!
//! 1. the member belongs to this program (`WrongProgram`);
//! 2. the event id was seen: same payload → the original receipt
//!    (`Applied::duplicate`), else `IdReusedWithDifferentPayload`, or
//!    `AlreadyApplied` when the receipt is no longer kept;
//! 3. the event's fields (`InvalidEvent`);
//! 4. its time: not older than the late window, and after every forgotten
//!    event (`TooLate`);
//! 5. the kind's own checks (`NotFound`, `ReturnExceedsPurchase`,
//!    `ReturnWindowClosed`, `HoldClosed`, `BurnRefused`, `InsufficientPoints`,
//!    `Overflow`).
//!
//! The event is applied in place with an undo log; on any error the member is
//! put back exactly as it was.

mod engage;
mod rewards;
mod status;
mod tiering;

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use smallvec::SmallVec;

use crate::earn::{self, day_and_month, Context, Priced, PricedLines};
use crate::error::{Error, Result};
use crate::event::{
    check_id, id_problem, Adjust, Basket, Capture, Event, EventKind, Hold, Line, Purchase, Redeem, Return, Void,
    LINES_MAX,
};
use crate::member::{
    BurnRecord, DayCount, HoldRecord, HoldStatus, LineRecord, Lot, LotOrigin, Member, Processed, PurchaseRecord, Take,
    Totals,
};
use crate::number::{
    money_to_decimal, mul, mul_div_rem, pow10, to_money, Amount, Money, Points, PointsText, MONEY_SCALE,
};
use crate::program::{CompiledBurn, ExpiryFrom, ExpiryKind, Program};
use crate::receipt::{Entry, EntryKind, Expiring, Explanation, Id, Receipt, Text};
use crate::time::{expiry_date, local_date, start_of_day, Moment};

/// The result of [`Program::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The receipt; for a duplicate, the original one, byte for byte. It is
    /// shared with the member's memory of recent events, so returning it
    /// copies nothing.
    pub receipt: Arc<Receipt>,
    /// True when the event id was applied before and nothing changed now.
    pub duplicate: bool,
}

/// A dry run of a purchase: what a basket would earn and how much of it could
/// be paid with points. Nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quote<'p> {
    /// Points the basket would earn.
    pub points: Points,
    /// Per rule that fired.
    pub explanations: Vec<crate::QuotedRule<'p>>,
    /// Points the member could spend at that instant.
    pub available: Points,
    /// The most points the first burn rule lets pay for this basket (0 without burn rules).
    pub max_burn: Points,
    /// Their money value.
    pub max_burn_value: Amount,
}

/// One event at work on a member, with what the receipt will say and what
/// puts the member back if the event fails half-way.
struct Work<'p, 'm> {
    program: &'p Program,
    m: &'m mut Member,
    /// The event's id, shared by the receipt, new lots, the purchase record
    /// and the member's memory of the event.
    id: Id,
    /// The event's instant with its local time, converted once per event.
    event_at: Moment,
    /// In the caller's frame (see [`Undo::of`]).
    undo: &'m mut Undo<'p>,
    entries: Vec<Entry>,
    explanations: Vec<Explanation>,
    notes: Vec<String>,
    shortfall: Points,
    paid: Option<Amount>,
    signals: Vec<crate::receipt::Signal>,
    /// Ends of tier status periods up to this instant have been processed.
    tier_clock: DateTime<Utc>,
    /// The member's level at an instant at or after its clock, as last
    /// worked out ([`Work::level_after`]); forgotten whenever the tier
    /// state changes ([`Work::tier_mut`]).
    level_memo: Option<(DateTime<Utc>, usize)>,
    /// The local date of the member's enrolment, once needed.
    enrolled_on: Option<NaiveDate>,
    /// Birthday bonuses up to this instant have been credited.
    bonus_clock: DateTime<Utc>,
    /// The start of the next birthday after `bonus_clock`, once worked out.
    next_birthday: Option<Option<DateTime<Utc>>>,
    /// Shared counters to take from once every other check passed.
    counter_takes: Vec<rewards::CounterTake>,
    /// Shared counters to give back (cancelled rewards).
    counter_gives: Vec<(String, i64)>,
    /// Available points before the event, for programs with rewards.
    available_before: Option<Points>,
}

/// The fields of a lot that an event changes in place: remaining, held,
/// pending, expires_at.
type LotState = (Points, Points, bool, Option<DateTime<Utc>>);

/// What puts a member back as it was before an event that failed half-way:
/// the fields an event changes in place, and the lengths of the lists it
/// appends to. Much cheaper than a copy of the member: no string, record or
/// list of records is copied, except the one purchase a return changes.
///
/// Events only append to lists and change records in place; lists shrink
/// (compaction) only after the last check that can fail.
struct Undo<'p> {
    clock: DateTime<Utc>,
    next_lot: u64,
    next_entry: u64,
    debt: Points,
    totals: Totals,
    /// (remaining, held, pending, expires_at) of the lots there were.
    lots: SmallVec<[LotState; 16]>,
    /// (status, closed_at) of the holds there were.
    holds: SmallVec<[(HoldStatus, Option<DateTime<Utc>>); 4]>,
    /// (points, count) of the daily counters there were.
    days: SmallVec<[(Points, u32); 16]>,
    /// Lifetime counters (keyed by rule id) as they were before each change, in order.
    lifetime: SmallVec<[(&'p str, Option<Points>); 8]>,
    /// Lifetime counters with keys made for the event (`activity:<id>`).
    lifetime_owned: Vec<(String, Option<Points>)>,
    last_purchase: Option<DateTime<Utc>>,
    referred_by: Option<Id>,
    referrals: usize,
    chosen: usize,
    status: crate::engagement::MemberStatus,
    transfers_in: usize,
    /// Challenge progress and badges, for programs with challenges.
    challenges: Option<(Vec<crate::engagement::ChallengeProgress>, usize)>,
    purchases: usize,
    /// Purchase records as they were before a return changed them.
    purchases_changed: Vec<(usize, PurchaseRecord)>,
    burns: usize,
    /// `refunded` of burn records before a return changed it.
    burns_changed: Vec<(usize, Points)>,
    /// What the event changed of the tier state, as it was: kept by
    /// [`Work::tier_mut`] and [`Work::tier_days_mut`] before the changes.
    tier: Option<TierUndo>,
    /// The whole tier state as it was, to check in debug builds that the
    /// undo log puts it back exactly.
    #[cfg(debug_assertions)]
    tier_before: crate::tier::TierState,
    /// The length of the tier history (events only append to it).
    tier_history: usize,
    /// (status, closed_at) of the issued rewards there were.
    rewards: SmallVec<[(crate::reward::RewardStatus, Option<DateTime<Utc>>); 4]>,
}

impl<'p> Undo<'p> {
    /// The scalar fields and list lengths of `m`, with the per-record
    /// lists empty: [`Undo::record`] fills them in place.
    ///
    /// Not inlined, and called as `let mut undo = Undo::of(m)`: the ≈ 1.4 KB
    /// log is then written straight into the caller's variable. Built
    /// inside the `Work` literal (as it was), it was built apart and copied
    /// in, ≈ 200 instructions of `memcpy` per event, twice.
    #[inline(never)]
    fn of(m: &Member) -> Undo<'p> {
        Undo {
            clock: m.clock,
            next_lot: m.next_lot,
            next_entry: m.next_entry,
            debt: m.debt,
            totals: m.totals,
            lots: SmallVec::new(),
            holds: SmallVec::new(),
            days: SmallVec::new(),
            lifetime: SmallVec::new(),
            lifetime_owned: Vec::new(),
            last_purchase: m.last_purchase,
            referred_by: m.referred_by.clone(),
            referrals: m.referrals.len(),
            chosen: m.chosen.len(),
            status: m.status,
            transfers_in: m.transfers_in.len(),
            challenges: None,
            purchases: m.purchases.len(),
            purchases_changed: Vec::new(),
            burns: m.burns.len(),
            burns_changed: Vec::new(),
            tier: None,
            #[cfg(debug_assertions)]
            tier_before: m.tier.clone(),
            tier_history: m.tier.history.len(),
            rewards: SmallVec::new(),
        }
    }

    /// The fields of `m`'s records that an event changes in place.
    fn record(&mut self, m: &Member) {
        self.lots.extend(m.lots.iter().map(|l| (l.remaining, l.held, l.pending, l.expires_at)));
        self.holds.extend(m.holds.iter().map(|h| (h.status, h.closed_at)));
        self.days.extend(m.days.iter().map(|d| (d.points, d.count)));
        self.rewards.extend(m.rewards.iter().map(|r| (r.status, r.closed_at)));
    }

    /// In debug builds: the undo log puts the tier state back as it was
    /// (so every change went through [`Work::tier_mut`] or
    /// [`Work::tier_days_mut`]).
    fn check_tier(&self, m: &Member) {
        #[cfg(debug_assertions)]
        {
            let mut t = m.tier.clone();
            if let Some(u) = &self.tier {
                u.clone().put_back(&mut t);
            }
            t.history.truncate(self.tier_history);
            assert_eq!(t, self.tier_before, "the tier state changed without Work::tier_mut");
        }
        let _ = m;
    }

    fn restore(self, m: &mut Member) {
        self.check_tier(m);
        m.clock = self.clock;
        m.next_lot = self.next_lot;
        m.next_entry = self.next_entry;
        m.debt = self.debt;
        m.totals = self.totals;
        m.lots.truncate(self.lots.len());
        for (l, (remaining, held, pending, expires_at)) in m.lots.iter_mut().zip(self.lots) {
            (l.remaining, l.held, l.pending, l.expires_at) = (remaining, held, pending, expires_at);
        }
        m.holds.truncate(self.holds.len());
        for (h, (status, closed_at)) in m.holds.iter_mut().zip(self.holds) {
            (h.status, h.closed_at) = (status, closed_at);
        }
        m.days.truncate(self.days.len());
        for (d, (points, count)) in m.days.iter_mut().zip(self.days) {
            (d.points, d.count) = (points, count);
        }
        for (key, old) in self.lifetime.into_iter().rev() {
            match old {
                Some(v) => m.lifetime.insert(Id::from(key), v),
                None => m.lifetime.remove(key),
            };
        }
        for (key, old) in self.lifetime_owned.into_iter().rev() {
            match old {
                Some(v) => m.lifetime.insert(Id::from(key), v),
                None => m.lifetime.remove(key.as_str()),
            };
        }
        m.last_purchase = self.last_purchase;
        m.referred_by = self.referred_by;
        m.referrals.truncate(self.referrals);
        m.chosen.truncate(self.chosen);
        m.status = self.status;
        m.transfers_in.truncate(self.transfers_in);
        if let Some((challenges, badges)) = self.challenges {
            m.challenges = challenges;
            m.badges.truncate(badges);
        }
        m.rewards.truncate(self.rewards.len());
        for (r, (status, closed_at)) in m.rewards.iter_mut().zip(self.rewards) {
            (r.status, r.closed_at) = (status, closed_at);
        }
        m.purchases.truncate(self.purchases);
        for (i, record) in self.purchases_changed.into_iter().rev() {
            m.purchases[i] = record;
        }
        m.burns.truncate(self.burns);
        for (i, refunded) in self.burns_changed.into_iter().rev() {
            m.burns[i].refunded = refunded;
        }
        if let Some(tier) = self.tier {
            tier.put_back(&mut m.tier);
            m.tier.history.truncate(self.tier_history);
        }
    }
}

/// A tier state's parts as they were before an event changed them: the
/// level, carried total and holds, and the records from `days_from` on
/// (those before it are as they were; events only append to the history).
#[derive(Clone)]
struct TierUndo {
    current: Option<Id>,
    carried: crate::Amount,
    holds: Vec<crate::tier::TierHold>,
    days_from: usize,
    days: Vec<crate::tier::TierDay>,
}

impl TierUndo {
    fn put_back(self, t: &mut crate::tier::TierState) {
        t.current = self.current;
        t.carried = self.carried;
        t.holds = self.holds;
        t.days.truncate(self.days_from);
        t.days.extend(self.days);
    }
}

/// What a burn rule's script decided.
pub(crate) struct BurnVerdict {
    pub(crate) limit: Option<Points>,
    pub(crate) text: Option<String>,
}

/// The earliest instant an event may carry.
pub const EARLIEST: &str = "1900-01-01T00:00:00Z";
/// The latest instant an event may carry: the end of the year 9999 UTC.
pub const LATEST: &str = "9999-12-31T23:59:59Z";

/// Refuses instants outside [`EARLIEST`, `LATEST`]: calendar arithmetic past
/// them leaves the range of the date library.
fn check_instant(event: &str, at: DateTime<Utc>) -> Result<()> {
    if !in_range(at) {
        return Err(Error::event(event, "at", format!("{} is outside {EARLIEST} to {LATEST}", at.to_rfc3339())));
    }
    Ok(())
}

/// Whether `at` is from [`EARLIEST`] to [`LATEST`].
pub(crate) fn in_range(at: DateTime<Utc>) -> bool {
    // EARLIEST and LATEST as Unix seconds (checked by a unit test): no
    // calendar arithmetic on every event.
    const EARLIEST_SECS: i64 = -2_208_988_800;
    const LATEST_SECS: i64 = 253_402_300_799;
    let secs = at.timestamp();
    (EARLIEST_SECS..=LATEST_SECS).contains(&secs) && !(secs == LATEST_SECS && at.timestamp_subsec_nanos() > 0)
}

/// A line's gross price and discount as [`Money`] when its quantity,
/// unit price and discount are small non-negative decimals (every real
/// line): their mantissas fit 64 bits and their fraction digits 12, so
/// nothing can overflow and no check of [`checked_line`] can fail but the
/// bound on the amount and the discount's, tested here. `None` sends the
/// line to [`checked_line`]. Third: `exp`, with both (and so the amount)
/// whole multiples of 10^`exp` in [`Money`]'s 10⁻¹² (10 for cents), which
/// tells the summed multiplier where a rate divides exactly.
#[inline(always)]
fn small_line(line: &Line) -> Option<(Money, Money, u8)> {
    use crate::number::small_parts;
    let (q, qs) = small_parts(line.quantity.decimal())?;
    let (p, ps) = small_parts(line.unit_price.decimal())?;
    let (d, ds) = small_parts(line.discount.decimal())?;
    if q == 0 || qs + ps > MONEY_SCALE || ds > MONEY_SCALE {
        return None;
    }
    // Below 2⁶⁴ × 10¹² < 2¹⁰⁶: no overflow.
    let gross = Money::from(q.checked_mul(p)?) * pow10(MONEY_SCALE - qs - ps)?;
    let discount = Money::from(d) * pow10(MONEY_SCALE - ds)?;
    // Both, and so the amount, are whole multiples of 10^(12 − their decimals).
    let exp = (MONEY_SCALE - (qs + ps).max(ds)) as u8;
    (gross < AMOUNT_LIMIT && discount <= gross).then_some((gross, discount, exp))
}

/// A line's gross price and discount as [`Money`], every value checked:
/// the path of lines [`small_line`] does not take, and the one that names
/// what is wrong with a bad line.
#[inline(never)]
fn checked_line(event: &str, i: usize, line: &Line) -> Result<(Money, Money)> {
    let field = |f: &str| format!("lines[{i}].{f}");
    if line.quantity.is_negative() || line.quantity.is_zero() {
        return Err(Error::event(
            event,
            field("quantity"),
            format!("must be greater than zero, not {}", line.quantity),
        ));
    }
    if line.unit_price.is_negative() {
        return Err(Error::event(event, field("unit_price"), format!("must not be negative, not {}", line.unit_price)));
    }
    if line.discount.is_negative() {
        return Err(Error::event(event, field("discount"), format!("must not be negative, not {}", line.discount)));
    }
    let gross = line_price(line.unit_price.decimal(), line.quantity.decimal())
        .map_err(|reason| Error::event(event, field("quantity"), format!("unit_price × quantity {reason}")))?;
    // An Amount always fits Money exactly.
    let discount = to_money(line.discount.decimal()).unwrap_or(Money::MAX);
    if discount > gross {
        return Err(Error::event(
            event,
            field("discount"),
            format!("{} is more than the line's price {}", line.discount, money_to_decimal(gross).unwrap_or_default()),
        ));
    }
    Ok((gross, discount))
}

/// 10¹⁵ currency units as [`Money`]: the bound on a line's and a basket's amount.
const AMOUNT_LIMIT: Money = 1_000_000_000_000_000 * crate::number::MONEY_ONE;

/// unit_price × quantity as [`Money`], exactly, or why it cannot be.
fn line_price(price: Decimal, quantity: Decimal) -> std::result::Result<Money, &'static str> {
    const TOO_LARGE: &str = "is too large";
    let (p, q) = match mul(price.mantissa(), quantity.mantissa()) {
        Some(_) => (price, quantity),
        // Trailing zeros may be what overflows: drop them and try again.
        None => (price.normalize(), quantity.normalize()),
    };
    let product = mul(p.mantissa(), q.mantissa()).ok_or(TOO_LARGE)?;
    let scale = p.scale() + q.scale();
    let money = if scale <= MONEY_SCALE {
        mul(product, pow10(MONEY_SCALE - scale).ok_or(TOO_LARGE)?).ok_or(TOO_LARGE)?
    } else {
        let d = pow10(scale - MONEY_SCALE).ok_or(TOO_LARGE)?;
        if product % d != 0 {
            return Err("has more than 12 decimal places");
        }
        product / d
    };
    if money >= AMOUNT_LIMIT {
        return Err(TOO_LARGE);
    }
    Ok(money)
}

/// The key of the daily count of earning purchases, shared by every member.
fn purchases_key() -> Id {
    static KEY: std::sync::OnceLock<Id> = std::sync::OnceLock::new();
    KEY.get_or_init(|| Id::from("purchases:")).clone()
}

/// One rule outcome as a receipt line: id and names shared with the
/// program, the text formatted only when read.
fn explanation(program: &Program, o: &earn::RuleOutcome) -> Explanation {
    // Every field of the quote line is used here, so a field added to it
    // (and to its text) fails to compile until the receipt line has it too.
    let quoted = earn::quoted(program, o);
    let rule = &program.earn[o.rule];
    if quoted.note().is_some() || quoted.skipped().is_some() {
        // Script rules with a text or a skip: formatted now (the fast path
        // is for built-in rules).
        return Explanation { rule: Id::shared(&rule.id), points: quoted.points, text: Text::from(quoted.to_string()) };
    }
    let crate::QuotedRule { rule: _, name: _, points, capped, beaten_by, scale, script: _ } = quoted;
    let beaten_by = beaten_by.and(o.beaten_by).map(|w| &program.earn[w].name);
    Explanation {
        rule: Id::shared(&rule.id),
        points,
        text: Text::rule_line(&rule.name, points, scale, capped, beaten_by),
    }
}

/// The money value of `points` (in units of 10^-`scale` of a point) at
/// `value` per point, normalized.
///
/// In integers, as [`Money`], when it is exact there and fits (always, for
/// a program's point values): the same decimal as [`points_money_decimal`]
/// gives, without a decimal division.
#[inline(always)]
fn points_money(points: Points, value: Decimal, scale: u32) -> Option<Amount> {
    let exact = MONEY_SCALE
        .checked_sub(value.scale() + scale)
        .and_then(pow10)
        .and_then(|unit| mul(mul(i128::from(points), value.mantissa())?, unit))
        .and_then(money_to_decimal);
    exact.or_else(|| points_money_decimal(points, value, scale)).map(Amount::from_decimal)
}

/// [`points_money`] in decimal arithmetic.
fn points_money_decimal(points: Points, value: Decimal, scale: u32) -> Option<Decimal> {
    let value = Decimal::from(points).checked_mul(value)?.checked_div(Decimal::from(10_i64.checked_pow(scale)?))?;
    Some(value.normalize())
}

/// `a == b`, the lengths and last bytes compared before the texts: a
/// member's remembered event ids and orders are searched for every event,
/// and ids of one length mostly differ in their last bytes (`e-1041`,
/// `e-1042`), which spares a `memcmp` call per id.
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}

fn add(a: Points, b: Points, what: &str) -> Result<Points> {
    a.checked_add(b).ok_or_else(|| Error::overflow(what))
}

impl Program {
    /// Enrolls a member: a shortcut for [`Program::start`] with an `enroll`
    /// event whose id is `enroll:<member id>`.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m-42", "2026-03-01T10:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.balances().available, 0);
    /// ```
    pub fn enroll(&self, member: &str, at: DateTime<Utc>, profile: crate::Profile) -> Result<Member> {
        let event = Event {
            id: format!("enroll:{member}"),
            at,
            kind: EventKind::Enroll(crate::event::Enroll { member: member.to_owned(), profile, referred_by: None }),
        };
        Ok(self.start(&event)?.0)
    }

    /// Creates a member from an `enroll` event.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let e = loyalty::Event::from_json_str(
    ///     r#"{"id":"e1","at":"2026-03-01T10:00:00Z","type":"enroll","member":"m-1"}"#).unwrap();
    /// let (member, receipt) = program.start(&e).unwrap();
    /// assert_eq!((member.id(), receipt.event.as_str()), ("m-1", "e1"));
    /// ```
    pub fn start(&self, event: &Event) -> Result<(Member, Receipt)> {
        let EventKind::Enroll(enroll) = &event.kind else {
            return Err(Error::Enrollment {
                event: event.id.clone(),
                reason: format!("a member starts with an enroll event, not {}", event.kind.name()),
            });
        };
        check_id(&event.id, "id", &event.id)?;
        check_instant(&event.id, event.at)?;
        check_id(&event.id, "member", &enroll.member)?;
        for (k, v) in &enroll.profile.attributes {
            check_id(&event.id, "profile.attributes", k)?;
            if v.len() > crate::event::ID_LEN_MAX {
                return Err(Error::event(&event.id, format!("profile.attributes.{k}"), "longer than 128 bytes"));
            }
        }
        let mut member = Member::new(&enroll.member, &self.spec.id, event.at, enroll.profile.clone());
        if let Some(referrer) = &enroll.referred_by {
            check_id(&event.id, "referred_by", referrer)?;
            if referrer == &enroll.member {
                return Err(Error::event(&event.id, "referred_by", "a member cannot refer themselves"));
            }
            member.referred_by = Some(Id::from(referrer.as_str()));
        }
        let mut undo = Undo::of(&member);
        let receipt = Work::new(self, &mut member, &mut undo).run(event, event.fingerprint(), None)?;
        Ok((member, Receipt::clone(&receipt)))
    }

    /// Replays an event log from empty: the first event must be `enroll`.
    /// The result equals applying the events one by one.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let log = [
    ///     r#"{"id":"e1","at":"2026-03-01T10:00:00Z","type":"enroll","member":"m-1"}"#,
    ///     r#"{"id":"e2","at":"2026-03-02T10:00:00Z","type":"adjust","points":50,"reason":"welcome"}"#,
    /// ].map(|t| loyalty::Event::from_json_str(t).unwrap());
    /// let member = program.replay(&log).unwrap();
    /// assert_eq!(member.balances().available, 50);
    /// ```
    pub fn replay<'e>(&self, events: impl IntoIterator<Item = &'e Event>) -> Result<Member> {
        let mut events = events.into_iter();
        let first = events.next().ok_or_else(|| Error::Enrollment {
            event: String::new(),
            reason: "an empty log has no enroll event".into(),
        })?;
        let (mut member, _) = self.start(first)?;
        for e in events {
            self.apply(&mut member, e)?;
        }
        Ok(member)
    }

    /// Applies one event to a member: all of it, or (on error) nothing.
    ///
    /// ```
    /// let program = loyalty::Program::from_toml_str(r#"
    /// id = "cafe"
    /// currency = "RUB"
    /// time_zone = "Europe/Moscow"
    /// categories = ["coffee"]
    /// [[earn]]
    /// id = "base"
    /// name = "1 point per 10 RUB"
    /// kind = "per_amount"
    /// points = 1
    /// per = "10"
    /// "#).unwrap();
    /// let mut m = program.enroll("m", "2026-12-01T09:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let sale = loyalty::Event::from_json_str(r#"{"id":"s1","at":"2026-12-01T10:00:00Z","type":"purchase",
    ///   "lines":[{"sku":"latte","category":"coffee","quantity":"2","unit_price":"180"}]}"#).unwrap();
    /// let first = program.apply(&mut m, &sale).unwrap();
    /// assert_eq!(first.receipt.explanations[0].text, "1 point per 10 RUB: +36");
    /// let again = program.apply(&mut m, &sale).unwrap();   // a POS retry
    /// assert!(again.duplicate && again.receipt == first.receipt);
    /// assert_eq!(m.balances().available, 36);
    /// ```
    pub fn apply(&self, member: &mut Member, event: &Event) -> Result<Applied> {
        self.apply_counted(member, event, None)
    }

    /// [`Program::apply`] with the host's shared counters, for rewards with
    /// stock or a budget (see [`crate::reward`]). The counters are asked
    /// only after every other check passed; a refused event takes nothing.
    ///
    /// ```
    /// # use loyalty::{Event, MemoryCounters, Program};
    /// let program = Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC",
    ///   "rewards":[{"id":"seat","kind":"experience","cost":10,"stock":{"limit":1}}]}"#).unwrap();
    /// let mut counters = MemoryCounters::default();
    /// let mut members = ["a", "b"].map(|id| program.enroll(id, "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap());
    /// for m in &mut members {
    ///     let credit = Event::from_json_str(r#"{"id":"c","at":"2026-01-01T01:00:00Z","type":"adjust","points":10,"reason":"gift"}"#).unwrap();
    ///     program.apply(m, &credit).unwrap();
    /// }
    /// let take = Event::from_json_str(r#"{"id":"t","at":"2026-01-02T00:00:00Z","type":"redeem_reward","reward":"seat"}"#).unwrap();
    /// assert!(program.apply_with(&mut members[0], &take, &mut counters).is_ok());
    /// let err = program.apply_with(&mut members[1], &take, &mut counters).unwrap_err();
    /// assert!(err.to_string().contains("none left"));
    /// assert_eq!(members[1].balances().available, 10);   // nothing taken
    /// ```
    pub fn apply_with(
        &self,
        member: &mut Member,
        event: &Event,
        counters: &mut dyn crate::reward::Counters,
    ) -> Result<Applied> {
        self.apply_counted(member, event, Some(counters))
    }

    fn apply_counted(
        &self,
        member: &mut Member,
        event: &Event,
        counters: Option<&mut dyn crate::reward::Counters>,
    ) -> Result<Applied> {
        if member.program != self.spec.id {
            return Err(Error::WrongProgram {
                member: member.id.to_string(),
                member_program: member.program.clone(),
                program: self.spec.id.clone(),
            });
        }
        let fingerprint = event.fingerprint();
        if let Some(seen) = member.recent.iter().find(|p| same_text(&p.id, &event.id)) {
            if seen.fingerprint != fingerprint {
                return Err(Error::IdReusedWithDifferentPayload { event: event.id.clone() });
            }
            return match &seen.receipt {
                Some(r) => Ok(Applied { receipt: Arc::clone(r), duplicate: true }),
                None => Err(Error::AlreadyApplied { event: event.id.clone() }),
            };
        }
        check_id(&event.id, "id", &event.id)?;
        if let EventKind::Enroll(_) = event.kind {
            return Err(Error::Enrollment {
                event: event.id.clone(),
                reason: format!("member '{}' is already enrolled", member.id),
            });
        }
        self.check_time(member, event)?;
        let mut undo = Undo::of(member);
        let receipt = Work::new(self, member, &mut undo).run(event, fingerprint, counters)?;
        Ok(Applied { receipt, duplicate: false })
    }

    fn check_time(&self, member: &Member, event: &Event) -> Result<()> {
        check_instant(&event.id, event.at)?;
        // An event at or before the latest forgotten instant may be one of
        // the forgotten events (their ids are gone): refused, even at the
        // member's clock, so that no id is ever applied twice.
        let after_forgotten =
            member.forgotten.map(|f| f.checked_add_signed(chrono::TimeDelta::nanoseconds(1)).unwrap_or(f));
        if event.at >= member.clock && after_forgotten.is_none_or(|a| event.at >= a) {
            return Ok(());
        }
        let window = self.spec.limits.late_window.before(member.clock, self.zone).unwrap_or(member.clock);
        // A state from a release that did not keep `forgotten` has only its
        // oldest remembered event to go by once its id log is full.
        let legacy = member
            .recent
            .first()
            .filter(|_| member.forgotten.is_none() && member.recent.len() as u32 >= self.spec.limits.remember_events)
            .map(|p| p.at);
        let oldest =
            [legacy, after_forgotten, Some(member.enrolled_at)].into_iter().flatten().fold(window, DateTime::max);
        if event.at < oldest {
            return Err(Error::TooLate { event: event.id.clone(), at: event.at, clock: member.clock, oldest });
        }
        Ok(())
    }

    /// What a basket would earn at `at`, and how much of it points could pay.
    /// Changes nothing; uses the same rules, caps and counters as [`Program::apply`].
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC",
    /// #   "categories":["x"],"earn":[{"id":"base","kind":"per_amount","points":1,"per":"10"}]}"#).unwrap();
    /// let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// let m = program.enroll("m", at, Default::default()).unwrap();
    /// let basket: loyalty::Basket = serde_json::from_str(
    ///     r#"{"lines":[{"sku":"a","category":"x","quantity":"3","unit_price":"9.99"}]}"#).unwrap();
    /// let q = program.quote(&m, &basket, at).unwrap();
    /// assert_eq!(q.points, 2);  // 29.97 / 10, floored
    /// ```
    pub fn quote(&self, member: &Member, basket: &Basket, at: DateTime<Utc>) -> Result<Quote<'_>> {
        check_instant("quote", at)?;
        let mut priced = PricedLines::new();
        self.price_into("quote", &basket.lines, &mut priced)?;
        let (channel, store) = (basket.channel.as_deref(), basket.store.as_deref());
        let mut ctx = Context::new(self, "quote", Moment::new(at), channel, store, member, None);
        ctx.partner = self.partner("quote", basket.partner.as_deref())?;
        let mut earned = earn::Earned::default();
        if self.daily_purchases_left(member, ctx.date) {
            earn::evaluate(self, &priced, &ctx, false, &mut earned)?;
        }
        let explanations = earned.rules.iter().map(|o| earn::quoted(self, o)).collect();
        let available = self.available_at(member, at.max(member.clock));
        let (max_burn, max_burn_value) = match self.burn.first() {
            Some(rule) => {
                let mut limit = self.burn_limit(rule, &priced)?.unwrap_or(Points::MAX);
                if let Some(verdict) = self.burn_script("quote", "redeem", rule, &priced, member, at)? {
                    limit = limit.min(verdict.limit.unwrap_or(0));
                }
                let mut points = available.min(limit).max(0);
                points -= points % rule.spec.step_points;
                if points < rule.spec.min_points {
                    points = 0;
                }
                (points, self.money(rule, points)?)
            }
            None => (0, Amount::ZERO),
        };
        Ok(Quote { points: earned.total, explanations, available, max_burn, max_burn_value })
    }

    /// Points that expire after `from` and up to `until` (all, when `None`),
    /// grouped by expiry instant, soonest first.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(program.upcoming_expiries(&m, m.clock(), None).is_empty());
    /// ```
    pub fn upcoming_expiries(
        &self,
        member: &Member,
        from: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Vec<Expiring> {
        let mut out: Vec<Expiring> = Vec::new();
        let mut lots: Vec<&Lot> = member.lots.iter().filter(|l| l.remaining > 0).collect();
        lots.sort_by_key(|l| l.burn_order());
        for lot in lots {
            let Some(at) = lot.expires_at else { continue };
            if at <= from || until.is_some_and(|u| at > u) {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.at == at => last.points = last.points.saturating_add(lot.remaining),
                _ => out.push(Expiring { at, date: expiry_date(self.zone, at), points: lot.remaining }),
            }
        }
        out
    }

    /// The first `n` groups of [`Program::upcoming_expiries`] (with no end),
    /// without sorting the lots: the `n` soonest instants are kept as the
    /// lots go by. An instant pushed out of them never comes back, since `n`
    /// sooner ones are already known.
    fn next_expiries(&self, member: &Member, from: DateTime<Utc>, n: usize) -> Vec<Expiring> {
        // The soonest instants in a small array, in order (a receipt asks
        // for three; a longer list is the full search cut short).
        const MAX: usize = 4;
        if n > MAX {
            let mut all = self.upcoming_expiries(member, from, None);
            all.truncate(n);
            return all;
        }
        let mut soonest = [(DateTime::<Utc>::MIN_UTC, 0 as Points); MAX];
        let mut len = 0;
        for lot in &member.lots {
            let Some(at) = lot.expires_at else { continue };
            // Most lots expire after the `n` soonest instants found so far.
            if lot.remaining <= 0 || at <= from || (len == n && (n == 0 || at > soonest[len - 1].0)) {
                continue;
            }
            let mut i = 0;
            while i < len && soonest[i].0 < at {
                i += 1;
            }
            if i < len && soonest[i].0 == at {
                soonest[i].1 = soonest[i].1.saturating_add(lot.remaining);
                continue;
            }
            // Insert at `i` (< n here), the last one dropped when full.
            let mut j = len.min(n - 1);
            while j > i {
                soonest[j] = soonest[j - 1];
                j -= 1;
            }
            soonest[i] = (at, lot.remaining);
            len = (len + 1).min(n);
        }
        let mut out = Vec::with_capacity(len);
        for &(at, points) in &soonest[..len] {
            out.push(Expiring { at, date: expiry_date(self.zone, at), points });
        }
        out
    }

    /// Points a member can spend at `at` (which should not be before the member's clock).
    fn available_at(&self, m: &Member, at: DateTime<Utc>) -> Points {
        let mut held_open: Points = 0;
        for h in &m.holds {
            if h.status == HoldStatus::Open && h.timeout_at > at {
                held_open = held_open.saturating_add(h.points);
            }
        }
        let mut free: Points = 0;
        for lot in &m.lots {
            let usable = (!lot.pending || lot.available_at <= at) && lot.expires_at.is_none_or(|e| e > at);
            if usable {
                free = free.saturating_add(lot.remaining);
            } else if lot.expires_at.is_some_and(|e| e <= at) {
                // Held points survive expiry until their hold closes.
                free = free.saturating_add(lot.held);
            }
        }
        free.saturating_sub(held_open).saturating_sub(m.debt)
    }

    fn daily_purchases_left(&self, m: &Member, date: NaiveDate) -> bool {
        match self.spec.limits.earning_purchases_per_day {
            None => true,
            Some(limit) => day_and_month(&m.days, "purchases", "", date).2 < limit,
        }
    }

    /// Prices lines and checks their fields.
    pub(crate) fn price<'l>(&self, event: &str, lines: &'l [Line]) -> Result<PricedLines<'l>> {
        let mut out = PricedLines::new();
        self.price_into(event, lines, &mut out)?;
        Ok(out)
    }

    /// [`Program::price`] into `out` (empty): the hot paths price into a
    /// list of their own frame, since returning the inline list in a
    /// `Result` copies it.
    pub(crate) fn price_into<'l>(&self, event: &str, lines: &'l [Line], out: &mut PricedLines<'l>) -> Result<()> {
        if lines.len() > LINES_MAX {
            return Err(Error::event(event, "lines", format!("more than {LINES_MAX} lines")));
        }
        let base = &self.spec.earning_base;
        out.reserve_exact(lines.len());
        let mut total: Money = 0;
        for (i, line) in lines.iter().enumerate() {
            let field = |f: &str| format!("lines[{i}].{f}");
            if let Some(reason) = id_problem(&line.sku) {
                return Err(Error::event(event, field("sku"), reason));
            }
            let Some(category) = self.category_index(&line.category) else {
                return Err(Error::event(
                    event,
                    field("category"),
                    format!("category '{}' is not declared by the program", line.category),
                ));
            };
            let (gross, discount, exp) = match small_line(line) {
                Some(prices) => prices,
                None => {
                    let (gross, discount) = checked_line(event, i, line)?;
                    (gross, discount, 0)
                }
            };
            let amount = gross - discount;
            total += amount;
            if total >= AMOUNT_LIMIT {
                return Err(Error::event(event, "lines", "the basket's total has more than 15 integer digits"));
            }
            // discount / gross > max % ⇔ discount × 100 > max × gross (exact, in decimals).
            let discounted_too_much = discount > 0
                && self.max_discount.is_some_and(|max| {
                    let (d, g) = (line.discount.decimal(), money_to_decimal(gross).unwrap_or_default());
                    d.checked_mul(Decimal::ONE_HUNDRED).zip(max.checked_mul(g)).is_some_and(|(l, r)| l > r)
                });
            let earns =
                !discounted_too_much && !self.base_exclude.contains(category) && !base.exclude_skus.contains(&line.sku);
            let bit = self.category_lookup.bit(category);
            out.push(Priced { line, category, bit, amount, exp, earns });
        }
        Ok(())
    }

    /// Runs a burn rule's script, if it has one: `limit` is `None` when the
    /// script refuses the burn, else the most points it allows.
    /// Inlined: most burn rules have no script, and pay for one test.
    #[inline(always)]
    pub(crate) fn burn_script(
        &self,
        event: &str,
        kind: &'static str,
        rule: &CompiledBurn,
        priced: &[Priced<'_>],
        member: &Member,
        at: DateTime<Utc>,
    ) -> Result<Option<BurnVerdict>> {
        match (&rule.script, &self.scripts) {
            (Some(script), Some(shared)) => self.run_burn_script(event, kind, rule, script, shared, priced, member, at),
            _ => Ok(None),
        }
    }

    /// [`Program::burn_script`] for a rule with a script.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn run_burn_script(
        &self,
        event: &str,
        kind: &'static str,
        rule: &CompiledBurn,
        script: &crate::script::Script,
        shared: &(crate::script::Sandbox, crate::script::ProgramView),
        priced: &[Priced<'_>],
        member: &Member,
        at: DateTime<Utc>,
    ) -> Result<Option<BurnVerdict>> {
        let (sandbox, program_view) = shared;
        let input = crate::script::ViewInput {
            event_id: event,
            kind,
            channel: None,
            store: None,
            local: crate::zone::local(self.zone, at),
            lines: priced,
        };
        let views = crate::script::Views::new(self, &input, member);
        let mut scope = views.scope(program_view);
        let out = script.call(sandbox, &mut scope, self.scale()).map_err(|f| f.into_error(event, &rule.spec.id))?;
        let limit = match out.value {
            crate::script::Value::Bool(true) => Some(Points::MAX),
            crate::script::Value::Bool(false) => None,
            crate::script::Value::Number(n) => {
                let units = n * Decimal::from(10_i64.pow(self.scale()));
                // `check` bounded it by the rule's max_points.
                Some(units.floor().mantissa().try_into().unwrap_or(Points::MAX))
            }
        };
        Ok(Some(BurnVerdict { limit, text: out.text }))
    }

    /// The partner of a purchase, refused unless the program declares it.
    #[inline]
    fn partner<'e>(&self, event: &str, partner: Option<&'e str>) -> Result<Option<&'e str>> {
        match partner {
            Some(p) if !self.spec.partners.iter().any(|x| x == p) => {
                Err(Error::NotFound { event: event.to_owned(), what: "partner", id: p.to_owned() })
            }
            other => Ok(other),
        }
    }

    /// Runs a tier level's script on a purchase: does it reach the level?
    pub(crate) fn tier_script(
        &self,
        event: &str,
        script: &crate::script::Script,
        level: &str,
        priced: &[Priced<'_>],
        member: &Member,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(shared) = &self.scripts else { return Ok(false) };
        let (sandbox, program_view) = &**shared;
        let input = crate::script::ViewInput {
            event_id: event,
            kind: "purchase",
            channel: None,
            store: None,
            local: crate::zone::local(self.zone, at),
            lines: priced,
        };
        let views = crate::script::Views::new(self, &input, member);
        let mut scope = views.scope(program_view);
        let out = script
            .call(sandbox, &mut scope, self.scale())
            .map_err(|f| f.into_error(event, &format!("tier:{level}")))?;
        Ok(matches!(out.value, crate::script::Value::Bool(true)))
    }

    /// A member's tier level at `at` (at or after the member's clock), with
    /// its perks, when it ends if nothing more happens, the progress, and
    /// what the next level needs. `None` for programs without tiers.
    ///
    /// ```
    /// let program = loyalty::Program::from_toml_str(r#"
    /// id = "cafe"
    /// currency = "RUB"
    /// time_zone = "Europe/Moscow"
    /// categories = ["coffee"]
    /// [[earn]]
    /// id = "base"
    /// kind = "per_amount"
    /// points = 1
    /// per = "10"
    /// [tiers]
    /// measure = "points_earned"
    /// window = { rolling_months = 12 }
    /// [[tiers.levels]]
    /// id = "green"
    /// [[tiers.levels]]
    /// id = "gold"
    /// min = "300"
    /// "#).unwrap();
    /// let m = program.enroll("m", "2026-12-01T09:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let status = program.tier(&m, m.clock()).unwrap();
    /// assert_eq!((status.tier, status.next.unwrap().needed.to_string().as_str()), ("green", "300"));
    /// ```
    pub fn tier(&self, member: &Member, at: DateTime<Utc>) -> Option<crate::tier::TierStatus<'_>> {
        let tiers = self.tiers.as_ref()?;
        let mut state = member.tier.clone();
        let enrolled = crate::time::enrolment_date(self.zone, member.enrolled_at);
        let mut changes = Vec::new();
        tiers.run_ends(&mut state, self.zone, enrolled, member.clock, at, &mut changes);
        let date = local_date(self.zone, at);
        let level = if at >= member.clock { tiers.level_after(&state, at) } else { tiers.level_at(&state, at, date) };
        let spec = &tiers.spec.levels[level];
        let progress = tiers.progress(&state, enrolled, date);
        let next = tiers.levels.iter().enumerate().skip(level + 1).find_map(|(i, l)| Some((i, l.min?)));
        let by = match tiers.spec.window {
            crate::tier::TierWindow::CalendarYear | crate::tier::TierWindow::AnniversaryYear => {
                tiers.window_end(self.zone, enrolled, date)
            }
            _ => None,
        };
        Some(crate::tier::TierStatus {
            tier: &spec.id,
            name: if spec.name.is_empty() { &spec.id } else { &spec.name },
            perks: &spec.perks,
            multiplier: spec.multiplier,
            points_never_expire: spec.points_never_expire,
            until: tiers.level_until(&state, level, at),
            progress: Amount::from_decimal(progress.normalize()),
            next: next.map(|(i, min)| crate::tier::NextTier {
                tier: &tiers.spec.levels[i].id,
                min: Amount::from_decimal(min.normalize()),
                needed: Amount::from_decimal((min - progress).max(Decimal::ZERO).normalize()),
                by,
            }),
        })
    }

    /// The most points a burn rule lets pay for these lines, or `None` when it sets no limit.
    fn burn_limit(&self, rule: &CompiledBurn, priced: &[Priced<'_>]) -> Result<Option<Points>> {
        let s = &rule.spec;
        if priced.is_empty() {
            return Ok(None);
        }
        let eligible: Money = priced
            .iter()
            .filter(|p| {
                rule.lines.passes(p.bit)
                    && (!rule.lines.full
                        || (!rule.exclude.contains(p.category) && !s.exclude_skus.contains(&p.line.sku)))
            })
            .map(|p| p.amount)
            .sum();
        // A limit too large for i64 is no limit at all.
        let (units, _) = mul_div_rem(eligible.unsigned_abs(), rule.limit_num, rule.limit_den_money);
        let units = Points::try_from(units).unwrap_or(Points::MAX);
        Ok(Some(units - units % s.step_points))
    }

    /// Inlined, as is [`points_money`]: a returned `Amount` is written in
    /// 4-byte stores and read back in one 16-byte load, which cannot be
    /// forwarded from them (a stall of about a dozen cycles).
    #[inline(always)]
    fn money(&self, rule: &CompiledBurn, points: Points) -> Result<Amount> {
        points_money(points, rule.value, self.scale()).ok_or_else(|| Error::overflow("money value of points"))
    }

    /// When a lot earned at `earned` and available at `available` expires.
    fn expiry(&self, earned: Moment, available: Moment) -> Result<Option<DateTime<Utc>>> {
        let e = &self.spec.expiry;
        let overflow = || Error::overflow("an expiry instant");
        let at = match e.kind {
            ExpiryKind::None => return Ok(None),
            ExpiryKind::After | ExpiryKind::Inactivity => {
                let from = if e.from == ExpiryFrom::Available { available } else { earned };
                let period = e.period.ok_or_else(overflow)?;
                e.round_to.apply_after(period, from, self.zone).ok_or_else(overflow)?.utc
            }
            ExpiryKind::FixedDate => {
                let (month, day) = (e.month.unwrap_or(12), e.day.unwrap_or(31));
                let date = earned.local(self.zone).date();
                let on = |year: i32| {
                    NaiveDate::from_ymd_opt(year, month, day).or_else(|| NaiveDate::from_ymd_opt(year, month, day - 1))
                };
                let mut last = on(date.year()).ok_or_else(overflow)?;
                if last < date {
                    last = on(date.year() + 1).ok_or_else(overflow)?;
                }
                let year = last.year().checked_add(e.years_after as i32).ok_or_else(overflow)?;
                let last = on(year).ok_or_else(overflow)?;
                start_of_day(self.zone, last.succ_opt().ok_or_else(overflow)?).ok_or_else(overflow)?
            }
        };
        Ok(Some(at))
    }
}

impl<'p, 'm> Work<'p, 'm> {
    /// A work on `m`, its undo log (made by [`Undo::of`]) filled in.
    #[inline(always)]
    fn new(program: &'p Program, m: &'m mut Member, undo: &'m mut Undo<'p>) -> Work<'p, 'm> {
        let clock = m.clock;
        let available_before = (!program.spec.rewards.is_empty()).then(|| m.balances().available);
        undo.record(m);
        Work {
            program,
            undo,
            m,
            // Set by `apply_event`; a shared empty id allocates nothing.
            id: {
                static EMPTY: std::sync::OnceLock<Id> = std::sync::OnceLock::new();
                EMPTY.get_or_init(|| Id::from("")).clone()
            },
            event_at: Moment::new(clock),
            entries: Vec::new(),
            explanations: Vec::new(),
            notes: Vec::new(),
            shortfall: 0,
            paid: None,
            signals: Vec::new(),
            tier_clock: clock,
            level_memo: None,
            enrolled_on: None,
            bonus_clock: clock,
            next_birthday: None,
            counter_takes: Vec::new(),
            counter_gives: Vec::new(),
            available_before,
        }
    }

    /// Applies the event to the member and returns the receipt; on error
    /// puts the member back as it was. Shared counters are asked last, when
    /// nothing else can fail.
    ///
    /// By reference: moving a `Work` into a by-value call copies it.
    fn run(
        &mut self,
        event: &Event,
        fingerprint: u64,
        counters: Option<&mut dyn crate::reward::Counters>,
    ) -> Result<Arc<Receipt>> {
        let balances = match self.apply_event(event) {
            Ok(balances) => balances,
            Err(e) => {
                self.roll_back();
                return Err(e);
            }
        };
        if !self.counter_takes.is_empty() || !self.counter_gives.is_empty() {
            let Some(counters) = counters else {
                self.roll_back();
                let reward = self.counter_takes.first().map_or_else(String::new, |t| t.reward.clone());
                return Err(Error::RewardRefused {
                    event: event.id.clone(),
                    reward,
                    reason: "the reward has shared stock or budget: apply the event with Program::apply_with".into(),
                });
            };
            for (i, t) in self.counter_takes.iter().enumerate() {
                if !counters.take(&t.key, t.amount, t.limit) {
                    for done in &self.counter_takes[..i] {
                        counters.give_back(&done.key, done.amount);
                    }
                    let reason = format!("none left: counter '{}' is at its limit of {}", t.key, t.limit);
                    let reward = t.reward.clone();
                    self.roll_back();
                    return Err(Error::RewardRefused { event: event.id.clone(), reward, reason });
                }
            }
            for (key, amount) in &self.counter_gives {
                counters.give_back(key, *amount);
            }
        }
        Ok(self.commit(event, fingerprint, balances))
    }

    /// Puts the member back as it was before the event (the error path).
    #[cold]
    fn roll_back(&mut self) {
        let empty = Undo::of(self.m);
        std::mem::replace(&mut *self.undo, empty).restore(self.m);
    }

    fn post(
        &mut self,
        kind: EntryKind,
        points: Points,
        at: DateTime<Utc>,
        lot: Option<u64>,
        rule: Option<&str>,
        reason: Text,
    ) {
        self.entries.push(Entry { seq: 0, kind, points, at, lot, rule: rule.map(str::to_owned), reason });
    }

    /// The instant `period` after `from`, in the program's zone; past the
    /// calendar's end it is an overflow of `what`.
    fn later(&self, period: crate::Period, from: DateTime<Utc>, what: &str) -> Result<DateTime<Utc>> {
        period.after(from, self.program.zone).ok_or_else(|| Error::overflow(what))
    }

    /// The event's local date (its local time is known since it started).
    fn event_date(&self) -> NaiveDate {
        self.event_at.local(self.program.zone).date()
    }

    /// `at` as a [`Moment`], its local time known when it is the event's.
    fn moment(&self, at: DateTime<Utc>) -> Moment {
        if at == self.event_at.utc {
            self.event_at
        } else {
            Moment::new(at)
        }
    }

    fn pts(&self, p: Points) -> PointsText {
        PointsText(p, self.program.scale())
    }

    /// Every step of the event that can fail; the member's balances after it.
    fn apply_event(&mut self, event: &Event) -> Result<crate::Balances> {
        self.status_gate(event)?;
        self.id = Id::from(event.id.as_str());
        self.event_at = Moment::with_local(event.at, crate::zone::local(self.program.zone, event.at));
        let clock = self.m.clock.max(event.at);
        self.catch_up(clock)?;
        self.m.clock = clock;
        match &event.kind {
            EventKind::Enroll(_) => self.signup(event)?,
            EventKind::Advance => {}
            EventKind::Purchase(p) => self.purchase(event, p)?,
            EventKind::Return(r) => self.return_(event, r)?,
            EventKind::Hold(h) => self.hold(event, h)?,
            EventKind::Capture(c) => self.capture(event, c)?,
            EventKind::Void(v) => self.void(event, v)?,
            EventKind::Redeem(r) => self.redeem(event, r)?,
            EventKind::Adjust(a) => self.adjust(event, a)?,
            EventKind::Activity(a) => {
                self.tier_activity(event, &a.name, a.value)?;
                self.activity_points(event, &a.name)?;
            }
            EventKind::AssignTier(a) => self.assign_tier(event, a)?,
            EventKind::Subscribe(s) => self.subscribe(event, s)?,
            EventKind::RedeemReward(r) => self.redeem_reward(event, r)?,
            EventKind::UseReward(u) => self.use_reward(event, u)?,
            EventKind::CancelReward(c) => self.cancel_reward(event, c)?,
            EventKind::ReferralReward(r) => self.referral_reward(event, &r.referee)?,
            EventKind::ChoosePromotion(c) => self.choose_promotion(event, c)?,
            EventKind::Suspend(s) => self.set_status(event, &s.reason, crate::engagement::MemberStatus::Suspended)?,
            EventKind::Reactivate(s) => self.set_status(event, &s.reason, crate::engagement::MemberStatus::Active)?,
            EventKind::Close(s) => self.set_status(event, &s.reason, crate::engagement::MemberStatus::Closed)?,
            EventKind::TransferOut(t) => self.transfer_out(event, t)?,
            EventKind::TransferIn(t) => self.transfer_in(event, t)?,
        }
        self.tier_settle(event);
        // A late event may have made a lot that is already due to activate or expire.
        self.catch_up(clock)?;
        self.m.checked_balances().ok_or_else(|| Error::overflow("the member's balances"))
    }

    /// After success (nothing here fails): numbers the entries, writes the
    /// receipt, compacts the member and remembers the event. `balances` are
    /// the member's after the event (compaction drops only empty lots, so
    /// they hold after it too).
    ///
    /// By reference, the receipt's lists taken out: a `Work` (with its undo
    /// log inline) is large, and moving it into a by-value call copies it.
    fn commit(&mut self, event: &Event, fingerprint: u64, balances: crate::Balances) -> Arc<Receipt> {
        self.undo.check_tier(self.m);
        self.compact();
        debug_assert_eq!(balances, self.m.balances());
        let mut seq = self.m.next_entry;
        for e in &mut self.entries {
            e.seq = seq;
            seq += 1;
        }
        self.m.next_entry = seq;
        let program = self.program;
        let clock = self.m.clock;
        // At a level whose points never expire, lots due before the level
        // could end are kept until then: receipts show when that is.
        if let Some(end) = self.exempt_until(clock) {
            for l in &mut self.m.lots {
                if l.expires_at.is_some_and(|e| e > clock && end.is_none_or(|end| e < end)) {
                    l.expires_at = end;
                }
            }
        }
        self.time_signals(self.undo.clock, matches!(event.kind, EventKind::Advance));
        if let Some(before) = self.available_before {
            self.reward_signals(before);
        }
        let next_expiries = program.next_expiries(self.m, clock, 3);
        let receipt = Arc::new(Receipt {
            event: self.id.clone(),
            kind: Text::from_static(event.kind.name()),
            member: self.m.id.clone(),
            at: event.at,
            entries: std::mem::take(&mut self.entries),
            explanations: std::mem::take(&mut self.explanations),
            balances,
            next_expiries,
            shortfall: self.shortfall,
            paid: self.paid,
            notes: std::mem::take(&mut self.notes),
            tier: program.tiers.as_ref().and_then(|_| self.m.tier.current.clone()),
            signals: std::mem::take(&mut self.signals),
            variants: program
                .spec
                .campaigns
                .iter()
                .map(|c| crate::engagement::Assignment {
                    campaign: Id::from(c.id.as_str()),
                    variant: Id::from(crate::engagement::variant_of(&self.m.id, c)),
                })
                .collect(),
        });
        debug_assert_eq!(self.m.check_invariants(), Ok(()), "after event {}", event.id);

        let limits = &program.spec.limits;
        let recent = &mut self.m.recent;
        recent.push(Processed { id: self.id.clone(), fingerprint, at: event.at, receipt: Some(Arc::clone(&receipt)) });
        let excess = recent.len().saturating_sub(limits.remember_events as usize);
        // Late events make `recent` out of time order: the bound on what
        // was forgotten is the latest instant among the events dropped.
        for p in recent.drain(..excess) {
            self.m.forgotten = self.m.forgotten.max(Some(p.at));
        }
        // Receipts are kept for the latest events only, so those kept are a
        // run at the end: the ones that just left it are dropped walking
        // back to the first event without one (not a pass over up to
        // `remember_events` events per event).
        let keep_from = recent.len().saturating_sub(limits.keep_receipts as usize);
        for p in recent[..keep_from].iter_mut().rev() {
            if p.receipt.take().is_none() {
                break;
            }
        }
        receipt
    }

    /// Brings the ledger to `to`: holds time out, pending points activate,
    /// points expire, and free points pay off a debt, each at its own instant.
    fn catch_up(&mut self, to: DateTime<Utc>) -> Result<()> {
        // Everything due, in time order; at one instant a hold times out
        // before points activate, and both before points expire.
        let mut due: SmallVec<[(DateTime<Utc>, u8, usize); 8]> = SmallVec::new();
        for (i, h) in self.m.holds.iter().enumerate() {
            if h.status == HoldStatus::Open && h.timeout_at <= to {
                due.push((h.timeout_at, 0, i));
            }
        }
        for (i, lot) in self.m.lots.iter().enumerate() {
            if lot.pending && lot.available_at <= to {
                due.push((lot.available_at, 1, i));
            }
            if let Some(e) = lot.expires_at.filter(|e| *e <= to) {
                due.push((e, 2, i));
            }
        }
        due.sort_unstable();
        let mut again = false;
        let lots_before = self.m.lots.len();
        // By copy from the list in place (moving a `SmallVec` into its
        // iterator copies its inline buffer).
        for &(at, what, i) in due.iter() {
            self.tier_ends(at);
            self.birthdays(at)?;
            match what {
                0 => {
                    let h = &mut self.m.holds[i];
                    h.status = HoldStatus::Released;
                    h.closed_at = Some(at);
                    let (takes, rule) = (h.takes.clone(), h.rule.clone());
                    let reason = Text::from(format!("hold '{}' timed out", h.id));
                    self.release(&takes, at, &rule, &reason)?;
                }
                1 => {
                    let lot = &mut self.m.lots[i];
                    lot.pending = false;
                    let (points, seq) = (lot.remaining, lot.seq);
                    if points > 0 {
                        let reason = Text::from_static("pending points became available");
                        self.post(EntryKind::Activate, points, at, Some(seq), None, reason);
                    }
                }
                _ => match self.exempt_until(at) {
                    // Kept while the member's level keeps points; due again when it ends.
                    Some(end) => {
                        self.m.lots[i].expires_at = end;
                        again |= end.is_some_and(|e| e <= to);
                    }
                    None => self.expire(i, at)?,
                },
            }
        }
        self.tier_ends(to);
        self.birthdays(to)?;
        // A bonus credited on the way may itself be due to expire by `to`.
        again |= self.m.lots[lots_before..].iter().any(|l| l.expires_at.is_some_and(|e| e <= to));
        if again {
            return self.catch_up(to);
        }
        self.expire_rewards(to);
        self.settle(to);
        Ok(())
    }

    /// Expires the free points of lot `i` at `at` (held points wait for their hold).
    fn expire(&mut self, i: usize, at: DateTime<Utc>) -> Result<()> {
        let lot = &mut self.m.lots[i];
        let gone = lot.remaining - lot.held;
        if gone > 0 {
            lot.remaining -= gone;
            let seq = lot.seq;
            self.m.totals.expired = add(self.m.totals.expired, gone, "expired points")?;
            self.post(EntryKind::Expire, -gone, at, Some(seq), None, Text::from_static("points expired"));
        }
        Ok(())
    }

    /// Releases held points at `at`; points whose lot has reached its expiry
    /// meanwhile expire at the same instant.
    fn release(&mut self, takes: &[Take], at: DateTime<Utc>, rule: &str, reason: &Text) -> Result<()> {
        for t in takes.iter().filter(|t| t.points > 0) {
            let Some(i) = self.m.lots.iter().position(|l| l.seq == t.lot) else { continue };
            self.m.lots[i].held -= t.points;
            self.post(EntryKind::Release, t.points, at, Some(t.lot), Some(rule), reason.clone());
            if self.m.lots[i].expires_at.is_some_and(|e| e <= at) {
                self.expire(i, at)?;
            }
        }
        Ok(())
    }

    /// Pays a debt from free points, oldest-expiring first.
    fn settle(&mut self, at: DateTime<Utc>) {
        if self.m.debt == 0 {
            return;
        }
        let order = self.burn_order();
        for i in order {
            if self.m.debt == 0 {
                break;
            }
            let lot = &mut self.m.lots[i];
            let take = lot.free().min(self.m.debt);
            if take > 0 {
                lot.remaining -= take;
                self.m.debt -= take;
                let seq = lot.seq;
                self.post(
                    EntryKind::Settle,
                    -take,
                    at,
                    Some(seq),
                    None,
                    Text::from_static("paid off a negative balance"),
                );
            }
        }
    }

    /// Lot indices in burn order.
    fn burn_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.m.lots.len()).collect();
        order.sort_by_key(|&i| self.m.lots[i].burn_order());
        order
    }

    fn available(&self) -> Points {
        self.m.balances().available
    }

    /// Takes `points` free points, oldest-expiring first; the caller checked they exist.
    fn take_free(&mut self, points: Points) -> Vec<Take> {
        let mut left = points;
        let mut takes = Vec::new();
        for i in self.burn_order() {
            if left == 0 {
                break;
            }
            let lot = &mut self.m.lots[i];
            let take = lot.free().min(left);
            if take > 0 {
                lot.remaining -= take;
                left -= take;
                takes.push(Take { lot: lot.seq, expires_at: lot.expires_at, points: take });
            }
        }
        takes
    }

    /// The member's tier state, to change all but its daily records (see
    /// [`Work::tier_days_mut`]). The event's first call keeps the level,
    /// carried total and holds, to put back if the event fails: most
    /// events change no tier record, and copying the whole state for
    /// every event was a tenth of a replay.
    fn tier_mut(&mut self) -> &mut crate::tier::TierState {
        self.level_memo = None;
        if self.undo.tier.is_none() {
            let t = &self.m.tier;
            self.undo.tier = Some(TierUndo {
                current: t.current.clone(),
                carried: t.carried,
                holds: t.holds.clone(),
                days_from: t.days.len(),
                days: Vec::new(),
            });
        }
        &mut self.m.tier
    }

    /// The member's level at `at`, an instant at or after its clock
    /// ([`crate::tier::Tiers::level_after`]), worked out once while the tier state stays
    /// as it is: an event asks for it several times (its earn rules, a
    /// purchase's closeness to the next level, the level it settles on).
    fn level_after(&mut self, tiers: &crate::tier::Tiers, at: DateTime<Utc>) -> usize {
        match self.level_memo {
            Some((t, level)) if t == at => level,
            _ => {
                let level = tiers.level_after(&self.m.tier, at);
                self.level_memo = Some((at, level));
                level
            }
        }
    }

    /// The member's tier state, to change its records of `from` and later
    /// days too: keeps those records as they were (a purchase changes the
    /// record of its own day, usually the last one).
    fn tier_days_mut(&mut self, from: NaiveDate) -> &mut crate::tier::TierState {
        self.tier_mut();
        let first = self.m.tier.days.partition_point(|d| d.date < from);
        if let Some(u) = self.undo.tier.as_mut() {
            // Records before `days_from` are still as they were.
            if first < u.days_from {
                let earlier = self.m.tier.days[first..u.days_from].iter().cloned();
                u.days.splice(0..0, earlier);
                u.days_from = first;
            }
        }
        &mut self.m.tier
    }

    fn new_lot(
        &mut self,
        amount: Points,
        earned_at: DateTime<Utc>,
        available_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        origin: LotOrigin,
    ) -> u64 {
        let seq = self.m.next_lot;
        self.m.next_lot += 1;
        self.m.lots.push(Lot {
            seq,
            amount,
            remaining: amount,
            held: 0,
            pending: available_at > earned_at,
            earned_at,
            available_at,
            expires_at,
            source: self.id.clone(),
            origin,
            partner: None,
            first_order_only: false,
        });
        seq
    }

    /// Adds to the daily counter `kind:id`; `key` makes its key when the
    /// counter is new.
    fn count_day(
        &mut self,
        date: NaiveDate,
        kind: &str,
        id: &str,
        key: impl FnOnce() -> Id,
        points: Points,
    ) -> Result<()> {
        match self.m.days.iter_mut().find(|d| d.date == date && earn::day_key_matches(&d.key, kind, id)) {
            Some(d) => {
                d.points = add(d.points, points, "a daily counter")?;
                d.count = d.count.saturating_add(1);
            }
            None => self.m.days.push(DayCount { date, key: key(), points, count: 1 }),
        }
        Ok(())
    }

    fn purchase(&mut self, event: &Event, p: &Purchase) -> Result<()> {
        let program = self.program;
        let mut priced = PricedLines::new();
        program.price_into(&event.id, &p.lines, &mut priced)?;
        for (field, v) in [("order", &p.order), ("channel", &p.channel), ("store", &p.store)] {
            if let Some(v) = v {
                check_id(&event.id, field, v)?;
            }
        }
        let order = p.order.as_deref().map_or_else(|| self.id.clone(), Id::from);
        if let Some(other) = self.m.purchases.iter().find(|r| same_text(&r.order, &order)) {
            return Err(Error::event(
                &event.id,
                "order",
                format!("order '{order}' was already settled by purchase '{}'", other.event),
            ));
        }
        let partner = program.partner(&event.id, p.partner.as_deref())?;
        let ctx_partner_none = partner.is_none();
        // The level at the event, kept for the settle at the end when the
        // purchase changes no tier record (one that does is worked out
        // again, once, for both the close-to-next-level signal and the settle).
        let at = self.event_at.utc;
        let tier = match program.tiers.as_ref() {
            Some(tiers) if at >= self.m.clock => Some(self.level_after(tiers, at)),
            _ => None,
        };
        let (channel, store) = (p.channel.as_deref(), p.store.as_deref());
        let mut ctx = Context::new(program, &event.id, self.event_at, channel, store, self.m, tier);
        ctx.partner = partner;
        let date = ctx.date;
        let mut earned = earn::Earned::default();
        if !self.m.status.is_active() {
            self.notes.push("no points: the member is suspended".into());
        } else if program.daily_purchases_left(self.m, date) {
            earn::evaluate(program, &priced, &ctx, true, &mut earned)?;
        } else {
            self.notes.push(format!(
                "no points: the limit of {} earning purchases a day is reached",
                program.spec.limits.earning_purchases_per_day.unwrap_or(0)
            ));
        }
        self.explanations.reserve_exact(earned.rules.len());
        for o in &earned.rules {
            self.explanations.push(explanation(program, o));
        }
        let mut lot = None;
        if earned.total > 0 {
            let available_at = match program.spec.pending {
                Some(period) => self.later(period, event.at, "a pending period")?,
                None => event.at,
            };
            let expires_at = program.expiry(self.event_at, self.moment(available_at))?;
            let seq = self.new_lot(earned.total, event.at, available_at, expires_at, LotOrigin::Earn);
            if let (Some(partner), Some(lot)) = (partner, self.m.lots.last_mut()) {
                lot.partner = Some(Id::from(partner));
            }
            lot = Some(seq);
            let pending_until = (available_at > event.at).then_some((available_at, program.zone));
            let reason = Text::earned(earned.total, program.scale(), pending_until);
            self.post(EntryKind::Earn, earned.total, event.at, Some(seq), None, reason);
            self.m.totals.earned = add(self.m.totals.earned, earned.total, "earned points")?;
            for o in earned.rules.iter().filter(|o| o.points > 0) {
                let rule = &program.earn[o.rule];
                let id = &rule.id;
                self.count_day(date, "earn", id, || Id::shared(&rule.day_key), o.points)?;
                // One look-up, whether the counter exists or is new: the key
                // shares the program's rule id (no copy; a reference count
                // more and less when the counter exists, far cheaper than a
                // second search of the map).
                match self.m.lifetime.entry(Id::shared(id)) {
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        let old = *e.get();
                        *e.get_mut() = add(old, o.points, "a lifetime counter")?;
                        self.undo.lifetime.push((id, Some(old)));
                    }
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(o.points);
                        self.undo.lifetime.push((id, None));
                    }
                }
            }
            self.count_day(date, "purchases", "", purchases_key, 0)?;
        }
        if program.spec.expiry.kind == ExpiryKind::Inactivity {
            let pushed = program.expiry(self.event_at, self.event_at)?;
            let clock = self.m.clock;
            for l in &mut self.m.lots {
                // Lots that already reached their expiry keep only held points; they stay expired.
                if l.expires_at.is_some_and(|e| e > clock) && l.expires_at < pushed {
                    l.expires_at = pushed;
                }
            }
        }
        let amount: Money = priced.iter().map(|p| p.amount).sum();
        self.tier_purchase(event, &priced, earned.total, amount)?;
        if self.m.last_purchase.is_none() {
            self.first_order_done(event)?;
        }
        self.m.last_purchase = self.m.last_purchase.max(Some(event.at));
        self.referral_purchase(event, amount)?;
        if !program.spec.challenges.is_empty() && ctx_partner_none {
            self.challenge_purchase(event, amount)?;
        }
        // Both are below 10¹⁵ (checked by `price`), so they fit a decimal.
        let as_amount = |m: Money| Amount::from_decimal(money_to_decimal(m).unwrap_or_default());
        self.m.purchases.push(PurchaseRecord {
            event: self.id.clone(),
            order,
            at: event.at,
            lot,
            amount: as_amount(amount),
            returned: Amount::ZERO,
            // A purchase that earned nothing (a daily limit, a suspended
            // member) still records its lines: they can be returned.
            lines: priced
                .iter()
                .zip(earned.lines.iter().copied().chain(std::iter::repeat(0)))
                .map(|(p, points)| LineRecord {
                    // Quantities are whole numbers (scale 0) almost always,
                    // and a nonzero one of scale 0 is already normalized.
                    quantity: Amount::from_decimal(match p.line.quantity.decimal() {
                        q if q.scale() == 0 && !q.is_zero() => q,
                        q => q.normalize(),
                    }),
                    returned: Amount::ZERO,
                    amount: as_amount(p.amount),
                    points,
                    reversed: 0,
                })
                .collect(),
        });
        Ok(())
    }

    fn return_(&mut self, event: &Event, r: &Return) -> Result<()> {
        let program = self.program;
        let id = &event.id;
        let index = self.m.purchases.iter().position(|p| p.event == r.purchase).ok_or_else(|| Error::NotFound {
            event: id.clone(),
            what: "purchase (or its return window has passed)",
            id: r.purchase.clone(),
        })?;
        let purchase = &self.m.purchases[index];
        if event.at < purchase.at {
            return Err(Error::event(
                id,
                "at",
                format!("a return cannot precede its purchase ({})", purchase.at.to_rfc3339()),
            ));
        }
        let closes = program
            .spec
            .limits
            .return_window
            .after(purchase.at, program.zone)
            .ok_or_else(|| Error::overflow("the return window"))?;
        if event.at >= closes {
            return Err(Error::ReturnWindowClosed { event: id.clone(), purchase: r.purchase.clone(), closed: closes });
        }
        // Quantities asked for, per line, summed over repeated lines.
        let mut asked: Vec<Decimal> = vec![Decimal::ZERO; purchase.lines.len()];
        if r.lines.is_empty() {
            for (i, l) in purchase.lines.iter().enumerate() {
                asked[i] = l.quantity.decimal() - l.returned.decimal();
            }
            if asked.iter().all(|q| q.is_zero()) {
                return Err(Error::event(id, "lines", format!("purchase '{}' is already fully returned", r.purchase)));
            }
        }
        for (k, rl) in r.lines.iter().enumerate() {
            let line = purchase.lines.get(rl.line).ok_or_else(|| Error::NotFound {
                event: id.clone(),
                what: "line",
                id: format!("{} (lines[{k}].line)", rl.line),
            })?;
            let left = line.quantity.decimal() - line.returned.decimal();
            let q = match rl.quantity {
                Some(q) if q.is_negative() || q.is_zero() => {
                    return Err(Error::event(
                        id,
                        format!("lines[{k}].quantity"),
                        format!("must be greater than zero, not {q}"),
                    ))
                }
                Some(q) => q.decimal(),
                None => left,
            };
            asked[rl.line] += q;
            if asked[rl.line] > left || left.is_zero() {
                return Err(Error::ReturnExceedsPurchase {
                    event: id.clone(),
                    purchase: r.purchase.clone(),
                    line: rl.line,
                    requested: asked[rl.line].normalize().to_string(),
                    left: left.normalize().to_string(),
                });
            }
        }
        // Points to take back: cumulative per line, so the total never exceeds what was earned.
        self.undo.purchases_changed.push((index, self.m.purchases[index].clone()));
        let purchase = &mut self.m.purchases[index];
        let mut due: Points = 0;
        for (line, q) in purchase.lines.iter_mut().zip(&asked) {
            if q.is_zero() {
                continue;
            }
            let returned = line.returned.decimal() + q;
            let cumulative = if returned == line.quantity.decimal() {
                line.points
            } else {
                Decimal::from(line.points)
                    .checked_mul(returned)
                    .and_then(|v| v.checked_div(line.quantity.decimal()))
                    .and_then(|v| i64::try_from(v.floor()).ok())
                    .ok_or_else(|| Error::overflow("reversed points"))?
            };
            due += cumulative - line.reversed;
            line.reversed = cumulative;
            line.returned = Amount::from_decimal(returned.normalize());
        }
        let mut returned_amount = Decimal::ZERO;
        for l in &purchase.lines {
            returned_amount = l
                .amount
                .decimal()
                .checked_mul(l.returned.decimal())
                .and_then(|v| v.checked_div(l.quantity.decimal()))
                .and_then(|v| returned_amount.checked_add(v))
                .ok_or_else(|| Error::overflow("the money returned"))?;
        }
        let fully = purchase.lines.iter().all(|l| l.returned == l.quantity);
        let (returned_before, bought) = (purchase.returned.decimal(), purchase.at);
        // Stored for people, within the 12 fraction digits an amount may have.
        purchase.returned =
            Amount::from_decimal(returned_amount.round_dp(Amount::FRACTION_DIGITS_MAX as u32).normalize());
        let (source, order, total) = (purchase.lot, purchase.order.clone(), purchase.amount.decimal());
        let spend_back = purchase.returned.decimal() - returned_before;
        // Points that paid for this order come back in the same proportion,
        // before the earned points are taken back: points the refund makes
        // free again can pay the reversal, so a full return never leaves the
        // member with points earned on goods that came back while it reports
        // a shortfall.
        for b in 0..self.m.burns.len() {
            if order != self.m.burns[b].order {
                continue;
            }
            let burn = &self.m.burns[b];
            let cumulative = if fully || total.is_zero() {
                burn.points
            } else {
                Decimal::from(burn.points)
                    .checked_mul(returned_amount)
                    .and_then(|v| v.checked_div(total))
                    .and_then(|v| i64::try_from(v.floor()).ok())
                    .ok_or_else(|| Error::overflow("refunded points"))?
            };
            let delta = cumulative - burn.refunded;
            if delta > 0 {
                self.refund(b, delta, event)?;
            }
        }
        if due > 0 {
            self.reverse(event, due, source)?;
        }
        self.tier_return(bought, spend_back, due, fully)?;
        Ok(())
    }

    /// Takes back `due` earned points: from the purchase's own lot, then from
    /// other available lots, then from other pending lots; what is still
    /// missing becomes debt (if the program allows it) or a shortfall.
    fn reverse(&mut self, event: &Event, due: Points, source: Option<u64>) -> Result<()> {
        let mut left = due;
        // The purchase's own lot first, then available lots, then pending
        // ones, each group in burn order: one sort instead of three passes.
        let lots = &self.m.lots;
        let mut order: Vec<usize> = (0..lots.len()).collect();
        order.sort_by_key(|&i| (Some(lots[i].seq) != source, lots[i].pending, lots[i].burn_order()));
        for i in order {
            if left == 0 {
                break;
            }
            let lot = &mut self.m.lots[i];
            let take = (lot.remaining - lot.held).min(left);
            if take <= 0 {
                continue;
            }
            lot.remaining -= take;
            left -= take;
            let (seq, pending) = (lot.seq, lot.pending);
            let reason = Text::from_static(if pending && Some(seq) == source {
                "return: pending points cancelled"
            } else if Some(seq) == source {
                "return: points taken back"
            } else {
                "return: points taken back from other points"
            });
            self.post(EntryKind::Reverse, -take, event.at, Some(seq), None, reason);
        }
        let taken = due - left;
        self.m.totals.reversed = add(self.m.totals.reversed, taken, "reversed points")?;
        if left > 0 {
            if self.program.spec.limits.allow_negative_balance {
                self.m.debt = add(self.m.debt, left, "a negative balance")?;
                self.m.totals.reversed = add(self.m.totals.reversed, left, "reversed points")?;
                self.post(
                    EntryKind::Reverse,
                    -left,
                    event.at,
                    None,
                    None,
                    Text::from_static("return: points already spent, balance goes negative"),
                );
                self.notes.push(format!(
                    "{} points were already spent: the balance is negative until new points pay it off",
                    self.pts(left)
                ));
            } else {
                self.shortfall = left;
                self.notes.push(format!(
                    "{} points were already spent and could not be taken back (shortfall)",
                    self.pts(left)
                ));
            }
        }
        Ok(())
    }

    /// Gives back `points` of burn `b`, newest takes first, into new lots that
    /// keep the expiry of the lots they came from.
    fn refund(&mut self, b: usize, points: Points, event: &Event) -> Result<()> {
        let burn = &self.m.burns[b];
        let mut skip = burn.refunded;
        let mut left = points;
        let mut parts: Vec<(Option<DateTime<Utc>>, Points)> = Vec::new();
        for t in burn.takes.iter().rev() {
            let mut avail = t.points;
            let s = skip.min(avail);
            skip -= s;
            avail -= s;
            let give = avail.min(left);
            if give > 0 {
                left -= give;
                match parts.last_mut() {
                    Some(last) if last.0 == t.expires_at => last.1 += give,
                    _ => parts.push((t.expires_at, give)),
                }
            }
        }
        let source = burn.event.clone();
        self.undo.burns_changed.push((b, self.m.burns[b].refunded));
        self.m.burns[b].refunded += points;
        for (expires_at, give) in parts {
            let seq = self.new_lot(give, event.at, event.at, expires_at, LotOrigin::Refund);
            let reason = Text::from(format!("return: points that paid in '{source}' given back"));
            self.post(EntryKind::Refund, give, event.at, Some(seq), None, reason);
            self.m.totals.refunded = add(self.m.totals.refunded, give, "refunded points")?;
        }
        Ok(())
    }

    /// Checks a burn against its rule; returns the money the points are worth.
    /// Checks a burn of `points` paying for `order` against its rule.
    fn check_burn(
        &self,
        event: &Event,
        rule: &CompiledBurn,
        points: Points,
        order: &str,
        lines: &[Line],
    ) -> Result<Amount> {
        let program = self.program;
        let s = &rule.spec;
        let refuse = |reason: String| Error::BurnRefused { event: event.id.clone(), rule: s.id.clone(), reason };
        if points <= 0 {
            return Err(Error::event(&event.id, "points", format!("must be greater than zero, not {points}")));
        }
        if points < s.min_points {
            return Err(refuse(format!(
                "{} points is fewer than the minimum of {}",
                self.pts(points),
                self.pts(s.min_points)
            )));
        }
        if points % s.step_points != 0 {
            return Err(refuse(format!(
                "{} points is not a multiple of {}",
                self.pts(points),
                self.pts(s.step_points)
            )));
        }
        let priced = program.price(&event.id, lines)?;
        if priced.is_empty() && s.max_share_percent.is_some() {
            return Err(refuse("the basket lines are needed to check the share payable in points".into()));
        }
        if let Some(limit) = program.burn_limit(rule, &priced)? {
            // The share is of the order: points already paid (less what
            // returns gave back) or held for the same order count against it.
            let paid = (self.m.burns.iter().filter(|b| b.order == order))
                .fold(0, |sum: Points, b| sum.saturating_add(b.points - b.refunded));
            let held = (self.m.holds.iter().filter(|h| h.status == HoldStatus::Open && h.order == order))
                .fold(0, |sum: Points, h| sum.saturating_add(h.points));
            let before = paid.saturating_add(held);
            if points.saturating_add(before) > limit {
                return Err(refuse(if before > 0 {
                    format!(
                        "at most {} points may pay for this basket, and {} already paid or held for order '{order}'",
                        self.pts(limit),
                        self.pts(before)
                    )
                } else {
                    format!("at most {} points may pay for this basket", self.pts(limit))
                }));
            }
        }
        let kind = event.kind.name();
        if let Some(verdict) = program.burn_script(&event.id, kind, rule, &priced, self.m, event.at)? {
            let why = |what: String| match &verdict.text {
                Some(t) => format!("{what}: {t}"),
                None => what,
            };
            match verdict.limit {
                None => return Err(refuse(why("the rule's script does not allow this burn".into()))),
                Some(limit) if points > limit => {
                    return Err(refuse(why(format!("the rule's script allows at most {} points", self.pts(limit)))));
                }
                Some(_) => {}
            }
        }
        if let Some(uses) = s.uses_per_day {
            let date = self.event_date();
            if day_and_month(&self.m.days, "burn", &s.id, date).2 >= uses {
                return Err(refuse(format!("already used {uses} times today")));
            }
        }
        let available = self.available();
        if points > available {
            return Err(Error::InsufficientPoints { event: event.id.clone(), requested: points, available });
        }
        program.money(rule, points)
    }

    fn hold(&mut self, event: &Event, h: &Hold) -> Result<()> {
        let program = self.program;
        let rule = program.burn_rule(&event.id, h.rule.as_deref())?;
        if let Some(order) = &h.order {
            check_id(&event.id, "order", order)?;
        }
        self.check_burn(event, rule, h.points, h.order.as_deref().unwrap_or(&event.id), &h.lines)?;
        let takes = self.take_free(h.points);
        for t in &takes {
            // take_free lowered `remaining`; a hold keeps the points in the lot, reserved.
            if let Some(lot) = self.m.lots.iter_mut().find(|l| l.seq == t.lot) {
                lot.remaining += t.points;
                lot.held += t.points;
            }
            self.post(
                EntryKind::Hold,
                -t.points,
                event.at,
                Some(t.lot),
                Some(&rule.spec.id),
                Text::from(format!("held for '{}'", h.order.as_deref().unwrap_or(&event.id))),
            );
        }
        let timeout_at = self.later(rule.spec.hold_timeout, event.at, "a hold timeout")?;
        self.m.holds.push(HoldRecord {
            id: event.id.clone(),
            rule: rule.spec.id.clone(),
            order: h.order.clone().unwrap_or_else(|| event.id.clone()),
            points: h.points,
            takes,
            at: event.at,
            timeout_at,
            status: HoldStatus::Open,
            closed_at: None,
        });
        let key = || Id::from(format!("burn:{}", rule.spec.id));
        self.count_day(self.event_date(), "burn", &rule.spec.id, key, h.points)?;
        self.notes.push(format!("hold open until {}", timeout_at.to_rfc3339()));
        Ok(())
    }

    fn open_hold(&self, event: &Event, id: &str) -> Result<usize> {
        let i = self.m.holds.iter().position(|h| h.id == id).ok_or_else(|| Error::NotFound {
            event: event.id.clone(),
            what: "hold",
            id: id.to_owned(),
        })?;
        let status = self.m.holds[i].status;
        if status != HoldStatus::Open {
            return Err(Error::HoldClosed { event: event.id.clone(), hold: id.to_owned(), state: status.word() });
        }
        Ok(i)
    }

    fn capture(&mut self, event: &Event, c: &Capture) -> Result<()> {
        let i = self.open_hold(event, &c.hold)?;
        let held = self.m.holds[i].points;
        let points = c.points.unwrap_or(held);
        if points <= 0 || points > held {
            return Err(Error::event(&event.id, "points", format!("must be from 1 to the {held} held, not {points}")));
        }
        let rule = self.program.burn_rule(&event.id, Some(&self.m.holds[i].rule))?;
        let s = &rule.spec;
        if points < s.min_points || points % s.step_points != 0 {
            return Err(Error::BurnRefused {
                event: event.id.clone(),
                rule: s.id.clone(),
                reason: format!(
                    "a capture of {} points breaks the minimum of {} or the step of {}",
                    self.pts(points),
                    self.pts(s.min_points),
                    self.pts(s.step_points)
                ),
            });
        }
        let paid = self.program.money(rule, points)?;
        let rule_id = s.id.clone();
        let mut left = points;
        let mut burned = Vec::new();
        let mut unused = Vec::new();
        for t in self.m.holds[i].takes.clone() {
            let lot = self.m.lots.iter_mut().find(|l| l.seq == t.lot).ok_or_else(|| Error::MemberState {
                reason: format!("hold '{}' names lot {} that is gone", c.hold, t.lot),
            })?;
            let burn = t.points.min(left);
            lot.held -= burn;
            lot.remaining -= burn;
            left -= burn;
            if burn > 0 {
                burned.push(Take { lot: t.lot, expires_at: t.expires_at, points: burn });
                let reason = Text::paid(paid, &self.program.currency);
                self.post(EntryKind::Burn, -burn, event.at, Some(t.lot), Some(&rule_id), reason);
            }
            unused.push(Take { points: t.points - burn, ..t });
        }
        self.release(&unused, event.at, &rule_id, &Text::from_static("released: captured less than held"))?;
        let hold = &mut self.m.holds[i];
        hold.status = HoldStatus::Captured;
        hold.closed_at = Some(event.at);
        let order = hold.order.clone();
        self.m.totals.burned = add(self.m.totals.burned, points, "burned points")?;
        self.m.burns.push(BurnRecord {
            event: event.id.clone(),
            order,
            at: event.at,
            points,
            refunded: 0,
            takes: burned,
        });
        self.paid = Some(paid);
        Ok(())
    }

    fn void(&mut self, event: &Event, v: &Void) -> Result<()> {
        let i = self.open_hold(event, &v.hold)?;
        let takes = self.m.holds[i].takes.clone();
        let rule = self.m.holds[i].rule.clone();
        self.release(&takes, event.at, &rule, &Text::from(format!("hold '{}' voided", v.hold)))?;
        let hold = &mut self.m.holds[i];
        hold.status = HoldStatus::Voided;
        hold.closed_at = Some(event.at);
        Ok(())
    }

    fn redeem(&mut self, event: &Event, r: &Redeem) -> Result<()> {
        let program = self.program;
        let rule = program.burn_rule(&event.id, r.rule.as_deref())?;
        if let Some(order) = &r.order {
            check_id(&event.id, "order", order)?;
        }
        let paid = self.check_burn(event, rule, r.points, r.order.as_deref().unwrap_or(&event.id), &r.lines)?;
        let takes = self.take_free(r.points);
        // One text for every lot's entry (a copy shares it).
        let reason = Text::paid(paid, &program.currency);
        for t in &takes {
            self.post(EntryKind::Burn, -t.points, event.at, Some(t.lot), Some(&rule.spec.id), reason.clone());
        }
        self.m.totals.burned = add(self.m.totals.burned, r.points, "burned points")?;
        let key = || Id::from(format!("burn:{}", rule.spec.id));
        // The event's local date, known since the event started.
        let date = self.event_date();
        self.count_day(date, "burn", &rule.spec.id, key, r.points)?;
        self.m.burns.push(BurnRecord {
            event: event.id.clone(),
            order: r.order.clone().unwrap_or_else(|| event.id.clone()),
            at: event.at,
            points: r.points,
            refunded: 0,
            takes,
        });
        self.paid = Some(paid);
        Ok(())
    }

    fn adjust(&mut self, event: &Event, a: &Adjust) -> Result<()> {
        check_id(&event.id, "reason", &a.reason)?;
        if a.note.len() > 1024 {
            return Err(Error::event(&event.id, "note", "longer than 1024 bytes"));
        }
        let reason = Text::from(if a.note.is_empty() { a.reason.clone() } else { format!("{}: {}", a.reason, a.note) });
        if a.points > 0 {
            let (points, expiry) = self.reason_limits(event, &a.reason, a.points)?;
            if points == 0 {
                return Ok(());
            }
            let expires_at = match expiry {
                Some(e) => e,
                None => self.program.expiry(self.event_at, self.event_at)?,
            };
            let seq = self.new_lot(points, event.at, event.at, expires_at, LotOrigin::Adjust);
            self.post(EntryKind::Adjust, points, event.at, Some(seq), None, reason);
            self.m.totals.credited = add(self.m.totals.credited, points, "credited points")?;
        } else if a.points < 0 {
            let points = a.points.checked_neg().ok_or_else(|| Error::overflow("adjusted points"))?;
            let available = self.available();
            if points > available {
                return Err(Error::InsufficientPoints { event: event.id.clone(), requested: points, available });
            }
            for t in self.take_free(points) {
                self.post(EntryKind::Adjust, -t.points, event.at, Some(t.lot), None, reason.clone());
            }
            self.m.totals.debited = add(self.m.totals.debited, points, "debited points")?;
        } else {
            return Err(Error::event(&event.id, "points", "must not be zero"));
        }
        Ok(())
    }

    /// Drops what the bounds say is no longer needed.
    ///
    /// Purchase, burn and closed hold records go exactly at their window's
    /// edge: later events look them up (an order id already used, points
    /// to give back on a return, a hold to capture). Their edge costs a
    /// conversion to local time and back, made only when a record falls
    /// between bounds that hold in every zone ([`Period::before_bounds`]).
    /// Daily counters and tier records no event can read once they are
    /// older than the late window's earliest possible start (an event reads
    /// its own week, month and tier window); those go by that bound alone,
    /// with no search.
    fn compact(&mut self) {
        let program = self.program;
        let zone = program.zone;
        let limits = &program.spec.limits;
        let at = self.m.clock;
        self.m.lots.retain(|l| l.remaining > 0);
        // The late-window bound and the return-window cutoff each cost a
        // conversion to local time and back. Bounds that hold in every zone
        // (`Period::before_bounds`) keep or drop almost every record
        // without it; the exact instant is found only for a record that
        // falls between them.
        const DAY: i64 = 86_400;
        let instant = |secs: i64| DateTime::from_timestamp(secs, 0);
        let secs = at.timestamp();
        let clock = |work: &Self| work.moment(at);
        let late_exact = |work: &Self| limits.late_window.before_in(clock(work), zone).unwrap_or(clock(work));
        let mut late_moment = None;
        let (late_earliest, late_latest) = limits.late_window.before_bounds(secs);
        let closed_before =
            |h: &HoldRecord, t: DateTime<Utc>| h.status != HoldStatus::Open && h.closed_at.is_some_and(|c| c < t);
        // (Each bound is made only for a member with records it decides on.)
        if !self.m.holds.is_empty() {
            match instant(late_latest) {
                Some(latest) if !self.m.holds.iter().any(|h| closed_before(h, latest)) => {}
                _ => {
                    let late = *late_moment.get_or_insert_with(|| late_exact(self));
                    self.m.holds.retain(|h| !closed_before(h, late.utc));
                }
            }
        }
        // Records older than the return window (with a day to spare for
        // calendar clamping) can no longer be returned against.
        let (earliest, latest) = limits.return_window.before_bounds(secs);
        if !(self.m.purchases.is_empty() && self.m.burns.is_empty()) {
            match instant(earliest - DAY).zip(instant(latest - DAY)) {
                Some((drop_below, keep))
                    if {
                        let sure = |t: DateTime<Utc>| t < drop_below || t >= keep;
                        self.m.purchases.iter().all(|p| sure(p.at)) && self.m.burns.iter().all(|b| sure(b.at))
                    } =>
                {
                    if self.m.purchases.iter().any(|p| p.at < keep) {
                        self.m.purchases.retain(|p| p.at >= keep);
                    }
                    if self.m.burns.iter().any(|b| b.at < keep) {
                        self.m.burns.retain(|b| b.at >= keep);
                    }
                }
                _ => {
                    let cutoff = limits
                        .return_window
                        .before_in(clock(self), zone)
                        .and_then(|c| c.utc.checked_sub_signed(chrono::Duration::days(1)));
                    if let Some(cutoff) = cutoff {
                        self.m.purchases.retain(|p| p.at >= cutoff);
                        self.m.burns.retain(|b| b.at >= cutoff);
                    }
                }
            }
        }
        // Daily counters: keep the months and weeks a late event may still
        // fall in (scripts read this week's and this month's purchases).
        // The earlier of the month's and the week's first day: back by the
        // larger of the day of the month and the day of the week. The local
        // date of an instant is within a day of its UTC date.
        let keep_from = |oldest: NaiveDate| {
            let back = oldest.day0().max(oldest.weekday().num_days_from_monday());
            oldest.checked_sub_days(chrono::Days::new(u64::from(back))).unwrap_or(oldest)
        };
        let late_first_day = crate::time::utc_date(late_earliest - DAY);
        if let Some(from) = late_first_day.map(keep_from) {
            if self.m.days.iter().any(|d| d.date < from) {
                self.m.days.retain(|d| d.date >= from);
            }
        }
        // Tier records: a return reaches back to the oldest purchase kept, a
        // late event to the late window (programs with tiers only).
        if program.tiers.is_some() {
            if let (Some(late_day), Some(floor)) = (late_first_day, instant(late_earliest)) {
                let day_before = |t: DateTime<Utc>| t.date_naive().pred_opt().unwrap_or(NaiveDate::MIN);
                let oldest_purchase = self.m.purchases.first().map(|p| day_before(p.at));
                self.tier_compact(oldest_purchase.map_or(late_day, |p| p.min(late_day)), floor);
            }
        }
        // Closed rewards and received transfers are kept a year and a day
        // (per-member limits per year count them; `ever` limits keep their
        // own counter); chosen days 400 days (limits per day, month, year).
        // (Worked out only for a member that has any: most have none.)
        let year_ago = || at.checked_sub_signed(chrono::Duration::days(367)).unwrap_or(at);
        if !self.m.rewards.is_empty() {
            let year_ago = year_ago();
            if self.m.rewards.iter().any(|r| r.closed_at.is_some_and(|c| c < year_ago)) {
                self.m.rewards.retain(|r| r.closed_at.is_none_or(|c| c >= year_ago));
            }
        }
        if !self.m.chosen.is_empty() {
            let chosen_from = at.date_naive() - chrono::Duration::days(401);
            self.m.chosen.retain(|(_, d)| *d >= chosen_from);
        }
        if !self.m.transfers_in.is_empty() {
            let year_ago = year_ago();
            self.m.transfers_in.retain(|(_, _, t)| *t >= year_ago);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A decimal for a line's field: small and wide mantissas, scales from
    /// 0 to 14, now and then negative (`-0` included).
    fn line_decimal() -> impl Strategy<Value = Amount> {
        let mantissa = prop_oneof![0_i64..1_000, 0_i64..100_000_000, any::<i64>(), Just(0)];
        (mantissa, 0_u32..=14, prop::bool::weighted(0.1)).prop_map(|(m, scale, negative)| {
            let mut d = Decimal::new(m, scale);
            d.set_sign_negative(negative);
            Amount::from_decimal(d)
        })
    }

    proptest! {
        /// The 64-bit pricing of a line gives what the checked path gives,
        /// and takes no line the checked path refuses.
        #[test]
        fn small_lines_price_as_the_checked_path(
            quantity in line_decimal(),
            unit_price in line_decimal(),
            discount in line_decimal(),
        ) {
            let line = Line { sku: "s".into(), category: "c".into(), quantity, unit_price, discount };
            if let Some((gross, discount, exp)) = small_line(&line) {
                prop_assert_eq!(checked_line("e", 0, &line).ok(), Some((gross, discount)));
                let unit = pow10(u32::from(exp)).unwrap();
                prop_assert!(gross % unit == 0 && discount % unit == 0, "{gross} {discount} 10^{exp}");
            }
        }

        /// The money value of points in integers is the decimal arithmetic's,
        /// for point values and scales a program can have, and past them.
        #[test]
        fn points_money_is_the_decimal_arithmetic(
            points in prop_oneof![0_i64..10_000, any::<i64>().prop_map(i64::abs)],
            mantissa in prop_oneof![0_i64..100_000, any::<i64>().prop_map(i64::abs)],
            value_scale in 0_u32..=12,
            scale in 0_u32..=4,
        ) {
            let value = Decimal::new(mantissa, value_scale);
            let by_decimals = points_money_decimal(points, value, scale).map(Amount::from_decimal);
            prop_assert_eq!(points_money(points, value, scale), by_decimals);
        }
    }

    const PROGRAM: &str = r#"
id = "undo"
currency = "RUB"
time_zone = "Europe/Moscow"
categories = ["coffee", "food"]
pending = { hours = 24 }
limits.allow_negative_balance = true

[expiry]
kind = "after"
period = { days = 30 }

[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "10"
caps.lifetime = 100000

[[burn]]
id = "pay"
"#;

    fn ev(json: &str) -> Event {
        Event::from_json_str(json).unwrap()
    }

    fn sale(id: &str, at: &str, price: &str) -> Event {
        ev(&format!(
            r#"{{"id":"{id}","at":"{at}","type":"purchase","lines":[{{"sku":"a","category":"coffee","quantity":"2","unit_price":"{price}"}},{{"sku":"b","category":"food","quantity":"1","unit_price":"{price}"}}]}}"#
        ))
    }

    /// Every kind of event, applied successfully and then undone, leaves the
    /// member exactly as it was: the undo log covers every change an event
    /// makes before its last check.
    /// Applies each event to a copy of `m`, checks it changed something,
    /// undoes it, and checks the copy is `m` again, byte for byte.
    fn assert_each_is_undone_exactly(p: &Program, m: &Member, cases: &[Event]) {
        let before = m.to_json();
        for e in cases {
            let mut copy = m.clone();
            let mut undo = Undo::of(&copy);
            let mut work = Work::new(p, &mut copy, &mut undo);
            work.apply_event(e).unwrap_or_else(|err| panic!("{}: {err}", e.id));
            assert_ne!(work.m.to_json(), before, "{} changed nothing: the test proves nothing", e.id);
            let Work { undo, m: changed, .. } = work;
            std::mem::replace(undo, Undo::of(changed)).restore(changed);
            assert_eq!(copy.to_json(), before, "{} was not undone exactly", e.id);
        }
    }

    #[test]
    fn every_event_kind_is_undone_exactly() {
        let p = Program::from_toml_str(PROGRAM).unwrap();
        let mut m = p.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
        for e in [
            sale("s1", "2026-01-01T10:00:00Z", "500"),
            sale("s2", "2026-01-03T10:00:00Z", "800"),
            ev(r#"{"id":"r0","at":"2026-01-04T10:00:00Z","type":"redeem","points":100,"order":"s2"}"#),
            ev(r#"{"id":"h1","at":"2026-01-04T11:00:00Z","type":"hold","points":50,"order":"o-9"}"#),
        ] {
            p.apply(&mut m, &e).unwrap();
        }
        let cases = [
            sale("s3", "2026-01-04T12:00:00Z", "300"),
            ev(r#"{"id":"r1","at":"2026-01-04T12:00:00Z","type":"return","purchase":"s2"}"#),
            ev(
                r#"{"id":"r2","at":"2026-01-04T12:00:00Z","type":"return","purchase":"s1","lines":[{"line":0,"quantity":"1"}]}"#,
            ),
            ev(r#"{"id":"c1","at":"2026-01-04T11:05:00Z","type":"capture","hold":"h1","points":30}"#),
            ev(r#"{"id":"v1","at":"2026-01-04T11:05:00Z","type":"void","hold":"h1"}"#),
            ev(r#"{"id":"a1","at":"2026-01-04T12:00:00Z","type":"adjust","points":-200,"reason":"fraud"}"#),
            ev(r#"{"id":"a2","at":"2026-01-04T12:00:00Z","type":"adjust","points":70,"reason":"goodwill"}"#),
            // Far ahead: holds time out, points activate and expire.
            ev(r#"{"id":"x1","at":"2026-03-01T00:00:00Z","type":"advance"}"#),
        ];
        assert_each_is_undone_exactly(&p, &m, &cases);
    }

    /// The receipt's next expiries (kept without sorting the lots) are the
    /// first groups of `upcoming_expiries`, whatever the lots' order.
    /// Tier, reward and bonus events, on a program whose level is counted by reviews.
    #[test]
    fn tier_reward_and_bonus_events_are_undone_exactly() {
        let p = Program::from_toml_str(
            r#"
id = "reviews"
currency = "EUR"
time_zone = "Europe/Berlin"
[tiers]
measure = "counter"
counter = "review"
window = "calendar_year"
[[tiers.levels]]
id = "fan"
[[tiers.levels]]
id = "critic"
min = "3"
[[tiers.levels]]
id = "plus"
subscription.period = { months = 1 }
[[activities]]
id = "review"
points = 10
max_ever = 5
[adjust_reasons.goodwill]
max_per_month = 15
[birthday]
points = 7
[[rewards]]
id = "mug"
kind = "free_item"
sku = "mug"
cost = 4
[transfers]
"#,
        )
        .unwrap();
        let profile = crate::Profile { birth_date: "1990-01-15".parse().ok(), ..Default::default() };
        let mut m = p.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), profile).unwrap();
        for e in [
            ev(r#"{"id":"w1","at":"2026-01-02T10:00:00Z","type":"activity","name":"review","value":2}"#),
            ev(r#"{"id":"p1","at":"2026-01-02T11:00:00Z","type":"subscribe","tier":"plus"}"#),
            ev(r#"{"id":"k1","at":"2026-01-02T12:00:00Z","type":"redeem_reward","reward":"mug"}"#),
        ] {
            p.apply(&mut m, &e).unwrap();
        }
        let cases = [
            ev(r#"{"id":"w2","at":"2026-01-03T10:00:00Z","type":"activity","name":"review"}"#),
            ev(r#"{"id":"p2","at":"2026-01-03T10:00:00Z","type":"subscribe","tier":"plus"}"#),
            ev(r#"{"id":"t1","at":"2026-01-03T10:00:00Z","type":"assign_tier","tier":"critic","reason":"staff"}"#),
            ev(r#"{"id":"g1","at":"2026-01-03T10:00:00Z","type":"adjust","points":20,"reason":"goodwill"}"#),
            ev(r#"{"id":"k2","at":"2026-01-03T10:00:00Z","type":"redeem_reward","reward":"mug"}"#),
            ev(r#"{"id":"k3","at":"2026-01-03T10:00:00Z","type":"use_reward","issued":"k1"}"#),
            ev(r#"{"id":"k4","at":"2026-01-03T10:00:00Z","type":"cancel_reward","issued":"k1"}"#),
            ev(r#"{"id":"z1","at":"2026-01-03T10:00:00Z","type":"suspend","reason":"check"}"#),
            ev(r#"{"id":"z2","at":"2026-01-03T10:00:00Z","type":"close","reason":"asked"}"#),
            ev(r#"{"id":"z3","at":"2026-01-03T10:00:00Z","type":"transfer_out","to":"kid","points":3}"#),
            ev(
                r#"{"id":"z4","at":"2026-01-03T10:00:00Z","type":"transfer_in","from":"mum","points":3,"transfer":"t"}"#,
            ),
            // The subscription lapses on 2 Feb 11:00Z: a level change on the
            // way, and the birthday on 15 Jan brings 7 points.
            ev(r#"{"id":"x1","at":"2026-03-01T00:00:00Z","type":"advance"}"#),
        ];
        assert_each_is_undone_exactly(&p, &m, &cases);
        // And applied for real: the third review reaches Critic; the lapse falls back to it.
        let r = p.apply(&mut m, &cases[0]).unwrap().receipt;
        assert_eq!(r.tier.as_deref(), Some("plus"));
        let advance = cases.iter().find(|e| e.id == "x1").unwrap();
        let r = p.apply(&mut m, advance).unwrap().receipt;
        assert_eq!(r.tier.as_deref(), Some("critic"));
        // Two reviews (w1 and w2) at 10 points each, less the mug's 4, and the birthday's 7.
        assert_eq!((m.balances().available, r.total(EntryKind::Earn)), (10 + 10 - 4 + 7, 7));
        assert_eq!(m.tier_state().history.last().map(|c| c.at.to_rfc3339()), Some("2026-02-02T11:00:00+00:00".into()));
    }

    #[test]
    fn next_expiries_are_the_first_upcoming_ones() {
        let p = Program::from_toml_str(PROGRAM).unwrap();
        let mut m = p.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
        // Out of order in time (late events), and two lots per instant.
        for (i, day) in [5, 3, 7, 4, 6, 4, 7, 5].iter().enumerate() {
            let at = format!("2026-01-{day:02}T10:00:00Z");
            p.apply(&mut m, &sale(&format!("s{i}"), &at, "100")).unwrap();
        }
        assert!(m.lots.len() >= 8);
        for from in ["2026-01-01T00:00:00Z", "2026-02-04T10:00:00Z", "2026-02-05T12:00:00Z", "2026-03-01T00:00:00Z"] {
            let from = from.parse().unwrap();
            let all = p.upcoming_expiries(&m, from, None);
            for n in 0..8 {
                assert_eq!(p.next_expiries(&m, from, n), all[..n.min(all.len())], "from {from}, n {n}");
            }
        }
    }

    fn thirds_program() -> Program {
        Program::from_toml_str(
            "id = \"t\"\ncurrency = \"RUB\"\ntime_zone = \"UTC\"\ncategories = [\"x\"]\n\
             [[earn]]\nid = \"third\"\nkind = \"per_amount\"\npoints = 1\nper = \"3\"\n",
        )
        .unwrap()
    }

    fn basket_event(id: &str, lines: &[(&str, &str)]) -> Event {
        let lines: Vec<String> = lines
            .iter()
            .map(|(q, p)| format!(r#"{{"sku":"a","category":"x","quantity":"{q}","unit_price":"{p}"}}"#))
            .collect();
        ev(&format!(r#"{{"id":"{id}","at":"2026-01-02T00:00:00Z","type":"purchase","lines":[{}]}}"#, lines.join(",")))
    }

    /// Points are rounded from the exact quotient: 3 × (1 RUB / 3 RUB) is one
    /// point, where a 28-digit decimal would give 0.999… and floor it to zero.
    #[test]
    fn thirds_add_up_exactly() {
        let p = thirds_program();
        let mut m = p.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
        let r = p.apply(&mut m, &basket_event("s", &[("1", "1"), ("1", "1"), ("1", "1")])).unwrap().receipt;
        assert_eq!(r.total(EntryKind::Earn), 1);
        // And the point is split over the lines: the first line gets it.
        assert_eq!(m.purchases[0].lines.iter().map(|l| l.points).collect::<Vec<_>>(), [1, 0, 0]);
    }

    #[test]
    fn instant_bounds() {
        for (text, ok) in [
            (EARLIEST, true),
            (LATEST, true),
            ("1899-12-31T23:59:59Z", false),
            ("1899-12-31T23:59:59.999Z", false),
            ("9999-12-31T23:59:59.999Z", false),
            ("9999-12-31T23:59:58.999Z", true),
            ("1900-01-01T00:00:00.001Z", true),
            ("+10000-01-01T00:00:00Z", false),
        ] {
            let at: DateTime<Utc> = text.parse().unwrap();
            assert_eq!(check_instant("e", at).is_ok(), ok, "{text}");
        }
    }

    #[test]
    fn line_and_basket_amount_bounds() {
        let p = thirds_program();
        let mut m = p.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
        let before = m.to_json();
        let err = p.apply(&mut m, &basket_event("a", &[("0.0000001", "0.0000001")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "event 'a': lines[0].quantity: unit_price × quantity has more than 12 decimal places"
        );
        let err = p.apply(&mut m, &basket_event("b", &[("1000", "1000000000000")])).unwrap_err();
        assert_eq!(err.to_string(), "event 'b': lines[0].quantity: unit_price × quantity is too large");
        let big = ("1", "999999999999999");
        let err = p.apply(&mut m, &basket_event("c", &[big, big])).unwrap_err();
        assert_eq!(err.to_string(), "event 'c': lines: the basket's total has more than 15 integer digits");
        assert_eq!(m.to_json(), before);
        // Trailing zeros do not count as decimal places.
        let ok = p.apply(&mut m, &basket_event("d", &[("1.000000000000", "3.000000000000")])).unwrap();
        assert_eq!(ok.receipt.total(EntryKind::Earn), 1);
    }
}
