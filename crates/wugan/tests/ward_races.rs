//! A ward HIS as real ones behave (review r21): uploads of a day's fees sent at once, a 住院号
//! padded by a CHAR column, a click on a stay with no fees, two cancellations of one stay at
//! once. The ward is never told a refusal nobody made, nor that fees on record were not taken.

use common::ward::{fen, world, BED, EMPLOYEE_TOKEN, EXAMINATION};
use serde_json::json;
use wugan::his::fee_line;

mod common;

#[tokio::test]
async fn fee_uploads_sent_at_once_are_all_taken_and_the_click_settles_every_line() {
    let w = world("ward-burst").await;
    let id = w.admit("ZY3001").await["id"].as_str().expect("stay id").to_string();
    let upload = |day: usize| {
        let (his, id) = (wugan::his::HisClient::new(&w.sys.hub_url, &w.sys.credentials.hospitals[0].api_key), id.clone());
        async move {
            let line = fee_line(&format!("D{day}"), BED, "60.00", "1", "60.00");
            (day, his.post(&format!("/api/v1/stays/{id}/fees"), &json!({ "lines": [line] })).await.expect("hub"))
        }
    };
    let mut uploads = tokio::task::JoinSet::new();
    for day in 1..=6 {
        uploads.spawn(upload(day));
    }
    let answers = uploads.join_all().await;
    // Each is taken (200) or, while another's 2301 is out, refused with nothing kept (409
    // upload_in_progress: send it again); what the ward was told is what the stay holds.
    let taken = answers.iter().filter(|(_, a)| a.ok()).count() as i64;
    for (_, answer) in &answers {
        assert!(answer.ok() || answer.code() == Some("upload_in_progress"), "{answer:?}");
    }
    assert_eq!(fen(&w.stay(&id).await, "charges_fen"), 6_000 * taken, "the fees on record are the ones the ward was told were taken");
    for (day, _) in answers.iter().filter(|(_, a)| !a.ok()) {
        let again = upload(*day).await.1;
        assert!(again.ok(), "sent again, taken: {again:?}");
    }
    let stay = w.stay(&id).await;
    assert_eq!(fen(&stay, "charges_fen"), 36_000, "{stay}");
    let click = w.discharge(&id).await;
    assert_eq!(click.body["state"], "settled", "{click:?}");
    assert_eq!(fen(&click.body["settlement"], "medfee_fen"), 36_000, "the six days, as the ward was told: {click:?}");
    let (used, held) = w.bank_line().await;
    assert_eq!((used, held), (fen(&click.body["settlement"], "bank_fen"), 0), "captured what it says, nothing left held");
    w.ledger().await;
}

#[tokio::test]
async fn a_padded_inpatient_number_is_the_same_stay() {
    let w = world("ward-padded").await;
    let body = |no: &str| json!({"ipt_no": no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000});
    let padded = w.his.post("/api/v1/stays", &body("ZY3002    ")).await.expect("hub");
    assert!(padded.ok(), "{padded:?}");
    assert_eq!(padded.body["ipt_no"], "ZY3002", "kept trimmed: {padded:?}");
    let again = w.his.post("/api/v1/stays", &body("ZY3002")).await.expect("hub");
    assert_eq!((again.status, again.code()), (409, Some("stay_exists")), "{again:?}");
    let listed = w.his.get("/api/v1/stays?ipt_no=ZY3002").await.expect("hub");
    let stays = listed.body["stays"].as_array().cloned().unwrap_or_default();
    assert_eq!(stays.len(), 1, "{listed:?}");
    assert_eq!(stays[0]["id"], padded.body["id"]);
}

#[tokio::test]
async fn a_click_on_a_stay_with_no_fees_is_refused_before_anything_is_sent_and_the_admission_can_be_cancelled() {
    let w = world("ward-nofees").await;
    let id = w.admit("ZY3003").await["id"].as_str().expect("stay id").to_string();
    let click = w.discharge(&id).await;
    assert_eq!((click.status, click.code()), (409, Some("no_fees")), "{click:?}");
    let stay = w.stay(&id).await;
    assert_eq!((stay["state"].as_str(), fen(&stay, "held_fen")), (Some("in_ward"), 30_000), "as it was: {stay}");
    assert!(w.center_settlements().await.is_empty());
    let cancelled = w.his.post(&format!("/api/v1/stays/{id}/cancel"), &json!({})).await.expect("hub");
    assert_eq!(cancelled.body["state"], "cancelled", "{cancelled:?}");
    assert_eq!(w.bank_line().await, (0, 0), "the deposit released");
}

#[tokio::test]
async fn two_cancellations_of_one_stay_at_once_never_answer_a_refusal_the_center_did_not_make() {
    for round in 0..3 {
        let w = world(&format!("ward-cancels-{round}")).await;
        let id = w.admit(&format!("ZY300{round}")).await["id"].as_str().expect("stay id").to_string();
        w.fees(&id, vec![fee_line("D1", BED, "60.00", "1", "60.00")]).await;
        assert_eq!(w.discharge(&id).await.body["state"], "settled");
        let path = |what: &str| format!("/api/v1/stays/{id}/{what}");
        let (to_settlement, to_discharge, empty) = (path("settlement/cancel"), path("discharge/cancel"), json!({}));
        let (settlement, discharge) = tokio::join!(w.his.post(&to_settlement, &empty), w.his.post(&to_discharge, &empty));
        for answer in [settlement.expect("hub"), discharge.expect("hub")] {
            assert_ne!(answer.code(), Some("insurance_refused"), "no refusal was made: {answer:?}");
            assert!(answer.ok() || answer.status == 409, "{answer:?}");
        }
        let stay = w.stay(&id).await;
        assert!(matches!(stay["state"].as_str(), Some("settlement_cancelled" | "in_ward")), "{stay}");
        w.ledger().await;
    }
}

#[tokio::test]
async fn the_line_a_stay_holds_its_deposit_on_is_not_revoked_until_the_stay_is_over() {
    let w = world("ward-revoke").await;
    let id = w.admit("ZY3010").await["id"].as_str().expect("stay id").to_string();
    let revoke = format!("/api/v1/agreements/{}/revoke", w.agreement_id);
    let refused = w.operator.post(&revoke, &json!({})).await.expect("hub");
    assert_eq!((refused.status, refused.code()), (409, Some("stay_open")), "{refused:?}");
    assert!(refused.message().contains("ZY3010"), "names the stay: {refused:?}");
    w.fees(&id, vec![fee_line("D1", BED, "60.00", "1", "60.00")]).await;
    assert_eq!(w.discharge(&id).await.body["state"], "settled", "the stay settles on the line it was admitted on");
    // Over, the line still carries the stay's share: repaid, it may go.
    let owing = w.operator.post(&revoke, &json!({})).await.expect("hub");
    assert_eq!((owing.status, owing.code()), (409, Some("credit_debt_outstanding")), "{owing:?}");
    let agreement = w.operator.get(&format!("/api/v1/agreements/{}", w.agreement_id)).await.expect("hub").body;
    let used = agreement["payment"]["used_fen"].as_i64().expect("used");
    let repaid = w.operator.post(&format!("/api/v1/agreements/{}/repayments", w.agreement_id), &json!({"amount_fen": used})).await;
    assert!(repaid.expect("hub").ok());
    let revoked = w.operator.post(&revoke, &json!({})).await.expect("hub");
    assert!(revoked.ok(), "over and repaid: the line may go: {revoked:?}");
}

#[tokio::test]
async fn a_corrected_days_line_under_an_old_number_is_refused_and_the_same_line_again_is_taken() {
    // Review r25 F1, for a stay: day 1's bed sent again as an examination of the same total under
    // a new key was answered 200, nothing kept, and the bedside click settled the bed.
    let w = world("ward-corrected").await;
    let id = w.admit("ZY3009").await["id"].as_str().expect("stay id").to_string();
    w.fees(&id, vec![fee_line("D1", BED, "60.00", "1", "60.00")]).await;
    let path = format!("/api/v1/stays/{id}/fees");
    let corrected = w.his.post(&path, &json!({"lines": [fee_line("D1", EXAMINATION, "30.00", "2", "60.00")]})).await.expect("hub");
    assert_eq!((corrected.status, corrected.code()), (409, Some("duplicate_fee_line")), "{corrected:?}");
    let again = w.his.post(&path, &json!({"lines": [fee_line("D1", BED, "60.0", "1.00", "60.00")]})).await.expect("hub");
    assert!(again.ok(), "the same line sent again: {again:?}");
    // Named twice in one upload (the fuzzer's): refused, not taken for the upload sent again.
    let bed = fee_line("D1", BED, "60.00", "1", "60.00");
    let twice = w.his.post(&path, &json!({"lines": [bed.clone(), bed]})).await.expect("hub");
    assert_eq!((twice.status, twice.code()), (422, Some("duplicate_fee_line")), "{twice:?}");
    assert_eq!(fen(&w.stay(&id).await, "charges_fen"), 6_000);
}
