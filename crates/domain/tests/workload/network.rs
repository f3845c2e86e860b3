//! The wire between the hub and its partners, with faults: a request may be lost before it is
//! delivered, its reply may be lost after the partner did the work, or it may be delivered twice
//! (the partner sees it twice, the hub gets one answer). Lost either way, the hub sees an unknown
//! outcome; it never learns which.

use super::bank::{self, Bank};
use super::insurance::{self, Insurance};
use super::rng::Rng;
use std::fmt::Debug;

/// Percent chances of each fault, per call.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultRates {
    pub undelivered_pct: u32,
    pub lost_reply_pct: u32,
    pub duplicate_pct: u32,
}

/// How many calls met each fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultCounts {
    pub calls: u64,
    pub undelivered: u64,
    pub lost_replies: u64,
    pub duplicates: u64,
}

pub struct Faults {
    pub rates: FaultRates,
    /// Off for the final resume: every call is delivered once, every reply arrives.
    pub enabled: bool,
    pub counts: FaultCounts,
    rng: Rng,
}

impl Faults {
    pub fn new(rates: FaultRates, rng: Rng) -> Faults {
        Faults { rates, enabled: true, counts: FaultCounts::default(), rng }
    }

    /// Delivers `call` as the fault of the moment allows; `None` is an unknown outcome. A
    /// partner that answers a duplicate differently from the original is an error.
    pub fn deliver<T: PartialEq + Debug>(&mut self, mut call: impl FnMut() -> T) -> Result<Option<T>, String> {
        self.counts.calls += 1;
        if !self.enabled {
            return Ok(Some(call()));
        }
        let r = self.rates;
        match self.rng.weighted(&[r.undelivered_pct, r.lost_reply_pct, r.duplicate_pct, 100]) {
            0 => {
                self.counts.undelivered += 1;
                Ok(None)
            }
            1 => {
                self.counts.lost_replies += 1;
                call();
                Ok(None)
            }
            2 => {
                self.counts.duplicates += 1;
                let (first, second) = (call(), call());
                match first == second {
                    true => Ok(Some(second)),
                    false => Err(format!("a duplicate delivery was answered {second:?}, the original {first:?}")),
                }
            }
            _ => Ok(Some(call())),
        }
    }
}

/// The hub's partners, behind the faulty wire.
pub struct Partners {
    pub insurance: Insurance,
    pub bank: Bank,
    pub faults: Faults,
}

impl Partners {
    pub fn call_insurance(&mut self, msgid: &str, request: insurance::Request) -> Result<Option<insurance::Answer>, String> {
        let Partners { insurance, faults, .. } = self;
        faults.deliver(|| insurance.handle(msgid, request.clone()))
    }

    pub fn call_bank(&mut self, request_id: &str, request: bank::Request) -> Result<Option<bank::Answer>, String> {
        let Partners { bank, faults, .. } = self;
        faults.deliver(|| bank.handle(request_id, request.clone()))
    }
}
