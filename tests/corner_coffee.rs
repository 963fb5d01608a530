//! Hand-checked scenarios for the Corner Coffee sample program
//! (`examples/programs/corner_coffee.toml`).
//!
//! Every expected number is worked out by hand in the comment beside its
//! assertion. Reminders used throughout:
//!
//! * Moscow is UTC+3 all year (no DST): local 15:00 = 12:00Z.
//! * `base`: 1 point per 10 RUB of eligible spend (alcohol excluded), floored
//!   once per transaction.
//! * `tuesday-coffee`: Tuesdays 15:00–18:00 local, adds (2 − 1) × the exact
//!   `base` points of the coffee lines, floored on its own.
//! * Pending 24 h; a lot expires at the start of the 7th calendar month after
//!   the month it was earned (local), i.e. `earned + 6 months` moved to the
//!   first instant of the next local month.
//! * 2026-12-15 is a Tuesday, 2026-12-14 a Monday, 2026-12-16 a Wednesday.

use chrono::{DateTime, Utc};
use loyalty::{
    Balances, Entry, EntryKind, Error, Event, Expiring, Explanation, HoldStatus, Member, Program, Receipt, Take,
};
use serde_json::json;

const PROGRAM: &str = include_str!("../examples/programs/corner_coffee.toml");

fn program() -> Program {
    Program::from_toml_str(PROGRAM).expect("corner_coffee.toml loads")
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("an RFC 3339 instant")
}

/// A member enrolled on 2026-12-01 10:00 Moscow time.
fn member(p: &Program, id: &str) -> Member {
    let m = p.enroll(id, t("2026-12-01T07:00:00Z"), Default::default()).expect("enroll");
    m.check_invariants().expect("invariants after enroll");
    m
}

fn ev(value: serde_json::Value) -> Event {
    Event::from_json_str(&value.to_string()).expect("a valid event")
}

/// A purchase from `(sku, category, quantity, unit_price)` lines.
fn purchase(id: &str, at: &str, lines: &[(&str, &str, &str, &str)]) -> Event {
    let lines: Vec<_> = lines
        .iter()
        .map(|(sku, category, quantity, unit_price)| {
            json!({"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price})
        })
        .collect();
    ev(json!({"id": id, "at": at, "type": "purchase", "lines": lines}))
}

fn advance(id: &str, at: &str) -> Event {
    ev(json!({"id": id, "at": at, "type": "advance"}))
}

fn redeem(id: &str, at: &str, points: i64) -> Event {
    ev(json!({"id": id, "at": at, "type": "redeem", "points": points}))
}

/// Applies an event that must succeed (and be new); checks the invariants.
fn ok(p: &Program, m: &mut Member, e: &Event) -> Receipt {
    let applied = p.apply(m, e).unwrap_or_else(|err| panic!("event {} failed: {err}", e.id));
    assert!(!applied.duplicate, "event {} was not expected to be a duplicate", e.id);
    m.check_invariants().unwrap_or_else(|err| panic!("invariants after {}: {err}", e.id));
    Receipt::clone(&applied.receipt)
}

/// Applies an event that must fail; checks the member is byte-identical and still consistent.
fn fail(p: &Program, m: &mut Member, e: &Event) -> Error {
    let before = m.to_json();
    let err = p.apply(m, e).expect_err("the event should fail");
    assert_eq!(m.to_json(), before, "a failed event ({}) changed the member", e.id);
    m.check_invariants().unwrap_or_else(|err| panic!("invariants after failed {}: {err}", e.id));
    err
}

fn bal(posted: i64, pending: i64, held: i64, available: i64) -> Balances {
    Balances { posted, pending, held, available }
}

/// The ledger movements of a receipt: (kind, points, effective instant, lot).
fn moves(r: &Receipt) -> Vec<(EntryKind, i64, DateTime<Utc>, Option<u64>)> {
    r.entries.iter().map(|e| (e.kind, e.points, e.at, e.lot)).collect()
}

fn explanation(rule: &str, points: i64, text: &str) -> Explanation {
    Explanation { rule: rule.into(), points, text: text.into() }
}

/// A member holding 49 available points in lot 1 (expiring 2027-06-30T21:00Z) from 2026-12-15T09:30Z on.
fn member_with_49(p: &Program, id: &str) -> Member {
    let mut m = member(p, id);
    // Mon 2026-12-14 12:30 MSK: 2 × 245 = 490 RUB → floor(490 / 10) = 49, pending until +24 h.
    let r = ok(p, &mut m, &purchase("p1", "2026-12-14T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    assert_eq!(r.total(EntryKind::Earn), 49); // 490 / 10 = 49
    let r = ok(p, &mut m, &advance("wake", "2026-12-15T09:30:00Z"));
    assert_eq!(r.balances, bal(49, 0, 0, 49)); // 14 Dec 09:30Z + 24 h = 15 Dec 09:30Z: all 49 available
    m
}

#[test]
fn basic_earn_floors_once_per_transaction() {
    let p = program();
    let mut m = member(&p, "m-basic");

    // Mon 2026-12-14 12:30 MSK (not a Tuesday): one latte at 249 RUB.
    let r = ok(&p, &mut m, &purchase("p1", "2026-12-14T09:30:00Z", &[("latte", "coffee", "1", "249.00")]));
    // 249 / 10 = 24.9 → floor = 24
    assert_eq!(r.explanations, vec![explanation("base", 24, "1 point per 10 RUB: +24")]);
    assert_eq!(
        r.entries,
        vec![Entry {
            seq: 1, // the first ledger entry of this member (enrolling posts none)
            kind: EntryKind::Earn,
            points: 24,
            at: t("2026-12-14T09:30:00Z"),
            lot: Some(1),
            rule: None,
            // pending until 09:30Z + 24 h = 2026-12-15 09:30Z = 12:30 MSK
            reason: "earned 24 points, pending until 2026-12-15 12:30".into(),
        }]
    );
    assert_eq!(r.balances, bal(24, 24, 0, 0)); // all 24 pending, nothing available yet

    // Two lines of 125 RUB: floored once per transaction, 250 / 10 = 25
    // (per line it would be floor(12.5) + floor(12.5) = 24).
    let r = ok(
        &p,
        &mut m,
        &purchase("p2", "2026-12-14T10:00:00Z", &[("green-tea", "tea", "1", "125.00"), ("bun", "food", "1", "125.00")]),
    );
    assert_eq!(r.explanations, vec![explanation("base", 25, "1 point per 10 RUB: +25")]);
    assert_eq!(r.total(EntryKind::Earn), 25);
    assert_eq!(r.balances, bal(49, 49, 0, 0)); // 24 + 25 = 49 pending

    // 9.99 RUB: 0.999 points → floor = 0: no lot, no entry, no explanation.
    let r = ok(&p, &mut m, &purchase("p3", "2026-12-14T10:05:00Z", &[("sugar", "food", "1", "9.99")]));
    assert!(r.entries.is_empty());
    assert!(r.explanations.is_empty());
    assert_eq!(r.balances, bal(49, 49, 0, 0)); // unchanged
    assert_eq!(m.lots().len(), 2); // lots of p1 and p2 only

    // A line discount: 300.00 − 50.01 = 249.99 RUB → 24.999 → floor = 24.
    let line = json!({"sku": "flat-white", "category": "coffee", "quantity": "1", "unit_price": "300.00",
        "discount": "50.01"});
    let e = ev(json!({"id": "p4", "at": "2026-12-14T10:10:00Z", "type": "purchase", "lines": [line]}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(r.explanations, vec![explanation("base", 24, "1 point per 10 RUB: +24")]);
    assert_eq!(r.balances, bal(73, 73, 0, 0)); // 24 + 25 + 0 + 24 = 73 pending
    assert_eq!(m.totals().earned, 73); // 24 + 25 + 24
}

#[test]
fn alcohol_earns_nothing() {
    let p = program();
    let mut m = member(&p, "m-alcohol");

    let r = ok(
        &p,
        &mut m,
        &purchase(
            "p1",
            "2026-12-14T09:30:00Z",
            &[("latte", "coffee", "2", "245.00"), ("wine", "alcohol", "1", "900.00")],
        ),
    );
    // 2 × 245 = 490 RUB eligible (wine's 900 excluded) → floor(490 / 10) = 49
    assert_eq!(r.explanations, vec![explanation("base", 49, "1 point per 10 RUB: +49")]);
    assert_eq!(r.total(EntryKind::Earn), 49);
    assert_eq!(r.balances, bal(49, 49, 0, 0));
    let lines = &m.purchases()[0].lines;
    assert_eq!((lines[0].points, lines[1].points), (49, 0)); // all 49 on the latte line, 0 on the wine

    // An alcohol-only basket: 2 × 900 = 1800 RUB, none eligible → 0 points, no lot, no explanation.
    let r = ok(&p, &mut m, &purchase("p2", "2026-12-14T09:40:00Z", &[("wine", "alcohol", "2", "900.00")]));
    assert!(r.entries.is_empty());
    assert!(r.explanations.is_empty());
    assert_eq!(r.balances, bal(49, 49, 0, 0)); // unchanged
    assert_eq!(m.lots().len(), 1); // only p1's lot

    // Returning the wine of p1 takes back nothing: its line earned 0.
    let e = ev(json!({"id": "r1", "at": "2026-12-14T09:50:00Z", "type": "return", "purchase": "p1",
        "lines": [{"line": 1}]}));
    let r = ok(&p, &mut m, &e);
    assert!(r.entries.is_empty());
    assert_eq!(r.shortfall, 0);
    assert_eq!(r.balances, bal(49, 49, 0, 0)); // still 49 pending
}

#[test]
fn pending_for_24_hours_then_available() {
    let p = program();
    let mut m = member(&p, "m-pending");

    // Mon 2026-12-14 09:30Z (12:30 MSK): 2 × 245 = 490 RUB → 49 points.
    let r = ok(&p, &mut m, &purchase("p1", "2026-12-14T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    assert_eq!(r.balances, bal(49, 49, 0, 0));
    let lot = &m.lots()[0];
    assert!(lot.pending);
    assert_eq!(lot.available_at, t("2026-12-15T09:30:00Z")); // 09:30Z + 24 h

    // 14 Dec + 6 months = 14 Jun 2027, end of June → 1 Jul 2027 00:00 MSK = 30 Jun 21:00Z
    assert_eq!(lot.expires_at, Some(t("2027-06-30T21:00:00Z")));

    // One second before: nothing can be spent.
    let e = redeem("too-soon", "2026-12-15T09:29:59Z", 25);
    let err = fail(&p, &mut m, &e);
    assert_eq!(err, Error::InsufficientPoints { event: "too-soon".into(), requested: 25, available: 0 });
    let r = ok(&p, &mut m, &advance("a1", "2026-12-15T09:29:59Z"));
    assert!(r.entries.is_empty());
    assert_eq!(r.balances, bal(49, 49, 0, 0)); // still pending

    // Exactly at available_at: activation, dated available_at.
    let r = ok(&p, &mut m, &advance("a2", "2026-12-15T09:30:00Z"));
    assert_eq!(
        r.entries,
        vec![Entry {
            seq: 2, // Earn was 1
            kind: EntryKind::Activate,
            points: 49,
            at: t("2026-12-15T09:30:00Z"),
            lot: Some(1),
            rule: None,
            reason: "pending points became available".into(),
        }]
    );
    assert_eq!(r.balances, bal(49, 0, 0, 49)); // 49 moved from pending to available
    assert_eq!(m.balances(), r.balances);

    // Activation is lazy: without an advance, the next event posts it at its own instant first.
    let mut m2 = member(&p, "m-pending-lazy");
    ok(&p, &mut m2, &purchase("p1", "2026-12-14T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    let r = ok(&p, &mut m2, &redeem("rd", "2026-12-15T10:00:00Z", 25));
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Activate, 49, t("2026-12-15T09:30:00Z"), Some(1)), // at available_at, not at the redeem
            (EntryKind::Burn, -25, t("2026-12-15T10:00:00Z"), Some(1)),
        ]
    );
    assert_eq!(r.entries[1].reason, "paid 25 RUB with points"); // 25 points × 1 RUB
    assert_eq!(r.balances, bal(24, 0, 0, 24)); // 49 − 25 = 24
}

#[test]
fn expiry_instant_is_exact() {
    let p = program();
    let mut m = member(&p, "m-expiry");
    let expires = t("2027-06-30T21:00:00Z");

    // Tue 2026-12-15 12:30 MSK (outside the 15–18 happy hour): 490 RUB → 49 points.
    let r = ok(&p, &mut m, &purchase("p1", "2026-12-15T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    // 15 Dec 2026 + 6 months = 15 Jun 2027 12:30 MSK → end of June = 1 Jul 2027 00:00 MSK = 2027-06-30T21:00Z
    let one = vec![Expiring { at: expires, date: "2027-07-01".parse().unwrap(), points: 49 }];
    assert_eq!(m.lots()[0].expires_at, Some(expires));
    assert_eq!(r.next_expiries, one);
    assert_eq!(p.upcoming_expiries(&m, m.clock(), None), one);
    // Counted while `from` is before the instant, not once `from` reaches it.
    assert_eq!(p.upcoming_expiries(&m, t("2027-06-30T20:59:59Z"), None), one);
    assert!(p.upcoming_expiries(&m, expires, None).is_empty());
    // `until` is inclusive: an expiry at exactly `until` is listed.
    assert!(p.upcoming_expiries(&m, m.clock(), Some(t("2027-06-30T20:59:59Z"))).is_empty());
    assert_eq!(p.upcoming_expiries(&m, m.clock(), Some(expires)), one);

    // One second before the instant: the points are there and usable.
    let r = ok(&p, &mut m, &advance("a1", "2027-06-30T20:59:59Z"));
    // the lazy activation of 15 Dec 09:30Z + 24 h, and no expiry yet
    assert_eq!(moves(&r), vec![(EntryKind::Activate, 49, t("2026-12-16T09:30:00Z"), Some(1))]);
    assert_eq!(r.balances, bal(49, 0, 0, 49));
    let r = ok(&p, &mut m, &redeem("rd", "2027-06-30T20:59:59Z", 25));
    assert_eq!(moves(&r), vec![(EntryKind::Burn, -25, t("2027-06-30T20:59:59Z"), Some(1))]);
    assert_eq!(r.balances, bal(24, 0, 0, 24)); // 49 − 25 = 24

    // At the instant: the remaining 24 expire, dated at the expiry instant.
    let r = ok(&p, &mut m, &advance("a2", "2027-06-30T21:00:00Z"));
    assert_eq!(moves(&r), vec![(EntryKind::Expire, -24, expires, Some(1))]);
    assert_eq!(r.entries[0].reason, "points expired");
    assert_eq!(r.balances, bal(0, 0, 0, 0));
    assert!(r.next_expiries.is_empty());
    assert!(p.upcoming_expiries(&m, m.clock(), None).is_empty());
    let totals = m.totals();
    assert_eq!((totals.earned, totals.burned, totals.expired), (49, 25, 24)); // 49 = 25 + 24
    let err = fail(&p, &mut m, &redeem("late-rd", "2027-06-30T21:00:00Z", 25));
    assert_eq!(err, Error::InsufficientPoints { event: "late-rd".into(), requested: 25, available: 0 });

    // Without an advance the expiry is applied lazily too: a redeem at the instant finds nothing.
    let mut m2 = member(&p, "m-expiry-lazy");
    ok(&p, &mut m2, &purchase("p1", "2026-12-15T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    let err = fail(&p, &mut m2, &redeem("rd", "2027-06-30T21:00:00Z", 25));
    assert_eq!(err, Error::InsufficientPoints { event: "rd".into(), requested: 25, available: 0 });
    // …while one second earlier all 49 can be spent.
    let r = ok(&p, &mut m2, &redeem("rd2", "2027-06-30T20:59:59Z", 49));
    assert_eq!(r.total(EntryKind::Burn), -49);
    assert_eq!(r.balances, bal(0, 0, 0, 0));
}

#[test]
fn expiry_month_boundary_is_local() {
    let p = program();
    let mut m = member(&p, "m-boundary");
    let end_june = t("2027-06-30T21:00:00Z"); // 1 Jul 2027 00:00 MSK
    let end_july = t("2027-07-31T21:00:00Z"); // 1 Aug 2027 00:00 MSK

    // 15 Dec: 490 RUB → 49, lot 1; 15 Jun 2027 → 1 Jul 00:00 MSK.
    ok(&p, &mut m, &purchase("dec15", "2026-12-15T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    // Thu 31 Dec 23:30 MSK (20:30Z): 150 + 190 = 340 RUB → 34, lot 2.
    // 31 Dec + 6 months = 31 Jun → clamped to 30 Jun 2027, end of June → 1 Jul 00:00 MSK.
    let r = ok(
        &p,
        &mut m,
        &purchase(
            "dec31",
            "2026-12-31T20:30:00Z",
            &[("black-tea", "tea", "1", "150.00"), ("croissant", "food", "1", "190.00")],
        ),
    );
    assert_eq!(r.total(EntryKind::Earn), 34); // 340 / 10

    // Fri 1 Jan 00:30 MSK, still 31 Dec 21:30 in UTC: 260 RUB → 26, lot 3.

    // Local month is January: 1 Jan + 6 months = 1 Jul 2027 00:30, end of July → 1 Aug 00:00 MSK.
    let r = ok(&p, &mut m, &purchase("jan1", "2026-12-31T21:30:00Z", &[("cappuccino", "coffee", "1", "260.00")]));
    assert_eq!(r.total(EntryKind::Earn), 26); // 260 / 10
    let expiries: Vec<_> = m.lots().iter().map(|l| (l.seq, l.expires_at)).collect();
    assert_eq!(expiries, vec![(1, Some(end_june)), (2, Some(end_june)), (3, Some(end_july))]);
    let both = vec![
        Expiring { at: end_june, date: "2027-07-01".parse().unwrap(), points: 83 }, // 49 + 34
        Expiring { at: end_july, date: "2027-08-01".parse().unwrap(), points: 26 },
    ];
    assert_eq!(r.next_expiries, both);
    assert_eq!(p.upcoming_expiries(&m, m.clock(), None), both);

    // Just before 1 Jul: everything is there (lots 2 and 3 activate lazily at +24 h;
    // lot 1 already activated at the dec31 event).
    let r = ok(&p, &mut m, &advance("a1", "2027-06-30T20:59:59Z"));
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Activate, 34, t("2027-01-01T20:30:00Z"), Some(2)), // 31 Dec 20:30Z + 24 h
            (EntryKind::Activate, 26, t("2027-01-01T21:30:00Z"), Some(3)), // 31 Dec 21:30Z + 24 h
        ]
    );
    assert_eq!(r.balances, bal(109, 0, 0, 109)); // 49 + 34 + 26

    // 1 Jul 00:00 MSK: the December lots (15 Dec and 31 Dec) expire, the 1 Jan one stays.
    let r = ok(&p, &mut m, &advance("a2", "2027-06-30T21:00:00Z"));
    assert_eq!(
        moves(&r),
        vec![(EntryKind::Expire, -49, end_june, Some(1)), (EntryKind::Expire, -34, end_june, Some(2))]
    );
    assert_eq!(r.balances, bal(26, 0, 0, 26)); // 109 − 83
    assert_eq!(r.next_expiries, vec![Expiring { at: end_july, date: "2027-08-01".parse().unwrap(), points: 26 }]);

    let r = ok(&p, &mut m, &advance("a3", "2027-07-31T20:59:59Z"));
    assert!(r.entries.is_empty());
    assert_eq!(r.balances, bal(26, 0, 0, 26));
    let r = ok(&p, &mut m, &advance("a4", "2027-07-31T21:00:00Z"));
    assert_eq!(moves(&r), vec![(EntryKind::Expire, -26, end_july, Some(3))]);
    assert_eq!(r.balances, bal(0, 0, 0, 0));
    assert_eq!(m.totals().expired, 109); // 49 + 34 + 26
}

#[test]
fn burns_take_the_oldest_expiring_points_first() {
    let p = program();
    let mut m = member(&p, "m-fifo");
    let end_june = t("2027-06-30T21:00:00Z");
    let end_july = t("2027-07-31T21:00:00Z");

    // Sat 2 Jan 2027 12:00 MSK: 2 × 245 + 190 = 680 RUB → 68 points, lot 1.
    // 2 Jan + 6 months = 2 Jul → end of July → 2027-07-31T21:00Z.
    ok(
        &p,
        &mut m,
        &purchase(
            "jan2",
            "2027-01-02T09:00:00Z",
            &[("latte", "coffee", "2", "245.00"), ("croissant", "food", "1", "190.00")],
        ),
    );
    // An offline till sends Thu 31 Dec 12:00 MSK 48 h late: 260 + 190 = 450 RUB → 45 points, lot 2.
    // Evaluated at its own instant: 31 Dec + 6 months → end of June → 2027-06-30T21:00Z,
    // so the newer lot (seq 2) expires before lot 1.
    let r = ok(
        &p,
        &mut m,
        &purchase(
            "dec31",
            "2026-12-31T09:00:00Z",
            &[("cappuccino", "coffee", "1", "260.00"), ("croissant", "food", "1", "190.00")],
        ),
    );
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Earn, 45, t("2026-12-31T09:00:00Z"), Some(2)),
            // available at 31 Dec 09:00Z + 24 h = 1 Jan 09:00Z, before the clock (2 Jan 09:00Z)
            (EntryKind::Activate, 45, t("2027-01-01T09:00:00Z"), Some(2)),
        ]
    );
    assert_eq!(r.balances, bal(113, 68, 0, 45)); // 68 pending (lot 1) + 45 available (lot 2)
    let lots: Vec<_> = m.lots().iter().map(|l| (l.seq, l.expires_at)).collect();
    assert_eq!(lots, vec![(1, Some(end_july)), (2, Some(end_june))]);

    let r = ok(&p, &mut m, &advance("a1", "2027-01-03T09:00:00Z"));
    assert_eq!(moves(&r), vec![(EntryKind::Activate, 68, t("2027-01-03T09:00:00Z"), Some(1))]);
    assert_eq!(r.balances, bal(113, 0, 0, 113)); // 68 + 45

    // Redeem 60: lot 2 (expires 30 Jun) first, all 45; then 60 − 45 = 15 from lot 1.
    let r = ok(&p, &mut m, &redeem("r1", "2027-01-03T10:00:00Z", 60));
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Burn, -45, t("2027-01-03T10:00:00Z"), Some(2)),
            (EntryKind::Burn, -15, t("2027-01-03T10:00:00Z"), Some(1)),
        ]
    );
    assert_eq!(
        m.burns()[0].takes,
        vec![
            Take { lot: 2, expires_at: Some(end_june), points: 45 },
            Take { lot: 1, expires_at: Some(end_july), points: 15 },
        ]
    );
    assert_eq!(r.balances, bal(53, 0, 0, 53)); // 113 − 60
    let lots: Vec<_> = m.lots().iter().map(|l| (l.seq, l.remaining)).collect();
    assert_eq!(lots, vec![(1, 53)]); // lot 2 is spent and dropped; 68 − 15 = 53 left in lot 1
    assert_eq!(r.next_expiries, vec![Expiring { at: end_july, date: "2027-08-01".parse().unwrap(), points: 53 }]);

    // The next redeem can only take lot 1.
    let r = ok(&p, &mut m, &redeem("r2", "2027-01-03T10:05:00Z", 25));
    assert_eq!(moves(&r), vec![(EntryKind::Burn, -25, t("2027-01-03T10:05:00Z"), Some(1))]);
    assert_eq!(r.balances, bal(28, 0, 0, 28)); // 53 − 25
}

#[test]
fn tuesday_happy_hour_doubles_coffee_inside_15_to_18_local() {
    let p = program();
    let mut m = member(&p, "m-tuesday");
    // Every basket: latte 245 (coffee) + croissant 190 (food) = 435 RUB.
    // base: 435 / 10 = 43.5 → 43. tuesday-coffee: coffee only, (2 − 1) × 245 / 10 = 24.5 → 24 on its own.
    let basket = [("latte", "coffee", "1", "245.00"), ("croissant", "food", "1", "190.00")];
    let base_only = vec![explanation("base", 43, "1 point per 10 RUB: +43")];
    let doubled = vec![
        explanation("base", 43, "1 point per 10 RUB: +43"),
        explanation("tuesday-coffee", 24, "Double points on coffee, Tuesday 15-18: +24"),
    ];

    // Tue 14:59 MSK = 11:59Z: one minute early → 43.
    let r = ok(&p, &mut m, &purchase("h1", "2026-12-15T11:59:00Z", &basket));
    assert_eq!(r.explanations, base_only);
    assert_eq!(r.total(EntryKind::Earn), 43);

    // Tue 15:00 MSK = 12:00Z: inside → 43 + 24 = 67, in one Earn entry.
    let r = ok(&p, &mut m, &purchase("h2", "2026-12-15T12:00:00Z", &basket));
    assert_eq!(r.explanations, doubled);
    assert_eq!(moves(&r), vec![(EntryKind::Earn, 67, t("2026-12-15T12:00:00Z"), Some(2))]);
    // Per line: base 43 split over exact [24.5, 19.0] → [24.21…, 18.78…] → floors [24, 18],
    // the 1 left goes to the larger remainder (line 1) → [24, 19]; the bonus 24 all on the
    // latte → latte 24 + 24 = 48, croissant 19 (48 + 19 = 67).
    let lines = &m.purchases()[1].lines;
    assert_eq!((lines[0].points, lines[1].points), (48, 19));

    // Tue 15:30 MSK, no coffee in the basket: only base, 250 / 10 = 25.
    let r = ok(&p, &mut m, &purchase("h2b", "2026-12-15T12:30:00Z", &[("green-tea", "tea", "1", "250.00")]));
    assert_eq!(r.explanations, vec![explanation("base", 25, "1 point per 10 RUB: +25")]);

    // Tue 17:59:59 MSK = 14:59:59Z: still inside → 67.
    let r = ok(&p, &mut m, &purchase("h3", "2026-12-15T14:59:59Z", &basket));
    assert_eq!(r.explanations, doubled);
    assert_eq!(r.total(EntryKind::Earn), 67);

    // Tue 18:00 MSK = 15:00Z: the window is [15:00, 18:00) → 43.
    let r = ok(&p, &mut m, &purchase("h4", "2026-12-15T15:00:00Z", &basket));
    assert_eq!(r.explanations, base_only);
    assert_eq!(r.total(EntryKind::Earn), 43);

    // Tue 15:30Z is 18:30 MSK: the window is local, not UTC → 43.
    let r = ok(&p, &mut m, &purchase("h5", "2026-12-15T15:30:00Z", &basket));
    assert_eq!(r.explanations, base_only);
    assert_eq!(r.total(EntryKind::Earn), 43);

    // Wed 16:00 MSK = 13:00Z: right hours, wrong day → 43.
    let r = ok(&p, &mut m, &purchase("h6", "2026-12-16T13:00:00Z", &basket));
    assert_eq!(r.explanations, base_only);
    assert_eq!(r.total(EntryKind::Earn), 43);

    // 43 + 67 + 25 + 67 + 43 + 43 + 43 = 331 earned. At Wed 13:00Z the lots of h1 (Tue 11:59Z),
    // h2 (12:00Z) and h2b (12:30Z) are past their 24 h: 43 + 67 + 25 = 135 available,
    // 331 − 135 = 196 pending.
    assert_eq!(m.totals().earned, 331);
    assert_eq!(r.balances, bal(331, 196, 0, 135));
}

#[test]
fn hold_then_capture() {
    let p = program();
    let mut m = member_with_49(&p, "m-capture");

    let e = ev(json!({"id": "h1", "at": "2026-12-20T09:00:00Z", "type": "hold", "points": 30, "order": "pos2/1010"}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(moves(&r), vec![(EntryKind::Hold, -30, t("2026-12-20T09:00:00Z"), Some(1))]);
    assert_eq!(r.entries[0].rule.as_deref(), Some("rewards"));
    assert_eq!(r.entries[0].reason, "held for 'pos2/1010'");
    assert_eq!(r.balances, bal(49, 0, 30, 19)); // 30 reserved, 49 − 30 = 19 free
    assert_eq!(r.notes, vec!["hold open until 2026-12-20T09:15:00+00:00"]); // default timeout 15 min
    assert_eq!(m.holds()[0].timeout_at, t("2026-12-20T09:15:00Z"));

    // Held points are not available to another payment: 25 asked, 19 free.
    let err = fail(&p, &mut m, &redeem("rd", "2026-12-20T09:00:30Z", 25));
    assert_eq!(err, Error::InsufficientPoints { event: "rd".into(), requested: 25, available: 19 });

    let capture = ev(json!({"id": "c1", "at": "2026-12-20T09:01:00Z", "type": "capture", "hold": "h1"}));
    let r = ok(&p, &mut m, &capture);
    assert_eq!(moves(&r), vec![(EntryKind::Burn, -30, t("2026-12-20T09:01:00Z"), Some(1))]);
    assert_eq!(r.entries[0].reason, "paid 30 RUB with points"); // 30 points × 1 RUB
    assert_eq!(r.paid.map(|a| a.to_string()).as_deref(), Some("30"));
    assert_eq!(r.balances, bal(19, 0, 0, 19)); // 49 − 30
    assert_eq!(m.holds()[0].status, HoldStatus::Captured);
    assert_eq!((m.burns()[0].points, m.burns()[0].order.as_str()), (30, "pos2/1010"));
    assert_eq!(m.totals().burned, 30);

    // A second capture of the same hold.
    let again = ev(json!({"id": "c2", "at": "2026-12-20T09:02:00Z", "type": "capture", "hold": "h1"}));
    let err = fail(&p, &mut m, &again);
    assert_eq!(err, Error::HoldClosed { event: "c2".into(), hold: "h1".into(), state: "captured" });
}

#[test]
fn hold_then_void_and_capture_after_void_fails() {
    let p = program();
    let mut m = member_with_49(&p, "m-void");

    ok(&p, &mut m, &ev(json!({"id": "h1", "at": "2026-12-20T09:00:00Z", "type": "hold", "points": 30})));
    assert_eq!(m.balances(), bal(49, 0, 30, 19)); // 49 − 30 = 19 free

    let r = ok(&p, &mut m, &ev(json!({"id": "v1", "at": "2026-12-20T09:02:00Z", "type": "void", "hold": "h1"})));
    assert_eq!(moves(&r), vec![(EntryKind::Release, 30, t("2026-12-20T09:02:00Z"), Some(1))]);
    assert_eq!(r.entries[0].reason, "hold 'h1' voided");
    assert_eq!(r.balances, bal(49, 0, 0, 49)); // all 49 free again
    assert_eq!(m.holds()[0].status, HoldStatus::Voided);

    let capture = ev(json!({"id": "c1", "at": "2026-12-20T09:03:00Z", "type": "capture", "hold": "h1"}));
    let err = fail(&p, &mut m, &capture);
    assert_eq!(err, Error::HoldClosed { event: "c1".into(), hold: "h1".into(), state: "voided" });
    assert_eq!(m.totals().burned, 0);
}

#[test]
fn hold_times_out_after_15_minutes() {
    let p = program();
    let mut m = member_with_49(&p, "m-timeout");

    ok(&p, &mut m, &ev(json!({"id": "h1", "at": "2026-12-20T09:00:00Z", "type": "hold", "points": 30})));

    // 09:14:59: still open.
    let r = ok(&p, &mut m, &advance("a1", "2026-12-20T09:14:59Z"));
    assert!(r.entries.is_empty());
    assert_eq!(r.balances, bal(49, 0, 30, 19));

    // 09:00 + 15 min = 09:15:00: released, dated at the timeout.
    let r = ok(&p, &mut m, &advance("a2", "2026-12-20T09:15:00Z"));
    assert_eq!(moves(&r), vec![(EntryKind::Release, 30, t("2026-12-20T09:15:00Z"), Some(1))]);
    assert_eq!(r.entries[0].reason, "hold 'h1' timed out");
    assert_eq!(r.balances, bal(49, 0, 0, 49));
    assert_eq!(m.holds()[0].status, HoldStatus::Released);
    assert_eq!(m.holds()[0].closed_at, Some(t("2026-12-20T09:15:00Z")));

    let capture = ev(json!({"id": "c1", "at": "2026-12-20T09:16:00Z", "type": "capture", "hold": "h1"}));
    let err = fail(&p, &mut m, &capture);
    assert_eq!(err, Error::HoldClosed { event: "c1".into(), hold: "h1".into(), state: "released (timed out)" });

    // The released points can be spent: all 49.
    let r = ok(&p, &mut m, &redeem("rd", "2026-12-20T09:17:00Z", 49));
    assert_eq!(r.total(EntryKind::Burn), -49);
    assert_eq!(r.balances, bal(0, 0, 0, 0));
}

/// A member whose 49 points (earned 15 Dec 2026, expiring 2027-06-30T21:00Z) are 30 held by
/// hold `h1` made at `hold_at`, 19 free.
fn member_holding_30_across_expiry(p: &Program, id: &str, hold_at: &str) -> Member {
    let mut m = member(p, id);
    // Tue 15 Dec 12:30 MSK (outside the happy hour): 490 RUB → 49 points, lot 1.
    ok(p, &mut m, &purchase("p1", "2026-12-15T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    let r = ok(p, &mut m, &ev(json!({"id": "h1", "at": hold_at, "type": "hold", "points": 30})));
    assert_eq!(r.total(EntryKind::Hold), -30);
    assert_eq!(r.balances, bal(49, 0, 30, 19)); // 49 − 30 = 19 free
    m
}

/// (points, instant) of the entries of one kind.
fn of_kind(r: &Receipt, kind: EntryKind) -> Vec<(i64, DateTime<Utc>)> {
    r.entries.iter().filter(|e| e.kind == kind).map(|e| (e.points, e.at)).collect()
}

#[test]
fn held_points_are_honoured_by_a_capture_after_their_expiry() {
    let p = program();
    let expires = t("2027-06-30T21:00:00Z");
    // Hold at 23:55 MSK on 30 Jun, 5 minutes before the lot expires; timeout 21:10Z.
    let mut m = member_holding_30_across_expiry(&p, "m-held-capture", "2027-06-30T20:55:00Z");

    // At the expiry instant only the 19 free points expire; the 30 held stay reserved.
    let r = ok(&p, &mut m, &advance("a1", "2027-06-30T21:00:00Z"));
    assert_eq!(moves(&r), vec![(EntryKind::Expire, -19, expires, Some(1))]);
    assert_eq!(r.balances, bal(30, 0, 30, 0)); // 49 − 19 = 30, all held

    // The capture still burns them.
    let capture = ev(json!({"id": "c1", "at": "2027-06-30T21:01:00Z", "type": "capture", "hold": "h1"}));
    let r = ok(&p, &mut m, &capture);
    assert_eq!(moves(&r), vec![(EntryKind::Burn, -30, t("2027-06-30T21:01:00Z"), Some(1))]);
    assert_eq!(r.balances, bal(0, 0, 0, 0));
    let totals = m.totals();
    assert_eq!((totals.expired, totals.burned), (19, 30)); // 19 + 30 = 49
}

#[test]
fn held_points_expire_when_the_hold_is_voided_after_their_expiry() {
    let p = program();
    let mut m = member_holding_30_across_expiry(&p, "m-held-void", "2027-06-30T20:55:00Z");
    let r = ok(&p, &mut m, &advance("a1", "2027-06-30T21:00:00Z"));
    assert_eq!(of_kind(&r, EntryKind::Expire), vec![(-19, t("2027-06-30T21:00:00Z"))]); // the 19 free ones

    // Voided at 21:01Z: the 30 are released and, their lot being past its expiry, expire —
    // "a reserved point … expires when the hold is voided or times out" (crate docs), so at 21:01Z.
    let r = ok(&p, &mut m, &ev(json!({"id": "v1", "at": "2027-06-30T21:01:00Z", "type": "void", "hold": "h1"})));
    assert_eq!(of_kind(&r, EntryKind::Release), vec![(30, t("2027-06-30T21:01:00Z"))]);
    assert_eq!(of_kind(&r, EntryKind::Expire), vec![(-30, t("2027-06-30T21:01:00Z"))]);
    assert_eq!(r.balances, bal(0, 0, 0, 0));
    assert_eq!(m.totals().expired, 49); // 19 + 30
}

#[test]
fn held_points_expire_when_the_hold_times_out_after_their_expiry() {
    let p = program();
    // Hold at 20:50Z, timeout 20:50 + 15 min = 21:05Z, five minutes after the lot's expiry (21:00Z).
    let hold_at = "2027-06-30T20:50:00Z";

    // Between 21:00Z and 21:05Z the 30 held points are still honoured: a capture at 21:03Z burns them,
    // so at 21:00Z only the 19 free points expired.
    let mut m = member_holding_30_across_expiry(&p, "m-held-timeout-capture", hold_at);
    let capture = ev(json!({"id": "c1", "at": "2027-06-30T21:03:00Z", "type": "capture", "hold": "h1"}));
    let r = ok(&p, &mut m, &capture);
    assert_eq!(of_kind(&r, EntryKind::Expire), vec![(-19, t("2027-06-30T21:00:00Z"))]);
    assert_eq!(of_kind(&r, EntryKind::Burn), vec![(-30, t("2027-06-30T21:03:00Z"))]);

    // Without a capture, one advance at 21:10Z notices both: 19 expire at 21:00Z, the hold times out
    // at 21:05Z, and its 30 points expire then (not at 21:00Z, when they were still reserved).
    let mut m = member_holding_30_across_expiry(&p, "m-held-timeout", hold_at);
    let r = ok(&p, &mut m, &advance("a1", "2027-06-30T21:10:00Z"));
    assert_eq!(of_kind(&r, EntryKind::Release), vec![(30, t("2027-06-30T21:05:00Z"))]);
    assert_eq!(
        of_kind(&r, EntryKind::Expire),
        vec![(-19, t("2027-06-30T21:00:00Z")), (-30, t("2027-06-30T21:05:00Z"))]
    );
    assert_eq!(r.balances, bal(0, 0, 0, 0));
    assert_eq!(m.totals().expired, 49); // 19 + 30
    assert_eq!(m.holds()[0].status, HoldStatus::Released);
}

#[test]
fn burn_minimum_and_insufficient_points() {
    let p = program();
    let mut m = member_with_49(&p, "m-burn");

    // 24 < min_points 25.
    let err = fail(&p, &mut m, &redeem("rd1", "2026-12-16T10:00:00Z", 24));
    assert_eq!(
        err,
        Error::BurnRefused {
            event: "rd1".into(),
            rule: "rewards".into(),
            reason: "24 points is fewer than the minimum of 25".into()
        }
    );
    // A hold obeys the same minimum.
    let hold = ev(json!({"id": "h1", "at": "2026-12-16T10:00:00Z", "type": "hold", "points": 24}));
    assert!(matches!(fail(&p, &mut m, &hold), Error::BurnRefused { .. }));

    // More than available: 50 > 49.
    let err = fail(&p, &mut m, &redeem("rd2", "2026-12-16T10:00:00Z", 50));
    assert_eq!(err, Error::InsufficientPoints { event: "rd2".into(), requested: 50, available: 49 });

    // Exactly the minimum is fine.
    let r = ok(&p, &mut m, &redeem("rd3", "2026-12-16T10:00:00Z", 25));
    assert_eq!(r.total(EntryKind::Burn), -25);
    assert_eq!(r.balances, bal(24, 0, 0, 24)); // 49 − 25

    // 24 left: 25 is too many; and the minimum is checked before the balance.
    let err = fail(&p, &mut m, &redeem("rd4", "2026-12-16T10:01:00Z", 25));
    assert_eq!(err, Error::InsufficientPoints { event: "rd4".into(), requested: 25, available: 24 });
    let err = fail(&p, &mut m, &redeem("rd5", "2026-12-16T10:01:00Z", 10));
    assert!(matches!(err, Error::BurnRefused { .. }));
}

#[test]
fn partial_return_inside_pending_cancels_the_line_points() {
    let p = program();
    let mut m = member(&p, "m-return-pending");

    // Mon 14 Dec 12:30 MSK: 2 × 245 = 490 (coffee) + 195 (food) = 685 RUB → 68.5 → 68.
    let r = ok(
        &p,
        &mut m,
        &purchase(
            "p1",
            "2026-12-14T09:30:00Z",
            &[("latte", "coffee", "2", "245.00"), ("croissant", "food", "1", "195.00")],
        ),
    );
    assert_eq!(r.total(EntryKind::Earn), 68);
    // Split of 68 over exact [49.0, 19.5] (sum 68.5): 49 × 68/68.5 = 48.64…, 19.5 × 68/68.5 = 19.36…
    // → floors [48, 19] = 67; the 1 left goes to the larger remainder (.64, line 0) → [49, 19].
    let lines = &m.purchases()[0].lines;
    assert_eq!((lines[0].points, lines[1].points), (49, 19));

    // Return 1 of the 2 lattes, 2.5 h later (still pending): floor(49 × 1/2) = floor(24.5) = 24.
    let e = ev(json!({"id": "r1", "at": "2026-12-14T12:00:00Z", "type": "return", "purchase": "p1",
        "lines": [{"line": 0, "quantity": "1"}]}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(moves(&r), vec![(EntryKind::Reverse, -24, t("2026-12-14T12:00:00Z"), Some(1))]);
    assert_eq!(r.entries[0].reason, "return: pending points cancelled");
    assert_eq!(r.shortfall, 0);
    assert_eq!(r.balances, bal(44, 44, 0, 0)); // 68 − 24 = 44 still pending
    assert_eq!((m.lots()[0].amount, m.lots()[0].remaining), (68, 44));

    // Return the other latte: the line is now fully returned, so the rest of its 49: 49 − 24 = 25.
    let e = ev(json!({"id": "r2", "at": "2026-12-14T12:10:00Z", "type": "return", "purchase": "p1",
        "lines": [{"line": 0, "quantity": "1"}]}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(moves(&r), vec![(EntryKind::Reverse, -25, t("2026-12-14T12:10:00Z"), Some(1))]);
    assert_eq!(r.balances, bal(19, 19, 0, 0)); // 44 − 25 = 19: exactly the croissant's share
    assert_eq!(m.purchases()[0].lines[0].reversed, 49); // 24 + 25 = all of the line's 49
    assert_eq!(m.totals().reversed, 49);

    // Nothing of that line is left to return.
    let e = ev(json!({"id": "r3", "at": "2026-12-14T12:20:00Z", "type": "return", "purchase": "p1",
        "lines": [{"line": 0, "quantity": "1"}]}));
    let err = fail(&p, &mut m, &e);
    assert_eq!(
        err,
        Error::ReturnExceedsPurchase {
            event: "r3".into(),
            purchase: "p1".into(),
            line: 0,
            requested: "1".into(),
            left: "0".into()
        }
    );

    // The croissant's 19 activate at 14 Dec 09:30Z + 24 h.
    let r = ok(&p, &mut m, &advance("a1", "2026-12-15T09:30:00Z"));
    assert_eq!(moves(&r), vec![(EntryKind::Activate, 19, t("2026-12-15T09:30:00Z"), Some(1))]);
    assert_eq!(r.balances, bal(19, 0, 0, 19));
}

#[test]
fn return_after_spending_reports_a_shortfall() {
    let p = program();
    let mut m = member_with_49(&p, "m-shortfall");

    // Spend 40 of the 49 (not for the returned order).
    let r = ok(&p, &mut m, &redeem("rd", "2026-12-15T10:00:00Z", 40));
    assert_eq!(r.balances, bal(9, 0, 0, 9)); // 49 − 40

    // Return all of p1: 49 due; 9 are left in its lot, the other 40 were spent.
    let e = ev(json!({"id": "ret", "at": "2026-12-16T10:00:00Z", "type": "return", "purchase": "p1"}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(moves(&r), vec![(EntryKind::Reverse, -9, t("2026-12-16T10:00:00Z"), Some(1))]);
    assert_eq!(r.entries[0].reason, "return: points taken back");
    assert_eq!(r.shortfall, 40); // 49 − 9
    assert_eq!(r.notes, vec!["40 points were already spent and could not be taken back (shortfall)"]);
    assert_eq!(r.balances, bal(0, 0, 0, 0)); // not negative
    assert_eq!(m.debt(), 0);
    assert_eq!(m.totals().reversed, 9); // only what was actually taken back

    // With other points around, the return takes from them before reporting a shortfall:
    // own lot first, then other available points, then other pending points.
    let mut m2 = member_with_49(&p, "m-shortfall-2");
    ok(&p, &mut m2, &redeem("rd", "2026-12-15T10:00:00Z", 40)); // lot 1: 9 left

    // Wed 16 Dec 12:00 MSK: 100 RUB → 10 points pending in lot 2.
    ok(&p, &mut m2, &purchase("p2", "2026-12-16T09:00:00Z", &[("black-tea", "tea", "1", "100.00")]));
    let e = ev(json!({"id": "ret", "at": "2026-12-16T10:00:00Z", "type": "return", "purchase": "p1"}));
    let r = ok(&p, &mut m2, &e);
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Reverse, -9, t("2026-12-16T10:00:00Z"), Some(1)), // own lot
            (EntryKind::Reverse, -10, t("2026-12-16T10:00:00Z"), Some(2)), // other pending points
        ]
    );
    assert_eq!(r.entries[1].reason, "return: points taken back from other points");
    assert_eq!(r.shortfall, 30); // 49 − 9 − 10
    assert_eq!(r.balances, bal(0, 0, 0, 0));
}

#[test]
fn returning_an_order_paid_with_points_refunds_the_points() {
    let p = program();
    let mut m = member_with_49(&p, "m-refund");
    let end_june = t("2027-06-30T21:00:00Z");

    // Wed 16 Dec: 30 points pay part of order-2 …
    let e = ev(json!({"id": "rd", "at": "2026-12-16T09:00:00Z", "type": "redeem", "points": 30, "order": "order-2"}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(moves(&r), vec![(EntryKind::Burn, -30, t("2026-12-16T09:00:00Z"), Some(1))]);
    assert_eq!(r.balances, bal(19, 0, 0, 19)); // 49 − 30

    // … and the sale of order-2 closes: 2 × 150 = 300 RUB → 30 points pending in lot 2.
    let e = ev(json!({"id": "p2", "at": "2026-12-16T09:01:00Z", "type": "purchase", "order": "order-2",
        "lines": [{"sku": "cappuccino", "category": "coffee", "quantity": "2", "unit_price": "150.00"}]}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(r.total(EntryKind::Earn), 30); // 300 / 10
    assert_eq!(r.balances, bal(49, 30, 0, 19));

    // Return 1 of 2: earned points floor(30 × 1/2) = 15 cancelled from the pending lot 2;
    // money returned 150 of 300 → floor(30 burned × 150/300) = 15 points given back, in a new
    // lot 3 that keeps the expiry of lot 1 they came from.
    let e = ev(json!({"id": "ret1", "at": "2026-12-16T12:00:00Z", "type": "return", "purchase": "p2",
        "lines": [{"line": 0, "quantity": "1"}]}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(
        moves(&r),
        vec![
            // The refund comes first, so its points could pay the reversal if the own lot fell short.
            (EntryKind::Refund, 15, t("2026-12-16T12:00:00Z"), Some(3)),
            (EntryKind::Reverse, -15, t("2026-12-16T12:00:00Z"), Some(2)),
        ]
    );
    assert_eq!(r.entries[0].reason, "return: points that paid in 'rd' given back");
    assert_eq!(r.balances, bal(49, 15, 0, 34)); // pending 30 − 15; available 19 + 15
    let lot3 = m.lots().iter().find(|l| l.seq == 3).expect("refund lot");
    assert_eq!((lot3.remaining, lot3.pending, lot3.expires_at), (15, false, Some(end_june)));

    // Return the rest: the other 15 earned points, and the other 15 of the 30 burned.
    let e = ev(json!({"id": "ret2", "at": "2026-12-16T12:05:00Z", "type": "return", "purchase": "p2"}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Refund, 15, t("2026-12-16T12:05:00Z"), Some(4)),
            (EntryKind::Reverse, -15, t("2026-12-16T12:05:00Z"), Some(2)),
        ]
    );
    assert_eq!(r.balances, bal(49, 0, 0, 49)); // back to the 49 of p1
    assert_eq!(m.burns()[0].refunded, 30);
    let totals = m.totals();
    // earned 49 + 30 = 79, refunded 30, burned 30, reversed 30: 79 + 30 = 49 + 30 + 30
    assert_eq!((totals.earned, totals.refunded, totals.burned, totals.reversed), (79, 30, 30, 30));
    // All 49 still expire on 1 Jul 2027 (refunds did not extend their life): 19 + 15 + 15.
    assert_eq!(
        p.upcoming_expiries(&m, m.clock(), None),
        vec![Expiring { at: end_june, date: "2027-07-01".parse().unwrap(), points: 49 }]
    );

    // The same with a two-phase payment: hold 30 for order-3, capture, sale, full return.
    let mut m = member_with_49(&p, "m-refund-capture");
    let e = ev(json!({"id": "h3", "at": "2026-12-20T09:00:00Z", "type": "hold", "points": 30, "order": "order-3"}));
    ok(&p, &mut m, &e);
    ok(&p, &mut m, &ev(json!({"id": "c3", "at": "2026-12-20T09:01:00Z", "type": "capture", "hold": "h3"})));
    let e = ev(json!({"id": "p3", "at": "2026-12-20T09:02:00Z", "type": "purchase", "order": "order-3",
        "lines": [{"sku": "latte", "category": "coffee", "quantity": "1", "unit_price": "245.00"}]}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(r.total(EntryKind::Earn), 24); // Sun 20 Dec: 245 / 10 = 24.5 → 24, lot 2
    assert_eq!(r.balances, bal(43, 24, 0, 19)); // 49 − 30 = 19 available, 24 pending
    let e = ev(json!({"id": "r3", "at": "2026-12-20T10:00:00Z", "type": "return", "purchase": "p3"}));
    let r = ok(&p, &mut m, &e);
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Refund, 30, t("2026-12-20T10:00:00Z"), Some(3)), // all 30 captured points back
            (EntryKind::Reverse, -24, t("2026-12-20T10:00:00Z"), Some(2)), // all 24 pending points cancelled
        ]
    );
    assert_eq!(r.entries[0].reason, "return: points that paid in 'c3' given back");
    assert_eq!(r.balances, bal(49, 0, 0, 49)); // 19 + 30
}

#[test]
fn the_same_event_twice_is_a_duplicate() {
    let p = program();
    let mut m = member(&p, "m-dup");
    let sale = purchase("p1", "2026-12-14T09:30:00Z", &[("latte", "coffee", "2", "245.00")]);

    let first = ok(&p, &mut m, &sale);
    assert_eq!(first.total(EntryKind::Earn), 49); // 490 / 10
    let state = m.to_json();

    let again = p.apply(&mut m, &sale).expect("a retry succeeds");
    m.check_invariants().unwrap();
    assert!(again.duplicate);
    assert_eq!(*again.receipt, first);
    assert_eq!(m.to_json(), state); // nothing changed
    assert_eq!(m.balances(), bal(49, 49, 0, 0)); // 49, not 98

    // Same id, another payload (price 250 instead of 245).
    let other = purchase("p1", "2026-12-14T09:30:00Z", &[("latte", "coffee", "2", "250.00")]);
    let err = fail(&p, &mut m, &other);
    assert_eq!(err, Error::IdReusedWithDifferentPayload { event: "p1".into() });
    // Same id and lines, another instant.
    let other = purchase("p1", "2026-12-14T09:31:00Z", &[("latte", "coffee", "2", "245.00")]);
    assert_eq!(fail(&p, &mut m, &other), Error::IdReusedWithDifferentPayload { event: "p1".into() });

    // Only the last receipt is kept (keep_receipts = 1): after another event, a retry of p1
    // is recognised but answered with AlreadyApplied, and still changes nothing.
    ok(&p, &mut m, &advance("a1", "2026-12-14T10:00:00Z"));
    assert_eq!(fail(&p, &mut m, &sale), Error::AlreadyApplied { event: "p1".into() });
    assert_eq!(m.balances(), bal(49, 49, 0, 0));
}

#[test]
fn a_failed_event_leaves_the_member_byte_identical() {
    let p = program();
    let mut m = member(&p, "m-atomic");
    ok(&p, &mut m, &purchase("p1", "2026-12-15T09:30:00Z", &[("latte", "coffee", "2", "245.00")]));
    let state = m.to_json();

    // Far in the future: the working copy would activate (16 Dec) and expire (1 Jul 2027)
    // the 49 points before refusing the redeem; none of that may stick.
    let err = fail(&p, &mut m, &redeem("rd", "2027-07-01T00:00:00Z", 25));
    assert_eq!(err, Error::InsufficientPoints { event: "rd".into(), requested: 25, available: 0 });
    assert_eq!(m.clock(), t("2026-12-15T09:30:00Z")); // the clock did not move
    assert_eq!(m.balances(), bal(49, 49, 0, 0)); // still pending, not expired

    // An undeclared category.
    let e = purchase("p2", "2026-12-15T10:00:00Z", &[("beer", "beer", "1", "300.00")]);
    assert!(matches!(fail(&p, &mut m, &e), Error::InvalidEvent { .. }));
    // A return of an unknown purchase.
    let e = ev(json!({"id": "r1", "at": "2026-12-15T10:00:00Z", "type": "return", "purchase": "nope"}));
    assert!(matches!(fail(&p, &mut m, &e), Error::NotFound { .. }));
    // A capture of an unknown hold.
    let e = ev(json!({"id": "c1", "at": "2026-12-15T10:00:00Z", "type": "capture", "hold": "nope"}));
    assert!(matches!(fail(&p, &mut m, &e), Error::NotFound { .. }));

    assert_eq!(m.to_json(), state);
    // None of the failed ids was remembered: a valid event may reuse one.
    let r = ok(&p, &mut m, &redeem("rd", "2026-12-16T10:00:00Z", 25));
    assert_eq!(r.total(EntryKind::Burn), -25);
    assert_eq!(r.balances, bal(24, 0, 0, 24)); // activated at 16 Dec 09:30Z, 49 − 25
}

#[test]
fn late_events_are_evaluated_at_their_own_instant() {
    let p = program();
    let mut m = member(&p, "m-late");
    let clock = t("2026-12-17T10:00:00Z"); // Thu 13:00 MSK
    ok(&p, &mut m, &advance("now", "2026-12-17T10:00:00Z"));

    // Tue 15 Dec 16:00 MSK (13:00Z), 45 h late: inside the happy hour of its own instant.
    let e = purchase(
        "late1",
        "2026-12-15T13:00:00Z",
        &[("latte", "coffee", "1", "245.00"), ("croissant", "food", "1", "190.00")],
    );
    let r = ok(&p, &mut m, &e);
    // 435 RUB → base floor(43.5) = 43, coffee bonus floor(24.5) = 24 → 67.
    assert_eq!(
        r.explanations,
        vec![
            explanation("base", 43, "1 point per 10 RUB: +43"),
            explanation("tuesday-coffee", 24, "Double points on coffee, Tuesday 15-18: +24"),
        ]
    );
    assert_eq!(
        moves(&r),
        vec![
            (EntryKind::Earn, 67, t("2026-12-15T13:00:00Z"), Some(1)),
            // pending from its own instant: 15 Dec 13:00Z + 24 h = 16 Dec 13:00Z, before the clock
            (EntryKind::Activate, 67, t("2026-12-16T13:00:00Z"), Some(1)),
        ]
    );
    assert_eq!(r.entries[0].reason, "earned 67 points, pending until 2026-12-16 16:00"); // 13:00Z = 16:00 MSK
    assert_eq!(r.at, t("2026-12-15T13:00:00Z"));
    assert_eq!(r.balances, bal(67, 0, 0, 67)); // balances at the member's clock
    assert_eq!(m.clock(), clock); // a late event does not move the clock back

    // expiry from its own instant: 15 Dec + 6 months → 1 Jul 2027 00:00 MSK
    assert_eq!(m.lots()[0].expires_at, Some(t("2027-06-30T21:00:00Z")));

    // Exactly 72 h late (clock − 72 h = 14 Dec 10:00Z) is the oldest instant accepted.
    let r = ok(&p, &mut m, &purchase("late2", "2026-12-14T10:00:00Z", &[("black-tea", "tea", "1", "100.00")]));
    assert_eq!(r.total(EntryKind::Earn), 10); // 100 / 10
    assert_eq!(r.balances, bal(77, 0, 0, 77)); // 67 + 10, already past its 24 h

    // One second older: refused.
    let e = purchase("late3", "2026-12-14T09:59:59Z", &[("black-tea", "tea", "1", "100.00")]);
    let err = fail(&p, &mut m, &e);
    assert_eq!(
        err,
        Error::TooLate {
            event: "late3".into(),
            at: t("2026-12-14T09:59:59Z"),
            clock,
            oldest: t("2026-12-14T10:00:00Z"), // 17 Dec 10:00Z − 72 h
        }
    );
}

#[test]
fn returns_are_accepted_for_14_days() {
    let p = program();
    let mut m = member_with_49(&p, "m-window");
    let line = json!([{"line": 0, "quantity": "1"}]);

    // 14 Dec 09:30Z + 14 days = 28 Dec 09:30Z (12:30 MSK); one second before is still inside.
    let e = ev(json!({"id": "r1", "at": "2026-12-28T09:29:59Z", "type": "return", "purchase": "p1", "lines": line}));
    let r = ok(&p, &mut m, &e);
    // 1 of 2 lattes: floor(49 × 1/2) = 24, from the (now available) lot 1.
    assert_eq!(moves(&r), vec![(EntryKind::Reverse, -24, t("2026-12-28T09:29:59Z"), Some(1))]);
    assert_eq!(r.entries[0].reason, "return: points taken back");
    assert_eq!(r.balances, bal(25, 0, 0, 25)); // 49 − 24

    let e = ev(json!({"id": "r2", "at": "2026-12-28T09:30:00Z", "type": "return", "purchase": "p1", "lines": line}));
    let err = fail(&p, &mut m, &e);
    assert_eq!(
        err,
        Error::ReturnWindowClosed { event: "r2".into(), purchase: "p1".into(), closed: t("2026-12-28T09:30:00Z") }
    );
}

#[test]
fn a_capture_keeps_the_burn_minimum_and_may_take_less_than_held() {
    let p = program();
    let mut m = member_with_49(&p, "m-partial");
    ok(&p, &mut m, &ev(json!({"id": "h1", "at": "2026-12-20T09:00:00Z", "type": "hold", "points": 40})));
    assert_eq!(m.balances(), bal(49, 0, 40, 9)); // 49 − 40 held = 9 free

    // 10 of the 40 held is below the rewards minimum of 25: refused, nothing changes.
    let small = ev(json!({"id": "c1", "at": "2026-12-20T09:01:00Z", "type": "capture", "hold": "h1", "points": 10}));
    assert!(matches!(fail(&p, &mut m, &small), Error::BurnRefused { .. }));

    // 30 of 40: burn 30, release the other 10.
    let part = ev(json!({"id": "c2", "at": "2026-12-20T09:01:00Z", "type": "capture", "hold": "h1", "points": 30}));
    let r = ok(&p, &mut m, &part);
    let at = t("2026-12-20T09:01:00Z");
    assert_eq!(moves(&r), vec![(EntryKind::Burn, -30, at, Some(1)), (EntryKind::Release, 10, at, Some(1))]);
    assert_eq!(r.balances, bal(19, 0, 0, 19)); // 49 − 30 burned; the 10 released are free again
}

// ---------------------------------------------------------------------------
// Tiers: Green (0) and Gold (300 points earned in a rolling 12 months). Gold
// earns ×1.2 (rule `tier:gold` adds 0.2 × `base`'s exact points, floored) and
// its points never expire while the member is Gold. A level reached on day d
// is kept through the same day 12 months later: until the start of
// d + 12 months + 1 day, Moscow time (21:00Z the day before).
// ---------------------------------------------------------------------------

fn signal_types(r: &Receipt) -> Vec<String> {
    let v = serde_json::to_value(&r.signals).expect("signals serialize");
    v.as_array().expect("a list").iter().map(|s| s["type"].as_str().unwrap_or_default().to_owned()).collect()
}

/// A member who reached Gold on Tue 2026-12-15 with 300 points.
fn gold_member(p: &Program, id: &str) -> Member {
    let mut m = member(p, id);
    // 12:00 MSK, outside the Tuesday happy hour: 3 000 RUB of food → 300 points, earned at Green.
    let r = ok(p, &mut m, &purchase("g1", "2026-12-15T09:00:00Z", &[("cake", "food", "10", "300")]));
    assert_eq!(r.total(EntryKind::Earn), 300);
    assert_eq!(r.explanations, vec![explanation("base", 300, "1 point per 10 RUB: +300")]);
    // 300 earned in the 12 months ending 15 Dec ≥ 300: Gold at once.
    assert_eq!(r.tier.as_deref(), Some("gold"));
    assert_eq!(signal_types(&r), ["tier_up"]);
    m
}

#[test]
fn gold_is_reached_at_once_and_earns_one_point_two_times_from_the_next_purchase() {
    let p = program();
    let mut m = member(&p, "gold-1");
    // 1 000 RUB → 100 points; 100 ≥ 80 % of 300 = 240? no: no signal.
    let r = ok(&p, &mut m, &purchase("c1", "2026-12-02T09:00:00Z", &[("cake", "food", "10", "100")]));
    assert_eq!((r.tier.as_deref(), r.signals.len()), (Some("green"), 0));
    // + 1 500 RUB → 150 points: progress 250 ≥ 240 → close to Gold, 50 more
    // needed. (c1's 100 points became available meanwhile: two rewards unlocked.)
    let r = ok(&p, &mut m, &purchase("c2", "2026-12-03T09:00:00Z", &[("cake", "food", "10", "150")]));
    assert_eq!(
        serde_json::to_value(&r.signals).unwrap(),
        json!([{"type": "close_to_next_tier", "tier": "gold", "needed": "50"},
               {"type": "reward_unlocked", "reward": "filter-coffee", "cost": 25},
               {"type": "reward_unlocked", "reward": "any-drink", "cost": 100}])
    );
    let status = p.tier(&m, m.clock()).expect("the program has tiers");
    assert_eq!((status.tier, status.progress.to_string().as_str()), ("green", "250"));
    assert_eq!(status.next.as_ref().map(|n| (n.tier, n.needed.to_string())), Some(("gold", "50".to_owned())));
    // + 600 RUB → 60 points at Green (the purchase that reaches Gold earns at the level before it): 310 → Gold.
    let r = ok(&p, &mut m, &purchase("c3", "2026-12-04T09:00:00Z", &[("cake", "food", "4", "150")]));
    assert_eq!(r.total(EntryKind::Earn), 60);
    assert_eq!(r.tier.as_deref(), Some("gold"));
    assert_eq!(
        serde_json::to_value(&r.signals).unwrap(),
        json!([{"type": "tier_up", "at": "2026-12-04T09:00:00Z", "from": "green", "to": "gold"},
               // c2's 150 became available: 250 ≥ 200.
               {"type": "reward_unlocked", "reward": "breakfast", "cost": 200}])
    );
    // Next purchase, 555 RUB: base floor(55.5) = 55; Gold adds floor(0.2 × 55.5) = floor(11.1) = 11 → 66.
    let r = ok(&p, &mut m, &purchase("c4", "2026-12-05T09:00:00Z", &[("cake", "food", "3", "185")]));
    assert_eq!(
        r.explanations,
        vec![explanation("base", 55, "1 point per 10 RUB: +55"), explanation("tier:gold", 11, "Gold ×1.2: +11")]
    );
    assert_eq!(r.total(EntryKind::Earn), 66);
    let status = p.tier(&m, m.clock()).unwrap();
    assert_eq!(status.multiplier.map(|f| f.to_string()), Some("1.2".to_owned()));
    assert!(status.points_never_expire);
    // Reached again on 5 Dec (376 ≥ 300): kept through 5 Dec 2027, until 6 Dec 2027 00:00 MSK.
    assert_eq!(status.until, Some(t("2027-12-05T21:00:00Z")));
    assert_eq!(m.tier_state().history.len(), 1);
}

#[test]
fn gold_points_do_not_expire_while_gold_and_expire_when_gold_ends() {
    let p = program();
    let mut m = gold_member(&p, "gold-2");
    // Earned 15 Dec 2026: normally expires 1 Jul 2027 00:00 MSK. Gold is kept
    // until 16 Dec 2027 00:00 MSK = 2027-12-15T21:00Z, so the lot is kept
    // until then, and the receipt says so.
    let r = ok(&p, &mut m, &advance("a1", "2026-12-16T09:00:00Z"));
    assert_eq!(r.next_expiries[0].at, t("2027-12-15T21:00:00Z"));
    // 1 Jul 2027: nothing expires.
    let r = ok(&p, &mut m, &advance("a2", "2027-07-01T00:00:00Z"));
    assert!(r.entries.is_empty());
    assert_eq!(r.balances.available, 300);
    assert_eq!(r.tier.as_deref(), Some("gold"));
    // One second before Gold ends: still Gold, still 300.
    let r = ok(&p, &mut m, &advance("a3", "2027-12-15T20:59:59Z"));
    assert_eq!((r.tier.as_deref(), r.balances.available), (Some("gold"), 300));
    // At the end: the 12 months (15 Dec 2026, 15 Dec 2027] earned 0 < 300, so
    // Gold ends, and the 300 points, past their own expiry, expire at that instant.
    let r = ok(&p, &mut m, &advance("a4", "2027-12-15T21:00:00Z"));
    assert_eq!(r.tier.as_deref(), Some("green"));
    assert_eq!(moves(&r), vec![(EntryKind::Expire, -300, t("2027-12-15T21:00:00Z"), Some(1))]);
    assert_eq!(
        serde_json::to_value(&r.signals).unwrap(),
        json!([{"type": "tier_down", "at": "2027-12-15T21:00:00Z", "from": "gold", "to": "green"}])
    );
    let history = &m.tier_state().history;
    assert_eq!(history.len(), 2);
    assert_eq!((history[1].at, history[1].reason.as_str()), (t("2027-12-15T21:00:00Z"), "the status period ended"));
}

#[test]
fn gold_is_lost_only_at_the_end_of_a_twelve_month_window_that_no_longer_qualifies() {
    let p = program();
    let mut m = gold_member(&p, "gold-3");
    // 1 Jun 2027: 1 000 RUB → 100 base + 20 Gold = 120 points. The 12 months
    // ending 1 Jun 2027 earned 300 + 120 = 420 ≥ 300: Gold reached again that
    // day, kept until 2 Jun 2028 00:00 MSK = 2028-06-01T21:00Z.
    let r = ok(&p, &mut m, &purchase("s1", "2027-06-01T09:00:00Z", &[("cake", "food", "10", "100")]));
    assert_eq!(r.total(EntryKind::Earn), 120);
    assert!(!signal_types(&r).iter().any(|t| t.starts_with("tier")), "{:?}", signal_types(&r));
    // 16 Dec 2027: the first Gold would have ended, but the later one holds.
    let r = ok(&p, &mut m, &advance("a1", "2027-12-16T00:00:00Z"));
    assert_eq!((r.tier.as_deref(), r.balances.available), (Some("gold"), 420));
    assert_eq!(p.tier(&m, m.clock()).unwrap().until, Some(t("2028-06-01T21:00:00Z")));
    // The window ending 1 Jun 2028 holds only 120 < 300: Gold ends, all 420 expire
    // (both lots are past their own expiry, 1 Jul 2027 and 1 Jan 2028).
    let r = ok(&p, &mut m, &advance("a2", "2028-06-02T00:00:00Z"));
    assert_eq!(r.tier.as_deref(), Some("green"));
    assert_eq!(r.total(EntryKind::Expire), -420);
    assert!(r.entries.iter().all(|e| e.at == t("2028-06-01T21:00:00Z")));
}

#[test]
fn tier_status_looks_ahead_without_changing_the_member() {
    let p = program();
    let m = gold_member(&p, "gold-4");
    let before = m.to_json();
    let later = p.tier(&m, t("2028-01-01T00:00:00Z")).unwrap();
    // By then Gold (until 2027-12-15T21:00Z) has ended and nothing was earned: Green, 0 progress.
    assert_eq!((later.tier, later.progress.to_string().as_str()), ("green", "0"));
    assert_eq!(later.next.map(|n| n.needed.to_string()), Some("300".to_owned()));
    assert_eq!(m.to_json(), before);
}

// ---------------------------------------------------------------------------
// Rewards: filter coffee 25, any drink 100, breakfast 200 (free items, 30
// days to use), master class 400 (12 seats a month, a shared counter),
// tasting 600 (Gold only). Cancelling gives points and the seat back.
// ---------------------------------------------------------------------------

fn credit(p: &Program, m: &mut Member, id: &str, at: &str, points: i64) {
    ok(p, m, &ev(json!({"id": id, "at": at, "type": "adjust", "points": points, "reason": "test-credit"})));
}

fn take(id: &str, at: &str, reward: &str) -> Event {
    ev(json!({"id": id, "at": at, "type": "redeem_reward", "reward": reward}))
}

#[test]
fn the_master_class_has_twelve_seats_a_month() {
    let p = program();
    let mut seats = loyalty::MemoryCounters::default();
    let mut members: Vec<Member> = (0..13).map(|i| member(&p, &format!("mc-{i}"))).collect();
    for (i, m) in members.iter_mut().enumerate() {
        credit(&p, m, &format!("c{i}"), "2026-12-02T07:00:00Z", 800);
    }
    for (i, m) in members.iter_mut().enumerate().take(12) {
        let r = p.apply_with(m, &take("mc", "2026-12-10T07:00:00Z", "master-class"), &mut seats).unwrap().receipt;
        assert_eq!(r.balances.available, 400, "member {i}: 800 − 400");
    }
    assert_eq!(seats.get("stock:master-class:2026-12"), 12);
    // The thirteenth is refused, and nothing is taken from it.
    let before = members[12].to_json();
    let err = p.apply_with(&mut members[12], &take("mc", "2026-12-10T08:00:00Z", "master-class"), &mut seats);
    let err = err.unwrap_err().to_string();
    assert_eq!(
        err,
        "event 'mc': reward 'master-class': none left: counter 'stock:master-class:2026-12' is at its limit of 12"
    );
    assert_eq!(members[12].to_json(), before);
    // One member cancels: 400 points and the seat come back; now the thirteenth gets it.
    let cancel = ev(json!({"id": "cx", "at": "2026-12-11T07:00:00Z", "type": "cancel_reward", "issued": "mc"}));
    let r = p.apply_with(&mut members[0], &cancel, &mut seats).unwrap().receipt;
    assert_eq!((r.total(EntryKind::Refund), r.balances.available), (400, 800));
    assert_eq!(seats.get("stock:master-class:2026-12"), 11);
    p.apply_with(&mut members[12], &take("mc2", "2026-12-11T08:00:00Z", "master-class"), &mut seats).unwrap();
    // January has 12 new seats.
    p.apply_with(&mut members[0], &take("mc-jan", "2027-01-05T07:00:00Z", "master-class"), &mut seats).unwrap();
    assert_eq!(seats.get("stock:master-class:2027-01"), 1);
    // Without the host's counters a stock-limited reward cannot be taken.
    let err = p.apply(&mut members[1], &take("mc3", "2027-01-06T07:00:00Z", "master-class")).unwrap_err();
    assert!(err.to_string().contains("apply_with"), "{err}");
}

#[test]
fn the_tasting_evening_is_for_gold_only() {
    let p = program();
    let mut green = member(&p, "t-green");
    credit(&p, &mut green, "c1", "2026-12-02T07:00:00Z", 700);
    let err = fail(&p, &mut green, &take("t1", "2026-12-03T07:00:00Z", "tasting"));
    assert_eq!(err.to_string(), "event 't1': reward 'tasting': only for gold; the member is green");
    let mut gold = gold_member(&p, "t-gold");
    credit(&p, &mut gold, "c1", "2026-12-16T07:00:00Z", 300);
    // 300 earned (pending 24 h, available from 16 Dec 09:00Z) + 300 credited = 600.
    let r = ok(&p, &mut gold, &take("t1", "2026-12-16T10:00:00Z", "tasting"));
    assert_eq!((r.total(EntryKind::Burn), r.balances.available), (-600, 0));
    assert_eq!(gold.rewards()[0].status, loyalty::RewardStatus::Issued);
}

#[test]
fn an_issued_reward_is_used_once_or_expires_after_thirty_days() {
    let p = program();
    let mut m = member(&p, "life");
    // Crossing 25 and 100 points unlocks the filter coffee and any drink.
    let r = ok(
        &p,
        &mut m,
        &ev(json!({"id": "c1", "at": "2026-12-02T07:00:00Z", "type": "adjust", "points": 150, "reason": "x"})),
    );
    assert_eq!(
        serde_json::to_value(&r.signals).unwrap(),
        json!([{"type": "reward_unlocked", "reward": "filter-coffee", "cost": 25},
               {"type": "reward_unlocked", "reward": "any-drink", "cost": 100}])
    );
    ok(&p, &mut m, &take("f1", "2026-12-03T07:00:00Z", "filter-coffee"));
    ok(&p, &mut m, &ev(json!({"id": "u1", "at": "2026-12-04T07:00:00Z", "type": "use_reward", "issued": "f1"})));
    let err =
        fail(&p, &mut m, &ev(json!({"id": "u2", "at": "2026-12-04T08:00:00Z", "type": "use_reward", "issued": "f1"})));
    assert_eq!(err.to_string(), "event 'u2': reward 'filter-coffee': issued reward 'f1' is used");
    // Another one, never used: it expires 30 days later (3 Jan 2027 10:00 MSK), points not given back.
    ok(&p, &mut m, &take("f2", "2026-12-04T07:00:00Z", "filter-coffee"));
    let r = ok(&p, &mut m, &advance("a1", "2027-01-04T00:00:00Z"));
    assert_eq!(r.notes, ["reward 'filter-coffee' (f2) expired unused"]);
    assert_eq!(m.rewards()[1].closed_at, Some(t("2027-01-03T07:00:00Z")));
    assert_eq!(r.balances.available, 100);
    let err = fail(
        &p,
        &mut m,
        &ev(json!({"id": "x1", "at": "2027-01-04T01:00:00Z", "type": "cancel_reward", "issued": "f2"})),
    );
    assert!(err.to_string().contains("is expired"), "{err}");
    // Not enough points: refused, nothing taken.
    let err = fail(&p, &mut m, &take("b1", "2027-01-04T02:00:00Z", "breakfast"));
    assert!(matches!(err, Error::InsufficientPoints { requested: 200, available: 100, .. }), "{err:?}");
}

#[test]
fn a_gold_member_chooses_one_double_points_day_a_month() {
    let p = program();
    let choose = |id: &str, at: &str, date: &str| {
        ev(json!({"id": id, "at": at, "type": "choose_promotion", "promotion": "double-day", "date": date}))
    };
    // Green members cannot choose it.
    let mut green = member(&p, "dd-green");
    let err = fail(&p, &mut green, &choose("ch0", "2026-12-02T07:00:00Z", "2026-12-20"));
    assert!(err.to_string().contains("only for gold; the member is green"), "{err}");
    let mut m = gold_member(&p, "dd-gold");
    let r = ok(&p, &mut m, &choose("ch1", "2026-12-16T07:00:00Z", "2026-12-20"));
    assert_eq!(r.notes, ["Double-Points day chosen for 2026-12-20"]);
    // A second day in December is refused; a day in the past too.
    let err = fail(&p, &mut m, &choose("ch2", "2026-12-16T08:00:00Z", "2026-12-27"));
    assert!(err.to_string().contains("already chosen 1 time(s) that month"), "{err}");
    let err = fail(&p, &mut m, &choose("ch3", "2026-12-16T08:00:00Z", "2026-12-15"));
    assert!(err.to_string().contains("before the event's date"), "{err}");
    // Sun 20 Dec, 12:00 MSK, 1 000 RUB of food: base 100, Double-Points day +100, Gold +20 = 220.
    let r = ok(&p, &mut m, &purchase("dd1", "2026-12-20T09:00:00Z", &[("cake", "food", "10", "100")]));
    assert_eq!(
        r.explanations,
        vec![
            explanation("base", 100, "1 point per 10 RUB: +100"),
            explanation("double-day", 100, "Double-Points day: +100"),
            explanation("tier:gold", 20, "Gold ×1.2: +20"),
        ]
    );
    // The next day is an ordinary day: 100 + 20.
    let r = ok(&p, &mut m, &purchase("dd2", "2026-12-21T09:00:00Z", &[("cake", "food", "10", "100")]));
    assert_eq!(r.total(EntryKind::Earn), 120);
    // January: a new choice.
    ok(&p, &mut m, &choose("ch4", "2026-12-22T07:00:00Z", "2027-01-05"));
}

#[test]
fn a_chosen_double_day_needs_gold_on_the_day_too() {
    let p = program();
    let mut m = gold_member(&p, "dd-lost");
    // Chosen while Gold, for 2028-02-10 — too far (more than a year ahead) — and for 2027-12-16.
    let err = fail(
        &p,
        &mut m,
        &ev(json!({"id": "c0", "at": "2026-12-16T07:00:00Z", "type": "choose_promotion",
        "promotion": "double-day", "date": "2028-02-10"})),
    );
    assert!(err.to_string().contains("more than a year ahead"), "{err}");
    ok(
        &p,
        &mut m,
        &ev(json!({"id": "c1", "at": "2026-12-16T07:00:00Z", "type": "choose_promotion",
        "promotion": "double-day", "date": "2027-12-16"})),
    );
    // Gold ends 2027-12-15T21:00Z, 16 Dec 00:00 MSK: on 16 Dec the member is Green, no double points.
    let r = ok(&p, &mut m, &purchase("p", "2027-12-16T09:00:00Z", &[("cake", "food", "10", "100")]));
    assert_eq!(r.explanations, vec![explanation("base", 100, "1 point per 10 RUB: +100")]);
}
