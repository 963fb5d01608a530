//! The one error type of the crate.
//!
//! Every fallible operation returns [`Error`]. Variants are named for what
//! happened and carry what a host needs to tell the user where: the field path,
//! the rule id, the event id, line and column. An error never leaves a member
//! half-changed: [`Program::apply`](crate::Program::apply) either succeeds or
//! leaves the member exactly as it was.

use chrono::{DateTime, Utc};

/// Everything that can go wrong in `loyalty`.
///
/// ```
/// let err = loyalty::Program::from_toml_str("id = 1").unwrap_err();
/// assert!(matches!(err, loyalty::Error::ProgramSyntax { .. }));
/// assert!(err.to_string().contains("line 1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program text is not valid TOML or JSON, or does not fit the schema
    /// (unknown field, wrong type, missing field).
    #[error("program: line {line}, column {column}: {message}")]
    ProgramSyntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// The program parsed but breaks a rule of the schema: a negative rate, a
    /// duplicate id, a reference to an undefined rule or category, an unknown
    /// time zone, an empty window.
    #[error("program: {path}{}: {reason}", rule.as_ref().map(|r| format!(" ({} '{r}')", what_is(path))).unwrap_or_default())]
    ProgramInvalid {
        /// Field path inside the program, like `earn[2].when.categories[0]`.
        path: String,
        /// The id of the rule (or tier level, reward, challenge, activity,
        /// promotion) the field belongs to, if any; the message names what
        /// it is from the path.
        rule: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A rule's script does not compile.
    #[error("program: {path} (rule '{rule}'): script line {line}, column {column}: {message}")]
    ScriptSyntax {
        /// Field path of the script source, like `earn[2].script.source`.
        path: String,
        /// The rule id.
        rule: String,
        /// 1-based line inside the script.
        line: usize,
        /// 1-based column inside the script.
        column: usize,
        /// What the compiler said.
        message: String,
    },
    /// A rule's script failed while evaluating an event: a limit was reached,
    /// a type did not fit, arithmetic overflowed, or the result was not
    /// acceptable (negative or more than the rule's `max_points`). The event
    /// is refused and the member is unchanged, unless the rule says
    /// `skip_on_error`.
    #[error(
        "event '{event}': script of rule '{rule}' failed{}: {message}",
        if *line > 0 { format!(" at line {line}, column {column}") } else { String::new() }
    )]
    Script {
        /// The event id (empty for a quote).
        event: String,
        /// The rule id.
        rule: String,
        /// 1-based line inside the script, 0 when the failure is about the result.
        line: usize,
        /// 1-based column inside the script, 0 when unknown.
        column: usize,
        /// What went wrong.
        message: String,
    },
    /// An event (or basket) in JSON could not be decoded.
    #[error("event: line {line}, column {column}: {message}")]
    EventSyntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// An event decoded but one of its fields is not acceptable.
    #[error("event '{event}': {field}: {reason}")]
    InvalidEvent {
        /// The event id.
        event: String,
        /// Field path inside the event, like `lines[1].quantity`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A member state could not be decoded, has a format this release cannot
    /// read, or contradicts itself (see [`Member::from_json_str`](crate::Member::from_json_str)).
    #[error("member state: {reason}")]
    MemberState {
        /// What is wrong.
        reason: String,
    },
    /// The member belongs to another program.
    #[error("member '{member}' belongs to program '{member_program}', not '{program}'")]
    WrongProgram {
        /// The member id.
        member: String,
        /// The program named in the member state.
        member_program: String,
        /// The program asked to apply the event.
        program: String,
    },
    /// An `enroll` event was applied to a member who is already enrolled, or a
    /// member was started from an event that is not `enroll`.
    #[error("event '{event}': {reason}")]
    Enrollment {
        /// The event id.
        event: String,
        /// What is wrong.
        reason: String,
    },
    /// The event id was already applied with a different payload.
    #[error("event '{event}' was already applied with a different payload")]
    IdReusedWithDifferentPayload {
        /// The event id.
        event: String,
    },
    /// The event id was already applied, but its receipt is no longer kept in
    /// the member state (see `limits.keep_receipts`); the host has it.
    #[error("event '{event}' was already applied; its receipt is no longer kept in the member state")]
    AlreadyApplied {
        /// The event id.
        event: String,
    },
    /// The event is older than the program's late window allows, or not
    /// after an event whose id the member no longer remembers (it could be
    /// that event again).
    #[error(
        "event '{event}' at {at} is too late: the member accepts events from {oldest} (member clock {clock}; the late window and the events whose ids it forgot set that)"
    )]
    TooLate {
        /// The event id.
        event: String,
        /// The event instant.
        at: DateTime<Utc>,
        /// The member's clock (latest event instant seen).
        clock: DateTime<Utc>,
        /// The oldest instant still accepted.
        oldest: DateTime<Utc>,
    },
    /// A return, capture or void names something the member does not have.
    #[error("event '{event}': no {what} '{id}'")]
    NotFound {
        /// The event id.
        event: String,
        /// What was looked for: `purchase`, `hold`, `burn rule`, `line`.
        what: &'static str,
        /// The id that was not found.
        id: String,
    },
    /// A return asks for more than is left of the purchase.
    #[error("event '{event}': line {line} of purchase '{purchase}': return of {requested} exceeds the {left} not yet returned")]
    ReturnExceedsPurchase {
        /// The event id.
        event: String,
        /// The purchase event id.
        purchase: String,
        /// The 0-based line index in the purchase.
        line: usize,
        /// Quantity asked for.
        requested: String,
        /// Quantity still returnable.
        left: String,
    },
    /// A return came after the program's return window for that purchase.
    #[error("event '{event}': the return window of purchase '{purchase}' closed at {closed}")]
    ReturnWindowClosed {
        /// The event id.
        event: String,
        /// The purchase event id.
        purchase: String,
        /// When the window closed.
        closed: DateTime<Utc>,
    },
    /// A hold was already captured, voided or released.
    #[error("event '{event}': hold '{hold}' is already {state}")]
    HoldClosed {
        /// The event id.
        event: String,
        /// The hold id.
        hold: String,
        /// `captured`, `voided` or `released` (timed out).
        state: &'static str,
    },
    /// A burn (redeem, hold or debit) asks for more points than are available.
    #[error("event '{event}': {requested} points requested, {available} available")]
    InsufficientPoints {
        /// The event id.
        event: String,
        /// Points asked for, in the smallest unit.
        requested: i64,
        /// Points available, in the smallest unit.
        available: i64,
    },
    /// A burn breaks a limit of its burn rule (minimum, step, share of the
    /// basket, uses per day, excluded lines).
    #[error("event '{event}': burn rule '{rule}': {reason}")]
    BurnRefused {
        /// The event id.
        event: String,
        /// The burn rule id.
        rule: String,
        /// Which limit, with numbers.
        reason: String,
    },
    /// A reward cannot be taken, used or cancelled: not eligible, a limit
    /// reached, out of stock or budget, or not in a state that allows it.
    #[error("event '{event}': reward '{reward}': {reason}")]
    RewardRefused {
        /// The event id.
        event: String,
        /// The reward id.
        reward: String,
        /// Why, with numbers.
        reason: String,
    },
    /// The member's status does not allow the event (a burn while
    /// suspended, anything once closed).
    #[error("event '{event}': member '{member}' is {status}: {what} refused")]
    MemberStatus {
        /// The event id.
        event: String,
        /// The member id.
        member: String,
        /// `suspended` or `closed`.
        status: &'static str,
        /// What was refused.
        what: &'static str,
    },
    /// A sum or product left the range the engine can represent exactly.
    #[error("arithmetic overflow computing {what}")]
    Overflow {
        /// What was being computed.
        what: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the id in a program error names, from the field path.
fn what_is(path: &str) -> &'static str {
    const KINDS: [(&str, &str); 5] = [
        ("tiers.levels", "level"),
        ("rewards", "reward"),
        ("challenges", "challenge"),
        ("activities", "activity"),
        ("promotions", "promotion"),
    ];
    KINDS.iter().find(|(prefix, _)| path.starts_with(prefix)).map_or("rule", |(_, what)| what)
}

impl Error {
    pub(crate) fn invalid(path: impl Into<String>, rule: Option<&str>, reason: impl Into<String>) -> Self {
        Error::ProgramInvalid { path: path.into(), rule: rule.map(str::to_owned), reason: reason.into() }
    }

    pub(crate) fn event(event: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidEvent { event: event.to_owned(), field: field.into(), reason: reason.into() }
    }

    pub(crate) fn overflow(what: impl Into<String>) -> Self {
        Error::Overflow { what: what.into() }
    }
}

/// Turns a byte offset in `text` into a 1-based (line, column), counting
/// columns in characters.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A serde_json error in `text` as a 1-based (line, column, message): the
/// column counted in characters like [`line_column`] (serde_json counts
/// bytes), the message without serde_json's own "at line L column C".
pub(crate) fn json_error(text: &str, e: &serde_json::Error) -> (usize, usize, String) {
    let (line, bytes) = (e.line(), e.column());
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    let mut end = (start + bytes).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    // serde_json says column 0 when it fails on a line break (the end of the
    // input, a control character in a string): the column people count is 1.
    let column = text.get(start..end).map_or(bytes, |s| s.chars().count()).max(1);
    let full = e.to_string();
    let message =
        full.strip_suffix(&format!(" at line {line} column {bytes}")).map_or_else(|| full.clone(), str::to_owned);
    (line, column, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nx", 3), (2, 1));
        assert_eq!(line_column("x", 99), (1, 2));
    }

    #[test]
    fn json_columns_count_characters() {
        let text = "{\"a\": 1,\n \"é\": x}";
        let e = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 8));
        assert_eq!(json_error(text, &e), (2, 7, "expected value".to_owned()));
    }
}
