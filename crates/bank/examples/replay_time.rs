//! How long a bank takes to start on a long journal, and how long one journaled change takes.
//!
//! `cargo run -p wugan-bank --example replay_time -- [ENTRIES] [LIVE_WRITES]` (default 100000 and
//! 200). The journal is written in one transaction from a pure book (the answers the book gives);
//! the book alone is timed on the same commands (with their JSON), then a bank is started on the
//! journal and timed; then `LIVE_WRITES` changes are applied one by one, each on disk (fsynced)
//! before the next.

use std::sync::Arc;
use std::time::Instant;
use wugan_bank::book::{answer_text, BankBook, BookConfig};
use wugan_bank::wire::{AgreementKind, AuthorizationRequest, CaptureRequest, CreateAgreementRequest, RepaymentRequest, RepaymentSource};
use wugan_bank::{Bank, BankConfig, Command, ManualClock};
use wugan_domain::money::Fen;

/// The key the journal is sealed with (the same at every opening).
fn journal_key() -> wugan_bank::SealKey {
    wugan_bank::SealKey::from_hex(&"b4".repeat(32)).expect("a key")
}

/// 2026-01-05T01:00:00Z.
const START_UNIX_S: i64 = 1_767_574_800;
const AGREEMENTS: usize = 2_000;

/// The `i`th command of a plausible workload: lines opened, visits held and captured, repaid,
/// and the clock moving an hour every 100 commands, so statements close and go overdue.
fn command(i: usize) -> Command {
    let client = "hub".to_string();
    let agreement_id = format!("agr-{}", i % AGREEMENTS);
    if i < AGREEMENTS {
        let request = CreateAgreementRequest {
            request_id: format!("open-{i}"),
            kind: AgreementKind::CreditLine,
            customer_ref: agreement_id.clone(),
            holder_name: None,
            card_no: None,
            limit_fen: Some(Fen(10_000_000)),
            opening_balance_fen: None,
        };
        return Command::OpenAgreement { client, new_agreement_id: agreement_id, request };
    }
    match i % 3 {
        0 => {
            let request = AuthorizationRequest {
                request_id: format!("auth-{i}"),
                agreement_id,
                amount_fen: Fen(1_000),
                merchant_id: "H1".into(),
                memo: None,
                expires_in_s: None,
            };
            Command::Authorize { client, request }
        }
        1 => {
            let request = CaptureRequest {
                request_id: format!("capture-{i}"),
                authorization_request_id: format!("auth-{}", i - 1),
                amount_fen: Fen(900),
            };
            Command::Capture { client, request }
        }
        _ => {
            let request = RepaymentRequest {
                request_id: format!("repay-{i}"),
                amount_fen: Fen(500),
                source: RepaymentSource::BankTransfer,
                reference: None,
            };
            Command::Repay { client, agreement_id: format!("agr-{}", (i - 2) % AGREEMENTS), request }
        }
    }
}

fn at(i: usize) -> i64 {
    START_UNIX_S + (i / 100) as i64 * 3_600
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let entries = args.next().transpose()?.unwrap_or(100_000);
    let live_writes = args.next().transpose()?.unwrap_or(200);
    let folder = std::env::temp_dir().join(format!("wugan-replay-time-{}", uuid::Uuid::new_v4().simple()));
    let db = folder.join("bank.db");
    // The bank writes its first entry (its terms); the workload follows in one transaction.
    Bank::with_clock(BankConfig::default(), Arc::new(ManualClock::new(START_UNIX_S)))
        .with_journal(&db, journal_key())
        .await?
        .close()
        .await?;
    let started = Instant::now();
    write_workload(&db, entries).await?;
    println!("wrote {entries} entries in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let mut book = BankBook::new(BookConfig::default());
    for i in 0..entries {
        let text = serde_json::to_string(&command(i))?;
        let command: Command = serde_json::from_str(&text)?;
        answer_text(&book.apply(&command, at(i)).answer);
    }
    let pure = started.elapsed();
    println!(
        "the book alone: {:.2} s ({:.1} µs each, with the JSON of command and answer)",
        pure.as_secs_f64(),
        pure.as_secs_f64() * 1e6 / entries as f64
    );

    let clock = Arc::new(ManualClock::new(at(entries)));
    let started = Instant::now();
    let bank = Bank::with_clock(BankConfig::default(), clock).with_journal(&db, journal_key()).await?;
    let replay = started.elapsed();
    println!("replayed {entries} entries in {:.2} s ({:.1} µs each)", replay.as_secs_f64(), replay.as_secs_f64() * 1e6 / entries as f64);

    let started = Instant::now();
    for i in 0..live_writes {
        let request = AuthorizationRequest {
            request_id: format!("live-{i}"),
            agreement_id: format!("agr-{i}"),
            amount_fen: Fen(100),
            merchant_id: "H1".into(),
            memo: None,
            expires_in_s: None,
        };
        bank.apply(Command::Authorize { client: "hub".into(), request }, None).await?;
    }
    let live = started.elapsed();
    println!(
        "{live_writes} live changes in {:.2} s ({:.2} ms each, fsynced)",
        live.as_secs_f64(),
        live.as_secs_f64() * 1e3 / live_writes as f64
    );
    bank.close().await?;
    let size = std::fs::metadata(&db)?.len();
    println!("journal file: {:.1} MB", size as f64 / 1e6);
    std::fs::remove_dir_all(&folder)?;
    Ok(())
}

async fn write_workload(db: &std::path::Path, entries: usize) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
    let mut tx = conn.begin().await?;
    let mut book = BankBook::new(BookConfig::default());
    for i in 0..entries {
        let command = command(i);
        let applied = book.apply(&command, at(i));
        sqlx::query("INSERT INTO journal (seq, applied_at_unix_s, command, answer) VALUES (?1, ?2, ?3, ?4)")
            .bind(i as i64 + 2)
            .bind(at(i))
            .bind(serde_json::to_string(&command)?)
            .bind(answer_text(&applied.answer))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}
