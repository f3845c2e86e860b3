//! What an agreement still owes keeps it (review r26 patient): a line with debt is not revoked on
//! any door, a person whose earlier line still owes does not sign up afresh, a family link ends
//! when its member signs up on their own, an agreement pays for one spouse, and a visit registered
//! on an agreement revoked since says it is no longer seamless.

use serde_json::json;
use wugan::his::{fee_line, HisClient};
use wugan::system;

mod common;

const ZHANG_SAN: &str = "440301199001011234";
const LI_XIUYING: &str = "440303195803152420";
const WANG_WU: &str = "440304198507203318";
const ZHAO_LIU: &str = "440305199208084567";
const CREDIT_LINE: &str = r#"{"method": "credit_line", "bank_code": "BANK01"}"#;

async fn started(label: &str) -> (system::System, HisClient, HisClient, common::TempDir) {
    let (opts, dir) = common::fresh_options(label).await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let his = HisClient::new(&sys.hub_url, &sys.credentials.hospitals[0].api_key);
    (sys, operator, his, dir)
}

fn credit_line() -> serde_json::Value {
    serde_json::from_str(CREDIT_LINE).expect("json")
}

#[tokio::test]
async fn a_line_with_debt_is_not_revoked_and_its_holder_does_not_sign_up_afresh_while_it_owes() {
    let (sys, operator, his, _dir) = started("owed").await;
    let signed = operator.sign_up("02", ZHANG_SAN, false, credit_line()).await.expect("hub");
    let agreement_id = signed.body["id"].as_str().expect("agreement").to_string();
    let visit = his.register("MZ-OWE-1", "02", ZHANG_SAN).await.expect("hub").body["id"].as_str().expect("visit").to_string();
    assert!(his.upload_fees(&visit, &[fee_line("1", "001102000010000", "25.00", "1", "25.00")]).await.expect("hub").ok());
    assert_eq!(his.settle(&visit).await.expect("hub").body["state"], "settled");
    // The operator's door (the app, the kiosk, the counter) as the patient's own: repay first.
    let revoke = operator.post(&format!("/api/v1/agreements/{agreement_id}/revoke"), &json!({})).await.expect("hub");
    assert_eq!((revoke.status, revoke.body["error"]["code"].as_str()), (409, Some("credit_debt_outstanding")), "{revoke:?}");
    assert!(revoke.body["error"]["message"].as_str().is_some_and(|m| m.contains('¥')), "in yuan: {revoke:?}");
    // A line closed with its debt some other way (an older hub, the bank's own closing): the
    // holder's new sign-up is refused until it is repaid.
    sys.app.store.revoke_agreement(&agreement_id).await.expect("revoked behind the checks");
    let again = operator.sign_up("02", ZHANG_SAN, false, credit_line()).await.expect("hub");
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (409, Some("credit_debt_outstanding")), "{again:?}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_family_link_ends_when_its_member_signs_up_and_an_agreement_pays_for_one_spouse() {
    let (sys, operator, his, _dir) = started("family-ends").await;
    let signer = operator.sign_up("02", ZHANG_SAN, false, credit_line()).await.expect("hub");
    let agreement_id = signer.body["id"].as_str().expect("agreement").to_string();
    let family = format!("/api/v1/agreements/{agreement_id}/family");
    let member = |cert: &str, relation: &str| json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": cert, "relation": relation, "consent": {"method": "face", "reference": "FACE"}});
    assert!(operator.post(&family, &member(LI_XIUYING, "parent")).await.expect("hub").ok());
    assert!(operator.post(&family, &member(WANG_WU, "spouse")).await.expect("hub").ok());
    let second = operator.post(&family, &member(ZHAO_LIU, "spouse")).await.expect("hub");
    assert_eq!((second.status, second.body["error"]["code"].as_str()), (409, Some("family_link_refused")), "{second:?}");
    // The parent signs up on her own: her agreement pays for her, and the link that did ends.
    assert!(operator.sign_up("02", LI_XIUYING, false, credit_line()).await.expect("hub").ok());
    let links = operator.get(&format!("/api/v1/agreements/{agreement_id}")).await.expect("hub").body["family"].clone();
    let status_of =
        |relation: &str| links.as_array().into_iter().flatten().find(|l| l["relation"] == relation).map(|l| l["status"].clone());
    assert_eq!((status_of("parent"), status_of("spouse")), (Some(json!("revoked")), Some(json!("active"))), "{links}");
    // The spouse's visit, registered on the signer's line; the signer revokes (nothing owed yet).
    let visit = his.register("MZ-FAM-1", "02", WANG_WU).await.expect("hub").body["id"].as_str().expect("visit").to_string();
    assert!(operator.post(&format!("/api/v1/agreements/{agreement_id}/revoke"), &json!({})).await.expect("hub").ok());
    let seen = his.get(&format!("/api/v1/visits/{visit}")).await.expect("hub").body;
    assert_eq!((seen["seamless"]["enabled"].clone(), seen["seamless"]["reason"].clone()), (json!(false), json!("revoked")), "{seen}");
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
