//! A hospital's stays as the ward's console lists them (住院患者一览).

use super::*;
use crate::app::StayView;

impl App {
    /// `hospital`'s stays, newest first (`open`: only those not yet settled or cancelled).
    pub async fn stay_list(&self, hospital: &str, open: bool, limit: i64) -> Result<Vec<StayView>, AppError> {
        self.stays_numbered(hospital, open, None, limit).await
    }

    /// The same, those under one 住院号 only when `ipt_no` names one.
    async fn stays_numbered(&self, hospital: &str, open: bool, ipt_no: Option<&str>, limit: i64) -> Result<Vec<StayView>, AppError> {
        let rows = self.store.hospital_stays(hospital, open, ipt_no, limit).await?;
        let mut stays = Vec::with_capacity(rows.len());
        for row in &rows {
            stays.push(self.stay_view(row).await?);
        }
        Ok(stays)
    }
}

/// The query of `GET /api/v1/stays`: the calling hospital's stays, newest first.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StayQuery {
    /// Only the stays still under way (not settled, cancelled or refused).
    pub open: Option<bool>,
    /// One 住院号's stays only.
    pub ipt_no: Option<String>,
    /// 1 to 200; 50 when left out.
    pub limit: Option<i64>,
}

/// A hospital's stays as the API lists them.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StayListView {
    pub stays: Vec<StayView>,
}

impl App {
    /// `GET /api/v1/stays`: the ward finds a stay whose admission it lost the answer of, and
    /// every stay still holding a deposit on a patient's line.
    pub async fn stays_of_hospital(&self, hospital: &str, q: StayQuery) -> Result<StayListView, AppError> {
        let limit = q.limit.unwrap_or(50);
        if !(1..=crate::store::MAX_STAY_PAGE).contains(&limit) {
            return Err(AppError::bad_request("bad_query", format!("limit must be 1 to {}", crate::store::MAX_STAY_PAGE)));
        }
        let ipt_no = q.ipt_no.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if ipt_no.is_some_and(|n| n.chars().count() > 30 || n.chars().any(char::is_control)) {
            return Err(AppError::bad_request("bad_query", "ipt_no: the 住院号, at most 30 characters"));
        }
        Ok(StayListView { stays: self.stays_numbered(hospital, q.open.unwrap_or(false), ipt_no, limit).await? })
    }
}
