//! A ledger transfer as an operator reads it: each account in words (whose money it is, by the
//! hospital's and the bank's names), its kind in words, and the hub's own account name kept beside
//! it small, as the journal, the logs and the reconciliation files spell it. The names are the
//! domain's (`wugan_domain::settlement::accounts`); one the pages do not know is shown as it is.

use super::words::name_of;
use crate::page::Page;
use wugan_hub::app::bank_onboarding::BankView;
use wugan_hub::app::hospitals::HospitalView;

/// The hospitals and banks an account may name, by code.
#[derive(Default)]
pub struct Names {
    pub hospitals: Vec<HospitalView>,
    pub banks: Vec<BankView>,
}

impl Names {
    fn hospital(&self, code: &str) -> String {
        name_of(&self.hospitals, code)
    }

    fn bank(&self, code: &str) -> String {
        self.banks.iter().find(|b| b.code == code).map_or_else(|| code.to_string(), |b| b.name.clone())
    }

    /// `hospital:H1` → "一院 收款"; `bank:B1:agr_…9f3a` → "工商银行 患者账户 …9f3a"; an account the
    /// pages do not know, as it is.
    pub fn account(&self, page: &Page, account: &str) -> String {
        let parts: Vec<&str> = account.split(':').collect();
        let said = |key: &str, who: String| page.t(key).replace("{who}", &who);
        match parts.as_slice() {
            ["insurance_fund", admdvs, insutype] => page.t("ledger_fund").replace("{admdvs}", admdvs).replace("{insutype}", insutype),
            ["personal_account", psn] => said("ledger_personal_account", tail(psn)),
            ["bank", bank, agreement] => {
                page.t("ledger_bank_line").replace("{bank}", &self.bank(bank)).replace("{agreement}", &tail(agreement))
            }
            ["hospital", h] => said("ledger_hospital", self.hospital(h)),
            ["hospital_paid", h, "bank", bank] => {
                page.t("ledger_hospital_paid_bank").replace("{who}", &self.hospital(h)).replace("{bank}", &self.bank(bank))
            }
            ["hospital_paid", h, "insurance"] => said("ledger_hospital_paid_insurance", self.hospital(h)),
            ["hospital_unpaid", h] => said("ledger_hospital_unpaid", self.hospital(h)),
            ["patient_unpaid", psn] => said("ledger_patient_unpaid", tail(psn)),
            ["hospital_writeoff", h] => said("ledger_hospital_writeoff", self.hospital(h)),
            ["hospital_burden", h] => said("ledger_hospital_burden", self.hospital(h)),
            ["insurance_outside", h] => said("ledger_insurance_outside", self.hospital(h)),
            ["cash_outside", h] => said("ledger_cash_outside", self.hospital(h)),
            ["repaid_at_bank", bank] => said("ledger_repaid_at_bank", self.bank(bank)),
            _ => account.to_string(),
        }
    }
}

/// A transfer's kind in words: posted, a hold, a hold's capture or its release.
pub fn kind(page: &Page, kind: &str) -> String {
    let key = match kind {
        "posted" => "ledger_kind_posted",
        "pending" => "ledger_kind_pending",
        "post_pending" => "ledger_kind_post_pending",
        "void_pending" => "ledger_kind_void_pending",
        other => return other.to_string(),
    };
    page.t(key).to_string()
}

/// The last four characters of a person's or an agreement's number, after an ellipsis: enough to
/// tell two apart in a line that reads as words. The journal's own name under it, whole, is what
/// an operator looks a transfer up by (the operator's pages show a visit's people in full).
fn tail(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let from = chars.len().saturating_sub(4);
    format!("…{}", chars[from..].iter().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::prefs::Prefs;

    fn page(lang: Lang) -> Page {
        Page::new(Prefs { lang, elder: false, secure: false }, "/ops/visits/v1", "/ops/")
    }

    fn names() -> Names {
        let hospital = HospitalView {
            code: "H44030600001".into(),
            name: "深圳市第一人民医院".into(),
            grade: None,
            region: None,
            insurance_platform: None,
            deposit_policy: None,
            created_at: String::new(),
        };
        let bank = BankView {
            code: "ICBC".into(),
            name: "工商银行".into(),
            url: String::new(),
            key_id: String::new(),
            default_credit_limit_fen: 0,
            interest_free_days: 0,
            source: "config",
            created_at: None,
        };
        Names { hospitals: vec![hospital], banks: vec![bank] }
    }

    #[test]
    fn every_account_the_domain_names_is_said_in_words_with_the_hospitals_and_banks_names() {
        use wugan_domain::settlement::accounts;
        let (zh, n) = (page(Lang::Zh), names());
        let table = [
            (accounts::insurance_fund("440300", "310"), "医保统筹基金（440300 · 310）"),
            (accounts::personal_account("44030000000000001234"), "个人账户 …1234"),
            (accounts::bank_agreement("ICBC", "agr_0123456789"), "工商银行 患者账户 …6789"),
            (accounts::hospital("H44030600001"), "深圳市第一人民医院 收款"),
            (accounts::hospital_paid("H44030600001", "ICBC"), "深圳市第一人民医院 已获工商银行划付"),
            (accounts::hospital_paid_by_insurance("H44030600001"), "深圳市第一人民医院 已获医保清算"),
            (accounts::hospital_unpaid("H44030600001"), "深圳市第一人民医院 待收欠费"),
            (accounts::patient_unpaid("44030000000000001234"), "患者欠费 …1234"),
            (accounts::hospital_writeoff("H44030600001"), "深圳市第一人民医院 医院负担"),
            (accounts::hospital_burden("H44030600001"), "深圳市第一人民医院 自有资金"),
            (accounts::insurance_outside("H44030600001"), "深圳市第一人民医院 院端医保结算"),
            (accounts::cash_outside("H44030600001"), "深圳市第一人民医院 院端自收"),
            (accounts::repaid_at_bank("ICBC"), "工商银行 转账还款"),
            ("something:new".to_string(), "something:new"),
        ];
        for (account, words) in &table {
            assert_eq!(n.account(&zh, account), *words, "{account}");
        }
        let en = page(Lang::En);
        assert_eq!(n.account(&en, &accounts::hospital("H9")), "H9 received", "a hospital the hub does not know: its code");
        assert_eq!(n.account(&en, &accounts::bank_agreement("ICBC", "a1")), "工商银行 patient account …a1");
        assert_eq!(kind(&zh, "pending"), "冻结");
        assert_eq!(kind(&en, "post_pending"), "Hold captured");
        assert_eq!(kind(&en, "other"), "other");
    }
}
