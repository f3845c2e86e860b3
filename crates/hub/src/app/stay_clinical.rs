//! A stay's clinical information (住院的诊疗信息): the admission's department, bed, doctors,
//! diagnoses, 病历号 and 病种类型 the HIS gives at admission (2401) and when it changes (2403), and
//! the discharge's way, department, bed, diagnoses, 并发症, 死亡日期 and time it gives at the bedside
//! click (2402); the surgery and maternity fields both carry are `stay_maternity`'s. Every field is
//! optional, as the HIS API was without them; what is given is checked before anything is sent or
//! kept, trimmed, and a blank one is absent. The hub keeps what it sends on the stay before the
//! call that carries it (the admission with the stay's insert, the discharge with its time (出院时间)
//! in the save that fixes the 2402 msgid), so a call resent under its msgid by the recovery worker
//! carries the same input. A stay without any (given nothing, or written by an older hub) sends the
//! fields it always sent, and `diseinfo: []`.

use super::commands::optional_text;
use super::stay_maternity::{date, flag, NumberOrText, SurgeryAndMaternity};
use super::*;
use crate::store::StayRow;

/// 离院方式 (national dictionary): 1 医嘱离院, 2 医嘱转院, 3 医嘱转社区卫生服务机构/乡镇卫生院,
/// 4 非医嘱离院, 5 死亡, 9 其他.
const DSCG_WAYS: [&str; 6] = ["1", "2", "3", "4", "5", "9"];

/// 离院方式 when the click names none: 医嘱离院, what the hub always sent.
const DEFAULT_DSCG_WAY: &str = "1";

/// 离院方式 死亡: the only way a discharge names a 死亡日期 (die_date).
const DSCG_WAY_DEATH: &str = "5";

/// How far past the hub's clock an HIS's 出院时间 may be: the two clocks differ by a little, and a
/// ward may write the minute the patient leaves; a later one is no discharge that has happened.
const ENDTIME_AHEAD: time::Duration = time::Duration::minutes(5);

/// How far back the HIS may date an admission (入院时间) when it enters it late.
const BEGNTIME_BACK: time::Duration = time::Duration::days(30);

/// A stay's main diagnosis (病种) and its diagnoses, at admission, on a change and at discharge.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct StayDiagnoses {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub dise_codg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<100>)]
    pub dise_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::visit_info::diagnoses)]
    pub diseinfo: Option<Vec<Map<String, Value>>>,
}

/// 2401's (and 2403's) admission fields the HIS may give besides the diagnoses and the surgery and
/// maternity fields (national names): the ward, the bed, the doctors, the main diagnosis, 病历号 and
/// 病种类型. Personal contact data (联系人姓名 `coner_name`, 联系电话 `tel`) is taken, so that a HIS
/// that sends it is not refused, but neither kept nor sent: the hub has no use for it.
/// (Commands flatten it, [`StayDiagnoses`] and [`SurgeryAndMaternity`] side by side, never one
/// inside another: nested, a command's `deny_unknown_fields` refuses the inner part's own fields.)
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AdmissionDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub adm_dept_codg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<100>)]
    pub adm_dept_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub adm_bed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub atddr_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<50>)]
    pub chfpdr_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<500>)]
    pub adm_diag_dscr: Option<String>,
    /// 住院主诊断代码: the stay's main diagnosis (required by the national 2401).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<20>)]
    pub dscg_maindiag_code: Option<String>,
    /// 住院主诊断名称.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<300>)]
    pub dscg_maindiag_name: Option<String>,
    /// 主要病情描述.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<1000>)]
    pub main_cond_dscr: Option<String>,
    /// 病历号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub medrcdno: Option<String>,
    /// 病种类型代码.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub dise_type_code: Option<String>,
    /// 联系人姓名: taken, never kept nor sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<50>)]
    pub coner_name: Option<String>,
    /// 联系电话: taken, never kept nor sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<50>)]
    pub tel: Option<String>,
}

/// An admission's clinical information as checked, kept with the stay (`admission_info`) and sent
/// (2401's `mdtrtinfo`, 2403's `adminfo`).
#[derive(Default, Deserialize, Serialize)]
pub(super) struct KeptAdmission {
    /// 入院时间 the HIS gave (2401's begntime, national form), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) begntime: Option<String>,
    #[serde(flatten)]
    details: AdmissionDetails,
    #[serde(flatten)]
    pub(super) diagnoses: StayDiagnoses,
    #[serde(flatten)]
    maternity: SurgeryAndMaternity,
}

/// The bedside click's body (病区结算, 2402's discharge fields, national names): nothing, `{}`, or
/// any of these.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DischargeRequest {
    /// 离院方式: 1 医嘱离院 (the default), 2 医嘱转院, 3 医嘱转社区卫生服务机构/乡镇卫生院, 4 非医嘱离院,
    /// 5 死亡, 9 其他. A dictionary code some HIS software sends as a number: 1 is "1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::stay_maternity::flag_schema)]
    pub dscg_way: Option<NumberOrText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub dscg_dept_codg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<100>)]
    pub dscg_dept_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub dscg_bed: Option<String>,
    /// 伴有并发症标志: "0" or "1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::stay_maternity::flag_schema)]
    pub cop_flag: Option<NumberOrText>,
    /// 死亡日期 (yyyy-MM-dd): with 离院方式 5 死亡 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<10>)]
    pub die_date: Option<String>,
    /// 出院时间 as the HIS gives it (yyyy-MM-dd HH:mm:ss, China time, or ISO 8601 with its offset):
    /// 2402's instead of the click's time. As kept, the time 2402 carries (the HIS's or the click's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<32>)]
    pub endtime: Option<String>,
    #[serde(flatten)]
    pub diagnoses: StayDiagnoses,
    #[serde(flatten)]
    pub maternity: SurgeryAndMaternity,
}

/// A text given: trimmed, `None` when blank.
pub(super) fn given(text: &Option<String>) -> Option<String> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
}

/// The fields given among `fields`, by their national names, for a transaction's input.
pub(super) fn given_fields<const N: usize>(fields: [(&str, &Option<String>); N]) -> Map<String, Value> {
    fields.into_iter().filter_map(|(name, value)| Some((name.to_string(), json!(given(value)?)))).collect()
}

impl StayDiagnoses {
    /// As kept: the texts trimmed, blank ones and an empty list left out.
    fn kept(&self) -> StayDiagnoses {
        StayDiagnoses {
            dise_codg: given(&self.dise_codg),
            dise_name: given(&self.dise_name),
            diseinfo: self.diseinfo.clone().filter(|items| !items.is_empty()),
        }
    }

    fn fields(&self) -> Map<String, Value> {
        given_fields([("dise_codg", &self.dise_codg), ("dise_name", &self.dise_name)])
    }

    /// The national `diseinfo[]` of an inpatient transaction: each diagnosis as 2203 sends it
    /// (`visit_info::diseinfo_of`), with the inpatient fields an HIS gave (`maindiag_flag`,
    /// `adm_cond`); `maindiag_flag` the first's ("1", the others "0") when the HIS flagged none.
    /// `mdtrt_id` is `None` for 2401, which opens the admission.
    pub(super) fn diseinfo(&self, mdtrt_id: Option<&str>, psn_no: &str) -> Vec<Value> {
        let items = self.diseinfo.as_deref().unwrap_or_default();
        let flagged = items.iter().any(|d| d.get("maindiag_flag").is_some_and(|f| !f.is_null()));
        let rendered = super::visit_info::diseinfo_of(items, mdtrt_id.unwrap_or_default(), psn_no);
        rendered
            .into_iter()
            .zip(items)
            .enumerate()
            .map(|(i, (mut out, given))| {
                if let Value::Object(out) = &mut out {
                    let main = if flagged || i > 0 { "0" } else { "1" };
                    let flag = given.get("maindiag_flag").filter(|f| !f.is_null()).cloned().unwrap_or_else(|| json!(main));
                    out.insert("maindiag_flag".into(), flag);
                    if let Some(cond) = given.get("adm_cond").filter(|c| !c.is_null()) {
                        out.insert("adm_cond".into(), cond.clone());
                    }
                    if mdtrt_id.is_none() {
                        out.remove("mdtrt_id");
                    }
                }
                out
            })
            .collect()
    }
}

impl StayDiagnoses {
    /// Refuses what the center could not take (`bad_diagnosis`), before anything is sent or kept.
    pub(super) fn check(&self) -> Result<(), AppError> {
        super::visit_info::check_diagnosis_list(self.diseinfo.as_deref().unwrap_or_default())
    }
}

impl AdmissionDetails {
    /// As kept: the texts trimmed, blank ones left out, and no personal contact data.
    fn kept(&self) -> AdmissionDetails {
        AdmissionDetails {
            adm_dept_codg: given(&self.adm_dept_codg),
            adm_dept_name: given(&self.adm_dept_name),
            adm_bed: given(&self.adm_bed),
            atddr_no: given(&self.atddr_no),
            chfpdr_name: given(&self.chfpdr_name),
            adm_diag_dscr: given(&self.adm_diag_dscr),
            dscg_maindiag_code: given(&self.dscg_maindiag_code),
            dscg_maindiag_name: given(&self.dscg_maindiag_name),
            main_cond_dscr: given(&self.main_cond_dscr),
            medrcdno: given(&self.medrcdno),
            dise_type_code: given(&self.dise_type_code),
            coner_name: None,
            tel: None,
        }
    }

    /// The fields given, by their national names; never `coner_name` nor `tel`.
    fn fields(&self) -> Map<String, Value> {
        given_fields([
            ("adm_dept_codg", &self.adm_dept_codg),
            ("adm_dept_name", &self.adm_dept_name),
            ("adm_bed", &self.adm_bed),
            ("atddr_no", &self.atddr_no),
            ("chfpdr_name", &self.chfpdr_name),
            ("adm_diag_dscr", &self.adm_diag_dscr),
            ("dscg_maindiag_code", &self.dscg_maindiag_code),
            ("dscg_maindiag_name", &self.dscg_maindiag_name),
            ("main_cond_dscr", &self.main_cond_dscr),
            ("medrcdno", &self.medrcdno),
            ("dise_type_code", &self.dise_type_code),
        ])
    }
}

impl KeptAdmission {
    /// What the HIS gave at admission or on a change, checked (`bad_diagnosis`, `bad_flag`,
    /// `bad_number`, `bad_date`) before anything is sent or kept, as kept.
    pub(super) fn of(
        details: &AdmissionDetails,
        diagnoses: &StayDiagnoses,
        maternity: &SurgeryAndMaternity,
    ) -> Result<KeptAdmission, AppError> {
        diagnoses.check()?;
        Ok(KeptAdmission { begntime: None, details: details.kept(), diagnoses: diagnoses.kept(), maternity: maternity.kept()? })
    }

    /// With the 入院时间 the HIS gave (`sent`: yyyy-MM-dd HH:mm:ss China time, or ISO 8601 with
    /// its offset), which must fall within [`BEGNTIME_BACK`] before `now` and [`ENDTIME_AHEAD`]
    /// after it (`bad_begntime`): a ward that enters a night's admission in the morning.
    pub(super) fn admitted_at(mut self, sent: Option<&str>, now: time::OffsetDateTime) -> Result<KeptAdmission, AppError> {
        let Some(sent) = sent.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(self) };
        let begntime = crate::clock::national_datetime(sent).ok_or_else(|| super::visits::bad_datetime("begntime", sent))?;
        let (earliest, latest) =
            (crate::clock::china_datetime_of(now - BEGNTIME_BACK), crate::clock::china_datetime_of(now + ENDTIME_AHEAD));
        // Both "yyyy-MM-dd HH:mm:ss": text order is time order.
        if begntime < earliest || begntime > latest {
            return Err(AppError::invalid(
                "bad_begntime",
                format!(
                    "begntime {begntime} is not within 30 days before now ({}) nor at most 5 minutes after",
                    crate::clock::china_datetime_of(now)
                ),
            ));
        }
        self.begntime = Some(begntime);
        Ok(self)
    }

    /// The fields given, by their national names (2401's `mdtrtinfo`, 2403's `adminfo`), without
    /// the diagnoses list.
    pub(super) fn fields(&self) -> Map<String, Value> {
        let mut fields = self.details.fields();
        fields.extend(self.diagnoses.fields());
        fields.extend(self.maternity.fields());
        fields
    }

    /// The stay's `admission_info` column; `None` when nothing was given.
    pub(super) fn stored(&self) -> Result<Option<String>, AppError> {
        if self.fields().is_empty() && self.diagnoses.diseinfo.is_none() && self.begntime.is_none() {
            return Ok(None);
        }
        text_of(self).map(Some)
    }
}

impl DischargeRequest {
    /// Refuses, before anything is sent or kept: `bad_dscg_way` outside the dictionary,
    /// `bad_diagnosis`, `bad_flag`, `bad_number`, `bad_date`, `die_date_without_death` (a 死亡日期
    /// with another 离院方式), `bad_datetime` (an endtime that is no time). The endtime's place in
    /// the stay is [`DischargeRequest::endtime`]'s.
    pub(super) fn check(&self) -> Result<(), AppError> {
        if self.way().is_some_and(|way| !DSCG_WAYS.contains(&way.as_str())) {
            return Err(AppError::invalid(
                "bad_dscg_way",
                "dscg_way (离院方式) is one of 1 医嘱离院, 2 医嘱转院, 3 医嘱转社区卫生服务机构/乡镇卫生院, 4 非医嘱离院, 5 死亡, 9 其他",
            ));
        }
        self.diagnoses.check()?;
        self.given_endtime()?;
        self.kept("").map(|_| ())
    }

    /// 离院方式 as a text, however it came (a number 1 is "1"); `None` when not given or blank.
    fn way(&self) -> Option<String> {
        match &self.dscg_way {
            None => None,
            Some(NumberOrText::Integer(n)) => Some(n.to_string()),
            Some(NumberOrText::Decimal(x)) => Some(x.to_string()),
            Some(NumberOrText::Text(t)) => Some(t.trim().to_string()).filter(|t| !t.is_empty()),
        }
    }

    /// The HIS's 出院时间 as the national interface writes it; `bad_datetime` for another shape.
    fn given_endtime(&self) -> Result<Option<String>, AppError> {
        match given(&self.endtime) {
            None => Ok(None),
            Some(sent) => crate::clock::national_datetime(&sent).map(Some).ok_or_else(|| super::visits::bad_datetime("endtime", &sent)),
        }
    }

    /// The 出院时间 2402 carries for a click on the stay `s` at `now`: the HIS's endtime, which must
    /// fall between the admission (2401's begntime) and [`ENDTIME_AHEAD`] past `now` (`bad_endtime`),
    /// else the click's time (China time).
    pub(super) fn endtime(&self, s: &StayRow, now: time::OffsetDateTime) -> Result<String, AppError> {
        let Some(endtime) = self.given_endtime()? else {
            return Ok(crate::clock::china_datetime_of(now));
        };
        let admitted = admitted_at(s)?;
        let latest = crate::clock::china_datetime_of(now + ENDTIME_AHEAD);
        // Both "yyyy-MM-dd HH:mm:ss": text order is time order.
        if endtime < admitted {
            return Err(AppError::invalid("bad_endtime", format!("endtime {endtime} is before the admission ({admitted})")));
        }
        if endtime > latest {
            return Err(AppError::invalid(
                "bad_endtime",
                format!("endtime {endtime} is in the future (now {})", crate::clock::china_datetime_of(now)),
            ));
        }
        Ok(endtime)
    }

    /// As kept with the discharge's time `endtime`, checked.
    fn kept(&self, endtime: &str) -> Result<DischargeRequest, AppError> {
        let die_date = date("die_date", &self.die_date)?;
        if die_date.is_some() && self.way().as_deref() != Some(DSCG_WAY_DEATH) {
            return Err(AppError::invalid("die_date_without_death", "die_date (死亡日期) goes with dscg_way 5 (死亡) only"));
        }
        Ok(DischargeRequest {
            dscg_way: self.way().map(NumberOrText::Text),
            dscg_dept_codg: given(&self.dscg_dept_codg),
            dscg_dept_name: given(&self.dscg_dept_name),
            dscg_bed: given(&self.dscg_bed),
            cop_flag: flag("cop_flag", &self.cop_flag)?,
            die_date,
            endtime: Some(endtime.to_string()),
            diagnoses: self.diagnoses.kept(),
            maternity: self.maternity.kept()?,
        })
    }

    /// The stay's `discharge_info` column: the fields given, as kept, and the discharge's time
    /// `endtime` (the HIS's, else the click's), which a 2402 resent later carries too.
    pub(super) fn stored(&self, endtime: &str) -> Result<String, AppError> {
        text_of(&self.kept(endtime)?)
    }

    fn fields(&self) -> Map<String, Value> {
        let mut fields = given_fields([
            ("dscg_dept_codg", &self.dscg_dept_codg),
            ("dscg_dept_name", &self.dscg_dept_name),
            ("dscg_bed", &self.dscg_bed),
            ("die_date", &self.die_date),
        ]);
        if let Some(cop_flag) = &self.cop_flag {
            fields.insert("cop_flag".into(), cop_flag.value());
        }
        fields.extend(self.diagnoses.fields());
        fields.extend(self.maternity.fields());
        fields
    }
}

fn text_of<T: Serialize>(info: &T) -> Result<String, AppError> {
    serde_json::to_string(info).map_err(|e| AppError::internal(format!("a stay's clinical information cannot be written: {e}")))
}

/// A stay's kept information (`None`: the default, nothing given).
fn read<T: serde::de::DeserializeOwned + Default>(s: &StayRow, column: &Option<String>) -> Result<T, AppError> {
    match column {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| AppError::internal(format!("stay {} keeps clinical information the hub cannot read: {e}", s.id))),
    }
}

/// 2401's input: the admission as the hub always sent it, with the fields the HIS gave in
/// `mdtrtinfo` and the diagnoses in `diseinfo` (`[]` when none).
pub(super) fn admit_input(s: &StayRow, cert_no: &str) -> Result<Value, AppError> {
    let info: KeptAdmission = read(s, &s.admission_info)?;
    let mut mdtrtinfo = info.fields();
    let base = json!({"psn_no": s.psn_no, "insutype": s.insutype, "ipt_no": s.ipt_no, "med_type": s.med_type,
        "mdtrt_cert_type": s.mdtrt_cert_type, "mdtrt_cert_no": cert_no, "begntime": admitted_at(s)?});
    mdtrtinfo.extend(base.as_object().cloned().unwrap_or_default());
    Ok(json!({"mdtrtinfo": mdtrtinfo, "diseinfo": info.diagnoses.diseinfo(None, &s.psn_no)}))
}

/// The stay's 入院时间 (2401's begntime, national form): the HIS's, else when the hub admitted it.
pub(super) fn admitted_at(s: &StayRow) -> Result<String, AppError> {
    let info: KeptAdmission = read(s, &s.admission_info)?;
    Ok(info.begntime.or_else(|| crate::clock::national_datetime(&s.created_at)).unwrap_or_default())
}

/// 2402's input for the admission `mdtrt_id`: the stay's insurance, the discharge's time as kept
/// (`now` for a click kept by an older hub without one), its 离院方式 (1 when it named none), the
/// fields it gave in `dscginfo`, its diagnoses in `diseinfo` (`[]` when none).
pub(super) fn discharge_input(s: &StayRow, mdtrt_id: &str, now: &str) -> Result<Value, AppError> {
    let info: DischargeRequest = read(s, &s.discharge_info)?;
    let endtime = given(&info.endtime).unwrap_or_else(|| now.to_string());
    let mut dscginfo = info.fields();
    let way = info.way().unwrap_or_else(|| DEFAULT_DSCG_WAY.to_string());
    let base = json!({"mdtrt_id": mdtrt_id, "psn_no": s.psn_no, "insutype": s.insutype, "endtime": endtime, "dscg_way": way});
    dscginfo.extend(base.as_object().cloned().unwrap_or_default());
    Ok(json!({"dscginfo": dscginfo, "diseinfo": info.diagnoses.diseinfo(Some(mdtrt_id), &s.psn_no)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stay(admission: Option<&str>, discharge: Option<&str>) -> StayRow {
        StayRow {
            id: "ipt_1".into(),
            hospital_code: "H1".into(),
            ipt_no: "ZY1".into(),
            psn_no: "P1".into(),
            insutype: "310".into(),
            insuplc_admdvs: "440300".into(),
            mdtrt_cert_type: "02".into(),
            mdtrt_cert_no_enc: String::new(),
            med_type: "21".into(),
            agreement_id: "agr_1".into(),
            state: "admitting".into(),
            stage_json: String::new(),
            admit_msgid: "m1".into(),
            discharge_msgid: "m2".into(),
            presettle_msgid: "m3".into(),
            settle_msgid: "m4".into(),
            cancel_msgid: None,
            idem_key: None,
            created_at: "2026-12-03T01:00:00Z".into(),
            updated_at: "2026-12-03T01:00:00Z".into(),
            presettle_echo: None,
            admission_info: admission.map(str::to_string),
            discharge_info: discharge.map(str::to_string),
        }
    }

    /// `KeptAdmission::of` the parts of a body read as the stay keeps them.
    fn checked(given: &KeptAdmission) -> KeptAdmission {
        KeptAdmission::of(&given.details, &given.diagnoses, &given.maternity).unwrap()
    }

    #[test]
    fn a_stay_with_nothing_given_sends_what_it_always_sent_and_no_diagnoses() {
        let s = stay(None, None);
        let admit = admit_input(&s, "4403").unwrap();
        let expected = json!({"psn_no": "P1", "insutype": "310", "ipt_no": "ZY1", "med_type": "21", "mdtrt_cert_type": "02",
            "mdtrt_cert_no": "4403", "begntime": "2026-12-03 09:00:00"});
        assert_eq!(admit, json!({"mdtrtinfo": expected, "diseinfo": []}));
        let discharge = discharge_input(&s, "M1", "2026-12-05 10:00:00").unwrap();
        let expected = json!({"mdtrt_id": "M1", "psn_no": "P1", "insutype": "310", "endtime": "2026-12-05 10:00:00", "dscg_way": "1"});
        assert_eq!(discharge, json!({"dscginfo": expected, "diseinfo": []}));
        // Given nothing (blank texts, an empty list): nothing kept.
        let blank: KeptAdmission =
            serde_json::from_value(json!({"adm_bed": "  ", "diseinfo": [], "coner_name": "王芳", "fetts": ""})).unwrap();
        assert_eq!(checked(&blank).stored().unwrap(), None, "contact data alone is nothing kept");
        // A click that gave nothing keeps its time: a 2402 resent later is the same.
        let kept = DischargeRequest::default().stored("2026-12-05 10:00:00").unwrap();
        let s = stay(None, Some(&kept));
        assert_eq!(discharge_input(&s, "M1", "2026-12-05 10:07:00").unwrap(), json!({"dscginfo": expected, "diseinfo": []}));
    }

    #[test]
    fn what_the_his_gave_is_kept_trimmed_and_sent_with_the_diagnoses() {
        let given: KeptAdmission = serde_json::from_value(json!({"adm_dept_codg": " A01 ", "adm_dept_name": "心内科", "adm_bed": "",
            "dscg_maindiag_code": "I21.900", "dscg_maindiag_name": "急性心肌梗死", "dise_codg": "I21.9", "diseinfo": [{"diag_code": "I21.900", "diag_name": "急性心肌梗死", "adm_cond": "危"},
                                               {"diag_code": "I10.x00", "maindiag_flag": "0"}]}))
        .unwrap();
        let kept = checked(&given).stored().unwrap().expect("kept");
        let s = stay(Some(&kept), None);
        let input = admit_input(&s, "4403").unwrap();
        let info = &input["mdtrtinfo"];
        assert_eq!((info["adm_dept_codg"].as_str(), info["adm_dept_name"].as_str()), (Some("A01"), Some("心内科")), "{input}");
        assert_eq!((info["dscg_maindiag_code"].as_str(), info["dscg_maindiag_name"].as_str()), (Some("I21.900"), Some("急性心肌梗死")));
        assert!(info.get("adm_bed").is_none(), "a blank field is absent: {input}");
        assert_eq!((info["dise_codg"].as_str(), info["ipt_no"].as_str()), (Some("I21.9"), Some("ZY1")), "{input}");
        let first = json!({"diag_type": "1", "diag_srt_no": 1, "diag_code": "I21.900", "diag_name": "急性心肌梗死", "vali_flag": "1",
            "psn_no": "P1", "maindiag_flag": "0", "adm_cond": "危"});
        // The HIS flagged a diagnosis: the flags are its own (none made up for the first).
        assert_eq!(input["diseinfo"][0], first, "no mdtrt_id before the admission: {input}");
        assert_eq!(input["diseinfo"][1]["maindiag_flag"], "0", "{input}");
        // Unflagged, the first is the main one.
        let unflagged = StayDiagnoses { diseinfo: Some(vec![Map::new(), Map::new()]), ..Default::default() };
        let flags: Vec<Value> = unflagged.diseinfo(Some("M1"), "P1").iter().map(|d| d["maindiag_flag"].clone()).collect();
        assert_eq!(flags, [json!("1"), json!("0")]);
    }

    #[test]
    fn a_command_takes_every_field_of_its_flattened_parts_and_refuses_any_other() {
        let body = json!({"ipt_no": "ZY1", "mdtrt_cert_type": "02", "mdtrt_cert_no": "4403", "deposit_fen": 1, "adm_bed": "3",
            "adm_dept_codg": "A01", "dise_codg": "I21.9", "diseinfo": [{"diag_code": "I21.900", "diag_srt_no": 1}]});
        let admit: AdmitRequest = serde_json::from_value(body.clone()).expect("every field taken");
        assert_eq!((admit.admission.adm_bed.as_deref(), admit.diagnoses.dise_codg.as_deref()), (Some("3"), Some("I21.9")));
        assert_eq!(admit.diagnoses.diseinfo.expect("diagnoses")[0]["diag_srt_no"], 1);
        let unknown = |mut body: Value, field: &str| {
            body.as_object_mut().unwrap().insert(field.into(), json!("x"));
            body
        };
        for field in ["dscg_way", "cop_flag", "die_date", "endtime"] {
            let refused = serde_json::from_value::<AdmitRequest>(unknown(body.clone(), field)).err().map(|e| e.to_string());
            assert!(refused.is_some_and(|e| e.starts_with("unknown field")), "{field}");
        }
        let change = serde_json::from_value::<super::super::ChangeAdmissionRequest>(unknown(json!({"adm_bed": "3"}), "ipt_no"));
        assert!(change.is_err_and(|e| e.to_string().starts_with("unknown field")));
        for field in ["adm_bed", "medrcdno", "tel"] {
            let click =
                serde_json::from_value::<DischargeRequest>(unknown(json!({"dscg_bed": "3", "diseinfo": null, "geso_val": 3}), field));
            assert!(click.is_err_and(|e| e.to_string().starts_with("unknown field")), "{field}");
        }
        // Every part's fields, flattened side by side: the surgery and maternity ones too, and
        // the contact data a real HIS sends (taken, neither kept nor sent).
        let mut full = body.clone();
        full.as_object_mut().unwrap().extend(
            json!({"medrcdno": "BA1", "coner_name": "王芳", "tel": "13800000000", "oprn_oprt_code": "36.0601", "geso_val": "38",
                   "pret_flag": 0})
            .as_object()
            .unwrap()
            .clone(),
        );
        let admit: AdmitRequest = serde_json::from_value(full).expect("every part's fields taken");
        let kept = KeptAdmission::of(&admit.admission, &admit.diagnoses, &admit.maternity).unwrap();
        let fields = kept.fields();
        assert_eq!((&fields["medrcdno"], &fields["geso_val"], &fields["pret_flag"]), (&json!("BA1"), &json!(38), &json!("0")));
        let stored = kept.stored().unwrap().expect("kept");
        assert!(
            !fields.contains_key("coner_name") && !fields.contains_key("tel") && !stored.contains("王芳") && !stored.contains("138"),
            "{stored}"
        );
        let change = json!({"adm_bed": "3", "coner_name": "王芳", "fetus_cnt": 1, "latechb_flag": "1"});
        assert!(serde_json::from_value::<super::super::ChangeAdmissionRequest>(change).is_ok());
    }

    #[test]
    fn the_discharge_names_its_way_from_the_dictionary() {
        let click = |body: Value| serde_json::from_value::<DischargeRequest>(body).unwrap();
        for way in DSCG_WAYS {
            assert!(click(json!({ "dscg_way": way })).check().is_ok(), "{way}");
        }
        for bad in [json!("0"), json!("6"), json!("01"), json!("x"), json!(6), json!(1.5)] {
            assert_eq!(click(json!({ "dscg_way": bad })).check().map_err(|e| e.code()), Err("bad_dscg_way"), "{bad}");
        }
        // Sent as a number by some HIS software: the same code, kept and sent as the text.
        let as_number = click(json!({"dscg_way": 5})).stored("2026-12-05 10:00:00").unwrap();
        let input = discharge_input(&stay(None, Some(&as_number)), "M1", "2026-12-05 10:00:00").unwrap();
        assert_eq!(input["dscginfo"]["dscg_way"], json!("5"));
        let bad_list = click(json!({"diseinfo": [{"diag_name": "发热"}]}));
        assert_eq!(bad_list.check().map_err(|e| e.code()), Err("bad_diagnosis"));
        let kept = click(json!({"dscg_way": "2", "dscg_dept_codg": "A01", "dise_codg": "I21.9", "diseinfo": [{"diag_code": "I21.900"}]}))
            .stored("2026-12-05 10:00:00")
            .unwrap();
        let s = stay(None, Some(&kept));
        let input = discharge_input(&s, "M1", "2026-12-05 10:00:00").unwrap();
        let info = &input["dscginfo"];
        assert_eq!(
            (info["dscg_way"].as_str(), info["dscg_dept_codg"].as_str(), info["insutype"].as_str()),
            (Some("2"), Some("A01"), Some("310"))
        );
        assert_eq!((input["diseinfo"][0]["mdtrt_id"].as_str(), input["diseinfo"][0]["maindiag_flag"].as_str()), (Some("M1"), Some("1")));
    }

    #[test]
    fn a_death_names_its_date_and_the_his_may_give_the_discharge_time() {
        let click = |body: Value| serde_json::from_value::<DischargeRequest>(body).unwrap();
        let code = |body: Value| click(body).check().map_err(|e| e.code());
        let death = json!({"dscg_way": "5", "die_date": "2026-12-05", "cop_flag": 1, "endtime": "2026-12-05T01:30:00Z",
                           "oprn_oprt_code": " 36.0601 ", "fetts": "2", "dise_codg": "I21.9"});
        assert_eq!(code(death.clone()), Ok(()));
        for (body, refused) in [
            (json!({"dscg_way": "1", "die_date": "2026-12-05"}), "die_date_without_death"),
            (json!({"die_date": "2026-12-05"}), "die_date_without_death"),
            (json!({"dscg_way": "5", "die_date": "2026-02-30"}), "bad_date"),
            (json!({"cop_flag": "2"}), "bad_flag"),
            (json!({"geso_val": "abc"}), "bad_number"),
            (json!({"fetus_cnt": 11}), "bad_number"),
            (json!({"endtime": "2026-12-05"}), "bad_datetime"),
        ] {
            assert_eq!(code(body.clone()), Err(refused), "{body}");
        }
        // The HIS's time falls between the admission (2026-12-03 09:00, China time) and 5 minutes
        // past the hub's clock (10:00); without one, the click's time.
        let s = stay(None, None);
        let now = time::macros::datetime!(2026-12-05 02:00:00 UTC);
        let at = |endtime: &str| click(json!({ "endtime": endtime })).endtime(&s, now).map_err(|e| e.code());
        assert_eq!(at("2026-12-05 10:05:00").as_deref(), Ok("2026-12-05 10:05:00"));
        assert_eq!(at("2026-12-03 09:00:00").as_deref(), Ok("2026-12-03 09:00:00"));
        assert_eq!(at("2026-12-05 10:05:01"), Err("bad_endtime"));
        assert_eq!(at("2026-12-03 08:59:59"), Err("bad_endtime"));
        assert_eq!(click(json!({})).endtime(&s, now).ok().as_deref(), Some("2026-12-05 10:00:00"));
        // Kept with the HIS's time and sent as the national interface writes it, later too.
        let death = click(death);
        let kept = death.stored(&death.endtime(&s, now).unwrap()).unwrap();
        let input = discharge_input(&stay(None, Some(&kept)), "M1", "2026-12-05 11:00:00").unwrap();
        let expected = json!({"mdtrt_id": "M1", "psn_no": "P1", "insutype": "310", "endtime": "2026-12-05 09:30:00", "dscg_way": "5",
            "die_date": "2026-12-05", "cop_flag": "1", "oprn_oprt_code": "36.0601", "fetts": 2, "dise_codg": "I21.9"});
        assert_eq!(input, json!({"dscginfo": expected, "diseinfo": []}));
    }
}
