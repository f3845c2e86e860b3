//! The use cases' commands: what a caller asks for, typed. The API edge reads them from JSON
//! bodies (`api::parse_object`), refusing unknown fields.

use super::*;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// 01 e-voucher token (医保电子凭证), 02 ID card, 03 social security card.
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    /// Pay the patient's share from the insurance personal account (个人账户) first.
    #[serde(default = "yes")]
    pub use_personal_account: bool,
    pub payment: PaymentRequest,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub method: String,
    pub bank_code: String,
    pub card_no: Option<String>,
    pub credit_limit_fen: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterVisitRequest {
    /// The hospital's own visit number (院内唯一流水号).
    pub ipt_otp_no: String,
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    /// 医疗类别; absent, null or empty means 11 (general outpatient), as HIS software sends it.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub med_type: Option<String>,
    /// 2201's own fields, which HIS software fills from an earlier 1101: when given, the person
    /// must be this one, and the visit is paid by this insurance of theirs (险种类型).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub psn_no: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub insutype: Option<String>,
    pub begntime: Option<String>,
    pub dept_code: Option<String>,
    pub dept_name: Option<String>,
    pub atddr_no: Option<String>,
    pub dr_name: Option<String>,
    pub caty: Option<String>,
}

/// Real HIS software sends every field, with null or "" where it knows nothing.
fn blank_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

impl RegisterVisitRequest {
    pub(super) fn med_type(&self) -> &str {
        self.med_type.as_deref().unwrap_or("11")
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeUploadRequest {
    /// Fee lines with the national 2204 field names; amounts in yuan as numbers or strings.
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<Map<String, Value>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepayRequest {
    pub amount_fen: i64,
    #[serde(default = "bank_transfer")]
    pub source: String,
}

fn bank_transfer() -> String {
    "bank_transfer".into()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyRequest {
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    pub relation: String,
    pub consent: Consent,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// `face` (the member's own face verification) or `guardian` (a minor child).
    pub method: String,
    /// The verification's transaction id, or the guardianship document's reference.
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
        one::<RepayRequest>("post /api/v1/agreements/{id}/repayments"),
        one::<FamilyRequest>("post /api/v1/agreements/{id}/family"),
        one::<LimitRequest>("post /api/v1/agreements/{id}/limit-requests"),
    ]
}

/// Schemas commands refer to by name.
pub fn command_parts() -> Vec<(String, serde_json::Value)> {
    fn one<T: utoipa::ToSchema>() -> (String, serde_json::Value) {
        (T::name().to_string(), serde_json::to_value(T::schema()).unwrap_or(serde_json::Value::Null))
    }
    vec![one::<PaymentRequest>(), one::<Consent>()]
}
