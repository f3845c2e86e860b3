//! `/h5/home`: the signed-in patient's first page: who they are, the real-name binding (once),
//! and the way out.

use super::{session, HOME};
use crate::page::{render, Page};
use crate::prefs::Prefs;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use wugan_hub::app::patients::PatientView;
use wugan_hub::app::{AgreementView, App};

#[derive(Template)]
#[template(path = "h5/home.html")]
struct Home {
    page: Page,
    me: PatientView,
    agreements: Vec<AgreementView>,
    /// A relative's agreement paying for this patient (亲情付), when they have none of their own.
    paid_by: Option<wugan_hub::app::family_invitations::PaidByView>,
    /// The agreements' banks by name (code → name).
    bank_names: std::collections::BTreeMap<String, String>,
}

impl Home {
    /// "Your visits are paid by 张*'s agreement (as their spouse)."
    fn paid_by_words(&self, p: &wugan_hub::app::family_invitations::PaidByView) -> String {
        let relation = match p.relation.as_str() {
            "spouse" => self.page.t("relation_spouse"),
            "parent" => self.page.t("relation_parent"),
            "child" => self.page.t("relation_child"),
            _ => "",
        };
        self.page.t("family_paid_by").replace("{name}", &p.signer_name).replace("{relation}", &relation.to_lowercase())
    }

    /// The agreement's bank by name (its code if the hub has none).
    fn bank<'a>(&'a self, a: &'a AgreementView) -> &'a str {
        self.bank_names.get(&a.payment.bank_code).map_or(a.payment.bank_code.as_str(), String::as_str)
    }

    /// An amount of fen as yuan, or a dash when the bank did not say.
    fn amount(&self, fen: &Option<i64>) -> String {
        fen.map_or_else(|| "—".into(), |f| self.page.yuan(f))
    }

    /// An agreement's status in words.
    fn status(&self, a: &AgreementView) -> &str {
        match (a.status, a.seamless.enabled) {
            ("active", true) => self.page.t("agreement_active"),
            ("active", false) => self.page.t("agreement_suspended"),
            _ => self.page.t("agreement_revoked"),
        }
    }

    fn method(&self, a: &AgreementView) -> &str {
        if a.payment.method == "credit_line" {
            self.page.t("signup_credit_line")
        } else {
            self.page.t("signup_debit_card")
        }
    }

    /// What the active credit line owes, in fen; none when nothing.
    fn owed(&self, a: &AgreementView) -> Option<i64> {
        a.payment.used_fen.filter(|u| *u > 0 && a.status == "active" && a.payment.method == "credit_line")
    }

    /// The repayment form's amount: what is owed, as the plain number the field posts.
    fn owed_field(&self, owed: &i64) -> String {
        crate::money::plain(*owed)
    }

    fn repay_confirm(&self, owed: &i64) -> String {
        self.page.t("repay_confirm").replace("{owed}", &self.page.yuan(*owed))
    }

    fn has_active(&self) -> bool {
        self.agreements.iter().any(|a| a.status == "active")
    }
}

pub async fn home(State(app): State<Arc<App>>, prefs: Prefs, headers: HeaderMap) -> Response {
    let Some(signed_in) = session::of(&app, &headers).await else {
        return session::to_start();
    };
    let me = match app.patient_me(&signed_in.patient_id).await {
        Ok(me) => me,
        Err(_) => return session::to_start(),
    };
    let agreements = match app.patient_agreements(&signed_in.patient_id).await {
        Ok(list) => list.agreements,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's agreements could not be read");
            Vec::new()
        }
    };
    // A family member with no agreement of their own is told whose pays for them (亲情付).
    let paid_by = match agreements.iter().any(|a| a.status == "active") {
        true => None,
        false => app.patient_family_invitations(&signed_in.patient_id).await.ok().and_then(|i| i.paid_by),
    };
    let page = Page::new(prefs, "/h5/home", HOME).with_csrf(signed_in.csrf_token);
    let bank_names = agreements.iter().map(|a| (a.payment.bank_code.clone(), app.banks.name(&a.payment.bank_code))).collect();
    render(&Home { page, me, agreements, paid_by, bank_names })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::prefs::Prefs;
    use wugan_hub::app::patients::IdentityView;
    use wugan_hub::app::{AgreementSeamlessView, PaymentView};

    fn owing(used_fen: i64) -> AgreementView {
        AgreementView {
            id: "agr_1".into(),
            status: "active",
            psn_no: "P1".into(),
            insutype: "310".into(),
            insuplc_admdvs: "440300".into(),
            name: "张*".into(),
            certno: "4403**".into(),
            use_personal_account: true,
            payment: PaymentView {
                method: "credit_line",
                bank_code: "BANK01".into(),
                bank_agreement_id: "BA1".into(),
                limit_fen: Some(2_000_000),
                used_fen: Some(used_fen),
                held_fen: Some(0),
                available_fen: Some(2_000_000 - used_fen),
                balance_fen: None,
            },
            created_at: String::new(),
            seamless: AgreementSeamlessView { enabled: true, suspended_reason: None, message: None },
            family: Vec::new(),
        }
    }

    /// What the line owes is said as every amount is (¥, grouped), in the figures and in the
    /// question; the repayment field keeps the plain number the API takes.
    #[test]
    fn the_amounts_read_grouped_and_the_repayment_field_posts_a_plain_number() {
        let identity = IdentityView { psn_no: "P1".into(), name: "张*".into(), certno: "4403**".into(), bound_at: String::new() };
        let me = PatientView { id: "pat_1".into(), mobile: "138****0000".into(), identity: Some(identity) };
        let page = Page::new(Prefs { lang: Lang::Zh, elder: false, secure: false }, "/h5/home", HOME).with_csrf("t");
        let html = Home { page, me, agreements: vec![owing(1_234_567)], paid_by: None, bank_names: Default::default() }.render().unwrap();
        assert!(html.contains("<dd>¥20,000.00</dd>") && html.contains(r#"<dd class="used">¥12,345.67</dd>"#), "{html}");
        // The question names the amount typed: app.js says the field `amount_fen` as yuan when asking.
        assert!(html.contains(r#"data-confirm="确认还款 {amount_fen|yuan}？当前欠款 ¥12,345.67。""#), "{html}");
        assert!(html.contains(r#"name="amount_fen" data-type="fen" type="text" inputmode="decimal" required value="12345.67">"#), "{html}");
        let page = Page::new(Prefs { lang: Lang::En, elder: false, secure: false }, "/h5/home", HOME).with_csrf("t");
        let identity = IdentityView { psn_no: "P1".into(), name: "张*".into(), certno: "4403**".into(), bound_at: String::new() };
        let me = PatientView { id: "pat_1".into(), mobile: "138****0000".into(), identity: Some(identity) };
        let html = Home { page, me, agreements: vec![owing(1_234_567)], paid_by: None, bank_names: Default::default() }.render().unwrap();
        assert!(html.contains(r#"data-confirm="Repay {amount_fen|yuan}? The line owes ¥12,345.67.""#), "{html}");
    }
}
