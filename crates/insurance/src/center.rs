//! The insurance center: configuration, the clock, and `call` — one request body in, one reply out,
//! with msgid replay (the hub retries a timed-out call with the same msgid and must get the first
//! answer, never a second settlement).

use crate::clock::Now;
use crate::ctx::Ctx;
use crate::envelope::{reply, Envelope, ReplyStamp};
use crate::error::TxError;
use crate::faults::{FaultInjector, Faults};
use crate::person::Person;
use crate::state::{PersonView, SettlementSummary, State, StoredReply};
use crate::tx::dispatch;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use wugan_policy::PolicySet;

pub struct InsuranceConfig {
    /// The center's region (医保区划), e.g. "440300".
    pub admdvs: String,
    pub policy: PolicySet,
    pub persons: Vec<Person>,
}

/// A regional insurance platform in memory. `Send + Sync`: share it in an `Arc`.
pub struct InsuranceCenter {
    admdvs: String,
    policy: PolicySet,
    state: Mutex<State>,
    /// Serial of inf_refmsgid, outside the lock so even refused requests get one.
    ref_serial: AtomicU64,
    /// Injected faults at the HTTP edge (off unless [`InsuranceCenter::with_faults`]).
    faults: FaultInjector,
}

impl InsuranceCenter {
    pub fn new(config: InsuranceConfig) -> anyhow::Result<InsuranceCenter> {
        let admdvs_ok = config.admdvs.len() == 6 && config.admdvs.bytes().all(|b| b.is_ascii_digit());
        anyhow::ensure!(admdvs_ok, "admdvs must be a 6-digit division code, got '{}'", config.admdvs);
        config.policy.validate()?;
        let now = Now::current();
        // Ids embed the date and a serial; starting the serial at the time of day keeps ids from a
        // restarted center (state is in memory) distinct from the ones it issued earlier that day.
        let seq_start = now.seconds_of_day() * 10_000;
        Ok(InsuranceCenter {
            state: Mutex::new(State::new(config.persons, seq_start)?),
            admdvs: config.admdvs,
            policy: config.policy,
            ref_serial: AtomicU64::new(seq_start),
            faults: FaultInjector::new(Faults::default()),
        })
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
    pub fn set_hospital_grade(&self, fixmedins_code: &str, grade: u32) {
        self.lock().hosp_grades.insert(fixmedins_code.to_string(), grade);
    }

    /// Handles one national-interface request body and returns the reply envelope. Never fails:
    /// every problem is an infcode -1 reply.
    pub fn call(&self, body: &[u8]) -> Value {
        let now = Now::current();
        let stamp = ReplyStamp {
            inf_refmsgid: format!(
                "{}{}{:010}",
                self.admdvs,
                now.compact(),
                self.ref_serial.fetch_add(1, Ordering::Relaxed) % 10_000_000_000
            ),
            time: now.millis(),
        };
        let env = match Envelope::parse(body) {
            Ok(env) => env,
            Err(e) => return reply(&stamp, Err(e)),
        };
        let mut state = self.lock();
        if let Some(stored) = state.replies.get(&env.msgid) {
            if stored.infno == env.infno && stored.input == env.input {
                return stored.response.clone();
            }
            let refused = TxError::new("报文ID已用于其他请求", format!("msgid {} was already used for a different request", env.msgid));
            return reply(&stamp, Err(refused));
        }
        let ctx = Ctx { env: &env, now: &now, admdvs: &self.admdvs, policy: &self.policy };
        let result = dispatch(&mut state, &ctx);
        if let Err(e) = &result {
            tracing::info!(infno = %env.infno, msgid = %env.msgid, error = %e.message, "insurance transaction refused");
        }
        let response = reply(&stamp, result);
        state.replies.insert(env.msgid.clone(), StoredReply { infno: env.infno, input: env.input, response: response.clone() });
        response
    }

    /// Sandbox view for auditors: settlements, optionally of one hospital, in settlement order.
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

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied transaction (each validates
        // before it mutates), so the state is still consistent: keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
