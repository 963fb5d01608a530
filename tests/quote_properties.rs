//! `quote` is `apply`'s computation without the changes: for random
//! programs of built-in earn rules and random baskets, the points a quote
//! gives, in total and per rule, are the points applying the same basket as
//! a purchase earns.
//!
//! The two take different paths on purpose: `apply` splits every rule's
//! points over the lines (returns need that), `quote` does not and so sums
//! the matching amounts of per-amount, percent, fixed and (rounded per
//! transaction) multiplier rules instead of working line by line. These
//! properties hold the paths together: rates that divide amounts exactly
//! and rates that do not (1 point per 3, per 0.7), prices and quantities
//! with up to 6 decimals, rates at the limits of the exact arithmetic
//! (where both must fail alike), every rounding mode, per-line and
//! per-transaction rounding, multipliers of one target, of several and of
//! all, exclusive rules, caps and minimum baskets.
//!
//! 256 cases per property unless `PROPTEST_CASES` says otherwise:
//!
//! ```sh
//! PROPTEST_CASES=20000 cargo test --release --test quote_properties
//! ```

use loyalty::{Basket, EntryKind, Event, EventKind, Line, Program, Purchase};
use proptest::prelude::*;
use proptest::sample::select;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

const CATEGORIES: [&str; 4] = ["coffee", "food", "merch", "alcohol"];

/// One earn rule of the random program, as TOML.
#[derive(Clone, Debug)]
enum Rule {
    PerAmount {
        points: i64,
        per: &'static str,
    },
    Percent {
        percent: &'static str,
    },
    Fixed {
        points: u32,
        min_basket: &'static str,
    },
    /// `targets`: indices into the stage-one rules (empty: all of them).
    Multiplier {
        factor: &'static str,
        targets: Vec<usize>,
    },
}

#[derive(Clone, Debug)]
struct RuleGen {
    rule: Rule,
    /// Index into `CATEGORIES`, or none.
    category: Option<usize>,
    round: Option<&'static str>,
    rounding: Option<&'static str>,
    exclusive: bool,
    cap: Option<u32>,
}

fn rule_gen() -> impl Strategy<Value = RuleGen> {
    let rule = prop_oneof![
        3 => (1_i64..5, select(vec!["10", "3", "0.7", "100", "1", "25", "0.01"]))
            .prop_map(|(points, per)| Rule::PerAmount { points, per }),
        // Rates near the limits of the exact arithmetic: sums of lines
        // overflow where single lines do not.
        1 => (select(vec![1_000_000_000_000_i64, 5_000_000_000_000_000_000, i64::MAX]), select(vec!["0.000000000001", "0.001", "7", "100000000"]))
            .prop_map(|(points, per)| Rule::PerAmount { points, per }),
        2 => select(vec!["5", "3.3", "12.5", "0.1", "100"]).prop_map(|percent| Rule::Percent { percent }),
        1 => (1_u32..100, select(vec!["0", "500", "1000"])).prop_map(|(points, min_basket)| Rule::Fixed { points, min_basket }),
        3 => (select(vec!["1.2", "2", "1.5", "1.25", "3", "1.333"]), prop::collection::vec(0_usize..4, 0..3))
            .prop_map(|(factor, targets)| Rule::Multiplier { factor, targets }),
    ];
    (
        rule,
        prop::option::weighted(0.5, 0_usize..4),
        prop::option::of(select(vec!["per_transaction", "per_line"])),
        prop::option::of(select(vec!["floor", "ceil", "half_up", "half_even"])),
        prop::bool::weighted(0.15),
        prop::option::weighted(0.15, 1_u32..200),
    )
        .prop_map(|(rule, category, round, rounding, exclusive, cap)| RuleGen {
            rule,
            category,
            round,
            rounding,
            exclusive,
            cap,
        })
}

/// The program's TOML, or `None` when it has no rule to multiply.
fn program_toml(rules: &[RuleGen], scale: u32, round: &str, rounding: &str) -> String {
    let stage_one: Vec<String> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| !matches!(r.rule, Rule::Multiplier { .. } | Rule::Fixed { .. }))
        .map(|(i, _)| format!("r{i}"))
        .collect();
    let mut toml = format!(
        "id = \"q\"\ncurrency = \"RUB\"\ntime_zone = \"Europe/Moscow\"\n\
         categories = [\"coffee\", \"food\", \"merch\", \"alcohol\"]\n\
         earning_base.exclude_categories = [\"alcohol\"]\n\
         points.scale = {scale}\npoints.round = \"{round}\"\npoints.rounding = \"{rounding}\"\n"
    );
    for (i, r) in rules.iter().enumerate() {
        toml += &format!("\n[[earn]]\nid = \"r{i}\"\n");
        match &r.rule {
            Rule::PerAmount { points, per } => {
                toml += &format!("kind = \"per_amount\"\npoints = {points}\nper = \"{per}\"\n")
            }
            Rule::Percent { percent } => toml += &format!("kind = \"percent\"\npercent = \"{percent}\"\n"),
            Rule::Fixed { points, min_basket } => {
                toml += &format!("kind = \"fixed\"\npoints = {points}\nwhen.min_basket = \"{min_basket}\"\n")
            }
            Rule::Multiplier { factor, targets } => {
                toml += &format!("kind = \"multiplier\"\nfactor = \"{factor}\"\n");
                if !stage_one.is_empty() && !targets.is_empty() {
                    let mut named: Vec<&str> =
                        targets.iter().map(|&t| stage_one[t % stage_one.len()].as_str()).collect();
                    named.sort_unstable();
                    named.dedup();
                    toml += &format!("applies_to = {named:?}\n");
                }
            }
        }
        if let Some(c) = r.category {
            toml += &format!("when.categories = [\"{}\"]\n", CATEGORIES[c]);
        }
        if let Some(round) = r.round {
            toml += &format!("round = \"{round}\"\n");
        }
        if let Some(rounding) = r.rounding {
            toml += &format!("rounding = \"{rounding}\"\n");
        }
        if r.exclusive {
            toml += "stacking = \"exclusive\"\n";
        }
        if let Some(cap) = r.cap {
            toml += &format!("caps.per_transaction = {cap}\n");
        }
    }
    toml
}

/// A decimal of up to `max_scale` fraction digits, positive.
fn decimal(max_mantissa: i64, max_scale: u32) -> impl Strategy<Value = String> {
    (1_i64..=max_mantissa, 0..=max_scale).prop_map(|(m, s)| rust_decimal::Decimal::new(m, s).to_string())
}

fn line_gen() -> impl Strategy<Value = Line> {
    // Small round prices too: three lines of 1 at 1 point per 3 earn 1
    // point exactly, and a third of a point each when truncated per line.
    let small = || select(vec!["1", "2", "3", "0.1", "0.7", "10"]).prop_map(str::to_owned);
    let quantity = prop_oneof![decimal(5_000, 3), small()];
    let unit_price = prop_oneof![decimal(500_000, 6), small()];
    (0_usize..4, quantity, unit_price, prop::option::weighted(0.3, 0_u32..50)).prop_map(
        |(c, quantity, unit_price, discount_percent)| {
            let quantity: loyalty::Amount = quantity.parse().unwrap();
            let unit_price: loyalty::Amount = unit_price.parse().unwrap();
            // A discount of at most half the line, to the cent.
            let discount = discount_percent.map_or(rust_decimal::Decimal::ZERO, |p| {
                (quantity.decimal() * unit_price.decimal() * rust_decimal::Decimal::new(i64::from(p), 2)).round_dp(2)
            });
            Line {
                sku: format!("sku-{c}"),
                category: CATEGORIES[c].to_owned(),
                quantity,
                unit_price,
                discount: discount.to_string().parse().unwrap(),
            }
        },
    )
}

/// Points in total and per rule (those that gave any), or the error's text.
type Outcome = Result<(i64, Vec<(String, i64)>), String>;

/// What a quote of `lines` says a new member earns, and what a purchase
/// of them earns, at the same instant. Errors name the event: the quote's
/// is renamed to the purchase's so the two compare.
fn quote_and_purchase(program: &Program, lines: Vec<Line>) -> (Outcome, Outcome) {
    let at = "2026-12-15T13:30:00Z".parse().unwrap();
    let member = program.enroll("m", "2026-06-01T09:00:00Z".parse().unwrap(), Default::default()).unwrap();
    let basket = Basket { lines: lines.clone(), channel: None, store: None, partner: None };
    let quoted = match program.quote(&member, &basket, at) {
        Ok(q) => {
            let rules = q.explanations.iter().filter(|e| e.points != 0).map(|e| (e.rule.to_owned(), e.points));
            Ok((q.points, rules.collect()))
        }
        Err(e) => Err(e.to_string().replace("'quote'", "'sale'")),
    };
    let event = Event {
        id: "sale".into(),
        at,
        kind: EventKind::Purchase(Purchase { order: None, lines, channel: None, store: None, partner: None }),
    };
    let mut m = member.clone();
    let earned = match program.apply(&mut m, &event) {
        Ok(a) => {
            let r = &a.receipt;
            let rules = r.explanations.iter().filter(|e| e.points != 0).map(|e| (e.rule.to_string(), e.points));
            Ok((r.total(EntryKind::Earn), rules.collect()))
        }
        Err(e) => Err(e.to_string()),
    };
    (quoted, earned)
}

/// `n` lines of one unit at `unit_price`, category `misc`.
fn lines(n: usize, unit_price: &str) -> Vec<Line> {
    let line = |i: usize| Line {
        sku: format!("sku-{i}"),
        category: "misc".into(),
        quantity: "1".parse().unwrap(),
        unit_price: unit_price.parse().unwrap(),
        discount: Default::default(),
    };
    (0..n).map(line).collect()
}

proptest! {
    #![proptest_config(config())]

    /// A quote's points, in total and rule by rule, are what applying the
    /// basket as a purchase earns.
    #[test]
    fn quotes_give_what_purchases_earn(
        rules in prop::collection::vec(rule_gen(), 1..6),
        scale in select(vec![0_u32, 2]),
        round in select(vec!["per_transaction", "per_line"]),
        rounding in select(vec!["floor", "half_up", "half_even", "ceil"]),
        lines in prop::collection::vec(line_gen(), 1..7),
    ) {
        let toml = program_toml(&rules, scale, round, rounding);
        let program = match Program::from_toml_str(&toml) {
            Ok(p) => p,
            // Rates too precise for the exact arithmetic are refused at load.
            Err(e) => {
                prop_assert!(e.to_string().contains("38 digits"), "{}\n{}", e, toml);
                return Ok(());
            }
        };
        let (quoted, earned) = quote_and_purchase(&program, lines);
        prop_assert_eq!(quoted, earned, "quote, then purchase\n{}", toml);
    }
}

/// The case the properties find only in long runs: a multiplier of
/// 1 point per 3 RUB on three lines of 1 RUB. Per line the base's fine points
/// are 0.333333333333 each (truncated to 10⁻¹²), so the ×2 multiplier adds
/// floor(0.999999999999) = 0 points, while the base itself, rounded once over
/// the basket, gives floor(3 / 3) = 1. A quote that summed the amounts
/// before applying the inexact rate would give the multiplier 1 point.
#[test]
fn a_multiplier_of_an_inexact_rate_keeps_the_per_line_truncation() {
    let program = misc_program(
        r#"
[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "3"
[[earn]]
id = "double"
kind = "multiplier"
factor = "2"
"#,
    );
    let want = Ok((1, vec![("base".to_owned(), 1)]));
    assert_eq!(quote_and_purchase(&program, lines(3, "1")), (want.clone(), want));
}

/// Where a multiplier's target rate times the sum of the lines passes 128
/// bits though no line's product does (huge points per 100 million RUB,
/// rounded per line, two lines of 10 million), the quote still gives what
/// the purchase earns.
#[test]
fn a_sum_past_128_bits_is_taken_line_by_line() {
    let program = misc_program(
        r#"
[[earn]]
id = "base"
kind = "per_amount"
points = 9223372036854775807
per = "100000000"
round = "per_line"
[[earn]]
id = "more"
kind = "multiplier"
factor = "1.2"
"#,
    );
    // base, per line: 10⁷ × (2⁶³ − 1) / 10⁸ = 922 337 203 685 477 580.7 → …580, twice;
    // more: 0.2 × 1 844 674 407 370 955 161.4 = 368 934 881 474 191 032.28 → …032.
    let rules = vec![("base".to_owned(), 1_844_674_407_370_955_160), ("more".to_owned(), 368_934_881_474_191_032)];
    let want = Ok((2_213_609_288_845_146_192, rules));
    assert_eq!(quote_and_purchase(&program, lines(2, "10000000")), (want.clone(), want));
}

/// A program in RUB, UTC, with the one category `misc`, and these rules.
fn misc_program(earn: &str) -> Program {
    Program::from_toml_str(&format!(
        "id = \"q\"\ncurrency = \"RUB\"\ntime_zone = \"UTC\"\ncategories = [\"misc\"]\n{earn}"
    ))
    .unwrap()
}
