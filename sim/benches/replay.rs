//! Replay throughput and memory per member: a generated year of a
//! population through the Petshop sample program, then the same history
//! replayed from empty.
//!
//! ```sh
//! cargo bench -p loyalty-sim --bench replay                            # 60 000 members, ≈ 1 M events
//! LOYALTY_REPLAY_MEMBERS=100000 LOYALTY_REPLAY_DAYS=200 cargo bench -p loyalty-sim --bench replay   # 100 000 members, ≈ 1.26 M events
//! LOYALTY_REPLAY_PROGRAM=home_appliance cargo bench -p loyalty-sim --bench replay   # another sample program
//! ```
//!
//! The program is Petshop unless `LOYALTY_REPLAY_PROGRAM` names another of
//! the samples (`corner_coffee`, `home_appliance`).
//!
//! It prints the number of events, the replay's wall time and events per
//! second (best of three, one thread), and the heap held per member: all
//! the members of the replay (which keeps them packed), and a member with
//! exactly 10 open lots, live and packed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use loyalty::{Event, EventKind, Program};
use loyalty_sim::{simulate, whatif, Behaviour};

/// The system allocator, counting the bytes held.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn held() -> isize {
    HELD.load(Ordering::Relaxed)
}

const SAMPLES: [(&str, &str, i64); 3] = [
    ("petshop", include_str!("../../examples/programs/petshop.toml"), 150_000),
    ("corner_coffee", include_str!("../../examples/programs/corner_coffee.toml"), 35_000),
    ("home_appliance", include_str!("../../examples/programs/home_appliance.toml"), 2_500_000),
];

fn main() {
    let members: u32 = std::env::var("LOYALTY_REPLAY_MEMBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(60_000);
    let name = std::env::var("LOYALTY_REPLAY_PROGRAM").unwrap_or_else(|_| "petshop".into());
    let Some(&(_, text, typical_unit_price_cents)) = SAMPLES.iter().find(|s| s.0 == name) else {
        panic!("LOYALTY_REPLAY_PROGRAM: no sample program '{name}' (petshop, corner_coffee, home_appliance)");
    };
    let program = Program::from_toml_str(text).expect("the sample program");
    println!("program: {name}");
    let days: u32 = std::env::var("LOYALTY_REPLAY_DAYS").ok().and_then(|v| v.parse().ok()).unwrap_or(365);
    let behaviour = Behaviour { members, days, seed: 2026, typical_unit_price_cents, ..Behaviour::default() };

    let started = Instant::now();
    let sim = simulate(&program, &behaviour).expect("the simulation");
    let generated = started.elapsed();
    let history = sim.history();
    drop(sim);
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for (_, e) in &history {
        *kinds.entry(e.kind.name()).or_default() += 1;
    }
    println!(
        "generated {} events for {members} members in {:.2?} (generation runs the engine too)",
        history.len(),
        generated
    );
    println!("events by kind: {kinds:?}");

    let mut best = f64::MAX;
    let mut bytes_per_member = 0;
    let mut packed_per_member = 0;
    for _ in 0..3 {
        let before = held();
        let started = Instant::now();
        let replay = whatif::replay(&program, &history);
        let seconds = started.elapsed().as_secs_f64();
        assert!(replay.refused.is_empty(), "the generated history replays: {:?}", replay.refused.first());
        // Heap held by the members alone.
        let members_map = replay.members;
        let after = held();
        bytes_per_member = (after - before) / members_map.len().max(1) as isize;
        packed_per_member = members_map.packed_bytes() / members_map.len().max(1);
        best = best.min(seconds);
        drop(members_map);
    }
    let events = history.len() as f64;
    println!(
        "replay: {} events in {:.3} s = {:.0} events/s (best of 3, one thread)",
        history.len(),
        best,
        events / best
    );
    println!(
        "heap held per member after the replay: {bytes_per_member} bytes (all {members} members, kept packed: {} bytes each on average, ids aside)",
        packed_per_member
    );

    // A member with exactly 10 open lots: enrolled, then 10 purchases a week
    // apart. Its heap is what is still held once it is built (a clone would
    // count the room `Clone` keeps for the next event).
    let before = held();
    let mut m = program.enroll("ten", "2026-01-05T10:00:00Z".parse().unwrap(), Default::default()).unwrap();
    let category = &program.spec().categories[0];
    for i in 0..10 {
        let e = Event::from_json_str(&format!(
            r#"{{"id":"p{i}","at":"2026-0{}-{:02}T10:00:00Z","type":"purchase","lines":[{{"sku":"sku-1","category":"{category}","quantity":"1","unit_price":"1500"}}]}}"#,
            1 + i / 4,
            6 + (i % 4) * 7
        ))
        .unwrap();
        program.apply(&mut m, &e).unwrap();
    }
    let advance = Event { id: "tick".into(), at: "2026-04-01T00:00:00Z".parse().unwrap(), kind: EventKind::Advance };
    program.apply(&mut m, &advance).unwrap();
    let bytes = held() - before;
    let open = m.lots().iter().filter(|l| l.remaining > 0).count();
    let copy = m;
    println!(
        "a member with {open} open lots, {} purchases and {} remembered events: {bytes} bytes of heap (+ {} inline), {} bytes of JSON, {} bytes packed",
        copy.purchases().len(),
        copy.recent_events().len(),
        std::mem::size_of::<loyalty::Member>(),
        copy.to_json().len(),
        copy.to_bytes().len()
    );
}
