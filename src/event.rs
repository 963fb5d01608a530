//! Events: the inputs of the engine.
//!
//! Every event has a caller-chosen `id` (the idempotency key) and an `at`
//! instant (RFC 3339; any offset is converted to UTC). The `type` field picks
//! the kind. In JSON:
//!
//! ```json
//! {"id": "sale-1001", "at": "2026-12-15T09:30:00Z", "type": "purchase",
//!  "lines": [{"sku": "latte", "category": "coffee", "quantity": "1", "unit_price": "250"}]}
//! ```
//!
//! Money and quantities are exact decimals written as strings (or integers);
//! points are integers in the program's smallest point unit.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{json_error, line_column, Error, Result};
use crate::number::{Amount, Points};

/// The longest id (event, member, order, sku, category, reason code) accepted, in bytes.
pub const ID_LEN_MAX: usize = 128;
/// The most lines a basket may have.
pub const LINES_MAX: usize = 1_000;

/// One input to [`Program::apply`](crate::Program::apply).
///
/// ```
/// let event = loyalty::Event::from_json_str(r#"{
///   "id": "sale-1", "at": "2026-12-15T12:30:00+03:00", "type": "purchase",
///   "lines": [{"sku": "latte", "category": "coffee", "quantity": "2", "unit_price": "180.00"}]
/// }"#).unwrap();
/// assert_eq!(event.at.to_rfc3339(), "2026-12-15T09:30:00+00:00");
/// assert!(matches!(event.kind, loyalty::EventKind::Purchase(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    /// The caller-chosen id: applying the same id twice changes nothing.
    pub id: String,
    /// When the event happened.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an event does; the `type` field in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A member joins the program. Only the first event of a member.
    Enroll(Enroll),
    /// A purchase: earns points.
    Purchase(Purchase),
    /// Some or all lines of an earlier purchase come back.
    Return(Return),
    /// Reserve points for a basket being paid (first phase of a points payment).
    Hold(Hold),
    /// Burn the points of a hold (second phase).
    Capture(Capture),
    /// Release the points of a hold.
    Void(Void),
    /// Pay for (part of) a basket with points, in one step.
    Redeem(Redeem),
    /// Credit or debit points by hand, with a reason.
    Adjust(Adjust),
    /// Time passes: pending points activate, points expire, holds time out,
    /// tier levels end.
    Advance,
    /// Something the member did that is not a purchase (a review, an app
    /// install): points by the program's `[[activities]]` rule of that name,
    /// and counted for tiers measured by that activity's counter. An
    /// activity no rule names is accepted with a note, so hosts may send
    /// activities for reports only.
    Activity(Activity),
    /// Set (or, without `tier`, remove) a tier floor by hand.
    AssignTier(AssignTier),
    /// Pay for one period of a subscription tier level.
    Subscribe(Subscribe),
    /// Take a reward of the catalog for its cost in points.
    RedeemReward(RedeemReward),
    /// Mark an issued reward used.
    UseReward(UseReward),
    /// Cancel an issued reward.
    CancelReward(CancelReward),
    /// Suspend the member: no earning, no burning until `reactivate`.
    Suspend(StatusChange),
    /// End a suspension.
    Reactivate(StatusChange),
    /// Close the member: the remaining points are forfeited, and no later event applies.
    Close(StatusChange),
    /// Send points to another member (the host then applies `transfer_in` to them).
    TransferOut(TransferOut),
    /// Receive points another member sent.
    TransferIn(TransferIn),
    /// The member chooses the day of a promotion (`promotions`).
    ChoosePromotion(ChoosePromotion),
    /// Reward a referrer for a member they referred (after that member's
    /// receipt carried a `referral_qualified` signal).
    ReferralReward(ReferralReward),
}

impl EventKind {
    /// The `type` name of the kind, as in JSON.
    ///
    /// ```
    /// assert_eq!(loyalty::EventKind::Advance.name(), "advance");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Enroll(_) => "enroll",
            EventKind::Purchase(_) => "purchase",
            EventKind::Return(_) => "return",
            EventKind::Hold(_) => "hold",
            EventKind::Capture(_) => "capture",
            EventKind::Void(_) => "void",
            EventKind::Redeem(_) => "redeem",
            EventKind::Adjust(_) => "adjust",
            EventKind::Advance => "advance",
            EventKind::Activity(_) => "activity",
            EventKind::AssignTier(_) => "assign_tier",
            EventKind::Subscribe(_) => "subscribe",
            EventKind::RedeemReward(_) => "redeem_reward",
            EventKind::UseReward(_) => "use_reward",
            EventKind::CancelReward(_) => "cancel_reward",
            EventKind::ReferralReward(_) => "referral_reward",
            EventKind::ChoosePromotion(_) => "choose_promotion",
            EventKind::Suspend(_) => "suspend",
            EventKind::Reactivate(_) => "reactivate",
            EventKind::Close(_) => "close",
            EventKind::TransferOut(_) => "transfer_out",
            EventKind::TransferIn(_) => "transfer_in",
        }
    }
}

/// A member's profile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Birth date, for birthday rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    /// Free-form attributes that rule conditions can test (`segment = "staff"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// The body of an `enroll` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    /// The new member's id.
    pub member: String,
    /// The member's profile.
    #[serde(default)]
    pub profile: Profile,
    /// The member who referred this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_by: Option<String>,
}

/// One line of a basket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The product code.
    pub sku: String,
    /// The product category; must be one the program declares.
    pub category: String,
    /// How many, greater than zero (may be fractional: `"1.5"` kg).
    pub quantity: Amount,
    /// Price of one unit before the line discount, zero or more.
    pub unit_price: Amount,
    /// Money taken off the whole line, zero or more, at most the line's price.
    #[serde(default, skip_serializing_if = "crate::number::amount_is_zero")]
    pub discount: Amount,
}

/// A basket for [`Program::quote`](crate::Program::quote).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basket {
    /// The lines.
    pub lines: Vec<Line>,
    /// The sales channel (`"app"`, `"web"`, `"store"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The store id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The partner the purchase is made at (one the program declares).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
}

/// The body of a `purchase` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    /// The order this purchase settles; points payments name it. Defaults to the event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The lines.
    pub lines: Vec<Line>,
    /// The sales channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The store id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The partner the purchase is made at (one the program declares); it
    /// earns by the rules that name the partner, and its lot records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
}

/// The body of a `return` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    /// The id of the purchase event the goods come from.
    pub purchase: String,
    /// The lines coming back; empty means everything not yet returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<ReturnLine>,
}

/// One returned line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnLine {
    /// The 0-based index of the line in the purchase.
    pub line: usize,
    /// How many units come back; absent means all not yet returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Amount>,
}

/// The body of a `hold` event: reserve points for a basket being paid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// Points to reserve.
    pub points: Points,
    /// The order being paid; a return of that order gives the points back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The burn rule; defaults to the program's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The basket, needed where the burn rule limits the share payable in points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Line>,
}

/// The body of a `capture` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// The id of the hold event.
    pub hold: String,
    /// Points to burn, at most the hold; the rest is released. Absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Points>,
}

/// The body of a `void` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Void {
    /// The id of the hold event.
    pub hold: String,
}

/// The body of a `redeem` event: pay with points in one step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    /// Points to burn.
    pub points: Points,
    /// The order being paid; a return of that order gives the points back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The burn rule; defaults to the program's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The basket, needed where the burn rule limits the share payable in points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Line>,
}

/// The body of an `adjust` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// Points to credit (positive) or debit (negative); never zero.
    pub points: Points,
    /// A reason code (`"goodwill"`, `"correction"`).
    pub reason: String,
    /// A note for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The body of an `activity` event.
///
/// ```
/// let e = loyalty::Event::from_json_str(
///     r#"{"id":"r1","at":"2026-05-01T10:00:00Z","type":"activity","name":"review"}"#).unwrap();
/// assert!(matches!(e.kind, loyalty::EventKind::Activity(ref a) if a.name == "review" && a.value == 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// The activity (`"review"`, `"app_install"`).
    pub name: String,
    /// How much it counts, 1 to 1 000 000. Default 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub value: i64,
}

fn one() -> i64 {
    1
}

fn is_one(v: &i64) -> bool {
    *v == 1
}

/// The body of an `assign_tier` event: a floor the member's level does not
/// fall below until `until`. A later assignment replaces it.
///
/// ```
/// let e = loyalty::Event::from_json_str(r#"{"id":"a1","at":"2026-05-01T10:00:00Z","type":"assign_tier",
///   "tier":"gold","until":"2027-01-01T00:00:00Z","reason":"vip"}"#).unwrap();
/// assert!(matches!(e.kind, loyalty::EventKind::AssignTier(ref a) if a.tier.as_deref() == Some("gold")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignTier {
    /// The level; absent removes the floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// When the floor ends; absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// A reason code.
    pub reason: String,
    /// A note for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The body of a `subscribe` event: one paid period of a subscription level.
/// Paid before the current period ends, it starts when that one ends.
///
/// ```
/// let e = loyalty::Event::from_json_str(
///     r#"{"id":"p1","at":"2026-05-01T10:00:00Z","type":"subscribe","tier":"plus"}"#).unwrap();
/// assert_eq!(e.kind.name(), "subscribe");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// The subscription level.
    pub tier: String,
}

/// The body of a `redeem_reward` event.
///
/// ```
/// let e = loyalty::Event::from_json_str(
///     r#"{"id":"r1","at":"2026-05-01T10:00:00Z","type":"redeem_reward","reward":"tasting"}"#).unwrap();
/// assert_eq!(e.kind.name(), "redeem_reward");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemReward {
    /// The reward id.
    pub reward: String,
    /// For a voucher: the code the host issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The body of a `use_reward` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UseReward {
    /// The id of the `redeem_reward` event that issued it.
    pub issued: String,
}

/// The body of a `referral_reward` event, applied to the referrer.
///
/// ```
/// let e = loyalty::Event::from_json_str(
///     r#"{"id":"ref-1","at":"2026-05-01T10:00:00Z","type":"referral_reward","referee":"m-2"}"#).unwrap();
/// assert_eq!(e.kind.name(), "referral_reward");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralReward {
    /// The referred member.
    pub referee: String,
}

/// The body of a `suspend`, `reactivate` or `close` event.
///
/// ```
/// let e = loyalty::Event::from_json_str(
///     r#"{"id":"s1","at":"2026-05-01T10:00:00Z","type":"suspend","reason":"fraud-check"}"#).unwrap();
/// assert_eq!(e.kind.name(), "suspend");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// A reason code.
    pub reason: String,
}

/// The body of a `transfer_out` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferOut {
    /// The member receiving the points.
    pub to: String,
    /// Points to send.
    pub points: Points,
}

/// The body of a `transfer_in` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferIn {
    /// The member who sent them.
    pub from: String,
    /// Points received.
    pub points: Points,
    /// The sender's `transfer_out` event id; a second `transfer_in` of the
    /// same transfer from the same sender is refused.
    pub transfer: String,
    /// When the points expire: pass on the `transfer_sent` signal's
    /// `expires_at`, so a transfer never renews points. Absent: the
    /// program's expiry policy from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The body of a `choose_promotion` event.
///
/// ```
/// let e = loyalty::Event::from_json_str(r#"{"id":"ch1","at":"2026-12-01T10:00:00Z",
///   "type":"choose_promotion","promotion":"double-day","date":"2026-12-20"}"#).unwrap();
/// assert_eq!(e.kind.name(), "choose_promotion");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoosePromotion {
    /// The promotion id.
    pub promotion: String,
    /// The local date chosen: the event's own date or later.
    pub date: NaiveDate,
}

/// The body of a `cancel_reward` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelReward {
    /// The id of the `redeem_reward` event that issued it.
    pub issued: String,
}

impl Event {
    /// Decodes one event from JSON; a syntax or schema error names line and column.
    ///
    /// ```
    /// let err = loyalty::Event::from_json_str(r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"advance","x":1}"#);
    /// assert!(err.is_err());
    /// ```
    pub fn from_json_str(text: &str) -> Result<Event> {
        let event: Event = serde_json::from_str(text).map_err(|e| syntax(text, &e))?;
        // `flatten` lets unknown top-level fields of unit variants through; refuse them here.
        if let EventKind::Advance = event.kind {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| syntax(text, &e))?;
            if let Some(obj) = value.as_object() {
                if let Some(key) = obj.keys().find(|k| !matches!(k.as_str(), "id" | "at" | "type")) {
                    let offset = text.find(&format!("\"{key}\"")).unwrap_or(0);
                    let (line, column) = line_column(text, offset);
                    return Err(Error::EventSyntax {
                        line,
                        column,
                        message: format!("unknown field `{key}` for an advance event"),
                    });
                }
            }
        }
        Ok(event)
    }

    /// Encodes the event as one line of JSON.
    ///
    /// ```
    /// let e = loyalty::Event::from_json_str(r#"{"id":"t","at":"2026-01-01T00:00:00Z","type":"advance"}"#).unwrap();
    /// assert_eq!(e.to_json(), r#"{"id":"t","at":"2026-01-01T00:00:00Z","type":"advance"}"#);
    /// ```
    pub fn to_json(&self) -> String {
        // Serializing plain data into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::number::StableHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

fn syntax(text: &str, e: &serde_json::Error) -> Error {
    let (line, column, message) = json_error(text, e);
    Error::EventSyntax { line, column, message }
}

pub(crate) fn check_id(event: &str, field: &str, id: &str) -> Result<()> {
    match id_problem(id) {
        None => Ok(()),
        Some(reason) => Err(Error::event(event, field, reason)),
    }
}

/// What is wrong with an id, if anything: empty, longer than
/// [`ID_LEN_MAX`] bytes, or holding a control character.
pub(crate) fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("must not be empty".into());
    }
    if id.len() > ID_LEN_MAX {
        return Some(format!("longer than {ID_LEN_MAX} bytes"));
    }
    // Control characters are C0 (below 0x20), DEL and C1 (U+0080–U+009F);
    // an ASCII id needs only the byte test. Printable ASCII (almost every
    // id) passes in one pass.
    if id.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    let ascii_control = |b: &u8| *b < 0x20 || *b == 0x7f;
    if id.as_bytes().iter().any(ascii_control) || (!id.is_ascii() && id.chars().any(char::is_control)) {
        return Some("contains a control character".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused_in_every_kind() {
        let bad = [
            r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"purchase","lines":[],"colour":"red"}"#,
            r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"void","hold":"h","extra":1}"#,
            r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"advance","extra":1}"#,
            r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"teleport"}"#,
            r#"{"id":"e","type":"advance"}"#,
            r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"purchase","lines":[{"sku":"a","category":"c","quantity":1,"unit_price":1.5}]}"#,
        ];
        for text in bad {
            assert!(Event::from_json_str(text).is_err(), "{text}");
        }
    }

    #[test]
    fn events_round_trip() {
        let text = r#"{"id":"r1","at":"2026-01-02T03:04:05Z","type":"return","purchase":"p1","lines":[{"line":0,"quantity":"1"}]}"#;
        let e = Event::from_json_str(text).unwrap();
        assert_eq!(e.to_json(), text);
        assert_eq!(Event::from_json_str(&e.to_json()).unwrap(), e);
    }

    #[test]
    fn control_characters_in_ids() {
        for (id, bad) in
            [("a", false), ("a\tb", true), ("\u{7f}", true), ("é\u{85}", true), ("é\u{a0}", false), ("\0", true)]
        {
            assert_eq!(id_problem(id).is_some(), bad, "{id:?}");
            assert_eq!(id.chars().any(char::is_control), bad, "{id:?}");
        }
    }

    #[test]
    fn fingerprint_differs_with_payload() {
        let a =
            Event::from_json_str(r#"{"id":"x","at":"2026-01-01T00:00:00Z","type":"adjust","points":5,"reason":"r"}"#)
                .unwrap();
        let b =
            Event::from_json_str(r#"{"id":"x","at":"2026-01-01T00:00:00Z","type":"adjust","points":6,"reason":"r"}"#)
                .unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
