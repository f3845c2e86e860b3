//! The banks the hub has contracts with, by code: those in the configuration at start and those an
//! operator onboards while it runs (`bank_onboarding`). Each agreement is routed to its own bank's
//! client; a client is shared (`Arc`), so a lookup never holds the lock across a call.

use crate::bank_client::BankClient;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use wugan_domain::money::Fen;

#[derive(Default)]
pub struct BankDirectory {
    clients: RwLock<BTreeMap<String, Arc<BankClient>>>,
    /// The terms of banks onboarded by an operator (`bank_onboarding`).
    terms: RwLock<BTreeMap<String, BankTerms>>,
}

/// What the hub offers a bank's patients, as the operator onboarded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankTerms {
    pub name: String,
    /// Asked for at signing when the patient names no limit.
    pub default_credit_limit: Fen,
    pub interest_free_days: i64,
    /// When it was onboarded.
    pub created_at: Option<String>,
}

impl BankDirectory {
    pub fn new(clients: impl IntoIterator<Item = (String, BankClient)>) -> BankDirectory {
        BankDirectory { clients: RwLock::new(clients.into_iter().map(|(code, c)| (code, Arc::new(c))).collect()), terms: RwLock::default() }
    }

    pub fn get(&self, bank_code: &str) -> Option<Arc<BankClient>> {
        self.clients.read().unwrap_or_else(PoisonError::into_inner).get(bank_code).cloned()
    }

    pub fn contains_key(&self, bank_code: &str) -> bool {
        self.clients.read().unwrap_or_else(PoisonError::into_inner).contains_key(bank_code)
    }

    /// The banks' codes, in order.
    pub fn keys(&self) -> Vec<String> {
        self.clients.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }

    /// Every bank with its client, in order of code (a snapshot: a bank onboarded meanwhile is in the next one).
    pub fn all(&self) -> Vec<(String, Arc<BankClient>)> {
        self.clients.read().unwrap_or_else(PoisonError::into_inner).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Adds or replaces a bank's client (an onboarded bank, or new keys for it).
    pub fn insert(&self, bank_code: String, client: BankClient) {
        self.clients.write().unwrap_or_else(PoisonError::into_inner).insert(bank_code, Arc::new(client));
    }

    pub fn set_terms(&self, bank_code: &str, terms: BankTerms) {
        self.terms.write().unwrap_or_else(PoisonError::into_inner).insert(bank_code.to_string(), terms);
    }

    pub fn terms(&self, bank_code: &str) -> Option<BankTerms> {
        self.terms.read().unwrap_or_else(PoisonError::into_inner).get(bank_code).cloned()
    }

    /// Rebuilds a bank's client with `change` while nothing else holds it (while the hub is being
    /// built); false if the bank is unknown or its client is in use.
    pub fn rebuild(&self, bank_code: &str, change: impl FnOnce(BankClient) -> BankClient) -> bool {
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        let Some(shared) = clients.remove(bank_code) else { return false };
        match Arc::try_unwrap(shared) {
            Ok(client) => {
                clients.insert(bank_code.to_string(), Arc::new(change(client)));
                true
            }
            Err(shared) => {
                clients.insert(bank_code.to_string(), shared);
                false
            }
        }
    }
}
