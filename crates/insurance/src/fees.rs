//! Fee lines (费用明细) as 2204 (outpatient) and 2301 (inpatient) upload them: parsed, checked against
//! the visit (open, of the right kind, serial unique, a refund naming a live charge), split by the
//! catalogue (`wugan_policy::split_line`), and only then stored.

use crate::ctx::{Ctx, Kind};
use crate::error::TxError;
use crate::input::{mismatch, opt_text, opt_yuan, req_text};
use crate::lookup::{open_visit, visit_of_kind};
use crate::state::{FeeRecord, FeeStatus, State, Visit};
use serde_json::{json, Value};
use std::collections::HashSet;
use wugan_domain::money::Fen;
use wugan_policy::decimal::{Price, Qty};
use wugan_policy::{split_line, FeeLine, LineResult};

/// One incoming fee line, parsed.
struct IncomingFee {
    mdtrt_id: String,
    feedetl_sn: String,
    chrg_bchno: String,
    /// 原费用流水号 (2301 refunds).
    init_feedetl_sn: Option<String>,
    psn_no: Option<String>,
    line: FeeLine,
}

/// 2204 / 2301: every line is checked (visit open and of the right kind, serial unique, refund
/// naming a live charge) before any is kept; the reply is the 2204-style split of each line.
pub fn store_fees(state: &mut State, ctx: &Ctx, kind: Kind) -> Result<Value, TxError> {
    let lines = fee_details(&ctx.env.input)?;
    let mut incoming: Vec<(IncomingFee, LineResult)> = Vec::with_capacity(lines.len());
    let mut seen = HashSet::new();
    for (i, raw) in lines.iter().enumerate() {
        let fee = parse_fee(i, raw, kind)?;
        visit_of_kind(state, &fee.mdtrt_id, kind)?;
        let visit = open_visit(state, &fee.mdtrt_id)?;
        if let Some(psn_no) = &fee.psn_no {
            if psn_no != &visit.psn_no {
                return Err(mismatch("psn_no", psn_no, &visit.psn_no));
            }
        }
        let duplicate_stored = visit.fees.iter().any(|f| f.feedetl_sn == fee.feedetl_sn && f.status != FeeStatus::Cancelled);
        if duplicate_stored || !seen.insert((fee.mdtrt_id.clone(), fee.feedetl_sn.clone())) {
            return Err(TxError::new(
                &format!("费用明细流水号 {} 重复", fee.feedetl_sn),
                format!("duplicate feedetl_sn {} in visit {}", fee.feedetl_sn, fee.mdtrt_id),
            ));
        }
        if let Some(original) = &fee.init_feedetl_sn {
            check_refund(visit, &incoming, &fee, original)?;
        }
        let result = split_line(i, &fee.line, ctx.policy)?;
        incoming.push((fee, result));
    }
    let mut output = Vec::with_capacity(incoming.len());
    for (fee, result) in incoming {
        output.push(amounts_never_null(serde_json::to_value(&result).unwrap_or(Value::Null)));
        if let Some(visit) = state.visits.get_mut(&fee.mdtrt_id) {
            visit.fees.push(FeeRecord {
                feedetl_sn: fee.feedetl_sn,
                chrg_bchno: fee.chrg_bchno,
                init_feedetl_sn: fee.init_feedetl_sn,
                line: fee.line,
                result,
                status: FeeStatus::Unsettled,
            });
        }
    }
    Ok(json!({"result": output}))
}

/// `input.feedetail` (or `input.data.feedetail`), an array or a single object: borrowed, not
/// copied (an upload may hold thousands of lines).
fn fee_details(input: &Value) -> Result<Vec<&Value>, TxError> {
    let node = input.get("feedetail").or_else(|| input.get("data").and_then(|d| d.get("feedetail")));
    match node {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items.iter().collect()),
        Some(item @ Value::Object(_)) => Ok(vec![item]),
        _ => Err(TxError::new("缺少费用明细 feedetail", "missing input.feedetail (a non-empty list of fee lines)")),
    }
}

/// Parses one fee line. Outpatient lines (2204) are never negative; an inpatient line (2301) may be
/// a refund — negative `cnt` and amount, naming the charged line in `init_feedetl_sn`.
fn parse_fee(i: usize, raw: &Value, kind: Kind) -> Result<IncomingFee, TxError> {
    let at = |e: TxError| TxError::bilingual(format!("第{}条明细 / fee line {}: {}", i + 1, i + 1, e.message));
    let decimal = |key: &str, scale: u32| {
        raw.get(key)
            .map(|v| wugan_domain::money::scaled_from_json(v, scale))
            .transpose()
            .map(Option::flatten)
            .map_err(|e| at(TxError::new(&format!("{key} 格式错误"), format!("{key}: {e}"))))
    };
    let amount = opt_yuan(raw, "det_item_fee_sumamt").map_err(at)?;
    let pric = decimal("pric", Price::SCALE)?.map(Price);
    let cnt = decimal("cnt", Qty::SCALE)?.map(Qty);
    let amount = match (amount, pric, cnt) {
        (Some(a), _, _) => a,
        (None, Some(p), Some(c)) => p.times(c),
        _ => return Err(at(TxError::missing("det_item_fee_sumamt"))),
    };
    let init_feedetl_sn = opt_text(raw, "init_feedetl_sn");
    check_sign(amount, pric, cnt, kind, init_feedetl_sn.is_some()).map_err(at)?;
    if let (Some(p), Some(c)) = (pric, cnt) {
        // The platform checks the line's arithmetic; one fen of rounding is allowed.
        if (p.times(c) - amount).0.abs() > 1 {
            return Err(at(TxError::new(
                "明细金额与单价×数量不符",
                format!("det_item_fee_sumamt {} differs from pric × cnt {}", amount.to_yuan_string(), p.times(c).to_yuan_string()),
            )));
        }
    }
    let feedetl_sn = req_text(raw, "feedetl_sn").map_err(at)?;
    Ok(IncomingFee {
        mdtrt_id: req_text(raw, "mdtrt_id").map_err(at)?,
        chrg_bchno: opt_text(raw, "chrg_bchno").unwrap_or_default(),
        init_feedetl_sn,
        psn_no: opt_text(raw, "psn_no"),
        line: bill_line(i, raw, feedetl_sn.clone(), amount, pric, cnt)?,
        feedetl_sn,
    })
}

/// A line of a bill paid elsewhere (零星报销): the 2204 line's fields without a visit.
pub fn parse_bill_line(i: usize, raw: &Value) -> Result<FeeLine, TxError> {
    let at = |e: TxError| TxError::bilingual(format!("第{}条明细 / fee line {}: {}", i + 1, i + 1, e.message));
    let fee = parse_fee(i, &with_placeholder_visit(raw), Kind::Outpatient)?;
    if fee.line.det_item_fee_sumamt.is_none_or(|a| !a.is_positive()) {
        return Err(at(TxError::new("明细金额必须大于零", "det_item_fee_sumamt must be positive")));
    }
    Ok(fee.line)
}

/// A bill's line names no visit; parse it as a line of a placeholder one.
fn with_placeholder_visit(raw: &Value) -> Value {
    let mut raw = raw.clone();
    if let Value::Object(map) = &mut raw {
        map.insert("mdtrt_id".into(), json!("-"));
    }
    raw
}

fn bill_line(i: usize, raw: &Value, feedetl_sn: String, amount: Fen, pric: Option<Price>, cnt: Option<Qty>) -> Result<FeeLine, TxError> {
    let at = |e: TxError| TxError::bilingual(format!("第{}条明细 / fee line {}: {}", i + 1, i + 1, e.message));
    Ok(FeeLine {
        feedetl_sn: Some(feedetl_sn),
        med_list_codg: Some(req_text(raw, "med_list_codg").map_err(at)?),
        // Class, cap and ratio are the catalogue's, never the hospital's.
        chrgitm_lv: None,
        pric,
        cnt,
        det_item_fee_sumamt: Some(amount),
        selfpay_prop: None,
        pric_uplmt_amt: None,
    })
}

/// HIS software reads the 2204 `result[]` amounts into non-nullable decimals and fails on `null`:
/// an amount the line has none of (no price cap, no price or quantity given) is written as zero,
/// at its wire scale. A zero `pric_uplmt_amt` means no cap, as on real platforms.
fn amounts_never_null(mut line: Value) -> Value {
    let zeros = [("pric", Price(0).to_wire_string()), ("pric_uplmt_amt", Price(0).to_wire_string()), ("cnt", Qty(0).to_wire_string())];
    for (field, zero) in zeros {
        if line.get(field).is_some_and(Value::is_null) {
            line[field] = json!(zero);
        }
    }
    line
}

/// Signs of a fee line: prices are never negative; a charge is not negative; a refund (2301 only)
/// has a negative amount and quantity and names its charge.
fn check_sign(amount: Fen, pric: Option<Price>, cnt: Option<Qty>, kind: Kind, refund_of: bool) -> Result<(), TxError> {
    let negative_qty = amount.is_negative() || cnt.is_some_and(|c| c.0 < 0);
    if pric.is_some_and(|p| p.0 < 0) || (negative_qty && kind == Kind::Outpatient) {
        return Err(TxError::new("门诊费用明细金额不能为负", "outpatient fee amounts, prices and quantities must not be negative"));
    }
    if negative_qty && !refund_of {
        return Err(TxError::new(
            "退费明细须填写原费用流水号",
            "a refund line (negative cnt) must name the charged line in init_feedetl_sn",
        ));
    }
    if refund_of && (!amount.is_negative() || cnt.is_some_and(|c| c.0 >= 0)) {
        return Err(TxError::new(
            "退费明细数量和金额须为负",
            "a line with init_feedetl_sn is a refund: cnt and det_item_fee_sumamt must be negative",
        ));
    }
    Ok(())
}

/// A refund must name an unsettled charge of the same admission (stored, or earlier in the same
/// upload) with the same code, and all its refunds together may not exceed it. Refunding a line an
/// interim settlement already paid needs that settlement cancelled (2305) first.
fn check_refund(visit: &Visit, incoming: &[(IncomingFee, LineResult)], fee: &IncomingFee, original: &str) -> Result<(), TxError> {
    let refused = |zh: &str, en: String| Err(TxError::new(zh, en));
    let stored = visit.fees.iter().find(|f| f.feedetl_sn == original && f.status != FeeStatus::Cancelled);
    let uploaded = incoming.iter().find(|(f, _)| f.mdtrt_id == fee.mdtrt_id && f.feedetl_sn == original);
    let (code, amount) = match (stored, uploaded) {
        (Some(f), _) if f.status != FeeStatus::Unsettled => {
            return refused(
                "原费用已结算，请先撤销结算",
                format!("line {original} is already settled: cancel that settlement (2305) before refunding it"),
            )
        }
        (Some(f), _) if f.init_feedetl_sn.is_none() => (f.line.med_list_codg.clone(), f.result.det_item_fee_sumamt),
        (None, Some((f, r))) if f.init_feedetl_sn.is_none() => (f.line.med_list_codg.clone(), r.det_item_fee_sumamt),
        _ => return refused("原费用流水号不存在", format!("init_feedetl_sn {original} is not a live charge of visit {}", fee.mdtrt_id)),
    };
    if code != fee.line.med_list_codg {
        return refused("退费项目与原费用不符", format!("refund of line {original} must have its med_list_codg"));
    }
    let refunded_stored: Fen = live_refunds(visit.fees.iter(), original).sum();
    let refunded_now: Fen = incoming
        .iter()
        .filter(|(f, _)| f.mdtrt_id == fee.mdtrt_id && f.init_feedetl_sn.as_deref() == Some(original))
        .map(|(_, r)| r.det_item_fee_sumamt)
        .sum();
    let this = fee.line.det_item_fee_sumamt.unwrap_or(Fen::ZERO);
    if (amount + refunded_stored + refunded_now + this).is_negative() {
        return refused("退费金额超过原费用", format!("refunds of line {original} would exceed its {}", amount.to_yuan_string()));
    }
    Ok(())
}

fn live_refunds<'a>(fees: impl Iterator<Item = &'a FeeRecord> + 'a, original: &'a str) -> impl Iterator<Item = Fen> + 'a {
    fees.filter(move |f| f.status != FeeStatus::Cancelled && f.init_feedetl_sn.as_deref() == Some(original))
        .map(|f| f.result.det_item_fee_sumamt)
}

#[cfg(test)]
mod never_null_tests {
    use super::*;

    #[test]
    fn a_line_without_a_cap_still_gives_every_amount_a_number() {
        let line = amounts_never_null(json!({"pric": "25.000000", "pric_uplmt_amt": null, "cnt": null, "det_item_fee_sumamt": "25.00"}));
        assert_eq!(line["pric_uplmt_amt"], json!(Price(0).to_wire_string()));
        assert_eq!(line["cnt"], json!(Qty(0).to_wire_string()));
        assert_eq!(line["pric"], json!("25.000000"), "a given amount is left as it is");
        assert!(line.as_object().into_iter().flatten().all(|(_, v)| !v.is_null()));
    }
}
