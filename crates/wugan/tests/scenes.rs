//! Every scene and every person through the hub (issue 13), end to end over HTTP: an emergency
//! visit, a special-disease visit with its own benefits, a patient with no insurance who pays the
//! whole bill from the credit line, and a patient insured in another region (异地). Amounts to the
//! fen, the ledger balanced, the partners' own books agreeing. On SQLite by default; with
//! WUGAN_TEST_DATABASE_URL=postgres://… (an admin URL), on a fresh PostgreSQL database.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
/// 黄丽, insured in Guangzhou (440100), treated in Shenzhen (440300).
const OUT_OF_AREA_TOKEN: &str = "EC44010000000000000006";
const OUT_OF_AREA_PSN_NO: &str = "44010000000000000006";
/// Two persons the sample file lacks: one never insured, one whose insurance is suspended.
const UNINSURED_CERTNO: &str = "440307199503031114";
const SUSPENDED_CERTNO: &str = "440308198811112225";

struct World {
    sys: System,
    operator: HisClient,
    his: HisClient,
    _dir: common::TempDir,
}

/// A fresh system whose insurance center knows the sample persons and the two without insurance.
async fn world() -> World {
    let (mut opts, dir) = common::fresh_options("scenes").await;
    std::fs::create_dir_all(&dir.0).expect("a data folder");
    let persons_file = dir.0.join("persons.jsonl");
    let mut lines: Vec<String> =
        wugan_insurance::sample_persons().iter().map(|p| serde_json::to_string(p).expect("a person as JSON")).collect();
    lines.push(
        json!({"psn_no": "44030000000000000007", "certno": UNINSURED_CERTNO, "psn_name": "孙七", "gend": "1",
               "brdy": "1995-03-03", "insutype": "", "psn_type": "", "insuplc_admdvs": "440300", "balc": 0})
        .to_string(),
    );
    lines.push(
        json!({"psn_no": "44030000000000000008", "certno": SUSPENDED_CERTNO, "psn_name": "周八", "gend": "2",
               "brdy": "1988-11-11", "insutype": "310", "psn_type": "1101", "insuplc_admdvs": "440300", "balc": 0,
               "psn_insu_stas": "2"})
        .to_string(),
    );
    std::fs::write(&persons_file, lines.join("\n")).expect("the persons file");
    opts.persons_file = Some(persons_file);
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    World { sys, operator, his, _dir: dir }
}

/// Consultation 25.00, blood count 20.00, two boxes of amoxicillin 37.00: 82.00.
fn ordinary_fees(visit_no: &str) -> Vec<Value> {
    vec![
        fee_line(&format!("{visit_no}-1"), "001102000010000", "25.00", "1", "25.00"),
        fee_line(&format!("{visit_no}-2"), "250101001000000", "20.00", "1", "20.00"),
        fee_line(&format!("{visit_no}-3"), "XJ01CAA040E001010101923", "18.50", "2", "37.00"),
    ]
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// A settlement's shares as (medfee, fund, personal account, cash, bank, unpaid).
fn shares(s: &Value) -> (i64, i64, i64, i64, i64, i64) {
    (fen(s, "medfee_fen"), fen(s, "fund_fen"), fen(s, "personal_account_fen"), fen(s, "cash_fen"), fen(s, "bank_fen"), fen(s, "unpaid_fen"))
}

impl World {
    async fn sign_up(&self, cert_type: &str, cert_no: &str) -> Value {
        let payment = json!({"method": "credit_line", "bank_code": "BANK01"});
        let agreement = self.operator.sign_up(cert_type, cert_no, true, payment).await.unwrap();
        assert!(agreement.ok(), "sign-up: {agreement:?}");
        agreement.body
    }

    /// Registers a visit of this 医疗类别, uploads the fees, clicks; the settlement's body.
    async fn visit(&self, visit_no: &str, cert_type: &str, cert_no: &str, med_type: &str, fees: &[Value]) -> (String, Value) {
        let registration = json!({"ipt_otp_no": visit_no, "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no,
                                  "med_type": med_type, "dept_code": "A03", "dept_name": "内科"});
        let visit = self.his.post("/api/v1/visits", &registration).await.unwrap();
        assert!(visit.ok(), "registration: {visit:?}");
        assert_eq!(visit.body["seamless"]["enabled"], json!(true), "{visit:?}");
        assert_eq!(visit.body["med_type"], json!(med_type));
        let id = visit.body["id"].as_str().unwrap().to_string();
        let up = self.his.upload_fees(&id, fees).await.unwrap();
        assert!(up.ok(), "{up:?}");
        let s = self.his.settle(&id).await.unwrap();
        assert!(s.ok(), "{s:?}");
        assert_eq!(s.body["state"], "settled", "{s:?}");
        (id, s.body)
    }

    async fn ledger(&self) -> Value {
        let r = self.operator.get("/api/v1/ledger").await.unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.body["balanced"], json!(true), "the ledger balances: {}", r.body);
        r.body
    }

    async fn bank_line(&self, agreement_id: &str) -> (i64, i64) {
        let payment = self.operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.unwrap().body["payment"].clone();
        (fen(&payment, "used_fen"), fen(&payment, "held_fen"))
    }

    /// The insurance center's own record of the settlements of this person.
    async fn insurance_settlements(&self, psn_no: &str) -> Vec<Value> {
        let all = common::insurance_sandbox(&self.sys, "/sandbox/settlements").await;
        let list = all.as_array().cloned().or_else(|| all["settlements"].as_array().cloned()).unwrap_or_default();
        list.into_iter().filter(|s| s["psn_no"] == json!(psn_no)).collect()
    }
}

/// A ledger account's posted balance (credits − debits), 0 when it has none.
fn posted(ledger: &Value, account: &str) -> i64 {
    let a = &ledger["accounts"][account];
    let n = |f: &str| a[f].as_i64().unwrap_or(0);
    n("credits_posted") - n("debits_posted")
}

#[tokio::test]
async fn emergency_and_special_disease_visits_settle_at_the_click_each_with_its_own_benefits() {
    let w = world().await;
    let agreement = w.sign_up("01", EMPLOYEE_TOKEN).await;
    let (_, ordinary) = w.visit("MZ1101", "01", EMPLOYEE_TOKEN, "11", &ordinary_fees("MZ1101")).await;
    let (_, emergency) = w.visit("JZ1301", "01", EMPLOYEE_TOKEN, "13", &ordinary_fees("JZ1301")).await;
    let (_, chronic) = w.visit("MT1401", "01", EMPLOYEE_TOKEN, "14", &ordinary_fees("MT1401")).await;

    // (medfee, fund, personal account, cash, bank, unpaid), as the insurance center settled them.
    assert_eq!(shares(&ordinary), (8200, 4100, 4100, 0, 0, 0), "ordinary (11): half from the fund: {ordinary}");
    assert_eq!(shares(&emergency), (8200, 4100, 4100, 0, 0, 0), "emergency (13), an outpatient benefit: {emergency}");
    assert_eq!(shares(&chronic), (8200, 7380, 820, 0, 0, 0), "special disease (14), the chronic benefit's 90%: {chronic}");

    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 3 * 8200);
    let center = w.insurance_settlements("44030000000000000001").await;
    assert_eq!(center.len(), 3, "three settlements at the insurance center: {center:?}");
    let used = [&ordinary, &emergency, &chronic].iter().map(|s| fen(s, "bank_fen")).sum::<i64>();
    assert_eq!(w.bank_line(agreement["id"].as_str().unwrap()).await, (used, 0));
}

#[tokio::test]
async fn a_patient_with_no_insurance_signs_up_and_the_credit_line_pays_the_whole_bill() {
    let w = world().await;
    let agreement = w.sign_up("02", UNINSURED_CERTNO).await;
    assert_eq!(agreement["status"], json!("active"), "{agreement}");
    assert_eq!((agreement["insutype"].as_str(), agreement["use_personal_account"].as_bool()), (Some(""), Some(false)));
    let (visit, s) = w.visit("ZF0001", "02", UNINSURED_CERTNO, "11", &ordinary_fees("ZF0001")).await;
    assert_eq!(shares(&s), (8200, 0, 0, 8200, 8200, 0), "all of it from the line: {s}");
    assert_eq!(fen(&s, "hospital_credited_fen"), 8200);
    let seen = w.his.get(&format!("/api/v1/visits/{visit}")).await.unwrap().body;
    assert_eq!((seen["insutype"].as_str(), seen["mdtrt_id"].as_str()), (Some(""), Some("")), "no insurance visit: {seen}");

    let agreement_id = agreement["id"].as_str().unwrap();
    assert_eq!(w.bank_line(agreement_id).await, (8200, 0));
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_received_fen"), 8200);
    assert!(w.insurance_settlements("44030000000000000007").await.is_empty(), "the insurance center saw nothing");
    let estimate = w.his.pre_settle(&visit).await.unwrap();
    assert_eq!(estimate.status, 409, "a settled visit has nothing to estimate: {estimate:?}");

    // Cancelled: the bank refunds the whole bill; nothing to reverse at the insurance center.
    let c = w.his.cancel(&visit).await.unwrap();
    assert_eq!(c.body["state"], "cancelled", "{c:?}");
    assert_eq!(w.bank_line(agreement_id).await, (0, 0));
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 0);
}

#[tokio::test]
async fn a_patient_whose_insurance_is_suspended_pays_self_seamlessly() {
    let w = world().await;
    let agreement = w.sign_up("02", SUSPENDED_CERTNO).await;
    let fees = vec![fee_line("ZF0002-1", "001102000010000", "25.00", "1", "25.00")];
    let (_, s) = w.visit("ZF0002", "02", SUSPENDED_CERTNO, "11", &fees).await;
    assert_eq!(shares(&s), (2500, 0, 0, 2500, 2500, 0), "{s}");
    assert_eq!(w.bank_line(agreement["id"].as_str().unwrap()).await, (2500, 0));
    w.ledger().await;
}

#[tokio::test]
async fn an_out_of_area_patient_settles_with_the_insured_places_fund() {
    let w = world().await;
    let agreement = w.sign_up("01", OUT_OF_AREA_TOKEN).await;
    // A 1,200-yuan examination beside the consultation: enough for the fund to pay its part.
    let fees = vec![
        fee_line("YD0001-1", "001102000010000", "25.00", "1", "25.00"),
        fee_line("YD0001-2", "013100000010000", "150.00", "8", "1200.00"),
    ];
    let (_, s) = w.visit("YD0001", "01", OUT_OF_AREA_TOKEN, "11", &fees).await;
    assert_eq!(shares(&s), (122500, 1625, 50000, 70875, 70875, 0), "{s}");

    let ledger = w.ledger().await;
    // The fund that pays is the insured place's (广州 440100), not the treatment place's.
    assert_eq!(posted(&ledger, "insurance_fund:440100:310"), -fen(&s, "fund_fen"));
    assert_eq!(posted(&ledger, "insurance_fund:440300:310"), 0);
    let center = w.insurance_settlements(OUT_OF_AREA_PSN_NO).await;
    assert_eq!(center.len(), 1, "{center:?}");
    assert_eq!(w.bank_line(agreement["id"].as_str().unwrap()).await, (fen(&s, "bank_fen"), 0));
}
