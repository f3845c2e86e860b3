//! Policy parameter sets (政策参数): data, not code.
//!
//! A [`PolicySet`] is one JSON document (see `policies/README.md`). It holds [`Scheme`]s, each keyed by
//! region (统筹区 admdvs) × 险种 insutype × person group × effective date range; a claim selects the
//! scheme of the insured place, insurance type and person group in force on the visit date.

use crate::catalogue::Catalogue;
use crate::decimal::Date;
use crate::PolicyError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wugan_domain::money::{ratio, yuan, yuan_opt, Fen, Ratio};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySet {
    pub name: String,
    /// Verification status, e.g. "verified" or "example numbers, to be confirmed". Shown to users.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// 乙类先行自付比例 when the catalogue entry gives none (a provincial parameter).
    #[serde(with = "ratio")]
    pub b_class_selfpay_prop: Ratio,
    /// Whether a fee line may say what a code missing from the catalogue is (its `chrgitm_lv`,
    /// `selfpay_prop`, `pric_uplmt_amt`). Off by default, and off in every shipped set: a code not
    /// in the catalogue is 丙, fully self-paid (docs/policy-rules.md §1). An analyst checking a set
    /// whose catalogue is not written yet may turn it on; a listed code is never the line's to decide.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub line_class_for_unlisted: bool,
    /// 医疗类别 → benefit name (a key of [`Scheme::benefits`]).
    pub med_types: BTreeMap<String, String>,
    /// 门诊慢特病病种目录: code → name. A person settles med_type 14 only under an approved
    /// registration (备案, 2503) of one of these; the sandbox center approves exactly these codes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub special_diseases: BTreeMap<String, String>,
    /// 人员类别 prefixes → person group, first match wins.
    #[serde(default = "default_psn_groups")]
    pub psn_groups: Vec<GroupRule>,
    pub schemes: Vec<Scheme>,
    /// The treatment place's catalogue (就医地目录), inline …
    #[serde(default)]
    pub catalogue: Catalogue,
    /// … or a catalogue file next to the policy file (merged into `catalogue` at load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_file: Option<String>,
    /// 医疗救助 rules by region (the insured place's, like the schemes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub medical_assistance: Vec<Assistance>,
    /// A sandbox's declared default: the region whose schemes serve a region with none of its own
    /// (`with_default_region`). Its numbers are that region's, shown as examples in `notes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
}

/// 医疗救助 (medical assistance) of one region: persons with an eligible identity (人员身份类别
/// `psn_idet_type`, e.g. 特困供养, 低保) get a ratio of the in-scope personal burden the insurance
/// funds left (政策范围内个人自付), up to an annual cap. Paid as `maf_pay`, after 统筹, 大额/大病.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assistance {
    /// 参保地医保区划 the rule belongs to.
    pub admdvs: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// 基金支付类型 reported in `setldetail`, e.g. 610100 医疗救助基金.
    pub fund: FundCode,
    /// Benefit names (keys of [`Scheme::benefits`]) it applies to; empty = every benefit.
    #[serde(default)]
    pub benefits: Vec<String>,
    /// Identity rules; a person with several eligible identities gets the highest ratio.
    pub identities: Vec<AssistanceRule>,
}

/// One eligible identity: its codes, the share of the in-scope personal burden paid, the annual cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistanceRule {
    /// Shown in explanations, e.g. "特困供养人员".
    pub name: String,
    /// `psn_idet_type` codes (and names) that qualify.
    pub psn_idet_types: Vec<String>,
    #[serde(with = "ratio")]
    pub ratio: Ratio,
    /// 年度救助限额 (yuan), or `null`.
    #[serde(default, with = "yuan_opt")]
    pub annual_cap: Option<Fen>,
}

/// Person groups the schemes are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PsnGroup {
    /// 在职职工.
    InService,
    /// 退休人员 (incl. 离休 unless a region says otherwise).
    Retired,
    /// 城乡居民 (成年).
    ResidentAdult,
    /// 未成年人、学生 (中小学生、大学生、学龄前儿童、新生儿).
    Minor,
}

impl PsnGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            PsnGroup::InService => "in_service",
            PsnGroup::Retired => "retired",
            PsnGroup::ResidentAdult => "resident_adult",
            PsnGroup::Minor => "minor",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    pub group: PsnGroup,
    pub psn_type_prefixes: Vec<String>,
}

/// National 人员类别 codes: 11xx 在职, 12xx 退休, 13xx 离休, 14xx 未成年/学生, 15xx 居民.
fn default_psn_groups() -> Vec<GroupRule> {
    let rule = |group, prefixes: &[&str]| GroupRule { group, psn_type_prefixes: prefixes.iter().map(|p| p.to_string()).collect() };
    vec![
        rule(PsnGroup::InService, &["11"]),
        rule(PsnGroup::Retired, &["12", "13"]),
        rule(PsnGroup::Minor, &["14"]),
        rule(PsnGroup::ResidentAdult, &["15"]),
    ]
}

/// One benefit scheme: a region's rules for one insurance type and person group over a date range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    /// 参保地医保区划 this scheme belongs to.
    pub admdvs: String,
    pub insutype: String,
    pub psn_group: PsnGroup,
    pub effective_from: Date,
    /// Inclusive; `None` = until replaced.
    #[serde(default)]
    pub effective_to: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub funds: FundCodes,
    pub benefits: BTreeMap<String, Benefit>,
}

/// 基金支付类型 codes and names this scheme reports in `setldetail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundCodes {
    /// Basic pooling fund, e.g. 310100 (employees) or 390100 (residents).
    pub hifp: FundCode,
    /// Personal account, e.g. 310200; residents have none.
    #[serde(default)]
    pub acct: Option<FundCode>,
    /// The account that pays by 个人账户家庭共济 (`acct_mulaid_pay`): a bound family member's
    /// employee account, e.g. 310200 for a resident child of an employee (国办发〔2021〕14号,
    /// docs/policy-rules.md §5). Defaults to `acct`; a scheme with neither pays nothing by mutual aid
    /// (a claim asking it to is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mulaid: Option<FundCode>,
    /// 职工大额医疗费用补助, e.g. 330100.
    #[serde(default)]
    pub hifob: Option<FundCode>,
    /// 居民大病保险, e.g. 390200.
    #[serde(default)]
    pub hifmi: Option<FundCode>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundCode {
    pub code: String,
    pub name: String,
}

/// The rules for one kind of care (门诊统筹, 住院 …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benefit {
    /// Where the numbers come from, or "example value" — shown in reviews, not used in arithmetic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub deductible: Deductible,
    /// 统筹基金支付比例 by hospital grade.
    pub ratio: GradeRatios,
    /// 年度最高支付限额 of the pooling fund for this accumulator; `None` = no cap.
    #[serde(default, with = "yuan_opt")]
    pub annual_cap: Option<Fen>,
    /// 单次最高支付限额 (per visit), e.g. for outpatient pooling. What it holds back is the
    /// person's: the `above_cap` layer pays only what the *annual* cap held back.
    #[serde(default, with = "yuan_opt")]
    pub per_visit_cap: Option<Fen>,
    #[serde(default)]
    pub accumulator: Accumulator,
    /// What pays the eligible amount above the annual cap.
    #[serde(default)]
    pub above_cap: Option<AboveCap>,
    /// 居民大病保险: layered ratios on the year's cumulative in-scope personal burden.
    #[serde(default)]
    pub big_illness: Option<BigIllness>,
}

/// 大病保险 (residents): once the year's cumulative in-scope personal burden (in-scope amount less
/// the basic funds, accumulated in `ytd.hifmi_base`) passes `threshold`, each layer pays its ratio
/// of the burden between the previous bound and `upto` (cumulative amounts; `null` = no bound).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigIllness {
    #[serde(with = "yuan")]
    pub threshold: Fen,
    pub layers: Vec<Layer>,
    #[serde(default, with = "yuan_opt")]
    pub annual_cap: Option<Fen>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[serde(default, with = "yuan_opt")]
    pub upto: Option<Fen>,
    #[serde(with = "ratio")]
    pub ratio: Ratio,
}

/// Which year-to-date accumulators a benefit reads and writes (see [`crate::Ytd`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accumulator {
    /// Inpatient, chronic outpatient: `dedc_paid`, `hifp_paid`.
    #[default]
    Main,
    /// General outpatient pooling: `otp_dedc_paid`, `otp_hifp_paid`.
    Outpatient,
}

/// 起付线.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Deductible {
    None,
    /// Once per insurance year (门诊统筹).
    PerYear {
        amount: GradeAmounts,
    },
    /// Per admission, lower from the second admission in the year (住院).
    PerAdmission {
        first: GradeAmounts,
        repeat: GradeAmounts,
    },
}

/// Amounts by hospital grade. `grade1` is "一级及以下" (includes ungraded and community centres).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeAmounts {
    #[serde(with = "yuan")]
    pub grade1: Fen,
    #[serde(with = "yuan")]
    pub grade2: Fen,
    #[serde(with = "yuan")]
    pub grade3: Fen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRatios {
    #[serde(with = "ratio")]
    pub grade1: Ratio,
    #[serde(with = "ratio")]
    pub grade2: Ratio,
    #[serde(with = "ratio")]
    pub grade3: Ratio,
}

/// Hospital grade as the tables index it: 0 (ungraded) and 1 → I; above 3 is not a grade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grade {
    One,
    Two,
    Three,
}

impl Grade {
    pub fn of(level: u32) -> Option<Grade> {
        match level {
            0 | 1 => Some(Grade::One),
            2 => Some(Grade::Two),
            3 => Some(Grade::Three),
            _ => None,
        }
    }
}

impl GradeAmounts {
    pub fn at(&self, grade: Grade) -> Fen {
        match grade {
            Grade::One => self.grade1,
            Grade::Two => self.grade2,
            Grade::Three => self.grade3,
        }
    }
}

impl GradeRatios {
    pub fn at(&self, grade: Grade) -> Ratio {
        match grade {
            Grade::One => self.grade1,
            Grade::Two => self.grade2,
            Grade::Three => self.grade3,
        }
    }
}

/// The layer above the basic annual cap: 职工大额医疗费用补助 (hifob) or 居民大病保险 (hifmi).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AboveCap {
    pub fund: AboveCapFund,
    #[serde(with = "ratio")]
    pub ratio: Ratio,
    #[serde(default, with = "yuan_opt")]
    pub annual_cap: Option<Fen>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AboveCapFund {
    Hifob,
    Hifmi,
}

impl PolicySet {
    /// Parses a policy set whose catalogue is inline (or absent). Use [`PolicySet::parse`] or
    /// [`crate::builtin`] when it names a `catalogue_file`.
    pub fn from_json_str(text: &str) -> Result<PolicySet, PolicyError> {
        let set: PolicySet = serde_json::from_str(text).map_err(|e| PolicyError::Load(format!("policy set: {e}")))?;
        set.validate()?;
        Ok(set)
    }

    /// Parses a policy set's text; `name` (a file path, a built-in name) names it in errors. When the
    /// set names a `catalogue_file`, `catalogue_text` is asked for that file's text. This crate reads
    /// no files: the caller decides where they come from (the disk next to the policy file, or the
    /// tables compiled into [`crate::builtin`]).
    pub fn parse<T: AsRef<str>>(
        name: &str,
        text: &str,
        catalogue_text: impl FnOnce(&str) -> Result<T, PolicyError>,
    ) -> Result<PolicySet, PolicyError> {
        let mut set: PolicySet = serde_json::from_str(text).map_err(|e| PolicyError::Load(format!("{name}: {e}")))?;
        if let Some(file) = set.catalogue_file.clone() {
            set.catalogue.merge(Catalogue::from_json_str(catalogue_text(&file)?.as_ref())?);
        }
        set.validate()?;
        Ok(set)
    }

    /// Adds another set's schemes, for persons insured elsewhere who are treated here (异地就医:
    /// 参保地政策, 就医地目录): the schemes are the insured place's, while this set's catalogue,
    /// 乙类 ratio and med_types stay in force. A region already present is refused.
    pub fn with_insured_place_schemes(mut self, other: &PolicySet) -> Result<PolicySet, PolicyError> {
        let mut regions: Vec<&str> = other.schemes.iter().map(|s| s.admdvs.as_str()).collect();
        regions.dedup();
        if let Some(dup) = regions.iter().find(|r| self.schemes.iter().any(|s| s.admdvs == **r)) {
            return Err(PolicyError::InvalidPolicy(format!("{}: region {dup} already has schemes", self.name)));
        }
        self.schemes.extend(other.schemes.iter().cloned());
        let assistance = other.medical_assistance.iter().filter(|a| regions.contains(&a.admdvs.as_str()));
        self.medical_assistance.extend(assistance.cloned());
        self.notes.push(format!("insured-place schemes for {} from '{}' ({})", regions.join(", "), other.name, other.status));
        self.validate()?;
        Ok(self)
    }

    /// Which person group a 人员类别 belongs to.
    pub fn group_of(&self, psn_type: &str) -> Result<PsnGroup, PolicyError> {
        self.psn_groups
            .iter()
            .find(|rule| rule.psn_type_prefixes.iter().any(|p| psn_type.starts_with(p.as_str())))
            .map(|rule| rule.group)
            .ok_or_else(|| PolicyError::UnknownPsnType(psn_type.to_string()))
    }

    /// Declares `region`'s schemes the default for regions with none of their own (a sandbox any
    /// region can use). The region must have schemes; the set says so in its notes.
    pub fn with_default_region(mut self, region: &str) -> Result<PolicySet, PolicyError> {
        if !self.schemes.iter().any(|s| s.admdvs == region) {
            return Err(PolicyError::InvalidPolicy(format!("default region {region} has no schemes in '{}'", self.name)));
        }
        self.notes
            .push(format!("regions without a parameter set of their own are served by {region}'s: example numbers, not their own policy"));
        self.default_region = Some(region.to_string());
        Ok(self)
    }

    /// The scheme in force on `date`; the latest `effective_from` wins where ranges overlap. A
    /// region with no scheme at all is served by the declared default region's, if any.
    pub fn select(&self, admdvs: &str, insutype: &str, group: PsnGroup, date: Date) -> Result<&Scheme, PolicyError> {
        let own = self.schemes.iter().any(|s| s.admdvs == admdvs);
        let admdvs = match &self.default_region {
            Some(default) if !own => default.as_str(),
            _ => admdvs,
        };
        self.schemes
            .iter()
            .filter(|s| s.admdvs == admdvs && s.insutype == insutype && s.psn_group == group)
            .filter(|s| s.effective_from <= date && s.effective_to.is_none_or(|to| date <= to))
            .max_by_key(|s| s.effective_from)
            .ok_or_else(|| PolicyError::NoScheme {
                admdvs: admdvs.to_string(),
                insutype: insutype.to_string(),
                group: group.as_str().to_string(),
                date: date.to_string(),
            })
    }

    /// The assistance rule for a person of `admdvs` with these identities under `benefit`: the
    /// eligible identity with the highest ratio, if any.
    pub fn assistance(&self, admdvs: &str, benefit: &str, idet_types: &[String]) -> Option<(&Assistance, &AssistanceRule)> {
        if idet_types.is_empty() {
            return None;
        }
        let region = self
            .medical_assistance
            .iter()
            .find(|a| a.admdvs == admdvs && (a.benefits.is_empty() || a.benefits.iter().any(|b| b == benefit)))?;
        let eligible = |rule: &&AssistanceRule| rule.psn_idet_types.iter().any(|code| idet_types.iter().any(|t| t == code));
        region.identities.iter().filter(eligible).max_by_key(|rule| rule.ratio).map(|rule| (region, rule))
    }

    /// The benefit name a 医疗类别 maps to.
    pub fn benefit_name(&self, med_type: &str) -> Result<&str, PolicyError> {
        self.med_types.get(med_type).map(String::as_str).ok_or_else(|| PolicyError::UnknownMedType(med_type.to_string()))
    }

    /// Checks what the type system cannot: ratios within 0..=1, amounts not negative nor beyond
    /// [`crate::MAX_AMOUNT_FEN`], benefit names known, date ranges ordered, and a fund code for
    /// every layer a benefit pays from (大额 `funds.hifob`, 大病 `funds.hifmi`), so that
    /// `setldetail` always carries an item for every share of `fund_pay_sumamt`.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |msg: String| Err(PolicyError::InvalidPolicy(format!("{}: {msg}", self.name)));
        if !is_proportion(self.b_class_selfpay_prop) {
            return bad("b_class_selfpay_prop must be within 0..1".into());
        }
        for (i, scheme) in self.schemes.iter().enumerate() {
            let at = format!("scheme {i} ({} {} {})", scheme.admdvs, scheme.insutype, scheme.psn_group.as_str());
            if scheme.effective_to.is_some_and(|to| to < scheme.effective_from) {
                return bad(format!("{at}: effective_to before effective_from"));
            }
            for (name, benefit) in &scheme.benefits {
                if let Err(msg) = benefit.validate().and_then(|()| benefit.check_fund_codes(&scheme.funds)) {
                    return bad(format!("{at} benefit {name}: {msg}"));
                }
            }
        }
        for a in &self.medical_assistance {
            for rule in &a.identities {
                if !is_proportion(rule.ratio) || rule.annual_cap.is_some_and(|c| !is_amount(c)) {
                    return bad(format!("medical_assistance {} '{}': ratio within 0..1, cap not negative", a.admdvs, rule.name));
                }
            }
        }
        for (med_type, name) in &self.med_types {
            if !self.schemes.iter().any(|s| s.benefits.contains_key(name)) {
                return bad(format!("med_type {med_type} maps to benefit '{name}' that no scheme defines"));
            }
        }
        self.catalogue.validate().or_else(|msg| bad(format!("catalogue: {msg}")))
    }
}

impl BigIllness {
    fn validate(&self) -> Result<(), String> {
        let mut lower = self.threshold;
        for (i, layer) in self.layers.iter().enumerate() {
            if !is_proportion(layer.ratio) {
                return Err(format!("big_illness layer {i}: ratio must be within 0..1"));
            }
            match layer.upto {
                Some(upto) if upto <= lower => return Err(format!("big_illness layer {i}: upto must rise above the previous bound")),
                Some(upto) => lower = upto,
                None if i + 1 != self.layers.len() => return Err(format!("big_illness layer {i}: only the last layer may be unbounded")),
                None => {}
            }
        }
        let uptos = self.layers.iter().filter_map(|l| l.upto);
        if !std::iter::once(self.threshold).chain(self.annual_cap).chain(uptos).all(is_amount) {
            return Err(format!("big_illness amounts must be within 0..{}", crate::claim::max_yuan()));
        }
        Ok(())
    }
}

fn is_proportion(r: Ratio) -> bool {
    (0..=10_000).contains(&r.0)
}

/// Not negative, and not beyond [`crate::MAX_AMOUNT_FEN`].
fn is_amount(fen: Fen) -> bool {
    (0..=crate::MAX_AMOUNT_FEN).contains(&fen.0)
}

impl Benefit {
    fn validate(&self) -> Result<(), String> {
        let ratios = [self.ratio.grade1, self.ratio.grade2, self.ratio.grade3];
        if !ratios.into_iter().all(is_proportion) {
            return Err("ratio must be within 0..1".into());
        }
        let amounts: Vec<Fen> = match &self.deductible {
            Deductible::None => vec![],
            Deductible::PerYear { amount } => vec![amount.grade1, amount.grade2, amount.grade3],
            Deductible::PerAdmission { first, repeat } => {
                vec![first.grade1, first.grade2, first.grade3, repeat.grade1, repeat.grade2, repeat.grade3]
            }
        };
        let caps = [self.annual_cap, self.per_visit_cap, self.above_cap.as_ref().and_then(|a| a.annual_cap)];
        if !amounts.iter().chain(caps.iter().flatten()).all(|a| is_amount(*a)) {
            return Err(format!("amounts must be within 0..{}", crate::claim::max_yuan()));
        }
        if self.above_cap.as_ref().is_some_and(|a| !is_proportion(a.ratio)) {
            return Err("above_cap ratio must be within 0..1".into());
        }
        if let Some(big) = &self.big_illness {
            big.validate()?;
        }
        Ok(())
    }

    /// A layer with no fund code would pay money `setldetail` cannot show (Σ items ≠ fund_pay_sumamt).
    fn check_fund_codes(&self, funds: &FundCodes) -> Result<(), String> {
        match self.above_cap.as_ref().map(|a| a.fund) {
            Some(AboveCapFund::Hifob) if funds.hifob.is_none() => {
                return Err("above_cap pays from hifob, but the scheme's funds have no hifob code".into())
            }
            Some(AboveCapFund::Hifmi) if funds.hifmi.is_none() => {
                return Err("above_cap pays from hifmi, but the scheme's funds have no hifmi code".into())
            }
            _ => {}
        }
        if self.big_illness.is_some() && funds.hifmi.is_none() {
            return Err("big_illness pays as hifmi, but the scheme's funds have no hifmi code".into());
        }
        Ok(())
    }
}
