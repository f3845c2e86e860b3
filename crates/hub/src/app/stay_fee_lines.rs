//! A stay's daily fee lines (住院费用明细, 2301) as the ward sends them: read and checked into the
//! lines the store keeps, and whether an upload is the same lines sent again (its answer lost).

use super::visits::{scaled_field, text_field, yuan_field};
use super::*;
use crate::store::StayFeeLine;

/// Checks a day's HIS lines and turns them into 2301 `feedetail` entries. A negative line is a
/// return (退药): it names the charge it returns (`init_feedetl_sn`). A line named twice was
/// refused before (`visits::refuse_repeated_lines`).
pub(super) fn stay_fee_lines(
    lines: &[Map<String, Value>],
    mdtrt_id: &str,
    psn_no: &str,
    msgid: &str,
    now: &str,
) -> Result<Vec<StayFeeLine>, AppError> {
    let mut out: Vec<StayFeeLine> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let field =
            |name: &str| text_field(line, name).ok_or_else(|| AppError::invalid("missing_field", format!("lines[{i}].{name} is required")));
        // Read as a visit's line is (`visits::fee_detail`): a whole number or text, and the text
        // fields the center gets as sent are text.
        let sn = super::visits::fee_line_number(line.get("feedetl_sn").unwrap_or(&Value::Null))
            .map_err(|why| AppError::invalid("invalid_request", format!("lines[{i}].feedetl_sn: {why}")))?
            .ok_or_else(|| AppError::invalid("missing_field", format!("lines[{i}].feedetl_sn is required")))?;
        check_text(&format!("lines[{i}].feedetl_sn"), &sn, 30)?;
        field("med_list_codg")?;
        super::visits::text_fields_are_text(line, i)?;
        let amount = yuan_field(line, "det_item_fee_sumamt", i)?;
        let (cnt, pric) = (scaled_field(line, "cnt", 4, i)?, scaled_field(line, "pric", 6, i)?);
        let returned = amount.is_negative() || cnt < 0;
        if returned && text_field(line, "init_feedetl_sn").is_none() {
            return Err(AppError::invalid(
                "bad_amount",
                format!("lines[{i}]: a returned line names the charge it returns (init_feedetl_sn)"),
            ));
        }
        if amount.0 == 0 || amount.0.abs() > MAX_LINE_FEN.0 || pric <= 0 || (cnt < 0) != amount.is_negative() {
            return Err(AppError::invalid(
                "bad_amount",
                format!("lines[{i}]: amount and count share a sign; price positive; at most 1,000,000 yuan"),
            ));
        }
        if (wugan_domain::money::price_times_quantity(pric, cnt) - amount).0.abs() > 1 {
            return Err(AppError::invalid("amount_mismatch", format!("lines[{i}]: det_item_fee_sumamt is not pric × cnt")));
        }
        let mut detail = line.clone();
        detail.insert("mdtrt_id".into(), json!(mdtrt_id));
        detail.insert("psn_no".into(), json!(psn_no));
        super::visits::national_time_field(&mut detail, "fee_ocur_time", i, now)?;
        out.push(StayFeeLine {
            feedetl_sn: sn,
            amount,
            upload_msgid: msgid.to_string(),
            uploaded: false,
            detail_json: Value::Object(detail).to_string(),
            category: None,
        });
    }
    Ok(out)
}

/// Every line of the request is on record among `existing` (taken, or still with the center, as
/// `uploaded` says) as the same item (`visits::same_item`: a corrected line under an old number is
/// not the old one sent again).
pub(super) fn same_lines_on_record(lines: &[Map<String, Value>], existing: &[&StayFeeLine], uploaded: bool) -> bool {
    lines.iter().all(|line| {
        let Some(sn) = text_field(line, "feedetl_sn") else { return false };
        let sent = Value::Object(line.clone());
        existing.iter().any(|l| l.feedetl_sn == sn && l.uploaded == uploaded && super::visits::same_item(&l.detail_json, &sent))
    })
}
