//! Inputs of the cargo-fuzz targets (see FUZZING.md), run through the very
//! checks the targets run: `fuzz/src/lib.rs` is included here as a module,
//! so a plain `cargo test` replays them without nightly or libFuzzer.
//!
//! A crash a target finds is minimised (`cargo fuzz tmin`) and added below
//! with its input inline, so that this file stands alone.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

use checks::{check_apply, check_event_decode, check_member_bytes, check_program_parse, Applied, PROGRAMS};

const LOGS: [(&str, &str); 3] = [
    ("corner_coffee", include_str!("../examples/data/corner_coffee.jsonl")),
    ("home_appliance", include_str!("../examples/data/home_appliance.jsonl")),
    ("petshop", include_str!("../examples/data/petshop.jsonl")),
];

/// The apply seed with the event kinds the example logs lack (fuzz/seeds/apply/corner_coffee_more_kinds.jsonl).
const MORE_KINDS: &str = r##"#corner_coffee
{"id":"e1","at":"2026-12-01T07:00:00Z","type":"enroll","member":"boris","profile":{"birth_date":"1988-02-29"}}
{"id":"a1","at":"2026-12-01T08:00:00Z","type":"adjust","points":500,"reason":"goodwill"}
{"id":"p1","at":"2026-12-01T13:00:00Z","type":"purchase","store":"arbat","lines":[{"sku":"latte","category":"coffee","quantity":"2","unit_price":"245.00"},{"sku":"wine","category":"alcohol","quantity":"1","unit_price":"900.00"}]}
{"lines":[{"sku":"latte","category":"coffee","quantity":"1","unit_price":"245.00"}],"store":"arbat"}
{"id":"adv1","at":"2026-12-03T00:00:00Z","type":"advance"}
{"id":"h1","at":"2026-12-03T09:00:00Z","type":"hold","points":100,"order":"o-9"}
{"id":"v1","at":"2026-12-03T09:02:00Z","type":"void","hold":"h1"}
{"id":"rr1","at":"2026-12-03T10:00:00Z","type":"redeem_reward","reward":"filter-coffee"}
{"id":"as1","at":"2026-12-04T10:00:00Z","type":"assign_tier","tier":"gold","reason":"vip"}
{"id":"cp1","at":"2026-12-04T11:00:00Z","type":"choose_promotion","promotion":"double-day","date":"2026-12-05"}
{"id":"p2","at":"2026-12-05T09:00:00Z","type":"purchase","lines":[{"sku":"beans","category":"coffee","quantity":"1","unit_price":"1890.00"}]}
{"id":"r2","at":"2026-12-05T10:00:00Z","type":"return","purchase":"p2","lines":[{"line":0,"quantity":"1"}]}
{"id":"rd1","at":"2026-12-06T10:00:00Z","type":"redeem","points":50,"order":"o-10"}
{"id":"su","at":"2026-12-07T09:00:00Z","type":"suspend","reason":"fraud-check"}
{"id":"re","at":"2026-12-08T09:00:00Z","type":"reactivate","reason":"cleared"}
{"id":"t1","at":"2026-12-09T09:00:00Z","type":"transfer_out","to":"kid","points":30}
{"id":"t1-in","at":"2026-12-09T09:00:01Z","type":"transfer_in","from":"mum","points":30,"transfer":"t1"}
{"id":"adv2","at":"2027-07-01T00:00:00Z","type":"advance"}
{"id":"cl","at":"2027-07-02T10:00:00Z","type":"close","reason":"member-request"}
"##;

#[test]
fn sample_programs_pass_the_program_parse_checks() {
    for (_, toml) in PROGRAMS {
        check_program_parse(toml.as_bytes());
    }
}

#[test]
fn example_log_events_pass_the_event_decode_checks() {
    for (_, log) in LOGS {
        for line in log.lines() {
            check_event_decode(line.as_bytes());
        }
    }
}

#[test]
fn example_logs_pass_the_apply_checks_and_every_event_applies() {
    for (name, log) in LOGS {
        let input = format!("#{name}\n{log}");
        let events = log.lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(check_apply(input.as_bytes()), Applied { applied: events, refused: 0 }, "{name}");
    }
}

#[test]
fn the_more_kinds_seed_passes_the_apply_checks() {
    // Corner Coffee allows no transfers: `t1` and `t1-in` are refused (and
    // the checks see that the member stays as it was).
    assert_eq!(check_apply(MORE_KINDS.as_bytes()), Applied { applied: 16, refused: 2 });
}

/// The `member_bytes` seeds: each example log's member, packed
/// (fuzz/seeds/member_bytes/, written by this test when missing), then each
/// with every byte changed, and cut short at every length.
#[test]
fn packed_members_pass_the_member_bytes_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/member_bytes");
    for (name, log) in LOGS {
        let program_text = PROGRAMS.iter().find(|p| p.0 == name).map(|p| p.1).unwrap();
        let program = loyalty::Program::from_toml_str(program_text).unwrap();
        let events: Vec<loyalty::Event> = log.lines().map(|l| loyalty::Event::from_json_str(l).unwrap()).collect();
        let member = program.replay(&events).unwrap();
        let packed = member.to_bytes();
        let seed = dir.join(format!("{name}.bin"));
        match std::fs::read(&seed) {
            // The committed seed is this release's packing of the log's member.
            Ok(committed) => assert_eq!(committed, packed, "{} is stale: delete it and run this test", seed.display()),
            Err(_) => std::fs::write(&seed, &packed).unwrap(),
        }
        check_member_bytes(&packed);
        for i in 0..packed.len() {
            check_member_bytes(&packed[..i]);
            for v in [0_u8, 1, 0x7f, 0x80, 0xff, packed[i].wrapping_add(1)] {
                let mut b = packed.clone();
                b[i] = v;
                check_member_bytes(&b);
            }
        }
    }
}

/// Found by review: a receipt's text decoded from packed bytes as its
/// parts (a pending time with a time zone) and formatted only when read,
/// which panicked for an instant at chrono's end. Texts are now packed as
/// the text itself; the input decodes or is refused, and never panics.
#[test]
fn a_packed_text_at_chrono_s_end_does_not_panic() {
    let hex = "4c4d0101026d027080c8dbaa1a0000000101000000000000000000000000000104657600000000000000000001050010707572636861736501000101000a000000020a0001ffd7fcc8bdca07144574632f474d542b3132000000000000000000000000000000008000";
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    check_member_bytes(&bytes);
}
