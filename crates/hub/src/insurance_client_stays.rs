//! The insurance calls the ward makes to undo in the ward (住院), as an `impl InsuranceClient` of
//! their own: 2305 住院结算撤销 of an interim settlement (中途结算) and 2302 住院费用明细撤销. Each
//! goes under a msgid the stay fixed before the call, so a call resent after a lost answer is the
//! same request (the center replays its first answer).

use crate::insurance_client::{Institution, InsuranceClient, InsuranceError};
use serde_json::{json, Value};

impl InsuranceClient {
    /// 2305 for the settlement `setl_id` of admission `mdtrt_id` (interim or final: the center
    /// cancels an admission's settlements newest first, and gives their lines back as unsettled).
    pub async fn cancel_stay_settlement(
        &self,
        msgid: &str,
        inst: &Institution,
        insuplc_admdvs: &str,
        mdtrt_id: &str,
        setl_id: &str,
        psn_no: &str,
    ) -> Result<Value, InsuranceError> {
        let input = json!({"data": {"mdtrt_id": mdtrt_id, "setl_id": setl_id, "psn_no": psn_no}});
        self.call("2305", msgid, inst, insuplc_admdvs, input).await
    }

    /// 2302: withdraws the unsettled fee lines `feedetl_sns` of admission `mdtrt_id`, one item
    /// each (the center checks every item before it deletes any, and deletes a charge's returns
    /// with it). The hub names its lines rather than sending "0000": exactly the lines it takes
    /// off its own record.
    pub async fn withdraw_stay_fees(
        &self,
        msgid: &str,
        inst: &Institution,
        insuplc_admdvs: &str,
        mdtrt_id: &str,
        psn_no: &str,
        feedetl_sns: &[String],
    ) -> Result<Value, InsuranceError> {
        let items: Vec<Value> = feedetl_sns.iter().map(|sn| json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no})).collect();
        self.call("2302", msgid, inst, insuplc_admdvs, json!({"data": items})).await
    }
}
