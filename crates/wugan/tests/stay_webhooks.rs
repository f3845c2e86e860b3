//! A ward HIS hears of its stays as it hears of its visits (review r21 #7): with an endpoint
//! registered, a bedside settlement posts `stay.settled` and the stay's invoice `invoice.issued`,
//! once each; the ward's 2305 posts `stay.settlement_cancelled` (and the red invoice); a cancelled
//! admission `stay.cancelled`; interim settlements `stay.interim_settled`, and a stay they settled
//! whole `stay.settled` in state `settled_by_interims`. Each payload names the stay, its 住院号, its
//! state and its money in fen, never the patient. A visit's events are as before. The worker
//! passes are driven by hand (`manual_recovery`). On SQLite; with WUGAN_TEST_DATABASE_URL, on
//! PostgreSQL.

use common::ward::{fen, world, World, BED, EMPLOYEE_PSN_NO, EMPLOYEE_TOKEN, EXAMINATION};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use wugan::his::fee_line;

mod common;

/// A hospital's webhook receiver: keeps every event it is sent, answers 200.
async fn start_receiver() -> (Arc<Mutex<Vec<Value>>>, String) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let state = state.clone();
            async move {
                state.lock().expect("receiver").push(serde_json::from_str::<Value>(&body).expect("an event is JSON"));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, url)
}

struct Ward {
    w: World,
    received: Arc<Mutex<Vec<Value>>>,
    http: reqwest::Client,
}

impl Ward {
    async fn new(label: &str) -> Ward {
        let w = world(label).await;
        let (received, url) = start_receiver().await;
        let endpoint = w.his.post("/api/v1/webhook-endpoints", &json!({"url": url})).await.expect("hub");
        assert!(endpoint.ok(), "{endpoint:?}");
        Ward { w, received, http: reqwest::Client::new() }
    }

    /// One pass of the webhook worker: events written, then delivered. The events received in
    /// this pass.
    async fn pass(&self) -> Vec<Value> {
        let before = self.received.lock().expect("receiver").len();
        self.w.sys.app.webhook_outbox_pass().await.expect("events written");
        self.w.sys.app.deliver_webhooks(&self.http).await.expect("delivered");
        self.received.lock().expect("receiver")[before..].to_vec()
    }

    /// Admitted with the 300-yuan deposit, 210.00 yuan of fees.
    async fn admitted_with_fees(&self, ipt_no: &str) -> String {
        let id = self.w.admit(ipt_no).await["id"].as_str().expect("stay id").to_string();
        let lines = vec![
            fee_line(&format!("{ipt_no}-1"), BED, "60.00", "1", "60.00"),
            fee_line(&format!("{ipt_no}-2"), EXAMINATION, "150.00", "1", "150.00"),
        ];
        self.w.fees(&id, lines).await;
        id
    }
}

/// The one event of `kind` among `events`.
fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let of_kind: Vec<&Value> = events.iter().filter(|e| e["type"] == kind).collect();
    assert_eq!(of_kind.len(), 1, "one {kind} in {events:#?}");
    of_kind[0]
}

fn kinds(events: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = events.iter().map(|e| e["type"].as_str().unwrap_or_default().to_string()).collect();
    kinds.sort();
    kinds
}

/// No personal data: neither the person's number nor the certificate, nor a name field.
fn no_personal_data(event: &Value) {
    let text = event.to_string();
    assert!(!text.contains(EMPLOYEE_PSN_NO) && !text.contains(EMPLOYEE_TOKEN), "{text}");
    for field in ["psn_no", "psn_name", "name", "mdtrt_cert_no", "certno"] {
        assert!(event["data"].get(field).is_none(), "{field} in {event}");
    }
}

#[tokio::test]
async fn a_ward_his_hears_of_a_bedside_settlement_its_cancellation_and_a_cancelled_admission_once_each() {
    let ward = Ward::new("stay_webhooks").await;
    let w = &ward.w;

    // Admitted, fees, nothing settled yet: no event.
    let id = ward.admitted_with_fees("ZY7001").await;
    assert_eq!(ward.pass().await, Vec::<Value>::new(), "nothing to tell while the patient is in the ward");

    // The bedside click: the stay settled on its hold, and its invoice, once each.
    let click = w.discharge(&id).await;
    assert_eq!(click.body["state"].as_str(), Some("settled"), "{click:?}");
    let s = &click.body["settlement"];
    let events = ward.pass().await;
    assert_eq!(kinds(&events), ["invoice.issued", "stay.settled"], "{events:#?}");
    let settled = &one(&events, "stay.settled")["data"];
    assert_eq!((settled["stay_id"].as_str(), settled["ipt_no"].as_str()), (Some(id.as_str()), Some("ZY7001")), "{settled}");
    assert_eq!((settled["state"].as_str(), settled["setl_id"].as_str()), (Some("settled"), s["setl_id"].as_str()), "{settled}");
    for field in ["medfee_fen", "fund_fen", "personal_account_fen", "cash_fen", "bank_fen", "unpaid_fen"] {
        assert_eq!(settled[field], s[field], "{field}: the view's figure, in fen: {settled}");
    }
    assert_eq!((fen(settled, "bank_fen"), fen(settled, "owed_fen")), (21_000, 0), "{settled}");
    assert!(settled["interim_n"].is_null(), "{settled}");
    let invoice = &one(&events, "invoice.issued")["data"];
    assert_eq!((invoice["stay_id"].as_str(), invoice["invoice_kind"].as_str()), (Some(id.as_str()), Some("blue")), "{invoice}");
    assert_eq!((invoice["setl_id"].as_str(), invoice["visit_id"].is_null()), (s["setl_id"].as_str(), true), "{invoice}");
    let listed = w.his.get("/api/v1/invoices").await.expect("hub").body.to_string();
    assert!(listed.contains(invoice["invoice_id"].as_str().expect("invoice id")), "the invoice the HIS can fetch: {listed}");
    events.iter().for_each(no_personal_data);
    assert_eq!(ward.pass().await, Vec::<Value>::new(), "each event written once");

    // The ward cancels the settlement (2305): its cancellation, with the figures reversed, and the red invoice.
    let cancel = w.his.post(&format!("/api/v1/stays/{id}/settlement/cancel"), &json!({})).await.expect("hub");
    assert_eq!(cancel.body["state"].as_str(), Some("settlement_cancelled"), "{cancel:?}");
    let events = ward.pass().await;
    assert_eq!(kinds(&events), ["invoice.issued", "stay.settlement_cancelled"], "{events:#?}");
    let cancelled = &one(&events, "stay.settlement_cancelled")["data"];
    assert_eq!((cancelled["state"].as_str(), cancelled["setl_id"].as_str()), (Some("settlement_cancelled"), s["setl_id"].as_str()));
    assert_eq!(fen(cancelled, "bank_fen"), 21_000, "refunded to the line: {cancelled}");
    assert_eq!(one(&events, "invoice.issued")["data"]["invoice_kind"].as_str(), Some("red"), "{events:#?}");
    events.iter().for_each(no_personal_data);
    assert_eq!(ward.pass().await, Vec::<Value>::new(), "each event written once");

    // Another admission, cancelled in the ward (2404): `stay.cancelled`, nothing settled.
    let other = w.admit("ZY7002").await["id"].as_str().expect("stay id").to_string();
    let cancel = w.his.post(&format!("/api/v1/stays/{other}/cancel"), &json!({})).await.expect("hub");
    assert_eq!(cancel.body["state"].as_str(), Some("cancelled"), "{cancel:?}");
    let events = ward.pass().await;
    assert_eq!(kinds(&events), ["stay.cancelled"], "{events:#?}");
    let data = &one(&events, "stay.cancelled")["data"];
    assert_eq!(
        (data["stay_id"].as_str(), data["ipt_no"].as_str(), data["state"].as_str()),
        (Some(other.as_str()), Some("ZY7002"), Some("cancelled"))
    );
    assert_eq!((fen(data, "medfee_fen"), fen(data, "bank_fen"), data["setl_id"].is_null()), (0, 0, true), "{data}");
    assert_eq!(ward.pass().await, Vec::<Value>::new(), "each event written once");

    // A visit's events are as before: the settlement and its invoice, named by the visit.
    let visit = w.his.register("MZ7001", "01", EMPLOYEE_TOKEN).await.expect("hub");
    let visit_id = visit.body["id"].as_str().expect("visit id").to_string();
    assert!(w.his.upload_fees(&visit_id, &[fee_line("MZ7001-1", "001102000010000", "25.00", "1", "25.00")]).await.expect("hub").ok());
    assert_eq!(w.his.settle(&visit_id).await.expect("hub").body["state"].as_str(), Some("settled"));
    let events = ward.pass().await;
    assert_eq!(kinds(&events), ["invoice.issued", "settlement.settled"], "{events:#?}");
    for event in &events {
        let data = &event["data"];
        assert_eq!(data["visit_id"].as_str(), Some(visit_id.as_str()), "{event}");
        assert!(data.get("stay_id").is_none(), "a visit's payload as before: {event}");
        for field in ["settlement_id", "state", "medfee_fen", "cash_fen", "captured_fen", "unpaid_fen"] {
            assert!(data.get(field).is_some(), "{field} in {event}");
        }
    }
}

#[tokio::test]
async fn a_stay_settled_by_its_interim_settlements_is_told_each_and_then_settled() {
    let ward = Ward::new("stay_webhooks_interims").await;
    let w = &ward.w;
    let id = ward.admitted_with_fees("ZY7101").await;

    // 中途结算: the interim settlement and its invoice.
    let interim = w.interim(&id, "interim-1").await;
    assert!(interim.ok(), "{interim:?}");
    let booked = &interim.body["interim_settlements"][0];
    let events = ward.pass().await;
    assert_eq!(kinds(&events), ["invoice.issued", "stay.interim_settled"], "{events:#?}");
    let data = &one(&events, "stay.interim_settled")["data"];
    assert_eq!((data["interim_n"].as_i64(), data["setl_id"].as_str()), (Some(1), booked["setl_id"].as_str()), "{data}");
    assert_eq!(fen(data, "medfee_fen"), 21_000, "{data}");
    assert_eq!(one(&events, "invoice.issued")["data"]["interim_n"].as_i64(), Some(1), "{events:#?}");

    // The bedside click with nothing left: the stay settled by its interims, their sum.
    let click = w.discharge(&id).await;
    assert_eq!(click.body["state"].as_str(), Some("settled_by_interims"), "{click:?}");
    let events = ward.pass().await;
    assert_eq!(kinds(&events), ["stay.settled"], "{events:#?}");
    let data = &one(&events, "stay.settled")["data"];
    assert_eq!((data["state"].as_str(), data["setl_id"].is_null()), (Some("settled_by_interims"), true), "{data}");
    assert_eq!((fen(data, "medfee_fen"), fen(data, "owed_fen")), (21_000, fen(&click.body, "owed_fen")), "{data}");
    events.iter().for_each(no_personal_data);
    assert_eq!(ward.pass().await, Vec::<Value>::new(), "each event written once");
}
