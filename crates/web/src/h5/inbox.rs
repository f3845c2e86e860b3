//! `/h5/notifications`: the patient's inbox: each visit settled, with its split, in words.
//!
//! A notification is what was true when it was made; the inbox says it with what is true now
//! where the patient's own pages know it (one read of the visits and one of the bills, as those
//! pages make): a visit's split is the visits page's (the line's share is what the bank paid,
//! never the unpaid share), and a bill paid since reads as paid.

use super::{session, HospitalNames, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Arc;
use wugan_hub::app::App;
use wugan_hub::store::NotificationRow;

#[derive(Template)]
#[template(path = "h5/notifications.html")]
struct Inbox {
    page: Page,
    notifications: Vec<NotificationRow>,
    hospitals: HospitalNames,
    /// The visits' settlements as they stand, by settlement id.
    now: HashMap<String, Split>,
    /// Bills (by settlement or stay id) collected since they were told.
    paid_bills: Vec<String>,
}

/// A visit's split as the visits page shows it, in fen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    pub medfee: i64,
    pub fund: i64,
    pub account: i64,
    /// What the bank paid on the line at the click.
    pub line: i64,
    /// Still owed.
    pub unpaid: i64,
    /// Collected on the line later (补缴).
    pub collected: i64,
    /// Insurance only: the cash share the hospital collects itself.
    pub at_hospital: i64,
}

impl Inbox {
    fn fen(&self, n: &NotificationRow, field: &str) -> String {
        self.page.yuan(n.facts[field].as_i64().unwrap_or(0))
    }

    fn text<'a>(&self, n: &'a NotificationRow, field: &str) -> &'a str {
        n.facts[field].as_str().unwrap_or("")
    }

    /// The visit's split: as it stands now, or as the notification told it (the line paid the
    /// cash share less what was left unpaid).
    fn split(&self, n: &NotificationRow) -> Split {
        if let Some(now) = self.now.get(self.text(n, "settlement_id")) {
            return *now;
        }
        let f = |k: &str| n.facts[k].as_i64().unwrap_or(0);
        Split {
            medfee: f("medfee_fen"),
            fund: f("fund_fen"),
            account: f("acct_fen"),
            line: (f("cash_fen") - f("unpaid_fen")).max(0),
            unpaid: f("unpaid_fen"),
            collected: 0,
            at_hospital: 0,
        }
    }

    fn headline(&self, n: &NotificationRow) -> &str {
        if n.facts["member"].as_bool().unwrap_or(false) {
            self.page.t("note_member_settled")
        } else {
            self.page.t("note_settled")
        }
    }

    /// A bill told unpaid and collected since.
    fn bill_paid(&self, n: &NotificationRow) -> bool {
        n.kind == "bill_unpaid" && self.paid_bills.iter().any(|id| id == self.text(n, "settlement_id"))
    }

    /// A further kind's headline (`patient_notices`), or None for a visit settled.
    fn p2_headline(&self, n: &NotificationRow) -> Option<&str> {
        let key = match n.kind.as_str() {
            "visit_settled" => return None,
            "estimate_ready" => "p2_note_estimate_ready",
            "bill_unpaid" if self.bill_paid(n) => "p2_note_bill_paid",
            "bill_unpaid" => "p2_note_bill_unpaid",
            "line_overdue" => "p2_note_line_overdue",
            "line_reinstated" => "p2_note_line_reinstated",
            "statement_ready" => "p2_note_statement_ready",
            "visit_refunded" => match (n.facts["member"].as_bool().unwrap_or(false), n.facts["full"].as_bool().unwrap_or(false)) {
                (false, false) => "p2_note_refunded_part",
                (false, true) => "p2_note_refunded_full",
                (true, false) => "p2_note_member_refunded_part",
                (true, true) => "p2_note_member_refunded_full",
            },
            "settlement_cancelled" => {
                let member = n.facts["member"].as_bool().unwrap_or(false);
                match (self.text(n, "kind"), n.facts["interim_n"].is_u64(), member) {
                    ("stay", true, false) => "p2_note_interim_cancelled",
                    ("stay", true, true) => "p2_note_member_interim_cancelled",
                    ("stay", false, false) => "p2_note_stay_cancelled",
                    ("stay", false, true) => "p2_note_member_stay_cancelled",
                    (_, _, false) => "p2_note_cancelled",
                    (_, _, true) => "p2_note_member_cancelled",
                }
            }
            "family_invited" => "p2_note_family_invited",
            _ => "p2_note_payment_due",
        };
        Some(self.page.t(key))
    }

    /// A refund's or a cancelled settlement's parts, each with where it went back
    /// (`visit_refunded`, `settlement_cancelled`; empty for other kinds).
    fn refund_parts(&self, n: &NotificationRow) -> Vec<(&str, String)> {
        if !matches!(n.kind.as_str(), "visit_refunded" | "settlement_cancelled") {
            return Vec::new();
        }
        let to = if self.text(n, "to") == "debit_card" { "p2_refund_to_debit_card" } else { "p2_refund_to_credit_line" };
        let parts: Vec<(&str, String)> = [
            ("bank_fen", to),
            ("account_fen", "p2_refund_to_account"),
            ("fund_fen", "p2_refund_to_fund"),
            ("at_hospital_fen", "p2_refund_at_hospital"),
        ]
        .into_iter()
        .filter(|(k, _)| n.facts[*k].as_i64().is_some_and(|f| f > 0))
        .map(|(k, key)| (self.page.t(key), self.fen(n, k)))
        .collect();
        match parts.is_empty() {
            true => vec![(self.page.t("p2_refund_bill_less"), String::new())],
            false => parts,
        }
    }

    /// The amount a further kind is about, if any; a cancelled settlement's is its total fees,
    /// said so (what came back is in its parts).
    fn p2_amount(&self, n: &NotificationRow) -> Option<String> {
        let amount = ["refunded_fen", "unpaid_fen", "cash_fen", "outstanding_fen", "overdue_fen"]
            .into_iter()
            .find(|k| n.facts[*k].as_i64().is_some_and(|f| f > 0))
            .map(|k| self.fen(n, k))?;
        match n.kind.as_str() {
            "settlement_cancelled" => Some(format!("{} {amount}", self.page.t("p2_cancelled_total"))),
            _ => Some(amount),
        }
    }

    /// When, to the minute, in China time.
    fn day(&self, n: &NotificationRow) -> String {
        let t = crate::page::china_time(&n.created_at);
        t.get(..16).unwrap_or(&t).to_string()
    }
}

pub async fn inbox(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let notifications = match app.patient_notifications(&signed_in.patient_id).await {
        Ok(view) => view.notifications,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's notifications could not be read");
            Vec::new()
        }
    };
    let mut now = HashMap::new();
    if notifications.iter().any(|n| n.kind == "visit_settled") {
        match app.patient_visits(&signed_in.patient_id, None).await {
            Ok(list) => {
                for s in list.visits.into_iter().filter_map(|v| v.settlement) {
                    let split = Split {
                        medfee: s.medfee_fen,
                        fund: s.fund_fen,
                        account: s.personal_account_fen,
                        line: s.bank_fen,
                        unpaid: s.unpaid_fen,
                        collected: s.collected_fen,
                        at_hospital: s.cash_at_hospital_fen,
                    };
                    now.insert(s.id, split);
                }
            }
            Err(e) => tracing::warn!(error = %e, "a patient's visits could not be read"),
        }
    }
    let mut paid_bills = Vec::new();
    if notifications.iter().any(|n| n.kind == "bill_unpaid") {
        match app.patient_unpaid_bills(&signed_in.patient_id).await {
            Ok(view) => {
                paid_bills =
                    view.bills.into_iter().filter(|b| b.collection.as_deref() == Some("collected")).map(|b| b.settlement_id).collect()
            }
            Err(e) => tracing::warn!(error = %e, "a patient's bills could not be read"),
        }
        // A visit's bill no longer owed and nothing left unpaid on it: paid too.
        paid_bills.extend(now.iter().filter(|(_, s)| s.unpaid == 0 && s.collected > 0).map(|(id, _)| id.clone()));
    }
    let hospitals = HospitalNames::read(&app).await;
    let page = Page::new(prefs, "/h5/notifications", HOME).with_csrf(signed_in.csrf_token);
    render(&Inbox { page, notifications, hospitals, now, paid_bills })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::prefs::Prefs;
    use serde_json::json;

    fn note(kind: &str, facts: serde_json::Value) -> NotificationRow {
        NotificationRow {
            id: "ntf_1".into(),
            patient_id: "pat_1".into(),
            event_key: "k".into(),
            kind: kind.into(),
            facts,
            created_at: "2026-12-02T10:00:00Z".into(),
            read_at: None,
            sms_attempts: 0,
            sms_sent_at: None,
        }
    }

    fn inbox(lang: Lang, notifications: Vec<NotificationRow>, now: HashMap<String, Split>, paid_bills: Vec<String>) -> String {
        let page = Page::new(Prefs { lang, elder: false, secure: false }, "/h5/notifications", HOME);
        Inbox { page, notifications, hospitals: HospitalNames::default(), now, paid_bills }.render().unwrap()
    }

    /// A refund says which visit, how much, and where each part went back, in the page's language.
    #[test]
    fn a_refund_says_how_much_went_back_and_where() {
        let refunded = |member: bool| {
            note(
                "visit_refunded",
                json!({"refund_id": "rfd_1", "hospital_code": "H1", "ipt_otp_no": "MZ-R1", "full": false, "refunded_fen": 120000,
                       "bank_fen": 84000, "account_fen": 6000, "fund_fen": 30000, "at_hospital_fen": 0, "to": "credit_line", "member": member}),
            )
        };
        let html = inbox(Lang::Zh, vec![refunded(false)], HashMap::new(), Vec::new());
        assert!(
            html.contains("<h2>部分项目已退费</h2>") && html.contains("H1 · MZ-R1") && html.contains(r#"<p class="cash">¥1,200.00</p>"#),
            "{html}"
        );
        for said in
            ["退回信用额度 <span class=\"cash\">¥840.00</span>", "退回医保个人账户 <span class=\"cash\">¥60.00</span>", "退回医保基金"]
        {
            assert!(html.contains(said), "{said}: {html}");
        }
        assert!(!html.contains("账单即将到期"), "not told as another kind: {html}");
        let en = inbox(Lang::En, vec![refunded(true)], HashMap::new(), Vec::new());
        assert!(en.contains("<h2>Some items of a family member&#39;s visit were refunded</h2>"), "{en}");
        assert!(en.contains("Back to your credit line <span class=\"cash\">¥840.00</span>"), "{en}");
    }

    /// A settlement cancelled says what it was (a visit's, a stay's, an interim one), how much, and
    /// where each part went back, in the page's language.
    #[test]
    fn a_cancelled_settlement_says_what_it_was_and_where_the_money_went() {
        let cancelled = |kind: &str, interim_n: serde_json::Value, member: bool| {
            note(
                "settlement_cancelled",
                json!({"kind": kind, "interim_n": interim_n, "hospital_code": "H1", "ipt_otp_no": "ZY-C1", "refunded_fen": 15000,
                       "bank_fen": 4500, "account_fen": 0, "fund_fen": 10500, "at_hospital_fen": 0, "to": "debit_card", "member": member}),
            )
        };
        let html = inbox(Lang::Zh, vec![cancelled("visit", json!(null), false)], HashMap::new(), Vec::new());
        assert!(html.contains("<h2>就诊结算已撤销</h2>") && html.contains(r#"<p class="cash">总费用 ¥150.00</p>"#), "{html}");
        for said in ["退回银行卡 <span class=\"cash\">¥45.00</span>", "退回医保基金 <span class=\"cash\">¥105.00</span>"] {
            assert!(html.contains(said), "{said}: {html}");
        }
        assert!(!html.contains("退回医保个人账户"), "no part of nothing: {html}");
        let cases = [
            (Lang::Zh, "stay", json!(null), true, "家人住院结算已撤销"),
            (Lang::Zh, "stay", json!(1), false, "住院中途结算已撤销"),
            (Lang::En, "visit", json!(null), true, "The settlement of a family member&#39;s visit was cancelled"),
            (Lang::En, "stay", json!(null), false, "The settlement of your stay was cancelled"),
            (Lang::En, "stay", json!(2), true, "An interim settlement of a family member&#39;s stay was cancelled"),
        ];
        for (lang, kind, n, member, headline) in cases {
            let html = inbox(lang, vec![cancelled(kind, n, member)], HashMap::new(), Vec::new());
            assert!(html.contains(&format!("<h2>{headline}</h2>")), "{headline}: {html}");
        }
    }

    /// The line paid nothing on a bill left unpaid: the inbox says 0.00 on the line and the unpaid
    /// share as unpaid, like the visits page; later collected, it says so.
    #[test]
    fn an_unpaid_share_is_never_shown_as_paid_on_the_line() {
        let settled = || {
            note(
                "visit_settled",
                json!({"settlement_id": "stl_1", "hospital_code": "H1", "ipt_otp_no": "MZ-LI-2", "medfee_fen": 400000,
                       "fund_fen": 100000, "acct_fen": 0, "cash_fen": 300000, "unpaid_fen": 300000, "member": false}),
            )
        };
        let html = inbox(Lang::Zh, vec![settled()], HashMap::new(), Vec::new());
        assert!(html.contains(r#"<dt>信用额度支付（待还）</dt><dd class="cash">¥0.00</dd>"#), "{html}");
        assert!(html.contains(r#"<dt>未付金额</dt><dd class="unpaid">¥3,000.00</dd>"#), "{html}");
        assert!(html.contains("个人部分尚未支付") && !html.contains("本次无需到窗口付款"), "{html}");
        let en = inbox(Lang::En, vec![settled()], HashMap::new(), Vec::new());
        assert!(!en.contains("Paid on your credit line (to repay)</dt><dd class=\"cash\">¥3,000.00"), "{en}");

        // Collected later on the line: nothing unpaid, the collection said.
        let now = HashMap::from([(
            "stl_1".to_string(),
            Split { medfee: 400000, fund: 100000, line: 0, unpaid: 0, collected: 300000, ..Split::default() },
        )]);
        let bill =
            note("bill_unpaid", json!({"settlement_id": "stl_1", "hospital_code": "H1", "ipt_otp_no": "MZ-LI-2", "unpaid_fen": 300000}));
        let html = inbox(Lang::Zh, vec![settled(), bill.clone()], now, vec!["stl_1".into()]);
        assert!(html.contains(r#"<dd class="collected">¥3,000.00</dd>"#), "{html}");
        assert!(!html.contains("个人部分尚未支付"), "{html}");
        assert!(html.contains("待缴账单已支付") && !html.contains("有一笔待缴账单"), "{html}");
        // Not collected: still told as unpaid, with the way to pay it.
        let html = inbox(Lang::Zh, vec![bill], HashMap::new(), Vec::new());
        assert!(html.contains("有一笔待缴账单") && html.contains(r#"href="/h5/bills""#), "{html}");
    }
}
