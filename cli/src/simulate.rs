//! `loyalty simulate` and `loyalty demo`: a generated population through a program.

use std::collections::BTreeMap;
use std::path::Path;

use loyalty::{format_points, Member, Program};
use loyalty_sim::{simulate_with, Behaviour, Simulation};
use rust_decimal::Decimal;
use serde_json::json;

use crate::{input, InputError, Outcome};

/// The sample program `demo` runs.
const CORNER_COFFEE: &str = include_str!("../../examples/programs/corner_coffee.toml");

/// `loyalty simulate`.
pub fn run(
    program_path: &Path,
    behaviour: &Behaviour,
    log: Option<&Path>,
    members_out: Option<&Path>,
    as_json: bool,
) -> Result<Outcome, InputError> {
    let program = input::program(program_path)?;
    let sim = generate(&program, behaviour).map_err(|e| InputError(format!("{}: {e}", program_path.display())))?;
    if let Some(path) = log {
        std::fs::write(path, sim.to_jsonl()).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    }
    if let Some(path) = members_out {
        let states: String = sim.members.values().map(|m| m.to_json() + "\n").collect();
        std::fs::write(path, states).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    }
    let summary = Summary::of(&program, &sim);
    if as_json {
        out!("{}", summary.json());
    } else {
        summary.print(&program, behaviour);
    }
    Ok(Outcome::Ok)
}

/// `loyalty demo`: Corner Coffee over a generated year, with statements.
pub fn demo(as_json: bool) -> Result<Outcome, InputError> {
    let program = Program::from_toml_str(CORNER_COFFEE).map_err(|e| InputError(e.to_string()))?;
    // Café prices: a typical item around 250 RUB.
    let behaviour = Behaviour { typical_unit_price_cents: 25_000, ..Behaviour::default() };
    let sim = generate(&program, &behaviour).map_err(|e| InputError(e.to_string()))?;
    let summary = Summary::of(&program, &sim);
    // The program's numbers over the year, from the same receipts.
    let mut analytics = loyalty::analytics::Analytics::new();
    for d in &sim.log {
        analytics.record(&d.event, &d.receipt);
    }
    let year = loyalty::analytics::Interval::new(
        behaviour.start,
        behaviour.start + chrono::Duration::days(i64::from(behaviour.days)),
    );
    let report = analytics.report(&program, &year, &loyalty::analytics::Config::default());
    if as_json {
        let mut json = summary.json();
        json["report"] = serde_json::to_value(&report)?;
        out!("{json}");
        return Ok(Outcome::Ok);
    }
    out!(
        "Corner Coffee (examples/programs/corner_coffee.toml): {} generated members over {} days from {}, seed {}.\n",
        behaviour.members,
        behaviour.days,
        behaviour.start.format("%Y-%m-%d"),
        behaviour.seed
    );
    summary.print(&program, &behaviour);
    out!("\n--- the year's numbers (loyalty report) ---");
    crate::report::print(&program, &report);
    // Statements of the three biggest spenders.
    let mut spend: BTreeMap<&str, Decimal> = BTreeMap::new();
    for d in &sim.log {
        if let loyalty::EventKind::Purchase(p) = &d.event.kind {
            let total: Decimal =
                p.lines.iter().map(|l| l.unit_price.decimal() * l.quantity.decimal() - l.discount.decimal()).sum();
            *spend.entry(d.member.as_str()).or_default() += total;
        }
    }
    let mut top: Vec<(&str, Decimal)> = spend.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (id, spent) in top.into_iter().take(3) {
        statement(&program, &sim, id, spent);
    }
    out!(
        "\nThe same in JSON: loyalty demo --json. Any program: loyalty simulate PROGRAM --members N --days D --seed S."
    );
    Ok(Outcome::Ok)
}

/// Runs the simulation with a progress bar of the days simulated.
fn generate(program: &Program, behaviour: &Behaviour) -> Result<Simulation, loyalty::Error> {
    let bar = crate::progress(u64::from(behaviour.days), "simulating days");
    let start = behaviour.start;
    let sim = simulate_with(program, behaviour, &mut |at| {
        bar.set_position(u64::try_from((at - start).num_days()).unwrap_or(0));
    });
    bar.finish_and_clear();
    sim
}

/// Program-wide numbers of a simulation.
struct Summary {
    members: usize,
    events: BTreeMap<String, usize>,
    refused: usize,
    totals: loyalty::Totals,
    outstanding: i64,
    pending: i64,
    liability: Decimal,
    tiers: BTreeMap<String, usize>,
    scale: u32,
}

impl Summary {
    fn of(program: &Program, sim: &Simulation) -> Summary {
        let mut events: BTreeMap<String, usize> = BTreeMap::new();
        for d in &sim.log {
            *events.entry(d.event.kind.name().to_owned()).or_default() += 1;
        }
        let mut totals = loyalty::Totals::default();
        let (mut outstanding, mut pending) = (0_i64, 0_i64);
        let mut tiers: BTreeMap<String, usize> = BTreeMap::new();
        for m in sim.members.values() {
            let t = m.totals();
            totals.earned += t.earned;
            totals.credited += t.credited;
            totals.refunded += t.refunded;
            totals.burned += t.burned;
            totals.debited += t.debited;
            totals.expired += t.expired;
            totals.reversed += t.reversed;
            let b = m.balances();
            outstanding += b.available + b.held;
            pending += b.pending;
            if let Some(status) = program.tier(m, m.clock()) {
                *tiers.entry(status.tier.to_owned()).or_default() += 1;
            }
        }
        let scale = program.spec().points.scale;
        let liability = loyalty_sim::whatif::liability(program, outstanding + pending);
        Summary {
            members: sim.members.len(),
            events,
            refused: sim.refused,
            totals,
            outstanding,
            pending,
            liability,
            tiers,
            scale,
        }
    }

    fn json(&self) -> serde_json::Value {
        let t = &self.totals;
        json!({
            "members": self.members,
            "events": self.events,
            "refused": self.refused,
            "points": {"earned": t.earned, "credited": t.credited, "refunded": t.refunded, "burned": t.burned,
                        "debited": t.debited, "expired": t.expired, "reversed": t.reversed,
                        "outstanding": self.outstanding, "pending": self.pending},
            "liability": self.liability.to_string(),
            "tiers": self.tiers,
        })
    }

    fn print(&self, program: &Program, behaviour: &Behaviour) {
        let p = |v: i64| format_points(v, self.scale);
        let t = &self.totals;
        let spec = program.spec();
        out!("members   {} (seed {}, {} days)", self.members, behaviour.seed, behaviour.days);
        let events: Vec<String> = self.events.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out!("events    {} ({} tried and refused by the engine)", events.join(", "), self.refused);
        out!(
            "points    earned {} · credited {} · burned {} · expired {} · reversed {}",
            p(t.earned),
            p(t.credited),
            p(t.burned),
            p(t.expired),
            p(t.reversed)
        );
        let breakage = if t.burned + t.expired > 0 {
            format!("{:.1} %", Decimal::from(t.expired * 100) / Decimal::from(t.burned + t.expired))
        } else {
            "—".into()
        };
        out!("breakage  {breakage} (expired of expired + burned)");
        out!(
            "owed      {} available or held + {} pending = {} {} at {} a point",
            p(self.outstanding),
            p(self.pending),
            self.liability,
            spec.currency,
            spec.points.value
        );
        if !self.tiers.is_empty() {
            let tiers: Vec<String> = self.tiers.iter().map(|(k, n)| format!("{k} {n}")).collect();
            out!("tiers     {}", tiers.join(", "));
        }
    }
}

/// One member's statement: month by month, what came in and went out, and
/// where they stand at the end.
fn statement(program: &Program, sim: &Simulation, id: &str, spent: Decimal) {
    use loyalty::EntryKind::{Adjust, Burn, Earn, Expire, Refund, Reverse, Settle};
    let Some(member): Option<&Member> = sim.members.get(id) else { return };
    let scale = program.spec().points.scale;
    let p = |v: i64| format_points(v, scale);
    let zone = program.time_zone();
    out!("\n--- statement of {id}: spent {spent} {} ---", program.spec().currency);
    out!(
        "{:<8} {:>9} {:>10} {:>10} {:>9} {:>9} {:>11}",
        "month",
        "purchases",
        "earned",
        "spent",
        "expired",
        "returns",
        "available"
    );
    // Month → (purchases, earned, spent, expired, returns, available at the month's last event).
    let mut months: BTreeMap<String, (usize, i64, i64, i64, i64, i64)> = BTreeMap::new();
    for d in sim.log.iter().filter(|d| d.member == id) {
        let r = &d.receipt;
        let month = d.event.at.with_timezone(&zone).format("%Y-%m").to_string();
        let row = months.entry(month).or_default();
        if matches!(d.event.kind, loyalty::EventKind::Purchase(_)) {
            row.0 += 1;
        }
        for e in &r.entries {
            match e.kind {
                Earn | Adjust if e.points > 0 => row.1 += e.points,
                Burn => row.2 += e.points,
                Expire => row.3 += e.points,
                Reverse | Refund | Settle => row.4 += e.points,
                _ => {}
            }
        }
        row.5 = r.balances.available;
    }
    for (month, (n, earned, burned, expired, returns, available)) in &months {
        out!(
            "{month:<8} {n:>9} {:>10} {:>10} {:>9} {:>9} {:>11}",
            p(*earned),
            p(*burned),
            p(*expired),
            p(*returns),
            p(*available)
        );
    }
    let b = member.balances();
    let tier = program.tier(member, member.clock()).map(|s| s.tier.to_owned()).unwrap_or_default();
    out!("now: available {} · pending {} · tier {tier}", p(b.available), p(b.pending));
    for e in program.upcoming_expiries(member, member.clock(), None).iter().take(2) {
        out!("     {} points expire on {}", p(e.points), e.date);
    }
}
