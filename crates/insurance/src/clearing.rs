//! 清算申请 / 撤销 (3203 / 3204, docs/reconciliation.md §"3203 / 3204"): a hospital applies once
//! a month per clearing type for the fund's share of its settlements, and may withdraw the
//! application. The sandbox checks the application against its own settlements of the period
//! (count, medical fees, fund, personal account, cash) and refuses one that does not agree,
//! naming its own totals, so a hospital's clearing is only accepted for what the center settled.
//!
//! Assumed where the sources are silent [A]: the period is `begndate..=enddate` (yyyy-MM-dd) within
//! `setlym` (yyyyMM); cancelled settlements are not claimed; `fund_appy_sum` is compared with the
//! fund's payments (`fund_pay_sumamt`); `med_sumfee` (医保认可费用总额) is taken as given; one
//! application stands per hospital, clearing type and month; the output is
//! `{"result": {"clr_appy_evt_id"}}` for 3203 and `{"result": {"clr_appy_evt_id", "cancelled": "1"}}`
//! for 3204.

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::input::{date_field, opt_yuan, req_text};
use crate::state::{ClearingApplication, Settlement, State};
use serde_json::{json, Value};
use wugan_domain::money::Fen;

/// What the center settled for one hospital in a clearing period.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClearingTotals {
    pub psntime: u64,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    pub acct_pay: Fen,
    pub cash_payamt: Fen,
}

impl ClearingTotals {
    fn add(&mut self, s: &Settlement) {
        self.psntime += 1;
        self.medfee_sumamt += s.amounts.medfee_sumamt;
        self.fund_pay_sumamt += s.amounts.fund_pay_sumamt;
        self.acct_pay += s.amounts.acct_pay;
        self.cash_payamt += s.amounts.psn_cash_pay;
    }

    fn describe(&self) -> String {
        format!(
            "{} 人次 医疗费 {} 基金 {} 个账 {} 现金 {}",
            self.psntime,
            self.medfee_sumamt.to_yuan_string(),
            self.fund_pay_sumamt.to_yuan_string(),
            self.acct_pay.to_yuan_string(),
            self.cash_payamt.to_yuan_string()
        )
    }
}

fn amount(data: &Value, key: &str) -> Result<Fen, TxError> {
    opt_yuan(data, key)?.ok_or_else(|| TxError::missing(key))
}

/// 3203 清算申请.
pub fn apply(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    // 清算方式 is required by the interface; the sandbox clears every way alike.
    let (clr_type, _clr_way, setlym) = (req_text(data, "clr_type")?, req_text(data, "clr_way")?, req_text(data, "setlym")?);
    if setlym.len() != 6 || !setlym.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TxError::new("setlym 格式错误", format!("setlym '{setlym}' is not yyyyMM")));
    }
    let (begin, end) = (date_field(data, "begndate")?, date_field(data, "enddate")?);
    let month = format!("{}-{}", &setlym[..4], &setlym[4..]);
    if !begin.starts_with(&month) || !end.starts_with(&month) || begin > end {
        return Err(TxError::new("清算起止日期不在清算年月内", format!("begndate {begin} .. enddate {end} is not within {setlym}")));
    }
    let psntime_text = req_text(data, "psntime")?;
    let psntime = psntime_text.parse().map_err(|_| TxError::new("psntime 格式错误", format!("psntime '{psntime_text}'")))?;
    let applied = ClearingTotals {
        psntime,
        medfee_sumamt: amount(data, "medfee_sumamt")?,
        fund_pay_sumamt: amount(data, "fund_appy_sum")?,
        acct_pay: amount(data, "acct_pay")?,
        cash_payamt: amount(data, "cash_payamt")?,
    };
    let fixmedins_code = ctx.env.fixmedins_code.clone();
    let standing = state
        .clearing_applications
        .iter()
        .find(|a| !a.cancelled && a.fixmedins_code == fixmedins_code && a.clr_type == clr_type && a.setlym == setlym);
    if let Some(a) = standing {
        let evt = &a.clr_appy_evt_id;
        return Err(TxError::new(&format!("该清算年月已有清算申请 {evt}"), format!("an application {evt} stands for {setlym} {clr_type}")));
    }
    let mut center = ClearingTotals::default();
    let covered = |s: &&Settlement| {
        let day = s.setl_time.get(..10).unwrap_or_default();
        !s.cancelled && s.fixmedins_code == fixmedins_code && s.clr_type == clr_type && (begin.as_str()..=end.as_str()).contains(&day)
    };
    state.settlements.iter().filter(covered).for_each(|s| center.add(s));
    if center != applied {
        return Err(TxError::new(
            &format!("清算申请数据与中心结算数据不一致: 中心 {}", center.describe()),
            format!("the application ({}) differs from the center's settlements", applied.describe()),
        ));
    }
    let clr_appy_evt_id = format!("CLR{:012}", state.next_seq());
    state.clearing_applications.push(ClearingApplication {
        clr_appy_evt_id: clr_appy_evt_id.clone(),
        fixmedins_code,
        clr_type,
        setlym,
        cancelled: false,
    });
    Ok(json!({"result": {"clr_appy_evt_id": clr_appy_evt_id}}))
}

/// 3204 清算申请撤销.
pub fn cancel(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let evt = req_text(data, "clr_appy_evt_id")?;
    let fixmedins_code = &ctx.env.fixmedins_code;
    let application = state
        .clearing_applications
        .iter_mut()
        .find(|a| &a.fixmedins_code == fixmedins_code && a.clr_appy_evt_id == evt)
        .ok_or_else(|| TxError::new("清算申请不存在", format!("no application {evt} for this hospital")))?;
    if application.cancelled {
        return Err(TxError::new("清算申请已撤销", format!("application {evt} was already cancelled")));
    }
    application.cancelled = true;
    Ok(json!({"result": {"clr_appy_evt_id": evt, "cancelled": "1"}}))
}
