//! Reconciliation while the hospital works (review r22 F2): a run reads the hub's side of the day
//! first and the partners' files seconds later. A click or a refund that finishes in between is in
//! the partner's file and not in the hub's first read; it is no difference, and the run must not
//! file it as one (the advice would have been to reverse a good settlement with 2208). A real
//! difference is still filed.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient, Reply};
use wugan::system;

mod common;

const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";

/// Today in China time, the business day the visits fall on.
fn today() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

/// Waits for the new day when the test would start within minutes of midnight (the in-transit
/// window would change the counts).
async fn away_from_midnight() {
    let china = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("offset"));
    let left = 86_400 - (u64::from(china.hour()) * 3_600 + u64::from(china.minute()) * 60 + u64::from(china.second()));
    if left <= 8 * 60 {
        tokio::time::sleep(std::time::Duration::from_secs(left + 5)).await;
    }
}

/// The HIS of the first hospital: registers visit `n` and uploads 1,225 yuan of fees (lines 1
/// and 2); answers the visit id.
async fn registered(his: &HisClient, n: u32) -> String {
    let reg = json!({"ipt_otp_no": format!("MZ{n}"), "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN});
    let visit = his.post_with_key("/api/v1/visits", &format!("reg{n}"), &reg).await.expect("hub");
    assert!(visit.ok(), "{visit:?}");
    let id = visit.body["id"].as_str().expect("visit id").to_string();
    let lines = json!({"lines": [fee_line("1", "001102000010000", "25.00", "1", "25.00"), fee_line("2", "013100000010000", "150.00", "8", "1200.00")]});
    let up = his.post_with_key(&format!("/api/v1/visits/{id}/fees"), &format!("fees{n}"), &lines).await.expect("hub");
    assert!(up.ok(), "{up:?}");
    id
}

async fn click(his: &HisClient, visit_id: &str) -> Reply {
    let s = his.post_with_key(&format!("/api/v1/visits/{visit_id}/settlement"), &format!("click-{visit_id}"), &json!({})).await;
    let s = s.expect("hub");
    assert_eq!(s.body["state"], "settled", "{s:?}");
    s
}

/// Refunds fee line 2 (1,200 yuan) of a settled visit: 2208, 2204 + 2207 for line 1, the bank
/// refunds the difference.
async fn refund_line_2(his: &HisClient, visit_id: &str) {
    let path = format!("/api/v1/visits/{visit_id}/refunds");
    let r = his.post_with_key(&path, &format!("refund-{visit_id}"), &json!({"lines": ["2"]})).await.expect("hub");
    assert!(r.ok(), "{r:?}");
}

async fn sql(sys: &system::System, statement: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&sys.database_url).await.expect("hub database");
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(&pool).await.expect(statement);
    pool.close().await;
}

fn classes(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = (report["exceptions"].as_array().into_iter().flatten())
        .map(|e| (e["partner"].as_str().unwrap_or_default().to_string(), e["class"].as_str().unwrap_or_default().to_string()))
        .collect();
    out.sort();
    out
}

/// While the run talks to the center (after it read the hub's settlements) a visit is clicked and
/// another refunded and a stay settled in the middle (2304); while it fetches the bank's statement (after it read the ledger) a third is
/// clicked and a fourth refunded. None of it is a difference. A settlement the hub books under
/// another `setl_id` than the center's is one, and is filed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_commits_while_the_run_reads_the_partners_files_is_no_difference() {
    away_from_midnight().await;
    let (mut opts, _dir) = common::fresh_options("recon-traffic").await;
    opts.manual_recovery = true;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let agreement =
        operator.sign_up("01", EMPLOYEE_TOKEN, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let (hub_url, api_key) = (sys.hub_url.clone(), sys.credentials.hospitals[0].api_key.clone());
    let his = HisClient::new(&hub_url, &api_key);

    let mut visits = Vec::new();
    for n in 1..=5 {
        visits.push(registered(&his, n).await);
    }
    for v in &visits[..3] {
        click(&his, v).await;
    }
    // A stay in the ward with a bed day: its interim settlement (2304) commits during the run.
    let admission = json!({"ipt_no": "ZY-RECON-1", "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000});
    let stay = his.post_with_key("/api/v1/stays", "admit-recon-1", &admission).await.expect("hub");
    assert!(stay.ok(), "{stay:?}");
    let stay_id = stay.body["id"].as_str().expect("stay id").to_string();
    let bed = json!({"lines": [fee_line("B1", "110900001000000", "60.00", "1", "60.00")]});
    assert!(his.post_with_key(&format!("/api/v1/stays/{stay_id}/fees"), "bed-recon-1", &bed).await.expect("hub").ok());
    // The real difference: the hub keeps visit 3's settlement under a setl_id the center never gave.
    let third = sys.app.store.settlement_of_visit(&visits[2]).await.expect("store").expect("visit 3 settled");
    let real_setl_id = third.setl_id.clone().expect("a setl_id");
    sql(&sys, &format!("UPDATE settlements SET setl_id = 'NOT-THE-CENTERS' WHERE id = '{}'", third.id)).await;

    // The traffic, run inside the reconciliation's progress report: the run waits for it, so it
    // commits after the hub's side was read and before the partner's file is fetched.
    let (insurance_phase, bank_phase) = ((visits[3].clone(), visits[0].clone()), (visits[4].clone(), visits[1].clone()));
    let traffic = move |step: &str| {
        let (to_click, to_refund) = match step {
            "insurance" => &insurance_phase,
            "bank BANK01" => &bank_phase,
            _ => return,
        };
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let his = HisClient::new(&hub_url, &api_key);
                click(&his, to_click).await;
                refund_line_2(&his, to_refund).await;
                if step == "insurance" {
                    let path = format!("/api/v1/stays/{stay_id}/interim_settlement");
                    let interim = his.post_with_key(&path, "interim-recon-1", &json!({})).await.expect("hub");
                    assert_eq!(interim.body["interim_settlements"].as_array().map(Vec::len), Some(1), "{interim:?}");
                }
            })
        });
    };
    let view = sys.app.reconcile_day(&today(), &traffic).await.expect("the day reconciles");
    let report = serde_json::to_value(view).expect("json");

    let expected = [("insurance", "hub_only"), ("insurance", "partner_only")].map(|(p, c)| (p.to_string(), c.to_string()));
    assert_eq!(classes(&report), expected, "only visit 3's setl_ids differ: {report}");
    let partner_only = report["exceptions"].as_array().into_iter().flatten().find(|e| e["class"] == "partner_only").expect("filed");
    assert_eq!(partner_only["key"].as_str(), Some(real_setl_id.as_str()), "{partner_only}");
    assert_eq!(report["insurance"]["mismatches"], 2, "the click, the refund and the stay's 2304 during the run are matched: {report}");
    assert_eq!(report["banks"]["mismatches"], 0, "the capture and the bank refund during the run are matched: {report}");
    assert_eq!(report["banks"]["exceptions"], 0, "{report}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
