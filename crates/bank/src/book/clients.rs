//! Which client an agreement belongs to, and the reads held to one client's agreements: the
//! bank's HTTP layer answers a client about its own agreements only.

use super::{BankBook, MAX_PAGE_ITEMS};
use crate::wire::{Agreement, AgreementList, AgreementStatus, BankEvent, EventList};

impl BankBook {
    /// The client key that opened an agreement (the key of its first operation): the only client
    /// that may see or use it. `None` for an unknown agreement.
    pub fn agreement_owner(&self, agreement_id: &str) -> Option<&str> {
        let first = *self.agreements.get(agreement_id)?.journal.first()?;
        self.journal.get(first).map(|(client, _)| client.as_str())
    }

    /// The events after `after` of the agreements `client` opened, at most `limit` (capped at
    /// [`MAX_PAGE_ITEMS`]); `last_seq` is the last of that client's events, so a client learns
    /// nothing of another's.
    pub fn events_of(&self, client: &str, after: u64, limit: usize) -> EventList {
        let limit = limit.clamp(1, MAX_PAGE_ITEMS);
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(self.events.len());
        let owned = |event: &&BankEvent| self.agreement_owner(&event.agreement_id) == Some(client);
        let events: Vec<BankEvent> = self.events[start..].iter().filter(owned).take(limit).cloned().collect();
        let last_seq = self.events.iter().rev().find(owned).map_or(0, |e| e.seq);
        EventList { events, last_seq }
    }

    /// [`BankBook::agreements`] of the agreements `client` opened only.
    pub fn agreements_of(&self, client: &str, status: Option<AgreementStatus>, after: Option<&str>, limit: usize) -> AgreementList {
        let limit = limit.clamp(1, MAX_PAGE_ITEMS);
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after.to_string()),
            None => std::ops::Bound::Unbounded,
        };
        let mut matching = (self.agreements.range((start, std::ops::Bound::Unbounded)))
            .filter(|(id, a)| status.is_none_or(|s| a.visible_status() == s) && self.agreement_owner(id) == Some(client))
            .map(|(id, a)| a.view(id));
        let agreements: Vec<Agreement> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        let next_after = more.then(|| agreements.last().map(|a| a.agreement_id.clone())).flatten();
        AgreementList { agreements, next_after }
    }
}
