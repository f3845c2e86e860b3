//! A visit's total as the staff lists show it (the console's and the operator's): what stands
//! after its refunds (退费), as the patient's visit card says it (`h5::visits::Shown`), with a mark
//! of what was refunded (review: the lists kept the click's total after a refund, while the
//! visit's own page was right).

use crate::page::Page;
use wugan_hub::app::VisitView;

/// Whether every line of the visit was refunded: refunded in full (visit `refunded`), or its
/// settlement has nothing left in force (`refunded`, also after the registration was cancelled).
fn refunded_in_full(v: &VisitView) -> bool {
    v.status == "refunded" || v.settlement.as_ref().is_some_and(|s| s.state == "refunded")
}

/// The fees in force, in fen: the last refund's re-settlement, nothing after a full refund, else
/// the visit's total less what finished refunds gave back (a self-paid visit's too).
pub fn standing_fen(v: &VisitView) -> i64 {
    if v.refunded_fen <= 0 {
        return v.medfee_fen;
    }
    if refunded_in_full(v) {
        return 0;
    }
    let in_force = v.settlement.as_ref().and_then(|s| s.in_force.as_ref()).filter(|f| f.refund_id.is_some());
    in_force.map_or((v.medfee_fen - v.refunded_fen).max(0), |f| f.medfee_fen)
}

/// The mark under the total of a visit refunded in part or in full, with what went back; None
/// when nothing was.
pub fn refund_mark(page: &Page, v: &VisitView) -> Option<String> {
    if v.refunded_fen <= 0 {
        return None;
    }
    let key = if refunded_in_full(v) { "list_refunded_full" } else { "list_refunded_part" };
    Some(format!("{} −{}", page.t(key), page.yuan(v.refunded_fen)))
}
