//! A sign-up whose bank call succeeded but whose answer was lost, and which nobody retried, leaves
//! a credit line at the bank that no agreement of the hub names. The recovery worker finds such
//! orphans and closes them once the grace period has passed, so no patient carries a line nobody
//! uses; lines the hub knows are never touched.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use wugan::system::{builtin_bank, builtin_insurance, spawn_server};
use wugan_bank::wire;
use wugan_domain::Fen;
use wugan_hub::bank_client::{BankClient, BankEndpoint};
use wugan_hub::clock::Clock;
use wugan_hub::pii::DataKey;
use wugan_hub::store::Store;
use wugan_hub::{App, HubConfig};

/// A clock the test moves by hand.
struct HandClock(Mutex<time::OffsetDateTime>);

impl Clock for HandClock {
    fn now_utc(&self) -> time::OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn a_bank_line_no_agreement_names_is_closed_after_the_grace_period() {
    let bank_url = format!("http://{}", spawn_server("127.0.0.1:0", builtin_bank("BANK01", "hub", "s3cret")).await.unwrap());
    let hub = wugan_insurance::CallerCredential {
        fixmedins_code: wugan_hub::insurance_client::HUB_FIXMEDINS_CODE.into(),
        app_id: "app-hub".into(),
        secret: "hub-gateway-secret".into(),
    };
    let gateway = wugan_insurance::GatewayConfig { callers: vec![hub], operator_token: String::new() };
    let insurance = builtin_insurance(None, "440300", &gateway).unwrap();
    let insurance_url = format!("http://{}", spawn_server("127.0.0.1:0", insurance).await.unwrap());
    let clock = Arc::new(HandClock(Mutex::new(time::OffsetDateTime::now_utc())));
    let db = std::env::temp_dir().join(format!("wugan-orphans-{}.db", uuid::Uuid::new_v4().simple()));
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap().with_clock(clock.clone());
    store.migrate().await.unwrap();
    let endpoint = BankEndpoint {
        bank_code: "BANK01".into(),
        url: bank_url,
        key_id: "hub".into(),
        secret: "s3cret".into(),
        callback_secret: "no-callbacks-here".into(),
    };
    let config = HubConfig {
        admdvs: "440300".into(),
        insurance_url,
        insurance_credentials: wugan::system::Credentials::hub_gateway_credentials(&gateway),
        banks: vec![endpoint.clone()],
        default_credit_limit: Fen::yuan(5_000),
        partner_timeout: Duration::from_secs(10),
        data_key: DataKey::generate().unwrap(),
    };
    let app = App::new(store, config);

    // A patient signs up properly; another sign-up reached the bank and was never recorded.
    let request = serde_json::from_value(serde_json::json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": "440301199001011234",
        "payment": {"method": "credit_line", "bank_code": "BANK01"}}))
    .unwrap();
    let signed = app.sign_agreement(request, "operator", "k1").await.unwrap();
    let bank = BankClient::new(endpoint, Duration::from_secs(10));
    let lost = wire::CreateAgreementRequest {
        request_id: "agr_lost:open".into(),
        kind: wire::AgreementKind::CreditLine,
        customer_ref: "agr_lost".into(),
        holder_name: None,
        card_no: None,
        limit_fen: Some(Fen::yuan(5_000)),
        opening_balance_fen: None,
    };
    let orphan = bank.open_agreement(&lost).await.unwrap();

    assert_eq!(app.close_orphan_lines().await.unwrap(), 0, "a line just opened may belong to a sign-up still in flight");
    *clock.0.lock().unwrap() += time::Duration::seconds(599);
    assert_eq!(app.close_orphan_lines().await.unwrap(), 0, "still inside the grace period");
    *clock.0.lock().unwrap() += time::Duration::seconds(2);
    assert_eq!(app.close_orphan_lines().await.unwrap(), 1, "the orphan is closed");
    assert_eq!(bank.agreement(&orphan.agreement_id).await.unwrap().status, wire::AgreementStatus::Closed);
    assert_eq!(
        bank.agreement(&signed.payment.bank_agreement_id).await.unwrap().status,
        wire::AgreementStatus::Active,
        "a line the hub knows stays"
    );
    assert_eq!(app.close_orphan_lines().await.unwrap(), 0, "nothing left to close");
    let _ = std::fs::remove_file(&db);
}
