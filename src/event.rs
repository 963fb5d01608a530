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
    /// Decodes one event from JSON; a syntax or schema error names line and
    /// column, and the field path of what is wrong.
    ///
    /// The position is where the bad value starts, where an unknown field's
    /// name starts, or where the object lacking a required field starts; the
    /// message starts with the field path (`lines[3].quantity: ...`) unless
    /// the problem is the event object itself (a missing `type`).
    ///
    /// ```
    /// let text = r#"{"id": "e", "at": "2026-01-01T00:00:00Z", "type": "purchase", "lines": [
    ///   {"sku": "a", "category": "c", "quantity": "1", "unit_price": "2"},
    ///   {"sku": "b", "category": "c", "quantity": "1e3", "unit_price": "2"}]}"#;
    /// let err = loyalty::Event::from_json_str(text).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "event: line 3, column 45: lines[1].quantity: '1e3' is not an exact decimal amount: \
    ///      expected digits with an optional '-' and '.' (no exponent, sign '+', spaces or '_')"
    /// );
    /// let err = loyalty::Event::from_json_str(r#"{"id":"e","at":"2026-01-01T00:00:00Z","type":"advance","x":1}"#);
    /// assert!(err.unwrap_err().to_string().starts_with("event: line 1, column 56: x: unknown field `x`"));
    /// ```
    pub fn from_json_str(text: &str) -> Result<Event> {
        let event: Event = serde_json::from_str(text).map_err(|e| decode_error(text, &e))?;
        // `flatten` lets unknown top-level fields of unit variants through; refuse them here.
        if let EventKind::Advance = event.kind {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| syntax(text, &e))?;
            if let Some(obj) = value.as_object() {
                if let Some(key) = obj.keys().find(|k| !matches!(k.as_str(), "id" | "at" | "type")) {
                    let offset = locate(text, &[Step::Key(key.clone())]).and_then(|(_, key)| key).unwrap_or(0);
                    let (line, column) = line_column(text, offset);
                    return Err(Error::EventSyntax {
                        line,
                        column,
                        message: format!("{key}: unknown field `{key}` for an advance event"),
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

/// The `type` names of [`EventKind`], in its order (a test checks them
/// against the derived decoder's own list).
const KINDS: &[&str] = &[
    "enroll",
    "purchase",
    "return",
    "hold",
    "capture",
    "void",
    "redeem",
    "adjust",
    "advance",
    "activity",
    "assign_tier",
    "subscribe",
    "redeem_reward",
    "use_reward",
    "cancel_reward",
    "suspend",
    "reactivate",
    "close",
    "transfer_out",
    "transfer_in",
    "choose_promotion",
    "referral_reward",
];

/// The error of an event text that did not decode.
///
/// `#[serde(flatten)]` makes serde buffer the event, so serde_json's own
/// error for a bad field names no field and points at the end of the event.
/// Only on that failure, the text is decoded again: as a
/// [`serde_json::Value`], then `id`, `at` and `type` one by one and the body
/// as the struct of its kind with path tracking; the path found is then
/// looked up in the text for its position. Should that second decoding find
/// nothing (a duplicate field, which a `Value` cannot keep), serde_json's
/// error stands.
#[cold]
#[inline(never)]
fn decode_error(text: &str, e: &serde_json::Error) -> Error {
    if !e.is_data() {
        // A syntax error or a truncated text: serde_json points at it already.
        return syntax(text, e);
    }
    let Some(found) = diagnose(text) else {
        return syntax(text, e);
    };
    let offset = locate(text, &found.steps).and_then(|(value, key)| if found.at_key { key } else { Some(value) });
    let (line, column) = match offset {
        Some(offset) => line_column(text, offset),
        None => {
            let (line, column, _) = json_error(text, e);
            (line, column)
        }
    };
    let path = path_text(&found.steps);
    let message = if path.is_empty() { found.message } else { format!("{path}: {}", found.message) };
    Error::EventSyntax { line, column, message }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// What is wrong in an event text, and where.
#[derive(Debug)]
struct Found {
    /// The path of the bad value, of the unknown field, or of the object lacking a field.
    steps: Vec<Step>,
    /// Point at the key of the last step (an unknown field), not its value.
    at_key: bool,
    /// What the decoder said, without a position.
    message: String,
}

/// `lines[3].quantity`; empty for the event itself.
fn path_text(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(key) if text.is_empty() => text.push_str(key),
            Step::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// Decodes `text` again, part by part, to find what is wrong (see [`decode_error`]).
fn diagnose(text: &str) -> Option<Found> {
    use serde::de::Error as _;
    use serde_json::Value;

    let top =
        |field: &str, message: String| Some(Found { steps: vec![Step::Key(field.into())], at_key: false, message });
    let missing = |field: &'static str| {
        Some(Found { steps: Vec::new(), at_key: false, message: serde_json::Error::missing_field(field).to_string() })
    };
    let Value::Object(mut body) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    let (id, at, kind) = (body.remove("id"), body.remove("at"), body.remove("type"));
    // In the order serde's derived decoder checks them.
    if let Some(Err(e)) = id.as_ref().map(String::deserialize) {
        return top("id", e.to_string());
    }
    if let Some(Err(e)) = at.as_ref().map(DateTime::<Utc>::deserialize) {
        return top("at", e.to_string());
    }
    if id.is_none() {
        return missing("id");
    }
    if at.is_none() {
        return missing("at");
    }
    let kind = match kind.as_ref().map(String::deserialize) {
        None => return missing("type"),
        Some(Err(e)) => return top("type", e.to_string()),
        Some(Ok(kind)) => kind,
    };
    let Some(outcome) = decode_body(&kind, Value::Object(body)) else {
        return top("type", serde_json::Error::unknown_variant(&kind, KINDS).to_string());
    };
    let (path, e) = outcome.err()?;
    let mut steps = Vec::new();
    for segment in &path {
        match segment {
            serde_path_to_error::Segment::Seq { index } => steps.push(Step::Index(*index)),
            serde_path_to_error::Segment::Map { key } | serde_path_to_error::Segment::Enum { variant: key } => {
                steps.push(Step::Key(key.clone()))
            }
            serde_path_to_error::Segment::Unknown => break,
        }
    }
    let message = e.to_string();
    // serde_path_to_error ends the path of an unknown field with its name.
    let at_key = matches!(steps.last(), Some(Step::Key(key)) if message.starts_with(&format!("unknown field `{key}`")));
    Some(Found { steps, at_key, message })
}

/// A failed decoding with the path where it failed.
type Failure = (serde_path_to_error::Path, serde_json::Error);

/// Decodes the body of an event of `kind` (its fields but `id`, `at` and
/// `type`), tracking the path; `None` for an unknown kind.
fn decode_body(kind: &str, body: serde_json::Value) -> Option<Result<(), Failure>> {
    fn as_<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Option<Result<(), Failure>> {
        Some(serde_path_to_error::deserialize::<_, T>(body).map(drop).map_err(|e| (e.path().clone(), e.into_inner())))
    }
    match kind {
        "enroll" => as_::<Enroll>(body),
        "purchase" => as_::<Purchase>(body),
        "return" => as_::<Return>(body),
        "hold" => as_::<Hold>(body),
        "capture" => as_::<Capture>(body),
        "void" => as_::<Void>(body),
        "redeem" => as_::<Redeem>(body),
        "adjust" => as_::<Adjust>(body),
        // Unknown fields of an advance are refused after decoding (`Event::from_json_str`).
        "advance" => Some(Ok(())),
        "activity" => as_::<Activity>(body),
        "assign_tier" => as_::<AssignTier>(body),
        "subscribe" => as_::<Subscribe>(body),
        "redeem_reward" => as_::<RedeemReward>(body),
        "use_reward" => as_::<UseReward>(body),
        "cancel_reward" => as_::<CancelReward>(body),
        "suspend" | "reactivate" | "close" => as_::<StatusChange>(body),
        "transfer_out" => as_::<TransferOut>(body),
        "transfer_in" => as_::<TransferIn>(body),
        "choose_promotion" => as_::<ChoosePromotion>(body),
        "referral_reward" => as_::<ReferralReward>(body),
        _ => None,
    }
}

/// Where the value at `steps` starts in `text`, a valid JSON text, and where
/// its key starts when the last step is a key. A key that occurs twice in an
/// object is taken at its last occurrence, as [`serde_json::Value`] keeps it.
fn locate(text: &str, steps: &[Step]) -> Option<(usize, Option<usize>)> {
    let b = text.as_bytes();
    let mut at = skip_ws(b, 0);
    let mut key_at = None;
    for step in steps {
        match (step, b.get(at)?) {
            (Step::Key(want), b'{') => {
                let mut i = at + 1;
                let mut found = None;
                loop {
                    i = skip_ws(b, i);
                    if *b.get(i)? == b'}' {
                        break;
                    }
                    let key = i;
                    i = skip_string(b, i)?;
                    let is_wanted = key_is(text, key, i, want);
                    i = skip_ws(b, i);
                    if *b.get(i)? != b':' {
                        return None;
                    }
                    i = skip_ws(b, i + 1);
                    if is_wanted {
                        found = Some((key, i));
                    }
                    i = skip_ws(b, skip_value(b, i)?);
                    match b.get(i)? {
                        b',' => i += 1,
                        b'}' => break,
                        _ => return None,
                    }
                }
                let (key, value) = found?;
                (at, key_at) = (value, Some(key));
            }
            (Step::Index(n), b'[') => {
                let mut i = skip_ws(b, at + 1);
                for _ in 0..*n {
                    i = skip_ws(b, skip_value(b, i)?);
                    if *b.get(i)? != b',' {
                        return None;
                    }
                    i = skip_ws(b, i + 1);
                }
                if *b.get(i)? == b']' {
                    return None;
                }
                (at, key_at) = (i, None);
            }
            _ => return None,
        }
    }
    Some((at, key_at))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (just past its closing quote).
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    if *b.get(i)? != b'"' {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The end of the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let (mut j, mut depth) = (i, 0usize);
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while !matches!(b.get(j), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                j += 1;
            }
            Some(j)
        }
    }
}

/// Whether the JSON string `text[start..end]` (quotes included) is `want`.
fn key_is(text: &str, start: usize, end: usize, want: &str) -> bool {
    let raw = &text[start + 1..end - 1];
    if raw.contains('\\') {
        serde_json::from_str::<String>(&text[start..end]).is_ok_and(|key| key == want)
    } else {
        raw == want
    }
}

pub(crate) fn check_id(event: &str, field: &str, id: &str) -> Result<()> {
    match id_problem(id) {
        None => Ok(()),
        Some(reason) => Err(Error::event(event, field, reason)),
    }
}

/// True when every byte is printable ASCII (0x20 to 0x7e), tested eight
/// bytes at a time: a byte below 0x20 borrows into its top bit when 0x20 is
/// taken from it (and only such a byte starts a borrow), a byte of 0x7f or
/// more has its top bit set once 1 is added (a carry starts only at 0xff,
/// itself refused). No copy of the bytes is made: the words are read in
/// place, the last one overlapping the one before.
#[inline]
fn printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const TOPS: u64 = u64::from_le_bytes([0x80; 8]);
    let bad = |w: u64| ((w.wrapping_sub(0x20 * ONES) & !w) | w | w.wrapping_add(ONES)) & TOPS != 0;
    use crate::number::{le32, le64};
    let n = bytes.len();
    match n {
        // Whole words, then the last eight bytes (overlapping the words
        // before: bytes tested twice pass twice).
        8.. => !(0..n / 8).any(|k| bad(le64(bytes, 8 * k))) && !bad(le64(bytes, n - 8)),
        // The first four and the last four, overlapping.
        4..8 => !bad(le32(bytes, 0) | le32(bytes, n - 4) << 32),
        _ => bytes.iter().all(|b| (0x20..0x7f).contains(b)),
    }
}

/// What is wrong with an id, if anything: empty, longer than
/// [`ID_LEN_MAX`] bytes, or holding a control character.
///
/// Inlined: every line's SKU is checked, and almost every one is short
/// printable ASCII, which passes without a call.
#[inline(always)]
pub(crate) fn id_problem(id: &str) -> Option<String> {
    if !id.is_empty() && id.len() <= ID_LEN_MAX && printable_ascii(id.as_bytes()) {
        return None;
    }
    id_problem_in_full(id)
}

/// [`id_problem`] for ids that are not short printable ASCII.
#[inline(never)]
fn id_problem_in_full(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("must not be empty".into());
    }
    if id.len() > ID_LEN_MAX {
        return Some(format!("longer than {ID_LEN_MAX} bytes"));
    }
    // Control characters are C0 (below 0x20), DEL and C1 (U+0080–U+009F);
    // an ASCII id needs only the byte test. Printable ASCII (almost every
    // id) passes in one pass.
    if printable_ascii(id.as_bytes()) {
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

    /// The eight-at-a-time test agrees with the byte-by-byte one on every
    /// byte value in every position of ids of every length up to 17.
    #[test]
    fn printable_ascii_agrees_with_each_byte() {
        for len in 0..=17 {
            for at in 0..len {
                for b in 0..=255_u8 {
                    let mut id = vec![b'a'; len];
                    id[at] = b;
                    let want = id.iter().all(|b| (0x20..0x7f).contains(b));
                    assert_eq!(printable_ascii(&id), want, "{id:?}");
                }
            }
            assert!(printable_ascii(&vec![b'~'; len]) && printable_ascii(&vec![b' '; len]));
        }
    }

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

    /// A purchase whose lines (JSON objects) each stand on their own line,
    /// from line 2 on, indented by two spaces.
    fn basket(lines: &[String]) -> String {
        let lines: Vec<String> = lines.iter().map(|l| format!("  {l}")).collect();
        format!(
            "{{\"id\": \"s-1\", \"at\": \"2026-05-01T10:00:00Z\", \"type\": \"purchase\", \"lines\": [\n{}\n]}}",
            lines.join(",\n")
        )
    }

    /// A line with this sku and quantity (JSON), and `extra` fields after its price.
    fn line(sku: &str, quantity: &str, extra: &str) -> String {
        format!(r#"{{"sku": "{sku}", "category": "coffee", "quantity": {quantity}, "unit_price": "2.50"{extra}}}"#)
    }

    /// The (line, column, message) of a decoding error.
    fn syntax_error(text: &str) -> (usize, usize, String) {
        match Event::from_json_str(text) {
            Err(Error::EventSyntax { line, column, message }) => (line, column, message),
            other => panic!("not a syntax error: {other:?}"),
        }
    }

    fn lines_with_bad_fourth(bad: String) -> String {
        let good = |sku| line(sku, "\"1\"", "");
        basket(&[good("a"), good("b"), good("c"), bad])
    }

    #[test]
    fn bad_amount_deep_in_a_basket_is_named_and_pointed_at() {
        let text = lines_with_bad_fourth(line("d", "\"1e3\"", ""));
        assert_eq!(
            syntax_error(&text),
            (
                5,
                50,
                "lines[3].quantity: '1e3' is not an exact decimal amount: expected digits with an optional '-' and \
                 '.' (no exponent, sign '+', spaces or '_')"
                    .to_owned()
            )
        );
    }

    #[test]
    fn unknown_field_inside_a_line_points_at_its_name() {
        let good = |sku| line(sku, "\"1\"", "");
        let text = basket(&[good("a"), good("b"), line("c", "\"1\"", r#", "vat": "20""#)]);
        assert_eq!(
            syntax_error(&text),
            (
                4,
                77,
                "lines[2].vat: unknown field `vat`, expected one of `sku`, `category`, `quantity`, `unit_price`, \
                 `discount`"
                    .to_owned()
            )
        );
    }

    #[test]
    fn missing_required_field_points_at_the_object_lacking_it() {
        let text = "{\"id\": \"s-1\", \"at\": \"2026-05-01T10:00:00Z\", \"type\": \"purchase\",\n \"store\": \"x\"}";
        assert_eq!(syntax_error(text), (1, 1, "missing field `lines`".to_owned()));
        let text = basket(&[
            line("a", "\"1\"", ""),
            r#"{"category": "coffee", "quantity": "1", "unit_price": "2.50"}"#.into(),
        ]);
        assert_eq!(syntax_error(&text), (3, 3, "lines[1]: missing field `sku`".to_owned()));
        for (text, field) in [
            (r#"{"at": "2026-05-01T10:00:00Z", "type": "advance"}"#, "id"),
            (r#"{"id": "e", "type": "advance"}"#, "at"),
            (r#"{"id": "e", "at": "2026-05-01T10:00:00Z"}"#, "type"),
        ] {
            assert_eq!(syntax_error(text), (1, 1, format!("missing field `{field}`")), "{text}");
        }
    }

    #[test]
    fn wrong_type_is_named_and_pointed_at() {
        let text = basket(&[line("a", "true", "")]);
        assert_eq!(
            syntax_error(&text),
            (
                2,
                50,
                "lines[0].quantity: invalid type: boolean `true`, expected a decimal amount as a string like \
                 \"12.50\", or an integer"
                    .to_owned()
            )
        );
        let text =
            r#"{"id": "r", "at": "2026-05-01T10:00:00Z", "type": "return", "purchase": "p", "lines": [{"line": -1}]}"#;
        assert_eq!(
            syntax_error(text),
            (1, 97, "lines[0].line: invalid value: integer `-1`, expected usize".to_owned())
        );
        let text = r#"{"id": 7, "at": "2026-05-01T10:00:00Z", "type": "advance"}"#;
        assert_eq!(syntax_error(text), (1, 8, "id: invalid type: integer `7`, expected a string".to_owned()));
        let text = r#"{"id": "e", "at": "2026-05-01T10:00:00Z", "type": 3}"#;
        assert_eq!(syntax_error(text), (1, 51, "type: invalid type: integer `3`, expected a string".to_owned()));
    }

    #[test]
    fn unknown_type_points_at_the_type_value() {
        let text = "{\"id\": \"s-1\", \"at\": \"2026-05-01T10:00:00Z\",\n \"type\": \"teleport\"}";
        let (line, column, message) = syntax_error(text);
        assert_eq!((line, column), (2, 10));
        assert!(
            message.starts_with("type: unknown variant `teleport`, expected one of `enroll`, `purchase`,"),
            "{message}"
        );
    }

    #[test]
    fn kinds_match_the_derived_decoder() {
        // The derived decoder's own message lists every variant, in order.
        let derived = serde_json::from_value::<EventKind>(serde_json::json!({"type": "teleport"})).unwrap_err();
        let ours = <serde_json::Error as serde::de::Error>::unknown_variant("teleport", KINDS);
        assert_eq!(derived.to_string(), ours.to_string());
        for kind in KINDS {
            assert!(decode_body(kind, serde_json::json!({})).is_some(), "{kind}");
        }
    }

    #[test]
    fn instant_not_rfc3339_is_pointed_at() {
        let text = "{\"id\": \"s-1\",\n \"at\": \"2026-05-01 10:00\",\n \"type\": \"advance\"}";
        assert_eq!(syntax_error(text), (2, 8, "at: premature end of input".to_owned()));
    }

    #[test]
    fn columns_count_characters() {
        // "é" is two bytes: the value starts on column 53 (54 in bytes).
        let text = basket(&[line("caf\u{e9}", "\"1e3\"", "")]);
        let (line, column, message) = syntax_error(&text);
        assert_eq!((line, column), (2, 53));
        assert!(message.starts_with("lines[0].quantity: '1e3'"), "{message}");
    }

    #[test]
    fn syntax_errors_keep_serde_json_position() {
        let text = "{\"id\": \"s-1\",\n \"at\": }";
        assert_eq!(syntax_error(text), (2, 8, "expected value".to_owned()));
        let text = basket(&[line("a", "\"1\"", "")]);
        let cut = &text[..text.len() - 5];
        let (line, _, message) = syntax_error(cut);
        assert_eq!((line, message.as_str()), (2, "EOF while parsing a string"));
    }

    #[test]
    fn duplicate_fields_keep_serde_json_error() {
        // A `Value` keeps one of the two: the second decoding finds nothing, serde_json's error stands.
        let text = r#"{"id": "e", "at": "2026-05-01T10:00:00Z", "type": "void", "hold": "h", "hold": "h"}"#;
        let (line, column, message) = syntax_error(text);
        assert_eq!((line, column, message.as_str()), (1, 83, "duplicate field `hold`"));
    }

    #[test]
    fn unknown_field_of_an_advance_points_at_its_name() {
        // The name also occurs earlier as a value: the key is found, not the text.
        let text = "{\"id\": \"colour\", \"at\": \"2026-05-01T10:00:00Z\", \"type\": \"advance\",\n \"colour\": 1}";
        assert_eq!(syntax_error(text), (2, 2, "colour: unknown field `colour` for an advance event".to_owned()));
    }

    #[test]
    fn mangled_events_get_positioned_errors_and_never_panic() {
        let text = "{\"id\": \"s\\u0031\", \"at\": \"2026-05-01T10:00:00Z\", \"type\": \"purchase\", \"lines\": [\n  \
                    {\"sku\": \"caf\u{e9}\", \"category\": \"c\", \"quantity\": \"1\", \"unit_price\": 2}],\n \
                    \"order\": \"o\", \"store\": null}";
        assert!(Event::from_json_str(text).is_ok());
        let mut texts: Vec<String> = (0..text.len()).filter_map(|i| text.get(..i)).map(str::to_owned).collect();
        for (i, _) in text.char_indices() {
            for with in ["\"", "}", "]", "1", " ", "x", "\\", ",", "{\"a\":[", "\u{e9}"] {
                texts.push(format!("{}{with}{}", &text[..i], &text[i..]));
                let rest = &text[i..];
                let next = rest.chars().next().map_or(0, char::len_utf8);
                texts.push(format!("{}{with}{}", &text[..i], &rest[next..]));
            }
        }
        for text in texts {
            match Event::from_json_str(&text) {
                Ok(_) => {}
                // The errors positioned here have a field path (`field: ...`) and a column from 1;
                // serde_json's own syntax errors at a line break are on column 0 (see error.rs).
                Err(Error::EventSyntax { line, column, message }) => {
                    assert!(line >= 1 && (column >= 1 || !message.contains(": ")), "{text}: {message}")
                }
                Err(e) => panic!("{text}: {e:?}"),
            }
        }
    }

    #[test]
    fn locate_follows_keys_and_indices() {
        let key = |k: &str| Step::Key(k.to_owned());
        let text = r#" {"a": "}]\"{", "b": {"c": 4}, "l": [1, {"x": [2, "]"]}, [3]]}"#;
        let at = |steps: &[Step]| locate(text, steps).map(|(value, key)| (&text[value..], key.map(|k| &text[k..])));
        assert_eq!(at(&[]), Some((text.trim_start(), None)));
        assert_eq!(at(&[key("a")]), Some((&text[7..], Some(&text[2..]))));
        assert_eq!(at(&[key("b"), key("c")]).map(|(v, k)| (&v[..2], k.map(|k| &k[..4]))), Some(("4}", Some("\"c\":"))));
        let value = |steps: &[Step]| locate(text, steps).map(|(value, _)| &text[value..]);
        assert_eq!(value(&[key("l"), Step::Index(1), key("x"), Step::Index(1)]), Some(r#""]"]}, [3]]}"#));
        assert_eq!(value(&[key("l"), Step::Index(2), Step::Index(0)]), Some("3]]}"));
        for missing in [
            vec![key("l"), Step::Index(3)],
            vec![key("nope")],
            vec![key("a"), Step::Index(0)],
            vec![key("b"), key("c"), key("d")],
        ] {
            assert_eq!(locate(text, &missing), None, "{missing:?}");
        }
        // An escaped key matches its decoded text; of a key given twice, the last counts.
        let text = r#"{"b\u0063": 1, "bc": 2}"#;
        assert_eq!(locate(text, &[key("bc")]).map(|(v, k)| (&text[v..v + 1], k)), Some(("2", Some(15))));
        let text = r#"{"b\u0063": 1}"#;
        assert_eq!(locate(text, &[key("bc")]), Some((12, Some(1))));
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
