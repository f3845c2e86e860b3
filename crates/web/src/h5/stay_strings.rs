//! The strings of the patient's inpatient stays (住院) on `/h5/visits` and of what the credit
//! line holds for them on `/h5/credit`, `stay_h5_` prefixed.

use crate::i18n::Table;

pub const STRINGS: Table = &[
    ("stay_h5_title", "住院", "Inpatient stays"),
    ("stay_h5_visits_title", "门诊", "Outpatient visits"),
    ("stay_h5_ipt_no", "住院号", "Admission no."),
    ("stay_h5_for_family", "家人 {name} 的住院，由您的信用额度支付。", "{name}'s stay, paid on your credit line."),
    ("stay_h5_admitting", "入院办理中", "Being admitted"),
    ("stay_h5_in_ward", "在院", "In the ward"),
    ("stay_h5_discharging", "出院结算中", "Being discharged and settled"),
    ("stay_h5_settled", "已出院，已结清", "Discharged, fully paid"),
    ("stay_h5_owing", "已出院，尚有欠费", "Discharged, an amount is still owed"),
    ("stay_h5_cancelled", "入院已取消", "Admission cancelled"),
    ("stay_h5_refused", "医保未受理入院", "Insurance did not accept the admission"),
    ("stay_h5_in_progress", "办理中", "In progress"),
    ("stay_h5_admitted_at", "入院日期", "Admitted on"),
    ("stay_h5_held", "押金（信用额度上冻结）", "Deposit (held on your credit line)"),
    ("stay_h5_charges", "已产生费用", "Charges so far"),
    (
        "stay_h5_held_note",
        "押金 {held} 只是冻结，不是扣款。出院结算时按实际费用从信用额度支付，其余自动解冻。",
        "The deposit of {held} is held, not charged. At discharge the actual cost is paid from your credit line and the rest is released.",
    ),
    (
        "stay_h5_short",
        "押金未能在信用额度上足额冻结。请到住院处补缴押金，或申请提高信用额度。",
        "The deposit could not be held in full on your credit line. Pay it at the admissions desk, or ask for a higher credit limit.",
    ),
    ("stay_h5_interim_n", "第 {n} 次中途结算", "Interim settlement {n}"),
    ("stay_h5_interim_cancelled_n", "第 {n} 次中途结算（已撤销）", "Interim settlement {n} (cancelled)"),
    (
        "stay_h5_interim_cancelled_note",
        "医院已撤销这次结算，这笔费用会与其余费用一起重新结算。",
        "The hospital cancelled this settlement; its fees will be settled again with the rest.",
    ),
    ("stay_h5_interim_returned", "退回信用额度", "Returned to your credit line"),
    ("stay_h5_owed", "尚欠金额", "Still owed"),
    ("stay_h5_owed_note", "尚欠 {owed}，可在“待缴账单”中支付。", "{owed} is still owed: pay it under Unpaid bills."),
    ("stay_h5_settled_note", "住院费用已结清，无需到窗口付款。", "The stay is paid in full: nothing to pay at a window."),
    ("stay_h5_line_held", "冻结中（不是欠款）", "Held (not owed)"),
    ("stay_h5_line_held_for", "冻结用途", "What is held"),
    ("stay_h5_line_held_stay", "{hospital} 住院押金（住院号 {ipt_no}）", "Inpatient deposit at {hospital} (admission no. {ipt_no})"),
    (
        "stay_h5_line_held_family",
        "{hospital} {name} 的住院押金（住院号 {ipt_no}）",
        "{name}'s inpatient deposit at {hospital} (admission no. {ipt_no})",
    ),
    ("stay_h5_line_held_other", "其他待结算的付款", "Other payments waiting to settle"),
    (
        "stay_h5_line_held_note",
        "冻结的金额暂时不能使用，但不是欠款：结算时按实际费用扣款，其余自动解冻。",
        "A held amount cannot be used for now, but it is not owed: the actual cost is charged at settlement and the rest is released.",
    ),
];
