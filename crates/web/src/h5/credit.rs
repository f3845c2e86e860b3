//! `/h5/credit`: the patient's seamless-payment settings (a default and per hospital, issue 14
//! scope 4), and their credit line: its statements (the bank's) and a limit-increase request.
//! Repayment stays on the home page beside the line's amounts.
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
    for a in agreements.iter().filter(|a| a.status == "active" && a.payment.method == "credit_line") {
        match app.patient_statements(patient, &a.id).await {
            Ok(account) => lines.push((a.id.clone(), account)),
            Err(e) => tracing::warn!(error = %e, "a credit line's statements could not be read"),
        }
    }
    let page = Page::new(prefs, "/h5/credit", HOME).with_csrf(signed_in.csrf_token);
    render(&Credit { page, default_enabled, lines, answer: Some(answer) })
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
        Credit { page, default_enabled: true, lines: vec![("agr_1".into(), line(500_000))], answer }.render().unwrap()
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
    fn the_hint_names_the_range_the_bank_allows() {
        let html = page(Lang::Zh, None);
        assert!(html.contains("高于当前额度 ¥5,000.00，最多为当前额度的两倍 ¥10,000.00"), "{html}");
        assert!(!html.contains("¥5,000 至 ¥1,000,000，以银行审批为准"), "{html}");
    }
}
