//! One `apply` through the C ABI (JSON in, JSON out, strings freed) and on a
//! member handle (event JSON in, receipt JSON out) beside the same work in
//! Rust (decode member and event, apply, encode member and receipt) and the
//! bare `Program::apply`.
//!
//! The program, member history and 5-line basket are those of the engine's
//! own `benches/apply.rs` (the issue-1 bench), so the bare `apply` row can be
//! set beside the numbers there.
//!
//! Run: `cargo bench -p loyalty-ffi --bench c_abi`. The numbers go to BENCHMARKS.md.

use std::ffi::{c_char, CStr};
use std::hint::black_box;
use std::ptr;

use criterion::{criterion_group, BatchSize, Criterion};
use loyalty::{
    loyalty_member, loyalty_member_free, loyalty_member_from_json, loyalty_program, loyalty_program_apply,
    loyalty_program_apply_member, loyalty_program_free, loyalty_program_load, loyalty_string_free,
};
use loyalty::{LOYALTY_FORMAT_TOML, LOYALTY_OK};
use loyalty_core::{Event, Member, Program};

/// The program of the engine's own `apply` bench, so the two benches measure the same work.
const PROGRAM: &str = include_str!("../../benches/program.toml");

/// Tuesday 2026-12-15 16:30 Moscow.
const AT: &str = "2026-12-15T13:30:00Z";

const LINES: &str = r#"[
  {"sku": "latte", "category": "coffee", "quantity": "2", "unit_price": "245.00"},
  {"sku": "croissant", "category": "food", "quantity": "3", "unit_price": "180.50", "discount": "20.00"},
  {"sku": "beans", "category": "coffee", "quantity": "1", "unit_price": "890.00"},
  {"sku": "mug", "category": "merch", "quantity": "1", "unit_price": "650.00"},
  {"sku": "wine", "category": "alcohol", "quantity": "1", "unit_price": "1200.00"}
]"#;

/// The program, the bench member (Gold by attribute, ten earlier purchases)
/// and the event, as in the engine's `benches/apply.rs`.
fn setup() -> (Program, Member, String) {
    let program = Program::from_toml_str(PROGRAM).expect("bench program");
    let mut profile = loyalty_core::Profile::default();
    profile.attributes.insert("tier".into(), "gold".into());
    profile.birth_date = "1990-03-10".parse().ok();
    let mut member = program.enroll("m-1", "2026-06-01T09:00:00Z".parse().unwrap(), profile).unwrap();
    for i in 0..10 {
        let at = format!("2026-{:02}-{:02}T09:00:00Z", 6 + i / 4, 2 + (i % 4) * 7);
        let e = Event::from_json_str(&format!(
            r#"{{"id":"h{i}","at":"{at}","type":"purchase","lines":[{{"sku":"latte","category":"coffee","quantity":"1","unit_price":"300"}}]}}"#
        ))
        .unwrap();
        program.apply(&mut member, &e).unwrap();
    }
    let event = format!(r#"{{"id":"bench-sale","at":"{AT}","type":"purchase","lines":{LINES}}}"#);
    (program, member, event)
}

/// The Rust API with JSON on both sides, as a host without the C ABI would
/// run it: decode member and event, apply, encode member and receipt.
fn rust_json(program: &Program, member: &str, event: &str) -> (String, String) {
    let mut member = Member::from_json_str(member).unwrap();
    let event = Event::from_json_str(event).unwrap();
    let applied = program.apply(&mut member, &event).unwrap();
    (member.to_json(), applied.receipt.to_json())
}

/// One apply through the C ABI; the output strings copied out and freed.
fn c_abi(program: *const loyalty_program, member: &str, event: &str) -> (String, String) {
    let (mut member_out, mut receipt_out, mut duplicate) = (ptr::null_mut::<c_char>(), ptr::null_mut(), false);
    // SAFETY: a live handle; the texts are valid for their lengths; the
    // out-parameters are local.
    let rc = unsafe {
        loyalty_program_apply(
            program,
            member.as_ptr().cast(),
            member.len(),
            event.as_ptr().cast(),
            event.len(),
            &mut member_out,
            &mut receipt_out,
            &mut duplicate,
        )
    };
    assert_eq!(rc, LOYALTY_OK);
    // SAFETY: both strings were returned by the library on success; each is freed once.
    unsafe {
        let out = (
            CStr::from_ptr(member_out).to_string_lossy().into_owned(),
            CStr::from_ptr(receipt_out).to_string_lossy().into_owned(),
        );
        loyalty_string_free(member_out);
        loyalty_string_free(receipt_out);
        out
    }
}

/// One apply through the C ABI, the output strings only freed (what a C host pays).
fn c_abi_no_copy(program: *const loyalty_program, member: &str, event: &str) {
    let (mut member_out, mut receipt_out, mut duplicate) = (ptr::null_mut::<c_char>(), ptr::null_mut(), false);
    // SAFETY: as in `c_abi`.
    let rc = unsafe {
        loyalty_program_apply(
            program,
            member.as_ptr().cast(),
            member.len(),
            event.as_ptr().cast(),
            event.len(),
            &mut member_out,
            &mut receipt_out,
            &mut duplicate,
        )
    };
    assert_eq!(rc, LOYALTY_OK);
    black_box((member_out, receipt_out));
    // SAFETY: returned by the library on success; each freed once.
    unsafe {
        loyalty_string_free(member_out);
        loyalty_string_free(receipt_out);
    }
}

/// A member handle, freed when dropped.
struct Handle(*mut loyalty_member);

impl Handle {
    fn from_json(json: &str) -> Handle {
        let mut member = ptr::null_mut();
        // SAFETY: the text is valid for its length; `member` is local.
        let rc = unsafe { loyalty_member_from_json(json.as_ptr().cast(), json.len(), &mut member) };
        assert_eq!(rc, LOYALTY_OK);
        Handle(member)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a live handle from `loyalty_member_from_json`, freed once.
        unsafe { loyalty_member_free(self.0) };
    }
}

/// One apply to a member handle through the C ABI: the event's JSON in, the
/// receipt's JSON out and freed (what a C host that keeps its members in
/// handles pays per event).
fn c_abi_handle(program: *const loyalty_program, member: &Handle, event: &str) {
    let (mut receipt_out, mut duplicate) = (ptr::null_mut::<c_char>(), true);
    // SAFETY: live handles; the text is valid for its length; the
    // out-parameters are local.
    let rc = unsafe {
        loyalty_program_apply_member(
            program,
            member.0,
            event.as_ptr().cast(),
            event.len(),
            &mut receipt_out,
            &mut duplicate,
        )
    };
    assert_eq!(rc, LOYALTY_OK);
    assert!(!duplicate, "a new event each time");
    black_box(receipt_out);
    // SAFETY: returned by the library on success; freed once.
    unsafe { loyalty_string_free(receipt_out) };
}

fn bench(c: &mut Criterion) {
    let (program, member, event_json) = setup();
    let member_json = member.to_json();
    let event = Event::from_json_str(&event_json).unwrap();
    let mut handle: *const loyalty_program = ptr::null();
    // SAFETY: the text is valid for its length; `handle` is local.
    let rc = unsafe { loyalty_program_load(PROGRAM.as_ptr().cast(), PROGRAM.len(), LOYALTY_FORMAT_TOML, &mut handle) };
    assert_eq!(rc, LOYALTY_OK);

    // The C ABI computes exactly what the Rust API computes, before anything is timed.
    assert_eq!(c_abi(handle, &member_json, &event_json), rust_json(&program, &member_json, &event_json));

    let mut group = c.benchmark_group("apply, 5-line basket (the issue-1 bench)");
    group.bench_function("C ABI: loyalty_program_apply, JSON in and out, strings freed", |b| {
        b.iter(|| c_abi_no_copy(handle, black_box(&member_json), black_box(&event_json)))
    });
    group.bench_function("C ABI: loyalty_program_apply_member on a handle, receipt freed", |b| {
        b.iter_batched_ref(
            || Handle::from_json(&member_json),
            |m| c_abi_handle(handle, m, black_box(&event_json)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("Rust: decode member and event, apply, encode member and receipt", |b| {
        b.iter(|| rust_json(&program, black_box(&member_json), black_box(&event_json)))
    });
    group.bench_function("Rust: bare Program::apply (member decoded from JSON beforehand)", |b| {
        b.iter_batched_ref(
            || Member::from_json_str(&member_json).unwrap(),
            |m| program.apply(m, black_box(&event)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    // Where the JSON time goes.
    group.bench_function("Rust: Member::from_json_str alone", |b| {
        b.iter(|| Member::from_json_str(black_box(&member_json)).unwrap())
    });
    let mut applied_member = member.clone();
    let receipt = program.apply(&mut applied_member, &event).unwrap().receipt;
    group.bench_function("Rust: Member::to_json + Receipt::to_json alone", |b| {
        b.iter(|| (black_box(&applied_member).to_json(), black_box(&receipt).to_json()))
    });
    group.finish();
    // SAFETY: loaded above, freed once, no longer used.
    unsafe { loyalty_program_free(handle) };
}

/// A fixed number of calls, for instruction counts that CPU contention does
/// not blur: `LOYALTY_COUNT=<what>:<n>` with `what` one of `c-abi`,
/// `c-abi-handle` (a handle decoded from JSON, then one event applied to it:
/// subtract `decode`), `rust-json`, `decode` (the member only),
/// `decode-apply` (subtract `decode` for the bare `apply`), `encode`
/// (member and receipt), `none` (the setup alone; subtract it from each). For example:
/// `LOYALTY_COUNT=c-abi:1000 valgrind --tool=callgrind target/release/deps/c_abi-*`.
fn count(spec: &str) {
    let (what, n) = spec.split_once(':').expect("LOYALTY_COUNT=<what>:<n>");
    let n: usize = n.parse().expect("a count");
    let (program, member, event_json) = setup();
    let member_json = member.to_json();
    let event = Event::from_json_str(&event_json).unwrap();
    let mut handle: *const loyalty_program = ptr::null();
    // SAFETY: the text is valid for its length; `handle` is local.
    let rc = unsafe { loyalty_program_load(PROGRAM.as_ptr().cast(), PROGRAM.len(), LOYALTY_FORMAT_TOML, &mut handle) };
    assert_eq!(rc, LOYALTY_OK);
    let mut applied_member = member.clone();
    let receipt = program.apply(&mut applied_member, &event).unwrap().receipt;
    if what == "none" {
        eprintln!("member JSON: {} bytes, event JSON: {} bytes", member_json.len(), event_json.len());
    }
    for _ in 0..n {
        match what {
            "c-abi" => c_abi_no_copy(handle, black_box(&member_json), black_box(&event_json)),
            "c-abi-handle" => c_abi_handle(handle, &Handle::from_json(black_box(&member_json)), black_box(&event_json)),
            "rust-json" => drop(black_box(rust_json(&program, black_box(&member_json), black_box(&event_json)))),
            "decode" => drop(black_box(Member::from_json_str(black_box(&member_json)).unwrap())),
            "decode-apply" => {
                let mut m = Member::from_json_str(black_box(&member_json)).unwrap();
                black_box(program.apply(&mut m, black_box(&event)).unwrap());
            }
            "encode" => drop(black_box((black_box(&applied_member).to_json(), black_box(&receipt).to_json()))),
            "none" => {}
            _ => panic!("LOYALTY_COUNT: unknown '{what}'"),
        }
    }
    // SAFETY: loaded above, freed once.
    unsafe { loyalty_program_free(handle) };
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("LOYALTY_COUNT") {
        return count(&spec);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
