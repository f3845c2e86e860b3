//! The center's in-memory state: accounts, visits, fee lines, settlements, and stored replies.
//! Every transaction validates first and mutates after, so a refused request changes nothing.

use crate::online::{OnlineRecords, OpspRegistration, OpspStatus};
use crate::person::Person;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use wugan_domain::money::{yuan, Fen};
use wugan_policy::{Date, FeeLine, LineResult, SetlAmounts, SetlDetail, Ytd};

/// A person with the center's running state: personal-account balance and year-to-date
/// accumulators by insurance year.
#[derive(Debug, Clone)]
pub struct Account {
    pub person: Person,
    /// 个人账户余额; never below zero (acct_pay is at most the balance).
    pub balc: Fen,
    /// 家庭共济: the bound family member (psn_no) whose account pays when this one is short.
    pub mulaid_payer: Option<String>,
    pub ytd: BTreeMap<i32, Ytd>,
}

/// 就诊 (one registration, `mdtrt_id`).
#[derive(Debug, Clone)]
pub struct Visit {
    pub psn_no: String,
    pub fixmedins_code: String,
    pub ipt_otp_no: String,
    pub insutype: String,
    pub med_type: Option<String>,
    /// The diagnosis codes 2203 gave (the main one first), as the sandbox keeps them.
    pub diagnoses: Vec<String>,
    pub mdtrt_cert_type: Option<String>,
    pub begndate: Date,
    /// 开始时间 as 2201 / 2401 gave it (now when they gave none), `yyyy-MM-dd HH:mm:ss`: what 5201
    /// shows and selects by.
    pub begntime: String,
    /// 2202 / 2404 撤销: no fees or settlement may follow.
    pub cancelled: bool,
    pub fees: Vec<FeeRecord>,
    /// Settlements in force, oldest first: an outpatient visit may settle batch by batch
    /// (chrg_bchno), an admission in interim steps (中途结算). 2208 / 2305 remove one.
    pub settlements: Vec<String>,
    /// 住院 (2401) state; `None` for an outpatient registration (2201).
    pub admission: Option<Admission>,
}

/// An admission's own state (入院 2401 → 出院 2402 → 结算 2304).
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// 入院科室编码 as 2401 (or a later 2403) sent it, for the sandbox view.
    pub adm_dept_codg: Option<String>,
    /// 住院主诊断代码 and 名称, likewise.
    pub dscg_maindiag_code: Option<String>,
    pub dscg_maindiag_name: Option<String>,
    /// 手术操作代码 and 名称, likewise.
    pub oprn_oprt_code: Option<String>,
    pub oprn_oprt_name: Option<String>,
    /// 生育类别, likewise.
    pub matn_type: Option<String>,
    /// 出院时间 once discharged (2402); cleared by 2405.
    pub discharged: Option<String>,
    /// What that 2402 said besides (离院方式, 出院科室, diagnoses), for the sandbox view; cleared by 2405.
    pub discharge: Option<DischargeRecord>,
    /// The final (not interim) settlement, which closes the admission to fees.
    pub final_setl_id: Option<String>,
}

/// A discharge's clinical information as 2402 sent it.
#[derive(Debug, Clone, Default)]
pub struct DischargeRecord {
    /// 离院方式; `None` when not sent.
    pub dscg_way: Option<String>,
    pub dscg_dept_codg: Option<String>,
    /// `dise_codg`, then each `diseinfo[].diag_code`.
    pub diagnoses: Vec<String>,
    /// 伴有并发症标志 and 死亡日期 as sent (a number read as its text); `None` when not sent.
    pub cop_flag: Option<String>,
    pub die_date: Option<String>,
}

impl Visit {
    /// The settlement that closes the visit to new fees: for an outpatient visit any settlement
    /// in force, for an admission only its final settlement (interim ones leave it open).
    pub fn closed_by(&self) -> Option<&str> {
        match &self.admission {
            None => self.settlements.last().map(String::as_str),
            Some(a) => a.final_setl_id.as_deref(),
        }
    }

    pub fn is_inpatient(&self) -> bool {
        self.admission.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeStatus {
    Unsettled,
    Settled(String),
    /// Deleted by 2205, or part of a cancelled settlement (the HIS uploads again to re-settle).
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct FeeRecord {
    pub feedetl_sn: String,
    pub chrg_bchno: String,
    /// 原费用流水号 of a refund line (2301, negative cnt); `None` for a charge.
    pub init_feedetl_sn: Option<String>,
    /// The line as the engine reads it (class and caps come from the catalogue).
    pub line: FeeLine,
    /// The split reported in the 2204 reply.
    pub result: LineResult,
    pub status: FeeStatus,
}

/// A settlement (2207) and what it changed, so 2208 can reverse exactly that.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub fixmedins_code: String,
    pub med_type: String,
    pub clr_type: String,
    pub mdtrt_cert_type: Option<String>,
    pub setl_time: String,
    pub amounts: SetlAmounts,
    pub detail: Vec<SetlDetail>,
    /// The accumulator year and the change this settlement made to it.
    pub year: i32,
    pub ytd_delta: Ytd,
    /// 住院结算 (2304), and whether it was interim (中途结算, mid_setl_flag 1).
    pub inpatient: bool,
    pub mid_setl: bool,
    /// The family member whose account paid `acct_mulaid_pay` (家庭共济), restored on cancel.
    pub mulaid_payer: Option<String>,
    pub cancelled: bool,
    /// The 2207 output as sent, for 5203 (a caller that lost the reply asks again).
    pub output: Value,
    /// The names of the `data` fields the hospital's 2207 / 2304 sent, sorted, comma-separated
    /// (the sandbox shows an auditor which fields came; the values are checked or recomputed).
    pub sent_fields: Box<str>,
}

/// A reply kept for msgid replay, with what it answered (a reused msgid must match both).
/// A reply kept for msgid replay, as compact JSON text: a parsed `Value` takes several times
/// the memory of its text, and these are kept by the hundred thousand while only a replay (rare)
/// reads one back.
#[derive(Debug, Clone)]
pub struct StoredReply {
    pub infno: String,
    /// The request's `input`, serialized.
    pub input: Box<str>,
    /// The reply as it was sent, byte for byte.
    pub response: std::sync::Arc<str>,
}

impl StoredReply {
    pub fn new(infno: String, input: &Value, response: std::sync::Arc<str>) -> StoredReply {
        StoredReply { infno, input: input.to_string().into(), response }
    }

    /// Whether `input` is the request this reply answered.
    pub fn answers(&self, infno: &str, input: &Value) -> bool {
        self.infno == infno && serde_json::from_str::<Value>(&self.input).is_ok_and(|stored| stored == *input)
    }

    /// The reply as it was sent.
    pub fn response(&self) -> Value {
        serde_json::from_str(&self.response).unwrap_or(Value::Null)
    }
}

/// Bounded store of replies by msgid: the oldest are forgotten first. The hub retries within
/// minutes, so a large window is plenty and memory stays bounded.
#[derive(Debug, Default)]
pub struct ReplyStore {
    by_msgid: HashMap<String, StoredReply>,
    order: VecDeque<String>,
}

impl ReplyStore {
    pub const CAPACITY: usize = 200_000;

    /// The key of a hospital's message: msgid replay (and 2601's `omsgid`) is scoped per hospital.
    pub fn key(fixmedins_code: &str, msgid: &str) -> String {
        format!("{}:{}:{}", fixmedins_code.len(), fixmedins_code, msgid)
    }

    pub fn get(&self, msgid: &str) -> Option<&StoredReply> {
        self.by_msgid.get(msgid)
    }

    pub fn insert(&mut self, msgid: String, reply: StoredReply) {
        if self.by_msgid.insert(msgid.clone(), reply).is_none() {
            self.order.push_back(msgid);
        }
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.by_msgid.remove(&old);
            }
        }
    }
}

/// One debit of a personal account for a repayment (个人账户还款, local extension 9901/9902).
#[derive(Debug, Clone)]
pub struct AccountRepayment {
    pub txn_id: String,
    pub psn_no: String,
    pub amount: Fen,
    /// Whom the money is for (e.g. "BANK01:<agreement>"), for the statement.
    pub payee_ref: String,
    pub cancelled: bool,
}

/// A file uploaded with 9101 or written by 3202, until 9102 fetches it.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub filename: String,
    pub fixmedins_code: String,
    pub content: String,
}

/// The most files the center keeps; the oldest is forgotten first (a day's exchange is minutes).
pub const MAX_FILES: usize = 1_000;

/// Files (9101/9102, `reconcile`) by `file_qury_no`, whose numbers rise, so the first is the oldest.
#[derive(Debug, Default)]
pub struct Files {
    by_no: BTreeMap<u64, StoredFile>,
}

impl Files {
    pub fn store(&mut self, no: u64, file: StoredFile) {
        self.by_no.insert(no, file);
        while self.by_no.len() > MAX_FILES {
            self.by_no.pop_first();
        }
    }

    pub fn get_owned(&self, file_qury_no: &str, fixmedins_code: &str) -> Result<&StoredFile, crate::error::TxError> {
        let missing = || crate::error::TxError::new("文件查询号不存在", format!("no file {file_qury_no} for this hospital"));
        let no: u64 = file_qury_no.strip_prefix('F').and_then(|n| n.parse().ok()).ok_or_else(missing)?;
        self.by_no.get(&no).filter(|f| f.fixmedins_code == fixmedins_code).ok_or_else(missing)
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub accounts: BTreeMap<String, Account>,
    /// Identity indexes for 1101 → psn_no.
    pub by_token: HashMap<String, String>,
    pub by_certno: HashMap<String, String>,
    pub by_card: HashMap<String, String>,
    pub visits: HashMap<String, Visit>,
    /// (fixmedins_code, ipt_otp_no) → mdtrt_id, for the "already registered" rule.
    pub registrations: HashMap<(String, String), String>,
    pub settlements: Vec<Settlement>,
    pub settlement_index: HashMap<String, usize>,
    /// The setl_id each settling message (2207/2304) made, by its hospital's msgid
    /// ([`ReplyStore::key`]), for 2601: unlike the replies, never forgotten, and the same after a
    /// journal's replay as before it (replies to reads are not journaled).
    pub settled_by_msgid: HashMap<String, String>,
    /// psn_no → indexes into `settlements`, for admission counts without a scan of everyone's.
    pub by_person: HashMap<String, Vec<usize>>,
    pub replies: ReplyStore,
    /// Hospital grade by fixmedins_code (default [`State::DEFAULT_GRADE`]).
    pub hosp_grades: HashMap<String, u32>,
    /// Serial for mdtrt_id / setl_id / sign_no.
    pub seq: u64,
    /// 个人账户还款 (local extension 9901/9902).
    pub account_repayments: Vec<AccountRepayment>,
    /// Files exchanged for reconciliation (9101 upload, 3202 results for 9102).
    pub files: Files,
    /// 清算申请 (3203), withdrawn by 3204.
    pub clearing_applications: Vec<ClearingApplication>,
    /// 门诊慢特病备案 and 零星报销 (the patient's online services).
    pub online: OnlineRecords,
    /// Sign-ins (9001) not signed out (9002), by sign_no.
    pub sign_ins: HashMap<String, SignIn>,
}

/// One 9001 sign-in: who signed in, and on which day (a sign_no is good for that day only).
#[derive(Debug, Clone)]
pub struct SignIn {
    pub fixmedins_code: String,
    pub date: wugan_policy::decimal::Date,
}

/// One monthly clearing application (3203) as the center accepted it.
#[derive(Debug, Clone)]
pub struct ClearingApplication {
    pub clr_appy_evt_id: String,
    pub fixmedins_code: String,
    pub clr_type: String,
    /// 清算年月, yyyyMM.
    pub setlym: String,
    /// Withdrawn by 3204.
    pub cancelled: bool,
}

impl State {
    /// The sandbox treats unknown hospitals as grade III (三级), the common case for wugan pilots.
    pub const DEFAULT_GRADE: u32 = 3;

    pub fn new(persons: Vec<Person>, seq_start: u64) -> anyhow::Result<State> {
        let mut state = State { seq: seq_start, ..State::default() };
        for person in persons {
            state.add_person(person)?;
        }
        state.check_bindings()?;
        Ok(state)
    }

    fn add_person(&mut self, person: Person) -> anyhow::Result<()> {
        let psn_no = person.psn_no.clone();
        let keys = [
            (&mut self.by_token, person.ec_token(), "ec_token"),
            (&mut self.by_certno, person.certno.clone(), "certno"),
            (&mut self.by_card, person.card_no(), "card_no"),
        ];
        for (index, key, what) in keys {
            if let Some(other) = index.insert(key.clone(), psn_no.clone()) {
                anyhow::bail!("persons {other} and {psn_no} share the same {what}");
            }
        }
        for code in &person.opsp_dise_codes {
            self.online.registrations.push(OpspRegistration {
                trt_dcla_detl_sn: format!("FILE-{psn_no}-{code}"),
                psn_no: psn_no.clone(),
                opsp_dise_code: code.clone(),
                opsp_dise_name: String::new(),
                fixmedins_code: String::new(),
                // On file since before any visit the sandbox sees.
                begndate: Date { year: 2000, month: 1, day: 1 },
                status: OpspStatus::Approved,
                decided_by: "file",
            });
        }
        let mulaid_payer = person.mulaid_payer_psn_no.clone();
        let account = Account { balc: person.balc, mulaid_payer, ytd: BTreeMap::new(), person };
        if self.accounts.insert(psn_no.clone(), account).is_some() {
            anyhow::bail!("psn_no {psn_no} appears twice");
        }
        Ok(())
    }

    /// A family binding must name another known person (checked once everyone is loaded).
    fn check_bindings(&self) -> anyhow::Result<()> {
        for (psn_no, account) in &self.accounts {
            match account.mulaid_payer.as_deref() {
                Some(payer) if payer == psn_no => anyhow::bail!("person {psn_no}: mulaid_payer_psn_no names the person themself"),
                Some(payer) if !self.accounts.contains_key(payer) => {
                    anyhow::bail!("person {psn_no}: mulaid_payer_psn_no {payer} is not a known person")
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The balance the patient's bound family member can lend (家庭共济), if any.
    pub fn mulaid_balc(&self, psn_no: &str) -> Fen {
        let payer = self.accounts.get(psn_no).and_then(|a| a.mulaid_payer.as_deref());
        payer.and_then(|p| self.accounts.get(p)).map_or(Fen::ZERO, |a| a.balc)
    }

    /// Whether `sign_no` is a sign-in of `fixmedins_code` on `date` still in force.
    pub fn signed_in(&self, fixmedins_code: &str, sign_no: &str, date: wugan_policy::decimal::Date) -> bool {
        self.sign_ins.get(sign_no).is_some_and(|s| s.fixmedins_code == fixmedins_code && s.date == date)
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn settlement(&self, setl_id: &str) -> Option<&Settlement> {
        self.settlement_index.get(setl_id).and_then(|&i| self.settlements.get(i))
    }

    pub fn push_settlement(&mut self, settlement: Settlement) {
        let at = self.settlements.len();
        self.settlement_index.insert(settlement.setl_id.clone(), at);
        self.by_person.entry(settlement.psn_no.clone()).or_default().push(at);
        self.settlements.push(settlement);
    }

    /// 挂号撤销 / 入院撤销 (2202 / 2404): the registration is forgotten, the visit and its unsettled
    /// fees cancelled.
    pub fn cancel_visit(&mut self, mdtrt_id: &str, registration: &(String, String)) {
        self.registrations.remove(registration);
        if let Some(visit) = self.visits.get_mut(mdtrt_id) {
            visit.cancelled = true;
            for fee in visit.fees.iter_mut().filter(|f| f.status == FeeStatus::Unsettled) {
                fee.status = FeeStatus::Cancelled;
            }
        }
    }

    /// A person's settlements, oldest first.
    pub fn settlements_of<'s>(&'s self, psn_no: &str) -> impl Iterator<Item = &'s Settlement> + 's {
        let indexes = self.by_person.get(psn_no).map_or(&[][..], Vec::as_slice);
        indexes.iter().filter_map(|&i| self.settlements.get(i))
    }

    pub fn grade_of(&self, fixmedins_code: &str) -> u32 {
        self.hosp_grades.get(fixmedins_code).copied().unwrap_or(Self::DEFAULT_GRADE)
    }

    /// The whole state as canonical text (maps sorted), for comparing two centers. Keeps the stored
    /// replies `keep` accepts, in order, without `inf_refmsgid` (a per-process serial).
    pub fn dump(&self, keep: impl Fn(&StoredReply) -> bool) -> String {
        let replies: Vec<_> = (self.replies.order.iter())
            .filter_map(|msgid| self.replies.by_msgid.get(msgid).map(|r| (msgid, r)))
            .filter(|(_, r)| keep(r))
            .map(|(msgid, r)| {
                let mut response = r.response();
                if let Value::Object(map) = &mut response {
                    map.remove("inf_refmsgid");
                }
                (msgid, &r.infno, &r.input, response)
            })
            .collect();
        format!(
            "accounts {:#?}\nby_token {:#?}\nby_certno {:#?}\nby_card {:#?}\nvisits {:#?}\nregistrations {:#?}\n\
             settlements {:#?}\nsettlement_index {:#?}\nby_person {:#?}\nhosp_grades {:#?}\nseq {}\n\
             account_repayments {:#?}\nonline {:#?}\nreplies {:#?}\n",
            self.accounts,
            sorted(&self.by_token),
            sorted(&self.by_certno),
            sorted(&self.by_card),
            sorted(&self.visits),
            sorted(&self.registrations),
            self.settlements,
            sorted(&self.settlement_index),
            sorted(&self.by_person),
            sorted(&self.hosp_grades),
            self.seq,
            self.account_repayments,
            self.online,
            replies,
        )
    }
}

fn sorted<K: Ord, V>(map: &HashMap<K, V>) -> BTreeMap<&K, &V> {
    map.iter().collect()
}

/// `GET /sandbox/settlements` row.
#[derive(Debug, Clone, Serialize)]
pub struct SettlementSummary {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub fixmedins_code: String,
    pub setl_time: String,
    #[serde(with = "yuan")]
    pub medfee_sumamt: Fen,
    #[serde(with = "yuan")]
    pub fund_pay_sumamt: Fen,
    #[serde(with = "yuan")]
    pub acct_pay: Fen,
    #[serde(with = "yuan")]
    pub psn_cash_pay: Fen,
    /// The split of `medfee_sumamt` by policy scope; a 2207 / 2304 that sent them sent these.
    #[serde(with = "yuan")]
    pub fulamt_ownpay_amt: Fen,
    #[serde(with = "yuan")]
    pub overlmt_selfpay: Fen,
    #[serde(with = "yuan")]
    pub preselfpay_amt: Fen,
    #[serde(with = "yuan")]
    pub inscp_scp_amt: Fen,
    pub cancelled: bool,
    /// The `data` fields the hospital's settlement request sent (names only).
    pub input_fields: Vec<String>,
}

impl From<&Settlement> for SettlementSummary {
    fn from(s: &Settlement) -> SettlementSummary {
        SettlementSummary {
            setl_id: s.setl_id.clone(),
            mdtrt_id: s.mdtrt_id.clone(),
            psn_no: s.psn_no.clone(),
            fixmedins_code: s.fixmedins_code.clone(),
            setl_time: s.setl_time.clone(),
            medfee_sumamt: s.amounts.medfee_sumamt,
            fund_pay_sumamt: s.amounts.fund_pay_sumamt,
            acct_pay: s.amounts.acct_pay,
            psn_cash_pay: s.amounts.psn_cash_pay,
            fulamt_ownpay_amt: s.amounts.fulamt_ownpay_amt,
            overlmt_selfpay: s.amounts.overlmt_selfpay,
            preselfpay_amt: s.amounts.preselfpay_amt,
            inscp_scp_amt: s.amounts.inscp_scp_amt,
            cancelled: s.cancelled,
            input_fields: s.sent_fields.split(',').filter(|f| !f.is_empty()).map(str::to_string).collect(),
        }
    }
}

/// `GET /sandbox/persons/{psn_no}`.
#[derive(Debug, Clone, Serialize)]
pub struct PersonView {
    pub psn_no: String,
    pub psn_name: String,
    pub insutype: String,
    pub psn_type: String,
    pub insuplc_admdvs: String,
    #[serde(with = "yuan")]
    pub balc: Fen,
    /// Accumulators by insurance year ("2024" → …).
    pub ytd: BTreeMap<String, Ytd>,
    /// Credit-line repayments paid from this account (9901), with their payee and whether undone.
    pub account_repayments: Vec<serde_json::Value>,
}

impl From<&Account> for PersonView {
    fn from(a: &Account) -> PersonView {
        PersonView {
            psn_no: a.person.psn_no.clone(),
            psn_name: a.person.psn_name.clone(),
            insutype: a.person.insutype.clone(),
            psn_type: a.person.psn_type.clone(),
            insuplc_admdvs: a.person.insuplc_admdvs.clone(),
            balc: a.balc,
            ytd: a.ytd.iter().map(|(y, v)| (y.to_string(), *v)).collect(),
            account_repayments: Vec::new(),
        }
    }
}
