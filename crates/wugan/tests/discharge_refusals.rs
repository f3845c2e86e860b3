//! The bedside click (病区结算) when the insurance center refuses the discharge (2402): the ward
//! hears why (422 `insurance_refused`, the center's answer), the patient stays in the ward with the
//! deposit held as it was — nothing captured, nothing released — and the stay shows the reason
//! until a later click goes through and settles the stay to the fen. The center refuses 2402 of
//! its own accord here: another desk of the hospital, speaking the national interface through the
//! hub's drop-in prefix, has discharged the admission at the center already. On SQLite; with
//! WUGAN_TEST_DATABASE_URL, on PostgreSQL.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
const EMPLOYEE_PSN_NO: &str = "44030000000000000001";
const BED: &str = "110900001000000"; // 甲, 60.00 a day
const EXAMINATION: &str = "013100000010000"; // 150.00

/// Another desk of the same hospital that speaks the national interface itself (an openhis-style
/// HIS at the hub's `/ni/<token>` prefix): it can discharge an admission at the center (2402)
/// and undo that (2405) without the ward's click.
struct NationalDesk {
    http: reqwest::Client,
    url: String,
    code: String,
    sign_no: String,
    seq: AtomicU64,
}

impl NationalDesk {
    async fn open(sys: &system::System) -> NationalDesk {
        let hospital = sys.credentials.hospitals[0].clone();
        let added =
            wugan_hub::app::national_interface::register_hospital(&sys.app.store, &hospital.code, &hospital.name).await.expect("added");
        let url = format!("{}{}/fsi/api/rsfComIfsService/callService", sys.hub_url, added.national_interface_prefix);
        let mut desk =
            NationalDesk { http: reqwest::Client::new(), url, code: hospital.code, sign_no: String::new(), seq: AtomicU64::new(1) };
        let signed_in = desk.call("9001", json!({"signIn": {"opter_no": "0002", "mac": "", "ip": "127.0.0.1"}})).await;
        assert_eq!(signed_in["infcode"].as_i64(), Some(0), "9001: {signed_in}");
        desk.sign_no = signed_in["output"]["signinoutb"]["sign_no"].as_str().expect("sign_no").to_string();
        desk
    }

    /// One envelope as the desk writes it: the center's reply, forwarded as it came.
    async fn call(&self, infno: &str, input: Value) -> Value {
        let msgid = format!("{}20261130{:010}", self.code, self.seq.fetch_add(1, Ordering::Relaxed));
        let envelope = json!({"infno": infno, "msgid": msgid, "mdtrtarea_admvs": "440300", "insuplc_admdvs": "440300",
            "recer_sys_code": "OPENHIS", "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "SM2", "infver": "V1.0",
            "opter_type": "1", "opter": "0002", "opter_name": "住院处", "inf_time": "2026-11-30 10:00:00",
            "fixmedins_code": self.code, "fixmedins_name": "示例医院", "sign_no": self.sign_no, "input": input});
        let response = self.http.post(&self.url).json(&envelope).send().await.expect("the hub answers");
        assert_eq!(response.status().as_u16(), 200, "{infno}");
        response.json().await.expect("a JSON reply")
    }

    /// 2402 for the admission `mdtrt_id`, as that desk sends it: accepted by the center.
    async fn discharge(&self, mdtrt_id: &str) {
        let info = json!({"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": EMPLOYEE_PSN_NO, "endtime": "", "dscg_way": "1"}});
        let reply = self.call("2402", info).await;
        assert_eq!(reply["infcode"].as_i64(), Some(0), "2402 at the desk: {reply}");
    }

    /// 2405: the desk undoes its discharge.
    async fn undo_discharge(&self, mdtrt_id: &str) {
        let reply = self.call("2405", json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": EMPLOYEE_PSN_NO}})).await;
        assert_eq!(reply["infcode"].as_i64(), Some(0), "2405 at the desk: {reply}");
    }
}

struct World {
    sys: system::System,
    his: HisClient,
    operator: HisClient,
    agreement_id: String,
    _dir: common::TempDir,
}

/// A system with the employee signed up on a credit line (the personal account not used: the cash
/// share is the line's), and no recovery worker (nothing moves a stay but the test's requests).
async fn world() -> World {
    let (mut opts, dir) = common::fresh_options("dscg").await;
    opts.manual_recovery = true;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let payment = json!({"method": "credit_line", "bank_code": "BANK01"});
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, false, payment).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let agreement_id = agreement.body["id"].as_str().expect("agreement id").to_string();
    World { sys, his, operator, agreement_id, _dir: dir }
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

impl World {
    /// Admits the employee with a 300-yuan deposit held on the line: the stay's view.
    async fn admit(&self, ipt_no: &str) -> Value {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000});
        let stay = self.his.post("/api/v1/stays", &body).await.expect("hub");
        assert!(stay.ok(), "admission: {stay:?}");
        stay.body
    }

    async fn stay(&self, id: &str) -> Value {
        self.his.get(&format!("/api/v1/stays/{id}")).await.expect("hub").body
    }

    /// The bedside click.
    async fn discharge(&self, id: &str) -> Reply {
        self.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub")
    }

    /// What the line has captured (used) and holds.
    async fn bank_line(&self) -> (i64, i64) {
        let payment = self.operator.get(&format!("/api/v1/agreements/{}", self.agreement_id)).await.expect("hub").body["payment"].clone();
        (fen(&payment, "used_fen"), fen(&payment, "held_fen"))
    }

    /// The hub's ledger, balanced: (received by hospitals, held pending).
    async fn ledger(&self) -> (i64, i64) {
        let r = self.operator.get("/api/v1/ledger").await.expect("hub");
        assert_eq!(r.body["balanced"], json!(true), "the ledger balances: {}", r.body);
        let pending = r.body["accounts"].as_object().into_iter().flatten().map(|(_, a)| a["credits_pending"].as_i64().unwrap_or(0)).sum();
        (fen(&r.body, "hospitals_received_fen"), pending)
    }

    /// The center's own settlements of the employee.
    async fn center_settlements(&self) -> Vec<Value> {
        common::center_settlements_of(&self.sys, EMPLOYEE_PSN_NO).await
    }
}

#[tokio::test]
async fn a_discharge_the_center_refuses_leaves_the_patient_in_the_ward_with_the_deposit_and_the_reason_until_a_click_goes_through() {
    let w = world().await;
    let admitted = w.admit("ZY2001").await;
    let id = admitted["id"].as_str().expect("stay id").to_string();
    let mdtrt_id = admitted["mdtrt_id"].as_str().expect("admitted").to_string();
    // A bed day and an examination: 210.00 yuan, under the 300.00 held (the rule raises at 240.00).
    let lines = json!({"lines": [fee_line("D1-1", BED, "60.00", "1", "60.00"), fee_line("D1-2", EXAMINATION, "150.00", "1", "150.00")]});
    let fees = w.his.post(&format!("/api/v1/stays/{id}/fees"), &lines).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");
    assert_eq!((fen(&fees.body, "charges_fen"), fen(&fees.body, "held_fen")), (21_000, 30_000), "{fees:?}");
    assert_eq!(w.bank_line().await, (0, 30_000), "held, not spent");

    // Another desk has discharged the admission at the center: the center refuses the click's 2402.
    let desk = NationalDesk::open(&w.sys).await;
    desk.discharge(&mdtrt_id).await;
    let click = w.discharge(&id).await;
    assert_eq!((click.status, click.body["error"]["code"].as_str()), (422, Some("insurance_refused")), "{click:?}");
    let said = click.body["error"]["message"].as_str().expect("a message").to_string();
    assert!(said.contains("2402") && said.contains("已办理出院"), "the center's own answer: {said}");

    // The patient is still in the ward: the deposit held as it was, nothing captured or released,
    // nothing settled at the center, and the stay says why until a click goes through.
    let waiting = w.stay(&id).await;
    assert_eq!((waiting["state"].as_str(), fen(&waiting, "held_fen")), (Some("in_ward"), 30_000), "{waiting}");
    assert_eq!(waiting["discharge_refusal"].as_str(), Some(said.as_str()), "{waiting}");
    assert!(waiting["settlement"].is_null(), "{waiting}");
    assert_eq!(w.bank_line().await, (0, 30_000), "the hold untouched at the bank");
    assert_eq!(w.ledger().await, (0, 30_000), "and in the ledger: pending, nothing posted");
    assert!(w.center_settlements().await.is_empty(), "no 2303/2304 after a refused 2402");
    // The ward may still add the day's fees; the reason stays until the next click.
    let more = json!({"lines": [fee_line("D2-1", BED, "60.00", "1", "60.00")]});
    let fees = w.his.post(&format!("/api/v1/stays/{id}/fees"), &more).await.expect("hub");
    assert!(fees.ok(), "{fees:?}");
    assert_eq!(fees.body["discharge_refusal"].as_str(), Some(said.as_str()), "{fees:?}");
    // 270.00 reached 80% of the hold: the rule raised it to 150% of the charges.
    assert_eq!((fen(&fees.body, "charges_fen"), fen(&fees.body, "held_fen")), (27_000, 40_500), "{fees:?}");

    // The desk undoes its discharge; the click goes through: discharged, settled, the cash share
    // captured from the hold, the rest released.
    desk.undo_discharge(&mdtrt_id).await;
    let click = w.discharge(&id).await;
    assert!(click.ok(), "{click:?}");
    let done = &click.body;
    assert_eq!((done["state"].as_str(), fen(done, "held_fen")), (Some("settled"), 0), "{done}");
    assert!(done["discharge_refusal"].is_null(), "cleared by the click that went through: {done}");
    let s = &done["settlement"];
    let split = (fen(s, "medfee_fen"), fen(s, "fund_fen"), fen(s, "personal_account_fen"), fen(s, "cash_fen"));
    // The admission's deductible (起付线) is above 270.00: the whole stay is the cash share.
    assert_eq!(split, (27_000, 0, 0, 27_000), "{s}");
    assert_eq!((fen(s, "bank_fen"), fen(s, "unpaid_fen")), (27_000, 0), "captured whole from the hold: {s}");
    assert_eq!(w.bank_line().await, (27_000, 0), "captured once, nothing left held");
    assert_eq!(w.ledger().await, (27_000, 0), "the hospital has every fen of the stay, once");
    let center = w.center_settlements().await;
    assert_eq!(center.len(), 1, "one settlement at the center: {center:?}");
    // The same click again answers the settled stay.
    let again = w.discharge(&id).await;
    assert_eq!((again.status, again.body["settlement"].clone()), (200, s.clone()), "{again:?}");
}
