//! The hub (枢纽): agreements, visits, settlement orchestration, the ledger and the HIS API.
//! It never computes insurance benefits (it asks the insurance center) and never moves a bank's
//! money itself (it asks the bank).

pub mod api;
pub mod app;
pub mod bank_client;
pub mod ca_signer;
pub mod clock;
pub mod error;
pub mod insurance_client;
mod insurance_client_stays;
pub mod insurance_reply;
pub mod metrics;
pub mod model;
pub mod msgid;
pub mod partner_wire;
pub mod pii;
pub mod store;

#[cfg(test)]
mod openapi_check;

/// JSON text as a peer sent it, without a UTF-8 byte order mark in front. RFC 8259 §8.1 forbids
/// sending one but lets a parser ignore it, and HIS systems and gateways built on Windows stacks
/// send it: refusing their requests, or reading a platform's settled reply as unreadable (an
/// unknown outcome), would gain nothing.
pub fn without_bom(json: &[u8]) -> &[u8] {
    json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json)
}

pub use app::{App, HubConfig};
