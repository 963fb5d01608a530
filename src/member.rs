//! A member's state: lots, holds, counters, the records returns need, and
//! the ids of recent events. The host stores it (it round-trips through
//! serde) and hands it back with the next event.
//!
//! Every list here is bounded (see the crate docs, "Bounds"): spent and
//! expired lots are dropped, closed holds are kept for the late window,
//! purchase and burn records for the return window, daily counters from the
//! start of the month of the oldest late event, event ids up to
//! `limits.remember_events` and receipts up to `limits.keep_receipts`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{json_error, Error, Result};
use crate::event::Profile;
use crate::number::{Amount, Points};
use crate::receipt::Receipt;

/// The member-state format this release writes; it reads this one only.
pub const MEMBER_FORMAT: u32 = 1;

/// Points earned (or credited) together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lot {
    /// Member-wide sequence number, from 1; burns take lots by (expires_at, seq).
    pub seq: u64,
    /// Points put into the lot.
    pub amount: Points,
    /// Points still in it: 0 ≤ remaining ≤ amount.
    pub remaining: Points,
    /// Of `remaining`, points reserved by open holds: 0 ≤ held ≤ remaining.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held: Points,
    /// True until the points become available.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// When the points were earned.
    #[serde(with = "crate::time::instant")]
    pub earned_at: DateTime<Utc>,
    /// When the points become (or became) available.
    #[serde(with = "crate::time::instant")]
    pub available_at: DateTime<Utc>,
    /// When the points expire (usable strictly before); `None` never.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The event that created the lot.
    pub source: crate::Id,
    /// How the lot came to be.
    pub origin: LotOrigin,
    /// The partner whose purchase earned the lot, for settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<crate::Id>,
    /// A welcome bonus that pays only for the first order.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_order_only: bool,
}

/// How a lot came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotOrigin {
    /// Earned by a purchase.
    Earn,
    /// Credited by an adjustment.
    Adjust,
    /// Given back when something paid with points was returned.
    Refund,
    /// A bonus for something other than a purchase: an activity, a birthday.
    Bonus,
    /// Received from another member.
    Transfer,
}

fn is_zero(p: &Points) -> bool {
    *p == 0
}

impl Lot {
    /// The order in which burns consume lots: earliest expiry first (never
    /// expiring last), then oldest.
    pub(crate) fn burn_order(&self) -> (bool, Option<DateTime<Utc>>, u64) {
        (self.expires_at.is_none(), self.expires_at, self.seq)
    }

    /// Points that a burn, a hold or a settlement may take now.
    pub(crate) fn free(&self) -> Points {
        if self.pending {
            0
        } else {
            self.remaining - self.held
        }
    }
}

/// Points taken from one lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Take {
    /// The lot's sequence number.
    pub lot: u64,
    /// The lot's expiry instant (kept so a refund can restore it).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Points taken.
    pub points: Points,
}

/// The state of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Reserved, waiting for capture or void.
    Open,
    /// Burned by a capture.
    Captured,
    /// Released by a void.
    Voided,
    /// Released because it timed out.
    Released,
}

impl HoldStatus {
    pub(crate) fn word(self) -> &'static str {
        match self {
            HoldStatus::Open => "open",
            HoldStatus::Captured => "captured",
            HoldStatus::Voided => "voided",
            HoldStatus::Released => "released (timed out)",
        }
    }
}

/// Points reserved for a basket being paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRecord {
    /// The hold event id.
    pub id: String,
    /// The burn rule.
    pub rule: String,
    /// The order being paid.
    pub order: String,
    /// Points reserved.
    pub points: Points,
    /// Where they are reserved.
    pub takes: Vec<Take>,
    /// When the hold was made.
    #[serde(with = "crate::time::instant")]
    pub at: DateTime<Utc>,
    /// When an open hold is released.
    #[serde(with = "crate::time::instant")]
    pub timeout_at: DateTime<Utc>,
    /// Its state.
    pub status: HoldStatus,
    /// When it was captured, voided or released.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// A burn kept for the return window, so a return can give points back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRecord {
    /// The redeem or capture event id.
    pub event: String,
    /// The order paid.
    pub order: String,
    /// When.
    #[serde(with = "crate::time::instant")]
    pub at: DateTime<Utc>,
    /// Points burned.
    pub points: Points,
    /// Points given back so far.
    pub refunded: Points,
    /// The lots they came from.
    pub takes: Vec<Take>,
}

/// One purchase line as a return needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRecord {
    /// Quantity bought.
    pub quantity: Amount,
    /// Quantity returned so far.
    pub returned: Amount,
    /// Net money amount of the line.
    pub amount: Amount,
    /// Points the purchase earned, allocated to this line.
    pub points: Points,
    /// Points reversed so far for this line.
    pub reversed: Points,
}

/// A purchase kept for the return window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRecord {
    /// The purchase event id.
    pub event: crate::Id,
    /// The order id.
    pub order: crate::Id,
    /// When.
    #[serde(with = "crate::time::instant")]
    pub at: DateTime<Utc>,
    /// The lot its points went into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<u64>,
    /// Net money amount of all lines.
    pub amount: Amount,
    /// Net money amount returned so far.
    pub returned: Amount,
    /// The lines.
    pub lines: Vec<LineRecord>,
}

/// What a member has received and given, over all time, in point units.
///
/// Conservation: `earned + credited + refunded = posted + burned + debited +
/// expired + reversed`, where `posted = pending + held + available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Earned by purchases, activities and birthdays.
    pub earned: Points,
    /// Credited by adjustments.
    pub credited: Points,
    /// Given back by returns of things paid with points.
    pub refunded: Points,
    /// Spent.
    pub burned: Points,
    /// Debited by adjustments.
    pub debited: Points,
    /// Expired.
    pub expired: Points,
    /// Taken back by returns.
    pub reversed: Points,
}

impl Totals {
    /// Everything that came in.
    ///
    /// ```
    /// let t = loyalty::Totals { earned: 5, credited: 2, refunded: 1, ..Default::default() };
    /// assert_eq!(t.issued(), 8);
    /// ```
    pub fn issued(&self) -> Points {
        self.earned.saturating_add(self.credited).saturating_add(self.refunded)
    }
}

/// Per-rule points and counts on one local day, for caps and daily limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayCount {
    /// The local date.
    pub date: NaiveDate,
    /// `earn:<rule>`, `burn:<rule>` or `purchases:`.
    pub key: crate::Id,
    /// Points given that day.
    pub points: Points,
    /// Times counted that day.
    pub count: u32,
}

/// An event the member remembers for idempotency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processed {
    /// The event id.
    pub id: crate::Id,
    /// A stable fingerprint of the payload.
    pub fingerprint: u64,
    /// The event instant.
    #[serde(with = "crate::time::instant")]
    pub at: DateTime<Utc>,
    /// The receipt, for the latest `limits.keep_receipts` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<std::sync::Arc<Receipt>>,
}

/// One member's state.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
/// let member = program.enroll("m-42", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
/// let json = member.to_json();
/// assert_eq!(loyalty::Member::from_json_str(&json).unwrap(), member);
/// ```
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub(crate) format: u32,
    pub(crate) id: crate::Id,
    pub(crate) program: String,
    #[serde(with = "crate::time::instant")]
    pub(crate) enrolled_at: DateTime<Utc>,
    pub(crate) profile: Profile,
    #[serde(with = "crate::time::instant")]
    pub(crate) clock: DateTime<Utc>,
    pub(crate) next_lot: u64,
    pub(crate) next_entry: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) lots: Vec<Lot>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) holds: Vec<HoldRecord>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) debt: Points,
    pub(crate) totals: Totals,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) days: Vec<DayCount>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) lifetime: BTreeMap<crate::Id, Points>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) purchases: Vec<PurchaseRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) burns: Vec<BurnRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) recent: Vec<Processed>,
    /// The latest instant of the events no longer in `recent`: an event at
    /// or before it may be one of them, so it is refused (`TooLate`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub(crate) forgotten: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "crate::tier::TierState::is_empty")]
    pub(crate) tier: crate::tier::TierState,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub(crate) last_purchase: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rewards: Vec<crate::reward::IssuedReward>,
    /// Who referred the member, until the referral qualified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) referred_by: Option<crate::Id>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) challenges: Vec<crate::engagement::ChallengeProgress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) badges: Vec<crate::engagement::Badge>,
    /// Transfers received: (sender, transfer id, when), kept a year.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) transfers_in: Vec<(crate::Id, String, DateTime<Utc>)>,
    #[serde(default, skip_serializing_if = "crate::engagement::MemberStatus::is_active")]
    pub(crate) status: crate::engagement::MemberStatus,
    /// Days the member chose for promotions: (promotion, local date).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) chosen: Vec<(crate::Id, NaiveDate)>,
    /// Members this one referred and was rewarded for: (referee, when).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) referrals: Vec<(crate::Id, DateTime<Utc>)>,
}

/// The member's fields as serde decodes them, before [`Member`]'s own
/// `Deserialize` checks them (`crate::member_check`). Serde's `remote`
/// builds a `Member` from these: a field missing here fails to compile.
#[derive(Deserialize)]
#[serde(remote = "Member", deny_unknown_fields)]
struct Unchecked {
    format: u32,
    id: crate::Id,
    program: String,
    #[serde(with = "crate::time::instant")]
    enrolled_at: DateTime<Utc>,
    profile: Profile,
    #[serde(with = "crate::time::instant")]
    clock: DateTime<Utc>,
    next_lot: u64,
    next_entry: u64,
    #[serde(default)]
    lots: Vec<Lot>,
    #[serde(default)]
    holds: Vec<HoldRecord>,
    #[serde(default)]
    debt: Points,
    totals: Totals,
    #[serde(default)]
    days: Vec<DayCount>,
    #[serde(default)]
    lifetime: BTreeMap<crate::Id, Points>,
    #[serde(default)]
    purchases: Vec<PurchaseRecord>,
    #[serde(default)]
    burns: Vec<BurnRecord>,
    #[serde(default)]
    recent: Vec<Processed>,
    #[serde(default, with = "crate::time::instant::option")]
    forgotten: Option<DateTime<Utc>>,
    #[serde(default)]
    tier: crate::tier::TierState,
    #[serde(default, with = "crate::time::instant::option")]
    last_purchase: Option<DateTime<Utc>>,
    #[serde(default)]
    rewards: Vec<crate::reward::IssuedReward>,
    #[serde(default)]
    referred_by: Option<crate::Id>,
    #[serde(default)]
    challenges: Vec<crate::engagement::ChallengeProgress>,
    #[serde(default)]
    badges: Vec<crate::engagement::Badge>,
    #[serde(default)]
    transfers_in: Vec<(crate::Id, String, DateTime<Utc>)>,
    #[serde(default)]
    status: crate::engagement::MemberStatus,
    #[serde(default)]
    chosen: Vec<(crate::Id, NaiveDate)>,
    #[serde(default)]
    referrals: Vec<(crate::Id, DateTime<Utc>)>,
}

/// Decoding checks the state (see [`Member::from_json_str`]).
impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Member, D::Error> {
        let m = Unchecked::deserialize(d)?;
        crate::member_check::check(&m).map_err(serde::de::Error::custom)?;
        Ok(m)
    }
}

/// A list cloned with room for `room` more elements: the next event then
/// appends without reallocating (and copying) the list.
fn roomy<T: Clone>(list: &[T], room: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(list.len() + room);
    out.extend_from_slice(list);
    out
}

/// A copy of the state. The lists a purchase appends to (lots, daily
/// counters, purchase records, remembered events) get room for one event's
/// additions: a derived clone holds them at exactly their length, so the
/// next `apply` on the copy would reallocate each of them to add one element.
impl Clone for Member {
    fn clone(&self) -> Member {
        // Every field by name: a field added to `Member` fails to compile here.
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
        } = self;
        Member {
            format: *format,
            id: id.clone(),
            program: program.clone(),
            enrolled_at: *enrolled_at,
            profile: profile.clone(),
            clock: *clock,
            next_lot: *next_lot,
            next_entry: *next_entry,
            // A purchase adds a lot (and a bonus may add another).
            lots: roomy(lots, 2),
            holds: holds.clone(),
            debt: *debt,
            totals: *totals,
            // A purchase counts each rule that gave points, and the day.
            days: roomy(days, 8),
            lifetime: lifetime.clone(),
            purchases: roomy(purchases, 1),
            burns: burns.clone(),
            recent: roomy(recent, 1),
            forgotten: *forgotten,
            tier: tier.clone(),
            last_purchase: *last_purchase,
            rewards: rewards.clone(),
            referred_by: referred_by.clone(),
            challenges: challenges.clone(),
            badges: badges.clone(),
            transfers_in: transfers_in.clone(),
            status: *status,
            chosen: chosen.clone(),
            referrals: referrals.clone(),
        }
    }
}

impl Member {
    pub(crate) fn new(id: &str, program: &str, at: DateTime<Utc>, profile: Profile) -> Member {
        Member {
            format: MEMBER_FORMAT,
            id: id.into(),
            program: program.to_owned(),
            enrolled_at: at,
            profile,
            clock: at,
            next_lot: 1,
            next_entry: 1,
            lots: Vec::new(),
            holds: Vec::new(),
            debt: 0,
            totals: Totals::default(),
            days: Vec::new(),
            lifetime: BTreeMap::new(),
            purchases: Vec::new(),
            burns: Vec::new(),
            recent: Vec::new(),
            forgotten: None,
            tier: crate::tier::TierState::default(),
            last_purchase: None,
            rewards: Vec::new(),
            referred_by: None,
            referrals: Vec::new(),
            challenges: Vec::new(),
            badges: Vec::new(),
            chosen: Vec::new(),
            status: crate::engagement::MemberStatus::Active,
            transfers_in: Vec::new(),
        }
    }

    /// The member's tier records, kept levels and history of level changes
    /// (empty for programs without tiers). [`Program::tier`](crate::Program::tier)
    /// answers what the level is.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.tier_state().history.is_empty());
    /// ```
    pub fn tier_state(&self) -> &crate::tier::TierState {
        &self.tier
    }

    /// Rewards the member took: issued, used, expired or cancelled (closed
    /// ones are kept for about a year).
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.rewards().is_empty());
    /// ```
    pub fn rewards(&self) -> &[crate::reward::IssuedReward] {
        &self.rewards
    }

    /// The member's standing: active, suspended or closed.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.status(), loyalty::MemberStatus::Active);
    /// ```
    pub fn status(&self) -> crate::engagement::MemberStatus {
        self.status
    }

    /// The member's progress in the program's challenges.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.challenges().is_empty() && m.badges().is_empty());
    /// ```
    pub fn challenges(&self) -> &[crate::engagement::ChallengeProgress] {
        &self.challenges
    }

    /// Badges the member earned.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.badges().is_empty());
    /// ```
    pub fn badges(&self) -> &[crate::engagement::Badge] {
        &self.badges
    }

    /// Decodes a member state, refusing formats this release cannot read
    /// and states the engine could not apply events to safely, with the
    /// field at fault: an event's instant (the clock, a remembered event)
    /// outside [`EARLIEST`](crate::EARLIEST) to [`LATEST`](crate::LATEST)
    /// or after the clock, any other instant outside the years 1000 to
    /// 99 999, records that contradict the ledger (a lot holding other than
    /// what the open holds reserve from it, two lots with one number, a
    /// reward whose takes are not its cost, a negative counter), tier
    /// records out of date order or after the clock. Serde's `Deserialize`
    /// and [`Member::from_bytes`] check the same.
    ///
    /// ```
    /// let err = loyalty::Member::from_json_str(r#"{"format": 99}"#).unwrap_err();
    /// assert!(err.to_string().contains("format 99"));
    ///
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let edited = m.to_json().replace(r#""clock":"2026-01-01T00:00:00Z""#, r#""clock":"+262142-01-01T00:00:00Z""#);
    /// let err = loyalty::Member::from_json_str(&edited).unwrap_err();
    /// assert!(err.to_string().contains("clock: +262142-01-01T00:00:00+00:00 is outside 1900"), "{err}");
    /// ```
    pub fn from_json_str(text: &str) -> Result<Member> {
        let m = Member::from_json_unchecked(text)?;
        // Checked apart from decoding: a check's error names its field, not
        // the place in the text where the member ends.
        crate::member_check::check(&m).map_err(|reason| Error::MemberState { reason })?;
        Ok(m)
    }

    /// [`Member::from_json_str`] without the checks of the state itself.
    pub(crate) fn from_json_unchecked(text: &str) -> Result<Member> {
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        // A state this release wrote starts with its format: read there, it
        // spares a first pass over the whole text. Any other text (the
        // fields in another order, spaces) is read for `format` first.
        let written = text.strip_prefix("{\"format\":").and_then(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let after = rest.as_bytes().get(digits).copied();
            if digits == 0 || digits > 9 || !matches!(after, Some(b',' | b'}')) {
                return None;
            }
            rest[..digits].parse::<u32>().ok()
        });
        let format = match written {
            Some(format) => format,
            None => serde_json::from_str::<Head>(text).map_err(|e| state_error(text, &e))?.format,
        };
        if format != MEMBER_FORMAT {
            return Err(Error::MemberState {
                reason: format!("format {} is not readable by this release (it reads format {MEMBER_FORMAT})", format),
            });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        Unchecked::deserialize(&mut de).and_then(|m| de.end().map(|()| m)).map_err(|e| state_error(text, &e))
    }

    /// Encodes the state in the packed form: a compact binary encoding of
    /// everything [`Member::to_json`] carries, for a host that keeps many
    /// members in memory or in a key-value store. A member with ten open
    /// lots and its history takes about a seventh of its JSON. The same
    /// state always gives the same bytes (amounts to their written scale).
    ///
    /// The bytes start with `LM` and the form's version; the design notes
    /// (`docs/design.md`, "A packed form of the member") describe the rest.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m-42", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let bytes = m.to_bytes();
    /// assert!(bytes.starts_with(b"LM") && bytes.len() < m.to_json().len() / 3);
    /// assert_eq!(loyalty::Member::from_bytes(&bytes).unwrap(), m);
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        // Every type of a member is one the packed form writes (a test packs
        // a member with every record), so this cannot fail.
        let bytes = crate::pack::member_to_bytes(self);
        debug_assert!(bytes.is_ok(), "{bytes:?}");
        bytes.unwrap_or_default()
    }

    /// Decodes a state written by [`Member::to_bytes`], refusing bytes this
    /// release cannot read with the offset of the first bad byte.
    ///
    /// ```
    /// let err = loyalty::Member::from_bytes(b"LM\x07").unwrap_err();
    /// assert!(err.to_string().contains("version 7"));
    /// let err = loyalty::Member::from_bytes(b"{}").unwrap_err();
    /// assert!(err.to_string().contains("not a packed member"));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Member> {
        let m = crate::pack::member_from_bytes(bytes)
            .map_err(|e| Error::MemberState { reason: format!("packed member, {e}") })?;
        crate::member_check::check(&m)
            .map_err(|reason| Error::MemberState { reason: format!("packed member, {reason}") })?;
        Ok(m)
    }

    /// Gives back the room the member's lists keep to grow: each list (and
    /// the receipt kept for a retry, when nothing else shares it) is cut to
    /// its length. A host that keeps many members in memory, or a replay
    /// done with a member, calls it; the next event that adds to a list
    /// grows it again. The state is unchanged.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let mut m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// let before = m.clone();
    /// m.shrink_to_fit();
    /// assert_eq!(m, before);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.lots.shrink_to_fit();
        self.holds.shrink_to_fit();
        for h in &mut self.holds {
            h.takes.shrink_to_fit();
        }
        self.days.shrink_to_fit();
        self.purchases.shrink_to_fit();
        self.burns.shrink_to_fit();
        for b in &mut self.burns {
            b.takes.shrink_to_fit();
        }
        self.recent.shrink_to_fit();
        for p in &mut self.recent {
            if let Some(receipt) = p.receipt.as_mut().and_then(std::sync::Arc::get_mut) {
                receipt.shrink_to_fit();
            }
        }
        let tier = &mut self.tier;
        tier.days.shrink_to_fit();
        tier.holds.shrink_to_fit();
        tier.history.shrink_to_fit();
        self.rewards.shrink_to_fit();
        self.challenges.shrink_to_fit();
        self.badges.shrink_to_fit();
        self.transfers_in.shrink_to_fit();
        self.chosen.shrink_to_fit();
        self.referrals.shrink_to_fit();
    }

    /// Encodes the state as one line of JSON; the same state always gives the same bytes.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.to_json().starts_with(r#"{"format":1,"id":"m""#));
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The member id.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m-1", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.id(), "m-1");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the program the member belongs to.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m-1", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.program_id(), "p");
    /// ```
    pub fn program_id(&self) -> &str {
        &self.program
    }

    /// The member's profile.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m-1", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.profile().birth_date.is_none());
    /// ```
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The latest event instant applied: the member's clock.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// let m = program.enroll("m-1", at, Default::default()).unwrap();
    /// assert_eq!(m.clock(), at);
    /// ```
    pub fn clock(&self) -> DateTime<Utc> {
        self.clock
    }

    /// When the member enrolled.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// assert_eq!(program.enroll("m", at, Default::default()).unwrap().enrolled_at(), at);
    /// ```
    pub fn enrolled_at(&self) -> DateTime<Utc> {
        self.enrolled_at
    }

    /// Open lots (pending or available, not yet spent or expired), in creation order.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.lots().is_empty());
    /// ```
    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }

    /// Holds, open and recently closed.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.holds().is_empty());
    /// ```
    pub fn holds(&self) -> &[HoldRecord] {
        &self.holds
    }

    /// Lifetime totals.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.totals().issued(), 0);
    /// ```
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Points owed after returns took back points already spent (0 or more).
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.debt(), 0);
    /// ```
    pub fn debt(&self) -> Points {
        self.debt
    }

    /// Purchases still inside their return window.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.purchases().is_empty());
    /// ```
    pub fn purchases(&self) -> &[PurchaseRecord] {
        &self.purchases
    }

    /// Burns still inside the return window.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert!(m.burns().is_empty());
    /// ```
    pub fn burns(&self) -> &[BurnRecord] {
        &self.burns
    }

    /// Event ids remembered for idempotency, oldest first.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.recent_events().len(), 1); // the enroll event
    /// ```
    pub fn recent_events(&self) -> &[Processed] {
        &self.recent
    }

    /// Posted, pending, held and available points, as of the member's clock.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.balances().available, 0);
    /// ```
    pub fn balances(&self) -> crate::Balances {
        // The engine refuses any event after which a balance would not fit
        // an i64, so saturation never shows for states it produced.
        let [posted, pending, held, available] =
            self.wide_balances().map(|v| v.clamp(i64::MIN.into(), i64::MAX.into()) as i64);
        crate::Balances { posted, pending, held, available }
    }

    /// The balances, or `None` when one does not fit an i64.
    pub(crate) fn checked_balances(&self) -> Option<crate::Balances> {
        let [posted, pending, held, available] = self.wide_balances();
        Some(crate::Balances {
            posted: posted.try_into().ok()?,
            pending: pending.try_into().ok()?,
            held: held.try_into().ok()?,
            available: available.try_into().ok()?,
        })
    }

    /// Posted, pending, held and available, summed without overflow.
    fn wide_balances(&self) -> [i128; 4] {
        let (mut pending, mut held, mut available) = (0_i128, 0_i128, 0_i128);
        for lot in &self.lots {
            if lot.pending {
                pending += i128::from(lot.remaining);
            } else {
                held += i128::from(lot.held);
                available += i128::from(lot.remaining) - i128::from(lot.held);
            }
        }
        available -= i128::from(self.debt);
        [pending + held + available, pending, held, available]
    }

    /// Checks the ledger invariants of the crate docs; returns the first one
    /// broken. The engine asserts them after every event in debug builds; the
    /// property tests call this.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// let m = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap();
    /// assert_eq!(m.check_invariants(), Ok(()));
    /// ```
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        for lot in &self.lots {
            if !(0 <= lot.held && lot.held <= lot.remaining && lot.remaining <= lot.amount) {
                return Err(format!(
                    "lot {}: need 0 ≤ held ≤ remaining ≤ amount, have {} {} {}",
                    lot.seq, lot.held, lot.remaining, lot.amount
                ));
            }
            if lot.pending && lot.held != 0 {
                return Err(format!("lot {}: pending points are held", lot.seq));
            }
        }
        let b = self.balances();
        let t = &self.totals;
        let [posted, ..] = self.wide_balances();
        let wide = |v: Points| i128::from(v);
        let issued = wide(t.earned) + wide(t.credited) + wide(t.refunded);
        let out = posted + wide(t.burned) + wide(t.debited) + wide(t.expired) + wide(t.reversed);
        if issued != out {
            return Err(format!(
                "conservation: issued {} ≠ posted {} + burned {} + debited {} + expired {} + reversed {}",
                t.issued(),
                b.posted,
                t.burned,
                t.debited,
                t.expired,
                t.reversed
            ));
        }
        let open_held: i128 =
            self.holds.iter().filter(|h| h.status == HoldStatus::Open).map(|h| i128::from(h.points)).sum();
        if open_held != i128::from(b.held) {
            return Err(format!("holds: open holds reserve {open_held}, lots hold {}", b.held));
        }
        if self.debt < 0 {
            return Err("debt is negative".into());
        }
        if self.debt > 0 && self.lots.iter().any(|l| l.free() > 0) {
            return Err("debt is owed while free points exist".into());
        }
        for p in &self.purchases {
            for (i, l) in p.lines.iter().enumerate() {
                if l.reversed > l.points || l.reversed < 0 {
                    return Err(format!("purchase {} line {i}: reversed {} of {}", p.event, l.reversed, l.points));
                }
            }
        }
        for burn in &self.burns {
            if burn.refunded > burn.points || burn.refunded < 0 {
                return Err(format!("burn {}: refunded {} of {}", burn.event, burn.refunded, burn.points));
            }
        }
        Ok(())
    }
}

/// A decoding error of a member state, with its line and column.
/// The error of a member state that did not decode: where (line, column)
/// and, for a value of the wrong kind, which field (`lots[2].expires_at`),
/// found by decoding the text again with the path tracked (on failure only:
/// decoding without it is faster).
#[cold]
#[inline(never)]
fn state_error(text: &str, e: &serde_json::Error) -> Error {
    let (line, column, message) = json_error(text, e);
    // The path only of the same error (the first pass, reading `format`
    // alone, may have failed where a whole member fails elsewhere first).
    let same =
        |t: &serde_json::Error| t.line() == e.line() && t.column() == e.column() && t.to_string() == e.to_string();
    let path = e
        .is_data()
        .then(|| serde_path_to_error::deserialize::<_, Member>(&mut serde_json::Deserializer::from_str(text)).err())
        .flatten()
        .filter(|tracked| same(tracked.inner()))
        .map(|tracked| tracked.path().to_string())
        .filter(|path| path != ".");
    let reason = match path {
        Some(path) => format!("line {line}, column {column}: {path}: {message}"),
        None => format!("line {line}, column {column}: {message}"),
    };
    Error::MemberState { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> Member {
        let program = crate::Program::from_json_str(
            r#"{"id":"p","currency":"EUR","time_zone":"Europe/Paris","categories":["x"],
                "earn":[{"id":"base","kind":"per_amount","points":1,"per":"1"}]}"#,
        )
        .unwrap();
        let mut m = program.enroll("m-1", "2026-03-01T10:00:00Z".parse().unwrap(), Default::default()).unwrap();
        let sale = crate::Event::from_json_str(
            r#"{"id":"s1","at":"2026-03-02T10:00:00.250Z","type":"purchase",
                "lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"12"}]}"#,
        )
        .unwrap();
        program.apply(&mut m, &sale).unwrap();
        m
    }

    /// Shrinking a member changes no field and no byte of its JSON.
    #[test]
    fn shrinking_changes_nothing_but_room() {
        let mut m = member();
        // A member decoded from JSON has room to grow in its lists, and its
        // kept receipt is its own.
        m = Member::from_json_str(&m.to_json()).unwrap();
        m.lots.reserve(8);
        m.recent.reserve(8);
        let (before, json) = (m.clone(), m.to_json());
        m.shrink_to_fit();
        assert_eq!(m, before);
        assert_eq!(m.to_json(), json);
        assert_eq!((m.lots.capacity(), m.recent.capacity()), (m.lots.len(), m.recent.len()));
    }

    /// Instants written by hand in other RFC 3339 forms read as the same
    /// instants, and are written back in the engine's form.
    #[test]
    fn other_instant_forms_decode_to_the_same_member() {
        let m = member();
        let json = m.to_json();
        assert!(json.contains(r#""2026-03-02T10:00:00.250Z""#), "{json}");
        let offsets = json.replace(r#"Z""#, r#"+00:00""#).replace("T10:", " 11:").replace("+00:00", "+01:00");
        assert_ne!(offsets, json);
        let again = Member::from_json_str(&offsets).unwrap();
        assert_eq!(again, m);
        assert_eq!(again.to_json(), json);
    }

    /// The format is checked wherever it is: first as written, later in a
    /// state whose fields were reordered, with spaces.
    #[test]
    fn the_format_is_checked_wherever_it_is() {
        let json = member().to_json();
        let rest = json.strip_prefix(r#"{"format":1,"#).unwrap();
        let moved = format!("{{{}, \"format\": 1}}", &rest[..rest.len() - 1]);
        assert_eq!(Member::from_json_str(&moved).unwrap(), member());
        for text in
            [json.replacen(r#"{"format":1,"#, r#"{"format":2,"#, 1), moved.replace(r#""format": 1"#, r#""format": 2"#)]
        {
            let err = Member::from_json_str(&text).unwrap_err().to_string();
            assert!(err.contains("format 2 is not readable by this release"), "{err}");
        }
        // A state without its format and with a bad instant: the error is the
        // format's, with no field path borrowed from the other one.
        let both = json.replacen(r#"{"format":1,"#, "{", 1).replacen(r#""clock":""#, r#""clock":"x"#, 1);
        let err = Member::from_json_str(&both).unwrap_err().to_string();
        assert!(err.ends_with(": missing field `format`") && !err.contains("clock:"), "{err}");
        // Not a number where the format goes: the whole text is read, and the error points at it.
        let err = Member::from_json_str(&json.replacen(r#"{"format":1,"#, r#"{"format":"1","#, 1)).unwrap_err();
        assert!(
            err.to_string().contains("line 1, column 13: format: invalid type: string \"1\", expected u32"),
            "{err}"
        );
    }
}
