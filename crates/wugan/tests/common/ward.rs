//! A ward of the first hospital with the employee signed up on a credit line (the personal
//! account not used: the cash share is the line's), and no recovery worker (nothing moves a stay
//! but the test's requests): the world of the suites where the center refuses the ward.

use serde_json::{json, Value};
use wugan::his::{HisClient, Reply};
use wugan::system;

pub const EMPLOYEE_TOKEN: &str = "EC44030000000000000001";
pub const EMPLOYEE_PSN_NO: &str = "44030000000000000001";
pub const BED: &str = "110900001000000"; // 甲, 60.00 a day
pub const EXAMINATION: &str = "013100000010000"; // 150.00

pub struct World {
    pub sys: system::System,
    pub his: HisClient,
    pub operator: HisClient,
    pub agreement_id: String,
    _dir: super::TempDir,
}

/// The ward's world, in a fresh folder named after `label`.
pub async fn world(label: &str) -> World {
    world_with(label, |_| {}).await
}

/// `world`, with options of its own (faults on, or a recording of, a partner's wire).
pub async fn world_with(label: &str, adjust: impl FnOnce(&mut system::SystemOptions)) -> World {
    let (mut opts, dir) = super::fresh_options(label).await;
    opts.manual_recovery = true;
    adjust(&mut opts);
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    let payment = json!({"method": "credit_line", "bank_code": "BANK01"});
    let agreement = operator.sign_up("01", EMPLOYEE_TOKEN, false, payment).await.expect("hub");
    assert!(agreement.ok(), "{agreement:?}");
    let agreement_id = agreement.body["id"].as_str().expect("agreement id").to_string();
    World { sys, his, operator, agreement_id, _dir: dir }
}

pub fn fen(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

impl World {
    /// Admits the employee with a 300-yuan deposit held on the line: the stay's view.
    pub async fn admit(&self, ipt_no: &str) -> Value {
        let body = json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000});
        let stay = self.his.post("/api/v1/stays", &body).await.expect("hub");
        assert!(stay.ok(), "admission: {stay:?}");
        stay.body
    }

    pub async fn stay(&self, id: &str) -> Value {
        self.his.get(&format!("/api/v1/stays/{id}")).await.expect("hub").body
    }

    /// A day's fee `lines` uploaded (2301): the stay's view.
    pub async fn fees(&self, id: &str, lines: Vec<Value>) -> Value {
        let fees = self.his.post(&format!("/api/v1/stays/{id}/fees"), &json!({ "lines": lines })).await.expect("hub");
        assert!(fees.ok(), "{fees:?}");
        fees.body
    }

    /// The bedside click.
    pub async fn discharge(&self, id: &str) -> Reply {
        self.his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await.expect("hub")
    }

    /// The interim settlement (中途结算) under idempotency key `key`.
    pub async fn interim(&self, id: &str, key: &str) -> Reply {
        self.his.post_with_key(&format!("/api/v1/stays/{id}/interim_settlement"), key, &json!({})).await.expect("hub")
    }

    /// What the line has captured (used) and holds.
    pub async fn bank_line(&self) -> (i64, i64) {
        let payment = self.operator.get(&format!("/api/v1/agreements/{}", self.agreement_id)).await.expect("hub").body["payment"].clone();
        (fen(&payment, "used_fen"), fen(&payment, "held_fen"))
    }

    /// The hub's ledger, balanced: (received by hospitals, held pending).
    pub async fn ledger(&self) -> (i64, i64) {
        let r = self.operator.get("/api/v1/ledger").await.expect("hub");
        assert_eq!(r.body["balanced"], json!(true), "the ledger balances: {}", r.body);
        let pending = r.body["accounts"].as_object().into_iter().flatten().map(|(_, a)| a["credits_pending"].as_i64().unwrap_or(0)).sum();
        (fen(&r.body, "hospitals_received_fen"), pending)
    }

    /// The center's own settlements of the employee.
    pub async fn center_settlements(&self) -> Vec<Value> {
        super::center_settlements_of(&self.sys, EMPLOYEE_PSN_NO).await
    }
}
