//! The benefit calculation for one visit (docs/policy-rules.md §1):
//! lines → 起付线 → 统筹 (ratio, annual cap) → above-cap layer → patient share → personal account.
//!
//! Overflow: the claim's amounts are held to ±[`MAX_AMOUNT_FEN`] ([`Claim::check`], `split_line`)
//! and the line totals are summed with checked additions and held to it too, so every product
//! and difference below stays far inside `i64` (products are taken in `i128`).

use crate::claim::{max_yuan, Claim, Ytd};
use crate::line::{split_line, LineResult};
use crate::policy::{AboveCapFund, Accumulator, AssistanceRule, Benefit, BigIllness, Deductible, FundCode, Grade, PolicySet, Scheme};
use crate::setl::{Adjudication, Basis, SetlAmounts, SetlDetail, Trace};
use crate::{PolicyError, MAX_AMOUNT_FEN};
use wugan_domain::money::{Fen, Ratio};

/// Adjudicates one claim against a policy set. Pure: the same claim and set always give the same
/// result, and the result holds docs/national-interface.md §2 invariants 1–4 and the `setldetail`
/// sums (an item for every fund share, and for the account payment), checked before returning.
pub fn adjudicate(claim: &Claim, policy: &PolicySet) -> Result<Adjudication, PolicyError> {
    claim.check()?;
    let admdvs = claim.person.insuplc_admdvs.as_deref().or(claim.visit.mdtrtarea_admvs.as_deref()).ok_or(PolicyError::NoRegion)?;
    let group = policy.group_of(&claim.person.psn_type)?;
    let scheme = policy.select(admdvs, &claim.person.insutype, group, claim.visit.date)?;
    let benefit_name = policy.benefit_name(&claim.visit.med_type)?;
    let benefit = scheme.benefits.get(benefit_name).ok_or_else(|| PolicyError::NoBenefit {
        benefit: benefit_name.to_string(),
        med_type: claim.visit.med_type.clone(),
        insutype: scheme.insutype.clone(),
        group: group.as_str().to_string(),
    })?;
    check_account(claim, scheme)?;
    let mut lines = Vec::with_capacity(claim.fees.len());
    for (i, fee) in claim.fees.iter().enumerate() {
        lines.push(split_line(i, fee, policy)?);
    }
    let totals = Totals::of(&lines)?;
    let grade = Grade::of(claim.visit.hosp_grade)
        .ok_or_else(|| PolicyError::BadClaim(format!("visit.hosp_grade {} is not 0..3", claim.visit.hosp_grade)))?;
    let admission = claim.visit.admissions_this_year.unwrap_or(1);
    let dedc_left = deductible_left(benefit, grade, &claim.ytd, admission, claim.visit.admission_dedc_paid);
    let mut pooled = pool(benefit, grade, totals.inscp, &claim.ytd, dedc_left);
    let assistance = policy.assistance(admdvs, benefit_name, &claim.person.idet_types);
    pooled.maf = assistance.map(|(a, rule)| assist(&a.fund, rule, &pooled, &claim.ytd));
    let setlinfo = shares(&totals, &pooled, claim);
    setlinfo.check().map_err(|broken| PolicyError::Invariant(broken.join("; ")))?;
    let basis = basis(benefit, grade, admission, dedc_left, &pooled, claim);
    let setldetail = detail(scheme, &pooled, &setlinfo)?;
    check_detail(scheme, &setldetail, &setlinfo)?;
    Ok(Adjudication {
        setldetail,
        ytd: ytd_after(&claim.ytd, benefit, &pooled)?,
        basis,
        lines,
        setlinfo,
        trace: Trace {
            policy: policy.name.clone(),
            policy_status: scheme.status.clone().unwrap_or_else(|| policy.status.clone()),
            admdvs: admdvs.to_string(),
            insutype: scheme.insutype.clone(),
            psn_group: group.as_str().to_string(),
            benefit: benefit_name.to_string(),
            scheme_effective_from: scheme.effective_from.to_string(),
        },
    })
}

/// Visit totals of the line splits.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    medfee: Fen,
    fulamt: Fen,
    overlmt: Fen,
    preselfpay: Fen,
    inscp: Fen,
}

impl Totals {
    /// Checked sums, each held to ±[`MAX_AMOUNT_FEN`]; a negative total is refused (a refund line
    /// is settled with the charge it returns, never alone).
    fn of(lines: &[LineResult]) -> Result<Totals, PolicyError> {
        let mut t = Totals::default();
        for l in lines {
            t = Totals {
                medfee: add("the lines' total", t.medfee, l.det_item_fee_sumamt)?,
                fulamt: add("the lines' total", t.fulamt, l.fulamt_ownpay_amt)?,
                overlmt: add("the lines' total", t.overlmt, l.overlmt_amt)?,
                preselfpay: add("the lines' total", t.preselfpay, l.preselfpay_amt)?,
                inscp: add("the lines' total", t.inscp, l.inscp_scp_amt)?,
            };
        }
        if [t.medfee, t.fulamt, t.overlmt, t.preselfpay, t.inscp].iter().any(|f| f.0.abs() > MAX_AMOUNT_FEN) {
            return Err(PolicyError::BadClaim(format!(
                "the fee lines total {}, beyond the largest amount the engine takes ({})",
                t.medfee.to_yuan_string(),
                max_yuan()
            )));
        }
        if t.medfee.is_negative() {
            return Err(PolicyError::BadClaim(format!(
                "the fee lines total {}: a refund line is settled with the charge it returns, never alone",
                t.medfee.to_yuan_string()
            )));
        }
        Ok(t)
    }
}

/// `a + b`, or a clear error naming `what` when the sum leaves `i64` (never a wrapped figure).
fn add(what: &str, a: Fen, b: Fen) -> Result<Fen, PolicyError> {
    a.checked_add(b).ok_or_else(|| PolicyError::BadClaim(format!("{what} is beyond the largest amount the engine takes ({})", max_yuan())))
}

/// A scheme without a personal account of its own (residents: no `funds.acct`) cannot have a
/// balance in one; its account payment can only be 家庭共济, paid from a bound family member's
/// employee account (国办发〔2021〕14号, docs/policy-rules.md §5) under `funds.mulaid`.
fn check_account(claim: &Claim, scheme: &Scheme) -> Result<(), PolicyError> {
    let at = || format!("insutype {} of {} ({})", scheme.insutype, scheme.admdvs, scheme.psn_group.as_str());
    if scheme.funds.acct.is_none() && claim.acct.balc.is_positive() {
        return Err(PolicyError::BadClaim(format!(
            "{} has no personal account of its own, so acct.balc must be 0 (a family member's employee account pays through acct.mulaid_balc, 家庭共济)",
            at()
        )));
    }
    if claim.acct.used && claim.acct.mulaid_balc.is_positive() && mulaid_fund(scheme).is_none() {
        return Err(PolicyError::BadClaim(format!("{} names no fund for 家庭共济 (funds.mulaid), so acct.mulaid_balc cannot pay", at())));
    }
    Ok(())
}

/// The fund 家庭共济 pays under: `funds.mulaid`, else the scheme's own account.
fn mulaid_fund(scheme: &Scheme) -> Option<&FundCode> {
    scheme.funds.mulaid.as_ref().or(scheme.funds.acct.as_ref())
}

/// What the pooling funds pay, and the limits they were held to.
#[derive(Clone, Debug)]
struct Pooled {
    inscp: Fen,
    dedc: Fen,
    /// 统筹 base: in-scope amount above the deductible.
    base: Fen,
    ratio: Ratio,
    hifp: Fen,
    /// Room left under the annual / per-visit cap before this visit; `None` = unlimited.
    hifp_room: Option<Fen>,
    above: Option<AboveLayer>,
    big: Option<BigPaid>,
    maf: Option<MafPaid>,
}

/// 医疗救助 on the in-scope burden the insurance funds left.
#[derive(Clone, Debug)]
struct MafPaid {
    fund: FundCode,
    identity: String,
    ratio: Ratio,
    burden: Fen,
    paid: Fen,
    room: Option<Fen>,
}

/// 大病保险 on this visit's in-scope personal burden.
#[derive(Clone, Debug)]
struct BigPaid {
    /// In-scope amount the basic funds left to the person (added to `ytd.hifmi_base`).
    burden: Fen,
    paid: Fen,
    room: Option<Fen>,
}

#[derive(Clone, Debug)]
struct AboveLayer {
    fund: AboveCapFund,
    ratio: Ratio,
    /// The base left over once the basic fund hit its cap.
    excess: Fen,
    paid: Fen,
    room: Option<Fen>,
}

fn pool(benefit: &Benefit, grade: Grade, inscp: Fen, ytd: &Ytd, dedc_left: Fen) -> Pooled {
    let dedc = inscp.max(Fen::ZERO).min(dedc_left);
    let base = (inscp - dedc).max(Fen::ZERO);
    let ratio = benefit.ratio.at(grade);
    let hifp_room = hifp_room(benefit, ytd);
    let uncapped = ratio.apply(base);
    // What the basic fund pays for this visit without the annual cap: the per-visit cap's holdback
    // is the person's, and no layer pays it.
    let per_visit = benefit.per_visit_cap.map_or(uncapped, |cap| uncapped.min(cap));
    let hifp = hifp_room.map_or(uncapped, |room| uncapped.min(room));
    let above = benefit.above_cap.as_ref().map(|layer| {
        let room = layer.annual_cap.map(|cap| (cap - above_paid(layer.fund, ytd)).max(Fen::ZERO));
        let exact = above_cap_amount(base, ratio, hifp, per_visit, benefit.per_visit_cap, layer.ratio);
        let paid = room.map_or(exact, |r| exact.min(r)).min(base - hifp);
        let excess = if ratio.0 > 0 && hifp < per_visit {
            let top = if per_visit < uncapped { covered_base(per_visit, ratio) } else { base };
            top - covered_base(hifp, ratio)
        } else {
            Fen::ZERO
        };
        AboveLayer { fund: layer.fund, ratio: layer.ratio, excess: excess.max(Fen::ZERO), paid: paid.max(Fen::ZERO), room }
    });
    let basic = hifp + above.as_ref().map_or(Fen::ZERO, |a| a.paid);
    let big = benefit.big_illness.as_ref().map(|b| big_illness(b, (inscp - basic).max(Fen::ZERO), ytd));
    Pooled { inscp, dedc, base, ratio, hifp, hifp_room, above, big, maf: None }
}

impl Pooled {
    /// What the insurance funds (统筹, 大额/大病) pay, before assistance.
    fn insurance_paid(&self) -> Fen {
        self.hifp + self.above.as_ref().map_or(Fen::ZERO, |a| a.paid) + self.big.as_ref().map_or(Fen::ZERO, |b| b.paid)
    }
}

/// 医疗救助: `ratio` of the in-scope personal burden (in scope less the insurance funds), held to
/// what is left of the annual cap.
fn assist(fund: &FundCode, rule: &AssistanceRule, p: &Pooled, ytd: &Ytd) -> MafPaid {
    let burden = (p.inscp - p.insurance_paid()).max(Fen::ZERO);
    let room = rule.annual_cap.map(|cap| (cap - ytd.maf_paid).max(Fen::ZERO));
    let uncapped = rule.ratio.apply(burden);
    let paid = room.map_or(uncapped, |r| uncapped.min(r)).min(burden);
    MafPaid { fund: fund.clone(), identity: rule.name.clone(), ratio: rule.ratio, burden, paid, room }
}

/// Σ over layers of ratio × (the part of this visit's burden inside the layer), exact in fen × basis
/// points and rounded once (half up), so the payment never grows faster than the burden.
fn big_illness(b: &BigIllness, burden: Fen, ytd: &Ytd) -> BigPaid {
    let (start, end) = (ytd.hifmi_base, ytd.hifmi_base + burden);
    let mut exact: i128 = 0;
    let mut lower = b.threshold;
    for layer in &b.layers {
        let upper = layer.upto.unwrap_or(Fen(i64::MAX));
        let (lo, hi) = (start.max(lower), end.min(upper));
        if hi > lo {
            exact += (hi - lo).0 as i128 * layer.ratio.0 as i128;
        }
        lower = upper;
    }
    let uncapped = Fen(((exact + 5_000) / 10_000) as i64);
    let room = b.annual_cap.map(|cap| (cap - ytd.hifmi_paid).max(Fen::ZERO));
    let paid = room.map_or(uncapped, |r| uncapped.min(r)).min(burden);
    BigPaid { burden, paid, room }
}

/// 起付线 still to meet: the year's rest (per year), or this admission's rest (per admission: the
/// first admission's or a repeat's standard, less what interim settlements of it already charged).
fn deductible_left(benefit: &Benefit, grade: Grade, ytd: &Ytd, admission: u32, admission_paid: Fen) -> Fen {
    match &benefit.deductible {
        Deductible::None => Fen::ZERO,
        Deductible::PerYear { amount } => {
            let paid = match benefit.accumulator {
                Accumulator::Main => ytd.dedc_paid,
                Accumulator::Outpatient => ytd.otp_dedc_paid,
            };
            (amount.at(grade) - paid).max(Fen::ZERO)
        }
        Deductible::PerAdmission { first, repeat } => {
            let standard = if admission <= 1 { first.at(grade) } else { repeat.at(grade) };
            (standard - admission_paid).max(Fen::ZERO)
        }
    }
}

fn deductible_std(benefit: &Benefit, grade: Grade, admission: u32) -> Fen {
    match &benefit.deductible {
        Deductible::None => Fen::ZERO,
        Deductible::PerYear { amount } => amount.at(grade),
        Deductible::PerAdmission { first, .. } if admission <= 1 => first.at(grade),
        Deductible::PerAdmission { repeat, .. } => repeat.at(grade),
    }
}

fn basis(benefit: &Benefit, grade: Grade, admission: u32, dedc_left: Fen, p: &Pooled, claim: &Claim) -> Basis {
    let kind = match (&benefit.deductible, admission) {
        (Deductible::None, _) => "none",
        (Deductible::PerYear { .. }, _) => "per_year",
        (Deductible::PerAdmission { .. }, 0 | 1) => "per_admission_first",
        (Deductible::PerAdmission { .. }, _) => "per_admission_repeat",
    };
    Basis {
        hosp_grade: match grade {
            Grade::One => 1,
            Grade::Two => 2,
            Grade::Three => 3,
        },
        deductible_kind: std::borrow::Cow::Borrowed(kind),
        admission,
        dedc_std: deductible_std(benefit, grade, admission),
        dedc_left,
        hifp_uncapped: p.ratio.apply(p.base),
        hifp_room: p.hifp_room,
        above_ratio: p.above.as_ref().map(|a| a.ratio),
        above_excess: p.above.as_ref().map_or(Fen::ZERO, |a| a.excess),
        above_paid: p.above.as_ref().map_or(Fen::ZERO, |a| a.paid),
        above_room: p.above.as_ref().and_then(|a| a.room),
        big_paid: p.big.as_ref().map_or(Fen::ZERO, |b| b.paid),
        big_burden: p.big.as_ref().map_or(Fen::ZERO, |b| b.burden),
        big_room: p.big.as_ref().and_then(|b| b.room),
        maf_identity: p.maf.as_ref().map(|m| m.identity.clone()),
        maf_ratio: p.maf.as_ref().map_or(Ratio::ZERO, |m| m.ratio),
        maf_burden: p.maf.as_ref().map_or(Fen::ZERO, |m| m.burden),
        maf_room: p.maf.as_ref().and_then(|m| m.room),
        acct_used: claim.acct.used,
        acct_balc: claim.acct.balc,
        mulaid_balc: claim.acct.mulaid_balc,
    }
}

/// Room under the tighter of the annual cap (less what was paid this year) and the per-visit cap.
fn hifp_room(benefit: &Benefit, ytd: &Ytd) -> Option<Fen> {
    let paid = match benefit.accumulator {
        Accumulator::Main => ytd.hifp_paid,
        Accumulator::Outpatient => ytd.otp_hifp_paid,
    };
    let annual = benefit.annual_cap.map(|cap| (cap - paid).max(Fen::ZERO));
    match (annual, benefit.per_visit_cap) {
        (Some(a), Some(v)) => Some(a.min(v)),
        (a, v) => a.or(v),
    }
}

fn above_paid(fund: AboveCapFund, ytd: &Ytd) -> Fen {
    match fund {
        AboveCapFund::Hifob => ytd.hifob_paid,
        AboveCapFund::Hifmi => ytd.hifmi_paid,
    }
}

/// The above-cap layer (大额 / 大病, "above the basic cap", docs/policy-rules.md §1 step 3) pays
/// `above_ratio × (base − cap/ratio)`: the part of the base the basic fund would have covered, had
/// it no *annual* cap, beyond what that cap allows. `per_visit` is the basic payment without the
/// annual cap (ratio × base held to the per-visit cap): what a per-visit cap holds back stays the
/// person's, so a layer never pays it (no shipped or verified rule says otherwise; see
/// docs/policy-rules.md, open questions). Computed exactly as a fraction and rounded once, so the
/// total fund share grows by at most what the base grows (a new fee line never lowers the
/// patient's share, whatever the rounding).
fn above_cap_amount(base: Fen, ratio: Ratio, hifp: Fen, per_visit: Fen, per_visit_cap: Option<Fen>, above_ratio: Ratio) -> Fen {
    if ratio.0 == 0 || hifp >= per_visit {
        return Fen::ZERO;
    }
    // above = above_ratio × (min(ratio × base, per-visit cap) − hifp) / ratio, in basis points.
    let exact_bp = ratio.0 as i128 * base.0 as i128;
    let covered_bp = per_visit_cap.map_or(exact_bp, |cap| exact_bp.min(cap.0 as i128 * 10_000));
    let shortfall_bp = covered_bp - hifp.0 as i128 * 10_000;
    let numerator = above_ratio.0 as i128 * shortfall_bp.max(0);
    let denominator = 10_000 * ratio.0 as i128;
    Fen(((2 * numerator + denominator) / (2 * denominator)) as i64)
}

/// The base the capped basic payment corresponds to (for the trace only).
fn covered_base(hifp: Fen, ratio: Ratio) -> Fen {
    Fen(((hifp.0 as i128 * 10_000 + ratio.0 as i128 / 2) / ratio.0 as i128) as i64)
}

/// Patient share and how it is paid: personal account first (if chosen), then cash.
fn shares(t: &Totals, p: &Pooled, claim: &Claim) -> SetlAmounts {
    let (hifob, hifmi) = match &p.above {
        Some(a) if a.fund == AboveCapFund::Hifob => (a.paid, Fen::ZERO),
        Some(a) => (Fen::ZERO, a.paid),
        None => (Fen::ZERO, Fen::ZERO),
    };
    let hifmi = hifmi + p.big.as_ref().map_or(Fen::ZERO, |b| b.paid);
    let maf = p.maf.as_ref().map_or(Fen::ZERO, |m| m.paid);
    let fund = p.hifp + hifob + hifmi + maf;
    let psn_part = t.medfee - fund;
    let (own, mulaid) = account_pays(psn_part, &claim.acct);
    let acct_pay = own + mulaid;
    SetlAmounts {
        medfee_sumamt: t.medfee,
        fulamt_ownpay_amt: t.fulamt,
        overlmt_selfpay: t.overlmt,
        preselfpay_amt: t.preselfpay,
        inscp_scp_amt: t.inscp,
        act_pay_dedc: p.dedc,
        hifp_pay: p.hifp,
        pool_prop_selfpay: p.ratio,
        hifmi_pay: hifmi,
        hifob_pay: hifob,
        maf_pay: maf,
        fund_pay_sumamt: fund,
        psn_part_amt: psn_part,
        acct_pay,
        psn_cash_pay: psn_part - acct_pay,
        hosp_part_amt: Fen::ZERO,
        balc: claim.acct.balc - own,
        acct_mulaid_pay: mulaid,
        ..SetlAmounts::default()
    }
}

/// The personal account pays first from its own balance, then (家庭共济) from the bound family
/// member's; `acct_mulaid_pay` is the second part, inside `acct_pay` (invariant 3 stays
/// `psn_part_amt = acct_pay + psn_cash_pay`). Returns (own, mutual aid).
fn account_pays(psn_part: Fen, acct: &crate::claim::Acct) -> (Fen, Fen) {
    if !acct.used || !psn_part.is_positive() {
        return (Fen::ZERO, Fen::ZERO);
    }
    let own = psn_part.min(acct.balc.max(Fen::ZERO));
    let mulaid = (psn_part - own).min(acct.mulaid_balc.max(Fen::ZERO));
    (own, mulaid)
}

/// Yuan with two decimals, written without an intermediate `String` (same text as
/// `Fen::to_yuan_string`).
struct Y(Fen);

impl std::fmt::Display for Y {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = i128::from(self.0 .0);
        let sign = if v < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", v.abs() / 100, v.abs() % 100)
    }
}

/// A ratio with four decimals ("0.9000"), as `Ratio::to_decimal_string`.
struct R(Ratio);

impl std::fmt::Display for R {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = i128::from(self.0 .0);
        let sign = if v < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:04}", v.abs() / 10_000, v.abs() % 10_000)
    }
}

/// `format!` into one buffer sized for a settlement note (one allocation, no regrowth).
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::fmt::Write as _;
        let mut text = String::with_capacity(160);
        let _ = write!(text, $($arg)*);
        text
    }};
}

/// `setldetail`: an item for every fund that paid (统筹, 大额/大病, 医疗救助), then the personal
/// account: the own part under `funds.acct`, the 家庭共济 part under `funds.mulaid` (one item when
/// both are the same fund, as for an employee). A share with no fund code to report it under is an
/// error, never a silently missing item (validation and [`check_account`] keep it from happening).
fn detail(scheme: &Scheme, p: &Pooled, s: &SetlAmounts) -> Result<Vec<SetlDetail>, PolicyError> {
    let item = |code: &FundCode, inscp: Fen, room: Option<Fen>, paid: Fen, info: String| SetlDetail {
        fund_pay_type: code.code.clone(),
        fund_pay_type_name: code.name.clone(),
        inscp_scp_amt: inscp,
        crt_payb_lmt_amt: room,
        fund_payamt: paid,
        setl_proc_info: info,
    };
    let mut out = Vec::with_capacity(4);
    if p.inscp.is_positive() || p.hifp != Fen::ZERO {
        let info = match p.hifp_room {
            Some(r) => note!(
                "符合范围 {} − 起付线 {} = 统筹基数 {}; × 比例 {} → {} (限额余额 {})",
                Y(p.inscp),
                Y(p.dedc),
                Y(p.base),
                R(p.ratio),
                Y(p.hifp),
                Y(r)
            ),
            None => note!("符合范围 {} − 起付线 {} = 统筹基数 {}; × 比例 {} → {}", Y(p.inscp), Y(p.dedc), Y(p.base), R(p.ratio), Y(p.hifp)),
        };
        out.push(item(&scheme.funds.hifp, p.inscp, p.hifp_room, p.hifp, info));
    }
    if let Some(a) = p.above.as_ref().filter(|a| a.paid != Fen::ZERO) {
        let code = match a.fund {
            AboveCapFund::Hifob => scheme.funds.hifob.as_ref(),
            AboveCapFund::Hifmi => scheme.funds.hifmi.as_ref(),
        };
        let code = code.ok_or_else(|| no_code("above_cap", scheme))?;
        let info = note!("超限额基数 {} × 比例 {} → {}", Y(a.excess), R(a.ratio), Y(a.paid));
        out.push(item(code, a.excess, a.room, a.paid, info));
    }
    if let Some(b) = p.big.as_ref().filter(|b| b.paid != Fen::ZERO) {
        let code = scheme.funds.hifmi.as_ref().ok_or_else(|| no_code("big_illness (hifmi)", scheme))?;
        let info = note!("大病保险: 本次合规个人负担 {} → {}", Y(b.burden), Y(b.paid));
        out.push(item(code, b.burden, b.room, b.paid, info));
    }
    if let Some(m) = p.maf.as_ref().filter(|m| m.paid != Fen::ZERO) {
        let info = note!("医疗救助 ({}): 政策范围内个人负担 {} × 比例 {} → {}", m.identity, Y(m.burden), R(m.ratio), Y(m.paid));
        out.push(item(&m.fund, m.burden, m.room, m.paid, info));
    }
    let own = s.acct_pay - s.acct_mulaid_pay;
    let (own_code, mulaid_code) = (scheme.funds.acct.as_ref(), mulaid_fund(scheme));
    match (own_code, mulaid_code) {
        (Some(a), Some(m)) if a.code == m.code && s.acct_pay != Fen::ZERO => {
            let info = if s.acct_mulaid_pay != Fen::ZERO {
                note!("个人负担 {} 由个人账户支付 {} (其中家庭共济 {})", Y(s.psn_part_amt), Y(s.acct_pay), Y(s.acct_mulaid_pay))
            } else {
                note!("个人负担 {} 由个人账户支付 {}", Y(s.psn_part_amt), Y(s.acct_pay))
            };
            out.push(item(a, s.psn_part_amt, None, s.acct_pay, info));
        }
        _ => {
            if own != Fen::ZERO {
                let code = own_code.ok_or_else(|| no_code("acct", scheme))?;
                out.push(item(code, s.psn_part_amt, None, own, note!("个人负担 {} 由个人账户支付 {}", Y(s.psn_part_amt), Y(own))));
            }
            if s.acct_mulaid_pay != Fen::ZERO {
                let code = mulaid_code.ok_or_else(|| no_code("mulaid", scheme))?;
                let info = note!("个人负担 {} 由家庭共济 (绑定亲属的个人账户) 支付 {}", Y(s.psn_part_amt), Y(s.acct_mulaid_pay));
                out.push(item(code, s.psn_part_amt, None, s.acct_mulaid_pay, info));
            }
        }
    }
    Ok(out)
}

fn no_code(what: &str, scheme: &Scheme) -> PolicyError {
    PolicyError::InvalidPolicy(format!(
        "scheme {} {} {}: a share was paid under {what}, but the scheme's funds name no code for it",
        scheme.admdvs,
        scheme.insutype,
        scheme.psn_group.as_str()
    ))
}

/// The second path over `setldetail` (TigerBeetle's habit: check a property where it is written
/// and where it is read): the account items add up to `acct_pay`, every other item to
/// `fund_pay_sumamt`.
fn check_detail(scheme: &Scheme, items: &[SetlDetail], s: &SetlAmounts) -> Result<(), PolicyError> {
    let account: Vec<&str> = scheme.funds.acct.iter().chain(mulaid_fund(scheme)).map(|f| f.code.as_str()).collect();
    let (mut acct, mut funds) = (Fen::ZERO, Fen::ZERO);
    for item in items {
        let sum = if account.contains(&item.fund_pay_type.as_str()) { &mut acct } else { &mut funds };
        *sum = add("setldetail", *sum, item.fund_payamt)?;
    }
    if acct != s.acct_pay || funds != s.fund_pay_sumamt {
        return Err(PolicyError::Invariant(format!(
            "setldetail: account items {} (acct_pay {}), fund items {} (fund_pay_sumamt {})",
            acct.to_yuan_string(),
            s.acct_pay.to_yuan_string(),
            funds.to_yuan_string(),
            s.fund_pay_sumamt.to_yuan_string()
        )));
    }
    Ok(())
}

/// The accumulators after this settlement, with checked sums. A deductible feeds the accumulator
/// of its own kind: a per-year one `dedc_paid` / `otp_dedc_paid` (which the next claim reads), a
/// per-admission one only `adm_dedc_paid` (a record), so an inpatient deductible never counts
/// toward a per-year one such as 门诊慢特病's.
fn ytd_after(before: &Ytd, benefit: &Benefit, p: &Pooled) -> Result<Ytd, PolicyError> {
    let mut a = *before;
    let per_year = matches!(benefit.deductible, Deductible::PerYear { .. });
    let (dedc, hifp) = match benefit.accumulator {
        Accumulator::Main => (&mut a.dedc_paid, &mut a.hifp_paid),
        Accumulator::Outpatient => (&mut a.otp_dedc_paid, &mut a.otp_hifp_paid),
    };
    *hifp = add("ytd", *hifp, p.hifp)?;
    if per_year {
        *dedc = add("ytd", *dedc, p.dedc)?;
    } else {
        a.adm_dedc_paid = add("ytd", a.adm_dedc_paid, p.dedc)?;
    }
    match &p.above {
        Some(l) if l.fund == AboveCapFund::Hifob => a.hifob_paid = add("ytd", a.hifob_paid, l.paid)?,
        Some(l) => a.hifmi_paid = add("ytd", a.hifmi_paid, l.paid)?,
        None => {}
    }
    if let Some(b) = &p.big {
        a.hifmi_paid = add("ytd", a.hifmi_paid, b.paid)?;
        a.hifmi_base = add("ytd", a.hifmi_base, b.burden)?;
    }
    if let Some(m) = &p.maf {
        a.maf_paid = add("ytd", a.maf_paid, m.paid)?;
    }
    Ok(a)
}
