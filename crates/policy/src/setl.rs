//! The engine's output, in the national `setlinfo` / `setldetail` field names.

use crate::claim::Ytd;
use crate::line::LineResult;
use serde::{Deserialize, Serialize};
use wugan_domain::money::{ratio, yuan, yuan_opt, Fen, Ratio};

/// The amounts of a settlement (`setlinfo` of 2206/2207/2303/2304), without the person fields.
///
/// Deserializes from a real platform reply too (numbers or strings, nulls as zero), so the hub can
/// check a 2207 reply with [`SetlAmounts::check`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetlAmounts {
    /// 医疗费总额.
    #[serde(default, with = "yuan")]
    pub medfee_sumamt: Fen,
    /// 全自费金额.
    #[serde(default, with = "yuan")]
    pub fulamt_ownpay_amt: Fen,
    /// 超限价自费费用.
    #[serde(default, with = "yuan")]
    pub overlmt_selfpay: Fen,
    /// 先行自付金额.
    #[serde(default, with = "yuan")]
    pub preselfpay_amt: Fen,
    /// 符合政策范围金额.
    #[serde(default, with = "yuan")]
    pub inscp_scp_amt: Fen,
    /// 实际支付起付线.
    #[serde(default, with = "yuan")]
    pub act_pay_dedc: Fen,
    /// 基本医疗保险统筹基金支出.
    #[serde(default, with = "yuan")]
    pub hifp_pay: Fen,
    /// 基本医疗保险统筹基金支付比例. Despite the name (kept from the spec), the *fund's* ratio.
    #[serde(default, with = "ratio")]
    pub pool_prop_selfpay: Ratio,
    /// 公务员医疗补助资金支出.
    #[serde(default, with = "yuan")]
    pub cvlserv_pay: Fen,
    /// 企业补充医疗保险基金支出.
    #[serde(default, with = "yuan")]
    pub hifes_pay: Fen,
    /// 居民大病保险资金支出.
    #[serde(default, with = "yuan")]
    pub hifmi_pay: Fen,
    /// 职工大额医疗费用补助基金支出.
    #[serde(default, with = "yuan")]
    pub hifob_pay: Fen,
    /// 医疗救助基金支出.
    #[serde(default, with = "yuan")]
    pub maf_pay: Fen,
    /// 其他支出.
    #[serde(default, with = "yuan")]
    pub oth_pay: Fen,
    /// 基金支付总额.
    #[serde(default, with = "yuan")]
    pub fund_pay_sumamt: Fen,
    /// 个人负担总金额.
    #[serde(default, with = "yuan")]
    pub psn_part_amt: Fen,
    /// 个人账户支出.
    #[serde(default, with = "yuan")]
    pub acct_pay: Fen,
    /// 个人现金支出: the only part the bank / credit line pays.
    #[serde(default, with = "yuan")]
    pub psn_cash_pay: Fen,
    /// 医院负担金额.
    #[serde(default, with = "yuan")]
    pub hosp_part_amt: Fen,
    /// 余额: personal-account balance after this settlement.
    #[serde(default, with = "yuan")]
    pub balc: Fen,
    /// 个人账户共济支付金额 (part of acct_pay paid from a family member's account).
    #[serde(default, with = "yuan")]
    pub acct_mulaid_pay: Fen,
}

impl SetlAmounts {
    /// Σ of the fund items (invariant 4's right-hand side).
    pub fn fund_items_sum(&self) -> Fen {
        self.hifp_pay + self.cvlserv_pay + self.hifes_pay + self.hifmi_pay + self.hifob_pay + self.maf_pay + self.oth_pay
    }

    /// docs/national-interface.md §2 invariants 1–4, exactly. Returns every broken one.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let s = self;
        let y = |f: Fen| f.to_yuan_string();
        let mut broken = Vec::new();
        let parts = s.fulamt_ownpay_amt + s.overlmt_selfpay + s.preselfpay_amt + s.inscp_scp_amt;
        if s.medfee_sumamt != parts {
            broken.push(format!("1: medfee_sumamt {} != fulamt+overlmt+preselfpay+inscp {}", y(s.medfee_sumamt), y(parts)));
        }
        let shares = s.fund_pay_sumamt + s.psn_part_amt + s.hosp_part_amt;
        if s.medfee_sumamt != shares {
            broken.push(format!("2: medfee_sumamt {} != fund+psn_part+hosp_part {}", y(s.medfee_sumamt), y(shares)));
        }
        if s.psn_part_amt != s.acct_pay + s.psn_cash_pay {
            broken.push(format!("3: psn_part_amt {} != acct_pay+psn_cash_pay {}", y(s.psn_part_amt), y(s.acct_pay + s.psn_cash_pay)));
        }
        if s.fund_pay_sumamt != s.fund_items_sum() {
            broken.push(format!("4: fund_pay_sumamt {} != Σ fund items {}", y(s.fund_pay_sumamt), y(s.fund_items_sum())));
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken)
        }
    }

    /// The record of a cancellation (2208/2305): every amount negated. The balance and the ratio are
    /// states, not movements, and are kept; the caller sets `balc` to the balance after the reversal.
    pub fn negated(&self) -> SetlAmounts {
        let s = self;
        SetlAmounts {
            medfee_sumamt: -s.medfee_sumamt,
            fulamt_ownpay_amt: -s.fulamt_ownpay_amt,
            overlmt_selfpay: -s.overlmt_selfpay,
            preselfpay_amt: -s.preselfpay_amt,
            inscp_scp_amt: -s.inscp_scp_amt,
            act_pay_dedc: -s.act_pay_dedc,
            hifp_pay: -s.hifp_pay,
            pool_prop_selfpay: s.pool_prop_selfpay,
            cvlserv_pay: -s.cvlserv_pay,
            hifes_pay: -s.hifes_pay,
            hifmi_pay: -s.hifmi_pay,
            hifob_pay: -s.hifob_pay,
            maf_pay: -s.maf_pay,
            oth_pay: -s.oth_pay,
            fund_pay_sumamt: -s.fund_pay_sumamt,
            psn_part_amt: -s.psn_part_amt,
            acct_pay: -s.acct_pay,
            psn_cash_pay: -s.psn_cash_pay,
            hosp_part_amt: -s.hosp_part_amt,
            balc: s.balc,
            acct_mulaid_pay: -s.acct_mulaid_pay,
        }
    }

    /// The `setlinfo` fields as a JSON object, to merge with the person fields the service adds.
    pub fn to_setlinfo(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            // A struct of strings always serializes to an object.
            _ => serde_json::Map::new(),
        }
    }
}

/// One `setldetail[]` item: what one fund (or the personal account) paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetlDetail {
    /// 基金支付类型, e.g. 310100.
    pub fund_pay_type: String,
    pub fund_pay_type_name: String,
    /// 符合政策范围金额 this fund considered.
    #[serde(with = "yuan")]
    pub inscp_scp_amt: Fen,
    /// 本次可支付限额; `None` when unlimited.
    #[serde(default, with = "yuan_opt")]
    pub crt_payb_lmt_amt: Option<Fen>,
    #[serde(with = "yuan")]
    pub fund_payamt: Fen,
    /// 结算过程信息: how the amount was computed, for people reading a settlement.
    pub setl_proc_info: String,
}

impl SetlDetail {
    pub fn negated(&self) -> SetlDetail {
        SetlDetail { inscp_scp_amt: -self.inscp_scp_amt, fund_payamt: -self.fund_payamt, ..self.clone() }
    }
}

/// Which scheme and benefit produced an adjudication, for people and logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub policy: String,
    pub policy_status: String,
    pub admdvs: String,
    pub insutype: String,
    pub psn_group: String,
    pub benefit: String,
    pub scheme_effective_from: String,
}

/// The whole result of [`crate::adjudicate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjudication {
    pub setlinfo: SetlAmounts,
    pub setldetail: Vec<SetlDetail>,
    /// The 2204-style split of every fee line, in input order.
    pub lines: Vec<LineResult>,
    /// Year-to-date accumulators after this settlement.
    pub ytd: Ytd,
    pub trace: Trace,
    /// The standards and limits the calculation used, for [`crate::explain`].
    #[serde(default)]
    pub basis: Basis,
}

/// What each step of the calculation started from: the deductible standard and what was left of
/// it, the caps' room, the assistance rule, the account balances. Amounts in fen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    /// 医院等级 as the tables read it (1 = 一级及以下).
    pub hosp_grade: u32,
    /// "none", "per_year", "per_admission_first" or "per_admission_repeat".
    pub deductible_kind: std::borrow::Cow<'static, str>,
    /// Which admission in the year (per-admission deductibles).
    pub admission: u32,
    /// 起付标准 in force.
    pub dedc_std: Fen,
    /// 起付线 still to meet before this settlement.
    pub dedc_left: Fen,
    /// 统筹 before the caps: ratio × base.
    pub hifp_uncapped: Fen,
    /// Room under the basic caps before this settlement; `None` = unlimited.
    pub hifp_room: Option<Fen>,
    pub above_ratio: Option<Ratio>,
    pub above_excess: Fen,
    pub above_paid: Fen,
    pub above_room: Option<Fen>,
    pub big_burden: Fen,
    pub big_paid: Fen,
    pub big_room: Option<Fen>,
    /// 医疗救助 identity applied, if any.
    pub maf_identity: Option<String>,
    pub maf_ratio: Ratio,
    pub maf_burden: Fen,
    pub maf_room: Option<Fen>,
    pub acct_used: bool,
    /// 个人账户余额 before this settlement.
    pub acct_balc: Fen,
    /// 家庭共济 balance available before this settlement.
    pub mulaid_balc: Fen,
}
