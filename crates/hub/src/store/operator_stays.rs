//! Reads for the operator's look at one stay (`app/operator_stays.rs`): its ledger transfers, its
//! tries, and the stays of one hospital or one insured person. Read-only.

use super::operator_reads::{journal_entry, JournalEntry};
use super::stays::{stay_from_row, STAYS_OVER, STAY_COLUMNS};
use super::*;

/// A `LIKE` pattern matching every text that starts with `prefix` (its `%`, `_` and `\` escaped).
pub(super) fn starting_with(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// Every transfer a stay posted (`stay:{id}:…`: deposits, interim and bedside settlements,
    /// their cancellations) and those of its bill's collections (`settle:{id}:collect:…`), in the
    /// order they were posted.
    pub async fn transfers_of_stay(&self, stay_id: &str) -> StoreResult<Vec<JournalEntry>> {
        let rows = query(
            "SELECT * FROM ledger_transfers WHERE id LIKE $1 ESCAPE '\\' OR id LIKE $2 ESCAPE '\\' \
             ORDER BY created_at, id LIMIT 1000",
        )
        .bind(starting_with(&format!("stay:{stay_id}:")))
        .bind(starting_with(&format!("settle:{stay_id}:collect:")))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(journal_entry).collect())
    }

    /// How often a stay's runs stopped on a partner's silence, and why the recovery worker parked
    /// it, if it did; `None` when there is no such stay.
    pub async fn stay_tries(&self, stay_id: &str) -> StoreResult<Option<(i64, Option<String>)>> {
        let row = query("SELECT attempts, parked_reason FROM stays WHERE id = $1").bind(stay_id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| (r.get("attempts"), r.get("parked_reason"))))
    }

    /// The newest stays at every hospital (an operator's first look), only those still open when `open`.
    pub async fn newest_stays(&self, open: bool, limit: i64) -> StoreResult<Vec<StayRow>> {
        let which = if open { format!("WHERE state NOT IN {STAYS_OVER}") } else { String::new() };
        let sql =
            format!("SELECT {STAY_COLUMNS} FROM stays {which} ORDER BY created_at DESC, id DESC LIMIT {}", limit.clamp(1, MAX_STAY_PAGE));
        let rows = query(sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stay_from_row).collect())
    }

    /// The stays of one insured person (`psn_no`) at any hospital, newest first (by the index on
    /// the person, migration 0042), only those still open when `open`.
    pub async fn stays_of_person(&self, psn_no: &str, open: bool, limit: i64) -> StoreResult<Vec<StayRow>> {
        let which = if open { format!("AND state NOT IN {STAYS_OVER}") } else { String::new() };
        let sql = format!(
            "SELECT {STAY_COLUMNS} FROM stays WHERE psn_no = $1 {which} ORDER BY created_at DESC, id DESC LIMIT {}",
            limit.clamp(1, MAX_STAY_PAGE)
        );
        let rows = query(sql).bind(psn_no).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stay_from_row).collect())
    }
}

#[cfg(test)]
#[test]
fn a_stay_id_is_matched_as_written_not_as_a_pattern() {
    assert_eq!(starting_with("stay:sty_1:"), "stay:sty\\_1:%");
    assert_eq!(starting_with("a%b\\c"), "a\\%b\\\\c%");
}
