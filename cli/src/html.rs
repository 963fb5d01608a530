//! `--html FILE`: the report as one self-contained HTML page.
//!
//! No external resource of any kind: the CSS is inline, the charts are SVG
//! written here, there is no script. The page shows the period's headline
//! numbers and RFM segments, then four charts: liability and breakage per
//! calendar month (in the program's time zone) over the log's span, members
//! per tier level at the end of the period, earn and burn per rule, and the
//! retention of monthly cohorts. Every text that comes from the program or
//! the log is escaped; the same input gives the same bytes (no "now").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use loyalty::analytics::{Analytics, Config, Interval, Report, Segment};
use loyalty::{format_points, Member, Program};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::InputError;

/// The colour of the liability line (the page's first chart).
const LIABILITY: &str = "#1f5fbf";
/// The colour of the breakage line.
const BREAKAGE: &str = "#e8730c";
const EARN: &str = "#2e8b57";
const BURN: &str = "#c0392b";
const TIER: &str = "#6a4fb3";
const GRID: &str = "#e3e6ea";
const AXIS: &str = "#555b63";

/// Cohorts shown at most (the latest ones), and months since at most.
const COHORTS_MAX: usize = 24;

/// What the page is made of.
pub struct Sources<'a> {
    pub program: &'a Program,
    /// Every applied event of the log, recorded.
    pub analytics: &'a Analytics,
    /// The report of the period the page is about.
    pub report: &'a Report,
    /// The members at the end of the log.
    pub members: &'a BTreeMap<String, Member>,
    /// Every applied purchase: (member id, instant).
    pub purchases: &'a [(String, DateTime<Utc>)],
    /// The first and the last event of the log.
    pub span: (DateTime<Utc>, DateTime<Utc>),
}

/// Writes the page to `path`.
pub fn write(path: &Path, sources: &Sources<'_>) -> Result<(), InputError> {
    std::fs::write(path, page(sources)).map_err(|e| InputError(format!("{}: {e}", path.display())))
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, with `…` when cut; then escaped.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return escape(text);
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    escape(&format!("{cut}…"))
}

/// Digits grouped by three with a narrow no-break space (`12 345.50`); the
/// text must be a plain number. The result is HTML.
fn group(number: &str) -> String {
    let (sign, rest) = number.strip_prefix('-').map_or(("", number), |r| ("−", r));
    let (int, frac) = rest.split_once('.').map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push_str("&#8239;");
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn percent(v: Option<Decimal>) -> String {
    v.map_or_else(|| "—".to_owned(), |d| format!("{}&#8239;%", (d * Decimal::from(100)).round_dp(1)))
}

fn money(v: Option<Decimal>) -> String {
    v.map_or_else(|| "—".to_owned(), |d| group(&d.to_string()))
}

fn float(v: Decimal) -> f64 {
    v.to_f64().unwrap_or(0.0)
}

/// A calendar month in the program's time zone.
struct Month {
    year: i32,
    month: u32,
    period: Interval,
    /// The log covers less than half of the month (it starts or ends in it).
    partial: bool,
}

impl Month {
    fn label(&self) -> String {
        format!("{}-{:02}", self.year, self.month)
    }

    /// `Jan`, or `Jan*` for a partial month.
    fn abbreviation(&self) -> String {
        let name = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            [(self.month - 1) as usize];
        if self.partial {
            format!("{name}*")
        } else {
            name.to_owned()
        }
    }
}

/// The first instant of a month in `zone` (a midnight a clock change skips:
/// the first hour that exists).
fn month_start<Z: TimeZone>(zone: &Z, year: i32, month: u32) -> DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
    (0..24)
        .find_map(|h| zone.from_local_datetime(&date.and_hms_opt(h, 0, 0)?).earliest())
        .map_or_else(|| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(), |t| t.with_timezone(&Utc))
}

/// The number of a month, for differences: `year × 12 + month − 1`.
fn ordinal<Z: TimeZone>(zone: &Z, at: DateTime<Utc>) -> i64 {
    let local = at.with_timezone(zone);
    i64::from(local.year()) * 12 + i64::from(local.month0())
}

/// Every calendar month from the one of `first` to the one of `last`.
fn months<Z: TimeZone>(zone: &Z, first: DateTime<Utc>, last: DateTime<Utc>) -> Vec<Month> {
    let (from, to) = (ordinal(zone, first), ordinal(zone, last).max(ordinal(zone, first)));
    let ym = |o: i64| ((o.div_euclid(12)) as i32, (o.rem_euclid(12) + 1) as u32);
    (from..=to)
        .map(|o| {
            let ((y, m), (ny, nm)) = (ym(o), ym(o + 1));
            let period = Interval::new(month_start(zone, y, m), month_start(zone, ny, nm));
            let covered = period.until.min(last) - period.from.max(first);
            Month { year: y, month: m, period, partial: covered * 2 < period.until - period.from }
        })
        .collect()
}

/// A note on the partial months, if any.
fn partial_note(months: &[Month]) -> String {
    let partial: Vec<String> = months.iter().filter(|m| m.partial).map(Month::label).collect();
    match partial.len() {
        0 => String::new(),
        1 => format!(" * {}: the log covers less than half of this month.", partial[0]),
        _ => format!(" * {}: the log covers less than half of these months.", partial.join(", ")),
    }
}

/// Round axis ticks from 0 to at least `max`: (step, top).
fn ticks(max: f64) -> (f64, f64) {
    let max = if max > 0.0 && max.is_finite() { max } else { 1.0 };
    let raw = max / 5.0;
    let magnitude = 10_f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|f| f * magnitude).find(|s| *s >= raw).unwrap_or(magnitude * 10.0);
    (step, (max / step).ceil() * step)
}

/// A tick value as text: as many decimals as the step needs, grouped.
fn tick(value: f64, step: f64) -> String {
    let decimals = (0..6).find(|d| ((step * 10_f64.powi(*d)).fract()).abs() < 1e-9).unwrap_or(6) as usize;
    group(&format!("{value:.decimals$}"))
}

/// The whole page.
pub fn page(s: &Sources<'_>) -> String {
    let program = s.program;
    let spec = program.spec();
    let zone = program.time_zone();
    let r = s.report;
    let title = if spec.name.is_empty() { spec.id.clone() } else { spec.name.clone() };
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>{} — loyalty report</title>", escape(&title));
    out.push_str(STYLE);
    out.push_str("</head>\n<body>\n<main class=\"page\">\n");
    let _ = writeln!(
        out,
        "<header><h1>{}</h1><p class=\"sub\">Program <code>{}</code> · {} to {} ({}) · points worth {} {} each{}</p></header>",
        escape(&title),
        escape(&spec.id),
        r.period.from.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        r.period.until.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        escape(&spec.time_zone),
        escape(&spec.points.value.to_string()),
        escape(&spec.currency),
        if spec.points.scale > 0 { format!(" per 10<sup>{}</sup> units", spec.points.scale) } else { String::new() },
    );
    headline(&mut out, program, r);
    let months = months(&zone, s.span.0, s.span.1);
    let config = Config::default();
    let monthly: Vec<Report> = months.iter().map(|m| s.analytics.report(program, &m.period, &config)).collect();
    liability_chart(&mut out, program, &months, &monthly);
    out.push_str("<div class=\"row\">\n");
    tier_chart(&mut out, s);
    segments(&mut out, r, &config);
    out.push_str("</div>\n");
    rule_chart(&mut out, program, r);
    cohorts(&mut out, &zone, &months, s.purchases);
    out.push_str(
        "<footer>Made by <code>loyalty report --html</code> from the event log alone: the same log gives the same page.</footer>\n",
    );
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

const STYLE: &str = "<style>
*{box-sizing:border-box}
body{margin:0;background:#fff;color:#1d2228;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans','Liberation Sans',Arial,sans-serif}
.page{width:1160px;padding:16px 24px 32px}
h1{font-size:26px;margin:0 0 2px}
h2{font-size:18px;margin:0 0 4px}
.sub,.note{color:#5b636d;margin:0 0 10px}
.note{font-size:12.5px}
section{border:1px solid #dde1e6;border-radius:8px;padding:14px 16px;margin:14px 0}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:10px;margin:12px 0}
.card{border:1px solid #dde1e6;border-radius:8px;padding:8px 12px;background:#f7f9fb}
.card .k{font-size:12px;color:#5b636d;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600}
.card .d{font-size:12px;color:#5b636d}
.row{display:flex;gap:14px}
.row section{flex:1 1 0;min-width:0;margin:0}
.row section#tiers{flex:0 0 auto}
svg{display:block}
svg text{font-family:inherit}
table{border-collapse:collapse}
.seg{width:100%}
.seg td,.seg th{padding:5px 8px;border-bottom:1px solid #e3e6ea;text-align:left;white-space:nowrap}
.seg td.r{white-space:normal}
.seg td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:10px;background:#6a4fb3;border-radius:2px}
.coh th,.coh td{padding:3px 2px;font-size:11.5px;text-align:center;min-width:35px;border:1px solid #fff}
.coh th{color:#5b636d;font-weight:600}
.coh td.c{text-align:left;white-space:nowrap;color:#1d2228}
.coh td.p{color:#8a929b;font-style:italic;background:#f4f5f7}
footer{color:#7b838d;font-size:12px;margin-top:10px}
</style>
";

/// The headline numbers of the period.
fn headline(out: &mut String, program: &Program, r: &Report) {
    let spec = program.spec();
    let currency = escape(&spec.currency);
    let p = |v: i64| group(&format_points(v, spec.points.scale));
    let c = &r.customers;
    let cards: [(&str, String, String); 10] = [
        (
            "Retention",
            percent(r.retention_rate),
            format!("{} of {} active at the start still active", c.retained, c.active_at_start),
        ),
        ("Churn", percent(r.churn_rate), format!("{} new, {} won back", c.new, c.won_back)),
        (
            "Average order",
            money(r.average_order_value),
            format!("{currency} · {} orders by {} customers", r.orders, r.purchasers),
        ),
        ("Lifetime value", money(r.historical_clv), format!("{currency} to date per customer")),
        ("Projected CLV", money(r.projected_clv), format!("{currency} · AOV × frequency × lifetime")),
        (
            "NPS",
            r.nps.score.map_or_else(|| "—".to_owned(), |d| d.round_dp(1).to_string()),
            format!("{} promoters, {} detractors of {}", r.nps.promoters, r.nps.detractors, r.nps.answers),
        ),
        (
            "Breakage",
            percent(r.breakage_rate),
            format!("of expired + redeemed; {} of issued", percent(r.breakage_over_issued)),
        ),
        ("Liability", group(&r.liability.to_string()), format!("{currency} · {} points outstanding", p(r.outstanding))),
        (
            "Net sales",
            group(&r.net_sales.round_dp(2).to_string()),
            format!("{currency} · returns {}", group(&r.returns.round_dp(2).to_string())),
        ),
        (
            "Points",
            p(r.points.earned + r.points.credited),
            format!("issued · {} redeemed · {} expired", p(r.points.redeemed), p(r.points.expired)),
        ),
    ];
    out.push_str("<div class=\"cards\">\n");
    for (k, v, d) in cards {
        let _ = writeln!(
            out,
            "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{v}</div><div class=\"d\">{d}</div></div>"
        );
    }
    out.push_str("</div>\n");
}

/// Opens a chart section: its title (also the SVG's title) and a note.
fn section(out: &mut String, id: &str, title: &str, note: &str) {
    let _ = writeln!(out, "<section id=\"{id}\"><h2>{title}</h2><p class=\"note\">{note}</p>");
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, class: &str, body: &str) {
    let _ = writeln!(out, "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" {class}>{body}</text>");
}

/// Liability at each month's end and the month's breakage rate.
fn liability_chart(out: &mut String, program: &Program, months: &[Month], monthly: &[Report]) {
    let spec = program.spec();
    let currency = escape(&spec.currency);
    section(
        out,
        "liability",
        "Liability and breakage by month",
        &format!(
            "Liability: what the outstanding points are worth at each month's end ({currency}). Breakage: expired points \
             over expired + redeemed in the month. Calendar months in {}.{}",
            escape(&spec.time_zone),
            partial_note(months)
        ),
    );
    let (w, h) = (1110.0, 340.0);
    let (left, right, top, bottom) = (90.0, w - 80.0, 48.0, h - 62.0);
    let n = months.len().max(1) as f64;
    let x = |i: usize| left + (i as f64 + 0.5) * (right - left) / n;
    let liabilities: Vec<f64> = monthly.iter().map(|r| float(r.liability)).collect();
    let rates: Vec<Option<f64>> = monthly.iter().map(|r| r.breakage_rate.map(|d| float(d) * 100.0)).collect();
    let (lstep, ltop) = ticks(liabilities.iter().copied().fold(0.0, f64::max));
    let (rstep, rtop) = ticks(rates.iter().flatten().copied().fold(0.0, f64::max).max(10.0));
    let ly = |v: f64| bottom - v / ltop * (bottom - top);
    let ry = |v: f64| bottom - v / rtop * (bottom - top);
    let _ = writeln!(
        out,
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Liability and breakage by month\">"
    );
    out.push_str("<title>Liability and breakage by month</title>\n");
    // Grid and the left axis (liability).
    let steps = (ltop / lstep).round() as usize;
    for k in 0..=steps {
        let v = lstep * k as f64;
        let y = ly(v);
        let _ = writeln!(out, "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>");
        text(out, left - 8.0, y + 4.0, "end", &format!("font-size=\"12\" fill=\"{LIABILITY}\""), &tick(v, lstep));
    }
    // The right axis (breakage), its own ticks.
    let rsteps = (rtop / rstep).round() as usize;
    for k in 0..=rsteps {
        let v = rstep * k as f64;
        let y = ry(v);
        let _ = writeln!(
            out,
            "<line x1=\"{right}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{AXIS}\"/>",
            right + 5.0
        );
        text(
            out,
            right + 8.0,
            y + 4.0,
            "start",
            &format!("font-size=\"12\" fill=\"{BREAKAGE}\""),
            &format!("{}&#8239;%", tick(v, rstep)),
        );
    }
    let _ = writeln!(
        out,
        "<path d=\"M{left} {top}V{bottom}H{right}V{top}\" fill=\"none\" stroke=\"{AXIS}\" stroke-width=\"1\"/>"
    );
    // Months on the x axis (every k-th when there are many), the year under the first label of each year.
    let every = months.len().div_ceil(24).max(1);
    let mut year = None;
    for (i, m) in months.iter().enumerate() {
        let xi = x(i);
        let _ = writeln!(
            out,
            "<line x1=\"{xi:.1}\" y1=\"{bottom}\" x2=\"{xi:.1}\" y2=\"{:.1}\" stroke=\"{AXIS}\"/>",
            bottom + 5.0
        );
        if i % every == 0 {
            text(out, xi, bottom + 18.0, "middle", "font-size=\"12\" fill=\"#333\"", &m.abbreviation());
            if year != Some(m.year) {
                text(out, xi, bottom + 32.0, "middle", "font-size=\"11\" fill=\"#777\"", &m.year.to_string());
                year = Some(m.year);
            }
        }
    }
    text(
        out,
        (left + right) / 2.0,
        h - 6.0,
        "middle",
        "font-size=\"13\" fill=\"#333\"",
        &format!("Month ({})", escape(&spec.time_zone)),
    );
    let _ = writeln!(
        out,
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"{LIABILITY}\">Liability ({currency})</text>",
        (top + bottom) / 2.0
    );
    let _ = writeln!(
        out,
        "<text transform=\"translate({:.1} {:.1}) rotate(90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"{BREAKAGE}\">Breakage rate (%)</text>",
        w - 14.0,
        (top + bottom) / 2.0
    );
    // Legend.
    let _ = writeln!(
        out,
        "<g font-size=\"13\" fill=\"#333\"><line x1=\"{left}\" y1=\"20\" x2=\"{:.0}\" y2=\"20\" stroke=\"{LIABILITY}\" stroke-width=\"3\"/>\
         <circle cx=\"{:.0}\" cy=\"20\" r=\"4\" fill=\"{LIABILITY}\"/><text x=\"{:.0}\" y=\"24\">Liability at month end ({currency})</text>\
         <line x1=\"{:.0}\" y1=\"20\" x2=\"{:.0}\" y2=\"20\" stroke=\"{BREAKAGE}\" stroke-width=\"2.5\" stroke-dasharray=\"6 4\"/>\
         <rect x=\"{:.0}\" y=\"16.5\" width=\"7\" height=\"7\" fill=\"{BREAKAGE}\"/><text x=\"{:.0}\" y=\"24\">Breakage rate in the month (%)</text></g>",
        left + 28.0,
        left + 14.0,
        left + 36.0,
        left + 300.0,
        left + 328.0,
        left + 310.5,
        left + 336.0,
    );
    // Breakage: a dashed line, broken where a month has no rate.
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (i, v) in rates.iter().enumerate() {
        match v {
            Some(v) => {
                if let Some(run) = runs.last_mut() {
                    run.push((x(i), ry(*v)));
                }
            }
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    for run in runs.iter().filter(|r| !r.is_empty()) {
        let points: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            out,
            "<polyline class=\"breakage-line\" points=\"{}\" fill=\"none\" stroke=\"{BREAKAGE}\" stroke-width=\"2.5\" stroke-dasharray=\"6 4\"/>",
            points.join(" ")
        );
        for (x, y) in run {
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{BREAKAGE}\"/>",
                x - 3.5,
                y - 3.5
            );
        }
    }
    // Liability on top: a solid line with a dot per month.
    let points: Vec<(f64, f64)> = liabilities.iter().enumerate().map(|(i, v)| (x(i), ly(*v))).collect();
    let list: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        out,
        "<polyline id=\"liability-line\" points=\"{}\" fill=\"none\" stroke=\"{LIABILITY}\" stroke-width=\"3\" stroke-linejoin=\"round\"/>",
        list.join(" ")
    );
    for ((x, y), (m, r)) in points.iter().zip(months.iter().zip(monthly)) {
        let _ = writeln!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"{LIABILITY}\"><title>{}: {} {currency}, breakage {}</title></circle>",
            m.label(),
            group(&r.liability.to_string()),
            percent(r.breakage_rate)
        );
    }
    out.push_str("</svg>\n</section>\n");
}

/// Members per tier level at the end of the period.
fn tier_chart(out: &mut String, s: &Sources<'_>) {
    let program = s.program;
    let at = s.report.period.until;
    section(
        out,
        "tiers",
        "Members per tier level",
        "Members enrolled by the end of the period, by the level they hold at its end.",
    );
    let Some(tiers) = program.spec().tiers.as_ref() else {
        out.push_str("<p>This program has no tiers.</p>\n</section>\n");
        return;
    };
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for m in s.members.values().filter(|m| m.enrolled_at() < at) {
        if let Some(status) = program.tier(m, at) {
            *counts.entry(status.tier).or_default() += 1;
        }
    }
    let levels: Vec<(String, u64)> = tiers
        .levels
        .iter()
        .map(|l| {
            (
                if l.name.is_empty() { l.id.clone() } else { l.name.clone() },
                counts.get(l.id.as_str()).copied().unwrap_or(0),
            )
        })
        .collect();
    let (w, h) = (480.0, 300.0);
    let (left, right, top, bottom) = (64.0, w - 16.0, 16.0, h - 52.0);
    // A count: whole-number ticks.
    let (step, ymax) = ticks(levels.iter().map(|l| l.1).max().unwrap_or(0).max(5) as f64);
    let y = |v: f64| bottom - v / ymax * (bottom - top);
    let _ = writeln!(
        out,
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Members per tier level\">"
    );
    out.push_str("<title>Members per tier level</title>\n");
    for k in 0..=(ymax / step).round() as usize {
        let v = step * k as f64;
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{right}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>",
            y(v),
            y(v)
        );
        text(out, left - 8.0, y(v) + 4.0, "end", "font-size=\"12\" fill=\"#333\"", &tick(v, step));
    }
    let band = (right - left) / levels.len().max(1) as f64;
    for (i, (name, n)) in levels.iter().enumerate() {
        let bw = (band * 0.6).min(90.0);
        let cx = left + band * (i as f64 + 0.5);
        let top_y = y(*n as f64);
        let _ = writeln!(
            out,
            "<rect x=\"{:.1}\" y=\"{top_y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{TIER}\"><title>{}: {n}</title></rect>",
            cx - bw / 2.0,
            bottom - top_y,
            escape(name)
        );
        text(out, cx, top_y - 6.0, "middle", "font-size=\"13\" font-weight=\"600\" fill=\"#333\"", &n.to_string());
        text(out, cx, bottom + 18.0, "middle", "font-size=\"12\" fill=\"#333\"", &short(name, 16));
    }
    let _ = writeln!(out, "<path d=\"M{left} {top}V{bottom}H{right}\" fill=\"none\" stroke=\"{AXIS}\"/>");
    text(out, (left + right) / 2.0, h - 8.0, "middle", "font-size=\"13\" fill=\"#333\"", "Tier level");
    let _ = writeln!(
        out,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#333\">Members</text>",
        (top + bottom) / 2.0
    );
    out.push_str("</svg>\n</section>\n");
}

/// RFM segment counts at the end of the period.
fn segments(out: &mut String, r: &Report, c: &Config) {
    section(
        out,
        "segments",
        "RFM segments",
        "Customers (members with a purchase) by recency at the end of the period.",
    );
    let rows = [
        (Segment::New, "new", format!("first purchase within {} days", c.new_within_days)),
        (Segment::Active, "active", format!("last purchase within {} days", c.activity_window_days)),
        (
            Segment::AtRisk,
            "at risk",
            format!("last purchase {}–{} days ago", c.activity_window_days, c.sleeping_after_days),
        ),
        (
            Segment::Sleeping,
            "sleeping",
            format!("last purchase {}–{} days ago", c.sleeping_after_days, c.lapsed_after_days),
        ),
        (Segment::Lapsed, "lapsed", format!("no purchase for {} days", c.lapsed_after_days)),
    ];
    let max = r.segments.values().copied().max().unwrap_or(0).max(1);
    out.push_str("<table class=\"seg\"><tr><th>Segment</th><th>Rule</th><th>Customers</th><th></th></tr>\n");
    for (segment, name, rule) in rows {
        let n = r.segments.get(&segment).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td class=\"r\">{rule}</td><td class=\"n\">{n}</td><td><span class=\"bar\" style=\"width:{}px\"></span></td></tr>",
            n * 90 / max
        );
    }
    let total: u64 = r.segments.values().sum();
    let _ = writeln!(
        out,
        "<tr><td><b>all</b></td><td class=\"r\">top {}&#8239;% by money: {} customers</td><td class=\"n\"><b>{total}</b></td><td></td></tr></table>",
        c.top_percent, r.top
    );
    out.push_str("</section>\n");
}

/// Points each rule gave and took, side by side.
fn rule_chart(out: &mut String, program: &Program, r: &Report) {
    let scale = program.spec().points.scale;
    section(
        out,
        "rules",
        "Earn and burn by rule",
        "Points each earn rule, activity or bonus gave, and points each burn rule or reward took, in the period.",
    );
    let mut rules: Vec<(&String, i64, i64)> = r.by_rule.iter().map(|(id, f)| (id, f.earned, f.burned)).collect();
    rules.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(b.0)));
    if rules.is_empty() {
        out.push_str("<p>No rule moved points in the period.</p>\n</section>\n");
        return;
    }
    let unit = 10_f64.powi(scale as i32);
    let row = 38.0;
    let (w, left, right, top) = (1110.0, 240.0, 1020.0, 40.0);
    let bottom = top + row * rules.len() as f64;
    let h = bottom + 50.0;
    let (step, xmax) = ticks(rules.iter().map(|r| r.1.max(r.2)).max().unwrap_or(0) as f64 / unit);
    let x = |v: f64| left + v / xmax * (right - left);
    let _ = writeln!(
        out,
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Earn and burn by rule\">"
    );
    out.push_str("<title>Earn and burn by rule</title>\n");
    let _ = writeln!(
        out,
        "<g font-size=\"13\" fill=\"#333\"><rect x=\"{left}\" y=\"10\" width=\"14\" height=\"12\" fill=\"{EARN}\"/><text x=\"{}\" y=\"21\">Earned</text>\
         <rect x=\"{}\" y=\"10\" width=\"14\" height=\"12\" fill=\"{BURN}\"/><text x=\"{}\" y=\"21\">Burned (redeemed)</text></g>",
        left + 20.0,
        left + 100.0,
        left + 120.0
    );
    for k in 0..=(xmax / step).round() as usize {
        let v = step * k as f64;
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{top}\" x2=\"{:.1}\" y2=\"{bottom}\" stroke=\"{GRID}\"/>",
            x(v),
            x(v)
        );
        text(out, x(v), bottom + 16.0, "middle", "font-size=\"12\" fill=\"#333\"", &tick(v, step));
    }
    for (i, (id, earned, burned)) in rules.iter().enumerate() {
        let y0 = top + row * i as f64 + 5.0;
        text(out, left - 10.0, y0 + 18.0, "end", "font-size=\"13\" fill=\"#333\"", &short(id, 30));
        for (k, (v, colour)) in [(*earned, EARN), (*burned, BURN)].into_iter().enumerate() {
            let y = y0 + 14.0 * k as f64;
            let bar = (x(v as f64 / unit) - left).max(0.0);
            let _ = writeln!(
                out,
                "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"13\" fill=\"{colour}\"><title>{}: {}</title></rect>",
                escape(id),
                format_points(v, scale)
            );
            if v != 0 {
                text(
                    out,
                    left + bar + 5.0,
                    y + 11.0,
                    "start",
                    "font-size=\"11\" fill=\"#333\"",
                    &group(&format_points(v, scale)),
                );
            }
        }
    }
    let _ = writeln!(out, "<path d=\"M{left} {top}V{bottom}H{right}\" fill=\"none\" stroke=\"{AXIS}\"/>");
    text(out, (left + right) / 2.0, h - 8.0, "middle", "font-size=\"13\" fill=\"#333\"", "Points");
    text(out, left - 10.0, top - 6.0, "end", "font-size=\"12\" fill=\"#777\"", "Rule");
    out.push_str("</svg>\n</section>\n");
}

/// Monthly cohorts of first purchase: the share still purchasing 0, 1, 2…
/// months later.
fn cohorts<Z: TimeZone>(out: &mut String, zone: &Z, months: &[Month], purchases: &[(String, DateTime<Utc>)]) {
    section(
        out,
        "cohorts",
        "Cohort retention",
        &format!(
            "Customers grouped by the month of their first purchase; each cell is the percentage of the cohort that \
             made a purchase that many months later.{}",
            partial_note(months)
        ),
    );
    let Some(base) = months.first().map(|m| i64::from(m.year) * 12 + i64::from(m.month) - 1) else {
        out.push_str("</section>\n");
        return;
    };
    let n = months.len();
    let mut by_member: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for (member, at) in purchases {
        let i = ordinal(zone, *at) - base;
        if (0..n as i64).contains(&i) {
            by_member.entry(member).or_default().insert(i as usize);
        }
    }
    // cohort → (size, customers purchasing per month since).
    let mut table: BTreeMap<usize, (u64, Vec<u64>)> = BTreeMap::new();
    for active in by_member.values() {
        let Some(&first) = active.first() else { continue };
        let row = table.entry(first).or_insert_with(|| (0, vec![0; n - first]));
        row.0 += 1;
        for &i in active {
            row.1[i - first] += 1;
        }
    }
    if table.is_empty() {
        out.push_str("<p>No purchases in the log.</p>\n</section>\n");
        return;
    }
    let skipped = table.len().saturating_sub(COHORTS_MAX);
    let shown: Vec<(&usize, &(u64, Vec<u64>))> = table.iter().skip(skipped).collect();
    let longest = shown.iter().map(|(_, (_, v))| v.len()).max().unwrap_or(1);
    let columns = longest.min(COHORTS_MAX);
    out.push_str("<table class=\"coh\"><tr><th>First purchase</th><th>Customers</th>");
    for k in 0..columns {
        let _ = write!(out, "<th>+{k}</th>");
    }
    out.push_str("</tr>\n");
    for (&first, (size, active)) in shown {
        let star = if months[first].partial { "*" } else { "" };
        let _ = write!(out, "<tr><td class=\"c\">{}{star}</td><td>{size}</td>", months[first].label());
        for k in 0..columns {
            match active.get(k) {
                Some(a) if months[first + k].partial => {
                    let _ = write!(
                        out,
                        "<td class=\"p\" title=\"{a} of {size}; {}* is a partial month\">{:.0}%*</td>",
                        months[first + k].label(),
                        *a as f64 * 100.0 / *size as f64
                    );
                }
                Some(a) => {
                    let share = *a as f64 / *size as f64;
                    // White to the liability blue.
                    let mix = |from: f64, to: f64| (from + (to - from) * share).round() as u8;
                    let (r, g, b) = (mix(244.0, 31.0), mix(247.0, 95.0), mix(251.0, 191.0));
                    let ink = if share > 0.5 { "#fff" } else { "#1d2228" };
                    let _ = write!(
                        out,
                        "<td style=\"background:#{r:02x}{g:02x}{b:02x};color:{ink}\" title=\"{a} of {size}\">{:.0}%</td>",
                        share * 100.0
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if skipped > 0 {
        let _ = writeln!(out, "<p class=\"note\">The {skipped} earliest cohorts are left out.</p>");
    }
    if longest > columns {
        let _ = writeln!(out, "<p class=\"note\">Months after +{} are left out.</p>", columns - 1);
    }
    out.push_str("</section>\n");
}
