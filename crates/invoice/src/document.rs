//! The invoice document (医疗收费电子票据) as the hub issues it: who charged whom, for what, and who
//! paid which part. Every amount is integer fen; a red (冲红) invoice carries the negated amounts
//! of the invoice it offsets and names it.

use serde::{Deserialize, Serialize};
use wugan_domain::Fen;

/// Blue: an ordinary invoice. Red: a red-flush (冲红) that offsets an earlier blue one. Deposit:
/// a deposit receipt (住院预交金收据, business type `07`) for a deposit held on the patient's line;
/// it is not red-flushed but recovered (收回) by the stay's settlement, which the issuer records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Blue,
    Red,
    Deposit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Blue => "blue",
            Kind::Red => "red",
            Kind::Deposit => "deposit",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "blue" => Some(Kind::Blue),
            "red" => Some(Kind::Red),
            "deposit" => Some(Kind::Deposit),
            _ => None,
        }
    }
}

/// The issuing hospital.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hospital {
    /// 定点医药机构编号, the code the certificate names.
    pub code: String,
    /// 开票单位: the name printed on the invoice.
    pub name: String,
}

/// One charge category's total (收费项目): 医疗收费项目类别 `01`…`14`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub category: String,
    pub name: String,
    pub amount_fen: Fen,
}

/// Who paid the total. `fund + personal_account + self_paid + bank + hospital_part +
/// hospital_collected = total`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// 医保统筹基金支付 (fund_pay_sumamt).
    pub fund_fen: Fen,
    /// 个人账户支付 (acct_pay).
    pub personal_account_fen: Fen,
    /// 个人现金 the patient still owes (the bank's capture did not cover it).
    pub self_paid_fen: Fen,
    /// 个人现金 paid by the bank (credit line or debit card) at the click.
    pub bank_fen: Fen,
    /// 医院负担 (hosp_part_amt): carried by the hospital, nobody pays it.
    pub hospital_part_fen: Fen,
    /// 个人现金 the patient paid at the hospital's own window or channel (insurance only, setl_type
    /// HI: the hub charged nothing). Left out when zero, so every document from before keeps its
    /// bytes, and its signature.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hospital_collected_fen: Fen,
}

fn is_zero(fen: &Fen) -> bool {
    *fen == Fen::ZERO
}

impl Split {
    /// The parts' sum; `None` on overflow (a document from outside may hold anything).
    pub fn sum(&self) -> Option<Fen> {
        checked_sum(self.parts())
    }

    fn parts(&self) -> [Fen; 6] {
        [self.fund_fen, self.personal_account_fen, self.self_paid_fen, self.bank_fen, self.hospital_part_fen, self.hospital_collected_fen]
    }

    fn negated(&self) -> Split {
        Split {
            fund_fen: -self.fund_fen,
            personal_account_fen: -self.personal_account_fen,
            self_paid_fen: -self.self_paid_fen,
            bank_fen: -self.bank_fen,
            hospital_part_fen: -self.hospital_part_fen,
            hospital_collected_fen: -self.hospital_collected_fen,
        }
    }
}

/// An invoice's identity: 票据代码 + 票据号码.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRef {
    pub code: String,
    pub number: String,
}

/// The document that is signed. Times are passed in: the crate never reads a clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub kind: Kind,
    /// 票据代码: the hospital's batch (year and hospital), see [`invoice_code`].
    pub code: String,
    /// 票据号码: sequential within the code, no gaps, [`NUMBER_DIGITS`] digits.
    pub number: String,
    /// 校验码.
    pub check_code: String,
    /// 开票日期 (China date, `YYYY-MM-DD`).
    pub date: String,
    /// When it was issued (RFC 3339, UTC).
    pub issued_at: String,
    pub hospital: Hospital,
    /// 交款人, masked (`张**`): the document is shown and verified in public.
    pub payer: String,
    /// 业务流水号: the settlement the invoice is for.
    pub settlement_id: String,
    /// 业务标识: `02` outpatient, `01` inpatient.
    pub bus_type: String,
    pub items: Vec<Item>,
    pub total_fen: Fen,
    pub split: Split,
    /// For a red invoice: the blue one it offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets: Option<InvoiceRef>,
}

/// What the issuer gives each new invoice: its identity and its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub code: String,
    pub number: String,
    pub check_code: String,
    /// China date, `YYYY-MM-DD`.
    pub date: String,
    /// RFC 3339, UTC.
    pub issued_at: String,
}

/// Digits of a 票据号码.
pub const NUMBER_DIGITS: usize = 10;

/// The 票据代码 of a hospital's invoices in a year: the year and the hospital's code, so that a
/// (code, number) pair names one invoice across every hospital of the hub.
pub fn invoice_code(year: i32, hospital_code: &str) -> String {
    format!("{year:04}{hospital_code}")
}

/// The prefix of a deposit receipt's 票据代码: 预交金 receipts are their own category of 票据, so
/// they run in their own series (`YJ` + year + hospital), never in the invoices' numbers; an
/// invoice's code starts with a digit, so the two never meet.
pub const DEPOSIT_CODE_PREFIX: &str = "YJ";

/// The 票据代码 of a hospital's deposit receipts in a year.
pub fn deposit_receipt_code(year: i32, hospital_code: &str) -> String {
    format!("{DEPOSIT_CODE_PREFIX}{}", invoice_code(year, hospital_code))
}

/// The category a deposit receipt's one item carries (住院预交金; not a 医疗收费项目类别).
pub const DEPOSIT_CATEGORY: &str = "yj";

/// The 票据号码 of the `n`th invoice under a code.
pub fn invoice_number(n: i64) -> String {
    format!("{n:0width$}", width = NUMBER_DIGITS)
}

/// The name of a 医疗收费项目类别 (the national code table; `14` for anything unknown).
pub fn category_name(code: &str) -> &'static str {
    match code {
        "01" => "床位费",
        "02" => "诊察费",
        "03" => "检查费",
        "04" => "化验费",
        "05" => "治疗费",
        "06" => "手术费",
        "07" => "护理费",
        "08" => "卫生材料费",
        "09" => "西药费",
        "10" => "中药饮片费",
        "11" => "中成药费",
        "12" => "一般诊疗费",
        "13" => "挂号费",
        _ => "其他费",
    }
}

/// Sums amounts by category, in category order (the lines' own order does not matter).
pub fn items_by_category(lines: &[(String, Fen)]) -> Vec<Item> {
    let mut totals: std::collections::BTreeMap<String, Fen> = std::collections::BTreeMap::new();
    for (category, amount) in lines {
        let known = if category_name(category) == "其他费" { "14".to_string() } else { category.clone() };
        *totals.entry(known).or_insert(Fen::ZERO) += *amount;
    }
    totals.into_iter().map(|(category, amount_fen)| Item { name: category_name(&category).to_string(), category, amount_fen }).collect()
}

fn checked_sum(amounts: impl IntoIterator<Item = Fen>) -> Option<Fen> {
    amounts.into_iter().try_fold(Fen::ZERO, Fen::checked_add)
}

/// Why a document's amounts cannot stand.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the items add up to {items}, the total says {total}")]
    ItemsDoNotAddUp { items: Fen, total: Fen },
    #[error("the split adds up to {split}, the total says {total}")]
    SplitDoesNotAddUp { split: Fen, total: Fen },
    #[error("a {kind} invoice has an amount of the wrong sign")]
    WrongSign { kind: &'static str },
    #[error("the amounts overflow")]
    Overflow,
    #[error("a red invoice must name the invoice it offsets, and only a red one may")]
    OffsetsMismatch,
}

impl Invoice {
    /// The arithmetic every invoice keeps: items and split each add up to the total; a blue
    /// invoice's amounts are not negative, a red one's not positive, and only a red one offsets.
    pub fn check_amounts(&self) -> Result<(), AmountError> {
        let items = checked_sum(self.items.iter().map(|i| i.amount_fen)).ok_or(AmountError::Overflow)?;
        if items != self.total_fen {
            return Err(AmountError::ItemsDoNotAddUp { items, total: self.total_fen });
        }
        let split = self.split.sum().ok_or(AmountError::Overflow)?;
        if split != self.total_fen {
            return Err(AmountError::SplitDoesNotAddUp { split, total: self.total_fen });
        }
        let amounts = self.items.iter().map(|i| i.amount_fen).chain(self.split.parts()).chain([self.total_fen]);
        let wrong_sign = match self.kind {
            Kind::Blue | Kind::Deposit => amounts.into_iter().any(|a| a.is_negative()),
            Kind::Red => amounts.into_iter().any(|a| a.is_positive()),
        };
        if wrong_sign {
            return Err(AmountError::WrongSign { kind: self.kind.as_str() });
        }
        if (self.kind == Kind::Red) != self.offsets.is_some() {
            return Err(AmountError::OffsetsMismatch);
        }
        Ok(())
    }

    pub fn reference(&self) -> InvoiceRef {
        InvoiceRef { code: self.code.clone(), number: self.number.clone() }
    }

    /// The red invoice (冲红) that offsets this one: the same payer, items and split, negated, under
    /// its own code and number (the code of the year it is issued in), check code and date.
    pub fn red_flush(&self, numbered: Numbered) -> Invoice {
        Invoice {
            kind: Kind::Red,
            code: numbered.code,
            number: numbered.number,
            check_code: numbered.check_code,
            date: numbered.date,
            issued_at: numbered.issued_at,
            hospital: self.hospital.clone(),
            payer: self.payer.clone(),
            settlement_id: self.settlement_id.clone(),
            bus_type: self.bus_type.clone(),
            items: self.items.iter().map(|i| Item { amount_fen: -i.amount_fen, ..i.clone() }).collect(),
            total_fen: -self.total_fen,
            split: self.split.negated(),
            offsets: Some(self.reference()),
        }
    }
}

/// What a deposit receipt (住院预交金收据) states: the deposit or raise held for a stay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositHeld {
    pub hospital: Hospital,
    /// 交款人, masked.
    pub payer: String,
    /// 业务流水号: the stay and the piece of its hold (`{stay}:hold:{n}`).
    pub business_id: String,
    /// The deposit (piece 0) or the raise held on the line.
    pub amount_fen: Fen,
}

impl DepositHeld {
    /// The receipt, numbered in the deposit receipts' own series: one item (住院预交金), held
    /// on the patient's line (the split's bank part), business type `07`.
    pub fn receipt(self, numbered: Numbered) -> Invoice {
        Invoice {
            kind: Kind::Deposit,
            code: numbered.code,
            number: numbered.number,
            check_code: numbered.check_code,
            date: numbered.date,
            issued_at: numbered.issued_at,
            hospital: self.hospital,
            payer: self.payer,
            settlement_id: self.business_id,
            bus_type: "07".into(),
            items: vec![Item { category: DEPOSIT_CATEGORY.into(), name: "住院预交金".into(), amount_fen: self.amount_fen }],
            total_fen: self.amount_fen,
            split: Split { bank_fen: self.amount_fen, ..Split::default() },
            offsets: None,
        }
    }
}
