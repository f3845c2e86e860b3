//! 零星报销 — a claim for a bill the person paid in full elsewhere (at a hospital that did not
//! settle with insurance, or out of the area without direct settlement). The national interface has
//! no hospital transaction for it (the center's own counter business does it), so this sandbox
//! names its own, local and sandbox-only: 9903 submits a claim (adjudicated at once by the same
//! engine as a settlement; the fund's share paid to the person's bank card, with a payment id),
//! 9904 reads one back.
//!
//! A claim is keyed by the caller's `claim_no`: a second 9903 under it answers the first's record,
//! so a claim is paid at most once whatever the retries. A bill (`fixmedins_code`, `bill_no`) is
//! claimed at most once, under whichever claim_no came first.

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::fees::parse_bill_line;
use crate::input::{check_same, opt_text, opt_yuan, req_text};
use crate::lookup::{insured, special_disease_registered};
use crate::online::ManualClaim;
use crate::state::State;
use serde_json::{json, Value};
use wugan_domain::money::Fen;
use wugan_policy::{adjudicate, Acct, Claim, ClaimPerson, ClaimVisit, Date, FeeLine};

/// Most lines one bill may carry.
const MAX_BILL_LINES: usize = 500;

/// 9903: adjudicates the bill and pays the fund's share, once per claim_no.
pub fn submit(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let claim_no = req_text(data, "claim_no")?;
    if let Some(claim) = state.online.claim(&claim_no) {
        check_same(data, "psn_no", &claim.psn_no)?;
        return Ok(claim.reply.clone());
    }
    let bill = read_bill(data)?;
    if let Some(other) = state.online.claims.iter().find(|c| c.fixmedins_code == bill.fixmedins_code && c.bill_no == bill.bill_no) {
        return Err(TxError::new(
            "该票据已申请报销",
            format!("bill {} of {} is already claimed ({})", bill.bill_no, bill.fixmedins_code, other.claim_no),
        ));
    }
    let account = insured(state, &bill.psn_no)?;
    let year = bill.date.year;
    let claim = Claim {
        person: ClaimPerson {
            insutype: account.person.insutype.clone(),
            psn_type: account.person.psn_type.clone(),
            age: Some(account.person.age_on(bill.date)),
            insuplc_admdvs: Some(account.person.insuplc_admdvs.clone()),
            idet_types: account.person.idet_types.clone(),
        },
        visit: ClaimVisit {
            med_type: bill.med_type.clone(),
            hosp_grade: state.grade_of(&bill.fixmedins_code),
            mdtrtarea_admvs: Some(ctx.admdvs.to_string()),
            date: bill.date,
            admissions_this_year: None,
            admission_dedc_paid: Fen::ZERO,
        },
        ytd: account.ytd.get(&year).copied().unwrap_or_default(),
        // Paid in full at the counter: the personal account is not touched again.
        acct: Acct { used: false, balc: Fen::ZERO, mulaid_balc: Fen::ZERO },
        fees: bill.lines,
    };
    special_disease_registered(state, &bill.psn_no, &bill.med_type, bill.date)?;
    let adj = adjudicate(&claim, ctx.policy)?;
    let s = adj.setlinfo;
    if s.medfee_sumamt != bill.medfee_sumamt {
        return Err(TxError::new(
            "医疗费总额与明细合计不符",
            format!(
                "medfee_sumamt {} differs from the lines' total {}",
                bill.medfee_sumamt.to_yuan_string(),
                s.medfee_sumamt.to_yuan_string()
            ),
        ));
    }
    let paid = s.fund_pay_sumamt.is_positive();
    let payment_id = paid.then(|| format!("PAY{}{}{:010}", ctx.admdvs, ctx.now.compact(), state.next_seq()));
    let reply = json!({"data": {
        "claim_no": claim_no, "psn_no": bill.psn_no, "fixmedins_code": bill.fixmedins_code, "bill_no": bill.bill_no,
        "claim_stas": if paid { "paid" } else { "adjudicated" },
        "medfee_sumamt": s.medfee_sumamt.to_yuan_string(), "fund_pay_sumamt": s.fund_pay_sumamt.to_yuan_string(),
        "psn_part_amt": s.psn_part_amt.to_yuan_string(), "payment_id": payment_id, "bank_card_tail": bill.card_tail,
        "decided_at": ctx.now.datetime(), "setldetail": adj.setldetail,
    }});
    if let Some(account) = state.accounts.get_mut(&bill.psn_no) {
        account.ytd.insert(year, adj.ytd);
    }
    state.online.claims.push(ManualClaim {
        claim_no,
        psn_no: bill.psn_no,
        fixmedins_code: bill.fixmedins_code,
        bill_no: bill.bill_no,
        reply: reply.clone(),
    });
    Ok(reply)
}

/// 9904: a claim as the center recorded it.
pub fn query(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let claim_no = req_text(data, "claim_no")?;
    let claim = state.online.claim(&claim_no).ok_or_else(|| TxError::new("报销申请不存在", format!("no claim {claim_no}")))?;
    check_same(data, "psn_no", &claim.psn_no)?;
    Ok(claim.reply.clone())
}

/// The bill as the claim states it.
struct Bill {
    psn_no: String,
    fixmedins_code: String,
    bill_no: String,
    med_type: String,
    date: Date,
    medfee_sumamt: Fen,
    card_tail: String,
    lines: Vec<FeeLine>,
}

fn read_bill(data: &Value) -> Result<Bill, TxError> {
    let card = req_text(data, "bank_card_no")?;
    if card.len() < 12 || card.len() > 19 || !card.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TxError::new("银行卡号格式错误", "bank_card_no must be 12 to 19 digits"));
    }
    let date_text = req_text(data, "setl_date")?;
    let date =
        Date::parse(&date_text).ok_or_else(|| TxError::new("setl_date 格式错误", format!("setl_date '{date_text}' is not yyyy-MM-dd")))?;
    let med_type = opt_text(data, "med_type").unwrap_or_else(|| "11".into());
    if !matches!(med_type.as_str(), "11" | "13" | "14" | "19") {
        return Err(TxError::new(
            "零星报销仅限门诊费用",
            format!("med_type {med_type}: manual claims here are outpatient (11, 13, 14, 19)"),
        ));
    }
    let raw = match data.get("feedetail") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_BILL_LINES => items,
        _ => return Err(TxError::new("缺少费用明细 feedetail", format!("feedetail must list 1 to {MAX_BILL_LINES} lines"))),
    };
    let lines = raw.iter().enumerate().map(|(i, line)| parse_bill_line(i, line)).collect::<Result<Vec<_>, _>>()?;
    Ok(Bill {
        psn_no: req_text(data, "psn_no")?,
        fixmedins_code: req_text(data, "fixmedins_code")?,
        bill_no: req_text(data, "bill_no")?,
        med_type,
        date,
        medfee_sumamt: opt_yuan(data, "medfee_sumamt")?.ok_or_else(|| TxError::missing("medfee_sumamt"))?,
        card_tail: card[card.len() - 4..].to_string(),
        lines,
    })
}
