//! The national interface envelope (docs/national-interface.md §1): request parsing and reply building.

use crate::error::TxError;
use serde_json::{json, Value};
use wugan_policy::decimal::text_of;

/// The request fields the center uses. Everything but `infno` and `msgid` may be missing, null or "";
/// the other envelope fields (mdtrtarea_admvs, insuplc_admdvs, cainfo, opter …) are accepted and
/// not checked: the sandbox does not verify `cainfo` signatures. `sign_no` is checked only by a
/// center started strict about sign-in (`InsuranceCenter::with_strict_sign_in`).
#[derive(Debug, Clone)]
pub struct Envelope {
    pub infno: String,
    pub msgid: String,
    pub fixmedins_code: String,
    /// 签到编号 from 9001; "" when the sender sent none.
    pub sign_no: String,
    pub input: Value,
}

impl Envelope {
    pub fn parse(body: &[u8]) -> Result<Envelope, TxError> {
        // A byte order mark in front is ignored (RFC 8259 §8.1): Windows-built HIS send one.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| TxError::new("报文不是合法的JSON", format!("the request body is not valid JSON: {e}")))?;
        let Value::Object(mut map) = value else {
            return Err(TxError::new("报文必须是JSON对象", "the request body must be a JSON object"));
        };
        // Taken, not copied: the input holds every fee line of an upload.
        let input = map.remove("input").unwrap_or(Value::Null);
        let text = |key: &str| map.get(key).and_then(text_of);
        Ok(Envelope {
            infno: text("infno").ok_or_else(|| TxError::missing("infno"))?,
            msgid: text("msgid").ok_or_else(|| TxError::missing("msgid"))?,
            fixmedins_code: text("fixmedins_code").unwrap_or_default(),
            sign_no: text("sign_no").unwrap_or_default(),
            input,
        })
    }

    /// The transaction payload: `input.data` when present (most transactions), else `input` itself.
    pub fn data(&self) -> Result<&Value, TxError> {
        let data = match self.input.get("data") {
            Some(d) if d.is_object() => d,
            _ => &self.input,
        };
        if data.is_object() {
            Ok(data)
        } else {
            Err(TxError::new("缺少输入节点 input.data", "missing input (expected input.data as an object)"))
        }
    }
}

/// Timestamps and the receiver message id of one reply.
pub struct ReplyStamp {
    pub inf_refmsgid: String,
    /// yyyyMMddHHmmssSSS
    pub time: String,
}

pub fn reply(stamp: &ReplyStamp, result: Result<Value, TxError>) -> Value {
    let (infcode, err_msg, output) = match result {
        Ok(output) => (0, Value::Null, output),
        Err(e) => (-1, Value::String(e.message), Value::Null),
    };
    json!({
        "infcode": infcode,
        "inf_refmsgid": stamp.inf_refmsgid,
        "refmsg_time": stamp.time,
        "respond_time": stamp.time,
        "err_msg": err_msg,
        "warn_msg": null,
        "output": output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_before_the_envelope_is_ignored_and_one_inside_is_not() {
        let body = r#"{"infno":"1101","msgid":"H1-1","fixmedins_code":"H1","input":{"data":{}}}"#;
        let marked = format!("\u{FEFF}{body}");
        let env = Envelope::parse(marked.as_bytes()).expect("the mark is ignored");
        assert_eq!((env.infno.as_str(), env.msgid.as_str(), env.fixmedins_code.as_str()), ("1101", "H1-1", "H1"));
        assert!(Envelope::parse(format!("{{\u{FEFF}{}", &body[1..]).as_bytes()).is_err(), "only in front");
    }
}
