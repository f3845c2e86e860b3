//! A sign-up of the hub that ended without an agreement may leave a credit line at the bank that
//! no agreement names. The recovery worker finds such orphans and closes them once the grace
//! period has passed, so no patient carries a line nobody uses. Lines the hub knows are never
//! touched, and neither are lines no sign-up of the hub names, nor lines with money on them: those
//! are what a hub restored from an older backup (or started on the wrong database) sees, and
//! closing them would take patients' lines, and the deposits held on them, away.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use wugan::system::{builtin_bank, builtin_insurance, spawn_server};
use wugan_bank::wire;
use wugan_domain::Fen;
use wugan_hub::bank_client::{BankClient, BankEndpoint};
use wugan_hub::clock::Clock;
use wugan_hub::pii::DataKey;
use wugan_hub::store::{SignupRow, Store};
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
    // The hub's record of that sign-up: it ended without an agreement (the line's answer came too late).
    let ended = SignupRow {
        id: "agr_lost".into(),
        state: "requested".into(),
        bank_code: "BANK01".into(),
        request_enc: "sealed".into(),
        person_enc: None,
        bank_agreement_id: None,
        refusal_code: None,
        refusal_message: None,
        attempts: 0,
        parked_reason: None,
        created_at: "2026-12-02T08:00:00Z".into(),
        updated_at: "2026-12-02T08:00:00Z".into(),
    };
    app.store.create_signup(&ended).await.unwrap();
    let failed = SignupRow { state: "failed".into(), refusal_code: Some("sign_up_expired".into()), ..ended.clone() };
    assert!(app.store.save_signup(&failed, "requested").await.unwrap());
    // A line no sign-up of this hub names, and one of its own sign-ups' that carries a debt.
    let stranger =
        wire::CreateAgreementRequest { request_id: "agr_elsewhere:open".into(), customer_ref: "agr_elsewhere".into(), ..lost.clone() };
    let stranger = bank.open_agreement(&stranger).await.unwrap();
    let owing = wire::CreateAgreementRequest { request_id: "agr_owing:open".into(), customer_ref: "agr_owing".into(), ..lost.clone() };
    let owing = bank.open_agreement(&owing).await.unwrap();
    app.store.create_signup(&SignupRow { id: "agr_owing".into(), ..ended }).await.unwrap();
    assert!(app.store.save_signup(&SignupRow { id: "agr_owing".into(), ..failed }, "requested").await.unwrap());
    bank.charge("agr_owing:c1", &owing.agreement_id, Fen(4_100), "H1", false).await.unwrap();

    assert_eq!(app.close_orphan_lines().await.unwrap(), 0, "a line just opened may belong to a sign-up still in flight");
    *clock.0.lock().unwrap() += time::Duration::seconds(599);
    assert_eq!(app.close_orphan_lines().await.unwrap(), 0, "still inside the grace period");
    *clock.0.lock().unwrap() += time::Duration::seconds(2);
    assert_eq!(app.close_orphan_lines().await.unwrap(), 1, "the orphan is closed");
    assert_eq!(bank.agreement(&orphan.agreement_id).await.unwrap().status, wire::AgreementStatus::Closed);
    for (line, why) in [(&stranger, "a line no sign-up of the hub names"), (&owing, "a line with a debt on it")] {
        assert_eq!(bank.agreement(&line.agreement_id).await.unwrap().status, wire::AgreementStatus::Active, "{why} stays open");
    }
    assert_eq!(
        bank.agreement(&signed.payment.bank_agreement_id).await.unwrap().status,
        wire::AgreementStatus::Active,
        "a line the hub knows stays"
    );
    assert_eq!(app.close_orphan_lines().await.unwrap(), 0, "nothing left to close");
    let _ = std::fs::remove_file(&db);
}
