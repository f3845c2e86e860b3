//! The events of inpatient stays (住院), found by the same kind of scan as the visits' (`webhooks`):
//! each written once (`UNIQUE (kind, subject_id)`), at hospitals with an endpoint, for changes
//! since it was registered. Their sources are what the stay path already writes in the
//! transaction of the change, so that an event is owed even when the stay moved on before a scan:
//!
//! - a blue row of `stay_invoice_outbox` is a settlement booked: `stay.settled` for the bedside
//!   click (state `settled` or `settled_unpaid`), `stay.interim_settled` for a 中途结算 (its setl_id
//!   is one of the ward's interim settlements); subject `{stay}:{setl_id}`;
//! - a red row is a settlement reversed by 2305: `stay.settlement_cancelled` once the refund to
//!   the line is done (the stay no longer `cancelling_settlement` or `cancelling_interim`), with
//!   `interim_n` for an interim settlement the ward cancelled; subject `{stay}:{setl_id}`;
//! - a stay in a final state with no settlement of its own: `settled_by_interims` (`stay.settled`)
//!   and `cancelled` (`stay.cancelled`, the admission cancelled by 2404); subject the stay;
//! - an invoice issued from the stay's outbox: `invoice.issued`; subject the invoice.
//!
//! The facts are the settlement's as the outbox row keeps them (`inpatient::StayPaid`), in fen;
//! never the patient's name, number or certificate.

use super::webhooks::EventCandidate;
use super::*;
use serde_json::{json, Value};
use wugan_domain::inpatient::{InterimPaid, StayPaid, StayStage};

/// The stay states that are an event by themselves, the stay being over: (state, kind).
const FINAL_STAY_EVENTS: &[(&str, &str)] = &[("settled_by_interims", "stay.settled"), ("cancelled", "stay.cancelled")];

/// The endpoint condition: the hospital has a working endpoint registered no later than `at`.
fn since_endpoint(at: &str, hospital: &str) -> String {
    format!("{at} >= (SELECT MIN(p.created_at) FROM webhook_endpoints p WHERE p.hospital_code = {hospital} AND p.disabled_at IS NULL)")
}

/// The money of one settlement (or of several, summed), as the stay view shows it.
#[derive(Default)]
struct Figures {
    medfee: i64,
    fund: i64,
    personal_account: i64,
    cash: i64,
    bank: i64,
    unpaid: i64,
}

impl Figures {
    fn of_paid(p: &StayPaid) -> Figures {
        let s = &p.split;
        Figures {
            medfee: s.medfee.0,
            fund: s.fund.0,
            personal_account: s.personal_account.0,
            cash: s.cash.0,
            bank: p.captured.0,
            unpaid: p.unpaid().0,
        }
    }

    fn of_interims(interims: &[InterimPaid]) -> Figures {
        interims.iter().fold(Figures::default(), |f, i| Figures {
            medfee: f.medfee + i.split.medfee.0,
            fund: f.fund + i.split.fund.0,
            personal_account: f.personal_account + i.split.personal_account.0,
            cash: f.cash + i.split.cash.0,
            bank: f.bank + i.captured.0,
            unpaid: f.unpaid + i.unpaid().0,
        })
    }
}

/// One stay event's facts, before they are JSON.
struct StayFacts<'a> {
    hospital_code: &'a str,
    stay_id: &'a str,
    ipt_no: &'a str,
    state: &'a str,
    setl_id: Option<&'a str>,
    interim_n: Option<u32>,
    figures: Figures,
    /// What the patient owes for the stay once it is over (the view's `owed_fen` before any
    /// collection): 0 while it is open.
    owed_fen: i64,
    decline_code: Option<&'a str>,
}

impl StayFacts<'_> {
    fn data(&self) -> Value {
        let f = &self.figures;
        json!({
            "hospital_code": self.hospital_code,
            "stay_id": self.stay_id,
            "ipt_no": self.ipt_no,
            "state": self.state,
            "setl_id": self.setl_id,
            "interim_n": self.interim_n,
            "medfee_fen": f.medfee,
            "fund_fen": f.fund,
            "personal_account_fen": f.personal_account,
            "cash_fen": f.cash,
            "bank_fen": f.bank,
            "unpaid_fen": f.unpaid,
            "owed_fen": self.owed_fen,
            "decline_code": self.decline_code,
        })
    }

    /// The candidate that keys the event (kind, subject, hospital), with the settlement's money in
    /// the visit-shaped fields (`visit_id` empty: a stay's event names its stay in the payload).
    fn candidate(&self, kind: &str, subject_id: String, settlement_id: String, invoice_kind: Option<String>) -> EventCandidate {
        EventCandidate {
            kind: kind.to_string(),
            subject_id,
            hospital_code: self.hospital_code.to_string(),
            visit_id: String::new(),
            state: self.state.to_string(),
            medfee_fen: self.figures.medfee,
            cash_fen: Some(self.figures.cash),
            captured_fen: self.figures.bank,
            unpaid_fen: self.figures.unpaid,
            settlement_id,
            invoice_kind,
        }
    }
}

/// The interim settlement (its n) a settlement's facts name, if it is one.
fn interim_n(paid: &StayPaid) -> Option<u32> {
    paid.ward.interims.iter().find(|i| i.setl_id == paid.setl_id).map(|i| i.n)
}

fn paid_of(r: &SqlRow) -> Option<StayPaid> {
    let json: String = r.get("paid_json");
    match serde_json::from_str(&json) {
        Ok(paid) => Some(paid),
        Err(e) => {
            let stay: String = r.get("stay_id");
            tracing::warn!(stay = %stay, error = %e, "a stay settlement's facts cannot be read: no event");
            None
        }
    }
}

const OUTBOX_COLUMNS: &str = "o.stay_id, o.setl_id, o.hospital_code, o.paid_json, st.ipt_no, st.state";

impl Store {
    /// Every stay event owed and not yet written (at most `limit` of each source), with its data.
    pub async fn stay_webhook_event_candidates(&self, limit: i64) -> StoreResult<Vec<(EventCandidate, Value)>> {
        let mut found = self.stay_settlement_events(limit).await?;
        found.extend(self.stay_cancellation_events(limit).await?);
        found.extend(self.final_stay_events(limit).await?);
        found.extend(self.stay_invoice_events(limit).await?);
        Ok(found)
    }

    /// Settlements booked (blue rows): `stay.settled` or `stay.interim_settled`.
    async fn stay_settlement_events(&self, limit: i64) -> StoreResult<Vec<(EventCandidate, Value)>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM stay_invoice_outbox o JOIN stays st ON st.id = o.stay_id \
             WHERE o.kind = 'blue' AND {} \
             AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.kind IN ('stay.settled', 'stay.interim_settled') AND e.subject_id = o.stay_id || ':' || o.setl_id) \
             ORDER BY o.created_at LIMIT $1",
            since_endpoint("o.created_at", "o.hospital_code")
        );
        let rows = query(sql).bind(limit).fetch_all(&self.pool).await?;
        let mut found = Vec::new();
        for r in &rows {
            let Some(paid) = paid_of(r) else { continue };
            let (stay_id, hospital, ipt_no, now_state): (String, String, String, String) =
                (r.get("stay_id"), r.get("hospital_code"), r.get("ipt_no"), r.get("state"));
            let n = interim_n(&paid);
            let figures = Figures::of_paid(&paid);
            let (kind, state, owed_fen) = match n {
                // The patient stays in the ward: the stay's state when the scan read it.
                Some(_) => ("stay.interim_settled", now_state.as_str(), 0),
                None => {
                    let owed = figures.unpaid + Figures::of_interims(&paid.ward.interims).unpaid;
                    ("stay.settled", settled_state(&figures), owed)
                }
            };
            let facts = StayFacts {
                hospital_code: &hospital,
                stay_id: &stay_id,
                ipt_no: &ipt_no,
                state,
                setl_id: Some(&paid.setl_id),
                interim_n: n,
                figures,
                owed_fen,
                decline_code: paid.decline_code.as_deref(),
            };
            let subject = format!("{stay_id}:{}", paid.setl_id);
            found.push((facts.candidate(kind, subject.clone(), subject, None), facts.data()));
        }
        Ok(found)
    }

    /// Settlements reversed by 2305 (red rows), once the refund is done.
    async fn stay_cancellation_events(&self, limit: i64) -> StoreResult<Vec<(EventCandidate, Value)>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM stay_invoice_outbox o JOIN stays st ON st.id = o.stay_id \
             WHERE o.kind = 'red' AND st.state NOT IN ('cancelling_settlement', 'cancelling_interim') AND {} \
             AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.kind = 'stay.settlement_cancelled' AND e.subject_id = o.stay_id || ':' || o.setl_id) \
             ORDER BY o.created_at LIMIT $1",
            since_endpoint("o.created_at", "o.hospital_code")
        );
        let rows = query(sql).bind(limit).fetch_all(&self.pool).await?;
        let mut found = Vec::new();
        for r in &rows {
            let Some(paid) = paid_of(r) else { continue };
            let (stay_id, hospital, ipt_no, now_state): (String, String, String, String) =
                (r.get("stay_id"), r.get("hospital_code"), r.get("ipt_no"), r.get("state"));
            // An interim settlement cancelled in the ward: the stay's state when the scan read it.
            let n = interim_n(&paid);
            let facts = StayFacts {
                hospital_code: &hospital,
                stay_id: &stay_id,
                ipt_no: &ipt_no,
                state: if n.is_some() { &now_state } else { "settlement_cancelled" },
                setl_id: Some(&paid.setl_id),
                interim_n: n,
                figures: Figures::of_paid(&paid),
                owed_fen: 0,
                decline_code: paid.decline_code.as_deref(),
            };
            let subject = format!("{stay_id}:{}", paid.setl_id);
            found.push((facts.candidate("stay.settlement_cancelled", subject.clone(), subject, None), facts.data()));
        }
        Ok(found)
    }

    /// Stays over with no settlement of their own: settled by their interim settlements, or their
    /// admission cancelled.
    async fn final_stay_events(&self, limit: i64) -> StoreResult<Vec<(EventCandidate, Value)>> {
        let mut found = Vec::new();
        for (state, kind) in FINAL_STAY_EVENTS {
            let sql = format!(
                "SELECT st.id, st.hospital_code, st.ipt_no, st.stage_json FROM stays st WHERE st.state = $1 AND {} \
                 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.kind = $2 AND e.subject_id = st.id) ORDER BY st.updated_at LIMIT $3",
                since_endpoint("st.updated_at", "st.hospital_code")
            );
            let rows = query(sql).bind(*state).bind(*kind).bind(limit).fetch_all(&self.pool).await?;
            for r in &rows {
                let (stay_id, hospital, ipt_no, stage_json): (String, String, String, String) =
                    (r.get("id"), r.get("hospital_code"), r.get("ipt_no"), r.get("stage_json"));
                // A cancelled admission settled nothing (an admission with an interim settlement
                // in force cannot be cancelled); a stay settled by its interims is their sum.
                let interims = match serde_json::from_str::<StayStage>(&stage_json) {
                    Ok(StayStage::SettledByInterims(ward)) => ward.interims,
                    Ok(_) => Vec::new(),
                    Err(e) => {
                        tracing::warn!(stay = %stay_id, error = %e, "a stay's stage cannot be read: no event");
                        continue;
                    }
                };
                let figures = Figures::of_interims(&interims);
                let owed_fen = figures.unpaid;
                let facts = StayFacts {
                    hospital_code: &hospital,
                    stay_id: &stay_id,
                    ipt_no: &ipt_no,
                    state,
                    setl_id: None,
                    interim_n: None,
                    figures,
                    owed_fen,
                    decline_code: None,
                };
                found.push((facts.candidate(kind, stay_id.clone(), String::new(), None), facts.data()));
            }
        }
        Ok(found)
    }

    /// Invoices issued for a stay's settlements (blue at a settlement, red at its reversal).
    async fn stay_invoice_events(&self, limit: i64) -> StoreResult<Vec<(EventCandidate, Value)>> {
        let sql = format!(
            "SELECT i.id AS invoice_id, i.kind AS invoice_kind, i.settlement_id, {OUTBOX_COLUMNS} \
             FROM stay_invoice_outbox o JOIN invoices i ON i.settlement_id = o.stay_id || ':' || o.setl_id AND i.kind = o.kind \
             JOIN stays st ON st.id = o.stay_id \
             WHERE o.issued = 1 AND {} \
             AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.kind = 'invoice.issued' AND e.subject_id = i.id) \
             ORDER BY i.issued_at LIMIT $1",
            since_endpoint("i.issued_at", "i.hospital_code")
        );
        let rows = query(sql).bind(limit).fetch_all(&self.pool).await?;
        let mut found = Vec::new();
        for r in &rows {
            let Some(paid) = paid_of(r) else { continue };
            let (stay_id, hospital, ipt_no, state): (String, String, String, String) =
                (r.get("stay_id"), r.get("hospital_code"), r.get("ipt_no"), r.get("state"));
            let (invoice_id, invoice_kind, settlement_id): (String, String, String) =
                (r.get("invoice_id"), r.get("invoice_kind"), r.get("settlement_id"));
            let facts = StayFacts {
                hospital_code: &hospital,
                stay_id: &stay_id,
                ipt_no: &ipt_no,
                state: &state,
                setl_id: Some(&paid.setl_id),
                interim_n: interim_n(&paid),
                figures: Figures::of_paid(&paid),
                owed_fen: 0,
                decline_code: paid.decline_code.as_deref(),
            };
            let mut data = facts.data();
            if let Some(fields) = data.as_object_mut() {
                // The same fields as a visit's invoice.issued names its invoice by.
                fields.insert("visit_id".into(), Value::Null);
                fields.insert("settlement_id".into(), json!(settlement_id));
                fields.insert("invoice_id".into(), json!(invoice_id));
                fields.insert("invoice_kind".into(), json!(invoice_kind));
                // The stay's owed figure is its own: an invoice event does not restate it.
                fields.remove("owed_fen");
            }
            found.push((facts.candidate("invoice.issued", invoice_id, settlement_id, Some(invoice_kind)), data));
        }
        Ok(found)
    }
}

/// The state a bedside settlement left the stay in (as `inpatient::bills::settled` decides).
fn settled_state(f: &Figures) -> &'static str {
    if f.unpaid > 0 {
        "settled_unpaid"
    } else {
        "settled"
    }
}
