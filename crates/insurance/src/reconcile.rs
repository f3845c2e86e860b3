//! Reconciliation (对账, docs/national-interface.md §"Reconciliation"): 3201 totals, 3202 detail,
//! and the file exchange they use, 9101 upload / 9102 download.
//!
//! - 3201 compares a hospital's totals for one bucket (insutype × clr_type × setl_optins ×
//!   date range × `refd_setl_flag`) with the center's, and answers `stmt_rslt`.
//! - 3202 reads a detail file the hospital uploaded with 9101, joins it with the center's
//!   settlements by `setl_id` (a hash join: linear), and stores `result.txt` for 9102.
//!
//! Assumed where the sources are silent ([A], docs/reconciliation.md §"The national interface"):
//! `stmt_rslt` `"0"` = consistent, `"1"` = not; per line in result.txt `"0"` consistent, `"1"`
//! center only (医保单边), `"2"` hospital only (医院单边), `"3"` amounts or the refund flag differ.
//! `refd_setl_flag` `"1"` selects the settlements of the range that were cancelled (2208), `"0"` those
//! that stand. Files travel as text (the real interface zips them and sends Base64). The uploaded
//! detail file is tab-separated: `setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt,
//! acct_pay, refd_setl_flag`, amounts in yuan.

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::input::{date_field, opt_text, opt_yuan, req_text};
use crate::state::{Settlement, State, StoredFile};
use serde_json::{json, Value};
use std::collections::HashMap;
use wugan_domain::money::Fen;

/// The longest file accepted, in bytes (the HTTP body limit is a little larger).
pub const MAX_FILE_BYTES: usize = 15 * 1024 * 1024;

/// Sums of one side's settlements, in fen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    medfee_sumamt: Fen,
    fund_pay_sumamt: Fen,
    acct_pay: Fen,
    count: u64,
}

impl Totals {
    fn add(&mut self, s: &Settlement) {
        self.medfee_sumamt += s.amounts.medfee_sumamt;
        self.fund_pay_sumamt += s.amounts.fund_pay_sumamt;
        self.acct_pay += s.amounts.acct_pay;
        self.count += 1;
    }
}

/// Which of the center's settlements a request covers.
struct Scope {
    fixmedins_code: String,
    setl_optins: String,
    clr_type: Option<String>,
    insutype: Option<String>,
    begin: String,
    end: String,
}

impl Scope {
    fn read(ctx: &Ctx, data: &Value, bucket: bool) -> Result<Scope, TxError> {
        let (begin, end) = (date_field(data, "stmt_begndate")?, date_field(data, "stmt_enddate")?);
        if begin > end {
            return Err(TxError::new("对账起始日期晚于终止日期", format!("stmt_begndate {begin} is after stmt_enddate {end}")));
        }
        let (clr_type, insutype) = match bucket {
            true => (Some(req_text(data, "clr_type")?), Some(req_text(data, "insutype")?)),
            false => (opt_text(data, "clr_type"), None),
        };
        let fixmedins_code = ctx.env.fixmedins_code.clone();
        Ok(Scope { fixmedins_code, setl_optins: req_text(data, "setl_optins")?, clr_type, insutype, begin, end })
    }

    fn covers(&self, s: &Settlement) -> bool {
        let info = &s.output["setlinfo"];
        let day = s.setl_time.get(..10).unwrap_or_default();
        let is = |field: &str, wanted: &Option<String>| wanted.as_deref().is_none_or(|w| info[field].as_str() == Some(w));
        s.fixmedins_code == self.fixmedins_code
            && (self.begin.as_str()..=self.end.as_str()).contains(&day)
            && info["clr_optins"].as_str() == Some(self.setl_optins.as_str())
            && self.clr_type.as_deref().is_none_or(|c| s.clr_type == c)
            && is("insutype", &self.insutype)
    }
}

fn refund_flag(data: &Value) -> Result<bool, TxError> {
    match opt_text(data, "refd_setl_flag").as_deref() {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(TxError::new("refd_setl_flag 取值错误", format!("refd_setl_flag '{other}' is not 0 or 1"))),
    }
}

fn yuan(data: &Value, key: &str) -> Result<Fen, TxError> {
    opt_yuan(data, key)?.ok_or_else(|| TxError::missing(key))
}

/// 3201 医药机构费用结算对总账: the hospital's totals for one bucket against the center's.
pub fn totals(state: &State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let scope = Scope::read(ctx, data, true)?;
    let refunded = refund_flag(data)?;
    let count_text = req_text(data, "fixmedins_setl_cnt")?;
    let count =
        count_text.parse().map_err(|_| TxError::new("fixmedins_setl_cnt 格式错误", format!("fixmedins_setl_cnt '{count_text}'")))?;
    let theirs = Totals {
        medfee_sumamt: yuan(data, "medfee_sumamt")?,
        fund_pay_sumamt: yuan(data, "fund_pay_sumamt")?,
        acct_pay: yuan(data, "acct_pay")?,
        count,
    };
    let mut ours = Totals::default();
    state.settlements.iter().filter(|s| s.cancelled == refunded && scope.covers(s)).for_each(|s| ours.add(s));
    let (stmt_rslt, dscr) = match ours == theirs {
        true => ("0", "对账平".to_string()),
        false => (
            "1",
            format!(
                "对账不平: 中心 {} 笔 医疗费 {} 基金 {} 个账 {}",
                ours.count,
                y(ours.medfee_sumamt),
                y(ours.fund_pay_sumamt),
                y(ours.acct_pay)
            ),
        ),
    };
    Ok(json!({"stmtinfo": {
        "setl_optins": scope.setl_optins, "stmt_rslt": stmt_rslt, "stmt_rslt_dscr": dscr,
        // [A] the center's own totals, so a hospital sees how far apart they are.
        "medfee_sumamt": y(ours.medfee_sumamt), "fund_pay_sumamt": y(ours.fund_pay_sumamt), "acct_pay": y(ours.acct_pay),
        "fixmedins_setl_cnt": ours.count,
    }}))
}

fn y(fen: Fen) -> String {
    fen.to_yuan_string()
}

/// 9101 文件上传: stores a file for a later transaction; answers its `file_qury_no`.
pub fn upload(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let input = ctx.env.input.get("fsUploadIn").ok_or_else(|| TxError::missing("fsUploadIn"))?;
    let content = input.get("in").and_then(Value::as_str).ok_or_else(|| TxError::missing("in"))?;
    let filename = req_text(input, "filename")?;
    if content.len() > MAX_FILE_BYTES {
        return Err(TxError::new("文件过大", format!("the file has {} bytes, at most {MAX_FILE_BYTES}", content.len())));
    }
    let fixmedins_code = ctx.env.fixmedins_code.clone();
    let no = state.next_seq();
    state.files.store(no, StoredFile { filename: filename.clone(), fixmedins_code, content: content.to_string() });
    Ok(json!({"file_qury_no": format!("F{no}"), "filename": filename, "dld_endtime": download_deadline(ctx)}))
}

/// [A] a file may be fetched until the end of the day it was stored.
fn download_deadline(ctx: &Ctx) -> String {
    format!("{} 23:59:59", ctx.now.date())
}

/// 9102 文件下载: a stored file, to the hospital that owns it.
pub fn download(state: &State, ctx: &Ctx) -> Result<Value, TxError> {
    let input = ctx.env.input.get("fsDownloadIn").ok_or_else(|| TxError::missing("fsDownloadIn"))?;
    let file = state.files.get_owned(&req_text(input, "file_qury_no")?, &ctx.env.fixmedins_code)?;
    Ok(json!({"filename": file.filename, "content": file.content}))
}

/// One line of the hospital's uploaded detail.
struct DetailLine {
    setl_id: String,
    mdtrt_id: String,
    psn_no: String,
    medfee_sumamt: Fen,
    fund_pay_sumamt: Fen,
    acct_pay: Fen,
    refunded: bool,
}

fn parse_detail(content: &str) -> Result<Vec<DetailLine>, TxError> {
    let bad = |n: usize, why: &str| TxError::new(&format!("明细文件第{n}行格式错误"), format!("detail file line {n}: {why}"));
    let amount = |n: usize, text: &str| Fen::parse_yuan(text).map_err(|e| bad(n, &format!("'{text}': {e}")));
    let mut lines = Vec::new();
    for (i, row) in content.lines().enumerate().filter(|(_, r)| !r.trim().is_empty()) {
        let n = i + 1;
        let f: Vec<&str> = row.split('\t').collect();
        let [setl_id, mdtrt_id, psn_no, medfee, fund, acct, flag] = f[..] else {
            return Err(bad(n, &format!("{} fields, expected 7", f.len())));
        };
        let refunded = match flag {
            "0" => false,
            "1" => true,
            _ => return Err(bad(n, "refd_setl_flag is not 0 or 1")),
        };
        let (setl_id, mdtrt_id, psn_no) = (setl_id.to_string(), mdtrt_id.to_string(), psn_no.to_string());
        let (medfee_sumamt, fund_pay_sumamt, acct_pay) = (amount(n, medfee)?, amount(n, fund)?, amount(n, acct)?);
        lines.push(DetailLine { setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt, acct_pay, refunded });
    }
    Ok(lines)
}

/// 3202 医药机构费用结算对明细账: joins the uploaded detail with the center's settlements and
/// stores `result.txt` (one tab-separated line per settlement on either side) for 9102.
pub fn detail(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let scope = Scope::read(ctx, data, false)?;
    let upload = state.files.get_owned(&req_text(data, "file_qury_no")?, &ctx.env.fixmedins_code)?;
    let hospital = parse_detail(&upload.content)?;
    let ours: Vec<&Settlement> = state.settlements.iter().filter(|s| scope.covers(s)).collect();
    let result = result_file(&hospital, &ours);
    let consistent = !result.lines().any(|l| l.split('\t').nth(4) != Some("0"));
    let no = state.next_seq();
    let fixmedins_code = ctx.env.fixmedins_code.clone();
    state.files.store(no, StoredFile { filename: "result.txt".into(), fixmedins_code, content: result });
    Ok(json!({
        "fileinfo": {"file_qury_no": format!("F{no}"), "filename": "result.txt", "dld_endtime": download_deadline(ctx)},
        "stmtinfo": {"setl_optins": scope.setl_optins, "stmt_rslt": if consistent { "0" } else { "1" }},
    }))
}

/// result.txt: `psn_no, mdtrt_id, setl_id, msgid, stmt_rslt, refd_setl_flag, memo, medfee_sumamt,
/// fund_pay_sumamt, acct_pay`; the amounts are the center's where it has the settlement.
fn result_file(hospital: &[DetailLine], ours: &[&Settlement]) -> String {
    let by_id: HashMap<&str, &Settlement> = ours.iter().map(|s| (s.setl_id.as_str(), *s)).collect();
    let mut seen = std::collections::HashSet::with_capacity(hospital.len());
    let mut out = String::new();
    let flag = |b: bool| if b { "1" } else { "0" };
    for line in hospital {
        seen.insert(line.setl_id.as_str());
        let (rslt, memo, psn, mdtrt, amounts, refunded) = match by_id.get(line.setl_id.as_str()) {
            None => {
                ("2", "医院单边", &line.psn_no, &line.mdtrt_id, (line.medfee_sumamt, line.fund_pay_sumamt, line.acct_pay), line.refunded)
            }
            Some(s) => {
                let a = &s.amounts;
                let same = (a.medfee_sumamt, a.fund_pay_sumamt, a.acct_pay, s.cancelled)
                    == (line.medfee_sumamt, line.fund_pay_sumamt, line.acct_pay, line.refunded);
                let (rslt, memo) = if same { ("0", "一致") } else { ("3", "金额或退费标志不符") };
                (rslt, memo, &s.psn_no, &s.mdtrt_id, (a.medfee_sumamt, a.fund_pay_sumamt, a.acct_pay), s.cancelled)
            }
        };
        push_line(&mut out, [psn, mdtrt, &line.setl_id], rslt, flag(refunded), memo, amounts);
    }
    for s in ours.iter().filter(|s| !seen.contains(s.setl_id.as_str())) {
        let a = &s.amounts;
        push_line(
            &mut out,
            [&s.psn_no, &s.mdtrt_id, &s.setl_id],
            "1",
            flag(s.cancelled),
            "医保单边",
            (a.medfee_sumamt, a.fund_pay_sumamt, a.acct_pay),
        );
    }
    out
}

fn push_line(
    out: &mut String,
    [psn_no, mdtrt_id, setl_id]: [&String; 3],
    rslt: &str,
    refd: &str,
    memo: &str,
    (medfee, fund, acct): (Fen, Fen, Fen),
) {
    out.push_str(&format!("{psn_no}\t{mdtrt_id}\t{setl_id}\t\t{rslt}\t{refd}\t{memo}\t{}\t{}\t{}\n", y(medfee), y(fund), y(acct)));
}
