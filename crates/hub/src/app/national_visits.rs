//! What the drop-in endpoint notes of a visit on its way past (`national_interface`): the HIS's
//! own visit number from 2201 and the fee lines its platform accepted (2204, less what 2205
//! withdrew), each with the platform's answer for it (医疗收费项目类别 and the rest). The 2207 the
//! hub pays after writes its cash-only visit under the HIS's number with those lines, so the HIS
//! finds the visit by its own number (`GET /api/v1/visits?ipt_otp_no=`) and the patient's
//! invoice has the lines' categories. Noting is best effort: the envelope and the platform's reply
//! pass as they came whatever happens here, and a visit noted of nothing is paid as before (under
//! the platform's visit id, one line of other fees).

use super::*;
use crate::insurance_client::text;
use crate::model::FeeLineRow;

/// A fee line as noted: the 2204 `feedetail` entry as sent, and the platform's `result` for it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub(super) struct NotedLine {
    feedetl_sn: String,
    chrg_bchno: String,
    amount_fen: i64,
    detail: Value,
    result: Option<Value>,
}

/// The lines a 2204 envelope sent that its reply accepted, each with its result; a line whose
/// amount is no amount is left out (the platform would have refused it).
pub(super) fn accepted_lines(envelope: &Value, reply: &Value) -> Vec<NotedLine> {
    // Where the platform finds them (the center's `fees::lines`): `input.feedetail`, else
    // `input.data.feedetail`; a list, or one line alone.
    let input = envelope.get("input").unwrap_or(&Value::Null);
    let sent = input.get("feedetail").or_else(|| input.get("data").and_then(|d| d.get("feedetail")));
    let results = listed(reply.get("output").and_then(|o| o.get("result")));
    listed(sent)
        .into_iter()
        .filter_map(|detail| {
            let feedetl_sn = text(&detail, "feedetl_sn");
            let amount = Fen::from_json_yuan(detail.get("det_item_fee_sumamt")?).ok()??;
            let result = results.iter().find(|r| text(r, "feedetl_sn") == feedetl_sn).cloned();
            let chrg_bchno = Some(text(&detail, "chrg_bchno")).filter(|b| !b.is_empty()).unwrap_or_else(|| "1".into());
            (!feedetl_sn.is_empty()).then_some(NotedLine { feedetl_sn, chrg_bchno, amount_fen: amount.0, detail, result })
        })
        .collect()
}

/// A list as platforms and HIS software write it: an array, or its one item alone.
fn listed(node: Option<&Value>) -> Vec<Value> {
    match node {
        Some(Value::Array(items)) => items.clone(),
        Some(item @ Value::Object(_)) => vec![item.clone()],
        _ => Vec::new(),
    }
}

/// `lines` (JSON) with `added` in (a line sent again replaces itself).
fn with_lines(lines: &str, added: Vec<NotedLine>) -> String {
    let mut kept: Vec<NotedLine> = serde_json::from_str(lines).unwrap_or_default();
    kept.retain(|l| !added.iter().any(|a| a.feedetl_sn == l.feedetl_sn));
    kept.extend(added);
    serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into())
}

/// `lines` (JSON) without those a 2205 withdrew: its `chrg_bchno`'s, or every one for "0000".
fn without_batch(lines: &str, chrg_bchno: &str) -> String {
    let mut kept: Vec<NotedLine> = serde_json::from_str(lines).unwrap_or_default();
    kept.retain(|l| chrg_bchno != "0000" && l.chrg_bchno != chrg_bchno);
    serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into())
}

/// The noted lines as the visit's fee lines: uploaded, each with the platform's answer.
pub(super) fn fee_lines_of(lines_json: &str) -> Vec<FeeLineRow> {
    let noted: Vec<NotedLine> = serde_json::from_str(lines_json).unwrap_or_default();
    noted
        .into_iter()
        .map(|l| FeeLineRow {
            feedetl_sn: l.feedetl_sn,
            chrg_bchno: l.chrg_bchno,
            amount: Fen(l.amount_fen),
            upload_msgid: String::new(),
            uploaded: true,
            detail_json: l.detail.to_string(),
            result_json: l.result.map(|r| r.to_string()),
        })
        .collect()
}

/// Of a visit's noted lines, those a 2207 settled: its batch's (`chrg_bchno`, unless "0000" or
/// none: every batch not yet settled) when they add up to the settled total `medfee`; else, when
/// settlements of the visit stand, the lines they did not take (`taken`, by `feedetl_sn`) when
/// those add up; else every line when they do; else every line still (the invoice then states
/// the total as one line of other fees).
pub(super) fn lines_settled(lines: Vec<FeeLineRow>, chrg_bchno: &str, medfee: Option<Fen>, taken: &[String]) -> Vec<FeeLineRow> {
    let adds_up = |ls: &[FeeLineRow]| medfee.is_some_and(|total| ls.iter().map(|l| l.amount).sum::<Fen>() == total);
    if !matches!(chrg_bchno, "" | "0000") {
        let batch: Vec<FeeLineRow> = lines.iter().filter(|l| l.chrg_bchno == chrg_bchno).cloned().collect();
        if !batch.is_empty() && adds_up(&batch) {
            return batch;
        }
    }
    let rest: Vec<FeeLineRow> = lines.iter().filter(|l| !taken.contains(&l.feedetl_sn)).cloned().collect();
    if !taken.is_empty() && !rest.is_empty() && adds_up(&rest) {
        return rest;
    }
    lines
}

/// The most settlements of one visit the drop-in endpoint numbers `{ipt_otp_no}#{n}` (2 to 9).
const MOST_SETTLEMENTS_A_VISIT: u32 = 9;

/// Where a drop-in 2207 is paid in the hub: the visit number, and the lines the visit's
/// settlements standing under its other numbers took.
pub(super) struct SettledUnder {
    pub ipt_otp_no: String,
    pub taken: Vec<String>,
}

impl App {
    /// The hub's visit number a drop-in 2207 of batch `batch` settles under: the HIS's own, or,
    /// while that visit's settlement stands, another (the hub pays one settlement per visit of its
    /// own). A named batch (分批结算: a settlement per batch of one visit) is paid under
    /// `{ipt_otp_no}#{chrg_bchno}` (review r25 ni F6: the second was never charged, and the patient
    /// queued for it); the same batch settled again while its settlement stands is not paid twice.
    /// "0000" (every line not yet settled) or none is the next free `{ipt_otp_no}#{n}`: the platform
    /// settles the lines the earlier settlements left, and its cash share is owed like any other
    /// (session 32's review: it was answered `infcode` 0 and never charged).
    pub(super) async fn settled_under(&self, hospital: &str, ipt_otp_no: String, batch: &str) -> SettledUnder {
        let mut taken = Vec::new();
        if !self.stands_under(hospital, &ipt_otp_no, &mut taken).await {
            return SettledUnder { ipt_otp_no, taken };
        }
        match batch {
            "" | "0000" => {
                for number in (2..=MOST_SETTLEMENTS_A_VISIT).map(|n| format!("{ipt_otp_no}#{n}")) {
                    if check_text("ipt_otp_no", &number, 30).is_ok() && !self.stands_under(hospital, &number, &mut taken).await {
                        return SettledUnder { ipt_otp_no: number, taken };
                    }
                }
            }
            // The named batch's own number, also while its settlement stands (then answered
            // `already_settled`: the same batch is not paid twice).
            named => {
                let number = format!("{ipt_otp_no}#{named}");
                if check_text("ipt_otp_no", &number, 30).is_ok() {
                    self.stands_under(hospital, &number, &mut taken).await;
                    return SettledUnder { ipt_otp_no: number, taken };
                }
            }
        }
        SettledUnder { ipt_otp_no, taken }
    }

    /// Whether a settlement stands under the visit number `number`; the lines its visit holds are
    /// added to `taken`. One the platform shows cancelled (by a path the hub did not see: its own
    /// client, a 2208 whose check could not be made) is refunded first and stands no more, so the
    /// same lines settled again are charged once (session 32's review).
    async fn stands_under(&self, hospital: &str, number: &str, taken: &mut Vec<String>) -> bool {
        let Some(visit) = self.store.visit_by_hospital_no(hospital, number).await.ok().flatten() else { return false };
        let Some(settlement) = self.store.settlement_of_visit(&visit.id).await.ok().flatten() else { return false };
        if matches!(settlement.state, SettlementState::Failed | SettlementState::Cancelled)
            || self.refund_if_cancelled_unseen(&settlement).await
        {
            return false;
        }
        let lines = self.store.fee_lines(&visit.id).await.unwrap_or_default();
        taken.extend(lines.into_iter().map(|l| l.feedetl_sn));
        true
    }

    /// Notes what a successful 2201, 2204 or 2205 of `hospital` says of its visit.
    pub(super) async fn note_national_visit(&self, hospital: &str, infno: &str, envelope: &Value, reply: &Value) {
        let data = super::national_interface::payload(envelope);
        let noted = match infno {
            "2201" => {
                let mdtrt_id = text(super::national_interface::output_data(reply), "mdtrt_id");
                let ipt_otp_no = text(data, "ipt_otp_no");
                if mdtrt_id.is_empty() || ipt_otp_no.is_empty() || check_text("ipt_otp_no", &ipt_otp_no, 30).is_err() {
                    return;
                }
                self.store.note_national_visit(hospital, &mdtrt_id, &ipt_otp_no).await
            }
            "2204" => {
                let lines = accepted_lines(envelope, reply);
                let Some(mdtrt_id) = lines.first().map(|l| text(&l.detail, "mdtrt_id")).filter(|m| !m.is_empty()) else { return };
                self.store.change_national_lines(&mdtrt_id, move |kept| with_lines(kept, lines)).await
            }
            "2205" => {
                let (mdtrt_id, batch) = (text(data, "mdtrt_id"), text(data, "chrg_bchno"));
                self.store.change_national_lines(&mdtrt_id, move |kept| without_batch(kept, &batch)).await
            }
            _ => return,
        };
        if let Err(e) = noted {
            tracing::warn!(infno, error = %e, "a drop-in visit could not be noted; it is paid under the platform's visit id");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2207_of_one_batch_takes_that_batchs_lines_when_they_add_up() {
        let row = |sn: &str, batch: &str, fen: i64| FeeLineRow {
            feedetl_sn: sn.into(),
            chrg_bchno: batch.into(),
            amount: Fen(fen),
            upload_msgid: String::new(),
            uploaded: true,
            detail_json: "{}".into(),
            result_json: None,
        };
        let lines = vec![row("1", "B1", 2500), row("2", "B1", 3500), row("3", "B2", 10000)];
        let sns = |ls: Vec<FeeLineRow>| ls.into_iter().map(|l| l.feedetl_sn).collect::<Vec<_>>();
        assert_eq!(sns(lines_settled(lines.clone(), "B1", Some(Fen(6000)), &[])), ["1", "2"]);
        assert_eq!(sns(lines_settled(lines.clone(), "B2", Some(Fen(10000)), &[])), ["3"]);
        assert_eq!(sns(lines_settled(lines.clone(), "0000", Some(Fen(16000)), &[])), ["1", "2", "3"]);
        // A batch that does not add up to what was settled is not taken for it.
        assert_eq!(sns(lines_settled(lines.clone(), "B1", Some(Fen(9999)), &[])), ["1", "2", "3"]);
        // "0000" after batch B1's settlement: the lines it left, when they add up.
        let taken = ["1".to_string(), "2".to_string()];
        assert_eq!(sns(lines_settled(lines.clone(), "0000", Some(Fen(10000)), &taken)), ["3"]);
        assert_eq!(sns(lines_settled(lines, "", Some(Fen(10001)), &taken)), ["1", "2", "3"]);
    }

    fn line(sn: &str, batch: &str, total: Value) -> Value {
        json!({"feedetl_sn": sn, "mdtrt_id": "M1", "chrg_bchno": batch, "det_item_fee_sumamt": total, "med_list_codg": "X"})
    }

    #[test]
    fn a_2204_notes_the_lines_its_platform_accepted_and_a_2205_withdraws_a_batch() {
        let envelope =
            json!({"input": {"feedetail": [line("1", "B1", json!("25.00")), line("2", "B1", json!(12.5)), line("3", "B2", json!("abc"))]}});
        let reply =
            json!({"output": {"result": [{"feedetl_sn": "1", "med_chrgitm_type": "02"}, {"feedetl_sn": "2", "med_chrgitm_type": "09"}]}});
        let lines = accepted_lines(&envelope, &reply);
        assert_eq!(lines.iter().map(|l| (l.feedetl_sn.as_str(), l.amount_fen)).collect::<Vec<_>>(), [("1", 2500), ("2", 1250)]);
        let kept = with_lines("[]", lines.clone());
        let rows = fee_lines_of(&kept);
        assert_eq!(rows.len(), 2);
        assert_eq!(super::super::invoices::category_of(rows[1].result_json.as_deref()), "09");
        // Sent again: the same two lines, not four.
        assert_eq!(fee_lines_of(&with_lines(&kept, lines)).len(), 2);
        // Under `input.data`, one line alone (not in a list): read where the platform reads it.
        let alone = json!({"input": {"data": {"feedetail": line("9", "B9", json!("7.50"))}}});
        let result = json!({"output": {"result": {"feedetl_sn": "9", "med_chrgitm_type": "02"}}});
        let read = accepted_lines(&alone, &result);
        assert_eq!(read.iter().map(|l| (l.feedetl_sn.as_str(), l.amount_fen, l.result.is_some())).collect::<Vec<_>>(), [("9", 750, true)]);
        let later = with_lines(&kept, accepted_lines(&json!({"input": {"feedetail": [line("4", "B2", json!("3"))]}}), &json!({})));
        assert_eq!(fee_lines_of(&without_batch(&later, "B1")).iter().map(|l| l.feedetl_sn.as_str()).collect::<Vec<_>>(), ["4"]);
        assert!(fee_lines_of(&without_batch(&later, "0000")).is_empty());
    }
}
