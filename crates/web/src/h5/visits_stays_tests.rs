//! `/h5/visits` with stays: in the ward with the deposit held, settled, owing; a family member's;
//! in both languages and the elder-friendly mode, every amount through `money::yuan`.

use super::*;
use crate::i18n::Lang;
use crate::prefs::Prefs;
use wugan_hub::app::StaySettlementView;

pub(crate) fn stay(phase: &'static str, held_fen: i64, owed_fen: i64) -> PatientStayView {
    let settled = matches!(phase, "settled" | "owing");
    PatientStayView {
        id: format!("sty_{phase}"),
        hospital_code: "H44030600001".into(),
        hospital_name: "深圳市第一人民医院".into(),
        ipt_no: format!("ZY-{phase}"),
        whose: "self",
        patient_name: "张*".into(),
        state: if phase == "owing" {
            "settled_unpaid"
        } else if settled {
            "settled"
        } else {
            "in_ward"
        },
        phase,
        phase_text: "",
        admitted_at: "2026-12-01T02:00:00Z".into(),
        held_fen,
        deposit_short: None,
        charges_fen: 123_456,
        fee_lines: 3,
        settlement: settled.then(|| StaySettlementView {
            setl_id: "S1".into(),
            medfee_fen: 123_456,
            fund_fen: 80_000,
            personal_account_fen: 10_000,
            cash_fen: 33_456,
            bank_fen: 33_456 - owed_fen,
            unpaid_fen: owed_fen,
            decline_code: None,
        }),
        interim_settlements: Vec::new(),
        cancelled_interim_settlements: Vec::new(),
        owed_fen,
        collected_fen: 0,
        agreement_id: Some("agr_1".into()),
    }
}

fn page(lang: Lang, elder: bool, stays: Vec<PatientStayView>) -> String {
    let page = Page::new(Prefs { lang, elder, secure: false }, "/h5/visits", HOME).with_csrf("t");
    let visits = Visits {
        page,
        visits: Vec::new(),
        stays,
        invoices: Vec::new(),
        stay_documents: Vec::new(),
        hospitals: HospitalNames::default(),
        older: None,
    };
    visits.render().unwrap()
}

#[test]
fn a_stay_in_the_ward_shows_its_deposit_held_and_the_page_is_not_empty() {
    // (lang, said)
    let cases = [
        (
            Lang::Zh,
            [
                "住院",
                "深圳市第一人民医院 · 住院号 ZY-in_ward",
                "在院",
                "押金（信用额度上冻结）",
                "¥690.00",
                "¥1,234.56",
                "押金 ¥690.00 只是冻结，不是扣款",
            ],
        ),
        (
            Lang::En,
            [
                "Inpatient stays",
                "Admission no. ZY-in_ward",
                "In the ward",
                "Deposit (held on your credit line)",
                "¥690.00",
                "¥1,234.56",
                "The deposit of ¥690.00 is held, not charged",
            ],
        ),
    ];
    for (lang, said) in cases {
        for elder in [false, true] {
            let html = page(lang, elder, vec![stay("in_ward", 69_000, 0)]);
            for s in said {
                assert!(html.contains(s), "{s}: {html}");
            }
            assert!(!html.contains("还没有就诊记录") && !html.contains("No visits yet"), "{html}");
            assert!(!html.contains("69000") && !html.contains("_fen"), "no raw fen: {html}");
        }
    }
    // No stays and no visits: the page says so.
    assert!(page(Lang::Zh, false, Vec::new()).contains("还没有就诊记录"));
}

#[test]
fn a_settled_stay_says_paid_and_an_owing_one_says_what_is_owed_and_where_to_pay() {
    let html = page(Lang::Zh, false, vec![stay("settled", 0, 0), stay("owing", 0, 12_000)]);
    for said in [
        "已出院，已结清",
        "住院费用已结清，无需到窗口付款。",
        "已出院，尚有欠费",
        "尚欠 ¥120.00，可在“待缴账单”中支付。",
        "href=\"/h5/bills\"",
        "¥800.00",
    ] {
        assert!(html.contains(said), "{said}: {html}");
    }
    // Nothing is held once settled.
    assert!(!html.contains("押金（信用额度上冻结）"), "{html}");
}

#[test]
fn a_family_members_stay_names_them_masked() {
    let mut theirs = stay("in_ward", 50_000, 0);
    theirs.whose = "family";
    theirs.patient_name = "王*".into();
    let html = page(Lang::Zh, false, vec![theirs.clone()]);
    assert!(html.contains("家人 王* 的住院，由您的信用额度支付。"), "{html}");
    assert!(page(Lang::En, false, vec![theirs]).contains("王*&#39;s stay, paid on your credit line."));
}

#[test]
fn an_interim_settlement_the_ward_cancelled_says_so_and_what_went_back_to_the_line() {
    let cancelled = wugan_hub::app::InterimSettlementView {
        n: 1,
        setl_id: "S-I1".into(),
        medfee_fen: 30_000,
        fund_fen: 20_000,
        personal_account_fen: 0,
        cash_fen: 10_000,
        bank_fen: 10_000,
        unpaid_fen: 0,
        reheld_fen: 0,
        decline_code: None,
        lines: vec!["F1".into()],
    };
    let mut in_ward = stay("in_ward", 69_000, 0);
    in_ward.cancelled_interim_settlements = vec![cancelled];
    for (lang, said) in [
        (Lang::Zh, ["第 1 次中途结算（已撤销）", "会与其余费用一起重新结算", "退回信用额度", "¥100.00", "¥300.00"]),
        (
            Lang::En,
            ["Interim settlement 1 (cancelled)", "settled again with the rest", "Returned to your credit line", "¥100.00", "¥300.00"],
        ),
    ] {
        let html = page(lang, true, vec![in_ward.clone()]);
        for s in said {
            assert!(html.contains(s), "{s}: {html}");
        }
    }
    // None cancelled: nothing said.
    assert!(!page(Lang::Zh, false, vec![stay("in_ward", 69_000, 0)]).contains("中途结算（已撤销）"));
}
