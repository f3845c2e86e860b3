//! `wugan demo`: the seed story in numbers. On a fresh embedded instance, a few patients sign up once,
//! a few dozen outpatient visits run through the HIS API, the doctor's click settles each, and the
//! summary shows who paid what, what failed and why, and whether the ledger balances. Then the
//! other scenes (`scenes.rs`): emergency, special disease, a 3-day inpatient stay, the uninsured
//! and the out-of-area, counted per scene.

mod scenes;
pub use scenes::{run_refund_scene, SceneCount, Scenes};

use crate::his::{fee_line, HisClient};
use crate::rng::XorShift;
use crate::system::{self, SystemOptions};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A patient of the story: how the hospital identifies them, and how (whether) they signed up.
struct Patient {
    label: &'static str,
    cert_type: &'static str,
    cert_no: &'static str,
    signup: Option<(bool, Value)>,
}

/// Outpatient items from the sandbox catalogue: (national code, unit price in yuan).
const ITEMS: &[(&str, &str)] = &[
    ("001102000010000", "25.00"),         // 普通门诊诊查费, class A
    ("250101001000000", "20.00"),         // 血细胞分析, class A
    ("XJ01CAA040E001010101923", "18.50"), // 阿莫西林胶囊, class A drug
    ("XC10AAA005A001010104389", "32.80"), // 阿托伐他汀钙片, class B drug
    ("C14020107700200160001", "4.00"),    // 一次性输液器, above its 3.50 price cap
    ("013100000010000", "150.00"),        // 健康体检, class C: self-paid
];

/// The story's figures. `visits` and `settled` count every scene (a stay is one); the money
/// figures (`medfee_fen` … `unpaid_fen`, `by_patient`) are the outpatient story's; the ledger's
/// (`hospital_credited_fen`, `holds_open_fen`) are everything's.
#[derive(Serialize, Default)]
pub struct Summary {
    pub visits: usize,
    pub settled: usize,
    /// Per scene: `{visits, settled}`.
    pub scenes: Scenes,
    /// What the bank still holds for the hub's visits and stays, from the ledger's pending
    /// transfers: 0 once every stay is discharged.
    pub holds_open_fen: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub bank_fen: i64,
    pub unpaid_fen: i64,
    pub hospital_credited_fen: i64,
    pub ledger_balanced: bool,
    /// Invoices the hub issued for the settled visits, and how many of them verified offline
    /// against the root public key.
    pub invoices_issued: usize,
    pub invoices_verified: usize,
    pub failures: Vec<Failure>,
    pub by_patient: BTreeMap<String, PatientTotals>,
}

#[derive(Serialize, Clone)]
pub struct Failure {
    pub visit: String,
    pub patient: String,
    pub code: String,
    pub message: String,
}

#[derive(Serialize, Default, Clone)]
pub struct PatientTotals {
    pub visits: usize,
    pub settled: usize,
    pub medfee_fen: i64,
    pub cash_fen: i64,
}

fn patients() -> Vec<Patient> {
    vec![
        Patient {
            label: "张三 (employee: personal account + credit line)",
            cert_type: "01",
            cert_no: "EC44030000000000000001",
            signup: Some((true, json!({"method": "credit_line", "bank_code": "BANK01"}))),
        },
        Patient {
            label: "王五 (resident: debit card, no personal account)",
            cert_type: "02",
            cert_no: "440304198507203318",
            signup: Some((false, json!({"method": "debit_card", "bank_code": "BANK01", "card_no": "6222020200112233445"}))),
        },
        Patient { label: "李秀英 (retired employee, not signed up)", cert_type: "02", cert_no: "440303195803152420", signup: None },
    ]
}

/// Runs the story on a fresh instance in a temporary folder and returns the summary; with `out`,
/// writes each invoice there (PDF and JSON) and the root public key (`root.pub`).
pub async fn story(visits: usize, seed: u64, out: Option<&Path>) -> anyhow::Result<Summary> {
    let dir = std::env::temp_dir().join(format!("wugan-demo-{}-{}", std::process::id(), seed));
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = SystemOptions::local(dir.clone());
    opts.persons_file = Some(scenes::persons_file(&dir)?);
    let sys = system::start(&opts).await?;
    let result = match run_story(&sys, visits, seed).await {
        Ok(mut summary) => invoices(&sys, out, &mut summary).await.map(|()| summary),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_story(sys: &system::System, visits: usize, seed: u64) -> anyhow::Result<Summary> {
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let hospital = &sys.credentials.hospitals[0];
    let his = HisClient::new(&sys.hub_url, &hospital.api_key);
    let patients = patients();
    let mut summary = Summary::default();
    for p in &patients {
        if let Some((use_acct, payment)) = &p.signup {
            let reply = operator.sign_up(p.cert_type, p.cert_no, *use_acct, payment.clone()).await?;
            anyhow::ensure!(reply.ok(), "signing up {} failed: {} {}", p.label, reply.status, reply.body);
        }
    }
    let mut rng = XorShift::new(seed);
    for n in 0..visits {
        let p = &patients[n % patients.len()];
        let visit_no = format!("MZ{:08}", n + 1);
        let totals = summary.by_patient.entry(p.label.to_string()).or_default();
        totals.visits += 1;
        summary.visits += 1;
        let fail = |code: &str, message: &str| Failure {
            visit: visit_no.clone(),
            patient: p.label.to_string(),
            code: code.into(),
            message: message.into(),
        };
        let reg = his.register(&visit_no, p.cert_type, p.cert_no).await?;
        if !reg.ok() {
            summary.failures.push(fail(reg.code().unwrap_or("?"), reg.message()));
            continue;
        }
        let visit_id = reg.body["id"].as_str().unwrap_or_default().to_string();
        let lines = visit_lines(&mut rng, &visit_no);
        let medfee: i64 =
            lines.iter().filter_map(|l| wugan_domain::Fen::from_json_yuan(&l["det_item_fee_sumamt"]).ok().flatten()).map(|f| f.0).sum();
        summary.medfee_fen += medfee;
        totals.medfee_fen += medfee;
        let up = his.upload_fees(&visit_id, &lines).await?;
        if !up.ok() {
            summary.failures.push(fail(up.code().unwrap_or("?"), up.message()));
            continue;
        }
        let settled = his.settle(&visit_id).await?;
        if !settled.ok() {
            summary.failures.push(fail(settled.code().unwrap_or("?"), settled.message()));
            continue;
        }
        summary.settled += 1;
        totals.settled += 1;
        totals.cash_fen += settled.fen("cash_fen");
        summary.fund_fen += settled.fen("fund_fen");
        summary.personal_account_fen += settled.fen("personal_account_fen");
        summary.bank_fen += settled.fen("bank_fen");
        summary.unpaid_fen += settled.fen("unpaid_fen");
    }
    summary.scenes = scenes::run(&his, &operator).await?;
    summary.scenes.outpatient = SceneCount { visits: summary.visits, settled: summary.settled };
    let all = summary.scenes.total();
    (summary.visits, summary.settled) = (all.visits, all.settled);
    let ledger = operator.get("/api/v1/ledger").await?;
    summary.ledger_balanced = ledger.body["balanced"].as_bool().unwrap_or(false);
    summary.hospital_credited_fen = ledger.fen("hospitals_received_fen");
    summary.holds_open_fen = scenes::holds_open_fen(&ledger.body);
    Ok(summary)
}

/// 3 to 6 fee lines: a consultation, then tests and drugs.
pub fn visit_lines(rng: &mut XorShift, visit_no: &str) -> Vec<Value> {
    let count = 3 + rng.below(4) as usize;
    (0..count)
        .map(|i| {
            // A consultation first; then tests and drugs, and now and then a self-paid check-up.
            let last = ITEMS.len() - 1;
            let (code, price) = match (i, rng.below(12) as usize) {
                (0, _) => ITEMS[0],
                (_, 11) => ITEMS[last],
                (_, k) => ITEMS[1 + k % (last - 1)],
            };
            let qty = 1 + rng.below(3) as i64;
            let unit = wugan_domain::Fen::parse_yuan(price).unwrap_or_default();
            let total = wugan_domain::Fen(unit.0 * qty);
            fee_line(&format!("{visit_no}-{}", i + 1), code, price, &qty.to_string(), &total.to_yuan_string())
        })
        .collect()
}

fn yuan(fen: i64) -> String {
    format!("{:>12}", wugan_domain::Fen(fen).to_yuan_string())
}

pub async fn run(visits: usize, seed: u64, as_json: bool, out: Option<&Path>) -> anyhow::Result<()> {
    let s = story(visits, seed, out).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("wugan demo: {} visits and stays at one hospital, settled by the doctor's click\n", s.visits);
    println!("  visits                 {:>12}", s.visits);
    println!("  settled seamlessly     {:>12}", s.settled);
    println!("  medical fees (yuan)    {}", yuan(s.medfee_fen));
    println!("  insurance fund         {}", yuan(s.fund_fen));
    println!("  personal account       {}", yuan(s.personal_account_fen));
    println!("  bank (credit / debit)  {}", yuan(s.bank_fen));
    println!("  unpaid bills           {}", yuan(s.unpaid_fen));
    println!("  hospital credited      {}", yuan(s.hospital_credited_fen));
    println!("  ledger balances        {:>12}", if s.ledger_balanced { "yes" } else { "NO" });
    println!("  invoices issued        {:>12}", s.invoices_issued);
    println!("  invoices verified      {:>12}", s.invoices_verified);
    println!("  holds left open (yuan) {}", yuan(s.holds_open_fen));
    println!("\n  scenes (visits / settled):");
    let sc = &s.scenes;
    for (name, c) in [
        ("outpatient", sc.outpatient),
        ("emergency (13)", sc.emergency),
        ("special disease (14)", sc.special_disease),
        ("inpatient stay (21)", sc.inpatient),
        ("refund", sc.refund),
        ("uninsured (self-pay)", sc.uninsured),
        ("out of area (异地)", sc.out_of_area),
    ] {
        println!("    {name:<22} {:>4} / {}", c.visits, c.settled);
    }
    if let Some(out) = out {
        println!(
            "  invoices written to    {} (check one: wugan invoice verify --trust {} FILE)",
            out.display(),
            out.join("root.pub").display()
        );
    }
    println!("\n  by patient:");
    for (label, t) in &s.by_patient {
        println!(
            "    {label}: {} visits, {} settled, fees {} yuan, cash share {} yuan",
            t.visits,
            t.settled,
            wugan_domain::Fen(t.medfee_fen).to_yuan_string(),
            wugan_domain::Fen(t.cash_fen).to_yuan_string()
        );
    }
    if !s.failures.is_empty() {
        println!("\n  not settled seamlessly ({}):", s.failures.len());
        let mut by_code: BTreeMap<(String, String), usize> = BTreeMap::new();
        for f in &s.failures {
            *by_code.entry((f.code.clone(), f.message.clone())).or_default() += 1;
        }
        for ((code, message), n) in by_code {
            println!("    {n} × {code}: {message}");
        }
    }
    Ok(())
}

/// The invoice part of the story: every invoice the hospital's list holds, fetched as its signed JSON
/// and verified offline with the root public key; with `out`, each written as PDF and JSON.
async fn invoices(sys: &system::System, out: Option<&Path>, summary: &mut Summary) -> anyhow::Result<()> {
    sys.app.invoice_outbox_pass().await;
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let root = sys.app.invoicing.keys.root_public();
    if let Some(out) = out {
        std::fs::create_dir_all(out)?;
        std::fs::write(out.join("root.pub"), format!("{}\n", root.to_hex()))?;
    }
    let list = his.get("/api/v1/invoices?limit=200").await?;
    anyhow::ensure!(list.ok(), "listing invoices failed: {} {}", list.status, list.body);
    for item in list.body["invoices"].as_array().into_iter().flatten() {
        let id = item["id"].as_str().unwrap_or_default();
        summary.invoices_issued += 1;
        let doc = his.get(&format!("/api/v1/invoices/{id}")).await?;
        let json = doc.body.to_string();
        if doc.ok() && wugan_invoice::verify_json(&json, &root).is_ok() {
            summary.invoices_verified += 1;
        }
        if let Some(out) = out {
            let name = format!("{}-{}", item["code"].as_str().unwrap_or("invoice"), item["number"].as_str().unwrap_or(id));
            std::fs::write(out.join(format!("{name}.json")), serde_json::to_string_pretty(&doc.body)?)?;
            let pdf = sys.app.invoice_pdf(None, id).await.map_err(|e| anyhow::anyhow!("invoice {name} as PDF: {e}"))?;
            std::fs::write(out.join(format!("{name}.pdf")), pdf)?;
        }
    }
    Ok(())
}
