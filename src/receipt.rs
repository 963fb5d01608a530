//! Receipts: what one event did, line by line, and why.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::number::{Amount, Points};

/// What kind of movement an [`Entry`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Points earned by a purchase (pending or available at once).
    Earn,
    /// Pending points became available.
    Activate,
    /// Points spent (redeem or capture).
    Burn,
    /// Points reserved by a hold (moved from available to held).
    Hold,
    /// Held points released (void, partial capture, or timeout).
    Release,
    /// Points expired.
    Expire,
    /// Earned points taken back by a return (from pending, available, or into debt).
    Reverse,
    /// Spent points given back because what they paid for was returned.
    Refund,
    /// Points credited or debited by hand.
    Adjust,
    /// Points that paid off a negative balance.
    Settle,
}

/// One immutable ledger line. Points are signed, in point units: positive
/// adds to the member's balance (or moves into `available`), negative takes
/// from it. Corrections are new entries, never edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Member-wide sequence number, from 1.
    pub seq: u64,
    /// The movement.
    pub kind: EntryKind,
    /// Signed points.
    pub points: Points,
    /// When it took effect (an expiry happens at the lot's expiry instant,
    /// not at the event that noticed it).
    pub at: DateTime<Utc>,
    /// The lot moved, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<u64>,
    /// The rule that moved the points, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A short reason for people.
    pub reason: String,
}

/// Why points moved: one line per rule that moved points, or that was
/// considered and gave nothing for a reason worth telling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// The rule id.
    pub rule: String,
    /// Points the rule moved (0 when it was capped away or lost to an exclusive rule).
    pub points: Points,
    /// For people: `"Double points Tuesday: +40"`.
    pub text: String,
}

/// One rule's part in a [`Quote`](crate::Quote), built without formatting
/// any text; `to_string()` gives the line a receipt's [`Explanation`] would
/// carry, and the JSON form carries it as `text`.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC",
/// #   "categories":["x"],"earn":[{"id":"base","name":"1 point per euro","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
/// # let at = "2026-01-01T00:00:00Z".parse().unwrap();
/// # let m = program.enroll("m", at, Default::default()).unwrap();
/// let basket: loyalty::Basket = serde_json::from_str(
///     r#"{"lines":[{"sku":"a","category":"x","quantity":"2","unit_price":"7"}]}"#).unwrap();
/// let quote = program.quote(&m, &basket, at).unwrap();
/// let rule = &quote.explanations[0];
/// assert_eq!((rule.rule, rule.points), ("base", 14));
/// assert_eq!(rule.to_string(), "1 point per euro: +14");
/// assert!(serde_json::to_string(rule).unwrap().contains(r#""text":"1 point per euro: +14""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedRule<'p> {
    /// The rule id.
    pub rule: &'p str,
    /// The rule's name for people.
    pub name: &'p str,
    /// Points the rule gives (0 when capped away or beaten by an exclusive rule).
    pub points: Points,
    /// The cap that cut the points (`"per day"`, …), if one did.
    pub capped: Option<&'static str>,
    /// The name of the exclusive rule that gives more, when this one lost to it.
    pub beaten_by: Option<&'p str>,
    /// The text a script rule returned with its result, if any.
    pub note: Option<String>,
    /// Why a script rule marked `skip_on_error` was skipped, if it was.
    pub skipped: Option<String>,
    /// The program's point scale, for formatting.
    pub(crate) scale: u32,
}

impl fmt::Display for QuotedRule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.skipped {
            return write!(f, "{}: skipped, the script failed: {why}", self.name);
        }
        if let Some(winner) = &self.beaten_by {
            return write!(f, "{}: not applied, '{winner}' gives more", self.name);
        }
        write!(f, "{}: +{}", self.name, crate::number::PointsText(self.points, self.scale))?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        if let Some(cap) = self.capped {
            write!(f, " (capped {cap})")?;
        }
        Ok(())
    }
}

impl Serialize for QuotedRule<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("QuotedRule", 3)?;
        st.serialize_field("rule", self.rule)?;
        st.serialize_field("points", &self.points)?;
        st.serialize_field("text", &self.to_string())?;
        st.end()
    }
}

impl QuotedRule<'_> {
    /// The receipt line for this rule.
    pub(crate) fn explanation(&self) -> Explanation {
        Explanation { rule: self.rule.to_string(), points: self.points, text: self.to_string() }
    }
}

/// Balances after an event, in point units.
///
/// `posted = pending + held + available`; `available` is negative only when
/// the program allows a negative balance and a return took back points that
/// were already spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Balances {
    /// Σ lot.remaining − debt.
    pub posted: Points,
    /// Points earned but not yet spendable.
    pub pending: Points,
    /// Points reserved by open holds.
    pub held: Points,
    /// Points that can be spent now.
    pub available: Points,
}

/// Points that expire together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiring {
    /// The expiry instant: points are usable strictly before it.
    pub at: DateTime<Utc>,
    /// The local date of that instant in the program's zone
    /// ("120 points expire on 2027-07-01").
    pub date: NaiveDate,
    /// How many points.
    pub points: Points,
}

/// The result of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The event id.
    pub event: String,
    /// The event type (`"purchase"`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The member id.
    pub member: String,
    /// The event instant.
    pub at: DateTime<Utc>,
    /// The ledger entries posted, in order.
    pub entries: Vec<Entry>,
    /// Why: one line per rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanations: Vec<Explanation>,
    /// Balances after the event.
    pub balances: Balances,
    /// The next expiries (up to three dates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_expiries: Vec<Expiring>,
    /// Points a return should have taken back but could not (the balance may
    /// not go negative): the host settles them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shortfall: Points,
    /// Money value of the points burned by a redeem or capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid: Option<Amount>,
    /// Other facts for people (a daily limit reached, a debt paid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn is_zero(p: &Points) -> bool {
    *p == 0
}

impl Receipt {
    /// The sum of the points of the entries of one kind.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC",
    /// #   "categories":["x"],"earn":[{"id":"base","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
    /// # let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// # let mut m = program.enroll("m", at, Default::default()).unwrap();
    /// let e = loyalty::Event::from_json_str(r#"{"id":"s","at":"2026-01-01T10:00:00Z","type":"purchase",
    ///   "lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"7"}]}"#).unwrap();
    /// let receipt = program.apply(&mut m, &e).unwrap().receipt;
    /// assert_eq!(receipt.total(loyalty::EntryKind::Earn), 7);
    /// ```
    pub fn total(&self, kind: EntryKind) -> Points {
        self.entries.iter().filter(|e| e.kind == kind).fold(0, |sum: Points, e| sum.saturating_add(e.points))
    }

    /// The receipt as one line of JSON.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#).unwrap();
    /// # let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// # let mut m = program.enroll("m", at, Default::default()).unwrap();
    /// let e = loyalty::Event::from_json_str(r#"{"id":"a","at":"2026-01-02T00:00:00Z","type":"advance"}"#).unwrap();
    /// let json = program.apply(&mut m, &e).unwrap().receipt.to_json();
    /// assert!(json.starts_with(r#"{"event":"a","type":"advance""#));
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
