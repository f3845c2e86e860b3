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
    /// The names the configuration gives its banks (`serve`'s `bank_name`, `banks[].name`): what
    /// patients choose from and staff read, rather than the bank's code.
    names: RwLock<BTreeMap<String, String>>,
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
        BankDirectory {
            clients: RwLock::new(clients.into_iter().map(|(code, c)| (code, Arc::new(c))).collect()),
            terms: RwLock::default(),
            names: RwLock::default(),
        }
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

    /// Names a configured bank (an onboarded one is named by its terms).
    pub fn set_name(&self, bank_code: &str, name: &str) {
        self.names.write().unwrap_or_else(PoisonError::into_inner).insert(bank_code.to_string(), name.trim().to_string());
    }

    /// The bank's name as patients and staff read it: its onboarded terms', else the
    /// configuration's, else its code.
    pub fn name(&self, bank_code: &str) -> String {
        if let Some(terms) = self.terms(bank_code) {
            return terms.name;
        }
        let names = self.names.read().unwrap_or_else(PoisonError::into_inner);
        names.get(bank_code).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| bank_code.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bank_is_named_by_its_onboarded_terms_then_the_configuration_then_its_code() {
        let banks = BankDirectory::default();
        assert_eq!(banks.name("B1"), "B1", "no name anywhere: the code");
        banks.set_name("B1", " 广州农商银行 ");
        assert_eq!(banks.name("B1"), "广州农商银行");
        let terms =
            BankTerms {
                name: "广州农村商业银行".into(), default_credit_limit: Fen(500_000), interest_free_days: 50, created_at: None
            };
        banks.set_terms("B1", terms);
        assert_eq!(banks.name("B1"), "广州农村商业银行", "an operator's onboarding names it last");
        banks.set_name("B2", "  ");
        assert_eq!(banks.name("B2"), "B2", "a blank name is none");
    }
}
