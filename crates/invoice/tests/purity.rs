//! Architecture Invariant: `wugan-invoice` does no I/O, no async, no clock reads (ARCHITECTURE.md).

#[path = "../../domain/tests/support/purity.rs"]
mod purity;

#[test]
fn the_invoice_crate_does_no_io_no_async_and_reads_no_clock() {
    purity::assert_pure(
        env!("CARGO_MANIFEST_DIR"),
        &["wugan-domain", "serde", "serde_json", "thiserror", "hex", "sha2", "ed25519-dalek", "krilla", "qrcode"],
    );
}
