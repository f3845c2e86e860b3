//! The queries the hub asks before it believes a refusal (5201 就诊信息查询, 5203 结算信息查询,
//! 5204 费用明细查询: `registration_checks`, `undo_checks`, the click's `settled_already`), read
//! one way: a refusal saying nothing was found is an empty answer, one saying the platform does
//! not offer the query is "it will never tell", and any other refusal or an unreadable reply is no
//! answer at all (the caller's step stays in doubt, 503). A busy platform ("系统繁忙") is never
//! read as "nothing there".

use super::*;
use crate::insurance_reply;

/// What a query read at the center.
pub(super) enum Read {
    /// The query's output.
    Answered(Value),
    /// A refusal saying nothing was found: read as an empty list.
    NoneFound,
    /// The platform does not offer the query: it will never tell.
    NotOffered,
}

impl App {
    /// Sends the query `infno` under a msgid of its own. `in_doubt` makes the error of a query
    /// that gives no answer.
    pub(super) async fn ask_query(
        &self,
        infno: &str,
        hospital: &str,
        inst: &Institution,
        admdvs: &str,
        input: Value,
        in_doubt: impl Fn(String) -> AppError + Send + Sync,
    ) -> Result<Read, AppError> {
        match self.insurance.call(infno, &self.msgid(hospital).await?, inst, admdvs, input).await {
            Ok(output) => Ok(Read::Answered(output)),
            Err(InsuranceError::Refused { message, .. }) if insurance_reply::finds_none(&message) => Ok(Read::NoneFound),
            Err(InsuranceError::Refused { message, .. }) if insurance_reply::not_offered(&message) => {
                tracing::warn!(infno, "this platform does not offer {infno}: what it would check is taken unchecked");
                Ok(Read::NotOffered)
            }
            Err(InsuranceError::Refused { infcode, message }) => Err(in_doubt(format!("{infno} refused, {infcode}: {message}"))),
            Err(InsuranceError::BadReply(why)) => Err(in_doubt(format!("{infno} unreadable: {why}"))),
            Err(e) => Err(e.into()),
        }
    }
}
