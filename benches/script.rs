//! What a script rule costs beside its built-in equivalent, on the 5-line
//! basket of `benches/apply.rs`.
//!
//! Run: `cargo bench --bench script`. The numbers go to BENCHMARKS.md.
//!
//! Three programs differ in one rule each:
//! - `built-in`: Tuesday 15–18 double points on coffee as a `multiplier`
//!   with `when.weekdays` and `when.time_of_day`, and a 50-point bonus for
//!   baskets of 1 000 RUB or more as a `fixed` rule with `when.min_basket`;
//! - `line script`: the Tuesday rule as a per-line multiplier script (runs
//!   once per coffee line: 2 calls on this basket);
//! - `basket script`: the bonus as a per-basket points script (1 call),
//!   once as one test of `event.earning_total`, once as a loop summing the
//!   earning lines.
//!
//! The extra time per call is (script − built-in) / calls.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use loyalty::{Basket, Member, Program};

const HEAD: &str = r#"
id = "bench"
currency = "RUB"
time_zone = "Europe/Moscow"
categories = ["coffee", "food", "merch", "alcohol"]
earning_base.exclude_categories = ["alcohol"]

[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "10"

[[earn]]
id = "gold"
kind = "multiplier"
factor = "1.2"
applies_to = ["base"]
when.attributes = { tier = "gold" }

[[earn]]
id = "food"
kind = "percent"
percent = "5"
when.categories = ["food"]
"#;

const TUESDAY_BUILT_IN: &str = r#"
[[earn]]
id = "tuesday"
kind = "multiplier"
factor = "2"
applies_to = ["base"]
when.categories = ["coffee"]
when.weekdays = ["tue"]
when.time_of_day = { from = "15:00", until = "18:00" }
"#;

const TUESDAY_SCRIPT: &str = r#"
[[earn]]
id = "tuesday"
kind = "script"
applies_to = ["base"]
when.categories = ["coffee"]
script.gives = "multiplier"
script.each = "line"
script.source = '''
if event.weekday == "tue" && event.hour >= 15 && event.hour < 18 { 2 } else { 1 }
'''
"#;

const BONUS_BUILT_IN: &str = r#"
[[earn]]
id = "big-basket"
kind = "fixed"
points = 50
when.min_basket = "1000"
"#;

const BONUS_SCRIPT: &str = r#"
[[earn]]
id = "big-basket"
kind = "script"
script.gives = "points"
script.each = "basket"
script.source = '''
let total = 0;
for l in event.lines { if l.earns { total += l.amount; } }
if total >= 1000 { 50 } else { 0 }
'''
"#;

/// The same bonus without a loop: `event.earning_total` sums the earning lines natively.
const BONUS_SCRIPT_SHORT: &str = r#"
[[earn]]
id = "big-basket"
kind = "script"
script.gives = "points"
script.each = "basket"
script.source = "if event.earning_total >= 1000 { 50 } else { 0 }"
"#;

/// Tuesday 2026-12-15 16:30 Moscow.
const AT: &str = "2026-12-15T13:30:00Z";

const LINES: &str = r#"{"lines": [
  {"sku": "latte", "category": "coffee", "quantity": "2", "unit_price": "245.00"},
  {"sku": "croissant", "category": "food", "quantity": "3", "unit_price": "180.50", "discount": "20.00"},
  {"sku": "beans", "category": "coffee", "quantity": "1", "unit_price": "890.00"},
  {"sku": "mug", "category": "merch", "quantity": "1", "unit_price": "650.00"},
  {"sku": "wine", "category": "alcohol", "quantity": "1", "unit_price": "1200.00"}
]}"#;

fn setup(rules: &[&str]) -> (Program, Member) {
    let program = Program::from_toml_str(&format!("{HEAD}{}", rules.concat())).expect("bench program");
    let mut profile = loyalty::Profile::default();
    profile.attributes.insert("tier".into(), "gold".into());
    let member = program.enroll("m-1", "2026-06-01T09:00:00Z".parse().unwrap(), profile).unwrap();
    (program, member)
}

fn bench(c: &mut Criterion) {
    let basket: Basket = serde_json::from_str(LINES).unwrap();
    let at = AT.parse().unwrap();
    let variants = [
        ("built-in", setup(&[TUESDAY_BUILT_IN, BONUS_BUILT_IN])),
        ("line script (2 calls)", setup(&[TUESDAY_SCRIPT, BONUS_BUILT_IN])),
        ("basket script, one test (1 call)", setup(&[TUESDAY_BUILT_IN, BONUS_SCRIPT_SHORT])),
        ("basket script, loop over lines (1 call)", setup(&[TUESDAY_BUILT_IN, BONUS_SCRIPT])),
        ("both scripts (3 calls)", setup(&[TUESDAY_SCRIPT, BONUS_SCRIPT])),
    ];
    // Every variant earns the same 520 points before anything is timed.
    for (name, (program, member)) in &variants {
        assert_eq!(program.quote(member, &basket, at).unwrap().points, 520, "{name}");
    }
    let mut group = c.benchmark_group("script rules, 5-line basket (quote)");
    for (name, (program, member)) in &variants {
        group.bench_function(*name, |b| b.iter(|| program.quote(black_box(member), black_box(&basket), at).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
