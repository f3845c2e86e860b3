//! Reconciliation (对账): the hub's records of a business day against a partner's, one record per
//! key (a settlement's `setl_id`, a bank operation's request id).
//!
//! Pure and linear: a hash join on the key (one pass to index the partner's records, one over the
//! hub's), never a query per record. Each key ends in one class:
//!
//! - **matched**: both sides have it with the same amounts;
//! - **partner only** (长款 for a bank, 医保单边 for insurance): the partner moved money the hub has
//!   no record of, usually a call that succeeded after the hub gave up on it;
//! - **hub only** (短款): the hub booked money the partner has no record of;
//! - **amounts differ**: both have it, with different amounts (or a different kind or refund flag,
//!   which the caller folds into the amounts);
//! - **in transit** (在途): a hub-only record within `in_transit_s` before the cut-off; the partner
//!   may have put it in the next day's file, so it is matched the next day, not a mismatch today.
//!
//! The hub passes its records from a little before the day to a little after it (the transit
//! window each side of the day), so a partner record the hub made just before the previous cut-off
//! or just after this one still finds its pair. Unmatched hub records outside the day belong to
//! another day's run and are left out.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A fast hasher for the join (8 bytes at a time, multiply and rotate, as rustc's FxHash). The keys
/// are ids the hub issued (request ids, `setl_id`s) read back from a contracted partner's file
/// over a signed channel, so the flooding SipHash guards against is not a risk worth its cost here.
#[derive(Clone, Copy, Default)]
struct BuildKeyHasher;

impl BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One side's record of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<A> {
    pub key: String,
    /// What both sides must agree on: an amount, or a tuple of them.
    pub amounts: A,
    /// When the side recorded it (unix seconds): only the hub's is read, for the cut-off.
    pub at_unix_s: i64,
}

/// The business day being reconciled: `[start, end)` in unix seconds, and how close to the
/// cut-off a hub record must be to count as in transit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    pub start_unix_s: i64,
    pub end_unix_s: i64,
    pub in_transit_s: i64,
}

impl Day {
    /// The hub records the day's run needs: from `in_transit_s` before the day to as long after it.
    pub fn hub_range_unix_s(&self) -> (i64, i64) {
        (self.start_unix_s - self.in_transit_s, self.end_unix_s + self.in_transit_s)
    }

    fn contains(&self, at_unix_s: i64) -> bool {
        (self.start_unix_s..self.end_unix_s).contains(&at_unix_s)
    }

    fn near_cut_off(&self, at_unix_s: i64) -> bool {
        (self.end_unix_s - self.in_transit_s..self.end_unix_s).contains(&at_unix_s)
    }
}

/// A difference, with both sides' evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch<A> {
    PartnerOnly { partner: Record<A> },
    HubOnly { hub: Record<A> },
    AmountsDiffer { hub: Record<A>, partner: Record<A> },
}

impl<A> Mismatch<A> {
    pub fn class(&self) -> Class {
        match self {
            Mismatch::PartnerOnly { .. } => Class::PartnerOnly,
            Mismatch::HubOnly { .. } => Class::HubOnly,
            Mismatch::AmountsDiffer { .. } => Class::AmountsDiffer,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Mismatch::PartnerOnly { partner } => &partner.key,
            Mismatch::HubOnly { hub } | Mismatch::AmountsDiffer { hub, .. } => &hub.key,
        }
    }
}

/// The classes a key can end in, as stored and reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Matched,
    PartnerOnly,
    HubOnly,
    AmountsDiffer,
    InTransit,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Matched => "matched",
            Class::PartnerOnly => "partner_only",
            Class::HubOnly => "hub_only",
            Class::AmountsDiffer => "amounts_differ",
            Class::InTransit => "in_transit",
        }
    }
}

/// The outcome of one day against one partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report<A> {
    /// Keys of the day on either side (a matched pair counts once).
    pub records: u64,
    pub matched: u64,
    /// Hub records near the cut-off the partner has not listed yet.
    pub in_transit: Vec<Record<A>>,
    pub mismatches: Vec<Mismatch<A>>,
}

/// Matches the hub's records against the partner's for `day`: a hash join on the key (one pass
/// over each side, no sort), then the differences in key order. A key listed twice on one side
/// pairs once; the extra copy is unmatched like any other record.
pub fn reconcile<A: PartialEq>(day: Day, hub: Vec<Record<A>>, partner: Vec<Record<A>>) -> Report<A> {
    let mut report = Report { records: 0, matched: 0, in_transit: Vec::new(), mismatches: Vec::new() };
    let mut partner: Vec<Option<Record<A>>> = partner.into_iter().map(Some).collect();
    let mut index: HashMap<&str, usize, BuildKeyHasher> = HashMap::with_capacity_and_hasher(partner.len(), BuildKeyHasher);
    for (i, p) in partner.iter().enumerate() {
        // The first copy of a key listed twice is the one that pairs.
        index.entry(p.as_ref().map_or("", |p| p.key.as_str())).or_insert(i);
    }
    let pairs: Vec<(Record<A>, Option<usize>)> = hub
        .into_iter()
        .map(|h| {
            let at = index.remove(h.key.as_str());
            (h, at)
        })
        .collect();
    drop(index);
    for (h, at) in pairs {
        match at.and_then(|i| partner[i].take()) {
            Some(p) => report.pair(h, p),
            None => report.hub_only(day, h),
        }
    }
    partner.into_iter().flatten().for_each(|p| report.partner_only(p));
    report.mismatches.sort_by(|a, b| a.key().cmp(b.key()));
    report.in_transit.sort_by(|a, b| a.key.cmp(&b.key));
    report
}

impl<A: PartialEq> Report<A> {
    fn pair(&mut self, hub: Record<A>, partner: Record<A>) {
        self.records += 1;
        if hub.amounts == partner.amounts {
            self.matched += 1;
        } else {
            self.mismatches.push(Mismatch::AmountsDiffer { hub, partner });
        }
    }

    fn partner_only(&mut self, partner: Record<A>) {
        self.records += 1;
        self.mismatches.push(Mismatch::PartnerOnly { partner });
    }

    /// A hub record without a pair: today's short (短款), in transit, or another day's business.
    fn hub_only(&mut self, day: Day, hub: Record<A>) {
        if !day.contains(hub.at_unix_s) {
            return;
        }
        self.records += 1;
        if day.near_cut_off(hub.at_unix_s) {
            self.in_transit.push(hub);
        } else {
            self.mismatches.push(Mismatch::HubOnly { hub });
        }
    }

    /// How many keys ended in `class`.
    pub fn count(&self, class: Class) -> u64 {
        match class {
            Class::Matched => self.matched,
            Class::InTransit => self.in_transit.len() as u64,
            _ => self.mismatches.iter().filter(|m| m.class() == class).count() as u64,
        }
    }
}

/// A generated record's amounts: a kind (1, capture) and fen.
pub type Capture = (u8, i64);

/// A generated day for benchmarks and soak tests: `settlements` captures on the hub's side and the
/// bank's file in another order, with about one in a thousand missing from the file (短款), a fen
/// off, only in the file (长款), or booked in the last minutes before the cut-off (在途).
/// Deterministic for a seed.
pub fn generated_day(settlements: usize, seed: u64) -> (Day, Vec<Record<Capture>>, Vec<Record<Capture>>) {
    let day = Day { start_unix_s: 1_796_054_400, end_unix_s: 1_796_054_400 + 86_400, in_transit_s: 300 };
    let mut state = seed.max(1);
    let mut below = |n: u64| {
        // xorshift64: enough for test data, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n.max(1)
    };
    let (mut hub, mut partner) = (Vec::with_capacity(settlements), Vec::with_capacity(settlements));
    for i in 0..settlements {
        let key = format!("stl_{:032x}:capture", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let amount_fen = 100 + below(500_000) as i64;
        let roll = below(1_000);
        let at_unix_s = match roll {
            3 => day.end_unix_s - 1 - below(299) as i64,
            _ => day.start_unix_s + below(86_000) as i64,
        };
        if roll != 0 && roll != 3 {
            let amount = if roll == 1 { amount_fen + 1 } else { amount_fen };
            partner.push(Record { key: key.clone(), amounts: (1, amount), at_unix_s });
        }
        if roll != 2 {
            hub.push(Record { key, amounts: (1, amount_fen), at_unix_s });
        }
    }
    for i in (1..partner.len()).rev() {
        partner.swap(i, below(i as u64 + 1) as usize);
    }
    (day, hub, partner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Day = Day { start_unix_s: 1_000_000, end_unix_s: 1_086_400, in_transit_s: 300 };
    const NOON: i64 = 1_043_200;

    fn rec(key: &str, fen: i64, at_unix_s: i64) -> Record<i64> {
        Record { key: key.to_string(), amounts: fen, at_unix_s }
    }

    fn classes(report: &Report<i64>) -> Vec<(String, Class)> {
        let mut out: Vec<(String, Class)> = report.mismatches.iter().map(|m| (m.key().to_string(), m.class())).collect();
        out.extend(report.in_transit.iter().map(|r| (r.key.clone(), Class::InTransit)));
        out.sort();
        out
    }

    #[test]
    fn a_clean_day_matches_everything() {
        let hub = vec![rec("b", 200, NOON), rec("a", 100, NOON)];
        let partner = vec![rec("a", 100, NOON), rec("b", 200, NOON + 1)];
        let report = reconcile(DAY, hub, partner);
        assert_eq!((report.records, report.matched), (2, 2));
        assert!(report.mismatches.is_empty() && report.in_transit.is_empty());
    }

    /// A story, the hub's records, the partner's, and the classes expected.
    type Case = (&'static str, Vec<Record<i64>>, Vec<Record<i64>>, &'static [(&'static str, Class)]);

    #[test]
    fn each_kind_of_difference_lands_in_its_class() {
        let cases: &[Case] = &[
            ("the bank captured what the hub thinks failed (长款)", vec![], vec![rec("cap", 100, NOON)], &[("cap", Class::PartnerOnly)]),
            ("the hub booked a capture the bank never made (短款)", vec![rec("cap", 100, NOON)], vec![], &[("cap", Class::HubOnly)]),
            ("one fen off", vec![rec("cap", 100, NOON)], vec![rec("cap", 99, NOON)], &[("cap", Class::AmountsDiffer)]),
            (
                "the hub's capture a second before midnight is in transit",
                vec![rec("cap", 100, DAY.end_unix_s - 1)],
                vec![],
                &[("cap", Class::InTransit)],
            ),
            (
                "yesterday's straddler, listed today, pairs with the hub's record from before midnight",
                vec![rec("cap", 100, DAY.start_unix_s - 1)],
                vec![rec("cap", 100, DAY.start_unix_s + 1)],
                &[],
            ),
            ("a hub record of tomorrow is tomorrow's business", vec![rec("cap", 100, DAY.end_unix_s + 10)], vec![], &[]),
            (
                "a key listed twice by the partner pairs once",
                vec![rec("cap", 100, NOON)],
                vec![rec("cap", 100, NOON), rec("cap", 100, NOON)],
                &[("cap", Class::PartnerOnly)],
            ),
        ];
        for (story, hub, partner, expected) in cases {
            let report = reconcile(DAY, hub.clone(), partner.clone());
            let expected: Vec<(String, Class)> = expected.iter().map(|(k, c)| (k.to_string(), *c)).collect();
            assert_eq!(classes(&report), expected, "{story}");
        }
    }

    #[test]
    fn a_generated_day_has_every_class_and_its_counts_add_up() {
        let (day, hub, partner) = generated_day(20_000, 7);
        let report = reconcile(day, hub, partner);
        for class in [Class::PartnerOnly, Class::HubOnly, Class::AmountsDiffer, Class::InTransit] {
            assert!(report.count(class) > 0, "{class:?}");
        }
        assert_eq!(report.matched + report.mismatches.len() as u64 + report.in_transit.len() as u64, report.records);
    }

    #[test]
    fn counts_add_up_over_a_mixed_day() {
        let hub: Vec<_> = (0..1000).map(|i| rec(&format!("k{i:04}"), i, NOON)).collect();
        let mut partner: Vec<_> =
            (0..1000).filter(|i| i % 10 != 0).map(|i| rec(&format!("k{i:04}"), i + i64::from(i % 7 == 0), NOON)).collect();
        partner.push(rec("extra", 5, NOON));
        let report = reconcile(DAY, hub, partner);
        let (hub_only, differ) = (report.count(Class::HubOnly), report.count(Class::AmountsDiffer));
        assert_eq!(hub_only, 100);
        assert_eq!(differ, (0..1000).filter(|i| i % 10 != 0 && i % 7 == 0).count() as u64);
        assert_eq!(report.count(Class::PartnerOnly), 1);
        assert_eq!(report.records, 1001);
        assert_eq!(report.matched + hub_only + differ + 1, report.records);
    }
}
