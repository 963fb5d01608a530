//! `loyalty run`: apply an event log to members.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use loyalty::{format_points, Event, EventKind, Member, MemoryCounters, Program, Receipt};
use serde_json::json;

use crate::{input, InputError, Outcome};

/// One line of the log: the member it names (envelopes only) and the event.
pub(crate) struct Line {
    pub(crate) number: usize,
    pub(crate) member: Option<String>,
    pub(crate) event: Event,
}

/// Decodes every line before anything is applied: a log with a bad line is
/// refused whole, naming the line.
pub(crate) fn decode(path: &Path, text: &str) -> Result<Vec<Line>, InputError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let at =
            |column: usize, message: String| InputError(format!("{}:{number}:{column}: {message}", path.display()));
        let envelope = raw.trim_start().starts_with('{') && raw.contains("\"event\"");
        let (member, event) = if envelope {
            let value: serde_json::Value =
                serde_json::from_str(raw).map_err(|e| at(e.column().max(1), e.to_string()))?;
            match (value.get("member").and_then(|m| m.as_str()), value.get("event")) {
                (Some(member), Some(event)) if value.as_object().is_some_and(|o| o.len() == 2) => {
                    let event =
                        Event::from_json_str(&event.to_string()).map_err(|e| at(1, format!("in \"event\": {e}")))?;
                    (Some(member.to_owned()), event)
                }
                _ => {
                    return Err(at(
                        1,
                        "an envelope is {\"member\": \"<id>\", \"event\": {...}} and nothing else".into(),
                    ))
                }
            }
        } else {
            match Event::from_json_str(raw) {
                Ok(event) => (None, event),
                Err(loyalty::Error::EventSyntax { column, message, .. }) => return Err(at(column, message)),
                Err(e) => return Err(at(1, e.to_string())),
            }
        };
        lines.push(Line { number, member, event });
    }
    Ok(lines)
}

pub fn run(
    program_path: &Path,
    events_path: &Path,
    members_path: Option<&Path>,
    members_out: Option<&Path>,
    as_json: bool,
) -> Result<Outcome, InputError> {
    let program = input::program(program_path)?;
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    if let Some(path) = members_path {
        for (i, line) in input::read(path)?.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let m =
                Member::from_json_str(line).map_err(|e| InputError(format!("{}:{}: {e}", path.display(), i + 1)))?;
            members.insert(m.id().to_owned(), m);
        }
    }
    let log = decode(events_path, &input::read(events_path)?)?;
    let mut counters = MemoryCounters::default();
    let (mut latest, mut applied, mut refused) = (None::<String>, 0_usize, 0_usize);
    let bar = crate::progress(log.len() as u64, "applying events");
    for line in &log {
        bar.inc(1);
        let outcome = apply(&program, &mut members, &mut counters, &mut latest, line);
        match outcome {
            Ok(receipt) => {
                applied += 1;
                if as_json {
                    out!("{}", receipt.to_json());
                } else {
                    out!("{}", describe(&program, &receipt));
                }
            }
            Err(refused_event) => {
                let (member, error) = *refused_event;
                refused += 1;
                if as_json {
                    let l = json!({"line": line.number, "event": line.event.id, "member": member, "refused": error.to_string()});
                    out!("{l}");
                } else {
                    out!("{}  refused  line {}: {error}", local(&program, line.event.at), line.number);
                }
            }
        }
    }
    bar.finish_and_clear();
    if !as_json {
        summary(&program, &members, applied, refused);
    }
    if let Some(path) = members_out {
        let mut out = String::new();
        for m in members.values() {
            out.push_str(&m.to_json());
            out.push('\n');
        }
        std::fs::write(path, out).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    }
    Ok(if refused > 0 { Outcome::Findings } else { Outcome::Ok })
}

/// An event the engine refused, with the member it was for.
pub(crate) type Refused = Box<(Option<String>, loyalty::Error)>;

pub(crate) fn apply(
    program: &Program,
    members: &mut BTreeMap<String, Member>,
    counters: &mut MemoryCounters,
    latest: &mut Option<String>,
    line: &Line,
) -> Result<Receipt, Refused> {
    if let EventKind::Enroll(enroll) = &line.event.kind {
        let id = enroll.member.clone();
        if let Some(m) = members.get_mut(&id) {
            // Already enrolled: the engine says so (or answers a retry).
            let receipt = program.apply_with(m, &line.event, counters).map_err(|e| Box::new((Some(id.clone()), e)))?;
            *latest = Some(id);
            return Ok(Receipt::clone(&receipt.receipt));
        }
        let (member, receipt) = program.start(&line.event).map_err(|e| Box::new((Some(id.clone()), e)))?;
        members.insert(id.clone(), member);
        *latest = Some(id);
        return Ok(receipt);
    }
    let Some(id) = line.member.clone().or_else(|| latest.clone()) else {
        return Err(Box::new((
            None,
            loyalty::Error::Enrollment {
                event: line.event.id.clone(),
                reason: "no member yet: the log starts with an enroll event, or names the member in an envelope".into(),
            },
        )));
    };
    let Some(member) = members.get_mut(&id) else {
        return Err(Box::new((
            Some(id.clone()),
            loyalty::Error::Enrollment {
                event: line.event.id.clone(),
                reason: format!("member '{id}' is not enrolled (no enroll event or state for it)"),
            },
        )));
    };
    let applied = program.apply_with(member, &line.event, counters).map_err(|e| Box::new((Some(id), e)))?;
    Ok(Receipt::clone(&applied.receipt))
}

fn local(program: &Program, at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&program.time_zone()).format("%Y-%m-%d %H:%M").to_string()
}

/// One line per receipt: when, who, what, why, and the balances after.
fn describe(program: &Program, r: &Receipt) -> String {
    let scale = program.spec().points.scale;
    let mut s =
        format!("{}  {:<10} {:<14} {}", local(program, r.at), r.member.as_str(), r.kind.as_str(), r.event.as_str());
    // Points moved, by kind of entry, in the order they were posted.
    let mut moved: Vec<(String, i64)> = Vec::new();
    for e in &r.entries {
        let kind = format!("{:?}", e.kind).to_lowercase();
        match moved.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, p)) => *p = p.saturating_add(e.points),
            None => moved.push((kind, e.points)),
        }
    }
    for (kind, points) in &moved {
        let sign = if *points > 0 { "+" } else { "" };
        let _ = write!(s, "  {kind} {sign}{}", format_points(*points, scale));
    }
    let why: Vec<String> = r.explanations.iter().map(|e| e.text.to_string()).collect();
    if !why.is_empty() {
        let _ = write!(s, "  [{}]", why.join("; "));
    }
    for note in &r.notes {
        let _ = write!(s, "  note: {note}");
    }
    if r.shortfall > 0 {
        let _ = write!(s, "  shortfall {}", format_points(r.shortfall, scale));
    }
    let b = r.balances;
    let _ = write!(
        s,
        "  → available {} pending {} held {}",
        format_points(b.available, scale),
        format_points(b.pending, scale),
        format_points(b.held, scale)
    );
    if let Some(tier) = &r.tier {
        let _ = write!(s, " tier {}", tier.as_str());
    }
    s
}

fn summary(program: &Program, members: &BTreeMap<String, Member>, applied: usize, refused: usize) {
    let scale = program.spec().points.scale;
    out!("\n{applied} events applied, {refused} refused; {} members", members.len());
    out!("{:<16} {:>12} {:>12} {:>12} {:>10}", "member", "available", "pending", "held", "tier");
    for m in members.values() {
        let b = m.balances();
        let tier = program.tier(m, m.clock()).map(|t| t.tier.to_owned()).unwrap_or_default();
        out!(
            "{:<16} {:>12} {:>12} {:>12} {:>10}",
            m.id(),
            format_points(b.available, scale),
            format_points(b.pending, scale),
            format_points(b.held, scale),
            tier
        );
    }
}
