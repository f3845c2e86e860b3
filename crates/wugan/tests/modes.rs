//! Deployment modes (issue 15), end to end through the hub's HTTP API.
//!
//! A cash-only day: the hospital settles insurance with its own platform and posts the platform's
//! 2207 output (in the shapes real platforms send: amounts as strings and numbers, null for a zero
//! share, local fund codes, a hospital-borne part); the hub charges exactly the cash share, books
//! the rest as paid outside and written off; a 2208 record refunds exactly what was charged; a
//! partial refund is a cancellation and a smaller settlement.

use serde_json::{json, Value};
use wugan::his::{HisClient, Reply};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// Today in China time, the business day the visits fall on.
fn today() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

struct Day {
    sys: system::System,
    his: HisClient,
    operator: HisClient,
    hospital: String,
    psn_no: String,
    _dir: common::TempDir,
}

async fn signed_day() -> Day {
    let (mut opts, dir) = common::fresh_options("modes").await;
    opts.manual_recovery = true;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let hospital = sys.credentials.hospitals[0].code.clone();
    let agreement =
        operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let psn_no = agreement.body["psn_no"].as_str().expect("psn_no").to_string();
    Day { sys, his, operator, hospital, psn_no, _dir: dir }
}

/// A platform's 2207 output as real ones write it.
fn settled_output(psn_no: &str, setl_id: &str, amounts: [&str; 5]) -> Value {
    let [medfee, fund, acct, cash, hosp] = amounts;
    let hosp = if hosp == "0" { Value::Null } else { json!(hosp) };
    json!({"setlinfo": {"setl_id": setl_id, "mdtrt_id": "440300M0001", "psn_no": psn_no, "psn_name": "张三", "insutype": 310,
        "psn_type": "11", "insuplc_admdvs": "440300", "med_type": "11", "medfee_sumamt": medfee, "fund_pay_sumamt": fund,
        "acct_pay": acct, "psn_cash_pay": cash, "hosp_part_amt": hosp, "psn_part_amt": "68.30", "balc": 1200.5},
        "setldetail": [{"fund_pay_type": "310100", "fund_payamt": fund, "fund_pay_type_name": "职工基本医疗保险统筹基金"},
                       {"fund_pay_type": "310201", "fund_payamt": acct}, {"fund_pay_type": "880100", "fund_payamt": "0.00"}]})
}

/// The platform's 2208 output for it: a new setl_id, every amount negated, `psn_part_amt: null`.
fn cancelled_output(setl_id: &str, of: &str, amounts: [&str; 5]) -> Value {
    let neg = |a: &str| if a == "0" { Value::Null } else { json!(format!("-{a}")) };
    let [medfee, fund, acct, cash, hosp] = amounts;
    json!({"setlinfo": {"setl_id": setl_id, "init_setl_id": of, "medfee_sumamt": neg(medfee), "fund_pay_sumamt": neg(fund),
        "acct_pay": neg(acct), "psn_cash_pay": neg(cash), "hosp_part_amt": neg(hosp), "psn_part_amt": null}, "setldetail": []})
}

impl Day {
    async fn post_settled(&self, key: &str, ipt_otp_no: &str, output: Value) -> Reply {
        self.his.post_with_key("/api/v1/cash-settlements", key, &json!({"ipt_otp_no": ipt_otp_no, "output": output})).await.expect("hub")
    }

    async fn post_cancelled(&self, visit_id: &str, output: Value) -> Reply {
        let path = format!("/api/v1/visits/{visit_id}/cash-settlement/cancel");
        self.his.post_with_key(&path, &self.his.next_key(), &json!({"output": output})).await.expect("hub")
    }

    /// (received, unpaid, written off, paid outside the hub) for the hospital, from the ledger.
    async fn books(&self) -> (i64, i64, i64, i64) {
        let ledger = self.operator.get("/api/v1/ledger").await.expect("hub");
        assert_eq!(ledger.body["balanced"], json!(true), "{ledger:?}");
        let net = |account: &str| {
            let a = &ledger.body["accounts"][account];
            a["credits_posted"].as_i64().unwrap_or(0) - a["debits_posted"].as_i64().unwrap_or(0)
        };
        let h = &self.hospital;
        (
            net(&format!("hospital:{h}")),
            net(&format!("hospital_unpaid:{h}")),
            net(&format!("hospital_writeoff:{h}")),
            -net(&format!("insurance_outside:{h}")),
        )
    }
}

#[tokio::test]
async fn a_cash_only_day_settle_cancel_and_a_partial_refund() {
    let day = signed_day().await;
    let first = ["268.50", "150.20", "50.00", "58.30", "10.00"];

    // Shares that do not add up are refused before anything is charged.
    let wrong = settled_output(&day.psn_no, "440300G0000001", ["268.50", "150.20", "50.00", "58.31", "10.00"]);
    let refused = day.post_settled(&day.his.next_key(), "MZ001", wrong).await;
    assert_eq!((refused.status, refused.code()), (422, Some("bad_settlement_record")), "{refused:?}");

    // A patient who never signed: nothing to charge, and no visit written.
    let unsigned = day.post_settled(&day.his.next_key(), "MZ009", settled_output("44030000000000000009", "440300G0000009", first)).await;
    assert_eq!((unsigned.status, unsigned.code()), (409, Some("seamless_not_enabled")), "{unsigned:?}");
    assert!(day.sys.app.store.visit_by_hospital_no(&day.hospital, "MZ009").await.expect("store").is_none());

    // The hospital's platform settled the visit: the hub charges exactly psn_cash_pay.
    let key = day.his.next_key();
    let settled = day.post_settled(&key, "MZ001", settled_output(&day.psn_no, "440300G0000001", first)).await;
    assert!(settled.ok(), "{settled:?}");
    assert_eq!(settled.body["state"], json!("settled"));
    assert_eq!(settled.body["setl_id"], json!("440300G0000001"));
    let fen = |f: &str| settled.fen(f);
    assert_eq!(
        [fen("medfee_fen"), fen("fund_fen"), fen("personal_account_fen"), fen("bank_fen"), fen("hospital_part_fen")],
        [26850, 15020, 5000, 5830, 1000]
    );
    assert_eq!(day.books().await, (25850, 0, 1000, 20020), "received + unpaid + written off = medfee; fund and account paid outside");

    // The same post again answers the same settlement; a second post of that setl_id is refused.
    let again = day.post_settled(&key, "MZ001", settled_output(&day.psn_no, "440300G0000001", first)).await;
    assert_eq!(again.body["id"], settled.body["id"], "{again:?}");
    let twice = day.post_settled(&day.his.next_key(), "MZ002", settled_output(&day.psn_no, "440300G0000001", first)).await;
    assert_eq!((twice.status, twice.code()), (409, Some("already_settled")), "{twice:?}");

    // A 2208 record that does not reverse the settlement exactly is refused; the real one refunds.
    let visit_id = settled.body["visit_id"].as_str().expect("visit").to_string();
    let short = cancelled_output("440300G0000002", "440300G0000001", ["268.50", "150.20", "50.00", "50.00", "10.00"]);
    let refused = day.post_cancelled(&visit_id, short).await;
    assert_eq!((refused.status, refused.code()), (422, Some("bad_settlement_record")), "{refused:?}");
    let same_id = cancelled_output("440300G0000001", "440300G0000001", first);
    assert_eq!(day.post_cancelled(&visit_id, same_id).await.code(), Some("bad_settlement_record"), "a cancellation has a new setl_id");
    let cancelled = day.post_cancelled(&visit_id, cancelled_output("440300G0000002", "440300G0000001", first)).await;
    assert_eq!(cancelled.body["state"], json!("cancelled"), "{cancelled:?}");
    assert_eq!(day.books().await, (0, 0, 0, 0), "everything reversed, the write-off too");

    // Partial refund: the patient returns part of the medicine; the platform settles the rest anew.
    let rest = ["100.00", "60.00", "0", "40.00", "0"];
    let resettled = day.post_settled(&day.his.next_key(), "MZ001", settled_output(&day.psn_no, "440300G0000003", rest)).await;
    assert_eq!(resettled.body["state"], json!("settled"), "{resettled:?}");
    assert_eq!(resettled.body["visit_id"], json!(visit_id), "the same visit, a new attempt");
    assert_eq!(day.books().await, (10000, 0, 0, 6000));

    // The hub never settles insurance for a visit the hospital settles itself.
    let click =
        day.his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), &day.his.next_key(), &json!({})).await.expect("hub");
    assert_eq!((click.status, click.code()), (409, Some("settled_by_hospital")), "{click:?}");

    // Reconciliation knows the hospital settled insurance: nothing of it is the center's (no
    // hub-only records there), while the bank's captures and refund are matched as usual.
    let view = serde_json::to_value(day.sys.app.reconcile_day(&today(), &|_| {}).await.expect("the day reconciles")).expect("json");
    assert_eq!((view["insurance"]["records"].as_u64(), view["insurance"]["mismatches"].as_u64()), (Some(0), Some(0)), "{view}");
    assert_eq!(view["banks"]["mismatches"].as_u64(), Some(0), "{view}");

    // The platform's records name the person: the hub keeps them sealed.
    for entry in std::fs::read_dir(&day._dir.0).expect("data folder").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let name = "张三".as_bytes();
        assert!(!bytes.windows(name.len()).any(|w| w == name), "{} holds the patient's name in clear", entry.path().display());
    }
    day.sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// A bank's address that can be switched off: while down, every request is answered 503, as a
/// bank in trouble (or a load balancer before a dead one) answers.
fn switchable(target: String, up: std::sync::Arc<std::sync::atomic::AtomicBool>) -> axum::Router {
    let http = reqwest::Client::new();
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (http, target, up) = (http.clone(), target.clone(), up.clone());
        async move {
            use axum::response::IntoResponse;
            if !up.load(std::sync::atomic::Ordering::SeqCst) {
                return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
            }
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            let url = format!("{target}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
            let mut forward = http.request(parts.method, url).body(body);
            for (name, value) in &parts.headers {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            match forward.send().await {
                Ok(r) => {
                    let status = r.status();
                    (status, r.bytes().await.unwrap_or_default()).into_response()
                }
                Err(_) => (axum::http::StatusCode::BAD_GATEWAY, "unreachable").into_response(),
            }
        }
    })
}

#[tokio::test]
async fn two_banks_and_one_down_affects_only_its_own_patients() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (mut opts, _dir) = common::fresh_options("banks").await;
    opts.manual_recovery = true;
    let second = system::builtin_bank("BANK02", "hub2", "second-bank-secret");
    let second_url = format!("http://{}", system::spawn_server("127.0.0.1:0", second).await.expect("bank 2"));
    let up = std::sync::Arc::new(AtomicBool::new(true));
    let front = system::spawn_server("127.0.0.1:0", switchable(second_url, up.clone())).await.expect("bank 2's address");
    opts.extra_banks = vec![wugan_hub::bank_client::BankEndpoint {
        bank_code: "BANK02".into(),
        url: format!("http://{front}"),
        key_id: "hub2".into(),
        secret: "second-bank-secret".into(),
        callback_secret: "second-bank-callbacks".into(),
    }];
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let first = operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    let other =
        operator.sign_up("02", "440304198507203318", true, json!({"method": "credit_line", "bank_code": "BANK02"})).await.expect("hub");
    assert!(first.ok() && other.ok(), "{first:?} {other:?}");
    assert_eq!(other.body["payment"]["bank_code"], json!("BANK02"), "{other:?}");

    up.store(false, Ordering::SeqCst);
    let pay = |psn: &Value, setl_id: &str, visit: &str| {
        let output = settled_output(psn.as_str().expect("psn_no"), setl_id, ["100.00", "60.00", "0", "40.00", "0"]);
        let body = json!({"ipt_otp_no": visit, "output": output});
        let his = &his;
        async move { his.post_with_key("/api/v1/cash-settlements", &his.next_key(), &body).await.expect("hub") }
    };
    let paid = pay(&first.body["psn_no"], "S-B1", "MZ-B1").await;
    assert_eq!(paid.body["state"], json!("settled"), "BANK01's patient is paid as usual: {paid:?}");
    assert_eq!(paid.fen("bank_fen"), 4000);
    let waiting = pay(&other.body["psn_no"], "S-B2", "MZ-B2").await;
    assert_eq!((waiting.status, waiting.code()), (503, Some("bank_unavailable")), "BANK02's patient waits for BANK02: {waiting:?}");
    assert!(sys.app.sync_bank_events().await.is_err(), "BANK02's feed cannot be read: reported, after BANK01's is read");

    // BANK02 is back: its patient's settlement resumes where it stopped.
    up.store(true, Ordering::SeqCst);
    sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("resumed");
    let visit = his.get(&format!("/api/v1/visits/{}", waiting_visit(&sys, "MZ-B2").await)).await.expect("hub");
    assert_eq!(visit.body["settlement"]["state"], json!("settled"), "{visit:?}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

async fn waiting_visit(sys: &system::System, ipt_otp_no: &str) -> String {
    let hospital = &sys.credentials.hospitals[0].code;
    sys.app.store.visit_by_hospital_no(hospital, ipt_otp_no).await.expect("store").expect("the visit was written").id
}

#[tokio::test]
async fn a_visit_registered_as_cash_only_is_settled_by_the_hospitals_platform_whatever_the_hospital_mode() {
    let day = signed_day().await;
    let register = |ipt_otp_no: &str, setl_type: &str| {
        let body = json!({"ipt_otp_no": ipt_otp_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "setl_type": setl_type});
        let his = &day.his;
        async move { his.post_with_key("/api/v1/visits", &his.next_key(), &body).await.expect("hub") }
    };
    assert_eq!(register("MZ-ST-0", "XX").await.code(), Some("bad_setl_type"));
    // CASH for this visit only: no 2201 at the hub's center; the click is the platform's.
    let visit = register("MZ-ST-1", "CASH").await;
    assert!(visit.ok(), "{visit:?}");
    assert_eq!(visit.body["mdtrt_id"], json!(""), "the hospital's platform has the visit: {visit:?}");
    let id = visit.body["id"].as_str().expect("id").to_string();
    // Its fees stay at the hub (the platform uploads its own), and the estimate is the platform's:
    // nothing goes to the center with an empty mdtrt_id.
    let center_calls = || async {
        let scrape = day.operator.raw("GET", "/metrics", None, None).await.expect("a scrape");
        let text = scrape.body.as_str().unwrap_or_default().to_string();
        let calls = |op: &str| {
            let labels = format!(r#"wugan_partner_calls_total{{partner="insurance",operation="{op}""#);
            text.lines().filter(|l| l.starts_with(&labels)).filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum::<f64>()
        };
        (calls("2204"), calls("2206"))
    };
    let at_center = center_calls().await;
    let fees = day.his.upload_fees(&id, &[wugan::his::fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.expect("hub");
    assert!(fees.ok() && fees.body["medfee_fen"] == json!(2500), "{fees:?}");
    let estimate =
        day.his.post_with_key(&format!("/api/v1/visits/{id}/pre-settlement"), &day.his.next_key(), &json!({})).await.expect("hub");
    assert_eq!((estimate.status, estimate.code()), (409, Some("settled_by_hospital")), "{estimate:?}");
    assert_eq!(center_calls().await, at_center, "no 2204 or 2206 for a visit the center does not have");
    let click = day.his.post_with_key(&format!("/api/v1/visits/{id}/settlement"), &day.his.next_key(), &json!({})).await.expect("hub");
    assert_eq!((click.status, click.code()), (409, Some("settled_by_hospital")), "{click:?}");
    // Its platform's 2207 output settles the same visit: the cash share charged once.
    let settled = day
        .post_settled(&day.his.next_key(), "MZ-ST-1", settled_output(&day.psn_no, "440300G0000101", ["80.00", "50.00", "0", "30.00", "0"]))
        .await;
    assert_eq!((settled.body["state"].as_str(), settled.body["visit_id"].as_str()), (Some("settled"), Some(id.as_str())), "{settled:?}");
    assert_eq!(settled.body["bank_fen"].as_i64(), Some(3000), "{settled:?}");
}
