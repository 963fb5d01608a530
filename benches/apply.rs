//! `apply` and `quote` on a 5-line basket with a tier multiplier and three
//! promotions, beside a hand-written i64 function computing the same points.
//!
//! Run: `cargo bench --bench apply`. The numbers go to BENCHMARKS.md.

use std::hint::black_box;

use criterion::{criterion_group, BatchSize, Criterion};
use loyalty::{Basket, Event, Member, Program};

const PROGRAM: &str = include_str!("program.toml");

/// The same program with Gold as a real tier level (300 points earned in a
/// rolling 12 months, ×1.2 as the implicit rule `tier:gold`, points that never
/// expire while Gold), a challenge (30 purchases in 30 days → 300 points) and
/// birthday rules (×2 in the birthday month, 150 points on the day). The
/// bench member's ten earlier purchases earn 300 points, so it is Gold; its
/// birthday is in March, so the birthday rules are checked and do not apply,
/// and the challenge counts every purchase without completing (the member
/// keeps the same ten lots as the issue-1 bench member).
fn tier_program() -> String {
    let attribute_rule = "[[earn]]\nid = \"gold\"\nkind = \"multiplier\"\nfactor = \"1.2\"\napplies_to = [\"base\"]\nwhen.attributes = { tier = \"gold\" }\n";
    assert!(PROGRAM.contains(attribute_rule));
    PROGRAM.replace(attribute_rule, "")
        + r#"
[tiers]
measure = "points_earned"
window = { rolling_months = 12 }
[[tiers.levels]]
id = "green"
[[tiers.levels]]
id = "gold"
min = "300"
multiplier = "1.2"
points_never_expire = true

[[challenges]]
id = "thirty-in-30"
kind = "count"
target = "30"
within = { days = 30 }
points = 300

[birthday]
points = 150

[[earn]]
id = "birthday-month"
kind = "multiplier"
factor = "2"
applies_to = ["base"]
when.birthday = "month"
"#
}

/// Tuesday 2026-12-15 16:30 Moscow.
const AT: &str = "2026-12-15T13:30:00Z";

const LINES: &str = r#"[
  {"sku": "latte", "category": "coffee", "quantity": "2", "unit_price": "245.00"},
  {"sku": "croissant", "category": "food", "quantity": "3", "unit_price": "180.50", "discount": "20.00"},
  {"sku": "beans", "category": "coffee", "quantity": "1", "unit_price": "890.00"},
  {"sku": "mug", "category": "merch", "quantity": "1", "unit_price": "650.00"},
  {"sku": "wine", "category": "alcohol", "quantity": "1", "unit_price": "1200.00"}
]"#;

/// The same computation by hand, in kopecks and i64: what an engine could
/// never beat.
#[inline(never)]
fn hand_written(lines: &[(u8, i64)], gold: bool, tuesday_window: bool) -> i64 {
    const COFFEE: u8 = 0;
    const FOOD: u8 = 1;
    const ALCOHOL: u8 = 3;
    let (mut eligible, mut coffee, mut food) = (0_i64, 0_i64, 0_i64);
    for &(category, kopecks) in lines {
        if category == ALCOHOL {
            continue;
        }
        eligible += kopecks;
        if category == COFFEE {
            coffee += kopecks;
        }
        if category == FOOD {
            food += kopecks;
        }
    }
    let mut points = eligible / 1000; // 1 point per 10 RUB = 1000 kopecks
    if gold {
        points += eligible / 5000; // +0.2 per 10 RUB
    }
    if tuesday_window {
        points += coffee / 1000;
    }
    points += food * 5 / 10000; // 5 % of roubles
    if eligible >= 100_000 {
        points += 50;
    }
    points
}

/// The same computation by hand from what the engine is given: the
/// basket's lines (category names, decimal quantities and prices), the
/// member's profile and the UTC instant. Still i64 and specialised to this
/// one program (Moscow's fixed UTC+3 since 2014, the categories' names as
/// literals), but with the work any caller of a hand-written function has
/// to do: read the decimals into kopecks, match the categories by name,
/// find the local weekday and hour, look up the member's attribute.
#[inline(never)]
fn hand_written_from_basket(basket: &Basket, member: &Member, at: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    use chrono::{Datelike, Timelike};
    /// A decimal as a whole number of 10^-`digits`, if it has no more digits.
    #[inline(always)]
    fn fixed(d: rust_decimal::Decimal, digits: u32) -> Option<i64> {
        const POW10: [i64; 4] = [1, 10, 100, 1000];
        let (m, scale) = (i64::try_from(d.mantissa()).ok()?, d.scale());
        if scale <= digits {
            m.checked_mul(POW10[(digits - scale) as usize])
        } else {
            let div = *POW10.get((scale - digits) as usize)?;
            (m % div == 0).then(|| m / div)
        }
    }
    let local = at.naive_utc() + chrono::Duration::hours(3);
    let window = local.weekday() == chrono::Weekday::Tue && (15..18).contains(&local.hour());
    let gold = member.profile().attributes.get("tier").is_some_and(|t| t == "gold");
    let (mut eligible, mut coffee, mut food) = (0_i64, 0_i64, 0_i64);
    for line in &basket.lines {
        let category = line.category.as_str();
        if category == "alcohol" {
            continue;
        }
        // Quantities in thousandths, prices in kopecks: the line in
        // thousandths of a kopeck, then in kopecks (whole, as here).
        let milli = fixed(line.quantity.decimal(), 3)?.checked_mul(fixed(line.unit_price.decimal(), 2)?)?;
        let kopecks = milli / 1000 - fixed(line.discount.decimal(), 2)?;
        eligible += kopecks;
        match category {
            "coffee" => coffee += kopecks,
            "food" => food += kopecks,
            _ => {}
        }
    }
    let mut points = eligible / 1000;
    if gold {
        points += eligible / 5000;
    }
    if window {
        points += coffee / 1000;
    }
    points += food * 5 / 10000;
    if eligible >= 100_000 {
        points += 50;
    }
    Some(points)
}

fn setup() -> (Program, Member, Event, Basket) {
    setup_with(PROGRAM)
}

fn setup_with(text: &str) -> (Program, Member, Event, Basket) {
    let program = Program::from_toml_str(text).expect("bench program");
    let mut profile = loyalty::Profile::default();
    profile.attributes.insert("tier".into(), "gold".into());
    profile.birth_date = "1990-03-10".parse().ok();
    let mut member = program.enroll("m-1", "2026-06-01T09:00:00Z".parse().unwrap(), profile).unwrap();
    // A member with history: 10 open lots and some remembered events.
    for i in 0..10 {
        let at = format!("2026-{:02}-{:02}T09:00:00Z", 6 + i / 4, 2 + (i % 4) * 7);
        let e = Event::from_json_str(&format!(
            r#"{{"id":"h{i}","at":"{at}","type":"purchase","lines":[{{"sku":"latte","category":"coffee","quantity":"1","unit_price":"300"}}]}}"#
        ))
        .unwrap();
        program.apply(&mut member, &e).unwrap();
    }
    let event =
        Event::from_json_str(&format!(r#"{{"id":"bench-sale","at":"{AT}","type":"purchase","lines":{LINES}}}"#))
            .unwrap();
    let basket: Basket = serde_json::from_str(&format!(r#"{{"lines":{LINES}}}"#)).unwrap();
    (program, member, event, basket)
}

fn bench(c: &mut Criterion) {
    let (program, member, event, basket) = setup();
    let lines: Vec<(u8, i64)> = vec![(0, 49_000), (1, 52_150), (0, 89_000), (2, 65_000), (3, 120_000)];
    let at = AT.parse().unwrap();

    // The engine and the hand-written function agree before anything is timed.
    let by_hand = hand_written(&lines, true, true);
    assert_eq!(hand_written_from_basket(&basket, &member, at), Some(by_hand));
    let quoted = program.quote(&member, &basket, at).unwrap().points;
    let mut m = member.clone();
    let applied = program.apply(&mut m, &event).unwrap().receipt.total(loyalty::EntryKind::Earn);
    assert_eq!((quoted, applied), (by_hand, by_hand), "engine and hand-written baseline disagree");

    let mut group = c.benchmark_group("5-line basket, tier multiplier, 3 promotions");
    group.bench_function("hand-written i64", |b| b.iter(|| hand_written(black_box(&lines), true, true)));
    group.bench_function("hand-written i64, from the basket", |b| {
        b.iter(|| hand_written_from_basket(black_box(&basket), black_box(&member), black_box(at)))
    });
    group.bench_function("quote", |b| b.iter(|| program.quote(black_box(&member), black_box(&basket), at).unwrap()));
    group.bench_function("apply", |b| {
        b.iter_batched_ref(|| member.clone(), |m| program.apply(m, black_box(&event)).unwrap(), BatchSize::SmallInput)
    });
    group.bench_function("apply (one member per iteration)", |b| {
        b.iter_batched_ref(|| member.clone(), |m| program.apply(m, black_box(&event)).unwrap(), BatchSize::PerIteration)
    });
    // A host loads its member from storage: lists decoded from JSON have the
    // spare capacity of their growth, where a clone has exactly its length.
    let stored = member.to_json();
    group.bench_function("apply (member decoded from JSON)", |b| {
        b.iter_batched_ref(
            || Member::from_json_str(&stored).unwrap(),
            |m| program.apply(m, black_box(&event)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("apply (duplicate)", |b| {
        b.iter_batched_ref(|| m.clone(), |m| program.apply(m, black_box(&event)).unwrap(), BatchSize::SmallInput)
    });
    group.finish();

    // A host that keeps members in memory or a store: the member's two
    // encodings, each way.
    let json = member.to_json();
    let packed = member.to_bytes();
    let mut group = c.benchmark_group("member state (10 open lots, kept receipt)");
    group.bench_function("to_json", |b| b.iter(|| black_box(&member).to_json()));
    group.bench_function("from_json_str", |b| b.iter(|| Member::from_json_str(black_box(&json)).unwrap()));
    group.bench_function("to_bytes (packed)", |b| b.iter(|| black_box(&member).to_bytes()));
    group.bench_function("from_bytes (packed)", |b| b.iter(|| Member::from_bytes(black_box(&packed)).unwrap()));
    group.finish();

    // The issue-1 program beside the same program with a real tier ladder.
    let (tiered, gold, _, _) = setup_with(&tier_program());
    assert_eq!(tiered.tier(&gold, at).map(|s| s.tier), Some("gold"));
    // A tier's multiplier multiplies every rule a multiplier can, the 5 % on
    // food too: 0.2 × 26.075 (5 % of 521.50) = 5.215 → 5 more points.
    let by_tier = by_hand + 5;
    assert_eq!(tiered.quote(&gold, &basket, at).unwrap().points, by_tier);
    let mut g = gold.clone();
    assert_eq!(tiered.apply(&mut g, &event).unwrap().receipt.total(loyalty::EntryKind::Earn), by_tier);
    let mut group = c.benchmark_group("tiers, a challenge and birthday rules");
    group.bench_function("apply, Gold by attribute", |b| {
        b.iter_batched_ref(|| member.clone(), |m| program.apply(m, black_box(&event)).unwrap(), BatchSize::SmallInput)
    });
    group.bench_function("apply, Gold by tier", |b| {
        b.iter_batched_ref(|| gold.clone(), |m| tiered.apply(m, black_box(&event)).unwrap(), BatchSize::SmallInput)
    });
    group.bench_function("quote, Gold by tier", |b| {
        b.iter(|| tiered.quote(black_box(&gold), black_box(&basket), at).unwrap())
    });
    group.finish();
}

/// A fixed number of calls, for instruction counts that CPU contention does
/// not blur: `LOYALTY_COUNT=<what>:<n>` with `what` one of `hand`,
/// `hand-basket` (the hand-written function from the basket), `quote`,
/// `apply`, `clone` (`apply` includes a member copy per call; subtract
/// `clone`), `apply-json`, `json` (the same with members decoded from JSON),
/// `to-json`, `pack`, `unpack` (the member to JSON, and to and from its
/// packed form);
/// prefixed `tier-` (`tier-apply`, …) on the program with a real tier ladder.
/// For example:
/// `LOYALTY_COUNT=apply:20000 perf stat -e instructions:u target/release/deps/apply-*`.
fn count(spec: &str) {
    let (what, _) = spec.split_once(':').expect("LOYALTY_COUNT=<what>:<n>");
    let (program, member, event, basket) = match what.strip_prefix("tier-") {
        Some(_) => setup_with(&tier_program()),
        None => setup(),
    };
    let spec = spec.strip_prefix("tier-").unwrap_or(spec);
    let lines: Vec<(u8, i64)> = vec![(0, 49_000), (1, 52_150), (0, 89_000), (2, 65_000), (3, 120_000)];
    let at = AT.parse().unwrap();
    let (what, n) = spec.split_once(':').expect("LOYALTY_COUNT=<what>:<n>");
    let n: usize = n.parse().expect("a count");
    const BATCH: usize = 100;
    match what {
        "hand" => (0..n).for_each(|_| {
            black_box(hand_written(black_box(&lines), true, true));
        }),
        "hand-basket" => (0..n).for_each(|_| {
            black_box(hand_written_from_basket(black_box(&basket), black_box(&member), black_box(at)));
        }),
        "quote" => (0..n).for_each(|_| {
            black_box(program.quote(black_box(&member), black_box(&basket), at).unwrap());
        }),
        "apply" | "clone" | "apply-json" | "json" => {
            let stored = member.to_json();
            for _ in 0..n.div_ceil(BATCH) {
                let mut members: Vec<Member> = match what {
                    "apply" | "clone" => (0..BATCH).map(|_| member.clone()).collect(),
                    _ => (0..BATCH).map(|_| Member::from_json_str(&stored).unwrap()).collect(),
                };
                if what.starts_with("apply") {
                    for m in &mut members {
                        black_box(program.apply(m, black_box(&event)).unwrap());
                    }
                }
                black_box(members);
            }
        }
        "to-json" => (0..n).for_each(|_| {
            black_box(black_box(&member).to_json());
        }),
        "pack" => (0..n).for_each(|_| {
            black_box(black_box(&member).to_bytes());
        }),
        "unpack" => {
            let packed = member.to_bytes();
            (0..n).for_each(|_| {
                black_box(Member::from_bytes(black_box(&packed)).unwrap());
            })
        }
        _ => panic!("LOYALTY_COUNT: unknown '{what}'"),
    }
}

/// `quote` against the hand-written function from the basket, timed in
/// alternating batches of 1 000 calls each (`LOYALTY_RATIO=<batches>`):
/// both see the same load, minute by minute, and the fastest batch of each —
/// the one no neighbour on the machine disturbed — approximates a quiet
/// machine. Prints the fastest and the median batch of each, per call, and
/// their ratios; and `apply` the same way, in batches of 100 calls on
/// members copied before the batch's clock starts. For example:
/// `LOYALTY_RATIO=20000 target/release/deps/apply-*`.
fn ratio(batches: &str) {
    const CALLS: u32 = 1_000;
    const APPLIES: usize = 100;
    let batches: usize = batches.parse().expect("LOYALTY_RATIO=<batches>");
    let (program, member, event, basket) = setup();
    let at: chrono::DateTime<chrono::Utc> = AT.parse().unwrap();
    let time = |f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        for _ in 0..CALLS {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(CALLS)
    };
    let (mut by_hand, mut quoted) = (Vec::with_capacity(batches), Vec::with_capacity(batches));
    let mut applied = Vec::with_capacity(batches);
    for _ in 0..batches {
        by_hand.push(time(&mut || {
            black_box(hand_written_from_basket(black_box(&basket), black_box(&member), black_box(at)));
        }));
        quoted.push(time(&mut || {
            black_box(program.quote(black_box(&member), black_box(&basket), at).unwrap());
        }));
        let mut members: Vec<Member> = (0..APPLIES).map(|_| member.clone()).collect();
        let start = std::time::Instant::now();
        for m in &mut members {
            black_box(program.apply(m, black_box(&event)).unwrap());
        }
        applied.push(start.elapsed().as_nanos() as f64 / APPLIES as f64);
        drop(black_box(members));
    }
    for v in [&mut by_hand, &mut quoted, &mut applied] {
        v.sort_by(f64::total_cmp);
    }
    let (min_h, min_q) = (by_hand[0], quoted[0]);
    let (med_h, med_q) = (by_hand[batches / 2], quoted[batches / 2]);
    println!("{batches} alternating batches of {CALLS} calls, ns per call:");
    println!("  hand-written from the basket: fastest {min_h:.1}, median {med_h:.1}");
    println!("  quote:                        fastest {min_q:.1}, median {med_q:.1}");
    println!("  ratio: fastest {:.2}x, median {:.2}x", min_q / min_h, med_q / med_h);
    println!(
        "apply, {batches} batches of {APPLIES} calls between them: fastest {:.0}, median {:.0} ns per call",
        applied[0],
        applied[batches / 2]
    );
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("LOYALTY_COUNT") {
        return count(&spec);
    }
    if let Ok(batches) = std::env::var("LOYALTY_RATIO") {
        return ratio(&batches);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
