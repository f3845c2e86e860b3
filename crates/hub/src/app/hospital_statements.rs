//! A hospital's daily statement (日结单): its settlements of one business day (China time), by
//! source, with refunds, unpaid bills and what it will be paid and when. The data is the hub's
//! own; `reconcile_day` is what checks it against the partners.
//!
//! Refunds (退费) are dated as the insurance center dates them, so that a day's fund figures are
//! the center's (3201/3202): its 2208 is a flag on the settlement it reverses, counted on that
//! settlement's own day, and the re-settlement (2207, a new setl_id) is a settlement of the day the
//! refund finished. So a refund restates the day of the settlement it reverses (the line reads
//! `refunded`, out of the totals, as a cancelled one does), and adds a line to its own day. The
//! bank's money is dated by the bank: `refunded_fen` and `bank_payout_fen` are the day's moves and
//! never change once the day is over.

use super::refunds::stage_of;
use super::*;
use crate::store::{ReconSettlement, RefundRow};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use wugan_domain::refund::{RefundStage, Refunded};

/// One settlement on the statement: a click (its settlement as made), or the re-settlement (2207)
/// a refund made of the lines kept (`refund_id`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HospitalStatementLine {
    /// The click's settlement (a re-settlement names the click it re-settles).
    pub settlement_id: String,
    pub visit_id: String,
    /// `settled`, `settled_unpaid`, `cancelled` (结算撤销 since), or `refunded`: reversed by a
    /// refund's 2208 since (refd_setl_flag 1 at the insurance center), its amounts as it was
    /// settled, nothing owed on it, out of the totals.
    pub state: String,
    pub setl_id: Option<String>,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    /// What the bank captured.
    pub bank_fen: i64,
    pub hospital_part_fen: i64,
    /// The cash share the bank did not pay at the click and the patient still owes.
    pub unpaid_fen: i64,
    /// Billed at the click and collected from the line since (补扣): paid, no longer unpaid.
    pub collected_fen: i64,
    pub created_at: String,
    /// Insurance only (setl_type HI): the cash share the hospital collected itself.
    pub cash_at_hospital_fen: i64,
    /// A re-settlement: the refund whose 2207 of the lines kept this line is (its `created_at` is
    /// when the refund finished); its `bank_fen` is what the click's capture still pays. Absent on
    /// a click.
    pub refund_id: Option<String>,
    /// State `refunded`: the refund whose 2208 reversed this line.
    pub reversed_by_refund_id: Option<String>,
}

/// A refund finished in the day (退费): what it reversed, what it settled again, what came back.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HospitalStatementRefund {
    pub refund_id: String,
    pub visit_id: String,
    /// The click's settlement.
    pub settlement_id: String,
    /// The settlement reversed (2208): the click's, or an earlier refund's re-settlement.
    pub reversed_setl_id: Option<String>,
    /// The re-settlement of the lines kept (2207), in force now unless a later refund reversed it;
    /// absent for a full refund.
    pub resettled_setl_id: Option<String>,
    /// Given back, by source: the reversed settlement's less the re-settlement's (a source the
    /// re-settlement charges more, a deductible say, is negative).
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub cash_fen: i64,
    /// What the bank gave back to the patient's line or card (in `refunded_fen` of this day).
    pub bank_refund_fen: i64,
    pub finished_at: String,
}

/// A hospital's statement of one business day.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HospitalStatementView {
    pub hospital_code: String,
    /// `YYYY-MM-DD`, China time.
    pub date: String,
    /// Settlements of the day in force now (settled, settled unpaid), as the insurance center
    /// counts its settlements of the day that stand (3201 refd_setl_flag 0): the re-settlements
    /// of the refunds finished in the day count, the settlements refunds reversed do not. The
    /// amounts below are theirs.
    pub settled: u64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub bank_fen: i64,
    pub hospital_part_fen: i64,
    /// Bills still owed by patients (collected ones are not counted).
    pub unpaid_bills: u64,
    pub unpaid_fen: i64,
    /// Bills of this day collected from the patients' lines since.
    pub collected_fen: i64,
    /// Insurance only (setl_type HI): the cash shares the hospital collected itself.
    pub cash_at_hospital_fen: i64,
    /// Settlements of the day cancelled since (结算撤销).
    pub cancelled: u64,
    /// Settlements of the day a refund reversed since (退费 2208, refd_setl_flag 1), on this day
    /// or a later one; a refund's re-settlement is a line of the day the refund finished.
    pub reversed: u64,
    /// What the bank refunded on this day (for settlements of this day or earlier ones).
    pub refunded_fen: i64,
    /// Paid by the bank on the next business day (T+1): its captures of this day less its refunds
    /// of this day, as the bank's T+1 file lists them. Fixed once the day is over: a settlement
    /// cancelled later is refunded on its own day's statement.
    pub bank_payout_fen: i64,
    pub bank_payout_date: String,
    /// Paid by the insurance fund after the monthly clearing (3203) of this month: fund and
    /// personal-account shares.
    pub insurance_payout_fen: i64,
    pub insurance_clearing_month: String,
    pub lines: Vec<HospitalStatementLine>,
    /// The refunds finished in the day, oldest first.
    pub refunds: Vec<HospitalStatementRefund>,
}

impl HospitalStatementView {
    fn of(hospital_code: &str, date: &str, next_day: String, day: DayInForce, bank: BankMoves) -> HospitalStatementView {
        let DayInForce { lines, refunds } = day;
        let standing = |l: &&HospitalStatementLine| matches!(l.state.as_str(), "settled" | "settled_unpaid");
        let sum = |f: fn(&HospitalStatementLine) -> i64| lines.iter().filter(standing).map(f).sum::<i64>();
        let cancelled: Vec<&HospitalStatementLine> = lines.iter().filter(|l| l.state == "cancelled").collect();
        let (fund_fen, personal_account_fen, bank_fen) = (sum(|l| l.fund_fen), sum(|l| l.personal_account_fen), sum(|l| l.bank_fen));
        HospitalStatementView {
            hospital_code: hospital_code.to_string(),
            date: date.to_string(),
            settled: lines.iter().filter(standing).count() as u64,
            medfee_fen: sum(|l| l.medfee_fen),
            fund_fen,
            personal_account_fen,
            bank_fen,
            hospital_part_fen: sum(|l| l.hospital_part_fen),
            unpaid_bills: lines.iter().filter(standing).filter(|l| l.unpaid_fen > 0).count() as u64,
            unpaid_fen: sum(|l| l.unpaid_fen),
            collected_fen: sum(|l| l.collected_fen),
            cash_at_hospital_fen: sum(|l| l.cash_at_hospital_fen),
            cancelled: cancelled.len() as u64,
            reversed: lines.iter().filter(|l| l.state == REVERSED).count() as u64,
            refunded_fen: bank.refunded_fen,
            bank_payout_fen: bank.captured_fen - bank.refunded_fen,
            bank_payout_date: next_day,
            insurance_payout_fen: fund_fen + personal_account_fen,
            insurance_clearing_month: date.get(..7).unwrap_or_default().to_string(),
            lines,
            refunds,
        }
    }

    /// The statement as CSV: one line per settlement, then a totals line.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("settlement_id,visit_id,state,setl_id,medfee_fen,fund_fen,personal_account_fen,bank_fen,hospital_part_fen,unpaid_fen,created_at,collected_fen,cash_at_hospital_fen,refund_id,reversed_by_refund_id\n");
        for l in &self.lines {
            let setl_id = l.setl_id.as_deref().unwrap_or_default();
            let (refund, reversed_by) =
                (l.refund_id.as_deref().unwrap_or_default(), l.reversed_by_refund_id.as_deref().unwrap_or_default());
            out.push_str(&format!(
                "{},{},{},{setl_id},{},{},{},{},{},{},{},{},{},{refund},{reversed_by}\n",
                l.settlement_id,
                l.visit_id,
                l.state,
                l.medfee_fen,
                l.fund_fen,
                l.personal_account_fen,
                l.bank_fen,
                l.hospital_part_fen,
                l.unpaid_fen,
                l.created_at,
                l.collected_fen,
                l.cash_at_hospital_fen
            ));
        }
        out.push_str(&format!(
            "TOTAL,{},settled,,{},{},{},{},{},{},,{},{},,\n",
            self.settled,
            self.medfee_fen,
            self.fund_fen,
            self.personal_account_fen,
            self.bank_fen,
            self.hospital_part_fen,
            self.unpaid_fen,
            self.collected_fen,
            self.cash_at_hospital_fen
        ));
        out
    }
}

/// What the bank moved for a hospital on one day, from the ledger's transfers of that day.
#[derive(Clone, Copy, Debug, Default)]
struct BankMoves {
    captured_fen: i64,
    refunded_fen: i64,
}

impl BankMoves {
    /// A capture credits the hospital (`bank_share`); a refund debits it (`bank_refund`).
    fn of(hospital_account: &str, transfers: &[crate::store::BankTransfer]) -> BankMoves {
        transfers.iter().fold(BankMoves::default(), |mut moves, t| {
            match t.code.as_str() {
                // An outpatient capture, or a piece of an inpatient stay's capture.
                "bank_share" | "hold_post" if t.credit_account == hospital_account => moves.captured_fen += t.amount_fen,
                "bank_refund" if t.debit_account == hospital_account => moves.refunded_fen += t.amount_fen,
                _ => {}
            }
            moves
        })
    }
}

pub(super) fn line_of(s: &ReconSettlement) -> HospitalStatementLine {
    // A cancelled settlement keeps what it captured, so the refund is visible.
    HospitalStatementLine {
        settlement_id: s.id.clone(),
        visit_id: s.visit_id.clone(),
        state: s.state.clone(),
        setl_id: s.setl_id.clone(),
        medfee_fen: s.medfee_fen,
        fund_fen: s.fund_fen.unwrap_or(0),
        personal_account_fen: s.acct_fen.unwrap_or(0),
        bank_fen: s.captured_fen,
        hospital_part_fen: s.hosp_part_fen.unwrap_or(0),
        unpaid_fen: s.unpaid_fen - s.collected_fen,
        collected_fen: s.collected_fen,
        created_at: s.created_at.clone(),
        cash_at_hospital_fen: if s.setl_type == "HI" { s.cash_fen.unwrap_or(0) - s.captured_fen } else { 0 },
        refund_id: None,
        reversed_by_refund_id: None,
    }
}

impl App {
    /// The statement of `hospital_code` for the business day `date`.
    pub async fn hospital_statement(&self, hospital_code: &str, date: &str) -> Result<HospitalStatementView, AppError> {
        let day = business_day(date)?;
        let stored = |unix_s: i64| {
            time::OffsetDateTime::from_unix_timestamp(unix_s).map(crate::clock::timestamp).map_err(|e| AppError::internal(e.to_string()))
        };
        let (from, to) = (stored(day.start_unix_s)?, stored(day.end_unix_s)?);
        let clicks = self.store.hospital_settlements(hospital_code, &from, &to).await?;
        let mut in_force = self.day_in_force(Some(hospital_code), &clicks, &from, &to).await?;
        // Its inpatient stays settled at the bedside that day too (those booked; one between its
        // 2304 and its booking is not the hospital's money yet).
        let stays = self.stay_recon_settlements(&from, &to).await?;
        let booked = |s: &ReconSettlement| matches!(s.state.as_str(), "settled" | "settled_unpaid" | "cancelled");
        in_force.lines.extend(stays.iter().filter(|s| s.hospital_code == hospital_code && booked(s)).map(line_of));
        let bank = BankMoves::of(&format!("hospital:{hospital_code}"), &self.store.bank_transfers(&from, &to).await?);
        let next = time::OffsetDateTime::from_unix_timestamp(day.end_unix_s).map_err(|e| AppError::internal(e.to_string()))?;
        let next = crate::clock::china_datetime_of(next).get(..10).unwrap_or_default().to_string();
        Ok(HospitalStatementView::of(hospital_code, date, next, in_force, bank))
    }

    /// The outpatient settlements of `[from, to)` as they stand now: `clicks` (made in the day, of
    /// `hospital_code` or of every hospital), with the refunds finished since the day began
    /// applied ([`DayInForce::of`]). A refund of an earlier day's click reads that click by id.
    pub(super) async fn day_in_force(
        &self,
        hospital_code: Option<&str>,
        clicks: &[ReconSettlement],
        from: &str,
        to: &str,
    ) -> Result<DayInForce, AppError> {
        let mut refunds: Vec<FinishedRefund> = Vec::new();
        for r in self.store.refunds_finished_of(hospital_code, from, &self.now()).await? {
            let RefundStage::Refunded(done) = stage_of(&r)? else { continue };
            let known = clicks.iter().chain(refunds.iter().map(|f| &f.click)).find(|c| c.id == r.settlement_id).cloned();
            let click = match known {
                Some(click) => click,
                // Only a refund of this day brings an earlier day's click onto this one (a later
                // refund of that click then reverses the line it left here, read above).
                None if r.updated_at.as_str() < to => match self.store.reconciliation_settlement(&r.settlement_id).await? {
                    Some(click) => click,
                    None => continue,
                },
                None => continue,
            };
            refunds.push(FinishedRefund { row: r, done, click });
        }
        Ok(DayInForce::of(clicks, &refunds, from, to))
    }
}

/// A finished refund with the click it refunds.
pub(super) struct FinishedRefund {
    pub row: RefundRow,
    pub done: Refunded,
    pub click: ReconSettlement,
}

/// The state of a line a refund reversed.
const REVERSED: &str = "refunded";

/// A day's outpatient lines with the refunds applied, and the refunds finished in the day.
pub(super) struct DayInForce {
    pub lines: Vec<HospitalStatementLine>,
    pub refunds: Vec<HospitalStatementRefund>,
}

impl DayInForce {
    /// The day `[from, to)`: each click of the day, reversed (`refunded`) if a refund finished
    /// since reversed it; each refund finished in the day with its re-settlement as a line of its
    /// own, reversed in turn by a later refund. `refunds` oldest first (a visit's refunds run one
    /// after the other, each reversing what the one before left in force).
    pub fn of(clicks: &[ReconSettlement], refunds: &[FinishedRefund], from: &str, to: &str) -> DayInForce {
        let mut lines: Vec<HospitalStatementLine> = clicks.iter().map(line_of).collect();
        let standing = |l: &HospitalStatementLine| matches!(l.state.as_str(), "settled" | "settled_unpaid");
        // The line in force of each click, by the click's settlement id.
        let mut in_force: HashMap<String, usize> =
            lines.iter().enumerate().filter(|(_, l)| standing(l)).map(|(i, l)| (l.settlement_id.clone(), i)).collect();
        let mut finished = Vec::new();
        for FinishedRefund { row, done, click } in refunds {
            if let Some(i) = in_force.remove(&row.settlement_id) {
                let reversed = &mut lines[i];
                (reversed.state, reversed.reversed_by_refund_id) = (REVERSED.to_string(), Some(row.id.clone()));
                (reversed.unpaid_fen, reversed.collected_fen) = (0, 0);
            }
            if !(from..to).contains(&row.updated_at.as_str()) {
                continue;
            }
            finished.push(refund_of(row, done));
            if let Some(again) = resettlement_line(row, done, click) {
                lines.push(again);
                in_force.insert(row.settlement_id.clone(), lines.len() - 1);
            }
        }
        // A bill collected after the last refund was collected for the re-settlement in force.
        for (settlement_id, i) in in_force {
            let Some(click) = refunds.iter().map(|r| &r.click).find(|c| c.id == settlement_id) else { continue };
            let line = &mut lines[i];
            if line.refund_id.is_some() && click.collected_fen > 0 {
                line.unpaid_fen = (line.unpaid_fen - click.collected_fen).max(0);
                line.collected_fen = click.collected_fen;
            }
        }
        DayInForce { lines, refunds: finished }
    }
}

/// The refund's re-settlement as a line of the day it finished (`None` for a full refund).
fn resettlement_line(row: &RefundRow, done: &Refunded, click: &ReconSettlement) -> Option<HospitalStatementLine> {
    let again = done.resettled.as_ref()?;
    let bank = (done.original.captured - done.bank_refund).0;
    Some(HospitalStatementLine {
        settlement_id: click.id.clone(),
        visit_id: click.visit_id.clone(),
        state: click.state.clone(),
        setl_id: Some(again.setl_id.clone()).filter(|s| !s.is_empty()),
        medfee_fen: again.split.medfee.0,
        fund_fen: again.split.fund.0,
        personal_account_fen: again.split.personal_account.0,
        bank_fen: bank,
        hospital_part_fen: again.split.hospital_part.0,
        // Only a bill left unpaid at the click is owed: an HI visit's cash is the hospital's to collect.
        unpaid_fen: if click.state == "settled_unpaid" { done.owed().0 } else { 0 },
        collected_fen: 0,
        created_at: row.updated_at.clone(),
        cash_at_hospital_fen: if click.setl_type == "HI" { again.split.cash.0 - bank } else { 0 },
        refund_id: Some(row.id.clone()),
        reversed_by_refund_id: None,
    })
}

fn refund_of(row: &RefundRow, done: &Refunded) -> HospitalStatementRefund {
    let (was, now) = (&done.original.split, done.resettled.as_ref().map(|r| r.split).unwrap_or_default());
    HospitalStatementRefund {
        refund_id: row.id.clone(),
        visit_id: row.visit_id.clone(),
        settlement_id: row.settlement_id.clone(),
        reversed_setl_id: Some(done.original.setl_id.clone()).filter(|s| !s.is_empty()),
        resettled_setl_id: done.resettled.as_ref().map(|r| r.setl_id.clone()).filter(|s| !s.is_empty()),
        medfee_fen: (was.medfee - now.medfee).0,
        fund_fen: (was.fund - now.fund).0,
        personal_account_fen: (was.personal_account - now.personal_account).0,
        cash_fen: (was.cash - now.cash).0,
        bank_refund_fen: done.bank_refund.0,
        finished_at: row.updated_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wugan_domain::refund::{Original, Resettled};
    use wugan_domain::settlement::InsuranceSplit;
    use wugan_domain::Fen;

    const DAY_1: (&str, &str) = ("2026-11-10T00:00:00.000000Z", "2026-11-11T00:00:00.000000Z");
    const DAY_2: (&str, &str) = ("2026-11-11T00:00:00.000000Z", "2026-11-12T00:00:00.000000Z");
    const DAY_3: (&str, &str) = ("2026-11-12T00:00:00.000000Z", "2026-11-13T00:00:00.000000Z");

    fn split(medfee: i64, fund: i64) -> InsuranceSplit {
        InsuranceSplit { medfee: Fen(medfee), fund: Fen(fund), personal_account: Fen(0), cash: Fen(medfee - fund), hospital_part: Fen(0) }
    }

    /// A click of 100 yuan on day 1: the fund 40, the bank 60.
    fn click() -> ReconSettlement {
        ReconSettlement {
            id: "stl_1".into(),
            visit_id: "vis_1".into(),
            hospital_code: "H1".into(),
            state: "settled".into(),
            setl_id: Some("S1".into()),
            medfee_fen: 10_000,
            fund_fen: Some(4_000),
            acct_fen: Some(0),
            cash_fen: Some(6_000),
            hosp_part_fen: Some(0),
            captured_fen: 6_000,
            unpaid_fen: 0,
            collected_fen: 0,
            setlinfo_json: None,
            created_at: "2026-11-10T02:00:00.000000Z".into(),
            mdtrt_id: "M1".into(),
            psn_no: "P1".into(),
            insutype: "310".into(),
            insuplc_admdvs: "440300".into(),
            setl_type: "ALL".into(),
        }
    }

    fn refund(
        id: &str,
        finished_at: &str,
        original: (&str, InsuranceSplit, i64),
        again: Option<(&str, InsuranceSplit)>,
        bank: i64,
    ) -> FinishedRefund {
        let row = RefundRow {
            id: id.into(),
            visit_id: "vis_1".into(),
            settlement_id: "stl_1".into(),
            hospital_code: "H1".into(),
            lines: vec![],
            remaining: vec![],
            state: "refunded".into(),
            stage_json: String::new(),
            reverse_msgid: String::new(),
            reupload_msgid: String::new(),
            resettle_msgid: String::new(),
            presettle_msgid: None,
            resettle_echo: None,
            idem_key: id.into(),
            attempts: 0,
            parked_reason: None,
            created_at: finished_at.into(),
            updated_at: finished_at.into(),
        };
        let done = Refunded {
            original: Original { setl_id: original.0.into(), split: original.1, captured: Fen(original.2) },
            resettled: again.map(|(setl_id, split)| Resettled { setl_id: setl_id.into(), split }),
            bank_refund: Fen(bank),
        };
        FinishedRefund { row, done, click: click() }
    }

    /// Half the visit back on day 2 (a re-settlement S2 of 50 yuan), the rest on day 3.
    fn refunds() -> [FinishedRefund; 2] {
        [
            refund("rfd_1", "2026-11-11T03:00:00.000000Z", ("S1", split(10_000, 4_000), 6_000), Some(("S2", split(5_000, 2_000))), 3_000),
            refund("rfd_2", "2026-11-12T03:00:00.000000Z", ("S2", split(5_000, 2_000), 3_000), None, 3_000),
        ]
    }

    /// A line as the tests read it: state, setl_id, fund, bank, the refund that reversed it.
    type Seen<'a> = (&'a str, Option<&'a str>, i64, i64, Option<&'a str>);

    fn seen(day: &DayInForce) -> Vec<Seen<'_>> {
        day.lines
            .iter()
            .map(|l| (l.state.as_str(), l.setl_id.as_deref(), l.fund_fen, l.bank_fen, l.reversed_by_refund_id.as_deref()))
            .collect()
    }

    #[test]
    fn each_refund_restates_the_day_of_what_it_reverses_and_re_settles_on_its_own_day() {
        let [first, second] = refunds();
        // Day 1, read after both: its click reversed by the first refund, nothing else of it.
        let day_1 = DayInForce::of(&[click()], &refunds(), DAY_1.0, DAY_1.1);
        assert_eq!(seen(&day_1), [("refunded", Some("S1"), 4_000, 6_000, Some("rfd_1"))]);
        assert!(day_1.refunds.is_empty());
        // Day 2: the first refund's re-settlement, reversed in turn by the second; the first refund listed.
        let day_2 = DayInForce::of(&[], &refunds(), DAY_2.0, DAY_2.1);
        assert_eq!(seen(&day_2), [("refunded", Some("S2"), 2_000, 3_000, Some("rfd_2"))]);
        let listed: Vec<_> = day_2.refunds.iter().map(|r| (r.refund_id.as_str(), r.fund_fen, r.bank_refund_fen)).collect();
        assert_eq!(listed, [("rfd_1", 2_000, 3_000)]);
        // Day 3: nothing stands; the second refund gave back the rest.
        let day_3 = DayInForce::of(&[], &[second], DAY_3.0, DAY_3.1);
        assert!(day_3.lines.is_empty());
        let listed: Vec<_> =
            day_3.refunds.iter().map(|r| (r.reversed_setl_id.as_deref(), r.resettled_setl_id.as_deref(), r.fund_fen)).collect();
        assert_eq!(listed, [(Some("S2"), None, 2_000)]);
        // Read on day 2 before the second refund: the re-settlement stands, with what the capture still pays.
        let before = DayInForce::of(&[], &[first], DAY_2.0, DAY_2.1);
        assert_eq!(seen(&before), [("settled", Some("S2"), 2_000, 3_000, None)]);
        assert_eq!(before.lines[0].refund_id.as_deref(), Some("rfd_1"));
    }
}
