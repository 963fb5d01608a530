//! Member status (suspended: no earning or burning; closed: remaining
//! points forfeited by an entry, nothing applies any more) and transfers
//! between members (family pooling) within monthly limits.

use loyalty::{EntryKind, Error, Event, Member, MemberStatus, Program, Receipt};
use serde_json::{json, Value};

const PROGRAM: &str = r#"
id = "family"
currency = "EUR"
time_zone = "Europe/Berlin"
categories = ["x"]

[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "1"

[[burn]]
id = "pay"

[transfers]
min_points = 10
max_out_per_month = 500
max_in_per_month = 800
"#;

fn program() -> Program {
    Program::from_toml_str(PROGRAM).expect("the program loads")
}

fn member(p: &Program, id: &str, points: i64) -> Member {
    let mut m = p.enroll(id, "2026-05-01T08:00:00Z".parse().unwrap(), Default::default()).unwrap();
    if points > 0 {
        ok(
            p,
            &mut m,
            json!({"id": "seed", "at": "2026-05-01T09:00:00Z", "type": "adjust", "points": points, "reason": "seed"}),
        );
    }
    m
}

fn ok(p: &Program, m: &mut Member, v: Value) -> Receipt {
    let e = Event::from_json_str(&v.to_string()).unwrap();
    let r = p.apply(m, &e).unwrap_or_else(|err| panic!("{}: {err}", e.id));
    m.check_invariants().unwrap();
    Receipt::clone(&r.receipt)
}

fn refused(p: &Program, m: &mut Member, v: Value) -> Error {
    let e = Event::from_json_str(&v.to_string()).unwrap();
    let before = m.to_json();
    let err = p.apply(m, &e).expect_err("refused");
    assert_eq!(m.to_json(), before);
    err
}

fn buy(id: &str, at: &str) -> Value {
    json!({"id": id, "at": at, "type": "purchase", "lines": [{"sku": "s", "category": "x", "quantity": "1", "unit_price": "40"}]})
}

#[test]
fn a_suspended_member_neither_earns_nor_burns_until_reactivated() {
    let p = program();
    let mut m = member(&p, "s", 100);
    ok(&p, &mut m, json!({"id": "su", "at": "2026-05-02T09:00:00Z", "type": "suspend", "reason": "fraud-check"}));
    assert_eq!(m.status(), MemberStatus::Suspended);
    let r = ok(&p, &mut m, buy("b1", "2026-05-02T10:00:00Z"));
    assert_eq!(
        (r.total(EntryKind::Earn), r.notes.as_slice()),
        (0, ["no points: the member is suspended".to_owned()].as_slice())
    );
    let err = refused(&p, &mut m, json!({"id": "rd", "at": "2026-05-02T11:00:00Z", "type": "redeem", "points": 10}));
    assert_eq!(err.to_string(), "event 'rd': member 's' is suspended: spending points refused");
    ok(&p, &mut m, json!({"id": "re", "at": "2026-05-03T09:00:00Z", "type": "reactivate", "reason": "cleared"}));
    let r = ok(&p, &mut m, buy("b2", "2026-05-03T10:00:00Z"));
    assert_eq!(r.total(EntryKind::Earn), 40);
    // Reactivating an active member is refused.
    refused(&p, &mut m, json!({"id": "re2", "at": "2026-05-03T11:00:00Z", "type": "reactivate", "reason": "x"}));
}

#[test]
fn closing_forfeits_the_points_by_an_entry_and_ends_everything() {
    let p = program();
    let mut m = member(&p, "c", 100);
    ok(&p, &mut m, json!({"id": "h", "at": "2026-05-02T09:00:00Z", "type": "hold", "points": 30}));
    let r =
        ok(&p, &mut m, json!({"id": "cl", "at": "2026-05-02T10:00:00Z", "type": "close", "reason": "member-request"}));
    // The hold is released, then all 100 are forfeited.
    assert_eq!(r.total(EntryKind::Release), 30);
    assert_eq!(r.total(EntryKind::Forfeit), -100);
    assert_eq!((r.balances.posted, m.totals().expired), (0, 100));
    let err = refused(&p, &mut m, buy("b1", "2026-05-03T10:00:00Z"));
    assert_eq!(err.to_string(), "event 'b1': member 'c' is closed: every event refused");
}

#[test]
fn transfers_move_points_within_monthly_limits() {
    let p = program();
    let mut mum = member(&p, "mum", 1000);
    let mut kid = member(&p, "kid", 0);
    let r = ok(
        &p,
        &mut mum,
        json!({"id": "t1", "at": "2026-05-02T09:00:00Z", "type": "transfer_out", "to": "kid", "points": 300}),
    );
    assert_eq!(r.total(EntryKind::TransferOut), -300);
    assert_eq!(
        serde_json::to_value(&r.signals).unwrap(),
        json!([{"type": "transfer_sent", "to": "kid", "points": 300}])
    );
    // The host applies the other half.
    let r = ok(
        &p,
        &mut kid,
        json!({"id": "t1-in", "at": "2026-05-02T09:00:01Z", "type": "transfer_in", "from": "mum", "points": 300, "transfer": "t1"}),
    );
    assert_eq!((r.total(EntryKind::TransferIn), r.balances.available), (300, 300));
    // 300 + 250 > 500 a month out: refused; 200 fits.
    let err = refused(
        &p,
        &mut mum,
        json!({"id": "t2", "at": "2026-05-20T09:00:00Z", "type": "transfer_out", "to": "kid", "points": 250}),
    );
    assert!(err.to_string().contains("above 500"), "{err}");
    ok(
        &p,
        &mut mum,
        json!({"id": "t3", "at": "2026-05-20T09:00:00Z", "type": "transfer_out", "to": "kid", "points": 200}),
    );
    // June: a new month.
    ok(
        &p,
        &mut mum,
        json!({"id": "t4", "at": "2026-06-01T09:00:00Z", "type": "transfer_out", "to": "kid", "points": 400}),
    );
    assert_eq!(mum.balances().available, 1000 - 300 - 200 - 400);
    // Oneself, too few points, more than available: refused.
    refused(
        &p,
        &mut mum,
        json!({"id": "t5", "at": "2026-06-02T09:00:00Z", "type": "transfer_out", "to": "mum", "points": 50}),
    );
    refused(
        &p,
        &mut mum,
        json!({"id": "t6", "at": "2026-06-02T09:00:00Z", "type": "transfer_out", "to": "kid", "points": 5}),
    );
    let err = refused(
        &p,
        &mut mum,
        json!({"id": "t7", "at": "2026-06-02T09:00:00Z", "type": "transfer_out", "to": "kid", "points": 101}),
    );
    assert!(matches!(err, Error::InsufficientPoints { requested: 101, available: 100, .. }), "{err:?}");
    // Conservation holds on both sides: sent is debited, received is credited.
    assert_eq!(mum.totals().debited, 900);
    assert_eq!(kid.totals().credited, 300);
}

#[test]
fn a_transfer_is_received_once_and_keeps_its_expiry() {
    let p =
        Program::from_toml_str(&format!("{PROGRAM}\n[expiry]\nkind = \"after\"\nperiod = {{ days = 30 }}\n")).unwrap();
    let mut mum = member(&p, "mum", 100);
    let mut kid = member(&p, "kid", 0);
    let r = ok(
        &p,
        &mut mum,
        json!({"id": "t1", "at": "2026-05-10T09:00:00Z", "type": "transfer_out", "to": "kid", "points": 60}),
    );
    // Mum's points were credited 1 May 11:00 CEST: they expire 31 May 11:00 CEST (09:00Z).
    let sent = serde_json::to_value(&r.signals).unwrap();
    assert_eq!(
        sent,
        json!([{"type": "transfer_sent", "to": "kid", "points": 60, "expires_at": "2026-05-31T09:00:00Z"}])
    );
    let incoming = json!({"id": "t1-in", "at": "2026-05-10T09:00:01Z", "type": "transfer_in", "from": "mum", "points": 60,
        "transfer": "t1", "expires_at": "2026-05-31T09:00:00Z"});
    ok(&p, &mut kid, incoming.clone());
    // The transfer does not renew the points.
    assert_eq!(kid.lots()[0].expires_at, Some("2026-05-31T09:00:00Z".parse().unwrap()));
    // The same transfer delivered again under another event id is refused; below the minimum too.
    let mut again = incoming.clone();
    again["id"] = json!("t1-in-again");
    let err = refused(&p, &mut kid, again);
    assert!(err.to_string().contains("already received"), "{err}");
    let err = refused(
        &p,
        &mut kid,
        json!({"id": "t2-in", "at": "2026-05-10T10:00:00Z", "type": "transfer_in", "from": "mum", "points": 1, "transfer": "t2"}),
    );
    assert!(err.to_string().contains("at least 10 points"), "{err}");
    // An expiry no state could keep is refused as it arrives, naming the field.
    let before = kid.to_json();
    let err = refused(
        &p,
        &mut kid,
        json!({"id": "t3-in", "at": "2026-05-10T10:00:00Z", "type": "transfer_in", "from": "mum", "points": 10,
            "transfer": "t3", "expires_at": "+100000-01-01T00:00:00Z"}),
    );
    assert!(
        err.to_string().contains("expires_at: +100000-01-01T00:00:00+00:00 is outside the years 1000 to 99999"),
        "{err}"
    );
    assert_eq!(kid.to_json(), before);
    assert_eq!(Member::from_json_str(&before).unwrap(), kid, "the member still decodes");
}

/// The engine never reads a birth date's year, and accepts any: a state
/// with a placeholder year still decodes.
#[test]
fn a_placeholder_birth_year_round_trips() {
    let p = program();
    let profile: loyalty::Profile = serde_json::from_value(json!({"birth_date": "0001-01-01"})).unwrap();
    let m = p.enroll("m", "2026-05-01T10:00:00Z".parse().unwrap(), profile).unwrap();
    assert_eq!(Member::from_json_str(&m.to_json()).unwrap(), m);
    assert_eq!(Member::from_bytes(&m.to_bytes()).unwrap(), m);
}

#[test]
fn a_suspended_member_gets_no_bonuses_either() {
    let p = Program::from_toml_str(&format!(
        "{PROGRAM}\n[[activities]]\nid = \"review\"\npoints = 5\n[[challenges]]\nid = \"two\"\nkind = \"count\"\ntarget = \"2\"\nwithin = {{ days = 30 }}\npoints = 100\n[referral]\nreferee_points = 30\nreferrer_points = 40\n"
    ))
    .unwrap();
    let enroll = Event::from_json_str(
        r#"{"id":"en","at":"2026-05-01T08:00:00Z","type":"enroll","member":"sus","referred_by":"rita"}"#,
    )
    .unwrap();
    let (mut m, _) = p.start(&enroll).unwrap();
    ok(&p, &mut m, json!({"id": "su", "at": "2026-05-02T09:00:00Z", "type": "suspend", "reason": "check"}));
    ok(&p, &mut m, buy("b1", "2026-05-02T10:00:00Z"));
    let r = ok(&p, &mut m, buy("b2", "2026-05-02T11:00:00Z"));
    assert!(r.entries.is_empty() && r.signals.is_empty(), "{r:?}");
    let r = ok(&p, &mut m, json!({"id": "rv", "at": "2026-05-02T12:00:00Z", "type": "activity", "name": "review"}));
    assert!(r.entries.is_empty());
    // Reactivated: the referral still waits for its purchase, and the challenge counts from scratch.
    ok(&p, &mut m, json!({"id": "re", "at": "2026-05-03T09:00:00Z", "type": "reactivate", "reason": "ok"}));
    let r = ok(&p, &mut m, buy("b3", "2026-05-03T10:00:00Z"));
    assert_eq!(r.total(EntryKind::Earn), 40 + 30);
    assert_eq!(m.balances().available, 70);
}

/// Counters that a stored state may hold, each in range, can overflow
/// when summed: limits are then simply reached, without a panic or a wrap.
#[test]
fn counters_too_large_to_sum_reach_their_limits() {
    let p = program();
    let m = member(&p, "kid", 0);
    let mut state: Value = serde_json::from_str(&m.to_json()).unwrap();
    let half = i64::MAX / 2 + 1;
    state["days"] = json!([
        {"date": "2026-05-01", "key": "transfer:in", "points": half, "count": u32::MAX},
        {"date": "2026-05-02", "key": "transfer:in", "points": half, "count": u32::MAX},
    ]);
    let mut m = Member::from_json_str(&state.to_string()).unwrap();
    let err = refused(
        &p,
        &mut m,
        json!({"id": "t1-in", "at": "2026-05-03T09:00:00Z", "type": "transfer_in", "from": "mum", "points": 60, "transfer": "t1"}),
    );
    assert!(
        err.to_string().contains("would bring this month's transfers in to 9223372036854775807, above 800"),
        "{err}"
    );
}
