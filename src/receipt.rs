//! Receipts: what one event did, line by line, and why.

use std::fmt;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::number::{Amount, Points, PointsText};

/// An id or key shared without copying: an event, member, order or rule id,
/// a daily counter's key. Copies share one buffer (`Arc<str>`), so an
/// event's id is allocated once and shared by its receipt, the lot and
/// purchase record it makes and the member's memory of it.
///
/// It reads like a `str` (deref, `Borrow<str>`, comparisons with `&str` and
/// `String`, `{}`) and serializes as a JSON string.
///
/// ```
/// let id = loyalty::Id::from("sale-1");
/// let copy = id.clone(); // no copy of the text
/// assert_eq!(copy, "sale-1");
/// assert!(id.starts_with("sale"));
/// assert_eq!(serde_json::to_string(&id).unwrap(), r#""sale-1""#);
/// let mut seen = std::collections::BTreeSet::new();
/// seen.insert(id);
/// assert!(seen.contains("sale-1"));
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(Arc<str>);

impl Id {
    /// A copy of `text` that shares its buffer.
    pub(crate) fn shared(text: &Arc<str>) -> Id {
        Id(Arc::clone(text))
    }

    /// Equal ids, told first by sharing a buffer (no byte comparison).
    #[inline]
    pub(crate) fn same(&self, other: &Id) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }

    /// The id as a `str`.
    ///
    /// ```
    /// assert_eq!(loyalty::Id::from("m-1").as_str(), "m-1");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::ops::Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Id {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Id {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<Id> for str {
    fn eq(&self, other: &Id) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Id> for &str {
    fn eq(&self, other: &Id) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Id> for String {
    fn eq(&self, other: &Id) -> bool {
        self == &*other.0
    }
}

impl From<&str> for Id {
    fn from(text: &str) -> Id {
        Id(text.into())
    }
}

impl From<String> for Id {
    fn from(text: String) -> Id {
        Id(text.into())
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0.to_string()
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::from(v))
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// A text of a receipt: an entry's reason, an explanation line, the event
/// type.
///
/// It reads like a `str`: it derefs to one, compares with `&str` and
/// `String`, shows with `{}` and serializes as a JSON string. The engine
/// builds it without copying or formatting anything: fixed reasons are
/// static, rule names are shared with the program, and lines made of
/// numbers are formatted the first time they are read (then kept) or
/// written out (straight into the output).
///
/// ```
/// let t = loyalty::Text::from("points expired");
/// assert_eq!(t, "points expired");
/// assert!(t.starts_with("points"));
/// assert_eq!(t.to_string(), "points expired");
/// assert_eq!(serde_json::to_string(&t).unwrap(), r#""points expired""#);
/// ```
#[derive(Clone)]
pub struct Text {
    repr: Repr,
    /// The formatted text of a `Repr` built from numbers, once read as a `str`.
    shown: OnceLock<Box<str>>,
}

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    /// An explanation line: `"<name>: +<points>"` and the rest (see [`rule_line`]).
    Rule {
        name: Arc<str>,
        points: Points,
        scale: u32,
        capped: Option<&'static str>,
        beaten_by: Option<Arc<str>>,
    },
    /// An earn entry's reason: `"earned <points> points[, pending until <local minute>]"`,
    /// the instant shown in the zone (converted only when shown).
    Earned {
        points: Points,
        scale: u32,
        pending_until: Option<(DateTime<Utc>, chrono_tz::Tz)>,
    },
    /// A burn entry's reason: `"paid <amount> <currency> with points"`.
    Paid {
        amount: crate::Amount,
        currency: Arc<str>,
    },
}

impl Text {
    /// A text that is a fixed string: no copy.
    ///
    /// ```
    /// assert_eq!(loyalty::Text::from_static("points expired"), "points expired");
    /// ```
    pub const fn from_static(text: &'static str) -> Text {
        Text { repr: Repr::Static(text), shown: OnceLock::new() }
    }

    /// An explanation line for a rule, formatted when read.
    pub(crate) fn rule_line(
        name: &Arc<str>,
        points: Points,
        scale: u32,
        capped: Option<&'static str>,
        beaten_by: Option<&Arc<str>>,
    ) -> Text {
        Text::of(Repr::Rule { name: Arc::clone(name), points, scale, capped, beaten_by: beaten_by.cloned() })
    }

    /// The reason of an earn entry, formatted when read.
    pub(crate) fn earned(points: Points, scale: u32, pending_until: Option<(DateTime<Utc>, chrono_tz::Tz)>) -> Text {
        Text::of(Repr::Earned { points, scale, pending_until })
    }

    /// The reason of a burn entry, formatted when read.
    pub(crate) fn paid(amount: crate::Amount, currency: &Arc<str>) -> Text {
        Text::of(Repr::Paid { amount, currency: Arc::clone(currency) })
    }

    fn of(repr: Repr) -> Text {
        Text { repr, shown: OnceLock::new() }
    }

    /// The text as a `str`.
    ///
    /// ```
    /// let t = loyalty::Text::from(String::from("goodwill"));
    /// assert_eq!(t.as_str(), "goodwill");
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.repr {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
            Repr::Rule { .. } | Repr::Earned { .. } | Repr::Paid { .. } => {
                self.shown.get_or_init(|| self.to_string().into_boxed_str())
            }
        }
    }
}

/// `"<name>: +<points>"`, `" (capped <cap>)"` after it when a cap cut the
/// points, or `"<name>: not applied, '<winner>' gives more"`.
pub(crate) fn rule_line(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    points: Points,
    scale: u32,
    capped: Option<&str>,
    beaten_by: Option<&str>,
) -> fmt::Result {
    if let Some(winner) = beaten_by {
        return write!(f, "{name}: not applied, '{winner}' gives more");
    }
    write!(f, "{name}: +{}", PointsText(points, scale))?;
    if let Some(cap) = capped {
        write!(f, " (capped {cap})")?;
    }
    Ok(())
}

/// A local date and time to the minute, `2026-12-16 12:30`.
pub(crate) struct LocalMinute(pub(crate) NaiveDateTime);

impl fmt::Display for LocalMinute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let (year, month, day, hour, minute) = (t.year(), t.month(), t.day(), t.hour(), t.minute());
        if !(0..=9999).contains(&year) {
            return write!(f, "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}");
        }
        // Digits by hand: `{:02}` goes through the formatter's padding, several times slower.
        let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        let y = year as u32;
        let (y1, y2, m, d, h, mi) = (two(y / 100), two(y % 100), two(month), two(day), two(hour), two(minute));
        let bytes =
            [y1[0], y1[1], y2[0], y2[1], b'-', m[0], m[1], b'-', d[0], d[1], b' ', h[0], h[1], b':', mi[0], mi[1]];
        // Only ASCII digits and separators went in.
        f.write_str(std::str::from_utf8(&bytes).unwrap_or_default())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(shown) = self.shown.get() {
            return f.write_str(shown);
        }
        match &self.repr {
            Repr::Static(s) => f.write_str(s),
            Repr::Shared(s) => f.write_str(s),
            Repr::Rule { name, points, scale, capped, beaten_by } => {
                rule_line(f, name, *points, *scale, *capped, beaten_by.as_deref())
            }
            Repr::Earned { points, scale, pending_until } => {
                write!(f, "earned {} points", PointsText(*points, *scale))?;
                match pending_until {
                    Some((t, zone)) => {
                        write!(f, ", pending until {}", LocalMinute(t.with_timezone(zone).naive_local()))
                    }
                    None => Ok(()),
                }
            }
            Repr::Paid { amount, currency } => write!(f, "paid {amount} {currency} with points"),
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text::of(Repr::Shared(text.into()))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text::of(Repr::Shared(text.into()))
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        text.as_str().to_owned()
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.repr {
            Repr::Static(t) => s.serialize_str(t),
            Repr::Shared(t) => s.serialize_str(t),
            // Written straight into the output, without building a string.
            Repr::Rule { .. } | Repr::Earned { .. } | Repr::Paid { .. } => match self.shown.get() {
                Some(t) => s.serialize_str(t),
                None => s.collect_str(self),
            },
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::from(v))
            }
        }
        d.deserialize_str(Visitor)
    }
}

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
    /// Points forfeited when the member was closed.
    Forfeit,
    /// Points sent to another member.
    TransferOut,
    /// Points received from another member.
    TransferIn,
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
    #[serde(with = "crate::time::instant")]
    pub at: DateTime<Utc>,
    /// The lot moved, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<u64>,
    /// The rule that moved the points, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A short reason for people.
    pub reason: Text,
}

/// Why points moved: one line per rule that moved points, or that was
/// considered and gave nothing for a reason worth telling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// The rule id.
    pub rule: Id,
    /// Points the rule moved (0 when it was capped away or lost to an exclusive rule).
    pub points: Points,
    /// For people: `"Double points Tuesday: +40"`.
    pub text: Text,
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
    /// Script rules only: the text the script returned, or why it was skipped.
    pub(crate) script: Option<Box<ScriptLine>>,
    /// The program's point scale, for formatting.
    pub(crate) scale: u32,
}

impl fmt::Display for QuotedRule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = self.skipped() {
            return write!(f, "{}: skipped, the script failed: {why}", self.name);
        }
        match self.note() {
            // A script's text goes between the points and the cap.
            Some(note) if self.beaten_by.is_none() => {
                rule_line(f, self.name, self.points, self.scale, None, None)?;
                write!(f, " ({note})")?;
                match self.capped {
                    Some(cap) => write!(f, " (capped {cap})"),
                    None => Ok(()),
                }
            }
            _ => rule_line(f, self.name, self.points, self.scale, self.capped, self.beaten_by),
        }
    }
}

/// What a script rule adds to its receipt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScriptLine {
    pub(crate) note: Option<String>,
    pub(crate) skipped: Option<String>,
}

impl QuotedRule<'_> {
    /// The text a script rule returned with its result, if any (shown in
    /// parentheses after the points).
    ///
    /// ```
    /// # let program = loyalty::Program::from_toml_str(r#"
    /// # id = "p"
    /// # currency = "EUR"
    /// # time_zone = "UTC"
    /// # categories = ["x"]
    /// # [[earn]]
    /// # id = "s"
    /// # name = "Variety"
    /// # kind = "script"
    /// # script.gives = "points"
    /// # script.each = "basket"
    /// # script.source = '#{ points: 5, text: "two categories" }'
    /// # "#).unwrap();
    /// # let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// # let m = program.enroll("m", at, Default::default()).unwrap();
    /// let basket: loyalty::Basket = serde_json::from_str(
    ///     r#"{"lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"7"}]}"#).unwrap();
    /// let quote = program.quote(&m, &basket, at).unwrap();
    /// assert_eq!(quote.explanations[0].note(), Some("two categories"));
    /// assert_eq!(quote.explanations[0].to_string(), "Variety: +5 (two categories)");
    /// ```
    pub fn note(&self) -> Option<&str> {
        self.script.as_ref().and_then(|s| s.note.as_deref())
    }

    /// Why a script rule marked `skip_on_error` gave nothing, if it failed.
    ///
    /// ```
    /// # let program = loyalty::Program::from_toml_str(r#"
    /// # id = "p"
    /// # currency = "EUR"
    /// # time_zone = "UTC"
    /// # categories = ["x"]
    /// # [[earn]]
    /// # id = "s"
    /// # name = "Fragile"
    /// # kind = "script"
    /// # script.gives = "points"
    /// # script.each = "basket"
    /// # script.skip_on_error = true
    /// # script.source = 'let z = 0; 1 / z'
    /// # "#).unwrap();
    /// # let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// # let m = program.enroll("m", at, Default::default()).unwrap();
    /// let basket: loyalty::Basket = serde_json::from_str(
    ///     r#"{"lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"7"}]}"#).unwrap();
    /// let quote = program.quote(&m, &basket, at).unwrap();
    /// assert!(quote.explanations[0].skipped().unwrap().contains("Division by zero"));
    /// assert_eq!(quote.points, 0);
    /// ```
    pub fn skipped(&self) -> Option<&str> {
        self.script.as_ref().and_then(|s| s.skipped.as_deref())
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
    #[serde(with = "crate::time::instant")]
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
    pub event: Id,
    /// The event type (`"purchase"`, …).
    #[serde(rename = "type")]
    pub kind: Text,
    /// The member id.
    pub member: Id,
    /// The event instant.
    #[serde(with = "crate::time::instant")]
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
    /// The member's tier level after the event (programs with tiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Id>,
    /// Moments a host may want to tell the member about.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "signals")]
    pub signals: Vec<Signal>,
    /// The member's variant of each of the program's campaigns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<crate::engagement::Assignment>,
}

/// Something a host may want to tell the member about, found while applying an event.
///
/// ```
/// let s = loyalty::Signal::TierUp { at: "2026-03-01T10:00:00Z".parse().unwrap(), from: "start".into(), to: "silver".into() };
/// assert_eq!(serde_json::to_string(&s).unwrap(),
///     r#"{"type":"tier_up","at":"2026-03-01T10:00:00Z","from":"start","to":"silver"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Signal {
    /// The member reached a higher tier level.
    TierUp {
        /// When.
        #[serde(with = "crate::time::instant")]
        at: DateTime<Utc>,
        /// The level before.
        from: Id,
        /// The level now.
        to: Id,
    },
    /// The member fell to a lower tier level.
    TierDown {
        /// When.
        #[serde(with = "crate::time::instant")]
        at: DateTime<Utc>,
        /// The level before.
        from: Id,
        /// The level now.
        to: Id,
    },
    /// The event brought the member's progress to within the program's
    /// `tiers.close_percent` of the next level.
    CloseToNextTier {
        /// The next level.
        tier: Id,
        /// How much more of the measure reaches it.
        needed: Amount,
    },
    /// Points came within the program's `signals.expiring_within` of their expiry.
    PointsExpiring {
        /// The points.
        points: Points,
        /// When they expire.
        #[serde(with = "crate::time::instant")]
        at: DateTime<Utc>,
    },
    /// The member has not bought for the program's `signals.at_risk_after`.
    AtRisk {
        /// The last purchase (or the enrolment).
        #[serde(with = "crate::time::instant")]
        since: DateTime<Utc>,
        /// When the member became at risk.
        #[serde(with = "crate::time::instant")]
        at: DateTime<Utc>,
    },
    /// The member's purchase qualified their referral: apply a
    /// `referral_reward` event to the referrer.
    ReferralQualified {
        /// The referrer.
        referrer: Id,
        /// This member.
        referee: Id,
    },
    /// The member completed a challenge.
    ChallengeCompleted {
        /// The challenge id.
        challenge: Id,
        /// The badge it gave, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        badge: Option<Id>,
    },
    /// Points left this member: apply a `transfer_in` event to the receiver.
    TransferSent {
        /// The receiver.
        to: Id,
        /// Points sent.
        points: Points,
        /// The earliest expiry of the points sent (pass it on in `transfer_in`).
        #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
        expires_at: Option<DateTime<Utc>>,
    },
    /// The member can now afford a reward they may take.
    RewardUnlocked {
        /// The reward id.
        reward: Id,
        /// Its cost.
        cost: Points,
    },
    /// The member has not bought for the program's `signals.lapsed_after`.
    Lapsed {
        /// The last purchase (or the enrolment).
        #[serde(with = "crate::time::instant")]
        since: DateTime<Utc>,
        /// When the member lapsed.
        #[serde(with = "crate::time::instant")]
        at: DateTime<Utc>,
    },
}

fn is_zero(p: &Points) -> bool {
    *p == 0
}

/// Serde for a receipt's signals: tagged objects in JSON; in the packed
/// form (see `crate::pack`), which cannot read an internally tagged enum,
/// each signal is its variant's number and its fields in order.
pub(crate) mod signals {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Id, Signal};
    use crate::{Amount, Points};

    /// An instant written as `crate::time::instant` writes it.
    #[derive(Serialize, Deserialize)]
    struct At(#[serde(with = "crate::time::instant")] DateTime<Utc>);

    /// An optional instant, the same way.
    #[derive(Serialize, Deserialize)]
    struct MaybeAt(#[serde(with = "crate::time::instant::option")] Option<DateTime<Utc>>);

    /// `Signal`'s variants in its order; a new variant goes at the end.
    #[derive(Serialize, Deserialize)]
    enum Packed {
        TierUp(At, Id, Id),
        TierDown(At, Id, Id),
        CloseToNextTier(Id, Amount),
        PointsExpiring(Points, At),
        AtRisk(At, At),
        ReferralQualified(Id, Id),
        ChallengeCompleted(Id, Option<Id>),
        TransferSent(Id, Points, MaybeAt),
        RewardUnlocked(Id, Points),
        Lapsed(At, At),
    }

    impl From<&Signal> for Packed {
        fn from(s: &Signal) -> Packed {
            match s.clone() {
                Signal::TierUp { at, from, to } => Packed::TierUp(At(at), from, to),
                Signal::TierDown { at, from, to } => Packed::TierDown(At(at), from, to),
                Signal::CloseToNextTier { tier, needed } => Packed::CloseToNextTier(tier, needed),
                Signal::PointsExpiring { points, at } => Packed::PointsExpiring(points, At(at)),
                Signal::AtRisk { since, at } => Packed::AtRisk(At(since), At(at)),
                Signal::ReferralQualified { referrer, referee } => Packed::ReferralQualified(referrer, referee),
                Signal::ChallengeCompleted { challenge, badge } => Packed::ChallengeCompleted(challenge, badge),
                Signal::TransferSent { to, points, expires_at } => {
                    Packed::TransferSent(to, points, MaybeAt(expires_at))
                }
                Signal::RewardUnlocked { reward, cost } => Packed::RewardUnlocked(reward, cost),
                Signal::Lapsed { since, at } => Packed::Lapsed(At(since), At(at)),
            }
        }
    }

    impl From<Packed> for Signal {
        fn from(p: Packed) -> Signal {
            match p {
                Packed::TierUp(At(at), from, to) => Signal::TierUp { at, from, to },
                Packed::TierDown(At(at), from, to) => Signal::TierDown { at, from, to },
                Packed::CloseToNextTier(tier, needed) => Signal::CloseToNextTier { tier, needed },
                Packed::PointsExpiring(points, At(at)) => Signal::PointsExpiring { points, at },
                Packed::AtRisk(At(since), At(at)) => Signal::AtRisk { since, at },
                Packed::ReferralQualified(referrer, referee) => Signal::ReferralQualified { referrer, referee },
                Packed::ChallengeCompleted(challenge, badge) => Signal::ChallengeCompleted { challenge, badge },
                Packed::TransferSent(to, points, MaybeAt(expires_at)) => {
                    Signal::TransferSent { to, points, expires_at }
                }
                Packed::RewardUnlocked(reward, cost) => Signal::RewardUnlocked { reward, cost },
                Packed::Lapsed(At(since), At(at)) => Signal::Lapsed { since, at },
            }
        }
    }

    pub(crate) fn serialize<S: Serializer>(signals: &[Signal], s: S) -> Result<S::Ok, S::Error> {
        if crate::pack::active(&s) {
            s.collect_seq(signals.iter().map(Packed::from))
        } else {
            signals.serialize(s)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Signal>, D::Error> {
        if crate::pack::reading(&d) {
            Ok(Vec::<Packed>::deserialize(d)?.into_iter().map(Signal::from).collect())
        } else {
            Vec::<Signal>::deserialize(d)
        }
    }
}

impl Receipt {
    /// Cuts the receipt's lists to their lengths (see [`crate::Member::shrink_to_fit`]).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.explanations.shrink_to_fit();
        self.next_expiries.shrink_to_fit();
        self.notes.shrink_to_fit();
        self.signals.shrink_to_fit();
        self.variants.shrink_to_fit();
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_text_reads_as_it_was_formatted() {
        let currency: Arc<str> = Arc::from("RUB");
        for amount in ["150.5", "0.01", "1200", "123456789012345.000000000001"] {
            let t = Text::paid(amount.parse().unwrap(), &currency);
            let want = format!("paid {amount} RUB with points");
            assert_eq!(t.to_string(), want);
            assert_eq!(t.as_str(), want);
            assert_eq!(serde_json::to_string(&t).unwrap(), serde_json::to_string(&want).unwrap());
            // Read once as a str, it is shown the same way after.
            assert_eq!(t.to_string(), want);
        }
    }

    #[test]
    fn local_minute_matches_chrono() {
        for (y, mo, d, h, mi) in [(2026, 12, 16, 12, 30), (1, 1, 1, 0, 0), (9999, 12, 31, 23, 59), (10199, 3, 4, 5, 6)]
        {
            let t = NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap();
            let want = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}");
            assert_eq!(LocalMinute(t).to_string(), want);
        }
    }

    #[test]
    fn texts_built_from_numbers_read_and_serialize_as_strings() {
        let name: Arc<str> = "Double points".into();
        let winner: Arc<str> = "Triple".into();
        let pending = "2026-12-16T09:30:00Z".parse().ok().map(|t| (t, chrono_tz::Europe::Moscow));
        for (text, want) in [
            (Text::rule_line(&name, 1250, 2, Some("per day"), None), "Double points: +12.50 (capped per day)"),
            (Text::rule_line(&name, 0, 0, None, Some(&winner)), "Double points: not applied, 'Triple' gives more"),
            (Text::earned(7, 0, pending), "earned 7 points, pending until 2026-12-16 12:30"),
            (Text::earned(7, 0, None), "earned 7 points"),
        ] {
            assert_eq!(serde_json::to_string(&text).unwrap(), serde_json::to_string(want).unwrap());
            assert_eq!(text.to_string(), want);
            assert_eq!(text, want);
            assert_eq!(text, Text::from(want));
            assert_eq!(serde_json::from_str::<Text>(&serde_json::to_string(&text).unwrap()).unwrap(), text);
            assert_eq!(format!("{text:?}"), format!("{want:?}"));
        }
    }
}
