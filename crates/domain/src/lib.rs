//! wugan's pure domain core. Nothing in this crate does I/O, async work or reads a clock:
//! every function is a function of its inputs, so it can be tested exhaustively and replayed.

pub mod clearing;
pub mod inpatient;
pub mod ledger;
pub mod money;
pub mod reconcile;
pub mod refund;
pub mod repayment;
pub mod seamless;
pub mod settlement;
pub mod signup;

pub use money::{Fen, MoneyError, Ratio};
