//! The hub's ledger, in memory: every step's transfers are posted together or not at all (one
//! database transaction), through `wugan_domain::ledger::apply`, with the patient's accounts
//! limited so they never go below zero.
//!
//! The domain's ledger has no opening balances: the hub sees a credit line and a personal
//! account only through its debits. To give `AccountLimit::DebitsWithinCredits` something to
//! hold, each patient's two accounts are opened with a funding transfer: the credit limit into
//! the bank agreement, the personal account's balance into the personal account.

use std::collections::BTreeMap;
use wugan_domain::ledger::{apply, AccountBalance, AccountLimit, LedgerError, Transfer, TransferKind};
use wugan_domain::Fen;

#[derive(Default)]
pub struct Ledger {
    pub accounts: BTreeMap<String, AccountBalance>,
    limits: BTreeMap<String, AccountLimit>,
    /// Open holds: pending transfer id → amount.
    pending: BTreeMap<String, Fen>,
    /// Every transfer id ever posted: an id is written once.
    ids: BTreeMap<String, Transfer>,
}

/// Why a batch of transfers was not posted.
#[derive(Debug)]
pub enum PostError {
    /// A limited account would go below zero: the commit is refused and the step retried later.
    Limit,
    /// The transfers themselves are wrong: a bug.
    Broken(String),
}

impl Ledger {
    /// Opens a limited account, funded from `funding` with `opening`.
    pub fn open(&mut self, account: &str, funding: &str, opening: Fen) -> Result<(), PostError> {
        self.limits.insert(account.to_string(), AccountLimit::DebitsWithinCredits);
        if !opening.is_positive() {
            return Ok(());
        }
        let t = Transfer {
            id: format!("open:{account}"),
            debit_account: funding.to_string(),
            credit_account: account.to_string(),
            amount: opening,
            kind: TransferKind::Posted,
            pending_id: None,
            code: "opening_balance".into(),
        };
        self.post_all(&[t])
    }

    pub fn limit_of(&self, account: &str) -> AccountLimit {
        self.limits.get(account).copied().unwrap_or(AccountLimit::None)
    }

    pub fn limited_accounts(&self) -> impl Iterator<Item = &String> {
        self.limits.keys()
    }

    pub fn open_holds(&self) -> usize {
        self.pending.len()
    }

    /// Posts every transfer or none.
    pub fn post_all(&mut self, transfers: &[Transfer]) -> Result<(), PostError> {
        if transfers.is_empty() {
            return Ok(());
        }
        let (mut accounts, mut pending) = (self.accounts.clone(), self.pending.clone());
        for (i, t) in transfers.iter().enumerate() {
            if self.ids.contains_key(&t.id) || transfers[..i].iter().any(|earlier| earlier.id == t.id) {
                return Err(PostError::Broken(format!("transfer {} posted twice", t.id)));
            }
            self.post(t, &mut accounts, &mut pending)?;
        }
        (self.accounts, self.pending) = (accounts, pending);
        self.ids.extend(transfers.iter().map(|t| (t.id.clone(), t.clone())));
        Ok(())
    }

    /// Posts one transfer into a scratch copy of the accounts and holds.
    fn post(
        &self,
        t: &Transfer,
        accounts: &mut BTreeMap<String, AccountBalance>,
        pending: &mut BTreeMap<String, Fen>,
    ) -> Result<(), PostError> {
        let held = match &t.pending_id {
            Some(id) => Some(pending.remove(id).ok_or_else(|| PostError::Broken(format!("{}: no open hold {id}", t.id)))?),
            None => None,
        };
        let mut debit = accounts.get(&t.debit_account).cloned().unwrap_or_default();
        let mut credit = accounts.get(&t.credit_account).cloned().unwrap_or_default();
        match apply(t, &mut debit, self.limit_of(&t.debit_account), &mut credit, held) {
            Ok(()) => {}
            Err(LedgerError::ExceedsLimit(..)) => return Err(PostError::Limit),
            Err(e) => return Err(PostError::Broken(e.to_string())),
        }
        if t.kind == TransferKind::Pending {
            pending.insert(t.id.clone(), t.amount);
        }
        accounts.insert(t.debit_account.clone(), debit);
        accounts.insert(t.credit_account.clone(), credit);
        Ok(())
    }
}
