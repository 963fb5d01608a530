//! Hand-checked scenarios for the Home & Appliance sample program
//! (`examples/programs/home_appliance.toml`), Start level only (3 %).
//!
//! Program facts every number below relies on:
//! * currency RUB, zone Europe/Moscow = UTC+3 all year (no DST), so 13:00 MSK
//!   is 10:00Z and "N calendar days in Moscow" is N × 24 h here;
//! * 1 point = 1 RUB, whole points; earn 3 % of `unit_price × quantity −
//!   discount` per line, floored per line;
//! * delivery, services and gift_card lines earn nothing; a line discounted
//!   by more than 30 % earns nothing (exactly 30 % earns);
//! * points pending 14 days, then available; they expire 365 days after they
//!   became available;
//! * burn `bonus-roubles`: 1 point pays 1 RUB, step 1, at most 30 % of the
//!   basket without gift-card lines, floored to whole points;
//! * negative balance allowed; return window 365 days.
//!
//! Every apply goes through `ok`/`refused`, which check the ledger invariants
//! (conservation included) after each event and that a refused event leaves
//! the member exactly as it was.

use chrono::{DateTime, Utc};
use loyalty::{Amount, Applied, Entry, EntryKind, Error, Event, Member, Program, Totals};
use serde_json::{json, Value};

const PROGRAM: &str = include_str!("../examples/programs/home_appliance.toml");

fn program() -> Program {
    Program::from_toml_str(PROGRAM).expect("the sample program loads")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 instant")
}

fn amount(text: &str) -> Amount {
    text.parse().expect("an exact amount")
}

/// Enrolls a member on 2026-03-01 08:00Z (11:00 MSK).
fn enroll(p: &Program, id: &str) -> Member {
    let m = p.enroll(id, at("2026-03-01T08:00:00Z"), Default::default()).expect("enroll");
    assert_eq!(m.check_invariants(), Ok(()));
    m
}

/// An event, decoded from JSON text the way a host would.
fn ev(v: Value) -> Event {
    Event::from_json_str(&v.to_string()).expect("the event decodes")
}

/// Applies an event that must succeed; checks the invariants after it.
fn ok(p: &Program, m: &mut Member, v: Value) -> Applied {
    let e = ev(v);
    let applied = p.apply(m, &e).unwrap_or_else(|err| panic!("event '{}' refused: {err}", e.id));
    assert_eq!(m.check_invariants(), Ok(()), "after event '{}'", e.id);
    if !applied.duplicate {
        assert_eq!(applied.receipt.balances, m.balances(), "receipt balances after '{}'", e.id);
    }
    applied
}

/// Applies an event that must be refused; checks that nothing changed.
fn refused(p: &Program, m: &mut Member, v: Value) -> Error {
    let e = ev(v);
    let before = m.clone();
    let err = p.apply(m, &e).expect_err("the event must be refused");
    assert_eq!(*m, before, "a refused event '{}' changed the member", e.id);
    assert_eq!(m.check_invariants(), Ok(()));
    err
}

/// (kind, points, lot) of every entry, for compact comparisons.
fn moves(entries: &[Entry]) -> Vec<(EntryKind, i64, Option<u64>)> {
    entries.iter().map(|e| (e.kind, e.points, e.lot)).collect()
}

fn advance(id: &str, when: &str) -> Value {
    json!({"id": id, "at": when, "type": "advance"})
}

fn line(sku: &str, category: &str, quantity: &str, unit_price: &str) -> Value {
    json!({"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price})
}

fn discounted(sku: &str, category: &str, quantity: &str, unit_price: &str, discount: &str) -> Value {
    json!({"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price, "discount": discount})
}

fn purchase(id: &str, when: &str, lines: Value) -> Value {
    json!({"id": id, "at": when, "type": "purchase", "lines": lines})
}

/// A single TV line: 49 990 × 3 % = 1 499.70 → floor 1 499 points.
fn tv() -> Value {
    json!([line("tv-50", "tv", "1", "49990.00")])
}

/// Checks the conservation identity by hand-known totals:
/// earned + credited + refunded = posted + burned + debited + expired + reversed.
fn assert_totals(m: &Member, expected: Totals, posted: i64) {
    assert_eq!(*m.totals(), expected);
    assert_eq!(m.balances().posted, posted);
    let t = m.totals();
    assert_eq!(t.issued(), posted + t.burned + t.debited + t.expired + t.reversed);
}

#[test]
fn multi_line_basket_earns_three_percent_per_line_rounded_down() {
    let p = program();
    let mut m = enroll(&p, "anna");
    let lines = json!([
        // 0: 1 × 49 990.00 = 49 990.00 × 3 % = 1 499.70 → floor 1 499
        line("tv-50", "tv", "1", "49990.00"),
        // 1: delivery is excluded from the earning base → 0
        line("delivery", "delivery", "1", "990.00"),
        // 2: services are excluded → 0
        line("install", "services", "1", "2500.00"),
        // 3: gift cards are excluded → 0
        line("gift-5000", "gift_card", "1", "5000.00"),
        // 4: discount 3 703.50 / 12 345.00 = exactly 30 % → still earns:
        //    12 345.00 − 3 703.50 = 8 641.50 × 3 % = 259.245 → floor 259
        discounted("soundbar", "audio", "1", "12345.00", "3703.50"),
        // 5: discount 3 100 / 10 000 = 31 % > 30 % → 0 (would have been 6 900 × 3 % = 207)
        discounted("mixer", "kitchen", "1", "10000.00", "3100.00"),
        // 6: 3 × 333.33 = 999.99 × 3 % = 29.9997 → floor 29
        line("hdmi", "accessories", "3", "333.33"),
    ]);

    // A dry run says the same before anything happens.
    let basket: loyalty::Basket = serde_json::from_value(json!({ "lines": lines.clone() })).unwrap();
    let q = p.quote(&m, &basket, at("2026-03-02T10:00:00Z")).unwrap();
    assert_eq!(q.points, 1787); // 1 499 + 259 + 29
    assert_eq!(q.available, 0); // nothing earned yet
    assert_eq!(q.max_burn, 0); // min(available 0, share limit) = 0

    // 2026-03-02 10:00Z = 13:00 MSK.
    let r = ok(&p, &mut m, purchase("web/5001", "2026-03-02T10:00:00Z", lines)).receipt;
    // Per line: 1 499 + 0 + 0 + 0 + 259 + 0 + 29 = 1 787.
    // (Per transaction it would have been floor(1 499.70 + 259.245 + 29.9997)
    //  = floor(1 788.9447) = 1 788: rounding per line loses the fractions of each line.)
    assert_eq!(r.explanations.len(), 1);
    assert_eq!(r.explanations[0].rule, "start-cashback");
    assert_eq!(r.explanations[0].points, 1787);
    assert_eq!(r.explanations[0].text, "Start 3 % bonus roubles: +1787");
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 1787, Some(1))]);
    // Pending 14 Moscow days: 2026-03-02 13:00 MSK + 14 d = 2026-03-16 13:00 MSK.
    assert_eq!(r.entries[0].reason, "earned 1787 points, pending until 2026-03-16 13:00");
    assert_eq!(r.balances.pending, 1787);
    assert_eq!(r.balances.available, 0);
    assert_eq!(r.balances.posted, 1787);

    // The per-line split kept for returns is exactly the per-line points.
    let rec = &m.purchases()[0];
    let per_line: Vec<i64> = rec.lines.iter().map(|l| l.points).collect();
    assert_eq!(per_line, vec![1499, 0, 0, 0, 259, 0, 29]);
    assert_eq!(rec.lines[4].amount, amount("8641.50")); // 12 345.00 − 3 703.50
    assert_eq!(rec.lines[5].amount, amount("6900.00")); // 10 000.00 − 3 100.00
    assert_eq!(rec.lines[6].amount, amount("999.99")); // 3 × 333.33
                                                       // 49 990 + 990 + 2 500 + 5 000 + 8 641.50 + 6 900 + 999.99 = 75 021.49
    assert_eq!(rec.amount, amount("75021.49"));

    // The lot: available at 2026-03-16 10:00Z, expires 365 days later,
    // 2027-03-16 10:00Z (no 29 February in between).
    let lot = &m.lots()[0];
    assert_eq!((lot.amount, lot.remaining, lot.pending), (1787, 1787, true));
    assert_eq!(lot.available_at, at("2026-03-16T10:00:00Z"));
    assert_eq!(lot.expires_at, Some(at("2027-03-16T10:00:00Z")));
    assert_eq!(r.next_expiries.len(), 1);
    assert_eq!(r.next_expiries[0].at, at("2027-03-16T10:00:00Z"));
    assert_eq!(r.next_expiries[0].points, 1787);

    // earned 1 787 = posted 1 787 (all pending).
    assert_totals(&m, Totals { earned: 1787, ..Default::default() }, 1787);
}

#[test]
fn points_pend_fourteen_moscow_days_then_expire_365_days_after_available() {
    let p = program();
    let mut m = enroll(&p, "boris");
    // 2026-03-02 22:30Z = 2026-03-03 01:30 MSK: the local date is a day later than the UTC one.
    let r = ok(&p, &mut m, purchase("web/5002", "2026-03-02T22:30:00Z", tv())).receipt;
    // 49 990 × 3 % = 1 499.70 → floor 1 499.
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 1499, Some(1))]);
    // 2026-03-03 01:30 MSK + 14 calendar days = 2026-03-17 01:30 MSK = 2026-03-16 22:30Z.
    assert_eq!(r.entries[0].reason, "earned 1499 points, pending until 2026-03-17 01:30");
    assert_eq!(m.lots()[0].available_at, at("2026-03-16T22:30:00Z"));

    // One second before: still pending, nothing to spend.
    let r = ok(&p, &mut m, advance("tick-1", "2026-03-16T22:29:59Z")).receipt;
    assert!(r.entries.is_empty());
    assert_eq!((r.balances.pending, r.balances.available), (1499, 0));
    let err = refused(
        &p,
        &mut m,
        json!({"id": "pay-early", "at": "2026-03-16T22:29:59Z", "type": "redeem", "points": 1,
               "lines": [line("cable", "accessories", "1", "10.00")]}),
    );
    // 10.00 × 30 % = 3 points allowed by the share, but 0 are available yet.
    assert_eq!(err, Error::InsufficientPoints { event: "pay-early".into(), requested: 1, available: 0 });

    // Exactly at available_at: activated, dated at the lot's own instant.
    let r = ok(&p, &mut m, advance("tick-2", "2026-03-16T22:30:00Z")).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Activate, 1499, Some(1))]);
    assert_eq!(r.entries[0].at, at("2026-03-16T22:30:00Z"));
    assert_eq!((r.balances.pending, r.balances.available), (0, 1499));
    // Expiry: 2026-03-17 01:30 MSK + 365 d = 2027-03-17 01:30 MSK = 2027-03-16 22:30Z
    // (17 Mar 2026 → 17 Mar 2027 is 365 days: 2027 is not a leap year).
    assert_eq!(m.lots()[0].expires_at, Some(at("2027-03-16T22:30:00Z")));
    assert_eq!(r.next_expiries[0].at, at("2027-03-16T22:30:00Z"));
    assert_eq!(r.next_expiries[0].date.to_string(), "2027-03-17"); // the Moscow date
    assert_eq!(r.next_expiries[0].points, 1499);

    // One second before expiry the points are usable: spend 1 on a 10 RUB cable
    // (limit 10.00 × 30 % = 3.00 → 3 ≥ 1).
    let r = ok(
        &p,
        &mut m,
        json!({"id": "pay-last-second", "at": "2027-03-16T22:29:59Z", "type": "redeem", "points": 1,
               "lines": [line("cable", "accessories", "1", "10.00")]}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Burn, -1, Some(1))]);
    assert_eq!(r.paid, Some(amount("1"))); // 1 point × 1 RUB
    assert_eq!(r.balances.available, 1498); // 1 499 − 1

    // At the expiry instant they are gone: the same redeem is refused, nothing changes.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "pay-too-late", "at": "2027-03-16T22:30:00Z", "type": "redeem", "points": 1,
               "lines": [line("cable", "accessories", "1", "10.00")]}),
    );
    assert_eq!(err, Error::InsufficientPoints { event: "pay-too-late".into(), requested: 1, available: 0 });

    let r = ok(&p, &mut m, advance("tick-3", "2027-03-16T22:30:00Z")).receipt;
    // The 1 498 left expire at the lot's instant.
    assert_eq!(moves(&r.entries), vec![(EntryKind::Expire, -1498, Some(1))]);
    assert_eq!(r.entries[0].at, at("2027-03-16T22:30:00Z"));
    assert_eq!(r.balances, loyalty::Balances::default());
    assert!(m.lots().is_empty()); // spent and expired lots are dropped

    // earned 1 499 = posted 0 + burned 1 + expired 1 498.
    assert_totals(&m, Totals { earned: 1499, burned: 1, expired: 1498, ..Default::default() }, 0);
}

#[test]
fn points_pay_at_most_thirty_percent_of_the_basket_without_gift_cards() {
    let p = program();
    let mut m = enroll(&p, "vera");
    ok(&p, &mut m, purchase("web/5003", "2026-03-02T10:00:00Z", tv())); // +1 499 pending
    let r = ok(&p, &mut m, advance("tick", "2026-03-16T10:00:00Z")).receipt; // 13:00 MSK + 14 d
    assert_eq!(moves(&r.entries), vec![(EntryKind::Activate, 1499, Some(1))]);

    let basket =
        json!([line("kettle", "small_appliance", "1", "4990.00"), line("gift-5000", "gift_card", "1", "5000.00")]);
    // Share limit: gift card excluded, 4 990.00 × 30 % = 1 497.00 → 1 497 points.
    // Were the gift card counted it would be (4 990 + 5 000) × 30 % = 2 997.
    let q = p.quote(&m, &serde_json::from_value(json!({ "lines": basket.clone() })).unwrap(), m.clock()).unwrap();
    assert_eq!(q.available, 1499);
    assert_eq!(q.max_burn, 1497); // min(1 499 available, 1 497 limit)
    assert_eq!(q.max_burn_value, amount("1497"));
    assert_eq!(q.points, 149); // the kettle earns 4 990 × 3 % = 149.70 → 149; the gift card nothing

    // One point over the limit: refused by the rule (not for lack of points: 1 498 ≤ 1 499).
    let err = refused(
        &p,
        &mut m,
        json!({"id": "store/8800-pay1", "at": "2026-03-20T12:00:00Z", "type": "redeem", "points": 1498,
               "order": "store/8800", "lines": basket.clone()}),
    );
    assert_eq!(
        err,
        Error::BurnRefused {
            event: "store/8800-pay1".into(),
            rule: "bonus-roubles".into(),
            reason: "at most 1497 points may pay for this basket".into(),
        }
    );
    // The share cannot be checked without the basket.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "store/8800-pay0", "at": "2026-03-20T12:00:00Z", "type": "redeem", "points": 1, "order": "store/8800"}),
    );
    assert!(matches!(err, Error::BurnRefused { ref rule, .. } if rule == "bonus-roubles"), "{err:?}");

    // Exactly at the limit: accepted.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "store/8800-pay2", "at": "2026-03-20T12:00:00Z", "type": "redeem", "points": 1497,
               "order": "store/8800", "lines": basket}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Burn, -1497, Some(1))]);
    assert_eq!(r.entries[0].rule.as_deref(), Some("bonus-roubles"));
    assert_eq!(r.entries[0].reason, "paid 1497 RUB with points");
    assert_eq!(r.paid, Some(amount("1497"))); // 1 497 × 1 RUB
    assert_eq!(r.balances.available, 2); // 1 499 − 1 497

    // Two-phase payment of a 6.67 RUB cable: 6.67 × 30 % = 2.001 → limit 2.
    let cable = json!([line("cable", "accessories", "1", "6.67")]);
    let err = refused(
        &p,
        &mut m,
        json!({"id": "store/8801-hold3", "at": "2026-03-20T12:05:00Z", "type": "hold", "points": 3,
               "order": "store/8801", "lines": cable.clone()}),
    );
    assert_eq!(
        err,
        Error::BurnRefused {
            event: "store/8801-hold3".into(),
            rule: "bonus-roubles".into(),
            reason: "at most 2 points may pay for this basket".into(),
        }
    );
    let r = ok(
        &p,
        &mut m,
        json!({"id": "store/8801-hold", "at": "2026-03-20T12:05:00Z", "type": "hold", "points": 2,
               "order": "store/8801", "lines": cable}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Hold, -2, Some(1))]);
    assert_eq!((r.balances.held, r.balances.available), (2, 0));
    // hold_timeout 30 minutes: 12:05Z + 30 min = 12:35Z.
    assert_eq!(r.notes, vec!["hold open until 2026-03-20T12:35:00+00:00".to_owned()]);
    let r = ok(
        &p,
        &mut m,
        json!({"id": "store/8801-pay", "at": "2026-03-20T12:06:00Z", "type": "capture", "hold": "store/8801-hold"}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Burn, -2, Some(1))]);
    assert_eq!(r.paid, Some(amount("2")));
    assert_eq!((r.balances.held, r.balances.available, r.balances.posted), (0, 0, 0));

    // earned 1 499 = posted 0 + burned 1 497 + 2.
    assert_totals(&m, Totals { earned: 1499, burned: 1499, ..Default::default() }, 0);
}

/// The 30 % is of the order, not of each payment: a second redeem or a hold
/// for the same order counts what was already paid or held for it.
#[test]
fn the_thirty_percent_share_counts_every_payment_of_the_order() {
    let p = program();
    let mut m = enroll(&p, "gleb");
    let goodwill = |id: &str, when: &str| json!({"id": id, "at": when, "type": "adjust", "points": 500, "reason": "goodwill", "note": "late delivery"});
    ok(&p, &mut m, goodwill("gw1", "2026-03-01T09:00:00Z"));
    ok(&p, &mut m, goodwill("gw2", "2026-04-01T09:00:00Z"));
    // A 1 000 RUB kettle: at most 300 points may pay for it.
    let kettle = json!([line("kettle", "small_appliance", "1", "1000.00")]);
    let pay = |id: &str, kind: &str, points: i64| json!({"id": id, "at": "2026-04-02T10:00:00Z", "type": kind, "points": points, "order": "store/9000", "lines": kettle.clone()});
    ok(&p, &mut m, pay("pay-1", "redeem", 200));
    // 200 paid + 200 = 400 > 300: refused, naming what was already paid.
    let err = refused(&p, &mut m, pay("pay-2", "redeem", 200));
    assert_eq!(
        err.to_string(),
        "event 'pay-2': burn rule 'bonus-roubles': at most 300 points may pay for this basket, \
         and 200 already paid or held for order 'store/9000'"
    );
    // 100 more is exactly 300: a hold of it is accepted; then nothing more, not even 1 point.
    ok(&p, &mut m, pay("hold-3", "hold", 100));
    let err = refused(&p, &mut m, pay("pay-4", "redeem", 1));
    assert!(err.to_string().ends_with("and 300 already paid or held for order 'store/9000'"), "{err}");
    // A void gives the held 100 back to the order's share.
    ok(&p, &mut m, json!({"id": "void-3", "at": "2026-04-02T10:01:00Z", "type": "void", "hold": "hold-3"}));
    ok(&p, &mut m, pay("pay-5", "redeem", 100));
    // Another order has its own share.
    let other = json!({"id": "pay-6", "at": "2026-04-02T10:02:00Z", "type": "redeem", "points": 300,
                       "order": "store/9001", "lines": kettle.clone()});
    ok(&p, &mut m, other);
    assert_eq!(m.balances().available, 1000 - 200 - 100 - 300);
}

#[test]
fn partial_return_inside_pending_cancels_only_that_lines_points_and_is_idempotent() {
    let p = program();
    let mut m = enroll(&p, "gleb");
    let lines = json!([
        // 49 990 × 3 % = 1 499.70 → 1 499
        line("tv-50", "tv", "1", "49990.00"),
        // discount 5 000 / 19 990 ≈ 25 % ≤ 30 %: 14 990 × 3 % = 449.70 → 449
        discounted("soundbar", "audio", "1", "19990.00", "5000.00"),
        // delivery: 0
        line("delivery", "delivery", "1", "990.00"),
    ]);
    let r = ok(&p, &mut m, purchase("web/6001", "2026-03-02T10:00:00Z", lines)).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 1948, Some(1))]); // 1 499 + 449
    let per_line: Vec<i64> = m.purchases()[0].lines.iter().map(|l| l.points).collect();
    assert_eq!(per_line, vec![1499, 449, 0]);

    // Day 5, still pending: the soundbar comes back.
    let ret = json!({"id": "web/6001-r1", "at": "2026-03-07T10:00:00Z", "type": "return",
                     "purchase": "web/6001", "lines": [{"line": 1}]});
    let first = ok(&p, &mut m, ret.clone());
    let r = &first.receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Reverse, -449, Some(1))]); // only line 1's 449
    assert_eq!(r.entries[0].reason, "return: pending points cancelled");
    assert_eq!((r.balances.pending, r.balances.available), (1499, 0)); // 1 948 − 449
    assert_eq!(m.lots()[0].remaining, 1499);
    assert_eq!(m.purchases()[0].lines[1].reversed, 449);
    assert_eq!(m.purchases()[0].returned, amount("14990")); // 19 990 − 5 000

    // A POS retry of the same return: the original receipt, nothing changes.
    let before = m.clone();
    let again = ok(&p, &mut m, ret.clone());
    assert!(again.duplicate);
    assert_eq!(again.receipt, first.receipt);
    assert_eq!(m, before);
    // The same id with another payload is refused.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "web/6001-r1", "at": "2026-03-07T10:00:00Z", "type": "return",
               "purchase": "web/6001", "lines": [{"line": 0}]}),
    );
    assert_eq!(err, Error::IdReusedWithDifferentPayload { event: "web/6001-r1".into() });

    // The delivery line comes back too: it earned 0, so nothing is taken.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/6001-r2", "at": "2026-03-08T10:00:00Z", "type": "return",
               "purchase": "web/6001", "lines": [{"line": 2}]}),
    )
    .receipt;
    assert!(r.entries.is_empty());
    assert_eq!(r.balances.pending, 1499);
    assert_eq!(m.purchases()[0].returned, amount("15980")); // 14 990 + 990

    // Only the latest receipt is kept (keep_receipts = 1): an older id is known but its receipt is gone.
    let err = refused(&p, &mut m, ret);
    assert_eq!(err, Error::AlreadyApplied { event: "web/6001-r1".into() });

    // 2026-03-02 13:00 MSK + 14 d: the TV's 1 499 become available.
    let r = ok(&p, &mut m, advance("tick", "2026-03-16T10:00:00Z")).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Activate, 1499, Some(1))]);
    assert_eq!((r.balances.pending, r.balances.available), (0, 1499));

    // earned 1 948 = posted 1 499 + reversed 449.
    assert_totals(&m, Totals { earned: 1948, reversed: 449, ..Default::default() }, 1499);
}

#[test]
fn return_after_pending_takes_back_the_floor_then_exactly_the_rest() {
    let p = program();
    let mut m = enroll(&p, "dina");
    let lines = json!([
        // 2 × 24 995.00 = 49 990.00 × 3 % = 1 499.70 → 1 499
        line("fridge", "kitchen", "2", "24995.00"),
        // 35 990 × 3 % = 1 079.70 → 1 079
        line("washer", "laundry", "1", "35990.00"),
    ]);
    let r = ok(&p, &mut m, purchase("web/6002", "2026-03-02T10:00:00Z", lines)).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 2578, Some(1))]); // 1 499 + 1 079
    let r = ok(&p, &mut m, advance("tick", "2026-03-16T10:00:00Z")).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Activate, 2578, Some(1))]);

    // More than bought: 3 of 2 fridges.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "web/6002-r0", "at": "2026-03-20T10:00:00Z", "type": "return",
               "purchase": "web/6002", "lines": [{"line": 0, "quantity": "3"}]}),
    );
    assert_eq!(
        err,
        Error::ReturnExceedsPurchase {
            event: "web/6002-r0".into(),
            purchase: "web/6002".into(),
            line: 0,
            requested: "3".into(),
            left: "2".into(),
        }
    );
    // A line the purchase does not have.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "web/6002-rx", "at": "2026-03-20T10:00:00Z", "type": "return",
               "purchase": "web/6002", "lines": [{"line": 5}]}),
    );
    assert!(matches!(err, Error::NotFound { what: "line", .. }), "{err:?}");

    // 1 of 2 fridges, after pending: floor(1 499 × 1 / 2) = floor(749.5) = 749.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/6002-r1", "at": "2026-03-20T10:00:00Z", "type": "return",
               "purchase": "web/6002", "lines": [{"line": 0, "quantity": "1"}]}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Reverse, -749, Some(1))]);
    assert_eq!(r.entries[0].reason, "return: points taken back");
    assert_eq!(r.balances.available, 1829); // 2 578 − 749
    assert_eq!(m.purchases()[0].lines[0].reversed, 749);

    // The second fridge: the line is now fully returned, so everything left: 1 499 − 749 = 750.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/6002-r2", "at": "2026-03-21T10:00:00Z", "type": "return",
               "purchase": "web/6002", "lines": [{"line": 0, "quantity": "1"}]}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Reverse, -750, Some(1))]);
    assert_eq!(r.balances.available, 1079); // 1 829 − 750
    assert_eq!(m.purchases()[0].lines[0].reversed, 1499); // 749 + 750: all of the line

    // A third fridge: nothing is left of line 0.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "web/6002-r3", "at": "2026-03-22T10:00:00Z", "type": "return",
               "purchase": "web/6002", "lines": [{"line": 0, "quantity": "1"}]}),
    );
    assert_eq!(
        err,
        Error::ReturnExceedsPurchase {
            event: "web/6002-r3".into(),
            purchase: "web/6002".into(),
            line: 0,
            requested: "1".into(),
            left: "0".into(),
        }
    );

    // "Everything not yet returned" (no lines): only the washer is left, 1 079.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/6002-r4", "at": "2026-03-22T10:00:00Z", "type": "return", "purchase": "web/6002"}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Reverse, -1079, Some(1))]);
    assert_eq!(r.balances, loyalty::Balances::default());
    assert_eq!(m.purchases()[0].returned, amount("85980")); // 49 990 + 35 990

    // A second full return after the full return: refused.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "web/6002-r5", "at": "2026-03-23T10:00:00Z", "type": "return", "purchase": "web/6002"}),
    );
    assert_eq!(
        err,
        Error::InvalidEvent {
            event: "web/6002-r5".into(),
            field: "lines".into(),
            reason: "purchase 'web/6002' is already fully returned".into(),
        }
    );
    // Naming the washer line again: nothing left of it either.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "web/6002-r6", "at": "2026-03-23T10:00:00Z", "type": "return",
               "purchase": "web/6002", "lines": [{"line": 1}]}),
    );
    assert!(matches!(err, Error::ReturnExceedsPurchase { line: 1, ref left, .. } if left == "0"), "{err:?}");

    // earned 2 578 = posted 0 + reversed 749 + 750 + 1 079.
    assert_totals(&m, Totals { earned: 2578, reversed: 2578, ..Default::default() }, 0);
}

#[test]
fn return_after_points_were_spent_goes_negative_and_later_points_settle_it() {
    let p = program();
    let mut m = enroll(&p, "egor");
    ok(&p, &mut m, purchase("web/7001", "2026-03-02T10:00:00Z", tv())); // 1 499 pending, lot 1
    ok(&p, &mut m, advance("tick-1", "2026-03-16T10:00:00Z")); // available 1 499

    // 1 400 of them pay for another order (washer 35 990: limit 35 990 × 30 % = 10 797).
    let r = ok(
        &p,
        &mut m,
        json!({"id": "store/7100-pay", "at": "2026-03-18T10:00:00Z", "type": "redeem", "points": 1400,
               "order": "store/7100", "lines": [line("washer", "laundry", "1", "35990.00")]}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Burn, -1400, Some(1))]);
    assert_eq!(r.balances.available, 99); // 1 499 − 1 400

    // The TV comes back after pending: 1 499 are due, only 99 are left in its lot.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/7001-r", "at": "2026-03-25T10:00:00Z", "type": "return",
               "purchase": "web/7001", "lines": [{"line": 0}]}),
    )
    .receipt;
    // 99 from the lot, the other 1 499 − 99 = 1 400 become a debt (an entry with no lot).
    assert_eq!(moves(&r.entries), vec![(EntryKind::Reverse, -99, Some(1)), (EntryKind::Reverse, -1400, None)]);
    assert_eq!(r.entries[0].reason, "return: points taken back");
    assert_eq!(r.entries[1].reason, "return: points already spent, balance goes negative");
    assert_eq!(
        r.notes,
        vec!["1400 points were already spent: the balance is negative until new points pay it off".to_owned()]
    );
    assert_eq!(r.shortfall, 0); // the program allows a negative balance: no shortfall
    assert_eq!(r.balances.available, -1400);
    assert_eq!(r.balances.posted, -1400);
    assert_eq!(m.debt(), 1400);
    // Nothing to spend while in debt.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "pay-in-debt", "at": "2026-03-25T11:00:00Z", "type": "redeem", "points": 1,
               "lines": [line("cable", "accessories", "1", "10.00")]}),
    );
    assert_eq!(err, Error::InsufficientPoints { event: "pay-in-debt".into(), requested: 1, available: -1400 });

    // New purchases earn pending points; the debt waits for them to become available.
    // Kettle: 4 990 × 3 % = 149.70 → 149 (lot 2, available 2026-04-09 10:00Z).
    let r = ok(
        &p,
        &mut m,
        purchase("store/7200", "2026-03-26T10:00:00Z", json!([line("kettle", "small_appliance", "1", "4990.00")])),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 149, Some(2))]);
    assert_eq!((r.balances.pending, r.balances.available, r.balances.posted), (149, -1400, -1251));
    // Fridge: 59 990 × 3 % = 1 799.70 → 1 799 (lot 3, available 2026-04-10 10:00Z).
    let r = ok(
        &p,
        &mut m,
        purchase("store/7300", "2026-03-27T10:00:00Z", json!([line("fridge", "kitchen", "1", "59990.00")])),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 1799, Some(3))]);
    assert_eq!((r.balances.pending, r.balances.available, r.balances.posted), (1948, -1400, 548));
    assert_eq!(m.debt(), 1400);

    // The kettle's 149 become available and all go to the debt: 1 400 − 149 = 1 251 owed.
    let r = ok(&p, &mut m, advance("tick-2", "2026-04-09T10:00:00Z")).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Activate, 149, Some(2)), (EntryKind::Settle, -149, Some(2))]);
    assert_eq!(r.entries[1].reason, "paid off a negative balance");
    assert_eq!(m.debt(), 1251);
    assert_eq!((r.balances.pending, r.balances.available, r.balances.posted), (1799, -1251, 548));

    // The fridge's 1 799 become available: 1 251 settle the rest, 1 799 − 1 251 = 548 stay.
    let r = ok(&p, &mut m, advance("tick-3", "2026-04-10T10:00:00Z")).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Activate, 1799, Some(3)), (EntryKind::Settle, -1251, Some(3))]);
    assert_eq!(m.debt(), 0);
    assert_eq!((r.balances.pending, r.balances.available, r.balances.posted), (0, 548, 548));
    assert!(r.notes.is_empty());

    // earned 1 499 + 149 + 1 799 = 3 447 = posted 548 + burned 1 400 + reversed 1 499
    // (settling moves points from lots to the debt: posted does not change).
    assert_totals(&m, Totals { earned: 3447, burned: 1400, reversed: 1499, ..Default::default() }, 548);
}

#[test]
fn return_of_an_order_paid_partly_with_points_refunds_them_in_proportion_to_money() {
    let p = program();
    let mut m = enroll(&p, "zoya");
    ok(&p, &mut m, purchase("web/8000", "2026-03-02T10:00:00Z", tv())); // 1 499, lot 1
    ok(&p, &mut m, advance("tick", "2026-03-16T10:00:00Z")); // available; expires 2027-03-16 10:00Z
    let lot1_expiry = at("2027-03-16T10:00:00Z");
    assert_eq!(m.lots()[0].expires_at, Some(lot1_expiry));

    let basket = json!([
        // 35 990 − 1 990 = 34 000 (5.5 % off, earns): 34 000 × 3 % = 1 020.00 → 1 020
        discounted("washer", "laundry", "1", "35990.00", "1990.00"),
        // 9 990 × 3 % = 299.70 → 299
        line("microwave", "kitchen", "1", "9990.00"),
    ]);
    // Order total 34 000 + 9 990 = 43 990; share limit 43 990 × 30 % = 13 197 ≥ 1 400.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8001-hold", "at": "2026-03-20T12:00:00Z", "type": "hold", "points": 1400,
               "order": "web/8001", "lines": basket.clone()}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Hold, -1400, Some(1))]);
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8001-pay", "at": "2026-03-20T12:00:10Z", "type": "capture", "hold": "web/8001-hold"}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Burn, -1400, Some(1))]);
    assert_eq!(r.paid, Some(amount("1400")));
    assert_eq!(r.balances.available, 99); // 1 499 − 1 400

    // The purchase itself; its order defaults to its id, "web/8001".
    let r = ok(&p, &mut m, purchase("web/8001", "2026-03-20T12:00:30Z", basket)).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 1319, Some(2))]); // 1 020 + 299

    // Inside pending the microwave comes back (9 990 of 43 990 RUB).
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8001-r1", "at": "2026-03-25T10:00:00Z", "type": "return",
               "purchase": "web/8001", "lines": [{"line": 1}]}),
    )
    .receipt;
    // Its 299 pending points are cancelled; of the 1 400 that paid:
    // floor(1 400 × 9 990 / 43 990) = floor(13 986 000 / 43 990) = floor(317.94…) = 317
    // (43 990 × 317 = 13 944 830; 13 986 000 − 13 944 830 = 41 170 < 43 990).
    assert_eq!(moves(&r.entries), vec![(EntryKind::Refund, 317, Some(3)), (EntryKind::Reverse, -299, Some(2))]);
    // The refund is posted first: its points could pay the reversal if the own lot fell short.
    assert_eq!(r.entries[0].reason, "return: points that paid in 'web/8001-pay' given back");
    assert_eq!(r.entries[1].reason, "return: pending points cancelled");
    // Refunded points are available at once and keep the expiry of the lot they came from.
    let lot3 = m.lots().iter().find(|l| l.seq == 3).unwrap();
    assert_eq!((lot3.pending, lot3.expires_at), (false, Some(lot1_expiry)));
    assert_eq!(r.balances.available, 416); // 99 + 317
    assert_eq!(r.balances.pending, 1020); // 1 319 − 299
    assert_eq!(m.burns()[0].refunded, 317);

    // Then the washer: the order is fully returned, so the rest of the burn, 1 400 − 317 = 1 083.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8001-r2", "at": "2026-03-26T10:00:00Z", "type": "return",
               "purchase": "web/8001", "lines": [{"line": 0}]}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Refund, 1083, Some(4)), (EntryKind::Reverse, -1020, Some(2))]);
    assert_eq!(r.balances.available, 1499); // 99 + 317 + 1 083: all spent points are back
    assert_eq!(r.balances.pending, 0);
    assert_eq!(m.burns()[0].refunded, 1400);
    // All 1 499 expire together, at lot 1's instant.
    assert_eq!(r.next_expiries.len(), 1);
    assert_eq!((r.next_expiries[0].at, r.next_expiries[0].points), (lot1_expiry, 1499));

    // earned 1 499 + 1 319 = 2 818; + refunded 1 400 = 4 218
    //   = posted 1 499 + burned 1 400 + reversed 299 + 1 020.
    assert_totals(
        &m,
        Totals { earned: 2818, refunded: 1400, burned: 1400, reversed: 1319, ..Default::default() },
        1499,
    );
}

#[test]
fn return_window_closes_365_moscow_days_after_purchase() {
    let p = program();
    let mut m = enroll(&p, "ilya");
    // 2 × 24 995 = 49 990 × 3 % = 1 499.70 → 1 499.
    ok(&p, &mut m, purchase("web/9001", "2026-03-02T10:00:00Z", json!([line("fridge", "kitchen", "2", "24995.00")])));
    ok(&p, &mut m, advance("tick-1", "2026-03-16T10:00:00Z")); // available; expires 2027-03-16 10:00Z

    // Window: 2026-03-02 13:00 MSK + 365 d = 2027-03-02 13:00 MSK = 2027-03-02 10:00Z.
    // One second before it closes: 1 of 2 fridges, floor(1 499 / 2) = 749.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/9001-r1", "at": "2027-03-02T09:59:59Z", "type": "return",
               "purchase": "web/9001", "lines": [{"line": 0, "quantity": "1"}]}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Reverse, -749, Some(1))]);
    assert_eq!(r.balances.available, 750); // 1 499 − 749

    let second = json!({"id": "web/9001-r2", "at": "2027-03-02T10:00:00Z", "type": "return",
                        "purchase": "web/9001", "lines": [{"line": 0, "quantity": "1"}]});
    // At the closing instant: ReturnWindowClosed, because the purchase record is still kept.
    let closed = Error::ReturnWindowClosed {
        event: "web/9001-r2".into(),
        purchase: "web/9001".into(),
        closed: at("2027-03-02T10:00:00Z"),
    };
    assert_eq!(refused(&p, &mut m, second.clone()), closed);

    // Records are kept for the return window "with a day to spare": compaction after an
    // event at clock C drops purchases made before C − 365 d − 1 d. At C = 2027-03-03 10:00Z
    // the cut-off is 2026-03-03 10:00Z − 1 d = 2026-03-02 10:00Z = the purchase instant: kept.
    ok(&p, &mut m, advance("tick-2", "2027-03-03T10:00:00Z"));
    assert_eq!(m.purchases().len(), 1);
    let late = json!({"id": "web/9001-r3", "at": "2027-03-03T10:00:00Z", "type": "return",
                      "purchase": "web/9001", "lines": [{"line": 0, "quantity": "1"}]});
    assert!(matches!(refused(&p, &mut m, late.clone()), Error::ReturnWindowClosed { .. }));

    // One second later the cut-off passes the purchase: the record is dropped, and a return
    // can only say NotFound (the engine looks the purchase up before checking the window).
    ok(&p, &mut m, advance("tick-3", "2027-03-03T10:00:01Z"));
    assert!(m.purchases().is_empty());
    let late = json!({"id": "web/9001-r4", "at": "2027-03-03T10:00:01Z", "type": "return",
                      "purchase": "web/9001", "lines": [{"line": 0, "quantity": "1"}]});
    assert_eq!(
        refused(&p, &mut m, late),
        Error::NotFound {
            event: "web/9001-r4".into(),
            what: "purchase (or its return window has passed)",
            id: "web/9001".into(),
        }
    );

    // The 750 left expire 365 days after they became available: 2027-03-16 10:00Z.
    let r = ok(&p, &mut m, advance("tick-4", "2027-03-16T10:00:00Z")).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Expire, -750, Some(1))]);

    // earned 1 499 = posted 0 + reversed 749 + expired 750.
    assert_totals(&m, Totals { earned: 1499, reversed: 749, expired: 750, ..Default::default() }, 0);
}

#[test]
fn three_units_returned_one_by_one_across_pending_with_refund_of_points_that_paid() {
    let p = program();
    let mut m = enroll(&p, "kira");
    ok(&p, &mut m, purchase("web/8100", "2026-03-02T10:00:00Z", tv())); // 1 499, lot 1
    ok(&p, &mut m, advance("tick-1", "2026-03-16T10:00:00Z")); // available; expires 2027-03-16 10:00Z

    let basket = json!([
        // 3 × 3 333.33 = 9 999.99 × 3 % = 299.9997 → 299
        line("speaker", "audio", "3", "3333.33"),
        // delivery earns nothing but is part of the money paid (only gift cards leave the burn basket)
        line("delivery", "delivery", "1", "990.00"),
    ]);
    // Order total 9 999.99 + 990.00 = 10 989.99; share limit 10 989.99 × 30 % = 3 296.997 → 3 296 ≥ 1 000.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8101-pay", "at": "2026-03-20T12:00:00Z", "type": "redeem", "points": 1000,
               "order": "web/8101", "lines": basket.clone()}),
    )
    .receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Burn, -1000, Some(1))]);
    assert_eq!(r.balances.available, 499); // 1 499 − 1 000
    let r = ok(&p, &mut m, purchase("web/8101", "2026-03-20T12:00:30Z", basket)).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Earn, 299, Some(2))]); // pending until 2026-04-03 12:00:30Z

    // Speaker 1 of 3, inside pending.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8101-r1", "at": "2026-03-23T10:00:00Z", "type": "return",
               "purchase": "web/8101", "lines": [{"line": 0, "quantity": "1"}]}),
    )
    .receipt;
    // Earned: floor(299 × 1 / 3) = floor(99.67) = 99 cancelled.
    // Money returned 9 999.99 × 1 / 3 = 3 333.33; refund floor(1 000 × 3 333.33 / 10 989.99)
    //   = floor(3 333 330 / 10 989.99) = 303 (10 989.99 × 303 = 3 329 966.97, remainder 3 363.03).
    assert_eq!(moves(&r.entries), vec![(EntryKind::Refund, 303, Some(3)), (EntryKind::Reverse, -99, Some(2))]);
    assert_eq!((r.balances.available, r.balances.pending), (802, 200)); // 499 + 303; 299 − 99
    assert_eq!(m.purchases()[1].returned, amount("3333.33"));

    // The purchase's remaining 200 become available at 2026-03-20 15:00:30 MSK + 14 d.
    let r = ok(&p, &mut m, advance("tick-2", "2026-04-03T12:00:30Z")).receipt;
    assert_eq!(moves(&r.entries), vec![(EntryKind::Activate, 200, Some(2))]);
    assert_eq!(r.balances.available, 1002); // 802 + 200

    // Speaker 2 of 3, after pending.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8101-r2", "at": "2026-04-05T10:00:00Z", "type": "return",
               "purchase": "web/8101", "lines": [{"line": 0, "quantity": "1"}]}),
    )
    .receipt;
    // Earned, cumulative: floor(299 × 2 / 3) = floor(199.33) = 199, minus 99 already = 100.
    // Money returned 6 666.66; refund cumulative floor(1 000 × 6 666.66 / 10 989.99)
    //   = floor(6 666 660 / 10 989.99) = 606 (10 989.99 × 606 = 6 659 933.94, remainder 6 726.06),
    //   minus 303 already = 303.
    assert_eq!(moves(&r.entries), vec![(EntryKind::Refund, 303, Some(4)), (EntryKind::Reverse, -100, Some(2))]);
    assert_eq!(r.entries[1].reason, "return: points taken back");
    assert_eq!(r.balances.available, 1205); // 1 002 − 100 + 303

    // Everything not yet returned: speaker 3 and the delivery; the order is now fully returned.
    let r = ok(
        &p,
        &mut m,
        json!({"id": "web/8101-r3", "at": "2026-04-06T10:00:00Z", "type": "return", "purchase": "web/8101"}),
    )
    .receipt;
    // Earned: all 299 of the line, minus 199 = 100. Refund: all 1 000, minus 606 = 394.
    assert_eq!(moves(&r.entries), vec![(EntryKind::Refund, 394, Some(5)), (EntryKind::Reverse, -100, Some(2))]);
    assert_eq!(r.balances.available, 1499); // 1 205 − 100 + 394: back to the TV's 1 499
    assert_eq!(m.purchases()[1].lines[0].reversed, 299);
    assert_eq!(m.burns()[0].refunded, 1000);
    // Every refund lot keeps lot 1's expiry: 499 + 303 + 303 + 394 = 1 499 expire together.
    assert_eq!(r.next_expiries.len(), 1);
    assert_eq!((r.next_expiries[0].at, r.next_expiries[0].points), (at("2027-03-16T10:00:00Z"), 1499));

    // earned 1 499 + 299 = 1 798; + refunded 1 000 = 2 798
    //   = posted 1 499 + burned 1 000 + reversed 99 + 100 + 100.
    assert_totals(&m, Totals { earned: 1798, refunded: 1000, burned: 1000, reversed: 299, ..Default::default() }, 1499);
}

// ---------------------------------------------------------------------------
// Levels by calendar-year spend: Start (0), Silver (50 000 RUB), Gold
// (150 000 RUB); spend is the net amount of every line, less returns. A level
// reached in year Y is kept until 1 January Y+2 00:00 MSK (= 31 Dec Y+1
// 21:00Z). Start earns 3 %, Silver 5 %, Gold 7 %, per line, floored.
// ---------------------------------------------------------------------------

fn signals(r: &loyalty::Receipt) -> Value {
    serde_json::to_value(&r.signals).expect("signals serialize")
}

#[test]
fn silver_is_reached_at_once_and_kept_for_the_rest_of_the_year_and_the_whole_next_one() {
    let p = program();
    let mut m = enroll(&p, "sam");
    // 10 Mar 2026: 40 000 RUB → 3 % = 1 200. Spend 40 000 ≥ 80 % of 50 000: close to Silver, 10 000 to go.
    let r = ok(&p, &mut m, purchase("s1", "2026-03-10T10:00:00Z", json!([line("tv-43", "tv", "1", "40000")])));
    assert_eq!(r.receipt.total(EntryKind::Earn), 1200);
    assert_eq!(r.receipt.tier.as_deref(), Some("start"));
    assert_eq!(signals(&r.receipt), json!([{"type": "close_to_next_tier", "tier": "silver", "needed": "10000"}]));
    // 5 Apr 2026: 12 000 RUB, earned at Start (3 % = 360); spend 52 000 ≥ 50 000 → Silver at once.
    let r = ok(&p, &mut m, purchase("s2", "2026-04-05T10:00:00Z", json!([line("sb", "audio", "1", "12000")])));
    assert_eq!(r.receipt.explanations[0].rule, "start-cashback");
    assert_eq!(r.receipt.total(EntryKind::Earn), 360);
    assert_eq!(
        signals(&r.receipt),
        json!([{"type": "tier_up", "at": "2026-04-05T10:00:00Z", "from": "start", "to": "silver"}])
    );
    // 1 May 2026: 10 000 RUB at Silver → 5 % = 500.
    let r = ok(&p, &mut m, purchase("s3", "2026-05-01T10:00:00Z", json!([line("mw", "kitchen", "1", "10000")])));
    assert_eq!(r.receipt.explanations[0].rule, "silver-cashback");
    assert_eq!(r.receipt.total(EntryKind::Earn), 500);
    // The host reads the perk; 150 000 − 62 000 = 88 000 to Gold before 1 Jan 2027 00:00 MSK.
    let status = p.tier(&m, m.clock()).unwrap();
    assert_eq!((status.tier, status.name), ("silver", "Silver"));
    assert_eq!(status.perks, ["extended_warranty_1y"]);
    assert_eq!(status.until, Some(at("2027-12-31T21:00:00Z")));
    let next = status.next.unwrap();
    assert_eq!((next.tier, next.needed.to_string().as_str()), ("gold", "88000"));
    assert_eq!(next.by, Some(at("2026-12-31T21:00:00Z")));
    // 2027: one small purchase, still Silver all year (5 % of 1 000 = 50).
    let r = ok(&p, &mut m, purchase("s4", "2027-06-01T10:00:00Z", json!([line("cable", "accessories", "1", "1000")])));
    assert_eq!((r.receipt.tier.as_deref(), r.receipt.total(EntryKind::Earn)), (Some("silver"), 50));
    let r = ok(&p, &mut m, advance("a1", "2027-12-31T20:59:59Z"));
    assert_eq!(r.receipt.tier.as_deref(), Some("silver"));
    // 1 Jan 2028 00:00 MSK: 2027 spent 1 000 < 50 000 → Start.
    let r = ok(&p, &mut m, advance("a2", "2027-12-31T21:00:00Z"));
    assert_eq!(r.receipt.tier.as_deref(), Some("start"));
    assert_eq!(
        signals(&r.receipt),
        json!([{"type": "tier_down", "at": "2027-12-31T21:00:00Z", "from": "silver", "to": "start"}])
    );
    let h = &m.tier_state().history;
    assert_eq!(
        h.iter().map(|c| (c.from.as_str(), c.to.as_str())).collect::<Vec<_>>(),
        [("start", "silver"), ("silver", "start")]
    );
}

#[test]
fn gold_falls_to_the_level_the_next_year_actually_reached() {
    let p = program();
    let mut m = enroll(&p, "gina");
    // 2026: 60 000 → Silver (until 1 Jan 2028). Earned at Start: 1 800.
    let r = ok(&p, &mut m, purchase("y1", "2026-06-01T10:00:00Z", json!([line("tv-55", "tv", "1", "60000")])));
    assert_eq!((r.receipt.total(EntryKind::Earn), r.receipt.tier.as_deref()), (1800, Some("silver")));
    // Feb 2027: 160 000 in one purchase → Gold (2027 spend 160 000 ≥ 150 000), kept until 1 Jan 2029.
    // Earned at Silver: 5 % = 8 000.
    let r = ok(&p, &mut m, purchase("y2", "2027-02-01T10:00:00Z", json!([line("tv-85", "tv", "1", "160000")])));
    assert_eq!((r.receipt.total(EntryKind::Earn), r.receipt.tier.as_deref()), (8000, Some("gold")));
    assert_eq!(p.tier(&m, m.clock()).unwrap().perks, ["extended_warranty_2y", "free_installation"]);
    // 2028: 55 000 (earned at Gold: 7 % = 3 850) → Silver reached in 2028, kept until 1 Jan 2030.
    let r = ok(&p, &mut m, purchase("y3", "2028-03-01T10:00:00Z", json!([line("fr", "kitchen", "1", "55000")])));
    assert_eq!((r.receipt.total(EntryKind::Earn), r.receipt.tier.as_deref()), (3850, Some("gold")));
    // 1 Jan 2029 00:00 MSK: Gold's period ends; Silver (reached in 2028) is what is left.
    let r = ok(&p, &mut m, advance("a1", "2029-01-01T00:00:00Z"));
    assert_eq!(r.receipt.tier.as_deref(), Some("silver"));
    assert_eq!(
        signals(&r.receipt),
        json!([{"type": "tier_down", "at": "2028-12-31T21:00:00Z", "from": "gold", "to": "silver"}])
    );
    // 1 Jan 2030: Silver ends too.
    let r = ok(&p, &mut m, advance("a2", "2030-01-01T00:00:00Z"));
    assert_eq!(r.receipt.tier.as_deref(), Some("start"));
}

#[test]
fn a_return_takes_away_a_level_reached_only_through_the_returned_goods() {
    let p = program();
    let mut m = enroll(&p, "ret");
    // 60 000 RUB → Silver at once; 1 800 pending points (3 %).
    let r = ok(&p, &mut m, purchase("b1", "2026-03-10T10:00:00Z", json!([line("tv-55", "tv", "1", "60000")])));
    assert_eq!(r.receipt.tier.as_deref(), Some("silver"));
    // Returned 10 days later: the pending 1 800 are cancelled, 2026 spend is back to 0 → Start.
    let r = ok(&p, &mut m, json!({"id": "r1", "at": "2026-03-20T10:00:00Z", "type": "return", "purchase": "b1"}));
    assert_eq!(r.receipt.total(EntryKind::Reverse), -1800);
    assert_eq!(r.receipt.tier.as_deref(), Some("start"));
    assert_eq!(
        signals(&r.receipt),
        json!([{"type": "tier_down", "at": "2026-03-20T10:00:00Z", "from": "silver", "to": "start"}])
    );
    assert_eq!(m.tier_state().history[1].reason, "a return took back what reached the level");
    // A partial return that leaves 50 000 keeps Silver: buy 2 × 30 000, return one.
    let r = ok(&p, &mut m, purchase("b2", "2026-04-01T10:00:00Z", json!([line("ac", "kitchen", "2", "30000")])));
    assert_eq!(r.receipt.tier.as_deref(), Some("silver"));
    let r = ok(
        &p,
        &mut m,
        json!({"id": "r2", "at": "2026-04-02T10:00:00Z", "type": "return", "purchase": "b2",
               "lines": [{"line": 0, "quantity": "1"}]}),
    );
    // 60 000 − 30 000 = 30 000 < 50 000 → Start again.
    assert_eq!(r.receipt.tier.as_deref(), Some("start"));
}

#[test]
fn a_level_assigned_by_hand_is_a_floor_until_its_end() {
    let p = program();
    let mut m = enroll(&p, "vip");
    let r = ok(
        &p,
        &mut m,
        json!({"id": "as1", "at": "2026-03-02T10:00:00Z", "type": "assign_tier", "tier": "gold",
               "until": "2026-07-01T00:00:00Z", "reason": "store-opening", "note": "invited guest"}),
    );
    assert_eq!(r.receipt.tier.as_deref(), Some("gold"));
    assert_eq!(m.tier_state().history[0].reason, "assigned by hand (store-opening)");
    // Gold earns 7 %: 10 000 → 700. Spend 10 000 reaches nothing by itself.
    let r = ok(&p, &mut m, purchase("v1", "2026-03-03T10:00:00Z", json!([line("mw", "kitchen", "1", "10000")])));
    assert_eq!(r.receipt.total(EntryKind::Earn), 700);
    let r = ok(&p, &mut m, advance("a1", "2026-07-01T00:00:00Z"));
    assert_eq!(r.receipt.tier.as_deref(), Some("start"));
    // An unknown level and an end before the event are refused and change nothing.
    let err = refused(
        &p,
        &mut m,
        json!({"id": "as2", "at": "2026-07-02T10:00:00Z", "type": "assign_tier", "tier": "platinum", "reason": "x"}),
    );
    assert!(err.to_string().contains("platinum"), "{err}");
    let err = refused(
        &p,
        &mut m,
        json!({"id": "as3", "at": "2026-07-02T10:00:00Z", "type": "assign_tier", "tier": "gold",
               "until": "2026-07-01T00:00:00Z", "reason": "x"}),
    );
    assert!(err.to_string().contains("until"), "{err}");
}

#[test]
fn goodwill_after_a_late_delivery_is_capped_shown_and_not_earned() {
    let p = program();
    let mut m = enroll(&p, "late");
    let goodwill = |id: &str, when: &str, points: i64| {
        json!({"id": id, "at": when, "type": "adjust", "points": points, "reason": "goodwill",
               "note": "delivery two days late"})
    };
    let r = ok(&p, &mut m, goodwill("g1", "2026-03-05T10:00:00Z", 400));
    // The receipt shows it as goodwill, with the note.
    assert_eq!(r.receipt.entries[0].reason.as_str(), "goodwill: delivery two days late");
    assert_eq!(r.receipt.entries[0].kind, EntryKind::Adjust);
    // 400 + 400 > 500 in March: 100 credited.
    let r = ok(&p, &mut m, goodwill("g2", "2026-03-25T10:00:00Z", 400));
    assert_eq!(r.receipt.total(EntryKind::Adjust), 100);
    // Credited, not earned; expiring 90 days after (3 Jun 13:00 MSK for the first).
    assert_totals(&m, Totals { credited: 500, ..Totals::default() }, 500);
    assert_eq!(m.lots()[0].expires_at, Some(at("2026-06-03T10:00:00Z")));
}
