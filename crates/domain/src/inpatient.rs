//! 住院: an inpatient stay with its deposit (住院押金) held on the patient's credit line instead of
//! paid in cash at a window, as a pure state machine of the same shape as `settlement::saga`:
//! [`next_call`] names the one call that moves a stage on, [`apply`] turns its outcome (done,
//! refused, unknown) into the next stage and the ledger transfers that go with it. Each stage
//! carries exactly the facts known there.
//!
//! ```text
//! admitting ─2401→ admitted ─hold the deposit→ in_ward ⇄ (raise the hold, rule-driven)
//!    └ refused        └ declined: in_ward, deposit_short       │ the bedside click
//!                                                             discharging ─2402→ discharged ─2303→ pre_settled
//!   in_ward ─cancel→ cancelling_admission ─2404→ releasing ─void→ cancelled        │ 2304
//!   discharged ─cancel discharge→ undoing_discharge ─2405→ in_ward        insurance_settled ─capture|void→ settled | settled_unpaid
//!   settled ─cancel→ cancelling_settlement ─2305, refund→ settlement_cancelled (a new click, or 2405)
//!   insurance_settled holding nothing ─charge the line (扣款)→ settled | settled_unpaid (declined: a bill)
//!   in_ward holding nothing (deposit_short) ─the ward's fresh hold `{stay}:hold:{n}`→ in_ward | deposit_short
//!   in_ward, every fee line settled in the middle ─the bedside click→ closing ─2402→ (release the hold left, if any) → settled_by_interims
//!   discharging | closing ─2402 refused→ in_ward (discharge_refusal, until the next click), the hold untouched
//! ```
//!
//! The hold is made of pieces: the deposit, then every raise the bank approved (增量授权). At the
//! bank it is one authorization; in the ledger each piece is a pending transfer of its own, so a
//! capture posts the pieces in order and releases what is left of them. A share above the hold is
//! first raised onto the hold within the line (one more raise, `{stay}:raise:{n}`, then the one
//! capture); only what the line cannot cover is an explicit bill (`settled_unpaid`), never an
//! overdraft. A hold or raise the line cannot cover leaves the stay in the ward with
//! `deposit_short`, for the ward to see and ask for another source.
//!
//! A long stay may be settled in the middle (中途结算, [`interim`]): `in_ward ─interim→
//! interim_settling ─2303, 2304 (mid_setl_flag 1), capture, hold the rest again→ in_ward`; the
//! final settlement then covers only the lines no interim settlement took. When the interim
//! settlements took every line, nothing is left to settle: the bedside click discharges (2402),
//! releases the hold still open (the rest held again, or a fresh deposit placed since) and ends the
//! stay `settled_by_interims`, with no 2303/2304 (the center refuses a settlement with no lines).

use crate::ledger::{Transfer, TransferKind};
use crate::money::Fen;
use crate::settlement::{accounts, InsuranceSplit, SplitError};
use serde::{Deserialize, Serialize};

#[path = "inpatient_interim.rs"]
pub mod interim;
pub use interim::{begin_interim, Interim, InterimIds, InterimPaid, InterimStep};
#[path = "inpatient_bills.rs"]
mod bills;
use bills::settled;
pub use bills::StayPaid;
#[path = "inpatient_charge.rs"]
mod charge;
#[path = "inpatient_expiry.rs"]
mod expiry;
pub use expiry::HOLD_EXPIRED;
#[path = "inpatient_parties.rs"]
mod parties;
pub use parties::StayParties;
#[path = "inpatient_deposit_rule.rs"]
mod deposit_rule;
pub use deposit_rule::DepositRule;
#[path = "inpatient_interim_cancel.rs"]
pub mod interim_cancel;
pub use interim_cancel::{begin_cancel_interim, InterimCancel, InterimCancelRefusal, Undone};
#[path = "inpatient_withdrawals.rs"]
pub mod withdrawals;
pub use withdrawals::{begin_withdraw_fees, lines_withdrawn, FeeWithdrawal, LineOnRecord, WithdrawFees, WithdrawRefusal, Withdrawing};

/// Why a stay's step ended without the money moving as asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    /// The insurance center refused `what` (the call, e.g. "the discharge (2402)") with its own
    /// `code` and `message`: `insurance_refused`, the message naming the call, the code, the words.
    pub fn insurance_refused(what: &str, code: &str, message: &str) -> Failure {
        Failure { code: "insurance_refused".into(), message: format!("{what} refused ({code}): {message}") }
    }

    /// The center's own words in a message [`Failure::insurance_refused`] wrote (what follows
    /// the call and the center's code), for a page that names the call itself; another whole.
    pub fn center_words(message: &str) -> &str {
        message.split_once(" refused (").and_then(|(_, rest)| rest.split_once("): ")).map_or(message, |(_, said)| said)
    }
}

/// The stay in the ward: its insurance visit and what the bank holds for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ward {
    /// The insurance center's admission (2401).
    pub mdtrt_id: String,
    /// The approved pieces of the hold, in order: the deposit, then each raise approved.
    pub pieces: Vec<Fen>,
    /// Raises sent so far (approved or not): raise `n` has the bank request id `{stay}:raise:{n}`.
    pub raises_sent: u32,
    /// A raise decided (and persisted) but not yet answered.
    pub raising: Option<Fen>,
    /// `deposit_short`: the decline of the last deposit or raise the line could not cover.
    pub short: Option<String>,
    /// The ledger index of `pieces[0]`: an interim settlement closes the pieces it captured on
    /// and holds the rest again as new ones, numbered on (stays stored before read 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub piece_base: usize,
    /// The interim settlements (中途结算) made while in the ward, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interims: Vec<InterimPaid>,
    /// Why insurance refused the last interim settlement, for the ward: cleared by the next, and
    /// by the bedside click (a stay on its way out is settled whole, the refusal stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interim_refusal: Option<Failure>,
    /// Why insurance refused the last bedside discharge (2402), the stay back in the ward: for the
    /// ward to see until the next click (which clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharge_refusal: Option<Failure>,
    /// Fresh holds sent (approved or not) for a stay that held nothing (its deposit declined, or
    /// used up by an interim settlement): fresh hold `n` has the bank request id `{stay}:hold:{n}`,
    /// 1 for the first.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub holds_sent: u32,
    /// A fresh hold decided (and persisted) but not yet answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placing: Option<Fen>,
    /// The fresh hold `n` that is the stay's hold now (raised, captured and released under its
    /// id); cleared when an interim settlement closes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<u32>,
    /// Bedside settlements cancelled (2305), or whose capture found the hold expired, so far: the
    /// next one's bank requests and transfers are scoped `resettle:{n}:` ([`Ward::settle_scope`]).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub resettled: u32,
    /// What the ward undid while in the ward: interim settlements cancelled (2305), fee lines withdrawn (2302).
    #[serde(flatten)]
    pub undone: Undone,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl Ward {
    /// What the bank holds for the stay.
    pub fn held(&self) -> Fen {
        self.pieces.iter().copied().sum()
    }

    /// What the interim settlements took, which the final settlement leaves out.
    pub fn settled_by_interims(&self) -> Fen {
        self.interims.iter().map(|i| i.split.medfee).sum()
    }

    /// The ward after the bank approved a raise of `amount`: one more piece, pending in the ledger.
    fn raised(&self, parties: &StayParties<'_>, amount: Fen) -> (Ward, Transfer) {
        let mut pieces = self.pieces.clone();
        pieces.push(amount);
        let transfer = parties.hold_piece(self.piece_base + pieces.len() - 1, amount);
        (Ward { pieces, raises_sent: self.raises_sent + 1, raising: None, short: None, ..self.clone() }, transfer)
    }

    /// The bank holds something for the stay (the deposit was not declined, nor used up).
    fn has_hold(&self) -> bool {
        !self.pieces.is_empty()
    }

    /// A raise or a fresh hold is with the bank, its answer not yet applied.
    pub fn deposit_in_flight(&self) -> bool {
        self.raising.is_some() || self.placing.is_some()
    }

    /// The interim settlements took every fee line on record (`on_record`, by `feedetl_sn`,
    /// uploaded or in doubt): a final settlement would have no line to settle.
    pub fn interims_took_every_line(&self, on_record: &[String]) -> bool {
        !self.interims.is_empty() && on_record.iter().all(|sn| self.interims.iter().any(|i| i.lines.contains(sn)))
    }

    /// The ward of a stay closed with its hold released: no pieces (numbered on past them), and
    /// no deposit short any more.
    fn released(&self) -> Ward {
        let piece_base = self.piece_base + self.pieces.len();
        Ward { pieces: Vec::new(), piece_base, placed: None, short: None, interim_refusal: None, ..self.clone() }
    }
}

/// A patient's share above the hold, after 2304: raised onto the hold before the capture, once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeyondHold {
    /// Not asked yet (or no share above the hold).
    #[default]
    Untried,
    /// The bank answered the raise; the capture takes what is held now.
    Raised,
    /// The line could not cover it: the capture takes the hold, the rest is a bill.
    Declined(String),
}

/// Where a stay stands, with the facts known there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StayStage {
    /// Written with the deposit asked for; next: 2401.
    Admitting {
        deposit: Fen,
    },
    /// Admitted; next: hold the deposit on the line.
    Admitted {
        mdtrt_id: String,
        deposit: Fen,
    },
    /// In the ward; next: the raise in `raising`, if any; otherwise it waits for the ward.
    InWard(Ward),
    /// The bedside click; next: 2402.
    Discharging(Ward),
    /// Discharged; next: 2303. With `refusal`, insurance refused a settlement: it waits for the
    /// ward (corrected fees after the discharge is undone, or a retry).
    Discharged {
        ward: Ward,
        refusal: Option<Failure>,
    },
    /// 2303 answered; next: 2304.
    PreSettled {
        ward: Ward,
        estimate_cash: Fen,
    },
    /// 2304 settled; next: raise the hold by a cash share above it (`beyond`), then capture the
    /// cash share on the hold (or void it). With `capture_declined`, the bank refused the capture
    /// and the hold is voided.
    InsuranceSettled {
        ward: Ward,
        setl_id: String,
        split: InsuranceSplit,
        capture_declined: Option<String>,
        /// Stays stored before the share above the hold was raised read as `untried`.
        #[serde(default)]
        beyond: BeyondHold,
    },
    Settled(StayPaid),
    /// 中途结算 under way, the patient still in the ward; next: the interim's own call.
    Interim(Interim),
    /// The ward cancels its latest interim settlement; next: 2305, then the refund of its bank share.
    CancellingInterim(InterimCancel),
    /// The ward withdraws unsettled fee lines; next: 2302.
    WithdrawingFees(Withdrawing),
    /// Settled, with a share the hold did not cover: a bill.
    SettledUnpaid(StayPaid),
    /// 2305 asked for a settled stay; next: 2305, then (`insurance_reversed`) the bank refunds
    /// the capture.
    CancellingSettlement {
        paid: StayPaid,
        insurance_reversed: bool,
    },
    /// The settlement is cancelled and the capture refunded; the stay is discharged with no hold:
    /// it waits for the ward (a new bedside click, or 2405).
    SettlementCancelled(Ward),
    /// 2405 asked; next: 2405, then back in the ward.
    UndoingDischarge(Ward),
    /// 2404 asked; next: 2404, then the hold is released.
    CancellingAdmission(Ward),
    /// Admission cancelled at insurance; next: void the hold.
    Releasing(Ward),
    /// The bedside click with nothing left to settle: the interim settlements took every fee line,
    /// so no 2303/2304 is sent. Next: 2402 (`discharged` false), then (`discharged`) the release of
    /// the hold still open; a stay that holds nothing is `settled_by_interims` right after 2402.
    Closing {
        ward: Ward,
        discharged: bool,
    },
    /// Discharged, every fee line settled by the interim settlements (`interims`), the hold
    /// released: the discharge charged nothing and posted nothing but the release. Final.
    SettledByInterims(Ward),
    /// Cancelled; nothing held. Final.
    Cancelled,
    /// 2401 refused; nothing held. Final.
    Refused(Failure),
}

impl StayStage {
    /// The state's name, as stored and shown. The stages that wait for the ward (no call due)
    /// are exactly `in_ward`, `deposit_short`, `settlement_refused` and the final ones.
    pub fn state(&self) -> &'static str {
        match self {
            StayStage::Admitting { .. } => "admitting",
            StayStage::Admitted { .. } => "admitted",
            StayStage::InWard(w) if w.deposit_in_flight() => "raising_deposit",
            StayStage::InWard(w) if w.short.is_some() => "deposit_short",
            StayStage::InWard(_) => "in_ward",
            StayStage::Interim(_) => "interim_settling",
            StayStage::CancellingInterim(_) => "cancelling_interim",
            StayStage::WithdrawingFees(_) => "withdrawing_fees",
            StayStage::Discharging(_) | StayStage::Closing { discharged: false, .. } => "discharging",
            StayStage::Closing { discharged: true, .. } => "releasing",
            StayStage::SettledByInterims(_) => "settled_by_interims",
            StayStage::Discharged { refusal: Some(_), .. } => "settlement_refused",
            StayStage::Discharged { .. } => "discharged",
            StayStage::PreSettled { .. } => "pre_settled",
            StayStage::InsuranceSettled { .. } => "insurance_settled",
            StayStage::Settled(_) => "settled",
            StayStage::SettledUnpaid(_) => "settled_unpaid",
            StayStage::CancellingSettlement { .. } => "cancelling_settlement",
            StayStage::SettlementCancelled(_) => "settlement_cancelled",
            StayStage::UndoingDischarge(_) => "undoing_discharge",
            StayStage::CancellingAdmission(_) => "cancelling_admission",
            StayStage::Releasing(_) => "releasing",
            StayStage::Cancelled => "cancelled",
            StayStage::Refused(_) => "refused",
        }
    }

    /// The stay as the ward has it, while there is one.
    pub fn ward(&self) -> Option<&Ward> {
        match self {
            StayStage::InWard(w)
            | StayStage::Discharging(w)
            | StayStage::UndoingDischarge(w)
            | StayStage::CancellingAdmission(w)
            | StayStage::Releasing(w)
            | StayStage::SettlementCancelled(w)
            | StayStage::SettledByInterims(w) => Some(w),
            StayStage::Discharged { ward, .. }
            | StayStage::PreSettled { ward, .. }
            | StayStage::InsuranceSettled { ward, .. }
            | StayStage::Closing { ward, .. } => Some(ward),
            StayStage::Settled(p) | StayStage::SettledUnpaid(p) | StayStage::CancellingSettlement { paid: p, .. } => Some(&p.ward),
            StayStage::Interim(i) => Some(&i.ward),
            StayStage::CancellingInterim(InterimCancel { ward, .. }) | StayStage::WithdrawingFees(Withdrawing { ward, .. }) => Some(ward),
            _ => None,
        }
    }

    /// Money reserved at the bank for the stay: every stage before the capture or release.
    pub fn open_hold(&self) -> Fen {
        match self {
            StayStage::Settled(_)
            | StayStage::SettledUnpaid(_)
            | StayStage::CancellingSettlement { .. }
            | StayStage::SettledByInterims(_)
            | StayStage::Cancelled
            | StayStage::Refused(_) => Fen::ZERO,
            other => other.ward().map_or(Fen::ZERO, Ward::held),
        }
    }

    /// Nothing more happens to the stay.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            StayStage::Settled(_)
                | StayStage::SettledUnpaid(_)
                | StayStage::SettledByInterims(_)
                | StayStage::Cancelled
                | StayStage::Refused(_)
        )
    }
}

/// The one external call that moves a stay on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StayCall {
    /// 2401 入院办理.
    Admit,
    /// Hold the deposit (bank request `{stay}:hold`).
    HoldDeposit { amount: Fen },
    /// Raise the hold (bank request `{stay}:raise:{n}`).
    RaiseHold { n: u32, amount: Fen },
    /// A fresh hold for a stay that holds nothing (`{stay}:hold:{n}`), as the ward asked.
    PlaceHold { n: u32, amount: Fen },
    /// 2402 出院办理 (at the bedside click, and when the click closes a stay with nothing to settle).
    Discharge,
    /// 2303 住院预结算.
    PreSettle,
    /// 2304 住院结算.
    Settle,
    /// Capture on the hold (bank request `{stay}:capture`, scoped by [`Ward::settle_scope`]); the
    /// bank releases the rest.
    Capture { amount: Fen },
    /// Charge the cash share to the line in one call (扣款) when the stay holds nothing, under the
    /// capture's request id (a refund names it as the capture).
    Charge { amount: Fen },
    /// Release the whole hold (bank request `{stay}:void`): at the bedside with nothing to capture
    /// or nothing left to settle, or after 2404.
    Void,
    /// 2305 住院结算撤销.
    CancelSettlement,
    /// Refund the settlement's capture or charge (bank request `{stay}:refund`, scoped as it).
    Refund { amount: Fen },
    /// 2405 出院撤销.
    UndoDischarge,
    /// 2404 入院撤销.
    CancelAdmission,
    /// 2303 with `mid_setl_flag` 1.
    InterimPreSettle,
    /// 2304 with `mid_setl_flag` 1.
    InterimSettle,
    /// Capture the interim's cash share on the hold (bank `{stay}:interim:{n}:capture`); the bank
    /// closes the hold, so the rest is held again.
    InterimCapture { n: u32, amount: Fen },
    /// Release the hold whose capture was declined (bank `{stay}:interim:{n}:void`).
    InterimVoid { n: u32 },
    /// Charge the interim's cash share to the line when the stay holds nothing (bank
    /// `{stay}:interim:{n}:capture`, the charge standing as its capture); nothing is held again.
    InterimCharge { n: u32, amount: Fen },
    /// Hold the rest of the deposit again (bank `{stay}:interim:{n}:hold`), the stay's hold from now on.
    InterimHold { n: u32, amount: Fen },
    /// 2305 of interim settlement `n`, in the ward.
    CancelInterim { n: u32 },
    /// Refund interim settlement `n`'s bank share (bank `{stay}:interim:{n}:refund`).
    RefundInterim { n: u32, amount: Fen },
    /// 2302 住院费用明细撤销.
    WithdrawFees,
}

/// What a partner did, when it did what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StayReply {
    Admitted {
        mdtrt_id: String,
    },
    /// The bank holds (or raised the hold by) this much.
    Held {
        amount: Fen,
    },
    Discharged,
    Estimated {
        split: InsuranceSplit,
    },
    Insured {
        setl_id: String,
        split: InsuranceSplit,
    },
    Captured,
    Voided,
    DischargeUndone,
    AdmissionCancelled,
    SettlementCancelled,
    Refunded,
    FeesWithdrawn,
}

/// A call's outcome: only a partner's business decision is a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StayOutcome {
    Done(StayReply),
    Refused { code: String, message: String },
    Unknown,
}

/// The stage after an outcome and the transfers to post in the same commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StayStep {
    pub stage: StayStage,
    pub transfers: Vec<Transfer>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StayError {
    #[error("{call:?} is not the next call in state {state}")]
    NotNext { call: StayCall, state: &'static str },
    #[error("{reply:?} does not answer {call:?} in state {state}")]
    UnexpectedReply { call: StayCall, reply: StayReply, state: &'static str },
    #[error("the insurance center's figures cannot be trusted: {0}")]
    Figures(#[from] SplitError),
    #[error("the bank held {held} but {asked} was asked")]
    OverHold { held: Fen, asked: Fen },
    #[error("the partner refused {call:?} ({code}): {message}")]
    RefusedUnrefusable { call: StayCall, code: String, message: String },
    #[error("a stay that is {state} cannot {what}")]
    NotNow { state: &'static str, what: &'static str },
    #[error("the fee lines uploaded since the last settlement add up to nothing: nothing to settle in the middle")]
    NothingToSettle,
}

/// The call that moves `stage` on; `None` in a final stage or while the stay waits for the ward.
pub fn next_call(stage: &StayStage) -> Option<StayCall> {
    use StayStage as S;
    match stage {
        S::Admitting { .. } => Some(StayCall::Admit),
        S::Admitted { deposit, .. } => Some(StayCall::HoldDeposit { amount: *deposit }),
        S::InWard(w) => match (w.raising, w.placing) {
            (Some(amount), _) => Some(StayCall::RaiseHold { n: w.raises_sent, amount }),
            (None, Some(amount)) => Some(StayCall::PlaceHold { n: w.holds_sent + 1, amount }),
            (None, None) => None,
        },
        S::Discharging(_) => Some(StayCall::Discharge),
        S::Discharged { refusal: None, .. } => Some(StayCall::PreSettle),
        S::Discharged { refusal: Some(_), .. } => None,
        S::PreSettled { .. } => Some(StayCall::Settle),
        // Nothing held (a cancelled settlement's capture closed it, or the deposit was declined or
        // used up): the cash share is charged to the line.
        S::InsuranceSettled { ward, split, capture_declined: None, .. } if !ward.has_hold() && split.cash.is_positive() => {
            Some(StayCall::Charge { amount: split.cash })
        }
        S::InsuranceSettled { ward, split, capture_declined: None, beyond: BeyondHold::Untried, .. } if split.cash > ward.held() => {
            Some(StayCall::RaiseHold { n: ward.raises_sent, amount: split.cash - ward.held() })
        }
        S::InsuranceSettled { ward, split, capture_declined: None, .. } => {
            let amount = split.cash.min(ward.held());
            Some(if amount.is_positive() { StayCall::Capture { amount } } else { StayCall::Void })
        }
        S::InsuranceSettled { capture_declined: Some(_), .. } => Some(StayCall::Void),
        S::CancellingSettlement { insurance_reversed: false, .. } => Some(StayCall::CancelSettlement),
        S::CancellingSettlement { paid, insurance_reversed: true } => Some(StayCall::Refund { amount: paid.captured }),
        S::SettlementCancelled(_) => None,
        S::UndoingDischarge(_) => Some(StayCall::UndoDischarge),
        S::CancellingAdmission(_) => Some(StayCall::CancelAdmission),
        S::Releasing(_) => Some(StayCall::Void),
        S::Closing { discharged: false, .. } => Some(StayCall::Discharge),
        S::Closing { discharged: true, .. } => Some(StayCall::Void),
        S::Interim(i) => Some(interim::next_call(i)),
        S::CancellingInterim(c) => Some(interim_cancel::next_call(c)),
        S::WithdrawingFees(_) => Some(StayCall::WithdrawFees),
        S::Settled(_) | S::SettledUnpaid(_) | S::SettledByInterims(_) | S::Cancelled | S::Refused(_) => None,
    }
}

/// The fees the next settlement covers: those uploaded, less what interim settlements took.
pub fn unsettled_charges(stage: &StayStage, uploaded: Fen) -> Fen {
    uploaded - stage.ward().map_or(Fen::ZERO, Ward::settled_by_interims)
}

/// After a fee upload: the raise the rule calls for, fixed in the stage before it is sent.
/// `None` when no raise is due, one is already in flight, or the stay is not in the ward.
pub fn plan_raise(stage: &StayStage, rule: &DepositRule, charges: Fen) -> Option<StayStage> {
    let StayStage::InWard(w) = stage else { return None };
    if w.deposit_in_flight() || !w.has_hold() {
        return None;
    }
    let amount = rule.raise_for(w.held(), charges)?;
    Some(StayStage::InWard(Ward { raising: Some(amount), ..w.clone() }))
}

/// The ward asks for a fresh hold of `amount` (补交押金) for a stay in the ward that holds
/// nothing: its deposit was declined, or an interim settlement used it up (or its hold again was
/// declined). Fixed in the stage before it is sent, under the next `{stay}:hold:{n}`; a stay that
/// holds something is raised with its fees instead.
pub fn begin_place_hold(stage: &StayStage, amount: Fen) -> Result<StayStage, StayError> {
    match stage {
        StayStage::InWard(w) if !w.deposit_in_flight() && !w.has_hold() && amount.is_positive() => {
            Ok(StayStage::InWard(Ward { placing: Some(amount), ..w.clone() }))
        }
        StayStage::InWard(w) if w.has_hold() => Err(StayError::NotNow { state: "holding", what: "take a fresh hold (its hold is open)" }),
        other => Err(StayError::NotNow { state: other.state(), what: "take a fresh hold (only in the ward, nothing in flight)" }),
    }
}

/// The bedside click (病区结算): discharge and settle. A stay whose settlement insurance refused
/// is tried again from the same click. `on_record` names every fee line of the stay (its
/// `feedetl_sn`, uploaded or in doubt): when the interim settlements took them all, nothing is
/// left to settle and the click closes the stay instead (`closing`: 2402, then the release of the
/// hold still open, never 2303/2304). A stay already discharged (its settlement refused for want of
/// lines) is released at once. A click from the ward clears the last click's refused discharge,
/// and the last refused interim settlement's reason (the final settlement takes its lines).
pub fn begin_discharge(stage: &StayStage, on_record: &[String]) -> Result<StayStage, StayError> {
    match stage {
        StayStage::InWard(w) if !w.deposit_in_flight() => {
            let ward = Ward { discharge_refusal: None, interim_refusal: None, ..w.clone() };
            match ward.interims_took_every_line(on_record) {
                true => Ok(StayStage::Closing { ward, discharged: false }),
                false => Ok(StayStage::Discharging(ward)),
            }
        }
        StayStage::Discharged { ward, refusal: Some(_) } | StayStage::SettlementCancelled(ward)
            if ward.interims_took_every_line(on_record) =>
        {
            Ok(discharged_with_nothing_to_settle(ward))
        }
        StayStage::Discharged { ward, refusal: Some(_) } | StayStage::SettlementCancelled(ward) => {
            Ok(StayStage::Discharged { ward: ward.clone(), refusal: None })
        }
        other => Err(StayError::NotNow { state: other.state(), what: "be discharged" }),
    }
}

/// Discharged (2402 done) with nothing left to settle: the hold still open is released next;
/// with none, the stay is closed.
fn discharged_with_nothing_to_settle(ward: &Ward) -> StayStage {
    match ward.has_hold() {
        true => StayStage::Closing { ward: ward.clone(), discharged: true },
        false => StayStage::SettledByInterims(ward.released()),
    }
}

/// 出院撤销 (2405): a discharged stay not yet settled goes back to the ward.
pub fn begin_undo_discharge(stage: &StayStage) -> Result<StayStage, StayError> {
    match stage {
        StayStage::Discharged { ward, .. } | StayStage::SettlementCancelled(ward) | StayStage::SettledByInterims(ward) => {
            Ok(StayStage::UndoingDischarge(ward.clone()))
        }
        other => Err(StayError::NotNow { state: other.state(), what: "have its discharge undone" }),
    }
}

/// 住院结算撤销 (2305): a settled stay's settlement is reversed and its capture refunded.
pub fn begin_cancel_settlement(stage: &StayStage) -> Result<StayStage, StayError> {
    match stage {
        StayStage::Settled(paid) | StayStage::SettledUnpaid(paid) => {
            Ok(StayStage::CancellingSettlement { paid: paid.clone(), insurance_reversed: false })
        }
        other => Err(StayError::NotNow { state: other.state(), what: "have its settlement cancelled" }),
    }
}

/// 入院撤销 (2404): a stay in the ward, with no raise in flight, is cancelled and its hold released.
pub fn begin_cancel_admission(stage: &StayStage) -> Result<StayStage, StayError> {
    match stage {
        // The center refuses 2404 with a settlement in force: an interim one stands until discharge.
        StayStage::InWard(w) if !w.deposit_in_flight() && w.interims.is_empty() => Ok(StayStage::CancellingAdmission(w.clone())),
        StayStage::InWard(w) if !w.deposit_in_flight() => {
            Err(StayError::NotNow { state: "interim_settled", what: "be cancelled (an interim settlement stands: discharge it)" })
        }
        other => Err(StayError::NotNow { state: other.state(), what: "be cancelled" }),
    }
}

/// Applies the outcome of `call` (which must be `next_call(stage)`). `charges` is the total of the
/// fees uploaded, against which insurance's figures are checked before a fen is posted.
pub fn apply(
    stage: &StayStage,
    parties: &StayParties<'_>,
    charges: Fen,
    call: &StayCall,
    outcome: StayOutcome,
) -> Result<StayStep, StayError> {
    use StayOutcome::{Done, Refused, Unknown};
    use StayReply as R;
    use StayStage as S;
    let state = stage.state();
    if next_call(stage).as_ref() != Some(call) {
        return Err(StayError::NotNext { call: call.clone(), state });
    }
    let to = |stage: S| Ok(StayStep { stage, transfers: Vec::new() });
    let refusal = Failure::insurance_refused;
    match (stage, outcome) {
        (_, Unknown) => to(stage.clone()),
        (_, Refused { code, .. }) if expiry::hold_gone(stage, call, &code) => expiry::apply(stage, parties, call),
        (S::Interim(i), outcome) => interim::apply(i, parties, charges, call, outcome),
        (S::CancellingInterim(c), outcome) => interim_cancel::apply(c, parties, call, outcome),
        (S::WithdrawingFees(w), outcome) => withdrawals::apply(w, call, outcome),

        (S::Admitting { deposit }, Done(R::Admitted { mdtrt_id })) => to(S::Admitted { mdtrt_id, deposit: *deposit }),
        (S::Admitting { .. }, Refused { code, message }) => to(S::Refused(refusal("the admission (2401)", &code, &message))),

        (S::Admitted { mdtrt_id, deposit }, Done(R::Held { amount })) => {
            check_held(amount, *deposit)?;
            let ward = Ward { mdtrt_id: mdtrt_id.clone(), pieces: vec![amount], ..Ward::default() };
            Ok(StayStep { stage: S::InWard(ward), transfers: vec![parties.hold_piece(0, amount)] })
        }
        (S::Admitted { mdtrt_id, .. }, Refused { code, .. }) => {
            to(S::InWard(Ward { mdtrt_id: mdtrt_id.clone(), short: Some(code), ..Ward::default() }))
        }

        (S::InWard(w), Done(R::Held { amount })) => match call {
            StayCall::RaiseHold { amount: asked, .. } => {
                check_held(amount, *asked)?;
                let (ward, transfer) = w.raised(parties, amount);
                Ok(StayStep { stage: S::InWard(ward), transfers: vec![transfer] })
            }
            StayCall::PlaceHold { n, amount: asked } => {
                check_held(amount, *asked)?;
                let ward = Ward { pieces: vec![amount], holds_sent: *n, placing: None, placed: Some(*n), short: None, ..w.clone() };
                Ok(StayStep { stage: S::InWard(ward), transfers: vec![parties.hold_piece(w.piece_base, amount)] })
            }
            _ => Err(unexpected(call, R::Held { amount }, state)),
        },
        (S::InWard(w), Refused { code, .. }) => match call {
            StayCall::PlaceHold { n, .. } => to(S::InWard(Ward { holds_sent: *n, placing: None, short: Some(code), ..w.clone() })),
            _ => to(S::InWard(Ward { raises_sent: w.raises_sent + 1, raising: None, short: Some(code), ..w.clone() })),
        },

        (S::Discharging(w), Done(R::Discharged)) => to(S::Discharged { ward: w.clone(), refusal: None }),
        // Nothing left to settle: discharged, the hold still open (if any) is released, never captured.
        (S::Closing { ward, discharged: false }, Done(R::Discharged)) => to(discharged_with_nothing_to_settle(ward)),
        // The discharge refused: the stay stays in the ward, its hold untouched, with the reason
        // for the ward (and the click's answer).
        (S::Discharging(w) | S::Closing { ward: w, discharged: false }, Refused { code, message }) => {
            to(S::InWard(Ward { discharge_refusal: Some(refusal("the discharge (2402)", &code, &message)), ..w.clone() }))
        }
        // A void the bank refuses means it holds nothing under the authorization any more.
        (S::Closing { ward, discharged: true }, Done(R::Voided) | Refused { .. }) => {
            Ok(StayStep { stage: S::SettledByInterims(ward.released()), transfers: parties.close_pieces(ward, Fen::ZERO) })
        }

        (S::Discharged { ward, .. }, Done(R::Estimated { split })) => {
            split.validate(charges)?;
            to(S::PreSettled { ward: ward.clone(), estimate_cash: split.cash })
        }
        (S::Discharged { ward, .. }, Refused { code, message }) => {
            to(S::Discharged { ward: ward.clone(), refusal: Some(refusal("the pre-settlement (2303)", &code, &message)) })
        }
        (S::PreSettled { ward, .. }, Done(R::Insured { setl_id, split })) => {
            split.validate(charges)?;
            // A hold is captured on; with none, a cash share is charged to the line.
            if ward.has_hold() || split.cash.is_positive() {
                let beyond = BeyondHold::Untried;
                return to(S::InsuranceSettled { ward: ward.clone(), setl_id, split, capture_declined: None, beyond });
            }
            let paid = StayPaid { ward: ward.clone(), setl_id, split, captured: Fen::ZERO, decline_code: None };
            let transfers = parties.settlement_transfers(ward, &paid.split, Fen::ZERO, &paid.setl_id);
            Ok(StayStep { transfers, stage: settled(paid) })
        }
        (S::PreSettled { ward, .. }, Refused { code, message }) => {
            to(S::Discharged { ward: ward.clone(), refusal: Some(refusal("the settlement (2304)", &code, &message)) })
        }

        (S::InsuranceSettled { ward, setl_id, split, .. }, outcome @ (Done(_) | Refused { .. }))
            if matches!(call, StayCall::Charge { .. }) =>
        {
            let StayCall::Charge { amount } = call else { return Err(StayError::NotNext { call: call.clone(), state }) };
            charge::settle_charged(ward, setl_id, split, parties, *amount, outcome)
        }
        (S::InsuranceSettled { ward, setl_id, split, .. }, Done(R::Held { amount })) => {
            let StayCall::RaiseHold { amount: asked, .. } = call else { return Err(unexpected(call, R::Held { amount }, state)) };
            check_held(amount, *asked)?;
            let (ward, transfer) = ward.raised(parties, amount);
            let stage =
                S::InsuranceSettled { ward, setl_id: setl_id.clone(), split: *split, capture_declined: None, beyond: BeyondHold::Raised };
            Ok(StayStep { stage, transfers: vec![transfer] })
        }
        (S::InsuranceSettled { ward, setl_id, split, .. }, Refused { code, .. }) if matches!(call, StayCall::RaiseHold { .. }) => {
            let ward = Ward { raises_sent: ward.raises_sent + 1, ..ward.clone() };
            let beyond = BeyondHold::Declined(code);
            to(S::InsuranceSettled { ward, setl_id: setl_id.clone(), split: *split, capture_declined: None, beyond })
        }
        (S::InsuranceSettled { ward, setl_id, split, beyond, .. }, Done(R::Captured)) => {
            let StayCall::Capture { amount } = call else { return Err(unexpected(call, R::Captured, state)) };
            // The share the line could not cover names why it is a bill.
            let decline_code = match beyond {
                BeyondHold::Declined(code) if split.cash > *amount => Some(code.clone()),
                _ => None,
            };
            let paid = StayPaid { ward: ward.clone(), setl_id: setl_id.clone(), split: *split, captured: *amount, decline_code };
            Ok(StayStep { transfers: parties.settlement_transfers(ward, split, *amount, setl_id), stage: settled(paid) })
        }
        (S::InsuranceSettled { ward, setl_id, split, capture_declined: None, beyond }, Refused { code, .. }) if *call != StayCall::Void => {
            let (ward, setl_id, beyond) = (ward.clone(), setl_id.clone(), beyond.clone());
            to(S::InsuranceSettled { ward, setl_id, split: *split, capture_declined: Some(code), beyond })
        }
        // A void the bank refuses means it holds nothing under the authorization any more
        // (expired): the hold is gone either way.
        (S::InsuranceSettled { ward, setl_id, split, capture_declined, .. }, Done(R::Voided) | Refused { .. }) => {
            let decline_code = capture_declined.clone().or_else(|| ward.short.clone());
            let paid = StayPaid { ward: ward.clone(), setl_id: setl_id.clone(), split: *split, captured: Fen::ZERO, decline_code };
            Ok(StayStep { transfers: parties.settlement_transfers(ward, split, Fen::ZERO, setl_id), stage: settled(paid) })
        }

        (S::CancellingSettlement { paid, insurance_reversed: false }, Done(R::SettlementCancelled)) => {
            let transfers = parties.cancellation_transfers(&paid.split, paid.captured, &paid.setl_id);
            // The hold's pieces are closed (captured or released): a fresh hold after the
            // discharge is undone is numbered past them, never under a piece already posted.
            let stage = match paid.captured.is_positive() {
                true => S::CancellingSettlement { paid: paid.clone(), insurance_reversed: true },
                false => S::SettlementCancelled(paid.ward.settlement_cancelled()),
            };
            Ok(StayStep { stage, transfers })
        }
        // Insurance keeps the settlement: so does the hub; the orchestrator tells the ward why.
        (S::CancellingSettlement { paid, insurance_reversed: false }, Refused { .. }) => to(settled(paid.clone())),
        (S::CancellingSettlement { paid, insurance_reversed: true }, Done(R::Refunded)) => Ok(StayStep {
            stage: S::SettlementCancelled(paid.ward.settlement_cancelled()),
            transfers: vec![parties.refund_transfer(&paid.ward.settle_scope(), paid.captured, &paid.setl_id)],
        }),
        (S::UndoingDischarge(w), Done(R::DischargeUndone)) => to(S::InWard(w.clone())),
        (S::UndoingDischarge(w), Refused { code, message }) => {
            to(S::Discharged { ward: w.clone(), refusal: Some(refusal("the discharge cancellation (2405)", &code, &message)) })
        }
        (S::CancellingAdmission(w), Done(R::AdmissionCancelled)) => match w.has_hold() {
            true => to(S::Releasing(w.clone())),
            false => to(S::Cancelled),
        },
        (S::CancellingAdmission(w), Refused { .. }) => to(S::InWard(w.clone())),
        (S::Releasing(w), Done(R::Voided) | Refused { .. }) => {
            Ok(StayStep { stage: S::Cancelled, transfers: parties.close_pieces(w, Fen::ZERO) })
        }

        (_, Refused { code, message }) => Err(StayError::RefusedUnrefusable { call: call.clone(), code, message }),
        (_, Done(reply)) => Err(unexpected(call, reply, state)),
    }
}

fn unexpected(call: &StayCall, reply: StayReply, state: &'static str) -> StayError {
    StayError::UnexpectedReply { call: call.clone(), reply, state }
}

fn check_held(held: Fen, asked: Fen) -> Result<(), StayError> {
    if held > asked || !held.is_positive() {
        return Err(StayError::OverHold { held, asked });
    }
    Ok(())
}

#[cfg(test)]
#[path = "inpatient_tests.rs"]
mod tests;
