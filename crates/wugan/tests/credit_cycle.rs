//! The credit lifecycle as the patient lives it: a month of seamless visits on the credit line, a
//! statement, a bill left unpaid past its due date, seamless payment suspended (and the patient
//! told why), the bill repaid, seamless payment back. The bank's clock is walked by hand.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const SPOUSE_CERTNO: &str = "440304198507203318";
const DAY: i64 = 86_400;

struct World {
    sys: System,
    clock: Arc<wugan_bank::ManualClock>,
    operator: HisClient,
    his: HisClient,
    _dir: common::TempDir,
}

async fn world() -> World {
    let (mut opts, dir) = common::fresh_options("credit").await;
    // 2026-11-20, noon in China: the first statement comes on 1 December, due 11 December.
    let clock = Arc::new(wugan_bank::ManualClock::new(time::macros::datetime!(2026-11-20 04:00 UTC).unix_timestamp()));
    opts.bank_clock = Some(clock.clone());
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    World { sys, clock, operator, his, _dir: dir }
}

impl World {
    /// A visit with 1,225 yuan of fees, 800 of it from the personal account the first time.
    async fn visit(&self, no: &str) -> Value {
        let reg = self.his.register(no, "01", EMPLOYEE_TOKEN).await.unwrap();
        assert!(reg.ok(), "{reg:?}");
        reg.body
    }

    async fn settle_visit(&self, no: &str) -> Value {
        let v = self.visit(no).await;
        let id = v["id"].as_str().unwrap();
        let lines = [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")];
        assert!(self.his.upload_fees(id, &lines).await.unwrap().ok());
        let s = self.his.settle(id).await.unwrap();
        assert!(s.ok(), "{s:?}");
        s.body
    }

    async fn agreement(&self, id: &str) -> Value {
        self.operator.get(&format!("/api/v1/agreements/{id}")).await.unwrap().body
    }

    async fn debt(&self, id: &str) -> i64 {
        let r = self.operator.get(&format!("/api/v1/agreements/{id}/statements")).await.unwrap();
        assert!(r.ok(), "{r:?}");
        r.body["debt_fen"].as_i64().unwrap_or_else(|| panic!("no debt_fen in {}", r.body))
    }

    /// The sample employee's personal-account balance, as the insurance center's own books say.
    async fn personal_account_fen(&self) -> i64 {
        let person = common::insurance_sandbox(&self.sys, "/sandbox/persons/44030000000000000001").await;
        wugan_domain::Fen::from_json_yuan(&person["balc"]).unwrap().unwrap().0
    }
}

#[tokio::test]
async fn an_overdue_bill_suspends_seamless_payment_until_it_is_repaid() {
    let w = world().await;
    let agreement = w.operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let id = agreement.body["id"].as_str().unwrap().to_string();
    // The signer's spouse shares the line (亲情付), with their own consent.
    let spouse = w
        .operator
        .post(
            &format!("/api/v1/agreements/{id}/family"),
            &json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": SPOUSE_CERTNO,
        "relation": "spouse", "consent": {"method": "face", "reference": "FACE-1"}}),
        )
        .await
        .unwrap();
    assert!(spouse.ok(), "{spouse:?}");
    let first = w.settle_visit("MZ-C1").await;
    let spent = first["bank_fen"].as_i64().unwrap();
    assert!(spent > 0);

    // 12 December: the December statement is past its due date and unpaid.
    // The bank finds the line overdue on its next request and rings the hub's doorbell; the hub
    // reads the bank's event feed and suspends the agreement without being asked.
    w.clock.advance(22 * DAY);
    assert!(w.debt(&id).await > 0);
    let a = w.agreement_once(&id, false).await;
    assert_eq!(a["seamless"]["suspended_reason"], json!("credit_overdue"));
    assert!(a["seamless"]["message"].as_str().unwrap().contains("overdue"));

    // The next visit is registered, but not for seamless payment, and the hospital learns why.
    let v = w.visit("MZ-C2").await;
    assert_eq!(v["seamless"]["enabled"], json!(false));
    assert_eq!(v["seamless"]["reason"], json!("credit_overdue"));
    let vid = v["id"].as_str().unwrap();
    // So is the spouse's: the family shares the signer's standing.
    let family_visit = w.his.register("MZ-F1", "02", SPOUSE_CERTNO).await.unwrap();
    assert_eq!(family_visit.body["seamless"]["enabled"], json!(false), "{family_visit:?}");
    assert_eq!(family_visit.body["seamless"]["reason"], json!("credit_overdue"));
    assert!(w.his.upload_fees(vid, &[fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    let refused = w.his.settle(vid).await.unwrap();
    assert_eq!(refused.code(), Some("seamless_not_enabled"));
    assert!(refused.message().contains("overdue"), "{}", refused.message());

    // Half repaid: still overdue.
    let debt = w.debt(&id).await;
    assert!(debt > spent, "interest accrued on the overdue bill: debt {debt}, spent {spent}");
    let half = w.operator.post(&format!("/api/v1/agreements/{id}/repayments"), &json!({"amount_fen": debt / 2})).await.unwrap();
    assert!(half.ok(), "{half:?}");
    assert_eq!(half.body["agreement"]["seamless"]["enabled"], json!(false));

    // Repaid in full: reinstated at once, and the next visit is seamless again.
    let rest = w.debt(&id).await;
    let paid = w
        .operator
        .post(&format!("/api/v1/agreements/{id}/repayments"), &json!({"amount_fen": rest, "source": "bank_transfer"}))
        .await
        .unwrap();
    assert!(paid.ok(), "{paid:?}");
    assert_eq!(paid.body["agreement"]["seamless"]["enabled"], json!(true));
    assert_eq!(w.debt(&id).await, 0);
    let again = w.visit("MZ-C3").await;
    assert_eq!(again["seamless"]["enabled"], json!(true));
    let family_again = w.his.register("MZ-F2", "02", SPOUSE_CERTNO).await.unwrap();
    assert_eq!(family_again.body["seamless"]["enabled"], json!(true));
}

#[tokio::test]
async fn a_bill_repaid_on_time_costs_nothing_and_never_suspends() {
    let w = world().await;
    let agreement = w.operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let id = agreement.body["id"].as_str().unwrap().to_string();
    let spent = w.settle_visit("MZ-T1").await["bank_fen"].as_i64().unwrap();
    w.clock.advance(15 * DAY); // 5 December: billed, not yet due
    assert_eq!(w.debt(&id).await, spent, "no interest inside the interest-free period");
    let paid = w.operator.post(&format!("/api/v1/agreements/{id}/repayments"), &json!({"amount_fen": spent})).await.unwrap();
    assert!(paid.ok(), "{paid:?}");
    w.clock.advance(30 * DAY);
    w.sys.app.sync_bank_events().await.unwrap();
    assert_eq!(w.agreement(&id).await["seamless"]["enabled"], json!(true));
    let over = w.operator.post(&format!("/api/v1/agreements/{id}/repayments"), &json!({"amount_fen": 1})).await.unwrap();
    assert_eq!(over.code(), Some("more_than_owed"), "nothing more to repay, as from the personal account: {over:?}");
    let limit =
        w.operator.post(&format!("/api/v1/agreements/{id}/limit-requests"), &json!({"requested_limit_fen": 1_000_000})).await.unwrap();
    assert_eq!(limit.body["status"], json!("approved"), "{limit:?}");
    assert_eq!(w.agreement(&id).await["payment"]["limit_fen"], json!(1_000_000));
}

#[tokio::test]
async fn the_credit_line_is_repaid_from_the_personal_account_and_a_refusal_moves_nothing() {
    let w = world().await;
    // The personal account is kept for repayments: the visit is paid wholly on the credit line.
    let agreement = w.operator.sign_up("01", EMPLOYEE_TOKEN, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let id = agreement.body["id"].as_str().unwrap().to_string();
    let settled = w.settle_visit("MZ-P1").await;
    assert_eq!(settled["personal_account_fen"], json!(0));
    let debt = w.debt(&id).await;
    assert_eq!(debt, settled["bank_fen"].as_i64().unwrap());
    let balc_before = w.personal_account_fen().await;
    assert_eq!(balc_before, 80_000, "the sample employee has 800 yuan");

    // More than the account holds: refused by the insurance center, nothing moved.
    assert!(debt > balc_before, "the visit's cash share ({debt} fen) is more than the account holds");
    let refused = w
        .operator
        .post(&format!("/api/v1/agreements/{id}/repayments"), &json!({"amount_fen": debt, "source": "personal_account"}))
        .await
        .unwrap();
    assert_eq!(refused.code(), Some("personal_account_refused"), "{refused:?}");
    assert_eq!(w.personal_account_fen().await, balc_before);
    assert_eq!(w.debt(&id).await, debt);
    // More than the line owes: refused before the account is touched.
    let over = w
        .operator
        .post(&format!("/api/v1/agreements/{id}/repayments"), &json!({"amount_fen": debt + 1, "source": "personal_account"}))
        .await
        .unwrap();
    assert_eq!(over.code(), Some("more_than_owed"), "the hub's own refusal, not the center's: {over:?}");
    assert!(over.message().contains("owes"), "{}", over.message());
    assert_eq!(w.personal_account_fen().await, balc_before);

    // 300 yuan from the personal account: the account pays it, the bank books it against the debt
    // under the insurance center's transaction, and a retry with the same key repeats nothing.
    let body = json!({"amount_fen": 30_000, "source": "personal_account"});
    let path = format!("/api/v1/agreements/{id}/repayments");
    let paid = w.operator.post_with_key(&path, "repay-pa-1", &body).await.unwrap();
    assert!(paid.ok(), "{paid:?}");
    let txn_id = paid.body["personal_account_debit"]["txn_id"].as_str().unwrap().to_string();
    assert_eq!(paid.body["repayment"]["amount_fen"], json!(30_000));
    let again = w.operator.post_with_key(&path, "repay-pa-1", &body).await.unwrap();
    assert_eq!(again.body, paid.body);
    assert_eq!(w.personal_account_fen().await, balc_before - 30_000);
    assert_eq!(w.debt(&id).await, debt - 30_000);
    let statements = w.operator.get(&format!("/api/v1/agreements/{id}/statements")).await.unwrap().body;
    let repayment = &statements["repayments"][0];
    assert_eq!(repayment["source"], json!("personal_account"));
    assert_eq!(repayment["reference"], json!(txn_id));

    // The hub's ledger shows the move from the personal account to the bank, and still balances.
    let ledger = w.operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["balanced"], json!(true));
    let pa = &ledger["accounts"]["personal_account:44030000000000000001"];
    assert_eq!(pa["debits_posted"], json!(30_000), "{ledger}");
    // Booked once: the bank's event of the same repayment (source personal_account) adds nothing.
    w.sys.app.sync_bank_events().await.unwrap();
    let ledger = w.operator.get("/api/v1/ledger").await.unwrap().body;
    let line = &ledger["accounts"][format!("bank:BANK01:{}", w.bank_agreement_id(&id).await)];
    assert_eq!(line["credits_posted"], json!(30_000), "{ledger}");
    assert!(ledger["accounts"].get("repaid_at_bank:BANK01").is_none(), "{ledger}");
}

impl World {
    async fn bank_agreement_id(&self, id: &str) -> String {
        self.agreement(id).await["payment"]["bank_agreement_id"].as_str().unwrap().to_string()
    }

    /// The ledger's bank agreement account of the line: (debits, credits) posted.
    async fn line_in_ledger(&self, id: &str) -> (i64, i64) {
        let ledger = self.operator.get("/api/v1/ledger").await.unwrap().body;
        assert_eq!(ledger["balanced"], json!(true), "{ledger}");
        let line = &ledger["accounts"][format!("bank:BANK01:{}", self.bank_agreement_id(id).await)];
        (line["debits_posted"].as_i64().unwrap_or(0), line["credits_posted"].as_i64().unwrap_or(0))
    }
}

/// 转账还款 (review r26 patient F3): a repayment made at the bank is booked from the bank's event,
/// once, so the line's ledger account says what the bank says is owed.
#[tokio::test]
async fn a_repayment_made_at_the_bank_is_booked_once_against_the_line() {
    let w = world().await;
    let agreement = w.operator.sign_up("01", EMPLOYEE_TOKEN, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let id = agreement.body["id"].as_str().unwrap().to_string();
    let spent = w.settle_visit("MZ-B1").await["bank_fen"].as_i64().unwrap();
    assert_eq!(w.line_in_ledger(&id).await, (spent, 0));
    let path = format!("/api/v1/agreements/{id}/repayments");
    let paid = w.operator.post(&path, &json!({"amount_fen": 10_000, "source": "bank_transfer"})).await.unwrap();
    assert!(paid.ok(), "{paid:?}");
    assert_eq!(w.line_in_ledger(&id).await, (spent, 10_000));
    assert_eq!(w.debt(&id).await, spent - 10_000, "the ledger and the bank agree");
    // The bank's events read again (a restart, the next pass): nothing booked twice.
    w.sys.app.sync_bank_events().await.unwrap();
    assert_eq!(w.line_in_ledger(&id).await, (spent, 10_000));
    let ledger = w.operator.get("/api/v1/ledger").await.unwrap().body;
    assert_eq!(ledger["accounts"]["repaid_at_bank:BANK01"]["debits_posted"], json!(10_000), "{ledger}");
    // Repaid whole at the bank: the line's account stands at nothing owed.
    let rest = w.operator.post(&path, &json!({"amount_fen": spent - 10_000})).await.unwrap();
    assert!(rest.ok(), "{rest:?}");
    assert_eq!(w.line_in_ledger(&id).await, (spent, spent));
    assert_eq!(w.debt(&id).await, 0);
}

impl World {
    /// Bank staff freeze (冻结) or unfreeze the patient's line, through the bank's own signed API.
    async fn bank_sets_frozen(&self, bank_agreement_id: &str, frozen: bool) -> Value {
        let path = format!("/bank/v1/agreements/{bank_agreement_id}/freeze");
        let body = json!({"frozen": frozen}).to_string().into_bytes();
        let c = &self.sys.credentials;
        let nonce = wugan_bank::signing::new_nonce();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let staff = wugan::system::BANK_STAFF_KEY_ID;
        let headers = wugan_bank::signing::signed_headers(staff, &c.bank_staff_secret, "POST", &path, &body, now, &nonce);
        let mut request =
            reqwest::Client::new().post(format!("{}{path}", self.sys.bank_url)).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.unwrap()
    }

    /// The agreement once its seamless flag reads `enabled` (the bank's doorbell is asynchronous).
    async fn agreement_once(&self, id: &str, enabled: bool) -> Value {
        for _ in 0..100 {
            let a = self.agreement(id).await;
            if a["seamless"]["enabled"] == json!(enabled) {
                return a;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("seamless never became {enabled}: {}", self.agreement(id).await);
    }
}

#[tokio::test]
async fn a_line_the_bank_freezes_suspends_seamless_payment_until_it_is_unfrozen() {
    let w = world().await;
    let agreement = w.operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    let id = agreement.body["id"].as_str().unwrap().to_string();
    let bank_agreement_id = agreement.body["payment"]["bank_agreement_id"].as_str().unwrap().to_string();
    w.settle_visit("MZ-Z1").await;

    // Bank staff freeze the line: the bank rings the hub's doorbell, the hub suspends at once.
    let frozen = w.bank_sets_frozen(&bank_agreement_id, true).await;
    assert_eq!(frozen["status"], json!("frozen"));
    let a = w.agreement_once(&id, false).await;
    assert_eq!(a["seamless"]["suspended_reason"], json!("credit_frozen"));
    assert!(a["seamless"]["message"].as_str().unwrap().contains("冻结"), "{a}");
    // A visit registered now is not seamless, and the doctor's click says why.
    let v = w.visit("MZ-Z2").await;
    assert_eq!(v["seamless"]["reason"], json!("credit_frozen"));
    let vid = v["id"].as_str().unwrap();
    assert!(w.his.upload_fees(vid, &[fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.unwrap().ok());
    let refused = w.his.settle(vid).await.unwrap();
    assert_eq!(refused.code(), Some("seamless_not_enabled"));
    assert!(refused.message().contains("frozen"), "{}", refused.message());

    // Repaying does not lift a freeze; unfreezing does.
    let debt = w.debt(&id).await;
    assert!(w.operator.post(&format!("/api/v1/agreements/{id}/repayments"), &json!({"amount_fen": debt})).await.unwrap().ok());
    assert_eq!(w.agreement(&id).await["seamless"]["suspended_reason"], json!("credit_frozen"));
    w.bank_sets_frozen(&bank_agreement_id, false).await;
    w.agreement_once(&id, true).await;
    assert_eq!(w.visit("MZ-Z3").await["seamless"]["enabled"], json!(true));
}
