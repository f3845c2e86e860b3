//! `/docs`: the API reference as one HTML page, rendered by the server from the embedded
//! `openapi.json` (so the page and the contract cannot differ): operations grouped by tag, each
//! with its access, parameters, request and response fields, examples and error codes. No script,
//! no font or style from elsewhere (a hospital's network may reach nothing else); one column that
//! reads on a 360 px phone. `/docs/openapi.json` serves the document itself beside it.

use super::OPENAPI_JSON;
use serde_json::{Map, Value};
use std::fmt::Write;
use std::sync::OnceLock;

/// The page, rendered once: the document is compiled in.
pub(super) fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| match serde_json::from_str::<Value>(OPENAPI_JSON) {
        Ok(doc) => render(&doc),
        Err(e) => format!("<!doctype html><title>wugan API</title><p>openapi.json cannot be read: {}</p>", escape(&e.to_string())),
    })
}

/// Chinese names of the tags, shown before the English ones.
fn tag_title(tag: &str) -> &'static str {
    match tag {
        "Visits" => "就诊与结算",
        "Agreements" => "签约",
        "Credit" => "信用账户",
        "Operations" => "运维",
        "Health" => "健康检查",
        _ => "其他",
    }
}

const STYLE: &str = "
:root{color-scheme:light dark;--line:#8884;--soft:#8881}
*{box-sizing:border-box}
body{margin:0 auto;max-width:60rem;padding:0 .9rem 3rem;font:15px/1.55 system-ui,-apple-system,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif}
h1{font-size:1.5rem;margin:1.2rem 0 .3rem}h2{font-size:1.25rem;margin:2.2rem 0 .4rem;padding-top:.6rem;border-top:2px solid var(--line)}
h3{font-size:1.05rem;margin:1.6rem 0 .3rem;overflow-wrap:anywhere}h4{font-size:.95rem;margin:1rem 0 .2rem}
.en{font-weight:normal;opacity:.75}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{overflow-wrap:anywhere}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.6rem;overflow-x:auto;max-height:28rem}
.m{display:inline-block;min-width:3.4rem;text-align:center;border-radius:4px;padding:0 .35rem;margin-right:.35rem;color:#fff;font-size:.8rem}
.get{background:#1d5f8c}.post{background:#1f6b37}.put,.patch{background:#7d5310}.delete{background:#8e2b22}
.access{font-size:.85rem;opacity:.85}
ul.f{list-style:none;padding-left:.9rem;margin:.2rem 0;border-left:1px solid var(--line)}
ul.f>li{margin:.25rem 0}
.t{opacity:.75;font-size:.85rem}.req{color:#c0392b;font-size:.8rem}
.codes code{display:inline-block;margin:.1rem .25rem .1rem 0;padding:0 .3rem;background:var(--soft);border-radius:3px}
nav ul{padding-left:1.1rem}nav li{margin:.15rem 0}
details{margin:.3rem 0}summary{cursor:pointer}
";

fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let info = &doc["info"];
    let title = info["title"].as_str().unwrap_or("wugan API");
    let _ = write!(
        out,
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body><main>\
         <h1>接口参考 <span class=\"en\">API reference</span></h1><p><b>{t}</b>, {v}</p><p>{d}</p>\
         <p>机器可读 <span class=\"en\">machine-readable</span>: <a href=\"/docs/openapi.json\">openapi.json</a></p>",
        t = escape(title),
        v = escape(info["version"].as_str().unwrap_or("")),
        d = prose(info["description"].as_str().unwrap_or("")),
    );
    let operations = operations_by_tag(doc);
    render_contents(&mut out, doc, &operations);
    for (tag, description, ops) in &operations {
        let _ = write!(
            out,
            "<h2 id=\"tag-{id}\">{zh} <span class=\"en\">{en}</span></h2><p>{d}</p>",
            id = slug(tag),
            zh = tag_title(tag),
            en = escape(tag),
            d = prose(description)
        );
        for (method, path, op) in ops {
            render_operation(&mut out, doc, method, path, op);
        }
    }
    out.push_str("</main></body></html>\n");
    out
}

type Operation<'a> = (&'a str, &'a str, &'a Value);

/// The document's tags in its order, each with its operations in path order; untagged last.
fn operations_by_tag(doc: &Value) -> Vec<(String, String, Vec<Operation<'_>>)> {
    let mut groups: Vec<(String, String, Vec<Operation>)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t["name"].as_str().unwrap_or("").to_string(), t["description"].as_str().unwrap_or("").to_string(), Vec::new()))
        .collect();
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in ops.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("Other");
            let index = match groups.iter().position(|g| g.0 == tag) {
                Some(i) => i,
                None => {
                    groups.push((tag.to_string(), String::new(), Vec::new()));
                    groups.len() - 1
                }
            };
            groups[index].2.push((method.as_str(), path.as_str(), op));
        }
    }
    groups.retain(|g| !g.2.is_empty());
    groups
}

fn render_contents(out: &mut String, doc: &Value, groups: &[(String, String, Vec<Operation>)]) {
    out.push_str("<nav><h2>目录 <span class=\"en\">Contents</span></h2><ul>");
    out.push_str("<li><a href=\"#conventions\">约定 <span class=\"en\">Conventions</span></a></li>");
    for (tag, _, ops) in groups {
        let _ = write!(out, "<li><a href=\"#tag-{}\">{} <span class=\"en\">{}</span></a><ul>", slug(tag), tag_title(tag), escape(tag));
        for (method, path, op) in ops {
            let _ = write!(
                out,
                "<li><a href=\"#{}\"><code>{} {}</code></a> {}</li>",
                anchor(method, path),
                method.to_uppercase(),
                escape(path),
                escape(op["summary"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</ul></li>");
    }
    out.push_str("</ul></nav>");
    let scheme = doc["components"]["securitySchemes"]["apiKey"]["scheme"].as_str().unwrap_or("bearer");
    let _ = write!(
        out,
        "<h2 id=\"conventions\">约定 <span class=\"en\">Conventions</span></h2>\
         <h3>认证 <span class=\"en\">Authentication</span></h3><p><code>Authorization: {} &lt;api key&gt;</code>; \
         each operation names the key it takes (医院 hospital, 运营 operator), a signed-in session (员工 staff: the \
         <code>wugan_staff</code> cookie, changes also with <code>x-csrf-token</code>; 患者 patient) or none (公开 public).</p>\
         <h3>幂等 <span class=\"en\">Idempotency</span></h3><p>Every mutating call takes an <code>Idempotency-Key</code> \
         header (1-128 visible ASCII characters): the same key with the same body replays the first answer \
         (header <code>idempotent-replayed: true</code>); with another body it is refused.</p>\
         <h3>金额 <span class=\"en\">Money</span></h3><p>The hub answers integer fen (<code>*_fen</code>); fee lines use the \
         national interface's fields and yuan.</p>\
         <h3>错误 <span class=\"en\">Errors</span></h3><p><code>{{\"error\": {{\"code\", \"message\"}}}}</code>; each operation \
         lists the codes each status can carry. Every answer carries <code>x-request-id</code>, the access log's id for it.</p>",
        escape(&capitalized(scheme))
    );
}

fn render_operation(out: &mut String, doc: &Value, method: &str, path: &str, op: &Value) {
    let _ = write!(
        out,
        "<h3 id=\"{}\"><span class=\"m {method}\">{}</span><code>{}</code></h3><p><b>{}</b></p>",
        anchor(method, path),
        method.to_uppercase(),
        escape(path),
        escape(op["summary"].as_str().unwrap_or(""))
    );
    let _ = write!(out, "<p class=\"access\">{}</p>", access_of(doc, op));
    if let Some(description) = op["description"].as_str() {
        let _ = write!(out, "<p>{}</p>", prose(description));
    }
    let parameters: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().map(|p| resolve(doc, p)).collect();
    if !parameters.is_empty() {
        out.push_str("<h4>参数 <span class=\"en\">Parameters</span></h4><ul class=\"f\">");
        for p in parameters {
            let name = format!(
                "{} <span class=\"t\">({})</span>",
                escape(p["name"].as_str().unwrap_or("")),
                escape(p["in"].as_str().unwrap_or(""))
            );
            field(out, doc, &name, &p["schema"], p["required"].as_bool().unwrap_or(false), p["description"].as_str(), 0);
        }
        out.push_str("</ul>");
    }
    if let Some(body) = op["requestBody"]["content"]["application/json"].as_object() {
        out.push_str("<h4>请求体 <span class=\"en\">Request body</span></h4>");
        schema_fields(out, doc, &body["schema"], 0);
        example(out, body.get("example"));
    }
    out.push_str("<h4>响应 <span class=\"en\">Responses</span></h4>");
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        render_response(out, doc, status, response, &op["x-error-codes"][status]);
    }
}

fn render_response(out: &mut String, doc: &Value, status: &str, response: &Value, codes: &Value) {
    let _ = write!(out, "<p><b>{}</b> {}</p>", escape(status), prose(response["description"].as_str().unwrap_or("")));
    if let Some(codes) = codes.as_array() {
        out.push_str("<p class=\"codes\">错误码 <span class=\"en\">error codes</span>: ");
        for code in codes.iter().filter_map(Value::as_str) {
            let _ = write!(out, "<code>{}</code>", escape(code));
        }
        out.push_str("</p>");
        return;
    }
    let Some((media, content)) = response["content"].as_object().and_then(|c| c.iter().next()) else { return };
    if media == "application/json" && status.starts_with('2') {
        out.push_str("<details><summary>字段 <span class=\"en\">fields</span></summary>");
        schema_fields(out, doc, &content["schema"], 0);
        out.push_str("</details>");
    }
    example(out, content.get("example"));
}

/// Who may call: the operation's own `security` (empty: public), else the document's, named by
/// the summary's "(operator)" or the tag.
fn access_of(doc: &Value, op: &Value) -> String {
    let schemes: Vec<&str> =
        op["security"].as_array().into_iter().flatten().filter_map(Value::as_object).flat_map(|r| r.keys()).map(String::as_str).collect();
    if op["security"].as_array().is_some_and(Vec::is_empty) {
        return "访问 <span class=\"en\">access</span>: 公开 public".into();
    }
    if schemes.contains(&"staffSession") {
        return "访问 <span class=\"en\">access</span>: 员工登录会话 <span class=\"en\">a staff member's session (cookie)</span>".into();
    }
    if schemes.contains(&"patientSession") {
        return "访问 <span class=\"en\">access</span>: 患者登录会话 <span class=\"en\">a patient's session</span>".into();
    }
    let summary = op["summary"].as_str().unwrap_or("");
    let tag = op["tags"][0].as_str().unwrap_or("");
    let who = if summary.contains("loopback") {
        "运营密钥, 或配置允许时本机 <span class=\"en\">operator key, or none from loopback when configured</span>"
    } else if tag == "Visits" {
        "医院密钥 <span class=\"en\">hospital key (its own visits only)</span>"
    } else if doc["security"].is_array() {
        "运营密钥 <span class=\"en\">operator key</span>"
    } else {
        "—"
    };
    format!("访问 <span class=\"en\">access</span>: {who}")
}

/// A schema's fields as a nested list (or its type, for a schema without fields).
fn schema_fields(out: &mut String, doc: &Value, schema: &Value, depth: usize) {
    let schema = merged(doc, schema);
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    match schema["properties"].as_object() {
        Some(properties) => {
            out.push_str("<ul class=\"f\">");
            for (name, field_schema) in properties {
                let is_required = required.contains(&name.as_str());
                let name = format!("<code>{}</code>", escape(name));
                field(out, doc, &name, field_schema, is_required, field_schema["description"].as_str(), depth);
            }
            out.push_str("</ul>");
        }
        None => {
            let _ = write!(out, "<p class=\"t\">{}</p>", escape(&type_of(doc, &schema)));
        }
    }
}

/// One field: name, type and rules, required, description; its own fields below it.
fn field(out: &mut String, doc: &Value, name: &str, schema: &Value, required: bool, description: Option<&str>, depth: usize) {
    let resolved = merged(doc, schema);
    let description = description.or(resolved["description"].as_str());
    let _ = write!(out, "<li>{name} <span class=\"t\">{}</span>", escape(&type_of(doc, &resolved)));
    if required {
        out.push_str(" <span class=\"req\">必填 required</span>");
    }
    if let Some(d) = description {
        let _ = write!(out, "<br>{}", prose(d));
    }
    if depth < 6 {
        let inner = match resolved["type"].as_str() {
            Some("array") => merged(doc, &resolved["items"]),
            _ => resolved.clone(),
        };
        if inner["properties"].is_object() {
            schema_fields(out, doc, &inner, depth + 1);
        }
        for choice in resolved["oneOf"].as_array().into_iter().flatten() {
            let choice = merged(doc, choice);
            let _ = write!(out, "<div class=\"t\">{}:</div>", escape(choice["title"].as_str().unwrap_or("one of")));
            schema_fields(out, doc, &choice, depth + 1);
        }
    }
    out.push_str("</li>");
}

/// A schema's type and rules in a few words: `string, 1-64 chars`, `integer ≥ 1`, `array of Visit`.
fn type_of(doc: &Value, schema: &Value) -> String {
    let mut words = match schema["type"].as_str() {
        Some("array") => format!("array of {}", type_of(doc, &merged(doc, &schema["items"]))),
        Some(t) => t.to_string(),
        None if schema["oneOf"].is_array() => "one of".to_string(),
        None => "any".to_string(),
    };
    if schema["nullable"] == true {
        words.push_str(" or null");
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| v.as_str().map_or(v.to_string(), str::to_string)).collect();
        let _ = write!(words, ": {}", values.join(" | "));
    }
    match (schema["minLength"].as_u64(), schema["maxLength"].as_u64()) {
        (Some(min), Some(max)) => {
            let _ = write!(words, ", {min}-{max} chars");
        }
        (None, Some(max)) => {
            let _ = write!(words, ", ≤ {max} chars");
        }
        _ => {}
    }
    if let Some(min) = schema["minimum"].as_i64() {
        let _ = write!(words, ", ≥ {min}");
    }
    if let Some(max) = schema["maximum"].as_i64() {
        let _ = write!(words, ", ≤ {max}");
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        // The text rule's pattern is long; it is one rule, said in words.
        match pattern.contains("\\x00-\\x1f") {
            true => words.push_str(", no control characters"),
            false => {
                let _ = write!(words, ", pattern {pattern}");
            }
        }
    }
    if let Some(format) = schema["format"].as_str() {
        let _ = write!(words, " ({format})");
    }
    words
}

/// A schema with its `$ref` followed and an `allOf` folded into one object; a nullable reference
/// (`oneOf` of it and null, the OpenAPI 3.0 way) reads as the thing referred to, `or null`.
fn merged(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(thing) = nullable_reference(schema) {
        let mut thing = merged(doc, thing);
        thing["nullable"] = Value::Bool(true);
        if let Some(d) = schema.get("description") {
            thing["description"] = d.clone();
        }
        return thing;
    }
    let Some(parts) = schema["allOf"].as_array() else { return schema.clone() };
    let (mut properties, mut required) = (Map::new(), Vec::new());
    for part in parts {
        let part = merged(doc, part);
        for (name, field) in part["properties"].as_object().into_iter().flatten() {
            // A later part narrows an earlier one (an error code's enum): keep both sides' words.
            let combined = match properties.get(name) {
                Some(earlier) => deep_merge(&merged(doc, earlier), &merged(doc, field)),
                None => field.clone(),
            };
            properties.insert(name.clone(), combined);
        }
        required.extend(part["required"].as_array().cloned().unwrap_or_default());
    }
    serde_json::json!({"type": "object", "properties": properties, "required": required})
}

/// `X` of `oneOf: [X, {nullable: true, enum: [null]}]`.
fn nullable_reference(schema: &Value) -> Option<&Value> {
    let [thing, null] = schema["oneOf"].as_array()?.as_slice() else { return None };
    (null["enum"] == serde_json::json!([null])).then_some(thing)
}

fn deep_merge(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = a.clone();
            for (k, v) in b {
                let merged = match out.get(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, b) => b.clone(),
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => doc.pointer(&r.replacen('#', "", 1)).unwrap_or(&Value::Null),
        None => schema,
    }
}

fn example(out: &mut String, example: Option<&Value>) {
    let Some(example) = example else { return };
    let text = match example {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    let _ = write!(out, "<details><summary>示例 <span class=\"en\">example</span></summary><pre>{}</pre></details>", escape(&text));
}

/// Text with `code` spans, escaped.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        match i % 2 {
            1 => {
                let _ = write!(out, "<code>{}</code>", escape(part));
            }
            _ => out.push_str(&escape(part)),
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

fn anchor(method: &str, path: &str) -> String {
    format!("{method}{}", slug(path))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_operation_with_its_error_codes_and_loads_nothing_from_elsewhere() {
        let page = page();
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("JSON");
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for (method, op) in ops.as_object().expect("operations") {
                assert!(page.contains(&format!("id=\"{}\"", anchor(method, path))), "{method} {path}");
                for codes in op["x-error-codes"].as_object().into_iter().flatten().map(|(_, c)| c) {
                    for code in codes.as_array().expect("codes") {
                        assert!(page.contains(&format!("<code>{}</code>", code.as_str().expect("text"))), "{method} {path} {code}");
                    }
                }
            }
        }
        for heading in ["接口参考", "参数 <span class=\"en\">Parameters</span>", "就诊与结算", "请求体"] {
            assert!(page.contains(heading), "{heading}");
        }
        for outside in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
            assert!(!page.contains(outside), "the page loads {outside}");
        }
    }

    /// A visit's settlement is a nullable reference (`oneOf` with null, as OpenAPI 3.0 writes it):
    /// the page shows its fields and says it may be null, not "one of" two choices.
    #[test]
    fn a_nullable_reference_reads_as_its_object_or_null() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("JSON");
        let settlement = &doc["components"]["schemas"]["Visit"]["properties"]["settlement"];
        assert!(nullable_reference(settlement).is_some(), "{settlement}");
        let mut out = String::new();
        field(&mut out, &doc, "settlement", settlement, true, None, 1);
        assert!(out.contains("object or null"), "{out}");
        assert!(out.contains("<li><code>medfee_fen</code>"), "the settlement's own fields are listed: {out}");
        assert!(!out.contains("one of"), "{out}");
    }

    /// A route a staff member's or a patient's session opens says so; before, the staff routes read
    /// "public" and the patient's "operator key".
    #[test]
    fn each_operation_names_who_may_call_it() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("JSON");
        let access = |method: &str, path: &str| access_of(&doc, &doc["paths"][path][method]);
        assert!(access("get", "/api/v1/staff/me").contains("staff member's session"), "{}", access("get", "/api/v1/staff/me"));
        assert!(access("get", "/api/v1/patient/me").contains("patient's session"));
        assert!(access("post", "/api/v1/staff/sessions").contains("public"));
        assert!(access("get", "/health").contains("public"));
        assert!(access("post", "/api/v1/visits").contains("hospital key"));
    }

    #[test]
    fn text_is_escaped_and_code_spans_are_marked() {
        assert_eq!(prose("send `Idempotency-Key` <b>"), "send <code>Idempotency-Key</code> &lt;b&gt;");
        assert_eq!(escape("\"a\" & 'b'"), "&quot;a&quot; &amp; &#39;b&#39;");
    }
}
