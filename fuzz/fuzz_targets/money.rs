//! The money parser: yuan as text and as JSON (numbers read through their shortest decimal text),
//! ratios and scaled decimals. Nothing may panic; whatever parses prints and reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wugan_domain::money::{format_scaled, parse_scaled, Ratio};
use wugan_domain::Fen;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(fen) = Fen::parse_yuan(&text) {
        assert_eq!(Fen::parse_yuan(&fen.to_yuan_string()), Ok(fen), "{text:?}");
    }
    if let Ok(ratio) = Ratio::parse(&text) {
        assert_eq!(Ratio::parse(&ratio.to_decimal_string()), Ok(ratio), "{text:?}");
    }
    for scale in 0..=6 {
        if let Ok(value) = parse_scaled(&text, scale) {
            assert_eq!(parse_scaled(&format_scaled(value, scale), scale), Ok(value), "{text:?} at scale {scale}");
        }
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(Some(fen)) = Fen::from_json_yuan(&json) {
            assert_eq!(Fen::from_json_yuan(&serde_json::json!(fen.to_yuan_string())), Ok(Some(fen)), "{json}");
        }
        let _ = Ratio::from_json(&json);
    }
});
