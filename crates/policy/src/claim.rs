//! The engine's input: one claim (一次结算申请) — who, what visit, what the year so far looks like,
//! the personal account, and the fee lines.
//!
//! The JSON shape is the one `wugan adjudicate` reads on stdin; amounts are yuan as number or string.

use crate::decimal::{wire, Date, Price, Qty};
use serde::{Deserialize, Serialize};
use wugan_domain::money::{yuan, yuan_opt, Fen, Ratio};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct ClaimVisit {
    /// 医疗类别: "11" 普通门诊, "21" 普通住院 … mapped to a benefit by the policy set.
    #[serde(with = "wire::text")]
    pub med_type: String,
    /// 医院等级 1/2/3; 0 (ungraded) counts as grade I ("一级及以下").
    #[serde(default, with = "wire::u32_opt")]
    pub hosp_grade: Option<u32>,
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
/// and cap. Which pool a benefit uses is in the policy data (`accumulator`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ytd {
    /// 起付线累计 (main pool).
    #[serde(default, with = "yuan")]
    pub dedc_paid: Fen,
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
            hifp_paid: self.hifp_paid - other.hifp_paid,
            hifob_paid: self.hifob_paid - other.hifob_paid,
            hifmi_paid: self.hifmi_paid - other.hifmi_paid,
            hifmi_base: self.hifmi_base - other.hifmi_base,
            otp_dedc_paid: self.otp_dedc_paid - other.otp_dedc_paid,
            otp_hifp_paid: self.otp_hifp_paid - other.otp_hifp_paid,
            maf_paid: self.maf_paid - other.maf_paid,
        }
    }

    pub fn plus(&self, other: &Ytd) -> Ytd {
        self.minus(&Ytd::ZERO.minus(other))
    }

    pub const ZERO: Ytd = Ytd {
        dedc_paid: Fen::ZERO,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// One fee line (费用明细). Class, price cap and self-pay ratio may come on the line; otherwise
/// they come from the policy set's catalogue by `med_list_codg`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// 定价上限金额 (price cap per unit).
    #[serde(default, with = "wire::price_opt")]
    pub pric_uplmt_amt: Option<Price>,
}

fn is_zero(fen: &Fen) -> bool {
    *fen == Fen::ZERO
}
