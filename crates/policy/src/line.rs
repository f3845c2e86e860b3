//! Per fee line: how much is fully self-paid, over the price cap, first self-paid, and in scope.
//!
//! Invariant: `det_item_fee_sumamt = fulamt_ownpay_amt + overlmt_amt + preselfpay_amt + inscp_scp_amt`
//! exactly, for every line (the two rounded parts are computed, the last one is the remainder).

use crate::catalogue::{CatalogueEntry, ItemClass};
use crate::claim::max_yuan;
use crate::claim::FeeLine;
use crate::code::Code;
use crate::decimal::{wire, Price, Qty};
use crate::policy::PolicySet;
use crate::{PolicyError, MAX_AMOUNT_FEN};
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
///
/// Class, self-pay ratio and price cap are the catalogue's (docs/policy-rules.md §1: 丙类 or not in
/// the catalogue → `fulamt_ownpay_amt`), in the engine as in the insurance center, which never
/// takes them from the hospital. A line may repeat them, as a 2204 `result[]` does; what it repeats
/// is checked, never obeyed, and a line that contradicts the catalogue is refused. Only a set with
/// `line_class_for_unlisted` takes them from the line, and only for a code missing from its catalogue.
pub fn split_line(index: usize, line: &FeeLine, policy: &PolicySet) -> Result<LineResult, PolicyError> {
    let bad = |reason: String| PolicyError::BadLine { index, reason };
    let entry = line.med_list_codg.as_deref().and_then(|c| policy.catalogue.get(c));
    let terms = line_terms(line, entry, policy).map_err(bad)?;
    let sumamt = line_amount(line).map_err(bad)?;
    // A price cap is per unit: a line with no quantity would escape it (the whole amount eligible).
    // 2204 requires cnt; a capped item without one is refused, never paid uncapped.
    if terms.cap.is_some_and(|c| c.0 > 0) && line.cnt.is_none() {
        return Err(bad("cnt is missing: the item has a price cap (pric_uplmt_amt), applied per unit".into()));
    }
    let split = split_amount(terms.class, sumamt, terms.cap, line.cnt, terms.prop);
    let result = LineResult {
        feedetl_sn: line.feedetl_sn.clone(),
        med_list_codg: line.med_list_codg.clone(),
        det_item_fee_sumamt: sumamt,
        cnt: line.cnt,
        pric: line.pric,
        pric_uplmt_amt: terms.cap,
        selfpay_prop: terms.prop,
        fulamt_ownpay_amt: split.fulamt,
        overlmt_amt: split.overlmt,
        preselfpay_amt: split.preselfpay,
        inscp_scp_amt: split.inscp,
        chrgitm_lv: Code::lossy(terms.class.code()),
        med_chrgitm_type: entry.map_or_else(|| Code::lossy("14"), |e| Code::lossy(&e.med_chrgitm_type)),
        bas_medn_flag: flag(entry, |e| &e.bas_medn_flag),
        hi_nego_drug_flag: flag(entry, |e| &e.hi_nego_drug_flag),
        chld_medc_flag: flag(entry, |e| &e.chld_medc_flag),
        list_sp_item_flag: flag(entry, |e| &e.list_sp_item_flag),
        lmt_used_flag: flag(entry, |e| &e.lmt_used_flag),
        drt_reim_flag: flag(entry, |e| &e.drt_reim_flag),
        memo: memo(entry, terms.from_line, split.overlmt),
    };
    result.check().map_err(PolicyError::Invariant)?;
    Ok(result)
}

/// What decides a line's split.
struct Terms {
    class: ItemClass,
    /// The self-pay ratio in force: 丙 1, 甲 the entry's or 0, 乙 the entry's or the set's.
    prop: Ratio,
    /// The price cap per unit; `None` = no cap (a cap of 0 is none).
    cap: Option<Price>,
    /// Taken from the line (`line_class_for_unlisted`), not from the catalogue.
    from_line: bool,
}

/// The catalogue's class, ratio and cap for the line, and the line's own statements of them
/// checked against those.
fn line_terms(line: &FeeLine, entry: Option<&CatalogueEntry>, policy: &PolicySet) -> Result<Terms, String> {
    let said_class = match line.chrgitm_lv.as_deref() {
        Some(code) => Some(ItemClass::parse(code).ok_or_else(|| format!("chrgitm_lv '{code}' is not 01/02/03"))?),
        None => None,
    };
    if let Some(prop) = line.selfpay_prop.filter(|p| !(0..=10_000).contains(&p.0)) {
        return Err(format!("selfpay_prop {} is not within 0..1", prop.to_decimal_string()));
    }
    if line.pric_uplmt_amt.is_some_and(|p| p.0 < 0) {
        return Err("pric_uplmt_amt must not be negative (0 means no cap)".into());
    }
    let from_line = entry.is_none() && policy.line_class_for_unlisted;
    let (class, given_prop, cap) = match entry {
        Some(e) => {
            let class = ItemClass::parse(&e.chrgitm_lv).ok_or_else(|| format!("catalogue chrgitm_lv '{}'", e.chrgitm_lv))?;
            (class, e.selfpay_prop, a_cap(e.pric_uplmt_amt))
        }
        None if from_line => (said_class.unwrap_or(ItemClass::C), line.selfpay_prop, a_cap(line.pric_uplmt_amt)),
        None => (ItemClass::C, None, None),
    };
    let prop = match class {
        // 丙 is fully self-paid whatever a catalogue says.
        ItemClass::C => Ratio::ONE,
        ItemClass::A => given_prop.unwrap_or(Ratio::ZERO),
        ItemClass::B => given_prop.unwrap_or(policy.b_class_selfpay_prop),
    };
    let code = line.med_list_codg.as_deref().unwrap_or("(no med_list_codg)");
    let whose = match entry {
        Some(_) => format!("the catalogue of '{}' says {code} is", policy.name),
        None => format!("{code} is not in the catalogue of '{}', so it is 丙 with", policy.name),
    };
    let contradicts = |what: String| {
        Err(format!("{what} on the line contradicts the catalogue: {whose} {}; the catalogue decides", describe(class, prop, cap)))
    };
    if said_class.is_some_and(|c| c != class) {
        return contradicts(format!("chrgitm_lv {}", line.chrgitm_lv.as_deref().unwrap_or("")));
    }
    if line.selfpay_prop.is_some_and(|p| p != prop) {
        return contradicts(format!("selfpay_prop {}", line.selfpay_prop.map_or_else(String::new, |p| p.to_decimal_string())));
    }
    if line.pric_uplmt_amt.is_some() && a_cap(line.pric_uplmt_amt) != cap {
        return contradicts(format!("pric_uplmt_amt {}", line.pric_uplmt_amt.map_or_else(String::new, Price::to_wire_string)));
    }
    Ok(Terms { class, prop, cap, from_line })
}

/// A price cap of 0 means no cap, as real platforms and our own 2204 reply write it.
fn a_cap(cap: Option<Price>) -> Option<Price> {
    cap.filter(|c| c.0 > 0)
}

fn describe(class: ItemClass, prop: Ratio, cap: Option<Price>) -> String {
    let cap = cap.map_or_else(|| "no price cap".to_string(), |c| format!("price cap {}", c.to_wire_string()));
    format!("chrgitm_lv {}, selfpay_prop {}, {cap}", class.code(), prop.to_decimal_string())
}

/// The line's amount: `det_item_fee_sumamt`, else `pric × cnt`. Refused: a negative price, an
/// amount and a count of opposite signs (a refund has both negative), an amount more than a fen
/// away from `pric × cnt`, an amount beyond ±[`MAX_AMOUNT_FEN`].
fn line_amount(line: &FeeLine) -> Result<Fen, String> {
    if line.pric.is_some_and(|p| p.0 < 0) {
        return Err("pric must not be negative (a refund line has a negative cnt and amount)".into());
    }
    let amount = match (line.det_item_fee_sumamt, line.pric, line.cnt) {
        (Some(amount), _, _) => amount,
        (None, Some(pric), Some(cnt)) => {
            pric.checked_times(cnt).ok_or_else(|| format!("pric × cnt is beyond the largest amount the engine takes ({})", max_yuan()))?
        }
        _ => return Err("det_item_fee_sumamt is missing (and pric × cnt cannot be computed)".into()),
    };
    if amount.0.abs() > MAX_AMOUNT_FEN {
        return Err(format!(
            "det_item_fee_sumamt {} is beyond the largest amount the engine takes ({})",
            amount.to_yuan_string(),
            max_yuan()
        ));
    }
    if line.cnt.is_some_and(|c| (c.0 < 0 && amount.is_positive()) || (c.0 > 0 && amount.is_negative())) {
        return Err("det_item_fee_sumamt and cnt have opposite signs (a refund line has both negative)".into());
    }
    // As the platform (and the insurance center at upload) checks a line: one fen of rounding.
    if let (Some(pric), Some(cnt)) = (line.pric, line.cnt) {
        let product = pric.checked_times(cnt);
        if product.is_none_or(|p| (p - amount).0.abs() > 1) {
            let product = product.map_or_else(|| format!("beyond {}", max_yuan()), Fen::to_yuan_string);
            return Err(format!("det_item_fee_sumamt {} differs from pric × cnt {product}", amount.to_yuan_string()));
        }
    }
    Ok(amount)
}

fn flag(entry: Option<&CatalogueEntry>, pick: impl Fn(&CatalogueEntry) -> &String) -> Code {
    entry.map_or_else(|| Code::lossy("0"), |e| Code::lossy(pick(e)))
}

fn memo(entry: Option<&CatalogueEntry>, from_line: bool, overlmt: Fen) -> Option<Cow<'static, str>> {
    match (entry, from_line) {
        (None, false) => return Some(Cow::Borrowed("目录外项目，全自费 / not in catalogue, fully self-paid")),
        (None, true) => return Some(Cow::Borrowed("目录外项目，按明细所报等级 / not in catalogue, class as the line gives it")),
        (Some(_), _) => {}
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
/// of its original. `cap` of `None` or 0 is no cap.
pub fn split_amount(class: ItemClass, sumamt: Fen, cap: Option<Price>, cnt: Option<Qty>, prop: Ratio) -> Split {
    if sumamt.is_negative() {
        let s = split_amount(class, -sumamt, cap, cnt.map(|q| Qty(q.0.abs())), prop);
        return Split { fulamt: -s.fulamt, overlmt: -s.overlmt, preselfpay: -s.preselfpay, inscp: -s.inscp };
    }
    if class == ItemClass::C {
        return Split { fulamt: sumamt, overlmt: Fen::ZERO, preselfpay: Fen::ZERO, inscp: Fen::ZERO };
    }
    // Allowed = cap × quantity; without a quantity the cap cannot be applied, and a cap of 0 is
    // none. A cap × quantity beyond the largest amount is more than any line: nothing is over it.
    let allowed = match (cap.filter(|c| c.0 > 0), cnt) {
        (Some(cap), Some(cnt)) => cap.checked_times(cnt).map_or(sumamt, |a| a.max(Fen::ZERO)),
        _ => sumamt,
    };
    let overlmt = (sumamt - allowed).max(Fen::ZERO);
    let eligible = sumamt - overlmt;
    let preselfpay = prop.apply(eligible);
    Split { fulamt: Fen::ZERO, overlmt, preselfpay, inscp: eligible - preselfpay }
}
