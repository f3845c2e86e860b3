//! The center's records of the patient's online services (issue 14 scope 7): special-disease
//! registrations (门诊慢特病备案, 2503/2504) and manual reimbursement claims (零星报销, sandbox
//! 9903) with the payment of the fund's share to the person's bank card.

use wugan_policy::Date;

/// Where a registration stands. Only `Approved` opens med_type 14.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpspStatus {
    Approved,
    Declined(String),
    /// 撤销 (2504): ended by the person or their agent.
    Revoked,
}

impl OpspStatus {
    pub fn wire(&self) -> &'static str {
        match self {
            OpspStatus::Approved => "approved",
            OpspStatus::Declined(_) => "declined",
            OpspStatus::Revoked => "revoked",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            OpspStatus::Declined(reason) => Some(reason),
            _ => None,
        }
    }
}

/// One 门诊慢特病备案 (2503), decided by the sandbox's rule at once and open to the operator's
/// review (`/sandbox/special-diseases/{sn}/decision`, journaled as the sandbox-only 9905).
#[derive(Debug, Clone)]
pub struct OpspRegistration {
    /// 待遇申报明细流水号.
    pub trt_dcla_detl_sn: String,
    pub psn_no: String,
    pub opsp_dise_code: String,
    pub opsp_dise_name: String,
    /// The designated hospital (定点医疗机构) the registration names.
    pub fixmedins_code: String,
    pub begndate: Date,
    pub status: OpspStatus,
    /// "rule" (the sandbox's list), "operator" (a manual decision) or "file" (in the persons file).
    pub decided_by: &'static str,
}

/// One 零星报销 claim: a bill the person paid in full, adjudicated by the same engine.
#[derive(Debug, Clone)]
pub struct ManualClaim {
    /// The caller's fixed claim id: a second 9903 under it answers this record.
    pub claim_no: String,
    pub psn_no: String,
    /// Where the bill was paid, and its number there (one claim per bill).
    pub fixmedins_code: String,
    pub bill_no: String,
    /// The first answer, given again to a repeat: its status, amounts and payment id.
    pub reply: serde_json::Value,
}

#[derive(Debug, Default)]
pub struct OnlineRecords {
    pub registrations: Vec<OpspRegistration>,
    pub claims: Vec<ManualClaim>,
}

impl OnlineRecords {
    /// Whether the person holds an approved registration in force on `date` (med_type 14's gate).
    pub fn special_disease_on(&self, psn_no: &str, date: Date) -> bool {
        self.registrations.iter().any(|r| r.psn_no == psn_no && r.status == OpspStatus::Approved && r.begndate <= date)
    }

    pub fn registration_mut(&mut self, sn: &str) -> Option<&mut OpspRegistration> {
        self.registrations.iter_mut().find(|r| r.trt_dcla_detl_sn == sn)
    }

    pub fn claim(&self, claim_no: &str) -> Option<&ManualClaim> {
        self.claims.iter().find(|c| c.claim_no == claim_no)
    }
}
