//! A human-readable account of an adjudication (`wugan adjudicate --explain`): one sentence per
//! step, in the order the engine computes — line classes → 起付线 → 统筹 ratio → cap → above-cap
//! layer → 大病保险 → 医疗救助 → personal account → cash. Pure: it reads only the [`Adjudication`].

use crate::catalogue::ItemClass;
use crate::line::LineResult;
use crate::setl::{Adjudication, Basis, SetlAmounts};
use wugan_domain::money::{Fen, Ratio};

/// Explains every step of `adj`, amounts in yuan.
pub fn explain(adj: &Adjudication) -> Vec<String> {
    let s = &adj.setlinfo;
    let b = &adj.basis;
    let mut out = vec![format!(
        "Policy {} ({}), region {}, insutype {}, group {}, benefit {}, hospital grade {}.",
        adj.trace.policy,
        adj.trace.policy_status,
        adj.trace.admdvs,
        adj.trace.insutype,
        adj.trace.psn_group,
        adj.trace.benefit,
        b.hosp_grade
    )];
    out.extend(adj.lines.iter().enumerate().map(|(i, l)| line_step(i, l)));
    out.push(totals_step(s));
    out.push(deductible_step(s, b));
    out.push(ratio_step(s, b));
    out.push(cap_step(s, b));
    out.extend(above_step(b));
    out.extend(big_illness_step(b));
    out.extend(assistance_step(s, b));
    out.push(account_step(s, b));
    out.push(format!(
        "Cash (个人现金支付): patient share {} − account {} = {} to pay at the window, by bank or credit line.",
        y(s.psn_part_amt),
        y(s.acct_pay),
        y(s.psn_cash_pay)
    ));
    out
}

fn y(f: Fen) -> String {
    f.to_yuan_string()
}

fn pct(r: Ratio) -> String {
    let bp = r.0;
    if bp % 100 == 0 {
        format!("{} %", bp / 100)
    } else {
        format!("{}.{:02} %", bp / 100, bp % 100)
    }
}

fn line_step(i: usize, l: &LineResult) -> String {
    let code = l.med_list_codg.as_deref().unwrap_or("?");
    let class = match ItemClass::parse(&l.chrgitm_lv) {
        Some(ItemClass::A) => "甲类 (class A, fully in scope)",
        Some(ItemClass::B) => "乙类 (class B, part first self-paid)",
        Some(ItemClass::C) | None => "丙类 (class C, fully self-paid)",
    };
    let mut text = format!("Line {} {code}: {} {class}", i + 1, y(l.det_item_fee_sumamt));
    if l.fulamt_ownpay_amt != Fen::ZERO {
        text.push_str(&format!("; fully self-paid {}", y(l.fulamt_ownpay_amt)));
    }
    if l.overlmt_amt != Fen::ZERO {
        text.push_str(&format!("; above the price cap {}", y(l.overlmt_amt)));
    }
    if l.preselfpay_amt != Fen::ZERO {
        text.push_str(&format!("; first self-paid {} ({} of the eligible amount)", y(l.preselfpay_amt), pct(l.selfpay_prop)));
    }
    text.push_str(&format!("; in scope {}.", y(l.inscp_scp_amt)));
    text
}

fn totals_step(s: &SetlAmounts) -> String {
    format!(
        "Totals: medical fees (医疗费总额) {} = fully self-paid {} + above price caps {} + first self-paid {} + in scope (符合范围) {}.",
        y(s.medfee_sumamt),
        y(s.fulamt_ownpay_amt),
        y(s.overlmt_selfpay),
        y(s.preselfpay_amt),
        y(s.inscp_scp_amt)
    )
}

fn deductible_step(s: &SetlAmounts, b: &Basis) -> String {
    let standard = match b.deductible_kind.as_ref() {
        "none" => return "Deductible (起付线): none for this benefit.".into(),
        "per_year" => format!("yearly standard {}", y(b.dedc_std)),
        "per_admission_first" => format!("first admission this year, standard {}", y(b.dedc_std)),
        _ => format!("admission no. {} this year (repeat), standard {}", b.admission, y(b.dedc_std)),
    };
    format!(
        "Deductible (起付线): {standard}, {} still to meet; charged now {} (the patient pays it), leaving {} as the pooling base.",
        y(b.dedc_left),
        y(s.act_pay_dedc),
        y((s.inscp_scp_amt - s.act_pay_dedc).max(Fen::ZERO))
    )
}

fn ratio_step(s: &SetlAmounts, b: &Basis) -> String {
    format!(
        "Pooling (统筹基金): base {} × {} = {}.",
        y((s.inscp_scp_amt - s.act_pay_dedc).max(Fen::ZERO)),
        pct(s.pool_prop_selfpay),
        y(b.hifp_uncapped)
    )
}

fn cap_step(s: &SetlAmounts, b: &Basis) -> String {
    match b.hifp_room {
        None => format!("Cap (最高支付限额): none; the pooling fund pays {}.", y(s.hifp_pay)),
        Some(room) if s.hifp_pay < b.hifp_uncapped => format!(
            "Cap (最高支付限额): only {} left under the cap, so the pooling fund pays {} instead of {}.",
            y(room),
            y(s.hifp_pay),
            y(b.hifp_uncapped)
        ),
        Some(room) => format!("Cap (最高支付限额): {} left under the cap, not reached; the pooling fund pays {}.", y(room), y(s.hifp_pay)),
    }
}

fn above_step(b: &Basis) -> Option<String> {
    let ratio = b.above_ratio?;
    let paid = b.above_paid;
    if b.above_excess == Fen::ZERO {
        return Some("Above-cap layer (大额/大病补助): the basic cap was not reached, nothing to pay.".into());
    }
    Some(format!(
        "Above-cap layer (大额/大病补助): the base beyond the cap {} × {} → {}{}.",
        y(b.above_excess),
        pct(ratio),
        y(paid),
        b.above_room.map_or(String::new(), |r| format!(" (room left {})", y(r)))
    ))
}

fn big_illness_step(b: &Basis) -> Option<String> {
    if b.big_burden == Fen::ZERO {
        return None;
    }
    Some(format!(
        "Serious illness insurance (大病保险): this visit's in-scope personal burden {} counts toward the year's; it pays {}{}.",
        y(b.big_burden),
        y(b.big_paid),
        b.big_room.map_or(String::new(), |r| format!(" (annual room left {})", y(r)))
    ))
}

fn assistance_step(s: &SetlAmounts, b: &Basis) -> Option<String> {
    let identity = b.maf_identity.as_deref()?;
    Some(format!(
        "Medical assistance (医疗救助, {identity}): in-scope personal burden {} × {} → {}{}.",
        y(b.maf_burden),
        pct(b.maf_ratio),
        y(s.maf_pay),
        b.maf_room.map_or(String::new(), |r| format!(" (annual room left {})", y(r)))
    ))
}

fn account_step(s: &SetlAmounts, b: &Basis) -> String {
    let head = format!("Patient share (个人负担) = fees {} − funds {} = {}.", y(s.medfee_sumamt), y(s.fund_pay_sumamt), y(s.psn_part_amt));
    if !b.acct_used {
        return format!("{head} Personal account (个人账户) not used.");
    }
    let own = s.acct_pay - s.acct_mulaid_pay;
    let mut text = format!("{head} Personal account (个人账户, balance {}) pays {}, leaving {}", y(b.acct_balc), y(own), y(s.balc));
    if s.acct_mulaid_pay != Fen::ZERO || b.mulaid_balc != Fen::ZERO {
        text.push_str(&format!("; family mutual aid (家庭共济, available {}) pays {}", y(b.mulaid_balc), y(s.acct_mulaid_pay)));
    }
    text.push('.');
    text
}
