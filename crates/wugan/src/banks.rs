//! Several banks at once (issue 15): `serve`'s config file may list further banks beside the
//! first; each agreement is routed to its own bank, so one that is down affects only its patients.

use wugan_hub::bank_client::BankEndpoint;

/// One more bank of `serve`'s config file (`banks: [...]`).
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankConfig {
    pub bank_code: String,
    /// The bank's name as patients choose it and staff read it (default: its code).
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    pub key_id: String,
    /// What the hub signs its requests with.
    pub secret: String,
    /// What the bank signs its callbacks with.
    pub callback_secret: String,
}

impl From<BankConfig> for BankEndpoint {
    fn from(b: BankConfig) -> BankEndpoint {
        BankEndpoint { bank_code: b.bank_code, url: b.url, key_id: b.key_id, secret: b.secret, callback_secret: b.callback_secret }
    }
}
