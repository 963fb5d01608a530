//! Lints: warnings about a program that loads but probably does not do what
//! its designer meant.
//!
//! [`Program::lint`] looks at a loaded program and returns [`Warning`]s. A
//! warning never stops a program: errors are what [`Program::from_toml_str`]
//! refuses. Every lint answers only what the program file decides on its own
//! (no clock, no member, no event): when a question depends on what the host
//! sends, the lint stays silent rather than guess.
//!
//! The codes are listed on [`Warning`].
//!
//! ```
//! let program = loyalty::Program::from_toml_str(r#"
//! id = "cafe"
//! currency = "RUB"
//! time_zone = "Europe/Moscow"
//! categories = ["coffee", "alcohol"]
//! earning_base.exclude_categories = ["alcohol"]
//! [[earn]]
//! id = "wine-bonus"
//! kind = "fixed"
//! points = 50
//! when.categories = ["alcohol"]
//! "#).unwrap();
//! let warnings = program.lint();
//! assert_eq!(warnings[0].code, "dead-rule");
//! assert_eq!(warnings[0].path, "earn[0].when.categories");
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;

use crate::earn::Shape;
use crate::number::{format_points, Points};
use crate::program::{CompiledEarn, Conditions, ExpiryFrom, ExpiryKind, Program, ProgramSpec};
use crate::reward::Per;
use crate::tier::{TierMeasure, TierWindow};
use crate::time::{Period, RoundTo, TimeWindow, Weekday};

/// A warning about a program: something that loads but probably does not do
/// what its designer meant.
///
/// `code` is stable and meant for machines (to silence or count a kind of
/// warning); `message` is for people and may change. The codes:
///
/// | code | what it finds |
/// |---|---|
/// | `unreachable-tier` | a level whose `min` of points earned can never be reached within its window, given the earn rules' caps |
/// | `dead-rule` | an earn rule (or a tier multiplier) whose conditions no line can meet |
/// | `exclusive-overlap` | two exclusive rules of the same stage that can match the same lines |
/// | `unaffordable-reward` | a reward costing more than one member can hold at once before expiry |
/// | `cap-below-award` | a fixed bonus cut by a cap on every award |
/// | `look-alike-names` | names that differ only by case, accents, look-alike characters or separators (`_`, `-`, `.`, spaces) |
/// | `suspicious-char` | invisible characters in a name, or letters of two scripts in one name (look-alikes or not) |
///
/// Messages (and the display) show names in quotes with non-printing and
/// format characters escaped (`'phones\u{200b}'`); `id` keeps the name as
/// written.
///
/// ```
/// let program = loyalty::Program::from_toml_str(r#"
/// id = "p"
/// currency = "RUB"
/// time_zone = "UTC"
/// categories = ["coffee", "Coffee"]
/// "#).unwrap();
/// let w = &program.lint()[0];
/// assert_eq!(w.code, "look-alike-names");
/// assert_eq!(w.path, "categories[1]");
/// assert_eq!(w.id.as_deref(), Some("Coffee"));
/// assert_eq!(
///     w.to_string(),
///     "categories[1] (category 'Coffee'): looks like 'coffee' (categories[0]): they differ only by case [look-alike-names]"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Warning {
    /// The kind of warning, stable: `"dead-rule"`, `"unreachable-tier"`, …
    pub code: &'static str,
    /// The field of the program file it is about: `earn[2].when.categories`.
    pub path: String,
    /// What `id` names: `"rule"`, `"level"`, `"reward"`, `"category"`, `"sku"`, …
    pub what: &'static str,
    /// The id of the rule, level, reward or name it is about, when there is one.
    pub id: Option<String>,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", shown(&self.path))?;
        if let Some(id) = &self.id {
            write!(f, " ({} {})", self.what, quote(id))?;
        }
        write!(f, ": {} [{}]", self.message, self.code)
    }
}

impl Warning {
    fn new(code: &'static str, path: impl Into<String>, what: &'static str, id: Option<&str>, message: String) -> Self {
        Warning { code, path: path.into(), what, id: id.map(str::to_owned), message }
    }
}

impl Program {
    /// Warnings for the program's designer: unreachable tier levels, earn
    /// rules that can never fire, exclusive rules that compete on the same
    /// lines, rewards nobody can afford, caps that cut every award,
    /// look-alike names, and invisible characters or mixed scripts in
    /// names. Sorted by path (numbers in brackets in numeric order), then
    /// code. An empty list: nothing found. [`Warning`] lists the codes.
    ///
    /// ```
    /// let program = loyalty::Program::from_toml_str(r#"
    /// id = "shop"
    /// currency = "RUB"
    /// time_zone = "Europe/Moscow"
    /// categories = ["tv"]
    /// [[earn]]
    /// id = "welcome"
    /// kind = "fixed"
    /// points = 500
    /// caps.per_transaction = 50
    /// "#).unwrap();
    /// let warnings = program.lint();
    /// assert_eq!(warnings.len(), 1);
    /// assert_eq!(
    ///     warnings[0].to_string(),
    ///     "earn[0].caps.per_transaction (rule 'welcome'): the cap of 50 is below the rule's 500 points: \
    ///      every award is cut to at most 50 [cap-below-award]"
    /// );
    /// ```
    pub fn lint(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        let rules = RuleInfo::all(self);
        tiers(self, &mut out);
        dead_rules(self, &rules, &mut out);
        exclusive_overlaps(self, &rules, &mut out);
        rewards(self, &mut out);
        caps(self, &mut out);
        names(&self.spec, &mut out);
        out.sort_by(|a, b| {
            natural(&a.path, &b.path).then_with(|| a.code.cmp(b.code)).then_with(|| a.message.cmp(&b.message))
        });
        out.dedup();
        out
    }
}

/// Compares paths with the numbers in them as numbers (`earn[2]` before `earn[10]`).
fn natural(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

// ---------------------------------------------------------------------------
// Rules: where they are written and which lines they can match.

/// A compiled earn rule with where it is written.
struct RuleInfo<'p> {
    rule: &'p CompiledEarn,
    /// `earn[i]` or `tiers.levels[i]`.
    base: String,
    what: &'static str,
    /// The id to show: the rule id, or the level id of a tier multiplier.
    id: &'p str,
    /// The field of a tier multiplier (`tiers.levels[i].multiplier`).
    tier_field: Option<String>,
    /// Whether the rule names what it multiplies (`applies_to`).
    applies_to: bool,
    /// The rule's conditions, or why no line can meet them.
    region: std::result::Result<Region<'p>, Dead>,
}

impl<'p> RuleInfo<'p> {
    /// Every compiled rule, in the order of the program file (tier
    /// multipliers last, in level order).
    fn all(program: &'p Program) -> Vec<RuleInfo<'p>> {
        let spec = &program.spec;
        let mut out = Vec::new();
        for (i, r) in spec.earn.iter().enumerate() {
            if let Some(c) = program.earn.iter().find(|c| *c.id == *r.id) {
                out.push(RuleInfo {
                    rule: c,
                    base: format!("earn[{i}]"),
                    what: "rule",
                    id: &r.id,
                    tier_field: None,
                    applies_to: !r.applies_to.is_empty(),
                    region: Region::of(spec, &c.when),
                });
            }
        }
        for (i, l) in spec.tiers.iter().flat_map(|t| t.levels.iter()).enumerate() {
            let id = format!("tier:{}", l.id);
            if let Some(c) = program.earn.iter().find(|c| *c.id == *id) {
                out.push(RuleInfo {
                    rule: c,
                    base: format!("tiers.levels[{i}]"),
                    what: "level",
                    id: &l.id,
                    tier_field: Some(format!("tiers.levels[{i}].multiplier")),
                    applies_to: false,
                    region: Region::of(spec, &c.when),
                });
            }
        }
        out
    }

    fn path(&self, field: &str) -> String {
        match &self.tier_field {
            Some(f) => f.clone(),
            None => format!("{}.{field}", self.base),
        }
    }

    /// How a warning names the rule in words.
    fn name(&self) -> String {
        match self.tier_field {
            Some(_) => format!("the multiplier of level {}", quote(self.id)),
            None => quote(self.id),
        }
    }
}

/// Why no line can meet a rule's conditions: the field to blame and why.
#[derive(Debug, Clone)]
struct Dead {
    field: &'static str,
    why: String,
}

/// The lines and purchases a rule's conditions can match, as far as the
/// program decides them. Every `None` means "no restriction".
#[derive(Debug, Clone)]
struct Region<'p> {
    /// Categories a matching line may have (never empty).
    cats: BTreeSet<&'p str>,
    /// Every declared category that earns (for words: "any line").
    all_cats: usize,
    skus: Option<BTreeSet<&'p str>>,
    no_skus: BTreeSet<&'p str>,
    channels: Option<BTreeSet<&'p str>>,
    stores: Option<BTreeSet<&'p str>>,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
    weekdays: Option<BTreeSet<Weekday>>,
    minutes: Option<Minutes>,
    tiers: Option<BTreeSet<&'p str>>,
    /// `None`: the program's own purchases; `Some`: these partners' purchases.
    partners: Option<BTreeSet<&'p str>>,
    attributes: BTreeMap<&'p str, &'p str>,
    /// Campaign → the variants allowed.
    variants: BTreeMap<&'p str, BTreeSet<&'p str>>,
    birthday_month: bool,
    chosen: BTreeSet<&'p str>,
}

/// Minutes of a day, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Minutes([u64; 23]);

impl Minutes {
    fn of(w: TimeWindow) -> Minutes {
        let (from, until) = (minute(w.from.into()), minute(w.until.into()));
        let mut bits = [0_u64; 23];
        for m in 0..1440 {
            let inside = if from < until { from <= m && m < until } else { m >= from || m < until };
            if inside {
                bits[m / 64] |= 1 << (m % 64);
            }
        }
        Minutes(bits)
    }

    fn and(self, other: Minutes) -> Minutes {
        let mut bits = self.0;
        for (b, o) in bits.iter_mut().zip(other.0) {
            *b &= o;
        }
        Minutes(bits)
    }

    fn is_empty(self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }

    fn has(self, m: usize) -> bool {
        self.0[m / 64] & (1 << (m % 64)) != 0
    }

    /// `15:00–18:00`, `22:00–24:00 and 00:00–02:00`.
    fn words(self) -> String {
        let mut spans = Vec::new();
        let mut m = 0;
        while m < 1440 {
            if self.has(m) {
                let start = m;
                while m < 1440 && self.has(m) {
                    m += 1;
                }
                spans.push(format!("{}–{}", hhmm(start), hhmm(m)));
            } else {
                m += 1;
            }
        }
        spans.join(" and ")
    }
}

/// Minutes since midnight of a `"HH:MM"` text.
fn minute(text: String) -> usize {
    let (h, m) = text.split_once(':').unwrap_or(("0", "0"));
    h.parse::<usize>().unwrap_or(0) * 60 + m.parse::<usize>().unwrap_or(0)
}

fn hhmm(m: usize) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Names in quotes, separated by commas: `'coffee', 'tea'`.
fn quoted<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(quote).collect::<Vec<_>>().join(", ")
}

/// A name in quotes, as every message shows one: `'phones\u{200b}'`.
fn quote(name: &str) -> String {
    format!("'{}'", shown(name))
}

/// A name as messages show it: non-printing and format characters (and
/// blanks other than a plain space) escaped the way Rust writes them
/// (`phones\u{200b}`), and backslashes doubled so the escapes are unambiguous.
fn shown(name: &str) -> Cow<'_, str> {
    if !name.chars().any(needs_escape) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || invisible(c) || format_char(c)
}

/// Format characters (general category Cf): they change how text around
/// them shows, or show as nothing.
fn format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{0890}' | '\u{0891}'
        | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}')
}

fn opt_set(list: &[String]) -> Option<BTreeSet<&str>> {
    (!list.is_empty()).then(|| list.iter().map(String::as_str).collect())
}

/// The intersection of two optional sets (`None`: everything).
fn meet<T: Ord + Clone>(a: &Option<BTreeSet<T>>, b: &Option<BTreeSet<T>>) -> Option<BTreeSet<T>> {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(x), Some(y)) => Some(x.intersection(y).cloned().collect()),
    }
}

/// Whether some date of `[from, until]` falls on one of `days`.
fn has_weekday(from: Option<NaiveDate>, until: Option<NaiveDate>, days: &BTreeSet<Weekday>) -> bool {
    let (Some(from), Some(until)) = (from, until) else { return !days.is_empty() };
    from.iter_days().take_while(|d| *d <= until).take(7).any(|d| days.contains(&Weekday::of(d)))
}

impl<'p> Region<'p> {
    fn of(spec: &'p ProgramSpec, w: &'p Conditions) -> std::result::Result<Region<'p>, Dead> {
        let base = &spec.earning_base;
        let earning: BTreeSet<&str> = spec
            .categories
            .iter()
            .map(String::as_str)
            .filter(|c| !base.exclude_categories.iter().any(|x| x == c))
            .collect();
        let mut cats: BTreeSet<&str> =
            earning.iter().copied().filter(|c| !w.exclude_categories.iter().any(|x| x == c)).collect();
        if !w.categories.is_empty() {
            cats.retain(|c| w.categories.iter().any(|x| x == c));
        }
        if cats.is_empty() {
            return Err(if !w.categories.is_empty() {
                Dead {
                    field: "when.categories",
                    why: format!(
                        "every category it names ({}) is excluded by earning_base.exclude_categories, \
                         so no line can match",
                        quoted(w.categories.iter().map(String::as_str))
                    ),
                }
            } else {
                Dead {
                    field: "when.exclude_categories",
                    why: "together with earning_base.exclude_categories it excludes every declared category, \
                          so no line can match"
                        .into(),
                }
            });
        }
        let no_skus: BTreeSet<&str> = base.exclude_skus.iter().chain(&w.exclude_skus).map(String::as_str).collect();
        let skus = opt_set(&w.skus);
        if let Some(s) = &skus {
            if s.is_subset(&no_skus) {
                return Err(Dead {
                    field: "when.skus",
                    why: format!(
                        "every SKU it names ({}) is excluded by its own when.exclude_skus or by \
                         earning_base.exclude_skus, so no line can match",
                        quoted(s.iter().copied())
                    ),
                });
            }
        }
        let weekdays: Option<BTreeSet<Weekday>> =
            (!w.weekdays.is_empty()).then(|| w.weekdays.iter().copied().collect());
        if let Some(days) = &weekdays {
            if !has_weekday(w.from, w.until, days) {
                return Err(Dead {
                    field: "when.weekdays",
                    why: format!(
                        "no day from {} to {} is a {}",
                        w.from.map(|d| d.to_string()).unwrap_or_default(),
                        w.until.map(|d| d.to_string()).unwrap_or_default(),
                        days.iter().map(|d| weekday_name(*d)).collect::<Vec<_>>().join(" or ")
                    ),
                });
            }
        }
        let mut tiers = opt_set(&w.tiers);
        if let Some(c) = &w.chosen {
            if let Some(p) = spec.promotions.iter().find(|p| &p.id == c) {
                let promo = opt_set(&p.tiers);
                let both = meet(&tiers, &promo);
                if both.as_ref().is_some_and(BTreeSet::is_empty) {
                    return Err(Dead {
                        field: "when.tiers",
                        why: format!(
                            "the promotion {} it needs (when.chosen) is only for levels {}, none of which \
                             this rule allows ({})",
                            quote(c),
                            quoted(p.tiers.iter().map(String::as_str)),
                            quoted(w.tiers.iter().map(String::as_str))
                        ),
                    });
                }
                tiers = both;
            }
        }
        let mut variants: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for v in &w.variants {
            if let Some((c, v)) = v.split_once('/') {
                variants.entry(c).or_default().insert(v);
            }
        }
        Ok(Region {
            cats,
            all_cats: earning.len(),
            skus,
            no_skus,
            channels: opt_set(&w.channels),
            stores: opt_set(&w.stores),
            from: w.from,
            until: w.until,
            weekdays,
            minutes: w.time_of_day.map(Minutes::of),
            tiers,
            partners: opt_set(&w.partners),
            attributes: w.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            variants,
            birthday_month: w.birthday.is_some(),
            chosen: w.chosen.iter().map(String::as_str).collect(),
        })
    }

    /// The lines and purchases both regions match, or why there are none
    /// (in words naming `a` and `b`).
    fn and(&self, other: &Region<'p>, a: &str, b: &str) -> std::result::Result<Region<'p>, String> {
        let cats: BTreeSet<&str> = self.cats.intersection(&other.cats).copied().collect();
        if cats.is_empty() {
            return Err(format!(
                "{a} matches only {} lines and {b} only {} lines",
                quoted(self.cats.iter().copied()),
                quoted(other.cats.iter().copied())
            ));
        }
        let no_skus: BTreeSet<&str> = self.no_skus.union(&other.no_skus).copied().collect();
        let skus = meet(&self.skus, &other.skus);
        if let Some(s) = &skus {
            if s.is_subset(&no_skus) {
                return Err(format!("no SKU is allowed by both {a} and {b}"));
            }
        }
        let disjoint = |field: &str,
                        x: &Option<BTreeSet<&'p str>>,
                        y: &Option<BTreeSet<&'p str>>|
         -> std::result::Result<Option<BTreeSet<&'p str>>, String> {
            let both = meet(x, y);
            match both {
                Some(s) if s.is_empty() => Err(format!(
                    "{a} needs {field} {} and {b} {field} {}",
                    quoted(x.iter().flatten().copied()),
                    quoted(y.iter().flatten().copied())
                )),
                other => Ok(other),
            }
        };
        let channels = disjoint("channel", &self.channels, &other.channels)?;
        let stores = disjoint("store", &self.stores, &other.stores)?;
        let tiers = disjoint("level", &self.tiers, &other.tiers)?;
        let partners = match (&self.partners, &other.partners) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(format!("{a} applies only to partners' purchases and {b} only to the program's own"))
            }
            (None, Some(_)) => {
                return Err(format!("{a} applies only to the program's own purchases and {b} only to partners'"))
            }
            (x, y) => disjoint("partner", x, y)?,
        };
        let from = self.from.max(other.from);
        let until = match (self.until, other.until) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        if let (Some(f), Some(u)) = (from, until) {
            if f > u {
                let range = |r: &Region<'_>| match (r.from, r.until) {
                    (Some(f), Some(u)) => format!("from {f} to {u}"),
                    (Some(f), None) => format!("from {f}"),
                    (None, Some(u)) => format!("until {u}"),
                    (None, None) => "always".into(),
                };
                return Err(format!("{a} applies {} and {b} {}", range(self), range(other)));
            }
        }
        let weekdays = meet(&self.weekdays, &other.weekdays);
        if let Some(days) = &weekdays {
            if !has_weekday(from, until, days) {
                return Err(format!("no day allowed by both {a} and {b} falls on a weekday both allow"));
            }
        }
        let minutes = match (self.minutes, other.minutes) {
            (Some(x), Some(y)) => {
                let m = x.and(y);
                if m.is_empty() {
                    return Err(format!("{a} applies {} and {b} {}", x.words(), y.words()));
                }
                Some(m)
            }
            (x, y) => x.or(y),
        };
        let mut attributes = self.attributes.clone();
        for (k, v) in &other.attributes {
            match attributes.get(k) {
                Some(mine) if mine != v => {
                    let (k, mine, v) = (shown(k), quote(mine), quote(v));
                    return Err(format!("{a} needs attribute {k} = {mine} and {b} {k} = {v}"));
                }
                _ => {
                    attributes.insert(k, v);
                }
            }
        }
        let mut variants = self.variants.clone();
        for (c, vs) in &other.variants {
            let entry = variants.entry(c).or_insert_with(|| vs.clone());
            entry.retain(|v| vs.contains(v));
            if entry.is_empty() {
                return Err(format!("{a} and {b} are for different variants of campaign {}", quote(c)));
            }
        }
        Ok(Region {
            cats,
            all_cats: self.all_cats,
            skus,
            no_skus,
            channels,
            stores,
            from,
            until,
            weekdays,
            minutes,
            tiers,
            partners,
            attributes,
            variants,
            birthday_month: self.birthday_month || other.birthday_month,
            chosen: self.chosen.union(&other.chosen).copied().collect(),
        })
    }

    /// The region in words: "'coffee' lines on Tuesday, 15:00–18:00".
    fn words(&self) -> String {
        let mut s = if self.cats.len() == self.all_cats {
            "any earning line".to_owned()
        } else {
            format!("{} lines", quoted(self.cats.iter().copied()))
        };
        if let Some(skus) = &self.skus {
            s += &format!(" with SKU {}", quoted(skus.difference(&self.no_skus).copied()));
        }
        let mut parts = Vec::new();
        if let Some(p) = &self.partners {
            parts.push(format!("of partner {}", quoted(p.iter().copied())));
        }
        if let Some(c) = &self.channels {
            parts.push(format!("in channel {}", quoted(c.iter().copied())));
        }
        if let Some(c) = &self.stores {
            parts.push(format!("at store {}", quoted(c.iter().copied())));
        }
        match (self.from, self.until) {
            (Some(f), Some(u)) => parts.push(format!("from {f} to {u}")),
            (Some(f), None) => parts.push(format!("from {f}")),
            (None, Some(u)) => parts.push(format!("until {u}")),
            (None, None) => {}
        }
        if let Some(d) = &self.weekdays {
            parts.push(format!("on {}", d.iter().map(|d| weekday_name(*d)).collect::<Vec<_>>().join(" or ")));
        }
        if let Some(m) = self.minutes {
            parts.push(m.words());
        }
        if let Some(t) = &self.tiers {
            parts.push(format!("for members at level {}", quoted(t.iter().copied())));
        }
        if self.birthday_month {
            parts.push("on the member's birthday".into());
        }
        for (k, v) in &self.attributes {
            parts.push(format!("for members with {} = {}", shown(k), quote(v)));
        }
        for (c, vs) in &self.variants {
            parts.push(format!("in variant {} of campaign {}", quoted(vs.iter().copied()), quote(c)));
        }
        for c in &self.chosen {
            parts.push(format!("on a day chosen for promotion {}", quote(c)));
        }
        if !parts.is_empty() {
            s += " ";
            s += &parts.join(", ");
        }
        s
    }
}

/// Earn rules (and tier multipliers) that no line can match.
fn dead_rules(program: &Program, rules: &[RuleInfo<'_>], out: &mut Vec<Warning>) {
    // Without categories no purchase line is valid: nothing to say rule by rule.
    if program.spec.categories.is_empty() {
        return;
    }
    for r in rules {
        match &r.region {
            Err(dead) => {
                out.push(Warning::new("dead-rule", r.path(dead.field), r.what, Some(r.id), dead.why.clone()));
            }
            Ok(region) if r.rule.shape.multiplies() => {
                let targets: Vec<&RuleInfo<'_>> =
                    r.rule.targets.iter().filter_map(|&t| rules.iter().find(|x| x.rule.index == t)).collect();
                let mut why = Vec::new();
                let mut any = false;
                for t in &targets {
                    match &t.region {
                        Err(_) => why.push(format!("{} can never fire", t.name())),
                        Ok(tr) => match region.and(tr, &r.name(), &t.name()) {
                            Ok(_) => any = true,
                            Err(e) => why.push(e),
                        },
                    }
                }
                if !any {
                    let field = if r.applies_to { "applies_to" } else { "when" };
                    let why = if targets.is_empty() {
                        "there is no per_amount, percent or per-line script rule for it to multiply".to_owned()
                    } else {
                        format!("it never multiplies anything: {}", why.join("; "))
                    };
                    out.push(Warning::new("dead-rule", r.path(field), r.what, Some(r.id), why));
                }
            }
            Ok(_) => {}
        }
    }
}

/// Pairs of exclusive rules of the same stage whose conditions can match the same line.
fn exclusive_overlaps(program: &Program, rules: &[RuleInfo<'_>], out: &mut Vec<Warning>) {
    if program.spec.categories.is_empty() {
        return;
    }
    let exclusive: Vec<&RuleInfo<'_>> = rules.iter().filter(|r| r.rule.exclusive && r.region.is_ok()).collect();
    for (j, b) in exclusive.iter().enumerate() {
        for a in &exclusive[..j] {
            if a.rule.shape.multiplies() != b.rule.shape.multiplies() {
                continue;
            }
            let (Ok(ra), Ok(rb)) = (&a.region, &b.region) else { continue };
            if let Ok(both) = ra.and(rb, &a.name(), &b.name()) {
                out.push(Warning::new(
                    "exclusive-overlap",
                    b.path("stacking"),
                    b.what,
                    Some(b.id),
                    format!(
                        "this rule and {} are both exclusive and can both match {}: on such a purchase only the \
                         one giving more points applies (ties: lower priority, then id)",
                        a.name(),
                        both.words()
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Bounds: the most points one member can earn in a span of time.

/// An upper bound on the days, calendar months and calendar years a span
/// touches (`None`: unbounded).
#[derive(Debug, Clone, Copy)]
struct Span {
    days: Option<i128>,
    months: Option<i128>,
    years: Option<i128>,
}

impl Span {
    fn of_days(days: i128) -> Span {
        Span { days: Some(days + 1), months: Some(days / 28 + 2), years: Some(days / 365 + 2) }
    }

    fn periods(self, per: Per) -> Option<i128> {
        match per {
            Per::Day => self.days,
            Per::Month => self.months,
            Per::Year => self.years,
            Per::Ever => Some(1),
        }
    }
}

/// At most how many days a period lasts.
fn max_days(p: Period) -> i128 {
    let n = i128::from(p.count());
    match p {
        Period::Minutes(_) => n / 1440 + 1,
        Period::Hours(_) => n / 24 + 1,
        Period::Days(_) => n,
        Period::Months(_) => n * 31,
    }
}

fn min_opt(a: Option<i128>, b: Option<i128>) -> Option<i128> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn mul(a: Option<i128>, b: Option<i128>) -> Option<i128> {
    a?.checked_mul(b?)
}

/// The most one earn rule can give one member within `span`.
fn rule_bound(program: &Program, rule: &CompiledEarn, span: Span) -> Option<i128> {
    let caps = &rule.caps;
    let purchases = program.spec.limits.earning_purchases_per_day.map(i128::from);
    let per_purchase = match (rule.shape, &rule.script) {
        (Shape::Bonus, None) => Some(i128::from(rule.fixed)),
        (Shape::Bonus, Some(s)) => Some(i128::from(s.max_units)),
        _ => None,
    };
    let per_purchase = min_opt(per_purchase, caps.per_transaction.map(i128::from));
    let mut bound = caps.lifetime.map(i128::from);
    bound = min_opt(bound, mul(caps.per_month.map(i128::from), span.months));
    bound = min_opt(bound, mul(caps.per_day.map(i128::from), span.days));
    bound = min_opt(bound, mul(mul(per_purchase, purchases), span.days));
    bound
}

/// The most the earn rules can give one member within `span`, with the
/// rules that leave it unbounded.
fn earn_bound(program: &Program, span: Span) -> std::result::Result<i128, Vec<&str>> {
    let mut total: i128 = 0;
    let mut open = Vec::new();
    for r in &program.earn {
        match rule_bound(program, r, span) {
            Some(b) => total = total.saturating_add(b),
            None => open.push(&*r.id),
        }
    }
    if open.is_empty() {
        Ok(total)
    } else {
        Err(open)
    }
}

fn points_text(program: &Program, units: i128) -> String {
    format_points(Points::try_from(units).unwrap_or(Points::MAX), program.spec.points.scale)
}

/// Levels of a `points_earned` ladder whose `min` the capped earn rules cannot reach in one window.
fn tiers(program: &Program, out: &mut Vec<Warning>) {
    let Some(t) = &program.spec.tiers else { return };
    if t.measure != TierMeasure::PointsEarned {
        return;
    }
    let (span, window) = match t.window {
        TierWindow::CalendarYear => (Span { days: Some(366), months: Some(12), years: Some(1) }, "a calendar year"),
        TierWindow::AnniversaryYear => {
            (Span { days: Some(366), months: Some(13), years: Some(2) }, "a membership year")
        }
        TierWindow::RollingMonths(n) => {
            let n = i128::from(n);
            (Span { days: Some(31 * n), months: Some(n + 1), years: Some(n / 12 + 2) }, "the rolling window")
        }
        TierWindow::Lifetime => (Span { days: None, months: None, years: None }, "a lifetime"),
    };
    let Ok(bound) = earn_bound(program, span) else { return };
    for (i, l) in t.levels.iter().enumerate() {
        let Some(min) = l.min else { continue };
        if l.script.is_some() || min.decimal() <= rust_decimal::Decimal::from(bound) {
            continue;
        }
        let also = if l.subscription.is_some() {
            " (it can still be bought by subscription or assigned by hand)"
        } else {
            " (it can still be assigned by hand)"
        };
        out.push(Warning::new(
            "unreachable-tier",
            format!("tiers.levels[{i}].min"),
            "level",
            Some(&l.id),
            format!(
                "needs {min} {unit} earned, but the earn rules' caps allow at most {bound} in {window}{also}",
                unit = if program.spec.points.scale == 0 { "points" } else { "point units" }
            ),
        ));
    }
}

/// Rewards costing more than one member can hold at once before expiry.
fn rewards(program: &Program, out: &mut Vec<Warning>) {
    let spec = &program.spec;
    if spec.rewards.is_empty() || spec.tiers.iter().flat_map(|t| &t.levels).any(|l| l.points_never_expire) {
        return;
    }
    let e = &spec.expiry;
    let (days, how) = match e.kind {
        ExpiryKind::None | ExpiryKind::Inactivity => return,
        ExpiryKind::After => {
            let Some(p) = e.period else { return };
            let mut d = max_days(p) + 1;
            d += match e.round_to {
                RoundTo::None => 0,
                RoundTo::EndOfDay => 1,
                RoundTo::EndOfMonth => 31,
                RoundTo::EndOfYear => 366,
            };
            if e.from == ExpiryFrom::Available {
                d += spec.pending.map_or(0, max_days) + 1;
            }
            (d, format!("points expire {p} after they are earned"))
        }
        ExpiryKind::FixedDate => (
            366 * (i128::from(e.years_after) + 1) + 1,
            format!(
                "points expire by the fixed date {}/{} at most {} year(s) on",
                e.month.unwrap_or(0),
                e.day.unwrap_or(0),
                e.years_after + 1
            ),
        ),
    };
    let span = Span::of_days(days);
    let Ok(mut bound) = earn_bound(program, span) else { return };
    let mut add = |b: Option<i128>| -> bool {
        match b {
            Some(b) => {
                bound = bound.saturating_add(b);
                true
            }
            None => false,
        }
    };
    let mut bounded = true;
    if let Some(s) = &spec.signup {
        bounded &= add(Some(i128::from(s.points)));
    }
    if let Some(b) = &spec.birthday {
        bounded &= add(mul(Some(i128::from(b.points)), span.years));
    }
    for a in &spec.activities {
        let count = min_opt(
            a.max_ever.map(i128::from),
            min_opt(mul(a.max_per_month.map(i128::from), span.months), mul(a.max_per_day.map(i128::from), span.days)),
        );
        bounded &= add(mul(count, Some(i128::from(a.points))));
    }
    for c in &spec.challenges {
        let count = c.max_completions.and_then(|m| mul(Some(i128::from(m.count)), span.periods(m.per)));
        bounded &= add(mul(count, Some(i128::from(c.points))));
    }
    if let Some(r) = &spec.referral {
        let count = r.max_per_referrer.and_then(|m| mul(Some(i128::from(m.count)), span.periods(m.per)));
        bounded &= add(Some(i128::from(r.referee_points)));
        bounded &= add(mul(count, Some(i128::from(r.referrer_points))));
    }
    if let Some(t) = &spec.transfers {
        bounded &= add(mul(t.max_in_per_month.map(i128::from), span.months));
    }
    if !bounded {
        return;
    }
    for (i, rw) in spec.rewards.iter().enumerate() {
        if i128::from(rw.cost) > bound {
            out.push(Warning::new(
                "unaffordable-reward",
                format!("rewards[{i}].cost"),
                "reward",
                Some(&rw.id),
                format!(
                    "costs {} points, but one member can hold at most {} at once: {how} and the caps of \
                     what earns points allow no more in that time (manual adjustments aside)",
                    points_text(program, i128::from(rw.cost)),
                    points_text(program, bound)
                ),
            ));
        }
    }
}

/// Fixed bonuses that a cap cuts on every award.
fn caps(program: &Program, out: &mut Vec<Warning>) {
    let scale = program.spec.points.scale;
    for (i, r) in program.spec.earn.iter().enumerate() {
        if r.kind != crate::program::EarnKind::Fixed {
            continue;
        }
        let Some(points) = r.points else { continue };
        let c = &r.caps;
        for (field, cap) in [
            ("per_transaction", c.per_transaction),
            ("per_day", c.per_day),
            ("per_month", c.per_month),
            ("lifetime", c.lifetime),
        ] {
            let Some(cap) = cap.filter(|c| *c < points) else { continue };
            let units = if scale > 0 {
                format!(
                    " (caps count point units: with points.scale = {scale} that is {} points)",
                    format_points(cap, scale)
                )
            } else {
                String::new()
            };
            out.push(Warning::new(
                "cap-below-award",
                format!("earn[{i}].caps.{field}"),
                "rule",
                Some(&r.id),
                format!(
                    "the cap of {cap} is below the rule's {points} points: every award is cut to at most {cap}{units}"
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Names.

/// A Latin letter or sign `c` looks like, and the script of `c`.
fn homoglyph(c: char) -> Option<(char, &'static str)> {
    const CYRILLIC: &[(char, char)] = &[
        ('а', 'a'),
        ('в', 'b'),
        ('с', 'c'),
        ('ԁ', 'd'),
        ('е', 'e'),
        ('һ', 'h'),
        ('і', 'i'),
        ('ј', 'j'),
        ('ӏ', 'l'),
        ('о', 'o'),
        ('р', 'p'),
        ('ԛ', 'q'),
        ('ѕ', 's'),
        ('ԝ', 'w'),
        ('х', 'x'),
        ('у', 'y'),
        ('А', 'A'),
        ('В', 'B'),
        ('С', 'C'),
        ('Е', 'E'),
        ('Н', 'H'),
        ('І', 'I'),
        ('Ј', 'J'),
        ('К', 'K'),
        ('М', 'M'),
        ('О', 'O'),
        ('Р', 'P'),
        ('Ԛ', 'Q'),
        ('Ѕ', 'S'),
        ('Т', 'T'),
        ('Ԝ', 'W'),
        ('Х', 'X'),
        ('Ү', 'Y'),
        ('Ӏ', 'I'),
    ];
    const GREEK: &[(char, char)] = &[
        ('α', 'a'),
        ('ο', 'o'),
        ('ν', 'v'),
        ('ρ', 'p'),
        ('ι', 'i'),
        ('υ', 'u'),
        ('Α', 'A'),
        ('Β', 'B'),
        ('Ε', 'E'),
        ('Ζ', 'Z'),
        ('Η', 'H'),
        ('Ι', 'I'),
        ('Κ', 'K'),
        ('Μ', 'M'),
        ('Ν', 'N'),
        ('Ο', 'O'),
        ('Ρ', 'P'),
        ('Τ', 'T'),
        ('Υ', 'Y'),
        ('Χ', 'X'),
    ];
    const OTHER: &[(char, char)] =
        &[('ı', 'i'), ('ℓ', 'l'), ('ⅼ', 'l'), ('ℹ', 'i'), ('‐', '-'), ('‑', '-'), ('–', '-'), ('—', '-'), ('−', '-')];
    if let Some(&(_, l)) = CYRILLIC.iter().find(|(x, _)| *x == c) {
        return Some((l, "Cyrillic"));
    }
    if let Some(&(_, l)) = GREEK.iter().find(|(x, _)| *x == c) {
        return Some((l, "Greek"));
    }
    if let Some(&(_, l)) = OTHER.iter().find(|(x, _)| *x == c) {
        return Some((l, "non-ASCII"));
    }
    if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        return char::from_u32(c as u32 - 0xFF01 + 0x21).map(|l| (l, "fullwidth"));
    }
    None
}

/// Characters that show as nothing (or as a plain space) in most fonts.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00A0}' | '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180E}' | '\u{2000}'..='\u{200F}' | '\u{2028}'..='\u{202F}' | '\u{205F}'..='\u{206F}'
        | '\u{3000}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{E0000}'..='\u{E007F}')
}

/// The base letter of an accented Latin letter, for the look-alike skeleton.
fn unaccented(c: char) -> Option<char> {
    const TABLE: &[(&str, char)] = &[
        ("àáâãäåāăą", 'a'),
        ("çćĉċč", 'c'),
        ("ďđ", 'd'),
        ("èéêëēĕėęě", 'e'),
        ("ĝğġģ", 'g'),
        ("ĥħ", 'h'),
        ("ìíîïĩīĭį", 'i'),
        ("ĵ", 'j'),
        ("ķ", 'k'),
        ("ĺļľŀł", 'l'),
        ("ñńņňŉ", 'n'),
        ("òóôõöøōŏő", 'o'),
        ("ŕŗř", 'r'),
        ("śŝşš", 's'),
        ("ţťŧ", 't'),
        ("ùúûüũūŭůűų", 'u'),
        ("ŵ", 'w'),
        ("ýÿŷ", 'y'),
        ("źżž", 'z'),
    ];
    let lower = c.to_lowercase().next().unwrap_or(c);
    TABLE.iter().find(|(set, _)| set.contains(lower)).map(|(_, base)| *base)
}

/// Blanks that show as a space (or as a narrow one).
fn blank(c: char) -> bool {
    matches!(c, ' ' | '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

/// A separator between the words of a name: `_`, `-`, `.`, a blank, or a
/// look-alike of one (a dash, a fullwidth sign).
fn separator(c: char) -> bool {
    matches!(c, '_' | '-' | '.') || blank(c) || homoglyph(c).is_some_and(|(l, _)| matches!(l, '_' | '-' | '.'))
}

/// Characters the skeleton drops: invisible ones and combining marks.
fn dropped(c: char) -> bool {
    invisible(c) || ('\u{0300}'..='\u{036F}').contains(&c)
}

/// A name as it looks: case folded, accents, combining marks and invisible
/// characters dropped, look-alike letters replaced by the Latin ones, and
/// every run of separators (`_`, `-`, `.`, blanks) written as one `_`.
fn skeleton(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if separator(c) {
            if !in_run {
                out.push('_');
                in_run = true;
            }
            continue;
        }
        if dropped(c) {
            continue;
        }
        in_run = false;
        let c = homoglyph(c).map(|(l, _)| l).or_else(|| unaccented(c)).unwrap_or(c);
        out.extend(c.to_lowercase());
    }
    out
}

/// A name split as [`skeleton`] sees it: the name with each run of
/// separators written as one `_` (everything else kept as it is), and the
/// runs of separators as written.
fn separator_runs(name: &str) -> (String, Vec<String>) {
    let (mut body, mut runs, mut run) = (String::new(), Vec::new(), String::new());
    for c in name.chars() {
        if separator(c) {
            run.push(c);
            continue;
        }
        if !dropped(c) && !run.is_empty() {
            runs.push(std::mem::take(&mut run));
            body.push('_');
        }
        body.push(c);
    }
    if !run.is_empty() {
        runs.push(run);
        body.push('_');
    }
    (body, runs)
}

/// A run of separators with blanks and look-alikes replaced by the ASCII sign.
fn plain_run(run: &str) -> String {
    run.chars().map(|c| if blank(c) { ' ' } else { homoglyph(c).map_or(c, |(l, _)| l) }).collect()
}

/// How two names with the same skeleton differ, in words: "they differ only
/// by '_' and '-'", "… only by case", "… only by case, accents or look-alike
/// characters: U+043E (Cyrillic, looks like 'o')".
fn difference(a: &str, b: &str) -> String {
    let ((body_a, runs_a), (body_b, runs_b)) = (separator_runs(a), separator_runs(b));
    let mut seps: Vec<&str> = Vec::new();
    let mut look_alike = runs_a.len() != runs_b.len() || body_a.to_lowercase() != body_b.to_lowercase();
    for (x, y) in runs_a.iter().zip(&runs_b) {
        if plain_run(x) != plain_run(y) {
            // A dash or a blank that only looks like a plain separator.
            look_alike |= !x.is_ascii() || !y.is_ascii();
            for r in [x, y] {
                if !seps.contains(&r.as_str()) {
                    seps.push(r);
                }
            }
        } else if x != y {
            look_alike = true;
        }
    }
    let mut parts = Vec::new();
    if !seps.is_empty() {
        let mut list: Vec<String> = seps.into_iter().map(quote).collect();
        let last = list.pop().unwrap_or_default();
        parts.push(if list.is_empty() { last } else { format!("{} and {last}", list.join(", ")) });
    }
    if look_alike {
        let odd = [odd_chars(a), odd_chars(b)].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("; ");
        parts.push(if odd.is_empty() {
            "case, accents or look-alike characters".to_owned()
        } else {
            format!("case, accents or look-alike characters: {odd}")
        });
    } else if body_a != body_b {
        parts.push("case".to_owned());
    }
    format!("they differ only by {}", parts.join(", and by "))
}

/// The script of a letter, for the letters of the scripts names are
/// usually written in (`None`: not a letter, or a letter of no one script,
/// like `ʼ` or `ℓ`).
fn script(c: char) -> Option<&'static str> {
    const SCRIPTS: &[(u32, u32, &str)] = &[
        (0x00AA, 0x00AA, "Latin"),
        (0x00BA, 0x00BA, "Latin"),
        (0x00C0, 0x024F, "Latin"),
        (0x0250, 0x02AF, "Latin"),
        (0x0370, 0x03FF, "Greek"),
        (0x0400, 0x052F, "Cyrillic"),
        (0x0530, 0x058F, "Armenian"),
        (0x0590, 0x05FF, "Hebrew"),
        (0x0600, 0x06FF, "Arabic"),
        (0x0700, 0x074F, "Syriac"),
        (0x0750, 0x077F, "Arabic"),
        (0x0780, 0x07BF, "Thaana"),
        (0x07C0, 0x07FF, "NKo"),
        (0x0870, 0x08FF, "Arabic"),
        (0x0900, 0x097F, "Devanagari"),
        (0x0980, 0x09FF, "Bengali"),
        (0x0A00, 0x0A7F, "Gurmukhi"),
        (0x0A80, 0x0AFF, "Gujarati"),
        (0x0B00, 0x0B7F, "Oriya"),
        (0x0B80, 0x0BFF, "Tamil"),
        (0x0C00, 0x0C7F, "Telugu"),
        (0x0C80, 0x0CFF, "Kannada"),
        (0x0D00, 0x0D7F, "Malayalam"),
        (0x0D80, 0x0DFF, "Sinhala"),
        (0x0E00, 0x0E7F, "Thai"),
        (0x0E80, 0x0EFF, "Lao"),
        (0x0F00, 0x0FFF, "Tibetan"),
        (0x1000, 0x109F, "Myanmar"),
        (0x10A0, 0x10FF, "Georgian"),
        (0x1100, 0x11FF, "Hangul"),
        (0x1200, 0x139F, "Ethiopic"),
        (0x13A0, 0x13FF, "Cherokee"),
        (0x1780, 0x17FF, "Khmer"),
        (0x1800, 0x18AF, "Mongolian"),
        (0x1C80, 0x1C8F, "Cyrillic"),
        (0x1C90, 0x1CBF, "Georgian"),
        (0x1D00, 0x1D7F, "Latin"),
        (0x1E00, 0x1EFF, "Latin"),
        (0x1F00, 0x1FFF, "Greek"),
        (0x2C60, 0x2C7F, "Latin"),
        (0x2D00, 0x2D2F, "Georgian"),
        (0x2DE0, 0x2DFF, "Cyrillic"),
        (0x3040, 0x309F, "Hiragana"),
        (0x30A0, 0x30FF, "Katakana"),
        (0x3130, 0x318F, "Hangul"),
        (0x31F0, 0x31FF, "Katakana"),
        (0x3400, 0x4DBF, "Han"),
        (0x4E00, 0x9FFF, "Han"),
        (0xA640, 0xA69F, "Cyrillic"),
        (0xA720, 0xA7FF, "Latin"),
        (0xAB30, 0xAB6F, "Latin"),
        (0xAB70, 0xABBF, "Cherokee"),
        (0xAC00, 0xD7AF, "Hangul"),
        (0xF900, 0xFAFF, "Han"),
        (0xFB00, 0xFB06, "Latin"),
        (0xFB13, 0xFB17, "Armenian"),
        (0xFB1D, 0xFB4F, "Hebrew"),
        (0xFB50, 0xFDFF, "Arabic"),
        (0xFE70, 0xFEFE, "Arabic"),
        (0xFF21, 0xFF3A, "Latin"),
        (0xFF41, 0xFF5A, "Latin"),
        (0xFF66, 0xFF9F, "Katakana"),
        (0x20000, 0x3FFFF, "Han"),
    ];
    if c.is_ascii_alphabetic() {
        return Some("Latin");
    }
    if !c.is_alphabetic() || c.is_ascii() {
        return None;
    }
    let code = u32::from(c);
    SCRIPTS.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&code)).map(|(_, _, s)| *s)
}

/// Scripts that are written together in one name as a matter of course
/// count as one: Han, kana and Hangul.
fn script_group(script: &'static str) -> &'static str {
    match script {
        "Han" | "Hiragana" | "Katakana" | "Hangul" => "CJK",
        s => s,
    }
}

/// If the letters of a name come from two scripts or more: the script of
/// most of them and the letters of the others, once each in name order.
/// Latin letters among Chinese, Japanese or Korean ones (`Tシャツ`) are usual
/// and do not count.
fn mixed_scripts(name: &str) -> Option<(&'static str, Vec<char>)> {
    let letters: Vec<(char, &'static str)> =
        name.chars().filter_map(|c| script(c).map(|s| (c, script_group(s)))).collect();
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for (_, g) in &letters {
        match counts.iter_mut().find(|(x, _)| x == g) {
            Some((_, n)) => *n += 1,
            None => counts.push((g, 1)),
        }
    }
    if counts.iter().any(|(g, _)| *g == "Latin") {
        counts.retain(|(g, _)| *g != "CJK");
    }
    if counts.len() < 2 {
        return None;
    }
    // The script of most letters; on a tie Latin, then the first written.
    let most = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let tied = counts.iter().filter(|(_, n)| *n == most).map(|(g, _)| *g);
    let base = tied.clone().find(|g| *g == "Latin").or_else(|| tied.clone().next())?;
    let mut foreign = Vec::new();
    for (c, g) in letters {
        if g != base && counts.iter().any(|(x, _)| *x == g) && !foreign.contains(&c) {
            foreign.push(c);
        }
    }
    Some((base, foreign))
}

/// One character in words: `U+043E (Cyrillic, looks like 'o')`, `U+0442 (Cyrillic)`.
fn describe(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    if invisible(c) {
        format!("{code} (invisible)")
    } else if let Some((l, script)) = homoglyph(c) {
        format!("{code} ({script}, looks like '{l}')")
    } else if unaccented(c).is_some() || ('\u{0300}'..='\u{036F}').contains(&c) {
        format!("{code} (accented)")
    } else if let Some(s) = script(c) {
        format!("{code} ({s})")
    } else {
        code
    }
}

/// The characters that make a name differ from plain ASCII, in words.
fn odd_chars(name: &str) -> String {
    let mut seen = BTreeSet::new();
    name.chars().filter(|c| !c.is_ascii() && seen.insert(*c)).map(describe).collect::<Vec<_>>().join(", ")
}

/// Why a name's characters are suspicious, if they are.
fn suspicious(name: &str) -> Option<String> {
    let hidden: Vec<char> = name.chars().filter(|c| invisible(*c)).collect();
    if !hidden.is_empty() {
        return Some(format!(
            "contains invisible or blank characters: {}",
            odd_chars(&hidden.iter().collect::<String>())
        ));
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Some("begins or ends with a space".into());
    }
    let glyphs: String = name.chars().filter(|c| !c.is_ascii() && homoglyph(*c).is_some()).collect();
    if let Some((base, foreign)) = mixed_scripts(name) {
        if base == "Latin" && foreign.iter().all(|c| homoglyph(*c).is_some()) {
            return Some(format!("mixes Latin letters with look-alikes from another script: {}", odd_chars(&glyphs)));
        }
        let list = foreign.into_iter().map(describe).collect::<Vec<_>>().join(", ");
        return Some(format!("mixes {base} letters with letters of another script: {list}"));
    }
    if glyphs.is_empty() {
        return None;
    }
    let latin = name.chars().any(|c| c.is_ascii_alphabetic());
    let letters = name.chars().filter(|c| c.is_alphabetic());
    let all_look_latin = letters.clone().all(|c| c.is_ascii_alphabetic() || homoglyph(c).is_some());
    if latin {
        Some(format!("mixes Latin letters with look-alikes from another script: {}", odd_chars(&glyphs)))
    } else if all_look_latin {
        Some(format!("every letter looks Latin but is not: {}", odd_chars(&glyphs)))
    } else {
        None
    }
}

/// Every name of the program by namespace: (path, what, name), in file order.
fn collect<'p>(spec: &'p ProgramSpec) -> BTreeMap<&'static str, Vec<(String, &'static str, &'p str)>> {
    let mut spaces: BTreeMap<&'static str, Vec<(String, &'static str, &'p str)>> = BTreeMap::new();
    let mut put = |space: &'static str, path: String, what: &'static str, name: &'p str| {
        spaces.entry(space).or_default().push((path, what, name));
    };
    for (i, c) in spec.categories.iter().enumerate() {
        put("category", format!("categories[{i}]"), "category", c.as_str());
    }
    for (i, c) in spec.partners.iter().enumerate() {
        put("partner", format!("partners[{i}]"), "partner", c.as_str());
    }
    for (i, s) in spec.earning_base.exclude_skus.iter().enumerate() {
        put("sku", format!("earning_base.exclude_skus[{i}]"), "sku", s.as_str());
    }
    for (i, r) in spec.earn.iter().enumerate() {
        put("id", format!("earn[{i}].id"), "rule", r.id.as_str());
        let w = &r.when;
        for (field, list, space) in [
            ("skus", &w.skus, "sku"),
            ("exclude_skus", &w.exclude_skus, "sku"),
            ("channels", &w.channels, "channel"),
            ("stores", &w.stores, "store"),
        ] {
            for (j, s) in list.iter().enumerate() {
                put(space, format!("earn[{i}].when.{field}[{j}]"), space, s.as_str());
            }
        }
        for k in w.attributes.keys() {
            put("attribute", format!("earn[{i}].when.attributes.{k}"), "attribute", k.as_str());
        }
    }
    for (i, r) in spec.burn.iter().enumerate() {
        put("id", format!("burn[{i}].id"), "rule", r.id.as_str());
        for (j, s) in r.exclude_skus.iter().enumerate() {
            put("sku", format!("burn[{i}].exclude_skus[{j}]"), "sku", s.as_str());
        }
    }
    if let Some(t) = &spec.tiers {
        if let Some(c) = &t.counter {
            put("id", "tiers.counter".into(), "activity", c.as_str());
        }
        for (i, l) in t.levels.iter().enumerate() {
            put("level", format!("tiers.levels[{i}].id"), "level", l.id.as_str());
            for (j, p) in l.perks.iter().enumerate() {
                put("perk", format!("tiers.levels[{i}].perks[{j}]"), "perk", p.as_str());
            }
        }
    }
    for (i, a) in spec.activities.iter().enumerate() {
        put("id", format!("activities[{i}].id"), "activity", a.id.as_str());
    }
    for (i, c) in spec.challenges.iter().enumerate() {
        put("id", format!("challenges[{i}].id"), "challenge", c.id.as_str());
    }
    for (i, r) in spec.rewards.iter().enumerate() {
        put("id", format!("rewards[{i}].id"), "reward", r.id.as_str());
        if let Some(s) = &r.sku {
            put("sku", format!("rewards[{i}].sku"), "sku", s.as_str());
        }
        for k in r.attributes.keys() {
            put("attribute", format!("rewards[{i}].attributes.{k}"), "attribute", k.as_str());
        }
    }
    for (i, p) in spec.promotions.iter().enumerate() {
        put("promotion", format!("promotions[{i}].id"), "promotion", p.id.as_str());
    }
    for (i, c) in spec.campaigns.iter().enumerate() {
        put("campaign", format!("campaigns[{i}].id"), "campaign", c.id.as_str());
        for (j, v) in c.variants.iter().enumerate() {
            put("variant", format!("campaigns[{i}].variants[{j}].id"), "variant", v.id.as_str());
        }
    }
    for code in spec.adjust_reasons.keys() {
        put("reason", format!("adjust_reasons.{code}"), "reason", code.as_str());
    }
    spaces
}

/// Look-alike names within each namespace, and odd characters in names.
fn names(spec: &ProgramSpec, out: &mut Vec<Warning>) {
    let spaces = collect(spec);
    for entries in spaces.values() {
        // The first place of each distinct name.
        let mut first: Vec<(&String, &'static str, &str)> = Vec::new();
        for (path, what, name) in entries {
            if !first.iter().any(|(_, _, n)| n == name) {
                first.push((path, *what, *name));
            }
        }
        first.sort_by(|a, b| natural(a.0, b.0));
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (k, (_, _, name)) in first.iter().enumerate() {
            groups.entry(skeleton(name)).or_default().push(k);
        }
        for members in groups.values().filter(|g| g.len() > 1) {
            let (ref_path, _, ref_name) = first[members[0]];
            for &k in &members[1..] {
                let (path, what, name) = first[k];
                let how = difference(ref_name, name);
                out.push(Warning::new(
                    "look-alike-names",
                    path.clone(),
                    what,
                    Some(name),
                    format!("looks like {} ({}): {how}", quote(ref_name), shown(ref_path)),
                ));
            }
        }
    }
    // Odd characters, once per place.
    for (path, what, name) in spaces.values().flatten() {
        if let Some(why) = suspicious(name) {
            out.push(Warning::new("suspicious-char", path.clone(), what, Some(name), why));
        }
    }
}
