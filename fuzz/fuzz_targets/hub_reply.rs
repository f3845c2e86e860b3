//! The hub's reading of the national interface's replies (`insurance_client`): any JSON as a 1101
//! or a 2206/2207 output, and any `err_msg`. Nothing may panic; a settlement read is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wugan_hub::insurance_client::{rejects_our_envelope, InsuranceClient};

fuzz_target!(|data: &[u8]| {
    let _ = rejects_our_envelope(&String::from_utf8_lossy(data));
    let Ok(output) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(person) = InsuranceClient::read_person(&output) {
        assert!(!person.psn_no.is_empty(), "a person has a psn_no");
    }
    if let Ok(settled) = InsuranceClient::read_settlement(&output) {
        // Amounts are whole fen: each one prints and reads back the same.
        for fen in
            [settled.split.medfee, settled.split.fund, settled.split.personal_account, settled.split.cash, settled.split.hospital_part]
        {
            assert_eq!(wugan_domain::Fen::parse_yuan(&fen.to_yuan_string()), Ok(fen));
        }
    }
});
