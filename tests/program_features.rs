//! Partners (purchases at a partner earn at its own rate, and the lot records
//! the partner), A/B campaign variants (a member's variant is a fixed
//! function of the ids, and the receipt says which), a tier level reached by
//! a script, and a points budget shared by two rewards.

use loyalty::{EntryKind, Error, Event, Member, Program, Receipt};
use serde_json::json;

const PROGRAM: &str = r#"
id = "fuel-and-coffee"
currency = "RUB"
time_zone = "Europe/Moscow"
categories = ["coffee", "fuel"]
partners = ["fuel-co"]

# Own purchases: 1 point per 10 RUB.
[[earn]]
id = "base"
name = "1 point per 10 RUB"
kind = "per_amount"
points = 1
per = "10"

# At the fuel partner: 1 point per 20 RUB.
[[earn]]
id = "fuel-co"
name = "Fuel Co: 1 point per 20 RUB"
kind = "per_amount"
points = 1
per = "20"
when.partners = ["fuel-co"]

# Spring campaign: half the members get 100 bonus points on a purchase of 500 RUB or more.
[[campaigns]]
id = "spring"
variants = [{ id = "control" }, { id = "bonus" }]

[[earn]]
id = "spring-bonus"
name = "Spring bonus"
kind = "fixed"
points = 100
when.variants = ["spring/bonus"]
when.min_basket = "500"
"#;

fn program() -> Program {
    Program::from_toml_str(PROGRAM).expect("the program loads")
}

fn member(p: &Program, id: &str) -> Member {
    p.enroll(id, "2026-04-01T07:00:00Z".parse().unwrap(), Default::default()).unwrap()
}

fn buy(p: &Program, m: &mut Member, id: &str, partner: Option<&str>) -> Result<Receipt, Error> {
    let mut v = json!({"id": id, "at": "2026-04-02T10:00:00Z", "type": "purchase",
        "lines": [{"sku": "x", "category": "fuel", "quantity": "1", "unit_price": "1000"}]});
    if let Some(partner) = partner {
        v["partner"] = json!(partner);
    }
    let e = Event::from_json_str(&v.to_string()).unwrap();
    p.apply(m, &e).map(|a| Receipt::clone(&a.receipt))
}

/// The first member id `m-0`, `m-1`, … in the variant.
fn someone_in(p: &Program, variant: &str) -> String {
    (0..).map(|i| format!("m-{i}")).find(|m| p.variant(m, "spring") == Some(variant)).unwrap()
}

#[test]
fn partner_purchases_earn_by_the_partners_rules_and_lots_record_the_partner() {
    let p = program();
    let id = someone_in(&p, "control");
    let mut m = member(&p, &id);
    // Own purchase, 1 000 RUB: base 100; the partner's rule does not apply.
    let r = buy(&p, &mut m, "own", None).unwrap();
    assert_eq!(r.explanations.iter().map(|e| (e.rule.as_str(), e.points)).collect::<Vec<_>>(), [("base", 100)]);
    assert_eq!(m.lots()[0].partner, None);
    // At the partner, 1 000 RUB: 1 000 / 20 = 50, and base does not apply.
    let r = buy(&p, &mut m, "fuel", Some("fuel-co")).unwrap();
    assert_eq!(r.explanations.iter().map(|e| (e.rule.as_str(), e.points)).collect::<Vec<_>>(), [("fuel-co", 50)]);
    assert_eq!(m.lots()[1].partner.as_deref(), Some("fuel-co"));
    // An undeclared partner is refused, and nothing changes.
    let before = m.to_json();
    let err = buy(&p, &mut m, "other", Some("gas-ltd")).unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "partner", .. }), "{err:?}");
    assert_eq!(m.to_json(), before);
    // A rule naming an undeclared partner is refused at load.
    let bad = PROGRAM.replace(r#"when.partners = ["fuel-co"]"#, r#"when.partners = ["gas-ltd"]"#);
    let err = Program::from_toml_str(&bad).unwrap_err().to_string();
    assert!(err.contains("earn[1].when.partners[0]") && err.contains("gas-ltd"), "{err}");
}

#[test]
fn a_campaign_variant_is_fixed_by_the_ids_and_named_in_the_receipt() {
    let p = program();
    let (a, b) = (someone_in(&p, "control"), someone_in(&p, "bonus"));
    let mut ma = member(&p, &a);
    let mut mb = member(&p, &b);
    let ra = buy(&p, &mut ma, "s1", None).unwrap();
    let rb = buy(&p, &mut mb, "s1", None).unwrap();
    // Control: base 100 only. Bonus: base 100 + 100.
    assert_eq!((ra.total(EntryKind::Earn), rb.total(EntryKind::Earn)), (100, 200));
    assert_eq!(serde_json::to_value(&ra.variants).unwrap(), json!([{"campaign": "spring", "variant": "control"}]));
    assert_eq!(serde_json::to_value(&rb.variants).unwrap(), json!([{"campaign": "spring", "variant": "bonus"}]));
    // The same ids give the same variant on every call, in every program with the campaign.
    let again = Program::from_toml_str(PROGRAM).unwrap();
    assert_eq!(again.variant(&b, "spring"), Some("bonus"));
    // `when.variants` lists the variants a rule is for: a member in one of them is enough.
    let both = Program::from_toml_str(&PROGRAM.replace(r#"["spring/bonus"]"#, r#"["spring/control", "spring/bonus"]"#))
        .unwrap();
    let (mut ma, mut mb) = (member(&both, &a), member(&both, &b));
    let (ra, rb) = (buy(&both, &mut ma, "s1", None).unwrap(), buy(&both, &mut mb, "s1", None).unwrap());
    assert_eq!((ra.total(EntryKind::Earn), rb.total(EntryKind::Earn)), (200, 200));
    // A rule naming an unknown variant is refused at load.
    let bad = PROGRAM.replace("spring/bonus", "spring/treat");
    let err = Program::from_toml_str(&bad).unwrap_err().to_string();
    assert!(err.contains("no campaign variant 'spring/treat'"), "{err}");
}

/// A tier level reached by a script, and a reward with a shared points budget.
#[test]
fn a_level_reached_by_script_and_a_reward_budget_shared_by_two_rewards() {
    let p = Program::from_toml_str(
        r#"
id = "misc"
currency = "RUB"
time_zone = "Europe/Moscow"
categories = ["wine", "food"]

[tiers]
measure = "purchases"
window = "calendar_year"
[[tiers.levels]]
id = "guest"
[[tiers.levels]]
id = "connoisseur"
# Reached by any basket with 3 or more wine lines.
script.gives = "allow"
script.source = 'event.lines.filter(|l| l.category == "wine").len() >= 3'

[[rewards]]
id = "bottle"
kind = "free_item"
sku = "house-red"
cost = 300
budget = { counter = "spring", limit = 500, per = "month" }

[[rewards]]
id = "glass"
kind = "free_item"
sku = "glass"
cost = 150
budget = { counter = "spring", limit = 500, per = "month" }
"#,
    )
    .expect("the program loads");
    let mut m = member(&p, "script");
    let wine = |id: &str, n: usize| {
        let lines: Vec<_> = (0..n)
            .map(|i| json!({"sku": format!("w{i}"), "category": "wine", "quantity": "1", "unit_price": "10"}))
            .collect();
        Event::from_json_str(
            &json!({"id": id, "at": "2026-04-02T10:00:00Z", "type": "purchase", "lines": lines}).to_string(),
        )
        .unwrap()
    };
    let r = p.apply(&mut m, &wine("two", 2)).unwrap().receipt;
    assert_eq!(r.tier.as_deref(), Some("guest"));
    let r = p.apply(&mut m, &wine("three", 3)).unwrap().receipt;
    assert_eq!(r.tier.as_deref(), Some("connoisseur"));
    // Kept for the rest of 2026 and all of 2027 (keep = 1), like a level reached by the measure.
    assert_eq!(p.tier(&m, m.clock()).unwrap().until.map(|u| u.to_rfc3339()), Some("2027-12-31T21:00:00+00:00".into()));

    // The budget: 500 points a month shared by both rewards: 300 + 150 fit, another 150 does not.
    let credit =
        Event::from_json_str(r#"{"id":"c","at":"2026-04-03T07:00:00Z","type":"adjust","points":1000,"reason":"x"}"#)
            .unwrap();
    p.apply(&mut m, &credit).unwrap();
    let mut counters = loyalty::MemoryCounters::default();
    let take = |id: &str, reward: &str| {
        Event::from_json_str(
            &json!({"id": id, "at": "2026-04-03T08:00:00Z", "type": "redeem_reward", "reward": reward}).to_string(),
        )
        .unwrap()
    };
    p.apply_with(&mut m, &take("t1", "bottle"), &mut counters).unwrap();
    p.apply_with(&mut m, &take("t2", "glass"), &mut counters).unwrap();
    assert_eq!(counters.get("budget:spring:2026-04"), 450);
    let err = p.apply_with(&mut m, &take("t3", "glass"), &mut counters).unwrap_err();
    assert!(err.to_string().contains("counter 'budget:spring:2026-04' is at its limit of 500"), "{err}");
    assert_eq!(m.balances().available, 1000 - 450);
}
