//! Electronic invoices end to end: a signed patient sees a doctor, the click settles, the invoice
//! arrives signed, anyone verifies it offline with the root public key, a cancel red-flushes it, a
//! rotated key leaves old invoices genuine, and numbers run without gaps however many clicks land
//! at once. The PDF is read back with pdftotext and drawn with pdftoppm.

use serde_json::{json, Value};
use std::path::Path;
use wugan::his::{fee_line, HisClient, Reply};
use wugan::invoice::Input;
use wugan::system::{self, System};

mod common;

const EMPLOYEE_CERTNO: &str = "440301199001011234";
const RESIDENT_CERTNO: &str = "440304198507203318";
const HOSPITAL_NAME: &str = "示范三甲医院";

struct World {
    sys: System,
    operator: HisClient,
    his: HisClient,
    other_hospital: HisClient,
    dir: common::TempDir,
}

async fn world(label: &str) -> World {
    world_with(label, false).await
}

/// `world`; with `quiet`, no background pass (recovery, invoice outbox, webhooks, notifications)
/// runs, so that a test can count the writes of one request alone.
async fn world_with(label: &str, quiet: bool) -> World {
    let (mut opts, dir) = common::fresh_options(label).await;
    opts.manual_recovery = quiet;
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
    async fn sign_up(&self, cert_no: &str) {
        let reply = self.operator.sign_up("02", cert_no, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
        assert!(reply.ok(), "{reply:?}");
    }

    /// A registered visit with a consultation, a blood count and two boxes of amoxicillin (82.00).
    async fn visit_with_fees(&self, visit_no: &str, cert_no: &str) -> String {
        let visit = self.his.register(visit_no, "02", cert_no).await.unwrap();
        assert!(visit.ok(), "{visit:?}");
        let id = visit.body["id"].as_str().unwrap().to_string();
        let lines = [
            fee_line(&format!("{visit_no}-1"), "001102000010000", "25.00", "1", "25.00"),
            fee_line(&format!("{visit_no}-2"), "250101001000000", "20.00", "1", "20.00"),
            fee_line(&format!("{visit_no}-3"), "XJ01CAA040E001010101923", "18.50", "2", "37.00"),
        ];
        let up = self.his.upload_fees(&id, &lines).await.unwrap();
        assert!(up.ok(), "{up:?}");
        id
    }

    async fn invoices(&self) -> Vec<Value> {
        let list = self.his.get("/api/v1/invoices").await.unwrap();
        assert!(list.ok(), "{list:?}");
        list.body["invoices"].as_array().cloned().unwrap_or_default()
    }

    fn root_pub(&self) -> std::path::PathBuf {
        wugan::invoice::default_trust(&self.dir.0)
    }

    async fn verify_online(&self, body: &Value) -> Reply {
        let reply = self.his.raw("POST", "/verify", None, Some(&body.to_string())).await.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        reply
    }
}

/// Verifies a file the way `wugan invoice verify --trust root.pub FILE` does.
fn verify_file(path: &Path, root_pub: &Path) -> Result<wugan_invoice::Verified, String> {
    let root = wugan::invoice::read_root(root_pub).expect("root.pub is readable");
    wugan::invoice::verify(&Input::File(path.to_path_buf()), &root).map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_settled_visit_gets_a_signed_invoice_anyone_can_verify_and_a_cancel_red_flushes_it() {
    let w = world("invoice-story").await;
    w.sign_up(EMPLOYEE_CERTNO).await;
    let visit = w.visit_with_fees("MZ-INV-1", EMPLOYEE_CERTNO).await;
    let settled = w.his.settle(&visit).await.unwrap();
    assert!(settled.ok(), "{settled:?}");

    // The click's hook issued it: no recovery pass has run.
    let list = w.invoices().await;
    assert_eq!(list.len(), 1, "{list:?}");
    let blue = &list[0];
    assert_eq!(
        (blue["kind"].as_str(), blue["number"].as_str(), blue["total_fen"].as_i64()),
        (Some("blue"), Some("0000000001"), Some(8200))
    );
    assert!(blue["payer"].as_str().is_some_and(|p| p.ends_with('*')), "the payer is masked: {blue}");
    let blue_id = blue["id"].as_str().unwrap();

    // The signed document: its split adds up, and it verifies offline with root.pub alone.
    let doc = w.his.get(&format!("/api/v1/invoices/{blue_id}")).await.unwrap();
    assert!(doc.ok(), "{doc:?}");
    let split = &doc.body["invoice"]["split"];
    let parts: i64 = ["fund_fen", "personal_account_fen", "self_paid_fen", "bank_fen", "hospital_part_fen"]
        .iter()
        .map(|f| split[f].as_i64().unwrap())
        .sum();
    assert_eq!(parts, 8200);
    assert_eq!(split["bank_fen"].as_i64(), settled.body["bank_fen"].as_i64());
    let json_path = w.dir.0.join("invoice.json");
    std::fs::write(&json_path, doc.body.to_string()).unwrap();
    assert_eq!(verify_file(&json_path, &w.root_pub()).map(|v| v.amount_fen.0), Ok(8200));
    let tampered_path = w.dir.0.join("tampered.json");
    std::fs::write(&tampered_path, doc.body.to_string().replace("\"total_fen\":8200", "\"total_fen\":8300")).unwrap();
    let tampered = verify_file(&tampered_path, &w.root_pub()).expect_err("a changed amount");
    assert!(tampered.contains("bad_signature"), "{tampered}");

    // The phone's and the kiosk's page.
    let html = w.his.get(&format!("/api/v1/invoices/{blue_id}/html")).await.unwrap();
    let html = html.body.as_str().unwrap_or_default();
    assert!(html.contains(HOSPITAL_NAME) && html.contains("82.00") && html.contains("<svg"), "{html}");

    // Another hospital cannot read it; an operator can.
    let foreign = w.other_hospital.get(&format!("/api/v1/invoices/{blue_id}")).await.unwrap();
    assert_eq!((foreign.status, foreign.code()), (404, Some("invoice_not_found")));
    assert!(w.operator.get(&format!("/api/v1/operator/invoices/{blue_id}")).await.unwrap().ok());

    // The public endpoint answers the same, from the JSON or the QR text, and says no more.
    let answer = w.verify_online(&doc.body).await;
    assert_eq!((answer.body["genuine"].as_bool(), answer.body["amount_fen"].as_i64()), (Some(true), Some(8200)));
    assert!(answer.body.get("payer").is_none() && answer.body.get("items").is_none(), "{answer:?}");
    let signed: wugan_invoice::SignedInvoice = serde_json::from_value(doc.body.clone()).unwrap();
    let qr = wugan_invoice::qr_text(&signed);
    assert_eq!(w.verify_online(&json!({"qr": qr})).await.body["genuine"], json!(true));
    let forged = w.verify_online(&json!({"qr": qr.replacen("|8200|", "|820|", 1)})).await;
    assert_eq!((forged.body["genuine"].as_bool(), forged.body["reason"].as_str()), (Some(false), Some("bad_signature")));
    let page = reqwest::get(format!("{}/invoices/verify?qr={}", w.sys.hub_url, percent(&qr))).await.unwrap().text().await.unwrap();
    assert!(page.contains("真实有效") && page.contains("82.00"), "{page}");
    // Asked in English, as every page may be; an unknown parameter is still refused.
    let english = reqwest::get(format!("{}/invoices/verify?lang=en&qr={}", w.sys.hub_url, percent(&qr))).await.unwrap();
    assert_eq!(english.status().as_u16(), 200);
    let english = english.text().await.unwrap();
    assert!(english.contains("82.00") && english.contains("Genuine") && !english.contains("真实有效"), "English only: {english}");
    assert!(english.contains(r#"<label for="qr">"#), "the field is labelled: {english}");
    // A forged code is refused in the page's language, its machine code kept small for support
    // (review: the Chinese page said the hub's English reason).
    let forged_qr = percent(&qr.replacen("|8200|", "|820|", 1));
    let refused = reqwest::get(format!("{}/invoices/verify?qr={forged_qr}", w.sys.hub_url)).await.unwrap().text().await.unwrap();
    assert!(refused.contains("查验未通过：签名不符") && refused.contains("<code>bad_signature</code>"), "{refused}");
    assert!(!refused.contains("does not match"), "English on the Chinese page: {refused}");
    let refused = reqwest::get(format!("{}/invoices/verify?lang=en&qr={forged_qr}", w.sys.hub_url)).await.unwrap().text().await.unwrap();
    assert!(refused.contains("Not verified: The signature does not match") && !refused.contains("签名不符"), "{refused}");
    let elder = reqwest::get(format!("{}/invoices/verify?elder=1", w.sys.hub_url)).await.unwrap().text().await.unwrap();
    assert!(elder.contains("min-height:60px") && elder.contains("font-size:20px"), "the elder-friendly mode: {elder}");
    let unknown = reqwest::get(format!("{}/invoices/verify?foo=1", w.sys.hub_url)).await.unwrap();
    assert_eq!(unknown.status().as_u16(), 400);

    // Cancelled: a red invoice with its own number offsets the blue one.
    let cancelled = w.his.cancel(&visit).await.unwrap();
    assert!(cancelled.ok(), "{cancelled:?}");
    let list = w.invoices().await;
    let red = list.iter().find(|i| i["kind"] == "red").expect("a red invoice");
    assert_eq!(
        (red["number"].as_str(), red["total_fen"].as_i64(), red["offsets_id"].as_str()),
        (Some("0000000002"), Some(-8200), Some(blue_id))
    );
    let red_doc = w.his.get(&format!("/api/v1/invoices/{}", red["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(red_doc.body["invoice"]["offsets"]["number"], "0000000001");
    assert_eq!(w.verify_online(&red_doc.body).await.body["genuine"], json!(true));
    assert_eq!(w.verify_online(&doc.body).await.body["red_flushed"], json!(true), "the blue one is known to be offset");
    // Never twice: another outbox pass issues nothing.
    assert_eq!(w.sys.app.invoice_outbox_pass().await, 0);
    assert_eq!(w.invoices().await.len(), 2);
}

/// The click's commits: the audit log's entry before it, the attempt, the stage before 2207, the
/// last save with its invoice, the audit log's outcome. (Before the saga skipped the stages
/// between its bank calls and the invoice rode on the last save, a click was eight.)
#[tokio::test]
async fn the_click_writes_its_settlement_and_its_invoice_in_one_last_commit() {
    // No background pass: a patient's notification of the first click (written within seconds of
    // it) would otherwise be counted as the second click's.
    let w = world_with("invoice-one-commit", true).await;
    // The personal account left out: the cash share is the bank's to hold and capture.
    let bank = json!({"method": "credit_line", "bank_code": "BANK01"});
    assert!(w.operator.sign_up("02", EMPLOYEE_CERTNO, false, bank).await.unwrap().ok());
    // A first click takes what any first click takes (message-id blocks and the like).
    let warm = w.visit_with_fees("MZ-ONE-0", EMPLOYEE_CERTNO).await;
    assert!(w.his.settle(&warm).await.unwrap().ok());
    let visit = w.visit_with_fees("MZ-ONE-1", EMPLOYEE_CERTNO).await;
    // A writer counts its jobs: SQLite's, and PostgreSQL's when batched (`WUGAN_PG_WRITES`), where
    // the request's idempotency claim is a row of its own (one job more). Pooled PostgreSQL writes
    // are transactions of their own, uncounted: only the invoice's arrival is checked.
    let claim_row = u64::from(w.sys.app.store.backend == wugan_hub::store::Backend::Postgres);
    let stats = w.sys.app.store.writer_stats();
    let jobs = || stats.as_ref().map(|s| s.jobs.load(std::sync::atomic::Ordering::SeqCst));
    let before = jobs();
    let settled = w.his.settle(&visit).await.unwrap();
    assert!(settled.ok(), "{settled:?}");
    assert!(settled.body["bank_fen"].as_i64().unwrap() > 0, "a click with a hold and a capture: {settled:?}");
    let click_jobs = jobs().zip(before).map(|(after, before)| after - before);
    // The invoice is there at once, from the click's own commit (no outbox pass ran).
    let list = w.invoices().await;
    assert_eq!(list.iter().filter(|i| i["kind"] == "blue").count(), 2, "{list:?}");
    if let Some(click_jobs) = click_jobs {
        assert!(click_jobs <= 5 + claim_row, "a click took {click_jobs} write jobs");
    }
}

#[tokio::test]
async fn after_a_key_rotation_new_invoices_carry_the_new_key_and_old_ones_stay_genuine() {
    let w = world("invoice-rotation").await;
    w.sign_up(EMPLOYEE_CERTNO).await;
    let first = w.visit_with_fees("MZ-ROT-1", EMPLOYEE_CERTNO).await;
    assert!(w.his.settle(&first).await.unwrap().ok());
    let hospital = &w.sys.credentials.hospitals[0].code;
    let rotated = w.sys.app.invoicing.keys.rotate(hospital, "2026-01-01").expect("rotated");
    let second = w.visit_with_fees("MZ-ROT-2", EMPLOYEE_CERTNO).await;
    assert!(w.his.settle(&second).await.unwrap().ok());

    let list = w.invoices().await;
    let keys: Vec<&str> = list.iter().map(|i| i["key_id"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&rotated.key_id.as_str()) && keys[0] != keys[1], "{keys:?}");
    for invoice in &list {
        let doc = w.his.get(&format!("/api/v1/invoices/{}", invoice["id"].as_str().unwrap())).await.unwrap();
        let path = w.dir.0.join(format!("{}.json", invoice["number"].as_str().unwrap()));
        std::fs::write(&path, doc.body.to_string()).unwrap();
        assert!(verify_file(&path, &w.root_pub()).is_ok(), "invoice {} under key {}", invoice["number"], invoice["key_id"]);
    }
}

#[tokio::test]
async fn numbers_run_without_gaps_however_many_clicks_land_at_once() {
    let w = world("invoice-numbers").await;
    w.sign_up(EMPLOYEE_CERTNO).await;
    w.sign_up(RESIDENT_CERTNO).await;
    let mut visits = Vec::new();
    for n in 0..12 {
        let cert = if n % 2 == 0 { EMPLOYEE_CERTNO } else { RESIDENT_CERTNO };
        visits.push(w.visit_with_fees(&format!("MZ-SEQ-{n}"), cert).await);
    }
    // Every click at once (keys unique across clients), and outbox passes racing the clicks' hooks.
    let mut clicks = tokio::task::JoinSet::new();
    let his = std::sync::Arc::new(HisClient::new(&w.sys.hub_url, &w.sys.credentials.hospitals[0].api_key));
    for visit in visits {
        let his = his.clone();
        let (path, key) = (format!("/api/v1/visits/{visit}/settlement"), uuid::Uuid::new_v4().to_string());
        clicks.spawn(async move {
            // A 5xx says "safe to retry with the same key", and a HIS does (on PostgreSQL, clicks
            // posting to the same ledger accounts at once can deadlock and be rolled back).
            let mut reply = his.post_with_key(&path, &key, &json!({})).await;
            for _ in 0..5 {
                match &reply {
                    Ok(r) if r.status >= 500 => reply = his.post_with_key(&path, &key, &json!({})).await,
                    _ => break,
                }
            }
            reply.map(|r| (r.ok(), r.body))
        });
    }
    for _ in 0..4 {
        let app = w.sys.app.clone();
        clicks.spawn(async move { Ok((app.invoice_outbox_pass().await <= 12, Value::Null)) });
    }
    while let Some(done) = clicks.join_next().await {
        assert!(matches!(done, Ok(Ok((true, _)))), "{done:?}");
    }
    w.sys.app.invoice_outbox_pass().await;

    let list = w.invoices().await;
    let mut numbers: Vec<i64> = list.iter().map(|i| i["number"].as_str().unwrap().parse().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=12).collect::<Vec<i64>>(), "one invoice per settlement, numbered 1 to 12 without a gap");
    let mut settlements: Vec<&str> = list.iter().map(|i| i["settlement_id"].as_str().unwrap()).collect();
    settlements.sort_unstable();
    settlements.dedup();
    assert_eq!(settlements.len(), 12, "never two for one settlement");
}

fn percent(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn the_pdf_shows_the_hospital_and_the_amounts_in_chinese_and_verifies_too() {
    let w = world("invoice-pdf").await;
    w.sign_up(EMPLOYEE_CERTNO).await;
    let visit = w.visit_with_fees("MZ-PDF-1", EMPLOYEE_CERTNO).await;
    let settled = w.his.settle(&visit).await.unwrap();
    assert!(settled.ok(), "{settled:?}");
    let id = w.invoices().await[0]["id"].as_str().unwrap().to_string();
    if let Err(reason) = wugan_hub::app::invoices::load_font(None) {
        println!("skipped: {reason}");
        let refused = w.his.get(&format!("/api/v1/invoices/{id}/pdf")).await.unwrap();
        assert_eq!((refused.status, refused.code()), (503, Some("no_pdf_font")), "a clear error, not a broken PDF");
        return;
    }
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/invoices/{id}/pdf", w.sys.hub_url))
        .bearer_auth(&w.sys.credentials.hospitals[0].api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let path = w.dir.0.join("invoice.pdf");
    std::fs::write(&path, &pdf).unwrap();
    assert_eq!(verify_file(&path, &w.root_pub()).map(|v| v.amount_fen.0), Ok(8200), "the PDF verifies: the signed JSON is attached");

    let Ok(text) = std::process::Command::new("pdftotext").args(["-layout"]).arg(&path).arg("-").output() else {
        println!("skipped: pdftotext is not installed (apt-get install poppler-utils)");
        return;
    };
    let text = String::from_utf8_lossy(&text.stdout);
    let amounts = ["82.00", "25.00", "20.00", "37.00"];
    assert!(text.contains(HOSPITAL_NAME) && text.contains("医疗收费电子票据"), "{text}");
    assert!(amounts.iter().all(|a| text.contains(a)), "{text}");
    let bank = settled.body["bank_fen"].as_i64().unwrap();
    assert!(text.contains(&wugan_domain::Fen(bank).to_yuan_string()), "the bank's share: {text}");
    let png = w.dir.0.join("invoice");
    let drawn = std::process::Command::new("pdftoppm").args(["-png", "-r", "60", "-singlefile"]).arg(&path).arg(&png).status().unwrap();
    assert!(drawn.success() && png.with_extension("png").exists(), "pdftoppm draws it");
}

#[tokio::test]
async fn the_demo_issues_an_invoice_per_settled_visit_and_writes_them_with_the_root_key() {
    let out = common::TempDir(std::env::temp_dir().join(format!("wugan-demo-out-{}", uuid::Uuid::new_v4().simple())));
    let font = wugan_hub::app::invoices::load_font(None);
    let summary = wugan::demo::story(6, 7, font.is_ok().then_some(out.0.as_path())).await.expect("the story runs");
    assert!(summary.settled > 0);
    // Every scene ran once and settled (issue 13 scope 7), the partial refund included.
    let sc = &summary.scenes;
    for (name, count) in [
        ("emergency", sc.emergency),
        ("special_disease", sc.special_disease),
        ("inpatient", sc.inpatient),
        ("uninsured", sc.uninsured),
        ("out_of_area", sc.out_of_area),
        ("refund", sc.refund),
    ] {
        assert_eq!((count.visits, count.settled), (1, 1), "{name}");
    }
    assert_eq!(sc.outpatient.visits, 6);
    assert_eq!(sc.total(), wugan::demo::SceneCount { visits: summary.visits, settled: summary.settled });
    let json = serde_json::to_value(&summary).unwrap();
    let keys: Vec<&String> = json["scenes"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert_eq!((summary.holds_open_fen, summary.ledger_balanced), (0, true), "every stay discharged: nothing held, the ledger balances");
    // The stay's invoice is among them: one per settled visit or stay, and the partial refund's
    // red-flush of its visit's invoice and the reissue for the line kept.
    assert_eq!((summary.invoices_issued, summary.invoices_verified), (summary.settled + 2, summary.settled + 2));
    if let Err(reason) = font {
        println!("skipped writing PDFs: {reason}");
        return;
    }
    let root_pub = out.0.join("root.pub");
    let pdfs: Vec<_> = std::fs::read_dir(&out.0)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
        .collect();
    assert_eq!(pdfs.len(), summary.invoices_issued);
    for pdf in &pdfs {
        assert!(verify_file(pdf, &root_pub).is_ok(), "{}", pdf.display());
        assert!(verify_file(&pdf.with_extension("json"), &root_pub).is_ok(), "{}", pdf.display());
    }
}
