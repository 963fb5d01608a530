//! `loyalty report`: the program's numbers over an event log.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use loyalty::analytics::{Analytics, Config, Interval, Report};
use loyalty::{format_points, EventKind, Member, MemoryCounters, Program};
use rust_decimal::Decimal;

use crate::{html, input, run, InputError, Outcome};

/// Parses an optional RFC 3339 option.
fn instant(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, InputError> {
    value
        .map(|t| DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)))
        .transpose()
        .map_err(|e| InputError(format!("{name}: {e} (write an RFC 3339 instant like 2026-01-01T00:00:00Z)")))
}

pub fn run(
    program_path: &Path,
    log_path: &Path,
    from: Option<&str>,
    until: Option<&str>,
    as_json: bool,
    html: Option<&Path>,
) -> Result<Outcome, InputError> {
    let program = input::program(program_path)?;
    let log = run::decode(log_path, &input::read(log_path)?)?;
    let (from, until) = (instant("--from", from)?, instant("--until", until)?);
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut counters = MemoryCounters::default();
    let mut analytics = Analytics::new();
    let mut latest = None;
    let mut purchases: Vec<(String, DateTime<Utc>)> = Vec::new();
    let bar = crate::progress(log.len() as u64, "applying events");
    for line in &log {
        bar.inc(1);
        match run::apply(&program, &mut members, &mut counters, &mut latest, line) {
            Ok(receipt) => {
                // Applied purchases, for the cohorts of the HTML page.
                if matches!(line.event.kind, EventKind::Purchase(_)) {
                    purchases.push((receipt.member.to_string(), line.event.at));
                }
                analytics.record(&line.event, &receipt);
            }
            Err(refused) => analytics.refused(refused.0.as_deref().unwrap_or_default(), &line.event),
        }
    }
    bar.finish_and_clear();
    let first = log.iter().map(|l| l.event.at).min().unwrap_or_default();
    let last = log.iter().map(|l| l.event.at).max().unwrap_or_default();
    let interval = Interval::new(from.unwrap_or(first), until.unwrap_or(last + chrono::Duration::seconds(1)));
    let report = analytics.report(&program, &interval, &Config::default());
    if let Some(path) = html {
        let sources = html::Sources {
            program: &program,
            analytics: &analytics,
            report: &report,
            members: &members,
            purchases: &purchases,
            span: (first, last),
        };
        html::write(path, &sources)?;
    }
    if as_json {
        out!("{}", serde_json::to_string(&report)?);
    } else {
        print(&program, &report);
    }
    Ok(Outcome::Ok)
}

/// `loyalty demo --html`: the page of the demo's year. The demo is seeded,
/// so this is the year `loyalty demo` prints (the same program and
/// behaviour as `simulate::demo`; the HTML test checks the numbers agree).
pub fn demo_html(path: &Path) -> Result<(), InputError> {
    let program = Program::from_toml_str(include_str!("../../examples/programs/corner_coffee.toml"))
        .map_err(|e| InputError(e.to_string()))?;
    let behaviour = loyalty_sim::Behaviour { typical_unit_price_cents: 25_000, ..loyalty_sim::Behaviour::default() };
    let sim = loyalty_sim::simulate(&program, &behaviour).map_err(|e| InputError(e.to_string()))?;
    let mut analytics = Analytics::new();
    let mut purchases: Vec<(String, DateTime<Utc>)> = Vec::new();
    for d in &sim.log {
        analytics.record(&d.event, &d.receipt);
        if matches!(d.event.kind, EventKind::Purchase(_)) {
            purchases.push((d.member.clone(), d.event.at));
        }
    }
    let year = Interval::new(behaviour.start, behaviour.start + chrono::Duration::days(i64::from(behaviour.days)));
    let report = analytics.report(&program, &year, &Config::default());
    let first = sim.log.iter().map(|d| d.event.at).min().unwrap_or(behaviour.start);
    let last = sim.log.iter().map(|d| d.event.at).max().unwrap_or(behaviour.start);
    let sources = html::Sources {
        program: &program,
        analytics: &analytics,
        report: &report,
        members: &sim.members,
        purchases: &purchases,
        span: (first, last),
    };
    html::write(path, &sources)
}

fn or_dash(v: Option<Decimal>) -> String {
    v.map_or_else(|| "—".to_owned(), |d| d.to_string())
}

fn percent(v: Option<Decimal>) -> String {
    v.map_or_else(|| "—".to_owned(), |d| format!("{} %", (d * Decimal::from(100)).round_dp(1)))
}

/// The report as text.
pub fn print(program: &Program, r: &Report) {
    let spec = program.spec();
    let zone = program.time_zone();
    let p = |v: i64| format_points(v, spec.points.scale);
    out!(
        "period            {} to {} ({})",
        r.period.from.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        r.period.until.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        spec.time_zone
    );
    let c = &r.customers;
    out!(
        "customers         active at start {}, at end {} ({} new, {} won back), retained {}",
        c.active_at_start,
        c.active_at_end,
        c.new,
        c.won_back,
        c.retained
    );
    out!("retention         {}   churn {}", percent(r.retention_rate), percent(r.churn_rate));
    out!(
        "orders            {} by {} customers; repeat purchase rate {}",
        r.orders,
        r.purchasers,
        percent(r.repeat_purchase_rate)
    );
    out!(
        "sales             gross {} − returns {} = net {} {}",
        r.gross_sales.round_dp(2),
        r.returns.round_dp(2),
        r.net_sales.round_dp(2),
        spec.currency
    );
    out!(
        "per customer      average order {} · frequency {} · lifetime {} days",
        or_dash(r.average_order_value),
        or_dash(r.purchase_frequency),
        or_dash(r.average_lifetime_days)
    );
    out!("lifetime value    historical {} · projected {}", or_dash(r.historical_clv), or_dash(r.projected_clv));
    out!(
        "NPS               {} ({} promoters, {} passives, {} detractors)",
        or_dash(r.nps.score),
        r.nps.promoters,
        r.nps.passives,
        r.nps.detractors
    );
    let segments: Vec<String> = r.segments.iter().map(|(s, n)| format!("{s:?} {n}").to_lowercase()).collect();
    out!("segments          {}; top 10 %: {}", segments.join(", "), r.top);
    let f = &r.points;
    out!(
        "points            earned {} · credited {} · redeemed {} · expired {} · reversed {}",
        p(f.earned),
        p(f.credited),
        p(f.redeemed),
        p(f.expired),
        p(f.reversed)
    );
    out!(
        "breakage          {} of expired + redeemed ({} of issued)",
        percent(r.breakage_rate),
        percent(r.breakage_over_issued)
    );
    out!("owed              {} points = {} {} (debt {})", p(r.outstanding), r.liability, spec.currency, p(r.debt));
    out!("by rule           {:<24} {:>12} {:>12}", "", "earned", "burned");
    for (rule, flow) in &r.by_rule {
        out!("                  {rule:<24} {:>12} {:>12}", p(flow.earned), p(flow.burned));
    }
}
