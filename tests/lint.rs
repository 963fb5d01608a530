//! `Program::lint`: the sample programs lint clean, and every warning kind
//! fires on a small program and stays silent on a near-identical one.

use loyalty::{Program, Warning};

fn lint(toml: &str) -> Vec<Warning> {
    Program::from_toml_str(toml).unwrap_or_else(|e| panic!("{e}")).lint()
}

fn codes(toml: &str) -> Vec<String> {
    lint(toml).iter().map(ToString::to_string).collect()
}

const HEAD: &str = "id = \"p\"\ncurrency = \"RUB\"\ntime_zone = \"Europe/Moscow\"\n";

fn program(body: &str) -> String {
    format!("{HEAD}{body}")
}

#[test]
fn sample_programs_lint_clean() {
    for name in ["corner_coffee", "home_appliance", "petshop"] {
        let path = format!("{}/examples/programs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let warnings = codes(&text);
        assert!(warnings.is_empty(), "{name}: {warnings:#?}");
    }
}

/// Asserts that `bad` gives exactly `want` and `good` (near-identical) gives nothing.
fn check(bad: &str, good: &str, want: &[&str]) {
    assert_eq!(codes(&program(bad)), want, "the triggering program");
    assert_eq!(codes(&program(good)), Vec::<String>::new(), "the near-identical program");
}

const CATS: &str = "categories = [\"coffee\", \"tea\", \"alcohol\"]\nearning_base.exclude_categories = [\"alcohol\"]\n";

#[test]
fn unreachable_tier() {
    let ladder = |min: &str, caps: &str| {
        format!(
            "{CATS}[[earn]]\nid = \"visit\"\nkind = \"fixed\"\npoints = 10\n{caps}\n\
             [tiers]\nmeasure = \"points_earned\"\nwindow = \"calendar_year\"\n\
             [[tiers.levels]]\nid = \"green\"\n[[tiers.levels]]\nid = \"gold\"\nmin = \"{min}\"\n"
        )
    };
    check(
        &ladder("5000", "caps.per_month = 100"),
        &ladder("1200", "caps.per_month = 100"),
        &["tiers.levels[1].min (level 'gold'): needs 5000 points earned, but the earn rules' caps allow at most 1200 in \
           a calendar year (it can still be assigned by hand) [unreachable-tier]"],
    );
    // Without a cap the points are unbounded: nothing to say.
    assert!(codes(&program(&ladder("5000", ""))).is_empty());
    // A fixed bonus is bounded by the purchases that earn a day.
    let limited = format!("limits.earning_purchases_per_day = 1\n{}", ladder("5000", ""));
    assert_eq!(lint(&program(&limited))[0].code, "unreachable-tier");
}

#[test]
fn dead_rule_categories_all_excluded() {
    let rule =
        |cats: &str| format!("{CATS}[[earn]]\nid = \"wine\"\nkind = \"fixed\"\npoints = 5\nwhen.categories = {cats}\n");
    check(
        &rule("[\"alcohol\"]"),
        &rule("[\"alcohol\", \"tea\"]"),
        &["earn[0].when.categories (rule 'wine'): every category it names ('alcohol') is excluded by \
           earning_base.exclude_categories, so no line can match [dead-rule]"],
    );
}

#[test]
fn dead_rule_excludes_every_category() {
    let rule = |excl: &str| {
        format!("{CATS}[[earn]]\nid = \"x\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\nwhen.exclude_categories = {excl}\n")
    };
    check(
        &rule("[\"coffee\", \"tea\"]"),
        &rule("[\"coffee\"]"),
        &["earn[0].when.exclude_categories (rule 'x'): together with earning_base.exclude_categories it excludes \
           every declared category, so no line can match [dead-rule]"],
    );
}

#[test]
fn dead_rule_skus_all_excluded() {
    let rule = |skus: &str| {
        format!(
            "{CATS}earning_base.exclude_skus = [\"gift-card\"]\n[[earn]]\nid = \"g\"\nkind = \"fixed\"\npoints = 5\n\
             when.skus = {skus}\nwhen.exclude_skus = [\"latte\"]\n"
        )
    };
    check(
        &rule("[\"gift-card\", \"latte\"]"),
        &rule("[\"gift-card\", \"latte\", \"mocha\"]"),
        &["earn[0].when.skus (rule 'g'): every SKU it names ('gift-card', 'latte') is excluded by its own \
           when.exclude_skus or by earning_base.exclude_skus, so no line can match [dead-rule]"],
    );
}

#[test]
fn dead_rule_weekdays_outside_date_range() {
    // 4 to 6 January 2027 is Monday to Wednesday.
    let rule = |until: &str| {
        format!(
            "{CATS}[[earn]]\nid = \"sat\"\nkind = \"fixed\"\npoints = 5\nwhen.from = \"2027-01-04\"\n\
             when.until = \"{until}\"\nwhen.weekdays = [\"sat\"]\n"
        )
    };
    check(
        &rule("2027-01-06"),
        &rule("2027-01-09"),
        &["earn[0].when.weekdays (rule 'sat'): no day from 2027-01-04 to 2027-01-06 is a Saturday [dead-rule]"],
    );
}

#[test]
fn dead_rule_promotion_for_other_levels() {
    let rule = |tiers: &str| {
        format!(
            "{CATS}[tiers]\nmeasure = \"spend\"\nwindow = \"calendar_year\"\n[[tiers.levels]]\nid = \"start\"\n\
             [[tiers.levels]]\nid = \"gold\"\nmin = \"1000\"\n\
             [[promotions]]\nid = \"day\"\ntiers = [\"gold\"]\nmax = {{ count = 1, per = \"month\" }}\n\
             [[earn]]\nid = \"base\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\n\
             [[earn]]\nid = \"double\"\nkind = \"multiplier\"\nfactor = \"2\"\nwhen.chosen = \"day\"\nwhen.tiers = {tiers}\n"
        )
    };
    check(
        &rule("[\"start\"]"),
        &rule("[\"start\", \"gold\"]"),
        &["earn[1].when.tiers (rule 'double'): the promotion 'day' it needs (when.chosen) is only for levels 'gold', \
           none of which this rule allows ('start') [dead-rule]"],
    );
}

#[test]
fn dead_multiplier_whose_targets_never_match_with_it() {
    let rule = |partners: &str| {
        format!(
            "{CATS}partners = [\"fuel\"]\n[[earn]]\nid = \"fuel-base\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\n\
             when.partners = [\"fuel\"]\n[[earn]]\nid = \"double\"\nkind = \"multiplier\"\nfactor = \"2\"\n\
             applies_to = [\"fuel-base\"]\n{partners}"
        )
    };
    check(
        &rule(""),
        &rule("when.partners = [\"fuel\"]\n"),
        &["earn[1].applies_to (rule 'double'): it never multiplies anything: 'double' applies only to the program's \
           own purchases and 'fuel-base' only to partners' [dead-rule]"],
    );
    let dated = |until: &str| {
        format!(
            "{CATS}[[earn]]\nid = \"base\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\nwhen.until = \"{until}\"\n\
             [[earn]]\nid = \"double\"\nkind = \"multiplier\"\nfactor = \"2\"\nwhen.from = \"2027-02-01\"\n"
        )
    };
    check(
        &dated("2027-01-31"),
        &dated("2027-02-01"),
        &["earn[1].when (rule 'double'): it never multiplies anything: 'double' applies from 2027-02-01 and 'base' \
           until 2027-01-31 [dead-rule]"],
    );
}

#[test]
fn dead_tier_multiplier() {
    let rule = |tiers: &str| {
        format!(
            "{CATS}[tiers]\nmeasure = \"spend\"\nwindow = \"calendar_year\"\n[[tiers.levels]]\nid = \"start\"\n\
             [[tiers.levels]]\nid = \"gold\"\nmin = \"1000\"\nmultiplier = \"1.5\"\n\
             [[earn]]\nid = \"base\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\nwhen.tiers = {tiers}\n"
        )
    };
    check(
        &rule("[\"start\"]"),
        &rule("[\"start\", \"gold\"]"),
        &["tiers.levels[1].multiplier (level 'gold'): it never multiplies anything: the multiplier of level 'gold' \
           needs level 'gold' and 'base' level 'start' [dead-rule]"],
    );
}

#[test]
fn exclusive_overlap() {
    let rules = |cats: &str| {
        format!(
            "{CATS}[[earn]]\nid = \"coffee-day\"\nkind = \"fixed\"\npoints = 20\nstacking = \"exclusive\"\n\
             when.categories = [\"coffee\"]\nwhen.weekdays = [\"tue\"]\n\
             [[earn]]\nid = \"drinks\"\nkind = \"fixed\"\npoints = 10\nstacking = \"exclusive\"\nwhen.categories = {cats}\n"
        )
    };
    check(
        &rules("[\"coffee\", \"tea\"]"),
        &rules("[\"tea\"]"),
        &["earn[1].stacking (rule 'drinks'): this rule and 'coffee-day' are both exclusive and can both match \
           'coffee' lines on Tuesday: on such a purchase only the one giving more points applies (ties: lower \
           priority, then id) [exclusive-overlap]"],
    );
    // An exclusive stage-one rule and an exclusive multiplier never compete.
    let stages = format!(
        "{CATS}[[earn]]\nid = \"a\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\nstacking = \"exclusive\"\n\
         [[earn]]\nid = \"m\"\nkind = \"multiplier\"\nfactor = \"2\"\nstacking = \"exclusive\"\n"
    );
    assert!(codes(&program(&stages)).is_empty());
}

#[test]
fn unaffordable_reward() {
    let rules = |cost: u32, caps: &str| {
        format!(
            "{CATS}expiry = {{ kind = \"after\", period = {{ months = 1 }} }}\n\
             [[earn]]\nid = \"base\"\nkind = \"per_amount\"\npoints = 1\nper = \"10\"\n{caps}\n\
             [[rewards]]\nid = \"trip\"\nkind = \"experience\"\ncost = {cost}\n"
        )
    };
    // 1 month is at most 31 days and touches at most 3 calendar months: 3 × 50 + a day's slack.
    let bad = lint(&program(&rules(5000, "caps.per_month = 50")));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].code, "unaffordable-reward");
    assert_eq!(bad[0].path, "rewards[0].cost");
    assert_eq!(bad[0].id.as_deref(), Some("trip"));
    assert!(bad[0].message.starts_with("costs 5000 points, but one member can hold at most 150 at once"), "{}", bad[0]);
    assert!(codes(&program(&rules(100, "caps.per_month = 50"))).is_empty());
    // Uncapped earning: no bound, no warning.
    assert!(codes(&program(&rules(5000, ""))).is_empty());
    // Points that never expire: no warning either.
    let never =
        rules(5000, "caps.per_month = 50").replace("expiry = { kind = \"after\", period = { months = 1 } }\n", "");
    assert!(codes(&program(&never)).is_empty());
}

#[test]
fn cap_below_award() {
    let rule =
        |cap: u32| format!("{CATS}[[earn]]\nid = \"welcome\"\nkind = \"fixed\"\npoints = 500\ncaps.lifetime = {cap}\n");
    check(
        &rule(50),
        &rule(500),
        &["earn[0].caps.lifetime (rule 'welcome'): the cap of 50 is below the rule's 500 points: every award is cut \
           to at most 50 [cap-below-award]"],
    );
    let scaled = format!("points.scale = 2\n{}", rule(50));
    assert!(lint(&program(&scaled))[0].message.ends_with("with points.scale = 2 that is 0.50 points)"));
}

#[test]
fn look_alike_names() {
    // "c\u{43e}ffee": a Cyrillic о.
    let cats = |second: &str| format!("categories = [\"coffee\", \"{second}\"]\n");
    check(
        &cats("c\u{43e}ffee"),
        &cats("toffee"),
        &[
            "categories[1] (category 'c\u{43e}ffee'): looks like 'coffee' (categories[0]): they differ only by case, \
             accents or look-alike characters: U+043E (Cyrillic, looks like 'o') [look-alike-names]",
            "categories[1] (category 'c\u{43e}ffee'): mixes Latin letters with look-alikes from another script: \
             U+043E (Cyrillic, looks like 'o') [suspicious-char]",
        ],
    );
    // SKUs are compared wherever they are written; the same SKU twice is fine.
    let skus = |other: &str| {
        format!(
            "{CATS}earning_base.exclude_skus = [\"{other}\"]\n[[earn]]\nid = \"l\"\nkind = \"fixed\"\npoints = 5\n\
             when.skus = [\"latte\", \"mocha\"]\n"
        )
    };
    check(
        &skus("Latte"),
        &skus("latte"),
        &["earning_base.exclude_skus[0] (sku 'Latte'): looks like 'latte' (earn[0].when.skus[0]): they differ only \
           by case [look-alike-names]"],
    );
    // A decomposed "é" looks like a composed one.
    let both = |second: &str| format!("categories = [\"caf\u{e9}\", \"{second}\"]\n");
    check(
        &both("cafe\u{301}"),
        &both("cafes"),
        &["categories[1] (category 'cafe\u{301}'): looks like 'caf\u{e9}' (categories[0]): they differ only by case, \
           accents or look-alike characters: U+00E9 (accented); U+0301 (accented) [look-alike-names]"],
    );
}

#[test]
fn suspicious_characters() {
    let rule = |id: &str| format!("{CATS}[[earn]]\nid = \"{id}\"\nkind = \"fixed\"\npoints = 5\n");
    check(
        &rule("base\u{200b}"),
        &rule("base"),
        &["earn[0].id (rule 'base\\u{200b}'): contains invisible or blank characters: U+200B (invisible) \
           [suspicious-char]"],
    );
    // Names wholly in another script are names, not look-alikes.
    assert!(codes(&program("categories = [\"кофе\", \"чай\", \"еда\"]\n")).is_empty());
    // ... unless every letter looks Latin.
    assert_eq!(lint(&program("categories = [\"\u{441}\u{43e}\u{440}\"]\n"))[0].code, "suspicious-char");
}

#[test]
fn look_alike_names_differing_by_separators() {
    // The reviewer's program: points must not pay for gift cards, but the
    // burn rule excludes "gift-card" while the lines say "gift_card".
    let shop = |second: &str| {
        format!(
            "categories = [\"tv\", \"gift_card\", \"{second}\"]\n[[burn]]\nid = \"pay\"\nvalue = \"1\"\n\
             exclude_categories = [\"{second}\"]\n"
        )
    };
    check(
        &shop("gift-card"),
        &shop("gift-cards"),
        &["categories[2] (category 'gift-card'): looks like 'gift_card' (categories[1]): they differ only by '_' \
           and '-' [look-alike-names]"],
    );
    let cats = |second: &str| format!("categories = [\"gift_card\", \"{second}\"]\n");
    check(
        &cats("gift card"),
        &cats("gift cards"),
        &["categories[1] (category 'gift card'): looks like 'gift_card' (categories[0]): they differ only by '_' \
           and ' ' [look-alike-names]"],
    );
    check(
        &cats("Gift.Card"),
        &cats("Gift.Cart"),
        &["categories[1] (category 'Gift.Card'): looks like 'gift_card' (categories[0]): they differ only by '_' \
           and '.', and by case [look-alike-names]"],
    );
    // A run of separators counts as one; every differing run is named once.
    let three = |third: &str| format!("categories = [\"a-b_c\", \"{third}\"]\n");
    check(
        &three("a--b.c"),
        &three("a--b.cd"),
        &["categories[1] (category 'a--b.c'): looks like 'a-b_c' (categories[0]): they differ only by '-', '--', \
           '_' and '.' [look-alike-names]"],
    );
    // An en dash is a look-alike of '-', not another separator.
    check(
        &cats("gift\u{2013}card"),
        &cats("gift-cards"),
        &[
            "categories[1] (category 'gift\u{2013}card'): looks like 'gift_card' (categories[0]): they differ only \
             by '_' and '\u{2013}', and by case, accents or look-alike characters: U+2013 (non-ASCII, looks like '-') \
             [look-alike-names]",
            "categories[1] (category 'gift\u{2013}card'): mixes Latin letters with look-alikes from another script: \
             U+2013 (non-ASCII, looks like '-') [suspicious-char]",
        ],
    );
    // SKUs are compared wherever they are written.
    let skus = |excluded: &str| {
        format!(
            "{CATS}[[earn]]\nid = \"l\"\nkind = \"fixed\"\npoints = 5\nwhen.skus = [\"latte.big\", \"mocha\"]\n\
             [[burn]]\nid = \"pay\"\nvalue = \"1\"\nexclude_skus = [\"{excluded}\"]\n"
        )
    };
    check(
        &skus("latte-big"),
        &skus("latte-bigger"),
        &["earn[0].when.skus[0] (sku 'latte.big'): looks like 'latte-big' (burn[0].exclude_skus[0]): they differ \
           only by '-' and '.' [look-alike-names]"],
    );
}

#[test]
fn names_mixing_scripts() {
    // "lap\u{442}ops": a Cyrillic т, which is not a look-alike of any Latin letter.
    let cats = |second: &str| format!("categories = [\"tv\", \"{second}\"]\n");
    check(
        &cats("lap\u{442}ops"),
        &cats("laptops"),
        &["categories[1] (category 'lap\u{442}ops'): mixes Latin letters with letters of another script: U+0442 \
           (Cyrillic) [suspicious-char]"],
    );
    // Look-alikes and other letters of the other script are all named, once each.
    check(
        &cats("l\u{430}p\u{442}op\u{442}s"),
        &cats("laptops"),
        &["categories[1] (category 'l\u{430}p\u{442}op\u{442}s'): mixes Latin letters with letters of another \
           script: U+0430 (Cyrillic, looks like 'a'), U+0442 (Cyrillic) [suspicious-char]"],
    );
    // Greek too, and the letters of the script of fewer letters are the foreign ones.
    check(
        &cats("caf\u{3bb}"),
        &cats("cafe"),
        &["categories[1] (category 'caf\u{3bb}'): mixes Latin letters with letters of another script: U+03BB \
           (Greek) [suspicious-char]"],
    );
    check(
        &cats("\u{447}\u{430}\u{439}k"),
        &cats("\u{447}\u{430}\u{439}"),
        &["categories[1] (category '\u{447}\u{430}\u{439}k'): mixes Cyrillic letters with letters of another \
           script: U+006B (Latin) [suspicious-char]"],
    );
    // A program named in one script is clean, whatever the script.
    assert_eq!(
        codes(&program("categories = [\"\u{43a}\u{43e}\u{444}\u{435}\", \"\u{447}\u{430}\u{439}\"]\n")),
        Vec::<String>::new()
    );
    assert_eq!(codes(&program("categories = [\"\u{3ba}\u{3b1}\u{3c6}\u{3ad}\", \"kafe\"]\n")), Vec::<String>::new());
    // Japanese mixes kanji, kana and Latin letters as a matter of course ("T-shirt").
    assert_eq!(
        codes(&program("categories = [\"T\u{30b7}\u{30e3}\u{30c4}\", \"\u{6f22}\u{5b57}\u{304b}\u{306a}\"]\n")),
        Vec::<String>::new()
    );
}

#[test]
fn messages_escape_invisible_characters() {
    let cats = |second: &str| format!("categories = [\"phones\", \"{second}\"]\n");
    check(
        &cats("phones\u{200b}"),
        &cats("phones-x"),
        &[
            "categories[1] (category 'phones\\u{200b}'): looks like 'phones' (categories[0]): they differ only by \
             case, accents or look-alike characters: U+200B (invisible) [look-alike-names]",
            "categories[1] (category 'phones\\u{200b}'): contains invisible or blank characters: U+200B \
             (invisible) [suspicious-char]",
        ],
    );
    // The id stays the name as written, for machines.
    let w = lint(&program(&cats("phones\u{200b}")));
    assert_eq!(w[0].id.as_deref(), Some("phones\u{200b}"));
    // Names quoted inside messages too: a right-to-left override, a
    // non-breaking space, a tab; a backslash is doubled so escapes stay unambiguous.
    let rule = |sku: &str| {
        format!(
            "{CATS}earning_base.exclude_skus = [\"{sku}\"]\n[[earn]]\nid = \"g\"\nkind = \"fixed\"\npoints = 5\n\
             when.skus = [\"{sku}\"]\n"
        )
    };
    let all = codes(&program(&rule("la\u{202e}tte\u{a0}big\\t\\\\")));
    assert!(
        all.iter().any(|w| w.starts_with(
            "earn[0].when.skus (rule 'g'): every SKU it names ('la\\u{202e}tte\\u{a0}big\\t\\\\') is excluded"
        )),
        "{all:#?}"
    );
    for w in &all {
        assert!(!w.chars().any(|c| c.is_control() || matches!(c, '\u{202e}' | '\u{a0}')), "{w}");
    }
    assert_eq!(
        codes(&program(&rule("latte-big"))).into_iter().filter(|w| w.contains("[dead-rule]")).collect::<Vec<_>>(),
        ["earn[0].when.skus (rule 'g'): every SKU it names ('latte-big') is excluded by its own when.exclude_skus \
          or by earning_base.exclude_skus, so no line can match [dead-rule]"]
    );
}

#[test]
fn warnings_are_sorted_by_path_with_numbers_in_order() {
    let mut body = String::from(CATS);
    for i in 0..12 {
        let cats = if i % 5 == 2 { "[\"alcohol\"]" } else { "[\"coffee\"]" };
        body += &format!("[[earn]]\nid = \"r{i}\"\nkind = \"fixed\"\npoints = 5\nwhen.categories = {cats}\n");
    }
    let paths: Vec<String> = lint(&program(&body)).into_iter().map(|w| w.path).collect();
    assert_eq!(paths, ["earn[2].when.categories", "earn[7].when.categories"]);
    body += "[[earn]]\nid = \"r12\"\nkind = \"fixed\"\npoints = 5\nwhen.categories = [\"alcohol\"]\n";
    let paths: Vec<String> = lint(&program(&body)).into_iter().map(|w| w.path).collect();
    assert_eq!(paths, ["earn[2].when.categories", "earn[7].when.categories", "earn[12].when.categories"]);
}
