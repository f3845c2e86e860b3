//! The pages' strings, one row per key with its Chinese (zh-CN, the default) and English text.
//! Each page set keeps its own table (`common` here, `h5::strings`, ...) and lists it in [`TABLES`];
//! error messages are keyed by the API's stable error codes ([`ERROR_TABLES`]), so a page says
//! what went wrong in the reader's language, never as raw JSON.

/// A language a page can be read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The cookie's and the query's value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of `<html>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch in the header.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

/// (key, zh-CN, en).
pub type Table = &'static [(&'static str, &'static str, &'static str)];

/// Every table of page strings; a page set adds its own here.
pub const TABLES: &[Table] = &[
    COMMON,
    crate::h5::strings::STRINGS,
    crate::h5::online_strings::STRINGS,
    crate::console::strings::STRINGS,
    crate::ops::strings::STRINGS,
    crate::h5::p2_strings::STRINGS,
    crate::h5::stay_strings::STRINGS,
];

/// Every table of error messages by API error code.
pub const ERROR_TABLES: &[Table] = &[
    COMMON_ERRORS,
    crate::h5::strings::ERRORS,
    crate::h5::online_strings::ERRORS,
    crate::console::strings::ERRORS,
    crate::h5::p2_strings::ERRORS,
];

fn find(tables: &[Table], key: &str) -> Option<(&'static str, &'static str)> {
    tables.iter().flat_map(|t| t.iter()).find(|(k, _, _)| *k == key).map(|(_, zh, en)| (*zh, *en))
}

fn pick(lang: Lang, (zh, en): (&'static str, &'static str)) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// The text of `key`; a key no table has shows as itself (the i18n test finds those).
pub fn text(lang: Lang, key: &str) -> &str {
    match find(TABLES, key) {
        Some(pair) => pick(lang, pair),
        None => key,
    }
}

/// What error `code` means to the reader; a code no table has reads as the generic failure.
pub fn error_message(lang: Lang, code: &str) -> &'static str {
    let fallback = find(ERROR_TABLES, "_unknown").unwrap_or(("操作未成功，请稍后再试。", "That did not work. Please try again later."));
    pick(lang, find(ERROR_TABLES, code).unwrap_or(fallback))
}

/// Every error message in `lang`, as JSON `{code: message}` for `app.js` (embedded in each page
/// as data, not script; `</` is escaped so the text cannot close its element).
pub fn error_messages_json(lang: Lang) -> String {
    let mut map = serde_json::Map::new();
    for (code, zh, en) in ERROR_TABLES.iter().flat_map(|t| t.iter()) {
        map.insert((*code).to_string(), serde_json::Value::from(pick(lang, (*zh, *en))));
    }
    serde_json::Value::Object(map).to_string().replace("</", "<\\/")
}

const COMMON: Table = &[
    ("site_name", "无感支付", "Wugan Pay"),
    ("skip_to_content", "跳到主要内容", "Skip to main content"),
    ("switch_language", "English", "中文"),
    ("switch_language_label", "切换语言", "Change language"),
    ("elder_on", "长辈版", "Large text"),
    ("elder_off", "标准版", "Standard text"),
    ("elder_label", "长辈版：大字、高对比度", "Elder-friendly mode: large text, high contrast"),
    ("preferences", "显示设置", "Display settings"),
    ("working", "正在提交…", "Sending…"),
    ("done", "已完成", "Done"),
    (
        "footer_note",
        "本服务不收取任何费用。如有疑问请拨打医院服务电话。",
        "This service is free of charge. Questions: call the hospital's service line.",
    ),
    // Under a visit's total in the staff lists (`visit_totals`): what its refunds gave back.
    ("list_refunded_part", "部分退费", "Partly refunded"),
    ("list_refunded_full", "已全额退费", "Refunded in full"),
    ("not_found_title", "页面不存在", "Page not found"),
    ("not_found_text", "您要找的页面不存在或已过期。", "The page you are looking for does not exist or has expired."),
    ("back_home", "返回首页", "Back to the start"),
    ("welcome_title", "就医无感支付", "Queue-free hospital payments"),
    (
        "welcome_intro",
        "看病不排队缴费：医生诊毕即结算，医保报销、个人账户和银行授信一次完成，电子票据发到手机。",
        "No queueing to pay: when the doctor finishes, insurance, the personal account and the bank settle at once, and the e-invoice reaches the phone.",
    ),
    ("welcome_patient", "患者", "Patients"),
    ("welcome_patient_text", "签约、就诊记录、账单、家庭成员与授信。", "Sign up, your visits, bills, family members and credit."),
    ("welcome_hospital", "医院工作人员", "Hospital staff"),
    ("welcome_hospital_text", "收费处与病区：就诊、费用、结算、住院押金与出院结算。", "Cashiers and wards: visits, fees, settlements, deposits and bedside discharge."),
    ("welcome_operator", "平台运营", "Operators"),
    ("welcome_operator_text", "对账、异常处理、医院与银行接入。", "Reconciliation, exceptions, hospitals and banks."),
    ("welcome_docs", "接口文档", "API reference"),
    ("welcome_docs_text", "医院信息系统（HIS）接入的 HTTP 接口。", "The HTTP API a hospital information system (HIS) calls."),
];

const COMMON_ERRORS: Table = &[
    ("_unknown", "操作未成功，请稍后再试。", "That did not work. Please try again later."),
    ("_network", "网络连接失败，请检查网络后重试。", "No connection. Check your network and try again."),
    ("rate_limited", "操作太频繁，请稍等片刻再试。", "Too many attempts. Please wait a moment and try again."),
    ("unauthorized", "请先登录。", "Please sign in first."),
    ("forbidden", "您无权进行此操作。", "You are not allowed to do this."),
    ("csrf_failed", "页面已过期，请刷新后重试。", "This page has expired. Reload it and try again."),
    ("missing_field", "请填写所有必填项。", "Please fill in every required field."),
    // A form field the browser will not send, in the page's language (app.js `fieldWanting`).
    ("_field_missing", "请填写此项。", "Please fill in this field."),
    ("_field_choose", "请选择一项。", "Please choose one."),
    ("_field_tick", "请勾选此项。", "Tick this box to go on."),
    ("_field_too_short", "至少需要 {n} 个字符。", "Use at least {n} characters."),
    ("_field_too_long", "最多 {n} 个字符。", "Use at most {n} characters."),
    ("_field_min", "不能小于 {n}。", "It cannot be less than {n}."),
    ("_field_max", "不能大于 {n}。", "It cannot be more than {n}."),
    ("_field_format", "格式不正确，请检查。", "This is not in the right form; please check it."),
    ("invalid_request", "填写的内容有误，请检查后重试。", "Something you entered is not right. Please check and try again."),
    ("field_too_long", "填写的内容过长。", "Something you entered is too long."),
    ("bad_characters", "填写的内容含有不支持的字符。", "Something you entered has characters we cannot accept."),
    ("internal", "系统繁忙，请稍后再试。", "The system is busy. Please try again later."),
    ("overloaded", "系统繁忙，请稍后再试。", "The system is busy. Please try again later."),
    (
        "partner_unavailable",
        "医保或银行系统暂时无法连接，请稍后再试。",
        "The insurance or bank system cannot be reached. Please try again later.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_row_and_both_languages() {
        for tables in [TABLES, ERROR_TABLES] {
            let mut seen = std::collections::BTreeSet::new();
            for (key, zh, en) in tables.iter().flat_map(|t| t.iter()) {
                assert!(seen.insert(*key), "{key} is in the tables twice");
                assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "{key} lacks a language");
            }
        }
    }

    /// Every `page.t("key")` a template uses is in a table (else the page would show the key).
    #[test]
    fn every_key_a_template_uses_is_in_a_table() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut missing = Vec::new();
        for path in templates(std::path::Path::new(dir)) {
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text.split(".t(\"").skip(1) {
                let key = part.split('"').next().unwrap_or_default();
                if find(TABLES, key).is_none() {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "keys without a string: {missing:#?}");
    }

    fn templates(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(templates(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    /// A figure in a message is said in yuan like every other on the pages: a `{…_fen}` field of
    /// an answer is written `{…_fen|yuan}` (app.js's fen-to-yuan), never shown as raw fen.
    #[test]
    fn no_string_shows_raw_fen() {
        for (key, zh, en) in TABLES.iter().flat_map(|t| t.iter()) {
            for text in [zh, en] {
                assert!(!text.contains("_fen}"), "{key} shows raw fen: {text}");
            }
        }
        for lang in [Lang::Zh, Lang::En] {
            let estimate = text(lang, "estimate_done");
            assert!(estimate.contains("{estimate.fund_fen|yuan}") && !estimate.contains(" 分") && !estimate.contains(" fen"), "{estimate}");
            // The refund asks naming the patient, the lines ticked and their fees (app.js fills them in).
            let refund = text(lang, "refund_confirm");
            assert!(["{patient}", "{checked}", "{checked|yuan}"].iter().all(|p| refund.contains(p)), "{refund}");
        }
    }

    #[test]
    fn errors_read_in_the_page_language_and_unknown_codes_fall_back() {
        assert_eq!(error_message(Lang::Zh, "rate_limited"), "操作太频繁，请稍等片刻再试。");
        assert_eq!(error_message(Lang::En, "no_such_code_ever"), "That did not work. Please try again later.");
        assert!(!error_messages_json(Lang::En).contains("</"));
    }
}
