//! The daily reconciliation (对账, docs/reconciliation.md): the hub's records of a business day
//! against the insurance center's (3201 per bucket; 9101 + 3202 + 9102 where the totals differ or
//! a 2207 was left in doubt), each bank's T+1 statement file, and each settlement's own
//! arithmetic for the hospitals. The matching is `wugan_domain::reconcile`'s (pure, sort-merge);
//! this file reads both sides in bulk, resolves what a status query settles (5203, the bank's
//! status query by request id, or resuming the hub's own in-doubt settlement, which runs them),
//! and parks the rest as exceptions with the evidence of both sides (migration 0010).

use super::stay_reconciliation;
use super::*;
use crate::store::{ReconSettlement, ReconciliationItem, ReconciliationRun};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use wugan_bank_protocol::statement::EntryType;
use wugan_domain::reconcile::{self, Day, Mismatch, Record};

/// A hub record this close before midnight (China time) that the bank has not listed is in
/// transit (在途): the bank may have booked it after its cut-off; the next day's run matches it.
pub const IN_TRANSIT_S: i64 = 300;
const DAY_S: i64 = 86_400;
/// How often a reconciliation read is sent while a partner does not answer.
const PARTNER_TRIES: u32 = 8;
/// The most reconciliation differences the exceptions queue lists at once.
const MAX_LISTED_EXCEPTIONS: i64 = 500;

/// `POST /api/v1/reconciliations`: the business day to reconcile.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// `YYYY-MM-DD`, China time.
    #[schema(schema_with = date_text)]
    pub date: String,
}

/// `YYYY-MM-DD` (the calendar is checked by [`business_day`]).
pub(super) fn date_text() -> utoipa::openapi::schema::Object {
    let object = utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String);
    object.min_length(Some(10)).max_length(Some(10)).pattern(Some(DATE_PATTERN)).build()
}

const DATE_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// One partner's day: how many records, how they ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PartnerReconciliation {
    /// Keys of the day on either side (a matched pair counts once).
    pub records: u64,
    pub matched: u64,
    /// Hub records near the cut-off not listed yet: matched the next day, not a mismatch.
    pub in_transit: u64,
    /// Differences found (partner only, hub only, amounts differ).
    pub mismatches: u64,
    /// Of those, settled automatically by a status query.
    pub resolved: u64,
    /// Of those, left in the exceptions queue for an operator, with the evidence.
    pub exceptions: u64,
}

impl PartnerReconciliation {
    fn add(&mut self, other: &PartnerReconciliation) {
        self.records += other.records;
        self.matched += other.matched;
        self.in_transit += other.in_transit;
        self.mismatches += other.mismatches;
        self.resolved += other.resolved;
        self.exceptions += other.exceptions;
    }
}

/// Every bank together, and each bank by its code.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct BanksReconciliation {
    #[serde(flatten)]
    pub total: PartnerReconciliation,
    pub by_bank: BTreeMap<String, PartnerReconciliation>,
}

/// A difference left for an operator.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReconciliationExceptionView {
    /// The business day, `YYYY-MM-DD`.
    pub date: String,
    /// `insurance`, `bank:<code>` or `hospitals`.
    pub partner: String,
    /// A `setl_id`, a bank request id, or a settlement id.
    pub key: String,
    /// `partner_only` (长款 / 医保单边), `hub_only` (短款), `amounts_differ`.
    pub class: String,
    pub hub_evidence: Option<String>,
    pub partner_evidence: Option<String>,
    pub note: String,
}

/// A business day reconciled.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReconciliationView {
    /// `YYYY-MM-DD`, China time (the cut-off is 00:00 China time).
    pub date: String,
    pub insurance: PartnerReconciliation,
    pub banks: BanksReconciliation,
    pub hospitals: PartnerReconciliation,
    pub exceptions: Vec<ReconciliationExceptionView>,
    /// The 3201 buckets sent and the center's verdict on each (logged; not in the JSON answer).
    #[serde(skip)]
    pub insurance_buckets: Vec<InsuranceBucket>,
}

/// One 3201 bucket as the hub summed it, and whether the center's totals agreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsuranceBucket {
    pub hospital_code: String,
    pub setl_optins: String,
    pub insutype: String,
    /// 清算类别: 11 outpatient, 21 inpatient.
    pub clr_type: String,
    /// refd_setl_flag: the settlements of the day cancelled since.
    pub refunded: bool,
    pub count: u64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub acct_fen: i64,
    pub level: bool,
}

/// A partner's differences as matched, then as resolved.
struct Outcome {
    summary: PartnerReconciliation,
    items: Vec<ReconciliationItem>,
}

impl Outcome {
    fn new<A>(report: &reconcile::Report<A>) -> Outcome {
        let summary = PartnerReconciliation {
            records: report.records,
            matched: report.matched,
            in_transit: report.in_transit.len() as u64,
            mismatches: report.mismatches.len() as u64,
            ..Default::default()
        };
        Outcome { summary, items: Vec::new() }
    }

    fn push(&mut self, key: &str, class: reconcile::Class, resolved: Result<String, String>, evidence: (Option<String>, Option<String>)) {
        let (resolution, note) = match resolved {
            Ok(note) => {
                self.summary.resolved += 1;
                ("resolved", note)
            }
            Err(note) => {
                self.summary.exceptions += 1;
                ("exception", note)
            }
        };
        let (hub_evidence, partner_evidence) = evidence;
        self.items.push(ReconciliationItem {
            record_key: key.to_string(),
            class: class.as_str(),
            resolution,
            hub_evidence,
            partner_evidence,
            note,
        });
    }

    fn in_transit(&mut self, key: &str, evidence: String) {
        let note = "recorded before the cut-off; expected in the next day's file".to_string();
        let item = ReconciliationItem {
            record_key: key.to_string(),
            class: "in_transit",
            resolution: "in_transit",
            hub_evidence: Some(evidence),
            partner_evidence: None,
            note,
        };
        self.items.push(item);
    }
}

/// The business day `YYYY-MM-DD` in China time, as a [`Day`] in unix seconds.
pub fn business_day(date: &str) -> Result<Day, AppError> {
    let bad = || AppError::invalid("bad_date", format!("'{date}' is not a date YYYY-MM-DD"));
    if !wugan_bank_protocol::statement::is_date(date) {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| date[range].parse::<u32>().map_err(|_| bad());
    let month = time::Month::try_from(number(5..7)? as u8).map_err(|_| bad())?;
    let day = time::Date::from_calendar_date(number(0..4)? as i32, month, number(8..10)? as u8).map_err(|_| bad())?;
    let start = day.midnight().assume_offset(time::UtcOffset::from_hms(8, 0, 0).map_err(|_| bad())?).unix_timestamp();
    Ok(Day { start_unix_s: start, end_unix_s: start + DAY_S, in_transit_s: IN_TRANSIT_S })
}

/// A unix instant as the hub stores times (for range queries over stored text).
fn stored_time(unix_s: i64) -> Result<String, AppError> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_s).map_err(|e| AppError::internal(format!("time out of range: {e}")))?;
    Ok(crate::clock::timestamp(t))
}

/// A stored time as unix seconds (`None` if it is not one the hub wrote).
fn unix_of_stored(stored: &str) -> Option<i64> {
    time::OffsetDateTime::parse(stored, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

impl App {
    /// Reconciles the business day `date` with every partner, stores the runs, and answers the
    /// counts and the exceptions left. `progress` hears each partner's name as it starts.
    pub async fn reconcile_day(&self, date: &str, progress: &(dyn Fn(&str) + Send + Sync)) -> Result<ReconciliationView, AppError> {
        let day = business_day(date)?;
        let (from, to) = day.hub_range_unix_s();
        // The settlements a day's records can come from: created up to a day before (a 2207 retried
        // across midnight) and the transit window after.
        let (first, last) = (stored_time(from - DAY_S)?, stored_time(to)?);
        // Refunds finished up to now: the center lists a reversal under the settlement it reverses,
        // so a day run again after a later refund sees its original cancelled (docs/reconciliation.md).
        let clicks = self.store.reconciliation_settlements(&first, &last).await?;
        let mut settlements = self.with_refunds(clicks, &first, &self.now()).await?; // app/refunds.rs
        settlements.extend(self.stay_recon_settlements(&first, &last).await?); // app/stay_reconciliation.rs
        progress("insurance");
        let (insurance, insurance_buckets) = self.reconcile_insurance(date, &settlements).await?;
        let mut banks = BanksReconciliation::default();
        let mut outcomes = vec![("insurance".to_string(), insurance)];
        let transfers = self.store.bank_transfers(&stored_time(from)?, &stored_time(to)?).await?;
        for bank_code in self.banks.keys() {
            progress(&format!("bank {bank_code}"));
            let outcome = self.reconcile_bank(&bank_code, date, day, &transfers).await?;
            banks.total.add(&outcome.summary);
            banks.by_bank.insert(bank_code.clone(), outcome.summary.clone());
            outcomes.push((format!("bank:{bank_code}"), outcome));
        }
        progress("hospitals");
        // Read again: resolving may have finished settlements the first read saw in doubt.
        let settled = self.store.reconciliation_settlements(&stored_time(day.start_unix_s)?, &stored_time(day.end_unix_s)?).await?;
        outcomes.push(("hospitals".to_string(), hospitals_check(settled.iter())));
        let mut exceptions = Vec::new();
        for (partner, outcome) in &outcomes {
            let run = ReconciliationRun {
                id: new_id("recon"),
                business_date: date.to_string(),
                partner: partner.clone(),
                records: outcome.summary.records as i64,
                matched: outcome.summary.matched as i64,
                in_transit: outcome.summary.in_transit as i64,
                resolved: outcome.summary.resolved as i64,
                exceptions: outcome.summary.exceptions as i64,
            };
            self.store.save_reconciliation(&run, &outcome.items).await?;
            exceptions.extend(outcome.items.iter().filter(|i| i.resolution == "exception").map(|i| ReconciliationExceptionView {
                date: date.to_string(),
                partner: partner.clone(),
                key: i.record_key.clone(),
                class: i.class.to_string(),
                hub_evidence: i.hub_evidence.clone(),
                partner_evidence: i.partner_evidence.clone(),
                note: i.note.clone(),
            }));
        }
        let summary = |name: &str| outcomes.iter().find(|(p, _)| p == name).map(|(_, o)| o.summary.clone()).unwrap_or_default();
        Ok(ReconciliationView {
            date: date.to_string(),
            insurance: summary("insurance"),
            banks,
            hospitals: summary("hospitals"),
            exceptions,
            insurance_buckets,
        })
    }

    /// The reconciliation differences waiting for an operator (the latest run of each day).
    pub(crate) async fn open_reconciliation_exceptions(&self) -> Result<Vec<ReconciliationExceptionView>, AppError> {
        let rows = self.store.open_reconciliation_exceptions(MAX_LISTED_EXCEPTIONS).await?;
        Ok(rows
            .into_iter()
            .map(|(date, partner, i)| ReconciliationExceptionView {
                date,
                partner,
                key: i.record_key,
                class: i.class.to_string(),
                hub_evidence: i.hub_evidence,
                partner_evidence: i.partner_evidence,
                note: i.note,
            })
            .collect())
    }

    /// Resumes the hub's own settlement when it is still in doubt (the recovery worker's path:
    /// status queries first, then the rest of the saga); answers the settlement as it ends.
    async fn resume_in_doubt(&self, settlement_id: &str) -> Result<Option<SettlementRow>, AppError> {
        let Some(s) = self.store.settlement(settlement_id).await? else { return Ok(None) };
        if s.state.is_final() {
            return Ok(Some(s));
        }
        self.store.unpark(settlement_id).await?;
        let visit = self.store.visit(&s.visit_id).await?.ok_or_else(|| AppError::internal("visit vanished"))?;
        let s = self.store.settlement(settlement_id).await?.ok_or_else(|| AppError::internal("settlement vanished"))?;
        self.advance(s, &visit, true, None).await.map(Some)
    }
}

// ---- insurance ------------------------------------------------------------------------------

/// What both sides must agree on for a settlement: medfee, fund, personal account, refunded.
pub(super) type SetlAmounts = (i64, i64, i64, bool);

/// A settlement of the day with its 3201 bucket.
pub(super) struct InsuranceRecord<'s> {
    pub(super) row: &'s ReconSettlement,
    pub(super) setl_id: String,
    setl_optins: String,
    pub(super) amounts: SetlAmounts,
    /// When the hub created it (the click), against the cut-off.
    pub(super) at_unix_s: i64,
}

/// The 3201 bucket: hospital, setl_optins, insutype, clr_type, refd_setl_flag.
type Bucket = (String, String, String, String, bool);

/// 清算类别 of an outpatient settlement whose answer named none (docs/national-interface.md §3).
const OUTPATIENT_CLR_TYPE: &str = "11";

/// A settlement's 清算类别: the center's, as its 2207 answered it (an emergency that became an
/// inpatient case is 21), or a stay's (app/stay_reconciliation.rs); 11 when none was kept.
fn clr_type_of(row: &ReconSettlement) -> String {
    let info: Option<Value> = row.setlinfo_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
    info.and_then(|i| i["clr_type"].as_str().map(str::to_string)).unwrap_or_else(|| OUTPATIENT_CLR_TYPE.to_string())
}

/// A settlement the center answered with a `setl_id`, created within the hub's range of the day.
/// A cash-only one is not the center's: the hospital settled it with its own platform, so only
/// the bank's side of it is reconciled here.
pub(super) fn insurance_record(row: &ReconSettlement, day: Day) -> Option<InsuranceRecord<'_>> {
    // A self-paid visit (no insurance) has no record at the insurance center to match.
    if row.setl_type == "CASH" || row.insutype.is_empty() {
        return None;
    }
    let setl_id = row.setl_id.clone()?;
    let at_unix_s = unix_of_stored(&row.created_at)?;
    let (from, to) = day.hub_range_unix_s();
    if !(from..to).contains(&at_unix_s) {
        return None;
    }
    let amounts = (row.medfee_fen, row.fund_fen.unwrap_or(0), row.acct_fen.unwrap_or(0), row.state == "cancelled");
    Some(InsuranceRecord { row, setl_id, setl_optins: row.insuplc_admdvs.clone(), amounts, at_unix_s })
}

fn yuan(fen: i64) -> String {
    Fen(fen).to_yuan_string()
}

fn setl_evidence(a: &SetlAmounts) -> String {
    format!("medfee {} fund {} acct {} refunded {}", yuan(a.0), yuan(a.1), yuan(a.2), a.3)
}

impl App {
    async fn reconcile_insurance(&self, date: &str, settlements: &[ReconSettlement]) -> Result<(Outcome, Vec<InsuranceBucket>), AppError> {
        let day = business_day(date)?;
        let records: Vec<InsuranceRecord> = settlements.iter().filter_map(|s| insurance_record(s, day)).collect();
        let in_day = |r: &&InsuranceRecord| (day.start_unix_s..day.end_unix_s).contains(&r.at_unix_s);
        let mut buckets: BTreeMap<Bucket, (i64, i64, i64, u64)> = BTreeMap::new();
        for r in records.iter().filter(in_day) {
            let key = (r.row.hospital_code.clone(), r.setl_optins.clone(), r.row.insutype.clone(), clr_type_of(r.row), r.amounts.3);
            let t = buckets.entry(key).or_default();
            *t = (t.0 + r.amounts.0, t.1 + r.amounts.1, t.2 + r.amounts.2, t.3 + 1);
        }
        // Groups (hospital, setl_optins) to reconcile in detail: a bucket whose totals differ, or a
        // 2207 or 2304 the hub sent and never heard back from (the center may have settled it).
        let mut detail: std::collections::BTreeSet<(String, String)> = settlements
            .iter()
            .filter(|s| stay_reconciliation::settlement_in_doubt(s))
            .map(|s| (s.hospital_code.clone(), s.insuplc_admdvs.clone()))
            .collect();
        let mut sent = Vec::with_capacity(buckets.len());
        for ((hospital, optins, insutype, clr_type, refunded), totals) in &buckets {
            let level = self.totals_level(date, hospital, optins, insutype, clr_type, *refunded, *totals).await?;
            if !level {
                detail.insert((hospital.clone(), optins.clone()));
            }
            tracing::info!(date, hospital, clr_type, refunded, count = totals.3, level, "3201 bucket");
            sent.push(InsuranceBucket {
                hospital_code: hospital.clone(),
                setl_optins: optins.clone(),
                insutype: insutype.clone(),
                clr_type: clr_type.clone(),
                refunded: *refunded,
                count: totals.3,
                medfee_fen: totals.0,
                fund_fen: totals.1,
                acct_fen: totals.2,
                level,
            });
        }
        let level_records =
            records.iter().filter(|r| !detail.contains(&(r.row.hospital_code.clone(), r.setl_optins.clone()))).count() as u64;
        let mut outcome = Outcome {
            summary: PartnerReconciliation { records: level_records, matched: level_records, ..Default::default() },
            items: Vec::new(),
        };
        for (hospital, optins) in &detail {
            let ours: Vec<&InsuranceRecord> =
                records.iter().filter(|r| &r.row.hospital_code == hospital && &r.setl_optins == optins).collect();
            let theirs = self.center_detail(date, hospital, optins, &ours).await?;
            let group = self.match_insurance(date, hospital, &ours, theirs, settlements).await?;
            outcome.summary.add(&group.summary);
            outcome.items.extend(group.items);
        }
        Ok((outcome, sent))
    }

    /// One reconciliation call (3201, 9101, 3202, 9102), sent again with a new msgid while its
    /// outcome is unknown, at most [`PARTNER_TRIES`] times: they read, or store a file nobody else
    /// names, so a repeat is harmless, and a day's run should not fail on one lost answer.
    async fn insurance_file_call(&self, infno: &str, hospital: &str, optins: &str, input: Value) -> Result<Value, AppError> {
        let (mut tries, inst) = (0, self.institution(hospital).await?);
        loop {
            tries += 1;
            let msgid = self.msgid(hospital).await?;
            match self.insurance.call(infno, &msgid, &inst, optins, input.clone()).await {
                Err(InsuranceError::Unreachable(_)) if tries < PARTNER_TRIES => continue,
                result => return Ok(result?),
            }
        }
    }

    /// 3201 for one bucket: whether the center's totals equal the hub's.
    #[allow(clippy::too_many_arguments)]
    async fn totals_level(
        &self,
        date: &str,
        hospital: &str,
        optins: &str,
        insutype: &str,
        clr_type: &str,
        refunded: bool,
        (medfee, fund, acct, count): (i64, i64, i64, u64),
    ) -> Result<bool, AppError> {
        let input = json!({"data": {"insutype": insutype, "clr_type": clr_type, "setl_optins": optins, "stmt_begndate": date,
            "stmt_enddate": date, "medfee_sumamt": yuan(medfee), "fund_pay_sumamt": yuan(fund), "acct_pay": yuan(acct),
            "fixmedins_setl_cnt": count, "refd_setl_flag": if refunded { "1" } else { "0" }}});
        let output = self.insurance_file_call("3201", hospital, optins, input).await?;
        Ok(output["stmtinfo"]["stmt_rslt"].as_str() == Some("0"))
    }

    /// 9101 the hub's detail up, 3202, 9102 result.txt down: the center's records of the group.
    async fn center_detail(
        &self,
        date: &str,
        hospital: &str,
        optins: &str,
        ours: &[&InsuranceRecord<'_>],
    ) -> Result<CenterRecords, AppError> {
        let mut file = String::with_capacity(ours.len() * 96);
        for r in ours {
            let a = r.amounts;
            let line = format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                r.setl_id,
                r.row.mdtrt_id,
                r.row.psn_no,
                yuan(a.0),
                yuan(a.1),
                yuan(a.2),
                u8::from(a.3)
            );
            file.push_str(&line);
        }
        let filename = format!("{hospital}-{date}-detail.txt");
        let upload = json!({"fsUploadIn": {"in": file, "filename": filename, "fixmedins_code": hospital}});
        let uploaded = self.insurance_file_call("9101", hospital, optins, upload).await?;
        let (medfee, fund, acct) = ours.iter().fold((0, 0, 0), |t, r| (t.0 + r.amounts.0, t.1 + r.amounts.1, t.2 + r.amounts.2));
        let input = json!({"data": {"setl_optins": optins, "file_qury_no": uploaded["file_qury_no"], "stmt_begndate": date,
            "stmt_enddate": date, "medfee_sumamt": yuan(medfee), "fund_pay_sumamt": yuan(fund), "cash_payamt": yuan(medfee - fund - acct),
            "fixmedins_setl_cnt": ours.len()}});
        let result = self.insurance_file_call("3202", hospital, optins, input).await?;
        let info = &result["fileinfo"];
        let download =
            json!({"fsDownloadIn": {"file_qury_no": info["file_qury_no"], "filename": info["filename"], "fixmedins_code": hospital}});
        let file = self.insurance_file_call("9102", hospital, optins, download).await?;
        let content = file["content"].as_str().ok_or_else(|| AppError::internal("9102 answered no content"))?;
        read_result_file(content)
    }

    async fn match_insurance(
        &self,
        date: &str,
        hospital: &str,
        ours: &[&InsuranceRecord<'_>],
        (theirs, visits): CenterRecords,
        settlements: &[ReconSettlement],
    ) -> Result<Outcome, AppError> {
        let day = business_day(date)?;
        let hub = ours.iter().map(|r| Record { key: r.setl_id.clone(), amounts: r.amounts, at_unix_s: r.at_unix_s }).collect();
        // The center lists a settlement under its own settlement time; a click just before
        // midnight may have settled after it: in transit, matched the next day.
        let mut report = reconcile::reconcile(day, hub, theirs);
        // What differs is read again now the file is in; what committed meanwhile is matched (F2).
        let fresh = self.recheck_insurance(&mut report, day, hospital, &visits, ours).await?; // app/reconciliation_recheck.rs
        let fresh_records: Vec<InsuranceRecord> = fresh.iter().filter_map(|s| insurance_record(s, day)).collect();
        let ours: Vec<&InsuranceRecord> = fresh_records.iter().chain(ours.iter().copied()).collect();
        let mut outcome = Outcome::new(&report);
        for m in &report.mismatches {
            let resolved = match m {
                Mismatch::PartnerOnly { partner } => {
                    let mdtrt_id = visits.get(&partner.key).map_or("", String::as_str);
                    let read_again = fresh.iter().any(|s| s.mdtrt_id == mdtrt_id); // the visit as it is now
                    self.insurance_only(partner, mdtrt_id, if read_again { &fresh } else { settlements }).await
                }
                Mismatch::HubOnly { hub } => self.hub_only_settlement(hub, &ours).await,
                Mismatch::AmountsDiffer { hub, partner } => self.settle_difference(hub, partner, &ours).await,
            };
            let evidence = match m {
                Mismatch::PartnerOnly { partner } => (None, Some(setl_evidence(&partner.amounts))),
                Mismatch::HubOnly { hub } => (Some(setl_evidence(&hub.amounts)), None),
                Mismatch::AmountsDiffer { hub, partner } => (Some(setl_evidence(&hub.amounts)), Some(setl_evidence(&partner.amounts))),
            };
            outcome.push(m.key(), m.class(), resolved, evidence);
        }
        for r in &report.in_transit {
            outcome.in_transit(&r.key, setl_evidence(&r.amounts));
        }
        Ok(outcome)
    }

    /// 医保单边: usually a 2207 that succeeded after the hub stopped waiting. If the hub's
    /// settlement of that visit is still in doubt, resuming it (5203 first) books it.
    async fn insurance_only(
        &self,
        partner: &Record<SetlAmounts>,
        mdtrt_id: &str,
        settlements: &[ReconSettlement],
    ) -> Result<String, String> {
        if partner.amounts.3 {
            return Ok("settled and cancelled at the center; nothing is owed either way".into());
        }
        let Some(ours) = settlements.iter().rev().find(|s| s.mdtrt_id == mdtrt_id && !s.mdtrt_id.is_empty()) else {
            return Err("the center settled a visit the hub has no settlement for: reverse it with 2208 or book it".into());
        };
        if stay_reconciliation::is_stay(&ours.id) {
            return self.stay_insurance_only(partner, &ours.id).await;
        }
        match self.resume_in_doubt(&ours.id).await {
            Ok(Some(s)) if s.setl_id.as_deref() == Some(partner.key.as_str()) => {
                Ok(format!("the hub's in-doubt settlement {} was resumed: 5203 confirmed it, now {}", s.id, s.state.as_str()))
            }
            Ok(Some(s)) => Err(format!("the hub's settlement {} of this visit is {} without this setl_id", s.id, s.state.as_str())),
            Ok(None) => Err(format!("settlement {} vanished", ours.id)),
            Err(e) => Err(format!("resuming settlement {} failed: {e}", ours.id)),
        }
    }

    /// Amounts or the refund flag differ. A settlement still on its way (a cancellation the center
    /// has done and the hub not yet booked) is resumed; if it then agrees, resolved.
    async fn settle_difference(
        &self,
        hub: &Record<SetlAmounts>,
        partner: &Record<SetlAmounts>,
        ours: &[&InsuranceRecord<'_>],
    ) -> Result<String, String> {
        let review = "amounts or the refund flag differ: review both records".to_string();
        let Some(r) = ours.iter().find(|r| r.setl_id == hub.key) else { return Err(review) };
        if stay_reconciliation::is_stay(&r.row.id) {
            return self.stay_difference(hub, partner, r.row).await;
        }
        if SettlementState::parse(&r.row.state).is_none_or(|s| s.is_final()) {
            return Err(review);
        }
        match self.resume_in_doubt(&r.row.id).await {
            Ok(Some(s)) => {
                let (fund, acct) = s.split.as_ref().map_or((0, 0), |split| (split.fund.0, split.personal_account.0));
                let now = (s.medfee.0, fund, acct, s.state == SettlementState::Cancelled);
                match now == partner.amounts {
                    true => Ok(format!("the hub's settlement {} was on its way; resumed, it agrees: {}", s.id, s.state.as_str())),
                    false => Err(format!("{review} (settlement {} resumed, now {})", s.id, s.state.as_str())),
                }
            }
            Ok(None) => Err(review),
            Err(e) => Err(format!("{review} (resuming settlement {} failed: {e})", r.row.id)),
        }
    }

    /// 短款 on the insurance side: the hub has a settlement the center's file does not; 5203 says
    /// whether the center knows it at all (then it was only listed under another day or bucket).
    async fn hub_only_settlement(&self, hub: &Record<SetlAmounts>, ours: &[&InsuranceRecord<'_>]) -> Result<String, String> {
        let Some(r) = ours.iter().find(|r| r.setl_id == hub.key) else { return Err("no such record".into()) };
        let input = json!({"data": {"setl_id": r.setl_id, "mdtrt_id": r.row.mdtrt_id, "psn_no": r.row.psn_no}});
        let msgid = self.msgid(&r.row.hospital_code).await.map_err(|e| e.to_string())?;
        let inst = self.institution(&r.row.hospital_code).await.map_err(|e| e.to_string())?;
        match self.insurance.call("5203", &msgid, &inst, &r.setl_optins, input).await {
            Ok(_) => Ok("5203 finds the settlement at the center: listed under another day or bucket".into()),
            Err(e) => Err(format!("短款: the center does not know this settlement ({e}): re-query or open a case")),
        }
    }
}

/// The center's records of a group, keyed by `setl_id`, and each one's visit (`mdtrt_id`).
type CenterRecords = (Vec<Record<SetlAmounts>>, HashMap<String, String>);

/// result.txt (3202): the center's line for every settlement it has (`stmt_rslt` ≠ 2).
fn read_result_file(content: &str) -> Result<CenterRecords, AppError> {
    let (mut out, mut visits) = (Vec::new(), HashMap::new());
    for (n, line) in content.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: &str| AppError::internal(format!("result.txt line {}: {why}", n + 1));
        let f: Vec<&str> = line.split('\t').collect();
        let [_psn_no, mdtrt_id, setl_id, _msgid, rslt, refd, _memo, medfee, fund, acct] = f[..] else {
            return Err(bad("expected 10 fields"));
        };
        if rslt == "2" {
            continue;
        }
        let fen = |t: &str| Fen::parse_yuan(t).map(|f| f.0).map_err(|e| bad(&e.to_string()));
        let amounts = (fen(medfee)?, fen(fund)?, fen(acct)?, refd == "1");
        visits.insert(setl_id.to_string(), mdtrt_id.to_string());
        out.push(Record { key: setl_id.to_string(), amounts, at_unix_s: 0 });
    }
    Ok((out, visits))
}

// ---- banks ----------------------------------------------------------------------------------

/// What both sides must agree on for a bank operation: its type and amount.
pub(super) type BankAmounts = (EntryType, i64);

/// The ledger's captures and refunds at `bank_code`, keyed by the request id the hub sent:
/// `settle:<id>:bank_share` is the capture `<id>:capture`, `settle:<id>:bank_refund` the refund.
pub(super) fn hub_bank_records(bank_code: &str, transfers: &[crate::store::BankTransfer]) -> Vec<Record<BankAmounts>> {
    let prefix = format!("bank:{bank_code}:");
    let mut records: Vec<Record<BankAmounts>> = transfers
        .iter()
        .filter_map(|t| {
            let settlement_id = t.id.strip_prefix("settle:")?.rsplit_once(':')?.0;
            let (entry_type, account, suffix) = match t.code.as_str() {
                "bank_share" => (EntryType::Capture, &t.debit_account, "capture"),
                // A refund after the click (app/refunds.rs) is `{refund}:bank` at the bank.
                "bank_refund" if settlement_id.starts_with("rfd_") => (EntryType::Refund, &t.credit_account, "bank"),
                "bank_refund" => (EntryType::Refund, &t.credit_account, "refund"),
                _ => return None,
            };
            account.starts_with(&prefix).then(|| Record {
                key: format!("{settlement_id}:{suffix}"),
                amounts: (entry_type, t.amount_fen),
                at_unix_s: unix_of_stored(&t.created_at).unwrap_or_default(),
            })
        })
        .collect();
    records.extend(stay_bank_records(&prefix, transfers));
    records
}

/// An inpatient stay's money at the bank (`wugan_domain::inpatient`): its capture is one bank
/// operation (`{stay}:capture`) posted in the ledger as one `hold_post` per piece of the hold, so
/// the pieces are summed; its refund (2305) is `{stay}:refund`; an interim settlement's capture is
/// `{stay}:interim:{n}:capture`, a settlement's after a cancelled one `{stay}:resettle:{n}:capture`
/// (`stay_reconciliation::stay_bank_key`).
fn stay_bank_records(prefix: &str, transfers: &[crate::store::BankTransfer]) -> Vec<Record<BankAmounts>> {
    let mut by_key: BTreeMap<String, Record<BankAmounts>> = BTreeMap::new();
    for t in transfers {
        let Some(stay_id) = t.id.strip_prefix("stay:").and_then(|rest| rest.split(':').next()) else { continue };
        let (entry_type, account, suffix) = match t.code.as_str() {
            "hold_post" => (EntryType::Capture, &t.debit_account, "capture"),
            "bank_refund" => (EntryType::Refund, &t.credit_account, "refund"),
            _ => continue,
        };
        if !account.starts_with(prefix) {
            continue;
        }
        let at_unix_s = unix_of_stored(&t.created_at).unwrap_or_default();
        let key = stay_reconciliation::stay_bank_key(&t.id, stay_id, suffix);
        let record = by_key.entry(key.clone()).or_insert(Record { key, amounts: (entry_type, 0), at_unix_s });
        record.amounts.1 += t.amount_fen;
    }
    by_key.into_values().collect()
}

fn bank_evidence(r: &Record<BankAmounts>) -> String {
    format!("{} {} fen at {}", r.amounts.0.as_str(), r.amounts.1, r.at_unix_s)
}

impl App {
    async fn reconcile_bank(
        &self,
        bank_code: &str,
        date: &str,
        day: Day,
        transfers: &[crate::store::BankTransfer],
    ) -> Result<Outcome, AppError> {
        let bank = self.bank(bank_code)?;
        let mut tries = 0;
        let statement = loop {
            tries += 1;
            match bank.statement_file(date).await {
                Err(e) if e.is_unknown_outcome() && tries < PARTNER_TRIES => continue,
                result => break result?,
            }
        };
        let theirs: Vec<Record<BankAmounts>> = statement
            .lines
            .into_iter()
            .filter(|l| matches!(l.entry_type, EntryType::Capture | EntryType::Refund))
            .map(|l| Record { key: l.request_id, amounts: (l.entry_type, l.amount_fen.0), at_unix_s: l.time_unix_s })
            .collect();
        let mut report = reconcile::reconcile(day, hub_bank_records(bank_code, transfers), theirs);
        self.recheck_bank(&mut report, bank_code, day).await?; // what differs, read again (app/reconciliation_recheck.rs)
        let mut outcome = Outcome::new(&report);
        for m in &report.mismatches {
            let (resolved, evidence) = match m {
                Mismatch::PartnerOnly { partner } => (self.bank_only(bank_code, partner).await, (None, Some(bank_evidence(partner)))),
                Mismatch::HubOnly { hub } => (self.hub_only_at_bank(bank_code, hub).await, (Some(bank_evidence(hub)), None)),
                Mismatch::AmountsDiffer { hub, partner } => {
                    let note = "the bank and the hub booked different amounts or kinds: review both records".to_string();
                    (Err(note), (Some(bank_evidence(hub)), Some(bank_evidence(partner))))
                }
            };
            outcome.push(m.key(), m.class(), resolved, evidence);
        }
        for r in &report.in_transit {
            outcome.in_transit(&r.key, bank_evidence(r));
        }
        Ok(outcome)
    }

    /// 长款: the bank moved money the hub has not booked. If the hub's settlement is still in doubt,
    /// resuming it (a status query first) books it; otherwise an operator books it to the visit or
    /// refunds it.
    async fn bank_only(&self, bank_code: &str, partner: &Record<BankAmounts>) -> Result<String, String> {
        let settlement_id = partner.key.rsplit_once(':').map_or("", |(id, _)| id);
        if stay_reconciliation::is_stay(settlement_id) {
            return self.stay_bank_only(bank_code, settlement_id, matches!(partner.amounts.0, EntryType::Capture), partner.amounts.1).await;
        }
        let booked = |s: &SettlementRow| match partner.amounts.0 {
            EntryType::Capture => s.captured.0 == partner.amounts.1,
            _ => s.state == SettlementState::Cancelled,
        };
        match self.resume_in_doubt(settlement_id).await {
            Ok(Some(s)) if s.state.is_final() && booked(&s) => Ok(format!(
                "the hub's settlement {} was in doubt; resumed, the bank's status query confirmed it: {}",
                s.id,
                s.state.as_str()
            )),
            Ok(Some(s)) => Err(format!(
                "长款 at {bank_code}: the bank took {} fen the hub's settlement {} ({}) has not booked: book it to the visit or refund it",
                partner.amounts.1,
                s.id,
                s.state.as_str()
            )),
            Ok(None) => Err(format!("长款 at {bank_code}: no hub settlement {settlement_id}: refund it")),
            Err(e) => Err(format!("长款 at {bank_code}: resuming settlement {settlement_id} failed: {e}")),
        }
    }

    /// 短款: the hub booked money the bank's file does not list; the status query says whether the
    /// bank has it at all (then it was only listed on another day).
    async fn hub_only_at_bank(&self, bank_code: &str, hub: &Record<BankAmounts>) -> Result<String, String> {
        let bank = self.bank(bank_code).map_err(|e| e.to_string())?;
        match bank.operation(&hub.key).await {
            Ok(Some(op)) if op.amount_fen.0 == hub.amounts.1 => {
                Ok(format!("the bank's status query finds it ({:?}): listed on another day", op.status))
            }
            Ok(Some(op)) => Err(format!("the bank has {} fen under this request id, the hub booked {}", op.amount_fen.0, hub.amounts.1)),
            Ok(None) => Err(format!("短款 at {bank_code}: the bank has no record of this request: re-collect or open a case")),
            Err(e) => Err(format!("短款 at {bank_code}: the status query failed ({e}): re-query")),
        }
    }
}

// ---- hospitals ------------------------------------------------------------------------------

/// Each settlement of the day that reached a final paid state against its own arithmetic: the
/// visit total is the sum of the shares, and the cash share was captured or billed, or (insurance
/// only, HI) collected at the hospital: what the bank did not capture, since it was never asked.
fn hospitals_check<'s>(settlements: impl Iterator<Item = &'s ReconSettlement>) -> Outcome {
    let mut outcome = Outcome { summary: PartnerReconciliation::default(), items: Vec::new() };
    for s in settlements.filter(|s| matches!(s.state.as_str(), "settled" | "settled_unpaid" | "cancelled")) {
        outcome.summary.records += 1;
        let (fund, acct, cash, hosp) =
            (s.fund_fen.unwrap_or(0), s.acct_fen.unwrap_or(0), s.cash_fen.unwrap_or(0), s.hosp_part_fen.unwrap_or(0));
        let shares_add_up = s.medfee_fen == fund + acct + cash + hosp;
        let at_hospital = if s.setl_type == "HI" { cash - s.captured_fen } else { 0 };
        let cash_accounted = s.state == "cancelled" || s.captured_fen + s.unpaid_fen + at_hospital == cash;
        if shares_add_up && cash_accounted {
            outcome.summary.matched += 1;
            continue;
        }
        outcome.summary.mismatches += 1;
        let evidence = format!(
            "medfee {} fund {} acct {} cash {} hospital part {} captured {} unpaid {}",
            s.medfee_fen, fund, acct, cash, hosp, s.captured_fen, s.unpaid_fen
        );
        let note = format!("settlement of hospital {}: the shares or the cash do not add up", s.hospital_code);
        outcome.push(&s.id, reconcile::Class::AmountsDiffer, Err(note), (Some(evidence), None));
    }
    outcome
}
