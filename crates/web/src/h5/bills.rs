//! `/h5/bills`: the patient's unpaid bills (issue 17 scope 4) with a pay action each: the bill
//! is collected on the agreement at once, or the bank's refusal is said in words. Each bill says
//! what its line has available (the bank's figure, as the home page reads it), and when that
//! cannot cover the bill, what the patient can do instead: pay at the hospital's window, ask for
//! a higher limit, or repay first when the line owes something.

use super::{session, HospitalNames, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::{AgreementView, App};
use wugan_hub::store::UnpaidBill;

#[derive(Template)]
#[template(path = "h5/bills.html")]
struct Bills {
    page: Page,
    bills: Vec<UnpaidBill>,
    /// The patient's agreements (with the bank's figures when it answered), for each bill's line.
    agreements: Vec<AgreementView>,
    hospitals: HospitalNames,
}

/// What the line of a bill can do for it, as the bank last said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Line {
    credit: bool,
    available_fen: Option<i64>,
    used_fen: Option<i64>,
}

impl Bills {
    fn paid(&self, b: &UnpaidBill) -> bool {
        b.collection.as_deref() == Some("collected")
    }

    /// The amount's label: what is due, or what was paid.
    fn amount_label(&self, b: &UnpaidBill) -> &str {
        self.page.t(if self.paid(b) { "p2_bill_paid_amount" } else { "p2_bill_amount" })
    }

    /// The bill's collection in words, when there is something to say.
    fn state(&self, b: &UnpaidBill) -> Option<&str> {
        match b.collection.as_deref() {
            Some("collected") => Some(self.page.t("p2_bill_paid")),
            Some("declined") => Some(self.page.t("p2_bill_declined")),
            Some("charging" | "authorizing" | "capturing") => Some(self.page.t("p2_bill_in_progress")),
            _ => None,
        }
    }

    /// Why the bank declined the last try, in words (its decline code), when it said.
    fn decline_reason(&self, b: &UnpaidBill) -> Option<&str> {
        if b.collection.as_deref() != Some("declined") {
            return None;
        }
        let key = match b.last_decline.as_deref()? {
            "insufficient_credit" => "p2_decline_insufficient_credit",
            "insufficient_funds" => "p2_decline_insufficient_funds",
            "agreement_overdue" => "p2_decline_overdue",
            "agreement_frozen" => "p2_decline_frozen",
            "agreement_closed" => "p2_decline_closed",
            _ => return None,
        };
        Some(self.page.t(key))
    }

    fn line(&self, b: &UnpaidBill) -> Option<Line> {
        let a = self.agreements.iter().find(|a| a.id == b.agreement_id)?;
        Some(Line { credit: a.payment.method == "credit_line", available_fen: a.payment.available_fen, used_fen: a.payment.used_fen })
    }

    /// The line's available amount, for an unpaid bill on a credit line whose figures the bank gave.
    fn available(&self, b: &UnpaidBill) -> Option<i64> {
        let line = self.line(b).filter(|l| l.credit && !self.paid(b))?;
        line.available_fen
    }

    /// The line cannot cover the bill (by the bank's figures), or the bank declined the last try:
    /// the patient is told what they can do instead.
    fn short(&self, b: &UnpaidBill) -> bool {
        !self.paid(b)
            && (b.collection.as_deref() == Some("declined") || self.available(b).is_some_and(|available| available < b.unpaid_fen))
    }

    /// Repaying frees room only on a credit line that owes something.
    fn repay_helps(&self, b: &UnpaidBill) -> bool {
        self.line(b).is_some_and(|l| l.credit && l.used_fen.is_some_and(|used| used > 0))
    }

    /// Whether the line can be asked for a higher limit (a credit line).
    fn on_credit(&self, b: &UnpaidBill) -> bool {
        self.line(b).is_some_and(|l| l.credit)
    }

    /// The question asked before paying: the amount and the hospital paid.
    fn confirm(&self, b: &UnpaidBill) -> String {
        self.page
            .t("p2_bill_pay_confirm")
            .replace("{amount}", &self.page.yuan(b.unpaid_fen))
            .replace("{hospital}", self.hospitals.name(&b.hospital_code))
            .replace("{visit}", &b.ipt_otp_no)
    }

    fn day(&self, b: &UnpaidBill) -> String {
        crate::page::china_day(&b.settled_at)
    }
}

pub async fn bills(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let bills = match app.patient_unpaid_bills(&signed_in.patient_id).await {
        Ok(view) => view.bills,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's bills could not be read");
            Vec::new()
        }
    };
    // The lines' figures only when there is a bill to say them for (one bank read per agreement).
    let agreements = match bills.iter().any(|b| b.collection.as_deref() != Some("collected")) {
        true => app.patient_agreements(&signed_in.patient_id).await.map(|list| list.agreements).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a patient's agreements could not be read");
            Vec::new()
        }),
        false => Vec::new(),
    };
    let hospitals = HospitalNames::read(&app).await;
    let page = Page::new(prefs, "/h5/bills", HOME).with_csrf(signed_in.csrf_token);
    render(&Bills { page, bills, agreements, hospitals })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::prefs::Prefs;
    use wugan_hub::app::{AgreementSeamlessView, PaymentView};

    fn bill(collection: Option<&str>, last_decline: Option<&str>) -> UnpaidBill {
        UnpaidBill {
            settlement_id: "stl_1".into(),
            kind: "visit".into(),
            visit_id: "vis_1".into(),
            hospital_code: "H1".into(),
            ipt_otp_no: "MZ-BIG".into(),
            psn_no: "P1".into(),
            agreement_id: "agr_1".into(),
            unpaid_fen: 1_696_970,
            owed_fen: wugan_hub::store::owed_now(1_696_970, collection),
            settled_at: "2026-12-02T10:00:00Z".into(),
            collection: collection.map(str::to_string),
            last_decline: last_decline.map(str::to_string),
        }
    }

    fn line(available_fen: i64, used_fen: i64) -> AgreementView {
        AgreementView {
            id: "agr_1".into(),
            status: "active",
            psn_no: "P1".into(),
            insutype: "310".into(),
            insuplc_admdvs: "440300".into(),
            name: "张*".into(),
            certno: "4403**".into(),
            use_personal_account: false,
            payment: PaymentView {
                method: "credit_line",
                bank_code: "BANK01".into(),
                bank_agreement_id: "BA1".into(),
                limit_fen: Some(available_fen + used_fen),
                used_fen: Some(used_fen),
                held_fen: Some(0),
                available_fen: Some(available_fen),
                balance_fen: None,
            },
            created_at: String::new(),
            seamless: AgreementSeamlessView { enabled: true, suspended_reason: None, message: None },
            family: Vec::new(),
        }
    }

    fn page(lang: Lang, bills: Vec<UnpaidBill>, agreements: Vec<AgreementView>) -> String {
        let page = Page::new(Prefs { lang, elder: false, secure: false }, "/h5/bills", HOME).with_csrf("t");
        Bills { page, bills, agreements, hospitals: HospitalNames::default() }.render().unwrap()
    }

    /// A bill larger than what the line has available, on a line that owes nothing: the page says
    /// what is available and what to do (the window, a higher limit), never "repay"; once the
    /// line owes something, repaying is offered too.
    #[test]
    fn a_bill_the_line_cannot_cover_says_what_the_patient_can_do() {
        let html = page(Lang::Zh, vec![bill(Some("declined"), Some("insufficient_credit"))], vec![line(500_000, 0)]);
        for said in ["可用额度", "¥5,000.00", "到医院收费窗口缴费", "申请提高额度", "上次扣款未成功：信用额度可用金额不足"]
        {
            assert!(html.contains(said), "{said}: {html}");
        }
        let card = html.split(r#"<li class="card bill""#).nth(1).and_then(|c| c.split("\n  </li>").next()).unwrap_or_default();
        assert!(!card.contains("还款"), "nothing owed, nothing to repay: {card}");
        assert!(html.contains(r#"data-reload-on="bill_declined""#), "a refusal shows the page's own words: {html}");
        assert!(html.contains(r#"data-confirm="确认支付 ¥16,969.70（H1 · MZ-BIG）？""#), "{html}");

        let owing = page(Lang::En, vec![bill(None, None)], vec![line(300_000, 200_000)]);
        assert!(owing.contains("¥3,000.00 available") && owing.contains("repay the line first"), "{owing}");
        assert!(owing.contains(r#"data-confirm="Pay ¥16,969.70 (H1 · MZ-BIG)?""#), "{owing}");

        // Room enough: no advice, just the button.
        let room = page(Lang::Zh, vec![bill(None, None)], vec![line(2_000_000, 0)]);
        assert!(!room.contains("bill-advice") && room.contains("立即支付 ¥16,969.70"), "{room}");
    }

    #[test]
    fn a_paid_bill_says_what_was_paid_not_what_is_due() {
        let html = page(Lang::Zh, vec![bill(Some("collected"), None)], Vec::new());
        assert!(html.contains("✓ 已支付") && html.contains("<dt>已支付金额</dt>"), "{html}");
        assert!(!html.contains("待缴金额") && !html.contains("pay-bill"), "{html}");
    }
}
