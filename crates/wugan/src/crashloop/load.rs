//! The load of `wugan crashloop`: hospital systems (HIS) that sign patients up, register visits,
//! upload fees, click "settle" and now and then cancel, each retrying a request with the same
//! Idempotency-Key for as long as the hub is down, busy with it, or answers 5xx, the way a
//! hospital's system does. Every settlement the hub acknowledged is written down for the audit.

use crate::his::{HisClient, Reply};
use crate::rng::XorShift;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A request the hub does not answer within this is treated as cut off and sent again.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before retrying while the hub is down or answered 5xx.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Pause before retrying a request the hub still holds in progress (it takes the request over
/// after its idempotency lease, when a crash left it).
const IN_PROGRESS_PAUSE: Duration = Duration::from_millis(250);
/// One visit in this many is cancelled after it settled.
const CANCEL_ONE_IN: u64 = 6;

/// What every client shares: when to stop, until when to retry, and counters of retries.
pub struct Shared {
    /// Set when the kills are done: each client finishes the visit it is on, then stops.
    pub stop: AtomicBool,
    /// After this, a request is given up and counted as unanswered.
    pub deadline: Instant,
    /// Requests sent and not yet answered, right now: how many a kill cuts off.
    pub in_flight: AtomicU64,
    /// Requests that found the hub gone (connection refused or cut) at least once.
    pub interrupted: AtomicU64,
    /// Requests the hub answered "in progress" at least once (a crash left them mid-way).
    pub in_progress: AtomicU64,
    /// 5xx answers, by status and error code.
    pub server_errors: Mutex<BTreeMap<String, usize>>,
    /// Visits whose click the hub answered, so far (for the soak's rate).
    pub clicks: AtomicU64,
}

impl Shared {
    pub fn new(deadline: Instant) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            deadline,
            in_flight: AtomicU64::new(0),
            interrupted: AtomicU64::new(0),
            in_progress: AtomicU64::new(0),
            server_errors: Mutex::new(BTreeMap::new()),
            clicks: AtomicU64::new(0),
        }
    }

    fn note_server_error(&self, reply: &Reply) {
        let key = format!("{} {}", reply.status, reply.code().unwrap_or("?"));
        *self.server_errors.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += 1;
    }
}

/// An insured person of the run's insurance center, and how they pay.
#[derive(Clone)]
pub struct Patient {
    pub certno: String,
    pub payment: Value,
    pub use_personal_account: bool,
}

/// A visit the hub acknowledged, and the last settlement answer it acknowledged for it.
#[derive(Clone, Debug)]
pub struct VisitRecord {
    /// Index of the hospital (in credentials.json) whose system registered it.
    pub hospital: usize,
    pub visit_id: String,
    /// The body of the last 2xx answer to a click or a cancel: what the visit must still show.
    pub last_ack: Option<Value>,
}

/// A signed agreement, as the hub acknowledged it.
#[derive(Clone, Debug)]
pub struct AgreementRecord {
    pub id: String,
    pub bank_code: String,
    pub bank_agreement_id: String,
}

/// What one client did.
#[derive(Default)]
pub struct ClientLog {
    pub visits: Vec<VisitRecord>,
    pub agreements: Vec<AgreementRecord>,
    /// Settlement answers (click and cancel) the hub acknowledged.
    pub acknowledged: usize,
    /// Final non-2xx answers, by step, status and code. None is expected in this workload.
    pub refusals: BTreeMap<String, usize>,
    /// Requests still unanswered at the deadline.
    pub unanswered: usize,
}

/// One hospital system: its hub client, the operator's (for sign-ups), and its own patients.
pub struct Client {
    pub n: usize,
    pub hospital: usize,
    pub his: HisClient,
    pub operator: HisClient,
    pub patients: Vec<Patient>,
    pub seed: u64,
    pub shared: std::sync::Arc<Shared>,
}

/// Why a step did not go on: the hub refused it, or never answered.
enum Stop {
    Refused,
    Unanswered,
}

impl Client {
    /// Visits until told to stop; each visit is finished (or given up at the deadline) first.
    pub async fn run(self) -> ClientLog {
        let shared = &self.shared;
        let mut rng = XorShift::new(self.seed ^ (self.n as u64 + 1).wrapping_mul(0x9E37_79B9));
        let mut signed = vec![false; self.patients.len()];
        let mut log = ClientLog::default();
        let mut visit_no = 0usize;
        while !shared.stop.load(Ordering::Relaxed) && Instant::now() < shared.deadline {
            let p = rng.below(self.patients.len() as u64) as usize;
            if !signed[p] {
                signed[p] = self.sign_up(p, &mut log).await.is_ok();
                continue;
            }
            let _ = self.visit(&mut rng, p, visit_no, &mut log).await;
            visit_no += 1;
        }
        log
    }

    async fn sign_up(&self, p: usize, log: &mut ClientLog) -> Result<(), Stop> {
        let patient = &self.patients[p];
        let body = json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": patient.certno,
                          "use_personal_account": patient.use_personal_account, "payment": patient.payment});
        let key = format!("c{}-signup-{p}", self.n);
        let reply = self.answered(&self.operator, "sign-up", "/api/v1/agreements", &key, &body, log).await?;
        let payment = &reply.body["payment"];
        log.agreements.push(AgreementRecord {
            id: text(&reply.body["id"]),
            bank_code: text(&payment["bank_code"]),
            bank_agreement_id: text(&payment["bank_agreement_id"]),
        });
        Ok(())
    }

    /// Register, upload fees, the doctor's click, and now and then a cancel.
    async fn visit(&self, rng: &mut XorShift, p: usize, v: usize, log: &mut ClientLog) -> Result<(), Stop> {
        let ipt_otp_no = format!("CL{:02}V{v:06}", self.n);
        let key = |step: &str| format!("c{}-v{v}-{step}", self.n);
        let body = json!({"ipt_otp_no": ipt_otp_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": self.patients[p].certno});
        let reg = self.answered(&self.his, "registration", "/api/v1/visits", &key("reg"), &body, log).await?;
        let visit_id = text(&reg.body["id"]);
        log.visits.push(VisitRecord { hospital: self.hospital, visit_id: visit_id.clone(), last_ack: None });
        let base = format!("/api/v1/visits/{visit_id}");
        let lines = json!({"lines": crate::demo::visit_lines(rng, &ipt_otp_no)});
        self.answered(&self.his, "fee upload", &format!("{base}/fees"), &key("fees"), &lines, log).await?;
        let settled = self.answered(&self.his, "settlement", &format!("{base}/settlement"), &key("click"), &json!({}), log).await?;
        record_ack(log, settled.body.clone());
        self.shared.clicks.fetch_add(1, Ordering::Relaxed);
        let state = settled.body["state"].as_str().unwrap_or_default();
        if matches!(state, "settled" | "settled_unpaid") && rng.below(CANCEL_ONE_IN) == 0 {
            let path = format!("{base}/settlement/cancel");
            let cancelled = self.answered(&self.his, "cancel", &path, &key("cancel"), &json!({}), log).await?;
            record_ack(log, cancelled.body);
        }
        Ok(())
    }

    /// [`until_answered`], with a refusal or silence written down under `step`.
    async fn answered(&self, his: &HisClient, step: &str, path: &str, key: &str, body: &Value, log: &mut ClientLog) -> Result<Reply, Stop> {
        match until_answered(&self.shared, his, path, key, body).await {
            Some(reply) if reply.ok() => Ok(reply),
            Some(reply) => {
                *log.refusals.entry(format!("{step}: {} {}", reply.status, reply.code().unwrap_or("?"))).or_default() += 1;
                Err(Stop::Refused)
            }
            None => {
                log.unanswered += 1;
                Err(Stop::Unanswered)
            }
        }
    }
}

fn record_ack(log: &mut ClientLog, settlement: Value) {
    log.acknowledged += 1;
    if let Some(visit) = log.visits.last_mut() {
        visit.last_ack = Some(settlement);
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Sends the request until the hub gives an answer that is its decision: not while it is down,
/// still working on the same key, or failing with 5xx. `None` at the deadline.
pub async fn until_answered(shared: &Shared, his: &HisClient, path: &str, key: &str, body: &Value) -> Option<Reply> {
    let (mut interrupted, mut in_progress) = (false, false);
    while Instant::now() < shared.deadline {
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, his.post_with_key(path, key, body)).await;
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        let pause = match answer {
            Ok(Ok(r)) if r.status == 409 && r.code() == Some("idempotency_in_progress") => {
                in_progress = true;
                IN_PROGRESS_PAUSE
            }
            Ok(Ok(r)) if r.status >= 500 => {
                shared.note_server_error(&r);
                RETRY_PAUSE
            }
            Ok(Ok(r)) => {
                count(&shared.interrupted, interrupted);
                count(&shared.in_progress, in_progress);
                return Some(r);
            }
            // The hub is gone (killed) or did not answer in time: the same request again.
            Ok(Err(_)) | Err(_) => {
                interrupted = true;
                RETRY_PAUSE
            }
        };
        tokio::time::sleep(pause).await;
    }
    None
}

fn count(counter: &AtomicU64, happened: bool) {
    if happened {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
