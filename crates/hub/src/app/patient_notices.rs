//! The further notifications (issue 14 scope 5), each made once per event (the key is the
//! event's: a bank event's sequence number, a statement's id, a settlement's id) and sent from the
//! outbox like `visit_settled` (`notifications`):
//! - `estimate_ready`: the HIS asked for the pre-settlement (the fees as they stand);
//! - `bill_unpaid`: a settlement left `settled_unpaid`, or a stay over that owes what its line
//!   could not cover (`StayStage::owed`; two incremental scans, each a cursor on `updated_at`),
//!   for the patient and for the signer who pays for them;
//! - `line_overdue` (seamless payment suspended) and `line_reinstated`: the bank's line events, as
//!   `credit::sync_events_of` reads them (the bank's own cursor);
//! - `statement_ready` and `payment_due` (due within [`payment_due_days`] days): the bank's
//!   statements of the patients' credit lines, looked at once an hour at most.
//! - `visit_refunded`: a visit refunded in part or in full, for the patient and the signer who
//!   pays for them (`refund_notices`: an incremental scan of the refunds finished, keyed by refund).
//! - `settlement_cancelled`: a visit's settlement cancelled (2208, the drop-in national interface's
//!   included) or a stay's reversed (2305, at the bedside or in the middle), once what it took is
//!   back, for the patient and the signer who pays for them (`reversal_notices`: two incremental
//!   scans, keyed by settlement).
//!
//! A family member's use of the agreement is the signer's `visit_settled` with `member: true`.

use super::*;
use crate::store::{NotificationRow, UnpaidForNotice};
use wugan_bank_protocol::wire;

/// Unpaid bills read, and lines asked for statements, per pass at most.
const PASS_LIMIT: i64 = 200;
/// How far behind the newest row a scan's cursor stays (`cursor_after`): longer than a write
/// waits between its stamp and its commit.
const CURSOR_LAG: time::Duration = time::Duration::seconds(10);
/// How often the statements are looked at.
const STATEMENTS_EVERY: time::Duration = time::Duration::hours(1);

/// How many days before a statement's due date the patient is reminded: `WUGAN_PAYMENT_DUE_DAYS`
/// (0 to 30), 3 by default.
pub fn payment_due_days() -> i64 {
    static DAYS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *DAYS.get_or_init(|| std::env::var("WUGAN_PAYMENT_DUE_DAYS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(3).clamp(0, 30))
}

/// Days from `today` to `due` (both `YYYY-MM-DD`); None if either is not a date.
pub fn days_until(today: &str, due: &str) -> Option<i64> {
    let date = |s: &str| {
        let mut parts = s.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
        let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
        time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()
    };
    Some((date(due)? - date(today)?).whole_days())
}

/// Whether a statement's reminder is due today: something owed, due within `days` (not past).
pub fn reminder_due(today: &str, s: &wire::Statement, days: i64) -> bool {
    s.outstanding_fen.is_positive()
        && s.status == wire::StatementStatus::Open
        && days_until(today, &s.due_date).is_some_and(|d| (0..=days).contains(&d))
}

fn notice(patient_id: &str, event_key: String, kind: &str, facts: serde_json::Value) -> NotificationRow {
    NotificationRow {
        id: new_id("ntf"),
        patient_id: patient_id.to_string(),
        event_key,
        kind: kind.to_string(),
        facts,
        created_at: String::new(),
        read_at: None,
        sms_attempts: 0,
        sms_sent_at: None,
    }
}

fn yuan(f: &serde_json::Value, k: &str) -> String {
    let fen = f[k].as_i64().unwrap_or(0);
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

/// The text message of a further notification (Chinese, as the SMS channel is).
pub fn notice_text(n: &NotificationRow) -> String {
    let f = &n.facts;
    let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
    let who = if f["member"].as_bool().unwrap_or(false) { "您的家人" } else { "您" };
    let body = match n.kind.as_str() {
        "estimate_ready" => format!(
            "{who}在{}的就诊（{}）预结算已出：总费用{}元，预计个人负担{}元。",
            super::notifications::hospital_of(f),
            s("ipt_otp_no"),
            yuan(f, "medfee_fen"),
            yuan(f, "cash_fen")
        ),
        "bill_unpaid" => format!(
            "{who}在{}的{}（{}）有{}元个人负担未能从签约账户扣款，请在“待缴账单”中支付。",
            super::notifications::hospital_of(f),
            if f["kind"] == "stay" { "住院" } else { "就诊" },
            s("ipt_otp_no"),
            yuan(f, "unpaid_fen")
        ),
        "line_overdue" => format!("您的信用额度有{}元已逾期，无感支付已暂停；还款后自动恢复。", yuan(f, "overdue_fen")),
        "line_reinstated" => "您已还清逾期款项，无感支付已恢复。".to_string(),
        "statement_ready" => {
            format!("您的信用账单已出（{}）：应还{}元，还款日{}。", s("statement_date"), yuan(f, "outstanding_fen"), s("due_date"))
        }
        "payment_due" => {
            format!("您的信用账单将于{}到期，尚有{}元未还，请按时还款以免暂停无感支付。", s("due_date"), yuan(f, "outstanding_fen"))
        }
        "visit_refunded" => super::refund_notices::text(f),
        "settlement_cancelled" => super::reversal_notices::text(f),
        "family_invited" => format!(
            "{}邀请您加入亲情付（您是其{}）：同意后，您的就诊费用由其签约支付。请于{}前登录“亲情付”同意或拒绝。",
            s("inviter_name"),
            match f["relation"].as_str() {
                Some("child") => "子女",
                Some("parent") => "父母",
                _ => "配偶",
            },
            crate::clock::national_datetime(&s("expires_at")).and_then(|t| t.get(..16).map(str::to_string)).unwrap_or_default()
        ),
        other => format!("您有一条新通知（{other}）。"),
    };
    format!("【无感支付】{body}")
}

impl App {
    /// Makes a notification for each patient bound to `psn_no`; returns how many were new.
    pub(super) async fn notify_person(
        &self,
        psn_no: &str,
        event_key: &str,
        kind: &str,
        facts: serde_json::Value,
    ) -> Result<usize, AppError> {
        let mut made = 0;
        for patient_id in self.store.patients_of_person(psn_no).await? {
            made += usize::from(self.store.insert_notification(notice(&patient_id, event_key.to_string(), kind, facts.clone())).await?);
        }
        Ok(made)
    }

    /// Where a scan's cursor goes after a pass whose last row was stamped `last`: never later than
    /// [`CURSOR_LAG`] ago. A row is stamped before its write is queued, so one stamped earlier may
    /// commit after a later one was read; rows read again are told once all the same (a
    /// notification is keyed by its event).
    pub(super) fn cursor_after(&self, last: &str) -> String {
        let lagging = crate::clock::timestamp(self.store.clock.now_utc() - CURSOR_LAG);
        std::cmp::min(last.to_string(), lagging)
    }

    /// Tells the patient `psn_no`, and the signer `payer_psn_no` whose agreement paid for them when
    /// that is someone else (亲情付: their copy says `member: true`), the same event once each.
    pub(super) async fn notify_patient_and_payer(
        &self,
        psn_no: &str,
        payer_psn_no: &str,
        event_key: &str,
        kind: &str,
        mut facts: serde_json::Value,
    ) -> Result<usize, AppError> {
        facts["member"] = serde_json::json!(false);
        let mut made = self.notify_person(psn_no, event_key, kind, facts.clone()).await?;
        if payer_psn_no != psn_no {
            facts["member"] = serde_json::json!(true);
            made += self.notify_person(payer_psn_no, event_key, kind, facts).await?;
        }
        Ok(made)
    }

    /// After a bank line event (read once, under the bank's cursor): the patient told of an
    /// overdue line or its reinstatement, and, when the line has room again, its unpaid bills
    /// made due for collection.
    pub(super) async fn after_line_event(
        &self,
        bank_code: &str,
        event: &wire::BankEvent,
        agreement_id: &str,
        psn_no: &str,
    ) -> Result<(), AppError> {
        let key = format!("bank:{bank_code}:{}", event.seq);
        let facts =
            json!({"agreement_id": agreement_id, "bank_code": bank_code, "overdue_fen": event.overdue_fen.0, "debt_fen": event.debt_fen.0});
        match event.event_type {
            wire::BankEventType::LineOverdue => self.notify_person(psn_no, &key, "line_overdue", facts).await?,
            wire::BankEventType::LineReinstated => self.notify_person(psn_no, &key, "line_reinstated", facts).await?,
            _ => 0,
        };
        let room = matches!(
            event.event_type,
            wire::BankEventType::RepaymentPosted
                | wire::BankEventType::LineReinstated
                | wire::BankEventType::LimitChanged
                | wire::BankEventType::LineUnfrozen
        );
        if room && event.available_fen.is_positive() && event.status == wire::AgreementStatus::Active {
            self.wake_bills_of_agreement(agreement_id).await?;
        }
        Ok(())
    }

    /// The estimate the HIS just asked for, told to the visit's patient (once per fee total).
    pub(super) async fn notify_estimate(&self, visit: &VisitRow, estimate: &EstimateView) {
        let hospital_name = self.store.hospital_name(&visit.hospital_code).await.ok().flatten().unwrap_or_default();
        let facts = json!({"visit_id": visit.id, "hospital_code": visit.hospital_code, "hospital_name": hospital_name, "ipt_otp_no": visit.ipt_otp_no,
                           "medfee_fen": estimate.estimate.medfee_fen, "cash_fen": estimate.estimate.cash_fen, "member": false});
        let key = format!("estimate:{}:{}", visit.id, estimate.estimate.medfee_fen);
        if let Err(e) = self.notify_person(&visit.psn_no, &key, "estimate_ready", facts).await {
            tracing::warn!(visit = %visit.id, code = e.code(), "the estimate's notification was not made");
        }
    }

    /// The notifier's further work each pass: unpaid bills told, bills due collected, statements
    /// looked at (hourly). Returns how many notifications were made.
    pub(super) async fn further_notices(&self) -> Result<usize, AppError> {
        // Each scan on its own: one that cannot be read this pass (logged) holds up neither the
        // others nor the collection of bills due.
        let mut made = 0;
        for (scan, result) in [
            ("unpaid bills", self.notify_unpaid_bills().await),
            ("refunds", self.notify_refunds().await),
            ("reversals", self.notify_reversals().await),
        ] {
            match result {
                Ok(n) => made += n,
                Err(e) => tracing::warn!(scan, error = %e, "a notification scan failed; it is read again next pass"),
            }
        }
        self.collect_due_bills().await?;
        let last = self.store.notification_cursor("statements_at").await?;
        let now = self.store.clock.now_utc();
        if last.is_none_or(|at| at < crate::clock::timestamp(now - STATEMENTS_EVERY)) {
            made += self.statement_notices().await?;
            self.store.set_notification_cursor("statements_at", &crate::clock::timestamp(now)).await?;
        }
        Ok(made)
    }

    async fn notify_unpaid_bills(&self) -> Result<usize, AppError> {
        let since = self.store.notification_cursor("unpaid_bills").await?.unwrap_or_default();
        let bills = self.store.unpaid_since(&since, PASS_LIMIT).await?;
        let mut made = 0;
        for b in &bills {
            made += self.notify_unpaid(b, "visit", &format!("unpaid:{}", b.settlement_id)).await?;
        }
        if let Some(last) = bills.last() {
            self.store.set_notification_cursor("unpaid_bills", &self.cursor_after(&last.updated_at)).await?;
        }
        Ok(made + self.notify_unpaid_stays().await?)
    }

    /// The stays over that owe (住院欠费), told like a visit's unpaid bill: once per stay and
    /// amount (a settlement cancelled and made again owing the same is not told twice).
    async fn notify_unpaid_stays(&self) -> Result<usize, AppError> {
        let since = self.store.notification_cursor("unpaid_stays").await?.unwrap_or_default();
        let stays = self.store.settled_stays_since(&since, PASS_LIMIT).await?;
        let mut made = 0;
        for (stay, payer_psn_no) in &stays {
            let owed = super::inpatient::stay_stage(stay)?.owed();
            if owed.is_positive() {
                let bill = UnpaidForNotice {
                    settlement_id: stay.id.clone(),
                    psn_no: stay.psn_no.clone(),
                    payer_psn_no: payer_psn_no.clone(),
                    hospital_code: stay.hospital_code.clone(),
                    ipt_otp_no: stay.ipt_no.clone(),
                    unpaid_fen: owed.0,
                    updated_at: stay.updated_at.clone(),
                };
                made += self.notify_unpaid(&bill, "stay", &format!("unpaid:{}:{}", stay.id, owed.0)).await?;
            }
        }
        if let Some((last, _)) = stays.last() {
            self.store.set_notification_cursor("unpaid_stays", &self.cursor_after(&last.updated_at)).await?;
        }
        Ok(made)
    }

    /// A bill (`kind`: a visit's or a stay's) told to its patient and to the signer paying for them.
    async fn notify_unpaid(&self, b: &UnpaidForNotice, kind: &str, key: &str) -> Result<usize, AppError> {
        let hospital_name = self.store.hospital_name(&b.hospital_code).await?.unwrap_or_default();
        let facts = |member: bool| {
            json!({"settlement_id": b.settlement_id, "kind": kind, "hospital_code": b.hospital_code, "hospital_name": hospital_name,
                   "ipt_otp_no": b.ipt_otp_no, "unpaid_fen": b.unpaid_fen, "member": member})
        };
        let mut made = self.notify_person(&b.psn_no, key, "bill_unpaid", facts(false)).await?;
        if b.payer_psn_no != b.psn_no {
            made += self.notify_person(&b.payer_psn_no, key, "bill_unpaid", facts(true)).await?;
        }
        Ok(made)
    }

    /// Each bound patient's credit line's statements: one `statement_ready` per statement with
    /// something owed, and one `payment_due` when it falls due within the configured days.
    pub async fn statement_notices(&self) -> Result<usize, AppError> {
        let today = crate::clock::china_datetime_of(self.store.clock.now_utc()).chars().take(10).collect::<String>();
        let (mut made, mut after) = (0, String::new());
        loop {
            let lines = self.store.lines_of_patients(&after, PASS_LIMIT).await?;
            for line in &lines {
                let account = match self.bank(&line.bank_code)?.statements(&line.bank_agreement_id).await {
                    Ok(account) => account,
                    Err(e) => {
                        tracing::warn!(agreement = %line.agreement_id, error = %e, "statements not read; the next look tries again");
                        continue;
                    }
                };
                for s in account.statements.iter().filter(|s| s.outstanding_fen.is_positive()) {
                    let facts = json!({"agreement_id": line.agreement_id, "statement_id": s.statement_id, "statement_date": s.statement_date,
                                       "due_date": s.due_date, "outstanding_fen": s.outstanding_fen.0});
                    let key = format!("statement:{}:{}", line.bank_code, s.statement_id);
                    made += self.notify_person(&line.psn_no, &key, "statement_ready", facts.clone()).await?;
                    if reminder_due(&today, s, payment_due_days()) {
                        made += self
                            .notify_person(&line.psn_no, &format!("due:{}:{}", line.bank_code, s.statement_id), "payment_due", facts)
                            .await?;
                    }
                }
            }
            match lines.last() {
                Some(last) if lines.len() as i64 == PASS_LIMIT => after = last.agreement_id.clone(),
                _ => return Ok(made),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(due: &str, outstanding: i64, status: wire::StatementStatus) -> wire::Statement {
        wire::Statement {
            statement_id: "st_1".into(),
            statement_date: "2026-12-01".into(),
            period_start: "2026-11-01".into(),
            period_end: "2026-11-30".into(),
            due_date: due.into(),
            amount_due_fen: Fen(outstanding),
            refunded_fen: Fen::ZERO,
            interest_fen: Fen::ZERO,
            paid_fen: Fen::ZERO,
            outstanding_fen: Fen(outstanding),
            status,
        }
    }

    #[test]
    fn a_reminder_is_due_within_the_days_before_the_due_date_while_something_is_owed() {
        use wire::StatementStatus::{Open, Overdue, Paid};
        // (today, due date, outstanding, status) → reminded with 3 days' notice
        let cases = [
            ("2026-12-08", "2026-12-11", 100, Open, true),
            ("2026-12-11", "2026-12-11", 100, Open, true),
            ("2026-12-07", "2026-12-11", 100, Open, false),
            ("2026-12-12", "2026-12-11", 100, Overdue, false),
            ("2026-12-09", "2026-12-11", 0, Paid, false),
            ("2026-12-31", "2027-01-02", 100, Open, true),
            ("2026-12-09", "not a date", 100, Open, false),
        ];
        for (today, due, outstanding, status, expect) in cases {
            assert_eq!(reminder_due(today, &statement(due, outstanding, status), 3), expect, "{today} {due} {outstanding}");
        }
    }

    #[test]
    fn each_kind_has_its_text_message() {
        let n = |kind: &str, facts| notice("pat_1", "k".into(), kind, facts);
        let unpaid = n("bill_unpaid", json!({"hospital_code": "H1", "ipt_otp_no": "MZ-1", "unpaid_fen": 1205, "member": true}));
        assert_eq!(
            notice_text(&unpaid),
            "【无感支付】您的家人在H1的就诊（MZ-1）有12.05元个人负担未能从签约账户扣款，请在“待缴账单”中支付。"
        );
        // Named, the hospital is told by its name (a notification made before names, by its code).
        let named =
            n("bill_unpaid", json!({"hospital_code": "H1", "hospital_name": "示范三甲医院", "ipt_otp_no": "MZ-1", "unpaid_fen": 1205}));
        assert!(notice_text(&named).contains("您在示范三甲医院的就诊（MZ-1）"), "{}", notice_text(&named));
        let stay = n("bill_unpaid", json!({"kind": "stay", "hospital_name": "示范三甲医院", "ipt_otp_no": "ZY-1", "unpaid_fen": 290000}));
        assert!(notice_text(&stay).contains("您在示范三甲医院的住院（ZY-1）有2900.00元"), "{}", notice_text(&stay));
        let due = n("payment_due", json!({"due_date": "2026-12-11", "outstanding_fen": 50000}));
        assert_eq!(notice_text(&due), "【无感支付】您的信用账单将于2026-12-11到期，尚有500.00元未还，请按时还款以免暂停无感支付。");
        assert_eq!(notice_text(&n("line_reinstated", json!({}))), "【无感支付】您已还清逾期款项，无感支付已恢复。");
        // A refund: where, how much, and where it went back; a family member's to the payer too.
        let refunded = n(
            "visit_refunded",
            json!({"hospital_name": "示范三甲医院", "ipt_otp_no": "MZ-1", "full": false, "refunded_fen": 120000, "bank_fen": 84000,
                   "account_fen": 6000, "fund_fen": 30000, "at_hospital_fen": 0, "to": "credit_line", "member": false}),
        );
        assert_eq!(
            notice_text(&refunded),
            "【无感支付】您在示范三甲医院的就诊（MZ-1）部分项目已退费，退费金额1200.00元：840.00元退回信用额度，60.00元退回医保个人账户，300.00元退回医保基金。"
        );
        let card = n(
            "visit_refunded",
            json!({"hospital_code": "H1", "ipt_otp_no": "MZ-2", "full": true, "refunded_fen": 2500, "bank_fen": 2500, "to": "debit_card", "member": true}),
        );
        assert_eq!(notice_text(&card), "【无感支付】您的家人在H1的就诊（MZ-2）已全部退费，退费金额25.00元：25.00元退回银行卡。");
        let invited = n(
            "family_invited",
            json!({"invitation_id": "fin_1", "inviter_name": "张*", "relation": "spouse", "expires_at": "2026-12-10T04:00:00.000000Z"}),
        );
        assert_eq!(
            notice_text(&invited),
            "【无感支付】张*邀请您加入亲情付（您是其配偶）：同意后，您的就诊费用由其签约支付。请于2026-12-10 12:00前登录“亲情付”同意或拒绝。"
        );
        // Every kind the hub makes has its own text, never the generic one.
        for kind in [
            "estimate_ready",
            "bill_unpaid",
            "line_overdue",
            "line_reinstated",
            "statement_ready",
            "payment_due",
            "visit_refunded",
            "settlement_cancelled",
            "family_invited",
        ] {
            assert!(!notice_text(&n(kind, json!({}))).contains("新通知"), "{kind}");
        }
    }
}
