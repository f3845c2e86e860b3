//! openapi.json is written by hand for people (summaries, examples, error codes per operation);
//! this test keeps it true to the types the code reads and writes. For every request body and
//! every 200 response it walks the document's schema beside the schema derived from the Rust type
//! (`utoipa::ToSchema`) and fails when a field exists on one side only, or when a field the type
//! always writes is not `required` in the document.

use crate::api::OPENAPI_JSON;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

struct Sides<'a> {
    doc: &'a Value,
    types: &'a BTreeMap<String, Value>,
}

impl Sides<'_> {
    fn resolve_doc<'v>(&'v self, s: &'v Value) -> &'v Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => self.doc.pointer(&r.replacen('#', "", 1)).unwrap_or(&Value::Null),
            None => s,
        }
    }

    /// A derived schema with `$ref`s resolved and `allOf` (from `#[serde(flatten)]`) merged.
    fn resolve_type(&self, s: &Value) -> Value {
        if let Some(name) = s.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
            return self.resolve_type(self.types.get(name).unwrap_or(&Value::Null));
        }
        let one_of_null = s.get("oneOf").and_then(Value::as_array).and_then(|v| v.iter().find(|x| x.get("type") != Some(&"null".into())));
        if let Some(inner) = one_of_null {
            return self.resolve_type(inner);
        }
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            let (mut props, mut required) = (Map::new(), Vec::new());
            for part in parts {
                let part = self.resolve_type(part);
                props.extend(part.get("properties").and_then(Value::as_object).cloned().unwrap_or_default());
                required.extend(part.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
            }
            return serde_json::json!({"type": "object", "properties": props, "required": required});
        }
        s.clone()
    }

    fn compare(&self, at: &str, doc: &Value, ty: &Value, problems: &mut Vec<String>) {
        let doc = self.resolve_doc(doc);
        let ty = self.resolve_type(ty);
        if let (Some(d), Some(t)) = (doc.get("items"), ty.get("items")) {
            return self.compare(&format!("{at}[]"), d, t, problems);
        }
        let (Some(dp), Some(tp)) = (doc.get("properties").and_then(Value::as_object), ty.get("properties").and_then(Value::as_object))
        else {
            return; // a free-form object on one side (e.g. national fee lines, bank records)
        };
        let names = |m: &Map<String, Value>| m.keys().cloned().collect::<BTreeSet<_>>();
        let required = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        for only in names(dp).symmetric_difference(&names(tp)) {
            let side = if dp.contains_key(only) { "openapi.json only" } else { "the Rust type only" };
            problems.push(format!("{at}.{only}: in {side}"));
        }
        for missing in required(&ty).difference(&required(doc)) {
            problems.push(format!("{at}.{missing}: always written, but not required in openapi.json"));
        }
        for (name, d) in dp {
            if let Some(t) = tp.get(name) {
                self.compare_text_rules(&format!("{at}.{name}"), self.resolve_doc(d), &self.resolve_type(t), problems);
                self.compare(&format!("{at}.{name}"), d, t, problems);
            }
        }
    }

    /// A text field's limits (`maxLength`, `pattern`) are the server's (the edge checks bodies
    /// against the types' schemas): the document must state the same ones, for every alternative
    /// of a field given as `oneOf`. A field the document lists as an `enum` is stricter already.
    fn compare_text_rules(&self, at: &str, doc: &Value, ty: &Value, problems: &mut Vec<String>) {
        let alternatives = |s: &Value| -> Vec<Value> {
            match s.get("oneOf").and_then(Value::as_array) {
                Some(choices) => choices.iter().filter(|c| c.get("type") != Some(&"null".into())).cloned().collect(),
                None => vec![s.clone()],
            }
        };
        let (docs, types) = (alternatives(doc), alternatives(ty));
        let is_text = |s: &Value| {
            s.get("type") == Some(&"string".into()) || s.get("type").and_then(Value::as_array).is_some_and(|t| t.contains(&"string".into()))
        };
        for t in types.iter().filter(|t| is_text(t)) {
            let Some(d) = docs.iter().map(|d| self.resolve_doc(d)).find(|d| is_text(d)) else {
                problems.push(format!("{at}: text in the Rust type, no text in openapi.json"));
                continue;
            };
            if d.get("enum").is_some() {
                continue;
            }
            for rule in ["maxLength", "minLength", "pattern"] {
                if d.get(rule) != t.get(rule) {
                    problems.push(format!(
                        "{at}: {rule} is {} in openapi.json, {} in the Rust type",
                        d.get(rule).unwrap_or(&Value::Null),
                        t.get(rule).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
    }
}

#[test]
fn openapi_json_describes_the_types_the_api_reads_and_writes() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
    let mut types: BTreeMap<String, Value> = crate::app::schemas().into_iter().collect();
    types.extend(crate::app::command_parts());
    types.extend(crate::app::invoices::schemas());
    types.extend(crate::app::staff::schemas());
    types.extend(crate::app::hospital_banks::schemas());
    types.extend(crate::app::patient_stays::schemas());
    let sides = Sides { doc: &doc, types: &types };
    let mut problems = Vec::new();
    for (route, ty) in crate::app::command_schemas()
        .into_iter()
        .chain(crate::app::staff::command_schemas())
        .chain(crate::app::hospital_banks::command_schemas())
    {
        let (method, path) = route.split_once(' ').expect("method and path");
        let body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone();
        assert!(!body.is_null(), "{route}: openapi.json documents no request body");
        sides.compare(&format!("{route} request"), &body, &ty, &mut problems);
    }
    let responses = [
        ("get /api/v1/agreements/{id}", "Agreement"),
        ("get /api/v1/visits/{id}", "Visit"),
        ("post /api/v1/stays", "Stay"),
        ("get /api/v1/stays/{id}", "Stay"),
        ("post /api/v1/stays/{id}/fees", "Stay"),
        ("post /api/v1/stays/{id}/discharge", "Stay"),
        ("post /api/v1/stays/{id}/interim_settlement", "Stay"),
        ("post /api/v1/stays/{id}/discharge/cancel", "Stay"),
        ("post /api/v1/stays/{id}/cancel", "Stay"),
        ("post /api/v1/stays/{id}/settlement/cancel", "Stay"),
        ("post /api/v1/stays/{id}/interim_settlements/{n}/cancel", "Stay"),
        ("post /api/v1/stays/{id}/fees/withdraw", "Stay"),
        ("post /api/v1/visits/{id}/fees", "FeeUpload"),
        ("post /api/v1/visits/{id}/pre-settlement", "EstimateView"),
        ("post /api/v1/visits/{id}/settlement", "Settlement"),
        ("get /api/v1/ledger", "LedgerView"),
        ("get /api/v1/exceptions", "ExceptionsView"),
        ("post /api/v1/exceptions/fee_withdrawals/{id}/retry", "FeeWithdrawal"),
        ("post /api/v1/exceptions/fee_withdrawals/{id}/resolve", "FeeWithdrawal"),
        ("post /api/v1/agreements/{id}/repayments", "RepaymentView"),
        ("get /api/v1/operator/visits/{id}", "OperatorVisitView"),
        ("get /api/v1/ledger/journal", "JournalView"),
        ("get /api/v1/invoices", "InvoiceList"),
        ("post /api/v1/reconciliations", "ReconciliationView"),
        ("post /api/v1/clearings", "ClearingView"),
        ("post /api/v1/clearings/insurance", "InsuranceClearingMonthView"),
        ("post /api/v1/clearings/insurance/{id}/withdraw", "InsuranceClearingView"),
        ("get /api/v1/hospitals/{code}/statements/{date}", "HospitalStatementView"),
        ("get /api/v1/operator/hospitals/{code}/statements/{date}", "HospitalStatementView"),
        ("post /api/v1/staff/sessions", "SessionView"),
        ("post /api/v1/operator/staff", "NewStaffView"),
        ("post /api/v1/operator/hospitals", "HospitalView"),
        ("post /api/v1/operator/hospitals/{code}/deposit_policy", "HospitalView"),
        ("post /api/v1/operator/keys", "IssuedKeyView"),
        ("post /api/v1/operator/keys/{key_id}/rotate", "IssuedKeyView"),
        ("post /api/v1/operator/keys/{key_id}/revoke", "ApiKeyView"),
        ("get /api/v1/visits", "VisitList"),
        ("get /api/v1/patient/stays", "PatientStays"),
        ("get /api/v1/operator/visits", "VisitList"),
        ("post /api/v1/webhook-endpoints", "NewEndpointView"),
        ("post /api/v1/visits/{id}/refunds", "Refund"),
        ("get /api/v1/visits/{id}/refunds/{refund_id}", "Refund"),
        ("post /api/v1/visits/{id}/registration/cancel", "Visit"),
        ("post /api/v1/visits/{id}/fees/withdraw", "Visit"),
        ("post /api/v1/operator/hospital-banks", "HospitalBank"),
        ("post /api/v1/operator/hospital-banks/{hospital}/{bank}/suspend", "HospitalBank"),
        ("post /api/v1/operator/hospital-banks/{hospital}/{bank}/resume", "HospitalBank"),
    ];
    for (route, name) in responses {
        let (method, path) = route.split_once(' ').expect("method and path");
        let body = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"].clone();
        let ty = types.get(name).unwrap_or_else(|| panic!("no type named {name}"));
        sides.compare(&format!("{route} 200"), &body, ty, &mut problems);
    }
    assert!(problems.is_empty(), "openapi.json and the types have drifted apart:\n{}", problems.join("\n"));
}

/// Client generators key their methods by `operationId` and refuse a document that repeats one
/// (the OpenAPI rule: unique in the document); an OpenAPI 3.0 document writes a nullable field as
/// `nullable: true`, since the 3.1 forms (`type: [.., "null"]`, `type: "null"`) are not 3.0.
#[test]
fn operation_ids_are_unique_and_nullables_are_written_the_3_0_way() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else { continue };
            let at = format!("{method} {path}");
            if let Some(first) = seen.insert(id.to_string(), at.clone()) {
                panic!("operationId {id} is both {first} and {at}");
            }
        }
    }
    fn walk(at: &str, v: &Value, problems: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if matches!(map.get("type"), Some(Value::Array(_))) || map.get("type") == Some(&Value::from("null")) {
                    problems.push(at.to_string());
                }
                map.iter().for_each(|(k, v)| walk(&format!("{at}/{k}"), v, problems));
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(&format!("{at}/{i}"), v, problems)),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    walk("", &doc, &mut problems);
    assert!(problems.is_empty(), "OpenAPI 3.1 type forms in a 3.0.3 document (write nullable: true):\n{}", problems.join("\n"));
}

/// An operation that answers `missing_idempotency_key` declares the header it wants (a generated
/// client sends only the parameters the document names), and one that declares it says so.
#[test]
fn an_operation_that_needs_an_idempotency_key_declares_the_header() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
    let key = serde_json::json!({"$ref": "#/components/parameters/IdempotencyKey"});
    let mut problems = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let declares = op["parameters"].as_array().is_some_and(|p| p.contains(&key));
            let needs = op["x-error-codes"]["400"].as_array().is_some_and(|c| c.contains(&"missing_idempotency_key".into()));
            if declares != needs {
                problems.push(format!("{method} {path}: declares the header {declares}, answers missing_idempotency_key {needs}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
