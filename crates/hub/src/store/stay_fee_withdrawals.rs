//! 住院费用明细撤销 (2302) at the store: the step that answers a stay's withdrawal saves the stay's
//! stage and takes the withdrawn lines off the stay in one commit, guarded as every save of a
//! stay is by the stage it was read in (`app/stay_fee_withdrawals.rs`). A run that lost the race
//! (the recovery worker and the ward's retry both had 2302 answered) deletes nothing: a line
//! uploaded again under a withdrawn `feedetl_sn` after the winner's commit is never taken off.

use super::*;

impl Store {
    /// Saves the stay's new stage if it still holds `from_json`, and deletes its fee lines
    /// `withdrawn` (accepted lines only: the withdrawal began with no upload in doubt); false
    /// when another run moved the stay meanwhile.
    pub async fn save_stay_withdrawn(&self, s: &StayRow, from_json: &str, withdrawn: &[String]) -> StoreResult<bool> {
        let (s, from, withdrawn) = (s.clone(), from_json.to_string(), withdrawn.to_vec());
        self.write(move |c| {
            Box::pin(async move {
                let moved = query("UPDATE stays SET state = $1, stage_json = $2, updated_at = $3 WHERE id = $4 AND stage_json = $5")
                    .bind(&s.state)
                    .bind(&s.stage_json)
                    .bind(&s.updated_at)
                    .bind(&s.id)
                    .bind(&from)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                if moved != 1 {
                    return Ok(false);
                }
                for sn in &withdrawn {
                    query("DELETE FROM stay_fee_lines WHERE stay_id = $1 AND feedetl_sn = $2 AND uploaded = 1")
                        .bind(&s.id)
                        .bind(sn)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(true)
            })
        })
        .await
    }
}
