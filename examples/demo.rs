//! The main job on built-in sample data: three sample programs, a short
//! event log each, and every receipt explained — points, tiers, rewards and
//! the signals a host would act on.
//!
//! Run: `cargo run --example demo` (add `-- --json` for JSON lines).

use loyalty::{format_points, Event, MemoryCounters, Program};

const SAMPLES: [(&str, &str); 3] = [
    (include_str!("programs/corner_coffee.toml"), include_str!("data/corner_coffee.jsonl")),
    (include_str!("programs/home_appliance.toml"), include_str!("data/home_appliance.jsonl")),
    (include_str!("programs/petshop.toml"), include_str!("data/petshop.jsonl")),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = std::env::args().any(|a| a == "--json");
    for (program_text, log) in SAMPLES {
        let program = Program::from_toml_str(program_text)?;
        let scale = program.spec().points.scale;
        let events: Vec<Event> = log.lines().map(Event::from_json_str).collect::<Result<_, _>>()?;
        let (mut member, _) = program.start(&events[0])?;
        // Stock and budgets shared between members (none are used up here).
        let mut counters = MemoryCounters::default();
        if !json {
            println!(
                "\n=== {} ({}, {}) — member {} ===",
                program.spec().name,
                program.spec().currency,
                program.spec().time_zone,
                member.id()
            );
        }
        for event in &events[1..] {
            let receipt = program.apply_with(&mut member, event, &mut counters)?.receipt;
            if json {
                println!("{}", receipt.to_json());
                continue;
            }
            let local = event.at.with_timezone(&program.time_zone()).format("%Y-%m-%d %H:%M");
            println!("\n{local}  {} {}", receipt.kind, receipt.event);
            for e in &receipt.explanations {
                println!("    why     {}", e.text);
            }
            for e in &receipt.entries {
                let lot = e.lot.map(|l| format!("lot {l}")).unwrap_or_default();
                println!(
                    "    {:<8}{:>8}  {:<7} {}",
                    format!("{:?}", e.kind).to_lowercase(),
                    format_points(e.points, scale),
                    lot,
                    e.reason
                );
            }
            for n in &receipt.notes {
                println!("    note    {n}");
            }
            for s in &receipt.signals {
                println!("    signal  {}", serde_json::to_string(s)?);
            }
            if let Some(tier) = &receipt.tier {
                println!("    tier    {tier}");
            }
            if let Some(paid) = receipt.paid {
                println!("    paid    {paid} {}", program.spec().currency);
            }
            let b = receipt.balances;
            println!(
                "    balance available {}  pending {}  held {}",
                format_points(b.available, scale),
                format_points(b.pending, scale),
                format_points(b.held, scale)
            );
            if let Some(next) = receipt.next_expiries.first() {
                println!("    expires {} points on {}", format_points(next.points, scale), next.date);
            }
        }
        let t = member.totals();
        if !json {
            println!(
                "\n  totals: earned {} · credited {} · refunded {} · burned {} · expired {} · reversed {}",
                t.earned, t.credited, t.refunded, t.burned, t.expired, t.reversed
            );
        }
    }
    Ok(())
}
