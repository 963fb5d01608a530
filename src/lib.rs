//! `loyalty`: an embeddable loyalty-program rules engine.
//!
//! A host (a POS terminal, a shop backend, a Rust service) loads a
//! [`Program`] once, keeps one [`Member`] state per member, and calls
//! [`Program::apply`] once per [`Event`]. The engine answers, exactly and
//! deterministically, how many points moved, why, and what the balances are
//! now, in a [`Receipt`].
//!
//! ```
//! use loyalty::{Event, Program};
//!
//! let program = Program::from_toml_str(r#"
//!     id = "corner-coffee"
//!     currency = "RUB"
//!     time_zone = "Europe/Moscow"
//!     categories = ["coffee", "food", "alcohol"]
//!     pending = { hours = 24 }
//!     earning_base.exclude_categories = ["alcohol"]
//!
//!     [[earn]]
//!     id = "base"
//!     name = "1 point per 10 RUB"
//!     kind = "per_amount"
//!     points = 1
//!     per = "10"
//! "#)?;
//!
//! let mut member = program.enroll("m-42", "2026-12-01T08:00:00Z".parse().unwrap(), Default::default())?;
//! let sale = Event::from_json_str(r#"{
//!     "id": "pos-7/1001", "at": "2026-12-15T09:30:00Z", "type": "purchase",
//!     "lines": [
//!         {"sku": "latte", "category": "coffee", "quantity": "2", "unit_price": "245.00"},
//!         {"sku": "wine",  "category": "alcohol", "quantity": "1", "unit_price": "900.00"}
//!     ]}"#)?;
//! let receipt = program.apply(&mut member, &sale)?.receipt;
//! assert_eq!(receipt.explanations[0].text, "1 point per 10 RUB: +49");   // 490 RUB, wine excluded
//! assert_eq!(member.balances().pending, 49);                            // available in 24 hours
//! # Ok::<(), loyalty::Error>(())
//! ```
//!
//! # Principles
//!
//! * **Pure and deterministic.** The engine reads no clock, no randomness, no
//!   environment and no files. Time comes in with each event. No hash-map
//!   order reaches state or output.
//! * **Exact.** Money is decimal ([`Amount`]); points are `i64` integers in
//!   the program's smallest point unit ([`Points`]). Every rounding is named
//!   by the program. Overflow is an error.
//! * **Atomic.** [`Program::apply`] changes the member in place and keeps an
//!   undo log: on any error the member is put back exactly as it was.
//! * **Idempotent.** Re-applying an event id with the same payload returns
//!   the original receipt; with another payload it is an error.
//! * **Explainable.** Every rule that moved points has a line in the receipt.
//!
//! # The ledger
//!
//! Points live in [`Lot`]s. A lot is pending until its `available_at`, and
//! expires at its `expires_at`: points are usable strictly before that
//! instant, and at that instant they expire. Burns take free points from
//! lots ordered by `(expires_at, seq)`, never-expiring lots last. Holds
//! reserve points inside their lots; a reserved point is honoured by its
//! capture even if its lot reaches its expiry meanwhile, and expires when the
//! hold is voided or times out. Activation, expiry and hold time-outs happen
//! lazily at the next event (at their own instants) or through an `advance`
//! event.
//!
//! Invariants, checked after every event in debug builds and by the
//! property tests ([`Member::check_invariants`]):
//!
//! * `0 ≤ held ≤ remaining ≤ amount` for every lot; pending lots hold nothing;
//! * `posted = pending + held + available`, with `available` negative only by
//!   a debt;
//! * conservation: `earned + credited + refunded = posted + burned + debited
//!   + expired + reversed` ([`Totals`]);
//! * points reversed against a purchase line never exceed what it earned;
//!   points refunded to a burn never exceed it;
//! * a debt is owed only while no free points exist.
//!
//! # Returns
//!
//! A purchase's points are split over its lines (each rule's points in
//! proportion to its exact per-line points, largest remainder first). A
//! return of `q` of `Q` units of a line takes back `floor(points × returned /
//! Q)` cumulatively, and everything once the line is fully returned. First,
//! points that paid for the returned order (redeem or capture naming the
//! order) come back in the proportion of the money returned, with the expiry
//! of the lots they came from. Then the points earned on the returned lines
//! are taken back: first from the purchase's own lot (cancelling them while
//! pending), then from other available points (those just given back
//! included), then from other pending points; what is still missing becomes
//! a negative balance where `limits.allow_negative_balance` is set, else a
//! `shortfall` in the receipt for the host to settle.
//!
//! # Time
//!
//! Calendar logic runs in the program's IANA zone. An event older than the
//! member's clock is accepted within `limits.late_window` (at most 31 days)
//! and its rules, caps, pending and expiry are evaluated at its own instant;
//! balances are those at the member's clock. A local time inside a DST gap
//! resolves to the first instant after the gap; one inside an overlap, to the
//! earlier instant.
//!
//! # Bounds
//!
//! A member state stays small however long the member lives: spent and
//! expired lots are dropped; closed holds are kept for the late window;
//! purchase and burn records for the return window; daily counters from the
//! first day of the month of the oldest instant the late window accepts;
//! event ids up to `limits.remember_events` (default 1 000) and receipts up to
//! `limits.keep_receipts` (default 1). The member keeps the latest instant
//! of the events it forgot, and an event at or before that instant is
//! refused as too late, so a forgotten id can never be applied twice (late
//! events included; more than `remember_events` events at one instant
//! cannot all be applied).
//!
//! Money is computed exactly in 128-bit integers (10⁻¹² of a currency unit).
//! A line's `unit_price × quantity` may need at most 12 decimal places, and a
//! line's and a basket's amount must stay below 10¹⁵; an event past these
//! bounds is refused with `Error::InvalidEvent` naming the field.
//!
//! # Design notes
//!
//! # Beyond points
//!
//! * [`tier`]: levels reached by spend, points, purchases, a counter or a
//!   script, kept for a status period, with multipliers, perks, exemption
//!   from expiry, hand-set floors and paid subscriptions.
//! * [`reward`]: the rewards catalog, with eligibility, per-member limits,
//!   stock and budgets kept by the host's shared [`Counters`].
//! * [`engagement`]: welcome and birthday bonuses, referrals, activities,
//!   challenges and badges, member-chosen promotions, goodwill limits,
//!   transfers, A/B campaign variants, and time signals.
//! * [`analytics`]: retention, churn, lifetime value, RFM, NPS, breakage,
//!   liability and the IFRS 15 deferred-revenue schedule over an event log.
//! * [`Program::lint`]: warnings about a program that loads but will not do
//!   what its designer meant (unreachable tiers, dead rules, look-alike names).
//! * `testing` (feature `testing`): a property-test kit that checks a
//!   program against the engine's invariants and the designer's properties.
//!
//! Around the crate: `loyalty-cli` (the `loyalty` command), `loyalty-sim`
//! (a seeded generator of member behaviour and what-if replays) and
//! `loyalty-ffi` (the C ABI).
//!
//! See `docs/design.md` in the repository for the reasons behind these
//! choices and where they depart from the founding design.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod analytics;
mod earn;
pub mod engagement;
mod engine;
mod error;
mod event;
mod lint;
mod member;
mod member_check;
mod number;
mod pack;
mod program;
mod receipt;
pub mod reward;
pub mod script;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tier;
mod time;
mod zone;

pub use engagement::{
    ActivityRule, AdjustReason, Assignment, Badge, BirthdayBonus, BirthdayWhen, Campaign, Challenge, ChallengeKind,
    ChallengeProgress, ChosenPromotion, MemberStatus, ReferralSpec, SignalSpec, SignupBonus, TransferSpec, Variant,
};
pub use engine::{Applied, Quote, EARLIEST, LATEST};
pub use error::{Error, Result};
pub use event::{
    Activity, Adjust, AssignTier, Basket, CancelReward, Capture, ChoosePromotion, Enroll, Event, EventKind, Hold, Line,
    Profile, Purchase, Redeem, RedeemReward, ReferralReward, Return, ReturnLine, StatusChange, Subscribe, TransferIn,
    TransferOut, UseReward, Void, ID_LEN_MAX, LINES_MAX,
};
pub use lint::Warning;
pub use member::{
    BurnRecord, DayCount, HoldRecord, HoldStatus, LineRecord, Lot, LotOrigin, Member, Processed, PurchaseRecord, Take,
    Totals, MEMBER_FORMAT,
};
pub use number::{format_points, Amount, AmountError, Points, RoundAt, Rounding};
pub use program::{
    BurnRule, Caps, Conditions, EarnKind, EarnRule, EarningBase, ExpiryFrom, ExpiryKind, ExpirySpec, Limits,
    PointsSpec, Program, ProgramSpec, Stacking, CATEGORIES_MAX, LATE_WINDOW_DAYS_MAX, POINT_SCALE_MAX, RULES_MAX,
};
pub use receipt::{Balances, Entry, EntryKind, Expiring, Explanation, Id, QuotedRule, Receipt, Signal, Text};
pub use reward::{
    Counters, IssuedReward, MemoryCounters, Per, PerPeriod, Reward, RewardKind, RewardStatus, SharedLimit,
};
pub use tier::{
    Downgrade, NextTier, Subscription, TierChange, TierDay, TierHold, TierLevel, TierMeasure, TierSpec, TierState,
    TierStatus, TierWindow,
};
pub use time::{Period, RoundTo, TimeOfDay, TimeWindow, Weekday};

/// The README's examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
