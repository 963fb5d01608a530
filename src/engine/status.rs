//! The engine's side of member status (suspended, closed) and transfers
//! between members.

use super::{add, Work};
use crate::engagement::MemberStatus;
use crate::error::{Error, Result};
use crate::event::{check_id, Event, EventKind, TransferIn, TransferOut};
use crate::member::{HoldStatus, LotOrigin};
use crate::member_check::{in_stored_range, YEARS};
use crate::receipt::{EntryKind, Id, Signal, Text};
use crate::Points;

impl Work<'_, '_> {
    fn status_error(&self, event: &Event, what: &'static str) -> Error {
        Error::MemberStatus {
            event: event.id.clone(),
            member: self.m.id.to_string(),
            status: match self.m.status {
                MemberStatus::Active => "active",
                MemberStatus::Suspended => "suspended",
                MemberStatus::Closed => "closed",
            },
            what,
        }
    }

    /// Refuses what the member's status does not allow: every event once
    /// closed, burns while suspended.
    pub(super) fn status_gate(&self, event: &Event) -> Result<()> {
        match self.m.status {
            MemberStatus::Active => Ok(()),
            MemberStatus::Closed => Err(self.status_error(event, "every event")),
            MemberStatus::Suspended => match event.kind {
                EventKind::Hold(_)
                | EventKind::Capture(_)
                | EventKind::Redeem(_)
                | EventKind::RedeemReward(_)
                | EventKind::TransferOut(_) => Err(self.status_error(event, "spending points")),
                _ => Ok(()),
            },
        }
    }

    /// `suspend`, `reactivate` and `close`.
    pub(super) fn set_status(&mut self, event: &Event, reason: &str, to: MemberStatus) -> Result<()> {
        check_id(&event.id, "reason", reason)?;
        let from = self.m.status;
        let allowed = matches!(
            (from, to),
            (MemberStatus::Active, MemberStatus::Suspended)
                | (MemberStatus::Suspended, MemberStatus::Active)
                | (MemberStatus::Active | MemberStatus::Suspended, MemberStatus::Closed)
        );
        if !allowed {
            return Err(Error::event(&event.id, "type", format!("the member is already {from:?}").to_lowercase()));
        }
        if to == MemberStatus::Closed {
            // Open holds are released, then every point left is forfeited.
            for i in 0..self.m.holds.len() {
                if self.m.holds[i].status != HoldStatus::Open {
                    continue;
                }
                let h = &mut self.m.holds[i];
                (h.status, h.closed_at) = (HoldStatus::Voided, Some(event.at));
                let (takes, rule, id) = (h.takes.clone(), h.rule.clone(), h.id.clone());
                self.release(&takes, event.at, &rule, &Text::from(format!("hold '{id}' released: member closed")))?;
            }
            let reason_text = Text::from(format!("member closed ({reason}): points forfeited"));
            for i in 0..self.m.lots.len() {
                let lot = &mut self.m.lots[i];
                let gone = lot.remaining - lot.held;
                if gone <= 0 {
                    continue;
                }
                lot.remaining -= gone;
                let seq = lot.seq;
                self.m.totals.expired = add(self.m.totals.expired, gone, "expired points")?;
                self.post(EntryKind::Forfeit, -gone, event.at, Some(seq), None, reason_text.clone());
            }
        }
        self.m.status = to;
        self.notes.push(format!("member {:?} ({reason})", to).to_lowercase());
        Ok(())
    }

    fn transfer_limit(&mut self, event: &Event, kind: &str, max: Option<Points>, points: Points) -> Result<()> {
        let date = self.event_date();
        if let Some(max) = max {
            let (_, month, _) = crate::earn::day_and_month(&self.m.days, "transfer", kind, date);
            if month.saturating_add(points) > max {
                return Err(Error::event(
                    &event.id,
                    "points",
                    format!(
                        "{points} would bring this month's transfers {kind} to {}, above {max}",
                        month.saturating_add(points)
                    ),
                ));
            }
        }
        let key = Id::from(format!("transfer:{kind}"));
        self.count_day(date, "transfer", kind, || key, points)
    }

    /// A `transfer_out` event.
    pub(super) fn transfer_out(&mut self, event: &Event, t: &TransferOut) -> Result<()> {
        let program = self.program;
        let Some(spec) = &program.spec.transfers else {
            return Err(Error::event(&event.id, "type", "the program allows no transfers"));
        };
        check_id(&event.id, "to", &t.to)?;
        if t.to == self.m.id.as_str() {
            return Err(Error::event(&event.id, "to", "a member cannot transfer to themselves"));
        }
        if t.points < spec.min_points.max(1) {
            return Err(Error::event(&event.id, "points", format!("at least {} points", spec.min_points.max(1))));
        }
        let available = self.available();
        if t.points > available {
            return Err(Error::InsufficientPoints { event: event.id.clone(), requested: t.points, available });
        }
        self.transfer_limit(event, "out", spec.max_out_per_month, t.points)?;
        let reason = Text::from(format!("sent to {}", t.to));
        let takes = self.take_free(t.points);
        let expires_at = takes.iter().filter_map(|take| take.expires_at).min();
        for take in takes {
            self.post(EntryKind::TransferOut, -take.points, event.at, Some(take.lot), None, reason.clone());
        }
        self.m.totals.debited = add(self.m.totals.debited, t.points, "debited points")?;
        self.signals.push(Signal::TransferSent { to: Id::from(t.to.as_str()), points: t.points, expires_at });
        Ok(())
    }

    /// A `transfer_in` event.
    pub(super) fn transfer_in(&mut self, event: &Event, t: &TransferIn) -> Result<()> {
        let program = self.program;
        let Some(spec) = &program.spec.transfers else {
            return Err(Error::event(&event.id, "type", "the program allows no transfers"));
        };
        check_id(&event.id, "from", &t.from)?;
        check_id(&event.id, "transfer", &t.transfer)?;
        if t.from == self.m.id.as_str() {
            return Err(Error::event(&event.id, "from", "a member cannot transfer to themselves"));
        }
        if t.points < spec.min_points.max(1) {
            return Err(Error::event(&event.id, "points", format!("at least {} points", spec.min_points.max(1))));
        }
        if self.m.transfers_in.iter().any(|(from, id, _)| from.as_str() == t.from && *id == t.transfer) {
            return Err(Error::event(
                &event.id,
                "transfer",
                format!("transfer '{}' from '{}' was already received", t.transfer, t.from),
            ));
        }
        self.transfer_limit(event, "in", spec.max_in_per_month, t.points)?;
        let expires_at = match t.expires_at {
            // Kept in the member's state, so held to the range a state's instants take.
            Some(e) if !in_stored_range(e) => {
                return Err(Error::event(
                    &event.id,
                    "expires_at",
                    format!("{} is outside the years {} to {}", e.to_rfc3339(), YEARS.0, YEARS.1),
                ));
            }
            Some(e) => Some(e),
            None => program.expiry(self.event_at, self.event_at)?,
        };
        self.m.transfers_in.push((Id::from(t.from.as_str()), t.transfer.clone(), event.at));
        let seq = self.new_lot(t.points, event.at, event.at, expires_at, LotOrigin::Transfer);
        let reason = Text::from(format!("received from {} ({})", t.from, t.transfer));
        self.post(EntryKind::TransferIn, t.points, event.at, Some(seq), None, reason);
        self.m.totals.credited = add(self.m.totals.credited, t.points, "credited points")?;
        Ok(())
    }
}
