//! 个人账户还款 — repaying a medical credit line from the insurance personal account, where the
//! region allows it. Not part of the national interface: a local extension of this sandbox
//! (infno 9901 / 9902, assumed; a region's real platform names its own), so that the hub can move
//! the money with a request id the insurance center replays, and undo it if the bank refuses.

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::input::{check_same, opt_text, opt_yuan, req_text};
use crate::lookup::not_found;
use crate::state::{AccountRepayment, State};
use serde_json::{json, Value};

/// 9901: debits the personal account by `amount` (yuan) for the repayment of `payee_ref`.
pub fn repay(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let psn_no = req_text(data, "psn_no")?;
    let amount = opt_yuan(data, "amount")?.ok_or_else(|| TxError::missing("amount"))?;
    let payee_ref = opt_text(data, "payee_ref").unwrap_or_default();
    if !amount.is_positive() {
        return Err(TxError::new("还款金额必须大于零", "amount must be positive"));
    }
    let account = state.accounts.get_mut(&psn_no).ok_or_else(not_found)?;
    if account.balc < amount {
        let message = format!("personal account balance {} is less than {}", account.balc.to_yuan_string(), amount.to_yuan_string());
        return Err(TxError::new("个人账户余额不足", message));
    }
    account.balc -= amount;
    let balc = account.balc;
    let txn_id = format!("{}{}{:010}", ctx.admdvs, ctx.now.compact(), state.next_seq());
    state.account_repayments.push(AccountRepayment { txn_id: txn_id.clone(), psn_no: psn_no.clone(), amount, payee_ref, cancelled: false });
    Ok(json!({"data": {"txn_id": txn_id, "psn_no": psn_no, "amount": amount.to_yuan_string(), "balc": balc.to_yuan_string()}}))
}

/// 9902: undoes a 9901 (the bank refused the repayment); the balance is restored exactly once.
pub fn cancel(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let txn_id = req_text(data, "txn_id")?;
    let index = state
        .account_repayments
        .iter()
        .position(|r| r.txn_id == txn_id)
        .ok_or_else(|| TxError::new("还款交易不存在", format!("unknown txn_id {txn_id}")))?;
    let record = state.account_repayments[index].clone();
    check_same(data, "psn_no", &record.psn_no)?;
    if record.cancelled {
        return Err(TxError::new("还款交易已撤销", format!("{txn_id} is already cancelled")));
    }
    let account = state.accounts.get_mut(&record.psn_no).ok_or_else(not_found)?;
    account.balc += record.amount;
    let balc = account.balc;
    state.account_repayments[index].cancelled = true;
    Ok(
        json!({"data": {"txn_id": txn_id, "psn_no": record.psn_no, "amount": (-record.amount).to_yuan_string(), "balc": balc.to_yuan_string()}}),
    )
}
