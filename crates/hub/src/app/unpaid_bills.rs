//! Unpaid bills collected later (issue 17 scope 4, issue 14 scope 6). A settlement whose cash
//! share the bank did not cover (`settled_unpaid`) leaves an unpaid receivable. It is collected on
//! the patient's agreement, either when the patient presses "pay" on the phone page or when the
//! line has room again (a repayment, a reinstatement, a higher limit: `credit::sync_events_of`
//! wakes the agreement's bills, and the notifier's pass collects them).
//!
//! Each attempt is one bank charge (扣款: the amount is final, so a hold and its capture in one
//! request) under a request id fixed by the settlement and the attempt number
//! (`{settlement}:collect:{n}:capture`), the attempt written (`charging`) before it is sent. An
//! unanswered charge is asked for by that id and sent again under it (the bank answers from its
//! record); a new attempt, with a new id, only after the bank declined the last. So a bill is
//! never collected twice, whoever asks and however often. Collected, the ledger moves the bank's
//! money to the hospital and closes the receivable: `patient_unpaid` → paid. A collection begun
//! before charges (migration 0034) as an authorization (`…:auth`) and a capture finishes that way.
//!
//! A stay's bill (住院欠费: the shares its line could not cover, `StayStage::owed`) is collected
//! the same way once the stay is over, its collection keyed by the stay's id. Its settlement is not
//! cancelled while a charge for it is out or after one was collected, nor is a charge sent once
//! its cancellation began: each side checks the other in its own write.

use super::inpatient::stay_stage;
use super::*;
use crate::store::{BillCollectionRow, StayRow, UnpaidBill};
use serde::Serialize;
use wugan_domain::ledger::{Transfer, TransferKind};
use wugan_domain::settlement::accounts;

/// Bills shown, and collections driven per pass, at most.
const BILLS_MAX: i64 = 50;

#[derive(Serialize, utoipa::ToSchema)]
pub struct UnpaidBillsView {
    pub bills: Vec<UnpaidBill>,
}

/// A bill paid (or found paid already).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BillPaidView {
    pub settlement_id: String,
    pub amount_fen: i64,
    pub state: String,
    pub attempt: i64,
    /// `patient` or `line`: who collected it.
    pub collected_by: Option<String>,
}

/// The bank request ids of an attempt.
pub fn collection_ids(settlement_id: &str, attempt: i64) -> (String, String) {
    let base = format!("{settlement_id}:collect:{attempt}");
    (format!("{base}:auth"), format!("{base}:capture"))
}

/// What a collection posts: the bank's money to the hospital (a capture, as reconciliation and
/// clearing read `bank_share`: its key is the capture's request id), and the receivable closed.
pub fn collection_transfers(row: &BillCollectionRow, hospital_code: &str, psn_no: &str, bank_account: String) -> Vec<Transfer> {
    let base = format!("settle:{}:collect:{}", row.settlement_id, row.attempt);
    let posted = |step: &str, debit: String, credit: String| Transfer {
        id: format!("{base}:{step}"),
        debit_account: debit,
        credit_account: credit,
        amount: row.amount,
        kind: TransferKind::Posted,
        pending_id: None,
        code: step.to_string(),
    };
    vec![
        posted(wugan_domain::clearing::BANK_SHARE, bank_account, accounts::hospital(hospital_code)),
        posted("unpaid_collected", accounts::hospital_unpaid(hospital_code), accounts::patient_unpaid(psn_no)),
    ]
}

/// The collection marked collected (by `by`), and what it posts.
fn collected(row: &mut BillCollectionRow, by: &str, hospital_code: &str, psn_no: &str, agreement: &AgreementRow) -> Vec<Transfer> {
    (row.state, row.collected_by) = ("collected".into(), Some(by.to_string()));
    let bank_account = accounts::bank_agreement(&agreement.bank_code, &agreement.bank_agreement_id);
    collection_transfers(row, hospital_code, psn_no, bank_account)
}

/// A bill as its collection needs it: whose it is, on which agreement, and what it owes now.
struct BillNow {
    hospital_code: String,
    psn_no: String,
    agreement_id: String,
    owed: Fen,
    /// A refund of the visit is under way: what is owed may change.
    refunding: bool,
}

/// A stay's bill as the patient's page shows it.
fn stay_bill(stay: StayRow, owed: Fen, collection: Option<String>, last_decline: Option<String>) -> UnpaidBill {
    UnpaidBill {
        settlement_id: stay.id.clone(),
        kind: "stay".into(),
        visit_id: stay.id,
        hospital_code: stay.hospital_code,
        ipt_otp_no: stay.ipt_no,
        psn_no: stay.psn_no,
        agreement_id: stay.agreement_id,
        unpaid_fen: owed.0,
        owed_fen: crate::store::owed_now(owed.0, collection.as_deref()),
        settled_at: stay.updated_at,
        collection,
        last_decline,
    }
}

fn refund_under_way() -> AppError {
    AppError::conflict("refund_in_progress", "a refund of this visit is not finished yet: what is owed may change; retry shortly")
}

fn paid_view(row: &BillCollectionRow) -> BillPaidView {
    BillPaidView {
        settlement_id: row.settlement_id.clone(),
        amount_fen: row.amount.0,
        state: row.state.clone(),
        attempt: row.attempt,
        collected_by: row.collected_by.clone(),
    }
}

impl App {
    /// The unpaid bills of the patient and of the family members they pay for: visits' and stays'.
    pub async fn patient_unpaid_bills(&self, patient_id: &str) -> Result<UnpaidBillsView, AppError> {
        let Some(psn_no) = self.patient_row(patient_id).await?.psn_no else {
            return Ok(UnpaidBillsView { bills: Vec::new() });
        };
        let mut bills = Vec::new();
        for person in self.visible_persons(&psn_no).await? {
            bills.extend(self.store.unpaid_bills_of(&person, BILLS_MAX).await?);
            for (stay, collection, last_decline) in self.store.settled_stays_of(&person, BILLS_MAX).await? {
                let owed = stay_stage(&stay)?.owed();
                if owed.is_positive() {
                    bills.push(stay_bill(stay, owed, collection, last_decline));
                }
            }
        }
        bills.sort_by(|a, b| b.settled_at.cmp(&a.settled_at));
        Ok(UnpaidBillsView { bills })
    }

    /// The line of an agreement had room again (a repayment, a reinstatement, a higher limit):
    /// every unpaid bill it carries, a visit's or a stay's, is made due (its next attempt if the
    /// last was declined).
    pub(super) async fn wake_bills_of_agreement(&self, agreement_id: &str) -> Result<u64, AppError> {
        let mut woken = self.store.wake_bills_of_agreement(agreement_id).await?;
        for (stay, collection, _) in self.store.settled_stays_of_agreement(agreement_id, BILLS_MAX).await? {
            let owed = stay_stage(&stay)?.owed();
            if owed.is_positive() && matches!(collection.as_deref(), None | Some("declined")) {
                self.store.want_bill_collected(&stay.id, agreement_id, owed).await?;
                woken += 1;
            }
        }
        Ok(woken)
    }

    /// Whose bill `id` is (a visit's settlement or a stay) and what it owes now; None when there
    /// is no such bill.
    async fn bill_now(&self, id: &str) -> Result<Option<BillNow>, AppError> {
        if let Some(s) = self.store.settlement(id).await? {
            let visit = self.store.visit(&s.visit_id).await?.ok_or_else(|| AppError::internal("visit vanished"))?;
            let (owed, refunding) = self.bill_in_force(&s).await?;
            // A bill is owed only while its settlement stands: a cancelled one is never collected
            // (its money went back through the cancellation), a refunded one only for the lines
            // kept, and none while a refund is under way (it changes what is owed). A settled click
            // owes nothing, unless a refund's re-settlement left a cash share the capture does not pay.
            let standing = matches!(s.state, SettlementState::Settled | SettlementState::SettledUnpaid);
            let owed = if standing { owed } else { Fen::ZERO };
            return Ok(Some(BillNow {
                hospital_code: s.hospital_code,
                psn_no: visit.psn_no,
                agreement_id: s.agreement_id,
                owed,
                refunding,
            }));
        }
        let Some(stay) = self.store.stay(id).await? else { return Ok(None) };
        let owed = stay_stage(&stay)?.owed();
        Ok(Some(BillNow {
            hospital_code: stay.hospital_code,
            psn_no: stay.psn_no,
            agreement_id: stay.agreement_id,
            owed,
            refunding: false,
        }))
    }

    /// The patient pays an unpaid bill (a visit's or a stay's) on the phone page: collected now on
    /// the agreement, or refused with the bank's reason (the bill stays, to be paid again or
    /// collected later).
    pub async fn patient_pay_bill(&self, patient_id: &str, settlement_id: &str) -> Result<BillPaidView, AppError> {
        let missing = || AppError::not_found("bill_not_found", format!("no unpaid bill {settlement_id}"));
        let psn_no = self.patient_row(patient_id).await?.psn_no.ok_or_else(missing)?;
        let bill = self.bill_now(settlement_id).await?.ok_or_else(missing)?;
        if !self.visible_persons(&psn_no).await?.contains(&bill.psn_no) {
            return Err(missing());
        }
        if bill.refunding {
            return Err(refund_under_way());
        }
        if !bill.owed.is_positive() {
            return Err(AppError::conflict("bill_not_unpaid", "this visit or stay has no unpaid bill"));
        }
        let row = self.store.want_bill_collected(settlement_id, &bill.agreement_id, bill.owed).await?;
        let row = self.drive_bill_collection(row, "patient").await?;
        match row.state.as_str() {
            "collected" => Ok(paid_view(&row)),
            "declined" => Err(AppError::invalid(
                "bill_declined",
                format!(
                    "the bank declined the payment ({}): the line's available amount does not cover the bill, or the \
                     account is restricted; pay at the hospital's window, or ask for a higher limit",
                    row.last_decline.as_deref().unwrap_or("declined")
                ),
            )),
            other => Err(AppError::internal(format!("a collection left {other}"))),
        }
    }

    /// Refuses to cancel or refund a settlement whose unpaid bill was collected, or is being
    /// collected: that money is its own capture at the bank, which neither the cancellation nor
    /// the refund machine gives back yet. Nothing moves; the operator refunds it by hand.
    pub(crate) async fn refuse_if_bill_collected(&self, settlement_id: &str) -> Result<(), AppError> {
        let collection = self.store.bill_collection(settlement_id).await?;
        if collection.is_some_and(|c| matches!(c.state.as_str(), "charging" | "authorizing" | "capturing" | "collected")) {
            return Err(AppError::conflict(
                "bill_collected",
                "the unpaid share of this settlement was collected later from the patient's line: it cannot be cancelled or refunded here",
            ));
        }
        Ok(())
    }

    /// One pass over the collections that are due or in doubt (the line had room again, or a
    /// call went unanswered). Returns how many bills were collected.
    pub async fn collect_due_bills(&self) -> Result<usize, AppError> {
        let mut collected = 0;
        for row in self.store.open_bill_collections(BILLS_MAX).await? {
            match self.drive_bill_collection(row, "line").await {
                Ok(row) => collected += usize::from(row.state == "collected"),
                Err(e) => tracing::warn!(code = e.code(), "an unpaid bill's collection is left for the next pass"),
            }
        }
        Ok(collected)
    }

    /// Persist, call, apply, until the collection is collected or declined. `Err`: a call's
    /// outcome is unknown (the row stays where it is, and the next drive sends the same id).
    async fn drive_bill_collection(&self, mut row: BillCollectionRow, by: &str) -> Result<BillCollectionRow, AppError> {
        let vanished = || AppError::internal("the settlement or stay of a bill vanished");
        let bill = self.bill_now(&row.settlement_id).await?.ok_or_else(vanished)?;
        let agreement = self.store.agreement(&row.agreement_id).await?.ok_or_else(|| AppError::internal("agreement vanished"))?;
        let bank = self.bank(&agreement.bank_code)?;
        let (auth, capture) = collection_ids(&row.settlement_id, row.attempt);
        let collected = |row: &mut BillCollectionRow| collected(row, by, &bill.hospital_code, &bill.psn_no, &agreement);
        // A call read from storage may have been sent before; one just written for never was.
        let mut in_doubt = true;
        // What is owed, as `bill` read it just now; read again after another run moved the row.
        let mut owed_as_read = Some((bill.owed, bill.refunding));
        loop {
            let from = row.state.clone();
            let mut transfers = Vec::new();
            match from.as_str() {
                "collected" | "declined" => return Ok(row),
                // The write that sends the charge checks again that no refund or cancellation
                // began since what is owed was read.
                "due" => {
                    let (owed, refunding) = match owed_as_read.take() {
                        Some(read) => read,
                        None => self.bill_now(&row.settlement_id).await?.map(|b| (b.owed, b.refunding)).ok_or_else(vanished)?,
                    };
                    if refunding {
                        return Err(refund_under_way());
                    }
                    if !owed.is_positive() {
                        (row.state, row.last_decline) = ("declined".into(), Some("not_owed".to_string()));
                    } else {
                        (row.state, row.amount) = ("charging".into(), owed);
                    }
                }
                "charging" => match bank.charge(&capture, &agreement.bank_agreement_id, row.amount, &bill.hospital_code, in_doubt).await {
                    Ok(Authorization::Approved { .. }) => transfers = collected(&mut row),
                    Ok(Authorization::Declined { code }) => (row.state, row.last_decline) = ("declined".into(), Some(code.to_string())),
                    Err(BankError::Refused { code, .. }) => (row.state, row.last_decline) = ("declined".into(), Some(code.to_string())),
                    Err(e) => return Err(e.into()),
                },
                // Begun before charges: the hold, then its capture.
                "authorizing" => match bank.authorize(&auth, &agreement.bank_agreement_id, row.amount, &bill.hospital_code, in_doubt).await
                {
                    Ok(Authorization::Approved { .. }) => row.state = "capturing".into(),
                    Ok(Authorization::Declined { code }) => (row.state, row.last_decline) = ("declined".into(), Some(code.to_string())),
                    Err(BankError::Refused { code, .. }) => (row.state, row.last_decline) = ("declined".into(), Some(code.to_string())),
                    Err(e) => return Err(e.into()),
                },
                _ => match bank.capture(&capture, &auth, row.amount, in_doubt).await {
                    Ok(()) => transfers = collected(&mut row),
                    Err(BankError::Refused { code, .. }) => (row.state, row.last_decline) = ("declined".into(), Some(code.to_string())),
                    Err(e) => return Err(e.into()),
                },
            }
            match self.store.advance_bill_collection(&row, &from, transfers).await {
                Ok(()) => in_doubt = false,
                Err(crate::store::StoreError::StaleSettlement) => {
                    (in_doubt, owed_as_read) = (true, None);
                    // Another run moved it meanwhile: go on from what it wrote.
                    row = self.store.bill_collection(&row.settlement_id).await?.ok_or_else(|| AppError::internal("collection vanished"))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collection_moves_the_banks_money_to_the_hospital_and_closes_the_receivable() {
        let (auth, capture) = collection_ids("stl_1", 2);
        assert_eq!((auth.as_str(), capture.as_str()), ("stl_1:collect:2:auth", "stl_1:collect:2:capture"));
        let row = BillCollectionRow {
            settlement_id: "stl_1".into(),
            agreement_id: "agr_1".into(),
            amount: Fen(1234),
            attempt: 2,
            state: "collected".into(),
            last_decline: None,
            collected_by: Some("patient".into()),
        };
        let names: Vec<(String, String, String)> = collection_transfers(&row, "H1", "P1", "bank:BANK01:BA1".into())
            .into_iter()
            .map(|t| {
                assert_eq!(t.amount, Fen(1234));
                (t.id, t.debit_account, t.credit_account)
            })
            .collect();
        let owned = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            names,
            [
                // Reconciliation reads this id as the bank's capture `stl_1:collect:2:capture`.
                owned("settle:stl_1:collect:2:bank_share", "bank:BANK01:BA1", "hospital:H1"),
                owned("settle:stl_1:collect:2:unpaid_collected", "hospital_unpaid:H1", "patient_unpaid:P1"),
            ]
        );
    }
}
