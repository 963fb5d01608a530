//! Category and SKU conditions on basket lines, in a program of 3
//! categories and in the same program with 67 more: the engine tests a
//! line's category with one bit in programs of up to 64 categories and asks
//! its sets in full beyond, so both must give the hand-worked numbers below,
//! in `apply` and in `quote`.

use loyalty::{Event, Member, Program};

/// The rules; `{categories}` is replaced by the program's category list.
const PROGRAM: &str = r#"
id = "lines"
currency = "RUB"
time_zone = "UTC"
categories = [{categories}]
earning_base.exclude_skus = ["gift-card"]

# 1 point per 10 RUB on everything but alcohol, floored per transaction.
[[earn]]
id = "base"
kind = "per_amount"
points = 1
per = "10"
when.exclude_categories = ["alcohol"]

# Double points on coffee, but not on decaf.
[[earn]]
id = "coffee-x2"
kind = "multiplier"
factor = "2"
applies_to = ["base"]
when.categories = ["coffee"]
when.exclude_skus = ["decaf"]

# 10 % back on beans.
[[earn]]
id = "beans"
kind = "percent"
percent = "10"
when.skus = ["beans"]

# Pay up to half the basket, not for alcohol nor for promotional lines.
[[burn]]
id = "pay"
max_share_percent = "50"
exclude_categories = ["alcohol"]
exclude_skus = ["promo"]
"#;

const BASKET: &str = r#"[
  {"sku": "latte", "category": "coffee", "quantity": "1", "unit_price": "300"},
  {"sku": "decaf", "category": "coffee", "quantity": "1", "unit_price": "200"},
  {"sku": "beans", "category": "coffee", "quantity": "1", "unit_price": "500"},
  {"sku": "wine", "category": "alcohol", "quantity": "1", "unit_price": "1000"},
  {"sku": "gift-card", "category": "misc", "quantity": "1", "unit_price": "1000"},
  {"sku": "promo", "category": "misc", "quantity": "1", "unit_price": "100"}
]"#;

/// The program with `extra` more categories, `c000`, `c001`, …: they sort
/// between `alcohol` and `coffee`, so with 67 of them `coffee` and `misc`
/// have indices past 64.
fn program(extra: usize) -> Program {
    let mut names: Vec<String> = ["alcohol", "coffee", "misc"].iter().map(|s| format!("\"{s}\"")).collect();
    names.extend((0..extra).map(|i| format!("\"c{i:03}\"")));
    Program::from_toml_str(&PROGRAM.replace("{categories}", &names.join(", "))).expect("the program loads")
}

/// A member with 5 000 points to spend.
fn member(p: &Program) -> Member {
    let mut m = p.enroll("m", "2026-03-01T09:00:00Z".parse().unwrap(), Default::default()).unwrap();
    let seed = r#"{"id":"seed","at":"2026-03-01T09:00:00Z","type":"adjust","points":5000,"reason":"seed"}"#;
    p.apply(&mut m, &Event::from_json_str(seed).unwrap()).unwrap();
    m
}

#[test]
fn category_and_sku_conditions_give_the_same_points_with_few_and_many_categories() {
    for extra in [0, 67] {
        let p = program(extra);
        let mut m = member(&p);
        // base: latte 300 + decaf 200 + beans 500 + promo 100 = 1 100 RUB
        //   (wine is alcohol, the gift card is out of the earning base)
        //   → 110 points.
        // coffee-x2: ×2 on base for coffee but decaf: latte 30 + beans 50
        //   → +80.
        // beans: 10 % of 500 RUB, a point worth 1 RUB → 50.
        // Total 240.
        let basket = serde_json::from_str(&format!(r#"{{"lines":{BASKET}}}"#)).unwrap();
        let at = "2026-03-02T12:00:00Z".parse().unwrap();
        let quote = p.quote(&m, &basket, at).unwrap();
        let per_rule: Vec<(&str, i64)> = quote.explanations.iter().map(|e| (e.rule, e.points)).collect();
        assert_eq!(per_rule, [("base", 110), ("beans", 50), ("coffee-x2", 80)], "{extra} more categories");
        assert_eq!(quote.points, 240, "{extra} more categories");
        // Burn: eligible latte 300 + decaf 200 + beans 500 + gift card 1 000
        //   = 2 000 RUB (not the wine, not the promo line); half is 1 000 RUB
        //   = 1 000 points at 1 RUB each, under the 5 000 available.
        assert_eq!(quote.max_burn, 1000, "{extra} more categories");

        let purchase = format!(r#"{{"id":"buy","at":"2026-03-02T12:00:00Z","type":"purchase","lines":{BASKET}}}"#);
        let receipt = p.apply(&mut m, &Event::from_json_str(&purchase).unwrap()).unwrap().receipt;
        let per_rule: Vec<(&str, i64)> = receipt.explanations.iter().map(|e| (&*e.rule, e.points)).collect();
        assert_eq!(per_rule, [("base", 110), ("beans", 50), ("coffee-x2", 80)], "{extra} more categories");
        // No pending period: the points are available at once.
        assert_eq!(receipt.balances.available, 5240, "{extra} more categories");
    }
}
