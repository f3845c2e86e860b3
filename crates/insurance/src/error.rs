//! The one error every transaction returns: a business failure, infcode -1 on the wire.

/// A business failure: infcode -1 with a Chinese and an English message (HTTP status stays 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxError {
    pub message: String,
}

impl TxError {
    pub fn new(zh: &str, en: impl AsRef<str>) -> TxError {
        TxError { message: format!("{zh} / {}", en.as_ref()) }
    }

    /// A message that is already bilingual (e.g. a policy error).
    pub fn bilingual(message: String) -> TxError {
        TxError { message }
    }

    pub fn missing(field: &str) -> TxError {
        TxError::new(&format!("缺少必填字段 {field}"), format!("missing required field {field}"))
    }
}

impl From<wugan_policy::PolicyError> for TxError {
    fn from(e: wugan_policy::PolicyError) -> TxError {
        TxError::bilingual(format!("待遇计算失败 / adjudication failed: {e}"))
    }
}
