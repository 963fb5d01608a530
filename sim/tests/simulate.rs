//! The generator on the sample programs: deterministic, replayable, and
//! reaching the behaviours it promises.

use std::collections::BTreeMap;

use loyalty::{Event, EventKind, Member, Program};
use loyalty_sim::{simulate, Behaviour};

fn sample(name: &str) -> Program {
    let path = format!("{}/../examples/programs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Program::from_toml_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Replays a `to_jsonl` log with the library alone.
fn replay(program: &Program, jsonl: &str) -> BTreeMap<String, Member> {
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut counters = loyalty::MemoryCounters::default();
    for line in jsonl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let who = v["member"].as_str().unwrap().to_owned();
        let event = Event::from_json_str(&v["event"].to_string()).unwrap();
        if matches!(event.kind, EventKind::Enroll(_)) {
            members.insert(who, program.start(&event).unwrap().0);
        } else {
            program.apply_with(members.get_mut(&who).unwrap(), &event, &mut counters).unwrap();
        }
    }
    members
}

#[test]
fn a_year_of_corner_coffee_is_deterministic_and_replays() {
    let program = sample("corner_coffee");
    let behaviour = Behaviour { members: 150, seed: 42, ..Behaviour::default() };
    let sim = simulate(&program, &behaviour).unwrap();
    let again = simulate(&program, &behaviour).unwrap();
    let log = sim.to_jsonl();
    assert_eq!(log, again.to_jsonl());
    // Another seed, another year.
    assert_ne!(log, simulate(&program, &Behaviour { seed: 43, ..behaviour.clone() }).unwrap().to_jsonl());
    // The log alone gives the same members, byte for byte.
    let replayed = replay(&program, &log);
    assert_eq!(replayed.len(), 150);
    for (id, m) in &sim.members {
        assert_eq!(replayed[id].to_json(), m.to_json(), "member {id}");
        assert_eq!(m.check_invariants(), Ok(()));
    }
    // Time order, and every member's events inside the year.
    let end = behaviour.start + chrono::Duration::days(365);
    if let Some(w) = sim.log.windows(2).find(|w| w[0].event.at > w[1].event.at) {
        panic!("out of order: {} then {}", w[0].event.to_json(), w[1].event.to_json());
    }
    assert!(sim.log.iter().all(|d| d.event.at >= behaviour.start && d.event.at <= end));
}

#[test]
fn the_generated_year_has_what_the_model_promises() {
    let program = sample("petshop");
    // Pet shop prices: a typical item around 1 500 RUB (a referral needs an order of 1 000 or more).
    let behaviour = Behaviour { members: 200, seed: 7, typical_unit_price_cents: 150_000, ..Behaviour::default() };
    let sim = simulate(&program, &behaviour).unwrap();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &sim.log {
        *kinds.entry(d.event.kind.name()).or_default() += 1;
    }
    for kind in ["enroll", "purchase", "redeem", "return", "activity", "referral_reward", "advance"] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind}: {kinds:?}");
    }
    let purchases = kinds["purchase"];
    // 200 members at 6, 25 or 70 days between visits over part of a year, with churn: hundreds of purchases.
    assert!((500..6_000).contains(&purchases), "{purchases} purchases");
    // About 4 % of purchases see a return (some refused: a line already returned), about 5 % a survey.
    assert!(kinds["return"] * 100 <= purchases * 8, "{kinds:?}");
    // December is busier than July (seasonality 150 % against 85 %).
    let month = |m: u32| {
        sim.log
            .iter()
            .filter(|d| matches!(d.event.kind, EventKind::Purchase(_)) && chrono::Datelike::month(&d.event.at) == m)
            .count()
    };
    assert!(month(12) > month(7), "December {} against July {}", month(12), month(7));
    // Members who stop coming: some made no purchase in the last quarter.
    let last_quarter = chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z").unwrap();
    let active: std::collections::BTreeSet<&str> = sim
        .log
        .iter()
        .filter(|d| d.event.at >= last_quarter && matches!(d.event.kind, EventKind::Purchase(_)))
        .map(|d| d.member.as_str())
        .collect();
    assert!(active.len() < 200 && !active.is_empty(), "{} active in the last quarter", active.len());
}
