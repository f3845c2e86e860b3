//! Architecture Invariant: `wugan-policy` does no I/O, no async, no clock reads (ARCHITECTURE.md).
//! Policy files reach it as text; the callers (`wugan-insurance`, the binary) read them.

#[path = "../../domain/tests/support/purity.rs"]
mod purity;

#[test]
fn the_policy_engine_does_no_io_no_async_and_reads_no_clock() {
    purity::assert_pure(env!("CARGO_MANIFEST_DIR"), &["wugan-domain", "serde", "serde_json", "thiserror"]);
}
