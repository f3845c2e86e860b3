//! The route table against openapi.json and the edge's rules (`api/mod.rs`).

use super::body::read_object;
use super::*;

fn key(value: &[u8]) -> Result<String, &'static str> {
    let mut headers = HeaderMap::new();
    headers.insert("idempotency-key", axum::http::HeaderValue::from_bytes(value).unwrap());
    idempotency_key_of(&headers).map(str::to_string).map_err(|e| e.code())
}

#[test]
fn idempotency_keys_are_visible_ascii_up_to_128_characters() {
    assert_eq!(idempotency_key_of(&HeaderMap::new()).map_err(|e| e.code()), Err("missing_idempotency_key"));
    assert_eq!(key(b""), Err("missing_idempotency_key"));
    assert_eq!(key(b"k-1"), Ok("k-1".to_string()));
    assert_eq!(key(b" 0190f7a2-7c1e-7cc2-9d35-1e0c2f6b4f10 "), Ok("0190f7a2-7c1e-7cc2-9d35-1e0c2f6b4f10".to_string()));
    assert_eq!(key("x".repeat(128).as_bytes()).map(|k| k.len()), Ok(128));
    assert_eq!(key("x".repeat(129).as_bytes()), Err("bad_idempotency_key"));
    assert_eq!(key(b"two words"), Err("bad_idempotency_key"));
    assert_eq!(key(b"tab\there"), Err("bad_idempotency_key"));
    assert_eq!(key("cl\u{e9}".as_bytes()), Err("bad_idempotency_key"));
}

fn parse(body: &str, objects: &[&str]) -> Result<Value, (u16, &'static str)> {
    read_object(&Bytes::from(body.to_string()), objects).map_err(|e| (e.status().as_u16(), e.code()))
}

#[test]
fn bodies_are_json_objects() {
    assert_eq!(parse("", &[]), Ok(serde_json::json!({})));
    assert_eq!(parse(" \n", &[]), Ok(serde_json::json!({})));
    assert_eq!(parse(r#"{"a": 1}"#, &[]), Ok(serde_json::json!({"a": 1})));
    assert_eq!(parse("{not json", &[]), Err((400, "malformed_json")));
    for not_an_object in ["[]", "null", "1", r#""x""#, r#"["02", "440301199001011234"]"#] {
        assert_eq!(parse(not_an_object, &[]), Err((422, "invalid_request")), "{not_an_object}");
    }
    assert_eq!(parse(r#"{"payment": ["credit_line", "BANK01"]}"#, &["payment"]), Err((422, "invalid_request")));
    assert!(parse(r#"{"payment": {"method": "credit_line"}}"#, &["payment"]).is_ok());
}

#[test]
fn settle_takes_nothing_or_an_empty_object() {
    let empty = |body: &str| parse_json::<EmptyBody>(&Bytes::from(body.to_string())).map(|_| ()).map_err(|e| e.code());
    assert_eq!(empty(""), Ok(()));
    assert_eq!(empty("{}"), Ok(()));
    assert_eq!(empty("[]"), Err("invalid_request"));
    assert_eq!(empty(r#"{"force": true}"#), Err("unknown_field"));
    assert_eq!(empty(r#"{"x\u001f": ["\u009e"]}"#), Err("unknown_field"), "unknown, whatever it holds");
    let twice = parse_json::<crate::app::LimitRequest>(&Bytes::from(r#"{"requested_limit_fen": 1, "requested_limit_fen": 2}"#));
    assert_eq!(twice.map(|_| ()).map_err(|e| e.code()), Err("invalid_request"), "a field given twice");
}

#[test]
fn the_openapi_document_is_json_and_documents_the_routes() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
    let paths = doc["paths"].as_object().expect("paths");
    // Every route but the bank callback (for banks, not HIS) and the document itself (as JSON
    // and as the /docs page), and no more.
    let routes: Vec<(String, String)> = route_table()
        .into_iter()
        .filter(|(_, path, rule)| rule.access != Access::Bank && *path != "/openapi.json" && !path.starts_with("/docs"))
        .map(|(method, path, _)| (method.as_str().to_lowercase(), path.to_string()))
        .collect();
    let documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| ops.as_object().into_iter().flatten().map(move |(method, _)| (method.clone(), path.clone())))
        .collect();
    for route in &routes {
        assert!(documented.contains(route), "{route:?} is not in openapi.json");
    }
    for operation in &documented {
        assert!(routes.contains(operation), "{operation:?} is documented but no route");
    }
    // Path ids as the edge checks them.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().into_iter().flatten() {
            for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path") {
                let schema = &p["schema"];
                assert_eq!(schema["maxLength"].as_u64(), Some(PATH_PARAMETER_MAX_CHARS as u64), "{method} {path}");
                assert_eq!(schema["pattern"].as_str(), Some(crate::app::text_pattern().as_str()), "{method} {path}");
            }
        }
    }
    // Error codes are enums per operation and status, the same as the `x-error-codes` list.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().into_iter().flatten() {
            for (status, codes) in op["x-error-codes"].as_object().into_iter().flatten() {
                let schema = &op["responses"][status]["content"]["application/json"]["schema"];
                let enumerated = &schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"];
                assert_eq!(enumerated, codes, "{method} {path} {status}");
            }
        }
    }
    let key = &doc["components"]["parameters"]["IdempotencyKey"]["schema"];
    assert_eq!((key["minLength"].as_u64(), key["maxLength"].as_u64()), (Some(1), Some(128)), "as idempotency_key_of checks");
}

#[tokio::test]
async fn a_request_that_panics_is_answered_500_in_the_error_shape() {
    use tower::ServiceExt;
    let boom = axum::Router::new()
        .route("/boom", axum::routing::get(|| async { (i64::MAX + i64::from(std::hint::black_box(1u8))).to_string() }))
        .layer(axum::middleware::from_fn(answer_panics));
    let request = axum::http::Request::get("/boom").body(axum::body::Body::empty()).expect("a request");
    let answer = boom.oneshot(request).await.expect("answered, not dropped");
    assert_eq!(answer.status(), 500);
    let body = http_body_util::BodyExt::collect(answer.into_body()).await.expect("a body").to_bytes();
    let error: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(error["error"]["code"], "internal", "{error}");
}
