//! The strings of the patient's controls, bills and credit pages (issue 14 scopes 4-6), and the
//! messages of their API errors. Every key is prefixed `p2_`, or is an API error code.

use crate::i18n::Table;

pub const STRINGS: Table = &[
    ("p2_nav_bills", "待缴账单", "Unpaid bills"),
    ("p2_nav_credit", "信用账户", "Credit line"),
    ("p2_bills_title", "待缴账单", "Unpaid bills"),
    ("p2_bills_none", "没有待缴账单。", "No unpaid bills."),
    (
        "p2_bills_intro",
        "信用额度不足时，个人负担部分会留作待缴账单。您可以在这里支付；额度恢复后（如还款后），系统也会自动扣款一次，绝不重复扣款。",
        "When the credit line had no room, your share was left as an unpaid bill. Pay it here; when the line has room again (after a repayment, say) we also collect it once, never twice.",
    ),
    ("p2_bill_amount", "待缴金额", "Amount due"),
    ("p2_bill_stay", "住院", "Inpatient stay"),
    ("p2_bill_pay", "立即支付", "Pay now"),
    ("p2_bill_paid", "✓ 已支付", "✓ Paid"),
    ("p2_bill_paid_done", "支付成功。", "Paid."),
    ("p2_bill_declined", "! 上次扣款未成功", "! The last try was declined"),
    ("p2_bill_in_progress", "正在扣款…", "Collecting…"),
    ("p2_switch_label", "本次就诊使用无感支付", "Pay this visit seamlessly"),
    ("p2_switch_save", "保存", "Save"),
    ("p2_switch_saved", "已保存，医院将看到新的设置。", "Saved: the hospital sees the new setting."),
    ("p2_switched_off", "已关闭本次无感支付，请到窗口缴费。", "Seamless payment is off for this visit: pay at the window."),
    ("p2_credit_title", "信用账户", "Credit line"),
    ("p2_credit_none", "您还没有信用额度签约。", "You have no credit line agreement."),
    ("p2_statements_title", "账单", "Statements"),
    ("p2_statements_none", "还没有出账单。", "No statements yet."),
    ("p2_statement_date", "账单日", "Statement date"),
    ("p2_statement_due", "还款日", "Due date"),
    ("p2_statement_outstanding", "未还金额", "Still owed"),
    ("p2_statement_open", "待还", "To repay"),
    ("p2_statement_paid", "✓ 已还清", "✓ Paid"),
    ("p2_statement_overdue", "! 已逾期", "! Overdue"),
    ("p2_limit_title", "申请提高额度", "Ask for a higher limit"),
    ("p2_limit_amount", "希望的额度（元）", "Limit wanted (yuan)"),
    ("p2_limit_submit", "提交申请", "Send the request"),
    ("p2_limit_done", "申请已提交，以银行审批为准。", "Sent: the bank decides."),
    ("p2_choices_title", "无感支付设置", "Seamless payment settings"),
    (
        "p2_choices_intro",
        "关闭后，新挂号的就诊不再自动结算，需到窗口缴费；已挂号的就诊可在“就诊记录”中单独设置。",
        "Switched off, visits registered from now on are paid at the window; a visit already registered is set on its own in My visits.",
    ),
    ("p2_default_label", "默认开启无感支付", "Seamless payment on by default"),
    ("p2_note_estimate_ready", "预结算费用已出", "Your estimate is ready"),
    ("p2_note_bill_unpaid", "有一笔待缴账单", "You have an unpaid bill"),
    ("p2_note_line_overdue", "信用额度逾期，无感支付已暂停", "Your credit line is overdue: seamless payment is paused"),
    ("p2_note_line_reinstated", "无感支付已恢复", "Seamless payment is back on"),
    ("p2_note_statement_ready", "信用账单已出", "Your statement is ready"),
    ("p2_note_payment_due", "账单即将到期", "A statement falls due soon"),
];

pub const ERRORS: Table = &[
    (
        "bill_declined",
        "银行未能扣款（额度不足或账户受限）。请先还款或申请提高额度，再支付。",
        "The bank declined (no room on the line, or the account is restricted). Repay or ask for a higher limit, then pay again.",
    ),
    ("bill_not_found", "没有找到这笔账单。", "We cannot find this bill."),
    ("bill_not_unpaid", "这笔账单已无需支付。", "This bill has nothing left to pay."),
    ("visit_already_settled", "医生已结算，无法再更改本次设置。", "The doctor has settled this visit: it can no longer be changed."),
    ("not_a_credit_line", "这份签约不是信用额度。", "This agreement is not a credit line."),
];
