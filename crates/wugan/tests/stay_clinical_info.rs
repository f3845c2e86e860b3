//! A stay's clinical information (HIS API 1.8.0): the ward admits a patient with the department,
//! bed, doctors and diagnoses a real platform asks of 2401, and discharges them with the 离院方式,
//! department and diagnoses of 2402; the insurance center has them as the ward said them. What the
//! hub sends is kept with the stay before the call, so a 2401 or 2402 whose answer is lost goes again
//! exactly as it went. A body the center could not take is refused before anything is sent or
//! kept, and a HIS that sends none of it admits and discharges as it always did. HIS API 1.9.0: the
//! rest of 2401's and 2402's fields (病历号, surgery, maternity, 并发症, 死亡日期, the HIS's own
//! 出院时间), with counts and flags as numbers or texts; the contact data a real HIS sends is taken
//! and never kept nor sent. The insurance wire is recorded: the tests read what the hub sent. On
//! SQLite; with WUGAN_TEST_DATABASE_URL, on PostgreSQL.

use common::ward::{fen, world_with, World, BED, EMPLOYEE_PSN_NO, EMPLOYEE_TOKEN, EXAMINATION};
use serde_json::{json, Value};
use std::sync::Arc;
use wugan::faults::{Fault, FaultPlan, Rule};
use wugan::his::fee_line;

mod common;

/// The ward's world with its insurance wire recorded, and these faults on it.
async fn recorded_ward(label: &str, rules: Vec<Rule>) -> (World, Arc<FaultPlan>) {
    let plan = Arc::new(FaultPlan::scripted(rules).recording());
    let wire = plan.clone();
    (world_with(label, move |opts| opts.insurance_faults = Some(wire)).await, plan)
}

/// The `input` of every `infno` the hub sent, oldest first, with its msgid.
fn sent(plan: &FaultPlan, infno: &str) -> Vec<(Value, String)> {
    plan.exchanges(infno).into_iter().map(|e| (e.request["input"].clone(), e.request["msgid"].as_str().unwrap_or("").to_string())).collect()
}

/// The cardiology ward's admission of the employee, 300 yuan held: what the HIS knows of it.
fn cardiology_admission(ipt_no: &str) -> Value {
    json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000,
           "adm_dept_codg": "A03.01", "adm_dept_name": "心血管内科", "adm_bed": " 12-3 ", "atddr_no": "D0421", "chfpdr_name": "李明",
           "adm_diag_dscr": "胸痛三小时", "dscg_maindiag_code": "I21.900", "dscg_maindiag_name": "急性心肌梗死",
           "diseinfo": [{"diag_code": "I21.900", "diag_name": "急性心肌梗死", "maindiag_flag": "1", "adm_cond": "危",
                         "diag_dept": "心血管内科", "dise_dor_no": "D0421", "dise_dor_name": "李明", "diag_time": "2026-11-30 20:10:00"},
                        {"diag_code": "I10.x00", "diag_name": "高血压", "maindiag_flag": "0"}]})
}

impl World {
    async fn admitted(&self, body: &Value) -> Value {
        let stay = self.his.post("/api/v1/stays", body).await.expect("hub");
        assert!(stay.ok(), "admission: {stay:?}");
        stay.body
    }

    /// The insurance center's own record of the admission `mdtrt_id`.
    async fn at_center(&self, mdtrt_id: &str) -> Value {
        common::insurance_sandbox(&self.sys, &format!("/sandbox/visits/{mdtrt_id}")).await
    }

    async fn click(&self, id: &str, key: &str, body: &Value) -> wugan::his::Reply {
        self.his.post_with_key(&format!("/api/v1/stays/{id}/discharge"), key, body).await.expect("hub")
    }
}

#[tokio::test]
async fn the_ward_admits_with_its_department_and_diagnoses_and_the_insurance_center_has_them() {
    let (w, plan) = recorded_ward("clinical-admit", Vec::new()).await;
    let stay = w.admitted(&cardiology_admission("ZY1701")).await;
    assert_eq!((stay["state"].as_str(), fen(&stay, "held_fen")), (Some("in_ward"), 30_000), "admitted as ever: {stay}");
    let mdtrt_id = stay["mdtrt_id"].as_str().expect("admitted");

    // The center admitted the patient to cardiology, with the ward's diagnoses, the main one first.
    let at_center = w.at_center(mdtrt_id).await;
    assert_eq!(at_center["adm_dept_codg"], "A03.01", "{at_center}");
    assert_eq!(at_center["diagnoses"], json!(["I21.900", "I10.x00"]), "{at_center}");
    assert!(at_center["discharged"].is_null(), "{at_center}");

    // What went: 2401's own fields beside those it always had, trimmed; each diagnosis as the
    // ward gave it, for the person, with no mdtrt_id (the admission has none yet).
    let admissions = sent(&plan, "2401");
    assert_eq!(admissions.len(), 1, "{admissions:?}");
    let input = &admissions[0].0;
    let info = &input["mdtrtinfo"];
    for (field, value) in [
        ("adm_dept_codg", "A03.01"),
        ("adm_dept_name", "心血管内科"),
        ("adm_bed", "12-3"),
        ("atddr_no", "D0421"),
        ("chfpdr_name", "李明"),
        ("adm_diag_dscr", "胸痛三小时"),
        ("dscg_maindiag_code", "I21.900"),
        ("dscg_maindiag_name", "急性心肌梗死"),
        ("ipt_no", "ZY1701"),
        ("psn_no", EMPLOYEE_PSN_NO),
        ("med_type", "21"),
    ] {
        assert_eq!(info[field], value, "{field}: {input}");
    }
    assert!(info.get("coner_name").is_none() && info.get("tel").is_none(), "no contact data: {input}");
    let main = &input["diseinfo"][0];
    assert_eq!(
        (main["diag_code"].as_str(), main["maindiag_flag"].as_str(), main["adm_cond"].as_str()),
        (Some("I21.900"), Some("1"), Some("危"))
    );
    assert_eq!((main["diag_srt_no"].as_i64(), main["psn_no"].as_str(), main.get("mdtrt_id")), (Some(1), Some(EMPLOYEE_PSN_NO), None));
    assert_eq!(input["diseinfo"][1]["maindiag_flag"], "0", "{input}");

    // The stay goes on as any other: a day's fees, and the bedside click settles it.
    let id = stay["id"].as_str().expect("stay id");
    w.fees(id, vec![fee_line("C1-1", BED, "60.00", "1", "60.00")]).await;
    let settled = w.click(id, "clinical-admit-click", &json!({})).await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
}

#[tokio::test]
async fn the_ward_discharges_with_its_words_and_a_new_click_after_an_undone_discharge_may_say_otherwise() {
    // The first 2303 goes unanswered: the stay waits discharged, and the ward undoes the discharge.
    let (w, plan) = recorded_ward("clinical-dscg", vec![Rule { step: "2303".into(), nth: 1, fault: Fault::Refuse }]).await;
    let stay = w.admitted(&cardiology_admission("ZY1702")).await;
    let (id, mdtrt_id) = (stay["id"].as_str().expect("id"), stay["mdtrt_id"].as_str().expect("admitted"));
    w.fees(id, vec![fee_line("D1-1", BED, "60.00", "1", "60.00"), fee_line("D1-2", EXAMINATION, "150.00", "1", "150.00")]).await;

    // Transferred to another hospital (医嘱转院), from cardiology's bed 12-3, with two diagnoses.
    let transfer = json!({"dscg_way": "2", "dscg_dept_codg": "A03.01", "dscg_dept_name": "心血管内科", "dscg_bed": "12-3",
                          "diseinfo": [{"diag_code": "I21.900", "diag_name": "急性心肌梗死"}, {"diag_code": "I50.900", "diag_name": "心力衰竭"}]});
    let cut = w.click(id, "dscg-1", &transfer).await;
    assert_eq!(cut.status, 503, "the 2303 went unanswered: {cut:?}");
    assert_eq!(w.stay(id).await["state"], "discharged");
    let at_center = w.at_center(mdtrt_id).await;
    assert!(at_center["discharged"].is_string(), "{at_center}");
    assert_eq!((at_center["dscg_way"].as_str(), at_center["dscg_dept_codg"].as_str()), (Some("2"), Some("A03.01")), "{at_center}");
    assert_eq!(at_center["dscg_diagnoses"], json!(["I21.900", "I50.900"]), "{at_center}");
    let discharges = sent(&plan, "2402");
    let first = &discharges[0].0;
    assert_eq!((first["dscginfo"]["insutype"].as_str(), first["dscginfo"]["dscg_bed"].as_str()), (stay["insutype"].as_str(), Some("12-3")));
    let first_diagnosis = &first["diseinfo"][0];
    assert_eq!((first_diagnosis["mdtrt_id"].as_str(), first_diagnosis["maindiag_flag"].as_str()), (Some(mdtrt_id), Some("1")), "{first}");

    // 出院撤销 (2405): the patient stays after all; the center forgets that discharge.
    let undone = w.his.post(&format!("/api/v1/stays/{id}/discharge/cancel"), &json!({})).await.expect("hub");
    assert_eq!(undone.body["state"], "in_ward", "{undone:?}");
    let at_center = w.at_center(mdtrt_id).await;
    assert!(at_center["discharged"].is_null() && at_center["dscg_way"].is_null(), "{at_center}");

    // Days later the patient goes home (医嘱离院) from another ward: the new click says so.
    let home = json!({"dscg_way": "1", "dscg_dept_codg": "A05", "dscg_dept_name": "康复科", "dise_codg": "I50.900", "dise_name": "心力衰竭",
                      "diseinfo": [{"diag_code": "I50.900", "maindiag_flag": "1"}, {"diag_code": "I21.900", "maindiag_flag": "0"}]});
    let settled = w.click(id, "dscg-2", &home).await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let at_center = w.at_center(mdtrt_id).await;
    assert_eq!((at_center["dscg_way"].as_str(), at_center["dscg_dept_codg"].as_str()), (Some("1"), Some("A05")), "{at_center}");
    assert_eq!(at_center["dscg_diagnoses"], json!(["I50.900", "I21.900"]), "{at_center}");
    let discharges = sent(&plan, "2402");
    assert_eq!(discharges.len(), 2, "{discharges:?}");
    assert_ne!(discharges[0].1, discharges[1].1, "a new 2402 under a msgid of its own");
    assert_eq!(
        (discharges[1].0["dscginfo"]["dise_codg"].as_str(), discharges[1].0["dscginfo"]["dscg_bed"].as_str()),
        (Some("I50.900"), None)
    );

    // The same click again (its answer lost to the HIS) answers the same, and sends nothing.
    let again = w.click(id, "dscg-2", &home).await;
    assert_eq!((again.status, &again.body), (200, &settled.body), "{again:?}");
    assert_eq!(sent(&plan, "2402").len(), 2);
}

#[tokio::test]
async fn a_2401_or_2402_whose_answer_is_lost_goes_again_from_the_recovery_worker_exactly_as_it_went() {
    let lost = |infno: &str| Rule { step: infno.into(), nth: 1, fault: Fault::LoseReply };
    let (w, plan) = recorded_ward("clinical-lost", vec![lost("2401"), lost("2402")]).await;
    let admission = w.his.post("/api/v1/stays", &cardiology_admission("ZY1703")).await.expect("hub");
    assert_eq!(admission.status, 503, "the center admitted, its answer lost: {admission:?}");

    // The hub goes away; the recovery worker finds the stay admitting and sends 2401 again, which
    // the center answers from its record of the msgid: the same admission, the same words.
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    let hospital = &w.sys.credentials.hospitals[0].code;
    let row = w.sys.app.store.stay_by_hospital_no(hospital, "ZY1703").await.expect("store").expect("the stay, kept before 2401");
    let stay = w.stay(&row.id).await;
    assert_eq!(stay["state"], "in_ward", "{stay}");
    let admissions = sent(&plan, "2401");
    assert_eq!(admissions.len(), 2, "{admissions:?}");
    assert_eq!(admissions[1], admissions[0], "the same input under the same msgid");
    assert_eq!(w.at_center(stay["mdtrt_id"].as_str().expect("admitted")).await["adm_dept_codg"], "A03.01");

    // The click's 2402 is taken and its answer lost; the worker sends it again as the click said
    // it, at the time the click said it, though nobody sends the body again.
    let id = stay["id"].as_str().expect("id");
    w.fees(id, vec![fee_line("L1-1", BED, "60.00", "1", "60.00")]).await;
    let dead = json!({"dscg_way": "5", "dscg_dept_codg": "A03.01", "diseinfo": [{"diag_code": "I21.900"}]});
    let cut = w.click(id, "lost-click", &dead).await;
    assert_eq!(cut.status, 503, "{cut:?}");
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    assert_eq!(w.stay(id).await["state"], "settled");
    let discharges = sent(&plan, "2402");
    assert_eq!(discharges.len(), 2, "{discharges:?}");
    assert_eq!(discharges[1], discharges[0], "the same input, endtime included, under the same msgid");
    assert_eq!(discharges[0].0["dscginfo"]["dscg_way"], "5");
}

#[tokio::test]
async fn what_the_center_could_not_take_is_refused_before_anything_is_sent_or_kept() {
    let (w, plan) = recorded_ward("clinical-refused", Vec::new()).await;
    let with = |extra: Value| {
        let mut body = cardiology_admission("ZY1704");
        body.as_object_mut().expect("an object").extend(extra.as_object().expect("an object").clone());
        body
    };
    let refusals = [
        (json!({"diseinfo": [{"diag_code": "I21.900"}, {"diag_code": " ", "diag_name": "高血压"}]}), 422, "bad_diagnosis"),
        (json!({"adm_dept_name": "心".repeat(101)}), 422, "field_too_long"),
        (json!({"diseinfo": [{"diag_code": "I".repeat(31)}]}), 422, "field_too_long"),
        (json!({"adm_bed": "12\u{0}3"}), 422, "bad_characters"),
        // Contact data is taken, not kept; garbage in it is still refused.
        (json!({"coner_name": "王芳", "tel": "1".repeat(51)}), 422, "field_too_long"),
        (json!({"geso_val": 99}), 422, "bad_number"),
        (json!({"geso_val": "abc"}), 422, "bad_number"),
        (json!({"fetts": 2.5}), 422, "bad_number"),
        (json!({"latechb_flag": "2"}), 422, "bad_flag"),
        (json!({"pret_flag": 2}), 422, "bad_flag"),
        (json!({"birctrl_matn_date": "2026-02-30"}), 422, "bad_date"),
        (json!({"oprn_oprt_code": "手".repeat(31)}), 422, "field_too_long"),
        (json!({"admission_source": "x"}), 400, "unknown_field"),
    ];
    for (extra, status, code) in refusals {
        let refused = w.his.post("/api/v1/stays", &with(extra.clone())).await.expect("hub");
        assert_eq!((refused.status, refused.code()), (status, Some(code)), "{extra}: {refused:?}");
    }
    // Nothing held, nothing sent, nothing kept: the 住院号 is free, and the admission goes through.
    assert_eq!(w.bank_line().await, (0, 0));
    assert!(sent(&plan, "2401").is_empty());
    let hospital = &w.sys.credentials.hospitals[0].code;
    assert!(w.sys.app.store.stay_by_hospital_no(hospital, "ZY1704").await.expect("store").is_none());
    let stay = w.admitted(&with(json!({}))).await;
    let id = stay["id"].as_str().expect("id");

    // The bedside click likewise: a 离院方式 outside the dictionary, a diagnosis without its code, a
    // 死亡日期 without 死亡 or that no calendar has, a flag or a count that is none, and an 出院时间
    // that is no time, before the admission, or ahead of the clock.
    let ahead = wugan_hub::clock::china_datetime_of(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    let clicks = [
        (json!({"dscg_way": "6"}), "bad_dscg_way"),
        (json!({"diseinfo": [{"diag_name": "心力衰竭"}]}), "bad_diagnosis"),
        (json!({"dscg_way": "1", "die_date": "2026-12-05"}), "die_date_without_death"),
        (json!({"die_date": "2026-12-05"}), "die_date_without_death"),
        (json!({"dscg_way": "5", "die_date": "2026-02-30"}), "bad_date"),
        (json!({"cop_flag": "2"}), "bad_flag"),
        (json!({"geso_val": "abc"}), "bad_number"),
        (json!({"endtime": "2026-12-05"}), "bad_datetime"),
        (json!({"endtime": "2020-01-01 00:00:00"}), "bad_endtime"),
        (json!({ "endtime": ahead }), "bad_endtime"),
    ];
    for (i, (body, code)) in clicks.into_iter().enumerate() {
        let refused = w.click(id, &format!("refused-{i}"), &body).await;
        assert_eq!((refused.status, refused.code()), (422, Some(code)), "{body}: {refused:?}");
    }
    let dscg_bed = json!({"dscg_bed": "床".repeat(31)});
    assert_eq!(w.click(id, "refused-bed", &dscg_bed).await.code(), Some("field_too_long"));
    assert_eq!(w.click(id, "refused-tel", &json!({"tel": "13800000000"})).await.code(), Some("unknown_field"));
    assert!(sent(&plan, "2402").is_empty(), "no 2402 sent");
    let waiting = w.stay(id).await;
    assert_eq!((waiting["state"].as_str(), fen(&waiting, "held_fen")), (Some("in_ward"), 30_000), "{waiting}");
    let row = w.sys.app.store.stay(id).await.expect("store").expect("the stay");
    assert_eq!(row.discharge_info, None, "no discharge kept");
}

#[tokio::test]
async fn a_his_that_sends_none_of_it_admits_and_discharges_as_it_always_did() {
    let (w, plan) = recorded_ward("clinical-none", Vec::new()).await;
    let stay = w.admit("ZY1705").await;
    let (id, mdtrt_id) = (stay["id"].as_str().expect("id"), stay["mdtrt_id"].as_str().expect("admitted"));
    let admissions = sent(&plan, "2401");
    let fields: Vec<&str> = admissions[0].0["mdtrtinfo"].as_object().expect("mdtrtinfo").keys().map(String::as_str).collect();
    let always = ["begntime", "insutype", "ipt_no", "mdtrt_cert_no", "mdtrt_cert_type", "med_type", "psn_no"];
    assert_eq!(fields, always, "the fields 2401 always had");
    assert_eq!(admissions[0].0["diseinfo"], json!([]));
    let at_center = w.at_center(mdtrt_id).await;
    assert_eq!((at_center["adm_dept_codg"].clone(), at_center["diagnoses"].clone()), (Value::Null, json!([])), "{at_center}");

    // The click with no body at all, as HIS software sends it.
    w.fees(id, vec![fee_line("N1-1", BED, "60.00", "1", "60.00")]).await;
    let path = format!("/api/v1/stays/{id}/discharge");
    let settled = w.his.raw("POST", &path, Some("none-click"), None).await.expect("hub");
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
    let discharge = &sent(&plan, "2402")[0].0;
    let info = &discharge["dscginfo"];
    let fields: Vec<&str> = info.as_object().expect("dscginfo").keys().map(String::as_str).collect();
    assert_eq!(fields, ["dscg_way", "endtime", "insutype", "mdtrt_id", "psn_no"], "{discharge}");
    assert_eq!((info["dscg_way"].as_str(), info["insutype"].as_str()), (Some("1"), stay["insutype"].as_str()));
    assert_eq!(discharge["diseinfo"], json!([]));
    let at_center = w.at_center(mdtrt_id).await;
    assert_eq!((at_center["dscg_way"].as_str(), at_center["dscg_diagnoses"].clone()), (Some("1"), json!([])), "{at_center}");
}

/// The delivery ward's admission of the employee for a planned caesarean: what a real HIS sends of
/// 2401, its counts and flags as numbers or texts as its code writes them, and its contact data.
fn delivery_admission(ipt_no: &str) -> Value {
    json!({"ipt_no": ipt_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": EMPLOYEE_TOKEN, "deposit_fen": 30_000,
           "adm_dept_codg": "A05.01", "adm_dept_name": "产科", "medrcdno": " BA20261201 ", "dise_type_code": "11",
           "dscg_maindiag_code": "O82.000", "dscg_maindiag_name": "剖宫产术的单胎分娩",
           "oprn_oprt_code": "74.1x01", "oprn_oprt_name": "子宫下段剖宫产术", "fpsc_no": "FP440300001", "matn_type": "1",
           "birctrl_type": "", "latechb_flag": 1, "geso_val": "39", "fetts": 2, "fetus_cnt": " 1 ", "pret_flag": "0",
           "birctrl_matn_date": "2026-12-01", "coner_name": "王芳", "tel": "13800000000",
           "diseinfo": [{"diag_code": "O82.000", "diag_name": "剖宫产术的单胎分娩"}]})
}

#[tokio::test]
async fn the_delivery_ward_admits_with_the_surgery_and_pregnancy_and_the_contact_data_goes_nowhere() {
    let (w, plan) = recorded_ward("clinical-delivery", Vec::new()).await;
    let stay = w.admitted(&delivery_admission("ZY1801")).await;
    let (id, mdtrt_id) = (stay["id"].as_str().expect("id"), stay["mdtrt_id"].as_str().expect("admitted"));

    // The center has the main diagnosis, the surgery and the 生育类别.
    let at_center = w.at_center(mdtrt_id).await;
    for (field, value) in
        [("dscg_maindiag_code", "O82.000"), ("oprn_oprt_code", "74.1x01"), ("oprn_oprt_name", "子宫下段剖宫产术"), ("matn_type", "1")]
    {
        assert_eq!(at_center[field], value, "{field}: {at_center}");
    }

    // 2401 carries them under their national names: texts trimmed, counts as numbers, flags as texts.
    let admissions = sent(&plan, "2401");
    let info = &admissions[0].0["mdtrtinfo"];
    let expected = [
        ("medrcdno", json!("BA20261201")),
        ("dise_type_code", json!("11")),
        ("fpsc_no", json!("FP440300001")),
        ("latechb_flag", json!("1")),
        ("geso_val", json!(39)),
        ("fetts", json!(2)),
        ("fetus_cnt", json!(1)),
        ("pret_flag", json!("0")),
        ("birctrl_matn_date", json!("2026-12-01")),
    ];
    for (field, value) in expected {
        assert_eq!(info[field], value, "{field}: {info}");
    }
    assert!(info.get("birctrl_type").is_none(), "a blank field is absent: {info}");

    // 入院信息变更 (2403): the ward corrects the weeks, and the HIS sends the contact data again.
    let change = json!({"geso_val": 38, "pret_flag": 1, "coner_name": "王芳", "tel": "13800000000"});
    let changed = w.his.post(&format!("/api/v1/stays/{id}/admission"), &change).await.expect("hub");
    assert!(changed.ok(), "{changed:?}");
    let adminfo = &sent(&plan, "2403")[0].0["adminfo"];
    assert_eq!((&adminfo["geso_val"], &adminfo["pret_flag"]), (&json!(38), &json!("1")), "{adminfo}");

    // The contact data was taken, and is neither on the wire nor kept with the stay.
    let wire: Vec<String> = ["2401", "2403"].iter().flat_map(|infno| plan.exchanges(infno)).map(|e| e.request.to_string()).collect();
    let row = w.sys.app.store.stay(id).await.expect("store").expect("the stay");
    let kept = format!("{row:?}");
    for text in wire.iter().chain([&kept]) {
        assert!(!text.contains("13800000000") && !text.contains("王芳"), "contact data in {text}");
    }
    assert!(row.admission_info.as_deref().is_some_and(|info| info.contains("74.1x01")), "the rest is kept: {row:?}");
}

#[tokio::test]
async fn a_death_is_discharged_at_the_time_the_ward_gives_and_the_2402_goes_again_exactly_as_it_went() {
    let (w, plan) = recorded_ward("clinical-death", vec![Rule { step: "2402".into(), nth: 1, fault: Fault::LoseReply }]).await;
    let stay = w.admitted(&cardiology_admission("ZY1802")).await;
    let (id, mdtrt_id) = (stay["id"].as_str().expect("id"), stay["mdtrt_id"].as_str().expect("admitted"));
    w.fees(id, vec![fee_line("E1-1", BED, "60.00", "1", "60.00")]).await;

    // The ward writes the minute of death, two minutes from the hub's clock (within its leeway):
    // not the click's time. The 2402 is taken and its answer lost.
    let endtime = wugan_hub::clock::china_datetime_of(time::OffsetDateTime::now_utc() + time::Duration::minutes(2));
    let die_date = endtime[..10].to_string();
    let death = json!({"dscg_way": "5", "die_date": die_date, "cop_flag": 1, "endtime": endtime, "dscg_dept_codg": "A03.01",
                       "oprn_oprt_code": "37.9101", "oprn_oprt_name": "开胸心脏按摩", "diseinfo": [{"diag_code": "I21.900"}]});
    let cut = w.click(id, "death-click", &death).await;
    assert_eq!(cut.status, 503, "{cut:?}");

    // The recovery worker sends it again under its msgid, the same input, the ward's time included.
    w.sys.app.resume_unfinished(std::time::Duration::ZERO).await.expect("a recovery pass");
    assert_eq!(w.stay(id).await["state"], "settled");
    let discharges = sent(&plan, "2402");
    assert_eq!(discharges.len(), 2, "{discharges:?}");
    assert_eq!(discharges[1], discharges[0], "the same input under the same msgid");
    let info = &discharges[0].0["dscginfo"];
    let expected = [
        ("dscg_way", json!("5")),
        ("die_date", json!(die_date)),
        ("cop_flag", json!("1")),
        ("endtime", json!(endtime)),
        ("oprn_oprt_code", json!("37.9101")),
        ("oprn_oprt_name", json!("开胸心脏按摩")),
    ];
    for (field, value) in expected {
        assert_eq!(info[field], value, "{field}: {info}");
    }

    // The center discharged at the ward's time, with the death and the complication.
    let at_center = w.at_center(mdtrt_id).await;
    let seen = (at_center["discharged"].as_str(), at_center["die_date"].as_str(), at_center["cop_flag"].as_str());
    assert_eq!(seen, (Some(endtime.as_str()), Some(die_date.as_str()), Some("1")), "{at_center}");
}

#[tokio::test]
async fn a_nights_admission_entered_in_the_morning_carries_its_own_admission_time() {
    let (w, plan) = recorded_ward("clinical-begntime", Vec::new()).await;
    let now = time::OffsetDateTime::parse(&w.sys.app.now(), &time::format_description::well_known::Rfc3339).expect("the hub's time");
    let china = |t: time::OffsetDateTime| wugan_hub::clock::china_datetime_of(t);
    let admit = |ipt_no: &str, begntime: String| {
        let mut body = cardiology_admission(ipt_no);
        body["begntime"] = json!(begntime);
        body
    };
    // Refused before anything is sent or kept: no time, a time 40 days back, a time an hour ahead.
    for (begntime, code) in [
        ("yesterday night".to_string(), "bad_datetime"),
        (china(now - time::Duration::days(40)), "bad_begntime"),
        (china(now + time::Duration::hours(1)), "bad_begntime"),
    ] {
        let refused = w.his.post("/api/v1/stays", &admit("ZY1801", begntime.clone())).await.expect("hub");
        assert_eq!((refused.status, refused.code()), (422, Some(code)), "{begntime}: {refused:?}");
    }
    assert!(sent(&plan, "2401").is_empty(), "nothing went to the center");

    // Admitted at 23:40 nine hours ago (ISO 8601 from one HIS): 2401 carries that time.
    let night = now - time::Duration::hours(9);
    let stay = w.admitted(&admit("ZY1801", night.format(&time::format_description::well_known::Rfc3339).unwrap())).await;
    let admissions = sent(&plan, "2401");
    assert_eq!(admissions[0].0["mdtrtinfo"]["begntime"], json!(china(night)), "{admissions:?}");
    // The discharge may not say the patient left before they came.
    let id = stay["id"].as_str().expect("stay id");
    w.fees(id, vec![fee_line("N1-1", BED, "60.00", "1", "60.00")]).await;
    let early = w.click(id, "begntime-click-1", &json!({"endtime": china(night - time::Duration::hours(1))})).await;
    assert_eq!((early.status, early.code()), (422, Some("bad_endtime")), "{early:?}");
    let settled = w.click(id, "begntime-click-2", &json!({"endtime": china(now - time::Duration::hours(1))})).await;
    assert_eq!(settled.body["state"], "settled", "{settled:?}");
}
