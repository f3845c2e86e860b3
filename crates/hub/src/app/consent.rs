//! The agreement text a patient accepts when signing up (签约), versioned: the text shown on the
//! page and the one the consent record names (by version and SHA-256) are the same constant. A
//! new text is a new version; the record of an older acceptance keeps naming the older one.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The version of the text in force.
pub const AGREEMENT_VERSION: &str = "2026-11-v1";

/// The binding text (Chinese).
pub const AGREEMENT_TEXT_ZH: &str = "\
《医保无感支付服务协议》（2026-11-v1）
一、您授权本平台在您就诊时，于医生确认后自动完成医保结算，并从您选择的支付来源支付个人负担部分。
二、支付来源：医保个人账户（如您选择）、您在合作银行开通的信用额度或绑定的借记卡。信用额度的额度、账单与还款以银行为准。
三、每次结算后，您将收到结算明细（医保支付、个人账户支付与个人自付）及电子票据。
四、您可以随时为某家医院或某次就诊关闭无感支付，也可以解约；信用额度尚有欠款时，须还清后方可解约。
五、您的身份信息仅用于医保结算与支付，加密保存，不用于其他目的。";

/// The same text in English, for reading (the Chinese text binds).
pub const AGREEMENT_TEXT_EN: &str = "\
Seamless medical insurance payment agreement (2026-11-v1)
1. You authorise the platform to settle your insurance claim at the end of each visit, once the doctor confirms, and to pay your share from the sources you choose.
2. Sources: your insurance personal account (if you choose), a credit line at a partner bank, or a linked debit card. The bank decides the line's limit, statements and repayment.
3. After each settlement you receive the split (insurance fund, personal account, your own share) and the e-invoice.
4. You can switch seamless payment off for a hospital or a visit at any time, or end the agreement; while the credit line has debt, it can be ended only once repaid.
5. Your identity is used only for insurance settlement and payment, kept encrypted, and for nothing else.";

/// The text in force, as the pages and the API show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AgreementTextView {
    pub version: &'static str,
    /// SHA-256 of `text_zh` (hex): what a consent record names.
    pub sha256: String,
    pub text_zh: &'static str,
    pub text_en: &'static str,
}

pub fn current_text() -> AgreementTextView {
    AgreementTextView {
        version: AGREEMENT_VERSION,
        sha256: hex::encode(Sha256::digest(AGREEMENT_TEXT_ZH.as_bytes())),
        text_zh: AGREEMENT_TEXT_ZH,
        text_en: AGREEMENT_TEXT_EN,
    }
}
