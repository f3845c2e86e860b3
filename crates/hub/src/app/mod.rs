//! The hub's use cases: sign a patient up, register a visit, upload fees, pre-settle, settle at the
//! doctor's click, cancel. Each talks to the insurance center and the bank through their clients and
//! records everything in the store; the money rules themselves live in `wugan_domain`.

mod agreements;
pub mod audit_health;
pub mod bank_directory;
pub mod bank_onboarding;
mod cash_only;
mod clearing;
mod commands;
pub mod consent;
mod credit;
pub mod deposit_policy;
pub mod deposit_receipts;
mod estimates;
mod exceptions;
mod fee_withdrawal_exceptions;
mod fee_withdrawals;
pub mod hospital_banks;
mod hospital_statements;
mod inpatient;
mod stay_cancels;
mod stay_changes;
mod stay_clinical;
mod stay_fee_lines;
pub use stay_clinical::{AdmissionDetails, DischargeRequest, StayDiagnoses};
mod stay_maternity;
pub use stay_maternity::{NumberOrText, SurgeryAndMaternity};
mod stay_fee_withdrawals;
mod stay_interim;
mod stay_interim_cancel;
pub use stay_fee_withdrawals::WithdrawStayFeesRequest;
mod stay_settle_input;
pub use stay_changes::ChangeAdmissionRequest;
mod stay_exceptions;
mod stay_holds;
pub use stay_holds::PlaceDepositRequest;
mod stay_reconciliation;
pub use fee_withdrawal_exceptions::FeeWithdrawalView;
pub use stay_exceptions::StuckStayView;
pub mod family_invitations;
mod institution;
mod insurance_clearing;
mod insurance_only;
mod invoice_keys;
pub mod invoices;
mod national_cancellations;
pub mod national_interface;
mod national_reversals;
mod national_visits;
pub mod notifications;
pub mod online_services;
pub mod operator_stays;
mod operator_views;
pub mod patient_agreements;
pub mod patient_family;
pub mod patient_invoices;
pub mod patient_labels;
pub mod patient_stays;
pub mod patient_visits;
pub mod patients;
pub mod platform_settings;
pub mod qr_voucher;
mod queries;
mod reconciliation;
pub mod reconciliation_handled;
mod reconciliation_recheck;
mod recovery;
mod refund_exceptions;
mod refund_invoices;
mod refund_notices;
mod refunds;
mod refusal_checks;
mod registration_checks;
mod reversal_notices;
mod settlement;
pub mod sms;
pub mod stay_invoices;
mod undo_checks;
mod views;
mod visit_info;
mod visits;
// Issue 18: staff, onboarding, visit lookups, webhooks.
pub mod hospitals;
pub mod staff;
pub mod stay_lists;
pub mod visit_lists;
pub mod webhooks;
// Issue 14 scopes 4-6, issue 17 scope 4.
pub mod patient_credit;
pub mod patient_notices;
pub mod seamless_switch;
pub mod unpaid_bills;

pub use cash_only::{CashCancelRequest, CashSettleRequest};
pub use clearing::{ClearingRequest, ClearingView, PayoutView};
pub use commands::*;
pub use fee_withdrawals::WithdrawFeesRequest;
pub use hospital_statements::{HospitalStatementLine, HospitalStatementRefund, HospitalStatementView};
pub use inpatient::{StaySettlementView, StayView};
pub use institution::HospitalPlatform;
pub use insurance_clearing::{InsuranceClearingMonthView, InsuranceClearingRequest, InsuranceClearingView};
pub use operator_views::{AttemptView, JournalQuery, JournalView, OperatorFeeLineView, OperatorVisitView};
pub use reconciliation::{
    business_day, BanksReconciliation, InsuranceBucket, PartnerReconciliation, ReconcileRequest, ReconciliationExceptionView,
    ReconciliationView, IN_TRANSIT_S,
};
pub use recovery::{spawn_recovery, IDLE_BEFORE_RESUME, MAX_BACKOFF};
pub use refunds::{RefundRequest, RefundView};
pub use stay_interim::InterimSettlementView;
pub use views::*;

use crate::bank_client::{Authorization, BankClient, BankEndpoint, BankError};
use crate::error::AppError;
use crate::insurance_client::{Institution, InsuranceClient, InsuranceError};
use crate::model::*;
use crate::pii::{mask, mask_name, DataKey};
use crate::store::{Store, StoredAnswer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use wugan_domain::settlement::{Parties, SettlementState};
use wugan_domain::Fen;

/// Largest amount accepted on one fee line: 1,000,000 yuan. Anything above is a typing error.
const MAX_LINE_FEN: Fen = Fen::yuan(1_000_000);
const MAX_LINES_PER_UPLOAD: usize = 500;
/// Failed resumptions before a settlement is parked for an operator (with the worker's 15 s pass,
/// about five minutes of a partner's silence).
pub const MAX_ATTEMPTS: i64 = 20;
/// Family members one agreement may pay for (the practice in Guangzhou's family accounts).
pub const MAX_FAMILY_MEMBERS: i64 = 5;

pub struct HubConfig {
    /// 就医地医保区划 of the region this hub serves.
    pub admdvs: String,
    pub insurance_url: String,
    /// The insurance platform's gateway credentials, one per hospital and one for the hub itself
    /// (`insurance_client::HUB_FIXMEDINS_CODE`).
    pub insurance_credentials: Vec<crate::insurance_client::GatewayCredential>,
    pub banks: Vec<BankEndpoint>,
    /// Credit limit asked for at signing when the patient names none (5,000 yuan).
    pub default_credit_limit: Fen,
    pub partner_timeout: Duration,
    pub data_key: DataKey,
}

pub struct App {
    pub store: Store,
    /// msgids unique across processes and restarts (see `msgid`).
    msgids: crate::msgid::MsgIds,
    /// Bank lines seen without a hub agreement, and when first seen (see `close_orphan_lines`).
    orphans: tokio::sync::Mutex<std::collections::HashMap<String, time::OffsetDateTime>>,
    pub insurance: InsuranceClient,
    pub banks: bank_directory::BankDirectory,
    pub config: HubConfig,
    /// What `/metrics` serves (see `crate::metrics`).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Invoice keys and the PDF font (see `invoices`).
    pub invoicing: invoices::Invoicing,
    /// When an inpatient deposit hold is raised (see `inpatient`; `with_deposit_rule`).
    pub deposit_rule: wugan_domain::inpatient::DepositRule,
    /// Where text messages to patients go (see `sms`).
    pub sms: std::sync::Arc<dyn sms::SmsSink>,
    /// How long an idempotent request's answer is kept for replay (`prune`;
    /// `with_idempotency_retention`; default [`recovery::IDEMPOTENCY_RETENTION`]).
    pub idempotency_retention: Duration,
    /// The day's 9001 sign-ins (see `institution`).
    sign_ins: institution::SignIns,
    /// The last audit entry the incremental chain check verified (see `audit_health`).
    audit_checkpoint: audit_health::Checkpoint,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The hub's own identity in envelopes it sends without a hospital (signing up a patient).
fn hub_institution() -> Institution {
    Institution {
        fixmedins_code: crate::insurance_client::HUB_FIXMEDINS_CODE.into(),
        fixmedins_name: "wugan hub".into(),
        ..Default::default()
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    if value.trim().is_empty() {
        return Err(AppError::invalid("missing_field", format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(AppError::invalid("field_too_long", format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

/// A certificate number as the center reads it: trimmed, and an 18-character resident ID card's
/// check digit `x` written `X`, as typed by hand at a counter it often is not (the two are the
/// same digit, ten; the center's records and lookups write `X`).
fn cert_no_as_read(cert_type: &str, no: &str) -> String {
    let no = no.trim();
    match no.strip_suffix('x') {
        Some(head) if cert_type == "02" && no.chars().count() == 18 => format!("{head}X"),
        _ => no.to_string(),
    }
}

fn check_cert_type(value: &str) -> Result<(), AppError> {
    match value {
        "01" | "02" | "03" => Ok(()),
        _ => Err(AppError::invalid(
            "bad_cert_type",
            "mdtrt_cert_type must be 01 (e-voucher token), 02 (ID card) or 03 (social security card)",
        )),
    }
}

impl App {
    pub fn new(store: Store, config: HubConfig) -> App {
        let routes: Vec<(String, &'static str)> = crate::api::route_table().into_iter().map(|(m, p, _)| (m.to_string(), p)).collect();
        let bank_codes: Vec<String> = config.banks.iter().map(|b| b.bank_code.clone()).collect();
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new(&routes, &bank_codes));
        let insurance = InsuranceClient::new(
            &config.insurance_url,
            &config.admdvs,
            config.partner_timeout,
            store.clock.clone(),
            &config.insurance_credentials,
        )
        .metered(metrics.clone());
        let banks = bank_directory::BankDirectory::new(
            config.banks.iter().map(|b| (b.bank_code.clone(), BankClient::new(b.clone(), config.partner_timeout).metered(metrics.clone()))),
        );
        let invoicing = invoices::Invoicing::new(invoices::InvoiceKeys::derived(&config.data_key), None);
        let deposit_rule = Default::default();
        let sms = std::sync::Arc::new(sms::NoSms);
        App {
            store,
            msgids: Default::default(),
            orphans: Default::default(),
            insurance,
            banks,
            config,
            metrics,
            invoicing,
            deposit_rule,
            sms,
            idempotency_retention: recovery::IDEMPOTENCY_RETENTION,
            sign_ins: Default::default(),
            audit_checkpoint: Default::default(),
        }
    }

    /// The same hub with another rule for raising inpatient deposit holds.
    pub fn with_deposit_rule(mut self, rule: wugan_domain::inpatient::DepositRule) -> App {
        self.deposit_rule = rule;
        self
    }

    /// The same hub, keeping idempotent requests' answers for `retention` (at least a minute: a
    /// retry inside its own request's timeout must still be answered as a replay).
    pub fn with_idempotency_retention(mut self, retention: Duration) -> App {
        self.idempotency_retention = retention.max(Duration::from_secs(60));
        self
    }

    /// The same hub, sending text messages to patients through `sms`.
    pub fn with_sms(mut self, sms: std::sync::Arc<dyn sms::SmsSink>) -> App {
        self.sms = sms;
        self
    }

    /// The same hub, calling its partners' routers in this process instead of over HTTP (`wugan
    /// bench core`): the same requests and replies, without sockets. A bank not named keeps HTTP.
    pub fn with_in_process_partners(mut self, insurance: axum::Router, banks: Vec<(String, axum::Router)>) -> App {
        let timeout = self.config.partner_timeout;
        self.insurance = self.insurance.in_process(insurance, timeout);
        for (code, router) in banks {
            self.banks.rebuild(&code, |client| client.in_process(router, timeout));
        }
        self
    }

    /// Now, as the hub stores times (from the injected clock).
    pub fn now(&self) -> String {
        self.store.now()
    }

    /// Now in China time, as the national interface writes it.
    fn china_datetime(&self) -> String {
        crate::clock::china_datetime_of(self.store.clock.now_utc())
    }

    /// A fresh insurance msgid for an institution, never issued before by any process.
    pub(crate) async fn msgid(&self, fixmedins_code: &str) -> Result<String, AppError> {
        Ok(self.msgids.next(&self.store, self.store.clock.as_ref(), fixmedins_code).await?)
    }

    /// Calls sent to the partners since start (both partners, retries and status queries included).
    pub fn partner_calls(&self) -> u64 {
        self.insurance.calls_sent() + self.banks.all().iter().map(|(_, b)| b.requests_sent()).sum::<u64>()
    }

    fn bank(&self, bank_code: &str) -> Result<std::sync::Arc<BankClient>, AppError> {
        self.banks.get(bank_code).ok_or_else(|| AppError::invalid("unknown_bank", format!("no contract with bank {bank_code}")))
    }
}

/// The `(caller, Idempotency-Key)` a request came with. A use case stores the request's answer in
/// the same write as the request's effect where it can (zero2prod's pattern), so that a crash never
/// leaves the effect without its answer; the edge then stores nothing more (`answer_body`: and it sends the stored bytes).
pub struct Keyed {
    /// `None`: the answer is not stored (a use case called directly, outside the API).
    caller: Option<String>,
    pub key: String,
    /// The answer's body, once the write carrying it is committed: the edge sends these bytes,
    /// the very ones a replay gets, rather than writing the result as JSON again.
    answered: std::sync::OnceLock<String>,
    /// The request's hash and when it came, set by the edge when it claims the key.
    claimed: std::sync::OnceLock<(String, String)>,
}

impl Keyed {
    pub fn new(caller: &str, key: &str) -> Keyed {
        Keyed { caller: Some(caller.to_string()), key: key.to_string(), answered: Default::default(), claimed: Default::default() }
    }

    /// A request whose answer nobody stores (tests and tools calling a use case directly).
    pub fn unstored(key: &str) -> Keyed {
        Keyed { caller: None, key: key.to_string(), answered: Default::default(), claimed: Default::default() }
    }

    /// The edge claimed the key for the request with this hash at `at` (RFC 3339).
    pub fn claimed(&self, request_hash: &str, at: String) {
        let _ = self.claimed.set((request_hash.to_string(), at));
    }

    /// The body the use case stored with its effect, if it did.
    pub fn answer_body(&self) -> Option<&str> {
        self.answered.get().map(String::as_str)
    }

    /// The answer the edge would store for `view` (200, the view as JSON).
    fn answer_for<T: serde::Serialize>(&self, view: &T) -> Result<Option<StoredAnswer>, AppError> {
        // Not claimed at the edge (a use case called directly): nothing to store it under.
        let (Some(caller), Some((request_hash, at))) = (&self.caller, self.claimed.get()) else { return Ok(None) };
        // Through a `Value`, as the edge writes the response, so that a replay is the same bytes.
        let body = serde_json::to_value(view).map_err(|e| AppError::internal(format!("a result could not be written as JSON: {e}")))?;
        Ok(Some(StoredAnswer {
            caller: caller.clone(),
            key: self.key.clone(),
            request_hash: request_hash.clone(),
            at: at.clone(),
            status: 200,
            body: body.to_string(),
        }))
    }

    /// Notes that the write carrying `answer` is committed.
    fn stored(&self, answer: &Option<StoredAnswer>) {
        if let Some(answer) = answer {
            let _ = self.answered.set(answer.body.clone());
        }
    }
}

/// A short, stable digest of a caller's idempotency key, for request ids the bank accepts.
fn short_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

fn person_error(e: InsuranceError) -> AppError {
    match e {
        InsuranceError::Refused { message, .. } => {
            AppError::invalid("person_not_found", format!("the insurance center does not know this person: {message}"))
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod cert_no_tests {
    #[test]
    fn an_id_card_number_typed_with_a_small_x_is_read_with_the_capital() {
        assert_eq!(super::cert_no_as_read("02", " 44030419900101123x "), "44030419900101123X");
        assert_eq!(super::cert_no_as_read("02", "44030419900101123X"), "44030419900101123X");
        // Only the 18-character resident ID card's check digit: other certificates are as written.
        assert_eq!(super::cert_no_as_read("01", "EC4403000000000000x"), "EC4403000000000000x");
        assert_eq!(super::cert_no_as_read("02", "4403041990010x"), "4403041990010x");
    }
}
