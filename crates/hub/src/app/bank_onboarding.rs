//! Onboarding banks (银行接入) from the operator's console and API while the hub runs: the bank's
//! protocol endpoint, the key id and the two secrets (the hub's signing secret and the bank's
//! callback secret, sealed at rest and never shown again), and the terms the hub offers that
//! bank's patients (the credit limit asked for when a patient names none, the interest-free days
//! shown to them). The keys are checked with one signed read before the bank is stored; from then
//! on agreements may name it, and it is loaded again at every start.

use super::bank_directory::BankTerms;
use super::commands::{plain_code, text_not_blank};
use super::*;
use crate::bank_client::BankEndpoint;
use crate::store::BankRow;
use serde::Serialize;

/// The credit limit the hub asks for when a patient names none: 5,000 yuan, the reform's floor.
pub const MIN_CREDIT_LIMIT: Fen = Fen::yuan(5_000);
/// The largest default limit an operator may set for a bank.
pub const MAX_CREDIT_LIMIT: Fen = Fen::yuan(1_000_000);
/// Interest-free days a bank may declare (0 = interest from the first day).
pub const MAX_INTEREST_FREE_DAYS: i64 = 90;
/// Secrets shorter than this are refused: they sign money movements.
const MIN_SECRET_CHARS: usize = 16;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardBankRequest {
    /// The bank's code on this hub (e.g. BANK03).
    #[schema(schema_with = plain_code::<16>)]
    pub code: String,
    #[schema(schema_with = text_not_blank::<100>)]
    pub name: String,
    /// The bank protocol's base URL (http or https).
    #[schema(schema_with = text_not_blank::<300>)]
    pub url: String,
    /// The key id the bank knows the hub by.
    #[schema(schema_with = text_not_blank::<64>)]
    pub key_id: String,
    /// What the hub signs its requests with (at least 16 characters).
    #[schema(schema_with = text_not_blank::<128>)]
    pub secret: String,
    /// What the bank signs its callbacks with (at least 16 characters, not the same as `secret`).
    #[schema(schema_with = text_not_blank::<128>)]
    pub callback_secret: String,
    /// The credit limit asked for when a patient names none, in fen (500000 to 100000000; default 500000).
    #[serde(default)]
    pub default_credit_limit_fen: Option<i64>,
    /// The bank's interest-free days, as shown to patients (0 to 90; default 0).
    #[serde(default)]
    pub interest_free_days: Option<i64>,
}

/// A bank the hub has a contract with. Its secrets are never shown.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BankView {
    pub code: String,
    pub name: String,
    pub url: String,
    pub key_id: String,
    pub default_credit_limit_fen: i64,
    pub interest_free_days: i64,
    /// `config` (serve's configuration file) or `onboarded` (by an operator).
    pub source: &'static str,
    /// When it was onboarded (`None` for a configured bank).
    pub created_at: Option<String>,
}

fn check_request(req: &OnboardBankRequest) -> Result<BankTerms, AppError> {
    check_text("code", &req.code, 16)?;
    if !req.code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(AppError::invalid("bad_bank_code", "code is letters, digits, '_' and '-'"));
    }
    check_text("name", &req.name, 100)?;
    check_text("url", &req.url, 300)?;
    let url_ok = reqwest::Url::parse(&req.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !url_ok {
        return Err(AppError::invalid("bad_bank_url", "url is the bank's http or https base URL"));
    }
    check_text("key_id", &req.key_id, 64)?;
    for (field, secret) in [("secret", &req.secret), ("callback_secret", &req.callback_secret)] {
        check_text(field, secret, 128)?;
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(AppError::invalid("weak_secret", format!("{field} is at least {MIN_SECRET_CHARS} characters")));
        }
    }
    if req.secret == req.callback_secret {
        return Err(AppError::invalid("weak_secret", "callback_secret must differ from secret: one direction must not forge the other"));
    }
    let limit = Fen(req.default_credit_limit_fen.unwrap_or(MIN_CREDIT_LIMIT.0));
    if !(MIN_CREDIT_LIMIT..=MAX_CREDIT_LIMIT).contains(&limit) {
        return Err(AppError::invalid("bad_credit_limit", "default_credit_limit_fen is 500000 (5,000 yuan) to 100000000"));
    }
    let interest_free_days = req.interest_free_days.unwrap_or(0);
    if !(0..=MAX_INTEREST_FREE_DAYS).contains(&interest_free_days) {
        return Err(AppError::invalid("bad_interest_free_days", format!("interest_free_days is 0 to {MAX_INTEREST_FREE_DAYS}")));
    }
    Ok(BankTerms { name: req.name.trim().to_string(), default_credit_limit: limit, interest_free_days, created_at: None })
}

impl App {
    /// Onboards a bank: its keys are checked with a signed read of its event feed, then it is
    /// stored (secrets sealed) and routed to at once.
    pub async fn onboard_bank(&self, req: OnboardBankRequest) -> Result<BankView, AppError> {
        let mut terms = check_request(&req)?;
        let code = req.code.trim().to_string();
        if self.banks.contains_key(&code) {
            return Err(AppError::conflict("bank_exists", format!("bank {code} has a contract with this hub already")));
        }
        let endpoint = BankEndpoint {
            bank_code: code.clone(),
            url: req.url.trim_end_matches('/').to_string(),
            key_id: req.key_id.clone(),
            secret: req.secret.clone(),
            callback_secret: req.callback_secret.clone(),
        };
        let client = BankClient::new(endpoint.clone(), self.config.partner_timeout);
        match client.events(i64::MAX).await {
            Ok(_) => {}
            // No answer at all: nothing answers at the address given (or not yet); nothing is kept.
            Err(e @ crate::bank_client::BankError::Unreachable(_)) => {
                return Err(AppError::invalid("bank_unreachable", format!("nothing answered a signed read at this url: {e}")));
            }
            // Something answered and refused, or answered with what is not the bank protocol (another
            // server at that address): the address or the keys are not a bank's that knows us.
            Err(e) => {
                return Err(AppError::invalid("bank_check_failed", format!("the bank did not accept a signed read with these keys: {e}")));
            }
        }
        let now = self.now();
        let row = BankRow {
            code: code.clone(),
            name: terms.name.clone(),
            url: endpoint.url.clone(),
            key_id: endpoint.key_id.clone(),
            secret_enc: self.config.data_key.seal(&endpoint.secret)?,
            callback_secret_enc: self.config.data_key.seal(&endpoint.callback_secret)?,
            default_credit_limit_fen: terms.default_credit_limit.0,
            interest_free_days: terms.interest_free_days,
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        match self.store.insert_bank(row).await {
            Err(crate::store::StoreError::Conflict(_)) => {
                return Err(AppError::conflict("bank_exists", format!("bank {code} has a contract with this hub already")));
            }
            other => other?,
        }
        terms.created_at = Some(now);
        self.route_to_bank(endpoint, terms);
        self.bank_view(&code).ok_or_else(|| AppError::internal("a bank just onboarded is missing"))
    }

    /// Routes to every onboarded bank (at start, after the configured ones).
    pub async fn load_onboarded_banks(&self) -> Result<usize, AppError> {
        let rows = self.store.banks().await?;
        for row in &rows {
            let endpoint = BankEndpoint {
                bank_code: row.code.clone(),
                url: row.url.clone(),
                key_id: row.key_id.clone(),
                secret: self.config.data_key.open(&row.secret_enc)?,
                callback_secret: self.config.data_key.open(&row.callback_secret_enc)?,
            };
            let terms = BankTerms {
                name: row.name.clone(),
                default_credit_limit: Fen(row.default_credit_limit_fen),
                interest_free_days: row.interest_free_days,
                created_at: Some(row.created_at.clone()),
            };
            self.route_to_bank(endpoint, terms);
        }
        Ok(rows.len())
    }

    fn route_to_bank(&self, endpoint: BankEndpoint, terms: BankTerms) {
        let code = endpoint.bank_code.clone();
        self.metrics.add_bank(&code);
        let client = BankClient::new(endpoint, self.config.partner_timeout).metered(self.metrics.clone());
        self.banks.insert(code.clone(), client);
        self.banks.set_terms(&code, terms);
    }

    /// Every bank the hub routes to, by code.
    pub fn bank_views(&self) -> Vec<BankView> {
        self.banks.keys().iter().filter_map(|code| self.bank_view(code)).collect()
    }

    fn bank_view(&self, code: &str) -> Option<BankView> {
        let client = self.banks.get(code)?;
        let terms = self.banks.terms(code);
        let e = &client.endpoint;
        Some(BankView {
            code: code.to_string(),
            name: self.banks.name(code),
            url: e.url.clone(),
            key_id: e.key_id.clone(),
            default_credit_limit_fen: self.default_credit_limit(code).0,
            interest_free_days: terms.as_ref().map_or(0, |t| t.interest_free_days),
            source: if terms.as_ref().is_some_and(|t| t.created_at.is_some()) { "onboarded" } else { "config" },
            created_at: terms.and_then(|t| t.created_at),
        })
    }

    /// The limit asked for when a patient of `bank_code` names none: the bank's own default if it
    /// was onboarded with one, else the hub's.
    pub fn default_credit_limit(&self, bank_code: &str) -> Fen {
        self.banks.terms(bank_code).map_or(self.config.default_credit_limit, |t| t.default_credit_limit)
    }
}
