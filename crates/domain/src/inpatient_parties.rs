//! Who a stay involves, and the ledger transfers each step of `inpatient` posts: the pieces of
//! the hold (pending), their capture or release, insurance's shares and the bill, named
//! `stay:{stay_id}:{step}`.

use super::*;

/// Who a stay involves, for naming accounts and transfers (`stay:{stay_id}:{step}`).
#[derive(Clone, Debug)]
pub struct StayParties<'a> {
    pub stay_id: &'a str,
    pub hospital_code: &'a str,
    pub psn_no: &'a str,
    pub insuplc_admdvs: &'a str,
    pub insutype: &'a str,
    pub bank_code: &'a str,
    pub bank_agreement_id: &'a str,
}

impl StayParties<'_> {
    fn transfer(&self, step: &str, debit: String, credit: String, amount: Fen, kind: TransferKind, pending: Option<String>) -> Transfer {
        Transfer {
            id: format!("stay:{}:{step}", self.stay_id),
            debit_account: debit,
            credit_account: credit,
            amount,
            kind,
            pending_id: pending,
            code: step.split(':').next().unwrap_or(step).to_string(),
        }
    }

    fn piece_id(&self, k: usize) -> String {
        format!("stay:{}:hold:{k}", self.stay_id)
    }

    /// Piece `k` of the hold, a pending transfer from the patient's agreement to the hospital.
    pub fn hold_piece(&self, k: usize, amount: Fen) -> Transfer {
        let bank = accounts::bank_agreement(self.bank_code, self.bank_agreement_id);
        self.transfer(&format!("hold:{k}"), bank, accounts::hospital(self.hospital_code), amount, TransferKind::Pending, None)
    }

    /// Closes every piece of the ward's hold: posts `captured` over them in order, releases the rest.
    pub fn close_pieces(&self, ward: &Ward, captured: Fen) -> Vec<Transfer> {
        self.close_pieces_as("", ward, captured)
    }

    /// `close_pieces` named by `scope` (`interim:{n}:` for an interim capture, which the bank
    /// knows as its own operation).
    pub(super) fn close_pieces_as(&self, scope: &str, ward: &Ward, captured: Fen) -> Vec<Transfer> {
        let (bank, hospital) = (accounts::bank_agreement(self.bank_code, self.bank_agreement_id), accounts::hospital(self.hospital_code));
        let mut left = captured;
        let mut out = Vec::new();
        for (i, piece) in ward.pieces.iter().enumerate() {
            let k = ward.piece_base + i;
            let post = left.min(*piece);
            left -= post;
            let (step, kind) = if post.is_positive() { ("post", TransferKind::PostPending) } else { ("void", TransferKind::VoidPending) };
            let id = format!("hold_{step}:{scope}{k}");
            out.push(self.transfer(&id, bank.clone(), hospital.clone(), post, kind, Some(self.piece_id(k))));
        }
        out
    }

    /// What a settled stay posts: the fund's and the account's shares, the pieces closed, the bill.
    /// Named by the settlement (`setl_id`), the pieces' closing by its scope
    /// ([`Ward::settle_scope`]): a stay settled again after a cancellation posts anew.
    pub fn settlement_transfers(&self, ward: &Ward, split: &InsuranceSplit, captured: Fen, setl_id: &str) -> Vec<Transfer> {
        let mut out = self.insurance_shares("", split, captured, setl_id, false);
        out.extend(self.close_pieces_as(&ward.settle_scope(), ward, captured));
        out
    }

    /// 2305 reversed: the fund's and the account's shares and the bill go back (the bank's part
    /// when it refunds).
    pub fn cancellation_transfers(&self, split: &InsuranceSplit, captured: Fen, setl_id: &str) -> Vec<Transfer> {
        self.insurance_shares("cancel_", split, captured, setl_id, true)
    }

    /// The capture (or charge) back to the patient's agreement, named by the settlement's `scope`.
    pub fn refund_transfer(&self, scope: &str, amount: Fen, setl_id: &str) -> Transfer {
        let (bank, hospital) = (accounts::bank_agreement(self.bank_code, self.bank_agreement_id), accounts::hospital(self.hospital_code));
        self.transfer(&format!("bank_refund:{scope}{setl_id}"), hospital, bank, amount, TransferKind::Posted, None)
    }

    pub(super) fn insurance_shares(
        &self,
        prefix: &str,
        split: &InsuranceSplit,
        captured: Fen,
        setl_id: &str,
        reverse: bool,
    ) -> Vec<Transfer> {
        let hospital = accounts::hospital(self.hospital_code);
        let unpaid = split.cash - captured;
        let shares = [
            ("fund_share", accounts::insurance_fund(self.insuplc_admdvs, self.insutype), hospital.clone(), split.fund),
            ("personal_account_share", accounts::personal_account(self.psn_no), hospital.clone(), split.personal_account),
            ("unpaid_bill", accounts::patient_unpaid(self.psn_no), accounts::hospital_unpaid(self.hospital_code), unpaid),
        ];
        let step = |name: &str| format!("{prefix}{name}:{setl_id}");
        shares
            .into_iter()
            .filter(|(_, _, _, amount)| amount.is_positive())
            .map(|(name, from, to, amount)| match reverse {
                false => self.transfer(&step(name), from, to, amount, TransferKind::Posted, None),
                true => self.transfer(&step(name), to, from, amount, TransferKind::Posted, None),
            })
            .collect()
    }
}
