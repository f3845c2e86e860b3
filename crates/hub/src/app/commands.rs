//! The use cases' commands: what a caller asks for, typed. The API edge reads them from JSON
//! bodies (`api::parse_command`), refusing unknown fields, after [`check_texts`] has held every
//! text in the body to the rules the command's schema states (the schema openapi.json is checked
//! against, so the document and the server enforce the same limits).

use super::*;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, SchemaType, Type};
use utoipa::openapi::Ref;

/// Serialize: a sign-up keeps its request (sealed) to resume it after a crash.
#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// 01 e-voucher token (医保电子凭证), 02 ID card, 03 social security card.
    #[schema(schema_with = text::<2>)]
    pub mdtrt_cert_type: String,
    #[schema(schema_with = text_not_blank::<64>)]
    pub mdtrt_cert_no: String,
    /// Pay the patient's share from the insurance personal account (个人账户) first.
    #[serde(default = "yes")]
    pub use_personal_account: bool,
    pub payment: PaymentRequest,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    #[schema(schema_with = text::<16>)]
    pub method: String,
    #[schema(schema_with = text::<16>)]
    pub bank_code: String,
    #[schema(schema_with = card_number)]
    pub card_no: Option<String>,
    pub credit_limit_fen: Option<i64>,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterVisitRequest {
    /// The hospital's own visit number (院内唯一流水号).
    #[schema(schema_with = text_not_blank::<30>)]
    pub ipt_otp_no: String,
    #[schema(schema_with = text::<2>)]
    pub mdtrt_cert_type: String,
    #[schema(schema_with = text_not_blank::<64>)]
    pub mdtrt_cert_no: String,
    /// 医疗类别; absent, null or empty means 11 (general outpatient), as HIS software sends it
    /// (text, or a whole number).
    #[serde(default, deserialize_with = "code_as_text")]
    #[schema(schema_with = optional_text::<6>)]
    pub med_type: Option<String>,
    /// 2201's own fields, which HIS software fills from an earlier 1101: when given, the person
    /// must be this one, and the visit is paid by this insurance of theirs (险种类型).
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub psn_no: Option<String>,
    #[serde(default, deserialize_with = "code_as_text")]
    #[schema(schema_with = optional_text::<6>)]
    pub insutype: Option<String>,
    #[schema(schema_with = optional_text::<32>)]
    pub begntime: Option<String>,
    #[schema(schema_with = optional_text::<30>)]
    pub dept_code: Option<String>,
    #[schema(schema_with = optional_text::<100>)]
    pub dept_name: Option<String>,
    #[schema(schema_with = optional_text::<30>)]
    pub atddr_no: Option<String>,
    #[schema(schema_with = optional_text::<50>)]
    pub dr_name: Option<String>,
    #[schema(schema_with = optional_text::<30>)]
    pub caty: Option<String>,
    /// 2203 (门诊就诊信息上传), sent right after 2201 when given: the main condition, the main
    /// diagnosis (else the first of `diseinfo`) and the diagnoses.
    #[serde(default)]
    #[schema(schema_with = optional_text::<500>)]
    pub main_cond_dscr: Option<String>,
    #[serde(default)]
    #[schema(schema_with = optional_text::<30>)]
    pub dise_codg: Option<String>,
    #[serde(default)]
    #[schema(schema_with = optional_text::<100>)]
    pub dise_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::visit_info::diagnoses)]
    pub diseinfo: Option<Vec<Map<String, Value>>>,
    /// Who settles this visit's insurance: ALL (the hub, at the click) or CASH (the hospital's own
    /// platform; the HIS posts its 2207 output); HI: the hub settles insurance and the hospital
    /// collects the cash share itself (no bank call). Absent: the hospital's setting.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(schema_with = optional_text::<4>)]
    pub setl_type: Option<String>,
    /// 2201's 扩展内容, as a HIS that maps its 2201 message one to one sends it (mostly "" or
    /// null): taken, neither kept nor sent.
    #[serde(default)]
    #[schema(schema_with = optional_text::<4000>)]
    pub exp_content: Option<String>,
}

/// Real HIS software sends every field, with null or "" where it knows nothing.
fn blank_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// A code HIS software may send as text or as a whole number (`"med_type": 11`): read as text,
/// trimmed; null or blank is absent.
fn code_as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(_) => Err(serde::de::Error::custom("expected a code as text or a whole number")),
    }
}

impl RegisterVisitRequest {
    pub(super) fn med_type(&self) -> &str {
        self.med_type.as_deref().unwrap_or("11")
    }
}

/// 入院办理 with a deposit held on the patient's line (issue 13).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmitRequest {
    /// The hospital's 住院号.
    #[schema(schema_with = text_not_blank::<30>)]
    pub ipt_no: String,
    #[schema(schema_with = text::<2>)]
    pub mdtrt_cert_type: String,
    #[schema(schema_with = text_not_blank::<64>)]
    pub mdtrt_cert_no: String,
    /// 21 (inpatient, the default) or 24 (emergency to inpatient).
    #[serde(default)]
    #[schema(schema_with = optional_text::<2>)]
    pub med_type: Option<String>,
    /// The deposit (住院押金) to hold on the line, in fen.
    pub deposit_fen: i64,
    /// 入院时间 (2401's begntime): yyyy-MM-dd HH:mm:ss (China time) or ISO 8601 with its offset;
    /// within 30 days before now and at most 5 minutes after (`bad_begntime`). Default: the moment
    /// the hub admits the stay.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(schema_with = optional_text::<32>)]
    pub begntime: Option<String>,
    /// 险种类型 to settle the stay under; when given the person must hold it (insutype_not_held).
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(schema_with = optional_text::<6>)]
    pub insutype: Option<String>,
    /// 2401's clinical fields (department, bed, doctors; diagnoses; surgery and maternity), kept
    /// with the stay and sent.
    #[serde(flatten)]
    pub admission: super::stay_clinical::AdmissionDetails,
    #[serde(flatten)]
    pub diagnoses: super::stay_clinical::StayDiagnoses,
    #[serde(flatten)]
    pub maternity: super::stay_maternity::SurgeryAndMaternity,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeUploadRequest {
    /// Fee lines with the national 2204 field names; amounts in yuan as numbers or strings.
    #[schema(schema_with = fee_lines)]
    pub lines: Vec<Map<String, Value>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepayRequest {
    pub amount_fen: i64,
    #[serde(default = "bank_transfer")]
    #[schema(schema_with = text::<32>)]
    pub source: String,
}

fn bank_transfer() -> String {
    "bank_transfer".into()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyRequest {
    #[schema(schema_with = text::<2>)]
    pub mdtrt_cert_type: String,
    #[schema(schema_with = text_not_blank::<64>)]
    pub mdtrt_cert_no: String,
    #[schema(schema_with = text::<16>)]
    pub relation: String,
    pub consent: Consent,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// `face` (the member's own face verification) or `guardian` (a minor child).
    #[schema(schema_with = text::<16>)]
    pub method: String,
    /// The verification's transaction id, or the guardianship document's reference.
    #[schema(schema_with = text_not_blank::<128>)]
    pub reference: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    pub requested_limit_fen: i64,
}

/// Every command's schema with the route that takes it, for the test that keeps openapi.json and
/// the types together.
pub fn command_schemas() -> Vec<(&'static str, serde_json::Value)> {
    fn one<T: utoipa::ToSchema>(route: &'static str) -> (&'static str, serde_json::Value) {
        (route, serde_json::to_value(T::schema()).unwrap_or(serde_json::Value::Null))
    }
    vec![
        one::<SignRequest>("post /api/v1/agreements"),
        one::<RegisterVisitRequest>("post /api/v1/visits"),
        one::<FeeUploadRequest>("post /api/v1/visits/{id}/fees"),
        one::<AdmitRequest>("post /api/v1/stays"),
        one::<FeeUploadRequest>("post /api/v1/stays/{id}/fees"),
        one::<super::stay_changes::ChangeAdmissionRequest>("post /api/v1/stays/{id}/admission"),
        one::<super::stay_holds::PlaceDepositRequest>("post /api/v1/stays/{id}/deposit"),
        one::<super::stay_clinical::DischargeRequest>("post /api/v1/stays/{id}/discharge"),
        one::<RepayRequest>("post /api/v1/agreements/{id}/repayments"),
        one::<FamilyRequest>("post /api/v1/agreements/{id}/family"),
        one::<LimitRequest>("post /api/v1/agreements/{id}/limit-requests"),
        one::<super::ReconcileRequest>("post /api/v1/reconciliations"),
        one::<super::ClearingRequest>("post /api/v1/clearings"),
        one::<super::InsuranceClearingRequest>("post /api/v1/clearings/insurance"),
        one::<super::RefundRequest>("post /api/v1/visits/{id}/refunds"),
        one::<super::WithdrawFeesRequest>("post /api/v1/visits/{id}/fees/withdraw"),
        one::<super::WithdrawStayFeesRequest>("post /api/v1/stays/{id}/fees/withdraw"),
    ]
}

/// Schemas commands refer to by name.
pub fn command_parts() -> Vec<(String, serde_json::Value)> {
    fn one<T: utoipa::ToSchema>() -> (String, serde_json::Value) {
        (T::name().to_string(), serde_json::to_value(T::schema()).unwrap_or(serde_json::Value::Null))
    }
    vec![
        one::<PaymentRequest>(),
        one::<Consent>(),
        (FEE_LINE.to_string(), fee_line_schema()),
        (super::visit_info::DIAGNOSIS.to_string(), super::visit_info::diagnosis_schema()),
        one::<super::stay_clinical::AdmissionDetails>(),
        one::<super::stay_clinical::StayDiagnoses>(),
        one::<super::stay_maternity::SurgeryAndMaternity>(),
    ]
}

// ---- text rules ----------------------------------------------------------------------------

/// Characters no text field may hold: the C0 and C1 controls and DEL (NUL ends C strings, CR/LF
/// forge log lines and headers, ESC drives terminals) and the bidirectional overrides and isolates
/// (they make text read otherwise than it is). Every text the hub takes is stored, echoed in
/// answers or forwarded to the insurance center, so none may hold them.
const FORBIDDEN: [(char, char); 4] = [('\u{0}', '\u{1f}'), ('\u{7f}', '\u{9f}'), ('\u{202a}', '\u{202e}'), ('\u{2066}', '\u{2069}')];

/// White space (what `str::trim` removes) that is not already forbidden: a text that must not be
/// blank holds at least one character outside both sets.
const BLANK: [(char, char); 8] = [
    (' ', ' '),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Longest text in a field the schema gives no `maxLength` (the free-form national fields of a fee
/// line), in characters.
pub const FREE_TEXT_MAX_CHARS: usize = 500;

/// Name of the fee line schema in openapi.json.
const FEE_LINE: &str = "FeeLine";

fn is_forbidden(c: char) -> bool {
    FORBIDDEN.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

/// A character class body for a JSON Schema (ECMA 262) pattern.
fn class(ranges: &[(char, char)]) -> String {
    let escape = |c: char| if (c as u32) < 0x100 { format!("\\x{:02x}", c as u32) } else { format!("\\u{:04x}", c as u32) };
    ranges.iter().map(|&(from, to)| if from == to { escape(from) } else { format!("{}-{}", escape(from), escape(to)) }).collect()
}

/// The pattern of every text field: no forbidden character.
pub fn text_pattern() -> String {
    format!("^[^{}]*$", class(&FORBIDDEN))
}

/// The pattern of a text that must not be blank: no forbidden character, and one that is not space.
pub fn not_blank_pattern() -> String {
    let forbidden = class(&FORBIDDEN);
    format!("^[^{forbidden}]*[^{forbidden}{}][^{forbidden}]*$", class(&BLANK))
}

fn string_of(max_chars: usize) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).max_length(Some(max_chars)).pattern(Some(text_pattern()))
}

/// A text field of at most `MAX` characters (a `schema_with` for commands).
pub(super) fn text<const MAX: usize>() -> Object {
    string_of(MAX).build()
}

pub(super) fn optional_text<const MAX: usize>() -> Object {
    string_of(MAX).schema_type(SchemaType::from_iter([Type::String, Type::Null])).build()
}

pub(super) fn text_not_blank<const MAX: usize>() -> Object {
    string_of(MAX).min_length(Some(1)).pattern(Some(not_blank_pattern())).build()
}

/// A code of letters, digits, '_' and '-', nothing around it (a bank's on this hub: the use
/// case's `bad_bank_code` otherwise).
pub(super) fn plain_code<const MAX: usize>() -> Object {
    string_of(MAX).min_length(Some(1)).pattern(Some("^[A-Za-z0-9_-]+$")).build()
}

/// A hospital's national institution code: 1 to 30 letters, digits, '-' and '_', with the spaces
/// the use case trims around it (`check_hospital_code`'s `bad_hospital_code` otherwise).
pub(super) fn hospital_code() -> Object {
    let blank = class(&BLANK);
    string_of(32).min_length(Some(1)).pattern(Some(format!("^[{blank}]*[A-Za-z0-9_-]{{1,30}}[{blank}]*$"))).build()
}

/// A debit card's number: 12 to 19 digits (the use case's `bad_card_no` otherwise).
fn card_number() -> Object {
    string_of(19).schema_type(SchemaType::from_iter([Type::String, Type::Null])).pattern(Some("^[0-9]{12,19}$")).build()
}

/// Fee lines named by their `feedetl_sn` (a refund's, a withdrawal's): 1 to 500 of them, each text
/// or a whole number, as a fee upload names them (`visits::fee_line_number`). The text's length is
/// the use case's to judge, once white space around it is trimmed: openapi.json's 30 characters
/// (a fee line's own `feedetl_sn`) are stricter than the edge.
pub(super) fn fee_line_numbers() -> utoipa::openapi::schema::Array {
    let text = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).pattern(Some(not_blank_pattern()));
    // Whole numbers as JSON integers are read exactly (i64 and u64; openapi.json states the range).
    let item = OneOfBuilder::new().item(text).item(ObjectBuilder::new().schema_type(Type::Integer));
    ArrayBuilder::new().items(item).min_items(Some(1)).max_items(Some(MAX_LINES_PER_UPLOAD)).build()
}

fn fee_lines() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new().items(Ref::from_schema_name(FEE_LINE)).min_items(Some(1)).max_items(Some(MAX_LINES_PER_UPLOAD)).build()
}

/// A fee line as the edge checks it: the fields the hub reads, with their limits; any other
/// national field is text (at most [`FREE_TEXT_MAX_CHARS`]), a number, true/false or null, and goes
/// to the insurance center as sent.
fn fee_line_schema() -> Value {
    let text = |max: usize| json!({"type": ["string", "null"], "maxLength": max, "pattern": text_pattern()});
    let code = |max: usize| json!({"oneOf": [{"type": "string", "minLength": 1, "maxLength": max, "pattern": not_blank_pattern()}, {"type": "number"}]});
    // A line's number as text, or a whole number (`visits::fee_line_number`: 13.0 is "13", 2.5 is
    // refused), in the range JSON integers are read exactly in (i64 and u64).
    let number = json!({"oneOf": [{"type": "string", "minLength": 1, "maxLength": 30, "pattern": not_blank_pattern()},
                                  {"type": "integer", "minimum": i64::MIN, "maximum": u64::MAX}]});
    // Decimals as the use case reads them (its `bad_amount` refuses the rest); no control character fits.
    let decimal = |pattern: &str| json!({"oneOf": [{"type": "string", "pattern": pattern}, {"type": "number"}]});
    json!({
        "type": "object",
        "required": ["feedetl_sn", "med_list_codg", "det_item_fee_sumamt", "cnt", "pric"],
        "properties": {
            "feedetl_sn": number,
            "med_list_codg": code(50),
            "medins_list_codg": text(50),
            "det_item_fee_sumamt": decimal(r"^([1-9][0-9]{0,5}(\.[0-9]{1,2})?|0?\.([1-9][0-9]{0,1}|0[1-9])|1000000(\.0{1,2})?)$"),
            "cnt": decimal(r"^([1-9][0-9]{0,8}(\.[0-9]{1,4})?|0?\.([1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]{0,1}|000[1-9]))$"),
            "pric": decimal(r"^([1-9][0-9]{0,8}(\.[0-9]{1,6})?|0?\.([1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}|0000[1-9][0-9]{0,1}|00000[1-9]))$"),
            "chrg_bchno": text(30),
            "fee_ocur_time": text(32),
        },
        "additionalProperties": {
            "oneOf": [{"type": "string", "maxLength": FREE_TEXT_MAX_CHARS, "pattern": text_pattern()}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
        },
    })
}

/// Holds every text of a command's JSON body to the rules of the command's schema `T`: no
/// forbidden character anywhere, none longer than its field's `maxLength` ([`FREE_TEXT_MAX_CHARS`]
/// where the schema names none), and the values of free-form fields are scalars. Shapes and
/// required fields are left to serde; blank texts to the use cases.
pub fn check_texts<T: utoipa::ToSchema>(body: &Value) -> Result<(), AppError> {
    let schema = schema_of::<T>()?;
    Texts { parts: parts() }.walk(&At::Root, body, schema)
}

/// The schemas commands refer to by name, built once: they are fixed at compile time, and
/// building them is most of what checking a fee upload would otherwise cost.
fn parts() -> &'static BTreeMap<String, Value> {
    static PARTS: std::sync::OnceLock<BTreeMap<String, Value>> = std::sync::OnceLock::new();
    PARTS.get_or_init(|| command_parts().into_iter().collect())
}

/// `T`'s schema as JSON, built once per command type (a few dozen types, so the map stays small).
fn schema_of<T: utoipa::ToSchema>() -> Result<&'static Value, AppError> {
    type Schemas = std::sync::RwLock<std::collections::HashMap<&'static str, &'static Value>>;
    static SCHEMAS: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();
    let schemas = SCHEMAS.get_or_init(Default::default);
    let key = std::any::type_name::<T>();
    if let Some(schema) = schemas.read().unwrap_or_else(|e| e.into_inner()).get(key) {
        return Ok(schema);
    }
    let schema = serde_json::to_value(T::schema()).map_err(|e| AppError::internal(format!("a command's schema: {e}")))?;
    let mut schemas = schemas.write().unwrap_or_else(|e| e.into_inner());
    Ok(*schemas.entry(key).or_insert_with(|| Box::leak(Box::new(schema))))
}

/// Where a value sits in the body, spelled out (`lines[2].feedetl_sn`) only for an error message.
enum At<'a> {
    Root,
    Field(&'a At<'a>, &'a str),
    Item(&'a At<'a>, usize),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Field(At::Root, key) => f.write_str(key),
            At::Field(parent, key) => write!(f, "{parent}.{key}"),
            At::Item(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

struct Texts<'a> {
    parts: &'a BTreeMap<String, Value>,
}

impl Texts<'_> {
    fn resolve<'v>(&'v self, schema: &'v Value) -> &'v Value {
        match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
            Some(name) => self.parts.get(name).unwrap_or(&Value::Null),
            None => schema,
        }
    }

    /// The schema of the field `key` of an object: among its `properties`, or those of the parts of
    /// its `allOf` (a command's `#[serde(flatten)]` fields).
    fn field_schema<'v>(&'v self, schema: &'v Value, key: &str) -> Option<&'v Value> {
        if let Some(field) = schema.get("properties").and_then(|p| p.get(key)) {
            return Some(field);
        }
        schema.get("allOf").and_then(Value::as_array)?.iter().find_map(|part| self.field_schema(self.resolve(part), key))
    }

    fn walk(&self, at: &At<'_>, value: &Value, schema: &Value) -> Result<(), AppError> {
        let schema = self.resolve(schema);
        let schema = match schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
            Some(choices) => match choices.iter().map(|c| self.resolve(c)).find(|c| type_matches(c, value)) {
                Some(choice) => choice,
                None => return Err(wrong_type(at, choices.iter().filter_map(|c| self.resolve(c).get("type")?.as_str()))),
            },
            None => schema,
        };
        // A list, an object or true/false where the schema takes none: refused here, for the
        // fields serde reads as free JSON (a fee line's), which would otherwise pass as absent.
        // Numbers and null are left to serde and the use cases (a code may come as a number).
        let structural = matches!(value, Value::Array(_) | Value::Object(_) | Value::Bool(_));
        if let Some(types) = schema.get("type").filter(|_| structural && !type_matches(schema, value)) {
            let types: Vec<&str> = match types {
                Value::Array(types) => types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
                one => one.as_str().into_iter().collect(),
            };
            return Err(wrong_type(at, types.into_iter()));
        }
        match value {
            Value::String(text) => check_text_value(at, text, schema.get("maxLength").and_then(Value::as_u64)),
            Value::Array(items) => {
                let item_schema = schema.get("items").unwrap_or(&Value::Null);
                items.iter().enumerate().try_for_each(|(i, item)| self.walk(&At::Item(at, i), item, item_schema))
            }
            Value::Object(fields) => fields.iter().try_for_each(|(key, field)| {
                let at = At::Field(at, key);
                match (self.field_schema(schema, key), schema.get("additionalProperties")) {
                    (Some(field_schema), _) => self.walk(&at, field, field_schema),
                    // A field the command does not take is refused as such, whatever it holds (as
                    // serde's `deny_unknown_fields` would, after this walk).
                    (None, Some(Value::Bool(false))) => Err(AppError::bad_request("unknown_field", format!("unknown field {key:?}"))),
                    (None, more) => self.walk(&at, field, more.filter(|a| a.is_object()).unwrap_or(&Value::Null)),
                }
            }),
            _ => Ok(()),
        }
    }
}

fn name(at: &str) -> &str {
    if at.is_empty() {
        "the body"
    } else {
        at
    }
}

/// A value of none of the JSON Schema `types` the field takes, refused naming them.
fn wrong_type<'t>(at: &At<'_>, types: impl Iterator<Item = &'t str>) -> AppError {
    let accepted: Vec<&str> = types.map(type_in_words).collect();
    AppError::invalid("invalid_request", format!("{} must be {}", name(&at.to_string()), accepted.join(" or ")))
}

/// A JSON Schema type as a refusal names it.
fn type_in_words(t: &str) -> &str {
    match t {
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "a list",
        "object" => "an object",
        other => other,
    }
}

/// Whether `schema`'s `type` (one, a list, or none) admits `value`.
fn type_matches(schema: &Value, value: &Value) -> bool {
    let admits = |t: &str| match t {
        "string" => value.is_string(),
        "number" => value.is_number(),
        // JSON Schema's integer is a number without a fraction: 13.0 and 1.3e1 are integers too.
        "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    match schema.get("type") {
        None => true,
        Some(Value::String(t)) => admits(t) || (value.is_null() && schema.get("nullable") == Some(&Value::Bool(true))),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).any(admits),
        Some(_) => false,
    }
}

/// The one rule for a text value: no forbidden character, at most `max_chars` characters.
pub fn check_text_value(at: impl std::fmt::Display, text: &str, max_chars: Option<u64>) -> Result<(), AppError> {
    if let Some(c) = text.chars().find(|c| is_forbidden(*c)) {
        return Err(AppError::invalid(
            "bad_characters",
            format!("{} holds a control character or a bidirectional override (U+{:04X})", name(&at.to_string()), c as u32),
        ));
    }
    let max = max_chars.map_or(FREE_TEXT_MAX_CHARS, |m| usize::try_from(m).unwrap_or(usize::MAX));
    if text.chars().count() > max {
        return Err(AppError::invalid("field_too_long", format!("{} is longer than {max} characters", name(&at.to_string()))));
    }
    Ok(())
}

#[cfg(test)]
mod text_tests {
    use super::*;

    fn check<T: utoipa::ToSchema>(body: Value) -> Result<(), &'static str> {
        check_texts::<T>(&body).map_err(|e| e.code())
    }

    #[test]
    fn forbidden_and_blank_characters_match_what_rust_calls_control_and_white_space() {
        for c in (0..0x3100u32).chain(0xfeff..0x10000).filter_map(char::from_u32) {
            assert_eq!(is_forbidden(c), c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'), "{c:?}");
            let blank = BLANK.iter().any(|(from, to)| (*from..=*to).contains(&c));
            assert_eq!(c.is_whitespace(), blank || (is_forbidden(c) && c.is_whitespace()), "{c:?}");
        }
        assert_eq!(text_pattern(), r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$");
    }

    #[test]
    fn every_text_field_of_every_command_states_its_length_and_pattern() {
        let parts: BTreeMap<String, Value> = command_parts().into_iter().collect();
        let mut schemas: Vec<(String, Value)> = command_schemas().into_iter().map(|(r, s)| (r.to_string(), s)).collect();
        schemas.extend(parts.clone());
        for (name, schema) in schemas {
            // A flattened part's fields are in `allOf` (the named parts are checked on their own).
            let parts = std::iter::once(&schema).chain(schema["allOf"].as_array().into_iter().flatten());
            for (field, s) in parts.flat_map(|part| part["properties"].as_object().into_iter().flatten()) {
                let is_text = s["type"] == "string" || s["type"].as_array().is_some_and(|t| t.contains(&json!("string")));
                if is_text {
                    assert!(s["maxLength"].is_u64() && s["pattern"].is_string(), "{name}: {field} has no maxLength or pattern: {s}");
                }
            }
        }
    }

    #[test]
    fn every_text_in_a_command_is_held_to_its_field_rules() {
        let visit = |extra: Value| {
            let mut body = json!({"ipt_otp_no": "MZ0001", "mdtrt_cert_type": "02", "mdtrt_cert_no": "440301199001011234"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            check::<RegisterVisitRequest>(body)
        };
        assert_eq!(visit(json!({})), Ok(()));
        assert_eq!(visit(json!({"dr_name": "王医生", "dept_name": null})), Ok(()));
        assert_eq!(visit(json!({"ipt_otp_no": "x".repeat(30)})), Ok(()));
        assert_eq!(visit(json!({"ipt_otp_no": "x".repeat(31)})), Err("field_too_long"));
        assert_eq!(visit(json!({"dr_name": "王".repeat(51)})), Err("field_too_long"));
        for bad in ["a\u{0}b", "line\r\nInjected: 1", "\u{1b}[31mred", "\u{85}", "\u{202e}fdp.exe", "\u{2066}x", "\u{7f}"] {
            assert_eq!(visit(json!({ "dr_name": bad })), Err("bad_characters"), "{bad:?}");
        }
        // Nested objects and their texts: the sign-up's payment, a family member's consent.
        let sign = |card: &str| {
            check::<SignRequest>(
                json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": "4403", "payment": {"method": "debit_card", "bank_code": "BANK01", "card_no": card}}),
            )
        };
        assert_eq!(sign("6222020200000001"), Ok(()));
        assert_eq!(sign("62220202\u{0}"), Err("bad_characters"));
        let consent = |reference: &str| {
            check::<FamilyRequest>(
                json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": "4403", "relation": "child", "consent": {"method": "face", "reference": reference}}),
            )
        };
        assert_eq!(consent(&"r".repeat(128)), Ok(()));
        assert_eq!(consent(&"r".repeat(129)), Err("field_too_long"));
    }

    #[test]
    fn the_fields_a_command_takes_from_a_flattened_part_are_held_to_their_rules_too() {
        let admit = |extra: Value| {
            let mut body = json!({"ipt_no": "ZY1", "mdtrt_cert_type": "02", "mdtrt_cert_no": "4403", "deposit_fen": 1});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            check::<AdmitRequest>(body)
        };
        assert_eq!(admit(json!({"adm_dept_name": "内".repeat(100), "dise_codg": "I21.9"})), Ok(()));
        assert_eq!(admit(json!({"adm_dept_name": "内".repeat(101)})), Err("field_too_long"));
        assert_eq!(admit(json!({"dise_name": "a\u{0}"})), Err("bad_characters"));
        assert_eq!(admit(json!({"diseinfo": [{"diag_code": "c".repeat(31)}]})), Err("field_too_long"));
        let discharge = |body: Value| check::<super::super::stay_clinical::DischargeRequest>(body);
        assert_eq!(discharge(json!({"dscg_bed": "b".repeat(31)})), Err("field_too_long"));
        assert_eq!(discharge(json!({"dise_codg": "c".repeat(31)})), Err("field_too_long"));
        assert_eq!(discharge(json!({})), Ok(()));
        // The surgery and maternity part, flattened beside the others; counts and flags as numbers or short texts.
        assert_eq!(admit(json!({"oprn_oprt_name": "术".repeat(500), "geso_val": 38, "fetts": "2", "pret_flag": null})), Ok(()));
        assert_eq!(admit(json!({"oprn_oprt_name": "术".repeat(501)})), Err("field_too_long"));
        assert_eq!(admit(json!({"tel": "1".repeat(51)})), Err("field_too_long"));
        assert_eq!(admit(json!({"coner_name": "王\u{0}"})), Err("bad_characters"));
        assert_eq!(admit(json!({"geso_val": "3".repeat(11)})), Err("field_too_long"));
        assert_eq!(admit(json!({"latechb_flag": true})), Err("invalid_request"));
        assert_eq!(discharge(json!({"die_date": "2026-12-05-x", "endtime": "2026-12-05 10:00:00"})), Err("field_too_long"));
        assert_eq!(discharge(json!({"fpsc_no": "f".repeat(51)})), Err("field_too_long"));
        assert_eq!(discharge(json!({"cop_flag": "1\u{7f}"})), Err("bad_characters"));
    }

    #[test]
    fn fee_lines_hold_texts_numbers_and_flags_only() {
        let line = |extra: Value| {
            let mut line = json!({"feedetl_sn": "1", "med_list_codg": 1, "det_item_fee_sumamt": "10.00", "cnt": 1, "pric": "10"});
            line.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            check::<FeeUploadRequest>(json!({ "lines": [line] }))
        };
        assert_eq!(line(json!({})), Ok(()));
        assert_eq!(line(json!({"rxno": "R1", "prd_days": 3, "hosp_appr_flag": true, "memo": null})), Ok(()));
        assert_eq!(line(json!({"memo": "m".repeat(FREE_TEXT_MAX_CHARS)})), Ok(()));
        assert_eq!(line(json!({"memo": "m".repeat(FREE_TEXT_MAX_CHARS + 1)})), Err("field_too_long"));
        assert_eq!(line(json!({"memo": "a\u{202e}b"})), Err("bad_characters"));
        assert_eq!(line(json!({"feedetl_sn": "s".repeat(31)})), Err("field_too_long"));
        assert_eq!(line(json!({"feedetl_sn": 12})), Ok(()));
        assert_eq!(line(json!({"rxno": {"nested": "object"}})), Err("invalid_request"));
        assert_eq!(line(json!({"rxno": ["a"]})), Err("invalid_request"));
        // The message names the field where it sits, so the HIS can find it.
        let body = json!({"lines": [{"feedetl_sn": "1"}, {"feedetl_sn": "2", "memo": "a\u{0}"}]});
        let message = check_texts::<FeeUploadRequest>(&body).unwrap_err().to_string();
        assert!(message.contains("lines[1].memo holds a control character"), "{message}");
        let message = check_texts::<RegisterVisitRequest>(&json!({"dr_name": "王".repeat(51)})).unwrap_err().to_string();
        assert!(message.contains("dr_name is longer than 50 characters"), "{message}");
    }
}
