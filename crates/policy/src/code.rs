//! [`Code`]: a short dictionary code (收费项目等级 "01", flags "0"/"1", 收费类别 "14") held inline,
//! so a fee line's result allocates nothing for them. Reads and writes as a JSON string.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    len: u8,
    bytes: [u8; Code::CAP],
}

impl Code {
    /// The longest code kept (bytes of UTF-8). Catalogue validation refuses longer ones.
    pub const CAP: usize = 22;

    /// `None` when `text` is longer than [`Code::CAP`] bytes.
    pub fn new(text: &str) -> Option<Code> {
        let len = text.len();
        if len > Self::CAP {
            return None;
        }
        let mut bytes = [0u8; Self::CAP];
        bytes[..len].copy_from_slice(text.as_bytes());
        Some(Code { len: len as u8, bytes })
    }

    /// Like [`Code::new`], cutting at the last character boundary within [`Code::CAP`].
    pub fn lossy(text: &str) -> Code {
        let mut end = text.len().min(Self::CAP);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Code::new(&text[..end]).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        // Built from a whole `&str` (or cut at a boundary), so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Default for Code {
    fn default() -> Code {
        Code { len: 0, bytes: [0; Code::CAP] }
    }
}

impl Deref for Code {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<Code> for String {
    fn from(code: Code) -> String {
        code.as_str().to_string()
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let text = String::deserialize(d)?;
        Code::new(&text).ok_or_else(|| serde::de::Error::custom(format!("code '{text}' is longer than {} bytes", Code::CAP)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_compare_as_text() {
        let c = Code::new("01").unwrap();
        assert_eq!(c, "01");
        assert_eq!(c.as_str(), "01");
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"01\"");
        assert_eq!(serde_json::from_str::<Code>("\"14\"").unwrap(), "14");
        assert!(Code::new(&"x".repeat(23)).is_none());
        assert_eq!(Code::lossy(&"甲".repeat(10)).len(), 21);
    }
}
