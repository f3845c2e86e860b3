//! `/h5/credit`: the patient's seamless-payment settings (a default and per hospital, issue 14
//! scope 4), and their credit line: its statements (the bank's) and a limit-increase request.
//! Repayment stays on the home page beside the line's amounts. What the line holds (the bank's
//! `held_fen`: inpatient deposits, 住院押金) is said with what it is held for.
//!
//! The bank answers a limit request at once; the form then comes back here with the answer in
//! the address (`?limit_request=approved|declined&reason=…&line=…`), and the line says it in
//! words: approved with the new limit (read from the bank, not from the address), or declined
//! with the bank's reason (the twice-the-current-limit rule with its figure).

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use wugan_hub::app::patient_credit::{CreditAccount, Statement, StatementStatus};
use wugan_hub::app::patient_stays::PatientStayView;
use wugan_hub::app::App;

/// The most a limit may be asked (the hub's rule; the bank may allow less).
const MAX_LIMIT_FEN: i64 = 100_000_000;
/// The bank raises a limit at most to this many times the current one per request.
const MAX_FACTOR: i64 = 2;

#[derive(Template)]
#[template(path = "h5/credit.html")]
struct Credit {
    page: Page,
    default_enabled: bool,
    /// (agreement id, its line), for each active credit line whose statements the bank gave.
    lines: Vec<(String, CreditAccount)>,
    /// (agreement id, what the bank holds on its line), when the bank said.
    held: Vec<(String, i64)>,
    /// The stays the reader sees, those holding a deposit on one of their lines among them.
    stays: Vec<PatientStayView>,
    /// The bank's answer to the request just sent, for the line it was sent for.
    answer: Option<Answer>,
}

/// The answer of a limit request, as the form brought it back.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Answer {
    limit_request: Option<String>,
    reason: Option<String>,
    line: Option<String>,
}

impl Credit {
    fn status(&self, s: &Statement) -> &str {
        match s.status {
            StatementStatus::Open => self.page.t("p2_statement_open"),
            StatementStatus::Paid => self.page.t("p2_statement_paid"),
            StatementStatus::Overdue => self.page.t("p2_statement_overdue"),
        }
    }

    /// What the bank holds on line `id` (0 when it did not say).
    fn held(&self, id: &str) -> i64 {
        self.held.iter().find(|(a, _)| a == id).map_or(0, |(_, fen)| *fen)
    }

    /// The stays whose deposit line `id` holds, each said with its hospital and 住院号.
    fn held_for(&self, id: &str) -> Vec<(String, i64)> {
        let on_line = self.stays.iter().filter(|s| s.agreement_id.as_deref() == Some(id) && s.held_fen > 0);
        on_line
            .map(|s| {
                let key = if s.whose == "family" { "stay_h5_line_held_family" } else { "stay_h5_line_held_stay" };
                let said = self
                    .page
                    .t(key)
                    .replace("{hospital}", &s.hospital_name)
                    .replace("{ipt_no}", &s.ipt_no)
                    .replace("{name}", &s.patient_name);
                (said, s.held_fen)
            })
            .collect()
    }

    /// What line `id` holds beyond the stays' deposits (a payment on its way to settle).
    fn held_other(&self, id: &str) -> i64 {
        let stays: i64 = self.held_for(id).iter().map(|(_, fen)| fen).sum();
        (self.held(id) - stays).max(0)
    }

    /// The highest limit the bank may grant the line in one request.
    fn highest(&self, line: &CreditAccount) -> i64 {
        line.limit_fen.0.saturating_mul(MAX_FACTOR).min(MAX_LIMIT_FEN)
    }

    /// The hint under the amount: above the current limit, at most twice it.
    fn hint(&self, line: &CreditAccount) -> String {
        self.page
            .t("p2_limit_hint")
            .replace("{limit}", &self.page.yuan(line.limit_fen.0))
            .replace("{highest}", &self.page.yuan(self.highest(line)))
    }

    /// The bank's answer for line `id`, in words, and whether it was approved.
    fn answer(&self, id: &str, line: &CreditAccount) -> Option<(bool, String)> {
        let answer = self.answer.as_ref().filter(|a| a.line.as_deref() == Some(id))?;
        match answer.limit_request.as_deref()? {
            "approved" => Some((true, self.page.t("p2_limit_approved").replace("{limit}", &self.page.yuan(line.limit_fen.0)))),
            "declined" => {
                let key = match answer.reason.as_deref().unwrap_or_default() {
                    "limit_above_twice_current" => "p2_limit_declined_twice",
                    "limit_above_maximum" => "p2_limit_declined_maximum",
                    "limit_not_increased" => "p2_limit_declined_not_higher",
                    "agreement_overdue" => "p2_limit_declined_overdue",
                    "agreement_frozen" => "p2_limit_declined_frozen",
                    _ => "p2_limit_declined",
                };
                let text = self
                    .page
                    .t(key)
                    .replace("{limit}", &self.page.yuan(line.limit_fen.0))
                    .replace("{highest}", &self.page.yuan(self.highest(line)));
                Some((false, text))
            }
            _ => None,
        }
    }
}

pub async fn credit(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap, Query(answer): Query<Answer>) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let patient = signed_in.patient_id.as_str();
    let default_enabled = app.patient_seamless_choices(patient).await.map(|c| c.default_enabled).unwrap_or(true);
    let agreements = app.patient_agreements(patient).await.map(|list| list.agreements).unwrap_or_default();
    let mut lines = Vec::new();
    let mut held = Vec::new();
    for a in agreements.iter().filter(|a| a.status == "active" && a.payment.method == "credit_line") {
        if let Some(fen) = a.payment.held_fen {
            held.push((a.id.clone(), fen));
        }
        match app.patient_statements(patient, &a.id).await {
            Ok(account) => lines.push((a.id.clone(), account)),
            Err(e) => tracing::warn!(error = %e, "a credit line's statements could not be read"),
        }
    }
    let stays = match held.iter().any(|(_, fen)| *fen > 0) {
        true => app.patient_stays(patient).await.map(|s| s.stays).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a patient's stays could not be read");
            Vec::new()
        }),
        false => Vec::new(),
    };
    let page = Page::new(prefs, "/h5/credit", HOME).with_csrf(signed_in.csrf_token);
    render(&Credit { page, default_enabled, lines, held, stays, answer: Some(answer) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::prefs::Prefs;
    use wugan_hub::app::patient_credit::CreditAccount;

    fn line(limit_fen: i64) -> CreditAccount {
        serde_json::from_value(serde_json::json!({
            "agreement_id": "BA1", "status": "active", "limit_fen": limit_fen, "used_fen": 0, "unbilled_fen": 0,
            "interest_outstanding_fen": 0, "debt_fen": 0, "overdue_fen": 0, "returned_fen": 0, "statements": [], "repayments": []
        }))
        .unwrap()
    }

    fn page(lang: Lang, answer: Option<Answer>) -> String {
        let page = Page::new(Prefs { lang, elder: false, secure: false }, "/h5/credit", HOME).with_csrf("t");
        Credit { page, default_enabled: true, lines: vec![("agr_1".into(), line(500_000))], held: Vec::new(), stays: Vec::new(), answer }
            .render()
            .unwrap()
    }

    fn answer(status: &str, reason: &str) -> Option<Answer> {
        Some(Answer { limit_request: Some(status.into()), reason: Some(reason.into()), line: Some("agr_1".into()) })
    }

    #[test]
    fn the_banks_answer_to_a_limit_request_is_said_never_submitted() {
        // (lang, answer, said)
        let cases = [
            (Lang::Zh, answer("declined", "limit_above_twice_current"), "银行未批准：单次最多申请到当前额度的两倍（¥10,000.00）"),
            (Lang::En, answer("declined", "limit_above_twice_current"), "at most twice the current limit (¥10,000.00)"),
            (Lang::Zh, answer("approved", ""), "银行已批准：信用额度现为 ¥5,000.00"),
            (Lang::Zh, answer("declined", "limit_not_increased"), "须高于当前额度（¥5,000.00）"),
            (Lang::Zh, answer("declined", "something_new"), "银行未批准这次申请"),
        ];
        for (lang, answer, said) in cases {
            let html = page(lang, answer);
            assert!(html.contains(said), "{said}: {html}");
            assert!(!html.contains("申请已提交") && !html.contains("Sent: the bank decides"), "{html}");
        }
        // Another line's answer, or none: nothing said.
        let other = Some(Answer { line: Some("agr_2".into()), ..answer("approved", "").unwrap() });
        for html in [page(Lang::Zh, None), page(Lang::Zh, other)] {
            assert!(!html.contains("银行已批准") && !html.contains("银行未批准"), "{html}");
        }
    }

    #[test]
    fn what_the_line_holds_is_said_with_what_it_is_held_for() {
        let mut family = crate::h5::visits::stays_tests::stay("in_ward", 20_000, 0);
        (family.whose, family.patient_name, family.ipt_no) = ("family", "王*".into(), "ZY-2".into());
        let stays = vec![crate::h5::visits::stays_tests::stay("in_ward", 69_000, 0), family];
        for (lang, said) in [
            (
                Lang::Zh,
                [
                    "冻结中（不是欠款）",
                    "¥990.00",
                    "深圳市第一人民医院 住院押金（住院号 ZY-in_ward）",
                    "¥690.00",
                    "深圳市第一人民医院 王* 的住院押金（住院号 ZY-2）",
                    "¥200.00",
                    "其他待结算的付款",
                    "¥100.00",
                ],
            ),
            (
                Lang::En,
                [
                    "Held (not owed)",
                    "¥990.00",
                    "Inpatient deposit at 深圳市第一人民医院 (admission no. ZY-in_ward)",
                    "¥690.00",
                    "王*&#39;s inpatient deposit",
                    "¥200.00",
                    "Other payments waiting to settle",
                    "¥100.00",
                ],
            ),
        ] {
            for elder in [false, true] {
                let page = Page::new(Prefs { lang, elder, secure: false }, "/h5/credit", HOME).with_csrf("t");
                let lines = vec![("agr_1".into(), line(500_000))];
                let credit =
                    Credit { page, default_enabled: true, lines, held: vec![("agr_1".into(), 99_000)], stays: stays.clone(), answer: None };
                let html = credit.render().unwrap();
                for s in said {
                    assert!(html.contains(s), "{s}: {html}");
                }
            }
        }
        // Nothing held: nothing said.
        let none = page(Lang::Zh, None);
        assert!(!none.contains("冻结中（不是欠款）"), "{none}");
    }

    #[test]
    fn the_hint_names_the_range_the_bank_allows() {
        let html = page(Lang::Zh, None);
        assert!(html.contains("高于当前额度 ¥5,000.00，最多为当前额度的两倍 ¥10,000.00"), "{html}");
        assert!(!html.contains("¥5,000 至 ¥1,000,000，以银行审批为准"), "{html}");
    }
}
