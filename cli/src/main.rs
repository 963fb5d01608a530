//! `loyalty`: the command-line face of the engine.
//!
//! ```text
//! loyalty check PROGRAM...                 validate and lint program files
//! loyalty run PROGRAM EVENTS.jsonl         apply an event log: receipts, then member states
//! loyalty quote PROGRAM BASKET.json        what a basket would earn and how much may be paid in points
//! loyalty simulate PROGRAM                 a generated population through a program
//! loyalty compare A B [--log LOG]          one history under two programs
//! loyalty report PROGRAM EVENTS.jsonl      retention, lifetime value, NPS, points, breakage, liability
//! loyalty demo                             Corner Coffee over a generated year
//! ```
//!
//! Exit codes scripts can rely on: 0 all good; 1 the command ran but found
//! something (lint warnings with `--deny-warnings`, events the engine refused);
//! 2 the command line is wrong; 3 an input could not be read or is invalid
//! (nothing was applied or written then).

/// Prints a line to standard output; a closed pipe (`loyalty run … | head`)
/// ends the command quietly instead of with a panic.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

mod check;
mod compare;
mod html;
mod input;
mod quote;
mod report;
mod run;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The loyalty-program rules engine, from the command line.
#[derive(Parser)]
#[command(name = "loyalty", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate program files (TOML or JSON) and list lint warnings.
    Check {
        /// The program files.
        #[arg(required = true)]
        programs: Vec<PathBuf>,
        /// Exit with 1 when there are lint warnings.
        #[arg(long)]
        deny_warnings: bool,
        /// One JSON object per program instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Apply an event log (JSONL) to members: receipts, then member states.
    ///
    /// Each line is an event; an `enroll` event starts a member. Where events
    /// of several members are interleaved, a line may be an envelope
    /// `{"member": "m-1", "event": {...}}`; a bare event applies to the member
    /// of the latest `enroll`. Refused events are reported and the run goes on.
    Run {
        /// The program file.
        program: PathBuf,
        /// The event log, one JSON event per line (`-` for standard input).
        events: PathBuf,
        /// Member states to start from: JSONL, one state per line (as written by --members-out).
        #[arg(long)]
        members: Option<PathBuf>,
        /// Write the final member states here (JSONL).
        #[arg(long)]
        members_out: Option<PathBuf>,
        /// Receipts and refusals as JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The main job on built-in data: Corner Coffee over a generated year,
    /// program numbers and the statements of its best customers.
    Demo {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write the year's report as one self-contained HTML page with charts.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Run a generated population through a program (seeded: the same seed, the same run).
    Simulate {
        /// The program file.
        program: PathBuf,
        /// Members to enrol.
        #[arg(long, default_value_t = 200)]
        members: u32,
        /// Days to simulate.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// The first day (RFC 3339 instant).
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the generated event log here (JSONL, as `run` reads it).
        #[arg(long)]
        log: Option<PathBuf>,
        /// Write the final member states here (JSONL).
        #[arg(long)]
        members_out: Option<PathBuf>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// What-if: one history under two programs, totals, cost per rule, tiers and members side by side.
    Compare {
        /// The program the history ran under (or is generated for).
        a: PathBuf,
        /// The program to compare it with.
        b: PathBuf,
        /// The history (JSONL, as `run` reads it); without it, a generated one.
        #[arg(long)]
        log: Option<PathBuf>,
        /// Members of the generated history.
        #[arg(long, default_value_t = 200)]
        members: u32,
        /// Days of the generated history.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Seed of the generated history.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The program's numbers over an event log: retention, churn, orders,
    /// lifetime value, NPS, segments, points, breakage, what is owed, per rule.
    Report {
        /// The program file.
        program: PathBuf,
        /// The event log (JSONL, as `run` reads it).
        events: PathBuf,
        /// The start of the period (RFC 3339); default: the first event.
        #[arg(long)]
        from: Option<String>,
        /// The end of the period, exclusive (RFC 3339); default: just after the last event.
        #[arg(long)]
        until: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write the report as one self-contained HTML page with charts (liability and
        /// breakage by month, tiers, earn and burn by rule, cohort retention).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// What a basket would earn, and how much of it could be paid with points.
    Quote {
        /// The program file.
        program: PathBuf,
        /// The basket as JSON: `{"lines": [{"sku": ..., "category": ..., "quantity": ..., "unit_price": ...}]}`.
        basket: PathBuf,
        /// The member state (JSON, as written by `run --members-out`); a new member without it.
        #[arg(long)]
        member: Option<PathBuf>,
        /// The instant of the purchase (RFC 3339); default: the member's clock, or now for a new member.
        #[arg(long)]
        at: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A progress bar on standard error for a long run: drawn only when
/// standard error is a terminal, so pipes and scripts never see it.
pub fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// How a command ended.
pub enum Outcome {
    /// Everything as it should be.
    Ok,
    /// The command ran and found something (warnings, refused events).
    Findings,
}

/// An input that could not be read or is invalid: printed as `file:line:column: message`.
pub struct InputError(pub String);

impl<E: std::fmt::Display> From<E> for InputError {
    fn from(e: E) -> Self {
        InputError(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { programs, deny_warnings, json } => check::run(&programs, deny_warnings, json),
        Command::Run { program, events, members, members_out, json } => {
            run::run(&program, &events, members.as_deref(), members_out.as_deref(), json)
        }
        Command::Demo { json, html } => match html {
            Some(path) => report::demo_html(&path).and_then(|()| simulate::demo(json)),
            None => simulate::demo(json),
        },
        Command::Report { program, events, from, until, json, html } => {
            report::run(&program, &events, from.as_deref(), until.as_deref(), json, html.as_deref())
        }
        Command::Compare { a, b, log, members, days, seed, json } => {
            let behaviour = loyalty_sim::Behaviour { members, days, seed, ..loyalty_sim::Behaviour::default() };
            compare::run(&a, &b, log.as_deref(), &behaviour, json)
        }
        Command::Simulate { program, members, days, start, seed, log, members_out, json } => {
            match chrono::DateTime::parse_from_rfc3339(&start) {
                Ok(start) => {
                    let behaviour = loyalty_sim::Behaviour {
                        members,
                        days,
                        seed,
                        start: start.with_timezone(&chrono::Utc),
                        ..loyalty_sim::Behaviour::default()
                    };
                    simulate::run(&program, &behaviour, log.as_deref(), members_out.as_deref(), json)
                }
                Err(e) => {
                    Err(InputError(format!("--start: {e} (write an RFC 3339 instant like 2026-01-01T00:00:00Z)")))
                }
            }
        }
        Command::Quote { program, basket, member, at, json } => {
            quote::run(&program, &basket, member.as_deref(), at.as_deref(), json)
        }
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(InputError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}
