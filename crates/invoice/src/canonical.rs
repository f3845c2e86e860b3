//! Canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace, strings escaped as
//! serde_json escapes them, integers only (the document holds no floats). The same value always
//! gives the same bytes, whatever order a reader's JSON library keeps keys in.

use serde_json::Value;

pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_depth_and_nothing_else_changes() {
        let value = json!({"b": 1, "a": {"d": [3, {"z": "医院", "y": null}], "c": true}});
        assert_eq!(canonical_json(&value), r#"{"a":{"c":true,"d":[3,{"y":null,"z":"医院"}]},"b":1}"#);
    }
}
