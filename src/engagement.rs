//! Engagement: points for what members do besides buying, birthdays,
//! goodwill with limits, and the signals a host needs to talk to members at
//! the right moment.
//!
//! ```
//! let program = loyalty::Program::from_toml_str(r#"
//! id = "shop"
//! currency = "RUB"
//! time_zone = "Europe/Moscow"
//!
//! [[activities]]
//! id = "review"
//! name = "Product review"
//! points = 50
//! max_per_month = 5
//!
//! [adjust_reasons.goodwill]
//! max_per_month = 500
//! expires_after = { days = 90 }
//!
//! [birthday]
//! points = 150
//!
//! [signals]
//! expiring_within = { days = 30 }
//! at_risk_after = { days = 90 }
//! lapsed_after = { days = 180 }
//! "#).unwrap();
//! let mut m = program.enroll("m", "2026-05-01T10:00:00Z".parse().unwrap(), Default::default()).unwrap();
//! let review = loyalty::Event::from_json_str(
//!     r#"{"id":"r1","at":"2026-05-02T10:00:00Z","type":"activity","name":"review"}"#).unwrap();
//! let receipt = program.apply(&mut m, &review).unwrap().receipt;
//! assert_eq!(receipt.explanations[0].text, "Product review: +50");
//! ```

use serde::{Deserialize, Serialize};

use crate::number::Points;
use crate::time::Period;

/// Points for an `activity` event (a review, an app install), with limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityRule {
    /// The activity's `name` in events; also the rule id in receipts.
    pub id: String,
    /// A name for people; defaults to the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Points (units) per activity.
    pub points: Points,
    /// At most this many rewarded a local day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_day: Option<u32>,
    /// At most this many rewarded a local calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_month: Option<u32>,
    /// At most this many rewarded ever (1: once, like an app install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ever: Option<u32>,
}

/// Limits and expiry of credits (`adjust` with positive points) made for one
/// reason code, such as goodwill after a service failure.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustReason {
    /// At most this many points (units) credited for the reason a local
    /// calendar month; a credit beyond it is cut, and the receipt says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_month: Option<Points>,
    /// Credits for the reason expire this long after they are made,
    /// instead of by the program's expiry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<Period>,
}

/// Points on the member's birthday (the profile's `birth_date`; 29 February
/// counts as 28 February in common years), credited at the start of the
/// local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirthdayBonus {
    /// Points (units).
    pub points: Points,
    /// A name for people. Default "Birthday bonus".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// When receipts carry signals about time passing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    /// A `points_expiring` signal when a lot comes within this of its expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring_within: Option<Period>,
    /// An `at_risk` signal when this long has passed since the last purchase
    /// (or enrolment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_risk_after: Option<Period>,
    /// A `lapsed` signal when this long has passed since the last purchase
    /// (or enrolment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapsed_after: Option<Period>,
}

impl SignalSpec {
    pub(crate) fn is_empty(&self) -> bool {
        self == &SignalSpec::default()
    }
}

/// Whether an earn rule applies only on the member's birthday or in its month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BirthdayWhen {
    /// On the birthday (local date; 29 February counts as 28 February in common years).
    Day,
    /// In the birthday's calendar month.
    Month,
}
