//! The hub's ledger, in memory: every step's transfers are posted together or not at all (one
//! database transaction), through `wugan_domain::ledger::apply`.
//!
//! The domain's ledger has no opening balances: the hub sees a credit line and a personal
//! account only through its debits. So each patient's two accounts are opened with a funding
//! transfer (the credit limit into the bank agreement, the balance into the personal account),
//! which makes "never below zero" mean "within the limit" and "within the balance".
//!
//! Only the personal account is posted with `AccountLimit::DebitsWithinCredits`. The ledger
//! learns of a partner's work when a step commits, so it lags; for the personal account the lag
//! only delays a commit (a refused commit is retried, and the credit it waits for, a reversal,
//! is never refused itself). For the bank agreement it can wedge a settlement for good: the bank
//! may expire a hold whose approval the hub has not yet committed and lend the line to another
//! visit, and the replayed approval can then never be posted within the limit. The credit line's
//! limit is the bank's to keep; the auditor checks the ledger's view of it with the lag allowed.

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
    /// Opens an account with `limit`, funded from `funding` with `opening`.
    pub fn open(&mut self, account: &str, limit: AccountLimit, funding: &str, opening: Fen) -> Result<(), PostError> {
        self.limits.insert(account.to_string(), limit);
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
        self.limits.iter().filter(|(_, limit)| **limit == AccountLimit::DebitsWithinCredits).map(|(account, _)| account)
    }

    pub fn open_holds(&self) -> usize {
        self.pending.len()
    }

    /// What the open holds whose ids start with `prefix` reserve (a stay's pieces, say).
    pub fn held_under(&self, prefix: &str) -> Fen {
        self.pending.iter().filter(|(id, _)| id.starts_with(prefix)).map(|(_, amount)| *amount).sum()
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
