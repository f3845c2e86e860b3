//! A hospital's stays as the ward's console lists them (住院患者一览).

use super::*;
use crate::app::StayView;

impl App {
    /// `hospital`'s stays, newest first (`open`: only those not yet settled or cancelled).
    pub async fn stay_list(&self, hospital: &str, open: bool, limit: i64) -> Result<Vec<StayView>, AppError> {
        let rows = self.store.hospital_stays(hospital, open, limit).await?;
        let mut stays = Vec::with_capacity(rows.len());
        for row in &rows {
            stays.push(self.stay_view(row).await?);
        }
        Ok(stays)
    }
}
