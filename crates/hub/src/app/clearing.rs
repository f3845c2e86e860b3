//! 清算 and 结算划付 (docs/reconciliation.md §"Clearing and payout"): on a clearing day each bank
//! pays each hospital what it collected for it, captures less refunds, by one instruction per
//! bank, hospital and day. The amounts are `wugan_domain::clearing`'s fold of the ledger; this
//! file writes each instruction before the call, sends it under its fixed request id, and closes
//! it with its ledger transfer when the bank answers. A lost answer leaves it `instructed`; the
//! recovery pass (and any later run of the day) sends the same instruction again, which the bank
//! answers from its record: a hospital is never paid twice. The bank checks every instruction
//! against its own book and refuses one that asks for more than it collected
//! (`payout_exceeds_due`): that instruction is closed as declined, for an operator to look at.
//!
//! Clearing a day before it is over pays what was collected so far; what comes after is owed on
//! and paid with the next day's instruction (the fold is cumulative).

use super::*;
use crate::store::PayoutRow;
use serde::Serialize;
use utoipa::ToSchema;
use wugan_domain::clearing;

/// `POST /api/v1/clearings`: the business day to clear.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearingRequest {
    /// `YYYY-MM-DD`, China time.
    #[schema(schema_with = super::reconciliation::date_text)]
    pub date: String,
}

/// One payout instruction.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PayoutView {
    /// The bank request id, `payout:{bank}:{hospital}:{date}`.
    pub id: String,
    pub bank_code: String,
    pub hospital_code: String,
    pub business_date: String,
    pub amount_fen: i64,
    /// `instructed` (sent, answer not yet known: sent again by the recovery pass), `paid`,
    /// `declined` (the bank's book owes the hospital less; see `note`).
    pub state: String,
    pub note: Option<String>,
    /// The hospital's receiving account the instruction named, masked (`****1234`); absent for a
    /// seeded agreement (the bank's own merchant record).
    pub payee_account: Option<String>,
}

/// Money owed to a hospital that no instruction was written for: the pair has no agreement in
/// force. It stays owed and is paid by the first run after the agreement is active.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HeldPayoutView {
    pub bank_code: String,
    pub hospital_code: String,
    pub amount_fen: i64,
    /// Why: no agreement, or a suspended one.
    pub reason: String,
}

/// A pair's payout to instruct: bank, hospital, amount, and the sealed account it names.
type DuePayout = (String, String, Fen, Option<String>);

/// A clearing day: its payout instructions and how they stand.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClearingView {
    pub date: String,
    pub payouts: Vec<PayoutView>,
    /// Paid by the banks on this day's instructions.
    pub paid_fen: i64,
    /// Instructions whose answer is not known yet.
    pub in_doubt: u64,
    pub declined: u64,
    /// Owed through the day but held (no agreement in force between the pair): no instruction is
    /// written; the first run after the agreement is active pays it.
    pub held: Vec<HeldPayoutView>,
}

impl From<PayoutRow> for PayoutView {
    fn from(p: PayoutRow) -> PayoutView {
        PayoutView {
            id: p.id,
            bank_code: p.bank_code,
            hospital_code: p.hospital_code,
            business_date: p.business_date,
            amount_fen: p.amount_fen,
            state: p.state,
            note: p.note,
            payee_account: None,
        }
    }
}

impl App {
    /// Clears the business day `date`: sends what is still unanswered from earlier, then one
    /// instruction per bank and hospital for what is owed through the day's end, and answers how
    /// the day's instructions stand.
    pub async fn clear_day(&self, date: &str) -> Result<ClearingView, AppError> {
        business_day(date)?;
        self.resume_payouts().await?;
        let (due, _held) = self.payouts_due(date).await?;
        for (bank_code, hospital_code, amount, payee_account_enc) in due {
            let row = PayoutRow {
                id: clearing::payout_request_id(&bank_code, &hospital_code, date),
                bank_code,
                hospital_code,
                business_date: date.to_string(),
                amount_fen: amount.0,
                state: "instructed".into(),
                note: None,
                payee_account_enc,
            };
            self.store.instruct_payout(&row).await?;
            self.send_payout(&row, false).await?;
        }
        self.clearing_view(date).await
    }

    /// What is owed through the day's end and not yet instructed: for each pair with an agreement
    /// in force, the amount and its sealed account; the other pairs held, with the reason.
    async fn payouts_due(&self, date: &str) -> Result<(Vec<DuePayout>, Vec<HeldPayoutView>), AppError> {
        let day = business_day(date)?;
        let day_end = crate::clock::timestamp(
            time::OffsetDateTime::from_unix_timestamp(day.end_unix_s).map_err(|e| AppError::internal(format!("day out of range: {e}")))?,
        );
        let owed = self.store.owed_by_banks(&day_end).await?;
        // Instructions still in doubt (the bank silent even now) are owed already: not asked twice.
        let in_doubt = self.store.unanswered_payouts().await?;
        let (mut due, mut held) = (Vec::new(), Vec::new());
        for ((bank_code, hospital_code), owed) in owed {
            if !self.banks.contains_key(&bank_code) {
                tracing::warn!(bank = %bank_code, "money owed by a bank the hub has no contract with now");
                continue;
            }
            let pending: i64 =
                in_doubt.iter().filter(|p| p.bank_code == bank_code && p.hospital_code == hospital_code).map(|p| p.amount_fen).sum();
            let Some(amount) = clearing::payout_due(owed - Fen(pending)) else { continue };
            if self.store.payout(&clearing::payout_request_id(&bank_code, &hospital_code, date)).await?.is_some() {
                continue; // the day was cleared before; what came since is the next day's
            }
            match self.payee_of(&hospital_code, &bank_code).await? {
                Ok(account) => due.push((bank_code, hospital_code, amount, account)),
                // Held, not instructed: the fold keeps it owed, and the first run after the
                // agreement is in force pays it.
                Err(reason) => held.push(HeldPayoutView { bank_code, hospital_code, amount_fen: amount.0, reason: reason.to_string() }),
            }
        }
        Ok((due, held))
    }

    /// A clearing day as it stands.
    pub async fn clearing_view(&self, date: &str) -> Result<ClearingView, AppError> {
        business_day(date)?;
        let mut payouts = Vec::new();
        for row in self.store.payouts_of_day(date).await? {
            let payee_account = match &row.payee_account_enc {
                Some(sealed) => Some(super::hospital_banks::mask_account(&self.config.data_key.open(sealed)?)),
                None => None,
            };
            payouts.push(PayoutView { payee_account, ..PayoutView::from(row) });
        }
        let count = |state: &str| payouts.iter().filter(|p| p.state == state).count() as u64;
        Ok(ClearingView {
            date: date.to_string(),
            paid_fen: payouts.iter().filter(|p| p.state == "paid").map(|p| p.amount_fen).sum(),
            in_doubt: count("instructed"),
            declined: count("declined"),
            payouts,
            held: self.payouts_due(date).await?.1,
        })
    }

    /// Sends every instruction whose answer was lost again, under its id (the recovery pass).
    pub async fn resume_payouts(&self) -> Result<usize, AppError> {
        let mut answered = 0;
        for p in self.store.unanswered_payouts().await? {
            if self.send_payout(&p, true).await? {
                answered += 1;
            }
        }
        Ok(answered)
    }

    /// One call; whether the bank answered it (paid or declined).
    async fn send_payout(&self, p: &PayoutRow, resumed: bool) -> Result<bool, AppError> {
        let Some(bank) = self.banks.get(&p.bank_code) else {
            self.store.payout_in_doubt(&p.id, "no contract with this bank now").await?;
            return Ok(false);
        };
        let account = match &p.payee_account_enc {
            Some(sealed) => Some(self.config.data_key.open(sealed)?),
            None => None,
        };
        let result = bank.payout(&p.id, &p.hospital_code, Fen(p.amount_fen), &p.business_date, account.as_deref(), resumed).await;
        match result {
            Ok(()) => self.store.payout_paid(p).await?,
            Err(e) if !e.is_unknown_outcome() => {
                tracing::warn!(payout = %p.id, error = %e, "payout declined by the bank");
                self.store.payout_declined(&p.id, &e.to_string()).await?
            }
            Err(e) => {
                self.store.payout_in_doubt(&p.id, &e.to_string()).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }
}
