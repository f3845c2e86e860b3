//! The re-check after a ward's request moved a stay on the fee lines it read
//! (`App::withdraw_if_a_line_came`): the bedside click that closes a stay with nothing left to
//! settle, and the interim settlement, each read the lines on record, then write their stage. A
//! day's fees that read the ward before that write, and wrote their line after the read, would
//! otherwise be left out of what the center is asked: the re-check puts the stay back as it was
//! and answers 409 `upload_in_progress`, before anything is sent. The interleaving is laid out
//! step by step on the store, as the two requests would meet; no partner is called.

use super::*;
use crate::app::recovery::tests::an_app_without_partners;
use wugan_domain::inpatient::{InterimIds, InterimPaid, Ward};
use wugan_domain::settlement::InsuranceSplit;

/// A stay in the ward holding 230.00 yuan, with `D1` uploaded and, with `settled_in_the_middle`,
/// settled by an interim settlement (the rest of the deposit held again).
async fn a_stay_in_the_ward(app: &App, id: &str, settled_in_the_middle: bool) -> StayRow {
    let split =
        InsuranceSplit { medfee: Fen(20_000), fund: Fen(13_000), personal_account: Fen::ZERO, cash: Fen(7_000), hospital_part: Fen::ZERO };
    let interim = InterimPaid {
        n: 1,
        setl_id: "S1".into(),
        split,
        captured: Fen(7_000),
        reheld: Fen(23_000),
        decline_code: None,
        lines: vec!["D1".into()],
        request: "interim-1".into(),
        charged_after_expiry: false,
    };
    let interims = if settled_in_the_middle { vec![interim] } else { Vec::new() };
    let ward = Ward { mdtrt_id: "M1".into(), pieces: vec![Fen(23_000)], piece_base: 1, interims, ..Ward::default() };
    let stage = StayStage::InWard(ward);
    let row = StayRow {
        id: id.into(),
        hospital_code: "H1".into(),
        ipt_no: id.to_uppercase(),
        psn_no: "P1".into(),
        insutype: "310".into(),
        insuplc_admdvs: "440300".into(),
        mdtrt_cert_type: "01".into(),
        mdtrt_cert_no_enc: "sealed".into(),
        med_type: "21".into(),
        agreement_id: "agr-1".into(),
        state: stage.state().into(),
        stage_json: stage_text(&stage).expect("json"),
        admit_msgid: "m2401".into(),
        discharge_msgid: "m2402".into(),
        presettle_msgid: "m2303".into(),
        settle_msgid: "m2304".into(),
        cancel_msgid: None,
        idem_key: None,
        created_at: app.now(),
        updated_at: app.now(),
        presettle_echo: None,
        admission_info: None,
        discharge_info: None,
    };
    app.store.insert_stay(&row).await.expect("stored");
    a_line_comes(app, id, "D1").await;
    app.store.mark_stay_fee_lines_uploaded(id, "batch-D1", &[]).await.expect("accepted");
    row
}

/// A day's fee line written on record (as an upload does before its 2301).
async fn a_line_comes(app: &App, id: &str, sn: &str) {
    let line = StayFeeLine {
        feedetl_sn: sn.into(),
        amount: Fen(6_000),
        upload_msgid: format!("batch-{sn}"),
        uploaded: false,
        detail_json: "{}".into(),
        category: None,
    };
    app.store.insert_stay_fee_lines(id, &[line]).await.expect("written");
}

async fn on_record(app: &App, id: &str) -> Vec<String> {
    app.store.stay_fee_lines(id).await.expect("read").into_iter().map(|l| l.feedetl_sn).collect()
}

/// `on_record` with each line's amount, as the interim settlement reads them.
async fn amounts_on_record(app: &App, id: &str) -> Vec<(String, Fen)> {
    app.store.stay_fee_lines(id).await.expect("read").into_iter().map(|l| (l.feedetl_sn, l.amount)).collect()
}

/// Which ward request moved the stay.
#[derive(Clone, Copy, Debug)]
enum Request {
    /// The bedside click on a stay the interim settlement took whole: `closing`.
    CloseWithNothingToSettle,
    /// 中途结算 of the lines read.
    Interim,
}

#[tokio::test]
async fn a_line_written_between_the_read_and_the_move_puts_the_stay_back_and_answers_upload_in_progress() {
    let (app, dir) = an_app_without_partners("withdraw").await;
    // (the request, whether a day's fees get in between) → the stage stored after the re-check.
    let cases = [
        (Request::CloseWithNothingToSettle, true, "in_ward"),
        (Request::CloseWithNothingToSettle, false, "discharging"),
        (Request::Interim, true, "in_ward"),
        (Request::Interim, false, "interim_settling"),
    ];
    for (n, (request, a_line_gets_in, stored)) in cases.into_iter().enumerate() {
        let id = format!("ipt-{n}");
        let s = a_stay_in_the_ward(&app, &id, matches!(request, Request::CloseWithNothingToSettle)).await;
        // The request reads the stage and the lines on record, and decides on them.
        let was = stay_stage(&s).expect("a stage");
        let known = on_record(&app, &id).await;
        let moved = match request {
            Request::CloseWithNothingToSettle => inpatient::begin_discharge(&was, &known).expect("closes"),
            Request::Interim => {
                let ids = InterimIds { request: "interim-2".into(), presettle_msgid: "m1".into(), settle_msgid: "m2".into() };
                inpatient::begin_interim(&was, &amounts_on_record(&app, &id).await, ids).expect("settles D1")
            }
        };
        assert!(matches!(moved, StayStage::Closing { discharged: false, .. } | StayStage::Interim(_)), "{request:?}: {moved:?}");
        // A day's fees read the stage (in the ward) before the move, and write their line after the read.
        if a_line_gets_in {
            a_line_comes(&app, &id, "D2").await;
        }
        let s = app.move_stay(s, &was, moved.clone()).await.expect("moved");
        let checked = app.withdraw_if_a_line_came(s, &was, &moved, &known, "try again").await;
        let now = app.store.stay(&id).await.expect("read").expect("the stay");
        assert_eq!(now.state, stored, "{request:?}, a line in between: {a_line_gets_in}");
        if a_line_gets_in {
            let refused = checked.expect_err("withdrawn");
            assert_eq!((refused.status().as_u16(), refused.code()), (409, "upload_in_progress"), "{request:?}: {refused}");
            assert_eq!(stay_stage(&now).expect("a stage"), was, "{request:?}: put back exactly as it was");
            // Read again, the lines include D2: the click settles it (never closes the stay
            // without it), and the interim settlement takes it too.
            let lines = on_record(&app, &id).await;
            match request {
                Request::CloseWithNothingToSettle => {
                    assert!(matches!(inpatient::begin_discharge(&was, &lines), Ok(StayStage::Discharging(_))))
                }
                Request::Interim => {
                    let ids = InterimIds { request: "interim-3".into(), presettle_msgid: "m3".into(), settle_msgid: "m4".into() };
                    let lines = amounts_on_record(&app, &id).await;
                    let StayStage::Interim(i) = inpatient::begin_interim(&was, &lines, ids).expect("settles") else { panic!() };
                    assert_eq!(i.lines, ["D1", "D2"]);
                }
            }
        } else {
            assert_eq!(checked.expect("nothing came").stage_json, now.stage_json, "{request:?}: it goes on as moved");
            assert_eq!(stay_stage(&now).expect("a stage"), moved);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
