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

//!
//! Every table, in one program (each is optional):
//!
//! ```
//! let program = loyalty::Program::from_toml_str(r#"
//! id = "shop"
//! currency = "RUB"
//! time_zone = "Europe/Moscow"
//! categories = ["food", "fuel"]
//! partners = ["fuel-co"]              # purchases with "partner": "fuel-co"
//!
//! [signup]                            # credited by the enroll event
//! points = 200
//! expires_after = { days = 30 }
//! first_order_only = true
//!
//! [referral]                          # enroll with "referred_by"
//! min_order = "1000"
//! referee_points = 300
//! referrer_points = 300
//! max_per_referrer = { count = 10, per = "year" }
//!
//! [[challenges]]
//! id = "three-in-30"
//! name = "3 purchases in 30 days"
//! kind = "count"                      # or "sum", "weekly_streak"
//! target = "3"
//! within = { days = 30 }
//! min_order = "100"
//! points = 300
//! badge = "regular"
//! max_completions = { count = 1, per = "month" }
//!
//! [[promotions]]                      # a choose_promotion event picks the day
//! id = "double-day"
//! max = { count = 1, per = "month" }
//!
//! [transfers]                         # transfer_out, then transfer_in on the receiver
//! min_points = 10
//! max_out_per_month = 1000
//!
//! [[campaigns]]                       # earn rules: when.variants = ["spring/b"]
//! id = "spring"
//! variants = [{ id = "a" }, { id = "b", weight = 2 }]
//!
//! [[earn]]
//! id = "double-day"
//! kind = "fixed"
//! points = 50
//! when.chosen = "double-day"
//!
//! [[earn]]
//! id = "fuel"
//! kind = "per_amount"
//! points = 1
//! per = "20"
//! when.partners = ["fuel-co"]
//! "#).unwrap();
//! assert_eq!(program.spec().challenges[0].id, "three-in-30");
//! ```
//!
//! Facts that concern two members are two events: the referred member's
//! receipt signals `referral_qualified` and the host applies
//! `referral_reward` to the referrer (send it only after that signal: the
//! referrer's state cannot check the other member's purchase); a
//! `transfer_out` receipt signals `transfer_sent` and the host applies
//! `transfer_in`, passing on `expires_at`. A return does not take back a
//! referral bonus or a challenge already completed.

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

/// A two-sided referral: when a referred member's purchase first reaches
/// `min_order`, the new member gets `referee_points` and the receipt carries
/// a `referral_qualified` signal; the host then applies a `referral_reward`
/// event to the referrer, who gets `referrer_points` unless their limit for
/// the period is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralSpec {
    /// The least order (net amount of its lines) that qualifies.
    #[serde(default = "zero")]
    pub min_order: crate::Amount,
    /// Points for the new member.
    pub referee_points: Points,
    /// Points for the referrer.
    pub referrer_points: Points,
    /// At most this many rewarded referrals per referrer in a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_referrer: Option<crate::reward::PerPeriod>,
}

fn zero() -> crate::Amount {
    crate::Amount::ZERO
}

/// Points for joining: credited by the `enroll` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupBonus {
    /// Points (units).
    pub points: Points,
    /// A name for people. Default "Welcome bonus".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The bonus expires this long after enrolment, instead of by the
    /// program's expiry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<Period>,
    /// The bonus pays only for the first order: what is left of it when the
    /// member's first purchase is recorded is forfeited then (held points
    /// stay for their capture).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_order_only: bool,
}

/// A promotion members choose for themselves ("pick your Double-Points
/// day"): a `choose_promotion` event names the local date, and earn rules
/// with `when.chosen = "<id>"` apply on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChosenPromotion {
    /// Promotion id.
    pub id: String,
    /// A name for people; defaults to the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Only members at these tier levels may choose it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// At most this many chosen days in a period (counted by the chosen date). Default once a month.
    #[serde(default = "once_a_month")]
    pub max: crate::reward::PerPeriod,
}

fn once_a_month() -> crate::reward::PerPeriod {
    crate::reward::PerPeriod { count: 1, per: crate::reward::Per::Month }
}

/// Limits on transfers of points between members (family pooling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSpec {
    /// The fewest points one transfer may move. Default 1 unit.
    #[serde(default = "one_point")]
    pub min_points: Points,
    /// At most this many points sent per local calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_out_per_month: Option<Points>,
    /// At most this many points received per local calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_per_month: Option<Points>,
}

fn one_point() -> Points {
    1
}

/// A member's standing in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Earns and burns.
    #[default]
    Active,
    /// Neither earns nor burns until reactivated.
    Suspended,
    /// Gone: the remaining points were forfeited; no event applies any more.
    Closed,
}

impl MemberStatus {
    pub(crate) fn is_active(&self) -> bool {
        *self == MemberStatus::Active
    }
}

/// What a challenge counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeKind {
    /// Purchases within `within` ("3 purchases in 30 days").
    Count,
    /// Money spent (net of line discounts) within `within`.
    Sum,
    /// Weeks in a row (Monday to Sunday, local) with at least one purchase.
    WeeklyStreak,
}

/// A challenge: reach `target` and get `points` (and a badge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// Challenge id; receipts name it.
    pub id: String,
    /// A name for people; defaults to the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What it counts.
    pub kind: ChallengeKind,
    /// How many purchases, how much money, or how many weeks.
    pub target: crate::Amount,
    /// For `count` and `sum`: the window the target must be reached in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Period>,
    /// Points for completing it.
    pub points: Points,
    /// A badge the member keeps for completing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    /// For `count` and `sum`: purchases below this amount (net of line
    /// discounts) do not count. Default: every purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order: Option<crate::Amount>,
    /// At most this many completions in a period (then it stops counting
    /// until the next period). Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completions: Option<crate::reward::PerPeriod>,
}

/// A member's progress in one challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeProgress {
    /// The challenge id.
    pub id: crate::Id,
    /// Counted purchases since the last completion, inside the window: (when, value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<(chrono::DateTime<chrono::Utc>, crate::Amount)>,
    /// For a weekly streak: the Monday of the last week with a purchase, and the weeks in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streak: Option<(chrono::NaiveDate, u32)>,
    /// Completions in the last year (and all, for an `ever` limit, by count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completed: Vec<chrono::DateTime<chrono::Utc>>,
    /// Completions ever.
    #[serde(default)]
    pub total: u32,
}

/// A badge a member earned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Badge {
    /// The badge.
    pub id: crate::Id,
    /// When it was first earned.
    pub at: chrono::DateTime<chrono::Utc>,
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

/// A campaign whose members are split between variants, so offers can be
/// tested: earn rules name a variant in `when.variants` (`"spring/b"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// The campaign id.
    pub id: String,
    /// The variants, with their shares of members.
    pub variants: Vec<Variant>,
}

/// One variant of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The variant id.
    pub id: String,
    /// Its share of members, relative to the other variants' (1 to 10 000). Default 1.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// A member's variant of a campaign, as receipts report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// The campaign.
    pub campaign: crate::Id,
    /// The member's variant.
    pub variant: crate::Id,
}

/// Which of `total` equal slots a member falls in for a campaign: a fixed
/// function of the two ids that no release changes (FNV-1a over the campaign
/// id, a zero byte and the member id, mixed by SplitMix64's finalizer, then
/// scaled to `total` by a 128-bit multiply). Assignments are never stored:
/// every platform and release works out the same one.
///
/// ```
/// let slot = loyalty::engagement::slot("m-42", "spring", 100);
/// assert_eq!(slot, loyalty::engagement::slot("m-42", "spring", 100));
/// assert!(slot < 100);
/// ```
pub fn slot(member: &str, campaign: &str, total: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in campaign.bytes().chain(std::iter::once(0)).chain(member.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    ((u128::from(h) * u128::from(total)) >> 64) as u64
}

/// The variant of `campaign` a member is in.
pub(crate) fn variant_of<'c>(member: &str, campaign: &'c Campaign) -> &'c str {
    let total: u64 = campaign.variants.iter().map(|v| u64::from(v.weight)).sum();
    let mut s = slot(member, &campaign.id, total.max(1));
    for v in &campaign.variants {
        if s < u64::from(v.weight) {
            return &v.id;
        }
        s -= u64::from(v.weight);
    }
    campaign.variants.last().map_or("", |v| v.id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Assignments are part of the format: these must never change.
    #[test]
    fn slots_are_fixed() {
        let got: Vec<u64> = ["m-1", "m-2", "m-3", "анна"].iter().map(|m| slot(m, "spring", 1000)).collect();
        assert_eq!(got, PINNED);
    }

    const PINNED: [u64; 4] = [116, 342, 843, 571];

    #[test]
    fn slots_spread_evenly() {
        let mut counts = [0u32; 4];
        for i in 0..40_000 {
            counts[slot(&format!("member-{i}"), "spring", 4) as usize] += 1;
        }
        for c in counts {
            assert!((9_600..=10_400).contains(&c), "{counts:?}");
        }
    }
}
