//! 住院欠费: what a stay leaves the patient owing, for the hub to collect later on the line (the
//! same way as a visit's unpaid bill, `settled_unpaid`): the share the line could not cover at
//! the bedside settlement, and at each interim settlement (中途结算) before it.

use super::{InterimPaid, StayStage, Ward};
use crate::money::Fen;
use crate::settlement::InsuranceSplit;
use serde::{Deserialize, Serialize};

/// The money outcome of a stay settled at the bedside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StayPaid {
    pub ward: Ward,
    pub setl_id: String,
    pub split: InsuranceSplit,
    /// Taken from the line: captured on the hold (≤ held), or charged when nothing was held; ≤ the
    /// cash share.
    pub captured: Fen,
    pub decline_code: Option<String>,
}

impl StayPaid {
    /// The cash share nobody paid yet: an explicit bill.
    pub fn unpaid(&self) -> Fen {
        self.split.cash - self.captured
    }
}

/// Settled, or settled with a bill when a share was left unpaid.
pub(super) fn settled(paid: StayPaid) -> StayStage {
    if paid.unpaid().is_positive() {
        StayStage::SettledUnpaid(paid)
    } else {
        StayStage::Settled(paid)
    }
}

impl StayStage {
    /// What the patient still owes for the stay. Only once the stay is over and its settlement
    /// stands: nothing while it is in the ward (an interim settlement's share waits for the
    /// discharge, the patient being still in the hospital), nor while a settlement is being made
    /// or cancelled (each changes what is owed, and a cancelled settlement owes nothing).
    pub fn owed(&self) -> Fen {
        let interims = |w: &Ward| w.interims.iter().map(InterimPaid::unpaid).sum::<Fen>();
        match self {
            StayStage::Settled(paid) | StayStage::SettledUnpaid(paid) => paid.unpaid() + interims(&paid.ward),
            StayStage::SettledByInterims(ward) => interims(ward),
            _ => Fen::ZERO,
        }
    }
}
