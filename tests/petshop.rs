//! Hand-checked scenarios for the Petshop Online sample program
//! (`examples/programs/petshop.toml`).
//!
//! Program facts every number below relies on:
//! * RUB, Europe/Moscow = UTC+3 all year: 13:00 MSK is 10:00Z, local
//!   midnight is 21:00Z the day before;
//! * `base`: 5 % of the order without shipping, as points (1 point = 1 RUB),
//!   floored per order; `birthday-month` adds 1 × base in the birthday month;
//!   Petshop Plus adds 0.5 × each of those while paid;
//! * points available at once, expiring 12 months after they are earned;
//! * 150 points at the start of the birthday (29 Feb → 28 Feb in common years);
//! * reviews 50 points, at most 5 a month; goodwill at most 500 a month,
//!   expiring in 90 days;
//! * at most 3 earning orders and 2 redemptions a day;
//! * signals: expiring 30 days ahead, at risk after 90 days without an
//!   order, lapsed after 180.

use chrono::{DateTime, Utc};
use loyalty::{EntryKind, Error, Event, Member, Profile, Program, Receipt};
use serde_json::{json, Value};

const PROGRAM: &str = include_str!("../examples/programs/petshop.toml");

fn program() -> Program {
    Program::from_toml_str(PROGRAM).expect("petshop.toml loads")
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("an RFC 3339 instant")
}

/// A member born on 29 February 1992, enrolled on 1 Mar 2026 10:00 MSK
/// (after that year's birthday).
fn member(p: &Program, id: &str) -> Member {
    let profile = Profile { birth_date: "1992-02-29".parse().ok(), ..Profile::default() };
    p.enroll(id, at("2026-03-01T07:00:00Z"), profile).expect("enroll")
}

fn ok(p: &Program, m: &mut Member, v: Value) -> Receipt {
    let e = Event::from_json_str(&v.to_string()).expect("a valid event");
    let applied = p.apply(m, &e).unwrap_or_else(|err| panic!("event {} refused: {err}", e.id));
    m.check_invariants().unwrap_or_else(|err| panic!("invariants after {}: {err}", e.id));
    Receipt::clone(&applied.receipt)
}

fn refused(p: &Program, m: &mut Member, v: Value) -> Error {
    let e = Event::from_json_str(&v.to_string()).expect("a valid event");
    let before = m.to_json();
    let err = p.apply(m, &e).expect_err("the event must be refused");
    assert_eq!(m.to_json(), before, "a refused event changed the member");
    err
}

/// An order of `food` RUB of food and 300 RUB of shipping.
fn order(id: &str, when: &str, food: &str) -> Value {
    json!({"id": id, "at": when, "type": "purchase", "lines": [
        {"sku": "kibble", "category": "food", "quantity": "1", "unit_price": food},
        {"sku": "ship", "category": "shipping", "quantity": "1", "unit_price": "300"}]})
}

fn advance(id: &str, when: &str) -> Value {
    json!({"id": id, "at": when, "type": "advance"})
}

fn signals(r: &Receipt) -> Value {
    serde_json::to_value(&r.signals).expect("signals serialize")
}

#[test]
fn five_percent_without_shipping() {
    let p = program();
    let mut m = member(&p, "a");
    // 1 234 RUB of food → 5 % = 61.7 → 61; the 300 RUB of shipping earn nothing.
    let r = ok(&p, &mut m, order("o1", "2026-03-15T10:00:00Z", "1234"));
    assert_eq!(r.total(EntryKind::Earn), 61);
    assert_eq!(r.explanations[0].text, "5 % back: +61");
}

#[test]
fn birthday_month_doubles_and_the_birthday_brings_150_at_local_midnight() {
    let p = program();
    let mut m = member(&p, "b");
    // 2027 is a common year: the 29 February birthday is on 28 February,
    // starting 2027-02-28 00:00 MSK = 2027-02-27T21:00Z.
    // (On the way, the unused welcome bonus expired, 30 days after sign-up.)
    let r = ok(&p, &mut m, advance("a1", "2027-02-27T20:59:59Z"));
    assert_eq!(r.entries.iter().map(|e| (e.kind, e.points)).collect::<Vec<_>>(), [(EntryKind::Expire, -200)]);
    // An order on 27 Feb (birthday month): 1 000 → 50 base + 50 birthday month = 100.
    let r = ok(&p, &mut m, order("o1", "2027-02-27T20:59:59Z", "1000"));
    assert_eq!(r.total(EntryKind::Earn), 100);
    assert_eq!(r.explanations[1].text, "Birthday month ×2: +50");
    let r = ok(&p, &mut m, advance("a2", "2027-02-28T09:00:00Z"));
    assert_eq!(r.explanations[0].text, "Happy birthday: +150");
    assert_eq!(r.entries[0].at, at("2027-02-27T21:00:00Z"));
    assert_eq!(r.balances.available, 250);
    // In March the month rule is off: 1 000 → 50.
    let r = ok(&p, &mut m, order("o2", "2027-03-01T10:00:00Z", "1000"));
    assert_eq!(r.total(EntryKind::Earn), 50);
    // 2028 is a leap year: the bonus comes on 29 February (2028-02-28T21:00Z), not on the 28th.
    let r = ok(&p, &mut m, advance("a3", "2028-02-28T20:00:00Z"));
    assert_eq!(r.total(EntryKind::Earn), 0);
    let r = ok(&p, &mut m, advance("a4", "2028-02-29T10:00:00Z"));
    assert_eq!(
        r.entries.iter().map(|e| (e.kind, e.points, e.at)).collect::<Vec<_>>(),
        [(EntryKind::Earn, 150, at("2028-02-28T21:00:00Z"))]
    );
    // Several birthdays passed in one advance each come once: 2029 and 2030.
    let r = ok(&p, &mut m, advance("a5", "2030-03-01T00:00:00Z"));
    let birthdays: Vec<_> = r.entries.iter().filter(|e| e.kind == EntryKind::Earn).map(|e| e.at).collect();
    assert_eq!(birthdays, [at("2029-02-27T21:00:00Z"), at("2030-02-27T21:00:00Z")]);
}

#[test]
fn reviews_earn_50_up_to_five_a_month() {
    let p = program();
    let mut m = member(&p, "c");
    for i in 0..5 {
        let r = ok(
            &p,
            &mut m,
            json!({"id": format!("rv{i}"), "at": "2026-03-10T10:00:00Z", "type": "activity", "name": "review"}),
        );
        assert_eq!(r.total(EntryKind::Earn), 50, "review {i}");
    }
    // The sixth in March earns nothing, and the receipt says why.
    let r = ok(&p, &mut m, json!({"id": "rv5", "at": "2026-03-31T10:00:00Z", "type": "activity", "name": "review"}));
    assert_eq!(r.total(EntryKind::Earn), 0);
    assert_eq!(r.notes, ["Product review: no points, the limit of 5 a month is reached"]);
    // April starts again.
    let r = ok(&p, &mut m, json!({"id": "rv6", "at": "2026-04-01T10:00:00Z", "type": "activity", "name": "review"}));
    assert_eq!(r.total(EntryKind::Earn), 50);
    assert_eq!(m.balances().available, 300);
}

#[test]
fn petshop_plus_multiplies_while_paid_and_lapses_without_renewal() {
    let p = program();
    let mut m = member(&p, "d");
    let r = ok(&p, &mut m, json!({"id": "s1", "at": "2026-03-01T10:00:00Z", "type": "subscribe", "tier": "plus"}));
    assert_eq!(r.tier.as_deref(), Some("plus"));
    assert_eq!(p.tier(&m, m.clock()).unwrap().perks, ["free_delivery"]);
    // 1 000 → 50 base + 0.5 × 50 = 25 → 75.
    let r = ok(&p, &mut m, order("o1", "2026-03-05T10:00:00Z", "1000"));
    assert_eq!(r.total(EntryKind::Earn), 75);
    // Renewed before the end (1 Apr 13:00 MSK): the new month follows, until 1 May 13:00 MSK.
    let r = ok(&p, &mut m, json!({"id": "s2", "at": "2026-03-25T10:00:00Z", "type": "subscribe", "tier": "plus"}));
    assert_eq!(r.notes, ["subscription 'plus' paid until 2026-05-01 13:00:00 MSK"]);
    let r = ok(&p, &mut m, advance("a1", "2026-05-01T09:59:59Z"));
    assert_eq!(r.tier.as_deref(), Some("plus"));
    // Not renewed again: it lapses at 2026-05-01T10:00Z.
    let r = ok(&p, &mut m, advance("a2", "2026-05-02T10:00:00Z"));
    assert_eq!(r.tier.as_deref(), Some("member"));
    assert_eq!(
        signals(&r),
        json!([{"type": "tier_down", "at": "2026-05-01T10:00:00Z", "from": "plus", "to": "member"}])
    );
    let r = ok(&p, &mut m, order("o2", "2026-05-03T10:00:00Z", "1000"));
    assert_eq!(r.total(EntryKind::Earn), 50);
    assert!(p.tier(&m, m.clock()).unwrap().perks.is_empty());
    // Subscribing to a level that is not a subscription is refused.
    let err =
        refused(&p, &mut m, json!({"id": "s3", "at": "2026-05-04T10:00:00Z", "type": "subscribe", "tier": "member"}));
    assert!(err.to_string().contains("not a subscription"), "{err}");
}

#[test]
fn sleeping_members_are_signalled_at_90_and_180_days() {
    let p = program();
    let mut m = member(&p, "e");
    ok(&p, &mut m, order("o1", "2026-03-10T10:00:00Z", "1000"));
    // 89 days later: nothing yet.
    let r = ok(&p, &mut m, advance("a1", "2026-06-07T10:00:00Z"));
    assert!(r.signals.is_empty());
    // 90 days after 10 Mar 13:00 MSK is 8 Jun 13:00 MSK = 10:00Z.
    let r = ok(&p, &mut m, advance("a2", "2026-06-08T10:00:00Z"));
    assert_eq!(
        signals(&r),
        json!([{"type": "at_risk", "since": "2026-03-10T10:00:00Z", "at": "2026-06-08T10:00:00Z"}])
    );
    // Said once: the next advance is quiet.
    let r = ok(&p, &mut m, advance("a3", "2026-07-01T10:00:00Z"));
    assert!(r.signals.is_empty());
    // 180 days: 6 Sep 13:00 MSK.
    let r = ok(&p, &mut m, advance("a4", "2026-09-10T10:00:00Z"));
    assert_eq!(signals(&r), json!([{"type": "lapsed", "since": "2026-03-10T10:00:00Z", "at": "2026-09-06T10:00:00Z"}]));
    // An order restarts the clock.
    ok(&p, &mut m, order("o2", "2026-09-11T10:00:00Z", "1000"));
    let r = ok(&p, &mut m, advance("a5", "2026-12-10T10:00:00Z"));
    assert_eq!(
        signals(&r),
        json!([{"type": "at_risk", "since": "2026-09-11T10:00:00Z", "at": "2026-12-10T10:00:00Z"}])
    );
}

#[test]
fn points_expiring_within_30_days_are_signalled_once() {
    let p = program();
    let mut m = member(&p, "f");
    // 50 points earned 15 Mar 2026 13:00 MSK expire 15 Mar 2027 13:00 MSK; the
    // warning is due 30 days before: 13 Feb 2027 13:00 MSK.
    ok(&p, &mut m, order("o1", "2026-03-15T10:00:00Z", "1000"));
    // (This long without an order, the member is at risk and lapsed as well.)
    let r = ok(&p, &mut m, advance("a1", "2027-02-13T09:59:59Z"));
    assert_eq!(
        signals(&r).as_array().unwrap().iter().map(|s| s["type"].clone()).collect::<Vec<_>>(),
        [json!("at_risk"), json!("lapsed")]
    );
    let r = ok(&p, &mut m, advance("a2", "2027-02-13T10:00:00Z"));
    assert_eq!(signals(&r), json!([{"type": "points_expiring", "points": 50, "at": "2027-03-15T10:00:00Z"}]));
    let r = ok(&p, &mut m, advance("a3", "2027-02-20T10:00:00Z"));
    assert!(r.signals.is_empty());
}

#[test]
fn three_earning_orders_and_two_redemptions_a_day() {
    let p = program();
    let mut m = member(&p, "g");
    for i in 0..3 {
        let r = ok(&p, &mut m, order(&format!("o{i}"), "2026-03-10T10:00:00Z", "1000"));
        assert_eq!(r.total(EntryKind::Earn), 50);
    }
    let r = ok(&p, &mut m, order("o3", "2026-03-10T11:00:00Z", "1000"));
    assert_eq!(r.total(EntryKind::Earn), 0);
    assert_eq!(r.notes, ["no points: the limit of 3 earning purchases a day is reached"]);
    for i in 0..2 {
        ok(&p, &mut m, json!({"id": format!("r{i}"), "at": "2026-03-10T12:00:00Z", "type": "redeem", "points": 10}));
    }
    let err = refused(&p, &mut m, json!({"id": "r2", "at": "2026-03-10T12:00:00Z", "type": "redeem", "points": 10}));
    assert!(matches!(err, Error::BurnRefused { .. }), "{err:?}");
}

#[test]
fn goodwill_is_capped_at_500_a_month_and_expires_in_90_days() {
    let p = program();
    let mut m = member(&p, "h");
    let goodwill = |id: &str, when: &str, points: i64| json!({"id": id, "at": when, "type": "adjust", "points": points, "reason": "goodwill", "note": "late delivery"});
    let r = ok(&p, &mut m, goodwill("g1", "2026-03-05T10:00:00Z", 300));
    assert_eq!(r.total(EntryKind::Adjust), 300);
    // 90 days after 5 Mar 13:00 MSK: 3 Jun 13:00 MSK.
    let goodwill_lot = m.lots().iter().find(|l| l.origin == loyalty::LotOrigin::Adjust).unwrap();
    assert_eq!(goodwill_lot.expires_at, Some(at("2026-06-03T10:00:00Z")));
    // 300 more in March: only 200 fit under 500.
    let r = ok(&p, &mut m, goodwill("g2", "2026-03-20T10:00:00Z", 300));
    assert_eq!(r.total(EntryKind::Adjust), 200);
    assert_eq!(r.notes, ["goodwill: 200 of 300 points credited, the limit of 500 a month is reached"]);
    // Nothing left in March: the event succeeds, credits nothing, and says so.
    let r = ok(&p, &mut m, goodwill("g3", "2026-03-31T10:00:00Z", 100));
    assert!(r.entries.iter().all(|e| e.kind != EntryKind::Adjust));
    assert_eq!(r.notes, ["goodwill: 0 of 100 points credited, the limit of 500 a month is reached"]);
    // April: a new month.
    let r = ok(&p, &mut m, goodwill("g4", "2026-04-01T10:00:00Z", 100));
    assert_eq!(r.total(EntryKind::Adjust), 100);
    // Goodwill is credited, not earned (the 200 earned are the welcome bonus).
    assert_eq!((m.totals().credited, m.totals().earned), (600, 200));
    // Other reasons have no cap.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "c1", "at": "2026-04-02T10:00:00Z", "type": "adjust", "points": 900, "reason": "correction"}),
    );
    assert_eq!(r.total(EntryKind::Adjust), 900);
}

#[test]
fn a_referral_pays_both_sides_on_the_first_order_of_1000() {
    let p = program();
    let enroll = |id: &str, by: &str| {
        Event::from_json_str(
            &json!({"id": format!("enroll:{id}"), "at": "2026-03-01T07:00:00Z", "type": "enroll", "member": id,
                    "referred_by": by})
            .to_string(),
        )
        .unwrap()
    };
    let (mut new, _) = p.start(&enroll("newbie", "rita")).unwrap();
    // 900 RUB of food + 300 shipping = 1 200 ≥ 1 000: the order qualifies
    // (5 % of 900 = 45, plus the 300 referral bonus).
    let r = ok(&p, &mut new, order("o1", "2026-03-02T10:00:00Z", "900"));
    assert_eq!(r.total(EntryKind::Earn), 345);
    assert_eq!(signals(&r), json!([{"type": "referral_qualified", "referrer": "rita", "referee": "newbie"}]));
    // Only once.
    let r = ok(&p, &mut new, order("o2", "2026-03-03T10:00:00Z", "2000"));
    assert_eq!((r.total(EntryKind::Earn), r.signals.len()), (100, 0));
    // A first order below 1 000 does not qualify; a later one does.
    let (mut small, _) = p.start(&enroll("small", "rita")).unwrap();
    let r = ok(&p, &mut small, order("o1", "2026-03-02T10:00:00Z", "600"));
    assert_eq!((r.total(EntryKind::Earn), r.signals.len()), (30, 0));
    let r = ok(&p, &mut small, order("o2", "2026-03-05T10:00:00Z", "800"));
    assert_eq!(r.total(EntryKind::Earn), 40 + 300);
    // Self-referral is refused at enrolment.
    let err = p.start(&enroll("narcissus", "narcissus")).unwrap_err();
    assert!(err.to_string().contains("cannot refer themselves"), "{err}");
}

#[test]
fn a_referrer_is_rewarded_for_at_most_ten_referrals_a_calendar_year() {
    let p = program();
    let mut rita = member(&p, "rita");
    let reward = |n: usize, when: &str| json!({"id": format!("rr{n}"), "at": when, "type": "referral_reward", "referee": format!("friend-{n}")});
    for n in 0..10 {
        let r = ok(&p, &mut rita, reward(n, "2026-06-01T10:00:00Z"));
        assert_eq!(r.explanations[0].text, format!("Referral of friend-{n}: +300"));
    }
    // The eleventh in 2026 brings nothing, and says why.
    let r = ok(&p, &mut rita, reward(10, "2026-12-31T20:00:00Z"));
    assert!(r.entries.is_empty());
    assert_eq!(r.notes, ["referral of 'friend-10': no points, the limit of 10 rewarded referrals a year is reached"]);
    // 1 Jan 2027 00:00 MSK is 2026-12-31T21:00Z: a new year.
    let r = ok(&p, &mut rita, reward(11, "2026-12-31T21:00:00Z"));
    assert_eq!(r.total(EntryKind::Earn), 300);
    assert_eq!(m_available(&rita), 11 * 300);
    // The same referee twice, and oneself, are refused.
    let err = refused(
        &p,
        &mut rita,
        json!({"id": "dup", "at": "2027-01-02T10:00:00Z", "type": "referral_reward", "referee": "friend-3"}),
    );
    assert!(err.to_string().contains("already rewarded"), "{err}");
    let err = refused(
        &p,
        &mut rita,
        json!({"id": "me", "at": "2027-01-02T10:00:00Z", "type": "referral_reward", "referee": "rita"}),
    );
    assert!(err.to_string().contains("cannot refer themselves"), "{err}");
}

fn m_available(m: &Member) -> i64 {
    m.balances().available
}

#[test]
fn the_welcome_bonus_pays_only_for_the_first_order_within_30_days() {
    let p = program();
    // Enrolled 1 Mar 10:00 MSK: 200 points, expiring 31 Mar 10:00 MSK (07:00Z).
    let mut a = member(&p, "w1");
    assert_eq!(a.balances().available, 200);
    assert_eq!(a.lots()[0].expires_at, Some(at("2026-03-31T07:00:00Z")));
    // Paid with it: hold 200 for the first order, the order, then the capture.
    ok(&p, &mut a, json!({"id": "h1", "at": "2026-03-05T10:00:00Z", "type": "hold", "points": 200, "order": "o1"}));
    let mut first = order("o1", "2026-03-05T10:01:00Z", "1000");
    first["order"] = json!("o1");
    let r = ok(&p, &mut a, first);
    assert!(r.entries.iter().all(|e| e.kind != EntryKind::Expire), "held points are not forfeited");
    let r = ok(&p, &mut a, json!({"id": "c1", "at": "2026-03-05T10:02:00Z", "type": "capture", "hold": "h1"}));
    assert_eq!(r.total(EntryKind::Burn), -200);
    // Not used: the first order forfeits it, and says why.
    let mut b = member(&p, "w2");
    let r = ok(&p, &mut b, order("o1", "2026-03-05T10:00:00Z", "1000"));
    let forfeit: Vec<_> = r.entries.iter().filter(|e| e.kind == EntryKind::Expire).collect();
    assert_eq!(forfeit.len(), 1);
    assert_eq!(
        (forfeit[0].points, forfeit[0].reason.as_str()),
        (-200, "welcome bonus: usable only on the first order")
    );
    assert_eq!(r.balances.available, 50);
    // No order in 30 days: it expires then.
    let mut c = member(&p, "w3");
    let r = ok(&p, &mut c, advance("a1", "2026-04-01T00:00:00Z"));
    assert_eq!(
        r.entries.iter().map(|e| (e.kind, e.points, e.at)).collect::<Vec<_>>(),
        [(EntryKind::Expire, -200, at("2026-03-31T07:00:00Z"))]
    );
}

#[test]
fn an_order_past_the_daily_limit_earns_nothing_but_can_still_be_returned() {
    let p = program();
    let mut m = member(&p, "lim");
    for i in 0..4 {
        ok(&p, &mut m, order(&format!("o{i}"), "2026-03-10T10:00:00Z", "1000"));
    }
    // The fourth earned nothing; its lines are kept, so a return of one of them works.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "r1", "at": "2026-03-11T10:00:00Z", "type": "return", "purchase": "o3",
        "lines": [{"line": 0}]}),
    );
    assert_eq!(r.total(EntryKind::Reverse), 0);
    assert_eq!(m.purchases().iter().find(|p| p.event.as_str() == "o3").unwrap().lines.len(), 2);
}
