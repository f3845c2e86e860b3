//! What the use cases answer: typed results, serialized as the HTTP bodies the OpenAPI document
//! describes (a test in `api` checks the document against these types). Amounts are integer fen;
//! personal data is masked.

use crate::model::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use wugan_domain::ledger::AccountBalance;
use wugan_domain::settlement::{InsuranceSplit, SettlementState};
use wugan_domain::Fen;

/// A signed agreement (签约); personal data masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Agreement)]
pub struct AgreementView {
    pub id: String,
    pub status: &'static str,
    pub psn_no: String,
    pub insutype: String,
    pub insuplc_admdvs: String,
    /// Masked (张*).
    pub name: String,
    /// Masked (440301********1234).
    pub certno: String,
    pub use_personal_account: bool,
    pub payment: PaymentView,
    pub created_at: String,
    pub seamless: AgreementSeamlessView,
    pub family: Vec<FamilyMemberView>,
}

/// The patient's bank agreement; the `*_fen` figures are the bank's, shown when the bank answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub method: &'static str,
    pub bank_code: String,
    pub bank_agreement_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_fen: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgreementSeamlessView {
    pub enabled: bool,
    pub suspended_reason: Option<String>,
    pub message: Option<&'static str>,
}

/// 亲情付: a family member the agreement pays for.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = FamilyMember)]
pub struct FamilyMemberView {
    pub id: String,
    pub psn_no: String,
    pub name: String,
    pub relation: &'static str,
    pub consent: String,
    pub status: &'static str,
    pub created_at: String,
}

/// A registered visit and where its payment stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Visit)]
pub struct VisitView {
    pub id: String,
    pub ipt_otp_no: String,
    pub hospital_code: String,
    pub psn_no: String,
    pub insutype: String,
    pub med_type: String,
    pub mdtrt_id: String,
    pub status: &'static str,
    pub seamless: VisitSeamlessView,
    /// Fee lines accepted by the insurance center.
    pub fee_lines: usize,
    pub medfee_fen: i64,
    /// The latest settlement attempt, if any.
    pub settlement: Option<SettlementView>,
    /// What finished refunds gave back (the returned lines' fees); 0 when none.
    pub refunded_fen: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitSeamlessView {
    pub enabled: bool,
    pub agreement_id: Option<String>,
    pub reason: Option<String>,
}

/// A fee upload's result: the lines just accepted, with the insurance center's classification.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = FeeUpload)]
pub struct FeeUploadView {
    pub visit_id: String,
    pub lines: Vec<FeeLineView>,
    /// The visit's total of accepted lines.
    pub medfee_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeeLineView {
    pub feedetl_sn: String,
    pub amount_fen: i64,
    /// 收费项目等级 as the insurance center classified the line.
    #[schema(value_type = Object)]
    pub chrgitm_lv: Value,
    pub fulamt_ownpay_fen: i64,
    pub overlmt_fen: i64,
    pub preselfpay_fen: i64,
    pub inscp_scp_fen: i64,
}

/// 预结算: what the visit would cost whom, before the click.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EstimateView {
    pub visit_id: String,
    pub estimate: SplitView,
    pub seamless: bool,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SplitView {
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub cash_fen: i64,
    pub hospital_part_fen: i64,
}

/// The doctor's click, as it stands. Its `setl_id` and amounts are the click's settlement as it
/// was made; after refunds (退费) `in_force` is the settlement in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Settlement)]
pub struct SettlementView {
    pub id: String,
    pub visit_id: String,
    /// `refunded` once refunds gave every line back (nothing in force: `in_force` null).
    pub state: &'static str,
    pub setl_id: Option<String>,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub cash_fen: i64,
    pub bank_fen: i64,
    /// The patient's share still owed (billed at the click, not collected since).
    pub unpaid_fen: i64,
    /// Billed at the click and collected from the line since (补扣).
    pub collected_fen: i64,
    pub hospital_part_fen: i64,
    pub hospital_credited_fen: i64,
    /// Insurance only (setl_type HI): the patient's cash share (`psn_cash_pay`) the hospital
    /// collects itself, at its window or its own channel; the hub charged nothing at the bank for
    /// it. Cancelled: what the hospital hands back itself. 0 in the other settlement types.
    pub cash_at_hospital_fen: i64,
    pub bank: BankAuthorizationView,
    pub failure: Option<FailureView>,
    /// The settlement in force: the click's own until a refund, then the last refund's
    /// re-settlement. Null when nothing is in force (not settled, cancelled, refunded in full).
    pub in_force: Option<SettlementInForceView>,
    pub created_at: String,
    pub updated_at: String,
}

/// The settlement of a visit in force after its refunds (退费): what an HIS keeps for 医保对账
/// (the `setl_id` the insurance center lists as standing, refd_setl_flag 0) and for the patient's
/// bill. `cash_fen` = `bank_fen` + `unpaid_fen` + `collected_fen` + `cash_at_hospital_fen`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SettlementInForce)]
pub struct SettlementInForceView {
    /// The refund whose re-settlement (2207) this is; null: the click's own settlement.
    pub refund_id: Option<String>,
    /// Null for a self-paid visit (no insurance settlement).
    pub setl_id: Option<String>,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub cash_fen: i64,
    pub hospital_part_fen: i64,
    /// What the bank's capture still pays: captured at the click, less the refunds' bank refunds.
    pub bank_fen: i64,
    /// What the patient still owes (a bill left at the click, as the refunds left it, less what
    /// was collected since).
    pub unpaid_fen: i64,
    /// Collected from the patient's line since (补扣).
    pub collected_fen: i64,
    /// Insurance only (setl_type HI): the cash share the hospital keeps collected itself.
    pub cash_at_hospital_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BankAuthorizationView {
    pub authorization: Option<String>,
    /// Money still reserved at the bank: only between the hold and its capture or void.
    pub held_fen: i64,
    pub decline_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailureView {
    pub code: String,
    pub message: Option<String>,
}

/// The ledger's trial balance and accounts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerView {
    pub balanced: bool,
    pub transfers: i64,
    pub hospitals_received_fen: i64,
    pub hospitals_unpaid_fen: i64,
    #[schema(value_type = Object)]
    pub accounts: BTreeMap<String, AccountBalance>,
}

/// The exceptions queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionsView {
    pub exceptions: Vec<ExceptionView>,
    pub repayments: Vec<StuckRepaymentView>,
    pub signups: Vec<StuckSignupView>,
    /// Differences the daily reconciliation left for an operator (the latest run of each day).
    pub reconciliation: Vec<super::ReconciliationExceptionView>,
    /// Inpatient stays parked after their partners stayed silent (app/stay_exceptions.rs).
    pub stays: Vec<super::StuckStayView>,
    /// Refunds parked after a bank decline or their partners' silence (app/refund_exceptions.rs).
    pub refunds: Vec<super::RefundView>,
    /// A visit's fee withdrawals (2205) parked after the recovery worker could not finish them
    /// (app/fee_withdrawal_exceptions.rs).
    pub fee_withdrawals: Vec<super::FeeWithdrawalView>,
}

/// A sign-up the recovery worker parked: its partners stayed silent for `MAX_ATTEMPTS` tries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StuckSignupView {
    /// The agreement id the sign-up makes.
    pub id: String,
    pub state: String,
    pub bank_code: String,
    pub attempts: i64,
    pub parked_reason: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionView {
    #[serde(flatten)]
    pub settlement: SettlementView,
    pub attempts: i64,
    pub parked_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StuckRepaymentView {
    pub id: String,
    pub agreement_id: String,
    pub amount_fen: i64,
    pub state: &'static str,
    pub insurance_txn_id: Option<String>,
    pub failure: Option<String>,
    pub created_at: String,
}

/// A repayment's result: the bank's record, and the agreement after it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepaymentView {
    #[schema(value_type = Object)]
    pub repayment: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_account_debit: Option<AccountDebitView>,
    pub agreement: AgreementView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountDebitView {
    pub txn_id: String,
    pub amount_fen: i64,
}

impl SplitView {
    pub fn of(s: &InsuranceSplit) -> SplitView {
        SplitView {
            medfee_fen: s.medfee.0,
            fund_fen: s.fund.0,
            personal_account_fen: s.personal_account.0,
            cash_fen: s.cash.0,
            hospital_part_fen: s.hospital_part.0,
        }
    }
}

impl SettlementView {
    pub fn of(s: &SettlementRow) -> SettlementView {
        let split = s.split.unwrap_or_default();
        let at_hospital = s.stage().and_then(|st| st.paid().map(|p| p.at_hospital)).unwrap_or_default();
        let hospital_credited = match s.state {
            SettlementState::Settled | SettlementState::SettledUnpaid => split.fund + split.personal_account + s.captured + at_hospital,
            _ => Fen::ZERO,
        };
        SettlementView {
            id: s.id.clone(),
            visit_id: s.visit_id.clone(),
            state: s.state.as_str(),
            setl_id: s.setl_id.clone(),
            medfee_fen: s.medfee.0,
            fund_fen: split.fund.0,
            personal_account_fen: split.personal_account.0,
            cash_fen: split.cash.0,
            bank_fen: s.captured.0,
            unpaid_fen: s.unpaid.0,
            collected_fen: 0,
            hospital_part_fen: split.hospital_part.0,
            hospital_credited_fen: hospital_credited.0,
            cash_at_hospital_fen: at_hospital.0,
            bank: BankAuthorizationView {
                authorization: s.auth_status.clone(),
                held_fen: s.stage().map(|st| st.open_hold()).unwrap_or_default().0,
                decline_code: s.decline_code.clone(),
            },
            failure: s.failure_code.as_ref().map(|code| FailureView { code: code.clone(), message: s.failure_message.clone() }),
            in_force: matches!(s.state, SettlementState::Settled | SettlementState::SettledUnpaid).then(|| SettlementInForceView {
                refund_id: None,
                setl_id: s.setl_id.clone().filter(|id| !id.is_empty()),
                medfee_fen: s.medfee.0,
                fund_fen: split.fund.0,
                personal_account_fen: split.personal_account.0,
                cash_fen: split.cash.0,
                hospital_part_fen: split.hospital_part.0,
                bank_fen: s.captured.0,
                unpaid_fen: s.unpaid.0,
                collected_fen: 0,
                cash_at_hospital_fen: at_hospital.0,
            }),
            created_at: s.created_at.clone(),
            updated_at: s.updated_at.clone(),
        }
    }
}

/// The fields of a line's 2204 result (`result_json`) that its view shows, read without the rest
/// (a whole `Value` per line was a tenth of a fee upload's CPU). Amounts as the center sent them:
/// numbers or strings.
#[derive(Default, serde::Deserialize)]
struct LineResultShown {
    #[serde(default)]
    chrgitm_lv: Value,
    #[serde(default)]
    fulamt_ownpay_amt: Value,
    #[serde(default)]
    overlmt_amt: Value,
    #[serde(default)]
    preselfpay_amt: Value,
    #[serde(default)]
    inscp_scp_amt: Value,
}

/// The fields `T` names of a stored JSON object, the rest skipped unread; `None` for anything but
/// an object (serde reads a struct from an array too, by position).
pub(crate) fn fields_of<T: serde::de::DeserializeOwned>(json: Option<&str>) -> Option<T> {
    json.filter(|j| j.trim_start().starts_with('{')).and_then(|j| serde_json::from_str(j).ok())
}

impl FeeLineView {
    pub fn of(r: &FeeLineRow) -> FeeLineView {
        let result: LineResultShown = fields_of(r.result_json.as_deref()).unwrap_or_default();
        let fen = |amount: &Value| Fen::from_json_yuan(amount).ok().flatten().unwrap_or_default().0;
        FeeLineView {
            feedetl_sn: r.feedetl_sn.clone(),
            amount_fen: r.amount.0,
            fulamt_ownpay_fen: fen(&result.fulamt_ownpay_amt),
            overlmt_fen: fen(&result.overlmt_amt),
            preselfpay_fen: fen(&result.preselfpay_amt),
            inscp_scp_fen: fen(&result.inscp_scp_amt),
            chrgitm_lv: result.chrgitm_lv,
        }
    }
}

impl StuckRepaymentView {
    pub fn of(r: &AccountRepaymentRow) -> StuckRepaymentView {
        StuckRepaymentView {
            id: r.id.clone(),
            agreement_id: r.agreement_id.clone(),
            amount_fen: r.amount.0,
            state: r.stage.state(),
            insurance_txn_id: r.stage.txn_id().map(str::to_string),
            failure: r.stage.failure().map(str::to_string),
            created_at: r.created_at.clone(),
        }
    }
}

/// Every schema the API's bodies are made of, by the name openapi.json gives it, for the test
/// that keeps the document and the types together.
pub fn schemas() -> Vec<(String, Value)> {
    fn one<T: ToSchema>() -> (String, Value) {
        (T::name().to_string(), serde_json::to_value(T::schema()).unwrap_or(Value::Null))
    }
    vec![
        one::<AgreementView>(),
        one::<PaymentView>(),
        one::<AgreementSeamlessView>(),
        one::<FamilyMemberView>(),
        one::<VisitView>(),
        one::<super::RefundView>(),
        one::<super::StayView>(),
        one::<super::StaySettlementView>(),
        one::<super::InterimSettlementView>(),
        one::<VisitSeamlessView>(),
        one::<FeeUploadView>(),
        one::<FeeLineView>(),
        one::<EstimateView>(),
        one::<SplitView>(),
        one::<SettlementView>(),
        one::<SettlementInForceView>(),
        one::<BankAuthorizationView>(),
        one::<FailureView>(),
        one::<LedgerView>(),
        one::<ExceptionsView>(),
        one::<ExceptionView>(),
        one::<StuckRepaymentView>(),
        one::<StuckSignupView>(),
        one::<super::StuckStayView>(),
        one::<super::FeeWithdrawalView>(),
        one::<RepaymentView>(),
        one::<AccountDebitView>(),
        one::<super::OperatorVisitView>(),
        one::<super::OperatorFeeLineView>(),
        one::<super::AttemptView>(),
        one::<super::JournalView>(),
        one::<crate::store::JournalEntry>(),
        one::<super::ReconciliationView>(),
        one::<super::ClearingView>(),
        one::<super::PayoutView>(),
        one::<super::InsuranceClearingMonthView>(),
        one::<super::InsuranceClearingView>(),
        one::<super::PartnerReconciliation>(),
        one::<super::BanksReconciliation>(),
        one::<super::ReconciliationExceptionView>(),
        one::<super::HospitalStatementView>(),
        one::<super::HospitalStatementLine>(),
        one::<super::HospitalStatementRefund>(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(result_json: Option<&str>) -> FeeLineRow {
        FeeLineRow {
            feedetl_sn: "1".into(),
            chrg_bchno: "1".into(),
            amount: Fen(2500),
            upload_msgid: "m".into(),
            uploaded: true,
            detail_json: "{}".into(),
            result_json: result_json.map(str::to_string),
        }
    }

    #[test]
    fn a_lines_view_reads_the_centers_amounts_as_numbers_or_strings_and_nothing_else() {
        let sent = r#"{"feedetl_sn":"1","det_item_fee_sumamt":25.0,"chrgitm_lv":"01","fulamt_ownpay_amt":"3.50","overlmt_amt":0,
                      "preselfpay_amt":1.2,"med_chrgitm_type":"09","memo":{"any":["thing"]}}"#;
        let view = FeeLineView::of(&line(Some(sent)));
        assert_eq!((view.feedetl_sn.as_str(), view.amount_fen, view.chrgitm_lv.clone()), ("1", 2500, json!("01")));
        assert_eq!((view.fulamt_ownpay_fen, view.overlmt_fen, view.preselfpay_fen, view.inscp_scp_fen), (350, 0, 120, 0));
        for unread in [None, Some("{}"), Some("not json"), Some("[1, 2]")] {
            let view = FeeLineView::of(&line(unread));
            assert_eq!((view.chrgitm_lv, view.fulamt_ownpay_fen, view.inscp_scp_fen), (Value::Null, 0, 0), "{unread:?}");
        }
    }
}
