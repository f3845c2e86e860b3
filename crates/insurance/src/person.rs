//! Insured persons (参保人) the sandbox center knows, and the persons file (JSON lines).

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use wugan_domain::money::{yuan, Fen};
use wugan_policy::decimal::wire;
use wugan_policy::Date;

/// One insured person, as a line of the persons file.
///
/// Identity for 1101: `ec_token` (电子凭证令牌, default `"EC" + psn_no`), `certno` (身份证),
/// `card_no` (社会保障卡卡号, default `"SC" + psn_no`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// 人员编号.
    #[serde(with = "wire::text")]
    pub psn_no: String,
    /// 证件号码 (居民身份证).
    #[serde(with = "wire::text")]
    pub certno: String,
    pub psn_name: String,
    /// 性别: "1" 男, "2" 女.
    #[serde(with = "wire::text")]
    pub gend: String,
    /// 出生日期 yyyy-MM-dd.
    pub brdy: String,
    /// 险种类型: 310 职工, 390 居民; "" for a person not insured (未参保).
    #[serde(default, with = "text_or_empty")]
    pub insutype: String,
    /// 人员类别: 1101 在职, 1201 退休, 1501 居民 …; may be "" for a person not insured.
    #[serde(default, with = "text_or_empty")]
    pub psn_type: String,
    /// 参保地医保区划.
    #[serde(with = "wire::text")]
    pub insuplc_admdvs: String,
    /// 个人账户余额 (yuan, number or string).
    #[serde(default, with = "yuan")]
    pub balc: Fen,
    #[serde(default, with = "wire::text_opt", skip_serializing_if = "Option::is_none")]
    pub ec_token: Option<String>,
    /// 社会保障卡识别码.
    #[serde(default, with = "wire::text_opt", skip_serializing_if = "Option::is_none")]
    pub card_sn: Option<String>,
    /// 社会保障卡卡号.
    #[serde(default, with = "wire::text_opt", skip_serializing_if = "Option::is_none")]
    pub card_no: Option<String>,
    /// 民族, default "01" (汉族).
    #[serde(default, with = "wire::text_opt", skip_serializing_if = "Option::is_none")]
    pub naty: Option<String>,
    /// 单位名称.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emp_name: Option<String>,
    /// 参保日期 yyyy-MM-dd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psn_insu_date: Option<String>,
    /// 人员身份类别 codes (低保 …), reported in 1101 `idetinfo`; they select 医疗救助.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idet_types: Vec<String>,
    /// 参保状态: "1" 正常参保 (the default); anything else (2 暂停, 4 终止 …) is not insured.
    #[serde(default, with = "wire::text_opt", skip_serializing_if = "Option::is_none")]
    pub psn_insu_stas: Option<String>,
    /// 个人账户家庭共济: the family member (psn_no) whose personal account pays what this person's
    /// own account cannot (reported as `acct_mulaid_pay`, inside `acct_pay`).
    #[serde(default, with = "wire::text_opt", skip_serializing_if = "Option::is_none")]
    pub mulaid_payer_psn_no: Option<String>,
    /// 门诊慢特病 codes already registered (备案) when the center starts, from the persons file;
    /// further ones come by 2503. Without one, a med_type 14 visit does not settle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opsp_dise_codes: Vec<String>,
}

/// A text field that may be "" or missing (read as ""), a number, or text.
mod text_or_empty {
    use serde::{Deserialize, Deserializer, Serializer};
    use wugan_policy::decimal::text_of;

    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(text_of(&serde_json::Value::deserialize(d)?).unwrap_or_default())
    }
}

impl Person {
    /// The e-voucher token: the file's `ec_token`, or the sandbox convention `"EC" + psn_no`.
    pub fn ec_token(&self) -> String {
        self.ec_token.clone().unwrap_or_else(|| format!("EC{}", self.psn_no))
    }

    /// The social security card number: the file's `card_no`, or `"SC" + psn_no`.
    pub fn card_no(&self) -> String {
        self.card_no.clone().unwrap_or_else(|| format!("SC{}", self.psn_no))
    }

    /// 参保状态 as 1101 reports it ("1" unless the file says otherwise).
    pub fn insu_stas(&self) -> &str {
        self.psn_insu_stas.as_deref().unwrap_or("1")
    }

    /// Insured (参保) and in force: an insurance type and status "1". A person who is not cannot
    /// register (2201 / 2401) or settle (2206 / 2207 / 2303 / 2304) with insurance.
    pub fn is_insured(&self) -> bool {
        !self.insutype.is_empty() && self.insu_stas() == "1"
    }

    pub fn birth_date(&self) -> Option<Date> {
        Date::parse(&self.brdy)
    }

    /// Age in whole years on `on` (0 when the birth date is unreadable; the persons file checks it).
    pub fn age_on(&self, on: Date) -> u32 {
        self.birth_date().map_or(0, |b| b.age_on(on))
    }

    /// 民族 as 1101 and `setlinfo` report it: the file's `naty`, else "01" (汉族).
    pub fn naty_code(&self) -> String {
        self.naty.clone().unwrap_or_else(|| "01".into())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.psn_no.is_empty() || self.certno.is_empty() {
            bail!("psn_no and certno must not be empty");
        }
        if self.birth_date().is_none() {
            bail!("brdy '{}' is not a date (yyyy-MM-dd)", self.brdy);
        }
        if self.balc.is_negative() {
            bail!("balc must not be negative");
        }
        // The engine refuses a balance in an account the scheme does not have (wugan-policy).
        if self.insutype == "390" && self.balc.is_positive() {
            bail!("a resident (insutype 390) has no personal account of their own: balc must be 0 (家庭共济 is mulaid_payer_psn_no)");
        }
        Ok(())
    }
}

/// Parses persons JSON lines; an error names the (1-based) line.
pub fn parse_persons_jsonl(text: &str) -> anyhow::Result<Vec<Person>> {
    let mut persons = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let person: Person = serde_json::from_str(line).with_context(|| format!("line {}: not a valid person", i + 1))?;
        person.validate().with_context(|| format!("line {}: person {}", i + 1, person.psn_no))?;
        persons.push(person);
    }
    Ok(persons)
}

/// Demo persons (insured in Shenzhen, 440300, except one out-of-area person from Guangzhou). Tokens follow the default conventions.
///
/// | psn_no | name | certno | insutype/psn_type | balc | ec token | card_no |
/// |---|---|---|---|---|---|---|
/// | 44030000000000000001 | 张三 | 440301199001011234 | 310/1101 在职 | 800.00 | EC44030000000000000001 | SC44030000000000000001 |
/// | 44030000000000000002 | 李秀英 | 440303195803152420 | 310/1201 退休 | 2000.00 | EC…0002 | SC…0002 |
/// | 44030000000000000003 | 王五 | 440304198507203318 | 390/1501 居民 | 0.00 | EC…0003 | SC…0003 |
/// | 44030000000000000004 | 赵六 | 440305199208084567 | 310/1101 在职, empty account | 0.00 | EC…0004 | SC…0004 |
/// | 44030000000000000005 | 陈小明 | 440306201205056727 | 390/1403 中小学生 | 0.00 | EC…0005 | SC…0005 |
/// | 44010000000000000006 | 黄丽 | 440106198804121353 | 310/1101 在职, insured in Guangzhou 440100 (异地) | 500.00 | EC…0006 | SC…0006 |
pub fn sample_persons() -> Vec<Person> {
    let person =
        |n: u32, name: &str, certno: &str, gend: &str, brdy: &str, insutype: &str, psn_type: &str, balc: Fen, emp: Option<&str>| Person {
            psn_no: format!("4403000000000000000{n}"),
            certno: certno.into(),
            psn_name: name.into(),
            gend: gend.into(),
            brdy: brdy.into(),
            insutype: insutype.into(),
            psn_type: psn_type.into(),
            insuplc_admdvs: "440300".into(),
            balc,
            ec_token: None,
            card_sn: None,
            card_no: None,
            naty: None,
            emp_name: emp.map(str::to_string),
            psn_insu_date: Some("2015-07-01".into()),
            idet_types: vec![],
            psn_insu_stas: None,
            mulaid_payer_psn_no: None,
            opsp_dise_codes: vec![],
        };
    vec![
        // 张三 has his hypertension registered (门诊慢特病备案) before the sandbox starts.
        Person {
            opsp_dise_codes: vec!["M03900".into()],
            ..person(1, "张三", "440301199001011234", "1", "1990-01-01", "310", "1101", Fen::yuan(800), Some("深圳示例科技有限公司"))
        },
        person(2, "李秀英", "440303195803152420", "2", "1958-03-15", "310", "1201", Fen::yuan(2000), Some("深圳示例制造厂")),
        person(3, "王五", "440304198507203318", "1", "1985-07-20", "390", "1501", Fen::ZERO, None),
        person(4, "赵六", "440305199208084567", "1", "1992-08-08", "310", "1101", Fen::ZERO, Some("深圳示例物流有限公司")),
        person(5, "陈小明", "440306201205056727", "1", "2012-05-05", "390", "1403", Fen::ZERO, None),
        Person {
            psn_no: "44010000000000000006".into(),
            insuplc_admdvs: "440100".into(),
            ..person(6, "黄丽", "440106198804121353", "2", "1988-04-12", "310", "1101", Fen::yuan(500), Some("广州示例贸易有限公司"))
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persons_file_lines() {
        let text = "\n{\"psn_no\":\"P1\",\"certno\":\"C1\",\"psn_name\":\"甲\",\"gend\":1,\"brdy\":\"1980-01-02\",\"insutype\":310,\"psn_type\":\"1101\",\"insuplc_admdvs\":\"440300\",\"balc\":12.5}\n\n";
        let persons = parse_persons_jsonl(text).unwrap();
        assert_eq!(persons.len(), 1);
        assert_eq!(persons[0].balc, Fen(1250));
        assert_eq!(persons[0].ec_token(), "ECP1");
        assert_eq!(persons[0].gend, "1");
        let bad = format!("{}\n{{\"psn_no\": 1}}\n", text.trim());
        let err = format!("{:#}", parse_persons_jsonl(&bad).unwrap_err());
        assert!(err.contains("line 2"), "{err}");
        let bad_date = text.replace("1980-01-02", "1980-13-02");
        assert!(format!("{:#}", parse_persons_jsonl(&bad_date).unwrap_err()).contains("line 2"));
        let resident_with_account = text.replace("\"insutype\":310", "\"insutype\":390");
        assert!(format!("{:#}", parse_persons_jsonl(&resident_with_account).unwrap_err()).contains("no personal account"));
    }

    #[test]
    fn sample_persons_are_distinct_and_valid() {
        let persons = sample_persons();
        for p in &persons {
            p.validate().unwrap();
            assert_eq!(p.certno.len(), 18);
        }
        assert_eq!(persons[0].psn_no, "44030000000000000001");
        assert_eq!(persons[0].certno, "440301199001011234");
    }
}
