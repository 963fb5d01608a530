//! Script rules: sandboxed [rhai](https://rhai.rs) for the rules no built-in kind covers.
//!
#![doc = include_str!("../docs/scripts.md")]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Timelike};
use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicIteratorPackage, BasicMapPackage, BasicMathPackage, BasicStringPackage,
    LogicPackage, MoreStringPackage, Package,
};
use rhai::{Dynamic, EvalAltResult, ImmutableString, Position, Scope, AST};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::number::{money_to_decimal, Points};
use crate::time::Weekday;

/// The most operations (rhai's unit of work: roughly one expression or
/// statement) one call of a script may run before it is stopped.
///
/// ```
/// assert_eq!(loyalty::script::MAX_OPERATIONS, 10_000);
/// ```
pub const MAX_OPERATIONS: u64 = 10_000;
/// The deepest chain of function calls inside a script (recursion depth).
///
/// ```
/// assert_eq!(loyalty::script::MAX_CALL_DEPTH, 16);
/// ```
pub const MAX_CALL_DEPTH: usize = 16;
/// The deepest nesting of expressions at the top level of a script
/// (parentheses, operators, blocks); checked when the program loads.
///
/// ```
/// assert_eq!(loyalty::script::MAX_EXPR_DEPTH, 32);
/// ```
pub const MAX_EXPR_DEPTH: usize = 32;
/// The deepest nesting of expressions inside a function the script defines.
///
/// ```
/// assert_eq!(loyalty::script::MAX_FN_EXPR_DEPTH, 16);
/// ```
pub const MAX_FN_EXPR_DEPTH: usize = 16;
/// The longest string a script may build, in characters.
///
/// ```
/// assert_eq!(loyalty::script::MAX_STRING_LEN, 1_024);
/// ```
pub const MAX_STRING_LEN: usize = 1_024;
/// The most elements of an array a script builds.
///
/// ```
/// assert_eq!(loyalty::script::MAX_ARRAY_LEN, 1_024);
/// ```
pub const MAX_ARRAY_LEN: usize = 1_024;
/// The most keys of an object map a script builds.
///
/// ```
/// assert_eq!(loyalty::script::MAX_MAP_LEN, 256);
/// ```
pub const MAX_MAP_LEN: usize = 256;
/// The most variables alive at once in one call.
///
/// ```
/// assert_eq!(loyalty::script::MAX_VARIABLES, 64);
/// ```
pub const MAX_VARIABLES: usize = 64;
/// The most functions one script may define.
///
/// ```
/// assert_eq!(loyalty::script::MAX_FUNCTIONS, 32);
/// ```
pub const MAX_FUNCTIONS: usize = 32;
/// The longest script source, in bytes; checked when the program loads.
///
/// ```
/// assert_eq!(loyalty::script::MAX_SOURCE_LEN, 16 * 1024);
/// ```
pub const MAX_SOURCE_LEN: usize = 16 * 1024;
/// The longest explanation text a script may return, in characters.
///
/// ```
/// assert_eq!(loyalty::script::MAX_TEXT_LEN, 200);
/// ```
pub const MAX_TEXT_LEN: usize = 200;
/// Default for a script rule's `max_points`: one million whole points per call.
///
/// ```
/// assert_eq!(loyalty::script::DEFAULT_MAX_POINTS, 1_000_000);
/// ```
pub const DEFAULT_MAX_POINTS: i64 = 1_000_000;

/// How often an earn script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptEach {
    /// Once per matching line; the script sees `line`.
    Line,
    /// Once per basket (when at least one line matches).
    Basket,
}

/// What a script returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptGives {
    /// Earn: a number of points (whole points, decimals allowed).
    Points,
    /// Earn: a factor of 1 to 100 on the points of the rules in `applies_to`.
    Multiplier,
    /// Burn: whether the burn is allowed (`true` / `false`).
    Allow,
    /// Burn: the most points (whole points) this burn may use.
    Limit,
}

impl ScriptGives {
    /// The key of the result in a returned map (`#{ points: 5, text: ".." }`).
    fn key(self) -> &'static str {
        match self {
            ScriptGives::Points => "points",
            ScriptGives::Multiplier => "factor",
            ScriptGives::Allow => "allow",
            ScriptGives::Limit => "limit",
        }
    }
}

/// A rule's script, as written in the program file.
///
/// ```
/// let spec: loyalty::script::ScriptSpec = serde_json::from_str(
///     r#"{"source": "if line.category == \"coffee\" { 2 } else { 1 }", "each": "line", "gives": "multiplier"}"#,
/// ).unwrap();
/// assert!(!spec.skip_on_error);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// The rhai source.
    pub source: String,
    /// Earn scripts: once per line or once per basket. Not used by burn scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub each: Option<ScriptEach>,
    /// What the script returns.
    pub gives: ScriptGives,
    /// When the script fails at run time, skip the rule (the receipt says so)
    /// instead of refusing the event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_on_error: bool,
    /// The most point units one call may return (`points` and `limit`);
    /// more is an error. Default: [`DEFAULT_MAX_POINTS`] whole points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<Points>,
}

/// The sandboxed rhai engine of a program: built once at load, shared by
/// every call.
pub(crate) struct Sandbox(rhai::Engine);

// The engine is built once at load and never changed afterwards: every call
// borrows it immutably and keeps its own state, and none of the functions we
// register keeps state between calls. A panic during a call cannot leave it
// half-changed, so sharing a `Program` across `catch_unwind` (as a C host
// does) is sound.
// The same holds for compiled scripts and the program's view: immutable once built.
impl std::panic::RefUnwindSafe for Sandbox {}
impl std::panic::UnwindSafe for Sandbox {}
impl std::panic::RefUnwindSafe for Script {}
impl std::panic::UnwindSafe for Script {}
impl std::panic::RefUnwindSafe for ProgramView {}
impl std::panic::UnwindSafe for ProgramView {}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sandbox")
    }
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let mut e = rhai::Engine::new_raw();
        // One module holding every package: a function call that misses the
        // cache searches two modules instead of nine.
        let mut packages = rhai::Module::new();
        for package in [
            ArithmeticPackage::new().as_shared_module(),
            LogicPackage::new().as_shared_module(),
            BasicMathPackage::new().as_shared_module(),
            BasicStringPackage::new().as_shared_module(),
            MoreStringPackage::new().as_shared_module(),
            BasicArrayPackage::new().as_shared_module(),
            BasicMapPackage::new().as_shared_module(),
            BasicIteratorPackage::new().as_shared_module(),
        ] {
            packages.combine_flatten((*package).clone());
        }
        packages.build_index();
        e.register_global_module(packages.into());
        e.set_max_operations(MAX_OPERATIONS)
            .set_max_call_levels(MAX_CALL_DEPTH)
            .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
            .set_max_string_size(MAX_STRING_LEN)
            .set_max_array_size(MAX_ARRAY_LEN)
            .set_max_map_size(MAX_MAP_LEN)
            .set_max_variables(MAX_VARIABLES)
            .set_max_functions(MAX_FUNCTIONS)
            .set_max_strings_interned(256)
            .set_strict_variables(true)
            .set_fail_on_invalid_map_property(true);
        // `eval` would compile code at run time, outside the load-time checks.
        e.disable_symbol("eval");
        register_views(&mut e);
        Sandbox(e)
    }

    /// Compiles `source` for a rule; `path` is the field path of the source.
    pub(crate) fn compile(&self, path: &str, rule: &str, source: &str, each: Option<ScriptEach>) -> Result<AST> {
        if source.len() > MAX_SOURCE_LEN {
            return Err(Error::invalid(
                path,
                Some(rule),
                format!("the script is {} bytes long; the limit is {MAX_SOURCE_LEN}", source.len()),
            ));
        }
        let mut scope = Scope::new();
        for name in ["program", "event", "member"] {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        if each == Some(ScriptEach::Line) {
            scope.push_dynamic("line", Dynamic::UNIT);
        }
        self.0.compile_with_scope(&scope, source).map_err(|e| {
            let (line, column) = line_column(e.position());
            Error::ScriptSyntax {
                path: path.to_owned(),
                rule: rule.to_owned(),
                line,
                column,
                message: e.err_type().to_string(),
            }
        })
    }
}

fn line_column(p: Position) -> (usize, usize) {
    (p.line().unwrap_or(0), p.position().unwrap_or(0))
}

/// A compiled script of one rule.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub(crate) ast: AST,
    pub(crate) each: ScriptEach,
    pub(crate) gives: ScriptGives,
    pub(crate) skip_on_error: bool,
    /// In point units.
    pub(crate) max_units: Points,
    /// True when the source never names `line`: a per-line script then
    /// returns the same for every line of a basket (scripts are
    /// deterministic and see the same event, member and program), so it
    /// runs once per basket.
    pub(crate) line_free: bool,
}

/// What a script call returned: a value and an optional text for the receipt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Returned {
    pub(crate) value: Value,
    pub(crate) text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    Number(Decimal),
    Bool(bool),
}

/// Why a script call failed: a message and where in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn result(message: impl Into<String>) -> Failure {
        Failure { line: 0, column: 0, message: message.into() }
    }

    pub(crate) fn into_error(self, event: &str, rule: &str) -> Error {
        Error::Script {
            event: event.to_owned(),
            rule: rule.to_owned(),
            line: self.line,
            column: self.column,
            message: self.message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}, column {}: ", self.line, self.column)?;
        }
        f.write_str(&self.message)
    }
}

fn describe(mut e: EvalAltResult) -> Failure {
    let (line, column) = line_column(e.take_position());
    let message = match e {
        EvalAltResult::ErrorTooManyOperations(_) => {
            format!("the script ran more than {MAX_OPERATIONS} operations (an endless loop?)")
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            format!("the script called functions more than {MAX_CALL_DEPTH} deep (endless recursion?)")
        }
        ref other => other.to_string(),
    };
    Failure { line, column, message }
}

impl Script {
    /// Runs the script with the views in `scope` and checks its result.
    pub(crate) fn call(&self, sandbox: &Sandbox, scope: &mut Scope<'_>, scale: u32) -> Result<Returned, Failure> {
        let before = scope.len();
        let out = sandbox.0.eval_ast_with_scope::<Dynamic>(scope, &self.ast);
        scope.rewind(before);
        self.check(out.map_err(|e| describe(*e))?, scale)
    }

    fn check(&self, out: Dynamic, scale: u32) -> Result<Returned, Failure> {
        let key = self.gives.key();
        let (value, text) = if out.is_map() {
            let map = out.cast::<rhai::Map>();
            if let Some(k) = map.keys().find(|k| k.as_str() != key && k.as_str() != "text") {
                return Err(Failure::result(format!(
                    "the returned map has a key `{k}`; only `{key}` and `text` are allowed"
                )));
            }
            let value =
                map.get(key).cloned().ok_or_else(|| Failure::result(format!("the returned map has no `{key}`")))?;
            let text = match map.get("text") {
                None => None,
                Some(t) if t.is_string() => {
                    let t = t.clone().into_string().unwrap_or_default();
                    if t.chars().count() > MAX_TEXT_LEN {
                        return Err(Failure::result(format!(
                            "the returned text is longer than {MAX_TEXT_LEN} characters"
                        )));
                    }
                    (!t.is_empty()).then_some(t)
                }
                Some(t) => return Err(Failure::result(format!("`text` must be a string, not {}", t.type_name()))),
            };
            (value, text)
        } else {
            (out, None)
        };
        let value = match self.gives {
            ScriptGives::Allow => match value.as_bool() {
                Ok(b) => Value::Bool(b),
                Err(t) => return Err(Failure::result(format!("the script must return true or false, not {t}"))),
            },
            gives => {
                let n = number(&value).ok_or_else(|| {
                    Failure::result(format!("the script must return a number ({key}), not {}", value.type_name()))
                })?;
                if gives == ScriptGives::Multiplier {
                    if n < Decimal::ONE || n > Decimal::ONE_HUNDRED {
                        return Err(Failure::result(format!("the factor must be from 1 to 100, not {n}")));
                    }
                } else {
                    if n.is_sign_negative() && !n.is_zero() {
                        return Err(Failure::result(format!("the script returned negative {key} {n}")));
                    }
                    let units = n.checked_mul(Decimal::from(10_i64.pow(scale)));
                    if units.is_none_or(|u| u > Decimal::from(self.max_units)) {
                        return Err(Failure::result(format!(
                            "the script returned {n} points, more than the rule's max_points allows ({})",
                            crate::number::PointsText(self.max_units, scale)
                        )));
                    }
                }
                Value::Number(n)
            }
        };
        Ok(Returned { value, text })
    }
}

fn number(d: &Dynamic) -> Option<Decimal> {
    if let Ok(i) = d.as_int() {
        return Some(Decimal::from(i));
    }
    d.clone().try_cast::<Decimal>()
}

// --- The views a script sees -------------------------------------------------

/// `program`: the program's id, currency and constants.
#[derive(Debug, Clone)]
pub(crate) struct ProgramView(Arc<ProgramData>);

#[derive(Debug)]
pub(crate) struct ProgramData {
    id: ImmutableString,
    currency: ImmutableString,
    scale: i64,
    constants: rhai::Map,
    /// The program's categories in index order, shared by every line view.
    categories: Vec<ImmutableString>,
    /// Which of `program`, `event` and `member` some script of the program
    /// names: only those are put in a call's scope (and the member's view
    /// is built only when named).
    names: ViewNames,
}

/// Which views the program's scripts name (see [`ViewNames::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ViewNames {
    pub(crate) program: bool,
    pub(crate) event: bool,
    pub(crate) member: bool,
}

impl ViewNames {
    /// Every view.
    #[cfg(test)]
    pub(crate) const ALL: ViewNames = ViewNames { program: true, event: true, member: true };

    /// A plain text search over the sources: a script that never spells
    /// `member` (not even in a comment or a string) cannot read the variable,
    /// so a call can leave it out of the scope.
    pub(crate) fn of<'s>(sources: impl IntoIterator<Item = &'s str>) -> ViewNames {
        let mut names = ViewNames { program: false, event: false, member: false };
        for s in sources {
            names.program |= s.contains("program");
            names.event |= s.contains("event");
            names.member |= s.contains("member");
        }
        names
    }
}

/// A constant a program declares for its scripts.
///
/// ```
/// let p = loyalty::Program::from_toml_str(r#"
/// id = "p"
/// currency = "EUR"
/// time_zone = "UTC"
/// [constants]
/// happy_factor = "2"
/// staff = true
/// "#).unwrap();
/// assert_eq!(p.spec().constants.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Constant {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A text; scripts read it as a string, or as an exact number with `parse_decimal(..)`.
    Text(String),
}

impl ProgramView {
    pub(crate) fn new(
        id: &str,
        currency: &str,
        scale: u32,
        constants: &BTreeMap<String, Constant>,
        categories: &[String],
        names: ViewNames,
    ) -> ProgramView {
        let constants = constants
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Constant::Bool(b) => Dynamic::from_bool(*b),
                    Constant::Int(i) => Dynamic::from_int(*i),
                    Constant::Text(t) => Dynamic::from(t.clone()),
                };
                (k.as_str().into(), v)
            })
            .collect();
        ProgramView(Arc::new(ProgramData {
            id: id.into(),
            currency: currency.into(),
            scale: i64::from(scale),
            constants,
            categories: categories.iter().map(|c| c.as_str().into()).collect(),
            names,
        }))
    }
}

/// `event`: the event being evaluated.
#[derive(Debug, Clone)]
pub(crate) struct EventView(Arc<EventData>);

#[derive(Debug)]
struct EventData {
    /// The event's texts (id, channel, store, every line's SKU) in one
    /// buffer, made into script strings only when a script reads them.
    text: String,
    id: (u32, u32),
    kind: &'static str,
    channel: (u32, u32),
    store: (u32, u32),
    date: NaiveDate,
    hour: i64,
    minute: i64,
    weekday: Weekday,
    birthday: bool,
    birthday_month: bool,
    lines: Vec<LineData>,
    total: Decimal,
    earning_total: Decimal,
}

/// `line`: one basket line (the event's view and the line's index in it).
#[derive(Debug, Clone)]
pub(crate) struct LineView(Arc<EventData>, usize);

impl LineView {
    #[inline]
    fn get(&self) -> &LineData {
        &self.0.lines[self.1] // made only for indices in range
    }
}

impl EventData {
    fn text(&self, (from, to): (u32, u32)) -> ImmutableString {
        self.text.get(from as usize..to as usize).unwrap_or("").into()
    }
}

/// Appends `s` to `text` and returns where it is.
fn push_text(text: &mut String, s: &str) -> (u32, u32) {
    let from = text.len() as u32;
    text.push_str(s);
    (from, text.len() as u32)
}

#[derive(Debug)]
struct LineData {
    index: i64,
    /// In `EventData::text`.
    sku: (u32, u32),
    category: ImmutableString,
    quantity: Decimal,
    unit_price: Decimal,
    discount: Decimal,
    amount: Decimal,
    earns: bool,
}

/// `member`: the member, as before the event.
#[derive(Debug, Clone)]
pub(crate) struct MemberView(Arc<MemberData>);

#[derive(Debug)]
struct MemberData {
    id: ImmutableString,
    attributes: BTreeMap<String, String>,
    available: Decimal,
    pending: Decimal,
    days_enrolled: i64,
    tier: ImmutableString,
    purchases_today: i64,
    purchases_this_week: i64,
    purchases_this_month: i64,
    lifetime: BTreeMap<crate::Id, Points>,
    scale: u32,
}

fn points_decimal(units: Points, scale: u32) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(units), scale).normalize()
}

/// True when `date` is the birthday of someone born on `birth` (29 February
/// counts as 28 February in years without one).
pub(crate) fn is_birthday(birth: NaiveDate, date: NaiveDate) -> bool {
    if birth.month() != date.month() {
        return false;
    }
    let leap = NaiveDate::from_ymd_opt(date.year(), 2, 29).is_some();
    if birth.month() == 2 && birth.day() == 29 && !leap {
        return date.day() == 28;
    }
    birth.day() == date.day()
}

/// The views of one evaluation, built once per event.
pub(crate) struct Views {
    pub(crate) event: EventView,
    /// `None` when no script of the program names `member`.
    pub(crate) member: Option<MemberView>,
}

/// What the views are built from.
pub(crate) struct ViewInput<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) channel: Option<&'a str>,
    pub(crate) store: Option<&'a str>,
    pub(crate) local: chrono::NaiveDateTime,
    pub(crate) lines: &'a [crate::earn::Priced<'a>],
}

impl Views {
    pub(crate) fn new(program: &crate::Program, input: &ViewInput<'_>, member: &crate::Member) -> Views {
        let date = input.local.date();
        let size = input.event_id.len()
            + input.channel.map_or(0, str::len)
            + input.store.map_or(0, str::len)
            + input.lines.iter().map(|p| p.line.sku.len()).sum::<usize>();
        let mut text = String::with_capacity(size);
        let id = push_text(&mut text, input.event_id);
        let channel = push_text(&mut text, input.channel.unwrap_or(""));
        let store = push_text(&mut text, input.store.unwrap_or(""));
        let categories = &program.scripts.as_ref().map(|s| &s.1 .0.categories);
        let lines: Vec<LineData> = input
            .lines
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let category = categories
                    .and_then(|c| c.get(p.category as usize).cloned())
                    .unwrap_or_else(|| p.line.category.as_str().into());
                LineData {
                    index: i as i64,
                    sku: push_text(&mut text, &p.line.sku),
                    category,
                    quantity: p.line.quantity.decimal(),
                    unit_price: p.line.unit_price.decimal(),
                    discount: p.line.discount.decimal(),
                    amount: money_to_decimal(p.amount).unwrap_or_default().normalize(),
                    earns: p.earns,
                }
            })
            .collect();
        let total = money_to_decimal(input.lines.iter().map(|p| p.amount).sum()).unwrap_or_default().normalize();
        let earning = input.lines.iter().filter(|p| p.earns).map(|p| p.amount).sum();
        let earning_total = money_to_decimal(earning).unwrap_or_default().normalize();
        let birth = member.profile.birth_date;
        let event = EventView(Arc::new(EventData {
            text,
            id,
            kind: input.kind,
            channel,
            store,
            date,
            hour: i64::from(input.local.hour()),
            minute: i64::from(input.local.minute()),
            weekday: Weekday::of(date),
            birthday: birth.is_some_and(|b| is_birthday(b, date)),
            birthday_month: birth.is_some_and(|b| b.month() == date.month()),
            lines,
            total,
            earning_total,
        }));
        let uses_member = program.scripts.as_ref().is_none_or(|s| s.1 .0.names.member);
        let member = uses_member.then(|| member_view(program, member, date));
        Views { event, member }
    }

    /// A scope holding those of `program`, `event` and `member` that some
    /// script of the program names (each a name and a value to allocate).
    pub(crate) fn scope(&self, program: &ProgramView) -> Scope<'static> {
        let names = program.0.names;
        let mut scope = Scope::new();
        if names.program {
            scope.push_constant("program", program.clone());
        }
        if names.event {
            scope.push_constant("event", self.event.clone());
        }
        if names.member {
            match &self.member {
                Some(m) => scope.push_constant("member", m.clone()),
                None => scope.push_constant_dynamic("member", Dynamic::UNIT),
            };
        }
        scope
    }

    /// The view of line `i`.
    pub(crate) fn line(&self, i: usize) -> Option<LineView> {
        (i < self.event.0.lines.len()).then(|| LineView(Arc::clone(&self.event.0), i))
    }
}

fn member_view(program: &crate::Program, member: &crate::Member, date: NaiveDate) -> MemberView {
    let scale = program.scale();
    let balances = member.balances();
    let enrolled = crate::time::enrolment_date(program.zone, member.enrolled_at);
    let week_start = date - chrono::Duration::days(i64::from(date.weekday().num_days_from_monday()));
    let (mut today, mut week, mut month) = (0, 0, 0);
    for d in member.days.iter().filter(|d| d.key == "purchases:") {
        if d.date == date {
            today += i64::from(d.count);
        }
        if d.date >= week_start && d.date <= date {
            week += i64::from(d.count);
        }
        if d.date.year() == date.year() && d.date.month() == date.month() {
            month += i64::from(d.count);
        }
    }
    MemberView(Arc::new(MemberData {
        id: member.id.as_str().into(),
        attributes: member.profile.attributes.clone(),
        available: points_decimal(balances.available, scale),
        pending: points_decimal(balances.pending, scale),
        days_enrolled: (date - enrolled).num_days(),
        tier: member.tier.current.as_deref().unwrap_or_default().into(),
        purchases_today: today,
        purchases_this_week: week,
        purchases_this_month: month,
        lifetime: member.lifetime.clone(),
        scale,
    }))
}

/// A weekday's short name as a script string: the seven made once and
/// shared (a script string is a counted buffer, so a fresh one would be an
/// allocation per read, and happy-hour rules read it on every purchase).
fn weekday_name(day: Weekday) -> ImmutableString {
    static NAMES: std::sync::LazyLock<[ImmutableString; 7]> = std::sync::LazyLock::new(|| {
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
            .map(|d| ImmutableString::from(d.short()))
    });
    NAMES[day as usize].clone()
}

fn register_views(e: &mut rhai::Engine) {
    e.register_type_with_name::<ProgramView>("Program")
        .register_get("id", |p: &mut ProgramView| p.0.id.clone())
        .register_get("currency", |p: &mut ProgramView| p.0.currency.clone())
        .register_get("point_scale", |p: &mut ProgramView| p.0.scale)
        .register_fn("constant", |p: &mut ProgramView, name: ImmutableString| -> Result<Dynamic, Box<EvalAltResult>> {
            p.0.constants
                .get(name.as_str())
                .cloned()
                .ok_or_else(|| format!("the program declares no constant '{name}'").into())
        });
    e.register_type_with_name::<EventView>("Event")
        .register_get("id", |v: &mut EventView| v.0.text(v.0.id))
        .register_get("kind", |v: &mut EventView| ImmutableString::from(v.0.kind))
        .register_get("channel", |v: &mut EventView| v.0.text(v.0.channel))
        .register_get("store", |v: &mut EventView| v.0.text(v.0.store))
        .register_get("year", |v: &mut EventView| i64::from(v.0.date.year()))
        .register_get("month", |v: &mut EventView| i64::from(v.0.date.month()))
        .register_get("day", |v: &mut EventView| i64::from(v.0.date.day()))
        .register_get("weekday", |v: &mut EventView| weekday_name(v.0.weekday))
        .register_get("weekday_number", |v: &mut EventView| i64::from(v.0.date.weekday().number_from_monday()))
        .register_get("hour", |v: &mut EventView| v.0.hour)
        .register_get("minute", |v: &mut EventView| v.0.minute)
        .register_get("date", |v: &mut EventView| ImmutableString::from(v.0.date.to_string()))
        .register_get("is_birthday", |v: &mut EventView| v.0.birthday)
        .register_get("is_birthday_month", |v: &mut EventView| v.0.birthday_month)
        .register_get("total", |v: &mut EventView| v.0.total)
        .register_get("earning_total", |v: &mut EventView| v.0.earning_total)
        .register_get("categories", |v: &mut EventView| -> rhai::Array {
            let mut seen: Vec<&ImmutableString> = Vec::with_capacity(v.0.lines.len());
            for l in &v.0.lines {
                if !seen.contains(&&l.category) {
                    seen.push(&l.category);
                }
            }
            seen.into_iter().map(|c| Dynamic::from(c.clone())).collect()
        })
        .register_fn("total_in", |v: &mut EventView, category: ImmutableString| -> Decimal {
            let sum: Decimal = v.0.lines.iter().filter(|l| l.category == category).map(|l| l.amount).sum();
            sum.normalize()
        })
        .register_get("lines", |v: &mut EventView| -> rhai::Array {
            (0..v.0.lines.len()).map(|i| Dynamic::from(LineView(Arc::clone(&v.0), i))).collect()
        });
    e.register_type_with_name::<LineView>("Line")
        .register_get("index", |l: &mut LineView| l.get().index)
        .register_get("sku", |l: &mut LineView| l.0.text(l.get().sku))
        .register_get("category", |l: &mut LineView| l.get().category.clone())
        .register_get("quantity", |l: &mut LineView| l.get().quantity)
        .register_get("unit_price", |l: &mut LineView| l.get().unit_price)
        .register_get("discount", |l: &mut LineView| l.get().discount)
        .register_get("amount", |l: &mut LineView| l.get().amount)
        .register_get("earns", |l: &mut LineView| l.get().earns);
    e.register_type_with_name::<MemberView>("Member")
        .register_get("id", |m: &mut MemberView| m.0.id.clone())
        .register_get("balance", |m: &mut MemberView| m.0.available)
        .register_get("pending", |m: &mut MemberView| m.0.pending)
        .register_get("days_enrolled", |m: &mut MemberView| m.0.days_enrolled)
        .register_get("tier", |m: &mut MemberView| m.0.tier.clone())
        .register_get("purchases_today", |m: &mut MemberView| m.0.purchases_today)
        .register_get("purchases_this_week", |m: &mut MemberView| m.0.purchases_this_week)
        .register_get("purchases_this_month", |m: &mut MemberView| m.0.purchases_this_month)
        .register_fn("attribute", |m: &mut MemberView, name: ImmutableString| -> ImmutableString {
            m.0.attributes.get(name.as_str()).map(|v| v.as_str().into()).unwrap_or_default()
        })
        .register_fn("has_attribute", |m: &mut MemberView, name: ImmutableString| {
            m.0.attributes.contains_key(name.as_str())
        })
        .register_fn("earned", |m: &mut MemberView, rule: ImmutableString| {
            points_decimal(m.0.lifetime.get(rule.as_str()).copied().unwrap_or(0), m.0.scale)
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_holds_the_views_some_script_names() {
        let names = ViewNames::of(["event.hour >= 15", "// member\n1"]);
        assert_eq!(names, ViewNames { program: false, event: true, member: true });
        let (program, views) = fixture();
        let pv = ProgramView::new("p", "RUB", 0, &program.spec.constants, &[], names);
        let scope = views.scope(&pv);
        assert!(!scope.contains("program") && scope.contains("event") && scope.contains("member"));
        // A script that names none of them is called with an empty scope.
        let none = ViewNames::of(["1 + 2"]);
        assert_eq!(none, ViewNames { program: false, event: false, member: false });
        assert!(views.scope(&ProgramView::new("p", "RUB", 0, &program.spec.constants, &[], none)).is_empty());
    }

    #[test]
    fn weekday_names_are_the_short_names() {
        for day in [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun] {
            assert_eq!(weekday_name(day).as_str(), day.short());
        }
    }

    #[test]
    fn birthdays_in_leap_and_common_years() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(is_birthday(d(1992, 2, 29), d(2027, 2, 28)));
        assert!(!is_birthday(d(1992, 2, 29), d(2028, 2, 28)));
        assert!(is_birthday(d(1992, 2, 29), d(2028, 2, 29)));
        assert!(is_birthday(d(1990, 7, 4), d(2027, 7, 4)));
        assert!(!is_birthday(d(1990, 7, 4), d(2027, 7, 5)));
    }

    const FIXTURE: &str = r#"
id = "corner-coffee"
currency = "RUB"
time_zone = "Europe/Moscow"
categories = ["coffee", "food"]
pending = { hours = 24 }
constants = { happy_factor = "2", staff_bonus = 100 }
[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "10"
[tiers]
measure = "points_earned"
window = { rolling_months = 12 }
[[tiers.levels]]
id = "green"
[[tiers.levels]]
id = "gold"
min = "100"
"#;

    /// The situation docs/scripts.md describes: the views of its purchase.
    fn fixture() -> (crate::Program, Views) {
        let program = crate::Program::from_toml_str(FIXTURE).unwrap();
        let profile = crate::Profile {
            birth_date: NaiveDate::from_ymd_opt(1990, 12, 15),
            attributes: [("tier".to_string(), "gold".to_string())].into(),
        };
        let mut m = program.enroll("m-42", "2026-01-10T09:00:00Z".parse().unwrap(), profile).unwrap();
        for (id, at, price) in [("mon", "2026-12-14T10:00:00Z", "1200"), ("tue", "2026-12-15T08:00:00Z", "300")] {
            let e = crate::Event::from_json_str(&format!(
                r#"{{"id":"{id}","at":"{at}","type":"purchase","lines":[{{"sku":"x","category":"food","quantity":"1","unit_price":"{price}"}}]}}"#
            ))
            .unwrap();
            program.apply(&mut m, &e).unwrap();
        }
        let basket: crate::Basket = serde_json::from_str(
            r#"{"channel":"pos","store":"msk-01","lines":[
                {"sku":"latte","category":"coffee","quantity":"2","unit_price":"245.00"},
                {"sku":"croissant","category":"food","quantity":"3","unit_price":"180.50","discount":"20.00"}]}"#,
        )
        .unwrap();
        let priced = program.price("pos-1/77", &basket.lines).unwrap();
        let at: chrono::DateTime<chrono::Utc> = "2026-12-15T13:30:00Z".parse().unwrap();
        let input = ViewInput {
            event_id: "pos-1/77",
            kind: "purchase",
            channel: Some("pos"),
            store: Some("msk-01"),
            local: crate::zone::local(program.zone, at),
            lines: &priced,
        };
        let views = Views::new(&program, &input, &m);
        (program, views)
    }

    /// Every example of the script reference (docs/scripts.md) runs and
    /// returns what the page says.
    #[test]
    fn reference_examples_return_what_the_page_says() {
        let page = include_str!("../docs/scripts.md");
        let (program, views) = fixture();
        let sandbox = Sandbox::new();
        let pv = ProgramView::new("corner-coffee", "RUB", 0, &program.spec.constants, &[], ViewNames::ALL);
        let (mut checked, mut wrong) = (0, Vec::new());
        for block in page.split("```rhai\n").skip(1) {
            let code = block.split("```").next().unwrap();
            let Some((source, want)) = code.rsplit_once("//=>") else { continue };
            let ast = sandbox
                .compile("doc", "doc", source, Some(ScriptEach::Line))
                .unwrap_or_else(|e| panic!("{source}: {e}"));
            let mut scope = views.scope(&pv);
            scope.push_constant("line", views.line(0).unwrap());
            let got =
                sandbox.0.eval_ast_with_scope::<Dynamic>(&mut scope, &ast).unwrap_or_else(|e| panic!("{source}: {e}"));
            if got.to_string() != want.trim() {
                wrong.push(format!("{}: page says {}, script gives {got}", source.trim(), want.trim()));
            }
            checked += 1;
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(checked >= 30, "only {checked} examples found");
    }

    #[test]
    fn compile_errors_name_line_and_column() {
        let s = Sandbox::new();
        let e = s.compile("earn[0].script.source", "r", "let x = 1;\nx +* 2", Some(ScriptEach::Basket)).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("program: earn[0].script.source (rule 'r'): script line 2, column"), "{text}");
        // `line` only exists for per-line scripts.
        let e = s.compile("p", "r", "line.amount", Some(ScriptEach::Basket)).unwrap_err().to_string();
        assert!(e.contains("line"), "{e}");
        assert!(s.compile("p", "r", "line.amount", Some(ScriptEach::Line)).is_ok());
    }
}
