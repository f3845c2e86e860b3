//! What the further notifications are made from (issue 14 scope 5): the patients a bank line or a
//! person belongs to, unpaid bills since a cursor, and the cursors themselves (migration 0020).

use super::*;

/// A settled_unpaid settlement, as its `bill_unpaid` notification tells it.
#[derive(Clone, Debug)]
pub struct UnpaidForNotice {
    pub settlement_id: String,
    pub psn_no: String,
    pub payer_psn_no: String,
    pub hospital_code: String,
    pub ipt_otp_no: String,
    pub unpaid_fen: i64,
    pub updated_at: String,
}

/// A credit line whose statements a patient is told of.
#[derive(Clone, Debug)]
pub struct LineOfPatient {
    pub agreement_id: String,
    pub psn_no: String,
    pub bank_code: String,
    pub bank_agreement_id: String,
}

/// The unpaid bills changed since a cursor; the partial index `settlements_unpaid` (migration
/// 0029) holds exactly these rows.
pub(super) const UNPAID_SINCE: &str =
    "SELECT s.id, v.psn_no, a.psn_no AS payer_psn_no, s.hospital_code, v.ipt_otp_no, s.unpaid_fen, s.updated_at \
     FROM settlements s JOIN visits v ON v.id = s.visit_id JOIN agreements a ON a.id = s.agreement_id \
     WHERE s.state = 'settled_unpaid' AND s.updated_at >= $1 ORDER BY s.updated_at, s.id LIMIT $2";

impl Store {
    /// The hub's agreement (id, signer's psn_no) of a bank's line.
    pub async fn agreement_of_bank_line(&self, bank_code: &str, bank_agreement_id: &str) -> StoreResult<Option<(String, String)>> {
        let row = query("SELECT id, psn_no FROM agreements WHERE bank_code = $1 AND bank_agreement_id = $2")
            .bind(bank_code)
            .bind(bank_agreement_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("id"), r.get("psn_no"))))
    }

    /// The patients (accounts on the phone pages) bound to a person.
    pub async fn patients_of_person(&self, psn_no: &str) -> StoreResult<Vec<String>> {
        let rows = query("SELECT id FROM patients WHERE psn_no = $1 ORDER BY id LIMIT 5").bind(psn_no).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// Active credit lines of bound patients, in agreement id order after `after` (a page).
    pub async fn lines_of_patients(&self, after: &str, limit: i64) -> StoreResult<Vec<LineOfPatient>> {
        let rows = query(
            "SELECT a.id, a.psn_no, a.bank_code, a.bank_agreement_id FROM agreements a \
             WHERE a.status = 'active' AND a.payment_method = 'credit_line' AND a.id > $1 \
             AND EXISTS (SELECT 1 FROM patients p WHERE p.psn_no = a.psn_no) ORDER BY a.id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LineOfPatient {
                agreement_id: r.get("id"),
                psn_no: r.get("psn_no"),
                bank_code: r.get("bank_code"),
                bank_agreement_id: r.get("bank_agreement_id"),
            })
            .collect())
    }

    /// Unpaid bills whose settlement changed at or after `since`, oldest first: an incremental
    /// scan (a cursor on `updated_at`), not the whole table each pass.
    pub async fn unpaid_since(&self, since: &str, limit: i64) -> StoreResult<Vec<UnpaidForNotice>> {
        let rows = query(UNPAID_SINCE).bind(since).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| UnpaidForNotice {
                settlement_id: r.get("id"),
                psn_no: r.get("psn_no"),
                payer_psn_no: r.get("payer_psn_no"),
                hospital_code: r.get("hospital_code"),
                ipt_otp_no: r.get("ipt_otp_no"),
                unpaid_fen: r.get("unpaid_fen"),
                updated_at: r.get("updated_at"),
            })
            .collect())
    }

    /// Stays over with their settlement standing (the only ones that may owe: `StayStage::owed`)
    /// changed at or after `since`, oldest first, each with the psn_no of its agreement's signer:
    /// the same incremental scan as `unpaid_since`, on `stays_by_state`.
    pub async fn settled_stays_since(&self, since: &str, limit: i64) -> StoreResult<Vec<(StayRow, String)>> {
        let columns = stays::STAY_COLUMNS.split(", ").map(|c| format!("s.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, a.psn_no AS payer_psn_no FROM stays s JOIN agreements a ON a.id = s.agreement_id \
             WHERE s.state IN {} AND s.updated_at >= $1 \
             ORDER BY s.updated_at, s.id LIMIT $2",
            stays::STAYS_SETTLED
        );
        let rows = query(sql).bind(since).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (stays::stay_from_row(r), r.get("payer_psn_no"))).collect())
    }

    pub async fn notification_cursor(&self, name: &str) -> StoreResult<Option<String>> {
        let row = query("SELECT reached FROM notification_cursors WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get("reached")))
    }

    pub async fn set_notification_cursor(&self, name: &str, reached: &str) -> StoreResult<()> {
        let (name, reached) = (name.to_string(), reached.to_string());
        self.write(move |c| {
            Box::pin(async move {
                query(
                    "INSERT INTO notification_cursors (name, reached) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET reached = excluded.reached",
                )
                .bind(name)
                .bind(reached)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }
}
