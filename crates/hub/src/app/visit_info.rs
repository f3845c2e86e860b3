//! 门诊就诊信息上传 (2203): the visit's main condition and diagnoses, which a platform needs for
//! special-disease (门特/门慢) and many other visits, sent right after 2201 when the HIS gives
//! them at registration. 2203 replaces the visit's information at the center, so sending it again
//! (a retried registration) is harmless; a refusal leaves the visit being registered, and the
//! HIS registers again with corrected diagnoses.

use super::*;

/// The diagnosis component of the registration's schema.
pub(super) const DIAGNOSIS: &str = "Diagnosis";

/// Diagnoses a registration may carry.
const MAX_DIAGNOSES: usize = 20;

/// The national diseinfo fields of 2203 the hub sends on; any other field an HIS sends is dropped.
const DIAGNOSIS_FIELDS: [&str; 9] =
    ["diag_type", "diag_srt_no", "diag_code", "diag_name", "diag_dept", "dise_dor_no", "dise_dor_name", "diag_time", "vali_flag"];

/// The registration's `diseinfo`: up to [`MAX_DIAGNOSES`] diagnoses.
pub(super) fn diagnoses() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    use utoipa::openapi::Ref;
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(Ref::from_schema_name(DIAGNOSIS))
        .max_items(Some(MAX_DIAGNOSES))
        .build()
}

/// One diagnosis as the edge checks it: its code and name, with any other field a short text or
/// number (an HIS sends more than 2203 needs).
pub(super) fn diagnosis_schema() -> Value {
    let text = |max: usize| json!({"type": ["string", "null"], "maxLength": max, "pattern": text_pattern()});
    json!({
        "type": "object",
        "required": ["diag_code"],
        "properties": {
            "diag_code": {"type": "string", "minLength": 1, "maxLength": 30, "pattern": not_blank_pattern()},
            "diag_name": text(100),
            "diag_type": text(3),
        },
        "additionalProperties": {
            "oneOf": [{"type": "string", "maxLength": 100, "pattern": text_pattern()}, {"type": "number"}, {"type": "null"}]
        },
    })
}

/// Refuses diagnoses the center could not take, before anything is registered.
pub(super) fn check_diagnoses(req: &RegisterVisitRequest) -> Result<(), AppError> {
    check_diagnosis_list(req.diseinfo.as_deref().unwrap_or_default())
}

/// `bad_diagnosis` for a diagnosis without its code (a platform may do without its name).
pub(super) fn check_diagnosis_list(items: &[Map<String, Value>]) -> Result<(), AppError> {
    let blank = |d: &Map<String, Value>, f: &str| d.get(f).and_then(Value::as_str).is_none_or(|s| s.trim().is_empty());
    for (i, d) in items.iter().enumerate() {
        if blank(d, "diag_code") {
            return Err(AppError::invalid("bad_diagnosis", format!("diseinfo[{i}] needs its diag_code")));
        }
    }
    Ok(())
}

/// 2203's input for a visit just opened as `mdtrt_id`, when the registration gave any of it.
fn visit_info_input(row: &VisitRow, req: &RegisterVisitRequest, mdtrt_id: &str) -> Option<Value> {
    let given = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let items = req.diseinfo.clone().unwrap_or_default();
    let (main_code, main_name) = (given(&req.dise_codg), given(&req.dise_name));
    if items.is_empty() && main_code.is_none() && given(&req.main_cond_dscr).is_none() {
        return None;
    }
    // The main diagnosis: the one named, else the first listed.
    let first = |f: &str| items.first().and_then(|d| d.get(f)).and_then(Value::as_str).map(str::to_string);
    let diseinfo = diseinfo_of(&items, mdtrt_id, &row.psn_no);
    Some(json!({
        "mdtrtinfo": {
            "mdtrt_id": mdtrt_id, "psn_no": row.psn_no, "med_type": row.med_type, "begntime": row.begntime,
            "main_cond_dscr": given(&req.main_cond_dscr).unwrap_or_default(),
            "dise_codg": main_code.or_else(|| first("diag_code")).unwrap_or_default(),
            "dise_name": main_name.or_else(|| first("diag_name")).unwrap_or_default(),
            "birctrl_type": "", "birctrl_matn_date": "",
        },
        "diseinfo": diseinfo,
    }))
}

/// The national diseinfo items for a visit or admission: the known fields as sent, defaults for
/// the ones a platform requires, and the visit's ids.
pub(super) fn diseinfo_of(items: &[Map<String, Value>], mdtrt_id: &str, psn_no: &str) -> Vec<Value> {
    items
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut out: Map<String, Value> = DIAGNOSIS_FIELDS.iter().filter_map(|f| Some((f.to_string(), d.get(*f)?.clone()))).collect();
            out.entry("diag_type").or_insert_with(|| json!("1")); // 1: 西医诊断
            out.entry("diag_srt_no").or_insert_with(|| json!(i + 1));
            out.entry("vali_flag").or_insert_with(|| json!("1"));
            out.insert("mdtrt_id".into(), json!(mdtrt_id));
            out.insert("psn_no".into(), json!(psn_no));
            Value::Object(out)
        })
        .collect()
}

impl App {
    /// Sends 2203 for a visit 2201 just opened, when its registration carried diagnoses.
    pub(super) async fn upload_visit_info(&self, row: &VisitRow, req: &RegisterVisitRequest, mdtrt_id: &str) -> Result<(), AppError> {
        let Some(input) = visit_info_input(row, req, mdtrt_id) else { return Ok(()) };
        let inst = self.institution(&row.hospital_code).await?;
        let msgid = self.msgid(&row.hospital_code).await?;
        self.insurance.call("2203", &msgid, &inst, &row.insuplc_admdvs, input).await?;
        Ok(())
    }
}
