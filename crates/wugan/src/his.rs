//! A scripted hospital HIS (and patient channel): calls the hub's HTTP API the way a hospital's
//! system does. Used by `wugan demo` and the end-to-end tests.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct HisClient {
    http: reqwest::Client,
    base: String,
    api_key: String,
    /// This client's number in the process: two clients never send the same key.
    client: u64,
    keys: AtomicU64,
}

/// Clients made so far in this process.
static CLIENTS: AtomicU64 = AtomicU64::new(0);

/// A reply: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The stable error code, when the reply is an error.
    pub fn code(&self) -> Option<&str> {
        self.body.get("error").and_then(|e| e.get("code")).and_then(Value::as_str)
    }
    pub fn message(&self) -> &str {
        self.body.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("")
    }
    pub fn fen(&self, field: &str) -> i64 {
        self.body.get(field).and_then(Value::as_i64).unwrap_or(0)
    }
}

impl HisClient {
    pub fn new(base: &str, api_key: &str) -> HisClient {
        HisClient {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            client: CLIENTS.fetch_add(1, Ordering::Relaxed),
            keys: AtomicU64::new(0),
        }
    }

    /// A fresh idempotency key, unique within this process (and across processes by their ids).
    pub fn next_key(&self) -> String {
        format!("k-{}-{}-{}", std::process::id(), self.client, self.keys.fetch_add(1, Ordering::Relaxed))
    }

    pub async fn raw(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> anyhow::Result<Reply> {
        self.send(method, path, key, body.map(|b| b.as_bytes().to_vec())).await
    }

    /// A body of any bytes, as a careless client may send them (another encoding, say).
    pub async fn raw_bytes(&self, method: &str, path: &str, key: Option<&str>, body: Vec<u8>) -> anyhow::Result<Reply> {
        self.send(method, path, key, Some(body)).await
    }

    async fn send(&self, method: &str, path: &str, key: Option<&str>, body: Option<Vec<u8>>) -> anyhow::Result<Reply> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(method, format!("{}{}", self.base, path)).bearer_auth(&self.api_key);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Reply { status, body })
    }

    pub async fn post_with_key(&self, path: &str, key: &str, body: &Value) -> anyhow::Result<Reply> {
        self.raw("POST", path, Some(key), Some(&body.to_string())).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        let key = self.next_key();
        self.post_with_key(path, &key, body).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.raw("GET", path, None, None).await
    }

    // ---- the calls a hospital makes, in the domain's words ------------------------------------

    pub async fn sign_up(&self, cert_type: &str, cert_no: &str, use_personal_account: bool, payment: Value) -> anyhow::Result<Reply> {
        self.post(
            "/api/v1/agreements",
            &json!({"mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "use_personal_account": use_personal_account, "payment": payment}),
        )
        .await
    }

    pub async fn register(&self, ipt_otp_no: &str, cert_type: &str, cert_no: &str) -> anyhow::Result<Reply> {
        self.post(
            "/api/v1/visits",
            &json!({"ipt_otp_no": ipt_otp_no, "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "med_type": "11",
                    "dept_code": "A03", "dept_name": "内科", "dr_name": "王医生"}),
        )
        .await
    }

    pub async fn upload_fees(&self, visit_id: &str, lines: &[Value]) -> anyhow::Result<Reply> {
        self.post(&format!("/api/v1/visits/{visit_id}/fees"), &json!({"lines": lines})).await
    }

    pub async fn pre_settle(&self, visit_id: &str) -> anyhow::Result<Reply> {
        self.raw("POST", &format!("/api/v1/visits/{visit_id}/pre-settlement"), None, None).await
    }

    /// The doctor's click.
    pub async fn settle(&self, visit_id: &str) -> anyhow::Result<Reply> {
        self.post(&format!("/api/v1/visits/{visit_id}/settlement"), &json!({})).await
    }

    pub async fn cancel(&self, visit_id: &str) -> anyhow::Result<Reply> {
        self.post(&format!("/api/v1/visits/{visit_id}/settlement/cancel"), &json!({})).await
    }
}

/// One fee line as a HIS sends it for 2204: national field names, yuan as strings.
pub fn fee_line(sn: &str, code: &str, price: &str, count: &str, total: &str) -> Value {
    json!({"feedetl_sn": sn, "med_list_codg": code, "medins_list_codg": code, "pric": price, "cnt": count,
           "det_item_fee_sumamt": total, "chrg_bchno": "1", "bilg_dept_codg": "A03", "bilg_dept_name": "内科",
           "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "hosp_appr_flag": "1"})
}
