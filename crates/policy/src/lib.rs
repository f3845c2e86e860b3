//! wugan's benefit engine (医保待遇计算): adjudicates a claim against a data-driven policy set.
//!
//! Architecture invariant: nothing here does I/O, async work or reads a clock (`tests/purity.rs`
//! checks the sources); [`adjudicate`] is a function of its inputs, and policy files arrive as text
//! ([`PolicySet::parse`]) read by the caller, or compiled in ([`builtin`]). No policy number lives in code:
//! deductibles, ratios, caps and the catalogue are data (`policies/*.json`, see its README).
//!
//! Flow: [`Claim`] (JSON, amounts as number or string) → per line [`split_line`] (丙 / over the price
//! cap / 乙 first self-pay / in scope) → per visit [`adjudicate`] (起付线, 统筹 ratio and annual cap,
//! above-cap layer, personal account, cash) → [`Adjudication`] whose `setlinfo` uses the national
//! field names and holds docs/national-interface.md §2 invariants 1–4 ([`SetlAmounts::check`]).

pub mod catalogue;
pub mod claim;
pub mod code;
pub mod decimal;
pub mod engine;
pub mod explain;
pub mod line;
pub mod policy;
pub mod setl;

pub use catalogue::{Catalogue, CatalogueEntry, ItemClass};
pub use claim::{Acct, Claim, ClaimPerson, ClaimVisit, FeeLine, Ytd};
pub use code::Code;
pub use decimal::{Date, Price, Qty};
pub use engine::adjudicate;
pub use explain::explain;
pub use line::{split_line, LineResult};
pub use policy::{Assistance, AssistanceRule, PolicySet, PsnGroup, Scheme};
pub use setl::{Adjudication, Basis, SetlAmounts, SetlDetail, Trace};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("未识别的人员类别 / unknown person type (psn_type) '{0}'")]
    UnknownPsnType(String),
    #[error("无适用的待遇政策 / no policy scheme for admdvs {admdvs}, insutype {insutype}, group {group} on {date}")]
    NoScheme { admdvs: String, insutype: String, group: String, date: String },
    #[error("不支持的医疗类别 / med_type '{0}' is not covered by this policy set")]
    UnknownMedType(String),
    #[error("无此待遇 / no '{benefit}' benefit (med_type {med_type}) for insutype {insutype}, group {group}")]
    NoBenefit { benefit: String, med_type: String, insutype: String, group: String },
    #[error("缺少参保地区划 / neither insuplc_admdvs nor mdtrtarea_admvs is given")]
    NoRegion,
    /// `index` counts from 0 (the line's place in the claim); the message counts from 1, as a
    /// person reading it does and as the center's other line errors do ("第1条明细 / fee line 1").
    #[error("第{position}条费用明细错误 / fee line {position}: {reason}", position = .index + 1)]
    BadLine { index: usize, reason: String },
    /// A claim the engine will not use: a negative accumulator or balance, an amount beyond
    /// [`MAX_AMOUNT_FEN`], a hospital grade out of range, an account the scheme does not have.
    #[error("结算申请数据错误 / the claim cannot be adjudicated: {0}")]
    BadClaim(String),
    #[error("invalid policy set: {0}")]
    InvalidPolicy(String),
    #[error("cannot load policy: {0}")]
    Load(String),
    #[error("invariant broken (a bug, please report): {0}")]
    Invariant(String),
}

/// The largest amount of money the engine takes or gives, in fen: 10,000,000,000.00 yuan (一百亿元).
///
/// Every amount in a claim (a line, a price × quantity, an accumulator, a balance), every total of
/// a claim and every amount of a policy set must be within ±`MAX_AMOUNT_FEN`; anything beyond is
/// refused with an error naming it ([`PolicyError::BadLine`], [`PolicyError::BadClaim`],
/// [`PolicyError::InvalidPolicy`]), never wrapped or clamped. With inputs held to it, every
/// intermediate figure of the calculation stays far inside `i64`; sums are checked all the same.
pub const MAX_AMOUNT_FEN: i64 = 1_000_000_000_000;

/// Policy files shipped in the binary, by name (the file name without `.json`).
const BUILTIN_FILES: &[(&str, &str)] = &[
    ("shenzhen-2024", include_str!("../policies/shenzhen-2024.json")),
    ("guangzhou-example", include_str!("../policies/guangzhou-example.json")),
    ("catalogue-sandbox", include_str!("../policies/catalogue-sandbox.json")),
];

/// Names of the built-in policy sets.
pub const BUILTIN_POLICIES: &[&str] = &["shenzhen-2024", "guangzhou-example"];

/// A built-in policy set by name, its `catalogue_file` resolved among the built-in files.
pub fn builtin(name: &str) -> Result<PolicySet, PolicyError> {
    let text = builtin_file(name)
        .ok_or_else(|| PolicyError::Load(format!("no built-in policy '{name}' (have: {})", BUILTIN_POLICIES.join(", "))))?;
    PolicySet::parse(name, text, |file| {
        builtin_file(file.trim_end_matches(".json")).ok_or_else(|| PolicyError::Load(format!("{name}: no built-in catalogue '{file}'")))
    })
}

fn builtin_file(stem: &str) -> Option<&'static str> {
    BUILTIN_FILES.iter().find(|(n, _)| *n == stem).map(|(_, text)| *text)
}
