//! Whether a visit may be paid seamlessly (无感支付), and why not when it may not. A bank's line
//! events suspend and reinstate seamless payment; the rule is here, once.

use serde::{Deserialize, Serialize};

/// Why seamless payment is not available for a patient or a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suspension {
    /// The patient has no agreement (无感支付未签约).
    NotSigned,
    /// The credit line has an overdue bill (逾期).
    CreditOverdue,
    /// The bank froze the line or card (冻结).
    CreditFrozen,
}

impl Suspension {
    /// Every value as stored; the CHECK constraints list exactly these.
    pub const ALL: [Suspension; 3] = [Suspension::NotSigned, Suspension::CreditOverdue, Suspension::CreditFrozen];

    pub fn as_str(self) -> &'static str {
        match self {
            Suspension::NotSigned => "not_signed",
            Suspension::CreditOverdue => "credit_overdue",
            Suspension::CreditFrozen => "credit_frozen",
        }
    }

    pub fn parse(s: &str) -> Option<Suspension> {
        Suspension::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// What the patient and the cashier are told.
    pub fn message(self) -> &'static str {
        match self {
            Suspension::NotSigned => {
                "this patient has not signed up for seamless payment (无感支付未签约); settle at the window or have the patient sign up"
            }
            Suspension::CreditOverdue => "your credit line has an overdue bill (逾期); seamless payment resumes as soon as it is repaid",
            Suspension::CreditFrozen => {
                "your bank has frozen the credit line or card (冻结); contact the bank, seamless payment resumes when it is lifted"
            }
        }
    }
}

/// A bank's line event, as far as seamless payment cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEvent {
    Overdue,
    Reinstated,
    Frozen,
    Unfrozen,
    /// Anything else (repayments, limit changes): no bearing on seamless payment.
    Other,
}

/// The line's standing the event reports alongside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineStanding {
    pub frozen: bool,
    pub overdue: bool,
}

/// What a bank event means for an agreement: `None` leaves it as it is, `Some(None)` lifts a
/// suspension, `Some(Some(reason))` suspends. A frozen line stays suspended whatever else happens
/// to it; lifting a freeze leaves the line suspended if it is still overdue.
pub fn suspension_after(event: LineEvent, standing: LineStanding) -> Option<Option<Suspension>> {
    let reason = match (standing.frozen, standing.overdue) {
        (true, _) => Some(Suspension::CreditFrozen),
        (false, true) => Some(Suspension::CreditOverdue),
        (false, false) => None,
    };
    match event {
        LineEvent::Overdue => Some(reason.or(Some(Suspension::CreditOverdue))),
        LineEvent::Reinstated | LineEvent::Frozen | LineEvent::Unfrozen => Some(reason),
        LineEvent::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LineEvent::*;
    use Suspension::*;

    fn check(event: LineEvent, frozen: bool, overdue: bool, expect: Option<Option<Suspension>>) {
        assert_eq!(suspension_after(event, LineStanding { frozen, overdue }), expect, "{event:?} frozen={frozen} overdue={overdue}");
    }

    #[test]
    fn bank_events_suspend_and_reinstate_seamless_payment() {
        check(Overdue, false, true, Some(Some(CreditOverdue)));
        check(Overdue, false, false, Some(Some(CreditOverdue)));
        check(Reinstated, false, false, Some(None));
        check(Frozen, true, false, Some(Some(CreditFrozen)));
        check(Frozen, true, true, Some(Some(CreditFrozen)));
        // Repaying a frozen line does not lift the freeze.
        check(Reinstated, true, false, Some(Some(CreditFrozen)));
        check(Overdue, true, true, Some(Some(CreditFrozen)));
        // Unfrozen but still overdue: still suspended, for the other reason.
        check(Unfrozen, false, true, Some(Some(CreditOverdue)));
        check(Unfrozen, false, false, Some(None));
        check(Other, false, false, None);
        for s in Suspension::ALL {
            assert_eq!(Suspension::parse(s.as_str()), Some(s));
        }
    }
}
