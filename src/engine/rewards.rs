//! The engine's side of the rewards catalog: taking, using, cancelling and
//! expiring rewards, and the shared counters they ask for. See
//! [`crate::reward`].

use chrono::{DateTime, Utc};

use super::{add, Work};
use crate::error::{Error, Result};
use crate::event::{CancelReward, Event, RedeemReward, UseReward};
use crate::member::LotOrigin;
use crate::receipt::{EntryKind, Id, Signal, Text};
use crate::reward::{IssuedReward, Reward, RewardStatus, SharedLimit};
use crate::time::local_date;

/// A counter to take from once the event passed every other check.
pub(super) struct CounterTake {
    pub(super) reward: String,
    pub(super) key: String,
    pub(super) amount: i64,
    pub(super) limit: i64,
}

fn refused(event: &Event, reward: &str, reason: impl Into<String>) -> Error {
    Error::RewardRefused { event: event.id.clone(), reward: reward.to_owned(), reason: reason.into() }
}

impl Work<'_, '_> {
    fn reward_spec<'p>(program: &'p crate::Program, event: &Event, id: &str) -> Result<&'p Reward> {
        program.spec.rewards.iter().find(|r| r.id == id).ok_or_else(|| Error::NotFound {
            event: event.id.clone(),
            what: "reward",
            id: id.to_owned(),
        })
    }

    /// Why the member may not take `reward` at `at`, if so (tier, attributes, dates).
    pub(super) fn ineligible(&self, reward: &Reward, at: DateTime<Utc>) -> Option<String> {
        let program = self.program;
        let date = local_date(program.zone, at);
        if reward.from.is_some_and(|f| date < f) || reward.until.is_some_and(|u| date > u) {
            return Some(format!("not offered on {date}"));
        }
        if !reward.tiers.is_empty() {
            let tiers = program.tiers.as_ref()?;
            let level = tiers.level_after(&self.m.tier, at);
            let id = tiers.id(level);
            if !reward.tiers.iter().any(|t| t == id.as_str()) {
                return Some(format!("only for {}; the member is {id}", reward.tiers.join(", ")));
            }
        }
        for (k, v) in &reward.attributes {
            if self.m.profile.attributes.get(k) != Some(v) {
                return Some(format!("only for members with {k} = {v}"));
            }
        }
        None
    }

    /// A `redeem_reward` event: pays the cost and issues the reward.
    pub(super) fn redeem_reward(&mut self, event: &Event, r: &RedeemReward) -> Result<()> {
        let program = self.program;
        let reward = Self::reward_spec(program, event, &r.reward)?;
        if let Some(code) = &r.code {
            crate::event::check_id(&event.id, "code", code)?;
        }
        if r.code.is_some() != (reward.kind == crate::reward::RewardKind::Voucher) {
            return Err(Error::event(&event.id, "code", "a voucher reward needs the code; other rewards take none"));
        }
        if let Some(why) = self.ineligible(reward, event.at) {
            return Err(refused(event, &reward.id, why));
        }
        let date = self.event_date();
        if let Some(limit) = reward.per_member {
            let taken = self
                .m
                .rewards
                .iter()
                .filter(|i| i.reward == reward.id.as_str() && i.status != RewardStatus::Cancelled)
                .filter(|i| limit.per.same(local_date(program.zone, i.issued_at), date))
                .count();
            let ever = self.m.lifetime.get(format!("reward:{}", reward.id).as_str()).copied().unwrap_or(0);
            let count = if limit.per == crate::reward::Per::Ever { ever } else { taken as i64 };
            if count >= i64::from(limit.count) {
                return Err(refused(
                    event,
                    &reward.id,
                    format!("at most {} per member {}", limit.count, limit.per.words()),
                ));
            }
        }
        let available = self.available();
        if reward.cost > available {
            return Err(Error::InsufficientPoints { event: event.id.clone(), requested: reward.cost, available });
        }
        let name = if reward.name.is_empty() { &reward.id } else { &reward.name };
        let takes = self.take_free(reward.cost);
        for t in &takes {
            let reason = Text::from(format!("reward: {name}"));
            self.post(EntryKind::Burn, -t.points, event.at, Some(t.lot), Some(&reward.id), reason);
        }
        self.m.totals.burned = add(self.m.totals.burned, reward.cost, "burned points")?;
        let expires_at = match reward.expires_after {
            Some(p) => Some(self.later(p, event.at, "a reward's expiry")?),
            None => None,
        };
        let mut counted = Vec::new();
        for (what, shared, amount) in [("stock", &reward.stock, 1), ("budget", &reward.budget, reward.cost)] {
            let Some(SharedLimit { counter, limit, per }) = shared else { continue };
            let key = format!("{what}:{}:{}", counter.as_deref().unwrap_or(&reward.id), per.key(date));
            self.counter_takes.push(CounterTake { reward: reward.id.clone(), key: key.clone(), amount, limit: *limit });
            counted.push((key, amount));
        }
        let key = format!("reward:{}", reward.id);
        let old = self.m.lifetime.get(key.as_str()).copied();
        self.m.lifetime.insert(Id::from(key.as_str()), old.unwrap_or(0).saturating_add(1));
        self.undo.lifetime_owned.push((key, old));
        self.m.rewards.push(IssuedReward {
            id: self.id.clone(),
            reward: Id::from(reward.id.as_str()),
            cost: reward.cost,
            takes,
            code: r.code.clone(),
            issued_at: event.at,
            expires_at,
            status: RewardStatus::Issued,
            closed_at: None,
            counted,
        });
        Ok(())
    }

    fn issued(&self, event: &Event, id: &str) -> Result<usize> {
        let i = self.m.rewards.iter().position(|r| r.id == id).ok_or_else(|| Error::NotFound {
            event: event.id.clone(),
            what: "issued reward",
            id: id.to_owned(),
        })?;
        let r = &self.m.rewards[i];
        if r.status != RewardStatus::Issued {
            return Err(refused(event, &r.reward, format!("issued reward '{id}' is {:?}", r.status).to_lowercase()));
        }
        Ok(i)
    }

    /// A `use_reward` event.
    pub(super) fn use_reward(&mut self, event: &Event, u: &UseReward) -> Result<()> {
        let i = self.issued(event, &u.issued)?;
        let r = &mut self.m.rewards[i];
        (r.status, r.closed_at) = (RewardStatus::Used, Some(event.at));
        self.notes.push(format!("reward '{}' ({}) used", r.reward, r.id));
        Ok(())
    }

    /// A `cancel_reward` event: points back if the reward says so, counters given back.
    pub(super) fn cancel_reward(&mut self, event: &Event, c: &CancelReward) -> Result<()> {
        let i = self.issued(event, &c.issued)?;
        let restores = self
            .program
            .spec
            .rewards
            .iter()
            .find(|r| r.id == self.m.rewards[i].reward.as_str())
            .is_none_or(|r| r.cancel_restores_points);
        let r = &mut self.m.rewards[i];
        (r.status, r.closed_at) = (RewardStatus::Cancelled, Some(event.at));
        let (takes, source, reward) = (r.takes.clone(), r.id.clone(), r.reward.clone());
        self.counter_gives.extend(r.counted.iter().cloned());
        let key = format!("reward:{reward}");
        let old = self.m.lifetime.get(key.as_str()).copied();
        self.m.lifetime.insert(Id::from(key.as_str()), old.unwrap_or(1).saturating_sub(1));
        self.undo.lifetime_owned.push((key, old));
        if !restores {
            self.notes.push(format!("reward '{reward}' cancelled; its points are not given back"));
            return Ok(());
        }
        for t in takes.iter().filter(|t| t.points > 0) {
            let seq = self.new_lot(t.points, event.at, event.at, t.expires_at, LotOrigin::Refund);
            let reason = Text::from(format!("reward '{reward}' ({source}) cancelled: points given back"));
            self.post(EntryKind::Refund, t.points, event.at, Some(seq), Some(&reward), reason);
            self.m.totals.refunded = add(self.m.totals.refunded, t.points, "refunded points")?;
        }
        Ok(())
    }

    /// Issued rewards whose time ran out by `upto` expire.
    pub(super) fn expire_rewards(&mut self, upto: DateTime<Utc>) {
        for r in &mut self.m.rewards {
            if r.status == RewardStatus::Issued && r.expires_at.is_some_and(|e| e <= upto) {
                (r.status, r.closed_at) = (RewardStatus::Expired, r.expires_at);
                self.notes.push(format!("reward '{}' ({}) expired unused", r.reward, r.id));
            }
        }
    }

    /// `reward_unlocked` signals: rewards the member could not afford
    /// before the event and can now.
    pub(super) fn reward_signals(&mut self, before: crate::Points) {
        let now = self.m.balances().available;
        if now <= before {
            return;
        }
        let clock = self.m.clock;
        let program = self.program;
        for reward in &program.spec.rewards {
            if reward.cost > before && reward.cost <= now && self.ineligible(reward, clock).is_none() {
                self.signals.push(Signal::RewardUnlocked { reward: Id::from(reward.id.as_str()), cost: reward.cost });
            }
        }
    }
}
