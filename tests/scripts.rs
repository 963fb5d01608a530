//! Script rules: hostile scripts, results and explanations, burn scripts,
//! and a differential property test against the built-in earn kinds.

use std::time::{Duration, Instant};

use loyalty::{Error, Event, Member, Program};
use proptest::prelude::*;
use serde_json::json;

const HEAD: &str = r#"
id = "s"
currency = "RUB"
time_zone = "Europe/Moscow"
categories = ["coffee", "food", "merch", "alcohol"]
earning_base.exclude_categories = ["alcohol"]
"#;

fn program(rules: &str) -> Result<Program, Error> {
    Program::from_toml_str(&format!("{HEAD}{rules}"))
}

/// A program with one basket-points script rule running `source`.
fn with_script(source: &str) -> Result<Program, Error> {
    program(&format!(
        "[[earn]]\nid = \"hook\"\nname = \"Hook\"\nkind = \"script\"\nscript.gives = \"points\"\nscript.each = \"basket\"\nscript.source = '''\n{source}\n'''\n"
    ))
}

fn member(p: &Program) -> Member {
    p.enroll("m", "2026-12-01T00:00:00Z".parse().unwrap(), Default::default()).unwrap()
}

fn ev(value: serde_json::Value) -> Event {
    Event::from_json_str(&value.to_string()).unwrap()
}

fn sale(id: &str, at: &str) -> Event {
    ev(json!({"id": id, "at": at, "type": "purchase", "channel": "pos", "lines": [
        {"sku": "latte", "category": "coffee", "quantity": "2", "unit_price": "245.00"},
        {"sku": "bun", "category": "food", "quantity": "1", "unit_price": "120.00"},
    ]}))
}

/// Every hostile script is refused cleanly: at load when the compiler can
/// tell, else when the event runs, with the rule named, the member unchanged,
/// and no panic, well inside a generous bound on time.
#[test]
fn hostile_scripts_are_refused_cleanly() {
    let nested = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    let cases: Vec<(&str, String, &str)> = vec![
        ("infinite loop", "loop { }".into(), "more than 10000 operations"),
        ("unbounded recursion", "fn f(x) { f(x + 1) } f(0)".into(), "more than 16 deep"),
        ("a string doubling itself", "let s = \"x\"; loop { s += s; }".into(), "Length of string too large"),
        (
            "a map of 5000 keys",
            "let m = #{}; for i in 0..5000 { m[\"k\" + i] = i; } m.len()".into(),
            "more than 10000 operations",
        ),
        (
            "a map of 300 keys, used",
            "let m = #{}; for i in 0..300 { m[\"k\" + i] = i; } m.len()".into(),
            "Size of object map",
        ),
        ("5000 nested parentheses", nested, "Expression exceeds maximum complexity"),
        ("integer overflow", "9223372036854775807 + 1".into(), "Addition overflow"),
        ("division by zero", "let z = 0; 10 / z".into(), "Division by zero"),
        ("wrong return type", "\"ten\"".into(), "must return a number (points), not string"),
        ("nothing returned", "let x = 1;".into(), "must return a number (points), not ()"),
        ("negative points", "-5".into(), "returned negative points -5"),
        ("huge points", "1000000000000".into(), "more than the rule's max_points allows (1000000)"),
        ("eval", "eval(\"1\")".into(), "reserved keyword 'eval' is disabled"),
        ("eval through a function pointer", "Fn(\"eval\").call(\"1\")".into(), "eval"),
        ("reading the time", "timestamp()".into(), "Function not found: timestamp"),
        ("sleeping", "sleep(10)".into(), "Function not found: sleep"),
        ("an undeclared variable", "x + 1".into(), "Undefined variable: x"),
        ("assigning to the event", "event = 5; 1".into(), "Cannot modify constant event"),
        ("a float with an exponent", "1.5e3".into(), "Expecting ';'"),
        ("an unknown property", "event.weather".into(), "Unknown property 'weather'"),
        ("an import", "import \"fs\" as fs; 1".into(), "'import' is a reserved keyword"),
        (
            "a text too long",
            "let t = \"\"; for i in 0..300 { t += \"y\"; } #{ points: 1, text: t }".into(),
            "longer than 200 characters",
        ),
        ("an array too long", "let a = []; a.pad(2000, 0); 1".into(), "Size of array/BLOB too large"),
        ("a map with an unknown key", "#{ pointz: 5 }".into(), "has a key `pointz`"),
    ];
    let mut wrong = Vec::new();
    for (what, source, want) in cases {
        let started = Instant::now();
        match with_script(&source) {
            Err(e) => {
                assert!(
                    matches!(e, Error::ScriptSyntax { ref rule, .. } if rule == "hook"),
                    "{what}: refused at load with the wrong error: {e}"
                );
                let text = e.to_string();
                assert!(text.contains("earn[0].script.source (rule 'hook'): script line"), "{what}: {text}");
                if !text.contains(want) {
                    wrong.push(format!("{what}: {text}"));
                }
            }
            Ok(p) => {
                let mut m = member(&p);
                let before = m.to_json();
                let e = match p.apply(&mut m, &sale("e1", "2026-12-15T10:00:00Z")) {
                    Ok(a) => panic!("{what}: accepted: {:?}", a.receipt.explanations),
                    Err(e) => e,
                };
                assert!(matches!(e, Error::Script { ref rule, .. } if rule == "hook"), "{what}: {e}");
                let text = e.to_string();
                assert!(text.starts_with("event 'e1': script of rule 'hook' failed"), "{what}: {text}");
                if !text.contains(want) {
                    wrong.push(format!("{what}: {text}"));
                }
                assert_eq!(m.to_json(), before, "{what}: the member changed");
                // The quote refuses the same way.
                let basket = serde_json::from_value(json!({"lines": [
                    {"sku": "latte", "category": "coffee", "quantity": "1", "unit_price": "100"}]}))
                .unwrap();
                let q = p.quote(&m, &basket, "2026-12-15T10:00:00Z".parse().unwrap()).unwrap_err();
                assert!(q.to_string().starts_with("event 'quote': script of rule 'hook' failed"), "{what}: {q}");
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{what}: took {:?}", started.elapsed());
    }
    assert!(wrong.is_empty(), "errors without the expected words:\n{}", wrong.join("\n"));
}

#[test]
fn compile_errors_name_the_rule_and_the_line_and_column() {
    let e = with_script("let a = 1;\nlet b = a +;\nb").unwrap_err();
    let Error::ScriptSyntax { path, rule, line, column, .. } = &e else { panic!("{e}") };
    assert_eq!((path.as_str(), rule.as_str(), *line), ("earn[0].script.source", "hook", 2), "{e}");
    assert!(*column > 0, "{e}");
    // `line` is only there for per-line scripts.
    let e = with_script("line.amount").unwrap_err().to_string();
    assert!(e.contains("Undefined variable: line"), "{e}");
}

#[test]
fn schema_errors_name_the_field() {
    let cases = [
        (
            "[[earn]]\nid = \"a\"\nkind = \"script\"\n",
            "program: earn[0].script (rule 'a'): is required for kind Script",
        ),
        (
            "[[earn]]\nid = \"a\"\nkind = \"script\"\nscript.gives = \"points\"\nscript.source = \"1\"\n",
            "program: earn[0].script.each (rule 'a'): is required for earn scripts: \"line\" or \"basket\"",
        ),
        (
            "[[earn]]\nid = \"a\"\nkind = \"script\"\nscript.gives = \"allow\"\nscript.each = \"line\"\nscript.source = \"true\"\n",
            "program: earn[0].script.gives (rule 'a'): an earn script gives \"points\" or \"multiplier\", not Allow",
        ),
        (
            "[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\nscript.gives = \"points\"\nscript.each = \"line\"\nscript.source = \"1\"\n",
            "program: earn[0].script (rule 'a'): does not apply to kind Fixed",
        ),
        (
            "[[burn]]\nid = \"b\"\nscript.gives = \"points\"\nscript.source = \"1\"\n",
            "program: burn[0].script.gives (rule 'b'): a burn script gives \"allow\" or \"limit\", not Points",
        ),
        (
            "[[burn]]\nid = \"b\"\nscript.gives = \"allow\"\nscript.skip_on_error = true\nscript.source = \"true\"\n",
            "program: burn[0].script.skip_on_error (rule 'b'): does not apply to burn scripts: a failing burn script always refuses the burn",
        ),
        ("[constants]\n\"bad name\" = 1\n", "program: constants.bad name: a constant's name is letters"),
    ];
    for (rules, want) in cases {
        let e = program(rules).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}\nwanted: {want}");
    }
}

#[test]
fn script_text_and_skips_are_in_the_receipt() {
    let p = program(
        r#"
[[earn]]
id = "variety"
name = "Variety bonus"
kind = "script"
script.gives = "points"
script.each = "basket"
script.source = '''
let seen = #{};
for l in event.lines { if l.earns { seen[l.category] = true; } }
if seen.len() >= 2 { #{ points: 500, text: `${seen.len()} categories in one basket` } } else { 0 }
'''

[[earn]]
id = "fragile"
name = "Fragile promo"
kind = "script"
script.gives = "points"
script.each = "line"
script.skip_on_error = true
script.source = "line.amount / (line.quantity - 1)"
"#,
    )
    .unwrap();
    let mut m = member(&p);
    let r = p.apply(&mut m, &sale("e1", "2026-12-15T10:00:00Z")).unwrap().receipt;
    let texts: Vec<&str> = r.explanations.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Fragile promo: skipped, the script failed: line 1, column 13: Division by zero: 120 / 0",
            "Variety bonus: +500 (2 categories in one basket)",
        ]
    );
    assert_eq!(m.balances().available, 500);
}

/// A per-line script that never names `line` runs once per basket and
/// gives every matching line its value: the receipt is the one the same
/// script gives when it runs for each line (here made to by naming `line`
/// in a comment), points, per-line split, texts and failures alike.
#[test]
fn line_free_scripts_give_what_per_line_runs_give() {
    let rules = |source: &str| {
        format!(
            r#"
[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "10"

[[earn]]
id = "hour"
name = "Hour multiplier"
kind = "script"
applies_to = ["base"]
when.categories = ["coffee", "food"]
script.gives = "multiplier"
script.each = "line"
script.source = '''
{source}
f
'''

[[earn]]
id = "note"
name = "Noted points"
kind = "script"
script.gives = "points"
script.each = "line"
script.skip_on_error = true
script.source = '''
{source}
if event.hour == 23 {{ throw "too late" }}
#{{ points: event.hour * f, text: `hour ${{event.hour}}` }}
'''
"#
        )
    };
    let once = program(&rules("let f = if event.hour >= 12 { 3 } else { 2 };")).unwrap();
    let each = program(&rules("let f = if event.hour >= 12 { 3 } else { 2 }; // reads no line")).unwrap();
    for at in ["2026-12-15T06:00:00Z", "2026-12-15T10:00:00Z", "2026-12-15T20:00:00Z"] {
        let (mut a, mut b) = (member(&once), member(&each));
        let ra = once.apply(&mut a, &sale("e1", at)).unwrap().receipt;
        let rb = each.apply(&mut b, &sale("e1", at)).unwrap().receipt;
        assert_eq!(serde_json::to_value(&*ra).unwrap(), serde_json::to_value(&*rb).unwrap(), "at {at}");
        assert_eq!(ra.explanations.len(), 3, "every rule is explained at {at}: {:?}", ra.explanations);
        assert_eq!(a.to_json(), b.to_json());
    }
}

#[test]
fn burn_scripts_allow_refuse_and_limit() {
    let p = program(
        r#"
[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "1"

[[burn]]
id = "pay"
script.gives = "limit"
script.source = '''
if member.attribute("status") == "blocked" {
    #{ limit: 0, text: "points payments are blocked for this account" }
} else if event.kind == "hold" { 100 } else { 1000 }
'''
"#,
    )
    .unwrap();
    let mut m = member(&p);
    p.apply(&mut m, &sale("e1", "2026-12-15T10:00:00Z")).unwrap();
    assert_eq!(m.balances().available, 610);
    let redeem =
        |id: &str, points: i64| ev(json!({"id": id, "at": "2026-12-15T11:00:00Z", "type": "redeem", "points": points}));
    let hold =
        |id: &str, points: i64| ev(json!({"id": id, "at": "2026-12-15T11:00:00Z", "type": "hold", "points": points}));
    let before = m.to_json();
    let e = p.apply(&mut m, &hold("h1", 101)).unwrap_err().to_string();
    assert_eq!(e, "event 'h1': burn rule 'pay': the rule's script allows at most 100 points");
    assert_eq!(m.to_json(), before);
    p.apply(&mut m, &hold("h2", 100)).unwrap();
    p.apply(&mut m, &redeem("r1", 500)).unwrap();
    assert_eq!(m.balances().available, 10);

    let blocked = loyalty::Profile { attributes: [("status".into(), "blocked".into())].into(), ..Default::default() };
    let mut b = p.enroll("b", "2026-12-01T00:00:00Z".parse().unwrap(), blocked).unwrap();
    p.apply(&mut b, &sale("e1", "2026-12-15T10:00:00Z")).unwrap();
    let e = p.apply(&mut b, &redeem("r1", 10)).unwrap_err().to_string();
    assert_eq!(
        e,
        "event 'r1': burn rule 'pay': the rule's script allows at most 0 points: points payments are blocked for this account"
    );
    // A quote agrees: nothing payable for the blocked member.
    let q = p.quote(&b, &Default::default(), "2026-12-15T11:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(q.max_burn, 0);

    let p = program("[[burn]]\nid = \"no\"\nscript.gives = \"allow\"\nscript.source = \"#{ allow: false, text: \\\"not today\\\" }\"\n").unwrap();
    let mut m = member(&p);
    p.apply(
        &mut m,
        &ev(json!({"id": "a", "at": "2026-12-15T10:00:00Z", "type": "adjust", "points": 50, "reason": "goodwill"})),
    )
    .unwrap();
    let e = p.apply(&mut m, &redeem("r1", 10)).unwrap_err().to_string();
    assert_eq!(e, "event 'r1': burn rule 'no': the rule's script does not allow this burn: not today");
}

// --- Differential: every built-in earn kind as a script -------------------

/// The parameters of one random program.
#[derive(Debug, Clone)]
struct Params {
    per: &'static str,
    points: i64,
    per_line: bool,
    rounding: &'static str,
    percent: &'static str,
    bonus: i64,
    min_basket: u32,
    factor: &'static str,
}

/// The program `template` with the parameters filled in (`{name}` placeholders).
fn render(template: &str, p: &Params) -> String {
    let round = if p.per_line { "per_line" } else { "per_transaction" };
    let header = format!("points.rounding = \"{}\"\npoints.round = \"{round}\"\n", p.rounding);
    let body = template
        .replace("{points}", &p.points.to_string())
        .replace("{per}", p.per)
        .replace("{percent}", p.percent)
        .replace("{bonus}", &p.bonus.to_string())
        .replace("{min_basket}", &p.min_basket.to_string())
        .replace("{factor}", p.factor);
    header + body.as_str()
}

const BUILTIN: &str = r#"
[[earn]]
id = "base"
name = "Base"
kind = "per_amount"
points = {points}
per = "{per}"

[[earn]]
id = "food"
name = "Food back"
kind = "percent"
percent = "{percent}"
when.categories = ["food"]

[[earn]]
id = "bonus"
name = "Big food basket"
kind = "fixed"
points = {bonus}
when.categories = ["food"]
when.min_basket = "{min_basket}"

[[earn]]
id = "coffee"
name = "Coffee multiplier"
kind = "multiplier"
factor = "{factor}"
applies_to = ["base"]
when.categories = ["coffee"]
"#;

const SCRIPTED: &str = r#"
[[earn]]
id = "base"
name = "Base"
kind = "script"
script.gives = "points"
script.each = "line"
script.source = "line.amount * {points} / {per}"

[[earn]]
id = "food"
name = "Food back"
kind = "script"
script.gives = "points"
script.each = "line"
script.source = "if line.category == \"food\" { line.amount * {percent} / 100 } else { 0 }"

[[earn]]
id = "bonus"
name = "Big food basket"
kind = "script"
when.categories = ["food"]
script.gives = "points"
script.each = "basket"
script.source = '''
let food = 0;
for l in event.lines { if l.earns && l.category == "food" { food += l.amount; } }
if food >= {min_basket} { {bonus} } else { 0 }
'''

[[earn]]
id = "coffee"
name = "Coffee multiplier"
kind = "script"
applies_to = ["base"]
script.gives = "multiplier"
script.each = "line"
script.source = "if line.category == \"coffee\" { {factor} } else { 1 }"
"#;

fn builtin(p: &Params) -> String {
    render(BUILTIN, p)
}

fn scripted(p: &Params) -> String {
    render(SCRIPTED, p)
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop::sample::select(vec!["1", "2", "5", "10", "20", "25", "0.5", "100"]),
        1_i64..4,
        any::<bool>(),
        prop::sample::select(vec!["floor", "half_up", "half_even", "ceil"]),
        prop::sample::select(vec!["1", "2.5", "5", "10"]),
        1_i64..200,
        prop::sample::select(vec![100_u32, 500, 1000]),
        prop::sample::select(vec!["1.2", "1.5", "2", "3"]),
    )
        .prop_map(|(per, points, per_line, rounding, percent, bonus, min_basket, factor)| Params {
            per,
            points,
            per_line,
            rounding,
            percent,
            bonus,
            min_basket,
            factor,
        })
}

/// A purchase (lines: category index, quantity, price in kopecks, discount
/// in kopecks) or a return of some lines of an earlier purchase.
#[derive(Debug, Clone)]
enum Step {
    Buy { minutes: u32, lines: Vec<(usize, u32, u32, u32)> },
    Return { of: usize, line: usize, quantity: u32 },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let line = (0_usize..4, 1_u32..4, 1_u32..150_000, 0_u32..3_000);
    let buy = (0_u32..600, prop::collection::vec(line, 1..6)).prop_map(|(minutes, lines)| Step::Buy { minutes, lines });
    let ret = (0_usize..8, 0_usize..6, 1_u32..3).prop_map(|(of, line, quantity)| Step::Return { of, line, quantity });
    prop::collection::vec(prop_oneof![3 => buy, 1 => ret], 1..8)
}

fn money(kopecks: u32) -> String {
    format!("{}.{:02}", kopecks / 100, kopecks % 100)
}

fn events(steps: &[Step]) -> Vec<Event> {
    const CATEGORIES: [&str; 4] = ["coffee", "food", "merch", "alcohol"];
    let mut out = Vec::new();
    let mut purchases: Vec<(String, usize)> = Vec::new();
    let mut clock = 0_i64;
    for (i, s) in steps.iter().enumerate() {
        let id = format!("e{i}");
        match s {
            Step::Buy { minutes, lines } => {
                clock += i64::from(*minutes);
                let at = "2026-12-14T06:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
                    + chrono::Duration::minutes(clock);
                let lines: Vec<_> = lines
                    .iter()
                    .map(|&(c, q, price, discount)| {
                        let discount = discount.min(price * q);
                        json!({"sku": format!("sku-{c}"), "category": CATEGORIES[c], "quantity": q.to_string(),
                               "unit_price": money(price), "discount": money(discount)})
                    })
                    .collect();
                purchases.push((id.clone(), lines.len()));
                out.push(ev(json!({"id": id, "at": at.to_rfc3339(), "type": "purchase", "lines": lines})));
            }
            Step::Return { of, line, quantity } => {
                let Some((purchase, n)) = purchases.get(of % purchases.len().max(1)) else { continue };
                clock += 1;
                let at = "2026-12-14T06:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
                    + chrono::Duration::minutes(clock);
                out.push(ev(json!({"id": id, "at": at.to_rfc3339(), "type": "return", "purchase": purchase,
                    "lines": [{"line": line % n, "quantity": quantity.to_string()}]})));
            }
        }
    }
    out
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64);
    ProptestConfig { cases, rng_seed: seed(), ..ProptestConfig::default() }
}

/// The generator's seed: fixed, so CI runs the same cases every time;
/// `PROPTEST_RNG_SEED` picks another for a longer search.
fn seed() -> proptest::test_runner::RngSeed {
    proptest::test_runner::RngSeed::Fixed(
        std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0),
    )
}

proptest! {
    #![proptest_config(config())]

    /// Each built-in earn kind re-written as a script gives the same receipts,
    /// the same refusals and the same member state, event after event.
    #[test]
    fn scripts_match_builtin_rules(p in params(), steps in steps()) {
        let a = program(&builtin(&p)).unwrap();
        let b = program(&scripted(&p)).unwrap();
        let (mut ma, mut mb) = (member(&a), member(&b));
        for e in events(&steps) {
            match (a.apply(&mut ma, &e), b.apply(&mut mb, &e)) {
                (Ok(x), Ok(y)) => prop_assert_eq!(x.receipt.to_json(), y.receipt.to_json()),
                (Err(x), Err(y)) => prop_assert_eq!(x.to_string(), y.to_string()),
                (x, y) => prop_assert!(false, "{:?} vs {:?}", x.map(|a| a.receipt.to_json()), y.map(|a| a.receipt.to_json())),
            }
            prop_assert_eq!(ma.to_json(), mb.to_json());
        }
    }
}
