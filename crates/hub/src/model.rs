//! The hub's records, as stored. Personal data fields ending in `_enc` hold ciphertext (see `pii`).

use serde::Serialize;
use std::collections::BTreeMap;
use wugan_domain::ledger::AccountBalance;
use wugan_domain::settlement::saga::{Failure, Hold, Insured, Paid, Stage};
use wugan_domain::settlement::{InsuranceSplit, SettlementState};
use wugan_domain::Fen;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            pub fn parse(s: &str) -> Option<$name> { match s { $($text => Some($name::$variant),)+ _ => None } }
        }
    };
}

text_enum!(
    /// Who is calling the hub's API.
    Role { Hospital = "hospital", Operator = "operator" }
);

text_enum!(
    /// How the cash share is paid: a bank's medical credit line (信用额度) or a debit card (借记卡).
    PaymentMethod { CreditLine = "credit_line", DebitCard = "debit_card" }
);

text_enum!(
    /// 签约状态
    AgreementStatus { Active = "active", Revoked = "revoked" }
);

text_enum!(
    /// A visit's progress at the hospital.
    VisitStatus { Registering = "registering", Registered = "registered", Settling = "settling", Settled = "settled", Cancelled = "cancelled" }
);

/// An authenticated caller: a hospital's HIS (scoped to its own visits) or an operator.
#[derive(Clone, Debug)]
pub struct Caller {
    pub role: Role,
    pub hospital_code: Option<String>,
}

impl Caller {
    /// The idempotency scope of this caller.
    pub fn scope(&self) -> String {
        match &self.hospital_code {
            Some(code) => format!("hospital:{code}"),
            None => self.role.as_str().to_string(),
        }
    }
}

/// 签约: a patient's standing agreement for seamless payment.
#[derive(Clone, Debug)]
pub struct AgreementRow {
    pub id: String,
    pub psn_no: String,
    pub insutype: String,
    pub insuplc_admdvs: String,
    pub name_enc: String,
    pub certno_enc: String,
    pub certno_index: String,
    pub use_personal_account: bool,
    pub payment_method: PaymentMethod,
    pub bank_code: String,
    pub bank_agreement_id: String,
    pub status: AgreementStatus,
    /// Why seamless payment is suspended (e.g. `credit_overdue`: the bank reports the line overdue);
    /// `None` when it is not. Lifted when the bank reports the line reinstated.
    pub suspended_reason: Option<String>,
    pub created_at: String,
}

/// 就诊: one registered visit (门诊挂号) at a hospital.
#[derive(Clone, Debug)]
pub struct VisitRow {
    pub id: String,
    pub hospital_code: String,
    /// The hospital's own visit number (院内唯一流水号).
    pub ipt_otp_no: String,
    pub psn_no: String,
    /// The insurance the visit settles with; empty for a patient with no insurance in force,
    /// whose visit is self-paid (自费) and never reaches the insurance center.
    pub insutype: String,
    pub insuplc_admdvs: String,
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no_enc: String,
    pub med_type: String,
    /// The 2201 request id, fixed before the call so that a retry resends it.
    pub register_msgid: String,
    /// 开始时间 sent with 2201, fixed at creation so that a resent 2201 is identical.
    pub begntime: String,
    /// The insurance center's visit id (医保就诊ID), from 2201; empty while registering.
    pub mdtrt_id: String,
    /// The agreement that pays, when seamless payment is enabled.
    pub agreement_id: Option<String>,
    /// Why seamless payment is not enabled, when it is not.
    pub seamless_reason: Option<String>,
    pub status: VisitStatus,
    /// The last estimate (2206) asked for it, as `app::estimates::KeptEstimate` JSON: the click
    /// stands on it while the fees are unchanged (预结算复用).
    pub last_estimate: Option<String>,
    /// The Idempotency-Key of the request that registered it: a retry of that request after a
    /// lost answer gets the visit back instead of `visit_exists`.
    pub idem_key: Option<String>,
    pub created_at: String,
}

impl VisitRow {
    /// Self-paid (自费): no insurance settles alongside; the whole bill is the patient's.
    pub fn is_self_pay(&self) -> bool {
        self.insutype.is_empty()
    }
}

/// One uploaded fee line (费用明细) and the insurance center's classification of it.
#[derive(Clone, Debug)]
pub struct FeeLineRow {
    pub feedetl_sn: String,
    pub chrg_bchno: String,
    pub amount: Fen,
    /// The 2204 request id of the batch this line went in.
    pub upload_msgid: String,
    /// Accepted by the insurance center (false while the 2204 call's outcome is unknown).
    pub uploaded: bool,
    /// The `feedetail` entry sent, kept so that an unfinished upload is resent identically.
    pub detail_json: String,
    pub result_json: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SettlementRow {
    pub id: String,
    pub visit_id: String,
    pub hospital_code: String,
    pub agreement_id: String,
    pub state: SettlementState,
    /// Request ids (msgid) of the insurance calls, fixed when the settlement is created so that a
    /// retry or a recovery sends the same ones.
    pub presettle_msgid: String,
    pub settle_msgid: String,
    pub cancel_msgid: Option<String>,
    pub medfee: Fen,
    pub estimate_cash: Option<Fen>,
    pub setl_id: Option<String>,
    pub split: Option<InsuranceSplit>,
    pub auth_request_id: Option<String>,
    pub auth_status: Option<String>,
    /// What the bank reserved for this settlement: the approved hold, or a charge's amount (a
    /// charge reserves and takes at once). Never less than `captured`.
    pub held: Fen,
    pub decline_code: Option<String>,
    pub captured: Fen,
    pub unpaid: Fen,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub setlinfo_json: Option<String>,
    /// Resumptions that failed because a partner did not answer.
    pub attempts: i64,
    /// Set when the recovery worker gave up: the settlement waits in the exceptions queue.
    pub parked_reason: Option<String>,
    /// The Idempotency-Key of the click that created it (a retry of that click gets the settlement).
    pub idem_key: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Cancelling: insurance has reversed (2208 done); the bank refund is next.
    pub insurance_reversed: bool,
    /// The Idempotency-Key of the cancellation request, so that its retry after a crash gets the
    /// cancelled settlement instead of `already_cancelled`.
    pub cancel_idem_key: Option<String>,
    /// Insurance only (setl_type HI), fixed when the attempt is created: the hospital collects the
    /// cash share itself, so the bank is never called for this settlement.
    pub cash_at_hospital: bool,
    /// The 2206 reply's amounts 2207 must carry back (`PRESETTLE_ECHO`), as a JSON object of what
    /// the platform sent; `None` before the pre-settlement or when the reply had none of them.
    pub presettle_echo: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LedgerReport {
    /// Every transfer well formed, every post or void closing a hold that exists, no hold closed
    /// twice, and Σ debits = Σ credits over the balances folded from them.
    pub balanced: bool,
    pub transfer_count: i64,
    pub accounts: BTreeMap<String, AccountBalance>,
}

impl LedgerReport {
    /// Net posted balance of all accounts whose id starts with `prefix`.
    pub fn net_posted(&self, prefix: &str) -> Fen {
        self.accounts.iter().filter(|(id, _)| id.starts_with(prefix)).map(|(_, a)| a.net_posted()).sum()
    }
}

text_enum!(
    /// 亲情付 relations allowed to share a signer's agreement.
    Relation { Spouse = "spouse", Parent = "parent", Child = "child" }
);

/// 亲情付: a family member whose visits the signer's agreement pays for.
#[derive(Clone, Debug)]
pub struct FamilyLinkRow {
    pub id: String,
    pub agreement_id: String,
    pub member_psn_no: String,
    pub member_name_enc: String,
    pub relation: Relation,
    /// How consent was given: `face` (an adult's own face verification) or `guardian` (a minor,
    /// bound by the signer with household-register proof).
    pub consent_method: String,
    pub consent_reference: String,
    pub status: AgreementStatus,
    pub created_at: String,
    /// The member's ID card number, sealed: what the e-voucher QR the signer shows for them
    /// registers them by (`qr_voucher`). None on links made before migration 0046.
    pub member_certno_enc: Option<String>,
}

/// 个人账户还款: a credit-line repayment paid from the insurance personal account; its states
/// are `wugan_domain::repayment::RepaymentStage`.
#[derive(Clone, Debug)]
pub struct AccountRepaymentRow {
    pub id: String,
    pub agreement_id: String,
    pub idem_key: String,
    pub amount: Fen,
    pub stage: wugan_domain::repayment::RepaymentStage,
    pub debit_msgid: String,
    pub cancel_msgid: String,
    pub created_at: String,
}

impl SettlementRow {
    /// The saga's stage, rebuilt from the stored columns; `None` when they do not describe one.
    pub fn stage(&self) -> Option<Stage> {
        let hold = match self.auth_status.as_deref() {
            None => Hold::NotAsked,
            Some("approved") => Hold::Approved { amount: self.held },
            Some("declined") => Hold::Declined { code: self.decline_code.clone().unwrap_or_default() },
            Some(_) => return None,
        };
        // With an approved hold, a decline code is the bank's refusal of the capture.
        let capture_declined = match hold {
            Hold::Approved { .. } => self.decline_code.clone(),
            _ => None,
        };
        let insured = || Some(Insured { setl_id: self.setl_id.clone().unwrap_or_default(), split: self.split? });
        let failure = || match (&self.failure_code, &self.failure_message) {
            (Some(code), message) if code == "insurance_refused" => {
                Some(Failure { code: code.clone(), message: message.clone().unwrap_or_default() })
            }
            _ => None,
        };
        let paid = |hold: Hold| {
            let insured = insured()?;
            // Insurance only: what the bank did not take (all of it) the hospital collects itself.
            let at_hospital = if self.cash_at_hospital { insured.split.cash - self.captured } else { Fen::ZERO };
            Some(Paid { hold, insured, captured: self.captured, decline_code: self.decline_code.clone(), at_hospital })
        };
        Some(match self.state {
            SettlementState::Started => Stage::Started,
            SettlementState::PreSettled => Stage::PreSettled { estimate_cash: self.estimate_cash? },
            SettlementState::Authorized => Stage::Authorized { hold, refusal: failure() },
            SettlementState::InsuranceSettled => Stage::InsuranceSettled { hold, insured: insured()?, capture_declined },
            SettlementState::Settled => Stage::Settled(paid(hold)?),
            SettlementState::SettledUnpaid => Stage::SettledUnpaid(paid(hold)?),
            SettlementState::Failed => Stage::Failed { hold, failure: failure()? },
            SettlementState::Cancelling => Stage::Cancelling { paid: paid(hold)?, insurance_reversed: self.insurance_reversed },
            SettlementState::Cancelled => Stage::Cancelled(paid(hold)?),
        })
    }

    /// Writes a stage into the columns that store it.
    pub fn set_stage(&mut self, stage: &Stage) {
        self.state = stage.state();
        if let Stage::PreSettled { estimate_cash } = stage {
            self.estimate_cash = Some(*estimate_cash);
        }
        if let Some(hold) = stage.hold() {
            let (status, held, code) = match hold {
                Hold::NotAsked => (None, Fen::ZERO, None),
                Hold::Approved { amount } => (Some("approved"), *amount, None),
                Hold::Declined { code } => (Some("declined"), Fen::ZERO, Some(code.clone())),
            };
            self.auth_status = status.map(str::to_string);
            self.held = held;
            self.decline_code = code;
        }
        match stage {
            Stage::Authorized { refusal: Some(f), .. } | Stage::Failed { failure: f, .. } => {
                self.failure_code = Some(f.code.clone());
                self.failure_message = Some(f.message.clone());
            }
            Stage::InsuranceSettled { insured, capture_declined, .. } => {
                self.setl_id = Some(insured.setl_id.clone());
                self.split = Some(insured.split);
                if capture_declined.is_some() {
                    self.decline_code = capture_declined.clone();
                }
            }
            _ => {}
        }
        if let Some(paid) = stage.paid() {
            self.setl_id = Some(paid.insured.setl_id.clone());
            self.split = Some(paid.insured.split);
            self.captured = paid.captured;
            // 扣款: with no hold, the charge reserved and took its amount at once. `held_fen` is
            // what the bank reserved for the settlement, so the column's check (captured ≤ held)
            // reads the same for both; `auth_status` stays empty, so the stage read back has no hold.
            if paid.hold == Hold::NotAsked {
                self.held = paid.captured;
            }
            self.unpaid = paid.unpaid();
            self.decline_code = paid.decline_code.clone();
        }
        self.insurance_reversed = matches!(stage, Stage::Cancelling { insurance_reversed: true, .. });
    }
}
