//! 签约: a patient's sign-up as a pure state machine, like the settlement saga and the repayment.
//! The insurance center says who the patient is (1101), the bank opens the line, and the hub writes
//! the agreement; each step is persisted before the call it leads to, so a sign-up cut short by a
//! crash or a silent partner is finished by the recovery worker, never started twice: the bank
//! request id (`{agreement}:open`) is fixed by the sign-up, and the bank replays it.
//!
//! ```text
//! requested ─1101→ identity_checked ─open the line→ bank_line_opened ─write the agreement→ active
//!     └ refused (unknown person,     └ refused (bank declined)   │          └ refused (signed meanwhile)
//!       already signed)                failed (line closed)      │            → releasing ─close the line→ refused
//! ```
//!
//! [`next_call`] names the one call that moves a stage on; [`apply`] turns its outcome (done,
//! refused by a business decision, or unknown) into the next stage. An unknown outcome leaves the
//! stage as it is, to be tried again.

use serde::{Deserialize, Serialize};

/// Who the insurance center says the patient is (1101), as the agreement records them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub psn_no: String,
    pub name: String,
    pub certno: String,
    /// The insurance the agreement pays alongside (险种) and where it is held (参保地); both empty
    /// for a patient with no valid insurance, whose agreement pays the whole bill (self-pay).
    pub insutype: String,
    pub insuplc_admdvs: String,
}

impl Person {
    /// Insured: the insurance center settles alongside the agreement. Otherwise every bill is
    /// self-paid, all of it from the agreement (自费无感支付).
    pub fn is_insured(&self) -> bool {
        !self.insutype.is_empty()
    }
}

/// Why a sign-up ended without an agreement: a stable code and words for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// `person_not_found`, `already_signed`, `bank_refused`, `sign_up_expired`, `credit_debt_outstanding`, `bills_outstanding`.
    pub code: String,
    pub message: String,
}

impl Refusal {
    fn new(code: &str, message: impl Into<String>) -> Refusal {
        Refusal { code: code.to_string(), message: message.into() }
    }
}

/// Where a sign-up stands, with the facts known there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignupStage {
    /// Written with its request; next: 1101 says who the patient is.
    Requested,
    /// The patient is known and insured, with no other agreement; next: the bank opens the line.
    IdentityChecked { person: Person },
    /// The bank holds a line for this sign-up; next: the hub writes the agreement.
    BankLineOpened { person: Person, bank_agreement_id: String },
    /// The agreement cannot be written (the patient signed up elsewhere meanwhile); next: the
    /// line opened for it is closed, so nothing is left at the bank.
    Releasing { bank_agreement_id: String, refusal: Refusal },
    /// The agreement is written and active. Final.
    Active { bank_agreement_id: String },
    /// A business refusal; nothing is left open at any partner. Final.
    Refused(Refusal),
    /// The sign-up was abandoned too long ago: its bank line was closed as an orphan. Final.
    Failed(Refusal),
}

impl SignupStage {
    /// The state's name, as stored.
    pub fn state(&self) -> &'static str {
        match self {
            SignupStage::Requested => "requested",
            SignupStage::IdentityChecked { .. } => "identity_checked",
            SignupStage::BankLineOpened { .. } => "bank_line_opened",
            SignupStage::Releasing { .. } => "releasing",
            SignupStage::Active { .. } => "active",
            SignupStage::Refused(_) => "refused",
            SignupStage::Failed(_) => "failed",
        }
    }

    pub fn is_final(&self) -> bool {
        next_call(self).is_none()
    }

    pub fn person(&self) -> Option<&Person> {
        match self {
            SignupStage::IdentityChecked { person } | SignupStage::BankLineOpened { person, .. } => Some(person),
            _ => None,
        }
    }

    pub fn bank_agreement_id(&self) -> Option<&str> {
        match self {
            SignupStage::BankLineOpened { bank_agreement_id, .. }
            | SignupStage::Releasing { bank_agreement_id, .. }
            | SignupStage::Active { bank_agreement_id } => Some(bank_agreement_id),
            _ => None,
        }
    }

    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            SignupStage::Releasing { refusal, .. } | SignupStage::Refused(refusal) | SignupStage::Failed(refusal) => Some(refusal),
            _ => None,
        }
    }

    /// Rebuilds a stage from its stored parts; `None` when they do not describe one.
    pub fn from_parts(
        state: &str,
        person: Option<Person>,
        bank_agreement_id: Option<String>,
        refusal: Option<Refusal>,
    ) -> Option<SignupStage> {
        Some(match (state, person, bank_agreement_id, refusal) {
            ("requested", _, _, _) => SignupStage::Requested,
            ("identity_checked", Some(person), _, _) => SignupStage::IdentityChecked { person },
            ("bank_line_opened", Some(person), Some(bank_agreement_id), _) => SignupStage::BankLineOpened { person, bank_agreement_id },
            ("releasing", _, Some(bank_agreement_id), Some(refusal)) => SignupStage::Releasing { bank_agreement_id, refusal },
            ("active", _, Some(bank_agreement_id), _) => SignupStage::Active { bank_agreement_id },
            ("refused", _, _, Some(refusal)) => SignupStage::Refused(refusal),
            ("failed", _, _, Some(refusal)) => SignupStage::Failed(refusal),
            _ => return None,
        })
    }
}

/// The one call that moves a sign-up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignupCall {
    /// 1101: who the certificate names; and whether they already have an agreement.
    Identify,
    /// Open the line at the bank for this person (request id `{agreement}:open`).
    OpenLine { person: Person },
    /// Write the agreement, active, naming the bank's line (the hub's own step).
    Activate { person: Person, bank_agreement_id: String },
    /// Close the bank line (request id `{agreement}:close`).
    CloseLine { bank_agreement_id: String },
}

impl SignupCall {
    pub fn name(&self) -> &'static str {
        match self {
            SignupCall::Identify => "the identification (1101)",
            SignupCall::OpenLine { .. } => "the opening of the bank line",
            SignupCall::Activate { .. } => "the writing of the agreement",
            SignupCall::CloseLine { .. } => "the closing of the bank line",
        }
    }
}

/// What a call did, when it did what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignupReply {
    /// 1101 answered. `person` has no insurance (`Person::is_insured`) when 1101 finds none
    /// valid: they sign up all the same, to pay their bills themselves; `already_signed` when
    /// another agreement of theirs is active; `still_owes` when an earlier agreement of theirs
    /// owes (debt on its line, an unpaid bill): what it owes, in words.
    Identified {
        person: Person,
        already_signed: bool,
        still_owes: Option<Refusal>,
    },
    /// The bank holds the line; `closed` when it was closed since (abandoned, closed as an orphan).
    LineOpened {
        bank_agreement_id: String,
        closed: bool,
    },
    Activated,
    LineClosed,
}

impl SignupReply {
    pub fn name(&self) -> &'static str {
        match self {
            SignupReply::Identified { .. } => "an identification",
            SignupReply::LineOpened { .. } => "an opened line",
            SignupReply::Activated => "a written agreement",
            SignupReply::LineClosed => "a closed line",
        }
    }
}

/// A call's outcome. Only a business decision is a refusal (1101 does not know the person, the
/// bank declines the line, the agreement cannot be written): everything else is unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignupOutcome {
    Done(SignupReply),
    Refused { code: String, message: String },
    Unknown,
}

/// Calls and replies are named, never shown: they carry the patient's name and ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignupError {
    #[error("{call} is not the next call in state {state}")]
    NotNext { call: &'static str, state: &'static str },
    #[error("{reply} does not answer {call} in state {state}")]
    UnexpectedReply { call: &'static str, reply: &'static str, state: &'static str },
    /// The bank refused to close a line (it may not: closing is always possible).
    #[error("the bank refused to close line {bank_agreement_id} ({code})")]
    RefusedUnrefusable { bank_agreement_id: String, code: String },
}

/// The call that moves `stage` on, or `None` in a final stage.
pub fn next_call(stage: &SignupStage) -> Option<SignupCall> {
    match stage {
        SignupStage::Requested => Some(SignupCall::Identify),
        SignupStage::IdentityChecked { person } => Some(SignupCall::OpenLine { person: person.clone() }),
        SignupStage::BankLineOpened { person, bank_agreement_id } => {
            Some(SignupCall::Activate { person: person.clone(), bank_agreement_id: bank_agreement_id.clone() })
        }
        SignupStage::Releasing { bank_agreement_id, .. } => Some(SignupCall::CloseLine { bank_agreement_id: bank_agreement_id.clone() }),
        SignupStage::Active { .. } | SignupStage::Refused(_) | SignupStage::Failed(_) => None,
    }
}

/// Applies the outcome of `call` (which must be `next_call(stage)`) to `stage`.
pub fn apply(stage: &SignupStage, call: &SignupCall, outcome: SignupOutcome) -> Result<SignupStage, SignupError> {
    use SignupOutcome::{Done, Refused, Unknown};
    use SignupReply as R;
    use SignupStage as S;
    let state = stage.state();
    if next_call(stage).as_ref() != Some(call) {
        return Err(SignupError::NotNext { call: call.name(), state });
    }
    Ok(match (stage, outcome) {
        (_, Unknown) => stage.clone(),

        (S::Requested, Done(R::Identified { already_signed: true, .. })) => {
            S::Refused(Refusal::new("already_signed", "this person already has an active agreement; revoke it first"))
        }
        // A person whose earlier line still owes does not get a fresh one (as an overdue line
        // stops their seamless visits) until it is repaid.
        (S::Requested, Done(R::Identified { still_owes: Some(owed), .. })) => S::Refused(owed),
        (S::Requested, Done(R::Identified { person, .. })) => S::IdentityChecked { person },
        (S::Requested, Refused { message, .. }) => {
            S::Refused(Refusal::new("person_not_found", format!("the insurance center does not know this person: {message}")))
        }

        (S::IdentityChecked { .. }, Done(R::LineOpened { closed: true, .. })) => S::Failed(Refusal::new(
            "sign_up_expired",
            "this sign-up was abandoned and its bank line closed; sign up again with a new Idempotency-Key",
        )),
        (S::IdentityChecked { person }, Done(R::LineOpened { bank_agreement_id, closed: false })) => {
            S::BankLineOpened { person: person.clone(), bank_agreement_id }
        }
        (S::IdentityChecked { .. }, Refused { code, message }) => {
            S::Refused(Refusal::new("bank_refused", format!("the bank refused ({code}): {message}")))
        }

        (S::BankLineOpened { bank_agreement_id, .. }, Done(R::Activated)) => S::Active { bank_agreement_id: bank_agreement_id.clone() },
        (S::BankLineOpened { bank_agreement_id, .. }, Refused { message, .. }) => S::Releasing {
            bank_agreement_id: bank_agreement_id.clone(),
            // The store's words say it already ("this person already has an active agreement").
            refusal: Refusal::new(
                "already_signed",
                if message.is_empty() { "this person already has an active agreement".into() } else { message },
            ),
        },

        (S::Releasing { refusal, .. }, Done(R::LineClosed)) => S::Refused(refusal.clone()),
        (S::Releasing { bank_agreement_id, .. }, Refused { code, .. }) => {
            return Err(SignupError::RefusedUnrefusable { bank_agreement_id: bank_agreement_id.clone(), code })
        }

        (_, Done(reply)) => return Err(SignupError::UnexpectedReply { call: call.name(), reply: reply.name(), state }),
        // Every stage that has a call handles a refusal; the final ones were turned away above.
        (_, Refused { .. }) => return Err(SignupError::NotNext { call: call.name(), state }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use SignupOutcome::{Done, Refused, Unknown};
    use SignupReply as R;

    fn person() -> Person {
        Person {
            psn_no: "P1".into(),
            name: "张三".into(),
            certno: "440300199001011234".into(),
            insutype: "310".into(),
            insuplc_admdvs: "440300".into(),
        }
    }

    fn known() -> SignupOutcome {
        Done(R::Identified { person: person(), already_signed: false, still_owes: None })
    }

    fn opened(closed: bool) -> SignupOutcome {
        Done(R::LineOpened { bank_agreement_id: "agr-9".into(), closed })
    }

    fn refused() -> SignupOutcome {
        Refused { code: "X".into(), message: "no".into() }
    }

    /// Outcomes in order, each answering the stage's next call → the final state and its code.
    fn check(outcomes: Vec<SignupOutcome>, expect: (&str, Option<&str>)) {
        let mut stage = SignupStage::Requested;
        for outcome in outcomes {
            let call = next_call(&stage).unwrap_or_else(|| panic!("a call is due in {stage:?}"));
            stage = apply(&stage, &call, outcome).expect("a valid outcome");
            let parts = (stage.person().cloned(), stage.bank_agreement_id().map(str::to_string), stage.refusal().cloned());
            assert_eq!(SignupStage::from_parts(stage.state(), parts.0, parts.1, parts.2), Some(stage.clone()), "round trip");
        }
        assert_eq!((stage.state(), stage.refusal().map(|r| r.code.as_str())), expect);
        assert_eq!(stage.is_final(), !matches!(expect.0, "requested" | "identity_checked" | "bank_line_opened" | "releasing"));
    }

    #[test]
    fn a_sign_up_ends_active_or_refused_and_never_leaves_a_line_behind() {
        check(vec![known(), opened(false), Done(R::Activated)], ("active", None));
        // Silence at every step changes nothing; the step is tried again.
        check(vec![Unknown, known(), Unknown, Unknown, opened(false), Unknown, Done(R::Activated)], ("active", None));
        check(vec![refused()], ("refused", Some("person_not_found")));
        // No valid insurance: signed up all the same, to pay the whole bill from the line.
        let uninsured = Person { insutype: String::new(), insuplc_admdvs: String::new(), ..person() };
        assert!(!uninsured.is_insured() && person().is_insured());
        check(
            vec![Done(R::Identified { person: uninsured, already_signed: false, still_owes: None }), opened(false), Done(R::Activated)],
            ("active", None),
        );
        check(vec![Done(R::Identified { person: person(), already_signed: true, still_owes: None })], ("refused", Some("already_signed")));
        let owes = Some(Refusal::new("credit_debt_outstanding", "an earlier agreement still owes ¥12.50"));
        check(
            vec![Done(R::Identified { person: person(), already_signed: false, still_owes: owes })],
            ("refused", Some("credit_debt_outstanding")),
        );
        check(vec![known(), refused()], ("refused", Some("bank_refused")));
        check(vec![known(), opened(true)], ("failed", Some("sign_up_expired")));
        // Signed up elsewhere while the line was opened: the line is closed again.
        check(vec![known(), opened(false), refused()], ("releasing", Some("already_signed")));
        check(vec![known(), opened(false), refused(), Unknown, Done(R::LineClosed)], ("refused", Some("already_signed")));
        check(vec![known(), Unknown], ("identity_checked", None));
        check(vec![known(), opened(false)], ("bank_line_opened", None));
    }

    #[test]
    fn a_confused_partner_or_caller_changes_nothing() {
        let requested = SignupStage::Requested;
        let open = SignupCall::OpenLine { person: person() };
        assert!(matches!(apply(&requested, &open, known()), Err(SignupError::NotNext { .. })));
        assert!(matches!(apply(&requested, &SignupCall::Identify, Done(R::Activated)), Err(SignupError::UnexpectedReply { .. })));
        let releasing =
            SignupStage::Releasing { bank_agreement_id: "agr-9".into(), refusal: Refusal::new("already_signed", "signed elsewhere") };
        let close = SignupCall::CloseLine { bank_agreement_id: "agr-9".into() };
        assert!(matches!(apply(&releasing, &close, refused()), Err(SignupError::RefusedUnrefusable { .. })));
        assert_eq!(next_call(&SignupStage::Active { bank_agreement_id: "agr-9".into() }), None);
        assert_eq!(SignupStage::from_parts("active", None, None, None), None, "an active sign-up names its line");
        assert_eq!(SignupStage::from_parts("paused", None, None, None), None);
    }
}
