//! The bad-input table (issue 5, item 6): every bad input a host can send —
//! events, programs and member states — with the precise error it gets.
//!
//! Event rows are applied to a member with some history (a credit, a
//! purchase, a voided hold, an open hold, a return and a redeem); a refused
//! event must leave `member.to_json()` unchanged byte for byte, and a good
//! purchase applied afterwards must still earn. Program rows load the program
//! as TOML and, where the error is not about the text itself, as the same
//! program in JSON, and must fail with the variant, field path and rule id
//! (or line and column) expected. Member-state rows decode states a host
//! might hand back. Documented rows are inputs that look bad but have a
//! documented meaning (local times in a DST gap resolve to the first instant
//! after it; the year 9999 is in range): they are accepted and checked to do
//! what the docs say. One test runs every row, catching panics, and reports
//! all failures together.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use loyalty::{EntryKind, Error, Event, Member, Program};
use serde_json::json;

/// The program every event row runs against.
const SHOP: &str = r#"
id = "shop"
currency = "EUR"
time_zone = "Europe/Berlin"
categories = ["coffee", "food"]
expiry = { kind = "after", period = { months = 12 } }
limits.keep_receipts = 16

[[earn]]
id = "base"
name = "1 point per EUR"
kind = "per_amount"
points = 1
per = "1"

[[burn]]
id = "pay"
hold_timeout = { hours = 24 }
"#;

/// A check of an error: true when it is the expected one.
type Check = Rc<dyn Fn(&Error) -> bool>;

fn check(f: impl Fn(&Error) -> bool + 'static) -> Check {
    Rc::new(f)
}

/// What an event row expects.
enum Want {
    /// Refused with this error, the member unchanged.
    Refused(Check),
    /// Answered as a duplicate with the original receipt, the member unchanged.
    Duplicate,
}

struct EventRow {
    name: &'static str,
    /// The event as the host sends it (JSON), so decoding errors count too.
    json: String,
    want: Want,
}

/// `InvalidEvent` for event `bad` naming `field`, with `reason` in its text.
fn invalid(field: &'static str, reason: &'static str) -> Want {
    Want::Refused(check(
        move |e| matches!(e, Error::InvalidEvent { event, field: f, reason: r } if event == "bad" && f == field && r.contains(reason)),
    ))
}

/// `EventSyntax` at `line` with `message` in its text.
fn syntax(line: usize, message: &'static str) -> Want {
    Want::Refused(check(
        move |e| matches!(e, Error::EventSyntax { line: l, column, message: m } if *l == line && *column > 0 && m.contains(message)),
    ))
}

/// `EventSyntax` at `line` and `column` (where the bad value or unknown
/// field starts), its message starting with `field: ` and holding `message`.
fn syntax_at(line: usize, column: usize, field: &'static str, message: &'static str) -> Want {
    Want::Refused(check(move |e| {
        matches!(e, Error::EventSyntax { line: l, column: c, message: m } if (*l, *c) == (line, column)
            && m.strip_prefix(field).and_then(|rest| rest.strip_prefix(": ")).is_some_and(|rest| rest.contains(message)))
    }))
}

fn refused(f: impl Fn(&Error) -> bool + 'static) -> Want {
    Want::Refused(check(f))
}

/// A purchase event `bad` at the member's clock plus an hour, with these lines (JSON).
fn purchase(lines: &str) -> String {
    format!(r#"{{"id": "bad", "at": "2026-05-01T12:30:00Z", "type": "purchase", "lines": [{lines}]}}"#)
}

/// One line of a basket.
fn line(category: &str, quantity: &str, unit_price: &str) -> String {
    format!(r#"{{"sku": "s", "category": "{category}", "quantity": {quantity}, "unit_price": {unit_price}}}"#)
}

/// An event `bad` of `kind` at the member's clock plus an hour, with `body` (JSON fields).
fn event(kind: &str, body: &str) -> String {
    let sep = if body.is_empty() { "" } else { ", " };
    format!(r#"{{"id": "bad", "at": "2026-05-01T12:30:00Z", "type": "{kind}"{sep}{body}}}"#)
}

fn apply(p: &Program, m: &mut Member, json: &str) {
    let e = Event::from_json_str(json).unwrap_or_else(|err| panic!("{json}: {err}"));
    p.apply(m, &e).unwrap_or_else(|err| panic!("{}: {err}", e.id));
}

/// The member every event row starts from, and its history.
fn member_with_history(p: &Program) -> Member {
    let mut m = p.enroll("m-1", "2026-04-20T08:00:00Z".parse().unwrap(), Default::default()).unwrap();
    let history = [
        r#"{"id": "seed", "at": "2026-05-01T09:00:00Z", "type": "adjust", "points": 500, "reason": "seed"}"#,
        r#"{"id": "p1", "at": "2026-05-01T10:00:00Z", "type": "purchase", "order": "o-1", "lines": [
            {"sku": "latte", "category": "coffee", "quantity": "2", "unit_price": "10.00"},
            {"sku": "bun", "category": "food", "quantity": "3", "unit_price": "2.50"}]}"#,
        r#"{"id": "h1", "at": "2026-05-01T10:05:00Z", "type": "hold", "points": 100}"#,
        r#"{"id": "v1", "at": "2026-05-01T10:06:00Z", "type": "void", "hold": "h1"}"#,
        r#"{"id": "h2", "at": "2026-05-01T10:10:00Z", "type": "hold", "points": 40}"#,
        r#"{"id": "r1", "at": "2026-05-01T11:00:00Z", "type": "return", "purchase": "p1", "lines": [{"line": 0}]}"#,
        r#"{"id": "rd1", "at": "2026-05-01T11:30:00Z", "type": "redeem", "points": 30}"#,
    ];
    for json in history {
        apply(p, &mut m, json);
    }
    m.check_invariants().unwrap();
    m
}

/// A good purchase after the bad event: 10 EUR, 10 points.
const GOOD: &str = r#"{"id": "good", "at": "2026-05-01T13:00:00Z", "type": "purchase",
    "lines": [{"sku": "latte", "category": "coffee", "quantity": "1", "unit_price": "10"}]}"#;

#[rustfmt::skip]
fn event_rows(available: i64) -> Vec<EventRow> {
    let kb10 = "x".repeat(10 * 1024);
    let decimals30 = "\"0.000000000000000000000000000001\"";
    let rows = vec![
        // Numbers.
        ("quantity with 30 decimal places", purchase(&line("coffee", decimals30, "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "more than 12 fraction digits")),
        ("unit_price with 30 decimal places", purchase(&line("coffee", "\"1\"", "\"1.000000000000000000000000000001\"")), syntax_at(1, 141, "lines[0].unit_price", "more than 12 fraction digits")),
        ("30 decimal places as a JSON number", purchase(&line("coffee", "1.000000000000000000000000000001", "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "a floating-point number (read as 1); write amounts as strings")),
        ("quantity \"1e3\"", purchase(&line("coffee", "\"1e3\"", "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "no exponent")),
        ("quantity 1e3 as a JSON number", purchase(&line("coffee", "1e3", "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "a floating-point number (read as 1000)")),
        ("unit_price \"NaN\"", purchase(&line("coffee", "\"1\"", "\"NaN\"")), syntax_at(1, 141, "lines[0].unit_price", "is not an exact decimal amount")),
        ("unit_price NaN as a JSON literal", purchase(&line("coffee", "\"1\"", "NaN")), syntax(1, "expected value")),
        ("quantity \"inf\"", purchase(&line("coffee", "\"inf\"", "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "is not an exact decimal amount")),
        ("quantity with a full-width digit", purchase(&line("coffee", "\"\u{ff11}\"", "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "is not an exact decimal amount")),
        ("unit_price with a full-width digit", purchase(&line("coffee", "\"1\"", "\"1\u{ff10}\"")), syntax_at(1, 141, "lines[0].unit_price", "is not an exact decimal amount")),
        ("quantity \"+1\"", purchase(&line("coffee", "\"+1\"", "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "sign '+'")),
        ("quantity \" 1\"", purchase(&line("coffee", "\" 1\"", "\"1\"")), syntax_at(1, 122, "lines[0].quantity", "spaces")),
        ("negative quantity", purchase(&line("coffee", "\"-1\"", "\"1\"")), invalid("lines[0].quantity", "must be greater than zero, not -1")),
        ("zero quantity", purchase(&line("coffee", "\"0\"", "\"1\"")), invalid("lines[0].quantity", "must be greater than zero")),
        ("negative quantity on the second line", purchase(&format!("{}, {}", line("coffee", "\"1\"", "\"1\""), line("food", "\"-0.5\"", "\"1\""))), invalid("lines[1].quantity", "not -0.5")),
        ("negative unit_price", purchase(&line("coffee", "\"1\"", "\"-10\"")), invalid("lines[0].unit_price", "must not be negative")),
        ("negative discount", purchase(r#"{"sku": "s", "category": "coffee", "quantity": "1", "unit_price": "10", "discount": "-1"}"#), invalid("lines[0].discount", "must not be negative")),
        ("discount above the line's price", purchase(r#"{"sku": "s", "category": "coffee", "quantity": "2", "unit_price": "10", "discount": "20.01"}"#), invalid("lines[0].discount", "more than the line's price 20")),
        ("16 integer digits", purchase(&line("coffee", "\"1\"", "\"1000000000000000\"")), syntax_at(1, 141, "lines[0].unit_price", "more than 15 integer digits")),
        ("unit_price × quantity overflows", purchase(&line("coffee", "\"999999999999999\"", "\"999999999999999\"")), invalid("lines[0].quantity", "unit_price × quantity is too large")),
        ("unit_price × quantity needs 13 decimal places", purchase(&line("coffee", "\"0.0000001\"", "\"0.000001\"")), invalid("lines[0].quantity", "more than 12 decimal places")),
        ("basket total overflows", purchase(&format!("{}, {}", line("coffee", "\"1\"", "\"600000000000000\""), line("food", "\"1\"", "\"600000000000000\""))), invalid("lines", "more than 15 integer digits")),
        ("credit that overflows the totals", event("adjust", r#""points": 9223372036854775807, "reason": "goodwill""#), refused(|e| matches!(e, Error::Overflow { .. }))),
        ("debit of i64::MIN", event("adjust", r#""points": -9223372036854775808, "reason": "fix""#), refused(|e| matches!(e, Error::Overflow { what } if what == "adjusted points"))),
        ("points past i64", event("adjust", r#""points": 9223372036854775808, "reason": "fix""#), syntax_at(1, 73, "points", "invalid value")),
        ("points as a float", event("redeem", r#""points": 10.5"#), syntax_at(1, 73, "points", "invalid type: floating point")),
        ("adjust of zero points", event("adjust", r#""points": 0, "reason": "fix""#), invalid("points", "must not be zero")),
        ("redeem of negative points", event("redeem", r#""points": -5"#), invalid("points", "must be greater than zero, not -5")),
        ("redeem of zero points", event("redeem", r#""points": 0"#), invalid("points", "must be greater than zero, not 0")),
        ("hold of negative points", event("hold", r#""points": -1"#), invalid("points", "must be greater than zero, not -1")),
        // Ids.
        ("empty event id", GOOD.replacen("\"good\"", "\"\"", 1), refused(|e| matches!(e, Error::InvalidEvent { event, field, reason } if event.is_empty() && field == "id" && reason == "must not be empty"))),
        ("10 KB event id", GOOD.replacen("good", &kb10, 1), refused(|e| matches!(e, Error::InvalidEvent { event, field, reason } if event.len() == 10 * 1024 && field == "id" && reason.contains("longer than 128 bytes")))),
        ("event id with a control character", GOOD.replacen("good", "go\\u0000od", 1), refused(|e| matches!(e, Error::InvalidEvent { field, reason, .. } if field == "id" && reason.contains("control character")))),
        ("empty sku", purchase(r#"{"sku": "", "category": "coffee", "quantity": "1", "unit_price": "1"}"#), invalid("lines[0].sku", "must not be empty")),
        ("10 KB sku", purchase(&format!(r#"{{"sku": "{kb10}", "category": "coffee", "quantity": "1", "unit_price": "1"}}"#)), invalid("lines[0].sku", "longer than 128 bytes")),
        ("empty category", purchase(&line("", "\"1\"", "\"1\"")), invalid("lines[0].category", "category '' is not declared")),
        ("10 KB category", purchase(&line(&kb10, "\"1\"", "\"1\"")), invalid("lines[0].category", "is not declared by the program")),
        ("10 KB order", event("purchase", &format!(r#""order": "{kb10}", "lines": [{}]"#, line("coffee", "\"1\"", "\"1\""))), invalid("order", "longer than 128 bytes")),
        ("empty order on a redeem", event("redeem", r#""points": 10, "order": """#), invalid("order", "must not be empty")),
        ("empty adjust reason", event("adjust", r#""points": 5, "reason": """#), invalid("reason", "must not be empty")),
        ("10 KB adjust reason", event("adjust", &format!(r#""points": 5, "reason": "{kb10}""#)), invalid("reason", "longer than 128 bytes")),
        ("10 KB adjust note", event("adjust", &format!(r#""points": 5, "reason": "fix", "note": "{kb10}""#)), invalid("note", "longer than 1024 bytes")),
        ("order already settled by another purchase", event("purchase", &format!(r#""order": "o-1", "lines": [{}]"#, line("coffee", "\"1\"", "\"1\""))), invalid("order", "order 'o-1' was already settled by purchase 'p1'")),
        ("more than 1000 lines", purchase(&vec![line("coffee", "\"1\"", "\"1\""); 1001].join(", ")), invalid("lines", "more than 1000 lines")),
        // Look-alikes: a Cyrillic letter is another text.
        ("category with a Cyrillic 'о'", purchase(&line("c\u{43e}ffee", "\"1\"", "\"1\"")), invalid("lines[0].category", "category 'c\u{43e}ffee' is not declared")),
        ("return of a purchase id with a Cyrillic 'р'", event("return", "\"purchase\": \"\u{440}1\""), refused(|e| matches!(e, Error::NotFound { event, what, id } if event == "bad" && what.starts_with("purchase") && id == "\u{440}1"))),
        ("capture of a hold id with a Cyrillic 'һ'", event("capture", "\"hold\": \"\u{4bb}2\""), refused(|e| matches!(e, Error::NotFound { event, what: "hold", id } if event == "bad" && id == "\u{4bb}2"))),
        ("redeem by a burn rule with a Cyrillic 'а'", event("redeem", "\"points\": 10, \"rule\": \"p\u{430}y\""), refused(|e| matches!(e, Error::NotFound { event, what: "burn rule", id } if event == "bad" && id == "p\u{430}y"))),
        // The position is the start of the `type` value (columns count characters: see the unit tests of src/event.rs).
        ("event type with a Cyrillic 'е'", event("advanc\u{435}", ""), refused(|e| matches!(e, Error::EventSyntax { line: 1, column: 53, message } if message.starts_with("type: unknown variant `advanc\u{435}`, expected one of `enroll`")))),
        // Time.
        ("time going backwards past the late window", GOOD.replacen("2026-05-01T13:00:00Z", "2026-04-28T11:29:59Z", 1), refused(|e| matches!(e, Error::TooLate { event, at, clock, oldest } if event == "good" && at.to_rfc3339() == "2026-04-28T11:29:59+00:00" && clock.to_rfc3339() == "2026-05-01T11:30:00+00:00" && oldest.to_rfc3339() == "2026-04-28T11:30:00+00:00"))),
                ("the year 10000", GOOD.replacen("2026-05-01T13:00:00Z", "10000-01-01T00:00:00Z", 1), syntax_at(1, 22, "at", "input contains invalid characters")),
        ("a fraction of a second past the year 9999", GOOD.replacen("2026-05-01T13:00:00Z", "9999-12-31T23:59:59.5Z", 1), refused(|e| matches!(e, Error::InvalidEvent { event, field, reason } if event == "good" && field == "at" && reason.contains("outside 1900-01-01T00:00:00Z to 9999-12-31T23:59:59Z")))),
        ("before the year 1900", GOOD.replacen("2026-05-01T13:00:00Z", "1899-12-31T23:59:59Z", 1), refused(|e| matches!(e, Error::InvalidEvent { field, .. } if field == "at"))),
        ("February 30", GOOD.replacen("2026-05-01T13:00:00Z", "2026-02-30T10:00:00Z", 1), syntax_at(1, 22, "at", "input is out of range")),
        ("an instant without an offset", GOOD.replacen("2026-05-01T13:00:00Z", "2026-05-01T13:00:00", 1), syntax_at(1, 22, "at", "premature end of input")),
        ("a return before its purchase", r#"{"id": "bad", "at": "2026-05-01T09:30:00Z", "type": "return", "purchase": "p1"}"#.to_owned(), invalid("at", "a return cannot precede its purchase")),
        // Returns.
        ("return larger than the purchase", event("return", r#""purchase": "p1", "lines": [{"line": 1, "quantity": "4"}]"#), refused(|e| matches!(e, Error::ReturnExceedsPurchase { event, purchase, line: 1, requested, left } if event == "bad" && purchase == "p1" && requested == "4" && left == "3"))),
        ("return whose repeated lines add up to too much", event("return", r#""purchase": "p1", "lines": [{"line": 1, "quantity": "2"}, {"line": 1, "quantity": "1.5"}]"#), refused(|e| matches!(e, Error::ReturnExceedsPurchase { line: 1, requested, left, .. } if requested == "3.5" && left == "3"))),
        ("the same return twice", r#"{"id": "r1", "at": "2026-05-01T11:00:00Z", "type": "return", "purchase": "p1", "lines": [{"line": 0}]}"#.to_owned(), Want::Duplicate),
        ("the same return id with another payload", r#"{"id": "r1", "at": "2026-05-01T11:00:00Z", "type": "return", "purchase": "p1", "lines": [{"line": 1}]}"#.to_owned(), refused(|e| matches!(e, Error::IdReusedWithDifferentPayload { event } if event == "r1"))),
        ("a new return of units already returned", event("return", r#""purchase": "p1", "lines": [{"line": 0, "quantity": "1"}]"#), refused(|e| matches!(e, Error::ReturnExceedsPurchase { line: 0, requested, left, .. } if requested == "1" && left == "0"))),
        ("a new return of a whole line already returned", event("return", r#""purchase": "p1", "lines": [{"line": 0}]"#), refused(|e| matches!(e, Error::ReturnExceedsPurchase { line: 0, left, .. } if left == "0"))),
        ("return of negative units", event("return", r#""purchase": "p1", "lines": [{"line": 1, "quantity": "-1"}]"#), invalid("lines[0].quantity", "must be greater than zero, not -1")),
        ("return of a line the purchase does not have", event("return", r#""purchase": "p1", "lines": [{"line": 1}, {"line": 7}]"#), refused(|e| matches!(e, Error::NotFound { what: "line", id, .. } if id == "7 (lines[1].line)"))),
        ("return of an unknown purchase", event("return", r#""purchase": "p9""#), refused(|e| matches!(e, Error::NotFound { event, what, id } if event == "bad" && what.starts_with("purchase") && id == "p9"))),
        ("return of a negative line index", event("return", r#""purchase": "p1", "lines": [{"line": -1}]"#), syntax_at(1, 100, "lines[0].line", "invalid value: integer `-1`")),
        // Holds.
        ("capture after a void", event("capture", r#""hold": "h1""#), refused(|e| matches!(e, Error::HoldClosed { event, hold, state: "voided" } if event == "bad" && hold == "h1"))),
        ("void after a void", event("void", r#""hold": "h1""#), refused(|e| matches!(e, Error::HoldClosed { hold, state: "voided", .. } if hold == "h1"))),
        ("capture of more than held", event("capture", r#""hold": "h2", "points": 41"#), invalid("points", "must be from 1 to the 40 held, not 41")),
        ("capture of an unknown hold", event("capture", r#""hold": "h9""#), refused(|e| matches!(e, Error::NotFound { event, what: "hold", id } if event == "bad" && id == "h9"))),
        ("void of an unknown hold", event("void", r#""hold": "h9""#), refused(|e| matches!(e, Error::NotFound { what: "hold", id, .. } if id == "h9"))),
        ("capture naming a purchase as its hold", event("capture", r#""hold": "p1""#), refused(|e| matches!(e, Error::NotFound { what: "hold", id, .. } if id == "p1"))),
        // Burns.
        ("redeem more than available", event("redeem", r#""points": 100000"#), refused(move |e| matches!(e, Error::InsufficientPoints { event, requested: 100000, available: a } if event == "bad" && *a == available))),
        ("redeem one more than available", event("redeem", &format!(r#""points": {}"#, available + 1)), refused(move |e| matches!(e, Error::InsufficientPoints { available: a, .. } if *a == available))),
        ("hold more than available", event("hold", r#""points": 100000"#), refused(|e| matches!(e, Error::InsufficientPoints { requested: 100000, .. }))),
        ("debit more than available", event("adjust", r#""points": -100000, "reason": "fix""#), refused(move |e| matches!(e, Error::InsufficientPoints { requested: 100000, available: a, .. } if *a == available))),
        ("hold by an unknown burn rule", event("hold", r#""points": 10, "rule": "nope""#), refused(|e| matches!(e, Error::NotFound { what: "burn rule", id, .. } if id == "nope"))),
        // Decoding.
        ("unknown event type", event("teleport", ""), syntax_at(1, 53, "type", "unknown variant `teleport`")),
        ("unknown field in a purchase", event("purchase", r#""lines": [], "colour": "red""#), syntax_at(1, 78, "colour", "unknown field `colour`")),
        ("unknown field in a line", purchase(r#"{"sku": "s", "category": "coffee", "quantity": "1", "unit_price": "1", "vat": "20"}"#), syntax_at(1, 146, "lines[0].vat", "unknown field `vat`")),
        ("unknown field in an advance", event("advance", r#""colour": "red""#), syntax_at(1, 64, "colour", "unknown field `colour`")),
        ("missing type", r#"{"id": "bad", "at": "2026-05-01T12:30:00Z"}"#.to_owned(), syntax(1, "missing field `type`")),
        ("missing at", r#"{"id": "bad", "type": "advance"}"#.to_owned(), syntax(1, "missing field `at`")),
        ("missing lines", event("purchase", ""), syntax(1, "missing field `lines`")),
        ("not JSON", "id = \"bad\"".to_owned(), syntax(1, "expected value")),
        ("a second enroll", event("enroll", r#""member": "m-1""#), refused(|e| matches!(e, Error::Enrollment { event, reason } if event == "bad" && reason.contains("already enrolled")))),
    ];
    rows.into_iter().map(|(name, json, want)| EventRow { name, json, want }).collect()
}

/// Runs one event row; `Err` says what went wrong.
fn run_event_row(p: &Program, base: &Member, row: &EventRow) -> Result<(), String> {
    let mut m = base.clone();
    let before = m.to_json();
    let decoded = Event::from_json_str(&row.json);
    let outcome = match &decoded {
        Ok(e) => p.apply(&mut m, e).map(|a| a.duplicate),
        Err(err) => Err(err.clone()),
    };
    match (&row.want, outcome) {
        (Want::Refused(ok), Err(err)) if ok(&err) => {}
        (Want::Refused(_), Err(err)) => return Err(format!("wrong error: {err:?}")),
        (Want::Refused(_), Ok(_)) => return Err("accepted".into()),
        (Want::Duplicate, Ok(true)) => {}
        (Want::Duplicate, other) => return Err(format!("not a duplicate: {other:?}")),
    }
    if m.to_json() != before {
        return Err("the member changed".into());
    }
    m.check_invariants()?;
    let good = Event::from_json_str(GOOD).map_err(|e| e.to_string())?;
    match p.apply(&mut m, &good) {
        Ok(a) if !a.duplicate && a.receipt.total(EntryKind::Earn) == 10 => Ok(()),
        Ok(a) => Err(format!("the good purchase after it earned {}", a.receipt.total(EntryKind::Earn))),
        Err(e) => Err(format!("the good purchase after it failed: {e}")),
    }
}

/// The start of every program row: four lines, so a row's own text starts on line 5.
const BASE: &str =
    "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"Europe/Berlin\"\ncategories = [\"coffee\", \"food\"]\n";

/// The start of every JSON program row, on line 1; a row's own text starts on line 2.
const JSON_BASE: &str =
    r#"{"id": "p", "currency": "EUR", "time_zone": "Europe/Berlin", "categories": ["coffee", "food"],"#;

enum Format {
    Toml,
    Json,
}

struct ProgramRow {
    name: String,
    format: Format,
    text: String,
    want: Check,
}

/// `ProgramInvalid` naming `path` and `rule`, with `reason` in its text.
fn at_path(path: &'static str, rule: Option<&'static str>, reason: &'static str) -> Check {
    check(
        move |e| matches!(e, Error::ProgramInvalid { path: p, rule: r, reason: why } if p == path && r.as_deref() == rule && why.contains(reason)),
    )
}

/// `ProgramSyntax` at `line` and `column`, with `message` in its text.
fn at_text(line: usize, column: usize, message: &'static str) -> Check {
    check(
        move |e| matches!(e, Error::ProgramSyntax { line: l, column: c, message: m } if (*l, *c) == (line, column) && m.contains(message)),
    )
}

/// The same program as TOML and as JSON: errors about what the program
/// says, not how it is written, are the same in both.
fn toml_and_json(rows: &mut Vec<ProgramRow>, name: &str, toml: String, want: Check) {
    let value: toml::Value = toml::from_str(&toml).unwrap_or_else(|e| panic!("{name}: {e}"));
    let json = serde_json::to_string_pretty(&value).unwrap();
    rows.push(ProgramRow { name: format!("{name} (JSON)"), format: Format::Json, text: json, want: want.clone() });
    rows.push(ProgramRow { name: format!("{name} (TOML)"), format: Format::Toml, text: toml, want });
}

fn base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

const FIXED_A: &str = "[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 5\n";

#[rustfmt::skip]
fn program_rows() -> Vec<ProgramRow> {
    let kb10 = "x".repeat(10 * 1024);
    let mut rows = Vec::new();
    let invalid: Vec<(&str, String, Check)> = vec![
        // Duplicate ids.
        ("an earn rule id used twice", base(&format!("{FIXED_A}{FIXED_A}")), at_path("earn[1].id", Some("a"), "rule id is used twice")),
        ("a burn rule id taken by an earn rule", base(&format!("{FIXED_A}[[burn]]\nid = \"a\"\n")), at_path("burn[0].id", Some("a"), "rule id is used twice")),
        ("a category declared twice", "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"UTC\"\ncategories = [\"coffee\", \"food\", \"coffee\"]\n".into(), at_path("categories[2]", None, "category 'coffee' is declared twice")),
        ("a tier level id used twice", base("[tiers]\nmeasure = \"spend\"\nwindow = \"lifetime\"\n[[tiers.levels]]\nid = \"base\"\n[[tiers.levels]]\nid = \"base\"\n"), at_path("tiers.levels[1].id", Some("base"), "level id is used twice")),
        // Negative or zero rates.
        ("zero points per amount", base("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 0\nper = \"10\"\n"), at_path("earn[0].points", Some("a"), "must be greater than zero, not 0")),
        ("negative points per amount", base("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = -1\nper = \"10\"\n"), at_path("earn[0].points", Some("a"), "must be greater than zero, not -1")),
        ("a negative per", base("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 1\nper = \"-10\"\n"), at_path("earn[0].per", Some("a"), "must be greater than zero, not -10")),
        ("a zero per", base("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 1\nper = \"0.00\"\n"), at_path("earn[0].per", Some("a"), "must be greater than zero")),
        ("a zero percent", base("[[earn]]\nid = \"c\"\nkind = \"percent\"\npercent = \"0\"\n"), at_path("earn[0].percent", Some("c"), "must be greater than zero, not 0")),
        ("a negative percent", base("[[earn]]\nid = \"c\"\nkind = \"percent\"\npercent = \"-5\"\n"), at_path("earn[0].percent", Some("c"), "must be greater than zero, not -5")),
        ("a percent over 100", base("[[earn]]\nid = \"c\"\nkind = \"percent\"\npercent = \"100.01\"\n"), at_path("earn[0].percent", Some("c"), "a percent is at most 100")),
        ("a multiplier factor of 1", base("[[earn]]\nid = \"m\"\nkind = \"multiplier\"\nfactor = \"1\"\n"), at_path("earn[0].factor", Some("m"), "must be greater than 1")),
        ("a negative multiplier factor", base("[[earn]]\nid = \"m\"\nkind = \"multiplier\"\nfactor = \"-2\"\n"), at_path("earn[0].factor", Some("m"), "not -2")),
        ("a negative fixed bonus", base("[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = -5\n"), at_path("earn[0].points", Some("a"), "must be greater than zero, not -5")),
        ("a negative cap", base(&format!("{FIXED_A}caps.per_day = -5\n")), at_path("earn[0].caps.per_day", Some("a"), "must be greater than zero, not -5")),
        ("a negative min_basket", base(&format!("{FIXED_A}when.min_basket = \"-1\"\n")), at_path("earn[0].when.min_basket", Some("a"), "must not be negative")),
        ("a zero burn value", base("[[burn]]\nid = \"b\"\nvalue = \"0\"\n"), at_path("burn[0].value", Some("b"), "must be greater than zero, not 0")),
        ("a negative burn minimum", base("[[burn]]\nid = \"b\"\nmin_points = -1\n"), at_path("burn[0].min_points", Some("b"), "must not be negative")),
        ("a zero burn step", base("[[burn]]\nid = \"b\"\nstep_points = 0\n"), at_path("burn[0].step_points", Some("b"), "must be greater than zero, not 0")),
        ("a zero share payable in points", base("[[burn]]\nid = \"b\"\nmax_share_percent = \"0\"\n"), at_path("burn[0].max_share_percent", Some("b"), "must be greater than zero")),
        ("a zero point value", base("points.value = \"0\"\n"), at_path("points.value", None, "must be greater than zero, not 0")),
        ("a negative point value", base("points.value = \"-0.01\"\n"), at_path("points.value", None, "not -0.01")),
        ("a point scale of 5", base("points.scale = 5\n"), at_path("points.scale", None, "at most 4, not 5")),
        // Empty windows.
        ("an empty time-of-day window", base(&format!("{FIXED_A}when.time_of_day = {{ from = \"15:00\", until = \"15:00\" }}\n")), at_path("earn[0].when.time_of_day", Some("a"), "empty window: from 15:00 until 15:00")),
        ("an empty date range", base(&format!("{FIXED_A}when.from = \"2027-01-02\"\nwhen.until = \"2027-01-01\"\n")), at_path("earn[0].when", Some("a"), "empty date range: from 2027-01-02 is after until 2027-01-01")),
        ("a late window over 31 days", base("limits.late_window = { days = 32 }\n"), at_path("limits.late_window", None, "at most 31 days")),
        ("a late window of a month", base("limits.late_window = { months = 1 }\n"), at_path("limits.late_window", None, "at most 31 days")),
        // Time zones.
        ("an unknown time zone", "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"Mars/Olympus\"\n".into(), at_path("time_zone", None, "'Mars/Olympus' is not an IANA time zone")),
        ("a time zone with a Cyrillic 'і'", "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"Europe/Berl\u{456}n\"\n".into(), at_path("time_zone", None, "is not an IANA time zone")),
        ("a time zone written as an offset", "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"+03:00\"\n".into(), at_path("time_zone", None, "'+03:00' is not an IANA time zone")),
        ("an empty time zone", "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"\"\n".into(), at_path("time_zone", None, "'' is not an IANA time zone")),
        // References to what is not defined.
        ("a multiplier of an undefined rule", base("[[earn]]\nid = \"m\"\nkind = \"multiplier\"\nfactor = \"2\"\napplies_to = [\"nope\"]\n"), at_path("earn[0].applies_to[0]", Some("m"), "no earn rule 'nope'")),
        ("a multiplier of a look-alike rule id", base("[[earn]]\nid = \"base\"\nkind = \"per_amount\"\npoints = 1\nper = \"1\"\n[[earn]]\nid = \"m\"\nkind = \"multiplier\"\nfactor = \"2\"\napplies_to = [\"base\", \"b\u{430}se\"]\n"), at_path("earn[1].applies_to[1]", Some("m"), "no earn rule 'b\u{430}se'")),
        ("a multiplier of a fixed bonus", base(&format!("{FIXED_A}[[earn]]\nid = \"m\"\nkind = \"multiplier\"\nfactor = \"2\"\napplies_to = [\"a\"]\n")), at_path("earn[1].applies_to[0]", Some("m"), "rule 'a' is a")),
        ("an undefined category", base(&format!("{FIXED_A}when.categories = [\"tea\"]\n")), at_path("earn[0].when.categories[0]", Some("a"), "category 'tea' is not declared in `categories`")),
        ("a category with a Cyrillic 'о'", base(&format!("{FIXED_A}when.categories = [\"food\", \"c\u{43e}ffee\"]\n")), at_path("earn[0].when.categories[1]", Some("a"), "category 'c\u{43e}ffee' is not declared")),
        ("an undefined excluded category", base(&format!("{FIXED_A}when.exclude_categories = [\"food\", \"tea\"]\n")), at_path("earn[0].when.exclude_categories[1]", Some("a"), "category 'tea'")),
        ("a category both included and excluded", base(&format!("{FIXED_A}when.categories = [\"food\"]\nwhen.exclude_categories = [\"food\"]\n")), at_path("earn[0].when", Some("a"), "category 'food' is both included and excluded")),
        ("an undefined category in the earning base", base("earning_base.exclude_categories = [\"alcohol\"]\n"), at_path("earning_base.exclude_categories[0]", None, "category 'alcohol'")),
        ("an undefined category in a burn rule", base("[[burn]]\nid = \"b\"\nexclude_categories = [\"alcohol\"]\n"), at_path("burn[0].exclude_categories[0]", Some("b"), "category 'alcohol'")),
        ("an undefined tier level", base(&format!("{FIXED_A}when.tiers = [\"gold\"]\n")), at_path("earn[0].when.tiers[0]", Some("a"), "no tier level 'gold'")),
        ("an undefined promotion", base(&format!("{FIXED_A}when.chosen = \"double-day\"\n")), at_path("earn[0].when.chosen", Some("a"), "no promotion 'double-day'")),
        ("an undefined partner", base(&format!("{FIXED_A}when.partners = [\"acme\"]\n")), at_path("earn[0].when.partners[0]", Some("a"), "partner 'acme' is not declared")),
        ("an undefined campaign variant", base(&format!("{FIXED_A}when.variants = [\"spring/b\"]\n")), at_path("earn[0].when.variants[0]", Some("a"), "no campaign variant 'spring/b'")),
        // Ids and codes.
        ("an empty rule id", base("[[earn]]\nid = \"\"\nkind = \"fixed\"\npoints = 5\n"), at_path("earn[0].id", None, "must not be empty")),
        ("a 10 KB rule id", base(&format!("[[earn]]\nid = \"{kb10}\"\nkind = \"fixed\"\npoints = 5\n")), at_path("earn[0].id", None, "longer than 128 bytes")),
        ("a 10 KB category", format!("id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"UTC\"\ncategories = [\"coffee\", \"{kb10}\"]\n"), at_path("categories[1]", None, "longer than 128 bytes")),
        ("an empty program id", "id = \"\"\ncurrency = \"EUR\"\ntime_zone = \"UTC\"\n".into(), at_path("id", None, "must not be empty")),
        ("a lower-case currency", "id = \"p\"\ncurrency = \"eur\"\ntime_zone = \"UTC\"\n".into(), at_path("currency", None, "'eur' is not an ISO 4217 code")),
        ("a currency with a Cyrillic 'Е'", "id = \"p\"\ncurrency = \"\u{415}UR\"\ntime_zone = \"UTC\"\n".into(), at_path("currency", None, "is not an ISO 4217 code")),
    ];
    for (name, toml, want) in invalid {
        toml_and_json(&mut rows, name, toml, want);
    }
    // How the text is written: TOML and JSON each name the line and column.
    let earn = |tail: &str| base(&format!("[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 1\n{tail}"));
    let json_earn = |tail: &str| format!("{JSON_BASE}\n \"earn\": [{{\"id\": \"a\", \"kind\": \"per_amount\", \"points\": 1,\n   {tail}}}]}}");
    let syntax: Vec<(&str, Format, String, Check)> = vec![
        ("an unknown top-level field", Format::Toml, base("colour = \"red\"\n"), at_text(5, 1, "unknown field `colour`")),
        ("an unknown top-level field", Format::Json, format!("{JSON_BASE}\n \"colour\": \"red\"}}"), at_text(2, 9, "unknown field `colour`")),
        ("an unknown field in a rule", Format::Toml, earn("per = \"1\"\ncolour = \"red\"\n"), at_text(10, 1, "unknown field `colour`")),
        ("an unknown field in a rule", Format::Json, json_earn("\"per\": \"1\", \"colour\": \"red\""), at_text(3, 23, "unknown field `colour`")),
        ("an unknown field in a rule's conditions", Format::Toml, earn("per = \"1\"\nwhen.colour = \"red\"\n"), at_text(10, 6, "unknown field `colour`")),
        ("an unknown rule kind", Format::Toml, base("[[earn]]\nid = \"a\"\nkind = \"per_amountt\"\n"), at_text(7, 8, "unknown variant `per_amountt`")),
        ("a rate with 30 decimal places", Format::Toml, earn("per = \"0.000000000000000000000000000001\"\n"), at_text(9, 7, "more than 12 fraction digits")),
        ("a rate with 30 decimal places", Format::Json, json_earn("\"per\": \"0.000000000000000000000000000001\""), at_text(3, 44, "more than 12 fraction digits")),
        ("a rate written 1e3", Format::Toml, earn("per = 1e3\n"), at_text(9, 7, "floating-point")),
        ("a rate written 1e3", Format::Json, json_earn("\"per\": 1e3"), at_text(3, 13, "floating-point")),
        ("a rate written \"1e3\"", Format::Toml, earn("per = \"1e3\"\n"), at_text(9, 7, "no exponent")),
        ("a rate written \"1e3\"", Format::Json, json_earn("\"per\": \"1e3\""), at_text(3, 15, "no exponent")),
        ("a NaN rate", Format::Toml, earn("per = nan\n"), at_text(9, 7, "floating-point")),
        ("a NaN rate", Format::Json, json_earn("\"per\": NaN"), at_text(3, 11, "expected value")),
        ("a rate \"NaN\"", Format::Toml, earn("per = \"NaN\"\n"), at_text(9, 7, "is not an exact decimal amount")),
        ("a rate with a full-width digit", Format::Toml, earn("per = \"\u{ff11}0\"\n"), at_text(9, 7, "is not an exact decimal amount")),
        ("a rate with a full-width digit", Format::Json, json_earn("\"per\": \"\u{ff11}0\""), at_text(3, 14, "'\u{ff11}0' is not an exact decimal amount")),
        ("points as a float", Format::Toml, base("[[earn]]\nid = \"a\"\nkind = \"fixed\"\npoints = 1.5\n"), at_text(8, 10, "invalid type: floating point")),
        ("points as a float", Format::Json, format!("{JSON_BASE}\n \"earn\": [{{\"id\": \"a\", \"kind\": \"fixed\", \"points\": 1.5}}]}}"), at_text(2, 52, "invalid type: floating point `1.5`")),
        ("a zero pending period", Format::Toml, base("pending = { hours = 0 }\n"), at_text(5, 11, "a period must be longer than zero")),
        ("a zero pending period", Format::Json, format!("{JSON_BASE}\n \"pending\": {{\"hours\": 0}}}}"), at_text(2, 25, "a period must be longer than zero")),
        ("a period of two units", Format::Toml, base("limits.late_window = { days = 1, hours = 2 }\n"), at_text(5, 22, "exactly one of")),
        ("a time of day 25:00", Format::Toml, base(&format!("{FIXED_A}when.time_of_day = {{ from = \"25:00\", until = \"26:00\" }}\n")), at_text(9, 29, "'25:00' is not a time of day")),
        ("30 February", Format::Toml, base(&format!("{FIXED_A}when.from = \"2027-02-30\"\n")), at_text(9, 13, "input is out of range")),
        ("a key given twice", Format::Toml, base("id = \"q\"\n"), at_text(5, 1, "duplicate key `id`")),
        ("a trailing comma", Format::Json, format!("{JSON_BASE}\n \"earn\": [],}}"), at_text(2, 13, "trailing comma")),
    ];
    for (name, format, text, want) in syntax {
        let suffix = match format {
            Format::Toml => "TOML",
            Format::Json => "JSON",
        };
        rows.push(ProgramRow { name: format!("{name} ({suffix})"), format, text, want });
    }
    rows
}

fn run_program_row(row: &ProgramRow) -> Result<(), String> {
    let loaded = match row.format {
        Format::Toml => Program::from_toml_str(&row.text),
        Format::Json => Program::from_json_str(&row.text),
    };
    match loaded {
        Err(e) if (row.want)(&e) => Ok(()),
        Err(e) => Err(format!("wrong error: {e:?}")),
        Ok(_) => Err("loaded".into()),
    }
}

/// Member states a host may hand back: each refused with `MemberState`.
#[rustfmt::skip]
fn member_rows(good: &str) -> Vec<(&'static str, String, Check)> {
    let state = |reason: &'static str| check(move |e| matches!(e, Error::MemberState { reason: r } if r.contains(reason)));
    vec![
        ("an unknown format version", good.replacen("\"format\":1,", "\"format\":2,", 1), state("format 2 is not readable by this release (it reads format 1)")),
        ("format version 0", good.replacen("\"format\":1,", "\"format\":0,", 1), state("format 0 is not readable")),
        ("a negative format version", good.replacen("\"format\":1,", "\"format\":-1,", 1), state("invalid value: integer `-1`")),
        ("no format version", good.replacen("\"format\":1,", "", 1), state("missing field `format`")),
        ("an unknown field", good.replacen("\"format\":1,", "\"format\":1,\"colour\":\"red\",", 1), state("unknown field `colour`")),
        ("a truncated state", good[..good.len() / 2].to_owned(), state("EOF while parsing")),
        ("not JSON", "format = 1".to_owned(), state("line 1, column 2: expected ident")),
        ("a format that is not a number", good.replacen("\"format\":1,", "\"format\":\"1\",", 1), state("line 1, column 13: format: invalid type: string \"1\", expected u32")),
        ("a lot's instant that is not one", good.replacen("\"earned_at\":\"", "\"earned_at\":\"yesterday ", 1), state(": lots[0].earned_at: input contains invalid characters")),
        ("a lot's points that are text", good.replacen("\"remaining\":", "\"remaining\":\"ten\",\"x\":", 1), state(": lots[0].remaining: invalid type: string \"ten\", expected i64")),
        // States that decode but contradict themselves (the checks of `Member::from_json_str`).
        ("a clock past the year 9999", edit(good, |m| m["clock"] = json!("+262142-01-01T00:00:00Z")), state("clock: +262142-01-01T00:00:00+00:00 is outside 1900-01-01T00:00:00Z to 9999-12-31T23:59:59Z")),
        ("a lot expiring in the year 262142", edit(good, |m| m["lots"][0]["expires_at"] = json!("+262142-01-01T00:00:00Z")), state("lots[0].expires_at: +262142-01-01 is outside the years 1000 to 99999")),
        ("lots holding nothing for an open hold", edit(good, |m| for lot in m["lots"].as_array_mut().unwrap() { lot.as_object_mut().unwrap().remove("held"); }), state(".held: 0 points, but the open holds reserve 40 from it")),
        ("an open hold taking from a lot the member does not have", edit(good, |m| open_hold(m)["takes"][0]["lot"] = json!(999)), state("].takes[0].lot: the member has no lot 999")),
        ("an open hold whose takes are not its points", edit(good, |m| open_hold(m)["points"] = json!(41)), state("].takes: they take 40 points, the hold is of 41")),
        ("two lots with one number", edit(good, |m| m["lots"][1]["seq"] = m["lots"][0]["seq"].clone()), state("lots[1].seq: lot 1 appears twice")),
        ("a lot numbered past next_lot", edit(good, |m| m["next_lot"] = json!(1)), state("lots[0].seq: 1 is not below next_lot 1")),
        ("next_lot at the end of u64", edit(good, |m| m["next_lot"] = json!(u64::MAX)), state("next_lot: 18446744073709551615 is not from 1 to 9223372036854775807")),
        ("a negative debt", edit(good, |m| m["debt"] = json!(-1000)), state("debt: -1000 is negative")),
        ("a burn refunded a negative amount", edit(good, |m| m["burns"][0]["refunded"] = json!(-1000)), state("burn rd1: refunded -1000 of 30")),
        ("a line returned more than bought", edit(good, |m| m["purchases"][0]["lines"][1]["returned"] = json!("4")), state("purchases[0].lines[1].returned: 4 is not from 0 to the quantity 3")),
        ("a negative daily counter", edit(good, |m| m["days"][0]["points"] = json!(-5)), state("days[0].points: -5 is negative")),
        ("a remembered event after the clock", edit(good, |m| m["recent"][0]["at"] = json!("2027-01-01T00:00:00Z")), state("recent[0].at: 2027-01-01T00:00:00+00:00 is after the member's clock")),
        ("tier records out of date order", edit(good, |m| m["tier"] = json!({"days": [{"date": "2026-05-01", "value": "10"}, {"date": "2026-04-30", "value": "5"}]})), state("tier.days[1].date: 2026-04-30 is not after the record before it (2026-05-01)")),
        ("a tier record after the clock", edit(good, |m| m["tier"] = json!({"days": [{"date": "2026-06-01", "value": "10", "level": "gold"}]})), state("tier.days[0].date: 2026-06-01 is after the member's clock")),
    ]
}

/// `good` with `change` made to its JSON.
fn edit(good: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut m: serde_json::Value = serde_json::from_str(good).unwrap();
    change(&mut m);
    m.to_string()
}

/// The member's open hold (`h2`, 40 points).
fn open_hold(m: &mut serde_json::Value) -> &mut serde_json::Value {
    m["holds"].as_array_mut().unwrap().iter_mut().find(|h| h["status"] == "open").unwrap()
}

/// A check of the member after a documented row's events.
type Then = Box<dyn Fn(&Program, &Member) -> Result<(), String>>;

/// Inputs that look bad but have a documented meaning: they are accepted,
/// and this is what they do.
struct DocumentedRow {
    name: &'static str,
    program: String,
    /// Events after enrollment, each with the points it must earn.
    events: Vec<(String, i64)>,
    /// What must hold of the member afterwards.
    then: Then,
}

fn buy(id: &str, at: &str) -> String {
    format!(r#"{{"id": "{id}", "at": "{at}", "type": "purchase", "lines": [{}]}}"#, line("coffee", "\"1\"", "\"10\""))
}

fn program_in(zone: &str, extra: &str) -> String {
    format!("id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"{zone}\"\ncategories = [\"coffee\"]\n{extra}[[earn]]\nid = \"base\"\nkind = \"per_amount\"\npoints = 1\nper = \"1\"\n")
}

/// The one lot's instants, checked.
fn lot_times(available_at: &'static str, expires_at: Option<&'static str>) -> Then {
    Box::new(move |_, m| {
        let lot = m.lots().first().ok_or("no lot")?;
        let got = (lot.available_at.to_rfc3339(), lot.expires_at.map(|e| e.to_rfc3339()));
        let want = (available_at.to_owned(), expires_at.map(str::to_owned));
        if got == want {
            Ok(())
        } else {
            Err(format!("lot times {got:?}, want {want:?}"))
        }
    })
}

#[rustfmt::skip]
fn documented_rows() -> Vec<DocumentedRow> {
    let bonus = |window: &str| format!("[[earn]]\nid = \"night\"\nkind = \"fixed\"\npoints = 5\n{window}\n");
    let nothing = || -> Then { Box::new(|_, _| Ok(())) };
    vec![
        // Europe/Berlin, 2027-03-28: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        DocumentedRow {
            name: "a time-of-day window starting in the spring-forward gap starts at its end",
            program: program_in("Europe/Berlin", &bonus("when.time_of_day = { from = \"02:30\", until = \"04:00\" }")),
            events: vec![(buy("e1", "2027-03-28T00:59:59Z"), 10), (buy("e2", "2027-03-28T01:00:00Z"), 15), (buy("e3", "2027-03-28T01:59:59Z"), 15), (buy("e4", "2027-03-28T02:00:00Z"), 10)],
            then: nothing(),
        },
        DocumentedRow {
            name: "a time-of-day window inside the gap is empty that day",
            program: program_in("Europe/Berlin", &bonus("when.time_of_day = { from = \"02:00\", until = \"03:00\" }")),
            events: vec![(buy("e1", "2027-03-28T00:59:59Z"), 10), (buy("e2", "2027-03-28T01:00:00Z"), 10), (buy("e3", "2027-03-29T00:30:00Z"), 15)],
            then: nothing(),
        },
        // America/Santiago, 2026-09-06: 00:00 (UTC-4) jumps to 01:00 (UTC-3), 04:00 UTC.
        DocumentedRow {
            name: "a date range from a day that starts in a gap starts at the gap's end",
            program: program_in("America/Santiago", &bonus("when.from = \"2026-09-06\"")),
            events: vec![(buy("e1", "2026-09-06T03:59:59Z"), 10), (buy("e2", "2026-09-06T04:00:00Z"), 15)],
            then: nothing(),
        },
        DocumentedRow {
            name: "a pending period ending in the gap ends at the gap's end",
            program: program_in("Europe/Berlin", "pending = { days = 1 }\n"),
            events: vec![(buy("e1", "2027-03-27T01:30:00Z"), 10)],
            then: lot_times("2027-03-28T01:00:00+00:00", None),
        },
        DocumentedRow {
            name: "an expiry at the end of a day that starts in a gap is the gap's end",
            program: program_in("America/Santiago", "expiry = { kind = \"after\", period = { days = 1 }, round_to = \"end_of_day\" }\n"),
            events: vec![(buy("e1", "2026-09-04T15:00:00Z"), 10)],
            then: lot_times("2026-09-04T15:00:00+00:00", Some("2026-09-06T04:00:00+00:00")),
        },
        DocumentedRow {
            name: "the last instant of the year 9999 is accepted, and the state still round-trips",
            program: SHOP.to_owned(),
            events: vec![(buy("e1", "9999-12-31T23:59:59Z"), 10), (event("hold", r#""points": 5"#).replace("2026-05-01T12:30:00Z", "9999-12-31T23:59:59Z"), 0)],
            then: Box::new(|p, m| {
                let json = m.to_json();
                let back = Member::from_json_str(&json).map_err(|e| e.to_string())?;
                if back.to_json() != json {
                    return Err("the state does not round-trip".into());
                }
                // Nothing after it is on time any more: the member's clock is at the end.
                let later = Event::from_json_str(GOOD).unwrap();
                match p.apply(&mut back.clone(), &later) {
                    Err(Error::TooLate { .. }) => Ok(()),
                    other => Err(format!("an event of 2026 after it: {other:?}")),
                }
            }),
        },
    ]
}

fn run_documented_row(row: &DocumentedRow) -> Result<(), String> {
    let p = Program::from_toml_str(&row.program).map_err(|e| format!("the program does not load: {e}"))?;
    let mut m =
        p.enroll("m-1", "2026-01-01T00:00:00Z".parse().unwrap(), Default::default()).map_err(|e| e.to_string())?;
    for (json, points) in &row.events {
        let e = Event::from_json_str(json).map_err(|e| e.to_string())?;
        let applied = p.apply(&mut m, &e).map_err(|err| format!("{}: {err}", e.id))?;
        let earned = applied.receipt.total(EntryKind::Earn);
        if earned != *points {
            return Err(format!("{} at {} earned {earned}, not {points}", e.id, e.at));
        }
    }
    m.check_invariants()?;
    (row.then)(&p, &m)
}

/// Runs `f`, turning a panic into an `Err`.
fn no_panic(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let text =
            panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(format!("panicked: {}", text.unwrap_or_default()))
    })
}

#[test]
fn every_bad_input_gets_its_precise_error_and_changes_nothing() {
    let p = Program::from_toml_str(SHOP).unwrap();
    let base = member_with_history(&p);
    let available = base.balances().available;
    let mut failures = Vec::new();
    for row in event_rows(available) {
        if let Err(why) = no_panic(|| run_event_row(&p, &base, &row)) {
            failures.push(format!("event row '{}': {why}", row.name));
        }
    }
    for row in program_rows() {
        if let Err(why) = no_panic(|| run_program_row(&row)) {
            failures.push(format!("program row '{}': {why}", row.name));
        }
    }
    let good = base.to_json();
    for (name, text, want) in member_rows(&good) {
        if let Err(why) = no_panic(|| match Member::from_json_str(&text) {
            Err(e) if want(&e) => Ok(()),
            Err(e) => Err(format!("wrong error: {e:?}")),
            Ok(_) => Err("accepted".into()),
        }) {
            failures.push(format!("member row '{name}': {why}"));
        }
    }
    // A state of another program is refused when applied, and left unchanged.
    let other = Program::from_toml_str(&SHOP.replacen("id = \"shop\"", "id = \"sh\u{43e}p\"", 1)).unwrap();
    let mut m = base.clone();
    match other.apply(&mut m, &Event::from_json_str(GOOD).unwrap()) {
        Err(Error::WrongProgram { member, member_program, program })
            if member == "m-1" && member_program == "shop" && program == "sh\u{43e}p" && m.to_json() == good => {}
        other => failures.push(format!("member row 'a state of another program': {other:?}")),
    }
    for row in documented_rows() {
        if let Err(why) = no_panic(|| run_documented_row(&row)) {
            failures.push(format!("documented row '{}': {why}", row.name));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
