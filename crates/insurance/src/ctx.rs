//! What a transaction reads besides the state, and which family of transactions a visit takes.

use crate::clock::Now;
use crate::envelope::Envelope;
use wugan_policy::PolicySet;

/// Outpatient (门诊, 22xx) or inpatient (住院, 23xx/24xx): which transactions a visit takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Outpatient,
    Inpatient,
}

/// What every transaction may read besides the state.
pub struct Ctx<'a> {
    pub env: &'a Envelope,
    pub now: &'a Now,
    /// The center's own region (就医地).
    pub admdvs: &'a str,
    pub policy: &'a PolicySet,
}
