//! A bank kept in its journal, restarted: after a clean stop, after a crash (the files as a
//! kill -9 leaves them), after a write torn by a crash, and with new terms. Whatever a client
//! could see before the restart, it sees after: agreements, holds, captures, refunds, statements
//! after billing days, repayments, the event feed, replayed request ids; a replayed signature is
//! still refused.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use wugan_bank::calendar::Day;
use wugan_bank::wire::{AgreementKind, AuthorizationRequest, CaptureRequest, CreateAgreementRequest};
use wugan_bank::{router, signing, ApplyError, Bank, BankConfig, Clock, Command, JournalError, ManualClock};
use wugan_domain::money::Fen;

/// The key the journal is sealed with (the same at every opening).
fn journal_key() -> wugan_bank::SealKey {
    wugan_bank::SealKey::from_hex(&"b4".repeat(32)).expect("a key")
}

const HUB: (&str, &str) = ("hub", "dev-secret-change-me");
const STAFF: (&str, &str) = ("staff", "dev-staff-secret-change-me");

/// A folder of its own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        TempDir(std::env::temp_dir().join(format!("wugan-bank-{label}-{}", uuid::Uuid::new_v4().simple())))
    }

    fn db(&self) -> PathBuf {
        self.0.join("bank.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `hour`:00 China time (UTC+8) on the date, as unix seconds.
fn china(year: i64, month: u32, day: u32, hour: i64) -> i64 {
    Day::from_ymd(year, month, day).start_unix_s() + hour * 3600
}

/// A bank on its journal at `db`, spoken to over HTTP, on a clock of its own.
struct Running {
    bank: Arc<Bank>,
    app: Router,
    clock: Arc<ManualClock>,
}

struct Reply {
    status: StatusCode,
    json: Value,
}

impl Running {
    async fn start(db: &Path, now: i64) -> Running {
        Running::start_with(db, now, BankConfig::default()).await
    }

    async fn start_with(db: &Path, now: i64, config: BankConfig) -> Running {
        let clock = Arc::new(ManualClock::new(now));
        let bank = Bank::with_clock(config, clock.clone()).with_journal(db, journal_key()).await.expect("the journal opens");
        let bank = Arc::new(bank);
        Running { app: router(bank.clone()), bank, clock }
    }

    /// Stops cleanly; the next start reads the same file.
    async fn stop(self) -> i64 {
        self.bank.close().await.expect("the journal closes");
        self.clock.now_unix_s()
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.expect("the router is infallible");
        let status = res.status();
        let bytes = to_bytes(res.into_body(), 1 << 20).await.expect("body");
        Reply { status, json: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// A request signed at `timestamp` with `nonce`, as a client would build it.
    fn signed(method: &str, path: &str, body: &[u8], timestamp: i64, nonce: &str) -> Request<Body> {
        Running::signed_as(HUB, method, path, body, timestamp, nonce)
    }

    fn signed_as(key: (&str, &str), method: &str, path: &str, body: &[u8], timestamp: i64, nonce: &str) -> Request<Body> {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        for (name, value) in signing::signed_headers(key.0, key.1, method, path, body, timestamp, nonce) {
            req = req.header(name, value);
        }
        req.body(Body::from(body.to_vec())).expect("request")
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let req = Running::signed(method, path, &bytes, self.bank.wire_now_unix_s(), &signing::new_nonce());
        let reply = self.send(req).await;
        assert_eq!(self.bank.check_invariants().await, Ok(()));
        reply
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body).await;
        assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.json);
        r.json
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.ok("POST", path, Some(body)).await
    }

    /// As bank staff (freeze, every agreement listed).
    async fn staff_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let req = Running::signed_as(STAFF, method, path, &bytes, self.bank.wire_now_unix_s(), &signing::new_nonce());
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.json);
        r.json
    }

    /// Everything a client can read: every list, agreement, statement, operation and event.
    async fn everything(&self, agreements: &[&str], request_ids: &[&str]) -> Vec<Value> {
        let mut seen = vec![self.staff_ok("GET", "/bank/v1/agreements", None).await, self.ok("GET", "/bank/v1/events?after=0", None).await];
        for id in agreements {
            seen.push(self.ok("GET", &format!("/bank/v1/agreements/{id}"), None).await);
            seen.push(self.ok("GET", &format!("/bank/v1/operations?agreement_id={id}"), None).await);
            seen.push(self.call("GET", &format!("/bank/v1/agreements/{id}/statements"), None).await.json);
        }
        for request_id in request_ids {
            seen.push(self.ok("GET", &format!("/bank/v1/operations/{request_id}"), None).await);
        }
        seen
    }
}

fn authorization(request_id: &str, agreement_id: &str, amount_fen: i64) -> Value {
    json!({"request_id": request_id, "agreement_id": agreement_id, "amount_fen": amount_fen, "merchant_id": "H44010600001"})
}

fn capture(request_id: &str, authorization: &str, amount_fen: i64) -> Value {
    json!({"request_id": request_id, "authorization_request_id": authorization, "amount_fen": amount_fen})
}

#[tokio::test]
async fn a_restarted_bank_answers_exactly_as_before() {
    let dir = TempDir::new("story");
    let bank = Running::start(&dir.db(), china(2026, 1, 5, 9)).await;
    // A patient signs a credit line and sees a doctor twice; another pays by debit card.
    let open_line = json!({"request_id": "open-1", "kind": "credit_line", "customer_ref": "hub-agr-1", "limit_fen": 500_000});
    let line = bank.post("/bank/v1/agreements", open_line.clone()).await["agreement_id"].as_str().expect("id").to_string();
    let card = bank
        .post(
            "/bank/v1/agreements",
            json!({"request_id": "open-2", "kind": "debit_card", "customer_ref": "hub-agr-2", "card_no": "6222020000001234"}),
        )
        .await["agreement_id"]
        .as_str()
        .expect("id")
        .to_string();
    bank.post("/bank/v1/authorizations", authorization("visit-1-auth", &line, 30_000)).await;
    bank.post("/bank/v1/captures", capture("visit-1-capture", "visit-1-auth", 25_000)).await;
    // An inpatient deposit, held for 90 days: still held after the restart.
    let mut deposit = authorization("visit-2-auth", &line, 8_000);
    deposit["expires_in_s"] = json!(90 * 86_400);
    bank.post("/bank/v1/authorizations", deposit).await;
    // An outpatient hold nobody captures: it expires after 7 days, before the restart.
    bank.post("/bank/v1/authorizations", authorization("visit-4-auth", &line, 1_000)).await;
    bank.post("/bank/v1/authorizations", authorization("visit-3-auth", &card, 12_000)).await;
    let card_capture = capture("visit-3-capture", "visit-3-auth", 12_000);
    bank.post("/bank/v1/captures", card_capture.clone()).await;
    bank.post("/bank/v1/refunds", json!({"request_id": "visit-3-refund", "capture_request_id": "visit-3-capture", "amount_fen": 2_000}))
        .await;
    // The statement closes on 1 February; on the 12th it is overdue; a part is repaid.
    bank.clock.set(china(2026, 2, 12, 9));
    bank.post(
        &format!("/bank/v1/agreements/{line}/repayments"),
        json!({"request_id": "repay-1", "amount_fen": 5_000, "source": "bank_transfer"}),
    )
    .await;
    bank.post(&format!("/bank/v1/agreements/{line}/limit-requests"), json!({"request_id": "raise-1", "requested_limit_fen": 600_000}))
        .await;
    bank.staff_ok("POST", &format!("/bank/v1/agreements/{card}/freeze"), Some(json!({"frozen": true}))).await;
    let (agreements, request_ids) =
        ([line.as_str(), card.as_str()], ["visit-1-auth", "visit-2-auth", "visit-3-refund", "repay-1", "visit-4-auth"]);
    let before = bank.everything(&agreements, &request_ids).await;
    assert_eq!(before.last().expect("visit-4")["status"], "expired", "{:?}", before.last());
    let dump = bank.bank.state_dump().await.expect("dump");
    let stopped_at = bank.stop().await;

    // The same day, and two days later: billing catches up as if the bank had never stopped.
    let bank = Running::start(&dir.db(), stopped_at).await;
    assert_eq!(bank.bank.state_dump().await.expect("dump"), dump, "the book is rebuilt exactly");
    assert_eq!(bank.everything(&agreements, &request_ids).await, before, "a client sees exactly what it saw");
    // A retried request gets its first answer; the held visit can still be voided.
    assert_eq!(bank.post("/bank/v1/agreements", open_line).await["agreement_id"], line.as_str());
    let first = &before[before.len() - request_ids.len()];
    let retried = bank.post("/bank/v1/authorizations", authorization("visit-1-auth", &line, 30_000)).await;
    assert_eq!(&retried, first);
    bank.post("/bank/v1/voids", json!({"request_id": "visit-2-void", "authorization_request_id": "visit-2-auth"})).await;
    // The event feed goes on where it stopped: no gap, no repeat.
    let last_seq = before[1]["last_seq"].as_u64().expect("last seq");
    bank.post(
        &format!("/bank/v1/agreements/{line}/repayments"),
        json!({"request_id": "repay-2", "amount_fen": 1_000, "source": "bank_transfer"}),
    )
    .await;
    let feed = bank.ok("GET", &format!("/bank/v1/events?after={last_seq}"), None).await;
    assert_eq!(feed["events"][0]["seq"], last_seq + 1, "{feed}");
    assert_eq!(feed["events"][0]["type"], "repayment_posted");
}

#[tokio::test]
async fn billing_days_that_pass_while_the_bank_is_down_are_billed_as_if_it_were_up() {
    let (dir, twin_clock) = (TempDir::new("billing"), Arc::new(ManualClock::new(china(2026, 1, 5, 9))));
    let twin = Arc::new(Bank::with_clock(BankConfig::default(), twin_clock.clone()));
    let twin_app = Running { app: router(twin.clone()), bank: twin, clock: twin_clock };
    let bank = Running::start(&dir.db(), china(2026, 1, 5, 9)).await;
    for running in [&bank, &twin_app] {
        let open = json!({"request_id": "open-1", "kind": "credit_line", "customer_ref": "hub-agr-1", "limit_fen": 500_000});
        let line = running.post("/bank/v1/agreements", open).await["agreement_id"].as_str().expect("id").to_string();
        assert!(line.starts_with("agr-"));
    }
    // The agreement ids are drawn at random: the twin's line is another id, so compare by
    // statement amounts, interest and events rather than by id.
    let line_of = |running: &Running| {
        let running = running.bank.clone();
        async move { running.query(|book| Ok(book.agreements(None, None, 10))).await.expect("list").agreements[0].agreement_id.clone() }
    };
    let (line, twin_line) = (line_of(&bank).await, line_of(&twin_app).await);
    for (running, line) in [(&bank, &line), (&twin_app, &twin_line)] {
        running.post("/bank/v1/authorizations", authorization("visit-1-auth", line, 40_000)).await;
        running.post("/bank/v1/captures", capture("visit-1-capture", "visit-1-auth", 40_000)).await;
    }
    let stopped_at = bank.stop().await;
    // Down from 5 January to 20 March: two statement days and the due date pass unseen.
    let later = china(2026, 3, 20, 9);
    assert!(later > stopped_at);
    let bank = Running::start(&dir.db(), later).await;
    twin_app.clock.set(later);
    let strip = |mut v: Value, id: &str| {
        let text = v.to_string().replace(id, "LINE");
        v = serde_json::from_str(&text).expect("json");
        v
    };
    let statements = strip(bank.ok("GET", &format!("/bank/v1/agreements/{line}/statements"), None).await, &line);
    let twin_statements = strip(twin_app.ok("GET", &format!("/bank/v1/agreements/{twin_line}/statements"), None).await, &twin_line);
    assert_eq!(statements, twin_statements);
    assert_eq!(statements["status"], "overdue");
    let events = strip(bank.ok("GET", "/bank/v1/events?after=0", None).await, &line);
    assert_eq!(events, strip(twin_app.ok("GET", "/bank/v1/events?after=0", None).await, &twin_line));
}

#[tokio::test]
async fn a_signature_accepted_before_a_restart_is_refused_after_it() {
    let dir = TempDir::new("nonces");
    let now = china(2026, 1, 5, 9);
    let bank = Running::start(&dir.db(), now).await;
    let open = |request_id: &str| json!({"request_id": request_id, "kind": "credit_line", "customer_ref": "c"}).to_string().into_bytes();
    let earlier = || Running::signed("POST", "/bank/v1/agreements", &open("open-1"), now - 10, "nonce-earlier-0000001");
    let same_second = || Running::signed("POST", "/bank/v1/agreements", &open("open-2"), now, "nonce-same-second-0001");
    let read = || Running::signed("GET", "/bank/v1/events?after=0", b"", now - 1, "nonce-read-000000000001");
    assert_eq!(bank.send(earlier()).await.status, StatusCode::OK);
    assert_eq!(bank.send(same_second()).await.status, StatusCode::OK);
    assert_eq!(bank.send(read()).await.status, StatusCode::OK);
    assert_eq!(bank.send(same_second()).await.json["code"], "replayed_nonce");
    bank.stop().await;

    // Restarted within the same second: no request the first process accepted gets in again.
    // (Only a request that changed nothing, signed in that very second, is not remembered:
    // replayed, it would change nothing either.)
    let bank = Running::start(&dir.db(), now).await;
    let check = |reply: Reply, code: &str| assert_eq!((reply.status, reply.json["code"].as_str()), (StatusCode::UNAUTHORIZED, Some(code)));
    check(bank.send(same_second()).await, "replayed_nonce");
    check(bank.send(earlier()).await, "stale_timestamp");
    check(bank.send(read()).await, "stale_timestamp");
    // A request signed now is served, and the replay window still applies to it.
    let fresh = || Running::signed("GET", "/bank/v1/events?after=0", b"", now, "nonce-fresh-00000000001");
    assert_eq!(bank.send(fresh()).await.status, StatusCode::OK);
    check(bank.send(fresh()).await, "replayed_nonce");
}

/// Copies the database and its WAL as a crash leaves them, while `running` still has them open.
fn crash_image(db: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).expect("folder");
    let copy = into.join("bank.db");
    std::fs::copy(db, &copy).expect("copy the database");
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    std::fs::copy(&wal, format!("{}-wal", copy.display())).expect("copy the WAL");
    copy
}

fn open_line(request_id: &str, new_agreement_id: &str) -> Command {
    let request = CreateAgreementRequest {
        request_id: request_id.into(),
        kind: AgreementKind::CreditLine,
        customer_ref: format!("c-{request_id}"),
        holder_name: None,
        card_no: None,
        limit_fen: Some(Fen(100_000)),
        opening_balance_fen: None,
    };
    Command::OpenAgreement { client: "hub".into(), new_agreement_id: new_agreement_id.into(), request }
}

fn hold(request_id: &str, agreement_id: &str, amount: i64) -> Command {
    let request = AuthorizationRequest {
        request_id: request_id.into(),
        agreement_id: agreement_id.into(),
        amount_fen: Fen(amount),
        merchant_id: "H1".into(),
        memo: None,
        expires_in_s: None,
    };
    Command::Authorize { client: "hub".into(), request }
}

fn capture_of(request_id: &str, authorization: &str, amount: i64) -> Command {
    let request = CaptureRequest { request_id: request_id.into(), authorization_request_id: authorization.into(), amount_fen: Fen(amount) };
    Command::Capture { client: "hub".into(), request }
}

/// A small day of work, each command changing the book.
fn workload() -> Vec<Command> {
    vec![
        open_line("open-1", "agr-1"),
        hold("a-1", "agr-1", 10_000),
        capture_of("c-1", "a-1", 9_000),
        open_line("open-2", "agr-2"),
        hold("a-2", "agr-2", 5_000),
        capture_of("c-2", "a-2", 5_000),
    ]
}

/// An in-memory bank that was given `commands`: what a bank that never stopped holds.
async fn twin_of(commands: &[Command], now: i64) -> String {
    let twin = Bank::with_clock(BankConfig::default(), Arc::new(ManualClock::new(now)));
    for command in commands {
        twin.apply(command.clone(), None).await.expect("applies");
    }
    dump_of(&twin).await
}

async fn dump_of(bank: &Bank) -> String {
    bank.state_dump().await.expect("dump")
}

#[tokio::test]
async fn a_killed_bank_restarts_with_every_answer_it_gave_and_a_torn_write_is_one_it_never_gave() {
    let dir = TempDir::new("crash");
    let now = china(2026, 1, 5, 9);
    let bank = Bank::with_clock(BankConfig::default(), Arc::new(ManualClock::new(now)))
        .with_journal(&dir.db(), journal_key())
        .await
        .expect("opens");
    let commands = workload();
    for command in &commands {
        bank.apply(command.clone(), None).await.expect("applies");
    }
    // kill -9: the files as they are, the bank still running.
    let killed = crash_image(&dir.db(), &dir.0.join("killed"));
    let torn = crash_image(&dir.db(), &dir.0.join("torn"));
    let garbage = crash_image(&dir.db(), &dir.0.join("garbage"));
    // The last write torn half-way (its last frame cut short), or a partial frame after it.
    let torn_wal = format!("{}-wal", torn.display());
    let length = std::fs::metadata(&torn_wal).expect("wal").len();
    std::fs::OpenOptions::new().write(true).open(&torn_wal).expect("wal").set_len(length - 100).expect("truncate");
    let garbage_wal = format!("{}-wal", garbage.display());
    let mut tail = std::fs::read(&garbage_wal).expect("wal");
    tail.extend(std::iter::repeat_n(0xA5u8, 1_500));
    std::fs::write(&garbage_wal, tail).expect("append");

    let clock = || Arc::new(ManualClock::new(now));
    let restarted = |path: PathBuf| {
        let clock = clock();
        async move { Bank::with_clock(BankConfig::default(), clock).with_journal(&path, journal_key()).await.expect("restarts") }
    };
    let all = twin_of(&commands, now).await;
    let all_but_last = twin_of(&commands[..commands.len() - 1], now).await;
    assert_eq!(dump_of(&restarted(killed).await).await, all, "every answered change survives a kill");
    assert_eq!(dump_of(&restarted(garbage).await).await, all, "a partial frame after the last write is ignored");
    let after_tear = restarted(torn).await;
    assert_eq!(dump_of(&after_tear).await, all_but_last, "the torn write is dropped, and nothing before it");
    // The bank goes on from there: the torn request, retried, is done once.
    after_tear.apply(commands[commands.len() - 1].clone(), None).await.expect("the retry is applied");
    assert_eq!(dump_of(&after_tear).await, all);
    bank.close().await.expect("closes");
}

#[tokio::test]
async fn one_bank_per_file_and_only_its_owner_reads_it() {
    let dir = TempDir::new("owner");
    let db = dir.0.join("nested").join("bank.db");
    let clock = Arc::new(ManualClock::new(china(2026, 1, 5, 9)));
    let first = Bank::with_clock(BankConfig::default(), clock.clone()).with_journal(&db, journal_key()).await.expect("opens");
    let second = Bank::with_clock(BankConfig::default(), clock.clone()).with_journal(&db, journal_key()).await;
    assert!(matches!(second, Err(JournalError::InUse { .. })), "a second bank on the same file is refused");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(db.parent().expect("folder")), 0o700);
    }
    first.close().await.expect("closes");
    assert_eq!(first.apply(Command::Bill, None).await, Err(ApplyError::Stopped("the bank was closed".into())));
    let again =
        Bank::with_clock(BankConfig::default(), clock).with_journal(&db, journal_key()).await.expect("opens once the first is closed");
    again.close().await.expect("closes");
}

#[tokio::test]
async fn new_terms_apply_from_the_restart_and_what_was_done_stays_done() {
    let dir = TempDir::new("terms");
    let now = china(2026, 1, 5, 9);
    let bank = Running::start(&dir.db(), now).await;
    let open = |request_id: &str| json!({"request_id": request_id, "kind": "credit_line", "customer_ref": request_id});
    let old = bank.post("/bank/v1/agreements", open("open-1")).await;
    assert_eq!(old["limit_fen"], 500_000);
    bank.stop().await;

    let generous = BankConfig { default_credit_limit_fen: Fen::yuan(8_000), ..BankConfig::default() };
    let bank = Running::start_with(&dir.db(), now, generous.clone()).await;
    assert_eq!(bank.post("/bank/v1/agreements", open("open-1")).await, old, "a retry still gets the first answer");
    assert_eq!(bank.post("/bank/v1/agreements", open("open-2")).await["limit_fen"], 800_000);
    bank.stop().await;
    // Started again with the same terms: nothing to record, nothing changes.
    let bank = Running::start_with(&dir.db(), now, generous).await;
    assert_eq!(bank.post("/bank/v1/agreements", open("open-1")).await, old);
}

#[tokio::test]
async fn a_journal_that_would_answer_differently_is_refused() {
    let dir = TempDir::new("diverged");
    let now = china(2026, 1, 5, 9);
    let bank = Bank::with_clock(BankConfig::default(), Arc::new(ManualClock::new(now)))
        .with_journal(&dir.db(), journal_key())
        .await
        .expect("opens");
    for command in workload() {
        bank.apply(command, None).await.expect("applies");
    }
    bank.close().await.expect("closes");
    // Someone with the key edits the file: the capture's recorded answer no longer matches the book's.
    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", dir.db().display())).await.expect("connect");
    let sealed: String = sqlx::query_scalar("SELECT answer FROM journal WHERE seq = 4").fetch_one(&mut conn).await.expect("entry 4");
    let answer = journal_key().open(&sealed).expect("opens with the key");
    assert!(answer.contains("9000"), "entry 4 is the capture: {answer}");
    let edited = journal_key().seal(&answer.replace("9000", "9001")).expect("seals");
    sqlx::query("UPDATE journal SET answer = ?1 WHERE seq = 4").bind(edited).execute(&mut conn).await.expect("edit");
    <sqlx::SqliteConnection as sqlx::Connection>::close(conn).await.expect("close");
    let reopened = Bank::with_clock(BankConfig::default(), Arc::new(ManualClock::new(now))).with_journal(&dir.db(), journal_key()).await;
    let error = reopened.err().expect("refused").to_string();
    assert!(error.contains("journal entry 4 now answers"), "{error}");
}

#[tokio::test]
async fn a_plain_journal_of_an_earlier_version_is_sealed_when_opened() {
    let dir = TempDir::new("plain");
    let now = china(2026, 1, 5, 9);
    let (db, url) = (dir.db(), format!("sqlite://{}", dir.db().display()));
    let open = || Bank::with_clock(BankConfig::default(), Arc::new(ManualClock::new(now))).with_journal(&db, journal_key());
    let bank = open().await.expect("opens");
    for command in workload() {
        bank.apply(command, None).await.expect("applies");
    }
    let before = bank.state_dump().await.expect("dump");
    bank.close().await.expect("closes");
    // Written back as format 1 kept it: plain JSON.
    let connect = || <sqlx::SqliteConnection as sqlx::Connection>::connect(&url);
    let mut conn = connect().await.expect("connect");
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT seq, command, answer FROM journal").fetch_all(&mut conn).await.expect("rows");
    for (seq, command, answer) in rows {
        let (command, answer) = (journal_key().open(&command).expect("sealed"), journal_key().open(&answer).expect("sealed"));
        sqlx::query("UPDATE journal SET command = ?1, answer = ?2 WHERE seq = ?3")
            .bind(command)
            .bind(answer)
            .bind(seq)
            .execute(&mut conn)
            .await
            .expect("plain");
    }
    sqlx::query("PRAGMA user_version = 1").execute(&mut conn).await.expect("format 1");
    <sqlx::SqliteConnection as sqlx::Connection>::close(conn).await.expect("close");

    let bank = open().await.expect("a plain journal opens");
    assert_eq!(bank.state_dump().await.expect("dump"), before, "the same book");
    bank.close().await.expect("closes");
    let mut conn = connect().await.expect("connect");
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT command, answer FROM journal").fetch_all(&mut conn).await.expect("rows");
    assert!(!rows.is_empty() && rows.iter().all(|(c, a)| c.starts_with("s1:") && a.starts_with("s1:")), "sealed in place");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut conn).await.expect("version");
    assert_eq!(version, wugan_bank::journal::FORMAT);
}
