//! Request bodies: JSON objects read into typed commands, with the error a caller can act on
//! (`malformed_json`, `unknown_field`, `invalid_request`) and never a guess.

use crate::error::AppError;
use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads a command from a JSON object body; nothing (or only whitespace) reads as `{}`.
pub(super) fn parse_json<T: DeserializeOwned + utoipa::ToSchema>(body: &Bytes) -> Result<T, AppError> {
    parse_object(body, &[])
}

/// Like [`parse_json`], where the fields named in `objects` must be JSON objects when present. serde
/// would otherwise read a struct from an array too (`["02", "4403…"]` as a sign-up), so the shape is
/// checked first, then every text against the command's rules (`app::check_texts`); the struct is
/// then read from the bytes themselves, which also refuses a field given twice.
pub(super) fn parse_object<T: DeserializeOwned + utoipa::ToSchema>(body: &Bytes, objects: &[&str]) -> Result<T, AppError> {
    let shape = read_object(body, objects)?;
    crate::app::check_texts::<T>(&shape)?;
    serde_json::from_slice(json_text(body)).map_err(refused)
}

fn json_text(body: &Bytes) -> &[u8] {
    let body = crate::without_bom(body);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        b"{}"
    } else {
        body
    }
}

fn refused(e: serde_json::Error) -> AppError {
    let message = e.to_string();
    if message.starts_with("unknown field") {
        AppError::bad_request("unknown_field", message)
    } else if e.is_data() {
        AppError::invalid("invalid_request", message)
    } else {
        AppError::bad_request("malformed_json", format!("the body is not valid JSON: {message}"))
    }
}

/// A body that is not UTF-8 at all (an HIS writing GBK, say): said so, where serde_json would name
/// only the first bad code point. Read on the error path alone.
fn not_utf8(body: &[u8]) -> Option<AppError> {
    let bad = std::str::from_utf8(body).err()?;
    // A compressed body (`Content-Encoding: gzip`, which the API does not take): said so, rather
    // than "not UTF-8" at byte 1 (review r25 his F8).
    if body.starts_with(&[0x1f, 0x8b]) {
        return Some(AppError::bad_request(
            "malformed_json",
            "the body is gzip-compressed: send it uncompressed (no Content-Encoding), JSON in UTF-8",
        ));
    }
    Some(AppError::bad_request(
        "malformed_json",
        format!("the body is not UTF-8 (at byte {}): send JSON in UTF-8, the only encoding the API takes", bad.valid_up_to()),
    ))
}

/// The body as a JSON object, with the fields named in `objects` objects (or null) when present.
pub(super) fn read_object(body: &Bytes, objects: &[&str]) -> Result<Value, AppError> {
    let shape: Value = serde_json::from_slice(json_text(body)).map_err(|e| not_utf8(body).unwrap_or_else(|| refused(e)))?;
    let Some(fields) = shape.as_object() else {
        return Err(AppError::invalid("invalid_request", "the body must be a JSON object"));
    };
    if let Some(field) = objects.iter().find(|f| fields.get(**f).is_some_and(|v| !v.is_object() && !v.is_null())) {
        return Err(AppError::invalid("invalid_request", format!("{field} must be a JSON object")));
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_cannot_be_read_says_why() {
        let message = |body: &[u8]| not_utf8(body).map(|e| e.to_string()).unwrap_or_default();
        assert!(message(&[0x1f, 0x8b, 0x08, 0x00, 0xff]).contains("gzip-compressed"));
        assert!(message(&[b'{', 0xc4, 0xe3]).contains("not UTF-8 (at byte 1)"));
        assert!(not_utf8(b"{}").is_none());
    }
}
