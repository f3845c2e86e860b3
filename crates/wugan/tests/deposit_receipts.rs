//! Deposit receipts (押金收据, issue 16), end to end over HTTP. A hospital whose deposit policy says
//! so gives a signed receipt for the deposit held at admission and for each raise, numbered in its
//! own gapless series; the bedside settlement recovers (收回) them, and a cancelled admission
//! releases them; anyone verifies them like invoices. A hospital without the policy issues none.
//! The patient sees the stay's invoice and receipts on their own door. On SQLite by default; with
//! WUGAN_TEST_DATABASE_URL=postgres://… (an admin URL), on a fresh PostgreSQL database.

use serde_json::{json, Value};
use std::path::Path;
use wugan::his::{fee_line, HisClient};
use wugan::invoice::Input;
use wugan::system::{self, System};

mod common;

/// 王五, a resident with no personal account.
const WANG_WU: (&str, &str) = ("440304198507203318", "王五");
/// 张三, an employee.
const ZHANG_SAN: &str = "440301199001011234";
const EXAMINATION: &str = "013100000010000"; // 150.00

struct World {
    sys: System,
    operator: HisClient,
    his: HisClient,
    other_hospital: HisClient,
    dir: common::TempDir,
}

async fn world(label: &str) -> World {
    let (opts, dir) = common::fresh_options(label).await;
    let sys = system::start(&opts).await.expect("system starts");
    World {
        operator: HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key),
        his: HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key),
        other_hospital: HisClient::new(&sys.hub_url, &sys.credentials.hospitals[1].api_key),
        sys,
        dir,
    }
}

impl World {
    fn hospital(&self, n: usize) -> &str {
        &self.sys.credentials.hospitals[n].code
    }

    async fn set_policy(&self, hospital: &str, policy: &str) -> wugan::his::Reply {
        let path = format!("/api/v1/operator/hospitals/{hospital}/deposit_policy");
        self.operator.post(&path, &json!({"deposit_policy": policy})).await.unwrap()
    }

    async fn sign_up(&self, cert_no: &str) {
        let reply = self.operator.sign_up("02", cert_no, false, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
        assert!(reply.ok(), "{reply:?}");
    }

    async fn admit(&self, his: &HisClient, ipt_no: &str, cert_no: &str, deposit_fen: i64) -> String {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": cert_no, "deposit_fen": deposit_fen});
        let stay = his.post("/api/v1/stays", &body).await.unwrap();
        assert!(stay.ok(), "admission: {stay:?}");
        stay.body["id"].as_str().unwrap().to_string()
    }

    async fn stay_step(&self, his: &HisClient, path: &str, body: Value) -> Value {
        let r = his.post(path, &body).await.unwrap();
        assert!(r.ok(), "{path}: {r:?}");
        r.body
    }

    /// A hospital's documents of one kind, oldest first.
    async fn listed(&self, his: &HisClient, kind: &str) -> Vec<Value> {
        let list = his.get("/api/v1/invoices").await.unwrap();
        assert!(list.ok(), "{list:?}");
        let mut out: Vec<Value> = list.body["invoices"].as_array().unwrap().iter().filter(|i| i["kind"] == kind).cloned().collect();
        out.reverse();
        out
    }

    async fn verify_online(&self, body: &Value) -> Value {
        let reply = self.his.raw("POST", "/verify", None, Some(&body.to_string())).await.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body
    }
}

fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// Verifies a file the way `wugan invoice verify --trust root.pub FILE` does.
fn verify_file(path: &Path, root_pub: &Path) -> Result<wugan_invoice::Verified, String> {
    let root = wugan::invoice::read_root(root_pub).expect("root.pub is readable");
    wugan::invoice::verify(&Input::File(path.to_path_buf()), &root).map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_deposit_and_its_raise_each_get_a_receipt_which_the_bedside_settlement_recovers() {
    let w = world("deposit-receipts").await;
    let set = w.set_policy(w.hospital(0), "receipts").await;
    assert_eq!((set.status, set.body["deposit_policy"].as_str()), (200, Some("receipts")), "{set:?}");
    w.sign_up(WANG_WU.0).await;

    // Admission: 100 yuan held on the line, one receipt for it.
    let stay = w.admit(&w.his, "ZY-YJ-1", WANG_WU.0, 10_000).await;
    let receipts = w.listed(&w.his, "deposit").await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!((fen(&receipts[0], "total_fen"), receipts[0]["deposit_state"].as_str()), (10_000, Some("held")));
    assert_eq!(receipts[0]["settlement_id"], json!(format!("{stay}:hold:0")));

    // 150 yuan of charges against 100 held: raised to 225, a second receipt for the 125 more.
    let raised = w
        .stay_step(&w.his, &format!("/api/v1/stays/{stay}/fees"), json!({"lines": [fee_line("YJ1", EXAMINATION, "150.00", "1", "150.00")]}))
        .await;
    assert_eq!(raised["held_fen"].as_i64(), Some(22_500), "{raised}");
    let receipts = w.listed(&w.his, "deposit").await;
    assert_eq!(receipts.iter().map(|r| fen(r, "total_fen")).collect::<Vec<_>>(), vec![10_000, 12_500], "{receipts:?}");
    // Their own series: a YJ code, numbers 1 and 2, no gaps.
    let code = receipts[0]["code"].as_str().unwrap();
    assert!(code.starts_with("YJ") && code.ends_with(w.hospital(0)), "{code}");
    assert!(receipts.iter().all(|r| r["code"] == json!(code)));
    assert_eq!(receipts.iter().map(|r| r["number"].as_str().unwrap()).collect::<Vec<_>>(), vec!["0000000001", "0000000002"]);
    // The same pass again issues nothing more.
    w.sys.app.invoice_outbox_pass().await;
    assert_eq!(w.listed(&w.his, "deposit").await.len(), 2, "never twice");

    // The bedside click captures from the hold: both receipts recovered by the stay's invoice.
    let settled = w.stay_step(&w.his, &format!("/api/v1/stays/{stay}/discharge"), json!({})).await;
    assert_eq!(settled["state"], "settled", "{settled}");
    let blue = w.listed(&w.his, "blue").await;
    assert_eq!(blue.len(), 1, "the stay's invoice: {blue:?}");
    for r in w.listed(&w.his, "deposit").await {
        assert_eq!((r["deposit_state"].as_str(), &r["recovered_by_id"]), (Some("recovered"), &blue[0]["id"]), "{r}");
        assert!(r["closed_at"].is_string(), "{r}");
    }
    // The list keeps one kind when asked: `?kind=deposit` is the receipts alone.
    let only = w.his.get("/api/v1/invoices?kind=deposit").await.unwrap();
    let kinds: Vec<&str> = only.body["invoices"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deposit", "deposit"], "{only:?}");
    assert_eq!(w.his.get("/api/v1/invoices?kind=green").await.unwrap().code(), Some("bad_query"));
    // The invoices' own series is apart: the stay's invoice is number 1 under its own code.
    assert_eq!((blue[0]["number"].as_str(), blue[0]["code"].as_str().map(|c| c.starts_with("YJ"))), (Some("0000000001"), Some(false)));

    // Verified like an invoice: online (JSON and QR) and by `wugan invoice verify`; a changed byte fails.
    let id = receipts[1]["id"].as_str().unwrap();
    let doc = w.his.get(&format!("/api/v1/invoices/{id}")).await.unwrap().body;
    assert_eq!((doc["invoice"]["kind"].as_str(), doc["invoice"]["bus_type"].as_str()), (Some("deposit"), Some("07")));
    let answer = w.verify_online(&doc).await;
    assert_eq!(
        (answer["genuine"].as_bool(), answer["kind"].as_str(), answer["amount_fen"].as_i64()),
        (Some(true), Some("deposit"), Some(12_500))
    );
    let signed: wugan_invoice::SignedInvoice = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(w.verify_online(&json!({"qr": wugan_invoice::qr_text(&signed)})).await["genuine"], json!(true));
    let root_pub = wugan::invoice::default_trust(&w.dir.0);
    let json_path = w.dir.0.join("receipt.json");
    std::fs::write(&json_path, doc.to_string()).unwrap();
    assert_eq!(verify_file(&json_path, &root_pub).map(|v| v.amount_fen.0), Ok(12_500));
    let tampered_path = w.dir.0.join("receipt-tampered.json");
    std::fs::write(&tampered_path, doc.to_string().replacen("住院预交金", "住院预交全", 1)).unwrap();
    assert!(verify_file(&tampered_path, &root_pub).is_err(), "a changed byte is not genuine");
    let html = w.his.get(&format!("/api/v1/invoices/{id}/html")).await.unwrap();
    assert!(html.body.as_str().is_some_and(|h| h.contains("住院预交金收据")), "{html:?}");
    // The PDF carries the signed receipt: it verifies as the file it is.
    if let Err(reason) = wugan_hub::app::invoices::load_font(None) {
        println!("PDF not checked: {reason}");
        return;
    }
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/invoices/{id}/pdf", w.sys.hub_url))
        .bearer_auth(&w.sys.credentials.hospitals[0].api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pdf_path = w.dir.0.join("receipt.pdf");
    std::fs::write(&pdf_path, response.bytes().await.unwrap()).unwrap();
    assert_eq!(verify_file(&pdf_path, &root_pub).map(|v| (v.kind, v.amount_fen.0)), Ok((wugan_invoice::Kind::Deposit, 12_500)));
}

#[tokio::test]
async fn a_hospital_without_receipts_issues_none_and_a_cancelled_admission_releases_them() {
    let w = world("deposit-receipts-off").await;
    w.sign_up(WANG_WU.0).await;
    w.sign_up(ZHANG_SAN).await;
    // The second hospital keeps the default: a stay there, held and settled, has no receipt.
    let hospitals = w.operator.get("/api/v1/operator/hospitals").await.unwrap().body;
    let second = hospitals.as_array().unwrap().iter().find(|h| h["code"] == w.hospital(1)).cloned().unwrap();
    assert_eq!(second["deposit_policy"], "no_receipts", "{second}");
    let stay = w.admit(&w.other_hospital, "ZY-NO-1", ZHANG_SAN, 10_000).await;
    let lines = json!({"lines": [fee_line("N1", EXAMINATION, "150.00", "1", "150.00")]});
    w.stay_step(&w.other_hospital, &format!("/api/v1/stays/{stay}/fees"), lines).await;
    w.stay_step(&w.other_hospital, &format!("/api/v1/stays/{stay}/discharge"), json!({})).await;
    assert!(w.listed(&w.other_hospital, "deposit").await.is_empty(), "no receipts at a hospital without the policy");
    assert_eq!(w.listed(&w.other_hospital, "blue").await.len(), 1, "its invoice still");

    // At the first, with receipts: an admission cancelled (2404) releases its receipt.
    assert_eq!(w.set_policy(w.hospital(0), "receipts").await.status, 200);
    let stay = w.admit(&w.his, "ZY-YJ-2", WANG_WU.0, 20_000).await;
    w.stay_step(&w.his, &format!("/api/v1/stays/{stay}/cancel"), json!({})).await;
    let receipts = w.listed(&w.his, "deposit").await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!((receipts[0]["deposit_state"].as_str(), &receipts[0]["recovered_by_id"]), (Some("released"), &Value::Null));
}

#[tokio::test]
async fn the_operator_sets_only_known_deposit_policies() {
    let w = world("deposit-policy").await;
    // (value, status, code): the stable codes a HIS or console can act on.
    let cases = [
        ("receipts", 200, None),
        ("no_receipts", 200, None),
        ("estimated", 422, Some("unknown_deposit_policy")),
        ("RECEIPTS", 422, Some("unknown_deposit_policy")),
    ];
    for (value, status, code) in cases {
        let r = w.set_policy(w.hospital(0), value).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (status, code), "{value}: {r:?}");
    }
    let missing = w.set_policy("H-NOWHERE", "receipts").await;
    assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (404, Some("hospital_not_found")), "{missing:?}");
    // At onboarding: absent is the default, an unknown value refused, nothing onboarded then.
    let onboard = |code: &str, policy: Option<&str>| {
        let mut body = json!({"code": code, "name": "押金医院"});
        if let Some(p) = policy {
            body["deposit_policy"] = json!(p);
        }
        body
    };
    let plain = w.operator.post("/api/v1/operator/hospitals", &onboard("H-YJ-1", None)).await.unwrap();
    assert_eq!((plain.status, plain.body["deposit_policy"].as_str()), (200, Some("no_receipts")), "{plain:?}");
    let with = w.operator.post("/api/v1/operator/hospitals", &onboard("H-YJ-2", Some("receipts"))).await.unwrap();
    assert_eq!((with.status, with.body["deposit_policy"].as_str()), (200, Some("receipts")), "{with:?}");
    let unknown = w.operator.post("/api/v1/operator/hospitals", &onboard("H-YJ-3", Some("fixed"))).await.unwrap();
    assert_eq!((unknown.status, unknown.body["error"]["code"].as_str()), (422, Some("unknown_deposit_policy")), "{unknown:?}");
    let codes: Vec<Value> =
        w.operator.get("/api/v1/operator/hospitals").await.unwrap().body.as_array().unwrap().iter().map(|h| h["code"].clone()).collect();
    assert!(!codes.contains(&json!("H-YJ-3")), "{codes:?}");
}

/// A patient's session on their own door: a texted code, then the real-name binding.
async fn patient_session(w: &World, mobile: &str, (certno, name): (&str, &str)) -> String {
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", w.sys.hub_url)).header("idempotency-key", uuid::Uuid::new_v4().to_string()).json(&body)
    };
    let sent = post("/api/v1/patient/sign-in-codes", json!({"mobile": mobile})).send().await.unwrap();
    assert_eq!(sent.status(), 202);
    let outbox = std::fs::read_to_string(w.dir.0.join("sms-outbox.log")).expect("the SMS outbox");
    let text = outbox.lines().rev().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|m| m["to"] == mobile).unwrap();
    let code: String = text["text"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
    let session: Value =
        post("/api/v1/patient/sessions", json!({"mobile": mobile, "code": code})).send().await.unwrap().json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_string();
    let bound = post("/api/v1/patient/me/identity", json!({"certno": certno, "name": name, "face_check_ref": "FACE-0001"}))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), 200);
    token
}

async fn patient_get(w: &World, token: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new().get(format!("{}{path}", w.sys.hub_url)).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_patient_sees_their_stay_invoice_and_receipts_and_opens_each() {
    let w = world("deposit-receipts-patient").await;
    assert_eq!(w.set_policy(w.hospital(0), "receipts").await.status, 200);
    w.sign_up(WANG_WU.0).await;
    let stay = w.admit(&w.his, "ZY-YJ-3", WANG_WU.0, 10_000).await;
    w.stay_step(&w.his, &format!("/api/v1/stays/{stay}/fees"), json!({"lines": [fee_line("P1", EXAMINATION, "150.00", "1", "150.00")]}))
        .await;
    w.stay_step(&w.his, &format!("/api/v1/stays/{stay}/discharge"), json!({})).await;

    let token = patient_session(&w, "13900139000", WANG_WU).await;
    let (status, text) = patient_get(&w, &token, "/api/v1/patient/stay_invoices").await;
    assert_eq!(status, 200, "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let mut kinds: Vec<(String, Option<String>)> = listed["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap().to_string(), i["deposit_state"].as_str().map(str::to_string)))
        .collect();
    kinds.sort();
    let recovered = Some("recovered".to_string());
    assert_eq!(kinds, vec![("blue".into(), None), ("deposit".into(), recovered.clone()), ("deposit".into(), recovered)], "{listed}");
    for invoice in listed["invoices"].as_array().unwrap() {
        let id = invoice["id"].as_str().unwrap();
        let (status, html) = patient_get(&w, &token, &format!("/api/v1/patient/invoices/{id}/html")).await;
        assert_eq!(status, 200, "{id}: {html}");
        assert!(html.contains("王*"), "the payer masked: {id}");
    }

    // The phone page lists them beside the visits, each opening its view and PDF.
    let page = reqwest::Client::new()
        .get(format!("{}/h5/visits", w.sys.hub_url))
        .header("cookie", format!("wg_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("住院票据与押金收据"), "{page}");
    assert_eq!(page.matches("押金收据（出院结算已收回）").count(), 2, "{page}");
    for invoice in listed["invoices"].as_array().unwrap() {
        let id = invoice["id"].as_str().unwrap();
        assert!(page.contains(&format!("/api/v1/patient/invoices/{id}/pdf")), "{id} on the page");
    }

    // Another patient sees none of them, and cannot open them.
    let stranger = patient_session(&w, "13900139001", ("440301199001011234", "张三")).await;
    let (_, theirs) = patient_get(&w, &stranger, "/api/v1/patient/stay_invoices").await;
    assert_eq!(serde_json::from_str::<Value>(&theirs).unwrap()["invoices"], json!([]), "{theirs}");
    let first = listed["invoices"][0]["id"].as_str().unwrap();
    assert_eq!(patient_get(&w, &stranger, &format!("/api/v1/patient/invoices/{first}/html")).await.0, 404);
}
