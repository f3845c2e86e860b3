//! The engine's input: one claim (一次结算申请) — who, what visit, what the year so far looks like,
//! the personal account, and the fee lines.
//!
//! The JSON shape is the one `wugan adjudicate` reads on stdin; amounts are yuan as number or string.
//! A field the engine does not know is an error (a misspelt `hifp_paid` must not read as zero), and
//! [`Claim::check`] refuses what cannot be true of a claim (negative accumulators or balances,
//! amounts beyond [`MAX_AMOUNT_FEN`], a hospital grade out of range) before any of it is used.

use crate::decimal::{wire, Date, Price, Qty};
use crate::{PolicyError, MAX_AMOUNT_FEN};
use serde::{Deserialize, Serialize};
use wugan_domain::money::{yuan, yuan_opt, Fen, Ratio};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub person: ClaimPerson,
    pub visit: ClaimVisit,
    #[serde(default)]
    pub ytd: Ytd,
    #[serde(default)]
    pub acct: Acct,
    pub fees: Vec<FeeLine>,
}

/// 参保人: the attributes that select the benefit scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimPerson {
    /// 险种类型, e.g. "310" employee basic insurance, "390" residents.
    #[serde(with = "wire::text")]
    pub insutype: String,
    /// 人员类别, e.g. "1101" 在职, "1201" 退休, "1501" 普通居民.
    #[serde(with = "wire::text")]
    pub psn_type: String,
    #[serde(default, with = "wire::u32_opt")]
    pub age: Option<u32>,
    /// 参保地医保区划. The insured place's policy applies (参保地政策); falls back to the visit's area.
    #[serde(default, with = "wire::text_opt")]
    pub insuplc_admdvs: Option<String>,
    /// 人员身份类别 (psn_idet_type of 1101 `idetinfo`: 低保, 特困 …); selects medical assistance
    /// (医疗救助, `maf_pay`) when the policy set has a rule for one of them.
    #[serde(default)]
    pub idet_types: Vec<String>,
}

/// 就诊: the visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimVisit {
    /// 医疗类别: "11" 普通门诊, "21" 普通住院 … mapped to a benefit by the policy set.
    #[serde(with = "wire::text")]
    pub med_type: String,
    /// 医院等级 1/2/3; 0 (ungraded) counts as grade I ("一级及以下"). Required: the grade picks the
    /// deductible and the ratio, and no default is safe (grade I is the most generous). Anything
    /// above 3 is refused ([`Claim::check`]): a national 医院等级 code (01 三级特等 … 11 无等级) is not
    /// a grade.
    #[serde(with = "hosp_grade")]
    pub hosp_grade: u32,
    /// 就医地医保区划.
    #[serde(default, with = "wire::text_opt")]
    pub mdtrtarea_admvs: Option<String>,
    /// Selects the policy version, and the accumulator year.
    pub date: Date,
    /// Which admission this is in the insurance year (1 = first), for per-admission deductibles.
    #[serde(default, with = "wire::u32_opt")]
    pub admissions_this_year: Option<u32>,
    /// 本次住院已付起付线: deductible already paid in this admission by earlier interim settlements
    /// (中途结算). A per-admission deductible is charged once per admission, so only the rest of
    /// it is due now. Zero for a first (or the only) settlement.
    #[serde(default, with = "yuan", skip_serializing_if = "is_zero")]
    pub admission_dedc_paid: Fen,
}

/// Year-to-date accumulators (年度累计), input before this visit and output after it.
///
/// `dedc_paid`/`hifp_paid` belong to the main pool (inpatient and chronic outpatient, against the
/// annual basic cap); `otp_*` to general outpatient pooling (门诊共济), which has its own deductible
/// and cap. Which pool a benefit uses is in the policy data (`accumulator`). Deductibles are kept
/// apart by kind: only a per-year deductible reads and feeds `dedc_paid` / `otp_dedc_paid`; a
/// per-admission deductible (住院) is met per admission and is only counted in `adm_dedc_paid`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ytd {
    /// 起付线累计 (main pool): the per-year deductible met this year (e.g. 门诊慢特病).
    #[serde(default, with = "yuan")]
    pub dedc_paid: Fen,
    /// 住院起付线累计: per-admission deductibles charged this year. A record only: the engine
    /// never reads it (each admission's deductible is its own, `visit.admission_dedc_paid`).
    #[serde(default, with = "yuan")]
    pub adm_dedc_paid: Fen,
    /// 统筹基金累计支付 (main pool).
    #[serde(default, with = "yuan")]
    pub hifp_paid: Fen,
    /// 职工大额医疗费用补助累计.
    #[serde(default, with = "yuan")]
    pub hifob_paid: Fen,
    /// 居民大病保险累计.
    #[serde(default, with = "yuan")]
    pub hifmi_paid: Fen,
    /// 大病保险累计合规个人负担: the in-scope amount the basic funds left to the person, this year.
    #[serde(default, with = "yuan")]
    pub hifmi_base: Fen,
    /// 门诊统筹起付线累计.
    #[serde(default, with = "yuan")]
    pub otp_dedc_paid: Fen,
    /// 门诊统筹基金累计支付.
    #[serde(default, with = "yuan")]
    pub otp_hifp_paid: Fen,
    /// 医疗救助累计支付 (against the assistance rule's annual cap).
    #[serde(default, with = "yuan")]
    pub maf_paid: Fen,
}

impl Ytd {
    /// `self − other`, field by field: the change a settlement made, to reverse it exactly.
    pub fn minus(&self, other: &Ytd) -> Ytd {
        Ytd {
            dedc_paid: self.dedc_paid - other.dedc_paid,
            adm_dedc_paid: self.adm_dedc_paid - other.adm_dedc_paid,
            hifp_paid: self.hifp_paid - other.hifp_paid,
            hifob_paid: self.hifob_paid - other.hifob_paid,
            hifmi_paid: self.hifmi_paid - other.hifmi_paid,
            hifmi_base: self.hifmi_base - other.hifmi_base,
            otp_dedc_paid: self.otp_dedc_paid - other.otp_dedc_paid,
            otp_hifp_paid: self.otp_hifp_paid - other.otp_hifp_paid,
            maf_paid: self.maf_paid - other.maf_paid,
        }
    }

    /// Every accumulator with its field name, for checks and messages.
    pub fn fields(&self) -> [(&'static str, Fen); 9] {
        [
            ("dedc_paid", self.dedc_paid),
            ("adm_dedc_paid", self.adm_dedc_paid),
            ("hifp_paid", self.hifp_paid),
            ("hifob_paid", self.hifob_paid),
            ("hifmi_paid", self.hifmi_paid),
            ("hifmi_base", self.hifmi_base),
            ("otp_dedc_paid", self.otp_dedc_paid),
            ("otp_hifp_paid", self.otp_hifp_paid),
            ("maf_paid", self.maf_paid),
        ]
    }

    pub fn plus(&self, other: &Ytd) -> Ytd {
        self.minus(&Ytd::ZERO.minus(other))
    }

    pub const ZERO: Ytd = Ytd {
        dedc_paid: Fen::ZERO,
        adm_dedc_paid: Fen::ZERO,
        hifp_paid: Fen::ZERO,
        hifob_paid: Fen::ZERO,
        hifmi_paid: Fen::ZERO,
        hifmi_base: Fen::ZERO,
        otp_dedc_paid: Fen::ZERO,
        otp_hifp_paid: Fen::ZERO,
        maf_paid: Fen::ZERO,
    };
}

/// 个人账户: whether the patient chose to use it (acct_used_flag) and its balance before the visit.
/// A scheme without a personal account of its own (residents, 390: no `funds.acct`) takes a `balc`
/// of 0 only; their account payment can only be 家庭共济 (`mulaid_balc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acct {
    #[serde(default, with = "wire::flag")]
    pub used: bool,
    #[serde(default, with = "yuan")]
    pub balc: Fen,
    /// 个人账户家庭共济: the balance of a bound family member's account (配偶、父母、子女) that may pay
    /// what the patient's own account cannot. Paid as part of `acct_pay` and reported in
    /// `acct_mulaid_pay`; zero when no one is bound.
    #[serde(default, with = "yuan", skip_serializing_if = "is_zero")]
    pub mulaid_balc: Fen,
}

/// One fee line (费用明细). Class, price cap and self-pay ratio are the catalogue's (by
/// `med_list_codg`; a code not in it is 丙). A line may repeat them, as a 2204 `result[]` does, and
/// they are then checked against the catalogue: a line that contradicts it is refused, never obeyed
/// (see [`crate::split_line`]). Only a set with `line_class_for_unlisted` lets the line say what
/// a code missing from its catalogue is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeLine {
    #[serde(default, with = "wire::text_opt", skip_serializing_if = "Option::is_none")]
    pub feedetl_sn: Option<String>,
    /// 医疗目录编码 (national code).
    #[serde(default, with = "wire::text_opt")]
    pub med_list_codg: Option<String>,
    /// 收费项目等级: "01" 甲类, "02" 乙类, "03" 丙类.
    #[serde(default, with = "wire::text_opt")]
    pub chrgitm_lv: Option<String>,
    #[serde(default, with = "wire::price_opt")]
    pub pric: Option<Price>,
    #[serde(default, with = "wire::qty_opt")]
    pub cnt: Option<Qty>,
    /// 明细项目费用总额; when absent, `pric × cnt` rounded half up.
    #[serde(default, with = "yuan_opt")]
    pub det_item_fee_sumamt: Option<Fen>,
    /// 自付比例 (乙类先行自付比例).
    #[serde(default, with = "wire::ratio_opt")]
    pub selfpay_prop: Option<Ratio>,
    /// 定价上限金额 (price cap per unit); 0 means no cap, as real platforms (and our 2204) write it.
    #[serde(default, with = "wire::price_opt")]
    pub pric_uplmt_amt: Option<Price>,
}

impl Claim {
    /// Refuses what cannot be true of a claim, before the engine uses any of it: a hospital grade
    /// out of 0..=3, admission number 0, negative or oversized accumulators, deductible already
    /// paid, or balances. Fee lines are checked one by one in [`crate::split_line`].
    pub fn check(&self) -> Result<(), PolicyError> {
        let bad = |msg: String| Err(PolicyError::BadClaim(msg));
        if self.visit.hosp_grade > 3 {
            return bad(format!("visit.hosp_grade {} is not a hospital grade (0 ungraded, 1, 2 or 3)", self.visit.hosp_grade));
        }
        if self.visit.admissions_this_year == Some(0) {
            return bad("visit.admissions_this_year counts this admission, so it is at least 1".into());
        }
        let ytd = self.ytd.fields().map(|(name, fen)| (format!("ytd.{name}"), fen));
        let others = [
            ("visit.admission_dedc_paid".to_string(), self.visit.admission_dedc_paid),
            ("acct.balc".to_string(), self.acct.balc),
            ("acct.mulaid_balc".to_string(), self.acct.mulaid_balc),
        ];
        for (name, fen) in ytd.into_iter().chain(others) {
            if fen.is_negative() {
                return bad(format!("{name} {} is negative; an amount paid or held is never below zero", fen.to_yuan_string()));
            }
            if fen.0 > MAX_AMOUNT_FEN {
                return bad(format!("{name} {} is beyond the largest amount the engine takes ({})", fen.to_yuan_string(), max_yuan()));
            }
        }
        Ok(())
    }
}

/// `visit.hosp_grade` as a number or text; null and "" are refused by name (a missing field is
/// serde's "missing field `hosp_grade`").
mod hosp_grade {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let grade = crate::decimal::wire::u32_opt::deserialize(d)?;
        grade.ok_or_else(|| serde::de::Error::custom("hosp_grade is required: 0 (ungraded), 1, 2 or 3, not null or empty"))
    }
}

/// [`MAX_AMOUNT_FEN`] in yuan, for messages.
pub(crate) fn max_yuan() -> String {
    Fen(MAX_AMOUNT_FEN).to_yuan_string()
}

fn is_zero(fen: &Fen) -> bool {
    *fen == Fen::ZERO
}
