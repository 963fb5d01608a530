//! The checks behind the fuzz targets, kept apart from libFuzzer so that
//! `tests/fuzz_regressions.rs` in the main crate runs the very same code
//! (it includes this file with `#[path]`): a regression found by a target
//! is replayed there by a plain `cargo test`.
//!
//! Each check asserts only what the crate documents:
//!
//! * parsing never panics, whatever the bytes;
//! * a parsed program's `spec()` compiles again with `Program::from_spec`
//!   (the `from_spec` doc example) into the same spec, and the spec written
//!   back as JSON loads with `Program::from_json_str` (the same schema as
//!   TOML) into the same spec;
//! * a decoded event, basket or member state encodes to JSON that decodes to
//!   an equal value (`Event::to_json`, the `Member` doc example), and a
//!   member the same through its packed form (`Member::to_bytes`, whose
//!   doc says the same state gives the same bytes);
//! * `Program::apply` either succeeds, with the ledger invariants holding
//!   (`Member::check_invariants`), or fails and leaves the member exactly as
//!   it was (byte for byte in `to_json`); re-applying an applied event is a
//!   duplicate with the original receipt and changes nothing; `replay` of
//!   the events that succeeded gives the same member as applying them one by
//!   one; `quote` never panics.

use chrono::{DateTime, Utc};
use loyalty::{Basket, Event, EventKind, Member, Program};

/// The sample programs of `examples/programs/`, by name.
pub const PROGRAMS: [(&str, &str); 3] = [
    ("corner_coffee", include_str!("../../examples/programs/corner_coffee.toml")),
    ("home_appliance", include_str!("../../examples/programs/home_appliance.toml")),
    ("petshop", include_str!("../../examples/programs/petshop.toml")),
];

/// The enroll event used when an `apply` input does not start with one that works.
pub const DEFAULT_ENROLL: &str =
    r#"{"id":"e1","at":"2026-12-01T07:00:00Z","type":"enroll","member":"anna","profile":{"birth_date":"1990-02-14"}}"#;

/// `program_parse`: the bytes as a TOML program and as a JSON program.
pub fn check_program_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(program) = Program::from_toml_str(text) {
        check_program(&program);
    }
    if let Ok(program) = Program::from_json_str(text) {
        check_program(&program);
    }
}

fn check_program(program: &Program) {
    let spec = program.spec();
    let again = Program::from_spec(spec.clone())
        .unwrap_or_else(|e| panic!("the spec of a loaded program does not load again: {e}\n{spec:?}"));
    assert_eq!(again.spec(), spec, "from_spec(spec()) changed the spec");
    let json = serde_json::to_string(spec).expect("a spec serializes");
    let reloaded = Program::from_json_str(&json)
        .unwrap_or_else(|e| panic!("the spec of a loaded program, as JSON, does not load: {e}\n{json}"));
    assert_eq!(reloaded.spec(), spec, "the spec changed through JSON:\n{json}");
    // A member of any valid program starts in a state that keeps the invariants.
    if let Ok(member) = program.enroll("m", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()) {
        if let Err(broken) = member.check_invariants() {
            panic!("a new member breaks an invariant: {broken}");
        }
    }
}

/// `event_decode`: the bytes as an event, a basket and a member state.
pub fn check_event_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(event) = Event::from_json_str(text) {
        let json = event.to_json();
        let again = Event::from_json_str(&json)
            .unwrap_or_else(|e| panic!("an encoded event does not decode: {e}\ninput: {text}\nencoded: {json}"));
        assert_eq!(again, event, "an event changed through to_json\ninput: {text}\nencoded: {json}");
        assert_eq!(again.to_json(), json, "to_json is not stable");
    }
    if let Ok(basket) = serde_json::from_str::<Basket>(text) {
        let json = serde_json::to_string(&basket).expect("a basket serializes");
        let again: Basket = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("an encoded basket does not decode: {e}\ninput: {text}\nencoded: {json}"));
        assert_eq!(again, basket, "a basket changed through JSON\ninput: {text}\nencoded: {json}");
    }
    if let Ok(member) = Member::from_json_str(text) {
        check_member_round_trip(&member);
    }
}

fn check_member_round_trip(member: &Member) {
    let json = member.to_json();
    let again =
        Member::from_json_str(&json).unwrap_or_else(|e| panic!("an encoded member does not decode: {e}\n{json}"));
    assert_eq!(&again, member, "a member changed through to_json\n{json}");
    assert_eq!(again.to_json(), json, "Member::to_json is not stable");
    let packed = member.to_bytes();
    let again = Member::from_bytes(&packed)
        .unwrap_or_else(|e| panic!("a packed member does not decode: {e}\n{json}\n{packed:?}"));
    assert_eq!(&again, member, "a member changed through to_bytes\n{json}");
    assert_eq!(again.to_bytes(), packed, "Member::to_bytes is not stable\n{json}");
}

/// `member_bytes`: the bytes as a packed member state (`Member::from_bytes`).
/// What decodes is a member the JSON form carries too, and packs again
/// (`check_member_round_trip`).
pub fn check_member_bytes(data: &[u8]) {
    if let Ok(member) = Member::from_bytes(data) {
        check_member_round_trip(&member);
    }
}

/// `apply`: the input is a program selector line (optional) and then one JSON
/// event (or basket) per line.
///
/// * A first line `#<name>` picks the sample program (`corner_coffee`,
///   `home_appliance`, `petshop`); without it, `corner_coffee`.
/// * If the first event is an `enroll` that `Program::start` accepts, the
///   member starts from it; otherwise from [`DEFAULT_ENROLL`].
/// * Every other line that decodes as an event is applied; a line that
///   decodes as a basket is quoted at the member's clock; a purchase is also
///   quoted (its basket at its instant) before it is applied.
///
/// Returns how many events applied (counting the enroll event and duplicates)
/// and how many were refused; lines that are not events are not counted.
pub fn check_apply(data: &[u8]) -> Applied {
    let Ok(text) = std::str::from_utf8(data) else { return Applied::default() };
    let mut lines = text.lines().peekable();
    let mut source = PROGRAMS[0].1;
    if let Some(name) = lines.peek().and_then(|l| l.strip_prefix('#')) {
        if let Some((_, toml)) = PROGRAMS.iter().find(|(n, _)| *n == name.trim()) {
            source = toml;
        }
        lines.next();
    }
    let program = Program::from_toml_str(source).expect("the sample programs load");

    let mut log: Vec<Event> = Vec::new();
    let mut member = None;
    if let Some(first) = lines.peek().and_then(|l| Event::from_json_str(l).ok()) {
        if let EventKind::Enroll(_) = first.kind {
            lines.next();
            if let Ok((m, _)) = program.start(&first) {
                member = Some(m);
                log.push(first);
            }
        }
    }
    let mut member = member.unwrap_or_else(|| {
        let enroll = Event::from_json_str(DEFAULT_ENROLL).unwrap();
        let (m, _) = program.start(&enroll).expect("the default enroll event starts a member");
        log.push(enroll);
        m
    });
    if let Err(broken) = member.check_invariants() {
        panic!("a new member breaks an invariant: {broken}");
    }

    let mut refused = 0;
    for line in lines {
        match Event::from_json_str(line) {
            Ok(event) => {
                if let EventKind::Purchase(p) = &event.kind {
                    let basket = Basket {
                        lines: p.lines.clone(),
                        channel: p.channel.clone(),
                        store: p.store.clone(),
                        partner: p.partner.clone(),
                    };
                    check_quote(&program, &member, &basket, event.at);
                }
                if apply_checked(&program, &mut member, &event) {
                    log.push(event);
                } else {
                    refused += 1;
                }
            }
            Err(_) => {
                if let Ok(basket) = serde_json::from_str::<Basket>(line) {
                    check_quote(&program, &member, &basket, member.clock());
                }
            }
        }
    }

    check_member_round_trip(&member);
    // Applying the events one by one (the refused ones changed nothing) is
    // what `replay` does.
    match program.replay(&log) {
        Ok(replayed) => assert_eq!(replayed, member, "replay differs from applying one by one"),
        Err(e) => panic!("replay of events that applied fails: {e}"),
    }
    Applied { applied: log.len(), refused }
}

/// What [`check_apply`] did with an input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Events applied, the enroll event included.
    pub applied: usize,
    /// Events refused (the member unchanged).
    pub refused: usize,
}

/// Applies one event with the checks; true when it applied.
pub fn apply_checked(program: &Program, member: &mut Member, event: &Event) -> bool {
    let before = member.to_json();
    match program.apply(member, event) {
        Err(_) => {
            assert_eq!(member.to_json(), before, "a refused event changed the member: {}", event.to_json());
            false
        }
        Ok(applied) => {
            if let Err(broken) = member.check_invariants() {
                panic!("invariant broken after {}: {broken}", event.to_json());
            }
            let after = member.to_json();
            let again =
                program.apply(member, event).unwrap_or_else(|e| panic!("re-applying {} fails: {e}", event.to_json()));
            assert!(again.duplicate, "re-applying {} is not a duplicate", event.to_json());
            assert_eq!(again.receipt, applied.receipt, "a duplicate's receipt differs: {}", event.to_json());
            assert_eq!(member.to_json(), after, "a duplicate changed the member: {}", event.to_json());
            true
        }
    }
}

fn check_quote(program: &Program, member: &Member, basket: &Basket, at: DateTime<Utc>) {
    // `quote` takes the member by shared reference: it can only answer, or refuse.
    let _ = program.quote(member, basket, at);
}
