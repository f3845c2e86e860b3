//! The insurance side's monthly clearing (清算申请 3203, 撤销 3204; docs/reconciliation.md): once a
//! month each hospital applies, per clearing type, for the fund's and the personal accounts' share
//! of its standing settlements of the month. The hub sums its own records
//! (`wugan_domain::clearing::ClaimTotals`), writes the application with its msgid, sends 3203, and on
//! acceptance moves that share of the hospital's receivable to `hospital_paid:H:insurance` in the
//! same transaction. The center checks the application against its settlements and refuses one
//! that differs (reconciliation names the records); a refused month is applied again by a later run.
//! A lost answer is asked again under the same msgid, which the center replays: never two
//! applications. [A] The sandbox's acceptance stands for the fund's payment; a real fund pays after
//! its review, which would be a state between the two.

use super::*;
use crate::insurance_client::text;
use crate::store::{InsuranceClearingRow, ReconSettlement};
use serde::Serialize;
use utoipa::ToSchema;
use wugan_domain::clearing::{setlym_of, ClaimTotals};

/// `POST /api/v1/clearings/insurance`: the month to apply for.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsuranceClearingRequest {
    /// `YYYY-MM`, China time.
    #[schema(min_length = 7, max_length = 7, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: String,
}

/// One application.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InsuranceClearingView {
    /// `clearing:{hospital}:{setlym}:{clr_type}`.
    pub id: String,
    pub hospital_code: String,
    /// 清算年月, `yyyyMM`.
    pub setlym: String,
    /// 清算类别 (11 outpatient, 21 inpatient).
    pub clr_type: String,
    pub psntime: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub personal_account_fen: i64,
    pub cash_fen: i64,
    /// `applying` (answer not known yet), `applied`, `refused` (see `note`), `withdrawing`, `withdrawn`.
    pub state: String,
    pub clr_appy_evt_id: Option<String>,
    pub note: Option<String>,
}

/// A month's applications.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InsuranceClearingMonthView {
    pub month: String,
    pub applications: Vec<InsuranceClearingView>,
    /// Fund and personal-account shares of the applications accepted.
    pub applied_fen: i64,
}

impl From<InsuranceClearingRow> for InsuranceClearingView {
    fn from(a: InsuranceClearingRow) -> InsuranceClearingView {
        InsuranceClearingView {
            id: a.id,
            hospital_code: a.hospital_code,
            setlym: a.setlym,
            clr_type: a.clr_type,
            psntime: a.psntime,
            medfee_fen: a.medfee_fen,
            fund_fen: a.fund_fen,
            personal_account_fen: a.acct_fen,
            cash_fen: a.cash_fen,
            state: a.state,
            clr_appy_evt_id: a.clr_appy_evt_id,
            note: a.note,
        }
    }
}

/// `YYYY-MM` → (`yyyyMM`, first day, last day).
fn month_bounds(month: &str) -> Result<(String, String, String), AppError> {
    let bad = || AppError::invalid("bad_date", format!("'{month}' is not a month YYYY-MM"));
    let first = format!("{month}-01");
    business_day(&first).map_err(|_| bad())?;
    let (year, number) = (month[..4].parse::<i32>().map_err(|_| bad())?, month[5..7].parse::<u8>().map_err(|_| bad())?);
    let last = time::util::days_in_month(time::Month::try_from(number).map_err(|_| bad())?, year);
    Ok((format!("{}{}", &month[..4], &month[5..7]), first, format!("{month}-{last:02}")))
}

/// A standing settlement's clearing bucket and month: the center's `clr_type` and `setl_time` as
/// its 2207 answered them (a stay's row names 21).
fn bucket_of(s: &ReconSettlement) -> Option<(String, String)> {
    // A cash-only settlement's insurance was settled by the hospital's own platform, which the
    // hospital clears itself: the hub claims only what it settled.
    if !matches!(s.state.as_str(), "settled" | "settled_unpaid") || s.setl_id.is_none() || s.setl_type == "CASH" {
        return None;
    }
    let info: Value = s.setlinfo_json.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or(Value::Null);
    bucket_in(&info, &s.created_at)
}

/// `clr_type` and 清算年月 of a 2207 `setlinfo`: codes as text or numbers, the time
/// `yyyy-MM-dd…` or compact `yyyyMMddHHmmss` (a string or a number). Without a time the hub can
/// read, the settlement falls in the month of the hub's own time (`created_at`, stored UTC): a
/// settlement is never in no month, or its shares would never be applied for.
fn bucket_in(info: &Value, created_at: &str) -> Option<(String, String)> {
    let clr_type = Some(text(info, "clr_type")).filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "11".into());
    let month = setlym_of(&text(info, "setl_time")).or_else(|| setlym_of(&china_time_of(created_at)))?;
    Some((clr_type.trim().to_string(), month))
}

/// A stored UTC time as China time text, for its month.
fn china_time_of(stored: &str) -> String {
    time::OffsetDateTime::parse(stored, &time::format_description::well_known::Rfc3339)
        .map(crate::clock::china_datetime_of)
        .unwrap_or_else(|_| stored.to_string())
}

impl App {
    /// Applies for `month` (YYYY-MM) for every hospital and clearing type with standing
    /// settlements, resuming any application whose answer was lost; answers the month.
    pub async fn clear_insurance_month(&self, month: &str) -> Result<InsuranceClearingMonthView, AppError> {
        let (setlym, first, last) = month_bounds(month)?;
        // A settlement's center time may fall a little after the hub's: read a day around the month.
        let from = business_day(&first)?.start_unix_s - 86_400;
        let to = business_day(&last)?.end_unix_s + 86_400;
        let stored = |unix: i64| {
            time::OffsetDateTime::from_unix_timestamp(unix)
                .map(crate::clock::timestamp)
                .map_err(|e| AppError::internal(format!("month out of range: {e}")))
        };
        let (read_from, read_to) = (stored(from)?, stored(to)?);
        // A refund reverses its original at the center and settles the lines kept anew (app/refunds.rs);
        // stays are cleared under 21 (app/stay_reconciliation.rs).
        let mut settlements =
            self.with_refunds(self.store.reconciliation_settlements(&read_from, &read_to).await?, &read_from, &self.now()).await?;
        settlements.extend(self.stay_recon_settlements(&read_from, &read_to).await?);
        let mut claims: BTreeMap<(String, String), ClaimTotals> = BTreeMap::new();
        for s in &settlements {
            let Some((clr_type, ym)) = bucket_of(s) else { continue };
            if ym != setlym {
                continue;
            }
            let (fund, acct, cash) = (s.fund_fen.unwrap_or(0), s.acct_fen.unwrap_or(0), s.cash_fen.unwrap_or(0));
            claims.entry((s.hospital_code.clone(), clr_type)).or_default().add(Fen(s.medfee_fen), Fen(fund), Fen(acct), Fen(cash));
        }
        for ((hospital, clr_type), claim) in claims {
            let id = format!("clearing:{hospital}:{setlym}:{clr_type}");
            let existing = self.store.insurance_clearing(&id).await?;
            if existing.as_ref().is_some_and(|a| !matches!(a.state.as_str(), "refused" | "withdrawn")) {
                continue; // applied or in doubt: resumed below, never applied twice
            }
            let row = InsuranceClearingRow {
                id,
                hospital_code: hospital.clone(),
                setlym: setlym.clone(),
                clr_type,
                msgid: self.msgid(&hospital).await?,
                psntime: claim.psntime,
                medfee_fen: claim.medfee.0,
                fund_fen: claim.fund.0,
                acct_fen: claim.personal_account.0,
                cash_fen: claim.cash.0,
                state: "applying".into(),
                clr_appy_evt_id: None,
                withdraw_msgid: None,
                note: None,
            };
            self.store.begin_insurance_clearing(&row).await?;
        }
        for a in self.store.insurance_clearings_of_month(&setlym).await? {
            match a.state.as_str() {
                "applying" => self.send_clearing_application(&a, &first, &last).await?,
                "withdrawing" => self.send_clearing_withdrawal(&a).await?,
                _ => {}
            }
        }
        self.insurance_clearing_month(month).await
    }

    /// A month's applications as they stand.
    pub async fn insurance_clearing_month(&self, month: &str) -> Result<InsuranceClearingMonthView, AppError> {
        let (setlym, _, _) = month_bounds(month)?;
        let applications: Vec<InsuranceClearingView> =
            self.store.insurance_clearings_of_month(&setlym).await?.into_iter().map(InsuranceClearingView::from).collect();
        let applied_fen = applications.iter().filter(|a| a.state == "applied").map(|a| a.fund_fen + a.personal_account_fen).sum();
        Ok(InsuranceClearingMonthView { month: month.to_string(), applications, applied_fen })
    }

    /// Withdraws an accepted application (3204), e.g. to apply again after a correction.
    pub async fn withdraw_insurance_clearing(&self, id: &str) -> Result<InsuranceClearingView, AppError> {
        let a = self
            .store
            .insurance_clearing(id)
            .await?
            .ok_or_else(|| AppError::not_found("clearing_not_found", format!("no clearing {id}")))?;
        if a.state == "applied" {
            self.store.begin_insurance_clearing_withdrawal(id, &self.msgid(&a.hospital_code).await?).await?;
        } else if a.state != "withdrawing" {
            return Err(AppError::conflict("not_withdrawable", format!("clearing {id} is {}, not applied", a.state)));
        }
        let a = self.store.insurance_clearing(id).await?.ok_or_else(|| AppError::internal("clearing vanished"))?;
        self.send_clearing_withdrawal(&a).await?;
        let a = self.store.insurance_clearing(id).await?.ok_or_else(|| AppError::internal("clearing vanished"))?;
        Ok(a.into())
    }

    async fn send_clearing_application(&self, a: &InsuranceClearingRow, first: &str, last: &str) -> Result<(), AppError> {
        let yuan = |fen: i64| Fen(fen).to_yuan_string();
        let input = json!({"data": {"clr_type": a.clr_type, "clr_way": "1", "setlym": a.setlym, "psntime": a.psntime,
            "medfee_sumamt": yuan(a.medfee_fen), "med_sumfee": yuan(a.medfee_fen), "fund_appy_sum": yuan(a.fund_fen),
            "cash_payamt": yuan(a.cash_fen), "acct_pay": yuan(a.acct_fen), "begndate": first, "enddate": last}});
        let inst = self.institution(&a.hospital_code).await?;
        match self.insurance.call("3203", &a.msgid, &inst, &self.config.admdvs, input).await {
            Ok(output) => match Some(text(&output["result"], "clr_appy_evt_id")).filter(|evt| !evt.is_empty()) {
                Some(evt) => self.store.insurance_clearing_applied(a, &evt).await?,
                None => tracing::warn!(clearing = %a.id, "3203 answered without clr_appy_evt_id; asked again later"),
            },
            Err(InsuranceError::Refused { message, .. }) => self.store.insurance_clearing_refused(&a.id, &message).await?,
            Err(e) => tracing::warn!(clearing = %a.id, error = %e, "3203 outcome unknown; asked again under its msgid"),
        }
        Ok(())
    }

    async fn send_clearing_withdrawal(&self, a: &InsuranceClearingRow) -> Result<(), AppError> {
        let (Some(evt), Some(msgid)) = (&a.clr_appy_evt_id, &a.withdraw_msgid) else { return Ok(()) };
        let inst = self.institution(&a.hospital_code).await?;
        match self.insurance.call("3204", msgid, &inst, &self.config.admdvs, json!({"data": {"clr_appy_evt_id": evt}})).await {
            Ok(_) => self.store.insurance_clearing_withdrawn(a).await?,
            Err(InsuranceError::Refused { message, .. }) => self.store.insurance_clearing_withdrawal_refused(&a.id, &message).await?,
            Err(e) => tracing::warn!(clearing = %a.id, error = %e, "3204 outcome unknown; asked again under its msgid"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settlement_falls_in_its_month_however_the_platform_wrote_its_time() {
        // Stored UTC 2026-11-30T17:00:00Z is 2026-12-01 01:00 in China: the hub's own month is 202612.
        let hubs = "2026-11-30T17:00:00Z";
        let check = |info: Value, expect: (&str, &str)| {
            let got = bucket_in(&info, hubs);
            assert_eq!(got, Some((expect.0.to_string(), expect.1.to_string())), "{info}");
        };
        check(json!({"clr_type": "11", "setl_time": "2026-11-30 23:59:59"}), ("11", "202611"));
        check(json!({"clr_type": "21", "setl_time": "20261130235959"}), ("21", "202611"));
        check(json!({"clr_type": 21, "setl_time": 20261130235959_u64}), ("21", "202611"));
        check(json!({"clr_type": null, "setl_time": "30/11/2026"}), ("11", "202612"));
        check(json!({"setl_time": null}), ("11", "202612"));
        check(Value::Null, ("11", "202612"));
    }
}
