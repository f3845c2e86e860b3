//! A stay's surgery and maternity information (手术与生育信息): the fields of the national 2401
//! `mdtrtinfo` (and 2403 `adminfo`) and 2402 `dscginfo` on an operation (手术操作) and on family
//! planning and childbirth (计划生育、生育), which the HIS may give at admission, on a change and at
//! the bedside click. Commands flatten [`SurgeryAndMaternity`] beside their other parts
//! (`stay_clinical`), never inside one. Every field is optional. HIS software written in C# or
//! Java sends a 数值型 field as a JSON number or as a text of digits, and a flag (标志) as "0"/"1"
//! or as 0/1: both are taken, checked here (`bad_number`, `bad_flag`, `bad_date`) before anything
//! is sent or kept, and kept and sent as the national interface writes them: counts as numbers,
//! flags as texts.

use super::commands::optional_text;
use super::stay_clinical::{given, given_fields};
use super::*;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};

/// 孕周数: at most 60 weeks.
const GESO_VAL_MAX: i64 = 60;
/// 胎次: at most the 20th pregnancy.
const FETTS_MAX: i64 = 20;
/// 胎儿数: at most 10 fetuses.
const FETUS_CNT_MAX: i64 = 10;

/// Longest text a count or a flag may come as (`field_too_long` at the edge beyond it): a short
/// text that is neither is the use case's `bad_number` or `bad_flag`, which says what is wanted.
const SHORT_TEXT_MAX_CHARS: usize = 10;

/// A 数值型 field or a flag as HIS software sends it: a JSON number, or a text. Kept (and sent) as
/// `Integer` for a count and as `Text` "0"/"1" for a flag.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum NumberOrText {
    Integer(i64),
    /// A number with a fraction, or one too large for an integer: refused unless it is whole.
    Decimal(f64),
    Text(String),
}

impl NumberOrText {
    /// As the national interface's JSON writes it.
    pub(super) fn value(&self) -> Value {
        match self {
            NumberOrText::Integer(n) => Value::from(*n),
            NumberOrText::Decimal(x) => Value::from(*x),
            NumberOrText::Text(t) => Value::from(t.as_str()),
        }
    }
}

/// 2401's and 2402's fields on surgery and maternity (national names), all optional.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SurgeryAndMaternity {
    /// 手术操作代码.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<30>)]
    pub oprn_oprt_code: Option<String>,
    /// 手术操作名称.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<500>)]
    pub oprn_oprt_name: Option<String>,
    /// 计划生育服务证号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<50>)]
    pub fpsc_no: Option<String>,
    /// 生育类别.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<6>)]
    pub matn_type: Option<String>,
    /// 计划生育手术类别.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<6>)]
    pub birctrl_type: Option<String>,
    /// 晚育标志: "0" or "1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = flag_schema)]
    pub latechb_flag: Option<NumberOrText>,
    /// 孕周数: 0 to 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = count_schema)]
    pub geso_val: Option<NumberOrText>,
    /// 胎次: 0 to 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = count_schema)]
    pub fetts: Option<NumberOrText>,
    /// 胎儿数: 0 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = count_schema)]
    pub fetus_cnt: Option<NumberOrText>,
    /// 早产标志: "0" or "1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = flag_schema)]
    pub pret_flag: Option<NumberOrText>,
    /// 计划生育手术或生育日期: yyyy-MM-dd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text::<10>)]
    pub birctrl_matn_date: Option<String>,
}

/// A number or a short text (the edge holds the text to its length; the use case reads it).
fn number_or_short_text() -> OneOfBuilder {
    let short_text = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(SHORT_TEXT_MAX_CHARS))
        .pattern(Some(super::commands::text_pattern()));
    // The number first: openapi.json states each field's own rules for the text (a pattern of
    // digits, the flag's two values), stricter than the edge's.
    OneOfBuilder::new().item(ObjectBuilder::new().schema_type(Type::Number)).item(short_text)
}

/// A flag's schema: "0"/"1" or 0/1 (the use case's `bad_flag` for another).
pub(super) fn flag_schema() -> OneOfBuilder {
    number_or_short_text()
}

/// A count's schema: a whole number or a text of digits (the use case's `bad_number` otherwise).
fn count_schema() -> OneOfBuilder {
    number_or_short_text()
}

/// A count (数值型, whole) in `0..=max`, from a number or a text of digits, as kept and sent: a
/// JSON number. A blank text is absent; anything else is `bad_number`.
fn count(name: &str, given: &Option<NumberOrText>, max: i64) -> Result<Option<NumberOrText>, AppError> {
    let whole = match given {
        None => return Ok(None),
        Some(NumberOrText::Integer(n)) => Some(*n),
        // 3.0 from a HIS that writes its integers as decimals; a fraction is no count.
        Some(NumberOrText::Decimal(x)) => (x.fract() == 0.0 && (0.0..=max as f64).contains(x)).then_some(*x as i64),
        Some(NumberOrText::Text(text)) => match text.trim() {
            "" => return Ok(None),
            digits if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse::<i64>().ok(),
            _ => None,
        },
    };
    match whole.filter(|n| (0..=max).contains(n)) {
        Some(n) => Ok(Some(NumberOrText::Integer(n))),
        None => Err(AppError::invalid("bad_number", format!("{name} is a whole number from 0 to {max} (a number, or a text of digits)"))),
    }
}

/// A flag (标志) "0" or "1", from that text or the number 0 or 1, as kept and sent: the text. A
/// blank text is absent; anything else is `bad_flag`.
pub(super) fn flag(name: &str, given: &Option<NumberOrText>) -> Result<Option<NumberOrText>, AppError> {
    let flag = match given {
        None => return Ok(None),
        Some(NumberOrText::Text(text)) if text.trim().is_empty() => return Ok(None),
        Some(NumberOrText::Text(text)) => text.trim(),
        Some(NumberOrText::Integer(0)) => "0",
        Some(NumberOrText::Integer(1)) => "1",
        Some(_) => "",
    };
    match flag {
        "0" | "1" => Ok(Some(NumberOrText::Text(flag.to_string()))),
        _ => Err(AppError::invalid("bad_flag", format!("{name} is a flag: \"0\" or \"1\""))),
    }
}

/// A date yyyy-MM-dd the calendar has (not 2026-02-30), trimmed; a blank text is absent; anything
/// else is `bad_date`.
pub(super) fn date(name: &str, given_date: &Option<String>) -> Result<Option<String>, AppError> {
    let Some(text) = given(given_date) else { return Ok(None) };
    let shaped = text.len() == 10 && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match shaped && time::Date::parse(&text, format).is_ok() {
        true => Ok(Some(text)),
        false => Err(AppError::invalid("bad_date", format!("{name} '{text}' is not a date yyyy-MM-dd the calendar has"))),
    }
}

impl SurgeryAndMaternity {
    /// As kept and sent, checked before anything is: texts trimmed and blank ones left out, counts
    /// as numbers in their range (`bad_number`), flags as "0"/"1" (`bad_flag`), the date a date
    /// (`bad_date`).
    pub(super) fn kept(&self) -> Result<SurgeryAndMaternity, AppError> {
        Ok(SurgeryAndMaternity {
            oprn_oprt_code: given(&self.oprn_oprt_code),
            oprn_oprt_name: given(&self.oprn_oprt_name),
            fpsc_no: given(&self.fpsc_no),
            matn_type: given(&self.matn_type),
            birctrl_type: given(&self.birctrl_type),
            latechb_flag: flag("latechb_flag", &self.latechb_flag)?,
            geso_val: count("geso_val", &self.geso_val, GESO_VAL_MAX)?,
            fetts: count("fetts", &self.fetts, FETTS_MAX)?,
            fetus_cnt: count("fetus_cnt", &self.fetus_cnt, FETUS_CNT_MAX)?,
            pret_flag: flag("pret_flag", &self.pret_flag)?,
            birctrl_matn_date: date("birctrl_matn_date", &self.birctrl_matn_date)?,
        })
    }

    /// The fields given, by their national names (of a value as [`SurgeryAndMaternity::kept`]
    /// left it, so counts go as numbers and flags as texts).
    pub(super) fn fields(&self) -> Map<String, Value> {
        let mut fields = given_fields([
            ("oprn_oprt_code", &self.oprn_oprt_code),
            ("oprn_oprt_name", &self.oprn_oprt_name),
            ("fpsc_no", &self.fpsc_no),
            ("matn_type", &self.matn_type),
            ("birctrl_type", &self.birctrl_type),
            ("birctrl_matn_date", &self.birctrl_matn_date),
        ]);
        let scalars = [
            ("latechb_flag", &self.latechb_flag),
            ("geso_val", &self.geso_val),
            ("fetts", &self.fetts),
            ("fetus_cnt", &self.fetus_cnt),
            ("pret_flag", &self.pret_flag),
        ];
        fields.extend(scalars.into_iter().filter_map(|(name, value)| Some((name.to_string(), value.as_ref()?.value()))));
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(body: Value) -> Result<Map<String, Value>, &'static str> {
        let given: SurgeryAndMaternity = serde_json::from_value(body).map_err(|_| "not read")?;
        given.kept().map(|kept| kept.fields()).map_err(|e| e.code())
    }

    #[test]
    fn counts_and_flags_come_as_numbers_or_texts_and_go_as_the_national_interface_writes_them() {
        let sent = taken(json!({"geso_val": "38", "fetts": 2, "fetus_cnt": " 1 ", "latechb_flag": 1, "pret_flag": "0",
                                 "oprn_oprt_code": " 74.1x00 ", "matn_type": "", "birctrl_matn_date": "2026-11-30"}));
        let expected = json!({"geso_val": 38, "fetts": 2, "fetus_cnt": 1, "latechb_flag": "1", "pret_flag": "0",
                              "oprn_oprt_code": "74.1x00", "birctrl_matn_date": "2026-11-30"});
        assert_eq!(sent.map(Value::Object), Ok(expected));
        // A whole number written as a decimal, the range's ends, blanks and nulls.
        assert_eq!(
            taken(json!({"geso_val": 40.0, "fetts": 0, "fetus_cnt": "10"})).map(Value::Object),
            Ok(json!({"geso_val": 40, "fetts": 0, "fetus_cnt": 10}))
        );
        assert_eq!(taken(json!({"geso_val": null, "pret_flag": " ", "fetts": "", "birctrl_matn_date": null})), Ok(Map::new()));
        assert_eq!(taken(json!({})), Ok(Map::new()));
    }

    #[test]
    fn what_is_no_count_flag_or_date_is_refused_with_its_code() {
        let check = |body: Value, code: &str| assert_eq!(taken(body.clone()).map(|_| ()), Err(code), "{body}");
        for bad in [json!(99), json!(61), json!(-1), json!("abc"), json!("6 0"), json!("-3"), json!("1e1"), json!(38.5), json!(1e300)] {
            check(json!({ "geso_val": bad }), "bad_number");
        }
        check(json!({"fetts": 21}), "bad_number");
        check(json!({"fetus_cnt": "11"}), "bad_number");
        for bad in [json!("2"), json!("Y"), json!(2), json!(-1), json!(1.0), json!("01")] {
            check(json!({ "latechb_flag": bad }), "bad_flag");
            check(json!({ "pret_flag": bad }), "bad_flag");
        }
        for bad in ["2026-02-30", "2026-13-01", "2026/11/30", "20261130", "2026-11-30 10:00:00", "+2026-11-3", "yesterday"] {
            check(json!({ "birctrl_matn_date": bad }), "bad_date");
        }
        assert_eq!(taken(json!({"birctrl_matn_date": "2024-02-29"})).map(|f| f.len()), Ok(1), "a leap day is a date");
        // A JSON type that is neither number nor text is no field serde reads.
        assert_eq!(taken(json!({"geso_val": true})).map(|_| ()), Err("not read"));
    }
}
