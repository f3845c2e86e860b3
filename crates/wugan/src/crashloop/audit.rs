//! The audit at the end of `wugan crashloop`: what the hub acknowledged before and between the
//! kills is compared with what the hub shows now, and the hub's books with the partners' *own*
//! records (the insurance center's sandbox view, the bank's operations), read from the partners'
//! processes, which lived through every kill. The comparisons are pure functions over the JSON
//! the parties answer, tested below with settlements that go wrong on purpose.

use super::load::{AgreementRecord, VisitRecord};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use wugan_domain::Fen;

/// The settlement states a visit can rest in; any other is between two steps.
const FINAL_STATES: &[&str] = &["settled", "settled_unpaid", "failed", "cancelled"];
/// The fields of an acknowledged settlement answer that must not change afterwards.
const ACK_FIELDS: &[&str] = &[
    "id",
    "state",
    "setl_id",
    "medfee_fen",
    "fund_fen",
    "personal_account_fen",
    "cash_fen",
    "bank_fen",
    "unpaid_fen",
    "hospital_credited_fen",
];
/// Details kept in the report (the counters count them all).
const MAX_DETAILS: usize = 50;

/// What the audit found wrong. Every counter must end at zero.
#[derive(Default, Debug)]
pub struct Findings {
    /// Hub and partner (or hub and its own earlier answer) disagree on a state or an amount, or a
    /// hold is left open.
    pub mismatches: usize,
    /// A visit settled twice at the insurance center, or a settlement captured twice at the bank.
    pub double_charges: usize,
    /// An acknowledged settlement the hub no longer shows, or money a partner moved that the hub
    /// does not account for.
    pub lost: usize,
    pub details: Vec<String>,
}

impl Findings {
    fn note(&mut self, detail: String) {
        if self.details.len() < MAX_DETAILS {
            self.details.push(detail);
        }
    }
    fn mismatch(&mut self, detail: String) {
        self.mismatches += 1;
        self.note(detail);
    }
    fn double_charge(&mut self, detail: String) {
        self.double_charges += 1;
        self.note(detail);
    }
    fn lost(&mut self, detail: String) {
        self.lost += 1;
        self.note(detail);
    }
}

pub fn is_final(state: &str) -> bool {
    FINAL_STATES.contains(&state)
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn fen(v: &Value, field: &str) -> Fen {
    Fen(v.get(field).and_then(Value::as_i64).unwrap_or(0))
}

/// An amount the insurance center writes in yuan.
fn yuan(v: &Value, field: &str) -> Fen {
    v.get(field).and_then(|y| Fen::from_json_yuan(y).ok().flatten()).unwrap_or_default()
}

/// A settlement whose money stands (not failed, not cancelled).
fn booked(settlement: &Value) -> bool {
    matches!(text(settlement, "state"), "settled" | "settled_unpaid")
}

/// Every acknowledged answer against the visit as the hub shows it now (`None`: the hub no longer
/// knows the visit).
pub fn check_acknowledged(visits: &[VisitRecord], now: &HashMap<String, Value>, f: &mut Findings) {
    for record in visits {
        let Some(shown) = now.get(&record.visit_id) else {
            f.lost(format!("visit {}: acknowledged, now gone", record.visit_id));
            continue;
        };
        let Some(ack) = &record.last_ack else { continue };
        let id = text(ack, "id");
        let settlement = shown.get("settlement").filter(|s| !s.is_null());
        match settlement {
            None => f.lost(format!("visit {}: acknowledged settlement {id} is gone", record.visit_id)),
            Some(s) if text(s, "id") != id => {
                f.lost(format!("visit {}: acknowledged settlement {id}, now shows {}", record.visit_id, text(s, "id")))
            }
            Some(s) => {
                let changed: Vec<String> = ACK_FIELDS
                    .iter()
                    .filter(|field| s.get(**field) != ack.get(**field))
                    .map(|field| format!("{field} {} → {}", ack[*field], s[*field]))
                    .collect();
                if !changed.is_empty() {
                    f.mismatch(format!("settlement {id} changed after it was acknowledged: {}", changed.join(", ")));
                }
            }
        }
    }
}

/// The insurance center's settlements against the hub's visits (`mdtrt_id` → the hub's latest
/// settlement of that visit, if any): at most one live settlement per visit, exactly one with the
/// same fund, personal-account and cash shares for a booked settlement, none for any other.
pub fn check_insurance(hub: &BTreeMap<String, Option<Value>>, insurance: &[Value], f: &mut Findings) {
    let mut live: HashMap<&str, Vec<&Value>> = HashMap::new();
    for t in insurance.iter().filter(|t| t.get("cancelled") != Some(&Value::Bool(true))) {
        live.entry(text(t, "mdtrt_id")).or_default().push(t);
    }
    for (mdtrt_id, settlement) in hub {
        let theirs = live.remove(mdtrt_id.as_str()).unwrap_or_default();
        if theirs.len() > 1 {
            f.double_charge(format!("insurance settled visit {mdtrt_id} {} times", theirs.len()));
        }
        match (settlement.as_ref().filter(|s| booked(s)), theirs.first()) {
            (Some(s), Some(t)) => {
                let ours = (fen(s, "fund_fen"), fen(s, "personal_account_fen"), fen(s, "cash_fen"));
                let their = (yuan(t, "fund_pay_sumamt"), yuan(t, "acct_pay"), yuan(t, "psn_cash_pay"));
                if ours != their || text(s, "setl_id") != text(t, "setl_id") {
                    f.mismatch(format!(
                        "settlement {} (fund, account, cash) {ours:?} ≠ insurance {} {their:?}",
                        text(s, "id"),
                        text(t, "setl_id")
                    ));
                }
            }
            (Some(s), None) => f.lost(format!("hub booked {} but insurance has no live settlement of {mdtrt_id}", text(s, "id"))),
            (None, Some(t)) => f.lost(format!(
                "insurance settlement {} of visit {mdtrt_id} stands; the hub's is {}",
                text(t, "setl_id"),
                settlement.as_ref().map(|s| text(s, "state")).unwrap_or("missing")
            )),
            (None, None) => {}
        }
    }
    for (mdtrt_id, theirs) in live {
        f.lost(format!("insurance settled visit {mdtrt_id} ({} times) that the hub does not know", theirs.len()));
    }
}

/// The bank's side of one settlement, summed from its operations.
#[derive(Default, Debug)]
struct BankSide {
    captures: usize,
    refunds: usize,
    net: Fen,
    /// Approved authorizations not yet captured or voided.
    open_holds: i64,
}

/// One bank agreement's operations against the hub: per settlement (its id is the prefix of the
/// request ids, `stl_…:auth`), at most one capture, the net captured equal to the hub's `bank_fen`
/// for a booked settlement and zero otherwise, no hold left open; for the agreement, the net
/// captured equal to the hub's ledger account for it (`hub_ledger_net`).
pub fn check_bank_agreement(
    agreement: &AgreementRecord,
    operations: &[Value],
    hub_settlements: &HashMap<String, Value>,
    hub_ledger_net: Fen,
    f: &mut Findings,
) {
    let mut sides: BTreeMap<&str, BankSide> = BTreeMap::new();
    for op in operations {
        let settlement = text(op, "request_id").split(':').next().unwrap_or_default();
        let amount = fen(op, "amount_fen");
        let side = || BankSide::default();
        match (text(op, "kind"), text(op, "status")) {
            ("authorization", "approved") => sides.entry(settlement).or_insert_with(side).open_holds += 1,
            ("void", "voided") | ("expiry", "expired") => sides.entry(settlement).or_insert_with(side).open_holds -= 1,
            // A charge (扣款) is a hold and its capture at once: it closes no hold.
            (kind @ ("capture" | "charge"), "captured") => {
                let s = sides.entry(settlement).or_insert_with(side);
                s.captures += 1;
                s.open_holds -= i64::from(kind == "capture");
                s.net += amount;
            }
            ("refund", "refunded") => {
                let s = sides.entry(settlement).or_insert_with(side);
                s.refunds += 1;
                s.net -= amount;
            }
            _ => {}
        }
    }
    let mut bank_net = Fen::ZERO;
    for (id, side) in &sides {
        bank_net += side.net;
        if side.captures > 1 {
            f.double_charge(format!("bank captured settlement {id} {} times", side.captures));
        }
        if side.refunds > 1 {
            f.mismatch(format!("bank refunded settlement {id} {} times", side.refunds));
        }
        if side.open_holds > 0 {
            f.mismatch(format!("settlement {id}: {} hold(s) left open at the bank", side.open_holds));
        }
        match hub_settlements.get(*id) {
            Some(s) => {
                let expected = if booked(s) { fen(s, "bank_fen") } else { Fen::ZERO };
                if side.net != expected {
                    f.mismatch(format!("settlement {id} ({}): bank net {}, hub bank_fen {expected}", text(s, "state"), side.net));
                }
            }
            None if side.net != Fen::ZERO => f.lost(format!("bank moved {} for settlement {id}, which the hub does not show", side.net)),
            None => {}
        }
    }
    if bank_net != hub_ledger_net {
        let (id, bank_id) = (&agreement.id, &agreement.bank_agreement_id);
        f.mismatch(format!("agreement {id} (bank {bank_id}): bank net captured {bank_net}, hub ledger {hub_ledger_net}"));
    }
}

/// The bank's lines (agreement id → status) against the agreements the hub acknowledged: one open
/// line for each, and no open line the hub does not know (a sign-up that opened two).
pub fn check_bank_lines(acknowledged: &[AgreementRecord], lines: &BTreeMap<String, String>, f: &mut Findings) {
    let ours: HashMap<&str, &str> = acknowledged.iter().map(|a| (a.bank_agreement_id.as_str(), a.id.as_str())).collect();
    for (line, status) in lines.iter().filter(|(_, status)| status.as_str() != "closed") {
        if !ours.contains_key(line.as_str()) {
            f.mismatch(format!("bank line {line} is {status}, and no agreement the hub acknowledged names it"));
        }
    }
    for (line, agreement) in ours {
        match lines.get(line).map(String::as_str) {
            Some("active") => {}
            Some(status) => f.mismatch(format!("agreement {agreement}: its bank line {line} is {status}")),
            None => f.lost(format!("agreement {agreement}: the bank has no line {line}")),
        }
    }
}

/// The hub's ledger account of a bank agreement: what the patient owes through it, net.
pub fn ledger_net(ledger: &Value, agreement: &AgreementRecord) -> Fen {
    let account = wugan_domain::settlement::accounts::bank_agreement(&agreement.bank_code, &agreement.bank_agreement_id);
    let balance = &ledger["accounts"][account];
    fen(balance, "debits_posted") - fen(balance, "credits_posted")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settlement(id: &str, state: &str, bank_fen: i64) -> Value {
        json!({"id": id, "state": state, "setl_id": format!("S-{id}"), "medfee_fen": 10_000, "fund_fen": 6_000,
               "personal_account_fen": 1_000, "cash_fen": 3_000, "bank_fen": bank_fen, "unpaid_fen": 0,
               "hospital_credited_fen": 7_000 + bank_fen})
    }

    fn visit(id: &str, ack: Option<Value>) -> VisitRecord {
        VisitRecord { hospital: 0, visit_id: id.into(), last_ack: ack }
    }

    fn counts(f: &Findings) -> (usize, usize, usize) {
        (f.mismatches, f.double_charges, f.lost)
    }

    #[test]
    fn an_acknowledged_settlement_must_stay_as_it_was_answered() {
        let acked = settlement("stl_1", "settled", 3_000);
        let check = |now: Option<Value>, expect: (usize, usize, usize)| {
            let mut shown = HashMap::from([("v2".to_string(), json!({"id": "v2", "settlement": null}))]);
            if let Some(s) = now {
                shown.insert("v1".to_string(), json!({"id": "v1", "settlement": s}));
            }
            let mut f = Findings::default();
            check_acknowledged(&[visit("v1", Some(acked.clone())), visit("v2", None)], &shown, &mut f);
            assert_eq!(counts(&f), expect, "{:?}", f.details);
        };
        check(Some(acked.clone()), (0, 0, 0));
        check(Some(settlement("stl_1", "settled", 2_999)), (1, 0, 0)); // an amount changed
        check(Some(settlement("stl_1", "failed", 3_000)), (1, 0, 0)); // the state changed
        check(Some(settlement("stl_2", "settled", 3_000)), (0, 0, 1)); // another attempt replaced it
        check(Some(Value::Null), (0, 0, 1)); // the visit shows no settlement
        check(None, (0, 0, 1)); // the visit is gone
    }

    fn theirs(mdtrt: &str, fund: &str, acct: &str, cash: &str, cancelled: bool) -> Value {
        json!({"setl_id": "S-stl_1", "mdtrt_id": mdtrt, "fund_pay_sumamt": fund, "acct_pay": acct, "psn_cash_pay": cash,
               "cancelled": cancelled})
    }

    #[test]
    fn the_insurance_center_settles_each_booked_visit_once_with_the_hubs_shares() {
        let check = |hub_state: Option<&str>, insurance: Vec<Value>, expect: (usize, usize, usize)| {
            let hub = BTreeMap::from([("M1".to_string(), hub_state.map(|state| settlement("stl_1", state, 3_000)))]);
            let mut f = Findings::default();
            check_insurance(&hub, &insurance, &mut f);
            assert_eq!(counts(&f), expect, "{hub_state:?}: {:?}", f.details);
        };
        let ok = || theirs("M1", "60.00", "10.00", "30.00", false);
        check(Some("settled"), vec![ok()], (0, 0, 0));
        check(Some("settled_unpaid"), vec![ok()], (0, 0, 0));
        check(Some("settled"), vec![ok(), theirs("M1", "60.00", "10.00", "30.00", true)], (0, 0, 0)); // an earlier one cancelled
        check(Some("settled"), vec![ok(), ok()], (0, 1, 0)); // settled twice
        check(Some("settled"), vec![theirs("M1", "60.00", "0.00", "40.00", false)], (1, 0, 0)); // other shares
        check(Some("settled"), vec![], (0, 0, 1)); // booked without the insurance center
        check(Some("cancelled"), vec![theirs("M1", "60.00", "10.00", "30.00", true)], (0, 0, 0));
        check(Some("cancelled"), vec![ok()], (0, 0, 1)); // the cancellation never reached insurance
        check(Some("failed"), vec![], (0, 0, 0));
        check(None, vec![], (0, 0, 0));
        check(None, vec![theirs("M2", "1.00", "0.00", "0.00", false)], (0, 0, 1));
        // a visit the hub does not know
    }

    fn op(request_id: &str, kind: &str, status: &str, amount_fen: i64) -> Value {
        json!({"request_id": request_id, "kind": kind, "status": status, "amount_fen": amount_fen})
    }

    #[test]
    fn the_bank_captures_each_settlement_once_and_the_hubs_share_only() {
        let agreement = AgreementRecord { id: "agr_1".into(), bank_code: "BANK01".into(), bank_agreement_id: "B1".into() };
        let held = || op("stl_1:auth", "authorization", "approved", 5_000);
        let captured = |fen| op("stl_1:capture", "capture", "captured", fen);
        let check = |hub_state: &str, ops: Vec<Value>, ledger: i64, expect: (usize, usize, usize)| {
            let hub = HashMap::from([("stl_1".to_string(), settlement("stl_1", hub_state, 3_000))]);
            let mut f = Findings::default();
            check_bank_agreement(&agreement, &ops, &hub, Fen(ledger), &mut f);
            assert_eq!(counts(&f), expect, "{hub_state}: {:?}", f.details);
        };
        check("settled", vec![held(), captured(3_000)], 3_000, (0, 0, 0));
        let charged = |fen| op("stl_1:capture", "charge", "captured", fen);
        check("settled", vec![charged(3_000)], 3_000, (0, 0, 0)); // in one call, no hold
        check("settled", vec![charged(3_000), captured(3_000)], 6_000, (1, 1, 0)); // charged and captured
        check("cancelled", vec![charged(3_000), op("stl_1:refund", "refund", "refunded", 3_000)], 0, (0, 0, 0));
        check("settled", vec![held(), captured(3_000), captured(3_000)], 6_000, (1, 1, 0)); // captured twice
        check("settled", vec![held(), captured(2_000)], 2_000, (1, 0, 0)); // another amount than the hub's
        check("settled", vec![held(), captured(3_000)], 0, (1, 0, 0)); // the ledger missed it
        check("failed", vec![held()], 0, (1, 0, 0)); // a hold left open
        check("failed", vec![held(), op("stl_1:void", "void", "voided", 5_000)], 0, (0, 0, 0));
        check("cancelled", vec![held(), captured(3_000), op("stl_1:refund", "refund", "refunded", 3_000)], 0, (0, 0, 0));
        check("cancelled", vec![held(), captured(3_000)], 3_000, (1, 0, 0)); // never refunded
        let stray = vec![op("stl_9:auth", "authorization", "approved", 100), op("stl_9:capture", "capture", "captured", 100)];
        check("failed", stray, 100, (0, 0, 1)); // money for a settlement the hub does not show
    }

    #[test]
    fn each_acknowledged_sign_up_has_one_open_bank_line() {
        let signed = |id: &str, line: &str| AgreementRecord { id: id.into(), bank_code: "BANK01".into(), bank_agreement_id: line.into() };
        let check = |lines: &[(&str, &str)], expect: (usize, usize, usize)| {
            let lines = lines.iter().map(|(l, s)| (l.to_string(), s.to_string())).collect();
            let mut f = Findings::default();
            check_bank_lines(&[signed("agr_1", "B1"), signed("agr_2", "B2")], &lines, &mut f);
            assert_eq!(counts(&f), expect, "{:?}", f.details);
        };
        check(&[("B1", "active"), ("B2", "active")], (0, 0, 0));
        check(&[("B1", "active"), ("B2", "active"), ("B3", "closed")], (0, 0, 0)); // a race's loser, released
        check(&[("B1", "active"), ("B2", "active"), ("B3", "active")], (1, 0, 0)); // a sign-up opened two lines
        check(&[("B1", "active"), ("B2", "closed")], (1, 0, 0));
        check(&[("B1", "active")], (0, 0, 1));
    }

    #[test]
    fn a_settlement_rests_only_in_a_final_state() {
        for (state, expect) in [("settled", true), ("settled_unpaid", true), ("failed", true), ("cancelled", true)] {
            assert_eq!(is_final(state), expect, "{state}");
        }
        for state in ["started", "pre_settled", "authorized", "insurance_settled", "cancelling"] {
            assert!(!is_final(state), "{state}");
        }
    }
}
