//! A persistent insurance center (issue 11): restarted on the same journal, it answers exactly as
//! before — balances after 2207, a settlement cancellable by 2208, a registered visit settleable, a
//! resent msgid answered with the first reply, ids that continue — and a property: random
//! transactions, a restart at a random point, the same state as a twin never restarted.

use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use wugan_insurance::{default_policy, sample_persons, Clock, InsuranceCenter, InsuranceConfig};

const HOSPITAL: &str = "H44030000001";
const ZHANG_SAN: &str = "44030000000000000001";
const LI_XIUYING: &str = "44030000000000000002";
const AMOXICILLIN: &str = "XJ01CAA040E001010101923"; // 甲, no cap

/// A folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempDir(std::env::temp_dir().join(format!("wugan-insurance-{label}-{}-{n}", std::process::id())))
    }

    fn journal(&self) -> PathBuf {
        self.0.join("data").join("insurance.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A clock the test sets; 2024-06-01 09:00 in Shenzhen to start with.
struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    fn new() -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(datetime!(2024-06-01 01:00:00 UTC))))
    }

    fn set(&self, at: OffsetDateTime) {
        *self.0.lock().expect("clock") = at;
    }
}

impl Clock for TestClock {
    fn now_utc(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock")
    }
}

/// The journal's sealing key (every opening of one journal uses the same).
fn key() -> wugan_insurance::SealKey {
    wugan_insurance::SealKey::from_hex(&"5e".repeat(32)).expect("a key")
}

fn config() -> InsuranceConfig {
    InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: sample_persons() }
}

async fn open(journal: &Path, clock: &Arc<TestClock>) -> InsuranceCenter {
    InsuranceCenter::open_with_clock(config(), journal, key(), clock.clone()).await.expect("center opens")
}

fn body(infno: &str, msgid: &str, input: &Value) -> Vec<u8> {
    json!({"infno": infno, "msgid": msgid, "fixmedins_code": HOSPITAL, "infver": "V1.0", "input": input}).to_string().into_bytes()
}

async fn call(c: &InsuranceCenter, infno: &str, msgid: &str, input: &Value) -> Value {
    c.call(&body(infno, msgid, input)).await.expect("recorded")
}

fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["infcode"], json!(0), "expected success: {reply}");
    &reply["output"]
}

fn register(psn_no: &str, ipt_otp_no: &str) -> Value {
    json!({"data": {"psn_no": psn_no, "begntime": "2024-06-01 09:00:00", "ipt_otp_no": ipt_otp_no, "med_type": "11"}})
}

fn fees(mdtrt_id: &str, sn: &str, amount: &str) -> Value {
    json!({"feedetail": [{"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "med_list_codg": AMOXICILLIN, "det_item_fee_sumamt": amount}]})
}

fn settlement(psn_no: &str, mdtrt_id: &str, medfee: &str) -> Value {
    json!({"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "medfee_sumamt": medfee, "acct_used_flag": "1"}})
}

/// The serial at the end of an id (admdvs + date + 10 digits).
fn serial(id: &str) -> u64 {
    id[id.len() - 10..].parse().expect("an id ends with a serial")
}

#[tokio::test]
async fn a_restarted_center_answers_exactly_as_before() {
    let dir = TempDir::new("story");
    let clock = TestClock::new();
    let c = open(&dir.journal(), &clock).await;
    // 张三 (account 800.00) sees a doctor and settles 1,000.00 using his personal account.
    let first = ok(&call(&c, "2201", "M1", &register(ZHANG_SAN, "MZ1")).await)["data"]["mdtrt_id"].as_str().expect("id").to_string();
    ok(&call(&c, "2204", "M2", &fees(&first, "1", "1000.00")).await);
    let settle = settlement(ZHANG_SAN, &first, "1000.00");
    let settled = call(&c, "2207", "M3", &settle).await;
    let setl_id = ok(&settled)["setlinfo"]["setl_id"].as_str().expect("setl_id").to_string();
    let balance = c.person(ZHANG_SAN).expect("known").balc;
    assert!(balance < wugan_domain::Fen::yuan(800), "the account paid part: {balance:?}");
    // 李秀英 registers and has fees uploaded; she settles after the restart.
    let second = ok(&call(&c, "2201", "M4", &register(LI_XIUYING, "MZ2")).await)["data"]["mdtrt_id"].as_str().expect("id").to_string();
    ok(&call(&c, "2204", "M5", &fees(&second, "1", "200.00")).await);
    let before = c.state_dump();
    drop(c);

    clock.set(datetime!(2024-06-01 01:30:00 UTC));
    let c = open(&dir.journal(), &clock).await;
    assert_eq!(c.state_dump(), before, "the restart changed nothing");
    assert_eq!(c.person(ZHANG_SAN).expect("known").balc, balance, "the personal account is as 2207 left it");
    assert_eq!(call(&c, "2207", "M3", &settle).await, settled, "a resent msgid gets the first reply, byte for byte");
    let cancel = json!({"data": {"setl_id": setl_id, "mdtrt_id": first, "psn_no": ZHANG_SAN}});
    let cancelled = call(&c, "2208", "M6", &cancel).await;
    assert_eq!(ok(&cancelled)["setlinfo"]["init_setl_id"], json!(setl_id), "the settlement made before the restart is cancelled");
    assert_eq!(c.person(ZHANG_SAN).expect("known").balc, wugan_domain::Fen::yuan(800));
    let settled_after = call(&c, "2207", "M7", &settlement(LI_XIUYING, &second, "200.00")).await;
    let later_setl_id = ok(&settled_after)["setlinfo"]["setl_id"].as_str().expect("setl_id").to_string();
    let third = ok(&call(&c, "2201", "M8", &register(ZHANG_SAN, "MZ3")).await)["data"]["mdtrt_id"].as_str().expect("id").to_string();
    assert!(serial(&third) > serial(&second), "ids continue: {third} after {second}");
    assert!(serial(&later_setl_id) > serial(&setl_id), "settlement ids continue: {later_setl_id} after {setl_id}");
}

#[tokio::test]
async fn the_journal_is_private_and_has_one_center_at_a_time() {
    let dir = TempDir::new("private");
    let clock = TestClock::new();
    let c = open(&dir.journal(), &clock).await;
    ok(&call(&c, "2201", "M1", &register(ZHANG_SAN, "MZ1")).await);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.journal()), 0o600);
        assert_eq!(mode(dir.journal().parent().expect("folder")), 0o700);
    }
    let second = InsuranceCenter::open_with_clock(config(), &dir.journal(), key(), clock.clone()).await;
    let refused = format!("{:#}", second.err().expect("a second center on the same journal is refused"));
    assert!(refused.contains("in use"), "{refused}");
}

#[tokio::test]
async fn a_journal_that_would_replay_differently_is_refused() {
    let dir = TempDir::new("changed");
    let clock = TestClock::new();
    let c = open(&dir.journal(), &clock).await;
    let id = ok(&call(&c, "2201", "M1", &register(ZHANG_SAN, "MZ1")).await)["data"]["mdtrt_id"].as_str().expect("id").to_string();
    ok(&call(&c, "2204", "M2", &fees(&id, "1", "100.00")).await);
    ok(&call(&c, "2207", "M3", &settlement(ZHANG_SAN, &id, "100.00")).await);
    drop(c);
    // 张三's opening balance edited in the persons file: his settlement would pay differently.
    let mut persons = sample_persons();
    persons[0].balc = wugan_domain::Fen::yuan(1);
    let edited = InsuranceConfig { persons, ..config() };
    let refused = InsuranceCenter::open_with_clock(edited, &dir.journal(), key(), clock.clone()).await.err().expect("refused");
    assert!(format!("{refused:#}").contains("answers differently"), "{refused:#}");
    let elsewhere = InsuranceConfig { admdvs: "440100".into(), ..config() };
    let refused = InsuranceCenter::open_with_clock(elsewhere, &dir.journal(), key(), clock.clone()).await.err().expect("refused");
    assert!(format!("{refused:#}").contains("region 440300"), "{refused:#}");
    open(&dir.journal(), &clock).await; // the file itself is intact
}

/// One random step: indexes pick among the ids made so far (refusals are part of the test).
#[derive(Clone, Debug)]
enum Op {
    /// Register, upload, settle: an outpatient visit from start to end.
    Visit {
        who: usize,
        yuan: u32,
        acct: bool,
    },
    Register {
        who: usize,
    },
    Admit {
        who: usize,
    },
    Fees {
        visit: usize,
        yuan: u32,
        inpatient: bool,
    },
    Settle {
        visit: usize,
        inpatient: bool,
        mid: bool,
        acct: bool,
    },
    Discharge {
        visit: usize,
    },
    CancelSettlement {
        setl: usize,
        inpatient: bool,
    },
    CancelRegistration {
        visit: usize,
    },
    Repay {
        who: usize,
        yuan: u32,
    },
    UndoRepay {
        txn: usize,
    },
    Grade {
        grade: u32,
    },
    Query {
        visit: usize,
    },
    Resend {
        step: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let i = || 0usize..8;
    prop_oneof![
        3 => (i(), 1u32..3_000, any::<bool>()).prop_map(|(who, yuan, acct)| Op::Visit { who, yuan, acct }),
        1 => i().prop_map(|who| Op::Register { who }),
        2 => i().prop_map(|who| Op::Admit { who }),
        4 => (i(), 1u32..30_000, any::<bool>()).prop_map(|(visit, yuan, inpatient)| Op::Fees { visit, yuan, inpatient }),
        4 => (i(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(visit, inpatient, mid, acct)| Op::Settle { visit, inpatient, mid, acct }),
        2 => i().prop_map(|visit| Op::Discharge { visit }),
        3 => (i(), any::<bool>()).prop_map(|(setl, inpatient)| Op::CancelSettlement { setl, inpatient }),
        1 => i().prop_map(|visit| Op::CancelRegistration { visit }),
        1 => (i(), 1u32..500).prop_map(|(who, yuan)| Op::Repay { who, yuan }),
        1 => i().prop_map(|txn| Op::UndoRepay { txn }),
        1 => (1u32..4).prop_map(|grade| Op::Grade { grade }),
        1 => i().prop_map(|visit| Op::Query { visit }),
        1 => (0usize..64).prop_map(|step| Op::Resend { step }),
    ]
}

/// The twins: one in memory, never restarted; one persistent, restarted along the way. Beside
/// them, just enough bookkeeping to send settlements that can succeed.
struct Twins {
    clock: Arc<TestClock>,
    steady: InsuranceCenter,
    /// `None` only while restarting.
    restarted: Option<InsuranceCenter>,
    journal: PathBuf,
    /// mdtrt_ids, outpatient ([0]) and inpatient ([1]).
    visits: [Vec<String>; 2],
    /// Yuan uploaded and not settled, by mdtrt_id.
    unsettled: HashMap<String, u64>,
    /// setl_id → (mdtrt_id, yuan), outpatient ([0]) and inpatient ([1]).
    settlements: [Vec<(String, String, u64)>; 2],
    repayments: Vec<String>,
    /// Requests sent that change state, to send again. (A read's reply is not kept across a
    /// restart: a read sent again afterwards runs again.)
    sent: Vec<Vec<u8>>,
    count: usize,
}

fn pick<T: Clone>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()].clone())
}

/// A reply without the per-process serial.
fn comparable(mut reply: Value) -> Value {
    if let Value::Object(map) = &mut reply {
        map.remove("inf_refmsgid");
    }
    reply
}

fn succeeded(reply: &Value) -> bool {
    reply["infcode"] == 0
}

impl Twins {
    async fn new(journal: PathBuf) -> Twins {
        let clock = TestClock::new();
        let steady = InsuranceCenter::new_with_clock(config(), clock.clone()).expect("center starts");
        let restarted = Some(open(&journal, &clock).await);
        Twins {
            clock,
            steady,
            restarted,
            journal,
            visits: Default::default(),
            unsettled: HashMap::new(),
            settlements: Default::default(),
            repayments: vec![],
            sent: vec![],
            count: 0,
        }
    }

    fn restarted(&self) -> &InsuranceCenter {
        self.restarted.as_ref().expect("running")
    }

    async fn restart(&mut self) {
        drop(self.restarted.take());
        self.restarted = Some(open(&self.journal, &self.clock).await);
    }

    /// Sends the same request to both and checks they answer alike; returns the reply.
    async fn send(&mut self, infno: &str, input: Value) -> Value {
        self.count += 1;
        let bytes = body(infno, &format!("T{}", self.count), &input);
        if !["1101", "2206", "2303", "5203"].contains(&infno) {
            self.sent.push(bytes.clone());
        }
        self.deliver(&bytes).await
    }

    async fn deliver(&mut self, bytes: &[u8]) -> Value {
        let steady = self.steady.call(bytes).await.expect("in memory");
        let restarted = self.restarted().call(bytes).await.expect("recorded");
        assert_eq!(comparable(restarted), comparable(steady.clone()), "the twins answer alike");
        steady
    }

    async fn run(&mut self, step: usize, op: &Op) {
        // Steps are 17 minutes apart: the run crosses midnight (ids embed the date).
        self.clock.set(datetime!(2024-06-01 01:00:00 UTC) + Duration::minutes(17 * step as i64));
        let who = |i: usize| sample_persons()[i % 6].psn_no.clone();
        let visit_of = |twins: &Twins, inpatient: bool, i: usize| pick(&twins.visits[usize::from(inpatient)], i).unwrap_or_default();
        match *op {
            Op::Visit { who: w, yuan, acct } => {
                Box::pin(self.run(step, &Op::Register { who: w })).await;
                let visit = self.visits[0].len().wrapping_sub(1);
                Box::pin(self.run(step, &Op::Fees { visit, yuan, inpatient: false })).await;
                Box::pin(self.run(step, &Op::Settle { visit, inpatient: false, mid: false, acct })).await;
            }
            Op::Register { who: w } => {
                let reply = self.send("2201", register(&who(w), &format!("MZ{step}"))).await;
                self.visits[0].extend(reply["output"]["data"]["mdtrt_id"].as_str().map(str::to_string));
            }
            Op::Admit { who: w } => {
                let input = json!({"mdtrtinfo": {"psn_no": who(w), "ipt_no": format!("ZY{step}"), "med_type": "21", "begntime": "2024-06-01 08:00:00"},
                    "diseinfo": [{"diag_type": "1", "diag_code": "J18.900", "maindiag_flag": "1"}]});
                let reply = self.send("2401", input).await;
                self.visits[1].extend(reply["output"]["data"]["mdtrt_id"].as_str().map(str::to_string));
            }
            Op::Fees { visit, yuan, inpatient } => {
                let id = visit_of(self, inpatient, visit);
                let reply = self.send(if inpatient { "2301" } else { "2204" }, fees(&id, &step.to_string(), &yuan.to_string())).await;
                if succeeded(&reply) {
                    *self.unsettled.entry(id).or_default() += u64::from(yuan);
                }
            }
            Op::Settle { visit, inpatient, mid, acct } => {
                let id = visit_of(self, inpatient, visit);
                let total = self.unsettled.get(&id).copied().unwrap_or_default();
                let input = json!({"data": {"mdtrt_id": id, "medfee_sumamt": total.to_string(), "mid_setl_flag": if mid { "1" } else { "0" },
                    "acct_used_flag": if acct { "1" } else { "0" }}});
                let (quote, settle) = if inpatient { ("2303", "2304") } else { ("2206", "2207") };
                self.send(quote, input.clone()).await;
                let reply = self.send(settle, input).await;
                if let Some(setl_id) = reply["output"]["setlinfo"]["setl_id"].as_str() {
                    self.settlements[usize::from(inpatient)].push((setl_id.to_string(), id.clone(), total));
                    self.unsettled.insert(id, 0);
                }
            }
            Op::Discharge { visit } => {
                let input =
                    json!({"dscginfo": {"mdtrt_id": visit_of(self, true, visit), "endtime": "2024-06-10 10:00:00", "dscg_way": "1"}});
                self.send("2402", input).await;
            }
            Op::CancelSettlement { setl, inpatient } => {
                let Some((setl_id, id, yuan)) = pick(&self.settlements[usize::from(inpatient)], setl) else { return };
                let reply = self.send(if inpatient { "2305" } else { "2208" }, json!({"data": {"setl_id": setl_id}})).await;
                if succeeded(&reply) && inpatient {
                    *self.unsettled.entry(id).or_default() += yuan; // the lines return to unsettled
                }
            }
            Op::CancelRegistration { visit } => {
                let id = visit_of(self, false, visit);
                if succeeded(&self.send("2202", json!({"data": {"mdtrt_id": id}})).await) {
                    self.unsettled.insert(id, 0);
                }
            }
            Op::Repay { who: w, yuan } => {
                let reply = self.send("9901", json!({"data": {"psn_no": who(w), "amount": yuan, "payee_ref": "BANK01:a"}})).await;
                self.repayments.extend(reply["output"]["data"]["txn_id"].as_str().map(str::to_string));
            }
            Op::UndoRepay { txn } => {
                self.send("9902", json!({"data": {"txn_id": pick(&self.repayments, txn).unwrap_or_default()}})).await;
            }
            Op::Grade { grade } => {
                self.steady.set_hospital_grade(HOSPITAL, grade);
                self.restarted().set_hospital_grade(HOSPITAL, grade);
            }
            Op::Query { visit } => {
                self.send("5203", json!({"data": {"mdtrt_id": visit_of(self, visit % 2 == 1, visit)}})).await;
                self.send("1101", json!({"data": {"certno": "440301199001011234"}})).await;
            }
            Op::Resend { step } => {
                if let Some(bytes) = pick(&self.sent, step) {
                    self.deliver(&bytes).await;
                }
            }
        }
    }
}

async fn twins_agree(ops: Vec<Op>, restart_at: usize) {
    let dir = TempDir::new("twins");
    let mut twins = Twins::new(dir.journal()).await;
    for (step, op) in ops.iter().enumerate() {
        if step == restart_at % ops.len() {
            twins.restart().await;
            assert_eq!(twins.restarted().state_dump(), twins.steady.state_dump(), "state after the restart at step {step}");
        }
        twins.run(step, op).await;
    }
    assert_eq!(twins.restarted().state_dump(), twins.steady.state_dump(), "state at the end");
    twins.restart().await;
    assert_eq!(twins.restarted().state_dump(), twins.steady.state_dump(), "state after a last restart");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_center_restarted_anywhere_keeps_the_state_of_its_twin(ops in prop::collection::vec(op(), 1..60), restart_at in 0usize..60) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(twins_agree(ops, restart_at));
    }
}
