//! wugan's insurance center (医保中心): a regional platform speaking the national interface
//! (docs/national-interface.md) over HTTP, with persons, personal accounts, year-to-date accumulators and
//! the benefit policy (`wugan-policy`, data-driven).
//!
//! Layers, each using only those below it (`tests/layers.rs` checks the `use crate::…` lines):
//!
//! ```text
//! http                      axum: bytes in, JSON out, injected faults (`faults`)
//! center                    InsuranceCenter: config, the one lock, msgid replay, journal replay;
//!                           reads the clock once per request
//! tx                        dispatch by infno, and which infnos only read
//! identify  outpatient  inpatient  settle  repayment  reconcile  clearing
//! special_disease  manual_claim  visit_query  fee_query
//!                           the transactions, one module per family; none uses another
//! fees                      fee lines of 2204 and 2301: parse, check, split, store
//! lookup                    a person or visit the request names, or the refusal
//! ctx                       Ctx (envelope, clock reading, region, policy) and Kind
//! envelope  input  auth     the wire envelope and reply; reading payload fields; the gateway
//!                           (callers' app ids and HMAC signatures, the operator's token)
//! state  clock  error       records in memory (`person` and `online` below it); Clock, Now; TxError
//! journal                   a persistent center's SQLite journal (nothing of the crate below it)
//! ```
//!
//! Nothing below `tx` uses `tx` or `center`: a transaction is `fn(&mut State, &Ctx) -> Result<Value,
//! TxError>`, parse wire → check state → `wugan_policy` → mutate → wire; it validates before it
//! mutates, so a refused request changes nothing. The benefit arithmetic is never here. `files`
//! reads the persons file and policy files for whoever starts a center; `journal` is the other I/O.
//!
//! Persistence ([`InsuranceCenter::open`]): the handlers are deterministic given the state, the
//! request and the clock reading, so a journal of the requests that may change state (with the
//! reading and the reply) is the state: a restart replays it and checks every reply. See README.
//!
//! Transactions: `identify` (9001, 1101), `outpatient` (2201–2205), `inpatient`
//! (2401/2402/2404/2405, 2301/2302), `settle` (2206–2208 and 2303–2305: one shape, batch or interim
//! selection, exact reversal; 5203), `repayment` (9901/9902, a local extension), `reconcile`
//! (3201 totals, 3202 detail, 9101/9102 files), `clearing` (3203 monthly clearing application,
//! checked against the center's settlements of the period; 3204 its withdrawal), `special_disease`
//! (2503/2504 门诊慢特病备案 and its revocation, 5301 the list; an approved registration gates
//! med_type 14), `manual_claim` (零星报销: 9903/9904, sandbox-only numbers), `visit_query` (5201
//! 就诊信息查询: a person's visits at the asking hospital within a time window), `fee_query` (5204
//! 费用明细查询: a visit's live fee lines).
//! `faults`: seeded fault injection at the HTTP edge ([`InsuranceCenter::with_faults`]).
//!
//! Sandbox conventions (not part of the national interface):
//! - e-voucher token (mdtrt_cert_type 01) of a person without `ec_token` is `"EC" + psn_no`; social
//!   security card number (03) without `card_no` is `"SC" + psn_no`;
//! - hospitals are grade 3 unless set with [`InsuranceCenter::set_hospital_grade`];
//! - `GET /sandbox/settlements?fixmedins_code=…` and `GET /sandbox/persons/{psn_no}` expose the
//!   center's own records to auditors (with the operator's token, see `auth`). They exist only
//!   in the sandbox; a real platform has no such thing.
//! - `POST /sandbox/special-diseases/{trt_dcla_detl_sn}/decision` `{decision: approve|decline,
//!   reason}`: the operator's manual review of a 2503, journaled as infno 9905, which the gateway
//!   never takes from a hospital.

pub mod auth;
mod center;
mod clearing;
mod clock;
mod ctx;
mod envelope;
mod error;
pub mod faults;
mod fee_query;
mod fees;
mod files;
mod http;
mod identify;
mod inpatient;
mod input;
mod journal;
mod lookup;
mod manual_claim;
mod online;
mod outpatient;
mod person;
mod reconcile;
mod repayment;
mod settle;
mod special_disease;
mod state;
mod tx;
mod visit_query;

pub use auth::{CallerCredential, Gateway, GatewayConfig};
pub use center::{InsuranceCenter, InsuranceConfig};
pub use clock::{Clock, SystemClock};
pub use error::TxError;
pub use faults::Faults;
pub use files::{load_persons_jsonl, load_policy_file};
pub use http::{router, CALL_SERVICE_PATH};
pub use journal::Unrecorded;
pub use person::{parse_persons_jsonl, sample_persons, Person};
pub use state::{PersonView, SettlementSummary};
pub use wugan_seal::SealKey;

/// The policy `wugan insurance serve` uses without `--policy`: the built-in `shenzhen-2024` set,
/// plus the `guangzhou-example` schemes for Guangzhou-insured persons treated in Shenzhen (异地就医:
/// their insured place's policy, Shenzhen's catalogue). Those schemes are example numbers.
pub fn default_policy() -> wugan_policy::PolicySet {
    let built = wugan_policy::builtin("shenzhen-2024")
        .and_then(|sz| wugan_policy::builtin("guangzhou-example").and_then(|gz| sz.with_insured_place_schemes(&gz)));
    match built {
        Ok(set) => set,
        // The built-in files are compiled in and tested; failing here is a build defect.
        Err(e) => panic!("built-in policy does not load: {e}"),
    }
}
