//! A stay's fee lines as the ward's page lists them: by item name, with the interim settlement in
//! force that took each. A line none took may be withdrawn in the ward (住院费用明细撤销, 2302:
//! `POST /api/v1/stays/{id}/fees/withdraw`); a line an interim settlement took comes back once that
//! settlement is cancelled (中途结算撤销).

use super::visit::{line_words, LineWords};
use crate::i18n::Lang;
use wugan_hub::app::StayView;
use wugan_hub::store::StayFeeLine;

/// A fee line of the stay as the page lists it.
pub(super) struct StayLine {
    pub feedetl_sn: String,
    pub name: String,
    pub pric: String,
    pub cnt: String,
    /// Negative for a returned drug.
    pub amount_fen: i64,
    /// The number of the interim settlement in force that took it.
    pub interim: Option<u32>,
}

impl StayLine {
    /// No settlement took it: the ward may withdraw it (while the patient is in the ward).
    pub fn unsettled(&self) -> bool {
        self.interim.is_none()
    }
}

/// The lines the center accepted (2301), as `StayView::fee_lines` counts them; a line whose upload
/// is still in doubt is not listed (a withdrawal is refused until it is answered).
pub(super) fn stay_lines(rows: &[StayFeeLine], stay: &StayView, lang: Lang) -> Vec<StayLine> {
    let taken_by = |sn: &str| stay.interim_settlements.iter().find(|i| i.lines.iter().any(|l| l == sn)).map(|i| i.n);
    rows.iter()
        .filter(|l| l.uploaded)
        .map(|l| {
            let LineWords { name, pric, cnt } = line_words(&l.detail_json, lang);
            StayLine { feedetl_sn: l.feedetl_sn.clone(), name, pric, cnt, amount_fen: l.amount.0, interim: taken_by(&l.feedetl_sn) }
        })
        .collect()
}
