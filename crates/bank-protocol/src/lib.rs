//! The bank protocol: what the hub and a bank say to each other, and nothing else.
//!
//! - [`wire`]: the JSON request, reply and event shapes (amounts in integer fen);
//! - [`signing`]: HMAC-SHA256 request signing with a replay window and nonces, and Stripe-style
//!   signed callbacks (the bank's pushes to the hub);
//! - [`statement`]: the T+1 statement file (对账单), CSV with a trailer;
//! - [`ErrorCode`]: every error code a bank answers with, and which of them are business
//!   declines, a decision about the money, rather than a request the bank did not take up.
//!
//! The bank (`wugan-bank`) serves it and the hub (`wugan-hub`, `bank_client`) speaks it; neither
//! needs the other. Architecture invariant: no I/O, no async, no clock (the caller passes the
//! time), no HTTP framework; the only randomness is a fresh nonce.

mod error_code;
pub mod signing;
pub mod statement;
pub mod wire;

pub use error_code::{ErrorClass, ErrorCode};
