//! What reconciliation and clearing read of inpatient stays (住院, migrations 0011 and 0018). A
//! stay keeps only its current stage, so its settlements are read from the invoice outbox, which
//! holds every one of them: a `blue` row in the commit that settled it (with the settlement's facts
//! as `StayPaid` JSON), a `red` row in the commit that booked its 2305. The stays still between
//! 2304 and that commit are read from `stays` itself.

use super::stays::{stay_from_row, STAY_COLUMNS};
use super::*;

/// A stay settlement (2304) the hub booked, and whether its 2305 was booked since (at any time:
/// the center lists a reversal under the settlement it reverses).
#[derive(Clone, Debug)]
pub struct StaySettlementRow {
    pub stay_id: String,
    pub hospital_code: String,
    pub psn_no: String,
    pub insutype: String,
    pub insuplc_admdvs: String,
    /// The stay's state now (`cancelling_settlement` while a 2305 is on its way).
    pub stay_state: String,
    pub setl_id: String,
    /// `wugan_domain::inpatient::StayPaid` as JSON.
    pub paid_json: String,
    /// When the hub booked it (the bedside click's commit).
    pub settled_at: String,
    pub reversed: bool,
}

impl Store {
    /// Stay settlements booked in `[from, to)` (stored times).
    pub async fn stay_settlements(&self, from: &str, to: &str) -> StoreResult<Vec<StaySettlementRow>> {
        let rows = query(
            "SELECT o.stay_id, o.setl_id, o.paid_json, o.created_at AS settled_at, s.hospital_code, s.psn_no, s.insutype, \
             s.insuplc_admdvs, s.state, CAST((SELECT COUNT(*) FROM stay_invoice_outbox r WHERE r.stay_id = o.stay_id \
             AND r.setl_id = o.setl_id AND r.kind = 'red') AS BIGINT) AS reversals \
             FROM stay_invoice_outbox o JOIN stays s ON s.id = o.stay_id \
             WHERE o.kind = 'blue' AND o.created_at >= $1 AND o.created_at < $2 ORDER BY o.created_at",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| StaySettlementRow {
                stay_id: r.get("stay_id"),
                hospital_code: r.get("hospital_code"),
                psn_no: r.get("psn_no"),
                insutype: r.get("insutype"),
                insuplc_admdvs: r.get("insuplc_admdvs"),
                stay_state: r.get("state"),
                setl_id: r.get("setl_id"),
                paid_json: r.get("paid_json"),
                settled_at: r.get("settled_at"),
                reversed: r.get::<i64, _>("reversals") > 0,
            })
            .collect())
    }

    /// Stays last moved in `[from, to)` that stand between the 2304 sent and its settlement booked:
    /// `pre_settled` (2304 sent, its answer not heard) and `insurance_settled` (answered, the
    /// capture not yet booked).
    pub async fn stays_settling(&self, from: &str, to: &str) -> StoreResult<Vec<StayRow>> {
        let sql = format!(
            "SELECT {STAY_COLUMNS} FROM stays WHERE state IN ('pre_settled', 'insurance_settled') \
             AND updated_at >= $1 AND updated_at < $2 ORDER BY updated_at"
        );
        let rows = query(sql).bind(from).bind(to).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stay_from_row).collect())
    }
}
