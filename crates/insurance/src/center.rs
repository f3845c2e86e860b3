//! The insurance center: configuration, the clock, and `call` — one request body in, one reply out,
//! with msgid replay (the hub retries a timed-out call with the same msgid and must get the first
//! answer, never a second settlement).
//!
//! In memory ([`InsuranceCenter::new`]) or persistent ([`InsuranceCenter::open`]): a persistent
//! center journals every request that may change state (`journal`) and answers only once the entry
//! is on disk; at start it replays the journal through the same handlers, at the clock readings
//! they first ran at, and checks that each reply comes out as it was sent.

use crate::clock::{Clock, Now, SystemClock};
use crate::ctx::Ctx;
use crate::envelope::{reply, Envelope, ReplyStamp};
use crate::error::TxError;
use crate::faults::{FaultInjector, Faults};
use crate::journal::{self, Entry, Journal, Meta, Opened, Unrecorded};
use crate::person::Person;
use crate::state::{PersonView, SettlementSummary, State, StoredReply};
use crate::tx::{changes_state, dispatch};
use anyhow::Context;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wugan_policy::PolicySet;
use wugan_seal::SealKey;

pub struct InsuranceConfig {
    /// The center's region (医保区划), e.g. "440300".
    pub admdvs: String,
    pub policy: PolicySet,
    pub persons: Vec<Person>,
}

/// A regional insurance platform. `Send + Sync`: share it in an `Arc`.
pub struct InsuranceCenter {
    admdvs: String,
    policy: PolicySet,
    state: Mutex<State>,
    /// Serial of inf_refmsgid, outside the lock so even refused requests get one.
    ref_serial: AtomicU64,
    /// Injected faults at the HTTP edge (off unless [`InsuranceCenter::with_faults`]).
    faults: FaultInjector,
    clock: Arc<dyn Clock>,
    /// Where a persistent center records what it did; `None` in memory.
    journal: Option<Journal>,
    /// Refuse every message but 9001/9002 whose sign_no is not a sign-in of its sender that day
    /// (off by default: existing peers send an empty or made-up sign_no).
    strict_sign_in: bool,
}

/// Journal entries read per query at start-up (bounds the memory replay needs).
const REPLAY_PAGE: u32 = 1_000;

impl InsuranceCenter {
    /// A center in memory: a restart forgets everything (tests, `simulate`, `demo`).
    pub fn new(config: InsuranceConfig) -> anyhow::Result<InsuranceCenter> {
        InsuranceCenter::new_with_clock(config, Arc::new(SystemClock))
    }

    /// A center in memory reading `clock`.
    pub fn new_with_clock(config: InsuranceConfig, clock: Arc<dyn Clock>) -> anyhow::Result<InsuranceCenter> {
        check(&config)?;
        let seq_start = first_serial(&Now::read(&*clock));
        let state = State::new(config.persons, seq_start)?;
        Ok(InsuranceCenter::assemble(config.admdvs, config.policy, state, clock, None))
    }

    /// A persistent center on the journal at `path` (created if missing): what it did before a
    /// restart is replayed, so a restart changes nothing a caller can see.
    /// What it journals names persons, so it is sealed with `key` (keep the key beside, not in,
    /// the journal's backups).
    pub async fn open(config: InsuranceConfig, path: &Path, key: SealKey) -> anyhow::Result<InsuranceCenter> {
        InsuranceCenter::open_with_clock(config, path, key, Arc::new(SystemClock)).await
    }

    /// A persistent center reading `clock`. Refuses a journal of another region, and one whose
    /// replay answers differently from what was sent (the persons file or the policy changed).
    pub async fn open_with_clock(
        config: InsuranceConfig,
        path: &Path,
        key: SealKey,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<InsuranceCenter> {
        check(&config)?;
        let fresh = Meta { admdvs: config.admdvs.clone(), seq_start: first_serial(&Now::read(&*clock)) };
        let mut opened = journal::open(path, fresh, key).await?;
        let region = &opened.meta.admdvs;
        anyhow::ensure!(*region == config.admdvs, "{} is the journal of region {region}, not {}", path.display(), config.admdvs);
        let mut state = State::new(config.persons, opened.meta.seq_start)?;
        let started = std::time::Instant::now();
        let last = replay_journal(&mut opened, &mut state, &config.admdvs, &config.policy)
            .await
            .with_context(|| format!("replaying {}", path.display()))?;
        tracing::info!(entries = last, ms = started.elapsed().as_millis() as u64, journal = %path.display(), "insurance journal replayed");
        let journal = opened.start(last);
        Ok(InsuranceCenter::assemble(config.admdvs, config.policy, state, clock, Some(journal)))
    }

    fn assemble(admdvs: String, policy: PolicySet, state: State, clock: Arc<dyn Clock>, journal: Option<Journal>) -> InsuranceCenter {
        InsuranceCenter {
            admdvs,
            policy,
            state: Mutex::new(state),
            ref_serial: AtomicU64::new(first_serial(&Now::read(&*clock))),
            faults: FaultInjector::new(Faults::default()),
            clock,
            journal,
            strict_sign_in: false,
        }
    }

    /// Checks sign-in: a message other than 9001/9002 must carry a sign_no its sender got from
    /// 9001 that day (China time), or it is refused (infcode -1, "签到编号无效 / sign_no"),
    /// unrecorded, so the same msgid may be sent again once signed in.
    pub fn with_strict_sign_in(mut self) -> InsuranceCenter {
        self.strict_sign_in = true;
        self
    }

    /// Turns on fault injection (latency, refusals, errors, timeouts after commit, duplicate
    /// delivery) for requests that come through [`crate::router`]. Seeded: deterministic.
    pub fn with_faults(mut self, faults: Faults) -> InsuranceCenter {
        self.faults = FaultInjector::new(faults);
        self
    }

    pub fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    pub fn admdvs(&self) -> &str {
        &self.admdvs
    }

    pub fn policy(&self) -> &PolicySet {
        &self.policy
    }

    /// Sets a hospital's grade (1, 2, 3) for ratio and deductible tables; unknown hospitals are grade 3.
    /// A persistent center journals it like a transaction (settlements depend on it).
    pub fn set_hospital_grade(&self, fixmedins_code: &str, grade: u32) {
        let mut state = self.lock();
        state.hosp_grades.insert(fixmedins_code.to_string(), grade);
        if let Some(journal) = &self.journal {
            journal.append(Entry::HospitalGrade { fixmedins_code: fixmedins_code.to_string(), grade });
        }
    }

    /// Handles one national-interface request body and returns the reply envelope: every business
    /// problem is an infcode -1 reply. A persistent center answers once the request (and everything
    /// before it) is on disk; `Unrecorded` when its journal cannot be written.
    pub async fn call(&self, body: &[u8]) -> Result<Value, Unrecorded> {
        let text = self.call_text(body).await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// [`InsuranceCenter::call`], the reply as the JSON text it was stored and journaled as:
    /// serialized once, and sent as it is.
    pub async fn call_text(&self, body: &[u8]) -> Result<Arc<str>, Unrecorded> {
        self.call_parsed(body, Envelope::parse(body)).await
    }

    /// [`InsuranceCenter::call_text`] for a body its caller has already parsed (`Envelope::parse`
    /// of these very bytes): the gateway reads the envelope to check the caller, and a 2204 upload
    /// of a few thousand lines is then not parsed a second time.
    pub(crate) async fn call_parsed(&self, body: &[u8], parsed: Result<Envelope, TxError>) -> Result<Arc<str>, Unrecorded> {
        if self.journal.as_ref().is_some_and(Journal::failed) {
            return Err(Unrecorded);
        }
        let response = self.apply(body, parsed);
        self.flushed().await?;
        Ok(response)
    }

    /// Waits until everything the center has done so far is on disk (at once in memory). A reply,
    /// or a view, may show only what a restart keeps.
    pub async fn flushed(&self) -> Result<(), Unrecorded> {
        match &self.journal {
            Some(journal) => journal.flushed().await,
            None => Ok(()),
        }
    }

    /// The request applied to the state under the lock, and journaled there (so the journal's
    /// order is the order of the state's changes).
    fn apply(&self, body: &[u8], parsed: Result<Envelope, TxError>) -> Arc<str> {
        let now = Now::read(&*self.clock);
        let stamp = self.stamp(&now);
        let env = match parsed {
            Ok(env) => env,
            Err(e) => return reply(&stamp, Err(e)).to_string().into(),
        };
        let mut state = self.lock();
        if let Some(stored) = state.replies.get(&replay_key(&env)) {
            if stored.answers(&env.infno, &env.input) {
                return stored.response.clone();
            }
            let refused = TxError::new("报文ID已用于其他请求", format!("msgid {} was already used for a different request", env.msgid));
            return reply(&stamp, Err(refused)).to_string().into();
        }
        if self.strict_sign_in
            && !matches!(env.infno.as_str(), "9001" | "9002")
            && !state.signed_in(&env.fixmedins_code, &env.sign_no, now.date())
        {
            let refused = TxError::new(
                "签到编号无效，请先签到",
                format!("sign_no '{}' is not a sign-in of {} today: sign in (9001) first", env.sign_no, env.fixmedins_code),
            );
            return reply(&stamp, Err(refused)).to_string().into();
        }
        let journal = self.journal.as_ref().filter(|_| changes_state(&env.infno));
        let (infno, msgid) = (env.infno.clone(), env.msgid.clone());
        let response = run(&mut state, env, &now, &stamp, &self.admdvs, &self.policy);
        if let Some(refusal) = &response.refusal {
            tracing::info!(infno = %infno, msgid = %msgid, error = %refusal, "insurance transaction refused");
        }
        if let Some(journal) = journal {
            let body = String::from_utf8_lossy(body).into_owned();
            journal.append(Entry::Request { infno, msgid, body, at_unix_ns: now.unix_nanos(), response: response.text.to_string() });
        }
        response.text
    }

    /// The reply to a request the gateway turned away (see `auth`): the platform's shape, with a
    /// receiver message id of its own, and nothing recorded.
    pub fn refusal(&self, message: &str) -> Value {
        let stamp = self.stamp(&Now::read(&*self.clock));
        reply(&stamp, Err(TxError::bilingual(message.to_string())))
    }

    fn stamp(&self, now: &Now) -> ReplyStamp {
        let serial = self.ref_serial.fetch_add(1, Ordering::Relaxed) % 10_000_000_000;
        ReplyStamp { inf_refmsgid: format!("{}{}{serial:010}", self.admdvs, now.compact()), time: now.millis() }
    }

    /// Sandbox view for auditors: settlements, optionally of one hospital, in settlement order.
    /// `GET /sandbox/visits/{mdtrt_id}`: a visit's number (门诊号 or 住院号), begin time, 医疗类别 and diagnoses as 2201/2203 (an
    /// admission's: 2401/2403) left them; for an admission, its department, main diagnosis, surgery
    /// and 生育类别 (2401/2403), when it was discharged (2402's endtime) with the discharge's 离院方式,
    /// department, diagnoses, 并发症 flag and 死亡日期, and its final settlement.
    pub fn visit(&self, mdtrt_id: &str) -> Option<serde_json::Value> {
        let state = self.lock();
        let v = state.visits.get(mdtrt_id)?;
        let adm = v.admission.clone().unwrap_or_default();
        let dscg = adm.discharge.unwrap_or_default();
        Some(serde_json::json!({"mdtrt_id": mdtrt_id, "psn_no": v.psn_no, "fixmedins_code": v.fixmedins_code,
            "ipt_otp_no": v.ipt_otp_no, "begntime": v.begntime, "med_type": v.med_type, "diagnoses": v.diagnoses, "cancelled": v.cancelled, "adm_dept_codg": adm.adm_dept_codg,
            "dscg_maindiag_code": adm.dscg_maindiag_code, "dscg_maindiag_name": adm.dscg_maindiag_name,
            "oprn_oprt_code": adm.oprn_oprt_code, "oprn_oprt_name": adm.oprn_oprt_name, "matn_type": adm.matn_type,
            "discharged": adm.discharged, "dscg_way": dscg.dscg_way, "dscg_dept_codg": dscg.dscg_dept_codg,
            "dscg_diagnoses": dscg.diagnoses, "cop_flag": dscg.cop_flag, "die_date": dscg.die_date, "final_setl_id": adm.final_setl_id}))
    }

    pub fn settlements(&self, fixmedins_code: Option<&str>) -> Vec<SettlementSummary> {
        let state = self.lock();
        state
            .settlements
            .iter()
            .filter(|s| fixmedins_code.is_none_or(|code| s.fixmedins_code == code))
            .map(SettlementSummary::from)
            .collect()
    }

    /// Sandbox view: a person's balance and accumulators.
    pub fn person(&self, psn_no: &str) -> Option<PersonView> {
        let state = self.lock();
        let mut view = state.accounts.get(psn_no).map(PersonView::from)?;
        view.account_repayments = state
            .account_repayments
            .iter()
            .filter(|r| r.psn_no == psn_no)
            .map(|r| serde_json::json!({"txn_id": r.txn_id, "amount": r.amount.to_yuan_string(), "payee_ref": r.payee_ref, "cancelled": r.cancelled}))
            .collect();
        Some(view)
    }

    /// Everything a restart must keep, in a canonical text (for tests comparing two centers): the
    /// state without the replies to reads and without the per-process reply serial.
    #[doc(hidden)]
    pub fn state_dump(&self) -> String {
        self.lock().dump(|reply| changes_state(&reply.infno))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied transaction (each validates
        // before it mutates), so the state is still consistent: keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn check(config: &InsuranceConfig) -> anyhow::Result<()> {
    let admdvs_ok = config.admdvs.len() == 6 && config.admdvs.bytes().all(|b| b.is_ascii_digit());
    anyhow::ensure!(admdvs_ok, "admdvs must be a 6-digit division code, got '{}'", config.admdvs);
    config.policy.validate()?;
    Ok(())
}

/// Ids embed the date and a serial; starting the serial at the time of day keeps the ids of a
/// center started later that day (in memory: a restart) distinct from the ones issued before.
fn first_serial(now: &Now) -> u64 {
    now.seconds_of_day() * 10_000
}

/// Runs a request that is not a msgid replay and keeps its reply for msgid replay.
/// A transaction's reply, serialized once: stored for msgid replay, journaled and sent as this text.
struct Answered {
    text: Arc<str>,
    /// The refusal's message, for the log.
    refusal: Option<String>,
}

fn run(state: &mut State, env: Envelope, now: &Now, stamp: &ReplyStamp, admdvs: &str, policy: &PolicySet) -> Answered {
    let ctx = Ctx { env: &env, now, admdvs, policy };
    let result = dispatch(state, &ctx);
    let refusal = result.as_ref().err().map(|e| e.message.clone());
    let text: Arc<str> = reply(stamp, result).to_string().into();
    state.replies.insert(replay_key(&env), StoredReply::new(env.infno.clone(), &env.input, text.clone()));
    Answered { text, refusal }
}

/// Msgids are scoped to the hospital that sent them (the gateway checked that the envelope's
/// `fixmedins_code` is the caller's): no hospital can use up, or read the reply to, another's msgid.
fn replay_key(env: &Envelope) -> String {
    crate::state::ReplyStore::key(&env.fixmedins_code, &env.msgid)
}

/// Replays the whole journal, a page at a time; returns the position of the last entry.
async fn replay_journal(opened: &mut Opened, state: &mut State, admdvs: &str, policy: &PolicySet) -> anyhow::Result<u64> {
    let mut last = 0;
    loop {
        let page = opened.page(last, REPLAY_PAGE).await?;
        let Some(&(next, _)) = page.last() else { return Ok(last) };
        for (pos, entry) in page {
            replay(state, entry, admdvs, policy).with_context(|| format!("journal entry {pos}"))?;
        }
        last = next;
    }
}

/// Applies one journal entry at start-up: a request runs again at the clock reading it first ran
/// at, and must answer exactly what was sent then (same stamp, same output).
fn replay(state: &mut State, entry: Entry, admdvs: &str, policy: &PolicySet) -> anyhow::Result<()> {
    let (body, at_unix_ns, response) = match entry {
        Entry::HospitalGrade { fixmedins_code, grade } => {
            state.hosp_grades.insert(fixmedins_code, grade);
            return Ok(());
        }
        Entry::Request { body, at_unix_ns, response, .. } => (body, at_unix_ns, response),
    };
    let now = Now::from_unix_nanos(at_unix_ns).ok_or_else(|| anyhow::anyhow!("clock reading {at_unix_ns} out of range"))?;
    let env = Envelope::parse(body.as_bytes()).map_err(|e| anyhow::anyhow!("the request does not parse: {}", e.message))?;
    let sent: SentStamp = serde_json::from_str(&response).context("the reply sent does not parse")?;
    let stamp = ReplyStamp { inf_refmsgid: sent.inf_refmsgid, time: sent.refmsg_time };
    let (infno, msgid) = (env.infno.clone(), env.msgid.clone());
    // Compared as text: the reply is serialized the same way it was when it was sent.
    let again = run(state, env, &now, &stamp, admdvs, policy).text;
    anyhow::ensure!(
        *again == *response,
        "{infno} msgid {msgid} answers differently from the reply sent (were the persons file or the policy changed?)\n sent: {}\n now:  {}",
        clip(&response),
        clip(&again),
    );
    Ok(())
}

/// The stamp of a reply sent (the rest of it is compared as text).
#[derive(serde::Deserialize)]
struct SentStamp {
    inf_refmsgid: String,
    refmsg_time: String,
}

fn clip(text: &str) -> String {
    text.chars().take(600).collect()
}
