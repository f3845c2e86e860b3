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
pub mod metrics;
pub mod model;
pub mod msgid;
pub mod partner_wire;
pub mod pii;
pub mod store;

#[cfg(test)]
mod openapi_check;

pub use app::{App, HubConfig};
