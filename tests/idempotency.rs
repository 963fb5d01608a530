//! The bound on remembered event ids: an id the member forgot is never
//! applied twice, however late events put its memory out of time order.
//!
//! A member remembers `limits.remember_events` ids. Once one is forgotten,
//! only time can tell a resent event from a new one: an event at or before
//! the latest instant among the forgotten events is refused as too late.

use loyalty::{Error, Event, Member, Program};
use proptest::prelude::*;

/// A program that remembers `n` ids and accepts events up to a week late.
fn program(n: u32) -> Program {
    Program::from_toml_str(&format!(
        r#"
id = "shop"
currency = "EUR"
time_zone = "UTC"
limits.remember_events = {n}
limits.keep_receipts = 1
limits.late_window = {{ days = 7 }}
"#
    ))
    .unwrap()
}

/// A credit of `points` named `id`, at 2026-03-01 `hh:mm`.
fn credit(id: &str, hh: u32, mm: u32, points: i64) -> Event {
    Event::from_json_str(&format!(
        r#"{{"id":"{id}","at":"2026-03-01T{hh:02}:{mm:02}:00Z","type":"adjust","points":{points},"reason":"goodwill"}}"#
    ))
    .unwrap()
}

fn member(p: &Program) -> Member {
    p.enroll("m", "2026-03-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap()
}

/// The case that let a forgotten id through: with room for two ids, A at
/// 10:00, a late B at 09:00, then C at 11:00. A is forgotten, and the
/// oldest id still remembered is B's, at 09:00 — earlier than A.
#[test]
fn a_late_event_does_not_open_a_way_for_a_forgotten_id() {
    let p = program(2);
    let mut m = member(&p);
    for e in [credit("A", 10, 0, 100), credit("B", 9, 0, 1), credit("C", 11, 0, 1)] {
        assert!(!p.apply(&mut m, &e).unwrap().duplicate);
    }
    // 100 + 1 + 1.
    assert_eq!(m.balances().available, 102);
    let before = m.to_json();
    match p.apply(&mut m, &credit("A", 10, 0, 100)) {
        Err(Error::TooLate { event, oldest, .. }) => {
            assert_eq!(event, "A");
            // A's own instant is the latest forgotten: accepted only after it.
            assert_eq!(oldest.to_rfc3339(), "2026-03-01T10:00:00.000000001+00:00");
        }
        other => panic!("A resent after it was forgotten: {other:?}"),
    }
    assert_eq!(m.to_json(), before, "a refused event changes nothing");
    // A new event between the forgotten one and the clock is refused too:
    // the member cannot tell it from a forgotten one.
    assert!(matches!(p.apply(&mut m, &credit("D", 10, 0, 1)), Err(Error::TooLate { .. })));
    // After the forgotten instant, late events are accepted as before.
    assert!(!p.apply(&mut m, &credit("E", 10, 30, 1)).unwrap().duplicate);
    assert_eq!(m.balances().available, 103);
}

/// Events at one instant: with room for one id, A and B both at 10:00 —
/// A is forgotten, and a resent A is at the member's clock, not before it.
#[test]
fn a_forgotten_id_at_the_clock_is_refused() {
    let p = program(1);
    let mut m = member(&p);
    p.apply(&mut m, &credit("A", 10, 0, 100)).unwrap();
    p.apply(&mut m, &credit("B", 10, 0, 1)).unwrap();
    let before = m.to_json();
    assert!(matches!(p.apply(&mut m, &credit("A", 10, 0, 100)), Err(Error::TooLate { .. })));
    assert_eq!(m.to_json(), before);
    // B is remembered: its retry gets its receipt.
    assert!(p.apply(&mut m, &credit("B", 10, 0, 1)).unwrap().duplicate);
    // Time moving on is accepted.
    p.apply(&mut m, &credit("C", 10, 1, 1)).unwrap();
    assert_eq!(m.balances().available, 102);
}

/// The bound survives both stored forms.
#[test]
fn the_forgotten_instant_is_stored() {
    let p = program(1);
    let mut m = member(&p);
    p.apply(&mut m, &credit("A", 10, 0, 100)).unwrap();
    p.apply(&mut m, &credit("B", 9, 0, 1)).unwrap();
    assert!(m.to_json().contains(r#""forgotten":"2026-03-01T10:00:00Z""#), "{}", m.to_json());
    for mut back in [Member::from_json_str(&m.to_json()).unwrap(), Member::from_bytes(&m.to_bytes()).unwrap()] {
        assert_eq!(back, m);
        assert!(matches!(p.apply(&mut back, &credit("A", 10, 0, 100)), Err(Error::TooLate { .. })));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Events at a handful of instants (so that some share one and many
    /// are late), each either new or a resend of an earlier one: no id is
    /// ever applied twice, and the balance is the sum of the ids applied.
    #[test]
    fn no_id_is_applied_twice(
        remember in 1_u32..4,
        steps in prop::collection::vec((0_u32..6, any::<bool>(), any::<prop::sample::Index>()), 1..40),
    ) {
        let p = program(remember);
        let mut m = member(&p);
        let mut sent: Vec<Event> = Vec::new();
        let mut applied = std::collections::BTreeSet::new();
        let mut expected = 0;
        for (n, (slot, resend, pick)) in steps.into_iter().enumerate() {
            let e = if resend && !sent.is_empty() {
                sent[pick.index(sent.len())].clone()
            } else {
                credit(&format!("e{n}"), 10 + slot / 2, 30 * (slot % 2), 1 << (n % 20))
            };
            match p.apply(&mut m, &e) {
                Ok(a) if !a.duplicate => {
                    prop_assert!(applied.insert(e.id.clone()), "{} applied twice", e.id);
                    let loyalty::EventKind::Adjust(adjust) = &e.kind else { unreachable!() };
                    expected += adjust.points;
                }
                Ok(_) | Err(Error::AlreadyApplied { .. } | Error::TooLate { .. }) => {}
                Err(other) => prop_assert!(false, "{}: {other}", e.id),
            }
            prop_assert_eq!(m.balances().available, expected);
            sent.push(e);
        }
    }
}
