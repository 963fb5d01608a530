//! The C programs, built with gcc against the library this test run built
//! and run: `examples/pos.c` must print exactly what the Rust API computes
//! for the same events, and `tests/hostile.c` must pass every check.
//!
//! Skipped, with a message, only when gcc is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use loyalty_core::{Basket, Event, Program};

/// The events of `examples/pos.c`, in its order.
const EVENTS: &[&str] = &[
    r#"{"id":"pos-1/enroll-m42","at":"2026-12-01T08:00:00Z","type":"enroll","member":"m-42"}"#,
    r#"{"id":"pos-1/1001","at":"2026-12-01T09:30:00Z","type":"purchase","lines":[{"sku":"latte","category":"coffee","quantity":"4","unit_price":"245.00"},{"sku":"croissant","category":"food","quantity":"2","unit_price":"180.00"},{"sku":"wine","category":"alcohol","quantity":"1","unit_price":"900.00"}]}"#,
    r#"{"id":"pos-1/1001","at":"2026-12-01T09:30:00Z","type":"purchase","lines":[{"sku":"latte","category":"coffee","quantity":"4","unit_price":"245.00"},{"sku":"croissant","category":"food","quantity":"2","unit_price":"180.00"},{"sku":"wine","category":"alcohol","quantity":"1","unit_price":"900.00"}]}"#,
    r#"{"id":"pos-1/1002","at":"2026-12-02T12:00:00Z","type":"return","purchase":"pos-1/1001","lines":[{"line":0,"quantity":"1"}]}"#,
    r#"{"id":"pos-1/1003","at":"2026-12-03T10:00:00Z","type":"hold","points":50,"order":"pos-1/order-7"}"#,
    r#"{"id":"pos-1/1004","at":"2026-12-03T10:01:00Z","type":"capture","hold":"pos-1/1003"}"#,
    r#"{"id":"pos-1/1005","at":"2026-12-03T10:02:00Z","type":"purchase","order":"pos-1/order-7","lines":[{"sku":"breakfast","category":"food","quantity":"1","unit_price":"450.00"}]}"#,
];
const BASKET: &str = r#"{"lines":[{"sku":"latte","category":"coffee","quantity":"2","unit_price":"245.00"}]}"#;
const QUOTE_AT: &str = "2026-12-08T16:00:00+03:00";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("ffi/ has a parent").to_owned()
}

/// The folder with the `libloyalty.so` and `libloyalty.a` of this build:
/// `target/<profile>/deps`, beside this test's executable.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let deps = exe.parent().expect("the test's folder").to_owned();
    assert!(
        deps.join("libloyalty.so").exists() || deps.join("libloyalty.dylib").exists(),
        "no libloyalty shared library in {}",
        deps.display()
    );
    deps
}

/// Builds a C program with gcc against the shared library; `None` (after
/// saying so) when gcc is absent.
fn build(source: &Path, name: &str) -> Option<PathBuf> {
    if Command::new("gcc").arg("--version").output().is_err() {
        eprintln!("SKIPPED: gcc is not installed, so {} was not built nor run", source.display());
        return None;
    }
    let lib = library_dir();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-I"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .arg(source)
        .arg("-L")
        .arg(&lib)
        .args(["-lloyalty", "-lpthread"])
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc failed on {}", source.display());
    Some(out)
}

/// What `pos.c` prints, computed with the Rust API: every receipt, the
/// quote, the lint warnings' texts, the member state.
fn rust_output(program_text: &str) -> (Vec<String>, Vec<String>) {
    let program = Program::from_toml_str(program_text).expect("the Corner Coffee program loads");
    let mut lines = Vec::new();
    let (mut member, receipt) = program.start(&Event::from_json_str(EVENTS[0]).unwrap()).unwrap();
    lines.push(receipt.to_json());
    for text in &EVENTS[1..] {
        let applied = program.apply(&mut member, &Event::from_json_str(text).unwrap()).unwrap();
        lines.push(applied.receipt.to_json());
    }
    let basket: Basket = serde_json::from_str(BASKET).unwrap();
    let at = DateTime::parse_from_rfc3339(QUOTE_AT).unwrap().with_timezone(&Utc);
    lines.push(serde_json::to_string(&program.quote(&member, &basket, at).unwrap()).unwrap());
    lines.push(String::new()); // the lint line, compared by its texts
    lines.push(member.to_json());
    let lint = program.lint().iter().map(ToString::to_string).collect();
    (lines, lint)
}

#[test]
fn the_c_example_prints_what_the_rust_api_computes() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pos.c");
    let Some(pos) = build(&source, "pos") else { return };
    let program = repo().join("examples/programs/corner_coffee.toml");
    let run = Command::new(&pos).arg(&program).output().expect("running pos");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "pos failed: {stderr}");
    let stdout = String::from_utf8(run.stdout).expect("pos prints UTF-8");
    let mut c_lines: Vec<String> = stdout.lines().map(str::to_owned).collect();

    let (rust_lines, rust_lint) = rust_output(&std::fs::read_to_string(&program).unwrap());
    assert_eq!(c_lines.len(), rust_lines.len(), "pos printed:\n{stdout}");
    let lint_at = EVENTS.len() + 1;
    let c_lint: serde_json::Value = serde_json::from_str(&c_lines[lint_at]).expect("the lint line is JSON");
    let c_lint: Vec<String> = c_lint
        .as_array()
        .expect("the lint line is an array")
        .iter()
        .map(|w| w["text"].as_str().expect("each warning has a text").to_owned())
        .collect();
    assert_eq!(c_lint, rust_lint);
    c_lines[lint_at].clear();
    for (i, (c, rust)) in c_lines.iter().zip(&rust_lines).enumerate() {
        assert_eq!(c, rust, "line {} of pos's output differs from the Rust API's", i + 1);
    }
    // The retry was reported as a duplicate.
    assert!(stderr.contains("event 2 was a retry"), "{stderr}");
}

#[test]
fn hostile_calls_from_c_are_refused_cleanly() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile.c");
    let Some(hostile) = build(&source, "hostile") else { return };
    let run = Command::new(&hostile).output().expect("running hostile");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "hostile.c failed:\n{stdout}{stderr}");
    assert!(stdout.trim_end().ends_with(" passed, 0 failed"), "{stdout}");
}
