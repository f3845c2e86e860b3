//! The day's figures on the operator's first page: totals by hospital and by bank (from
//! `App::operator_day`, the same figures as each hospital's statement), partner health from the
//! metrics, and the SVG bars drawn when ECharts is not there.

use std::collections::BTreeMap;
use wugan_hub::store::DayFiguresRow;

/// One partner's calls since the hub started, from its metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartnerHealth {
    pub partner: String,
    pub calls: u64,
    pub refused: u64,
    /// Calls whose outcome is unknown (no answer): resolved by a status query or the recovery worker.
    pub unknown: u64,
    pub mean_ms: u64,
}

/// Partner health from the `/metrics` text: calls by result, and the mean call time.
pub fn partner_health(metrics: &str) -> Vec<PartnerHealth> {
    let mut by_partner: BTreeMap<String, (PartnerHealth, f64, u64)> = BTreeMap::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let label = |name: &str| series.split(&format!("{name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).map(str::to_string);
        let Some(partner) = label("partner") else { continue };
        let entry = by_partner.entry(partner.clone()).or_insert_with(|| (PartnerHealth { partner, ..PartnerHealth::default() }, 0.0, 0));
        let count = value.parse::<f64>().unwrap_or(0.0);
        if series.starts_with("wugan_partner_calls_total{") {
            entry.0.calls += count as u64;
            match label("result").as_deref() {
                Some("refused") => entry.0.refused += count as u64,
                Some("unknown") => entry.0.unknown += count as u64,
                _ => {}
            }
        } else if series.starts_with("wugan_partner_call_duration_seconds_sum{") {
            entry.1 += count;
        } else if series.starts_with("wugan_partner_call_duration_seconds_count{") {
            entry.2 += count as u64;
        }
    }
    by_partner
        .into_values()
        .map(|(mut h, seconds, count)| {
            h.mean_ms = if count == 0 { 0 } else { (seconds * 1000.0 / count as f64) as u64 };
            h
        })
        .collect()
}

/// One hospital's (or one bank's) day, in fen, as the hospital's statement counts it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// A hospital's code, or a bank's.
    pub code: String,
    /// Outpatient visits registered in the day.
    pub visits: i64,
    /// Settlements made in the day that stand, visits' and stays'.
    pub settled: i64,
    pub stays_settled: i64,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub bank_fen: i64,
    /// Bills patients still owe (a bill collected since is paid), and how much.
    pub unpaid_bills: i64,
    pub unpaid_fen: i64,
    pub collected_fen: i64,
    /// Settlements of the day cancelled since.
    pub cancelled: i64,
    /// The bank's refunds posted in the day, and their sum.
    pub refunds: i64,
    pub refunded_fen: i64,
}

impl Totals {
    fn add(&mut self, r: &DayFiguresRow) {
        self.visits += r.visits;
        self.settled += r.settled;
        self.stays_settled += r.stays_settled;
        self.medfee_fen += r.medfee_fen;
        self.fund_fen += r.fund_fen;
        self.account_fen += r.account_fen;
        self.bank_fen += r.bank_fen;
        self.unpaid_bills += r.unpaid_bills;
        self.unpaid_fen += r.unpaid_fen;
        self.collected_fen += r.collected_fen;
        self.cancelled += r.cancelled;
        self.refunds += r.refunds;
        self.refunded_fen += r.refunded_fen;
    }
}

/// The day's totals by hospital.
pub fn totals(rows: &[DayFiguresRow]) -> Vec<Totals> {
    fold(rows.iter().map(|r| (Some(&r.hospital_code), r)))
}

/// The day's totals by the bank of the patient's agreement (rows without one left out), the
/// banks with nothing that day too.
pub fn bank_totals(rows: &[DayFiguresRow]) -> Vec<Totals> {
    fold(rows.iter().map(|r| (r.bank_code.as_ref(), r))).into_iter().filter(|t| t.settled + t.cancelled + t.refunds > 0).collect()
}

fn fold<'a>(rows: impl Iterator<Item = (Option<&'a String>, &'a DayFiguresRow)>) -> Vec<Totals> {
    let mut by: BTreeMap<String, Totals> = BTreeMap::new();
    for (code, r) in rows {
        let Some(code) = code else { continue };
        by.entry(code.clone()).or_insert_with(|| Totals { code: code.clone(), ..Totals::default() }).add(r);
    }
    by.into_values().collect()
}

/// A bar of the chart: its label, value and length (of 100).
pub struct Bar {
    pub label: String,
    pub value_fen: i64,
    pub width: i64,
    pub y: i64,
}

pub fn bars(totals: &[Totals], name_of: impl Fn(&str) -> String) -> Vec<Bar> {
    let largest = totals.iter().map(|t| t.medfee_fen).max().unwrap_or(0).max(1);
    totals
        .iter()
        .enumerate()
        .map(|(i, t)| Bar { label: name_of(&t.code), value_fen: t.medfee_fen, width: t.medfee_fen * 100 / largest, y: i as i64 * 28 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_health_is_read_from_the_metrics_text() {
        let text = "# HELP x\n\
wugan_partner_calls_total{partner=\"insurance\",operation=\"2207\",result=\"done\"} 8\n\
wugan_partner_calls_total{partner=\"insurance\",operation=\"2207\",result=\"unknown\"} 2\n\
wugan_partner_calls_total{partner=\"bank:BANK01\",operation=\"capture\",result=\"refused\"} 1\n\
wugan_partner_call_duration_seconds_sum{partner=\"insurance\",operation=\"2207\"} 0.5\n\
wugan_partner_call_duration_seconds_count{partner=\"insurance\",operation=\"2207\"} 10\n\
wugan_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 3\n";
        let health = partner_health(text);
        let row =
            |partner: &str, calls, refused, unknown, mean_ms| PartnerHealth { partner: partner.into(), calls, refused, unknown, mean_ms };
        assert_eq!(health, vec![row("bank:BANK01", 1, 1, 0, 0), row("insurance", 10, 0, 2, 50)]);
    }

    /// Review 19, B3: the rows of one hospital (visits, settlements by bank, refunds by bank)
    /// add up to one line per hospital and one per bank, refunds and collected bills included.
    #[test]
    fn totals_fold_visits_settlements_and_refunds_by_hospital_and_by_bank() {
        let row = |h: &str, b: Option<&str>, f: fn(&mut DayFiguresRow)| {
            let mut r = DayFiguresRow { hospital_code: h.into(), bank_code: b.map(Into::into), ..DayFiguresRow::default() };
            f(&mut r);
            r
        };
        let rows = [
            row("H1", None, |r| r.visits = 5),
            row("H1", Some("B1"), |r| {
                (r.settled, r.medfee_fen, r.bank_fen, r.unpaid_bills, r.unpaid_fen, r.collected_fen) =
                    (5, 60_000, 40_000, 1, 16_969, 300_000)
            }),
            row("H1", Some("B1"), |r| (r.settled, r.stays_settled, r.medfee_fen) = (1, 1, 48_000)),
            row("H1", Some("B1"), |r| (r.refunds, r.refunded_fen) = (1, 2_000)),
            row("H2", None, |r| r.visits = 1),
        ];
        let by_hospital = totals(&rows);
        assert_eq!(by_hospital.len(), 2);
        let h1 = &by_hospital[0];
        assert_eq!((h1.visits, h1.settled, h1.stays_settled, h1.medfee_fen), (5, 6, 1, 108_000));
        assert_eq!((h1.unpaid_bills, h1.unpaid_fen, h1.collected_fen, h1.refunds, h1.refunded_fen), (1, 16_969, 300_000, 1, 2_000));
        let by_bank = bank_totals(&rows);
        assert_eq!(by_bank.len(), 1, "H2's visit has no bank");
        assert_eq!((by_bank[0].code.as_str(), by_bank[0].settled, by_bank[0].refunded_fen, by_bank[0].visits), ("B1", 6, 2_000, 0));
    }
}
