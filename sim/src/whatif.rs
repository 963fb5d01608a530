//! What-if: one history replayed under two programs, and what changed.
//!
//! ```
//! use loyalty_sim::{simulate, whatif, Behaviour};
//! let base = loyalty::Program::from_toml_str(r#"
//!     id = "cafe"
//!     currency = "EUR"
//!     time_zone = "Europe/Paris"
//!     categories = ["coffee"]
//!     [[earn]]
//!     id = "base"
//!     kind = "per_amount"
//!     points = 1
//!     per = "1"
//! "#).unwrap();
//! let double = loyalty::Program::from_toml_str(r#"
//!     id = "cafe"
//!     currency = "EUR"
//!     time_zone = "Europe/Paris"
//!     categories = ["coffee"]
//!     [[earn]]
//!     id = "base"
//!     kind = "per_amount"
//!     points = 2
//!     per = "1"
//! "#).unwrap();
//! let history = simulate(&base, &Behaviour { members: 10, days: 60, ..Behaviour::default() }).unwrap().history();
//! let c = whatif::compare(&base, &double, &history);
//! // floor(2x) per purchase is at least 2 × floor(x), and less than one point more.
//! assert!(c.b.issued >= 2 * c.a.issued && c.b.issued < 3 * c.a.issued);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use loyalty::{Event, EventKind, Member, MemoryCounters, Program, Receipt};
use rust_decimal::Decimal;

/// A history: (member id, event) in the order the events were applied.
pub type History = Vec<(String, Event)>;

/// A history replayed under one program.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The members at the end.
    pub members: BTreeMap<String, Member>,
    /// The receipts, with the index of their event in the history.
    pub receipts: Vec<(usize, Arc<Receipt>)>,
    /// The events this program refused: index, member, error.
    pub refused: Vec<(usize, String, loyalty::Error)>,
}

/// Replays `history` under `program`: `enroll` events start members, other
/// events apply to the member they name. Refused events are kept aside and
/// the replay goes on.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"]}"#).unwrap();
/// let history = loyalty_sim::simulate(&program, &Default::default()).unwrap().history();
/// let replay = loyalty_sim::whatif::replay(&program, &history);
/// assert!(replay.refused.is_empty());
/// ```
pub fn replay(program: &Program, history: &[(String, Event)]) -> Replay {
    let mut out = Replay { members: BTreeMap::new(), receipts: Vec::new(), refused: Vec::new() };
    let mut counters = MemoryCounters::default();
    // Members in enrolment order, found by a hash of their id: a tree of
    // members keyed by id costs a dozen string comparisons and as many
    // cache misses per event over 100 000 members, and splitting its nodes
    // (each holds members inline) asks for large blocks. The tree is built
    // once, at the end.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut members: Vec<(String, Member)> = Vec::new();
    for (i, (who, event)) in history.iter().enumerate() {
        let slot = index.get(who.as_str()).copied();
        let result = match (&event.kind, slot) {
            (EventKind::Enroll(_), None) => program.start(event).map(|(m, r)| {
                index.insert(who, members.len());
                members.push((who.clone(), m));
                Arc::new(r)
            }),
            (_, Some(slot)) => program.apply_with(&mut members[slot].1, event, &mut counters).map(|a| a.receipt),
            (_, None) => Err(loyalty::Error::Enrollment {
                event: event.id.clone(),
                reason: format!("member '{who}' is not enrolled"),
            }),
        };
        match result {
            Ok(receipt) => out.receipts.push((i, receipt)),
            Err(e) => out.refused.push((i, who.clone(), e)),
        }
    }
    out.members = members.into_iter().collect();
    out
}

/// What one member has under one program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFigures {
    /// Points earned and credited.
    pub issued: i64,
    /// Points paid with.
    pub burned: i64,
    /// Points expired.
    pub expired: i64,
    /// Available and held points.
    pub outstanding: i64,
    /// Pending points.
    pub pending: i64,
    /// The tier level at the end, if the program has tiers.
    pub tier: Option<String>,
}

/// Program-wide figures of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Points earned and credited.
    pub issued: i64,
    /// Points paid with.
    pub burned: i64,
    /// Points expired.
    pub expired: i64,
    /// Points taken back by returns.
    pub reversed: i64,
    /// Available and held points at the end.
    pub outstanding: i64,
    /// Pending points at the end.
    pub pending: i64,
    /// What the outstanding and pending points are worth (points × the
    /// program's point value), in the program's currency.
    pub liability: Decimal,
    /// Members per tier level at the end.
    pub tiers: BTreeMap<String, usize>,
    /// Points given per rule (receipt explanations, net of nothing: what
    /// each rule gave when it fired).
    pub per_rule: BTreeMap<String, i64>,
    /// Events the program refused.
    pub refused: usize,
}

fn member_figures(program: &Program, m: &Member) -> MemberFigures {
    let (t, b) = (m.totals(), m.balances());
    MemberFigures {
        issued: t.earned + t.credited,
        burned: t.burned,
        expired: t.expired,
        outstanding: b.available + b.held,
        pending: b.pending,
        tier: program.tier(m, m.clock()).map(|s| s.tier.to_owned()),
    }
}

/// The figures of a replay.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"],
/// #   "earn":[{"id":"b","kind":"per_amount","points":1,"per":"1"}]}"#).unwrap();
/// let history = loyalty_sim::simulate(&program, &Default::default()).unwrap().history();
/// let f = loyalty_sim::whatif::figures(&program, &loyalty_sim::whatif::replay(&program, &history));
/// assert_eq!(f.per_rule["b"], f.issued);   // one rule, no credits
/// ```
pub fn figures(program: &Program, replay: &Replay) -> Figures {
    let mut f = Figures { refused: replay.refused.len(), ..Figures::default() };
    for m in replay.members.values() {
        let t = m.totals();
        let mf = member_figures(program, m);
        f.issued += mf.issued;
        f.burned += mf.burned;
        f.expired += mf.expired;
        f.reversed += t.reversed;
        f.outstanding += mf.outstanding;
        f.pending += mf.pending;
        if let Some(tier) = mf.tier {
            *f.tiers.entry(tier).or_default() += 1;
        }
    }
    for (_, r) in &replay.receipts {
        for e in &r.explanations {
            *f.per_rule.entry(e.rule.as_str().to_owned()).or_default() += e.points;
        }
    }
    f.liability = liability(program, f.outstanding + f.pending);
    f
}

/// What `points` (in the program's point units) are worth at the program's
/// point value, rounded to cents.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","points":{"scale":2,"value":"0.5"}}"#).unwrap();
/// assert_eq!(loyalty_sim::whatif::liability(&program, 1050).to_string(), "5.25");   // 10.50 points × 0.5
/// ```
pub fn liability(program: &Program, points: i64) -> Decimal {
    let spec = program.spec();
    let units = Decimal::from(points) / Decimal::from(10_i64.pow(spec.points.scale));
    (units * spec.points.value.decimal()).round_dp(2)
}

/// One member whose figures differ between the two programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDiff {
    /// The member id.
    pub member: String,
    /// Under the first program.
    pub a: MemberFigures,
    /// Under the second.
    pub b: MemberFigures,
}

/// The same history under two programs.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Figures under the first program.
    pub a: Figures,
    /// Figures under the second.
    pub b: Figures,
    /// The members whose figures differ, the largest change in outstanding points first.
    pub members: Vec<MemberDiff>,
}

/// Replays `history` under `a` and under `b`.
///
/// ```
/// # let p = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"]}"#).unwrap();
/// let history = loyalty_sim::simulate(&p, &Default::default()).unwrap().history();
/// let same = loyalty_sim::whatif::compare(&p, &p, &history);
/// assert!(same.members.is_empty() && same.a == same.b);
/// ```
pub fn compare(a: &Program, b: &Program, history: &[(String, Event)]) -> Comparison {
    let (ra, rb) = (replay(a, history), replay(b, history));
    let mut members: Vec<MemberDiff> = Vec::new();
    let ids: std::collections::BTreeSet<&String> = ra.members.keys().chain(rb.members.keys()).collect();
    for id in ids {
        let fa = ra.members.get(id).map(|m| member_figures(a, m)).unwrap_or_default();
        let fb = rb.members.get(id).map(|m| member_figures(b, m)).unwrap_or_default();
        if fa != fb {
            members.push(MemberDiff { member: id.clone(), a: fa, b: fb });
        }
    }
    members.sort_by(|x, y| {
        let d = |m: &MemberDiff| (m.b.outstanding - m.a.outstanding).unsigned_abs();
        d(y).cmp(&d(x)).then_with(|| x.member.cmp(&y.member))
    });
    Comparison { a: figures(a, &ra), b: figures(b, &rb), members }
}
