//! A seeded, deterministic generator of loyalty-member behaviour, run
//! through the engine: for demos, benchmarks and what-if simulations.
//!
//! [`simulate`] enrols a population of members over a period and lets each
//! one live: visits at their own pace (weekly, monthly or now and then),
//! busier in December and quieter in summer, baskets from the program's
//! categories, points paid at the till when the member has enough, a few
//! returns, reviews and satisfaction surveys, friends referred, and members
//! who stop coming. Every event goes through [`Program::apply`] as it is
//! generated, so decisions can depend on the member's state (a redeem asks
//! for what the burn rule allows), and the log replays to the same members.
//!
//! ```
//! use loyalty_sim::{simulate, Behaviour};
//! let program = loyalty::Program::from_toml_str(r#"
//!     id = "cafe"
//!     currency = "EUR"
//!     time_zone = "Europe/Paris"
//!     categories = ["coffee", "food"]
//!     [[earn]]
//!     id = "base"
//!     kind = "per_amount"
//!     points = 1
//!     per = "1"
//!     [[burn]]
//!     id = "pay"
//! "#).unwrap();
//! let behaviour = Behaviour { members: 20, days: 90, seed: 7, ..Behaviour::default() };
//! let a = simulate(&program, &behaviour).unwrap();
//! let b = simulate(&program, &behaviour).unwrap();
//! assert_eq!(a.to_jsonl(), b.to_jsonl());          // the same seed, the same log
//! assert_eq!(a.members.len(), 20);
//! ```
//!
//! # Determinism
//!
//! The generator draws from ChaCha8 seeded with [`Behaviour::seed`] and uses
//! integers only (waiting times are geometric: one draw per day until a
//! visit), so the same program, behaviour and seed give the same log on
//! every platform. Nothing reads the clock.
//!
//! # The behaviour model
//!
//! * **Joining:** members join at instants spread evenly over the first 60 %
//!   of the period; [`Behaviour::referral_percent`] of them are referred by an
//!   earlier member (when the program has a referral bonus), and the
//!   referrer is rewarded when the engine signals the referral qualified.
//! * **Pace:** 20 % are frequent (a visit every 6 days on average), 50 %
//!   regular (every 25 days), 30 % occasional (every 70 days). The chance of
//!   a visit on a day is scaled by the month: 85–95 % in summer, 120 % in
//!   November, 150 % in December.
//! * **Churn:** each member stops coming after a lifetime drawn month by
//!   month with a monthly churn of 3 % (frequent), 6 % (regular) or 10 %
//!   (occasional).
//! * **Visits:** between 08:00 and 21:00 local time; 1–4 lines of the
//!   program's categories, each category with its own price level, units
//!   mostly 1.
//! * **Paying with points:** after a purchase, [`Behaviour::redeem_percent`]
//!   of members who may pay with points redeem what the first burn rule
//!   allows for that basket.
//! * **Returns:** [`Behaviour::return_percent`] of purchases see one line
//!   returned 1–10 days later (all of it or one unit).
//! * **Activities:** the program's activities (a review, an app install)
//!   follow [`Behaviour::activity_percent`] of purchases; a `survey` activity
//!   with a 0–10 score follows [`Behaviour::survey_percent`] of them
//!   (half promoters, a fifth detractors).
//! * **The end:** every member gets an `advance` to the end of the period,
//!   so expiries and lapses show in the final states.

#![deny(missing_docs)]

pub mod whatif;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use loyalty::{
    Activity, Amount, Basket, Enroll, Event, EventKind, Line, Member, MemoryCounters, Profile, Program, Purchase,
    Receipt, Redeem, ReferralReward, Return, ReturnLine, Signal,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

/// What the simulated members do.
///
/// ```
/// let b = loyalty_sim::Behaviour::default();
/// assert_eq!((b.members, b.days), (200, 365));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// Members to enrol.
    pub members: u32,
    /// The start of the period.
    pub start: DateTime<Utc>,
    /// Its length in days.
    pub days: u32,
    /// The generator's seed.
    pub seed: u64,
    /// Percent of purchases followed by a points payment, when the member may pay.
    pub redeem_percent: u32,
    /// Percent of purchases with a line returned later.
    pub return_percent: u32,
    /// Percent of joins referred by an earlier member (programs with a referral bonus).
    pub referral_percent: u32,
    /// Percent of purchases followed by one of the program's activities.
    pub activity_percent: u32,
    /// Percent of purchases followed by a `survey` activity with a 0–10 score.
    pub survey_percent: u32,
    /// A typical unit price, in cents of the program's currency: each
    /// category gets a price level of ¼ to 4 times it.
    pub typical_unit_price_cents: i64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            members: 200,
            start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default(),
            days: 365,
            seed: 1,
            redeem_percent: 30,
            return_percent: 4,
            referral_percent: 15,
            activity_percent: 10,
            survey_percent: 5,
            typical_unit_price_cents: 1_000,
        }
    }
}

/// One event of the log, with the member it was applied to and its receipt.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The member id.
    pub member: String,
    /// The event.
    pub event: Event,
    /// The engine's receipt.
    pub receipt: Arc<Receipt>,
}

/// The outcome of a simulation: the event log in the order it was applied,
/// and the members at the end.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Every applied event, in order.
    pub log: Vec<Delivered>,
    /// The members at the end of the period, by id.
    pub members: BTreeMap<String, Member>,
    /// Events the generator tried and the engine refused (left out of the log).
    pub refused: usize,
}

impl Simulation {
    /// The log as a [`whatif::History`]: (member, event) pairs, for replaying under other programs.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"]}"#).unwrap();
    /// let sim = loyalty_sim::simulate(&program, &Default::default()).unwrap();
    /// assert_eq!(sim.history().len(), sim.log.len());
    /// ```
    pub fn history(&self) -> whatif::History {
        self.log.iter().map(|d| (d.member.clone(), d.event.clone())).collect()
    }

    /// The log as JSON lines `{"member": …, "event": …}`, as `loyalty run` reads it.
    ///
    /// ```
    /// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"]}"#).unwrap();
    /// let sim = loyalty_sim::simulate(&program, &loyalty_sim::Behaviour { members: 2, days: 10, ..Default::default() }).unwrap();
    /// assert!(sim.to_jsonl().lines().all(|l| l.starts_with(r#"{"member":"#)));
    /// ```
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for d in &self.log {
            out.push_str("{\"member\":");
            out.push_str(&json_string(&d.member));
            out.push_str(",\"event\":");
            out.push_str(&d.event.to_json());
            out.push_str("}\n");
        }
        out
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A member's pace: mean days between visits and monthly churn, in percent.
#[derive(Debug, Clone, Copy)]
struct Pace {
    mean_days: u32,
    churn_percent: u32,
}

const FREQUENT: Pace = Pace { mean_days: 6, churn_percent: 3 };
const REGULAR: Pace = Pace { mean_days: 25, churn_percent: 6 };
const OCCASIONAL: Pace = Pace { mean_days: 70, churn_percent: 10 };

/// How much busier each month is than the average, in percent.
const SEASON: [u32; 12] = [95, 90, 100, 100, 100, 95, 85, 90, 100, 105, 120, 150];

struct Person {
    id: String,
    pace: Pace,
    /// No visits after this instant.
    leaves: DateTime<Utc>,
    events: u32,
}

/// What happens next, in time order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Join(usize),
    Visit(usize),
    Return { member: usize, purchase: String, line: usize, quantity: Option<Amount> },
    Activity { member: usize, name: String, value: i64 },
}

struct World<'p> {
    program: &'p Program,
    rng: ChaCha8Rng,
    people: Vec<Person>,
    /// Each person's member state, once they joined (by person: a tree of
    /// members by id costs a dozen string comparisons and cache misses per
    /// event).
    members: Vec<Option<Member>>,
    counters: MemoryCounters,
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64, Next)>>,
    seq: u64,
    log: Vec<Delivered>,
    refused: usize,
    end: DateTime<Utc>,
    behaviour: Behaviour,
    /// Unit price level per category, in cents.
    prices: Vec<(String, i64)>,
    activities: Vec<String>,
    /// The members so far, by the rank of their id among all the people's
    /// ids (the order of `members`' keys): a referrer is drawn as the k-th.
    joined: Ranks,
    /// Each person's rank, and the person of each rank.
    rank_of: Vec<usize>,
    by_rank: Vec<usize>,
}

/// A set of ranks 0..n that finds its k-th smallest member in O(log n) (a
/// Fenwick tree of counts). Drawing a referrer used to collect every
/// member's id for each draw: quadratic in the population (seconds at
/// 100 000 members).
struct Ranks {
    tree: Vec<u32>,
    len: usize,
}

impl Ranks {
    fn new(n: usize) -> Ranks {
        Ranks { tree: vec![0; n + 1], len: 0 }
    }

    /// Adds a rank not in the set yet.
    fn insert(&mut self, rank: usize) {
        self.len += 1;
        let mut i = rank + 1;
        while i < self.tree.len() {
            self.tree[i] += 1;
            i += i & i.wrapping_neg();
        }
    }

    /// The k-th smallest rank in the set (k from 0); `k` must be less than
    /// the set's size.
    fn kth(&self, k: usize) -> usize {
        let (mut at, mut left) = (0, k as u32);
        let mut step = (self.tree.len() - 1).checked_next_power_of_two().unwrap_or(0);
        while step > 0 {
            let next = at + step;
            if next < self.tree.len() && self.tree[next] <= left {
                at = next;
                left -= self.tree[next];
            }
            step /= 2;
        }
        at
    }
}

/// Runs the population of `behaviour` through `program`.
///
/// Errors only if the program refuses an enrolment (a program whose
/// `enroll` always fails); refused purchases, returns and redeems are
/// counted in [`Simulation::refused`] and left out of the log.
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"]}"#).unwrap();
/// let sim = loyalty_sim::simulate(&program, &loyalty_sim::Behaviour { members: 5, days: 60, ..Default::default() }).unwrap();
/// assert_eq!(sim.members.len(), 5);
/// ```
pub fn simulate(program: &Program, behaviour: &Behaviour) -> Result<Simulation, loyalty::Error> {
    simulate_with(program, behaviour, &mut |_| {})
}

/// [`simulate`], telling `progress` the instant the simulation has reached
/// after each event (for a progress bar; it sees nothing else and changes
/// nothing).
///
/// ```
/// # let program = loyalty::Program::from_json_str(r#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"]}"#).unwrap();
/// let mut last = None;
/// let behaviour = loyalty_sim::Behaviour { members: 3, days: 30, ..Default::default() };
/// loyalty_sim::simulate_with(&program, &behaviour, &mut |at| last = Some(at)).unwrap();
/// assert!(last.unwrap() <= behaviour.start + chrono::Duration::days(30));
/// ```
pub fn simulate_with(
    program: &Program,
    behaviour: &Behaviour,
    progress: &mut dyn FnMut(DateTime<Utc>),
) -> Result<Simulation, loyalty::Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(behaviour.seed);
    let spec = program.spec();
    let mut categories = spec.categories.clone();
    if categories.is_empty() {
        categories.push("general".into());
    }
    let prices = categories
        .into_iter()
        .map(|c| {
            // ¼ to 4 times the typical price, in cents.
            let level = (behaviour.typical_unit_price_cents.max(4) * rng.random_range(1..=16_i64) / 4).max(1);
            (c, level)
        })
        .collect();
    let end = behaviour.start + Duration::days(i64::from(behaviour.days));
    let mut world = World {
        program,
        rng,
        people: Vec::new(),
        members: Vec::new(),
        counters: MemoryCounters::default(),
        queue: BinaryHeap::new(),
        seq: 0,
        log: Vec::new(),
        refused: 0,
        end,
        behaviour: behaviour.clone(),
        prices,
        activities: spec.activities.iter().map(|a| a.id.clone()).collect(),
        joined: Ranks::new(behaviour.members as usize),
        rank_of: Vec::new(),
        by_rank: Vec::new(),
    };
    let joining_seconds = i64::from(behaviour.days) * 86_400 * 6 / 10;
    for i in 0..behaviour.members {
        let pace = match world.rng.random_range(0..10_u32) {
            0..=1 => FREQUENT,
            2..=6 => REGULAR,
            _ => OCCASIONAL,
        };
        let at = behaviour.start + Duration::seconds(world.rng.random_range(0..joining_seconds.max(1)));
        let mut months = 1_i64;
        while months < 120 && world.rng.random_range(0..100_u32) >= pace.churn_percent {
            months += 1;
        }
        world.people.push(Person {
            id: format!("m-{:05}", i + 1),
            pace,
            leaves: at + Duration::days(30 * months),
            events: 0,
        });
        world.push(at, Next::Join(world.people.len() - 1));
    }
    world.members = (0..world.people.len()).map(|_| None).collect();
    world.by_rank = (0..world.people.len()).collect();
    world.by_rank.sort_by(|&a, &b| world.people[a].id.cmp(&world.people[b].id));
    world.rank_of = vec![0; world.people.len()];
    for (rank, &person) in world.by_rank.iter().enumerate() {
        world.rank_of[person] = rank;
    }
    while let Some(Reverse((at, _, next))) = world.queue.pop() {
        world.step(at, next)?;
        progress(at);
    }
    // Statements at the end of the period: expiries and lapses up to it,
    // member by member in the order of their ids.
    let by_rank = std::mem::take(&mut world.by_rank);
    for &i in &by_rank {
        if world.members[i].is_some() {
            let event = Event { id: format!("{}/end", world.people[i].id), at: end, kind: EventKind::Advance };
            world.apply(i, event);
        }
    }
    // In id order already: the tree is built without sorting.
    let members =
        by_rank.iter().filter_map(|&i| Some((world.people[i].id.clone(), world.members[i].take()?))).collect();
    Ok(Simulation { log: world.log, members, refused: world.refused })
}

impl World<'_> {
    /// Schedules what happens next; nothing happens after the period.
    fn push(&mut self, at: DateTime<Utc>, next: Next) {
        if at >= self.end {
            return;
        }
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, next)));
    }

    fn next_id(&mut self, member: usize, what: &str) -> String {
        let p = &mut self.people[member];
        p.events += 1;
        format!("{}/{what}{}", p.id, p.events)
    }

    /// Applies an event to person `i`'s member; keeps it in the log if the
    /// engine accepts it.
    fn apply(&mut self, i: usize, event: Event) -> Option<Arc<Receipt>> {
        let member = self.people[i].id.as_str();
        let m = self.members[i].as_mut()?;
        match self.program.apply_with(m, &event, &mut self.counters) {
            Ok(applied) => {
                let receipt = Arc::clone(&applied.receipt);
                self.log.push(Delivered { member: member.to_owned(), event, receipt: Arc::clone(&receipt) });
                Some(receipt)
            }
            Err(_) => {
                self.refused += 1;
                None
            }
        }
    }

    /// The next visit: one draw a day until one says "today", each day's
    /// chance the member's pace scaled by the month.
    fn schedule_visit(&mut self, member: usize, after: DateTime<Utc>) {
        let mean = self.people[member].pace.mean_days;
        // Local days: the next visit is on a later local day, so after `after`.
        let mut day = after.with_timezone(&self.program.time_zone()).date_naive();
        loop {
            day = day.succ_opt().unwrap_or(day);
            let season = SEASON[day.month0() as usize];
            if self.rng.random_range(0..100 * mean) < season {
                break;
            }
            if day > self.end.date_naive() {
                return;
            }
        }
        let (hour, minute) = (self.rng.random_range(8..21), self.rng.random_range(0..60));
        let at = self.local(day, hour, minute);
        if at < self.end && at < self.people[member].leaves {
            self.push(at, Next::Visit(member));
        }
    }

    /// A local wall-clock time in the program's zone as an instant (a time in
    /// a DST gap moves an hour on).
    fn local(&self, day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
        let zone = self.program.time_zone();
        let wall = day.and_hms_opt(hour, minute, 0).unwrap_or_default();
        zone.from_local_datetime(&wall)
            .earliest()
            .or_else(|| zone.from_local_datetime(&(wall + Duration::hours(1))).earliest())
            .map_or_else(|| wall.and_utc(), |t| t.with_timezone(&Utc))
    }

    fn step(&mut self, at: DateTime<Utc>, next: Next) -> Result<(), loyalty::Error> {
        match next {
            Next::Join(i) => self.join(i, at)?,
            Next::Visit(i) => self.visit(i, at),
            Next::Return { member, purchase, line, quantity } => {
                let id = self.next_id(member, "r");
                let kind = EventKind::Return(Return { purchase, lines: vec![ReturnLine { line, quantity }] });
                self.apply(member, Event { id, at, kind });
            }
            Next::Activity { member, name, value } => {
                let id = self.next_id(member, "a");
                self.apply(member, Event { id, at, kind: EventKind::Activity(Activity { name, value }) });
            }
        }
        Ok(())
    }

    fn join(&mut self, i: usize, at: DateTime<Utc>) -> Result<(), loyalty::Error> {
        let year = self.rng.random_range(1950..2007);
        let birth_date = NaiveDate::from_ymd_opt(year, self.rng.random_range(1..=12), self.rng.random_range(1..=28));
        let referred_by = (self.program.spec().referral.is_some()
            && self.joined.len > 0
            && self.rng.random_range(0..100) < self.behaviour.referral_percent)
            .then(|| {
                // The k-th of the members' ids in order.
                let k = self.rng.random_range(0..self.joined.len);
                self.people[self.by_rank[self.joined.kth(k)]].id.clone()
            });
        let id = self.people[i].id.clone();
        let event = Event {
            id: format!("{id}/join"),
            at,
            kind: EventKind::Enroll(Enroll {
                member: id.clone(),
                profile: Profile { birth_date, ..Profile::default() },
                referred_by,
            }),
        };
        let (member, receipt) = self.program.start(&event)?;
        self.members[i] = Some(member);
        self.joined.insert(self.rank_of[i]);
        self.log.push(Delivered { member: id, event, receipt: Arc::new(receipt) });
        self.schedule_visit(i, at);
        Ok(())
    }

    fn basket(&mut self) -> Vec<Line> {
        let n = self.rng.random_range(1..=4);
        (0..n)
            .map(|_| {
                let (category, level) = self.prices[self.rng.random_range(0..self.prices.len())].clone();
                let cents = level * self.rng.random_range(70..=130) / 100;
                let quantity = if self.rng.random_range(0..5) == 0 { self.rng.random_range(2..=3) } else { 1 };
                Line {
                    sku: format!("{category}-{}", self.rng.random_range(1..=6)),
                    category,
                    quantity: Amount::from_int(quantity),
                    unit_price: cents_amount(cents.max(1)),
                    discount: Amount::default(),
                }
            })
            .collect()
    }

    fn visit(&mut self, i: usize, at: DateTime<Utc>) {
        let lines = self.basket();
        let id = self.next_id(i, "p");
        let kind = EventKind::Purchase(Purchase {
            order: None,
            lines: lines.clone(),
            channel: None,
            store: None,
            partner: None,
        });
        let receipt = self.apply(i, Event { id: id.clone(), at, kind });
        if let Some(receipt) = receipt {
            for s in &receipt.signals {
                if let Signal::ReferralQualified { referrer, referee } = s {
                    let event = Event {
                        id: format!("{}/referral-{}", referrer.as_str(), referee.as_str()),
                        at,
                        kind: EventKind::ReferralReward(ReferralReward { referee: referee.as_str().to_owned() }),
                    };
                    if let Some(r) = self.person(referrer.as_str()) {
                        self.apply(r, event);
                    }
                }
            }
            self.pay_with_points(i, &id, &lines, at);
            if self.rng.random_range(0..100) < self.behaviour.return_percent {
                let line = self.rng.random_range(0..lines.len());
                let quantity = (self.rng.random_range(0..2) == 0).then(|| Amount::from_int(1));
                let later = at + Duration::days(self.rng.random_range(1..=10)) + Duration::minutes(30);
                self.push(later, Next::Return { member: i, purchase: id.clone(), line, quantity });
            }
            if !self.activities.is_empty() && self.rng.random_range(0..100) < self.behaviour.activity_percent {
                let name = self.activities[self.rng.random_range(0..self.activities.len())].clone();
                let later = at + Duration::hours(self.rng.random_range(2..72));
                self.push(later, Next::Activity { member: i, name, value: 1 });
            }
            if self.rng.random_range(0..100) < self.behaviour.survey_percent {
                let value = match self.rng.random_range(0..10) {
                    0..=4 => self.rng.random_range(9..=10),
                    5..=7 => self.rng.random_range(7..=8),
                    _ => self.rng.random_range(0..=6),
                };
                let later = at + Duration::hours(self.rng.random_range(2..48));
                self.push(later, Next::Activity { member: i, name: "survey".into(), value: value.max(1) });
            }
        }
        self.schedule_visit(i, at);
    }

    /// Pays part of the basket with points when the first burn rule lets the member.
    fn pay_with_points(&mut self, i: usize, order: &str, lines: &[Line], at: DateTime<Utc>) {
        if self.program.spec().burn.is_empty() || self.rng.random_range(0..100) >= self.behaviour.redeem_percent {
            return;
        }
        let Some(member) = self.members[i].as_ref() else { return };
        let basket = Basket { lines: lines.to_vec(), ..Basket::default() };
        let points = match self.program.quote(member, &basket, at) {
            Ok(q) if q.max_burn > 0 => q.max_burn,
            _ => return,
        };
        let id = self.next_id(i, "pay");
        let kind =
            EventKind::Redeem(Redeem { points, order: Some(order.to_owned()), rule: None, lines: lines.to_vec() });
        // At the same instant as the sale: the log stays in time order.
        self.apply(i, Event { id, at, kind });
    }

    /// The person whose id is `id` (found among the ids in order).
    fn person(&self, id: &str) -> Option<usize> {
        let rank = self.by_rank.binary_search_by(|&p| self.people[p].id.as_str().cmp(id)).ok()?;
        Some(self.by_rank[rank])
    }
}

fn cents_amount(cents: i64) -> Amount {
    // Two fraction digits: always an exact amount the engine accepts.
    let text = Decimal::new(cents, 2).to_string();
    text.parse().unwrap_or_else(|_| Amount::from_int(cents / 100))
}

#[cfg(test)]
mod tests {
    use super::Ranks;

    /// The k-th smallest rank of the set is the naive answer, for every k,
    /// as ranks come in out of order.
    #[test]
    fn ranks_find_the_kth() {
        for n in [1_usize, 2, 3, 7, 8, 9, 100] {
            let mut ranks = Ranks::new(n);
            let mut naive: Vec<usize> = Vec::new();
            let mut x = 17_usize;
            for _ in 0..n {
                x = (x * 37 + 11) % n;
                while naive.contains(&x) {
                    x = (x + 1) % n;
                }
                ranks.insert(x);
                naive.push(x);
                naive.sort_unstable();
                for (k, &want) in naive.iter().enumerate() {
                    assert_eq!(ranks.kth(k), want, "n {n}, k {k}, set {naive:?}");
                }
            }
        }
    }
}
