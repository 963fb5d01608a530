//! The `loyalty` command end to end: outputs, exit codes, and that `run`
//! computes exactly what the library computes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loyalty::{Event, Member, Program};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sample(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

fn loyalty(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loyalty")).args(args).output().expect("the command runs")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loyalty-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const CAFE: &str = r#"id = "cafe"
currency = "EUR"
time_zone = "Europe/Berlin"
categories = ["coffee"]

[[earn]]
id = "base"
name = "1 point per euro"
kind = "per_amount"
points = 1
per = "1"

[[burn]]
id = "pay"
"#;

#[test]
fn check_accepts_the_sample_programs() {
    let paths: Vec<String> = ["corner_coffee", "home_appliance", "petshop"]
        .map(|p| sample(&format!("programs/{p}.toml")).display().to_string())
        .into();
    let args: Vec<&str> = ["check", "--deny-warnings"].into_iter().chain(paths.iter().map(String::as_str)).collect();
    let out = loyalty(&args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 3, "{stdout}");
    assert!(stdout.contains("program 'corner-coffee' (Corner Coffee)"), "{stdout}");
}

#[test]
fn check_names_the_file_line_column_and_field_of_an_invalid_program() {
    let dir = scratch("invalid");
    let file = dir.join("bad.toml");
    std::fs::write(&file, CAFE.replace("points = 1\n", "points = 0\n")).unwrap();
    let out = loyalty(&["check", file.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    // `points = 0` is on line 10, its value at column 10.
    let want = format!("invalid  {}:10:10: program: earn[0].points (rule 'base'):", file.display());
    assert!(stdout.starts_with(&want), "{stdout}");
    assert!(stderr.contains("1 of 1 program files are invalid"), "{stderr}");
    // A syntax error: the parser's own line and column.
    std::fs::write(&file, CAFE.replace("kind = \"per_amount\"", "kind = per_amount")).unwrap();
    let (stdout, _) = text(&loyalty(&["check", "--json", file.to_str().unwrap()]));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("bad.toml:9:8:"), "{v}");
}

#[test]
fn check_lists_lint_warnings_and_deny_warnings_exits_1() {
    let dir = scratch("lint");
    let file = dir.join("lookalike.toml");
    // "coffee" and "cоffee" (a Cyrillic о): two categories that look the same.
    std::fs::write(&file, CAFE.replace(r#"categories = ["coffee"]"#, "categories = [\"coffee\", \"c\u{43e}ffee\"]"))
        .unwrap();
    let out = loyalty(&["check", file.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("warning  ") && stdout.contains("[look-alike-names]"), "{stdout}");
    assert!(stdout.contains(&format!("{}:4:", file.display())), "the warning names its line: {stdout}");
    assert_eq!(loyalty(&["check", "--deny-warnings", file.to_str().unwrap()]).status.code(), Some(1));
}

#[test]
fn run_gives_what_the_library_gives() {
    let dir = scratch("run");
    let program_path = sample("programs/corner_coffee.toml");
    let log_path = sample("data/corner_coffee.jsonl");
    let states = dir.join("members.jsonl");
    let out = loyalty(&[
        "run",
        "--json",
        "--members-out",
        states.to_str().unwrap(),
        program_path.to_str().unwrap(),
        log_path.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The same events through the library.
    let program = Program::from_toml_str(&std::fs::read_to_string(&program_path).unwrap()).unwrap();
    let events: Vec<Event> =
        std::fs::read_to_string(&log_path).unwrap().lines().map(|l| Event::from_json_str(l).unwrap()).collect();
    let (mut member, first) = program.start(&events[0]).unwrap();
    let mut receipts = vec![first.to_json()];
    let mut counters = loyalty::MemoryCounters::default();
    for e in &events[1..] {
        receipts.push(program.apply_with(&mut member, e, &mut counters).unwrap().receipt.to_json());
    }
    assert_eq!(stdout.lines().collect::<Vec<_>>(), receipts);
    assert_eq!(std::fs::read_to_string(&states).unwrap(), member.to_json() + "\n");
    // Human output: one line per event and the members at the end.
    let (human, _) = text(&loyalty(&["run", program_path.to_str().unwrap(), log_path.to_str().unwrap()]));
    assert!(human.contains("8 events applied, 0 refused; 1 members"), "{human}");
    assert!(human.contains("[1 point per 10 RUB: +45]"), "{human}");
}

#[test]
fn run_reports_refused_events_goes_on_and_exits_1() {
    let dir = scratch("refused");
    let program = dir.join("cafe.toml");
    std::fs::write(&program, CAFE).unwrap();
    let log = dir.join("log.jsonl");
    std::fs::write(
        &log,
        [
            r#"{"id":"e1","at":"2026-05-01T08:00:00Z","type":"enroll","member":"ana"}"#,
            r#"{"id":"e2","at":"2026-05-01T09:00:00Z","type":"enroll","member":"ben"}"#,
            r#"{"member":"ana","event":{"id":"s1","at":"2026-05-01T10:00:00Z","type":"purchase","lines":[{"sku":"x","category":"coffee","quantity":"1","unit_price":"12"}]}}"#,
            r#"{"member":"ben","event":{"id":"r1","at":"2026-05-01T11:00:00Z","type":"redeem","points":5}}"#,
            r#"{"member":"ana","event":{"id":"r1","at":"2026-05-01T11:00:00Z","type":"redeem","points":5}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let states = dir.join("out.jsonl");
    let out = loyalty(&[
        "run",
        "--json",
        "--members-out",
        states.to_str().unwrap(),
        program.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[3]["line"], 4);
    assert_eq!(lines[3]["member"], "ben");
    assert_eq!(lines[3]["refused"], "event 'r1': 5 points requested, 0 available");
    assert_eq!(lines[4]["balances"]["available"], 7);
    let states: Vec<Member> =
        std::fs::read_to_string(&states).unwrap().lines().map(|l| Member::from_json_str(l).unwrap()).collect();
    assert_eq!(states.iter().map(|m| (m.id(), m.balances().available)).collect::<Vec<_>>(), [("ana", 7), ("ben", 0)]);
}

#[test]
fn run_refuses_a_log_with_a_bad_line_before_applying_anything() {
    let dir = scratch("bad-line");
    let program = dir.join("cafe.toml");
    std::fs::write(&program, CAFE).unwrap();
    let log = dir.join("log.jsonl");
    std::fs::write(
        &log,
        [
            r#"{"id":"e1","at":"2026-05-01T08:00:00Z","type":"enroll","member":"ana"}"#,
            r#"{"id":"s1","at":"2026-05-01T10:00:00Z","type":"purchase","lines":[{"sku":"x","category":"coffee","quantity":"1e3","unit_price":"12"}]}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let states = dir.join("out.jsonl");
    let out =
        loyalty(&["run", "--members-out", states.to_str().unwrap(), program.to_str().unwrap(), log.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing applied: {stdout}");
    assert!(stderr.starts_with(&format!("error: {}:2:", log.display())), "{stderr}");
    assert!(stderr.contains("lines[0].quantity: '1e3' is not an exact decimal amount"), "{stderr}");
    assert!(!states.exists(), "no member states written");
}

#[test]
fn quote_gives_what_the_library_gives() {
    let dir = scratch("quote");
    let basket = dir.join("basket.json");
    let lines = r#"{"lines":[{"sku":"latte","category":"coffee","quantity":"2","unit_price":"245.00"},{"sku":"wine","category":"alcohol","quantity":"1","unit_price":"900"}]}"#;
    std::fs::write(&basket, lines).unwrap();
    let program_path = sample("programs/corner_coffee.toml");
    let at = "2026-12-15T13:30:00Z"; // a Tuesday, 16:30 in Moscow
    let out = loyalty(&["quote", "--json", "--at", at, program_path.to_str().unwrap(), basket.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let program = Program::from_toml_str(&std::fs::read_to_string(&program_path).unwrap()).unwrap();
    let member = program.enroll("quote", at.parse().unwrap(), Default::default()).unwrap();
    let basket: loyalty::Basket = serde_json::from_str(lines).unwrap();
    let quote = program.quote(&member, &basket, at.parse().unwrap()).unwrap();
    assert_eq!(stdout.trim(), serde_json::to_string(&quote).unwrap());
    // 490 RUB of coffee, wine excluded: 49, doubled on Tuesday 15-18: 98.
    assert_eq!(quote.points, 98);
    let (human, _) = text(&loyalty(&[
        "quote",
        "--at",
        at,
        program_path.to_str().unwrap(),
        dir.join("basket.json").to_str().unwrap(),
    ]));
    assert!(human.starts_with("earns      98 points\n"), "{human}");
    // A bad instant is an input error naming the option.
    let out = loyalty(&[
        "quote",
        "--at",
        "tomorrow",
        program_path.to_str().unwrap(),
        dir.join("basket.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).1.contains("--at:"), "{}", text(&out).1);
}

#[test]
fn a_wrong_command_line_exits_2() {
    assert_eq!(loyalty(&["check"]).status.code(), Some(2));
    assert_eq!(loyalty(&["fly"]).status.code(), Some(2));
}

#[test]
fn demo_runs_on_built_in_data() {
    let out = loyalty(&["demo"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("Corner Coffee (examples/programs/corner_coffee.toml): 200 generated members"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("--- statement of ").count(), 3, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(text(&loyalty(&["demo", "--json"])).0.trim()).unwrap();
    assert_eq!(json["members"], 200);
    // Conservation over the whole population.
    let p = &json["points"];
    let n = |k: &str| p[k].as_i64().unwrap();
    assert_eq!(
        n("earned") + n("credited") + n("refunded"),
        n("outstanding") + n("pending") + n("burned") + n("debited") + n("expired") + n("reversed")
    );
}

#[test]
fn simulate_writes_a_log_that_run_replays_to_the_same_members() {
    let dir = scratch("simulate");
    let program = sample("programs/petshop.toml");
    let (log, states, replayed) = (dir.join("log.jsonl"), dir.join("sim.jsonl"), dir.join("run.jsonl"));
    let args = ["simulate", "--members", "40", "--days", "120", "--seed", "9", "--json"];
    let out = loyalty(
        &[
            &args[..],
            &["--log", log.to_str().unwrap(), "--members-out", states.to_str().unwrap(), program.to_str().unwrap()],
        ]
        .concat(),
    );
    let (first, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Seeded: the same numbers again.
    assert_eq!(text(&loyalty(&[&args[..], &[program.to_str().unwrap()]].concat())).0, first);
    let out = loyalty(&[
        "run",
        "--json",
        "--members-out",
        replayed.to_str().unwrap(),
        program.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(std::fs::read_to_string(&states).unwrap(), std::fs::read_to_string(&replayed).unwrap());
    assert_eq!(std::fs::read_to_string(&states).unwrap().lines().count(), 40);
}

#[test]
fn compare_replays_one_history_under_two_programs() {
    let dir = scratch("compare");
    let a = dir.join("a.toml");
    let b = dir.join("b.toml");
    std::fs::write(&a, CAFE).unwrap();
    std::fs::write(&b, CAFE.replace("points = 1\n", "points = 3\n")).unwrap();
    let args = ["compare", "--json", "--members", "20", "--days", "60", a.to_str().unwrap()];
    let out = loyalty(&[&args[..], &[b.to_str().unwrap()]].concat());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let c: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // Three points per euro instead of one: three times the points of the only earn rule, and
    // a little more (floor(3x) ≥ 3 floor(x), less than one point more per purchase).
    let (pa, pb) = (c["a"]["per_rule"]["base"].as_i64().unwrap(), c["b"]["per_rule"]["base"].as_i64().unwrap());
    assert!(pa > 0 && pb >= 3 * pa && pb < 4 * pa, "{pa} → {pb}");
    assert!(!c["members"].as_array().unwrap().is_empty());
    // The same program twice: nothing differs.
    let same = loyalty(&[&args[..], &[a.to_str().unwrap()]].concat());
    let c: serde_json::Value = serde_json::from_str(text(&same).0.trim()).unwrap();
    assert_eq!(c["a"], c["b"]);
    assert_eq!(c["members"], serde_json::json!([]));
}

#[test]
fn report_gives_the_programs_numbers_over_a_log() {
    let program = sample("programs/home_appliance.toml");
    let log = sample("data/home_appliance.jsonl");
    let out = loyalty(&["report", "--json", program.to_str().unwrap(), log.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let purchases = std::fs::read_to_string(&log).unwrap().matches(r#""type":"purchase""#).count();
    assert_eq!(r["orders"].as_u64().unwrap() as usize, purchases);
    assert_eq!(r["purchasers"], 1);
    // The same numbers as text, and a period that starts after the log ends has no orders.
    let (human, _) = text(&loyalty(&["report", program.to_str().unwrap(), log.to_str().unwrap()]));
    assert!(human.contains(&format!("orders            {purchases} by 1 customers")), "{human}");
    let later = loyalty(&[
        "report",
        "--json",
        "--from",
        "2030-01-01T00:00:00Z",
        "--until",
        "2031-01-01T00:00:00Z",
        program.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    let r: serde_json::Value = serde_json::from_str(text(&later).0.trim()).unwrap();
    assert_eq!(r["orders"], 0);
    let bad = loyalty(&["report", "--from", "soon", program.to_str().unwrap(), log.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(3));
}
