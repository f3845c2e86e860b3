//! The staff consoles' strings (both `/console/` and `/ops/`) and the staff API's error messages.

use crate::i18n::Table;

pub const STRINGS: Table = &[
    ("console_title", "医生/收费员工作台", "Doctor and cashier console"),
    ("console_title_finance", "财务工作台", "Finance desk"),
    ("staff_colon", "：", ": "),
    ("staff_role_operator", "运营人员", "Operator"),
    ("staff_role_doctor", "医生", "Doctor"),
    ("staff_role_cashier", "收费员", "Cashier"),
    ("staff_role_finance", "财务", "Finance"),
    ("staff_role_bank", "银行工作人员", "Bank staff"),
    ("patient", "患者", "Patient"),
    ("patient_unknown", "未签约患者（无姓名记录）", "Not signed up (no name on record)"),
    ("sex_male", "男", "male"),
    ("sex_female", "女", "female"),
    ("age_years", "{n}岁", "{n} years"),
    ("fee_item", "项目", "Item"),
    ("fee_price_count", "单价 × 数量", "Price × count"),
    ("fee_amount", "金额", "Amount"),
    ("fee_refunded_mark", "已退", "refunded"),
    ("fee_list_title", "费用明细", "Fee lines"),
    ("no_fee_lines", "还没有录入费用。", "No fee lines yet."),
    ("refunds_title", "退费记录", "Refunds"),
    ("refund_at", "退费时间", "When"),
    ("refund_items", "退回项目", "Lines returned"),
    ("refund_returned", "退回费用", "Fees returned"),
    ("refund_bank", "银行退还", "Bank refunded"),
    ("in_force_title", "退费后现行金额", "In force after the refunds"),
    ("refunded_total", "已退费用", "Refunded"),
    ("collected_later", "已补缴", "Collected later"),
    (
        "settle_confirm",
        "确认为 {patient} 结算？医疗费用 {amount}，医保报销后个人部分将立即从患者的账户扣款。",
        "Settle for {patient}? Fees {amount}; after insurance, the patient's share is charged at once.",
    ),
    (
        "cancel_confirm",
        "确认撤销 {patient} 的这次结算（医疗费用 {amount}）并退款？医保退回报销部分，银行退还 {bank}，撤销后不能恢复。",
        "Cancel the settlement of {patient} ({amount} of fees) and refund it? Insurance reverses its share and the bank gives back {bank}; this cannot be undone.",
    ),
    (
        "refund_confirm",
        "确认为 {patient} 退费？退回项目：{checked}，费用共 {checked|yuan}；其余项目将重新结算，银行退还差额，退费后不能撤回。",
        "Refund for {patient}: {checked}, {checked|yuan} of fees returned? The rest is settled again and the bank gives back the difference; this cannot be undone.",
    ),
    ("ops_title", "运营工作台", "Operator console"),
    ("staff_signin", "工作人员登录", "Staff sign-in"),
    ("login_label", "用户名", "Login"),
    ("password_label", "密码", "Password"),
    ("totp_label", "动态验证码（如已开通）", "Authenticator code (if enrolled)"),
    ("totp_hint", "6位数字", "6 digits"),
    ("staff_signed_in_as", "当前用户", "Signed in as"),
    ("todays_visits", "今日就诊", "Today's visits"),
    ("no_visits", "今天还没有就诊记录。", "No visits yet today."),
    ("visit_no", "就诊流水号", "Visit number"),
    ("state", "状态", "State"),
    ("seamless", "无感支付", "Seamless payment"),
    ("seamless_on", "已开通", "On"),
    ("seamless_off", "未开通", "Off"),
    ("seamless_reason_not_signed", "（未签约）", " (not signed up)"),
    ("seamless_reason_credit_overdue", "（信用额度逾期）", " (credit line overdue)"),
    ("seamless_reason_credit_frozen", "（信用额度冻结）", " (credit line frozen)"),
    ("seamless_reason_switched_off", "（患者已关闭）", " (switched off by the patient)"),
    ("medfee", "医疗费用", "Medical fees"),
    ("open", "打开", "Open"),
    ("unpaid_bills", "待缴账单", "Unpaid bills"),
    ("no_unpaid", "没有待缴账单。", "No unpaid bills."),
    ("unpaid_amount", "待缴金额", "Unpaid"),
    ("inv_title", "电子票据", "E-invoices"),
    ("inv_link", "电子票据（门诊、住院、冲红、押金收据）", "E-invoices (visits, stays, red-flushes, deposit receipts)"),
    ("inv_none", "还没有开具电子票据。", "No invoices issued yet."),
    ("inv_number", "票据代码-号码", "Code-number"),
    ("inv_kind", "类型", "Kind"),
    ("inv_kind_blue", "蓝票", "Invoice"),
    ("inv_kind_red", "红票（冲红）", "Red-flush"),
    ("deposit_kind_held", "押金收据", "Deposit receipt"),
    ("deposit_kind_recovered", "押金收据（已收回）", "Deposit receipt (recovered)"),
    ("deposit_kind_released", "押金收据（已释放）", "Deposit receipt (released)"),
    ("inv_date", "开票日期", "Date"),
    ("inv_payer", "交款人", "Payer"),
    ("inv_total", "金额", "Amount"),
    ("inv_next", "更早的票据", "Older invoices"),
    ("statement_title", "日结单", "Daily statement"),
    ("statement_link", "日结单（对账、结算划付）", "Daily statement (reconciliation, payouts)"),
    ("statement_date", "业务日期", "Business day"),
    ("statement_show", "查看", "Show"),
    ("statement_settled", "结算笔数", "Settlements"),
    ("statement_bank", "银行支付", "Paid by the bank"),
    ("statement_hospital_part", "医院负担", "Borne by the hospital"),
    ("statement_cancelled", "已撤销结算", "Settlements cancelled since"),
    ("statement_refunded", "当日退款", "Refunded this day"),
    ("statement_bank_payout", "银行划付，到账日", "Bank payout, on"),
    ("statement_insurance_payout", "医保清算，清算月份", "Insurance clearing, month"),
    ("statement_csv", "下载 CSV", "Download CSV"),
    ("statement_lines", "结算明细", "Settlements of the day"),
    ("statement_unpaid_count", "待缴账单（笔）", "Unpaid bills (count)"),
    ("statement_none", "这一天没有可显示的日结单（请检查日期）。", "No statement to show for this day (check the date)."),
    ("register_visit", "登记就诊", "Register a visit"),
    ("cert_type", "凭证类型", "Document"),
    ("cert_id_card", "居民身份证", "ID card"),
    ("cert_evoucher", "医保电子凭证", "Insurance e-voucher"),
    ("cert_ssc", "社保卡", "Social security card"),
    ("cert_no", "凭证号码", "Document number"),
    ("register", "登记", "Register"),
    ("visit_title", "就诊详情", "Visit"),
    ("fee_lines", "费用明细条数", "Fee lines"),
    ("enter_fees", "录入费用", "Enter fees"),
    ("catalogue_item", "收费项目（目录）", "Item (catalogue)"),
    ("unit_price", "单价（元）", "Unit price (yuan)"),
    ("count", "数量", "Count"),
    ("count_hint", "可填小数，最多4位，如 0.5", "Decimals allowed, up to 4 places, e.g. 0.5"),
    ("add_line", "添加费用", "Add the line"),
    ("fees_added", "费用已录入。", "The fee line was entered."),
    ("estimate", "预结算", "Estimate"),
    // In yuan like every figure on the page: `{field|yuan}` is app.js's fen-to-yuan (never raw fen).
    (
        "estimate_done",
        "预结算：医疗费用 {estimate.medfee_fen|yuan}，其中医保基金 {estimate.fund_fen|yuan}，个人账户 {estimate.personal_account_fen|yuan}，个人现金 {estimate.cash_fen|yuan}。",
        "Estimate: fees {estimate.medfee_fen|yuan}, of which fund {estimate.fund_fen|yuan}, personal account {estimate.personal_account_fen|yuan}, cash {estimate.cash_fen|yuan}.",
    ),
    ("settle", "结算（医生确认）", "Settle (the doctor's click)"),
    ("cancel_settlement", "撤销结算并退款", "Cancel and refund"),
    ("refund_title", "退费（按项目）", "Refund fee lines"),
    (
        "refund_hint",
        "勾选退回的项目；其余项目将重新结算，银行退还差额。",
        "Tick the lines returned; the rest is settled again and the bank refunds the difference.",
    ),
    ("refund_button", "退所选项目", "Refund the lines ticked"),
    // Between the items of a list said in a sentence (the refund's question names the lines ticked).
    ("list_join", "、", ", "),
    (
        "refund_done",
        "已为 {patient} 退费：退回项目的费用 {amount}，银行退还 {bank}；其余项目已重新结算，下方为退费后的金额。",
        "Refunded for {patient}: the lines returned come to {amount}, the bank gave back {bank}; the rest was settled again, as shown below.",
    ),
    ("settlement", "结算", "Settlement"),
    ("settlement_actions", "结算操作", "Settle or cancel"),
    ("fund", "医保基金", "Insurance fund"),
    ("personal_account", "个人账户", "Personal account"),
    ("cash", "个人支付", "Patient's share"),
    ("at_hospital", "医院收取", "Collected by the hospital"),
    ("at_hospital_hint", "仅医保结算：个人现金部分由本院窗口或自有渠道收取，未从患者银行额度扣款。", "Insurance only: collect the patient's cash share at this hospital's window or its own channel; nothing was charged at the patient's bank."),
    ("back_to_list", "返回今日就诊", "Back to today's visits"),
    ("state_registering", "登记中", "Registering"),
    ("state_registered", "已登记", "Registered"),
    ("state_settling", "结算中", "Settling"),
    ("state_settled", "已结算", "Settled"),
    ("state_settled_unpaid", "已结算（待缴）", "Settled, unpaid"),
    ("state_settled_collected", "已结算（已补缴）", "Settled, bill collected later"),
    ("state_cancelled", "已撤销", "Cancelled"),
    ("state_refunded", "已全额退费", "Refunded in full"),
    ("bk_title", "银行工作台", "Bank desk"),
    ("bk_hospitals", "本行合作医院", "Hospitals this bank works with"),
    ("bk_no_hospitals", "本行尚无合作医院。", "This bank has no hospital agreement yet."),
    ("bk_hospital", "医院", "Hospital"),
    ("bk_account", "收款账户", "Receiving account"),
    ("bk_status", "状态", "Status"),
    ("bk_active", "有效", "Active"),
    ("bk_suspended", "已暂停", "Suspended"),
    ("bk_revoked", "已解约", "Ended"),
    ("bk_reason_overdue", "逾期", "overdue"),
    ("bk_reason_frozen", "额度冻结", "line frozen"),
    ("bk_reason_switched_off", "患者已关闭无感支付", "the patient switched seamless payment off"),
    ("bk_agreements", "本行签约患者", "This bank's patient agreements"),
    ("bk_agreements_hint", "只显示签约编号与状态，不显示姓名和证件号。", "Agreement ids and states only: no names, no ID numbers."),
    ("bk_no_agreements", "本行尚无签约。", "No patient has signed with this bank yet."),
    ("bk_agreement", "签约编号", "Agreement"),
    ("bk_method", "支付方式", "Payment"),
    ("bk_credit_line", "信用额度", "Credit line"),
    ("bk_debit_card", "借记卡", "Debit card"),
    ("bk_since", "签约时间", "Signed"),
    ("state_failed", "结算失败", "Failed"),
    ("state_in_progress", "处理中", "In progress"),
    ("webhooks", "消息推送（Webhook）", "Webhooks to the HIS"),
    ("integration_settings", "系统对接设置（消息推送）", "Integration settings (webhooks)"),
    ("no_endpoints", "尚未登记推送地址。", "No endpoint registered."),
    ("endpoint_url", "推送地址", "Endpoint URL"),
    ("add_endpoint", "登记推送地址", "Register the endpoint"),
    ("endpoint_added", "已登记。签名密钥（仅显示一次）：{secret}", "Registered. Its signing secret (shown this once): {secret}"),
    ("event", "事件", "Event"),
    ("attempts", "尝试次数", "Attempts"),
    ("last_answer", "最近应答", "Last answer"),
    ("replay", "重新推送", "Send again"),
    ("replayed", "已安排重新推送。", "It will be sent again shortly."),
    ("ward_link", "住院（押金、病区结算）", "Inpatients (deposits, bedside discharge)"),
    ("ward_title", "住院患者", "Inpatients"),
    ("ward_stays", "本院住院记录", "This hospital's stays"),
    ("ward_no_stays", "还没有住院记录。", "No stays yet."),
    ("ward_ipt_no", "住院号", "Inpatient number"),
    ("ward_held", "押金冻结", "Deposit held"),
    ("ward_charges", "住院费用", "Charges so far"),
    ("ward_admit", "办理入院", "Admit a patient"),
    ("ward_admit_hint", "押金在患者的信用额度上冻结，不用到窗口交现金；出院结算时按实扣款，其余解冻。", "The deposit is held on the patient's credit line instead of paid in cash at a window; at discharge the patient's share is taken from it and the rest released."),
    ("ward_med_type", "医疗类别", "Medical type"),
    ("ward_med_type_21", "普通住院", "Inpatient"),
    ("ward_med_type_24", "急诊转住院", "Emergency to inpatient"),
    ("ward_deposit", "押金（元）", "Deposit (yuan)"),
    ("ward_clinical", "入院诊疗信息（选填，随入院办理报送医保）", "Admission details (optional, sent to insurance with the admission)"),
    ("ward_dept_name", "入院科室", "Admitting department"),
    ("ward_dept_code", "科室编码", "Department code"),
    ("ward_bed", "床位", "Bed"),
    ("ward_doctor", "主诊医师", "Attending doctor"),
    ("ward_maindiag_code", "主诊断编码", "Main diagnosis code"),
    ("ward_maindiag_name", "主诊断名称", "Main diagnosis"),
    ("ward_admit_button", "入院并冻结押金", "Admit and hold the deposit"),
    ("ward_stay", "住院", "Stay"),
    ("ward_back", "返回住院患者列表", "Back to the inpatients"),
    ("ward_fees", "录入当日费用", "Enter the day's fees"),
    ("ward_actions", "出院与撤销", "Discharge and cancel"),
    ("ward_discharge_hint", "床旁结算：医生或护士点击后，医保即时报销，个人部分从押金中扣除，其余押金解冻。", "Bedside settlement: at the doctor's or nurse's click insurance pays its share, the patient's share is taken from the deposit and the rest released."),
    ("ward_discharge", "出院结算", "Discharge and settle"),
    ("ward_cancel_settlement", "撤销住院结算", "Cancel the stay's settlement"),
    ("ward_undo_discharge", "撤销出院", "Undo the discharge"),
    ("ward_cancel_admission", "撤销入院", "Cancel the admission"),
    (
        "ward_deposit_short",
        "押金不足：费用增加后需要追加押金，但患者的信用额度不够。已冻结的押金仍然有效；请患者还款或申请提高额度，出院时未付部分将成为患者的待缴账单。",
        "Deposit short: the fees call for a larger deposit and the patient's line cannot cover it. What is held stays held; ask the patient to repay or raise the limit. At discharge what the line cannot pay becomes the patient's bill.",
    ),
    (
        "ward_deposit_not_held",
        "已入院，但押金未冻结：患者的信用额度不足以冻结这笔押金。请患者还款或申请提高额度后，在下方“补交押金”重新冻结（金额可小一些）；也可请患者到住院处缴纳押金。",
        "Admitted, but no deposit is held: the patient's line cannot cover this deposit. Once the patient repays or raises the limit, hold it again below (a smaller amount will do), or take the deposit at the admissions desk.",
    ),
    (
        "ward_deposit_used_up",
        "押金已在中途结算中用完：可在下方“补交押金”重新冻结。",
        "The deposit was used up by an interim settlement: hold a fresh one below.",
    ),
    (
        "ward_discharge_confirm",
        "确认为 {patient} 办理出院结算？住院费用 {charges}，医保报销后个人部分从冻结的押金 {held} 中扣除，其余解冻。",
        "Discharge and settle for {patient}? Fees {charges}; after insurance the patient's share is taken from the {held} held and the rest released.",
    ),
    (
        "ward_interim_confirm",
        "确认为 {patient} 中途结算已录入的费用？个人部分将从冻结的押金中扣除。",
        "Settle the fees entered so far for {patient}? The patient's share is taken from the deposit held.",
    ),
    (
        "ward_cancel_admission_confirm",
        "确认撤销 {patient} 的入院？医保入院登记将撤销，冻结的押金 {held} 将解冻，撤销后不能恢复。",
        "Cancel the admission of {patient}? The insurance admission is undone and the {held} held released; this cannot be undone.",
    ),
    (
        "ward_cancel_settlement_confirm",
        "确认撤销 {patient} 的住院结算（医疗费用 {amount}）并退款？撤销后不能恢复。",
        "Cancel the stay's settlement of {patient} ({amount} of fees) and refund it? This cannot be undone.",
    ),
    ("ward_undo_discharge_confirm", "确认撤销 {patient} 的出院？患者回到在院状态。", "Undo the discharge of {patient}? The patient is back in the ward."),
    ("ward_deposit_confirm", "确认在 {patient} 的信用额度上冻结所填的押金？", "Hold the deposit entered on the line of {patient}?"),
    ("ward_discharge_refused", "医保拒绝出院结算", "Insurance refused the discharge settlement"),
    ("ward_discharge_refused_hint", "患者仍在院，押金未动，可再次点击出院结算。", "The patient is still in the ward and the deposit untouched; the click may be tried again."),
    ("ward_interim_refused", "医保拒绝中途结算", "Insurance refused the interim settlement"),
    ("ward_interim_refused_hint", "费用未结算，押金未动；可再次中途结算，或出院时一并结算。", "Nothing was settled and the deposit is untouched; try again, or settle these fees at discharge."),
    ("ward_center_said", "医保答复：", "The center said: "),
    ("ward_state_admitting", "入院办理中", "Admitting"),
    ("ward_state_in_ward", "在院", "In the ward"),
    ("ward_state_raising", "追加押金中", "Raising the deposit"),
    ("ward_state_deposit_short", "押金不足", "Deposit short"),
    ("ward_state_discharging", "出院结算中", "Discharging"),
    ("ward_state_refused", "医保未通过", "Refused by insurance"),
    ("ward_state_interim", "中途结算中", "Interim settlement under way"),
    ("ward_state_settled_by_interims", "出院已结清", "Discharged, all settled"),
    ("ward_state_cancelling_interim", "中途结算撤销中", "Cancelling an interim settlement"),
    ("ward_state_withdrawing_fees", "费用明细撤销中", "Withdrawing fee lines"),
    ("ward_state_undoing_discharge", "出院撤销中", "Undoing the discharge"),
    ("ward_state_cancelling_settlement", "结算撤销中", "Cancelling the settlement"),
    ("ward_state_settlement_cancelled", "结算已撤销，待重新结算", "Settlement cancelled, to be settled again"),
    ("ward_state_cancelling_admission", "入院撤销中", "Cancelling the admission"),
    (
        "ward_settled_by_interims",
        "出院时没有待结算的费用：全部费用已在中途结算中结清，不再向医保结算；仍冻结的押金已解冻。",
        "Nothing was left to settle at discharge: the interim settlements settled every fee, so insurance was not asked again; the deposit still held was released.",
    ),
    ("ward_place_deposit_title", "补交押金", "A fresh deposit"),
    ("ward_place_deposit_hint", "押金已用完或未能冻结：在患者额度上重新冻结押金。", "The deposit is used up or was declined: hold a fresh deposit on the patient's line."),
    ("ward_place_deposit_button", "冻结押金", "Hold the deposit"),
    ("ward_interim_title", "中途结算", "Interim settlement"),
    ("ward_interim_hint", "患者继续住院：医保先结算至今已录入的费用，个人部分从押金中扣除，其余押金继续冻结。", "The patient stays in the ward: insurance settles the fees entered so far, the patient's share is taken from the deposit and the rest stays held."),
    ("ward_interim_button", "中途结算", "Interim settlement"),
    ("ward_interim_none", "还没有中途结算。", "No interim settlement yet."),
    ("ward_interim_no", "第几次", "No."),
    ("ward_interim_taken", "从押金扣除", "Taken from the deposit"),
    ("ward_interim_reheld", "继续冻结", "Held again"),
    ("ward_cancel_interim", "撤销这次中途结算", "Cancel this interim settlement"),
    (
        "ward_cancel_interim_hint",
        "只能撤销最近一次中途结算：医保退回报销部分，银行退还从押金扣除的金额，这些费用回到未结算状态（如退药后再结算）。",
        "Only the latest interim settlement can be cancelled: insurance reverses its share, the bank gives back what was taken from the deposit, and its fees are unsettled again (to settle them again, e.g. after a returned drug).",
    ),
    (
        "ward_cancel_interim_confirm",
        "确认撤销 {patient} 的第 {n} 次中途结算（医疗费用 {amount}）？医保退回报销部分，银行退还 {bank}，这些费用回到未结算状态。",
        "Cancel interim settlement no. {n} of {patient} ({amount} of fees)? Insurance reverses its share, the bank gives back {bank}, and its fees are unsettled again.",
    ),
    ("ward_interim_cancelled_title", "已撤销的中途结算", "Interim settlements cancelled"),
    ("ward_interim_cancelled_mark", "已撤销", "cancelled"),
    ("ward_interim_refunded", "银行已退还", "Bank gave back"),
    ("ward_line_interim", "第 {n} 次中途结算已结", "settled by interim no. {n}"),
    ("ward_withdraw_title", "撤销费用明细", "Withdraw fee lines"),
    (
        "ward_withdraw_hint",
        "勾选录错或重复的费用明细，医保将删除这些明细（退药的负数明细随原明细一并删除）。已被中途结算的明细不在此列：请先撤销那次中途结算。",
        "Tick the lines entered by mistake or twice: insurance deletes them (a returned drug's negative line goes with its charge). Lines an interim settlement took are not listed: cancel that interim settlement first.",
    ),
    ("ward_withdraw_button", "撤销所选费用", "Withdraw the lines ticked"),
    (
        "ward_withdraw_confirm",
        "确认撤销 {patient} 的费用明细：{checked}，共 {checked|yuan}？医保将删除这些明细，如需收费须重新录入。",
        "Withdraw these fee lines of {patient}: {checked}, {checked|yuan} in all? Insurance deletes them; to charge them, enter them again.",
    ),
    ("ward_owed", "患者待缴", "The patient still owes"),
    ("ward_collected_later", "已从信用账户补扣", "Collected later from the line"),
    (
        "ward_bill_hint",
        "信用额度不足的部分留作患者的待缴账单：患者可在手机上支付，额度恢复后系统也会自动扣款一次。已补扣的住院结算不能在此撤销。",
        "What the line could not cover is the patient's bill: they can pay it on the phone, and when the line has room again it is collected once. A stay whose bill was collected cannot be cancelled here.",
    ),
];

pub const ERRORS: Table = &[
    (
        "interim_settlement_in_progress",
        "该住院正在中途结算，请稍候再试。",
        "An interim settlement of this stay is under way; try again shortly.",
    ),
    ("hold_open", "押金仍在冻结中，随费用自动追加。", "The deposit is still held; it is raised with the fees."),
    (
        "hospital_settles_itself",
        "本院自行结算医保或自收现金部分，无感支付不为本院冻结住院押金，请在本院收费处办理入院。",
        "This hospital settles insurance or collects the cash share itself: the hub holds no deposit for it. Admit the patient at the hospital's own desk.",
    ),
    ("nothing_to_settle", "上次结算后没有新录入的费用。", "No fees were entered since the last settlement."),
    ("bad_credentials", "用户名、密码或验证码不正确。", "The login, password or code is wrong."),
    ("totp_required", "请输入动态验证码。", "Enter your authenticator's code."),
    ("session_expired", "登录已过期，请重新登录。", "Your session has ended. Please sign in again."),
    ("visit_exists", "该就诊流水号已登记。", "This visit number is registered already."),
    ("hospital_exists", "该医院已接入。", "This hospital is onboarded already."),
    (
        "bad_hospital_code",
        "医院编码须为国家定点医药机构编码，只含字母和数字（如 H44030600001）。",
        "The code must be the national institution code: letters and digits, as H44030600001.",
    ),
    ("bank_exists", "该银行已接入。", "This bank has a contract with the hub already."),
    (
        "bank_unreachable",
        "该银行接口地址没有应答，请核对地址或稍后再试。",
        "Nothing answered at this bank address; check it or try again later.",
    ),
    ("not_settled", "这次就诊还没有结算，无法退费或撤销。", "This visit is not settled: there is nothing to refund or cancel."),
    // Refused for a visit's refund and a stay's withdrawal alike.
    (
        "unknown_fee_line",
        "所选费用明细不在这次就诊或住院的记录中，请刷新页面后重选。",
        "A line chosen is not one of this visit's or stay's fee lines: reload the page and choose again.",
    ),
    ("bad_lines", "请至少选择一条费用明细（一次最多 500 条）。", "Choose at least one fee line (at most 500 at once)."),
    // The ward's undoings (中途结算撤销, 2302) and the refusals they meet.
    (
        "interim_not_latest",
        "只能撤销最近一次仍有效的中途结算：请先撤销更晚的那一次。",
        "Only the latest interim settlement in force can be cancelled: cancel the later one first.",
    ),
    (
        "interim_settlement_not_found",
        "找不到这次中途结算（可能已撤销），请刷新页面查看。",
        "No such interim settlement (it may be cancelled already): reload the page to see.",
    ),
    (
        "fee_line_settled",
        "所选费用已被中途结算结清，不能撤销：请先撤销那次中途结算。",
        "A line chosen was settled by an interim settlement: cancel that interim settlement first.",
    ),
    (
        "stay_in_progress",
        "该住院的另一项操作正在处理中：请等它完成，刷新页面后再试。",
        "Another action on this stay is under way: wait for it to finish, reload the page and try again.",
    ),
    (
        "fee_withdrawal_in_progress",
        "该住院正在撤销费用明细：请等撤销完成，刷新页面后再操作。",
        "Fee lines of this stay are being withdrawn: wait for that to finish, reload the page and go on.",
    ),
    (
        "stay_not_open",
        "患者已不在院（出院结算已开始，或住院已结算、已撤销），不能进行此操作：请刷新页面查看当前状态。",
        "The patient is no longer in the ward (discharge began, or the stay is settled or cancelled): this cannot be done now. Reload the page to see where the stay stands.",
    ),
    // Refused both when a line is named twice in one request and when it is on the visit already.
    (
        "duplicate_fee_line",
        "费用明细重复（同一条已上传或选了两次）。",
        "A fee line is a duplicate: it is on the visit already, or was chosen twice.",
    ),
    // The codes below are refusals a doctor meets at fee entry, the estimate and the click; each
    // says what to do, since the fallback's "try again later" is wrong advice for a refusal.
    (
        "amount_mismatch",
        "费用金额与“单价×数量”不符，请核对单价和数量。",
        "A line's amount is not its unit price × its count: check the price and the count.",
    ),
    (
        "bad_datetime",
        "时间格式不正确，请按“年-月-日 时:分:秒”（如 2026-11-30 10:00:00）填写。",
        "A time is not in a form the hub reads: give yyyy-MM-dd HH:mm:ss (e.g. 2026-11-30 10:00:00).",
    ),
    (
        "upload_in_progress",
        "上一次费用上传还没有完成，请先重新提交那一次的费用，再继续。",
        "An earlier fee upload has not completed: send those fees again first, then go on.",
    ),
    ("already_settled", "这次就诊已结算，无需再次结算。", "This visit is settled already: there is nothing more to settle."),
    (
        "idempotency_in_progress",
        "上一次提交仍在处理中，请稍等片刻，再点一次查看结果。",
        "The earlier submission is still being processed. Wait a moment, then press again to see its result.",
    ),
    (
        "person_mismatch",
        "患者与凭证或就诊流水号所属的人员不一致，请核对患者身份。",
        "The patient is not the person of this document or visit number: check who the patient is.",
    ),
    (
        "stale_settlement",
        "这次结算刚被另一操作更新，请刷新页面查看最新状态。",
        "This settlement was just changed by another action: reload the page to see where it stands.",
    ),
    ("bad_refund_lines", "请至少勾选一条要退的费用明细。", "Tick at least one fee line to refund."),
    ("already_refunded", "所选费用明细已经退过费。", "A line chosen was refunded already."),
    ("nothing_to_refund", "所选费用明细没有可退的金额。", "The lines chosen have nothing to give back."),
    (
        "refund_parked",
        "这笔退费被银行拒绝或长时间无应答，已转运营人员处理。",
        "This refund was declined by the bank or went unanswered too long; the operator is handling it.",
    ),
    ("refund_in_progress", "这次就诊的另一笔退费正在处理中，请稍后再试。", "Another refund of this visit is under way; try again shortly."),
    (
        "settled_by_hospital",
        "这次就诊的医保由医院自己的平台结算，请在那里退费。",
        "This visit's insurance was settled by the hospital's own platform: refund it there.",
    ),
    (
        "settlement_refunded",
        "这次结算已部分退费，不能整笔撤销；请退剩余的费用明细。",
        "This settlement was partly refunded: refund the remaining lines instead of cancelling it.",
    ),
    (
        "bill_collected",
        "这笔结算的欠款已从患者额度中补扣，不能在这里撤销或退费。",
        "The unpaid share was collected later from the patient's line: it cannot be cancelled or refunded here.",
    ),
    (
        "settled_refund_first",
        "这次就诊已结算，请先全额退费再退号。",
        "This visit is settled: refund it in full before cancelling the registration.",
    ),
    ("bad_bank_code", "银行编码只能包含字母、数字、“_”和“-”。", "A bank code is letters, digits, '_' and '-'."),
    ("bad_bank_url", "请填写银行接口的 http 或 https 地址。", "Give the bank protocol's http or https address."),
    ("bad_platform_url", "请填写医保平台的 http 或 https 地址，或留空。", "Give the platform's http or https address, or leave it blank."),
    ("bad_platform_credential", "网关应用编号和密钥须一起填写，或都留空。", "Give the gateway app id and secret together, or neither."),
    ("bad_ca_signer", "签名方式 hmac-sha256 须同时填写签名密钥。", "The hmac-sha256 signer needs its key."),
    ("weak_secret", "密钥至少16个字符，且两把密钥不能相同。", "Each secret is at least 16 characters, and the two must differ."),
    ("bad_interest_free_days", "免息天数须在0至90之间。", "Interest-free days are 0 to 90."),
    (
        "bank_check_failed",
        "银行未接受用这些密钥发出的签名查询，请核对地址和密钥。",
        "The bank did not accept a signed read with these keys; check the address and keys.",
    ),
    ("unknown_hospital", "没有该医院。", "No such hospital."),
    ("hospital_not_found", "没有该医院。", "No such hospital."),
    (
        "unknown_deposit_policy",
        "押金政策只能是“不开押金收据”或“开具押金收据”。",
        "The deposit policy is either no deposit receipts or deposit receipts.",
    ),
    ("not_parked", "该结算不在异常队列中。", "This settlement is not in the exceptions queue."),
    ("too_many_attempts", "登录失败次数过多，请15分钟后再试。", "Too many failed sign-ins. Try again in 15 minutes."),
    ("weak_password", "密码至少12位。", "A password has at least 12 characters."),
    ("staff_exists", "该用户名已被使用。", "This login is taken."),
    ("tenant_required", "医院工作人员须选择所属医院。", "Hospital staff need their hospital."),
    ("already_cancelled", "该结算已撤销。", "This settlement was cancelled already."),
    ("bad_url", "推送地址须为 http:// 或 https:// 开头的网址。", "The endpoint must be an http:// or https:// URL."),
    ("delivery_not_found", "找不到该推送记录。", "No such delivery."),
];

#[cfg(test)]
mod tests {
    use crate::i18n::{error_message, error_messages_json, Lang};

    /// The refusals a doctor meets at fee entry, the estimate and the click, as the hub names them.
    const DOCTOR_MEETS: [&str; 9] = [
        "amount_mismatch",
        "bad_datetime",
        "upload_in_progress",
        "already_settled",
        "idempotency_in_progress",
        "person_mismatch",
        "stale_settlement",
        "visit_not_open",
        "duplicate_fee_line",
    ];

    /// The refusals the ward meets cancelling an interim settlement or withdrawing fee lines.
    const WARD_MEETS: [&str; 9] = [
        "interim_not_latest",
        "interim_settlement_not_found",
        "fee_line_settled",
        "stay_in_progress",
        "fee_withdrawal_in_progress",
        "stay_not_open",
        "interim_settlement_in_progress",
        "bad_lines",
        "unknown_fee_line",
    ];

    /// Each is said in its own words in both languages, in the table every page embeds (the
    /// elder-friendly mode reads the same table), never as "try again later".
    #[test]
    fn every_refusal_a_doctor_or_the_ward_meets_says_what_to_do_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            let fallback = error_message(lang, "_unknown");
            let embedded: serde_json::Value = serde_json::from_str(&error_messages_json(lang)).unwrap();
            for code in DOCTOR_MEETS.iter().chain(&WARD_MEETS) {
                let text = error_message(lang, code);
                assert_ne!(text, fallback, "{code} ({lang:?}) falls back to the generic failure");
                assert!(!text.contains("稍后再试") && !text.contains("try again later"), "{code} ({lang:?}): {text}");
                assert_eq!(embedded[code], text, "{code} ({lang:?}) is in the page's table");
            }
        }
    }

    #[test]
    fn a_visit_not_open_and_a_duplicate_line_are_said_for_every_case_the_hub_refuses() {
        // Fees refused on a cancelled visit: not "settled, no estimate needed".
        let (zh, en) = (error_message(Lang::Zh, "visit_not_open"), error_message(Lang::En, "visit_not_open"));
        assert!(zh.contains("已取消") && zh.contains("已结算") && !zh.contains("无需预估"), "{zh}");
        assert!(en.contains("cancelled") && en.contains("settled"), "{en}");
        // Named twice in one upload, or on the visit already (an earlier upload).
        let (zh, en) = (error_message(Lang::Zh, "duplicate_fee_line"), error_message(Lang::En, "duplicate_fee_line"));
        assert!(zh.contains("已上传") && zh.contains("两次"), "{zh}");
        assert!(en.contains("already") && en.contains("twice"), "{en}");
    }

    /// The codes are the hub's own (a misspelt key would never be shown).
    #[test]
    fn the_codes_are_the_ones_the_hub_answers() {
        let hub = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../hub/src"));
        let mut sources = String::new();
        let mut dirs = vec![hub.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        for code in DOCTOR_MEETS.iter().chain(&WARD_MEETS) {
            assert!(sources.contains(&format!("\"{code}\"")), "the hub never answers {code}");
        }
    }
}
