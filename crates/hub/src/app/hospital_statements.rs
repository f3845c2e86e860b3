//! A hospital's daily statement (日结单): its settlements of one business day (China time), by
//! source, with refunds, unpaid bills and what it will be paid and when. The data is the hub's
//! own; `reconcile_day` is what checks it against the partners.

use super::*;
use crate::store::ReconSettlement;
use serde::Serialize;
use utoipa::ToSchema;

/// One settlement on the statement.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HospitalStatementLine {
    pub settlement_id: String,
    pub visit_id: String,
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
}

/// A hospital's statement of one business day.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HospitalStatementView {
    pub hospital_code: String,
    /// `YYYY-MM-DD`, China time.
    pub date: String,
    /// Settlements that stand (settled, settled unpaid).
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
}

impl HospitalStatementView {
    fn of(hospital_code: &str, date: &str, next_day: String, rows: &[ReconSettlement], bank: BankMoves) -> HospitalStatementView {
        let lines: Vec<HospitalStatementLine> = rows.iter().map(line_of).collect();
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
            refunded_fen: bank.refunded_fen,
            bank_payout_fen: bank.captured_fen - bank.refunded_fen,
            bank_payout_date: next_day,
            insurance_payout_fen: fund_fen + personal_account_fen,
            insurance_clearing_month: date.get(..7).unwrap_or_default().to_string(),
            lines,
        }
    }

    /// The statement as CSV: one line per settlement, then a totals line.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("settlement_id,visit_id,state,setl_id,medfee_fen,fund_fen,personal_account_fen,bank_fen,hospital_part_fen,unpaid_fen,created_at,collected_fen,cash_at_hospital_fen\n");
        for l in &self.lines {
            let setl_id = l.setl_id.as_deref().unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{setl_id},{},{},{},{},{},{},{},{},{}\n",
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
            "TOTAL,{},settled,,{},{},{},{},{},{},,{},{}\n",
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

fn line_of(s: &ReconSettlement) -> HospitalStatementLine {
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
        let mut ours = self.store.hospital_settlements(hospital_code, &from, &to).await?;
        // Its inpatient stays settled at the bedside that day too (those booked; one between its
        // 2304 and its booking is not the hospital's money yet).
        let stays = self.stay_recon_settlements(&from, &to).await?;
        let booked = |s: &ReconSettlement| matches!(s.state.as_str(), "settled" | "settled_unpaid" | "cancelled");
        ours.extend(stays.into_iter().filter(|s| s.hospital_code == hospital_code && booked(s)));
        let bank = BankMoves::of(&format!("hospital:{hospital_code}"), &self.store.bank_transfers(&from, &to).await?);
        let next = time::OffsetDateTime::from_unix_timestamp(day.end_unix_s).map_err(|e| AppError::internal(e.to_string()))?;
        let next = crate::clock::china_datetime_of(next).get(..10).unwrap_or_default().to_string();
        Ok(HospitalStatementView::of(hospital_code, date, next, &ours, bank))
    }
}
