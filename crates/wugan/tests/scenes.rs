//! Every scene and every person through the hub (issue 13), end to end over HTTP: an emergency
//! visit, a special-disease visit with its own benefits, a patient with no insurance who pays the
//! whole bill from the credit line, and a patient insured in another region (异地). Amounts to the
//! fen, the ledger balanced, the partners' own books agreeing. On SQLite by default; with
//! WUGAN_TEST_DATABASE_URL=postgres://… (an admin URL), on a fresh PostgreSQL database.

use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
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
    world_with(|_| {}).await
}

/// `world`, with options of its own (a bank clock, faults on the bank's wire).
async fn world_with(adjust: impl FnOnce(&mut system::SystemOptions)) -> World {
    let (mut opts, dir) = common::fresh_options("scenes").await;
    adjust(&mut opts);
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
        common::center_settlements_of(&self.sys, psn_no).await
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

// ---- 住院: a stay with its deposit held on the line (issue 13, scope 1-3) ----

const BED: &str = "110900001000000"; // 甲, 60.00 a day
const AMOXICILLIN: &str = "XJ01CAA040E001010101923"; // 甲, 18.50 a box
const EXAMINATION: &str = "013100000010000"; // 150.00

impl World {
    /// Admits the patient with this deposit; the stay's body.
    async fn admit(&self, ipt_no: &str, cert_type: &str, cert_no: &str, deposit_fen: i64) -> Value {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "deposit_fen": deposit_fen});
        let stay = self.his.post("/api/v1/stays", &body).await.unwrap();
        assert!(stay.ok(), "admission: {stay:?}");
        stay.body
    }

    async fn stay_fees(&self, stay: &str, lines: &[Value]) -> Value {
        let r = self.his.post(&format!("/api/v1/stays/{stay}/fees"), &json!({"lines": lines})).await.unwrap();
        assert!(r.ok(), "fees: {r:?}");
        r.body
    }

    async fn bedside_click(&self, stay: &str) -> Value {
        let r = self.his.post(&format!("/api/v1/stays/{stay}/discharge"), &json!({})).await.unwrap();
        assert!(r.ok(), "discharge: {r:?}");
        r.body
    }
}

impl World {
    /// The hospital's invoices of one stay settlement (`{stay}:{setl_id}`), oldest first, with their ids.
    async fn stay_invoices(&self, stay: &str, setl_id: &str) -> Vec<(Value, String)> {
        let list = self.his.get("/api/v1/invoices").await.unwrap();
        assert!(list.ok(), "{list:?}");
        let name = format!("{stay}:{setl_id}");
        let mut out: Vec<(Value, String)> = list.body["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["settlement_id"] == json!(name))
            .map(|i| (i.clone(), i["id"].as_str().unwrap().to_string()))
            .collect();
        out.sort_by_key(|(i, _)| i["kind"].as_str().map(|k| k == "red"));
        out
    }
}

fn returned(sn: &str, init: &str, code: &str, price: &str, count: &str, total: &str) -> Value {
    let mut line = fee_line(sn, code, price, count, total);
    line["init_feedetl_sn"] = json!(init);
    line
}

#[tokio::test]
async fn a_five_day_stay_with_daily_uploads_and_a_drug_return_is_settled_at_the_bedside() {
    let w = world().await;
    let agreement = w.sign_up("01", EMPLOYEE_TOKEN).await;
    let agreement_id = agreement["id"].as_str().unwrap();
    // A 300-yuan deposit, held on the line: nothing paid at a window.
    let stay = w.admit("ZY0001", "01", EMPLOYEE_TOKEN, 30_000).await;
    assert_eq!((stay["state"].as_str(), stay["held_fen"].as_i64()), (Some("in_ward"), Some(30_000)), "{stay}");
    assert_eq!(w.bank_line(agreement_id).await, (0, 30_000), "held, not spent");
    let id = stay["id"].as_str().unwrap().to_string();

    // Five days: a bed day each, an examination on day 2, four boxes on day 3, one returned on day 4.
    let days = [
        vec![fee_line("D1-1", BED, "60.00", "1", "60.00")],
        vec![fee_line("D2-1", BED, "60.00", "1", "60.00"), fee_line("D2-2", EXAMINATION, "150.00", "1", "150.00")],
        vec![fee_line("D3-1", BED, "60.00", "1", "60.00"), fee_line("D3-2", AMOXICILLIN, "18.50", "4", "74.00")],
        vec![fee_line("D4-1", BED, "60.00", "1", "60.00"), returned("D4-2", "D3-2", AMOXICILLIN, "18.50", "-1", "-18.50")],
        vec![fee_line("D5-1", BED, "60.00", "1", "60.00")],
    ];
    let mut last = Value::Null;
    for lines in &days {
        last = w.stay_fees(&id, lines).await;
    }
    let charges = 6000 * 5 + 15_000 + 7_400 - 1_850;
    assert_eq!(last["charges_fen"].as_i64(), Some(charges), "{last}");
    let held = last["held_fen"].as_i64().unwrap();
    assert!(held >= charges, "the hold was raised ahead of the charges: {last}");
    assert_eq!(w.bank_line(agreement_id).await, (0, held));

    let settled = w.bedside_click(&id).await;
    let s = &settled["settlement"];
    assert_eq!(settled["state"], "settled", "{settled}");
    assert_eq!(fen(s, "medfee_fen"), charges);
    assert_eq!(fen(s, "fund_fen") + fen(s, "personal_account_fen") + fen(s, "cash_fen"), charges, "{s}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (fen(s, "cash_fen"), 0));
    assert_eq!(settled["held_fen"].as_i64(), Some(0));
    // The line carries the patient's cash share and holds nothing; the hospital has the whole stay.
    assert_eq!(w.bank_line(agreement_id).await, (fen(s, "bank_fen"), 0));
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_received_fen"), charges);
    // The same click again answers with the settled stay.
    assert_eq!(w.bedside_click(&id).await["settlement"], settled["settlement"]);

    // Its invoice (issue 16): issued once at the click, items by category adding up to the stay.
    let invoices = w.stay_invoices(&id, s["setl_id"].as_str().unwrap()).await;
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    let (blue, _) = &invoices[0];
    assert_eq!((blue["kind"].as_str(), blue["total_fen"].as_i64()), (Some("blue"), Some(charges)), "{blue}");
    let doc = w.his.get(&format!("/api/v1/invoices/{}", blue["id"].as_str().unwrap())).await.unwrap().body;
    let inv = &doc["invoice"];
    let items = inv["items"].as_array().unwrap();
    assert!(items.len() >= 2, "bed, examination and drugs by category: {inv}");
    assert_eq!(items.iter().map(|i| fen(i, "amount_fen")).sum::<i64>(), charges);
    assert_eq!(inv["bus_type"], "01", "an inpatient invoice");
    assert_eq!((fen(&inv["split"], "bank_fen"), fen(&inv["split"], "self_paid_fen")), (fen(s, "bank_fen"), 0));
    // The outbox pass finds nothing more to issue for it.
    w.sys.app.invoice_outbox_pass().await;
    assert_eq!(w.stay_invoices(&id, s["setl_id"].as_str().unwrap()).await.len(), 1, "never twice");
}

#[tokio::test]
async fn a_deposit_too_small_is_raised_and_a_raise_the_line_cannot_cover_leaves_it_short() {
    let w = world().await;
    // A resident (no personal account) on the default 5,000-yuan line.
    let agreement = w.sign_up("02", "440304198507203318").await;
    let agreement_id = agreement["id"].as_str().unwrap();
    let stay = w.admit("ZY0002", "02", "440304198507203318", 10_000).await;
    let id = stay["id"].as_str().unwrap().to_string();
    // 150 yuan against a 100-yuan hold: raised to 225.
    let raised = w.stay_fees(&id, &[fee_line("R1", EXAMINATION, "150.00", "1", "150.00")]).await;
    assert_eq!((raised["state"].as_str(), raised["held_fen"].as_i64()), (Some("in_ward"), Some(22_500)), "{raised}");
    // 3,450 more (self-paid, as the examination is for a resident): the rule's raise to 5,400
    // yuan is more than the 4,775 the line has left.
    let short = w.stay_fees(&id, &[fee_line("R2", EXAMINATION, "150.00", "23", "3450.00")]).await;
    assert_eq!(short["state"], "deposit_short", "{short}");
    assert_eq!((short["deposit_short"].as_str(), short["held_fen"].as_i64()), (Some("insufficient_credit"), Some(22_500)));
    assert_eq!(w.bank_line(agreement_id).await, (0, 22_500), "never an overdraft");

    // At the bedside the share is above the hold but within the line: raised onto the hold, then
    // captured whole (issue 13 scope 3), never a bill the line could have paid.
    let settled = w.bedside_click(&id).await;
    let s = &settled["settlement"];
    assert_eq!(settled["state"], "settled", "{settled}");
    assert_eq!(fen(s, "cash_fen"), 360_000, "the share is above the hold: {s}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (fen(s, "cash_fen"), 0), "{s}");
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_unpaid_fen"), 0);
    assert_eq!(w.bank_line(agreement_id).await, (fen(s, "bank_fen"), 0), "captured once, nothing left held");
}

#[tokio::test]
async fn a_share_above_what_the_line_can_cover_is_captured_up_to_the_hold_and_the_rest_billed() {
    let w = world().await;
    // A resident on the default 5,000-yuan line, a 100-yuan deposit raised to 225 by the rule.
    let agreement = w.sign_up("02", "440304198507203318").await;
    let agreement_id = agreement["id"].as_str().unwrap();
    let id = w.admit("ZY0009", "02", "440304198507203318", 10_000).await["id"].as_str().unwrap().to_string();
    w.stay_fees(&id, &[fee_line("B1", EXAMINATION, "150.00", "1", "150.00")]).await;
    // 30,000 yuan more: the rule's raise is declined, and so is the share above the hold.
    let short = w.stay_fees(&id, &[fee_line("B2", EXAMINATION, "150.00", "200", "30000.00")]).await;
    assert_eq!((short["state"].as_str(), short["held_fen"].as_i64()), (Some("deposit_short"), Some(22_500)), "{short}");
    let settled = w.bedside_click(&id).await;
    let s = &settled["settlement"];
    assert_eq!((settled["state"].as_str(), s["decline_code"].as_str()), (Some("settled_unpaid"), Some("insufficient_credit")), "{settled}");
    assert!(fen(s, "cash_fen") > 500_000, "more than the whole line: {s}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (22_500, fen(s, "cash_fen") - 22_500), "{s}");
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_unpaid_fen"), fen(s, "unpaid_fen"), "the bill is a receivable in the ledger");
    assert_eq!(w.bank_line(agreement_id).await, (22_500, 0), "never an overdraft");
}

#[tokio::test]
async fn a_deposit_hold_outlives_a_week_in_the_ward_and_the_bedside_click_captures_it() {
    let clock = Arc::new(wugan_bank::ManualClock::new(time::OffsetDateTime::now_utc().unix_timestamp()));
    let bank_clock = clock.clone();
    let w = world_with(move |opts| opts.bank_clock = Some(bank_clock)).await;
    let agreement = w.sign_up("02", "440304198507203318").await;
    let agreement_id = agreement["id"].as_str().unwrap();
    let id = w.admit("ZY0003", "02", "440304198507203318", 50_000).await["id"].as_str().unwrap().to_string();
    w.stay_fees(&id, &[fee_line("E1", EXAMINATION, "150.00", "1", "150.00")]).await;
    // A bank's default hold lasts seven days; a stay's is asked for as long as the bank allows
    // (90 days): eight pass before the click, and the hold is still there to capture.
    clock.advance(8 * 86_400);
    let settled = w.bedside_click(&id).await;
    let s = &settled["settlement"];
    assert_eq!((settled["state"].as_str(), s["decline_code"].as_str()), (Some("settled"), None), "{settled}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (fen(s, "cash_fen"), 0));
    assert_eq!(w.bank_line(agreement_id).await, (fen(s, "cash_fen"), 0), "captured, nothing left held");
    let ledger = w.ledger().await;
    assert_eq!(fen(&ledger, "hospitals_unpaid_fen"), 0);
}

#[tokio::test]
async fn a_crash_between_the_capture_and_its_record_is_finished_by_a_fresh_hub_on_the_same_database() {
    // The bank captures, and its answer is lost: the hub cannot know, and stops there.
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "POST captures".into(), nth: 1, fault: Fault::LoseReply }]));
    let bank_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.bank_faults = Some(bank_plan);
        opts.manual_recovery = true;
    })
    .await;
    let agreement = w.sign_up("01", EMPLOYEE_TOKEN).await;
    let agreement_id = agreement["id"].as_str().unwrap();
    let id = w.admit("ZY0004", "01", EMPLOYEE_TOKEN, 100_000).await["id"].as_str().unwrap().to_string();
    w.stay_fees(&id, &[fee_line("C1", EXAMINATION, "150.00", "8", "1200.00")]).await;
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.unwrap();
    assert_eq!(click.status, 503, "{click:?}");
    let cut = w.his.get(&format!("/api/v1/stays/{id}")).await.unwrap().body;
    assert_eq!(cut["state"], "insurance_settled", "{cut}");
    assert_eq!(plan.counts().1, 1, "the fault was injected");

    // A fresh hub on the same database (the first one gone) asks the bank, which has the
    // capture on record, and finishes the stay: the patient pays once.
    let config = &w.sys.app.config;
    let store = wugan_hub::store::Store::connect(&w.sys.database_url).await.expect("the same database");
    let fresh = wugan_hub::app::App::new(
        store,
        wugan_hub::app::HubConfig {
            admdvs: config.admdvs.clone(),
            insurance_url: config.insurance_url.clone(),
            insurance_credentials: config.insurance_credentials.clone(),
            banks: config.banks.clone(),
            default_credit_limit: config.default_credit_limit,
            partner_timeout: config.partner_timeout,
            data_key: config.data_key.clone(),
        },
    );
    w.sys.stop();
    fresh.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    let stay = fresh.stay(cut["hospital_code"].as_str().unwrap(), &id).await.expect("the stay");
    assert_eq!(stay.state, "settled", "{stay:?}");
    let paid = stay.settlement.expect("settled");
    assert_eq!((paid.bank_fen, paid.unpaid_fen, stay.held_fen), (paid.cash_fen, 0, 0));
    let line = fresh.agreement(agreement_id).await.expect("the agreement").payment;
    assert_eq!((line.used_fen, line.held_fen), (Some(paid.bank_fen), Some(0)), "captured once, nothing left held");
}

#[tokio::test]
async fn a_discharge_is_undone_for_corrected_fees_and_a_cancelled_admission_releases_its_hold() {
    // The first 2303 goes unanswered: the stay waits, discharged.
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "2303".into(), nth: 1, fault: Fault::Refuse }]));
    let insurance_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.insurance_faults = Some(insurance_plan);
        opts.manual_recovery = true;
    })
    .await;
    let agreement = w.sign_up("01", EMPLOYEE_TOKEN).await;
    let agreement_id = agreement["id"].as_str().unwrap();
    let id = w.admit("ZY0005", "01", EMPLOYEE_TOKEN, 20_000).await["id"].as_str().unwrap().to_string();
    let early = w.his.post(&format!("/api/v1/stays/{id}/discharge/cancel"), &json!({})).await.unwrap();
    assert_eq!((early.status, early.code()), (409, Some("stay_not_open")), "not discharged yet: {early:?}");
    w.stay_fees(&id, &[fee_line("U1", BED, "60.00", "1", "60.00")]).await;
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.unwrap();
    assert_eq!(click.status, 503, "{click:?}");
    // The ward undoes the discharge (2405): back in the ward with its hold, for one more day.
    let undone = w.his.post(&format!("/api/v1/stays/{id}/discharge/cancel"), &json!({})).await.unwrap();
    assert!(undone.ok(), "{undone:?}");
    assert_eq!((undone.body["state"].as_str(), undone.body["held_fen"].as_i64()), (Some("in_ward"), Some(20_000)));
    w.stay_fees(&id, &[fee_line("U2", BED, "60.00", "1", "60.00")]).await;
    // Discharged again with new requests (the old ones would only replay their answers).
    let settled = w.bedside_click(&id).await;
    assert_eq!((settled["state"].as_str(), settled["settlement"]["medfee_fen"].as_i64()), (Some("settled"), Some(12_000)), "{settled}");
    assert_eq!(plan.counts().1, 1, "the fault was injected");
    // A second stay is cancelled before discharge (2404): its hold goes, nothing is charged.
    let second = w.admit("ZY0006", "01", EMPLOYEE_TOKEN, 30_000).await["id"].as_str().unwrap().to_string();
    let used = w.bank_line(agreement_id).await.0;
    assert_eq!(w.bank_line(agreement_id).await, (used, 30_000));
    let cancelled = w.his.post(&format!("/api/v1/stays/{second}/cancel"), &json!({})).await.unwrap();
    assert!(cancelled.ok(), "{cancelled:?}");
    assert_eq!((cancelled.body["state"].as_str(), cancelled.body["held_fen"].as_i64()), (Some("cancelled"), Some(0)));
    assert_eq!(w.bank_line(agreement_id).await, (used, 0), "released, nothing charged");
    let again = w.his.post(&format!("/api/v1/stays/{second}/cancel"), &json!({})).await.unwrap();
    assert_eq!((again.status, again.body["state"].as_str()), (200, Some("cancelled")), "a retry reads it cancelled: {again:?}");
    // The ward lists its stays: by 住院号, and those still under way.
    let by_number = w.his.get("/api/v1/stays?ipt_no=ZY0006").await.unwrap().body;
    let ids: Vec<&str> = by_number["stays"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, [second.as_str()], "{by_number}");
    let open = w.his.get("/api/v1/stays?open=true").await.unwrap().body;
    assert!(open["stays"].as_array().unwrap().iter().all(|s| s["id"] != json!(second)), "a cancelled stay is over: {open}");
    let bad = w.his.get("/api/v1/stays?limit=0").await.unwrap();
    assert_eq!((bad.status, bad.code()), (400, Some("bad_query")), "{bad:?}");
    // The ward admits again under the cancelled stay's 住院号, and under the settled one's (an HIS
    // whose 住院号 is the patient's own); a number under way names its stay.
    let again = w.admit("ZY0006", "01", EMPLOYEE_TOKEN, 10_000).await["id"].as_str().unwrap().to_string();
    assert_ne!(again, second, "a new stay");
    let admission = json!({"ipt_no": "ZY0006", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 10_000});
    let taken = w.his.post("/api/v1/stays", &admission).await.unwrap();
    assert_eq!(
        (taken.status, taken.code(), taken.body["error"]["stay_id"].as_str()),
        (409, Some("stay_exists"), Some(again.as_str())),
        "{taken:?}"
    );
    let readmitted = w.admit("ZY0005", "01", EMPLOYEE_TOKEN, 10_000).await;
    assert_eq!(readmitted["state"], "in_ward", "{readmitted}");
    for stay in [again, readmitted["id"].as_str().unwrap().to_string()] {
        assert!(w.his.post(&format!("/api/v1/stays/{stay}/cancel"), &json!({})).await.unwrap().ok());
    }
    w.ledger().await;
}

#[tokio::test]
async fn a_raise_whose_answer_is_lost_leaves_the_fees_accepted_and_the_click_finishes_it() {
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "POST increments".into(), nth: 1, fault: Fault::LoseReply }]));
    let bank_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.bank_faults = Some(bank_plan);
        opts.manual_recovery = true;
    })
    .await;
    let agreement = w.sign_up("01", EMPLOYEE_TOKEN).await;
    let agreement_id = agreement["id"].as_str().unwrap();
    let id = w.admit("ZY0007", "01", EMPLOYEE_TOKEN, 10_000).await["id"].as_str().unwrap().to_string();
    let lines = [fee_line("L1", EXAMINATION, "150.00", "1", "150.00")];
    let fees = w.stay_fees(&id, &lines).await;
    assert_eq!((fees["state"].as_str(), fees["charges_fen"].as_i64()), (Some("raising_deposit"), Some(15_000)), "{fees}");
    // The same upload again (its answer lost) changes nothing.
    assert_eq!(w.stay_fees(&id, &lines).await["charges_fen"].as_i64(), Some(15_000));
    // The bank did raise the hold; the click asks it, then settles on the raised hold.
    assert_eq!(w.bank_line(agreement_id).await, (0, 22_500), "raised to 150% of the charges");
    let settled = w.bedside_click(&id).await;
    assert_eq!(settled["state"], "settled", "{settled}");
    assert_eq!(w.bank_line(agreement_id).await, (fen(&settled["settlement"], "bank_fen"), 0));
    assert_eq!(plan.counts().1, 1, "the fault was injected");
    w.ledger().await;
}

#[tokio::test]
async fn a_stays_settlement_is_cancelled_and_the_capture_refunded_to_the_line() {
    let w = world().await;
    let agreement = w.sign_up("02", "440304198507203318").await;
    let agreement_id = agreement["id"].as_str().unwrap();
    let id = w.admit("ZY0008", "02", "440304198507203318", 50_000).await["id"].as_str().unwrap().to_string();
    w.stay_fees(&id, &[fee_line("X1", EXAMINATION, "150.00", "2", "300.00")]).await;
    let settled = w.bedside_click(&id).await;
    let bank_fen = fen(&settled["settlement"], "bank_fen");
    assert!(bank_fen > 0, "{settled}");
    assert_eq!(w.bank_line(agreement_id).await, (bank_fen, 0));
    let cancelled = w.his.post(&format!("/api/v1/stays/{id}/settlement/cancel"), &json!({})).await.unwrap();
    assert!(cancelled.ok(), "{cancelled:?}");
    assert_eq!((cancelled.body["state"].as_str(), cancelled.body["held_fen"].as_i64()), (Some("settlement_cancelled"), Some(0)));
    assert_eq!(w.bank_line(agreement_id).await, (0, 0), "the capture went back to the line");
    // The ward's retry (its answer lost, the work done meanwhile) reads the cancelled settlement.
    let again = w.his.post(&format!("/api/v1/stays/{id}/settlement/cancel"), &json!({})).await.unwrap();
    assert_eq!((again.status, again.body["state"].as_str()), (200, Some("settlement_cancelled")), "{again:?}");
    assert_eq!(w.bank_line(agreement_id).await, (0, 0), "refunded once");
    let ledger = w.ledger().await;
    assert_eq!((fen(&ledger, "hospitals_received_fen"), fen(&ledger, "hospitals_unpaid_fen")), (0, 0));
    // The blue invoice is red-flushed (冲红) by a red one of its own number that offsets it.
    let invoices = w.stay_invoices(&id, settled["settlement"]["setl_id"].as_str().unwrap()).await;
    let kinds: Vec<(&str, i64)> = invoices.iter().map(|(i, _)| (i["kind"].as_str().unwrap(), fen(i, "total_fen"))).collect();
    assert_eq!(kinds, [("blue", 30_000), ("red", -30_000)], "{invoices:?}");
    assert_eq!(invoices[1].0["offsets_id"], invoices[0].0["id"]);
    // Back to the ward (2405), as before the discharge.
    let undone = w.his.post(&format!("/api/v1/stays/{id}/discharge/cancel"), &json!({})).await.unwrap();
    assert_eq!(undone.body["state"], "in_ward", "{undone:?}");
}

#[tokio::test]
async fn a_stay_whose_bank_stays_silent_is_parked_with_evidence_and_an_operator_retries_it() {
    // The capture's answer is lost at the click; then the bank is out of reach for the hub.
    let plan = Arc::new(FaultPlan::scripted(vec![Rule { step: "POST captures".into(), nth: 1, fault: Fault::LoseReply }]));
    let bank_plan = plan.clone();
    let w = world_with(move |opts| {
        opts.bank_faults = Some(bank_plan);
        opts.manual_recovery = true;
    })
    .await;
    w.sign_up("01", EMPLOYEE_TOKEN).await;
    let id = w.admit("ZY0010", "01", EMPLOYEE_TOKEN, 100_000).await["id"].as_str().unwrap().to_string();
    w.stay_fees(&id, &[fee_line("P1", EXAMINATION, "150.00", "8", "1200.00")]).await;
    let click = w.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.unwrap();
    assert_eq!(click.status, 503, "{click:?}");

    // A hub on the same database whose bank does not answer: every recovery pass fails, is
    // counted, and after the retry budget the stay waits in the exceptions queue.
    let config = &w.sys.app.config;
    let mut banks = config.banks.clone();
    banks.iter_mut().for_each(|b| b.url = "http://127.0.0.1:9".into());
    let store = wugan_hub::store::Store::connect(&w.sys.database_url).await.expect("the same database");
    let cut_off = wugan_hub::app::App::new(
        store,
        wugan_hub::app::HubConfig {
            admdvs: config.admdvs.clone(),
            insurance_url: config.insurance_url.clone(),
            insurance_credentials: config.insurance_credentials.clone(),
            banks,
            default_credit_limit: config.default_credit_limit,
            partner_timeout: config.partner_timeout,
            data_key: config.data_key.clone(),
        },
    );
    for _ in 0..wugan_hub::app::MAX_ATTEMPTS {
        cut_off.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    }
    let queue = w.operator.get("/api/v1/exceptions").await.unwrap().body;
    let parked = queue["stays"].as_array().unwrap();
    assert_eq!(parked.len(), 1, "{queue}");
    assert_eq!((parked[0]["id"].as_str(), parked[0]["state"].as_str()), (Some(id.as_str()), Some("insurance_settled")));
    assert_eq!(parked[0]["attempts"].as_i64(), Some(wugan_hub::app::MAX_ATTEMPTS));
    let reason = parked[0]["parked_reason"].as_str().unwrap();
    assert!(reason.contains("bank") && !reason.contains("Idempotency-Key"), "the evidence names the silent partner: {queue}");
    // Parked, the worker leaves it alone.
    assert_eq!(cut_off.resume_unfinished(std::time::Duration::ZERO).await.expect("a pass"), 0);

    // The bank is back: the operator's retry finishes it with the same capture id; paid once.
    let retried = w.operator.post(&format!("/api/v1/exceptions/stays/{id}/retry"), &json!({})).await.unwrap();
    assert!(retried.ok(), "{retried:?}");
    assert_eq!(retried.body["state"], "settled", "{retried:?}");
    let paid = &retried.body["settlement"];
    assert_eq!((fen(paid, "bank_fen"), fen(paid, "unpaid_fen")), (fen(paid, "cash_fen"), 0));
    let queue = w.operator.get("/api/v1/exceptions").await.unwrap().body;
    assert_eq!(queue["stays"], json!([]), "out of the queue");
    let again = w.operator.post(&format!("/api/v1/exceptions/stays/{id}/retry"), &json!({})).await.unwrap();
    assert_eq!((again.status, again.code()), (409, Some("not_parked")));
    w.ledger().await;
}

// ---- everyone in a ward: 急诊转住院 and a child without an e-voucher (issue 13, scope 4 and the seeds' 全覆盖) ----

const EMPLOYEE_PSN_NO: &str = "44030000000000000001";
const CHILD_CERTNO: &str = "440306201205056727";

#[tokio::test]
async fn an_emergency_patient_admitted_to_a_ward_is_settled_at_the_bedside_as_emergency_to_inpatient() {
    let w = world().await;
    let agreement = w.sign_up("01", EMPLOYEE_TOKEN).await;
    let agreement_id = agreement["id"].as_str().unwrap();
    // Brought in through the emergency room, admitted the same night: 医疗类别 24, the deposit held.
    let body =
        json!({"ipt_no": "ZY0024", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "med_type": "24", "deposit_fen": 20_000});
    let stay = w.his.post("/api/v1/stays", &body).await.unwrap();
    assert!(stay.ok(), "admission: {stay:?}");
    assert_eq!((stay.body["med_type"].as_str(), stay.body["held_fen"].as_i64()), (Some("24"), Some(20_000)), "{}", stay.body);
    let id = stay.body["id"].as_str().unwrap().to_string();
    w.stay_fees(&id, &[fee_line("E1-1", BED, "60.00", "1", "60.00"), fee_line("E1-2", EXAMINATION, "150.00", "1", "150.00")]).await;

    let settled = w.bedside_click(&id).await;
    let s = &settled["settlement"];
    assert_eq!((settled["state"].as_str(), fen(s, "medfee_fen")), (Some("settled"), 21_000), "{settled}");
    assert_eq!(fen(s, "fund_fen") + fen(s, "personal_account_fen") + fen(s, "cash_fen"), 21_000, "{s}");
    assert_eq!(w.bank_line(agreement_id).await, (fen(s, "bank_fen"), 0), "captured from the hold, the rest released");
    // Settled as what it was (emergency to inpatient), once at the center.
    assert_eq!(settled["med_type"], "24", "{settled}");
    let center: Vec<Value> = w.insurance_settlements(EMPLOYEE_PSN_NO).await.into_iter().filter(|c| c["setl_id"] == s["setl_id"]).collect();
    assert_eq!(center.len(), 1, "{center:?}");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 21_000);
}

#[tokio::test]
async fn a_child_without_an_e_voucher_stays_in_a_ward_on_the_parents_line() {
    let w = world().await;
    let parent = w.sign_up("01", EMPLOYEE_TOKEN).await;
    let agreement_id = parent["id"].as_str().unwrap().to_string();
    let family = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": CHILD_CERTNO, "relation": "child",
                        "consent": {"method": "guardian", "reference": "户口本 HK-2024-002"}});
    let linked = w.operator.post(&format!("/api/v1/agreements/{agreement_id}/family"), &family).await.unwrap();
    assert!(linked.ok(), "{linked:?}");

    // The ward admits the child by the ID number; the deposit is held on the parent's line.
    let stay = w.admit("ZY0025", "02", CHILD_CERTNO, 15_000).await;
    assert_eq!(stay["psn_no"], "44030000000000000005", "the child's own insurance: {stay}");
    assert_eq!(w.bank_line(&agreement_id).await, (0, 15_000), "held on the parent's line");
    let id = stay["id"].as_str().unwrap().to_string();
    w.stay_fees(&id, &[fee_line("C1-1", BED, "60.00", "2", "120.00"), fee_line("C1-2", AMOXICILLIN, "18.50", "2", "37.00")]).await;

    let settled = w.bedside_click(&id).await;
    let s = &settled["settlement"];
    assert_eq!((settled["state"].as_str(), fen(s, "medfee_fen")), (Some("settled"), 15_700), "{settled}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (fen(s, "cash_fen"), 0), "{s}");
    assert_eq!(w.bank_line(&agreement_id).await, (fen(s, "bank_fen"), 0), "the parent's line paid the child's share");
    assert_eq!(fen(&w.ledger().await, "hospitals_received_fen"), 15_700);
}

// ---- 2203: the diagnoses a platform needs, sent at registration (issue 15) ----

#[tokio::test]
async fn the_diagnoses_given_at_registration_reach_the_insurance_center_with_the_visit() {
    let w = world().await;
    w.sign_up("01", EMPLOYEE_TOKEN).await;
    let diagnoses = json!([
        {"diag_type": "1", "diag_srt_no": 1, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染", "diag_dept": "内科",
         "dise_dor_no": "D001", "dise_dor_name": "李医生", "diag_time": "2026-11-30 09:00:00", "maindiag_flag": "1"},
        {"diag_code": "R50.900", "diag_name": "发热"},
    ]);
    // A diagnosis without its code is refused before anything is registered.
    let bad = json!({"ipt_otp_no": "MZ2203-0", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN,
                     "diseinfo": [{"diag_code": " ", "diag_name": "发热"}]});
    let refused = w.his.post("/api/v1/visits", &bad).await.unwrap();
    assert_eq!((refused.status, refused.code()), (422, Some("bad_diagnosis")), "{refused:?}");
    let none = w.his.get("/api/v1/visits?ipt_otp_no=MZ2203-0").await.unwrap();
    assert_eq!(none.body["visits"], json!([]), "nothing registered: {none:?}");

    let body = json!({"ipt_otp_no": "MZ2203-1", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "med_type": "11",
                      "main_cond_dscr": "发热两天", "diseinfo": diagnoses});
    let visit = w.his.post("/api/v1/visits", &body).await.unwrap();
    assert!(visit.ok(), "{visit:?}");
    let mdtrt_id = visit.body["mdtrt_id"].as_str().unwrap().to_string();
    let at_center = common::insurance_sandbox(&w.sys, &format!("/sandbox/visits/{mdtrt_id}")).await;
    assert_eq!(at_center["diagnoses"], json!(["J06.900", "R50.900"]), "the main diagnosis first: {at_center}");
    assert_eq!(at_center["med_type"], "11", "{at_center}");
    // The visit settles as any other.
    let id = visit.body["id"].as_str().unwrap();
    assert!(w.his.upload_fees(id, &[fee_line("MZ2203-1-1", EXAMINATION, "150.00", "1", "150.00")]).await.unwrap().ok());
    assert_eq!(w.his.settle(id).await.unwrap().body["state"], "settled");
}

#[tokio::test]
async fn the_ward_changes_an_admission_to_emergency_with_its_diagnoses_until_the_patient_leaves() {
    let w = world().await;
    w.sign_up("01", EMPLOYEE_TOKEN).await;
    let stay = w.admit("ZY2403", "01", EMPLOYEE_TOKEN, 20_000).await;
    let (id, mdtrt_id) = (stay["id"].as_str().unwrap().to_string(), stay["mdtrt_id"].as_str().unwrap().to_string());
    let path = format!("/api/v1/stays/{id}/admission");

    // 入院信息变更: admitted through the emergency room after all; the ward and the diagnoses too.
    assert_eq!(w.his.post(&path, &json!({"med_type": "11"})).await.unwrap().code(), Some("bad_med_type"));
    let change = json!({"med_type": "24", "adm_dept_codg": "A02", "adm_dept_name": "急诊科", "adm_bed": "E-12",
                        "diseinfo": [{"diag_code": "I21.900", "diag_name": "急性心肌梗死", "maindiag_flag": "1"}]});
    let changed = w.his.post(&path, &change).await.unwrap();
    assert!(changed.ok(), "{changed:?}");
    assert_eq!((changed.body["med_type"].as_str(), changed.body["state"].as_str()), (Some("24"), Some("in_ward")), "{}", changed.body);
    let at_center = common::insurance_sandbox(&w.sys, &format!("/sandbox/visits/{mdtrt_id}")).await;
    assert_eq!((at_center["med_type"].clone(), at_center["diagnoses"].clone()), (json!("24"), json!(["I21.900"])), "{at_center}");

    // The bedside click settles it; after that the admission no longer changes.
    w.stay_fees(&id, &[fee_line("Z1-1", BED, "60.00", "1", "60.00")]).await;
    let settled = w.bedside_click(&id).await;
    assert_eq!((settled["state"].as_str(), settled["med_type"].as_str()), (Some("settled"), Some("24")), "{settled}");
    let late = w.his.post(&path, &json!({"adm_bed": "E-13"})).await.unwrap();
    assert_eq!((late.status, late.code()), (409, Some("stay_not_open")), "{late:?}");
}
