//! The rewards catalog: what members take for their points, who may, how
//! often, while stock and budget last, and the life of what they took.
//!
//! A `redeem_reward` event takes a reward for its `cost` in points (oldest-
//! expiring first) and issues it; `use_reward` marks an issued reward used
//! (at the till, at the class), `cancel_reward` cancels it (points restored
//! if the reward says so); an issued reward not used by its `expires_after`
//! expires. Stock ("12 seats a month") and campaign budgets are counters the
//! host shares between members and machines: [`Counters`]. The engine asks
//! for them last, after every other check has passed, so a refused event
//! takes nothing, and the result is deterministic given the counters'
//! answers. [`MemoryCounters`] keeps them in memory for tests, simulations
//! and single-process hosts.
//!
//! ```
//! use loyalty::{Event, MemoryCounters, Program};
//! let program = Program::from_toml_str(r#"
//! id = "cafe"
//! currency = "RUB"
//! time_zone = "Europe/Moscow"
//! [[rewards]]
//! id = "master-class"
//! name = "Barista master class"
//! kind = "experience"
//! cost = 400
//! stock = { limit = 12, per = "month" }
//! "#).unwrap();
//! let mut m = program.enroll("m", "2026-12-01T07:00:00Z".parse().unwrap(), Default::default()).unwrap();
//! let credit = Event::from_json_str(r#"{"id":"c","at":"2026-12-01T08:00:00Z","type":"adjust","points":500,"reason":"welcome"}"#).unwrap();
//! program.apply(&mut m, &credit).unwrap();
//! let take = Event::from_json_str(r#"{"id":"r1","at":"2026-12-02T08:00:00Z","type":"redeem_reward","reward":"master-class"}"#).unwrap();
//! let mut seats = MemoryCounters::default();
//! let receipt = program.apply_with(&mut m, &take, &mut seats).unwrap().receipt;
//! assert_eq!(receipt.balances.available, 100);
//! assert_eq!(seats.get("stock:master-class:2026-12"), 1);
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::number::{Amount, Points};
use crate::time::Period;

/// What a reward is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// Money off an order: `value` in the program's currency.
    FixedDiscount,
    /// A percent off an order: `value` percent.
    PercentDiscount,
    /// A product for free: `sku`.
    FreeItem,
    /// A voucher whose code the host supplies in the `redeem_reward` event.
    Voucher,
    /// Something to attend: a master class, a tasting.
    Experience,
}

/// A calendar period for limits and stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// A local day.
    Day,
    /// A local calendar month.
    Month,
    /// A local calendar year.
    Year,
    /// All time.
    Ever,
}

impl Per {
    /// The period's key for a local date (`2026-12` for a month).
    pub(crate) fn key(self, date: NaiveDate) -> String {
        match self {
            Per::Day => date.format("%Y-%m-%d").to_string(),
            Per::Month => date.format("%Y-%m").to_string(),
            Per::Year => date.format("%Y").to_string(),
            Per::Ever => "ever".to_owned(),
        }
    }

    /// The period in words: "a day", "a month", "a year", "ever".
    pub(crate) fn words(self) -> &'static str {
        match self {
            Per::Day => "a day",
            Per::Month => "a month",
            Per::Year => "a year",
            Per::Ever => "ever",
        }
    }

    /// The period of a date already named: "that day", "that month", …
    pub(crate) fn that(self) -> &'static str {
        match self {
            Per::Day => "that day",
            Per::Month => "that month",
            Per::Year => "that year",
            Per::Ever => "ever",
        }
    }

    /// Whether two local dates fall in the same period.
    pub(crate) fn same(self, a: NaiveDate, b: NaiveDate) -> bool {
        use chrono::Datelike;
        match self {
            Per::Day => a == b,
            Per::Month => (a.year(), a.month()) == (b.year(), b.month()),
            Per::Year => a.year() == b.year(),
            Per::Ever => true,
        }
    }
}

/// At most `count` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerPeriod {
    /// How many.
    pub count: u32,
    /// In which period.
    pub per: Per,
}

/// A shared limit on a reward, kept by the host's [`Counters`] under the key
/// `<what>:<counter>:<period>` (`stock:master-class:2026-12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedLimit {
    /// The counter's name; defaults to the reward id (rewards naming the
    /// same counter share it, as a campaign budget does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<String>,
    /// The most the counter may reach in a period.
    pub limit: i64,
    /// The period the counter restarts with. Default: ever.
    #[serde(default = "ever")]
    pub per: Per,
}

fn ever() -> Per {
    Per::Ever
}

/// A reward of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    /// Reward id; `redeem_reward` events name it.
    pub id: String,
    /// A name for people; defaults to the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What it is.
    pub kind: RewardKind,
    /// Its cost in points (units).
    pub cost: Points,
    /// `fixed_discount`: the money off; `percent_discount`: the percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Amount>,
    /// `free_item`: the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Only members at these tier levels may take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// Only members whose profile attributes have these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// First local date it may be taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Last local date it may be taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// At most this many per member in a period (cancelled ones do not count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_member: Option<PerPeriod>,
    /// Shared stock: one unit per reward taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<SharedLimit>,
    /// Shared budget in points: the reward's cost per reward taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<SharedLimit>,
    /// An issued reward not used within this expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<Period>,
    /// Cancelling an issued reward gives its points back. Default true.
    #[serde(default = "yes")]
    pub cancel_restores_points: bool,
}

fn yes() -> bool {
    true
}

/// Where an issued reward is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardStatus {
    /// Taken, not used yet.
    Issued,
    /// Used.
    Used,
    /// Not used in time.
    Expired,
    /// Cancelled.
    Cancelled,
}

/// A reward a member took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedReward {
    /// The `redeem_reward` event id; `use_reward` and `cancel_reward` name it.
    pub id: crate::Id,
    /// The reward id.
    pub reward: crate::Id,
    /// Points paid.
    pub cost: Points,
    /// The lots they came from (for a cancellation).
    pub takes: Vec<crate::Take>,
    /// The voucher code the host supplied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// When it was taken.
    #[serde(with = "crate::time::instant")]
    pub issued_at: DateTime<Utc>,
    /// When it expires if not used.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Where it is in its life.
    pub status: RewardStatus,
    /// When it was used, expired or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::instant::option")]
    pub closed_at: Option<DateTime<Utc>>,
    /// The shared counters it took from, and how much.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counted: Vec<(String, i64)>,
}

/// Shared counters the host keeps for stock and budgets, across members.
/// The engine calls [`Counters::take`] only after every other check of the
/// event passed, and [`Counters::give_back`] when a reward is cancelled.
pub trait Counters {
    /// Adds `amount` to counter `key` if the result stays at most `limit`;
    /// says whether it did. Must be atomic on the host's side.
    fn take(&mut self, key: &str, amount: i64, limit: i64) -> bool;
    /// Takes `amount` off counter `key` (a cancelled reward gives it back).
    fn give_back(&mut self, key: &str, amount: i64);
}

/// Counters in memory.
///
/// ```
/// use loyalty::Counters;
/// let mut c = loyalty::MemoryCounters::default();
/// assert!(c.take("stock:x:ever", 1, 1));
/// assert!(!c.take("stock:x:ever", 1, 1));
/// c.give_back("stock:x:ever", 1);
/// assert_eq!(c.get("stock:x:ever"), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryCounters(BTreeMap<String, i64>);

impl MemoryCounters {
    /// The value of a counter (0 when never taken from).
    pub fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}

impl Counters for MemoryCounters {
    fn take(&mut self, key: &str, amount: i64, limit: i64) -> bool {
        let v = self.0.entry(key.to_owned()).or_insert(0);
        match v.checked_add(amount) {
            Some(next) if next <= limit => {
                *v = next;
                true
            }
            _ => false,
        }
    }

    fn give_back(&mut self, key: &str, amount: i64) {
        let v = self.0.entry(key.to_owned()).or_insert(0);
        *v = v.saturating_sub(amount);
    }
}
