//! The patients' notifications: made from the hub's own records once per event (the visit
//! settled, with its split: for the visit's patient, and for the signer when a family member's
//! visit used their agreement), shown in the pages' inbox, and sent as a text message through the
//! SMS sink from the outbox, retried up to [`SMS_MAX_ATTEMPTS`] times. `spawn_notifier` runs the pass.

use super::{new_id, App};
use crate::error::AppError;
use crate::store::{NotificationRow, SettledForPatient};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Tries at handing one text message to the SMS sink.
pub const SMS_MAX_ATTEMPTS: i64 = 5;
/// Events taken, and messages sent, per pass at most.
const PASS_LIMIT: i64 = 200;
/// How many notifications the inbox shows.
pub const INBOX_MAX: i64 = 50;

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationsView {
    pub notifications: Vec<NotificationRow>,
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

/// Where a notification's visit was: the hospital's name, else its code (a notification made
/// before names were kept in its facts).
pub(super) fn hospital_of(facts: &serde_json::Value) -> String {
    let name = facts["hospital_name"].as_str().filter(|n| !n.trim().is_empty());
    name.or(facts["hospital_code"].as_str()).unwrap_or("").to_string()
}

/// The text message of a notification (Chinese, as the SMS channel is).
pub fn sms_text(n: &NotificationRow) -> String {
    if n.kind != "visit_settled" {
        return super::patient_notices::notice_text(n);
    }
    let f = &n.facts;
    let fen = |k: &str| yuan(f[k].as_i64().unwrap_or(0));
    let who = if f["member"].as_bool().unwrap_or(false) { "您的家人" } else { "您" };
    let at_hospital = f["at_hospital_fen"].as_i64().unwrap_or(0);
    let tail = if f["unpaid_fen"].as_i64().unwrap_or(0) > 0 {
        "个人部分尚未支付，请及时处理。".to_string()
    } else if at_hospital > 0 {
        // Insurance only (setl_type HI): the hospital collects the cash share itself (review r26
        // pages #2: the text said there was nothing to pay).
        format!("本次仅医保结算，个人负担中的{}元请在医院缴纳。", yuan(at_hospital))
    } else {
        "本次无需到窗口付款。".to_string()
    };
    let invoice = if f["invoice_id"].is_string() { "电子票据已开具，可在“我的就诊”中查看下载。" } else { "" };
    format!(
        "【无感支付】{who}在{}的就诊（{}）已结算：总费用{}元，医保基金支付{}元，个人账户支付{}元，个人负担{}元。{tail}{invoice}",
        hospital_of(f),
        f["ipt_otp_no"].as_str().unwrap_or(""),
        fen("medfee_fen"),
        fen("fund_fen"),
        fen("acct_fen"),
        fen("cash_fen"),
    )
}

/// The patient's own page of an invoice (the phone pages' session opens it).
fn invoice_path(invoice_id: &str) -> String {
    format!("/api/v1/patient/invoices/{invoice_id}/html")
}

fn settled_notification(s: &SettledForPatient, invoice_id: &str, hospital_name: &str) -> NotificationRow {
    NotificationRow {
        id: new_id("ntf"),
        patient_id: s.patient_id.clone(),
        event_key: format!("settled:{}", s.settlement_id),
        kind: "visit_settled".into(),
        facts: json!({
            "settlement_id": s.settlement_id, "state": s.state, "ipt_otp_no": s.ipt_otp_no, "hospital_code": s.hospital_code,
            "hospital_name": hospital_name,
            "medfee_fen": s.medfee_fen, "fund_fen": s.fund_fen, "acct_fen": s.acct_fen, "cash_fen": s.cash_fen,
            "unpaid_fen": s.unpaid_fen, "at_hospital_fen": s.at_hospital_fen, "member": s.member_psn_no.is_some(),
            "invoice_id": invoice_id, "invoice_url": invoice_path(invoice_id),
        }),
        created_at: String::new(),
        read_at: None,
        sms_attempts: 0,
        sms_sent_at: None,
    }
}

impl App {
    /// One pass: notifications for the events not yet told, then their text messages. Returns
    /// how many notifications were made.
    pub async fn notify_patients(&self) -> Result<usize, AppError> {
        let mut made = 0;
        for settled in self.store.settlements_to_notify(PASS_LIMIT).await? {
            // The notification links the invoice (issue 16), so it waits for it: the click issues
            // it before answering, the recovery worker's outbox pass soon after a crash.
            let Some(invoice_id) = self.invoice_id_of_settlement(&settled.settlement_id).await? else { continue };
            let name = self.store.hospital_name(&settled.hospital_code).await?.unwrap_or_default();
            if self.store.insert_notification(settled_notification(&settled, &invoice_id, &name)).await? {
                made += 1;
            }
        }
        made += self.further_notices().await?;
        for n in self.store.unsent_notifications(SMS_MAX_ATTEMPTS, PASS_LIMIT).await? {
            // Claimed first, so a pass running beside this one (another hub) skips it; a failed
            // try counts, and the next pass tries again.
            if !self.store.claim_notification_sms(&n.id, n.sms_attempts).await? {
                continue;
            }
            match self.send_notification_sms(&n).await {
                Ok(()) => self.store.mark_notification_sent(&n.id).await?,
                Err(e) => tracing::warn!(notification = %n.id, error = %e, "a notification's text message was not handed over"),
            }
        }
        Ok(made)
    }

    async fn send_notification_sms(&self, n: &NotificationRow) -> Result<(), String> {
        let patient = self.store.patient(&n.patient_id).await.map_err(|e| e.to_string())?.ok_or("no such patient")?;
        let mobile = self.config.data_key.open(&patient.mobile_enc).map_err(|e| e.to_string())?;
        self.sms.send(&mobile, &sms_text(n), &self.store.now()).await
    }

    pub async fn patient_notifications(&self, patient_id: &str) -> Result<NotificationsView, AppError> {
        Ok(NotificationsView { notifications: self.store.notifications_of(patient_id, INBOX_MAX).await? })
    }
}

/// Runs [`App::notify_patients`] every `every` until `stop` says so.
pub fn spawn_notifier(app: Arc<App>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !*stop.borrow() {
            match app.notify_patients().await {
                Ok(0) => {}
                Ok(made) => tracing::info!(made, "patients notified"),
                Err(e) => tracing::warn!(code = e.code(), "notification pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_text_message_says_the_split_in_yuan() {
        let n = super::NotificationRow {
            id: "ntf_1".into(),
            patient_id: "pat_1".into(),
            event_key: "settled:set_1".into(),
            kind: "visit_settled".into(),
            facts: serde_json::json!({"hospital_code": "H1", "ipt_otp_no": "MZ-1", "medfee_fen": 32500, "fund_fen": 1250,
                                       "acct_fen": 0, "cash_fen": 31250, "unpaid_fen": 0, "member": false}),
            created_at: String::new(),
            read_at: None,
            sms_attempts: 0,
            sms_sent_at: None,
        };
        assert_eq!(
            super::sms_text(&n),
            "【无感支付】您在H1的就诊（MZ-1）已结算：总费用325.00元，医保基金支付12.50元，个人账户支付0.00元，个人负担312.50元。本次无需到窗口付款。"
        );
        let mut at_hospital = n;
        at_hospital.facts["at_hospital_fen"] = serde_json::json!(31250);
        assert!(
            super::sms_text(&at_hospital).ends_with("本次仅医保结算，个人负担中的312.50元请在医院缴纳。"),
            "{}",
            super::sms_text(&at_hospital)
        );
    }
}
