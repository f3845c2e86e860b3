//! 住院费用明细撤销 (2302): the ward withdraws fee lines it uploaded (2301) and no settlement took,
//! named one by one or every one unsettled, while the patient is in the ward (a changed order, a
//! line sent twice). The center deletes them, and a charge's returns (negative lines naming it in
//! `init_feedetl_sn`) with it; a settled line stays until its settlement is cancelled (2305).
//!
//! The machine decides which lines go (the ones asked, their returns with them), refuses what the
//! center would refuse before anything is sent (a line an interim settlement in force took, a line
//! not on record, an upload whose 2301 is still in doubt) and fixes the 2302's msgid in the stage
//! before it is sent, so a lost answer is resent under it (the center replays its answer). Once
//! answered the lines leave the stay (the hub deletes them in the same commit as the stage): their
//! `feedetl_sn` may be uploaded again.
//!
//! ```text
//! in_ward ─begin_withdraw_fees→ withdrawing_fees ─2302→ in_ward, the lines gone
//!                                      └ refused: in_ward, the lines kept, `undone.refusal` saying why
//! ```

use super::*;

/// A withdrawal under way: the lines it takes off the stay, and its fixed ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeWithdrawal {
    /// The ward's request (its idempotency key).
    pub request: String,
    /// 2302's msgid, fixed before it is sent.
    pub msgid: String,
    /// The lines withdrawn (`feedetl_sn`): those asked, and the returns of a charge among them.
    pub lines: Vec<String>,
}

/// The stage of a withdrawal under way: the ward as it was, and the withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawing {
    pub ward: Ward,
    pub withdrawal: FeeWithdrawal,
}

/// A fee line of the stay on record, as a withdrawal reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineOnRecord {
    pub feedetl_sn: String,
    /// The charge a return names (`init_feedetl_sn`).
    pub returns: Option<String>,
    /// Accepted by 2301 (else its outcome is unknown: the center may or may not have it).
    pub uploaded: bool,
}

/// What the ward asks to withdraw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WithdrawFees {
    /// These lines (`feedetl_sn`).
    Lines(Vec<String>),
    /// Every line no settlement in force took (national `feedetl_sn` "0000").
    Unsettled,
}

/// Why a withdrawal cannot begin; nothing is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WithdrawRefusal {
    #[error(transparent)]
    NotNow(StayError),
    #[error("an earlier fee upload has not completed; resend it first")]
    UploadInProgress,
    #[error("fee line {0} is not on this stay")]
    UnknownLine(String),
    #[error("fee line {line} was settled by interim settlement {n}: cancel that interim settlement (2305) first")]
    Settled { line: String, n: u32 },
    #[error("this stay has no unsettled fee line to withdraw")]
    NothingToWithdraw,
}

/// The ward asks to withdraw `asked` from the lines `on_record` (every line of the stay, uploaded
/// or in doubt); 2302 goes under `msgid`, fixed here.
pub fn begin_withdraw_fees(
    stage: &StayStage,
    on_record: &[LineOnRecord],
    asked: &WithdrawFees,
    request: String,
    msgid: String,
) -> Result<StayStage, WithdrawRefusal> {
    let ward = match stage {
        StayStage::InWard(w) if !w.deposit_in_flight() => w,
        other => {
            let what = "have fee lines withdrawn (only in the ward, nothing in flight)";
            return Err(WithdrawRefusal::NotNow(StayError::NotNow { state: other.state(), what }));
        }
    };
    if on_record.iter().any(|l| !l.uploaded) {
        return Err(WithdrawRefusal::UploadInProgress);
    }
    let settled_by = |sn: &str| ward.interims.iter().find(|i| i.lines.iter().any(|l| l == sn)).map(|i| i.n);
    let mut lines: Vec<String> = Vec::new();
    match asked {
        WithdrawFees::Lines(asked) => {
            for sn in asked {
                if !on_record.iter().any(|l| &l.feedetl_sn == sn) {
                    return Err(WithdrawRefusal::UnknownLine(sn.clone()));
                }
                if !lines.contains(sn) {
                    lines.push(sn.clone());
                }
            }
        }
        WithdrawFees::Unsettled => {
            lines.extend(on_record.iter().filter(|l| settled_by(&l.feedetl_sn).is_none()).map(|l| l.feedetl_sn.clone()));
        }
    }
    // A charge withdrawn takes its returns with it, as the center deletes them.
    let returns = on_record.iter().filter(|l| l.returns.as_ref().is_some_and(|charge| lines.contains(charge)));
    let returns: Vec<String> = returns.map(|l| l.feedetl_sn.clone()).filter(|sn| !lines.contains(sn)).collect();
    lines.extend(returns);
    if let Some((line, n)) = lines.iter().find_map(|sn| settled_by(sn).map(|n| (sn.clone(), n))) {
        return Err(WithdrawRefusal::Settled { line, n });
    }
    if lines.is_empty() {
        return Err(WithdrawRefusal::NothingToWithdraw);
    }
    let ward = Ward { undone: Undone { refusal: None, ..ward.undone.clone() }, ..ward.clone() };
    Ok(StayStage::WithdrawingFees(Withdrawing { ward, withdrawal: FeeWithdrawal { request, msgid, lines } }))
}

/// The lines a stage change took off the stay: the withdrawal's, when 2302 answered it.
pub fn lines_withdrawn<'a>(from: &'a StayStage, to: &StayStage) -> &'a [String] {
    match (from, to) {
        (StayStage::WithdrawingFees(w), StayStage::InWard(ward))
            if ward.undone.refusal.is_none() && ward.undone.withdrawn_by.as_ref() == Some(&w.withdrawal.request) =>
        {
            &w.withdrawal.lines
        }
        _ => &[],
    }
}

/// The outcome of 2302 (the caller has handled an unknown outcome).
pub(super) fn apply(w: &Withdrawing, call: &StayCall, outcome: StayOutcome) -> Result<StayStep, StayError> {
    let to = |ward: Ward| Ok(StayStep { stage: StayStage::InWard(ward), transfers: Vec::new() });
    match outcome {
        StayOutcome::Done(StayReply::FeesWithdrawn) => {
            to(Ward { undone: Undone { withdrawn_by: Some(w.withdrawal.request.clone()), ..w.ward.undone.clone() }, ..w.ward.clone() })
        }
        // The center keeps the lines: so does the hub, and the ward is told why.
        StayOutcome::Refused { code, message } => {
            let failure = Failure::insurance_refused("the fee withdrawal (2302)", &code, &message);
            to(Ward { undone: Undone { refusal: Some(failure), ..w.ward.undone.clone() }, ..w.ward.clone() })
        }
        StayOutcome::Unknown => Ok(StayStep { stage: StayStage::WithdrawingFees(w.clone()), transfers: Vec::new() }),
        StayOutcome::Done(reply) => Err(unexpected(call, reply, "withdrawing_fees")),
    }
}
