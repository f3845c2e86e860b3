//! The T+1 statement file (对账单): every money operation a bank recorded for one client on one
//! settlement date, as CSV. The bank writes it from its own book (`wugan-bank`, `book/statement.rs`)
//! and the hub reads it to reconcile (`wugan-hub`, `app/reconciliation.rs`); both use this module,
//! so the format lives in one place.
//!
//! ```text
//! transaction_id,request_id,time_unix_s,type,amount_fen,settlement_date
//! B000000000017,auth-1f3a,1796090400,authorization,12000,2026-12-01
//! B000000000018,cap-1f3a,1796090405,capture,12000,2026-12-01
//! TRAILER,2,24000
//! ```
//!
//! The trailer carries the line count and the sum of the amounts (fen), so a truncated file is
//! refused rather than read as a short day. Ids never contain commas (the bank refuses request ids
//! with separators), so no quoting is needed.

use wugan_domain::money::Fen;

/// The header line, exactly.
pub const HEADER: &str = "transaction_id,request_id,time_unix_s,type,amount_fen,settlement_date";
/// The largest file a reader accepts, in lines (a day of a large bank fits many times).
pub const MAX_LINES: usize = 20_000_000;

/// What an operation did to the money, as the statement names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryType {
    /// An approved hold (declined authorizations move nothing and are not listed).
    Authorization,
    Capture,
    Void,
    Refund,
    /// 还款 on a credit line.
    Repayment,
    /// A hold the bank released when it expired.
    Expiry,
}

impl EntryType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Authorization => "authorization",
            EntryType::Capture => "capture",
            EntryType::Void => "void",
            EntryType::Refund => "refund",
            EntryType::Repayment => "repayment",
            EntryType::Expiry => "expiry",
        }
    }

    pub fn parse(text: &str) -> Option<EntryType> {
        let all =
            [EntryType::Authorization, EntryType::Capture, EntryType::Void, EntryType::Refund, EntryType::Repayment, EntryType::Expiry];
        all.into_iter().find(|t| t.as_str() == text)
    }
}

/// One line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    /// The bank's own id of the operation.
    pub transaction_id: String,
    /// The request id the client sent (for an expiry: the authorization's).
    pub request_id: String,
    pub time_unix_s: i64,
    pub entry_type: EntryType,
    pub amount_fen: Fen,
    /// `YYYY-MM-DD`, China time: the business day the operation belongs to.
    pub settlement_date: String,
}

/// One client's statement for one settlement date.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Statement {
    pub lines: Vec<StatementLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("the statement does not start with the header")]
    Header,
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("the statement has no trailer (truncated?)")]
    NoTrailer,
    #[error("the trailer says {count} lines summing to {sum_fen} fen, the file has {actual_count} summing to {actual_sum_fen}")]
    TrailerMismatch { count: usize, sum_fen: i64, actual_count: usize, actual_sum_fen: i64 },
    #[error("the statement has more than {MAX_LINES} lines")]
    TooLong,
}

impl Statement {
    /// The sum of every line's amount, whatever its type (the trailer's check sum).
    pub fn sum_fen(&self) -> Fen {
        self.lines.iter().map(|l| l.amount_fen).sum()
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(64 * (self.lines.len() + 2));
        out.push_str(HEADER);
        out.push('\n');
        for l in &self.lines {
            let t = l.entry_type.as_str();
            out.push_str(&format!(
                "{},{},{},{t},{},{}\n",
                l.transaction_id, l.request_id, l.time_unix_s, l.amount_fen.0, l.settlement_date
            ));
        }
        out.push_str(&format!("TRAILER,{},{}\n", self.lines.len(), self.sum_fen().0));
        out
    }

    /// Reads a file written by [`Statement::to_csv`]; anything else is refused with the line.
    pub fn parse_csv(text: &str) -> Result<Statement, StatementError> {
        let mut rows = text.lines();
        if rows.next() != Some(HEADER) {
            return Err(StatementError::Header);
        }
        let mut lines = Vec::new();
        for (index, row) in rows.enumerate() {
            let line = index + 2;
            if let Some(trailer) = row.strip_prefix("TRAILER,") {
                let statement = Statement { lines };
                statement.check_trailer(trailer, line)?;
                return Ok(statement);
            }
            if lines.len() >= MAX_LINES {
                return Err(StatementError::TooLong);
            }
            lines.push(parse_line(row).map_err(|reason| StatementError::Line { line, reason })?);
        }
        Err(StatementError::NoTrailer)
    }

    fn check_trailer(&self, trailer: &str, line: usize) -> Result<(), StatementError> {
        let bad = |reason: &str| StatementError::Line { line, reason: reason.to_string() };
        let (count, sum) = trailer.split_once(',').ok_or_else(|| bad("the trailer is TRAILER,count,sum_fen"))?;
        let count: usize = count.parse().map_err(|_| bad("the trailer's count is not a number"))?;
        let sum_fen: i64 = sum.parse().map_err(|_| bad("the trailer's sum is not a number"))?;
        let (actual_count, actual_sum_fen) = (self.lines.len(), self.sum_fen().0);
        if count != actual_count || sum_fen != actual_sum_fen {
            return Err(StatementError::TrailerMismatch { count, sum_fen, actual_count, actual_sum_fen });
        }
        Ok(())
    }
}

fn parse_line(row: &str) -> Result<StatementLine, String> {
    let fields: Vec<&str> = row.split(',').collect();
    let [transaction_id, request_id, time, entry_type, amount, date] = fields[..] else {
        return Err(format!("{} fields, expected 6", fields.len()));
    };
    if transaction_id.is_empty() || request_id.is_empty() {
        return Err("an empty id".into());
    }
    let time_unix_s = time.parse().map_err(|_| format!("time '{time}' is not unix seconds"))?;
    let entry_type = EntryType::parse(entry_type).ok_or_else(|| format!("unknown type '{entry_type}'"))?;
    let amount_fen = Fen(amount.parse().map_err(|_| format!("amount '{amount}' is not integer fen"))?);
    if !is_date(date) {
        return Err(format!("settlement date '{date}' is not YYYY-MM-DD"));
    }
    let (transaction_id, request_id, settlement_date) = (transaction_id.to_string(), request_id.to_string(), date.to_string());
    Ok(StatementLine { transaction_id, request_id, time_unix_s, entry_type, amount_fen, settlement_date })
}

/// `YYYY-MM-DD` by shape (the calendar check is the reader's).
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, entry_type: EntryType, fen: i64) -> StatementLine {
        let (transaction_id, request_id, settlement_date) = (format!("B{id}"), id.to_string(), "2026-12-01".to_string());
        StatementLine { transaction_id, request_id, time_unix_s: 1_796_090_400, entry_type, amount_fen: Fen(fen), settlement_date }
    }

    #[test]
    fn a_statement_reads_back_as_written() {
        let statement = Statement { lines: vec![line("a1", EntryType::Authorization, 12_000), line("c1", EntryType::Capture, 11_999)] };
        let csv = statement.to_csv();
        assert!(csv.ends_with("TRAILER,2,23999\n"), "{csv}");
        assert_eq!(Statement::parse_csv(&csv), Ok(statement));
    }

    type Expect = fn(&StatementError) -> bool;

    #[test]
    fn a_damaged_file_is_refused_not_read_short() {
        let csv = Statement { lines: vec![line("a1", EntryType::Authorization, 100), line("c1", EntryType::Capture, 100)] }.to_csv();
        let keep = |drop: &str| -> String { csv.lines().filter(|l| !l.starts_with(drop)).map(|l| format!("{l}\n")).collect() };
        let (without_trailer, without_capture) = (keep("TRAILER"), keep("Bc1"));
        let cases: [(&str, Expect); 5] = [
            ("", |e| matches!(e, StatementError::Header)),
            (&without_trailer, |e| matches!(e, StatementError::NoTrailer)),
            (&without_capture, |e| matches!(e, StatementError::TrailerMismatch { .. })),
            ("transaction_id,request_id,time_unix_s,type,amount_fen,settlement_date\nB1,r1,1,payment,5,2026-12-01\nTRAILER,1,5\n", |e| {
                matches!(e, StatementError::Line { line: 2, .. })
            }),
            (
                "transaction_id,request_id,time_unix_s,type,amount_fen,settlement_date\nB1,r1,1,capture,5.00,2026-12-01\nTRAILER,1,5\n",
                |e| matches!(e, StatementError::Line { line: 2, .. }),
            ),
        ];
        for (text, expected) in cases {
            let err = Statement::parse_csv(text).expect_err(text);
            assert!(expected(&err), "{text:?} gave {err:?}");
        }
    }
}
