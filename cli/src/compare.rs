//! `loyalty compare`: one history under two programs.

use std::collections::BTreeSet;
use std::path::Path;

use loyalty::format_points;
use loyalty_sim::whatif::{compare, Comparison, Figures, History};
use loyalty_sim::{simulate, Behaviour};
use serde_json::json;

use crate::{input, run, InputError, Outcome};

/// Reads a history the way `run` reads a log (every line decoded before
/// anything is used): a bare event belongs to the member of the latest
/// `enroll`.
fn history(path: &Path) -> Result<History, InputError> {
    let mut latest: Option<String> = None;
    let mut out = Vec::new();
    for line in run::decode(path, &input::read(path)?)? {
        if let loyalty::EventKind::Enroll(enroll) = &line.event.kind {
            latest = Some(enroll.member.clone());
        }
        let member = line.member.or_else(|| latest.clone()).ok_or_else(|| {
            InputError(format!("{}:{}: no member: start with an enroll event", path.display(), line.number))
        })?;
        out.push((member, line.event));
    }
    Ok(out)
}

pub fn run(
    a_path: &Path,
    b_path: &Path,
    log: Option<&Path>,
    behaviour: &Behaviour,
    as_json: bool,
) -> Result<Outcome, InputError> {
    let (a, b) = (input::program(a_path)?, input::program(b_path)?);
    let history = match log {
        Some(path) => history(path)?,
        None => simulate(&a, behaviour).map_err(|e| InputError(format!("{}: {e}", a_path.display())))?.history(),
    };
    let c = compare(&a, &b, &history);
    if as_json {
        out!("{}", to_json(&c));
        return Ok(Outcome::Ok);
    }
    let scale = a.spec().points.scale;
    let p = |v: i64| format_points(v, scale);
    let source = log.map_or_else(
        || {
            format!(
                "a generated history ({} members, {} days, seed {})",
                behaviour.members, behaviour.days, behaviour.seed
            )
        },
        |l| l.display().to_string(),
    );
    out!("{} events of {source}", history.len());
    out!("{:<22} {:>14} {:>14} {:>14}", "", a_path.display(), b_path.display(), "change");
    let row = |name: &str, x: i64, y: i64| {
        let sign = if y >= x { "+" } else { "" };
        out!("{name:<22} {:>14} {:>14} {:>14}", p(x), p(y), format!("{sign}{}", p(y - x)));
    };
    let (fa, fb) = (&c.a, &c.b);
    row("points issued", fa.issued, fb.issued);
    row("points burned", fa.burned, fb.burned);
    row("points expired", fa.expired, fb.expired);
    row("points reversed", fa.reversed, fb.reversed);
    row("outstanding", fa.outstanding, fb.outstanding);
    row("pending", fa.pending, fb.pending);
    out!(
        "{:<22} {:>14} {:>14} {:>14}",
        format!("liability ({})", a.spec().currency),
        fa.liability,
        fb.liability,
        fb.liability - fa.liability
    );
    out!(
        "{:<22} {:>14} {:>14} {:>14}",
        "refused events",
        fa.refused,
        fb.refused,
        fb.refused as i64 - fa.refused as i64
    );
    out!("\ncost per rule (points given)");
    let rules: BTreeSet<&String> = fa.per_rule.keys().chain(fb.per_rule.keys()).collect();
    for rule in rules {
        let (x, y) = (fa.per_rule.get(rule).copied().unwrap_or(0), fb.per_rule.get(rule).copied().unwrap_or(0));
        row(rule, x, y);
    }
    let tiers: BTreeSet<&String> = fa.tiers.keys().chain(fb.tiers.keys()).collect();
    if !tiers.is_empty() {
        out!("\nmembers per tier level");
        for tier in tiers {
            let (x, y) = (fa.tiers.get(tier).copied().unwrap_or(0), fb.tiers.get(tier).copied().unwrap_or(0));
            out!("{tier:<22} {x:>14} {y:>14} {:>14}", format!("{:+}", y as i64 - x as i64));
        }
    }
    out!("\n{} members differ; the largest changes in outstanding points:", c.members.len());
    for d in c.members.iter().take(10) {
        out!(
            "{:<22} {:>14} {:>14} {:>14}",
            d.member,
            p(d.a.outstanding),
            p(d.b.outstanding),
            format!("{:+}", d.b.outstanding - d.a.outstanding)
        );
    }
    Ok(Outcome::Ok)
}

fn figures_json(f: &Figures) -> serde_json::Value {
    json!({"issued": f.issued, "burned": f.burned, "expired": f.expired, "reversed": f.reversed,
           "outstanding": f.outstanding, "pending": f.pending, "liability": f.liability.to_string(),
           "tiers": f.tiers, "per_rule": f.per_rule, "refused": f.refused})
}

fn to_json(c: &Comparison) -> serde_json::Value {
    let members: Vec<_> = c
        .members
        .iter()
        .map(|d| {
            json!({"member": d.member,
                   "a": {"issued": d.a.issued, "burned": d.a.burned, "expired": d.a.expired, "outstanding": d.a.outstanding, "pending": d.a.pending, "tier": d.a.tier},
                   "b": {"issued": d.b.issued, "burned": d.b.burned, "expired": d.b.expired, "outstanding": d.b.outstanding, "pending": d.b.pending, "tier": d.b.tier}})
        })
        .collect();
    json!({"a": figures_json(&c.a), "b": figures_json(&c.b), "members": members})
}
