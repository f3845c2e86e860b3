//! What the operator's pages say instead of codes: hospitals and banks by name, states, statuses
//! and roles in the page's language, times in China time, and the questions asked before an
//! action that cannot be undone.

use super::{Home, VisitPage};
use crate::page::Page;
use wugan_hub::app::bank_onboarding::BankView;
use wugan_hub::app::hospitals::{ApiKeyView, HospitalView};
use wugan_hub::app::{SettlementView, VisitView};

/// `YYYY-MM-DD`, digits where digits go (the calendar is the hub's to check).
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// A hospital's name by its code (the code when the hub has none).
pub fn name_of(hospitals: &[HospitalView], code: &str) -> String {
    hospitals.iter().find(|h| h.code == code).map_or_else(|| code.to_string(), |h| h.name.clone())
}

pub use crate::page::china_time;

/// The key of a settlement's or a visit's state in words.
fn state_key(state: &str) -> Option<&'static str> {
    Some(match state {
        "registering" => "ops_state_registering",
        "registered" => "ops_state_registered",
        "settling" => "ops_state_settling",
        "settled" => "ops_state_settled",
        "settled_unpaid" => "ops_state_settled_unpaid",
        "cancelled" => "ops_state_cancelled",
        "refunded" => "ops_state_refunded",
        "started" => "ops_state_started",
        "pre_settled" => "ops_state_pre_settled",
        "authorized" => "ops_state_authorized",
        "insurance_settled" => "ops_state_insurance_settled",
        "failed" => "ops_state_failed",
        "cancelling" => "ops_state_cancelling",
        "in_ward" => "ops_state_in_ward",
        "requested" => "ops_state_requested",
        "reversed" => "ops_state_reversed",
        "reuploaded" => "ops_state_reuploaded",
        "resettled" => "ops_state_resettled",
        "refused" => "ops_state_refused",
        _ => return None,
    })
}

/// A state in words (an unknown one as it is: never hidden).
pub fn state_words<'a>(page: &Page, state: &'a str) -> &'a str {
    state_key(state).map_or(state, |key| page.t(key))
}

/// A settlement's state in words; a bill collected since the click reads 已结算（已补缴）.
pub fn settlement_words<'a>(page: &Page, s: &'a SettlementView) -> &'a str {
    match s.state == "settled_unpaid" && s.unpaid_fen == 0 && s.collected_fen > 0 {
        true => page.t("ops_state_collected"),
        false => state_words(page, s.state),
    }
}

/// A visit's state in words: refunded or cancelled first, else its latest settlement's.
pub fn visit_words<'a>(page: &Page, v: &'a VisitView) -> &'a str {
    match (v.status, &v.settlement) {
        ("refunded" | "cancelled", _) | (_, None) => state_words(page, v.status),
        (_, Some(s)) => settlement_words(page, s),
    }
}

impl Home {
    /// A parked item's visit as the hospital numbers it (门诊号), or "visit" if it could not be read.
    pub(super) fn visit_no(&self, visit_id: &str) -> String {
        self.visit_numbers.get(visit_id).cloned().unwrap_or_else(|| self.page.t("ops_exc_open_visit").to_string())
    }

    pub(super) fn hospital_name(&self, code: &str) -> String {
        name_of(&self.hospitals, code)
    }

    pub(super) fn bank_name(&self, code: &str) -> String {
        self.banks.iter().find(|b| b.code == code).map_or_else(|| code.to_string(), |b| b.name.clone())
    }

    /// A bank in a list: its name, with its code when the name is not the code itself.
    pub(super) fn bank_label(&self, b: &BankView) -> String {
        match b.name == b.code {
            true => b.name.clone(),
            false => format!("{}（{}）", b.name, b.code),
        }
    }

    pub(super) fn hospital_label(&self, h: &HospitalView) -> String {
        format!("{}（{}）", h.name, h.code)
    }

    pub(super) fn state(&self, state: &str) -> String {
        state_words(&self.page, state).to_string()
    }

    pub(super) fn visit_state(&self, v: &VisitView) -> String {
        visit_words(&self.page, v).to_string()
    }

    /// The fees in force after the visit's refunds, and what they gave back (`visit_totals`).
    pub(super) fn standing_fen(&self, v: &VisitView) -> i64 {
        crate::visit_totals::standing_fen(v)
    }

    pub(super) fn refund_mark(&self, v: &VisitView) -> Option<String> {
        crate::visit_totals::refund_mark(&self.page, v)
    }

    pub(super) fn settlement_state(&self, s: &SettlementView) -> String {
        settlement_words(&self.page, s).to_string()
    }

    pub(super) fn time(&self, at: &str) -> String {
        china_time(at)
    }

    /// A status of a key, an agreement or a hospital–bank agreement in words.
    pub(super) fn status(&self, status: &str) -> String {
        let key = match status {
            "active" => "ops_status_active",
            "expiring" => "ops_status_expiring",
            "revoked" => "ops_status_revoked",
            "expired" => "ops_status_expired",
            "terminated" => "ops_status_terminated",
            "suspended" => "ops_status_suspended",
            "frozen" => "ops_status_frozen",
            other => return other.to_string(),
        };
        self.page.t(key).to_string()
    }

    pub(super) fn role(&self, role: &str) -> String {
        let key = match role {
            "operator" => "role_operator",
            "doctor" => "role_doctor",
            "cashier" => "role_cashier",
            "finance" => "role_finance",
            "bank" => "ops_role_bank",
            other => return other.to_string(),
        };
        self.page.t(key).to_string()
    }

    pub(super) fn signer(&self, signer: &str) -> String {
        match signer {
            "none" => self.page.t("ops_signer_none").to_string(),
            "hmac-sha256" => self.page.t("ops_signer_hmac").to_string(),
            other => other.to_string(),
        }
    }

    /// A reconciliation's or a call's partner: `insurance`, `bank:<code>`, `hospitals`.
    pub(super) fn partner(&self, partner: &str) -> String {
        match partner.strip_prefix("bank:") {
            Some(code) => format!("{} {}", self.page.t("ops_partner_bank"), self.bank_name(code)),
            None => match partner {
                "insurance" => self.page.t("ops_partner_insurance").to_string(),
                "hospitals" => self.page.t("ops_partner_hospitals").to_string(),
                other => other.to_string(),
            },
        }
    }

    pub(super) fn recon_class(&self, class: &str) -> String {
        match class {
            "partner_only" | "hub_only" | "amounts_differ" | "in_transit" => self.page.t(&format!("ops_class_{class}")).to_string(),
            other => other.to_string(),
        }
    }

    /// Which partner a waiting settlement waits for, by the step it stopped before.
    pub(super) fn waiting_for(&self, state: &str, bank_code: Option<&String>) -> String {
        match state {
            "started" | "pre_settled" | "authorized" => self.page.t("ops_exc_insurance").to_string(),
            "insurance_settled" => match bank_code {
                Some(code) => format!("{}（{}）", self.page.t("ops_exc_bank"), self.bank_name(code)),
                None => self.page.t("ops_exc_bank").to_string(),
            },
            "cancelling" => self.page.t("ops_exc_cancelling").to_string(),
            other => self.state(other),
        }
    }

    pub(super) fn key_owner(&self, k: &ApiKeyView) -> String {
        match &k.hospital_code {
            Some(code) => self.hospital_name(code),
            None => self.page.t("ops_operator_key").to_string(),
        }
    }

    pub(super) fn confirm_revoke(&self, k: &ApiKeyView) -> String {
        let text = if k.hospital_code.is_some() { "ops_confirm_revoke" } else { "ops_confirm_revoke_operator" };
        self.page.t(text).replace("{key}", &k.key_id).replace("{hospital}", &self.key_owner(k))
    }

    pub(super) fn confirm_rotate(&self, k: &ApiKeyView) -> String {
        self.page.t("ops_confirm_rotate").replace("{key}", &k.key_id).replace("{hospital}", &self.key_owner(k))
    }

    pub(super) fn confirm_suspend(&self, hospital: &str, bank: &str) -> String {
        self.page.t("ops_confirm_suspend").replace("{hospital}", &self.hospital_name(hospital)).replace("{bank}", &self.bank_name(bank))
    }

    pub(super) fn confirm_platform(&self, hospital: &str) -> String {
        self.page.t("ops_confirm_platform").replace("{hospital}", &self.hospital_name(hospital))
    }
}

impl VisitPage {
    pub(super) fn settlement_state(&self, s: &SettlementView) -> String {
        settlement_words(&self.page, s).to_string()
    }

    pub(super) fn visit_state(&self) -> String {
        visit_words(&self.page, &self.whole.visit).to_string()
    }

    pub(super) fn time(&self, at: &str) -> String {
        china_time(at)
    }

    pub(super) fn account(&self, account: &str) -> String {
        self.names.account(&self.page, account)
    }

    pub(super) fn kind(&self, kind: &str) -> String {
        super::ledger_words::kind(&self.page, kind)
    }

    /// The visits of the visit's day (China time).
    pub(super) fn back_href(&self) -> String {
        format!("/ops/visits?day={}", china_time(&self.whole.visit.created_at).get(..10).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_read_in_china_time_and_dates_are_checked_by_shape() {
        assert_eq!(china_time("2026-12-02T15:25:10.886312Z"), "2026-12-02 23:25:10");
        assert_eq!(china_time("not a time"), "not a time");
        assert!(is_date("2026-12-02") && !is_date("2026-1-02") && !is_date("2026-12-0x") && !is_date(""));
    }
}
