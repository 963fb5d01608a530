//! The property-test kit (`loyalty::testing`, feature `testing`) run on the
//! sample programs, on a deliberately broken program, and on hand-written
//! logs with host faults.
//!
//! Every check runs a fixed number of cases from a fixed seed, so CI is
//! repeatable. For a longer search:
//!
//! ```sh
//! LOYALTY_TEST_CASES=2000 cargo test --release --all-features --test testing_kit
//! LOYALTY_TEST_SEED=42 LOYALTY_TEST_CASES=2000 cargo test --release --all-features --test testing_kit
//! ```

use loyalty::testing::{check_log, check_program, Config, Mix, Property};
use loyalty::Program;
use rust_decimal::Decimal;

fn program(text: &str) -> Program {
    Program::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"))
}

/// "No member earns more than `percent` % of what they spend", in money.
fn earns_at_most(percent: i64) -> Property {
    Property::new(format!("no member earns more than {percent} % of spend"), move |run| {
        let (earned, spend) = (run.value(run.earned_on_purchases()), run.spend());
        if earned * Decimal::from(100) > spend * Decimal::from(percent) {
            return Err(format!("earned points worth {earned} for a net spend of {spend}"));
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// The example a program designer copies
// ---------------------------------------------------------------------------

/// The whole of a designer's test: load the program, state what must hold,
/// run the check. A failure prints the shrunk, replayable log.
#[test]
fn corner_coffee_never_gives_more_than_it_should() {
    let program = program(include_str!("../examples/programs/corner_coffee.toml"));
    // 1 point per 10 RUB, ×2 on Tuesday coffee, ×1.2 for Gold, a Gold
    // Double-Points day: the most is 1 point per 10 RUB × 2 × 2 × 1.2 = 48 %
    // of the spend (points are worth 1 RUB). Nobody may get more.
    let cap = earns_at_most(48);
    let no_negative_balance = Property::new("balances never go negative", |run| {
        match run.deliveries().iter().find(|d| d.after.balances().available < 0) {
            Some(d) => Err(format!("available {} after '{}'", d.after.balances().available, d.event.id)),
            None => Ok(()),
        }
    });
    // Two kinds of members. Big spenders (the default prices, up to 5 000 RUB
    // a unit) reach Gold at once, choose Double-Points days and pay with
    // points. Small ones (1 or 2 lines of 0.50 to 300 RUB, 20 to 60 visits up
    // to 60 days apart) stay Green long enough for points to expire.
    let big = Config::default().cases(48).seed(1);
    let small = big.clone().events(20..60).lines(1..3).unit_prices_cents(50..=30_000).max_gap_days(60);
    let mut fired = std::collections::BTreeSet::new();
    let mut entries = std::collections::BTreeSet::new();
    for config in [big, small] {
        let summary = check_program(&program, &config, &[cap.clone(), no_negative_balance.clone()])
            .unwrap_or_else(|counterexample| panic!("{counterexample}"));
        println!("{}", summary.coverage);
        assert!(summary.coverage.tiers.contains_key("gold"), "{}", summary.coverage);
        fired.extend(summary.coverage.rules.keys().cloned());
        entries.extend(summary.coverage.entries.keys().cloned());
    }
    // The check is only as good as what it reached: every rule gave points;
    // points were paid, held, released, expired, taken back and refunded.
    let rules = ["base", "tuesday-coffee", "double-day", "tier:gold"];
    assert!(rules.iter().all(|r| fired.contains(*r)), "rules that fired: {fired:?}");
    for entry in ["burn", "expire", "reverse", "refund", "hold", "release"] {
        assert!(entries.contains(entry), "no {entry} entry: {entries:?}");
    }
}

/// A program that keeps no receipts answers a retry with "already
/// applied": the kit's idempotency check takes that (never applied twice).
#[test]
fn a_program_that_keeps_no_receipts_passes_the_idempotency_checks() {
    let text =
        format!("{SHOP}\n").replace("late_window = { hours = 72 }", "late_window = { hours = 72 }\nkeep_receipts = 0");
    let program = program(&text);
    assert_eq!(program.spec().limits.keep_receipts, 0);
    check_program(&program, &Config::default().cases(32).seed(6), &[]).unwrap_or_else(|c| panic!("{c}"));
}

#[test]
fn home_appliance_passes_every_engine_check() {
    let program = program(include_str!("../examples/programs/home_appliance.toml"));
    // 7 % per line at Gold plus goodwill credits (not earned): at most 7 %.
    check_program(&program, &Config::default().cases(48).seed(2), &[earns_at_most(7)])
        .unwrap_or_else(|counterexample| panic!("{counterexample}"));
}

#[test]
fn petshop_passes_every_engine_check() {
    let program = program(include_str!("../examples/programs/petshop.toml"));
    check_program(&program, &Config::default().cases(48).seed(3), &[])
        .unwrap_or_else(|counterexample| panic!("{counterexample}"));
}

/// An existence claim written as a property over a shaped scenario:
/// "Gold is reachable within a year of weekly visits" — at Corner Coffee,
/// 300 points in a rolling 12 months, i.e. weekly visits of 60 RUB or more.
#[test]
fn corner_coffee_gold_within_a_year_of_weekly_visits() {
    let program = program(include_str!("../examples/programs/corner_coffee.toml"));
    let mut config = Config::default().cases(8).seed(4).events(52..53).mix(Mix::purchases_only()).faults(false);
    config.lines = 1..3;
    config.max_unit_price_cents = 100_000;
    let gold = Property::new("a weekly spender of 3 000 RUB a year reaches Gold", |run| {
        let spend = run.spend();
        let reached = run.receipts().any(|r| r.tier.as_ref().is_some_and(|t| t.as_str() == "gold"));
        if spend >= Decimal::from(3_000) && !reached {
            return Err(format!("spent {spend} RUB over {} events, never Gold", run.events().len()));
        }
        Ok(())
    });
    check_program(&program, &config, &[gold]).unwrap_or_else(|c| panic!("{c}"));
}

// ---------------------------------------------------------------------------
// A broken program is caught, shrunk and replayable
// ---------------------------------------------------------------------------

#[test]
fn a_broken_program_is_caught_with_a_minimal_replayable_counterexample() {
    let program = program(include_str!("fixtures/broken_cashback.toml"));
    let found = check_program(&program, &Config::default().cases(64).seed(5), &[earns_at_most(10)])
        .expect_err("15 % on coffee must break a 10 % cap");
    assert_eq!(found.property, "no member earns more than 10 % of spend");
    assert_eq!(found.seed, Some(5));
    // Shrunk: the enrolment and one purchase with one coffee line.
    let lines: Vec<&str> = found.log.lines().collect();
    assert_eq!(lines.len(), 2, "not minimal:\n{found}");
    let purchase = loyalty::Event::from_json_str(lines[1]).unwrap();
    let loyalty::EventKind::Purchase(p) = &purchase.kind else { panic!("not a purchase: {}", lines[1]) };
    assert_eq!(p.lines.len(), 1, "not minimal:\n{found}");
    assert_eq!(p.lines[0].category, "coffee");
    // The report says what failed and carries the log.
    let report = found.to_string();
    assert!(report.contains("program 'broken-cashback': property 'no member earns more than 10 % of spend' failed"));
    assert!(report.contains("(seed 5;"));
    assert!(report.ends_with(&found.log));
    // Replaying the log reproduces the failure, and only the property fails.
    let again = check_log(&program, &found.log, &[earns_at_most(10)]).expect_err("the log must fail again");
    assert_eq!((again.property.as_str(), again.message.as_str()), (found.property.as_str(), found.message.as_str()));
    assert!(check_log(&program, &found.log, &[]).is_ok());
    // The same seed finds the same counterexample.
    let twice = check_program(&program, &Config::default().cases(64).seed(5), &[earns_at_most(10)]).unwrap_err();
    assert_eq!(twice, found);
}

#[test]
fn the_fixed_program_passes_the_same_property() {
    let fixed = include_str!("fixtures/broken_cashback.toml").replace("percent = \"5\"", "percent = \"0.01\"");
    let fixed = fixed.replace("points = 1\nper = \"10\"", "points = 9\nper = \"100\"");
    let program = program(&fixed);
    check_program(&program, &Config::default().cases(64).seed(5), &[earns_at_most(10)])
        .unwrap_or_else(|c| panic!("{c}"));
}

// ---------------------------------------------------------------------------
// Faults at the host boundary, on hand-written logs
// ---------------------------------------------------------------------------

const SHOP: &str = r#"
id = "shop"
currency = "EUR"
time_zone = "Europe/Berlin"
categories = ["food"]
[limits]
late_window = { hours = 72 }
[[earn]]
id = "base"
name = "1 point per euro"
kind = "per_amount"
points = 1
per = "1"
[[burn]]
id = "pay"
"#;

const ENROLL: &str = r#"{"id":"enroll","at":"2026-03-02T09:00:00Z","type":"enroll","member":"m-1"}"#;
const SALE: &str = r#"{"id":"s1","at":"2026-03-02T10:00:00Z","type":"purchase","lines":[{"sku":"x","category":"food","quantity":"1","unit_price":"40"}]}"#;
const REDEEM: &str = r#"{"id":"r1","at":"2026-03-03T10:00:00Z","type":"redeem","points":25}"#;
const LATE: &str = r#"{"id":"s0","at":"2026-03-02T09:30:00Z","type":"purchase","lines":[{"sku":"y","category":"food","quantity":"2","unit_price":"5"}]}"#;

#[test]
fn retries_duplicates_and_late_deliveries_hold_every_check() {
    let program = program(SHOP);
    // A retried sale and redeem later in the log, and a sale from before the
    // member's clock arriving inside the 72 h late window.
    let log = [ENROLL, SALE, REDEEM, SALE, LATE, REDEEM].join("\n");
    let run = check_log(&program, &log, &[]).unwrap_or_else(|c| panic!("{c}"));
    let d = run.deliveries();
    // The member keeps the last receipt only (`limits.keep_receipts`): an
    // older id re-sent is refused as already applied, and changes nothing.
    assert!(d[2].retry && matches!(d[2].outcome, Err(loyalty::Error::AlreadyApplied { .. })), "{:?}", d[2].outcome);
    assert_eq!(d[2].after.to_json(), d[1].after.to_json());
    assert!(d[3].outcome.is_ok() && d[3].event.at < d[1].event.at); // the late sale, accepted
    assert!(d[4].retry && matches!(d[4].outcome, Err(loyalty::Error::AlreadyApplied { .. })), "{:?}", d[4].outcome);
    assert_eq!(d[4].after.to_json(), d[3].after.to_json());
    assert_eq!(run.member().balances().available, 40 + 10 - 25);
    assert_eq!(run.spend(), Decimal::from(50));
}

/// Found by `the_fixed_program_passes_the_same_property` (the kit's first
/// finding): a whole order paid with the points it earned, then returned.
/// The return used to take the earned points back before giving back the
/// points that paid, so it reported a shortfall of 40 and then refunded 40:
/// the member kept 40 points earned on goods that came back.
#[test]
fn a_return_refunds_the_payment_before_taking_back_the_points_earned() {
    let program = program(SHOP);
    let pay = r#"{"id":"r1","at":"2026-03-02T11:00:00Z","type":"redeem","points":40,"order":"s1"}"#;
    let back = r#"{"id":"back","at":"2026-03-02T12:00:00Z","type":"return","purchase":"s1"}"#;
    let run = check_log(&program, &[ENROLL, SALE, pay, back].join("\n"), &[]).unwrap_or_else(|c| panic!("{c}"));
    let receipt = &run.deliveries()[2].outcome.as_ref().unwrap().receipt;
    // 40 EUR → 40 points; all 40 pay for s1; the return gives the 40 back
    // (refund) and takes the 40 earned back from them (reverse): 0 left.
    assert_eq!(receipt.total(loyalty::EntryKind::Refund), 40);
    assert_eq!(receipt.total(loyalty::EntryKind::Reverse), -40);
    assert_eq!((receipt.shortfall, receipt.balances.available), (0, 0));
    assert_eq!(run.earned(), 0);
}

#[test]
fn a_late_event_outside_the_window_is_refused_and_changes_nothing() {
    let program = program(SHOP);
    let too_late = r#"{"id":"old","at":"2026-02-20T10:00:00Z","type":"adjust","points":5,"reason":"gift"}"#;
    let run = check_log(&program, &[ENROLL, SALE, too_late].join("\n"), &[]).unwrap_or_else(|c| panic!("{c}"));
    let last = &run.deliveries()[1];
    assert!(matches!(last.outcome, Err(loyalty::Error::TooLate { .. })), "{:?}", last.outcome);
    assert_eq!(last.after.to_json(), run.deliveries()[0].after.to_json());
}

#[test]
fn a_log_that_does_not_decode_names_its_line() {
    let program = program(SHOP);
    let bad = check_log(&program, &[ENROLL, SALE, "{\"id\":"].join("\n"), &[]).unwrap_err();
    assert_eq!((bad.property.as_str(), bad.line), ("the log replays", Some(3)));
    assert!(bad.message.starts_with("event: line 1, column"), "{}", bad.message);
}

#[test]
fn the_state_hash_is_stable_and_tells_states_apart() {
    let program = program(SHOP);
    let a = check_log(&program, &[ENROLL, SALE].join("\n"), &[]).unwrap();
    let b = check_log(&program, &[ENROLL, SALE].join("\n"), &[]).unwrap();
    let c = check_log(&program, &[ENROLL, SALE, REDEEM].join("\n"), &[]).unwrap();
    let hash = loyalty::testing::state_hash;
    assert_eq!(hash(a.member()), hash(b.member()));
    assert_ne!(hash(a.member()), hash(c.member()));
    // Pinned: FNV-1a 64 of the canonical JSON does not change between
    // releases or platforms unless the member's JSON does.
    let json = a.member().to_json();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in json.bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    assert_eq!(hash(a.member()), h);
}

/// The generated scenarios reach what they are meant to: every kind of
/// step the sample programs allow, refusals, retries and late deliveries
/// (a kit whose scenarios never redeem checks nothing about burns).
#[test]
fn generated_scenarios_reach_every_kind_of_step() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let program = program(include_str!("../examples/programs/petshop.toml"));
    let strategy = loyalty::testing::scenarios(&program, &Config::default());
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..40 {
        let run = strategy.new_tree(&mut runner).unwrap().current().run(&program);
        let mut clock = run.events()[0].at;
        for d in run.deliveries() {
            let ok = matches!(&d.outcome, Ok(a) if !a.duplicate);
            *seen.entry(format!("{} {}", d.event.kind.name(), if ok { "accepted" } else { "refused" })).or_default() +=
                1;
            if d.retry {
                *seen.entry("retry".into()).or_default() += 1;
            }
            if d.event.at < clock {
                *seen.entry("late".into()).or_default() += 1;
            }
            clock = clock.max(d.event.at);
        }
    }
    for want in [
        "purchase accepted",
        "return accepted",
        "return refused",
        "hold accepted",
        "capture accepted",
        "void accepted",
        "redeem accepted",
        "redeem refused",
        "adjust accepted",
        "advance accepted",
        "activity accepted",
        "subscribe accepted",
        "retry",
        "late",
    ] {
        assert!(seen.get(want).copied().unwrap_or(0) > 0, "never reached: {want}; seen {seen:?}");
    }
}
