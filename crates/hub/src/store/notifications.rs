//! The patients' notifications (migration 0012): made once per event, read as an inbox, their
//! text messages sent from here as from an outbox.

use super::*;

/// A notification as stored; `facts` is JSON the pages and the text message are written from.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NotificationRow {
    pub id: String,
    #[serde(skip)]
    pub patient_id: String,
    pub event_key: String,
    pub kind: String,
    pub facts: serde_json::Value,
    pub created_at: String,
    pub read_at: Option<String>,
    #[serde(skip)]
    pub sms_attempts: i64,
    pub sms_sent_at: Option<String>,
}

/// A settlement that reached its end for a patient's own visit or their family member's,
/// with the figures of its split.
#[derive(Clone, Debug)]
pub struct SettledForPatient {
    pub patient_id: String,
    pub settlement_id: String,
    pub state: String,
    pub ipt_otp_no: String,
    pub hospital_code: String,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub acct_fen: i64,
    pub cash_fen: i64,
    pub unpaid_fen: i64,
    /// The cash share the hospital collects itself (insurance only, setl_type HI): not the bank's.
    pub at_hospital_fen: i64,
    /// Whose visit: the patient's own (`None`) or a family member's psn_no.
    pub member_psn_no: Option<String>,
}

const COLUMNS: &str = "id, patient_id, event_key, kind, facts, created_at, read_at, sms_attempts, sms_sent_at";

fn row_of(r: &SqlRow) -> NotificationRow {
    let facts: String = r.get("facts");
    NotificationRow {
        id: r.get("id"),
        patient_id: r.get("patient_id"),
        event_key: r.get("event_key"),
        kind: r.get("kind"),
        facts: serde_json::from_str(&facts).unwrap_or(serde_json::Value::Null),
        created_at: r.get("created_at"),
        read_at: r.get("read_at"),
        sms_attempts: r.get("sms_attempts"),
        sms_sent_at: r.get("sms_sent_at"),
    }
}

fn settled_of(r: &SqlRow, member: bool) -> SettledForPatient {
    SettledForPatient {
        patient_id: r.get("patient_id"),
        settlement_id: r.get("settlement_id"),
        state: r.get("state"),
        ipt_otp_no: r.get("ipt_otp_no"),
        hospital_code: r.get("hospital_code"),
        medfee_fen: r.get("medfee_fen"),
        fund_fen: r.get::<Option<i64>, _>("fund_fen").unwrap_or(0),
        acct_fen: r.get::<Option<i64>, _>("acct_fen").unwrap_or(0),
        cash_fen: r.get::<Option<i64>, _>("cash_fen").unwrap_or(0),
        unpaid_fen: r.get("unpaid_fen"),
        at_hospital_fen: match r.get::<i64, _>("cash_at_hospital") != 0 {
            true => r.get::<Option<i64>, _>("cash_fen").unwrap_or(0) - r.get::<i64, _>("captured_fen"),
            false => 0,
        },
        member_psn_no: member.then(|| r.get("psn_no")),
    }
}

impl Store {
    /// Settlements at their end (settled, settled_unpaid) not yet told to the patients they concern:
    /// the visit's own patient, and the signer of the agreement a family member's visit used.
    pub async fn settlements_to_notify(&self, limit: i64) -> StoreResult<Vec<SettledForPatient>> {
        const FIELDS: &str = "s.id AS settlement_id, s.state, v.ipt_otp_no, v.hospital_code, v.psn_no, s.medfee_fen, s.fund_fen, \
                              s.acct_fen, s.cash_fen, s.unpaid_fen, s.cash_at_hospital, s.captured_fen";
        let own = format!(
            "SELECT p.id AS patient_id, {FIELDS} FROM settlements s JOIN visits v ON v.id = s.visit_id \
             JOIN patients p ON p.psn_no = v.psn_no WHERE s.state IN ('settled', 'settled_unpaid') \
             AND NOT EXISTS (SELECT 1 FROM patient_notifications n WHERE n.patient_id = p.id AND n.event_key = 'settled:' || s.id) \
             ORDER BY s.updated_at LIMIT $1"
        );
        let family = format!(
            "SELECT p.id AS patient_id, {FIELDS} FROM settlements s JOIN visits v ON v.id = s.visit_id \
             JOIN agreements a ON a.id = s.agreement_id JOIN patients p ON p.psn_no = a.psn_no \
             WHERE s.state IN ('settled', 'settled_unpaid') AND v.psn_no <> a.psn_no \
             AND NOT EXISTS (SELECT 1 FROM patient_notifications n WHERE n.patient_id = p.id AND n.event_key = 'settled:' || s.id) \
             ORDER BY s.updated_at LIMIT $1"
        );
        let mut found: Vec<SettledForPatient> =
            query(own).bind(limit).fetch_all(&self.pool).await?.iter().map(|r| settled_of(r, false)).collect();
        let members = query(family).bind(limit).fetch_all(&self.pool).await?;
        found.extend(members.iter().map(|r| settled_of(r, true)));
        Ok(found)
    }

    /// Makes a notification unless the patient has one for the event already; true when made.
    pub async fn insert_notification(&self, n: NotificationRow) -> StoreResult<bool> {
        let now = self.now();
        self.write(move |c| {
            Box::pin(async move {
                let made = query(
                    "INSERT INTO patient_notifications (id, patient_id, event_key, kind, facts, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (patient_id, event_key) DO NOTHING",
                )
                .bind(n.id)
                .bind(n.patient_id)
                .bind(n.event_key)
                .bind(n.kind)
                .bind(n.facts.to_string())
                .bind(now)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(made == 1)
            })
        })
        .await
    }

    /// Notifications whose text message is not handed over yet, with fewer than `max_attempts` tries.
    pub async fn unsent_notifications(&self, max_attempts: i64, limit: i64) -> StoreResult<Vec<NotificationRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM patient_notifications WHERE sms_sent_at IS NULL AND sms_attempts < $1 ORDER BY created_at LIMIT $2"
        );
        Ok(query(sql).bind(max_attempts).bind(limit).fetch_all(&self.pool).await?.iter().map(row_of).collect())
    }

    /// Claims the next try at a notification's text message: true for the one pass whose reading
    /// of `attempts` is still current (two passes at once never both send it).
    pub async fn claim_notification_sms(&self, id: &str, attempts: i64) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let claimed = query(
                    "UPDATE patient_notifications SET sms_attempts = sms_attempts + 1 WHERE id = $1 AND sms_sent_at IS NULL AND sms_attempts = $2",
                )
                .bind(id)
                .bind(attempts)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(claimed == 1)
            })
        })
        .await
    }

    /// The text message was handed over.
    pub async fn mark_notification_sent(&self, id: &str) -> StoreResult<()> {
        let (id, now) = (id.to_string(), self.now());
        self.write(move |c| {
            Box::pin(async move {
                query("UPDATE patient_notifications SET sms_sent_at = $1 WHERE id = $2 AND sms_sent_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// A patient's notifications, newest first.
    pub async fn notifications_of(&self, patient_id: &str, limit: i64) -> StoreResult<Vec<NotificationRow>> {
        let sql = format!("SELECT {COLUMNS} FROM patient_notifications WHERE patient_id = $1 ORDER BY created_at DESC, id LIMIT $2");
        Ok(query(sql).bind(patient_id).bind(limit).fetch_all(&self.pool).await?.iter().map(row_of).collect())
    }
}
