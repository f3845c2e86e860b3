//! Per fee line: how much is fully self-paid, over the price cap, first self-paid, and in scope.
//!
//! Invariant: `det_item_fee_sumamt = fulamt_ownpay_amt + overlmt_amt + preselfpay_amt + inscp_scp_amt`
//! exactly, for every line (the two rounded parts are computed, the last one is the remainder).

use crate::catalogue::{CatalogueEntry, ItemClass};
use crate::claim::FeeLine;
use crate::code::Code;
use crate::decimal::{wire, Price, Qty};
use crate::policy::PolicySet;
use crate::PolicyError;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use wugan_domain::money::{ratio, yuan, Fen, Ratio};

/// A line's split, in the field names of the 2204 output (`result[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineResult {
    #[serde(default, with = "wire::text_opt")]
    pub feedetl_sn: Option<String>,
    #[serde(default, with = "wire::text_opt")]
    pub med_list_codg: Option<String>,
    #[serde(with = "yuan")]
    pub det_item_fee_sumamt: Fen,
    #[serde(default, with = "wire::qty_opt")]
    pub cnt: Option<Qty>,
    #[serde(default, with = "wire::price_opt")]
    pub pric: Option<Price>,
    #[serde(default, with = "wire::price_opt")]
    pub pric_uplmt_amt: Option<Price>,
    #[serde(with = "ratio")]
    pub selfpay_prop: Ratio,
    /// 全自费金额.
    #[serde(with = "yuan")]
    pub fulamt_ownpay_amt: Fen,
    /// 超限价金额.
    #[serde(with = "yuan")]
    pub overlmt_amt: Fen,
    /// 先行自付金额.
    #[serde(with = "yuan")]
    pub preselfpay_amt: Fen,
    /// 符合政策范围金额.
    #[serde(with = "yuan")]
    pub inscp_scp_amt: Fen,
    /// 收费项目等级 and the catalogue's flags: short codes held inline (no allocation per line).
    pub chrgitm_lv: Code,
    pub med_chrgitm_type: Code,
    pub bas_medn_flag: Code,
    pub hi_nego_drug_flag: Code,
    pub chld_medc_flag: Code,
    pub list_sp_item_flag: Code,
    pub lmt_used_flag: Code,
    pub drt_reim_flag: Code,
    #[serde(default)]
    pub memo: Option<Cow<'static, str>>,
}

impl LineResult {
    /// The line invariant (the per-line form of docs/national-interface.md §2 invariant 1).
    pub fn check(&self) -> Result<(), String> {
        let parts = self.fulamt_ownpay_amt + self.overlmt_amt + self.preselfpay_amt + self.inscp_scp_amt;
        if parts != self.det_item_fee_sumamt {
            return Err(format!(
                "line {}: parts {} != det_item_fee_sumamt {}",
                self.feedetl_sn.as_deref().unwrap_or("?"),
                parts.to_yuan_string(),
                self.det_item_fee_sumamt.to_yuan_string()
            ));
        }
        Ok(())
    }
}

/// Splits one fee line. `index` only names the line in errors.
pub fn split_line(index: usize, line: &FeeLine, policy: &PolicySet) -> Result<LineResult, PolicyError> {
    let bad = |reason: String| PolicyError::BadLine { index, reason };
    let entry = line.med_list_codg.as_deref().and_then(|c| policy.catalogue.get(c));
    let class = line_class(line, entry).map_err(bad)?;
    let sumamt = line_amount(line).map_err(bad)?;
    let cap = line.pric_uplmt_amt.or(entry.and_then(|e| e.pric_uplmt_amt));
    let prop = selfpay_prop(class, line, entry, policy);
    if !(0..=10_000).contains(&prop.0) {
        return Err(bad(format!("selfpay_prop {} is not within 0..1", prop.to_decimal_string())));
    }
    let split = split_amount(class, sumamt, cap, line.cnt, prop);
    let result = LineResult {
        feedetl_sn: line.feedetl_sn.clone(),
        med_list_codg: line.med_list_codg.clone(),
        det_item_fee_sumamt: sumamt,
        cnt: line.cnt,
        pric: line.pric,
        pric_uplmt_amt: cap,
        selfpay_prop: prop,
        fulamt_ownpay_amt: split.fulamt,
        overlmt_amt: split.overlmt,
        preselfpay_amt: split.preselfpay,
        inscp_scp_amt: split.inscp,
        chrgitm_lv: Code::lossy(class.code()),
        med_chrgitm_type: entry.map_or_else(|| Code::lossy("14"), |e| Code::lossy(&e.med_chrgitm_type)),
        bas_medn_flag: flag(entry, |e| &e.bas_medn_flag),
        hi_nego_drug_flag: flag(entry, |e| &e.hi_nego_drug_flag),
        chld_medc_flag: flag(entry, |e| &e.chld_medc_flag),
        list_sp_item_flag: flag(entry, |e| &e.list_sp_item_flag),
        lmt_used_flag: flag(entry, |e| &e.lmt_used_flag),
        drt_reim_flag: flag(entry, |e| &e.drt_reim_flag),
        memo: memo(line, entry, split.overlmt),
    };
    result.check().map_err(PolicyError::Invariant)?;
    Ok(result)
}

/// The class on the line wins (the caller knows best, e.g. a CLI claim); then the catalogue; a code
/// in neither is 丙 (fully self-paid), as real platforms treat unlisted items.
fn line_class(line: &FeeLine, entry: Option<&CatalogueEntry>) -> Result<ItemClass, String> {
    match (&line.chrgitm_lv, entry) {
        (Some(code), _) => ItemClass::parse(code).ok_or_else(|| format!("chrgitm_lv '{code}' is not 01/02/03")),
        (None, Some(e)) => ItemClass::parse(&e.chrgitm_lv).ok_or_else(|| format!("catalogue chrgitm_lv '{}'", e.chrgitm_lv)),
        (None, None) => Ok(ItemClass::C),
    }
}

fn line_amount(line: &FeeLine) -> Result<Fen, String> {
    match (line.det_item_fee_sumamt, line.pric, line.cnt) {
        (Some(amount), _, _) => Ok(amount),
        (None, Some(pric), Some(cnt)) => Ok(pric.times(cnt)),
        _ => Err("det_item_fee_sumamt is missing (and pric × cnt cannot be computed)".into()),
    }
}

fn selfpay_prop(class: ItemClass, line: &FeeLine, entry: Option<&CatalogueEntry>, policy: &PolicySet) -> Ratio {
    match class {
        // 丙 is fully self-paid whatever a line or catalogue says.
        ItemClass::C => Ratio::ONE,
        ItemClass::A => line.selfpay_prop.or(entry.and_then(|e| e.selfpay_prop)).unwrap_or(Ratio::ZERO),
        ItemClass::B => line.selfpay_prop.or(entry.and_then(|e| e.selfpay_prop)).unwrap_or(policy.b_class_selfpay_prop),
    }
}

fn flag(entry: Option<&CatalogueEntry>, pick: impl Fn(&CatalogueEntry) -> &String) -> Code {
    entry.map_or_else(|| Code::lossy("0"), |e| Code::lossy(pick(e)))
}

fn memo(line: &FeeLine, entry: Option<&CatalogueEntry>, overlmt: Fen) -> Option<Cow<'static, str>> {
    if entry.is_none() && line.chrgitm_lv.is_none() {
        return Some(Cow::Borrowed("目录外项目，全自费 / not in catalogue, fully self-paid"));
    }
    overlmt.is_positive().then_some(Cow::Borrowed("超限价部分自付 / amount above the price cap is self-paid"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub fulamt: Fen,
    pub overlmt: Fen,
    pub preselfpay: Fen,
    pub inscp: Fen,
}

/// The arithmetic of a line, on the absolute amount so a refund line (negative) splits as the mirror
/// of its original.
pub fn split_amount(class: ItemClass, sumamt: Fen, cap: Option<Price>, cnt: Option<Qty>, prop: Ratio) -> Split {
    if sumamt.is_negative() {
        let s = split_amount(class, -sumamt, cap, cnt.map(|q| Qty(q.0.abs())), prop);
        return Split { fulamt: -s.fulamt, overlmt: -s.overlmt, preselfpay: -s.preselfpay, inscp: -s.inscp };
    }
    if class == ItemClass::C {
        return Split { fulamt: sumamt, overlmt: Fen::ZERO, preselfpay: Fen::ZERO, inscp: Fen::ZERO };
    }
    // Allowed = cap × quantity; without a quantity the cap cannot be applied.
    let allowed = match (cap, cnt) {
        (Some(cap), Some(cnt)) => cap.times(cnt).max(Fen::ZERO),
        _ => sumamt,
    };
    let overlmt = (sumamt - allowed).max(Fen::ZERO);
    let eligible = sumamt - overlmt;
    let preselfpay = prop.apply(eligible);
    Split { fulamt: Fen::ZERO, overlmt, preselfpay, inscp: eligible - preselfpay }
}
