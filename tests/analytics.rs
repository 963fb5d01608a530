//! Analytics over small hand-computed event logs: every metric of
//! `loyalty::analytics`, the arithmetic written out beside each assertion.
//! The receipts are real: every event is applied to a tiny program.

use std::collections::BTreeMap;

use loyalty::analytics::{outstanding, Analytics, Config, Interval, RateEstimate, RuleFlow, Segment};
use loyalty::{Event, Member, Program};
use rust_decimal::Decimal;

/// Members of one program, the analytics fed with every event applied.
struct World {
    program: Program,
    members: BTreeMap<String, Member>,
    analytics: Analytics,
}

impl World {
    fn new(toml: &str) -> World {
        World {
            program: Program::from_toml_str(toml).expect("the program loads"),
            members: BTreeMap::new(),
            analytics: Analytics::new(),
        }
    }

    /// Applies one event (JSON) to `member`, enrolling the member with its first event; refused events are recorded as such.
    fn apply(&mut self, member: &str, json: &str) {
        let event = Event::from_json_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        match self.members.get_mut(member) {
            None => {
                let (m, receipt) = self.program.start(&event).unwrap_or_else(|e| panic!("{json}: {e}"));
                self.analytics.record(&event, &receipt);
                self.members.insert(member.to_owned(), m);
            }
            Some(m) => match self.program.apply(m, &event) {
                Ok(applied) => {
                    m.check_invariants().unwrap();
                    self.analytics.record(&event, &applied.receipt);
                }
                Err(_) => self.analytics.refused(member, &event),
            },
        }
    }

    fn enroll(&mut self, member: &str, at: &str) {
        self.apply(member, &format!(r#"{{"id":"enroll-{member}","at":"{at}","type":"enroll","member":"{member}"}}"#));
    }

    /// A purchase of `quantity` units at `unit_price` (one line).
    fn buy(&mut self, member: &str, id: &str, at: &str, quantity: &str, unit_price: &str) {
        self.apply(
            member,
            &format!(
                r#"{{"id":"{id}","at":"{at}","type":"purchase",
                "lines":[{{"sku":"s","category":"x","quantity":"{quantity}","unit_price":"{unit_price}"}}]}}"#
            ),
        );
    }
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn t(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

const SHOP: &str = r#"
id = "shop"
currency = "EUR"
time_zone = "UTC"
categories = ["x"]

[[earn]]
id = "base"
name = "1 point per euro"
kind = "per_amount"
points = 1
per = "1"

[[burn]]
id = "pay"
"#;

/// Seven customers around the second quarter of 2026, Q2 = [04-01, 07-01)
/// (91 days). Every purchase is at 10:00 UTC. With the default 90-day
/// activity window, a customer is active at 04-01 with a purchase in
/// [01-01, 04-01) and at 07-01 with one in [04-02, 07-01).
///
/// | member | purchases (EUR)                          | active 04-01 | active 07-01 |
/// |--------|------------------------------------------|--------------|--------------|
/// | a      | 02-10: 100, 05-10: 50, 06-10: 30          | yes          | yes          |
/// | b      | 03-15: 200                               | yes          | no           |
/// | c      | 2025-06-01: 80, 05-20: 120                | no           | yes (won back) |
/// | d      | 06-01: 60, 06-15: 40                      | no           | yes (new)    |
/// | e      | 03-01: 4 × 10 = 40, 1 unit back on 04-15 | yes          | no           |
/// | f      | 2025-11-01: 25                           | no           | no           |
/// | g      | 2025-05-01: 10                           | no           | no           |
fn quarter() -> World {
    let mut w = World::new(SHOP);
    w.enroll("a", "2026-02-01T09:00:00Z");
    w.buy("a", "a1", "2026-02-10T10:00:00Z", "1", "100");
    w.buy("a", "a2", "2026-05-10T10:00:00Z", "1", "50");
    w.buy("a", "a3", "2026-06-10T10:00:00Z", "1", "30");
    w.enroll("b", "2026-03-01T09:00:00Z");
    w.buy("b", "b1", "2026-03-15T10:00:00Z", "2", "100");
    w.enroll("c", "2025-05-31T09:00:00Z");
    w.buy("c", "c1", "2025-06-01T10:00:00Z", "1", "80");
    w.buy("c", "c2", "2026-05-20T10:00:00Z", "1", "120");
    w.enroll("d", "2026-06-01T09:00:00Z");
    w.buy("d", "d1", "2026-06-01T10:00:00Z", "1", "60");
    w.buy("d", "d2", "2026-06-15T10:00:00Z", "1", "40");
    w.enroll("e", "2026-02-20T09:00:00Z");
    w.buy("e", "e1", "2026-03-01T10:00:00Z", "4", "10");
    w.apply(
        "e",
        r#"{"id":"e1-back","at":"2026-04-15T10:00:00Z","type":"return","purchase":"e1","lines":[{"line":0,"quantity":"1"}]}"#,
    );
    w.enroll("f", "2025-10-01T09:00:00Z");
    w.buy("f", "f1", "2025-11-01T10:00:00Z", "1", "25");
    w.enroll("g", "2025-04-30T09:00:00Z");
    w.buy("g", "g1", "2025-05-01T10:00:00Z", "1", "10");
    w
}

fn q2() -> Interval {
    Interval::new(t("2026-04-01T00:00:00Z"), t("2026-07-01T00:00:00Z"))
}

#[test]
fn retention_churn_repeat_aov_frequency() {
    let w = quarter();
    let r = w.analytics.report(&w.program, &q2(), &Config::default());
    // S = {a, b, e} = 3; E = {a, c, d} = 3; N = E not in S = {c, d} = 2:
    // d's first purchase is in Q2 (new), c bought in 2025 (won back).
    let c = r.customers;
    assert_eq!((c.active_at_start, c.active_at_end, c.acquired, c.new, c.won_back, c.retained), (3, 3, 2, 1, 1, 1));
    // Retention (E − N) / S = (3 − 2) / 3 = 0.33333… → 0.3333; churn 1 − 1/3 = 0.6667.
    assert_eq!(r.retention_rate, Some(d("0.3333")));
    assert_eq!(r.churn_rate, Some(d("0.6667")));
    // Orders in Q2: a2, a3, c2, d1, d2 = 5, by a, c, d = 3 purchasers; a and d bought twice.
    assert_eq!((r.orders, r.purchasers, r.repeat_purchasers), (5, 3, 2));
    // Repeat purchase rate 2 / 3 = 0.6667; purchase frequency 5 / 3 = 1.6667.
    assert_eq!(r.repeat_purchase_rate, Some(d("0.6667")));
    assert_eq!(r.purchase_frequency, Some(d("1.6667")));
    // Gross 50 + 30 + 120 + 60 + 40 = 300; e's return on 04-15 is in Q2: 40 × 1/4 = 10.
    // Net 290; AOV 290 / 5 = 58.00.
    assert_eq!((r.gross_sales, r.returns, r.net_sales), (d("300"), d("10"), d("290")));
    assert_eq!(r.average_order_value, Some(d("58.00")));
    // The report serializes with exact decimals as strings (for `--json` output).
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!((&json["retention_rate"], &json["average_order_value"]), (&"0.3333".into(), &"58.00".into()));
    assert_eq!(json["segments"]["at_risk"], 2);
    // The return is dated in Q2, the purchase in Q1: Q1 has e1 at full value.
    let q1 = Interval::new(t("2026-01-01T00:00:00Z"), t("2026-04-01T00:00:00Z"));
    let r1 = w.analytics.report(&w.program, &q1, &Config::default());
    // Q1 orders: a1 100, b1 200, e1 40 = 340 over 3 orders → AOV 113.33.
    assert_eq!((r1.orders, r1.net_sales, r1.average_order_value), (3, d("340"), Some(d("113.33"))));
}

#[test]
fn lifetime_and_customer_lifetime_value() {
    let w = quarter();
    let config = Config { margin: d("0.4"), ..Config::default() };
    let r = w.analytics.report(&w.program, &q2(), &config);
    // First to last purchase before 07-01, in days:
    //   a 02-10 → 06-10: 18 + 31 + 30 + 31 + 10 = 120;  b, e, f, g: one purchase, 0;
    //   c 2025-06-01 → 2026-05-20: 365 − 12 = 353;     d 06-01 → 06-15: 14.
    // Mean over 7 customers: (120 + 353 + 14) / 7 = 487 / 7 = 69.571428… → 69.5714.
    assert_eq!(r.average_lifetime_days, Some(d("69.5714")));
    // 1 / churn = 1 / (2/3) = 1.5 quarters.
    assert_eq!(r.expected_lifetime_periods, Some(d("1.5000")));
    // Historical CLV: net revenue to date / customers:
    //   a 180 + b 200 + c 200 + d 100 + e (40 − 10) 30 + f 25 + g 10 = 745; 745 / 7 = 106.428… → 106.43.
    assert_eq!(r.historical_clv, Some(d("106.43")));
    // Projected CLV = AOV × frequency per year × lifetime years × margin
    //   = 58 × (5/3 × 365/91) × (1.5 × 91/365) × 0.4 = 58 × 5/3 × 1.5 × 0.4 = 58 × 1 = 58.00.
    assert_eq!(r.projected_clv, Some(d("58.00")));
    // With an expected lifetime of 2 years instead:
    //   58 × 1825/273 × 2 × 0.4 = 58 × 6.684981… × 0.8 = 310.1831… → 310.18.
    let config = Config { expected_lifetime_years: Some(d("2")), ..config };
    assert_eq!(w.analytics.report(&w.program, &q2(), &config).projected_clv, Some(d("310.18")));
}

#[test]
fn rfm_scores_segments_and_top_ten_percent() {
    let w = quarter();
    let rfm = w.analytics.rfm(t("2026-07-01T00:00:00Z"), &Config::default());
    let got: Vec<_> = rfm
        .iter()
        .map(|r| {
            (
                r.member.as_str(),
                r.days_since,
                r.orders,
                r.monetary,
                r.recency,
                r.frequency,
                r.monetary_score,
                r.segment,
                r.top,
            )
        })
        .collect();
    // n = 7; score = 1 + floor(5 × w / 7) with w customers strictly worse:
    //   w = 0 → 1, 1 → 1, 2 → 2, 3 → 3, 4 → 3, 5 → 4, 6 → 5.
    // Recency, oldest last purchase first: g, f, e, b, c, a, d → w 0..6 → 1 1 2 3 3 4 5.
    // Frequency: a 3, c 2, d 2, b e f g 1 → b e f g w 0 → 1; c d w 4 → 3; a w 6 → 5.
    // Monetary: g 10, f 25, e 30, d 100, a 180, b 200, c 200 → w 0 1 2 3 4 5 5 → 1 1 2 3 3 4 4 (a tie).
    // Days since the last purchase (10:00) to 07-01 00:00, rounded down:
    //   a 06-10: 21 − 1 = 20; b 03-15: 17 + 91 − 1 = 107; c 05-20: 12 + 30 − 1 = 41;
    //   d 06-15: 16 − 1 = 15; e 03-01: 31 + 30 + 31 + 30 − 1 = 121;
    //   f 2025-11-01: 242 − 1 = 241; g 2025-05-01: 426 − 1 = 425.
    // Segments: d's first purchase is within 30 days: new; a, c within 90: active;
    // b, e within 180: at risk; f within 365: sleeping; g: lapsed.
    // Top 10 %: ceil(7 × 10 %) = 1, so the customers with nobody above: b and c (200, tied).
    use Segment::*;
    assert_eq!(
        got,
        vec![
            ("a", 20, 3, d("180"), 4, 5, 3, Active, false),
            ("b", 107, 1, d("200"), 3, 1, 4, AtRisk, true),
            ("c", 41, 2, d("200"), 3, 3, 4, Active, true),
            ("d", 15, 2, d("100"), 5, 3, 3, New, false),
            ("e", 121, 1, d("30"), 2, 1, 2, AtRisk, false),
            ("f", 241, 1, d("25"), 1, 1, 1, Sleeping, false),
            ("g", 425, 1, d("10"), 1, 1, 1, Lapsed, false),
        ]
    );
    // The report counts them at its `until`.
    let r = w.analytics.report(&w.program, &q2(), &Config::default());
    let segments: Vec<(Segment, u64)> = r.segments.into_iter().collect();
    assert_eq!(segments, vec![(New, 1), (Active, 2), (AtRisk, 2), (Sleeping, 1), (Lapsed, 1)]);
    assert_eq!(r.top, 2);
    // Thresholds are configurable: with a 30-day activity window c (41 days) is at risk too; a (20) stays active.
    let config = Config { activity_window_days: 30, ..Config::default() };
    let rfm = w.analytics.rfm(t("2026-07-01T00:00:00Z"), &config);
    let segs: Vec<Segment> = rfm.iter().map(|r| r.segment).collect();
    assert_eq!(segs, vec![Active, AtRisk, AtRisk, New, AtRisk, Sleeping, Lapsed]);
}

/// Points with a scale of 2 (1250 = 12.50 points), a point worth 0.50 EUR,
/// expiry 30 days after earning, a review worth 5.00 points.
const POINTS: &str = r#"
id = "points"
currency = "EUR"
time_zone = "UTC"
categories = ["x"]
points = { scale = 2, value = "0.5" }
expiry = { kind = "after", period = { days = 30 } }
adjust_reasons.goodwill = {}

[[earn]]
id = "base"
name = "1 point per euro"
kind = "per_amount"
points = 100
per = "1"

[[burn]]
id = "pay"

[[activities]]
id = "review"
name = "Product review"
points = 500
"#;

fn january_february() -> World {
    let mut w = World::new(POINTS);
    // p: earns 2000 (20 EUR) + 500 (review), burns 800 from the purchase lot
    // (expiring first, 02-04), so 1200 expire on 02-04 and 500 on 02-05; +300 goodwill.
    w.enroll("p", "2026-01-01T09:00:00Z");
    w.buy("p", "p1", "2026-01-05T10:00:00Z", "1", "20");
    w.apply("p", r#"{"id":"p-review","at":"2026-01-06T10:00:00Z","type":"activity","name":"review"}"#);
    w.apply("p", r#"{"id":"p-pay","at":"2026-01-10T10:00:00Z","type":"redeem","points":800}"#);
    w.apply("p", r#"{"id":"p-adv","at":"2026-02-10T00:00:00Z","type":"advance"}"#);
    w.apply("p", r#"{"id":"p-gw","at":"2026-02-11T10:00:00Z","type":"adjust","points":300,"reason":"goodwill"}"#);
    w.apply("p", r#"{"id":"p-nps","at":"2026-02-12T10:00:00Z","type":"activity","name":"survey","value":9}"#);
    // q: earns 1000, burns 400, 600 expire on 02-19; answers 3, then 10 (the latest counts).
    w.enroll("q", "2026-01-01T09:00:00Z");
    w.buy("q", "q1", "2026-01-20T10:00:00Z", "1", "10");
    w.apply("q", r#"{"id":"q-nps1","at":"2026-01-25T10:00:00Z","type":"activity","name":"survey","value":3}"#);
    w.apply("q", r#"{"id":"q-nps2","at":"2026-01-26T10:00:00Z","type":"activity","name":"survey","value":10}"#);
    w.apply("q", r#"{"id":"q-pay","at":"2026-01-27T10:00:00Z","type":"redeem","points":400}"#);
    w.apply("q", r#"{"id":"q-adv","at":"2026-02-28T00:00:00Z","type":"advance"}"#);
    // r: a passive (7); s: a detractor (5); u: an answer out of range (11); v: 4, but in March.
    for (m, value, at) in
        [("r", 7, "2026-01-15"), ("s", 5, "2026-01-16"), ("u", 11, "2026-01-17"), ("v", 4, "2026-03-02")]
    {
        w.enroll(m, "2026-01-01T09:00:00Z");
        w.apply(
            m,
            &format!(r#"{{"id":"{m}-nps","at":"{at}T10:00:00Z","type":"activity","name":"survey","value":{value}}}"#),
        );
    }
    // Refused: q cannot pay 1 000 000 points.
    w.apply("q", r#"{"id":"q-too-much","at":"2026-02-28T01:00:00Z","type":"redeem","points":1000000}"#);
    w
}

fn jan_feb() -> Interval {
    Interval::new(t("2026-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z"))
}

#[test]
fn earn_and_burn_per_rule_breakage_outstanding_liability() {
    let w = january_february();
    let r = w.analytics.report(&w.program, &jan_feb(), &Config::default());
    let p = r.points;
    // Earned 2000 + 500 + 1000 = 3500; credited 300; burned 800 + 400 = 1200, nothing refunded.
    // Expired 1200 + 500 (p) + 600 (q) = 2300.
    assert_eq!((p.earned, p.credited, p.debited, p.burned, p.refunded, p.redeemed), (3500, 300, 0, 1200, 0, 1200));
    assert_eq!((p.expired, p.forfeited, p.reversed), (2300, 0, 0));
    // Per rule: base 2000 + 1000 = 3000, the review 500, the burn rule `pay` 1200.
    let by_rule: Vec<(&str, RuleFlow)> = r.by_rule.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        by_rule,
        vec![
            ("base", RuleFlow { earned: 3000, burned: 0 }),
            ("pay", RuleFlow { earned: 0, burned: 1200 }),
            ("review", RuleFlow { earned: 500, burned: 0 }),
        ]
    );
    // Breakage 2300 / (2300 + 1200) = 0.657142… → 0.6571; over issued 2300 / (3500 + 300) = 0.605263… → 0.6053.
    assert_eq!(r.breakage_rate, Some(d("0.6571")));
    assert_eq!(r.breakage_over_issued, Some(d("0.6053")));
    // Outstanding at 03-01: p's 300 goodwill, q 0. A unit is 0.01 point of 0.50 EUR:
    // 300 × 0.50 / 100 = 1.50 EUR.
    assert_eq!((r.outstanding, r.debt, r.liability), (300, 0, d("1.50")));
    // The final member states agree.
    let o = outstanding(&w.program, w.members.values(), 2);
    assert_eq!((o.points, o.debt, o.liability), (300, 0, d("1.50")));
    // In January only: nothing expired yet, p's 2500 − 800 and q's 1000 − 400 are outstanding.
    let jan = Interval::new(t("2026-01-01T00:00:00Z"), t("2026-02-01T00:00:00Z"));
    let r = w.analytics.report(&w.program, &jan, &Config::default());
    // 1700 + 600 = 2300 units × 0.005 = 11.50 EUR; no breakage yet: 0 / (0 + 1200) = 0.
    assert_eq!((r.outstanding, r.liability, r.breakage_rate), (2300, d("11.50"), Some(d("0"))));
    // The refused redeem is dated 02-28.
    assert_eq!((r.refused, w.analytics.report(&w.program, &jan_feb(), &Config::default()).refused), (0, 1));
}

#[test]
fn net_promoter_score() {
    let w = january_february();
    let r = w.analytics.report(&w.program, &jan_feb(), &Config::default());
    // Latest answers in Jan–Feb: p 9 and q 10 (promoters), r 7 (passive), s 5 (detractor), u 11 (invalid);
    // v answered in March. NPS = 100 × (2 − 1) / 4 = 25.
    let n = r.nps;
    assert_eq!((n.promoters, n.passives, n.detractors, n.answers, n.invalid), (2, 1, 1, 4, 1));
    assert_eq!(n.score, Some(d("25")));
    // Read as score + 1 (the engine takes activity values from 1), the scores are
    // p 8 (passive), q 9 and u 10 (promoters), r 6 and s 4 (detractors): 100 × (2 − 2) / 5 = 0.
    let config = Config { survey_offset: 1, ..Config::default() };
    let n = w.analytics.report(&w.program, &jan_feb(), &config).nps;
    assert_eq!((n.promoters, n.passives, n.detractors, n.invalid, n.score), (2, 1, 2, 0, Some(d("0"))));
    // Another activity name: no answers, no score.
    let config = Config { survey: "nps".into(), ..Config::default() };
    assert_eq!(w.analytics.report(&w.program, &jan_feb(), &config).nps.score, None);
}

#[test]
fn a_duplicate_receipt_counts_once() {
    let mut w = World::new(SHOP);
    w.enroll("a", "2026-01-01T09:00:00Z");
    w.buy("a", "a1", "2026-01-02T10:00:00Z", "1", "10");
    w.buy("a", "a1", "2026-01-02T10:00:00Z", "1", "10"); // a retry: the engine answers the same receipt
    let r = w.analytics.report(&w.program, &Interval::all(), &Config::default());
    assert_eq!((r.orders, r.gross_sales, r.points.earned, r.outstanding), (1, d("10"), 10, 10));
}

/// The textbook customer loyalty programme (IFRS 15 Illustrative Example 52):
/// sales of 100 000 earn 10 000 points (1 per 10), a point's value is 1,
/// 95 % of points are expected to be redeemed; 4 500 are redeemed in year 1;
/// in year 2 the estimate becomes 97 % and cumulative redemptions reach 8 500.
fn textbook() -> World {
    let mut w = World::new(
        r#"
        id = "ie52"
        currency = "EUR"
        time_zone = "UTC"
        categories = ["x"]
        [[earn]]
        id = "base"
        kind = "per_amount"
        points = 1
        per = "10"
        [[burn]]
        id = "pay"
        "#,
    );
    w.enroll("m", "2026-01-01T09:00:00Z");
    w.buy("m", "sale", "2026-01-10T10:00:00Z", "1", "100000");
    w.apply("m", r#"{"id":"y1","at":"2026-06-30T10:00:00Z","type":"redeem","points":4500}"#);
    w.apply("m", r#"{"id":"y2","at":"2027-06-30T10:00:00Z","type":"redeem","points":4000}"#);
    w
}

fn years() -> [Interval; 2] {
    [
        Interval::new(t("2026-01-01T00:00:00Z"), t("2027-01-01T00:00:00Z")),
        Interval::new(t("2027-01-01T00:00:00Z"), t("2028-01-01T00:00:00Z")),
    ]
}

fn rates() -> [RateEstimate; 2] {
    [
        RateEstimate { effective: t("2026-01-01T00:00:00Z"), rate: d("0.95") },
        // Revised during year 2 (at its year-end review).
        RateEstimate { effective: t("2027-12-31T00:00:00Z"), rate: d("0.97") },
    ]
}

#[test]
fn ifrs15_deferred_revenue_with_a_catch_up() {
    let w = textbook();
    let view = w.analytics.deferred_revenue(&w.program, &years(), &rates(), &Config::default());
    let rows: Vec<_> = view
        .iter()
        .map(|v| {
            (v.rate, v.opening, v.allocated, v.recognised, v.catch_up, v.closing, v.issued_to_date, v.redeemed_to_date)
        })
        .collect();
    // Allocation at the sale: SSP of the points 10 000 × 1 × 0.95 = 9 500; goods 100 000.
    //   points: 100 000 × 9 500 / 109 500 = 8 675.799… → 8 675.80.
    // Year 1 (rate 0.95): 8 675.80 × 4 500 / 9 500 = 4 109.589… → 4 109.59 recognised;
    //   deferred 8 675.80 − 4 109.59 = 4 566.21.
    // Year 2 (closed at 0.97, expected 9 700):
    //   cumulative 8 675.80 × 8 500 / 9 700 = 7 602.505… → 7 602.51; recognised 7 602.51 − 4 109.59 = 3 492.92;
    //   catch-up: year 1's 4 500 at the new rate, 8 675.80 × 4 500 / 9 700 = 4 024.855… → 4 024.86,
    //   less the 4 109.59 recognised: −84.73 (so the year's own 4 000 points gave 3 577.65);
    //   deferred 8 675.80 − 7 602.51 = 1 073.29 = 4 566.21 − 3 492.92.
    assert_eq!(
        rows,
        vec![
            (d("0.95"), d("0"), d("8675.80"), d("4109.59"), d("0"), d("4566.21"), 10_000, 4_500),
            (d("0.97"), d("4566.21"), d("0"), d("3492.92"), d("-84.73"), d("1073.29"), 10_000, 8_500),
        ]
    );
    // In whole currency units, the textbook's own figures: 8 676 allocated, 4 110 in year 1
    // (8 676 × 4 500 / 9 500 = 4 109.68), 7 603 cumulative in year 2 (8 676 × 8 500 / 9 700 = 7 602.68),
    // so 3 493 in year 2, of which a catch-up of 4 025 − 4 110 = −85.
    let config = Config { money_scale: 0, ..Config::default() };
    let view = w.analytics.deferred_revenue(&w.program, &years(), &rates(), &config);
    let rows: Vec<_> = view.iter().map(|v| (v.allocated, v.recognised, v.catch_up, v.closing)).collect();
    assert_eq!(rows, vec![(d("8676"), d("4110"), d("0"), d("4566")), (d("0"), d("3493"), d("-85"), d("1073"))]);
}

#[test]
fn ifrs15_one_period_or_an_unchanged_rate() {
    let w = textbook();
    // Both years as one period closed at 0.97: no revenue before it, so no catch-up;
    // 8 675.80 × 8 500 / 9 700 = 7 602.51.
    let both = Interval::new(t("2026-01-01T00:00:00Z"), t("2028-01-01T00:00:00Z"));
    let v = w.analytics.deferred_revenue(&w.program, &[both], &rates(), &Config::default());
    assert_eq!((v[0].recognised, v[0].catch_up, v[0].closing), (d("7602.51"), d("0"), d("1073.29")));
    // Without the revision, year 2 recognises 8 675.80 × 8 500 / 9 500 = 7 762.557… → 7 762.56, less 4 109.59 = 3 652.97.
    let v = w.analytics.deferred_revenue(&w.program, &years(), &rates()[..1], &Config::default());
    assert_eq!((v[1].recognised, v[1].catch_up, v[1].closing), (d("3652.97"), d("0"), d("913.24")));
}

#[test]
fn returns_refunds_and_an_opening_balance() {
    let mut w = World::new(SHOP);
    w.enroll("m", "2026-01-01T09:00:00Z");
    // Order o1: line 0 is 2 × 50 = 100, line 1 is 1 × 100 = 100: 200 EUR, 200 points (100 per line).
    w.apply(
        "m",
        r#"{"id":"o1","at":"2026-01-10T10:00:00Z","type":"purchase","lines":[
            {"sku":"a","category":"x","quantity":"2","unit_price":"50"},
            {"sku":"b","category":"x","quantity":"1","unit_price":"100"}]}"#,
    );
    // 50 points pay part of o1.
    w.apply("m", r#"{"id":"pay","at":"2026-01-11T10:00:00Z","type":"redeem","points":50,"order":"o1"}"#);
    // One unit of line 0 comes back: 100 × 1/2 = 50 EUR; the payment comes back in
    // proportion, floor(50 × 50 / 200) = 12 points; line 0's points, floor(100 × 1/2) = 50, are reversed.
    w.apply(
        "m",
        r#"{"id":"back","at":"2026-01-20T10:00:00Z","type":"return","purchase":"o1","lines":[{"line":0,"quantity":"1"}]}"#,
    );
    // n's state comes from before the log: 40 points credited, not recorded.
    let mut n = w.program.enroll("n", t("2025-12-01T00:00:00Z"), Default::default()).unwrap();
    let credit =
        Event::from_json_str(r#"{"id":"c","at":"2025-12-02T00:00:00Z","type":"adjust","points":40,"reason":"seed"}"#)
            .unwrap();
    w.program.apply(&mut n, &credit).unwrap();
    w.analytics.opening(&n);

    let jan = Interval::new(t("2026-01-01T00:00:00Z"), t("2026-02-01T00:00:00Z"));
    let r = w.analytics.report(&w.program, &jan, &Config::default());
    // Net sales 200 − 50 = 150 over 1 order.
    assert_eq!(
        (r.gross_sales, r.returns, r.net_sales, r.average_order_value),
        (d("200"), d("50"), d("150"), Some(d("150.00")))
    );
    // Burned 50, refunded 12: redeemed 38; reversed 50.
    let p = r.points;
    assert_eq!((p.earned, p.burned, p.refunded, p.redeemed, p.reversed), (200, 50, 12, 38, 50));
    // m: 200 − 50 + 12 − 50 = 112; n: 40 from its opening state. 152 × 1 EUR.
    assert_eq!((r.outstanding, r.liability), (152, d("152.00")));
    assert_eq!(w.members["m"].balances().posted, 112);
    // IFRS 15, no estimate (every point expected to be redeemed):
    //   allocation 200 × 200 / (200 + 200) = 100.00; the return takes back 100 × 50 / 200 = 25.00 → 75.00,
    //   and 50 of the 200 points issued → 150; redeemed 38: 75 × 38 / 150 = 19.00; deferred 75 − 19 = 56.00.
    let v = w.analytics.deferred_revenue(&w.program, &[jan], &[], &Config::default());
    assert_eq!((v[0].allocated, v[0].recognised, v[0].closing), (d("75.00"), d("19.00"), d("56.00")));
    assert_eq!((v[0].issued_to_date, v[0].redeemed_to_date), (150, 38));
}
