//! The deposit rule (押金规则): when the hub raises a stay's hold by itself as its fees come.

use super::*;

/// When the hub raises a deposit hold by itself (configurable per deployment): once the charges
/// reach `raise_at_bp` of what is held, the hold is raised to `raise_to_bp` of the charges.
/// Basis points, so 8000 is 80%.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositRule {
    pub raise_at_bp: i64,
    pub raise_to_bp: i64,
}

impl Default for DepositRule {
    /// At 80% of the hold, raise it to 150% of the charges.
    fn default() -> DepositRule {
        DepositRule { raise_at_bp: 8_000, raise_to_bp: 15_000 }
    }
}

impl DepositRule {
    /// The raise due with `charges` against `held`, if one is. Charges are the whole bill so far:
    /// the patient's share is known only at settlement, so the rule errs towards holding more.
    pub fn raise_for(&self, held: Fen, charges: Fen) -> Option<Fen> {
        if !charges.is_positive() || (charges.0 as i128) * 10_000 < (held.0 as i128) * self.raise_at_bp as i128 {
            return None;
        }
        let target = ((charges.0 as i128) * self.raise_to_bp as i128 + 9_999) / 10_000;
        let raise = Fen(i64::try_from(target).unwrap_or(i64::MAX)) - held;
        raise.is_positive().then_some(raise)
    }
}
